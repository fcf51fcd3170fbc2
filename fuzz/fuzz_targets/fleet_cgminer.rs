//! Fuzz target: a cgminer API reply (JSON, repaired JSON or text mode) from a hostile device.
#![no_main]

use hashward_fleet::family::{cgminer_pools, summary_ths};
use hashward_fleet::proto::cgminer;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(d) = cgminer::decode(data) {
        let _ = cgminer::status(&d.value);
        for part in ["summary", "pools", "version"] {
            if let Some(p) = cgminer::part(&d.value, part) {
                let _ = cgminer_pools(p, "fuzz");
                let _ = summary_ths(p);
                for row in cgminer::section(p, "VERSION") {
                    let _ = cgminer::text_field(row, "Type");
                    let _ = cgminer::number_field(row, "API");
                }
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = hashward_fleet::proto::repair::parse_lenient(s);
        let _ = cgminer::parse_text(s);
    }
});
