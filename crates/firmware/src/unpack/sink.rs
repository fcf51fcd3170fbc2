//! What a format hands out: entries with raw names, and the problems it noticed.
//!
//! Formats never touch the file system. They pass raw entry names (bytes, exactly as stored)
//! to a [`Sink`]; the sink decides where, or whether, each one lands. All containment rules
//! (traversal, links, odd names) live in one place, the engine's sink.

use std::io::Read;

use super::FormatError;

/// One thing inside a container.
pub struct Entry<'a> {
    /// The name as stored, `/`-separated, not yet checked.
    pub path: &'a [u8],
    /// What it is, with its content.
    pub kind: EntryKind<'a>,
    /// Unix permission bits, when the format has them.
    pub mode: Option<u32>,
    /// Offset of the entry's header inside the container, for provenance.
    pub offset: Option<u64>,
}

/// The kinds of entry.
pub enum EntryKind<'a> {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(&'a mut dyn Read),
    /// A symbolic link and its raw target.
    Symlink(&'a [u8]),
    /// A hard link to another entry of the same container (raw name).
    Hardlink(&'a [u8]),
    /// A device node, FIFO or socket: recorded, never created.
    Special {
        /// `char`, `block`, `fifo` or `socket`.
        what: &'static str,
        /// Device major number (0 if not a device).
        major: u32,
        /// Device minor number.
        minor: u32,
    },
}

/// Receives a container's entries.
pub trait Sink {
    /// Take one entry. An error stops the container (a limit, or a write failure).
    fn entry(&mut self, entry: Entry<'_>) -> Result<(), FormatError>;

    /// Note a recoverable problem (a bad CRC, a skipped node); the format goes on.
    fn problem(&mut self, offset: Option<u64>, message: String);
}

/// A file entry with default mode, from a reader.
pub fn file<'a>(path: &'a [u8], data: &'a mut dyn Read, offset: Option<u64>) -> Entry<'a> {
    Entry {
        path,
        kind: EntryKind::File(data),
        mode: None,
        offset,
    }
}

/// What a [`MemorySink`] stored for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// A directory.
    Dir,
    /// A file with its bytes.
    File(Vec<u8>),
    /// A symlink target.
    Symlink(Vec<u8>),
    /// A hardlink target.
    Hardlink(Vec<u8>),
    /// A special file.
    Special(&'static str, u32, u32),
}

/// A sink that keeps entries in memory, up to a byte budget: for tests and fuzz targets.
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Entries in the order they came, with their raw names.
    pub entries: Vec<(Vec<u8>, Collected)>,
    /// Problems reported.
    pub problems: Vec<String>,
    /// Bytes still allowed.
    pub budget: u64,
}

impl MemorySink {
    /// A sink that accepts up to `budget` bytes of file content.
    pub fn with_budget(budget: u64) -> MemorySink {
        MemorySink {
            budget,
            ..MemorySink::default()
        }
    }

    /// The file content stored under `path`, if any.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.entries.iter().rev().find_map(|(p, c)| match c {
            Collected::File(d) if p == path.as_bytes() => Some(d.as_slice()),
            _ => None,
        })
    }

    /// The stored names as lossy strings.
    pub fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(p, _)| String::from_utf8_lossy(p).into_owned())
            .collect()
    }
}

impl Sink for MemorySink {
    fn entry(&mut self, entry: Entry<'_>) -> Result<(), FormatError> {
        let c = match entry.kind {
            EntryKind::Dir => Collected::Dir,
            EntryKind::File(r) => {
                let mut v = Vec::new();
                let n = r.take(self.budget.saturating_add(1)).read_to_end(&mut v)? as u64;
                if n > self.budget {
                    return Err(FormatError::Limit(super::LimitHit {
                        kind: super::LimitKind::TotalSize,
                        detail: "memory sink budget".into(),
                    }));
                }
                self.budget -= n;
                Collected::File(v)
            }
            EntryKind::Symlink(t) => Collected::Symlink(t.to_vec()),
            EntryKind::Hardlink(t) => Collected::Hardlink(t.to_vec()),
            EntryKind::Special { what, major, minor } => Collected::Special(what, major, minor),
        };
        self.entries.push((entry.path.to_vec(), c));
        Ok(())
    }

    fn problem(&mut self, offset: Option<u64>, message: String) {
        self.problems.push(match offset {
            Some(o) => format!("{o:#x}: {message}"),
            None => message,
        });
    }
}
