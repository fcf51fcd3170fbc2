//! Braiins OS (BOSer) on Antminer hardware: a cgminer-compatible subset on 4028 (with pool writes), the web
//! UI on 80 with the REST API (`/api/v1/auth/login` → token, bearer reads, writes), GraphQL for older
//! releases, and gRPC's 50051 held open.
//!
//! Shapes follow the asic-rs `braiins/*/version.json` (BOSer) and `braiins/v25_07/*.json` (REST) captures.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::antminer;
use super::{Behaviour, Proto, page, port};
use crate::cgminer::{self, Answer, Dialect, Outcome, reply, status};
use crate::device::{Device, State};
use crate::fleet::{DeviceSpec, Family, Port, braiins_version};
use crate::http::{Request, Response};
use crate::log::RequestKind;

/// Braiins OS.
pub(crate) struct Braiins;

struct Cg;

/// The cgminer commands BOSer answers.
const SUBSET: &[&str] = &[
    "addpool",
    "asc",
    "asccount",
    "check",
    "coin",
    "config",
    "devdetails",
    "devs",
    "disablepool",
    "edevs",
    "enablepool",
    "estats",
    "pools",
    "removepool",
    "stats",
    "summary",
    "switchpool",
    "version",
];

fn boser(dev: &Device) -> String {
    let h = crate::crypto::md5_hex(dev.spec.firmware.as_bytes());
    let flavour = if braiins_version(&dev.spec.firmware) < (22, 0) {
        "openwrt"
    } else {
        "buildroot"
    };
    format!("boser-{flavour} 0.1.0-{}", &h[..8])
}

impl Dialect for Cg {
    fn description(&self, dev: &Device) -> String {
        format!("BOSer {}", boser(dev))
    }

    fn has_standard(&self, name: &str) -> bool {
        SUBSET.contains(&name)
    }

    fn answer(&self, dev: &Device, cmd: &str, _param: Option<&str>) -> Answer {
        let d = self.description(dev);
        let ok = |code: u32, msg: &str| status("S", code, msg, &d);
        let v = match cmd {
            "version" => reply(
                ok(22, "BOSer versions"),
                Some(("VERSION", vec![json!({"API": "3.7", "BOSer": boser(dev)})])),
            ),
            // BOSer's summary is cgminer 4.x's (MHS figures), as Avalon's is.
            "summary" => reply(
                ok(11, "Summary"),
                Some(("SUMMARY", vec![super::avalon::summary(dev)])),
            ),
            "pools" => {
                let p = antminer::pools(dev);
                reply(ok(7, &format!("{} Pool(s)", p.len())), Some(("POOLS", p)))
            }
            "devdetails" => {
                let items: Vec<Value> = (0..antminer::chains(&dev.spec.model).0)
                    .map(|i| json!({"DEVDETAILS": i, "Name": "", "ID": i, "Driver": "", "Kernel": "", "Model": dev.spec.model, "Device Path": ""}))
                    .collect();
                reply(ok(69, "Device Details"), Some(("DEVDETAILS", items)))
            }
            "devs" | "edevs" => {
                let n = antminer::chains(&dev.spec.model).0;
                let items: Vec<Value> = (0..n)
                    .map(|i| {
                        let mhs = dev.ghs(&format!("b{i}")) * 1000.0 / n as f64;
                        json!({"ASC": i, "Name": "", "ID": i, "Enabled": "Y", "Status": "Alive", "Temperature": 62.0, "MHS av": mhs, "MHS 5s": mhs, "MHS 1m": mhs, "MHS 5m": mhs, "MHS 15m": mhs, "Accepted": dev.uptime() / 30, "Rejected": 0, "Hardware Errors": 0, "Utility": 0.0, "Last Share Pool": 0, "Last Share Time": cgminer::now(), "Total MH": mhs, "Device Elapsed": dev.uptime()})
                    })
                    .collect();
                reply(ok(9, &format!("{n} ASC(s)")), Some(("DEVS", items)))
            }
            "stats" | "estats" => reply(
                ok(70, "BOSer stats"),
                Some((
                    "STATS",
                    vec![
                        json!({"STATS": 0, "ID": "BOSer0", "Elapsed": dev.uptime(), "Calls": 0, "Wait": 0.0, "Max": 0.0, "Min": 99_999_999.0}),
                    ],
                )),
            ),
            "config" => reply(
                ok(33, "BOSer config"),
                Some((
                    "CONFIG",
                    vec![
                        json!({"ASC Count": 3, "PGA Count": 0, "Pool Count": dev.lock().pools.len(), "Strategy": "Failover", "Log Interval": 5, "Device Code": "", "OS": "Braiins OS", "Hotplug": "None"}),
                    ],
                )),
            ),
            _ => return Answer::Standard,
        };
        Answer::Reply(v)
    }
}

fn details(dev: &Device) -> Value {
    json!({
        "bos_mode": 4,
        "bos_version": {"bos_plus": true, "current": format!("2025-08-06-0-3881c51d-{}-plus", dev.spec.firmware.rsplit(' ').next().unwrap_or("")), "major": "2022-09-13-0-11012d53-22.08-plus"},
        "bosminer_uptime_s": dev.uptime(),
        "control_board_soc_family": 3,
        "hostname": "Antminer",
        "kernel_version": "4.9.113",
        "mac_address": dev.spec.mac.to_ascii_lowercase(),
        "miner_identity": {"brand": 1, "miner_model": dev.spec.model, "model": 18, "name": dev.spec.model},
        "platform": 4,
        "psu_info": {"fw_version": null, "max_voltage": {"volt": 15.2}, "min_voltage": {"volt": 11.96}, "model_name": "APW121215d/e", "serial_number": null, "version": 117},
        // Stock Antminer control boards under BOS report no serial here (as the capture shows).
        "serial_number": null,
        "status": 2,
        "sticker_hashrate": {"gigahash_per_second": dev.spec.hashrate_ths * 1000.0},
        "system_uptime": dev.uptime() + 40,
        "system_uptime_s": dev.uptime() + 40,
        "uid": &crate::crypto::md5_hex(dev.spec.serial.as_bytes())[..16],
    })
}

fn share_stats(active: bool, el: u64) -> Value {
    json!({
        "accepted_shares": if active { el / 7 } else { 0 }, "best_share": 776_342_690u64,
        "generated_work": el * 255_000, "last_difficulty": 262_144,
        "last_share_time": {"nanos": 734_524_252, "seconds": cgminer::now()},
        "rejected_shares": 0, "stale_shares": 0,
    })
}

fn rest_pools(dev: &Device) -> Value {
    let st = dev.lock();
    let el = dev.uptime();
    let pools: Vec<Value> = st
        .pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({"active": i == 0 && st.mining, "alive": true, "enabled": p.enabled, "stats": share_stats(i == 0, el), "uid": &crate::crypto::md5_hex(p.url.as_bytes())[..16], "url": p.url, "user": p.user})
        })
        .collect();
    json!([{"name": "default", "pools": pools, "strategy": {"quota": {"value": 1}}}])
}

fn rest_stats(dev: &Device) -> Value {
    let g = |s: &str| json!({"gigahash_per_second": dev.ghs(s)});
    json!({
        "miner_stats": {
            "best_share": 776_342_690u64, "error_hashrate": {"megahash_per_second": 0.0}, "found_blocks": 0,
            "nominal_hashrate": {"gigahash_per_second": dev.spec.hashrate_ths * 1000.0},
            "real_hashrate": {"last_15m": g("15m"), "last_15s": g("15s"), "last_1h": g("1h"), "last_1m": g("1m"), "last_24h": g("24h"), "last_30m": g("30m"), "last_30s": g("30s"), "last_5m": g("5m"), "last_5s": g("5s"), "since_restart": g("av")},
        },
        "pool_stats": share_stats(true, dev.uptime()),
        "power_stats": {"approximated_consumption": {"watt": (dev.spec.hashrate_ths * 22.0).round()}, "efficiency": {"joule_per_terahash": 22.0}},
    })
}

fn network(dev: &Device) -> Value {
    json!({"default_gateway": "", "dns_servers": ["127.0.0.1"], "hostname": "Antminer", "mac_address": dev.spec.mac.to_ascii_lowercase(), "name": "eth0", "networks": [{"address": dev.spec.address.to_string(), "netmask": "255.255.255.0"}], "protocol": 1})
}

fn rest(dev: &Device, req: &Request) -> (Response, RequestKind) {
    let path = req.path();
    let read = req.method == "GET" || req.method == "HEAD";
    if path == "/api/v1/auth/login" && req.method == "POST" {
        let body = super::json_body(req).unwrap_or_default();
        let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let mut st = dev.lock();
        if s("username") == dev.spec.user() && s("password") == st.password {
            let t = st.fresh(&dev.spec.serial, 16);
            State::push_token(&mut st.web_tokens, t.clone());
            return (
                Response::json(200, &json!({"token": t, "timeout_s": 3600})),
                RequestKind::SessionCreating,
            );
        }
        return (
            Response::json(
                401,
                &json!({"code": 16, "message": "Invalid username or password"}),
            ),
            RequestKind::SessionCreating,
        );
    }
    let kind = if read {
        RequestKind::Read
    } else {
        RequestKind::StateChanging
    };
    if path == "/api/v1/version" {
        return (
            Response::json(200, &json!({"major": 1, "minor": 0, "patch": 0})),
            kind,
        );
    }
    if !req
        .token()
        .is_some_and(|t| dev.lock().web_tokens.iter().any(|k| k == t))
    {
        return (
            Response::json(401, &json!({"code": 16, "message": "Unauthenticated"})),
            kind,
        );
    }
    let body = match (read, &path["/api/v1/".len().min(path.len())..]) {
        (true, "miner/details") => details(dev),
        (true, "pools") => rest_pools(dev),
        (true, "miner/stats") => rest_stats(dev),
        (true, "network") => network(dev),
        (true, "configuration/miner") => {
            json!({"pool_groups": [], "tuner": {"enabled": true, "hashrate_target": null, "power_target": {"watt": 3031}, "tuner_mode": 1}})
        }
        (true, _) => {
            return (
                Response::json(404, &json!({"code": 5, "message": "Not found"})),
                kind,
            );
        }
        (false, "actions/stop") | (false, "actions/pause") => {
            dev.lock().mining = false;
            json!({})
        }
        (false, "actions/start") | (false, "actions/resume") | (false, "actions/restart") => {
            dev.lock().mining = true;
            json!({})
        }
        (false, _) => json!({}),
    };
    (Response::json(200, &body), kind)
}

impl Behaviour for Braiins {
    fn family(&self) -> Family {
        Family::Braiins
    }

    fn ports(&self, _spec: &DeviceSpec) -> Vec<Port> {
        vec![
            port(4028, Proto::Cgminer),
            port(80, Proto::Http),
            port(50051, Proto::Hold),
        ]
    }

    fn api(&self, dev: &Device, peer: Ipv4Addr, _port: u16, raw: &[u8]) -> Outcome {
        cgminer::serve(&Cg, dev, peer, raw)
    }

    fn web(&self, dev: &Device, req: &Request) -> (Response, RequestKind) {
        let path = req.path();
        if path.starts_with("/api/v1/") {
            return rest(dev, req);
        }
        if path == "/graphql" && req.method == "POST" {
            let body = String::from_utf8_lossy(&req.body);
            let kind = if body.contains("mutation") {
                RequestKind::StateChanging
            } else {
                RequestKind::Read
            };
            let v = json!({"data": {"bosminer": {"info": {"modelName": dev.spec.model}}}});
            return (Response::json(200, &v), kind);
        }
        let kind = if req.method == "GET" || req.method == "HEAD" {
            RequestKind::Read
        } else {
            RequestKind::StateChanging
        };
        match path {
            "/" | "/index.html" => (
                Response::html(
                    200,
                    &page(
                        "Braiins OS",
                        "<div id=\"app\"></div><noscript>Braiins OS requires JavaScript</noscript><script src=\"/assets/index.js\"></script>",
                    ),
                ),
                kind,
            ),
            _ => (Response::not_found(), kind),
        }
    }

    fn server(&self) -> &'static str {
        "nginx"
    }

    fn ssh_banner(&self) -> &'static str {
        "SSH-2.0-dropbear_2022.83\r\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_subset_and_check() {
        let d = Device::new(DeviceSpec::new(Family::Braiins, Ipv4Addr::new(127, 77, 254, 1)));
        let out = Braiins.api(&d, Ipv4Addr::LOCALHOST, 4028, br#"{"command":"version"}"#);
        let b = out.reply.unwrap();
        let v: Value = serde_json::from_slice(&b[..b.len() - 1]).unwrap();
        assert!(
            v["VERSION"][0]["BOSer"]
                .as_str()
                .unwrap()
                .starts_with("boser-buildroot")
        );
        let out = Braiins.api(&d, Ipv4Addr::LOCALHOST, 4028, b"check|addpool");
        let t = String::from_utf8(out.reply.unwrap()).unwrap();
        assert!(t.contains("Exists=Y") && t.contains("Access=Y"), "{t}");
        let out = Braiins.api(&d, Ipv4Addr::LOCALHOST, 4028, b"ascset|0,help");
        let t = String::from_utf8(out.reply.unwrap()).unwrap();
        assert!(t.contains("Code=14"), "{t}");
    }
}
