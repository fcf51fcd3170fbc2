//! The whole traffic pass (flows, protocol classification, sessions, detections, result) over
//! hostile payloads: the input is cut into TCP segments of flows to the ports hashward reads
//! specially, and is also read as a capture file of its own.

#![no_main]

use hashward_traffic::capture::{Capture, CaptureLimits};
use libfuzzer_sys::fuzz_target;

/// A pcap of Ethernet/IPv4/TCP and UDP frames carrying `data`, cut where it holds a 0xff byte.
fn wrap(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0];
    let ports = [3333u16, 4028, 80, 443, 53, 22, 34254, 7000];
    let mut seq = [1000u32; 16];
    for (n, chunk) in data.split(|b| *b == 0xff).enumerate() {
        let k = n % ports.len();
        let from_server = n % 3 == 1;
        let udp = ports[k] == 53 && n % 2 == 0;
        let (sport, dport) = if from_server { (ports[k], 40000) } else { (40000, ports[k]) };
        let (src, dst) = if from_server { ([203, 0, 113, 9], [10, 0, 0, 7]) } else { ([10, 0, 0, 7], [203, 0, 113, 9]) };
        let chunk = &chunk[..chunk.len().min(1400)];
        let l4 = if udp { 8 } else { 20 };
        let total = 20 + l4 + chunk.len();
        let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, if udp { 17 } else { 6 }, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        if udp {
            f.extend_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        } else {
            let s = &mut seq[k * 2 + usize::from(from_server)];
            f.extend_from_slice(&s.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0, 0x50, if n % 17 == 16 { 0x11 } else { 0x18 }, 0xff, 0xff, 0, 0, 0, 0]);
            *s = s.wrapping_add(chunk.len() as u32);
        }
        f.extend_from_slice(chunk);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&f);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let limits = CaptureLimits::default();
    let mut captures = Vec::new();
    if let Ok(c) = Capture::from_bytes(wrap(data), &limits) {
        captures.push(c);
    }
    if let Ok(c) = Capture::from_bytes(data.to_vec(), &limits) {
        captures.push(c);
    }
    let opts = hashward_traffic::Options { workers: 2, ..Default::default() };
    let a = hashward_traffic::analyze::analyze_in_memory(&captures, &opts);
    let d = hashward_traffic::detect::detect(
        &a,
        &hashward_model::Policy::default(),
        &hashward_traffic::indicators::Indicators::builtin(),
        &hashward_traffic::beacon::BeaconConfig::default(),
    );
    let _ = hashward_traffic::report::result(&a, &d, false);
});
