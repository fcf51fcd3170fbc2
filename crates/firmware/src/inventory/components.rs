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
