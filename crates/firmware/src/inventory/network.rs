//! The network surface an image exposes once running: listeners implied by configuration and
//! boot scripts (web server ports and their authentication, SSH and telnet daemons with their
//! options, the mining API) and firewall rules.
//!
//! Configuration files are parsed for the directives that decide exposure, not in full:
//! lighttpd (`server.port`, `server.bind`, `$SERVER["socket"]`, `ssl.engine`, `auth.require`),
//! OpenWrt uhttpd and dropbear UCI files, `sshd_config`, `iptables` commands in scripts and
//! OpenWrt firewall rules.

use serde::Serialize;

use super::{MinerApi, Service};

/// A port the running firmware listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// The root file system (container) it belongs to.
    pub rootfs: String,
    /// The program (`lighttpd`, `dropbear`, `telnetd`, `cgminer-api`, …).
    pub service: String,
    /// TCP port.
    pub port: u16,
    /// Address bound, when the configuration restricts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// TLS on this port.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// Who may use it: `none`, `digest realm "…" on /`, `password`, `keys only`, …
    pub auth: String,
    /// Whether a boot script or inittab starts the program (`None`: no evidence either way).
    pub at_boot: Option<bool>,
    /// The file that says so.
    pub file: String,
    /// Byte offset of the line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// One firewall rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallRule {
    /// File in the tree.
    pub file: String,
    /// Byte offset of the rule.
    pub offset: u64,
    /// The rule as written (trimmed, at most 200 characters).
    pub rule: String,
    /// Chain or zone (`INPUT`, `wan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Destination port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Source restriction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `ACCEPT`, `DROP`, `REJECT`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// Listeners and firewall rules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetworkSurface {
    /// Ports listened on.
    pub listeners: Vec<Listener>,
    /// Firewall rules found (none: nothing filters what listens).
    pub firewall: Vec<FirewallRule>,
}

/// Lines per file at most.
const MAX_LINES: usize = 20_000;
/// Firewall rules per file at most.
const MAX_RULES: usize = 512;

/// Lines of `bytes` with their offsets, comments cut.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (u64, String)> + '_ {
    let mut offset = 0u64;
    bytes
        .split_inclusive(|b| *b == b'\n')
        .take(MAX_LINES)
        .map(move |raw| {
            let at = offset;
            offset += raw.len() as u64;
            let text = String::from_utf8_lossy(raw);
            let code = text.split('#').next().unwrap_or("").trim().to_owned();
            (at, code)
        })
}

fn rootfs(path: &str) -> String {
    super::accounts::container_root(path)
}

/// Add what configuration file `path` says about listeners and filtering.
pub(crate) fn scan(n: &mut NetworkSurface, path: &str, bytes: &[u8]) {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.starts_with("lighttpd") && name.ends_with(".conf") {
        n.listeners.extend(lighttpd(path, bytes));
    } else if name == "sshd_config" {
        n.listeners.extend(sshd(path, bytes));
    } else if path.ends_with("config/uhttpd") {
        n.listeners.extend(uhttpd(path, bytes));
    } else if path.ends_with("config/dropbear") {
        n.listeners.extend(uci_dropbear(path, bytes));
    } else if path.ends_with("config/firewall") {
        n.firewall.extend(uci_firewall(path, bytes));
    }
    if memchr::memmem::find(bytes, b"iptables").is_some() {
        n.firewall.extend(iptables(path, bytes));
    }
}

/// A quoted string's content, or the bare word.
fn unquote(s: &str) -> &str {
    s.trim().trim_end_matches(';').trim().trim_matches(['"', '\''])
}

fn lighttpd(path: &str, bytes: &[u8]) -> Vec<Listener> {
    let mut port: Option<(u16, u64)> = None;
    let mut bind = None;
    let mut sockets: Vec<(String, u16, u64, bool)> = Vec::new();
    let mut in_socket: Option<usize> = None;
    let mut auth_paths: Vec<String> = Vec::new();
    let mut realm = None;
    let mut backend = None;
    for (at, l) in lines(bytes) {
        if let Some(v) = l
            .strip_prefix("server.port")
            .and_then(|r| r.trim().strip_prefix('='))
        {
            port = unquote(v).parse().ok().map(|p| (p, at));
        } else if let Some(v) = l
            .strip_prefix("server.bind")
            .and_then(|r| r.trim().strip_prefix('='))
        {
            bind = Some(unquote(v).to_owned());
        } else if l.starts_with("$SERVER[\"socket\"]") {
            // $SERVER["socket"] == ":443" {   or   == "0.0.0.0:8443"
            let Some(v) = l.split("==").nth(1) else { continue };
            let v = unquote(v.split('{').next().unwrap_or(""));
            let (addr, p) = v.rsplit_once(':').unwrap_or(("", v));
            if let Ok(p) = p.parse() {
                sockets.push((addr.trim_matches(['[', ']']).to_owned(), p, at, false));
                in_socket = l.contains('{').then_some(sockets.len() - 1);
            }
        } else if l.starts_with('}') {
            in_socket = None;
        } else if l.starts_with("ssl.engine") && l.contains("enable") {
            if let Some(i) = in_socket {
                sockets[i].3 = true;
            }
        } else if let Some(v) = l
            .strip_prefix("auth.backend")
            .and_then(|r| r.trim().strip_prefix('='))
        {
            backend = Some(unquote(v).to_owned());
        }
        if let Some(i) = l.find("\"realm\"") {
            realm = l[i + 7..]
                .split_once("=>")
                .map(|(_, r)| unquote(r.split([',', ')']).next().unwrap_or("")).to_owned());
        }
        // auth.require = ( "/" => (   or a later line   "/cgi-bin/" => (
        if (l.starts_with("auth.require") || l.starts_with('"')) && l.contains("=>") && l.contains('(') {
            let key = l.split("=>").next().unwrap_or("");
            let key = unquote(key.rsplit('(').next().unwrap_or(key));
            if key.starts_with('/') && auth_paths.len() < 32 {
                auth_paths.push(key.to_owned());
            }
        }
    }
    let auth = if auth_paths.is_empty() || backend.is_none() {
        "none".to_owned()
    } else {
        let scope = if auth_paths.iter().any(|p| p == "/") {
            "/".to_owned()
        } else {
            auth_paths.join(", ")
        };
        format!(
            "{} realm \"{}\" on {scope}",
            backend.as_deref().unwrap_or("?"),
            realm.as_deref().unwrap_or("?")
        )
    };
    let root = rootfs(path);
    let mut out = Vec::new();
    let (p, at) = port.unwrap_or((80, 0));
    out.push(Listener {
        rootfs: root.clone(),
        service: "lighttpd".into(),
        port: p,
        bind: bind.filter(|b| !b.is_empty()),
        tls: false,
        auth: auth.clone(),
        at_boot: None,
        file: path.to_owned(),
        offset: port.map(|_| at),
    });
    for (addr, p, at, tls) in sockets {
        out.push(Listener {
            rootfs: root.clone(),
            service: "lighttpd".into(),
            port: p,
            bind: (!addr.is_empty()).then_some(addr),
            tls,
            auth: auth.clone(),
            at_boot: None,
            file: path.to_owned(),
            offset: Some(at),
        });
    }
    out
}

fn sshd(path: &str, bytes: &[u8]) -> Vec<Listener> {
    let mut ports = Vec::new();
    let mut root_login = "prohibit-password".to_owned();
    let mut password = true;
    let mut empty = false;
    for (at, l) in lines(bytes) {
        let mut w = l.split_whitespace();
        let (Some(k), Some(v)) = (w.next(), w.next()) else {
            continue;
        };
        match k.to_ascii_lowercase().as_str() {
            "port" => ports.extend(v.parse::<u16>().ok().map(|p| (p, at))),
            "permitrootlogin" => root_login = v.to_ascii_lowercase(),
            "passwordauthentication" => password = v.eq_ignore_ascii_case("yes"),
            "permitemptypasswords" => empty = v.eq_ignore_ascii_case("yes"),
            _ => {}
        }
    }
    if ports.is_empty() {
        ports.push((22, 0));
    }
    let auth = match (password, empty) {
        (false, _) => "keys only".to_owned(),
        (true, true) => "password (empty passwords allowed)".to_owned(),
        (true, false) => "password".to_owned(),
    } + &format!(", root login {root_login}");
    ports
        .into_iter()
        .map(|(p, at)| Listener {
            rootfs: rootfs(path),
            service: "sshd".into(),
            port: p,
            bind: None,
            tls: false,
            auth: auth.clone(),
            at_boot: None,
            file: path.to_owned(),
            offset: Some(at),
        })
        .collect()
}

/// `list listen_http '0.0.0.0:80'` / `option listen_https '443'`.
fn uhttpd(path: &str, bytes: &[u8]) -> Vec<Listener> {
    let mut out = Vec::new();
    for (at, l) in lines(bytes) {
        let mut w = l.split_whitespace();
        let (Some(_), Some(k), Some(v)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let tls = match k {
            "listen_http" => false,
            "listen_https" => true,
            _ => continue,
        };
        let v = unquote(v);
        let (addr, p) = v.rsplit_once(':').unwrap_or(("", v));
        let Ok(port) = p.parse() else { continue };
        out.push(Listener {
            rootfs: rootfs(path),
            service: "uhttpd".into(),
            port,
            bind: (!addr.is_empty()).then(|| addr.trim_matches(['[', ']']).to_owned()),
            tls,
            auth: "LuCI login".into(),
            at_boot: None,
            file: path.to_owned(),
            offset: Some(at),
        });
    }
    out
}

/// OpenWrt `/etc/config/dropbear`: `option Port '22'`, `option PasswordAuth 'on'`.
fn uci_dropbear(path: &str, bytes: &[u8]) -> Vec<Listener> {
    let mut port = (22, None);
    let mut password = true;
    let mut root_password = true;
    for (at, l) in lines(bytes) {
        let mut w = l.split_whitespace();
        let (Some("option"), Some(k), Some(v)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let v = unquote(v);
        match k {
            "Port" => port = (v.parse().unwrap_or(22), Some(at)),
            "PasswordAuth" => password = v == "on" || v == "1",
            "RootPasswordAuth" => root_password = v == "on" || v == "1",
            _ => {}
        }
    }
    vec![Listener {
        rootfs: rootfs(path),
        service: "dropbear".into(),
        port: port.0,
        bind: None,
        tls: false,
        auth: dropbear_auth(password, root_password),
        at_boot: None,
        file: path.to_owned(),
        offset: port.1,
    }]
}

fn dropbear_auth(password: bool, root_password: bool) -> String {
    match (password, root_password) {
        (false, _) => "keys only".into(),
        (true, false) => "password (not for root)".into(),
        (true, true) => "password".into(),
    }
}

fn iptables(path: &str, bytes: &[u8]) -> Vec<FirewallRule> {
    let mut out = Vec::new();
    for (at, l) in lines(bytes) {
        let Some(i) = l.find("iptables ") else { continue };
        let words: Vec<&str> = l[i..].split_whitespace().collect();
        let arg = |flags: &[&str]| {
            words
                .windows(2)
                .find(|w| flags.contains(&w[0]))
                .map(|w| w[1].trim_matches(['"', '\'']).to_owned())
        };
        let chain = arg(&["-A", "-I", "--append", "--insert", "-P"]);
        if chain.is_none() {
            continue;
        }
        let policy = words.contains(&"-P");
        out.push(FirewallRule {
            file: path.to_owned(),
            offset: at,
            rule: l[i..].chars().take(200).collect(),
            chain,
            port: arg(&["--dport", "--destination-port", "--dports"]),
            source: arg(&["-s", "--source"]),
            action: if policy {
                words
                    .get(words.iter().position(|w| *w == "-P").unwrap_or(0) + 2)
                    .map(|s| s.to_string())
            } else {
                arg(&["-j", "--jump"])
            },
        });
        if out.len() >= MAX_RULES {
            break;
        }
    }
    out
}

/// OpenWrt `config rule` / `config defaults` blocks.
fn uci_firewall(path: &str, bytes: &[u8]) -> Vec<FirewallRule> {
    let mut out: Vec<FirewallRule> = Vec::new();
    let mut current: Option<FirewallRule> = None;
    for (at, l) in lines(bytes) {
        let mut w = l.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some("config"), Some(kind), _) => {
                out.extend(current.take());
                if kind == "rule" || kind == "redirect" {
                    current = Some(FirewallRule {
                        file: path.to_owned(),
                        offset: at,
                        rule: l.clone(),
                        chain: None,
                        port: None,
                        source: None,
                        action: None,
                    });
                }
            }
            (Some("option"), Some(k), Some(v)) => {
                if let Some(r) = current.as_mut() {
                    let word = unquote(v).to_owned();
                    let v = Some(word.clone());
                    match k {
                        "src" => r.chain = v,
                        "dest_port" => r.port = v,
                        "src_ip" => r.source = v,
                        "target" => r.action = v,
                        "name" => r.rule = format!("rule {word}"),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        if out.len() >= MAX_RULES {
            break;
        }
    }
    out.extend(current);
    out
}

/// `-p [addr:]port` of a dropbear / telnetd command line.
fn port_option(line: &str, default: u16) -> (u16, Option<String>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    for w in words.windows(2) {
        if w[0] == "-p" {
            let (addr, p) = w[1].rsplit_once(':').unwrap_or(("", w[1]));
            if let Ok(p) = p.parse() {
                return (p, (!addr.is_empty()).then(|| addr.to_owned()));
            }
        }
    }
    (default, None)
}

/// Listeners that follow from the services started at boot and the mining API's
/// configuration; marks configured servers as started at boot or not.
pub(crate) fn finish(n: &mut NetworkSurface, services: &[Service], apis: &[MinerApi]) {
    let started = |root: &str, daemon: &str| {
        services.iter().any(|s| {
            s.daemons.iter().any(|d| d == daemon)
                && (root.starts_with(&rootfs(&s.file)) || rootfs(&s.file).starts_with(root))
        })
    };
    for l in &mut n.listeners {
        let daemon = if l.service == "sshd" {
            "sshd"
        } else {
            l.service.as_str()
        };
        l.at_boot = Some(started(&l.rootfs, daemon));
    }
    for s in services {
        let line = s.line.as_deref().unwrap_or("");
        for d in &s.daemons {
            let (service, default, auth) = match d.as_str() {
                "telnetd" | "utelnetd" => {
                    let auth = if line.contains("-l /bin/sh") || line.contains("-l/bin/sh") {
                        "none (a shell without login)"
                    } else {
                        "login"
                    };
                    (d.as_str(), 23, auth.to_owned())
                }
                "dropbear" => {
                    let auth = dropbear_auth(
                        !line.contains(" -s"),
                        !(line.contains(" -g") || line.contains(" -w")),
                    );
                    ("dropbear", 22, auth)
                }
                _ => continue,
            };
            let root = rootfs(&s.file);
            // The UCI file already said where dropbear listens.
            if n.listeners
                .iter()
                .any(|l| l.service == service && l.rootfs == root)
            {
                continue;
            }
            let (port, bind) = port_option(line, default);
            n.listeners.push(Listener {
                rootfs: root,
                service: service.to_owned(),
                port,
                bind,
                tls: false,
                auth,
                at_boot: Some(true),
                file: s.file.clone(),
                offset: s.offset,
            });
        }
    }
    for a in apis.iter().filter(|a| a.listen) {
        let allow = a.allow.as_deref().unwrap_or("(not set: local only)");
        n.listeners.push(Listener {
            rootfs: rootfs(&a.file),
            service: "cgminer-api".into(),
            port: 4028,
            bind: Some(if a.network { "0.0.0.0" } else { "127.0.0.1" }.into()),
            tls: false,
            auth: format!("none (api-allow {allow})"),
            at_boot: None,
            file: a.file.clone(),
            offset: a.offset,
        });
    }
    n.listeners.sort_by(|a, b| {
        (&a.rootfs, a.port, &a.service, &a.file).cmp(&(&b.rootfs, b.port, &b.service, &b.file))
    });
    n.listeners.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lighttpd_ports_tls_and_digest_scope() {
        let conf = br#"server.port = 80
server.bind = ""
auth.backend = "htdigest"
auth.backend.htdigest.userfile = "/config/lighttpd-htdigest.user"
auth.require = ( "/" => ( "method" => "digest", "realm" => "antMiner Configuration", "require" => "valid-user" ) )
$SERVER["socket"] == ":443" {
  ssl.engine = "enable"
}
"#;
        let mut n = NetworkSurface::default();
        scan(&mut n, "r.extracted/etc/lighttpd/lighttpd.conf", conf);
        assert_eq!(n.listeners.len(), 2);
        assert_eq!(n.listeners[0].port, 80);
        assert_eq!(
            n.listeners[0].auth,
            "htdigest realm \"antMiner Configuration\" on /"
        );
        // The same with one key per line.
        let split = String::from_utf8_lossy(conf).replace(", \"", ",\n    \"");
        let mut m = NetworkSurface::default();
        scan(&mut m, "r.extracted/etc/lighttpd/lighttpd.conf", split.as_bytes());
        assert_eq!(m.listeners[0].auth, n.listeners[0].auth);
        assert!(n.listeners[1].tls && n.listeners[1].port == 443);
        let open = b"server.port = 8080\nserver.modules = (\"mod_cgi\")\n";
        let mut n = NetworkSurface::default();
        scan(&mut n, "etc/lighttpd.conf", open);
        assert_eq!(
            (n.listeners[0].port, n.listeners[0].auth.as_str()),
            (8080, "none")
        );
    }

    #[test]
    fn sshd_uhttpd_and_firewall() {
        let mut n = NetworkSurface::default();
        scan(
            &mut n,
            "etc/ssh/sshd_config",
            b"Port 2222\nPermitRootLogin yes\n# Port 22\n",
        );
        scan(
            &mut n,
            "etc/config/uhttpd",
            b"config uhttpd main\n\tlist listen_http '0.0.0.0:80'\n\tlist listen_https '[::]:443'\n",
        );
        scan(
            &mut n,
            "etc/init.d/S40fw",
            b"#!/bin/sh\niptables -A INPUT -p tcp --dport 4028 -s 10.0.0.0/8 -j ACCEPT\n# iptables -A INPUT -j DROP\niptables -P INPUT DROP\n",
        );
        assert_eq!(
            (n.listeners[0].port, n.listeners[0].auth.as_str()),
            (2222, "password, root login yes")
        );
        assert_eq!(n.listeners[2].bind.as_deref(), Some("::"));
        assert_eq!(n.firewall.len(), 2);
        assert_eq!(n.firewall[0].port.as_deref(), Some("4028"));
        assert_eq!(n.firewall[0].source.as_deref(), Some("10.0.0.0/8"));
        assert_eq!(n.firewall[1].action.as_deref(), Some("DROP"));
    }

    #[test]
    fn boot_services_become_listeners() {
        let svc = Service {
            rootfs: String::new(),
            name: "S50telnet".into(),
            how: "init.d S-script".into(),
            file: "etc/init.d/S50telnet".into(),
            offset: Some(10),
            line: Some("telnetd -l /bin/sh -p 2323".into()),
            daemons: vec!["telnetd".into()],
        };
        let mut n = NetworkSurface::default();
        scan(&mut n, "etc/lighttpd.conf", b"server.port = 80\n");
        finish(&mut n, &[svc], &[]);
        let t = n.listeners.iter().find(|l| l.service == "telnetd").unwrap();
        assert_eq!(
            (t.port, t.auth.as_str(), t.at_boot),
            (2323, "none (a shell without login)", Some(true))
        );
        assert_eq!(
            n.listeners
                .iter()
                .find(|l| l.service == "lighttpd")
                .unwrap()
                .at_boot,
            Some(false)
        );
    }
}
