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
//! bounded by [`MAX_TABLE_BYTES`] each; files are never held whole: [`FileData`] decompresses
//! one block at a time, so memory stays O(block size).
//!
//! Hostile-input bounds: directory inodes visited twice are reported and skipped (cycles),
//! directory depth is capped, the bytes of directory listings walked may not exceed the
//! directory table (listings that overlap would otherwise multiply entries), the entry count
//! is capped from the inode count, and every data block must lie inside `bytes_used` and be
//! no larger than the block size.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use super::codec::{self, Codec};
use super::{
    Access, Blob, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked,
};

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

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        let Some(h) = head.get(..SUPERBLOCK_LEN) else {
            return false;
        };
        if h.starts_with(MAGIC_BE) {
            // Big-endian: only the version, to refuse it with a clear message.
            return matches!(u16::from_be_bytes([h[28], h[29]]), 1..=4);
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
        le16(h, 30) == 0
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
        let fs = Fs::open(blob, &sb, sink)?;
        fs.walk(sink)?;
        let consumed = sb.bytes_used.div_ceil(PAD).saturating_mul(PAD).min(blob.len());
        Ok(Unpacked {
            consumed: Some(consumed),
            details: sb.details(),
        })
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from(le32(b, at)) | (u64::from(le32(b, at + 4)) << 32)
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
                    if t.data.len() + block.len() > MAX_TABLE_BYTES {
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
        };
        if sb.flags & FLAG_COMPRESSOR_OPTIONS != 0 {
            // The options block after the superblock only tunes the compressor; each block
            // carries what decompression needs, so it is skipped.
        }
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
                let _nlink = c.u32()?;
                let frag = c.u32()?;
                let frag_off = c.u32()?;
                let _xattr = c.u32()?;
                Kind::File(self.file_inode(start, size, frag, frag_off, c.at))
            }
            // Symlinks: nlink, target size, target (extended adds an xattr index after it).
            3 | 10 => {
                let _nlink = c.u32()?;
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
                let _nlink = c.u32()?;
                let (major, minor) = decode_dev(c.u32()?);
                let what = if ty == 4 || ty == 11 { "block" } else { "char" };
                Kind::Special { what, major, minor }
            }
            // FIFOs and sockets: nlink only (extended adds an xattr index).
            6 | 7 | 13 | 14 => {
                let _nlink = c.u32()?;
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
        Ok(Inode { kind, mode, number })
    }

    fn file_inode(&self, start: u64, size: u64, frag: u32, frag_off: u32, list_at: usize) -> FileInode<'_> {
        FileInode {
            start,
            size,
            fragment: (frag != NO_FRAGMENT).then_some((frag, frag_off)),
            list: self.inodes.data.get(list_at..).unwrap_or_default(),
        }
    }

    /// Parse a directory listing (`struct squashfs_dir_header` then entries). `budget` is what
    /// is left of the directory table: real listings never overlap, so together they cannot
    /// exceed it. Returns what was read and, if the listing broke off, why.
    fn listing(
        &self,
        block: u32,
        offset: u16,
        size: u32,
        budget: &mut usize,
    ) -> Result<(Vec<Child>, Option<FormatError>), FormatError> {
        let len = size.saturating_sub(3) as usize;
        if len == 0 {
            return Ok((Vec::new(), None));
        }
        let Some(at) = self.dirs.locate(u64::from(block), offset) else {
            return Err(FormatError::malformed(
                self.sb.directory_table.saturating_add(u64::from(block)),
                format!("directory listing at {block:#x}:{offset:#x} not in the directory table"),
            ));
        };
        if len > *budget {
            return Err(FormatError::structure(
                "directory listings exceed the directory table (overlap)",
            ));
        }
        *budget -= len;
        let end = at.saturating_add(len);
        let mut kids = Vec::new();
        let mut c = self.dirs.cursor(at);
        let r = (|| -> Result<(), FormatError> {
            while c.at < end {
                let here = self.dirs.disk_offset(c.at);
                let count = c.u32()?.saturating_add(1);
                if count > MAX_HEADER_ENTRIES {
                    return Err(FormatError::malformed(
                        here,
                        format!("directory header of {count} entries"),
                    ));
                }
                let start = c.u32()?;
                let base = c.u32()?;
                for _ in 0..count {
                    let off = c.u16()?;
                    let delta = c.u16()? as i16;
                    let _ty = c.u16()?;
                    let name_len = usize::from(c.u16()?) + 1;
                    if name_len > MAX_NAME {
                        return Err(FormatError::malformed(here, format!("name of {name_len} bytes")));
                    }
                    let name = c.bytes(name_len)?.to_vec();
                    let number = base.checked_add_signed(i32::from(delta));
                    kids.push(Child {
                        name,
                        block: start,
                        offset: off,
                        number,
                    });
                    if c.at > end {
                        return Err(FormatError::malformed(
                            here,
                            "directory entry runs past the listing",
                        ));
                    }
                }
            }
            Ok(())
        })();
        Ok((kids, r.err()))
    }

    /// Walk from the root inode, handing every entry to `sink`.
    fn walk(&self, sink: &mut dyn Sink) -> Result<(), FormatError> {
        let root_at = self
            .inodes
            .locate(self.sb.root_inode >> 16, self.sb.root_inode as u16)
            .ok_or_else(|| {
                FormatError::malformed(
                    32,
                    format!("root inode {:#x} not in the inode table", self.sb.root_inode),
                )
            })?;
        let root = self.inode(root_at)?;
        let Kind::Dir { block, offset, size } = root.kind else {
            return Err(FormatError::malformed(32, "root inode is not a directory"));
        };
        let mut budget = self.dirs.data.len();
        let max_entries = u64::from(self.sb.inode_count)
            .saturating_mul(4)
            .saturating_add(4096);
        let mut entries = 0u64;
        let mut visited: HashSet<usize> = HashSet::from([root_at]);
        let mut first_paths: HashMap<usize, Vec<u8>> = HashMap::new();
        let mut link_memory = 0usize;
        let mut frags = Fragments::default();
        let mut stack: Vec<Frame> = Vec::new();
        let (kids, err) = self.listing(block, offset, size, &mut budget)?;
        if let Some(e) = err {
            sink.problem(
                Some(self.sb.directory_table),
                format!("root directory listing: {e}"),
            );
        }
        stack.push(Frame {
            prefix: Vec::new(),
            kids: kids.into_iter(),
        });

        while let Some(frame) = stack.last_mut() {
            let Some(kid) = frame.kids.next() else {
                stack.pop();
                continue;
            };
            let mut path = frame.prefix.clone();
            path.extend_from_slice(&kid.name);
            entries += 1;
            if entries > max_entries {
                return Err(FormatError::structure(format!(
                    "more than {max_entries} entries for {} inodes",
                    self.sb.inode_count
                )));
            }
            let shown = String::from_utf8_lossy(&path).into_owned();
            if path.len() > MAX_PATH {
                sink.problem(None, format!("path longer than {MAX_PATH} bytes skipped"));
                continue;
            }
            let Some(at) = self.inodes.locate(u64::from(kid.block), kid.offset) else {
                sink.problem(
                    Some(self.sb.inode_table.saturating_add(u64::from(kid.block))),
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
                let (kids, err) = match self.listing(block, off, size, &mut budget) {
                    Ok(r) => r,
                    Err(e @ FormatError::Limit(_)) => return Err(e),
                    Err(e) => {
                        sink.problem(offset, format!("{shown}: {e}"));
                        continue;
                    }
                };
                if let Some(e) = err {
                    sink.problem(offset, format!("{shown}: listing broken off: {e}"));
                }
                path.push(b'/');
                stack.push(Frame {
                    prefix: path,
                    kids: kids.into_iter(),
                });
                continue;
            }
            // A non-directory inode met before: squashfs hard links share the inode.
            if let Some(first) = first_paths.get(&at) {
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
            if link_memory.saturating_add(path.len()) <= MAX_LINK_MEMORY {
                link_memory += path.len();
                first_paths.insert(at, path);
            }
        }
        Ok(())
    }

    /// Read one data or fragment block of `disk` bytes at `pos` (size word `word`), expecting
    /// `want` bytes of output.
    fn data_block(&self, pos: u64, word: u32, want: usize) -> Result<Vec<u8>, String> {
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
        let out = if word & BLOCK_UNCOMPRESSED != 0 {
            raw
        } else {
            codec::decompress(self.codec, &raw, self.sb.block_size as usize)
                .map_err(|e| format!("block at {pos:#x}: {e}"))?
        };
        if out.len() < want {
            return Err(format!(
                "block at {pos:#x} holds {} bytes, {want} expected",
                out.len()
            ));
        }
        Ok(out)
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
        self.data_block(start, word, 0)
    }
}

/// A directory entry as listed.
struct Child {
    name: Vec<u8>,
    block: u32,
    offset: u16,
    /// The inode number the listing claims (None if it overflowed).
    number: Option<u32>,
}

/// A directory being walked.
struct Frame {
    /// Path of the directory plus `/` (empty at the root).
    prefix: Vec<u8>,
    kids: std::vec::IntoIter<Child>,
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
