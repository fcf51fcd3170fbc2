//! `hashward traffic generate` and `traffic analyze` end to end: the output contract, the exit
//! codes, jsonl, the case, and errors.

mod common;
use common::hashward;

#[test]
fn a_generated_capture_is_analysed_with_every_planted_detection_in_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("farm.pcapng");
    let manifest = dir.path().join("farm.json");
    let out = hashward()
        .args([
            "traffic",
            "generate",
            "--miners",
            "30",
            "--duration",
            "14400",
            "--capture-format",
            "pcapng",
        ])
        .arg("--out")
        .arg(&cap)
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, m["policy_toml"].as_str().unwrap()).unwrap();
    let case = dir.path().join("case.db");
    let out = hashward()
        .args(["--format", "json", "--case"])
        .arg(&case)
        .args(["traffic", "analyze"])
        .arg(&cap)
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    // Critical findings: exit 1 at the default --fail-on high.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["command"], "traffic analyze");
    assert_eq!(env["inputs"].as_array().unwrap().len(), 2, "capture and policy");
    let findings: Vec<hashward_model::Finding> = serde_json::from_value(env["findings"].clone()).unwrap();
    for p in m["planted"].as_array().unwrap() {
        let (rule, src) = (p["rule"].as_str().unwrap(), p["src"].as_str().unwrap());
        assert!(
            findings
                .iter()
                .any(|f| f.rule.as_str() == rule && f.message.contains(src)),
            "{rule} {src} missing"
        );
    }
    for key in ["flows", "devices", "dns", "tls", "stratum_sessions", "beacons"] {
        assert!(!env["result"][key].is_null(), "result.{key}");
    }
    // The run is in the case.
    common::assert_run_recorded(&case, "traffic analyze");
    // jsonl: one record per line, findings tagged.
    let out = hashward()
        .args([
            "--format",
            "jsonl",
            "--no-store",
            "--fail-on",
            "never",
            "traffic",
            "analyze",
        ])
        .arg(&cap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(text.lines().any(|l| l.contains("\"type\":\"finding\"")));
}

#[test]
fn unreadable_inputs_are_errors_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pcap");
    let out = hashward()
        .args(["--no-store", "traffic", "analyze"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.pcap"));
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"MZ\x90\x00 definitely not a capture").unwrap();
    let out = hashward()
        .args(["--no-store", "traffic", "analyze"])
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap, pcapng or Zeek log"));
    let bad_policy = dir.path().join("p.toml");
    std::fs::write(&bad_policy, "[network]\nmanagement = [\"rack 4\"]\n").unwrap();
    let out = hashward()
        .args(["--no-store", "traffic", "analyze"])
        .arg(&junk)
        .arg("--policy")
        .arg(&bad_policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("management"));
}
