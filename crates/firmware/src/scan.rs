//! Content scanners: pattern engines (YARA-X, and whatever comes next) that see every
//! extracted file once, during the inventory's read of the tree, and report rule matches.
//!
//! The engine lives outside this crate (`hashward-yara`) so that the firmware crate, its fuzz
//! targets and its tests stay quick to build; it plugs in through [`ContentScanner`].
//!
//! A scanner is shared by the inventory's threads; each thread opens its own
//! [`ScanSession`], because an engine's per-scan state (a YARA-X `Scanner`) may not move
//! between threads, and building it once per file would cost more than the scan.

use std::collections::BTreeMap;

use hashward_model::Severity;
use serde::Serialize;

/// One rule matching one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMatch {
    /// The engine (`yara`).
    pub engine: &'static str,
    /// The rule's namespace (the rules file it came from).
    pub namespace: String,
    /// The rule's identifier.
    pub rule: String,
    /// File in the tree.
    pub file: String,
    /// Offset of the first matching pattern, if the rule matched on patterns.
    pub offset: Option<u64>,
    /// Length of that first match.
    pub length: u64,
    /// The number of pattern matches in the file (each pattern's count is capped by the
    /// engine, so this is a lower bound on a file with very many).
    pub matches: u64,
    /// Severity from the rule's metadata (`severity = "high"`), if it gives a valid one.
    pub severity: Option<Severity>,
    /// Description from the rule's metadata.
    pub description: Option<String>,
    /// Whether the rule ships with hashward (`true`) or came from `--rules` (`false`).
    pub builtin: bool,
    /// The rest of the rule's metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, serde_json::Value>,
}

/// A file a scanner could not finish (time limit, engine error): its rules were not all
/// evaluated, so an absence of matches there proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanFailure {
    /// The engine (`yara`).
    pub engine: &'static str,
    /// File in the tree.
    pub file: String,
    /// What stopped it (`timeout after 10 s`).
    pub error: String,
}

/// A pattern engine run over every extracted file.
pub trait ContentScanner: Sync {
    /// A short stable name (`yara`).
    fn name(&self) -> &'static str;
    /// A session for the calling thread, which feeds it the files of its share one by one.
    fn session(&self) -> Box<dyn ScanSession + '_>;
}

/// One thread's use of a [`ContentScanner`].
pub trait ScanSession {
    /// Scan one file's content, adding its matches to `out`. Must not panic on any input and
    /// must bound its own time per file; a file it could not finish is an `Err`.
    fn scan(&mut self, path: &str, bytes: &[u8], out: &mut Vec<RuleMatch>) -> Result<(), ScanFailure>;
}
