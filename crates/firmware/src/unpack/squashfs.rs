//! squashfs 4.0 (little-endian, as `mksquashfs` writes it): superblock, metadata tables, and
//! regular files streamed one data block at a time.
//!
//! This is an own implementation rather than the `backhand` crate: backhand's xz and zstd
//! support links C libraries (the workspace decodes everything in pure Rust through
//! [`codec::decompress`]), and it has no bounds we control against hostile images (table sizes,
//! cyclic directories, listing overlap, block sizes).
//!
//! Layout, as documented in the Linux kernel (`Documentation/filesystems/squashfs.rst`,
//! `fs/squashfs/squashfs_fs.h`) and the squashfs-tools sources:
//!
//! ```text
//! superblock (96 bytes) | [compressor options] | data blocks and fragment blocks |
//! inode table | directory table | fragment table | export table | id table | xattr tables
//! ```
//!
//! Inode and directory tables are sequences of metadata blocks (a 2-byte header, bit 15 set
//! when stored uncompressed, at most 8 KiB of data each). An inode reference is the offset of
//! its metadata block relative to the inode table start (upper 48 bits) and an offset inside
//! the decompressed block (lower 16 bits). The two tables are decompressed into memory,
//! bounded by [`MAX_TABLE_BYTES`] each; files are never held whole: `FileData` decompresses
//! one block at a time, so memory stays O(block size).
//!
//! Hostile-input bounds: directory inodes visited twice are reported and skipped (cycles),
//! directory depth is capped, the bytes of directory listings walked may not exceed the
//! directory table (listings that overlap would otherwise multiply entries), the entry count
//! is capped from the inode count, and every data block must lie inside `bytes_used` and be
//! no larger than the block size.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use super::ahead::{self, Ahead, Decoded};
use super::codec::{self, Codec};
use super::{
    Access, Blob, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked,
};

/// Blocks decoded ahead of the reader at most (each at most a block size, 1 MiB).
const AHEAD_WINDOW: usize = 16;
/// Fewer planned blocks than this are decoded inline: threads would not pay for themselves.
const MIN_PLAN: usize = 8;
/// Planned blocks at most; the rest are decoded inline.
const MAX_PLAN: usize = 1 << 20;

/// The `squashfs` format.
pub struct Squashfs;

/// Little-endian magic (`0x73717368`).
const MAGIC_LE: &[u8; 4] = b"hsqs";
/// Big-endian magic, written by some old big-endian builds; recognised only to be refused.
const MAGIC_BE: &[u8; 4] = b"sqsh";
/// Superblock length.
const SUPERBLOCK_LEN: usize = 96;
/// Largest decompressed metadata block (`SQUASHFS_METADATA_SIZE`).
const METADATA_SIZE: usize = 8192;
/// Table offset meaning "no such table" (`SQUASHFS_INVALID_BLK`).
const NO_TABLE: u64 = u64::MAX;
/// Fragment index meaning "no fragment" (`SQUASHFS_INVALID_FRAG`).
const NO_FRAGMENT: u32 = u32::MAX;
/// Bit 24 of a data block size: the block is stored uncompressed.
const BLOCK_UNCOMPRESSED: u32 = 1 << 24;
/// Fragment table entries per metadata block (16 bytes each).
const FRAGMENTS_PER_BLOCK: u32 = (METADATA_SIZE / 16) as u32;
/// Longest name in a directory entry (`SQUASHFS_NAME_LEN`).
const MAX_NAME: usize = 256;
/// Entries under one directory header (the on-disk count is 8 bits wide plus one).
const MAX_HEADER_ENTRIES: u32 = 256;
/// Bound on each decompressed metadata table (inode, directory).
pub const MAX_TABLE_BYTES: usize = 32 << 20;
/// Directory nesting depth followed.
pub const MAX_DEPTH: usize = 256;
/// Longest path built (Linux PATH_MAX is 4096; leave room for odd but valid images).
const MAX_PATH: usize = 16 << 10;
/// Longest symlink target read.
const MAX_LINK_TARGET: usize = 64 << 10;
/// Bytes of remembered paths for hard-link detection.
const MAX_LINK_MEMORY: usize = 16 << 20;
/// Smallest inode (base header plus link count: a FIFO or socket), for count sanity checks.
const MIN_INODE: u64 = 20;
/// `mksquashfs` pads images to a multiple of 4 KiB.
const PAD: u64 = 4096;
/// Problems kept per file before they are only counted.
const MAX_FILE_PROBLEMS: usize = 8;

static INFO: FormatInfo = FormatInfo {
    id: "squashfs",
    description: "squashfs 4.0 filesystem (gzip, lzma, lzo, xz, lz4, zstd)",
    access: Access::Random,
    magics: &[Magic {
        offset: 0,
        bytes: MAGIC_LE,
    }],
    codec: false,
};

/// Superblock flags (`SQUASHFS_*` in squashfs_fs.h) that matter here.
const FLAG_COMPRESSOR_OPTIONS: u16 = 0x0400;

impl Format for Squashfs {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        let Some(h) = head.get(..SUPERBLOCK_LEN) else {
            return false;
        };
        if h.starts_with(MAGIC_BE) {
            // Big-endian: only the version, to refuse it with a clear message.
            return matches!(le16(h, 28).swap_bytes(), 1..=4);
        }
        if !h.starts_with(MAGIC_LE) {
            return false;
        }
        let major = le16(h, 28);
        if major != 4 {
            // Older little-endian layouts: claimed, then refused as unsupported.
            return (1..=3).contains(&major);
        }
        let block_size = le32(h, 12);
        let block_log = le16(h, 22);
        let bytes_used = le64(h, 40);
        le16(h, 30) == 0
            && le32(h, 4) > 0
            && bytes_used >= SUPERBLOCK_LEN as u64
            && len.is_none_or(|len| bytes_used <= len)
            && (12..=20).contains(&block_log)
            && block_size == 1u32 << block_log
            && (1..=6).contains(&le16(h, 20))
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let blob = match input {
            Input::Blob(b) => b,
            Input::Stream(_) => return Err(FormatError::Unsupported("squashfs needs random access".into())),
        };
        let sb = Superblock::read(blob)?;
        let mut fs = Fs::open(blob, &sb, sink)?;
        let helpers = if fs.codec == Codec::None {
            0
        } else {
            ahead::helpers()
        };
        if helpers > 0 {
            let plan = fs.plan();
            if plan.len() >= MIN_PLAN {
                fs.ahead = Some(Ahead::new(plan, AHEAD_WINDOW));
            }
        }
        match fs.ahead.as_ref() {
            Some(a) => std::thread::scope(|s| {
                for _ in 0..helpers {
                    let fs = &fs;
                    // A helper that cannot start leaves its share to the reader.
                    let _ = std::thread::Builder::new()
                        .name("hashward-squashfs".into())
                        .spawn_scoped(s, move || a.work(&|(pos, word)| fs.decode_block(pos, word)));
                }
                let r = fs.walk(sink);
                a.stop();
                r
            })?,
            None => fs.walk(sink)?,
        }
        let consumed = sb.bytes_used.div_ceil(PAD).saturating_mul(PAD).min(blob.len());
        Ok(Unpacked {
            consumed: Some(consumed),
            details: sb.details(),
        })
    }
}

/// Little-endian integers at `at`; callers pass slices already checked to be long enough,
/// and a short one reads as 0 rather than panicking.
fn le16(b: &[u8], at: usize) -> u16 {
    at.checked_add(2)
        .and_then(|end| b.get(at..end))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

fn le32(b: &[u8], at: usize) -> u32 {
    at.checked_add(4)
        .and_then(|end| b.get(at..end))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn le64(b: &[u8], at: usize) -> u64 {
    at.checked_add(8)
        .and_then(|end| b.get(at..end))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// The 96-byte superblock (`struct squashfs_super_block`).
#[derive(Debug, Clone)]
struct Superblock {
    inode_count: u32,
    mkfs_time: u32,
    block_size: u32,
    fragment_count: u32,
    compression: u16,
    flags: u16,
    id_count: u16,
    root_inode: u64,
    bytes_used: u64,
    id_table: u64,
    xattr_table: u64,
    inode_table: u64,
    directory_table: u64,
    fragment_table: u64,
    export_table: u64,
}

impl Superblock {
    /// Read and validate the superblock against the input length.
    fn read(blob: &Blob) -> Result<Superblock, FormatError> {
        let mut h = [0u8; SUPERBLOCK_LEN];
        blob.read_exact_at(0, &mut h)?;
        if h.starts_with(MAGIC_BE) {
            return Err(FormatError::Unsupported(
                "big-endian squashfs (magic `sqsh`)".into(),
            ));
        }
        if !h.starts_with(MAGIC_LE) {
            return Err(FormatError::malformed(0, "no squashfs magic"));
        }
        let (major, minor) = (le16(&h, 28), le16(&h, 30));
        if (major, minor) != (4, 0) {
            return Err(FormatError::Unsupported(format!(
                "squashfs version {major}.{minor} (only 4.0 is read)"
            )));
        }
        let sb = Superblock {
            inode_count: le32(&h, 4),
            mkfs_time: le32(&h, 8),
            block_size: le32(&h, 12),
            fragment_count: le32(&h, 16),
            compression: le16(&h, 20),
            flags: le16(&h, 24),
            id_count: le16(&h, 26),
            root_inode: le64(&h, 32),
            bytes_used: le64(&h, 40),
            id_table: le64(&h, 48),
            xattr_table: le64(&h, 56),
            inode_table: le64(&h, 64),
            directory_table: le64(&h, 72),
            fragment_table: le64(&h, 80),
            export_table: le64(&h, 88),
        };
        let block_log = le16(&h, 22);
        // Block size: a power of two from 4 KiB to 1 MiB, and block_log its logarithm.
        if !(12..=20).contains(&block_log) || sb.block_size != 1u32 << block_log {
            return Err(FormatError::malformed(
                12,
                format!("block size {} with block_log {block_log}", sb.block_size),
            ));
        }
        sb.codec()?;
        if sb.bytes_used < SUPERBLOCK_LEN as u64 {
            return Err(FormatError::malformed(
                40,
                format!("bytes_used {} is too small", sb.bytes_used),
            ));
        }
        if sb.bytes_used > blob.len() {
            return Err(FormatError::Truncated {
                offset: blob.len(),
                needed: sb.bytes_used - blob.len(),
            });
        }
        // The two tables every walk needs: inode table before directory table, both inside.
        if sb.inode_table < SUPERBLOCK_LEN as u64
            || sb.directory_table <= sb.inode_table
            || sb.directory_table >= sb.bytes_used
        {
            return Err(FormatError::malformed(
                64,
                format!(
                    "inode table {:#x} / directory table {:#x} outside {:#x}",
                    sb.inode_table, sb.directory_table, sb.bytes_used
                ),
            ));
        }
        if sb.root_inode >> 16 >= sb.directory_table - sb.inode_table {
            return Err(FormatError::malformed(
                32,
                format!("root inode reference {:#x}", sb.root_inode),
            ));
        }
        if sb.inode_count == 0 {
            return Err(FormatError::malformed(4, "no inodes"));
        }
        // Each inode needs at least MIN_INODE decompressed bytes, and the table is bounded.
        if u64::from(sb.inode_count) > MAX_TABLE_BYTES as u64 / MIN_INODE {
            return Err(FormatError::malformed(
                4,
                format!("inode count {} is absurd", sb.inode_count),
            ));
        }
        // The id table's index: one u64 per metadata block of 2048 four-byte ids.
        let id_index = u64::from(sb.id_count).div_ceil(2048) * 8;
        if sb
            .id_table
            .checked_add(id_index)
            .is_none_or(|end| end > sb.bytes_used)
            || sb.id_table < sb.directory_table
        {
            return Err(FormatError::malformed(
                48,
                format!("id table {:#x} outside the image", sb.id_table),
            ));
        }
        for (at, t, what) in [(56, sb.xattr_table, "xattr"), (88, sb.export_table, "export")] {
            if t != NO_TABLE && t >= sb.bytes_used {
                return Err(FormatError::malformed(
                    at,
                    format!("{what} table {t:#x} outside the image"),
                ));
            }
        }
        if sb.fragment_count > 0 {
            let index = u64::from(sb.fragment_count.div_ceil(FRAGMENTS_PER_BLOCK)) * 8;
            if sb
                .fragment_table
                .checked_add(index)
                .is_none_or(|end| end > sb.bytes_used)
                || sb.fragment_table < sb.directory_table
            {
                return Err(FormatError::malformed(
                    80,
                    format!(
                        "{} fragments at {:#x} do not fit",
                        sb.fragment_count, sb.fragment_table
                    ),
                ));
            }
        }
        Ok(sb)
    }

    fn codec(&self) -> Result<Codec, FormatError> {
        // Compression ids from squashfs_fs.h: ZLIB 1, LZMA 2, LZO 3, XZ 4, LZ4 5, ZSTD 6.
        Ok(match self.compression {
            1 => Codec::Zlib,
            2 => Codec::Lzma,
            3 => Codec::Lzo,
            4 => Codec::Xz,
            5 => Codec::Lz4,
            6 => Codec::Zstd,
            other => {
                return Err(FormatError::Unsupported(format!(
                    "squashfs compression id {other}"
                )));
            }
        })
    }

    fn compression_name(&self) -> &'static str {
        match self.compression {
            1 => "gzip",
            2 => "lzma",
            3 => "lzo",
            4 => "xz",
            5 => "lz4",
            6 => "zstd",
            _ => "unknown",
        }
    }

    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "version": "4.0",
            "compression": self.compression_name(),
            "block_size": self.block_size,
            "inode_count": self.inode_count,
            "fragment_count": self.fragment_count,
            "id_count": self.id_count,
            "mkfs_time": self.mkfs_time,
            "bytes_used": self.bytes_used,
            "flags": self.flags,
            // The options block after the superblock only tunes the compressor; every block
            // carries what decompression needs, so it is not read.
            "compressor_options": self.flags & FLAG_COMPRESSOR_OPTIONS != 0,
        })
    }
}

/// One decompressed metadata table, with where each of its blocks sat on disk.
struct MetaTable {
    /// Start of the table in the image.
    start: u64,
    /// The blocks' data, concatenated.
    data: Vec<u8>,
    /// (offset of the block header relative to `start`, offset of its data in `data`), ascending.
    blocks: Vec<(u64, usize)>,
    /// Whether every block up to the table's end decoded.
    complete: bool,
}

impl MetaTable {
    /// Decompress the metadata blocks in `[start, end)`. A block that fails stops the table
    /// there (reported); what came before stays usable.
    fn load(
        fs: &Fs<'_>,
        start: u64,
        end: u64,
        what: &str,
        sink: &mut dyn Sink,
    ) -> Result<MetaTable, FormatError> {
        let mut t = MetaTable {
            start,
            data: Vec::new(),
            blocks: Vec::new(),
            complete: false,
        };
        let mut pos = start;
        while pos < end {
            match fs.metadata_block(pos, end) {
                Ok((block, next)) => {
                    // mksquashfs fills every block but a table's last; the count bound keeps
                    // a table of tiny blocks from costing more than its data.
                    if t.data.len() + block.len() > MAX_TABLE_BYTES
                        || t.blocks.len() > MAX_TABLE_BYTES / METADATA_SIZE
                    {
                        return Err(FormatError::structure(format!(
                            "squashfs {what} table larger than {MAX_TABLE_BYTES} bytes"
                        )));
                    }
                    t.blocks.push((pos - start, t.data.len()));
                    t.data.extend_from_slice(&block);
                    pos = next;
                }
                Err(e) => {
                    sink.problem(Some(pos), format!("{what} table cut short: {e}"));
                    return Ok(t);
                }
            }
        }
        t.complete = true;
        Ok(t)
    }

    /// The position in `data` of (block, offset) as a reference stores it.
    fn locate(&self, block: u64, offset: u16) -> Option<usize> {
        let i = self.blocks.binary_search_by(|(b, _)| b.cmp(&block)).ok()?;
        let at = self.blocks.get(i)?.1.checked_add(usize::from(offset))?;
        (at < self.data.len()).then_some(at)
    }

    /// The image offset of the block holding `data[at]`, for reports.
    fn disk_offset(&self, at: usize) -> u64 {
        let i = self.blocks.partition_point(|(_, d)| *d <= at);
        let rel = i
            .checked_sub(1)
            .and_then(|i| self.blocks.get(i))
            .map_or(0, |(b, _)| *b);
        self.start.saturating_add(rel)
    }

    fn cursor(&self, at: usize) -> Cursor<'_> {
        Cursor { table: self, at }
    }
}

/// Bounds-checked little-endian reads from a decompressed table.
struct Cursor<'a> {
    table: &'a MetaTable,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let data: &'a [u8] = &self.table.data;
        let end = self.at.checked_add(n);
        match end.and_then(|end| data.get(self.at..end)) {
            Some(s) => {
                self.at += n;
                Ok(s)
            }
            None => Err(FormatError::Truncated {
                offset: self.table.disk_offset(self.at),
                needed: (self.at.saturating_add(n).saturating_sub(data.len())) as u64,
            }),
        }
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        self.bytes(2).map(|b| le16(b, 0))
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        self.bytes(4).map(|b| le32(b, 0))
    }

    fn u64(&mut self) -> Result<u64, FormatError> {
        self.bytes(8).map(|b| le64(b, 0))
    }
}

/// What an inode describes.
enum Kind<'a> {
    Dir {
        /// Listing start, relative to the directory table.
        block: u32,
        offset: u16,
        /// Listing size as stored (3 more than the listing's bytes, for `.` and `..`).
        size: u32,
    },
    File(FileInode<'a>),
    Symlink(&'a [u8]),
    Special {
        what: &'static str,
        major: u32,
        minor: u32,
    },
}

/// A regular file's inode (basic or extended).
struct FileInode<'a> {
    /// Image offset of the first data block.
    start: u64,
    size: u64,
    /// Fragment index and offset inside it, when the tail lives in a fragment.
    fragment: Option<(u32, u32)>,
    /// The remaining inode table from the block list on (a `u32` per block).
    list: &'a [u8],
}

/// A parsed inode.
struct Inode<'a> {
    kind: Kind<'a>,
    mode: u16,
    number: u32,
    /// Link count, where the inode type has one (basic files do not: they have one link).
    nlink: u32,
}

/// Linux `new_decode_dev`, which squashfs uses for its 32-bit device numbers.
fn decode_dev(dev: u32) -> (u32, u32) {
    ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00))
}

/// An image being read.
struct Fs<'b> {
    blob: &'b Blob,
    sb: Superblock,
    codec: Codec,
    inodes: MetaTable,
    dirs: MetaTable,
    /// Data and fragment blocks in the order `walk` reads them, decoded ahead on helpers.
    ahead: Option<Ahead<(u64, u32)>>,
}

impl<'b> Fs<'b> {
    fn open(blob: &'b Blob, sb: &Superblock, sink: &mut dyn Sink) -> Result<Fs<'b>, FormatError> {
        let codec = sb.codec()?;
        let empty = || MetaTable {
            start: 0,
            data: Vec::new(),
            blocks: Vec::new(),
            complete: false,
        };
        let mut fs = Fs {
            blob,
            sb: sb.clone(),
            codec,
            inodes: empty(),
            dirs: empty(),
            ahead: None,
        };
        fs.inodes = MetaTable::load(&fs, sb.inode_table, sb.directory_table, "inode", sink)?;
        let dir_end = fs.directory_table_end();
        fs.dirs = MetaTable::load(&fs, sb.directory_table, dir_end, "directory", sink)?;
        // Every inode takes at least MIN_INODE bytes of a complete inode table.
        if fs.inodes.complete && u64::from(sb.inode_count) > fs.inodes.data.len() as u64 / MIN_INODE {
            return Err(FormatError::malformed(
                4,
                format!(
                    "inode count {} exceeds what the inode table holds",
                    sb.inode_count
                ),
            ));
        }
        Ok(fs)
    }

    /// Where the directory table ends: at the first structure after it. The fragment, export
    /// and id tables point at index arrays that follow their own metadata blocks, so the first
    /// pointer of each index counts too; the xattr id table's first field is likewise the start
    /// of the xattr metadata.
    fn directory_table_end(&self) -> u64 {
        let sb = &self.sb;
        let mut end = sb.bytes_used;
        let mut consider = |at: u64| {
            if at > sb.directory_table && at < end {
                end = at;
            }
        };
        for t in [sb.fragment_table, sb.export_table, sb.id_table, sb.xattr_table] {
            if t == NO_TABLE {
                continue;
            }
            consider(t);
            let mut p = [0u8; 8];
            if t.checked_add(8).is_some_and(|e| e <= sb.bytes_used)
                && self.blob.read_exact_at(t, &mut p).is_ok()
            {
                consider(u64::from_le_bytes(p));
            }
        }
        end
    }

    /// Read the metadata block at `pos` (which must end by `end`): its data and where the
    /// next block starts.
    fn metadata_block(&self, pos: u64, end: u64) -> Result<(Vec<u8>, u64), FormatError> {
        let mut h = [0u8; 2];
        if pos.checked_add(2).is_none_or(|e| e > end) {
            return Err(FormatError::Truncated {
                offset: pos,
                needed: 2,
            });
        }
        self.blob.read_exact_at(pos, &mut h)?;
        let h = u16::from_le_bytes(h);
        let stored = h & 0x8000 != 0;
        let size = u64::from(h & 0x7fff);
        if size == 0 {
            return Err(FormatError::malformed(pos, "empty metadata block"));
        }
        let next = pos + 2 + size;
        if next > end {
            return Err(FormatError::Truncated {
                offset: pos,
                needed: next - end,
            });
        }
        if stored && size > METADATA_SIZE as u64 {
            return Err(FormatError::malformed(
                pos,
                format!("stored metadata block of {size} bytes"),
            ));
        }
        let raw = self.blob.read_vec(pos + 2, size)?;
        let data = if stored {
            raw
        } else {
            codec::decompress(self.codec, &raw, METADATA_SIZE)
                .map_err(|e| FormatError::malformed(pos, format!("metadata block: {e}")))?
        };
        Ok((data, next))
    }

    /// Parse the inode at `at` in the inode table (`struct squashfs_*_inode`).
    fn inode(&self, at: usize) -> Result<Inode<'_>, FormatError> {
        let mut c = self.inodes.cursor(at);
        let ty = c.u16()?;
        let mode = c.u16()?;
        let _uid = c.u16()?;
        let _gid = c.u16()?;
        let _mtime = c.u32()?;
        let number = c.u32()?;
        let mut nlink = 1;
        let kind = match ty {
            // Basic directory: start_block, nlink, file_size (16 bits), offset, parent.
            1 => {
                let block = c.u32()?;
                let _nlink = c.u32()?;
                let size = u32::from(c.u16()?);
                let offset = c.u16()?;
                Kind::Dir { block, offset, size }
            }
            // Extended directory: nlink, file_size, start_block, parent, index count, offset,
            // xattr; then the index, which only speeds up lookups and is not needed here.
            8 => {
                let _nlink = c.u32()?;
                let size = c.u32()?;
                let block = c.u32()?;
                let _parent = c.u32()?;
                let _index_count = c.u16()?;
                let offset = c.u16()?;
                Kind::Dir { block, offset, size }
            }
            // Basic file: start_block, fragment, offset, file_size (32 bits), block list.
            2 => {
                let start = u64::from(c.u32()?);
                let frag = c.u32()?;
                let frag_off = c.u32()?;
                let size = u64::from(c.u32()?);
                Kind::File(self.file_inode(start, size, frag, frag_off, c.at))
            }
            // Extended file: start_block, file_size, sparse, nlink, fragment, offset, xattr.
            9 => {
                let start = c.u64()?;
                let size = c.u64()?;
                let _sparse = c.u64()?;
                nlink = c.u32()?;
                let frag = c.u32()?;
                let frag_off = c.u32()?;
                let _xattr = c.u32()?;
                Kind::File(self.file_inode(start, size, frag, frag_off, c.at))
            }
            // Symlinks: nlink, target size, target (extended adds an xattr index after it).
            3 | 10 => {
                nlink = c.u32()?;
                let len = c.u32()? as usize;
                if len > MAX_LINK_TARGET {
                    return Err(FormatError::malformed(
                        self.inodes.disk_offset(at),
                        format!("symlink target of {len} bytes"),
                    ));
                }
                Kind::Symlink(c.bytes(len)?)
            }
            // Devices: nlink, rdev (extended adds an xattr index).
            4 | 5 | 11 | 12 => {
                nlink = c.u32()?;
                let (major, minor) = decode_dev(c.u32()?);
                let what = if ty == 4 || ty == 11 { "block" } else { "char" };
                Kind::Special { what, major, minor }
            }
            // FIFOs and sockets: nlink only (extended adds an xattr index).
            6 | 7 | 13 | 14 => {
                nlink = c.u32()?;
                Kind::Special {
                    what: if ty == 6 || ty == 13 { "fifo" } else { "socket" },
                    major: 0,
                    minor: 0,
                }
            }
            other => {
                return Err(FormatError::malformed(
                    self.inodes.disk_offset(at),
                    format!("inode type {other}"),
                ));
            }
        };
        Ok(Inode {
            kind,
            mode,
            number,
            nlink,
        })
    }

    fn file_inode(&self, start: u64, size: u64, frag: u32, frag_off: u32, list_at: usize) -> FileInode<'_> {
        FileInode {
            start,
            size,
            fragment: (frag != NO_FRAGMENT).then_some((frag, frag_off)),
            list: self.inodes.data.get(list_at..).unwrap_or_default(),
        }
    }

    /// Open a directory listing (`struct squashfs_dir_header`s, each followed by its
    /// entries). `budget` is what is left of the directory table: real listings never
    /// overlap, so together they cannot exceed it, which bounds the entries of a hostile
    /// image whose directories share or overlap listings.
    fn listing(
        &self,
        block: u32,
        offset: u16,
        size: u32,
        budget: &mut usize,
    ) -> Result<Listing, FormatError> {
        let len = size.saturating_sub(3) as usize;
        if len == 0 {
            return Ok(Listing::default());
        }
        let Some(at) = self.dirs.locate(u64::from(block), offset) else {
            return Err(FormatError::malformed(
                self.sb.directory_table.saturating_add(u64::from(block)),
                format!("directory listing at {block:#x}:{offset:#x} not in the directory table"),
            ));
        };
        if len > *budget {
            return Err(FormatError::structure(
                "directory listings exceed the directory table (they overlap)",
            ));
        }
        *budget -= len;
        Ok(Listing {
            at,
            end: at.saturating_add(len),
            ..Listing::default()
        })
    }

    /// The next entry of a listing, or `None` at its end.
    fn next_child(&self, l: &mut Listing) -> Result<Option<Child<'_>>, FormatError> {
        if l.at >= l.end {
            return Ok(None);
        }
        let mut c = self.dirs.cursor(l.at);
        let here = self.dirs.disk_offset(l.at);
        if l.left == 0 {
            let count = c.u32()?.saturating_add(1);
            if count > MAX_HEADER_ENTRIES {
                return Err(FormatError::malformed(
                    here,
                    format!("directory header of {count} entries"),
                ));
            }
            l.left = count;
            l.start = c.u32()?;
            l.base = c.u32()?;
        }
        let offset = c.u16()?;
        let delta = c.u16()? as i16;
        let _ty = c.u16()?;
        let name_len = usize::from(c.u16()?) + 1;
        if name_len > MAX_NAME {
            return Err(FormatError::malformed(here, format!("name of {name_len} bytes")));
        }
        let name = c.bytes(name_len)?;
        if c.at > l.end {
            return Err(FormatError::malformed(
                here,
                "directory entry runs past the listing",
            ));
        }
        l.at = c.at;
        l.left -= 1;
        Ok(Some(Child {
            name,
            block: l.start,
            offset,
            number: l.base.checked_add_signed(i32::from(delta)),
        }))
    }

    /// Walk from the root inode, handing every entry to `sink`: each directory before its
    /// contents, depth first.
    fn walk(&self, sink: &mut dyn Sink) -> Result<(), FormatError> {
        let sb = &self.sb;
        let root_at = self
            .inodes
            .locate(sb.root_inode >> 16, sb.root_inode as u16)
            .ok_or_else(|| {
                FormatError::malformed(
                    32,
                    format!("root inode {:#x} not in the inode table", sb.root_inode),
                )
            })?;
        let root = self.inode(root_at)?;
        let Kind::Dir { block, offset, size } = root.kind else {
            return Err(FormatError::malformed(32, "root inode is not a directory"));
        };
        let mut budget = self.dirs.data.len();
        let max_entries = u64::from(sb.inode_count).saturating_mul(4).saturating_add(4096);
        let mut entries = 0u64;
        let mut visited: HashSet<usize> = HashSet::from([root_at]);
        let mut links = Links::default();
        let mut frags = Fragments::default();
        let mut stack = vec![Frame {
            prefix: Vec::new(),
            listing: self.listing(block, offset, size, &mut budget)?,
        }];

        while let Some(frame) = stack.last_mut() {
            let kid = match self.next_child(&mut frame.listing) {
                Ok(Some(kid)) => kid,
                Ok(None) => {
                    stack.pop();
                    continue;
                }
                Err(e) => {
                    let dir = String::from_utf8_lossy(&frame.prefix).into_owned();
                    sink.problem(
                        Some(self.dirs.disk_offset(frame.listing.at)),
                        format!("listing of /{dir} broken off: {e}"),
                    );
                    stack.pop();
                    continue;
                }
            };
            let mut path = frame.prefix.clone();
            path.extend_from_slice(kid.name);
            entries += 1;
            if entries > max_entries {
                return Err(FormatError::structure(format!(
                    "more than {max_entries} entries for {} inodes",
                    sb.inode_count
                )));
            }
            let shown = String::from_utf8_lossy(&path).into_owned();
            if path.len() > MAX_PATH {
                sink.problem(None, format!("path longer than {MAX_PATH} bytes skipped"));
                continue;
            }
            let Some(at) = self.inodes.locate(u64::from(kid.block), kid.offset) else {
                sink.problem(
                    Some(sb.inode_table.saturating_add(u64::from(kid.block))),
                    format!(
                        "{shown}: inode {:#x}:{:#x} not in the inode table",
                        kid.block, kid.offset
                    ),
                );
                continue;
            };
            let offset = Some(self.inodes.disk_offset(at));
            let inode = match self.inode(at) {
                Ok(i) => i,
                Err(e) => {
                    sink.problem(offset, format!("{shown}: {e}"));
                    continue;
                }
            };
            if kid.number != Some(inode.number) {
                sink.problem(
                    offset,
                    format!("{shown}: directory entry and inode disagree on the inode number"),
                );
            }
            let mode = Some(u32::from(inode.mode & 0o7777));
            if let Kind::Dir {
                block,
                offset: off,
                size,
            } = inode.kind
            {
                if !visited.insert(at) {
                    sink.problem(
                        offset,
                        format!("{shown}: directory inode visited twice (cycle); skipped"),
                    );
                    continue;
                }
                sink.entry(Entry {
                    path: &path,
                    kind: EntryKind::Dir,
                    mode,
                    offset,
                })?;
                if stack.len() >= MAX_DEPTH {
                    sink.problem(
                        offset,
                        format!("{shown}: deeper than {MAX_DEPTH} directories; contents skipped"),
                    );
                    continue;
                }
                let listing = match self.listing(block, off, size, &mut budget) {
                    Ok(l) => l,
                    Err(e @ FormatError::Limit(_)) => return Err(e),
                    Err(e) => {
                        sink.problem(offset, format!("{shown}: {e}"));
                        continue;
                    }
                };
                path.push(b'/');
                stack.push(Frame {
                    prefix: path,
                    listing,
                });
                continue;
            }
            // A non-directory inode met before: squashfs hard links share the inode.
            if let Some(first) = links.first.get(&at) {
                sink.entry(Entry {
                    path: &path,
                    kind: EntryKind::Hardlink(first),
                    mode,
                    offset,
                })?;
                continue;
            }
            match inode.kind {
                Kind::File(f) => {
                    let mut data = FileData::new(self, &mut frags, &f);
                    let r = sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::File(&mut data),
                        mode,
                        offset,
                    });
                    let (problems, dropped) = data.take_problems();
                    for p in problems {
                        sink.problem(offset, format!("{shown}: {p}"));
                    }
                    if dropped > 0 {
                        sink.problem(offset, format!("{shown}: {dropped} more damaged blocks"));
                    }
                    r?;
                }
                Kind::Symlink(target) => {
                    sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::Symlink(target),
                        mode,
                        offset,
                    })?;
                }
                Kind::Special { what, major, minor } => {
                    sink.entry(Entry {
                        path: &path,
                        kind: EntryKind::Special { what, major, minor },
                        mode,
                        offset,
                    })?;
                }
                Kind::Dir { .. } => {}
            }
            if inode.nlink > 1 && !links.remember(at, path) {
                sink.problem(
                    offset,
                    format!("{shown}: too many hard links to track; later links become copies"),
                );
            }
        }
        Ok(())
    }

    /// The data and fragment blocks `walk` will read, in its order: the same depth-first
    /// traversal, without the entries. Damage makes the two part ways at worst, and then the
    /// reader decodes inline; it never changes what is extracted.
    fn plan(&self) -> Vec<(u64, u32)> {
        let mut plan = Vec::new();
        let sb = &self.sb;
        let Some(root_at) = self.inodes.locate(sb.root_inode >> 16, sb.root_inode as u16) else {
            return plan;
        };
        let Ok(Inode {
            kind: Kind::Dir { block, offset, size },
            ..
        }) = self.inode(root_at)
        else {
            return plan;
        };
        let mut budget = self.dirs.data.len();
        let max_entries = u64::from(sb.inode_count).saturating_mul(4).saturating_add(4096);
        let mut entries = 0u64;
        let mut visited: HashSet<usize> = HashSet::from([root_at]);
        let mut linked: HashSet<usize> = HashSet::new();
        let mut frags = Fragments::default();
        let mut last_fragment = None;
        let bs = u64::from(sb.block_size);
        let Ok(root) = self.listing(block, offset, size, &mut budget) else {
            return plan;
        };
        // (length of the directory's path prefix, its listing)
        let mut stack = vec![(0usize, root)];
        while let Some((prefix, listing)) = stack.last_mut() {
            let prefix = *prefix;
            let kid = match self.next_child(listing) {
                Ok(Some(kid)) => kid,
                _ => {
                    stack.pop();
                    continue;
                }
            };
            entries += 1;
            let path_len = prefix + kid.name.len();
            if entries > max_entries || plan.len() >= MAX_PLAN {
                break;
            }
            if path_len > MAX_PATH {
                continue;
            }
            let Some(at) = self.inodes.locate(u64::from(kid.block), kid.offset) else {
                continue;
            };
            let Ok(inode) = self.inode(at) else { continue };
            match inode.kind {
                Kind::Dir { block, offset, size } => {
                    if !visited.insert(at) || stack.len() >= MAX_DEPTH {
                        continue;
                    }
                    if let Ok(l) = self.listing(block, offset, size, &mut budget) {
                        stack.push((path_len + 1, l));
                    }
                }
                Kind::File(f) => {
                    if linked.contains(&at) {
                        continue;
                    }
                    if inode.nlink > 1 && linked.len() < MAX_LINK_MEMORY / Links::OVERHEAD {
                        linked.insert(at);
                    }
                    // As `FileData::new` and `FileData::fill` read it.
                    let mut fragment = f.fragment;
                    let mut blocks = if fragment.is_some() {
                        f.size / bs
                    } else {
                        f.size.div_ceil(bs)
                    };
                    let listed = (f.list.len() / 4) as u64;
                    let mut size = f.size;
                    if blocks > listed {
                        blocks = listed;
                        size = size.min(listed * bs);
                        fragment = None;
                    }
                    let mut pos = f.start;
                    for w in f.list.chunks_exact(4).take(blocks as usize) {
                        let word = le32(w, 0) & (BLOCK_UNCOMPRESSED | 0x00ff_ffff);
                        let disk = word & !BLOCK_UNCOMPRESSED;
                        if disk != 0 {
                            plan.push((pos, word));
                            pos = pos.saturating_add(u64::from(disk));
                        }
                    }
                    if let Some((index, _)) = fragment
                        && size > blocks * bs
                        && last_fragment != Some(index)
                    {
                        last_fragment = Some(index);
                        if let Ok(entry) = self.fragment_entry(&mut frags, index) {
                            plan.push(entry);
                        }
                    }
                }
                _ => {}
            }
        }
        plan
    }

    /// One data or fragment block at `pos` (size word `word`), expecting `want` bytes of
    /// output: from the helpers when they decoded it ahead.
    fn data_block(&self, pos: u64, word: u32, want: usize) -> Result<Vec<u8>, String> {
        let decode = |(pos, word): (u64, u32)| self.decode_block(pos, word);
        let out = match &self.ahead {
            Some(a) => a
                .take((pos, word), &decode)
                .unwrap_or_else(|| decode((pos, word))),
            None => decode((pos, word)),
        }?;
        if out.len() < want {
            return Err(format!(
                "block at {pos:#x} holds {} bytes, {want} expected",
                out.len()
            ));
        }
        Ok(out)
    }

    /// Read and decompress one data or fragment block of `disk` bytes at `pos`.
    fn decode_block(&self, pos: u64, word: u32) -> Decoded {
        let size = word & !BLOCK_UNCOMPRESSED;
        if size > self.sb.block_size {
            return Err(format!(
                "block of {size} bytes at {pos:#x} is larger than the block size"
            ));
        }
        let end = pos.checked_add(u64::from(size)).ok_or("block offset overflows")?;
        if end > self.sb.bytes_used {
            return Err(format!("block at {pos:#x} runs past the image end"));
        }
        let raw = self
            .blob
            .read_vec(pos, u64::from(size))
            .map_err(|e| e.to_string())?;
        if word & BLOCK_UNCOMPRESSED != 0 {
            Ok(raw)
        } else {
            codec::decompress(self.codec, &raw, self.sb.block_size as usize)
                .map_err(|e| format!("block at {pos:#x}: {e}"))
        }
    }

    /// Fragment `index`'s decompressed block, through the cache.
    fn fragment<'f>(&self, frags: &'f mut Fragments, index: u32) -> Result<&'f [u8], String> {
        if frags.block.as_ref().is_none_or(|(i, _)| *i != index) {
            let r = self.load_fragment(frags, index);
            frags.block = Some((index, r));
        }
        match frags.block.as_ref() {
            Some((_, Ok(d))) => Ok(d),
            Some((_, Err(e))) => Err(e.clone()),
            None => Err("fragment cache empty".into()),
        }
    }

    fn load_fragment(&self, frags: &mut Fragments, index: u32) -> Result<Vec<u8>, String> {
        let (start, word) = self.fragment_entry(frags, index)?;
        self.data_block(start, word, 0)
    }

    /// Where fragment block `index` is stored, and its size word.
    fn fragment_entry(&self, frags: &mut Fragments, index: u32) -> Result<(u64, u32), String> {
        if index >= self.sb.fragment_count {
            return Err(format!("fragment {index} of {}", self.sb.fragment_count));
        }
        // The fragment table: an index of u64 pointers to metadata blocks of 16-byte entries
        // (`struct squashfs_fragment_entry`: start, size, unused).
        let which = u64::from(index / FRAGMENTS_PER_BLOCK);
        if frags.meta.as_ref().is_none_or(|(w, _)| *w != which) {
            let mut p = [0u8; 8];
            let at = self.sb.fragment_table + which * 8;
            self.blob.read_exact_at(at, &mut p).map_err(|e| e.to_string())?;
            let ptr = u64::from_le_bytes(p);
            let (block, _) = self
                .metadata_block(ptr, self.sb.bytes_used)
                .map_err(|e| format!("fragment table: {e}"))?;
            frags.meta = Some((which, block));
        }
        let meta = frags.meta.as_ref().map(|(_, m)| m.as_slice()).unwrap_or_default();
        let at = (index % FRAGMENTS_PER_BLOCK) as usize * 16;
        let e = meta
            .get(at..at + 16)
            .ok_or_else(|| format!("fragment entry {index} missing"))?;
        let (start, word) = (le64(e, 0), le32(e, 8));
        if word & !BLOCK_UNCOMPRESSED == 0 {
            return Err(format!("fragment {index} is empty"));
        }
        Ok((start, word))
    }
}

/// A directory entry as listed.
struct Child<'a> {
    name: &'a [u8],
    /// Where the inode is: metadata block (relative to the inode table) and offset.
    block: u32,
    offset: u16,
    /// The inode number the listing claims (None if it overflowed).
    number: Option<u32>,
}

/// Position inside a directory listing, read one entry at a time so that a directory of
/// millions of entries costs no memory.
#[derive(Default)]
struct Listing {
    /// Next byte in the directory table, and the listing's end.
    at: usize,
    end: usize,
    /// Entries left under the current header, and that header's inode block and base number.
    left: u32,
    start: u32,
    base: u32,
}

/// A directory being walked.
struct Frame {
    /// Path of the directory plus `/` (empty at the root).
    prefix: Vec<u8>,
    listing: Listing,
}

/// The first path of every inode with more than one link, within a memory bound.
#[derive(Default)]
struct Links {
    first: HashMap<usize, Vec<u8>>,
    memory: usize,
    /// Whether the bound was hit (reported once).
    full: bool,
}

impl Links {
    /// Per-entry overhead counted against [`MAX_LINK_MEMORY`] besides the path bytes.
    const OVERHEAD: usize = 64;

    /// Remember `path` for the inode at `at`; false the first time memory runs out.
    fn remember(&mut self, at: usize, path: Vec<u8>) -> bool {
        let cost = path.len() + Self::OVERHEAD;
        if self.memory.saturating_add(cost) > MAX_LINK_MEMORY {
            let first = !self.full;
            self.full = true;
            return !first;
        }
        self.memory += cost;
        self.first.insert(at, path);
        true
    }
}

/// The last fragment-table metadata block and the last fragment block decompressed: files
/// that share a fragment block are usually adjacent.
#[derive(Default)]
struct Fragments {
    meta: Option<(u64, Vec<u8>)>,
    block: Option<(u32, Result<Vec<u8>, String>)>,
}

/// A regular file's bytes, decompressed one block at a time. Damaged blocks read as zeros (so
/// later data keeps its offsets) and are noted for the caller to report.
struct FileData<'f, 'b> {
    fs: &'f Fs<'b>,
    frags: &'f mut Fragments,
    /// Block size words still unread.
    list: &'f [u8],
    /// Image offset of the next stored block.
    pos: u64,
    /// Blocks still to read.
    blocks: u64,
    /// Bytes not yet produced (in `buf` or beyond).
    left: u64,
    fragment: Option<(u32, u32)>,
    buf: Vec<u8>,
    at: usize,
    problems: Vec<String>,
    dropped: usize,
}

impl<'f, 'b> FileData<'f, 'b> {
    fn new(fs: &'f Fs<'b>, frags: &'f mut Fragments, f: &FileInode<'f>) -> FileData<'f, 'b> {
        let bs = u64::from(fs.sb.block_size);
        let mut size = f.size;
        let mut fragment = f.fragment;
        // Without a fragment the last block may be partial; with one, whole blocks only.
        let mut blocks = if fragment.is_some() {
            size / bs
        } else {
            size.div_ceil(bs)
        };
        let mut problems = Vec::new();
        let listed = (f.list.len() / 4) as u64;
        if blocks > listed {
            problems.push(format!(
                "file of {size} bytes needs {blocks} blocks, the inode table lists {listed}; truncated"
            ));
            blocks = listed;
            size = size.min(listed * bs);
            fragment = None;
        }
        FileData {
            fs,
            frags,
            list: f.list,
            pos: f.start,
            blocks,
            left: size,
            fragment,
            buf: Vec::new(),
            at: 0,
            problems,
            dropped: 0,
        }
    }

    fn note(&mut self, p: String) {
        if self.problems.len() < MAX_FILE_PROBLEMS {
            self.problems.push(p);
        } else {
            self.dropped += 1;
        }
    }

    fn take_problems(&mut self) -> (Vec<String>, usize) {
        (std::mem::take(&mut self.problems), self.dropped)
    }

    /// Put the next block's bytes into `buf`.
    fn fill(&mut self) {
        let bs = u64::from(self.fs.sb.block_size);
        self.at = 0;
        self.buf.clear();
        if self.blocks > 0 {
            let want = self.left.min(bs) as usize;
            let word = self.list.get(..4).map_or(0, |w| le32(w, 0));
            self.list = self.list.get(4..).unwrap_or_default();
            self.blocks -= 1;
            if word >> 25 != 0 {
                self.note(format!("block size word {word:#x} has unknown bits"));
            }
            let word = word & (BLOCK_UNCOMPRESSED | 0x00ff_ffff);
            let disk = word & !BLOCK_UNCOMPRESSED;
            if disk == 0 {
                // A hole: a block of zeros that takes no space (sparse file).
                self.buf.resize(want, 0);
            } else {
                match self.fs.data_block(self.pos, word, want) {
                    Ok(mut d) => {
                        d.truncate(want);
                        self.buf = d;
                    }
                    Err(e) => {
                        self.note(e);
                        self.buf.resize(want, 0);
                    }
                }
                self.pos = self.pos.saturating_add(u64::from(disk));
            }
            self.left -= want as u64;
            return;
        }
        let want = self.left as usize;
        self.left = 0;
        let Some((index, off)) = self.fragment else {
            return;
        };
        let r = self.fs.fragment(self.frags, index).and_then(|block| {
            let off = off as usize;
            off.checked_add(want)
                .and_then(|end| block.get(off..end))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| format!("tail of {want} bytes at {off} outside fragment {index}"))
        });
        match r {
            Ok(d) => self.buf = d,
            Err(e) => {
                self.note(e);
                self.buf.resize(want, 0);
            }
        }
    }
}

impl Read for FileData<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.at >= self.buf.len() {
            if self.left == 0 {
                return Ok(0);
            }
            self.fill();
        }
        let avail = self.buf.get(self.at..).unwrap_or_default();
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use hashward_fixtures::squashfs::{Compression, Options, build, build_with};
    use hashward_fixtures::tree::sha256_hex;
    use hashward_fixtures::{Manifest, Node, Tree};

    use super::*;
    use crate::unpack::{Collected, HEAD_LEN, MemorySink, run_in_memory};

    const ALL: [Compression; 6] = [
        Compression::None,
        Compression::Gzip,
        Compression::Lzma,
        Compression::Xz,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn noise(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.file_mode("etc/init.d/S70cgminer", "#!/bin/sh\ncgminer &\n", 0o755)
            .file("etc/empty", "")
            .file("etc/one", "1")
            .file("lib/exact", noise(4096, 1))
            .file("lib/minus", noise(4095, 2))
            .file("lib/plus", noise(4097, 3))
            .file("usr/bin/cgminer", noise(3 * 4096 + 5, 4))
            .file("usr/share/text", b"hashboard chain 1 ok\n".repeat(5000))
            .file(
                "sparse",
                [vec![0u8; 3 * 4096], b"data after holes".to_vec()].concat(),
            )
            .file_mode("bin/busybox", noise(9000, 5), 0o755)
            .hardlink("bin/ls", "bin/busybox")
            .hardlink("a-link-before", "bin/busybox")
            .symlink("bin/sh", "busybox")
            .symlink("usr/lib", "../lib")
            .chardev("dev/ttyS0", 4, 64)
            .chardev("dev/big", 300, 70000)
            .dir("var/empty")
            .dir("x/y/z");
        t
    }

    /// The tree's manifest with hard links given as the files they are.
    fn expected(tree: &Tree) -> Manifest {
        let mut m = tree.manifest("");
        for (path, node) in &tree.nodes {
            if let Node::Hardlink(_) = node {
                m.insert(
                    path.clone(),
                    ("file".into(), sha256_hex(tree.content(path).unwrap())),
                );
            }
        }
        m
    }

    /// What the sink got, in the same shape.
    fn got(sink: &MemorySink) -> Manifest {
        let mut m = Manifest::new();
        for (p, c) in &sink.entries {
            let path = String::from_utf8(p.clone()).unwrap();
            let v = match c {
                Collected::Dir => ("dir".into(), String::new()),
                Collected::File(d) => ("file".into(), sha256_hex(d)),
                Collected::Symlink(t) => ("symlink".into(), String::from_utf8(t.clone()).unwrap()),
                Collected::Hardlink(t) => {
                    let t = String::from_utf8(t.clone()).unwrap();
                    (
                        "file".into(),
                        sha256_hex(sink.file(&t).expect("hard link to an emitted file")),
                    )
                }
                Collected::Special(what, a, b) => ("device".into(), format!("{what} {a}:{b}")),
            };
            assert!(m.insert(path.clone(), v).is_none(), "{path} twice");
        }
        m
    }

    fn roundtrip(tree: &Tree, opts: &Options) -> MemorySink {
        let img = build_with(tree, opts);
        assert!(Squashfs.probe(&img[..HEAD_LEN.min(img.len())], Some(img.len() as u64)));
        let (r, sink) = run_in_memory("squashfs", &img, 1 << 30);
        let u = r.unwrap_or_else(|e| panic!("{opts:?}: {e}"));
        assert!(sink.problems.is_empty(), "{opts:?}: {:?}", sink.problems);
        assert_eq!(u.consumed, Some(img.len() as u64));
        assert_eq!(got(&sink), expected(tree), "{opts:?}");
        // Directories come before what they hold.
        let names = sink.names();
        for (i, n) in names.iter().enumerate() {
            if let Some((parent, _)) = n.rsplit_once('/') {
                assert!(names[..i].iter().any(|p| p == parent), "{n} before {parent}");
            }
        }
        sink
    }

    #[test]
    fn round_trips_every_compression_and_layout() {
        let tree = sample();
        for compression in ALL {
            for opts in [
                Options {
                    compression,
                    ..Options::default()
                },
                Options {
                    compression,
                    fragments: false,
                    ..Options::default()
                },
                Options {
                    compression,
                    block_size: 128 << 10,
                    ..Options::default()
                },
            ] {
                let sink = roundtrip(&tree, &opts);
                // One of the three names carries the inode; the others link to it.
                let group = ["a-link-before", "bin/busybox", "bin/ls"];
                let kinds: Vec<&Collected> = group
                    .iter()
                    .map(|g| &sink.entries.iter().find(|(p, _)| p == g.as_bytes()).unwrap().1)
                    .collect();
                assert!(matches!(kinds[0], Collected::File(_)), "{opts:?}");
                assert_eq!(kinds[1], &Collected::Hardlink(b"a-link-before".to_vec()));
                assert_eq!(kinds[2], &Collected::Hardlink(b"a-link-before".to_vec()));
            }
        }
    }

    #[test]
    fn the_plan_is_the_order_the_walk_reads_blocks_in() {
        for compression in ALL {
            for fragments in [true, false] {
                let opts = Options {
                    compression,
                    fragments,
                    ..Options::default()
                };
                let blob = Blob::from_vec(build_with(&sample(), &opts));
                let sb = Superblock::read(&blob).unwrap();
                let mut sink = MemorySink::with_budget(1 << 30);
                let mut fs = Fs::open(&blob, &sb, &mut sink).unwrap();
                let plan = fs.plan();
                assert!(plan.len() >= MIN_PLAN, "{opts:?}: {} blocks", plan.len());
                fs.ahead = Some(Ahead::new(plan.clone(), 3));
                std::thread::scope(|s| {
                    let a = fs.ahead.as_ref().unwrap();
                    let fs = &fs;
                    s.spawn(move || a.work(&|(p, w)| fs.decode_block(p, w)));
                    fs.walk(&mut sink).unwrap();
                    a.stop();
                    assert_eq!(a.progress(), (plan.len(), 0), "{opts:?}");
                });
                assert_eq!(got(&sink), expected(&sample()), "{opts:?}");
            }
        }
    }

    #[test]
    fn details_describe_the_image() {
        let img = build(&sample(), Compression::Xz);
        let (r, _) = run_in_memory("squashfs", &img, 1 << 30);
        let d = r.unwrap().details;
        assert_eq!(d["compression"], "xz");
        assert_eq!(d["block_size"], 4096);
        assert_eq!(d["version"], "4.0");
        assert_eq!(d["mkfs_time"], 1_600_000_000);
        assert!(d["inode_count"].as_u64().unwrap() > 20);
    }

    #[test]
    fn consumed_stops_at_the_padded_end() {
        let mut img = build(&sample(), Compression::Gzip);
        let len = img.len() as u64;
        img.extend_from_slice(&[0xa5; 10_000]);
        let (r, _) = run_in_memory("squashfs", &img, 1 << 30);
        assert_eq!(r.unwrap().consumed, Some(len));
    }

    #[test]
    fn many_entries_span_metadata_blocks() {
        let mut t = Tree::new();
        for i in 0..1500 {
            t.file(
                &format!("www/{i:04}-a-fairly-long-file-name-for-the-directory-table.html"),
                format!("{i}"),
            );
        }
        for i in 0..20 {
            t.file(&format!("d{i}/f"), noise(i * 700, i as u64));
        }
        for compression in [Compression::None, Compression::Gzip] {
            roundtrip(
                &t,
                &Options {
                    compression,
                    ..Options::default()
                },
            );
        }
    }

    /// A sink that reads only the first bytes of each file.
    struct Sipping(Vec<(Vec<u8>, Vec<u8>)>);

    impl Sink for Sipping {
        fn entry(&mut self, e: Entry<'_>) -> Result<(), FormatError> {
            if let EntryKind::File(r) = e.kind {
                let mut head = vec![0u8; 10];
                let n = r.read(&mut head)?;
                head.truncate(n);
                self.0.push((e.path.to_vec(), head));
            }
            Ok(())
        }
        fn problem(&mut self, _: Option<u64>, m: String) {
            panic!("{m}");
        }
    }

    #[test]
    fn files_read_partially_do_not_disturb_the_next() {
        let tree = sample();
        let img = build(&tree, Compression::Zstd);
        let blob = Blob::from_vec(img);
        let mut s = Sipping(Vec::new());
        Squashfs
            .unpack(Input::Blob(&blob), &Ctx { name: "x", keys: &[] }, &mut s)
            .unwrap();
        assert!(s.0.len() > 8);
        for (p, head) in &s.0 {
            let data = tree.content(std::str::from_utf8(p).unwrap()).unwrap();
            assert_eq!(head.as_slice(), &data[..data.len().min(head.len())]);
            assert_eq!(head.len(), data.len().min(10).min(head.len()));
        }
    }

    #[test]
    fn probe_is_strict() {
        let img = build(&sample(), Compression::Gzip);
        assert!(Squashfs.probe(&img, None));
        assert!(!Squashfs.probe(&img[..95], None));
        assert!(!Squashfs.probe(&[0u8; 4096], None));
        let mut bad = img.clone();
        bad[22] = 13; // block_log no longer matches block_size
        assert!(!Squashfs.probe(&bad, None));
        let mut bad = img.clone();
        bad[20] = 9; // unknown compressor
        assert!(!Squashfs.probe(&bad, None));
    }

    fn unpack_err(img: &[u8]) -> FormatError {
        let (r, _) = run_in_memory("squashfs", img, 1 << 30);
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn other_versions_and_byte_orders_are_unsupported() {
        let img = build(&sample(), Compression::Gzip);
        let mut be = img.clone();
        be[..4].copy_from_slice(b"sqsh");
        be[28..32].copy_from_slice(&[0, 4, 0, 0]);
        assert!(Squashfs.probe(&be, None));
        assert!(matches!(unpack_err(&be), FormatError::Unsupported(_)));
        let mut v3 = img.clone();
        v3[28] = 3;
        assert!(Squashfs.probe(&v3, None));
        assert!(matches!(unpack_err(&v3), FormatError::Unsupported(_)));
        let mut comp = img.clone();
        comp[20] = 7;
        assert!(matches!(unpack_err(&comp), FormatError::Unsupported(_)));
        let mut s = MemorySink::default();
        let bytes: &[u8] = &img;
        let mut rd = bytes;
        let r = Squashfs.unpack(Input::Stream(&mut rd), &Ctx { name: "x", keys: &[] }, &mut s);
        assert!(matches!(r, Err(FormatError::Unsupported(_))));
    }

    fn put64(img: &mut [u8], at: usize, v: u64) {
        img[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// An in-place change to an image.
    type Patch = Box<dyn Fn(&mut Vec<u8>)>;

    #[test]
    fn corrupted_superblocks_are_refused() {
        let img = build(&sample(), Compression::Gzip);
        let len = img.len() as u64;
        let cases: Vec<(&str, Patch)> = vec![
            (
                "block size not a power of two",
                Box::new(|i| i[12..16].copy_from_slice(&5000u32.to_le_bytes())),
            ),
            ("block_log mismatch", Box::new(|i| i[22] = 13)),
            (
                "block size too big",
                Box::new(|i| {
                    i[12..16].copy_from_slice(&(2u32 << 20).to_le_bytes());
                    i[22] = 21;
                }),
            ),
            (
                "bytes_used past the end",
                Box::new(move |i| put64(i, 40, len + 1)),
            ),
            ("bytes_used tiny", Box::new(|i| put64(i, 40, 10))),
            (
                "inode table after directory table",
                Box::new(|i| {
                    let d = le64(i, 72);
                    put64(i, 64, d + 10);
                }),
            ),
            (
                "directory table outside",
                Box::new(move |i| put64(i, 72, len * 2)),
            ),
            ("root ref outside", Box::new(|i| put64(i, 32, u64::MAX))),
            (
                "no inodes",
                Box::new(|i| i[4..8].copy_from_slice(&0u32.to_le_bytes())),
            ),
            (
                "absurd inode count",
                Box::new(|i| i[4..8].copy_from_slice(&u32::MAX.to_le_bytes())),
            ),
            (
                "inode count over the table",
                Box::new(|i| i[4..8].copy_from_slice(&100_000u32.to_le_bytes())),
            ),
            (
                "absurd fragment count",
                Box::new(|i| i[16..20].copy_from_slice(&u32::MAX.to_le_bytes())),
            ),
            ("fragment table outside", Box::new(|i| put64(i, 80, u64::MAX - 3))),
            ("id table outside", Box::new(move |i| put64(i, 48, len))),
            ("export table outside", Box::new(move |i| put64(i, 88, len + 7))),
        ];
        for (why, patch) in cases {
            let mut bad = img.clone();
            patch(&mut bad);
            let e = unpack_err(&bad);
            assert!(
                matches!(e, FormatError::Malformed { .. } | FormatError::Truncated { .. }),
                "{why}: {e:?}"
            );
        }
    }

    #[test]
    fn truncation_never_panics() {
        let img = build(&sample(), Compression::Gzip);
        let used = le64(&img, 40) as usize;
        for cut in (0..img.len())
            .step_by(97)
            .chain([0, 1, 95, 96, 97, used - 1, used, img.len() - 1])
        {
            let (r, sink) = run_in_memory("squashfs", &img[..cut], 1 << 30);
            if cut < used {
                assert!(r.is_err(), "cut at {cut}");
            } else {
                // Only padding is missing: everything is there.
                assert_eq!(r.unwrap().consumed, Some(cut as u64));
                assert!(sink.problems.is_empty());
            }
            // With bytes_used pulled in to the cut, tables fall outside or are cut short.
            if (SUPERBLOCK_LEN..used).contains(&cut) {
                let mut short = img[..cut].to_vec();
                put64(&mut short, 40, cut as u64);
                let _ = run_in_memory("squashfs", &short, 1 << 30);
            }
        }
    }

    #[test]
    fn corruption_anywhere_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for compression in [Compression::None, Compression::Gzip, Compression::Lz4] {
            let img = build(&sample(), compression);
            let used = le64(&img, 40) as usize;
            // One damaged byte at every 13th offset past the superblock...
            for off in (SUPERBLOCK_LEN..used).step_by(13) {
                let mut bad = img.clone();
                bad[off] ^= (rnd() as u8) | 1;
                let (_, sink) = run_in_memory("squashfs", &bad, 64 << 20);
                assert!(sink.entries.len() < 200);
            }
            // ...and a few hundred images with several random words overwritten anywhere.
            for _ in 0..250 {
                let mut bad = img.clone();
                for _ in 0..1 + rnd() % 6 {
                    let off = rnd() as usize % used;
                    let word = (rnd() as u32).to_le_bytes();
                    let n = word.len().min(bad.len() - off);
                    bad[off..off + n].copy_from_slice(&word[..n]);
                }
                let _ = run_in_memory("squashfs", &bad, 64 << 20);
            }
        }
    }

    /// An opened image, for tests that patch structures in place.
    struct Opened {
        img: Vec<u8>,
        inode_table: usize,
        dir_table: usize,
    }

    impl Opened {
        /// An uncompressed image whose tables fit one metadata block each, so that a table
        /// position is its image offset plus the 2-byte block header.
        fn new(tree: &Tree) -> Opened {
            let img = build(tree, Compression::None);
            let inode_table = le64(&img, 64) as usize;
            let dir_table = le64(&img, 72) as usize;
            assert!(dir_table - inode_table < METADATA_SIZE);
            Opened {
                img,
                inode_table,
                dir_table,
            }
        }

        fn with_fs<T>(&self, f: impl FnOnce(&Fs<'_>) -> T) -> T {
            let blob = Blob::from_vec(self.img.clone());
            let sb = Superblock::read(&blob).unwrap();
            let mut s = MemorySink::default();
            let fs = Fs::open(&blob, &sb, &mut s).unwrap();
            f(&fs)
        }

        /// Table position of the inode at `path`, and of the directory entry naming it.
        fn find(&self, path: &str) -> (usize, usize) {
            self.with_fs(|fs| {
                let root = fs
                    .inodes
                    .locate(fs.sb.root_inode >> 16, fs.sb.root_inode as u16)
                    .unwrap();
                let mut at = root;
                let mut entry = 0;
                for part in path.split('/') {
                    let Kind::Dir { block, offset, size } = fs.inode(at).unwrap().kind else {
                        panic!()
                    };
                    let mut l = fs.listing(block, offset, size, &mut { usize::MAX }).unwrap();
                    loop {
                        let k = fs.next_child(&mut l).unwrap().expect("name in listing");
                        if k.name == part.as_bytes() {
                            at = fs.inodes.locate(u64::from(k.block), k.offset).unwrap();
                            entry = l.at - 8 - k.name.len();
                            break;
                        }
                    }
                }
                (at, entry)
            })
        }

        fn inode_mut(&mut self, at: usize) -> &mut [u8] {
            &mut self.img[self.inode_table + 2 + at..]
        }

        fn entry_mut(&mut self, at: usize) -> &mut [u8] {
            &mut self.img[self.dir_table + 2 + at..]
        }

        fn run(&self) -> (Result<Unpacked, FormatError>, MemorySink) {
            run_in_memory("squashfs", &self.img, 1 << 30)
        }
    }

    fn small() -> Tree {
        let mut t = Tree::new();
        t.file("a/b/file", noise(3 * 4096 + 100, 7))
            .file("a/tiny", "tiny")
            .file("a/other", "other")
            .symlink("a/link", "b/file")
            .dir("c");
        t
    }

    #[test]
    fn directory_cycles_are_reported_and_skipped() {
        let mut o = Opened::new(&small());
        let (a_inode, _) = o.find("a");
        let (_, b_entry) = o.find("a/b");
        // a/b now names the inode of a: a directory that contains itself.
        let a_off = (a_inode % METADATA_SIZE) as u16;
        o.entry_mut(b_entry)[..2].copy_from_slice(&a_off.to_le_bytes());
        let (r, sink) = o.run();
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("cycle")),
            "{:?}",
            sink.problems
        );
        assert!(sink.file("a/tiny").is_some());
        assert!(!sink.names().iter().any(|n| n.starts_with("a/b/")));
    }

    #[test]
    fn overlapping_listings_are_bounded() {
        let mut t = Tree::new();
        for i in 0..40 {
            t.file(&format!("d{i:02}/f"), "x");
        }
        let mut o = Opened::new(&t);
        // Every dNN directory now lists the root directory.
        let root = o.with_fs(|fs| {
            fs.inodes
                .locate(fs.sb.root_inode >> 16, fs.sb.root_inode as u16)
                .unwrap()
        });
        let root_dir = o.inode_mut(root)[16..32].to_vec();
        for i in 0..40 {
            let (at, _) = o.find(&format!("d{i:02}"));
            let ino = o.inode_mut(at);
            // Basic dir: start block, nlink, size, offset — copy the root's listing fields.
            ino[16..20].copy_from_slice(&root_dir[..4]);
            ino[24..28].copy_from_slice(&root_dir[8..12]);
        }
        let (r, sink) = o.run();
        assert!(matches!(r, Err(FormatError::Limit(_))), "{r:?}");
        assert!(sink.entries.len() < 40 * 40);
        assert!(sink.problems.iter().any(|p| p.contains("cycle")));
    }

    #[test]
    fn absurd_file_sizes_are_cut_to_the_block_list() {
        let mut o = Opened::new(&small());
        let (at, _) = o.find("a/b/file");
        // Basic file: size at 28; claim 4 GiB without a fragment.
        o.inode_mut(at)[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        o.inode_mut(at)[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        let (r, sink) = o.run();
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("truncated")),
            "{:?}",
            sink.problems
        );
        let f = sink.file("a/b/file").unwrap();
        assert!(f.len() < 64 << 20, "{}", f.len());
        assert_eq!(sink.file("a/tiny").unwrap(), b"tiny");
    }

    #[test]
    fn damaged_blocks_read_as_zeros_and_are_reported() {
        let tree = small();
        let mut o = Opened::new(&tree);
        let (at, _) = o.find("a/b/file");
        // Block list starts at 32: make the second block larger than the block size, and
        // point the file's start past the image for good measure on a copy.
        let first = o.inode_mut(at)[36..40].to_vec();
        o.inode_mut(at)[36..40].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        let (r, sink) = o.run();
        r.unwrap();
        assert!(
            sink.problems
                .iter()
                .any(|p| p.contains("larger than the block size")),
            "{:?}",
            sink.problems
        );
        let f = sink.file("a/b/file").unwrap();
        let want = tree.content("a/b/file").unwrap();
        assert_eq!(f.len(), want.len());
        assert_eq!(&f[..4096], &want[..4096]);
        assert!(f[4096..8192].iter().all(|&b| b == 0));

        o.inode_mut(at)[36..40].copy_from_slice(&first);
        o.inode_mut(at)[16..20].copy_from_slice(&0xffff_0000u32.to_le_bytes());
        let (r, sink) = o.run();
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("past the image end")),
            "{:?}",
            sink.problems
        );

        // A fragment index that does not exist.
        let (at, _) = o.find("a/tiny");
        o.inode_mut(at)[20..24].copy_from_slice(&77u32.to_le_bytes());
        let (r, sink) = o.run();
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("fragment 77")),
            "{:?}",
            sink.problems
        );
        assert_eq!(sink.file("a/tiny").unwrap(), b"\0\0\0\0");
    }

    #[test]
    fn bad_inodes_are_skipped() {
        let mut o = Opened::new(&small());
        let (link, _) = o.find("a/link");
        let (tiny, _) = o.find("a/tiny");
        // A huge symlink target and an unknown inode type.
        o.inode_mut(link)[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        o.inode_mut(tiny)[..2].copy_from_slice(&99u16.to_le_bytes());
        let (r, sink) = o.run();
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("symlink target")),
            "{:?}",
            sink.problems
        );
        assert!(
            sink.problems.iter().any(|p| p.contains("inode type 99")),
            "{:?}",
            sink.problems
        );
        assert!(sink.file("a/other").is_some());
        assert!(!sink.names().contains(&"a/link".to_string()));
    }

    #[test]
    fn deep_trees_are_cut_at_the_depth_cap() {
        let mut t = Tree::new();
        let deep: Vec<&str> = std::iter::repeat_n("d", MAX_DEPTH + 20).collect();
        t.file(&format!("{}/bottom", deep.join("/")), "deep");
        let img = build(&t, Compression::Gzip);
        let (r, sink) = run_in_memory("squashfs", &img, 1 << 30);
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("deeper than")),
            "{:?}",
            sink.problems
        );
        assert_eq!(sink.entries.len(), MAX_DEPTH);
        assert!(sink.entries.iter().all(|(_, c)| *c == Collected::Dir));
    }

    #[test]
    fn device_numbers_decode_like_linux() {
        assert_eq!(decode_dev((4 << 8) | 64), (4, 64));
        // new_encode_dev(300, 70000): minor's high bits above bit 20.
        let dev = ((300 & 0xfff) << 8) | (70000 & 0xff) | ((70000 & 0xfff00) << 12);
        assert_eq!(decode_dev(dev), (300, 70000));
    }
}
