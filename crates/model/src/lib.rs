//! hashward's shared vocabulary: findings, the rule catalogue, the JSON output envelope and the
//! policy file. No I/O.

mod catalogue;
mod envelope;
mod finding;
mod policy;

pub use catalogue::{CATALOGUE, Category, RuleId, RuleInfo};
pub use envelope::{Envelope, EnvelopeRef, InputRecord, Record, ResultParts};
pub use finding::{Evidence, Excerpt, Finding, Severity, Subject, bytes_excerpt};
pub use policy::{NetworkPolicy, Policy, PolicyError, PoolPolicy};

/// hashward's version, as printed in every output envelope.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
