//! Miner families: one signature, one read plan and one interpreter each, behind one trait and
//! listed once in [`FAMILIES`].
//!
//! A scan first *discovers* a responsive host with at most four cheap probes run together
//! (cgminer `version` on 4028, `GET /` on 80, Whatsminer v3 `get.device.info` on 4433, banners
//! on 22/23). Families then claim it in registry order, **non-stock firmware first**: LuxOS
//! answers `version` as an `Antminer S9`, Braiins OS and Vnish run on Antminer hardware, so
//! a stock signature tried first would misname them (the same order pyasic and asic-rs use).
//! The claiming family names what else to read ([`Family::plan`], read-only [`Ask`]s only) and
//! turns the answers into the device record and the observations the audit needs
//! ([`Family::interpret`]). Interpretation is pure, so the real captures in
//! `shared/testdata/fleet/asic-rs` test it without a network.

mod antminer;
mod avalon;
mod braiins;
pub mod credentials;
mod luxos;
mod other;
mod vnish;
mod whatsminer;

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::device::{Device, Exchange, Observations, Pool};
use crate::net::{ProbeError, Raw, RpcReply, WebReply};
use crate::proto::cgminer::{self, ReadCommand};
use crate::proto::http;

/// What the discovery probes returned for one host.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The host.
    pub address: Option<Ipv4Addr>,
    /// Open miner ports.
    pub ports: Vec<u16>,
    /// The cgminer API port that answered (4028, else 4029).
    pub api_port: Option<u16>,
    /// `{"command":"version"}` on the API port.
    pub version: Option<Result<RpcReply, ProbeError>>,
    /// `{"command":"devdetails"}`, asked only when `version` alone did not decide.
    pub devdetails: Option<Result<RpcReply, ProbeError>>,
    /// `GET /` on port 80.
    pub web: Option<Result<WebReply, ProbeError>>,
    /// Whatsminer v3 `get.device.info` on 4433.
    pub v3: Option<Result<(Raw, Value), ProbeError>>,
    /// First bytes on 22 and 23.
    pub banners: Vec<(u16, Result<Vec<u8>, ProbeError>)>,
}

impl Discovery {
    /// The decoded `version` reply, when there is one.
    pub fn version_json(&self) -> Option<&Value> {
        match &self.version {
            Some(Ok(r)) => Some(&r.decoded.value),
            _ => None,
        }
    }

    /// The decoded `devdetails` reply, when there is one.
    pub fn devdetails_json(&self) -> Option<&Value> {
        match &self.devdetails {
            Some(Ok(r)) => Some(&r.decoded.value),
            _ => None,
        }
    }

    /// All text of the API replies, upper-cased, for signature markers (`LUXMINER`, `BOSMINER`).
    pub fn api_text_upper(&self) -> String {
        let mut s = String::new();
        for r in [&self.version, &self.devdetails].into_iter().flatten().flatten() {
            s.push_str(&String::from_utf8_lossy(&r.raw.bytes).to_ascii_uppercase());
        }
        s
    }

    /// The `GET /` response, when there is one.
    pub fn web_response(&self) -> Option<&http::Response> {
        match &self.web {
            Some(Ok(r)) => Some(&r.response),
            _ => None,
        }
    }

    /// The `GET /` body as text.
    pub fn web_body(&self) -> String {
        self.web_response().map(http::Response::text).unwrap_or_default()
    }

    /// The Digest realm of a 401 on `GET /`.
    pub fn web_realm(&self) -> Option<String> {
        let r = self.web_response()?;
        if r.status != 401 {
            return None;
        }
        crate::proto::digest::parse_challenge(r.header("www-authenticate")?).map(|c| c.realm)
    }

    /// The first `VERSION` row.
    pub fn version_row(&self) -> Option<&Value> {
        self.version_json()
            .and_then(|v| cgminer::section(v, "VERSION").first())
    }

    /// The `version` reply's `Description`.
    pub fn description(&self) -> String {
        self.version_json()
            .and_then(cgminer::status)
            .map(|s| s.description)
            .unwrap_or_default()
    }
}

/// A read-only request a family asks for after discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// A cgminer API command on the API port.
    Rpc(ReadCommand),
    /// An unauthenticated GET on port 80.
    Get(String),
    /// A GET with HTTP Digest credentials (opt-in credential check).
    DigestGet {
        /// Path.
        path: String,
        /// User.
        user: String,
        /// Password.
        password: String,
    },
    /// A POST to a login endpoint that only issues a token (opt-in credential check); only
    /// the paths in [`LOGIN_PATHS`] are ever sent.
    Login {
        /// Path.
        path: String,
        /// JSON body.
        body: String,
        /// Which credentials, for the report (`root/root`).
        label: String,
    },
    /// Whatsminer v3 `get.*` on 4433.
    V3(&'static str, Option<&'static str>),
    /// Whatsminer v2 `get_token`, then an encrypted read with a key derived from `password`
    /// (opt-in credential check).
    WhatsminerToken {
        /// The password to try.
        password: String,
    },
}

/// POST endpoints hashward may call: each only exchanges a password for a session token and
/// changes nothing on the device. Checked by a test and refused by the scanner otherwise.
pub const LOGIN_PATHS: &[&str] = &["/api/v1/auth/login", "/api/v1/unlock"];

impl Ask {
    /// A cgminer command; panics only on a command missing from the read-only table, which
    /// the registry test catches for every family.
    pub fn rpc(cmd: &str) -> Ask {
        Ask::rpc_param(cmd, None)
    }

    /// A cgminer command with a parameter (see [`Ask::rpc`]).
    pub fn rpc_param(cmd: &str, param: Option<&str>) -> Ask {
        match ReadCommand::new(cmd, param) {
            Some(c) => Ask::Rpc(c),
            // Invariant: families only name commands from the read-only table; the
            // `plans_are_read_only` test exercises every family's plan.
            None => panic!("family asked for a non-read-only command {cmd:?}"),
        }
    }
}

/// An answer to an [`Ask`].
#[derive(Debug, Clone)]
pub enum Answer {
    /// cgminer API reply.
    Rpc(RpcReply),
    /// HTTP response (for a digest GET, the authenticated attempt).
    Web(WebReply),
    /// Whatsminer v3 reply.
    V3(Raw, Value),
    /// Whatsminer v2 credential check: the encrypted reply and, when it opened with the
    /// derived key, its content.
    Whatsminer(RpcReply, Option<Value>),
}

/// Answers in the order asked.
pub type Answers = [(Ask, Result<Answer, ProbeError>)];

/// The cgminer reply to `cmd`, if it was asked and answered.
pub fn rpc<'a>(answers: &'a Answers, cmd: &str) -> Option<&'a RpcReply> {
    answers.iter().find_map(|(ask, a)| match (ask, a) {
        (Ask::Rpc(c), Ok(Answer::Rpc(r))) if c.command() == cmd => Some(r),
        _ => None,
    })
}

/// The cgminer reply to `check|param` when it says the command exists and this host may run
/// it (`Exists=Y, Access=Y`).
pub fn check_allows<'a>(answers: &'a Answers, param: &str) -> Option<&'a RpcReply> {
    check(answers, param).filter(|r| {
        cgminer::section(&r.decoded.value, "CHECK")
            .first()
            .is_some_and(|row| {
                cgminer::text_field(row, "Exists").as_deref() == Some("Y")
                    && cgminer::text_field(row, "Access").as_deref() == Some("Y")
            })
    })
}

/// The first `Login` answer that issued a token (HTTP 200 with a non-empty `token`), with the
/// credentials it was asked with: proof that a default password works.
pub fn token_login(answers: &Answers) -> Option<(&String, &WebReply)> {
    answers.iter().find_map(|(ask, a)| match (ask, a) {
        (Ask::Login { label, .. }, Ok(Answer::Web(r)))
            if r.response.status == 200
                && serde_json::from_slice::<Value>(&r.response.body).is_ok_and(|v| {
                    v.get("token")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty())
                }) =>
        {
            Some((label, r))
        }
        _ => None,
    })
}

/// The cgminer reply to `check|param`.
pub fn check<'a>(answers: &'a Answers, param: &str) -> Option<&'a RpcReply> {
    answers.iter().find_map(|(ask, a)| match (ask, a) {
        (Ask::Rpc(c), Ok(Answer::Rpc(r))) if c.command() == "check" && c.parameter() == Some(param) => {
            Some(r)
        }
        _ => None,
    })
}

/// The HTTP answer for `path` (plain, digest or login).
pub fn web<'a>(answers: &'a Answers, path: &str) -> Option<&'a WebReply> {
    answers.iter().find_map(|(ask, a)| match (ask, a) {
        (Ask::Get(p) | Ask::DigestGet { path: p, .. } | Ask::Login { path: p, .. }, Ok(Answer::Web(r)))
            if p == path =>
        {
            Some(r)
        }
        _ => None,
    })
}

/// One firmware family.
pub trait Family: Sync {
    /// Stable id, as `result.devices[].protocol`.
    fn id(&self) -> &'static str;
    /// Whether this is the hardware vendor's own firmware (tried after the non-stock ones).
    fn stock(&self) -> bool;
    /// Whether the discovery answers are this family's.
    fn recognise(&self, d: &Discovery) -> bool;
    /// Whether third-party firmware runs on this family's hardware and may look like it on the
    /// API (stock Antminer): the scan then also reads the web page before deciding.
    fn hosts_other_firmware(&self) -> bool {
        false
    }
    /// What else to read (read-only).
    fn plan(&self, d: &Discovery, opts: &PlanOptions) -> Vec<Ask>;
    /// Fill the device record and observations from discovery and the answers.
    fn interpret(&self, d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations);
}

/// What a plan may include.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// `--check-default-credentials`: try the family's default credentials with read-only
    /// requests.
    pub check_default_credentials: bool,
}

/// Every family, non-stock firmware first (see the module docs); guarded by a test.
pub static FAMILIES: &[&dyn Family] = &[
    &luxos::LuxOs,
    &braiins::BraiinsOs,
    &vnish::Vnish,
    &whatsminer::WhatsminerV3,
    &whatsminer::Whatsminer,
    &antminer::Antminer,
    &avalon::Avalon,
    &other::Auradine,
    &other::SealMiner,
];

/// The family that claims `d`, if any.
pub fn recognise(d: &Discovery) -> Option<&'static dyn Family> {
    FAMILIES.iter().copied().find(|f| f.recognise(d))
}

/// An exchange for evidence.
pub fn exchange(port: u16, raw: &Raw) -> Exchange {
    Exchange {
        port,
        request: raw.request.clone(),
        response: hashward_model::bytes_excerpt(excerpt(&raw.bytes)),
    }
}

/// At most 512 bytes of a reply: enough to verify, bounded for the report.
fn excerpt(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|x| *x == 0).unwrap_or(b.len()).min(512);
    &b[..end]
}

/// Pools from a cgminer `POOLS` section.
pub fn cgminer_pools(reply: &Value, source: &str) -> Vec<Pool> {
    cgminer::section(reply, "POOLS")
        .iter()
        .filter_map(|row| {
            let url = cgminer::text_field(row, "URL")?;
            Some(Pool {
                url,
                user: cgminer::text_field(row, "User"),
                status: cgminer::text_field(row, "Status"),
                priority: cgminer::number_field(row, "Priority").map(|p| p as i64),
                quota: cgminer::number_field(row, "Quota"),
                group: cgminer::text_field(row, "GROUP").or_else(|| cgminer::text_field(row, "Group")),
                source: source.to_string(),
            })
        })
        .take(64)
        .collect()
}

/// Hashrate in TH/s from a cgminer `SUMMARY` row: `GHS 5s`/`GHS av` (Bitmain) or
/// `MHS 5s`/`MHS av` (cgminer, btminer, Avalon).
pub fn summary_ths(reply: &Value) -> Option<f64> {
    let row = cgminer::section(reply, "SUMMARY").first()?;
    let ghs = ["GHS 5s", "GHS av", "GHS 30m"]
        .iter()
        .find_map(|k| cgminer::number_field(row, k).filter(|v| *v > 0.0))
        .map(|g| g / 1e3);
    ghs.or_else(|| {
        ["MHS av", "MHS 5s", "MHS 1m"]
            .iter()
            .find_map(|k| cgminer::number_field(row, k).filter(|v| *v > 0.0))
            .map(|m| m / 1e6)
    })
    .map(|t| (t * 1000.0).round() / 1000.0)
}

/// Read `summary+pools` (joined, one connection) into the device.
pub fn read_summary_pools(
    d: &Discovery,
    answers: &Answers,
    joined: &str,
    dev: &mut Device,
    obs: &mut Observations,
) {
    if let Some(r) = rpc(answers, joined) {
        let v = &r.decoded.value;
        if let Some(s) = cgminer::part(v, "summary") {
            dev.hashrate_ths = summary_ths(s);
        }
        if let Some(p) = cgminer::part(v, "pools") {
            let pools = cgminer_pools(p, "rpc pools");
            keep_pool_evidence(obs, d.api_port.unwrap_or(4028), &r.raw, &pools);
            dev.pools.extend(pools);
        }
    }
}

/// Read a separate `pools` reply into the device.
pub fn read_pools(d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations) {
    if let Some(r) = rpc(answers, "pools") {
        dev.pools = cgminer_pools(&r.decoded.value, "rpc pools");
        keep_pool_evidence(obs, d.api_port.unwrap_or(4028), &r.raw, &dev.pools);
    }
}

/// Keep, for each pool, the part of `raw` around its URL (what NET-004/005/008 cite).
pub fn keep_pool_evidence(obs: &mut Observations, port: u16, raw: &Raw, pools: &[Pool]) {
    for p in pools {
        if obs.pool_evidence.iter().any(|(u, _)| *u == p.url) {
            continue;
        }
        let Some(at) = memchr::memmem::find(&raw.bytes, p.url.as_bytes()) else {
            continue;
        };
        let start = at.saturating_sub(64);
        let end = (at + p.url.len() + 160).min(raw.bytes.len());
        obs.pool_evidence.push((
            p.url.clone(),
            Exchange {
                port,
                request: raw.request.clone(),
                response: hashward_model::bytes_excerpt(&raw.bytes[start..end]),
            },
        ));
    }
}

/// The cgminer privilege probes every cgminer-derived family shares: `privileged` (Code 46
/// means privileged access) and `check|<cmd>` (`Access=Y`).
pub fn privilege_asks() -> Vec<Ask> {
    vec![Ask::rpc("privileged"), Ask::rpc_param("check", Some("addpool"))]
}

/// Record NET-001 evidence from the privilege probes.
pub fn read_privilege(d: &Discovery, answers: &Answers, obs: &mut Observations) {
    let port = d.api_port.unwrap_or(4028);
    if let Some(r) = rpc(answers, "privileged")
        && let Some(s) = cgminer::status(&r.decoded.value)
        && s.ok()
        && s.code == Some(46)
    {
        obs.privileged.push((
            "privileged answered Code 46 \"Privileged access OK\"".into(),
            exchange(port, &r.raw),
        ));
    }
    if let Some(r) = check_allows(answers, "addpool") {
        obs.privileged.push((
            "check|addpool answered Exists=Y, Access=Y".into(),
            exchange(port, &r.raw),
        ));
    }
}

#[cfg(test)]
mod tests;
