//! zip archives (stored, deflate, bzip2, zstd, xz; zip64), read from the central directory.
//!
//! Our own reader rather than the `zip` crate's: the crate parses the whole central directory
//! into memory up front (measured with zip 9.8: about 230 bytes of heap per entry, 15 MB for
//! 65,535 one-byte entries, so the ~20 million minimal headers a 1 GiB image can hold would
//! cost gigabytes) and refuses the whole archive when one header is damaged. Here
//! the central directory is walked one header at a time, nothing is allocated from a declared
//! size beyond a 64 KiB name/extra field, and a damaged entry is reported and skipped.
//!
//! Layout (PKWARE APPNOTE.TXT 6.3.x): local file headers with data, then the central
//! directory (4.3.12), the zip64 end of central directory record and locator (4.3.14,
//! 4.3.15) when sizes or counts overflow, and the end of central directory record (4.3.16),
//! which may be followed by a comment of up to 65535 bytes.

use std::io::{self, Read};

use super::codec::{xz_reader, zstd_reader};
use super::sink::ProblemCap;
use super::{
    Access, Blob, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked,
};

/// The zip format.
pub struct Zip;

static INFO: FormatInfo = FormatInfo {
    id: "zip",
    description: "zip archive (stored, deflate, bzip2, zstd, xz; zip64)",
    access: Access::Random,
    magics: &[Magic {
        offset: 0,
        bytes: LOCAL_SIG,
    }],
    codec: false,
};

const LOCAL_SIG: &[u8] = b"PK\x03\x04";
const CENTRAL_SIG: &[u8] = b"PK\x01\x02";
const EOCD_SIG: &[u8] = b"PK\x05\x06";
const ZIP64_LOCATOR_SIG: &[u8] = b"PK\x06\x07";
const ZIP64_EOCD_SIG: &[u8] = b"PK\x06\x06";
/// End of central directory record without its comment.
const EOCD_LEN: u64 = 22;
/// Central directory file header without its variable fields.
const CENTRAL_LEN: u64 = 46;
/// Local file header without its variable fields.
const LOCAL_LEN: u64 = 30;
/// Largest symlink target read.
pub const MAX_LINK: u64 = 4096;
/// Signature candidates checked when the end record is not at the end of the input.
const MAX_EOCD_CANDIDATES: usize = 4096;

impl Format for Zip {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        // A local header, and room for it plus an end record.
        head.len() >= LOCAL_LEN as usize
            && head.starts_with(LOCAL_SIG)
            && len.is_none_or(|l| l >= LOCAL_LEN + EOCD_LEN)
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        match input {
            Input::Blob(b) => ProblemCap::around(sink, |sink| read_zip(b, sink)),
            Input::Stream(_) => Err(FormatError::Unsupported("zip needs random access".into())),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_le_bytes([x, y]),
        _ => 0,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, c, d, e]) => u32::from_le_bytes([a, c, d, e]),
        _ => 0,
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

/// Where the central directory is, as the end records describe it.
#[derive(Debug, Clone, Copy)]
struct Directory {
    /// Offset of the end of central directory record.
    eocd: u64,
    /// End of the archive (end record plus comment, clamped to the input).
    end: u64,
    /// Start of the central directory in the input (declared offset plus `base`).
    start: u64,
    size: u64,
    entries: u64,
    /// Bytes before the archive's own offset 0 (self-extractor stubs).
    base: u64,
    zip64: bool,
}

/// The zip64 end of central directory record for the end record at `e`, via its locator:
/// its offset and its fixed 56 bytes.
fn zip64_end(blob: &Blob, e: u64) -> Option<(u64, [u8; 56])> {
    let loc_at = e.checked_sub(20)?;
    let mut loc = [0u8; 20];
    blob.read_exact_at(loc_at, &mut loc).ok()?;
    if !loc.starts_with(ZIP64_LOCATOR_SIG) {
        return None;
    }
    // The record usually sits just before the locator; its declared offset is relative to
    // the archive, which may not start at 0 here.
    let declared = u64_at(&loc, 8);
    for at in [Some(declared), loc_at.checked_sub(56)].into_iter().flatten() {
        let mut z = [0u8; 56];
        if blob.read_exact_at(at, &mut z).is_ok() && z.starts_with(ZIP64_EOCD_SIG) {
            return Some((at, z));
        }
    }
    None
}

/// Interpret an end record at `e`, checking that the directory it points to fits.
fn directory_at(blob: &Blob, e: u64) -> Option<Directory> {
    let mut r = [0u8; EOCD_LEN as usize];
    blob.read_exact_at(e, &mut r).ok()?;
    if !r.starts_with(EOCD_SIG) {
        return None;
    }
    let comment = u64::from(u16_at(&r, 20));
    let mut entries = u64::from(u16_at(&r, 10));
    let mut size = u64::from(u32_at(&r, 12));
    let mut offset = u64::from(u32_at(&r, 16));
    // Where the directory must end: the end record, or the zip64 end record before it.
    let mut dir_end = e;
    let mut zip64 = false;
    let overflowed = entries == 0xffff || size == 0xffff_ffff || offset == 0xffff_ffff;
    if overflowed && let Some((at, z)) = zip64_end(blob, e) {
        entries = u64_at(&z, 32);
        size = u64_at(&z, 40);
        offset = u64_at(&z, 48);
        dir_end = at;
        zip64 = true;
    }
    let declared_end = offset.checked_add(size)?;
    let base = dir_end.checked_sub(declared_end)?;
    let start = offset.checked_add(base)?;
    // Each central header is at least 46 bytes.
    if entries > size / CENTRAL_LEN + 1 && entries != 0 {
        return None;
    }
    if entries > 0 {
        let mut sig = [0u8; 4];
        blob.read_exact_at(start, &mut sig).ok()?;
        if sig != CENTRAL_SIG {
            return None;
        }
    }
    let end = e.saturating_add(EOCD_LEN).saturating_add(comment).min(blob.len());
    Some(Directory {
        eocd: e,
        end,
        start,
        size,
        entries,
        base,
        zip64,
    })
}

/// Find the end of central directory record: first in the last 64 KiB (where it is when the
/// zip is the whole input), then, for a zip carved out of a larger blob, anywhere.
fn find_directory(blob: &Blob) -> Result<Directory, FormatError> {
    let len = blob.len();
    if len < EOCD_LEN {
        return Err(FormatError::Truncated {
            offset: 0,
            needed: EOCD_LEN - len,
        });
    }
    let tail_start = len.saturating_sub(EOCD_LEN + 0xffff);
    let tail = blob.read_vec(tail_start, len - tail_start)?;
    let finder = memchr::memmem::rfind_iter(&tail, EOCD_SIG);
    let mut loose = None;
    for p in finder.take(MAX_EOCD_CANDIDATES) {
        let e = tail_start + p as u64;
        if let Some(d) = directory_at(blob, e) {
            // A comment that reaches exactly the end is the real record; a signature inside
            // a comment is not (unless nothing better turns up).
            let comment = u64::from(u16_at(&tail, p + 20));
            if e + EOCD_LEN + comment == len {
                return Ok(d);
            }
            loose.get_or_insert(d);
        }
    }
    if let Some(d) = loose {
        return Ok(d);
    }
    let mut loose = None;
    // Forward scan in windows that overlap by the signature length less one.
    const WINDOW: u64 = 1 << 20;
    let mut at = 0u64;
    let mut checked = 0usize;
    while at < len {
        let n = WINDOW.min(len - at);
        let buf = blob.read_vec(at, n)?;
        for p in memchr::memmem::find_iter(&buf, EOCD_SIG) {
            checked += 1;
            if checked > MAX_EOCD_CANDIDATES {
                return Err(FormatError::structure("too many end-of-directory signatures"));
            }
            // The first record whose directory starts where this input does; a record with
            // bytes before its start may be a stored zip nested inside this one.
            match directory_at(blob, at + p as u64) {
                Some(d) if d.base == 0 => return Ok(d),
                Some(d) => {
                    loose.get_or_insert(d);
                }
                None => {}
            }
        }
        if at + n >= len {
            break;
        }
        at += n - 3;
    }
    loose.ok_or_else(|| FormatError::malformed(0, "no end of central directory record"))
}

/// One central directory header's facts.
struct CentralEntry {
    name: Vec<u8>,
    made_by: u16,
    flags: u16,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    external: u32,
    local: u64,
}

/// Read the central header at `at`; returns it and the next header's offset.
fn central_entry(blob: &Blob, at: u64) -> Result<(CentralEntry, u64), FormatError> {
    let mut h = [0u8; CENTRAL_LEN as usize];
    blob.read_exact_at(at, &mut h)?;
    if !h.starts_with(CENTRAL_SIG) {
        return Err(FormatError::malformed(
            at,
            "central directory header signature missing",
        ));
    }
    let name_len = u64::from(u16_at(&h, 28));
    let extra_len = u64::from(u16_at(&h, 30));
    let comment_len = u64::from(u16_at(&h, 32));
    // Each at most 64 KiB (u16 lengths).
    let name = blob.read_vec(at + CENTRAL_LEN, name_len)?;
    let extra = blob.read_vec(at + CENTRAL_LEN + name_len, extra_len)?;
    let mut e = CentralEntry {
        name,
        made_by: u16_at(&h, 4),
        flags: u16_at(&h, 8),
        method: u16_at(&h, 10),
        crc: u32_at(&h, 16),
        csize: u64::from(u32_at(&h, 20)),
        usize: u64::from(u32_at(&h, 24)),
        external: u32_at(&h, 38),
        local: u64::from(u32_at(&h, 42)),
    };
    zip64_extra(&extra, &mut e);
    let next = at + CENTRAL_LEN + name_len + extra_len + comment_len;
    Ok((e, next))
}

/// Apply the zip64 extended information extra field (id 0x0001, APPNOTE 4.5.3): 64-bit values
/// for exactly those of uncompressed size, compressed size and local header offset (in that
/// order) whose 32-bit fields are all ones.
fn zip64_extra(extra: &[u8], e: &mut CentralEntry) {
    let mut rest = extra;
    while rest.len() >= 4 {
        let id = u16_at(rest, 0);
        let len = usize::from(u16_at(rest, 2));
        let Some(data) = rest.get(4..4 + len) else { return };
        if id == 1 {
            let mut at = 0;
            for field in [&mut e.usize, &mut e.csize, &mut e.local] {
                if *field == 0xffff_ffff {
                    if at + 8 > data.len() {
                        return;
                    }
                    *field = u64_at(data, at);
                    at += 8;
                }
            }
            return;
        }
        rest = rest.get(4 + len..).unwrap_or_default();
    }
}

/// Why an entry did not come out.
enum Fail {
    /// The sink stopped (a limit, a write failure): stop the archive.
    Stop(FormatError),
    /// This entry is damaged or unsupported: report and go on.
    Skip(String),
}

impl From<FormatError> for Fail {
    fn from(e: FormatError) -> Fail {
        Fail::Skip(e.to_string())
    }
}

/// Entry data checked against the declared size and CRC-32 as it is read.
struct Checked<R> {
    inner: R,
    expected: u64,
    got: u64,
    crc: crc32fast::Hasher,
    /// What went wrong while reading, if anything (the sink then sees an error too).
    failed: Option<String>,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.failed = Some(format!("data does not decode: {e}"));
                return Err(e);
            }
        };
        if n == 0 && self.got < self.expected {
            let msg = format!("data ends after {} of {} bytes", self.got, self.expected);
            self.failed = Some(msg.clone());
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
        }
        self.got += n as u64;
        if self.got > self.expected {
            let msg = format!("data inflates past its declared {} bytes", self.expected);
            self.failed = Some(msg.clone());
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        }
        self.crc.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// A decoder for `method` over the compressed bytes, or why there is none.
fn decoder(method: u16, raw: Blob) -> Result<Box<dyn Read>, String> {
    let r = raw.reader();
    Ok(match method {
        0 => Box::new(r),
        8 => Box::new(flate2::bufread::DeflateDecoder::new(r)),
        12 => Box::new(bzip2::bufread::BzDecoder::new(r)),
        93 => Box::new(zstd_reader(r).map_err(|e| e.to_string())?),
        95 => Box::new(xz_reader(r)),
        9 => return Err("compression method 9 (deflate64) is unsupported".into()),
        14 => return Err("compression method 14 (lzma) is unsupported".into()),
        m => return Err(format!("compression method {m} is unsupported")),
    })
}

const S_IFMT: u32 = 0o170000;

/// Hand one entry to the sink.
fn entry(
    blob: &Blob,
    dir: &Directory,
    cd_off: u64,
    e: &CentralEntry,
    sink: &mut dyn Sink,
) -> Result<(), Fail> {
    // Unix attributes are in the high half of the external attributes when the entry was
    // made on Unix (3) or macOS (19).
    let unix = matches!(e.made_by >> 8, 3 | 19)
        .then_some(e.external >> 16)
        .filter(|&m| m != 0);
    let mode = unix.map(|m| m & 0o7777);
    let ftype = unix.map(|m| m & S_IFMT);
    let offset = Some(cd_off);
    if e.name.ends_with(b"/") || ftype == Some(0o040000) || (unix.is_none() && e.external & 0x10 != 0) {
        return sink
            .entry(Entry {
                path: &e.name,
                kind: EntryKind::Dir,
                mode,
                offset,
            })
            .map_err(Fail::Stop);
    }
    if e.flags & 1 != 0 {
        return Err(Fail::Skip("encrypted; skipped".into()));
    }
    // The local header repeats the name and has its own extra field: data follows both.
    let local = dir
        .base
        .checked_add(e.local)
        .ok_or_else(|| Fail::Skip("local header offset overflows".into()))?;
    let mut h = [0u8; LOCAL_LEN as usize];
    blob.read_exact_at(local, &mut h)?;
    if !h.starts_with(LOCAL_SIG) {
        return Err(Fail::Skip(format!("no local header at {local:#x}")));
    }
    let name_len = u64::from(u16_at(&h, 26));
    let extra_len = u64::from(u16_at(&h, 28));
    let local_name = blob.read_vec(local + LOCAL_LEN, name_len)?;
    if local_name != e.name {
        let shown = String::from_utf8_lossy(&local_name);
        sink.problem(
            offset,
            format!(
                "local header names `{}` differently; using the central name",
                shown.escape_debug()
            ),
        );
    }
    let data_at = local + LOCAL_LEN + name_len + extra_len;
    let raw = blob.slice(data_at, e.csize)?;
    let mut dec = decoder(e.method, raw).map_err(Fail::Skip)?;
    if ftype == Some(0o120000) {
        if e.usize > MAX_LINK {
            return Err(Fail::Skip(format!(
                "symlink target of {} bytes exceeds {MAX_LINK}; skipped",
                e.usize
            )));
        }
        let mut target = Vec::new();
        (&mut dec)
            .take(MAX_LINK + 1)
            .read_to_end(&mut target)
            .map_err(|x| Fail::Skip(x.to_string()))?;
        if target.len() as u64 > MAX_LINK {
            return Err(Fail::Skip("symlink target inflates past its cap; skipped".into()));
        }
        return sink
            .entry(Entry {
                path: &e.name,
                kind: EntryKind::Symlink(&target),
                mode,
                offset,
            })
            .map_err(Fail::Stop);
    }
    let mut data = Checked {
        inner: dec,
        expected: e.usize,
        got: 0,
        crc: crc32fast::Hasher::new(),
        failed: None,
    };
    let res = sink.entry(Entry {
        path: &e.name,
        kind: EntryKind::File(&mut data),
        mode,
        offset,
    });
    if let Some(why) = data.failed {
        return Err(Fail::Skip(why));
    }
    res.map_err(Fail::Stop)?;
    if data.got == e.usize {
        let crc = data.crc.finalize();
        if crc != e.crc {
            return Err(Fail::Skip(format!(
                "CRC-32 mismatch: stored {:#010x}, data {crc:#010x}",
                e.crc
            )));
        }
    }
    Ok(())
}

/// Walk the central directory and emit every entry.
fn read_zip(blob: &Blob, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
    let dir = find_directory(blob)?;
    if dir.base > 0 {
        sink.problem(
            Some(0),
            format!("{} bytes before the archive's declared start", dir.base),
        );
    }
    let cd_end = dir.start.saturating_add(dir.size);
    let mut at = dir.start;
    let mut found = 0u64;
    while found < dir.entries && at < cd_end {
        let (e, next) = match central_entry(blob, at) {
            Ok(x) => x,
            Err(err) => {
                sink.problem(
                    Some(at),
                    format!("central directory entry {found}: {err}; stopped"),
                );
                break;
            }
        };
        found += 1;
        match entry(blob, &dir, at, &e, sink) {
            Ok(()) => {}
            Err(Fail::Stop(err)) => return Err(err),
            Err(Fail::Skip(why)) => {
                let shown = String::from_utf8_lossy(&e.name);
                sink.problem(Some(at), format!("entry `{}`: {why}", shown.escape_debug()));
            }
        }
        at = next;
    }
    if found != dir.entries {
        sink.problem(
            Some(dir.eocd),
            format!("directory declares {} entries, {found} read", dir.entries),
        );
    }
    let details = serde_json::json!({ "entries": found, "zip64": dir.zip64 });
    Ok(Unpacked {
        consumed: Some(dir.end),
        details,
    })
}

#[cfg(test)]
mod tests {
    use hashward_fixtures::archive::{RawZipEntry, zip, zip_entries};
    use hashward_fixtures::tree::{Node, Tree};

    use super::*;
    use crate::unpack::{Collected, MemorySink, run_in_memory};

    fn sample_tree() -> Tree {
        let mut t = Tree::new();
        t.file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
            .file("empty", "")
            .file_mode(
                "bin/busybox",
                (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>(),
                0o755,
            )
            .file(&format!("{}/{}", "d".repeat(120), "f".repeat(150)), "deep")
            .symlink("bin/sh", "busybox")
            .hardlink("etc/passwd.bak", "etc/passwd")
            .dir("var/empty");
        t
    }

    /// Zip holds hard links as copies and has no devices.
    fn assert_same(tree: &Tree, sink: &MemorySink) {
        let got: std::collections::BTreeMap<String, Collected> = sink
            .entries
            .iter()
            .map(|(p, c)| {
                (
                    String::from_utf8_lossy(p).trim_end_matches('/').to_owned(),
                    c.clone(),
                )
            })
            .collect();
        let mut want = 0;
        for (path, node) in &tree.nodes {
            let c = got.get(path);
            match (node, c) {
                (Node::Dir, Some(Collected::Dir)) => {}
                (Node::File { .. } | Node::Hardlink(_), Some(Collected::File(d))) => {
                    assert_eq!(Some(d.as_slice()), tree.content(path), "{path}")
                }
                (Node::Symlink(t), Some(Collected::Symlink(x))) => assert_eq!(x, t.as_bytes()),
                (Node::CharDev(..), None) => continue,
                (n, c) => panic!("{path}: {n:?} came back as {c:?}"),
            }
            want += 1;
        }
        assert_eq!(got.len(), want);
    }

    #[test]
    fn round_trip_through_the_zip_crate_writer() {
        let t = sample_tree();
        let img = zip(&t);
        assert!(Zip.probe(&img, Some(img.len() as u64)));
        let (r, sink) = run_in_memory("zip", &img, 1 << 22);
        let r = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(r.consumed, Some(img.len() as u64));
        assert_same(&t, &sink);
    }

    #[test]
    fn carved_zip_reports_its_own_end() {
        let t = sample_tree();
        let img = zip(&t);
        let mut more = img.clone();
        more.extend(vec![0x5a; 200_000]);
        let (r, sink) = run_in_memory("zip", &more, 1 << 22);
        assert_eq!(r.unwrap().consumed, Some(img.len() as u64));
        assert_same(&t, &sink);
    }

    #[test]
    fn carving_prefers_the_outer_directory_over_a_stored_inner_zip() {
        let inner = zip_entries(&[RawZipEntry {
            name: b"inner.txt".to_vec(),
            data: b"i".to_vec(),
            ..Default::default()
        }]);
        let outer = zip_entries(&[
            RawZipEntry {
                name: b"nested.zip".to_vec(),
                data: inner.clone(),
                ..Default::default()
            },
            RawZipEntry {
                name: b"outer.txt".to_vec(),
                data: b"o".to_vec(),
                ..Default::default()
            },
        ]);
        let mut img = outer.clone();
        img.extend(vec![0x33; 100_000]);
        let (r, sink) = run_in_memory("zip", &img, 1 << 20);
        assert_eq!(r.unwrap().consumed, Some(outer.len() as u64));
        assert_eq!(sink.file("nested.zip"), Some(&inner[..]));
        assert_eq!(sink.file("outer.txt"), Some(&b"o"[..]));
    }

    #[test]
    fn raw_names_links_encryption_and_methods() {
        let img = zip_entries(&[
            RawZipEntry {
                name: b"../../etc/passwd".to_vec(),
                data: b"x".to_vec(),
                ..Default::default()
            },
            RawZipEntry {
                name: b"/abs\xff".to_vec(),
                data: b"y".to_vec(),
                ..Default::default()
            },
            RawZipEntry {
                name: b"up".to_vec(),
                data: b"../../..".to_vec(),
                unix_mode: Some(0o120777),
                ..Default::default()
            },
            RawZipEntry {
                name: b"secret".to_vec(),
                data: b"z".to_vec(),
                flags: 1,
                ..Default::default()
            },
            RawZipEntry {
                name: b"lzma".to_vec(),
                data: b"z".to_vec(),
                method: 14,
                ..Default::default()
            },
            RawZipEntry {
                name: b"d/".to_vec(),
                ..Default::default()
            },
            RawZipEntry {
                name: b"exec".to_vec(),
                data: b"#!".to_vec(),
                unix_mode: Some(0o100755),
                ..Default::default()
            },
        ]);
        let (r, sink) = run_in_memory("zip", &img, 1 << 20);
        r.unwrap();
        assert_eq!(
            sink.entries[0],
            (b"../../etc/passwd".to_vec(), Collected::File(b"x".to_vec()))
        );
        assert_eq!(
            sink.entries[1],
            (b"/abs\xff".to_vec(), Collected::File(b"y".to_vec()))
        );
        assert_eq!(
            sink.entries[2],
            (b"up".to_vec(), Collected::Symlink(b"../../..".to_vec()))
        );
        assert_eq!(sink.entries[3], (b"d/".to_vec(), Collected::Dir));
        assert_eq!(
            sink.entries[4],
            (b"exec".to_vec(), Collected::File(b"#!".to_vec()))
        );
        assert_eq!(sink.problems.len(), 2, "{:?}", sink.problems);
        assert!(sink.problems[0].contains("encrypted"));
        assert!(sink.problems[1].contains("lzma"));
    }

    #[test]
    fn problems_are_capped_per_archive() {
        let raw: Vec<RawZipEntry> = (0..3000)
            .map(|i| RawZipEntry {
                name: format!("e{i}").into_bytes(),
                data: b"s".to_vec(),
                flags: 1,
                ..Default::default()
            })
            .collect();
        let img = zip_entries(&raw);
        let (r, sink) = run_in_memory("zip", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.problems.len() as u64, crate::unpack::sink::MAX_PROBLEMS + 1);
        assert!(sink.problems.last().unwrap().contains("2000 further problems"));
    }

    #[test]
    fn crc_and_size_mismatches_are_problems() {
        let mut img = zip_entries(&[
            RawZipEntry {
                name: b"a".to_vec(),
                data: b"hello".to_vec(),
                ..Default::default()
            },
            RawZipEntry {
                name: b"b".to_vec(),
                data: b"world".to_vec(),
                ..Default::default()
            },
        ]);
        let at = img.windows(5).position(|w| w == b"hello").unwrap();
        img[at] = b'j';
        let (r, sink) = run_in_memory("zip", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.problems.len(), 1);
        assert!(sink.problems[0].contains("CRC"), "{:?}", sink.problems);
        assert_eq!(sink.file("b"), Some(&b"world"[..]));
    }

    #[test]
    fn truncation_and_corruption_never_panic() {
        let t = sample_tree();
        let img = zip(&t);
        for cut in (0..img.len()).step_by(211).chain(img.len() - 30..img.len()) {
            let (r, sink) = run_in_memory("zip", &img[..cut], 1 << 22);
            if let Ok(u) = r {
                assert!(u.consumed.unwrap() <= cut as u64);
            }
            for (p, c) in &sink.entries {
                if let Collected::File(d) = c {
                    assert_eq!(Some(d.as_slice()), t.content(&String::from_utf8_lossy(p)));
                }
            }
        }
        let mut seed = 99u32;
        for i in 0..3000 {
            let mut bad = img.clone();
            for _ in 0..1 + i % 4 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                // Bias corruption towards the directory at the end, where the structure is.
                let span = if i % 2 == 0 { bad.len() } else { 600.min(bad.len()) };
                let at = bad.len() - 1 - (seed as usize >> 4) % span;
                bad[at] = (seed >> 24) as u8;
            }
            let _ = run_in_memory("zip", &bad, 1 << 22);
        }
    }

    #[test]
    fn absurd_counts_and_sizes() {
        // An end record claiming 65535 entries and a directory larger than the input.
        let mut img = zip_entries(&[RawZipEntry {
            name: b"a".to_vec(),
            data: b"1".to_vec(),
            ..Default::default()
        }]);
        let e = img.len() - 22;
        img[e + 8..e + 12].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        let (r, _) = run_in_memory("zip", &img, 1 << 20);
        assert!(r.is_err());
        // A central entry declaring a 4 GiB compressed size.
        let mut img = zip_entries(&[RawZipEntry {
            name: b"a".to_vec(),
            data: b"1".to_vec(),
            ..Default::default()
        }]);
        let c = img.windows(4).position(|w| w == CENTRAL_SIG).unwrap();
        img[c + 20..c + 28].copy_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff]);
        let (r, sink) = run_in_memory("zip", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.problems.len(), 1, "{:?}", sink.problems);
        // A deflate bomb declaring a small size is stopped at its declared size.
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, &vec![0u8; 10 << 20]).unwrap();
        let bomb = enc.finish().unwrap();
        let mut img = zip_entries(&[RawZipEntry {
            name: b"bomb".to_vec(),
            data: bomb,
            method: 8,
            ..Default::default()
        }]);
        let c = img.windows(4).position(|w| w == CENTRAL_SIG).unwrap();
        img[c + 24..c + 28].copy_from_slice(&100u32.to_le_bytes());
        let (r, sink) = run_in_memory("zip", &img, 1 << 30);
        r.unwrap();
        assert!(sink.entries.is_empty());
        assert!(sink.problems[0].contains("declared"), "{:?}", sink.problems);
    }

    /// Build a zip64 archive by hand: zip64 extra field in the central header, zip64 end
    /// record and locator, 0xffffffff in the 32-bit fields.
    #[test]
    fn zip64_records_are_followed() {
        let data = b"zip64 content";
        let crc = crc32fast::hash(data);
        let mut img = Vec::new();
        img.extend_from_slice(LOCAL_SIG);
        for v in [45u16, 0, 0, 0, 0] {
            img.extend_from_slice(&v.to_le_bytes());
        }
        img.extend_from_slice(&crc.to_le_bytes());
        img.extend_from_slice(&[0xff; 8]);
        img.extend_from_slice(&1u16.to_le_bytes());
        img.extend_from_slice(&20u16.to_le_bytes());
        img.push(b'z');
        img.extend_from_slice(&1u16.to_le_bytes());
        img.extend_from_slice(&16u16.to_le_bytes());
        img.extend_from_slice(&(data.len() as u64).to_le_bytes());
        img.extend_from_slice(&(data.len() as u64).to_le_bytes());
        img.extend_from_slice(data);
        let cd = img.len() as u64;
        img.extend_from_slice(CENTRAL_SIG);
        for v in [0x031eu16, 45, 0, 0, 0, 0] {
            img.extend_from_slice(&v.to_le_bytes());
        }
        img.extend_from_slice(&crc.to_le_bytes());
        img.extend_from_slice(&[0xff; 8]);
        for v in [1u16, 28, 0, 0, 0] {
            img.extend_from_slice(&v.to_le_bytes());
        }
        img.extend_from_slice(&(0o100644u32 << 16).to_le_bytes());
        img.extend_from_slice(&[0xff; 4]);
        img.push(b'z');
        img.extend_from_slice(&1u16.to_le_bytes());
        img.extend_from_slice(&24u16.to_le_bytes());
        img.extend_from_slice(&(data.len() as u64).to_le_bytes());
        img.extend_from_slice(&(data.len() as u64).to_le_bytes());
        img.extend_from_slice(&0u64.to_le_bytes());
        let cd_size = img.len() as u64 - cd;
        let z64 = img.len() as u64;
        img.extend_from_slice(ZIP64_EOCD_SIG);
        img.extend_from_slice(&44u64.to_le_bytes());
        for v in [45u16, 45] {
            img.extend_from_slice(&v.to_le_bytes());
        }
        img.extend_from_slice(&[0; 8]);
        for v in [1u64, 1, cd_size, cd] {
            img.extend_from_slice(&v.to_le_bytes());
        }
        img.extend_from_slice(ZIP64_LOCATOR_SIG);
        img.extend_from_slice(&0u32.to_le_bytes());
        img.extend_from_slice(&z64.to_le_bytes());
        img.extend_from_slice(&1u32.to_le_bytes());
        img.extend_from_slice(EOCD_SIG);
        img.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        img.extend_from_slice(&[0xff; 8]);
        img.extend_from_slice(&0u16.to_le_bytes());
        let (r, sink) = run_in_memory("zip", &img, 1 << 20);
        let r = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(sink.file("z"), Some(&data[..]));
        assert_eq!(r.details["zip64"], true);
    }

    #[test]
    fn other_methods_decode() {
        let plain = b"antminer ".repeat(500);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        std::io::Write::write_all(&mut bz, &plain).unwrap();
        let bz = bz.finish().unwrap();
        let mut img = zip_entries(&[RawZipEntry {
            name: b"b".to_vec(),
            data: bz,
            method: 12,
            ..Default::default()
        }]);
        // The fixture writes the compressed length as both sizes; fix the uncompressed one.
        let c = img.windows(4).position(|w| w == CENTRAL_SIG).unwrap();
        img[c + 24..c + 28].copy_from_slice(&(plain.len() as u32).to_le_bytes());
        img[c + 16..c + 20].copy_from_slice(&crc32fast::hash(&plain).to_le_bytes());
        let (r, sink) = run_in_memory("zip", &img, 1 << 20);
        r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(sink.file("b"), Some(&plain[..]));
    }

    #[test]
    fn stream_input_is_refused_and_probe_needs_the_magic() {
        assert!(!Zip.probe(b"PK\x03\x04", None));
        assert!(!Zip.probe(&[0u8; 64], None));
        let mut r: &[u8] = b"PK\x03\x04";
        let mut sink = MemorySink::with_budget(10);
        let res = Zip.unpack(Input::Stream(&mut r), &Ctx { name: "z", keys: &[] }, &mut sink);
        assert!(matches!(res, Err(FormatError::Unsupported(_))));
    }
}
