//! Fuzz target: the `ubi` reader on arbitrary bytes must never panic or exceed its bounds.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hashward_firmware::unpack::run_in_memory("ubi", data, 16 << 20);
});
