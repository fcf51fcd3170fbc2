//! `hashward fleet scan`: targets → sweep → identify → audit (+ NET-007 against the previous
//! scan in the case) → recorded and printed.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context as _;
use hashward_fleet::device::{Device, DeviceStatus};
use hashward_fleet::net::Limits;
use hashward_fleet::{ScanOptions, family::PlanOptions};
use hashward_model::{EnvelopeRef, InputRecord};
use hashward_store::RunRecord;

use super::Outcome;
use crate::args::{FleetCmd, Global, ScanArgs};
use crate::case;
use crate::output::Output;

pub fn run(cmd: &FleetCmd, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    match cmd {
        FleetCmd::Scan(a) => scan(a, g, out),
    }
}

/// Connections kept free of the scan for the case database, stdout and the runtime.
const RESERVED_FDS: u64 = 64;

fn scan(a: &ScanArgs, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    let started = chrono::Utc::now();
    let targets = hashward_fleet::targets::expand(&a.targets, a.allow_public)?;
    let (policy, policy_input) = super::load_policy(a.policy.as_deref())?;
    let inputs: Vec<InputRecord> = policy_input.into_iter().collect();
    let fds = hashward_fleet::net::raise_fd_limit();
    let concurrency = a.concurrency.min(fds.saturating_sub(RESERVED_FDS).max(16));
    if concurrency < a.concurrency {
        tracing::warn!(
            "--concurrency {} lowered to {concurrency}: the open-file limit is {fds}",
            a.concurrency
        );
    }
    let opts = ScanOptions {
        limits: Limits {
            rate: a.rate,
            concurrency: concurrency as usize,
            connect_timeout: Duration::from_millis(a.connect_timeout.max(1)),
            reply_timeout: Duration::from_millis(a.reply_timeout.max(1)),
            device_timeout: Duration::from_secs(a.device_timeout.max(1)),
            ..Limits::default()
        },
        plan: PlanOptions {
            check_default_credentials: a.check_default_credentials,
        },
        hosts_at_once: (concurrency as usize / 2).max(16),
    };
    // The previous scan, read before this one is recorded.
    let previous = if g.no_store {
        None
    } else {
        case::open(&g.case)?
            .last_result("fleet scan")
            .with_context(|| format!("reading the previous scan from {}", g.case))?
    };
    if !out.quiet {
        eprintln!(
            "hashward: scanning {} addresses on {} ports (rate {}/s, {} connections at once){}",
            targets.len(),
            hashward_fleet::scan::MINER_PORTS.len(),
            opts.limits.rate,
            opts.limits.concurrency,
            if a.check_default_credentials {
                ", checking default credentials"
            } else {
                ""
            }
        );
    }
    let scan = hashward_fleet::run(&targets, &opts, &policy).context("starting the scan runtime")?;
    let devices: Vec<Device> = scan.devices.iter().map(|e| e.device.clone()).collect();
    let mut findings = scan.findings;
    let mut previous_scan = serde_json::Value::Null;
    if let Some((run, result)) = &previous {
        let before: Vec<Device> = serde_json::from_value(result["devices"].clone()).unwrap_or_default();
        let scope: std::collections::HashSet<std::net::Ipv4Addr> = targets.iter().copied().collect();
        let label = format!(
            "run {} ({})",
            run.id.0,
            run.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        findings.extend(hashward_fleet::changes::changes(
            &before,
            &devices,
            &|a| scope.contains(&a),
            &label,
        ));
        previous_scan = serde_json::json!({"run": run.id.0, "started": run.started, "devices": before.len()});
    }
    let options = serde_json::json!({
        "targets": a.targets,
        "addresses": targets.len(),
        "policy": a.policy,
        "rate": a.rate,
        "concurrency": concurrency,
        "connect_timeout_ms": a.connect_timeout,
        "reply_timeout_ms": a.reply_timeout,
        "device_timeout_s": a.device_timeout,
        "check_default_credentials": a.check_default_credentials,
        "allow_public": a.allow_public,
    });
    let mut record = RunRecord::new("fleet scan", started);
    record.options = options;
    record.inputs = inputs.clone();
    record.findings = findings.clone();
    record.result = Some(serde_json::json!({ "devices": devices }));
    case::record_run(g, record)?;

    let result = serde_json::json!({
        "devices": devices,
        "stats": scan.stats,
        "pool_allowlist": !policy.pools.allow.is_empty(),
        "previous_scan": previous_scan,
    });
    let env = EnvelopeRef {
        hashward: hashward_model::VERSION,
        command: "fleet scan",
        inputs: &inputs,
        findings: &findings,
        result: &result,
    };
    out.emit_ref(&env, &|w| {
        write_devices(w, &devices, &scan.stats, !policy.pools.allow.is_empty())
    })?;
    Ok(Outcome::of(&findings))
}

pub fn write_devices(
    w: &mut dyn Write,
    devices: &[Device],
    stats: &hashward_fleet::ScanStats,
    allowlist: bool,
) -> io::Result<()> {
    writeln!(
        w,
        "{} addresses, {} answering: {} identified, {} unidentified, {} failed  (sweep {:.1} s, whole scan {:.1} s)",
        stats.targets,
        stats.responsive,
        stats.identified,
        stats.unidentified,
        stats.errors,
        stats.sweep_seconds,
        stats.total_seconds
    )?;
    for d in devices {
        let fw = d
            .firmware
            .as_ref()
            .map(|f| {
                format!("{} {}", f.family, f.version.as_deref().unwrap_or(""))
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        let status = match d.status {
            DeviceStatus::Identified => d.model.clone().unwrap_or_else(|| "(model unknown)".into()),
            DeviceStatus::Unidentified => "(unidentified)".into(),
            DeviceStatus::Error => "(failed)".into(),
        };
        let rate = d.hashrate_ths.map(|h| format!("{h:.1} TH/s")).unwrap_or_default();
        writeln!(
            w,
            "  {:<15} {:<24} {:<34} {:>11}  pools {}",
            d.address,
            status,
            fw,
            rate,
            d.pools.len()
        )?;
        for e in &d.errors {
            writeln!(w, "      tcp/{} {}: {}", e.port, e.request, e.error)?;
        }
    }
    if !allowlist {
        writeln!(
            w,
            "(no pool allowlist: pass --policy with [pools] allow to check pools, NET-004)"
        )?;
    }
    Ok(())
}
