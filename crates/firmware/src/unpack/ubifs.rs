//! UBIFS, the flash file system inside a UBI volume: committed index walked, files streamed.
//!
//! Layout (Linux `fs/ubifs/ubifs-media.h`, all little-endian): the volume is a run of LEBs;
//! every node starts with a 24-byte common header (magic `0x06101831`, CRC-32 over the node
//! from byte 8 in the kernel's seed-all-ones/no-inversion convention, sequence number, length,
//! type). LEB 0 holds the superblock, LEBs 1 and 2 the master node copies (the newest valid one
//! wins); the master points at the root of the index, a B+-tree of index nodes whose level-0
//! branches point at leaf nodes: inodes, directory entries and 4 KiB data blocks, each keyed by
//! (inode number, key type, hash or block number).
//!
//! The reader walks that index (cycle-checked, levels strictly decreasing, node counts bounded
//! by the volume size), keeps only small per-node records (inodes, names, data-block
//! locations), rebuilds the tree from the root inode 1 and streams each file block by block
//! (holes read as zeros). Per-node damage (bad CRC, wrong key, undecodable block) is reported
//! and skipped. Nodes written after the last commit (a device dump taken while mounted) live
//! only in the journal: the log's reference nodes name the bud LEBs, whose nodes are replayed
//! over the index in sequence-number order (inode and name deletions, truncations, new blocks),
//! like Linux `fs/ubifs/replay.c`; a torn last write is reported and the rest kept.
//!
//! Own implementation rather than the `ubifs` crate (0.1.x): that crate is young, has not been
//! fuzzed, and hostile input needs every bound (node counts, name and inline-data budgets,
//! index depth, cycle checks) under our control. Not done: extended attributes are skipped,
//! fscrypt-encrypted names and data are emitted as stored, and the free-space (LPT) and orphan
//! areas are not consulted (extraction does not need them).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};

use super::codec::{Codec, decompress};
use super::sink::ProblemCap;
use super::ubi::ubi_crc;
use super::{
    Access, Blob, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked,
};

/// The `ubifs` format.
pub struct Ubifs;

/// Node magic (`UBIFS_NODE_MAGIC`, little-endian on flash).
const MAGIC: [u8; 4] = [0x31, 0x18, 0x10, 0x06];

static UBIFS_INFO: FormatInfo = FormatInfo {
    id: "ubifs",
    description: "UBIFS volume (index B-tree, inode/dentry/data nodes)",
    access: Access::Random,
    // Carve only at superblock nodes: every node starts with the magic (a UBI image holds
    // thousands), so the pattern is the superblock's fixed header tail instead: length 4096,
    // type 6, group type 0 and zero padding at bytes 16..24. `probe` then checks magic and CRC.
    magics: &[Magic {
        offset: 16,
        bytes: &[0x00, 0x10, 0x00, 0x00, SB_NODE, 0x00, 0x00, 0x00],
    }],
    codec: false,
};

const CH_LEN: usize = 24;
const INO_NODE: u8 = 0;
const DATA_NODE: u8 = 1;
const DENT_NODE: u8 = 2;
const PAD_NODE: u8 = 5;
const SB_NODE: u8 = 6;
const MST_NODE: u8 = 7;
const REF_NODE: u8 = 8;
const IDX_NODE: u8 = 9;
const SB_LEN: usize = 4096;
const MST_LEN: usize = 512;
const INO_HDR: usize = 160;
const DENT_HDR: usize = 56;
const DATA_HDR: usize = 48;
const IDX_HDR: usize = 28;
/// Branch: lnum, offs, len, then an 8-byte simple key (plus a hash on authenticated volumes).
const BRANCH_MIN: usize = 20;
/// `UBIFS_BLOCK_SIZE`.
const BLOCK: u64 = 4096;
/// `UBIFS_MAX_INO_DATA`.
const MAX_INO_DATA: usize = 4096;
/// `UBIFS_MAX_NLEN`.
const MAX_NLEN: usize = 255;
/// `UBIFS_MIN_LEB_SZ` and a generous maximum (the kernel's is 2 MiB).
const MIN_LEB: u64 = 15 * 1024;
const MAX_LEB: u64 = 8 << 20;
/// Deeper indexes than this do not occur (the kernel's fanout is at least 3).
const MAX_LEVEL: u16 = 64;
/// Directory depth and path length accepted while rebuilding the tree.
const MAX_DEPTH: usize = 512;
const MAX_PATH: usize = 64 << 10;
/// Leaf nodes taken from the index. About 4 GiB of file data in 4 KiB blocks, far beyond any
/// firmware volume; keeps the per-leaf records (inodes, names, block locations) around 100 MiB
/// even when every leaf is forged to be as costly as possible.
const MAX_LEAVES: u64 = 1 << 20;
/// Bytes of inline inode data (symlink targets) and of names kept in memory, each.
const MAX_KEPT_BYTES: u64 = 32 << 20;
/// Key types (top 3 bits of the second key word in the simple key format).
const KEY_INO: u32 = 0;
const KEY_DATA: u32 = 1;
const KEY_DENT: u32 = 2;
const KEY_XENT: u32 = 3;
/// The padding byte UBIFS fills short gaps with.
const PAD_BYTE: u8 = 0xCE;

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .unwrap_or(0)
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

/// A decoded simple key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ino: u32,
    kind: u32,
    val: u32,
}

fn key_at(b: &[u8], at: usize) -> Key {
    let w = le32(b, at + 4);
    Key {
        ino: le32(b, at),
        kind: w >> 29,
        val: w & 0x1FFF_FFFF,
    }
}

/// Check a node's common header and CRC; `b` is exactly the node.
fn check_node(b: &[u8], want: u8) -> Result<(), String> {
    if b.len() < CH_LEN || b[..4] != MAGIC {
        return Err("no node magic".into());
    }
    let len = le32(b, 16) as usize;
    if len != b.len() {
        return Err(format!("node length {len}, expected {}", b.len()));
    }
    if b[20] != want {
        return Err(format!("node type {}, expected {want}", b[20]));
    }
    if ubi_crc(&b[8..]) != le32(b, 4) {
        return Err("node CRC mismatch".into());
    }
    Ok(())
}

/// The volume's LEBs over the input.
struct Vol<'b> {
    blob: &'b Blob,
    leb: u64,
}

impl Vol<'_> {
    /// Absolute offset of (lnum, offs), if it lies inside the LEB.
    fn at(&self, lnum: u32, offs: u32, len: u64) -> Option<u64> {
        if u64::from(offs).checked_add(len)? > self.leb {
            return None;
        }
        u64::from(lnum)
            .checked_mul(self.leb)?
            .checked_add(u64::from(offs))
    }

    /// Read and check one node of `len` bytes and type `want`.
    fn node(&self, lnum: u32, offs: u32, len: u32, want: u8) -> Result<Vec<u8>, String> {
        if (len as usize) < CH_LEN {
            return Err(format!("node length {len}"));
        }
        let at = self
            .at(lnum, offs, len.into())
            .ok_or_else(|| format!("node {lnum}:{offs}+{len} crosses a LEB"))?;
        let b = self
            .blob
            .read_vec(at, len.into())
            .map_err(|e| format!("node {lnum}:{offs}: {e}"))?;
        check_node(&b, want).map_err(|e| format!("node {lnum}:{offs}: {e}"))?;
        Ok(b)
    }
}

/// Superblock fields the reader uses.
#[derive(Debug)]
struct Super {
    key_hash: u8,
    flags: u32,
    min_io: u32,
    leb_size: u32,
    leb_cnt: u32,
    log_lebs: u32,
    fmt_version: u32,
    default_compr: u16,
}

fn parse_super(b: &[u8]) -> Result<Super, FormatError> {
    if b.len() < SB_LEN {
        return Err(FormatError::Truncated {
            offset: 0,
            needed: (SB_LEN - b.len()) as u64,
        });
    }
    check_node(&b[..SB_LEN], SB_NODE).map_err(|e| FormatError::malformed(0, format!("superblock: {e}")))?;
    let s = Super {
        key_hash: b[26],
        flags: le32(b, 28),
        min_io: le32(b, 32),
        leb_size: le32(b, 36),
        leb_cnt: le32(b, 40),
        log_lebs: le32(b, 56),
        fmt_version: le32(b, 80),
        default_compr: le16(b, 84),
    };
    if b[27] != 0 {
        return Err(FormatError::Unsupported(format!("UBIFS key format {}", b[27])));
    }
    let leb = u64::from(s.leb_size);
    if !(MIN_LEB..=MAX_LEB).contains(&leb) || !leb.is_multiple_of(8) {
        return Err(FormatError::malformed(36, format!("LEB size {leb}")));
    }
    if s.min_io < 8 || !s.min_io.is_power_of_two() || u64::from(s.min_io) > leb {
        return Err(FormatError::malformed(
            32,
            format!("minimum I/O size {}", s.min_io),
        ));
    }
    if s.leb_cnt < 3 {
        return Err(FormatError::malformed(40, format!("LEB count {}", s.leb_cnt)));
    }
    Ok(s)
}

/// Master node fields the reader uses.
#[derive(Debug, Clone, Copy)]
struct Master {
    sqnum: u64,
    cmt_no: u64,
    log_lnum: u32,
    root_lnum: u32,
    root_offs: u32,
    root_len: u32,
    at: u64,
}

/// A location of a leaf from the index.
#[derive(Debug, Clone, Copy)]
struct Leaf {
    key: Key,
    lnum: u32,
    offs: u32,
    len: u32,
}

/// An inode, reduced to what extraction needs.
#[derive(Debug)]
struct Inode {
    size: u64,
    mode: u32,
    /// Symlink target or device number (inline data), at most `MAX_INO_DATA`.
    data: Vec<u8>,
    at: u64,
}

/// A directory entry.
#[derive(Debug)]
struct Dent {
    ino: u32,
    dtype: u8,
    name: Vec<u8>,
    at: u64,
}

fn codec_name(c: u16) -> &'static str {
    match c {
        0 => "none",
        1 => "lzo",
        2 => "zlib",
        3 => "zstd",
        _ => "unknown",
    }
}

/// The newest valid master node in LEBs 1 and 2. Masters are appended at `min_io`-aligned
/// offsets, so each LEB is scanned at that step until erased flash.
fn find_master(vol: &Vol<'_>, min_io: u64, probs: &mut ProblemCap<'_>) -> Option<Master> {
    let step = (MST_LEN as u64).div_ceil(min_io) * min_io;
    let mut best: Option<Master> = None;
    for lnum in 1u32..=2 {
        let mut found = false;
        let mut offs = 0u64;
        while offs + MST_LEN as u64 <= vol.leb {
            let Some(at) = vol.at(lnum, offs as u32, MST_LEN as u64) else {
                break;
            };
            let mut b = vec![0u8; MST_LEN];
            if vol.blob.read_exact_at(at, &mut b).is_err() {
                break;
            }
            if b[..CH_LEN].iter().all(|&x| x == 0xFF) {
                break;
            }
            if check_node(&b, MST_NODE).is_ok() {
                found = true;
                let m = Master {
                    sqnum: le64(&b, 8),
                    cmt_no: le64(&b, 32),
                    log_lnum: le32(&b, 44),
                    root_lnum: le32(&b, 48),
                    root_offs: le32(&b, 52),
                    root_len: le32(&b, 56),
                    at,
                };
                if best.is_none_or(|x| m.sqnum > x.sqnum) {
                    best = Some(m);
                }
            }
            offs += step;
        }
        if !found {
            probs.problem(
                Some(u64::from(lnum) * vol.leb),
                format!("no valid master node in LEB {lnum}"),
            );
        }
    }
    best
}

/// One node found in the journal (buds written after the last commit), to be applied on top of
/// the index in sequence-number order, as Linux `fs/ubifs/replay.c` does.
#[derive(Debug)]
enum JNode {
    /// A new inode version; `nlink == 0` deletes the inode and everything keyed by it.
    Ino { ino: u32, nlink: u32, inode: Inode },
    /// A directory entry; target inode 0 deletes the name.
    Dent { parent: u32, dent: Dent },
    /// A data block.
    Data(DataRef),
    /// A truncation to `new_size`.
    Trun { ino: u32, new_size: u64 },
}

/// Memory budgets shared by the index and the journal.
struct Budget {
    leaves: u64,
    data: u64,
    names: u64,
}

impl Budget {
    fn leaf(&mut self) -> bool {
        self.leaves = self.leaves.saturating_sub(1);
        self.leaves > 0
    }
}

/// Parse an inode node (already CRC-checked). Inline data is kept only for symlinks and devices.
fn parse_inode(b: &[u8], at: u64, budget: &mut Budget) -> Result<(u32, Inode), String> {
    if b.len() < INO_HDR {
        return Err("short inode node".into());
    }
    let ino = le32(b, CH_LEN);
    let data_len = le32(b, 112) as usize;
    if data_len > MAX_INO_DATA || INO_HDR + data_len > b.len() {
        return Err(format!("inode {ino} data length {data_len}"));
    }
    let mode = le32(b, 104);
    // Inline data matters only for symlinks and devices; other inodes (xattr values,
    // encryption contexts) are not kept.
    let keep = matches!(mode & 0o170000, 0o120000 | 0o020000 | 0o060000);
    let mut data = Vec::new();
    if keep {
        if budget.data < data_len as u64 {
            return Err(format!("inode {ino}: inline data over budget"));
        }
        budget.data -= data_len as u64;
        data = b[INO_HDR..INO_HDR + data_len].to_vec();
    }
    Ok((
        ino,
        Inode {
            size: le64(b, 48),
            mode,
            data,
            at,
        },
    ))
}

/// Parse a directory-entry node (already CRC-checked): (parent inode, entry).
fn parse_dent(b: &[u8], at: u64, budget: &mut Budget) -> Result<(u32, Dent), String> {
    let nlen = usize::from(le16(b, 50));
    if b.len() < DENT_HDR || nlen == 0 || nlen > MAX_NLEN || DENT_HDR + nlen > b.len() {
        return Err(format!("directory entry name length {nlen}"));
    }
    let inum = le64(b, 40);
    let ino = u32::try_from(inum).map_err(|_| format!("directory entry to inode {inum}"))?;
    if budget.names < nlen as u64 {
        return Err("names over budget; directory entry dropped".into());
    }
    budget.names -= nlen as u64;
    let name = b[DENT_HDR..DENT_HDR + nlen].to_vec();
    Ok((
        le32(b, CH_LEN),
        Dent {
            ino,
            dtype: b[49],
            name,
            at,
        },
    ))
}

/// Walk the nodes of one LEB from `offs`, handing each CRC-valid node to `f` (which returns
/// false to stop). Returns where and why the walk ended: `None` at erased flash or the LEB end,
/// `Some(offset)` at a node that does not check out (a torn write or damage).
fn scan_leb(
    vol: &Vol<'_>,
    lnum: u32,
    mut offs: u64,
    min_io: u64,
    f: &mut dyn FnMut(&[u8], u32) -> bool,
) -> Option<u64> {
    while offs + CH_LEN as u64 <= vol.leb {
        let at = vol.at(lnum, offs as u32, CH_LEN as u64)?;
        let mut ch = [0u8; CH_LEN];
        if vol.blob.read_exact_at(at, &mut ch).is_err() {
            return None;
        }
        if ch.iter().all(|&x| x == 0xFF) {
            return None;
        }
        if ch[0] == PAD_BYTE && ch[..4] != MAGIC {
            offs = (offs / min_io + 1) * min_io;
            continue;
        }
        let len = u64::from(le32(&ch, 16));
        if ch[..4] != MAGIC || len < CH_LEN as u64 || offs + len > vol.leb {
            return Some(at);
        }
        let Ok(b) = vol.blob.read_vec(at, len) else {
            return Some(at);
        };
        if ubi_crc(&b[8..]) != le32(&b, 4) {
            return Some(at);
        }
        let mut adv = len;
        if b[20] == PAD_NODE {
            adv = adv.saturating_add(u64::from(le32(&b, CH_LEN)));
        } else if !f(&b, offs as u32) {
            return None;
        }
        offs = offs.saturating_add(adv.div_ceil(8) * 8);
    }
    None
}

/// Read the log from the master's log LEB: the commit-start node of the current commit, then
/// the references to the buds written since; scan every bud and return its nodes in sequence
/// order, plus the number of buds.
fn read_journal(
    vol: &Vol<'_>,
    sb: &Super,
    mst: &Master,
    probs: &mut ProblemCap<'_>,
    budget: &mut Budget,
) -> (Vec<(u64, JNode)>, u64) {
    let log_lebs = sb.log_lebs.min(sb.leb_cnt).min(1024);
    let min_io = u64::from(sb.min_io);
    if log_lebs == 0 || mst.log_lnum < 3 || mst.log_lnum >= 3 + log_lebs {
        probs.problem(
            None,
            format!(
                "log LEB {} outside the log area; journal not replayed",
                mst.log_lnum
            ),
        );
        return (Vec::new(), 0);
    }
    // Bud references: LEB → lowest offset referenced (so each LEB is scanned once).
    let mut buds: BTreeMap<u32, u32> = BTreeMap::new();
    let mut cs_sqnum = None;
    let mut refs = 0u64;
    'log: for i in 0..log_lebs {
        let lnum = 3 + (mst.log_lnum - 3 + i) % log_lebs;
        let mut first = true;
        let mut stale = false;
        let mut stop = false;
        scan_leb(vol, lnum, 0, min_io, &mut |b, _| {
            let sq = le64(b, 8);
            if first {
                first = false;
                match cs_sqnum {
                    None if b[20] == 10 && le64(b, CH_LEN) == mst.cmt_no => cs_sqnum = Some(sq),
                    None => {
                        stale = true;
                        return false;
                    }
                    // A later log LEB must have been written after the commit started.
                    Some(c) if sq <= c => {
                        stop = true;
                        return false;
                    }
                    Some(_) => {}
                }
                if b[20] == 10 {
                    return true;
                }
            }
            if b[20] == 10 {
                stop = true; // a newer, unfinished commit: its state is not on flash yet
                return false;
            }
            if b[20] == REF_NODE && b.len() >= 36 {
                refs += 1;
                let (bl, bo) = (le32(b, CH_LEN), le32(b, CH_LEN + 4));
                let e = buds.entry(bl).or_insert(bo);
                *e = (*e).min(bo);
            }
            refs < 1 << 16
        });
        if stale {
            probs.problem(
                None,
                "no commit-start node for the current commit; journal not replayed".into(),
            );
            return (Vec::new(), 0);
        }
        if stop {
            break 'log;
        }
    }
    let mut nodes = Vec::new();
    let main_first = 3 + u64::from(log_lebs);
    for (&lnum, &offs) in &buds {
        if u64::from(lnum) < main_first || u64::from(lnum) >= u64::from(sb.leb_cnt) {
            probs.problem(
                None,
                format!("journal bud in LEB {lnum} outside the main area; skipped"),
            );
            continue;
        }
        let mut full = false;
        let end = scan_leb(vol, lnum, offs.into(), min_io, &mut |b, o| {
            let at = u64::from(lnum) * vol.leb + u64::from(o);
            let sq = le64(b, 8);
            let key = key_at(b, CH_LEN);
            let parsed = match b[20] {
                INO_NODE => parse_inode(b, at, budget).map(|(ino, inode)| {
                    Some(JNode::Ino {
                        ino,
                        nlink: le32(b, 92),
                        inode,
                    })
                }),
                DENT_NODE => {
                    parse_dent(b, at, budget).map(|(parent, dent)| Some(JNode::Dent { parent, dent }))
                }
                DATA_NODE if b.len() >= DATA_HDR && key.kind == KEY_DATA => Ok(Some(JNode::Data(DataRef {
                    ino: key.ino,
                    block: key.val,
                    lnum,
                    offs: o,
                    len: b.len() as u32,
                }))),
                4 if b.len() >= 56 => Ok(Some(JNode::Trun {
                    ino: le32(b, CH_LEN),
                    new_size: le64(b, 48),
                })),
                _ => Ok(None), // extended attributes and anything else: not content
            };
            match parsed {
                Ok(Some(n)) => {
                    if !budget.leaf() {
                        full = true;
                        return false;
                    }
                    nodes.push((sq, n));
                }
                Ok(None) => {}
                Err(e) => probs.problem(Some(at), format!("journal {e}")),
            }
            true
        });
        if full {
            probs.problem(
                None,
                "journal larger than the node budget; the rest is ignored".into(),
            );
            break;
        }
        if let Some(at) = end {
            // Normal after a power cut in the last bud: the write in progress is torn.
            probs.problem(
                Some(at),
                format!("journal bud in LEB {lnum} ends in a torn or damaged node"),
            );
        }
    }
    nodes.sort_by_key(|(sq, _)| *sq);
    (nodes, buds.len() as u64)
}

/// Walk the index from the master's root, collecting leaf locations.
fn walk_index(
    vol: &Vol<'_>,
    mst: &Master,
    probs: &mut ProblemCap<'_>,
) -> Result<(Vec<Leaf>, u64), FormatError> {
    // Every index node is at least IDX_HDR + one branch; every real leaf (a data node with a
    // few bytes, a dentry with a short name) takes at least 56 bytes of flash.
    let max_idx = vol.blob.len() / (IDX_HDR + BRANCH_MIN) as u64 + 1;
    let max_leaves = (vol.blob.len() / 56 + 16).min(MAX_LEAVES);
    let mut leaves = Vec::new();
    let mut visited: HashSet<(u32, u32)> = HashSet::new();
    let mut idx_nodes = 0u64;
    // (lnum, offs, len, level the node must have).
    let mut stack: Vec<(u32, u32, u32, Option<u16>)> =
        vec![(mst.root_lnum, mst.root_offs, mst.root_len, None)];
    while let Some((lnum, offs, len, want_level)) = stack.pop() {
        if !visited.insert((lnum, offs)) {
            probs.problem(
                None,
                format!("index node {lnum}:{offs} referenced twice (cycle?); skipped"),
            );
            continue;
        }
        idx_nodes += 1;
        if idx_nodes > max_idx {
            return Err(FormatError::structure(format!("more than {max_idx} index nodes")));
        }
        let where_ = vol.at(lnum, offs, 0);
        let b = match vol.node(lnum, offs, len, IDX_NODE) {
            Ok(b) => b,
            Err(e) => {
                probs.problem(where_, format!("index {e}; subtree skipped"));
                continue;
            }
        };
        let child_cnt = usize::from(le16(&b, 24));
        let level = le16(&b, 26);
        if want_level.is_some_and(|w| w != level) || level > MAX_LEVEL {
            probs.problem(
                where_,
                format!("index node {lnum}:{offs} at level {level}, expected {want_level:?}"),
            );
            continue;
        }
        let room = b.len().saturating_sub(IDX_HDR);
        if child_cnt == 0 || room < child_cnt * BRANCH_MIN {
            probs.problem(
                where_,
                format!("index node {lnum}:{offs} with {child_cnt} branches in {room} bytes"),
            );
            continue;
        }
        // Authenticated volumes append a hash to each branch: the stride tells.
        let stride = room / child_cnt;
        for i in (0..child_cnt).rev() {
            let br = IDX_HDR + i * stride;
            let (cl, co, clen) = (le32(&b, br), le32(&b, br + 4), le32(&b, br + 8));
            if level == 0 {
                if leaves.len() as u64 >= max_leaves {
                    // Keep what was found: a partial tree beats none.
                    probs.problem(
                        None,
                        format!("more than {max_leaves} index leaves; the rest is ignored"),
                    );
                    return Ok((leaves, idx_nodes));
                }
                leaves.push(Leaf {
                    key: key_at(&b, br + 12),
                    lnum: cl,
                    offs: co,
                    len: clen,
                });
            } else {
                stack.push((cl, co, clen, Some(level - 1)));
            }
        }
    }
    Ok((leaves, idx_nodes))
}

/// Where one data block lives.
#[derive(Debug, Clone, Copy)]
struct DataRef {
    ino: u32,
    block: u32,
    lnum: u32,
    offs: u32,
    len: u32,
}

impl Format for Ubifs {
    fn info(&self) -> &'static FormatInfo {
        &UBIFS_INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        head.len() >= CH_LEN
            && head[..4] == MAGIC
            && head[20] == SB_NODE
            && le32(head, 16) as usize == SB_LEN
            && (head.len() < SB_LEN || ubi_crc(&head[8..SB_LEN]) == le32(head, 4))
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let Input::Blob(blob) = input else {
            return Err(FormatError::Unsupported("ubifs needs random access".into()));
        };
        let sb = parse_super(&blob.head(SB_LEN)?)?;
        let vol = Vol {
            blob,
            leb: u64::from(sb.leb_size),
        };
        let mut probs = ProblemCap::new(sink);
        if u64::from(sb.leb_cnt) * vol.leb > blob.len() {
            probs.problem(
                None,
                format!(
                    "superblock counts {} LEBs, the input holds {} bytes",
                    sb.leb_cnt,
                    blob.len()
                ),
            );
        }
        let mst = find_master(&vol, u64::from(sb.min_io), &mut probs)
            .ok_or_else(|| FormatError::malformed(vol.leb, "no valid master node"))?;
        let (leaves, idx_nodes) = walk_index(&vol, &mst, &mut probs)?;
        let mut budget = Budget {
            leaves: MAX_LEAVES.saturating_sub(leaves.len() as u64) + 1,
            data: MAX_KEPT_BYTES,
            names: MAX_KEPT_BYTES,
        };

        // Read the small leaves; remember where data blocks are.
        let mut inodes: HashMap<u32, Inode> = HashMap::new();
        let mut dirs: BTreeMap<u32, Vec<Dent>> = BTreeMap::new();
        let mut data: Vec<DataRef> = Vec::new();
        let (mut xents, mut dents, mut bad_leaves) = (0u64, 0u64, 0u64);
        for leaf in &leaves {
            let at = vol.at(leaf.lnum, leaf.offs, 0);
            let want = match leaf.key.kind {
                KEY_INO => INO_NODE,
                KEY_DATA => DATA_NODE,
                KEY_DENT => DENT_NODE,
                KEY_XENT => {
                    xents += 1;
                    continue;
                }
                k => {
                    bad_leaves += 1;
                    probs.problem(at, format!("index leaf with key type {k}"));
                    continue;
                }
            };
            if want == DATA_NODE {
                // Checked when the block is read, so nothing big is held now.
                let hdr_ok =
                    leaf.len as usize >= DATA_HDR && vol.at(leaf.lnum, leaf.offs, leaf.len.into()).is_some();
                if hdr_ok {
                    data.push(DataRef {
                        ino: leaf.key.ino,
                        block: leaf.key.val,
                        lnum: leaf.lnum,
                        offs: leaf.offs,
                        len: leaf.len,
                    });
                } else {
                    bad_leaves += 1;
                    probs.problem(
                        at,
                        format!("data node {}:{} length {}", leaf.lnum, leaf.offs, leaf.len),
                    );
                }
                continue;
            }
            let b = match vol.node(leaf.lnum, leaf.offs, leaf.len, want) {
                Ok(b) => b,
                Err(e) => {
                    bad_leaves += 1;
                    probs.problem(at, format!("{e}; skipped"));
                    continue;
                }
            };
            if key_at(&b, CH_LEN) != leaf.key {
                bad_leaves += 1;
                probs.problem(
                    at,
                    format!(
                        "node {}:{} key differs from its index entry",
                        leaf.lnum, leaf.offs
                    ),
                );
                continue;
            }
            let at = at.unwrap_or(0);
            let parsed = if want == INO_NODE {
                parse_inode(&b, at, &mut budget).map(|(ino, inode)| {
                    inodes.insert(ino, inode);
                })
            } else {
                parse_dent(&b, at, &mut budget).map(|(parent, d)| {
                    dents += 1;
                    dirs.entry(parent).or_default().push(d);
                })
            };
            if let Err(e) = parsed {
                bad_leaves += 1;
                probs.problem(Some(at), e);
            }
        }
        drop(leaves);
        data.sort_unstable_by_key(|d| (d.ino, d.block));

        // Nodes written after the last commit supersede the index, oldest first.
        let (journal, buds) = read_journal(&vol, &sb, &mst, &mut probs, &mut budget);
        let journal_nodes = journal.len();
        if !journal.is_empty() {
            let mut blocks: BTreeMap<(u32, u32), DataRef> =
                data.drain(..).map(|d| ((d.ino, d.block), d)).collect();
            for (_, n) in journal {
                match n {
                    JNode::Ino { ino, nlink: 0, .. } => {
                        // Deletion: the inode and everything keyed by its number go.
                        inodes.remove(&ino);
                        dirs.remove(&ino);
                        let gone: Vec<(u32, u32)> = blocks
                            .range((ino, 0)..=(ino, u32::MAX))
                            .map(|(k, _)| *k)
                            .collect();
                        for k in gone {
                            blocks.remove(&k);
                        }
                    }
                    JNode::Ino { ino, inode, .. } => {
                        inodes.insert(ino, inode);
                    }
                    JNode::Dent { parent, dent } => {
                        let list = dirs.entry(parent).or_default();
                        list.retain(|d| d.name != dent.name);
                        if dent.ino != 0 {
                            list.push(dent);
                        }
                    }
                    JNode::Data(r) => {
                        blocks.insert((r.ino, r.block), r);
                    }
                    JNode::Trun { ino, new_size } => {
                        let keep = u32::try_from(new_size.div_ceil(BLOCK)).unwrap_or(u32::MAX);
                        let gone: Vec<(u32, u32)> = blocks
                            .range((ino, keep)..=(ino, u32::MAX))
                            .map(|(k, _)| *k)
                            .collect();
                        for k in gone {
                            blocks.remove(&k);
                        }
                    }
                }
            }
            data = blocks.into_values().collect();
        }

        let mut emitted = 0u64;
        let mut seen_dirs: HashSet<u32> = HashSet::from([1]);
        let mut first_path: HashMap<u32, Vec<u8>> = HashMap::new();
        if !inodes.contains_key(&1) {
            probs.problem(None, "root inode 1 missing".into());
        }
        // Depth-first from the root: (directory inode, its path, depth).
        let mut stack: Vec<(u32, Vec<u8>, usize)> = vec![(1, Vec::new(), 0)];
        while let Some((dir, path, depth)) = stack.pop() {
            let Some(mut entries) = dirs.remove(&dir) else {
                continue;
            };
            entries.sort_by(|a, b| b.name.cmp(&a.name));
            while let Some(d) = entries.pop() {
                let mut p = path.clone();
                if !p.is_empty() {
                    p.push(b'/');
                }
                p.extend_from_slice(&d.name);
                let Some(ino) = inodes.get(&d.ino) else {
                    probs.problem(
                        Some(d.at),
                        format!("entry `{}` names missing inode {}", show(&p), d.ino),
                    );
                    continue;
                };
                let fmt = ino.mode & 0o170000;
                let perm = Some(ino.mode & 0o7777);
                if dtype_of(fmt) != Some(d.dtype) {
                    probs.problem(
                        Some(d.at),
                        format!("entry `{}` type {} disagrees with its inode", show(&p), d.dtype),
                    );
                }
                if fmt == 0o040000 {
                    if !seen_dirs.insert(d.ino) {
                        probs.problem(
                            Some(d.at),
                            format!("directory `{}` linked twice (cycle?); skipped", show(&p)),
                        );
                        continue;
                    }
                    if depth + 1 > MAX_DEPTH || p.len() > MAX_PATH {
                        probs.problem(Some(d.at), format!("directory `{}` too deep; skipped", show(&p)));
                        continue;
                    }
                    probs.entry(Entry {
                        path: &p,
                        kind: EntryKind::Dir,
                        mode: perm,
                        offset: Some(ino.at),
                    })?;
                    emitted += 1;
                    stack.push((d.ino, p, depth + 1));
                    continue;
                }
                if let Some(first) = first_path.get(&d.ino) {
                    let e = Entry {
                        path: &p,
                        kind: EntryKind::Hardlink(first),
                        mode: perm,
                        offset: Some(d.at),
                    };
                    probs.entry(e)?;
                    emitted += 1;
                    continue;
                }
                first_path.insert(d.ino, p.clone());
                let offset = Some(ino.at);
                match fmt {
                    0o100000 => {
                        let lo = data.partition_point(|r| r.ino < d.ino);
                        let hi = data.partition_point(|r| r.ino <= d.ino);
                        let refs = data.get(lo..hi).unwrap_or(&[]);
                        let mut size = ino.size;
                        // A forged size far past the last block would stream zeros for ever.
                        let extent = refs.last().map(|r| (u64::from(r.block) + 1) * BLOCK).unwrap_or(0);
                        if size > extent.saturating_add(blob.len()) {
                            probs.problem(
                                offset,
                                format!("file `{}` size {size} far past its data", show(&p)),
                            );
                            size = extent.min(size);
                        }
                        let mut rd = FileReader {
                            vol: &vol,
                            refs,
                            size,
                            pos: 0,
                            ri: 0,
                            block: None,
                            buf: Vec::new(),
                            problems: Vec::new(),
                            more_problems: 0,
                        };
                        let res = probs.entry(Entry {
                            path: &p,
                            kind: EntryKind::File(&mut rd),
                            mode: perm,
                            offset,
                        });
                        for (o, m) in std::mem::take(&mut rd.problems) {
                            probs.problem(o, format!("file `{}`: {m}", show(&p)));
                        }
                        if rd.more_problems > 0 {
                            let n = rd.more_problems;
                            probs.problem(offset, format!("file `{}`: {n} more damaged blocks", show(&p)));
                        }
                        res?;
                    }
                    0o120000 => {
                        probs.entry(Entry {
                            path: &p,
                            kind: EntryKind::Symlink(&ino.data),
                            mode: perm,
                            offset,
                        })?;
                    }
                    0o020000 | 0o060000 => {
                        let dev = le32(&ino.data, 0);
                        let major = (dev & 0xfff00) >> 8;
                        let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
                        let what = if fmt == 0o020000 { "char" } else { "block" };
                        probs.entry(Entry {
                            path: &p,
                            kind: EntryKind::Special { what, major, minor },
                            mode: perm,
                            offset,
                        })?;
                    }
                    0o010000 | 0o140000 => {
                        let what = if fmt == 0o010000 { "fifo" } else { "socket" };
                        probs.entry(Entry {
                            path: &p,
                            kind: EntryKind::Special {
                                what,
                                major: 0,
                                minor: 0,
                            },
                            mode: perm,
                            offset,
                        })?;
                    }
                    other => {
                        probs.problem(
                            offset,
                            format!("entry `{}` has file type {other:#o}; skipped", show(&p)),
                        );
                        continue;
                    }
                }
                emitted += 1;
            }
        }
        let orphan_dirs = dirs.len();
        if orphan_dirs > 0 {
            probs.problem(
                None,
                format!("{orphan_dirs} directories not reachable from the root"),
            );
        }
        probs.finish();
        let details = serde_json::json!({
            "leb_size": sb.leb_size,
            "leb_cnt": sb.leb_cnt,
            "min_io_size": sb.min_io,
            "fmt_version": sb.fmt_version,
            "key_hash": match sb.key_hash { 0 => "r5", 1 => "test", _ => "unknown" },
            "default_compressor": codec_name(sb.default_compr),
            "flags": sb.flags,
            "encrypted": sb.flags & 0x10 != 0,
            "authenticated": sb.flags & 0x20 != 0,
            "master": { "sqnum": mst.sqnum, "cmt_no": mst.cmt_no, "offset": mst.at,
                        "root": [mst.root_lnum, mst.root_offs, mst.root_len] },
            "index_nodes": idx_nodes,
            "inodes": inodes.len(),
            "dentries": dents,
            "xattr_entries": xents,
            "data_nodes": data.len(),
            "bad_nodes": bad_leaves,
            "entries": emitted,
            "journal": { "buds": buds, "nodes": journal_nodes },
        });
        let consumed = (u64::from(sb.leb_cnt) * vol.leb).min(blob.len());
        Ok(Unpacked {
            consumed: Some(consumed),
            details,
        })
    }
}

/// The dentry type (`UBIFS_ITYPE_*`) matching an inode's `S_IFMT` bits.
fn dtype_of(fmt: u32) -> Option<u8> {
    Some(match fmt {
        0o100000 => 0,
        0o040000 => 1,
        0o120000 => 2,
        0o060000 => 3,
        0o020000 => 4,
        0o010000 => 5,
        0o140000 => 6,
        _ => return None,
    })
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// Streams one file block by block; holes and damaged blocks read as zeros.
struct FileReader<'v, 'b> {
    vol: &'v Vol<'b>,
    /// This inode's data nodes, sorted by block.
    refs: &'v [DataRef],
    size: u64,
    pos: u64,
    /// Next candidate in `refs`.
    ri: usize,
    /// Which block `buf` holds.
    block: Option<u64>,
    buf: Vec<u8>,
    problems: Vec<(Option<u64>, String)>,
    /// Damaged blocks beyond those in `problems`.
    more_problems: u64,
}

impl FileReader<'_, '_> {
    fn load(&mut self, block: u64) {
        self.block = Some(block);
        self.buf.clear();
        while self.refs.get(self.ri).is_some_and(|r| u64::from(r.block) < block) {
            self.ri += 1;
        }
        let Some(r) = self.refs.get(self.ri).copied() else {
            return;
        };
        if u64::from(r.block) != block {
            return; // a hole
        }
        let at = self.vol.at(r.lnum, r.offs, 0);
        match self.decode(r) {
            Ok(d) => self.buf = d,
            // A few messages per file say enough; the count says the rest.
            Err(e) if self.problems.len() < 8 => self
                .problems
                .push((at, format!("block {block}: {e}; zeros written"))),
            Err(_) => self.more_problems += 1,
        }
    }

    fn decode(&self, r: DataRef) -> Result<Vec<u8>, String> {
        let b = self.vol.node(r.lnum, r.offs, r.len, DATA_NODE)?;
        let k = key_at(&b, CH_LEN);
        if k.ino != r.ino || k.kind != KEY_DATA || k.val != r.block {
            return Err("data node key differs from its index entry".into());
        }
        let size = le32(&b, 40) as usize;
        if size as u64 > BLOCK {
            return Err(format!("block size {size}"));
        }
        let payload = b.get(DATA_HDR..).unwrap_or(&[]);
        let codec = match le16(&b, 44) {
            0 => Codec::None,
            1 => Codec::Lzo,
            // UBIFS "zlib" is raw deflate (the kernel's crypto "deflate" with negative window bits).
            2 => Codec::Deflate,
            3 => Codec::Zstd,
            c => return Err(format!("compressor {c}")),
        };
        let out = decompress(codec, payload, BLOCK as usize).map_err(|e| e.to_string())?;
        if out.len() != size {
            return Err(format!("block decodes to {} bytes, node says {size}", out.len()));
        }
        Ok(out)
    }
}

impl Read for FileReader<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let block = self.pos / BLOCK;
        if self.block != Some(block) {
            self.load(block);
        }
        let in_block = (self.pos % BLOCK) as usize;
        let n = ((BLOCK as usize - in_block) as u64)
            .min(self.size - self.pos)
            .min(out.len() as u64) as usize;
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.buf.get(in_block + i).copied().unwrap_or(0);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::{Collected, MemorySink, run_in_memory};
    use hashward_fixtures::Tree;
    use hashward_fixtures::ubi::{build_ubifs, build_ubifs_with_journal, ubinize};

    fn sample() -> Tree {
        let mut t = Tree::new();
        let big: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let noise: Vec<u8> = (0..9000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        t.file("etc/hostname", "antminer\n")
            .file("etc/empty", "")
            .file_mode("usr/bin/cgminer", big, 0o755)
            .file("usr/share/noise.bin", noise)
            .file("a/b/c/d/e/deep.txt", "deep")
            .file("block4096", vec![0x5a; 4096])
            .dir("var/empty")
            .symlink("bin/sh", "busybox")
            .symlink("etc/abs", "/etc/hostname")
            .hardlink("usr/bin/cgminer-link", "usr/bin/cgminer")
            .chardev("dev/console", 5, 1)
            .chardev("dev/big", 300, 70_000);
        t
    }

    /// Compare a sink's entries with a tree: every path, kind, content and link target.
    pub(crate) fn assert_matches(sink: &MemorySink, t: &Tree) {
        use hashward_fixtures::Node;
        let got: BTreeMap<String, &Collected> = sink
            .entries
            .iter()
            .map(|(p, c)| (String::from_utf8_lossy(p).into_owned(), c))
            .collect();
        assert_eq!(got.len(), sink.entries.len(), "duplicate entries");
        let want: Vec<&String> = t.nodes.keys().collect();
        assert_eq!(got.keys().collect::<Vec<_>>(), want);
        for (path, node) in &t.nodes {
            let c = got[path.as_str()];
            match (node, c) {
                (Node::Dir, Collected::Dir) => {}
                (Node::File { data, .. }, Collected::File(d)) => assert_eq!(d, data, "{path}"),
                (Node::Symlink(a), Collected::Symlink(b)) => assert_eq!(a.as_bytes(), &b[..]),
                (Node::CharDev(a, b), Collected::Special("char", x, y)) => assert_eq!((a, b), (x, y)),
                (Node::Hardlink(target), Collected::Hardlink(b)) => assert_eq!(target.as_bytes(), &b[..]),
                (Node::Hardlink(target), Collected::File(d)) => {
                    // The link came first in walk order: then the target is the hard link.
                    assert_eq!(Some(&d[..]), t.content(target));
                    assert!(matches!(got[target.as_str()], Collected::Hardlink(x) if x == path.as_bytes()));
                }
                (Node::File { .. }, Collected::Hardlink(b)) => {
                    assert!(
                        matches!(t.nodes.get(&String::from_utf8_lossy(b).into_owned()), Some(Node::Hardlink(x)) if x == path)
                    );
                }
                (n, c) => panic!("{path}: {n:?} came back as {c:?}"),
            }
        }
    }

    #[test]
    fn round_trip_own_writer() {
        let t = sample();
        let img = build_ubifs(&t, 16 * 1024, 512);
        assert!(Ubifs.probe(&img, Some(img.len() as u64)));
        let (r, sink) = run_in_memory("ubifs", &img, 1 << 24);
        let u = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_matches(&sink, &t);
        assert!(
            u.details["index_nodes"].as_u64().unwrap() > 1,
            "a multi-level index"
        );
        assert_eq!(u.consumed, Some(img.len() as u64));
    }

    #[test]
    fn s9_geometry_through_ubi() {
        let t = sample();
        let vol = build_ubifs(&t, 126_976, 2048);
        let img = ubinize(&[("rootfs", 0, &vol)], 128 << 10, 2048, 2048);
        let (r, sink) = run_in_memory("ubi", &img, 1 << 26);
        r.unwrap();
        let v = sink.file("rootfs.ubifs").unwrap();
        assert_eq!(&v[..vol.len()], &vol[..]);
        let (r, sink) = run_in_memory("ubifs", v, 1 << 24);
        let u = r.unwrap();
        assert_eq!(u.details["leb_size"], 126_976);
        assert_matches(&sink, &t);
    }

    #[test]
    fn truncation_never_panics_and_keeps_what_it_can() {
        let t = sample();
        let img = build_ubifs(&t, 16 * 1024, 512);
        for cut in (0..img.len())
            .step_by(1531)
            .chain([23, 24, 4095, 4096, img.len() - 1])
        {
            let (r, _) = run_in_memory("ubifs", &img[..cut], 1 << 24);
            if cut < 16 * 1024 + 512 {
                assert!(r.is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn corrupted_nodes_are_reported_and_skipped() {
        let t = sample();
        let img = build_ubifs(&t, 16 * 1024, 512);
        // Flip one byte in every data node's payload in turn: that file gets zeros plus a problem.
        let main = 8 * 16 * 1024;
        let mut flipped = 0;
        for pos in (main..img.len()).step_by(8) {
            if img[pos..pos + 4] == MAGIC && img[pos + 20] == DATA_NODE {
                let mut m = img.clone();
                m[pos + DATA_HDR] ^= 0x40;
                let (r, sink) = run_in_memory("ubifs", &m, 1 << 24);
                r.unwrap();
                assert!(
                    sink.problems.iter().any(|p| p.contains("CRC")),
                    "{:?}",
                    sink.problems
                );
                flipped += 1;
                if flipped > 5 {
                    break;
                }
            }
        }
        assert!(flipped > 0);
        // Random damage anywhere: never a panic.
        let mut seed = 7u64;
        for _ in 0..300 {
            let mut m = img.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let p = (seed as usize) % m.len();
                m[p] = (seed >> 32) as u8;
            }
            let _ = run_in_memory("ubifs", &m, 1 << 24);
        }
    }

    /// Rewrite the node at `pos` with `f` applied, fixing its CRC.
    fn patch(img: &mut [u8], pos: usize, f: impl FnOnce(&mut [u8])) {
        let len = le32(img, pos + 16) as usize;
        f(&mut img[pos..pos + len]);
        let c = ubi_crc(&img[pos + 8..pos + len]);
        img[pos + 4..pos + 8].copy_from_slice(&c.to_le_bytes());
    }

    fn find(img: &[u8], ty: u8) -> Vec<usize> {
        (0..img.len().saturating_sub(24))
            .step_by(8)
            .filter(|&p| img[p..p + 4] == MAGIC && img[p + 20] == ty)
            .collect()
    }

    #[test]
    fn index_cycles_and_absurd_values_are_bounded() {
        let t = sample();
        let leb = 16 * 1024;
        let img = build_ubifs(&t, leb, 512);
        let idx = find(&img, IDX_NODE);
        let mst = find(&img, MST_NODE);
        let root = le32(&img, mst[0] + 48) as usize * leb + le32(&img, mst[0] + 52) as usize;
        // A branch of the root pointing back at the root, with the right level claims.
        let mut m = img.clone();
        let (rl, ro) = (le32(&img, mst[0] + 48), le32(&img, mst[0] + 52));
        patch(&mut m, root, |n| {
            n[28..32].copy_from_slice(&rl.to_le_bytes());
            n[32..36].copy_from_slice(&ro.to_le_bytes());
        });
        let (r, sink) = run_in_memory("ubifs", &m, 1 << 24);
        r.unwrap();
        assert!(!sink.problems.is_empty());
        // A level-0 node claiming a huge level, and absurd child counts.
        for &p in &idx {
            for (lvl, cnt) in [(60000u16, 1u16), (0, 0xFFFF), (1, 0)] {
                let mut m = img.clone();
                patch(&mut m, p, |n| {
                    n[24..26].copy_from_slice(&cnt.to_le_bytes());
                    n[26..28].copy_from_slice(&lvl.to_le_bytes());
                });
                let _ = run_in_memory("ubifs", &m, 1 << 24);
            }
        }
        // An inode with an absurd size and a dentry loop (a directory entry naming the root).
        let mut m = img.clone();
        for p in find(&img, INO_NODE) {
            patch(&mut m, p, |n| n[48..56].copy_from_slice(&u64::MAX.to_le_bytes()));
        }
        for p in find(&img, DENT_NODE).into_iter().take(3) {
            patch(&mut m, p, |n| {
                n[40..48].copy_from_slice(&1u64.to_le_bytes());
                n[49] = 1;
            });
        }
        let (r, sink) = run_in_memory("ubifs", &m, 1 << 26);
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("linked twice")),
            "{:?}",
            sink.problems
        );
    }

    /// `sample()` after a session of edits: what the journal must bring back.
    fn edited() -> Tree {
        let mut t = sample();
        t.file("etc/hostname", "s9-rig-07\n"); // rewritten
        t.file("usr/bin/cgminer", vec![7u8; 5000]); // shrunk (the hard link follows)
        t.nodes.remove("etc/empty"); // deleted
        t.nodes.remove("a/b/c/d/e/deep.txt");
        t.nodes.remove("a/b/c/d/e"); // an emptied directory, deleted
        t.symlink("etc/one", "hostname"); // a new name
        t.symlink("bin/sh", "bash"); // a symlink retargeted (a new inode under the same name)
        t.file("opt/new/payload.sh", b"#!/bin/sh\nwget http://x/y\n".repeat(300));
        t
    }

    #[test]
    fn journal_is_replayed_over_the_index() {
        let (old, new) = (sample(), edited());
        let img = build_ubifs_with_journal(&old, &new, 16 * 1024, 512);
        let (r, sink) = run_in_memory("ubifs", &img, 1 << 24);
        let u = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(u.details["journal"]["buds"], 1);
        assert_matches(&sink, &new);
        // Without the log reference, the committed state comes back.
        let mut m = img.clone();
        for p in find(&img, REF_NODE) {
            m[p..p + 64].fill(0xFF);
        }
        let (r, sink) = run_in_memory("ubifs", &m, 1 << 24);
        r.unwrap();
        assert_matches(&sink, &old);
    }

    #[test]
    fn torn_journal_tail_keeps_the_rest() {
        let (old, new) = (sample(), edited());
        let img = build_ubifs_with_journal(&old, &new, 16 * 1024, 512);
        let bud = find(&img, REF_NODE).first().map(|&p| le32(&img, p + 24)).unwrap() as usize;
        let nodes: Vec<usize> = find(&img, INO_NODE)
            .into_iter()
            .filter(|&p| p / (16 * 1024) == bud)
            .collect();
        // Tear the last inode node of the bud (a power cut mid-write).
        let last = *nodes.last().unwrap();
        let mut m = img.clone();
        m[last + 40] ^= 0xFF;
        let (r, sink) = run_in_memory("ubifs", &m, 1 << 24);
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("torn")),
            "{:?}",
            sink.problems
        );
        // Garbage in the log and the bud never panics.
        let mut seed = 0x5eed_u64;
        for _ in 0..200 {
            let mut m = img.clone();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let (lo, len) = if seed & 1 == 0 {
                (3 * 16 * 1024, 1024)
            } else {
                (bud * 16 * 1024, 16 * 1024)
            };
            let p = lo + (seed >> 8) as usize % len;
            m[p] = (seed >> 40) as u8;
            let _ = run_in_memory("ubifs", &m, 1 << 24);
        }
    }

    #[test]
    fn tiny_nodes_with_valid_crcs() {
        // Nodes shorter than their type's header, CRCs fixed up: index root, inode, dentry.
        let leb = 16 * 1024;
        let img = build_ubifs(&sample(), leb, 512);
        let mst = find(&img, MST_NODE);
        let root = le32(&img, mst[0] + 48) as usize * leb + le32(&img, mst[0] + 52) as usize;
        let shrink = |m: &mut Vec<u8>, p: usize, len: u32| {
            m[p + 16..p + 20].copy_from_slice(&len.to_le_bytes());
            let c = ubi_crc(&m[p + 8..p + len as usize]);
            m[p + 4..p + 8].copy_from_slice(&c.to_le_bytes());
        };
        for len in [24u32, 26, 28, 40] {
            let mut m = img.clone();
            shrink(&mut m, root, len);
            for &ms in &mst {
                patch(&mut m, ms, |n| n[56..60].copy_from_slice(&len.to_le_bytes()));
            }
            let (r, sink) = run_in_memory("ubifs", &m, 1 << 24);
            r.unwrap();
            assert!(!sink.problems.is_empty());
            for ty in [INO_NODE, DENT_NODE, DATA_NODE] {
                let mut m = img.clone();
                for p in find(&img, ty).into_iter().take(4) {
                    shrink(&mut m, p, len);
                }
                let _ = run_in_memory("ubifs", &m, 1 << 24);
            }
        }
    }

    #[test]
    fn crc_fixed_mutations_never_panic() {
        // Mutations the CRC would catch are boring: fix the CRC so the parsers see them.
        let leb = 16 * 1024;
        let img = build_ubifs_with_journal(&sample(), &edited(), leb, 512);
        let nodes: Vec<usize> = (0..img.len() - 24)
            .step_by(8)
            .filter(|&p| img[p..p + 4] == MAGIC && (le32(&img, p + 16) as usize) <= leb - p % leb)
            .collect();
        let mut seed = 0xC0FF_EE00_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..600 {
            let mut m = img.clone();
            for _ in 0..1 + next() % 3 {
                let p = nodes[next() as usize % nodes.len()];
                let len = le32(&img, p + 16) as usize;
                let at = p + 8 + next() as usize % (len - 8);
                let v = next();
                // Often hit the length/count/offset fields with extreme values.
                m[at] = match v % 4 {
                    0 => 0xFF,
                    1 => 0,
                    _ => (v >> 8) as u8,
                };
                // The CRC covers the node as first laid out (a mutated length is left unfixed).
                let c = ubi_crc(&m[p + 8..p + len]);
                m[p + 4..p + 8].copy_from_slice(&c.to_le_bytes());
            }
            let _ = run_in_memory("ubifs", &m, 1 << 24);
        }
    }

    #[test]
    fn probe_wants_a_superblock() {
        let img = build_ubifs(&sample(), 16 * 1024, 512);
        assert!(Ubifs.probe(&img[..4096], None));
        let mut m = img[..4096].to_vec();
        m[100] ^= 1;
        assert!(!Ubifs.probe(&m, None));
        assert!(!Ubifs.probe(&img[16 * 1024..16 * 1024 + 4096], None)); // a master node
    }
}
