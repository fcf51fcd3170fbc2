//! cpio archives (newc, crc, odc and old binary), read as a stream with a reader of our own.
//!
//! Layouts: SVR4 "newc" `070701` and "crc" `070702` (13 eight-digit hex fields, name and data
//! padded to 4 bytes; Linux `Documentation/driver-api/early-userspace/buffer-format.rst`),
//! POSIX "odc" `070707` (octal fields; POSIX.1-2017 `pax`, "cpio Interchange Format") and
//! the old binary header (magic 0o070707 as a 16-bit word in either byte order, fields as
//! 16-bit words, name and data padded to 2 bytes). The archive ends with `TRAILER!!!`.
//!
//! Hard links in newc share (dev, ino) and carry the data only on the last link written; the
//! earlier links have size 0. Only their names are buffered (bounded), never data: the link
//! with data becomes a File, the others Hardlinks to it.

use std::collections::HashMap;
use std::io::{BufRead, Read};

use super::sink::ProblemCap;
use super::tar::{Cursor, DataReader};
use super::{Access, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked};

/// The cpio format.
pub struct Cpio;

static INFO: FormatInfo = FormatInfo {
    id: "cpio",
    description: "cpio archive (newc, crc, odc, old binary)",
    access: Access::Stream,
    magics: &[
        Magic {
            offset: 0,
            bytes: b"070701",
        },
        Magic {
            offset: 0,
            bytes: b"070702",
        },
        Magic {
            offset: 0,
            bytes: b"070707",
        },
    ],
    codec: false,
};

/// Largest name accepted (bytes, including the NUL).
pub const MAX_NAME: u64 = 4096;
/// Largest symlink target read.
pub const MAX_LINK: u64 = 4096;
/// Names of hard links buffered while waiting for the link that carries the data.
const MAX_PENDING_NAMES: usize = 65_536;
/// Total bytes of those names.
const MAX_PENDING_BYTES: usize = 16 << 20;

const S_IFMT: u32 = 0o170000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Newc,
    Crc,
    Odc,
    BinLe,
    BinBe,
}

impl Kind {
    fn header_len(self) -> usize {
        match self {
            Kind::Newc | Kind::Crc => 110,
            Kind::Odc => 76,
            Kind::BinLe | Kind::BinBe => 26,
        }
    }
    /// Alignment of name and data.
    fn align(self) -> u64 {
        match self {
            Kind::Newc | Kind::Crc => 4,
            Kind::Odc => 1,
            Kind::BinLe | Kind::BinBe => 2,
        }
    }
    fn label(self) -> &'static str {
        match self {
            Kind::Newc => "newc",
            Kind::Crc => "crc",
            Kind::Odc => "odc",
            Kind::BinLe => "binary-le",
            Kind::BinBe => "binary-be",
        }
    }
}

fn kind_of(magic: &[u8]) -> Option<Kind> {
    match magic {
        [b'0', b'7', b'0', b'7', b'0', b'1', ..] => Some(Kind::Newc),
        [b'0', b'7', b'0', b'7', b'0', b'2', ..] => Some(Kind::Crc),
        [b'0', b'7', b'0', b'7', b'0', b'7', ..] => Some(Kind::Odc),
        [0xc7, 0x71, ..] => Some(Kind::BinLe),
        [0x71, 0xc7, ..] => Some(Kind::BinBe),
        _ => None,
    }
}

/// One parsed header.
#[derive(Debug, Clone, Copy)]
struct Header {
    dev: (u64, u64),
    ino: u64,
    mode: u32,
    nlink: u64,
    rdev: (u32, u32),
    size: u64,
    namesize: u64,
    check: u32,
}

fn hex(f: &[u8]) -> Option<u64> {
    if f.is_empty() || !f.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(f).ok()?, 16).ok()
}

fn oct(f: &[u8]) -> Option<u64> {
    if f.is_empty() || !f.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(f).ok()?, 8).ok()
}

/// Parse a header of `kind` from `h` (exactly `kind.header_len()` bytes).
fn parse(kind: Kind, h: &[u8]) -> Option<Header> {
    match kind {
        Kind::Newc | Kind::Crc => {
            let f = |i: usize| hex(h.get(6 + 8 * i..14 + 8 * i)?);
            let v: Vec<u64> = (0..13).map(f).collect::<Option<_>>()?;
            let g = |i: usize| v.get(i).copied().unwrap_or(0);
            Some(Header {
                ino: g(0),
                mode: u32::try_from(g(1)).ok()?,
                nlink: g(4),
                size: g(6),
                dev: (g(7), g(8)),
                rdev: (u32::try_from(g(9)).ok()?, u32::try_from(g(10)).ok()?),
                namesize: g(11),
                check: u32::try_from(g(12)).ok()?,
            })
        }
        Kind::Odc => {
            // dev ino mode uid gid nlink rdev mtime namesize filesize: 6 6 6 6 6 6 6 11 6 11.
            let widths = [6usize, 6, 6, 6, 6, 6, 6, 11, 6, 11];
            let mut v = [0u64; 10];
            let mut at = 6;
            for (slot, w) in v.iter_mut().zip(widths) {
                *slot = oct(h.get(at..at + w)?)?;
                at += w;
            }
            // Old-style 16-bit device numbers: major in the high byte.
            let rdev = v[6];
            Some(Header {
                dev: (v[0], 0),
                ino: v[1],
                mode: u32::try_from(v[2]).ok()?,
                nlink: v[5],
                rdev: (((rdev >> 8) & 0xff) as u32, (rdev & 0xff) as u32),
                namesize: v[8],
                size: v[9],
                check: 0,
            })
        }
        Kind::BinLe | Kind::BinBe => {
            let w = |i: usize| -> Option<u64> {
                let b = h.get(2 * i..2 * i + 2)?;
                let pair = [*b.first()?, *b.get(1)?];
                Some(u64::from(if kind == Kind::BinLe {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }))
            };
            // magic dev ino mode uid gid nlink rdev mtime[2] namesize filesize[2];
            // 32-bit values are two words, most significant first.
            let rdev = w(7)?;
            Some(Header {
                dev: (w(1)?, 0),
                ino: w(2)?,
                mode: u32::try_from(w(3)?).ok()?,
                nlink: w(6)?,
                rdev: (((rdev >> 8) & 0xff) as u32, (rdev & 0xff) as u32),
                namesize: w(10)?,
                size: (w(11)? << 16) | w(12)?,
                check: 0,
            })
        }
    }
}

impl Format for Cpio {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        let Some(kind) = kind_of(head) else { return false };
        let Some(h) = head.get(..kind.header_len()) else {
            return false;
        };
        let Some(hdr) = parse(kind, h) else { return false };
        if hdr.namesize < 2 || hdr.namesize > MAX_NAME {
            return false;
        }
        if matches!(kind, Kind::BinLe | Kind::BinBe) {
            // A two-byte magic is weak: demand a known file type and a NUL-terminated
            // name with no NUL before its end.
            let known = matches!(
                hdr.mode & S_IFMT,
                0o040000 | 0o100000 | 0o120000 | 0o020000 | 0o060000 | 0o010000 | 0o140000
            );
            let name = head.get(26..26 + hdr.namesize as usize);
            return known
                && name.is_some_and(|n| n.last() == Some(&0) && n.iter().take(n.len() - 1).all(|&b| b != 0));
        }
        true
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        ProblemCap::around(sink, |sink| match input {
            Input::Stream(r) => read_cpio(r, sink),
            Input::Blob(b) => read_cpio(&mut b.reader(), sink),
        })
    }
}

/// Bytes needed to bring `pos` to a multiple of `align`.
fn pad(pos: u64, align: u64) -> u64 {
    (align - pos % align) % align
}

/// What identifies one file's links: (device major, device minor, inode).
type LinkKey = (u64, u64, u64);
/// A link name waiting for its data: name, header offset, permission bits.
type Waiting = (Vec<u8>, u64, u32);

/// Hard-link bookkeeping: names waiting for their data, and the name that got it.
#[derive(Default)]
struct Links {
    /// Key → names (and header offsets, modes) seen with size 0, in order.
    pending: HashMap<LinkKey, Vec<Waiting>>,
    /// Order in which keys were first seen, so leftovers come out in archive order.
    order: Vec<LinkKey>,
    /// Key → name of the link that carried the data.
    done: HashMap<LinkKey, Vec<u8>>,
    /// Names and bytes held in both maps.
    count: usize,
    bytes: usize,
}

impl Links {
    fn room_for(&self, name: &[u8]) -> bool {
        self.count < MAX_PENDING_NAMES && self.bytes.saturating_add(name.len()) <= MAX_PENDING_BYTES
    }

    fn note(&mut self, name: &[u8]) {
        self.count += 1;
        self.bytes += name.len();
    }

    /// Emit every group that never got its data: the first name as an empty file, the rest as
    /// hard links to it (all links of an empty file have size 0).
    fn flush(&mut self, sink: &mut dyn Sink) -> Result<(), FormatError> {
        for key in std::mem::take(&mut self.order) {
            let Some(names) = self.pending.remove(&key) else {
                continue;
            };
            let mut it = names.into_iter();
            let Some((first, off, mode)) = it.next() else {
                continue;
            };
            let mut empty = std::io::empty();
            sink.entry(Entry {
                path: &first,
                kind: EntryKind::File(&mut empty),
                mode: Some(mode),
                offset: Some(off),
            })?;
            for (n, o, m) in it {
                sink.entry(Entry {
                    path: &n,
                    kind: EntryKind::Hardlink(&first),
                    mode: Some(m),
                    offset: Some(o),
                })?;
            }
        }
        Ok(())
    }
}

/// Read a whole cpio stream into `sink`.
fn read_cpio(r: &mut dyn BufRead, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
    let mut cur = Cursor::new(r);
    let mut links = Links::default();
    let mut entries = 0u64;
    let mut first_kind = None;
    let res = read_members(&mut cur, sink, &mut links, &mut entries, &mut first_kind);
    // Whatever ended the walk, links still waiting for data come out as empty files.
    // (Not after a limit: the sink has said it takes nothing more.)
    if !matches!(res, Err(FormatError::Limit(_))) {
        let flushed = links.flush(sink);
        if res.is_ok() {
            flushed?;
        }
    }
    let end = res?;
    let details = serde_json::json!({
        "dialect": first_kind.map(Kind::label),
        "entries": entries,
    });
    Ok(Unpacked {
        consumed: Some(end),
        details,
    })
}

/// Walk the members; returns the archive's end offset.
fn read_members(
    cur: &mut Cursor<'_>,
    sink: &mut dyn Sink,
    links: &mut Links,
    entries: &mut u64,
    first_kind: &mut Option<Kind>,
) -> Result<u64, FormatError> {
    let mut hbuf = [0u8; 110];
    loop {
        let off = cur.pos;
        let got = cur.read_full(hbuf.get_mut(..2).unwrap_or_default())?;
        if got == 0 {
            if off == 0 {
                return Err(FormatError::Truncated {
                    offset: 0,
                    needed: 26,
                });
            }
            sink.problem(Some(off), "archive ends without a TRAILER!!! entry".into());
            return Ok(off);
        }
        if got < 2 {
            return Err(FormatError::Truncated {
                offset: off,
                needed: 1,
            });
        }
        // The ASCII magics need six bytes to tell apart; binary ones are two.
        let kind = if hbuf.starts_with(b"07") {
            let more = cur.read_full(hbuf.get_mut(2..6).unwrap_or_default())?;
            if more < 4 {
                return Err(FormatError::Truncated {
                    offset: cur.pos,
                    needed: (4 - more) as u64,
                });
            }
            kind_of(&hbuf)
        } else {
            kind_of(&hbuf)
        };
        let Some(kind) = kind else {
            if off == 0 {
                return Err(FormatError::malformed(0, "no cpio magic"));
            }
            sink.problem(
                Some(off),
                "bytes after the last member are not a cpio header; stopped".into(),
            );
            return Ok(off);
        };
        first_kind.get_or_insert(kind);
        let len = kind.header_len();
        let have = if matches!(kind, Kind::BinLe | Kind::BinBe) {
            2
        } else {
            6
        };
        let want = hbuf.get_mut(have..len).unwrap_or_default();
        let more = cur.read_full(want)?;
        if more < len - have {
            return Err(FormatError::Truncated {
                offset: cur.pos,
                needed: (len - have - more) as u64,
            });
        }
        let Some(h) = parse(kind, hbuf.get(..len).unwrap_or_default()) else {
            if off == 0 {
                return Err(FormatError::malformed(0, "cpio header fields are not numbers"));
            }
            sink.problem(Some(off), "cpio header with non-numeric fields; stopped".into());
            return Ok(off);
        };
        let align = kind.align();
        // Name (namesize counts the NUL), then padding.
        if h.namesize == 0 {
            sink.problem(Some(off), "cpio header with an empty name; stopped".into());
            return Ok(off);
        }
        let name_pad = pad(cur.pos + h.namesize, align);
        let data_span = |cur_pos: u64| h.size.checked_add(pad(cur_pos + h.size, align));
        if h.namesize > MAX_NAME {
            sink.problem(
                Some(off),
                format!("name of {} bytes exceeds {MAX_NAME}; entry skipped", h.namesize),
            );
            skip(cur, h.namesize + name_pad)?;
            let span = data_span(cur.pos).ok_or_else(|| FormatError::malformed(off, "size overflows"))?;
            skip(cur, span)?;
            continue;
        }
        // Bounded by MAX_NAME.
        let mut name = vec![0u8; h.namesize as usize];
        let got = cur.read_full(&mut name)?;
        if got < name.len() {
            return Err(FormatError::Truncated {
                offset: cur.pos,
                needed: (name.len() - got) as u64,
            });
        }
        skip(cur, name_pad)?;
        let nul = memchr::memchr(0, &name).unwrap_or(name.len());
        name.truncate(nul);
        if name == b"TRAILER!!!" {
            skip(
                cur,
                data_span(cur.pos).ok_or_else(|| FormatError::malformed(off, "size overflows"))?,
            )?;
            return trailer_padding(cur);
        }
        *entries += 1;
        let span = data_span(cur.pos).ok_or_else(|| FormatError::malformed(off, "size overflows"))?;
        member(cur, sink, links, kind, off, &h, &name, span)?;
    }
}

/// Skip exactly `n` bytes or report truncation.
fn skip(cur: &mut Cursor<'_>, n: u64) -> Result<(), FormatError> {
    let got = cur.skip(n)?;
    if got < n {
        return Err(FormatError::Truncated {
            offset: cur.pos,
            needed: n - got,
        });
    }
    Ok(())
}

/// After the trailer: take the zero padding up to the next 512-byte boundary (what cpio
/// writes by default), but nothing that is not zero.
fn trailer_padding(cur: &mut Cursor<'_>) -> Result<u64, FormatError> {
    while !cur.pos.is_multiple_of(512) {
        let want = (512 - cur.pos % 512) as usize;
        let buf = cur.peek()?;
        if buf.is_empty() {
            break;
        }
        let zeros = buf.iter().take(want).take_while(|&&b| b == 0).count();
        let stop = zeros < want.min(buf.len());
        cur.consume(zeros);
        if stop {
            break;
        }
    }
    Ok(cur.pos)
}

/// Hand one member to the sink; leaves the cursor at the next header.
#[allow(clippy::too_many_arguments)]
fn member(
    cur: &mut Cursor<'_>,
    sink: &mut dyn Sink,
    links: &mut Links,
    kind: Kind,
    off: u64,
    h: &Header,
    name: &[u8],
    span: u64,
) -> Result<(), FormatError> {
    let perm = h.mode & 0o7777;
    let mode = Some(perm);
    let ftype = h.mode & S_IFMT;
    let special = |what: &'static str, major: u32, minor: u32| EntryKind::Special { what, major, minor };
    let simple = match ftype {
        0o040000 => Some(EntryKind::Dir),
        0o020000 => Some(special("char", h.rdev.0, h.rdev.1)),
        0o060000 => Some(special("block", h.rdev.0, h.rdev.1)),
        0o010000 => Some(special("fifo", 0, 0)),
        0o140000 => Some(special("socket", 0, 0)),
        _ => None,
    };
    if let Some(k) = simple {
        sink.entry(Entry {
            path: name,
            kind: k,
            mode,
            offset: Some(off),
        })?;
        return skip(cur, span);
    }
    if ftype == 0o120000 {
        if h.size > MAX_LINK {
            sink.problem(
                Some(off),
                format!("symlink target of {} bytes exceeds {MAX_LINK}; skipped", h.size),
            );
            return skip(cur, span);
        }
        // Bounded by MAX_LINK.
        let mut target = vec![0u8; h.size as usize];
        let got = cur.read_full(&mut target)?;
        if got < target.len() {
            return Err(FormatError::Truncated {
                offset: cur.pos,
                needed: (target.len() - got) as u64,
            });
        }
        sink.entry(Entry {
            path: name,
            kind: EntryKind::Symlink(&target),
            mode,
            offset: Some(off),
        })?;
        return skip(cur, span - h.size);
    }
    if ftype != 0o100000 {
        sink.problem(
            Some(off),
            format!("unknown file type {:o}; read as a regular file", ftype >> 12),
        );
    }
    let key = (h.dev.0, h.dev.1, h.ino);
    if h.nlink > 1 && ftype == 0o100000 && h.size == 0 {
        if let Some(target) = links.done.get(&key) {
            sink.entry(Entry {
                path: name,
                kind: EntryKind::Hardlink(target),
                mode,
                offset: Some(off),
            })?;
            return skip(cur, span);
        }
        if links.room_for(name) {
            links.note(name);
            if !links.pending.contains_key(&key) {
                links.order.push(key);
            }
            links
                .pending
                .entry(key)
                .or_default()
                .push((name.to_vec(), off, perm));
            return skip(cur, span);
        }
        sink.problem(
            Some(off),
            "too many hard links waiting for their data; this one is kept as an empty file".into(),
        );
    }
    let mut data = DataReader::new(cur, h.size);
    let res = sink.entry(Entry {
        path: name,
        kind: EntryKind::File(&mut data),
        mode,
        offset: Some(off),
    });
    if data.short {
        return Err(FormatError::Truncated {
            offset: data.cur.pos,
            needed: data.left,
        });
    }
    res?;
    if kind == Kind::Crc {
        // The checksum covers all of the data: read what the sink left, summing it.
        let mut buf = [0u8; 8192];
        while data.left > 0 {
            let n = match data.read(&mut buf) {
                Ok(n) => n,
                Err(_) if data.short => {
                    return Err(FormatError::Truncated {
                        offset: data.cur.pos,
                        needed: data.left,
                    });
                }
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                break;
            }
        }
        if data.sum != h.check {
            let shown = String::from_utf8_lossy(name);
            sink.problem(
                Some(off),
                format!(
                    "checksum mismatch for `{shown}`: stored {:#x}, data {:#x}",
                    h.check, data.sum
                ),
            );
        }
    }
    let read = h.size - data.left;
    if h.nlink > 1 && ftype == 0o100000 && h.size > 0 {
        // This link has the data: the names that waited for it become hard links to it.
        if let Some(waiting) = links.pending.remove(&key) {
            for (n, o, m) in waiting {
                sink.entry(Entry {
                    path: &n,
                    kind: EntryKind::Hardlink(name),
                    mode: Some(m),
                    offset: Some(o),
                })?;
            }
        }
        if links.room_for(name) && !links.done.contains_key(&key) {
            links.note(name);
            links.done.insert(key, name.to_vec());
        }
    }
    skip(cur, span - read)
}

#[cfg(test)]
mod tests {
    use hashward_fixtures::archive::{RawCpioEntry, cpio_entries, cpio_newc};
    use hashward_fixtures::tree::{Node, Tree};

    use super::*;
    use crate::unpack::{Collected, MemorySink, run_in_memory};

    fn sample_tree() -> Tree {
        let mut t = Tree::new();
        t.file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
            .file("empty", "")
            .file_mode(
                "bin/busybox",
                (0..5000u32).flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>(),
                0o755,
            )
            .file("odd", "abc")
            .file(&format!("{}/{}", "d".repeat(120), "f".repeat(150)), "deep")
            .symlink("bin/sh", "busybox")
            .hardlink("etc/passwd.bak", "etc/passwd")
            .hardlink("z-link", "etc/passwd")
            .file("empty-linked", "")
            .hardlink("empty-linked2", "empty-linked")
            .chardev("dev/console", 5, 1)
            .dir("var/empty");
        t
    }

    /// Compare with the tree, allowing the newc convention: within a hard-link group exactly
    /// one name is a File with the content, the others Hardlinks to that name.
    fn assert_same(tree: &Tree, sink: &MemorySink) {
        let got: std::collections::BTreeMap<String, Collected> = sink
            .entries
            .iter()
            .map(|(p, c)| (String::from_utf8_lossy(p).into_owned(), c.clone()))
            .collect();
        assert_eq!(got.len(), sink.entries.len(), "duplicate names");
        for (path, node) in &tree.nodes {
            let c = got.get(path).unwrap_or_else(|| panic!("missing {path}"));
            match (node, c) {
                (Node::Dir, Collected::Dir) => {}
                (Node::File { .. } | Node::Hardlink(_), Collected::File(d)) => {
                    assert_eq!(Some(d.as_slice()), tree.content(path), "{path}")
                }
                (Node::File { .. } | Node::Hardlink(_), Collected::Hardlink(t)) => {
                    let t = String::from_utf8_lossy(t).into_owned();
                    assert!(matches!(got.get(&t), Some(Collected::File(_))), "{path} -> {t}");
                    assert_eq!(tree.content(&t), tree.content(path), "{path} -> {t}");
                }
                (Node::Symlink(t), Collected::Symlink(x)) => assert_eq!(x, t.as_bytes()),
                (Node::CharDev(a, b), Collected::Special("char", x, y)) => assert_eq!((a, b), (x, y)),
                (n, c) => panic!("{path}: {n:?} came back as {c:?}"),
            }
        }
        assert_eq!(got.len(), tree.nodes.len());
    }

    #[test]
    fn newc_round_trip_with_hard_links() {
        let t = sample_tree();
        let img = cpio_newc(&t);
        assert!(Cpio.probe(&img, None));
        let (r, sink) = run_in_memory("cpio", &img, 1 << 20);
        let r = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(r.consumed, Some(img.len() as u64));
        assert_same(&t, &sink);
        // The link written last carries the data; the earlier ones point at it.
        assert_eq!(sink.file("z-link"), t.content("etc/passwd"));
        assert!(
            sink.entries
                .iter()
                .any(|(p, c)| p == b"etc/passwd" && *c == Collected::Hardlink(b"z-link".to_vec()))
        );
    }

    /// Re-encode a newc archive as crc (070702) with correct checksums, or odc.
    fn to_crc(entries: &[RawCpioEntry]) -> Vec<u8> {
        let mut img = cpio_entries(entries);
        // Patch magic and checksum fields in place by walking the archive.
        let mut pos = 0;
        while pos + 110 <= img.len() && &img[pos..pos + 6] == b"070701" {
            let field = |i: usize, img: &[u8]| {
                usize::from_str_radix(
                    std::str::from_utf8(&img[pos + 6 + 8 * i..pos + 14 + 8 * i]).unwrap(),
                    16,
                )
                .unwrap()
            };
            let size = field(6, &img);
            let namesize = field(11, &img);
            let data_at = (pos + 110 + namesize).div_ceil(4) * 4;
            let sum: u32 = img[data_at..data_at + size].iter().map(|&b| u32::from(b)).sum();
            img[pos + 5] = b'2';
            img[pos + 102..pos + 110].copy_from_slice(format!("{sum:08X}").as_bytes());
            pos = (data_at + size).div_ceil(4) * 4;
        }
        img
    }

    #[test]
    fn crc_checksums_are_verified() {
        let entries = [
            RawCpioEntry::file("a", "hello"),
            RawCpioEntry::file("b", vec![0xffu8; 3000]),
        ];
        let img = to_crc(&entries);
        let (r, sink) = run_in_memory("cpio", &img, 1 << 20);
        r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(sink.file("b").unwrap().len(), 3000);
        let mut bad = img.clone();
        let at = bad.windows(5).position(|w| w == b"hello").unwrap();
        bad[at] = b'j';
        let (r, sink) = run_in_memory("cpio", &bad, 1 << 20);
        r.unwrap();
        assert_eq!(sink.problems.len(), 1);
        assert!(sink.problems[0].contains("checksum"));
    }

    fn odc(name: &[u8], mode: u32, data: &[u8], rdev: u32) -> Vec<u8> {
        let mut v = format!(
            "070707{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:011o}{:06o}{:011o}",
            0,
            1,
            mode,
            0,
            0,
            1,
            rdev,
            0,
            name.len() + 1,
            data.len()
        )
        .into_bytes();
        v.extend_from_slice(name);
        v.push(0);
        v.extend_from_slice(data);
        v
    }

    fn binary(le: bool, name: &[u8], mode: u16, data: &[u8]) -> Vec<u8> {
        let size = data.len() as u32;
        let words = [
            0o070707u16,
            0,
            7,
            mode,
            0,
            0,
            1,
            0,
            0,
            0,
            name.len() as u16 + 1,
            (size >> 16) as u16,
            size as u16,
        ];
        let mut v: Vec<u8> = words
            .iter()
            .flat_map(|w| if le { w.to_le_bytes() } else { w.to_be_bytes() })
            .collect();
        v.extend_from_slice(name);
        v.push(0);
        if v.len() % 2 == 1 {
            v.push(0);
        }
        v.extend_from_slice(data);
        if v.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    #[test]
    fn odc_and_binary_archives() {
        let mut img = odc(b"dir", 0o040755, b"", 0);
        img.extend(odc(b"dir/f", 0o100644, b"odc data", 0));
        img.extend(odc(b"tty", 0o020620, b"", (4 << 8) | 1));
        img.extend(odc(b"TRAILER!!!", 0, b"", 0));
        assert!(Cpio.probe(&img, None));
        let (r, sink) = run_in_memory("cpio", &img, 1 << 20);
        assert_eq!(r.unwrap().consumed, Some(img.len() as u64));
        assert_eq!(sink.file("dir/f"), Some(&b"odc data"[..]));
        assert!(
            sink.entries
                .contains(&(b"tty".to_vec(), Collected::Special("char", 4, 1)))
        );
        for le in [true, false] {
            let mut img = binary(le, b"x", 0o100644, b"bin!!");
            img.extend(binary(le, b"sl", 0o120777, b"x"));
            img.extend(binary(le, b"TRAILER!!!", 0, b""));
            assert!(Cpio.probe(&img, None), "le={le}");
            let (r, sink) = run_in_memory("cpio", &img, 1 << 20);
            assert_eq!(r.unwrap().consumed, Some(img.len() as u64));
            assert_eq!(sink.file("x"), Some(&b"bin!!"[..]));
            assert!(
                sink.entries
                    .contains(&(b"sl".to_vec(), Collected::Symlink(b"x".to_vec())))
            );
        }
    }

    #[test]
    fn hostile_names_and_sizes() {
        let mut big = RawCpioEntry::file("big", "tiny");
        big.declared_size = Some(u32::MAX);
        let mut long_link = RawCpioEntry::file("l", vec![b'a'; 5000]);
        long_link.mode = 0o120777;
        let mut huge_name = RawCpioEntry::file("n", "");
        huge_name.declared_namesize = Some(100_000);
        let img = cpio_entries(&[
            RawCpioEntry::file("../../etc/passwd", "x"),
            RawCpioEntry::file("/etc/shadow", "y"),
            long_link,
            RawCpioEntry::file("after", "ok"),
            big,
        ]);
        let (r, sink) = run_in_memory("cpio", &img, 1 << 20);
        assert!(matches!(r, Err(FormatError::Truncated { .. })), "{r:?}");
        assert_eq!(sink.names(), ["../../etc/passwd", "/etc/shadow", "after"]);
        assert_eq!(sink.problems.len(), 1, "{:?}", sink.problems);
        let img = cpio_entries(&[huge_name]);
        let (r, _) = run_in_memory("cpio", &img, 1 << 20);
        assert!(r.is_err());
    }

    #[test]
    fn truncation_and_corruption_never_panic() {
        let t = sample_tree();
        let img = cpio_newc(&t);
        let trailer = img.windows(10).position(|w| w == b"TRAILER!!!").unwrap();
        for cut in (0..trailer + 12).step_by(13) {
            let (r, sink) = run_in_memory("cpio", &img[..cut], 1 << 20);
            assert!(r.is_err() || !sink.problems.is_empty(), "cut {cut}");
            for (p, c) in &sink.entries {
                if let Collected::File(d) = c {
                    let p = String::from_utf8_lossy(p);
                    assert!(d.is_empty() || Some(d.as_slice()) == t.content(&p), "{p}");
                }
            }
        }
        let mut seed = 7u32;
        for i in 0..2000 {
            let mut bad = img.clone();
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (seed as usize >> 3) % bad.len();
            bad[at] = (seed >> 20) as u8 ^ (i as u8);
            let _ = run_in_memory("cpio", &bad, 1 << 20);
        }
    }

    #[test]
    fn hard_links_sharing_inode_across_many_entries_are_bounded() {
        // Many size-0 links waiting for data that never comes: they end as empty files.
        let entries: Vec<RawCpioEntry> = (0..200)
            .map(|i| RawCpioEntry {
                name: format!("l{i}").into_bytes(),
                mode: 0o100644,
                ino: 9,
                nlink: 500,
                ..Default::default()
            })
            .collect();
        let img = cpio_entries(&entries);
        let (r, sink) = run_in_memory("cpio", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.entries.len(), 200);
        assert_eq!(sink.entries[0], (b"l0".to_vec(), Collected::File(Vec::new())));
        assert_eq!(
            sink.entries[199],
            (b"l199".to_vec(), Collected::Hardlink(b"l0".to_vec()))
        );
    }

    #[test]
    fn padding_after_trailer_is_consumed_only_if_zero() {
        let img = cpio_entries(&[RawCpioEntry::file("a", "1")]);
        let mut more = img.clone();
        more.extend(b"070701 not more");
        let (r, _) = run_in_memory("cpio", &more, 1 << 20);
        assert_eq!(r.unwrap().consumed, Some(img.len() as u64));
        // Non-zero bytes inside the padding stop it.
        let mut dirty = img.clone();
        let last = dirty.len() - 3;
        dirty[last] = 1;
        let (r, _) = run_in_memory("cpio", &dirty, 1 << 20);
        assert_eq!(r.unwrap().consumed, Some(last as u64));
    }

    #[test]
    fn probe_is_strict() {
        assert!(!Cpio.probe(b"070701", None));
        let mut h = cpio_entries(&[RawCpioEntry::file("a", "1")]);
        assert!(Cpio.probe(&h, None));
        h[20] = b'G';
        assert!(!Cpio.probe(&h, None));
        assert!(!Cpio.probe(&[0xc7, 0x71, 0, 0], None));
        assert!(!Cpio.probe(&[0xc7, 0x71].repeat(100), None));
    }
}
