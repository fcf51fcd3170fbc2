//! A spatial index of sites for nearest and radius queries whose verdicts never depend on the
//! spherical approximation.
//!
//! Pattern (research brief §6.2): an rstar R-tree over 3-D unit vectors, where a great-circle
//! angle θ maps exactly to a chord 2·sin(θ/2), so Euclidean R-tree searches are exact sphere
//! searches. A point site is one entry; a polygon site is one entry per edge (the edge's box
//! grown by its great-circle bulge) plus one entry in a second tree holding its bounding cap,
//! which finds the polygons that may contain the query. Thresholds are widened by the sphere's
//! error bound ([`geo::SPHERE_REL_ERROR`], 0.6 %) and every candidate inside that band is
//! measured again on the WGS84 ellipsoid with geographiclib.
//!
//! The index is immutable after [`SiteIndex::build`] and `Sync`: queries may run in parallel.

use std::collections::HashSet;

use rstar::{AABB, PointDistance, RTree, RTreeObject};

mod points;
use points::PointTree;
use serde::Serialize;

use crate::geo::{
    self, ANGLE_SLACK, EARTH_RADIUS_M, Measured, Prepared, SPHERE_REL_ERROR, Shape, V3, angle_of_chord,
    arc_envelope, cap_envelope, chord, point_arc_angle, rank_factor, sphere_distance,
};

/// A site found by a query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Hit {
    /// Index of the site in the slice given to [`SiteIndex::build`].
    pub site: usize,
    /// Distance in metres: geodesic when `refined`, otherwise spherical (within 0.6 % of the
    /// geodesic, and only returned when that cannot change the verdict of the query).
    pub distance_m: f64,
    /// Point, boundary or inside.
    pub measured_from: Measured,
    /// Whether `distance_m` is the WGS84 geodesic distance.
    pub refined: bool,
}

/// An R-tree entry: a point site, or one edge of a polygon site.
#[derive(Debug, Clone)]
enum Item {
    Point {
        site: usize,
        v: [f64; 3],
    },
    Edge {
        site: usize,
        a: V3,
        b: V3,
        env: AABB<[f64; 3]>,
    },
}

impl Item {
    fn site(&self) -> usize {
        match self {
            Item::Point { site, .. } | Item::Edge { site, .. } => *site,
        }
    }
}

impl RTreeObject for Item {
    type Envelope = AABB<[f64; 3]>;
    fn envelope(&self) -> Self::Envelope {
        match self {
            Item::Point { v, .. } => AABB::from_point(*v),
            Item::Edge { env, .. } => *env,
        }
    }
}

impl PointDistance for Item {
    /// Squared chord to the nearest point of the entry; never below the squared distance to
    /// its box, as rstar's pruning requires (the arc lies inside the box).
    fn distance_2(&self, p: &[f64; 3]) -> f64 {
        match self {
            // Constant indices into [f64; 3]: checked at compile time.
            Item::Point { v, .. } => {
                let (dx, dy, dz) = (v[0] - p[0], v[1] - p[1], v[2] - p[2]);
                dx * dx + dy * dy + dz * dz
            }
            Item::Edge { a, b, .. } => {
                let q = V3 {
                    x: p[0],
                    y: p[1],
                    z: p[2],
                };
                let c = chord(point_arc_angle(q, *a, *b));
                c * c
            }
        }
    }
}

/// A polygon site's bounding cap, for containment candidates.
#[derive(Debug, Clone)]
struct Cap {
    site: usize,
    env: AABB<[f64; 3]>,
}

impl RTreeObject for Cap {
    type Envelope = AABB<[f64; 3]>;
    fn envelope(&self) -> Self::Envelope {
        self.env
    }
}

/// Sites prepared for nearest and radius queries.
#[derive(Debug)]
pub struct SiteIndex {
    /// Points and polygon edges; empty when the sites are all points (`points` holds them).
    items: RTree<Item>,
    caps: RTree<Cap>,
    /// The sites when all are points.
    points: Option<PointTree>,
    shapes: Vec<Prepared>,
    has_polygons: bool,
}

/// Whether every coordinate of a prepared shape is usable (NaN would poison the tree's
/// ordering; readers reject such shapes, this keeps the index total anyway).
fn finite(p: &Prepared) -> bool {
    let ok = |v: V3| v.x.is_finite() && v.y.is_finite() && v.z.is_finite();
    ok(p.center)
        && p.radius.is_finite()
        && p.point.is_none_or(|v| ok(v.v))
        && p.polys
            .iter()
            .all(|poly| poly.rings.iter().flatten().all(|v| ok(v.v)))
}

impl SiteIndex {
    /// Indexes `shapes`; hits name sites by their position in this slice. Shapes with
    /// non-finite coordinates are left out (never found). Cost: O(n log n) in entries
    /// (sites plus polygon edges); about 5 ms for 12,000 points.
    pub fn build(shapes: &[Shape]) -> SiteIndex {
        let prepared: Vec<Prepared> = shapes.iter().map(Prepared::new).collect();
        let mut items = Vec::with_capacity(shapes.len());
        let mut caps = Vec::new();
        for (site, p) in prepared.iter().enumerate() {
            if !finite(p) {
                continue;
            }
            if let Some(v) = p.point {
                items.push(Item::Point { site, v: v.v.arr() });
            }
            for poly in &p.polys {
                caps.push(Cap {
                    site,
                    env: cap_envelope(poly.center, poly.radius),
                });
                for ring in &poly.rings {
                    for w in ring.windows(2) {
                        if let [a, b] = w {
                            items.push(Item::Edge {
                                site,
                                a: a.v,
                                b: b.v,
                                env: arc_envelope(a.v, b.v),
                            });
                        }
                    }
                }
            }
        }
        let has_polygons = !caps.is_empty();
        if !has_polygons {
            let points = items.iter().filter_map(|i| match i {
                Item::Point { site, v } => Some((*v, *site)),
                Item::Edge { .. } => None,
            });
            return SiteIndex {
                points: Some(PointTree::build(points)),
                items: RTree::new(),
                caps: RTree::new(),
                shapes: prepared,
                has_polygons,
            };
        }
        SiteIndex {
            items: RTree::bulk_load(items),
            caps: RTree::bulk_load(caps),
            points: None,
            shapes: prepared,
            has_polygons,
        }
    }

    /// Number of sites given to [`SiteIndex::build`].
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Whether the index holds no site.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// The nearest site, its distance geodesic (exact): every site whose spherical distance is
    /// within the sphere's error band of the best is measured on the ellipsoid and the least
    /// geodesic distance wins (ties to the lower index). `None` for an empty index or a query
    /// with non-finite coordinates.
    pub fn nearest(&self, q: &Shape) -> Option<Hit> {
        let q = Prepared::new(q);
        if !finite(&q) {
            return None;
        }
        let mut cands: Vec<(usize, (f64, Measured))> = Vec::new();
        if let Some(points) = &self.points {
            // Sites that are all points (the common case: 300,000 of these queries for 100,000
            // facilities against three layers): the nearest point and every point within the
            // ranking band of it, the same candidates as the ordered walk below. The best
            // distance is at most the nearest point's plus the query's radius; a candidate's is
            // at least its distance from the centre less that radius.
            let r = q.radius;
            let factor = rank_factor();
            let band = |d2: f64| {
                // Called whenever the descent finds a closer point, so it avoids asin and sin:
                // the angle of a chord c is at most c · asin(x)/x at x = c/2's bound, and a chord
                // at most its angle. A wider band only adds candidates, which the refinement
                // below skips once they cannot win.
                let c = d2.sqrt();
                let angle = if c <= 0.1 {
                    c * 1.000_42
                } else if c <= 1.0 {
                    // asin(x)/x at x = 1/2 is (π/6)/(1/2).
                    c * std::f64::consts::FRAC_PI_3
                } else {
                    angle_of_chord(c)
                };
                let reach = (angle + r) * factor + r + 2.0 * ANGLE_SLACK;
                if reach >= 2.0 { 4.0 } else { reach * reach }
            };
            let mut near = Vec::new();
            points.nearest_band(&q.center.arr(), band, &mut near);
            for (site, d2) in near {
                if let Some(s) = self.shapes.get(site) {
                    // Point to point: the chord is the distance.
                    let d = if q.point.is_some() {
                        (angle_of_chord(d2.sqrt()), Measured::Point)
                    } else {
                        sphere_distance(&q, s)
                    };
                    cands.push((site, d));
                }
            }
        } else {
            self.ordered_candidates(&q, &mut cands);
        }
        // Refine in order of spherical distance; a candidate whose spherical distance is more
        // than (1 + e) times the best geodesic so far cannot beat it (g >= s / (1 + e)).
        cands.sort_by(|a, b| a.1.0.total_cmp(&b.1.0).then(a.0.cmp(&b.0)));
        let mut winner: Option<Hit> = None;
        for (site, d) in cands {
            if let Some(w) = &winner
                && d.0 * EARTH_RADIUS_M / (1.0 + SPHERE_REL_ERROR)
                    > w.distance_m + ANGLE_SLACK * EARTH_RADIUS_M
            {
                break;
            }
            let Some(s) = self.shapes.get(site) else { continue };
            let g = geo::geodesic_distance(&q, s, d);
            let better = match &winner {
                None => true,
                Some(w) => g.meters < w.distance_m || (g.meters == w.distance_m && site < w.site),
            };
            if better {
                winner = Some(Hit {
                    site,
                    distance_m: g.meters,
                    measured_from: g.measured_from,
                    refined: true,
                });
            }
        }
        winner
    }

    /// The candidates of [`SiteIndex::nearest`] for a polygon query or an index with polygons:
    /// containing caps, then entries in order of distance until none can be within the ranking
    /// band of the best.
    fn ordered_candidates(&self, q: &Prepared, cands: &mut Vec<(usize, (f64, Measured))>) {
        let factor = rank_factor();
        let mut best = f64::INFINITY;
        let mut seen = HashSet::new();
        if self.has_polygons {
            for cap in self
                .caps
                .locate_in_envelope_intersecting(cap_envelope(q.center, q.radius))
            {
                if seen.insert(cap.site)
                    && let Some(s) = self.shapes.get(cap.site)
                {
                    let d = sphere_distance(q, s);
                    best = best.min(d.0);
                    cands.push((cap.site, d));
                }
            }
        }
        for (item, d2) in self.items.nearest_neighbor_iter_with_distance_2(q.center.arr()) {
            let lower = angle_of_chord(d2.sqrt()) - q.radius;
            if lower > best * factor + ANGLE_SLACK {
                break;
            }
            let site = item.site();
            if self.has_polygons && !seen.insert(site) {
                continue;
            }
            if let Some(s) = self.shapes.get(site) {
                let d = sphere_distance(q, s);
                best = best.min(d.0);
                cands.push((site, d));
            }
        }
    }

    /// Every site within `meters` (geodesic), nearest first. A verdict never depends on the
    /// spherical approximation: candidates whose spherical distance is within 0.6 % of
    /// `meters` are refined with geographiclib (`refined = true`); clear cases keep their
    /// spherical distance (`refined = false`). Empty for a negative or non-finite radius.
    pub fn within(&self, q: &Shape, meters: f64) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.scan(q, meters, |h| hits.push(h));
        hits.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then(a.site.cmp(&b.site)));
        hits
    }

    /// How many sites within `meters` (same exactness as [`SiteIndex::within`]), without
    /// building the list.
    pub fn count_within(&self, q: &Shape, meters: f64) -> usize {
        let mut n = 0;
        self.scan(q, meters, |_| n += 1);
        n
    }

    /// Calls `found` once for every site within `meters` of `q`.
    fn scan(&self, q: &Shape, meters: f64, mut found: impl FnMut(Hit)) {
        let q = Prepared::new(q);
        if !finite(&q) || !meters.is_finite() || meters < 0.0 {
            return;
        }
        let slack_m = ANGLE_SLACK * EARTH_RADIUS_M;
        let sure_in = meters * (1.0 - SPHERE_REL_ERROR) - slack_m;
        let sure_out = meters * (1.0 + SPHERE_REL_ERROR) + slack_m;
        let reach = (sure_out / EARTH_RADIUS_M + q.radius).min(std::f64::consts::PI);
        let max_d2 = chord(reach).powi(2);
        let mut seen = HashSet::new();
        // `sphere` is the spherical distance when the caller already has it (point to point).
        let mut judge = |site: usize, sphere: Option<(f64, Measured)>| {
            let Some(s) = self.shapes.get(site) else { return };
            let d = sphere.unwrap_or_else(|| sphere_distance(&q, s));
            let sphere_m = d.0 * EARTH_RADIUS_M;
            if d.1 == Measured::Inside {
                found(Hit {
                    site,
                    distance_m: 0.0,
                    measured_from: Measured::Inside,
                    refined: true,
                });
            } else if sphere_m <= sure_in {
                found(Hit {
                    site,
                    distance_m: sphere_m,
                    measured_from: d.1,
                    refined: false,
                });
            } else if sphere_m <= sure_out {
                let g = geo::geodesic_distance(&q, s, d);
                if g.meters <= meters {
                    found(Hit {
                        site,
                        distance_m: g.meters,
                        measured_from: g.measured_from,
                        refined: true,
                    });
                }
            }
        };
        if self.has_polygons {
            for cap in self
                .caps
                .locate_in_envelope_intersecting(cap_envelope(q.center, q.radius))
            {
                if seen.insert(cap.site) {
                    judge(cap.site, None);
                }
            }
        }
        let origin = q.center.arr();
        if let Some(points) = &self.points {
            points.within(&origin, max_d2, &mut |site, d2| {
                // Point to point: the chord is the distance.
                let sphere = q
                    .point
                    .is_some()
                    .then(|| (angle_of_chord(d2.sqrt()), Measured::Point));
                judge(site, sphere);
            });
            return;
        }
        for item in self.items.locate_within_distance(origin, max_d2) {
            match item {
                // Point to point: the chord is the distance, no second look at the shapes.
                Item::Point { site, .. } if q.point.is_some() => {
                    let sphere = angle_of_chord(item.distance_2(&origin).sqrt());
                    if !self.has_polygons || seen.insert(*site) {
                        judge(*site, Some((sphere, Measured::Point)));
                    }
                }
                _ => {
                    let site = item.site();
                    if !self.has_polygons || seen.insert(site) {
                        judge(site, None);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::LatLon;

    #[test]
    fn index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SiteIndex>();
    }

    #[test]
    fn empty_index_finds_nothing() {
        let idx = SiteIndex::build(&[]);
        let q = Shape::Point(LatLon { lat: 1.0, lon: 2.0 });
        assert!(idx.is_empty());
        assert_eq!(idx.nearest(&q), None);
        assert!(idx.within(&q, 1e6).is_empty());
    }

    #[test]
    fn nan_query_and_radius_find_nothing() {
        let idx = SiteIndex::build(&[Shape::Point(LatLon { lat: 1.0, lon: 2.0 })]);
        let bad = Shape::Point(LatLon {
            lat: f64::NAN,
            lon: 2.0,
        });
        let good = Shape::Point(LatLon { lat: 1.0, lon: 2.0 });
        assert_eq!(idx.nearest(&bad), None);
        assert_eq!(idx.count_within(&good, f64::NAN), 0);
        assert_eq!(idx.count_within(&good, -1.0), 0);
        assert_eq!(idx.count_within(&good, 0.0), 1);
    }
}
