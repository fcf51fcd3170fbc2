//! `hashward sites assess`: facilities (GeoJSON or CSV) against reference layers and the siting
//! rules → SITE findings, the per-facility result, recorded in the case, printed as text, JSON,
//! JSON lines or a GeoJSON map.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;
use hashward_model::{EnvelopeRef, InputRecord};
use hashward_sites::report::SitesResult;
use hashward_sites::{Options, Rules};
use hashward_store::RunRecord;
use sha2::{Digest as _, Sha256};

use super::Outcome;
use crate::args::{Format, Global, SitesAssessArgs, SitesCmd};
use crate::case;
use crate::output::Output;

/// Input files larger than this are refused before they are read.
const MAX_INPUT: u64 = 1 << 30;

/// Run a `sites` subcommand.
pub fn run(cmd: &SitesCmd, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    match cmd {
        SitesCmd::Assess(a) => assess(a, g, out),
    }
}

/// Read a whole input file (bounded) with its input record.
fn read_input(path: &Path, what: &str) -> anyhow::Result<(Vec<u8>, InputRecord)> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {what} {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_INPUT,
        "{what} {}: {len} bytes; the limit is {MAX_INPUT}",
        path.display()
    );
    let bytes = std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))?;
    let record = InputRecord {
        path: path.display().to_string(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
    };
    Ok((bytes, record))
}

fn assess(a: &SitesAssessArgs, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    let started = chrono::Utc::now();
    let rules = match &a.rules {
        Some(dir) => Rules::from_dir(dir)?,
        None => Rules::builtin()?,
    };
    let date = match &a.date {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .with_context(|| format!("--date {d}: expected YYYY-MM-DD"))?,
        None => started.date_naive(),
    };
    let (bytes, record) = read_input(&a.facilities, "facilities")?;
    let mut inputs = vec![record];
    let facilities = hashward_sites::facility::read_facilities(&bytes)
        .with_context(|| format!("reading facilities {}", a.facilities.display()))?;
    drop(bytes);
    let mut layers = Vec::with_capacity(a.layers.len().max(1));
    for path in &a.layers {
        let (bytes, record) = read_input(path, "layer")?;
        inputs.push(record);
        let layer = hashward_sites::layer::read_layer(&path.display().to_string(), &bytes)
            .with_context(|| format!("reading layer {}", path.display()))?;
        layers.push(layer);
    }
    if layers.is_empty() {
        layers.push(hashward_sites::sample::builtin_layer(&rules));
    }
    let opts = Options {
        date,
        infrastructure_examples: 3,
    };
    let assessment = hashward_sites::assess(&facilities, &layers, &rules, &opts);
    let findings = assessment.findings;
    let mut run = RunRecord::new("sites assess", started);
    run.options = serde_json::json!({
        "facilities": a.facilities,
        "layers": a.layers,
        "rules": a.rules,
        "date": assessment.result.date,
    });
    run.inputs = inputs.clone();
    run.findings = findings.clone();
    case::record_run(g, run)?;
    if out.format == Format::Geojson {
        let map = hashward_sites::geojson_out::feature_collection(&facilities, &layers, &assessment.result);
        let stdout = io::stdout();
        let mut w = io::BufWriter::new(stdout.lock());
        serde_json::to_writer(&mut w, &map)?;
        writeln!(w)?;
        w.flush()?;
    } else {
        let env = EnvelopeRef {
            hashward: hashward_model::VERSION,
            command: "sites assess",
            inputs: &inputs,
            findings: &findings,
            result: &assessment.result,
        };
        out.emit_ref(&env, &|w| write_summary(w, &assessment.result))?;
    }
    Ok(Outcome { findings })
}

/// The text form: layers, row errors, then one block per facility.
pub fn write_summary(w: &mut dyn Write, r: &SitesResult) -> io::Result<()> {
    const MILE: f64 = 1609.344;
    writeln!(w, "assessed on {} with rules:", r.date)?;
    for f in &r.rule_files {
        writeln!(w, "  {} ({}, sha256 {:.12})", f.name, f.origin, f.sha256)?;
    }
    for l in &r.layers {
        writeln!(
            w,
            "layer {} ({}, {} sites, {} row errors)",
            l.name,
            l.format,
            l.sites,
            l.row_errors.len()
        )?;
        for e in l.row_errors.iter().take(10) {
            writeln!(w, "    {e}")?;
        }
    }
    for e in r.row_errors.iter().take(20) {
        writeln!(w, "facilities: {e}")?;
    }
    if r.row_errors.len() > 20 {
        writeln!(w, "facilities: … {} more row errors", r.row_errors.len() - 20)?;
    }
    for f in r.facilities.iter().take(200) {
        let load = f.load_mw.map_or_else(
            || "load unknown".to_owned(),
            |mw| format!("{mw:.1} MW ({})", f.load.method),
        );
        writeln!(w, "\n{} {}: {load}", f.id, f.name)?;
        for n in &f.nearest {
            writeln!(
                w,
                "  nearest in {}: {} ({:.2} mi from {})",
                n.layer,
                n.site_name,
                n.distance_m / MILE,
                serde_json::to_value(n.measured_from)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )?;
        }
        for h in &f.rules {
            let at = match (h.distance_m, h.limit_m) {
                (Some(d), Some(l)) => format!(" {:.2} mi (limit {:.2} mi)", d / MILE, l / MILE),
                _ => h
                    .threshold_mw
                    .map(|t| format!(" threshold {t} MW"))
                    .unwrap_or_default(),
            };
            writeln!(
                w,
                "  {} {}{}{at} [{}]{}",
                h.finding,
                h.rule,
                h.site_name
                    .as_deref()
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default(),
                h.cite,
                if h.screening { " screening" } else { "" }
            )?;
        }
        for n in &f.notes {
            writeln!(w, "  note: {n}")?;
        }
    }
    if r.facilities.len() > 200 {
        writeln!(
            w,
            "\n… {} more facilities (use --format json)",
            r.facilities.len() - 200
        )?;
    }
    Ok(())
}
