//! The parallel pass: a reader thread parses rows and cuts them into chunks at entry
//! boundaries; each chunk's entries are checked in parallel (rayon) and handed to a sink in
//! input order, so memory stays bounded by the chunk size however large the input.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::sync::{Mutex, mpsc};

use hashward_model::{Finding, RuleId, Severity};
use rayon::prelude::*;
use serde::Serialize;

use crate::check::{Cache, Checker, EntryOutcome, EntryResult, FindingOut, LineResult};
use crate::entry::{EntryLine, EntryReader, InputFormat, ReadError, RowError};
use crate::json;
use crate::money::Cents;

/// Lines per chunk (a chunk is cut only between entries).
pub const DEFAULT_CHUNK_LINES: usize = 8192;

/// What a chunk of the input produced, in input order.
#[derive(Debug, Default)]
pub struct Chunk<'r> {
    /// Lines checked.
    pub lines: Vec<LineResult<'r>>,
    /// Entry summaries.
    pub entries: Vec<EntryResult<'r>>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Rows refused.
    pub errors: Vec<RowError>,
}

/// Totals over the whole input (`result` without its lists).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Data rows read.
    pub rows: u64,
    /// Lines checked.
    pub lines: u64,
    /// Entries with at least one line checked.
    pub entries: u64,
    /// Rows refused.
    pub row_errors: u64,
    /// Expected duty.
    pub duty_total: Cents,
    /// Duty of the declarations.
    pub declared_duty_total: Cents,
    /// Expected − declared.
    pub duty_difference: Cents,
    /// Refundable IEEPA duties.
    pub refundable: Cents,
    /// MPF + HMF.
    pub fees_total: Cents,
    /// Findings per rule.
    pub findings: BTreeMap<String, u64>,
    /// The most severe finding.
    pub max_severity: Option<Severity>,
}

impl Totals {
    /// Add another part's totals. Exact in any order: the sums are of non-negative amounts, so
    /// their saturating additions commute.
    fn merge(&mut self, o: &Totals) {
        self.rows += o.rows;
        self.lines += o.lines;
        self.entries += o.entries;
        self.row_errors += o.row_errors;
        self.duty_total = self.duty_total + o.duty_total;
        self.declared_duty_total = self.declared_duty_total + o.declared_duty_total;
        self.refundable = self.refundable + o.refundable;
        self.fees_total = self.fees_total + o.fees_total;
        self.duty_difference = self.duty_total - self.declared_duty_total;
        for (rule, n) in &o.findings {
            self.count_rule(rule, *n);
        }
        self.max_severity = self.max_severity.max(o.max_severity);
    }

    /// Count one finding of `rule` at `severity`.
    pub(crate) fn count_finding(&mut self, rule: RuleId, severity: Severity) {
        self.count_rule(rule.as_str(), 1);
        self.max_severity = self.max_severity.max(Some(severity));
    }

    fn count_rule(&mut self, rule: &str, n: u64) {
        // Looked up first: a key is allocated once per rule, not once per finding.
        match self.findings.get_mut(rule) {
            Some(c) => *c += n,
            None => {
                self.findings.insert(rule.to_owned(), n);
            }
        }
    }

    /// Add one entry's outcome (its lines, summary, findings and refused rows).
    fn add_outcome(&mut self, o: &EntryOutcome<'_>) {
        self.lines += o.lines.len() as u64;
        self.row_errors += o.errors.len() as u64;
        if let Some(e) = &o.entry {
            self.entries += 1;
            self.duty_total = self.duty_total + e.duty_total;
            self.declared_duty_total = self.declared_duty_total + e.declared_duty_total;
            self.refundable = self.refundable + e.refundable;
            self.fees_total = self.fees_total + e.fees_total;
        }
        self.duty_difference = self.duty_total - self.declared_duty_total;
        for f in &o.findings {
            self.count_rule(f.rule.as_str(), 1);
            self.max_severity = self.max_severity.max(Some(f.severity));
        }
    }

    fn add(&mut self, c: &Chunk<'_>) {
        self.lines += c.lines.len() as u64;
        self.entries += c.entries.len() as u64;
        self.row_errors += c.errors.len() as u64;
        for e in &c.entries {
            self.duty_total = self.duty_total + e.duty_total;
            self.declared_duty_total = self.declared_duty_total + e.declared_duty_total;
            self.refundable = self.refundable + e.refundable;
            self.fees_total = self.fees_total + e.fees_total;
        }
        self.duty_difference = self.duty_total - self.declared_duty_total;
        for f in &c.findings {
            self.count_rule(f.rule.as_str(), 1);
            self.max_severity = self.max_severity.max(Some(f.severity));
        }
    }
}

/// Why the pass stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError<E: std::error::Error + 'static> {
    /// The input could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The sink failed (writing the output).
    #[error("writing the results: {0}")]
    Sink(#[source] E),
}

/// Rows of one chunk grouped by entry, with the rows refused while reading.
struct Batch {
    entries: Vec<Vec<EntryLine>>,
    errors: Vec<RowError>,
    rows: u64,
}

fn entry_hash(s: &str) -> u64 {
    // Fixed keys: the same input gives the same verdicts on every run.
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Check everything `input` holds; `sink` receives each chunk's results in input order.
/// Returns the totals and the reader (to finish a hash of the input, say).
///
/// Lines of one entry must be contiguous (a file sorted by entry); a line of an entry already
/// closed is refused with an error naming its row, because fees are computed per entry.
pub fn check_stream<'r, R, E>(
    checker: &'r Checker,
    input: R,
    format: InputFormat,
    chunk_lines: usize,
    sink: &mut dyn FnMut(Chunk<'r>) -> Result<(), E>,
) -> Result<(Totals, Option<R>), StreamError<E>>
where
    R: Read + Send,
    E: std::error::Error + 'static,
{
    let pool = CachePool::default();
    drive(
        input,
        format,
        chunk_lines,
        &mut |batch: Batch| {
            let outcomes: Vec<EntryOutcome<'r>> = batch
                .entries
                .par_chunks(PIECE_ENTRIES)
                .flat_map_iter(|entries| {
                    let mut cache = pool.take();
                    let v: Vec<EntryOutcome<'r>> = entries
                        .iter()
                        .map(|lines| checker.check_entry_cached(lines, &mut cache))
                        .collect();
                    pool.give(cache);
                    v
                })
                .collect();
            let mut chunk = Chunk {
                errors: batch.errors,
                ..Chunk::default()
            };
            for o in outcomes {
                chunk.lines.extend(o.lines);
                chunk.entries.extend(o.entry);
                chunk.findings.extend(o.findings);
                chunk.errors.extend(o.errors);
            }
            chunk.errors.sort_by_key(|e| e.row);
            let mut totals = Totals::default();
            totals.add(&chunk);
            (chunk, totals)
        },
        sink,
    )
}

/// A chunk already written as JSON lines (see [`check_stream_jsonl`]).
#[derive(Debug, Default)]
pub struct JsonChunk {
    /// The records, in output order: write them one after the other.
    pub parts: Vec<Vec<u8>>,
    /// The chunk's findings, when asked for (to record the run); empty otherwise.
    pub findings: Vec<Finding>,
}

/// Entries per parallel piece of a chunk: enough work per task to amortise the scheduling,
/// small enough that both cores stay busy on a chunk.
const PIECE_ENTRIES: usize = 128;

/// Bytes reserved per line, per line for findings and per entry in a piece's buffers.
const LINE_BYTES: usize = 1152;
const FINDING_BYTES: usize = 512;
const ENTRY_BYTES: usize = 448;

/// The workers' caches, kept from piece to piece and chunk to chunk (a piece takes one, and
/// gives it back when done), so that the goods of a whole run are looked up once per worker.
#[derive(Default)]
struct CachePool<'r>(Mutex<Vec<Cache<'r>>>);

impl<'r> CachePool<'r> {
    fn take(&self) -> Cache<'r> {
        // A poisoned lock only means a worker panicked; the caches are still sound.
        let mut v = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        v.pop().unwrap_or_default()
    }

    fn give(&self, c: Cache<'r>) {
        let mut v = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        v.push(c);
    }
}

/// What one piece of a chunk produced: its records as JSON lines, in the three groups of the
/// chunk's output order.
#[derive(Default)]
struct Piece {
    findings: Vec<u8>,
    lines: Vec<u8>,
    entries: Vec<u8>,
    errors: Vec<RowError>,
    kept: Vec<Finding>,
    totals: Totals,
    /// A record that could not be serialised (stops the run).
    error: Option<serde_json::Error>,
}

/// [`check_stream`] for the JSON-lines output: each chunk's records are written by the worker
/// threads that checked them (in the order [`write_chunk_jsonl`] gives), so results are
/// allocated and freed on one thread and only bytes reach the sink. The findings are returned
/// too when `keep_findings`.
pub fn check_stream_jsonl<'r, R, E>(
    checker: &'r Checker,
    input: R,
    format: InputFormat,
    chunk_lines: usize,
    keep_findings: bool,
    sink: &mut dyn FnMut(JsonChunk) -> Result<(), E>,
) -> Result<(Totals, Option<R>), StreamError<E>>
where
    R: Read + Send,
    E: std::error::Error + From<std::io::Error> + 'static,
{
    let pool: CachePool<'r> = CachePool::default();
    drive(
        input,
        format,
        chunk_lines,
        &mut |batch: Batch| {
            let pieces: Vec<Piece> = batch
                .entries
                .par_chunks(PIECE_ENTRIES)
                .map(|entries| {
                    let mut p = Piece::default();
                    // Room for the usual record sizes (a line ~1 KiB, its findings ~0.4 KiB,
                    // an entry ~0.4 KiB), so the buffers are not regrown and copied as they fill.
                    let n: usize = entries.iter().map(Vec::len).sum();
                    p.lines.reserve(n * LINE_BYTES);
                    p.findings.reserve(n * FINDING_BYTES);
                    p.entries.reserve(entries.len() * ENTRY_BYTES);
                    let mut cache = pool.take();
                    for lines in entries {
                        let o = if keep_findings {
                            checker.check_entry_cached(lines, &mut cache)
                        } else {
                            // Nothing else needs the findings: written as they are found.
                            let mut sink = FindingOut::Write {
                                buf: &mut p.findings,
                                totals: &mut p.totals,
                                error: &mut p.error,
                            };
                            checker.check_entry_into(lines, &mut sink, &mut cache)
                        };
                        if p.error.is_some() {
                            break;
                        }
                        p.totals.add_outcome(&o);
                        let written = o
                            .findings
                            .iter()
                            .try_for_each(|f| json::finding(&mut p.findings, f))
                            .and_then(|()| o.lines.iter().try_for_each(|l| json::line_item(&mut p.lines, l)))
                            .and_then(|()| {
                                o.entry
                                    .iter()
                                    .try_for_each(|e| json::entry_item(&mut p.entries, e))
                            });
                        if let Err(e) = written {
                            p.error = Some(e);
                            break;
                        }
                        p.errors.extend(o.errors);
                        if keep_findings {
                            p.kept.extend(o.findings);
                        }
                    }
                    pool.give(cache);
                    p
                })
                .collect();
            let mut totals = Totals::default();
            totals.row_errors += batch.errors.len() as u64;
            let mut errors = batch.errors;
            let mut out = JsonChunk::default();
            let (mut lines, mut entries) = (Vec::new(), Vec::new());
            for p in pieces {
                if let Some(e) = p.error {
                    return (Err(e.into()), totals);
                }
                totals.merge(&p.totals);
                out.parts.push(p.findings);
                lines.push(p.lines);
                entries.push(p.entries);
                errors.extend(p.errors);
                out.findings.extend(p.kept);
            }
            out.parts.extend(lines);
            out.parts.extend(entries);
            errors.sort_by_key(|e| e.row);
            let mut buf = Vec::new();
            if let Err(e) = write_items("errors", &errors, &mut buf) {
                return (Err(e.into()), totals);
            }
            out.parts.push(buf);
            (Ok(out), totals)
        },
        &mut |out: std::io::Result<JsonChunk>| sink(out?),
    )
}

/// The reader thread and the chunk loop shared by both outputs: `process` turns a batch of
/// rows into what `sink` takes, with the totals of that batch (rows aside).
fn drive<R, E, T>(
    input: R,
    format: InputFormat,
    chunk_lines: usize,
    process: &mut dyn FnMut(Batch) -> (T, Totals),
    sink: &mut dyn FnMut(T) -> Result<(), E>,
) -> Result<(Totals, Option<R>), StreamError<E>>
where
    R: Read + Send,
    E: std::error::Error + 'static,
{
    let chunk_lines = chunk_lines.max(1);
    let mut reader = EntryReader::new(input, format)?;
    let (tx, rx) = mpsc::sync_channel::<Batch>(2);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> Result<Option<R>, ReadError> {
            let mut closed: HashSet<u64> = HashSet::new();
            let mut batch = Batch {
                entries: Vec::new(),
                errors: Vec::new(),
                rows: 0,
            };
            let mut current: Vec<EntryLine> = Vec::new();
            let mut in_batch = 0usize;
            while let Some(row) = reader.next_row()? {
                batch.rows += 1;
                let line = match row {
                    Ok(l) => l,
                    Err(e) => {
                        batch.errors.push(e);
                        continue;
                    }
                };
                if current.first().is_some_and(|c| c.entry_number != line.entry_number) {
                    let done = std::mem::take(&mut current);
                    if let Some(f) = done.first() {
                        closed.insert(entry_hash(&f.entry_number));
                    }
                    in_batch += done.len();
                    batch.entries.push(done);
                    if in_batch >= chunk_lines {
                        let full = std::mem::replace(
                            &mut batch,
                            Batch {
                                entries: Vec::new(),
                                errors: Vec::new(),
                                rows: 0,
                            },
                        );
                        in_batch = 0;
                        if tx.send(full).is_err() {
                            return Ok(None); // the consumer stopped (its sink failed)
                        }
                    }
                }
                if current.is_empty() && closed.contains(&entry_hash(&line.entry_number)) {
                    batch.errors.push(RowError::at(
                        &line,
                        "entry_number",
                        "this entry's lines are not contiguous: an earlier run of its lines was already checked (sort the input by entry)",
                    ));
                    continue;
                }
                current.push(line);
            }
            if !current.is_empty() {
                batch.entries.push(current);
            }
            let _ = tx.send(batch);
            Ok(reader.into_inner())
        });
        let mut totals = Totals::default();
        let mut sink_err = None;
        for batch in rx.iter() {
            totals.rows += batch.rows;
            let (out, t) = process(batch);
            totals.merge(&t);
            if let Err(e) = sink(out) {
                sink_err = Some(e);
                break;
            }
        }
        drop(rx);
        let reader = match producer.join() {
            Ok(r) => r?,
            Err(_) => {
                return Err(StreamError::Read(ReadError::Io(std::io::Error::other(
                    "the reader thread failed",
                ))));
            }
        };
        match sink_err {
            Some(e) => Err(StreamError::Sink(e)),
            None => Ok((totals, reader)),
        }
    })
}

#[derive(Serialize)]
struct ItemRef<'a, T: Serialize> {
    #[serde(rename = "type")]
    ty: &'static str,
    key: &'static str,
    item: &'a T,
}

/// Append `items` as `item` records of `key`, one per line.
fn write_items<T: Serialize>(key: &'static str, items: &[T], buf: &mut Vec<u8>) -> serde_json::Result<()> {
    for item in items {
        serde_json::to_writer(
            &mut *buf,
            &ItemRef {
                ty: "item",
                key,
                item,
            },
        )?;
        buf.push(b'\n');
    }
    Ok(())
}

const FINDING_TAG: &[u8] = b"{\"type\":\"finding\",";

/// Append `findings` as `finding` records, one per line.
fn write_findings(findings: &[Finding], buf: &mut Vec<u8>) -> serde_json::Result<()> {
    for f in findings {
        // The `Record::Finding` shape without cloning the finding: the tag, then the finding's
        // own fields (a finding serialises as an object, so its text starts with `{`).
        buf.extend_from_slice(FINDING_TAG);
        let start = buf.len();
        serde_json::to_writer(&mut *buf, f)?;
        if buf.get(start) == Some(&b'{') {
            buf.remove(start);
        }
        buf.push(b'\n');
    }
    Ok(())
}

/// Write the JSON-lines records of a chunk (the `Record` shapes of the output contract):
/// findings, then `lines`, `entries` and `errors` items.
pub fn write_chunk_jsonl(chunk: &Chunk<'_>, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut buf = Vec::new();
    write_findings(&chunk.findings, &mut buf)?;
    write_items("lines", &chunk.lines, &mut buf)?;
    write_items("entries", &chunk.entries, &mut buf)?;
    write_items("errors", &chunk.errors, &mut buf)?;
    w.write_all(&buf)
}
