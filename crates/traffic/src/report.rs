//! The `traffic analyze` result: per device what it talks to, its Stratum sessions, DNS and TLS
//! names; the fleet-wide DNS, TLS, session and beacon tables; counters.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Value, json};

use crate::analyze::Analysis;
use crate::detect::{BeaconReport, Detected, internal, time};
use crate::observe::{StratumSession, mac_text};

/// One stratum session as reported.
#[derive(Debug, Serialize)]
pub struct SessionReport<'a> {
    /// Device address.
    pub device: String,
    /// Device MAC.
    pub mac: Option<&'a str>,
    /// Pool `address:port`.
    pub pool: String,
    /// Pool name (SNI or DNS), when known.
    pub pool_name: Option<String>,
    /// Transport.
    pub transport: crate::observe::Transport,
    /// Dialect.
    pub dialect: &'static str,
    /// Miner software.
    pub agent: Option<&'a str>,
    /// Users authorised, in order.
    pub users: Vec<&'a str>,
    /// First packet (RFC 3339).
    pub start: String,
    /// Last packet (RFC 3339).
    pub end: String,
    /// Capture input index and first frame.
    pub input: u16,
    /// First frame.
    pub first_frame: u64,
    /// The capture saw the subscribe / login.
    pub subscribed: bool,
    /// Shares.
    pub shares: Value,
    /// Jobs received.
    pub notifies: u64,
    /// Last difficulty.
    pub difficulty: Option<f64>,
    /// Reconnects received.
    pub reconnects: Vec<Value>,
    /// show_message texts.
    pub messages: &'a [String],
    /// SV2 SetupConnection.
    pub sv2_setup: Option<&'a str>,
}

fn session<'a>(a: &Analysis, s: &'a StratumSession) -> SessionReport<'a> {
    SessionReport {
        device: s.device.to_string(),
        mac: s.mac.as_deref(),
        pool: format!("{}:{}", s.pool, s.pool_port),
        pool_name: s.pool_name.clone().or_else(|| a.obs.names.get(&s.pool).map(|n| n.to_string())),
        transport: s.transport,
        dialect: s.dialect,
        agent: s.agent.as_deref(),
        users: s.users.iter().map(|u| u.user.as_str()).collect(),
        start: time(s.start.ts_us),
        end: time(s.end_us),
        input: s.start.input,
        first_frame: s.start.frame,
        subscribed: s.subscribed,
        shares: json!({"submitted": s.submitted, "accepted": s.accepted, "rejected": s.rejected}),
        notifies: s.notifies,
        difficulty: s.difficulty,
        reconnects: s
            .reconnects
            .iter()
            .map(|r| json!({"host": r.host, "port": r.port, "wait_s": r.wait_s, "frame": r.at.frame, "time": time(r.at.ts_us)}))
            .collect(),
        messages: &s.messages,
        sv2_setup: s.sv2_setup.as_deref(),
    }
}

/// Build `result`.
pub fn result(a: &Analysis, d: &Detected, policy_given: bool) -> Value {
    let obs = &a.obs;
    let mut sessions: Vec<&StratumSession> = obs.sessions.iter().collect();
    sessions.sort_by_key(|s| (s.start.ts_us, s.device, s.device_port));

    // Devices: local addresses that started connections, and every device seen mining.
    let mut devices: BTreeMap<IpAddr, DeviceAcc> = BTreeMap::new();
    for ((src, dst, port, proto), x) in &obs.dests {
        if !internal(*src) {
            continue;
        }
        let e = devices.entry(*src).or_default();
        e.destinations.push(json!({
            "address": dst.to_string(),
            "name": obs.names.get(dst).map(|n| n.to_string()),
            "port": port,
            "proto": if *proto == 6 { "tcp" } else if *proto == 17 { "udp" } else { "other" },
            "connections": x.connections,
            "bytes_out": x.bytes_out,
            "bytes_in": x.bytes_in,
            "first": time(x.first.ts_us),
            "last": time(x.last_us),
        }));
    }
    for s in &sessions {
        let e = devices.entry(s.device).or_default();
        e.sessions.push(json!({
            "pool": format!("{}:{}", s.pool, s.pool_port),
            "pool_name": s.pool_name.clone().or_else(|| obs.names.get(&s.pool).map(|n| n.to_string())),
            "transport": s.transport,
            "users": s.users.iter().map(|u| u.user.as_str()).collect::<Vec<_>>(),
            "agent": s.agent,
            "submitted": s.submitted,
            "accepted": s.accepted,
            "start": time(s.start.ts_us),
        }));
    }
    for (client, _resolver, name) in obs.dns.keys() {
        if let Some(e) = devices.get_mut(client) {
            e.dns.insert(name.to_string());
        }
    }
    for (client, _server, sni) in obs.tls.keys() {
        if let Some(e) = devices.get_mut(client)
            && !sni.is_empty()
        {
            e.tls.insert(sni.to_string());
        }
    }
    let devices: Vec<Value> = devices
        .into_iter()
        .map(|(ip, mut e)| {
            e.destinations
                .sort_by(|x, y| y["bytes_out"].as_u64().cmp(&x["bytes_out"].as_u64()));
            json!({
                "address": ip.to_string(),
                "mac": obs.macs.get(&ip).map(|m| mac_text(*m)),
                "destinations": e.destinations,
                "stratum_sessions": e.sessions,
                "dns": e.dns,
                "tls": e.tls,
            })
        })
        .collect();

    let mut dns: BTreeMap<&str, DnsAcc> = BTreeMap::new();
    for ((client, resolver, name), x) in &obs.dns {
        let e = dns
            .entry(name)
            .or_insert_with(|| (0, BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), x.qtype));
        e.0 += x.queries.max(x.responses);
        if e.1.len() < 64 {
            e.1.insert(*client);
        }
        e.2.insert(*resolver);
        e.3.extend(x.answers.iter().copied().take(16));
    }
    let dns: Vec<Value> = dns
        .into_iter()
        .map(|(name, (n, clients, resolvers, answers, qtype))| {
            json!({"name": name, "qtype": qtype, "queries": n, "clients": clients.len(), "resolvers": resolvers, "answers": answers})
        })
        .collect();

    let mut tls: BTreeMap<(&str, &str), TlsAcc<'_>> = BTreeMap::new();
    for ((client, server, sni), x) in &obs.tls {
        let e = tls
            .entry((sni, &x.ja4))
            .or_insert_with(|| (0, BTreeSet::new(), BTreeSet::new(), &x.alpn));
        e.0 += x.connections;
        if e.1.len() < 64 {
            e.1.insert(*client);
        }
        if e.2.len() < 16 {
            e.2.insert(server.to_string());
        }
    }
    let tls: Vec<Value> = tls
        .into_iter()
        .map(|((sni, ja4), (n, clients, servers, alpn))| {
            json!({"sni": if sni.is_empty() { None } else { Some(sni) }, "ja4": ja4, "alpn": alpn, "connections": n, "clients": clients.len(), "servers": servers})
        })
        .collect();

    let http: Vec<Value> = {
        let mut v: Vec<_> = obs.http.iter().collect();
        v.sort_by_key(|(_, h)| h.first.ts_us);
        v.into_iter()
            .take(10_000)
            .map(|((client, server, host, path), h)| {
                json!({"client": client.to_string(), "server": server.to_string(), "host": host.as_ref(), "path": path.as_ref(), "method": h.method, "user_agent": h.user_agent, "requests": h.requests})
            })
            .collect()
    };

    let management: Vec<Value> = {
        let mut v: Vec<_> = obs.mgmt.iter().collect();
        v.sort_by_key(|(k, _)| **k);
        v.into_iter()
            .map(|((client, dev, port), m)| {
                json!({
                    "client": client.to_string(), "device": dev.to_string(), "port": port,
                    "connections": m.connections, "established": m.established,
                    "api": m.api.iter().map(|x| json!({"commands": x.commands, "privileged": x.privileged, "status": x.status})).collect::<Vec<_>>(),
                })
            })
            .collect()
    };

    let beacons: &[BeaconReport] = &d.beacons;
    let c = &obs.counters;
    json!({
        "flows": c.flows,
        "devices": devices,
        "dns": dns,
        "tls": tls,
        "http": http,
        "stratum_sessions": sessions.iter().map(|s| session(a, s)).collect::<Vec<_>>(),
        "beacons": beacons,
        "strobes": d.strobes.iter().map(|(s, t, n)| json!({"src": s, "dst": t, "connections": n})).collect::<Vec<_>>(),
        "management": management,
        "inputs": a.inputs,
        "stats": {
            "packets": c.packets,
            "bytes": c.bytes,
            "non_ip": c.non_ip,
            "decode_errors": c.decode_errors,
            "fragments": c.fragments,
            "flows": c.flows,
            "flows_evicted_by_cap": c.flows_evicted_by_cap,
            "gap_bytes": c.gap_bytes,
            "dropped": c.dropped,
            "workers": a.workers,
            "seconds": a.seconds,
            "first": obs.span.map(|(x, _)| time(x)),
            "last": obs.span.map(|(_, y)| time(y)),
        },
        "policy": policy_given,
    })
}

/// Per name: queries, clients, resolvers, answers, query type.
type DnsAcc = (
    u64,
    BTreeSet<IpAddr>,
    BTreeSet<IpAddr>,
    BTreeSet<IpAddr>,
    &'static str,
);
/// Per (SNI, JA4): connections, clients, servers, ALPN.
type TlsAcc<'a> = (u64, BTreeSet<IpAddr>, BTreeSet<String>, &'a [String]);

#[derive(Default)]
struct DeviceAcc {
    destinations: Vec<Value>,
    sessions: Vec<Value>,
    dns: BTreeSet<String>,
    tls: BTreeSet<String>,
}
