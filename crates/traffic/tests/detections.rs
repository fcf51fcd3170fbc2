//! Every TRF detection on a capture built by the test, with the negative next to it: a reconnect
//! cgminer refuses and one it accepts, a wallet and a worker switch, a jittered beacon and
//! irregular traffic, a dev-fee pool, management access from outside and from the management
//! network, phone-home, rogue resolvers, Stratum V2 shapes.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use hashward_fixtures::capture::{Builder, Dir, Format, Link};
use hashward_model::{Evidence, Finding, Policy, Severity};

const T0: i64 = 1_764_000_000_000_000;
const S: i64 = 1_000_000;

const POLICY: &str = r#"
[pools]
allow = ["stratum.antpool.com", "*.pool.example"]
[network]
management = ["10.40.0.0/28"]
resolvers  = ["10.40.0.1"]
allow      = ["10.40.0.1"]
"#;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Run {
    findings: Vec<Finding>,
    result: serde_json::Value,
    _dir: tempfile::TempDir,
}

fn analyze(b: Builder, policy: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcap");
    std::fs::write(&path, b.finish(Format::Pcap, false).unwrap()).unwrap();
    analyze_paths(&[path], policy, dir)
}

fn analyze_paths(paths: &[PathBuf], policy: &str, dir: tempfile::TempDir) -> Run {
    let policy = Policy::from_toml(policy).unwrap();
    let r = hashward_traffic::run(paths, &policy, true, &hashward_traffic::Options::default()).unwrap();
    Run {
        findings: r.findings,
        result: r.result,
        _dir: dir,
    }
}

impl Run {
    fn of(&self, rule: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.rule.as_str() == rule).collect()
    }
    fn about(&self, rule: &str, needle: &str) -> Vec<&Finding> {
        self.of(rule)
            .into_iter()
            .filter(|f| f.message.contains(needle))
            .collect()
    }
}

/// A miner's Stratum session: DNS lookup, subscribe, authorize, a job, a share.
#[allow(clippy::too_many_arguments)]
fn session(
    b: &mut Builder,
    miner: &str,
    port: u16,
    pool: &str,
    pool_ip: &str,
    pool_port: u16,
    user: &str,
    t: i64,
) -> hashward_fixtures::capture::TcpConn {
    b.dns(
        sa(&format!("{miner}:53000")),
        sa("10.40.0.1:53"),
        t,
        pool,
        &[ip(pool_ip)],
    );
    let mut c = b.tcp(
        sa(&format!("{miner}:{port}")),
        sa(&format!("{pool_ip}:{pool_port}")),
        t + 10_000,
    );
    c.send(
        b,
        Dir::ClientToServer,
        t + 20_000,
        b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"bmminer/2.0.0\"]}\n",
    );
    c.send(b, Dir::ServerToClient, t + 30_000, b"{\"id\":1,\"result\":[[[\"mining.set_difficulty\",\"1\"],[\"mining.notify\",\"1\"]],\"08000002\",4],\"error\":null}\n");
    let auth = format!("{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{user}\",\"x\"]}}\n");
    c.send(b, Dir::ClientToServer, t + 40_000, auth.as_bytes());
    c.send(b, Dir::ServerToClient, t + 50_000, b"{\"id\":2,\"result\":true,\"error\":null}\n{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[65536]}\n");
    c.send(b, Dir::ServerToClient, t + 60_000, b"{\"params\":[\"1f\",\"00000000\",\"01000000\",\"ffffffff\",[],\"20000000\",\"1703a8c1\",\"6500f0b2\",true],\"id\":null,\"method\":\"mining.notify\"}\n");
    let submit = format!(
        "{{\"params\":[\"{user}\",\"1f\",\"00000001\",\"6500f0b2\",\"1a2b3c4d\"],\"id\":3,\"method\":\"mining.submit\"}}\n"
    );
    c.send(b, Dir::ClientToServer, t + 5 * S, submit.as_bytes());
    c.send(
        b,
        Dir::ServerToClient,
        t + 5 * S + 20_000,
        b"{\"id\":3,\"result\":true,\"error\":null}\n",
    );
    c
}

#[test]
fn a_reconnect_cgminer_refuses_and_the_device_follows_is_a_hijack() {
    let mut b = Builder::new(Link::Ethernet);
    let mut c = session(
        &mut b,
        "10.40.1.7",
        40001,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.s19-rack4-07",
        T0,
    );
    c.send(
        &mut b,
        Dir::ServerToClient,
        T0 + 60 * S,
        b"{\"id\":null,\"method\":\"client.reconnect\",\"params\":[\"stratum.evil-pool.example\",4444,0]}\n",
    );
    c.close(&mut b, T0 + 61 * S);
    session(
        &mut b,
        "10.40.1.7",
        40002,
        "stratum.evil-pool.example",
        "198.51.100.66",
        4444,
        "attacker.worker1",
        T0 + 62 * S,
    );
    // The negative next to it: another miner on the same pool, nothing changes.
    session(
        &mut b,
        "10.40.1.8",
        40003,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.s19-rack4-08",
        T0 + S,
    );
    let run = analyze(b, POLICY);

    let r = run.about("TRF-003", "stratum.evil-pool.example");
    assert_eq!(r.len(), 1, "{:#?}", run.findings);
    assert_eq!(r[0].severity, Severity::Critical, "{}", r[0].message);
    assert!(r[0].message.contains("denied"), "{}", r[0].message);
    match &r[0].evidence[0] {
        Evidence::Packets {
            frames,
            excerpt,
            capture_sha256,
            ..
        } => {
            assert!(!frames.is_empty());
            assert_eq!(capture_sha256.len(), 64);
            assert!(format!("{excerpt:?}").contains("client.reconnect"));
        }
        e => panic!("{e:?}"),
    }
    let w = run.about("TRF-004", "attacker.worker1");
    assert_eq!(w.len(), 1, "{:#?}", run.findings);
    assert_eq!(w[0].severity, Severity::Critical);
    assert!(
        !run.about("TRF-006", "198.51.100.66").is_empty(),
        "{:#?}",
        run.findings
    );
    // The other miner: no change, no redirect, no disallowed destination.
    for rule in ["TRF-003", "TRF-004", "TRF-006"] {
        assert!(
            run.about(rule, "10.40.1.8").is_empty(),
            "{rule}: {:#?}",
            run.findings
        );
    }
    // Sessions in the result: pool, users, shares.
    let sessions = run.result["stratum_sessions"].as_array().unwrap();
    let first = sessions
        .iter()
        .find(|s| s["device"] == "10.40.1.7" && s["pool"] == "203.0.113.10:3333")
        .unwrap();
    assert_eq!(first["pool_name"], "stratum.antpool.com");
    assert_eq!(first["agent"], "bmminer/2.0.0");
    assert_eq!(first["users"][0], "fleetowner.s19-rack4-07");
    assert_eq!(first["shares"]["submitted"], 1);
    assert_eq!(first["shares"]["accepted"], 1);
    assert_eq!(first["reconnects"][0]["port"], 4444);
}

#[test]
fn a_reconnect_within_the_pools_domain_is_failover() {
    let mut b = Builder::new(Link::Ethernet);
    let mut c = session(
        &mut b,
        "10.40.1.7",
        40001,
        "eu.pool.example",
        "203.0.113.20",
        3333,
        "fleetowner.w7",
        T0,
    );
    c.send(
        &mut b,
        Dir::ServerToClient,
        T0 + 60 * S,
        b"{\"id\":null,\"method\":\"client.reconnect\",\"params\":[\"us.pool.example\",\"3333\",5]}\n",
    );
    c.close(&mut b, T0 + 61 * S);
    session(
        &mut b,
        "10.40.1.7",
        40002,
        "us.pool.example",
        "203.0.113.21",
        3333,
        "fleetowner.w7",
        T0 + 66 * S,
    );
    let run = analyze(b, POLICY);
    let r = run.of("TRF-003");
    assert_eq!(r.len(), 1, "{:#?}", run.findings);
    assert_eq!(r[0].severity, Severity::Low);
    assert!(r[0].message.contains("accepted"), "{}", r[0].message);
    assert!(run.of("TRF-004").is_empty(), "{:#?}", run.of("TRF-004"));
    assert!(run.of("TRF-006").is_empty(), "{:#?}", run.of("TRF-006"));
}

#[test]
fn a_worker_switch_under_the_same_account_is_reported_and_a_steady_worker_is_not() {
    let mut b = Builder::new(Link::Ethernet);
    let mut c = session(
        &mut b,
        "10.40.2.3",
        41000,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.rack2-03",
        T0,
    );
    c.close(&mut b, T0 + 30 * S);
    session(
        &mut b,
        "10.40.2.3",
        41001,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.other-07",
        T0 + 40 * S,
    );
    let mut c = session(
        &mut b,
        "10.40.2.4",
        41002,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.rack2-04",
        T0,
    );
    c.close(&mut b, T0 + 30 * S);
    session(
        &mut b,
        "10.40.2.4",
        41003,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.rack2-04",
        T0 + 40 * S,
    );
    let run = analyze(b, POLICY);
    let w = run.of("TRF-004");
    assert_eq!(w.len(), 1, "{:#?}", w);
    assert!(w[0].message.contains("10.40.2.3") && w[0].message.contains("fleetowner.other-07"));
    assert_eq!(w[0].severity, Severity::High);
}

#[test]
fn a_dev_fee_pool_is_a_wallet_change_and_a_disallowed_destination() {
    let mut b = Builder::new(Link::Ethernet);
    session(
        &mut b,
        "10.40.3.9",
        42000,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.r3-09",
        T0,
    );
    let mut d = session(
        &mut b,
        "10.40.3.9",
        42001,
        "btc.devfee-pool.example",
        "198.51.100.90",
        3333,
        "1DevFeeWalletAddrXXXXXXXXXXXXXXXX.fee",
        T0 + 3600 * S,
    );
    d.close(&mut b, T0 + 3780 * S);
    session(
        &mut b,
        "10.40.3.10",
        42002,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.r3-10",
        T0,
    );
    let run = analyze(b, POLICY);
    let d6 = run.about("TRF-006", "10.40.3.9");
    assert_eq!(d6.len(), 1, "{:#?}", run.findings);
    assert_eq!(d6[0].severity, Severity::High);
    assert!(
        d6[0].message.contains("btc.devfee-pool.example"),
        "{}",
        d6[0].message
    );
    assert_eq!(
        run.about("TRF-004", "1DevFeeWallet").len(),
        1,
        "{:#?}",
        run.findings
    );
    assert!(run.about("TRF-006", "10.40.3.10").is_empty());
    assert!(run.about("TRF-004", "10.40.3.10").is_empty());
}

#[test]
fn management_access_from_outside_is_reported_and_from_the_management_network_is_not() {
    let mut b = Builder::new(Link::Ethernet);
    session(
        &mut b,
        "10.40.4.4",
        43000,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.r4-04",
        T0,
    );
    let mut c = b.tcp(sa("203.0.113.66:51515"), sa("10.40.4.4:4028"), T0 + 10 * S);
    c.send(&mut b, Dir::ClientToServer, T0 + 10 * S + 5000, b"{\"command\":\"addpool\",\"parameter\":\"stratum+tcp://stratum.evil-pool.example:4444,attacker.worker1,x\"}");
    c.send(&mut b, Dir::ServerToClient, T0 + 10 * S + 9000, b"{\"STATUS\":[{\"STATUS\":\"S\",\"When\":1,\"Code\":55,\"Msg\":\"Added pool 'stratum+tcp://stratum.evil-pool.example:4444'\",\"Description\":\"bmminer\"}],\"id\":1}\0");
    c.close(&mut b, T0 + 11 * S);
    let mut m = b.tcp(sa("10.40.0.5:50000"), sa("10.40.4.4:4028"), T0 + 20 * S);
    m.send(
        &mut b,
        Dir::ClientToServer,
        T0 + 20 * S + 5000,
        b"{\"command\":\"summary\"}",
    );
    m.send(&mut b, Dir::ServerToClient, T0 + 20 * S + 9000, b"{\"STATUS\":[{\"STATUS\":\"S\",\"When\":1,\"Code\":11,\"Msg\":\"Summary\"}],\"SUMMARY\":[{}],\"id\":1}\0");
    m.close(&mut b, T0 + 21 * S);
    let run = analyze(b, POLICY);
    let f = run.of("TRF-007");
    assert_eq!(f.len(), 1, "{:#?}", run.findings);
    assert_eq!(f[0].severity, Severity::Critical);
    assert!(
        f[0].message.contains("203.0.113.66") && f[0].message.contains("addpool"),
        "{}",
        f[0].message
    );
    assert!(
        f[0].message.contains("55"),
        "the device's answer is shown: {}",
        f[0].message
    );
}

#[test]
fn phone_home_by_name_and_connection_is_reported() {
    let mut b = Builder::new(Link::Ethernet);
    session(
        &mut b,
        "10.40.5.5",
        44000,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.r5-05",
        T0,
    );
    b.dns(
        sa("10.40.5.5:53001"),
        sa("10.40.0.1:53"),
        T0 + 100 * S,
        "auth.minerlink.com",
        &[ip("198.51.100.7")],
    );
    for k in 0..3 {
        let t = T0 + 101 * S + k * 300 * S;
        let mut c = b.tcp(
            sa(&format!("10.40.5.5:{}", 45000 + k)),
            sa("198.51.100.7:7000"),
            t,
        );
        c.send(
            &mut b,
            Dir::ClientToServer,
            t + 2000,
            b"{\"ctrl_board\":\"a0:b1:c2:d3:e4:f5\",\"id\":\"1234\",\"hashboard\":[{\"ID\":\"1\"}]}",
        );
        c.send(&mut b, Dir::ServerToClient, t + 4000, b"true");
        c.close(&mut b, t + 5000);
    }
    let run = analyze(b, POLICY);
    let f = run.about("TRF-001", "auth.minerlink.com");
    assert!(!f.is_empty(), "{:#?}", run.findings);
    let antbleed = f
        .iter()
        .find(|f| f.message.contains("[antbleed]"))
        .expect("the antbleed indicator");
    assert_eq!(antbleed.severity, Severity::Critical);
    assert!(
        antbleed.message.contains("198.51.100.7:7000"),
        "{}",
        antbleed.message
    );
    assert!(
        format!("{:?}", antbleed.evidence).contains("ctrl_board"),
        "{:?}",
        antbleed.evidence
    );
    assert!(run.about("TRF-001", "stratum.antpool.com").is_empty());
}

#[test]
fn dns_to_a_rogue_resolver_and_suspicious_names_are_reported() {
    let mut b = Builder::new(Link::Ethernet);
    session(
        &mut b,
        "10.40.6.6",
        46000,
        "stratum.antpool.com",
        "203.0.113.10",
        3333,
        "fleetowner.r6-06",
        T0,
    );
    b.dns(
        sa("10.40.6.7:53002"),
        sa("8.8.8.8:53"),
        T0 + 10 * S,
        "stratum.antpool.com",
        &[ip("203.0.113.10")],
    );
    b.dns(
        sa("10.40.6.8:53003"),
        sa("10.40.0.1:53"),
        T0 + 20 * S,
        "xmr.pool.minergate.com",
        &[ip("198.51.100.45")],
    );
    let run = analyze(b, POLICY);
    let rogue = run.about("TRF-008", "8.8.8.8");
    assert_eq!(rogue.len(), 1, "{:#?}", run.findings);
    assert!(rogue[0].message.contains("10.40.6.7"));
    assert_eq!(run.about("TRF-008", "minergate").len(), 1, "{:#?}", run.findings);
    assert!(
        run.about("TRF-008", "10.40.6.6").is_empty(),
        "the allowed resolver is fine"
    );
}

/// A deterministic generator for jitter (the tests need no randomness crate).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn a_jittered_beacon_scores_high_and_irregular_traffic_does_not() {
    let mut b = Builder::new(Link::Ethernet);
    let mut rng = Lcg(7);
    b.dns(
        sa("10.40.7.7:53000"),
        sa("10.40.0.1:53"),
        T0,
        "update.c2-example.test",
        &[ip("198.51.100.80")],
    );
    // Every 60 s ±10 % for six hours, a small fixed-size check-in.
    let mut t = T0 + S;
    let mut k = 0u16;
    while t < T0 + 6 * 3600 * S {
        let mut c = b.tcp(sa(&format!("10.40.7.7:{}", 20000 + k)), sa("198.51.100.80:80"), t);
        c.send(&mut b, Dir::ClientToServer, t + 2000, b"GET /api/v1/checkin?id=7f3a HTTP/1.1\r\nHost: update.c2-example.test\r\nUser-Agent: curl/7.58\r\n\r\n");
        c.send(
            &mut b,
            Dir::ServerToClient,
            t + 4000,
            b"HTTP/1.1 204 No Content\r\n\r\n",
        );
        c.close(&mut b, t + 5000);
        t += ((54.0 + 12.0 * rng.next()) * S as f64) as i64;
        k = k.wrapping_add(1);
    }
    // Irregular: two bursts of browsing-like traffic, exponential gaps (mean 2 min), sizes from
    // 100 B to 20 kB.
    let mut k = 0u16;
    for (from, to) in [(T0 + 600 * S, T0 + 4200 * S), (T0 + 14_400 * S, T0 + 16_000 * S)] {
        let mut t = from;
        while t < to {
            let mut c = b.tcp(
                sa(&format!("10.40.7.8:{}", 30000 + k)),
                sa("198.51.100.81:443"),
                t,
            );
            let n = 100 + (rng.next() * 20_000.0) as usize;
            c.send(&mut b, Dir::ClientToServer, t + 2000, &vec![0x17; n]);
            c.close(&mut b, t + 9000);
            t += (-(1.0 - rng.next()).ln() * 120.0 * S as f64) as i64 + S;
            k = k.wrapping_add(1);
        }
    }
    let run = analyze(b, POLICY);
    let beacons = run.result["beacons"].as_array().unwrap();
    let top = beacons
        .iter()
        .find(|x| x["src"] == "10.40.7.7")
        .expect("the beacon is scored");
    assert_eq!(
        top["dst"], "update.c2-example.test",
        "named by the HTTP Host: {top}"
    );
    assert!(top["score"].as_f64().unwrap() >= 0.9, "{top}");
    for k in ["ts_score", "ds_score", "hist_score", "dur_score", "connections"] {
        assert!(top["factors"].get(k).is_some(), "factor {k} shown: {top}");
    }
    let f = run.about("TRF-002", "update.c2-example.test");
    assert_eq!(f.len(), 1, "{:#?}", run.of("TRF-002"));
    assert!(f[0].severity >= Severity::Medium);
    assert!(
        run.about("TRF-002", "10.40.7.8")
            .iter()
            .all(|f| f.severity < Severity::Medium),
        "{:#?}",
        run.of("TRF-002")
    );
    let other = beacons
        .iter()
        .find(|x| x["src"] == "10.40.7.8")
        .map_or(0.0, |x| x["score"].as_f64().unwrap());
    assert!(
        other < top["score"].as_f64().unwrap() - 0.15,
        "irregular {other} vs beacon {top}"
    );
}

#[test]
fn stratum_v2_is_recognised_in_the_clear_and_under_noise_but_tls_is_not_noise() {
    let mut b = Builder::new(Link::Ethernet);
    // Plaintext SetupConnection (protocol 0, versions 2..2).
    let mut payload = vec![0u8, 2, 0, 2, 0, 0, 0, 0, 0];
    for s in ["pool.example", ""] {
        if !s.is_empty() {
            payload.push(s.len() as u8);
            payload.extend_from_slice(s.as_bytes());
            payload.extend_from_slice(&34254u16.to_le_bytes());
        }
    }
    for s in ["Bitmain", "S9i 13.5", "braiins-os-2018-09-22-1-hash", "dev-42"] {
        payload.push(s.len() as u8);
        payload.extend_from_slice(s.as_bytes());
    }
    let mut frame = vec![0, 0, 0];
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]);
    frame.extend_from_slice(&payload);
    let mut c = b.tcp(sa("10.40.8.1:47000"), sa("203.0.113.30:34254"), T0);
    c.send(&mut b, Dir::ClientToServer, T0 + 2000, &frame);
    c.close(&mut b, T0 + 3 * S);
    // Noise: 64 random-looking bytes, then 234 back.
    let mut rng = Lcg(99);
    let act1: Vec<u8> = (0..64).map(|_| (rng.next() * 256.0) as u8).collect();
    let act2: Vec<u8> = (0..234).map(|_| (rng.next() * 256.0) as u8).collect();
    let mut n = b.tcp(sa("10.40.8.2:47001"), sa("203.0.113.31:3336"), T0 + S);
    n.send(&mut b, Dir::ClientToServer, T0 + S + 2000, &act1);
    n.send(&mut b, Dir::ServerToClient, T0 + S + 4000, &act2);
    n.close(&mut b, T0 + 4 * S);
    // TLS on the same port: a ClientHello is not a Noise act.
    let mut t = b.tcp(sa("10.40.8.3:47002"), sa("203.0.113.31:3336"), T0 + 2 * S);
    let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0x3b];
    hello.extend_from_slice(&[0x01, 0, 0, 0x37, 0x03, 0x03]);
    hello.extend((0..32).map(|i| i as u8));
    hello.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0, 0, 0]);
    hello.resize(64, 0);
    t.send(&mut b, Dir::ClientToServer, T0 + 2 * S + 2000, &hello);
    t.send(&mut b, Dir::ServerToClient, T0 + 2 * S + 4000, &act2);
    t.close(&mut b, T0 + 5 * S);
    let run = analyze(b, POLICY);
    let sessions = run.result["stratum_sessions"].as_array().unwrap();
    let by = |d: &str| sessions.iter().find(|s| s["device"] == d);
    let plain = by("10.40.8.1").expect("plaintext SV2 session");
    assert_eq!(plain["transport"], "sv2-plaintext");
    assert!(
        plain["sv2_setup"].as_str().unwrap().contains("S9i 13.5"),
        "{plain}"
    );
    assert_eq!(by("10.40.8.2").expect("noise session")["transport"], "sv2-noise");
    // TLS on a pool port is a stratum+ssl session, not Noise.
    assert_eq!(
        by("10.40.8.3").expect("tls session")["transport"],
        "tls",
        "{sessions:?}"
    );
}

#[test]
fn one_capture_in_another_link_type_and_pcapng_gives_the_same_sessions() {
    for (link, format, gzip) in [
        (Link::LinuxSll, Format::Pcap, false),
        (Link::LinuxSll2, Format::PcapNg, false),
        (Link::RawIp, Format::PcapNg, true),
    ] {
        let mut b = Builder::new(link);
        session(
            &mut b,
            "10.40.9.9",
            48000,
            "stratum.antpool.com",
            "203.0.113.10",
            3333,
            "fleetowner.r9-09",
            T0,
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.cap");
        std::fs::write(&path, b.finish(format, gzip).unwrap()).unwrap();
        let run = analyze_paths(&[path], POLICY, dir);
        let s = &run.result["stratum_sessions"][0];
        assert_eq!(s["users"][0], "fleetowner.r9-09", "{link:?} {format:?}: {s}");
        assert_eq!(s["pool_name"], "stratum.antpool.com");
    }
}
