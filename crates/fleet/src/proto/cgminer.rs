//! The cgminer/bmminer RPC API on TCP 4028: read-only requests and tolerant reply decoding.
//!
//! Framing (cgminer `api.c`, API-README): one request per connection; a request starting with
//! `{` is JSON and gets a JSON reply, anything else is text `command|parameter` and gets a text
//! reply `STATUS=S,When=…,Code=22,Msg=…,Description=…|VERSION,API=3.1,…|`; every reply ends in a
//! NUL byte. Joined commands (`summary+pools`) answer one object per command. hashward always
//! asks in JSON but reads whatever comes back: text replies are turned into the same JSON shape
//! (`{"STATUS":[{…}],"VERSION":[{…}]}`), and malformed JSON is repaired ([`super::repair`]).
//!
//! Whatsminer's btminer speaks the same framing with `STATUS` as a string and a `Msg` object;
//! [`status`] reads both shapes.

use serde_json::{Map, Value};

use super::repair::{self, Repair};

/// Commands hashward may send: each one only reads. `privileged` is in cgminer's privileged
/// table but changes nothing (it answers whether privileged commands would be allowed), which
/// is exactly why it is the safe probe. Sorted; a test keeps it so.
pub const READ_ONLY: &[&str] = &[
    "asccount",
    "check",
    "coin",
    "config",
    "devdetails",
    "devs",
    "edevs",
    "estats",
    "get_error_code",
    "get_miner_info",
    "get_psu",
    "get_token",
    "get_version",
    "groups",
    "lcd",
    "litestats",
    "pgacount",
    "pools",
    "privileged",
    "session",
    "stats",
    "status",
    "summary",
    "version",
];

/// A request that can only read: every command (of a joined request too) is in [`READ_ONLY`].
/// There is no other way to build an RPC request in hashward, so a state-changing command
/// cannot be sent by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCommand {
    command: String,
    parameter: Option<String>,
}

impl ReadCommand {
    /// `command` (joined with `+` for several) and an optional parameter; `None` when any part
    /// is not a read-only command.
    pub fn new(command: &str, parameter: Option<&str>) -> Option<ReadCommand> {
        let parts: Vec<&str> = command.split('+').collect();
        if parts.is_empty()
            || parts.iter().any(|p| READ_ONLY.binary_search(p).is_err())
            || (parts.len() > 1 && parameter.is_some())
        {
            return None;
        }
        // `check|cmd` names a command to ask about; it must be a bare command name.
        if let Some(p) = parameter
            && (p.is_empty()
                || p.len() > 32
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            return None;
        }
        Some(ReadCommand {
            command: command.to_string(),
            parameter: parameter.map(str::to_string),
        })
    }

    /// The command (joined ones with `+`).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The parameter, if any.
    pub fn parameter(&self) -> Option<&str> {
        self.parameter.as_deref()
    }

    /// The JSON request bytes: `{"command":"…","parameter":"…"}`.
    pub fn to_json(&self) -> String {
        let mut m = Map::new();
        m.insert("command".into(), Value::String(self.command.clone()));
        if let Some(p) = &self.parameter {
            m.insert("parameter".into(), Value::String(p.clone()));
        }
        Value::Object(m).to_string()
    }
}

/// A decoded reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The reply as JSON (text replies converted).
    pub value: Value,
    /// The reply was in text mode (`STATUS=…|`).
    pub text_mode: bool,
    /// Repairs needed to read it as JSON.
    pub repairs: Vec<Repair>,
}

/// Why a reply could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Nothing but NULs and whitespace.
    #[error("empty reply")]
    Empty,
    /// Not UTF-8.
    #[error("reply is not text (invalid UTF-8 at byte {0})")]
    NotText(usize),
    /// Looked like JSON but could not be read even after repairs.
    #[error("invalid JSON even after repairs: {0}")]
    Json(String),
    /// Neither JSON nor cgminer text mode.
    #[error("not a cgminer API reply")]
    NotCgminer,
}

/// Decode a 4028 reply: strip the trailing NUL(s), then JSON (repaired if needed) or text mode.
pub fn decode(raw: &[u8]) -> Result<Decoded, DecodeError> {
    let end = raw
        .iter()
        .rposition(|b| *b != 0 && !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let start = raw[..end]
        .iter()
        .position(|b| *b != 0 && !b.is_ascii_whitespace())
        .unwrap_or(end);
    let body = &raw[start..end];
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|e| DecodeError::NotText(e.valid_up_to()))?;
    // A NUL in the middle: a device that sent two replies, or padding. Keep the first.
    let text = text.split('\0').next().unwrap_or(text).trim();
    if text.starts_with('{') || text.starts_with('[') || text.starts_with(",{") {
        let (value, repairs) = repair::parse_lenient(text).map_err(|e| DecodeError::Json(e.to_string()))?;
        return Ok(Decoded {
            value,
            text_mode: false,
            repairs,
        });
    }
    if text.starts_with("STATUS=") {
        return Ok(Decoded {
            value: parse_text(text),
            text_mode: true,
            repairs: Vec::new(),
        });
    }
    Err(DecodeError::NotCgminer)
}

/// Text mode to JSON. Sections are separated by `|`, fields by `,`, key and value by `=`;
/// `\|`, `\,`, `\=` and `\\` are escapes. The first field of a section names it: `STATUS=S`
/// starts the status section (its value is the `STATUS` field), `POOL=0` or a bare `VERSION`
/// starts a data section. Data sections of one name become one array, as in JSON mode.
pub fn parse_text(text: &str) -> Value {
    let mut root = Map::new();
    for section in split_escaped(text, '|') {
        let fields = split_escaped(&section, ',');
        let Some(first) = fields.first() else {
            continue;
        };
        if first.is_empty() {
            continue;
        }
        let (name, first_value) = match split_kv(first) {
            (k, Some(v)) => (k.to_ascii_uppercase(), Some(v)),
            (k, None) => (k.to_ascii_uppercase(), None),
        };
        let mut obj = Map::new();
        if name == "STATUS" {
            if let Some(v) = first_value {
                obj.insert("STATUS".into(), scalar(&v));
            }
        } else if let Some(v) = first_value {
            // `POOL=0`: the index is a field of the section in JSON mode.
            obj.insert(name.clone(), scalar(&v));
        }
        for f in &fields[1..] {
            if let (k, Some(v)) = split_kv(f) {
                obj.insert(k, scalar(&v));
            }
        }
        let slot = root.entry(name).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = slot {
            a.push(Value::Object(obj));
        }
    }
    Value::Object(root)
}

fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                if n != sep {
                    // Keep other escapes for the next level of splitting.
                    cur.push('\\');
                }
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn split_kv(field: &str) -> (String, Option<String>) {
    let mut key = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    key.push(n);
                }
            }
            '=' => {
                let rest: String = chars.collect();
                return (key, Some(unescape(&rest)));
            }
            _ => key.push(c),
        }
    }
    (key, None)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Text-mode values are untyped; numbers become JSON numbers so both modes read alike.
fn scalar(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    if v.contains('.')
        && let Ok(f) = v.parse::<f64>()
        && f.is_finite()
    {
        return Value::from(f);
    }
    Value::String(v.to_string())
}

/// A reply's status line, from cgminer's `STATUS:[{…}]`, btminer's top-level `STATUS:"S"` or
/// the web CGI's `STATUS:{…}` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `S`, `I`, `W`, `E` or `F`.
    pub letter: String,
    /// The message code (`MSG_*` in api.c), when given.
    pub code: Option<i64>,
    /// `Msg` as text (btminer's object `Msg` is not text: empty).
    pub msg: String,
    /// `Description`: the miner program and version.
    pub description: String,
}

impl Status {
    /// Success or information.
    pub fn ok(&self) -> bool {
        matches!(self.letter.as_str(), "S" | "I")
    }
}

/// The status of a reply (for a joined reply, pass the command's part).
pub fn status(v: &Value) -> Option<Status> {
    let obj = v.as_object()?;
    // Arrays on the API, a string on btminer, an object in Bitmain-style web CGI replies.
    let s = match obj.get("STATUS") {
        Some(Value::Array(a)) => a.first()?.as_object()?,
        Some(Value::Object(o)) => o,
        Some(Value::String(_)) => obj,
        _ => return None,
    };
    let text = |k: &str| match s.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let code = match s.get("Code") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(x)) => x.trim().parse().ok(),
        _ => None,
    };
    Some(Status {
        letter: text("STATUS"),
        code,
        msg: text("Msg"),
        description: text("Description"),
    })
}

/// The rows of section `name` (`VERSION`, `POOLS`, …), case-insensitively.
pub fn section<'a>(v: &'a Value, name: &str) -> &'a [Value] {
    v.as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_array())
        })
        .map_or(&[], Vec::as_slice)
}

/// The part of a joined reply (`summary+pools`) for one command; the reply itself when it is
/// not a joined reply.
pub fn part<'a>(v: &'a Value, command: &str) -> Option<&'a Value> {
    match v.get(command) {
        Some(p @ Value::Object(_)) => Some(p),
        Some(Value::Array(a)) => a.first(),
        _ if v.get("STATUS").is_some() => Some(v),
        _ => None,
    }
}

/// A field as text whatever its JSON type (`"GHS 5s"` is a number on some firmware, a string
/// on others).
pub fn text_field(row: &Value, key: &str) -> Option<String> {
    let o = row.as_object()?;
    let v = o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })?;
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field as a number whatever its JSON type.
pub fn number_field(row: &Value, key: &str) -> Option<f64> {
    text_field(row, key)?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn read_only_table_is_sorted_and_unique() {
        assert!(READ_ONLY.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn only_reads_can_be_requested() {
        assert!(ReadCommand::new("version", None).is_some());
        assert!(ReadCommand::new("summary+pools", None).is_some());
        assert!(ReadCommand::new("check", Some("addpool")).is_some());
        for bad in [
            "addpool",
            "switchpool",
            "summary+addpool",
            "ascset",
            "restart",
            "quit",
            "save",
            "",
            "+",
            "logon",
        ] {
            assert!(ReadCommand::new(bad, None).is_none(), "{bad}");
        }
        // A parameter cannot smuggle a second command or a pool URL.
        assert!(ReadCommand::new("check", Some("addpool|x")).is_none());
        assert!(ReadCommand::new("check", Some("a,b")).is_none());
        assert!(ReadCommand::new("summary+pools", Some("x")).is_none());
        assert_eq!(
            ReadCommand::new("check", Some("addpool")).unwrap().to_json(),
            r#"{"command":"check","parameter":"addpool"}"#
        );
    }

    #[test]
    fn the_trailing_nul_and_whitespace_are_stripped() {
        let d = decode(b"{\"STATUS\":[{\"STATUS\":\"S\",\"Code\":22}],\"id\":1}\0").unwrap();
        assert_eq!(status(&d.value).unwrap().code, Some(22));
        assert!(!d.text_mode && d.repairs.is_empty());
        assert_eq!(decode(b"\0\0\n"), Err(DecodeError::Empty));
        assert!(matches!(decode(b"\xff\xfe{"), Err(DecodeError::NotText(0))));
        assert_eq!(decode(b"SSH-2.0-dropbear\r\n"), Err(DecodeError::NotCgminer));
        assert_eq!(
            decode(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(DecodeError::NotCgminer)
        );
    }

    #[test]
    fn text_mode_reads_like_json_mode() {
        let raw = b"STATUS=S,When=1755615294,Code=22,Msg=CGMiner versions,Description=cgminer 1.0.0|VERSION,BMMiner=1.0.0,API=3.1,Miner=49.0.1.3,CompileTime=Tue Dec  6 16:12:30 CST 2022,Type=Antminer S19 Pro|\0";
        let d = decode(raw).unwrap();
        assert!(d.text_mode);
        let s = status(&d.value).unwrap();
        assert_eq!(
            (s.letter.as_str(), s.code, s.description.as_str()),
            ("S", Some(22), "cgminer 1.0.0")
        );
        let v = &section(&d.value, "VERSION")[0];
        assert_eq!(text_field(v, "Type").as_deref(), Some("Antminer S19 Pro"));
        assert_eq!(text_field(v, "API").as_deref(), Some("3.1"));
    }

    #[test]
    fn text_mode_sections_escapes_and_errors() {
        let raw = "STATUS=S,When=1,Code=7,Msg=2 Pool(s),Description=cgminer 4.11.1|POOL=0,URL=stratum+tcp://a.example:3333,User=w\\,1,Status=Alive|POOL=1,URL=stratum+tcp://b.example:3333,User=x\\|y,Status=Dead|";
        let d = decode(raw.as_bytes()).unwrap();
        let pools = section(&d.value, "POOL");
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[0]["User"], "w,1");
        assert_eq!(pools[1]["User"], "x|y");
        assert_eq!(pools[1]["POOL"], 1);
        let err = decode(b"STATUS=E,When=1,Code=120,Msg=ASC 0 set failed: Auth Failed! password invalid!,Description=cgminer 4.11.1|").unwrap();
        let s = status(&err.value).unwrap();
        assert!(!s.ok());
        assert_eq!(s.code, Some(120));
        assert_eq!(s.msg, "ASC 0 set failed: Auth Failed! password invalid!");
    }

    #[test]
    fn btminer_status_is_a_string() {
        let v = json!({"STATUS":"E","When":1,"Code":14,"Msg":"invalid cmd","Description":"whatsminer v1.1"});
        let s = status(&v).unwrap();
        assert_eq!(
            (s.letter.as_str(), s.code, s.description.as_str()),
            ("E", Some(14), "whatsminer v1.1")
        );
        let v = json!({"STATUS":"S","Code":131,"Msg":{"fw_ver":"x"},"Description":""});
        assert!(status(&v).unwrap().ok());
    }

    #[test]
    fn joined_replies_have_a_part_per_command() {
        let v = json!({"summary":[{"STATUS":[{"STATUS":"S","Code":11}],"SUMMARY":[{"GHS 5s":"1.5"}],"id":1}],"pools":[{"STATUS":[{"STATUS":"S","Code":7}],"POOLS":[],"id":1}],"id":1});
        let s = part(&v, "summary").unwrap();
        assert_eq!(number_field(&section(s, "SUMMARY")[0], "GHS 5s"), Some(1.5));
        assert_eq!(status(part(&v, "pools").unwrap()).unwrap().code, Some(7));
        let single = json!({"STATUS":[{"STATUS":"S"}],"SUMMARY":[]});
        assert!(part(&single, "summary").is_some());
    }
}
