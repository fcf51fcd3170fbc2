//! squashfs against the real tools: images from `mksquashfs` read back by hashward, and images
//! from hashward's fixture writer read back by `unsquashfs`.
//!
//! Skipped (with a line on stderr) when squashfs-tools is missing, unless
//! `HASHWARD_REQUIRE_TOOLS=1`, in which case a missing tool fails the test.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use hashward_firmware::unpack::{Collected, MemorySink, run_in_memory};
use hashward_fixtures::Tree;
use hashward_fixtures::squashfs::{self, Compression, Options};
use hashward_fixtures::tree::sha256_hex;
use support::{
    Seen, assert_hardlink_group, assert_same_listing, listing_of_dir, listing_of_sink, run, tool, write_tree,
};

/// Pseudo-random, poorly compressible bytes.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// A rootfs-like tree: nested directories, files of many sizes, links and a device.
fn sample_tree(with_device: bool) -> Tree {
    let mut t = Tree::new();
    t.file_mode(
        "etc/init.d/S70cgminer",
        "#!/bin/sh\ncgminer --api-listen &\n",
        0o755,
    )
    .file("etc/hostname", "antminer\n")
    .file("etc/empty", "")
    .file("etc/one", "x")
    .file("usr/lib/libexact.so", noise(4096, 1))
    .file("usr/lib/libplus.so", noise(4097, 2))
    .file("usr/lib/libminus.so", noise(4095, 3))
    .file("usr/bin/cgminer", noise(200_000, 4))
    .file("usr/share/big.txt", b"hashrate 13.5 TH/s\n".repeat(20_000))
    .file_mode("bin/busybox", noise(70_000, 5), 0o755)
    .hardlink("bin/ls", "bin/busybox")
    .hardlink("sbin/init", "bin/busybox")
    .symlink("bin/sh", "busybox")
    .symlink("lib", "usr/lib")
    .symlink("etc/dangling", "../nowhere/at/all")
    .dir("var/empty")
    .dir("a/b/c/d/e/f/g");
    // Enough entries that the listing spans metadata blocks: an extended directory inode
    // with a directory index.
    for i in 0..700 {
        t.file(&format!("www/pages/page{i:03}.html"), format!("<p>{i}</p>\n"));
    }
    if with_device {
        t.chardev("dev/ttyS0", 4, 64);
    }
    t
}

/// Write `tree` into `dir`, device nodes included (the test needs root for `mknod`).
fn write_tree_with_devices(tree: &Tree, dir: &Path) {
    assert!(
        write_tree(tree, dir) == *tree,
        "{}: mknod failed (not root?)",
        dir.display()
    );
}

/// Read an image file with hashward and compare with the directory it was made from.
fn check_image(img: &Path, src: &Path) -> MemorySink {
    let data = std::fs::read(img).unwrap();
    let (r, sink) = run_in_memory("squashfs", &data, 1 << 30);
    let unpacked = r.unwrap_or_else(|e| panic!("{}: {e}", img.display()));
    assert!(sink.problems.is_empty(), "{}: {:?}", img.display(), sink.problems);
    assert!(!sink.entries.is_empty(), "{}", img.display());
    assert_eq!(unpacked.consumed, Some(data.len() as u64), "{}", img.display());
    assert_same_listing(
        &img.display().to_string(),
        &listing_of_dir(src),
        &listing_of_sink(&sink),
    );
    // Parents come before their contents.
    let names = sink.names();
    for (i, n) in names.iter().enumerate() {
        if let Some((parent, _)) = n.rsplit_once('/') {
            assert!(names[..i].iter().any(|p| p == parent), "{n} before its directory");
        }
    }
    sink
}

/// Build `img` from `src`; with `pseudo`, also add `dev/ttyS0` as a pseudo file (no mknod needed).
fn mksquashfs(src: &Path, img: &Path, args: &[&str], pseudo: bool) {
    let Some(mk) = tool("mksquashfs") else { return };
    // The pseudo device goes into an existing directory.
    std::fs::create_dir_all(src.join("dev")).unwrap();
    run(Command::new(mk)
        .arg(src)
        .arg(img)
        .args(["-noappend", "-quiet", "-no-progress", "-processors", "1"])
        .args(if pseudo {
            &["-p", "dev/ttyS0 c 640 0 0 4 64"][..]
        } else {
            &[]
        })
        .args(args));
}

#[test]
fn mksquashfs_images_read_back() {
    if tool("mksquashfs").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("root");
    let tree = sample_tree(false);
    write_tree(&tree, &src);
    // The pseudo definition adds dev/ttyS0 to the image; mirror it for the comparison.
    let want_dir = tmp.path().join("want");
    let mut want_tree = tree.clone();
    want_tree.chardev("dev/ttyS0", 4, 64);
    write_tree_with_devices(&want_tree, &want_dir);

    let cases: &[(&str, &[&str])] = &[
        ("gzip", &["-comp", "gzip"]),
        ("xz", &["-comp", "xz"]),
        ("xz-bcj", &["-comp", "xz", "-Xbcj", "arm,x86"]),
        ("lzo", &["-comp", "lzo"]),
        ("lz4", &["-comp", "lz4"]),
        ("lz4hc", &["-comp", "lz4", "-Xhc"]),
        ("zstd", &["-comp", "zstd"]),
        ("lzma", &["-comp", "lzma"]),
        ("gzip-4k", &["-comp", "gzip", "-b", "4096"]),
        ("xz-1m", &["-comp", "xz", "-b", "1M"]),
        ("zstd-nofrag", &["-comp", "zstd", "-no-fragments"]),
        ("lz4-4k-nofrag", &["-comp", "lz4", "-b", "4096", "-no-fragments"]),
        ("gzip-tailends", &["-comp", "gzip", "-b", "4096", "-tailends"]),
        ("uncompressed", &["-noI", "-noD", "-noF", "-noX"]),
        ("gzip-noexports", &["-comp", "gzip", "-no-exports", "-no-xattrs"]),
    ];
    for (name, args) in cases {
        let img = tmp.path().join(format!("{name}.sqfs"));
        mksquashfs(&src, &img, args, true);
        let sink = check_image(&img, &want_dir);
        assert_hardlink_group(&sink, &["bin/busybox", "bin/ls", "sbin/init"]);
    }
}

#[test]
fn mksquashfs_sparse_files_read_back() {
    if !support::have_all(&["mksquashfs", "truncate"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("root");
    std::fs::create_dir_all(&src).unwrap();
    run(Command::new("truncate")
        .args(["-s", "1M"])
        .arg(src.join("sparse.img")));
    // A hole between data: data, 300 KiB of nothing, data.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(src.join("holey.bin")).unwrap();
        f.write_all(&noise(5000, 9)).unwrap();
        f.seek(SeekFrom::Start(300 << 10)).unwrap();
        f.write_all(b"tail after the hole").unwrap();
    }
    std::fs::write(src.join("note"), "sparse files").unwrap();
    let want_dir = tmp.path().join("want");
    std::fs::create_dir_all(want_dir.join("dev")).unwrap();
    for n in ["sparse.img", "holey.bin", "note"] {
        std::fs::copy(src.join(n), want_dir.join(n)).unwrap();
    }
    run(Command::new("mknod")
        .arg(want_dir.join("dev/ttyS0"))
        .args(["c", "4", "64"]));
    for (name, args) in [
        ("xz", &["-comp", "xz"][..]),
        ("gzip-4k", &["-b", "4096"][..]),
        ("lz4-nofrag", &["-comp", "lz4", "-no-fragments"][..]),
    ] {
        let img = tmp.path().join(format!("{name}.sqfs"));
        mksquashfs(&src, &img, args, true);
        let sink = check_image(&img, &want_dir);
        assert_eq!(sink.file("sparse.img").unwrap().len(), 1 << 20);
        assert!(sink.file("sparse.img").unwrap().iter().all(|&b| b == 0));
    }
}

/// unsquashfs -lls lines: (type char, path, link target).
fn unsquashfs_list(img: &Path) -> Vec<(char, String, Option<String>)> {
    let Some(un) = tool("unsquashfs") else {
        return Vec::new();
    };
    let out = run(Command::new(un).args(["-lls", "-n"]).arg(img));
    let out = String::from_utf8_lossy(&out);
    let mut v = Vec::new();
    for line in out.lines() {
        let Some(ty) = line.chars().next() else { continue };
        if !"-dlcbps".contains(ty) || !line.contains("squashfs-root") {
            continue;
        }
        let Some(at) = line.find("squashfs-root") else {
            continue;
        };
        let rest = &line[at + "squashfs-root".len()..];
        let (path, target) = match rest.split_once(" -> ") {
            Some((p, t)) => (p, Some(t.to_owned())),
            None => (rest, None),
        };
        v.push((ty, path.trim_start_matches('/').to_owned(), target));
    }
    v
}

#[test]
fn fixture_images_pass_unsquashfs() {
    if tool("unsquashfs").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = sample_tree(true);
    let want_dir = tmp.path().join("want");
    write_tree_with_devices(&tree, &want_dir);
    let want = listing_of_dir(&want_dir);
    let un = tool("unsquashfs").unwrap();
    let comps = [
        Compression::None,
        Compression::Gzip,
        Compression::Lzma,
        Compression::Xz,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (i, comp) in comps.into_iter().enumerate() {
        for opts in [
            Options {
                compression: comp,
                ..Options::default()
            },
            Options {
                compression: comp,
                block_size: 128 << 10,
                fragments: false,
                ..Options::default()
            },
        ] {
            let img = tmp.path().join(format!("fixture{i}-{}.sqfs", opts.block_size));
            std::fs::write(&img, squashfs::build_with(&tree, &opts)).unwrap();
            let listed = unsquashfs_list(&img);
            assert_eq!(listed.len(), want.len() + 1, "{comp:?}: {listed:?}"); // plus the root
            for (ty, path, target) in &listed {
                if path.is_empty() {
                    continue;
                }
                let expect = match &want[path] {
                    Seen::Dir => 'd',
                    Seen::File(_) => '-',
                    Seen::Symlink(t) => {
                        assert_eq!(
                            target.as_deref().map(str::as_bytes),
                            Some(&t[..]),
                            "{comp:?} {path}"
                        );
                        'l'
                    }
                    Seen::Special(s) if s.starts_with("block ") => 'b',
                    Seen::Special(s) if s.starts_with("fifo ") => 'p',
                    Seen::Special(s) if s.starts_with("socket ") => 's',
                    Seen::Special(_) => 'c',
                };
                assert_eq!(*ty, expect, "{comp:?} {path}");
            }
            let out = tmp.path().join(format!("out{i}-{}", opts.block_size));
            run(Command::new(&un).args(["-n", "-d"]).arg(&out).arg(&img));
            assert_eq!(listing_of_dir(&out), want, "{comp:?}");
            let got = std::fs::metadata(out.join("etc/init.d/S70cgminer"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777;
            assert_eq!(got, 0o755);
            // And hashward reads what it wrote.
            check_image(&img, &want_dir);
        }
    }
}

#[test]
fn engine_unpacks_a_mksquashfs_image() {
    use hashward_firmware::unpack::unpack_image;
    if tool("mksquashfs").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("root");
    let tree = sample_tree(false);
    write_tree(&tree, &src);
    let img = tmp.path().join("rootfs.sqfs");
    mksquashfs(&src, &img, &["-comp", "xz"], true);
    let opts = support::unpack_options(tmp.path().join("out"), true);
    let report = unpack_image(&img, &opts, None).unwrap();
    let find = |suffix: &str| {
        report
            .entries
            .iter()
            .find(|e| e.path.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} missing"))
    };
    let init = find("etc/init.d/S70cgminer");
    assert_eq!(init.kind, "file");
    assert_eq!(
        init.sha256.as_deref(),
        Some(sha256_hex(tree.content("etc/init.d/S70cgminer").unwrap()).as_str())
    );
    assert_eq!(init.layers.last().map(String::as_str), Some("squashfs"));
    assert_eq!(find("bin/ls").kind, "hardlink");
    assert_eq!(find("bin/sh").kind, "symlink");
    assert_eq!(find("dev/ttyS0").target.as_deref(), Some("char 4:64"));
    assert_eq!(
        find("usr/bin/cgminer").sha256.as_deref(),
        Some(sha256_hex(tree.content("usr/bin/cgminer").unwrap()).as_str())
    );
    let out = std::fs::read(opts.out.join(&init.path)).unwrap();
    assert_eq!(out, tree.content("etc/init.d/S70cgminer").unwrap());
}

/// Extended inodes of every type, carrying xattrs (which are skipped), and an xattr table.
#[test]
fn mksquashfs_xattrs_and_every_inode_type() {
    if tool("mksquashfs").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("root");
    write_tree(&sample_tree(false), &src);
    std::fs::create_dir_all(src.join("dev")).unwrap();
    // Real special files (the test runs as root in CI; skip what cannot be made).
    let made = Command::new("mknod")
        .arg(src.join("dev/sda"))
        .args(["b", "8", "0"])
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skip: cannot mknod (not root)");
        return;
    }
    run(Command::new("mknod")
        .arg(src.join("dev/null"))
        .args(["c", "1", "3"]));
    run(Command::new("mknod").arg(src.join("dev/initctl")).arg("p"));
    // xattrs on a file, a directory, a symlink and the special files, set through Python
    // (there is no safe Rust call for it in the workspace's dependencies).
    let script = r#"
import os, socket, sys
root = sys.argv[1]
s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(root, 'dev/log'))
os.setxattr(os.path.join(root, 'etc/hostname'), b'user.comment', b'antminer')
os.setxattr(os.path.join(root, 'etc'), b'user.dir', b'x' * 300)
for p in ['bin/sh', 'dev/sda', 'dev/null', 'dev/initctl', 'dev/log']:
    os.setxattr(os.path.join(root, p), b'trusted.t', b'y', follow_symlinks=False)
"#;
    let Ok(out) = Command::new("python3").arg("-c").arg(script).arg(&src).output() else {
        eprintln!("skip: python3 not available");
        return;
    };
    if !out.status.success() {
        eprintln!(
            "skip: cannot set xattrs here: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    for (name, args) in [
        ("gzip", &["-comp", "gzip", "-xattrs"][..]),
        (
            "xz-4k",
            &["-comp", "xz", "-b", "4096", "-xattrs", "-no-exports"][..],
        ),
        ("lz4-nofrag", &["-comp", "lz4", "-xattrs", "-no-fragments"][..]),
    ] {
        let img = tmp.path().join(format!("{name}.sqfs"));
        mksquashfs(&src, &img, args, false);
        let sink = check_image(&img, &src);
        let kinds: Vec<&Collected> = ["dev/sda", "dev/initctl", "dev/log"]
            .iter()
            .map(|n| &sink.entries.iter().find(|(p, _)| p == n.as_bytes()).unwrap().1)
            .collect();
        assert_eq!(kinds[0], &Collected::Special("block", 8, 0));
        assert_eq!(kinds[1], &Collected::Special("fifo", 0, 0));
        assert_eq!(kinds[2], &Collected::Special("socket", 0, 0));
    }
}
