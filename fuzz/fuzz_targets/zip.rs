//! Fuzz target: the `zip` reader on arbitrary bytes must never panic or exceed its bounds.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hashward_firmware::unpack::run_in_memory("zip", data, 16 << 20);
});
