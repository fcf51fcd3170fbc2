//! Flattened device trees (FDT/DTB) and U-Boot FIT images built on them.
//!
//! FDT layout per the Devicetree Specification v0.4, ch. 5: a big-endian header (magic
//! `D0 0D FE ED`, totalsize, off_dt_struct, off_dt_strings, off_mem_rsvmap, version,
//! last_comp_version, boot_cpuid_phys, size_dt_strings, and from v17 size_dt_struct), a
//! structure block of 4-byte aligned tokens (BEGIN_NODE 1 + NUL-terminated name, END_NODE 2,
//! PROP 3 + len + nameoff + value, NOP 4, END 9) and a strings block holding property names.
//!
//! A FIT image (U-Boot `doc/usage/fit/source_file_format.rst`, the Flat Image Tree spec) is an
//! FDT with an `/images` node. Each image subnode carries its bytes in `data`, or outside the
//! tree with `data-size` plus `data-position` (absolute) or `data-offset` (from the end of
//! the FDT rounded up to 4 bytes, `mkimage -E`). Each image is emitted as a file named after
//! its node, with a suffix from its `compression` property so that the engine decompresses
//! it. `hash-*` subnodes are verified where a digest is at hand (sha256/384/512, crc32);
//! `signature-*` nodes are reported, not verified (FIT signs configurations with keys that
//! live in U-Boot's own control DTB). A plain device tree is recognised, described
//! (`model`, `compatible`) and not extracted.
//!
//! The structure block is read through a buffered reader: property values above
//! [`MAX_INLINE_PROP`] bytes (embedded kernels) are never loaded, only located, so memory stays
//! bounded whatever `totalsize` says. Depth, node and token counts are capped.

use std::io::{self, Read, Seek, SeekFrom};

use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::{
    Access, Blob, BlobReader, Ctx, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked, file,
};

/// The FIT / FDT format.
pub struct Fit;

static INFO: FormatInfo = FormatInfo {
    id: "fit",
    description: "Flattened device tree (DTB) and U-Boot FIT image",
    access: Access::Random,
    magics: &[Magic {
        offset: 0,
        bytes: &[0xd0, 0x0d, 0xfe, 0xed],
    }],
    codec: false,
};

const MAGIC: [u8; 4] = [0xd0, 0x0d, 0xfe, 0xed];
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// Deepest node nesting accepted (real trees are under 10 deep).
pub const MAX_DEPTH: usize = 64;
/// Most structure tokens read.
pub const MAX_TOKENS: u64 = 200_000;
/// Longest node name (the spec allows 31 characters plus a unit address).
pub const MAX_NAME: usize = 1024;
/// Property values up to this size are kept in memory; larger ones are only located.
pub const MAX_INLINE_PROP: u64 = 4096;
/// Total bytes of property values kept in memory.
pub const MAX_INLINE_TOTAL: u64 = 16 << 20;
/// Largest strings block accepted.
pub const MAX_STRINGS: u64 = 4 << 20;

/// The FDT header fields that matter.
#[derive(Debug, Clone, Copy)]
struct Header {
    totalsize: u64,
    off_struct: u64,
    off_strings: u64,
    size_strings: u64,
    size_struct: u64,
    version: u32,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_be_bytes)
}

/// Check the header against itself and, when known, the input length.
fn parse_header(h: &[u8], len: Option<u64>) -> Result<Header, String> {
    if h.get(..4) != Some(&MAGIC[..]) {
        return Err("no FDT magic".into());
    }
    let f = |i: usize| be32(h, i * 4).map(u64::from).ok_or("header cut short");
    let (totalsize, off_struct, off_strings, off_rsv) = (f(1)?, f(2)?, f(3)?, f(4)?);
    let (version, last_comp, size_strings) = (f(5)?, f(6)?, f(8)?);
    // Version 16 has a 36-byte header, 17 adds size_dt_struct (spec §5.2).
    let hdr_len = if version >= 17 { 40 } else { 36 };
    if version < 16 || last_comp > 17 || version > 255 {
        return Err(format!(
            "unsupported version {version} (last compatible {last_comp})"
        ));
    }
    if totalsize < hdr_len || len.is_some_and(|l| totalsize > l) {
        return Err(format!("totalsize {totalsize} does not fit"));
    }
    if off_struct % 4 != 0 || off_rsv % 8 != 0 {
        return Err("misaligned block offsets".into());
    }
    let inside =
        |off: u64, size: u64| off >= hdr_len && off.checked_add(size).is_some_and(|e| e <= totalsize);
    if !inside(off_rsv, 16) || !inside(off_strings, size_strings) || !inside(off_struct, 4) {
        return Err("a block lies outside totalsize".into());
    }
    let size_struct = if version >= 17 {
        f(9)?
    } else {
        totalsize - off_struct
    };
    if !inside(off_struct, size_struct) {
        return Err("structure block lies outside totalsize".into());
    }
    Ok(Header {
        totalsize,
        off_struct,
        off_strings,
        size_strings,
        size_struct,
        version: version as u32,
    })
}

/// One property: where its value lies in the input, and the value when small.
#[derive(Debug)]
struct Prop {
    name: String,
    offset: u64,
    len: u64,
    value: Option<Vec<u8>>,
}

/// One node of the tree.
#[derive(Debug, Default)]
struct Node {
    name: Vec<u8>,
    props: Vec<Prop>,
    children: Vec<usize>,
}

impl Node {
    fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    /// A string property (first string of a list), lossy.
    fn string(&self, name: &str) -> Option<String> {
        let v = self.prop(name)?.value.as_deref()?;
        let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
        Some(String::from_utf8_lossy(&v[..end]).into_owned())
    }

    /// Every string of a string-list property.
    fn strings(&self, name: &str) -> Vec<String> {
        let Some(v) = self.prop(name).and_then(|p| p.value.as_deref()) else {
            return Vec::new();
        };
        v.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    /// A one- or two-cell integer property.
    fn int(&self, name: &str) -> Option<u64> {
        let v = self.prop(name)?.value.as_deref()?;
        match v.len() {
            4 => be32(v, 0).map(u64::from),
            8 => v.try_into().ok().map(u64::from_be_bytes),
            _ => None,
        }
    }

    fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Reads big-endian words from the structure block, tracking the position.
struct Tokens {
    rd: BlobReader,
    base: u64,
    len: u64,
}

impl Tokens {
    fn pos(&self) -> u64 {
        self.rd.position()
    }

    fn eof(&self, needed: u64) -> FormatError {
        FormatError::Truncated {
            offset: self.base + self.pos(),
            needed,
        }
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        if self.pos() + 4 > self.len {
            return Err(self.eof(4));
        }
        let mut b = [0u8; 4];
        self.rd.read_exact(&mut b).map_err(|_| self.eof(4))?;
        Ok(u32::from_be_bytes(b))
    }

    fn align(&mut self) -> Result<(), FormatError> {
        let to = self.pos().next_multiple_of(4);
        self.skip_to(to)
    }

    fn skip_to(&mut self, to: u64) -> Result<(), FormatError> {
        if to > self.len {
            return Err(self.eof(to - self.len));
        }
        let gap = to.saturating_sub(self.pos());
        if gap <= MAX_INLINE_PROP {
            // Short skips read through the buffer: a seek would drop and refill it.
            let mut scratch = [0u8; MAX_INLINE_PROP as usize];
            let n = gap as usize;
            self.rd
                .read_exact(scratch.get_mut(..n).unwrap_or_default())
                .map_err(|_| self.eof(gap))?;
        } else {
            self.rd.seek(SeekFrom::Start(to)).map_err(FormatError::Io)?;
        }
        Ok(())
    }

    fn name(&mut self) -> Result<Vec<u8>, FormatError> {
        let start = self.base + self.pos();
        let mut name = Vec::new();
        loop {
            let mut b = [0u8; 1];
            if self.pos() >= self.len {
                return Err(self.eof(1));
            }
            self.rd.read_exact(&mut b).map_err(|_| self.eof(1))?;
            if b[0] == 0 {
                break;
            }
            if name.len() >= MAX_NAME {
                return Err(FormatError::malformed(start, "node name too long"));
            }
            name.push(b[0]);
        }
        self.align()?;
        Ok(name)
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, FormatError> {
        let mut v = vec![0u8; usize::try_from(n).map_err(|_| self.eof(n))?];
        self.rd.read_exact(&mut v).map_err(|_| self.eof(n))?;
        Ok(v)
    }
}

/// The parsed tree (node 0 is the root) and the error that stopped parsing early, if any.
fn parse_tree(blob: &Blob, h: &Header) -> Result<(Vec<Node>, Option<FormatError>), FormatError> {
    let strings = if h.size_strings > MAX_STRINGS {
        return Err(FormatError::structure(format!(
            "strings block of {} bytes",
            h.size_strings
        )));
    } else {
        blob.read_vec(h.off_strings, h.size_strings)?
    };
    let mut t = Tokens {
        rd: blob.slice(h.off_struct, h.size_struct)?.reader(),
        base: h.off_struct,
        len: h.size_struct,
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut tokens = 0u64;
    let mut inline_total = 0u64;
    let err = loop {
        tokens += 1;
        if tokens > MAX_TOKENS {
            break Some(FormatError::structure(format!(
                "more than {MAX_TOKENS} device-tree tokens"
            )));
        }
        let at = h.off_struct + t.pos();
        let tok = match t.u32() {
            Ok(v) => v,
            Err(e) => break Some(e),
        };
        match tok {
            BEGIN_NODE => {
                if stack.is_empty() && !nodes.is_empty() {
                    break Some(FormatError::malformed(at, "second root node"));
                }
                if stack.len() >= MAX_DEPTH {
                    break Some(FormatError::structure(format!(
                        "nodes nested deeper than {MAX_DEPTH}"
                    )));
                }
                let name = match t.name() {
                    Ok(n) => n,
                    Err(e) => break Some(e),
                };
                let id = nodes.len();
                if let Some(&parent) = stack.last()
                    && let Some(p) = nodes.get_mut(parent)
                {
                    p.children.push(id);
                }
                nodes.push(Node {
                    name,
                    ..Node::default()
                });
                stack.push(id);
            }
            END_NODE => {
                if stack.pop().is_none() {
                    break Some(FormatError::malformed(at, "END_NODE outside any node"));
                }
            }
            PROP => {
                let (len, nameoff) = match (t.u32(), t.u32()) {
                    (Ok(l), Ok(n)) => (u64::from(l), n as usize),
                    (Err(e), _) | (_, Err(e)) => break Some(e),
                };
                let Some(&cur) = stack.last() else {
                    break Some(FormatError::malformed(at, "property outside any node"));
                };
                let name = strings
                    .get(nameoff..)
                    .and_then(|s| s.split(|&b| b == 0).next().filter(|_| s.contains(&0)))
                    .map(|s| String::from_utf8_lossy(s).into_owned());
                let Some(name) = name else {
                    break Some(FormatError::malformed(
                        at,
                        format!("property name offset {nameoff} outside strings"),
                    ));
                };
                let offset = t.pos();
                if offset + len > h.size_struct {
                    break Some(t.eof(offset + len - h.size_struct));
                }
                let value = if len <= MAX_INLINE_PROP && inline_total + len <= MAX_INLINE_TOTAL {
                    inline_total += len;
                    match t.bytes(len) {
                        Ok(v) => Some(v),
                        Err(e) => break Some(e),
                    }
                } else {
                    None
                };
                if let Err(e) = t.skip_to((offset + len).next_multiple_of(4)) {
                    break Some(e);
                }
                if let Some(n) = nodes.get_mut(cur) {
                    n.props.push(Prop {
                        name,
                        offset: h.off_struct + offset,
                        len,
                        value,
                    });
                }
            }
            NOP => {}
            END => {
                break (!stack.is_empty()).then(|| FormatError::malformed(at, "END with nodes still open"));
            }
            other => {
                break Some(FormatError::malformed(
                    at,
                    format!("unknown structure token {other:#x}"),
                ));
            }
        }
    };
    if nodes.is_empty() {
        return Err(err.unwrap_or_else(|| FormatError::malformed(h.off_struct, "empty structure block")));
    }
    Ok((nodes, err))
}

/// `compression` property → file suffix the engine's codecs recognise.
fn comp_suffix(c: &str) -> &'static str {
    match c {
        "gzip" => ".gz",
        "bzip2" => ".bz2",
        "lzma" => ".lzma",
        "lzo" => ".lzo",
        "lz4" => ".lz4",
        "zstd" => ".zst",
        "xz" => ".xz",
        _ => "",
    }
}

/// Digests computed while an image's data streams to the sink.
#[derive(Default)]
struct Digests {
    sha256: Option<Sha256>,
    sha384: Option<Sha384>,
    sha512: Option<Sha512>,
    crc32: Option<crc32fast::Hasher>,
}

impl Digests {
    fn want(algos: &[String]) -> Digests {
        let has = |a: &str| algos.iter().any(|x| x == a);
        Digests {
            sha256: has("sha256").then(Sha256::new),
            sha384: has("sha384").then(Sha384::new),
            sha512: has("sha512").then(Sha512::new),
            crc32: has("crc32").then(crc32fast::Hasher::new),
        }
    }

    fn update(&mut self, b: &[u8]) {
        if let Some(h) = self.sha256.as_mut() {
            h.update(b);
        }
        if let Some(h) = self.sha384.as_mut() {
            h.update(b);
        }
        if let Some(h) = self.sha512.as_mut() {
            h.update(b);
        }
        if let Some(h) = self.crc32.as_mut() {
            h.update(b);
        }
    }

    fn finish(self) -> Vec<(&'static str, Vec<u8>)> {
        let mut out = Vec::new();
        if let Some(h) = self.sha256 {
            out.push(("sha256", h.finalize().to_vec()));
        }
        if let Some(h) = self.sha384 {
            out.push(("sha384", h.finalize().to_vec()));
        }
        if let Some(h) = self.sha512 {
            out.push(("sha512", h.finalize().to_vec()));
        }
        if let Some(h) = self.crc32 {
            out.push(("crc32", h.finalize().to_be_bytes().to_vec()));
        }
        out
    }
}

/// Hashes what the sink reads; drained afterwards so the digests cover all the data.
struct HashingReader {
    inner: BlobReader,
    digests: Digests,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digests.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Where an image's data lies: `(offset, len)` in the input, and whether it is external.
fn data_range(node: &Node, h: &Header) -> Result<(u64, u64, bool), String> {
    if let Some(p) = node.prop("data") {
        return Ok((p.offset, p.len, false));
    }
    let size = node.int("data-size").ok_or("no data, data-size missing")?;
    let start = if let Some(pos) = node.int("data-position") {
        pos
    } else if let Some(off) = node.int("data-offset") {
        // mkimage -E places external data after the FDT rounded up to 4 bytes.
        h.totalsize
            .next_multiple_of(4)
            .checked_add(off)
            .ok_or("data-offset overflows")?
    } else {
        return Err("no data, data-offset or data-position".into());
    };
    Ok((start, size, true))
}

fn hex(v: &[u8]) -> String {
    hex::encode(v)
}

impl Format for Fit {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        parse_header(head, len).is_ok()
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let Input::Blob(blob) = input else {
            return Err(FormatError::Unsupported("fit needs random access".into()));
        };
        let head = blob.head(40)?;
        let h = parse_header(&head, Some(blob.len())).map_err(|why| {
            if head.len() < 40 || blob.len() < be32(&head, 4).map_or(0, u64::from) {
                FormatError::Truncated {
                    offset: blob.len(),
                    needed: be32(&head, 4)
                        .map_or(40, u64::from)
                        .saturating_sub(blob.len())
                        .max(1),
                }
            } else {
                FormatError::malformed(0, why)
            }
        })?;
        let (nodes, parse_err) = parse_tree(blob, &h)?;
        if let Some(e) = &parse_err {
            sink.problem(None, format!("device tree parsed only in part: {e}"));
        }
        let root = &nodes[0];
        let child = |n: &Node, name: &str| {
            n.children
                .iter()
                .filter_map(|&i| nodes.get(i))
                .find(|c| c.name == name.as_bytes())
        };
        let mut details = json!({
            "version": h.version,
            "totalsize": h.totalsize,
            "nodes": nodes.len(),
            "model": root.string("model"),
            "compatible": root.strings("compatible"),
            "description": root.string("description"),
        });
        let mut consumed = h.totalsize;
        let Some(images) = child(root, "images") else {
            details["kind"] = "devicetree".into();
            return match parse_err {
                Some(e) => Err(e),
                None => Ok(Unpacked {
                    consumed: Some(consumed),
                    details,
                }),
            };
        };
        details["kind"] = "fit".into();
        details["timestamp"] = root
            .int("timestamp")
            .map(|t| super::uimage::iso8601(t as u32))
            .into();
        let mut out = Vec::new();
        for img in images.children.iter().filter_map(|&i| nodes.get(i)) {
            let info = image(blob, &h, img, &nodes, sink, &mut consumed)?;
            out.push(info);
        }
        details["images"] = Value::Array(out);
        if let Some(confs) = child(root, "configurations") {
            let list: Vec<Value> = confs
                .children
                .iter()
                .filter_map(|&i| nodes.get(i))
                .map(|c| {
                    let mut v = json!({"name": c.name_str()});
                    for key in ["description", "kernel", "fdt", "ramdisk", "firmware", "loadables"] {
                        if let Some(s) = c.string(key) {
                            v[key] = s.into();
                        }
                    }
                    v["signatures"] = signatures(c, &nodes);
                    v
                })
                .collect();
            details["configurations"] = json!({"default": confs.string("default"), "list": list});
        }
        match parse_err {
            Some(e) => Err(e),
            None => Ok(Unpacked {
                consumed: Some(consumed),
                details,
            }),
        }
    }
}

/// The `signature-*` subnodes of `n`, described (FIT signatures are verified by U-Boot with
/// keys from its own control DTB, which an update image does not carry).
fn signatures(n: &Node, nodes: &[Node]) -> Value {
    let v: Vec<Value> = n
        .children
        .iter()
        .filter_map(|&i| nodes.get(i))
        .filter(|c| c.name.starts_with(b"signature"))
        .map(|s| {
            json!({
                "node": s.name_str(),
                "algo": s.string("algo"),
                "key_name_hint": s.string("key-name-hint"),
                "signed_images": s.strings("sign-images"),
                "value_len": s.prop("value").map(|p| p.len),
                "status": "not_checked",
            })
        })
        .collect();
    Value::Array(v)
}

/// Emit one `/images` subnode and describe it.
fn image(
    blob: &Blob,
    h: &Header,
    img: &Node,
    nodes: &[Node],
    sink: &mut dyn Sink,
    consumed: &mut u64,
) -> Result<Value, FormatError> {
    let name = img.name_str();
    let compression = img.string("compression").unwrap_or_else(|| "none".into());
    let hash_nodes: Vec<&Node> = img
        .children
        .iter()
        .filter_map(|&i| nodes.get(i))
        .filter(|c| c.name.starts_with(b"hash"))
        .collect();
    let algos: Vec<String> = hash_nodes.iter().filter_map(|n| n.string("algo")).collect();
    let mut v = json!({
        "name": name,
        "description": img.string("description"),
        "type": img.string("type"),
        "arch": img.string("arch"),
        "os": img.string("os"),
        "compression": compression,
        "load": img.int("load").map(|x| format!("{x:#x}")),
        "entry": img.int("entry").map(|x| format!("{x:#x}")),
        "signatures": signatures(img, nodes),
    });
    let (start, len, external) = match data_range(img, h) {
        Ok(r) => r,
        Err(why) => {
            sink.problem(None, format!("image {name}: {why}"));
            v["error"] = why.into();
            return Ok(v);
        }
    };
    let avail = blob.len().saturating_sub(start).min(len);
    if avail < len {
        sink.problem(
            Some(start),
            format!("image {name}: data of {len} bytes at {start:#x} runs past the input"),
        );
    }
    if external {
        *consumed = (*consumed).max(start.saturating_add(avail));
    }
    v["offset"] = start.into();
    v["size"] = len.into();
    v["external"] = external.into();
    let mut computed = Vec::new();
    if start <= blob.len() && (avail > 0 || len == 0) {
        let data = blob.slice(start, avail)?;
        let mut file_name = img.name.clone();
        file_name.extend_from_slice(comp_suffix(&compression).as_bytes());
        let mut r = HashingReader {
            inner: data.reader(),
            digests: Digests::want(&algos),
        };
        sink.entry(file(&file_name, &mut r, Some(start)))?;
        io::copy(&mut r, &mut io::sink())?;
        computed = r.digests.finish();
    }
    let hashes: Vec<Value> = hash_nodes
        .iter()
        .map(|hn| {
            let algo = hn.string("algo").unwrap_or_default();
            let value = hn.prop("value").and_then(|p| p.value.clone()).unwrap_or_default();
            let status = match computed.iter().find(|(a, _)| *a == algo) {
                _ if avail < len => "not_verified".to_owned(),
                Some((_, got)) if *got == value => "valid".to_owned(),
                Some(_) => "invalid".to_owned(),
                None => "not_verified".to_owned(),
            };
            if status == "invalid" {
                sink.problem(
                    Some(start),
                    format!("image {name}: {algo} hash does not match its data"),
                );
            }
            json!({"node": hn.name_str(), "algo": algo, "value": hex(&value), "status": status})
        })
        .collect();
    v["hashes"] = Value::Array(hashes);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::run_in_memory;
    use hashward_fixtures::fit::{FdtWriter, make_dtb, make_fit, make_fit_external};

    fn filler(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn embedded_fit_round_trip_with_verified_hashes() {
        let kernel = filler(10_000, 1);
        let fdt = make_dtb("hashward board", &["xlnx,zynq-7000"]);
        let ramdisk = filler(70_000, 3);
        let img = make_fit(&[
            ("kernel-1", "kernel", "gzip", &kernel),
            ("fdt-1", "flat_dt", "none", &fdt),
            ("ramdisk-1", "ramdisk", "lzma", &ramdisk),
            ("empty-1", "firmware", "none", b""),
        ]);
        assert!(Fit.probe(&img, Some(img.len() as u64)));
        let (r, sink) = run_in_memory("fit", &img, 1 << 20);
        let u = r.unwrap();
        assert_eq!(
            sink.names(),
            ["kernel-1.gz", "fdt-1", "ramdisk-1.lzma", "empty-1"]
        );
        assert_eq!(sink.file("kernel-1.gz").unwrap(), kernel.as_slice());
        assert_eq!(sink.file("fdt-1").unwrap(), fdt.as_slice());
        assert_eq!(sink.file("ramdisk-1.lzma").unwrap(), ramdisk.as_slice());
        assert_eq!(sink.file("empty-1").unwrap(), b"");
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(u.consumed, Some(img.len() as u64));
        let d = &u.details;
        assert_eq!(d["kind"], "fit");
        for i in 0..4 {
            for hsh in d["images"][i]["hashes"].as_array().unwrap() {
                assert_eq!(hsh["status"], "valid", "{hsh}");
            }
        }
        assert_eq!(d["images"][0]["load"], "0x8000");
        assert_eq!(d["configurations"]["default"], "conf-1");
        let conf = &d["configurations"]["list"][0];
        assert_eq!(conf["kernel"], "kernel-1");
        assert_eq!(conf["signatures"][0]["algo"], "sha256,rsa2048");
        assert_eq!(conf["signatures"][0]["key_name_hint"], "dev");
        assert_eq!(conf["signatures"][0]["status"], "not_checked");
    }

    #[test]
    fn external_data_and_consumed_covers_it() {
        let kernel = filler(5_001, 9);
        let mut img = make_fit_external(&[
            ("kernel-1", "kernel", "none", &kernel),
            ("fdt-1", "flat_dt", "none", b"dt"),
        ]);
        let len = img.len() as u64;
        img.extend_from_slice(b"TRAILING");
        let (r, sink) = run_in_memory("fit", &img, 1 << 20);
        let u = r.unwrap();
        assert_eq!(sink.file("kernel-1").unwrap(), kernel.as_slice());
        assert_eq!(sink.file("fdt-1").unwrap(), b"dt");
        // The last image is padded to 4 bytes; consumed ends at its data.
        assert_eq!(u.consumed, Some(len - 2));
        assert_eq!(u.details["images"][0]["external"], true);
        assert_eq!(u.details["images"][0]["hashes"][0]["status"], "valid");
    }

    #[test]
    fn plain_device_tree_is_described_not_extracted() {
        let dtb = make_dtb("Xilinx Zynq hashward", &["xlnx,zynq-7000", "xlnx,zynq"]);
        let (r, sink) = run_in_memory("fit", &dtb, 1 << 20);
        let u = r.unwrap();
        assert!(sink.entries.is_empty());
        assert_eq!(u.details["kind"], "devicetree");
        assert_eq!(u.details["model"], "Xilinx Zynq hashward");
        assert_eq!(u.details["compatible"], json!(["xlnx,zynq-7000", "xlnx,zynq"]));
        assert_eq!(u.consumed, Some(dtb.len() as u64));
    }

    #[test]
    fn corrupted_data_flips_the_hash_to_invalid() {
        let kernel = filler(3000, 5);
        let mut img = make_fit(&[("kernel-1", "kernel", "none", &kernel)]);
        let at = img.windows(16).position(|w| w == &kernel[100..116]).unwrap();
        img[at] ^= 0xff;
        let (r, sink) = run_in_memory("fit", &img, 1 << 20);
        let u = r.unwrap();
        let hashes = u.details["images"][0]["hashes"].as_array().unwrap().clone();
        assert!(hashes.iter().all(|h| h["status"] == "invalid"), "{hashes:?}");
        assert_eq!(sink.problems.len(), 2);
    }

    #[test]
    fn probe_is_strict() {
        let dtb = make_dtb("m", &["c"]);
        assert!(Fit.probe(&dtb, None));
        assert!(!Fit.probe(&dtb, Some(dtb.len() as u64 - 1)));
        let mut bad = dtb.clone();
        bad[23] = 15; // version 15
        assert!(!Fit.probe(&bad, None));
        let mut bad = dtb.clone();
        bad[11] |= 2; // misaligned structure offset
        assert!(!Fit.probe(&bad, None));
        assert!(!Fit.probe(&dtb[..20], None));
    }

    #[test]
    fn deep_nesting_and_token_floods_are_bounded() {
        let mut w = FdtWriter::new();
        for _ in 0..200 {
            w.begin_node("n");
        }
        for _ in 0..200 {
            w.end_node();
        }
        let (r, _) = run_in_memory("fit", &w.finish(), 1 << 20);
        assert!(matches!(r, Err(FormatError::Limit(_))), "{r:?}");

        let mut w = FdtWriter::new();
        w.begin_node("");
        for i in 0..(MAX_TOKENS + 10) {
            w.prop("p", &[i as u8]);
        }
        w.end_node();
        let (r, _) = run_in_memory("fit", &w.finish(), 1 << 20);
        assert!(matches!(r, Err(FormatError::Limit(_))), "{r:?}");
    }

    #[test]
    fn hostile_external_ranges_and_truncation() {
        let kernel = filler(2000, 7);
        let img = make_fit_external(&[("kernel-1", "kernel", "none", &kernel)]);
        // Cut into the external data: the part that exists comes out, with a problem.
        let cut = &img[..img.len() - 500];
        let (r, sink) = run_in_memory("fit", cut, 1 << 20);
        let u = r.unwrap();
        assert_eq!(sink.file("kernel-1").unwrap(), &kernel[..1500]);
        assert_eq!(u.details["images"][0]["hashes"][0]["status"], "not_verified");
        assert!(!sink.problems.is_empty());
        for cut in (0..img.len()).step_by(7) {
            let _ = run_in_memory("fit", &img[..cut], 1 << 20);
        }
        let emb = make_fit(&[
            ("kernel-1", "kernel", "gzip", &kernel),
            ("fdt-1", "flat_dt", "none", b"x"),
        ]);
        for i in 0..emb.len().min(1200) {
            let mut bad = emb.clone();
            bad[i] ^= 0x81;
            let _ = run_in_memory("fit", &bad, 1 << 20);
        }
        for cut in 0..emb.len() {
            let (r, _) = run_in_memory("fit", &emb[..cut], 1 << 20);
            assert!(r.is_err());
        }
    }

    #[test]
    fn data_offset_past_the_end_is_a_problem() {
        let mut w = FdtWriter::new();
        w.begin_node("").begin_node("images").begin_node("kernel-1");
        w.prop_u32("data-size", 0xffff_fff0)
            .prop_u32("data-position", 0xffff_ff00);
        w.end_node().begin_node("nodata").end_node().end_node().end_node();
        let (r, sink) = run_in_memory("fit", &w.finish(), 1 << 20);
        r.unwrap();
        assert!(sink.entries.is_empty());
        assert_eq!(sink.problems.len(), 2, "{:?}", sink.problems);
    }
}
