//! JFFS2 (the journalling flash file system, version 2): the C5 control board's rootfs (Gen-2).
//!
//! An own reader rather than the `jffs2` crate: that crate compiles bundled GPL C (rubin, lzo2)
//! with cmake, which the pure-Rust, `forbid(unsafe_code)` workspace cannot take.
//!
//! Layout (Linux `include/uapi/linux/jffs2.h`): a log of nodes, each 4-byte aligned, starting
//! with `magic 0x1985, nodetype, totlen, hdr_crc`. Erase blocks not yet written, and the tail of
//! each block, read as `0xFF`. A directory entry (`DIRENT`) names an inode inside its parent
//! directory; an `INODE` node carries the inode's metadata plus one compressed piece of its data
//! (at most a page). The newest version wins, for a name and for each byte range of a file.
//! CRCs are the kernel's `crc32(0, ..)`: CRC-32 (reflected, polynomial 0xEDB88320) with seed 0
//! and no final inversion; a node whose type lost its `ACCURATE` bit was made obsolete in place,
//! so its header CRC is computed with the bit set again.
//!
//! Compression ids are the kernel's (`JFFS2_COMPR_*`): 0 none, 1 zero, 2 rtime, 3 rubinmips,
//! 4 copy, 5 dynrubin, 6 zlib, 7 lzo, 8 lzma. None, zero, rtime, zlib and lzo are read; the
//! others are reported as problems and their ranges read as zeros.
//!
//! The reader scans the whole image once, keeping for each data node only where it is, its
//! version and its byte range; files are then streamed, decompressing one node at a time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};
use std::rc::Rc;

use super::codec::{Codec, decompress};
use super::sink::ProblemCap;
use super::{
    Access, Blob, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked,
};

/// The `jffs2` format.
pub struct Jffs2;

static INFO: FormatInfo = FormatInfo {
    id: "jffs2",
    description: "JFFS2 flash file system (little- or big-endian)",
    access: Access::Random,
    // Two bytes are weak: `probe` checks the node type and the header CRC as well.
    magics: &[
        Magic {
            offset: 0,
            bytes: &[0x85, 0x19],
        },
        Magic {
            offset: 0,
            bytes: &[0x19, 0x85],
        },
    ],
    codec: false,
};

const MAGIC: u16 = 0x1985;
/// Set on every node type that is current; cleared in place when a node becomes obsolete.
const ACCURATE: u16 = 0x2000;
/// The two compatibility bits: `11` = incompatible (must understand), `10` = read-only compatible.
const COMPAT_MASK: u16 = 0xc000;
const INCOMPAT: u16 = 0xc000;
const NT_DIRENT: u16 = 0xe001;
const NT_INODE: u16 = 0xe002;
const NT_CLEANMARKER: u16 = 0x2003;
const NT_PADDING: u16 = 0x2004;
const NT_SUMMARY: u16 = 0x2006;
const NT_XATTR: u16 = 0xe008;
const NT_XREF: u16 = 0xe009;

/// Common node header: magic, nodetype, totlen, hdr_crc.
const HDR_LEN: usize = 12;
/// `struct jffs2_raw_dirent` without the name; `node_crc` covers its first 32 bytes.
const DIRENT_LEN: usize = 40;
/// `struct jffs2_raw_inode` without the data; `node_crc` covers its first 60 bytes.
const INODE_LEN: usize = 68;

/// Largest compressed or uncompressed payload of one data node accepted. Linux writes at most
/// one page (4 KiB; 64 KiB on some architectures); anything far larger is hostile.
const MAX_NODE_DATA: u32 = 1 << 20;
/// Largest node accepted at all.
const MAX_TOTLEN: u32 = MAX_NODE_DATA + INODE_LEN as u32;
/// Cap on nodes kept in memory (well under 200 bytes each with their maps), whatever the
/// image size: keeps peak memory far below 256 MiB. A real rootfs has a few thousand.
const MAX_NODES: usize = 1_000_000;
/// Directory nesting accepted.
const MAX_DEPTH: usize = 256;
/// A file may claim more bytes than its data nodes cover (a sparse tail), but not absurdly more.
const MAX_SPARSE_TAIL: u64 = 16 << 20;
/// Symlink targets and device numbers are small.
const MAX_LINK: u32 = 4096;
/// Scan window.
const WINDOW: usize = 1 << 20;

/// The inode number of the root directory.
const ROOT_INO: u32 = 1;

/// JFFS2 CRC-32: seed 0, no pre- or post-inversion (the kernel's `crc32(0, p, len)`).
pub fn crc(data: &[u8]) -> u32 {
    // crc32fast computes !raw(!init); with init = !0 that is !raw(0).
    let mut h = crc32fast::Hasher::new_with_initial(0xffff_ffff);
    h.update(data);
    !h.finalize()
}

/// Byte order of the image (JFFS2 is written in the CPU's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let mut a = [0u8; 2];
        if let Some(s) = b.get(at..at + 2) {
            a.copy_from_slice(s);
        }
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }

    fn u32(self, b: &[u8], at: usize) -> u32 {
        let mut a = [0u8; 4];
        if let Some(s) = b.get(at..at + 4) {
            a.copy_from_slice(s);
        }
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endian::Little => "little",
            Endian::Big => "big",
        }
    }
}

/// A valid node header at the start of `b`: its byte order, type and total length.
fn parse_header(b: &[u8], want: Option<Endian>) -> Option<(Endian, u16, u32)> {
    let hdr = b.get(..HDR_LEN)?;
    let endian = match (hdr[0], hdr[1]) {
        (0x85, 0x19) => Endian::Little,
        (0x19, 0x85) => Endian::Big,
        _ => return None,
    };
    if want.is_some_and(|w| w != endian) {
        return None;
    }
    if endian.u16(hdr, 0) != MAGIC {
        return None;
    }
    let nodetype = endian.u16(hdr, 2);
    let totlen = endian.u32(hdr, 4);
    let hdr_crc = endian.u32(hdr, 8);
    // Obsolete nodes had ACCURATE cleared after the CRC was written (jffs2 scan.c does the same).
    let mut check = [0u8; 8];
    check.copy_from_slice(&hdr[..8]);
    let accurate = nodetype | ACCURATE;
    let bytes = match endian {
        Endian::Little => accurate.to_le_bytes(),
        Endian::Big => accurate.to_be_bytes(),
    };
    check[2..4].copy_from_slice(&bytes);
    if crc(&check) != hdr_crc || (totlen as usize) < HDR_LEN {
        return None;
    }
    Some((endian, nodetype, totlen))
}

fn align4(n: u64) -> u64 {
    n.saturating_add(3) & !3
}

/// One piece of a file's data, as found in the scan.
#[derive(Debug, Clone, Copy)]
struct DataNode {
    /// Where the node starts in the image.
    pos: u64,
    version: u32,
    /// Offset of this piece inside the file.
    offset: u32,
    /// Uncompressed length.
    dsize: u32,
    /// Compressed length (what follows the 68-byte header).
    csize: u32,
    compr: u8,
}

/// What the scan keeps about one inode.
#[derive(Debug, Default)]
struct InodeRec {
    /// Newest version seen: its node gives mode and size.
    version: u32,
    mode: u32,
    isize: u32,
    /// The newest node (for symlink targets and device numbers, which are its data).
    latest: Option<DataNode>,
    nodes: Vec<DataNode>,
}

/// The newest directory entry for one (parent, name).
#[derive(Debug, Clone, Copy)]
struct DirentRec {
    version: u32,
    ino: u32,
    dtype: u8,
    pos: u64,
}

/// Sequential window over the blob, refilled as the scan moves on.
struct Window<'a> {
    blob: &'a Blob,
    start: u64,
    buf: Vec<u8>,
}

impl<'a> Window<'a> {
    fn new(blob: &'a Blob) -> Window<'a> {
        Window {
            blob,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// `len` bytes at `off`, or `None` if the blob ends first.
    fn get(&mut self, off: u64, len: usize) -> Result<Option<&[u8]>, FormatError> {
        let end = match off.checked_add(len as u64) {
            Some(e) if e <= self.blob.len() => e,
            _ => return Ok(None),
        };
        let have_end = self.start + self.buf.len() as u64;
        if off < self.start || end > have_end {
            let n = (self.blob.len() - off).min(WINDOW.max(len) as u64) as usize;
            self.buf.resize(n, 0);
            self.blob.read_exact_at(off, &mut self.buf)?;
            self.start = off;
        }
        let s = (off - self.start) as usize;
        Ok(self.buf.get(s..s + len))
    }

    /// The first 4-byte aligned offset at or after `off` whose word is not all `0xFF`
    /// (or the blob's end).
    fn skip_erased(&mut self, mut off: u64) -> Result<u64, FormatError> {
        loop {
            let avail = (self.blob.len().saturating_sub(off)).min(WINDOW as u64) as usize;
            if avail < 4 {
                return Ok(self.blob.len());
            }
            let Some(chunk) = self.get(off, avail)? else {
                return Ok(self.blob.len());
            };
            match chunk.iter().position(|&b| b != 0xff) {
                Some(p) => return Ok((off + p as u64) & !3),
                None => off += avail as u64,
            }
        }
    }
}

/// Everything the scan found.
#[derive(Default)]
struct Scan {
    endian: Option<Endian>,
    inodes: HashMap<u32, InodeRec>,
    dirents: HashMap<(u32, Vec<u8>), DirentRec>,
    counts: BTreeMap<&'static str, u64>,
    compr: BTreeMap<u8, u64>,
    /// End of the last valid node.
    last_end: u64,
    nodes: usize,
}

impl Scan {
    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }
}

/// Walk every node of the image.
fn scan(blob: &Blob, sink: &mut dyn Sink) -> Result<Scan, FormatError> {
    let mut s = Scan::default();
    let mut win = Window::new(blob);
    let len = blob.len();
    let mut off = 0u64;
    // Start of a run of bytes that are neither a node nor erased flash, reported once per run.
    let mut junk_from: Option<u64> = None;
    while off.saturating_add(HDR_LEN as u64) <= len {
        let Some(hdr) = win.get(off, HDR_LEN)? else { break };
        if hdr[..4] == [0xff; 4] {
            flush_junk(&mut junk_from, off, sink);
            off = win.skip_erased(off)?;
            continue;
        }
        let parsed = parse_header(hdr, s.endian);
        let Some((endian, nodetype, totlen)) = parsed else {
            junk_from.get_or_insert(off);
            off += 4;
            continue;
        };
        if totlen > MAX_TOTLEN || off + u64::from(totlen) > len {
            sink.problem(Some(off), format!("node of {totlen} bytes does not fit; skipped"));
            off += 4;
            continue;
        }
        flush_junk(&mut junk_from, off, sink);
        s.endian.get_or_insert(endian);
        let next = align4(off + u64::from(totlen));
        let Some(node) = win.get(off, totlen as usize)? else {
            break;
        };
        if nodetype & ACCURATE == 0 {
            s.count("obsolete");
        } else {
            match nodetype {
                NT_DIRENT => dirent(&mut s, endian, node, off, sink),
                NT_INODE => inode(&mut s, endian, node, off, sink),
                NT_CLEANMARKER => s.count("cleanmarker"),
                NT_PADDING => s.count("padding"),
                NT_SUMMARY => s.count("summary"),
                NT_XATTR | NT_XREF => s.count("xattr"),
                t if t & COMPAT_MASK == INCOMPAT => {
                    sink.problem(
                        Some(off),
                        format!("unknown incompatible node type {t:#06x}; skipped"),
                    );
                    s.count("unknown");
                }
                _ => s.count("unknown"),
            }
        }
        s.last_end = off + u64::from(totlen);
        off = next;
        if s.nodes >= MAX_NODES {
            sink.problem(
                Some(off),
                format!("more than {MAX_NODES} nodes; the rest of the image is not read"),
            );
            break;
        }
    }
    flush_junk(&mut junk_from, off.min(len), sink);
    Ok(s)
}

fn flush_junk(junk_from: &mut Option<u64>, to: u64, sink: &mut dyn Sink) {
    if let Some(from) = junk_from.take() {
        sink.problem(
            Some(from),
            format!(
                "{} bytes that are not JFFS2 nodes skipped",
                to.saturating_sub(from)
            ),
        );
    }
}

fn dirent(s: &mut Scan, e: Endian, node: &[u8], off: u64, sink: &mut dyn Sink) {
    let Some(fixed) = node.get(..DIRENT_LEN) else {
        sink.problem(Some(off), "directory entry node too short".into());
        return;
    };
    if crc(&fixed[..32]) != e.u32(fixed, 32) {
        sink.problem(Some(off), "directory entry node CRC mismatch; skipped".into());
        s.count("bad_crc");
        return;
    }
    let pino = e.u32(fixed, 12);
    let version = e.u32(fixed, 16);
    let ino = e.u32(fixed, 20);
    let nsize = usize::from(fixed[28]);
    let dtype = fixed[29];
    let Some(name) = node.get(DIRENT_LEN..DIRENT_LEN + nsize) else {
        sink.problem(Some(off), "directory entry name runs past its node".into());
        return;
    };
    if crc(name) != e.u32(fixed, 36) {
        sink.problem(Some(off), "directory entry name CRC mismatch; skipped".into());
        s.count("bad_crc");
        return;
    }
    s.count("dirent");
    s.nodes += 1;
    let rec = DirentRec {
        version,
        ino,
        dtype,
        pos: off,
    };
    match s.dirents.get_mut(&(pino, name.to_vec())) {
        // Equal versions: the later node in the log wins, as the kernel's scan does.
        Some(old) if old.version <= version => *old = rec,
        Some(_) => {}
        None => {
            s.dirents.insert((pino, name.to_vec()), rec);
        }
    }
}

fn inode(s: &mut Scan, e: Endian, node: &[u8], off: u64, sink: &mut dyn Sink) {
    let Some(fixed) = node.get(..INODE_LEN) else {
        sink.problem(Some(off), "inode node too short".into());
        return;
    };
    if crc(&fixed[..60]) != e.u32(fixed, 64) {
        sink.problem(Some(off), "inode node CRC mismatch; skipped".into());
        s.count("bad_crc");
        return;
    }
    let ino = e.u32(fixed, 12);
    let version = e.u32(fixed, 16);
    let mode = e.u32(fixed, 20);
    let isize = e.u32(fixed, 28);
    let offset = e.u32(fixed, 44);
    let csize = e.u32(fixed, 48);
    let dsize = e.u32(fixed, 52);
    let compr = fixed[56];
    if csize > MAX_NODE_DATA || dsize > MAX_NODE_DATA {
        sink.problem(
            Some(off),
            format!("inode node claims {csize}/{dsize} bytes of data; skipped"),
        );
        return;
    }
    let Some(data) = node.get(INODE_LEN..INODE_LEN + csize as usize) else {
        sink.problem(Some(off), "inode data runs past its node".into());
        return;
    };
    if crc(data) != e.u32(fixed, 60) {
        sink.problem(
            Some(off),
            format!("data CRC mismatch in inode {ino} node; skipped"),
        );
        s.count("bad_crc");
        return;
    }
    s.count("inode");
    s.nodes += 1;
    *s.compr.entry(compr).or_default() += 1;
    let dn = DataNode {
        pos: off,
        version,
        offset,
        dsize,
        csize,
        compr,
    };
    let rec = s.inodes.entry(ino).or_default();
    if rec.latest.is_none() || version >= rec.version {
        rec.version = version;
        rec.mode = mode;
        rec.isize = isize;
        rec.latest = Some(dn);
    }
    if dsize > 0 {
        rec.nodes.push(dn);
    }
}

/// Decompress one node's payload into exactly `dsize` bytes.
fn node_data(blob: &Blob, n: &DataNode) -> Result<Vec<u8>, String> {
    let raw = blob
        .read_vec(n.pos + INODE_LEN as u64, u64::from(n.csize))
        .map_err(|e| format!("reading node data: {e}"))?;
    let dsize = n.dsize as usize;
    let mut out = match n.compr {
        0 => raw,
        1 => vec![0; dsize],
        2 => rtime(&raw, dsize),
        6 => decompress(Codec::Zlib, &raw, dsize).map_err(|e| e.to_string())?,
        7 => decompress(Codec::Lzo, &raw, dsize).map_err(|e| e.to_string())?,
        3 | 5 => return Err(format!("rubin compression ({}) is not supported", n.compr)),
        8 => return Err("lzma compression (8) is not supported".into()),
        c => return Err(format!("unknown compression {c}")),
    };
    if out.len() != dsize {
        let got = out.len();
        out.resize(dsize, 0);
        return Err(format!("node inflated to {got} bytes, not {dsize}"));
    }
    Ok(out)
}

/// The kernel's "rtime" decompressor (`fs/jffs2/compr_rtime.c`): pairs of (byte, repeat) where
/// `repeat` bytes are copied from after the previous occurrence of the same byte value.
pub fn rtime(input: &[u8], dsize: usize) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(dsize);
    let mut positions = [0usize; 256];
    let mut it = input.chunks_exact(2);
    while out.len() < dsize {
        let Some(&[value, repeat]) = it.next() else { break };
        out.push(value);
        let back = positions[usize::from(value)];
        positions[usize::from(value)] = out.len();
        // `back` is always behind the write position, so the copy may overlap itself.
        for from in back..back + usize::from(repeat) {
            if out.len() >= dsize {
                break;
            }
            let Some(&b) = out.get(from) else { break };
            out.push(b);
        }
    }
    out
}

/// A file's byte ranges, each owned by the newest node covering it.
#[derive(Debug, Clone, Copy)]
struct Frag {
    end: u64,
    node: usize,
}

fn fragments(nodes: &[DataNode]) -> BTreeMap<u64, Frag> {
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    // Oldest first, so newer nodes overwrite; equal versions keep log order.
    order.sort_by_key(|&i| (nodes[i].version, i));
    let mut map: BTreeMap<u64, Frag> = BTreeMap::new();
    for i in order {
        let n = &nodes[i];
        let s = u64::from(n.offset);
        let e = s + u64::from(n.dsize);
        if let Some((&ks, &f)) = map.range(..s).next_back()
            && f.end > s
        {
            map.insert(ks, Frag { end: s, node: f.node });
            if f.end > e {
                map.insert(e, f);
            }
        }
        let inside: Vec<u64> = map.range(s..e).map(|(&k, _)| k).collect();
        for k in inside {
            if let Some(f) = map.remove(&k)
                && f.end > e
            {
                map.insert(e, f);
            }
        }
        map.insert(s, Frag { end: e, node: i });
    }
    map
}

/// Streams a file: holes read as zeros, every range from its newest node.
struct FileReader<'a> {
    blob: &'a Blob,
    nodes: &'a [DataNode],
    frags: Vec<(u64, Frag)>,
    next_frag: usize,
    pos: u64,
    size: u64,
    cache: Option<(usize, Vec<u8>)>,
    problems: Vec<(u64, String)>,
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        while let Some((_, f)) = self.frags.get(self.next_frag) {
            if f.end > self.pos {
                break;
            }
            self.next_frag += 1;
        }
        let want = (buf.len() as u64).min(self.size - self.pos);
        let (n, src) = match self.frags.get(self.next_frag) {
            Some(&(start, f)) if start <= self.pos => ((f.end - self.pos).min(want), Some((start, f))),
            Some(&(start, _)) => ((start - self.pos).min(want), None),
            None => (want, None),
        };
        let n = n as usize;
        let out = &mut buf[..n];
        match src {
            None => out.fill(0),
            Some((_, f)) => {
                if self.cache.as_ref().is_none_or(|(i, _)| *i != f.node) {
                    let node = &self.nodes[f.node];
                    let data = match node_data(self.blob, node) {
                        Ok(d) => d,
                        Err(why) => {
                            self.problems
                                .push((node.pos, format!("{why}; range read as zeros")));
                            vec![0; node.dsize as usize]
                        }
                    };
                    self.cache = Some((f.node, data));
                }
                let node_off = u64::from(self.nodes[f.node].offset);
                let at = (self.pos - node_off) as usize;
                match self.cache.as_ref().and_then(|(_, d)| d.get(at..at + n)) {
                    Some(src) => out.copy_from_slice(src),
                    None => out.fill(0),
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

const S_IFMT: u32 = 0o170000;

/// An entry kind from the inode mode, or from the directory entry's `DT_*` type.
fn kind_of(mode: Option<u32>, dtype: u8) -> u8 {
    match mode.map(|m| m & S_IFMT) {
        Some(0o040000) => 4,
        Some(0o100000) => 8,
        Some(0o120000) => 10,
        Some(0o020000) => 2,
        Some(0o060000) => 6,
        Some(0o010000) => 1,
        Some(0o140000) => 12,
        _ => dtype,
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    if !dir.is_empty() {
        p.extend_from_slice(dir);
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// The data of an inode's newest node (symlink target, device number), bounded.
fn small_data(blob: &Blob, rec: &InodeRec) -> Result<Vec<u8>, String> {
    let Some(n) = rec.latest else {
        return Ok(Vec::new());
    };
    if n.dsize > MAX_LINK {
        return Err(format!("{} bytes of link or device data", n.dsize));
    }
    node_data(blob, &n)
}

impl Format for Jffs2 {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        let Some((_, nodetype, totlen)) = parse_header(head, None) else {
            return false;
        };
        let known = matches!(
            nodetype | ACCURATE,
            NT_DIRENT | NT_INODE | NT_CLEANMARKER | NT_PADDING | NT_SUMMARY | NT_XATTR | NT_XREF
        );
        known && totlen <= MAX_TOTLEN && len.is_none_or(|l| u64::from(totlen) <= l)
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let Input::Blob(blob) = input else {
            return Err(FormatError::Unsupported("jffs2 needs random access".into()));
        };
        ProblemCap::around(sink, |sink| unpack_blob(blob, sink))
    }
}

fn unpack_blob(blob: &Blob, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
    let s = scan(blob, sink)?;
    let Some(endian) = s.endian else {
        return Err(FormatError::malformed(0, "no valid JFFS2 node"));
    };

    // Children of each directory, from the newest entry per name; inode 0 means deleted.
    let mut children: HashMap<u32, Vec<(&[u8], DirentRec)>> = HashMap::new();
    for ((pino, name), d) in &s.dirents {
        if d.ino != 0 {
            children.entry(*pino).or_default().push((name.as_slice(), *d));
        }
    }
    for v in children.values_mut() {
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }

    // Names per inode: only inodes named more than once need their first path remembered.
    let mut names: HashMap<u32, u32> = HashMap::new();
    for v in children.values() {
        for (_, d) in v {
            *names.entry(d.ino).or_default() += 1;
        }
    }

    let mut visited: HashSet<u32> = HashSet::from([ROOT_INO]);
    let mut first_path: HashMap<u32, Vec<u8>> = HashMap::new();
    // Pending directories hold their parent's path (shared) and their own name (borrowed),
    // so memory stays proportional to the input however wide or deep the tree.
    let mut stack: Vec<Pending<&[u8]>> = vec![Pending {
        ino: ROOT_INO,
        parent: Rc::new(Vec::new()),
        name: &[],
        depth: 0,
    }];
    let mut emitted = 0u64;
    while let Some(Pending {
        ino: dino,
        parent,
        name: dname,
        depth,
    }) = stack.pop()
    {
        let Some(kids) = children.get(&dino) else { continue };
        let dpath = if dname.is_empty() {
            parent
        } else {
            Rc::new(join(&parent, dname))
        };
        let mut subdirs = Vec::new();
        for &(name, d) in kids {
            let path = join(&dpath, name);
            let rec = s.inodes.get(&d.ino);
            let mode = rec.map(|r| r.mode & 0o7777);
            let offset = Some(d.pos);
            let shown = String::from_utf8_lossy(&path).into_owned();
            match kind_of(rec.map(|r| r.mode), d.dtype) {
                4 => {
                    if !visited.insert(d.ino) {
                        sink.problem(
                            offset,
                            format!("directory {shown} (inode {}) reachable twice; skipped", d.ino),
                        );
                        continue;
                    }
                    sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::Dir,
                        mode,
                        offset,
                    })?;
                    if depth + 1 >= MAX_DEPTH {
                        sink.problem(
                            offset,
                            format!("{shown}: nesting deeper than {MAX_DEPTH}; not entered"),
                        );
                    } else {
                        subdirs.push((d.ino, name));
                    }
                }
                8 => {
                    if let Some(first) = first_path.get(&d.ino) {
                        sink.entry(Entry {
                            path: &path,
                            kind: EntryKind::Hardlink(first),
                            mode,
                            offset,
                        })?;
                        continue;
                    }
                    let Some(rec) = rec else {
                        sink.problem(
                            offset,
                            format!("{shown}: inode {} has no node; empty file", d.ino),
                        );
                        sink.entry(Entry {
                            path: &path,
                            kind: EntryKind::File(&mut io::empty()),
                            mode,
                            offset,
                        })?;
                        continue;
                    };
                    emit_file(blob, rec, &path, mode, offset, sink)?;
                    if names.get(&d.ino).is_some_and(|&n| n > 1) {
                        first_path.insert(d.ino, path);
                    }
                }
                10 => {
                    let target = match rec.map(|r| small_data(blob, r)) {
                        Some(Ok(t)) => t,
                        Some(Err(why)) => {
                            sink.problem(offset, format!("symlink {shown}: {why}"));
                            continue;
                        }
                        None => {
                            sink.problem(offset, format!("symlink {shown}: inode {} has no node", d.ino));
                            continue;
                        }
                    };
                    sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::Symlink(&target),
                        mode,
                        offset,
                    })?;
                }
                t @ (2 | 6) => {
                    let raw = match rec.map(|r| small_data(blob, r)) {
                        Some(Ok(t)) => t,
                        Some(Err(why)) => {
                            sink.problem(offset, format!("device {shown}: {why}"));
                            Vec::new()
                        }
                        None => Vec::new(),
                    };
                    let (major, minor) = decode_dev(endian, &raw);
                    let what = if t == 2 { "char" } else { "block" };
                    sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::Special { what, major, minor },
                        mode,
                        offset,
                    })?;
                }
                1 => sink.entry(Entry {
                    path: &path,
                    kind: EntryKind::Special {
                        what: "fifo",
                        major: 0,
                        minor: 0,
                    },
                    mode,
                    offset,
                })?,
                12 => sink.entry(Entry {
                    path: &path,
                    kind: EntryKind::Special {
                        what: "socket",
                        major: 0,
                        minor: 0,
                    },
                    mode,
                    offset,
                })?,
                t => {
                    sink.problem(offset, format!("{shown}: unknown entry type {t}; skipped"));
                    continue;
                }
            }
            emitted += 1;
        }
        for (ino, name) in subdirs.into_iter().rev() {
            stack.push(Pending {
                ino,
                parent: dpath.clone(),
                name,
                depth: depth + 1,
            });
        }
    }
    let orphans = children.keys().filter(|p| !visited.contains(p)).count();
    if orphans > 0 {
        sink.problem(
            None,
            format!("{orphans} directories with entries are not reachable from the root"),
        );
    }

    // The image ends with its last node, plus the erased flash that pads it (best effort:
    // up to the end of the 0xFF run, in whole 4 KiB pages unless it reaches the end).
    let mut win = Window::new(blob);
    let ff_end = win.skip_erased(align4(s.last_end))?;
    let consumed = if ff_end >= blob.len() {
        blob.len()
    } else {
        (ff_end & !0xfff).max(s.last_end)
    };
    let compr: BTreeMap<String, u64> = s
        .compr
        .iter()
        .map(|(k, v)| (compr_name(*k).to_owned(), *v))
        .collect();
    let details = serde_json::json!({
        "endian": endian.name(),
        "nodes": s.counts,
        "compression": compr,
        "inodes": s.inodes.len(),
        "entries": emitted,
    });
    Ok(Unpacked {
        consumed: Some(consumed),
        details,
    })
}

/// A directory waiting to be listed: its parent's path (shared by siblings) and its own name.
struct Pending<N> {
    ino: u32,
    parent: Rc<Vec<u8>>,
    name: N,
    depth: usize,
}

fn compr_name(c: u8) -> &'static str {
    match c {
        0 => "none",
        1 => "zero",
        2 => "rtime",
        3 => "rubinmips",
        4 => "copy",
        5 => "dynrubin",
        6 => "zlib",
        7 => "lzo",
        8 => "lzma",
        _ => "unknown",
    }
}

/// Device numbers: 2 bytes in the old 8:8 encoding, or 4 in Linux's `new_encode_dev` layout.
fn decode_dev(e: Endian, raw: &[u8]) -> (u32, u32) {
    match raw.len() {
        2 => {
            let v = u32::from(e.u16(raw, 0));
            (v >> 8, v & 0xff)
        }
        4 => {
            let v = e.u32(raw, 0);
            ((v & 0xfff00) >> 8, (v & 0xff) | ((v >> 12) & 0xfff00))
        }
        _ => (0, 0),
    }
}

fn emit_file(
    blob: &Blob,
    rec: &InodeRec,
    path: &[u8],
    mode: Option<u32>,
    offset: Option<u64>,
    sink: &mut dyn Sink,
) -> Result<(), FormatError> {
    let frags: Vec<(u64, Frag)> = fragments(&rec.nodes).into_iter().collect();
    let data_end = frags.last().map_or(0, |(_, f)| f.end);
    let mut size = u64::from(rec.isize);
    if size > data_end.saturating_add(MAX_SPARSE_TAIL) {
        sink.problem(
            offset,
            format!(
                "{}: size {size} far beyond its data ({data_end} bytes); cut there",
                String::from_utf8_lossy(path)
            ),
        );
        size = data_end;
    }
    let mut r = FileReader {
        blob,
        nodes: &rec.nodes,
        frags,
        next_frag: 0,
        pos: 0,
        size,
        cache: None,
        problems: Vec::new(),
    };
    let res = sink.entry(Entry {
        path,
        kind: EntryKind::File(&mut r),
        mode,
        offset,
    });
    for (at, why) in std::mem::take(&mut r.problems) {
        sink.problem(Some(at), format!("{}: {why}", String::from_utf8_lossy(path)));
    }
    res
}

#[cfg(test)]
mod tests {
    use hashward_fixtures::Tree;
    use hashward_fixtures::jffs2::{Compression, Options, build, build_with};

    use super::*;
    use crate::unpack::{HEAD_LEN, MemorySink, run_in_memory};

    fn sample() -> Tree {
        let mut t = Tree::new();
        let big: Vec<u8> = (0..50_000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
        t.file("etc/init.d/S70cgminer", "#!/bin/sh\nexec cgminer\n")
            .file_mode("usr/bin/bmminer", big, 0o755)
            .file("empty", Vec::new())
            .file("etc/one", "x")
            .file("etc/page", vec![b'p'; 4096])
            .symlink("bin/sh", "busybox")
            .symlink("lib/long", &"a/".repeat(100))
            .hardlink("usr/bin/cgminer", "usr/bin/bmminer")
            .chardev("dev/null", 1, 3)
            .dir("config/empty");
        t
    }

    fn check(tree: &Tree, sink: &MemorySink) {
        crate::unpack::sink::assert_matches_tree(sink, tree, &[]);
    }

    #[test]
    fn crc_matches_the_kernel_convention() {
        // Header of a node written by mkfs.jffs2 (little-endian dirent, totlen 0x29).
        assert_eq!(crc(&[0x85, 0x19, 0x01, 0xe0, 0x29, 0, 0, 0]), 0xd72f_a66d);
    }

    #[test]
    fn round_trip_all_kinds() {
        let t = sample();
        for compression in [Compression::None, Compression::Zlib] {
            for cleanmarkers in [false, true] {
                let img = build_with(
                    &t,
                    &Options {
                        erase_block: 0x2000,
                        compression,
                        pad_to: None,
                        cleanmarkers,
                    },
                );
                let (r, sink) = run_in_memory("jffs2", &img, 1 << 30);
                let r = r.unwrap();
                assert!(sink.problems.is_empty(), "{:?}", sink.problems);
                check(&t, &sink);
                assert_eq!(r.consumed, Some(img.len() as u64));
            }
        }
    }

    #[test]
    fn padding_is_consumed_and_probe_is_strict() {
        let t = sample();
        let img = build(&t, 0x10000, Compression::Zlib, Some(0x80000));
        assert_eq!(img.len(), 0x80000);
        assert!(Jffs2.probe(&img[..HEAD_LEN], Some(img.len() as u64)));
        let mut bad = img[..64].to_vec();
        bad[8] ^= 1;
        assert!(!Jffs2.probe(&bad, None));
        assert!(!Jffs2.probe(&[0x85, 0x19, 0x01, 0xe0], None));
        let mut with_tail = img.clone();
        with_tail.extend_from_slice(b"NEXT PARTITION");
        let (r, sink) = run_in_memory("jffs2", &with_tail, 1 << 30);
        assert_eq!(r.unwrap().consumed, Some(0x80000));
        check(&t, &sink);
    }

    #[test]
    fn big_endian_images_read() {
        let t = sample();
        let img = build(&t, 0x2000, Compression::Zlib, None);
        let be = to_big_endian(&img);
        assert!(Jffs2.probe(&be, None));
        let (r, sink) = run_in_memory("jffs2", &be, 1 << 30);
        assert_eq!(r.unwrap().details["endian"], "big");
        check(&t, &sink);
    }

    /// Rewrite a little-endian image node by node (fields swapped, CRCs recomputed).
    fn to_big_endian(img: &[u8]) -> Vec<u8> {
        let mut out = img.to_vec();
        let mut off = 0;
        while off + 12 <= img.len() {
            if img[off..off + 2] != [0x85, 0x19] {
                off += 4;
                continue;
            }
            let nt = u16::from_le_bytes([img[off + 2], img[off + 3]]);
            let tl = u32::from_le_bytes(img[off + 4..off + 8].try_into().unwrap()) as usize;
            let n = &mut out[off..off + tl];
            let swap = |n: &mut [u8], at: usize, w: usize| n[at..at + w].reverse();
            swap(n, 0, 2);
            swap(n, 2, 2);
            swap(n, 4, 4);
            let c = crc(&n[..8]);
            n[8..12].copy_from_slice(&c.to_be_bytes());
            if nt == NT_DIRENT {
                for at in [12, 16, 20, 24, 36] {
                    swap(n, at, 4);
                }
                let c = crc(&n[..32]);
                n[32..36].copy_from_slice(&c.to_be_bytes());
            } else if nt == NT_INODE {
                for at in [12, 16, 20, 28, 32, 36, 40, 44, 48, 52, 60] {
                    swap(n, at, 4);
                }
                swap(n, 24, 2);
                swap(n, 26, 2);
                swap(n, 58, 2);
                let mode = u32::from_be_bytes(n[20..24].try_into().unwrap());
                if mode & S_IFMT == 0o020000 {
                    let dl = u32::from_be_bytes(n[52..56].try_into().unwrap()) as usize;
                    n[68..68 + dl].reverse();
                    let c = crc(&n[68..68 + dl]);
                    n[60..64].copy_from_slice(&c.to_be_bytes());
                }
                let c = crc(&n[..60]);
                n[64..68].copy_from_slice(&c.to_be_bytes());
            }
            off += (tl + 3) & !3;
        }
        out
    }

    #[test]
    fn rtime_decodes_repeats() {
        // "aaaa": 'a' then repeat 3 from the previous 'a' (position 0, i.e. the byte just written).
        assert_eq!(rtime(&[b'a', 3], 4), b"aaaa");
        // "abab": a,0 b,0 then 'a' repeat 1 copies from after the first 'a' -> 'b'.
        assert_eq!(rtime(&[b'a', 0, b'b', 0, b'a', 1], 4), b"abab");
        // Output is capped at dsize whatever the input says.
        assert_eq!(rtime(&[b'x', 255, b'y', 255], 10).len(), 10);
        assert!(rtime(&[1], 10).is_empty());
    }

    #[allow(clippy::too_many_arguments)]
    /// Hand-made inode node with a given version, range and payload.
    fn inode_node(
        ino: u32,
        version: u32,
        mode: u32,
        isize: u32,
        offset: u32,
        data: &[u8],
        compr: u8,
        dsize: u32,
    ) -> Vec<u8> {
        let mut n = vec![0u8; INODE_LEN];
        let tl = (INODE_LEN + data.len()) as u32;
        n[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        n[2..4].copy_from_slice(&NT_INODE.to_le_bytes());
        n[4..8].copy_from_slice(&tl.to_le_bytes());
        let c = crc(&n[..8]);
        n[8..12].copy_from_slice(&c.to_le_bytes());
        for (at, v) in [
            (12, ino),
            (16, version),
            (20, mode),
            (28, isize),
            (44, offset),
            (48, data.len() as u32),
            (52, dsize),
        ] {
            n[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        n[56] = compr;
        n[60..64].copy_from_slice(&crc(data).to_le_bytes());
        let c = crc(&n[..60]);
        n[64..68].copy_from_slice(&c.to_le_bytes());
        n.extend_from_slice(data);
        while !n.len().is_multiple_of(4) {
            n.push(0xff);
        }
        n
    }

    fn dirent_node(pino: u32, version: u32, ino: u32, name: &[u8], dtype: u8) -> Vec<u8> {
        let mut n = vec![0u8; DIRENT_LEN];
        let tl = (DIRENT_LEN + name.len()) as u32;
        n[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        n[2..4].copy_from_slice(&NT_DIRENT.to_le_bytes());
        n[4..8].copy_from_slice(&tl.to_le_bytes());
        let c = crc(&n[..8]);
        n[8..12].copy_from_slice(&c.to_le_bytes());
        for (at, v) in [(12, pino), (16, version), (20, ino)] {
            n[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        n[28] = name.len() as u8;
        n[29] = dtype;
        let c = crc(&n[..32]);
        n[32..36].copy_from_slice(&c.to_le_bytes());
        n[36..40].copy_from_slice(&crc(name).to_le_bytes());
        n.extend_from_slice(name);
        while !n.len().is_multiple_of(4) {
            n.push(0xff);
        }
        n
    }

    #[test]
    fn newer_versions_win_for_ranges_and_names() {
        let mut img = Vec::new();
        img.extend(dirent_node(1, 1, 2, b"f", 8));
        img.extend(inode_node(2, 1, 0o100644, 12, 0, b"aaaaaaaaaaaa", 0, 12));
        // Version 3 overwrites bytes 4..8; version 2 (older, later in the log) writes 2..10 and
        // is overridden where they overlap.
        img.extend(inode_node(2, 3, 0o100644, 12, 4, b"CCCC", 0, 4));
        img.extend(inode_node(2, 2, 0o100644, 12, 2, b"bbbbbbbb", 0, 8));
        // Zero-compressed node (a hole written as zeros).
        img.extend(inode_node(2, 4, 0o100644, 14, 12, b"", 1, 2));
        // A renamed-away entry: newer dirent with ino 0 deletes "gone".
        img.extend(dirent_node(1, 1, 3, b"gone", 8));
        img.extend(inode_node(3, 1, 0o100644, 1, 0, b"g", 0, 1));
        img.extend(dirent_node(1, 2, 0, b"gone", 8));
        let (r, sink) = run_in_memory("jffs2", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("f").unwrap(), b"aabbCCCCbbaa\0\0");
        assert_eq!(sink.names(), ["f"]);
    }

    #[test]
    fn cycles_and_orphans_are_reported() {
        let mut img = Vec::new();
        img.extend(dirent_node(1, 1, 2, b"a", 4));
        img.extend(inode_node(2, 1, 0o040755, 0, 0, b"", 0, 0));
        // a/b is a directory entry for a itself: a cycle.
        img.extend(dirent_node(2, 1, 2, b"b", 4));
        // a/root points back at the root.
        img.extend(dirent_node(2, 1, 1, b"root", 4));
        // An entry in a directory nobody references.
        img.extend(dirent_node(99, 1, 5, b"lost", 8));
        let (r, sink) = run_in_memory("jffs2", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.names(), ["a"]);
        assert_eq!(sink.problems.len(), 3, "{:?}", sink.problems);
    }

    #[test]
    fn problem_floods_are_capped() {
        // One valid dirent, then thousands of headers each claiming more bytes than remain.
        let mut img = dirent_node(1, 1, 2, b"f", 8);
        img.extend(inode_node(2, 1, 0o100644, 1, 0, b"x", 0, 1));
        let mut h = Vec::new();
        h.extend(MAGIC.to_le_bytes());
        h.extend(NT_INODE.to_le_bytes());
        h.extend((MAX_TOTLEN - 4).to_le_bytes());
        let c = crc(&h);
        h.extend(c.to_le_bytes());
        for _ in 0..5000 {
            img.extend_from_slice(&h);
        }
        let (r, sink) = run_in_memory("jffs2", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("f").unwrap(), b"x");
        assert_eq!(sink.problems.len() as u64, crate::unpack::sink::MAX_PROBLEMS + 1);
        assert!(sink.problems.last().unwrap().contains("further problems"));
    }

    #[test]
    fn deep_nesting_is_capped() {
        let mut img = Vec::new();
        for i in 0..300u32 {
            let (parent, ino) = (if i == 0 { 1 } else { i + 1 }, i + 2);
            img.extend(dirent_node(parent, 1, ino, b"d", 4));
            img.extend(inode_node(ino, 1, 0o040755, 0, 0, b"", 0, 0));
        }
        let (r, sink) = run_in_memory("jffs2", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.entries.len(), MAX_DEPTH);
        assert!(
            sink.problems.iter().any(|p| p.contains("nesting")),
            "{:?}",
            sink.problems
        );
    }

    #[test]
    fn absurd_sizes_are_cut() {
        let mut img = Vec::new();
        img.extend(dirent_node(1, 1, 2, b"huge", 8));
        img.extend(inode_node(2, 1, 0o100644, u32::MAX, 0, b"abc", 0, 3));
        // A node claiming a 1 GiB payload: its header is fine, the size is not.
        let mut n = inode_node(3, 1, 0o100644, 5, 0, b"12345", 0, 5);
        n[52..56].copy_from_slice(&(1u32 << 30).to_le_bytes());
        let c = crc(&n[..60]);
        n[64..68].copy_from_slice(&c.to_le_bytes());
        img.extend(n);
        img.extend(dirent_node(1, 1, 3, b"liar", 8));
        let (r, sink) = run_in_memory("jffs2", &img, 1 << 30);
        r.unwrap();
        assert_eq!(sink.file("huge").unwrap(), b"abc");
        assert_eq!(sink.file("liar").unwrap(), b"");
        assert!(sink.problems.len() >= 2, "{:?}", sink.problems);
    }

    #[test]
    fn bad_compressed_data_is_a_problem_not_a_panic() {
        let mut img = Vec::new();
        img.extend(dirent_node(1, 1, 2, b"z", 8));
        img.extend(inode_node(2, 1, 0o100644, 100, 0, b"not zlib at all", 6, 100));
        img.extend(dirent_node(1, 1, 3, b"r", 8));
        img.extend(inode_node(3, 1, 0o100644, 10, 0, b"xx", 5, 10));
        let (r, sink) = run_in_memory("jffs2", &img, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("z").unwrap(), &[0u8; 100][..]);
        assert_eq!(sink.file("r").unwrap(), &[0u8; 10][..]);
        assert_eq!(sink.problems.len(), 2, "{:?}", sink.problems);
    }

    #[test]
    fn corruption_and_truncation_never_panic() {
        let t = sample();
        let img = build(&t, 0x2000, Compression::Zlib, None);
        let full = run_in_memory("jffs2", &img, 1 << 30).1.entries.len();
        let mut step = 1;
        let mut cut = 0;
        while cut < img.len() {
            let (r, sink) = run_in_memory("jffs2", &img[..cut], 1 << 30);
            assert!(sink.entries.len() <= full);
            if cut < 12 {
                assert!(r.is_err());
            }
            cut += step;
            step = step * 3 / 2 + 1;
        }
        let mut seed = 7u32;
        for i in 0..200 {
            let mut bad = img.clone();
            for _ in 0..(1 + i % 8) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = (seed as usize >> 4) % bad.len();
                bad[at] ^= (seed >> 24) as u8 | 1;
            }
            let (_, sink) = run_in_memory("jffs2", &bad, 1 << 30);
            assert!(sink.entries.len() <= full + 2);
        }
        // A flipped data byte: CRC mismatch reported, the node skipped, the rest read.
        let mut bad = img.clone();
        let at = img.len() / 2;
        bad[at] ^= 0x55;
        let (r, sink) = run_in_memory("jffs2", &bad, 1 << 30);
        assert!(r.is_ok());
        assert!(!sink.problems.is_empty());
    }

    #[test]
    fn garbage_and_erased_flash_are_rejected() {
        assert!(run_in_memory("jffs2", &[0xff; 1 << 16], 1 << 20).0.is_err());
        assert!(run_in_memory("jffs2", &[0u8; 4096], 1 << 20).0.is_err());
        assert!(run_in_memory("jffs2", &[], 1 << 20).0.is_err());
    }
}
