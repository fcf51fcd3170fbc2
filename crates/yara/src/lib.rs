//! YARA-X rules over every file `firmware inspect` extracts: hashward's own (`rules/yara/`,
//! embedded in the binary) and the user's (`--rules DIR`), compiled once into a [`RuleSet`]
//! and run by a [`YaraScanner`] on the inventory's threads, each with its own YARA-X scanner.
//!
//! A crate of its own because YARA-X (wasmtime and cranelift underneath) takes about ten
//! minutes to build from cold: `hashward-firmware`, its tests and its fuzz targets do not wait
//! for it; they see only the `ContentScanner` trait this crate implements.

#![forbid(unsafe_code)]

mod rules;
mod scanner;

pub use rules::{
    BUILTIN, BUILTIN_PREFIX, MAX_RULE_FILE_BYTES, MAX_RULE_FILES, RuleFile, RuleSet, RulesError, Source,
};
pub use scanner::{ScanOptions, YaraScanner};
