//! The mining daemon's API as its configuration sets it up: `api-listen`, `api-network`,
//! `api-allow` and `api-groups` in `cgminer.conf` / `bmminer.conf` (and their `.factory`
//! copies), read with cgminer's own semantics (API-README; `api.c`):
//!
//! - no `api-listen`: no API at all; `api-listen` alone: localhost only;
//! - `api-network`: any host, read-only (privileged commands are refused by default);
//! - `api-allow` replaces both: a comma-separated list of `[G:]address[/prefix]`, IPv4
//!   addresses padded with `.0`, no prefix meaning /32, `0/0` everyone; `W:` grants every
//!   command, `R:` or no letter read-only, another letter the commands `api-groups` lists for
//!   it (`*` = every non-privileged command); an address that does not parse (the stock `W:*`)
//!   is dropped, as cgminer drops it;
//! - `api-groups`: `G:cmd:cmd:…` per group, `;`- or `,`-separated.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;

/// Commands that change the miner's state (cgminer's privileged set, the ones that matter).
pub const PRIVILEGED: &[&str] = &[
    "addpool",
    "switchpool",
    "enablepool",
    "disablepool",
    "removepool",
    "poolpriority",
    "poolquota",
    "save",
    "quit",
    "restart",
    "ascset",
    "pgaset",
    "ascenable",
    "ascdisable",
    "pgaenable",
    "pgadisable",
    "setconfig",
    "zero",
    "debug",
    "hotplug",
];

/// One configuration file's API settings.
#[derive(Debug, Clone, Serialize)]
pub struct MinerApi {
    /// Path of the configuration file in the output.
    pub file: String,
    /// `api-listen`.
    pub listen: bool,
    /// `api-network`.
    pub network: bool,
    /// `api-allow` as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<String>,
    /// `api-groups` as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    /// Byte offset of `"api-allow"` (or `"api-network"`) in the file, for evidence.
    pub offset: Option<u64>,
    /// Who may do what, after cgminer's rules.
    pub access: Vec<Access>,
    /// `api-allow` entries cgminer ignores.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Pools configured (URL, worker).
    pub pools: Vec<PoolEntry>,
}

/// A pool in a configuration file.
#[derive(Debug, Clone, Serialize)]
pub struct PoolEntry {
    /// URL as written.
    pub url: String,
    /// Worker name.
    pub user: String,
}

/// Access granted to a set of hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// `a.b.c.d/prefix`.
    pub hosts: String,
    /// Whether that includes hosts other than this machine.
    pub remote: bool,
    /// Privileged (state-changing) commands allowed.
    pub privileged: Vec<String>,
    /// Whether read commands are allowed.
    pub read: bool,
}

impl MinerApi {
    /// The entries that let a remote host change the miner's state.
    pub fn remote_privileged(&self) -> impl Iterator<Item = &Access> {
        self.access
            .iter()
            .filter(|a| a.remote && !a.privileged.is_empty())
    }
}

/// Whether a path names a miner configuration file.
pub(crate) fn is_config(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    ["cgminer.conf", "bmminer.conf", "btminer.conf", "bosminer.conf"]
        .iter()
        .any(|c| name == *c || name.strip_prefix(c).is_some_and(|rest| rest.starts_with('.')))
}

/// Read one configuration file (JSON); `None` if it is not JSON with API or pool keys.
pub(crate) fn parse(path: &str, bytes: &[u8]) -> Option<MinerApi> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let o = v.as_object()?;
    let flag = |k: &str| match o.get(k) {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => matches!(s.as_str(), "true" | "1" | "yes"),
        _ => false,
    };
    let text = |k: &str| o.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let pools: Vec<PoolEntry> = o
        .get("pools")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .take(64)
                .filter_map(|p| {
                    Some(PoolEntry {
                        url: p.get("url")?.as_str()?.to_owned(),
                        user: p
                            .get("user")
                            .and_then(|u| u.as_str())
                            .unwrap_or_default()
                            .to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if !o.keys().any(|k| k.starts_with("api-")) && pools.is_empty() {
        return None;
    }
    let (listen, network) = (flag("api-listen"), flag("api-network"));
    let (allow, groups) = (text("api-allow"), text("api-groups"));
    let offset = ["\"api-allow\"", "\"api-network\"", "\"api-listen\""]
        .iter()
        .find_map(|k| memchr::memmem::find(bytes, k.as_bytes()))
        .map(|o| o as u64);
    let mut api = MinerApi {
        file: path.to_owned(),
        listen,
        network,
        allow,
        groups,
        offset,
        access: Vec::new(),
        dropped: Vec::new(),
        pools,
    };
    resolve(&mut api);
    Some(api)
}

/// Work out `access` from the settings.
fn resolve(api: &mut MinerApi) {
    if !api.listen {
        return;
    }
    let groups = parse_groups(api.groups.as_deref().unwrap_or(""));
    let Some(allow) = api.allow.clone().filter(|a| !a.trim().is_empty()) else {
        api.access.push(Access {
            hosts: if api.network { "0.0.0.0/0" } else { "127.0.0.1/32" }.into(),
            remote: api.network,
            privileged: Vec::new(),
            read: true,
        });
        return;
    };
    for item in allow
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(256)
    {
        let (group, addr) = match item.as_bytes() {
            [g, b':', ..] if g.is_ascii_alphabetic() => (Some(g.to_ascii_uppercase() as char), &item[2..]),
            _ => (None, item),
        };
        let Some((net, prefix)) = parse_net(addr) else {
            api.dropped.push(item.to_owned());
            continue;
        };
        let (privileged, read) = match group {
            Some('W') => (PRIVILEGED.iter().map(|s| s.to_string()).collect(), true),
            None | Some('R') => (Vec::new(), true),
            Some(g) => match groups.get(&g) {
                Some(cmds) => (
                    cmds.iter()
                        .filter(|c| PRIVILEGED.contains(&c.as_str()))
                        .cloned()
                        .collect(),
                    !cmds.is_empty(),
                ),
                None => (Vec::new(), false),
            },
        };
        let remote = prefix < 8 || net.octets()[0] != 127;
        api.access.push(Access {
            hosts: format!("{net}/{prefix}"),
            remote,
            privileged,
            read,
        });
    }
}

/// `api-groups`: `G:cmd:cmd…` items separated by `,` or `;`.
fn parse_groups(s: &str) -> BTreeMap<char, Vec<String>> {
    let mut out = BTreeMap::new();
    for item in s.split([',', ';']).map(str::trim).take(26) {
        let mut parts = item.split(':');
        let Some(g) = parts
            .next()
            .and_then(|g| g.chars().next())
            .filter(|c| c.is_ascii_alphabetic())
        else {
            continue;
        };
        out.insert(
            g.to_ascii_uppercase(),
            parts
                .filter(|c| !c.is_empty())
                .take(128)
                .map(str::to_owned)
                .collect(),
        );
    }
    out
}

/// cgminer's address form: IPv4 padded with `.0`, optional `/prefix` (no prefix: /32).
fn parse_net(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok().filter(|p| *p <= 32)?),
        None => (s, 32),
    };
    let mut octets = [0u8; 4];
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    for (i, p) in parts.iter().enumerate() {
        octets[i] = p.parse().ok()?;
    }
    let ip = u32::from(Ipv4Addr::from(octets));
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    Some((Ipv4Addr::from(ip & mask), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(listen: bool, network: bool, allow: Option<&str>, groups: Option<&str>) -> MinerApi {
        let mut o = serde_json::json!({"api-listen": listen, "api-network": network,
            "pools": [{"url": "stratum+tcp://pool.example:3333", "user": "w1"}]});
        if let Some(a) = allow {
            o["api-allow"] = a.into();
        }
        if let Some(g) = groups {
            o["api-groups"] = g.into();
        }
        parse("config/cgminer.conf", o.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn w_0_0_gives_everyone_every_command() {
        let a = conf(true, true, Some("W:0/0"), None);
        let r: Vec<_> = a.remote_privileged().collect();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].hosts, "0.0.0.0/0");
        assert!(r[0].privileged.iter().any(|c| c == "switchpool"));
        assert_eq!(a.pools[0].user, "w1");
    }

    #[test]
    fn the_stock_a_0_0_w_star_is_read_only_for_all() {
        let a = conf(
            true,
            true,
            Some("A:0/0,W:*"),
            Some("A:stats:pools:devs:summary:version"),
        );
        assert_eq!(a.remote_privileged().count(), 0);
        assert_eq!(a.dropped, ["W:*"]);
        assert!(
            a.access
                .iter()
                .any(|x| x.hosts == "0.0.0.0/0" && x.read && x.remote)
        );
    }

    #[test]
    fn groups_with_pool_commands_are_privileged_and_padding_and_prefixes_follow_cgminer() {
        let a = conf(
            true,
            false,
            Some("P:10.0/16,W:127.0.0.1"),
            Some("P:switchpool:addpool:summary"),
        );
        let r: Vec<_> = a.remote_privileged().collect();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].hosts, "10.0.0.0/16");
        assert_eq!(r[0].privileged, ["switchpool", "addpool"]);
        // W for localhost only is not remote.
        assert!(a.access.iter().any(|x| x.hosts == "127.0.0.1/32" && !x.remote));
    }

    #[test]
    fn without_listen_there_is_no_api_and_network_alone_is_read_only() {
        assert!(conf(false, true, Some("W:0/0"), None).access.is_empty());
        let a = conf(true, true, None, None);
        assert_eq!(a.remote_privileged().count(), 0);
        assert!(a.access[0].remote && a.access[0].read);
        let local = conf(true, false, None, None);
        assert!(!local.access[0].remote);
    }

    #[test]
    fn names_and_garbage() {
        assert!(is_config("x/etc/bmminer.conf.factory"));
        assert!(is_config("config/cgminer.conf"));
        assert!(!is_config("etc/cgminer.confx"));
        assert!(parse("config/cgminer.conf", b"not json").is_none());
        assert!(parse("config/cgminer.conf", b"{\"freq\": 1}").is_none());
        assert_eq!(parse_net("10.0/8"), Some((Ipv4Addr::new(10, 0, 0, 0), 8)));
        assert_eq!(parse_net("*"), None);
        assert_eq!(parse_net("1.2.3.4/33"), None);
        assert_eq!(parse_net("1.2.3.4.5"), None);
    }
}
