//! tar, cpio and zip readers against archives made by the real tools (GNU tar, GNU cpio,
//! Info-ZIP zip, Python's zipfile), and the fixture writers' output checked by those tools.
//!
//! A missing tool skips its test with a message, unless `HASHWARD_REQUIRE_TOOLS=1`.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use hashward_firmware::unpack::{MemorySink, run_in_memory};
use hashward_fixtures::archive::{TarStyle, cpio_newc, tar, zip};
use hashward_fixtures::tree::Tree;
use support::{Listing, Seen, assert_same_listing, listing_of_archive, listing_of_dir, run, tool};

/// Whether `name` is installed (else skip, or fail under `HASHWARD_REQUIRE_TOOLS=1`).
fn have(name: &str) -> bool {
    tool(name).is_some()
}

/// Fill `root` with dirs, files (empty, small, multi-block), symlinks, hard links and, when
/// `long` is set, names past tar's 100- and 255-byte limits.
fn populate(root: &Path, long: bool) {
    let mk = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    };
    mk("etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
    mk("etc/empty", b"");
    mk(
        "bin/busybox",
        &(0..40_000u32).flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>(),
    );
    mk("odd size", &[0xa5; 1023]);
    fs::create_dir_all(root.join("var/empty")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    std::os::unix::fs::symlink("../../../../etc/shadow", root.join("escape")).unwrap();
    fs::hard_link(root.join("etc/passwd"), root.join("etc/passwd.lnk")).unwrap();
    fs::hard_link(root.join("odd size"), root.join("bin/odd.lnk")).unwrap();
    if long {
        let deep = format!("{}/{}/{}", "a".repeat(90), "b".repeat(90), "c".repeat(120));
        mk(&deep, b"deep file");
        std::os::unix::fs::symlink("x/".repeat(70), root.join("longlink")).unwrap();
        fs::hard_link(root.join(&deep), root.join("hard-to-deep")).unwrap();
    }
}

/// Assert the sink holds exactly `want`, names compared without `./` and trailing `/`; a hard
/// link must point at a file with the same content.
fn compare(what: &str, want: &Listing, sink: &MemorySink) {
    assert_same_listing(what, want, &listing_of_archive(sink));
}

#[test]
fn gnu_tar_archives_in_every_format() {
    if !have("tar") {
        return;
    }
    for (format, long) in [("gnu", true), ("pax", true), ("ustar", false), ("v7", false)] {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir(&src).unwrap();
        populate(&src, long);
        let out = dir.path().join("a.tar");
        run(Command::new("tar")
            .arg(format!("--format={format}"))
            .arg("-C")
            .arg(&src)
            .arg("-cf")
            .arg(&out)
            .arg("."));
        let img = fs::read(&out).unwrap();
        let (r, sink) = run_in_memory("tar", &img, 64 << 20);
        let r = r.unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(sink.problems.is_empty(), "{format}: {:?}", sink.problems);
        let consumed = r.consumed.unwrap();
        assert!(
            consumed <= img.len() as u64 && consumed % 512 == 0,
            "{format}: consumed {consumed}"
        );
        assert!(
            img[consumed as usize..].iter().all(|&b| b == 0),
            "{format}: data after consumed"
        );
        compare(&format!("tar --format={format}"), &listing_of_dir(&src), &sink);
    }
}

#[test]
fn gnu_tar_accepts_our_tar_writer() {
    if !have("tar") {
        return;
    }
    let mut t = Tree::new();
    t.file("etc/passwd", "root\n")
        .file("empty", "")
        .file("big", vec![3u8; 3000])
        .file(&format!("{}/{}", "p".repeat(120), "q".repeat(140)), "long")
        .symlink("bin/sh", "busybox")
        .symlink("ll", &"l/".repeat(70))
        .hardlink("etc/passwd.lnk", "etc/passwd")
        .dir("var/empty");
    for style in [TarStyle::Ustar, TarStyle::Gnu, TarStyle::Pax] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.tar");
        fs::write(&file, tar(&t, style)).unwrap();
        let list = run(Command::new("tar").arg("-tvf").arg(&file));
        let lines = String::from_utf8_lossy(&list).lines().count();
        assert_eq!(
            lines,
            t.nodes.len(),
            "{style:?}: {}",
            String::from_utf8_lossy(&list)
        );
        let x = dir.path().join("x");
        fs::create_dir(&x).unwrap();
        run(Command::new("tar").arg("-C").arg(&x).arg("-xf").arg(&file));
        let got = listing_of_dir(&x);
        for (p, _) in t.nodes.iter() {
            match got.get(p) {
                Some(Seen::File(d)) => assert_eq!(Some(d.as_slice()), t.content(p), "{style:?} {p}"),
                Some(_) => {}
                None => panic!("{style:?}: tar did not extract {p}"),
            }
        }
    }
}

#[test]
fn gnu_cpio_archives_in_every_format() {
    if !have("cpio") {
        return;
    }
    for format in ["newc", "crc", "odc"] {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir(&src).unwrap();
        populate(&src, true);
        let out = dir.path().join("a.cpio");
        let cmd = format!("find . | cpio --quiet -o -H {format} > '{}'", out.display());
        run(Command::new("sh").arg("-c").arg(cmd).current_dir(&src));
        let img = fs::read(&out).unwrap();
        let (r, sink) = run_in_memory("cpio", &img, 64 << 20);
        let r = r.unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(sink.problems.is_empty(), "{format}: {:?}", sink.problems);
        assert_eq!(r.consumed, Some(img.len() as u64), "{format}");
        compare(&format!("cpio -H {format}"), &listing_of_dir(&src), &sink);
    }
}

#[test]
fn gnu_cpio_accepts_our_newc_writer() {
    if !have("cpio") {
        return;
    }
    let mut t = Tree::new();
    t.file("a/b", "bee")
        .file("c", "")
        .hardlink("d", "a/b")
        .symlink("e", "a/b")
        .chardev("dev/null", 1, 3);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.cpio");
    fs::write(&file, cpio_newc(&t)).unwrap();
    let list = run(Command::new("cpio")
        .arg("--quiet")
        .arg("-it")
        .arg("-F")
        .arg(&file));
    let mut names: Vec<String> = String::from_utf8_lossy(&list)
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    let mut want: Vec<String> = t.nodes.keys().cloned().collect();
    want.sort();
    assert_eq!(names, want);
}

/// Python script that zips a directory with symlinks stored as links (like `zip -y`).
const PY_ZIP: &str = r#"
import os, stat, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for d, dirs, files in os.walk(root):
        for n in sorted(dirs) + sorted(files):
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                zi = zipfile.ZipInfo(rel)
                zi.create_system = 3
                zi.external_attr = (stat.S_IFLNK | 0o777) << 16
                z.writestr(zi, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                z.write(p, rel)
            else:
                z.write(p, rel)
"#;

#[test]
fn zip_and_python_zipfile_archives() {
    let zip_tool = have("zip");
    let python = have("python3");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    populate(&src, true);
    // Hard links come out of zip as plain copies, which is what `listing_of_dir` sees too.
    let want = listing_of_dir(&src);
    let mut archives = Vec::new();
    if zip_tool {
        let out = dir.path().join("a.zip");
        run(Command::new("zip")
            .arg("-qry")
            .arg(&out)
            .arg(".")
            .current_dir(&src));
        archives.push(("zip -ry", out));
    }
    if python {
        let out = dir.path().join("p.zip");
        run(Command::new("python3").arg("-c").arg(PY_ZIP).arg(&src).arg(&out));
        archives.push(("python zipfile", out));
    }
    for (what, path) in archives {
        let img = fs::read(&path).unwrap();
        let (r, sink) = run_in_memory("zip", &img, 64 << 20);
        let r = r.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(sink.problems.is_empty(), "{what}: {:?}", sink.problems);
        assert_eq!(r.consumed, Some(img.len() as u64), "{what}");
        compare(what, &want, &sink);
    }
}

#[test]
fn python_zipfile_and_unzip_accept_our_zip_writer() {
    let mut t = Tree::new();
    t.file("etc/passwd", "root\n")
        .file("empty", "")
        .file("big", vec![9u8; 100_000])
        .symlink("sh", "busybox")
        .dir("v/e");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.zip");
    fs::write(&file, zip(&t)).unwrap();
    if have("python3") {
        let check = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint('\\n'.join(sorted(z.namelist())))";
        let out = run(Command::new("python3").arg("-c").arg(check).arg(&file));
        let names: Vec<String> = String::from_utf8_lossy(&out)
            .lines()
            .map(|l| l.trim_end_matches('/').to_owned())
            .collect();
        let want: Vec<String> = t.nodes.keys().cloned().collect();
        assert_eq!(names, want);
    }
    if have("unzip") {
        run(Command::new("unzip").arg("-tq").arg(&file));
    }
}

/// Through the real engine: a gzip-compressed tar (the stream path), a newc cpio with hard
/// links (data on the last link) and a zip, each carved out of one blob, land on disk with
/// their content, links created inside the root, and a traversal name contained.
#[test]
fn engine_extracts_our_archives() {
    use hashward_firmware::unpack::unpack_image;
    let mut t = Tree::new();
    t.file("etc/passwd", "root\n")
        .file("bin/busybox", vec![1u8; 5000])
        .symlink("bin/sh", "busybox")
        .hardlink("etc/passwd.lnk", "etc/passwd");
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar(&t, TarStyle::Pax)).unwrap();
    let tgz = gz.finish().unwrap();
    for (name, bytes) in [
        ("fw.tar.gz", tgz),
        ("fw.cpio", cpio_newc(&t)),
        ("fw.zip", zip(&t)),
    ] {
        let image = dir.path().join(name);
        fs::write(&image, &bytes).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        let opts = support::unpack_options(out.clone(), true);
        let report = unpack_image(&image, &opts, None).unwrap();
        let files: Vec<_> = report
            .entries
            .iter()
            .filter(|e| e.path.ends_with("etc/passwd"))
            .collect();
        assert!(!files.is_empty(), "{name}: {:?}", report.entries);
        let passwd = report
            .entries
            .iter()
            .find(|e| e.path.ends_with("etc/passwd.lnk"))
            .unwrap();
        assert!(!passwd.not_created, "{name}: {passwd:?}");
        assert_eq!(
            passwd.sha256.as_deref(),
            Some(hashward_fixtures::tree::sha256_hex(b"root\n").as_str()),
            "{name}: {passwd:?}"
        );
        let sh = report
            .entries
            .iter()
            .find(|e| e.path.ends_with("bin/sh"))
            .unwrap();
        assert_eq!(sh.kind, "symlink", "{name}");
        let malformed: Vec<_> = report.findings.iter().map(|f| f.message.clone()).collect();
        assert!(malformed.is_empty(), "{name}: {malformed:?}");
    }
}
