//! Fuzz target: DNS messages (UDP payloads) and the DNS-over-TCP framer on hostile bytes.
#![no_main]

use hashward_traffic::proto::dns;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns::parse(data);
    let mut framer = dns::TcpFramer::new();
    for chunk in data.chunks(7) {
        framer.push(chunk, &mut |m| {
            let _ = dns::parse(m);
        });
    }
});
