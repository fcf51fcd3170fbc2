//! One module per command: each turns validated arguments into library calls and an envelope.

pub mod case;
pub mod customs;
pub mod demo;
pub mod diff;
pub mod emulate;
pub mod firmware;
pub mod fleet;
pub mod inspect;
pub mod rules;
pub mod sites;
pub mod traffic;

/// What a finished command hands back to `main` for the exit status: the most severe finding's
/// severity (commands that stream their findings do not keep them).
pub struct Outcome {
    pub worst: Option<hashward_model::Severity>,
}

impl Outcome {
    /// The outcome of a command that found `findings`.
    pub fn of(findings: &[hashward_model::Finding]) -> Outcome {
        Outcome {
            worst: findings.iter().map(|f| f.severity).max(),
        }
    }
}

/// Read a whole input file of at most `limit` bytes, with its input record (path, sha256,
/// size). The bound is applied while reading, so a file that grows or lies about its size
/// cannot make the read unbounded.
pub fn read_input(
    path: &std::path::Path,
    what: &str,
    limit: u64,
) -> anyhow::Result<(Vec<u8>, hashward_model::InputRecord)> {
    use std::io::Read as _;

    use anyhow::Context as _;
    use sha2::{Digest as _, Sha256};
    let context = || format!("reading {what} {}", path.display());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut bytes))
        .with_context(context)?;
    anyhow::ensure!(
        bytes.len() as u64 <= limit,
        "{what} {}: larger than the limit of {limit} bytes",
        path.display()
    );
    let record = hashward_model::InputRecord {
        path: path.display().to_string(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
    };
    Ok((bytes, record))
}

/// Policy files are short hand-written TOML; anything larger is not one.
const MAX_POLICY: u64 = 16 << 20;

/// Read a policy file (`--policy`), with its input record; the default policy without one.
pub fn load_policy(
    path: Option<&std::path::Path>,
) -> anyhow::Result<(hashward_model::Policy, Option<hashward_model::InputRecord>)> {
    use anyhow::Context as _;
    let Some(path) = path else {
        return Ok((hashward_model::Policy::default(), None));
    };
    let (text, record) = read_input(path, "policy", MAX_POLICY)?;
    let text =
        String::from_utf8(text).map_err(|_| anyhow::anyhow!("policy {} is not UTF-8", path.display()))?;
    let policy = hashward_model::Policy::from_toml(&text)
        .with_context(|| format!("reading policy {}", path.display()))?;
    Ok((policy, Some(record)))
}
