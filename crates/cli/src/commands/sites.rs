//! `hashward sites assess`: facilities (GeoJSON or CSV) against reference layers and the siting
//! rules → SITE findings, the per-facility result, recorded in the case, printed as text, JSON,
//! JSON lines or a GeoJSON map.

use std::io::{self, Write};

use anyhow::Context as _;
use hashward_model::{EnvelopeRef, Finding, InputRecord, Record, ResultParts as _, Severity};
use hashward_sites::facility::Facilities;
use hashward_sites::report::SitesResult;
use hashward_sites::{Assessor, Options, Rules};
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
    if out.format == Format::Jsonl {
        // Streamed: each batch of facilities is assessed, written and dropped, so memory holds
        // the facilities and the written facility lines, not every result and finding.
        let assessor = Assessor::new(&layers, &rules, &opts);
        let stdout = io::stdout();
        let mut w = io::BufWriter::with_capacity(1 << 20, stdout.lock());
        let streamed = stream_jsonl(&mut w, &inputs, &facilities, &assessor, !g.no_store)?;
        w.flush()?;
        if !g.no_store {
            record_run(g, started, a, &opts, &inputs, streamed.kept)?;
        }
        tracing::info!(
            "sites assess: {} facilities; read {read_s:.3} s, assess and output {:.3} s",
            facilities.facilities.len(),
            clock.elapsed().as_secs_f64() - read_s
        );
        drop(assessor);
        std::thread::spawn(move || drop((facilities, layers)));
        return Ok(Outcome {
            worst: streamed.worst,
        });
    }
    let assessment = hashward_sites::assess(&facilities, &layers, &rules, &opts);
    let assess_s = clock.elapsed().as_secs_f64() - read_s;
    let findings = assessment.findings;
    // Without a case the run record would be built only to be dropped: it copied every
    // finding (a tenth of the run for 100,000 facilities).
    if !g.no_store {
        record_run(g, started, a, &opts, &inputs, findings.clone())?;
    }
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
    // Phase times (`-v`), for the siting benchmark's per-phase figures.
    tracing::info!(
        "sites assess: {} facilities; read {read_s:.3} s, assess {assess_s:.3} s, output {:.3} s",
        assessment.result.facilities.len(),
        clock.elapsed().as_secs_f64() - read_s - assess_s
    );
    let outcome = Outcome::of(&findings);
    // Freeing the result, the findings, the facilities and the layers (millions of small
    // allocations for 100,000 facilities) took a tenth of the run: it is left to a thread the
    // process does not wait for, since the process ends once the exit status is known.
    std::thread::spawn(move || drop((assessment.result, findings, facilities, layers)));
    Ok(outcome)
}

/// Records the run in the case.
fn record_run(
    g: &Global,
    started: chrono::DateTime<chrono::Utc>,
    a: &SitesAssessArgs,
    opts: &Options,
    inputs: &[InputRecord],
    findings: Vec<Finding>,
) -> anyhow::Result<()> {
    let mut run = RunRecord::new("sites assess", started);
    run.options = serde_json::json!({
        "facilities": a.facilities,
        "layers": a.layers,
        "rules": a.rules,
        "date": opts.date.format("%Y-%m-%d").to_string(),
    });
    run.inputs = inputs.to_vec();
    run.findings = findings;
    case::record_run(g, run)?;
    Ok(())
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

/// What streaming kept: the most severe finding, and the findings themselves when the run is
/// recorded in the case.
struct Streamed {
    worst: Option<Severity>,
    kept: Vec<Finding>,
}

/// One task's share of a batch: its facilities' finding lines and facility lines.
struct Piece {
    findings: Vec<u8>,
    items: Vec<u8>,
    errors: Vec<String>,
    worst: Option<Severity>,
    kept: Vec<Finding>,
}

/// `--format jsonl`: the same lines as `EnvelopeRef::write_jsonl` of the whole assessment (run,
/// inputs, findings, the result's list items, the rest), byte for byte, produced while
/// assessing. Facilities are assessed and serialized in parallel batches; each batch's finding
/// lines are written at once and its facility lines kept as bytes until every finding is out
/// (the contract puts findings first). Results and findings are dropped batch by batch: holding
/// them for 100,000 facilities took 800 MB, and faulting that memory in was a third of the run.
fn stream_jsonl(
    w: &mut dyn Write,
    inputs: &[InputRecord],
    facilities: &Facilities,
    assessor: &Assessor<'_>,
    keep: bool,
) -> anyhow::Result<Streamed> {
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
    let mut spool: Vec<Vec<u8>> = Vec::new();
    let mut errors = Vec::new();
    let mut streamed = Streamed {
        worst: None,
        kept: Vec::new(),
    };
    for batch in facilities.facilities.chunks(LINES_PER_TASK * TASKS_PER_BATCH) {
        let pieces = batch
            .par_chunks(LINES_PER_TASK)
            .map(|chunk| -> serde_json::Result<Piece> {
                let mut p = Piece {
                    findings: Vec::with_capacity(chunk.len() * 1024),
                    items: Vec::with_capacity(chunk.len() * 1280),
                    errors: Vec::new(),
                    worst: None,
                    kept: Vec::new(),
                };
                for f in chunk {
                    let o = assessor.facility(f);
                    for finding in &o.findings {
                        hashward_model::jsonl::push_finding_record(&mut p.findings, finding)?;
                        p.findings.push(b'\n');
                        p.worst = p.worst.max(Some(finding.severity));
                    }
                    hashward_sites::report::push_facility_record(&mut p.items, &o.result)?;
                    p.items.push(b'\n');
                    p.errors.extend(o.errors);
                    if keep {
                        p.kept.extend(o.findings);
                    }
                }
                Ok(p)
            })
            .collect::<serde_json::Result<Vec<Piece>>>()?;
        for p in pieces {
            w.write_all(&p.findings)?;
            spool.push(p.items);
            errors.extend(p.errors);
            streamed.worst = streamed.worst.max(p.worst);
            streamed.kept.extend(p.kept);
        }
    }
    let mut r = assessor.result_without_facilities(facilities);
    r.row_errors.extend(errors);
    fn items<T: Serialize + Sync>(w: &mut dyn Write, key: &str, list: &[T]) -> io::Result<()> {
        write_lines(w, list, |buf, item| {
            serde_json::to_writer(buf, &ItemLine::Item { key, item })
        })
    }
    // The order of `ResultParts::each_item` for `SitesResult`.
    items(w, "rule_files", &r.rule_files)?;
    items(w, "layers", &r.layers)?;
    for s in &spool {
        w.write_all(s)?;
    }
    items(w, "row_errors", &r.row_errors)?;
    serde_json::to_writer(&mut *w, &Record::Result { result: r.rest() })?;
    w.write_all(b"\n")?;
    Ok(streamed)
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
                n.measured_from.as_str()
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

    /// The streaming JSON-lines writer must print exactly what the generic envelope writer prints
    /// for the whole assessment.
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
        let assessor = Assessor::new(&layers, &rules, &opts);
        let streamed = stream_jsonl(&mut ours, &inputs, &facilities, &assessor, true).expect("ours");
        assert_eq!(streamed.kept, a.findings);
        assert_eq!(streamed.worst, a.findings.iter().map(|f| f.severity).max());
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&generic));
    }
}
