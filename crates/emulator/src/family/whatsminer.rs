//! MicroBT Whatsminer: btminer API v1/v2 on 4028 (string STATUS, `get_token`, AES-256-ECB writes), the
//! LuCI redirect on 80, WhatsMinerTool's 8889; and the API v3 variant on 4433 (length-prefixed JSON,
//! `set.*` tokens).
//!
//! Shapes follow the asic-rs `whatsminer/v1`, `v2` and `v3` captures; the token and encryption steps follow
//! the protocol brief §2.1 (the five steps pyasic and asic-rs agree on).

use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use super::{Behaviour, Proto, page, port};
use crate::cgminer::{self, Outcome, reply, status};
use crate::crypto::{aes_ecb_decrypt, aes_ecb_encrypt, b64, md5_crypt_hash, sha256, unb64};
use crate::device::{Device, PoolState};
use crate::fleet::{DeviceSpec, Family, Port};
use crate::http::{Request, Response};
use crate::log::RequestKind;

/// API v1/v2 firmware.
pub(crate) struct Whatsminer;
/// API v3 firmware.
pub(crate) struct WhatsminerV3;

/// Write commands of API v2.0.4/2.0.5 (and the unofficial `open_write_api` unlock).
const WRITES: &[&str] = &[
    "update_pools",
    "restart_btminer",
    "power_off",
    "power_on",
    "set_led",
    "set_low_power",
    "set_normal_power",
    "set_high_power",
    "update_firmware",
    "reboot",
    "factory_reset",
    "update_pwd",
    "net_config",
    "download_logs",
    "set_target_freq",
    "enable_btminer_fast_boot",
    "disable_btminer_fast_boot",
    "enable_web_pools",
    "disable_web_pools",
    "set_hostname",
    "set_zone",
    "set_power_pct",
    "pre_power_on",
    "set_temp_offset",
    "adjust_power_limit",
    "adjust_upfreq_speed",
    "set_poweroff_cool",
    "set_fan_zero_speed",
    "set_power_pct_v2",
    "open_write_api",
];

/// Whether the firmware is of the v1 API generation (2021 and before).
fn is_v1(dev: &Device) -> bool {
    dev.spec
        .firmware
        .get(..4)
        .and_then(|y| y.parse::<u32>().ok())
        .is_some_and(|y| y < 2022)
}

fn api_ver(dev: &Device) -> &'static str {
    if is_v1(dev) { "whatsminer v1.4.0" } else { "2.0.5" }
}

/// `Description` of btminer's own (string-STATUS) replies.
fn wm_desc(dev: &Device) -> &'static str {
    if is_v1(dev) { "whatsminer v1.4.0" } else { "" }
}

/// A btminer-style reply: `STATUS` is a string.
fn wm(kind: &str, code: u32, msg: Value, desc: &str) -> Value {
    json!({"STATUS": kind, "When": cgminer::now(), "Code": code, "Msg": msg, "Description": desc})
}

/// The variant suffix of `devdetails` `Model` (`M50S` → `M50S_VH30`).
fn full_model(model: &str) -> String {
    if model.contains('_') {
        return model.to_owned();
    }
    let variant = match model {
        m if m.starts_with("M30S+") => "VE40",
        m if m.starts_with("M30S") => "V50",
        m if m.starts_with("M50S") => "VH30",
        m if m.starts_with("M60S") => "VK20",
        _ => "V10",
    };
    format!("{model}_{variant}")
}

/// The device's fixed token salt (8 characters, derived from its serial).
fn device_salt(dev: &Device) -> String {
    let h = sha256(format!("salt:{}", dev.spec.serial).as_bytes());
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    h.iter()
        .take(8)
        .map(|b| char::from(SET[usize::from(*b) % SET.len()]))
        .collect()
}

/// Hash boards: every Whatsminer generation emulated here has three.
fn boards(_dev: &Device) -> usize {
    3
}

fn summary(dev: &Device) -> Value {
    let el = dev.uptime();
    let mhs = dev.ghs("av") * 1000.0;
    let power = (dev.spec.hashrate_ths * 26.0).round() as u64;
    if is_v1(dev) {
        json!({
            "Accepted": el / 4, "Best Share": 41_127_493, "CB Platform": "ALLWINNER_H3", "CB Version": "V8",
            "Chip Data": "HP5A01-19101436   BINV04-192101D", "Chip Temp Avg": 78.5, "Chip Temp Max": 88.0,
            "Chip Temp Min": 68.0, "Device Hardware%": 0.011, "Device Rejected%": 0.0,
            "Difficulty Accepted": (el / 4 * 65_536) as f64, "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0,
            "Discarded": el * 60, "Elapsed": el, "Error Code Count": 0, "Factory Error Code Count": 0,
            "Factory GHS": (dev.spec.hashrate_ths * 1000.0).round() as u64, "Fan Speed In": 6450,
            "Fan Speed Out": 6480, "Firmware Version": format!("'{}'", dev.spec.firmware), "Found Blocks": 0,
            "Get Failures": 0, "Getworks": el / 10, "HS RT": mhs, "Hardware Errors": el / 150,
            "Hash Deviation%": 0.1061, "Hash Stable": true, "Hash Stable Cost Seconds": 1538, "Last getwork": 0,
            "Liquid Cooling": false, "Local Work": el * 7800, "MAC": dev.spec.mac, "MHS 15m": mhs, "MHS 1m": mhs,
            "MHS 5m": mhs, "MHS 5s": dev.ghs("5s") * 1000.0, "MHS av": mhs, "Network Blocks": el / 600,
            "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Power": power, "Power Current": 261,
            "Power Fanspeed": 9060, "Power Limit": 3500, "Power Mode": "Normal", "Power_RT": power + 10,
            "Rejected": 0, "Remote Failures": 0, "Security Mode": 0, "Stale": 0, "Target Freq": 625,
            "Target MHS": (mhs * 0.97).round(), "Temperature": 71.5, "Total MH": (mhs * el as f64).round(),
            "Uptime": el + 600, "Utility": 13.82, "Voltage": 1180, "Work Utility": 3697.27, "freq_avg": 648,
        })
    } else {
        json!({
            "Accepted": el / 4, "Best Share": 82_000_000, "Chip Temp Avg": 72.5, "Chip Temp Max": 81.0,
            "Chip Temp Min": 62.0, "Elapsed": el, "Env Temp": 28.5,
            "Factory GHS": (dev.spec.hashrate_ths * 1000.0).round() as u64, "Fan Speed In": 5400,
            "Fan Speed Out": 5280, "HS RT": mhs, "Hash Stable": true, "MAC": dev.spec.mac, "MHS av": mhs,
            "Pool Rejected%": 0.0, "Power": power, "Power Limit": 3600, "Power Mode": "Normal",
            "Target Freq": 600, "Uptime": el + 500,
        })
    }
}

fn pools(dev: &Device) -> Vec<Value> {
    let st = dev.lock();
    let v1 = is_v1(dev);
    let el = dev.uptime();
    st.pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let active = i == 0 && st.mining;
            if v1 {
                json!({
                    "Accepted": if active { el / 4 } else { 0 }, "Bad Work": 0, "Best Share": if active { 41_127_493 } else { 0 },
                    "Current Block Height": if active { 920_127 } else { 0 }, "Current Block Version": if active { 536_870_912 } else { 0 },
                    "Diff1 Shares": 0, "Difficulty Accepted": 0.0, "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0,
                    "Discarded": 0, "Get Failures": 0, "Getworks": 0, "Has GBT": false, "Has Stratum": true,
                    "Last Share Difficulty": 0.0, "Last Share Time": 0, "Long Poll": "N", "POOL": i + 1,
                    "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Priority": p.priority, "Proxy": "", "Proxy Type": "",
                    "Quota": p.quota, "Rejected": 0, "Remote Failures": 0, "Stale": 0,
                    "Status": if p.enabled { "Alive" } else { "Disabled" }, "Stratum Active": active,
                    "Stratum Difficulty": 0.0, "Stratum URL": crate::fleet::pool_host(&p.url), "URL": p.url,
                    "User": p.user, "Work Difficulty": 0.0, "Works": 0,
                })
            } else {
                json!({
                    "Accepted": if active { el / 4 } else { 0 }, "POOL": i + 1, "Priority": p.priority, "Rejected": 0,
                    "Status": if p.enabled { "Alive" } else { "Disabled" }, "Stratum Active": active, "URL": p.url,
                    "User": p.user,
                })
            }
        })
        .collect()
}

fn devs(dev: &Device) -> Vec<Value> {
    let n = boards(dev);
    let el = dev.uptime();
    (0..n)
        .map(|i| {
            let mhs = dev.ghs(&format!("b{i}")) * 1000.0 / n as f64;
            let sn = format!("HTM5CSD{:013}", u32::from(dev.spec.address).wrapping_mul(7) as u64 * 10 + i as u64);
            if is_v1(dev) {
                json!({
                    "ASC": i, "Accepted": el / 12, "Chip Frequency": 650, "Chip Temp Avg": 83.3, "Chip Temp Max": 90.0,
                    "Chip Temp Min": 71.0, "Device Elapsed": el, "Device Hardware%": 0.0072, "Device Rejected%": 0.0,
                    "Diff1 Work": el * 20, "Difficulty Accepted": (el / 12 * 65_536) as f64, "Difficulty Rejected": 0.0,
                    "Effective Chips": 105, "Enabled": "Y", "Fan Speed In": 6480, "Fan Speed Out": 6510,
                    "Hardware Errors": 15, "ID": i, "Last Share Difficulty": 65_536.0, "Last Share Pool": 0,
                    "Last Share Time": cgminer::now(), "Last Valid Work": cgminer::now(), "MHS 15m": mhs, "MHS 1m": mhs,
                    "MHS 5m": mhs, "MHS 5s": mhs, "MHS av": mhs, "Name": "SM", "PCB SN": sn, "Rejected": 0, "Slot": i,
                    "Status": "Alive", "Temperature": 70.0, "Total MH": (mhs * el as f64).round(), "Upfreq Complete": 1,
                    "Utility": 4.7,
                })
            } else {
                json!({
                    "ASC": i, "Accepted": el / 12, "Chip Frequency": 600, "Chip Temp Avg": 71.5, "Chip Temp Max": 80.0,
                    "Chip Temp Min": 62.0, "Device Elapsed": el, "Effective Chips": 135, "Enabled": "Y",
                    "Factory GHS": (dev.spec.hashrate_ths * 1000.0 / n as f64).round() as u64, "Fan Speed In": 5400,
                    "Fan Speed Out": 5280, "Frequency": 600.0, "ID": i, "MHS av": mhs, "Name": "SM", "PCB SN": sn,
                    "Rejected": 0, "Slot": i, "Status": "Alive", "Temperature": 65.0 + i as f64,
                })
            }
        })
        .collect()
}

/// Serve one btminer request (plain or `{"enc":1,…}`).
fn serve_v2(dev: &Device, raw: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let cg_desc = "cgminer 4.9.2";
    // btminer's own replies (string STATUS) have no text form: they go out as JSON whatever was asked.
    let out = |v: Value, json: bool, line: String, kind: RequestKind| Outcome {
        reply: Some(cgminer::encode(&v, json || v["STATUS"].is_string())),
        log: vec![(line, kind)],
    };
    // btminer answers in JSON; a text request gets cgminer text for the cgminer-style reads.
    let (json, obj) = if text.starts_with('{') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(o)) => (true, o),
            _ => {
                return out(
                    wm("E", 23, json!("invalid JSON"), wm_desc(dev)),
                    true,
                    short(text),
                    RequestKind::Read,
                );
            }
        }
    } else {
        let (c, p) = text.split_once('|').map_or((text, None), |(c, p)| (c, Some(p)));
        let mut o = Map::new();
        o.insert("command".into(), json!(c.trim()));
        if let Some(p) = p {
            o.insert("parameter".into(), json!(p));
        }
        (false, o)
    };
    if obj.get("enc").is_some() {
        return encrypted(dev, &obj);
    }
    let cmd = obj
        .get("cmd")
        .or_else(|| obj.get("command"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    let line = match obj.get("parameter").and_then(Value::as_str) {
        Some(p) => format!("{cmd}|{p}"),
        None => cmd.clone(),
    };
    if cmd.contains('+') {
        // Joins as cgminer writes them ({"a":[{…}],"b":[{…}],"id":1}); pyasic joins the cgminer-style
        // reads and sends get_* and status on their own.
        let mut m = Map::new();
        let mut kind = RequestKind::Read;
        for part in cmd.split('+').filter(|p| !p.is_empty()).take(32) {
            let sub = serve_v2(dev, json!({ "command": part }).to_string().as_bytes());
            if sub.log.iter().any(|(_, k)| *k == RequestKind::StateChanging) {
                kind = RequestKind::StateChanging;
            }
            let v = sub
                .reply
                .and_then(|b| serde_json::from_slice::<Value>(b.strip_suffix(&[0]).unwrap_or(&b)).ok())
                .unwrap_or(Value::Null);
            m.insert(part.to_owned(), Value::Array(vec![v]));
        }
        m.insert("id".to_owned(), json!(1));
        return out(Value::Object(m), true, line, kind);
    }
    if WRITES.contains(&cmd.as_str()) {
        // Writes are ciphertext only: a plaintext one is refused whatever the switch says.
        return out(
            wm("E", 45, json!("permission denied"), wm_desc(dev)),
            json,
            line,
            RequestKind::StateChanging,
        );
    }
    let desc = wm_desc(dev);
    let v = match cmd.as_str() {
        "summary" => reply(
            status("S", 11, "Summary", cg_desc),
            Some(("SUMMARY", vec![summary(dev)])),
        ),
        "pools" => {
            let p = pools(dev);
            reply(
                status("S", 7, &format!("{} Pool(s)", p.len()), cg_desc),
                Some(("POOLS", p)),
            )
        }
        "devs" | "edevs" => {
            let d = devs(dev);
            reply(
                status("S", 9, &format!("{} ASC(s)", d.len()), cg_desc),
                Some(("DEVS", d)),
            )
        }
        "devdetails" => {
            let items: Vec<Value> = (0..boards(dev))
                .map(|i| json!({"DEVDETAILS": i, "Name": "SM", "ID": i, "Driver": "bitmicro", "Kernel": "", "Model": full_model(&dev.spec.model)}))
                .collect();
            reply(
                status("S", 69, "Device Details", cg_desc),
                Some(("DEVDETAILS", items)),
            )
        }
        "get_version" => {
            if is_v1(dev) {
                wm(
                    "S",
                    131,
                    json!({"api_ver": api_ver(dev), "fw_ver": dev.spec.firmware}),
                    desc,
                )
            } else {
                wm(
                    "S",
                    131,
                    json!({"api_ver": api_ver(dev), "fw_ver": dev.spec.firmware, "platform": "H616"}),
                    desc,
                )
            }
        }
        "version" if is_v1(dev) => wm("E", 14, json!("invalid cmd"), "whatsminer v1.1"),
        "version" => wm(
            "S",
            131,
            json!({"api_ver": api_ver(dev), "fw_ver": dev.spec.firmware, "platform": "H616"}),
            desc,
        ),
        "status" => {
            let off = !dev.lock().mining;
            if is_v1(dev) {
                wm(
                    "S",
                    131,
                    json!({"Firmware Version": format!("'{}'", dev.spec.firmware), "btmineroff": off.to_string()}),
                    desc,
                )
            } else {
                wm(
                    "S",
                    131,
                    json!({"FirmwareVersion": dev.spec.firmware, "hash_percent": "0", "mineroff": off.to_string(), "mineroff_reason": "", "mineroff_time": "", "power_limit_set": "3600", "power_mode": "normal"}),
                    desc,
                )
            }
        }
        "get_psu" => {
            if is_v1(dev) {
                wm(
                    "S",
                    131,
                    json!({"hw_version": "", "model": "P21-12-3600-E", "name": "P21", "sw_version": "102220.009"}),
                    desc,
                )
            } else {
                wm(
                    "S",
                    131,
                    json!({"fan_speed": "6000", "hw_version": "", "model": "P222B", "name": "P222B", "sw_version": "230208.220429"}),
                    desc,
                )
            }
        }
        "get_miner_info" => {
            let info = obj.get("info").and_then(Value::as_str).unwrap_or("");
            let mut m = Map::new();
            for k in [
                "ip", "proto", "netmask", "gateway", "dns", "hostname", "mac", "ledstat",
            ] {
                if !info.is_empty() && !info.split(',').any(|i| i.trim() == k) {
                    continue;
                }
                let v = match k {
                    "ip" => json!(dev.spec.address.to_string()),
                    "proto" => json!("dhcp"),
                    "netmask" => json!("255.255.255.0"),
                    "gateway" | "dns" => json!(""),
                    "hostname" => json!("WhatsMiner"),
                    "mac" => json!(dev.spec.mac),
                    _ => json!("auto"),
                };
                if info.is_empty() && !matches!(k, "hostname" | "mac" | "ledstat") {
                    continue;
                }
                m.insert(k.to_owned(), v);
            }
            wm("S", 131, Value::Object(m), desc)
        }
        "get_error_code" => wm("S", 131, json!({"error_code": []}), desc),
        "get_token" => {
            let mut st = dev.lock();
            let newsalt = st.fresh(&dev.spec.serial, 8);
            // Four digits, like the device's clock-derived value; deterministic per device and token.
            let time: String = st
                .fresh(&dev.spec.serial, 12)
                .bytes()
                .map(|b| char::from(b'0' + b % 10))
                .take(4)
                .collect();
            st.push_wm_token((time.clone(), newsalt.clone()));
            wm(
                "S",
                134,
                json!({"time": time, "salt": device_salt(dev), "newsalt": newsalt}),
                desc,
            )
        }
        _ => wm("E", 14, json!("invalid cmd"), desc),
    };
    out(v, json, line, RequestKind::Read)
}

fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

/// `host_passwd_md5` for the current password and the device salt.
fn passwd_md5(dev: &Device, password: &str) -> String {
    md5_crypt_hash(password.as_bytes(), &device_salt(dev))
}

/// An encrypted request: decrypt with the current password's key, check the token, obey the switch.
fn encrypted(dev: &Device, obj: &Map<String, Value>) -> Outcome {
    let desc = wm_desc(dev);
    let plain = |v: Value, line: &str, kind: RequestKind| Outcome {
        reply: Some(v.to_string().into_bytes()),
        log: vec![(line.to_owned(), kind)],
    };
    let password = dev.lock().password.clone();
    let hp = passwd_md5(dev, &password);
    let key = sha256(hp.as_bytes());
    let data = obj.get("data").and_then(Value::as_str).unwrap_or("");
    let Some(cipher) = unb64(data) else {
        return plain(
            wm("E", 137, json!("base64 error"), desc),
            "enc (bad base64)",
            RequestKind::Read,
        );
    };
    let cmd_obj = aes_ecb_decrypt(&key, &cipher)
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .and_then(|v| v.as_object().cloned());
    let Some(cmd_obj) = cmd_obj else {
        // Wrong key (wrong password): the plaintext is noise, so the device can do nothing with it;
        // like any unparsable input it is logged as a read. (A scanner's wrong-password control
        // probe lands here; what it encrypted is checked on the scanner's side.)
        return plain(
            wm("E", 135, json!("check token error"), desc),
            "enc (undecryptable)",
            RequestKind::Read,
        );
    };
    let cmd = cmd_obj
        .get("cmd")
        .or_else(|| cmd_obj.get("command"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let line = format!("enc:{cmd}");
    let kind = if WRITES.contains(&cmd.as_str()) {
        RequestKind::StateChanging
    } else {
        RequestKind::Read
    };
    let token = cmd_obj.get("token").and_then(Value::as_str).unwrap_or("");
    let valid = dev
        .lock()
        .wm_tokens
        .iter()
        .any(|(time, newsalt)| md5_crypt_hash(format!("{hp}{time}").as_bytes(), newsalt) == token);
    if !valid {
        return plain(wm("E", 135, json!("check token error"), desc), &line, kind);
    }
    if !dev.lock().api_write {
        return plain(wm("E", 45, json!("permission denied"), desc), &line, kind);
    }
    let s = |k: &str| cmd_obj.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let result = match cmd.as_str() {
        "update_pools" => {
            let mut st = dev.lock();
            let mut new = Vec::new();
            for i in 1..=3 {
                let url = s(&format!("pool{i}"));
                if !url.is_empty() {
                    new.push(PoolState::new(
                        &url,
                        &s(&format!("worker{i}")),
                        &s(&format!("passwd{i}")),
                        new.len(),
                    ));
                }
            }
            if !new.is_empty() {
                st.pools = new;
            }
            wm("S", 131, json!("Ok"), desc)
        }
        "power_off" => {
            dev.lock().mining = false;
            wm("S", 131, json!("Ok"), desc)
        }
        "power_on" | "restart_btminer" => {
            dev.lock().mining = true;
            wm("S", 131, json!("Ok"), desc)
        }
        "update_pwd" => {
            let (old, new) = (s("old"), s("new"));
            let mut st = dev.lock();
            if old == st.password && !new.is_empty() && new.len() <= 8 {
                st.password = new;
                wm("S", 131, json!("Ok"), desc)
            } else {
                wm("E", 132, json!("password error"), desc)
            }
        }
        c if WRITES.contains(&c) => wm("S", 131, json!("Ok"), desc),
        _ => wm("E", 14, json!("invalid cmd"), desc),
    };
    let enc = aes_ecb_encrypt(&key, result.to_string().as_bytes());
    plain(json!({"enc": b64(&enc)}), &line, kind)
}

fn web(dev: &Device, req: &Request) -> (Response, RequestKind) {
    let kind = if req.method == "GET" || req.method == "HEAD" {
        RequestKind::Read
    } else {
        RequestKind::StateChanging
    };
    if req.path() == "/" || req.path() == "/index.html" {
        let loc = format!("https://{}/", dev.spec.address);
        let body = page(
            "LuCI",
            &format!("<a href=\"{loc}cgi-bin/luci\">/cgi-bin/luci</a>"),
        );
        return (Response::html(307, &body).header("Location", &loc), kind);
    }
    if req.path().starts_with("/cgi-bin/luci") {
        return (
            Response::html(403, &page("LuCI", "<h2>Authorization Required</h2>")),
            kind,
        );
    }
    (Response::not_found(), kind)
}

impl Behaviour for Whatsminer {
    fn family(&self) -> Family {
        Family::Whatsminer
    }

    fn ports(&self, _spec: &DeviceSpec) -> Vec<Port> {
        vec![
            port(4028, Proto::Cgminer),
            port(80, Proto::Http),
            port(8889, Proto::Hold),
        ]
    }

    fn api(&self, dev: &Device, _peer: Ipv4Addr, _port: u16, raw: &[u8]) -> Outcome {
        serve_v2(dev, raw)
    }

    fn web(&self, dev: &Device, req: &Request) -> (Response, RequestKind) {
        web(dev, req)
    }

    fn server(&self) -> &'static str {
        "lighttpd/1.4.48"
    }

    fn ssh_banner(&self) -> &'static str {
        "SSH-2.0-dropbear_2019.78\r\n"
    }
}

/// The v3 salt reported by `get.device.info` (public: the password is the only secret).
fn v3_salt(dev: &Device) -> String {
    device_salt(dev)
}

/// The v3 write token: base64(sha256(cmd + password + salt + ts)), first 8 characters.
pub(crate) fn v3_token(cmd: &str, password: &str, salt: &str, ts: i64) -> String {
    let h = sha256(format!("{cmd}{password}{salt}{ts}").as_bytes());
    b64(&h).chars().take(8).collect()
}

fn v3_reply(code: i64, msg: Value, desc: &str) -> Value {
    json!({"code": code, "msg": msg, "desc": desc, "when": cgminer::now()})
}

fn serve_v3(dev: &Device, raw: &[u8]) -> Outcome {
    let done = |v: Value, line: String, kind: RequestKind| Outcome {
        reply: Some(v.to_string().into_bytes()),
        log: vec![(line, kind)],
    };
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(raw) else {
        let line: String = String::from_utf8_lossy(&raw[..raw.len().min(80)]).into_owned();
        return done(v3_reply(-1, json!("invalid json"), ""), line, RequestKind::Read);
    };
    let cmd = obj.get("cmd").and_then(Value::as_str).unwrap_or("").to_owned();
    let param = obj.get("param").cloned().unwrap_or(Value::Null);
    let line = match &param {
        Value::String(p) => format!("{cmd} {p}"),
        Value::Null => cmd.clone(),
        _ => format!("{cmd} …"),
    };
    if let Some(set) = cmd.strip_prefix("set.") {
        let (password, user) = (dev.lock().password.clone(), dev.spec.user().to_owned());
        let ts = obj.get("ts").and_then(Value::as_i64).unwrap_or(0);
        let account = obj.get("account").and_then(Value::as_str).unwrap_or("");
        let token = obj.get("token").and_then(Value::as_str).unwrap_or("");
        let salt = v3_salt(dev);
        if account != user || token != v3_token(&cmd, &password, &salt, ts) {
            return done(
                v3_reply(-2, json!("invalid token"), &cmd),
                line,
                RequestKind::StateChanging,
            );
        }
        match set {
            "miner.pools" => {
                let key = sha256(format!("{cmd}{password}{salt}{ts}").as_bytes());
                let list = match &param {
                    Value::String(s) => unb64(s)
                        .and_then(|c| aes_ecb_decrypt(&key, &c))
                        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
                        .unwrap_or(Value::Null),
                    other => other.clone(),
                };
                if let Some(items) = list.as_array() {
                    let s = |p: &Value, k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    let new: Vec<PoolState> = items
                        .iter()
                        .take(3)
                        .enumerate()
                        .map(|(i, p)| PoolState::new(&s(p, "pool"), &s(p, "worker"), &s(p, "passwd"), i))
                        .collect();
                    if !new.is_empty() {
                        dev.lock().pools = new;
                    }
                }
            }
            "miner.service" => {
                let stop = param.as_str() == Some("stop");
                dev.lock().mining = !stop;
            }
            _ => {}
        }
        return done(v3_reply(0, json!("ok"), &cmd), line, RequestKind::StateChanging);
    }
    let v = match cmd.as_str() {
        "get.device.info" => v3_reply(0, device_info(dev), "get.device.info"),
        "get.miner.status" => {
            let what = param.as_str().unwrap_or("summary");
            let mut m = Map::new();
            for w in what.split(',').map(str::trim) {
                let v = match w {
                    "summary" => v3_summary(dev),
                    "pools" => v3_pools(dev),
                    "edevs" => v3_edevs(dev),
                    _ => continue,
                };
                m.insert(w.to_owned(), v);
            }
            v3_reply(0, Value::Object(m), "get.miner.status")
        }
        _ => v3_reply(-1, json!("invalid command"), &cmd),
    };
    done(v, line, RequestKind::Read)
}

fn device_info(dev: &Device) -> Value {
    let hs = (dev.spec.hashrate_ths * 1000.0 / 3.0).round() as u64;
    let pcb: String = dev.spec.serial.chars().take(19).collect();
    json!({
        "miner": {
            "board-num": "3",
            "chipdata0": "K8EC374-2426 BINVE6-197806A",
            "chipdata1": "K8EC371-2426 BINVE6-197806A",
            "chipdata2": "K8EA379-2426 BINVE6-197806A",
            "detect-hash-rate": format!("{hs}:{hs}:{hs}"),
            "fast-boot": "disable",
            "hash-board": full_model(&dev.spec.model).rsplit('_').next().unwrap_or("").trim_start_matches('V'),
            "hash-percent": "0",
            "miner-sn": dev.spec.serial,
            "pcbsn0": format!("{pcb}0"),
            "pcbsn1": format!("{pcb}1"),
            "pcbsn2": format!("{pcb}2"),
            "pool-strategy": "FAILOVER",
            "type": full_model(&dev.spec.model),
            "working": dev.lock().mining.to_string(),
        },
        "network": {
            "dns": "",
            "gateway": "",
            "hostname": "WhatsMiner",
            "ip": dev.spec.address.to_string(),
            "mac": dev.spec.mac,
            "netmask": "255.255.255.0",
            "proto": "dhcp",
        },
        "power": {
            "fanspeed": 6344,
            "hwversion": "RT0159",
            "mode": "1",
            "model": "P221B",
            "sn": "1436B2429603097",
            "swversion": "230224.220429",
            "type": "P221B",
            "vendor": "1",
        },
        "salt": v3_salt(dev),
        "system": {
            "api": "3.0.2",
            "apiswitch": "1",
            "control-board-version": "CB6V10",
            "fwversion": dev.spec.firmware,
            "ledstatus": "auto",
            "platform": "H616",
        },
    })
}

fn v3_summary(dev: &Device) -> Value {
    let th = dev.ghs("av") / 1000.0;
    json!({
        "Debug": "",
        "board-temperature": [41.1, 40.1, 41.5],
        "bootup-time": 1323,
        "chip-temp-avg": 75.5,
        "chip-temp-max": 82.0,
        "chip-temp-min": 68.0,
        "elapsed": dev.uptime(),
        "environment-temperature": 28.5,
        "factory-hash": dev.spec.hashrate_ths,
        "fan-speed-in": 5400,
        "fan-speed-out": 5280,
        "freq-avg": 625,
        "hash-15min": th,
        "hash-1min": th,
        "hash-average": th,
        "hash-realtime": dev.ghs("5s") / 1000.0,
        "power-5min": (dev.spec.hashrate_ths * 17.1).round(),
        "power-limit": 3600,
        "power-rate": 17.6,
        "power-realtime": (dev.spec.hashrate_ths * 17.4).round(),
        "up-freq-finish": 1,
    })
}

fn v3_pools(dev: &Device) -> Value {
    let st = dev.lock();
    Value::Array(
        st.pools
            .iter()
            .enumerate()
            .map(|(i, p)| {
                json!({"account": p.user, "pool-priority": p.priority, "status": if p.enabled { "alive" } else { "disabled" }, "stratum-active": i == 0, "url": p.url})
            })
            .collect(),
    )
}

fn v3_edevs(dev: &Device) -> Value {
    Value::Array(
        (0..3)
            .map(|i| {
                let th = dev.ghs(&format!("b{i}")) / 3000.0;
                json!({"chip-temp-avg": 74.0, "chip-temp-max": 80.0, "chip-temp-min": 68.0, "effective-chips": 75, "factory-hash": dev.spec.hashrate_ths / 3.0, "freq": 625.0, "hash-average": th, "hash-realtime": th, "id": i, "status": "alive"})
            })
            .collect(),
    )
}

impl Behaviour for WhatsminerV3 {
    fn family(&self) -> Family {
        Family::WhatsminerV3
    }

    fn ports(&self, _spec: &DeviceSpec) -> Vec<Port> {
        vec![
            port(4433, Proto::LengthPrefixed),
            port(4028, Proto::Cgminer),
            port(80, Proto::Http),
        ]
    }

    fn api(&self, dev: &Device, _peer: Ipv4Addr, port: u16, raw: &[u8]) -> Outcome {
        if port != 4028 {
            return serve_v3(dev, raw);
        }
        // The legacy 4028 API of v3 firmware accepts and closes without a reply. pyasic's version lookup
        // relies on that: an empty answer on 4028 makes it go on to `get.device.info` on 4433.
        let line: String = String::from_utf8_lossy(&raw[..raw.len().min(80)])
            .trim_matches(char::from(0))
            .trim()
            .to_owned();
        Outcome {
            reply: None,
            log: vec![(line, RequestKind::Read)],
        }
    }

    fn web(&self, dev: &Device, req: &Request) -> (Response, RequestKind) {
        web(dev, req)
    }

    fn server(&self) -> &'static str {
        "lighttpd/1.4.48"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(fw: &str) -> Device {
        let mut s = DeviceSpec::new(Family::Whatsminer, Ipv4Addr::new(127, 77, 251, 1));
        s.firmware = fw.into();
        Device::new(s)
    }

    fn call(d: &Device, raw: &str) -> Value {
        let out = serve_v2(d, raw.as_bytes());
        let b = out.reply.unwrap();
        let b = b.strip_suffix(&[0]).unwrap_or(&b);
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn string_status_and_versions() {
        let d = dev("20230803.11.REL");
        let v = call(&d, r#"{"cmd":"get_version"}"#);
        assert_eq!(v["STATUS"], "S");
        assert_eq!(v["Msg"]["fw_ver"], "20230803.11.REL");
        let old = dev("20210322.22.REL");
        let v = call(&old, r#"{"command":"version"}"#);
        assert_eq!(v["Code"], 14);
        assert_eq!(v["Description"], "whatsminer v1.1");
        let v = call(&d, r#"{"command":"devdetails"}"#);
        assert_eq!(v["DEVDETAILS"][0]["Model"], "M50S_VH30");
    }

    #[test]
    fn token_and_encrypted_write() {
        let mut s = DeviceSpec::new(Family::Whatsminer, Ipv4Addr::new(127, 77, 251, 2));
        s.api_write = true;
        let d = Device::new(s);
        let t = call(&d, r#"{"cmd":"get_token"}"#);
        let (salt, newsalt, time) = (
            t["Msg"]["salt"].as_str().unwrap().to_owned(),
            t["Msg"]["newsalt"].as_str().unwrap().to_owned(),
            t["Msg"]["time"].as_str().unwrap().to_owned(),
        );
        let hp = md5_crypt_hash(b"admin", &salt);
        let sign = md5_crypt_hash(format!("{hp}{time}").as_bytes(), &newsalt);
        let key = sha256(hp.as_bytes());
        let cmd = json!({"cmd":"update_pools","pool1":"stratum+tcp://x:1","worker1":"w","passwd1":"p","token":sign});
        let req = json!({"enc":1,"data": b64(&aes_ecb_encrypt(&key, cmd.to_string().as_bytes()))});
        let out = serve_v2(&d, req.to_string().as_bytes());
        assert_eq!(out.log[0].1, RequestKind::StateChanging);
        let v: Value = serde_json::from_slice(&out.reply.unwrap()).unwrap();
        let plain = aes_ecb_decrypt(&key, &unb64(v["enc"].as_str().unwrap()).unwrap()).unwrap();
        let r: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(r["Code"], 131);
        assert_eq!(d.lock().pools[0].url, "stratum+tcp://x:1");
    }

    #[test]
    fn v3_token_check() {
        let d = Device::new(DeviceSpec::new(
            Family::WhatsminerV3,
            Ipv4Addr::new(127, 77, 251, 3),
        ));
        let info: Value =
            serde_json::from_slice(&serve_v3(&d, br#"{"cmd":"get.device.info"}"#).reply.unwrap()).unwrap();
        let salt = info["msg"]["salt"].as_str().unwrap();
        let tok = v3_token("set.miner.service", "super", salt, 1000);
        let ok = json!({"cmd":"set.miner.service","param":"stop","ts":1000,"account":"super","token":tok});
        let v: Value =
            serde_json::from_slice(&serve_v3(&d, ok.to_string().as_bytes()).reply.unwrap()).unwrap();
        assert_eq!(v["code"], 0);
        assert!(!d.lock().mining);
        let bad =
            json!({"cmd":"set.miner.service","param":"start","ts":1000,"account":"super","token":"AAAAAAAA"});
        let out = serve_v3(&d, bad.to_string().as_bytes());
        assert_eq!(out.log[0].1, RequestKind::StateChanging);
        let v: Value = serde_json::from_slice(&out.reply.unwrap()).unwrap();
        assert_ne!(v["code"], 0);
    }
}
