//! The binary end to end: the output contract, exit codes, the case, containment on disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

mod common;
use common::hashward;

use serde::Deserialize;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The envelope as scripts see it: unknown fields are an error, so the contract is pinned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Env {
    hashward: String,
    command: String,
    inputs: Vec<Input>,
    findings: Vec<hashward_model::Finding>,
    result: UnpackResult,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    path: String,
    sha256: String,
    size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnpackResult {
    out: String,
    entries: Vec<hashward_firmware::unpack::EntryRecord>,
    containers: Vec<hashward_firmware::unpack::NodeRecord>,
    stats: hashward_firmware::unpack::UnpackStats,
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

fn unpack(s: &Scratch, image: &Path, extra: &[&str]) -> Output {
    hashward()
        .args(["firmware", "unpack"])
        .arg(image)
        .arg("--out")
        .arg(s.path("out"))
        .arg("--case")
        .arg(s.path("case.db"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn json_output_follows_the_contract() {
    let s = Scratch::new();
    let img = s.write("cfg.gz", &gz(b"api-allow W:0/0\n"));
    let out = unpack(&s, &img, &["--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env: Env = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env.command, "firmware unpack");
    assert_eq!(env.hashward, hashward_model::VERSION);
    assert_eq!(env.inputs.len(), 1);
    assert_eq!(env.inputs[0].size, std::fs::metadata(&img).unwrap().len());
    assert_eq!(env.inputs[0].sha256.len(), 64);
    assert!(env.inputs[0].path.ends_with("cfg.gz"));
    assert!(env.findings.is_empty());
    assert!(env.result.out.ends_with("out"));
    let e = &env.result.entries[0];
    assert_eq!(
        (e.path.as_str(), e.kind.as_str(), e.size),
        ("cfg", "file", Some(16))
    );
    assert_eq!(*e.layers, ["gzip"]);
    assert_eq!(env.result.containers[0].format, "gzip");
    assert_eq!(env.result.stats.files, 1);
    assert!(env.result.stats.peak_rss_bytes.unwrap_or(1) > 0);
}

#[test]
fn jsonl_output_is_one_record_per_line() {
    let s = Scratch::new();
    let img = s.write("a.gz", &gz(b"x"));
    let out = unpack(&s, &img, &["--format", "jsonl", "--no-store"]);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"run"));
    assert!(types.contains(&"input") && types.contains(&"item"));
    assert_eq!(types.last(), Some(&"result"));
    assert!(!s.path("case.db").exists(), "--no-store must not create the case");
}

#[test]
fn exit_codes_follow_fail_on() {
    let s = Scratch::new();
    // A truncated gzip: FW-102 (low).
    let full = gz(&(0..200_000u32)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect::<Vec<_>>());
    let img = s.write("cut.gz", &full[..full.len() / 2]);
    let out = unpack(&s, &img, &["--format", "json", "--no-store"]);
    assert_eq!(out.status.code(), Some(0), "low finding, default --fail-on high");
    std::fs::remove_dir_all(s.path("out")).unwrap();
    let out = unpack(&s, &img, &["--format", "json", "--no-store", "--fail-on", "low"]);
    assert_eq!(out.status.code(), Some(1));
    // Errors are 2: a missing image, a non-empty --out.
    let out = unpack(&s, &s.path("missing"), &["--no-store"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn runs_and_findings_are_recorded_in_the_case() {
    let s = Scratch::new();
    let full = gz(&vec![7u8; 300_000]);
    let img = s.write("cut.gz", &full[..full.len() - 20]);
    let out = unpack(&s, &img, &["--format", "json"]);
    assert!(out.status.code().is_some());
    let case = s.path("case.db");
    let runs = hashward()
        .args(["case", "runs", "--format", "json", "--case"])
        .arg(&case)
        .output()
        .unwrap();
    assert_eq!(
        runs.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&runs.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let f = hashward()
        .args(["case", "findings", "--format", "json", "--case"])
        .arg(&case)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|x| x.to_string().contains("FW-102")),
        "{v}"
    );
    // HASHWARD_CASE selects the case too.
    let env_runs = hashward()
        .args(["case", "runs", "--format", "json"])
        .env("HASHWARD_CASE", &case)
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&env_runs.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().display().to_string();
    for args in [
        vec!["rules", "--format", "json"],
        vec!["--format", "text", "--no-store", "demo", "--keep", &dir],
    ] {
        let mut child = hashward()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn rules_lists_the_catalogue() {
    let out = hashward().args(["rules", "--format", "text"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("FW-001") && text.contains("TRF-008"));
    assert_eq!(text.lines().count(), hashward_model::CATALOGUE.len());
}

#[test]
fn inspect_reports_the_inventory_and_planted_credentials_and_records_them() {
    let s = Scratch::new();
    let sample = hashward_fixtures::samples::s21();
    let img = s.write(sample.file_name, &sample.bytes);
    let out = hashward()
        .args(["firmware", "inspect", "--format", "json", "--case"])
        .arg(s.path("case.db"))
        .arg(&img)
        .output()
        .unwrap();
    // A high finding: exit 1 under the default --fail-on high.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["command"], "firmware inspect");
    let accounts = v["result"]["inventory"]["accounts"].as_array().unwrap();
    assert!(accounts.iter().any(|a| {
        a["user"] == "miner"
            && a["passwords"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["state"] == "known" && p["password"] == "miner")
    }));
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"FW-005") && rules.contains(&"FW-006"),
        "{rules:?}"
    );
    // Without --out the extracted tree was temporary: nothing is left next to the image.
    assert_eq!(
        std::fs::read_dir(s.dir.path()).unwrap().count(),
        2,
        "image and case only"
    );
    let f = hashward()
        .args([
            "case", "findings", "--rule", "FW-005", "--format", "json", "--case",
        ])
        .arg(s.path("case.db"))
        .output()
        .unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert!(!stored.as_array().unwrap().is_empty(), "{stored}");
}

/// `firmware diff`'s envelope as scripts see it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffEnv {
    hashward: String,
    command: String,
    inputs: Vec<Input>,
    findings: Vec<hashward_model::Finding>,
    result: DiffResult,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffResult {
    out: Option<String>,
    diff: DiffBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffBody {
    old: DiffImage,
    new: DiffImage,
    paired: serde_json::Value,
    files: serde_json::Value,
    inventory: std::collections::BTreeMap<String, serde_json::Value>,
    findings: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffImage {
    sha256: String,
    size: u64,
}

#[test]
fn diff_reports_what_an_update_brings_and_gates_on_it() {
    let s = Scratch::new();
    let old = hashward_fixtures::samples::s9();
    let mut updated = hashward_fixtures::rootfs::s9();
    updated.file("etc/inittab", "::respawn:/usr/sbin/telnetd -F -l /bin/sh\n");
    let new = hashward_fixtures::samples::s9_with(updated);
    let old_img = s.write("s9-2017.tar.gz", &old.bytes);
    let new_img = s.write("s9-2018.tar.gz", &new.bytes);
    let out = hashward()
        .args(["firmware", "diff", "--format", "json", "--case"])
        .arg(s.path("case.db"))
        .arg("--out")
        .arg(s.path("trees"))
        .arg(&old_img)
        .arg(&new_img)
        .output()
        .unwrap();
    // telnetd at boot is a high finding the old image did not have: exit 1.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env: DiffEnv = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env.command, "firmware diff");
    assert_eq!(env.hashward, hashward_model::VERSION);
    let paths: Vec<&str> = env.inputs.iter().map(|i| i.path.as_str()).collect();
    assert!(
        paths[0].ends_with("s9-2017.tar.gz") && paths[1].ends_with("s9-2018.tar.gz"),
        "{paths:?}"
    );
    assert_eq!(env.inputs[0].sha256, env.result.diff.old.sha256);
    assert_eq!(env.inputs[1].size, env.result.diff.new.size);
    assert_ne!(env.result.diff.old.sha256, env.result.diff.new.sha256);
    assert!(env.result.out.unwrap().ends_with("trees"));
    // The envelope's findings are what the update introduced, and only that: the old image's
    // Antbleed finding is in both, so it is not among them.
    let rules: Vec<&str> = env.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["FW-012"], "{:#?}", env.findings);
    assert!(env.findings[0].message.contains("telnetd"));
    let d = &env.result.diff;
    assert_eq!(d.findings["new"]["total"], 1);
    assert_eq!(d.findings["gone"]["total"], 0);
    assert_eq!(d.files["added"]["total"], 1);
    assert!(
        d.files["added"]["items"][0]["key"]
            .as_str()
            .unwrap()
            .ends_with("rootfs.ubifs.extracted/etc/inittab")
    );
    assert_eq!(d.inventory["services"]["added"]["total"], 1);
    assert_eq!(d.inventory["accounts"]["changed"]["total"], 0);
    assert_eq!(d.paired["total"], 0);
    // Both trees were kept under --out.
    for side in ["old", "new"] {
        assert!(s.path("trees").join(side).join("ubi_info").is_file(), "{side}");
    }
    // The run is in the case with both images as inputs and what the update introduced.
    let runs = hashward()
        .args(["case", "runs", "--format", "json", "--case"])
        .arg(s.path("case.db"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let run = &v.as_array().unwrap()[0];
    assert_eq!(run["command"], "firmware diff", "{run}");
    assert_eq!(run["inputs"], 2, "{run}");
    assert_eq!(run["findings"]["high"], 1, "{run}");

    // For people: a summary per section; with --fail-on never, exit 0. The same tree again is
    // refused before any work.
    let text = hashward()
        .args([
            "firmware",
            "diff",
            "--format",
            "text",
            "--no-store",
            "--fail-on",
            "never",
        ])
        .arg(&old_img)
        .arg(&new_img)
        .output()
        .unwrap();
    assert_eq!(
        text.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("files: 1 added, 0 removed"), "{text}");
    assert!(text.contains("  services: 1 added"), "{text}");
    assert!(text.contains("  + HIGH     FW-012"), "{text}");
    let again = hashward()
        .args(["firmware", "diff", "--no-store", "--out"])
        .arg(s.path("trees"))
        .arg(&old_img)
        .arg(&new_img)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[test]
fn inspect_writes_a_valid_cyclonedx_sbom_that_names_the_image() {
    use cyclonedx_bom::models::bom::{Bom, SpecVersion};
    use cyclonedx_bom::validation::Validate;
    use sha2::Digest;

    let s = Scratch::new();
    let sample = hashward_fixtures::samples::s21();
    let img = s.write(sample.file_name, &sample.bytes);
    let run = || {
        hashward()
            .args(["firmware", "inspect", "--format", "cyclonedx", "--no-store"])
            .arg(&img)
            .env("SOURCE_DATE_EPOCH", "1714564800")
            .output()
            .unwrap()
    };
    let out = run();
    // The findings still decide the exit status (the sample has high ones); 2 would be an error.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bom = Bom::parse_from_json_v1_5(out.stdout.as_slice()).unwrap();
    let result = bom.validate_version(SpecVersion::V1_5);
    assert!(result.passed(), "{result:?}");

    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["bomFormat"], "CycloneDX");
    assert_eq!(j["specVersion"], "1.5");
    assert_eq!(j["metadata"]["timestamp"], "2024-05-01T12:00:00Z");
    assert_eq!(j["metadata"]["tools"]["components"][0]["name"], "hashward");
    let image = &j["metadata"]["component"];
    assert_eq!(image["type"], "firmware");
    assert_eq!(image["name"], sample.file_name);
    assert_eq!(
        image["hashes"][0]["content"],
        hex::encode(sha2::Sha256::digest(&sample.bytes))
    );
    // The finder's components, each well formed; the sample's busybox among them.
    let comps = j["components"].as_array().unwrap();
    assert!(
        comps
            .iter()
            .any(|c| c["name"] == "busybox" && c["version"] == "1.31.1"),
        "{comps:#?}"
    );
    for c in comps {
        assert!(c["name"].as_str().is_some_and(|n| !n.is_empty()), "{c}");
        match c["version"].as_str() {
            Some(v) => assert_eq!(
                c["purl"].as_str().unwrap(),
                hashward_firmware::sbom::purl(c["name"].as_str().unwrap(), v)
            ),
            None => assert!(c.get("purl").is_none(), "{c}"),
        }
    }
    // With the timestamp pinned a rerun is byte-identical.
    assert_eq!(run().stdout, out.stdout);
}

#[test]
fn cyclonedx_is_a_usage_error_outside_firmware_inspect() {
    let s = Scratch::new();
    let img = s.write("x.gz", &gz(b"hello"));
    let unpack = unpack(&s, &img, &["--format", "cyclonedx"]);
    assert_eq!(unpack.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unpack.stderr);
    assert!(
        err.contains("only available for `hashward firmware inspect`"),
        "{err}"
    );
    assert!(err.contains("Usage:"), "{err}");
    assert!(unpack.stdout.is_empty());
    assert!(!s.path("out").exists(), "nothing was run");
    let rules = hashward()
        .args(["rules", "--format", "cyclonedx"])
        .output()
        .unwrap();
    assert_eq!(rules.status.code(), Some(2));
}

/// A tar.gz holding `files` (name, content), built with the fixtures' writer.
fn tree_image(s: &Scratch, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let mut t = hashward_fixtures::Tree::new();
    for (p, c) in files {
        t.file(p, *c);
    }
    let tar = hashward_fixtures::archive::tar(&t, hashward_fixtures::archive::TarStyle::Gnu);
    s.write(name, &gz(&tar))
}

#[test]
fn inspect_runs_builtin_and_user_yara_rules() {
    let s = Scratch::new();
    let img = tree_image(
        &s,
        "fw.tar.gz",
        &[
            (
                "etc/rc.local",
                "#!/bin/sh\n/usr/sbin/telnetd -p 9999 -l /bin/sh &\n",
            ),
            ("etc/pools.conf", "pool=stratum+tcp://stratum.pool.example:3333\n"),
        ],
    );
    let rules = s.path("my-rules/site");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("pools.yar"),
        "rule our_pool { meta: severity = \"low\" description = \"the pool we run\" strings: $p = \"stratum.pool.example\" condition: $p }\n",
    )
    .unwrap();
    let out = hashward()
        .args(["firmware", "inspect", "--format", "json", "--no-store", "--rules"])
        .arg(s.path("my-rules"))
        .arg(&img)
        .output()
        .unwrap();
    // The built-in telnetd rule is critical: exit 1.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fw016: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "FW-016")
        .collect();
    assert_eq!(fw016.len(), 2, "{fw016:#?}");
    let telnetd = fw016
        .iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .contains("rule telnetd_without_login")
        })
        .unwrap();
    assert_eq!(telnetd["severity"], "critical");
    assert_eq!(telnetd["subject"]["path"], "etc/rc.local");
    assert_eq!(telnetd["evidence"][0]["offset"], 10);
    let ours = fw016
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("user yara rule our_pool"))
        .unwrap();
    assert_eq!(ours["severity"], "low");
    assert_eq!(ours["evidence"][0]["excerpt"], "stratum.pool.example");
    let yara = &v["result"]["yara"];
    let files = yara["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["builtin"] == false && f["origin"].as_str().unwrap().ends_with("site/pools.yar"))
    );
    assert!(yara["rules"].as_u64().unwrap() > 10);
    assert_eq!(
        v["result"]["inventory"]["rule_matches"].as_array().unwrap().len(),
        2
    );

    // --no-builtin-rules and no --rules: no YARA scan at all.
    let out = hashward()
        .args([
            "firmware",
            "inspect",
            "--format",
            "json",
            "--no-store",
            "--no-builtin-rules",
        ])
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["result"]["yara"].is_null());
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "FW-016")
    );

    // Text output lists the matches.
    let out = hashward()
        .args(["firmware", "inspect", "--format", "text", "--no-store", "--rules"])
        .arg(s.path("my-rules"))
        .arg(&img)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("YARA: ") && text.contains("1 yours"), "{text}");
    assert!(
        text.contains("hashward/reverse_shell:telnetd_without_login  etc/rc.local @ 0xa"),
        "{text}"
    );
}

#[test]
fn a_rule_file_that_does_not_compile_is_a_usage_error_naming_file_and_line() {
    let s = Scratch::new();
    let img = tree_image(&s, "fw.tar.gz", &[("etc/hostname", "miner\n")]);
    let rules = s.path("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("good.yar"), "rule fine { condition: true }\n").unwrap();
    std::fs::write(
        rules.join("broken.yara"),
        "rule broken {\n  condition:\n    $missing\n}\n",
    )
    .unwrap();
    let out = hashward()
        .args(["firmware", "inspect", "--format", "json", "--case"])
        .arg(s.path("case.db"))
        .arg("--out")
        .arg(s.path("out"))
        .arg("--rules")
        .arg(&rules)
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loading YARA rules: "), "{err}");
    assert!(err.contains("broken.yara:3:5: "), "{err}");
    // Nothing was unpacked or recorded.
    assert!(out.stdout.is_empty());
    assert!(!s.path("out").exists());
    assert!(!s.path("case.db").exists());
}
