//! `hashward firmware inspect`: unpack, inventory, detect; recorded and printed.

use std::io::{self, Write};

use hashward_firmware::inventory::{Inventory, Password};
use hashward_model::{EnvelopeRef, InputRecord};

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
    let spinner = Spinner::new(out.quiet, "inspecting");
    let report = hashward_firmware::inspect(&a.image, &opts, Some(&|e, b| spinner.update(e, b)));
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
        recorded_options(&a.opts, a.out.as_deref()),
        started,
        &inputs,
        &report.findings,
        &artifacts(&report.unpack),
    )?;
    if let Some(time) = sbom_time {
        write_sbom(a, &report, &time)?;
        return Ok(Outcome {
            findings: report.findings,
        });
    }
    let result = serde_json::json!({
        "out": a.out,
        "inventory": report.inventory,
        "containers": report.unpack.nodes,
        "stats": report.unpack.stats,
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
        write_inventory(w, &report.inventory)
    })?;
    Ok(Outcome {
        findings: report.findings,
    })
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
