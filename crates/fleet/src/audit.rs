//! From what a scan saw to findings: NET-001..006, NET-008 and NET-009 per device (NET-007 is
//! [`crate::changes`]). Pure: the same examined devices and policy always give the same
//! findings, so the audit is tested without a network.

use hashward_model::{Evidence, Finding, Policy, RuleId, Severity, Subject};

use crate::device::{Device, DeviceStatus, Exchange, Pool};
use crate::scan::Examined;

/// A pool URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUrl {
    /// Scheme as written, lower-cased (`stratum+tcp`); empty when there is none.
    pub scheme: String,
    /// Host name or IP literal.
    pub host: String,
    /// Port, when given.
    pub port: Option<u16>,
}

impl PoolUrl {
    /// Parse `stratum+tcp://host:port`, `host:port` or `host`.
    pub fn parse(url: &str) -> Option<PoolUrl> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => (String::new(), url),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, tail) = v6.split_once(']')?;
            (h.to_string(), tail.strip_prefix(':').and_then(|p| p.parse().ok()))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h.to_string(), p.parse().ok()),
                _ => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(PoolUrl {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether the connection is unencrypted: `stratum+tcp`, `stratum`, `tcp`, `stratum2+tcp`
    /// is encrypted by Noise (SV2), `stratum+ssl`/`stratum+tls`/`ssl` are TLS. No scheme is
    /// cgminer's default: plaintext.
    pub fn plaintext(&self) -> bool {
        !(self.scheme.contains("ssl") || self.scheme.contains("tls") || self.scheme.starts_with("stratum2"))
    }

    /// Whether the host is an IP literal.
    pub fn ip_literal(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
    }
}

/// Findings for every examined device.
pub fn audit(devices: &[Examined], policy: &Policy) -> Vec<Finding> {
    devices.iter().flat_map(|e| audit_one(e, policy)).collect()
}

/// Findings for one device.
pub fn audit_one(e: &Examined, policy: &Policy) -> Vec<Finding> {
    let dev = &e.device;
    let obs = &e.observations;
    let subject = subject_of(dev);
    let name = label(dev);
    let mut out = Vec::new();

    if !obs.privileged.is_empty() {
        let how: Vec<&str> = obs.privileged.iter().map(|(s, _)| s.as_str()).collect();
        let mut f = Finding::new(
            RuleId::NET_PRIVILEGED_API,
            subject.clone(),
            format!(
                "{name}: the mining API on tcp/{} grants this host privileged (write) access — {}; anyone here can add or switch pools, restart or reconfigure it",
                obs.privileged[0].1.port,
                how.join("; ")
            ),
        );
        for (_, x) in &obs.privileged {
            f = f.with_evidence(evidence(x));
        }
        out.push(f);
    }
    for (channel, creds, x) in &obs.default_credentials {
        out.push(
            Finding::new(
                RuleId::NET_DEFAULT_CREDENTIALS,
                subject.clone(),
                format!(
                    "{name}: the {channel} on tcp/{} accepted the default credentials {creds}",
                    x.port
                ),
            )
            .with_evidence(evidence(x)),
        );
    }
    for (what, x) in &obs.unauthenticated {
        out.push(
            Finding::new(
                RuleId::NET_UNAUTHENTICATED_CONTROL,
                subject.clone(),
                format!("{name}: {what} (tcp/{})", x.port),
            )
            .with_evidence(evidence(x)),
        );
    }
    pool_findings(e, policy, &subject, &name, &mut out);
    for (port, x) in &obs.shells {
        let what = if *port == 22 { "SSH" } else { "telnet" };
        out.push(
            Finding::new(
                RuleId::NET_REMOTE_SHELL,
                subject.clone(),
                format!("{name}: {what} answers on tcp/{port}"),
            )
            .with_severity(if *port == 23 {
                Severity::High
            } else {
                Severity::Medium
            })
            .with_evidence(evidence(x)),
        );
    }
    if dev.status == DeviceStatus::Unidentified
        && (!obs.unrecognised.is_empty() || dev.ports.iter().any(|p| !matches!(p, 22 | 23)))
    {
        let ports: Vec<String> = dev.ports.iter().map(u16::to_string).collect();
        let mut f = Finding::new(
            RuleId::NET_UNIDENTIFIED,
            subject.clone(),
            format!(
                "{}: answers on miner port(s) {} but matches no miner signature{}",
                dev.address,
                ports.join(", "),
                if dev.errors.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        dev.errors
                            .iter()
                            .map(|e| format!("tcp/{}: {}", e.port, e.error))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            ),
        );
        for x in &obs.unrecognised {
            f = f.with_evidence(evidence(x));
        }
        out.push(f);
    }
    out
}

fn pool_findings(e: &Examined, policy: &Policy, subject: &Subject, name: &str, out: &mut Vec<Finding>) {
    let dev = &e.device;
    let mut seen = std::collections::BTreeSet::new();
    let pools: Vec<(&Pool, PoolUrl)> = dev
        .pools
        .iter()
        .filter(|p| seen.insert((p.url.clone(), p.user.clone())))
        .filter_map(|p| PoolUrl::parse(&p.url).map(|u| (p, u)))
        .collect();
    let rule =
        |id: RuleId, list: Vec<&(&Pool, PoolUrl)>, msg: &dyn Fn(&str) -> String, out: &mut Vec<Finding>| {
            if list.is_empty() {
                return;
            }
            let urls: Vec<String> = list.iter().map(|(p, _)| describe(p)).collect();
            let mut f = Finding::new(id, subject.clone(), msg(&urls.join(", ")));
            for (p, _) in &list {
                if let Some(x) = pool_evidence(e, &p.url) {
                    f = f.with_evidence(x);
                }
            }
            out.push(f);
        };
    let address: Option<std::net::IpAddr> = dev.address.parse().ok();
    // A device in a policy group is held to its group's pools.
    let allowed = |host: &str| match address {
        Some(a) => policy.pool_allowed_for(a, host),
        None => policy.pool_allowed(host),
    };
    if policy.pools.allow.is_empty() && policy.groups.iter().all(|g| g.pools.is_empty()) {
        // Nothing to check NET-004 against; the result says the allowlist was not configured.
    } else {
        let outside: Vec<_> = pools
            .iter()
            .filter(|(_, u)| allowed(&u.host) == Some(false))
            .collect();
        rule(
            RuleId::NET_POOL_NOT_ALLOWED,
            outside,
            &|l| format!("{name} mines on pool(s) outside the policy's allowlist: {l}"),
            out,
        );
    }
    let plain: Vec<_> = pools.iter().filter(|(_, u)| u.plaintext()).collect();
    rule(
        RuleId::NET_PLAINTEXT_POOL,
        plain,
        &|l| {
            format!(
                "{name} uses plaintext stratum (work and payout address can be rewritten in transit): {l}"
            )
        },
        out,
    );
    let literal: Vec<_> = pools.iter().filter(|(_, u)| u.ip_literal()).collect();
    rule(
        RuleId::NET_IP_LITERAL_POOL,
        literal,
        &|l| {
            format!(
                "{name} has pool(s) given as an IP literal, so cgminer's client.reconnect suffix check accepts any host sharing the last three octets: {l}"
            )
        },
        out,
    );
}

fn describe(p: &Pool) -> String {
    let mut s = p.url.clone();
    if let Some(u) = &p.user {
        s.push_str(&format!(" (user {u})"));
    }
    if let Some(q) = p.quota.filter(|q| *q != 1.0) {
        s.push_str(&format!(" quota {q}"));
    }
    if let Some(g) = &p.group {
        s.push_str(&format!(" group {g}"));
    }
    s.push_str(&format!(" [{}]", p.source));
    s
}

/// The part of the reply the pool was read from, around its URL.
fn pool_evidence(e: &Examined, url: &str) -> Option<Evidence> {
    e.observations
        .pool_evidence
        .iter()
        .find(|(u, _)| u == url)
        .map(|(_, x)| evidence(x))
}

fn evidence(x: &Exchange) -> Evidence {
    Evidence::Exchange {
        request: format!("tcp/{} {}", x.port, x.request),
        response: x.response.clone(),
    }
}

/// The finding subject for a device.
pub fn subject_of(dev: &Device) -> Subject {
    Subject::Device {
        address: dev.address.clone(),
        mac: dev.mac.clone(),
        serial: dev.serial.clone(),
    }
}

/// `10.0.0.5 (Antminer S19 Pro, Bitmain stock)` for messages.
pub fn label(dev: &Device) -> String {
    match (&dev.model, &dev.firmware) {
        (Some(m), Some(f)) => format!("{} ({m}, {})", dev.address, f.family),
        (Some(m), None) => format!("{} ({m})", dev.address),
        (None, Some(f)) => format!("{} ({})", dev.address, f.family),
        (None, None) => dev.address.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_urls() {
        let u = PoolUrl::parse("stratum+tcp://BTC.f2pool.com:3333").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port),
            ("stratum+tcp", "btc.f2pool.com", Some(3333))
        );
        assert!(u.plaintext() && !u.ip_literal());
        assert!(!PoolUrl::parse("stratum+ssl://x.example:443").unwrap().plaintext());
        assert!(
            !PoolUrl::parse("stratum2+tcp://x.example:3336/9bXiEd8")
                .unwrap()
                .plaintext()
        );
        assert!(PoolUrl::parse("x.example:3333").unwrap().plaintext());
        let ip = PoolUrl::parse("stratum+tcp://192.0.2.7:3333").unwrap();
        assert!(ip.ip_literal());
        assert_eq!(
            PoolUrl::parse("stratum+tcp://user:pw@[2001:db8::1]:3333")
                .unwrap()
                .host,
            "2001:db8::1"
        );
        assert!(PoolUrl::parse("stratum+tcp://").is_none());
        assert!(PoolUrl::parse("").is_none());
    }
}
