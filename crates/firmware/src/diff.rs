//! `firmware diff`: what changed between two inspected images (a vendor's update, say):
//! extracted files, every inventory section, and findings, each as added / removed / changed.
//!
//! # Pairing paths across versions
//!
//! Files are keyed by their path in the extracted tree, rewritten where the unpacker's own
//! naming shifts between versions although the content is the same place:
//!
//! - **Carve offsets.** A chunk carved out of file `F` at offset `N` is unpacked into
//!   `F.extracted/0xN/` (`0xN/` when `F` is the image). Its key replaces `0xN` with `@carveK`,
//!   `K` being the chunk's rank among the chunks carved from `F` (1 for the lowest offset), and
//!   so does a name directly inside it that starts with `0xN` (a codec names its output
//!   after the chunk: `0xN.decompressed`). The first squashfs found in a blob pairs with the
//!   first squashfs of the next version wherever it moved.
//! - **Versioned container names.** A file that was opened as a container (and so its
//!   `F.extracted/` directory) gets each run of digits in its name replaced by `*`
//!   (`rootfs-1.2.3.squashfs` → `rootfs-*.*.*.squashfs`) when that pairs a rename: within
//!   the same (already keyed) parent directory exactly one entry of each version masks to it,
//!   and the two names differ. `mtd0.img` and `mtd1.img` side by side keep their names, and
//!   so does a container whose name did not change. Other files keep their names:
//!   `libfoo.so.1` → `libfoo.so.2` is a removal and an addition (the components section shows
//!   version changes).
//!
//! The same rewriting applies to path-valued fields of inventory items (`file`, `path`,
//! `rootfs`) and to findings' subjects and evidence. Containers whose literal paths differ
//! between the versions but whose keys pair them are listed in `paired`.
//!
//! # Inventory sections
//!
//! Sections are compared over their serialised form, so a section added to
//! [`Inventory`](crate::inventory::Inventory) diffs without code here. [`IDENTITIES`] says,
//! per known section, which fields identify an item (accounts by root file system and user,
//! keys by file, kind and label…) and which fields are volatile (byte offsets and line
//! numbers, which move whenever a line is added above; they are shown, never a change by
//! themselves). A section not in the table is identified by the whole item, so any change is
//! a removal and an addition. Items with the same identity in one version (two keys of one
//! kind in one file) pair exactly equal items first, then in order. A section that is a single
//! object rather than a list is one item.
//!
//! # Findings
//!
//! A finding's identity is its rule, its subject and the paths of its file evidence, keyed as
//! above; byte offsets order findings of one identity but are not part of it. A pair with a
//! different severity or message (paths in the message keyed as above) is changed. The
//! findings the new image has that the old one did not (new or changed) are
//! [`FirmwareDiff::introduced`], what a CI gate fails on.
//!
//! Every list is capped at [`MAX_LISTED`] items; totals count everything.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use hashward_model::{Evidence, Finding, Subject};
use serde::Serialize;
use serde_json::Value;

use crate::InspectReport;
use crate::unpack::{EntryRecord, EntryType, UnpackReport};

/// Items listed per list at most; `total` counts them all.
pub const MAX_LISTED: usize = 1000;

/// Fields of inventory items (at any depth) that hold paths in the extracted tree.
pub const PATH_FIELDS: &[&str] = &["file", "path", "rootfs"];

/// How the items of one inventory section are told apart.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// The section's name in the serialised inventory.
    pub section: &'static str,
    /// Fields that identify an item.
    pub fields: &'static [&'static str],
    /// Fields (at any depth) that move without meaning a change: offsets, line numbers.
    pub volatile: &'static [&'static str],
}

/// Identities of the known inventory sections, sorted by section.
pub const IDENTITIES: &[Identity] = &[
    Identity {
        section: "accounts",
        fields: &["rootfs", "user"],
        volatile: &["offset", "line"],
    },
    Identity {
        section: "binaries",
        fields: &["file"],
        volatile: &[],
    },
    Identity {
        section: "cgi_sinks",
        fields: &["file", "variable", "command"],
        volatile: &["offset"],
    },
    Identity {
        section: "components",
        fields: &["rootfs", "name", "kind"],
        volatile: &["offset"],
    },
    Identity {
        section: "endpoints",
        fields: &["value"],
        volatile: &["sites", "files"],
    },
    Identity {
        section: "escalations",
        fields: &["file", "how", "who"],
        volatile: &["offset"],
    },
    Identity {
        section: "indicators",
        fields: &["file", "indicator"],
        volatile: &["offset"],
    },
    Identity {
        section: "keys",
        fields: &["file", "kind", "label"],
        volatile: &["offset"],
    },
    Identity {
        section: "miner_api",
        fields: &["file"],
        volatile: &["offset"],
    },
    Identity {
        section: "remote_handlers",
        fields: &["file", "kind"],
        volatile: &["offset"],
    },
    Identity {
        section: "rule_matches",
        fields: &["engine", "namespace", "rule", "file"],
        volatile: &["offset"],
    },
    Identity {
        section: "services",
        fields: &["rootfs", "name"],
        volatile: &["offset"],
    },
    Identity {
        section: "updates",
        fields: &["file", "runs"],
        volatile: &["offset"],
    },
    Identity {
        section: "web_credentials",
        fields: &["file", "user", "realm"],
        volatile: &["offset", "line"],
    },
];

/// Inventory sections knowingly left to the fallback identity (the whole item), sorted. Both
/// are single objects: a change shows as the object changed, with the fields (`os`,
/// `listeners`, `firewall`…) that differ.
pub const ON_FALLBACK: &[&str] = &["network", "platform"];

/// A list capped at [`MAX_LISTED`] items, with the number there were.
#[derive(Debug, Clone, Serialize)]
pub struct Listed<T> {
    /// How many there were.
    pub total: usize,
    /// The first [`MAX_LISTED`] of them.
    pub items: Vec<T>,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed {
            total: 0,
            items: Vec::new(),
        }
    }
}

impl<T> Listed<T> {
    fn push(&mut self, item: T) {
        self.total += 1;
        if self.items.len() < MAX_LISTED {
            self.items.push(item);
        }
    }
}

/// One image of the pair.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRef {
    /// sha256 of the image.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A container whose path differs between the versions but which pairs by its key.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    /// The key both paths map to.
    pub key: String,
    /// Path in the old tree.
    pub old: String,
    /// Path in the new tree.
    pub new: String,
}

/// One entry of an extracted tree, as compared.
#[derive(Debug, Clone, Serialize)]
pub struct FileState {
    /// The pairing key (see the module doc).
    pub key: String,
    /// Path in its tree.
    pub path: String,
    /// What it is.
    pub kind: EntryType,
    /// Bytes (files and hard links).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// sha256 of the content (files and hard links).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Permission bits as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Link target, or device description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// An entry present in both trees that differs.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    /// The pairing key.
    pub key: String,
    /// What differs: `kind`, `sha256`, `mode`, `target`.
    pub fields: Vec<&'static str>,
    /// The old entry.
    pub old: FileState,
    /// The new entry.
    pub new: FileState,
}

/// Entries of the two trees compared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilesDiff {
    /// Entries the same in both.
    pub unchanged: usize,
    /// Entries only in the new tree.
    pub added: Listed<FileState>,
    /// Entries only in the old tree.
    pub removed: Listed<FileState>,
    /// Entries in both that differ.
    pub changed: Listed<FileChange>,
}

/// An inventory item present in both versions that differs.
#[derive(Debug, Clone, Serialize)]
pub struct ItemChange {
    /// The identity fields and their (keyed) values, or the whole item.
    pub key: Value,
    /// The top-level fields that differ.
    pub fields: Vec<String>,
    /// The old item, as inventoried.
    pub old: Value,
    /// The new item, as inventoried.
    pub new: Value,
}

/// One inventory section compared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SectionDiff {
    /// The fields that identify an item (empty: the whole item).
    pub identity: Vec<&'static str>,
    /// Items the same in both.
    pub unchanged: usize,
    /// Items only in the new image.
    pub added: Listed<Value>,
    /// Items only in the old image.
    pub removed: Listed<Value>,
    /// Items in both that differ.
    pub changed: Listed<ItemChange>,
}

impl SectionDiff {
    /// Whether nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.total == 0 && self.removed.total == 0 && self.changed.total == 0
    }
}

/// A finding raised on both images with a different severity or message.
#[derive(Debug, Clone, Serialize)]
pub struct FindingChange {
    /// What differs: `severity`, `message`.
    pub fields: Vec<&'static str>,
    /// The old finding.
    pub old: Finding,
    /// The new finding.
    pub new: Finding,
}

/// Findings of the two images compared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FindingsDiff {
    /// Findings the same in both.
    pub unchanged: usize,
    /// Findings only the new image raises.
    pub new: Listed<Finding>,
    /// Findings only the old image raised.
    pub gone: Listed<Finding>,
    /// Findings of both with a different severity or message.
    pub changed: Listed<FindingChange>,
}

/// What changed between two images (`result.diff` of `firmware diff`).
#[derive(Debug, Clone, Serialize)]
pub struct FirmwareDiff {
    /// The old image.
    pub old: ImageRef,
    /// The new image.
    pub new: ImageRef,
    /// Containers paired under different paths (capped).
    pub paired: Listed<Paired>,
    /// Extracted entries.
    pub files: FilesDiff,
    /// Inventory sections, by name.
    pub inventory: BTreeMap<String, SectionDiff>,
    /// Findings.
    pub findings: FindingsDiff,
    /// Every finding the new image has that the old did not (new or changed), uncapped.
    #[serde(skip)]
    pub introduced: Vec<Finding>,
}

impl FirmwareDiff {
    /// Whether the two images differ in nothing compared (files, inventory, findings).
    pub fn is_empty(&self) -> bool {
        self.files.added.total == 0
            && self.files.removed.total == 0
            && self.files.changed.total == 0
            && self.inventory.values().all(SectionDiff::is_empty)
            && self.findings.new.total == 0
            && self.findings.gone.total == 0
            && self.findings.changed.total == 0
    }
}

/// Compare two inspections: `old` before, `new` after.
pub fn diff(old: &InspectReport, new: &InspectReport) -> FirmwareDiff {
    let [ko, kn] = Keys::plan(&old.unpack, &new.unpack);
    let (findings, introduced) = diff_findings(&old.findings, &ko, &new.findings, &kn);
    FirmwareDiff {
        old: ImageRef {
            sha256: old.unpack.image_sha256.clone(),
            size: old.unpack.image_size,
        },
        new: ImageRef {
            sha256: new.unpack.image_sha256.clone(),
            size: new.unpack.image_size,
        },
        paired: paired(&ko, &kn),
        files: diff_files(&old.unpack.entries, &ko, &new.unpack.entries, &kn),
        inventory: diff_inventory(
            &serde_json::to_value(&old.inventory).unwrap_or(Value::Null),
            &ko,
            &serde_json::to_value(&new.inventory).unwrap_or(Value::Null),
            &kn,
        ),
        findings,
        introduced,
    }
}

// ---- keys ---------------------------------------------------------------------------------

/// How one tree's paths map to keys: the literal paths of renamed containers and carve
/// directories, and their keys.
#[derive(Debug, Default)]
struct Keys {
    /// Container file → key.
    containers: HashMap<String, String>,
    /// Carve directory → key.
    carves: HashMap<String, String>,
}

/// One container file or carve directory to name, from one tree.
struct Renamable<'a> {
    /// Components in its path.
    depth: usize,
    /// 0 for old, 1 for new.
    side: usize,
    what: Kind<'a>,
}

enum Kind<'a> {
    /// A file opened as a container.
    Container(&'a str),
    /// The directory of the `rank`-th chunk carved out of a file.
    Carve { dir: String, rank: usize },
}

impl Keys {
    /// The keys of both trees, decided together (a versioned name is masked only to pair a
    /// container renamed between them).
    fn plan(old: &UnpackReport, new: &UnpackReport) -> [Keys; 2] {
        let mut todo: Vec<Renamable<'_>> = Vec::new();
        for (side, r) in [old, new].into_iter().enumerate() {
            let mut offsets: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
            let mut seen = HashSet::new();
            for n in &r.nodes {
                if !n.path.is_empty() && seen.insert(n.path.as_str()) {
                    todo.push(Renamable {
                        depth: depth(&n.path),
                        side,
                        what: Kind::Container(&n.path),
                    });
                }
                if n.offset > 0 {
                    offsets.entry(&n.path).or_default().push(n.offset);
                }
            }
            for (file, mut offs) in offsets {
                offs.sort_unstable();
                offs.dedup();
                for (i, o) in offs.into_iter().enumerate() {
                    let dir = if file.is_empty() {
                        format!("0x{o:x}")
                    } else {
                        format!("{file}.extracted/0x{o:x}")
                    };
                    todo.push(Renamable {
                        depth: depth(&dir),
                        side,
                        what: Kind::Carve { dir, rank: i + 1 },
                    });
                }
            }
        }
        // A parent's key is decided before its children's: they are deeper.
        todo.sort_by_key(|r| r.depth);
        let siblings = [siblings_of(old, &todo, 0), siblings_of(new, &todo, 1)];
        let mut keys = [Keys::default(), Keys::default()];
        let mut at = 0;
        while at < todo.len() {
            let level_end = todo[at..]
                .iter()
                .position(|r| r.depth != todo[at].depth)
                .map_or(todo.len(), |n| at + n);
            let level = &todo[at..level_end];
            // Masked name in a keyed parent → the literal names of each side that mask to it.
            let mut groups: HashMap<(String, String), [HashSet<String>; 2]> = HashMap::new();
            let mut parents_done = HashSet::new();
            for r in level {
                let Kind::Container(path) = r.what else { continue };
                let parent = parent_of(path);
                if !parents_done.insert((r.side, parent)) {
                    continue;
                }
                let pkey = keys[r.side].key(parent).into_owned();
                let names = siblings[r.side].get(parent).map(Vec::as_slice).unwrap_or(&[]);
                for name in names {
                    let (fixed, masked) = keys[r.side].name_in(parent, name);
                    groups.entry((pkey.clone(), masked)).or_default()[r.side].insert(fixed);
                }
            }
            for r in level {
                let k = &keys[r.side];
                let decided = match &r.what {
                    Kind::Carve { dir, rank } => {
                        let pkey = k.key(parent_of(dir));
                        (dir.clone(), join(&pkey, &format!("@carve{rank}")), true)
                    }
                    Kind::Container(path) => {
                        let parent = parent_of(path);
                        let name = &path[parent.len() + usize::from(!parent.is_empty())..];
                        let pkey = k.key(parent).into_owned();
                        let (fixed, masked) = k.name_in(parent, name);
                        // Masked only to pair a rename: one name on each side, not the same.
                        let renamed = groups
                            .get(&(pkey.clone(), masked.clone()))
                            .is_some_and(|g| g.iter().all(|s| s.len() == 1) && g[0] != g[1]);
                        let name = if renamed { masked } else { fixed };
                        ((*path).to_owned(), join(&pkey, &name), false)
                    }
                };
                let (literal, key, carve) = decided;
                let k = &mut keys[r.side];
                if carve {
                    k.carves.insert(literal, key);
                } else {
                    k.containers.insert(literal, key);
                }
            }
            at = level_end;
        }
        keys
    }

    /// The key of `path` (a file, directory or link of this tree).
    fn key<'p>(&self, path: &'p str) -> Cow<'p, str> {
        if self.containers.is_empty() && self.carves.is_empty() {
            return Cow::Borrowed(path);
        }
        let mut out = String::with_capacity(path.len() + 8);
        let mut rewritten = false;
        // The carve directory just passed: (literal name, key name).
        let mut carve: Option<(&str, &str)> = None;
        let mut end = 0;
        for (i, c) in path.split('/').enumerate() {
            // `end` is the byte length of the components so far with their separators.
            end += c.len() + usize::from(i > 0);
            let lit = &path[..end];
            let last = end == path.len();
            let mut next_carve = None;
            if c.starts_with("0x")
                && let Some(k) = self.carves.get(lit)
            {
                out.clone_from(k);
                next_carve = Some((c, k.rsplit('/').next().unwrap_or(k)));
                rewritten = true;
            } else if let Some(base) = lit.strip_suffix(".extracted")
                && let Some(k) = self.containers.get(base)
            {
                out.clone_from(k);
                out.push_str(".extracted");
                rewritten = true;
            } else if last && let Some(k) = self.containers.get(lit) {
                out.clone_from(k);
                rewritten = true;
            } else if let Some((ln, kn)) = carve
                && let Some(rest) = carve_rest(c, ln)
            {
                push_component(&mut out, kn);
                out.push_str(rest);
                rewritten = true;
            } else {
                push_component(&mut out, c);
            }
            carve = next_carve;
        }
        if rewritten {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(path)
        }
    }

    /// A name inside `parent` with a carve directory's offset replaced (`fixed`), and the same
    /// with its digit runs masked (`masked`).
    fn name_in(&self, parent: &str, name: &str) -> (String, String) {
        if let Some(k) = self.carves.get(parent) {
            let ln = parent.rsplit('/').next().unwrap_or(parent);
            let kn = k.rsplit('/').next().unwrap_or(k);
            if let Some(rest) = carve_rest(name, ln) {
                return (format!("{kn}{rest}"), format!("{kn}{}", mask(rest)));
            }
        }
        (name.to_owned(), mask(name))
    }
}

/// Names of entries sharing a directory with a container file (their `.extracted`
/// directories aside), per directory.
fn siblings_of(r: &UnpackReport, todo: &[Renamable<'_>], side: usize) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = todo
        .iter()
        .filter(|t| t.side == side)
        .filter_map(|t| match t.what {
            Kind::Container(p) => Some((parent_of(p).to_owned(), Vec::new())),
            Kind::Carve { .. } => None,
        })
        .collect();
    for e in &r.entries {
        let parent = parent_of(&e.path);
        if let Some(names) = out.get_mut(parent) {
            let name = &e.path[parent.len() + usize::from(!parent.is_empty())..];
            if !name.ends_with(".extracted") {
                names.push(name.to_owned());
            }
        }
    }
    // A container is its parent's child even if no entry was recorded for it (the image's
    // own codec output, say).
    for t in todo.iter().filter(|t| t.side == side) {
        if let Kind::Container(p) = t.what {
            let parent = parent_of(p);
            let name = &p[parent.len() + usize::from(!parent.is_empty())..];
            if let Some(names) = out.get_mut(parent)
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_owned());
            }
        }
    }
    out
}

/// What follows the carve directory's name `ln` at the start of `name` (`""` or `.…`).
fn carve_rest<'n>(name: &'n str, ln: &str) -> Option<&'n str> {
    let rest = name.strip_prefix(ln)?;
    (rest.is_empty() || rest.starts_with('.')).then_some(rest)
}

/// Each run of ASCII digits replaced by `*`.
fn mask(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_digits = false;
    for ch in name.chars() {
        if ch.is_ascii_digit() {
            if !in_digits {
                out.push('*');
            }
            in_digits = true;
        } else {
            out.push(ch);
            in_digits = false;
        }
    }
    out
}

fn depth(path: &str) -> usize {
    path.split('/').count()
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

fn push_component(out: &mut String, c: &str) {
    if !out.is_empty() {
        out.push('/');
    }
    out.push_str(c);
}

/// Containers and carve directories whose key pairs two different literal paths.
fn paired(ko: &Keys, kn: &Keys) -> Listed<Paired> {
    let by_key = |k: &Keys| -> BTreeMap<String, String> {
        k.containers
            .iter()
            .chain(&k.carves)
            .map(|(lit, key)| (key.clone(), lit.clone()))
            .collect()
    };
    let (o, n) = (by_key(ko), by_key(kn));
    let mut out = Listed::default();
    for (key, old) in &o {
        if let Some(new) = n.get(key)
            && new != old
        {
            out.push(Paired {
                key: key.clone(),
                old: old.clone(),
                new: new.clone(),
            });
        }
    }
    out
}

// ---- files --------------------------------------------------------------------------------

fn state(e: &EntryRecord, key: &str) -> FileState {
    FileState {
        key: key.to_owned(),
        path: e.path.clone(),
        kind: e.kind,
        size: e.size,
        sha256: e.sha256.map(|s| s.to_string()),
        mode: e.mode,
        target: e.target.as_deref().map(str::to_owned),
    }
}

fn diff_files(old: &[EntryRecord], ko: &Keys, new: &[EntryRecord], kn: &Keys) -> FilesDiff {
    // A later entry under the same key wins, as a later archive member overwrites an earlier.
    let index = |entries: &'_ [EntryRecord], k: &Keys| -> BTreeMap<String, usize> {
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| (k.key(&e.path).into_owned(), i))
            .collect()
    };
    let (o, n) = (index(old, ko), index(new, kn));
    let mut d = FilesDiff::default();
    for (key, &i) in &o {
        let a = &old[i];
        let Some(&j) = n.get(key) else {
            d.removed.push(state(a, key));
            continue;
        };
        let b = &new[j];
        let mut fields = Vec::new();
        if a.kind != b.kind {
            fields.push("kind");
        }
        if a.sha256 != b.sha256 {
            fields.push("sha256");
        }
        if a.mode != b.mode {
            fields.push("mode");
        }
        if a.target != b.target {
            fields.push("target");
        }
        if fields.is_empty() {
            d.unchanged += 1;
        } else {
            d.changed.push(FileChange {
                key: key.clone(),
                fields,
                old: state(a, key),
                new: state(b, key),
            });
        }
    }
    for (key, &j) in &n {
        if !o.contains_key(key) {
            d.added.push(state(&new[j], key));
        }
    }
    d
}

// ---- inventory ----------------------------------------------------------------------------

/// The identity of a section: from [`IDENTITIES`], or the whole item.
pub fn identity_of(section: &str) -> Identity {
    IDENTITIES
        .iter()
        .find(|i| i.section == section)
        .copied()
        .unwrap_or(Identity {
            section: "",
            fields: &[],
            volatile: &[],
        })
}

fn diff_inventory(old: &Value, ko: &Keys, new: &Value, kn: &Keys) -> BTreeMap<String, SectionDiff> {
    let empty = serde_json::Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let names: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let id = identity_of(name);
            let as_items = |v: Option<&Value>| -> Vec<Value> {
                match v {
                    Some(Value::Array(items)) => items.clone(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(other) => vec![other.clone()],
                }
            };
            // A section that is one object (not a list) is one item, whatever it holds.
            let single = [o.get(name), n.get(name)]
                .iter()
                .any(|v| v.is_some_and(|v| !v.is_array() && !v.is_null()));
            let id = if single {
                Identity {
                    section: id.section,
                    fields: &[],
                    volatile: id.volatile,
                }
            } else {
                id
            };
            let d = diff_items(
                &id,
                &as_items(o.get(name)),
                ko,
                &as_items(n.get(name)),
                kn,
                single,
            );
            (name.clone(), d)
        })
        .collect()
}

/// One item prepared for comparison: keyed paths, volatile fields removed.
struct Prepared {
    /// The identity as JSON text (the grouping key).
    id: String,
    /// The identity value, for the output.
    id_value: Value,
    /// The comparable form as JSON text.
    text: String,
    /// The comparable form.
    value: Value,
}

/// `single`: the item is the whole section, so its identity is fixed (`null`).
fn prepare(item: &Value, keys: &Keys, id: &Identity, single: bool) -> Prepared {
    let mut v = item.clone();
    rewrite(&mut v, keys, id.volatile);
    let id_value = match &v {
        _ if single => Value::Null,
        Value::Object(m) if id.fields.iter().any(|f| m.contains_key(*f)) => Value::Object(
            id.fields
                .iter()
                .map(|f| ((*f).to_owned(), m.get(*f).cloned().unwrap_or(Value::Null)))
                .collect(),
        ),
        _ => v.clone(),
    };
    Prepared {
        id: id_value.to_string(),
        id_value,
        text: v.to_string(),
        value: v,
    }
}

/// Key the path fields of `v` and drop its volatile fields, at every depth.
fn rewrite(v: &mut Value, keys: &Keys, volatile: &[&str]) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !volatile.contains(&k.as_str()));
            for (k, x) in m.iter_mut() {
                if PATH_FIELDS.contains(&k.as_str())
                    && let Value::String(s) = x
                {
                    if let Cow::Owned(keyed) = keys.key(s) {
                        *s = keyed;
                    }
                } else {
                    rewrite(x, keys, volatile);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, keys, volatile)),
        _ => {}
    }
}

fn diff_items(
    id: &Identity,
    old: &[Value],
    ko: &Keys,
    new: &[Value],
    kn: &Keys,
    single: bool,
) -> SectionDiff {
    let po: Vec<Prepared> = old.iter().map(|v| prepare(v, ko, id, single)).collect();
    let pn: Vec<Prepared> = new.iter().map(|v| prepare(v, kn, id, single)).collect();
    let mut groups: BTreeMap<&str, [Vec<usize>; 2]> = BTreeMap::new();
    for (i, p) in po.iter().enumerate() {
        groups.entry(&p.id).or_default()[0].push(i);
    }
    for (j, p) in pn.iter().enumerate() {
        groups.entry(&p.id).or_default()[1].push(j);
    }
    let mut d = SectionDiff {
        identity: id.fields.to_vec(),
        ..SectionDiff::default()
    };
    for [os, ns] in groups.into_values() {
        let m = match_group(&os, &ns, |i| po[i].text.as_str(), |j| pn[j].text.as_str());
        d.unchanged += m.same.len();
        for (i, j) in m.differ {
            d.changed.push(ItemChange {
                key: pn[j].id_value.clone(),
                fields: changed_fields(&po[i].value, &pn[j].value),
                old: old[i].clone(),
                new: new[j].clone(),
            });
        }
        m.gone.into_iter().for_each(|i| d.removed.push(old[i].clone()));
        m.fresh.into_iter().for_each(|j| d.added.push(new[j].clone()));
    }
    d
}

/// Items of one identity matched across the versions (indices into each side's list).
#[derive(Default)]
struct Matched {
    /// (old, new) pairs that are equal.
    same: Vec<(usize, usize)>,
    /// (old, new) pairs that differ.
    differ: Vec<(usize, usize)>,
    /// Old items left over.
    gone: Vec<usize>,
    /// New items left over.
    fresh: Vec<usize>,
}

/// Pair the old items `os` with the new items `ns` of one identity: equal ones first (by
/// their comparable text), then the rest in order.
fn match_group<'t>(
    os: &[usize],
    ns: &[usize],
    old_text: impl Fn(usize) -> &'t str,
    new_text: impl Fn(usize) -> &'t str,
) -> Matched {
    let mut m = Matched::default();
    let mut free: HashMap<&str, Vec<usize>> = HashMap::new();
    for &j in ns.iter().rev() {
        free.entry(new_text(j)).or_default().push(j);
    }
    let mut taken = HashSet::new();
    let mut rest_old = Vec::new();
    for &i in os {
        match free.get_mut(old_text(i)).and_then(Vec::pop) {
            Some(j) => {
                taken.insert(j);
                m.same.push((i, j));
            }
            None => rest_old.push(i),
        }
    }
    let mut rest_new = ns.iter().copied().filter(|j| !taken.contains(j));
    for i in rest_old {
        match rest_new.next() {
            Some(j) => m.differ.push((i, j)),
            None => m.gone.push(i),
        }
    }
    m.fresh = rest_new.collect();
    m
}

/// The top-level fields of two comparable items that differ (none listed when they are not
/// objects: the whole value differs).
fn changed_fields(a: &Value, b: &Value) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let names: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            names
                .into_iter()
                .filter(|k| x.get(*k) != y.get(*k))
                .cloned()
                .collect()
        }
        _ => Vec::new(),
    }
}

// ---- findings -----------------------------------------------------------------------------

/// A finding prepared for comparison.
struct FindingKey {
    /// Rule, subject and evidence paths, keyed.
    id: String,
    /// Severity and message (paths keyed), compared as one.
    text: String,
    /// The message (paths keyed).
    message: String,
    /// The first evidence offset, to pair findings of one identity in order.
    offset: u64,
}

fn finding_key(f: &Finding, keys: &Keys) -> FindingKey {
    let mut literal_paths: Vec<&str> = Vec::new();
    let subject = match &f.subject {
        Subject::FirmwareFile { path, .. } => {
            literal_paths.push(path);
            keys.key(path).into_owned()
        }
        Subject::FirmwareImage { .. } => "(image)".to_owned(),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    let mut evidence = Vec::new();
    let mut offset = u64::MAX;
    for e in &f.evidence {
        if let Evidence::File { path, offset: at, .. } = e {
            literal_paths.push(path);
            evidence.push(keys.key(path).into_owned());
            offset = offset.min(at.unwrap_or(u64::MAX));
        }
    }
    let mut message = f.message.clone();
    // Longer paths first, so that a path is not half-rewritten by a shorter one it contains.
    literal_paths.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    literal_paths.dedup();
    for p in literal_paths {
        if let Cow::Owned(k) = keys.key(p)
            && !p.is_empty()
        {
            message = message.replace(p, &k);
        }
    }
    FindingKey {
        id: serde_json::json!([f.rule.as_str(), subject, evidence]).to_string(),
        text: format!("{}\n{message}", f.severity.as_str()),
        message,
        offset,
    }
}

fn diff_findings(old: &[Finding], ko: &Keys, new: &[Finding], kn: &Keys) -> (FindingsDiff, Vec<Finding>) {
    let fo: Vec<FindingKey> = old.iter().map(|f| finding_key(f, ko)).collect();
    let fnew: Vec<FindingKey> = new.iter().map(|f| finding_key(f, kn)).collect();
    let mut groups: BTreeMap<&str, [Vec<usize>; 2]> = BTreeMap::new();
    for (i, k) in fo.iter().enumerate() {
        groups.entry(&k.id).or_default()[0].push(i);
    }
    for (j, k) in fnew.iter().enumerate() {
        groups.entry(&k.id).or_default()[1].push(j);
    }
    let mut d = FindingsDiff::default();
    let mut introduced = Vec::new();
    for [mut os, mut ns] in groups.into_values() {
        os.sort_by_key(|&i| fo[i].offset);
        ns.sort_by_key(|&j| fnew[j].offset);
        let m = match_group(&os, &ns, |i| fo[i].text.as_str(), |j| fnew[j].text.as_str());
        d.unchanged += m.same.len();
        for (i, j) in m.differ {
            let (a, b) = (&old[i], &new[j]);
            let mut fields = Vec::new();
            if a.severity != b.severity {
                fields.push("severity");
            }
            if fo[i].message != fnew[j].message {
                fields.push("message");
            }
            introduced.push(b.clone());
            d.changed.push(FindingChange {
                fields,
                old: a.clone(),
                new: b.clone(),
            });
        }
        for i in m.gone {
            d.gone.push(old[i].clone());
        }
        for j in m.fresh {
            introduced.push(new[j].clone());
            d.new.push(new[j].clone());
        }
    }
    (d, introduced)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::inventory::Inventory;
    use crate::unpack::{NodeRecord, UnpackStats};

    #[test]
    fn identities_are_sorted_and_unique() {
        for w in IDENTITIES.windows(2) {
            assert!(w[0].section < w[1].section, "{} / {}", w[0].section, w[1].section);
        }
        for w in ON_FALLBACK.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        for s in ON_FALLBACK {
            assert!(IDENTITIES.iter().all(|i| i.section != *s), "{s} is in both lists");
        }
    }

    /// Every section of the inventory has an identity or is knowingly on the fallback, and
    /// neither list names a section the inventory does not have: adding a section to
    /// `Inventory` means deciding here how its items are told apart.
    #[test]
    fn every_inventory_section_is_in_the_table_or_knowingly_on_the_fallback() {
        let v = serde_json::to_value(Inventory::default()).unwrap();
        let sections: Vec<&String> = v.as_object().unwrap().keys().collect();
        for s in &sections {
            assert!(
                IDENTITIES.iter().any(|i| i.section == s.as_str()) || ON_FALLBACK.contains(&s.as_str()),
                "inventory section {s:?} is neither in diff::IDENTITIES nor in diff::ON_FALLBACK"
            );
        }
        for s in IDENTITIES
            .iter()
            .map(|i| i.section)
            .chain(ON_FALLBACK.iter().copied())
        {
            assert!(
                sections.iter().any(|x| x.as_str() == s),
                "{s:?} is not an inventory section"
            );
        }
        // A field cannot both tell items apart and be dropped before comparing them.
        for i in IDENTITIES {
            for f in i.fields {
                assert!(
                    !i.volatile.contains(f),
                    "{}: {f} is both identity and volatile",
                    i.section
                );
            }
        }
    }

    fn entry(path: &str, sha: u8) -> EntryRecord {
        EntryRecord {
            path: path.into(),
            kind: EntryType::File,
            size: Some(1),
            sha256: Some(crate::unpack::Sha256Hex::from_digest(&[sha; 32])),
            target: None,
            layers: Arc::new(Vec::new()),
            parent: Arc::from(""),
            offset: None,
            mode: Some(0o644),
            truncated: false,
            not_created: false,
        }
    }

    fn node(path: &str, offset: u64) -> NodeRecord {
        NodeRecord {
            path: path.into(),
            offset,
            format: "squashfs".into(),
            layers: vec!["squashfs".into()],
            size: None,
            entries: 1,
            status: "ok".into(),
            error: None,
            details: Value::Null,
        }
    }

    fn report(entries: Vec<EntryRecord>, nodes: Vec<NodeRecord>) -> InspectReport {
        InspectReport {
            unpack: UnpackReport {
                image_sha256: "00".repeat(32),
                image_size: 1,
                entries,
                nodes,
                findings: Vec::new(),
                stats: UnpackStats::default(),
            },
            inventory: Inventory::default(),
            findings: Vec::new(),
        }
    }

    #[test]
    fn shifted_carve_offsets_and_versioned_container_names_pair_up() {
        let old = report(
            vec![
                entry("fw-1.0.bin", 1),
                entry("fw-1.0.bin.extracted/0x100/etc/passwd", 2),
                entry("fw-1.0.bin.extracted/0x100/etc/shadow", 3),
                entry("fw-1.0.bin.extracted/0x9000/0x9000.decompressed", 4),
            ],
            vec![node("", 0), node("fw-1.0.bin", 0x100), node("fw-1.0.bin", 0x9000)],
        );
        let new = report(
            vec![
                entry("fw-1.1.bin", 5),
                entry("fw-1.1.bin.extracted/0x180/etc/passwd", 2),
                entry("fw-1.1.bin.extracted/0x180/etc/shadow", 6),
                entry("fw-1.1.bin.extracted/0xa000/0xa000.decompressed", 4),
            ],
            vec![node("", 0), node("fw-1.1.bin", 0x180), node("fw-1.1.bin", 0xa000)],
        );
        let d = diff(&old, &new);
        assert_eq!(
            (d.files.added.total, d.files.removed.total),
            (0, 0),
            "{:#?}",
            d.files
        );
        let changed: Vec<&str> = d.files.changed.items.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            changed,
            ["fw-*.*.bin", "fw-*.*.bin.extracted/@carve1/etc/shadow"],
            "{:#?}",
            d.files
        );
        assert_eq!(d.files.unchanged, 2);
        assert_eq!(
            d.files.changed.items[1].old.path,
            "fw-1.0.bin.extracted/0x100/etc/shadow"
        );
        let pairs: Vec<(&str, &str)> = d
            .paired
            .items
            .iter()
            .map(|p| (p.old.as_str(), p.new.as_str()))
            .collect();
        assert!(pairs.contains(&("fw-1.0.bin", "fw-1.1.bin")), "{pairs:?}");
        assert!(
            pairs.contains(&("fw-1.0.bin.extracted/0x9000", "fw-1.1.bin.extracted/0xa000")),
            "{pairs:?}"
        );
    }

    #[test]
    fn ambiguous_masked_names_keep_their_literal_names() {
        // mtd0.img and mtd1.img would both mask to mtd*.img: neither is renamed, so the old
        // mtd1 is not paired with the new mtd0.
        let old = report(
            vec![
                entry("mtd0.img", 1),
                entry("mtd0.img.extracted/a", 2),
                entry("mtd1.img", 3),
                entry("mtd1.img.extracted/b", 4),
            ],
            vec![node("mtd0.img", 0), node("mtd1.img", 0)],
        );
        let new = report(
            vec![entry("mtd0.img", 1), entry("mtd0.img.extracted/a", 2)],
            vec![node("mtd0.img", 0)],
        );
        let d = diff(&old, &new);
        let removed: Vec<&str> = d.files.removed.items.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(removed, ["mtd1.img", "mtd1.img.extracted/b"]);
        assert_eq!(d.files.unchanged, 2);
        assert!(d.paired.items.is_empty());
        // A renamed container is masked; a plain file beside it that masks the same way
        // counts too and keeps both literal; a name found in both versions is kept as it is.
        let new = report(vec![entry("x-3.img", 1)], vec![node("x-3.img", 0)]);
        let old = report(
            vec![entry("x-1.img", 1), entry("lib-2.so", 2)],
            vec![node("x-1.img", 0)],
        );
        let keys = Keys::plan(&old.unpack, &new.unpack);
        assert_eq!(
            (keys[0].key("x-1.img"), keys[1].key("x-3.img")),
            ("x-*.img".into(), "x-*.img".into())
        );
        let old = report(
            vec![entry("x-1.img", 1), entry("x-2.img", 2)],
            vec![node("x-1.img", 0)],
        );
        let keys = Keys::plan(&old.unpack, &new.unpack);
        assert_eq!(
            (keys[0].key("x-1.img"), keys[1].key("x-3.img")),
            ("x-1.img".into(), "x-3.img".into())
        );
        let keys = Keys::plan(&new.unpack, &new.unpack);
        assert_eq!(keys[0].key("x-3.img"), "x-3.img");
    }

    #[test]
    fn inventory_items_pair_by_identity_and_ignore_moved_offsets() {
        let id = identity_of("keys");
        let k = |file: &str, off: u64, sha: &str| serde_json::json!({"file": file, "offset": off, "kind": "private_key", "label": "RSA PRIVATE KEY", "sha256": sha});
        let none = Keys::default();
        // Same key moved down the file; a second key rotated; a third added.
        let old = [k("etc/a.pem", 0, "aa"), k("etc/a.pem", 900, "bb")];
        let new = [
            k("etc/a.pem", 40, "aa"),
            k("etc/a.pem", 940, "cc"),
            k("etc/b.pem", 0, "dd"),
        ];
        let d = diff_items(&id, &old, &none, &new, &none, false);
        assert_eq!(d.unchanged, 1);
        assert_eq!(d.changed.total, 1);
        assert_eq!(d.changed.items[0].fields, ["sha256"]);
        assert_eq!(d.changed.items[0].old["sha256"], "bb");
        assert_eq!(d.added.total, 1);
        assert_eq!(d.added.items[0]["file"], "etc/b.pem");
        assert_eq!(d.removed.total, 0);
        // An unknown section: the whole item is the identity.
        let fb = identity_of("not_a_section");
        let d = diff_items(
            &fb,
            &[serde_json::json!({"value": "a.example"})],
            &none,
            &[serde_json::json!({"value": "b.example"})],
            &none,
            false,
        );
        assert_eq!((d.added.total, d.removed.total, d.changed.total), (1, 1, 0));
        // A section that is one object compares as one item.
        let d = diff_inventory(
            &serde_json::json!({"platform": {"soc": "zynq", "board": "s9"}}),
            &none,
            &serde_json::json!({"platform": {"soc": "zynq", "board": "s9i"}}),
            &none,
        );
        assert_eq!(d["platform"].changed.items[0].fields, ["board"]);
    }

    #[test]
    fn lists_are_capped_but_counted() {
        let mut l = Listed::default();
        for i in 0..MAX_LISTED + 5 {
            l.push(i);
        }
        assert_eq!((l.total, l.items.len()), (MAX_LISTED + 5, MAX_LISTED));
    }

    #[test]
    fn odd_paths_are_keyed_without_panicking() {
        let r = report(
            vec![entry("f-1.bin", 1), entry("f-1.bin.extracted/0x10/x", 2)],
            vec![node("f-1.bin", 0x10)],
        );
        let n = report(vec![entry("f-2.bin", 1)], vec![node("f-2.bin", 0)]);
        let [k, _] = Keys::plan(&r.unpack, &n.unpack);
        for p in [
            "",
            "/",
            "//é",
            "/é/0x10",
            "f-1.bin.extracted//0x10",
            "é/f-1.bin.extracted/0x10/",
        ] {
            let _ = k.key(p);
        }
        assert_eq!(k.key("f-1.bin.extracted/0x10/x"), "f-*.bin.extracted/@carve1/x");
    }

    #[test]
    fn masks_digit_runs() {
        assert_eq!(mask("rootfs-1.22.3.squashfs"), "rootfs-*.*.*.squashfs");
        assert_eq!(mask("uImage"), "uImage");
        assert_eq!(carve_rest("0x40.decompressed", "0x40"), Some(".decompressed"));
        assert_eq!(carve_rest("0x400", "0x40"), None);
    }
}
