//! Vnish / AnthillOS on Antminer hardware: bmminer-compatible 4028 whose replies carry `VNISH`, and the
//! AnthillOS web UI with its REST API (`/api/v1/info` open, `/api/v1/unlock` issuing a token, bearer writes).

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::antminer::Bmminer;
use super::{Behaviour, Proto, page, port};
use crate::cgminer::{self, Outcome};
use crate::device::{Device, State};
use crate::fleet::{DeviceSpec, Family, Port};
use crate::http::{Request, Response};
use crate::log::RequestKind;

/// Vnish.
pub(crate) struct Vnish;

fn info(dev: &Device) -> Value {
    json!({
        "miner": dev.spec.model,
        "model": dev.spec.model.trim_start_matches("Antminer ").to_ascii_lowercase().replace(' ', ""),
        "fw_name": "Vnish",
        "fw_version": dev.spec.firmware,
        "build_time": "2024-01-15 12:00:00",
        "platform": "xil",
        "install_type": "nand",
        "serial": dev.spec.serial,
        "system": {
            "os": "GNU/Linux",
            "miner_name": "AnthillOS",
            "file_system_version": dev.spec.firmware,
            "uptime": dev.uptime(),
            "network_status": {
                "mac": dev.spec.mac,
                "dhcp": true,
                "ip": dev.spec.address.to_string(),
                "netmask": "255.255.255.0",
                "gateway": "",
                "dns": [],
                "hostname": "Antminer",
            },
        },
    })
}

fn summary(dev: &Device) -> Value {
    let pools: Vec<Value> = dev
        .lock()
        .pools
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": i, "url": p.url, "user": p.user, "status": if p.enabled { "working" } else { "disabled" }, "accepted": 0, "rejected": 0, "stale": 0}))
        .collect();
    json!({"miner": {
        "miner_type": format!("{} (Vnish {})", dev.spec.model, dev.spec.firmware),
        "miner_status": {"miner_state": if dev.lock().mining { "mining" } else { "stopped" }, "miner_state_time": dev.uptime()},
        "average_hashrate": dev.ghs("av") / 1000.0,
        "instant_hashrate": dev.ghs("5s") / 1000.0,
        "hr_nominal": dev.spec.hashrate_ths * 1000.0,
        "pcb_temp": {"min": 50, "max": 65},
        "chip_temp": {"min": 60, "max": 78},
        "power_usage": (dev.spec.hashrate_ths * 29.5).round(),
        "hw_errors": 0,
        "pools": pools,
    }})
}

impl Behaviour for Vnish {
    fn family(&self) -> Family {
        Family::Vnish
    }

    fn ports(&self, _spec: &DeviceSpec) -> Vec<Port> {
        vec![port(4028, Proto::Cgminer), port(80, Proto::Http)]
    }

    fn api(&self, dev: &Device, peer: Ipv4Addr, _port: u16, raw: &[u8]) -> Outcome {
        cgminer::serve(&Bmminer { vnish: true }, dev, peer, raw)
    }

    fn web(&self, dev: &Device, req: &Request) -> (Response, RequestKind) {
        let path = req.path();
        match (req.method.as_str(), path) {
            ("GET", "/") | ("GET", "/index.html") => (
                Response::html(
                    200,
                    &page(
                        "AnthillOS",
                        "<div id=\"root\">AnthillOS</div><script src=\"/assets/index.js\"></script>",
                    ),
                ),
                RequestKind::Read,
            ),
            ("GET", "/api/v1/info") => (Response::json(200, &info(dev)), RequestKind::Read),
            ("POST", "/api/v1/unlock") => {
                let pw = super::json_body(req)
                    .and_then(|b| b.get("pw").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_default();
                let mut st = dev.lock();
                if pw == st.password {
                    let t = st.fresh(&dev.spec.serial, 32);
                    State::push_token(&mut st.web_tokens, t.clone());
                    (
                        Response::json(200, &json!({"token": t})),
                        RequestKind::SessionCreating,
                    )
                } else {
                    (
                        Response::json(401, &json!({"err": "Unauthorized"})),
                        RequestKind::SessionCreating,
                    )
                }
            }
            (method, p) if p.starts_with("/api/v1/") => {
                let authed = req
                    .token()
                    .is_some_and(|t| dev.lock().web_tokens.iter().any(|k| k == t));
                let kind = if method == "GET" {
                    RequestKind::Read
                } else {
                    RequestKind::StateChanging
                };
                if !authed {
                    return (Response::json(401, &json!({"err": "Unauthorized"})), kind);
                }
                let body = match (method, &p["/api/v1/".len()..]) {
                    ("GET", "summary") => summary(dev),
                    ("GET", "status") => {
                        json!({"miner_state": "mining", "miner_state_time": dev.uptime(), "find_miner": false, "restart_required": false, "reboot_required": false, "unlocked": true})
                    }
                    ("GET", "settings") => {
                        json!({"miner": {"pools": dev.lock().pools.iter().map(|p| json!({"url": p.url, "user": p.user, "pass": p.password})).collect::<Vec<_>>()}})
                    }
                    ("GET", _) => return (Response::json(404, &json!({"err": "Not found"})), kind),
                    ("POST", "mining/stop") => {
                        dev.lock().mining = false;
                        Value::Null
                    }
                    ("POST", "mining/start") | ("POST", "mining/restart") => {
                        dev.lock().mining = true;
                        Value::Null
                    }
                    _ => Value::Null,
                };
                if body.is_null() {
                    (Response::new(200, "application/json", ""), kind)
                } else {
                    (Response::json(200, &body), kind)
                }
            }
            _ => (Response::not_found(), RequestKind::Read),
        }
    }

    fn server(&self) -> &'static str {
        "nginx"
    }
}
