//! The recursive unpacker: one [`Format`] trait, one registry, one engine that owns every write.
//!
//! A format recognises its bytes ([`Format::probe`]) and hands its entries to a [`Sink`]
//! ([`Format::unpack`]); it never touches the file system. The engine (`engine.rs`) decides
//! where each entry lands, enforces the limits, contains paths and links, recurses into what
//! it extracted, and carves known signatures out of unidentified blobs.

mod ahead;
mod blob;
pub mod codec;
mod engine;
mod error;
mod limits;
mod record;
mod safepath;
mod sink;
mod writer;

pub mod bmu;
pub mod bzip2;
pub mod cpio;
pub mod ext;
pub mod fit;
pub mod gzip;
pub mod jffs2;
pub mod lz4;
pub mod lzma;
pub mod squashfs;
pub mod tar;
pub mod ubi;
pub mod ubifs;
pub mod uimage;
pub mod xz;
pub mod zip;
pub mod zlib;
pub mod zstd;

use std::io::BufRead;
use std::path::PathBuf;

pub use blob::{Blob, BlobReader, MAX_READ_VEC};
pub use engine::{EntryRecord, NodeRecord, Progress, UnpackError, UnpackReport, UnpackStats, unpack_image};
pub use error::{FormatError, LimitHit, LimitKind};
pub use limits::Limits;
pub use record::{EntryType, Sha256Hex};
pub use sink::{Collected, Entry, EntryKind, MemorySink, Sink, file};

/// How many leading bytes [`Format::probe`] sees (fewer if the input is shorter).
pub const HEAD_LEN: usize = 4096;

/// How a format needs its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads front to back: can consume a decompressor's output directly.
    Stream,
    /// Needs random access: its input must be a [`Blob`] (a file on disk).
    Random,
}

/// A byte pattern that marks a format, used to carve it out of unknown blobs.
#[derive(Debug, Clone, Copy)]
pub struct Magic {
    /// Where the pattern sits relative to the start of the format's data.
    pub offset: u64,
    /// The pattern.
    pub bytes: &'static [u8],
}

/// What the registry knows about a format.
#[derive(Debug)]
pub struct FormatInfo {
    /// Short stable id, used in layer chains (`gzip`, `tar`, `ubifs`).
    pub id: &'static str,
    /// One line for people.
    pub description: &'static str,
    /// Stream or random access.
    pub access: Access,
    /// Patterns for carving; empty if the format is only recognised at offset 0.
    pub magics: &'static [Magic],
    /// A codec: one output stream that continues the same layer (gzip, xz), not a directory.
    pub codec: bool,
}

/// A format's input: a stream, or random access to a blob.
pub enum Input<'a> {
    /// Front-to-back bytes (only given to [`Access::Stream`] formats).
    Stream(&'a mut dyn BufRead),
    /// Random access.
    Blob(&'a Blob),
}

/// Context a format may use: its input's name and the user's options.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The file name of the input (last path component), for naming a codec's output.
    pub name: &'a str,
    /// Public keys to verify vendor signatures with, if the user supplied any.
    pub keys: &'a [VerifyKey],
}

/// A public key supplied for signature verification.
#[derive(Debug, Clone)]
pub struct VerifyKey {
    /// Where it came from (file name), for reports.
    pub name: String,
    /// The RSA key.
    pub key: rsa::PublicKey,
}

/// What a format reports after unpacking.
#[derive(Debug, Default)]
pub struct Unpacked {
    /// How many bytes of the input belong to this format, when it knows (for carving).
    pub consumed: Option<u64>,
    /// Format-specific facts (headers, signatures) for the report.
    pub details: serde_json::Value,
}

/// One container format.
pub trait Format: Sync {
    /// Static description.
    fn info(&self) -> &'static FormatInfo;

    /// Whether `head` (the first [`HEAD_LEN`] bytes or fewer) starts this format. `len` is the
    /// total input length when known. Cheap: no allocation, no I/O.
    fn probe(&self, head: &[u8], len: Option<u64>) -> bool;

    /// Hand every entry of `input` to `sink`.
    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError>;
}

/// Every format, sorted by id. Probing order is [`PROBE_ORDER`].
pub static FORMATS: &[&dyn Format] = &[
    &bmu::BmuSingle,
    &bmu::BmuMerge,
    &bzip2::Bzip2,
    &cpio::Cpio,
    &ext::Ext,
    &fit::Fit,
    &gzip::Gzip,
    &jffs2::Jffs2,
    &lz4::Lz4,
    &lzma::Lzma,
    &squashfs::Squashfs,
    &tar::Tar,
    &ubi::Ubi,
    &ubifs::Ubifs,
    &uimage::UImage,
    &xz::Xz,
    &zip::Zip,
    &zlib::Zlib,
    &zstd::Zstd,
];

/// Ids in the order formats are tried at one offset: strict, structured headers first, weak
/// magics (single bytes, zlib's two) last.
pub static PROBE_ORDER: &[&str] = &[
    "bmu-merge",
    "uimage",
    "fit",
    "squashfs",
    "ubi",
    "ubifs",
    "ext",
    "zip",
    "tar",
    "cpio",
    "gzip",
    "xz",
    "bzip2",
    "zstd",
    "lz4",
    "jffs2",
    "bmu",
    "lzma",
    "zlib",
];

/// The format with this id.
pub fn format(id: &str) -> Option<&'static dyn Format> {
    FORMATS
        .binary_search_by(|f| f.info().id.cmp(id))
        .ok()
        .map(|i| FORMATS[i])
}

/// Formats in probing order.
pub fn probe_order() -> impl Iterator<Item = &'static dyn Format> {
    PROBE_ORDER.iter().filter_map(|id| format(id))
}

/// The first format (in probing order) that recognises `head`.
pub fn identify(head: &[u8], len: Option<u64>, stream_only: bool) -> Option<&'static dyn Format> {
    probe_order().find(|f| (!stream_only || f.info().access == Access::Stream) && f.probe(head, len))
}

/// Run one format over bytes in memory with a bounded in-memory sink: what fuzz targets call.
/// Never panics, whatever `data` is; returns the sink for inspection.
pub fn run_in_memory(id: &str, data: &[u8], budget: u64) -> (Result<Unpacked, FormatError>, MemorySink) {
    let mut sink = MemorySink::with_budget(budget);
    let Some(f) = format(id) else {
        return (Err(FormatError::Unsupported(format!("no format {id}"))), sink);
    };
    let blob = Blob::from_vec(data.to_vec());
    let ctx = Ctx {
        name: "fuzz",
        keys: &[],
    };
    let r = match f.info().access {
        Access::Random => f.unpack(Input::Blob(&blob), &ctx, &mut sink),
        Access::Stream => {
            let mut rd = blob.reader();
            f.unpack(Input::Stream(&mut rd), &ctx, &mut sink)
        }
    };
    (r, sink)
}

/// What `unpack_image` needs to know.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Where to write; must not exist or be an empty directory.
    pub out: PathBuf,
    /// The bounds.
    pub limits: Limits,
    /// Search unidentified blobs for embedded formats.
    pub carve: bool,
    /// Keys for signature verification.
    pub keys: Vec<VerifyKey>,
    /// Engines working at once (each with its own writer thread); 0: one per CPU, 2 to 4.
    pub jobs: usize,
}

/// Run the whole engine on `data` as an image, with tight limits, in a scratch directory that
/// is removed afterwards: what the engine fuzz target calls. Never panics.
pub fn fuzz_engine(data: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir().join(format!(
        "hashward-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&base);
    if std::fs::create_dir_all(&base).is_err() {
        return;
    }
    let image = base.join("image");
    if std::fs::write(&image, data).is_ok() {
        let opts = UnpackOptions {
            out: base.join("out"),
            limits: Limits {
                max_total_bytes: 64 << 20,
                max_file_bytes: 16 << 20,
                ratio_floor: 1 << 20,
                max_time: std::time::Duration::from_secs(10),
                ..Limits::default()
            },
            carve: true,
            keys: Vec::new(),
            jobs: 2,
        };
        let _ = unpack_image(&image, &opts, None);
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_sorted_and_unique() {
        for w in FORMATS.windows(2) {
            assert!(
                w[0].info().id < w[1].info().id,
                "{} / {}",
                w[0].info().id,
                w[1].info().id
            );
        }
    }

    #[test]
    fn probe_order_lists_every_format_once() {
        let mut ids: Vec<&str> = PROBE_ORDER.to_vec();
        ids.sort();
        let all: Vec<&str> = FORMATS.iter().map(|f| f.info().id).collect();
        assert_eq!(ids, all);
    }

    #[test]
    fn nothing_claims_empty_or_zero_input() {
        for f in FORMATS {
            assert!(!f.probe(&[], Some(0)), "{} claims empty input", f.info().id);
            assert!(
                !f.probe(&[0u8; HEAD_LEN], Some(1 << 20)),
                "{} claims zeros",
                f.info().id
            );
        }
    }

    #[test]
    fn every_format_survives_garbage() {
        let mut seed = 0x1234_5678_u64;
        for f in FORMATS {
            for len in [0usize, 1, 7, 64, 513, 4096, 70_000] {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                let _ = run_in_memory(f.info().id, &data, 1 << 20);
            }
        }
    }
}
