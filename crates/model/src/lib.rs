//! hashward's shared vocabulary: findings, the rule catalogue and the JSON output envelope. No I/O.

mod catalogue;
mod envelope;
mod finding;

pub use catalogue::{CATALOGUE, Category, RuleId, RuleInfo};
pub use envelope::{Envelope, EnvelopeRef, InputRecord, Record, ResultParts};
pub use finding::{Evidence, Excerpt, Finding, Severity, Subject, bytes_excerpt};

/// hashward's version, as printed in every output envelope.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
