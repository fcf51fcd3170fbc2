//! Fuzz target: bytes read as a sequence of TCP segments (seq, flags, length) fed to one
//! reassembler and line splitter; output must stay consistent and memory bounded.
#![no_main]

use hashward_traffic::lines::LineSplitter;
use hashward_traffic::reassembly::{Chunk, Reassembler, StreamLimits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = StreamLimits {
        max_pending_bytes: 1024,
        max_pending_segments: 16,
    };
    let mut r = Reassembler::new();
    let mut ls = LineSplitter::new(64);
    let mut out = 0u64;
    let mut gaps = 0u64;
    let mut rest = data;
    let mut frame = 0u64;
    // Each segment: 4 bytes seq (BE), 1 byte flags, 1 byte length, then that many bytes.
    while let [a, b, c, d, flags, len, tail @ ..] = rest {
        let seq = u32::from_be_bytes([*a, *b, *c, *d]);
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        frame += 1;
        r.segment(seq, *flags, payload, frame, frame as i64, &limits, &mut |ch| {
            match ch {
                Chunk::Data { bytes, .. } => out += bytes.len() as u64,
                Chunk::Gap { len } => gaps += len,
            }
            ls.push(&ch, &mut |l| assert!(l.bytes.len() <= 64));
        });
        assert!(r.pending_bytes() <= limits.max_pending_bytes);
        rest = next;
    }
    r.flush(&mut |ch| {
        match ch {
            Chunk::Data { bytes, .. } => out += bytes.len() as u64,
            Chunk::Gap { len } => gaps += len,
        }
        ls.push(&ch, &mut |l| assert!(l.bytes.len() <= 64));
    });
    ls.finish(&mut |l| assert!(l.bytes.len() <= 64));
    assert_eq!(out, r.delivered());
    assert_eq!(gaps, r.gap_bytes());
});
