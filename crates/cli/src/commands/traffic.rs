//! `hashward traffic analyze`: captures and Zeek logs → flows, sessions, beacons and TRF
//! findings, recorded and printed; `hashward traffic generate`: a synthetic fleet capture.

use std::io::{self, Write};

use anyhow::Context as _;
use hashward_model::EnvelopeRef;
use hashward_store::RunRecord;
use serde_json::Value;

use super::Outcome;
use crate::args::{GenerateArgs, Global, TrafficArgs, TrafficCmd};
use crate::case;
use crate::output::Output;

/// `None` when the command has no findings to judge the exit status by.
pub fn run(cmd: &TrafficCmd, g: &Global, out: &Output) -> anyhow::Result<Option<Outcome>> {
    match cmd {
        TrafficCmd::Analyze(a) => analyze(a, g, out).map(Some),
        TrafficCmd::Generate(a) => generate(a, out).map(|()| None),
    }
}

fn analyze(a: &TrafficArgs, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    let started = chrono::Utc::now();
    let (policy, policy_input) = super::load_policy(a.policy.as_deref())?;
    let mut opts = hashward_traffic::Options {
        workers: a.workers,
        ..Default::default()
    };
    opts.flows.max_flows = usize::try_from(a.max_flows).unwrap_or(usize::MAX);
    let report = hashward_traffic::run(&a.inputs, &policy, policy_input.is_some(), &opts)?;
    let mut inputs = report.inputs.clone();
    inputs.extend(policy_input);
    let findings = report.findings;
    let mut record = RunRecord::new("traffic analyze", started);
    record.options = serde_json::json!({
        "inputs": a.inputs,
        "policy": a.policy,
        "max_flows": a.max_flows,
        "workers": a.workers,
    });
    record.inputs = inputs.clone();
    record.findings = findings.clone();
    case::record_run(g, record)?;
    let env = EnvelopeRef {
        hashward: hashward_model::VERSION,
        command: "traffic analyze",
        inputs: &inputs,
        findings: &findings,
        result: &report.result,
    };
    out.emit_ref(&env, &|w| write_summary(w, &report.result))?;
    Ok(Outcome::of(&findings))
}

/// The text form: inputs, counters, sessions per pool, beacons.
pub fn write_summary(w: &mut dyn Write, r: &Value) -> io::Result<()> {
    for i in r["inputs"].as_array().into_iter().flatten() {
        writeln!(
            w,
            "{} ({}{}, {} records){}",
            i["path"].as_str().unwrap_or(""),
            i["kind"].as_str().unwrap_or(""),
            if i["compressed"].as_bool() == Some(true) {
                ", gzip"
            } else {
                ""
            },
            i["records"],
            match i["error"].as_str() {
                Some(e) => format!(": stopped early: {e}"),
                None => String::new(),
            }
        )?;
        for e in i["row_errors"].as_array().into_iter().flatten() {
            writeln!(w, "    {}", e.as_str().unwrap_or(""))?;
        }
    }
    let s = &r["stats"];
    writeln!(
        w,
        "{} packets, {} bytes, {} flows, {} devices, {} stratum sessions, {} DNS names, {} TLS names  ({:.2} s, {} workers)",
        s["packets"],
        s["bytes"],
        r["flows"],
        r["devices"].as_array().map_or(0, Vec::len),
        r["stratum_sessions"].as_array().map_or(0, Vec::len),
        r["dns"].as_array().map_or(0, Vec::len),
        r["tls"].as_array().map_or(0, Vec::len),
        s["seconds"].as_f64().unwrap_or(0.0),
        s["workers"],
    )?;
    let mut pools: std::collections::BTreeMap<String, (usize, String)> = Default::default();
    for x in r["stratum_sessions"].as_array().into_iter().flatten() {
        let key = format!(
            "{} {}",
            x["pool"].as_str().unwrap_or(""),
            x["pool_name"]
                .as_str()
                .map(|n| format!("({n})"))
                .unwrap_or_default()
        );
        let e = pools.entry(key).or_default();
        e.0 += 1;
        e.1 = x["transport"].as_str().unwrap_or("").to_string();
    }
    for (pool, (n, transport)) in pools.iter().take(20) {
        writeln!(w, "  pool {pool:<48} {n:>6} session(s), {transport}")?;
    }
    if pools.len() > 20 {
        writeln!(w, "  … {} more pools", pools.len() - 20)?;
    }
    for b in r["beacons"].as_array().into_iter().flatten().take(10) {
        writeln!(
            w,
            "  beacon {} → {}: {:.3} ({})",
            b["src"].as_str().unwrap_or(""),
            b["dst"].as_str().unwrap_or(""),
            b["score"].as_f64().unwrap_or(0.0),
            b["tier"].as_str().unwrap_or("")
        )?;
    }
    if r["policy"].as_bool() != Some(true) {
        writeln!(
            w,
            "(no policy: pass --policy to check pools, destinations, resolvers and the management network: TRF-006/007/008)"
        )?;
    }
    Ok(())
}

fn generate(a: &GenerateArgs, out: &Output) -> anyhow::Result<()> {
    use hashward_fixtures::capture::Format;
    use hashward_fixtures::fleet_traffic::{Plants, Scenario};
    let format = match a.capture_format.as_str() {
        "pcap" => Format::Pcap,
        "pcapng" => Format::PcapNg,
        other => anyhow::bail!("--capture-format {other}: expected pcap or pcapng"),
    };
    let scenario = Scenario {
        miners: a.miners.max(1),
        duration_s: a.duration.max(60),
        target_bytes: (a.size_mb > 0).then(|| a.size_mb * 1024 * 1024),
        seed: a.seed,
        start_unix_s: 1_764_000_000,
        plants: Plants::default(),
    };
    let file = std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let manifest = hashward_fixtures::fleet_traffic::generate(
        &scenario,
        io::BufWriter::with_capacity(1 << 20, file),
        format,
    )
    .with_context(|| format!("writing {}", a.out.display()))?;
    if let Some(m) = &a.manifest {
        let text = serde_json::to_string_pretty(&manifest)?;
        std::fs::write(m, text).with_context(|| format!("writing {}", m.display()))?;
    }
    if !out.quiet {
        eprintln!(
            "hashward: wrote {} ({} packets, {} bytes, {} miners, {} planted detections)",
            a.out.display(),
            manifest.packets,
            manifest.bytes,
            manifest.miners,
            manifest.planted.len()
        );
    }
    Ok(())
}
