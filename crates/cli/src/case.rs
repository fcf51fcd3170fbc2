//! Recording runs in the case database (unless `--no-store`).

use anyhow::Context;
use hashward_model::{Finding, InputRecord};
use hashward_store::{Case, RunRecord, RunStatus};

use crate::args::Global;

pub use hashward_store::ArtifactRef as Artifact;

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
    inputs: &[InputRecord],
    findings: &[Finding],
    artifacts: &[Artifact<'_>],
) -> anyhow::Result<Option<i64>> {
    if g.no_store {
        return Ok(None);
    }
    let mut case = open(&g.case)?;
    let mut run = RunRecord::new(command, started);
    run.options = options;
    run.ended = chrono::Utc::now();
    run.status = RunStatus::Ok;
    run.exit_code = exit_status(findings, g);
    run.inputs = inputs.to_vec();
    run.findings = findings.to_vec();
    let id = case
        .record_with(&run, artifacts)
        .with_context(|| format!("recording the run in {}", g.case))?;
    Ok(Some(id.0))
}

/// Record a run the command assembled itself (with a result document, say); the exit code
/// and end time are filled in here. `None` with `--no-store`.
pub fn record_run(g: &Global, mut run: RunRecord) -> anyhow::Result<Option<i64>> {
    if g.no_store {
        return Ok(None);
    }
    run.ended = chrono::Utc::now();
    run.exit_code = exit_status(&run.findings, g);
    let mut case = open(&g.case)?;
    let id = case
        .record(&run)
        .with_context(|| format!("recording the run in {}", g.case))?;
    Ok(Some(id.0))
}

/// The exit status the run ends with (0 or 1), for the record.
fn exit_status(findings: &[hashward_model::Finding], g: &Global) -> i32 {
    match crate::fail_threshold(g.fail_on) {
        Some(t) if findings.iter().any(|f| f.severity >= t) => 1,
        _ => 0,
    }
}
