//! `hashward firmware inspect`: unpack, inventory, detect; recorded and printed.

use std::io::{self, Write};

use anyhow::Context as _;
use hashward_firmware::inventory::{Inventory, Password};
use hashward_firmware::scan::ContentScanner;
use hashward_model::{EnvelopeRef, InputRecord};
use hashward_yara::{RuleSet, ScanOptions};

use super::Outcome;
use super::firmware::{artifacts, options, recorded_options};
use crate::args::{Format, Global, InspectArgs};
use crate::case;
use crate::output::Output;
use crate::progress::Spinner;

pub fn inspect(a: &InspectArgs, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    let started = chrono::Utc::now();
    // Read before the run, so that a bad SOURCE_DATE_EPOCH fails before any work is recorded.
    let sbom_time = match out.format {
        Format::Cyclonedx => Some(sbom_timestamp()?),
        _ => None,
    };
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
    if let Some(time) = sbom_time {
        write_sbom(a, &report, &time)?;
        return Ok(Outcome::of(&report.findings));
    }
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
    Ok(Outcome::of(&report.findings))
}

/// Distinct values of platform facts, joined.
fn facts(f: &[hashward_firmware::inventory::PlatformFact]) -> String {
    let mut v: Vec<&str> = f.iter().map(|f| f.value.as_str()).collect();
    v.dedup();
    if v.is_empty() { "?".into() } else { v.join(", ") }
}

/// The CycloneDX SBOM of the image's components on stdout.
fn write_sbom(a: &InspectArgs, report: &hashward_firmware::InspectReport, time: &str) -> anyhow::Result<()> {
    let file_name = a.image.file_name().map_or_else(
        || a.image.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let image = hashward_firmware::sbom::ImageRef {
        file_name: &file_name,
        sha256: &report.unpack.image_sha256,
    };
    let bom = hashward_firmware::sbom::cyclonedx(image, &report.inventory.components, time);
    let stdout = io::stdout();
    let mut w = io::BufWriter::new(stdout.lock());
    serde_json::to_writer_pretty(&mut w, &bom)?;
    writeln!(w)?;
    w.flush()?;
    Ok(())
}

/// Now, or `SOURCE_DATE_EPOCH` (seconds) when set, so that a rerun can be byte-identical.
fn sbom_timestamp() -> anyhow::Result<String> {
    let t = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => {
            let secs: i64 = s
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH is not a number of seconds: {s:?}"))?;
            chrono::DateTime::from_timestamp(secs, 0)
                .ok_or_else(|| anyhow::anyhow!("SOURCE_DATE_EPOCH out of range: {s:?}"))?
        }
        _ => chrono::Utc::now(),
    };
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The inventory for people.
fn write_inventory(w: &mut dyn Write, inv: &Inventory) -> io::Result<()> {
    let p = &inv.platform;
    writeln!(w, "\nplatform:")?;
    writeln!(w, "  os {}  kernel {}", facts(&p.os), facts(&p.kernel))?;
    writeln!(
        w,
        "  miner {}  model {}  firmware {}",
        facts(&p.miner_family),
        facts(&p.model),
        facts(&p.firmware_version)
    )?;
    for t in &p.trust_anchors {
        writeln!(
            w,
            "  trust anchor {} sha256 {}  ({}:{})",
            t.label, t.sha256, t.file, t.offset
        )?;
    }
    if !inv.components.is_empty() {
        writeln!(w, "\ncomponents:")?;
        for c in &inv.components {
            writeln!(
                w,
                "  {:<10} {:<24} {}",
                c.name,
                c.version.as_deref().unwrap_or("(version unknown)"),
                if c.rootfs.is_empty() {
                    "/"
                } else {
                    c.rootfs.as_str()
                }
            )?;
        }
    }
    writeln!(w, "\nnetwork surface:")?;
    if inv.network.listeners.is_empty() {
        writeln!(w, "  (no listener found)")?;
    }
    for l in &inv.network.listeners {
        writeln!(
            w,
            "  {:<5} {:<12} {:<16} auth {}{}{}  ({})",
            l.port,
            l.service,
            l.bind.as_deref().unwrap_or("*"),
            l.auth,
            if l.tls { ", TLS" } else { "" },
            match l.at_boot {
                Some(true) => ", started at boot",
                Some(false) => ", not started at boot",
                None => "",
            },
            l.file
        )?;
    }
    writeln!(w, "  firewall rules: {}", inv.network.firewall.len())?;
    let shown: Vec<_> = inv
        .endpoints
        .iter()
        .filter(|e| e.class != hashward_firmware::inventory::EndpointClass::Other)
        .collect();
    if !inv.endpoints.is_empty() {
        writeln!(
            w,
            "\nendpoints: {} ({} classified)",
            inv.endpoints.len(),
            shown.len()
        )?;
        for e in shown.iter().take(40) {
            writeln!(
                w,
                "  {:<12} {}  ({} file{}, first {})",
                serde_json::to_value(e.class)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                e.value,
                e.files,
                if e.files == 1 { "" } else { "s" },
                e.sites.first().map_or("", |s| s.file.as_str())
            )?;
        }
    }
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
