//! `hashward firmware unpack`: the recursive unpacker, recorded and printed.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use hashward_firmware::unpack::{EntryRecord, NodeRecord, UnpackReport, UnpackStats, VerifyKey};
use hashward_firmware::{Limits, UnpackOptions, unpack_image};
use hashward_model::{EnvelopeRef, InputRecord, ResultParts};

use super::Outcome;
use crate::args::{FirmwareCmd, Global, UnpackArgs, UnpackOpts};
use crate::case::{self, Artifact};
use crate::output::{Output, human};
use crate::progress::Spinner;

pub fn run(cmd: &FirmwareCmd, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    match cmd {
        FirmwareCmd::Unpack(a) => unpack(a, g, out),
        FirmwareCmd::Inspect(a) => super::inspect::inspect(a, g, out),
        FirmwareCmd::Diff(a) => super::diff::diff(a, g, out),
    }
}

/// The validated options of an unpack run into `out`.
pub fn options(a: &UnpackOpts, out: &Path) -> anyhow::Result<UnpackOptions> {
    let keys = a
        .keys
        .iter()
        .map(|p| load_key(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(UnpackOptions {
        out: out.to_owned(),
        limits: Limits {
            max_total_bytes: a.max_total,
            max_file_bytes: a.max_file,
            max_ratio: a.max_ratio.max(1),
            ratio_floor: Limits::default().ratio_floor,
            max_depth: a.max_depth,
            max_entries: a.max_entries,
            max_time: Duration::from_secs(a.timeout),
        },
        carve: !a.no_carve,
        keys,
        jobs: a.jobs,
    })
}

/// A PEM public key, SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`).
pub fn load_key(path: &Path) -> anyhow::Result<VerifyKey> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    let pem = std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    let key = rsa::PublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| rsa::PublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| anyhow::anyhow!("{}: not an RSA public key in PEM form: {e}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(VerifyKey { name, key })
}

/// The options as recorded with the run.
pub(crate) fn recorded_options(o: &UnpackOpts, out: Option<&Path>) -> serde_json::Value {
    serde_json::json!({
        "out": out, "carve": !o.no_carve, "keys": o.keys, "max_total": o.max_total, "max_file": o.max_file,
        "max_ratio": o.max_ratio, "max_depth": o.max_depth, "max_entries": o.max_entries, "timeout": o.timeout,
        "jobs": o.jobs,
    })
}

fn unpack(a: &UnpackArgs, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    let started = chrono::Utc::now();
    let opts = options(&a.opts, &a.out)?;
    let spinner = Spinner::new(out.quiet, "unpacking");
    let report = unpack_image(&a.image, &opts, Some(&|e, b| spinner.update(e, b)));
    spinner.finish();
    let report = report?;
    tracing::info!(
        files = report.stats.files,
        bytes = report.stats.bytes,
        containers = report.stats.containers,
        findings = report.findings.len(),
        seconds = report.stats.seconds,
        "unpacked {}",
        a.image.display()
    );
    let inputs = [InputRecord {
        path: a.image.display().to_string(),
        sha256: report.image_sha256.clone(),
        size: report.image_size,
    }];
    let options = recorded_options(&a.opts, Some(&a.out));
    case::record(
        g,
        "firmware unpack",
        options,
        started,
        &inputs,
        &report.findings,
        &artifacts(&report),
    )?;
    let result = UnpackResult::new(&a.out, &report);
    let env = EnvelopeRef {
        hashward: hashward_model::VERSION,
        command: "firmware unpack",
        inputs: &inputs,
        findings: &report.findings,
        result: &result,
    };
    out.emit_ref(&env, &|w| write_text(w, &a.image, &a.out, &report, None))?;
    Ok(Outcome::of(&report.findings))
}

/// Extracted files as case artifacts, borrowed from the report.
pub fn artifacts(report: &UnpackReport) -> Vec<Artifact<'_>> {
    report
        .entries
        .iter()
        .filter_map(|e| {
            Some(Artifact {
                path: &e.path,
                sha256: e.sha256.as_ref()?,
                size: e.size.unwrap_or(0),
                kind: e.kind.as_str(),
            })
        })
        .collect()
}

/// `result` of `firmware unpack` in the output contract, borrowing the report.
#[derive(serde::Serialize)]
pub struct UnpackResult<'a> {
    out: String,
    entries: &'a [EntryRecord],
    containers: &'a [NodeRecord],
    stats: &'a UnpackStats,
}

impl<'a> UnpackResult<'a> {
    /// The result for `report`, extracted into `out_dir`.
    pub fn new(out_dir: &Path, report: &'a UnpackReport) -> UnpackResult<'a> {
        UnpackResult {
            out: out_dir.display().to_string(),
            entries: &report.entries,
            containers: &report.nodes,
            stats: &report.stats,
        }
    }
}

impl ResultParts for UnpackResult<'_> {
    fn each_item(&self, f: &mut dyn FnMut(&str, serde_json::Value)) {
        for e in self.entries {
            f("entries", serde_json::to_value(e).unwrap_or_default());
        }
        for n in self.containers {
            f("containers", serde_json::to_value(n).unwrap_or_default());
        }
    }

    fn rest(&self) -> serde_json::Value {
        serde_json::json!({ "out": self.out, "stats": self.stats })
    }
}

/// The extracted tree for people; `per_dir` caps how many entries of each directory are listed.
pub fn write_text(
    w: &mut dyn Write,
    image: &Path,
    out_dir: &Path,
    r: &UnpackReport,
    per_dir: Option<usize>,
) -> io::Result<()> {
    writeln!(
        w,
        "{}  {}  sha256 {}",
        image.display(),
        human(r.image_size),
        r.image_sha256
    )?;
    writeln!(w, "containers:")?;
    let mut nodes: Vec<_> = r.nodes.iter().collect();
    nodes.sort_by(|a, b| (&a.path, a.offset, a.layers.len()).cmp(&(&b.path, b.offset, b.layers.len())));
    for n in nodes {
        let at = if n.path.is_empty() {
            "(image)".to_owned()
        } else {
            n.path.clone()
        };
        let off = if n.offset > 0 {
            format!(" @0x{:x}", n.offset)
        } else {
            String::new()
        };
        let status = if n.status == "ok" {
            String::new()
        } else {
            format!("  [{}]", n.status)
        };
        writeln!(
            w,
            "  {:<28} {}{off}  {} entries{status}",
            n.layers.join(" > "),
            at,
            n.entries
        )?;
        if let Some(sigs) = signature_summary(&n.details) {
            writeln!(w, "  {:<28} {sigs}", "")?;
        }
    }
    writeln!(w, "extracted into {}:", out_dir.display())?;
    let mut sorted: Vec<_> = r.entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let parent = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_owned()).unwrap_or_default();
    let mut children: HashMap<String, usize> = HashMap::new();
    for e in &sorted {
        *children.entry(parent(&e.path)).or_default() += 1;
    }
    let mut shown: HashMap<String, usize> = HashMap::new();
    let mut hidden: HashSet<&str> = HashSet::new();
    for e in &sorted {
        // A file's contents live in `<file>.extracted/` and are listed under the file.
        let ancestors_hidden = e.path.match_indices('/').any(|(i, _)| {
            let a = &e.path[..i];
            hidden.contains(a) || a.strip_suffix(".extracted").is_some_and(|f| hidden.contains(f))
        });
        if ancestors_hidden {
            continue;
        }
        let dir = parent(&e.path);
        let depth = e.path.matches('/').count();
        let indent = "  ".repeat(depth + 1);
        let n = shown.entry(dir.clone()).or_default();
        *n += 1;
        if let Some(cap) = per_dir
            && *n > cap
        {
            if *n == cap + 1 {
                let total = children.get(&dir).copied().unwrap_or(0);
                writeln!(w, "{indent}… {} more", total - cap)?;
            }
            hidden.insert(&e.path);
            continue;
        }
        let name = e.path.rsplit('/').next().unwrap_or(&e.path);
        let detail = match e.kind.as_str() {
            "file" => human(e.size.unwrap_or(0)),
            "dir" => "/".to_owned(),
            "symlink" | "hardlink" => format!("-> {}", e.target.as_deref().unwrap_or("")),
            _ => e.target.as_deref().unwrap_or_default().to_owned(),
        };
        let note = if e.not_created {
            "  (recorded, not created)"
        } else if e.truncated {
            "  (truncated)"
        } else {
            ""
        };
        writeln!(w, "{indent}{name}  {detail}{note}")?;
    }
    let s = &r.stats;
    writeln!(
        w,
        "{} files ({}), {} dirs, {} links, {} special, {} containers, {} carved, in {:.2} s",
        s.files,
        human(s.bytes),
        s.dirs,
        s.links,
        s.specials,
        s.containers,
        s.carved,
        s.seconds
    )
}

/// `signatures: 7 valid, 1 invalid` for a container whose details carry verification results.
fn signature_summary(details: &serde_json::Value) -> Option<String> {
    fn walk(v: &serde_json::Value, counts: &mut std::collections::BTreeMap<String, usize>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(st) = m.get("status").and_then(|s| s.as_str())
                    && matches!(st, "valid" | "invalid" | "not_checked" | "not_verified")
                {
                    *counts.entry(st.replace('_', " ")).or_default() += 1;
                }
                m.values().for_each(|x| walk(x, counts));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, counts)),
            _ => {}
        }
    }
    let sigs = details.get("signatures")?;
    let mut counts = std::collections::BTreeMap::new();
    walk(sigs, &mut counts);
    if counts.is_empty() {
        return None;
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    Some(format!("signatures: {}", parts.join(", ")))
}
