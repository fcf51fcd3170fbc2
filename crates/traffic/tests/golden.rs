//! Golden tests on the shared real captures and RITA's golden Zeek logs (read from
//! `shared/testdata/traffic`, never copied), and hostile inputs: truncated captures, wrong link
//! types, garbage.

use std::path::{Path, PathBuf};

use hashward_model::Policy;
use serde_json::Value;

fn shared() -> PathBuf {
    hashward_traffic::shared_traffic_dir().expect("shared/testdata/traffic (set HASHWARD_TESTDATA)")
}

fn run(paths: &[PathBuf]) -> hashward_traffic::Report {
    hashward_traffic::run(
        paths,
        &Policy::default(),
        false,
        &hashward_traffic::Options::default(),
    )
    .unwrap()
}

fn sessions(r: &hashward_traffic::Report) -> &Vec<Value> {
    r.result["stratum_sessions"].as_array().unwrap()
}

fn names(r: &hashward_traffic::Report, key: &str, field: &str) -> Vec<String> {
    r.result[key]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x[field].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn bitcoin_mining_pcap_bfgminer_subscribes_and_authorizes_broatcast() {
    let r = run(&[shared().join("bitcoin-mining.pcap")]);
    assert_eq!(r.result["stats"]["packets"], 188);
    let s = sessions(&r);
    let stratum: Vec<&Value> = s.iter().filter(|s| s["transport"] == "plaintext").collect();
    let main = stratum
        .iter()
        .find(|s| {
            s["device"] == "10.0.2.15" && s["pool"] == "74.84.128.158:3333" && s["users"][0].is_string()
        })
        .unwrap_or_else(|| panic!("{s:#?}"));
    assert_eq!(main["subscribed"], true);
    assert_eq!(main["agent"], "bfgminer/5.2.0");
    assert_eq!(main["users"][0], "broatcast");
    assert_eq!(main["dialect"], "bitcoin");
    assert!(main["notifies"].as_u64().unwrap() >= 1, "{main}");
    // The pool set 4096, then lowered it to 64.
    assert_eq!(main["difficulty"].as_f64(), Some(64.0), "{main}");
    // bfgminer also tried getwork over HTTP and TLS on the same ports: 13 sessions in all.
    assert_eq!(s.len(), 13, "{s:#?}");
    assert_eq!(s.iter().filter(|s| s["transport"] == "http-getwork").count(), 5);
    assert_eq!(s.iter().filter(|s| s["transport"] == "tls").count(), 5);
    assert!(names(&r, "tls", "sni").contains(&"us1.bitminter.com".to_string()));
    // Plaintext stratum is reported, with the authorize line as proof.
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "TRF-005")
        .collect();
    assert!(f.iter().any(|f| f.message.contains("74.84.128.158")), "{f:#?}");
}

#[test]
fn a_capture_that_starts_mid_session_still_shows_the_session() {
    let r = run(&[shared().join("bitcoin-mining-in-progress.pcap")]);
    assert_eq!(r.result["stats"]["packets"], 111);
    let s = sessions(&r);
    let mid = s
        .iter()
        .find(|s| s["transport"] == "plaintext")
        .unwrap_or_else(|| panic!("{s:#?}"));
    assert_eq!(mid["subscribed"], false, "{mid}");
    assert!(mid["notifies"].as_u64().unwrap() >= 1, "{mid}");
    assert!(!r.result["dns"].as_array().unwrap().is_empty());
}

#[test]
fn a_capture_cut_in_the_middle_of_a_stratum_line_still_finds_the_session() {
    use hashward_fixtures::capture::{Builder, Dir, Format, Link};
    let mut b = Builder::new(Link::Ethernet);
    let t0 = 1_764_000_000_000_000;
    let mut c = b.tcp(
        "10.40.1.2:41000".parse().unwrap(),
        "203.0.113.10:3333".parse().unwrap(),
        t0,
    );
    c.send(
        &mut b,
        Dir::ServerToClient,
        t0 + 10_000,
        b"0000000\",true],\"id\":null,\"method\":\"mining.notify\"}\n",
    );
    c.send(
        &mut b,
        Dir::ServerToClient,
        t0 + 20_000,
        b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[512]}\n",
    );
    c.send(
        &mut b,
        Dir::ClientToServer,
        t0 + 30_000,
        b"{\"params\":[\"owner.w1\",\"1f\",\"00\",\"65\",\"1a\"],\"id\":9,\"method\":\"mining.submit\"}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "cut.pcap", &b.finish(Format::Pcap, false).unwrap());
    let r = run(&[p]);
    let s = &sessions(&r)[0];
    assert_eq!(s["difficulty"], 512.0, "{s}");
    assert_eq!(s["shares"]["submitted"], 1, "{s}");
}

#[test]
fn coinhive_stratum_pcap_logs_in_monero_style() {
    let r = run(&[shared().join("coinhive-stratum.pcap")]);
    assert_eq!(r.result["stats"]["packets"], 320);
    let s = sessions(&r);
    let xmr = s
        .iter()
        .find(|s| s["pool"] == "192.110.160.114:3333")
        .unwrap_or_else(|| panic!("{s:#?}"));
    assert_eq!(xmr["dialect"], "monero");
    assert!(xmr["users"][0].as_str().unwrap().starts_with("46WNb"), "{xmr}");
    assert!(xmr["notifies"].as_u64().unwrap() >= 1, "pool-pushed jobs: {xmr}");
    let dns = names(&r, "dns", "name");
    for n in ["coinhive.com", "la01.supportxmr.com"] {
        assert!(dns.contains(&n.to_string()), "{n} in {dns:?}");
    }
    assert!(names(&r, "tls", "sni").contains(&"coinhive.com".to_string()));
    // coinhive.com and a Monero pool are names a fleet has no business resolving.
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "TRF-008")
        .collect();
    assert!(f.iter().any(|f| f.message.contains("coinhive.com")), "{f:#?}");
    assert!(f.iter().any(|f| f.message.contains("supportxmr.com")), "{f:#?}");
}

#[test]
fn suricata_tls_capture_names_every_client_hello() {
    let r = run(&[shared().join("suricata-verify-tls-subjectaltname.pcap")]);
    assert_eq!(r.result["stats"]["packets"], 3138);
    let tls = r.result["tls"].as_array().unwrap();
    let hellos: u64 = tls.iter().map(|t| t["connections"].as_u64().unwrap()).sum();
    assert_eq!(hellos, 40, "{tls:#?}");
    let mamzon: u64 = tls
        .iter()
        .filter(|t| t["sni"] == "mamzon.ru")
        .map(|t| t["connections"].as_u64().unwrap())
        .sum();
    assert_eq!(mamzon, 11);
    assert!(
        tls.iter()
            .all(|t| t["ja4"].as_str().is_some_and(|j| j.starts_with('t'))),
        "{tls:#?}"
    );
    assert!(!r.result["http"].as_array().unwrap().is_empty());
}

#[test]
fn twelve_hundred_distinct_names_look_like_dns_tunnelling() {
    let r = run(&[shared().join("suricata-verify-datasets-06-dns-1200q.pcap")]);
    let dns = names(&r, "dns", "name");
    assert_eq!(
        dns.iter()
            .filter(|n| n.ends_with(".example.com") && n.starts_with("test"))
            .count(),
        1200
    );
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "TRF-008")
        .collect();
    assert!(
        f.iter()
            .any(|f| f.message.contains("1200 distinct names under example.com")),
        "{f:#?}"
    );
}

#[test]
fn rita_golden_zeek_logs_give_ritas_beacon_scores_through_the_whole_pipeline() {
    let dir = shared().join("rita-golden-zeek-logs");
    let logs: Vec<PathBuf> = ["conn.log", "dns.log", "http.log", "ssl.log"]
        .iter()
        .map(|n| dir.join(n))
        .collect();
    let r = run(&logs);
    let beacons = r.result["beacons"].as_array().unwrap();
    let get = |dst: &str| {
        beacons
            .iter()
            .find(|b| b["src"] == "10.136.0.18" && b["dst"] == dst)
            .unwrap_or_else(|| panic!("{dst} not scored: {beacons:#?}"))
    };
    let b = get("www.honestimnotevil.com");
    assert_eq!(b["factors"]["connections"], 357, "{b}");
    assert!((b["score"].as_f64().unwrap() - 0.979).abs() <= 0.05, "{b}");
    let g = get("www.google.com");
    assert!((g["score"].as_f64().unwrap() - 0.586).abs() <= 0.05, "{g}");
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "TRF-002")
        .collect();
    let hit = f
        .iter()
        .find(|f| f.message.contains("www.honestimnotevil.com"))
        .unwrap_or_else(|| panic!("{f:#?}"));
    // Evidence from a log names the log lines, not frames.
    assert!(
        hit.evidence
            .iter()
            .any(|e| matches!(e, hashward_model::Evidence::LogRecords { lines, .. } if !lines.is_empty())),
        "{:?}",
        hit.evidence
    );
    for i in &r.input_reports {
        assert!(i.kind.starts_with("zeek-"), "{i:?}");
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn a_truncated_capture_gives_a_partial_result_and_says_where_it_stopped() {
    let full = std::fs::read(shared().join("bitcoin-mining.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "cut.pcap", &full[..full.len() * 2 / 3]);
    let r = run(&[p]);
    let input = &r.input_reports[0];
    let err = input.error.as_deref().expect("the cut is reported");
    assert!(err.contains("frame") || err.contains("offset"), "{err}");
    assert!(input.records > 50 && input.records < 188, "{input:?}");
    assert!(!sessions(&r).is_empty(), "what was read is analysed");
    // The evidence hash is of the whole file, though reading stopped early.
    use sha2::Digest as _;
    assert_eq!(
        input.sha256,
        hex::encode(sha2::Sha256::digest(&full[..full.len() * 2 / 3]))
    );
}

#[test]
fn a_capture_read_in_windows_gives_the_same_result_and_hash_as_one_read_whole() {
    let path = shared().join("coinhive-stratum.pcap");
    let whole = run(std::slice::from_ref(&path));
    let mut opts = hashward_traffic::Options::default();
    // Force positional reads through small windows, as for captures larger than memory.
    opts.capture.in_memory_max = 1024;
    for workers in [1, 2, 3] {
        opts.workers = workers;
        let windowed =
            hashward_traffic::run(std::slice::from_ref(&path), &Policy::default(), false, &opts).unwrap();
        assert_eq!(
            windowed.inputs[0].sha256, whole.inputs[0].sha256,
            "{workers} workers"
        );
        use sha2::Digest as _;
        assert_eq!(
            whole.inputs[0].sha256,
            hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()))
        );
        for key in ["flows", "stratum_sessions", "dns", "tls"] {
            assert_eq!(
                windowed.result[key], whole.result[key],
                "{key} with {workers} workers"
            );
        }
        assert_eq!(windowed.result["stats"]["packets"], 320);
    }
}

#[test]
fn garbage_absurd_lengths_and_unknown_link_types_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    // Not a capture at all.
    let p = write(dir.path(), "junk.bin", b"\x7fELF\x02\x01\x01 not a capture");
    let e = hashward_traffic::run(&[p], &Policy::default(), false, &Default::default())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("not a pcap"), "{e}");
    // A pcap whose only record claims 4 GiB.
    let mut b = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&[0; 64]);
    let r = run(&[write(dir.path(), "absurd.pcap", &b)]);
    assert!(r.input_reports[0].error.is_some(), "{:?}", r.input_reports[0]);
    // Link type 147 (user-defined): every frame is counted as undecodable, nothing panics.
    let mut b = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 147, 0, 0, 0,
    ];
    for _ in 0..3 {
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&20u32.to_le_bytes());
        b.extend_from_slice(&20u32.to_le_bytes());
        b.extend_from_slice(&[0x45; 20]);
    }
    let r = run(&[write(dir.path(), "dlt147.pcap", &b)]);
    assert_eq!(r.result["stats"]["decode_errors"], 3);
    // Garbage frames on Ethernet.
    let mut b = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    let mut x: u32 = 1;
    for n in 0..500u32 {
        let len = n % 200;
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        for _ in 0..len {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b.push((x >> 16) as u8);
        }
    }
    let r = run(&[write(dir.path(), "garbage.pcap", &b)]);
    assert_eq!(r.result["stats"]["packets"], 500);
    // An empty file and a Zeek log with broken rows.
    assert!(
        hashward_traffic::run(
            &[write(dir.path(), "empty", b"")],
            &Policy::default(),
            false,
            &Default::default()
        )
        .is_err()
    );
    let log = "#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n1.0\tC1\t10.0.0.1\t1000\t10.0.0.2\t80\ttcp\nnot-a-time\tC2\t10.0.0.1\t1000\t10.0.0.2\t80\ttcp\n2.0\tC3\t10.0.0.999\t1000\t10.0.0.2\t80\ttcp\n";
    let r = run(&[write(dir.path(), "conn.log", log.as_bytes())]);
    assert_eq!(r.result["flows"], 1);
    assert_eq!(r.input_reports[0].row_error_count, 2, "{:?}", r.input_reports[0]);
}
