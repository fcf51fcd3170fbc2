//! `hashward firmware diff`: inspect two images and report what changed between them;
//! recorded and printed. The findings of the envelope are those the new image introduces.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;
use hashward_firmware::InspectReport;
use hashward_firmware::diff::{FirmwareDiff, Listed, SectionDiff};
use hashward_model::{EnvelopeRef, Finding, InputRecord};
use serde_json::Value;

use super::Outcome;
use super::firmware::{options, recorded_options};
use crate::args::{DiffArgs, Global, UnpackOpts};
use crate::case::{self, Artifact};
use crate::output::{Output, human};
use crate::progress::Spinner;

/// Rows printed per list in text; JSON has up to the library's cap.
const TEXT_ROWS: usize = 40;
/// Characters of one value printed in text.
const TEXT_VALUE: usize = 100;

pub fn diff(a: &DiffArgs, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    let started = chrono::Utc::now();
    // Without --out both trees live in a temporary directory for the run only.
    let scratch;
    let root = match &a.out {
        Some(d) => d.clone(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_owned()
        }
    };
    let dirs = [root.join("old"), root.join("new")];
    // Refuse an unusable output before spending minutes on the first image.
    for d in &dirs {
        usable_out(d)?;
    }
    let old = inspect_one("old", &a.old, &dirs[0], &a.opts, out.quiet)?;
    let new = inspect_one("new", &a.new, &dirs[1], &a.opts, out.quiet)?;
    let d = hashward_firmware::diff(&old, &new);
    let inputs = [input(&a.old, &old), input(&a.new, &new)];
    // Both trees' files, under the names they have in --out (old/…, new/…).
    let named: Vec<(String, &hashward_firmware::unpack::EntryRecord)> = [("old", &old), ("new", &new)]
        .into_iter()
        .flat_map(|(side, r)| {
            r.unpack
                .entries
                .iter()
                .filter(|e| e.sha256.is_some())
                .map(move |e| (format!("{side}/{}", e.path), e))
        })
        .collect();
    let artifacts: Vec<Artifact<'_>> = named
        .iter()
        .filter_map(|(path, e)| {
            Some(Artifact {
                path,
                sha256: e.sha256.as_ref()?,
                size: e.size.unwrap_or(0),
                kind: e.kind.as_str(),
            })
        })
        .collect();
    case::record(
        g,
        "firmware diff",
        recorded_options(&a.opts, a.out.as_deref()),
        started,
        &inputs,
        &d.introduced,
        &artifacts,
    )?;
    let result = serde_json::json!({ "out": a.out, "diff": d });
    let env = EnvelopeRef {
        hashward: hashward_model::VERSION,
        command: "firmware diff",
        inputs: &inputs,
        findings: &d.introduced,
        result: &result,
    };
    out.emit_ref(&env, &|w| write_diff(w, a, &d))?;
    Ok(Outcome::of(&d.introduced))
}

/// An error unless `dir` is missing or an empty directory (what the unpacker accepts).
fn usable_out(dir: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => {
            let empty = std::fs::read_dir(dir)
                .with_context(|| format!("output directory {}", dir.display()))?
                .next()
                .is_none();
            anyhow::ensure!(
                empty,
                "output directory {}: exists and is not empty",
                dir.display()
            );
            Ok(())
        }
        Ok(_) => anyhow::bail!(
            "output directory {}: exists and is not a directory",
            dir.display()
        ),
    }
}

fn inspect_one(
    side: &str,
    image: &Path,
    dir: &Path,
    o: &UnpackOpts,
    quiet: bool,
) -> anyhow::Result<InspectReport> {
    let opts = options(o, dir)?;
    let spinner = Spinner::new(quiet, &format!("inspecting the {side} image"));
    let report = hashward_firmware::inspect(image, &opts, Some(&|e, b| spinner.update(e, b)));
    spinner.finish();
    report.with_context(|| format!("inspecting the {side} image {}", image.display()))
}

fn input(path: &Path, r: &InspectReport) -> InputRecord {
    InputRecord {
        path: path.display().to_string(),
        sha256: r.unpack.image_sha256.clone(),
        size: r.unpack.image_size,
    }
}

/// The diff for people: per section, `+` added, `-` removed, `~` changed.
fn write_diff(w: &mut dyn Write, a: &DiffArgs, d: &FirmwareDiff) -> io::Result<()> {
    for (label, path, img) in [("old", &a.old, &d.old), ("new", &a.new, &d.new)] {
        writeln!(
            w,
            "{label}  {}  {}  sha256 {}",
            path.display(),
            human(img.size),
            img.sha256
        )?;
    }
    if d.is_empty() {
        return writeln!(w, "\nno differences in files, inventory or findings");
    }
    if d.paired.total > 0 {
        writeln!(w, "\ncontainers paired under new names:")?;
        rows(w, &d.paired, |w, p| writeln!(w, "  = {} -> {}", p.old, p.new))?;
    }
    let f = &d.files;
    writeln!(
        w,
        "\nfiles: {} added, {} removed, {} changed, {} unchanged",
        f.added.total, f.removed.total, f.changed.total, f.unchanged
    )?;
    rows(w, &f.added, |w, s| {
        writeln!(
            w,
            "  + {}  {}",
            s.key,
            file_detail(s.kind.as_str(), s.size, s.target.as_deref())
        )
    })?;
    rows(w, &f.removed, |w, s| writeln!(w, "  - {}", s.key))?;
    rows(w, &f.changed, |w, c| {
        let mut what: Vec<String> = Vec::new();
        for field in &c.fields {
            what.push(match *field {
                "mode" => format!(
                    "mode {} -> {}",
                    c.old.mode.map_or("?".into(), |m| format!("{m:o}")),
                    c.new.mode.map_or("?".into(), |m| format!("{m:o}"))
                ),
                "target" => format!(
                    "target {} -> {}",
                    c.old.target.as_deref().unwrap_or("-"),
                    c.new.target.as_deref().unwrap_or("-")
                ),
                "kind" => format!("{} -> {}", c.old.kind, c.new.kind),
                other => other.to_owned(),
            });
        }
        writeln!(w, "  ~ {}  {}", c.key, what.join(", "))
    })?;
    let changed: Vec<(&String, &SectionDiff)> = d.inventory.iter().filter(|(_, s)| !s.is_empty()).collect();
    writeln!(
        w,
        "\ninventory: {} of {} sections changed",
        changed.len(),
        d.inventory.len()
    )?;
    for (name, s) in changed {
        writeln!(
            w,
            "  {name}: {} added, {} removed, {} changed",
            s.added.total, s.removed.total, s.changed.total
        )?;
        rows(w, &s.added, |w, v| {
            writeln!(w, "    + {}", item_label(v, &s.identity))
        })?;
        rows(w, &s.removed, |w, v| {
            writeln!(w, "    - {}", item_label(v, &s.identity))
        })?;
        rows(w, &s.changed, |w, c| {
            writeln!(w, "    ~ {}", item_label(&c.new, &s.identity))?;
            if c.fields.is_empty() {
                return writeln!(w, "        {} -> {}", short(&c.old), short(&c.new));
            }
            for field in &c.fields {
                writeln!(
                    w,
                    "        {field}: {} -> {}",
                    short(c.old.get(field).unwrap_or(&Value::Null)),
                    short(c.new.get(field).unwrap_or(&Value::Null))
                )?;
            }
            Ok(())
        })?;
    }
    let fd = &d.findings;
    writeln!(
        w,
        "\nfindings compared: {} new, {} gone, {} changed, {} unchanged",
        fd.new.total, fd.gone.total, fd.changed.total, fd.unchanged
    )?;
    rows(w, &fd.new, |w, f| writeln!(w, "  + {}", finding_line(f)))?;
    rows(w, &fd.gone, |w, f| writeln!(w, "  - {}", finding_line(f)))?;
    rows(w, &fd.changed, |w, c| {
        writeln!(w, "  ~ {}", finding_line(&c.new))?;
        writeln!(w, "      was {}", finding_line(&c.old))
    })
}

/// The first [`TEXT_ROWS`] items of a list, then how many more there are.
fn rows<T>(
    w: &mut dyn Write,
    l: &Listed<T>,
    mut row: impl FnMut(&mut dyn Write, &T) -> io::Result<()>,
) -> io::Result<()> {
    for item in l.items.iter().take(TEXT_ROWS) {
        row(w, item)?;
    }
    let shown = l.items.len().min(TEXT_ROWS);
    if l.total > shown {
        writeln!(
            w,
            "    … {} more (all counted; --format json lists more)",
            l.total - shown
        )?;
    }
    Ok(())
}

fn file_detail(kind: &str, size: Option<u64>, target: Option<&str>) -> String {
    match (kind, target) {
        ("file", _) => human(size.unwrap_or(0)),
        (_, Some(t)) => format!("{kind} -> {t}"),
        _ => kind.to_owned(),
    }
}

/// An inventory item by its identity fields (`name=dropbear rootfs=…`), or in full.
fn item_label(v: &Value, identity: &[&str]) -> String {
    let parts: Vec<String> = identity
        .iter()
        .filter_map(|f| {
            let x = v.get(*f)?;
            Some(match x {
                Value::String(s) => format!("{f}={s}"),
                other => format!("{f}={other}"),
            })
        })
        .collect();
    if parts.is_empty() {
        short(v)
    } else {
        parts.join(" ")
    }
}

/// A value as compact JSON, cut to [`TEXT_VALUE`] characters.
fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > TEXT_VALUE {
        let cut: String = s.chars().take(TEXT_VALUE).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn finding_line(f: &Finding) -> String {
    format!(
        "{:<8} {}  {}",
        f.severity.as_str().to_uppercase(),
        f.rule,
        f.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_labelled_by_identity_and_long_values_cut() {
        let v = serde_json::json!({"rootfs": "r", "name": "telnetd", "daemons": ["telnetd"]});
        assert_eq!(item_label(&v, &["rootfs", "name"]), "rootfs=r name=telnetd");
        assert_eq!(item_label(&serde_json::json!("x.example"), &[]), "x.example");
        let long = Value::String("a".repeat(300));
        assert_eq!(short(&long).chars().count(), TEXT_VALUE + 1);
    }

    #[test]
    fn a_non_empty_output_directory_is_refused_before_work_starts() {
        let d = tempfile::tempdir().unwrap();
        assert!(usable_out(&d.path().join("missing")).is_ok());
        assert!(usable_out(d.path()).is_ok());
        std::fs::write(d.path().join("f"), b"x").unwrap();
        assert!(usable_out(d.path()).is_err());
        assert!(usable_out(&d.path().join("f")).is_err());
    }
}
