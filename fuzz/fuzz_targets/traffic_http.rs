//! Fuzz target: HTTP/1 request and response heads.
#![no_main]

use hashward_traffic::proto::http;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = http::looks_like_request(data);
    let _ = http::request(data);
    let _ = http::response(data);
});
