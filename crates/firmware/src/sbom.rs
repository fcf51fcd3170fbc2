//! A CycloneDX 1.5 JSON SBOM of the components found in a firmware image, with the FW-014
//! matches of `rules/vulnerable.toml` as its vulnerabilities.
//!
//! - The image itself is `metadata.component`, of type `firmware`, with its SHA-256 and file
//!   name. Each inventoried component becomes a component: programs `application`, shared
//!   libraries `library`, and both the build system release and the kernel `operating-system`
//!   (the spec's type for an operating system; `firmware` is kept for the device image).
//! - `bom-ref`s are `name@version:rootfs` (`unknown` for a missing version), made unique with a
//!   `#n` suffix; `purl` is `pkg:generic/name@version`, only when the version is known.
//!   `evidence.occurrences` lists the files the component was seen in; the root file system
//!   and how the version was read go in `hashward:` properties.
//! - **Serial number.** Derived, not random: a version-8 UUID (RFC 9562, custom) from the
//!   SHA-256 of the hashward version, the image SHA-256 and the document's components and
//!   vulnerabilities. The same hashward reading the same image therefore writes the same BOM
//!   (byte for byte when `metadata.timestamp` is pinned, e.g. from `SOURCE_DATE_EPOCH`), a
//!   consumer treats a rerun as the same BOM rather than a new document for an unchanged image,
//!   and a different result gets a different serial. This departs knowingly from the spec's
//!   advice that every generated BOM SHOULD get a fresh serial: for evidence, a reviewer who
//!   reruns the tool must be able to get the identical document.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::inventory::{Component, ComponentKind};
use crate::vulns::{self, Table};

/// The firmware image an SBOM describes.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    /// Its file name (no directory).
    pub file_name: &'a str,
    /// SHA-256, lowercase hex.
    pub sha256: &'a str,
}

/// A CycloneDX 1.5 document, ready to serialise as JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycloneDx {
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<BomComponent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vulnerabilities: Vec<BomVulnerability>,
}

impl CycloneDx {
    /// The `urn:uuid:` serial number.
    pub fn serial_number(&self) -> &str {
        &self.serial_number
    }
}

#[derive(Debug, Clone, Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: BomComponent,
}

#[derive(Debug, Clone, Serialize)]
struct Tools {
    components: Vec<Tool>,
}

#[derive(Debug, Clone, Serialize)]
struct Tool {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct BomComponent {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<Evidence>,
}

#[derive(Debug, Clone, Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Debug, Clone, Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Debug, Clone, Serialize)]
struct Evidence {
    occurrences: Vec<Occurrence>,
}

#[derive(Debug, Clone, Serialize)]
struct Occurrence {
    location: String,
}

#[derive(Debug, Clone, Serialize)]
struct BomVulnerability {
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    id: String,
    source: Source,
    ratings: Vec<Rating>,
    description: String,
    recommendation: String,
    advisories: Vec<Source>,
    affects: Vec<Affect>,
}

#[derive(Debug, Clone, Serialize)]
struct Source {
    url: String,
}

#[derive(Debug, Clone, Serialize)]
struct Rating {
    severity: &'static str,
    // No `method`: the rating is hashward's judgement, not a scoring standard (1.5's "other";
    // left out as it is optional and not every reader knows that value).
    justification: String,
}

#[derive(Debug, Clone, Serialize)]
struct Affect {
    #[serde(rename = "ref")]
    reference: String,
    versions: Vec<AffectedVersion>,
}

#[derive(Debug, Clone, Serialize)]
struct AffectedVersion {
    version: String,
    status: &'static str,
}

/// The SBOM of `components` found in `image`, checked against the built-in vulnerable-version
/// table. `timestamp` is the creation time (ISO 8601, e.g. `2024-05-01T12:00:00Z`).
pub fn cyclonedx(image: ImageRef<'_>, components: &[Component], timestamp: &str) -> CycloneDx {
    cyclonedx_with(image, components, timestamp, vulns::builtin())
}

/// [`cyclonedx`] with another vulnerable-version table.
pub fn cyclonedx_with(
    image: ImageRef<'_>,
    components: &[Component],
    timestamp: &str,
    table: &Table,
) -> CycloneDx {
    let mut refs = HashSet::new();
    let mut out = Vec::with_capacity(components.len());
    // CVE id -> (advisory, affected components): one CycloneDX vulnerability per CVE.
    let mut by_cve: BTreeMap<&str, (&vulns::Advisory, String, Vec<Affect>)> = BTreeMap::new();
    for c in components {
        let bom_ref = unique_ref(&mut refs, c);
        if let Some(v) = &c.version {
            for m in table.lookup(&c.name, v) {
                for cve in &m.advisory.spec.cves {
                    let entry = by_cve
                        .entry(cve.as_str())
                        .or_insert_with(|| (m.advisory, m.advisory.fix_text(m.hit), Vec::new()));
                    entry.2.push(Affect {
                        reference: bom_ref.clone(),
                        versions: vec![AffectedVersion {
                            version: v.clone(),
                            status: "affected",
                        }],
                    });
                }
            }
        }
        out.push(component(c, bom_ref));
    }
    let vulnerabilities: Vec<BomVulnerability> = by_cve
        .into_iter()
        .map(|(cve, (a, fix, affects))| BomVulnerability {
            bom_ref: format!("vulnerability:{cve}"),
            id: cve.to_owned(),
            source: Source {
                url: a.spec.sources.first().cloned().unwrap_or_default(),
            },
            ratings: vec![Rating {
                severity: a.finding_severity().as_str(),
                justification: a
                    .spec
                    .why
                    .clone()
                    .unwrap_or_else(|| "hashward's judgement for a miner on a LAN".to_owned()),
            }],
            description: a.spec.summary.clone(),
            recommendation: format!("upgrade {} ({fix})", a.spec.component),
            advisories: a.spec.sources.iter().map(|u| Source { url: u.clone() }).collect(),
            affects,
        })
        .collect();
    let serial_number = serial(image.sha256, &out, &vulnerabilities);
    CycloneDx {
        bom_format: "CycloneDX",
        spec_version: "1.5",
        serial_number,
        version: 1,
        metadata: Metadata {
            timestamp: timestamp.to_owned(),
            tools: Tools {
                components: vec![Tool {
                    kind: "application",
                    name: "hashward",
                    version: hashward_model::VERSION,
                }],
            },
            component: BomComponent {
                kind: "firmware",
                bom_ref: format!("image:{}", image.sha256),
                name: image.file_name.to_owned(),
                version: None,
                hashes: vec![Hash {
                    alg: "SHA-256",
                    content: image.sha256.to_owned(),
                }],
                purl: None,
                properties: Vec::new(),
                evidence: None,
            },
        },
        components: out,
        vulnerabilities,
    }
}

/// CycloneDX's component type for a component kind.
pub fn component_type(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::OperatingSystem | ComponentKind::Kernel => "operating-system",
        ComponentKind::Library => "library",
        ComponentKind::Application => "application",
    }
}

/// `pkg:generic/name@version`, each part percent-encoded as the purl specification asks.
pub fn purl(name: &str, version: &str) -> String {
    format!("pkg:generic/{}@{}", percent(name), percent(version))
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unique_ref(seen: &mut HashSet<String>, c: &Component) -> String {
    let base = format!(
        "{}@{}:{}",
        c.name,
        c.version.as_deref().unwrap_or("unknown"),
        c.rootfs
    );
    let mut r = base.clone();
    let mut n = 1;
    while !seen.insert(r.clone()) {
        n += 1;
        r = format!("{base}#{n}");
    }
    r
}

fn component(c: &Component, bom_ref: String) -> BomComponent {
    let mut files: Vec<&str> = Vec::new();
    for e in &c.evidence {
        if !files.contains(&e.file.as_str()) {
            files.push(&e.file);
        }
    }
    let mut properties = Vec::new();
    if !c.rootfs.is_empty() {
        properties.push(Property {
            name: "hashward:rootfs",
            value: c.rootfs.clone(),
        });
    }
    for e in &c.evidence {
        let at = e.offset.map(|o| format!(" at offset {o}")).unwrap_or_default();
        properties.push(Property {
            name: "hashward:evidence",
            value: format!("{}: {}{at}", e.file, e.how),
        });
    }
    BomComponent {
        kind: component_type(c.kind),
        bom_ref,
        name: c.name.clone(),
        version: c.version.clone(),
        hashes: Vec::new(),
        purl: c.version.as_deref().map(|v| purl(&c.name, v)),
        properties,
        evidence: (!files.is_empty()).then(|| Evidence {
            occurrences: files
                .into_iter()
                .map(|f| Occurrence {
                    location: f.to_owned(),
                })
                .collect(),
        }),
    }
}

/// A version-8 UUID from the SHA-256 of what makes this BOM what it is.
fn serial(image_sha256: &str, components: &[BomComponent], vulns: &[BomVulnerability]) -> String {
    let mut h = Sha256::new();
    h.update(b"hashward cyclonedx\n");
    h.update(hashward_model::VERSION.as_bytes());
    h.update(b"\n");
    h.update(image_sha256.as_bytes());
    h.update(b"\n");
    // Serialising these plain structs cannot fail; an empty body would still give a valid UUID.
    h.update(serde_json::to_vec(&(components, vulns)).unwrap_or_default());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let x = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ComponentEvidence;

    fn comp(name: &str, version: Option<&str>, kind: ComponentKind, file: &str) -> Component {
        Component {
            name: name.into(),
            version: version.map(Into::into),
            kind,
            rootfs: "rootfs".into(),
            evidence: vec![ComponentEvidence {
                file: file.into(),
                how: "version string".into(),
                offset: Some(16),
            }],
        }
    }

    const IMAGE: ImageRef<'static> = ImageRef {
        file_name: "fw.tar.gz",
        sha256: "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12",
    };

    #[test]
    fn purls_are_encoded() {
        assert_eq!(purl("busybox", "1.27.2"), "pkg:generic/busybox@1.27.2");
        assert_eq!(
            purl("linux", "4.6.0+xilinx g1"),
            "pkg:generic/linux@4.6.0%2Bxilinx%20g1"
        );
    }

    #[test]
    fn types_per_kind() {
        assert_eq!(component_type(ComponentKind::Kernel), "operating-system");
        assert_eq!(component_type(ComponentKind::OperatingSystem), "operating-system");
        assert_eq!(component_type(ComponentKind::Library), "library");
        assert_eq!(component_type(ComponentKind::Application), "application");
    }

    #[test]
    fn document_shape() {
        let cs = [
            comp(
                "dropbear",
                Some("2016.73"),
                ComponentKind::Application,
                "rootfs/usr/sbin/dropbear",
            ),
            comp(
                "dropbear",
                Some("2016.73"),
                ComponentKind::Application,
                "rootfs/usr/sbin/dropbear",
            ),
            comp(
                "cgminer",
                None,
                ComponentKind::Application,
                "rootfs/usr/bin/cgminer",
            ),
        ];
        let bom = cyclonedx(IMAGE, &cs, "2024-05-01T12:00:00Z");
        let j = serde_json::to_value(&bom).unwrap_or_default();
        assert_eq!(j["bomFormat"], "CycloneDX");
        assert_eq!(j["specVersion"], "1.5");
        assert_eq!(j["metadata"]["component"]["type"], "firmware");
        assert_eq!(j["metadata"]["component"]["name"], "fw.tar.gz");
        assert_eq!(j["metadata"]["component"]["hashes"][0]["content"], IMAGE.sha256);
        assert_eq!(j["components"][0]["bom-ref"], "dropbear@2016.73:rootfs");
        assert_eq!(j["components"][1]["bom-ref"], "dropbear@2016.73:rootfs#2");
        assert_eq!(j["components"][0]["purl"], "pkg:generic/dropbear@2016.73");
        assert!(
            j["components"][2].get("purl").is_none(),
            "no purl without a version"
        );
        assert!(j["components"][2].get("version").is_none());
        assert_eq!(
            j["components"][0]["evidence"]["occurrences"][0]["location"],
            "rootfs/usr/sbin/dropbear"
        );
        let vulns = j["vulnerabilities"].as_array().cloned().unwrap_or_default();
        let fs = vulns
            .iter()
            .find(|v| v["id"] == "CVE-2016-7406")
            .unwrap_or_else(|| panic!("{vulns:?}"));
        assert_eq!(fs["affects"].as_array().map(Vec::len), Some(2));
        assert_eq!(fs["affects"][1]["ref"], "dropbear@2016.73:rootfs#2");
        assert_eq!(fs["ratings"][0]["severity"], "high");
        assert!(
            fs["recommendation"]
                .as_str()
                .unwrap_or("")
                .contains("fixed in 2016.74")
        );
    }

    #[test]
    fn serial_is_a_uuid_stable_for_the_same_content() {
        let cs = [comp(
            "busybox",
            Some("1.27.2"),
            ComponentKind::Application,
            "rootfs/bin/busybox",
        )];
        let a = cyclonedx(IMAGE, &cs, "2024-05-01T12:00:00Z");
        let b = cyclonedx(IMAGE, &cs, "2025-01-01T00:00:00Z");
        assert_eq!(
            a.serial_number(),
            b.serial_number(),
            "the timestamp is not content"
        );
        let s = a.serial_number();
        assert_eq!(s.len(), "urn:uuid:".len() + 36, "{s}");
        assert_eq!(&s[9 + 14..9 + 15], "8", "version nibble: {s}");
        assert!(
            matches!(&s[9 + 19..9 + 20], "8" | "9" | "a" | "b"),
            "variant: {s}"
        );
        let other = [comp(
            "busybox",
            Some("1.27.3"),
            ComponentKind::Application,
            "rootfs/bin/busybox",
        )];
        assert_ne!(
            cyclonedx(IMAGE, &other, "2024-05-01T12:00:00Z").serial_number(),
            s
        );
        let same = serde_json::to_string(&a).unwrap_or_default();
        let again = serde_json::to_string(&cyclonedx(IMAGE, &cs, "2024-05-01T12:00:00Z")).unwrap_or_default();
        assert_eq!(same, again, "byte-stable with a pinned timestamp");
    }

    #[test]
    fn empty_inventory_still_names_the_image() {
        let j = serde_json::to_value(cyclonedx(IMAGE, &[], "2024-05-01T12:00:00Z")).unwrap_or_default();
        assert_eq!(j["components"], serde_json::json!([]));
        assert!(j.get("vulnerabilities").is_none());
        assert_eq!(j["metadata"]["tools"]["components"][0]["name"], "hashward");
    }
}
