//! Fuzz target: cgminer API requests and reply STATUS sections seen on TCP 4028.
#![no_main]

use hashward_traffic::proto::mgmt;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mgmt::api_request(data);
    let _ = mgmt::api_status(data);
});
