//! `hashward customs check`: entry lines → expected heading, duty stacks, fees and CUS findings,
//! recorded and printed (JSON lines streamed chunk by chunk); `customs import-hts`: a USITC
//! export → the compact schedule; `customs generate`: a benchmark file.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use hashward_customs::{
    Checker, Chunk, EntryResult, HtsTable, InputFormat, JsonChunk, LineResult, RowError, Rules, Totals,
};
use hashward_model::{EnvelopeRef, Finding, InputRecord, Record, ResultParts};
use hashward_store::RunRecord;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::args::{
    CustomsCheckArgs, CustomsCmd, CustomsGenerateArgs, EntriesFormat, Format, Global, ImportHtsArgs,
};
use crate::case;
use crate::output::Output;

/// Run a `customs` subcommand; the exit status follows `--fail-on` for `check`.
pub fn run(cmd: &CustomsCmd, g: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        CustomsCmd::Check(a) => check(a, g, out),
        CustomsCmd::ImportHts(a) => import_hts(a, out).map(|()| ExitCode::SUCCESS),
        CustomsCmd::Generate(a) => generate(a, out).map(|()| ExitCode::SUCCESS),
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        self.sha.update(got);
        self.size += n as u64;
        Ok(n)
    }
}

/// `result` of `customs check` (lists borrowed from the collected chunks).
#[derive(Serialize)]
struct CheckResult<'a, 'r> {
    lines: &'a [LineResult<'r>],
    entries: &'a [EntryResult<'r>],
    errors: &'a [RowError],
    totals: &'a Totals,
    rules: &'a str,
    hts: Option<&'a str>,
}

impl ResultParts for CheckResult<'_, '_> {
    fn each_item(&self, f: &mut dyn FnMut(&str, serde_json::Value)) {
        for l in self.lines {
            f("lines", serde_json::to_value(l).unwrap_or_default());
        }
        for e in self.entries {
            f("entries", serde_json::to_value(e).unwrap_or_default());
        }
        for e in self.errors {
            f("errors", serde_json::to_value(e).unwrap_or_default());
        }
    }

    fn rest(&self) -> serde_json::Value {
        serde_json::json!({ "totals": self.totals, "rules": self.rules, "hts": self.hts })
    }
}

fn load_checker(a: &CustomsCheckArgs) -> anyhow::Result<(Checker, Option<InputRecord>)> {
    let rules = match &a.rules {
        Some(dir) => Rules::load_dir(dir)?,
        None => Rules::embedded()?,
    };
    let (hts, record) = match &a.hts {
        Some(p) => {
            // The compact table is smaller than the export it was made from.
            let (bytes, record) = super::read_input(p, "HTS table", hashward_customs::hts::MAX_EXPORT_BYTES)?;
            let text =
                String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8", p.display()))?;
            (
                Some(HtsTable::from_compact(&p.display().to_string(), &text)?),
                Some(record),
            )
        }
        None => (None, None),
    };
    Ok((Checker::new(rules, hts), record))
}

fn entries_format(a: &CustomsCheckArgs) -> InputFormat {
    match a.input_format {
        Some(EntriesFormat::Csv) => InputFormat::Csv,
        Some(EntriesFormat::Json) => InputFormat::Json,
        None => match a.input.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("jsonl") => InputFormat::Json,
            _ => InputFormat::Csv,
        },
    }
}

/// Parts of the JSON-lines output at least this large are written past the output buffer.
const DIRECT_WRITE: usize = 64 << 10;

fn check(a: &CustomsCheckArgs, g: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let started = chrono::Utc::now();
    let (checker, hts_record) = load_checker(a)?;
    let file = std::fs::File::open(&a.input).with_context(|| format!("reading {}", a.input.display()))?;
    let reader = Hashing {
        inner: io::BufReader::with_capacity(1 << 20, file),
        sha: Sha256::new(),
        size: 0,
    };
    let format = entries_format(a);
    let chunk_lines = usize::try_from(a.chunk_lines).unwrap_or(usize::MAX);
    let keep_findings = !g.no_store || out.format != Format::Jsonl;
    let mut findings: Vec<Finding> = Vec::new();
    let mut lines: Vec<LineResult<'_>> = Vec::new();
    let mut entries: Vec<EntryResult<'_>> = Vec::new();
    let mut errors: Vec<RowError> = Vec::new();
    let stdout = io::stdout();
    let mut w = io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let streaming = out.format == Format::Jsonl;
    if streaming {
        serde_json::to_writer(
            &mut w,
            &Record::Run {
                hashward: hashward_model::VERSION.to_owned(),
                command: "customs check".to_owned(),
            },
        )?;
        w.write_all(b"\n")?;
    }
    let (totals, reader) = if streaming {
        hashward_customs::check_stream_jsonl(
            &checker,
            reader,
            format,
            chunk_lines,
            keep_findings,
            &mut |chunk: JsonChunk| {
                for part in &chunk.parts {
                    if part.len() >= DIRECT_WRITE {
                        // A large part goes out as it is rather than copied through the buffer.
                        w.flush()?;
                        w.get_mut().write_all(part)?;
                    } else {
                        w.write_all(part)?;
                    }
                }
                findings.extend(chunk.findings);
                Ok::<(), io::Error>(())
            },
        )
    } else {
        hashward_customs::check_stream(&checker, reader, format, chunk_lines, &mut |chunk: Chunk<'_>| {
            lines.extend(chunk.lines);
            entries.extend(chunk.entries);
            errors.extend(chunk.errors);
            findings.extend(chunk.findings);
            Ok::<(), io::Error>(())
        })
    }
    .with_context(|| format!("checking {}", a.input.display()))?;
    let mut inputs = Vec::new();
    if let Some(r) = reader {
        inputs.push(InputRecord {
            path: a.input.display().to_string(),
            sha256: hex::encode(r.sha.finalize()),
            size: r.size,
        });
    }
    inputs.extend(hts_record);
    if streaming {
        // The input's sha256 is known only once it is read: its record closes the stream.
        for i in &inputs {
            serde_json::to_writer(&mut w, &Record::Input(i.clone()))?;
            w.write_all(b"\n")?;
        }
        let result = serde_json::json!({ "totals": totals, "rules": checker.rules.origin, "hts": a.hts });
        serde_json::to_writer(&mut w, &Record::Result { result })?;
        w.write_all(b"\n")?;
        w.flush()?;
    } else {
        drop(w);
    }
    let mut record = RunRecord::new("customs check", started);
    record.options = serde_json::json!({
        "input": a.input,
        "rules": a.rules,
        "hts": a.hts,
        "chunk_lines": a.chunk_lines,
    });
    record.inputs = inputs.clone();
    record.findings = findings;
    if !streaming {
        let hts_path = a.hts.as_ref().map(|p| p.display().to_string());
        let result = CheckResult {
            lines: &lines,
            entries: &entries,
            errors: &errors,
            totals: &totals,
            rules: &checker.rules.origin,
            hts: hts_path.as_deref(),
        };
        let env = EnvelopeRef {
            hashward: hashward_model::VERSION,
            command: "customs check",
            inputs: &inputs,
            findings: &record.findings,
            result: &result,
        };
        out.emit_ref(&env, &|w| write_summary(w, &totals, &lines, &errors))?;
    }
    if !out.quiet && !streaming && totals.row_errors > 0 && out.format != Format::Text {
        eprintln!(
            "hashward: {} row(s) refused (see result.errors)",
            totals.row_errors
        );
    }
    case::record_run(g, record)?;
    Ok(match crate::fail_threshold(g.fail_on) {
        Some(t) if totals.max_severity.is_some_and(|s| s >= t) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// The text form: totals, the lines with a difference or a finding, row errors.
fn write_summary(
    w: &mut dyn Write,
    t: &Totals,
    lines: &[LineResult<'_>],
    errors: &[RowError],
) -> io::Result<()> {
    writeln!(
        w,
        "{} rows: {} lines in {} entries checked, {} refused",
        t.rows, t.lines, t.entries, t.row_errors
    )?;
    writeln!(
        w,
        "duty expected {}, declared {}, difference {}; fees {}; IEEPA refundable {}",
        t.duty_total, t.declared_duty_total, t.duty_difference, t.fees_total, t.refundable
    )?;
    for l in lines.iter().filter(|l| !l.findings.is_empty()).take(50) {
        writeln!(
            w,
            "  {} line {}  {} → {}  {} ({})  diff {}  [{}]",
            l.entry_number,
            l.line,
            l.declared_hts,
            l.expected_hts,
            l.duty_total,
            l.duty_rate,
            l.duty_difference,
            l.findings.join(" ")
        )?;
    }
    for e in errors.iter().take(50) {
        writeln!(w, "  error: {e}")?;
    }
    if errors.len() > 50 {
        writeln!(w, "  … {} more row errors", errors.len() - 50)?;
    }
    Ok(())
}

fn import_hts(a: &ImportHtsArgs, out: &Output) -> anyhow::Result<()> {
    let name = a.input.display().to_string();
    let file = std::fs::File::open(&a.input).with_context(|| format!("reading {name}"))?;
    let table = HtsTable::read_usitc(&name, file, hashward_customs::hts::MIN_ROWS)?;
    let dest = a.out.clone().unwrap_or_else(|| a.input.with_extension("hts.tsv"));
    write_file(&dest, table.to_compact().as_bytes())?;
    if !out.quiet {
        eprintln!(
            "hashward: {name}: {} rows, {} numbered lines → {}",
            table.rows,
            table.len(),
            dest.display()
        );
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn generate(a: &CustomsGenerateArgs, out: &Output) -> anyhow::Result<()> {
    let file = std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut w = io::BufWriter::with_capacity(1 << 20, file);
    let n = hashward_customs::generate(a.lines, a.seed, &mut w)
        .with_context(|| format!("writing {}", a.out.display()))?;
    w.flush()?;
    if !out.quiet {
        eprintln!("hashward: wrote {} ({n} entry lines)", a.out.display());
    }
    Ok(())
}
