//! Fuzz target: a client's first TLS bytes (records, a ClientHello, JA4) from a hostile client.
#![no_main]

use hashward_traffic::proto::tls;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tls::is_handshake_record(data);
    if let Ok(Some(ch)) = tls::client_hello(data) {
        let _ = tls::ja4(&ch, true);
    }
});
