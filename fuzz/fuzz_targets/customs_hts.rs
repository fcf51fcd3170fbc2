//! Fuzz target: the USITC HTS CSV import and the compact table reader must never panic on
//! arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(t) = hashward_customs::HtsTable::from_usitc_csv("fuzz.csv", data, 1) {
        let _ = hashward_customs::HtsTable::from_compact("fuzz.tsv", &t.to_compact());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hashward_customs::HtsTable::from_compact("fuzz.tsv", text);
    }
});
