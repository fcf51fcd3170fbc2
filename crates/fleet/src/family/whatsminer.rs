//! MicroBT Whatsminer (btminer): the cgminer-like API v1/v2 on 4028 (`STATUS` as a string,
//! `Msg` objects, writes only with the admin password's token) and API v3 on 4433.

use serde_json::Value;

use super::{Answer, Answers, Ask, Discovery, Family, PlanOptions, credentials, exchange, rpc};
use crate::device::{Device, Firmware, Observations, Pool};
use crate::proto::cgminer;

/// API v1/v2 on 4028.
pub struct Whatsminer;

/// API v3 on 4433 (2024+ firmware).
pub struct WhatsminerV3;

/// `Whatsminer M50S` from `M50S.VH20`, `M60S_VK40` or `WhatsMiner M30S+`.
pub fn model_name(raw: &str) -> String {
    let raw = raw.trim();
    let base = raw
        .trim_start_matches("WhatsMiner")
        .trim_start_matches("Whatsminer")
        .trim();
    let base = base.split(['.', '_']).next().unwrap_or(base).trim();
    format!("Whatsminer {}", base.to_ascii_uppercase())
}

impl Family for Whatsminer {
    fn id(&self) -> &'static str {
        "whatsminer"
    }

    fn stock(&self) -> bool {
        true
    }

    fn recognise(&self, d: &Discovery) -> bool {
        let t = d.api_text_upper();
        let web = d.web_response().is_some_and(|r| {
            r.status == 307
                && r.header("location").is_some_and(|l| l.starts_with("https://"))
                && r.text().contains("/cgi-bin/luci")
        });
        t.contains("BTMINER") || t.contains("BITMICRO") || t.contains("WHATSMINER") || web
    }

    fn plan(&self, d: &Discovery, opts: &PlanOptions) -> Vec<Ask> {
        if d.api_port.is_none() {
            return Vec::new();
        }
        let mut asks = vec![
            Ask::rpc("devdetails"),
            Ask::rpc("summary"),
            Ask::rpc("pools"),
            Ask::rpc("get_version"),
        ];
        if opts.check_default_credentials {
            for c in credentials::for_protocol(self.id())
                .filter(|c| c.check == credentials::Check::WhatsminerToken)
            {
                asks.push(Ask::WhatsminerToken {
                    password: c.password.clone(),
                });
            }
        }
        asks
    }

    fn interpret(&self, d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations) {
        dev.make = Some("MicroBT".into());
        let port = d.api_port.unwrap_or(4028);
        if let Some(r) = rpc(answers, "devdetails")
            && let Some(row) = cgminer::section(&r.decoded.value, "DEVDETAILS").first()
        {
            dev.model = cgminer::text_field(row, "Model").map(|m| model_name(&m));
        }
        let mut version = None;
        if let Some(r) = rpc(answers, "get_version")
            && let Some(msg) = r.decoded.value.get("Msg").filter(|m| m.is_object())
        {
            version = msg.get("fw_ver").and_then(Value::as_str).map(String::from);
            dev.api_version = msg.get("api_ver").and_then(Value::as_str).map(String::from);
        }
        dev.firmware = Some(Firmware {
            family: "MicroBT stock".into(),
            version,
        });
        if let Some(r) = rpc(answers, "summary") {
            dev.hashrate_ths = super::summary_ths(&r.decoded.value);
            if let Some(row) = cgminer::section(&r.decoded.value, "SUMMARY").first() {
                dev.mac = cgminer::text_field(row, "MAC");
            }
        }
        super::read_pools(d, answers, dev, obs);
        for (ask, a) in answers {
            if let (Ask::WhatsminerToken { password }, Ok(Answer::Whatsminer(reply, Some(opened)))) = (ask, a)
                && cgminer::status(opened).is_some_and(|s| s.ok())
            {
                obs.default_credentials.push((
                    "API write token (get_token + AES)".into(),
                    format!("admin/{password}"),
                    exchange(port, &reply.raw),
                ));
            }
        }
    }
}

impl Family for WhatsminerV3 {
    fn id(&self) -> &'static str {
        "whatsminer_v3"
    }

    fn stock(&self) -> bool {
        true
    }

    fn recognise(&self, d: &Discovery) -> bool {
        matches!(&d.v3, Some(Ok((_, v))) if v.pointer("/msg/miner/type").is_some())
    }

    fn plan(&self, _d: &Discovery, _opts: &PlanOptions) -> Vec<Ask> {
        // No read-only authenticated v3 command is known, so the `super` default cannot be
        // checked without a write; it is not attempted.
        vec![
            Ask::V3("get.miner.status", Some("summary")),
            Ask::V3("get.miner.status", Some("pools")),
        ]
    }

    fn interpret(&self, d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations) {
        dev.make = Some("MicroBT".into());
        if let Some(Ok((_, info))) = &d.v3 {
            let s = |p: &str| {
                info.pointer(p)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(String::from)
            };
            dev.model = s("/msg/miner/type").map(|m| model_name(&m));
            dev.serial = s("/msg/miner/miner-sn");
            dev.mac = s("/msg/network/mac");
            dev.firmware = Some(Firmware {
                family: "MicroBT stock".into(),
                version: s("/msg/system/fwversion").or_else(|| s("/msg/system/firmware")),
            });
            dev.api_version = s("/msg/system/api").or_else(|| Some("3".into()));
        }
        for (ask, a) in answers {
            let (Ask::V3(_, Some(which)), Ok(Answer::V3(raw, v))) = (ask, a) else {
                continue;
            };
            match *which {
                "summary" => {
                    dev.hashrate_ths = v
                        .pointer("/msg/summary/hash-realtime")
                        .or_else(|| v.pointer("/msg/summary/hash-average"))
                        .and_then(Value::as_f64)
                }
                "pools" => {
                    obs.pool_replies.push((4433, raw.clone()));
                    for p in v
                        .pointer("/msg/pools")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .take(64)
                    {
                        if let Some(url) = p.get("url").and_then(Value::as_str) {
                            dev.pools.push(Pool {
                                url: url.to_string(),
                                user: p.get("account").and_then(Value::as_str).map(String::from),
                                status: p.get("status").and_then(Value::as_str).map(String::from),
                                priority: p.get("pool-priority").and_then(Value::as_i64),
                                source: "v3 get.miner.status pools".into(),
                                ..Pool::default()
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
