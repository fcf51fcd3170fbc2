//! The hostile corpus: crafted images generated here, each run through the real binary.
//!
//! For every input: no crash (exit 0 with `--fail-on never`), nothing written or linked outside
//! `--out` (a sentinel directory beside it stays untouched, every symlink under `--out` resolves
//! inside it), the expected finding, and peak memory under 256 MiB.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use hashward_fixtures::archive::{self, RawCpioEntry, RawTarEntry, RawZipEntry, TarStyle};
use hashward_fixtures::{Tree, ext2, jffs2, samples, squashfs, uimage};

const MAX_RSS: u64 = 256 << 20;

fn gz(data: &[u8]) -> Vec<u8> {
    samples::gzip(data)
}

fn gz_best(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// A rule that must be reported, if any.
    expect: Option<&'static str>,
}

fn case(name: &'static str, bytes: Vec<u8>, expect: Option<&'static str>) -> Case {
    Case { name, bytes, expect }
}

fn tar_of(entries: Vec<RawTarEntry>) -> Vec<u8> {
    archive::tar_entries(&entries)
}

fn symlink(name: &str, target: &str) -> RawTarEntry {
    RawTarEntry::link(name.as_bytes().to_vec(), b'2', target.as_bytes().to_vec())
}

// One push per case reads better than one giant vec! literal with section comments.
#[allow(clippy::vec_init_then_push)]
fn corpus() -> Vec<Case> {
    let mut v = Vec::new();
    // --- path traversal, one per archive or file-system format ---
    v.push(case(
        "tar-dotdot.tar",
        tar_of(vec![RawTarEntry::file("../../sentinel/pwned", "x")]),
        Some("FW-101"),
    ));
    v.push(case(
        "tar-absolute.tar",
        tar_of(vec![RawTarEntry::file("/etc/cron.d/pwned", "x")]),
        Some("FW-101"),
    ));
    v.push(case(
        "tar-symlink-then-write.tar",
        tar_of(vec![
            symlink("evil", "../sentinel"),
            RawTarEntry::file("evil/pwned", "x"),
        ]),
        Some("FW-101"),
    ));
    v.push(case(
        "tar-symlink-chain.tar",
        tar_of(vec![
            symlink("l1", "sub"),
            RawTarEntry::file("sub/keep", "k"),
            symlink("sub/l2", ".."),
            symlink("x", "l1/l2/../sentinel"),
        ]),
        Some("FW-101"),
    ));
    v.push(case(
        "tar-absolute-symlink.tar",
        tar_of(vec![
            symlink("etcdir", "/etc"),
            RawTarEntry::file("etcdir/passwd", "x"),
        ]),
        None,
    ));
    v.push(case(
        "tar-hardlink-out.tar",
        tar_of(vec![RawTarEntry::link(
            b"h".to_vec(),
            b'1',
            b"../../etc/passwd".to_vec(),
        )]),
        Some("FW-101"),
    ));
    v.push(case(
        "tar-odd-names.tar",
        tar_of(vec![
            RawTarEntry::file(b"bad\nname\x1b[31m\xff".to_vec(), "x"),
            RawTarEntry::file([b'n'; 300].to_vec(), "long"),
        ]),
        Some("FW-101"),
    ));
    let mut nul = b"a".repeat(120);
    nul[60] = 0;
    v.push(case(
        "tar-nul-in-long-name.tar",
        tar_of(vec![RawTarEntry::file(nul, "x")]),
        None,
    ));
    v.push(case(
        "tar-device.tar",
        tar_of(vec![RawTarEntry {
            name: b"dev/sda".to_vec(),
            typeflag: b'4',
            mode: 0o660,
            dev: (8, 0),
            ..Default::default()
        }]),
        None,
    ));
    let mut huge = RawTarEntry::file("big", "tiny");
    huge.declared_size = Some(8 << 30);
    v.push(case("tar-absurd-size.tar", tar_of(vec![huge]), Some("FW-102")));
    v.push(case(
        "cpio-dotdot.cpio",
        archive::cpio_entries(&[RawCpioEntry::file("../../sentinel/pwned", "x")]),
        Some("FW-101"),
    ));
    let mut link = RawCpioEntry::file("esc", "../../../../etc");
    link.mode = 0o120_777;
    v.push(case(
        "cpio-symlink-out.cpio",
        archive::cpio_entries(&[link]),
        Some("FW-101"),
    ));
    let mut namesz = RawCpioEntry::file("n", "x");
    namesz.declared_namesize = Some(0x7fff_ffff);
    v.push(case(
        "cpio-absurd-namesize.cpio",
        archive::cpio_entries(&[namesz]),
        None,
    ));
    let zslip = RawZipEntry {
        name: b"../../sentinel/zip".to_vec(),
        data: b"x".to_vec(),
        ..Default::default()
    };
    v.push(case(
        "zip-slip.zip",
        archive::zip_entries(&[zslip]),
        Some("FW-101"),
    ));
    let zabs = RawZipEntry {
        name: b"/tmp/hashward-abs".to_vec(),
        data: b"x".to_vec(),
        ..Default::default()
    };
    v.push(case(
        "zip-absolute.zip",
        archive::zip_entries(&[zabs]),
        Some("FW-101"),
    ));
    let zlink = RawZipEntry {
        name: b"up".to_vec(),
        data: b"../../..".to_vec(),
        unix_mode: Some(0o120_777),
        ..Default::default()
    };
    v.push(case(
        "zip-symlink-out.zip",
        archive::zip_entries(&[zlink]),
        Some("FW-101"),
    ));
    let mut t = Tree::new();
    t.file("ok", "fine").symlink("esc", "../../../sentinel");
    v.push(case(
        "squashfs-symlink-out.sqsh",
        squashfs::build(&t, squashfs::Compression::Gzip),
        Some("FW-101"),
    ));
    v.push(case(
        "jffs2-symlink-out.jffs2",
        jffs2::build(&t, 0x10000, jffs2::Compression::Zlib, None),
        Some("FW-101"),
    ));
    v.push(case(
        "ext2-symlink-out.img",
        ext2::build(&t, 1 << 20, "linux"),
        Some("FW-101"),
    ));
    // --- bombs and depth ---
    let member = gz_best(&vec![0u8; 1 << 20]);
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 10_240)
        .collect();
    v.push(case("gzip-bomb-10GiB.gz", bomb, Some("FW-100")));
    let inner: Vec<u8> = member.iter().copied().cycle().take(member.len() * 2048).collect();
    v.push(case("nested-bomb.gz", gz_best(&gz_best(&inner)), Some("FW-100")));
    let mut deep = b"bottom".to_vec();
    for i in 0..20 {
        let mut t = Tree::new();
        t.file(&format!("layer{i}.tar.gz"), deep);
        deep = gz(&archive::tar(&t, TarStyle::Ustar));
    }
    v.push(case("nested-20-deep.tar.gz", deep, Some("FW-100")));
    // --- malformed and truncated ---
    v.push(case("empty.bin", Vec::new(), None));
    let mut t = Tree::new();
    for i in 0..50 {
        t.file(&format!("d{i}/f{i}"), samples::filler(i, 5000));
    }
    let sq = squashfs::build(&t, squashfs::Compression::Xz);
    v.push(case(
        "squashfs-truncated.sqsh",
        sq[..sq.len() / 2].to_vec(),
        Some("FW-102"),
    ));
    let tgz = gz(&archive::tar(&t, TarStyle::Gnu));
    v.push(case(
        "targz-truncated.tar.gz",
        tgz[..tgz.len() * 2 / 3].to_vec(),
        Some("FW-102"),
    ));
    let ext = ext2::build(&t, 2 << 20, "linux");
    v.push(case(
        "ext2-truncated.img",
        ext[..ext.len() / 3].to_vec(),
        Some("FW-102"),
    ));
    let jf = jffs2::build(&t, 0x10000, jffs2::Compression::Zlib, None);
    let mut jf_bad = jf.clone();
    for i in (100..jf_bad.len()).step_by(997) {
        jf_bad[i] ^= 0x5a;
    }
    v.push(case("jffs2-corrupted.jffs2", jf_bad, Some("FW-102")));
    let mut big_uimage = uimage::make_uimage(b"short payload", 5, 2, 2, 0, "Linux", 0x8000, 0x8000, 0);
    big_uimage[12..16].copy_from_slice(&0x4000_0000u32.to_be_bytes());
    // Keep the header CRC right so the probe accepts it and the size lie is what is tested.
    big_uimage[4..8].copy_from_slice(&[0; 4]);
    let hcrc = crc32fast::hash(&big_uimage[..64]);
    big_uimage[4..8].copy_from_slice(&hcrc.to_be_bytes());
    v.push(case("uimage-absurd-size.uimage", big_uimage, Some("FW-102")));
    let ubifs = hashward_fixtures::ubi::build_ubifs(&t, 126_976, 2048);
    let ubi = hashward_fixtures::ubi::ubinize(&[("rootfs", 0, &ubifs[..])], 128 << 10, 2048, 2048);
    v.push(case("ubi-truncated.ubi", ubi[..ubi.len() / 2].to_vec(), None));
    let mut ubifs_bad = ubifs.clone();
    for i in (4096..ubifs_bad.len()).step_by(1531) {
        ubifs_bad[i] ^= 0xa5;
    }
    v.push(case("ubifs-corrupted.ubifs", ubifs_bad, Some("FW-102")));
    let s21 = samples::s21();
    let mut bmu = s21.bytes.clone();
    bmu[1309 + 5 * 3 + 1..1309 + 5 * 3 + 5].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    v.push(case("bmu-absurd-component-size.bmu", bmu, None));
    let cut = s21.bytes[..s21.bytes.len() * 2 / 3].to_vec();
    v.push(case("bmu-truncated.bmu", cut, None));
    // --- noise ---
    v.push(case(
        "random-8MiB.bin",
        samples::filler(99, 8 << 20)
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ (i as u8).wrapping_mul(31))
            .collect(),
        None,
    ));
    let mut magic_field = Vec::new();
    while magic_field.len() < 4 << 20 {
        magic_field.extend_from_slice(&[
            0x1f, 0x8b, 0x08, 0x00, b'h', b's', b'q', b's', b'U', b'B', b'I', b'#',
        ]);
    }
    v.push(case("magic-field.bin", magic_field, None));
    v
}

/// Every symlink under `root` that resolves must resolve inside it; nothing else may be a link
/// to the outside.
fn assert_contained(root: &Path) {
    let root = root.canonicalize().unwrap();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                if let Ok(real) = e.path().canonicalize() {
                    assert!(
                        real.starts_with(&root),
                        "{} resolves to {}",
                        e.path().display(),
                        real.display()
                    );
                }
            } else if ft.is_dir() {
                stack.push(e.path());
            } else {
                assert!(
                    ft.is_file(),
                    "{} is neither file, dir nor link",
                    e.path().display()
                );
            }
        }
    }
}

#[test]
fn the_hostile_corpus_is_contained() {
    let corpus = corpus();
    assert!(corpus.len() >= 25, "{} inputs", corpus.len());
    for c in corpus {
        let dir = tempfile::tempdir().unwrap();
        // The sentinel sits where the traversal cases aim: beside --out, one level up.
        let work = dir.path().join("a/b");
        std::fs::create_dir_all(&work).unwrap();
        let sentinel = dir.path().join("a/sentinel");
        std::fs::create_dir_all(&sentinel).unwrap();
        std::fs::write(sentinel.join("keep"), b"untouched").unwrap();
        let image = work.join(c.name);
        std::fs::write(&image, &c.bytes).unwrap();
        let out_dir = work.join("out");
        let out = Command::new(env!("CARGO_BIN_EXE_hashward"))
            .args([
                "firmware",
                "unpack",
                "--format",
                "json",
                "--no-store",
                "--fail-on",
                "never",
                "--timeout",
                "120",
            ])
            .arg(&image)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: exit {:?}: {stderr}",
            c.name,
            out.status
        );
        let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rules: Vec<&str> = env["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["rule"].as_str())
            .collect();
        if let Some(want) = c.expect {
            assert!(rules.contains(&want), "{}: want {want}, got {rules:?}", c.name);
        }
        let names: Vec<String> = std::fs::read_dir(&sentinel)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["keep"], "{}: sentinel touched", c.name);
        assert_eq!(std::fs::read(sentinel.join("keep")).unwrap(), b"untouched");
        if out_dir.exists() {
            assert_contained(&out_dir);
        }
        let rss = env["result"]["stats"]["peak_rss_bytes"].as_u64().unwrap_or(0);
        assert!(rss < MAX_RSS, "{}: peak RSS {} MiB", c.name, rss >> 20);
        eprintln!("{:<28} ok  rules {:?}  peak {} MiB", c.name, rules, rss >> 20);
    }
}
