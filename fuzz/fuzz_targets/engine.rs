//! Fuzz target: the whole engine (identify, carve, extract with containment) on arbitrary images.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hashward_firmware::unpack::fuzz_engine(data);
});
