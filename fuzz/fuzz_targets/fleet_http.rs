//! Fuzz target: an HTTP response and a Digest challenge from a hostile miner web interface.
#![no_main]

use hashward_fleet::proto::{digest, http};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = http::parse(data, false);
    if let Ok(Some(r)) = http::parse(data, true)
        && let Some(h) = r.header("www-authenticate")
        && let Some(c) = digest::parse_challenge(h)
    {
        let _ = digest::authorization(&c, "root", "root", "GET", "/", "00", 1);
    }
    let _ = digest::parse_challenge(&String::from_utf8_lossy(data));
});
