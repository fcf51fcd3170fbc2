//! Network indicators (`rules/traffic-indicators.toml`): destinations whose contact is evidence
//! of remote control or phone-home (TRF-001) and domains a miner has no business resolving
//! (TRF-008). Data with sources, not code constants.

use std::net::IpAddr;

use hashward_model::{RuleId, Severity};
use serde::Deserialize;

const TABLE: &str = include_str!("../../../rules/traffic-indicators.toml");

/// One indicator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// Stable id (`antbleed`).
    pub id: String,
    /// Catalogue id of the finding it raises.
    pub rule: RuleId,
    /// Severity when it differs from the rule's.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Host names, matched exactly or as a parent domain.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Destination addresses.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// Ports that narrow the match; empty means any.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// What contact means.
    pub description: String,
    /// Where the fact comes from.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    indicator: Vec<Indicator>,
}

/// The indicator table.
#[derive(Debug, Clone)]
pub struct Indicators {
    list: Vec<Indicator>,
}

/// A rules file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("traffic indicators: {0}")]
pub struct IndicatorError(String);

impl Indicators {
    /// The table shipped in `rules/traffic-indicators.toml`.
    pub fn builtin() -> Indicators {
        // The shipped table is checked by a test; a broken one is a build defect.
        Indicators::parse(TABLE).unwrap_or(Indicators { list: Vec::new() })
    }

    /// Parse a table in the same format.
    pub fn parse(text: &str) -> Result<Indicators, IndicatorError> {
        let f: File = toml::from_str(text).map_err(|e| IndicatorError(e.to_string()))?;
        let mut list = f.indicator;
        for i in &mut list {
            for h in &mut i.hosts {
                *h = normalise(h);
            }
        }
        Ok(Indicators { list })
    }

    /// Every indicator.
    pub fn all(&self) -> &[Indicator] {
        &self.list
    }

    /// The indicators a host name matches (port `None`: a DNS lookup, any port).
    pub fn by_host(&self, host: &str, port: Option<u16>) -> impl Iterator<Item = &Indicator> {
        let host = normalise(host);
        self.list.iter().filter(move |i| {
            port_ok(i, port)
                && i.hosts.iter().any(|h| {
                    host == *h
                        || (host.len() > h.len() && host.ends_with(h.as_str()) && {
                            let cut = host.len() - h.len() - 1;
                            host.as_bytes().get(cut) == Some(&b'.')
                        })
                })
        })
    }

    /// The most specific indicator of `rule` a host matches: the one whose matching entry is
    /// longest (`auth.minerlink.com` before `minerlink.com`).
    pub fn best_by_host(&self, host: &str, port: Option<u16>, rule: RuleId) -> Option<&Indicator> {
        let h = normalise(host);
        self.by_host(host, port)
            .filter(|i| i.rule == rule)
            .max_by_key(|i| {
                i.hosts
                    .iter()
                    .filter(|x| h.ends_with(x.as_str()))
                    .map(String::len)
                    .max()
            })
    }

    /// The indicators an address matches.
    pub fn by_address(&self, addr: IpAddr, port: Option<u16>) -> impl Iterator<Item = &Indicator> {
        self.list
            .iter()
            .filter(move |i| port_ok(i, port) && i.addresses.contains(&addr))
    }
}

fn port_ok(i: &Indicator, port: Option<u16>) -> bool {
    match port {
        Some(p) => i.ports.is_empty() || i.ports.contains(&p),
        None => true,
    }
}

fn normalise(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_names_catalogue_rules() {
        let t = Indicators::parse(TABLE).unwrap();
        assert!(t.all().len() >= 5);
        for i in t.all() {
            assert!(
                hashward_model::CATALOGUE.iter().any(|r| r.id == i.rule.as_str()),
                "{}",
                i.id
            );
            assert!(!i.source.is_empty() && !i.description.is_empty(), "{}", i.id);
            assert!(!i.hosts.is_empty() || !i.addresses.is_empty(), "{}", i.id);
        }
    }

    #[test]
    fn hosts_match_exactly_or_as_parents_and_ports_narrow() {
        let t = Indicators::builtin();
        let ids = |h: &str, p: Option<u16>| t.by_host(h, p).map(|i| i.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids("AUTH.minerlink.com.", None), ["antbleed", "vendor-cloud"]);
        assert_eq!(
            ids("auth.minerlink.com", Some(7000)),
            ["antbleed", "vendor-cloud"]
        );
        assert_eq!(ids("auth.minerlink.com", Some(80)), ["vendor-cloud"]);
        assert!(ids("notminerlink.com", None).is_empty());
        assert_eq!(ids("la01.supportxmr.com", None), ["monero-pools"]);
        assert!(ids("stratum.antpool.com", None).is_empty());
    }
}
