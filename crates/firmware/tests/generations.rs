//! Every Bitmain packaging generation (and a Braiins-style squashfs upgrade), built in code,
//! unpacked end to end: the full file list of each root file system comes back with the right
//! kinds, content hashes, link targets and device numbers, through every layer.

use std::collections::BTreeMap;

use hashward_firmware::unpack::{EntryRecord, UnpackReport, VerifyKey, unpack_image};
use hashward_firmware::{Limits, UnpackOptions};
use hashward_fixtures::samples::{self, Sample};

fn unpack(s: &Sample) -> (UnpackReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join(s.file_name);
    std::fs::write(&image, &s.bytes).unwrap();
    let keys = s
        .keys
        .iter()
        .map(|(n, k)| VerifyKey {
            name: n.to_string(),
            key: k.clone(),
        })
        .collect();
    let opts = UnpackOptions {
        out: dir.path().join("out"),
        limits: Limits::default(),
        carve: true,
        keys,
        jobs: 0,
    };
    (unpack_image(&image, &opts, None).unwrap(), dir)
}

/// The manifest form of an extracted entry: (kind, sha256 or target).
fn entry_sig(e: &EntryRecord) -> (String, String) {
    match e.kind.as_str() {
        "file" => ("file".into(), e.sha256.as_deref().unwrap_or_default().to_owned()),
        "dir" => ("dir".into(), String::new()),
        "device" => (
            "device".into(),
            e.target.as_deref().unwrap_or_default().to_owned(),
        ),
        k => (k.into(), e.target.as_deref().unwrap_or_default().to_owned()),
    }
}

/// Every extraction of `tree` in the report: the directory prefixes under which an entry
/// produced by the `fs` layer has the tree's landmark file.
fn roots_of(report: &UnpackReport, fs: &str, landmark: &str) -> Vec<String> {
    report
        .entries
        .iter()
        .filter(|e| e.layers.last().map(String::as_str) == Some(fs))
        .filter_map(|e| e.path.strip_suffix(landmark).map(str::to_owned))
        .collect()
}

fn assert_tree_extracted(
    report: &UnpackReport,
    role: &str,
    tree: &hashward_fixtures::Tree,
    fs: &str,
) -> usize {
    let roots = roots_of(report, fs, "bin/busybox");
    assert!(
        !roots.is_empty(),
        "{role}: no {fs} layer holding bin/busybox; entries: {:#?}",
        report.nodes
    );
    for root in &roots {
        let want = tree.manifest("");
        let got: BTreeMap<String, (String, String)> = report
            .entries
            .iter()
            .filter_map(|e| {
                e.path
                    .strip_prefix(root.as_str())
                    .map(|p| (p.to_owned(), entry_sig(e)))
            })
            // mke2fs, like our ext2 writer, always makes lost+found.
            .filter(|(p, _)| {
                !(p.is_empty() || p.contains(".extracted") || (fs == "ext" && p == "lost+found"))
            })
            .collect();
        let missing: Vec<_> = want
            .iter()
            .filter(|(p, v)| got.get(*p) != Some(v))
            .take(10)
            .collect();
        assert!(
            missing.is_empty(),
            "{role} under {root}: wrong or missing {missing:#?}"
        );
        let extra: Vec<_> = got.keys().filter(|p| !want.contains_key(*p)).take(10).collect();
        assert!(extra.is_empty(), "{role} under {root}: unexpected {extra:?}");
    }
    roots.len()
}

fn layers_seen(report: &UnpackReport) -> Vec<String> {
    let mut v: Vec<String> = report.nodes.iter().map(|n| n.layers.join(">")).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn gen1_tar_gz_with_uimage_cpio_initramfs() {
    let s = samples::gen1();
    let (r, _d) = unpack(&s);
    assert_eq!(assert_tree_extracted(&r, "rootfs", &s.trees[0].1, "cpio"), 1);
    let chain = r
        .entries
        .iter()
        .find(|e| e.path.ends_with("bin/busybox"))
        .unwrap();
    assert_eq!(*chain.layers, ["gzip", "tar", "uimage", "gzip", "cpio"]);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn s9_tar_gz_with_ubi_ubifs_and_c5_jffs2() {
    let s = samples::s9();
    let (r, _d) = unpack(&s);
    assert_eq!(assert_tree_extracted(&r, "rootfs", &s.trees[0].1, "ubifs"), 1);
    assert_eq!(assert_tree_extracted(&r, "c5-rootfs", &s.trees[1].1, "jffs2"), 1);
    let l = layers_seen(&r);
    assert!(l.contains(&"gzip>tar>ubi>ubifs".to_owned()), "{l:?}");
    assert!(l.contains(&"gzip>tar>jffs2".to_owned()), "{l:?}");
    assert!(
        r.entries
            .iter()
            .any(|e| e.path == "xilinx/upgrade-marker.bin" && e.size == Some(16))
    );
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn s17_signed_tar_gz_with_nested_fw_tar_gz() {
    let s = samples::s17();
    let (r, _d) = unpack(&s);
    assert_eq!(assert_tree_extracted(&r, "rootfs", &s.trees[0].1, "cpio"), 1);
    let links = r
        .entries
        .iter()
        .filter(|e| e.kind == "symlink" && e.layers.last().map(String::as_str) == Some("cpio"))
        .count();
    assert!(links >= 300, "{links} symlinks");
    let chain = r
        .entries
        .iter()
        .find(|e| e.path.ends_with("bin/busybox"))
        .unwrap();
    assert_eq!(
        *chain.layers,
        ["gzip", "tar", "gzip", "tar", "uimage", "gzip", "cpio"]
    );
    for sig in ["runme.sh.sig", "cert.pem.sig", "fw.tar.gz.sig"] {
        assert!(
            r.entries
                .iter()
                .any(|e| e.path.ends_with(sig) && e.size == Some(512)),
            "{sig}"
        );
    }
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn s21_single_bmu_with_ext2_rootfs_and_verified_signatures() {
    let s = samples::s21();
    let (r, _d) = unpack(&s);
    assert_eq!(assert_tree_extracted(&r, "rootfs", &s.trees[0].1, "ext"), 1);
    let chain = r
        .entries
        .iter()
        .find(|e| e.path.ends_with("bin/busybox"))
        .unwrap();
    assert_eq!(*chain.layers, ["bmu", "uimage", "gzip", "ext"]);
    let bmu = r.nodes.iter().find(|n| n.format == "bmu").unwrap();
    let text = bmu.details.to_string();
    assert!(text.contains("zynq7007_HHB68XXX"), "{text}");
    assert!(!text.contains("invalid"), "every signature must verify: {text}");
    assert!(text.contains("valid"), "{text}");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn s21_signatures_fail_with_the_wrong_key() {
    let mut s = samples::s21();
    s.keys = vec![("other.pub", hashward_fixtures::keys::other_2048().public.clone())];
    let (r, _d) = unpack(&s);
    let bmu = r.nodes.iter().find(|n| n.format == "bmu").unwrap();
    assert!(bmu.details.to_string().contains("invalid"), "{}", bmu.details);
}

#[test]
fn s19_merge_bmu_holds_one_signed_image_per_board() {
    let s = samples::s19_merge();
    let (r, _d) = unpack(&s);
    assert_eq!(assert_tree_extracted(&r, "rootfs", &s.trees[0].1, "ext"), 2);
    let chain = r
        .entries
        .iter()
        .find(|e| e.path.ends_with("bin/busybox"))
        .unwrap();
    assert_eq!(*chain.layers, ["bmu-merge", "bmu", "uimage", "gzip", "ext"]);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn braiins_style_tar_with_fit_and_squashfs() {
    let s = samples::braiins();
    let (r, _d) = unpack(&s);
    assert_eq!(assert_tree_extracted(&r, "rootfs", &s.trees[0].1, "squashfs"), 1);
    let l = layers_seen(&r);
    assert!(l.iter().any(|x| x == "tar>fit"), "{l:?}");
    assert!(l.iter().any(|x| x == "tar>fit>gzip"), "{l:?}");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}
