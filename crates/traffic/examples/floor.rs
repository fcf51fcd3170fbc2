//! The cost floor of a capture pass, measured phase by phase on one core: sha256 of the file
//! (the evidence every finding cites), framing, decoding, and flow tracking with no
//! application parsing. `bench/traffic.sh` prints it beside the full analysis, so that the
//! throughput target can be judged against what the mandatory steps cost on this machine.
//!
//! Usage: `cargo run --release -p hashward-traffic --example floor -- CAPTURE`

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Instant;

use hashward_traffic::capture::{Capture, CaptureLimits};
use hashward_traffic::decode;
use hashward_traffic::flow::{FlowLimits, FlowTable};
use sha2::{Digest as _, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path: PathBuf = std::env::args_os().nth(1).ok_or("usage: floor CAPTURE")?.into();
    let len = std::fs::metadata(&path)?.len() as f64;
    let report = |name: &str, secs: f64, packets: u64| {
        println!(
            "{name:<34} {secs:>7.3} s  {:>7.0} MB/s  {:>6.1} ns/packet",
            len / secs / 1e6,
            secs * 1e9 / packets.max(1) as f64
        );
    };

    // Reading alone (the kernel's copy into our buffer).
    let t = Instant::now();
    let mut f = std::fs::File::open(&path)?;
    let mut buf = vec![0u8; 8 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        std::hint::black_box(&buf[..n]);
    }
    let read_s = t.elapsed().as_secs_f64();

    let capture = Capture::open(&path, &CaptureLimits::default())?;
    let mut packets = 0u64;
    let t = Instant::now();
    let mut it = capture.packets();
    while let Some(p) = it.next_packet() {
        std::hint::black_box(p?.data.len());
        packets += 1;
    }
    let frame_s = t.elapsed().as_secs_f64();
    report("read (8 MiB reads)", read_s, packets);

    // sha256 of the whole file, from the same 8 MiB reads.
    let t = Instant::now();
    let mut f = std::fs::File::open(&path)?;
    let mut h = Sha256::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    std::hint::black_box(h.finalize());
    report("read + sha256", t.elapsed().as_secs_f64(), packets);
    report("framing (read + records)", frame_s, packets);

    let t = Instant::now();
    let mut it = capture.packets();
    let mut ok = 0u64;
    while let Some(p) = it.next_packet() {
        let p = p?;
        if decode::decode(p.linktype, p.data).is_ok() {
            ok += 1;
        }
    }
    std::hint::black_box(ok);
    report("framing + decode", t.elapsed().as_secs_f64(), packets);

    let t = Instant::now();
    let mut it = capture.packets();
    let mut table: FlowTable<()> = FlowTable::new(FlowLimits::default());
    let mut evict = |_f, _r| {};
    while let Some(p) = it.next_packet() {
        let p = p?;
        if let Ok(d) = decode::decode(p.linktype, p.data) {
            std::hint::black_box(table.track(p.ts_us, p.frame, &d, &mut evict).is_some());
        }
    }
    report(
        "framing + decode + flow table",
        t.elapsed().as_secs_f64(),
        packets,
    );
    println!(
        "{packets} packets, {total} bytes, {} flows",
        table.stats().created
    );
    Ok(())
}
