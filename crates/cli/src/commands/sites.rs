//! `hashward sites assess`: facilities (GeoJSON or CSV) against reference layers and the siting
//! rules → SITE findings, the per-facility result, recorded in the case, printed as text, JSON,
//! JSON lines or a GeoJSON map.

use std::io::{self, Write};

use anyhow::Context as _;
use hashward_model::{EnvelopeRef, Finding, InputRecord, Record, ResultParts as _};
use hashward_sites::report::SitesResult;
use hashward_sites::{Options, Rules};
use hashward_store::RunRecord;
use rayon::prelude::*;
use serde::Serialize;

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
    // The facilities file and the layers are read at the same time: each is parsed on one
    // core, and reading 100,000 facilities takes as long as the assessment of a third of them.
    let clock = std::time::Instant::now();
    let (facilities, layer_reads) = rayon::join(
        || -> anyhow::Result<_> {
            let (bytes, record) = super::read_input(&a.facilities, "facilities", MAX_INPUT)?;
            let facilities = hashward_sites::facility::read_facilities(&bytes)
                .with_context(|| format!("reading facilities {}", a.facilities.display()))?;
            Ok((facilities, record))
        },
        || {
            a.layers
                .par_iter()
                .map(|path| -> anyhow::Result<_> {
                    let (bytes, record) = super::read_input(path, "layer", MAX_INPUT)?;
                    let layer = hashward_sites::layer::read_layer(&path.display().to_string(), &bytes)
                        .with_context(|| format!("reading layer {}", path.display()))?;
                    Ok((layer, record))
                })
                .collect::<Vec<_>>()
        },
    );
    // Errors in the order the files were given: the facilities first, then each layer.
    let (facilities, record) = facilities?;
    let mut inputs = vec![record];
    let mut layers = Vec::with_capacity(a.layers.len().max(1));
    for read in layer_reads {
        let (layer, record) = read?;
        inputs.push(record);
        layers.push(layer);
    }
    if layers.is_empty() {
        layers.push(hashward_sites::sample::builtin_layer(&rules));
    }
    let opts = Options {
        date,
        infrastructure_examples: 3,
    };
    let read_s = clock.elapsed().as_secs_f64();
    let assessment = hashward_sites::assess(&facilities, &layers, &rules, &opts);
    let assess_s = clock.elapsed().as_secs_f64() - read_s;
    let findings = assessment.findings;
    // Without a case the run record would be built only to be dropped: it copied every
    // finding (a tenth of the run for 100,000 facilities).
    if !g.no_store {
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
    }
    if out.format == Format::Geojson {
        let map = hashward_sites::geojson_out::feature_collection(&facilities, &layers, &assessment.result);
        let stdout = io::stdout();
        let mut w = io::BufWriter::new(stdout.lock());
        serde_json::to_writer(&mut w, &map)?;
        writeln!(w)?;
        w.flush()?;
    } else if out.format == Format::Jsonl {
        let stdout = io::stdout();
        let mut w = io::BufWriter::new(stdout.lock());
        write_jsonl(&mut w, &inputs, &findings, &assessment.result)?;
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
    // Phase times (`-v`), for the siting benchmark's per-phase figures.
    tracing::info!(
        "sites assess: {} facilities; read {read_s:.3} s, assess {assess_s:.3} s, output {:.3} s",
        assessment.result.facilities.len(),
        clock.elapsed().as_secs_f64() - read_s - assess_s
    );
    // Freeing the result, the facilities and the layers (millions of small allocations for
    // 100,000 facilities) took a tenth of the run: it is left to a thread the process does not
    // wait for, since the process ends once the exit status is known.
    std::thread::spawn(move || drop((assessment.result, facilities, layers)));
    Ok(Outcome { findings })
}

/// A finding line of `--format jsonl`, borrowed (the model's `Record::Finding` owns a copy).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FindingLine<'a> {
    Finding(&'a Finding),
}

/// A result-list line of `--format jsonl`, serialized from the struct (the model's
/// `Record::Item` holds a JSON tree built first).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ItemLine<'a, T: Serialize> {
    Item { key: &'a str, item: &'a T },
}

/// Lines serialized per parallel task; a batch of tasks is written before the next starts, so
/// at most a few tens of MB are held.
const LINES_PER_TASK: usize = 512;
const TASKS_PER_BATCH: usize = 32;

/// Writes one line per item, serialized in parallel and written in order.
fn write_lines<T: Sync>(
    w: &mut dyn Write,
    items: &[T],
    line: impl Fn(&mut Vec<u8>, &T) -> serde_json::Result<()> + Sync,
) -> io::Result<()> {
    for batch in items.chunks(LINES_PER_TASK * TASKS_PER_BATCH) {
        let bufs = batch
            .par_chunks(LINES_PER_TASK)
            .map(|chunk| {
                let mut buf = Vec::with_capacity(chunk.len() * 1024);
                for item in chunk {
                    line(&mut buf, item)?;
                    buf.push(b'\n');
                }
                Ok(buf)
            })
            .collect::<serde_json::Result<Vec<Vec<u8>>>>()?;
        for b in bufs {
            w.write_all(&b)?;
        }
    }
    Ok(())
}

/// `--format jsonl`: the same lines as `EnvelopeRef::write_jsonl` (run, inputs, findings, the
/// result's list items, the rest), byte for byte, but findings and facilities are serialized
/// straight from their structs and in parallel: for 100,000 facilities the generic writer
/// (a copy of each finding, a JSON tree per facility, one core) took longer than the
/// assessment.
fn write_jsonl(
    w: &mut dyn Write,
    inputs: &[InputRecord],
    findings: &[Finding],
    r: &SitesResult,
) -> io::Result<()> {
    let mut line = |rec: &Record| -> io::Result<()> {
        serde_json::to_writer(&mut *w, rec)?;
        w.write_all(b"\n")
    };
    line(&Record::Run {
        hashward: hashward_model::VERSION.to_owned(),
        command: "sites assess".to_owned(),
    })?;
    for i in inputs {
        line(&Record::Input(i.clone()))?;
    }
    write_lines(w, findings, |buf, f| {
        serde_json::to_writer(buf, &FindingLine::Finding(f))
    })?;
    fn items<T: Serialize + Sync>(w: &mut dyn Write, key: &str, list: &[T]) -> io::Result<()> {
        write_lines(w, list, |buf, item| {
            serde_json::to_writer(buf, &ItemLine::Item { key, item })
        })
    }
    // The order of `ResultParts::each_item` for `SitesResult`.
    items(w, "rule_files", &r.rule_files)?;
    items(w, "layers", &r.layers)?;
    items(w, "facilities", &r.facilities)?;
    items(w, "row_errors", &r.row_errors)?;
    serde_json::to_writer(&mut *w, &Record::Result { result: r.rest() })?;
    w.write_all(b"\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The sites JSON-lines writer must print exactly what the generic envelope writer prints.
    #[test]
    fn jsonl_writer_matches_the_generic_writer() {
        let rules = Rules::builtin().expect("built-in rules");
        let layers = vec![hashward_sites::sample::builtin_layer(&rules)];
        // Facilities around F.E. Warren AFB (41.13 N, 104.87 W) and far away, with and
        // without foreign owners, so that there are findings, notes and several batches.
        let mut features = Vec::new();
        for i in 0..3000 {
            let lat = 41.0 + f64::from(i % 60) * 0.01;
            let lon = -105.2 + f64::from(i / 60) * 0.01;
            let owner = ["CN", "US", "", "GB"][i as usize % 4];
            features.push(format!(
                r#"{{"type":"Feature","properties":{{"id":"f{i}","owner_country":"{owner}","state":"WY","load_mw":{}}},"geometry":{{"type":"Point","coordinates":[{lon},{lat}]}}}}"#,
                i % 120
            ));
        }
        let doc = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        );
        let facilities = hashward_sites::facility::read_facilities(doc.as_bytes()).expect("facilities");
        assert_eq!(facilities.facilities.len(), 3000);
        let opts = Options {
            date: chrono::NaiveDate::from_ymd_opt(2025, 11, 25).expect("date"),
            infrastructure_examples: 3,
        };
        let a = hashward_sites::assess(&facilities, &layers, &rules, &opts);
        assert!(!a.findings.is_empty());
        let inputs = vec![InputRecord {
            path: "f.geojson".into(),
            sha256: "0".repeat(64),
            size: doc.len() as u64,
        }];
        let mut generic = Vec::new();
        EnvelopeRef {
            hashward: hashward_model::VERSION,
            command: "sites assess",
            inputs: &inputs,
            findings: &a.findings,
            result: &a.result,
        }
        .write_jsonl(&mut generic)
        .expect("generic");
        let mut ours = Vec::new();
        write_jsonl(&mut ours, &inputs, &a.findings, &a.result).expect("ours");
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&generic));
    }
}
