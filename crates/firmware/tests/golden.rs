//! Golden tests: one fixed input per format, built in code, and the exact listing each reader
//! gives for it (entries with kinds, hashes and link targets, bytes consumed, format details)
//! compared with `tests/golden/<format>.txt`. `HASHWARD_REGENERATE=1` rewrites the files;
//! review the diff before committing it.

use std::fmt::Write as _;
use std::io::Write;

use hashward_firmware::unpack::{Collected, FORMATS, run_in_memory};
use hashward_fixtures::archive::{self, TarStyle};
use hashward_fixtures::{Tree, bmu, ext2, fit, jffs2, keys, squashfs, ubi, uimage};
use sha2::{Digest, Sha256};

fn tree() -> Tree {
    let mut t = Tree::new();
    t.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        .file_mode("usr/bin/cgminer", b"\x7fELF cgminer 4.11.1 ".repeat(600), 0o755)
        .file("config/cgminer.conf", "{\"api-allow\": \"W:0/0\"}\n")
        .symlink("bin/sh", "busybox")
        .file_mode("bin/busybox", b"busybox ".repeat(3000), 0o755)
        .dir("tmp");
    t
}

const TEXT: &[u8] = b"stratum+tcp://stratum.antpool.com:3333 antminer_1 123\n";

fn text_big() -> Vec<u8> {
    TEXT.repeat(200)
}

/// The fixed input for each format id.
fn input(id: &str) -> Vec<u8> {
    let t = tree();
    match id {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&text_big()).unwrap();
            e.finish().unwrap()
        }
        "zlib" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&text_big()).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
            w.write_all(&text_big()).unwrap();
            w.finish().unwrap()
        }
        "lzma" => {
            let opts = lzma_rust2::LzmaOptions::with_preset(1);
            let mut w = lzma_rust2::LzmaWriter::new_use_header(Vec::new(), &opts, None).unwrap();
            w.write_all(&text_big()).unwrap();
            w.finish().unwrap()
        }
        "bzip2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(&text_big()).unwrap();
            e.finish().unwrap()
        }
        "zstd" => {
            ruzstd::encoding::compress_to_vec(&text_big()[..], ruzstd::encoding::CompressionLevel::Fastest)
        }
        "lz4" => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(&text_big()).unwrap();
            e.finish().unwrap()
        }
        "tar" => archive::tar(&t, TarStyle::Gnu),
        "cpio" => archive::cpio_newc(&t),
        "zip" => archive::zip(&t),
        "squashfs" => squashfs::build(&t, squashfs::Compression::Xz),
        "jffs2" => jffs2::build(&t, 0x10000, jffs2::Compression::Zlib, None),
        "ext" => ext2::build(&t, 1 << 20, "linux"),
        "ubifs" => ubi::build_ubifs(&t, 126_976, 2048),
        "ubi" => ubi::ubinize(
            &[("rootfs", 0, &ubi::build_ubifs(&t, 126_976, 2048)[..])],
            128 << 10,
            2048,
            2048,
        ),
        "uimage" => uimage::make_uimage(
            &text_big(),
            5,
            2,
            2,
            0,
            "Linux-4.6.0-xilinx",
            0x8000,
            0x8000,
            1_600_000_000,
        ),
        "fit" => fit::make_fit(&[
            ("kernel-1", "kernel", "none", &text_big()),
            ("fdt-1", "flat_dt", "none", &fit::make_dtb("m", &["c"])),
        ]),
        "bmu" => bmu::make_bmu_single(
            "zynq7007_HHB68XXX",
            &[(0, TEXT), (2, &text_big())],
            keys::root_2048(),
            keys::miner_2048(),
        ),
        "bmu-merge" => {
            let single = bmu::make_bmu_single(
                "CVCtrl_BHB42XXX",
                &[(0, TEXT)],
                keys::root_2048(),
                keys::miner_2048(),
            );
            bmu::make_bmu_merge(&[("update.bmu", "BM1362", "CVCtrl", "S19j Pro", &single)])
        }
        other => panic!("no golden input for format {other}: add one"),
    }
}

fn listing(id: &str) -> String {
    let bytes = input(id);
    let (result, sink) = run_in_memory(id, &bytes, 64 << 20);
    let mut s = format!(
        "format {id}\ninput {} bytes sha256 {}\n",
        bytes.len(),
        hex::encode(Sha256::digest(&bytes))
    );
    for (name, c) in &sink.entries {
        let name = String::from_utf8_lossy(name);
        let _ = match c {
            Collected::Dir => writeln!(s, "dir      {name}"),
            Collected::File(d) => writeln!(
                s,
                "file     {name}  {} bytes  {}",
                d.len(),
                hex::encode(Sha256::digest(d))
            ),
            Collected::Symlink(t) => writeln!(s, "symlink  {name} -> {}", String::from_utf8_lossy(t)),
            Collected::Hardlink(t) => writeln!(s, "hardlink {name} -> {}", String::from_utf8_lossy(t)),
            Collected::Special(w, a, b) => writeln!(s, "special  {name}  {w} {a}:{b}"),
        };
    }
    for p in &sink.problems {
        let _ = writeln!(s, "problem  {p}");
    }
    match result {
        Ok(u) => {
            let _ = writeln!(s, "consumed {:?}", u.consumed);
            let _ = writeln!(
                s,
                "details {}",
                serde_json::to_string_pretty(&sorted(&u.details)).unwrap()
            );
        }
        Err(e) => {
            let _ = writeln!(s, "error {e}");
        }
    }
    s
}

#[test]
fn every_format_matches_its_golden_listing() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let regenerate = std::env::var_os("HASHWARD_REGENERATE").is_some();
    let mut stale = Vec::new();
    for f in FORMATS {
        let id = f.info().id;
        let got = listing(id);
        assert!(
            !got.contains("\nerror "),
            "{id} failed on its golden input:\n{got}"
        );
        let path = format!("{dir}/{id}.txt");
        if regenerate {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != got {
            stale.push(format!(
                "{id}: golden file differs\n--- want\n{want}\n--- got\n{got}"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n(run with HASHWARD_REGENERATE=1 and review)",
        stale.join("\n")
    );
}

#[test]
fn golden_inputs_are_deterministic() {
    for id in ["squashfs", "ext", "ubi", "jffs2", "bmu", "zip", "tar"] {
        assert_eq!(input(id), input(id), "{id} fixture is not deterministic");
    }
}

/// `v` with every object's keys in order: serde_json keeps insertion order when another crate
/// of the build (yara-x, in `cargo test --workspace`) turns on its `preserve_order` feature,
/// and sorts otherwise; the listings must not depend on which.
fn sorted(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
