//! The policy file (`--policy hashward.toml`): which pools and destinations a fleet may use.
//!
//! Devices may be put in `[[group]]`s with pools and destinations of their own (a hosting
//! customer's racks mine elsewhere than the operator's); a device in no group follows the
//! top-level `[pools]` and `[network] allow`.
//!
//! One file serves `fleet scan` and `traffic analyze`; its shape is part of the input contract
//! in `docs/architecture.md`. Unknown keys are refused, naming the key: a misspelt `[pool]`
//! section silently switching the allowlist off would be worse than an error.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A parsed policy file. The default policy allows nothing explicitly and checks nothing that
/// needs an allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Pool allowlist.
    #[serde(default)]
    pub pools: PoolPolicy,
    /// Network expectations for traffic analysis.
    #[serde(default)]
    pub network: NetworkPolicy,
    /// Device groups with their own allowlists, first match wins.
    #[serde(default, rename = "group", skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<DeviceGroup>,
}

/// `[[group]]`: devices that mine on other pools or may reach other destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceGroup {
    /// A name for reports.
    pub name: String,
    /// Member devices: CIDRs or addresses.
    pub members: Vec<String>,
    /// Pools of this group; empty means the top-level `[pools] allow`.
    #[serde(default)]
    pub pools: Vec<String>,
    /// Destinations this group may reach besides the top-level `[network] allow`.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `[pools]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolPolicy {
    /// Pool hosts the fleet may mine on: names or IP literals; scheme and port do not matter.
    /// A name starting with `*.` also allows every name under it.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `[network]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicy {
    /// Who may reach miner management ports (CIDRs or addresses).
    #[serde(default)]
    pub management: Vec<String>,
    /// DNS servers miners should use.
    #[serde(default)]
    pub resolvers: Vec<String>,
    /// Other destinations miners may talk to (NTP, gateway…).
    #[serde(default)]
    pub allow: Vec<String>,
}

/// A policy file that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not valid TOML, or a key or value the policy does not have.
    #[error("policy file: {0}")]
    Syntax(String),
    /// An allowlist entry that is neither a host name nor an IP literal.
    #[error("policy file: [pools] allow entry {entry:?} is not a host name or IP address")]
    BadPoolEntry {
        /// The entry as written.
        entry: String,
    },
    /// A network entry that is not what its key takes.
    #[error("policy file: {key} entry {entry:?} is not {expected}")]
    BadEntry {
        /// The key, e.g. `[network] management`.
        key: String,
        /// The entry as written.
        entry: String,
        /// What the key takes.
        expected: &'static str,
    },
}

impl Policy {
    /// Parse a policy file's text.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let pools = p.groups.iter().flat_map(|g| &g.pools);
        for entry in p.pools.allow.iter().chain(pools) {
            let host = entry.strip_prefix("*.").unwrap_or(entry);
            if !is_host(host) {
                return Err(PolicyError::BadPoolEntry { entry: entry.clone() });
            }
        }
        let nets = [
            ("[network] management", &p.network.management),
            ("[network] resolvers", &p.network.resolvers),
        ];
        for (key, list) in nets {
            check_entries(key, list, "a CIDR or an IP address", |e| net(e).is_some())?;
        }
        let dests = |e: &str| net(e).is_some() || is_host(e.strip_prefix("*.").unwrap_or(e));
        let expected = "a CIDR, an IP address or a host name";
        check_entries("[network] allow", &p.network.allow, expected, dests)?;
        for g in &p.groups {
            let key = format!("[[group]] {:?} members", g.name);
            check_entries(&key, &g.members, "a CIDR or an IP address", |e| net(e).is_some())?;
            let key = format!("[[group]] {:?} allow", g.name);
            check_entries(&key, &g.allow, expected, dests)?;
        }
        Ok(p)
    }

    /// The first group `device` belongs to.
    pub fn group_of(&self, device: IpAddr) -> Option<&DeviceGroup> {
        self.groups.iter().find(|g| in_any(&g.members, device))
    }

    /// Whether `device` may mine on pool `host`: the device's group's pools when it has
    /// some, else the top-level allowlist; `None` when neither lists any pool.
    pub fn pool_allowed_for(&self, device: IpAddr, host: &str) -> Option<bool> {
        match self.group_of(device) {
            Some(g) if !g.pools.is_empty() => Some(host_listed(&g.pools, host)),
            _ => self.pool_allowed(host),
        }
    }

    /// Whether `device` may talk to a destination known by its address and, when known, its
    /// name: an allowed pool, a resolver, or an entry of `[network] allow` or of the device's
    /// group. `None` when the policy lists no pools and no destinations.
    pub fn destination_allowed(&self, device: IpAddr, addr: IpAddr, name: Option<&str>) -> Option<bool> {
        let group = self.group_of(device);
        let group_allow: &[String] = group.map_or(&[], |g| &g.allow);
        let pools: &[String] = match group {
            Some(g) if !g.pools.is_empty() => &g.pools,
            _ => &self.pools.allow,
        };
        if pools.is_empty() && self.network.allow.is_empty() && group_allow.is_empty() {
            return None;
        }
        let listed = |list: &[String]| {
            in_any(list, addr)
                || host_listed(list, &addr.to_string())
                || name.is_some_and(|n| host_listed(list, n))
        };
        Some(
            listed(pools)
                || listed(&self.network.allow)
                || listed(group_allow)
                || self.resolver_allowed(addr) == Some(true),
        )
    }

    /// Whether `addr` is in `[network] management`; `None` when that list is empty.
    pub fn is_management(&self, addr: IpAddr) -> Option<bool> {
        (!self.network.management.is_empty()).then(|| in_any(&self.network.management, addr))
    }

    /// Whether `addr` is one of `[network] resolvers`; `None` when that list is empty.
    pub fn resolver_allowed(&self, addr: IpAddr) -> Option<bool> {
        (!self.network.resolvers.is_empty()).then(|| in_any(&self.network.resolvers, addr))
    }

    /// Whether a pool host is allowed: `None` when the policy has no pool allowlist (nothing to
    /// check against), else whether `host` matches an entry, case-insensitively.
    pub fn pool_allowed(&self, host: &str) -> Option<bool> {
        if self.pools.allow.is_empty() {
            return None;
        }
        Some(host_listed(&self.pools.allow, host))
    }
}

/// Whether `host` matches an entry of `list` (exact, `*.parent`, or the same IP literal).
fn host_listed(list: &[String], host: &str) -> bool {
    let host = normalise(host);
    list.iter().any(|entry| {
        let entry = normalise(entry);
        match entry.strip_prefix("*.") {
            Some(parent) => host == parent || host.ends_with(&format!(".{parent}")),
            None => host == entry || same_ip(&host, &entry),
        }
    })
}

/// A CIDR or a single address as a network.
fn net(entry: &str) -> Option<IpNet> {
    let e = normalise(entry);
    e.parse::<IpNet>()
        .ok()
        .or_else(|| e.parse::<IpAddr>().ok().map(IpNet::from))
}

fn in_any(list: &[String], addr: IpAddr) -> bool {
    list.iter().filter_map(|e| net(e)).any(|n| n.contains(&addr))
}

fn check_entries(
    key: &str,
    list: &[String],
    expected: &'static str,
    ok: impl Fn(&str) -> bool,
) -> Result<(), PolicyError> {
    match list.iter().find(|e| !ok(e)) {
        Some(entry) => Err(PolicyError::BadEntry {
            key: key.to_owned(),
            entry: entry.clone(),
            expected,
        }),
        None => Ok(()),
    }
}

fn normalise(s: &str) -> String {
    s.trim()
        .trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn same_ip(a: &str, b: &str) -> bool {
    matches!((a.parse::<IpAddr>(), b.parse::<IpAddr>()), (Ok(x), Ok(y)) if x == y)
}

/// A DNS name (letters, digits, `-`, `_`, dots) or an IP literal.
fn is_host(s: &str) -> bool {
    let s = normalise(s);
    !s.is_empty()
        && s.len() <= 253
        && (s.parse::<IpAddr>().is_ok()
            || s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let p = Policy::from_toml(
            r#"
[pools]
allow = ["ss.antpool.com", "btc.f2pool.com", "10.20.0.5", "*.braiins.com"]
[network]
management = ["10.40.0.0/28"]
resolvers  = ["10.40.0.1"]
allow      = ["10.40.0.1"]
"#,
        )
        .unwrap();
        assert_eq!(p.pool_allowed("SS.Antpool.com."), Some(true));
        assert_eq!(p.pool_allowed("10.20.0.5"), Some(true));
        assert_eq!(p.pool_allowed("stratum.braiins.com"), Some(true));
        assert_eq!(p.pool_allowed("braiins.com"), Some(true));
        assert_eq!(p.pool_allowed("evilbraiins.com"), Some(false));
        assert_eq!(p.pool_allowed("antpool.com"), Some(false));
        assert_eq!(p.pool_allowed("10.20.0.6"), Some(false));
        assert_eq!(p.network.management, ["10.40.0.0/28"]);
    }

    #[test]
    fn groups_have_their_own_pools_and_destinations() {
        let p = Policy::from_toml(
            r#"
[pools]
allow = ["ss.antpool.com"]
[network]
management = ["10.40.0.0/28"]
resolvers  = ["10.40.0.1"]
allow      = ["10.40.0.1", "*.ntp.org"]
[[group]]
name = "customer-b"
members = ["10.41.0.0/16"]
pools = ["btc.f2pool.com"]
allow = ["203.0.113.7"]
"#,
        )
        .unwrap();
        let own: IpAddr = "10.40.3.4".parse().unwrap();
        let leased: IpAddr = "10.41.3.4".parse().unwrap();
        assert_eq!(p.group_of(leased).map(|g| g.name.as_str()), Some("customer-b"));
        assert!(p.group_of(own).is_none());
        assert_eq!(p.pool_allowed_for(own, "ss.antpool.com"), Some(true));
        assert_eq!(p.pool_allowed_for(own, "btc.f2pool.com"), Some(false));
        assert_eq!(p.pool_allowed_for(leased, "btc.f2pool.com"), Some(true));
        assert_eq!(p.pool_allowed_for(leased, "ss.antpool.com"), Some(false));
        let x: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(p.destination_allowed(leased, x, None), Some(true));
        assert_eq!(p.destination_allowed(own, x, None), Some(false));
        let ntp: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            p.destination_allowed(own, ntp, Some("0.pool.ntp.org")),
            Some(true)
        );
        let resolver: IpAddr = "10.40.0.1".parse().unwrap();
        assert_eq!(p.destination_allowed(own, resolver, None), Some(true));
        assert_eq!(p.is_management("10.40.0.5".parse().unwrap()), Some(true));
        assert_eq!(p.is_management("10.40.0.16".parse().unwrap()), Some(false));
        assert_eq!(p.resolver_allowed("8.8.8.8".parse().unwrap()), Some(false));
        assert_eq!(Policy::default().destination_allowed(own, x, None), None);
        assert_eq!(Policy::default().is_management(x), None);
    }

    #[test]
    fn bad_network_entries_name_their_key() {
        let e = Policy::from_toml("[network]\nmanagement = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(e.to_string().contains("management"), "{e}");
        let e = Policy::from_toml("[[group]]\nname = \"a\"\nmembers = [\"rack 4\"]\n").unwrap_err();
        assert!(e.to_string().contains("members"), "{e}");
    }

    #[test]
    fn no_allowlist_means_nothing_to_check() {
        assert_eq!(Policy::default().pool_allowed("x.example"), None);
        assert_eq!(Policy::from_toml("").unwrap(), Policy::default());
    }

    #[test]
    fn a_misspelt_key_is_an_error_naming_it() {
        let e = Policy::from_toml("[pool]\nallow = [\"a.b\"]\n").unwrap_err();
        assert!(e.to_string().contains("pool"), "{e}");
        let e = Policy::from_toml("[pools]\nalow = []\n").unwrap_err();
        assert!(e.to_string().contains("alow"), "{e}");
        let e = Policy::from_toml("[pools]\nallow = [\"a b\"]\n").unwrap_err();
        assert!(matches!(e, PolicyError::BadPoolEntry { .. }), "{e}");
    }
}
