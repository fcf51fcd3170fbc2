//! `hashward case runs` and `hashward case findings`: what earlier runs recorded.

use std::io::Write;
use std::process::ExitCode;

use hashward_model::Severity;

use crate::args::{CaseCmd, FailOn, Format, Global};
use crate::case::open;
use crate::output::Output;

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
                            r.started_at.format("%Y-%m-%d %H:%M:%S"),
                            r.command,
                            r.status,
                            r.counts.critical,
                            r.counts.high,
                            r.counts.medium,
                            r.counts.low,
                            r.counts.info
                        )?;
                    }
                }
                Format::Json => {
                    serde_json::to_writer_pretty(&mut w, &runs)?;
                    writeln!(w)?;
                }
                Format::Jsonl => {
                    for r in &runs {
                        serde_json::to_writer(&mut w, r)?;
                        writeln!(w)?;
                    }
                }
            }
        }
        CaseCmd::Findings {
            run,
            min_severity,
            rule,
        } => {
            let min = min_severity.and_then(|s| match s {
                FailOn::Info => Some(Severity::Info),
                FailOn::Low => Some(Severity::Low),
                FailOn::Medium => Some(Severity::Medium),
                FailOn::High => Some(Severity::High),
                FailOn::Critical => Some(Severity::Critical),
                FailOn::Never => None,
            });
            let found = case.findings(*run, min, rule.as_deref())?;
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
                    serde_json::to_writer_pretty(&mut w, &found)?;
                    writeln!(w)?;
                }
                Format::Jsonl => {
                    for f in &found {
                        serde_json::to_writer(&mut w, f)?;
                        writeln!(w)?;
                    }
                }
            }
        }
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}
