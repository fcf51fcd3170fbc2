//! The engine: drives formats recursively, owns every write, enforces every limit.
//!
//! Flow: the image is probed at offset 0; a codec's output is peeked and, when it starts a
//! stream archive, unpacked straight from the decoder without an intermediate file; anything
//! else is written under `--out`, hashed, and queued to be probed in turn. Files no format
//! claims are searched for embedded signatures (carving). Symlinks are created only after
//! their container is complete, and only when they resolve inside it, following the links
//! already extracted, so that no chain of links can lead out.

use std::cell::Cell;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use aho_corasick::AhoCorasick;
use hashward_model::{Evidence, Finding, RuleId, Severity, Subject, bytes_excerpt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::limits::{CountingReader, RatioReader};
use super::record::{EntryType, Sha256Hex};
use super::safepath::{self, Refusal};
use super::writer::{self, DirCache, Done, Msg, WriteError};
use super::{
    Access, Blob, Ctx, Entry, EntryKind, Format, FormatError, HEAD_LEN, Input, LimitHit, LimitKind, Sink,
    UnpackOptions, identify,
};

/// One extracted entry, as listed in `result.entries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EntryRecord {
    /// Path relative to the output root, `/`-separated.
    pub path: String,
    /// `file`, `dir`, `symlink`, `hardlink` or `device`.
    pub kind: EntryType,
    /// Bytes written (files and hard links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// sha256 of the content (files and hard links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Hex>,
    /// Link target as stored, or device description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Box<str>>,
    /// Formats from the image down to the container holding this entry (shared by every entry
    /// of the container: one allocation per container, not per entry).
    pub layers: Arc<Vec<String>>,
    /// The file that held the container (`""` for the image itself).
    pub parent: Arc<str>,
    /// Offset of the entry's header inside its container, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Permission bits as stored (files are written 0644 whatever they say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// The content stopped early (limit or damage).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Recorded but not created on disk (a device, or a link leading out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_created: bool,
}

/// One container that was opened.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NodeRecord {
    /// The file that holds it (`""` for the image).
    pub path: String,
    /// Where in that file it starts (non-zero when carved).
    pub offset: u64,
    /// Format id.
    pub format: String,
    /// Formats from the image down to and including this one.
    pub layers: Vec<String>,
    /// Bytes of the file that belong to it, when the format knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Entries it produced directly.
    pub entries: u64,
    /// `ok`, `partial` (stopped by damage or a limit) or `failed` (nothing recovered).
    pub status: String,
    /// What stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Format-specific facts (headers, signatures).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// Totals for a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct UnpackStats {
    /// Regular files written.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks and hard links.
    pub links: u64,
    /// Device nodes, FIFOs, sockets (recorded only).
    pub specials: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Containers opened.
    pub containers: u64,
    /// Chunks found by carving.
    pub carved: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Peak resident memory of the process so far (Linux `VmHWM`), when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
}

/// The process's peak resident set size, from `/proc/self/status` (Linux only).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct UnpackReport {
    /// sha256 of the image.
    pub image_sha256: String,
    /// Size of the image.
    pub image_size: u64,
    /// Every entry, sorted by path.
    pub entries: Vec<EntryRecord>,
    /// Every container opened.
    pub nodes: Vec<NodeRecord>,
    /// FW-100 / FW-101 / FW-102 findings.
    pub findings: Vec<Finding>,
    /// Totals.
    pub stats: UnpackStats,
}

/// Errors that stop a run before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// The image could not be read.
    #[error("cannot read image {path}: {source}")]
    Image {
        /// Image path.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The output directory is unusable.
    #[error("output directory {path}: {reason}")]
    Output {
        /// Output path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Progress callback: (entries so far, bytes written so far).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Findings of one rule beyond this many are counted, not listed.
const MAX_FINDINGS_PER_RULE: usize = 200;
/// Carving: candidate offsets probed per file, and chunks unpacked per file.
const MAX_CARVE_PROBES: u64 = 100_000;
const MAX_CARVE_CHUNKS: u64 = 1_000;
/// Symlink hops followed when checking where a link leads.
const MAX_LINK_HOPS: usize = 40;

/// Unpack `image` into `opts.out`, recursively.
pub fn unpack_image(
    image: &Path,
    opts: &UnpackOptions,
    progress: Option<Progress<'_>>,
) -> Result<UnpackReport, UnpackError> {
    let err = |source| UnpackError::Image {
        path: image.to_owned(),
        source,
    };
    let file = File::open(image).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    if !meta.is_file() {
        return Err(err(io::Error::other("not a regular file")));
    }
    let root = prepare_out(&opts.out)?;
    let blob = Blob::from_file(file.try_clone().map_err(err)?).map_err(err)?;
    let name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());

    let ctx = RunCtx {
        opts,
        root,
        started: Instant::now(),
        image_sha: ImageHash::default(),
        progress,
        shared: Shared::default(),
        cache: DirCache::default(),
        pool: Pool::new(),
    };
    let jobs = match opts.jobs {
        0 => std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, MAX_JOBS),
        n => n.min(MAX_JOBS),
    };
    let report = std::thread::scope(|scope| {
        let ctx = &ctx;
        // The image's hash is needed only for findings and loop checks: compute it beside the
        // first layer instead of before it.
        scope.spawn(|| ctx.image_sha.compute(&file));
        // Helper engines wait on the pool from the start, so that each container is taken up
        // as soon as it lands, while the layer holding it is still being unpacked.
        let helpers: Vec<_> = (1..jobs)
            .map(|_| {
                scope.spawn(move || -> Result<Part, UnpackError> {
                    let mut other = Engine::start(scope, ctx)?;
                    other.drain(false);
                    Ok(other.into_part())
                })
            })
            .collect();
        let mut eng = match Engine::start(scope, ctx) {
            Ok(e) => e,
            Err(e) => {
                ctx.pool.close();
                return Err(e);
            }
        };
        let top = Place {
            root: Vec::new(),
            layers: Arc::new(Vec::new()),
            carrier: String::new(),
            parent: Arc::from(""),
            depth: 0,
            ancestors: Arc::new(Vec::new()),
        };
        eng.examine(&blob, &top, Vec::new(), &name, "");
        eng.drain(true);
        let mut failed = None;
        for h in helpers {
            match h.join() {
                Ok(Ok(part)) => eng.absorb(part),
                Ok(Err(e)) => failed = Some(e),
                Err(_) => {
                    failed = Some(UnpackError::Output {
                        path: opts.out.clone(),
                        reason: "an unpacking thread failed".into(),
                    })
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(eng.finish(meta.len()))
        // Dropping an engine closes its channel; its writer thread ends and is joined here.
    })?;
    match ctx
        .image_sha
        .failed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        Some(e) => Err(err(e)),
        None => Ok(report),
    }
}

/// The image's sha256, computed on its own thread while the engines start.
#[derive(Default)]
struct ImageHash {
    done: OnceLock<([u8; 32], String)>,
    failed: Mutex<Option<io::Error>>,
}

impl ImageHash {
    fn compute(&self, file: &File) {
        use std::os::unix::fs::FileExt;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        loop {
            match file.read_at(&mut buf, at) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    at += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                    break;
                }
            }
        }
        let sha: [u8; 32] = hasher.finalize().into();
        let _ = self.done.set((sha, hex::encode(sha)));
    }

    /// The hash, waiting for it if need be.
    fn bytes(&self) -> [u8; 32] {
        self.done.wait().0
    }

    fn hex(&self) -> String {
        self.done.wait().1.clone()
    }
}

/// Engines at most, whatever the machine: each holds its buffers and its formats' state.
const MAX_JOBS: usize = 4;

/// The file a finding is about, for ordering.
fn finding_path(f: &Finding) -> &str {
    match &f.subject {
        Subject::FirmwareFile { path, .. } => path,
        _ => "",
    }
}

fn prepare_out(out: &Path) -> Result<PathBuf, UnpackError> {
    let bad = |reason: String| UnpackError::Output {
        path: out.to_owned(),
        reason,
    };
    match fs::symlink_metadata(out) {
        Ok(m) if m.is_dir() => {
            let mut it = fs::read_dir(out).map_err(|e| bad(e.to_string()))?;
            if it.next().is_some() {
                return Err(bad("exists and is not empty".into()));
            }
        }
        Ok(_) => return Err(bad("exists and is not a directory".into())),
        Err(_) => fs::create_dir_all(out).map_err(|e| bad(e.to_string()))?,
    }
    out.canonicalize().map_err(|e| bad(e.to_string()))
}

/// Where in the image a finding points.
struct Loc<'a> {
    path: &'a str,
    offset: Option<u64>,
    excerpt: Option<&'a [u8]>,
}

/// Where a container's children go, and how we got there.
#[derive(Clone)]
struct Place {
    /// Directory (relative to the output root) that is this container's root.
    root: Vec<String>,
    /// Formats down to and including this container.
    layers: Arc<Vec<String>>,
    /// `carrier`, shared by the records of this container's entries.
    parent: Arc<str>,
    /// The file holding the container (relative path, `""` for the image).
    carrier: String,
    /// Nesting depth (number of formats in `layers`).
    depth: u32,
    /// sha256 of every file from the image down to the carrier, to stop extraction loops.
    ancestors: Arc<Vec<[u8; 32]>>,
}

/// A written file waiting to be probed.
struct Pending {
    parts: Vec<String>,
    place: Place,
    sha: [u8; 32],
    /// `None`: a format matched at offset 0, examine from scratch. `Some`: nothing matched at
    /// 0, and these are the signature candidates found while the file was written.
    carve: Option<Vec<Candidate>>,
}

/// A carving candidate: where a format's magic suggests it starts.
pub(crate) type Candidate = (u64, &'static dyn Format);

/// Finds carving candidates in a stream, chunk by chunk, as a file is written, so that a file
/// needs no second read unless something in it is worth a look.
pub(crate) struct CarveScan {
    tail: Vec<u8>,
    pos: u64,
    pub(crate) found: Vec<Candidate>,
    pub(crate) overflow: bool,
}

impl CarveScan {
    pub(crate) fn new() -> CarveScan {
        CarveScan {
            tail: Vec::new(),
            pos: 0,
            found: Vec::new(),
            overflow: false,
        }
    }

    fn push(&mut self, at: u64, pattern: usize) {
        let (_, table, _) = carve_automaton();
        let (fmt, moff) = table[pattern];
        if let Some(start) = at.checked_sub(moff) {
            if self.found.len() as u64 >= MAX_CARVE_PROBES {
                self.overflow = true;
            } else {
                self.found.push((start, fmt));
            }
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let (searcher, _, maxlen) = carve_automaton();
        let mut hits: Vec<(u64, usize)> = Vec::new();
        if !self.tail.is_empty() {
            // Matches that straddle the previous chunk and this one.
            let tl = self.tail.len();
            let mut bridge = std::mem::take(&mut self.tail);
            bridge.extend_from_slice(&chunk[..chunk.len().min(maxlen - 1)]);
            searcher.for_each(&bridge, |m| {
                if m.start() < tl && m.end() > tl {
                    hits.push((self.pos - tl as u64 + m.start() as u64, m.pattern().as_usize()));
                }
            });
        }
        searcher.for_each(chunk, |m| {
            hits.push((self.pos + m.start() as u64, m.pattern().as_usize()))
        });
        for (at, pattern) in hits {
            self.push(at, pattern);
        }
        let keep = chunk.len().min(maxlen - 1);
        self.tail = chunk[chunk.len() - keep..].to_vec();
        self.pos += chunk.len() as u64;
    }
}

/// A symlink waiting for its container to finish.
struct PendingLink {
    parts: Vec<String>,
    target: Vec<u8>,
    offset: Option<u64>,
    mode: Option<u32>,
}

struct Engine<'a> {
    opts: &'a UnpackOptions,
    root: PathBuf,
    started: Instant,
    image_sha: &'a ImageHash,
    /// Budgets shared by every engine of the run.
    shared: &'a Shared,
    entries: Vec<EntryRecord>,
    by_path: PathIndex,
    nodes: Vec<NodeRecord>,
    findings: Vec<Finding>,
    suppressed: HashMap<RuleId, usize>,
    /// Files waiting to be probed, shared by every engine of the run.
    pool: &'a Pool,
    progress: Option<Progress<'a>>,
    stats: UnpackStats,
    /// Directories known to be real directories under the root (shared with the writer).
    cache: DirCache,
    /// To the writer threads, in batches; `lane` is the one the current file goes to.
    lanes: Vec<Lane>,
    lane: usize,
    /// From the writer thread.
    done_rx: Receiver<Vec<Done>>,
    /// Read buffers the writer has finished with.
    spare_rx: Receiver<Vec<u8>>,
    next_id: usize,
    /// Files handed to the writer whose report has not come back yet.
    in_flight: HashMap<usize, InFlight>,
    /// Read buffer reused for every file (allocating it per file costs more than the copy).
    io_buf: Vec<u8>,
}

/// What every engine of one run shares: the run-wide budgets.
#[derive(Default)]
struct Shared {
    /// Bytes written.
    total: AtomicU64,
    /// Entries recorded.
    count: AtomicU64,
    /// A run-wide limit (total size, entries, time) was reached: stop everything.
    exhausted: Mutex<Option<LimitKind>>,
}

impl Shared {
    fn exhausted(&self) -> Option<LimitKind> {
        *self.exhausted.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Files waiting to be probed, shared by every engine of a run. A free engine takes the
/// largest waiting file (large containers first keeps the engines' finishing times close), or
/// waits while another engine may still add some.
struct Pool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

struct PoolState {
    waiting: BinaryHeap<Queued>,
    /// Engines holding work whose children may still come (the first engine starts so).
    busy: usize,
    /// No more work will be handed out (an engine failed).
    closed: bool,
    seq: u64,
}

/// A pending file in the pool: largest first, then first come.
struct Queued {
    size: u64,
    seq: u64,
    pending: Pending,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.size, self.seq) == (other.size, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.size.cmp(&other.size).then_with(|| other.seq.cmp(&self.seq))
    }
}

impl Pool {
    fn new() -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                waiting: BinaryHeap::new(),
                busy: 1,
                closed: false,
                seq: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, pending: Pending, size: u64) {
        let mut st = self.lock();
        let seq = st.seq;
        st.seq += 1;
        st.waiting.push(Queued { size, seq, pending });
        drop(st);
        self.ready.notify_one();
    }

    /// The next file to examine, once the caller's previous one (`was_busy`) is finished;
    /// `None` when the pool is empty and no engine can add to it.
    fn take(&self, was_busy: bool) -> Option<Pending> {
        let mut st = self.lock();
        if was_busy {
            st.busy -= 1;
        }
        loop {
            if st.closed {
                return None;
            }
            if let Some(q) = st.waiting.pop() {
                st.busy += 1;
                return Some(q.pending);
            }
            if st.busy == 0 {
                drop(st);
                self.ready.notify_all();
                return None;
            }
            st = self.ready.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Stop handing out work and wake every waiting engine.
    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Closes the pool if an engine unwinds, so that the others do not wait for it forever.
struct Leave<'p>(&'p Pool);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.close();
        }
    }
}

/// Record indices by path without a second copy of every path: keyed by a 64-bit hash of the
/// path (randomly seeded), the rare collision kept aside with its full path.
#[derive(Default)]
struct PathIndex {
    by_hash: HashMap<u64, usize>,
    collided: HashMap<String, usize>,
    seed: std::collections::hash_map::RandomState,
}

impl PathIndex {
    fn get(&self, entries: &[EntryRecord], path: &str) -> Option<usize> {
        use std::hash::BuildHasher;
        match self.by_hash.get(&self.seed.hash_one(path)) {
            Some(&i) if entries.get(i).is_some_and(|e| e.path == path) => Some(i),
            _ => self.collided.get(path).copied(),
        }
    }

    fn insert(&mut self, entries: &[EntryRecord], path: &str, index: usize) {
        use std::collections::hash_map::Entry;
        use std::hash::BuildHasher;
        match self.by_hash.entry(self.seed.hash_one(path)) {
            Entry::Vacant(v) => {
                v.insert(index);
            }
            Entry::Occupied(mut o) if entries.get(*o.get()).is_none_or(|e| e.path == path) => {
                o.insert(index);
            }
            Entry::Occupied(_) => {
                self.collided.insert(path.to_owned(), index);
            }
        }
    }
}

/// What an engine needs to start: the same for every engine of a run.
struct RunCtx<'a> {
    opts: &'a UnpackOptions,
    root: PathBuf,
    started: Instant,
    image_sha: ImageHash,
    progress: Option<Progress<'a>>,
    shared: Shared,
    cache: DirCache,
    pool: Pool,
}

/// What a second engine hands back when its branches are done.
struct Part {
    entries: Vec<EntryRecord>,
    nodes: Vec<NodeRecord>,
    findings: Vec<Finding>,
    suppressed: HashMap<RuleId, usize>,
    stats: UnpackStats,
}

/// Batches queued to the writer at most: with `BATCH_BYTES`, bounds the memory in transit.
const WRITER_QUEUE: usize = 4;
/// A batch goes to the writer once its buffers hold this much, or it has `BATCH_MSGS`
/// messages, or the engine waits for the writer.
const BATCH_BYTES: usize = 1 << 20;
const BATCH_MSGS: usize = 256;

/// Writer threads per engine: files are dealt out between them, so that creating, hashing
/// and scanning the output of one fast container can use more than one core.
const WRITERS: usize = 2;

/// One writer thread's channel and the batch being filled for it.
struct Lane {
    tx: SyncSender<Vec<Msg>>,
    outbox: Vec<Msg>,
    /// Buffer bytes the batch holds.
    bytes: usize,
}

/// What the engine remembers about a file the writer is still working on.
struct InFlight {
    index: usize,
    parts: Vec<String>,
    place: Place,
    offset: Option<u64>,
    /// The container delivered all of it (no limit, no damage).
    complete: bool,
}

impl<'a> Engine<'a> {
    /// An engine with its writer thread running in `scope`.
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, 'a>,
        ctx: &'a RunCtx<'a>,
    ) -> Result<Engine<'a>, UnpackError> {
        let (done_tx, done_rx) = mpsc::channel::<Vec<Done>>();
        let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
        let mut lanes = Vec::new();
        for _ in 0..WRITERS {
            let (tx, rx) = mpsc::sync_channel::<Vec<Msg>>(WRITER_QUEUE);
            let (wroot, wcache, carve) = (ctx.root.clone(), ctx.cache.clone(), ctx.opts.carve);
            let ch = writer::Channels {
                rx,
                done: done_tx.clone(),
                spare: spare_tx.clone(),
            };
            std::thread::Builder::new()
                .name("hashward-writer".into())
                .spawn_scoped(scope, move || writer::run(wroot, wcache, carve, ch))
                .map_err(|e| UnpackError::Output {
                    path: ctx.opts.out.clone(),
                    reason: format!("cannot start a writer thread: {e}"),
                })?;
            lanes.push(Lane {
                tx,
                outbox: Vec::new(),
                bytes: 0,
            });
        }
        Ok(Engine {
            opts: ctx.opts,
            root: ctx.root.clone(),
            started: ctx.started,
            image_sha: &ctx.image_sha,
            shared: &ctx.shared,
            entries: Vec::new(),
            by_path: PathIndex::default(),
            nodes: Vec::new(),
            findings: Vec::new(),
            suppressed: HashMap::new(),
            pool: &ctx.pool,
            progress: ctx.progress,
            stats: UnpackStats::default(),
            cache: ctx.cache.clone(),
            lanes,
            lane: 0,
            done_rx,
            spare_rx,
            next_id: 0,
            in_flight: HashMap::new(),
            io_buf: Vec::new(),
        })
    }

    /// Examine files from the pool until no engine has any left. `busy`: this engine holds
    /// work whose children may still land (the image, for the first engine).
    fn drain(&mut self, mut busy: bool) {
        let _leave = Leave(self.pool);
        loop {
            // Everything this engine wrote is in the pool before it counts as free.
            self.sync();
            let Some(p) = self.pool.take(busy) else { break };
            busy = true;
            if self.shared.exhausted().is_some() {
                continue;
            }
            self.examine_file(p);
        }
    }

    /// Everything this engine recorded, for the engine that started it.
    fn into_part(self) -> Part {
        Part {
            entries: self.entries,
            nodes: self.nodes,
            findings: self.findings,
            suppressed: self.suppressed,
            stats: self.stats,
        }
    }

    /// Take in what a second engine recorded.
    fn absorb(&mut self, part: Part) {
        for e in part.entries {
            match self.by_path.get(&self.entries, &e.path) {
                Some(i) => self.entries[i] = e,
                None => {
                    self.by_path.insert(&self.entries, &e.path, self.entries.len());
                    self.entries.push(e);
                }
            }
        }
        self.nodes.extend(part.nodes);
        for f in part.findings {
            self.finding(f);
        }
        for (rule, n) in part.suppressed {
            *self.suppressed.entry(rule).or_default() += n;
        }
        let (a, b) = (&mut self.stats, part.stats);
        a.files += b.files;
        a.dirs += b.dirs;
        a.links += b.links;
        a.specials += b.specials;
        a.bytes += b.bytes;
        a.containers += b.containers;
        a.carved += b.carved;
    }

    fn finish(mut self, image_size: u64) -> UnpackReport {
        let mut extra = Vec::new();
        for (rule, n) in &self.suppressed {
            extra.push(Finding::new(
                *rule,
                Subject::FirmwareImage {
                    sha256: self.image_sha.hex(),
                },
                format!("{n} more {rule} findings were not listed"),
            ));
        }
        extra.sort_by_key(|f| f.rule);
        // The engines share the work as it comes, so the order things were found in differs
        // between runs: report them in an order that does not.
        // Paths are unique (a second entry of a path replaces the first), so an unstable
        // sort is deterministic, and it sorts in place.
        self.entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        self.nodes
            .sort_by(|a, b| (&a.path, a.offset, a.layers.len()).cmp(&(&b.path, b.offset, b.layers.len())));
        self.findings.sort_by(|a, b| {
            (a.rule, finding_path(a), &a.message).cmp(&(b.rule, finding_path(b), &b.message))
        });
        self.findings.extend(extra);
        self.stats.seconds = self.started.elapsed().as_secs_f64();
        self.stats.peak_rss_bytes = peak_rss_bytes();
        UnpackReport {
            image_sha256: self.image_sha.hex(),
            image_size,
            entries: self.entries,
            nodes: self.nodes,
            findings: self.findings,
            stats: self.stats,
        }
    }

    // ---- findings -------------------------------------------------------------------

    fn finding(&mut self, f: Finding) {
        let n = self.findings.iter().filter(|x| x.rule == f.rule).count();
        if n >= MAX_FINDINGS_PER_RULE {
            *self.suppressed.entry(f.rule).or_default() += 1;
        } else {
            self.findings.push(f);
        }
    }

    fn file_finding(
        &mut self,
        rule: RuleId,
        severity: Option<Severity>,
        place: &Place,
        at: Loc<'_>,
        message: String,
    ) {
        let mut f = Finding::new(
            rule,
            Subject::FirmwareFile {
                image_sha256: self.image_sha.hex(),
                path: at.path.to_owned(),
            },
            message,
        )
        .with_evidence(Evidence::File {
            layers: place.layers.to_vec(),
            path: at.path.to_owned(),
            offset: at.offset,
            sha256: None,
            excerpt: at.excerpt.map(bytes_excerpt),
        });
        if let Some(s) = severity {
            f = f.with_severity(s);
        }
        self.finding(f);
    }

    fn limit_finding(&mut self, place: &Place, hit: &LimitHit) {
        tracing::warn!(carrier = %place.carrier, layers = %place.layers.join("/"), "{hit}");
        if matches!(
            hit.kind,
            LimitKind::TotalSize | LimitKind::Entries | LimitKind::Time
        ) {
            let mut ex = self
                .shared
                .exhausted
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if ex.is_some() {
                return;
            }
            *ex = Some(hit.kind);
        }
        let at = if place.carrier.is_empty() {
            "the image".to_owned()
        } else {
            place.carrier.clone()
        };
        let msg = format!(
            "{hit} while unpacking {} in {at}; that branch was stopped and the rest processed",
            place.layers.join("/")
        );
        self.file_finding(
            RuleId::FW_LIMIT,
            None,
            place,
            Loc {
                path: &place.carrier,
                offset: None,
                excerpt: None,
            },
            msg,
        );
    }

    // ---- probing ----------------------------------------------------------------------

    /// Probe a queued file, unpack it or carve it.
    fn examine_file(&mut self, p: Pending) {
        let rel = p.parts.join("/");
        tracing::debug!(file = %rel, at = ?self.started.elapsed(), "examining");
        if p.place.ancestors.contains(&p.sha) || p.sha == self.image_sha.bytes() {
            let msg =
                format!("{rel} is identical to a file it was extracted from; not unpacked again (loop)");
            self.file_finding(
                RuleId::FW_LIMIT,
                None,
                &p.place,
                Loc {
                    path: &rel,
                    offset: None,
                    excerpt: None,
                },
                msg,
            );
            return;
        }
        let Ok(file) = File::open(self.root.join(&rel)) else {
            return;
        };
        let Ok(blob) = Blob::from_file(file) else { return };
        let name = p.parts.last().cloned().unwrap_or_default();
        let mut ancestors = (*p.place.ancestors).clone();
        ancestors.push(p.sha);
        let place = Place {
            ancestors: Arc::new(ancestors),
            ..p.place
        };
        let mut dir = p.parts.clone();
        if let Some(last) = dir.last_mut() {
            last.push_str(".extracted");
        }
        match p.carve {
            None => self.examine(&blob, &place, dir, &name, &rel),
            Some(cands) => {
                if place.depth < self.opts.limits.max_depth {
                    self.carve_candidates(&blob, &place, &dir, &rel, cands);
                }
            }
        }
    }

    /// Identify `blob` at offset 0 and unpack it, else carve. `dir` receives the children.
    fn examine(&mut self, blob: &Blob, parent: &Place, dir: Vec<String>, name: &str, carrier: &str) {
        if blob.len() < 4 {
            return;
        }
        let Ok(head) = blob.head(HEAD_LEN) else { return };
        let mut carve_from = Some(0u64);
        if let Some(fmt) = identify(&head, Some(blob.len()), false) {
            let (consumed, produced) = self.run_format(fmt, blob, parent, dir.clone(), name, carrier, 0);
            carve_from = match consumed {
                Some(c) if c > 0 && c < blob.len() => Some(c),
                _ if produced == 0 => Some(1),
                _ => None,
            };
        }
        if let Some(from) = carve_from
            && self.opts.carve
            && parent.depth < self.opts.limits.max_depth
        {
            self.carve(blob, parent, &dir, carrier, from.max(1));
        }
    }

    /// Run one format over a blob (or a stream built from it). Returns (consumed, entries).
    #[allow(clippy::too_many_arguments)]
    fn run_format(
        &mut self,
        fmt: &'static dyn Format,
        blob: &Blob,
        parent: &Place,
        dir: Vec<String>,
        name: &str,
        carrier: &str,
        offset: u64,
    ) -> (Option<u64>, u64) {
        let info = fmt.info();
        let place = self.child_place(parent, dir, info.id, carrier);
        if place.depth > self.opts.limits.max_depth {
            let hit = LimitHit {
                kind: LimitKind::Depth,
                detail: format!("depth {} reached", place.depth - 1),
            };
            self.limit_finding(&place, &hit);
            return (None, 0);
        }
        let keys = self.opts.keys.clone();
        let ctx = Ctx { name, keys: &keys };
        let counter = Rc::new(Cell::new(0u64));
        let before = self.entries.len();
        let mut sink = ChildSink::new(self, &place, info.codec, blob.len(), counter.clone());
        let result = match info.access {
            Access::Random => fmt.unpack(Input::Blob(blob), &ctx, &mut sink),
            Access::Stream => {
                let mut r = CountingReader {
                    inner: blob.reader(),
                    count: counter,
                };
                fmt.unpack(Input::Stream(&mut r), &ctx, &mut sink)
            }
        };
        let links = std::mem::take(&mut sink.links);
        let produced = sink.produced;
        drop(sink);
        self.finish_links(&place, links);
        let _ = before;
        self.record_node(&place, offset, result, produced)
    }

    fn child_place(&self, parent: &Place, dir: Vec<String>, id: &str, carrier: &str) -> Place {
        let mut layers = parent.layers.to_vec();
        layers.push(id.to_owned());
        Place {
            root: dir,
            layers: Arc::new(layers),
            carrier: carrier.to_owned(),
            parent: Arc::from(carrier),
            depth: parent.depth + 1,
            ancestors: parent.ancestors.clone(),
        }
    }

    fn record_node(
        &mut self,
        place: &Place,
        offset: u64,
        result: Result<super::Unpacked, FormatError>,
        produced: u64,
    ) -> (Option<u64>, u64) {
        self.stats.containers += 1;
        let format = place.layers.last().cloned().unwrap_or_default();
        let (status, error, consumed, details) = match result {
            Ok(u) => ("ok", None, u.consumed, u.details),
            Err(e) => {
                match &e {
                    FormatError::Limit(hit) => self.limit_finding(place, hit),
                    FormatError::Unsupported(what) => {
                        let msg = format!(
                            "{format} container in {} not unpacked: {what}",
                            display(&place.carrier)
                        );
                        self.file_finding(
                            RuleId::FW_MALFORMED,
                            Some(Severity::Info),
                            place,
                            Loc {
                                path: &place.carrier,
                                offset: Some(offset),
                                excerpt: None,
                            },
                            msg,
                        );
                    }
                    other => {
                        let msg = format!(
                            "{format} container in {} is damaged: {other}; {produced} entries recovered",
                            display(&place.carrier)
                        );
                        self.file_finding(
                            RuleId::FW_MALFORMED,
                            None,
                            place,
                            Loc {
                                path: &place.carrier,
                                offset: Some(offset),
                                excerpt: None,
                            },
                            msg,
                        );
                    }
                }
                let status = if produced > 0 { "partial" } else { "failed" };
                (status, Some(e.to_string()), None, serde_json::Value::Null)
            }
        };
        tracing::debug!(
            carrier = %place.carrier,
            offset,
            layers = %place.layers.join("/"),
            entries = produced,
            status,
            at = ?self.started.elapsed(),
            "container done"
        );
        self.nodes.push(NodeRecord {
            path: place.carrier.clone(),
            offset,
            format,
            layers: place.layers.to_vec(),
            size: consumed,
            entries: produced,
            status: status.to_owned(),
            error,
            details,
        });
        (consumed, produced)
    }

    // ---- carving ----------------------------------------------------------------------

    fn carve(&mut self, blob: &Blob, parent: &Place, dir: &[String], carrier: &str, from: u64) {
        let Ok(scan) = blob.slice_from(from) else { return };
        let mut finder = CarveScan::new();
        let mut r = scan.reader();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => finder.feed(&buf[..n]),
            }
        }
        let cands = finder.found.into_iter().map(|(o, f)| (o + from, f)).collect();
        if finder.overflow {
            self.carve_overflow(parent, dir, carrier);
        }
        self.carve_candidates(blob, parent, dir, carrier, cands);
    }

    fn carve_overflow(&mut self, parent: &Place, dir: &[String], carrier: &str) {
        let place = self.child_place(parent, dir.to_vec(), "carve", carrier);
        let hit = LimitHit {
            kind: LimitKind::Structure,
            detail: format!("more than {MAX_CARVE_PROBES} signature candidates"),
        };
        self.limit_finding(&place, &hit);
    }

    /// Probe each candidate offset and unpack what is really there.
    fn carve_candidates(
        &mut self,
        blob: &Blob,
        parent: &Place,
        dir: &[String],
        carrier: &str,
        candidates: Vec<Candidate>,
    ) {
        let mut next_free = 0u64;
        let mut probes = 0u64;
        let mut chunks = 0u64;
        for (start, fmt) in candidates {
            if start < next_free || start == 0 || self.shared.exhausted().is_some() {
                continue;
            }
            probes += 1;
            if probes.is_multiple_of(1024) && self.opts.limits.check_time(self.started).is_err() {
                break;
            }
            let Ok(chunk) = blob.slice_from(start) else {
                continue;
            };
            let Ok(head) = chunk.head(HEAD_LEN) else { continue };
            if !fmt.probe(&head, Some(chunk.len())) {
                continue;
            }
            chunks += 1;
            if chunks > MAX_CARVE_CHUNKS {
                break;
            }
            self.stats.carved += 1;
            let mut sub = dir.to_vec();
            sub.push(format!("0x{start:x}"));
            let name = format!("0x{start:x}");
            let (consumed, produced) = self.run_format(fmt, &chunk, parent, sub, &name, carrier, start);
            if produced > 0 || consumed.is_some() {
                next_free = start + consumed.unwrap_or(1).max(1);
            }
        }
    }

    // ---- writing ----------------------------------------------------------------------

    fn abs(&self, parts: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        for c in parts {
            p.push(c);
        }
        p
    }

    /// Create the directories of `parts`, refusing to pass through anything but real directories.
    fn ensure_dir(&mut self, parts: &[String]) -> Result<(), String> {
        let n = writer::ensure_dir(&self.root, &self.cache, parts)?;
        self.stats.dirs += n;
        Ok(())
    }

    /// Make room for a new non-directory at `path`: remove an older file or link there.
    fn clear_slot(path: &Path) -> Result<(), String> {
        writer::clear_slot(path)
    }

    /// Wait until the writers have finished everything sent so far, and take in their reports.
    fn sync(&mut self) {
        let (ack, wait) = mpsc::channel();
        let mut asked = 0;
        for lane in 0..self.lanes.len() {
            self.lane = lane;
            if self.post(Msg::Barrier(ack.clone())).is_ok() && self.flush().is_ok() {
                asked += 1;
            }
        }
        drop(ack);
        for _ in 0..asked {
            if wait.recv().is_err() {
                break;
            }
        }
        self.collect();
    }

    /// Add a message to the current lane's batch; send the batch when it is full.
    fn post(&mut self, m: Msg) -> Result<(), FormatError> {
        let full = {
            let lane = &mut self.lanes[self.lane];
            if let Msg::Data { buf, .. } = &m {
                lane.bytes += buf.capacity();
            }
            lane.outbox.push(m);
            lane.bytes >= BATCH_BYTES || lane.outbox.len() >= BATCH_MSGS
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }

    /// Send the current lane's batch.
    fn flush(&mut self) -> Result<(), FormatError> {
        let lane = &mut self.lanes[self.lane];
        if lane.outbox.is_empty() {
            return Ok(());
        }
        lane.bytes = 0;
        let batch = std::mem::take(&mut lane.outbox);
        lane.tx
            .send(batch)
            .map_err(|_| FormatError::Io(io::Error::other("writer thread stopped")))
    }

    /// A read buffer of `writer::CHUNK` bytes: one the writer gave back, or a new one.
    fn read_buffer(&mut self) -> Vec<u8> {
        self.spare_rx
            .try_recv()
            .unwrap_or_else(|_| vec![0; writer::CHUNK])
    }

    /// Take in the writer's reports that have arrived.
    fn collect(&mut self) {
        while let Ok(batch) = self.done_rx.try_recv() {
            for done in batch {
                self.landed(done);
            }
        }
    }

    /// A file is on disk (or refused): complete its record, report problems, queue it.
    fn landed(&mut self, d: Done) {
        let Some(f) = self.in_flight.remove(&d.id) else {
            return;
        };
        self.stats.dirs += d.dirs_created;
        let rel = f.parts.join("/");
        if let Some(rec) = self.entries.get_mut(f.index) {
            rec.size = Some(d.size);
            rec.sha256 = Some(Sha256Hex::from_digest(&d.sha));
            // A refused file was never created; one the file system failed on is cut short.
            match &d.error {
                Some(WriteError::Refused(_)) => rec.not_created = true,
                Some(WriteError::Io(_)) => rec.truncated = true,
                None => {}
            }
        }
        if let Some(err) = d.error {
            let (rule, msg) = match err {
                WriteError::Refused(why) => (RuleId::FW_ESCAPE, format!("entry {rel} not written: {why}")),
                WriteError::Io(why) => (
                    RuleId::FW_MALFORMED,
                    format!("file entry {rel} not written: {why}"),
                ),
            };
            let at = Loc {
                path: &rel,
                offset: f.offset,
                excerpt: None,
            };
            self.file_finding(rule, None, &f.place, at, msg);
            return;
        }
        if !f.complete || d.size == 0 {
            return;
        }
        // Decide now, from what streamed past, whether the file is worth opening again.
        let carve = if d.scan_skipped || identify(&d.head, Some(d.size), false).is_some() {
            // (A skipped scan: the head named a format; `examine` carves if it does not hold.)
            Some(None)
        } else {
            match d.scan {
                Some(sc) if sc.overflow => {
                    self.carve_overflow(&f.place, &f.parts, &f.place.carrier);
                    Some(Some(sc.found))
                }
                Some(sc) if sc.found.iter().any(|(o, _)| *o > 0) => Some(Some(sc.found)),
                _ => None,
            }
        };
        if let Some(carve) = carve {
            let p = Pending {
                parts: f.parts,
                place: f.place,
                sha: d.sha,
                carve,
            };
            self.pool.push(p, d.size);
        }
    }

    fn record(&mut self, rec: EntryRecord) -> usize {
        let count = self.shared.count.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(f) = self.progress {
            f(count, self.shared.total.load(Ordering::Relaxed));
        }
        if let Some(i) = self.by_path.get(&self.entries, &rec.path) {
            self.entries[i] = rec;
            i
        } else {
            let i = self.entries.len();
            self.by_path.insert(&self.entries, &rec.path, i);
            self.entries.push(rec);
            i
        }
    }

    fn base_record(
        place: &Place,
        path: String,
        kind: EntryType,
        offset: Option<u64>,
        mode: Option<u32>,
    ) -> EntryRecord {
        EntryRecord {
            path,
            kind,
            size: None,
            sha256: None,
            target: None,
            layers: place.layers.clone(),
            parent: place.parent.clone(),
            offset,
            mode,
            truncated: false,
            not_created: false,
        }
    }

    /// Stream one file to the writer thread within every limit; record it now, complete the
    /// record (hash, queueing) when the writer reports back.
    fn write_file(
        &mut self,
        place: &Place,
        parts: Vec<String>,
        data: &mut dyn Read,
        offset: Option<u64>,
        mode: Option<u32>,
        allowance: &mut u64,
    ) -> Result<(), FormatError> {
        self.collect();
        let rel = parts.join("/");
        if self.by_path.get(&self.entries, &rel).is_some() {
            // A second entry of the same name replaces the first: let the first land first.
            self.sync();
        }
        let id = self.next_id;
        self.next_id += 1;
        let index = self.record(Self::base_record(
            place,
            rel.clone(),
            EntryType::File,
            offset,
            mode,
        ));
        self.lane = id % self.lanes.len();
        self.post(Msg::Begin {
            id,
            parts: parts.clone(),
        })?;
        let mut size = 0u64;
        let lim = self.opts.limits;
        let mut buf = match std::mem::take(&mut self.io_buf) {
            b if b.len() == writer::CHUNK => b,
            _ => self.read_buffer(),
        };
        let mut failed: Option<FormatError> = None;
        let outcome: Result<(), FormatError> = loop {
            if let Some(e) = failed.take() {
                break Err(e);
            }
            // Fill the buffer (formats often hand out one node or block at a time): fewer,
            // larger writes. Bytes read before a read error are still written.
            let (mut n, mut eof) = (0, false);
            while n < buf.len() {
                match data.read(&mut buf[n..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed = Some(e.into());
                        break;
                    }
                }
            }
            if n == 0 {
                break failed.map_or(Ok(()), Err);
            }
            let limit = if size + n as u64 > lim.max_file_bytes {
                Some((
                    LimitKind::FileSize,
                    format!("{rel} exceeds {} bytes", lim.max_file_bytes),
                ))
            } else if self.shared.total.load(Ordering::Relaxed) + n as u64 > lim.max_total_bytes {
                Some((
                    LimitKind::TotalSize,
                    format!("output exceeds {} bytes", lim.max_total_bytes),
                ))
            } else if (n as u64) > *allowance {
                Some((
                    LimitKind::Ratio,
                    format!("container output exceeds {} times its size", lim.max_ratio),
                ))
            } else {
                None
            };
            if let Some((kind, detail)) = limit {
                break Err(FormatError::Limit(LimitHit { kind, detail }));
            }
            // A large chunk travels in the read buffer itself; a small one is copied, so that
            // small files do not each hold a whole buffer while they wait in a batch.
            let msg = if n >= writer::CHUNK / 4 {
                let fresh = self.read_buffer();
                Msg::Data {
                    buf: std::mem::replace(&mut buf, fresh),
                    len: n,
                }
            } else {
                Msg::Data {
                    buf: buf[..n].to_vec(),
                    len: n,
                }
            };
            if let Err(e) = self.post(msg) {
                break Err(e);
            }
            size += n as u64;
            self.shared.total.fetch_add(n as u64, Ordering::Relaxed);
            *allowance -= n as u64;
            if let Err(hit) = lim.check_time(self.started) {
                break Err(FormatError::Limit(hit));
            }
            if eof {
                break failed.map_or(Ok(()), Err);
            }
        };
        self.io_buf = buf;
        let _ = self.post(Msg::End);
        self.stats.files += 1;
        self.stats.bytes += size;
        if outcome.is_err()
            && let Some(rec) = self.entries.get_mut(index)
        {
            rec.truncated = true;
        }
        self.in_flight.insert(
            id,
            InFlight {
                index,
                parts,
                place: place.clone(),
                offset,
                complete: outcome.is_ok(),
            },
        );
        outcome
    }

    /// A codec's output: continue straight into a stream archive, or write it out.
    fn codec_output(
        &mut self,
        place: &Place,
        parts: Vec<String>,
        data: &mut dyn Read,
        allowance: &mut u64,
    ) -> Result<(), FormatError> {
        let mut peek = PeekReader::new(data);
        peek.fill_to(HEAD_LEN)?;
        let Some(fmt) = identify(peek.buffered(), None, true) else {
            return self.write_file(place, parts, &mut peek, Some(0), None, allowance);
        };
        if place.depth >= self.opts.limits.max_depth {
            let hit = LimitHit {
                kind: LimitKind::Depth,
                detail: format!("{} inside {} layers not unpacked", fmt.info().id, place.depth),
            };
            self.limit_finding(place, &hit);
            return self.write_file(place, parts, &mut peek, Some(0), None, allowance);
        }
        let info = fmt.info();
        let child = self.child_place(place, place.root.clone(), info.id, &place.carrier);
        let name = parts.last().cloned().unwrap_or_default();
        let keys = self.opts.keys.clone();
        let ctx = Ctx {
            name: &name,
            keys: &keys,
        };
        let counter = Rc::new(Cell::new(0u64));
        let mut input = CountingReader {
            inner: peek,
            count: counter.clone(),
        };
        let mut sink = ChildSink::new(self, &child, info.codec, u64::MAX / 2, counter);
        let result = fmt.unpack(Input::Stream(&mut input), &ctx, &mut sink);
        let links = std::mem::take(&mut sink.links);
        let produced = sink.produced;
        drop(sink);
        self.finish_links(&child, links);
        self.record_node(&child, 0, result, produced);
        Ok(())
    }

    /// Create a container's symlinks once all its entries exist, refusing any that lead out.
    fn finish_links(&mut self, place: &Place, links: Vec<PendingLink>) {
        if links.is_empty() {
            return;
        }
        // Links are made once every file of the container is on disk.
        self.sync();
        let map: HashMap<Vec<String>, Vec<u8>> = links
            .iter()
            .map(|l| (l.parts.clone(), l.target.clone()))
            .collect();
        for l in links {
            let rel_in = l.parts.join("/");
            let mut full = place.root.clone();
            full.extend(l.parts.iter().cloned());
            let rel = full.join("/");
            let shown = String::from_utf8_lossy(&l.target).into_owned();
            let mut rec = Self::base_record(place, rel.clone(), EntryType::Symlink, l.offset, l.mode);
            rec.target = Some(shown.as_str().into());
            self.stats.links += 1;
            match follow(&l.parts, &l.target, &map) {
                Walk::Inside => {
                    let on_disk = match safepath::link_destination(&l.parts, &l.target) {
                        Some(dest) if l.target.first() == Some(&b'/') || shown.contains('%') => {
                            safepath::relative_target(&l.parts, &dest)
                        }
                        _ => shown.clone(),
                    };
                    let created = self
                        .ensure_dir(&full[..full.len() - 1])
                        .and_then(|()| Self::clear_slot(&self.abs(&full)))
                        .and_then(|()| {
                            std::os::unix::fs::symlink(&on_disk, self.abs(&full)).map_err(|e| e.to_string())
                        });
                    if let Err(why) = created {
                        rec.not_created = true;
                        let msg = format!("symlink {rel} not created: {why}");
                        self.file_finding(
                            RuleId::FW_ESCAPE,
                            None,
                            place,
                            Loc {
                                path: &rel,
                                offset: l.offset,
                                excerpt: None,
                            },
                            msg,
                        );
                    }
                }
                walk => {
                    let (rule, why) = match walk {
                        Walk::Outside => (
                            RuleId::FW_ESCAPE,
                            format!("in {} leads outside the extraction root", display(&place.carrier)),
                        ),
                        _ => (RuleId::FW_MALFORMED, "is part of a loop".to_owned()),
                    };
                    rec.not_created = true;
                    let msg = format!("symlink {rel_in} -> {shown} {why}; recorded, not created");
                    let at = Loc {
                        path: &rel,
                        offset: l.offset,
                        excerpt: Some(&l.target),
                    };
                    self.file_finding(rule, None, place, at, msg);
                }
            }
            self.record(rec);
        }
    }
}

fn display(carrier: &str) -> &str {
    if carrier.is_empty() { "the image" } else { carrier }
}

enum Walk {
    Inside,
    Outside,
    Loop,
}

/// Resolve a link's target through the container's other links; where does it end up?
fn follow(link: &[String], target: &[u8], links: &HashMap<Vec<String>, Vec<u8>>) -> Walk {
    let mut cur: Vec<String> = link[..link.len().saturating_sub(1)].to_vec();
    let mut todo: VecDeque<Vec<u8>> = VecDeque::new();
    let push_target = |cur: &mut Vec<String>, todo: &mut VecDeque<Vec<u8>>, t: &[u8]| {
        if t.first() == Some(&b'/') {
            cur.clear();
        }
        for (i, c) in t.split(|&b| b == b'/').enumerate() {
            todo.insert(i, c.to_vec());
        }
    };
    push_target(&mut cur, &mut todo, target);
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        match c.as_slice() {
            b"" | b"." => {}
            b".." => {
                if cur.pop().is_none() {
                    return Walk::Outside;
                }
            }
            name => {
                let Ok(r) = safepath::resolve(&[], name) else {
                    return Walk::Outside;
                };
                cur.extend(r.parts);
                if let Some(t) = links.get(&cur) {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Walk::Loop;
                    }
                    cur.pop();
                    push_target(&mut cur, &mut todo, t);
                }
            }
        }
    }
    Walk::Inside
}

/// A reader that can look ahead at least `n` bytes before anyone consumes them.
struct PeekReader<'r> {
    inner: &'r mut dyn Read,
    buf: Vec<u8>,
    pos: usize,
}

impl<'r> PeekReader<'r> {
    fn new(inner: &'r mut dyn Read) -> PeekReader<'r> {
        PeekReader {
            inner,
            buf: Vec::with_capacity(64 << 10),
            pos: 0,
        }
    }

    fn fill_to(&mut self, n: usize) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        while self.buf.len() - self.pos < n {
            let want = (n - (self.buf.len() - self.pos)).min(chunk.len());
            match self.inner.read(&mut chunk[..want]) {
                Ok(0) => break,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }
}

impl Read for PeekReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(out)
    }
}

impl BufRead for PeekReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            self.buf.resize(64 << 10, 0);
            let n = loop {
                match self.inner.read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    r => break r,
                }
            };
            let n = n.inspect_err(|_| self.buf.clear())?;
            self.buf.truncate(n);
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

/// The sink a container writes into.
struct ChildSink<'e, 'a> {
    eng: &'e mut Engine<'a>,
    place: &'e Place,
    codec: bool,
    /// Bytes this container may still write (ratio to its input size).
    allowance: u64,
    /// For codecs: bytes of compressed input consumed so far.
    input: Rc<Cell<u64>>,
    links: Vec<PendingLink>,
    produced: u64,
}

impl<'e, 'a> ChildSink<'e, 'a> {
    fn new(
        eng: &'e mut Engine<'a>,
        place: &'e Place,
        codec: bool,
        input_len: u64,
        input: Rc<Cell<u64>>,
    ) -> Self {
        let lim = eng.opts.limits;
        let allowance = if codec {
            u64::MAX // codecs are bounded by the ratio reader against consumed input
        } else {
            input_len.saturating_mul(lim.max_ratio).max(lim.ratio_floor)
        };
        ChildSink {
            eng,
            place,
            codec,
            allowance,
            input,
            links: Vec::new(),
            produced: 0,
        }
    }
}

impl Sink for ChildSink<'_, '_> {
    fn entry(&mut self, e: Entry<'_>) -> Result<(), FormatError> {
        let lim = self.eng.opts.limits;
        if let Some(kind) = self.eng.shared.exhausted() {
            return Err(FormatError::Limit(LimitHit {
                kind,
                detail: "run-wide limit already reached".into(),
            }));
        }
        if self.eng.shared.count.load(Ordering::Relaxed) >= lim.max_entries {
            return Err(FormatError::Limit(LimitHit {
                kind: LimitKind::Entries,
                detail: format!("more than {} entries", lim.max_entries),
            }));
        }
        lim.check_time(self.eng.started).map_err(FormatError::Limit)?;
        self.produced += 1;
        let place = self.place;
        let shown = String::from_utf8_lossy(e.path).into_owned();
        let resolved = match safepath::resolve(&[], e.path) {
            Ok(r) => r,
            Err(why) => {
                let msg = format!(
                    "entry `{}` in {} {}; refused",
                    shown.escape_debug(),
                    display(&place.carrier),
                    why.describe()
                );
                let rule = if why == Refusal::TooDeep {
                    RuleId::FW_MALFORMED
                } else {
                    RuleId::FW_ESCAPE
                };
                self.eng.file_finding(
                    rule,
                    None,
                    place,
                    Loc {
                        path: &place.carrier,
                        offset: e.offset,
                        excerpt: Some(e.path),
                    },
                    msg,
                );
                return Ok(());
            }
        };
        if resolved.parts.is_empty() {
            return Ok(()); // "." or "/": the container root itself
        }
        let mut parts = place.root.clone();
        parts.extend(resolved.parts.iter().cloned());
        let rel = parts.join("/");
        if resolved.absolute {
            let msg = format!(
                "entry `{}` in {} has an absolute path; contained as {rel}",
                shown.escape_debug(),
                display(&place.carrier)
            );
            self.eng.file_finding(
                RuleId::FW_ESCAPE,
                Some(Severity::Medium),
                place,
                Loc {
                    path: &rel,
                    offset: e.offset,
                    excerpt: Some(e.path),
                },
                msg,
            );
        } else if resolved.renamed {
            let msg = format!("entry name with unprintable or invalid bytes written as {rel}");
            self.eng.file_finding(
                RuleId::FW_ESCAPE,
                Some(Severity::Low),
                place,
                Loc {
                    path: &rel,
                    offset: e.offset,
                    excerpt: Some(e.path),
                },
                msg,
            );
        }
        match e.kind {
            EntryKind::Dir => {
                if let Err(why) = self.eng.ensure_dir(&parts) {
                    let msg = format!("directory {rel} not created: {why}");
                    self.eng.file_finding(
                        RuleId::FW_ESCAPE,
                        None,
                        place,
                        Loc {
                            path: &rel,
                            offset: e.offset,
                            excerpt: None,
                        },
                        msg,
                    );
                } else if self.eng.by_path.get(&self.eng.entries, &rel).is_none() {
                    let rec = Engine::base_record(place, rel, EntryType::Dir, e.offset, e.mode);
                    self.eng.record(rec);
                }
                Ok(())
            }
            EntryKind::File(r) => {
                if self.codec {
                    let mut rr = RatioReader {
                        inner: r,
                        input: self.input.clone(),
                        out: 0,
                        max_ratio: lim.max_ratio,
                        floor: lim.ratio_floor,
                    };
                    self.eng.codec_output(place, parts, &mut rr, &mut self.allowance)
                } else {
                    self.eng
                        .write_file(place, parts, r, e.offset, e.mode, &mut self.allowance)
                }
            }
            EntryKind::Symlink(t) => {
                self.links.push(PendingLink {
                    parts: resolved.parts,
                    target: t.to_vec(),
                    offset: e.offset,
                    mode: e.mode,
                });
                Ok(())
            }
            EntryKind::Hardlink(t) => {
                self.hardlink(parts, rel, t, e.offset, e.mode);
                Ok(())
            }
            EntryKind::Special { what, major, minor } => {
                let mut rec = Engine::base_record(place, rel, EntryType::Device, e.offset, e.mode);
                rec.target = Some(match what {
                    "char" | "block" => format!("{what} {major}:{minor}").into(),
                    other => other.into(),
                });
                rec.not_created = true;
                self.eng.stats.specials += 1;
                self.eng.record(rec);
                Ok(())
            }
        }
    }

    fn problem(&mut self, offset: Option<u64>, message: String) {
        let place = self.place;
        let fmt = place.layers.last().cloned().unwrap_or_default();
        let msg = format!("{fmt} in {}: {message}", display(&place.carrier));
        self.eng.file_finding(
            RuleId::FW_MALFORMED,
            None,
            place,
            Loc {
                path: &place.carrier,
                offset,
                excerpt: None,
            },
            msg,
        );
    }
}

impl ChildSink<'_, '_> {
    fn hardlink(
        &mut self,
        parts: Vec<String>,
        rel: String,
        target: &[u8],
        offset: Option<u64>,
        mode: Option<u32>,
    ) {
        // The target must be on disk before it can be linked.
        self.eng.sync();
        let place = self.place;
        let shown = String::from_utf8_lossy(target).into_owned();
        let mut rec = Engine::base_record(place, rel.clone(), EntryType::Hardlink, offset, mode);
        rec.target = Some(shown.as_str().into());
        self.eng.stats.links += 1;
        let Ok(t) = safepath::resolve(&[], target) else {
            rec.not_created = true;
            let msg = format!(
                "hard link {rel} -> {shown} leads outside the extraction root; recorded, not created"
            );
            self.eng.file_finding(
                RuleId::FW_ESCAPE,
                None,
                place,
                Loc {
                    path: &rel,
                    offset,
                    excerpt: Some(target),
                },
                msg,
            );
            self.eng.record(rec);
            return;
        };
        let mut tparts = place.root.clone();
        tparts.extend(t.parts);
        let trel = tparts.join("/");
        let src = self
            .eng
            .by_path
            .get(&self.eng.entries, &trel)
            .map(|i| self.eng.entries[i].clone());
        match src {
            Some(src) if src.kind == EntryType::File && *src.parent == *place.carrier => {
                let made = self
                    .eng
                    .ensure_dir(&parts[..parts.len() - 1])
                    .and_then(|()| Engine::clear_slot(&self.eng.abs(&parts)))
                    .and_then(|()| {
                        fs::hard_link(self.eng.abs(&tparts), self.eng.abs(&parts)).map_err(|e| e.to_string())
                    });
                rec.size = src.size;
                rec.sha256 = src.sha256;
                if let Err(why) = made {
                    rec.not_created = true;
                    let msg = format!("hard link {rel} not created: {why}");
                    self.eng.file_finding(
                        RuleId::FW_ESCAPE,
                        None,
                        place,
                        Loc {
                            path: &rel,
                            offset,
                            excerpt: None,
                        },
                        msg,
                    );
                }
            }
            _ => {
                rec.not_created = true;
                let msg = format!("hard link {rel} -> {shown}: no such file earlier in the same container");
                self.eng.file_finding(
                    RuleId::FW_MALFORMED,
                    None,
                    place,
                    Loc {
                        path: &rel,
                        offset,
                        excerpt: Some(target),
                    },
                    msg,
                );
            }
        }
        self.eng.record(rec);
    }
}

/// One automaton over every format's magic, and for each pattern its format and offset.
/// The magic searcher, for each pattern its format and magic offset, and the longest pattern.
type CarveTable = (MagicSearcher, Vec<(&'static dyn Format, u64)>, usize);

/// Finds every format's magic in a buffer: the SIMD "Teddy" packed searcher where the CPU has
/// it (about 15 times faster than the automaton on firmware-like data, measured), else an
/// Aho-Corasick automaton.
enum MagicSearcher {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl MagicSearcher {
    fn for_each(&self, hay: &[u8], mut f: impl FnMut(aho_corasick::Match)) {
        match self {
            MagicSearcher::Packed(s) => s.find_iter(hay).for_each(&mut f),
            MagicSearcher::Automaton(a) => a.find_iter(hay).for_each(&mut f),
        }
    }
}

fn carve_automaton() -> &'static CarveTable {
    static AUTO: OnceLock<CarveTable> = OnceLock::new();
    AUTO.get_or_init(|| {
        let mut pats: Vec<&'static [u8]> = Vec::new();
        let mut table = Vec::new();
        for f in super::probe_order() {
            for m in f.info().magics {
                pats.push(m.bytes);
                table.push((f, m.offset));
            }
        }
        let maxlen = pats.iter().map(|p| p.len()).max().unwrap_or(1).max(1);
        let searcher = match aho_corasick::packed::Config::new()
            .builder()
            .extend(&pats)
            .build()
        {
            Some(s) => MagicSearcher::Packed(s),
            None => {
                // Invariant: a few dozen short static patterns; building only fails past size limits.
                #[allow(clippy::expect_used)]
                let ac = AhoCorasick::new(&pats).expect("static magic patterns build an automaton");
                MagicSearcher::Automaton(ac)
            }
        };
        (searcher, table, maxlen)
    })
}
