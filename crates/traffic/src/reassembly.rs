//! One direction of a TCP stream put back in order: bounded, gap-aware, zero-copy when in order.
//!
//! Written here because no passive reassembler exists on crates.io: smoltcp's `Assembler` belongs
//! to an endpoint stack (it tracks at most a handful of holes of its own receive window), and
//! `libpcap-analyzer`, `retina-core` and `tcp-reassembly` are not published. The policy follows
//! Suricata's in spirit: the first copy of a byte wins, out-of-order data is held up to
//! [`StreamLimits`], and when holding more would exceed them the hole is declared a gap and
//! delivery resumes. Sequence numbers are mapped to 64-bit stream offsets relative to the next
//! expected byte, so wrap-around at 2^32 needs no special case.

use std::collections::BTreeMap;

use crate::decode::Tcp;

/// Bounds on the out-of-order data one direction may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Most bytes held out of order (default 64 KiB).
    pub max_pending_bytes: usize,
    /// Most segments held out of order (default 64).
    pub max_pending_segments: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_pending_bytes: 64 << 10,
            max_pending_segments: 64,
        }
    }
}

/// A piece of the reassembled stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Stream bytes in order, from the segment of this frame.
    Data {
        /// The bytes.
        bytes: &'a [u8],
        /// Frame that carried them.
        frame: u64,
        /// That frame's timestamp (µs).
        ts_us: i64,
    },
    /// Bytes that were never captured (lost or beyond the out-of-order limits).
    Gap {
        /// Number of missing bytes.
        len: u64,
    },
}

/// A segment held out of order.
#[derive(Debug)]
struct Held {
    data: Vec<u8>,
    frame: u64,
    ts_us: i64,
}

#[derive(Debug, Default)]
struct Pending {
    /// Held segments by stream offset.
    segs: BTreeMap<u64, Held>,
    bytes: usize,
}

/// Reassembles one direction of a TCP stream. Five words while everything arrives in order;
/// storage for out-of-order segments is allocated only when one arrives.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of stream offset 0.
    isn: u32,
    started: bool,
    /// Stream offset of the next byte to deliver.
    next: u64,
    gap: u64,
    delivered: u64,
    pending: Option<Box<Pending>>,
}

impl Reassembler {
    /// An empty reassembler; the first segment sets the base.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stream offset of a sequence number, taken as the nearest one to the next expected byte
    /// (within ±2^31), so it may be negative for data from before the base.
    #[inline]
    fn offset(&self, seq: u32) -> i64 {
        let expected = self.isn.wrapping_add(self.next as u32);
        self.next as i64 + i64::from(seq.wrapping_sub(expected) as i32)
    }

    /// Feeds one segment of this direction (see the module doc for the policy).
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        seq: u32,
        flags: u8,
        payload: &[u8],
        frame: u64,
        ts_us: i64,
        limits: &StreamLimits,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let syn = flags & Tcp::SYN != 0;
        // SYN occupies one sequence number; data on a SYN (TCP Fast Open) follows it.
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        if !self.started {
            // A RST's sequence number may be anything; wait for a segment that means it.
            if flags & Tcp::RST != 0 && !syn {
                return;
            }
            self.isn = data_seq;
            self.started = true;
        }
        if payload.is_empty() {
            return;
        }
        let start = self.offset(data_seq);
        let end = start + payload.len() as i64;
        let next = self.next as i64;
        if end <= next {
            return; // retransmission of delivered bytes
        }
        if start <= next {
            self.deliver(payload, start, frame, ts_us, out);
            self.drain(out);
            return;
        }
        self.hold(start as u64, payload, frame, ts_us, limits, out);
    }

    /// Delivers `payload` (starting at stream offset `start` ≤ next) from the next byte on.
    #[inline]
    fn deliver(
        &mut self,
        payload: &[u8],
        start: i64,
        frame: u64,
        ts_us: i64,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let skip = usize::try_from(self.next as i64 - start).unwrap_or(0);
        let Some(bytes) = payload.get(skip..).filter(|b| !b.is_empty()) else {
            return;
        };
        self.next += bytes.len() as u64;
        self.delivered += bytes.len() as u64;
        out(Chunk::Data { bytes, frame, ts_us });
    }

    /// Delivers held segments that have become contiguous.
    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(p) = self.pending.as_mut() {
            let Some(entry) = p.segs.first_entry() else {
                self.pending = None;
                return;
            };
            if *entry.key() > self.next {
                return;
            }
            let start = *entry.key();
            let held = entry.remove();
            p.bytes -= held.data.len();
            self.deliver(&held.data, start as i64, held.frame, held.ts_us, out);
        }
    }

    fn declare_gap(&mut self, to: u64, out: &mut dyn FnMut(Chunk<'_>)) {
        if to > self.next {
            let len = to - self.next;
            self.gap += len;
            self.next = to;
            out(Chunk::Gap { len });
        }
    }

    fn hold(
        &mut self,
        start: u64,
        payload: &[u8],
        frame: u64,
        ts_us: i64,
        limits: &StreamLimits,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        loop {
            let p = self.pending.get_or_insert_with(Box::default);
            let existing = p.segs.get(&start).map_or(0, |h| h.data.len());
            if existing >= payload.len() {
                return; // the same or a longer segment is already held
            }
            let fits = p.segs.len() + usize::from(existing == 0) <= limits.max_pending_segments
                && p.bytes - existing + payload.len() <= limits.max_pending_bytes;
            if fits {
                p.bytes = p.bytes - existing + payload.len();
                p.segs.insert(
                    start,
                    Held {
                        data: payload.to_vec(),
                        frame,
                        ts_us,
                    },
                );
                return;
            }
            // Over the limits: give up on the hole before the lowest held data (or before this
            // segment if it is lower), deliver what follows, and try again.
            match p.segs.keys().next().copied() {
                Some(lowest) if lowest < start => {
                    self.declare_gap(lowest, out);
                    self.drain(out);
                    let next = self.next as i64;
                    let s = start as i64;
                    if s <= next {
                        if s + payload.len() as i64 > next {
                            self.deliver(payload, s, frame, ts_us, out);
                            self.drain(out);
                        }
                        return;
                    }
                }
                _ => {
                    self.declare_gap(start, out);
                    self.deliver(payload, start as i64, frame, ts_us, out);
                    self.drain(out);
                    return;
                }
            }
        }
    }

    /// End of the flow: delivers everything held, declaring the holes between as gaps.
    pub fn flush(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(lowest) = self.pending.as_ref().and_then(|p| p.segs.keys().next().copied()) {
            self.declare_gap(lowest, out);
            self.drain(out);
        }
        self.pending = None;
    }

    /// Bytes declared missing so far.
    pub fn gap_bytes(&self) -> u64 {
        self.gap
    }

    /// Bytes delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes held out of order right now.
    pub fn pending_bytes(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects the output as a string with gaps shown as `[gap N]`.
    #[derive(Default)]
    struct Sink(String);

    impl Sink {
        fn push(&mut self, c: Chunk<'_>) {
            match c {
                Chunk::Data { bytes, .. } => self.0.push_str(std::str::from_utf8(bytes).unwrap()),
                Chunk::Gap { len } => self.0.push_str(&format!("[gap {len}]")),
            }
        }
    }

    fn run(isn: u32, segs: &[(u32, &str)], limits: StreamLimits, flush: bool) -> (String, Reassembler) {
        let mut r = Reassembler::new();
        let mut s = Sink::default();
        r.segment(isn, Tcp::SYN, b"", 1, 0, &limits, &mut |c| s.push(c));
        for (i, (off, data)) in segs.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(*off);
            r.segment(
                seq,
                Tcp::ACK,
                data.as_bytes(),
                i as u64 + 2,
                0,
                &limits,
                &mut |c| s.push(c),
            );
        }
        if flush {
            r.flush(&mut |c| s.push(c));
        }
        (s.0, r)
    }

    #[test]
    fn in_order_is_zero_copy_and_retransmissions_are_dropped() {
        let (s, r) = run(
            1000,
            &[(0, "abc"), (3, "def"), (0, "abc"), (3, "de")],
            StreamLimits::default(),
            false,
        );
        assert_eq!(s, "abcdef");
        assert_eq!((r.delivered(), r.gap_bytes()), (6, 0));
        assert!(r.pending.is_none());
    }

    #[test]
    fn overlap_is_trimmed() {
        let (s, _) = run(
            1,
            &[(0, "abcd"), (2, "CDEF"), (5, "Fgh")],
            StreamLimits::default(),
            false,
        );
        assert_eq!(s, "abcdEFgh");
    }

    #[test]
    fn out_of_order_then_fill() {
        let (s, r) = run(
            7,
            &[(0, "ab"), (6, "gh"), (4, "ef"), (2, "cd"), (8, "i")],
            StreamLimits::default(),
            false,
        );
        assert_eq!(s, "abcdefghi");
        assert!(r.pending.is_none(), "storage freed once drained");
    }

    #[test]
    fn loss_becomes_a_gap_at_flush_then_continues() {
        let (s, r) = run(
            7,
            &[(0, "ab"), (5, "fg"), (7, "hi")],
            StreamLimits::default(),
            true,
        );
        assert_eq!(s, "ab[gap 3]fghi");
        assert_eq!((r.delivered(), r.gap_bytes()), (6, 3));
    }

    #[test]
    fn wrap_around_at_2_pow_32() {
        let isn = u32::MAX - 3;
        let (s, _) = run(
            isn,
            &[(0, "abc"), (3, "def"), (9, "jk"), (6, "ghi")],
            StreamLimits::default(),
            false,
        );
        assert_eq!(s, "abcdefghijk");
    }

    #[test]
    fn limits_exceeded_declare_the_gap() {
        let tight = StreamLimits {
            max_pending_bytes: 4,
            max_pending_segments: 2,
        };
        // Two held segments fill the segment limit; the third forces the hole [2, 4) out.
        let (s, r) = run(0, &[(0, "ab"), (4, "e"), (6, "g"), (8, "i")], tight, false);
        assert_eq!(s, "ab[gap 2]e");
        assert_eq!(r.pending_bytes(), 2, "g and i still held");
        let (s, r) = run(0, &[(0, "ab"), (4, "e"), (6, "g"), (8, "i")], tight, true);
        assert_eq!(s, "ab[gap 2]e[gap 1]g[gap 1]i");
        assert_eq!(r.pending_bytes(), 0);
        // Bytes over the limit: a 5-byte segment cannot be held at all.
        let (s, _) = run(0, &[(0, "ab"), (4, "efghi"), (9, "j")], tight, false);
        assert_eq!(s, "ab[gap 2]efghij");
        // Nothing may be held: every hole is declared at once.
        let none = StreamLimits {
            max_pending_bytes: 0,
            max_pending_segments: 0,
        };
        let (s, _) = run(0, &[(0, "ab"), (3, "d"), (2, "c")], none, false);
        assert_eq!(s, "ab[gap 1]d");
    }

    #[test]
    fn mid_stream_start_and_rst_before_base() {
        let mut r = Reassembler::new();
        let mut s = Sink::default();
        let l = StreamLimits::default();
        r.segment(99, Tcp::RST, b"", 1, 0, &l, &mut |c| s.push(c));
        r.segment(5_000, Tcp::ACK, b"tail of a message\n", 2, 0, &l, &mut |c| {
            s.push(c)
        });
        r.segment(4_990, Tcp::ACK, b"0123456789tail", 3, 0, &l, &mut |c| s.push(c));
        r.segment(5_018, Tcp::ACK | Tcp::PSH, b"next\n", 4, 0, &l, &mut |c| {
            s.push(c)
        });
        assert_eq!(s.0, "tail of a message\nnext\n");
    }

    #[test]
    fn data_on_syn_and_chunk_metadata() {
        let mut r = Reassembler::new();
        let mut got = Vec::new();
        let l = StreamLimits::default();
        r.segment(10, Tcp::SYN, b"fast", 1, 100, &l, &mut |c| {
            if let Chunk::Data { bytes, frame, ts_us } = c {
                got.push((bytes.to_vec(), frame, ts_us));
            }
        });
        r.segment(15, Tcp::ACK, b"open", 2, 200, &l, &mut |c| {
            if let Chunk::Data { bytes, frame, ts_us } = c {
                got.push((bytes.to_vec(), frame, ts_us));
            }
        });
        assert_eq!(got, vec![(b"fast".to_vec(), 1, 100), (b"open".to_vec(), 2, 200)]);
    }

    #[test]
    fn idle_reassembler_is_small() {
        assert!(std::mem::size_of::<Reassembler>() <= 48);
    }

    /// Per-flow state of the end-to-end test: one reassembler and splitter per direction.
    struct App {
        streams: [(Reassembler, crate::lines::LineSplitter); 2],
    }

    impl Default for App {
        fn default() -> Self {
            let side = || (Reassembler::new(), crate::lines::LineSplitter::new(64 << 10));
            Self {
                streams: [side(), side()],
            }
        }
    }

    #[test]
    fn shared_bitcoin_mining_stratum_lines_come_out_whole() {
        use crate::flow::{Dir, FlowLimits, FlowTable};
        let Some(dir) = crate::shared_traffic_dir() else {
            eprintln!("shared test captures not found; skipped");
            return;
        };
        let cap =
            crate::capture::Capture::open(&dir.join("bitcoin-mining.pcap"), &Default::default()).unwrap();
        let limits = StreamLimits::default();
        let mut table: FlowTable<App> = FlowTable::new(FlowLimits::default());
        // (client port, direction, line, ts of the completing frame)
        let mut lines: Vec<(u16, Dir, String, i64)> = Vec::new();
        let finish = |f: crate::flow::Flow<App>, lines: &mut Vec<(u16, Dir, String, i64)>| {
            let port = f.orig.port();
            for (i, (mut r, mut ls)) in f.app.streams.into_iter().enumerate() {
                let d = if i == 0 { Dir::Orig } else { Dir::Resp };
                let mut push = |l: crate::lines::Line<'_>| {
                    lines.push((port, d, String::from_utf8_lossy(l.bytes).into_owned(), l.ts_us))
                };
                r.flush(&mut |c| ls.push(&c, &mut push));
                ls.finish(&mut push);
            }
        };
        let mut ended = Vec::new();
        let mut first_ts = None;
        cap.for_each_packet(|p| {
            first_ts.get_or_insert(p.ts_us);
            let Ok(d) = crate::decode::decode(p.linktype, p.data) else {
                return;
            };
            let crate::decode::L4::Tcp(t) = d.l4 else {
                return;
            };
            let Some((flow, dir)) = table.track(p.ts_us, p.frame, &d, &mut |f, _| ended.push(f)) else {
                return;
            };
            let port = flow.orig.port();
            let (r, ls) = &mut flow.app.streams[dir as usize];
            r.segment(t.seq, t.flags, t.payload, p.frame, p.ts_us, &limits, &mut |c| {
                ls.push(&c, &mut |l| {
                    lines.push((port, dir, String::from_utf8_lossy(l.bytes).into_owned(), l.ts_us))
                })
            });
        })
        .unwrap();
        table.finish(&mut |f, _| ended.push(f));
        for f in ended {
            finish(f, &mut lines);
        }
        let client = |needle: &str| {
            lines.iter().any(|(_, d, l, _)| {
                *d == Dir::Orig && l.starts_with('{') && l.ends_with('}') && l.contains(needle)
            })
        };
        assert!(
            client(r#""method": "mining.subscribe""#) && client(r#""bfgminer/5.2.0""#),
            "{lines:#?}"
        );
        assert!(
            client(r#""mining.authorize", "params": ["broatcast""#),
            "{lines:#?}"
        );
        // The server message whose tail `",true],"id":1}` arrives in its own segment at 54.002 s
        // comes out as one line, completed by that frame.
        let t0 = first_ts.unwrap();
        let split: Vec<_> = lines
            .iter()
            .filter(|(_, d, l, ts)| {
                *d == Dir::Resp && l.ends_with(r#"",true],"id":1}"#) && (ts - t0) / 1000 == 54_002
            })
            .collect();
        assert_eq!(
            split.len(),
            1,
            "{:?}",
            lines
                .iter()
                .map(|l| (l.1, (l.3 - t0) / 1000, l.2.len()))
                .collect::<Vec<_>>()
        );
        assert!(
            split[0].2.starts_with(r#"{"method":"mining.notify""#),
            "{}",
            split[0].2
        );
    }

    /// Capture → decode → flow → reassembly → lines with small limits; returns the line count.
    fn pipeline(bytes: Vec<u8>) -> usize {
        use crate::flow::{FlowLimits, FlowTable};
        let Ok(cap) = crate::capture::Capture::from_bytes(bytes, &Default::default()) else {
            return 0;
        };
        let limits = StreamLimits {
            max_pending_bytes: 2048,
            max_pending_segments: 4,
        };
        let mut table: FlowTable<App> = FlowTable::new(FlowLimits {
            max_flows: 4,
            ..FlowLimits::default()
        });
        let mut n = 0;
        let _ = cap.for_each_packet(|p| {
            let Ok(d) = crate::decode::decode(p.linktype, p.data) else {
                return;
            };
            let Some((flow, dir)) = table.track(p.ts_us, p.frame, &d, &mut |_, _| {}) else {
                return;
            };
            if let crate::decode::L4::Tcp(t) = d.l4 {
                let (r, ls) = &mut flow.app.streams[dir as usize];
                r.segment(t.seq, t.flags, t.payload, p.frame, p.ts_us, &limits, &mut |c| {
                    ls.push(&c, &mut |_| n += 1)
                });
                assert!(r.pending_bytes() <= limits.max_pending_bytes);
            }
            table.expire(p.ts_us, &mut |_, _| {});
            assert!(table.len() <= 4);
        });
        table.finish(&mut |f, _| {
            for (mut r, mut ls) in f.app.streams {
                r.flush(&mut |c| ls.push(&c, &mut |_| n += 1));
                ls.finish(&mut |_| n += 1);
            }
        });
        n
    }

    #[test]
    fn mutated_shared_captures_never_panic() {
        let Some(dir) = crate::shared_traffic_dir() else {
            eprintln!("shared test captures not found; skipped");
            return;
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for name in [
            "bitcoin-mining.pcap",
            "bitcoin-mining-in-progress.pcap",
            "coinhive-stratum.pcap",
        ] {
            let orig = std::fs::read(dir.join(name)).unwrap();
            assert!(pipeline(orig.clone()) > 0, "{name}");
            for _ in 0..200 {
                let mut m = orig.clone();
                match rnd() % 3 {
                    0 => {
                        for _ in 0..1 + rnd() % 16 {
                            let at = (rnd() as usize) % m.len();
                            m[at] ^= 1 << (rnd() % 8);
                        }
                    }
                    1 => m.truncate((rnd() as usize) % m.len()),
                    _ => {
                        let at = (rnd() as usize) % (m.len() - 4);
                        let v = [0u32, 0xffff_ffff, 0x8000_0000, rnd() as u32][(rnd() % 4) as usize];
                        m[at..at + 4].copy_from_slice(&v.to_be_bytes());
                    }
                }
                pipeline(m);
            }
        }
    }
}
