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

/// Problems passed on one by one per container; past this, they are only counted.
pub(crate) const MAX_PROBLEMS: u64 = 1000;

/// A sink wrapper that passes entries on unchanged, and problems up to [`MAX_PROBLEMS`]; the
/// rest are counted and reported as one summary line by [`ProblemCap::finish`]. Hostile input
/// can make a problem every few bytes (a damaged member, node or block each), which must not
/// become millions of findings. Every format that can report problems without bound wraps its
/// sink in one, per container.
pub(crate) struct ProblemCap<'s> {
    inner: &'s mut dyn Sink,
    seen: u64,
}

impl<'s> ProblemCap<'s> {
    /// Wrap a sink.
    pub(crate) fn new(inner: &'s mut dyn Sink) -> ProblemCap<'s> {
        ProblemCap { inner, seen: 0 }
    }

    /// Report how many problems were held back, if any (`"N further problems not listed"`).
    pub(crate) fn finish(self) {
        if self.seen > MAX_PROBLEMS {
            let more = self.seen - MAX_PROBLEMS;
            self.inner
                .problem(None, format!("{more} further problems not listed"));
        }
    }

    /// Run `f` with `sink` wrapped in a cap, then report what was held back.
    pub(crate) fn around<T>(sink: &mut dyn Sink, f: impl FnOnce(&mut ProblemCap<'_>) -> T) -> T {
        let mut cap = ProblemCap::new(sink);
        let r = f(&mut cap);
        cap.finish();
        r
    }
}

impl Sink for ProblemCap<'_> {
    fn entry(&mut self, entry: Entry<'_>) -> Result<(), FormatError> {
        self.inner.entry(entry)
    }

    fn problem(&mut self, offset: Option<u64>, message: String) {
        self.seen += 1;
        if self.seen <= MAX_PROBLEMS {
            self.inner.problem(offset, message);
        }
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

/// Test helper: every entry of `sink` is in `tree` with the same kind, content hash, link
/// target or device, and nothing of `tree` (plus `extra_dirs`) is missing.
#[cfg(test)]
pub(crate) fn assert_matches_tree(sink: &MemorySink, tree: &hashward_fixtures::Tree, extra_dirs: &[&str]) {
    let mut want = tree.manifest("");
    for d in extra_dirs {
        want.insert((*d).to_owned(), ("dir".into(), String::new()));
    }
    for (path, got) in &sink.entries {
        let path = String::from_utf8_lossy(path).into_owned();
        let Some((kind, hash)) = want.remove(&path) else {
            panic!("unexpected {path}")
        };
        match got {
            Collected::Dir => assert_eq!(kind, "dir", "{path}"),
            Collected::File(d) => {
                assert_eq!(kind, "file", "{path}");
                assert_eq!(hashward_fixtures::tree::sha256_hex(d), hash, "{path}");
            }
            Collected::Symlink(t) => assert_eq!(
                (kind.as_str(), hash.as_bytes()),
                ("symlink", t.as_slice()),
                "{path}"
            ),
            Collected::Hardlink(t) => assert_eq!(
                (kind.as_str(), hash.as_bytes()),
                ("hardlink", t.as_slice()),
                "{path}"
            ),
            Collected::Special(w, a, b) => {
                assert_eq!(format!("{w} {a}:{b}"), hash.replace("device ", ""), "{path}")
            }
        }
    }
    assert!(want.is_empty(), "missing {want:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_cap_passes_entries_and_summarises_the_rest() {
        let mut mem = MemorySink::with_budget(16);
        let n = MAX_PROBLEMS + 5;
        ProblemCap::around(&mut mem, |cap| {
            for i in 0..n {
                cap.problem(Some(i), format!("problem {i}"));
            }
            cap.entry(file(b"f", &mut &b"data"[..], None)).unwrap();
        });
        assert_eq!(mem.file("f"), Some(&b"data"[..]));
        assert_eq!(mem.problems.len() as u64, MAX_PROBLEMS + 1);
        assert_eq!(mem.problems[0], "0x0: problem 0");
        assert_eq!(
            mem.problems[MAX_PROBLEMS as usize - 1],
            format!("{:#x}: problem {}", MAX_PROBLEMS - 1, MAX_PROBLEMS - 1)
        );
        assert_eq!(mem.problems.last().unwrap(), "5 further problems not listed");
    }

    #[test]
    fn problem_cap_adds_nothing_up_to_the_cap() {
        let mut mem = MemorySink::default();
        let mut cap = ProblemCap::new(&mut mem);
        for _ in 0..MAX_PROBLEMS {
            cap.problem(None, "p".into());
        }
        cap.finish();
        assert_eq!(mem.problems.len() as u64, MAX_PROBLEMS);
        assert!(mem.problems.iter().all(|p| p == "p"));
    }
}
