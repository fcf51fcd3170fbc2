//! Software components and their versions: what an SBOM lists and what the vulnerable-version
//! table is checked against.
//!
//! A component's identity is its canonical lowercase name (`busybox`, `dropbear`, `openssh`,
//! `lighttpd`, `uhttpd`, `openssl`, `glibc`, `musl`, `uclibc`, `curl`, `linux`, `cgminer`,
//! `bmminer`, `btminer`, …) and the root file system it sits in; the version is the string
//! the component reports about itself (`1.23.2`, `2019.78`, `1.0.2k`, `3.14.0-xilinx`).

use serde::Serialize;

/// What kind of thing a component is (CycloneDX's component types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    /// The OS / build system release (Buildroot, OpenWrt, Yocto, Debian).
    OperatingSystem,
    /// The kernel.
    Kernel,
    /// A shared library.
    Library,
    /// A program.
    Application,
}

/// How a component's version was learned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ComponentEvidence {
    /// File in the tree.
    pub file: String,
    /// Where in it: `package metadata`, `version string`, `file name`, `uImage name`, …
    pub how: String,
    /// Byte offset of the version string, where it was read from content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// One component found in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// Canonical lowercase name.
    pub name: String,
    /// The version it reports, if found.
    pub version: Option<String>,
    /// Kind.
    pub kind: ComponentKind,
    /// The root file system it belongs to (see `accounts::rootfs_of`).
    pub rootfs: String,
    /// Where it was seen, strongest first.
    pub evidence: Vec<ComponentEvidence>,
}

/// Version strings searched for in binaries: the text before the version, the component,
/// its kind. The version is the run of version characters that follows and must start with
/// a digit (`lighttpd/lighttpd.conf` is not a version of lighttpd).
const VERSION_MARKERS: &[(&str, &str, ComponentKind)] = &[
    ("BusyBox v", "busybox", ComponentKind::Application),
    ("dropbear_", "dropbear", ComponentKind::Application),
    ("Dropbear sshd v", "dropbear", ComponentKind::Application),
    ("OpenSSH_", "openssh", ComponentKind::Application),
    ("lighttpd/", "lighttpd", ComponentKind::Application),
    ("OpenSSL ", "openssl", ComponentKind::Library),
    ("libcurl/", "curl", ComponentKind::Library),
    ("stable release version ", "glibc", ComponentKind::Library),
    ("Linux version ", "linux", ComponentKind::Kernel),
    ("cgminer ", "cgminer", ComponentKind::Application),
    ("bmminer ", "bmminer", ComponentKind::Application),
    ("btminer ", "btminer", ComponentKind::Application),
    ("bosminer ", "bosminer", ComponentKind::Application),
    ("dnsmasq-", "dnsmasq", ComponentKind::Application),
    ("stunnel ", "stunnel", ComponentKind::Application),
    ("ntpd 4.", "ntp", ComponentKind::Application),
];

/// Distinct versions of one component per file at most (a binary listing every version it
/// was ever compatible with is not a version).
const MAX_VERSIONS_PER_FILE: usize = 2;
/// Components per file at most (package databases).
const MAX_PER_FILE: usize = 4096;

fn markers() -> &'static aho_corasick::AhoCorasick {
    static AC: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    AC.get_or_init(|| {
        aho_corasick::AhoCorasick::new(VERSION_MARKERS.iter().map(|m| m.0))
            .unwrap_or_else(|_| unreachable!("fixed patterns"))
    })
}

fn component(
    name: &str,
    version: Option<String>,
    kind: ComponentKind,
    file: &str,
    how: String,
    offset: Option<u64>,
) -> Component {
    Component {
        name: name.to_owned(),
        version,
        kind,
        rootfs: super::accounts::container_root(file),
        evidence: vec![ComponentEvidence {
            file: file.to_owned(),
            how,
            offset,
        }],
    }
}

/// The version that starts at `rest`: digits first, then digits, letters, `.`, `-`, `_`, `+`
/// (`1.0.2k`, `2019.78`, `4.6.0-xilinx-g03c746f7`, `7.4p1`), at most 40 bytes.
fn version_at(rest: &[u8]) -> Option<String> {
    if !rest.first()?.is_ascii_digit() {
        return None;
    }
    let end = rest
        .iter()
        .take(40)
        .position(|b| !(b.is_ascii_alphanumeric() || b".-_+".contains(b)))
        .unwrap_or(rest.len().min(40));
    let v = std::str::from_utf8(&rest[..end]).ok()?;
    let v = v.trim_end_matches(['.', '-', '_', '+']);
    // A bare number ("cgminer 3 ") is a count, not a version.
    v.contains('.').then(|| v.to_owned())
}

/// Components named by version strings in a binary.
pub(crate) fn from_binary(path: &str, bytes: &[u8]) -> Vec<Component> {
    let mut out: Vec<Component> = Vec::new();
    for m in markers().find_iter(bytes) {
        let (marker, name, kind) = VERSION_MARKERS[m.pattern().as_usize()];
        // A marker inside a longer word is not one ("libbusybox v").
        if m.start() > 0 && bytes[m.start() - 1].is_ascii_alphanumeric() {
            continue;
        }
        let Some(version) = version_at(&bytes[m.end()..]) else {
            continue;
        };
        // OpenSSL's banner is "OpenSSL 1.0.2k  26 Jan 2017": three numbers, then letters.
        if name == "openssl" && version.split('.').count() < 3 {
            continue;
        }
        if out
            .iter()
            .any(|c| c.name == name && c.version.as_deref() == Some(&version))
        {
            continue;
        }
        if out.iter().filter(|c| c.name == name).count() >= MAX_VERSIONS_PER_FILE {
            continue;
        }
        let how = format!("version string \"{marker}{version}\"");
        out.push(component(
            name,
            Some(version),
            kind,
            path,
            how,
            Some(m.start() as u64),
        ));
    }
    out
}

/// Components named by a file's name: shared libraries that carry their release in the name
/// (`libc-2.25.so`, `libuClibc-0.9.33.2.so`), and well-known programs (version unknown until a
/// version string says so).
pub(crate) fn from_name(path: &str) -> Option<Component> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lib = |c: &str, v: Option<&str>, how: &str| {
        Some(component(
            c,
            v.map(str::to_owned),
            ComponentKind::Library,
            path,
            how.to_owned(),
            None,
        ))
    };
    if let Some(v) = name
        .strip_prefix("libc-")
        .or_else(|| name.strip_prefix("ld-"))
        .and_then(|r| r.strip_suffix(".so"))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    {
        return lib("glibc", Some(v), "file name");
    }
    if let Some(v) = name
        .strip_prefix("libuClibc-")
        .and_then(|r| r.strip_suffix(".so"))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    {
        return lib("uclibc", Some(v), "file name");
    }
    if name.starts_with("ld-musl-") || name.starts_with("libc.musl-") {
        return lib("musl", None, "file name");
    }
    // libcrypto.so.1.0.0 names the ABI (every 1.0.x release), not the release.
    for (prefix, c) in [
        ("libcrypto.so.", "openssl"),
        ("libssl.so.", "openssl"),
        ("libcurl.so.", "curl"),
    ] {
        if let Some(abi) = name.strip_prefix(prefix) {
            return lib(c, None, &format!("file name (ABI {abi})"));
        }
    }
    let app = match name {
        "busybox" | "busybox.nosuid" | "busybox.suid" => "busybox",
        "dropbear" | "dropbearmulti" => "dropbear",
        "sshd" => "openssh",
        "lighttpd" => "lighttpd",
        "uhttpd" => "uhttpd",
        "cgminer" | "bmminer" | "btminer" | "bosminer" | "luxminer" => name,
        _ => return None,
    };
    // Only programs in a bin directory: `etc/init.d/dropbear` is a script about it.
    if !(path.contains("bin/") || path.starts_with("bin")) {
        return None;
    }
    Some(component(
        app,
        None,
        ComponentKind::Application,
        path,
        "file name".into(),
        None,
    ))
}

/// Whether `path` is a package database this reads: opkg `status` or `*.control`, dpkg `status`.
pub(crate) fn is_package_db(path: &str) -> bool {
    (path.contains("opkg/") && (path.ends_with("/status") || path.ends_with(".control")))
        || path.ends_with("dpkg/status")
}

/// Components listed in a package database (stanzas of `Package:` and `Version:` lines).
pub(crate) fn from_packages(path: &str, bytes: &[u8]) -> Vec<Component> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut offset = 0u64;
    for stanza in text.split_inclusive("\n\n") {
        let at = offset;
        offset += stanza.len() as u64;
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_owned())
        };
        let (Some(pkg), Some(raw)) = (field("Package:"), field("Version:")) else {
            continue;
        };
        // dpkg keeps removed packages with "deinstall" / "not-installed".
        if field("Status:").is_some_and(|s| !s.ends_with(" installed")) {
            continue;
        }
        let (name, kind) = canonical_package(&pkg);
        out.push(component(
            &name,
            upstream_version(&raw),
            kind,
            path,
            format!("package {pkg} {raw}"),
            Some(at),
        ));
        if out.len() >= MAX_PER_FILE {
            break;
        }
    }
    out
}

/// A package's component name: the upstream project for the packages whose names differ.
fn canonical_package(pkg: &str) -> (String, ComponentKind) {
    let p = pkg.to_ascii_lowercase();
    let lib = ComponentKind::Library;
    let app = ComponentKind::Application;
    match p.as_str() {
        s if s.starts_with("libopenssl") || s.starts_with("libssl") || s == "openssl-util" => {
            ("openssl".into(), lib)
        }
        s if s.starts_with("libcurl") => ("curl".into(), lib),
        "openssh-server" | "openssh-client" | "openssh-sftp-server" => ("openssh".into(), app),
        "dropbear" | "busybox" | "lighttpd" | "uhttpd" | "curl" | "cgminer" | "bmminer" | "btminer"
        | "dnsmasq" => (p, app),
        s if s.starts_with("kernel") => ("linux".into(), ComponentKind::Kernel),
        s if s.starts_with("lib") => (p, lib),
        _ => (p, app),
    }
}

/// The upstream part of a package version: no epoch (`1:`), no packaging release (`-3`).
fn upstream_version(raw: &str) -> Option<String> {
    let v = raw.split_once(':').map_or(raw, |(e, v)| {
        if e.chars().all(|c| c.is_ascii_digit()) {
            v
        } else {
            raw
        }
    });
    let v = match v.rsplit_once('-') {
        Some((up, rel))
            if !up.is_empty()
                && rel
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '~') =>
        {
            up
        }
        _ => v,
    };
    (!v.is_empty() && v.len() <= 64).then(|| v.to_owned())
}

/// The kernel version of a module directory (`lib/modules/3.8.13/...`).
pub(crate) fn from_module_dir(path: &str) -> Option<Component> {
    let i = path.find("lib/modules/")?;
    let rest = &path[i + "lib/modules/".len()..];
    // The directory itself, not every file under it.
    if rest.contains('/') {
        return None;
    }
    let v = version_at(rest.as_bytes()).filter(|x| x == rest)?;
    Some(component(
        "linux",
        Some(v),
        ComponentKind::Kernel,
        path,
        "module directory".into(),
        None,
    ))
}

/// The kernel named by a U-Boot image header (`ih_name` = `Linux-4.6.0-xilinx-g03c746f7`).
pub(crate) fn from_uimage(path: &str, name: &str) -> Option<Component> {
    let v = name
        .strip_prefix("Linux-")
        .or_else(|| name.strip_prefix("linux-"))?;
    let v = version_at(v.as_bytes())?;
    Some(component(
        "linux",
        Some(v),
        ComponentKind::Kernel,
        path,
        format!("uImage name \"{name}\""),
        Some(32),
    ))
}

/// One record per (root file system, name, version), evidence joined; a version-less record
/// is folded into the versioned ones of the same name and root when there are any.
pub(crate) fn merge(mut all: Vec<Component>) -> Vec<Component> {
    all.sort_by(|a, b| (&a.rootfs, &a.name, &a.version).cmp(&(&b.rootfs, &b.name, &b.version)));
    let mut out: Vec<Component> = Vec::new();
    for c in all {
        match out.last_mut() {
            Some(last) if last.rootfs == c.rootfs && last.name == c.name && last.version == c.version => {
                if last.evidence.len() < 16 {
                    last.evidence.extend(c.evidence);
                }
            }
            _ => out.push(c),
        }
    }
    // None sorts first: fold a version-less record into the next one of the same name.
    let mut folded: Vec<Component> = Vec::with_capacity(out.len());
    let mut pending: Option<Component> = None;
    for c in out {
        if let Some(p) = pending.take() {
            if p.rootfs == c.rootfs && p.name == c.name {
                let mut c = c;
                c.evidence.extend(p.evidence.into_iter().take(4));
                folded.push(c);
                continue;
            }
            folded.push(p);
        }
        if c.version.is_none() {
            pending = Some(c);
        } else {
            folded.push(c);
        }
    }
    folded.extend(pending);
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_binary_strings() {
        let bin = b"\x7fELF....BusyBox v1.23.2 (2017-06-27 10:00:00 CST) multi-call binary\0\
            SSH-2.0-dropbear_2019.78\0OpenSSL 1.0.2k  26 Jan 2017\0lighttpd/lighttpd.conf\0\
            lighttpd/1.4.39\0GNU C Library (Buildroot) stable release version 2.25, by\0";
        let c = from_binary("x.extracted/bin/busybox", bin);
        let got: Vec<(&str, &str)> = c
            .iter()
            .map(|c| (c.name.as_str(), c.version.as_deref().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("busybox", "1.23.2"),
                ("dropbear", "2019.78"),
                ("openssl", "1.0.2k"),
                ("lighttpd", "1.4.39"),
                ("glibc", "2.25")
            ]
        );
        assert_eq!(c[0].rootfs, "x.extracted");
        assert_eq!(c[0].evidence[0].offset, Some(8));
    }

    #[test]
    fn near_misses_are_not_versions() {
        // No digit after the marker, a marker inside a word, a bare number, a short OpenSSL.
        let bin = b"lighttpd/lighttpd.conf mybusybox v1.2.3 cgminer 3 OpenSSL 1.0 libcgminer 4.1.0";
        assert!(from_binary("a", bin).is_empty(), "{:?}", from_binary("a", bin));
    }

    #[test]
    fn names_and_packages() {
        assert_eq!(
            from_name("r/lib/libc-2.25.so").unwrap().version.as_deref(),
            Some("2.25")
        );
        assert_eq!(from_name("r/lib/libuClibc-0.9.33.2.so").unwrap().name, "uclibc");
        assert_eq!(
            from_name("r/usr/lib/libcrypto.so.1.0.0").unwrap().evidence[0].how,
            "file name (ABI 1.0.0)"
        );
        assert!(from_name("r/etc/init.d/dropbear").is_none());
        assert_eq!(from_name("r/usr/sbin/dropbear").unwrap().name, "dropbear");
        let db = b"Package: dropbear\nVersion: 2019.78-2\nStatus: install ok installed\n\n\
            Package: libopenssl1.1\nVersion: 1:1.1.1k-1\n\nPackage: gone\nVersion: 1\nStatus: deinstall ok config-files\n\n";
        let p = from_packages("usr/lib/opkg/status", db);
        let got: Vec<(&str, Option<&str>)> = p
            .iter()
            .map(|c| (c.name.as_str(), c.version.as_deref()))
            .collect();
        assert_eq!(got, [("dropbear", Some("2019.78")), ("openssl", Some("1.1.1k"))]);
        assert!(is_package_db("usr/lib/opkg/status") && is_package_db("var/lib/dpkg/status"));
    }

    #[test]
    fn kernels_and_merging() {
        assert!(from_module_dir("r.extracted/lib/modules/3.8.13/extra").is_none());
        let m = from_module_dir("r.extracted/lib/modules/3.8.13").unwrap();
        assert_eq!(
            (m.version.as_deref(), m.evidence[0].file.as_str()),
            (Some("3.8.13"), "r.extracted/lib/modules/3.8.13")
        );
        assert!(from_module_dir("lib/modules/modules.dep").is_none());
        let u = from_uimage("uImage", "Linux-4.6.0-xilinx-g03c746f7").unwrap();
        assert_eq!(u.version.as_deref(), Some("4.6.0-xilinx-g03c746f7"));
        let a = from_name("usr/bin/busybox").unwrap();
        let b = from_binary("usr/bin/busybox", b"BusyBox v1.23.2 (x)").remove(0);
        let merged = merge(vec![b, a]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].evidence.len(), 2);
    }
}
