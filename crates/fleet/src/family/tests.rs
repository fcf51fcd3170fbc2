//! Families against the real captures in `shared/testdata/fleet/asic-rs` (read from there,
//! never copied): each is recognised from its own replies and interpreted into the right
//! identity, hashrate and pools.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;
use crate::device::{Device, DeviceStatus, Observations};
use crate::net::{Raw, RpcReply, WebReply};

/// The shared captures, found by `hashward_emulator::asic_rs_captures`; missing ones fail.
fn asic_rs_captures() -> PathBuf {
    let (found, looked) = hashward_emulator::asic_rs_captures();
    found.unwrap_or_else(|| {
        panic!("the asic-rs captures are missing: looked in {looked:?} (set HASHWARD_TESTDATA)")
    })
}

fn fixtures() -> PathBuf {
    asic_rs_captures()
}

fn file(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A reply as the device sends it: the capture, then cgminer's trailing NUL.
fn reply(request: &str, mut bytes: Vec<u8>) -> RpcReply {
    bytes.push(0);
    RpcReply {
        decoded: cgminer::decode(&bytes).unwrap(),
        raw: Raw {
            request: request.into(),
            bytes,
        },
    }
}

fn joined(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    for (cmd, rel) in parts {
        let v: Value = serde_json::from_slice(&file(rel)).unwrap();
        m.insert(cmd.to_string(), json!([v]));
    }
    m.insert("id".into(), json!(1));
    Value::Object(m).to_string().into_bytes()
}

fn rpc_answer(
    cmd: &str,
    param: Option<&str>,
    bytes: Vec<u8>,
) -> (Ask, Result<Answer, crate::net::ProbeError>) {
    let ask = Ask::rpc_param(cmd, param);
    let r = reply(cmd, bytes);
    (ask, Ok(Answer::Rpc(r)))
}

fn web_answer(path: &str, status: u16, body: Vec<u8>) -> (Ask, Result<Answer, crate::net::ProbeError>) {
    let response = http::Response {
        status,
        headers: vec![],
        body: body.clone(),
    };
    (
        Ask::Get(path.into()),
        Ok(Answer::Web(WebReply {
            raw: Raw {
                request: format!("GET {path}"),
                bytes: body,
            },
            response,
        })),
    )
}

/// The same answer, as the reply to a digest GET with root/root.
fn digest(
    (ask, a): (Ask, Result<Answer, crate::net::ProbeError>),
) -> (Ask, Result<Answer, crate::net::ProbeError>) {
    let Ask::Get(path) = ask else { unreachable!() };
    (
        Ask::DigestGet {
            path,
            user: "root".into(),
            password: "root".into(),
        },
        a,
    )
}

fn discovery(version: Option<Vec<u8>>) -> Discovery {
    Discovery {
        address: Some("10.0.0.7".parse().unwrap()),
        ports: vec![80, 4028],
        api_port: Some(4028),
        version: version.map(|v| Ok(reply(r#"{"command":"version"}"#, v))),
        ..Discovery::default()
    }
}

fn run(d: &Discovery, answers: &Answers) -> (&'static str, Device, Observations) {
    let fam = recognise(d).expect("recognised");
    let mut dev = Device {
        address: "10.0.0.7".into(),
        status: DeviceStatus::Identified,
        ..Device::default()
    };
    let mut obs = Observations::default();
    fam.interpret(d, answers, &mut dev, &mut obs);
    (fam.id(), dev, obs)
}

#[test]
fn registry_order_ids_and_read_only_plans() {
    let ids: Vec<&str> = FAMILIES.iter().map(|f| f.id()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "duplicate family ids: {ids:?}");
    // Non-stock firmware before stock: LuxOS, Braiins OS and Vnish run on Antminer hardware.
    let first_stock = FAMILIES.iter().position(|f| f.stock()).unwrap();
    assert!(FAMILIES[first_stock..].iter().all(|f| f.stock()), "{ids:?}");
    // Every plan, with every option, is read-only (Ask::rpc panics otherwise) and posts only
    // to login endpoints.
    let mut d = discovery(None);
    d.ports = crate::scan::MINER_PORTS.to_vec();
    for f in FAMILIES {
        for creds in [false, true] {
            for ask in f.plan(
                &d,
                &PlanOptions {
                    check_default_credentials: creds,
                },
            ) {
                match ask {
                    Ask::Login { path, .. } => assert!(LOGIN_PATHS.contains(&path.as_str())),
                    Ask::V3(cmd, _) => assert!(cmd.starts_with("get.")),
                    Ask::DigestGet { .. } | Ask::WhatsminerToken { .. } => {
                        assert!(creds, "{} checks credentials without opt-in", f.id())
                    }
                    Ask::Rpc(_) | Ask::Get(_) => {}
                }
            }
        }
    }
}

#[test]
fn stock_antminer_s19_pro() {
    let d = discovery(Some(file("antminer/v2020/version.json")));
    let answers = [
        rpc_answer(
            "summary+pools",
            None,
            joined(&[
                ("summary", "antminer/v2020/summary.json"),
                ("pools", "antminer/v2020/pools.json"),
            ]),
        ),
        digest(web_answer(
            "/cgi-bin/get_system_info.cgi",
            200,
            file("antminer/v2020/system_info.json"),
        )),
    ];
    let (id, dev, obs) = run(&d, &answers);
    assert_eq!(id, "antminer");
    assert_eq!(dev.make.as_deref(), Some("Bitmain"));
    assert_eq!(dev.model.as_deref(), Some("Antminer S19 Pro"));
    assert_eq!(dev.api_version.as_deref(), Some("3.1"));
    assert_eq!(dev.hashrate_ths, Some(110.567));
    assert_eq!(dev.serial.as_deref(), Some("THQING0BDJAB024NF"));
    assert_eq!(
        dev.firmware.as_ref().unwrap().version.as_deref(),
        Some("FR-1.12(251009-S21)")
    );
    assert!(!dev.pools.is_empty() && dev.pools.iter().all(|p| p.url.contains("://")));
    // The web CGI answered 200 to the default-credential GET.
    assert_eq!(obs.default_credentials.len(), 1);
    assert!(obs.privileged.is_empty());
}

#[test]
fn luxos_is_not_taken_for_stock_antminer() {
    let d = discovery(Some(file("luxminer/v1/version.json")));
    let answers = [
        rpc_answer("config", None, file("luxminer/v1/config.json")),
        rpc_answer("pools", None, file("luxminer/v1/pools.json")),
        rpc_answer("summary", None, file("luxminer/v1/summary.json")),
    ];
    let (id, dev, obs) = run(&d, &answers);
    assert_eq!(id, "luxos");
    assert_eq!(dev.model.as_deref(), Some("Antminer S19k Pro"));
    assert_eq!(dev.firmware.as_ref().unwrap().family, "LuxOS");
    assert_eq!(
        dev.firmware.as_ref().unwrap().version.as_deref(),
        Some("2025.4.8.220305-57b389c7")
    );
    assert_eq!(dev.serial.as_deref(), Some("JYZZB0UBDJABF06RB"));
    assert!(dev.pools.iter().any(|p| p.group.is_some()));
    assert!(dev.hashrate_ths.is_some_and(|h| h > 1.0));
    assert_eq!(obs.unauthenticated.len(), 1);
}

#[test]
fn spoofed_luxos_version_is_still_luxos() {
    // LuxOS documents answering `version` as an Antminer S9 running BMMiner.
    let spoof = br#"{"STATUS":[{"STATUS":"S","When":1,"Code":22,"Msg":"LUXminer versions","Description":"LUXminer 2025.4.8"}],"VERSION":[{"BMMiner":"1.0.0","API":"3.7","Miner":"uart_trans.1.3","Type":"Antminer S9","LUXminer":"2025.4.8"}],"id":1}"#;
    let (id, dev, _) = run(&discovery(Some(spoof.to_vec())), &[]);
    assert_eq!(id, "luxos");
    assert_eq!(dev.model.as_deref(), Some("Antminer S9"));
}

#[test]
fn braiins_versions() {
    for rel in [
        "braiins/v21_09/version.json",
        "braiins/v24_09/version.json",
        "braiins/v25_03/version.json",
        "braiins/v25_05/version.json",
    ] {
        let (id, dev, _) = run(&discovery(Some(file(rel))), &[]);
        assert_eq!(id, "braiins", "{rel}");
        assert!(dev.firmware.unwrap().version.unwrap().contains("boser"), "{rel}");
    }
    let web = Discovery {
        ports: vec![80],
        web: Some(Ok(WebReply {
            raw: Raw {
                request: "GET /".into(),
                bytes: vec![],
            },
            response: http::Response {
                status: 200,
                headers: vec![],
                body: b"<title>Braiins OS</title>".to_vec(),
            },
        })),
        ..Discovery::default()
    };
    assert_eq!(recognise(&web).unwrap().id(), "braiins");
}

#[test]
fn whatsminer_v1_and_v2() {
    let old = br#"{"STATUS":"E","When":1,"Code":14,"Msg":"invalid cmd","Description":"whatsminer v1.1"}"#;
    for (dir, fw, api, ths) in [
        ("v1", "20210322.22.REL", "whatsminer v1.4.0", None),
        ("v2", "20230803.11.REL", "2.0.5", Some(125.0)),
    ] {
        let d = discovery(Some(old.to_vec()));
        let answers = [
            rpc_answer(
                "get_version",
                None,
                file(&format!("whatsminer/{dir}/get_version.json")),
            ),
            rpc_answer("summary", None, file(&format!("whatsminer/{dir}/summary.json"))),
            rpc_answer("pools", None, file(&format!("whatsminer/{dir}/pools.json"))),
        ];
        let (id, dev, _) = run(&d, &answers);
        assert_eq!(id, "whatsminer");
        assert_eq!(dev.make.as_deref(), Some("MicroBT"));
        assert_eq!(dev.firmware.unwrap().version.as_deref(), Some(fw));
        assert_eq!(dev.api_version.as_deref(), Some(api));
        assert!(dev.mac.is_some());
        if let Some(t) = ths {
            assert_eq!(dev.hashrate_ths, Some(t));
        }
        assert!(dev.pools.len() >= 2, "{dir}");
    }
    assert_eq!(whatsminer::model_name("M50S.VH20"), "Whatsminer M50S");
    assert_eq!(
        whatsminer::model_name("WhatsMiner M30S+_VE40"),
        "Whatsminer M30S+"
    );
}

#[test]
fn whatsminer_v3() {
    let info: Value = serde_json::from_slice(&file("whatsminer/v3/get_device_info.json")).unwrap();
    let d = Discovery {
        ports: vec![4433],
        v3: Some(Ok((
            Raw {
                request: "get.device.info".into(),
                bytes: vec![],
            },
            info,
        ))),
        ..Discovery::default()
    };
    let v3 = |which: &'static str, rel: &str| {
        (
            Ask::V3("get.miner.status", Some(which)),
            Ok(Answer::V3(
                Raw {
                    request: which.into(),
                    bytes: file(rel),
                },
                serde_json::from_slice(&file(rel)).unwrap(),
            )),
        )
    };
    let answers = [
        v3("summary", "whatsminer/v3/get_miner_status_summary.json"),
        v3("pools", "whatsminer/v3/get_miner_status_pools.json"),
    ];
    let (id, dev, _) = run(&d, &answers);
    assert_eq!(id, "whatsminer_v3");
    assert_eq!(dev.model.as_deref(), Some("Whatsminer M60S"));
    assert_eq!(dev.serial.as_deref(), Some("BTM3CS40HD24083100000000000000000"));
    assert_eq!(dev.mac.as_deref(), Some("CE:02:01:00:8C:36"));
    assert_eq!(dev.hashrate_ths, Some(171.259));
    assert_eq!(dev.pools.len(), 3);
}

#[test]
fn avalon_q() {
    let d = discovery(Some(file("avalonminer/version.json")));
    let answers = [rpc_answer(
        "summary+pools",
        None,
        joined(&[
            ("summary", "avalonminer/summary.json"),
            ("pools", "avalonminer/pools.json"),
        ]),
    )];
    let (id, dev, _) = run(&d, &answers);
    assert_eq!(id, "avalon");
    assert_eq!(dev.model.as_deref(), Some("Avalon Q"));
    assert_eq!(dev.mac.as_deref(), Some("AA:BB:CC:DD:EE:FF"));
    assert_eq!(dev.hashrate_ths, Some(44.54));
    assert_eq!(dev.pools[0].url, "stratum+tcp://pool.example.com:4444");
}

#[test]
fn smaller_cgminer_families() {
    assert_eq!(
        run(&discovery(Some(file("auradine/v1/version.json"))), &[]).0,
        "auradine"
    );
    assert_eq!(
        run(&discovery(Some(file("sealminer/v2025/version.json"))), &[]).0,
        "sealminer"
    );
}

#[test]
fn privilege_probes() {
    let d = discovery(Some(file("antminer/v2020/version.json")));
    let denied = br#"{"STATUS":[{"STATUS":"E","When":1,"Code":45,"Msg":"Access denied to 'privileged' command","Description":"cgminer 1.0.0"}],"id":1}"#;
    let granted = br#"{"STATUS":[{"STATUS":"S","When":1,"Code":46,"Msg":"Privileged access OK","Description":"cgminer 1.0.0"}],"id":1}"#;
    let check_no = br#"{"STATUS":[{"STATUS":"S","When":1,"Code":72,"Msg":"Check command","Description":"cgminer 1.0.0"}],"CHECK":[{"Exists":"Y","Access":"N"}],"id":1}"#;
    let check_yes = br#"{"STATUS":[{"STATUS":"S","When":1,"Code":72,"Msg":"Check command","Description":"cgminer 1.0.0"}],"CHECK":[{"Exists":"Y","Access":"Y"}],"id":1}"#;
    let (_, _, obs) = run(
        &d,
        &[
            rpc_answer("privileged", None, denied.to_vec()),
            rpc_answer("check", Some("addpool"), check_no.to_vec()),
        ],
    );
    assert!(obs.privileged.is_empty());
    let (_, _, obs) = run(
        &d,
        &[
            rpc_answer("privileged", None, granted.to_vec()),
            rpc_answer("check", Some("addpool"), check_yes.to_vec()),
        ],
    );
    assert_eq!(obs.privileged.len(), 2);
    // The Avalon capture: check answered Exists=N, Access=N.
    let (_, _, obs) = run(
        &d,
        &[rpc_answer(
            "check",
            Some("addpool"),
            file("avalonminer/check.json"),
        )],
    );
    assert!(obs.privileged.is_empty());
}

/// Every capture decodes, with its trailing NUL and cut short anywhere, without a panic; every
/// cgminer-shaped one yields its status, and every `POOLS` / `SUMMARY` reads.
#[test]
fn the_parsers_read_every_capture() {
    let manifest = String::from_utf8(file("MANIFEST.tsv")).unwrap();
    let mut n = 0;
    for line in manifest.lines().skip(1) {
        let rel = line.split('\t').next().unwrap();
        let mut bytes = file(rel);
        for cut in (0..bytes.len()).step_by(97) {
            let _ = cgminer::decode(&bytes[..cut]);
        }
        bytes.push(0);
        let v = match cgminer::decode(&bytes) {
            Ok(d) => {
                assert!(d.repairs.is_empty(), "{rel} needed repairs: {:?}", d.repairs);
                d.value
            }
            // REST bodies (Braiins 25.07+, Proto) may be a bare scalar such as `false`.
            Err(cgminer::DecodeError::NotCgminer) => {
                let text = std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap();
                crate::proto::repair::parse_lenient(text)
                    .unwrap_or_else(|e| panic!("{rel}: {e}"))
                    .0
            }
            Err(e) => panic!("{rel}: {e}"),
        };
        let v = &v;
        if v.get("STATUS").is_some() {
            assert!(cgminer::status(v).is_some(), "{rel}: no status");
        }
        if v.get("POOLS").is_some() {
            assert!(!cgminer_pools(v, "t").is_empty(), "{rel}: no pools read");
        }
        if v.get("SUMMARY").is_some() && rel.contains("summary") {
            let _ = summary_ths(v);
        }
        n += 1;
    }
    assert_eq!(n, 176, "the manifest lists 176 captures");
}
