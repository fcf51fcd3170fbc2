//! Fuzz target: arbitrary bytes as a capture (pcap, pcapng or gzip) through framing, decoding,
//! a small flow table, reassembly and line splitting must never panic or exceed their bounds.
#![no_main]

use hashward_traffic::capture::{Capture, CaptureLimits};
use hashward_traffic::decode::{L4, decode};
use hashward_traffic::flow::{FlowLimits, FlowTable};
use hashward_traffic::lines::LineSplitter;
use hashward_traffic::reassembly::{Reassembler, StreamLimits};

/// Per-flow state: a reassembler and a line splitter per direction.
struct App {
    streams: [(Reassembler, LineSplitter); 2],
}

impl Default for App {
    fn default() -> Self {
        let side = || (Reassembler::new(), LineSplitter::new(256));
        Self {
            streams: [side(), side()],
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = CaptureLimits {
        max_decompressed: 4 << 20,
        ..CaptureLimits::default()
    };
    let Ok(cap) = Capture::from_bytes(data.to_vec(), &limits) else {
        return;
    };
    let stream = StreamLimits {
        max_pending_bytes: 4096,
        max_pending_segments: 8,
    };
    let mut table: FlowTable<App> = FlowTable::new(FlowLimits {
        max_flows: 8,
        ..FlowLimits::default()
    });
    let mut lines = 0usize;
    let _ = cap.for_each_packet(|p| {
        let Ok(d) = decode(p.linktype, p.data) else {
            return;
        };
        let Some((flow, dir)) = table.track(p.ts_us, p.frame, &d, &mut |_, _| {}) else {
            return;
        };
        if let L4::Tcp(t) = d.l4 {
            let (r, ls) = &mut flow.app.streams[dir as usize];
            r.segment(t.seq, t.flags, t.payload, p.frame, p.ts_us, &stream, &mut |c| {
                ls.push(&c, &mut |l| lines += l.bytes.len())
            });
        }
        if p.frame % 64 == 0 {
            table.expire(p.ts_us, &mut |_, _| {});
        }
    });
    table.finish(&mut |f, _| {
        for (mut r, mut ls) in f.app.streams {
            r.flush(&mut |c| ls.push(&c, &mut |l| lines += l.bytes.len()));
            ls.finish(&mut |l| lines += l.bytes.len());
        }
    });
    std::hint::black_box(lines);
});
