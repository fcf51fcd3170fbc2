//! Fuzz target: the Zeek log reader and the beacon pairing/scoring on its records must never
//! panic or exceed their bounds on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(log) = hashward_traffic::zeek::read(data, Some("conn.log")) {
        let pairs = hashward_traffic::beacon::pairs_from_zeek(&log.conns, &log.ssl, &log.http, 1_000);
        let _ = pairs.score_all(&hashward_traffic::beacon::BeaconConfig::default());
    }
});
