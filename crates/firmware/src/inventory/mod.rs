//! Inventory of an extracted firmware tree: what an investigator needs listed before asking
//! what is wrong with it. This first part covers accounts and web credentials; components,
//! services, network surface, keys, endpoints and binaries follow.
//!
//! The inventory reads the tree `firmware unpack` wrote, through the entry list it reported:
//! only regular files it extracted are opened, never through a link (`O_NOFOLLOW`), and each
//! read is bounded.

pub mod accounts;
pub mod binaries;
pub mod cgi;
pub mod components;
pub mod endpoints;
pub mod indicators;
pub mod keys;
pub mod miner_api;
pub mod network;
pub mod platform;
pub mod privilege;
pub mod remote_config;
pub mod services;
pub mod updates;

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Serialize;

use crate::scan::{ContentScanner, RuleMatch, ScanFailure};
use crate::unpack::{EntryRecord, EntryType};
pub use accounts::{Account, DigestCredential, Password, PasswordSource};
pub use binaries::{Binary, Hardening};
pub use cgi::CgiSink;
pub use components::{Component, ComponentEvidence, ComponentKind};
pub use endpoints::{Endpoint, EndpointClass, EndpointKind, EndpointSite};
pub use indicators::IndicatorHit;
pub use keys::{Key, KeyKind};
pub use miner_api::MinerApi;
pub use network::{FirewallRule, Listener, NetworkSurface};
pub use platform::{Platform, PlatformFact, TrustAnchor};
pub use privilege::Escalation;
pub use remote_config::RemoteHandler;
pub use services::Service;
pub use updates::UpdatePath;

/// Configuration-like files larger than this are not parsed.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Files larger than this are not searched for keys.
pub const MAX_SCAN_BYTES: u64 = 16 << 20;
/// Content scanners (YARA) see at most this much of each file.
pub const MAX_RULE_SCAN_BYTES: u64 = 128 << 20;

/// What the inventory found (`result.inventory` of `firmware inspect`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    /// OS, kernel, miner family and model, firmware version, trust anchors.
    pub platform: Platform,
    /// Software components with their versions.
    pub components: Vec<Component>,
    /// Listeners and firewall rules.
    pub network: NetworkSurface,
    /// URLs, host names and addresses written into binaries and scripts.
    pub endpoints: Vec<Endpoint>,
    /// System accounts, per root file system.
    pub accounts: Vec<Account>,
    /// Web digest credentials.
    pub web_credentials: Vec<DigestCredential>,
    /// The mining daemon's API, per configuration file.
    pub miner_api: Vec<MinerApi>,
    /// Keys and certificates.
    pub keys: Vec<Key>,
    /// Services started at boot.
    pub services: Vec<Service>,
    /// Ways to root without a password.
    pub escalations: Vec<Escalation>,
    /// Firmware update handlers and how they check what they run.
    pub updates: Vec<UpdatePath>,
    /// Request values reaching commands in shell CGI handlers.
    pub cgi_sinks: Vec<CgiSink>,
    /// Indicators found (remote control, phone-home, diversion).
    pub indicators: Vec<IndicatorHit>,
    /// Vendor-signed remote reconfiguration handlers (pool rewrite, root unlock).
    pub remote_handlers: Vec<RemoteHandler>,
    /// ELF binaries with their hardening.
    pub binaries: Vec<Binary>,
    /// Content-scanner (YARA) rule matches.
    pub rule_matches: Vec<RuleMatch>,
    /// Files a content scanner could not finish.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scan_failures: Vec<ScanFailure>,
}

/// The extracted tree: the output root and the entries `firmware unpack` reported.
pub struct Tree<'a> {
    root: &'a Path,
    entries: &'a [EntryRecord],
    /// Files that were opened as containers: their content is inventoried through what was
    /// extracted from them, not searched again as bytes.
    containers: std::collections::HashSet<&'a str>,
    /// The containers opened, with their format details (uImage names, FIT descriptions).
    nodes: &'a [crate::unpack::NodeRecord],
}

impl<'a> Tree<'a> {
    /// A view of the tree under `root`.
    pub fn new(root: &'a Path, entries: &'a [EntryRecord]) -> Tree<'a> {
        Tree {
            root,
            entries,
            containers: Default::default(),
            nodes: &[],
        }
    }

    /// The same view, told which files were opened as containers (`UnpackReport::nodes`).
    pub fn with_containers(mut self, nodes: &'a [crate::unpack::NodeRecord]) -> Tree<'a> {
        self.containers = nodes
            .iter()
            .filter(|n| n.status != "failed")
            .map(|n| n.path.as_str())
            .collect();
        self.nodes = nodes;
        self
    }

    /// Regular files that were written in full.
    pub fn files(&self) -> impl Iterator<Item = &'a EntryRecord> + 'a {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryType::File && !e.not_created)
    }

    /// Up to `len` bytes of file `path` from `offset` (the start of a key block, for
    /// evidence); empty if the file cannot be read.
    pub fn excerpt(&self, path: &str, offset: u64, len: usize) -> Vec<u8> {
        use std::io::{Seek, SeekFrom};
        let Ok(mut f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.root.join(path))
        else {
            return Vec::new();
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.take(len as u64).read_to_end(&mut buf);
        }
        buf
    }

    /// The first `max` bytes of a file of the tree, or `None` if it cannot be read.
    pub fn read(&self, e: &EntryRecord, max: u64) -> Option<Vec<u8>> {
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.root.join(&e.path))
            .ok()?;
        let mut buf = Vec::new();
        f.take(max).read_to_end(&mut buf).ok()?;
        Some(buf)
    }
}

/// Take the inventory of a tree.
pub fn inventory(tree: &Tree<'_>) -> Inventory {
    inventory_with(tree, &[])
}

/// Take the inventory of a tree, running `scanners` over every file read on the way.
///
/// Files are read once, on up to four threads, each taking a contiguous run of the
/// path-ordered file list of about the same number of bytes, so the result does not depend on
/// the thread count.
pub fn inventory_with(tree: &Tree<'_>, scanners: &[&dyn ContentScanner]) -> Inventory {
    let cap = if scanners.is_empty() {
        MAX_SCAN_BYTES
    } else {
        MAX_RULE_SCAN_BYTES
    };
    let files: Vec<&EntryRecord> = tree
        .files()
        .filter(|e| e.size.unwrap_or(0) <= cap && !tree.containers.contains(e.path.as_str()))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let runs = split_by_size(&files, threads);
    let parts: Vec<Partial> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| {
                s.spawn(move || {
                    let mut part = Partial::default();
                    let mut sessions: Vec<_> = scanners.iter().map(|sc| sc.session()).collect();
                    for e in *run {
                        let Some(bytes) = tree.read(e, cap) else {
                            continue;
                        };
                        for sc in &mut sessions {
                            if let Err(f) = sc.scan(&e.path, &bytes, &mut part.inv.rule_matches) {
                                part.inv.scan_failures.push(f);
                            }
                        }
                        if bytes.len() as u64 <= MAX_SCAN_BYTES {
                            part.add(&e.path, bytes);
                        }
                    }
                    part
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut extra = Vec::new();
    extra.extend(
        tree.entries
            .iter()
            .filter(|e| e.kind == EntryType::Dir)
            .filter_map(|e| components::from_module_dir(&e.path)),
    );
    for n in tree.nodes.iter().filter(|n| n.format == "uimage") {
        if let Some(name) = n.details.get("name").and_then(|v| v.as_str()) {
            extra.extend(components::from_uimage(&n.path, name));
        }
    }
    let mut inv = Partial::merge(parts, boot_links(tree), extra);
    inv.services
        .dedup_by(|a, b| a.file == b.file && a.how == b.how && a.name == b.name);
    inv
}

/// `files` cut into at most `n` contiguous runs of about equal total size.
fn split_by_size<'e, 'a>(files: &'e [&'a EntryRecord], n: usize) -> Vec<&'e [&'a EntryRecord]> {
    let total: u64 = files.iter().map(|e| e.size.unwrap_or(0) + 1).sum();
    let share = total.div_ceil(n as u64).max(1);
    let mut runs = Vec::with_capacity(n);
    let (mut start, mut acc) = (0, 0u64);
    for (i, e) in files.iter().enumerate() {
        acc += e.size.unwrap_or(0) + 1;
        if acc >= share && runs.len() + 1 < n {
            runs.push(&files[start..=i]);
            start = i + 1;
            acc = 0;
        }
    }
    runs.push(&files[start..]);
    runs
}

/// Services started through `rc?.d` / `rc.d` links to `init.d` scripts.
fn boot_links(tree: &Tree<'_>) -> Vec<Service> {
    let files: std::collections::HashMap<&str, &EntryRecord> =
        tree.files().map(|e| (e.path.as_str(), e)).collect();
    let mut out = Vec::new();
    for l in tree.entries.iter().filter(|e| e.kind == EntryType::Symlink) {
        if let Some(unit) = services::systemd_wants(&l.path) {
            out.extend(systemd_unit(tree, &files, &l.path, unit));
            continue;
        }
        let Some((etc, name)) = services::boot_link(&l.path) else {
            continue;
        };
        let Some(target) = l.target.as_deref() else {
            continue;
        };
        let script_name = target.rsplit('/').next().unwrap_or(target);
        // Links point at ../init.d/name or /etc/init.d/name: either way the script is there.
        let script = format!(
            "{}{}init.d/{script_name}",
            etc,
            if etc.is_empty() { "" } else { "/" }
        );
        let Some(e) = files.get(script.as_str()) else {
            continue;
        };
        let Some(bytes) = tree.read(e, MAX_CONFIG_BYTES) else {
            continue;
        };
        let rc = l.path.rsplit('/').nth(1).unwrap_or("rc.d");
        out.push(Service::from_script(&script, name, &format!("{rc} link"), &bytes));
    }
    out
}

/// The unit an enabled `*.wants/` link names, looked up where systemd looks for units in the
/// same root file system (`etc/systemd/system`, `lib/systemd/system`, `usr/lib/systemd/system`).
fn systemd_unit(
    tree: &Tree<'_>,
    files: &std::collections::HashMap<&str, &EntryRecord>,
    link: &str,
    unit: &str,
) -> Option<Service> {
    let i = link.find("systemd/")?;
    let before = &link[..i];
    // `…/etc/systemd/…` or `…/lib/systemd/…`: the root is what comes before etc/ or lib/.
    let root = before
        .strip_suffix("etc/")
        .or_else(|| before.strip_suffix("usr/lib/"))
        .or_else(|| before.strip_suffix("lib/"))?;
    [
        "etc/systemd/system/",
        "lib/systemd/system/",
        "usr/lib/systemd/system/",
    ]
    .iter()
    .find_map(|d| {
        let path = format!("{root}{d}{unit}");
        let e = files.get(path.as_str())?;
        let bytes = tree.read(e, MAX_CONFIG_BYTES)?;
        Some(services::systemd_unit(&path, unit, &bytes))
    })
}

/// Take the inventory of files given as (path in the tree, content): what [`inventory`] does
/// once it has read them, and what the fuzz target calls.
pub fn from_files<'p>(files: impl Iterator<Item = (&'p str, Vec<u8>)>) -> Inventory {
    let mut part = Partial::default();
    for (p, b) in files {
        part.add(p, b);
    }
    Partial::merge(vec![part], Vec::new(), Vec::new())
}

/// The inventory of one run of files; account files wait for [`Partial::merge`], which pairs
/// each passwd with its shadow.
#[derive(Default)]
struct Partial {
    inv: Inventory,
    account_files: Vec<(String, accounts::AccountFile, Vec<u8>)>,
    endpoints: endpoints::Gather,
}

impl Partial {
    fn add(&mut self, p: &str, b: Vec<u8>) {
        let inv = &mut self.inv;
        let elf = b.starts_with(b"\x7fELF");
        let script = b.starts_with(b"#!");
        inv.components.extend(components::from_name(p));
        if elf {
            inv.components.extend(components::from_binary(p, &b));
        }
        let text =
            !elf && b.len() as u64 <= MAX_CONFIG_BYTES && memchr::memchr(0, &b[..b.len().min(512)]).is_none();
        if elf || script || text {
            self.endpoints.add(p, endpoints::scan(&b));
        }
        inv.binaries.extend(binaries::parse(p, &b));
        inv.indicators.extend(indicators::scan(p, &b));
        inv.keys.extend(keys::scan(p, &b));
        inv.escalations.extend(privilege::login_helper(p, &b));
        if script
            && ["\".pools", "NOPASSWD", "4755"]
                .iter()
                .any(|k| memchr::memmem::find(&b, k.as_bytes()).is_some())
        {
            inv.remote_handlers.extend(remote_config::scan(p, &b));
        }
        let name = p.rsplit('/').next().unwrap_or(p);
        if p.contains("cgi-bin/") || name.contains("upgrade") || name.contains("update") {
            inv.updates.extend(updates::parse(p, &b));
        }
        // The rest reads configuration-like files only.
        if b.len() as u64 > MAX_CONFIG_BYTES {
            return;
        }
        platform::scan(&mut inv.platform, p, &b);
        network::scan(&mut inv.network, p, &b);
        if components::is_package_db(p) {
            inv.components.extend(components::from_packages(p, &b));
        }
        if cgi::is_cgi(p, &b) {
            inv.cgi_sinks.extend(cgi::sinks(p, &b));
        }
        if privilege::is_sudoers(p) {
            inv.escalations.extend(privilege::sudoers(p, &b));
        }
        if services::is_crontab(p) {
            inv.services.extend(services::cron(p, &b));
        }
        if services::is_inittab(p) {
            inv.services
                .extend(services::inittab(&accounts::rootfs_of(p), p, &b));
        } else if services::s_script(p) {
            inv.services
                .push(Service::from_script(p, name, "init.d S-script", &b));
        }
        if miner_api::is_config(p) {
            inv.miner_api.extend(miner_api::parse(p, &b));
        } else if let Some(kind) = accounts::classify(p) {
            self.account_files.push((p.to_owned(), kind, b));
        }
    }

    /// The runs' inventories joined in order, with what needs the whole tree: services
    /// started through rc links, components found outside the files (module directories,
    /// uImage names).
    fn merge(parts: Vec<Partial>, links: Vec<Service>, extra: Vec<Component>) -> Inventory {
        let mut inv = Inventory::default();
        let mut account_files = Vec::new();
        let mut gather = endpoints::Gather::default();
        for Partial {
            inv: i,
            account_files: a,
            endpoints: e,
        } in parts
        {
            gather.extend(e);
            inv.platform.extend(i.platform);
            inv.network.listeners.extend(i.network.listeners);
            inv.network.firewall.extend(i.network.firewall);
            inv.accounts.extend(i.accounts);
            inv.web_credentials.extend(i.web_credentials);
            inv.miner_api.extend(i.miner_api);
            inv.keys.extend(i.keys);
            inv.services.extend(i.services);
            inv.escalations.extend(i.escalations);
            inv.updates.extend(i.updates);
            inv.cgi_sinks.extend(i.cgi_sinks);
            inv.indicators.extend(i.indicators);
            inv.remote_handlers.extend(i.remote_handlers);
            inv.binaries.extend(i.binaries);
            inv.rule_matches.extend(i.rule_matches);
            inv.scan_failures.extend(i.scan_failures);
            inv.components.extend(i.components);
            account_files.extend(a);
        }
        inv.miner_api.sort_by(|a, b| a.file.cmp(&b.file));
        inv.services.extend(links);
        inv.services
            .sort_by(|a, b| (&a.rootfs, &a.name, &a.file).cmp(&(&b.rootfs, &b.name, &b.file)));
        inv.components.extend(extra);
        inv.components = components::merge(std::mem::take(&mut inv.components));
        inv.endpoints = gather.finish();
        inv.platform.finish(&inv.components, &inv.keys);
        network::finish(&mut inv.network, &inv.services, &inv.miner_api);
        (inv.accounts, inv.web_credentials) = accounts::read(
            account_files
                .iter()
                .map(|(p, k, b)| (p.as_str(), *k, b.as_slice()))
                .collect(),
        );
        inv
    }
}
