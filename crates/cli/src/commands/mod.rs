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

/// What a finished command hands back to `main` for the exit status.
pub struct Outcome {
    pub findings: Vec<hashward_model::Finding>,
}

/// Read a policy file (`--policy`), with its input record; the default policy without one.
pub fn load_policy(
    path: Option<&std::path::Path>,
) -> anyhow::Result<(hashward_model::Policy, Option<hashward_model::InputRecord>)> {
    use anyhow::Context as _;
    use sha2::{Digest as _, Sha256};
    let Some(path) = path else {
        return Ok((hashward_model::Policy::default(), None));
    };
    let text = std::fs::read(path).with_context(|| format!("reading policy {}", path.display()))?;
    let record = hashward_model::InputRecord {
        path: path.display().to_string(),
        sha256: hex::encode(Sha256::digest(&text)),
        size: text.len() as u64,
    };
    let text =
        String::from_utf8(text).map_err(|_| anyhow::anyhow!("policy {} is not UTF-8", path.display()))?;
    let policy = hashward_model::Policy::from_toml(&text)
        .with_context(|| format!("reading policy {}", path.display()))?;
    Ok((policy, Some(record)))
}
