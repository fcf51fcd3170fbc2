//! The cgminer/bmminer RPC API (TCP 4028) as seen in plaintext on the wire: which commands a
//! client sent (privileged? pool-changing?) and the STATUS of the reply.
//!
//! Framing (ckolivas/cgminer `API-README`, traffic brief §4.6): one request per connection; a
//! request starting with `{` is JSON `{"command":"CMD","parameter":"PARAM"}` (Whatsminer's
//! btminer uses `"cmd"`), anything else is text `CMD|PARAM`; joined commands `summary+pools`.
//! Replies carry a STATUS section: JSON `{"STATUS":[{"STATUS":"E","Code":45,"Msg":…}],…}` or
//! text `STATUS=E,When=…,Code=45,Msg=…,Description=…|`, ending in a NUL byte. Text replies
//! escape `|`, `,`, `=` and `\` with a backslash (API 1.7+).
//!
//! Unlike `fleet::proto::cgminer` (what hashward itself may send), this module classifies what
//! *anyone* sent, so its tables list the commands that change a miner.

use super::{ProtoError, malformed, truncate_str};

/// Longest request read; cgminer's own request buffer is 8 KiB (`RPC_BUFSIZ`… `api.c`), more
/// is [`ProtoError::TooLarge`].
pub const MAX_REQUEST: usize = 8 * 1024;
/// At most this many joined commands are kept.
const MAX_COMMANDS: usize = 16;

/// Commands marked `(*)` (privileged) in cgminer's API-README (ckolivas/cgminer, API 3.x),
/// plus BFGMiner's privileged `proc*`/`pgarestart` (its README.RPC). `privileged` itself is in
/// the table although it only reports whether privileged access would be allowed. Sorted; a
/// test keeps it so.
pub const PRIVILEGED: &[&str] = &[
    "addpool",
    "ascdisable",
    "ascenable",
    "ascidentify",
    "ascset",
    "debug",
    "disablepool",
    "enablepool",
    "failover-only",
    "gpudisable",
    "gpuenable",
    "gpuengine",
    "gpufan",
    "gpuintensity",
    "gpumem",
    "gpurestart",
    "gpuvddc",
    "hotplug",
    "lockstats",
    "pgadisable",
    "pgaenable",
    "pgaidentify",
    "pgarestart",
    "pgaset",
    "poolpriority",
    "poolquota",
    "privileged",
    "procdisable",
    "procenable",
    "procidentify",
    "procset",
    "quit",
    "removepool",
    "restart",
    "save",
    "setconfig",
    "switchpool",
    "zero",
];

/// Privileged commands that change which pool the miner works for (API-README: "all current
/// pool commands" in the `--api-groups` example, plus `poolquota`). Sorted.
pub const POOL_CHANGING: &[&str] = &[
    "addpool",
    "disablepool",
    "enablepool",
    "poolpriority",
    "poolquota",
    "removepool",
    "switchpool",
];

/// A cgminer API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// The commands as sent; cgminer compares them case-sensitively ("summary+pools" → 2; at
    /// most 16).
    pub commands: Vec<String>,
    /// The parameter (at most 256 bytes). For `addpool` (`URL,USER,PASS[,GOAL]`) the password
    /// field is replaced by `***`.
    pub parameter: Option<String>,
    /// The request was JSON.
    pub json: bool,
    /// A command is in [`PRIVILEGED`].
    pub privileged: bool,
    /// A command is in [`POOL_CHANGING`].
    pub changes_pools: bool,
}

/// Reads a client's request. JSON `{"command":"addpool","parameter":"stratum+tcp://x:3333,u,p"}`
/// or text `"switchpool|1"`; Ok(None) = not an API request (other JSON, a non-command token,
/// binary).
pub fn api_request(data: &[u8]) -> Result<Option<ApiRequest>, ProtoError> {
    let data = data.strip_suffix(&[0]).unwrap_or(data).trim_ascii();
    if data.len() > MAX_REQUEST {
        return Err(ProtoError::TooLarge {
            what: "cgminer API request",
        });
    }
    let (command, parameter, json) = if data.first() == Some(&b'{') {
        // A map, so that a repeated key keeps its last value like jansson (cgminer's JSON
        // library) does, instead of failing the parse.
        let req: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(data).map_err(|_| malformed("cgminer API JSON request"))?;
        let Some(serde_json::Value::String(command)) = req.get("command").or_else(|| req.get("cmd")) else {
            return Ok(None);
        };
        let parameter = match req.get("parameter") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let command = command.clone();
        (command, parameter, true)
    } else {
        let Ok(text) = std::str::from_utf8(data) else {
            return Ok(None);
        };
        let line = text.lines().next().unwrap_or_default();
        let (c, p) = match line.split_once('|') {
            Some((c, p)) => (c, Some(p.to_string())),
            None => (line, None),
        };
        (c.to_string(), p, false)
    };
    let valid = |c: &str| {
        !c.is_empty()
            && c.len() <= 32
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let commands: Vec<String> = command
        .split('+')
        .take(MAX_COMMANDS)
        .map(|c| c.trim().to_string())
        .collect();
    if commands.iter().any(|c| !valid(c)) {
        return Ok(None);
    }
    let has = |table: &[&str]| commands.iter().any(|c| table.binary_search(&c.as_str()).is_ok());
    let privileged = has(PRIVILEGED);
    let changes_pools = has(POOL_CHANGING);
    let parameter = parameter.map(|p| {
        let p = if commands.iter().any(|c| c == "addpool") {
            redact_addpool(&p)
        } else {
            p
        };
        truncate_str(&p, 256)
    });
    Ok(Some(ApiRequest {
        commands,
        parameter,
        json,
        privileged,
        changes_pools,
    }))
}

/// `URL,USER,PASS[,GOAL]` with PASS replaced (`\,` is an escaped comma, API-README).
fn redact_addpool(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut field = 0;
    let mut escaped = false;
    for ch in p.chars() {
        if escaped {
            escaped = false;
            if field != 2 {
                out.push(ch);
            }
            continue;
        }
        match ch {
            '\\' => {
                escaped = true;
                if field != 2 {
                    out.push(ch);
                }
            }
            ',' => {
                field += 1;
                out.push(',');
                if field == 2 {
                    out.push_str("***");
                }
            }
            _ if field == 2 => {}
            _ => out.push(ch),
        }
    }
    out
}

/// The STATUS section of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiStatus {
    /// `S` success, `I` informational, `W` warning, `E` error, `F` fatal.
    pub status: char,
    /// The message code (`MSG_*` in cgminer `api.c`; see [`code_meaning`]).
    pub code: Option<u32>,
    /// The message (at most 256 bytes).
    pub msg: String,
}

/// The STATUS of a reply: JSON `{"STATUS":[{"STATUS":"E","Code":45,"Msg":"Access denied to
/// 'addpool' command"}]}` (also nested per command in joined replies, and btminer's
/// `"STATUS":"E"` string form) or text `"STATUS=E,When=…,Code=45,Msg=…|"`.
pub fn api_status(data: &[u8]) -> Option<ApiStatus> {
    let data = data.strip_suffix(&[0]).unwrap_or(data).trim_ascii();
    if data.len() > 1 << 20 {
        return None;
    }
    if data.first() == Some(&b'{') {
        json_status(data)
    } else {
        text_status(std::str::from_utf8(data).ok()?)
    }
}

fn json_status(data: &[u8]) -> Option<ApiStatus> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(data).ok()?;
    let top = v.as_object()?;
    // {"STATUS":[{…}]}, or {"summary":[{"STATUS":[{…}],…}],…} for joined commands.
    let holder = if top.contains_key("STATUS") {
        top
    } else {
        top.values().find_map(|x| {
            x.as_array()?
                .first()?
                .as_object()
                .filter(|o| o.contains_key("STATUS"))
        })?
    };
    let (obj, status) = match holder.get("STATUS")? {
        Value::Array(a) => {
            let o = a.first()?.as_object()?;
            (o, o.get("STATUS")?.as_str()?)
        }
        Value::String(s) => (holder, s.as_str()),
        _ => return None,
    };
    let code = match obj.get("Code") {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let msg = match obj.get("Msg") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Some(ApiStatus {
        status: status.chars().next().filter(char::is_ascii_alphabetic)?,
        code,
        msg: truncate_str(&msg, 256),
    })
}

fn text_status(text: &str) -> Option<ApiStatus> {
    // The first section, up to an unescaped '|', split on unescaped ','.
    let mut fields: Vec<String> = vec![String::new()];
    let mut escaped = false;
    for ch in text.chars().take(4096) {
        if escaped {
            escaped = false;
            if let Some(f) = fields.last_mut() {
                f.push(ch);
            }
            continue;
        }
        match ch {
            '\\' => escaped = true,
            '|' => break,
            ',' => fields.push(String::new()),
            _ => {
                if let Some(f) = fields.last_mut() {
                    f.push(ch);
                }
            }
        }
    }
    let mut status = None;
    let mut code = None;
    let mut msg = String::new();
    for f in &fields {
        match f.split_once('=') {
            Some(("STATUS", v)) => status = v.chars().next(),
            Some(("Code", v)) => code = v.parse().ok(),
            Some(("Msg", v)) => msg = truncate_str(v, 256),
            _ => {}
        }
    }
    Some(ApiStatus {
        status: status.filter(char::is_ascii_alphabetic)?,
        code,
        msg,
    })
}

/// What a cgminer STATUS code means, for the codes that matter to pool changes and access
/// (`MSG_*` defines in cgminer `api.c`).
pub fn code_meaning(code: u32) -> Option<&'static str> {
    Some(match code {
        14 => "invalid command",
        27 => "switched pool",
        44 => "configuration saved",
        45 => "access denied",
        46 => "privileged access OK",
        47 => "pool enabled",
        48 => "pool disabled",
        55 => "pool added",
        68 => "pool removed",
        73 => "pool priorities changed",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_consistent() {
        assert!(PRIVILEGED.windows(2).all(|w| w[0] < w[1]));
        assert!(POOL_CHANGING.windows(2).all(|w| w[0] < w[1]));
        assert!(POOL_CHANGING.iter().all(|c| PRIVILEGED.binary_search(c).is_ok()));
    }

    #[test]
    fn json_addpool_is_privileged_and_redacted() {
        let r = api_request(b"{\"command\":\"addpool\",\"parameter\":\"stratum+tcp://x:3333,u,p\"}")
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            ApiRequest {
                commands: vec!["addpool".into()],
                parameter: Some("stratum+tcp://x:3333,u,***".into()),
                json: true,
                privileged: true,
                changes_pools: true,
            }
        );
        assert_eq!(
            redact_addpool("stratum+tcp://x:3333,us\\,er,pa\\,ss,goal"),
            "stratum+tcp://x:3333,us\\,er,***,goal"
        );
    }

    #[test]
    fn text_requests() {
        let r = api_request(b"switchpool|1").unwrap().unwrap();
        assert_eq!(r.commands, vec!["switchpool"]);
        assert_eq!(r.parameter.as_deref(), Some("1"));
        assert!(!r.json && r.privileged && r.changes_pools);
        let r = api_request(b"poolpriority|1,0\n").unwrap().unwrap();
        assert!(r.changes_pools);
        let r = api_request(b"restart").unwrap().unwrap();
        assert!(r.privileged && !r.changes_pools);
        let r = api_request(b"ascset|0,freq,650\0").unwrap().unwrap();
        assert!(r.privileged && !r.changes_pools);
    }

    #[test]
    fn read_only_and_joined() {
        let r = api_request(b"{\"command\":\"summary+pools\"}").unwrap().unwrap();
        assert_eq!(r.commands, vec!["summary", "pools"]);
        assert!(!r.privileged && !r.changes_pools && r.json && r.parameter.is_none());
        let r = api_request(b"summary+addpool").unwrap().unwrap();
        assert!(r.privileged && r.changes_pools);
        let r = api_request(b"{\"cmd\":\"summary\"}").unwrap().unwrap();
        assert_eq!(r.commands, vec!["summary"]);
        let r = api_request(b"{\"command\":\"check\",\"parameter\":\"addpool\"}")
            .unwrap()
            .unwrap();
        assert!(!r.privileged);
        let r = api_request(b"{\"command\":\"summary\",\"command\":\"addpool\"}")
            .unwrap()
            .unwrap();
        assert!(r.changes_pools, "last key wins, as in jansson");
        let r = api_request(b"ADDPOOL|x").unwrap().unwrap();
        assert!(!r.privileged, "cgminer's strcmp: not a command");
        let r = api_request(b"{\"command\":\"ascset\",\"parameter\":0}")
            .unwrap()
            .unwrap();
        assert_eq!(r.parameter.as_deref(), Some("0"));
    }

    #[test]
    fn not_api_requests() {
        assert_eq!(api_request(b"GET / HTTP/1.1\r\n\r\n"), Ok(None));
        assert_eq!(
            api_request(b"{\"id\":1,\"method\":\"mining.subscribe\"}"),
            Ok(None)
        );
        assert_eq!(api_request(b"\x16\x03\x01\x00"), Ok(None));
        assert_eq!(api_request(b""), Ok(None));
        assert!(api_request(b"{\"command\":").is_err());
        assert!(matches!(
            api_request(&vec![b'a'; MAX_REQUEST + 1]),
            Err(ProtoError::TooLarge { .. })
        ));
    }

    #[test]
    fn status_replies() {
        let s = api_status(b"{\"STATUS\":[{\"STATUS\":\"E\",\"When\":1536000000,\"Code\":45,\"Msg\":\"Access denied to 'addpool' command\",\"Description\":\"bmminer 1.0.0\"}],\"id\":1}\0").unwrap();
        assert_eq!(
            s,
            ApiStatus {
                status: 'E',
                code: Some(45),
                msg: "Access denied to 'addpool' command".into()
            }
        );
        assert_eq!(code_meaning(45), Some("access denied"));
        let s = api_status(
            b"STATUS=S,When=1536000000,Code=46,Msg=Privileged access OK,Description=cgminer 4.9.0|\0",
        )
        .unwrap();
        assert_eq!(
            (s.status, s.code, s.msg.as_str()),
            ('S', Some(46), "Privileged access OK")
        );
        let s = api_status(b"STATUS=S,When=1536000000,Code=55,Msg=Added pool 'stratum+tcp://x\\:3333\\,a',Description=cgminer 4.9.0|").unwrap();
        assert_eq!(s.code, Some(55));
        assert_eq!(s.msg, "Added pool 'stratum+tcp://x:3333,a'");
        let s = api_status(b"{\"STATUS\":[{\"STATUS\":\"S\",\"When\":1,\"Code\":55,\"Msg\":\"Added pool 'stratum+tcp://x:3333'\"}],\"id\":1}").unwrap();
        assert_eq!((s.status, s.code), ('S', Some(55)));
        // Joined reply: STATUS inside each command's array.
        let s = api_status(b"{\"summary\":[{\"STATUS\":[{\"STATUS\":\"S\",\"Code\":11,\"Msg\":\"Summary\"}],\"SUMMARY\":[]}],\"id\":1}").unwrap();
        assert_eq!((s.status, s.code), ('S', Some(11)));
        // btminer string form.
        let s =
            api_status(b"{\"STATUS\":\"E\",\"When\":1,\"Code\":45,\"Msg\":\"Permission denied\"}").unwrap();
        assert_eq!((s.status, s.code), ('E', Some(45)));
        assert_eq!(api_status(b"garbage"), None);
        assert_eq!(api_status(b"{\"a\":1}"), None);
        assert_eq!(api_status(b""), None);
    }
}
