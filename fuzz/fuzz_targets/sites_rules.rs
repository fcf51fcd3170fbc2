//! Fuzz target: arbitrary bytes as each siting rules file (TOML read strictly and validated)
//! must give rules or a typed error naming the file, never a panic.
#![no_main]

use hashward_sites::rules::{BUILTIN, Rules};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let (name, _) = BUILTIN[usize::from(first) % BUILTIN.len()];
    match Rules::with_file(name, "fuzz", rest) {
        Ok(rules) => assert_eq!(rules.files.len(), BUILTIN.len()),
        Err(e) => assert!(e.to_string().contains("fuzz")),
    }
});
