//! Fuzz target: the inventory's parsers (passwd, shadow, htdigest, miner configuration) and the
//! password tester on arbitrary bytes must never panic and must stay within their work bounds.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let files = ["etc/passwd", "etc/shadow", "config/lighttpd-htdigest.user", "config/cgminer.conf"]
        .into_iter()
        .map(|p| (p, data.to_vec()));
    let _ = hashward_firmware::inventory::from_files(files);
});
