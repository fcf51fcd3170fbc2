//! JFFS2 images made by the real `mkfs.jffs2` (mtd-utils) read back by hashward's reader.
//!
//! Skipped (with a message) when the tool is missing, unless `HASHWARD_REQUIRE_TOOLS=1`.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use hashward_firmware::unpack::{Collected, MemorySink, run_in_memory};

/// What a path is, comparable between a directory on disk and an unpacked image.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    Special(String),
}

fn tool(name: &str) -> bool {
    match Command::new(name).arg("--help").output() {
        Ok(_) => true,
        Err(_) if std::env::var("HASHWARD_REQUIRE_TOOLS").as_deref() == Ok("1") => {
            panic!("{name} is required (HASHWARD_REQUIRE_TOOLS=1) but missing")
        }
        Err(_) => {
            eprintln!("skipping: {name} not installed");
            false
        }
    }
}

/// A directory with nested dirs, files of many sizes, links and (as root) device nodes.
fn populate(root: &Path) -> bool {
    let w = |p: &str, d: &[u8]| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, d).unwrap();
    };
    w(
        "etc/init.d/S70cgminer",
        b"#!/bin/sh\nexec /usr/bin/cgminer --api-listen\n",
    );
    w("etc/empty", b"");
    w("etc/one", b"1");
    w("etc/page", &[b'p'; 4096]);
    let noisy: Vec<u8> = (0..150_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    w("usr/bin/bmminer", &noisy);
    let text: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i} of a config\n").into_bytes())
        .collect();
    w("usr/share/doc/long.txt", &text);
    std::fs::create_dir_all(root.join("config/empty/deeper")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("etc/sh")).unwrap();
    std::os::unix::fs::symlink("/".to_owned() + &"long/".repeat(30), root.join("etc/longlink")).unwrap();
    std::fs::hard_link(root.join("usr/bin/bmminer"), root.join("usr/bin/cgminer")).unwrap();
    // Device nodes need root; without it the test still covers everything else.
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    Command::new("mknod")
        .arg(dev.join("null"))
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("mkfifo")
            .arg(dev.join("fifo"))
            .status()
            .is_ok_and(|s| s.success())
}

fn from_disk(root: &Path) -> BTreeMap<String, Seen> {
    let mut m = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let seen = if ft.is_dir() {
                stack.push(p.clone());
                Seen::Dir
            } else if ft.is_symlink() {
                Seen::Symlink(
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else if ft.is_file() {
                Seen::File(std::fs::read(&p).unwrap())
            } else if ft.is_char_device() {
                let r = md.rdev();
                Seen::Special(format!("char {}:{}", libc_major(r), libc_minor(r)))
            } else if ft.is_fifo() {
                Seen::Special("fifo 0:0".into())
            } else {
                continue;
            };
            m.insert(rel, seen);
        }
    }
    m
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

fn from_sink(sink: &MemorySink) -> BTreeMap<String, Seen> {
    let mut m = BTreeMap::new();
    for (p, c) in &sink.entries {
        let p = String::from_utf8(p.clone()).unwrap();
        let seen = match c {
            Collected::Dir => Seen::Dir,
            Collected::File(d) => Seen::File(d.clone()),
            Collected::Symlink(t) => Seen::Symlink(t.clone()),
            Collected::Hardlink(t) => Seen::File(
                sink.file(std::str::from_utf8(t).unwrap())
                    .expect("hard link to a file")
                    .to_vec(),
            ),
            Collected::Special(w, a, b) => Seen::Special(format!("{w} {a}:{b}")),
        };
        assert!(m.insert(p.clone(), seen).is_none(), "{p} twice");
    }
    m
}

fn compare(want: &BTreeMap<String, Seen>, got: &BTreeMap<String, Seen>, what: &str) {
    let wk: Vec<&String> = want.keys().collect();
    let gk: Vec<&String> = got.keys().collect();
    assert_eq!(wk, gk, "{what}: paths differ");
    for (k, v) in want {
        assert!(&got[k] == v, "{what}: {k} differs");
    }
}

#[test]
fn mkfs_jffs2_images_read_back() {
    if !tool("mkfs.jffs2") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    populate(&root);
    let want = from_disk(&root);
    let variants: &[&[&str]] = &[
        &["-n"],
        &["-n", "--pad=0x800000"],
        &["-l"],
        &["-b", "-n"],
        &["-n", "-x", "zlib", "-x", "rtime"],
        &["-n", "-X", "rtime", "-x", "zlib"],
        &["-b", "-n", "-x", "zlib"],
    ];
    for (i, extra) in variants.iter().enumerate() {
        let img = tmp.path().join(format!("img{i}"));
        let st = Command::new("mkfs.jffs2")
            .arg("-r")
            .arg(&root)
            .arg("-o")
            .arg(&img)
            .args(["-e", "0x20000"])
            .args(*extra)
            .status()
            .unwrap();
        assert!(st.success(), "mkfs.jffs2 {extra:?}");
        let bytes = std::fs::read(&img).unwrap();
        let (r, sink) = run_in_memory("jffs2", &bytes, 1 << 30);
        let r = r.unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert!(sink.problems.is_empty(), "{extra:?}: {:?}", sink.problems);
        compare(&want, &from_sink(&sink), &format!("{extra:?}"));
        assert_eq!(r.consumed, Some(bytes.len() as u64), "{extra:?}");
        let endian = if extra.contains(&"-b") { "big" } else { "little" };
        assert_eq!(r.details["endian"], endian);
        if extra.contains(&"--pad=0x800000") {
            assert_eq!(bytes.len(), 0x800000);
        }
        if extra.contains(&"-X") {
            assert!(
                r.details["compression"]["rtime"].as_u64().unwrap_or(0) > 0,
                "{:?}",
                r.details
            );
        }
    }
}

/// A C5-style image (`-e 0x20000 --pad -n`) through the real engine.
#[test]
fn engine_unpacks_mkfs_jffs2_image() {
    if !tool("mkfs.jffs2") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    populate(&root);
    let img = tmp.path().join("angstrom_rootfs.jffs2");
    let st = Command::new("mkfs.jffs2")
        .arg("-r")
        .arg(&root)
        .arg("-o")
        .arg(&img)
        .args(["-e", "0x20000", "--pad=0x400000", "-n"])
        .status()
        .unwrap();
    assert!(st.success());
    let opts = hashward_firmware::UnpackOptions {
        out: tmp.path().join("out"),
        limits: hashward_firmware::Limits::default(),
        carve: false,
        keys: Vec::new(),
    };
    let report = hashward_firmware::unpack_image(&img, &opts, None).unwrap();
    let node = report
        .nodes
        .iter()
        .find(|n| n.format == "jffs2")
        .expect("identified as jffs2");
    assert_eq!(node.status, "ok", "{:?}", node.error);
    assert_eq!(node.size, Some(0x400000));
    let kinds: BTreeMap<&str, &str> = report
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind.as_str()))
        .collect();
    assert!(
        kinds.keys().any(|p| p.ends_with("etc/init.d/S70cgminer")),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(p, k)| p.ends_with("etc/sh") && *k == "symlink"),
        "{kinds:?}"
    );
    // One of the two names of the hard-linked binary is the file, the other the link.
    let links = kinds
        .iter()
        .filter(|(p, k)| {
            (p.ends_with("usr/bin/cgminer") || p.ends_with("usr/bin/bmminer")) && **k == "hardlink"
        })
        .count();
    assert_eq!(links, 1, "{kinds:?}");
}
