//! `hashward demo`: build realistic sample Antminer-style images, unpack each, print the trees,
//! and record the whole demo as one run in the case.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use hashward_firmware::scan::ContentScanner;
use hashward_firmware::{UnpackOptions, inspect_with};
use hashward_model::{Envelope, InputRecord, RuleId};

use super::Outcome;
use crate::args::{DemoArgs, Format, Global};
use crate::case;
use crate::output::Output;
use crate::progress::Spinner;

pub fn run(a: &DemoArgs, g: &Global, out: &Output) -> anyhow::Result<Outcome> {
    let started = chrono::Utc::now();
    let tmp;
    let dir: PathBuf = match &a.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_owned()
        }
    };
    let text = out.format == Format::Text;
    if text && !out.quiet {
        // Written, not printed: a closed pipe is an error to return, not a panic.
        writeln!(
            std::io::stdout().lock(),
            "hashward demo: generating sample firmware images in {}\n",
            dir.display()
        )?;
    }
    // hashward's own YARA rules run over every sample, as `firmware inspect` runs them.
    let rules = super::inspect::yara_rules(true, &[])?;
    let scanner = rules
        .as_ref()
        .map(|r| r.scanner(hashward_yara::ScanOptions::default()));
    let scanners: Vec<&dyn ContentScanner> = scanner.iter().map(|s| s as &dyn ContentScanner).collect();
    let samples = hashward_fixtures::samples::all();
    let mut inputs = Vec::new();
    let mut findings = Vec::new();
    let mut reports = Vec::new();
    let mut results = Vec::new();
    for s in &samples {
        let image = dir.join(s.file_name);
        std::fs::write(&image, &s.bytes).with_context(|| format!("writing {}", image.display()))?;
        let out_dir = dir.join(format!("{}.extracted", s.file_name));
        let opts = UnpackOptions {
            out: out_dir.clone(),
            limits: Default::default(),
            carve: true,
            keys: s
                .keys
                .iter()
                .map(|(n, k)| hashward_firmware::unpack::VerifyKey {
                    name: n.to_string(),
                    key: k.clone(),
                })
                .collect(),
            jobs: 0,
        };
        let spinner = Spinner::new(out.quiet, s.file_name);
        let inspected = inspect_with(&image, &opts, Some(&|e, b| spinner.update(e, b)), &scanners);
        spinner.finish();
        let inspected = inspected.with_context(|| format!("inspecting {}", s.file_name))?;
        let report = &inspected.unpack;
        if text {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "== {} — {}", s.file_name, s.description)?;
            super::firmware::write_text(&mut stdout, &image, &out_dir, report, Some(8))?;
            let unpacker = [RuleId::FW_LIMIT, RuleId::FW_ESCAPE, RuleId::FW_MALFORMED];
            let planted: Vec<_> = inspected
                .findings
                .iter()
                .filter(|f| !unpacker.contains(&f.rule))
                .collect();
            if !planted.is_empty() {
                writeln!(stdout, "found:")?;
                for f in planted {
                    writeln!(
                        stdout,
                        "  {:<8} {}  {}",
                        f.severity.as_str().to_uppercase(),
                        f.rule,
                        f.message
                    )?;
                }
            }
            writeln!(stdout)?;
        }
        inputs.push(InputRecord {
            path: image.display().to_string(),
            sha256: report.image_sha256.clone(),
            size: report.image_size,
        });
        findings.extend(inspected.findings.iter().cloned());
        results.push(serde_json::json!({
            "image": s.file_name,
            "description": s.description,
            "entries": report.entries.len(),
            "containers": report.nodes,
            "inventory": inspected.inventory,
            "stats": report.stats,
        }));
        reports.push(inspected.unpack);
    }
    let fleet = demo_fleet(text && !out.quiet)?;
    findings.extend(fleet.findings.iter().cloned());
    let traffic = demo_traffic(&dir, text && !out.quiet)?;
    findings.extend(traffic.findings.iter().cloned());
    inputs.extend(traffic.inputs.iter().cloned());
    let sites = demo_sites(text && !out.quiet)?;
    findings.extend(sites.0.iter().cloned());
    let customs = demo_customs(&dir, text && !out.quiet)?;
    findings.extend(customs.findings.iter().cloned());
    inputs.push(customs.input.clone());
    let artifacts: Vec<_> = reports.iter().flat_map(super::firmware::artifacts).collect();
    let env = Envelope {
        hashward: hashward_model::VERSION.to_owned(),
        command: "demo".into(),
        inputs,
        findings,
        result: serde_json::json!({
            "images": results,
            "fleet": {
                "devices": fleet.devices.iter().map(|e| &e.device).collect::<Vec<_>>(),
                "stats": fleet.stats,
            },
            "traffic": {
                "stats": traffic.result["stats"],
                "flows": traffic.result["flows"],
                "stratum_sessions": traffic.result["stratum_sessions"].as_array().map_or(0, Vec::len),
                "beacons": traffic.result["beacons"].as_array().map(|b| b.iter().take(5).cloned().collect::<Vec<_>>()),
            },
            "sites": sites.1,
            "customs": { "lines": customs.lines },
        }),
    };
    let run_id = case::record(
        g,
        "demo",
        serde_json::json!({"dir": dir}),
        started,
        &env.inputs,
        &env.findings,
        &artifacts,
    )?;
    out.emit(&env, &|w| {
        if let Some(id) = run_id {
            writeln!(w, "recorded as run {id} in {} (see `hashward case runs`)", g.case)?;
        }
        Ok(())
    })?;
    // The findings are planted: they are shown and recorded, and the demo still succeeds.
    Ok(Outcome { worst: None })
}

/// Where the demo's emulated fleet lives: a loopback /24 no test uses.
const DEMO_NET: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 42, 0, 1);

/// The pools the demo farm contracted with; anything else is NET-004.
const DEMO_POLICY: &str = "[pools]\nallow = [\"btc.f2pool.com\", \"ss.antpool.com\", \"*.braiins.com\", \"btc.global.luxor.tech\", \"btc.viabtc.io\", \"us.ss.btc.com\"]\n";

/// Start an emulated farm of 60 mixed miners with planted exposures and a few faulty devices on
/// loopback, scan it as `fleet scan --check-default-credentials` would (our own emulated
/// devices, so checking their credentials is ours to do), and print what was found.
fn demo_fleet(print: bool) -> anyhow::Result<hashward_fleet::FleetScan> {
    use hashward_emulator::{Fleet, GenerateOptions};
    let fleet = Fleet::generate(&GenerateOptions {
        count: 60,
        base: DEMO_NET,
        seed: 7,
        faulty_percent: 5.0,
        exposures: true,
    });
    let running = hashward_emulator::spawn(&fleet).context("starting the emulated fleet on 127.42.0.0/24")?;
    let targets: Vec<std::net::Ipv4Addr> = (1..=254)
        .map(|h| std::net::Ipv4Addr::new(127, 42, 0, h))
        .collect();
    let policy = hashward_model::Policy::from_toml(DEMO_POLICY)?;
    let opts = hashward_fleet::ScanOptions {
        plan: hashward_fleet::family::PlanOptions {
            check_default_credentials: true,
        },
        limits: hashward_fleet::net::Limits {
            reply_timeout: std::time::Duration::from_millis(1500),
            device_timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        },
        ..Default::default()
    };
    let scan = hashward_fleet::run(&targets, &opts, &policy).context("scanning the emulated fleet")?;
    let changing: Vec<String> = running
        .requests()
        .into_iter()
        .filter(|r| r.is_state_changing())
        .map(|r| format!("{}:{} {}", r.address, r.port, r.request))
        .collect();
    running.stop();
    if !changing.is_empty() {
        anyhow::bail!(
            "the scan sent {} state-changing requests to the emulated fleet: {}",
            changing.len(),
            changing.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    if print {
        let mut w = std::io::stdout().lock();
        writeln!(
            w,
            "== fleet scan of an emulated farm: {} miners on 127.42.0.0/24 (exposures and faults planted)",
            fleet.devices.len()
        )?;
        let devices: Vec<_> = scan.devices.iter().map(|e| e.device.clone()).collect();
        super::fleet::write_devices(&mut w, &devices, &scan.stats, true)?;
        let mut by_rule = std::collections::BTreeMap::<&str, usize>::new();
        for f in &scan.findings {
            *by_rule.entry(f.rule.as_str()).or_default() += 1;
        }
        writeln!(w, "found:")?;
        for (rule, n) in by_rule {
            let title = hashward_model::RuleId::new(rule).map_or("", |r| r.info().title);
            writeln!(w, "  {rule} x{n:<4} {title}")?;
        }
        writeln!(
            w,
            "state-changing requests sent: 0 (every exchange was read-only)\n"
        )?;
    }
    Ok(scan)
}

/// Generate a capture of a 40-miner farm over six hours with planted phone-home, beacon,
/// hijack, dev-fee, inbound-management and rogue-resolver traffic, and analyse it with the
/// matching policy as `traffic analyze --policy` would; every planted detection must be found.
fn demo_traffic(dir: &std::path::Path, print: bool) -> anyhow::Result<hashward_traffic::Report> {
    use hashward_fixtures::fleet_traffic::{Plants, Scenario};
    let scenario = Scenario {
        miners: 40,
        duration_s: 6 * 3600,
        target_bytes: None,
        seed: 7,
        start_unix_s: 1_764_000_000,
        plants: Plants::default(),
    };
    let path = dir.join("fleet-traffic.pcap");
    let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let manifest = hashward_fixtures::fleet_traffic::generate(
        &scenario,
        std::io::BufWriter::new(file),
        hashward_fixtures::capture::Format::Pcap,
    )
    .with_context(|| format!("writing {}", path.display()))?;
    let policy = hashward_model::Policy::from_toml(&manifest.policy_toml).context("the generated policy")?;
    let report = hashward_traffic::run(
        std::slice::from_ref(&path),
        &policy,
        true,
        &hashward_traffic::Options::default(),
    )
    .with_context(|| format!("analysing {}", path.display()))?;
    let missed: Vec<String> = manifest
        .planted
        .iter()
        .filter(|p| {
            !report.findings.iter().any(|f| {
                f.rule.as_str() == p.rule
                    && f.message.contains(&p.src)
                    && p.dst.split(':').next().is_none_or(|d| f.message.contains(d))
            })
        })
        .map(|p| format!("{} {} → {}", p.rule, p.src, p.dst))
        .collect();
    if !missed.is_empty() {
        anyhow::bail!(
            "traffic analysis missed planted detections: {}",
            missed.join("; ")
        );
    }
    if print {
        let mut w = std::io::stdout().lock();
        writeln!(
            w,
            "== traffic analysis of a generated capture: {} miners, {} packets, {} MiB ({} detections planted)",
            manifest.miners,
            manifest.packets,
            manifest.bytes >> 20,
            manifest.planted.len()
        )?;
        super::traffic::write_summary(&mut w, &report.result)?;
        writeln!(w, "found:")?;
        for f in report
            .findings
            .iter()
            .filter(|f| f.severity >= hashward_model::Severity::Medium)
        {
            write_finding_line(&mut w, f)?;
        }
        writeln!(w, "every planted detection was found\n")?;
    }
    Ok(report)
}

/// What each sample facility must be found to be (the demo fails otherwise): the MineOne-like
/// site near F.E. Warren is a screening hit (a point 3.2 mi away, so "may be within 1 mi of the
/// boundary"), the ERCOT load is over the large-load threshold, the Florida site is within a
/// state-law distance, and the facility far from everything is clean.
const SITES_EXPECTED: &[(&str, &[&str])] = &[
    ("mineone-like", &["SITE-007"]),
    ("ercot-large", &["SITE-006"]),
    ("florida-near-base", &["SITE-004"]),
    ("clean-plains", &[]),
];

/// Assess the sample facilities against the built-in installations table and the siting rules,
/// as `sites assess --facilities F` without `--layer` would, and print the result.
fn demo_sites(print: bool) -> anyhow::Result<(Vec<hashward_model::Finding>, serde_json::Value)> {
    use hashward_model::Subject;
    let rules = hashward_sites::Rules::builtin()?;
    let text = hashward_sites::sample::sample_facilities();
    let facilities =
        hashward_sites::facility::read_facilities(text.as_bytes()).context("the sample facilities")?;
    let layers = vec![hashward_sites::sample::builtin_layer(&rules)];
    let opts = hashward_sites::Options {
        date: chrono::Utc::now().date_naive(),
        infrastructure_examples: 3,
    };
    let assessment = hashward_sites::assess(&facilities, &layers, &rules, &opts);
    let rules_of = |id: &str| -> Vec<&str> {
        assessment
            .findings
            .iter()
            .filter(|f| matches!(&f.subject, Subject::Facility { id: fid } if fid == id))
            .map(|f| f.rule.as_str())
            .collect()
    };
    for (id, expected) in SITES_EXPECTED {
        let got = rules_of(id);
        anyhow::ensure!(
            expected.iter().all(|r| got.contains(r)) && (!expected.is_empty() || got.is_empty()),
            "siting demo: facility {id} raised {got:?}, expected {expected:?}"
        );
    }
    if print {
        let mut w = std::io::stdout().lock();
        writeln!(
            w,
            "== siting: {} sample facilities against the built-in installations table (CFIUS, state laws, grid)",
            assessment.result.facilities.len()
        )?;
        super::sites::write_summary(&mut w, &assessment.result)?;
        writeln!(w)?;
    }
    Ok((
        assessment.findings,
        serde_json::to_value(&assessment.result).context("the siting result")?,
    ))
}

/// What the customs part of the demo hands back.
struct DemoCustoms {
    findings: Vec<hashward_model::Finding>,
    lines: Vec<serde_json::Value>,
    input: InputRecord,
}

/// Check the sample entries (one misclassified miner, one undervalued, one clean) as
/// `customs check entries.csv` would; the first two must be found.
fn demo_customs(dir: &std::path::Path, print: bool) -> anyhow::Result<DemoCustoms> {
    use sha2::{Digest as _, Sha256};
    let text = hashward_customs::sample_entries();
    let path = dir.join("entries.csv");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    let checker = hashward_customs::Checker::new(hashward_customs::Rules::embedded()?, None);
    let mut findings = Vec::new();
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    hashward_customs::check_stream(
        &checker,
        text.as_bytes(),
        hashward_customs::InputFormat::Csv,
        1024,
        &mut |chunk: hashward_customs::Chunk<'_>| -> Result<(), serde_json::Error> {
            for l in &chunk.lines {
                lines.push(serde_json::to_value(l)?);
            }
            errors.extend(chunk.errors.iter().map(|e| e.to_string()));
            findings.extend(chunk.findings);
            Ok(())
        },
    )
    .context("checking the sample entries")?;
    anyhow::ensure!(errors.is_empty(), "customs demo: row errors {errors:?}");
    for (rule, what) in [("CUS-001", "misclassified"), ("CUS-002", "undervalued")] {
        anyhow::ensure!(
            findings.iter().any(|f| f.rule.as_str() == rule),
            "customs demo: the {what} line raised no {rule}"
        );
    }
    if print {
        let mut w = std::io::stdout().lock();
        writeln!(w, "== customs: {} sample entry lines", lines.len())?;
        for l in &lines {
            writeln!(
                w,
                "  entry {} line {}: declared {} expected {}, origin {}, value ${:.2}, duty ${:.2} (declared ${:.2})",
                l["entry_number"].as_str().unwrap_or(""),
                l["line"],
                l["declared_hts"].as_str().unwrap_or(""),
                l["expected_hts"].as_str().unwrap_or(""),
                l["origin_country"].as_str().unwrap_or(""),
                l["entered_value"].as_f64().unwrap_or(0.0),
                l["duty_total"].as_f64().unwrap_or(0.0),
                l["declared_duty_total"].as_f64().unwrap_or(0.0),
            )?;
        }
        for f in &findings {
            write_finding_line(&mut w, f)?;
        }
        writeln!(w)?;
    }
    Ok(DemoCustoms {
        findings,
        lines,
        input: InputRecord {
            path: path.display().to_string(),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            size: text.len() as u64,
        },
    })
}

/// One finding on one line: severity, rule, the first 160 characters of the message.
fn write_finding_line(w: &mut dyn std::io::Write, f: &hashward_model::Finding) -> std::io::Result<()> {
    let msg: String = f.message.chars().take(160).collect();
    writeln!(
        w,
        "  {:<8} {}  {}",
        f.severity.as_str().to_uppercase(),
        f.rule,
        msg
    )
}
