//! Bitmain Gen-4 `.bmu` update images (S19/S21/L7 era): the single image of one control-board
//! family, and the merge image that bundles several singles.
//!
//! Layouts (firmware brief §1.4, confirmed against the public `bmu.py` unpacker):
//!
//! * **Single** (`bmu`): a 2048-byte header — `0x26` at 0; CityHash64 v1.1 of the miner subtype
//!   string, u64 LE at 2..10 (the model lock); a BE u16 content bitmap at 11..13 in which
//!   component code *c* sets bit `15 - c` (the published S19j Pro example has codes 0, 1, 2 and
//!   bitmap `1110000000000000`); BE u16 length of `miner.pem` at 22..24 and the PEM from 24;
//!   `miner.pem.sig` (256 bytes, by the vendor root key `/etc/bitmain.pub`) at 1048..1304; the
//!   file count at 1304; the component table at 1309 + 5·i (`u8 code`, BE `u32 size`). Then the
//!   components in table order, one 256-byte signature per component, and the master signature
//!   as the last 256 bytes. Total size is `((count + 9) << 8) + Σ sizes`.
//! * **Merge** (`bmu-merge`): a 36-byte LE header (magic `0xABABABAB`, version, header size 36,
//!   item count, item size 172, data offset 16384, CRC-32 (zlib/IEEE, as `binascii.crc32`) of the
//!   whole file with bytes 24..28 zeroed, two reserved words), then 172-byte items (four length
//!   bytes, `filename[64]`, `chip[32]`, `hardware[32]`, `model[32]`, LE `offset`, LE `size`).
//!
//! Signatures are RSA PKCS#1 v1.5 with SHA-256. `miner.pem.sig` is checked against the keys the
//! user supplies (`ctx.keys`). Component signatures and the master signature are checked with
//! the `miner.pem` key found in the header, always: that catches a modified component even
//! without the root key, but it only means "authentic" when `miner.pem` itself is vouched for,
//! which `details.signatures.trusted` states. Assumptions, documented because no vendor
//! specification exists: each component signature covers the component's bytes (bmu.py prints
//! a per-file verification); the master signature covers SHA-256 of the buffer
//! SHA-256(header) ‖ SHA-256(component₀..ₙ) ‖ SHA-256(signature₀..ₙ) — header, then every
//! component, then every component signature — of `(count << 6) + 32` bytes, as bmu.py builds it.
//!
//! Verification is done on `rsa`'s public key parts with `BoxedUint::mul_mod` and an explicit
//! EMSA-PKCS1-v1_5 comparison (RFC 8017 §8.2.2), because the workspace builds `rsa` without its
//! `pkcs1v15` feature.

use std::io::{self, Read};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked, file};

/// The single `.bmu` format.
pub struct BmuSingle;

/// The merge `.bmu` format.
pub struct BmuMerge;

static SINGLE_INFO: FormatInfo = FormatInfo {
    id: "bmu",
    description: "Bitmain single .bmu update image (signed, model-locked)",
    access: Access::Random,
    // One byte is no carving signature; singles inside merges are found through the merge.
    magics: &[],
    codec: false,
};

static MERGE_INFO: FormatInfo = FormatInfo {
    id: "bmu-merge",
    description: "Bitmain merge .bmu (several single .bmu images with a CRC-32)",
    access: Access::Random,
    magics: &[Magic {
        offset: 0,
        bytes: &[0xab, 0xab, 0xab, 0xab],
    }],
    codec: false,
};

/// Single header length.
pub const HEADER_LEN: usize = 2048;
/// RSA-2048 signature length.
pub const SIG_LEN: u64 = 256;
const MAGIC: u8 = 0x26;
const PEM_LEN_AT: usize = 22;
const PEM_AT: usize = 24;
const PEM_SIG_AT: usize = 1048;
const COUNT_AT: usize = 1304;
const TABLE_AT: usize = 1309;
/// Components that fit the table inside the header: (2048 − 1309) / 5.
pub const MAX_TABLE: usize = (HEADER_LEN - TABLE_AT) / 5;
/// Most components the probe accepts (the bitmap has 16 bits).
pub const MAX_PROBE_COMPONENTS: u8 = 16;

/// Miner subtypes whose CityHash64 is recognised in the model lock. Sources: the merge listing
/// of an S19j Pro release in the `bmu.py` README (CVCtrl/zynq7007/AMLCtrl/BBCtrl ×
/// BHB42XXX/BHB42601) and `/etc/subtype` of the S21 Hyd. FR-1.1 rootfs (firmware brief §1.4).
pub static KNOWN_SUBTYPES: &[&str] = &[
    "CVCtrl_BHB42XXX",
    "zynq7007_BHB42XXX",
    "AMLCtrl_BHB42XXX",
    "BBCtrl_BHB42XXX",
    "AMLCtrl_BHB42601",
    "BBCtrl_BHB42601",
    "zynq7007_BHB42601",
    "zynq7007_HHB68XXX",
];

/// Component names by code (bmu.py `get_file_name`).
pub fn component_name(code: u8) -> String {
    match code {
        0 => "BOOT.bin".into(),
        1 => "devicetree.dtb".into(),
        2 => "uImage".into(),
        3 => "minerfs.image.gz".into(),
        4 => "update.image.gz".into(),
        5 => "crl.tar.gz".into(),
        6 => "miner.btm.tar.gz".into(),
        7 => "reserve".into(),
        9 => "datafile".into(),
        c => format!("component-{c}"),
    }
}

// ---------------------------------------------------------------------------------------------
// CityHash64 v1.1 (Google CityHash 1.1; FarmHash `Fingerprint64` is the same function).
// The `cityhash-rs` crate only exposes the 128-bit variants, so the 64-bit one is here.

const K0: u64 = 0xc3a5_c85c_97cb_3127;
const K1: u64 = 0xb492_b66f_be98_f273;
const K2: u64 = 0x9ae1_6a3b_2f90_404f;
const KMUL: u64 = 0x9ddf_ea08_eb38_2d69;

fn f64le(s: &[u8], i: usize) -> u64 {
    s.get(i..i + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn f32le(s: &[u8], i: usize) -> u64 {
    s.get(i..i + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
}

fn mix16(u: u64, v: u64, mul: u64) -> u64 {
    let mut a = (u ^ v).wrapping_mul(mul);
    a ^= a >> 47;
    let mut b = (v ^ a).wrapping_mul(mul);
    b ^= b >> 47;
    b.wrapping_mul(mul)
}

fn smix(v: u64) -> u64 {
    v ^ (v >> 47)
}

fn weak_seeds(s: &[u8], i: usize, a: u64, b: u64) -> (u64, u64) {
    let (w, x, y, z) = (f64le(s, i), f64le(s, i + 8), f64le(s, i + 16), f64le(s, i + 24));
    let a = a.wrapping_add(w);
    let b = b.wrapping_add(a).wrapping_add(z).rotate_right(21);
    let c = a;
    let a = a.wrapping_add(x).wrapping_add(y);
    let b = b.wrapping_add(a.rotate_right(44));
    (a.wrapping_add(z), b.wrapping_add(c))
}

/// CityHash64 v1.1 of `s`: the model-lock hash in a single `.bmu` header.
pub fn cityhash64(s: &[u8]) -> u64 {
    let len = s.len();
    let l = len as u64;
    let mul = K2.wrapping_add(l.wrapping_mul(2));
    match len {
        0 => K2,
        1..=3 => {
            let (a, b, c) = (s[0], s[len >> 1], s[len - 1]);
            let y = u32::from(a).wrapping_add(u32::from(b) << 8);
            let z = (len as u32).wrapping_add(u32::from(c) << 2);
            smix(u64::from(y).wrapping_mul(K2) ^ u64::from(z).wrapping_mul(K0)).wrapping_mul(K2)
        }
        4..=7 => mix16(l.wrapping_add(f32le(s, 0) << 3), f32le(s, len - 4), mul),
        8..=16 => {
            let a = f64le(s, 0).wrapping_add(K2);
            let b = f64le(s, len - 8);
            let c = b.rotate_right(37).wrapping_mul(mul).wrapping_add(a);
            let d = a.rotate_right(25).wrapping_add(b).wrapping_mul(mul);
            mix16(c, d, mul)
        }
        17..=32 => {
            let a = f64le(s, 0).wrapping_mul(K1);
            let b = f64le(s, 8);
            let c = f64le(s, len - 8).wrapping_mul(mul);
            let d = f64le(s, len - 16).wrapping_mul(K2);
            mix16(
                a.wrapping_add(b)
                    .rotate_right(43)
                    .wrapping_add(c.rotate_right(30))
                    .wrapping_add(d),
                a.wrapping_add(b.wrapping_add(K2).rotate_right(18))
                    .wrapping_add(c),
                mul,
            )
        }
        33..=64 => {
            let a = f64le(s, 0).wrapping_mul(K2);
            let b = f64le(s, 8);
            let c = f64le(s, len - 24);
            let d = f64le(s, len - 32);
            let e = f64le(s, 16).wrapping_mul(K2);
            let f = f64le(s, 24).wrapping_mul(9);
            let g = f64le(s, len - 8);
            let h = f64le(s, len - 16).wrapping_mul(mul);
            let u = a
                .wrapping_add(g)
                .rotate_right(43)
                .wrapping_add(b.rotate_right(30).wrapping_add(c).wrapping_mul(9));
            let v = (a.wrapping_add(g) ^ d).wrapping_add(f).wrapping_add(1);
            let w = u.wrapping_add(v).wrapping_mul(mul).swap_bytes().wrapping_add(h);
            let x = e.wrapping_add(f).rotate_right(42).wrapping_add(c);
            let y = v
                .wrapping_add(w)
                .wrapping_mul(mul)
                .swap_bytes()
                .wrapping_add(g)
                .wrapping_mul(mul);
            let z = e.wrapping_add(f).wrapping_add(c);
            let a = x
                .wrapping_add(z)
                .wrapping_mul(mul)
                .wrapping_add(y)
                .swap_bytes()
                .wrapping_add(b);
            let b = smix(
                z.wrapping_add(a)
                    .wrapping_mul(mul)
                    .wrapping_add(d)
                    .wrapping_add(h),
            )
            .wrapping_mul(mul);
            b.wrapping_add(x)
        }
        _ => {
            let mut x = f64le(s, len - 40);
            let mut y = f64le(s, len - 16).wrapping_add(f64le(s, len - 56));
            let mut z = mix16(f64le(s, len - 48).wrapping_add(l), f64le(s, len - 24), KMUL);
            let mut v = weak_seeds(s, len - 64, l, z);
            let mut w = weak_seeds(s, len - 32, y.wrapping_add(K1), x);
            x = x.wrapping_mul(K1).wrapping_add(f64le(s, 0));
            // Whole 64-byte blocks from the start, as many as (len - 1) / 64.
            for block in 0..(len - 1) / 64 {
                let p = block * 64;
                x = x
                    .wrapping_add(y)
                    .wrapping_add(v.0)
                    .wrapping_add(f64le(s, p + 8))
                    .rotate_right(37)
                    .wrapping_mul(K1);
                y = y
                    .wrapping_add(v.1)
                    .wrapping_add(f64le(s, p + 48))
                    .rotate_right(42)
                    .wrapping_mul(K1);
                x ^= w.1;
                y = y.wrapping_add(v.0).wrapping_add(f64le(s, p + 40));
                z = z.wrapping_add(w.0).rotate_right(33).wrapping_mul(K1);
                v = weak_seeds(s, p, v.1.wrapping_mul(K1), x.wrapping_add(w.0));
                w = weak_seeds(s, p + 32, z.wrapping_add(v.1), y.wrapping_add(f64le(s, p + 16)));
                std::mem::swap(&mut z, &mut x);
            }
            mix16(
                mix16(v.0, w.0, KMUL)
                    .wrapping_add(smix(y).wrapping_mul(K1))
                    .wrapping_add(z),
                mix16(v.1, w.1, KMUL).wrapping_add(x),
                KMUL,
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RSA PKCS#1 v1.5 / SHA-256 verification.

/// DER `DigestInfo` prefix for SHA-256 (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0x04, 0x20,
];

/// Whether `sig` is an RSASSA-PKCS1-v1_5 signature of the SHA-256 digest `digest` under `key`
/// (RFC 8017 §8.2.2): `sig^e mod n` must equal `00 01 FF… 00 DigestInfo(SHA-256) ‖ digest`.
pub fn verify_pkcs1v15_sha256(key: &rsa::PublicKey, digest: &[u8; 32], sig: &[u8]) -> bool {
    use rsa::traits::PublicKeyParts;
    let k = key.size();
    let t_len = SHA256_DIGEST_INFO.len() + digest.len();
    if sig.len() != k || k < t_len + 11 {
        return false;
    }
    let n = key.n();
    let Ok(s) = rsa::BoxedUint::from_be_slice(sig, n.bits_precision()) else {
        return false;
    };
    if s >= **n {
        return false;
    }
    // e is bounded by the key type (at most 2^33 - 1), so this is at most 34 squarings.
    let mut m = rsa::BoxedUint::one_with_precision(n.bits_precision());
    for byte in key.e().to_be_bytes().iter() {
        for bit in (0..8).rev() {
            m = m.mul_mod(&m, n);
            if (byte >> bit) & 1 == 1 {
                m = m.mul_mod(&s, n);
            }
        }
    }
    let em = m.to_be_bytes();
    // The integer may be wider than k bytes (limb rounding); the excess must be zero.
    let Some(cut) = em.len().checked_sub(k) else {
        return false;
    };
    let (excess, em) = em.split_at(cut);
    if excess.iter().any(|&b| b != 0) {
        return false;
    }
    let ps_end = k - t_len - 1;
    em.first() == Some(&0)
        && em.get(1) == Some(&1)
        && em.get(2..ps_end).is_some_and(|ps| ps.iter().all(|&b| b == 0xff))
        && em.get(ps_end) == Some(&0)
        && em.get(ps_end + 1..k - 32) == Some(&SHA256_DIGEST_INFO[..])
        && em.get(k - 32..) == Some(&digest[..])
}

/// An RSA public key from PEM text: SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`).
pub fn parse_public_pem(pem: &[u8]) -> Result<rsa::PublicKey, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    let text = std::str::from_utf8(pem).map_err(|_| "PEM is not UTF-8".to_owned())?;
    let text = text.trim_end_matches('\0').trim();
    rsa::PublicKey::from_public_key_pem(text)
        .or_else(|_| rsa::PublicKey::from_pkcs1_pem(text))
        .map_err(|e| format!("not an RSA public key: {e}"))
}

/// SHA-256 of the key's DER SubjectPublicKeyInfo (what `openssl pkey -pubin -outform DER |
/// sha256sum` prints), to recognise the same key across differently wrapped PEMs.
fn spki_fingerprint(key: &rsa::PublicKey) -> Option<String> {
    use rsa::pkcs8::EncodePublicKey;
    key.to_public_key_der()
        .ok()
        .map(|der| hex::encode(Sha256::digest(der.as_bytes())))
}

// ---------------------------------------------------------------------------------------------
// Single .bmu

/// The parsed header of a single `.bmu`.
#[derive(Debug)]
struct SingleHeader {
    model_hash: u64,
    bitmap: u16,
    pem_len: usize,
    count: usize,
    table: Vec<(u8, u64)>,
}

fn parse_single(h: &[u8]) -> Option<SingleHeader> {
    if h.len() < HEADER_LEN || h[0] != MAGIC {
        return None;
    }
    let count = usize::from(h[COUNT_AT]);
    let table = (0..count.min(MAX_TABLE))
        .map(|i| {
            let at = TABLE_AT + 5 * i;
            let size = h
                .get(at + 1..at + 5)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_be_bytes);
            (h[at], u64::from(size))
        })
        .collect();
    Some(SingleHeader {
        model_hash: f64le(h, 2),
        bitmap: u16::from_be_bytes([h[11], h[12]]),
        pem_len: usize::from(u16::from_be_bytes([h[PEM_LEN_AT], h[PEM_LEN_AT + 1]])),
        count,
        table,
    })
}

/// The size a single `.bmu` with this table must have: header, data, one signature per
/// component, master signature — `((count + 9) << 8) + Σ sizes`.
fn expected_len(count: usize, table: &[(u8, u64)]) -> u64 {
    (((count as u64) + 9) << 8) + table.iter().map(|t| t.1).sum::<u64>()
}

/// The status of one signature, for `details`.
fn sig_status(valid: Option<bool>, key: Option<&str>, why: Option<String>) -> Value {
    let status = match valid {
        Some(true) => "valid",
        Some(false) => "invalid",
        None => "not_checked",
    };
    let mut v = json!({"status": status, "key": key});
    if let Some(why) = why {
        v["reason"] = why.into();
    }
    v
}

/// Hashes what the sink reads, and is drained afterwards.
struct ShaReader<R> {
    inner: R,
    sha: Sha256,
}

impl<R: Read> Read for ShaReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<R: Read> ShaReader<R> {
    fn new(inner: R) -> Self {
        ShaReader {
            inner,
            sha: Sha256::new(),
        }
    }

    fn finish(mut self) -> Result<[u8; 32], FormatError> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.sha.finalize().into())
    }
}

/// Picks names that do not repeat within one container.
#[derive(Default)]
struct Names(std::collections::HashSet<Vec<u8>>);

impl Names {
    fn unique(&mut self, name: Vec<u8>, index: usize) -> Vec<u8> {
        let name = if self.0.contains(&name) {
            let mut alt = format!("{index}-").into_bytes();
            alt.extend_from_slice(&name);
            alt
        } else {
            name
        };
        self.0.insert(name.clone());
        name
    }
}

impl Format for BmuSingle {
    fn info(&self) -> &'static FormatInfo {
        &SINGLE_INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        let (Some(h), Some(len)) = (parse_single(head), len) else {
            return false;
        };
        (1..=usize::from(MAX_PROBE_COMPONENTS)).contains(&h.count)
            && (100..=1024).contains(&h.pem_len)
            && head.get(PEM_AT..).is_some_and(|p| p.starts_with(b"-----BEGIN"))
            && expected_len(h.count, &h.table) == len
    }

    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let Input::Blob(blob) = input else {
            return Err(FormatError::Unsupported("bmu needs random access".into()));
        };
        let header = blob.read_vec(0, HEADER_LEN as u64)?;
        let Some(h) = parse_single(&header) else {
            return Err(FormatError::malformed(0, "no single .bmu magic 0x26"));
        };
        if h.count > MAX_TABLE {
            return Err(FormatError::malformed(
                COUNT_AT as u64,
                format!("file count {} overflows the header", h.count),
            ));
        }
        let len = blob.len();
        let mut names = Names::default();

        // Model lock and content bitmap.
        let subtype = KNOWN_SUBTYPES
            .iter()
            .find(|s| cityhash64(s.as_bytes()) == h.model_hash);
        let bits = h.bitmap.count_ones() as usize;
        if bits != h.count {
            sink.problem(
                Some(11),
                format!(
                    "content bitmap has {bits} bits set but the file count is {}",
                    h.count
                ),
            );
        }
        let table_bits = h
            .table
            .iter()
            .filter(|t| t.0 < 16)
            .fold(0u16, |m, t| m | (0x8000 >> t.0));
        if table_bits != h.bitmap {
            sink.problem(
                Some(11),
                format!(
                    "content bitmap {:016b} does not match the component codes ({table_bits:016b})",
                    h.bitmap
                ),
            );
        }

        // miner.pem and its signature by the root key.
        let mut pem_len = h.pem_len;
        if PEM_AT + pem_len > PEM_SIG_AT {
            sink.problem(
                Some(PEM_LEN_AT as u64),
                format!("miner.pem length {pem_len} runs into miner.pem.sig"),
            );
            pem_len = PEM_SIG_AT - PEM_AT;
        }
        let pem = &header[PEM_AT..PEM_AT + pem_len];
        let pem_sig = &header[PEM_SIG_AT..PEM_SIG_AT + SIG_LEN as usize];
        sink.entry(file(b"miner.pem", &mut &pem[..], Some(PEM_AT as u64)))?;
        sink.entry(file(b"miner.pem.sig", &mut &pem_sig[..], Some(PEM_SIG_AT as u64)))?;
        names.0.extend([
            b"miner.pem".to_vec(),
            b"miner.pem.sig".to_vec(),
            b"bmu.sig".to_vec(),
        ]);
        let pem_digest: [u8; 32] = Sha256::digest(pem).into();
        let miner_key = parse_public_pem(pem);
        if let Err(why) = &miner_key {
            sink.problem(Some(PEM_AT as u64), format!("miner.pem: {why}"));
        }
        let pem_sig_status = if ctx.keys.is_empty() {
            sig_status(None, None, Some("no root key supplied".into()))
        } else {
            match ctx
                .keys
                .iter()
                .find(|k| verify_pkcs1v15_sha256(&k.key, &pem_digest, pem_sig))
            {
                Some(k) => sig_status(Some(true), Some(&k.name), None),
                None => {
                    sink.problem(
                        Some(PEM_SIG_AT as u64),
                        "miner.pem.sig does not verify with any supplied key".into(),
                    );
                    sig_status(Some(false), None, None)
                }
            }
        };

        // Size identity.
        let expected = expected_len(h.count, &h.table);
        let size_ok = expected == len;
        if !size_ok {
            sink.problem(
                None,
                format!("size is {len} bytes but the header describes {expected}"),
            );
        }

        // Components, each hashed as it goes out.
        let mut check = Sha256::digest(&header).to_vec();
        let mut complete = true;
        let mut comps = Vec::new();
        let mut comp_sha: Vec<Option<[u8; 32]>> = Vec::new();
        let mut at = HEADER_LEN as u64;
        for (i, &(code, size)) in h.table.iter().enumerate() {
            let name = component_name(code);
            let avail = len.saturating_sub(at).min(size);
            let mut v = json!({"code": code, "name": name, "offset": at, "size": size});
            let mut whole = None;
            if avail < size {
                sink.problem(
                    Some(at),
                    format!("component {name} ({size} bytes) runs past the end of the file"),
                );
                complete = false;
            }
            if avail > 0 || size == 0 {
                let part = blob.slice(at, avail)?;
                let fname = names.unique(name.clone().into_bytes(), i);
                let mut r = ShaReader::new(part.reader());
                sink.entry(file(&fname, &mut r, Some(at)))?;
                let sha = r.finish()?;
                if avail == size {
                    check.extend_from_slice(&sha);
                    v["sha256"] = hex::encode(sha).into();
                    whole = Some(sha);
                }
            }
            comps.push(v);
            comp_sha.push(whole);
            at = at.saturating_add(size);
        }

        // Component signatures, then the master signature.
        let mut comp_sigs = Vec::new();
        for (i, &(code, _)) in h.table.iter().enumerate() {
            let sig_at = at.saturating_add(SIG_LEN * i as u64);
            let name = format!("{}.sig", component_name(code));
            let sig = match blob.read_vec(sig_at, SIG_LEN) {
                Ok(s) => s,
                Err(_) => {
                    complete = false;
                    comp_sigs.push(json!({"name": name, "status": "not_checked", "reason": "missing"}));
                    continue;
                }
            };
            check.extend_from_slice(&Sha256::digest(&sig));
            let fname = names.unique(name.clone().into_bytes(), i);
            sink.entry(file(&fname, &mut sig.as_slice(), Some(sig_at)))?;
            let status = match (&miner_key, comp_sha.get(i).copied().flatten()) {
                (Ok(key), Some(digest)) => {
                    // The signature covers the component's bytes: verify over its SHA-256.
                    let ok = verify_pkcs1v15_sha256(key, &digest, &sig);
                    if !ok {
                        sink.problem(
                            Some(sig_at),
                            format!("{name} does not verify with the miner.pem key"),
                        );
                    }
                    sig_status(Some(ok), Some("miner.pem"), None)
                }
                (Err(_), _) => sig_status(None, None, Some("miner.pem unusable".into())),
                (_, None) => sig_status(None, None, Some("component incomplete".into())),
            };
            let mut v = json!({"name": name, "offset": sig_at});
            merge_into(&mut v, status);
            comp_sigs.push(v);
        }
        let master_at = at.saturating_add(SIG_LEN * h.count as u64);
        let master_status = match blob.read_vec(master_at, SIG_LEN) {
            Ok(master) => {
                sink.entry(file(b"bmu.sig", &mut master.as_slice(), Some(master_at)))?;
                match &miner_key {
                    Ok(key) if complete => {
                        // The buffer is (count << 6) + 32 bytes: all of `check` (bmu.py).
                        let digest: [u8; 32] = Sha256::digest(&check).into();
                        let ok = verify_pkcs1v15_sha256(key, &digest, &master);
                        if !ok {
                            sink.problem(
                                Some(master_at),
                                "bmu.sig does not verify with the miner.pem key".into(),
                            );
                        }
                        sig_status(Some(ok), Some("miner.pem"), None)
                    }
                    Ok(_) => sig_status(None, None, Some("image incomplete".into())),
                    Err(_) => sig_status(None, None, Some("miner.pem unusable".into())),
                }
            }
            Err(_) => {
                sink.problem(Some(master_at), "master signature missing".into());
                sig_status(None, None, Some("missing".into()))
            }
        };

        let all_valid =
            comp_sigs.iter().all(|s| s["status"] == "valid") && master_status["status"] == "valid";
        let details = json!({
            "model_hash": format!("{:016x}", h.model_hash),
            "subtype": subtype,
            "bitmap": format!("{:016b}", h.bitmap),
            "file_count": h.count,
            "size_ok": size_ok,
            "expected_size": expected,
            "components": comps,
            "miner_pem": {
                "length": h.pem_len,
                "sha256": hex::encode(pem_digest),
                "key_bits": miner_key.as_ref().ok().map(|k| rsa::traits::PublicKeyParts::size(k) * 8),
                "spki_sha256": miner_key.as_ref().ok().and_then(spki_fingerprint),
            },
            "signatures": {
                "miner_pem_sig": pem_sig_status,
                "components": comp_sigs,
                "master": master_status,
                "trusted": pem_sig_status["status"] == "valid" && all_valid,
            },
        });
        if !size_ok {
            return Err(FormatError::malformed(
                0,
                format!("total size {len} does not match ((count + 9) << 8) + sizes = {expected}"),
            ));
        }
        Ok(Unpacked {
            consumed: Some(expected),
            details,
        })
    }
}

/// Copy the fields of `extra` into `v`.
fn merge_into(v: &mut Value, extra: Value) {
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
}

// ---------------------------------------------------------------------------------------------
// Merge .bmu

const MERGE_MAGIC: u32 = 0xabab_abab;
const MERGE_HEADER: u64 = 36;
const MERGE_ITEM: u64 = 172;
/// Most items read from a merge image.
pub const MAX_ITEMS: u32 = 256;

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|x| x.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// A length-prefixed string field of a merge item, clamped to its field.
fn field(item: &[u8], len_at: usize, at: usize, cap: usize) -> (Vec<u8>, bool) {
    let n = usize::from(item.get(len_at).copied().unwrap_or(0));
    let v = item.get(at..at + n.min(cap)).unwrap_or_default().to_vec();
    (v, n > cap)
}

impl Format for BmuMerge {
    fn info(&self) -> &'static FormatInfo {
        &MERGE_INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        if head.len() < MERGE_HEADER as usize || le32(head, 0) != MERGE_MAGIC {
            return false;
        }
        let (hsize, count, isize, data) = (le32(head, 8), le32(head, 12), le32(head, 16), le32(head, 20));
        hsize == MERGE_HEADER as u32
            && isize == MERGE_ITEM as u32
            && (1..=MAX_ITEMS).contains(&count)
            && u64::from(data) >= MERGE_HEADER + MERGE_ITEM * u64::from(count)
            && len.is_none_or(|l| l >= u64::from(data))
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let Input::Blob(blob) = input else {
            return Err(FormatError::Unsupported("bmu-merge needs random access".into()));
        };
        let head = blob.read_vec(0, MERGE_HEADER)?;
        if le32(&head, 0) != MERGE_MAGIC {
            return Err(FormatError::malformed(0, "no merge .bmu magic"));
        }
        let (version, hsize, count, isize) =
            (le32(&head, 4), le32(&head, 8), le32(&head, 12), le32(&head, 16));
        let (data_offset, stored_crc) = (le32(&head, 20), le32(&head, 24));
        if u64::from(hsize) != MERGE_HEADER || u64::from(isize) != MERGE_ITEM {
            return Err(FormatError::Unsupported(format!(
                "merge header size {hsize} / item size {isize}"
            )));
        }
        if count > MAX_ITEMS {
            return Err(FormatError::structure(format!(
                "{count} merge items (at most {MAX_ITEMS})"
            )));
        }
        let table = blob.read_vec(MERGE_HEADER, MERGE_ITEM * u64::from(count))?;
        let len = blob.len();

        // CRC-32 (zlib) of the whole file with the CRC field zeroed, in one streaming pass.
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[..24]);
        crc.update(&[0; 4]);
        let mut rest = blob.slice_from(28)?.reader();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = rest.read(&mut buf)?;
            if n == 0 {
                break;
            }
            crc.update(buf.get(..n).unwrap_or_default());
        }
        let computed = crc.finalize();
        let crc_ok = computed == stored_crc;
        if !crc_ok {
            sink.problem(
                Some(24),
                format!("CRC-32 {stored_crc:#010x} does not match (computed {computed:#010x})"),
            );
        }

        let mut names = Names::default();
        let mut items = Vec::new();
        let mut end = u64::from(data_offset).min(len);
        for (i, item) in table.chunks_exact(MERGE_ITEM as usize).enumerate() {
            let item_at = MERGE_HEADER + MERGE_ITEM * i as u64;
            let (filename, f_over) = field(item, 0, 4, 64);
            let (chip, c_over) = field(item, 1, 68, 32);
            let (hardware, h_over) = field(item, 2, 100, 32);
            let (model, m_over) = field(item, 3, 132, 32);
            if f_over || c_over || h_over || m_over {
                sink.problem(
                    Some(item_at),
                    format!("item {i}: a string length exceeds its field"),
                );
            }
            let (offset, size) = (u64::from(le32(item, 164)), u64::from(le32(item, 168)));
            let avail = len.saturating_sub(offset).min(size);
            if avail < size {
                sink.problem(
                    Some(item_at),
                    format!("item {i}: {size} bytes at {offset:#x} run past the end"),
                );
            }
            if offset < u64::from(data_offset) {
                sink.problem(
                    Some(item_at),
                    format!("item {i}: data at {offset:#x} lies inside the header area"),
                );
            }
            // Several items are commonly called `update.bmu`: the hardware (board subtype)
            // keeps them apart, as bmu.py's model/hardware/chip directories do.
            let mut name = Vec::new();
            if !hardware.is_empty() {
                name.extend_from_slice(&hardware);
                name.push(b'/');
            }
            if filename.is_empty() {
                name.extend_from_slice(format!("item{i}.bmu").as_bytes());
            } else {
                name.extend_from_slice(&filename);
            }
            let name = names.unique(name, i);
            let lossy = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
            let mut v = json!({
                "filename": lossy(&filename),
                "chip": lossy(&chip),
                "hardware": lossy(&hardware),
                "model": lossy(&model),
                "offset": offset,
                "size": size,
                "path": lossy(&name),
            });
            if avail > 0 {
                let part = blob.slice(offset, avail)?;
                // The model lock of the single inside, against the hardware string.
                let mut lock = [0u8; 10];
                if part.read_exact_at(0, &mut lock).is_ok() && lock[0] == MAGIC {
                    let hash = f64le(&lock, 2);
                    v["model_hash"] = format!("{hash:016x}").into();
                    v["model_hash_matches_hardware"] = (cityhash64(&hardware) == hash).into();
                }
                let mut r = part.reader();
                sink.entry(file(&name, &mut r, Some(offset)))?;
                end = end.max(offset + avail);
            }
            items.push(v);
        }
        let details = json!({
            "version": version,
            "item_count": count,
            "data_offset": data_offset,
            "crc32": format!("{stored_crc:08x}"),
            "crc_ok": crc_ok,
            "items": items,
        });
        Ok(Unpacked {
            consumed: Some(end),
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::unpack::{Blob, MemorySink, VerifyKey, format, run_in_memory};
    use hashward_fixtures::bmu::{make_bmu_merge, make_bmu_single};
    use hashward_fixtures::fit::make_dtb;
    use hashward_fixtures::keys::{TestKey, miner_2048, other_2048, root_2048, root_4096, sign_sha256};
    use hashward_fixtures::uimage::{UImageSpec, make_uimage_spec};

    fn run(id: &str, data: &[u8], keys: &[VerifyKey]) -> (Result<Unpacked, FormatError>, MemorySink) {
        let blob = Blob::from_vec(data.to_vec());
        let ctx = Ctx {
            name: "update.bmu",
            keys,
        };
        let mut sink = MemorySink::with_budget(64 << 20);
        let r = format(id).unwrap().unpack(Input::Blob(&blob), &ctx, &mut sink);
        (r, sink)
    }

    fn vk(name: &str, key: &TestKey) -> VerifyKey {
        VerifyKey {
            name: name.into(),
            key: key.public.clone(),
        }
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn components() -> Vec<(u8, Vec<u8>)> {
        let boot: Vec<u8> = (0..3000u32).map(|i| (i % 253) as u8).collect();
        let kernel = make_uimage_spec(&vec![0x5a; 4000], &UImageSpec::kernel());
        let minerfs = make_uimage_spec(&gz(&vec![7u8; 20_000]), &UImageSpec::ramdisk());
        vec![
            (0, boot),
            (1, make_dtb("hashward S21 fixture", &["xlnx,zynq-7000"])),
            (2, kernel),
            (3, minerfs),
            (5, gz(b"crl + crl.sig")),
            (6, gz(b"miner.btm + miner.btm.sig")),
            (7, Vec::new()),
        ]
    }

    fn single(subtype: &str) -> (Vec<u8>, Vec<(u8, Vec<u8>)>) {
        let comps = components();
        let refs: Vec<(u8, &[u8])> = comps.iter().map(|(c, d)| (*c, d.as_slice())).collect();
        (make_bmu_single(subtype, &refs, root_2048(), miner_2048()), comps)
    }

    #[test]
    fn cityhash_test_vector_and_agreement_with_the_fixture_writer() {
        assert_eq!(cityhash64(b"CVCtrl_BHB42XXX"), 0x883b_7c5d_69fe_738b);
        // FarmHash Fingerprint64 shares CityHash64 v1.1 up to 32 bytes; published values
        // (farmhash test suites) for 1–4, 6 and 32 bytes.
        assert_eq!(cityhash64(b""), 0x9ae1_6a3b_2f90_404f);
        assert_eq!(cityhash64(b"a"), 0xb345_4265_b6df_75e3);
        assert_eq!(cityhash64(b"abc"), 0x24a5_b3a0_74e7_f369);
        assert_eq!(cityhash64(b"abcd"), 0x1a55_02de_4a1f_8101);
        assert_eq!(cityhash64(b"abcdef"), 0xc329_379e_6a03_c2cd);
        assert_eq!(cityhash64(b"test"), 8_581_389_452_482_819_506);
        assert_eq!(
            cityhash64(&b"test".repeat(8)),
            (-4_196_240_717_365_766_262_i64) as u64
        );
        let mut seed = 0x9e37_79b9_u64;
        for len in 0..300 {
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            assert_eq!(
                cityhash64(&s),
                hashward_fixtures::bmu::cityhash64(&s),
                "length {len}"
            );
        }
    }

    #[test]
    fn single_round_trip_with_valid_signatures() {
        let (img, comps) = single("zynq7007_HHB68XXX");
        assert!(BmuSingle.probe(&img[..4096.min(img.len())], Some(img.len() as u64)));
        assert!(!BmuSingle.probe(&img[..4096], Some(img.len() as u64 + 1)));
        let (r, sink) = run(
            "bmu",
            &img,
            &[vk("other.pub", other_2048()), vk("bitmain.pub", root_2048())],
        );
        let u = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(u.consumed, Some(img.len() as u64));
        let names = sink.names();
        assert_eq!(
            names,
            [
                "miner.pem",
                "miner.pem.sig",
                "BOOT.bin",
                "devicetree.dtb",
                "uImage",
                "minerfs.image.gz",
                "crl.tar.gz",
                "miner.btm.tar.gz",
                "reserve",
                "BOOT.bin.sig",
                "devicetree.dtb.sig",
                "uImage.sig",
                "minerfs.image.gz.sig",
                "crl.tar.gz.sig",
                "miner.btm.tar.gz.sig",
                "reserve.sig",
                "bmu.sig"
            ]
        );
        for (code, data) in &comps {
            assert_eq!(sink.file(&component_name(*code)).unwrap(), data.as_slice());
        }
        assert_eq!(sink.file("miner.pem").unwrap(), miner_2048().pem.as_bytes());
        assert_eq!(
            sink.file("miner.pem.sig").unwrap(),
            sign_sha256(root_2048(), miner_2048().pem.as_bytes())
        );
        assert_eq!(sink.file("bmu.sig").unwrap(), &img[img.len() - 256..]);
        let d = &u.details;
        assert_eq!(d["subtype"], "zynq7007_HHB68XXX");
        assert_eq!(
            d["model_hash"],
            format!("{:016x}", cityhash64(b"zynq7007_HHB68XXX"))
        );
        assert_eq!(d["bitmap"], "1111011100000000");
        assert_eq!(
            d["components"][1]["sha256"],
            hex::encode(Sha256::digest(&comps[1].1))
        );
        assert_eq!(d["components"][1]["offset"], 2048 + 3000);
        assert_eq!(d["miner_pem"]["key_bits"], 2048);
        assert_eq!(d["miner_pem"]["length"], 451);
        let s = &d["signatures"];
        assert_eq!(s["miner_pem_sig"]["status"], "valid");
        assert_eq!(s["miner_pem_sig"]["key"], "bitmain.pub");
        for c in s["components"].as_array().unwrap() {
            assert_eq!(c["status"], "valid", "{c}");
        }
        assert_eq!(s["master"]["status"], "valid");
        assert_eq!(s["trusted"], true);
    }

    #[test]
    fn wrong_or_missing_root_key() {
        let (img, _) = single("CVCtrl_BHB42XXX");
        let (r, sink) = run("bmu", &img, &[vk("other.pub", other_2048())]);
        let u = r.unwrap();
        assert_eq!(u.details["subtype"], "CVCtrl_BHB42XXX");
        assert_eq!(u.details["model_hash"], "883b7c5d69fe738b");
        let s = &u.details["signatures"];
        assert_eq!(s["miner_pem_sig"]["status"], "invalid");
        assert_eq!(s["master"]["status"], "valid");
        assert_eq!(s["trusted"], false);
        assert_eq!(sink.problems.len(), 1);
        // A 4096-bit key cannot verify a 2048-bit signature: invalid, not a panic.
        let (r, _) = run("bmu", &img, &[vk("root4096.pub", root_4096())]);
        assert_eq!(
            r.unwrap().details["signatures"]["miner_pem_sig"]["status"],
            "invalid"
        );
        let (r, _) = run_in_memory("bmu", &img, 1 << 26);
        let u = r.unwrap();
        assert_eq!(u.details["signatures"]["miner_pem_sig"]["status"], "not_checked");
        assert_eq!(u.details["signatures"]["trusted"], false);
    }

    #[test]
    fn corrupted_component_flips_its_signature_and_the_master() {
        let (mut img, comps) = single("zynq7007_HHB68XXX");
        let uimage_at = 2048 + comps[0].1.len() + comps[1].1.len();
        img[uimage_at + 100] ^= 1;
        let (r, sink) = run("bmu", &img, &[vk("bitmain.pub", root_2048())]);
        let u = r.unwrap();
        let s = &u.details["signatures"];
        let statuses: Vec<&str> = s["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["valid", "valid", "invalid", "valid", "valid", "valid", "valid"]
        );
        assert_eq!(s["master"]["status"], "invalid");
        assert_eq!(s["miner_pem_sig"]["status"], "valid");
        assert_eq!(s["trusted"], false);
        assert_eq!(sink.problems.len(), 2, "{:?}", sink.problems);

        // A signature byte flipped: that signature and the master (which hashes it) fail.
        let (mut img, _) = single("zynq7007_HHB68XXX");
        let n = img.len();
        img[n - 256 - 3 * 256 + 5] ^= 0x10;
        let (r, _) = run("bmu", &img, &[]);
        let s = r.unwrap().details["signatures"].clone();
        assert_eq!(s["components"][4]["status"], "invalid");
        assert_eq!(s["master"]["status"], "invalid");
    }

    #[test]
    fn unknown_model_lock() {
        let (img, _) = single("NotARealBoard_XYZ");
        let (r, _) = run("bmu", &img, &[]);
        let u = r.unwrap();
        assert_eq!(u.details["subtype"], Value::Null);
        assert_eq!(
            u.details["model_hash"],
            format!("{:016x}", cityhash64(b"NotARealBoard_XYZ"))
        );
    }

    #[test]
    fn count_and_size_mismatches() {
        let (img, comps) = single("zynq7007_HHB68XXX");
        // One byte too many: the identity fails, the probe refuses, unpacking still extracts.
        let mut long = img.clone();
        long.push(0);
        assert!(!BmuSingle.probe(&long[..4096], Some(long.len() as u64)));
        let (r, sink) = run("bmu", &long, &[]);
        assert!(matches!(r, Err(FormatError::Malformed { .. })), "{r:?}");
        assert_eq!(sink.file("BOOT.bin").unwrap(), comps[0].1.as_slice());
        assert!(sink.problems.iter().any(|p| p.contains("size is")));

        // Count lowered by one: bitmap disagrees, sizes disagree.
        let mut fewer = img.clone();
        fewer[COUNT_AT] -= 1;
        let (r, sink) = run("bmu", &fewer, &[]);
        assert!(r.is_err());
        assert!(
            sink.problems.iter().any(|p| p.contains("bitmap")),
            "{:?}",
            sink.problems
        );

        // A component size grown past the end of the file.
        let mut big = img.clone();
        big[TABLE_AT + 1..TABLE_AT + 5].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
        let (r, sink) = run("bmu", &big, &[]);
        assert!(r.is_err());
        assert_eq!(sink.file("BOOT.bin").unwrap().len(), img.len() - 2048);

        // A count that overflows the header table.
        let mut huge = img.clone();
        huge[COUNT_AT] = 200;
        let (r, _) = run("bmu", &huge, &[]);
        assert!(matches!(r, Err(FormatError::Malformed { .. })));
    }

    #[test]
    fn hostile_singles_do_not_panic() {
        let comps: Vec<(u8, &[u8])> = vec![(0, b"boot"), (2, b"kernel"), (9, b"")];
        let img = make_bmu_single("CVCtrl_BHB42XXX", &comps, root_2048(), miner_2048());
        for cut in (0..img.len()).step_by(37).chain(img.len() - 300..img.len()) {
            let (r, _) = run("bmu", &img[..cut], &[]);
            assert!(r.is_err(), "cut at {cut}");
        }
        let keys = [vk("bitmain.pub", root_2048())];
        for i in (0..2048).step_by(3) {
            let mut bad = img.clone();
            bad[i] = bad[i].wrapping_add(0x41);
            let _ = run("bmu", &bad, &keys);
        }
        // A miner.pem that is not a key, and a PEM length past the signature.
        let mut bad = img.clone();
        bad[30] = b'!';
        let (r, sink) = run("bmu", &bad, &keys);
        let u = r.unwrap();
        assert_eq!(u.details["signatures"]["master"]["status"], "not_checked");
        assert!(sink.problems.iter().any(|p| p.contains("miner.pem")));
        let mut bad = img.clone();
        bad[PEM_LEN_AT..PEM_LEN_AT + 2].copy_from_slice(&0xffffu16.to_be_bytes());
        let _ = run("bmu", &bad, &keys);
    }

    #[test]
    fn verification_rejects_malformed_signatures() {
        let key = miner_2048();
        let digest: [u8; 32] = Sha256::digest(b"data").into();
        let good = hashward_fixtures::keys::sign_digest(key, &digest);
        assert!(verify_pkcs1v15_sha256(&key.public, &digest, &good));
        assert!(!verify_pkcs1v15_sha256(&key.public, &[0; 32], &good));
        assert!(!verify_pkcs1v15_sha256(&key.public, &digest, &good[1..]));
        assert!(!verify_pkcs1v15_sha256(&key.public, &digest, &[0xff; 256]));
        assert!(!verify_pkcs1v15_sha256(&key.public, &digest, &[0; 256]));
        assert!(!verify_pkcs1v15_sha256(&other_2048().public, &digest, &good));
        assert!(parse_public_pem(key.pem.as_bytes()).is_ok());
        assert!(parse_public_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
        assert!(parse_public_pem(&[0xff, 0xfe]).is_err());
    }

    fn merge() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let a = make_bmu_single(
            "zynq7007_HHB68XXX",
            &[(0, b"boot-a"), (2, b"kernel-a")],
            root_2048(),
            miner_2048(),
        );
        let b = make_bmu_single("CVCtrl_BHB42XXX", &[(0, b"boot-b")], root_2048(), miner_2048());
        let m = make_bmu_merge(&[
            ("update.bmu", "", "zynq7007_HHB68XXX", "Antminer S21 Hyd.", &a),
            ("update.bmu", "", "CVCtrl_BHB42XXX", "Antminer S21 Hyd.", &b),
            ("update.bmu", "", "CVCtrl_BHB42XXX", "Antminer S21 Hyd.", &b),
            ("Antminer-HHB68XXX-release.bmu", "", "", "Antminer S21 Hyd.", &a),
        ]);
        (m, a, b)
    }

    #[test]
    fn merge_round_trip() {
        let (m, a, b) = merge();
        assert!(BmuMerge.probe(&m, Some(m.len() as u64)));
        let (r, sink) = run_in_memory("bmu-merge", &m, 1 << 26);
        let u = r.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(
            sink.names(),
            [
                "zynq7007_HHB68XXX/update.bmu",
                "CVCtrl_BHB42XXX/update.bmu",
                "2-CVCtrl_BHB42XXX/update.bmu",
                "Antminer-HHB68XXX-release.bmu"
            ]
        );
        assert_eq!(sink.file("zynq7007_HHB68XXX/update.bmu").unwrap(), a.as_slice());
        assert_eq!(sink.file("CVCtrl_BHB42XXX/update.bmu").unwrap(), b.as_slice());
        assert_eq!(sink.file("Antminer-HHB68XXX-release.bmu").unwrap(), a.as_slice());
        assert_eq!(u.consumed, Some(m.len() as u64));
        let d = &u.details;
        assert_eq!(d["crc_ok"], true);
        assert_eq!(d["item_count"], 4);
        assert_eq!(d["items"][0]["model"], "Antminer S21 Hyd.");
        assert_eq!(d["items"][0]["model_hash_matches_hardware"], true);
        assert_eq!(d["items"][3]["model_hash_matches_hardware"], false);
        assert_eq!(d["items"][1]["offset"], 16384 + a.len());
        // Each extracted single is itself recognised.
        assert!(BmuSingle.probe(&a, Some(a.len() as u64)));
    }

    #[test]
    fn merge_bad_crc_and_hostile_tables() {
        let (m, _, _) = merge();
        let mut bad = m.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        let (r, sink) = run_in_memory("bmu-merge", &bad, 1 << 26);
        assert_eq!(r.unwrap().details["crc_ok"], false);
        assert!(sink.problems[0].contains("CRC-32"));

        let mut many = m.clone();
        many[12..16].copy_from_slice(&100_000u32.to_le_bytes());
        assert!(!BmuMerge.probe(&many, None));
        assert!(matches!(
            run_in_memory("bmu-merge", &many, 1 << 26).0,
            Err(FormatError::Limit(_))
        ));

        let mut far = m.clone();
        far[36 + 164..36 + 172].copy_from_slice(&[0xff; 8]);
        let (r, sink) = run_in_memory("bmu-merge", &far, 1 << 26);
        r.unwrap();
        assert!(
            sink.problems.iter().any(|p| p.contains("run past")),
            "{:?}",
            sink.problems
        );

        for cut in (0..m.len()).step_by(97) {
            let _ = run_in_memory("bmu-merge", &m[..cut], 1 << 26);
        }
        for i in 0..36 + 172 * 4 {
            let mut bad = m.clone();
            bad[i] ^= 0xa5;
            let _ = run_in_memory("bmu-merge", &bad, 1 << 26);
        }
    }
}
