//! FW-014: components whose reported version falls in a known-vulnerable range of
//! `rules/vulnerable.toml`. One finding per component and matching entry, with the CVE ids, the
//! fix and the source in the message, and the component's strongest evidence (file and offset
//! of its version string) as proof.
//!
//! Severity is the entry's, judged for a miner on a LAN (who can reach the flaw: a stranger, a
//! rogue DHCP or DNS server, a malicious pool). It is capped at the rule's default (medium)
//! unless the entry says why it is worse. A version that does not parse matches nothing.

use hashward_model::{Evidence, Finding, RuleId, Subject};

use super::{Context, Detector};
use crate::inventory::Component;
use crate::vulns::{self, Match};

/// The vulnerable-component detector.
pub(crate) struct Vulnerable;

impl Detector for Vulnerable {
    fn id(&self) -> &'static str {
        "vulnerable"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_VULNERABLE_COMPONENT]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let table = vulns::builtin();
        for c in &cx.inventory.components {
            let Some(version) = c.version.as_deref() else {
                continue;
            };
            for m in table.lookup(&c.name, version) {
                out.push(finding(cx, c, version, &m));
            }
        }
    }
}

fn finding(cx: &Context<'_>, c: &Component, version: &str, m: &Match<'_>) -> Finding {
    let a = m.advisory;
    let place = if c.rootfs.is_empty() {
        String::new()
    } else {
        format!(" in {}", c.rootfs)
    };
    let source = a.spec.sources.first().map_or("", String::as_str);
    let msg = format!(
        "{} {version}{place}: {} ({}); {} (source: {source})",
        c.name,
        a.spec.cves.join(", "),
        a.spec.summary,
        a.fix_text(m.hit),
    );
    let severity = Some(a.finding_severity());
    match c.evidence.first() {
        Some(e) => {
            let excerpt = e
                .offset
                .map(|o| cx.tree.excerpt(&e.file, o, 64))
                .unwrap_or_default();
            cx.file_finding(
                RuleId::FW_VULNERABLE_COMPONENT,
                severity,
                &e.file,
                e.offset,
                &excerpt,
                msg,
            )
        }
        // A component without evidence (not expected from the finder) is about the image.
        None => {
            let f = Finding::new(
                RuleId::FW_VULNERABLE_COMPONENT,
                Subject::FirmwareImage {
                    sha256: cx.image_sha256.to_owned(),
                },
                msg,
            );
            let f = match severity {
                Some(s) => f.with_severity(s),
                None => f,
            };
            if c.rootfs.is_empty() {
                f
            } else {
                f.with_evidence(Evidence::File {
                    layers: Vec::new(),
                    path: c.rootfs.clone(),
                    offset: None,
                    sha256: None,
                    excerpt: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hashward_model::{Evidence, Severity, Subject};

    use super::*;
    use crate::inventory::{ComponentEvidence, ComponentKind, Inventory, Tree};

    fn component(name: &str, version: Option<&str>, file: &str, offset: Option<u64>) -> Component {
        Component {
            name: name.to_owned(),
            version: version.map(str::to_owned),
            kind: ComponentKind::Application,
            rootfs: "rootfs".to_owned(),
            evidence: vec![
                ComponentEvidence {
                    file: file.to_owned(),
                    how: "version string".to_owned(),
                    offset,
                },
                ComponentEvidence {
                    file: "rootfs/second".to_owned(),
                    how: "file name".to_owned(),
                    offset: None,
                },
            ],
        }
    }

    fn run(components: Vec<Component>, root: &std::path::Path) -> Vec<Finding> {
        let tree = Tree::new(root, &[]);
        let inv = Inventory {
            components,
            ..Inventory::default()
        };
        let cx = Context::new("feed", &tree, &inv);
        let mut out = Vec::new();
        Vulnerable.detect(&cx, &mut out);
        out
    }

    #[test]
    fn vulnerable_version_is_reported_with_cve_fix_source_and_evidence() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("rootfs/usr/sbin")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("rootfs/usr/sbin/dropbear"),
            b"\0\0\0\0Dropbear v2016.73\0",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let out = run(
            vec![component(
                "dropbear",
                Some("2016.73"),
                "rootfs/usr/sbin/dropbear",
                Some(4),
            )],
            dir.path(),
        );
        let f = out
            .iter()
            .find(|f| f.message.contains("CVE-2016-7406"))
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(f.rule, RuleId::FW_VULNERABLE_COMPONENT);
        assert_eq!(f.severity, Severity::High, "the entry gives a reason for high");
        assert!(
            f.message.starts_with("dropbear 2016.73 in rootfs: CVE-2016-7406"),
            "{}",
            f.message
        );
        assert!(f.message.contains("fixed in 2016.74"), "{}", f.message);
        assert!(f.message.contains("(source: https://"), "{}", f.message);
        assert_eq!(
            f.subject,
            Subject::FirmwareFile {
                image_sha256: "feed".into(),
                path: "rootfs/usr/sbin/dropbear".into()
            }
        );
        match &f.evidence[0] {
            Evidence::File {
                path,
                offset,
                excerpt,
                ..
            } => {
                assert_eq!(path, "rootfs/usr/sbin/dropbear");
                assert_eq!(*offset, Some(4));
                let shown = serde_json::to_string(excerpt).unwrap_or_default();
                assert!(shown.contains("Dropbear v2016.73"), "{shown}");
            }
            other => panic!("{other:?}"),
        }
        // 2016.73 also falls in the double-free and user-enumeration ranges: one finding each.
        assert!(
            out.iter()
                .any(|f| f.message.contains("CVE-2018-15599") && f.severity == Severity::Low)
        );
        assert_eq!(out.len(), 3, "{out:#?}");
    }

    #[test]
    fn fixed_version_is_not_reported() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = run(
            vec![
                component("dropbear", Some("2022.83"), "rootfs/usr/sbin/dropbear", None),
                component(
                    "openssl",
                    Some("1.0.2zd"),
                    "rootfs/usr/lib/libcrypto.so.1.0.0",
                    None,
                ),
                component("linux", Some("4.19.52"), "rootfs/boot/uImage", None),
            ],
            dir.path(),
        );
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn unknown_or_unparseable_version_is_not_reported() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = run(
            vec![
                component("openssh", None, "rootfs/usr/sbin/sshd", None),
                component("openssh", Some("OpenSSH_7.4p1"), "rootfs/usr/sbin/sshd", None),
                component("glibc", Some("unknown"), "rootfs/lib/libc.so.6", None),
            ],
            dir.path(),
        );
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn severity_and_fix_text_follow_the_entry() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = run(
            vec![component("busybox", Some("1.30.0"), "rootfs/bin/busybox", None)],
            dir.path(),
        );
        let subnet = out
            .iter()
            .find(|f| f.message.contains("CVE-2019-5747"))
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(subnet.severity, Severity::Low);
        assert!(
            subnet.message.contains("affected through 1.30.0"),
            "{}",
            subnet.message
        );
        let gunzip = out
            .iter()
            .find(|f| f.message.contains("CVE-2021-28831"))
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(gunzip.severity, Severity::Medium);
    }

    #[test]
    fn a_component_without_evidence_is_about_the_image() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut c = component("glibc", Some("2.17"), "x", None);
        c.evidence.clear();
        let out = run(vec![c], dir.path());
        assert_eq!(out.len(), 2, "{out:#?}");
        assert!(out.iter().all(|f| f.subject
            == Subject::FirmwareImage {
                sha256: "feed".into()
            }));
    }
}
