//! ext2, ext3 and ext4 file systems: the Gen-4 `minerfs.image` root file system (ext2).
//!
//! An own reader rather than a wrapper of `ext4-view` (1.0): that crate's public API gives no
//! inode numbers (so hard links cannot be told apart from copies) and no device numbers, and it
//! refuses file systems without the `filetype` feature, i.e. every revision 0 ext2 — and the
//! Bitmain minerfs images are "rev 0.0" ext2 (firmware brief §1.4, made by genext2fs).
//!
//! Layout (Linux `Documentation/filesystems/ext4/`, "The Second Extended File System"): the
//! superblock at byte 1024, block groups with descriptors right after it (or per meta group with
//! `meta_bg`), inode tables; data through classic block maps (12 direct, single/double/triple
//! indirect), an extent tree (`0xF30A` headers, `extents`), or inside the inode (`inline_data`).
//! Directories are read linearly, which also covers hashed (htree) directories: their index
//! blocks look like empty entries. Checksums (`metadata_csum`) are not verified and the journal
//! is not replayed. Files are streamed block by block; nothing sized from the input is allocated
//! without a bound.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::rc::Rc;

use super::sink::ProblemCap;
use super::{Access, Blob, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `ext` format.
pub struct Ext;

static INFO: FormatInfo = FormatInfo {
    id: "ext",
    description: "ext2/ext3/ext4 file system",
    access: Access::Random,
    // The magic is two bytes at offset 1080; carving would need the candidate start to be
    // sector-aligned, which a `Magic` cannot say, and a two-byte pattern would flood the carver's
    // candidate budget. ext images are identified at offset 0 (e.g. after uImage + gzip).
    magics: &[],
    codec: false,
};

const SB_OFFSET: usize = 1024;
const SB_LEN: usize = 1024;
const MAGIC: u16 = 0xef53;

const INCOMPAT_COMPRESSION: u32 = 0x1;
const INCOMPAT_FILETYPE: u32 = 0x2;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_64BIT: u32 = 0x80;
const INCOMPAT_ENCRYPT: u32 = 0x10000;
const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
const RO_COMPAT_HUGE_FILE: u32 = 0x8;

const EXTENTS_FL: u32 = 0x80000;
const INLINE_DATA_FL: u32 = 0x1000_0000;
const EXTENT_MAGIC: u16 = 0xf30a;

const ROOT_INO: u32 = 2;
/// Directory nesting accepted.
const MAX_DEPTH: usize = 256;
/// Largest directory read (bytes): about 400,000 short names, a bounded list in memory.
const MAX_DIR: u64 = 8 << 20;
/// Bad blocks noted per directory before giving up on it.
const MAX_DIR_PROBLEMS: usize = 8;
/// Bytes of paths kept to resolve hard links.
const MAX_LINK_PATHS: usize = 64 << 20;
/// Extent tree depth accepted (ext4 uses at most 5).
const MAX_EXTENT_DEPTH: u16 = 5;
/// Holes past the end of a file's allocated data are allowed, but not absurdly large ones.
const MAX_SPARSE: u64 = 64 << 20;

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2).map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The superblock fields the reader uses.
#[derive(Debug, Clone)]
struct Super {
    inodes_count: u32,
    blocks_count: u64,
    first_data_block: u32,
    bs: u64,
    blocks_per_group: u32,
    inodes_per_group: u32,
    rev: u32,
    inode_size: u64,
    compat: u32,
    incompat: u32,
    ro_compat: u32,
    desc_size: u64,
    uuid: [u8; 16],
    label: Vec<u8>,
    state: u16,
    first_meta_bg: u32,
}

impl Super {
    /// Parse and sanity-check a superblock (the 1024 bytes at offset 1024).
    fn parse(sb: &[u8]) -> Result<Super, String> {
        if sb.len() < SB_LEN || le16(sb, 0x38) != MAGIC {
            return Err("no ext superblock magic".into());
        }
        let log = le32(sb, 0x18);
        if log > 6 {
            return Err(format!("block size 2^{} KiB", log));
        }
        let bs = 1024u64 << log;
        let rev = le32(sb, 0x4c);
        if rev > 1 {
            return Err(format!("revision {rev}"));
        }
        let incompat = if rev == 0 { 0 } else { le32(sb, 0x60) };
        let mut blocks_count = u64::from(le32(sb, 0x04));
        if incompat & INCOMPAT_64BIT != 0 {
            blocks_count |= u64::from(le32(sb, 0x150)) << 32;
        }
        let inodes_count = le32(sb, 0x00);
        let first_data_block = le32(sb, 0x14);
        let blocks_per_group = le32(sb, 0x20);
        let inodes_per_group = le32(sb, 0x28);
        if blocks_count == 0 || inodes_count == 0 || blocks_per_group == 0 || inodes_per_group == 0 {
            return Err("zero blocks, inodes or group size".into());
        }
        if u64::from(blocks_per_group) > 8 * bs || u64::from(inodes_per_group) > 8 * bs {
            return Err("group larger than its bitmap".into());
        }
        if u64::from(first_data_block) >= blocks_count || first_data_block > 1 {
            return Err(format!("first data block {first_data_block}"));
        }
        let inode_size = if rev == 0 { 128 } else { u64::from(le16(sb, 0x58)) };
        if inode_size < 128 || !inode_size.is_power_of_two() || inode_size > bs {
            return Err(format!("inode size {inode_size}"));
        }
        let desc_size = if incompat & INCOMPAT_64BIT != 0 {
            u64::from(le16(sb, 0xfe))
        } else {
            32
        };
        if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return Err(format!("descriptor size {desc_size}"));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&sb[0x68..0x78]);
        let label = sb[0x78..0x88].iter().copied().take_while(|&b| b != 0).collect();
        Ok(Super {
            inodes_count,
            blocks_count,
            first_data_block,
            bs,
            blocks_per_group,
            inodes_per_group,
            rev,
            inode_size,
            compat: if rev == 0 { 0 } else { le32(sb, 0x5c) },
            incompat,
            ro_compat: if rev == 0 { 0 } else { le32(sb, 0x64) },
            desc_size,
            uuid,
            label,
            state: le16(sb, 0x3a),
            first_meta_bg: le32(sb, 0x104),
        })
    }

    fn groups(&self) -> u64 {
        (self.blocks_count - u64::from(self.first_data_block)).div_ceil(u64::from(self.blocks_per_group))
    }
}

/// Whether group `g` holds a superblock copy under `sparse_super`: 0, 1 and powers of 3, 5, 7.
fn has_super(g: u64) -> bool {
    let power_of = |b: u64| {
        let mut n = g;
        while n > 1 && n.is_multiple_of(b) {
            n /= b;
        }
        n == 1
    };
    g <= 1 || power_of(3) || power_of(5) || power_of(7)
}

/// The inode fields the reader uses.
#[derive(Debug, Clone)]
struct Inode {
    mode: u16,
    size: u64,
    links: u16,
    flags: u32,
    sectors: u64,
    file_acl: u64,
    block: [u8; 60],
    /// For `INLINE_DATA_FL` inodes: `i_block` followed by the `system.data` attribute.
    inline: Option<Vec<u8>>,
}

impl Inode {
    fn kind(&self) -> u16 {
        self.mode & 0o170000
    }
}

/// The file system: the blob, its superblock, and a cache of inode table locations.
struct Fs<'a> {
    blob: &'a Blob,
    sb: Super,
    tables: HashMap<u64, u64>,
}

impl Fs<'_> {
    /// Byte offset of block `b`, checked against the file system and the input.
    fn block_at(&self, b: u64, len: u64) -> Result<u64, String> {
        if b >= self.sb.blocks_count {
            return Err(format!(
                "block {b} beyond the file system ({} blocks)",
                self.sb.blocks_count
            ));
        }
        let off = b * self.sb.bs;
        if off.saturating_add(len) > self.blob.len() {
            return Err(format!("block {b} beyond the end of the image (truncated?)"));
        }
        Ok(off)
    }

    fn read_block(&self, b: u64) -> Result<Vec<u8>, String> {
        let off = self.block_at(b, self.sb.bs)?;
        self.blob.read_vec(off, self.sb.bs).map_err(|e| e.to_string())
    }

    fn inode_table(&mut self, group: u64) -> Result<u64, String> {
        if let Some(&t) = self.tables.get(&group) {
            return Ok(t);
        }
        let sb = &self.sb;
        let per_block = sb.bs / sb.desc_size;
        let meta_group = group / per_block;
        let at = if sb.incompat & INCOMPAT_META_BG != 0 && meta_group >= u64::from(sb.first_meta_bg) {
            // meta_bg: each run of `per_block` groups keeps its descriptors in one block, in
            // the first group of the run, right after that group's superblock copy if any.
            let g0 = meta_group * per_block;
            let sparse = sb.ro_compat & RO_COMPAT_SPARSE_SUPER != 0;
            let has_super = !sparse || has_super(g0);
            let block = u64::from(sb.first_data_block)
                .checked_add(
                    g0.checked_mul(u64::from(sb.blocks_per_group))
                        .ok_or("descriptor block overflows")?,
                )
                .ok_or("descriptor block overflows")?
                + u64::from(has_super);
            block.checked_mul(sb.bs).ok_or("descriptor offset overflows")?
                + (group % per_block) * sb.desc_size
        } else {
            let gdt = u64::from(sb.first_data_block) + 1;
            gdt * sb.bs + group * sb.desc_size
        };
        let mut d = [0u8; 64];
        let n = (self.sb.desc_size as usize).min(64);
        self.blob
            .read_exact_at(at, &mut d[..n])
            .map_err(|e| format!("group descriptor {group}: {e}"))?;
        let mut t = u64::from(le32(&d, 8));
        if self.sb.desc_size >= 64 {
            t |= u64::from(le32(&d, 0x28)) << 32;
        }
        if self.tables.len() < 1 << 16 {
            self.tables.insert(group, t);
        }
        Ok(t)
    }

    fn inode(&mut self, ino: u32) -> Result<Inode, String> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(format!("inode {ino} out of range"));
        }
        let idx = u64::from(ino - 1);
        let ipg = u64::from(self.sb.inodes_per_group);
        let table = self.inode_table(idx / ipg)?;
        let within = (idx % ipg) * self.sb.inode_size;
        let off = self
            .block_at(table + within / self.sb.bs, 0)?
            .checked_add(within % self.sb.bs)
            .ok_or("inode offset overflows")?;
        // The whole inode: inline data continues in the in-inode extended attributes.
        let mut r = vec![0u8; self.sb.inode_size as usize];
        self.blob
            .read_exact_at(off, &mut r)
            .map_err(|e| format!("inode {ino}: {e}"))?;
        let mode = le16(&r, 0);
        let flags = le32(&r, 32);
        let mut sectors = u64::from(le32(&r, 28)) | (u64::from(le16(&r, 116)) << 32);
        if self.sb.ro_compat & RO_COMPAT_HUGE_FILE != 0 && flags & 0x40000 != 0 {
            sectors *= self.sb.bs / 512;
        }
        let mut block = [0u8; 60];
        block.copy_from_slice(&r[40..100]);
        // i_size_high is i_dir_acl for revision 0 directories.
        let high = if self.sb.rev == 0 && mode & 0o170000 == 0o040000 {
            0
        } else {
            le32(&r, 108)
        };
        let inline = (flags & INLINE_DATA_FL != 0).then(|| {
            let mut d = block.to_vec();
            d.extend_from_slice(system_data(&r));
            d
        });
        Ok(Inode {
            inline,
            mode,
            size: u64::from(le32(&r, 4)) | (u64::from(high) << 32),
            links: le16(&r, 26),
            flags,
            sectors,
            file_acl: u64::from(le32(&r, 104)) | (u64::from(le16(&r, 118)) << 32),
            block,
        })
    }
}

/// The value of the in-inode `system.data` extended attribute (the rest of inline data), or
/// nothing. Layout: `i_extra_isize` at 128, then magic `0xEA020000` and entries of
/// (name_len, name_index, value_offs, value_inum, value_size, hash, name), values addressed
/// from the first entry.
fn system_data(r: &[u8]) -> &[u8] {
    let start = 128 + usize::from(le16(r, 128));
    if le32(r, start) != 0xea02_0000 {
        return &[];
    }
    let first = start + 4;
    let mut at = first;
    while at + 16 <= r.len() && le32(r, at) != 0 {
        let name_len = usize::from(r[at]);
        let index = r[at + 1];
        let offs = usize::from(le16(r, at + 2));
        let size = le32(r, at + 8) as usize;
        if index == 7 && r.get(at + 16..at + 16 + name_len) == Some(b"data") {
            return r.get(first + offs..first + offs + size).unwrap_or(&[]);
        }
        at += (16 + name_len).div_ceil(4) * 4;
    }
    &[]
}

/// Maps a file's logical blocks to physical ones, resolving one block at a time with a small
/// cache (one block per indirection level), so memory stays bounded whatever the file claims.
struct Mapper {
    extents: bool,
    root: [u8; 60],
    /// (block number, contents) of recently read map blocks.
    cache: Vec<(u64, Vec<u8>)>,
}

impl Mapper {
    fn new(inode: &Inode) -> Mapper {
        Mapper {
            extents: inode.flags & EXTENTS_FL != 0,
            root: inode.block,
            cache: Vec::new(),
        }
    }

    fn cached(&mut self, fs: &Fs<'_>, b: u64) -> Result<&[u8], String> {
        if let Some(i) = self.cache.iter().position(|(n, _)| *n == b) {
            return Ok(&self.cache[i].1);
        }
        let data = fs.read_block(b)?;
        if self.cache.len() >= 8 {
            self.cache.remove(0);
        }
        self.cache.push((b, data));
        Ok(self.cache.last().map_or(&[], |(_, d)| d.as_slice()))
    }

    /// The physical block of logical block `l` (`None` = hole) and how many following logical
    /// blocks are physically contiguous with it (at least 1).
    fn map(&mut self, fs: &Fs<'_>, l: u64) -> Result<(Option<u64>, u64), String> {
        if self.extents {
            self.map_extent(fs, l)
        } else {
            self.map_indirect(fs, l)
        }
    }

    fn map_indirect(&mut self, fs: &Fs<'_>, l: u64) -> Result<(Option<u64>, u64), String> {
        let per = fs.sb.bs / 4;
        let ptr = |b: &[u8], i: u64| u64::from(le32(b, (i * 4) as usize));
        let root = self.root;
        let (slot, mut rest, levels) = if l < 12 {
            (l, 0, 0)
        } else if l < 12 + per {
            (12, l - 12, 1)
        } else if l < 12 + per + per * per {
            (13, l - 12 - per, 2)
        } else if l < 12 + per + per * per + per * per * per {
            (14, l - 12 - per - per * per, 3)
        } else {
            return Ok((None, 1));
        };
        let mut b = ptr(&root, slot);
        for level in (0..levels).rev() {
            if b == 0 {
                return Ok((None, 1));
            }
            let span = per.pow(level);
            let idx = rest / span;
            rest %= span;
            b = ptr(self.cached(fs, b)?, idx);
        }
        Ok((if b == 0 { None } else { Some(b) }, 1))
    }

    fn map_extent(&mut self, fs: &Fs<'_>, l: u64) -> Result<(Option<u64>, u64), String> {
        let mut node: Vec<u8> = self.root.to_vec();
        let mut depth_seen = None;
        loop {
            if le16(&node, 0) != EXTENT_MAGIC {
                return Err("bad extent header".into());
            }
            let entries = u64::from(le16(&node, 2));
            let depth = le16(&node, 6);
            if depth > MAX_EXTENT_DEPTH || depth_seen.is_some_and(|d| depth + 1 != d) {
                return Err(format!("extent tree depth {depth} out of order"));
            }
            depth_seen = Some(depth);
            let max_entries = (node.len() as u64 - 12) / 12;
            let entries = entries.min(max_entries);
            // The last entry whose first logical block is <= l.
            let mut found = None;
            for i in 0..entries {
                let e = (12 + i * 12) as usize;
                let first = u64::from(le32(&node, e));
                if first > l {
                    break;
                }
                found = Some(e);
            }
            let Some(e) = found else { return Ok((None, 1)) };
            if depth == 0 {
                let first = u64::from(le32(&node, e));
                let mut len = u64::from(le16(&node, e + 4));
                let uninit = len > 32768;
                if uninit {
                    len -= 32768;
                }
                let start = u64::from(le32(&node, e + 8)) | (u64::from(le16(&node, e + 6)) << 32);
                let off = l - first;
                if off >= len {
                    return Ok((None, 1));
                }
                // Unwritten extents read as zeros.
                return Ok((if uninit { None } else { Some(start + off) }, len - off));
            }
            let child = u64::from(le32(&node, e + 4)) | (u64::from(le16(&node, e + 8)) << 32);
            node = self.cached(fs, child)?.to_vec();
        }
    }
}

/// Streams a file's bytes; holes and unreadable blocks read as zeros (the latter noted).
struct FileReader<'f, 'a> {
    fs: &'f Fs<'a>,
    map: Mapper,
    pos: u64,
    size: u64,
    problems: Vec<String>,
    /// Inline data (for `INLINE_DATA_FL` inodes).
    inline: Option<Vec<u8>>,
}

impl Read for FileReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.size - self.pos);
        if let Some(d) = &self.inline {
            let n = want as usize;
            let at = self.pos as usize;
            for (k, o) in buf[..n].iter_mut().enumerate() {
                *o = d.get(at + k).copied().unwrap_or(0);
            }
            self.pos += want;
            return Ok(n);
        }
        let bs = self.fs.sb.bs;
        let l = self.pos / bs;
        let within = self.pos % bs;
        let (phys, run) = match self.map.map(self.fs, l) {
            Ok(m) => m,
            Err(why) => {
                if self.problems.len() < 16 {
                    self.problems.push(format!("block {l}: {why}; read as zeros"));
                }
                (None, 1)
            }
        };
        let n = (run.max(1).saturating_mul(bs) - within).min(want).min(1 << 20) as usize;
        let out = &mut buf[..n];
        match phys {
            None => out.fill(0),
            Some(p) => {
                let res = self.fs.block_at(p, 0).and_then(|off| {
                    let at = off + within;
                    let got = self.fs.blob.read_at(at, out).map_err(|e| e.to_string())?;
                    out[got..].fill(0);
                    if got < n {
                        Err("data past the end of the image".to_owned())
                    } else {
                        Ok(())
                    }
                });
                if let Err(why) = res {
                    out.fill(0);
                    if self.problems.len() < 16 {
                        self.problems.push(format!("block {p}: {why}; read as zeros"));
                    }
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Read a small object (symlink target, directory) through the block map, up to `max` bytes.
fn read_small(fs: &Fs<'_>, inode: &Inode, max: u64) -> Result<Vec<u8>, String> {
    if inode.size > max {
        return Err(format!("{} bytes, more than {max}", inode.size));
    }
    let mut r = file_reader(fs, inode, inode.size);
    let mut v = Vec::with_capacity(inode.size as usize);
    r.read_to_end(&mut v).map_err(|e| e.to_string())?;
    if let Some(p) = r.problems.into_iter().next() {
        return Err(p);
    }
    Ok(v)
}

fn file_reader<'f, 'a>(fs: &'f Fs<'a>, inode: &Inode, size: u64) -> FileReader<'f, 'a> {
    FileReader {
        fs,
        map: Mapper::new(inode),
        pos: 0,
        size,
        problems: Vec::new(),
        inline: inode.inline.clone(),
    }
}

/// Directory entries: (name, inode, file type byte).
fn read_dir(fs: &Fs<'_>, inode: &Inode, problems: &mut Vec<String>) -> Vec<(Vec<u8>, u32)> {
    let mut out = Vec::new();
    let filetype = fs.sb.incompat & INCOMPAT_FILETYPE != 0;
    if let Some(d) = &inode.inline {
        // Inline directory: the parent's inode number, then entries filling the rest of
        // i_block, then more entries filling the system.data value.
        let (first, rest) = d.split_at(60.min(d.len()));
        parse_dirents(first.get(4..).unwrap_or(&[]), filetype, &mut out, problems);
        parse_dirents(rest, filetype, &mut out, problems);
        return out;
    }
    let size = inode.size.min(MAX_DIR);
    if inode.size > MAX_DIR {
        problems.push(format!(
            "directory of {} bytes; only the first {MAX_DIR} read",
            inode.size
        ));
    }
    let bs = fs.sb.bs as usize;
    let mut r = file_reader(fs, inode, size);
    let mut block = vec![0u8; bs];
    let mut read = 0u64;
    while read < size {
        let n = ((size - read) as usize).min(bs);
        if r.read_exact(&mut block[..n]).is_err() {
            break;
        }
        read += n as u64;
        parse_dirents(&block[..n], filetype, &mut out, problems);
        if problems.len() >= MAX_DIR_PROBLEMS {
            problems.push("too many bad blocks; rest of the directory skipped".into());
            break;
        }
    }
    problems.extend(r.problems);
    out
}

/// Entries of one directory block (or inline area).
fn parse_dirents(b: &[u8], filetype: bool, out: &mut Vec<(Vec<u8>, u32)>, problems: &mut Vec<String>) {
    let mut at = 0usize;
    while at + 8 <= b.len() {
        let ino = le32(b, at);
        let mut rec = usize::from(le16(b, at + 4));
        // With 64 KiB blocks, 0 (or 65535) stands for 65536 (ext4 rec_len encoding).
        if (rec == 0 || rec == 65535) && b.len() == 65536 {
            rec = 65536;
        }
        let name_len = if filetype {
            usize::from(b[at + 6])
        } else {
            usize::from(le16(b, at + 6))
        };
        if rec < 8 || at + rec > b.len() || 8 + name_len > rec {
            problems.push(format!(
                "bad directory entry at byte {at} of a block; rest of the block skipped"
            ));
            return;
        }
        let name = &b[at + 8..at + 8 + name_len];
        if ino != 0 && name != b"." && name != b".." {
            out.push((name.to_vec(), ino));
        }
        at += rec;
    }
}

fn feature_names(sb: &Super) -> Vec<&'static str> {
    let mut v = Vec::new();
    let compat = [
        (0x4, "has_journal"),
        (0x8, "ext_attr"),
        (0x10, "resize_inode"),
        (0x20, "dir_index"),
    ];
    let incompat = [
        (0x1, "compression"),
        (0x2, "filetype"),
        (0x4, "needs_recovery"),
        (0x8, "journal_dev"),
        (0x10, "meta_bg"),
        (0x40, "extents"),
        (0x80, "64bit"),
        (0x100, "mmp"),
        (0x200, "flex_bg"),
        (0x400, "ea_inode"),
        (0x1000, "dirdata"),
        (0x2000, "metadata_csum_seed"),
        (0x4000, "large_dir"),
        (0x8000, "inline_data"),
        (0x10000, "encrypt"),
        (0x20000, "casefold"),
    ];
    let ro = [
        (0x1, "sparse_super"),
        (0x2, "large_file"),
        (0x8, "huge_file"),
        (0x10, "uninit_bg"),
        (0x20, "dir_nlink"),
        (0x40, "extra_isize"),
        (0x400, "metadata_csum"),
    ];
    for (set, table) in [
        (sb.compat, &compat[..]),
        (sb.incompat, &incompat[..]),
        (sb.ro_compat, &ro[..]),
    ] {
        v.extend(table.iter().filter(|(bit, _)| set & bit != 0).map(|(_, n)| *n));
    }
    v
}

fn uuid_string(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
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

/// Device numbers from `i_block`: the old 8:8 encoding in word 0, else Linux's
/// `new_encode_dev` layout in word 1.
fn decode_dev(block: &[u8; 60]) -> (u32, u32) {
    let old = le32(block, 0);
    if old != 0 {
        return ((old >> 8) & 0xff, old & 0xff);
    }
    let new = le32(block, 4);
    ((new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00))
}

impl Format for Ext {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        head.get(SB_OFFSET..SB_OFFSET + SB_LEN)
            .is_some_and(|sb| Super::parse(sb).is_ok())
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let Input::Blob(blob) = input else {
            return Err(FormatError::Unsupported("ext needs random access".into()));
        };
        ProblemCap::around(sink, |sink| unpack_blob(blob, sink))
    }
}

fn unpack_blob(blob: &Blob, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
    let mut raw = [0u8; SB_LEN];
    blob.read_exact_at(SB_OFFSET as u64, &mut raw)?;
    let sb = Super::parse(&raw).map_err(|why| FormatError::malformed(SB_OFFSET as u64, why))?;
    if sb.incompat & INCOMPAT_COMPRESSION != 0 {
        return Err(FormatError::Unsupported(format!(
            "ext incompatible features {:#x}",
            sb.incompat
        )));
    }
    // The inode count must agree with the group count (a cheap consistency check that
    // also bounds every inode lookup).
    if u64::from(sb.inodes_per_group) * sb.groups() < u64::from(sb.inodes_count) {
        return Err(FormatError::malformed(
            SB_OFFSET as u64,
            "more inodes than the groups hold",
        ));
    }
    if sb.incompat & INCOMPAT_RECOVER != 0 {
        sink.problem(None, "journal needs recovery; read without replaying it".into());
    }
    if sb.incompat & INCOMPAT_ENCRYPT != 0 {
        sink.problem(
            None,
            "encrypted file system: encrypted files are read as stored".into(),
        );
    }
    let fs_bytes = sb.blocks_count.saturating_mul(sb.bs);
    if fs_bytes > blob.len() {
        sink.problem(
            None,
            format!("image is {} bytes, the file system says {fs_bytes}", blob.len()),
        );
    }
    let details = serde_json::json!({
        "volume_name": String::from_utf8_lossy(&sb.label),
        "block_size": sb.bs,
        "revision": sb.rev,
        "blocks": sb.blocks_count,
        "inodes": sb.inodes_count,
        "groups": sb.groups(),
        "features": feature_names(&sb),
        "feature_flags": {"compat": sb.compat, "incompat": sb.incompat, "ro_compat": sb.ro_compat},
        "uuid": uuid_string(&sb.uuid),
        "clean": sb.state & 1 != 0,
    });
    let mut fs = Fs {
        blob,
        sb,
        tables: HashMap::new(),
    };
    let root = fs
        .inode(ROOT_INO)
        .map_err(|why| FormatError::malformed(SB_OFFSET as u64, why))?;
    if root.kind() != 0o040000 {
        return Err(FormatError::malformed(
            SB_OFFSET as u64,
            "root inode is not a directory",
        ));
    }
    walk(&mut fs, sink)?;
    Ok(Unpacked {
        consumed: Some(fs_bytes),
        details,
    })
}

/// A directory waiting to be listed: its parent's path (shared by siblings) and its own name.
struct Pending {
    ino: u32,
    parent: Rc<Vec<u8>>,
    name: Vec<u8>,
    depth: usize,
}

fn walk(fs: &mut Fs<'_>, sink: &mut dyn Sink) -> Result<(), FormatError> {
    let mut visited: HashSet<u32> = HashSet::from([ROOT_INO]);
    let mut first_path: HashMap<u32, Vec<u8>> = HashMap::new();
    let mut first_path_bytes = 0usize;
    // Pending directories: inode number, the parent's path (shared), own name.
    let mut stack: Vec<Pending> = vec![Pending {
        ino: ROOT_INO,
        parent: Rc::new(Vec::new()),
        name: Vec::new(),
        depth: 0,
    }];
    let image = fs.blob.len();
    while let Some(Pending {
        ino: dino,
        parent,
        name: dname,
        depth,
    }) = stack.pop()
    {
        let dpath = if dname.is_empty() {
            parent
        } else {
            Rc::new(join(&parent, &dname))
        };
        let dir = match fs.inode(dino) {
            Ok(d) => d,
            Err(why) => {
                sink.problem(
                    None,
                    format!("directory /{}: {why}", String::from_utf8_lossy(&dpath)),
                );
                continue;
            }
        };
        let mut problems = Vec::new();
        let kids = read_dir(fs, &dir, &mut problems);
        let shown_dir = String::from_utf8_lossy(&dpath).into_owned();
        for p in problems {
            sink.problem(None, format!("directory /{shown_dir}: {p}"));
        }
        let mut subdirs = Vec::new();
        for (name, ino) in kids {
            let path = join(&dpath, &name);
            let shown = String::from_utf8_lossy(&path).into_owned();
            let inode = match fs.inode(ino) {
                Ok(i) => i,
                Err(why) => {
                    sink.problem(None, format!("{shown}: {why}; skipped"));
                    continue;
                }
            };
            let mode = Some(u32::from(inode.mode & 0o7777));
            match inode.kind() {
                0o040000 => {
                    if !visited.insert(ino) {
                        sink.problem(
                            None,
                            format!("directory {shown} (inode {ino}) reachable twice; skipped"),
                        );
                        continue;
                    }
                    sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::Dir,
                        mode,
                        offset: None,
                    })?;
                    if depth + 1 >= MAX_DEPTH {
                        sink.problem(
                            None,
                            format!("{shown}: nesting deeper than {MAX_DEPTH}; not entered"),
                        );
                    } else {
                        subdirs.push((ino, name));
                    }
                }
                0o100000 => {
                    if let Some(first) = first_path.get(&ino) {
                        sink.entry(Entry {
                            path: &path,
                            kind: EntryKind::Hardlink(first),
                            mode,
                            offset: None,
                        })?;
                        continue;
                    }
                    // i_blocks is input too: what a file can really hold is bounded by the image.
                    let mut size = inode.size;
                    let allocated = inode.sectors.saturating_mul(512).min(image);
                    if size > allocated.saturating_add(MAX_SPARSE) {
                        sink.problem(None, format!("{shown}: size {size} far beyond its blocks; cut"));
                        size = allocated;
                    }
                    let mut r = file_reader(fs, &inode, size);
                    let res = sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::File(&mut r),
                        mode,
                        offset: None,
                    });
                    for p in std::mem::take(&mut r.problems) {
                        sink.problem(None, format!("{shown}: {p}"));
                    }
                    res?;
                    // Remember names of multiply-linked inodes, within a memory budget.
                    if inode.links > 1 && first_path_bytes < MAX_LINK_PATHS {
                        first_path_bytes += path.len();
                        first_path.insert(ino, path);
                    }
                }
                0o120000 => {
                    // Fast symlinks keep the target in i_block (no data blocks; an xattr block
                    // may be counted in i_blocks).
                    let xattr_sectors = if inode.file_acl != 0 { fs.sb.bs / 512 } else { 0 };
                    let fast = inode.flags & INLINE_DATA_FL != 0
                        || (inode.size < 60
                            && inode.flags & EXTENTS_FL == 0
                            && inode.sectors <= xattr_sectors);
                    let target = if fast {
                        Ok(inode.block[..(inode.size as usize).min(60)].to_vec())
                    } else {
                        read_small(fs, &inode, 4096)
                    };
                    match target {
                        Ok(t) => sink.entry(Entry {
                            path: &path,
                            kind: EntryKind::Symlink(&t),
                            mode,
                            offset: None,
                        })?,
                        Err(why) => sink.problem(None, format!("symlink {shown}: {why}")),
                    }
                }
                k @ (0o020000 | 0o060000) => {
                    let (major, minor) = decode_dev(&inode.block);
                    let what = if k == 0o020000 { "char" } else { "block" };
                    sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::Special { what, major, minor },
                        mode,
                        offset: None,
                    })?;
                }
                0o010000 => sink.entry(Entry {
                    path: &path,
                    kind: EntryKind::Special {
                        what: "fifo",
                        major: 0,
                        minor: 0,
                    },
                    mode,
                    offset: None,
                })?,
                0o140000 => sink.entry(Entry {
                    path: &path,
                    kind: EntryKind::Special {
                        what: "socket",
                        major: 0,
                        minor: 0,
                    },
                    mode,
                    offset: None,
                })?,
                k => sink.problem(
                    None,
                    format!("{shown}: inode {ino} has unknown type {k:#o}; skipped"),
                ),
            }
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use hashward_fixtures::Tree;
    use hashward_fixtures::ext2::{Options, build, build_with};

    use super::*;
    use crate::unpack::{HEAD_LEN, MemorySink, run_in_memory};

    pub(crate) fn sample() -> Tree {
        let mut t = Tree::new();
        let big: Vec<u8> = (0..400_000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
        t.file("etc/init.d/S70cgminer", "#!/bin/sh\nexec cgminer\n")
            .file_mode("usr/bin/bmminer", big, 0o755)
            .file("empty", Vec::new())
            .file("etc/one", "x")
            .file("etc/twelve", vec![b't'; 12 * 1024])
            .file("etc/thirteen", vec![b'u'; 13 * 1024 + 5])
            .symlink("bin/sh", "busybox")
            .symlink("lib/long", &"a/".repeat(100))
            .hardlink("usr/bin/cgminer", "usr/bin/bmminer")
            .chardev("dev/null", 1, 3)
            .chardev("dev/big", 300, 70_000)
            .dir("config/empty");
        for i in 0..150 {
            t.file(
                &format!("www/pages/cgi-bin/script-with-a-long-name-{i:03}.cgi"),
                format!("echo {i}\n"),
            );
        }
        t
    }

    pub(crate) fn check(tree: &Tree, sink: &MemorySink) {
        // mke2fs and our writer always make lost+found.
        crate::unpack::sink::assert_matches_tree(sink, tree, &["lost+found"]);
    }

    #[test]
    fn round_trip_1k_and_4k_blocks_many_groups() {
        let t = sample();
        for (bs, bpg, size) in [
            (1024, 8192, 4 << 20),
            (1024, 1024, 4 << 20),
            (4096, 32768, 8 << 20),
            (2048, 2048, 8 << 20),
        ] {
            let opts = Options {
                size_bytes: size,
                volume_name: "linux".into(),
                block_size: bs,
                blocks_per_group: bpg,
            };
            let img = build_with(&t, &opts).unwrap();
            assert!(Ext.probe(&img[..HEAD_LEN], Some(img.len() as u64)));
            let (r, sink) = run_in_memory("ext", &img, 1 << 30);
            let r = r.unwrap();
            assert!(sink.problems.is_empty(), "{bs}: {:?}", sink.problems);
            check(&t, &sink);
            assert_eq!(r.consumed, Some(img.len() as u64));
            assert_eq!(r.details["volume_name"], "linux");
            assert_eq!(r.details["block_size"], bs);
        }
    }

    #[test]
    fn probe_wants_a_sane_superblock() {
        let img = build(&sample(), 4 << 20, "linux");
        let head = &img[..HEAD_LEN];
        assert!(Ext.probe(head, None));
        for (at, val) in [(0x18, 7u8), (0x4c, 2), (0x38, 0)] {
            let mut bad = head.to_vec();
            bad[SB_OFFSET + at] = val;
            assert!(!Ext.probe(&bad, None), "{at:#x}");
        }
        assert!(!Ext.probe(&head[..1500], None));
    }

    #[test]
    fn revision_0_without_filetype_reads() {
        // Turn the rev 1 image into what genext2fs makes: revision 0, no feature flags, and
        // directory entries with a 16-bit name length (high byte zero, so clear the type byte).
        let t = sample();
        let opts = Options {
            size_bytes: 4 << 20,
            volume_name: "linux".into(),
            block_size: 1024,
            blocks_per_group: 8192,
        };
        let mut img = build_with(&t, &opts).unwrap();
        let sb = SB_OFFSET;
        img[sb + 0x4c..sb + 0x50].fill(0);
        img[sb + 0x54..sb + 0x68].fill(0);
        // With no filetype feature the type byte is the high byte of the name length.
        clear_type_bytes(&mut img);
        let (r, sink) = run_in_memory("ext", &img, 1 << 30);
        assert_eq!(r.unwrap().details["revision"], 0);
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        check(&t, &sink);
    }

    /// Zero the file-type byte of every directory entry (walks the fixture's directory blocks
    /// by scanning for "." entries of 12 bytes followed by "..").
    fn clear_type_bytes(img: &mut [u8]) {
        let bs = 1024;
        for b in (0..img.len()).step_by(bs) {
            let blk = &img[b..b + bs];
            // A directory block of the fixture starts with "." or is a continuation; detect
            // chains of valid entries covering the block exactly.
            let mut at = 0;
            let mut ok = true;
            let mut spots = Vec::new();
            while at + 8 <= bs {
                let rec = u16::from_le_bytes([blk[at + 4], blk[at + 5]]) as usize;
                let nl = blk[at + 6] as usize;
                let ft = blk[at + 7];
                if rec < 8 || at + rec > bs || nl + 8 > rec || ft > 7 || (ft == 0 && nl > 0) {
                    ok = false;
                    break;
                }
                spots.push(at + 7);
                at += rec;
            }
            if ok && at == bs && blk[..12] != [0; 12] && !spots.is_empty() {
                for s in spots {
                    img[b + s] = 0;
                }
            }
        }
    }

    #[test]
    fn truncation_and_corruption_never_panic() {
        let t = sample();
        let img = build(&t, 2 << 20, "linux");
        let full = run_in_memory("ext", &img, 1 << 30).1.entries.len();
        let mut cut = 0usize;
        let mut step = 1usize;
        while cut < img.len() {
            let (r, sink) = run_in_memory("ext", &img[..cut], 1 << 30);
            assert!(sink.entries.len() <= full);
            if cut < 2048 {
                assert!(r.is_err());
            }
            cut += step;
            step = step * 2 + 1;
        }
        let mut seed = 99u32;
        // Corrupt metadata (the first 64 KiB: superblock, descriptors, bitmaps, inode table,
        // first directories) at random.
        for i in 0..300 {
            let mut bad = img.clone();
            for _ in 0..(1 + i % 6) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = (seed as usize >> 4) % (64 << 10);
                bad[at] ^= (seed >> 24) as u8 | 1;
            }
            let _ = run_in_memory("ext", &bad, 1 << 26);
        }
    }

    #[test]
    fn cycles_and_absurd_sizes_are_contained() {
        let mut t = Tree::new();
        t.file("a/f", "data").dir("b");
        let mut img = build(&t, 1 << 20, "linux");
        // Find inode of "a" from the root directory and point "b" at it twice over: make the
        // entry for "b" in the root name inode 2 (the root itself).
        let root_dir = find_dir_entry(&img, b"b").unwrap();
        img[root_dir..root_dir + 4].copy_from_slice(&2u32.to_le_bytes());
        let (r, sink) = run_in_memory("ext", &img, 1 << 20);
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("reachable twice")),
            "{:?}",
            sink.problems
        );
        // A file claiming an exabyte.
        let mut img = build(&t, 1 << 20, "linux");
        let f = inode_of(&img, b"f");
        let off = inode_offset(&img, f);
        img[off + 108..off + 112].copy_from_slice(&u32::MAX.to_le_bytes());
        let (r, sink) = run_in_memory("ext", &img, 1 << 30);
        r.unwrap();
        let mut want = b"data".to_vec();
        want.resize(1024, 0);
        assert_eq!(sink.file("a/f").unwrap(), want);
        assert!(
            sink.problems.iter().any(|p| p.contains("far beyond")),
            "{:?}",
            sink.problems
        );
    }

    #[test]
    fn cyclic_extent_trees_and_self_pointing_indirect_blocks_end() {
        let mut t = Tree::new();
        t.file("f", vec![b'z'; 20 * 1024]).file("g", "keep");
        let img = build(&t, 1 << 20, "linux");
        let f = inode_of(&img, b"f");
        let off = inode_offset(&img, f);
        let first_block = u32::from_le_bytes(img[off + 40..off + 44].try_into().unwrap());

        // An extent index whose child claims the same depth and points at itself.
        let mut bad = img.clone();
        bad[off + 32..off + 36].copy_from_slice(&EXTENTS_FL.to_le_bytes());
        let mut root = vec![0u8; 60];
        root[0..2].copy_from_slice(&EXTENT_MAGIC.to_le_bytes());
        root[2..4].copy_from_slice(&1u16.to_le_bytes());
        root[4..6].copy_from_slice(&4u16.to_le_bytes());
        root[6..8].copy_from_slice(&1u16.to_le_bytes());
        root[16..20].copy_from_slice(&first_block.to_le_bytes());
        bad[off + 40..off + 100].copy_from_slice(&root);
        let b = first_block as usize * 1024;
        bad[b..b + 60].copy_from_slice(&root);
        let (r, sink) = run_in_memory("ext", &bad, 1 << 30);
        r.unwrap();
        assert_eq!(sink.file("f").unwrap(), &[0u8; 20 * 1024][..]);
        assert_eq!(sink.file("g").unwrap(), b"keep");
        assert!(!sink.problems.is_empty());

        // A single-indirect block listing itself: its own bytes become file data, nothing loops.
        let mut bad = img.clone();
        let ind = u32::from_le_bytes(bad[off + 88..off + 92].try_into().unwrap()) as usize;
        bad[ind * 1024..ind * 1024 + 4].copy_from_slice(&(ind as u32).to_le_bytes());
        let (r, sink) = run_in_memory("ext", &bad, 1 << 30);
        r.unwrap();
        assert_eq!(sink.file("f").unwrap().len(), 20 * 1024);
    }

    fn find_dir_entry(img: &[u8], name: &[u8]) -> Option<usize> {
        (0..img.len() - 8 - name.len()).find(|&i| {
            img[i + 6] as usize == name.len()
                && img[i + 7] <= 7
                && &img[i + 8..i + 8 + name.len()] == name
                && img[i + 4] >= 8
        })
    }

    fn inode_of(img: &[u8], name: &[u8]) -> u32 {
        let at = find_dir_entry(img, name).unwrap();
        u32::from_le_bytes(img[at..at + 4].try_into().unwrap())
    }

    fn inode_offset(img: &[u8], ino: u32) -> usize {
        let sb = Super::parse(&img[SB_OFFSET..SB_OFFSET + SB_LEN]).unwrap();
        let gdt = (sb.first_data_block as usize + 1) * sb.bs as usize;
        let group = (ino as usize - 1) / sb.inodes_per_group as usize;
        let d = gdt + group * 32;
        let table = u32::from_le_bytes(img[d + 8..d + 12].try_into().unwrap()) as usize;
        table * sb.bs as usize + ((ino as usize - 1) % sb.inodes_per_group as usize) * sb.inode_size as usize
    }
}
