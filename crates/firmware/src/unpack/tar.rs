//! tar archives (v7, POSIX ustar and pax, GNU), read as a stream with a reader of our own.
//!
//! Why not the `tar` crate: it reads GNU long-name (`L`/`K`) and pax (`x`) records of whatever
//! size the header declares into memory, so a hostile archive can make it allocate gigabytes
//! before a single entry comes out. Here every such record is capped at [`MAX_META`] bytes;
//! larger ones are skipped (a problem is reported) and the stream goes on.
//!
//! Layout (POSIX.1-2017, `pax` utility, "ustar Interchange Format"; GNU tar manual, "Basic Tar
//! Format"): 512-byte header blocks, each followed by the member's data rounded up to 512
//! bytes; the archive ends with two zero blocks. Numeric fields are octal text, or GNU
//! base-256 when the top bit of the first byte is set. Names are passed to the sink as stored:
//! the engine contains them.

use std::io::{self, BufRead, Read};

use super::sink::ProblemCap;
use super::{Access, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked};

/// The tar format.
pub struct Tar;

static INFO: FormatInfo = FormatInfo {
    id: "tar",
    description: "tar archive (v7, ustar, pax, GNU)",
    access: Access::Stream,
    magics: &[Magic {
        offset: 257,
        bytes: b"ustar",
    }],
    codec: false,
};

/// Header and padding unit.
const BLOCK: u64 = 512;
/// Largest GNU long name/link or pax extended header kept in memory.
pub const MAX_META: u64 = 64 << 10;
/// Most old-GNU sparse extension blocks skipped for one member.
const MAX_GNU_SPARSE_EXT: u64 = 1 << 20;

impl Format for Tar {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        let Some(h) = head.get(..BLOCK as usize) else {
            return false;
        };
        if len.is_some_and(|l| l < BLOCK) || h.iter().all(|&b| b == 0) || !checksum_ok(h) {
            return false;
        }
        matches!(h.get(257..262), Some(b"ustar")) || plausible_v7(h)
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        ProblemCap::around(sink, |sink| match input {
            Input::Stream(r) => read_tar(r, sink),
            Input::Blob(b) => read_tar(&mut b.reader(), sink),
        })
    }
}

/// Position-tracking reader over the input stream, shared with the cpio reader.
pub(crate) struct Cursor<'a> {
    r: &'a mut dyn BufRead,
    /// Bytes consumed from the start of the archive.
    pub(crate) pos: u64,
}

impl<'a> Cursor<'a> {
    /// Wrap a stream whose current position is the archive's start.
    pub(crate) fn new(r: &'a mut dyn BufRead) -> Cursor<'a> {
        Cursor { r, pos: 0 }
    }

    /// Fill as much of `buf` as the stream holds; fewer bytes only at the end of the input.
    pub(crate) fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, FormatError> {
        let mut got = 0;
        while got < buf.len() {
            let rest = buf.get_mut(got..).unwrap_or_default();
            match self.read(rest) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(got)
    }

    /// Skip `n` bytes without copying them; returns how many there were (fewer at the end).
    pub(crate) fn skip(&mut self, n: u64) -> Result<u64, FormatError> {
        let mut left = n;
        while left > 0 {
            let avail = match self.r.fill_buf() {
                Ok(b) => b.len(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if avail == 0 {
                break;
            }
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(avail);
            self.r.consume(take);
            self.pos += take as u64;
            left -= take as u64;
        }
        Ok(n - left)
    }

    /// The next buffered bytes without consuming them (empty at the end of the input).
    pub(crate) fn peek(&mut self) -> Result<&[u8], FormatError> {
        loop {
            match self.r.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.r.fill_buf()?)
    }

    /// Consume `n` bytes already seen through [`Cursor::peek`].
    pub(crate) fn consume(&mut self, n: usize) {
        self.r.consume(n);
        self.pos += n as u64;
    }
}

impl Read for Cursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// An entry's data: at most `left` bytes of the cursor; the input ending first is an error,
/// so that a sink never takes a truncated file for a whole one.
pub(crate) struct DataReader<'c, 'a> {
    pub(crate) cur: &'c mut Cursor<'a>,
    pub(crate) left: u64,
    /// The input ended before `left` reached zero.
    pub(crate) short: bool,
    /// Wrapping byte sum of what was read (the cpio `070702` checksum).
    pub(crate) sum: u32,
}

impl<'c, 'a> DataReader<'c, 'a> {
    /// A reader of the next `len` bytes.
    pub(crate) fn new(cur: &'c mut Cursor<'a>, len: u64) -> DataReader<'c, 'a> {
        DataReader {
            cur,
            left: len,
            short: false,
            sum: 0,
        }
    }
}

impl Read for DataReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.left).unwrap_or(usize::MAX).min(buf.len());
        let Some(dst) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = self.cur.read(dst)?;
        if n == 0 {
            self.short = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive ends inside entry data",
            ));
        }
        self.left -= n as u64;
        for &b in dst.get(..n).unwrap_or_default() {
            self.sum = self.sum.wrapping_add(u32::from(b));
        }
        Ok(n)
    }
}

/// Header checksum (POSIX: sum of the header's bytes as unsigned chars with the checksum field
/// taken as spaces). Old tars summed signed chars; both are accepted.
fn checksum_ok(h: &[u8]) -> bool {
    let Some(field) = h.get(148..156) else {
        return false;
    };
    let Ok(stored) = octal(field) else { return false };
    let mut unsigned: i64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().take(BLOCK as usize).enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    i64::try_from(stored).is_ok_and(|s| s == unsigned || s == signed)
}

/// An octal text field: leading spaces/NULs, digits, then only spaces/NULs. Empty is 0.
fn octal(field: &[u8]) -> Result<u64, &'static str> {
    let mut v: u64 = 0;
    let mut i = 0;
    while field.get(i).is_some_and(|&b| b == b' ' || b == 0) {
        i += 1;
    }
    while let Some(&b) = field.get(i) {
        if !(b'0'..=b'7').contains(&b) {
            break;
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or("octal field overflows")?;
        i += 1;
    }
    if field
        .get(i..)
        .unwrap_or_default()
        .iter()
        .all(|&b| b == b' ' || b == 0)
    {
        Ok(v)
    } else {
        Err("non-octal byte in numeric field")
    }
}

/// A numeric field: octal text, or GNU base-256 (first byte 0x80 positive, 0xff negative).
fn number(field: &[u8]) -> Result<u64, &'static str> {
    match field.first() {
        Some(&f) if f & 0x80 != 0 => {
            if f == 0xff {
                return Err("negative base-256 number");
            }
            let mut v: u64 = u64::from(f & 0x7f);
            for &b in field.get(1..).unwrap_or_default() {
                v = v
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(u64::from(b)))
                    .ok_or("base-256 field overflows")?;
            }
            Ok(v)
        }
        _ => octal(field),
    }
}

/// A v7 header (no magic) that looks real: a printable NUL-terminated name, numeric fields
/// that are octal, a known type flag.
fn plausible_v7(h: &[u8]) -> bool {
    let name = cstr(h.get(..100).unwrap_or_default());
    if name.is_empty() || name.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return false;
    }
    let numeric = [100..108, 108..116, 116..124, 124..136, 136..148];
    if numeric.iter().any(|r| {
        h.get(r.clone())
            .is_none_or(|f| octal(f).is_err() || f.iter().all(|&b| b == 0))
    }) {
        return false;
    }
    matches!(h.get(156), Some(b'\0' | b'0'..=b'7'))
}

/// The bytes of a field up to its first NUL.
fn cstr(field: &[u8]) -> &[u8] {
    match memchr::memchr(0, field) {
        Some(n) => field.get(..n).unwrap_or_default(),
        None => field,
    }
}

/// Round up to the next block.
fn padded(size: u64) -> Option<u64> {
    size.checked_add(BLOCK - 1).map(|s| s / BLOCK * BLOCK)
}

/// Overrides collected from GNU `L`/`K` and pax `x` records for the next member.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
    pax_size: Option<u64>,
    pax_mode: Option<u32>,
    sparse: bool,
}

/// Which header layout the archive used (from the first member header).
fn dialect(h: &[u8]) -> &'static str {
    match h.get(257..265) {
        Some(b"ustar  \0") => "gnu",
        Some(m) if m.starts_with(b"ustar") => "ustar",
        _ => "v7",
    }
}

/// Parse pax extended-header records (`"%d %s=%s\n"`, the length counting the whole record)
/// into `p`. A damaged record ends the parse with a problem; what came before stays.
fn parse_pax(data: &[u8], p: &mut Pending, off: u64, sink: &mut dyn Sink) {
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let Some(sp) = memchr::memchr(b' ', rest) else {
            sink.problem(Some(off), "pax record without a length".into());
            return;
        };
        let len = std::str::from_utf8(rest.get(..sp).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        let Some(rec) = len.filter(|&l| l > sp + 1).and_then(|l| rest.get(..l)) else {
            sink.problem(Some(off), "pax record length is invalid".into());
            return;
        };
        rest = rest.get(rec.len()..).unwrap_or_default();
        // Record body: "key=value\n".
        let body = rec.get(sp + 1..).unwrap_or_default();
        let body = body.strip_suffix(b"\n").unwrap_or(body);
        let Some(eq) = memchr::memchr(b'=', body) else {
            sink.problem(Some(off), "pax record without '='".into());
            continue;
        };
        let key = body.get(..eq).unwrap_or_default();
        let value = body.get(eq + 1..).unwrap_or_default();
        match key {
            b"path" => p.pax_path = Some(value.to_vec()),
            b"linkpath" => p.pax_link = Some(value.to_vec()),
            b"size" => match std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                Some(s) => p.pax_size = Some(s),
                None => sink.problem(Some(off), "pax size is not a decimal number".into()),
            },
            b"mode" => match std::str::from_utf8(value)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 8).ok())
            {
                Some(m) => p.pax_mode = Some(m & 0o7777),
                None => sink.problem(Some(off), "pax mode is not an octal number".into()),
            },
            k if k.starts_with(b"GNU.sparse.") => p.sparse = true,
            _ => {}
        }
    }
}

/// Read a metadata record's data (GNU long name/link, pax header) if it is at most
/// [`MAX_META`] bytes; otherwise skip it and report. `None` also when skipped.
fn read_meta(
    cur: &mut Cursor<'_>,
    size: u64,
    off: u64,
    what: &str,
    sink: &mut dyn Sink,
) -> Result<Option<Vec<u8>>, FormatError> {
    let span = padded(size).ok_or_else(|| FormatError::malformed(off, "member size overflows"))?;
    if size > MAX_META {
        sink.problem(
            Some(off),
            format!("{what} record of {size} bytes exceeds {MAX_META}; skipped"),
        );
        skip_exact(cur, span)?;
        return Ok(None);
    }
    // Bounded by MAX_META above.
    let mut buf = vec![0u8; size as usize];
    let got = cur.read_full(&mut buf)?;
    if got < buf.len() {
        return Err(FormatError::Truncated {
            offset: cur.pos,
            needed: (buf.len() - got) as u64,
        });
    }
    skip_exact(cur, span - size)?;
    Ok(Some(buf))
}

/// Skip exactly `n` bytes or report where the input ended.
fn skip_exact(cur: &mut Cursor<'_>, n: u64) -> Result<(), FormatError> {
    let got = cur.skip(n)?;
    if got < n {
        return Err(FormatError::Truncated {
            offset: cur.pos,
            needed: n - got,
        });
    }
    Ok(())
}

/// Read every member of a tar stream into `sink`.
fn read_tar(r: &mut dyn BufRead, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
    let mut cur = Cursor::new(r);
    let mut hdr = [0u8; BLOCK as usize];
    let mut pending = Pending::default();
    let mut zero_blocks = 0u32;
    let mut members = 0u64;
    let mut kind: Option<&'static str> = None;
    let mut pax_seen = false;
    let end = loop {
        let off = cur.pos;
        let got = cur.read_full(&mut hdr)?;
        if got == 0 {
            if off == 0 {
                return Err(FormatError::Truncated {
                    offset: 0,
                    needed: BLOCK,
                });
            }
            if zero_blocks == 0 {
                sink.problem(Some(off), "archive ends without end-of-archive blocks".into());
            }
            break off;
        }
        if got < hdr.len() {
            return Err(FormatError::Truncated {
                offset: off + got as u64,
                needed: BLOCK - got as u64,
            });
        }
        if hdr.iter().all(|&b| b == 0) {
            zero_blocks += 1;
            if zero_blocks == 2 {
                break cur.pos;
            }
            continue;
        }
        if !checksum_ok(&hdr) {
            if off == 0 {
                return Err(FormatError::malformed(0, "tar header checksum mismatch"));
            }
            // Not a header: the archive ended earlier (trailing data, or a lone zero block).
            sink.problem(
                Some(off),
                "block after the last member is not a valid tar header; stopped".into(),
            );
            break off - u64::from(zero_blocks) * BLOCK;
        }
        if zero_blocks == 1 {
            sink.problem(
                Some(off - BLOCK),
                "lone zero block inside the archive; continuing".into(),
            );
        }
        zero_blocks = 0;
        kind.get_or_insert(dialect(&hdr));
        let header_size = number(hdr.get(124..136).unwrap_or_default())
            .map_err(|why| FormatError::malformed(off + 124, why))?;
        let typeflag = hdr.get(156).copied().unwrap_or(0);
        match typeflag {
            b'L' | b'K' => {
                if let Some(mut v) = read_meta(&mut cur, header_size, off, "GNU long name", sink)? {
                    v.truncate(cstr(&v).len());
                    if typeflag == b'L' {
                        pending.long_name = Some(v);
                    } else {
                        pending.long_link = Some(v);
                    }
                }
                continue;
            }
            b'x' | b'X' => {
                pax_seen = true;
                if let Some(v) = read_meta(&mut cur, header_size, off, "pax extended header", sink)? {
                    parse_pax(&v, &mut pending, off, sink);
                }
                continue;
            }
            b'g' => {
                pax_seen = true;
                skip_exact(
                    &mut cur,
                    padded(header_size).ok_or_else(|| FormatError::malformed(off, "size overflows"))?,
                )?;
                continue;
            }
            _ => {}
        }
        members += 1;
        let p = std::mem::take(&mut pending);
        let size = p.pax_size.unwrap_or(header_size);
        let span = padded(size).ok_or_else(|| FormatError::malformed(off + 124, "member size overflows"))?;
        let name = member_name(&hdr, &p);
        let link = p
            .long_link
            .or(p.pax_link)
            .unwrap_or_else(|| cstr(hdr.get(157..257).unwrap_or_default()).to_vec());
        let mode = p.pax_mode.or_else(|| {
            octal(hdr.get(100..108).unwrap_or_default())
                .ok()
                .map(|m| (m & 0o7777) as u32)
        });
        if typeflag == b'S' || p.sparse {
            sink.problem(
                Some(off),
                format!(
                    "GNU sparse member `{}` is unsupported; skipped",
                    String::from_utf8_lossy(&name)
                ),
            );
            if typeflag == b'S' && hdr.get(482).is_some_and(|&b| b != 0) {
                skip_sparse_extensions(&mut cur)?;
            }
            skip_exact(&mut cur, span)?;
            continue;
        }
        let dev = |r: std::ops::Range<usize>| {
            number(hdr.get(r).unwrap_or_default())
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        let mut data_left = span;
        let entry_kind = match typeflag {
            b'1' => Some(EntryKind::Hardlink(&link)),
            b'2' => Some(EntryKind::Symlink(&link)),
            b'3' | b'4' => {
                let what = if typeflag == b'3' { "char" } else { "block" };
                Some(EntryKind::Special {
                    what,
                    major: dev(329..337),
                    minor: dev(337..345),
                })
            }
            b'5' | b'D' => Some(EntryKind::Dir),
            b'6' => Some(EntryKind::Special {
                what: "fifo",
                major: 0,
                minor: 0,
            }),
            b'V' => None,
            // Old tars marked directories only by a trailing slash on a "file" name.
            b'0' | 0 if name.ends_with(b"/") && size == 0 => Some(EntryKind::Dir),
            _ => {
                if typeflag == b'M' {
                    sink.problem(
                        Some(off),
                        "GNU multi-volume continuation member; its data is partial".into(),
                    );
                }
                let mut data = DataReader::new(&mut cur, size);
                let res = sink.entry(Entry {
                    path: &name,
                    kind: EntryKind::File(&mut data),
                    mode,
                    offset: Some(off),
                });
                let (short, left) = (data.short, data.left);
                if short {
                    return Err(FormatError::Truncated {
                        offset: cur.pos,
                        needed: left,
                    });
                }
                res?;
                data_left = span - (size - left);
                None
            }
        };
        if let Some(k) = entry_kind {
            sink.entry(Entry {
                path: &name,
                kind: k,
                mode,
                offset: Some(off),
            })?;
        }
        // Always move by the declared size, whatever the sink read.
        skip_exact(&mut cur, data_left)?;
    };
    let details = serde_json::json!({
        "dialect": if pax_seen { "pax" } else { kind.unwrap_or("empty") },
        "members": members,
    });
    Ok(Unpacked {
        consumed: Some(end),
        details,
    })
}

/// The member's full name: pax `path`, else GNU long name, else ustar prefix + `/` + name.
fn member_name(hdr: &[u8], p: &Pending) -> Vec<u8> {
    if let Some(n) = p.pax_path.as_ref().or(p.long_name.as_ref()) {
        return n.clone();
    }
    let name = cstr(hdr.get(..100).unwrap_or_default());
    // The prefix field exists only in POSIX ustar; GNU keeps other data (atime, ctime) there.
    let prefix = if hdr.get(257..263) == Some(b"ustar\0") {
        cstr(hdr.get(345..500).unwrap_or_default())
    } else {
        &[]
    };
    if prefix.is_empty() {
        return name.to_vec();
    }
    let mut full = Vec::with_capacity(prefix.len() + 1 + name.len());
    full.extend_from_slice(prefix);
    full.push(b'/');
    full.extend_from_slice(name);
    full
}

/// Skip old-GNU sparse extension headers (each a 512-byte block whose byte 504 says whether
/// another follows), bounded so a chain cannot run forever on an endless input.
fn skip_sparse_extensions(cur: &mut Cursor<'_>) -> Result<(), FormatError> {
    let mut blk = [0u8; BLOCK as usize];
    for _ in 0..MAX_GNU_SPARSE_EXT {
        let got = cur.read_full(&mut blk)?;
        if got < blk.len() {
            return Err(FormatError::Truncated {
                offset: cur.pos,
                needed: BLOCK - got as u64,
            });
        }
        if blk.get(504).is_none_or(|&b| b == 0) {
            return Ok(());
        }
    }
    Err(FormatError::structure("GNU sparse extension chain too long"))
}

#[cfg(test)]
mod tests {
    use hashward_fixtures::archive::{RawTarEntry, TarStyle, tar, tar_entries};
    use hashward_fixtures::tree::Tree;

    use super::*;
    use crate::unpack::{Collected, MemorySink, run_in_memory};

    /// A tree with everything tar can hold.
    pub(crate) fn sample_tree() -> Tree {
        let mut t = Tree::new();
        let long_dir = "d".repeat(60);
        let long_name = format!("{long_dir}/{}/{}", "e".repeat(70), "f".repeat(90));
        t.file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
            .file("empty", "")
            .file_mode(
                "bin/busybox",
                (0..5000u32).flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>(),
                0o755,
            )
            .file("exactly512", vec![7u8; 512])
            .file(&long_name, "deep")
            .symlink("bin/sh", "busybox")
            .symlink("lnk-long", &"t/".repeat(80))
            .hardlink("etc/passwd.bak", "etc/passwd")
            .chardev("dev/console", 5, 1)
            .dir("var/empty");
        t
    }

    fn norm(p: &[u8]) -> String {
        let s = String::from_utf8_lossy(p);
        s.trim_start_matches("./").trim_end_matches('/').to_owned()
    }

    /// Check that the sink holds exactly the tree (hard links as given).
    pub(crate) fn assert_same(tree: &Tree, sink: &MemorySink) {
        let mut got = std::collections::BTreeMap::new();
        for (p, c) in &sink.entries {
            got.insert(norm(p), c.clone());
        }
        for (path, node) in &tree.nodes {
            let c = got.remove(path).unwrap_or_else(|| panic!("missing {path}"));
            match (node, &c) {
                (hashward_fixtures::Node::Dir, Collected::Dir) => {}
                (hashward_fixtures::Node::File { data, .. }, Collected::File(d)) => {
                    assert_eq!(d, data, "{path}")
                }
                (hashward_fixtures::Node::Symlink(t), Collected::Symlink(x)) => {
                    assert_eq!(x, t.as_bytes(), "{path}")
                }
                (hashward_fixtures::Node::Hardlink(t), Collected::Hardlink(x)) => {
                    assert_eq!(x, t.as_bytes(), "{path}")
                }
                (hashward_fixtures::Node::CharDev(a, b), Collected::Special("char", x, y)) => {
                    assert_eq!((a, b), (x, y), "{path}")
                }
                (n, c) => panic!("{path}: {n:?} came back as {c:?}"),
            }
        }
        assert!(got.is_empty(), "extra entries {:?}", got.keys());
    }

    #[test]
    fn round_trips_every_style() {
        let t = sample_tree();
        for style in [TarStyle::Ustar, TarStyle::Gnu, TarStyle::Pax] {
            let img = tar(&t, style);
            assert!(Tar.probe(&img, Some(img.len() as u64)), "{style:?}");
            let (r, sink) = run_in_memory("tar", &img, 1 << 20);
            let r = r.unwrap_or_else(|e| panic!("{style:?}: {e}"));
            assert_eq!(r.consumed, Some(img.len() as u64));
            assert!(sink.problems.is_empty(), "{style:?}: {:?}", sink.problems);
            assert_same(&t, &sink);
        }
    }

    #[test]
    fn consumed_stops_at_end_blocks() {
        let mut t = Tree::new();
        t.file_mode("x", "abc", 0o4755);
        let mut img = tar(&t, TarStyle::Ustar);
        let n = img.len() as u64;
        img.extend(vec![0u8; 8192]);
        img.extend(b"trailing");
        let mut sink = MemorySink::with_budget(1 << 20);
        let blob = crate::unpack::Blob::from_vec(img);
        let r = Tar
            .unpack(Input::Blob(&blob), &Ctx { name: "t", keys: &[] }, &mut sink)
            .unwrap();
        assert_eq!(r.consumed, Some(n));
    }

    #[test]
    fn hostile_names_pass_through_raw() {
        let img = tar_entries(&[
            RawTarEntry::file("../../etc/passwd", "x"),
            RawTarEntry::file("/etc/shadow", "y"),
            RawTarEntry::file("./etc/x", "z"),
            RawTarEntry::link("x", b'2', "../../.."),
            RawTarEntry::file(vec![b'a'; 300], "long"),
            RawTarEntry::file(b"bad\xff\x01name".to_vec(), ""),
        ]);
        let (r, sink) = run_in_memory("tar", &img, 1 << 20);
        r.unwrap();
        let names: Vec<&[u8]> = sink.entries.iter().map(|(p, _)| p.as_slice()).collect();
        assert_eq!(
            names[..4],
            [&b"../../etc/passwd"[..], b"/etc/shadow", b"./etc/x", b"x"]
        );
        assert_eq!(names[4], vec![b'a'; 300].as_slice());
        assert_eq!(names[5], b"bad\xff\x01name");
        assert_eq!(sink.entries[3].1, Collected::Symlink(b"../../..".to_vec()));
    }

    #[test]
    fn truncation_anywhere_never_panics_and_keeps_complete_members() {
        let t = sample_tree();
        for style in [TarStyle::Gnu, TarStyle::Pax] {
            let img = tar(&t, style);
            for cut in
                (0..img.len())
                    .step_by(97)
                    .chain([511, 512, 513, 1024, img.len() - 1024, img.len() - 1])
            {
                let (r, sink) = run_in_memory("tar", &img[..cut], 1 << 20);
                if cut % 512 != 0 {
                    assert!(r.is_err(), "cut {cut} accepted");
                }
                // Whatever came out is a prefix of the real member list, whole.
                for (p, c) in &sink.entries {
                    if let Collected::File(d) = c {
                        assert_eq!(Some(d.as_slice()), t.content(&norm(p)), "{}", norm(p));
                    }
                }
            }
        }
    }

    #[test]
    fn random_corruption_never_panics() {
        let t = sample_tree();
        let img = tar(&t, TarStyle::Pax);
        let mut seed = 0x9e37_79b9u32;
        for i in 0..1500 {
            let mut bad = img.clone();
            for _ in 0..1 + i % 3 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                // Mostly header bytes: the first 512 of some block.
                let block = (seed as usize >> 8) % (bad.len() / 512);
                let at = block * 512 + (seed as usize >> 2) % 512;
                bad[at] = (seed >> 24) as u8;
            }
            let _ = run_in_memory("tar", &bad, 1 << 20);
        }
    }

    #[test]
    fn huge_declared_size_is_truncated_not_allocated() {
        let mut e = RawTarEntry::file("big", "tiny");
        e.declared_size = Some(1 << 40);
        let img = tar_entries(&[e]);
        let (r, _) = run_in_memory("tar", &img, 1 << 20);
        assert!(matches!(r, Err(FormatError::Truncated { .. })), "{r:?}");
        // Base-256 sizes near u64::MAX overflow the padding and are refused.
        let mut e = RawTarEntry::file("big", "tiny");
        e.declared_size = Some(u64::MAX - 3);
        let img = tar_entries(&[e]);
        let (r, _) = run_in_memory("tar", &img, 1 << 20);
        assert!(r.is_err());
    }

    #[test]
    fn oversized_long_name_and_pax_records_are_skipped() {
        let mut rec = RawTarEntry::file("././@LongLink", vec![b'n'; (MAX_META + 10) as usize]);
        rec.typeflag = b'L';
        let mut pax = RawTarEntry::file("PaxHeaders/x", vec![b'9'; (MAX_META + 1) as usize]);
        pax.typeflag = b'x';
        let img = tar_entries(&[
            rec,
            RawTarEntry::file("after", "ok"),
            pax,
            RawTarEntry::file("after2", "ok2"),
        ]);
        let (r, sink) = run_in_memory("tar", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("after"), Some(&b"ok"[..]));
        assert_eq!(sink.file("after2"), Some(&b"ok2"[..]));
        assert_eq!(sink.problems.len(), 2, "{:?}", sink.problems);
    }

    #[test]
    fn damaged_pax_records_do_not_panic() {
        for body in [
            &b"99999999999999999999 path=x\n"[..],
            b"5 path=x\n",
            b"x",
            b"3 =\n",
            b"12 size=abc\n",
            b"0 \n",
        ] {
            let mut pax = RawTarEntry::file("P", body.to_vec());
            pax.typeflag = b'x';
            let img = tar_entries(&[pax, RawTarEntry::file("f", "data")]);
            let (r, sink) = run_in_memory("tar", &img, 1 << 20);
            r.unwrap();
            assert_eq!(sink.file("f"), Some(&b"data"[..]));
        }
    }

    #[test]
    fn sparse_and_unknown_types() {
        let mut s = RawTarEntry::file("sparse", vec![1u8; 600]);
        s.typeflag = b'S';
        let mut u = RawTarEntry::file("weird", "content");
        u.typeflag = b'Z';
        let img = tar_entries(&[s, u, RawTarEntry::file("last", "L")]);
        let (r, sink) = run_in_memory("tar", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("weird"), Some(&b"content"[..]));
        assert_eq!(sink.file("last"), Some(&b"L"[..]));
        assert!(sink.file("sparse").is_none());
        assert_eq!(sink.problems.len(), 1);
    }

    #[test]
    fn corrupted_checksums() {
        let t = sample_tree();
        let img = tar(&t, TarStyle::Ustar);
        let mut bad = img.clone();
        bad[10] ^= 0x55;
        assert!(!Tar.probe(&bad, None));
        assert!(run_in_memory("tar", &bad, 1 << 20).0.is_err());
        // A later header corrupted: earlier members out, a problem, consumed up to there.
        let mut bad = img.clone();
        bad[512 + 3] ^= 0x55;
        let (r, sink) = run_in_memory("tar", &bad, 1 << 20);
        let r = r.unwrap();
        assert!(r.consumed.unwrap() < img.len() as u64);
        assert!(!sink.problems.is_empty());
    }

    #[test]
    fn numeric_fields() {
        assert_eq!(octal(b"0000755\0"), Ok(0o755));
        assert_eq!(octal(b"  755 \0"), Ok(0o755));
        assert_eq!(octal(b"\0\0\0"), Ok(0));
        assert!(octal(b"0009").is_err());
        assert!(octal(b"77777777777777777777777777").is_err());
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Ok(256));
        assert!(number(&[0xff; 12]).is_err());
        assert!(number(&[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn v7_headers_are_probed_by_checksum_signed_or_unsigned() {
        let mut t = Tree::new();
        t.file("hello.txt", "hi");
        let mut img = tar(&t, TarStyle::Ustar);
        // Strip the ustar part to make a v7 header and fix the checksum.
        for b in &mut img[257..512] {
            *b = 0;
        }
        let fix = |h: &mut [u8], signed: bool| {
            h[148..156].copy_from_slice(b"        ");
            let s: i64 = h[..512]
                .iter()
                .map(|&b| if signed { i64::from(b as i8) } else { i64::from(b) })
                .sum();
            h[148..156].copy_from_slice(format!("{s:06o}\0 ").as_bytes());
        };
        fix(&mut img, false);
        assert!(Tar.probe(&img, None));
        let (r, sink) = run_in_memory("tar", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("hello.txt"), Some(&b"hi"[..]));
        img[50] = 0xe9; // a high byte inside the name area (after its NUL) makes the sums differ
        fix(&mut img, true);
        assert!(checksum_ok(&img));
        assert!(!Tar.probe(&[0u8; 512], None));
        let mut junk = [b'A'; 512];
        fix(&mut junk, false);
        assert!(!Tar.probe(&junk, None), "octal fields required");
    }

    #[test]
    fn sink_that_reads_nothing_still_advances() {
        struct Lazy(Vec<Vec<u8>>);
        impl Sink for Lazy {
            fn entry(&mut self, e: Entry<'_>) -> Result<(), FormatError> {
                self.0.push(e.path.to_vec());
                if let EntryKind::File(r) = e.kind {
                    let mut one = [0u8; 1];
                    let _ = r.read(&mut one);
                }
                Ok(())
            }
            fn problem(&mut self, _: Option<u64>, _: String) {}
        }
        let t = sample_tree();
        let img = tar(&t, TarStyle::Gnu);
        let mut sink = Lazy(Vec::new());
        let blob = crate::unpack::Blob::from_vec(img);
        Tar.unpack(Input::Blob(&blob), &Ctx { name: "t", keys: &[] }, &mut sink)
            .unwrap();
        assert_eq!(sink.0.len(), t.nodes.len());
    }
}
