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
            // A control with a password no device has: it shows how this device answers a
            // wrong token, so a refusal for another reason (writes switched off) is not
            // mistaken for a wrong password, nor the other way round.
            asks.push(Ask::WhatsminerToken {
                password: CONTROL_PASSWORD.into(),
            });
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
        read_token_checks(answers, port, obs);
    }
}

/// The password of the control token check: one no device is configured with.
const CONTROL_PASSWORD: &str = "hashward-control-not-a-password";

/// btminer's answer to a token it cannot verify (API V2.0.5: 135 "check token error").
const WRONG_TOKEN: i64 = 135;

/// NET-002 from the token checks. A default password is accepted when the encrypted reply opens
/// with its key and succeeds, or when the device refuses the control password as a wrong token
/// but refuses the default for another reason (typically Code 45: writes are switched off —
/// the password is still right, and it is all `open_write_api` needs to switch them on).
fn read_token_checks(answers: &Answers, port: u16, obs: &mut Observations) {
    let code = |a: &Answer| match a {
        Answer::Whatsminer(reply, opened) => opened
            .as_ref()
            .and_then(cgminer::status)
            .or_else(|| cgminer::status(&reply.decoded.value))
            .map(|s| (s.ok(), s.code)),
        _ => None,
    };
    let control = answers.iter().find_map(|(ask, a)| match (ask, a) {
        (Ask::WhatsminerToken { password }, Ok(a)) if password == CONTROL_PASSWORD => code(a),
        _ => None,
    });
    // A device that opens the control's reply accepts any token: nothing can be concluded.
    if control.is_some_and(|(ok, _)| ok) {
        return;
    }
    for (ask, a) in answers {
        let (Ask::WhatsminerToken { password }, Ok(answer @ Answer::Whatsminer(reply, opened))) = (ask, a)
        else {
            continue;
        };
        if password == CONTROL_PASSWORD {
            continue;
        }
        let accepted = match (code(answer), control) {
            (Some((true, _)), _) => opened.is_some(),
            (Some((false, c)), Some((false, Some(WRONG_TOKEN)))) => c != Some(WRONG_TOKEN),
            _ => false,
        };
        if accepted {
            obs.default_credentials.push((
                "API token (get_token + AES-256-ECB)".into(),
                format!("admin/{password}"),
                exchange(port, &reply.raw),
            ));
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
                    let before = dev.pools.len();
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
                    super::keep_pool_evidence(obs, 4433, raw, &dev.pools[before..]);
                }
                _ => {}
            }
        }
    }
}
