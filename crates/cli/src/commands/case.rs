//! `hashward case runs` and `hashward case findings`: what earlier runs recorded.

use std::io::Write;
use std::process::ExitCode;

use hashward_store::{FindingFilter, RunId, RunSummary, StoredFinding};

use crate::args::{CaseCmd, Format, Global};
use crate::case::open;
use crate::output::Output;

/// main refuses `--format cyclonedx` here already; kept as an error should the wiring change.
const CYCLONEDX_ONLY: &str = "--format cyclonedx is only available for `hashward firmware inspect`";
const GEOJSON_ONLY: &str = "--format geojson is only available for `hashward sites assess`";

pub fn run(cmd: &CaseCmd, g: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let mut case = open(&g.case)?;
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    match cmd {
        CaseCmd::Runs { limit } => {
            let runs = case.runs(*limit)?;
            match out.format {
                Format::Text => {
                    writeln!(
                        w,
                        "{:>5}  {:<20}  {:<18}  {:<6}  findings (crit/high/med/low/info)",
                        "run", "started", "command", "status"
                    )?;
                    for r in &runs {
                        writeln!(
                            w,
                            "{:>5}  {:<20}  {:<18}  {:<6}  {}/{}/{}/{}/{}",
                            r.id,
                            r.started.format("%Y-%m-%d %H:%M:%S"),
                            r.command,
                            r.status,
                            r.findings.critical,
                            r.findings.high,
                            r.findings.medium,
                            r.findings.low,
                            r.findings.info
                        )?;
                    }
                }
                Format::Json => {
                    let all: Vec<_> = runs.iter().map(run_json).collect();
                    serde_json::to_writer_pretty(&mut w, &all)?;
                    writeln!(w)?;
                }
                Format::Jsonl => {
                    for r in &runs {
                        serde_json::to_writer(&mut w, &run_json(r))?;
                        writeln!(w)?;
                    }
                }
                Format::Cyclonedx => anyhow::bail!(CYCLONEDX_ONLY),
                Format::Geojson => anyhow::bail!(GEOJSON_ONLY),
            }
        }
        CaseCmd::Findings {
            run,
            min_severity,
            rule,
        } => {
            let filter = FindingFilter {
                run: run.map(RunId),
                min_severity: min_severity.and_then(crate::fail_threshold),
                rule: rule.clone(),
            };
            let found = case.findings(filter)?;
            match out.format {
                Format::Text => {
                    for f in &found {
                        writeln!(
                            w,
                            "run {:>4}  {:<8} {}  {}",
                            f.run,
                            f.finding.severity.as_str().to_uppercase(),
                            f.finding.rule,
                            f.finding.message
                        )?;
                    }
                    if found.is_empty() {
                        writeln!(w, "no findings recorded")?;
                    }
                }
                Format::Json => {
                    let all: Vec<_> = found.iter().map(finding_json).collect();
                    serde_json::to_writer_pretty(&mut w, &all)?;
                    writeln!(w)?;
                }
                Format::Jsonl => {
                    for f in &found {
                        serde_json::to_writer(&mut w, &finding_json(f))?;
                        writeln!(w)?;
                    }
                }
                Format::Cyclonedx => anyhow::bail!(CYCLONEDX_ONLY),
                Format::Geojson => anyhow::bail!(GEOJSON_ONLY),
            }
        }
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn run_json(r: &RunSummary) -> serde_json::Value {
    serde_json::json!({
        "run": r.id.0, "uuid": r.uuid, "command": r.command, "options": r.options, "hashward": r.version,
        "started": r.started.to_rfc3339(), "ended": r.ended.to_rfc3339(), "status": r.status.to_string(),
        "exit_code": r.exit_code, "error": r.error, "inputs": r.inputs, "extracted": r.extracted,
        "findings": {"critical": r.findings.critical, "high": r.findings.high, "medium": r.findings.medium,
                     "low": r.findings.low, "info": r.findings.info},
    })
}

fn finding_json(f: &StoredFinding) -> serde_json::Value {
    let mut v = serde_json::to_value(&f.finding).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("run".into(), f.run.0.into());
    }
    v
}
