//! Fuzz target: Stratum V2 plaintext frames and the Noise handshake shape.
#![no_main]

use hashward_traffic::proto::sv2;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sv2::frame_header(data);
    let _ = sv2::setup_connection(data);
    let _ = sv2::reconnect(data);
    let _ = sv2::noise_handshake_shape(data, sv2::NOISE_ACT2_LEN);
});
