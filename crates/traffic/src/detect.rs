//! The TRF detections over what the pass observed: phone-home indicators (TRF-001), beacons
//! (TRF-002), `client.reconnect` (TRF-003), pool/worker/wallet changes (TRF-004), plaintext
//! Stratum (TRF-005), destinations outside the policy (TRF-006), management access from
//! outside the management network (TRF-007) and DNS to unexpected resolvers or suspicious
//! domains (TRF-008). Every finding carries the frames (or log lines) that prove it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use hashward_model::{Evidence, Excerpt, Finding, Policy, RuleId, Severity, Subject};
use serde::Serialize;

use crate::analyze::{Analysis, InputClass};
use crate::beacon::{self, BeaconConfig, PairDst, Pairs, Tier, Verdict};
use crate::indicators::{Indicator, Indicators};
use crate::observe::{At, StratumSession, Transport, mac_text};
use crate::proto::stratum;

/// One scored beacon pair, as reported in `result.beacons`.
#[derive(Debug, Clone, Serialize)]
pub struct BeaconReport {
    /// Source address.
    pub src: String,
    /// Destination address or name.
    pub dst: String,
    /// Score 0–1.
    pub score: f64,
    /// RITA tier.
    pub tier: String,
    /// Every factor of the score.
    pub factors: beacon::Factors,
}

/// What the detections produce.
pub struct Detected {
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Beacon scores of every eligible pair (best first).
    pub beacons: Vec<BeaconReport>,
    /// Pairs with strobe-level connection counts.
    pub strobes: Vec<(String, String, u64)>,
}

/// Run every detection.
pub fn detect(a: &Analysis, policy: &Policy, indicators: &Indicators, cfg: &BeaconConfig) -> Detected {
    let ev = EvidenceMaker { a };
    let mut findings = Vec::new();
    phone_home(a, indicators, &ev, &mut findings);
    let (beacons, strobes) = beacons(a, cfg, &ev, &mut findings);
    reconnects(a, &ev, &mut findings);
    changes(a, policy, &ev, &mut findings);
    plaintext(a, &ev, &mut findings);
    not_allowed(a, policy, &ev, &mut findings);
    management(a, policy, &ev, &mut findings);
    dns(a, policy, indicators, &ev, &mut findings);
    findings.sort_by(|x, y| y.severity.cmp(&x.severity).then_with(|| x.rule.cmp(&y.rule)));
    Detected {
        findings,
        beacons,
        strobes,
    }
}

/// Builds evidence from places in the inputs.
struct EvidenceMaker<'a> {
    a: &'a Analysis,
}

impl EvidenceMaker<'_> {
    /// One evidence item per input among `ats` (frames or lines, at most 16 each).
    fn at(&self, ats: &[At], excerpt: Option<&str>) -> Vec<Evidence> {
        let mut by_input: BTreeMap<u16, Vec<At>> = BTreeMap::new();
        for at in ats {
            let list = by_input.entry(at.input).or_default();
            if list.len() < 16 && !list.iter().any(|x| x.frame == at.frame) {
                list.push(*at);
            }
        }
        let mut out = Vec::new();
        let mut excerpt = excerpt.map(|e| Excerpt::Text(e.chars().take(256).collect()));
        for (input, mut list) in by_input {
            list.sort_by_key(|a| a.frame);
            let Some(report) = self.a.inputs.get(input as usize) else {
                continue;
            };
            let class = self.a.classes.get(input as usize).copied();
            match class {
                Some(InputClass::Log) => out.push(Evidence::LogRecords {
                    log: report.path.clone(),
                    log_sha256: report.sha256.clone(),
                    lines: list.iter().map(|a| a.frame).collect(),
                    uids: Vec::new(),
                    excerpt: excerpt.take(),
                }),
                _ => out.push(Evidence::Packets {
                    capture_sha256: report.sha256.clone(),
                    frames: list.iter().map(|a| a.frame).collect(),
                    times: list.iter().map(|a| time(a.ts_us)).collect(),
                    excerpt: excerpt.take(),
                }),
            }
        }
        out
    }
}

/// RFC 3339 with microseconds.
pub fn time(ts_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts_us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_else(|| ts_us.to_string())
}

fn device(a: &Analysis, ip: IpAddr) -> Subject {
    Subject::Device {
        address: ip.to_string(),
        mac: a.obs.macs.get(&ip).map(|m| mac_text(*m)),
        serial: None,
    }
}

fn finding(rule: RuleId, subject: Subject, message: String, evidence: Vec<Evidence>) -> Finding {
    let mut f = Finding::new(rule, subject, message);
    for e in evidence {
        f = f.with_evidence(e);
    }
    f
}

/// Private, shared, loopback, link-local or unique-local: a site's own address.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || (v.octets()[0] == 100 && (v.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v) => {
            v.is_loopback() || (v.segments()[0] & 0xfe00) == 0xfc00 || (v.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn multicast_or_broadcast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_multicast() || v.is_broadcast() || v.octets()[3] == 255,
        IpAddr::V6(v) => v.is_multicast(),
    }
}

/// The name of a destination: what the capture resolved for it.
fn name_of(a: &Analysis, ip: IpAddr) -> Option<&str> {
    a.obs.names.get(&ip).map(|n| &**n)
}

fn session_host(a: &Analysis, s: &StratumSession) -> String {
    s.pool_name
        .clone()
        .or_else(|| name_of(a, s.pool).map(str::to_owned))
        .unwrap_or_else(|| s.pool.to_string())
}

// ---------------------------------------------------------------------------------- TRF-001

struct Hit<'a> {
    indicator: &'a Indicator,
    what: String,
    at: At,
    excerpt: Option<String>,
}

fn phone_home<'a>(a: &Analysis, ind: &'a Indicators, ev: &EvidenceMaker<'_>, out: &mut Vec<Finding>) {
    let mut hits: BTreeMap<(IpAddr, String), Vec<Hit<'a>>> = BTreeMap::new();
    let mut add = |dev: IpAddr, h: Hit<'a>| {
        let list = hits.entry((dev, h.indicator.id.clone())).or_default();
        if list.len() < 32 {
            list.push(h);
        }
    };
    let trf1 = |i: &&Indicator| i.rule == RuleId::TRF_PHONE_HOME;
    for ((client, resolver, name), d) in &a.obs.dns {
        if let Some(i) = ind.best_by_host(name, None, RuleId::TRF_PHONE_HOME) {
            let answers = d
                .answers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            add(
                *client,
                Hit {
                    indicator: i,
                    what: format!(
                        "DNS {} query for {name} to {resolver} ({}×){}",
                        d.qtype,
                        d.queries.max(d.responses),
                        if answers.is_empty() {
                            String::new()
                        } else {
                            format!(", answered {answers}")
                        }
                    ),
                    at: d.first,
                    excerpt: Some(name.to_string()),
                },
            );
        }
    }
    for ((client, server, sni), t) in &a.obs.tls {
        if let Some(i) = ind.best_by_host(sni, Some(server.port()), RuleId::TRF_PHONE_HOME) {
            add(
                *client,
                Hit {
                    indicator: i,
                    what: format!("TLS to {server} with SNI {sni} ({}×)", t.connections),
                    at: t.first,
                    excerpt: Some(format!("SNI {sni}")),
                },
            );
        }
    }
    for ((client, server, host, _path), h) in &a.obs.http {
        if let Some(i) = ind.best_by_host(host, Some(server.port()), RuleId::TRF_PHONE_HOME) {
            add(
                *client,
                Hit {
                    indicator: i,
                    what: format!("HTTP {} to {server} ({}×)", h.excerpt, h.requests),
                    at: h.first,
                    excerpt: Some(h.excerpt.clone()),
                },
            );
        }
    }
    for ((src, dst, port, proto), d) in &a.obs.dests {
        let name = name_of(a, *dst);
        let by_name = name
            .into_iter()
            .flat_map(|n| ind.best_by_host(n, Some(*port), RuleId::TRF_PHONE_HOME));
        let mut seen = BTreeSet::new();
        for i in by_name.chain(ind.by_address(*dst, Some(*port))).filter(trf1) {
            if !seen.insert(i.id.clone()) {
                continue;
            }
            add(
                *src,
                Hit {
                    indicator: i,
                    what: format!(
                        "{} {} connection(s) to {dst}:{port}{} ({} bytes out, {} in)",
                        d.connections,
                        if *proto == 6 { "TCP" } else { "UDP" },
                        name.map(|n| format!(" ({n})")).unwrap_or_default(),
                        d.bytes_out,
                        d.bytes_in
                    ),
                    at: d.first,
                    excerpt: d.excerpt.clone(),
                },
            );
        }
    }
    for s in &a.obs.sessions {
        for r in &s.reconnects {
            let Some(h) = r.host.as_deref() else { continue };
            if let Some(i) = ind.best_by_host(h, r.port, RuleId::TRF_PHONE_HOME) {
                add(
                    s.device,
                    Hit {
                        indicator: i,
                        what: format!("pool {} told it to reconnect to {h}", session_host(a, s)),
                        at: r.at,
                        excerpt: Some(r.excerpt.clone()),
                    },
                );
            }
        }
    }
    for ((dev, _), list) in hits {
        let Some(first) = list.first() else { continue };
        let i = first.indicator;
        let ats: Vec<At> = list.iter().map(|h| h.at).collect();
        // The payload of a connection proves more than the lookup that preceded it.
        let excerpt = list
            .iter()
            .rev()
            .find_map(|h| h.excerpt.clone().filter(|_| h.what.contains("connection")))
            .or_else(|| first.excerpt.clone());
        let seen: Vec<&str> = list.iter().map(|h| h.what.as_str()).take(6).collect();
        let mut f = finding(
            RuleId::TRF_PHONE_HOME,
            device(a, dev),
            format!(
                "{dev} contacted {} [{}]: {}. Seen: {}",
                i.hosts.first().cloned().unwrap_or_default(),
                i.id,
                i.description,
                seen.join("; ")
            ),
            ev.at(&ats, excerpt.as_deref()),
        );
        if let Some(s) = i.severity {
            f = f.with_severity(s);
        }
        out.push(f);
    }
}

// ---------------------------------------------------------------------------------- TRF-002

fn beacons(
    a: &Analysis,
    cfg: &BeaconConfig,
    ev: &EvidenceMaker<'_>,
    out: &mut Vec<Finding>,
) -> (Vec<BeaconReport>, Vec<(String, String, u64)>) {
    let mut pairs = Pairs::new(a.obs.conns.len().clamp(1, 1_000_000));
    let mut firsts: BTreeMap<(IpAddr, String), Vec<At>> = BTreeMap::new();
    for c in &a.obs.conns {
        // As RITA: connections from the site outwards, or named (SNI / Host) ones.
        if !internal(c.src) || multicast_or_broadcast(c.dst) {
            continue;
        }
        // A Host header that is an address names nothing (management GETs to http://10.40.0.7/).
        let name = c
            .fqdn
            .as_deref()
            .filter(|n| !n.is_empty() && n.parse::<IpAddr>().is_err());
        let dst = match name {
            Some(n) => PairDst::Fqdn(n.to_ascii_lowercase()),
            None if internal(c.dst) => continue,
            None => PairDst::Ip(c.dst),
        };
        let key = (c.src, pair_dst_text(&dst));
        let f = firsts.entry(key).or_default();
        if f.len() < 6 {
            f.push(c.at);
        }
        if internal(c.dst) {
            // Through a local proxy: only the name the client asked for is a destination.
            pairs.add(c.src, dst, c.ts_s, c.orig_ip_bytes, c.failed);
        } else {
            if name.is_some() {
                // add_conn scores the address pair too.
                let f = firsts.entry((c.src, c.dst.to_string())).or_default();
                if f.len() < 6 {
                    f.push(c.at);
                }
            }
            let names: Vec<&str> = name.into_iter().collect();
            pairs.add_conn(c.src, c.dst, &names, c.ts_s, c.orig_ip_bytes, c.failed);
        }
    }
    let mut reports = Vec::new();
    let mut strobes = Vec::new();
    for p in pairs.score_all(cfg) {
        let dst = pair_dst_text(&p.dst);
        match p.verdict {
            Verdict::Scored(b) => {
                // RITA's severities: from `medium` up "high", from `low` "medium", from `base` "low".
                let (severity, label) = match b.tier {
                    Tier::High | Tier::Medium => (Some(Severity::High), "high"),
                    Tier::Low => (Some(Severity::Medium), "medium"),
                    Tier::Base => (None, "low"),
                    Tier::None => (None, "none"),
                };
                if let Some(sev) = severity {
                    let ats = firsts.get(&(p.src, dst.clone())).cloned().unwrap_or_default();
                    let fx = &b.factors;
                    let mut evidence = vec![Evidence::Calculation {
                        inputs: serde_json::to_value(fx)
                            .ok()
                            .and_then(|v| v.as_object().cloned())
                            .unwrap_or_default(),
                        formula: "score = 0.25·timestamp + 0.25·data size + 0.25·duration + 0.25·histogram (RITA v5)"
                            .into(),
                        result: serde_json::json!(b.score),
                    }];
                    evidence.extend(ev.at(&ats, None));
                    out.push(
                        finding(
                            RuleId::TRF_BEACON,
                            device(a, p.src),
                            format!(
                                "{} beacons to {dst}: score {:.3} ({label}) over {} connections, median interval {:.0} s (timestamp {:.3}, data size {:.3}, duration {:.3}, histogram {:.3})",
                                p.src,
                                b.score,
                                fx.connections,
                                fx.ts_median_interval_s,
                                fx.ts_score,
                                fx.ds_score,
                                fx.dur_score,
                                fx.hist_score
                            ),
                            evidence,
                        )
                        .with_severity(sev),
                    );
                }
                reports.push(BeaconReport {
                    src: p.src.to_string(),
                    dst,
                    score: b.score,
                    tier: label.to_string(),
                    factors: b.factors,
                });
            }
            Verdict::Strobe { connections } => strobes.push((p.src.to_string(), dst, connections)),
            Verdict::TooFew { .. } => {}
        }
    }
    reports.sort_by(|x, y| y.score.total_cmp(&x.score));
    (reports, strobes)
}

fn pair_dst_text(d: &PairDst) -> String {
    match d {
        PairDst::Ip(ip) => ip.to_string(),
        PairDst::Fqdn(n) => n.clone(),
    }
}

// ---------------------------------------------------------------------------------- TRF-003

fn reconnects(a: &Analysis, ev: &EvidenceMaker<'_>, out: &mut Vec<Finding>) {
    // Sessions by (device, pool name or address, port), in start order: where a device went
    // after a reconnect is one lookup, however many sessions and reconnects a capture holds.
    let mut went: BTreeMap<(IpAddr, String, u16), Vec<&StratumSession>> = BTreeMap::new();
    for t in &a.obs.sessions {
        let host = session_host(a, t).to_ascii_lowercase();
        let addr = t.pool.to_string();
        if host != addr {
            went.entry((t.device, addr, t.pool_port)).or_default().push(t);
        }
        went.entry((t.device, host, t.pool_port)).or_default().push(t);
    }
    for list in went.values_mut() {
        list.sort_by_key(|t| t.start.ts_us);
    }
    for s in &a.obs.sessions {
        let current = session_host(a, s);
        for r in &s.reconnects {
            let new_host = r
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| current.clone());
            let new_port = r.port.unwrap_or(s.pool_port);
            if new_host == current && new_port == s.pool_port {
                continue; // "reconnect to where you are": a pool restart, not a redirect
            }
            let (accepted, reason) = stratum::cgminer_accepts_reconnect(&current, &new_host);
            // Did the device go there? A later session to that host (by name or address) and port.
            let followed = went
                .get(&(s.device, new_host.to_ascii_lowercase(), new_port))
                .and_then(|list| {
                    list.get(list.partition_point(|t| t.start.ts_us < r.at.ts_us))
                        .copied()
                });
            let (severity, verdict) = match (accepted, followed.is_some()) {
                (true, _) if same_domain(&current, &new_host) => {
                    (Severity::Low, "failover within the pool's own domain")
                }
                (true, _) => (Severity::Medium, "stock cgminer would follow it"),
                (false, true) => (
                    Severity::Critical,
                    "stock cgminer refuses it, yet the device followed: patched firmware or another miner program",
                ),
                (false, false) => (
                    Severity::High,
                    "stock cgminer refuses it; the device did not follow in this capture",
                ),
            };
            let mut ats = vec![r.at];
            let mut msg = format!(
                "pool {current}:{} sent client.reconnect to {new_host}:{new_port} (wait {}) to {}; cgminer's suffix check: {} ({reason}); {verdict}",
                s.pool_port,
                r.wait_s.map_or("-".to_string(), |w| format!("{w} s")),
                s.device,
                if accepted { "accepted" } else { "denied" },
            );
            if let Some(t) = followed {
                ats.push(t.start);
                let user = t.users.first().map(|u| u.user.as_str()).unwrap_or("-");
                msg.push_str(&format!(
                    "; it connected to {}:{} at {} as {user}",
                    t.pool,
                    t.pool_port,
                    time(t.start.ts_us)
                ));
            }
            out.push(
                finding(
                    RuleId::TRF_RECONNECT,
                    device(a, s.device),
                    msg,
                    ev.at(&ats, Some(&r.excerpt)),
                )
                .with_severity(severity),
            );
        }
    }
}

/// The registrable part of a name, by the common rule (last two labels, three under a short
/// second-level label such as `co.uk` or `com.cn`): enough to tell a pool's own failover
/// (`eu.pool.tld` → `us.pool.tld`) from another operator. An address is its own domain.
pub fn registrable(host: &str) -> String {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h.parse::<IpAddr>().is_ok() {
        return h;
    }
    let labels: Vec<&str> = h.split('.').collect();
    let n = labels.len();
    let take = if n >= 3 && labels[n - 1].len() == 2 && labels[n - 2].len() <= 3 {
        3
    } else {
        2
    };
    labels[n.saturating_sub(take)..].join(".")
}

fn same_domain(a: &str, b: &str) -> bool {
    registrable(a) == registrable(b)
}

// ---------------------------------------------------------------------------------- TRF-004

/// The account part of a Stratum user (`account.worker`); a wallet or login is its own account.
fn account(user: &str) -> &str {
    user.split_once('.').map_or(user, |(a, _)| a)
}

fn changes(a: &Analysis, policy: &Policy, ev: &EvidenceMaker<'_>, out: &mut Vec<Finding>) {
    let mut by_device: BTreeMap<IpAddr, Vec<&StratumSession>> = BTreeMap::new();
    for s in &a.obs.sessions {
        if !s.users.is_empty() {
            by_device.entry(s.device).or_default().push(s);
        }
    }
    for (dev, mut sessions) in by_device {
        sessions.sort_by_key(|s| s.start.ts_us);
        // The device's authorisations in time order, with the pool each went to.
        let mut auths: Vec<(&StratumSession, &crate::observe::UserSeen)> = Vec::new();
        for s in &sessions {
            for u in &s.users {
                auths.push((s, u));
            }
        }
        auths.sort_by_key(|(_, u)| u.at.ts_us);
        let Some(&(s0, u0)) = auths.first() else { continue };
        let mut reported = BTreeSet::new();
        for &(s, u) in auths.iter().skip(1) {
            let (host0, host) = (session_host(a, s0), session_host(a, s));
            let account_changed = account(&u.user) != account(&u0.user);
            let worker_changed = u.user != u0.user;
            let pool_changed = !same_domain(&host0, &host);
            if !(account_changed || worker_changed || pool_changed) {
                continue;
            }
            if !reported.insert((u.user.clone(), host.clone())) {
                continue;
            }
            let allowed = policy.pool_allowed_for(dev, &host);
            let (severity, what) = if account_changed {
                if allowed == Some(true) && policy.pool_allowed_for(dev, &host0) == Some(true) {
                    (Severity::Low, "account changed between two allowed pools")
                } else {
                    (
                        Severity::Critical,
                        "the account (wallet) receiving the hashrate changed",
                    )
                }
            } else if worker_changed {
                (Severity::High, "the worker changed under the same account")
            } else if allowed == Some(true) {
                continue; // an allowed backup pool with the same user: configured failover
            } else {
                (
                    Severity::High,
                    "the pool changed to another operator with the same user",
                )
            };
            out.push(
                finding(
                    RuleId::TRF_POOL_CHANGE,
                    device(a, dev),
                    format!(
                        "{dev}: {what}: {} on {host0}:{} at {} → {} on {host}:{} at {}{}",
                        u0.user,
                        s0.pool_port,
                        time(u0.at.ts_us),
                        u.user,
                        s.pool_port,
                        time(u.at.ts_us),
                        match allowed {
                            Some(true) => " (pool allowed by the policy)",
                            Some(false) => " (pool not in the policy's allowlist)",
                            None => "",
                        }
                    ),
                    ev.at(&[u0.at, u.at], Some(&format!("{}\n{}", u0.excerpt, u.excerpt))),
                )
                .with_severity(severity),
            );
        }
    }
}

// ---------------------------------------------------------------------------------- TRF-005

fn plaintext(a: &Analysis, ev: &EvidenceMaker<'_>, out: &mut Vec<Finding>) {
    let mut by_pool: BTreeMap<(IpAddr, u16), Vec<&StratumSession>> = BTreeMap::new();
    for s in &a.obs.sessions {
        if matches!(
            s.transport,
            Transport::Plaintext | Transport::Sv2Plaintext | Transport::HttpGetwork
        ) && (s.subscribed || !s.users.is_empty() || s.notifies > 0 || s.submitted > 0)
        {
            by_pool.entry((s.pool, s.pool_port)).or_default().push(s);
        }
    }
    for ((pool, port), sessions) in by_pool {
        let Some(first) = sessions.iter().min_by_key(|s| s.start.ts_us) else {
            continue;
        };
        let devices: BTreeSet<IpAddr> = sessions.iter().map(|s| s.device).collect();
        let users: BTreeSet<&str> = sessions
            .iter()
            .flat_map(|s| s.users.iter().map(|u| u.user.as_str()))
            .collect();
        let host = session_host(a, first);
        let excerpt = first.users.first().map(|u| u.excerpt.clone());
        let ats: Vec<At> = first
            .users
            .first()
            .map(|u| u.at)
            .into_iter()
            .chain([first.start])
            .collect();
        let subject = if devices.len() == 1 {
            device(a, first.device)
        } else {
            Subject::Flow {
                src: format!("{}:{}", first.device, first.device_port),
                dst: format!("{pool}:{port}"),
                proto: "tcp".into(),
                first_seen: time(first.start.ts_us),
            }
        };
        out.push(finding(
            RuleId::TRF_PLAINTEXT_STRATUM,
            subject,
            format!(
                "{} device(s) mine in the clear on {host} ({pool}:{port}), {} session(s), {}: anyone on the path can read the workers and rewrite the jobs or send client.reconnect",
                devices.len(),
                sessions.len(),
                if users.is_empty() {
                    "no authorisation seen".to_string()
                } else {
                    format!("users {}", users.iter().take(5).cloned().collect::<Vec<_>>().join(", "))
                }
            ),
            ev.at(&ats, excerpt.as_deref()),
        ));
    }
}

// ---------------------------------------------------------------------------------- TRF-006

fn not_allowed(a: &Analysis, policy: &Policy, ev: &EvidenceMaker<'_>, out: &mut Vec<Finding>) {
    // Miners: devices seen mining, and members of a policy group.
    let mut miners: BTreeSet<IpAddr> = a.obs.sessions.iter().map(|s| s.device).collect();
    miners.extend(
        a.obs
            .dests
            .keys()
            .map(|k| k.0)
            .filter(|ip| policy.group_of(*ip).is_some()),
    );
    let pool_names: BTreeMap<(IpAddr, IpAddr, u16), String> = a
        .obs
        .sessions
        .iter()
        .map(|s| ((s.device, s.pool, s.pool_port), session_host(a, s)))
        .collect();
    let mut per_device: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut keys: Vec<_> = a.obs.dests.iter().collect();
    keys.sort_by_key(|(k, _)| **k);
    for ((src, dst, port, proto), d) in keys {
        if !miners.contains(src) || multicast_or_broadcast(*dst) || src == dst {
            continue;
        }
        let name = pool_names
            .get(&(*src, *dst, *port))
            .map(String::as_str)
            .or_else(|| name_of(a, *dst));
        if policy.destination_allowed(*src, *dst, name) != Some(false) {
            continue;
        }
        let n = per_device.entry(*src).or_default();
        *n += 1;
        if *n > 10 {
            continue;
        }
        let mining = pool_names.contains_key(&(*src, *dst, *port));
        let group = policy
            .group_of(*src)
            .map(|g| format!(" (group {})", g.name))
            .unwrap_or_default();
        out.push(
            finding(
                RuleId::TRF_NOT_ALLOWED,
                device(a, *src),
                format!(
                    "{src}{group} {} {dst}:{port}/{}{}, which the policy does not allow: {} connection(s), {} bytes out, {} in",
                    if mining { "mines on" } else { "talks to" },
                    if *proto == 6 { "tcp" } else { "udp" },
                    name.map(|n| format!(" ({n})")).unwrap_or_default(),
                    d.connections,
                    d.bytes_out,
                    d.bytes_in
                ),
                ev.at(&[d.first], d.excerpt.as_deref()),
            )
            .with_severity(if mining { Severity::High } else { Severity::Medium }),
        );
    }
    for (dev, n) in per_device {
        if n > 10 {
            out.push(finding(
                RuleId::TRF_NOT_ALLOWED,
                device(a, dev),
                format!(
                    "{dev} talks to {} more destinations outside the policy (first 10 reported)",
                    n - 10
                ),
                Vec::new(),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------- TRF-007

fn management(a: &Analysis, policy: &Policy, ev: &EvidenceMaker<'_>, out: &mut Vec<Finding>) {
    let miners: BTreeSet<IpAddr> = a.obs.sessions.iter().map(|s| s.device).collect();
    let mut by_pair: BTreeMap<(IpAddr, IpAddr), Vec<(u16, &crate::observe::MgmtSeen)>> = BTreeMap::new();
    for ((client, dev, port), m) in &a.obs.mgmt {
        if client == dev || !internal(*dev) || (m.established == 0 && m.api.is_empty()) {
            continue;
        }
        // Port 4028 is the miner API wherever it answers; web and shells count on known miners.
        if *port != 4028 && !miners.contains(dev) {
            continue;
        }
        let outside = match policy.is_management(*client) {
            Some(inside) => !inside,
            None => !internal(*client),
        };
        if outside {
            by_pair.entry((*client, *dev)).or_default().push((*port, m));
        }
    }
    for ((client, dev), list) in by_pair {
        let privileged: Vec<&crate::observe::ApiSeen> = list
            .iter()
            .flat_map(|(_, m)| &m.api)
            .filter(|x| x.privileged)
            .collect();
        let ports: Vec<String> = list
            .iter()
            .map(|(p, m)| {
                format!(
                    "{p}/tcp ({} connection(s), {} answered)",
                    m.connections, m.established
                )
            })
            .collect();
        let mut ats: Vec<At> = Vec::new();
        for (_, m) in &list {
            ats.extend(m.frames.iter().map(|f| At { frame: *f, ..m.first }));
            ats.extend(m.api.iter().map(|x| x.at));
        }
        let mut msg = format!(
            "{client} reached management port(s) of {dev} from outside the management network{}: {}",
            if policy.network.management.is_empty() {
                " (no [network] management in the policy: any non-local source counts)"
            } else {
                ""
            },
            ports.join(", ")
        );
        let excerpt = privileged.first().map(|x| x.request.clone()).or_else(|| {
            list.iter().find_map(|(_, m)| {
                m.api
                    .first()
                    .map(|x| x.request.clone())
                    .or_else(|| m.excerpt.clone())
            })
        });
        for x in &privileged {
            msg.push_str(&format!(
                "; sent privileged API command {}{}",
                x.commands.join("+"),
                x.status
                    .as_deref()
                    .map(|s| format!(" (device answered {s})"))
                    .unwrap_or_default()
            ));
        }
        // A privileged command from outside is control, not just access.
        let severity = if privileged.is_empty() {
            Severity::High
        } else {
            Severity::Critical
        };
        out.push(
            finding(
                RuleId::TRF_MANAGEMENT_ACCESS,
                device(a, dev),
                msg,
                ev.at(&ats, excerpt.as_deref()),
            )
            .with_severity(severity),
        );
    }
}

// ---------------------------------------------------------------------------------- TRF-008

/// Distinct subdomains of one domain queried by one client at which lookups look like data
/// (RITA's C2-over-DNS base tier).
const TUNNEL_SUBDOMAINS: usize = 100;

fn dns(a: &Analysis, policy: &Policy, ind: &Indicators, ev: &EvidenceMaker<'_>, out: &mut Vec<Finding>) {
    // Unexpected resolvers.
    let mut rogue: BTreeMap<(IpAddr, IpAddr), Vec<(&str, &crate::observe::DnsSeen)>> = BTreeMap::new();
    for ((client, resolver, name), d) in &a.obs.dns {
        if d.queries > 0
            && internal(*client)
            && policy.resolver_allowed(*resolver) == Some(false)
            && client != resolver
        {
            rogue.entry((*client, *resolver)).or_default().push((name, d));
        }
    }
    for ((client, resolver), names) in rogue {
        let ats: Vec<At> = names.iter().map(|(_, d)| d.first).take(8).collect();
        let list: Vec<&str> = names.iter().map(|(n, _)| *n).take(8).collect();
        out.push(finding(
            RuleId::TRF_DNS,
            device(a, client),
            format!(
                "{client} asks resolver {resolver}, which is not one of the policy's resolvers, for {} name(s): {}",
                names.len(),
                list.join(", ")
            ),
            ev.at(&ats, list.first().copied()),
        ));
    }
    // Suspicious domains.
    let mut hits: BTreeMap<(IpAddr, String), Vec<(&str, At)>> = BTreeMap::new();
    for ((client, _resolver, name), d) in &a.obs.dns {
        for i in ind.by_host(name, None).filter(|i| i.rule == RuleId::TRF_DNS) {
            hits.entry((*client, i.id.clone()))
                .or_default()
                .push((name, d.first));
        }
    }
    for ((client, id), names) in hits {
        let Some(i) = ind.all().iter().find(|i| i.id == id) else {
            continue;
        };
        let ats: Vec<At> = names.iter().map(|(_, at)| *at).collect();
        let list: BTreeSet<&str> = names.iter().map(|(n, _)| *n).collect();
        let mut f = finding(
            RuleId::TRF_DNS,
            device(a, client),
            format!(
                "{client} looked up {} [{}]: {}",
                list.iter().cloned().collect::<Vec<_>>().join(", "),
                i.id,
                i.description
            ),
            ev.at(&ats, list.first().copied()),
        );
        if let Some(s) = i.severity {
            f = f.with_severity(s);
        }
        out.push(f);
    }
    // Many distinct subdomains of one domain: data carried in names.
    let mut subs: BTreeMap<(IpAddr, String), (BTreeSet<&str>, At)> = BTreeMap::new();
    for ((client, _resolver, name), d) in &a.obs.dns {
        let dom = registrable(name);
        if dom.len() == name.len() {
            continue;
        }
        let e = subs
            .entry((*client, dom))
            .or_insert_with(|| (BTreeSet::new(), d.first));
        if e.0.len() <= 10_000 {
            e.0.insert(name);
        }
        if d.first.ts_us < e.1.ts_us {
            e.1 = d.first;
        }
    }
    for ((client, dom), (names, first)) in subs {
        if names.len() < TUNNEL_SUBDOMAINS {
            continue;
        }
        let sample: Vec<&str> = names.iter().take(3).copied().collect();
        out.push(finding(
            RuleId::TRF_DNS,
            device(a, client),
            format!(
                "{client} looked up {}{} distinct names under {dom} (e.g. {}): the pattern of DNS tunnelling or a generated-domain beacon",
                names.len(),
                if names.len() > 10_000 { "+" } else { "" },
                sample.join(", ")
            ),
            ev.at(&[first], sample.first().copied()),
        ));
    }
}
