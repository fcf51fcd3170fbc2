//! Stock Bitmain Antminer (bmminer): cgminer API on 4028 and the digest-protected web CGI on 80.
//!
//! Reply shapes follow the asic-rs `antminer/v2020` captures (version, summary, pools, devs, stats,
//! system_info); values come from the device spec. The web realm, endpoints and default root/root follow
//! the protocol brief §1.8.

use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use super::{Behaviour, Proto, page, port};
use crate::cgminer::{self, Answer, Dialect, Outcome, reply, status};
use crate::device::Device;
use crate::fleet::{DeviceSpec, Family, Port};
use crate::http::{Request, Response, digest_challenge, digest_ok};
use crate::log::RequestKind;

/// The digest realm of the stock web UI.
pub(crate) const REALM: &str = "antMiner Configuration";

/// Stock Antminer.
pub(crate) struct Antminer;

/// The bmminer dialect, shared with Vnish (which only changes the description and `Type`).
pub(crate) struct Bmminer {
    pub(crate) vnish: bool,
}

/// `(BMMiner version, Miner version)` by model generation.
fn versions(model: &str) -> (&'static str, &'static str) {
    let m = model.to_ascii_uppercase();
    if m.contains(" S9") || m.contains(" T9") {
        ("2.0.0", "16.8.1.3")
    } else if m.contains("17") {
        ("1.0.0", "19.2.0.3")
    } else if m.contains("21") {
        ("1.0.0", "77.0.1.3")
    } else {
        ("1.0.0", "49.0.1.3")
    }
}

/// Hash boards and chips per board by model generation.
pub(crate) fn chains(model: &str) -> (usize, u32) {
    let m = model.to_ascii_uppercase();
    if m.contains(" S9") {
        (3, 63)
    } else if m.contains("17") {
        (3, 48)
    } else if m.contains("XP") {
        (3, 110)
    } else if m.contains("21") {
        (3, 108)
    } else if m.contains("19J") {
        (3, 126)
    } else {
        (3, 114)
    }
}

impl Bmminer {
    fn type_name(&self, dev: &Device) -> String {
        if self.vnish {
            format!("{} (Vnish {})", dev.spec.model, dev.spec.firmware)
        } else {
            dev.spec.model.clone()
        }
    }

    fn compile_time(&self, dev: &Device) -> String {
        if self.vnish {
            "Mon Jan 15 12:00:00 UTC 2024".to_owned()
        } else {
            dev.spec.firmware.clone()
        }
    }
}

impl Dialect for Bmminer {
    fn description(&self, _dev: &Device) -> String {
        "cgminer 1.0.0".to_owned()
    }

    fn answer(&self, dev: &Device, cmd: &str, _param: Option<&str>) -> Answer {
        let desc = self.description(dev);
        let (bm, miner) = versions(&dev.spec.model);
        let ok = |code: u32, msg: &str| status("S", code, msg, &desc);
        let v = match cmd {
            "version" => {
                let mut item = json!({
                    "API": "3.1",
                    "BMMiner": bm,
                    "CompileTime": self.compile_time(dev),
                    "Miner": miner,
                    "Type": self.type_name(dev),
                });
                if self.vnish {
                    // No vendor capture of Vnish `version` is at hand. pyasic tests RPC text for VNISH only
                    // after ANTMINER, and reads the Vnish model from `stats`: so `version` here names the
                    // firmware without the stock "Antminer" word (stats keeps "Antminer … (Vnish x)").
                    let short = dev.spec.model.trim_start_matches("Antminer ");
                    item["Type"] = json!(format!("{short} (Vnish {})", dev.spec.firmware));
                    item["Miner"] = json!(format!("VNISH {}", dev.spec.firmware));
                }
                reply(ok(22, "CGMiner versions"), Some(("VERSION", vec![item])))
            }
            "summary" => reply(ok(11, "Summary"), Some(("SUMMARY", vec![summary(dev)]))),
            "pools" => reply(
                ok(7, &format!("{} Pool(s)", dev.lock().pools.len())),
                Some(("POOLS", pools(dev))),
            ),
            "devs" => reply(ok(9, "1 ASC(s)"), Some(("DEVS", vec![devs(dev)]))),
            "stats" => {
                let head = json!({
                    "BMMiner": bm,
                    "CompileTime": self.compile_time(dev),
                    "Miner": miner,
                    "Type": self.type_name(dev),
                });
                reply(
                    ok(70, "CGMiner stats"),
                    Some(("STATS", vec![head, stats(dev, miner)])),
                )
            }
            "devdetails" => reply(
                ok(69, "Device Details"),
                Some((
                    "DEVDETAILS",
                    vec![
                        json!({"DEVDETAILS":0,"Name":"BTM_SOC","ID":0,"Driver":"bitmain_soc","Kernel":"","Model":dev.spec.model,"Device Path":""}),
                    ],
                )),
            ),
            "config" => reply(ok(33, "CGMiner config"), Some(("CONFIG", vec![config(dev)]))),
            "coin" => reply(ok(78, "CGMiner coin"), Some(("COIN", vec![coin()]))),
            _ => return Answer::Standard,
        };
        Answer::Reply(v)
    }
}

/// The SUMMARY item of bmminer.
pub(crate) fn summary(dev: &Device) -> Value {
    let el = dev.uptime();
    let ghs = dev.ghs("5s");
    let av = dev.ghs("av");
    let acc = el / 12;
    json!({
        "Accepted": acc,
        "Best Share": 12_904_207_043u64,
        "Device Hardware%": 0.0,
        "Device Rejected%": 0.0,
        "Difficulty Accepted": (acc * 323_000) as f64,
        "Difficulty Rejected": 2_490_368.0,
        "Difficulty Stale": 0.0,
        "Discarded": el * 90,
        "Elapsed": el,
        "Found Blocks": 0,
        "GHS 30m": dev.ghs("30m"),
        "GHS 5s": ghs,
        "GHS av": av,
        "Get Failures": 1,
        "Getwork": el / 12,
        "Hardware Errors": el / 90,
        "Last getwork": cgminer::now(),
        "Local Work": el * 90,
        "Network Blocks": el / 600,
        "Pool Rejected%": 0.0,
        "Pool Stale%": 0.0,
        "Rejected": 11,
        "Remote Failures": 0,
        "Stale": 1,
        "Total MH": (av * 1000.0 * el as f64).round(),
        "Utility": 4.82,
        "Work Utility": (av * 13.9).round(),
    })
}

/// The POOLS items of bmminer.
pub(crate) fn pools(dev: &Device) -> Vec<Value> {
    let st = dev.lock();
    let el = dev.uptime();
    let mut sorted: Vec<(usize, &crate::device::PoolState)> = st.pools.iter().enumerate().collect();
    sorted.sort_by_key(|(_, p)| p.priority);
    let active = sorted.iter().find(|(_, p)| p.enabled).map(|(i, _)| *i);
    st.pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let is_active = Some(i) == active && st.mining;
            let host = crate::fleet::pool_host(&p.url);
            json!({
                "Accepted": if is_active { el / 12 } else { 0 },
                "Best Share": if is_active { 12_904_207_043.0 } else { 0.0 },
                "Diff": if is_active { "524K" } else { "" },
                "Diff1 Shares": 0,
                "Difficulty Accepted": if is_active { (el / 12 * 323_000) as f64 } else { 0.0 },
                "Difficulty Rejected": 0.0,
                "Difficulty Stale": 0.0,
                "Discarded": if is_active { el * 90 } else { 0 },
                "Get Failures": 0,
                "Getworks": if is_active { el / 12 } else { 3 },
                "Has GBT": false,
                "Has Stratum": true,
                "Last Share Difficulty": if is_active { 524_288.0 } else { 0.0 },
                "Last Share Time": if is_active { "0:00:03" } else { "0" },
                "Long Poll": "N",
                "POOL": i,
                "Pool Rejected%": 0.0,
                "Pool Stale%%": 0.0,
                "Priority": p.priority,
                "Proxy": "",
                "Proxy Type": "",
                "Quota": p.quota,
                "Rejected": 0,
                "Remote Failures": 0,
                "Stale": 0,
                "Status": if p.enabled { "Alive" } else { "Disabled" },
                "Stratum Active": is_active,
                "Stratum URL": if is_active { host } else { "" },
                "URL": p.url,
                "User": p.user,
            })
        })
        .collect()
}

fn devs(dev: &Device) -> Value {
    let el = dev.uptime();
    json!({
        "ASC": 0,
        "Accepted": el / 12,
        "Device Elapsed": el,
        "Device Hardware%": 0.0,
        "Device Rejected%": 0.0,
        "Diff1 Work": 0,
        "Difficulty Accepted": el / 12 * 323_000,
        "Difficulty Rejected": 2_490_368,
        "Enabled": "Y",
        "Hardware Errors": 0,
        "ID": 0,
        "Last Share Difficulty": cgminer::now(),
        "Last Share Pool": 0,
        "Last Share Time": cgminer::now(),
        "Last Valid Work": cgminer::now(),
        "MHS 5s": 0.0,
        "MHS av": 0.0,
        "Name": "BTM_SOC",
        "Rejected": 11,
        "Status": "Alive",
        "Tenperature": 0.0,
        "Total MH": 0.0,
        "Utility": 0.0,
    })
}

/// The second STATS item: per-chain rates, chips, temperatures and fans (always four chain slots).
pub(crate) fn stats(dev: &Device, miner: &str) -> Value {
    let (n, chips) = chains(&dev.spec.model);
    let total = dev.ghs("av");
    let mut m = Map::new();
    let put = |m: &mut Map<String, Value>, k: String, v: Value| {
        m.insert(k, v);
    };
    put(&mut m, "Calls".into(), json!(0));
    put(&mut m, "Elapsed".into(), json!(dev.uptime()));
    put(&mut m, "GHS 5s".into(), json!(dev.ghs("5s")));
    put(&mut m, "GHS av".into(), json!(total));
    put(&mut m, "ID".into(), json!("BTM_SOC0"));
    put(&mut m, "Max".into(), json!(0));
    put(&mut m, "Min".into(), json!(99_999_999));
    put(&mut m, "Mode".into(), json!(2));
    put(&mut m, "STATS".into(), json!(0));
    put(&mut m, "Wait".into(), json!(0));
    let row: String = " ooo".repeat(chips as usize / 3);
    for c in 1..=4usize {
        let live = c <= n;
        let rate = total / n as f64 * (0.97 + 0.06 * dev.jitter(&format!("chain{c}")));
        put(
            &mut m,
            format!("chain_acn{c}"),
            json!(if live { chips } else { 0 }),
        );
        put(
            &mut m,
            format!("chain_acs{c}"),
            json!(if live { row.clone() } else { String::new() }),
        );
        put(
            &mut m,
            format!("chain_hw{c}"),
            json!(if live { 180 + c as u32 * 5 } else { 0 }),
        );
        put(
            &mut m,
            format!("chain_rate{c}"),
            json!(if live { format!("{rate:.2}") } else { String::new() }),
        );
        put(&mut m, format!("fan{c}"), json!(5040 + 240 * (c as u32 % 3)));
        put(&mut m, format!("freq{c}"), json!(if live { 525 } else { 0 }));
        let t = 60 + c as u32 * 2;
        let quad = |off: u32| {
            if live {
                format!("{}-{}-{}-{}", t + off, t - 15 + off, t + 5 + off, t + 6 + off)
            } else {
                "0-0-0-0".into()
            }
        };
        put(&mut m, format!("temp_chip{c}"), json!(quad(10)));
        put(&mut m, format!("temp_pcb{c}"), json!(quad(0)));
        put(
            &mut m,
            format!("temp_pic{c}"),
            json!(
                quad(0)
                    .split('-')
                    .map(|v| v.parse::<u32>().unwrap_or(0).saturating_sub(10).to_string())
                    .collect::<Vec<_>>()
                    .join("-")
            ),
        );
        if c <= 3 {
            put(&mut m, format!("temp{c}"), json!(if live { t + 5 } else { 0 }));
            put(&mut m, format!("temp2_{c}"), json!(if live { t + 12 } else { 0 }));
        }
    }
    put(&mut m, "fan_num".into(), json!(4));
    put(&mut m, "frequency".into(), json!(525));
    put(&mut m, "miner_count".into(), json!(n));
    put(
        &mut m,
        "miner_id".into(),
        json!(hex::encode(
            &crate::crypto::sha256(dev.spec.serial.as_bytes())[..8]
        )),
    );
    put(&mut m, "miner_version".into(), json!(miner));
    put(&mut m, "no_matching_work".into(), json!(562));
    put(&mut m, "rate_30m".into(), json!(dev.ghs("30m")));
    put(&mut m, "rate_unit".into(), json!("GH"));
    put(&mut m, "temp_max".into(), json!(0));
    put(&mut m, "temp_num".into(), json!(n));
    put(&mut m, "total rate".into(), json!(total));
    put(&mut m, "total_acn".into(), json!(n as u32 * chips));
    put(&mut m, "total_freqavg".into(), json!(525));
    put(
        &mut m,
        "total_rateideal".into(),
        json!(dev.spec.hashrate_ths * 1000.0),
    );
    Value::Object(m)
}

fn config(dev: &Device) -> Value {
    json!({
        "ASC Count": chains(&dev.spec.model).0,
        "Device Code": "",
        "Hotplug": "None",
        "Log Interval": 5,
        "OS": "Linux",
        "PGA Count": 0,
        "Pool Count": dev.lock().pools.len(),
        "Strategy": "Failover",
    })
}

fn coin() -> Value {
    json!({
        "Current Block Hash": "00000000000000000001b4a7c8e1d2f3a4b5c6d7e8f90a1b2c3d4e5f60718293",
        "Current Block Time": 1_755_615_000.25,
        "Hash Method": "sha256",
        "LP": true,
        "Network Difficulty": 126_271_255_279_306.98,
    })
}

/// `bmminer.conf` as `get_miner_conf.cgi` returns it (always three pool slots).
pub(crate) fn miner_conf(dev: &Device) -> Value {
    let st = dev.lock();
    let mut pools: Vec<Value> = st
        .pools
        .iter()
        .take(3)
        .map(|p| json!({"url": p.url, "user": p.user, "pass": p.password}))
        .collect();
    while pools.len() < 3 {
        pools.push(json!({"url": "", "user": "", "pass": ""}));
    }
    json!({
        "pools": pools,
        "api-listen": true,
        "api-network": true,
        "api-groups": dev.spec.api_groups,
        "api-allow": dev.spec.api_allow,
        "bitmain-fan-ctrl": false,
        "bitmain-fan-pwm": "100",
        "bitmain-use-vil": true,
        "bitmain-freq": "525",
        "bitmain-voltage": "1320",
        "bitmain-ccdelay": "0",
        "bitmain-pwth": "0",
        "bitmain-work-mode": "0",
        "bitmain-freq-level": "100",
    })
}

/// Web paths that change the device.
const WRITE_PATHS: &[&str] = &[
    "/cgi-bin/set_miner_conf.cgi",
    "/cgi-bin/reboot.cgi",
    "/cgi-bin/passwd.cgi",
    "/cgi-bin/reset_conf.cgi",
    "/cgi-bin/upgrade.cgi",
    "/cgi-bin/set_network_conf.cgi",
    "/cgi-bin/blink.cgi",
];

/// The stock web digest nonce: stable per device and boot, so clients reuse it with increasing nc.
fn nonce(dev: &Device) -> String {
    crate::crypto::md5_hex(format!("{}:{}:nonce", dev.spec.address, dev.boot).as_bytes())
}

fn web_status(msg: &str) -> Value {
    json!({"STATUS":"S","when":cgminer::now(),"Msg":msg,"api_version":"1.0.0"})
}

fn web_info(dev: &Device) -> Value {
    let (_, miner) = versions(&dev.spec.model);
    json!({"miner_version": miner, "CompileTime": dev.spec.firmware, "type": dev.spec.model})
}

/// The stock CGI (shared by nothing else: Vnish and LuxOS have their own web UIs).
fn cgi(dev: &Device, req: &Request) -> Response {
    let path = req.path();
    let el = dev.uptime();
    let body = match path {
        "/" | "/index.html" => {
            return Response::html(
                200,
                &page(
                    "Antminer",
                    "<div id=\"app\">antMiner Configuration</div><script src=\"/js/index.js\"></script>",
                ),
            );
        }
        "/cgi-bin/get_system_info.cgi" => json!({
            "dnsservers": "",
            "firmware_type": "Release",
            "gateway": "",
            "hostname": "Antminer",
            "ipaddress": dev.spec.address.to_string(),
            "macaddr": dev.spec.mac,
            "minertype": dev.spec.model,
            "netdevice": "eth0",
            "netmask": "255.255.255.0",
            "nettype": "DHCP",
            "serinum": dev.spec.serial,
            "system_filesystem_version": dev.spec.firmware,
            "system_kernel_version": "Linux 4.9.113 #1 SMP PREEMPT",
            "system_mode": "GNU/Linux",
        }),
        "/cgi-bin/get_miner_conf.cgi" => miner_conf(dev),
        "/cgi-bin/miner_type.cgi" => {
            json!({"miner_type": dev.spec.model, "subtype": "", "fw_version": dev.spec.firmware})
        }
        "/cgi-bin/summary.cgi" => json!({
            "STATUS": web_status("summary"),
            "INFO": web_info(dev),
            "SUMMARY": [{
                "elapsed": el,
                "rate_5s": dev.ghs("5s"),
                "rate_30m": dev.ghs("30m"),
                "rate_avg": dev.ghs("av"),
                "rate_ideal": dev.spec.hashrate_ths * 1000.0,
                "rate_unit": "GH/s",
                "hw_all": el / 90,
                "bestshare": 12_904_207_043u64,
                "status": [
                    {"type": "rate", "status": "s", "code": 0, "msg": ""},
                    {"type": "network", "status": "s", "code": 0, "msg": ""},
                    {"type": "fans", "status": "s", "code": 0, "msg": ""},
                    {"type": "temp", "status": "s", "code": 0, "msg": ""},
                ],
            }],
        }),
        "/cgi-bin/pools.cgi" => {
            let pools: Vec<Value> = pools(dev)
                .into_iter()
                .map(|p| {
                    json!({
                        "index": p["POOL"], "url": p["URL"], "user": p["User"], "status": p["Status"],
                        "priority": p["Priority"], "getworks": p["Getworks"], "accepted": p["Accepted"],
                        "rejected": p["Rejected"], "discarded": p["Discarded"], "stale": p["Stale"],
                        "diff": p["Diff"], "diff1": 0, "diffa": p["Difficulty Accepted"], "diffr": 0, "diffs": 0,
                        "lsdiff": p["Last Share Difficulty"], "lstime": p["Last Share Time"],
                    })
                })
                .collect();
            json!({"STATUS": web_status("pools"), "INFO": web_info(dev), "POOLS": pools})
        }
        "/cgi-bin/stats.cgi" => {
            let (n, chips) = chains(&dev.spec.model);
            let chain: Vec<Value> = (0..n)
                .map(|i| {
                    json!({
                        "index": i, "freq_avg": 525, "rate_ideal": dev.spec.hashrate_ths * 1000.0 / n as f64,
                        "rate_real": dev.ghs(&format!("chain{i}")) / n as f64, "asic_num": chips,
                        "temp_pic": [50, 51, 60, 61], "temp_pcb": [60, 61, 70, 71], "temp_chip": [70, 71, 80, 81],
                        "hw": 180, "eeprom_loaded": true, "sn": format!("{}{i}", dev.spec.serial),
                    })
                })
                .collect();
            json!({"STATUS": web_status("stats"), "INFO": web_info(dev), "STATS": [{
                "elapsed": el, "rate_5s": dev.ghs("5s"), "rate_30m": dev.ghs("30m"), "rate_avg": dev.ghs("av"),
                "rate_ideal": dev.spec.hashrate_ths * 1000.0, "rate_unit": "GH/s", "chain_num": n, "fan_num": 4,
                "fan": [5040, 5280, 5040, 5280], "hwp_total": 0.0, "miner-mode": 0, "freq-level": 100, "chain": chain,
            }]})
        }
        "/cgi-bin/get_network_info.cgi" => json!({
            "nettype": "DHCP", "netdevice": "eth0", "macaddr": dev.spec.mac, "ipaddress": dev.spec.address.to_string(),
            "netmask": "255.255.255.0", "conf_nettype": "DHCP", "conf_hostname": "Antminer", "conf_ipaddress": "",
            "conf_netmask": "", "conf_gateway": "", "conf_dnsservers": "",
        }),
        "/cgi-bin/get_blink_status.cgi" => json!({"blink": false}),
        "/cgi-bin/set_miner_conf.cgi"
        | "/cgi-bin/reboot.cgi"
        | "/cgi-bin/reset_conf.cgi"
        | "/cgi-bin/blink.cgi"
        | "/cgi-bin/set_network_conf.cgi" => {
            if req.method != "POST" {
                return Response::html(405, "Method Not Allowed");
            }
            if path == "/cgi-bin/set_miner_conf.cgi" {
                apply_conf(dev, req);
            }
            if path == "/cgi-bin/reboot.cgi" {
                dev.lock().mining = false;
            }
            json!({"stats": "success", "code": "M000", "msg": "OK!"})
        }
        "/cgi-bin/passwd.cgi" => {
            let body = super::json_body(req).unwrap_or_default();
            let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let mut st = dev.lock();
            if s("curPwd") == st.password && !s("newPwd").is_empty() && s("newPwd") == s("confirmPwd") {
                st.password = s("newPwd");
                json!({"stats": "success", "code": "P000", "msg": "OK!"})
            } else {
                json!({"stats": "error", "code": "P001", "msg": "Incorrect password!"})
            }
        }
        "/cgi-bin/upgrade.cgi" => json!({"stats": "error", "code": "U004", "msg": "Invalid upgrade image!"}),
        _ => return Response::not_found(),
    };
    Response::json(200, &body)
}

/// `set_miner_conf.cgi`: take the pools of the posted config.
fn apply_conf(dev: &Device, req: &Request) {
    let Some(body) = super::json_body(req) else { return };
    let Some(pools) = body.get("pools").and_then(Value::as_array) else {
        return;
    };
    let mut st = dev.lock();
    let s = |p: &Value, k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let new: Vec<crate::device::PoolState> = pools
        .iter()
        .filter(|p| !s(p, "url").is_empty())
        .take(3)
        .enumerate()
        .map(|(i, p)| crate::device::PoolState::new(&s(p, "url"), &s(p, "user"), &s(p, "pass"), i))
        .collect();
    if !new.is_empty() {
        st.pools = new;
    }
}

impl Behaviour for Antminer {
    fn family(&self) -> Family {
        Family::Antminer
    }

    fn ports(&self, _spec: &DeviceSpec) -> Vec<Port> {
        vec![port(4028, Proto::Cgminer), port(80, Proto::Http)]
    }

    fn api(&self, dev: &Device, peer: Ipv4Addr, _port: u16, raw: &[u8]) -> Outcome {
        cgminer::serve(&Bmminer { vnish: false }, dev, peer, raw)
    }

    fn web(&self, dev: &Device, req: &Request) -> (Response, RequestKind) {
        let kind = if WRITE_PATHS.contains(&req.path()) {
            RequestKind::StateChanging
        } else {
            RequestKind::Read
        };
        let n = nonce(dev);
        let password = dev.lock().password.clone();
        if !digest_ok(req, REALM, &n, dev.spec.user(), &password) {
            let resp = Response::html(401, &page("401 Unauthorized", "<h1>401 Unauthorized</h1>"))
                .header("WWW-Authenticate", &digest_challenge(REALM, &n));
            return (resp, kind);
        }
        (cgi(dev, req), kind)
    }

    fn server(&self) -> &'static str {
        "lighttpd/1.4.32"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device::new(DeviceSpec::new(Family::Antminer, Ipv4Addr::new(127, 77, 250, 1)))
    }

    fn json_reply(d: &Device, raw: &[u8]) -> Value {
        let out = Antminer.api(d, Ipv4Addr::LOCALHOST, 4028, raw);
        let bytes = out.reply.expect("a reply");
        assert_eq!(bytes.last(), Some(&0), "trailing NUL");
        serde_json::from_slice(&bytes[..bytes.len() - 1]).unwrap()
    }

    #[test]
    fn version_shape_and_values() {
        let v = json_reply(&dev(), br#"{"command":"version"}"#);
        assert_eq!(v["STATUS"][0]["Code"], 22);
        assert_eq!(v["STATUS"][0]["Description"], "cgminer 1.0.0");
        assert_eq!(v["VERSION"][0]["Type"], "Antminer S19 Pro");
        assert_eq!(v["VERSION"][0]["BMMiner"], "1.0.0");
    }

    #[test]
    fn stock_denies_privileged_and_devdetails() {
        let d = dev();
        let v = json_reply(&d, br#"{"command":"privileged"}"#);
        assert_eq!(v["STATUS"][0]["Code"], 45);
        assert_eq!(v["STATUS"][0]["Msg"], "Access denied to 'privileged' command");
        let v = json_reply(&d, br#"{"command":"devdetails"}"#);
        assert_eq!(v["STATUS"][0]["Code"], 45);
        let out = Antminer.api(&d, Ipv4Addr::LOCALHOST, 4028, b"addpool|stratum+tcp://evil:1,u,p");
        assert_eq!(out.log[0].1, RequestKind::StateChanging);
        assert_eq!(d.lock().pools.len(), 1, "denied write changes nothing");
    }

    #[test]
    fn open_api_accepts_writes() {
        let mut s = DeviceSpec::new(Family::Antminer, Ipv4Addr::new(127, 77, 250, 2));
        s.api_allow = "W:0/0".into();
        let d = Device::new(s);
        let v = json_reply(&d, br#"{"command":"privileged"}"#);
        assert_eq!(v["STATUS"][0]["Code"], 46);
        let v = json_reply(
            &d,
            br#"{"command":"addpool","parameter":"stratum+tcp://evil:1,u,p"}"#,
        );
        assert_eq!(v["STATUS"][0]["Code"], 55);
        assert_eq!(d.lock().pools.len(), 2);
        let v = json_reply(&d, br#"{"command":"pools"}"#);
        assert_eq!(v["POOLS"][1]["URL"], "stratum+tcp://evil:1");
    }

    #[test]
    fn conf_carries_access_rules() {
        let c = miner_conf(&dev());
        assert_eq!(c["api-allow"], "A:0/0,W:*");
        assert_eq!(c["pools"].as_array().unwrap().len(), 3);
    }
}
