//! `hashward customs check`, `import-hts` and `generate` end to end: the output contract (json,
//! jsonl), row errors, the case, and exit statuses.

use std::path::Path;

mod common;
use common::hashward;

/// The run ended with `code`; its stderr is shown when not.
fn expect_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_sample_entries_give_the_envelope_with_lines_entries_and_findings() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("entries.csv");
    std::fs::write(&input, hashward_customs::sample_entries()).unwrap();
    let case = dir.path().join("case.db");
    let out = hashward()
        .args(["--format", "json", "--case"])
        .arg(&case)
        .args(["customs", "check"])
        .arg(&input)
        .output()
        .unwrap();
    // CUS-001 and CUS-002 are high: exit 1 at the default --fail-on high.
    expect_exit(&out, 1);
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["command"], "customs check");
    let findings: Vec<hashward_model::Finding> = serde_json::from_value(env["findings"].clone()).unwrap();
    assert!(findings.iter().any(|f| f.rule.as_str() == "CUS-001"));
    assert!(findings.iter().any(|f| f.rule.as_str() == "CUS-002"));
    let lines = env["result"]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    for key in [
        "entry_number",
        "line",
        "declared_hts",
        "expected_hts",
        "origin_country",
        "entered_value",
        "measures",
        "duty_total",
        "fees",
    ] {
        assert!(!lines[0][key].is_null(), "lines[].{key}");
    }
    assert_eq!(lines[0]["duty_total"], 33872.75);
    assert_eq!(lines[0]["declared_duty_total"], 8831.25);
    for key in ["id", "chapter99", "rate", "amount"] {
        assert!(!lines[0]["measures"][1][key].is_null(), "measures[].{key}");
    }
    assert_eq!(env["result"]["entries"].as_array().unwrap().len(), 3);
    assert_eq!(env["inputs"][0]["size"], hashward_customs::sample_entries().len());
    // The run is in the case.
    common::assert_run_recorded(&case, "customs check");
    // --fail-on never: exit 0.
    let out = hashward()
        .args([
            "--no-store",
            "--format",
            "json",
            "--fail-on",
            "never",
            "customs",
            "check",
        ])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn jsonl_streams_tagged_records_with_row_errors_as_items() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("entries.csv");
    let mut text = hashward_customs::sample_entries();
    text.push_str("AB1-9,2026-03-10,ocean,2704,1,8543.70.98.60,broken\n");
    text.push_str("AB1-10,2026-03-10,ocean,2704,1,8543.70.98.60,miner,S21,1,-3,MY,MY,Bitmain,,,,,\n");
    std::fs::write(&input, &text).unwrap();
    let out = hashward()
        .args(["--no-store", "--format", "jsonl", "customs", "check"])
        .arg(&input)
        .output()
        .unwrap();
    expect_exit(&out, 1);
    let recs: Vec<hashward_model::Record> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(matches!(&recs[0], hashward_model::Record::Run { command, .. } if command == "customs check"));
    let items = |k: &str| {
        recs.iter()
            .filter(|r| matches!(r, hashward_model::Record::Item { key, .. } if key == k))
            .count()
    };
    assert_eq!(items("lines"), 3);
    assert_eq!(items("errors"), 2);
    assert!(
        recs.iter()
            .any(|r| matches!(r, hashward_model::Record::Input(i) if i.size == text.len() as u64))
    );
    let errors: Vec<&serde_json::Value> = recs
        .iter()
        .filter_map(|r| match r {
            hashward_model::Record::Item { key, item } if key == "errors" => Some(item),
            _ => None,
        })
        .collect();
    assert_eq!(errors[0]["row"], 4);
    assert_eq!(errors[1]["field"], "entered_value");
    match recs.last().unwrap() {
        hashward_model::Record::Result { result } => {
            assert_eq!(result["totals"]["lines"], 3);
            assert_eq!(result["totals"]["row_errors"], 2);
        }
        other => panic!("last record {other:?}"),
    }
}

#[test]
fn json_entries_are_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("entries.json");
    std::fs::write(
        &input,
        r#"[{"entry_number":"J1","entry_date":"2026-03-10","mode":"ocean","port":"2704","line":1,"declared_hts":"8543.70.98.60","description":"Bitcoin mining machine","model":"Antminer U3S21EXPH","quantity":1,"entered_value":19625,"origin_country":"MY","export_country":"MY","manufacturer":"Bitmain","chapter99":["9903.03.01"],"note":"kept and ignored"}]"#,
    )
    .unwrap();
    let out = hashward()
        .args(["--no-store", "--format", "json", "customs", "check"])
        .arg(&input)
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["result"]["lines"][0]["duty_total"], 2472.75);
    assert!(env["findings"].as_array().unwrap().is_empty());
}

#[test]
fn unreadable_input_and_bad_rules_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = hashward()
        .args(["--no-store", "customs", "check"])
        .arg(dir.path().join("missing.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
    // A rules directory with an unknown key: the error names the file and the key.
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("fees.toml"), "[[mpf]]\nid = \"X\"\nbogus = 1\n").unwrap();
    let input = dir.path().join("e.csv");
    std::fs::write(&input, hashward_customs::sample_entries()).unwrap();
    let out = hashward()
        .args(["--no-store", "customs", "check", "--rules"])
        .arg(&rules)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fees.toml") && err.contains("bogus"), "{err}");
}

#[test]
fn import_hts_writes_the_table_check_uses_and_refuses_a_truncated_export() {
    let Some(src) = hashward_model::shared_testdata_candidates(Path::new(env!("CARGO_MANIFEST_DIR")))
        .into_iter()
        .map(|d| d.join("customs/usitc-hts-2026-rev4.csv"))
        .find(|p| p.is_file())
    else {
        eprintln!("shared testdata not found: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("hts.tsv");
    let out = hashward()
        .args(["customs", "import-hts"])
        .arg(&src)
        .arg("--out")
        .arg(&table)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let input = dir.path().join("e.csv");
    std::fs::write(&input, hashward_customs::sample_entries()).unwrap();
    let out = hashward()
        .args(["--no-store", "--format", "json", "customs", "check", "--hts"])
        .arg(&table)
        .arg(&input)
        .output()
        .unwrap();
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["result"]["lines"].as_array().unwrap().len(), 3);
    assert_eq!(env["inputs"].as_array().unwrap().len(), 2);
    // A cut copy.
    let bytes = std::fs::read(&src).unwrap();
    let cut = dir.path().join("cut.csv");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = hashward()
        .args(["customs", "import-hts"])
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("truncated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn generate_writes_a_deterministic_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    for p in [&a, &b] {
        let out = hashward()
            .args(["customs", "generate", "--lines", "500", "--out"])
            .arg(p)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    assert_eq!(text.lines().count(), 501);
}
