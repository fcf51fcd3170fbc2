//! Network endpoints written into binaries and scripts: URLs (stratum ones too), host names
//! and IPv4 addresses, each classified (pool, vendor cloud, time, private address, other) with
//! the files it is in.
//!
//! Found by a `strings`-like pass over printable runs, no regex engine: a run is searched for
//! `://` (URLs) and for dotted tokens (host names with a known top-level domain, IPv4
//! literals). Top-level domains are a fixed list of common ones, without those that double as
//! file extensions (`.sh`, `.so`, `.py`, `.pl`, `.in`, `.cc`), because a firmware's strings are
//! full of file names. Classification is data: `rules/endpoints.toml`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// How an endpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// `scheme://host…` other than stratum.
    Url,
    /// `stratum+tcp://…` and its variants.
    Stratum,
    /// A bare host name.
    Domain,
    /// A bare IPv4 address.
    Ip,
}

/// What an endpoint is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointClass {
    /// A mining pool.
    Pool,
    /// The manufacturer's services.
    VendorCloud,
    /// Network time.
    Time,
    /// A private, loopback or link-local address.
    Private,
    /// Anything else.
    Other,
}

/// A place an endpoint was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointSite {
    /// File in the tree.
    pub file: String,
    /// Byte offset.
    pub offset: u64,
}

/// One endpoint and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// As written (a URL in full, at most 200 bytes).
    pub value: String,
    /// Its form.
    pub kind: EndpointKind,
    /// The host (lower case).
    pub host: String,
    /// Port, when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Classification.
    pub class: EndpointClass,
    /// Files it is in (the first few).
    pub sites: Vec<EndpointSite>,
    /// How many files it is in.
    pub files: u64,
}

/// Endpoints per file at most.
const MAX_PER_FILE: usize = 256;
/// Distinct endpoints kept at most.
pub const MAX_ENDPOINTS: usize = 4096;
/// Sites kept per endpoint.
const MAX_SITES: usize = 8;

const TLDS: &[&str] = &[
    "com", "net", "org", "io", "cn", "biz", "top", "xyz", "pro", "tv", "uk", "ru", "jp", "kr", "hk", "tw",
    "eu", "app", "dev", "cloud", "online", "site", "club", "ca", "au", "nl", "fr", "es", "br", "ch", "se",
    "fi", "cz", "dk", "ir", "kz", "ua", "gov", "edu", "mil", "tech", "stream", "asia", "vip", "link",
];
/// Top-level domains that are also words in log and key names (`fan.info`, `temp.de`,
/// `serial.no`): a host under them needs three labels or a listed suffix.
const WORDY_TLDS: &[&str] = &[
    "info", "me", "us", "de", "co", "it", "no", "at", "be", "is", "in", "to",
];

#[derive(Deserialize)]
struct Rules {
    group: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    class: EndpointClass,
    suffixes: Vec<String>,
    #[allow(dead_code)]
    note: String,
    #[allow(dead_code)]
    source: String,
}

/// Host suffix → class, from `rules/endpoints.toml`.
fn suffixes() -> &'static Vec<(String, EndpointClass)> {
    static S: std::sync::OnceLock<Vec<(String, EndpointClass)>> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let rules: Rules = toml::from_str(include_str!("../../../../rules/endpoints.toml"))
            .unwrap_or_else(|e| unreachable!("rules/endpoints.toml is checked by a test: {e}"));
        let mut v: Vec<(String, EndpointClass)> = rules
            .group
            .into_iter()
            .flat_map(|g| g.suffixes.into_iter().map(move |s| (s, g.class)))
            .collect();
        // Longest first, so the most specific suffix wins.
        v.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        v
    })
}

/// The class of `host` written as `kind`.
pub fn classify(host: &str, kind: EndpointKind) -> EndpointClass {
    if let Ok(ip) = host.parse::<Ipv4Addr>()
        && (ip.is_private()
            || ip.is_loopback()
            || ip.is_link_local()
            || ip.octets()[0] == 100 && (64..128).contains(&ip.octets()[1]))
    {
        return EndpointClass::Private;
    }
    for (s, class) in suffixes() {
        if host == s || host.strip_suffix(s.as_str()).is_some_and(|h| h.ends_with('.')) {
            return *class;
        }
    }
    if kind == EndpointKind::Stratum {
        return EndpointClass::Pool;
    }
    let first = host.split('.').next().unwrap_or("");
    if first == "ntp"
        || first == "time"
        || first.starts_with("ntp") && first[3..].chars().all(|c| c.is_ascii_digit())
    {
        return EndpointClass::Time;
    }
    EndpointClass::Other
}

/// One endpoint occurrence in a file.
pub(crate) struct Hit {
    pub value: String,
    pub kind: EndpointKind,
    pub host: String,
    pub port: Option<u16>,
    pub offset: u64,
}

fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// A host name: labels of letters, digits and `-`, at least two, a known TLD last, no label
/// empty or longer than 63.
fn is_domain(h: &str) -> bool {
    if h.len() > 253 || h.len() < 4 {
        return false;
    }
    let labels: Vec<&str> = h.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-'))
    {
        return false;
    }
    let tld = labels[labels.len() - 1];
    let sld = labels[labels.len() - 2];
    let known = TLDS.contains(&tld)
        || WORDY_TLDS.contains(&tld) && (labels.len() >= 3 || suffixes().iter().any(|(s, _)| s == h));
    known
        && sld.len() >= 2
        && labels[..labels.len() - 1]
            .iter()
            .any(|l| l.bytes().any(|b| b.is_ascii_alphabetic()))
}

fn is_ip(h: &str) -> bool {
    h.parse::<Ipv4Addr>()
        .is_ok_and(|ip| !ip.is_unspecified() && !ip.is_broadcast() && ip.octets()[0] != 255)
        && h.split('.').all(|o| o.len() == 1 || !o.starts_with('0'))
}

/// Endpoints in one printable run starting at `base`.
fn in_run(run: &[u8], base: u64, out: &mut Vec<Hit>) {
    let mut covered = 0usize;
    for at in memchr::memmem::find_iter(run, b"://") {
        if at < covered {
            continue;
        }
        let start = run[..at]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || b"+.-".contains(b)))
            .map_or(0, |i| i + 1);
        let scheme = String::from_utf8_lossy(&run[start..at]).to_ascii_lowercase();
        if scheme.is_empty() || !scheme.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let rest = &run[at + 3..];
        let end = rest
            .iter()
            .position(|b| b.is_ascii_whitespace() || b"\"'<>`|;,(){}[]\\".contains(b))
            .unwrap_or(rest.len());
        let authority_end = rest[..end].iter().position(|b| b"/?#".contains(b)).unwrap_or(end);
        let authority = String::from_utf8_lossy(&rest[..authority_end]);
        let hostport = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => (h, p.parse().ok()),
            _ => (hostport, None),
        };
        let host = host.to_ascii_lowercase();
        if !(is_domain(&host)
            || is_ip(&host)
            || (!host.is_empty() && scheme.starts_with("stratum") && host.bytes().all(host_byte)))
        {
            continue;
        }
        let kind = if scheme.starts_with("stratum") {
            EndpointKind::Stratum
        } else {
            EndpointKind::Url
        };
        let value: String = String::from_utf8_lossy(&run[start..at + 3 + end])
            .chars()
            .take(200)
            .collect();
        out.push(Hit {
            value,
            kind,
            host,
            port,
            offset: base + start as u64,
        });
        covered = at + 3 + end;
    }
    // Bare host names and addresses outside the URLs.
    let mut i = 0;
    while i < run.len() {
        if !host_byte(run[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < run.len() && host_byte(run[i]) {
            i += 1;
        }
        if s < covered && i <= covered {
            continue;
        }
        // A token glued to `/` or `@` on the left is a path or an e-mail's domain part.
        if s > 0 && b"/@_".contains(&run[s - 1]) {
            continue;
        }
        let tok = String::from_utf8_lossy(&run[s..i]);
        let tok = tok.trim_matches(['.', '-']);
        let (tok, port) = match run.get(i) {
            Some(b':') => {
                let digits: String = run[i + 1..]
                    .iter()
                    .take(5)
                    .take_while(|b| b.is_ascii_digit())
                    .map(|&b| b as char)
                    .collect();
                (tok, digits.parse().ok())
            }
            _ => (tok, None),
        };
        let lower = tok.to_ascii_lowercase();
        let kind = if is_ip(&lower) {
            EndpointKind::Ip
        } else if is_domain(&lower) {
            EndpointKind::Domain
        } else {
            continue;
        };
        let value = match port {
            Some(p) => format!("{lower}:{p}"),
            None => lower.clone(),
        };
        out.push(Hit {
            value,
            kind,
            host: lower,
            port,
            offset: base + s as u64,
        });
    }
}

/// Endpoints in a file's bytes: every printable run of 6 bytes or more.
pub(crate) fn scan(bytes: &[u8]) -> Vec<Hit> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() && out.len() < MAX_PER_FILE {
        if !(bytes[i].is_ascii_graphic() || bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
            continue;
        }
        let s = i;
        while i < bytes.len() && (bytes[i].is_ascii_graphic() || bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        // A run must hold a dot to hold an endpoint.
        if i - s >= 6 && memchr::memchr(b'.', &bytes[s..i]).is_some() {
            in_run(&bytes[s..i], s as u64, &mut out);
        }
    }
    out.truncate(MAX_PER_FILE);
    out
}

/// Endpoints gathered across files, keyed by value.
#[derive(Default)]
pub(crate) struct Gather {
    map: BTreeMap<String, Endpoint>,
}

impl Gather {
    /// Add the hits of file `path`, one site per endpoint and file.
    pub(crate) fn add(&mut self, path: &str, hits: Vec<Hit>) {
        let mut seen = std::collections::HashSet::new();
        for h in hits {
            if !seen.insert(h.value.clone()) {
                continue;
            }
            if self.map.len() >= MAX_ENDPOINTS && !self.map.contains_key(&h.value) {
                continue;
            }
            let e = self.map.entry(h.value.clone()).or_insert_with(|| Endpoint {
                class: classify(&h.host, h.kind),
                value: h.value,
                kind: h.kind,
                host: h.host,
                port: h.port,
                sites: Vec::new(),
                files: 0,
            });
            e.files += 1;
            if e.sites.len() < MAX_SITES {
                e.sites.push(EndpointSite {
                    file: path.to_owned(),
                    offset: h.offset,
                });
            }
        }
    }

    /// Join another gathering (a later run of files).
    pub(crate) fn extend(&mut self, other: Gather) {
        for (k, v) in other.map {
            let full = self.map.len() >= MAX_ENDPOINTS;
            match self.map.entry(k) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    let e = e.get_mut();
                    e.files += v.files;
                    let room = MAX_SITES.saturating_sub(e.sites.len());
                    e.sites.extend(v.sites.into_iter().take(room));
                }
                std::collections::btree_map::Entry::Vacant(e) if !full => {
                    e.insert(v);
                }
                std::collections::btree_map::Entry::Vacant(_) => {}
            }
        }
    }

    /// The endpoints, by class and then value.
    pub(crate) fn finish(self) -> Vec<Endpoint> {
        let mut v: Vec<Endpoint> = self.map.into_values().collect();
        v.sort_by(|a, b| (a.class, &a.value).cmp(&(b.class, &b.value)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(b: &[u8]) -> Vec<(String, EndpointKind, EndpointClass)> {
        scan(b)
            .into_iter()
            .map(|h| {
                let c = classify(&h.host, h.kind);
                (h.value, h.kind, c)
            })
            .collect()
    }

    #[test]
    fn the_rules_file_parses() {
        assert!(suffixes().len() > 20);
    }

    #[test]
    fn urls_hosts_and_addresses() {
        let b = b"\0\0\"url\" : \"stratum+tcp://stratum.antpool.com:3333\",\0\
            wget http://d-ddos.antpool.com/update.sh\0auth.minerlink.com\0\
            server 192.168.1.1 and 8.8.8.8\0pool.ntp.org\0cn.pool.ntp.org\0";
        let got = values(b);
        let want = [
            (
                "stratum+tcp://stratum.antpool.com:3333",
                EndpointKind::Stratum,
                EndpointClass::Pool,
            ),
            (
                "http://d-ddos.antpool.com/update.sh",
                EndpointKind::Url,
                EndpointClass::VendorCloud,
            ),
            (
                "auth.minerlink.com",
                EndpointKind::Domain,
                EndpointClass::VendorCloud,
            ),
            ("192.168.1.1", EndpointKind::Ip, EndpointClass::Private),
            ("8.8.8.8", EndpointKind::Ip, EndpointClass::Other),
            ("pool.ntp.org", EndpointKind::Domain, EndpointClass::Time),
            ("cn.pool.ntp.org", EndpointKind::Domain, EndpointClass::Time),
        ];
        let got: Vec<(&str, EndpointKind, EndpointClass)> =
            got.iter().map(|(v, k, c)| (v.as_str(), *k, *c)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn file_names_and_versions_are_not_endpoints() {
        let b = b"/etc/init.d/rcS.sh libc.so.6 index.html lighttpd/1.4.39 v1.2.3.4 \
            libfoo.so.1.2.3.4 255.255.255.0 0.0.0.0 1.0.2k version 2.08999.134 /usr/lib/x.com \
            fan.info temp.de serial.no s.com";
        assert!(values(b).is_empty(), "{:?}", values(b));
    }

    #[test]
    fn a_strange_stratum_host_is_still_a_pool() {
        let got = values(b"stratum+ssl://mine.example.internal:700 ");
        assert_eq!(got[0].2, EndpointClass::Pool);
        let got = values(b" kano.is stratum.kano.is www.heise.de ");
        let got: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(got, ["kano.is", "stratum.kano.is", "www.heise.de"]);
    }
}
