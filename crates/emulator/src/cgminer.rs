//! The shared cgminer/bmminer API engine: request forms, joins, the privilege table, api-allow and
//! api-groups, `privileged`/`check`, pool writes, the JSON envelope and text mode.
//!
//! Behaviour follows cgminer's API-README and api.c as described in the protocol brief §1: one request per
//! connection; text `cmd|param` or JSON `{"command":…,"parameter":…}`; `a+b` joins only joinable reads
//! (JSON `{"a":[{…}],"b":[{…}],"id":1}`, each part in an array as api.c's `head_join` writes it);
//! `--api-allow` entries padded with `.0`, first match wins, `W:` privileged, unparsable entries (`W:*`)
//! dropped; a group runs a command when it is W, or when its list (or `*` for every non-privileged command)
//! holds it. Families supply the replies of their commands through [`Dialect`].

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::device::{Device, PoolState};
use crate::log::RequestKind;

/// The cgminer command table: `(name, privileged, joinable)` [cgminer api.c cmds[]; bmminer adds noncenum].
const COMMANDS: &[(&str, bool, bool)] = &[
    ("addpool", true, false),
    ("asc", false, true),
    ("ascdisable", true, false),
    ("ascenable", true, false),
    ("ascidentify", true, false),
    ("ascset", true, false),
    ("asccount", false, true),
    ("check", false, false),
    ("coin", false, true),
    ("config", false, true),
    ("debug", true, false),
    ("devdetails", false, true),
    ("devs", false, true),
    ("disablepool", true, false),
    ("edevs", false, true),
    ("enablepool", true, false),
    ("estats", false, true),
    ("failover-only", true, false),
    ("hotplug", true, false),
    ("lcd", false, true),
    ("lockstats", true, true),
    ("noncenum", false, true),
    ("notify", false, true),
    ("pga", false, true),
    ("pgacount", false, true),
    ("pgadisable", true, false),
    ("pgaenable", true, false),
    ("pgaidentify", true, false),
    ("pgaset", true, false),
    ("poolpriority", true, false),
    ("poolquota", true, false),
    ("pools", false, true),
    ("privileged", true, false),
    ("quit", true, false),
    ("removepool", true, false),
    ("restart", true, false),
    ("save", true, false),
    ("setconfig", true, false),
    ("stats", false, true),
    ("summary", false, true),
    ("switchpool", true, false),
    ("usbstats", false, true),
    ("version", false, true),
    ("zero", true, false),
];

/// A command's entry in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cmd {
    pub(crate) privileged: bool,
    pub(crate) joinable: bool,
}

/// The standard table's entry for `name`.
pub(crate) fn standard(name: &str) -> Option<Cmd> {
    COMMANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, privileged, joinable)| Cmd { privileged, joinable })
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiRequest {
    /// JSON in, JSON out; otherwise text.
    pub(crate) json: bool,
    pub(crate) command: String,
    pub(crate) parameter: Option<String>,
}

impl ApiRequest {
    /// `cmd` or `cmd|param` for the log.
    pub(crate) fn line(&self) -> String {
        match &self.parameter {
            Some(p) => format!("{}|{}", self.command, p),
            None => self.command.clone(),
        }
    }
}

/// Result of parsing the raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed {
    Ok(ApiRequest),
    /// Began with `{` but is not a JSON object: Code 23.
    InvalidJson,
    /// A JSON object without `command`: Code 24.
    MissingCommand(Value),
}

/// Parse a request: JSON when it starts with `{`, otherwise text `cmd|param`.
pub(crate) fn parse_request(raw: &[u8]) -> Parsed {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if text.starts_with('{') {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) else {
            return Parsed::InvalidJson;
        };
        let Some(command) = obj.get("command").and_then(Value::as_str) else {
            return Parsed::MissingCommand(Value::Object(obj));
        };
        let parameter = match obj.get("parameter") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        Parsed::Ok(ApiRequest {
            json: true,
            command: command.trim().to_owned(),
            parameter,
        })
    } else {
        let (command, parameter) = match text.split_once('|') {
            Some((c, p)) => (c, Some(p.to_owned())),
            None => (text, None),
        };
        Parsed::Ok(ApiRequest {
            json: false,
            command: command.trim().to_owned(),
            parameter,
        })
    }
}

/// One `--api-allow` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AllowEntry {
    group: char,
    net: u32,
    mask: u32,
}

/// Parsed `--api-allow`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ApiAllow {
    entries: Vec<AllowEntry>,
}

impl ApiAllow {
    /// Parse like cgminer: `[G:]addr[/prefix]` comma-separated, addresses padded with `.0`, unparsable
    /// entries (such as `W:*`) skipped.
    pub(crate) fn parse(text: &str) -> ApiAllow {
        let mut entries = Vec::new();
        for item in text.split(',') {
            let item = item.trim();
            let (group, addr) = match item.as_bytes() {
                [g, b':', ..] if g.is_ascii_alphabetic() => (char::from(g.to_ascii_uppercase()), &item[2..]),
                _ => ('R', item),
            };
            let (addr, prefix) = match addr.split_once('/') {
                Some((a, p)) => match p.parse::<u32>() {
                    Ok(p) if p <= 32 => (a, p),
                    _ => continue,
                },
                None => (addr, 32),
            };
            // Pad "10.0.0" to "10.0.0.0" and "0" to "0.0.0.0" (cgminer appends ".0" until four parts).
            let parts = addr.split('.').count();
            if addr.is_empty() || parts > 4 {
                continue;
            }
            let mut padded = addr.to_owned();
            for _ in parts..4 {
                padded.push_str(".0");
            }
            let Ok(ip) = padded.parse::<Ipv4Addr>() else {
                continue;
            };
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
            entries.push(AllowEntry {
                group,
                net: u32::from(ip) & mask,
                mask,
            });
        }
        ApiAllow { entries }
    }

    /// The group of the first entry matching `peer`; `None`: the connection is closed without a reply.
    pub(crate) fn group_of(&self, peer: Ipv4Addr) -> Option<char> {
        let p = u32::from(peer);
        self.entries.iter().find(|e| p & e.mask == e.net).map(|e| e.group)
    }
}

/// Parsed `--api-groups`: letter → commands (`*` = every non-privileged command).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ApiGroups {
    groups: Vec<(char, BTreeSet<String>, bool)>,
}

impl ApiGroups {
    pub(crate) fn parse(text: &str) -> ApiGroups {
        let mut groups = Vec::new();
        for item in text.split(',') {
            let mut parts = item.trim().split(':');
            let Some(letter) = parts.next() else { continue };
            let mut chars = letter.chars();
            let (Some(g), None) = (chars.next(), chars.next()) else {
                continue;
            };
            let g = g.to_ascii_uppercase();
            // R and W are predefined and cannot be redefined.
            if !g.is_ascii_uppercase() || g == 'R' || g == 'W' {
                continue;
            }
            let mut cmds = BTreeSet::new();
            let mut star = false;
            for c in parts {
                let c = c.trim();
                if c == "*" {
                    star = true;
                } else if !c.is_empty() {
                    cmds.insert(c.to_owned());
                }
            }
            groups.push((g, cmds, star));
        }
        ApiGroups { groups }
    }

    /// Whether `group` may run `cmd` (privileged-ness from the table).
    pub(crate) fn allows(&self, group: char, cmd: &str, privileged: bool) -> bool {
        match group {
            'W' => true,
            'R' => !privileged,
            g => self
                .groups
                .iter()
                .find(|(l, _, _)| *l == g)
                .is_some_and(|(_, cmds, star)| cmds.contains(cmd) || (*star && !privileged)),
        }
    }
}

/// Seconds since the epoch (the STATUS `When`).
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A STATUS object.
pub(crate) fn status(kind: &str, code: u32, msg: &str, description: &str) -> Value {
    json!({"STATUS": kind, "When": now(), "Code": code, "Msg": msg, "Description": description})
}

/// A whole cgminer reply: `{"STATUS":[st], SECTION:[items], "id":1}`.
pub(crate) fn reply(st: Value, section: Option<(&str, Vec<Value>)>) -> Value {
    let mut m = Map::new();
    m.insert("STATUS".to_owned(), Value::Array(vec![st]));
    if let Some((name, items)) = section {
        m.insert(name.to_owned(), Value::Array(items));
    }
    m.insert("id".to_owned(), json!(1));
    Value::Object(m)
}

/// An error-only reply.
pub(crate) fn error(code: u32, msg: &str, description: &str) -> Value {
    reply(status("E", code, msg, description), None)
}

/// Keys that head an item in text mode (`POOL=0,…`); other sections start with their bare name.
const ID_KEYS: &[&str] = &[
    "POOL",
    "ASC",
    "PGA",
    "GPU",
    "STATS",
    "DEVDETAILS",
    "GROUP",
    "NOTIFY",
];

fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '|' | ',' | '=' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn text_value(v: &Value) -> String {
    match v {
        Value::String(s) => escape_text(s),
        Value::Null => String::new(),
        other => escape_text(&other.to_string()),
    }
}

/// Render a cgminer JSON reply in text mode: `STATUS=S,When=…,Code=…,Msg=…,Description=…|SECTION,k=v|`.
pub(crate) fn to_text(v: &Value) -> String {
    let mut out = String::new();
    let Some(obj) = v.as_object() else {
        return out;
    };
    for st in obj.get("STATUS").and_then(Value::as_array).into_iter().flatten() {
        let f = |k: &str| st.get(k).map(text_value).unwrap_or_default();
        out.push_str(&format!(
            "STATUS={},When={},Code={},Msg={},Description={}|",
            f("STATUS"),
            f("When"),
            f("Code"),
            f("Msg"),
            f("Description")
        ));
    }
    for (name, items) in obj {
        if name == "STATUS" || name == "id" {
            continue;
        }
        for item in items.as_array().into_iter().flatten() {
            let Some(fields) = item.as_object() else { continue };
            let head = ID_KEYS.iter().find(|k| fields.contains_key(**k));
            let mut parts = Vec::new();
            match head {
                Some(k) => parts.push(format!(
                    "{k}={}",
                    fields.get(*k).map(text_value).unwrap_or_default()
                )),
                None => parts.push(escape_text(name)),
            }
            for (k, val) in fields {
                if Some(&k.as_str()) != head {
                    parts.push(format!("{}={}", escape_text(k), text_value(val)));
                }
            }
            out.push_str(&parts.join(","));
            out.push('|');
        }
    }
    out
}

/// Bytes on the wire: JSON or text, then the trailing NUL cgminer always sends.
pub(crate) fn encode(v: &Value, json: bool) -> Vec<u8> {
    let mut bytes = if json {
        v.to_string().into_bytes()
    } else {
        to_text(v).into_bytes()
    };
    bytes.push(0);
    bytes
}

/// What a family's dialect says about one command.
pub(crate) enum Answer {
    /// A complete reply object.
    Reply(Value),
    /// Fall back to the engine's standard behaviour (pool writes, `privileged`, `check`…).
    Standard,
}

/// A family's cgminer flavour.
pub(crate) trait Dialect: Sync {
    /// The STATUS `Description` (`cgminer 1.0.0`, `LUXminer …`).
    fn description(&self, dev: &Device) -> String;
    /// Commands beyond (or overriding) the standard table.
    fn command(&self, _name: &str) -> Option<Cmd> {
        None
    }
    /// Whether the firmware has this standard command at all (Braiins answers only a subset).
    fn has_standard(&self, _name: &str) -> bool {
        true
    }
    /// The reply to a permitted command.
    fn answer(&self, dev: &Device, cmd: &str, param: Option<&str>) -> Answer;
    /// The class of a command for the request log (default: privileged ones but `privileged` change state).
    fn classify(&self, cmd: &str, _param: Option<&str>) -> RequestKind {
        match self.command(cmd).or_else(|| standard(cmd)) {
            Some(c) if c.privileged && cmd != "privileged" => RequestKind::StateChanging,
            _ => RequestKind::Read,
        }
    }
    /// The access group of a peer: `None` closes the connection without a reply. Default: api-allow.
    fn group_of(&self, dev: &Device, peer: Ipv4Addr) -> Option<char> {
        dev.allow.group_of(peer)
    }
}

/// The outcome of one API connection.
pub(crate) struct Outcome {
    /// `None`: close without replying.
    pub(crate) reply: Option<Vec<u8>>,
    /// Request log lines.
    pub(crate) log: Vec<(String, RequestKind)>,
}

fn lookup(d: &dyn Dialect, name: &str) -> Option<Cmd> {
    d.command(name).or_else(|| {
        if d.has_standard(name) {
            standard(name)
        } else {
            None
        }
    })
}

/// Serve one request: access, joins, standard commands and the dialect's replies.
pub(crate) fn serve(d: &dyn Dialect, dev: &Device, peer: Ipv4Addr, raw: &[u8]) -> Outcome {
    let desc = d.description(dev);
    let Some(group) = d.group_of(dev, peer) else {
        // cgminer drops a connection from an address no api-allow entry matches before reading.
        return Outcome {
            reply: None,
            log: vec![(short(raw), RequestKind::Read)],
        };
    };
    let req = match parse_request(raw) {
        Parsed::Ok(r) => r,
        Parsed::InvalidJson => {
            return Outcome {
                reply: Some(encode(&error(23, "Invalid JSON", &desc), true)),
                log: vec![(short(raw), RequestKind::Read)],
            };
        }
        Parsed::MissingCommand(_) => {
            return Outcome {
                reply: Some(encode(&error(24, "Missing JSON 'command'", &desc), true)),
                log: vec![(short(raw), RequestKind::Read)],
            };
        }
    };
    let line = req.line();
    let param = req.parameter.as_deref();
    if req.command.contains('+') {
        let parts: Vec<&str> = req.command.split('+').filter(|p| !p.is_empty()).collect();
        let kind = parts
            .iter()
            .map(|p| d.classify(p, None))
            .max_by_key(|k| match k {
                RequestKind::Read => 0,
                RequestKind::SessionCreating => 1,
                RequestKind::StateChanging => 2,
            })
            .unwrap_or(RequestKind::Read);
        let mut m = Map::new();
        for p in parts.iter().take(32) {
            let sub = match lookup(d, p) {
                None => error(14, "Invalid command", &desc),
                Some(c) if !c.joinable => error(45, &format!("Access denied to '{p}' command"), &desc),
                Some(c) if !dev.groups.allows(group, p, c.privileged) => {
                    error(45, &format!("Access denied to '{p}' command"), &desc)
                }
                Some(_) => run(d, dev, group, p, None, &desc),
            };
            // cgminer wraps each part in an array: {"summary":[{…,"id":1}],"pools":[{…}],"id":1}.
            m.insert((*p).to_owned(), Value::Array(vec![sub]));
        }
        m.insert("id".to_owned(), json!(1));
        let v = Value::Object(m);
        // Text mode: each part is introduced by `CMD=name|` (cgminer's JOIN_CMD).
        let bytes = if req.json {
            encode(&v, true)
        } else {
            let mut t = String::new();
            for p in &parts {
                if let Some(sub) = v.get(*p).and_then(|a| a.get(0)) {
                    t.push_str(&format!("CMD={}|", escape_text(p)));
                    t.push_str(&to_text(sub));
                }
            }
            let mut b = t.into_bytes();
            b.push(0);
            b
        };
        return Outcome {
            reply: Some(bytes),
            log: vec![(line, kind)],
        };
    }
    let kind = d.classify(&req.command, param);
    let v = match lookup(d, &req.command) {
        None => error(14, "Invalid command", &desc),
        Some(c) if !dev.groups.allows(group, &req.command, c.privileged) => {
            error(45, &format!("Access denied to '{}' command", req.command), &desc)
        }
        Some(_) => run(d, dev, group, &req.command, param, &desc),
    };
    Outcome {
        reply: Some(encode(&v, req.json)),
        log: vec![(line, kind)],
    }
}

/// A loggable form of unparsable input.
fn short(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(&raw[..raw.len().min(80)]);
    s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_owned()
}

fn run(d: &dyn Dialect, dev: &Device, group: char, cmd: &str, param: Option<&str>, desc: &str) -> Value {
    match d.answer(dev, cmd, param) {
        Answer::Reply(v) => v,
        Answer::Standard => standard_reply(d, dev, group, cmd, param, desc),
    }
}

/// The engine's own replies: `privileged`, `check` and pool writes.
fn standard_reply(
    d: &dyn Dialect,
    dev: &Device,
    group: char,
    cmd: &str,
    param: Option<&str>,
    desc: &str,
) -> Value {
    let ok = |code: u32, msg: &str| reply(status("S", code, msg, desc), None);
    match cmd {
        "privileged" => ok(46, "Privileged access OK"),
        "check" => {
            let target = param.unwrap_or("").trim();
            if target.is_empty() {
                return error(71, "Missing check cmd", desc);
            }
            let found = lookup(d, target);
            let access = found.is_some_and(|c| dev.groups.allows(group, target, c.privileged));
            reply(
                status("S", 72, "Check command", desc),
                Some((
                    "CHECK",
                    vec![json!({
                        "Exists": if found.is_some() { "Y" } else { "N" },
                        "Access": if access { "Y" } else { "N" },
                    })],
                )),
            )
        }
        "addpool" => {
            let p: Vec<&str> = param.unwrap_or("").splitn(3, ',').collect();
            if p.len() < 3 || p[0].is_empty() {
                return error(52, "Invalid addpool details", desc);
            }
            let mut st = dev.lock();
            let n = st.pools.len();
            st.pools.push(PoolState::new(p[0], p[1], p[2], n));
            reply(
                status("S", 55, &format!("Added pool {}: '{}'", n, p[0]), desc),
                None,
            )
        }
        "switchpool" | "enablepool" | "disablepool" | "removepool" => {
            let mut st = dev.lock();
            let n = st.pools.len();
            let Some(id) = param
                .and_then(|p| p.trim().parse::<usize>().ok())
                .filter(|i| *i < n)
            else {
                return error(
                    26,
                    &format!(
                        "Invalid pool id {} - range is 0 - {}",
                        param.unwrap_or(""),
                        n.saturating_sub(1)
                    ),
                    desc,
                );
            };
            let url = st.pools[id].url.clone();
            match cmd {
                "switchpool" => {
                    for p in st.pools.iter_mut() {
                        p.priority += 1;
                    }
                    st.pools[id].priority = 0;
                    st.pools[id].enabled = true;
                    reply(
                        status("S", 27, &format!("Switching to pool {id}:'{url}'"), desc),
                        None,
                    )
                }
                "enablepool" => {
                    st.pools[id].enabled = true;
                    reply(
                        status("S", 47, &format!("Enabling pool {id}:'{url}'"), desc),
                        None,
                    )
                }
                "disablepool" => {
                    st.pools[id].enabled = false;
                    reply(
                        status("S", 48, &format!("Disabling pool {id}:'{url}'"), desc),
                        None,
                    )
                }
                _ => {
                    st.pools.remove(id);
                    reply(status("S", 68, &format!("Removed pool {id}:'{url}'"), desc), None)
                }
            }
        }
        "poolquota" => {
            let mut st = dev.lock();
            let mut it = param.unwrap_or("").split(',');
            let id = it.next().and_then(|s| s.trim().parse::<usize>().ok());
            let q = it.next().and_then(|s| s.trim().parse::<u32>().ok());
            match (id, q) {
                (Some(id), Some(q)) if id < st.pools.len() => {
                    st.pools[id].quota = q;
                    let url = st.pools[id].url.clone();
                    reply(
                        status("S", 122, &format!("Set pool {id}:'{url}' to quota {q}'"), desc),
                        None,
                    )
                }
                _ => error(121, "Invalid poolquota details", desc),
            }
        }
        "poolpriority" => {
            let mut st = dev.lock();
            for (rank, id) in param
                .unwrap_or("")
                .split(',')
                .filter_map(|s| s.trim().parse::<usize>().ok())
                .enumerate()
            {
                if let Some(p) = st.pools.get_mut(id) {
                    p.priority = rank;
                }
            }
            reply(status("S", 73, "Changed pool priorities", desc), None)
        }
        "save" => ok(
            44,
            &format!(
                "Configuration saved to file '{}'",
                param.unwrap_or("/config/cgminer.conf")
            ),
        ),
        "restart" => ok(58, "RESTART"),
        "quit" => ok(39, "BYE"),
        "zero" => ok(96, "Zeroed all stats"),
        _ if standard(cmd).is_some_and(|c| c.privileged) => ok(119, &format!("{cmd} OK")),
        _ => error(14, "Invalid command", desc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_allow_drops_w_star() {
        let a = ApiAllow::parse("A:0/0,W:*");
        assert_eq!(a.entries.len(), 1);
        assert_eq!(a.group_of(Ipv4Addr::new(127, 0, 0, 1)), Some('A'));
    }

    #[test]
    fn allow_padding_prefix_and_order() {
        let a = ApiAllow::parse("W:127.0.0.1,A:10.0.0/24,192.168/16");
        assert_eq!(a.group_of(Ipv4Addr::new(127, 0, 0, 1)), Some('W'));
        assert_eq!(a.group_of(Ipv4Addr::new(127, 0, 0, 2)), None);
        assert_eq!(a.group_of(Ipv4Addr::new(10, 0, 0, 77)), Some('A'));
        assert_eq!(a.group_of(Ipv4Addr::new(10, 0, 1, 77)), None);
        assert_eq!(a.group_of(Ipv4Addr::new(192, 168, 9, 9)), Some('R'));
        let b = ApiAllow::parse("W:10.0.0.0/8");
        assert_eq!(b.group_of(Ipv4Addr::new(127, 0, 0, 1)), None);
        let c = ApiAllow::parse("A:0/0,W:0/0");
        assert_eq!(
            c.group_of(Ipv4Addr::new(127, 0, 0, 1)),
            Some('A'),
            "first match wins"
        );
        assert!(
            ApiAllow::parse("W:1.2.3.4/33,W:nonsense,W:1.2.3.4.5")
                .entries
                .is_empty()
        );
    }

    #[test]
    fn groups() {
        let g = ApiGroups::parse("A:stats:pools:devs:summary:version,P:addpool:*");
        assert!(g.allows('A', "stats", false));
        assert!(!g.allows('A', "devdetails", false));
        assert!(!g.allows('A', "privileged", true));
        assert!(g.allows('P', "devdetails", false));
        assert!(g.allows('P', "addpool", true));
        assert!(!g.allows('P', "switchpool", true));
        assert!(g.allows('R', "devdetails", false));
        assert!(!g.allows('R', "addpool", true));
        assert!(g.allows('W', "addpool", true));
        assert!(!g.allows('Q', "version", false));
    }

    #[test]
    fn parses_both_forms() {
        assert_eq!(
            parse_request(b"{\"command\":\"stats\",\"new_api\":true}"),
            Parsed::Ok(ApiRequest {
                json: true,
                command: "stats".into(),
                parameter: None
            })
        );
        assert_eq!(
            parse_request(b"check|addpool\0"),
            Parsed::Ok(ApiRequest {
                json: false,
                command: "check".into(),
                parameter: Some("addpool".into())
            })
        );
        assert_eq!(parse_request(b"{\"command\":"), Parsed::InvalidJson);
        assert!(matches!(
            parse_request(b"{\"cmd\":\"x\"}"),
            Parsed::MissingCommand(_)
        ));
    }

    #[test]
    fn text_mode_layout() {
        let v = reply(
            status("S", 7, "1 Pool(s)", "cgminer 1.0.0"),
            Some((
                "POOLS",
                vec![json!({"POOL":0,"URL":"stratum+tcp://a:1","User":"u,v"})],
            )),
        );
        let t = to_text(&v);
        assert!(t.starts_with("STATUS=S,When="), "{t}");
        assert!(
            t.contains(",Code=7,Msg=1 Pool(s),Description=cgminer 1.0.0|POOL=0,"),
            "{t}"
        );
        assert!(t.contains("URL=stratum+tcp://a:1"), "{t}");
        assert!(t.contains("User=u\\,v"), "{t}");
        assert!(t.ends_with('|'));
        let v = reply(
            status("S", 22, "CGMiner versions", "d"),
            Some(("VERSION", vec![json!({"API":"3.1"})])),
        );
        assert!(to_text(&v).ends_with("|VERSION,API=3.1|"));
    }
}
