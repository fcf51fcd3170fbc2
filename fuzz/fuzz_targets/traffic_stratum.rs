//! Fuzz target: Stratum V1 lines (fast path and serde_json path) and the reconnect rule.
#![no_main]

use hashward_traffic::proto::stratum;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stratum::looks_like_stratum(data);
    for line in data.split(|b| *b == b'\n') {
        if let Ok(stratum::Message::Reconnect {
            host: Some(host), ..
        }) = stratum::parse_line(line)
        {
            let _ = stratum::cgminer_accepts_reconnect("stratum.pool.example", &host);
        }
    }
});
