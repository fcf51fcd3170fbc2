//! Fuzz target: entry rows (CSV and JSON) and the whole check over them must never panic,
//! whatever the bytes; bad rows are errors, the rest is checked.
#![no_main]

use std::sync::OnceLock;

fn checker() -> &'static hashward_customs::Checker {
    static C: OnceLock<hashward_customs::Checker> = OnceLock::new();
    C.get_or_init(|| {
        let rules = hashward_customs::Rules::embedded().expect("the embedded rules load (unit-tested)");
        hashward_customs::Checker::new(rules, None)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for format in [hashward_customs::InputFormat::Csv, hashward_customs::InputFormat::Json] {
        let mut sink = |c: hashward_customs::Chunk<'_>| -> Result<(), std::io::Error> {
            let _ = hashward_customs::write_chunk_jsonl(&c, &mut std::io::sink());
            Ok(())
        };
        let _ = hashward_customs::check_stream(checker(), data, format, 4, &mut sink);
    }
});
