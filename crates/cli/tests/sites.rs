//! `hashward sites assess` end to end: the output contract (json, jsonl, geojson), the exit
//! codes, bad rows, rules directories, the case, and errors.

use std::path::Path;
use std::process::Output;

mod common;
use common::hashward;

fn sample(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("facilities.geojson");
    std::fs::write(&p, hashward_sites::sample::sample_facilities()).unwrap();
    p
}

fn assess(format: &str, facilities: &Path, extra: &[&str]) -> Output {
    hashward()
        .args([
            "--no-store",
            "--format",
            format,
            "sites",
            "assess",
            "--date",
            "2026-01-01",
            "--facilities",
        ])
        .arg(facilities)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_sample_facilities_give_the_documented_result() {
    let dir = tempfile::tempdir().unwrap();
    let out = assess("json", &sample(dir.path()), &[]);
    // SITE-003 (high) for the MineOne-like site: exit 1 at the default --fail-on high.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["command"], "sites assess");
    assert_eq!(env["inputs"].as_array().unwrap().len(), 1);
    let findings: Vec<hashward_model::Finding> = serde_json::from_value(env["findings"].clone()).unwrap();
    let rules_of = |id: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f.subject == hashward_model::Subject::Facility { id: id.into() })
            .map(|f| f.rule.to_string())
            .collect()
    };
    assert!(rules_of("mineone-like").contains(&"SITE-007".to_owned()));
    assert!(!rules_of("mineone-like").contains(&"SITE-001".to_owned()));
    assert!(rules_of("clean-plains").is_empty());
    assert!(rules_of("ercot-large").contains(&"SITE-006".to_owned()));
    assert!(rules_of("florida-near-base").contains(&"SITE-004".to_owned()));
    let r = &env["result"];
    assert_eq!(r["date"], "2026-01-01");
    assert_eq!(r["layers"][0]["name"], "installations (built-in)");
    let fs = r["facilities"].as_array().unwrap();
    assert_eq!(fs.len(), 4);
    for f in fs {
        for key in ["id", "name", "load_mw", "load", "nearest", "rules", "notes"] {
            assert!(f.get(key).is_some(), "facility.{key} in {f}");
        }
        for n in f["nearest"].as_array().unwrap() {
            for key in ["layer", "site", "site_name", "distance_m", "measured_from"] {
                assert!(n.get(key).is_some(), "nearest.{key}");
            }
        }
        for h in f["rules"].as_array().unwrap() {
            for key in [
                "rule",
                "finding",
                "cite",
                "site",
                "site_name",
                "layer",
                "distance_m",
                "limit_m",
                "margin_m",
                "screening",
            ] {
                assert!(h.get(key).is_some(), "rules.{key} in {h}");
            }
        }
    }
    let mine = &fs[0];
    assert_eq!(mine["id"], "mineone-like");
    assert_eq!(mine["load"]["method"], "fleet");
    let d = mine["nearest"][0]["distance_m"].as_f64().unwrap();
    assert!((d / 1609.344 - 3.20).abs() < 0.005, "{d}");
    assert_eq!(mine["nearest"][0]["measured_from"], "point");
}

#[test]
fn jsonl_has_one_item_per_facility() {
    let dir = tempfile::tempdir().unwrap();
    let out = assess("jsonl", &sample(dir.path()), &["--fail-on", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "run");
    let items = lines
        .iter()
        .filter(|l| l["type"] == "item" && l["key"] == "facilities")
        .count();
    assert_eq!(items, 4);
    assert!(lines.iter().any(|l| l["type"] == "finding"));
    assert_eq!(lines.last().unwrap()["type"], "result");
}

#[test]
fn geojson_is_a_map_of_facilities_hits_and_zones() {
    let dir = tempfile::tempdir().unwrap();
    let out = assess("geojson", &sample(dir.path()), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let fc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    let kind = |k: &str| features.iter().filter(|f| f["properties"]["kind"] == k).count();
    assert_eq!(kind("facility"), 4);
    assert!(kind("hit") >= 2);
    assert!(kind("zone") >= 1 && kind("screening_zone") >= 1);
    for f in features.iter().filter(|f| f["geometry"]["type"] == "Polygon") {
        let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
        assert!(ring.len() > 10 && ring.first() == ring.last(), "a closed ring");
    }
    // Other commands refuse the format, as a usage error.
    let out = hashward()
        .args(["--format", "geojson", "rules"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("only available for `hashward sites assess`"));
}

#[test]
fn bad_rows_are_named_and_the_rest_is_assessed() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("f.csv");
    std::fs::write(
        &csv,
        "id,name,lat,lon,owner_country,state,load_mw\n\
         ok-1,Good,41.0,-100.0,US,NE,10\n\
         bad-lat,Bad,91.5,-100.0,US,NE,10\n\
         ok-2,Good too,41.5,-100.5,US,NE,12\n",
    )
    .unwrap();
    let out = assess("json", &csv, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = env["result"]["facilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ok-1", "ok-2"]);
    let errors = env["result"]["row_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0].as_str().unwrap();
    assert!(e.contains("row") && e.contains("lat"), "{e}");
}

#[test]
fn unreadable_inputs_and_bad_rules_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = assess("json", &dir.path().join("missing.geojson"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.geojson"), "{}", stderr(&out));

    let f = sample(dir.path());
    let out = assess(
        "json",
        &f,
        &["--layer", dir.path().join("nope.csv").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.csv"));

    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("grid.toml"),
        "[[threshold]]\nid = \"x\"\nregion = \"ERCOT\"\nthreshold_mw = 75.0\nlimit = 3\n",
    )
    .unwrap();
    let out = assess("json", &f, &["--rules", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("grid.toml") && err.contains("limit"), "{err}");

    let out = assess("json", &f, &["--date", "2026-13-40"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--date"));
}

#[test]
fn a_rules_directory_changes_the_verdict_and_the_run_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let f = sample(dir.path());
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    // ERCOT at 100 MW instead of 75: the 90 MW sample no longer crosses it.
    std::fs::write(
        rules.join("grid.toml"),
        "[[threshold]]\nid = \"stricter\"\nregion = \"ERCOT\"\nthreshold_mw = 100.0\ncite = \"test\"\neffect = \"test\"\nstatus = \"in_force\"\neffective = \"2020-01-01\"\nsource = \"test\"\n",
    )
    .unwrap();
    let case = dir.path().join("case.db");
    let out = hashward()
        .args(["--format", "json", "--case"])
        .arg(&case)
        .args(["sites", "assess", "--facilities"])
        .arg(&f)
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(out.status.code() == Some(1), "{}", stderr(&out));
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !env["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "SITE-006")
    );
    let grid = env["result"]["rule_files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "grid.toml")
        .unwrap()
        .clone();
    assert_ne!(grid["origin"], "built-in");
    common::assert_run_recorded(&case, "sites assess");
}
