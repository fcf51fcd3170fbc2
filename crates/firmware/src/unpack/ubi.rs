//! UBI (Unsorted Block Images): the volume layer Linux puts on raw NAND, read from a dump.
//!
//! Layout (Linux `drivers/mtd/ubi/ubi-media.h`): the flash is cut into physical erase blocks
//! (PEBs). Every PEB in use starts with a 64-byte erase-counter header (`UBI#`), has a 64-byte
//! volume-id header (`UBI!`) at `vid_hdr_offset` saying which logical erase block (LEB) of which
//! volume it holds, and the LEB's data at `data_offset`. All fields are big-endian; header CRCs
//! are the kernel's `crc32(0xFFFFFFFF, buf, len)`, i.e. CRC-32 seeded with all ones and *without*
//! the final inversion (the complement of the standard checksum, checked against `ubinize`).
//! The internal layout volume (id `0x7FFFEFFF`, two copies) holds the volume table: 172-byte
//! records with names, types and flags.
//!
//! The reader scans every PEB once, maps `(volume, lnum)` to the PEB with the highest sequence
//! number, then streams each volume LEB by LEB as one file (`<name>.ubifs` when it starts with a
//! UBIFS node, `<name>.img` otherwise); the engine recurses into it. Nothing is loaded whole:
//! memory is one small record per PEB.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use super::sink::ProblemCap;
use super::{
    Access, Blob, Ctx, Entry, EntryKind, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked,
};

/// The `ubi` format.
pub struct Ubi;

static UBI_INFO: FormatInfo = FormatInfo {
    id: "ubi",
    description: "UBI image (erase-counter and volume-id headers, volume table)",
    access: Access::Random,
    magics: &[Magic {
        offset: 0,
        bytes: EC_MAGIC,
    }],
    codec: false,
};

const EC_MAGIC: &[u8] = b"UBI#";
const VID_MAGIC: &[u8] = b"UBI!";
/// Both headers are 64 bytes (`UBI_EC_HDR_SIZE`, `UBI_VID_HDR_SIZE`).
const HDR_LEN: usize = 64;
/// Bytes of a header covered by its CRC.
const HDR_CRC_LEN: usize = 60;
/// `UBI_LAYOUT_VOLUME_ID` = `UBI_INTERNAL_VOL_START` (0x7FFFFFFF − 4096).
const LAYOUT_VOL_ID: u32 = 0x7FFF_EFFF;
/// `UBI_MAX_VOLUMES`: user volume ids are below this.
const MAX_VOLUMES: u32 = 128;
/// `UBI_VTBL_RECORD_SIZE`.
const VTBL_REC: usize = 172;
/// Bytes of a volume-table record covered by its CRC.
const VTBL_CRC_LEN: usize = 168;
/// `UBI_VOL_NAME_MAX`.
const VOL_NAME_MAX: usize = 127;
/// `UBI_VID_DYNAMIC` / `UBI_VID_STATIC` (the same values are used in volume-table records).
const VOL_DYNAMIC: u8 = 1;
const VOL_STATIC: u8 = 2;
/// PEB sizes accepted (NOR flash goes down to a few KiB, large NAND to a few MiB).
const MIN_PEB: u64 = 4096;
const MAX_PEB: u64 = 8 << 20;
/// The UBIFS node magic, little-endian `0x06101831`, to name a volume `.ubifs`.
const UBIFS_MAGIC: [u8; 4] = [0x31, 0x18, 0x10, 0x06];

/// The UBI/UBIFS header checksum: Linux `crc32(0xFFFFFFFF, data, len)` without a final
/// inversion, which is the bitwise complement of the standard (zlib) CRC-32.
pub(crate) fn ubi_crc(data: &[u8]) -> u32 {
    !crc32fast::hash(data)
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0)
}

fn be64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// A parsed erase-counter header (`struct ubi_ec_hdr`).
#[derive(Debug, Clone, Copy)]
struct EcHdr {
    ec: u64,
    vid_off: u32,
    data_off: u32,
    image_seq: u32,
}

/// A parsed volume-id header (`struct ubi_vid_hdr`).
#[derive(Debug, Clone, Copy)]
struct VidHdr {
    vol_type: u8,
    vol_id: u32,
    lnum: u32,
    data_size: u32,
    used_ebs: u32,
    data_pad: u32,
    sqnum: u64,
}

/// What sits where a header should.
enum Hdr<T> {
    Ok(T),
    /// All 0xFF: erased flash.
    Empty,
    /// The magic is wrong: not a header at all.
    NoMagic,
    /// Magic right, content wrong.
    Bad(String),
}

fn all_ff(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0xFF)
}

fn crc_ok(b: &[u8]) -> bool {
    b.len() >= HDR_LEN && ubi_crc(&b[..HDR_CRC_LEN]) == be32(b, HDR_CRC_LEN)
}

fn parse_ec(b: &[u8]) -> Hdr<EcHdr> {
    if b.len() < HDR_LEN {
        return Hdr::Bad("short erase-counter header".into());
    }
    if all_ff(&b[..HDR_LEN]) {
        return Hdr::Empty;
    }
    if &b[..4] != EC_MAGIC {
        return Hdr::NoMagic;
    }
    if !crc_ok(b) {
        return Hdr::Bad("erase-counter header CRC mismatch".into());
    }
    if b[4] != 1 {
        return Hdr::Bad(format!("erase-counter header version {}", b[4]));
    }
    let h = EcHdr {
        ec: be64(b, 8),
        vid_off: be32(b, 16),
        data_off: be32(b, 20),
        image_seq: be32(b, 24),
    };
    if (h.vid_off as usize) < HDR_LEN || u64::from(h.data_off) < u64::from(h.vid_off) + HDR_LEN as u64 {
        return Hdr::Bad(format!(
            "header offsets vid {} data {} are inconsistent",
            h.vid_off, h.data_off
        ));
    }
    Hdr::Ok(h)
}

fn parse_vid(b: &[u8]) -> Hdr<VidHdr> {
    if b.len() < HDR_LEN {
        return Hdr::Bad("short volume-id header".into());
    }
    if all_ff(&b[..HDR_LEN]) {
        return Hdr::Empty;
    }
    if &b[..4] != VID_MAGIC {
        return Hdr::NoMagic;
    }
    if !crc_ok(b) {
        return Hdr::Bad("volume-id header CRC mismatch".into());
    }
    if b[4] != 1 {
        return Hdr::Bad(format!("volume-id header version {}", b[4]));
    }
    let h = VidHdr {
        vol_type: b[5],
        vol_id: be32(b, 8),
        lnum: be32(b, 12),
        data_size: be32(b, 20),
        used_ebs: be32(b, 24),
        data_pad: be32(b, 28),
        sqnum: be64(b, 40),
    };
    if h.vol_type != VOL_DYNAMIC && h.vol_type != VOL_STATIC {
        return Hdr::Bad(format!("volume type {}", h.vol_type));
    }
    Hdr::Ok(h)
}

/// Whether `b` starts with a valid erase-counter header.
fn is_ec(b: &[u8]) -> bool {
    matches!(parse_ec(b), Hdr::Ok(_))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The PEB size: the greatest common divisor of the offsets of the valid erase-counter headers
/// in the first few MiB (robust to erased or bad PEBs between them), or the whole input when
/// it holds a single PEB.
fn detect_peb_size(blob: &Blob, data_off: u64) -> Result<u64, FormatError> {
    let window = blob.len().min(2 * MAX_PEB + HDR_LEN as u64);
    let buf = blob.read_vec(0, window)?;
    let mut g = 0u64;
    let mut found = 0u32;
    for pos in memchr::memmem::find_iter(&buf, EC_MAGIC) {
        let pos = pos as u64;
        if pos == 0 || !pos.is_multiple_of(512) {
            continue;
        }
        if buf.get(pos as usize..).is_some_and(is_ec) {
            g = gcd(pos, g);
            found += 1;
        }
    }
    let peb = if found == 0 { blob.len() } else { g };
    if !(MIN_PEB..=MAX_PEB).contains(&peb) || peb <= data_off {
        return Err(FormatError::malformed(
            0,
            format!("cannot determine a sane PEB size (got {peb})"),
        ));
    }
    Ok(peb)
}

/// Where one LEB's data lives.
#[derive(Debug, Clone, Copy)]
struct LebRef {
    peb: u64,
    data_off: u64,
    vid: VidHdr,
}

/// One volume-table record (`struct ubi_vtbl_record`).
#[derive(Debug, Clone)]
struct VtblRec {
    reserved_pebs: u32,
    data_pad: u32,
    vol_type: u8,
    name: Vec<u8>,
    flags: u8,
}

fn parse_vtbl(buf: &[u8]) -> BTreeMap<u32, Result<VtblRec, String>> {
    let mut out = BTreeMap::new();
    for (i, rec) in buf.chunks_exact(VTBL_REC).take(MAX_VOLUMES as usize).enumerate() {
        let id = i as u32;
        if ubi_crc(&rec[..VTBL_CRC_LEN]) != be32(rec, VTBL_CRC_LEN) {
            if !all_ff(rec) {
                out.insert(id, Err("volume table record CRC mismatch".to_owned()));
            }
            continue;
        }
        let reserved_pebs = be32(rec, 0);
        if reserved_pebs == 0 {
            continue; // an unused slot
        }
        let name_len = usize::from(u16::from_be_bytes([rec[14], rec[15]]));
        if name_len == 0 || name_len > VOL_NAME_MAX {
            out.insert(id, Err(format!("volume name length {name_len}")));
            continue;
        }
        out.insert(
            id,
            Ok(VtblRec {
                reserved_pebs,
                data_pad: be32(rec, 8),
                vol_type: rec[12],
                name: rec[16..16 + name_len].to_vec(),
                flags: rec[144],
            }),
        );
    }
    out
}

impl Format for Ubi {
    fn info(&self) -> &'static FormatInfo {
        &UBI_INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        is_ec(head)
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let Input::Blob(blob) = input else {
            return Err(FormatError::Unsupported("ubi needs random access".into()));
        };
        let first = blob.head(HDR_LEN)?;
        let EcHdr {
            vid_off,
            data_off,
            image_seq,
            ..
        } = match parse_ec(&first) {
            Hdr::Ok(h) => h,
            Hdr::Bad(why) => return Err(FormatError::malformed(0, why)),
            _ => return Err(FormatError::malformed(0, "no UBI erase-counter header")),
        };
        let peb_size = detect_peb_size(blob, u64::from(data_off))?;
        // Every PEB that holds at least a header; the count is bounded by the input length.
        let peb_count = blob.len().div_ceil(peb_size);
        let leb_size = peb_size - u64::from(data_off);
        // A partial dump may hold LEBs numbered up to the full device size; anything far beyond
        // what the input could hold is refused so a forged lnum cannot make us emit gigabytes.
        let lnum_cap = peb_count.saturating_mul(2).saturating_add(16);

        let mut sink = ProblemCap::new(sink);
        let mut map: BTreeMap<(u32, u32), LebRef> = BTreeMap::new();
        let (mut empty, mut bad, mut foreign, mut internal) = (0u64, 0u64, 0u64, 0u64);
        let mut last_ubi = 0u64;
        let mut next_image = None;
        let mut max_ec = 0u64;
        for peb in 0..peb_count {
            let base = peb * peb_size;
            let mut hdr = [0u8; HDR_LEN];
            if blob.read_exact_at(base, &mut hdr).is_err() {
                break; // a tail shorter than a header
            }
            let (this_vid, this_data) = match parse_ec(&hdr) {
                Hdr::Ok(h) => {
                    // Another image sequence number is another UBI device: a NAND dump with
                    // two UBI partitions back to back (Braiins `firmware1`/`firmware2`). This
                    // image ends here; the carver picks the next one up from `consumed`.
                    if h.image_seq != image_seq && image_seq != 0 && h.image_seq != 0 {
                        next_image = Some(peb);
                        break;
                    }
                    last_ubi = peb + 1;
                    max_ec = max_ec.max(h.ec);
                    (h.vid_off, h.data_off)
                }
                Hdr::Empty => {
                    empty += 1;
                    continue;
                }
                Hdr::NoMagic => {
                    foreign += 1;
                    continue;
                }
                Hdr::Bad(why) => {
                    // Like the kernel: a damaged EC header still lets the VID header speak, with
                    // the image's offsets.
                    last_ubi = peb + 1;
                    sink.problem(Some(base), format!("PEB {peb}: {why}"));
                    (vid_off, data_off)
                }
            };
            if u64::from(this_data) >= peb_size {
                bad += 1;
                sink.problem(
                    Some(base),
                    format!("PEB {peb}: data offset {this_data} past the PEB"),
                );
                continue;
            }
            let mut vh = [0u8; HDR_LEN];
            if blob.read_exact_at(base + u64::from(this_vid), &mut vh).is_err() {
                bad += 1;
                sink.problem(Some(base), format!("PEB {peb}: volume-id header truncated"));
                continue;
            }
            let vid = match parse_vid(&vh) {
                Hdr::Ok(v) => v,
                Hdr::Empty => {
                    empty += 1; // erase counter only: a free PEB
                    continue;
                }
                Hdr::NoMagic => {
                    bad += 1;
                    sink.problem(Some(base), format!("PEB {peb}: no volume-id header"));
                    continue;
                }
                Hdr::Bad(why) => {
                    bad += 1;
                    sink.problem(Some(base), format!("PEB {peb}: {why}; PEB skipped"));
                    continue;
                }
            };
            if vid.vol_id >= MAX_VOLUMES && vid.vol_id != LAYOUT_VOL_ID {
                internal += 1; // fastmap and other internal volumes are not content
                continue;
            }
            if u64::from(vid.lnum) >= lnum_cap {
                bad += 1;
                sink.problem(
                    Some(base),
                    format!("PEB {peb}: LEB number {} out of range", vid.lnum),
                );
                continue;
            }
            let r = LebRef {
                peb,
                data_off: u64::from(this_data),
                vid,
            };
            match map.get(&(vid.vol_id, vid.lnum)) {
                Some(old) if old.vid.sqnum > vid.sqnum => {}
                Some(old) if old.vid.sqnum == vid.sqnum => sink.problem(
                    Some(base),
                    format!(
                        "PEBs {} and {peb} both hold LEB {} of volume {} with sequence {}; keeping the first",
                        old.peb, vid.lnum, vid.vol_id, vid.sqnum
                    ),
                ),
                _ => {
                    map.insert((vid.vol_id, vid.lnum), r);
                }
            }
        }

        // The volume table: the first copy whose record checks out wins, record by record.
        let mut vtbl: BTreeMap<u32, VtblRec> = BTreeMap::new();
        let vtbl_len = leb_size.min((MAX_VOLUMES as usize * VTBL_REC) as u64);
        let mut copies = Vec::new();
        for lnum in 0..2 {
            if let Some(r) = map.get(&(LAYOUT_VOL_ID, lnum)) {
                let off = r.peb * peb_size + r.data_off;
                let avail = blob.len().saturating_sub(off).min(vtbl_len);
                match blob.read_vec(off, avail) {
                    Ok(buf) => copies.push((off, parse_vtbl(&buf))),
                    Err(e) => sink.problem(Some(off), format!("volume table copy {lnum}: {e}")),
                }
            }
        }
        if copies.is_empty() {
            sink.problem(Some(0), "no volume table (layout volume missing)".into());
        }
        let ids: BTreeSet<u32> = copies.iter().flat_map(|(_, c)| c.keys().copied()).collect();
        for id in ids {
            let good = copies
                .iter()
                .find_map(|(_, c)| c.get(&id).and_then(|r| r.as_ref().ok()));
            match good {
                Some(r) => {
                    vtbl.insert(id, r.clone());
                }
                None => {
                    let (off, why) = copies
                        .iter()
                        .find_map(|(o, c)| c.get(&id).and_then(|r| r.as_ref().err()).map(|w| (*o, w.clone())))
                        .unwrap_or((0, String::new()));
                    sink.problem(Some(off), format!("volume {id}: {why}"));
                }
            }
        }

        // Every user volume named in the table or seen in a VID header.
        let mut vol_ids: BTreeSet<u32> = vtbl.keys().copied().collect();
        vol_ids.extend(map.keys().map(|(v, _)| *v).filter(|&v| v < MAX_VOLUMES));
        let mut volumes = Vec::new();
        let mut used_names = BTreeSet::new();
        for vol_id in vol_ids {
            let rec = vtbl.get(&vol_id);
            let lebs: Vec<(u32, LebRef)> = map
                .range((vol_id, 0)..=(vol_id, u32::MAX))
                .map(|((_, l), r)| (*l, *r))
                .collect();
            let first_vid = lebs.first().map(|(_, r)| r.vid);
            let vol_type = rec
                .map(|r| r.vol_type)
                .or(first_vid.map(|v| v.vol_type))
                .unwrap_or(VOL_DYNAMIC);
            let data_pad = u64::from(
                rec.map(|r| r.data_pad)
                    .or(first_vid.map(|v| v.data_pad))
                    .unwrap_or(0),
            );
            let name = rec
                .map(|r| r.name.clone())
                .unwrap_or_else(|| format!("volume_{vol_id}").into_bytes());
            let type_name = if vol_type == VOL_STATIC {
                "static"
            } else {
                "dynamic"
            };
            let mut info = serde_json::json!({
                "id": vol_id,
                "name": String::from_utf8_lossy(&name),
                "type": type_name,
                "reserved_pebs": rec.map(|r| r.reserved_pebs),
                "autoresize": rec.map(|r| r.flags & 1 != 0),
                "lebs": lebs.len(),
            });
            if data_pad >= leb_size {
                sink.problem(
                    Some(0),
                    format!("volume {vol_id}: data pad {data_pad} swallows the LEB"),
                );
                volumes.push(info);
                continue;
            }
            let usable = leb_size - data_pad;
            let plan = match plan_volume(vol_type, &lebs, usable, peb_size, vol_id, &mut |o, m| {
                sink.problem(Some(o), m)
            }) {
                Some(p) => p,
                None => {
                    volumes.push(info);
                    continue;
                }
            };
            // Name the file after what it holds so the engine can tell at a glance.
            let mut magic = [0u8; 4];
            let is_ubifs = match plan.first() {
                Some(Seg { src: Some(off), .. }) => {
                    blob.read_exact_at(*off, &mut magic).is_ok() && magic == UBIFS_MAGIC
                }
                _ => false,
            };
            let mut file_name = name.clone();
            if used_names.contains(&file_name) {
                file_name.extend_from_slice(format!("_{vol_id}").as_bytes());
            }
            used_names.insert(file_name.clone());
            file_name.extend_from_slice(if is_ubifs { b".ubifs" } else { b".img" });
            let size: u64 = plan.iter().map(|s| s.len).sum();
            info["file"] = serde_json::Value::String(String::from_utf8_lossy(&file_name).into_owned());
            info["size"] = size.into();
            volumes.push(info);
            let offset = plan
                .iter()
                .find_map(|s| s.src)
                .map(|o| o.saturating_sub(data_off.into()));
            let mut rd = VolReader {
                blob,
                plan,
                seg: 0,
                pos: 0,
                short: Vec::new(),
            };
            let res = sink.entry(Entry {
                path: &file_name,
                kind: EntryKind::File(&mut rd),
                mode: None,
                offset,
            });
            for off in std::mem::take(&mut rd.short) {
                sink.problem(
                    Some(off),
                    "LEB data cut off by the end of the input; filled with 0xFF".into(),
                );
            }
            res?;
        }
        sink.finish();
        let details = serde_json::json!({
            "peb_size": peb_size,
            "vid_hdr_offset": vid_off,
            "data_offset": data_off,
            "leb_size": leb_size,
            "image_seq": image_seq,
            "pebs": peb_count,
            "empty_pebs": empty,
            "bad_pebs": bad,
            "foreign_pebs": foreign,
            "internal_volume_pebs": internal,
            "max_erase_count": max_ec,
            "next_image_at_peb": next_image,
            "volumes": volumes,
        });
        Ok(Unpacked {
            consumed: Some((last_ubi * peb_size).min(blob.len())),
            details,
        })
    }
}

/// One piece of a volume's byte stream: `len` bytes from the input at `src`, or erased flash.
#[derive(Debug, Clone, Copy)]
struct Seg {
    src: Option<u64>,
    len: u64,
    /// Bytes of `len` that the PEB really holds (a PEB with a forged, larger data offset has
    /// fewer); the rest reads as erased flash rather than as the next PEB.
    avail: u64,
}

/// The byte layout of one volume, LEB by LEB. `None` when there is nothing to emit.
fn plan_volume(
    vol_type: u8,
    lebs: &[(u32, LebRef)],
    usable: u64,
    peb_size: u64,
    vol_id: u32,
    report: &mut dyn FnMut(u64, String),
) -> Option<Vec<Seg>> {
    let at = |r: &LebRef| r.peb * peb_size + r.data_off;
    let room = |r: &LebRef| peb_size.saturating_sub(r.data_off);
    let by_lnum: BTreeMap<u32, &LebRef> = lebs.iter().map(|(l, r)| (*l, r)).collect();
    let (_, last) = lebs.last()?;
    let mut plan = Vec::new();
    if vol_type == VOL_STATIC {
        // Static volumes say how many LEBs they use and how many bytes each holds.
        let used = by_lnum
            .get(&0)
            .map(|r| r.vid.used_ebs)
            .unwrap_or(last.vid.used_ebs);
        // LEBs past the last one present are not invented: the dump ends before them.
        let present = u64::from(lebs.last().map(|(l, _)| *l).unwrap_or(0)) + 1;
        if u64::from(used) > present {
            report(
                0,
                format!("static volume {vol_id} claims {used} LEBs, the input holds {present}"),
            );
        }
        let used = u64::from(used).min(present);
        for lnum in 0..used {
            let lnum = u32::try_from(lnum).ok()?;
            match by_lnum.get(&lnum) {
                Some(r) => {
                    let size = u64::from(r.vid.data_size);
                    if size > usable {
                        report(
                            at(r),
                            format!("volume {vol_id} LEB {lnum}: data size {size} > LEB"),
                        );
                    }
                    plan.push(Seg {
                        src: Some(at(r)),
                        len: size.min(usable),
                        avail: room(r),
                    });
                }
                None => {
                    report(
                        0,
                        format!("static volume {vol_id}: LEB {lnum} missing; filled with 0xFF"),
                    );
                    plan.push(Seg {
                        src: None,
                        len: usable,
                        avail: 0,
                    });
                }
            }
        }
    } else {
        // Dynamic volumes are LEB-sized throughout; unmapped LEBs read as erased flash. LEBs
        // after the last mapped one are left out (they would all be 0xFF).
        let (max_lnum, _) = lebs.last()?;
        for lnum in 0..=*max_lnum {
            match by_lnum.get(&lnum) {
                Some(r) => plan.push(Seg {
                    src: Some(at(r)),
                    len: usable,
                    avail: room(r),
                }),
                None => plan.push(Seg {
                    src: None,
                    len: usable,
                    avail: 0,
                }),
            }
        }
    }
    Some(plan)
}

/// Streams a volume's LEBs in order.
struct VolReader<'b> {
    blob: &'b Blob,
    plan: Vec<Seg>,
    seg: usize,
    pos: u64,
    /// Offsets of LEBs the input ended inside of (reported after the entry).
    short: Vec<u64>,
}

impl Read for VolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(seg) = self.plan.get(self.seg).copied() else {
                return Ok(0);
            };
            if self.pos >= seg.len {
                self.seg += 1;
                self.pos = 0;
                continue;
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let want = (seg.len - self.pos).min(buf.len() as u64) as usize;
            let out = &mut buf[..want];
            let got = match seg.src {
                Some(src) if self.pos < seg.avail => {
                    let out = &mut out[..want.min((seg.avail - self.pos) as usize)];
                    let n = self
                        .blob
                        .read_at(src + self.pos, out)
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    if n == 0 {
                        // The input ends inside this LEB: the rest reads as erased flash.
                        self.short.push(src);
                        if let Some(s) = self.plan.get_mut(self.seg) {
                            s.src = None;
                        }
                        continue;
                    }
                    n
                }
                _ => {
                    out.fill(0xFF);
                    want
                }
            };
            self.pos += got as u64;
            return Ok(got);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::{Collected, run_in_memory};
    use hashward_fixtures::ubi::ubinize;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn crc_matches_the_kernel_convention() {
        // The EC header ubinize wrote for `-m 2048 -p 128KiB -s 2048` with image_seq 0x37c6bfa3.
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"UBI#");
        h[4] = 1;
        h[16..20].copy_from_slice(&2048u32.to_be_bytes());
        h[20..24].copy_from_slice(&4096u32.to_be_bytes());
        h[24..28].copy_from_slice(&0x37c6_bfa3u32.to_be_bytes());
        assert_eq!(ubi_crc(&h[..60]), 0x9128_d636);
    }

    #[test]
    fn round_trip_two_volumes() {
        let a = pattern(300_000, 1);
        let mut b = vec![0x31, 0x18, 0x10, 0x06];
        b.extend(pattern(5000, 2));
        let img = ubinize(&[("rootfs", 0, &a), ("data", 3, &b)], 64 << 10, 2048, 2048);
        assert!(Ubi.probe(&img, Some(img.len() as u64)));
        let (r, sink) = run_in_memory("ubi", &img, 1 << 24);
        let u = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        let leb = (64 << 10) - 4096;
        let got = sink.file("rootfs.img").unwrap();
        assert_eq!(got.len() % leb, 0);
        assert_eq!(&got[..a.len()], &a[..]);
        assert!(got[a.len()..].iter().all(|&x| x == 0xFF));
        let got = sink.file("data.ubifs").unwrap();
        assert_eq!(&got[..b.len()], &b[..]);
        assert_eq!(u.details["peb_size"], 64 << 10);
        assert_eq!(u.details["volumes"].as_array().unwrap().len(), 2);
        assert_eq!(u.consumed, Some(img.len() as u64));
    }

    #[test]
    fn s9_geometry() {
        let a = pattern(200_000, 7);
        let img = ubinize(&[("rootfs", 0, &a)], 128 << 10, 2048, 2048);
        let (r, sink) = run_in_memory("ubi", &img, 1 << 24);
        let u = r.unwrap();
        assert_eq!(u.details["leb_size"], 126_976);
        assert_eq!(u.details["vid_hdr_offset"], 2048);
        assert_eq!(u.details["data_offset"], 4096);
        assert_eq!(&sink.file("rootfs.img").unwrap()[..a.len()], &a[..]);
    }

    #[test]
    fn higher_sqnum_wins_and_bad_pebs_are_skipped() {
        let peb = 16usize << 10;
        let a = pattern(3 * (peb - 4096), 3);
        let mut img = ubinize(&[("v", 0, &a)], peb as u64, 2048, 2048);
        // PEBs: 0,1 layout; 2,3,4 LEBs 0..2. Duplicate PEB 3 (LEB 1) with other data and a
        // higher sqnum, appended as PEB 5.
        let mut dup = img[3 * peb..4 * peb].to_vec();
        dup[2048 + 40..2048 + 48].copy_from_slice(&1000u64.to_be_bytes());
        let crc = ubi_crc(&dup[2048..2048 + 60]);
        dup[2048 + 60..2048 + 64].copy_from_slice(&crc.to_be_bytes());
        dup[4096..4100].copy_from_slice(b"NEW!");
        img.extend_from_slice(&dup);
        // Corrupt the VID header CRC of PEB 4 (LEB 2): it must be skipped, and read as 0xFF.
        img[4 * peb + 2048 + 20] ^= 0xFF;
        // And an erased PEB at the end.
        img.extend(std::iter::repeat_n(0xFF, peb));
        let (r, sink) = run_in_memory("ubi", &img, 1 << 24);
        r.unwrap();
        let got = sink.file("v.img").unwrap();
        let leb = peb - 4096;
        assert_eq!(
            got.len(),
            2 * leb,
            "LEB 2 is gone, so the volume ends after LEB 1"
        );
        assert_eq!(&got[leb..leb + 4], b"NEW!");
        assert_eq!(&got[..leb], &a[..leb]);
        assert!(
            sink.problems.iter().any(|p| p.contains("CRC")),
            "{:?}",
            sink.problems
        );
    }

    #[test]
    fn truncation_never_panics() {
        let a = pattern(100_000, 9);
        let img = ubinize(&[("rootfs", 0, &a)], 16 << 10, 512, 512);
        for cut in (0..img.len()).step_by(997).chain([1, 63, 64, 65, img.len() - 1]) {
            let (r, sink) = run_in_memory("ubi", &img[..cut], 1 << 24);
            if let Ok(u) = r {
                assert!(u.consumed.unwrap() <= cut as u64);
                for (_, c) in &sink.entries {
                    assert!(matches!(c, Collected::File(_)));
                }
            }
        }
    }

    #[test]
    fn hostile_headers() {
        let a = pattern(40_000, 4);
        let peb = 16usize << 10;
        let img = ubinize(&[("rootfs", 0, &a)], peb as u64, 512, 512);
        let mut seed = 99u32;
        for round in 0..400u32 {
            let mut m = img.clone();
            for _ in 0..1 + round % 4 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let p = (seed as usize >> 3) % m.len();
                // Hit headers and the volume table more often than data.
                let p = if round.is_multiple_of(2) {
                    (p / peb) * peb + (p % 700)
                } else {
                    p
                };
                m[p] = (seed >> 24) as u8;
            }
            let _ = run_in_memory("ubi", &m, 1 << 24);
        }
        // A PEB whose own EC header moves its data to the PEB's last bytes: the LEB keeps its
        // size, the missing part reads as erased flash, the next PEB is not read.
        let mut m = img.clone();
        let e = 2 * peb;
        m[e + 20..e + 24].copy_from_slice(&((peb - 100) as u32).to_be_bytes());
        let crc = ubi_crc(&m[e..e + 60]);
        m[e + 60..e + 64].copy_from_slice(&crc.to_be_bytes());
        let (r, sink) = run_in_memory("ubi", &m, 1 << 24);
        r.unwrap();
        let got = sink.file("rootfs.img").unwrap();
        let leb = peb - 1024;
        assert_eq!(got.len() % leb, 0);
        assert!(got[100..leb].iter().all(|&x| x == 0xFF));
        assert_eq!(&got[leb..2 * leb], &a[leb..2 * leb]);
        // An absurd LEB number with a valid CRC.
        let mut m = img.clone();
        let v = 2 * peb + 512;
        m[v + 12..v + 16].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        let crc = ubi_crc(&m[v..v + 60]);
        m[v + 60..v + 64].copy_from_slice(&crc.to_be_bytes());
        let (r, sink) = run_in_memory("ubi", &m, 1 << 24);
        r.unwrap();
        assert!(sink.problems.iter().any(|p| p.contains("out of range")));
    }

    /// Turn volume 0 of a fixture image into a static volume, as `ubinize` would write one:
    /// VID headers carry `data_size` and `used_ebs`, the table says type 2.
    fn make_static(img: &mut [u8], peb: usize, vid: usize, data_off: usize, len: usize) {
        let leb = peb - data_off;
        let used = len.div_ceil(leb);
        for i in 0..used {
            let h = (2 + i) * peb + vid;
            img[h + 5] = VOL_STATIC;
            let size = (len - i * leb).min(leb) as u32;
            img[h + 20..h + 24].copy_from_slice(&size.to_be_bytes());
            img[h + 24..h + 28].copy_from_slice(&(used as u32).to_be_bytes());
            let crc = ubi_crc(&img[h..h + 60]);
            img[h + 60..h + 64].copy_from_slice(&crc.to_be_bytes());
        }
        for copy in 0..2 {
            let r = copy * peb + data_off;
            img[r + 12] = VOL_STATIC;
            let crc = ubi_crc(&img[r..r + VTBL_CRC_LEN]);
            img[r + VTBL_CRC_LEN..r + VTBL_REC].copy_from_slice(&crc.to_be_bytes());
        }
    }

    #[test]
    fn static_volumes_have_exact_length() {
        let peb = 16usize << 10;
        let a = pattern(40_000, 5);
        let mut img = ubinize(&[("kernel", 0, &a)], peb as u64, 512, 512);
        make_static(&mut img, peb, 512, 1024, a.len());
        let (r, sink) = run_in_memory("ubi", &img, 1 << 24);
        let u = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(sink.file("kernel.img").unwrap(), &a[..]);
        assert_eq!(u.details["volumes"][0]["type"], "static");
        // A static volume with a LEB missing: reported, filled, never longer than claimed.
        let mut m = img.clone();
        m[3 * peb..4 * peb].fill(0xFF);
        let (r, sink) = run_in_memory("ubi", &m, 1 << 24);
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("missing")),
            "{:?}",
            sink.problems
        );
        let got = sink.file("kernel.img").unwrap();
        assert_eq!(&got[..peb - 1024], &a[..peb - 1024]);
        // An absurd used_ebs is bounded by what the input holds.
        let mut m = img.clone();
        let h = 2 * peb + 512;
        m[h + 24..h + 28].copy_from_slice(&u32::MAX.to_be_bytes());
        let crc = ubi_crc(&m[h..h + 60]);
        m[h + 60..h + 64].copy_from_slice(&crc.to_be_bytes());
        let (r, sink) = run_in_memory("ubi", &m, 1 << 26);
        r.unwrap();
        assert!(sink.file("kernel.img").unwrap().len() < 16 * peb);
    }

    #[test]
    fn a_second_image_ends_the_first() {
        let peb = 16usize << 10;
        let a = pattern(20_000, 1);
        let b = pattern(30_000, 2);
        let mut img = ubinize(&[("first", 0, &a)], peb as u64, 512, 512);
        let first_len = img.len();
        let mut second = ubinize(&[("second", 0, &b)], peb as u64, 512, 512);
        for h in second.chunks_exact_mut(peb) {
            h[24..28].copy_from_slice(&0x1234_5678u32.to_be_bytes());
            let crc = ubi_crc(&h[..60]);
            h[60..64].copy_from_slice(&crc.to_be_bytes());
        }
        img.extend_from_slice(&second);
        let (r, sink) = run_in_memory("ubi", &img, 1 << 24);
        let u = r.unwrap();
        assert_eq!(u.consumed, Some(first_len as u64));
        assert_eq!(sink.names(), ["first.img"]);
        assert_eq!(&sink.file("first.img").unwrap()[..a.len()], &a[..]);
        let (r, sink) = run_in_memory("ubi", &img[first_len..], 1 << 24);
        r.unwrap();
        assert_eq!(&sink.file("second.img").unwrap()[..b.len()], &b[..]);
    }

    #[test]
    fn crc_fixed_header_mutations_never_panic() {
        let peb = 16usize << 10;
        let a = pattern(60_000, 6);
        let img = ubinize(&[("rootfs", 0, &a), ("b", 1, &a[..100])], peb as u64, 512, 512);
        let pebs = img.len() / peb;
        let mut seed = 0xABCD_EF01_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..1500 {
            let mut m = img.clone();
            for _ in 0..1 + next() % 3 {
                let base = (next() as usize % pebs) * peb;
                // An EC header, a VID header or the first volume-table records; CRC refreshed.
                let (start, len, crc_at) = match next() % 3 {
                    0 => (base, 60, base + 60),
                    1 => (base + 512, 60, base + 512 + 60),
                    _ => {
                        let r = base + 1024 + (next() as usize % 3) * VTBL_REC;
                        (r, VTBL_CRC_LEN, r + VTBL_CRC_LEN)
                    }
                };
                let v = next();
                m[start + 4 + (v as usize >> 8) % (len - 4)] = match v % 4 {
                    0 => 0xFF,
                    1 => 0,
                    _ => (v >> 16) as u8,
                };
                let crc = ubi_crc(&m[start..start + len]);
                m[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
            }
            let _ = run_in_memory("ubi", &m, 1 << 26);
        }
    }

    #[test]
    fn probe_is_strict() {
        assert!(!Ubi.probe(b"UBI#", None));
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"UBI#");
        assert!(!Ubi.probe(&h, None));
    }
}
