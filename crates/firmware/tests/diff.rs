//! `firmware diff` on inspected images that differ in known ways: an S9 update that starts
//! telnetd at boot, changes root's password, ships a private key, drops a binary and changes a
//! pool, each seen exactly once where it belongs; an image against itself, empty; and the same
//! root file system carved at another offset of a renamed blob, paired file by file.

use hashward_firmware::diff::{FirmwareDiff, SectionDiff};
use hashward_firmware::{InspectReport, Limits, UnpackOptions, diff, inspect};
use hashward_fixtures::archive::{TarStyle, tar};
use hashward_fixtures::samples::{self, gzip};
use hashward_fixtures::{Tree, rootfs, squashfs};

fn run(name: &str, bytes: &[u8]) -> (InspectReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join(name);
    std::fs::write(&image, bytes).unwrap();
    let opts = UnpackOptions {
        out: dir.path().join("out"),
        limits: Limits::default(),
        carve: true,
        keys: Vec::new(),
        jobs: 0,
    };
    (inspect(&image, &opts, None).unwrap(), dir)
}

/// Where the S9's xilinx root file system is extracted.
const ROOT: &str = "xilinx/angstrom_rootfs.jffs2.extracted/rootfs.ubifs.extracted";

fn private_key_pem() -> String {
    use base64::Engine as _;
    let mut der = vec![0x30u8, 0x82, 0x01, 0x20];
    der.extend((0..288u32).map(|i| (i * 7 + 3) as u8));
    let b = base64::engine::general_purpose::STANDARD.encode(&der);
    format!("-----BEGIN PRIVATE KEY-----\n{b}\n-----END PRIVATE KEY-----\n")
}

/// The S9 root file system after a hypothetical vendor update.
fn s9_update() -> Tree {
    let mut t = rootfs::s9();
    t.file("etc/inittab", "::respawn:/usr/sbin/telnetd -F -l /bin/sh\n");
    t.file(
        "config/shadow",
        format!("root:{}:15937:0:99999:7:::\n", rootfs::SHADOW_MINER_MINER),
    );
    t.file("etc/update-signing.key", private_key_pem());
    t.nodes.remove("usr/bin/single-board-test");
    // The same configuration with the first pool pointed elsewhere.
    let conf = String::from_utf8(t.content("config/bmminer.conf").unwrap().to_vec()).unwrap();
    t.file(
        "config/bmminer.conf",
        conf.replace("192.168.110.30:3333", "stratum+tcp://pool.elsewhere.example:3333"),
    );
    t
}

fn keys<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|i| key(i).to_owned()).collect();
    v.sort();
    v
}

fn section<'d>(d: &'d FirmwareDiff, name: &str) -> &'d SectionDiff {
    d.inventory
        .get(name)
        .unwrap_or_else(|| panic!("no section {name}"))
}

#[test]
fn an_s9_update_shows_each_change_once_where_it_belongs() {
    let (old, _a) = run("s9-old.tar.gz", &samples::s9().bytes);
    let (new, _b) = run("s9-new.tar.gz", &samples::s9_with(s9_update()).bytes);
    let d = diff(&old, &new);

    // Files: two added, one removed; the changed ones are the two edited files and the
    // containers (and checksum file) that hold them.
    let f = &d.files;
    assert_eq!(
        keys(&f.added.items, |s| &s.key),
        [
            format!("{ROOT}/etc/inittab"),
            format!("{ROOT}/etc/update-signing.key")
        ],
        "{:#?}",
        f.added
    );
    assert_eq!(
        keys(&f.removed.items, |s| &s.key),
        [format!("{ROOT}/usr/bin/single-board-test")]
    );
    assert_eq!(
        keys(&f.changed.items, |c| &c.key),
        [
            "ubi_info".to_owned(),
            "xilinx/angstrom_rootfs.jffs2".to_owned(),
            "xilinx/angstrom_rootfs.jffs2.extracted/rootfs.ubifs".to_owned(),
            format!("{ROOT}/config/bmminer.conf"),
            format!("{ROOT}/config/shadow"),
        ],
        "{:#?}",
        f.changed
    );
    assert!(f.changed.items.iter().all(|c| c.fields == ["sha256"]));
    assert!(f.unchanged > 100, "{}", f.unchanged);
    assert!(d.paired.items.is_empty(), "nothing was renamed: {:#?}", d.paired);

    // Inventory: each change in its section, once; every other section untouched.
    let services = section(&d, "services");
    assert_eq!(
        (
            services.added.total,
            services.removed.total,
            services.changed.total
        ),
        (1, 0, 0),
        "{services:#?}"
    );
    assert_eq!(services.added.items[0]["daemons"], serde_json::json!(["telnetd"]));
    let accounts = section(&d, "accounts");
    assert_eq!(
        (
            accounts.added.total,
            accounts.removed.total,
            accounts.changed.total
        ),
        (0, 0, 1),
        "{accounts:#?}"
    );
    let root = &accounts.changed.items[0];
    assert_eq!(root.key["user"], "root");
    assert_eq!(root.fields, ["passwords"]);
    let known = |v: &serde_json::Value| -> Vec<String> {
        v["passwords"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| Some(p["password"].as_str()?.to_owned()))
            .collect()
    };
    assert_eq!(
        (known(&root.old), known(&root.new)),
        (vec!["admin".into()], vec!["miner".into()])
    );
    let keys_s = section(&d, "keys");
    assert_eq!(
        (keys_s.added.total, keys_s.removed.total, keys_s.changed.total),
        (1, 0, 0),
        "{keys_s:#?}"
    );
    assert_eq!(
        keys_s.added.items[0]["file"],
        format!("{ROOT}/etc/update-signing.key")
    );
    let bins = section(&d, "binaries");
    assert_eq!(
        (bins.added.total, bins.removed.total, bins.changed.total),
        (0, 1, 0),
        "{bins:#?}"
    );
    let api = section(&d, "miner_api");
    assert_eq!(
        (api.added.total, api.removed.total, api.changed.total),
        (0, 0, 1),
        "{api:#?}"
    );
    assert_eq!(
        api.changed.items[0].key["file"],
        format!("{ROOT}/config/bmminer.conf")
    );
    assert_eq!(api.changed.items[0].fields, ["pools"]);
    assert_eq!(
        api.changed.items[0].new["pools"][0]["url"],
        "stratum+tcp://pool.elsewhere.example:3333"
    );
    // The new pool is a new endpoint; the old one is still in the factory configuration.
    let ep = section(&d, "endpoints");
    let added: Vec<&str> = ep
        .added
        .items
        .iter()
        .filter_map(|v| v["value"].as_str())
        .collect();
    assert_eq!(added, ["stratum+tcp://pool.elsewhere.example:3333"], "{ep:#?}");
    assert_eq!(ep.removed.total, 0, "{ep:#?}");
    // telnetd at boot is a new listener on port 23.
    let net = section(&d, "network");
    assert_eq!(net.changed.total, 1, "{net:#?}");
    let listeners = net.changed.items[0].new["listeners"].as_array().unwrap();
    assert!(
        listeners
            .iter()
            .any(|l| l["service"] == "telnetd" && l["port"] == 23),
        "{listeners:#?}"
    );
    for (name, s) in &d.inventory {
        if ![
            "services",
            "accounts",
            "keys",
            "binaries",
            "miner_api",
            "endpoints",
            "network",
        ]
        .contains(&name.as_str())
        {
            assert!(s.is_empty(), "{name}: {s:#?}");
        }
    }

    // Findings: telnetd at boot and the shipped key are new; root's password finding changed.
    let fd = &d.findings;
    let new_rules: Vec<(&str, String)> = fd
        .new
        .items
        .iter()
        .map(|f| (f.rule.as_str(), subject_path(f)))
        .collect();
    assert_eq!(
        new_rules,
        [
            ("FW-007", format!("{ROOT}/etc/update-signing.key")),
            ("FW-012", format!("{ROOT}/etc/inittab")),
        ],
        "{fd:#?}"
    );
    assert!(fd.gone.items.is_empty(), "{:#?}", fd.gone);
    let password: Vec<_> = fd
        .changed
        .items
        .iter()
        .filter(|c| c.new.rule.as_str() == "FW-005")
        .collect();
    assert_eq!(password.len(), 1, "{:#?}", fd.changed);
    assert_eq!(password[0].fields, ["message"]);
    assert!(password[0].old.message.contains("\"admin\"") && password[0].new.message.contains("\"miner\""));
    // The dropped binary also changes the count in each hardening summary of that root file
    // system ("1 of 10 programs" → "1 of 9"), and nothing else changes.
    let others: Vec<_> = fd
        .changed
        .items
        .iter()
        .filter(|c| c.new.rule.as_str() != "FW-005")
        .collect();
    assert!(!others.is_empty());
    for c in &others {
        assert_eq!(
            (c.new.rule.as_str(), c.fields.as_slice()),
            ("FW-015", ["message"].as_slice())
        );
        assert!(
            c.old.message.contains(" of 10 programs") && c.new.message.contains(" of 9 programs"),
            "{c:#?}"
        );
    }
    assert!(fd.unchanged > 0);
    // What a gate fails on: the new findings and the changed ones, as the new image has them.
    let mut introduced: Vec<&str> = d.introduced.iter().map(|f| f.rule.as_str()).collect();
    introduced.sort_unstable();
    introduced.dedup();
    assert_eq!(introduced, ["FW-005", "FW-007", "FW-012", "FW-015"]);
    assert_eq!(d.introduced.len(), fd.new.total + fd.changed.total);
    assert!(d.introduced.iter().any(|f| f.message.contains("\"miner\"")));
}

fn subject_path(f: &hashward_model::Finding) -> String {
    match &f.subject {
        hashward_model::Subject::FirmwareFile { path, .. } => path.clone(),
        other => format!("{other:?}"),
    }
}

#[test]
fn an_image_against_itself_is_empty_also_across_two_inspections() {
    let s = samples::s9();
    let (a, _a) = run(s.file_name, &s.bytes);
    let (b, _b) = run(s.file_name, &s.bytes);
    for d in [diff(&a, &a), diff(&a, &b)] {
        assert!(d.is_empty(), "{:#?}", (&d.files.changed, &d.findings.changed));
        assert!(d.introduced.is_empty());
        assert_eq!(d.files.unchanged, a.unpack.entries.len());
        assert_eq!(d.findings.unchanged, a.findings.len());
        let items: usize = d.inventory.values().map(|s| s.unchanged).sum();
        assert!(items > 0);
    }
}

/// A package holding a blob named with its version, with a squashfs root file system at some
/// offset inside it (what carving finds).
fn blob_package(version: &str, pad: usize, t: &Tree) -> Vec<u8> {
    let mut blob = vec![0u8; pad];
    blob.extend(squashfs::build(t, squashfs::Compression::Gzip));
    let mut pkg = Tree::new();
    pkg.file(&format!("firmware-{version}.bin"), blob);
    gzip(&tar(&pkg, TarStyle::Gnu))
}

#[test]
fn the_same_file_at_a_shifted_carve_offset_in_a_renamed_blob_pairs_up() {
    let mut t = Tree::new();
    t.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        .file("etc/version", "1.0\n")
        .file_mode("usr/bin/tool", vec![7u8; 5000], 0o755);
    let (old, _a) = run("old.tar.gz", &blob_package("1.0", 0x100, &t));
    t.file("etc/version", "1.1\n");
    let (new, _b) = run("new.tar.gz", &blob_package("1.1", 0x2340, &t));
    // The literal paths really differ.
    assert!(
        old.unpack
            .entries
            .iter()
            .any(|e| e.path == "firmware-1.0.bin.extracted/0x100/etc/passwd")
    );
    assert!(
        new.unpack
            .entries
            .iter()
            .any(|e| e.path == "firmware-1.1.bin.extracted/0x2340/etc/passwd")
    );
    let d = diff(&old, &new);
    assert!(d.files.added.items.is_empty(), "{:#?}", d.files.added);
    assert!(d.files.removed.items.is_empty(), "{:#?}", d.files.removed);
    assert_eq!(
        keys(&d.files.changed.items, |c| &c.key),
        [
            "firmware-*.*.bin",
            "firmware-*.*.bin.extracted/@carve1/etc/version"
        ],
        "{:#?}",
        d.files.changed
    );
    let version = d
        .files
        .changed
        .items
        .iter()
        .find(|c| c.key.ends_with("etc/version"))
        .unwrap();
    assert_eq!(version.old.path, "firmware-1.0.bin.extracted/0x100/etc/version");
    assert_eq!(version.new.path, "firmware-1.1.bin.extracted/0x2340/etc/version");
    // The account, keyed the same way, did not change.
    assert!(
        section(&d, "accounts").is_empty(),
        "{:#?}",
        section(&d, "accounts")
    );
    assert!(section(&d, "accounts").unchanged > 0);
    let pairs: Vec<(&str, &str)> = d
        .paired
        .items
        .iter()
        .map(|p| (p.old.as_str(), p.new.as_str()))
        .collect();
    assert!(
        pairs.contains(&("firmware-1.0.bin", "firmware-1.1.bin")),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&(
            "firmware-1.0.bin.extracted/0x100",
            "firmware-1.1.bin.extracted/0x2340"
        )),
        "{pairs:?}"
    );
}
