//! The engine end to end on codec-only inputs: bombs, depth, carving, and the on-disk result.

use std::io::Write;
use std::path::Path;

use hashward_firmware::unpack::{UnpackReport, unpack_image};
use hashward_firmware::{Limits, UnpackOptions};

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn run(bytes: &[u8], name: &str, limits: Limits) -> (UnpackReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join(name);
    std::fs::write(&image, bytes).unwrap();
    let opts = UnpackOptions {
        out: dir.path().join("out"),
        limits,
        carve: true,
        keys: Vec::new(),
        jobs: 0,
    };
    let report = unpack_image(&image, &opts, None).unwrap();
    (report, dir)
}

fn rules(r: &UnpackReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule.as_str()).collect()
}

#[test]
fn gzip_layers_are_followed_and_named() {
    let inner = gz(b"#!/bin/sh\necho runme\n");
    let (r, dir) = run(&gz(&inner), "fw.bin.gz.gz", Limits::default());
    let paths: Vec<&str> = r.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["fw.bin"], "{:#?}", r.entries);
    // gzip > gzip: the inner stream continues without an intermediate file.
    assert_eq!(*r.entries[0].layers, ["gzip", "gzip"]);
    let on_disk = std::fs::read(dir.path().join("out/fw.bin")).unwrap();
    assert_eq!(on_disk, b"#!/bin/sh\necho runme\n");
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn a_ten_gib_gzip_bomb_stops_at_the_ratio_limit() {
    // 10,240 members of 1 MiB of zeros: about 10 MB that expands to 10 GiB.
    let member = gz(&vec![0u8; 1 << 20]);
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 10_240)
        .collect();
    let (r, dir) = run(&bomb, "bomb.gz", Limits::default());
    assert!(rules(&r).contains(&"FW-100"), "{:?}", r.findings);
    let written: u64 = r.entries.iter().filter_map(|e| e.size).sum();
    assert!(written <= 80 << 20, "wrote {written} bytes");
    assert!(r.entries.iter().any(|e| e.truncated));
    let on_disk = std::fs::metadata(dir.path().join("out/bomb")).unwrap().len();
    assert_eq!(on_disk, written);
}

#[test]
fn a_nested_bomb_stops_at_the_inner_layer() {
    let member = gz(&vec![0u8; 1 << 20]);
    let inner: Vec<u8> = member.iter().copied().cycle().take(member.len() * 1024).collect();
    let outer = gz(&inner);
    assert!(outer.len() < inner.len() / 10);
    let (r, _dir) = run(&outer, "nested.gz", Limits::default());
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "FW-100")
        .expect("limit finding");
    assert!(f.message.contains("ratio"), "{}", f.message);
}

#[test]
fn depth_is_limited() {
    let mut data = b"deep".to_vec();
    for _ in 0..12 {
        data = gz(&data);
    }
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    let (r, _dir) = run(&data, "deep", limits);
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule.as_str() == "FW-100" && f.message.contains("depth")),
        "{:?}",
        r.findings
    );
}

#[test]
fn carving_finds_a_stream_inside_a_blob() {
    let mut blob = vec![0x5au8; 10_000];
    let payload = gz(b"embedded config: api-allow W:0/0\n");
    blob.extend(&payload);
    blob.extend(vec![0xa5u8; 5_000]);
    let (r, dir) = run(&blob, "dump.bin", Limits::default());
    let node = r.nodes.iter().find(|n| n.format == "gzip").expect("carved gzip");
    assert_eq!(node.offset, 10_000);
    assert_eq!(node.size, Some(payload.len() as u64));
    let out = dir.path().join("out/0x2710/0x2710.decompressed");
    assert_eq!(std::fs::read(out).unwrap(), b"embedded config: api-allow W:0/0\n");
    assert_eq!(r.stats.carved, 1);
}

#[test]
fn a_field_of_fake_magics_is_no_trap() {
    // 4 MiB of gzip magic followed by junk: every candidate fails its probe quickly.
    let mut blob = Vec::new();
    while blob.len() < 4 << 20 {
        blob.extend_from_slice(&[0x1f, 0x8b, 0x08, 0xff, 0xee]);
    }
    let start = std::time::Instant::now();
    let (r, _dir) = run(&blob, "trap.bin", Limits::default());
    assert!(start.elapsed().as_secs() < 60);
    assert!(r.entries.is_empty());
}

#[test]
fn empty_and_tiny_images_are_fine() {
    for bytes in [&b""[..], b"\x1f", b"\x1f\x8b\x08\x00"] {
        let (r, _dir) = run(bytes, "tiny", Limits::default());
        assert!(r.entries.is_empty());
    }
}

#[test]
fn a_truncated_stream_is_malformed_with_a_partial_file() {
    let data: Vec<u8> = (0..400_000u32)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    let img = gz(&data);
    let (r, _dir) = run(&img[..img.len() / 2], "cut.gz", Limits::default());
    assert!(rules(&r).contains(&"FW-102"), "{:?}", r.findings);
    assert!(r.entries[0].truncated);
    assert!(r.entries[0].size.unwrap() > 0);
}

#[test]
fn the_output_directory_must_be_empty() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("x.gz");
    std::fs::write(&image, gz(b"x")).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/keep"), b"mine").unwrap();
    let opts = UnpackOptions {
        out: dir.path().join("out"),
        limits: Limits::default(),
        carve: true,
        keys: vec![],
        jobs: 0,
    };
    assert!(unpack_image(&image, &opts, None).is_err());
    assert!(unpack_image(Path::new("/nonexistent/image"), &opts, None).is_err());
}

fn tar_of_many(n: usize, size: usize) -> Vec<u8> {
    let mut t = hashward_fixtures::Tree::new();
    for i in 0..n {
        t.file(&format!("d/f{i:05}"), vec![b'a' + (i % 26) as u8; size]);
    }
    hashward_fixtures::archive::tar(&t, hashward_fixtures::archive::TarStyle::Ustar)
}

fn limit_message(r: &UnpackReport) -> String {
    r.findings
        .iter()
        .filter(|f| f.rule.as_str() == "FW-100")
        .map(|f| f.message.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn each_limit_stops_its_branch_with_a_finding() {
    let cases: Vec<(&str, Limits, &str)> = vec![
        (
            "entries",
            Limits {
                max_entries: 10,
                ..Limits::default()
            },
            "entry count",
        ),
        (
            "total",
            Limits {
                max_total_bytes: 50_000,
                ..Limits::default()
            },
            "total output size",
        ),
        (
            "file",
            Limits {
                max_file_bytes: 500,
                ..Limits::default()
            },
            "file size",
        ),
        (
            "time",
            Limits {
                max_time: std::time::Duration::ZERO,
                ..Limits::default()
            },
            "time",
        ),
    ];
    for (name, limits, words) in cases {
        let (r, _d) = run(&gz(&tar_of_many(200, 1000)), "many.tar.gz", limits);
        let msg = limit_message(&r);
        assert!(msg.contains(words), "{name}: {msg}");
        // A partial result, not nothing (except when no time at all was allowed).
        if name != "time" {
            assert!(!r.entries.is_empty(), "{name}: nothing kept");
        }
        assert!(r.entries.len() < 200, "{name}: limit did not stop anything");
    }
}

#[test]
fn a_limit_in_one_branch_leaves_the_others() {
    // Two members: a bomb and an ordinary config. The bomb stops; the config still comes out.
    let member = gz(&vec![0u8; 1 << 20]);
    let bomb: Vec<u8> = member.iter().copied().cycle().take(member.len() * 200).collect();
    let mut t = hashward_fixtures::Tree::new();
    t.file("bomb.gz", bomb)
        .file("z/cgminer.conf", "{\"api-allow\":\"W:0/0\"}");
    let img = hashward_fixtures::archive::tar(&t, hashward_fixtures::archive::TarStyle::Ustar);
    let (r, _d) = run(
        &img,
        "pkg.tar",
        Limits {
            ratio_floor: 1 << 20,
            ..Limits::default()
        },
    );
    assert!(limit_message(&r).contains("ratio"), "{:?}", r.findings);
    assert!(
        r.entries
            .iter()
            .any(|e| e.path == "z/cgminer.conf" && e.size == Some(21))
    );
}
