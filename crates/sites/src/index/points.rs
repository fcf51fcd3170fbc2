//! A static k-d tree over the unit vectors of point sites: nearest-band and radius queries
//! in chord (Euclidean) distance, for indexes that hold points only.
//!
//! Why not rstar here: its best-first nearest search (a heap of node envelopes, six children per
//! node) cost about 10,000 instructions per query over the shared layers, before the geodesic;
//! this tree's depth-first descent with plane pruning about 2,500 (callgrind, 30,000 queries),
//! and the siting benchmark asks 300,000 such queries. rstar stays for polygon edges, whose boxes a k-d tree of points cannot
//! hold. A k-d tree crate (kiddo) would do this too, but brings a dozen dependencies for what is
//! one file.
//!
//! Layout: the points are reordered so that every subrange `[lo, hi)` is a subtree whose root is
//! its middle element, split on the axis of largest spread (stored per node). Built in
//! O(n log n) with `select_nth_unstable_by`; queries recurse at most `log2(n) + 1` deep.

/// Subtrees of at most this many points are scanned rather than descended.
const LEAF: usize = 8;

/// One point: its unit vector and the caller's id.
#[derive(Debug, Clone, Copy)]
struct Entry {
    v: [f64; 3],
    id: usize,
}

/// The tree; immutable after [`PointTree::build`].
#[derive(Debug, Default)]
pub(crate) struct PointTree {
    entries: Vec<Entry>,
    /// The split axis of the node at the same position.
    axes: Vec<u8>,
}

fn d2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// Coordinate `axis` (0, 1 or 2) of `v`; any other axis reads as 0 (never stored).
fn coord(v: &[f64; 3], axis: u8) -> f64 {
    v.get(usize::from(axis)).copied().unwrap_or(0.0)
}

/// The state of one [`PointTree::nearest_band`] descent.
struct BandSearch<'a, F> {
    q: &'a [f64; 3],
    band: F,
    /// The least squared chord so far, and `band` of it.
    best: f64,
    bound: f64,
    out: &'a mut Vec<(usize, f64)>,
}

impl<F: Fn(f64) -> f64> BandSearch<'_, F> {
    /// Considers one point.
    fn offer(&mut self, e: &Entry) {
        let d = d2(&e.v, self.q);
        if d < self.best {
            self.best = d;
            self.bound = (self.band)(d);
            // Drop what the better best put out of the band (keeps the list short).
            let b = self.bound;
            self.out.retain(|(_, x)| *x <= b);
        }
        if d <= self.bound {
            self.out.push((e.id, d));
        }
    }
}

impl PointTree {
    /// A tree over `(vector, id)` pairs. Non-finite vectors must be left out by the caller.
    pub(crate) fn build(points: impl IntoIterator<Item = ([f64; 3], usize)>) -> PointTree {
        let mut entries: Vec<Entry> = points.into_iter().map(|(v, id)| Entry { v, id }).collect();
        let mut axes = vec![0u8; entries.len()];
        split(&mut entries, &mut axes);
        PointTree { entries, axes }
    }

    /// Every point whose squared chord to `q` is at most `band(least squared chord)`, as
    /// `(id, squared chord)` in no particular order: the nearest point and those that may still
    /// beat it once measured another way, in one descent. `band` must be monotonic and at
    /// least the identity; it is called only when the least distance improves.
    pub(crate) fn nearest_band(&self, q: &[f64; 3], band: impl Fn(f64) -> f64, out: &mut Vec<(usize, f64)>) {
        let mut search = BandSearch {
            q,
            band,
            best: f64::INFINITY,
            bound: f64::INFINITY,
            out,
        };
        self.band_in(0, self.entries.len(), &mut search);
        let bound = search.bound;
        out.retain(|(_, d)| *d <= bound);
    }

    fn band_in<F: Fn(f64) -> f64>(&self, lo: usize, hi: usize, s: &mut BandSearch<'_, F>) {
        if hi - lo <= LEAF {
            // A small subtree is cheaper to scan than to descend.
            for e in self.entries.get(lo..hi).unwrap_or_default() {
                s.offer(e);
            }
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let (Some(e), Some(&axis)) = (self.entries.get(mid), self.axes.get(mid)) else {
            return;
        };
        s.offer(e);
        let diff = coord(s.q, axis) - coord(&e.v, axis);
        let (near, far) = if diff < 0.0 {
            ((lo, mid), (mid + 1, hi))
        } else {
            ((mid + 1, hi), (lo, mid))
        };
        self.band_in(near.0, near.1, s);
        if diff * diff <= s.bound {
            self.band_in(far.0, far.1, s);
        }
    }

    /// Calls `found(id, squared chord)` for every point within `max_d2` (squared chord) of `q`,
    /// in no particular order.
    pub(crate) fn within(&self, q: &[f64; 3], max_d2: f64, found: &mut impl FnMut(usize, f64)) {
        self.within_in(0, self.entries.len(), q, max_d2, found);
    }

    fn within_in(&self, lo: usize, hi: usize, q: &[f64; 3], max_d2: f64, found: &mut impl FnMut(usize, f64)) {
        if hi - lo <= LEAF {
            for e in self.entries.get(lo..hi).unwrap_or_default() {
                let d = d2(&e.v, q);
                if d <= max_d2 {
                    found(e.id, d);
                }
            }
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let (Some(e), Some(&axis)) = (self.entries.get(mid), self.axes.get(mid)) else {
            return;
        };
        let d = d2(&e.v, q);
        if d <= max_d2 {
            found(e.id, d);
        }
        let diff = coord(q, axis) - coord(&e.v, axis);
        if diff < 0.0 || diff * diff <= max_d2 {
            self.within_in(lo, mid, q, max_d2, found);
        }
        if diff >= 0.0 || diff * diff <= max_d2 {
            self.within_in(mid + 1, hi, q, max_d2, found);
        }
    }
}

/// Arranges `entries` so that its middle element splits the rest on the axis of largest
/// spread, recursively; `axes` (same length) receives each node's axis.
fn split(entries: &mut [Entry], axes: &mut [u8]) {
    if entries.len() <= 1 {
        return;
    }
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for e in entries.iter() {
        for ((l, h), c) in lo.iter_mut().zip(hi.iter_mut()).zip(e.v) {
            *l = l.min(c);
            *h = h.max(c);
        }
    }
    let spread = |a: usize| hi.get(a).zip(lo.get(a)).map_or(0.0, |(h, l)| h - l);
    let axis: u8 = if spread(0) >= spread(1) && spread(0) >= spread(2) {
        0
    } else if spread(1) >= spread(2) {
        1
    } else {
        2
    };
    let mid = entries.len() / 2;
    entries.select_nth_unstable_by(mid, |a, b| coord(&a.v, axis).total_cmp(&coord(&b.v, axis)));
    if let Some(a) = axes.get_mut(mid) {
        *a = axis;
    }
    let (left, rest) = entries.split_at_mut(mid);
    let (left_axes, rest_axes) = axes.split_at_mut(mid);
    split(left, left_axes);
    if let (Some(right), Some(right_axes)) = (rest.get_mut(1..), rest_axes.get_mut(1..)) {
        split(right, right_axes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic scatter of unit vectors (no rand dependency needed).
    fn scatter(n: usize, seed: u64) -> Vec<[f64; 3]> {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                // Clustered like real sites: half in a small patch.
                let (lat, lon) = if next() < 0.5 {
                    (0.6 + next() * 0.05, -1.8 + next() * 0.05)
                } else {
                    ((next() - 0.5) * 3.0, (next() - 0.5) * 6.2)
                };
                [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
            })
            .collect()
    }

    #[test]
    fn nearest_and_within_agree_with_brute_force() {
        let pts = scatter(3000, 7);
        let tree = PointTree::build(pts.iter().copied().zip(0..));
        for (i, q) in scatter(400, 99).iter().enumerate() {
            let brute = pts.iter().map(|p| d2(p, q)).fold(f64::INFINITY, f64::min);
            let mut near = Vec::new();
            tree.nearest_band(q, |d| d, &mut near);
            assert!(!near.is_empty(), "query {i}");
            assert!(
                near.iter().all(|&(id, d)| d == brute && d2(&pts[id], q) == d),
                "query {i}"
            );
            let r = brute * 4.0 + 1e-6;
            let mut got = Vec::new();
            tree.within(q, r, &mut |id, d| got.push((id, d)));
            got.sort_by_key(|g| g.0);
            let want: Vec<(usize, f64)> = pts
                .iter()
                .enumerate()
                .map(|(id, p)| (id, d2(p, q)))
                .filter(|(_, d)| *d <= r)
                .collect();
            assert_eq!(got, want, "query {i}");
        }
    }

    #[test]
    fn the_band_is_everything_within_it_of_the_nearest() {
        let pts = scatter(3000, 11);
        let tree = PointTree::build(pts.iter().copied().zip(0..));
        let band = |d: f64| d * 1.5 + 1e-9;
        for q in scatter(300, 5) {
            let best = pts.iter().map(|p| d2(p, &q)).fold(f64::INFINITY, f64::min);
            let mut got = Vec::new();
            tree.nearest_band(&q, band, &mut got);
            got.sort_by_key(|g| g.0);
            let want: Vec<(usize, f64)> = pts
                .iter()
                .enumerate()
                .map(|(id, p)| (id, d2(p, &q)))
                .filter(|(_, d)| *d <= band(best))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn empty_single_and_duplicates() {
        let q = [1.0, 0.0, 0.0];
        let nearest = |t: &PointTree| {
            let mut v = Vec::new();
            t.nearest_band(&q, |d| d, &mut v);
            v
        };
        assert_eq!(nearest(&PointTree::build([])), vec![]);
        assert_eq!(nearest(&PointTree::build([([0.0, 1.0, 0.0], 5)])), vec![(5, 2.0)]);
        let dups = PointTree::build((0..50).map(|i| (q, i)));
        let mut n = 0;
        dups.within(&q, 0.0, &mut |_, _| n += 1);
        assert_eq!(n, 50);
        assert_eq!(nearest(&dups).len(), 50);
    }
}
