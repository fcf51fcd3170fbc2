//! U-Boot legacy images (`uImage`): the 64-byte big-endian header of U-Boot's `include/image.h`
//! (`struct legacy_img_hdr`) and its payload, single- or multi-file.
//!
//! Header (all big-endian): `ih_magic` 0x27051956, `ih_hcrc` (CRC-32 of the 64 header bytes
//! with this field zeroed), `ih_time`, `ih_size`, `ih_load`, `ih_ep`, `ih_dcrc` (CRC-32 of the
//! `ih_size` payload bytes), then one byte each of `ih_os`, `ih_arch`, `ih_type`, `ih_comp`, and
//! `ih_name[32]`. Bad CRCs are reported and the payload is still extracted: a security tool
//! wants to see what a tampered image carries.
//!
//! Naming: the payload is named after `ih_type` (`kernel`, `ramdisk`, `firmware`, …) plus the
//! suffix of `ih_comp` (`.gz`, `.bz2`, `.lzma`, `.lzo`, `.lz4`, `.zst`). When `ih_comp` says
//! "none" but the payload starts with a gzip/xz/bzip2/zstd magic, that suffix is added anyway:
//! Bitmain's `minerfs.image.gz` is a ramdisk header marked uncompressed around a gzip of an
//! ext2 image, and the suffix lets the engine name the gunzipped output `ramdisk`. Names never
//! collide with the input's, because a container's children land in `<input>.extracted/`.
//! Multi-file images (`ih_type` 4) give `part0`, `part1`, … (with a sniffed suffix).

use std::io::{self, Read};

use serde_json::json;

use super::{Access, Blob, Ctx, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked, file};

/// The uImage format.
pub struct UImage;

static INFO: FormatInfo = FormatInfo {
    id: "uimage",
    description: "U-Boot legacy image (uImage), single- and multi-file",
    access: Access::Random,
    magics: &[Magic {
        offset: 0,
        bytes: &[0x27, 0x05, 0x19, 0x56],
    }],
    codec: false,
};

/// Header length.
pub const HEADER_LEN: u64 = 64;
const MAGIC: [u8; 4] = [0x27, 0x05, 0x19, 0x56];
/// Most parts read from a multi-file table (U-Boot itself has no limit; real ones hold 2–3).
const MAX_PARTS: usize = 256;
/// `ih_type` of a multi-file image.
const TYPE_MULTI: u8 = 4;

/// `ih_os` names (U-Boot `image.h`, `IH_OS_*`).
const OS_NAMES: &[&str] = &[
    "invalid",
    "openbsd",
    "netbsd",
    "freebsd",
    "4_4bsd",
    "linux",
    "svr4",
    "esix",
    "solaris",
    "irix",
    "sco",
    "dell",
    "ncr",
    "lynxos",
    "vxworks",
    "psos",
    "qnx",
    "u-boot",
    "rtems",
    "artos",
    "unity",
    "integrity",
    "ose",
    "plan9",
    "openrtos",
    "arm-trusted-firmware",
    "tee",
    "opensbi",
    "efi",
];

/// `ih_arch` names (`IH_ARCH_*`).
const ARCH_NAMES: &[&str] = &[
    "invalid",
    "alpha",
    "arm",
    "x86",
    "ia64",
    "mips",
    "mips64",
    "powerpc",
    "s390",
    "sh",
    "sparc",
    "sparc64",
    "m68k",
    "nios",
    "microblaze",
    "nios2",
    "blackfin",
    "avr32",
    "st200",
    "sandbox",
    "nds32",
    "openrisc",
    "arm64",
    "arc",
    "x86_64",
    "xtensa",
    "riscv",
];

/// `ih_type` names (`IH_TYPE_*`, the first ones; the rest are SoC boot formats).
const TYPE_NAMES: &[&str] = &[
    "invalid",
    "standalone",
    "kernel",
    "ramdisk",
    "multi",
    "firmware",
    "script",
    "filesystem",
    "flat_dt",
    "kwbimage",
    "imximage",
    "ublimage",
    "omapimage",
    "aisimage",
    "kernel_noload",
    "pblimage",
    "mxsimage",
    "gpimage",
    "atmelimage",
    "socfpgaimage",
    "x86_setup",
    "lpc32xximage",
    "loadables",
    "rkimage",
    "rksd",
    "rkspi",
    "zynqimage",
    "zynqmpimage",
    "fpga",
];

/// `ih_comp` names and the file suffix each gives the payload (`IH_COMP_*`).
const COMP: &[(&str, &str)] = &[
    ("none", ""),
    ("gzip", ".gz"),
    ("bzip2", ".bz2"),
    ("lzma", ".lzma"),
    ("lzo", ".lzo"),
    ("lz4", ".lz4"),
    ("zstd", ".zst"),
];

fn name_of(table: &[&str], v: u8) -> String {
    table
        .get(usize::from(v))
        .map_or_else(|| format!("unknown-{v}"), |s| (*s).to_owned())
}

/// The parsed header.
#[derive(Debug, Clone)]
struct Header {
    hcrc: u32,
    hcrc_ok: bool,
    time: u32,
    size: u32,
    load: u32,
    ep: u32,
    dcrc: u32,
    os: u8,
    arch: u8,
    kind: u8,
    comp: u8,
    name: String,
}

fn be32(h: &[u8], at: usize) -> u32 {
    h.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

fn header_crc(h: &[u8; 64]) -> u32 {
    let mut z = *h;
    z[4..8].fill(0);
    crc32fast::hash(&z)
}

fn parse_header(h: &[u8; 64]) -> Header {
    let hcrc = be32(h, 4);
    let raw_name = &h[32..64];
    let end = raw_name.iter().position(|&b| b == 0).unwrap_or(raw_name.len());
    Header {
        hcrc,
        hcrc_ok: header_crc(h) == hcrc,
        time: be32(h, 8),
        size: be32(h, 12),
        load: be32(h, 16),
        ep: be32(h, 20),
        dcrc: be32(h, 24),
        os: h[28],
        arch: h[29],
        kind: h[30],
        comp: h[31],
        name: String::from_utf8_lossy(&raw_name[..end]).into_owned(),
    }
}

/// ISO 8601 (UTC) for a Unix time, without a date library (civil-from-days, H. Hinnant).
pub(crate) fn iso8601(t: u32) -> String {
    let secs = i64::from(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A suffix for a payload whose header does not name its compression, from its first bytes.
fn sniff_suffix(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        ".gz"
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        ".xz"
    } else if head.starts_with(b"BZh") && head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        ".bz2"
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ".zst"
    } else {
        ""
    }
}

/// Reads a blob window while computing its CRC-32; can be drained after a sink stops early.
struct CrcReader {
    inner: super::BlobReader,
    crc: crc32fast::Hasher,
}

impl Read for CrcReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl CrcReader {
    fn new(blob: &Blob) -> CrcReader {
        CrcReader {
            inner: blob.reader(),
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Read whatever the sink left, so the CRC covers the whole window.
    fn finish(mut self) -> Result<u32, FormatError> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.crc.finalize())
    }
}

impl Format for UImage {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        let Some(h) = head.get(..64).and_then(|h| <&[u8; 64]>::try_from(h).ok()) else {
            return false;
        };
        if h[..4] != MAGIC || len.is_some_and(|l| l < HEADER_LEN) {
            return false;
        }
        // A valid header CRC is conclusive; without it, accept only plausible field values so
        // that a damaged header is still examined (and its CRC reported).
        let hdr = parse_header(h);
        hdr.hcrc_ok
            || (usize::from(hdr.kind) < TYPE_NAMES.len()
                && hdr.kind != 0
                && usize::from(hdr.comp) < COMP.len()
                && usize::from(hdr.arch) < ARCH_NAMES.len()
                && usize::from(hdr.os) < OS_NAMES.len())
    }

    fn unpack(&self, input: Input<'_>, _ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        let Input::Blob(blob) = input else {
            return Err(FormatError::Unsupported("uimage needs random access".into()));
        };
        let mut raw = [0u8; 64];
        blob.read_exact_at(0, &mut raw)?;
        if raw[..4] != MAGIC {
            return Err(FormatError::malformed(0, "no uImage magic"));
        }
        let h = parse_header(&raw);
        if !h.hcrc_ok {
            sink.problem(
                Some(4),
                format!(
                    "header CRC {:#010x} does not match (computed {:#010x})",
                    h.hcrc,
                    header_crc(&raw)
                ),
            );
        }
        let size = u64::from(h.size);
        let avail = blob.len().saturating_sub(HEADER_LEN);
        let have = size.min(avail);
        let payload = blob.slice(HEADER_LEN, have)?;
        let comp = COMP.get(usize::from(h.comp));
        if comp.is_none() {
            sink.problem(Some(31), format!("unknown compression {}", h.comp));
        }
        let mut suffix = comp.map_or("", |c| c.1);
        let mut parts_detail = Vec::new();

        // The data CRC covers the whole payload, multi-file table included.
        let data_crc = if h.kind == TYPE_MULTI {
            let parts = multi_parts(&payload, sink)?;
            for (i, (off, len)) in parts.iter().enumerate() {
                let part = payload.slice(*off, *len)?;
                let sfx = if suffix.is_empty() {
                    sniff_suffix(&part.head(8)?)
                } else {
                    suffix
                };
                let name = format!("part{i}{sfx}");
                let mut r = part.reader();
                sink.entry(file(name.as_bytes(), &mut r, Some(HEADER_LEN + off)))?;
                parts_detail.push(json!({"name": name, "offset": HEADER_LEN + off, "size": len}));
            }
            CrcReader::new(&payload).finish()?
        } else {
            if suffix.is_empty() {
                suffix = sniff_suffix(&payload.head(8)?);
            }
            let base = match h.kind {
                0 => "payload".to_owned(),
                k => name_of(TYPE_NAMES, k),
            };
            let name = format!("{base}{suffix}");
            let mut r = CrcReader::new(&payload);
            sink.entry(file(name.as_bytes(), &mut r, Some(HEADER_LEN)))?;
            parts_detail.push(json!({"name": name, "offset": HEADER_LEN, "size": have}));
            r.finish()?
        };
        let dcrc_ok = have == size && data_crc == h.dcrc;
        if have == size && !dcrc_ok {
            sink.problem(
                Some(24),
                format!(
                    "data CRC {:#010x} does not match (computed {data_crc:#010x})",
                    h.dcrc
                ),
            );
        }
        let details = json!({
            "name": h.name,
            "os": name_of(OS_NAMES, h.os),
            "arch": name_of(ARCH_NAMES, h.arch),
            "type": name_of(TYPE_NAMES, h.kind),
            "comp": comp.map_or_else(|| format!("unknown-{}", h.comp), |c| c.0.to_owned()),
            "load": format!("{:#010x}", h.load),
            "entry": format!("{:#010x}", h.ep),
            "time": iso8601(h.time),
            "size": size,
            "header_crc_ok": h.hcrc_ok,
            "data_crc_ok": dcrc_ok,
            "parts": parts_detail,
        });
        if have < size {
            // What exists was extracted; the image itself is cut short.
            return Err(FormatError::Truncated {
                offset: HEADER_LEN + have,
                needed: size - have,
            });
        }
        Ok(Unpacked {
            consumed: Some(HEADER_LEN + size),
            details,
        })
    }
}

/// The (offset, length) of each part of a multi-file payload, relative to the payload.
fn multi_parts(payload: &Blob, sink: &mut dyn Sink) -> Result<Vec<(u64, u64)>, FormatError> {
    let mut sizes = Vec::new();
    let mut at = 0u64;
    loop {
        let mut b = [0u8; 4];
        payload.read_exact_at(at, &mut b)?;
        at += 4;
        let n = u32::from_be_bytes(b);
        if n == 0 {
            break;
        }
        if sizes.len() >= MAX_PARTS {
            return Err(FormatError::structure(format!(
                "multi-file image lists more than {MAX_PARTS} parts"
            )));
        }
        sizes.push(u64::from(n));
    }
    let mut parts = Vec::with_capacity(sizes.len());
    for (i, len) in sizes.into_iter().enumerate() {
        let end = at.saturating_add(len);
        if end > payload.len() {
            sink.problem(
                Some(HEADER_LEN + at),
                format!("part {i} of {len} bytes runs past the payload"),
            );
            if at < payload.len() {
                parts.push((at, payload.len() - at));
            }
            break;
        }
        parts.push((at, len));
        at = end.next_multiple_of(4);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::run_in_memory;
    use hashward_fixtures::uimage::{
        COMP_GZIP, COMP_LZMA, COMP_NONE, TYPE_FIRMWARE, TYPE_KERNEL, TYPE_RAMDISK, TYPE_SCRIPT, UImageSpec,
        make_uimage, make_uimage_multi, make_uimage_spec,
    };

    fn filler(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn kernel_round_trip_with_details() {
        let payload = filler(5000);
        let img = make_uimage(
            &payload,
            5,
            2,
            TYPE_KERNEL,
            COMP_NONE,
            "Linux-4.6.0-xilinx-fixture",
            0x8000,
            0x8000,
            0,
        );
        assert!(UImage.probe(&img, Some(img.len() as u64)));
        let (r, sink) = run_in_memory("uimage", &img, 1 << 20);
        let u = r.unwrap();
        assert_eq!(sink.names(), ["kernel"]);
        assert_eq!(sink.file("kernel").unwrap(), payload.as_slice());
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(u.consumed, Some(64 + 5000));
        let d = &u.details;
        assert_eq!(d["name"], "Linux-4.6.0-xilinx-fixture");
        assert_eq!(d["os"], "linux");
        assert_eq!(d["arch"], "arm");
        assert_eq!(d["type"], "kernel");
        assert_eq!(d["comp"], "none");
        assert_eq!(d["load"], "0x00008000");
        assert_eq!(d["time"], "1970-01-01T00:00:00Z");
        assert_eq!(d["header_crc_ok"], true);
        assert_eq!(d["data_crc_ok"], true);
    }

    #[test]
    fn names_follow_type_and_compression() {
        let gz = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3];
        let cases: &[(u8, u8, &[u8], &str)] = &[
            (TYPE_KERNEL, COMP_GZIP, b"x", "kernel.gz"),
            (TYPE_KERNEL, COMP_LZMA, b"x", "kernel.lzma"),
            (TYPE_RAMDISK, COMP_GZIP, b"x", "ramdisk.gz"),
            (TYPE_RAMDISK, COMP_NONE, &gz, "ramdisk.gz"),
            (TYPE_RAMDISK, COMP_NONE, b"plain", "ramdisk"),
            (TYPE_FIRMWARE, COMP_NONE, b"fw", "firmware"),
            (TYPE_SCRIPT, COMP_NONE, b"echo", "script"),
            (7, 6, b"fs", "filesystem.zst"),
            (200, 0, b"?", "unknown-200"),
        ];
        for (kind, comp, data, want) in cases {
            let img = make_uimage_spec(
                data,
                &UImageSpec {
                    kind: *kind,
                    comp: *comp,
                    ..UImageSpec::kernel()
                },
            );
            let (r, sink) = run_in_memory("uimage", &img, 1 << 20);
            r.unwrap();
            assert_eq!(sink.names(), [*want]);
        }
    }

    #[test]
    fn multi_file_parts_are_split_at_padded_offsets() {
        let parts: [&[u8]; 3] = [b"kernel!", b"", b"ramdisk-data-1234"];
        let img = make_uimage_multi(&parts, &UImageSpec::kernel());
        let (r, sink) = run_in_memory("uimage", &img, 1 << 20);
        let u = r.unwrap();
        assert_eq!(u.details["type"], "multi");
        // The empty part ends the table early: U-Boot's table is terminated by a zero size.
        assert_eq!(sink.names(), ["part0"]);
        let parts: [&[u8]; 3] = [b"kernel!", b"x", b"ramdisk-data-1234"];
        let img = make_uimage_multi(&parts, &UImageSpec::kernel());
        let (r, sink) = run_in_memory("uimage", &img, 1 << 20);
        assert_eq!(r.unwrap().details["data_crc_ok"], true);
        assert_eq!(sink.names(), ["part0", "part1", "part2"]);
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(sink.file(&format!("part{i}")).unwrap(), *p);
        }
    }

    #[test]
    fn bad_crcs_are_problems_and_data_still_comes_out() {
        let payload = filler(300);
        let mut img = make_uimage_spec(&payload, &UImageSpec::kernel());
        img[64 + 10] ^= 0xff; // payload byte: data CRC breaks
        let (r, sink) = run_in_memory("uimage", &img, 1 << 20);
        let u = r.unwrap();
        assert_eq!(u.details["data_crc_ok"], false);
        assert_eq!(u.details["header_crc_ok"], true);
        assert_eq!(sink.problems.len(), 1);
        assert_eq!(sink.file("kernel").unwrap().len(), 300);

        let mut img = make_uimage_spec(&payload, &UImageSpec::kernel());
        img[40] ^= 1; // name byte: header CRC breaks, probe still accepts plausible fields
        assert!(UImage.probe(&img, None));
        let (r, sink) = run_in_memory("uimage", &img, 1 << 20);
        assert_eq!(r.unwrap().details["header_crc_ok"], false);
        assert!(sink.problems[0].contains("header CRC"));
    }

    #[test]
    fn oversized_ih_size_extracts_what_exists_then_reports_truncation() {
        let img = make_uimage_spec(&filler(1000), &UImageSpec::kernel());
        let cut = &img[..700];
        let (r, sink) = run_in_memory("uimage", cut, 1 << 20);
        match r {
            Err(FormatError::Truncated { offset, needed }) => {
                assert_eq!(offset, 700);
                assert_eq!(needed, 364);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sink.file("kernel").unwrap(), &img[64..700]);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let good = make_uimage_multi(&[b"abc", b"defgh"], &UImageSpec::kernel());
        for cut in 0..good.len() {
            let _ = run_in_memory("uimage", &good[..cut], 1 << 20);
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xa5;
            let _ = run_in_memory("uimage", &bad, 1 << 20);
        }
        // A table of non-zero sizes that never ends, and absurd sizes.
        let mut body = vec![0xffu8; 4096];
        body.extend_from_slice(&[0; 4]);
        let img = make_uimage_spec(
            &body,
            &UImageSpec {
                kind: 4,
                ..UImageSpec::kernel()
            },
        );
        let (r, _) = run_in_memory("uimage", &img, 1 << 20);
        assert!(r.is_err());
        let mut img = make_uimage_spec(b"tiny", &UImageSpec::kernel());
        img[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        let (r, _) = run_in_memory("uimage", &img, 1 << 20);
        assert!(matches!(r, Err(FormatError::Truncated { .. })));
        assert!(!UImage.probe(&[0x27, 0x05, 0x19, 0x56], None));
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(u32::MAX), "2106-02-07T06:28:15Z");
    }
}
