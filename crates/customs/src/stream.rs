//! The parallel pass: a reader thread parses rows and cuts them into chunks at entry
//! boundaries; each chunk's entries are checked in parallel (rayon) and handed to a sink in
//! input order, so memory stays bounded by the chunk size however large the input.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::sync::mpsc;

use hashward_model::{Finding, Severity};
use rayon::prelude::*;
use serde::Serialize;

use crate::check::{Checker, EntryOutcome, EntryResult, LineResult};
use crate::entry::{EntryLine, EntryReader, InputFormat, ReadError, RowError};
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
            *self.findings.entry(f.rule.as_str().to_owned()).or_default() += 1;
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
            let outcomes: Vec<EntryOutcome<'r>> = batch
                .entries
                .par_iter()
                .map(|lines| checker.check_entry(lines))
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
            totals.add(&chunk);
            if let Err(e) = sink(chunk) {
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

fn jsonl_items<T: Serialize + Sync>(
    key: &'static str,
    items: &[T],
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    // Serialised in parallel in slices, written in order.
    let parts: Vec<serde_json::Result<Vec<u8>>> = items
        .par_chunks(512)
        .map(|part| {
            let mut buf = Vec::with_capacity(part.len() * 700);
            for item in part {
                serde_json::to_writer(
                    &mut buf,
                    &ItemRef {
                        ty: "item",
                        key,
                        item,
                    },
                )?;
                buf.push(b'\n');
            }
            Ok(buf)
        })
        .collect();
    for p in parts {
        w.write_all(&p?)?;
    }
    Ok(())
}

const FINDING_TAG: &[u8] = b"{\"type\":\"finding\",";

/// Write the JSON-lines records of a chunk (the `Record` shapes of the output contract):
/// findings, then `lines`, `entries` and `errors` items.
pub fn write_chunk_jsonl(chunk: &Chunk<'_>, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let parts: Vec<serde_json::Result<Vec<u8>>> = chunk
        .findings
        .par_chunks(256)
        .map(|part| {
            let mut buf = Vec::with_capacity(part.len() * 1000);
            for f in part {
                // The `Record::Finding` shape without cloning the finding: the tag, then the
                // finding's own fields (a finding serialises as an object, so its text starts
                // with `{`).
                buf.extend_from_slice(FINDING_TAG);
                let start = buf.len();
                serde_json::to_writer(&mut buf, f)?;
                if buf.get(start) == Some(&b'{') {
                    buf.remove(start);
                }
                buf.push(b'\n');
            }
            Ok(buf)
        })
        .collect();
    for p in parts {
        w.write_all(&p?)?;
    }
    jsonl_items("lines", &chunk.lines, w)?;
    jsonl_items("entries", &chunk.entries, w)?;
    jsonl_items("errors", &chunk.errors, w)
}
