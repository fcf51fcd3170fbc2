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
pub mod indicators;
pub mod keys;
pub mod miner_api;
pub mod privilege;
pub mod remote_config;
pub mod services;
pub mod updates;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Serialize;

use crate::unpack::{EntryRecord, EntryType};
pub use accounts::{Account, DigestCredential, Password, PasswordSource};
use accounts::{AccountFile, Cracker};
pub use binaries::{Binary, Hardening};
pub use cgi::CgiSink;
pub use indicators::IndicatorHit;
pub use keys::{Key, KeyKind};
pub use miner_api::MinerApi;
pub use privilege::Escalation;
pub use remote_config::RemoteHandler;
pub use services::Service;
pub use updates::UpdatePath;

/// Configuration-like files larger than this are not parsed.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Files larger than this are not searched for keys.
pub const MAX_SCAN_BYTES: u64 = 16 << 20;

/// What the inventory found (`result.inventory` of `firmware inspect`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
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
}

/// The extracted tree: the output root and the entries `firmware unpack` reported.
pub struct Tree<'a> {
    root: &'a Path,
    entries: &'a [EntryRecord],
    /// Files that were opened as containers: their content is inventoried through what was
    /// extracted from them, not searched again as bytes.
    containers: std::collections::HashSet<&'a str>,
}

impl<'a> Tree<'a> {
    /// A view of the tree under `root`.
    pub fn new(root: &'a Path, entries: &'a [EntryRecord]) -> Tree<'a> {
        Tree {
            root,
            entries,
            containers: Default::default(),
        }
    }

    /// The same view, told which files were opened as containers (`UnpackReport::nodes`).
    pub fn with_containers(mut self, nodes: &'a [crate::unpack::NodeRecord]) -> Tree<'a> {
        self.containers = nodes
            .iter()
            .filter(|n| n.status != "failed")
            .map(|n| n.path.as_str())
            .collect();
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
    let files = tree
        .files()
        .filter(|e| e.size.unwrap_or(0) <= MAX_SCAN_BYTES && !tree.containers.contains(e.path.as_str()));
    let mut inv = from_files(files.filter_map(|e| Some((e.path.as_str(), tree.read(e, MAX_SCAN_BYTES)?))));
    inv.services.extend(boot_links(tree));
    inv.services
        .sort_by(|a, b| (&a.rootfs, &a.name, &a.file).cmp(&(&b.rootfs, &b.name, &b.file)));
    inv.services
        .dedup_by(|a, b| a.file == b.file && a.how == b.how && a.name == b.name);
    inv
}

/// Services started through `rc?.d` / `rc.d` links to `init.d` scripts.
fn boot_links(tree: &Tree<'_>) -> Vec<Service> {
    let files: std::collections::HashMap<&str, &EntryRecord> =
        tree.files().map(|e| (e.path.as_str(), e)).collect();
    let mut out = Vec::new();
    for l in tree.entries.iter().filter(|e| e.kind == EntryType::Symlink) {
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
        let (daemons, first) = services::daemons_in(&bytes);
        let rc = l.path.rsplit('/').nth(1).unwrap_or("rc.d");
        out.push(Service {
            rootfs: accounts::rootfs_of(&script),
            name: name.to_owned(),
            how: format!("{rc} link"),
            file: script,
            offset: first.as_ref().map(|f| f.0),
            line: first.map(|f| f.1),
            daemons,
        });
    }
    out
}

/// Take the inventory of files given as (path in the tree, content): what [`inventory`] does
/// once it has read them, and what the fuzz target calls.
pub fn from_files<'p>(files: impl Iterator<Item = (&'p str, Vec<u8>)>) -> Inventory {
    let mut cracker = Cracker::new();
    // (rootfs, user) -> account, so that passwd and shadow lines meet.
    let mut accounts: BTreeMap<(String, String), Account> = BTreeMap::new();
    let mut web = Vec::new();
    let mut apis = Vec::new();
    let mut keys = Vec::new();
    let mut services = Vec::new();
    let mut escalations = Vec::new();
    let mut updates = Vec::new();
    let mut cgi_sinks = Vec::new();
    let mut hits = Vec::new();
    let mut handlers = Vec::new();
    let mut binaries = Vec::new();
    let mut files: Vec<(&str, AccountFile, Vec<u8>)> = files
        .filter_map(|(p, mut b)| {
            binaries.extend(binaries::parse(p, &b));
            hits.extend(indicators::scan(p, &b));
            if b.starts_with(b"#!")
                && ["\".pools", "NOPASSWD", "4755"]
                    .iter()
                    .any(|k| memchr::memmem::find(&b, k.as_bytes()).is_some())
            {
                handlers.extend(remote_config::scan(p, &b));
            }
            if b.len() as u64 <= MAX_CONFIG_BYTES && cgi::is_cgi(p, &b) {
                cgi_sinks.extend(cgi::sinks(p, &b));
            }
            let name = p.rsplit('/').next().unwrap_or(p);
            if p.contains("cgi-bin/") || name.contains("upgrade") || name.contains("update") {
                updates.extend(updates::parse(p, &b));
            }
            keys.extend(keys::scan(p, &b));
            escalations.extend(privilege::login_helper(p, &b));
            if privilege::is_sudoers(p) && b.len() as u64 <= MAX_CONFIG_BYTES {
                escalations.extend(privilege::sudoers(p, &b));
            }
            if b.len() as u64 > MAX_CONFIG_BYTES {
                return None;
            }
            if services::is_inittab(p) {
                services.extend(services::inittab(&accounts::rootfs_of(p), p, &b));
            } else if services::s_script(p) {
                let (daemons, first) = services::daemons_in(&b);
                services.push(Service {
                    rootfs: accounts::rootfs_of(p),
                    name: p.rsplit('/').next().unwrap_or(p).to_owned(),
                    how: "init.d S-script".into(),
                    file: p.to_owned(),
                    offset: first.as_ref().map(|f| f.0),
                    line: first.map(|f| f.1),
                    daemons,
                });
            }
            if miner_api::is_config(p) {
                b.truncate(MAX_CONFIG_BYTES as usize);
                apis.extend(miner_api::parse(p, &b));
                return None;
            }
            accounts::classify(p).map(|k| (p, k, b))
        })
        .collect();
    apis.sort_by(|a: &MinerApi, b: &MinerApi| a.file.cmp(&b.file));
    // passwd first, so that an account's uid and shell are known when its shadow lines come.
    files.sort_by(|a, b| (a.1 != AccountFile::Passwd, a.0).cmp(&(b.1 != AccountFile::Passwd, b.0)));
    for (path, kind, mut bytes) in files {
        bytes.truncate(MAX_CONFIG_BYTES as usize);
        let rootfs = accounts::rootfs_of(path);
        let mut offset = 0u64;
        for (n, raw) in bytes
            .split_inclusive(|b| *b == b'\n')
            .take(accounts::MAX_LINES)
            .enumerate()
        {
            let line_at = offset;
            offset += raw.len() as u64;
            let text = String::from_utf8_lossy(raw);
            let line = text.trim_end_matches(['\n', '\r']);
            let at = |password| PasswordSource {
                file: path.to_owned(),
                line: n + 1,
                offset: line_at,
                text: line.to_owned(),
                password,
            };
            match kind {
                AccountFile::Passwd => {
                    let Some((user, pw, uid, shell)) = accounts::passwd_line(line) else {
                        continue;
                    };
                    let a = account(&mut accounts, &rootfs, user);
                    a.uid = a.uid.or(uid);
                    if a.shell.is_none() {
                        a.shell = shell.map(str::to_owned);
                    }
                    let p = cracker.field(pw);
                    if p != Password::Shadowed {
                        a.passwords.push(at(p));
                    }
                }
                AccountFile::Shadow => {
                    let Some((user, pw)) = accounts::shadow_line(line) else {
                        continue;
                    };
                    let p = cracker.field(pw);
                    account(&mut accounts, &rootfs, user).passwords.push(at(p));
                }
                AccountFile::Digest => {
                    let Some((user, realm, ha1)) = accounts::digest_line(line) else {
                        continue;
                    };
                    web.push(DigestCredential {
                        file: path.to_owned(),
                        line: n + 1,
                        offset: line_at,
                        user: user.to_owned(),
                        realm: realm.to_owned(),
                        password: cracker.digest(user, realm, ha1),
                    });
                }
            }
        }
    }
    Inventory {
        accounts: accounts.into_values().collect(),
        web_credentials: web,
        miner_api: apis,
        keys,
        services,
        escalations,
        updates,
        cgi_sinks,
        indicators: hits,
        remote_handlers: handlers,
        binaries,
    }
}

fn account<'m>(
    accounts: &'m mut BTreeMap<(String, String), Account>,
    rootfs: &str,
    user: &str,
) -> &'m mut Account {
    accounts
        .entry((rootfs.to_owned(), user.to_owned()))
        .or_insert_with(|| Account {
            rootfs: rootfs.to_owned(),
            user: user.to_owned(),
            uid: None,
            shell: None,
            passwords: Vec::new(),
        })
}
