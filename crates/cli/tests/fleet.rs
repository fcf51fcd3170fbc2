//! `hashward fleet scan` end to end against an emulated fleet: the output contract, exit
//! codes, the case, and NET-007 on a re-scan into the same case.

use std::net::Ipv4Addr;

mod common;
use common::hashward;

use hashward_emulator::{DeviceSpec, EmulatorError, Family, Fleet, PoolSpec, Running, spawn};
use serde::Deserialize;

/// Start a fleet on addresses an emulator just let go of. The listeners of the stopped one are
/// closed when `stop` returns, but a CI run once saw the same port refused as in use for a
/// moment afterwards; a short wait for the kernel is not a failure of the scan under test.
fn spawn_again(fleet: &Fleet) -> Running {
    for _ in 0..50 {
        match spawn(fleet) {
            Ok(r) => return r,
            Err(EmulatorError::Bind { source, .. }) if source.kind() == std::io::ErrorKind::AddrInUse => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the emulator's addresses stayed in use for 5 s")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Env {
    hashward: String,
    command: String,
    inputs: Vec<serde_json::Value>,
    findings: Vec<hashward_model::Finding>,
    result: ScanResult,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanResult {
    devices: Vec<serde_json::Map<String, serde_json::Value>>,
    stats: serde_json::Value,
    pool_allowlist: bool,
    previous_scan: serde_json::Value,
}

fn a(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 89, 1, host)
}

fn fleet(pool_of_2: &str) -> Fleet {
    Fleet {
        devices: vec![
            DeviceSpec {
                address: a(1),
                family: Family::Antminer,
                model: "Antminer S19 Pro".into(),
                api_allow: "W:0/0".into(),
                serial: "SN1".into(),
                ..DeviceSpec::default()
            },
            DeviceSpec {
                address: a(2),
                family: Family::Whatsminer,
                model: "M50S_VH30".into(),
                serial: "SN2".into(),
                pools: vec![PoolSpec {
                    url: pool_of_2.into(),
                    user: "acct.w2".into(),
                    password: "x".into(),
                    ..PoolSpec::default()
                }],
                ..DeviceSpec::default()
            },
            DeviceSpec {
                address: a(3),
                family: Family::Unknown,
                model: "generic web server".into(),
                ..DeviceSpec::default()
            },
        ],
    }
}

fn scan(case: &std::path::Path, policy: &std::path::Path) -> (std::process::Output, Env) {
    let out = hashward()
        .args([
            "--case",
            case.to_str().unwrap(),
            "--format",
            "json",
            "fleet",
            "scan",
            "127.89.1.1-127.89.1.30",
        ])
        .args(["--policy", policy.to_str().unwrap(), "--reply-timeout", "2000"])
        .output()
        .unwrap();
    let env: Env = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, env)
}

#[test]
fn scan_follows_the_contract_and_a_rescan_reports_changes() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case.db");
    let policy = dir.path().join("hashward.toml");
    std::fs::write(&policy, "[pools]\nallow = [\"btc.f2pool.com\"]\n").unwrap();

    let running = spawn(&fleet("stratum+ssl://btc.f2pool.com:1314")).unwrap();
    let (out, env) = scan(&case, &policy);
    running.stop();
    // NET-001 is critical, above the default --fail-on high.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.command, "fleet scan");
    assert_eq!(env.hashward, env!("CARGO_PKG_VERSION"));
    assert_eq!(env.inputs.len(), 1, "the policy file is the input");
    assert!(env.result.pool_allowlist);
    assert!(env.result.previous_scan.is_null());
    assert_eq!(env.result.devices.len(), 3);
    assert_eq!(env.result.stats["responsive"], 3);
    // Every device carries the contract's keys, whatever was learnt.
    for d in &env.result.devices {
        for k in [
            "address",
            "ports",
            "make",
            "model",
            "firmware",
            "api_version",
            "mac",
            "serial",
            "hashrate_ths",
            "pools",
        ] {
            assert!(d.contains_key(k), "{k} missing from {d:?}");
        }
    }
    assert_eq!(env.result.devices[0]["model"], "Antminer S19 Pro");
    assert_eq!(env.result.devices[1]["model"], "Whatsminer M50S");
    let rules: Vec<&str> = env.findings.iter().map(|f| f.rule.as_str()).collect();
    assert!(
        rules.contains(&"NET-001") && rules.contains(&"NET-009"),
        "{rules:?}"
    );
    assert!(!rules.contains(&"NET-007"));

    // The same fleet, but device 2 now mines elsewhere and device 3 is gone.
    let mut changed = fleet("stratum+tcp://evil-pool.example:3333");
    changed.devices.truncate(2);
    let running = spawn_again(&changed);
    let (_, env) = scan(&case, &policy);
    running.stop();
    assert_eq!(env.result.previous_scan["run"], 1);
    let net7: Vec<&str> = env
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "NET-007")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(net7.len(), 2, "{net7:#?}");
    assert!(
        net7.iter()
            .any(|m| m.contains("127.89.1.2") && m.contains("evil-pool.example")),
        "{net7:#?}"
    );
    assert!(
        net7.iter()
            .any(|m| m.contains("127.89.1.3") && m.contains("no longer answers")),
        "{net7:#?}"
    );
    assert!(env.findings.iter().any(|f| f.rule.as_str() == "NET-004"));

    // Both runs are in the case.
    let listed = hashward()
        .args([
            "--case",
            case.to_str().unwrap(),
            "--format",
            "json",
            "case",
            "runs",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(text.matches("fleet scan").count(), 2, "{text}");
}

#[test]
fn public_targets_are_refused_before_anything_is_sent_or_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case.db");
    for target in ["8.8.8.8", "192.168.0.0/8", "10.0.0.0/8", "not-an-address"] {
        let out = hashward()
            .args(["--case", case.to_str().unwrap(), "fleet", "scan", target])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{target}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
    assert!(!case.exists(), "a refused scan must not create the case");
}

/// `hashward emulate` in its own process, scanned by `hashward fleet scan`: the ready line,
/// the manifest, and every device named as the manifest says.
#[test]
fn an_emulated_fleet_in_another_process_is_scanned_and_named_as_its_manifest_says() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    let mut emu = hashward()
        .args([
            "emulate",
            "--count",
            "40",
            "--base",
            "127.90.0.1",
            "--seed",
            "3",
            "--exposures",
            "--duration",
            "60",
        ])
        .arg("--manifest")
        .arg(&manifest)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(emu.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("40 devices on 127.90.0.1-127.90.0.40 ready"),
        "{line}"
    );
    let out = hashward()
        .args([
            "--no-store",
            "--format",
            "json",
            "fleet",
            "scan",
            "127.90.0.1-127.90.0.40",
        ])
        .output()
        .unwrap();
    let _ = emu.kill();
    let _ = emu.wait();
    let env: Env = serde_json::from_slice(&out.stdout).unwrap();
    let want: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(want.len(), 40);
    let norm = |m: &str| {
        let m = m.to_ascii_lowercase();
        let m = m.split(['_', '.']).next().unwrap_or("").to_string();
        ["antminer", "whatsminer", "avalonminer", "avalon"]
            .iter()
            .fold(m, |m, p| m.replace(p, ""))
            .replace(' ', "")
    };
    for w in &want {
        let a = w["address"].as_str().unwrap();
        let got = env
            .result
            .devices
            .iter()
            .find(|d| d["address"] == a)
            .unwrap_or_else(|| panic!("{a} not found"));
        if w["family"] == "unknown" {
            assert_eq!(got["status"], "unidentified", "{a}");
            continue;
        }
        assert_eq!(got["status"], "identified", "{a}: {got:?}");
        // LuxOS answers `version` as an Antminer S9 on purpose; its real model is in `config`.
        assert_eq!(
            norm(got["model"].as_str().unwrap_or("")),
            norm(w["model"].as_str().unwrap()),
            "{a}: {got:?} vs {w}"
        );
    }
}

#[test]
fn the_emulator_refuses_anything_but_loopback() {
    let out = hashward()
        .args(["emulate", "--count", "1", "--base", "10.0.0.1", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("10.0.0.1"));
}
