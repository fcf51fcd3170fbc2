//! JFFS2 images made by the real `mkfs.jffs2` (mtd-utils) read back by hashward's reader.
//!
//! Skipped (with a message) when the tool is missing, unless `HASHWARD_REQUIRE_TOOLS=1`.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use hashward_firmware::unpack::run_in_memory;
use support::{assert_same_listing, listing_of_dir, listing_of_sink, rootfs_tempdir, run, tool};

#[test]
fn mkfs_jffs2_images_read_back() {
    let Some(mkfs) = tool("mkfs.jffs2") else {
        return;
    };
    let (tmp, root) = rootfs_tempdir();
    let want = listing_of_dir(&root);
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
        run(Command::new(&mkfs)
            .arg("-r")
            .arg(&root)
            .arg("-o")
            .arg(&img)
            .args(["-e", "0x20000"])
            .args(*extra));
        let bytes = std::fs::read(&img).unwrap();
        let (r, sink) = run_in_memory("jffs2", &bytes, 1 << 30);
        let r = r.unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert!(sink.problems.is_empty(), "{extra:?}: {:?}", sink.problems);
        assert_same_listing(&format!("{extra:?}"), &want, &listing_of_sink(&sink));
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
    let Some(mkfs) = tool("mkfs.jffs2") else {
        return;
    };
    let (tmp, root) = rootfs_tempdir();
    let img = tmp.path().join("angstrom_rootfs.jffs2");
    run(Command::new(&mkfs)
        .arg("-r")
        .arg(&root)
        .arg("-o")
        .arg(&img)
        .args(["-e", "0x20000", "--pad=0x400000", "-n"]));
    let opts = support::unpack_options(tmp.path().join("out"), false);
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
