//! Fuzz target: Whatsminer v3 frames and encrypted v2 replies from a hostile device.
#![no_main]

use hashward_fleet::proto::whatsminer;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(Some(payload)) = whatsminer::v3_unframe(data, 1 << 20) {
        let _ = serde_json::from_slice::<serde_json::Value>(payload);
    }
    let s = whatsminer::Session::derive("admin", "salt", "newsalt", "1");
    let _ = whatsminer::decrypt(&s.key, data);
    let reply = serde_json::json!({"enc": String::from_utf8_lossy(data)});
    let _ = s.open_reply(&reply);
});
