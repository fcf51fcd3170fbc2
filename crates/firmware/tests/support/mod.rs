//! Shared by the cross-check tests (`*_tools.rs`) that hold hashward's readers and fixture
//! writers against the real tools: finding a tool (or skipping), running one, writing a
//! [`Tree`] to a real directory, and reading a directory, a [`Tree`] or a [`MemorySink`] into
//! one comparable [`Listing`].
//!
//! Each test file includes this as `mod support;`.

// Every test file is its own crate and uses only some of these helpers; the rest would be
// reported as dead code once per test binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use hashward_firmware::unpack::{Collected, Limits, MemorySink, UnpackOptions};
use hashward_fixtures::tree::sha256_hex;
use hashward_fixtures::{Node, Tree};

/// Whether a missing tool must fail the test (`HASHWARD_REQUIRE_TOOLS=1`) instead of skipping it.
pub fn tools_required() -> bool {
    std::env::var("HASHWARD_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Where the executable `name` is: on `PATH`, or in the usual `bin` and `sbin` directories
/// (tools such as `mke2fs` or `mkfs.ubifs` live in `sbin`, which a user's `PATH` may lack).
///
/// When it is missing this panics under `HASHWARD_REQUIRE_TOOLS=1`, and otherwise says on
/// stderr that the test skips and returns `None`.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let usual = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    let found = std::env::split_paths(&path)
        .chain(usual.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0));
    if found.is_none() {
        if tools_required() {
            panic!("{name} is required (HASHWARD_REQUIRE_TOOLS=1) but not installed");
        }
        eprintln!("skipping: {name} not installed");
    }
    found
}

/// Whether every one of `names` is installed (see [`tool`]); stops at the first missing one.
pub fn have_all(names: &[&str]) -> bool {
    names.iter().all(|n| tool(n).is_some())
}

/// Run `cmd` to completion and return its stdout; panic with the command, its stdout and its
/// stderr unless it could be started and exited with status 0.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Options for `unpack_image` into `out`: default limits, no verification keys.
pub fn unpack_options(out: PathBuf, carve: bool) -> UnpackOptions {
    UnpackOptions {
        out,
        limits: Limits::default(),
        carve,
        keys: Vec::new(),
        jobs: 0,
    }
}

/// Fill `root` with a small rootfs: nested directories, an empty directory, files of many
/// sizes (empty, one byte, one page, a multi-block incompressible binary, long text), a short
/// and a long symlink, a hard link and (when `mknod` is permitted) `dev/null` and a FIFO.
/// Returns whether the device nodes were made.
pub fn populate_rootfs(root: &Path) -> bool {
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

/// A fresh temporary directory with `root/` in it, filled by [`populate_rootfs`]. The files
/// live as long as the returned `TempDir`.
pub fn rootfs_tempdir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    populate_rootfs(&root);
    (tmp, root)
}

/// Write `t` into `dir` (created if needed): directories, files with their modes, symlinks,
/// then hard links (after the files they name) and character devices through `mknod`.
///
/// Returns the tree actually written: a device is left out, with a note on stderr, when
/// `mknod` is not permitted (not root). Callers that need the devices compare it with `t`.
pub fn write_tree(t: &Tree, dir: &Path) -> Tree {
    std::fs::create_dir_all(dir).unwrap();
    let mut written = t.clone();
    for (path, node) in &t.nodes {
        let p = dir.join(path);
        match node {
            Node::Dir => std::fs::create_dir_all(&p).unwrap(),
            Node::File { data, mode } => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, data).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Node::Symlink(target) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(target, &p).unwrap();
            }
            Node::Hardlink(_) | Node::CharDev(..) => {}
        }
    }
    for (path, node) in &t.nodes {
        let p = dir.join(path);
        match node {
            Node::Hardlink(target) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::hard_link(dir.join(target), &p).unwrap();
            }
            Node::CharDev(major, minor) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                let made = Command::new("mknod")
                    .arg(&p)
                    .arg("c")
                    .arg(major.to_string())
                    .arg(minor.to_string())
                    .status()
                    .is_ok_and(|s| s.success());
                if !made {
                    eprintln!("note: mknod not permitted; {path} not written");
                    written.nodes.remove(path);
                }
            }
            _ => {}
        }
    }
    written
}

/// What one path is, comparable between a directory on disk, a [`Tree`] and an unpacked
/// container. Hard links are the files they are (their content); which name of a linked
/// group is "the file" is checked separately by [`assert_hardlink_group`].
#[derive(Clone, PartialEq, Eq)]
pub enum Seen {
    /// A directory.
    Dir,
    /// A regular file (or a hard link to one) and its bytes.
    File(Vec<u8>),
    /// A symlink and its raw target.
    Symlink(Vec<u8>),
    /// A device, FIFO or socket, as `char 1:3`, `block 8:0`, `fifo 0:0` or `socket 0:0`
    /// (the spelling of [`Collected::Special`]).
    Special(String),
}

/// File contents are shown as their length and hash, so a failed comparison stays readable.
impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Dir => write!(f, "Dir"),
            Seen::File(d) => write!(f, "File({} bytes, sha256 {})", d.len(), sha256_hex(d)),
            Seen::Symlink(t) => write!(f, "Symlink({:?})", String::from_utf8_lossy(t)),
            Seen::Special(s) => write!(f, "Special({s})"),
        }
    }
}

/// Relative `/`-separated path → what is there.
pub type Listing = BTreeMap<String, Seen>;

/// The Linux (glibc) major number of a `dev_t`.
pub fn dev_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

/// The Linux (glibc) minor number of a `dev_t`.
pub fn dev_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// Everything below `root` (not `root` itself), following no links: hard links appear as the
/// files they are, devices with their numbers, FIFOs and sockets as `fifo 0:0`/`socket 0:0`.
pub fn listing_of_dir(root: &Path) -> Listing {
    let mut out = Listing::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
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
            } else if ft.is_char_device() || ft.is_block_device() {
                let what = if ft.is_char_device() { "char" } else { "block" };
                let r = md.rdev();
                Seen::Special(format!("{what} {}:{}", dev_major(r), dev_minor(r)))
            } else if ft.is_fifo() {
                Seen::Special("fifo 0:0".into())
            } else if ft.is_socket() {
                Seen::Special("socket 0:0".into())
            } else {
                panic!("{}: unknown file type {ft:?}", p.display());
            };
            out.insert(rel, seen);
        }
    }
    out
}

/// What unpacking `t` must give back: every node including the implied parent directories,
/// hard links as their target's content.
pub fn listing_of_tree(t: &Tree) -> Listing {
    t.nodes
        .iter()
        .map(|(path, node)| {
            let seen = match node {
                Node::Dir => Seen::Dir,
                Node::File { data, .. } => Seen::File(data.clone()),
                Node::Symlink(target) => Seen::Symlink(target.as_bytes().to_vec()),
                Node::Hardlink(target) => Seen::File(
                    t.content(target)
                        .unwrap_or_else(|| panic!("{path}: hard link to {target}, not a file"))
                        .to_vec(),
                ),
                Node::CharDev(a, b) => Seen::Special(format!("char {a}:{b}")),
            };
            (path.clone(), seen)
        })
        .collect()
}

/// What a reader gave, names exactly as emitted (they must be UTF-8). A name emitted twice
/// fails; a hard link must name a file entry and stands for that file's content.
pub fn listing_of_sink(sink: &MemorySink) -> Listing {
    listing_with(sink, |p| {
        Some(String::from_utf8(p.to_vec()).unwrap_or_else(|_| panic!("name {p:?} is not UTF-8")))
    })
}

/// As [`listing_of_sink`], for archives whose names vary in spelling: see [`archive_name`].
pub fn listing_of_archive(sink: &MemorySink) -> Listing {
    listing_with(sink, archive_name)
}

/// An archive member's name as a relative path: one leading `./` and trailing `/`s (tar and
/// zip directories) dropped; `None` for the archive's root (`.`, `./`).
pub fn archive_name(p: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(p);
    let s = s.strip_prefix("./").unwrap_or(&s).trim_end_matches('/');
    (!s.is_empty() && s != ".").then(|| s.to_owned())
}

fn listing_with(sink: &MemorySink, name: impl Fn(&[u8]) -> Option<String>) -> Listing {
    let mut raw: BTreeMap<String, &Collected> = BTreeMap::new();
    for (p, c) in &sink.entries {
        let Some(n) = name(p) else { continue };
        assert!(raw.insert(n.clone(), c).is_none(), "{n} emitted twice");
    }
    raw.iter()
        .map(|(path, c)| {
            let seen = match c {
                Collected::Dir => Seen::Dir,
                Collected::File(d) => Seen::File(d.clone()),
                Collected::Symlink(t) => Seen::Symlink(t.clone()),
                Collected::Hardlink(t) => {
                    let target = name(t).unwrap_or_else(|| panic!("{path}: hard link to the root"));
                    match raw.get(&target) {
                        Some(Collected::File(d)) => Seen::File(d.clone()),
                        other => panic!("{path}: hard link to {target}, which is {other:?}"),
                    }
                }
                Collected::Special(what, a, b) => Seen::Special(format!("{what} {a}:{b}")),
            };
            (path.clone(), seen)
        })
        .collect()
}

/// Assert `got` holds exactly the paths of `want`, each the same; `what` names the case.
pub fn assert_same_listing(what: &str, want: &Listing, got: &Listing) {
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:?}, extra {extra:?}"
    );
    for (k, w) in want {
        assert_eq!(&got[k], w, "{what}: {k} differs");
    }
}

/// The hard-link groups of `t`: each file that has links, followed by its links.
pub fn hardlink_groups(t: &Tree) -> Vec<Vec<String>> {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (path, node) in &t.nodes {
        if let Node::Hardlink(target) = node {
            groups
                .entry(target)
                .or_insert_with(|| vec![target.clone()])
                .push(path.clone());
        }
    }
    groups.into_values().collect()
}

/// Names that are hard links of each other come back as exactly one file and, for the rest,
/// hard links to a name of the group.
pub fn assert_hardlink_group(sink: &MemorySink, group: &[impl AsRef<str>]) {
    let names: Vec<&str> = group.iter().map(AsRef::as_ref).collect();
    let mut files = 0;
    for name in &names {
        let (_, c) = sink
            .entries
            .iter()
            .find(|(p, _)| p == name.as_bytes())
            .unwrap_or_else(|| panic!("{name} missing"));
        match c {
            Collected::File(_) => files += 1,
            Collected::Hardlink(t) => assert!(
                names.iter().any(|g| g.as_bytes() == t.as_slice()),
                "{name} links to {} outside {names:?}",
                String::from_utf8_lossy(t)
            ),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(files, 1, "{names:?}: one file, the rest links");
}
