//! Content scanners: pattern engines (YARA-X, and whatever comes next) that see every
//! extracted file once, during the inventory's read of the tree, and report rule matches.
//!
//! The engine lives outside this crate (`hashward-yara`) so that the firmware crate, its fuzz
//! targets and its tests stay quick to build; it plugs in through [`ContentScanner`].

use std::collections::BTreeMap;

use hashward_model::Severity;
use serde::Serialize;

/// One rule matching one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMatch {
    /// The engine (`yara`).
    pub engine: &'static str,
    /// The rule's namespace (the rules file or directory it came from).
    pub namespace: String,
    /// The rule's identifier.
    pub rule: String,
    /// File in the tree.
    pub file: String,
    /// Offset of the first matching pattern, if the rule matched on patterns.
    pub offset: Option<u64>,
    /// Length of that first match.
    pub length: u64,
    /// The number of pattern matches in the file.
    pub matches: u64,
    /// Severity from the rule's metadata (`severity = "high"`), if it gives one.
    pub severity: Option<Severity>,
    /// Description from the rule's metadata.
    pub description: Option<String>,
    /// Whether the rule ships with hashward (`true`) or came from `--rules` (`false`).
    pub builtin: bool,
    /// The rest of the rule's metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, serde_json::Value>,
}

/// A pattern engine run over every extracted file.
pub trait ContentScanner: Sync {
    /// A short stable name (`yara`).
    fn name(&self) -> &'static str;
    /// Scan one file's content, adding its matches to `out`. Must not panic on any input and
    /// must bound its own time per file.
    fn scan(&self, path: &str, bytes: &[u8], out: &mut Vec<RuleMatch>);
}
