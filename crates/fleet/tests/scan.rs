//! The scanner against emulated fleets on loopback (`hashward-emulator`, started in-process):
//! every family named from its real-shaped replies, each exposure found and each near miss
//! left alone, faulty devices reported with their fault, nothing state-changing ever sent.
//!
//! Each test owns one /24 under 127.88.0.0/16, so tests run in parallel without sharing a
//! device.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hashward_emulator::{DeviceSpec, Family, Fault, Fleet, PoolSpec, spawn};
use hashward_fleet::device::DeviceStatus;
use hashward_fleet::family::PlanOptions;
use hashward_fleet::net::Limits;
use hashward_fleet::{Examined, FleetScan, ScanOptions};
use hashward_model::{Finding, Policy};

fn addr(net: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 88, net, host)
}

fn dev(net: u8, host: u8, family: Family, model: &str) -> DeviceSpec {
    DeviceSpec {
        address: addr(net, host),
        family,
        model: model.into(),
        ..DeviceSpec::default()
    }
}

fn pool(url: &str) -> PoolSpec {
    PoolSpec {
        url: url.into(),
        user: "acct.worker1".into(),
        password: "x".into(),
        ..PoolSpec::default()
    }
}

fn options(creds: bool) -> ScanOptions {
    ScanOptions {
        limits: Limits {
            rate: 20_000,
            concurrency: 512,
            connect_timeout: Duration::from_millis(500),
            reply_timeout: Duration::from_millis(1500),
            device_timeout: Duration::from_secs(6),
            ..Limits::default()
        },
        plan: PlanOptions {
            check_default_credentials: creds,
        },
        hosts_at_once: 64,
    }
}

/// Scan the whole /24 of `net` (so empty addresses are swept too).
fn scan(net: u8, opts: &ScanOptions, policy: &Policy) -> FleetScan {
    let targets: Vec<Ipv4Addr> = (1..=254).map(|h| addr(net, h)).collect();
    hashward_fleet::run(&targets, opts, policy).expect("runtime")
}

fn by_address(s: &FleetScan) -> BTreeMap<Ipv4Addr, &Examined> {
    s.devices
        .iter()
        .map(|e| (e.device.address.parse().unwrap(), e))
        .collect()
}

fn rules_for(findings: &[Finding], a: Ipv4Addr) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = findings
        .iter()
        .filter(|f| matches!(&f.subject, hashward_model::Subject::Device { address, .. } if *address == a.to_string()))
        .map(|f| f.rule.as_str())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn every_family_is_identified_and_named() {
    let net = 1;
    let fleet = Fleet {
        devices: vec![
            dev(net, 1, Family::Antminer, "Antminer S19 Pro"),
            dev(net, 2, Family::Whatsminer, "M50S_VH30"),
            dev(net, 3, Family::WhatsminerV3, "M60S_VK40"),
            dev(net, 4, Family::Avalon, "Avalon Q"),
            dev(net, 5, Family::Luxos, "Antminer S19k Pro"),
            dev(net, 6, Family::Braiins, "Antminer S19j Pro"),
            dev(net, 7, Family::Vnish, "Antminer S19j Pro"),
            dev(net, 8, Family::Unknown, "generic web server"),
            dev(net, 9, Family::Antminer, "Antminer S21"),
        ],
    };
    let running = spawn(&fleet).expect("emulator");
    let s = scan(net, &options(true), &Policy::default());
    let got = by_address(&s);
    assert_eq!(
        got.len(),
        9,
        "{:#?}",
        s.devices.iter().map(|e| &e.device).collect::<Vec<_>>()
    );
    let want = [
        (1, "antminer", "Bitmain", "Antminer S19 Pro", "Bitmain stock"),
        (2, "whatsminer", "MicroBT", "Whatsminer M50S", "MicroBT stock"),
        (3, "whatsminer_v3", "MicroBT", "Whatsminer M60S", "MicroBT stock"),
        (4, "avalon", "Canaan", "Avalon Q", "Canaan stock"),
        (5, "luxos", "Bitmain", "Antminer S19k Pro", "LuxOS"),
        (6, "braiins", "Bitmain", "Antminer S19j Pro", "Braiins OS"),
        (7, "vnish", "Bitmain", "Antminer S19j Pro", "Vnish"),
        (9, "antminer", "Bitmain", "Antminer S21", "Bitmain stock"),
    ];
    for (host, protocol, make, model, fw) in want {
        let d = &got[&addr(net, host)].device;
        let ctx = format!("{d:#?}");
        assert_eq!(d.status, DeviceStatus::Identified, "{ctx}");
        assert_eq!(d.protocol.as_deref(), Some(protocol), "{ctx}");
        assert_eq!(d.make.as_deref(), Some(make), "{ctx}");
        assert_eq!(d.model.as_deref(), Some(model), "{ctx}");
        assert_eq!(d.firmware.as_ref().map(|f| f.family.as_str()), Some(fw), "{ctx}");
        assert!(
            d.firmware.as_ref().and_then(|f| f.version.as_ref()).is_some(),
            "no firmware version: {ctx}"
        );
        assert!(d.hashrate_ths.is_some_and(|h| h > 1.0), "no hashrate: {ctx}");
        assert!(!d.pools.is_empty(), "no pools: {ctx}");
        assert!(d.errors.is_empty(), "{ctx}");
    }
    // The unknown host answers on a miner port and matches nothing: NET-009.
    let unknown = &got[&addr(net, 8)].device;
    assert_eq!(unknown.status, DeviceStatus::Unidentified);
    assert_eq!(rules_for(&s.findings, addr(net, 8)), ["NET-009"]);
    // Identified devices are never NET-009.
    assert!(s.findings.iter().filter(|f| f.rule.as_str() == "NET-009").count() == 1);
    // Nothing that changes a device was sent, credential checks included.
    let changing: Vec<_> = running
        .requests()
        .into_iter()
        .filter(|r| r.is_state_changing())
        .collect();
    assert!(changing.is_empty(), "{changing:#?}");
    running.stop();
}

#[test]
fn exposures_are_found_and_near_misses_are_not() {
    let net = 2;
    let d = |host, family, model: &str, f: &dyn Fn(&mut DeviceSpec)| {
        let mut s = dev(net, host, family, model);
        f(&mut s);
        s
    };
    let fleet = Fleet {
        devices: vec![
            // 1: stock Antminer, default web password, allowlisted TLS pool: only NET-002.
            d(1, Family::Antminer, "Antminer S19 Pro", &|s| {
                s.pools = vec![pool("stratum+ssl://btc.f2pool.com:1314")]
            }),
            // 2: privileged API open to everyone, plaintext pool outside the allowlist, IP literal.
            d(2, Family::Antminer, "Antminer S19 Pro", &|s| {
                s.api_allow = "W:0/0".into();
                s.web_password = Some("Str0ng-and-unique".into());
                s.pools = vec![
                    pool("stratum+tcp://evil-pool.example:3333"),
                    pool("stratum+tcp://203.0.113.9:3333"),
                ];
            }),
            // 3: strong password, privilege only for another network: nothing but plaintext.
            d(3, Family::Antminer, "Antminer S19 Pro", &|s| {
                s.api_allow = "W:10.0.0.0/8,A:0/0".into();
                s.web_password = Some("Str0ng-and-unique".into());
                s.pools = vec![pool("stratum+tcp://btc.f2pool.com:3333")];
            }),
            // 4: LuxOS: unauthenticated pool control by design.
            d(4, Family::Luxos, "Antminer S19k Pro", &|s| {
                s.pools = vec![pool("stratum+ssl://btc.f2pool.com:1314")]
            }),
            // 5: Whatsminer on the default admin password; 6: changed password.
            d(5, Family::Whatsminer, "M50S_VH30", &|s| {
                s.pools = vec![pool("stratum+ssl://btc.f2pool.com:1314")]
            }),
            d(6, Family::Whatsminer, "M50S_VH30", &|s| {
                s.web_password = Some("Str0ng-and-unique".into());
                s.pools = vec![pool("stratum+ssl://btc.f2pool.com:1314")];
            }),
            // 7: SSH and telnet answering.
            d(7, Family::Antminer, "Antminer S19 Pro", &|s| {
                s.ssh = true;
                s.telnet = true;
                s.web_password = Some("Str0ng-and-unique".into());
                s.pools = vec![pool("stratum+ssl://btc.f2pool.com:1314")];
            }),
            // 8: Vnish and 9: Braiins OS on their defaults.
            d(8, Family::Vnish, "Antminer S19j Pro", &|s| {
                s.pools = vec![pool("stratum+ssl://btc.f2pool.com:1314")]
            }),
            d(9, Family::Braiins, "Antminer S19j Pro", &|s| {
                s.pools = vec![pool("stratum+ssl://btc.f2pool.com:1314")]
            }),
        ],
    };
    let running = spawn(&fleet).expect("emulator");
    let policy = Policy::from_toml("[pools]\nallow = [\"btc.f2pool.com\"]\n").unwrap();
    let s = scan(net, &options(true), &policy);
    let rules = |h| rules_for(&s.findings, addr(net, h));
    assert_eq!(rules(1), ["NET-002"]);
    assert_eq!(rules(2), ["NET-001", "NET-004", "NET-005", "NET-008"]);
    assert_eq!(rules(3), ["NET-005"]);
    // LuxOS grants every host privileged API access as well (`privileged` answers Code 46).
    assert_eq!(rules(4), ["NET-001", "NET-003"]);
    assert_eq!(
        rules(5),
        ["NET-002"],
        "{:#?}",
        by_address(&s)[&addr(net, 5)].device
    );
    assert!(rules(6).is_empty(), "{:?}", rules(6));
    assert_eq!(rules(7), ["NET-006"]);
    assert_eq!(rules(8), ["NET-002"]);
    // Braiins OS answers `check|addpool` with Access=Y: its pool commands are open too.
    assert_eq!(rules(9), ["NET-001", "NET-002"]);
    // NET-004 names the foreign pool and carries the reply it was read from.
    let f = s.findings.iter().find(|f| f.rule.as_str() == "NET-004").unwrap();
    assert!(
        f.message.contains("evil-pool.example") && !f.message.contains("f2pool"),
        "{}",
        f.message
    );
    assert!(!f.evidence.is_empty());
    // Telnet is worse than SSH.
    let shells: Vec<_> = s
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "NET-006")
        .collect();
    assert_eq!(shells.len(), 2);
    assert_eq!(running.state_changing_requests(), 0, "{:#?}", running.requests());

    // Without --check-default-credentials no credential is ever tried.
    let before = running.total_requests();
    let quiet = scan(net, &options(false), &policy);
    assert!(quiet.findings.iter().all(|f| f.rule.as_str() != "NET-002"));
    let tried: Vec<_> = running.requests()[before..]
        .iter()
        .filter(|r| {
            // Digest GETs of the CGI pages, logins and unlocks, Whatsminer tokens.
            r.kind == hashward_emulator::RequestKind::SessionCreating
                || [
                    "get_system_info",
                    "get_miner_conf",
                    "unlock",
                    "login",
                    "get_token",
                ]
                .iter()
                .any(|w| r.request.contains(w))
                || r.request.starts_with("enc")
        })
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(tried.is_empty(), "credentials tried without opt-in: {tried:#?}");
    running.stop();
}

#[test]
fn faulty_devices_are_reported_with_their_fault_within_the_timeouts() {
    let net = 3;
    let faults = [
        Fault::SlowDrip,
        Fault::Silent,
        Fault::Reset,
        Fault::Huge,
        Fault::InvalidJson,
        Fault::WrongProtocol,
    ];
    let mut devices: Vec<DeviceSpec> = faults
        .iter()
        .enumerate()
        .map(|(i, f)| DeviceSpec {
            fault: *f,
            ..dev(net, i as u8 + 1, Family::Antminer, "Antminer S19 Pro")
        })
        .collect();
    devices.push(dev(net, 50, Family::Antminer, "Antminer S19 Pro"));
    let running = spawn(&Fleet { devices }).expect("emulator");
    let opts = options(false);
    let t = Instant::now();
    let s = scan(net, &opts, &Policy::default());
    let took = t.elapsed();
    // Sweep + one device deadline, with slack for a loaded machine.
    assert!(
        took < opts.limits.device_timeout + Duration::from_secs(6),
        "scan took {took:?}"
    );
    let got = by_address(&s);
    let reason = |i: usize| {
        let d = &got[&addr(net, i as u8 + 1)].device;
        (
            d.status,
            d.errors
                .iter()
                .map(|e| format!("tcp/{} {}: {}", e.port, e.request, e.error))
                .collect::<Vec<_>>()
                .join(" | "),
        )
    };
    let expect = [
        "no complete reply",
        "no complete reply",
        "reset",
        "exceeds",
        "invalid JSON",
        "not a",
    ];
    for (i, (fault, word)) in faults.iter().zip(expect).enumerate() {
        let (status, errors) = reason(i);
        assert!(errors.contains(word), "{fault:?}: {status:?} {errors}");
        assert_ne!(status, DeviceStatus::Identified, "{fault:?} {errors}")
    }
    // The healthy neighbour is unaffected.
    assert_eq!(got[&addr(net, 50)].device.status, DeviceStatus::Identified);
    running.stop();
}

#[test]
fn a_rescan_reports_what_changed() {
    let net = 4;
    let base = |host| DeviceSpec {
        serial: format!("SN{host:04}"),
        pools: vec![pool("stratum+ssl://btc.f2pool.com:1314")],
        ..dev(net, host, Family::Antminer, "Antminer S19 Pro")
    };
    let before = Fleet {
        devices: vec![base(1), base(2), base(3), base(4)],
    };
    let running = spawn(&before).expect("emulator");
    let first = scan(net, &options(false), &Policy::default());
    running.stop();
    let mut changed_pools = base(2);
    changed_pools.pools = vec![pool("stratum+tcp://evil-pool.example:3333")];
    let mut new_firmware = base(3);
    new_firmware.firmware = "Mon Jan  5 10:00:00 CST 2026".into();
    let after = Fleet {
        // 1 unchanged, 2 pools changed, 3 firmware changed, 4 gone, 5 new.
        devices: vec![base(1), changed_pools, new_firmware, base(5)],
    };
    let running = spawn(&after).expect("emulator");
    let second = scan(net, &options(false), &Policy::default());
    running.stop();
    let old: Vec<_> = first.devices.iter().map(|e| e.device.clone()).collect();
    let new: Vec<_> = second.devices.iter().map(|e| e.device.clone()).collect();
    let f = hashward_fleet::changes::changes(&old, &new, &|a: Ipv4Addr| a.octets()[2] == net, "run 1");
    let msg = |h| {
        f.iter()
            .filter(|f| matches!(&f.subject, hashward_model::Subject::Device { address, .. } if *address == addr(net, h).to_string()))
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
    };
    assert!(msg(1).is_empty(), "{:?}", msg(1));
    assert!(
        msg(2)
            .iter()
            .any(|m| m.contains("pools") && m.contains("evil-pool")),
        "{:?}",
        msg(2)
    );
    assert!(msg(3).iter().any(|m| m.contains("firmware")), "{:?}", msg(3));
    assert!(
        msg(4).iter().any(|m| m.contains("no longer answers")),
        "{:?}",
        msg(4)
    );
    assert!(msg(5).iter().any(|m| m.contains("appeared")), "{:?}", msg(5));
    assert_eq!(f.len(), 4, "{f:#?}");
}

/// A device with the quirks real firmwares have, served by hand: `version` answered in text
/// mode, `summary+pools` as bmminer's broken JSON (`}{` between sections, a trailing comma) and
/// without the NUL, with the connection left open after the reply.
#[test]
fn text_mode_missing_nul_and_broken_json_are_read_as_real_firmware_needs() {
    use std::io::{Read, Write};
    let ip = addr(5, 1);
    let listener = std::net::TcpListener::bind((ip, 4028)).unwrap();
    let server = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let reply: Vec<u8> = if req.contains("\"version\"") {
                b"STATUS=S,When=1,Code=22,Msg=CGMiner versions,Description=cgminer 1.0.0|VERSION,BMMiner=1.0.0,API=3.1,Miner=49.0.1.3,CompileTime=Tue Dec  6 16:12:30 CST 2022,Type=Antminer S19 Pro|\0".to_vec()
            } else if req.contains("summary+pools") {
                br#"{"summary":[{"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary","Description":"cgminer 1.0.0"}],"SUMMARY":[{"GHS 5s":"110566.89","GHS av":111834.85,}],"id":1}],"pools":[{"STATUS":[{"STATUS":"S","When":1,"Code":7,"Msg":"2 Pool(s)","Description":"cgminer 1.0.0"}],"POOLS":[{"POOL":0,"URL":"stratum+tcp://btc.f2pool.com:3333","User":"a.1","Status":"Alive","Priority":0}{"POOL":1,"URL":"stratum+tcp://192.0.2.7:3333","User":"a.1","Status":"Alive","Priority":1}],"id":1}],"id":1}"#.to_vec()
            } else if n == 0 {
                continue;
            } else {
                br#"{"STATUS":[{"STATUS":"E","When":1,"Code":45,"Msg":"Access denied","Description":"cgminer 1.0.0"}],"id":1}"#.to_vec()
            };
            let _ = s.write_all(&reply);
            // Keep the socket open, as some firmwares do: the client must not wait for close.
            held.push(s);
        }
    });
    let opts = options(false);
    let t = Instant::now();
    let s = hashward_fleet::run(&[ip], &opts, &Policy::default()).unwrap();
    assert!(
        t.elapsed() < opts.limits.reply_timeout,
        "waited for a close that never came: {:?}",
        t.elapsed()
    );
    let d = &s.devices[0].device;
    assert_eq!(d.model.as_deref(), Some("Antminer S19 Pro"), "{d:#?}");
    assert_eq!(d.api_version.as_deref(), Some("3.1"));
    assert_eq!(d.hashrate_ths, Some(110.567));
    assert_eq!(d.pools.len(), 2, "{d:#?}");
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(rules_for(&s.findings, ip), ["NET-005", "NET-008"]);
    drop(server);
}

/// At a low `--rate` the connections queue behind the limiter; that wait must not push healthy
/// devices past their deadline (regression: at 200/s a third of a fleet was reported as
/// "examination not finished").
#[test]
fn a_low_rate_is_slow_but_does_not_fail_devices() {
    let net = 6;
    let devices = (1..=30)
        .map(|h| dev(net, h, Family::Antminer, "Antminer S19 Pro"))
        .collect();
    let running = spawn(&Fleet { devices }).expect("emulator");
    let mut opts = options(false);
    opts.limits.rate = 60;
    opts.limits.device_timeout = Duration::from_secs(4);
    let targets: Vec<Ipv4Addr> = (1..=30).map(|h| addr(net, h)).collect();
    let s = hashward_fleet::run(&targets, &opts, &Policy::default()).unwrap();
    running.stop();
    let failed: Vec<_> = s
        .devices
        .iter()
        .filter(|e| !e.device.errors.is_empty())
        .map(|e| (&e.device.address, &e.device.errors))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(s.stats.identified, 30);
}
