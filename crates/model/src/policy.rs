//! The policy file (`--policy hashward.toml`): which pools and destinations a fleet may use.
//!
//! One file serves `fleet scan` and `traffic analyze`; its shape is part of the input contract
//! in `docs/architecture.md`. Unknown keys are refused, naming the key: a misspelt `[pool]`
//! section silently switching the allowlist off would be worse than an error.

use std::net::IpAddr;

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
}

impl Policy {
    /// Parse a policy file's text.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        for entry in &p.pools.allow {
            let host = entry.strip_prefix("*.").unwrap_or(entry);
            if !is_host(host) {
                return Err(PolicyError::BadPoolEntry { entry: entry.clone() });
            }
        }
        Ok(p)
    }

    /// Whether a pool host is allowed: `None` when the policy has no pool allowlist (nothing to
    /// check against), else whether `host` matches an entry, case-insensitively.
    pub fn pool_allowed(&self, host: &str) -> Option<bool> {
        if self.pools.allow.is_empty() {
            return None;
        }
        let host = normalise(host);
        Some(self.pools.allow.iter().any(|entry| {
            let entry = normalise(entry);
            match entry.strip_prefix("*.") {
                Some(parent) => host == parent || host.ends_with(&format!(".{parent}")),
                None => host == entry || same_ip(&host, &entry),
            }
        }))
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
