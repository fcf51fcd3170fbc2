//! `hashward firmware inspect`: unpack, inventory, detect; recorded and printed.

use std::io::{self, Write};

use anyhow::Context as _;
use hashward_firmware::inventory::{Inventory, Password};
use hashward_firmware::scan::ContentScanner;
use hashward_model::{EnvelopeRef, InputRecord};
use hashward_yara::{RuleSet, ScanOptions};

use super::Outcome;
use super::firmware::{artifacts, options, recorded_options};
use crate::args::{Global, InspectArgs};
use crate::case;
use crate::output::Output;
use crate::progress::Spinner;

pub fn inspect(a: &InspectArgs, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    let started = chrono::Utc::now();
    // Without --out the tree lives in a temporary directory for the run only.
    let scratch;
    let dir = match &a.out {
        Some(d) => d.clone(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().join("extracted")
        }
    };
    let opts = options(&a.opts, &dir)?;
    // Rules first: a rule file that does not compile is a usage error before any unpacking.
    let rules = yara_rules(!a.no_builtin_rules, &a.rules)?;
    let scanner = rules.as_ref().map(|r| r.scanner(ScanOptions::default()));
    let scanners: Vec<&dyn ContentScanner> = scanner.iter().map(|s| s as &dyn ContentScanner).collect();
    let spinner = Spinner::new(out.quiet, "inspecting");
    let report =
        hashward_firmware::inspect_with(&a.image, &opts, Some(&|e, b| spinner.update(e, b)), &scanners);
    spinner.finish();
    let report = report?;
    let inputs = [InputRecord {
        path: a.image.display().to_string(),
        sha256: report.unpack.image_sha256.clone(),
        size: report.unpack.image_size,
    }];
    case::record(
        g,
        "firmware inspect",
        {
            let mut o = recorded_options(&a.opts, a.out.as_deref());
            o["rules"] = serde_json::json!(a.rules);
            o["builtin_rules"] = serde_json::json!(!a.no_builtin_rules);
            o
        },
        started,
        &inputs,
        &report.findings,
        &artifacts(&report.unpack),
    )?;
    let result = serde_json::json!({
        "out": a.out,
        "inventory": report.inventory,
        "containers": report.unpack.nodes,
        "stats": report.unpack.stats,
        "yara": rules.as_ref().map(yara_summary),
    });
    let env = EnvelopeRef {
        hashward: hashward_model::VERSION,
        command: "firmware inspect",
        inputs: &inputs,
        findings: &report.findings,
        result: &result,
    };
    out.emit_ref(&env, &|w| {
        writeln!(
            w,
            "{}  sha256 {}  {} files in {} containers",
            a.image.display(),
            report.unpack.image_sha256,
            report.unpack.stats.files,
            report.unpack.stats.containers
        )?;
        write_inventory(w, &report.inventory)?;
        write_rule_matches(w, rules.as_ref(), &report.inventory)
    })?;
    Ok(Outcome {
        findings: report.findings,
    })
}

/// The inventory for people.
fn write_inventory(w: &mut dyn Write, inv: &Inventory) -> io::Result<()> {
    writeln!(w, "\naccounts:")?;
    if inv.accounts.is_empty() {
        writeln!(w, "  (none found)")?;
    }
    for a in &inv.accounts {
        let states: Vec<String> = a
            .passwords
            .iter()
            .map(|p| {
                let s = match &p.password {
                    Password::Empty => "EMPTY".to_owned(),
                    Password::Locked => "locked".to_owned(),
                    Password::Known { scheme, password } => format!("KNOWN \"{password}\" ({scheme})"),
                    Password::Hashed { scheme } => format!("{scheme}, not a known password"),
                    Password::NotTested { scheme, why } => format!("{scheme}, not tested: {why}"),
                    Password::Shadowed => "see shadow".to_owned(),
                };
                format!("{s} in {}:{}", p.file, p.line)
            })
            .collect();
        writeln!(
            w,
            "  {:<10} uid {:<6} shell {:<14} {}",
            a.user,
            a.uid.map_or("?".into(), |u| u.to_string()),
            a.shell.as_deref().unwrap_or("?"),
            if states.is_empty() {
                "no password entry".into()
            } else {
                states.join("; ")
            }
        )?;
    }
    if !inv.web_credentials.is_empty() {
        writeln!(w, "\nweb digest credentials:")?;
        for c in &inv.web_credentials {
            writeln!(
                w,
                "  {}:{}  {}  ({}:{})",
                c.user,
                c.realm,
                c.password
                    .as_deref()
                    .map_or("not a known password".into(), |p| format!("KNOWN \"{p}\"")),
                c.file,
                c.line
            )?;
        }
    }
    Ok(())
}

/// hashward's own YARA rules (unless `builtin` is false) and those under `dirs`; `None` when
/// there are none to run.
pub(crate) fn yara_rules(builtin: bool, dirs: &[std::path::PathBuf]) -> anyhow::Result<Option<RuleSet>> {
    if !builtin && dirs.is_empty() {
        return Ok(None);
    }
    let set = RuleSet::load(builtin, dirs).context("loading YARA rules")?;
    for r in set.ignored() {
        tracing::warn!("YARA rule {r} skipped: it uses a module this build leaves out");
    }
    for w in set.warnings() {
        tracing::info!("YARA rules: {w}");
    }
    Ok(Some(set))
}

/// What was compiled, for `result.yara`.
fn yara_summary(set: &RuleSet) -> serde_json::Value {
    serde_json::json!({
        "rules": set.len(),
        "files": set.files(),
        "ignored": set.ignored(),
    })
}

/// YARA matches and unfinished scans for people.
fn write_rule_matches(w: &mut dyn Write, set: Option<&RuleSet>, inv: &Inventory) -> io::Result<()> {
    let Some(set) = set else {
        return Ok(());
    };
    let user = set.files().iter().filter(|f| !f.builtin).count();
    writeln!(
        w,
        "
YARA: {} rules from {} files ({} built-in, {user} yours), {} matches",
        set.len(),
        set.files().len(),
        set.files().len() - user,
        inv.rule_matches.len()
    )?;
    for m in &inv.rule_matches {
        writeln!(
            w,
            "  {:<8} {}:{}  {}{}  ({} match{})",
            m.severity.map_or("-", |s| s.as_str()),
            m.namespace,
            m.rule,
            m.file,
            m.offset.map_or(String::new(), |o| format!(" @ {o:#x}")),
            m.matches,
            if m.matches == 1 { "" } else { "es" }
        )?;
    }
    for f in &inv.scan_failures {
        writeln!(w, "  not finished: {} ({})", f.file, f.error)?;
    }
    Ok(())
}
