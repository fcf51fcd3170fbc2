//! The scan engine: a bounded TCP sweep of the miner ports, then identification and audit of
//! every host that answered, many hosts at once on one async runtime.
//!
//! Stage 1 tries every target on [`MINER_PORTS`] (targets shuffled, so racks and switches share
//! the load). Stage 2 takes each responsive host through discovery → family → plan → answers
//! under one deadline per device. A host whose ports all timed out (rather than being refused)
//! gets a second try at the end of stage 1: a cold ARP cache makes the first SYN to a quiet
//! host vanish, and one miss must not hide a device (asic-rs PR 320).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use tokio::task::JoinSet;

use crate::device::{Device, DeviceStatus, Observations, ProbeFailure};
use crate::family::{self, Answer, Ask, Discovery, LOGIN_PATHS, PlanOptions};
use crate::net::{Net, ProbeError};
use crate::proto::cgminer::ReadCommand;
use crate::proto::{digest, http, whatsminer};

/// The ports swept, in the order results list them: web, TLS web, cgminer API (and its
/// common alternative), Whatsminer v3, WhatsMinerTool, Braiins gRPC, SSH, telnet.
pub const MINER_PORTS: &[u16] = &[80, 443, 4028, 4029, 4433, 8889, 50051, 22, 23];

/// Everything a scan needs besides the targets.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Connection limits.
    pub limits: crate::net::Limits,
    /// Opt-in credential checks.
    pub plan: PlanOptions,
    /// Hosts examined at once in stage 2.
    pub hosts_at_once: usize,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            limits: crate::net::Limits::default(),
            plan: PlanOptions::default(),
            hosts_at_once: 1024,
        }
    }
}

/// One examined device with what the audit needs.
#[derive(Debug, Clone)]
pub struct Examined {
    /// The result record.
    pub device: Device,
    /// Exposures seen.
    pub observations: Observations,
}

/// Timings and counts of a scan.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScanStats {
    /// Addresses in the targets.
    pub targets: usize,
    /// Connection attempts in the sweep.
    pub sweep_attempts: usize,
    /// Hosts with at least one open miner port.
    pub responsive: usize,
    /// Devices identified.
    pub identified: usize,
    /// Hosts that answered but matched no signature.
    pub unidentified: usize,
    /// Hosts that failed identification with errors.
    pub errors: usize,
    /// Seconds until the sweep had tried every port of every target.
    pub sweep_seconds: f64,
    /// Seconds for the whole scan (the stages overlap).
    pub total_seconds: f64,
}

/// Sweep `targets` and examine every responsive host. Results are sorted by address.
pub async fn scan(targets: &[Ipv4Addr], opts: &ScanOptions) -> (Vec<Examined>, ScanStats) {
    let net = Arc::new(Net::new(opts.limits));
    let mut stats = ScanStats {
        targets: targets.len(),
        ..ScanStats::default()
    };
    let t0 = Instant::now();
    let mut order: Vec<Ipv4Addr> = targets.to_vec();
    shuffle(&mut order);
    // The stages overlap: a host is examined as soon as its own sweep is done, so the scan
    // takes about as long as the longer stage rather than both added up.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Ipv4Addr, Vec<u16>)>(1024);
    let sweeper = {
        let net = Arc::clone(&net);
        tokio::spawn(async move {
            let attempts = sweep(&net, &order, tx).await;
            (attempts, t0.elapsed().as_secs_f64())
        })
    };
    let mut out = Vec::new();
    let mut set = JoinSet::new();
    let limit = hosts_at_once(opts);
    let mut swept = false;
    loop {
        let done = |r: Result<Examined, tokio::task::JoinError>, out: &mut Vec<Examined>| match r {
            Ok(e) => out.push(e),
            Err(e) => tracing::error!("device task failed: {e}"),
        };
        if !swept && set.len() < limit {
            tokio::select! {
                host = rx.recv() => match host {
                    Some((ip, ports)) => {
                        stats.responsive += 1;
                        let net = Arc::clone(&net);
                        let plan = opts.plan;
                        let deadline = opts.limits.device_timeout;
                        set.spawn(async move { examine_within(&net, ip, ports, &plan, deadline).await });
                    }
                    None => swept = true,
                },
                Some(r) = set.join_next(), if !set.is_empty() => done(r, &mut out),
            }
        } else {
            match set.join_next().await {
                Some(r) => done(r, &mut out),
                None if swept => break,
                None => {}
            }
        }
    }
    if let Ok((attempts, secs)) = sweeper.await {
        stats.sweep_attempts = attempts;
        stats.sweep_seconds = secs;
    }
    stats.total_seconds = t0.elapsed().as_secs_f64();
    out.sort_by_key(|e| e.device.address.parse::<Ipv4Addr>().map(u32::from).unwrap_or(0));
    for e in &out {
        match e.device.status {
            DeviceStatus::Identified => stats.identified += 1,
            DeviceStatus::Unidentified => stats.unidentified += 1,
            DeviceStatus::Error => stats.errors += 1,
        }
    }
    (out, stats)
}

/// Devices examined at once. At a low `--rate` the connections they need queue behind the
/// limiter, and that wait counts against each device's deadline: keep the queue to what the
/// rate serves in a fraction of the deadline (a device needs about six connections).
fn hosts_at_once(opts: &ScanOptions) -> usize {
    let by_rate = (f64::from(opts.limits.rate) * opts.limits.device_timeout.as_secs_f64() / 24.0) as usize;
    opts.hosts_at_once.min(by_rate).max(4)
}

fn shuffle(v: &mut [Ipv4Addr]) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Stage 1: which miner ports accept a connection on each host. Hosts with at least one open
/// port go to `tx` as soon as they are known; returns the number of connection attempts.
async fn sweep(
    net: &Arc<Net>,
    order: &[Ipv4Addr],
    tx: tokio::sync::mpsc::Sender<(Ipv4Addr, Vec<u16>)>,
) -> usize {
    let mut retry = Vec::new();
    let mut attempts = 0;
    for pass in 0..2 {
        let hosts: Vec<Ipv4Addr> = if pass == 0 {
            order.to_vec()
        } else {
            std::mem::take(&mut retry)
        };
        if hosts.is_empty() {
            break;
        }
        let mut set = JoinSet::new();
        let mut it = hosts.into_iter();
        // Enough hosts in flight to keep every connection slot busy, but no more sweep connects
        // waiting on the rate limiter than it serves in half a second, so that examinations
        // started meanwhile are not starved behind them.
        let ports = MINER_PORTS.len();
        let in_flight = (net.limits().concurrency / ports)
            .min(net.limits().rate as usize / (2 * ports))
            .max(1);
        loop {
            while set.len() < in_flight {
                let Some(ip) = it.next() else { break };
                let net = Arc::clone(net);
                set.spawn(async move {
                    let results = futures_join(MINER_PORTS.iter().map(|&p| {
                        let net = Arc::clone(&net);
                        async move { (p, net.port_open(ip, p).await) }
                    }))
                    .await;
                    (ip, results)
                });
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            let Ok((ip, results)) = joined else { continue };
            attempts += results.len();
            let ports: Vec<u16> = results
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(p, _)| *p)
                .collect();
            if !ports.is_empty() {
                // The receiver only goes away if the scan itself was dropped.
                if tx.send((ip, ports)).await.is_err() {
                    return attempts;
                }
            } else if pass == 0
                && results
                    .iter()
                    .all(|(_, r)| matches!(r, Err(ProbeError::ConnectTimeout(_))))
            {
                retry.push(ip);
            }
        }
    }
    attempts
}

/// Run futures concurrently on the current task and collect their outputs in order.
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futs: Vec<_> = futs.map(Box::pin).collect();
    let mut outs: Vec<Option<F::Output>> = (0..futs.len()).map(|_| None).collect();
    let mut futs: Vec<Option<_>> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in futs.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        outs[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outs.into_iter().flatten().collect()
}

/// Examine one host within `deadline`; past it, the device is reported with what was learnt.
pub async fn examine_within(
    net: &Net,
    ip: Ipv4Addr,
    ports: Vec<u16>,
    plan: &PlanOptions,
    deadline: Duration,
) -> Examined {
    let mut partial = Examined {
        device: Device {
            address: ip.to_string(),
            ports: ports.clone(),
            ..Device::default()
        },
        observations: Observations::default(),
    };
    match tokio::time::timeout(deadline, examine(net, ip, ports, plan, &mut partial)).await {
        Ok(()) => partial,
        Err(_) => {
            partial.device.errors.push(ProbeFailure {
                port: 0,
                request: "(whole device)".into(),
                error: format!("examination not finished within {deadline:?}"),
            });
            if partial.device.protocol.is_none() {
                partial.device.status = DeviceStatus::Error;
            }
            partial
        }
    }
}

async fn examine(net: &Net, ip: Ipv4Addr, ports: Vec<u16>, plan: &PlanOptions, out: &mut Examined) {
    let has = |p: u16| ports.contains(&p);
    let api_port = [4028u16, 4029].into_iter().find(|p| has(*p));
    let version_cmd = ReadCommand::new("version", None);
    let banner_ports: Vec<u16> = [22u16, 23].into_iter().filter(|p| has(*p)).collect();
    // The API's `version` first; `GET /` only when it leaves the question open, which saves a
    // connection for most devices of a large fleet.
    let (version, v3, banners) = tokio::join!(
        async {
            match (api_port, &version_cmd) {
                (Some(p), Some(c)) => Some(net.rpc(ip, p, c).await),
                _ => None,
            }
        },
        async {
            if has(4433) {
                Some(net.v3(ip, "get.device.info", None).await)
            } else {
                None
            }
        },
        futures_join(
            banner_ports
                .iter()
                .map(|&p| async move { (p, net.banner(ip, p).await) })
        ),
    );
    let mut d = Discovery {
        address: Some(ip),
        ports: ports.clone(),
        api_port,
        version,
        devdetails: None,
        web: None,
        v3,
        banners,
    };
    let mut fam = family::recognise(&d);
    // `version` alone does not name every firmware (old btminer answers it with an error,
    // some stock firmwares with a bare cgminer block): ask `devdetails` before giving up.
    if fam.is_none()
        && let (Some(p), Some(Ok(_))) = (api_port, &d.version)
        && let Some(c) = ReadCommand::new("devdetails", None)
    {
        d.devdetails = Some(net.rpc(ip, p, &c).await);
        fam = family::recognise(&d);
    }
    // The web page decides when the API did not, and also when a stock family that other
    // firmware runs on matched: Vnish and others may answer `version` like stock bmminer, and
    // non-stock signatures must win (the registry tries them first).
    if has(80) && fam.is_none_or(|f| f.hosts_other_firmware()) {
        d.web = Some(net.http(ip, 80, &http::Request::get("/")).await);
        fam = family::recognise(&d);
    }
    record_discovery_failures(&d, fam.is_some(), &mut out.device);
    shells(&d, &mut out.observations);
    let Some(fam) = fam else {
        unrecognised(&d, out);
        return;
    };
    out.device.status = DeviceStatus::Identified;
    out.device.protocol = Some(fam.id().to_string());
    let asks = fam.plan(&d, plan);
    let answers = futures_join(asks.into_iter().map(|ask| async move {
        let a = answer(net, ip, api_port, &ask).await;
        (ask, a)
    }))
    .await;
    for (ask, a) in &answers {
        if let Err(e) = a {
            out.device.errors.push(ProbeFailure {
                port: ask_port(ask, api_port),
                request: ask_label(ask),
                error: e.to_string(),
            });
        }
    }
    fam.interpret(&d, &answers, &mut out.device, &mut out.observations);
}

fn ask_port(ask: &Ask, api_port: Option<u16>) -> u16 {
    match ask {
        Ask::Rpc(_) | Ask::WhatsminerToken { .. } => api_port.unwrap_or(4028),
        Ask::Get(_) | Ask::DigestGet { .. } | Ask::Login { .. } => 80,
        Ask::V3(..) => 4433,
    }
}

fn ask_label(ask: &Ask) -> String {
    match ask {
        Ask::Rpc(c) => c.to_json(),
        Ask::Get(p) => format!("GET {p}"),
        Ask::DigestGet { path, .. } => format!("GET {path} (digest)"),
        Ask::Login { path, label, .. } => format!("POST {path} ({label})"),
        Ask::V3(c, p) => format!("{c} {}", p.unwrap_or("")),
        Ask::WhatsminerToken { .. } => "get_token + encrypted get_miner_info".into(),
    }
}

/// Carry out one ask.
async fn answer(net: &Net, ip: Ipv4Addr, api_port: Option<u16>, ask: &Ask) -> Result<Answer, ProbeError> {
    let api = api_port.unwrap_or(4028);
    match ask {
        Ask::Rpc(c) => net.rpc(ip, api, c).await.map(Answer::Rpc),
        Ask::Get(path) => net.http(ip, 80, &http::Request::get(path)).await.map(Answer::Web),
        Ask::DigestGet { path, user, password } => {
            let first = net.http(ip, 80, &http::Request::get(path)).await?;
            let challenge = first
                .response
                .header("www-authenticate")
                .and_then(digest::parse_challenge);
            match (first.response.status, challenge) {
                (401, Some(c)) => {
                    let cnonce = cnonce(ip);
                    let mut req = http::Request::get(path);
                    req.headers.push((
                        "Authorization".into(),
                        digest::authorization(&c, user, password, "GET", path, &cnonce, 1),
                    ));
                    net.http(ip, 80, &req).await.map(Answer::Web)
                }
                _ => Ok(Answer::Web(first)),
            }
        }
        Ask::Login { path, body, .. } => {
            if !LOGIN_PATHS.contains(&path.as_str()) {
                return Err(ProbeError::Protocol(format!(
                    "refusing to POST to {path}: not a login endpoint"
                )));
            }
            let req = http::Request {
                method: "POST",
                path: path.clone(),
                headers: Vec::new(),
                body: Some(body.clone()),
            };
            net.http(ip, 80, &req).await.map(Answer::Web)
        }
        Ask::V3(cmd, param) => net.v3(ip, cmd, *param).await.map(|(raw, v)| Answer::V3(raw, v)),
        Ask::WhatsminerToken { password } => {
            let token_cmd = ReadCommand::new("get_token", None)
                .ok_or_else(|| ProbeError::Protocol("get_token".into()))?;
            let token = net.rpc(ip, api, &token_cmd).await?;
            let msg = token.decoded.value.get("Msg").cloned().unwrap_or_default();
            let field = |k: &str| {
                msg.get(k)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
            };
            let (Some(salt), Some(newsalt), Some(time)) = (field("salt"), field("newsalt"), field("time"))
            else {
                return Err(ProbeError::Protocol(
                    "get_token reply has no salt/newsalt/time".into(),
                ));
            };
            let session = whatsminer::Session::derive(password, &salt, &newsalt, &time);
            let read = ReadCommand::new("get_miner_info", None)
                .ok_or_else(|| ProbeError::Protocol("get_miner_info".into()))?;
            let reply = net.whatsminer_encrypted(ip, api, &session, &read).await?;
            let opened = session.open_reply(&reply.decoded.value);
            Ok(Answer::Whatsminer(reply, opened))
        }
    }
}

/// A client nonce for Digest: fresh per request (time and address), as RFC 7616 asks.
fn cnonce(ip: Ipv4Addr) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    use md5::Digest as _;
    hex::encode(&md5::Md5::digest(format!("{t}{ip}").as_bytes())[..8])
}

/// Failed discovery probes, as the device's errors. When another surface identified the device,
/// an API port that accepts and closes without a word is how that firmware behaves (Whatsminer
/// API v3 units keep 4028 open but silent), not a fault.
fn record_discovery_failures(d: &Discovery, identified: bool, dev: &mut Device) {
    let mut push = |port: u16, request: &str, e: &ProbeError| {
        dev.errors.push(ProbeFailure {
            port,
            request: request.into(),
            error: e.to_string(),
        });
    };
    if let (Some(p), Some(Err(e))) = (d.api_port, &d.version)
        && !(identified && *e == ProbeError::Empty)
    {
        push(p, r#"{"command":"version"}"#, e);
    }
    if let (Some(p), Some(Err(e))) = (d.api_port, &d.devdetails) {
        push(p, r#"{"command":"devdetails"}"#, e);
    }
    if let Some(Err(e)) = &d.web {
        push(80, "GET /", e);
    }
    if let Some(Err(e)) = &d.v3 {
        push(4433, "get.device.info", e);
    }
}

/// SSH and telnet that answer with their own banner (NET-006).
fn shells(d: &Discovery, obs: &mut Observations) {
    for (port, r) in &d.banners {
        let Ok(bytes) = r else { continue };
        let is_shell = match port {
            22 => bytes.starts_with(b"SSH-"),
            // Telnet opens with IAC option negotiation or a login prompt.
            _ => {
                bytes.first() == Some(&0xff)
                    || String::from_utf8_lossy(bytes)
                        .to_ascii_lowercase()
                        .contains("login")
            }
        };
        if is_shell {
            obs.shells.push((
                *port,
                crate::device::Exchange {
                    port: *port,
                    request: "(connect and listen)".into(),
                    response: hashward_model::bytes_excerpt(&bytes[..bytes.len().min(256)]),
                },
            ));
        }
    }
}

/// No family claimed the host: unidentified when something answered, error when every probe
/// failed.
fn unrecognised(d: &Discovery, out: &mut Examined) {
    let mut heard = Vec::new();
    if let Some(Ok(r)) = &d.version {
        heard.push(family::exchange(d.api_port.unwrap_or(4028), &r.raw));
    }
    if let Some(Ok(r)) = &d.web {
        heard.push(family::exchange(80, &r.raw));
    }
    if let Some(Ok((raw, _))) = &d.v3 {
        heard.push(family::exchange(4433, raw));
    }
    // A miner port that accepted but answered in another protocol is still a device no
    // signature recognises; keep what it said.
    let spoke_otherwise = [&d.version, &d.devdetails]
        .into_iter()
        .flatten()
        .any(|r| matches!(r, Err(ProbeError::Protocol(_))))
        || matches!(d.web, Some(Err(ProbeError::Protocol(_))))
        || matches!(d.v3, Some(Err(ProbeError::Protocol(_))));
    let answered = !heard.is_empty() || spoke_otherwise;
    let miner_port = d
        .ports
        .iter()
        .any(|p| matches!(p, 80 | 443 | 4028 | 4029 | 4433 | 8889 | 50051));
    if answered || (miner_port && out.device.errors.is_empty()) {
        out.device.status = DeviceStatus::Unidentified;
        out.observations.unrecognised = heard;
    } else if !out.device.errors.is_empty() {
        out.device.status = DeviceStatus::Error;
    } else {
        // Only 22/23 open: a host, not a miner port. Unidentified, but not a NET-009 either.
        out.device.status = DeviceStatus::Unidentified;
    }
}
