//! The disk side of the engine, on a second thread: directories, file creation, writing,
//! hashing and the signature scan happen here while the engine keeps decoding.
//!
//! Creating a file costs far more than decoding it on ordinary file systems (ext4 spends
//! hundreds of microseconds per create), so overlapping the two is the single biggest win on
//! trees of thousands of files. Messages are ordered: a file's chunks follow its `Begin` and
//! precede its `End`; a `Barrier` is answered once everything before it is on disk.
//!
//! Messages travel in batches, and reports come back in batches: one hand-over per file
//! would wake the other thread thousands of times a second, and on two cores those wake-ups
//! cost more than the work. Large chunks travel in the engine's own read buffers, which come
//! back on the `spare` channel to be filled again, so that no byte is copied twice.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::engine::CarveScan;
use super::{HEAD_LEN, identify};

/// Directories known to be real directories under the root, shared by both threads.
pub(crate) type DirCache = Arc<Mutex<HashSet<Vec<String>>>>;

/// What the engine asks the writer to do.
pub(crate) enum Msg {
    /// Start file `id` at `parts` (relative to the root).
    Begin { id: usize, parts: Vec<String> },
    /// The next bytes of the current file: the first `len` bytes of the buffer.
    Data { buf: Vec<u8>, len: usize },
    /// The current file is complete.
    End,
    /// Answer once everything sent before is done.
    Barrier(Sender<()>),
}

/// Why a file did not land.
pub(crate) enum WriteError {
    /// A parent is a symlink or a file: nothing is written through it.
    Refused(String),
    /// The file system said no.
    Io(String),
}

/// The writer's report on one file.
pub(crate) struct Done {
    pub(crate) id: usize,
    pub(crate) size: u64,
    pub(crate) sha: [u8; 32],
    pub(crate) head: Vec<u8>,
    pub(crate) scan: Option<CarveScan>,
    /// The scan stopped once the head named a format: the engine opens the file anyway.
    pub(crate) scan_skipped: bool,
    pub(crate) dirs_created: u64,
    pub(crate) error: Option<WriteError>,
}

/// Create the directories of `parts` under `root`, never passing through a symlink or a file.
/// Returns how many were created.
pub(crate) fn ensure_dir(root: &Path, cache: &DirCache, parts: &[String]) -> Result<u64, String> {
    let mut known = cache.lock().unwrap_or_else(PoisonError::into_inner);
    // Directories this run made or checked stay directories: nothing replaces a directory
    // (`clear_slot` refuses to), so they need no second look.
    if parts.is_empty() || known.contains(parts) {
        return Ok(0);
    }
    let mut created = 0;
    let mut p = root.to_path_buf();
    for (i, c) in parts.iter().enumerate() {
        p.push(c);
        if known.contains(&parts[..=i]) {
            continue;
        }
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symlink; nothing is written through links",
                    parts[..=i].join("/")
                ));
            }
            Ok(_) => return Err(format!("{} is a file, not a directory", parts[..=i].join("/"))),
            Err(_) => {
                fs::create_dir(&p).map_err(|e| format!("cannot create {}: {e}", parts[..=i].join("/")))?;
                created += 1;
            }
        }
        known.insert(parts[..=i].to_vec());
    }
    Ok(created)
}

/// Make room for a new non-directory at `path`: remove an older file or link there.
pub(crate) fn clear_slot(path: &Path) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err("a directory of the same name exists".into()),
        Ok(_) => fs::remove_file(path).map_err(|e| e.to_string()),
        Err(_) => Ok(()),
    }
}

/// Size of the engine's read buffers: chunks of at least a quarter of it travel in the buffer
/// itself (and come back on `spare`); smaller ones are copied into a buffer of their own.
pub(crate) const CHUNK: usize = 256 << 10;

/// The writer's channels.
pub(crate) struct Channels {
    /// Batches of messages from the engine.
    pub(crate) rx: Receiver<Vec<Msg>>,
    /// Batches of reports to the engine.
    pub(crate) done: Sender<Vec<Done>>,
    /// Read buffers going back to the engine.
    pub(crate) spare: Sender<Vec<u8>>,
}

/// The writer loop: runs until the engine drops its sender.
pub(crate) fn run(root: PathBuf, cache: DirCache, carve: bool, ch: Channels) {
    let mut current: Option<Current> = None;
    let mut reports = Vec::new();
    for batch in ch.rx {
        for msg in batch {
            match msg {
                Msg::Begin { id, parts } => current = Some(Current::open(&root, &cache, id, &parts, carve)),
                Msg::Data { buf, len } => {
                    if let Some(c) = current.as_mut() {
                        c.write(&buf[..len.min(buf.len())]);
                    }
                    if buf.capacity() == CHUNK {
                        let _ = ch.spare.send(buf);
                    }
                }
                Msg::End => {
                    if let Some(c) = current.take() {
                        reports.push(c.finish());
                    }
                }
                Msg::Barrier(ack) => {
                    if !reports.is_empty() && ch.done.send(std::mem::take(&mut reports)).is_err() {
                        return;
                    }
                    let _ = ack.send(());
                }
            }
        }
        if !reports.is_empty() && ch.done.send(std::mem::take(&mut reports)).is_err() {
            return;
        }
    }
}

struct Current {
    id: usize,
    file: Option<fs::File>,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    scan: Option<CarveScan>,
    scan_skipped: bool,
    dirs_created: u64,
    error: Option<WriteError>,
}

impl Current {
    fn open(root: &Path, cache: &DirCache, id: usize, parts: &[String], carve: bool) -> Current {
        let mut c = Current {
            id,
            file: None,
            hasher: Sha256::new(),
            size: 0,
            head: Vec::new(),
            scan: carve.then(CarveScan::new),
            scan_skipped: false,
            dirs_created: 0,
            error: None,
        };
        let Some((_, dir)) = parts.split_last() else {
            c.error = Some(WriteError::Io("empty path".into()));
            return c;
        };
        match ensure_dir(root, cache, dir) {
            Ok(n) => c.dirs_created = n,
            Err(why) => {
                c.error = Some(WriteError::Refused(why));
                return c;
            }
        }
        let mut path = root.to_path_buf();
        path.extend(parts);
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
        };
        // Almost every name is new: try first, and clear the slot only when something is there
        // (`create_new` never follows or reuses what it finds).
        let opened = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match clear_slot(&path) {
                Ok(()) => create().map_err(|e| e.to_string()),
                Err(why) => Err(why),
            },
            other => other.map_err(|e| e.to_string()),
        };
        match opened {
            Ok(f) => c.file = Some(f),
            Err(why) => c.error = Some(WriteError::Io(why)),
        }
        c
    }

    fn write(&mut self, chunk: &[u8]) {
        // Hash and scan what the container held even if the disk refuses it: the record is
        // still evidence.
        self.hasher.update(chunk);
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            // A file whose head names a format is opened again whatever the scan finds (and
            // searched there after the format's end): scanning it here would be wasted.
            if self.head.len() == HEAD_LEN
                && self.scan.is_some()
                && identify(&self.head, None, false).is_some()
            {
                self.scan = None;
                self.scan_skipped = true;
            }
        }
        if let Some(sc) = self.scan.as_mut() {
            sc.feed(chunk);
        }
        self.size += chunk.len() as u64;
        if let Some(f) = self.file.as_mut()
            && let Err(e) = f.write_all(chunk)
        {
            self.error = Some(WriteError::Io(e.to_string()));
            self.file = None;
        }
    }

    fn finish(self) -> Done {
        Done {
            id: self.id,
            size: self.size,
            sha: self.hasher.finalize().into(),
            head: self.head,
            scan: self.scan,
            scan_skipped: self.scan_skipped,
            dirs_created: self.dirs_created,
            error: self.error,
        }
    }
}
