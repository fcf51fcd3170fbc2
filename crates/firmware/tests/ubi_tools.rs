//! UBI and UBIFS readers against images built by the real Debian tools (`mkfs.ubifs`, `ubinize`)
//! with the S9 geometry, and against the pure-Rust fixture writer, from the same directory tree.
//!
//! When a tool is missing the test prints a skip line, unless `HASHWARD_REQUIRE_TOOLS=1`.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hashward_firmware::unpack::{MemorySink, run_in_memory};
use hashward_firmware::unpack_image;
use hashward_fixtures::Tree;
use hashward_fixtures::ubi::{build_ubifs, ubinize};
use support::{
    assert_hardlink_group, assert_same_listing, hardlink_groups, listing_of_sink, listing_of_tree, run, tool,
    write_tree,
};

/// S9 geometry: PEB 128 KiB, pages and sub-pages 2048, so LEB = 131072 − 4096.
const LEB: usize = 126_976;

/// The tree every image is built from: nested directories, files of many sizes (empty, one
/// byte, exactly one block, multi-block compressible and incompressible), symlinks, a hard link
/// and a character device.
fn sample() -> Tree {
    let mut t = Tree::new();
    let text: Vec<u8> = b"pool1 = stratum+tcp://192.168.110.30:3333\n".repeat(3000);
    let mut x = 0x9E37_79B9u32;
    let noise: Vec<u8> = (0..70_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    t.file("etc/hostname", "antminer\n")
        .file("etc/empty.conf", "")
        .file("etc/one", "1")
        .file("etc/config/cgminer.conf", text)
        .file_mode("usr/bin/cgminer", noise, 0o755)
        .file("usr/lib/exactly-one-block", vec![0xA5; 4096])
        .file("a/b/c/d/e/f/g/deep.txt", "deep\n")
        .dir("var/empty")
        .symlink("bin/sh", "busybox")
        .symlink("etc/abs-link", "/etc/hostname")
        .symlink("etc/dangling", "../nowhere/at/all")
        .hardlink("usr/bin/cgminer-hl", "usr/bin/cgminer")
        .chardev("dev/console", 5, 1);
    t
}

/// The sink must hold exactly the tree: every path and kind, every file's bytes, every link
/// target, the device numbers. Of a hard-linked group, one is the file, the rest link to it.
fn assert_same(sink: &MemorySink, t: &Tree, what: &str) {
    assert!(sink.problems.is_empty(), "{what}: problems {:?}", sink.problems);
    assert_same_listing(what, &listing_of_tree(t), &listing_of_sink(sink));
    for group in hardlink_groups(t) {
        assert_hardlink_group(sink, &group);
    }
}

/// UBI image → the rootfs volume file → UBIFS → the tree.
fn check_ubi_image(img: &[u8], t: &Tree, what: &str) {
    let (r, sink) = run_in_memory("ubi", img, 1 << 28);
    let u = r.unwrap_or_else(|e| panic!("{what}: ubi: {e}"));
    assert!(
        sink.problems.is_empty(),
        "{what}: ubi problems {:?}",
        sink.problems
    );
    assert_eq!(u.details["peb_size"], 128 << 10);
    assert_eq!(u.details["data_offset"], 4096);
    assert_eq!(u.details["leb_size"], LEB);
    assert_eq!(u.details["volumes"][0]["name"], "rootfs");
    assert_eq!(sink.names(), ["rootfs.ubifs"], "{what}");
    let vol = sink.file("rootfs.ubifs").unwrap();
    assert_eq!(vol.len() % LEB, 0);
    let (r, sink) = run_in_memory("ubifs", vol, 1 << 28);
    let u = r.unwrap_or_else(|e| panic!("{what}: ubifs: {e}"));
    assert_eq!(u.details["leb_size"], LEB);
    assert_same(&sink, t, what);
}

fn ubinize_tool(ubinize_bin: &Path, vol: &Path, out: &Path, work: &Path) {
    let cfg = work.join("ubi.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[rootfs]\nmode=ubi\nimage={}\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_flags=autoresize\n",
            vol.display()
        ),
    )
    .unwrap();
    run(Command::new(ubinize_bin)
        .arg("-o")
        .arg(out)
        .args(["-m", "2048", "-p", "128KiB", "-s", "2048"])
        .arg(&cfg));
}

#[test]
fn debian_tools_images_read_back_exactly() {
    let (Some(mkfs), Some(ubinize_bin)) = (tool("mkfs.ubifs"), tool("ubinize")) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let t = write_tree(&sample(), &root);
    // mkfs.ubifs records the ownership and mode of the root directory too; that is not an entry.
    for compr in ["lzo", "zlib", "zstd", "none"] {
        let vol = work.path().join(format!("vol-{compr}.ubifs"));
        let st = Command::new(&mkfs)
            .arg("-r")
            .arg(&root)
            .args(["-m", "2048", "-e", "126976", "-c", "1024", "-x", compr, "-o"])
            .arg(&vol)
            .output()
            .unwrap();
        if !st.status.success() {
            let err = String::from_utf8_lossy(&st.stderr);
            assert!(compr == "zstd", "mkfs.ubifs -x {compr}: {err}");
            println!("SKIP: this mkfs.ubifs has no zstd: {err}");
            continue;
        }
        // The bare volume first, then wrapped in UBI the way S9_makepackage does it.
        let bytes = std::fs::read(&vol).unwrap();
        let (r, sink) = run_in_memory("ubifs", &bytes, 1 << 28);
        let u = r.unwrap_or_else(|e| panic!("mkfs.ubifs -x {compr}: {e}"));
        assert_eq!(u.details["default_compressor"], compr);
        assert_same(&sink, &t, &format!("mkfs.ubifs -x {compr}"));
        let img = work.path().join(format!("img-{compr}.ubi"));
        ubinize_tool(&ubinize_bin, &vol, &img, work.path());
        check_ubi_image(
            &std::fs::read(&img).unwrap(),
            &t,
            &format!("ubinize(mkfs.ubifs -x {compr})"),
        );
    }
}

#[test]
fn own_writer_reads_back_and_wraps_like_ubinize() {
    let t = sample();
    let vol = build_ubifs(&t, LEB, 2048);
    let img = ubinize(&[("rootfs", 0, &vol)], 128 << 10, 2048, 2048);
    check_ubi_image(&img, &t, "fixture writer");
    // Our UBI wrapper around a volume made by mkfs.ubifs, and ubinize around ours.
    let (Some(mkfs), Some(ubinize_bin)) = (tool("mkfs.ubifs"), tool("ubinize")) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let t2 = write_tree(&t, &root);
    let mkvol = work.path().join("vol.ubifs");
    run(Command::new(&mkfs)
        .arg("-r")
        .arg(&root)
        .args(["-m", "2048", "-e", "126976", "-c", "1024", "-o"])
        .arg(&mkvol));
    let img = ubinize(
        &[("rootfs", 0, &std::fs::read(&mkvol).unwrap())],
        128 << 10,
        2048,
        2048,
    );
    check_ubi_image(&img, &t2, "fixture ubinize around mkfs.ubifs");
    let ours = work.path().join("ours.ubifs");
    std::fs::write(&ours, &vol).unwrap();
    let out = work.path().join("ours.ubi");
    ubinize_tool(&ubinize_bin, &ours, &out, work.path());
    check_ubi_image(
        &std::fs::read(&out).unwrap(),
        &t,
        "ubinize around the fixture writer",
    );
}

#[test]
fn engine_recurses_from_a_misnamed_s9_image() {
    // The S9 ships its UBI image as `angstrom_rootfs.jffs2`: the name must not matter.
    let t = sample();
    let vol = build_ubifs(&t, LEB, 2048);
    let img = ubinize(&[("rootfs", 0, &vol)], 128 << 10, 2048, 2048);
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("angstrom_rootfs.jffs2");
    std::fs::write(&path, &img).unwrap();
    let opts = support::unpack_options(work.path().join("out"), true);
    let report = unpack_image(&path, &opts, None).unwrap();
    let formats: Vec<&str> = report.nodes.iter().map(|n| n.format.as_str()).collect();
    assert!(
        formats.contains(&"ubi") && formats.contains(&"ubifs"),
        "{formats:?}"
    );
    let hostname = walk(&opts.out)
        .into_iter()
        .find(|p| p.ends_with("etc/hostname"))
        .expect("etc/hostname");
    assert_eq!(std::fs::read(hostname).unwrap(), b"antminer\n");
    let cg = walk(&opts.out)
        .into_iter()
        .find(|p| p.ends_with("usr/bin/cgminer"))
        .unwrap();
    assert_eq!(std::fs::metadata(&cg).unwrap().size(), 70_000);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|f| f.is_dir()) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn engine_carves_ubi_and_ubifs_out_of_a_blob() {
    // Unknown bytes, then a bare UBIFS volume, then a UBI image: both found by their magics.
    let t = sample();
    let vol = build_ubifs(&t, 16 * 1024, 512);
    let img = ubinize(&[("data", 2, &vol)], 32 << 10, 512, 512);
    let mut blob: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let vol_at = blob.len();
    blob.extend_from_slice(&vol);
    let img_at = blob.len();
    blob.extend_from_slice(&img);
    blob.extend_from_slice(b"trailing bytes that are nothing");
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("nand.bin");
    std::fs::write(&path, &blob).unwrap();
    let opts = support::unpack_options(work.path().join("out"), true);
    let report = unpack_image(&path, &opts, None).unwrap();
    let found: Vec<(&str, u64)> = report
        .nodes
        .iter()
        .map(|n| (n.format.as_str(), n.offset))
        .collect();
    assert!(found.contains(&("ubifs", vol_at as u64)), "{found:?}");
    assert!(found.contains(&("ubi", img_at as u64)), "{found:?}");
    let hostnames = walk(&opts.out)
        .into_iter()
        .filter(|p| p.ends_with("etc/hostname"))
        .count();
    assert_eq!(hostnames, 2, "once from the bare volume, once from inside UBI");
}

#[test]
fn ubinize_static_and_dynamic_volumes() {
    let Some(ubinize_bin) = tool("ubinize") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let kernel: Vec<u8> = (0..300_001u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    let blob: Vec<u8> = vec![0x42; 200_000];
    std::fs::write(work.path().join("kernel.bin"), &kernel).unwrap();
    std::fs::write(work.path().join("blob.bin"), &blob).unwrap();
    let cfg = work.path().join("ubi.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[kernel]\nmode=ubi\nimage={k}\nvol_id=0\nvol_type=static\nvol_name=kernel\n\n\
             [data]\nmode=ubi\nimage={b}\nvol_id=5\nvol_type=dynamic\nvol_name=data\nvol_size=1MiB\n",
            k = work.path().join("kernel.bin").display(),
            b = work.path().join("blob.bin").display()
        ),
    )
    .unwrap();
    let out = work.path().join("img.ubi");
    run(Command::new(&ubinize_bin)
        .arg("-o")
        .arg(&out)
        .args(["-m", "2048", "-p", "128KiB", "-s", "2048"])
        .arg(&cfg));
    let (r, sink) = run_in_memory("ubi", &std::fs::read(&out).unwrap(), 1 << 26);
    let u = r.unwrap();
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    // Static volumes come back at their exact length; dynamic ones in whole LEBs.
    assert_eq!(sink.file("kernel.img").unwrap(), &kernel[..]);
    let d = sink.file("data.img").unwrap();
    assert_eq!(&d[..blob.len()], &blob[..]);
    assert!(d[blob.len()..].iter().all(|&b| b == 0xFF));
    assert_eq!(d.len() % LEB, 0);
    let vols = u.details["volumes"].as_array().unwrap();
    assert_eq!(vols[0]["type"], "static");
    assert_eq!(vols[1]["id"], 5);
}
