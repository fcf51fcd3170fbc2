//! Vnish (AnthillOS) on Antminer hardware: cgminer API with `VNISH` markers, and a REST API on
//! 80 whose `/api/v1/info` answers without a password and whose `/api/v1/unlock` exchanges
//! the password (default `admin`) for a bearer token.

use serde_json::Value;

use super::{
    Answers, Ask, Discovery, Family, PlanOptions, credentials, exchange, privilege_asks, read_privilege, rpc,
    web,
};
use crate::device::{Device, Firmware, Observations};
use crate::proto::cgminer;

/// Vnish.
pub struct Vnish;

const INFO: &str = "/api/v1/info";
const UNLOCK: &str = "/api/v1/unlock";

impl Family for Vnish {
    fn id(&self) -> &'static str {
        "vnish"
    }

    fn stock(&self) -> bool {
        false
    }

    fn recognise(&self, d: &Discovery) -> bool {
        d.api_text_upper().contains("VNISH") || d.web_body().contains("AnthillOS")
    }

    fn plan(&self, d: &Discovery, opts: &PlanOptions) -> Vec<Ask> {
        let mut asks = Vec::new();
        if d.api_port.is_some() {
            asks.extend([Ask::rpc("summary"), Ask::rpc("pools")]);
            asks.extend(privilege_asks());
        }
        if d.ports.contains(&80) {
            asks.push(Ask::Get(INFO.into()));
            if opts.check_default_credentials {
                for c in
                    credentials::for_protocol(self.id()).filter(|c| c.check == credentials::Check::Unlock)
                {
                    asks.push(Ask::Login {
                        path: UNLOCK.into(),
                        body: serde_json::json!({"pw": c.password}).to_string(),
                        label: c.label(),
                    });
                }
            }
        }
        asks
    }

    fn interpret(&self, d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations) {
        let row = d.version_row();
        dev.api_version = row.and_then(|r| cgminer::text_field(r, "API"));
        let mut version =
            row.and_then(|r| cgminer::text_field(r, "VNISH").or_else(|| cgminer::text_field(r, "Vnish")));
        if let Some(r) = web(answers, INFO)
            && r.response.status == 200
            && let Ok(info) = serde_json::from_slice::<Value>(&r.response.body)
        {
            dev.model = find_str(&info, &["miner", "model", "miner_type", "minertype"]);
            dev.serial = find_str(&info, &["serial", "serial_number", "serinum"]);
            dev.mac = find_str(&info, &["mac", "macaddr", "mac_address"]);
            version = version.or_else(|| find_str(&info, &["fw_version", "firmware_version", "version"]));
        }
        if dev.model.is_none() {
            dev.model = row.and_then(|r| cgminer::text_field(r, "Type"));
        }
        dev.make = dev.model.as_deref().map(super::braiins::make_of);
        dev.firmware = Some(Firmware {
            family: "Vnish".into(),
            version,
        });
        if let Some(s) = rpc(answers, "summary") {
            dev.hashrate_ths = super::summary_ths(&s.decoded.value);
        }
        super::read_pools(d, answers, dev, obs);
        read_privilege(d, answers, obs);
        if let Some((label, r)) = super::token_login(answers) {
            obs.default_credentials
                .push(("REST API unlock".into(), label.clone(), exchange(80, &r.raw)));
        }
    }
}

/// The first string under any of `keys`, searched breadth-first to a small depth (vendor JSON
/// nests identity fields differently across versions).
pub fn find_str(v: &Value, keys: &[&str]) -> Option<String> {
    let mut level = vec![v];
    for _ in 0..4 {
        for k in keys {
            for node in &level {
                if let Some(s) = node
                    .get(*k)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    return Some(s.to_string());
                }
            }
        }
        level = level
            .iter()
            .filter_map(|n| n.as_object())
            .flat_map(|o| o.values())
            .filter(|c| c.is_object())
            .take(256)
            .collect();
    }
    None
}
