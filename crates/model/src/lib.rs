//! hashward's shared vocabulary: findings, the rule catalogue, the JSON output envelope and the
//! policy file. No I/O.

#![forbid(unsafe_code)]

mod catalogue;
mod envelope;
mod finding;
pub mod jsonl;
mod policy;

pub use catalogue::{CATALOGUE, Category, RuleId, RuleInfo};
pub use envelope::{Envelope, EnvelopeRef, InputRecord, Record, ResultParts};
pub use finding::{Evidence, Excerpt, Finding, Severity, Subject, bytes_excerpt};
pub use policy::{NetworkPolicy, Policy, PolicyError, PoolPolicy};

/// hashward's version, as printed in every output envelope.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the shared test data (`shared/testdata`, read in place and never copied into the
/// repository) may be, in order: `HASHWARD_TESTDATA`, then `shared/testdata` beside any
/// ancestor of `crate_dir` (a crate's `CARGO_MANIFEST_DIR`: the repository's sibling), then
/// `/work/shared/testdata`. Only computes paths; the caller looks for its own files there.
#[doc(hidden)]
pub fn shared_testdata_candidates(crate_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("HASHWARD_TESTDATA")
        .map(std::path::PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(crate_dir.ancestors().map(|a| a.join("shared/testdata")));
    candidates.push(std::path::PathBuf::from("/work/shared/testdata"));
    candidates
}
