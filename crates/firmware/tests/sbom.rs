//! The CycloneDX SBOM read back by an independent implementation (the `cyclonedx-bom` crate):
//! it must parse as 1.5, pass its 1.5 validation, and survive a round trip unchanged, so no
//! field we write is silently dropped as unknown.

use cyclonedx_bom::models::bom::{Bom, SpecVersion};
use cyclonedx_bom::validation::Validate;
use hashward_firmware::inventory::{Component, ComponentEvidence, ComponentKind};
use hashward_firmware::sbom::{ImageRef, cyclonedx};

fn comp(
    name: &str,
    version: Option<&str>,
    kind: ComponentKind,
    file: &str,
    offset: Option<u64>,
) -> Component {
    Component {
        name: name.into(),
        version: version.map(Into::into),
        kind,
        rootfs: "squashfs-root".into(),
        evidence: vec![ComponentEvidence {
            file: file.into(),
            how: "version string".into(),
            offset,
        }],
    }
}

fn inventory() -> Vec<Component> {
    vec![
        comp(
            "linux",
            Some("4.6.0-xilinx-g03c746f7"),
            ComponentKind::Kernel,
            "uImage",
            None,
        ),
        comp(
            "glibc",
            Some("2.17"),
            ComponentKind::Library,
            "squashfs-root/lib/libc.so.6",
            Some(1900),
        ),
        comp(
            "busybox",
            Some("1.27.2"),
            ComponentKind::Application,
            "squashfs-root/bin/busybox",
            Some(77),
        ),
        comp(
            "dropbear",
            Some("2016.73"),
            ComponentKind::Application,
            "squashfs-root/usr/sbin/dropbear",
            Some(4),
        ),
        comp(
            "openssl",
            Some("1.0.2k"),
            ComponentKind::Library,
            "squashfs-root/usr/lib/libcrypto.so.1.0.0",
            Some(123),
        ),
        comp(
            "cgminer",
            Some("3.12.0"),
            ComponentKind::Application,
            "squashfs-root/usr/bin/cgminer",
            None,
        ),
        comp(
            "bmminer",
            None,
            ComponentKind::Application,
            "squashfs-root/usr/bin/bmminer",
            None,
        ),
    ]
}

const IMAGE: ImageRef<'static> = ImageRef {
    file_name: "Antminer-S9-all-201812051512-autofreq-user-Update2UBI-NF.tar.gz",
    sha256: "0f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a6978",
};

fn written() -> (String, serde_json::Value) {
    let bom = cyclonedx(IMAGE, &inventory(), "2024-05-01T12:00:00Z");
    let text = serde_json::to_string_pretty(&bom).unwrap();
    let value = serde_json::from_str(&text).unwrap();
    (text, value)
}

#[test]
fn the_sbom_is_valid_cyclonedx_1_5() {
    let (text, _) = written();
    let bom = Bom::parse_from_json_v1_5(text.as_bytes()).unwrap();
    let result = bom.validate_version(SpecVersion::V1_5);
    assert!(result.passed(), "{result:?}");
}

#[test]
fn the_sbom_survives_a_round_trip_unchanged() {
    let (text, ours) = written();
    let bom = Bom::parse_from_json_v1_5(text.as_bytes()).unwrap();
    let mut back = Vec::new();
    bom.output_as_json_v1_5(&mut back).unwrap();
    let theirs: serde_json::Value = serde_json::from_slice(&back).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn the_sbom_lists_the_components_and_their_vulnerabilities() {
    let (_, j) = written();
    let components = j["components"].as_array().unwrap();
    let row = |name: &str| {
        components
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(components.len(), 7);
    assert_eq!(row("linux")["type"], "operating-system");
    assert_eq!(row("linux")["version"], "4.6.0-xilinx-g03c746f7");
    assert_eq!(row("linux")["purl"], "pkg:generic/linux@4.6.0-xilinx-g03c746f7");
    assert_eq!(row("glibc")["type"], "library");
    assert_eq!(row("openssl")["purl"], "pkg:generic/openssl@1.0.2k");
    assert_eq!(row("busybox")["type"], "application");
    assert_eq!(row("busybox")["bom-ref"], "busybox@1.27.2:squashfs-root");
    assert_eq!(
        row("dropbear")["evidence"]["occurrences"][0]["location"],
        "squashfs-root/usr/sbin/dropbear"
    );
    assert!(row("bmminer").get("purl").is_none());
    assert_eq!(j["metadata"]["component"]["name"], IMAGE.file_name);
    assert_eq!(j["metadata"]["component"]["hashes"][0]["alg"], "SHA-256");

    let vulns = j["vulnerabilities"].as_array().unwrap();
    let ids: Vec<&str> = vulns.iter().map(|v| v["id"].as_str().unwrap()).collect();
    for want in [
        "CVE-2019-11477", // linux 4.6.0
        "CVE-2015-0235",  // glibc 2.17
        "CVE-2015-7547",
        "CVE-2016-7406", // dropbear 2016.73
        "CVE-2022-0778", // openssl 1.0.2k
        "CVE-2014-4501", // cgminer 3.12.0, one vulnerability per CVE of the entry
        "CVE-2014-4502",
    ] {
        assert!(ids.contains(&want), "{want} not in {ids:?}");
    }
    assert!(!ids.contains(&"CVE-2014-0160"), "1.0.2k is past Heartbleed");
    // Every affects reference names a component of the document.
    let refs: Vec<&str> = components
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    for v in vulns {
        for a in v["affects"].as_array().unwrap() {
            assert!(refs.contains(&a["ref"].as_str().unwrap()), "{a}");
        }
    }
    let sack = vulns.iter().find(|v| v["id"] == "CVE-2019-11477").unwrap();
    assert_eq!(
        sack["affects"][0]["ref"],
        "linux@4.6.0-xilinx-g03c746f7:squashfs-root"
    );
    assert_eq!(sack["ratings"][0]["severity"], "high");
}
