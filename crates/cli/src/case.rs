//! Recording runs in the case database (unless `--no-store`).

use anyhow::Context;
use hashward_model::Envelope;
use hashward_store::{ArtifactRecord, Case, RunRecord};

use crate::args::Global;

/// An extracted file to remember.
pub struct Artifact {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub kind: String,
}

/// Open the case named by `--case` / `HASHWARD_CASE`.
pub fn open(path: &str) -> anyhow::Result<Case> {
    Case::open(path).with_context(|| format!("opening case {path}"))
}

/// Record a finished command in one transaction; returns the run id, or `None` with `--no-store`.
pub fn record(
    g: &Global,
    command: &str,
    options: serde_json::Value,
    started: chrono::DateTime<chrono::Utc>,
    env: &Envelope,
    artifacts: Vec<Artifact>,
) -> anyhow::Result<Option<i64>> {
    if g.no_store {
        return Ok(None);
    }
    let mut case = open(&g.case)?;
    let run = RunRecord {
        command: command.to_owned(),
        options,
        version: hashward_model::VERSION.to_owned(),
        started_at: started,
        ended_at: chrono::Utc::now(),
        status: "ok".into(),
        exit_code: None,
        error: None,
        inputs: env.inputs.clone(),
        artifacts: artifacts
            .into_iter()
            .map(|a| ArtifactRecord {
                path: a.path,
                sha256: a.sha256,
                size: a.size,
                kind: a.kind,
            })
            .collect(),
        findings: env.findings.clone(),
    };
    let id = case
        .record(&run)
        .with_context(|| format!("recording the run in {}", g.case))?;
    Ok(Some(id.into()))
}
