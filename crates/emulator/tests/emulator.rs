//! Integration tests: small fleets on 127.77.0.0/16 (one /24 per test), driven with plain `std::net`.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hashward_emulator::{
    DeviceSpec, Family, Fault, Fleet, GenerateOptions, PoolSpec, RequestKind, Running, spawn,
};
use md5::{Digest, Md5};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(5);

fn dev(family: Family, a: [u8; 4]) -> DeviceSpec {
    DeviceSpec::new(family, Ipv4Addr::from(a))
}

fn run(devices: Vec<DeviceSpec>) -> Running {
    spawn(&Fleet { devices }).expect("spawn")
}

fn connect(addr: Ipv4Addr, port: u16) -> TcpStream {
    let s = TcpStream::connect_timeout(&SocketAddr::from((addr, port)), T).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    s
}

/// Send one request and read to EOF.
fn exchange(addr: Ipv4Addr, port: u16, req: &[u8]) -> Vec<u8> {
    let mut s = connect(addr, port);
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// A cgminer JSON exchange: checks the trailing NUL and parses the rest.
fn api(addr: Ipv4Addr, req: Value) -> Value {
    let out = exchange(addr, 4028, req.to_string().as_bytes());
    assert_eq!(
        out.last(),
        Some(&0),
        "reply ends in NUL: {:?}",
        String::from_utf8_lossy(&out)
    );
    serde_json::from_slice(&out[..out.len() - 1]).expect("JSON reply")
}

fn text(addr: Ipv4Addr, req: &str) -> String {
    let out = exchange(addr, 4028, req.as_bytes());
    assert_eq!(out.last(), Some(&0));
    String::from_utf8(out[..out.len() - 1].to_vec()).unwrap()
}

fn code(v: &Value) -> i64 {
    v["STATUS"][0]["Code"].as_i64().unwrap_or(-1)
}

/// One HTTP/1.1 request; returns (status, headers lower-cased, body).
fn http(
    addr: Ipv4Addr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let raw = exchange(addr, 80, req.as_bytes());
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let hs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, hs, body.to_owned())
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> &'a str {
    hs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The client side of RFC 2617 digest with qop=auth, written independently of the emulator.
fn digest_header(challenge: &str, user: &str, pass: &str, method: &str, uri: &str) -> String {
    let param = |k: &str| {
        let start = challenge.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
        let end = challenge[start..].find('"').unwrap();
        challenge[start..start + end].to_owned()
    };
    let (realm, nonce) = (param("realm"), param("nonce"));
    let (nc, cnonce) = ("00000001", "0a4f113b");
    let ha1 = md5_hex(&format!("{user}:{realm}:{pass}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let resp = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{resp}\", algorithm=MD5"
    )
}

#[test]
fn cgminer_framing_text_mode_and_joins() {
    let a = Ipv4Addr::new(127, 77, 1, 1);
    let r = run(vec![dev(Family::Antminer, a.octets())]);
    let v = api(a, json!({"command": "version"}));
    assert_eq!(code(&v), 22);
    assert_eq!(v["STATUS"][0]["Description"], "cgminer 1.0.0");
    assert_eq!(v["VERSION"][0]["Type"], "Antminer S19 Pro");
    // new_api is tolerated.
    let v = api(a, json!({"command": "stats", "new_api": true}));
    assert_eq!(v["STATS"][0]["Type"], "Antminer S19 Pro");
    let t = text(a, "version");
    assert!(t.starts_with("STATUS=S,When="), "{t}");
    assert!(
        t.contains(",Code=22,Msg=CGMiner versions,Description=cgminer 1.0.0|VERSION,"),
        "{t}"
    );
    assert!(t.contains("BMMiner=1.0.0"), "{t}");
    // Joins: each part in an array, as cgminer's head_join/tail_join write it (pyasic reads data[cmd][0]).
    let v = api(a, json!({"command": "summary+pools"}));
    assert_eq!(v["id"], 1);
    assert_eq!(v["summary"][0]["STATUS"][0]["Code"], 11);
    assert!(v["summary"][0]["SUMMARY"][0]["GHS 5s"].as_f64().unwrap() > 100_000.0);
    assert_eq!(v["pools"][0]["STATUS"][0]["Code"], 7);
    assert_eq!(v["summary"][0]["id"], 1);
    let t = text(a, "summary+pools");
    assert!(
        t.starts_with("CMD=summary|STATUS=S,") && t.contains("|CMD=pools|STATUS=S,"),
        "{t}"
    );
    // A write in a join is refused; the read part still answers.
    let v = api(a, json!({"command": "summary+addpool"}));
    assert_eq!(v["addpool"][0]["STATUS"][0]["Code"], 45);
    assert_eq!(v["summary"][0]["STATUS"][0]["Code"], 11);
    let v = api(a, json!({"command": "frobnicate"}));
    assert_eq!(code(&v), 14);
    assert_eq!(v["STATUS"][0]["Msg"], "Invalid command");
    let out = exchange(a, 4028, b"{\"command\": \"vers");
    let v: Value = serde_json::from_slice(&out[..out.len() - 1]).unwrap();
    assert_eq!(code(&v), 23);
    let log = r.requests();
    assert!(
        log.iter()
            .any(|l| l.request == "summary+addpool" && l.kind == RequestKind::StateChanging)
    );
    assert_eq!(r.state_changing_requests(), 1);
}

#[test]
fn api_allow_and_groups() {
    let stock = Ipv4Addr::new(127, 77, 2, 1);
    let open = Ipv4Addr::new(127, 77, 2, 2);
    let check_only = Ipv4Addr::new(127, 77, 2, 3);
    let elsewhere = Ipv4Addr::new(127, 77, 2, 4);
    let local_w = Ipv4Addr::new(127, 77, 2, 5);
    let mut o = dev(Family::Antminer, open.octets());
    o.api_allow = "W:0/0".into();
    let mut c = dev(Family::Antminer, check_only.octets());
    c.api_groups = "A:stats:pools:devs:summary:version:check".into();
    let mut e = dev(Family::Antminer, elsewhere.octets());
    e.api_allow = "W:10.0.0.0/8".into();
    let mut l = dev(Family::Antminer, local_w.octets());
    l.api_allow = "W:127.0.0.1,A:0/0".into();
    let r = run(vec![dev(Family::Antminer, stock.octets()), o, c, e, l]);

    let v = api(stock, json!({"command": "privileged"}));
    assert_eq!(code(&v), 45);
    assert_eq!(v["STATUS"][0]["STATUS"], "E");
    assert_eq!(v["STATUS"][0]["Msg"], "Access denied to 'privileged' command");
    assert_eq!(code(&api(stock, json!({"command": "devdetails"}))), 45);
    assert_eq!(
        code(&api(stock, json!({"command": "check", "parameter": "addpool"}))),
        45
    );
    assert_eq!(code(&api(stock, json!({"command": "pools"}))), 7);

    assert_eq!(code(&api(open, json!({"command": "privileged"}))), 46);
    let v = api(open, json!({"command": "check", "parameter": "addpool"}));
    assert_eq!(code(&v), 72);
    assert_eq!(v["CHECK"][0], json!({"Exists": "Y", "Access": "Y"}));

    let v = api(check_only, json!({"command": "check", "parameter": "addpool"}));
    assert_eq!(v["CHECK"][0], json!({"Exists": "Y", "Access": "N"}));
    let v = api(check_only, json!({"command": "check", "parameter": "nosuch"}));
    assert_eq!(v["CHECK"][0], json!({"Exists": "N", "Access": "N"}));

    // No entry matches 127.0.0.1: closed without a reply.
    let out = exchange(elsewhere, 4028, br#"{"command":"version"}"#);
    assert!(out.is_empty(), "{out:?}");

    assert_eq!(code(&api(local_w, json!({"command": "privileged"}))), 46);

    // A privileged write changes the device and is logged as state-changing.
    let v = api(
        open,
        json!({"command": "addpool", "parameter": "stratum+tcp://evil.example:3333,thief,x"}),
    );
    assert_eq!(code(&v), 55);
    let pools = api(open, json!({"command": "pools"}));
    assert!(
        pools["POOLS"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["URL"] == "stratum+tcp://evil.example:3333")
    );
    let writes: Vec<_> = r
        .requests()
        .into_iter()
        .filter(|l| l.is_state_changing())
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].address, open);
    assert_eq!(writes[0].port, 4028);
    assert!(writes[0].request.starts_with("addpool|"));
}

#[test]
fn antminer_digest_web() {
    let a = Ipv4Addr::new(127, 77, 3, 1);
    let b = Ipv4Addr::new(127, 77, 3, 2);
    let mut strong = dev(Family::Antminer, b.octets());
    strong.web_password = Some("N0t-the-default".into());
    let r = run(vec![dev(Family::Antminer, a.octets()), strong]);
    let (status, hs, _) = http(a, "GET", "/", &[], "");
    assert_eq!(status, 401);
    let ch = header(&hs, "www-authenticate").to_owned();
    assert!(ch.starts_with("Digest realm=\"antMiner Configuration\""), "{ch}");
    assert!(ch.contains("qop=\"auth\"") && ch.contains("nonce=\""), "{ch}");
    let uri = "/cgi-bin/get_system_info.cgi";
    let auth = digest_header(&ch, "root", "root", "GET", uri);
    let (status, _, body) = http(a, "GET", uri, &[("Authorization", &auth)], "");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["minertype"], "Antminer S19 Pro");
    assert_eq!(v["ipaddress"], a.to_string());
    let uri = "/cgi-bin/get_miner_conf.cgi";
    let auth = digest_header(&ch, "root", "root", "GET", uri);
    let (_, _, body) = http(a, "GET", uri, &[("Authorization", &auth)], "");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["api-allow"], "A:0/0,W:*");
    assert_eq!(v["api-groups"], "A:stats:pools:devs:summary:version");
    assert_eq!(v["pools"][0]["url"], "stratum+tcp://btc.f2pool.com:3333");
    // Wrong password: 401 again.
    let (_, hs, _) = http(b, "GET", "/", &[], "");
    let ch = header(&hs, "www-authenticate").to_owned();
    let auth = digest_header(&ch, "root", "root", "GET", "/cgi-bin/get_system_info.cgi");
    let (status, _, _) = http(
        b,
        "GET",
        "/cgi-bin/get_system_info.cgi",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 401);
    // A POST to a write endpoint is state-changing even when refused.
    let (status, _, _) = http(b, "POST", "/cgi-bin/set_miner_conf.cgi", &[], "{}");
    assert_eq!(status, 401);
    assert_eq!(r.state_changing_requests(), 1);
    let uri = "/cgi-bin/set_miner_conf.cgi";
    let auth = digest_header(&ch, "root", "N0t-the-default", "POST", uri);
    let body = r#"{"pools":[{"url":"stratum+tcp://x.example:1","user":"u","pass":"p"}]}"#;
    let (status, _, resp) = http(b, "POST", uri, &[("Authorization", &auth)], body);
    assert_eq!(status, 200, "{resp}");
    assert_eq!(r.state_changing_requests(), 2);
    assert!(
        r.requests()
            .iter()
            .any(|l| l.request == "POST /cgi-bin/set_miner_conf.cgi" && l.is_state_changing())
    );
}

// Known-answer values for the Whatsminer token and encryption, computed once with OpenSSL 3 from the
// device's deterministic first get_token reply for serial "HWTEST0001" (salt, newsalt, time asserted below):
//   host_passwd_md5 = `openssl passwd -1 -salt VHXRW99j admin | cut -d'$' -f4`
//                   = gbG2kvGS7LCHbvhyLeNtH1
//   host_sign       = `openssl passwd -1 -salt lI7GjqxC "gbG2kvGS7LCHbvhyLeNtH13565" | cut -d'$' -f4`
//                   = c/hS6Iq.bW8upbwjQHtdG1
//   aes key         = `printf %s gbG2kvGS7LCHbvhyLeNtH1 | openssl dgst -sha256`
//   WM_DATA         = WM_CMD zero-padded to 16-byte blocks,
//                     `| openssl enc -aes-256-ecb -nopad -K <key> | base64 -w0`
const WM_SALT: &str = "VHXRW99j";
const WM_NEWSALT: &str = "lI7GjqxC";
const WM_TIME: &str = "3565";
const WM_KEY_HEX: &str = "c23add0dd8f3bb4d714018259eef58be1aef93806d4b41c1bddcf4e2ae8f23e6";
#[allow(dead_code)]
const WM_CMD: &str = r#"{"cmd":"update_pools","pool1":"stratum+tcp://hijack.example:3333","worker1":"thief.1","passwd1":"x","token":"c/hS6Iq.bW8upbwjQHtdG1"}"#;
const WM_DATA: &str = "gJtKztUs2quDmfdYqOfgy8RwLscUZnvm+0qc3XSttoTSAgDGQDQh+Ehu8nu+CB/4DnOt470omVLpbmZ5ml/Ul8JsT5e6jBlMqCWSl9t15zx2ML0HYng6fwpIqzOV99416C2hHb6AunLAAGm8MGxs4aeMKDCSVySlX9wl8PImLGiKeT9trj7B9iYa3XhLRCY5";

fn aes_ecb_decrypt(key: &[u8], data: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockCipherDecrypt, KeyInit};
    let c = aes::Aes256::new_from_slice(key).unwrap();
    let mut out = Vec::new();
    for chunk in data.chunks(16) {
        let mut b = aes::Block::default();
        b.copy_from_slice(chunk);
        c.decrypt_block(&mut b);
        out.extend_from_slice(&b);
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// A btminer exchange: JSON with or without the trailing NUL.
fn wm(addr: Ipv4Addr, req: &[u8]) -> Value {
    let out = exchange(addr, 4028, req);
    let out = out.strip_suffix(&[0]).unwrap_or(&out);
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

#[test]
fn whatsminer_token_and_aes_known_answer() {
    use base64::Engine;
    let a = Ipv4Addr::new(127, 77, 4, 1);
    let w = Ipv4Addr::new(127, 77, 4, 2);
    let mut d = dev(Family::Whatsminer, a.octets());
    d.serial = "HWTEST0001".into();
    d.api_write = true;
    let mut off = d.clone();
    off.address = w;
    off.api_write = false;
    let r = run(vec![d, off]);
    let v = wm(a, br#"{"cmd":"get_token"}"#);
    assert_eq!(v["STATUS"], "S", "STATUS is a string on btminer");
    assert_eq!(v["Code"], 134);
    assert_eq!(v["Msg"]["salt"], WM_SALT);
    assert_eq!(v["Msg"]["newsalt"], WM_NEWSALT);
    assert_eq!(v["Msg"]["time"], WM_TIME);
    let req = json!({"enc": 1, "data": WM_DATA}).to_string();
    let v = wm(a, req.as_bytes());
    let enc = base64::engine::general_purpose::STANDARD
        .decode(v["enc"].as_str().expect("encrypted reply"))
        .unwrap();
    let plain = aes_ecb_decrypt(&hex::decode(WM_KEY_HEX).unwrap(), &enc);
    let reply: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(reply["Code"], 131);
    assert_eq!(reply["STATUS"], "S");
    let v = wm(a, br#"{"command":"pools"}"#);
    assert_eq!(v["POOLS"][0]["URL"], "stratum+tcp://hijack.example:3333");
    assert_eq!(v["POOLS"][0]["User"], "thief.1");
    // The same ciphertext on a twin whose write switch is off: permission denied.
    let _ = wm(w, br#"{"cmd":"get_token"}"#);
    assert_eq!(wm(w, req.as_bytes())["Code"], 45);
    // A key from another password: the request does not decrypt, check-token error.
    let bad =
        json!({"enc": 1, "data": base64::engine::general_purpose::STANDARD.encode([7u8; 32])}).to_string();
    assert_eq!(wm(a, bad.as_bytes())["Code"], 135);
    // Plaintext writes are refused.
    assert_eq!(wm(a, br#"{"cmd":"reboot"}"#)["Code"], 45);
    // The undecryptable request changes nothing (the device cannot read it): not a write.
    let writes = r.requests().into_iter().filter(|l| l.is_state_changing()).count();
    assert_eq!(writes, 3);
    assert_eq!(r.state_changing_requests(), 3);
}

#[test]
fn whatsminer_web_and_v3_frames() {
    let a = Ipv4Addr::new(127, 77, 5, 1);
    let b = Ipv4Addr::new(127, 77, 5, 2);
    let _r = run(vec![
        dev(Family::Whatsminer, a.octets()),
        dev(Family::WhatsminerV3, b.octets()),
    ]);
    let (status, hs, body) = http(a, "GET", "/", &[], "");
    assert_eq!(status, 307);
    assert_eq!(header(&hs, "location"), format!("https://{a}/"));
    assert!(body.contains("/cgi-bin/luci"));
    let out = exchange(a, 4028, br#"{"command":"devdetails"}"#);
    assert!(String::from_utf8_lossy(&out).contains("bitmicro"));
    // v3: little-endian length + JSON, both ways.
    let mut s = connect(b, 4433);
    for cmd in [
        json!({"cmd": "get.device.info"}),
        json!({"cmd": "get.miner.status", "param": "pools"}),
    ] {
        let body = cmd.to_string();
        s.write_all(&(body.len() as u32).to_le_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
        s.read_exact(&mut buf).unwrap();
        let v: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["code"], 0);
        if cmd["cmd"] == "get.device.info" {
            assert_eq!(v["msg"]["miner"]["type"], "M60S_VK40");
            assert_eq!(v["msg"]["system"]["fwversion"], "20251209.16.Rel2");
            assert_eq!(v["msg"]["salt"].as_str().unwrap().len(), 8);
        } else {
            assert_eq!(v["msg"]["pools"][0]["url"], "stratum+tcp://btc.f2pool.com:3333");
        }
    }
    // The legacy 4028 port of v3 firmware accepts and closes without a reply.
    assert!(exchange(b, 4028, br#"{"command":"devdetails"}"#).is_empty());
}

#[test]
fn luxos_spoof_groups_and_sessions() {
    let a = Ipv4Addr::new(127, 77, 6, 1);
    let mut d = dev(Family::Luxos, a.octets());
    d.pools = vec![
        PoolSpec {
            url: "stratum+tcp://ca.stratum.braiins.com:3333".into(),
            user: "me.1".into(),
            password: "x".into(),
            group: Some("main".into()),
            quota: Some(9),
        },
        PoolSpec {
            url: "stratum+tcp://stratum.braiins.com:3333".into(),
            user: "me.1".into(),
            password: "x".into(),
            group: Some("main".into()),
            quota: Some(9),
        },
        PoolSpec {
            url: "stratum+tcp://pool.hashvault.pro:3333".into(),
            user: "other".into(),
            password: "x".into(),
            group: Some("fee".into()),
            quota: Some(1),
        },
    ];
    let r = run(vec![d]);
    let v = api(a, json!({"command": "version"}));
    assert_eq!(v["VERSION"][0]["Type"], "Antminer S9");
    assert_eq!(v["VERSION"][0]["BMMiner"], "1.0.0");
    assert_eq!(v["VERSION"][0]["Miner"], "uart_trans.1.3");
    assert!(v["VERSION"][0]["LUXminer"].is_string());
    assert!(
        v["STATUS"][0]["Description"]
            .as_str()
            .unwrap()
            .starts_with("LUXminer")
    );
    let v = api(a, json!({"command": "config"}));
    assert_eq!(v["CONFIG"][0]["Model"], "Antminer S19k Pro");
    let v = api(a, json!({"command": "pools"}));
    let p = v["POOLS"].as_array().unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p[2]["GROUP"], 1);
    assert_eq!(p[2]["Quota"], 1.0);
    assert_eq!(p[0]["Quota"], 9.0);
    assert_eq!(
        p[2]["Stratum Active"], true,
        "each group hashes on its first pool"
    );
    let v = api(a, json!({"command": "session"}));
    assert_eq!(v["SESSION"][0]["SessionID"], "");
    assert_eq!(r.state_changing_requests(), 0);
    let v = api(a, json!({"command": "logon"}));
    assert!(!v["SESSION"][0]["SessionID"].as_str().unwrap().is_empty());
    assert_eq!(r.session_creating_requests(), 1);
    assert_eq!(
        r.state_changing_requests(),
        0,
        "logon is session-creating, not state-changing"
    );
    let v = api(
        a,
        json!({"command": "addpool", "parameter": "stratum+tcp://evil.example:1,w,x"}),
    );
    assert_eq!(code(&v), 55, "no token needed");
    assert_eq!(r.state_changing_requests(), 1);
    let (_, _, body) = http(a, "GET", "/", &[], "");
    assert!(body.contains("Luxor Firmware"));
}

#[test]
fn avalon_braiins_vnish_unknown_surfaces() {
    let av = Ipv4Addr::new(127, 77, 7, 1);
    let bo = Ipv4Addr::new(127, 77, 7, 2);
    let vn = Ipv4Addr::new(127, 77, 7, 3);
    let un = Ipv4Addr::new(127, 77, 7, 4);
    let r = run(vec![
        dev(Family::Avalon, av.octets()),
        dev(Family::Braiins, bo.octets()),
        dev(Family::Vnish, vn.octets()),
        dev(Family::Unknown, un.octets()),
    ]);
    // Avalon
    let before = r.state_changing_requests();
    let t = text(av, "ascset|0,password,wrong,new");
    assert!(t.starts_with("STATUS=E,When="), "{t}");
    assert!(
        t.ends_with(
            ",Code=120,Msg=ASC 0 set failed: Auth Failed! password invalid!,Description=cgminer 4.11.1|"
        ),
        "{t}"
    );
    let v = api(av, json!({"command": "ascset", "parameter": "0,help"}));
    assert_eq!(code(&v), 118);
    let v = api(
        av,
        json!({"command": "ascset", "parameter": "0,softoff,1:1753434821"}),
    );
    assert_eq!(v["STATUS"][0]["STATUS"], "I");
    assert!(
        v["STATUS"][0]["Msg"]
            .as_str()
            .unwrap()
            .starts_with("ASC 0 set info: success softoff:")
    );
    assert_eq!(
        r.state_changing_requests(),
        before + 2,
        "password and softoff, not help"
    );
    let v = api(av, json!({"command": "version"}));
    assert_eq!(v["VERSION"][0]["PROD"], "Avalon Q");
    let (_, _, body) = http(av, "GET", "/", &[], "");
    assert!(body.contains("Avalon"));
    // Braiins
    let v = api(bo, json!({"command": "version"}));
    assert!(
        v["STATUS"][0]["Description"]
            .as_str()
            .unwrap()
            .starts_with("BOSer")
    );
    let v = api(bo, json!({"command": "devdetails"}));
    assert_eq!(v["DEVDETAILS"][0]["Model"], "Antminer S19j Pro");
    let (_, _, body) = http(bo, "GET", "/", &[], "");
    assert!(body.contains("Braiins OS"));
    let (status, _, _) = http(bo, "GET", "/api/v1/miner/details", &[], "");
    assert_eq!(status, 401);
    let (status, _, body) = http(
        bo,
        "POST",
        "/api/v1/auth/login",
        &[],
        r#"{"username":"root","password":"root"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, body) = http(
        bo,
        "GET",
        "/api/v1/miner/details",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["miner_identity"]["miner_model"],
        "Antminer S19j Pro"
    );
    assert!(TcpStream::connect_timeout(&SocketAddr::from((bo, 50051)), T).is_ok());
    // Vnish
    let v = api(vn, json!({"command": "stats"}));
    assert!(v.to_string().contains("Vnish") || v.to_string().contains("VNISH"));
    let (_, _, body) = http(vn, "GET", "/", &[], "");
    assert!(body.contains("AnthillOS"));
    let (status, _, body) = http(vn, "GET", "/api/v1/info", &[], "");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["fw_version"],
        "1.2.6"
    );
    let (status, _, _) = http(vn, "POST", "/api/v1/unlock", &[], r#"{"pw":"nope"}"#);
    assert!(status == 401 || status == 403);
    let (status, _, body) = http(vn, "POST", "/api/v1/unlock", &[], r#"{"pw":"admin"}"#);
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["token"].is_string());
    // Unknown
    let (status, _, body) = http(un, "GET", "/", &[], "");
    assert_eq!(status, 200);
    assert!(body.contains("nginx"));
    let out = exchange(un, 4028, br#"{"command":"version"}"#);
    assert!(!out.is_empty() && !String::from_utf8_lossy(&out).contains("STATUS"));
}

#[test]
fn ssh_and_telnet_banners() {
    let a = Ipv4Addr::new(127, 77, 8, 1);
    let mut d = dev(Family::Antminer, a.octets());
    d.ssh = true;
    d.telnet = true;
    let _r = run(vec![d]);
    let mut s = connect(a, 22);
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"SSH-2.0-dropbear"), "{:?}", &buf[..n]);
    let mut s = connect(a, 23);
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("login: ") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got[0], 0xff, "telnet IAC first");
}

#[test]
fn faults_are_observable() {
    let base = [127, 77, 9];
    let mk = |n: u8, f: Fault| {
        let mut d = dev(Family::Antminer, [base[0], base[1], base[2], n]);
        d.fault = f;
        d
    };
    let r = run(vec![
        mk(1, Fault::SlowDrip),
        mk(2, Fault::Silent),
        mk(3, Fault::Reset),
        mk(4, Fault::Huge),
        mk(5, Fault::InvalidJson),
        mk(6, Fault::WrongProtocol),
        mk(7, Fault::WrongProtocol),
    ]);
    let ip = |n: u8| Ipv4Addr::new(base[0], base[1], base[2], n);
    let req = br#"{"command":"summary"}"#;

    // slow-drip: the first byte comes, the whole reply does not within 3 s.
    let mut s = connect(ip(1), 4028);
    s.write_all(req).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    while start.elapsed() < Duration::from_secs(3) {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    }
    assert!(!got.is_empty() && got.len() < 10, "{} bytes", got.len());
    assert_eq!(got[0], b'{');

    // silent: nothing within 2 s, connection still open.
    let mut s = connect(ip(2), 4028);
    s.write_all(req).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let e = s.read(&mut b).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e:?}"
    );

    // reset: ECONNRESET, or a truncated reply at most.
    let mut s = connect(ip(3), 4028);
    s.write_all(req).unwrap();
    let mut got = Vec::new();
    let res = s.read_to_end(&mut got);
    assert!(
        res.is_err() || serde_json::from_slice::<Value>(&got).is_err(),
        "reset gave a whole reply"
    );
    if let Err(e) = res {
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    }

    // huge: more than 10 MB readable.
    let mut s = connect(ip(4), 4028);
    s.write_all(req).unwrap();
    let mut total = 0usize;
    let mut big = vec![0u8; 1 << 16];
    while total <= 10 * 1024 * 1024 {
        let n = s.read(&mut big).unwrap();
        assert!(n > 0, "ended at {total}");
        total += n;
    }
    s.shutdown(Shutdown::Both).unwrap();

    // invalid-json: not JSON, not empty, NUL-terminated; also on the web port.
    let out = exchange(ip(5), 4028, req);
    assert_eq!(out.last(), Some(&0));
    assert!(out.len() > 10);
    assert!(serde_json::from_slice::<Value>(&out[..out.len() - 1]).is_err());
    let (status, _, body) = http(ip(5), "GET", "/", &[], "");
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());

    // wrong-protocol: 4028 speaks HTTP (odd address) or SSH (even); 80 speaks cgminer.
    let out = exchange(ip(7), 4028, req);
    assert!(
        out.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    let out = exchange(ip(6), 4028, req);
    assert!(
        out.starts_with(b"SSH-2.0-"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    let out = exchange(ip(6), 80, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        out.starts_with(b"STATUS=S,"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    r.stop();
}

#[test]
fn oversized_and_garbage_requests_are_bounded() {
    let a = Ipv4Addr::new(127, 77, 10, 1);
    let _r = run(vec![
        dev(Family::Antminer, a.octets()),
        dev(Family::Whatsminer, [127, 77, 10, 2]),
    ]);
    // 200 KiB of an unterminated JSON string: the server stops reading at 64 KiB and answers or closes.
    let mut s = connect(a, 4028);
    let mut big = b"{\"command\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 200 * 1024));
    let _ = s.write_all(&big);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    // Binary garbage on every port must not kill the device.
    for (ip, port) in [(a, 4028u16), (a, 80), (Ipv4Addr::new(127, 77, 10, 2), 4028)] {
        let _ = exchange(ip, port, &[0xff, 0x00, 0x13, 0x37, b'{', b'}', 0x80]);
    }
    let v = api(a, json!({"command": "version"}));
    assert_eq!(code(&v), 22);
}

#[test]
fn fleet_file_spawn_and_bind_errors() {
    let fleet = Fleet::from_toml(
        r#"
[[device]]
address = "127.77.11.1"
count = 3
family = "antminer"
model = "Antminer S21"
hashrate_ths = 200.0
[[device.pools]]
url = "stratum+ssl://eu.stratum.braiins.com:3333"
user = "acct.w"
"#,
    )
    .unwrap();
    let r = spawn(&fleet).unwrap();
    assert_eq!(r.devices().len(), 3);
    let v = api(Ipv4Addr::new(127, 77, 11, 3), json!({"command": "version"}));
    assert_eq!(v["VERSION"][0]["Type"], "Antminer S21");
    // Binding the same addresses again fails, naming address and port.
    let e = spawn(&fleet).unwrap_err().to_string();
    assert!(e.contains("127.77.11.1:"), "{e}");
    drop(r);
    // After stop every listener is closed promptly.
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::new(127, 77, 11, 1), 4028)), T).is_err());
    let e = Fleet::from_toml("[[device]]\naddress = \"192.168.1.10\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("loopback"), "{e}");
}

#[test]
fn generated_fleet_serves_and_manifest_matches() {
    let f = Fleet::generate(&GenerateOptions {
        count: 60,
        base: Ipv4Addr::new(127, 77, 12, 1),
        seed: 3,
        faulty_percent: 0.0,
        exposures: true,
    });
    let m = f.manifest();
    let r = spawn(&f).unwrap();
    for (d, e) in r.devices().iter().zip(&m) {
        assert_eq!(d.address, e.address);
        for p in &e.ports {
            assert!(
                TcpStream::connect_timeout(&SocketAddr::from((e.address, *p)), T).is_ok(),
                "{} {p}",
                e.address
            );
        }
    }
    let json = serde_json::to_value(&m).unwrap();
    assert!(json[0]["family"].is_string() && json[0]["ports"].is_array());
}

// ---- shape test -------------------------------------------------------------------------------------

/// The shared captures, found by `hashward_emulator::asic_rs_captures`; missing ones fail.
fn asic_rs_captures() -> PathBuf {
    let (found, looked) = hashward_emulator::asic_rs_captures();
    found.unwrap_or_else(|| {
        panic!("the asic-rs captures are missing: looked in {looked:?} (set HASHWARD_TESTDATA)")
    })
}

fn testdata() -> PathBuf {
    asic_rs_captures()
}

/// The recursive key structure and JSON types of a value, ignoring values (all numbers are "number").
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Array(items) => {
            let mut shapes: Vec<Value> = Vec::new();
            for i in items {
                let s = shape(i);
                if !shapes.contains(&s) {
                    shapes.push(s);
                }
            }
            shapes.sort_by_key(|s| s.to_string());
            json!({ "[]": shapes })
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff(&format!("{path}.{k}"), p, q, out),
                    (Some(_), None) => out.push(format!("{path}.{k}: only in emulator")),
                    (None, Some(_)) => out.push(format!("{path}.{k}: only in capture")),
                    _ => {}
                }
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: emulator {a} vs capture {b}")),
    }
}

fn assert_shape(name: &str, ours: &Value, capture: &str) {
    let path = testdata().join(capture);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let real: Value = serde_json::from_str(&text).unwrap();
    let (mut a, mut b) = (shape(ours), shape(&real));
    // Arrays of records: compare the union of element keys, so 1 pool vs 3 pools still match.
    normalise(&mut a);
    normalise(&mut b);
    let mut out = Vec::new();
    diff(name, &a, &b, &mut out);
    out.sort();
    out.dedup();
    assert!(
        out.is_empty(),
        "{name} differs from {capture}:\n{}",
        out.join("\n")
    );
}

/// Merge the element shapes of arrays of objects into one object shape.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(shapes)) = m.get_mut("[]") {
                if shapes.len() > 1 && shapes.iter().all(Value::is_object) {
                    let mut merged = serde_json::Map::new();
                    for s in shapes.iter() {
                        for (k, x) in s.as_object().unwrap() {
                            merged.entry(k.clone()).or_insert_with(|| x.clone());
                        }
                    }
                    *shapes = vec![Value::Object(merged)];
                }
                for s in shapes.iter_mut() {
                    normalise(s);
                }
            } else {
                for x in m.values_mut() {
                    normalise(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalise),
        _ => {}
    }
}

fn api_json(addr: Ipv4Addr, cmd: &str, param: Option<&str>) -> Value {
    let req = match param {
        Some(p) => json!({"command": cmd, "parameter": p}),
        None => json!({"command": cmd}),
    };
    let out = exchange(addr, 4028, req.to_string().as_bytes());
    let out = out.strip_suffix(&[0]).unwrap_or(&out);
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{cmd}: {e}: {}", String::from_utf8_lossy(out)))
}

fn v3(addr: Ipv4Addr, cmd: Value) -> Value {
    let mut s = connect(addr, 4433);
    let body = cmd.to_string();
    s.write_all(&(body.len() as u32).to_le_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut buf).unwrap();
    serde_json::from_slice(&buf).unwrap()
}

#[test]
fn reply_shapes_match_real_captures() {
    let ip = |n: u8| Ipv4Addr::new(127, 77, 13, n);
    let mut am = dev(Family::Antminer, [127, 77, 13, 1]);
    am.api_allow = "W:0/0".into();
    let mut wm2 = dev(Family::Whatsminer, [127, 77, 13, 2]);
    wm2.firmware = "20230803.11.REL".into();
    let mut wm1 = dev(Family::Whatsminer, [127, 77, 13, 3]);
    wm1.firmware = "20210322.22.REL".into();
    wm1.model = "M30S+_VE40".into();
    let wm3 = dev(Family::WhatsminerV3, [127, 77, 13, 4]);
    let avq = dev(Family::Avalon, [127, 77, 13, 5]);
    let mut ava = dev(Family::Avalon, [127, 77, 13, 6]);
    ava.model = "AvalonMiner 1246".into();
    let mut lux = dev(Family::Luxos, [127, 77, 13, 7]);
    lux.real_type = true;
    let bos = dev(Family::Braiins, [127, 77, 13, 8]);
    let mut devices = vec![am, wm2, wm1, wm3, avq, ava, lux, bos];
    for d in &mut devices {
        d.resolve();
    }
    let _r = spawn(&Fleet { devices }).unwrap();

    for (cmd, file) in [
        ("version", "version"),
        ("summary", "summary"),
        ("pools", "pools"),
        ("devs", "devs"),
        ("stats", "stats"),
    ] {
        assert_shape(
            &format!("antminer {cmd}"),
            &api_json(ip(1), cmd, None),
            &format!("antminer/v2020/{file}.json"),
        );
    }
    let (_, hs, _) = http(ip(1), "GET", "/", &[], "");
    let ch = header(&hs, "www-authenticate").to_owned();
    let uri = "/cgi-bin/get_system_info.cgi";
    let auth = digest_header(&ch, "root", "root", "GET", uri);
    let (_, _, body) = http(ip(1), "GET", uri, &[("Authorization", &auth)], "");
    assert_shape(
        "antminer get_system_info",
        &serde_json::from_str(&body).unwrap(),
        "antminer/v2020/system_info.json",
    );

    for (generation, addr) in [("v2", ip(2)), ("v1", ip(3))] {
        let mut files = vec!["summary", "pools", "devs", "get_version", "get_psu", "status"];
        if generation == "v2" {
            files.extend(["get_miner_info", "get_error_code"]);
        }
        for f in files {
            assert_shape(
                &format!("whatsminer {generation} {f}"),
                &api_json(addr, f, None),
                &format!("whatsminer/{generation}/{f}.json"),
            );
        }
    }
    assert_shape(
        "whatsminer v3 get.device.info",
        &v3(ip(4), json!({"cmd": "get.device.info"})),
        "whatsminer/v3/get_device_info.json",
    );
    for p in ["summary", "pools", "edevs"] {
        assert_shape(
            &format!("whatsminer v3 get.miner.status {p}"),
            &v3(ip(4), json!({"cmd": "get.miner.status", "param": p})),
            &format!("whatsminer/v3/get_miner_status_{p}.json"),
        );
    }

    for (cmd, param, file) in [
        ("version", None, "version"),
        ("summary", None, "summary"),
        ("pools", None, "pools"),
        ("devs", None, "devs"),
        ("stats", None, "stats"),
        ("litestats", None, "litestats"),
        ("devdetails", None, "devdetails"),
        ("config", None, "config"),
        ("coin", None, "coin"),
        ("check", Some("nosuchcmd"), "check"),
        ("ascset", Some("0,help"), "ascset_help"),
        ("ascset", Some("0,workmode,1"), "ascset_workmode"),
        ("ascset", Some("0,softon,1:1753434752"), "ascset_softon"),
        ("ascset", Some("0,softoff,1:1753434821"), "ascset_softoff"),
    ] {
        assert_shape(
            &format!("avalon {cmd} {param:?}"),
            &api_json(ip(5), cmd, param),
            &format!("avalonminer/{file}.json"),
        );
    }
    assert_shape(
        "avalon 1246 stats",
        &api_json(ip(6), "stats", None),
        "avalonminer/avalon_a_stats.json",
    );

    for cmd in ["version", "config", "pools", "summary", "devs", "stats"] {
        assert_shape(
            &format!("luxos {cmd}"),
            &api_json(ip(7), cmd, None),
            &format!("luxminer/v1/{cmd}.json"),
        );
    }

    assert_shape(
        "braiins version",
        &api_json(ip(8), "version", None),
        "braiins/v24_09/version.json",
    );
    let (_, _, body) = http(
        ip(8),
        "POST",
        "/api/v1/auth/login",
        &[],
        r#"{"username":"root","password":"root"}"#,
    );
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {token}");
    for (path, file) in [
        ("/api/v1/miner/details", "miner_details"),
        ("/api/v1/pools", "pools"),
        ("/api/v1/miner/stats", "miner_stats"),
        ("/api/v1/network", "network"),
        ("/api/v1/configuration/miner", "configuration_miner"),
        ("/api/v1/version", "version"),
    ] {
        let (status, _, body) = http(ip(8), "GET", path, &[("Authorization", &bearer)], "");
        assert_eq!(status, 200, "{path}");
        assert_shape(
            &format!("braiins {path}"),
            &serde_json::from_str(&body).unwrap(),
            &format!("braiins/v25_07/{file}.json"),
        );
    }
}
