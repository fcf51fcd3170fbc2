//! Bitmain Antminer on stock firmware (bmminer): cgminer API on 4028 and the digest-protected
//! web CGI on 80 (realm `antMiner Configuration`).

use serde_json::Value;

use super::{
    Answer, Answers, Ask, Discovery, Family, PlanOptions, credentials, exchange, privilege_asks,
    read_privilege, read_summary_pools,
};
use crate::device::{Device, Firmware, Observations, Pool};
use crate::net::WebReply;
use crate::proto::cgminer;

/// The realm of every stock Antminer web interface (pyasic, asic-rs and Foreman match it).
pub const REALM: &str = "antMiner Configuration";

/// Stock Antminer.
pub struct Antminer;

impl Family for Antminer {
    fn id(&self) -> &'static str {
        "antminer"
    }

    fn stock(&self) -> bool {
        true
    }

    fn hosts_other_firmware(&self) -> bool {
        true
    }

    fn recognise(&self, d: &Discovery) -> bool {
        let api = d.version_row().is_some_and(|row| {
            cgminer::text_field(row, "BMMiner").is_some()
                || cgminer::text_field(row, "Type")
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with("antminer"))
        });
        api || d.web_realm().as_deref() == Some(REALM)
    }

    fn plan(&self, d: &Discovery, opts: &PlanOptions) -> Vec<Ask> {
        let mut asks = Vec::new();
        if d.api_port.is_some() {
            // One connection for both; stock group A allows summary and pools.
            asks.push(Ask::rpc("summary+pools"));
            asks.extend(privilege_asks());
        }
        if opts.check_default_credentials && d.ports.contains(&80) {
            asks.extend(digest_asks(self.id()));
        }
        asks
    }

    fn interpret(&self, d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations) {
        dev.make = Some("Bitmain".into());
        if let Some(row) = d.version_row() {
            dev.model = cgminer::text_field(row, "Type");
            dev.api_version = cgminer::text_field(row, "API");
            dev.firmware = Some(Firmware {
                family: "Bitmain stock".into(),
                version: cgminer::text_field(row, "CompileTime")
                    .or_else(|| cgminer::text_field(row, "Miner")),
            });
        }
        read_summary_pools(d, answers, "summary+pools", dev, obs);
        read_privilege(d, answers, obs);
        read_web_config(answers, dev, obs);
        if dev.firmware.is_none() {
            dev.firmware = Some(Firmware {
                family: "Bitmain stock".into(),
                version: None,
            });
        }
    }
}

const SYSTEM_INFO: &str = "/cgi-bin/get_system_info.cgi";
const MINER_CONF: &str = "/cgi-bin/get_miner_conf.cgi";

/// Digest GETs of the system-info and config CGIs with each default credential of `protocol`.
pub fn digest_asks(protocol: &str) -> Vec<Ask> {
    let mut asks = Vec::new();
    for c in credentials::for_protocol(protocol).filter(|c| c.check == credentials::Check::DigestGet) {
        for path in [SYSTEM_INFO, MINER_CONF] {
            asks.push(Ask::DigestGet {
                path: path.into(),
                user: c.user.clone(),
                password: c.password.clone(),
            });
        }
    }
    asks
}

/// The first digest GET of `path` that the device accepted, with the credential used.
fn accepted<'a>(answers: &'a Answers, want: &str) -> Option<(&'a WebReply, String)> {
    answers.iter().find_map(|(ask, a)| match (ask, a) {
        (Ask::DigestGet { path, user, password }, Ok(Answer::Web(r)))
            if path == want && r.response.status == 200 =>
        {
            Some((
                r,
                if password.is_empty() {
                    format!("{user}/(empty)")
                } else {
                    format!("{user}/{password}")
                },
            ))
        }
        _ => None,
    })
}

/// What the Antminer-style web CGI gives with working credentials: identity, pools, and proof
/// that the default credentials work. Shared with lookalikes that copy the CGI.
pub fn read_web_config(answers: &Answers, dev: &mut Device, obs: &mut Observations) {
    if let Some((r, creds)) = accepted(answers, SYSTEM_INFO)
        && let Ok(info) = serde_json::from_slice::<Value>(&r.response.body)
    {
        obs.default_credentials
            .push(("web interface (HTTP Digest)".into(), creds, exchange(80, &r.raw)));
        let s = |k: &str| {
            info.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        dev.serial = dev.serial.take().or_else(|| s("serinum"));
        dev.mac = dev.mac.take().or_else(|| s("macaddr"));
        dev.model = dev.model.take().or_else(|| s("minertype"));
        if let (Some(fw), Some(v)) = (dev.firmware.as_mut(), s("system_filesystem_version")) {
            fw.version = Some(v);
        }
    }
    if let Some((r, _)) = accepted(answers, MINER_CONF)
        && let Ok(conf) = serde_json::from_slice::<Value>(&r.response.body)
    {
        let before = dev.pools.len();
        for (i, p) in conf
            .get("pools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(64)
            .enumerate()
        {
            let Some(url) = p
                .get("url")
                .and_then(Value::as_str)
                .filter(|u| !u.trim().is_empty())
            else {
                continue;
            };
            let pool = Pool {
                url: url.trim().to_string(),
                user: p.get("user").and_then(Value::as_str).map(String::from),
                priority: Some(i as i64),
                source: "web get_miner_conf".into(),
                ..Pool::default()
            };
            if !dev.pools.iter().any(|q| q.url == pool.url && q.user == pool.user) {
                dev.pools.push(pool);
            }
        }
        super::keep_pool_evidence(obs, 80, &r.raw, &dev.pools[before..]);
    }
}
