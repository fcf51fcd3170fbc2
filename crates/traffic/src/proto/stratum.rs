//! Stratum V1: one JSON-RPC object per line, both directions, every dialect in the traffic
//! brief §4 (Bitcoin `mining.*`/`client.*`, XMR/CryptoNote `login`/`job`/`submit`, Ethereum
//! `eth_submitLogin`, Zcash `mining.set_target`).
//!
//! Speed: most bytes of a mining capture are `mining.notify` lines (0.5–1.5 KB), then
//! `mining.submit` and `{"id":N,"result":true,"error":null}`. Those take a fast path that reads
//! the few fields it needs with `memchr` and never builds a JSON tree. The fast path only runs
//! on lines without a backslash (so no string can hide a quote) and only when the key it reads
//! occurs once in key position (`{` or `,` before it, `:` after it); a line that could be
//! ambiguous falls through to `serde_json`. Every message whose content matters for detection
//! (subscribe, authorize, login, configure, set_extranonce, reconnect, show_message, responses
//! with structured results or errors) is read by `serde_json` — with the last occurrence of a
//! duplicated key winning, as in jansson, the JSON library of cgminer and bmminer. The fast
//! path checks structure, not full JSON validity: a corrupted `mining.notify` line may still be
//! reported as `Notify`, which carries nothing a detection depends on.
//!
//! Method names are matched the way cgminer's `parse_method` does (util.c: `strncasecmp` with
//! the length of the known name): case-insensitively, and for the server-to-client methods
//! cgminer acts on, as a prefix — `"Client.Reconnect"` and `"client.reconnectx"` are
//! reconnects to a cgminer miner, so they are [`Message::Reconnect`] here too.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use memchr::{memchr, memmem, memrchr};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{ProtoError, malformed, truncate_str};

/// Longest line parsed; longer is [`ProtoError::TooLarge`] (a notify with a long merkle branch
/// is a few KB; XMR jobs are under 1 KB).
pub const MAX_LINE: usize = 256 * 1024;
/// Ids, job ids, extranonces, list items and method names are cut to this many bytes.
const MAX_SHORT: usize = 64;
/// User agents are cut to this many bytes.
const MAX_AGENT: usize = 128;
/// Usernames, logins and host names are cut to this many bytes.
const MAX_USER: usize = 256;
/// Free text (show_message, errors) is cut to this many bytes.
const MAX_TEXT: usize = 512;
/// At most this many list items (configure extensions, XMR algos) are kept.
const MAX_LIST: usize = 16;

/// A JSON-RPC id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// `null` or absent.
    Null,
    /// An integer that fits `i64`.
    Num(i64),
    /// A string (at most 64 bytes), or the JSON text of any other id (a float, a huge
    /// integer, an array).
    Str(String),
}

/// The shape of a response's `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// `true` (share accepted, authorized).
    True,
    /// `false` (rejected).
    False,
    /// `null` or absent (usually with an error).
    Null,
    /// Anything else (the subscribe tuple, an XMR login object, a string).
    Other,
}

/// One Stratum V1 line, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `mining.subscribe`: `params[0]` is the user agent ("bfgminer/5.2.0").
    Subscribe {
        /// Request id.
        id: Id,
        /// The user agent, when given.
        agent: Option<String>,
    },
    /// `mining.authorize ["user.worker", "password"]`; the password is never kept.
    Authorize {
        /// Request id.
        id: Id,
        /// The username (empty when missing).
        user: String,
        /// A non-empty password was sent.
        has_password: bool,
    },
    /// XMR/CryptoNote `login {login, pass, agent, algo}`.
    Login {
        /// Request id.
        id: Id,
        /// The wallet/login (empty when missing).
        login: String,
        /// The miner's `agent`, when given.
        agent: Option<String>,
        /// The `algo` list (at most 16).
        algo: Vec<String>,
    },
    /// Ethereum `eth_submitLogin ["wallet.worker", …]`.
    EthSubmitLogin {
        /// Request id.
        id: Id,
        /// The login (empty when missing).
        user: String,
    },
    /// `mining.submit ["user", "job", …]` or XMR `submit {id, job_id, nonce, result}`.
    Submit {
        /// Request id.
        id: Id,
        /// `params[0]` of `mining.submit` (XMR submits carry no user).
        user: Option<String>,
        /// The job id.
        job_id: Option<String>,
    },
    /// `mining.configure [["version-rolling", …], {…}]` (BIP 310).
    Configure {
        /// Request id.
        id: Id,
        /// The extension names requested (at most 16).
        extensions: Vec<String>,
    },
    /// `mining.extranonce.subscribe`.
    ExtranonceSubscribe {
        /// Request id.
        id: Id,
    },
    /// `mining.suggest_difficulty`.
    SuggestDifficulty {
        /// Request id.
        id: Id,
    },
    /// `mining.notify`: new work.
    Notify {
        /// `params[0]`, when a string.
        job_id: Option<String>,
        /// The last parameter, when a boolean (`clean_jobs`; index 8 for Bitcoin, 7 for
        /// Zcash, 3 for Ethereum).
        clean_jobs: Option<bool>,
    },
    /// `mining.set_difficulty [d]`.
    SetDifficulty {
        /// The new share difficulty.
        difficulty: f64,
    },
    /// `mining.set_target` (Zcash and others).
    SetTarget,
    /// `mining.set_extranonce ["extranonce1", size]`.
    SetExtranonce {
        /// The new extranonce1 (hex; empty when missing).
        extranonce1: String,
        /// The extranonce2 size, when given.
        size: Option<u64>,
    },
    /// `mining.set_version_mask`.
    SetVersionMask,
    /// `client.reconnect`: params may be `[]`, `[null, port]`, `[host]`,
    /// `[host, "port-as-string", wait]`.
    Reconnect {
        /// The new host: `None` for `null`, absent or not a string (the miner reconnects to
        /// its current pool); an empty string is kept (cgminer denies it).
        host: Option<String>,
        /// The new port (a number or a numeric string, 1–65535).
        port: Option<u16>,
        /// Seconds to wait before reconnecting.
        wait_s: Option<u64>,
    },
    /// `client.show_message ["text"]`.
    ShowMessage {
        /// The text (at most 512 bytes; empty when missing).
        text: String,
    },
    /// `client.get_version`.
    GetVersion,
    /// `mining.ping` / `client.ping`.
    Ping,
    /// XMR pool push `{"method":"job", …}`.
    Job,
    /// Any other method (at most 64 bytes), e.g. `mining.get_transactions`, `getwork`,
    /// `eth_getWork`, `keepalived`.
    OtherMethod {
        /// The method string.
        method: String,
    },
    /// A response: no method, a `result` and/or an `error`.
    Response {
        /// The id of the request answered.
        id: Id,
        /// The shape of `result`.
        result: ResultKind,
        /// The error: a string as given, `[code, "message", …]` and `{code, message}` as
        /// `"code: message"`, anything else as its JSON text (at most 512 bytes).
        error: Option<String>,
    },
}

/// True when the first bytes of a stream look like Stratum: `{` (after whitespace) and one of
/// the keys `"method"`, `"id"`, `"result"`, `"jsonrpc"` or `"params"` within the first 64
/// bytes (`"params"` because notify lines often start with it, and a capture may begin
/// mid-session).
pub fn looks_like_stratum(first: &[u8]) -> bool {
    let b = first.trim_ascii_start();
    if b.first() != Some(&b'{') {
        return false;
    }
    let head = b.get(..b.len().min(64)).unwrap_or_default();
    [
        &b"\"method\""[..],
        b"\"id\"",
        b"\"result\"",
        b"\"jsonrpc\"",
        b"\"params\"",
    ]
    .iter()
    .any(|k| memmem::find(head, k).is_some())
}

/// Classifies one line (with or without its `\n`). Err = not a stratum JSON line.
pub fn parse_line(line: &[u8]) -> Result<Message, ProtoError> {
    let line = line.trim_ascii();
    if line.len() > MAX_LINE {
        return Err(ProtoError::TooLarge { what: "stratum line" });
    }
    if line.first() != Some(&b'{') || line.last() != Some(&b'}') {
        return Err(malformed("stratum line: not a JSON object"));
    }
    if memchr(b'\\', line).is_none()
        && let Some(m) = fast::classify(line)
    {
        return Ok(m);
    }
    slow::classify(line)
}

/// What a method name means, matched like cgminer's `parse_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Subscribe,
    Authorize,
    Login,
    EthSubmitLogin,
    Submit,
    XmrSubmit,
    Configure,
    ExtranonceSubscribe,
    SuggestDifficulty,
    Notify,
    SetDifficulty,
    SetTarget,
    SetExtranonce,
    SetVersionMask,
    Reconnect,
    ShowMessage,
    GetVersion,
    Ping,
    Job,
    Other,
}

/// Exact names (ASCII case-insensitive), sorted by name.
const EXACT: &[(&str, Kind)] = &[
    ("client.get_version", Kind::GetVersion),
    ("client.ping", Kind::Ping),
    ("client.reconnect", Kind::Reconnect),
    ("client.show_message", Kind::ShowMessage),
    ("eth_submitlogin", Kind::EthSubmitLogin),
    ("job", Kind::Job),
    ("login", Kind::Login),
    ("mining.authorize", Kind::Authorize),
    ("mining.configure", Kind::Configure),
    ("mining.extranonce.subscribe", Kind::ExtranonceSubscribe),
    ("mining.notify", Kind::Notify),
    ("mining.ping", Kind::Ping),
    ("mining.set_difficulty", Kind::SetDifficulty),
    ("mining.set_extranonce", Kind::SetExtranonce),
    ("mining.set_target", Kind::SetTarget),
    ("mining.set_version_mask", Kind::SetVersionMask),
    ("mining.submit", Kind::Submit),
    ("mining.subscribe", Kind::Subscribe),
    ("mining.suggest_difficulty", Kind::SuggestDifficulty),
    ("submit", Kind::XmrSubmit),
];

/// cgminer `parse_method` (ckolivas/cgminer util.c) compares with `strncasecmp(buf, name,
/// strlen(name))`: any method that *starts* with one of these names (any case) is handled as
/// that method.
const CGMINER_PREFIXES: &[(&str, Kind)] = &[
    ("client.get_version", Kind::GetVersion),
    ("client.reconnect", Kind::Reconnect),
    ("client.show_message", Kind::ShowMessage),
    ("mining.notify", Kind::Notify),
    ("mining.ping", Kind::Ping),
    ("mining.set_difficulty", Kind::SetDifficulty),
    ("mining.set_extranonce", Kind::SetExtranonce),
];

fn kind(method: &str) -> Kind {
    // The names as pools and miners spell them, without the case-insensitive scan.
    match method {
        "mining.notify" => return Kind::Notify,
        "mining.submit" => return Kind::Submit,
        "mining.set_difficulty" => return Kind::SetDifficulty,
        "job" => return Kind::Job,
        "submit" => return Kind::XmrSubmit,
        _ => {}
    }
    if let Some((_, k)) = EXACT.iter().find(|(n, _)| n.eq_ignore_ascii_case(method)) {
        return *k;
    }
    CGMINER_PREFIXES
        .iter()
        .find(|(n, _)| method.get(..n.len()).is_some_and(|p| p.eq_ignore_ascii_case(n)))
        .map_or(Kind::Other, |(_, k)| *k)
}

/// The fast path: structural reads on lines without backslashes.
mod fast {
    use super::*;

    static METHOD: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"method\""));
    static PARAMS: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"params\""));

    /// Where a key occurs in key position.
    enum Hit {
        None,
        /// (start of the key, start of its value)
        One(usize, usize),
        Many,
    }

    #[inline(always)]
    fn skip_ws(line: &[u8], mut i: usize) -> usize {
        while line.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        i
    }

    /// Start of the value when the key at `at` (length `len`) is in key position.
    #[inline(always)]
    fn value_after_key(line: &[u8], at: usize, len: usize) -> Option<usize> {
        let before = line.get(..at)?.trim_ascii_end().last()?;
        if *before != b'{' && *before != b',' {
            return None;
        }
        let colon = skip_ws(line, at.checked_add(len)?);
        (line.get(colon) == Some(&b':')).then(|| skip_ws(line, colon + 1))
    }

    fn find(line: &[u8], f: &memmem::Finder<'_>) -> Hit {
        let len = f.needle().len();
        let mut hit = Hit::None;
        for at in f.find_iter(line) {
            if let Some(v) = value_after_key(line, at, len) {
                if matches!(hit, Hit::One(..)) {
                    return Hit::Many;
                }
                hit = Hit::One(at, v);
            }
        }
        hit
    }

    /// The first key-position occurrence only (for long lines where uniqueness is not worth a
    /// second scan and the value read is informational).
    fn find_first(line: &[u8], f: &memmem::Finder<'_>) -> Option<(usize, usize)> {
        let len = f.needle().len();
        f.find_iter(line)
            .find_map(|at| value_after_key(line, at, len).map(|v| (at, v)))
    }

    /// The string starting at `i` (a `"`) and the index after its closing quote.
    #[inline(always)]
    fn string_at(line: &[u8], i: usize) -> Option<(&str, usize)> {
        if line.get(i) != Some(&b'"') {
            return None;
        }
        let body = line.get(i + 1..)?;
        let end = memchr(b'"', body)?;
        let s = std::str::from_utf8(body.get(..end)?).ok()?;
        Some((s, i + 1 + end + 1))
    }

    /// A literal (`true`, `null`, a number) at `i`, ending before `,`, `}`, `]` or space.
    #[inline(always)]
    fn token_at(line: &[u8], i: usize) -> Option<&[u8]> {
        let rest = line.get(i..)?;
        let end = rest
            .iter()
            .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())?;
        rest.get(..end).filter(|t| !t.is_empty())
    }

    /// Lines up to this long are first tried as a flat object.
    const FLAT_MAX: usize = 1024;

    pub(super) fn classify(line: &[u8]) -> Option<Message> {
        if line.len() <= FLAT_MAX
            && let Some(f) = flat(line)
        {
            // The object was read completely: it is authoritative.
            return from_flat(&f);
        }
        match find(line, &METHOD) {
            Hit::One(key, v) => {
                let (method, _) = string_at(line, v)?;
                match method {
                    "mining.notify" => Some(notify(line, key)),
                    "job" => Some(Message::Job),
                    "mining.set_target" => Some(Message::SetTarget),
                    "mining.set_version_mask" => Some(Message::SetVersionMask),
                    _ => None,
                }
            }
            Hit::None | Hit::Many => None,
        }
    }

    /// `job_id` = the first element of params; `clean_jobs` = the boolean before the `]`
    /// that closes params (found backwards from the method key when params comes first, else
    /// from the end of the line).
    fn notify(line: &[u8], method_key: usize) -> Message {
        let Some((_, open)) = find_first(line, &PARAMS).filter(|(_, o)| line.get(*o) == Some(&b'[')) else {
            return Message::Notify {
                job_id: None,
                clean_jobs: None,
            };
        };
        let job_id = string_at(line, skip_ws(line, open + 1)).map(|(s, _)| truncate_str(s, MAX_SHORT));
        let end = if open < method_key {
            method_key
        } else {
            line.len().saturating_sub(1)
        };
        let clean_jobs = line
            .get(open + 1..end)
            .and_then(|region| memrchr(b']', region))
            .and_then(|close| {
                let before = line.get(open + 1..open + 1 + close)?.trim_ascii_end();
                let (flag, len) = if before.ends_with(b"true") {
                    (true, 4)
                } else if before.ends_with(b"false") {
                    (false, 5)
                } else {
                    return None;
                };
                let lead = before.get(..before.len() - len)?.trim_ascii_end().last()?;
                matches!(lead, b',' | b'[').then_some(flag)
            });
        Message::Notify { job_id, clean_jobs }
    }

    /// A value of a flat object: a string, a literal (number, `true`, `false`, `null`) or an
    /// array of those.
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Val<'a> {
        Str(&'a str),
        Lit(&'a [u8]),
        Arr,
    }

    /// The members of a flat object that classification reads, and the first items of
    /// `params` when it is an array.
    #[derive(Default)]
    pub(super) struct Flat<'a> {
        method: Option<Val<'a>>,
        id: Option<Val<'a>>,
        params: Option<Val<'a>>,
        result: Option<Val<'a>>,
        error: Option<Val<'a>>,
        items: [Option<Val<'a>>; 3],
    }

    /// A JSON number (RFC 8259 §6 grammar).
    #[inline(always)]
    fn is_number(t: &[u8]) -> bool {
        let t = t.strip_prefix(b"-").unwrap_or(t);
        let int_end = t.iter().position(|b| !b.is_ascii_digit()).unwrap_or(t.len());
        let (int, mut rest) = t.split_at(int_end);
        if int.is_empty() || (int.len() > 1 && int[0] == b'0') {
            return false;
        }
        if let Some(r) = rest.strip_prefix(b".") {
            let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return false;
            }
            rest = &r[n..];
        }
        if let Some(r) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
            let r = r.strip_prefix(b"+").or_else(|| r.strip_prefix(b"-")).unwrap_or(r);
            let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
            return n > 0 && n == r.len();
        }
        rest.is_empty()
    }

    /// Index of the next `"` at or after `from`: a plain loop over the first bytes (most
    /// strings here are short, and a `memchr` call costs more than it saves on them), then
    /// `memchr`.
    #[inline(always)]
    fn next_quote(b: &[u8], from: usize) -> Option<usize> {
        let rest = b.get(from..)?;
        let head = rest.get(..rest.len().min(32))?;
        if let Some(p) = head.iter().position(|&c| c == b'"') {
            return Some(from + p);
        }
        memchr(b'"', rest.get(head.len()..)?).map(|p| from + head.len() + p)
    }

    /// The string starting at `i` (a `"`) of an already validated line, and the index after
    /// its closing quote. Slicing at ASCII quotes keeps UTF-8 boundaries: no re-validation.
    #[inline(always)]
    fn str_at(s: &str, i: usize) -> Option<(&str, usize)> {
        if s.as_bytes().get(i) != Some(&b'"') {
            return None;
        }
        let end = next_quote(s.as_bytes(), i + 1)?;
        Some((s.get(i + 1..end)?, end + 1))
    }

    /// A string or a literal at `i`, and the index after it.
    #[inline(always)]
    fn scalar(s: &str, i: usize) -> Option<(Val<'_>, usize)> {
        match s.as_bytes().get(i)? {
            b'"' => {
                let (v, next) = str_at(s, i)?;
                Some((Val::Str(v), next))
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                let t = token_at(s.as_bytes(), i)?;
                (matches!(t, b"true" | b"false" | b"null") || is_number(t))
                    .then_some((Val::Lit(t), i + t.len()))
            }
            _ => None,
        }
    }

    /// Reads a whole object whose values are scalars or flat arrays (no backslash in the
    /// line, so strings are plain). `None` for anything else, including a duplicated member
    /// we read (serde_json's path then applies "last one wins").
    pub(super) fn flat(line: &[u8]) -> Option<Flat<'_>> {
        let text = std::str::from_utf8(line).ok()?;
        let mut f = Flat::default();
        let mut i = skip_ws(line, 1);
        if line.get(i) == Some(&b'}') {
            return (i + 1 == line.len()).then_some(f);
        }
        loop {
            let (key, next) = str_at(text, i)?;
            i = skip_ws(line, next);
            if line.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(line, i + 1);
            let is_params = key == "params";
            let (val, next) = if line.get(i) == Some(&b'[') {
                let mut j = skip_ws(line, i + 1);
                let mut n = 0usize;
                if line.get(j) == Some(&b']') {
                    j += 1;
                } else {
                    loop {
                        let (v, after) = scalar(text, j)?;
                        if is_params && let Some(slot) = f.items.get_mut(n) {
                            *slot = Some(v);
                        }
                        n += 1;
                        j = skip_ws(line, after);
                        match line.get(j)? {
                            b',' => j = skip_ws(line, j + 1),
                            b']' => {
                                j += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                (Val::Arr, j)
            } else {
                scalar(text, i)?
            };
            let slot = match key {
                "method" => Some(&mut f.method),
                "id" => Some(&mut f.id),
                "params" => Some(&mut f.params),
                "result" => Some(&mut f.result),
                "error" => Some(&mut f.error),
                _ => None,
            };
            if let Some(slot) = slot {
                if slot.is_some() {
                    return None;
                }
                *slot = Some(val);
            }
            i = skip_ws(line, next);
            match line.get(i)? {
                b',' => i = skip_ws(line, i + 1),
                b'}' => return (i + 1 == line.len()).then_some(f),
                _ => return None,
            }
        }
    }

    fn flat_id(v: Option<Val<'_>>) -> Option<Id> {
        Some(match v {
            None | Some(Val::Lit(b"null")) => Id::Null,
            Some(Val::Str(s)) => Id::Str(truncate_str(s, MAX_SHORT)),
            Some(Val::Lit(t)) => {
                let t = std::str::from_utf8(t).ok()?;
                t.parse()
                    .map_or_else(|_| Id::Str(truncate_str(t, MAX_SHORT)), Id::Num)
            }
            Some(Val::Arr) => return None,
        })
    }

    /// The messages a flat object can fully describe; the rest go to serde_json.
    fn from_flat(f: &Flat<'_>) -> Option<Message> {
        let item = |k: usize| match f.params {
            Some(Val::Arr) => f.items.get(k).copied().flatten(),
            _ => None,
        };
        let text = |v: Option<Val<'_>>, max| match v {
            Some(Val::Str(s)) => Some(truncate_str(s, max)),
            _ => None,
        };
        let method = match f.method {
            Some(Val::Str(m)) => m,
            None | Some(Val::Lit(b"null")) => {
                if f.result.is_none() && f.error.is_none() {
                    return None;
                }
                let result = match f.result {
                    Some(Val::Lit(b"true")) => ResultKind::True,
                    Some(Val::Lit(b"false")) => ResultKind::False,
                    None | Some(Val::Lit(b"null")) => ResultKind::Null,
                    Some(_) => ResultKind::Other,
                };
                let error = match f.error {
                    None | Some(Val::Lit(b"null")) => None,
                    Some(Val::Str(s)) => Some(truncate_str(s, MAX_TEXT)),
                    Some(_) => return None,
                };
                return Some(Message::Response {
                    id: flat_id(f.id)?,
                    result,
                    error,
                });
            }
            Some(_) => return None,
        };
        let id = flat_id(f.id)?;
        Some(match kind(method) {
            Kind::Submit => Message::Submit {
                id,
                user: text(item(0), MAX_USER),
                job_id: text(item(1), MAX_SHORT),
            },
            Kind::SetDifficulty => {
                let d = match item(0)? {
                    Val::Str(s) => s.trim().parse::<f64>().ok(),
                    Val::Lit(t) => std::str::from_utf8(t).ok()?.parse::<f64>().ok(),
                    Val::Arr => None,
                };
                Message::SetDifficulty {
                    difficulty: d.filter(|d| d.is_finite())?,
                }
            }
            Kind::ExtranonceSubscribe => Message::ExtranonceSubscribe { id },
            Kind::SuggestDifficulty => Message::SuggestDifficulty { id },
            Kind::SetTarget => Message::SetTarget,
            Kind::SetVersionMask => Message::SetVersionMask,
            Kind::GetVersion => Message::GetVersion,
            Kind::Ping => Message::Ping,
            // eth_getWork / eth_submitWork / eth_submitHashrate polls are frequent.
            Kind::Other => Message::OtherMethod {
                method: truncate_str(method, MAX_SHORT),
            },
            _ => return None,
        })
    }
}

/// The full path: serde_json over the line, raw values for the fields we look at.
mod slow {
    use super::*;

    /// The values of `keys` in a JSON object (last occurrence wins), other members skipped.
    struct Fields<'k, 'de, const N: usize> {
        keys: &'k [&'k str; N],
        _de: std::marker::PhantomData<&'de ()>,
    }

    /// An object key, borrowed when it has no escapes.
    struct Key<'de>(Cow<'de, str>);

    impl<'de> de::Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object key")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v.to_string())))
                }
            }
            d.deserialize_str(V)
        }
    }

    impl<'de, const N: usize> DeserializeSeed<'de> for Fields<'_, 'de, N> {
        type Value = [Option<&'de RawValue>; N];
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de, const N: usize> Visitor<'de> for Fields<'_, 'de, N> {
        type Value = [Option<&'de RawValue>; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = [None; N];
            while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                match self.keys.iter().position(|want| *want == k) {
                    Some(i) => {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(map.next_value::<&'de RawValue>()?);
                        }
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(out)
        }
    }

    fn fields<'de, const N: usize>(json: &'de str, keys: &[&str; N]) -> Option<[Option<&'de RawValue>; N]> {
        let mut d = serde_json::Deserializer::from_str(json);
        let v = Fields {
            keys,
            _de: std::marker::PhantomData,
        }
        .deserialize(&mut d)
        .ok()?;
        d.end().ok()?;
        Some(v)
    }

    /// The first [`MAX_LIST`] elements of an array and its last element.
    #[derive(Default)]
    struct Items<'de> {
        first: Vec<&'de RawValue>,
        last: Option<&'de RawValue>,
    }

    impl<'de> de::Deserialize<'de> for Items<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Items<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an array")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items<'de>, A::Error> {
                    let mut out = Items::default();
                    while let Some(v) = seq.next_element::<&'de RawValue>()? {
                        if out.first.len() < MAX_LIST {
                            out.first.push(v);
                        }
                        out.last = Some(v);
                    }
                    Ok(out)
                }
            }
            d.deserialize_seq(V)
        }
    }

    fn items(v: Option<&RawValue>) -> Items<'_> {
        v.and_then(|v| serde_json::from_str::<Items<'_>>(v.get()).ok())
            .unwrap_or_default()
    }

    fn string(v: Option<&RawValue>, max: usize) -> Option<String> {
        let v = v?;
        if !v.get().starts_with('"') {
            return None;
        }
        serde_json::from_str::<Cow<'_, str>>(v.get())
            .ok()
            .map(|s| truncate_str(&s, max))
    }

    fn unsigned(v: Option<&RawValue>) -> Option<u64> {
        let raw = v?.get();
        if let Some(s) = raw.strip_prefix('"') {
            return s.strip_suffix('"')?.trim().parse().ok();
        }
        raw.parse().ok()
    }

    fn is_null(v: Option<&RawValue>) -> bool {
        v.is_none_or(|v| v.get() == "null")
    }

    fn id(v: Option<&RawValue>) -> Id {
        let Some(v) = v else { return Id::Null };
        let raw = v.get();
        if raw == "null" {
            Id::Null
        } else if let Ok(n) = raw.parse::<i64>() {
            Id::Num(n)
        } else if let Some(s) = string(Some(v), MAX_SHORT) {
            Id::Str(s)
        } else {
            Id::Str(truncate_str(raw, MAX_SHORT))
        }
    }

    fn error_text(v: Option<&RawValue>) -> Option<String> {
        let v = v.filter(|v| v.get() != "null")?;
        if let Some(s) = string(Some(v), MAX_TEXT) {
            return Some(s);
        }
        let pair = match serde_json::from_str::<serde_json::Value>(v.get()) {
            Ok(serde_json::Value::Array(a)) => a.first().cloned().zip(a.get(1).cloned()),
            Ok(serde_json::Value::Object(o)) => o.get("code").cloned().zip(o.get("message").cloned()),
            _ => None,
        };
        let text = match pair {
            Some((code, serde_json::Value::String(m))) => format!("{code}: {m}"),
            _ => v.get().to_string(),
        };
        Some(truncate_str(&text, MAX_TEXT))
    }

    /// Object params (XMR) by key; `None` when params is not an object.
    fn object<'de, const N: usize>(
        params: Option<&'de RawValue>,
        keys: &[&str; N],
    ) -> Option<[Option<&'de RawValue>; N]> {
        params
            .filter(|p| p.get().starts_with('{'))
            .and_then(|p| fields(p.get(), keys))
    }

    fn string_list(v: Option<&RawValue>) -> Vec<String> {
        if let Some(s) = string(v, MAX_SHORT) {
            return vec![s];
        }
        items(v)
            .first
            .into_iter()
            .filter_map(|x| string(Some(x), MAX_SHORT))
            .collect()
    }

    pub(super) fn classify(line: &[u8]) -> Result<Message, ProtoError> {
        let json = std::str::from_utf8(line).map_err(|_| malformed("stratum line: not UTF-8"))?;
        let [id_v, method, params, result, error] =
            fields(json, &["id", "method", "params", "result", "error"])
                .ok_or_else(|| malformed("stratum line: not a JSON object"))?;
        let Some(method) = method.filter(|m| m.get() != "null") else {
            if result.is_none() && error.is_none() {
                return Err(malformed("stratum line: neither method nor result"));
            }
            let result = match result.map(RawValue::get) {
                Some("true") => ResultKind::True,
                Some("false") => ResultKind::False,
                None | Some("null") => ResultKind::Null,
                Some(_) => ResultKind::Other,
            };
            return Ok(Message::Response {
                id: id(id_v),
                result,
                error: error_text(error),
            });
        };
        let method = string(Some(method), MAX_LINE).ok_or_else(|| malformed("stratum method"))?;
        let id = id(id_v);
        // Object params (XMR) are read by key; array params by position.
        let p = items(params.filter(|p| p.get().starts_with('[')));
        let at = |i: usize| p.first.get(i).copied();
        Ok(match kind(&method) {
            Kind::Subscribe => Message::Subscribe {
                id,
                agent: string(at(0), MAX_AGENT),
            },
            Kind::Authorize => Message::Authorize {
                id,
                user: string(at(0), MAX_USER).unwrap_or_default(),
                has_password: !is_null(at(1)) && at(1).is_some_and(|v| v.get() != "\"\""),
            },
            Kind::Login => {
                let (login, agent, algo) = match object(params, &["login", "agent", "algo"]) {
                    Some([l, a, al]) => (string(l, MAX_USER), string(a, MAX_AGENT), string_list(al)),
                    None => (string(at(0), MAX_USER), None, Vec::new()),
                };
                Message::Login {
                    id,
                    login: login.unwrap_or_default(),
                    agent,
                    algo,
                }
            }
            Kind::EthSubmitLogin => Message::EthSubmitLogin {
                id,
                user: string(at(0), MAX_USER).unwrap_or_default(),
            },
            Kind::Submit => Message::Submit {
                id,
                user: string(at(0), MAX_USER),
                job_id: string(at(1), MAX_SHORT),
            },
            Kind::XmrSubmit => match object(params, &["job_id"]) {
                Some([job]) => Message::Submit {
                    id,
                    user: None,
                    job_id: string(job, MAX_SHORT),
                },
                None => Message::Submit {
                    id,
                    user: string(at(0), MAX_USER),
                    job_id: string(at(1), MAX_SHORT),
                },
            },
            Kind::Configure => Message::Configure {
                id,
                extensions: string_list(at(0)),
            },
            Kind::ExtranonceSubscribe => Message::ExtranonceSubscribe { id },
            Kind::SuggestDifficulty => Message::SuggestDifficulty { id },
            Kind::Notify => Message::Notify {
                job_id: string(at(0), MAX_SHORT),
                clean_jobs: p.last.and_then(|v| match v.get() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                }),
            },
            Kind::SetDifficulty => {
                let d = at(0).and_then(|v| {
                    let raw = v.get();
                    let raw = raw
                        .strip_prefix('"')
                        .and_then(|r| r.strip_suffix('"'))
                        .unwrap_or(raw);
                    raw.trim().parse::<f64>().ok().filter(|d| d.is_finite())
                });
                Message::SetDifficulty {
                    difficulty: d.ok_or_else(|| malformed("mining.set_difficulty params"))?,
                }
            }
            Kind::SetTarget => Message::SetTarget,
            Kind::SetExtranonce => Message::SetExtranonce {
                extranonce1: string(at(0), MAX_SHORT).unwrap_or_default(),
                size: unsigned(at(1)),
            },
            Kind::SetVersionMask => Message::SetVersionMask,
            Kind::Reconnect => Message::Reconnect {
                host: string(at(0), MAX_USER),
                port: unsigned(at(1))
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0),
                wait_s: unsigned(at(2)),
            },
            Kind::ShowMessage => Message::ShowMessage {
                text: string(at(0), MAX_TEXT).unwrap_or_default(),
            },
            Kind::GetVersion => Message::GetVersion,
            Kind::Ping => Message::Ping,
            Kind::Job => Message::Job,
            Kind::Other => Message::OtherMethod {
                method: truncate_str(&method, MAX_SHORT),
            },
        })
    }
}

/// True when cgminer/bmminer would accept a `client.reconnect` to `new_host` while connected
/// to `current_host`, with the reason.
///
/// cgminer's `parse_reconnect` (ckolivas/cgminer util.c, b8491c6; identical in Bitmain's
/// `bitmaintech/cgminer` 2015 and `bmminer-mix` 2019 — traffic brief §4.3) takes
/// `strchr(host, '.')` of both names and requires the remainders to be byte-identical
/// (`strcmp`, so case-sensitive): `eu.pool.tld` → `us.pool.tld` is accepted, a different
/// domain is denied ("non-matching domain url"), a name without a dot is denied ("url without
/// domain"), and so is a pool host without a dot. An IP literal has dots, so it is compared
/// like a name: from a named pool it never matches (denied), but between IP literals only the
/// part after the first octet is compared — `10.0.0.5` → `192.0.0.5` is *accepted* by that
/// code. When the reconnect carries no host (`null`, absent) cgminer reconnects to the current
/// pool and this check does not run; pass only [`Message::Reconnect`]'s `Some` host here.
/// Like the C code, each name is read up to its first NUL.
pub fn cgminer_accepts_reconnect(current_host: &str, new_host: &str) -> (bool, &'static str) {
    let c_str = |s: &str| -> String { s.split('\0').next().unwrap_or_default().to_string() };
    let (current, new) = (c_str(current_host), c_str(new_host));
    let Some(dot_pool) = current.find('.') else {
        return (false, "denied: current pool host without domain");
    };
    let Some(dot_new) = new.find('.') else {
        return (false, "denied: url without domain");
    };
    if current.get(dot_pool..) == new.get(dot_new..) {
        (true, "accepted: same domain after the first dot")
    } else {
        (false, "denied: non-matching domain")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Message {
        parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// A realistic Bitcoin `mining.notify` (about 1.1 KB): 12-deep merkle branch.
    pub(super) fn notify_line(params_first: bool, job: &str, clean: bool) -> String {
        let h = |seed: u8| -> String {
            (0..32)
                .map(|i| format!("{:02x}", seed.wrapping_mul(31).wrapping_add(i * 7)))
                .collect()
        };
        let branch: Vec<String> = (0..12).map(|i| format!("\"{}\"", h(i))).collect();
        let coinb1 = format!(
            "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d03ea2908{}",
            h(99)
        );
        let coinb2 = format!("ffffffff02{}{}00000000", h(100), h(101));
        let params = format!(
            "[\"{job}\",\"{}\",\"{coinb1}\",\"{coinb2}\",[{}],\"20000000\",\"17371ef4\",\"5b64647c\",{clean}]",
            h(7),
            branch.join(",")
        );
        if params_first {
            format!("{{\"params\":{params},\"id\":null,\"method\":\"mining.notify\"}}")
        } else {
            format!("{{\"id\":null,\"method\":\"mining.notify\",\"params\":{params}}}")
        }
    }

    const SUBMIT: &str = "{\"params\": [\"broatcast.worker1\", \"274d-13\", \"00000000\", \"5b64647c\", \"1a2b3c4d\"], \"id\": 5, \"method\": \"mining.submit\"}";
    const ACCEPTED: &str = "{\"id\":5,\"result\":true,\"error\":null}";
    const XMR_JOB: &str = "{\"jsonrpc\":\"2.0\",\"method\":\"job\",\"params\":{\"blob\":\"0707c5e0dfdc057c60c5dbdb26b716a880df1188dc87aac5d21a6a8230adcf679c2058fd7b807e000000004c1b72c6a361e3483a8e72880a933e4997f3a72bc32f5170d36cf33dd7ef5b2c07\",\"job_id\":\"RBcjBgxgczJeacglcqRSeg5DBP3k\",\"target\":\"b88d0600\"}}";

    /// Every line of the golden tests, for the cross-checks below.
    fn corpus() -> Vec<String> {
        let mut v: Vec<String> = [
            "{\"id\": 0, \"method\": \"mining.subscribe\", \"params\": [\"bfgminer/5.2.0\"]}",
            "{\"id\": 1, \"method\": \"mining.subscribe\", \"params\": [\"bfgminer/5.2.0\", \"1\"]}",
            "{\"id\": \"auth\", \"method\": \"mining.authorize\", \"params\": [\"broatcast\", \"123\"]}",
            "{\"id\":1,\"method\":\"login\",\"params\":{\"login\":\"46WNbmwXpYxiBpkbHjAgjC65cyzAxtaaBQjcGpAZquhBKw2r8NtPQniEgMJcwFMCZzSBrEJtmPsTR54MoGBDbjTi2W1XmgM\",\"pass\":\"donations\"}}",
            XMR_JOB,
            "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[\"stratum.evil-pool.example\",4444,0]}",
            "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[null,\"3334\",2]}",
            "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[]}",
            "{\"id\":null,\"method\":\"client.show_message\",\"params\":[\"Pool maintenance at 12:00 UTC\"]}",
            "{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"08000002\",4]}",
            "{\"id\": 2, \"method\": \"mining.configure\", \"params\": [[\"version-rolling\"], {\"version-rolling.mask\": \"ffffffff\", \"version-rolling.min-bit-count\": 2}]}",
            "{\"id\":1,\"method\":\"eth_submitLogin\",\"params\":[\"0xb85150eb365e7df0941f0cf08235f987ba91506a.rig1\",\"x\"],\"worker\":\"rig1\"}",
            "{\"method\":\"mining.set_difficulty\",\"params\":[4096],\"id\":1}",
            "{\"id\":3,\"method\":\"mining.extranonce.subscribe\",\"params\":[]}",
            "{\"id\":4,\"method\":\"mining.suggest_difficulty\",\"params\":[65536]}",
            "{\"id\":null,\"method\":\"mining.set_target\",\"params\":[\"0007ffff00000000000000000000000000000000000000000000000000000000\"]}",
            "{\"id\":null,\"method\":\"mining.set_version_mask\",\"params\":[\"1fffe000\"]}",
            "{\"id\":6,\"method\":\"client.get_version\",\"params\":[]}",
            "{\"id\":7,\"method\":\"mining.ping\",\"params\":[]}",
            "{\"params\": [\"274d-13\"], \"id\": \"txlist274d-13\", \"method\": \"mining.get_transactions\"}",
            SUBMIT,
            "{\"id\":3,\"jsonrpc\":\"2.0\",\"method\":\"submit\",\"params\":{\"id\":\"3dce749b-7604-4206-a591-c69d079baadb\",\"job_id\":\"RBcjBgxgczJeacglcqRSeg5DBP3k\",\"nonce\":\"a1b2c3d4\",\"result\":\"00ff\"}}",
            ACCEPTED,
            "{\"result\":true,\"error\":null,\"id\":\"auth\"}",
            "{\"id\":0,\"result\":null,\"error\":[20,\"Parse error\",null]}",
            "{\"result\":[[[\"mining.notify\",\"1\"],[\"mining.set_difficulty\",\"2\"]],\"00b61738\",4],\"error\":null,\"id\":0}",
            "{\"result\":false,\"error\":\"Job not found\",\"id\":7}",
            "{\"id\":1,\"jsonrpc\":\"2.0\",\"error\":null,\"result\":{\"id\":\"3dce749b\",\"job\":{\"blob\":\"0707\",\"job_id\":\"RBcj\",\"target\":\"b88d0600\"},\"status\":\"OK\"}}",
            "{\"id\":8,\"result\":12,\"error\":null}",
            "{\"id\":5,\"jsonrpc\":\"2.0\",\"method\":\"eth_getWork\",\"params\":[]}",
            "{\"id\":6,\"jsonrpc\":\"2.0\",\"method\":\"eth_submitHashrate\",\"params\":[\"0x0000000000000000000000000000000000000000000000000000000005f5e100\",\"0x59daa26581d0acd1fce254fb7e85952f4c09d0915afd33d3886cd914bc7d283c\"]}",
            "{\"id\":7,\"method\":\"Client.Reconnect\",\"params\":[\"x.pool.tld\",\"3333\",0]}",
            "{\"id\":1.5,\"result\":\"ok\",\"error\":null}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (pf, clean) in [(true, true), (false, false), (true, false), (false, true)] {
            v.push(notify_line(pf, "274f-3", clean));
        }
        v
    }

    #[test]
    fn client_requests() {
        assert_eq!(
            p("{\"id\": 0, \"method\": \"mining.subscribe\", \"params\": [\"bfgminer/5.2.0\"]}\n"),
            Message::Subscribe {
                id: Id::Num(0),
                agent: Some("bfgminer/5.2.0".into())
            }
        );
        assert_eq!(
            p("{\"id\": \"auth\", \"method\": \"mining.authorize\", \"params\": [\"broatcast\", \"123\"]}"),
            Message::Authorize {
                id: Id::Str("auth".into()),
                user: "broatcast".into(),
                has_password: true
            }
        );
        let no_pw =
            p("{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"fleetowner.s19-rack4-07\",\"\"]}");
        assert_eq!(
            no_pw,
            Message::Authorize {
                id: Id::Num(2),
                user: "fleetowner.s19-rack4-07".into(),
                has_password: false
            }
        );
        assert!(
            !format!(
                "{:?}",
                p("{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"u\",\"hunter2\"]}")
            )
            .contains("hunter2")
        );
        assert_eq!(
            p("{\"id\":1,\"method\":\"login\",\"params\":{\"login\":\"46WNbmwXpYxiBpkbHjAgjC65cyzAxtaaBQjcGpAZquhBKw2r8NtPQniEgMJcwFMCZzSBrEJtmPsTR54MoGBDbjTi2W1XmgM\",\"pass\":\"donations\"}}"),
            Message::Login {
                id: Id::Num(1),
                login: "46WNbmwXpYxiBpkbHjAgjC65cyzAxtaaBQjcGpAZquhBKw2r8NtPQniEgMJcwFMCZzSBrEJtmPsTR54MoGBDbjTi2W1XmgM".into(),
                agent: None,
                algo: vec![],
            }
        );
        assert_eq!(
            p(
                "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"login\",\"params\":{\"login\":\"4Awallet\",\"pass\":\"x\",\"agent\":\"xmr-stak-cpu/1.3.0\",\"algo\":[\"cn/r\",\"rx/0\"]}}"
            ),
            Message::Login {
                id: Id::Num(1),
                login: "4Awallet".into(),
                agent: Some("xmr-stak-cpu/1.3.0".into()),
                algo: vec!["cn/r".into(), "rx/0".into()],
            }
        );
        assert_eq!(
            p(
                "{\"id\":1,\"method\":\"eth_submitLogin\",\"params\":[\"0xb85150eb365e7df0941f0cf08235f987ba91506a.rig1\",\"x\"],\"worker\":\"rig1\"}"
            ),
            Message::EthSubmitLogin {
                id: Id::Num(1),
                user: "0xb85150eb365e7df0941f0cf08235f987ba91506a.rig1".into()
            }
        );
        assert_eq!(
            p(
                "{\"id\": 2, \"method\": \"mining.configure\", \"params\": [[\"version-rolling\"], {\"version-rolling.mask\": \"ffffffff\", \"version-rolling.min-bit-count\": 2}]}"
            ),
            Message::Configure {
                id: Id::Num(2),
                extensions: vec!["version-rolling".into()]
            }
        );
        assert_eq!(
            p(SUBMIT),
            Message::Submit {
                id: Id::Num(5),
                user: Some("broatcast.worker1".into()),
                job_id: Some("274d-13".into()),
            }
        );
        assert_eq!(
            p(
                "{\"id\":3,\"jsonrpc\":\"2.0\",\"method\":\"submit\",\"params\":{\"id\":\"3dce749b\",\"job_id\":\"RBcjBgxgczJeacglcqRSeg5DBP3k\",\"nonce\":\"a1b2c3d4\",\"result\":\"00ff\"}}"
            ),
            Message::Submit {
                id: Id::Num(3),
                user: None,
                job_id: Some("RBcjBgxgczJeacglcqRSeg5DBP3k".into())
            }
        );
        assert_eq!(
            p("{\"id\":3,\"method\":\"mining.extranonce.subscribe\",\"params\":[]}"),
            Message::ExtranonceSubscribe { id: Id::Num(3) }
        );
        assert_eq!(
            p("{\"id\":4,\"method\":\"mining.suggest_difficulty\",\"params\":[65536]}"),
            Message::SuggestDifficulty { id: Id::Num(4) }
        );
        assert_eq!(
            p(
                "{\"params\": [\"274d-13\"], \"id\": \"txlist274d-13\", \"method\": \"mining.get_transactions\"}"
            ),
            Message::OtherMethod {
                method: "mining.get_transactions".into()
            }
        );
        assert_eq!(
            p("{\"method\": \"getwork\", \"params\": [], \"id\":0}"),
            Message::OtherMethod {
                method: "getwork".into()
            }
        );
    }

    #[test]
    fn pool_pushes() {
        for (pf, clean) in [(true, true), (false, false)] {
            assert_eq!(
                p(&notify_line(pf, "274f-3", clean)),
                Message::Notify {
                    job_id: Some("274f-3".into()),
                    clean_jobs: Some(clean)
                }
            );
        }
        // Zcash: clean_jobs is the 8th parameter.
        assert_eq!(
            p(
                "{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"a1\",\"04000000\",\"00ab\",\"00cd\",\"0000\",\"5b64647c\",\"1d00ffff\",true]}"
            ),
            Message::Notify {
                job_id: Some("a1".into()),
                clean_jobs: Some(true)
            }
        );
        assert_eq!(
            p("{\"method\":\"mining.set_difficulty\",\"params\":[4096],\"id\":1}"),
            Message::SetDifficulty { difficulty: 4096.0 }
        );
        assert_eq!(
            p("{\"method\":\"mining.set_difficulty\",\"params\":[0.5]}"),
            Message::SetDifficulty { difficulty: 0.5 }
        );
        assert!(parse_line(b"{\"method\":\"mining.set_difficulty\",\"params\":[\"lots\"]}").is_err());
        assert_eq!(p(XMR_JOB), Message::Job);
        assert_eq!(
            p("{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"08000002\",4]}"),
            Message::SetExtranonce {
                extranonce1: "08000002".into(),
                size: Some(4)
            }
        );
        assert_eq!(
            p(
                "{\"id\":null,\"method\":\"client.show_message\",\"params\":[\"Pool maintenance at 12:00 UTC\"]}"
            ),
            Message::ShowMessage {
                text: "Pool maintenance at 12:00 UTC".into()
            }
        );
        assert_eq!(
            p("{\"id\":null,\"method\":\"mining.set_target\",\"params\":[\"0007ff\"]}"),
            Message::SetTarget
        );
        assert_eq!(
            p("{\"id\":null,\"method\":\"mining.set_version_mask\",\"params\":[\"1fffe000\"]}"),
            Message::SetVersionMask
        );
        assert_eq!(
            p("{\"id\":6,\"method\":\"client.get_version\",\"params\":[]}"),
            Message::GetVersion
        );
        assert_eq!(
            p("{\"id\":7,\"method\":\"mining.ping\",\"params\":[]}"),
            Message::Ping
        );
    }

    #[test]
    fn reconnect_variants() {
        let r = |host: Option<&str>, port, wait_s| Message::Reconnect {
            host: host.map(Into::into),
            port,
            wait_s,
        };
        for (line, want) in [
            (
                "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[\"stratum.evil-pool.example\",4444,0]}",
                r(Some("stratum.evil-pool.example"), Some(4444), Some(0)),
            ),
            (
                "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[null,\"3334\",2]}",
                r(None, Some(3334), Some(2)),
            ),
            (
                "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[]}",
                r(None, None, None),
            ),
            (
                "{\"id\":null,\"method\":\"client.reconnect\"}",
                r(None, None, None),
            ),
            (
                "{\"method\":\"client.reconnect\",\"params\":[\"us.pool.tld\"]}",
                r(Some("us.pool.tld"), None, None),
            ),
            (
                "{\"method\":\"client.reconnect\",\"params\":[\"10.0.0.9\",\"3333\",\"5\"]}",
                r(Some("10.0.0.9"), Some(3333), Some(5)),
            ),
            (
                "{\"method\":\"client.reconnect\",\"params\":[\"x.tld\",70000]}",
                r(Some("x.tld"), None, None),
            ),
            // What cgminer's strncasecmp also takes for a reconnect.
            (
                "{\"id\":null,\"method\":\"Client.Reconnect\",\"params\":[\"a.evil.example\",1]}",
                r(Some("a.evil.example"), Some(1), None),
            ),
            (
                "{\"id\":null,\"method\":\"client.reconnectX\",\"params\":[\"a.evil.example\",1]}",
                r(Some("a.evil.example"), Some(1), None),
            ),
            // An escaped method name, an escaped key, a duplicate key (last wins, as in
            // jansson), a nested "method" before the real one.
            (
                "{\"id\":null,\"method\":\"client.reconnec\\u0074\",\"params\":[\"a.evil.example\",1]}",
                r(Some("a.evil.example"), Some(1), None),
            ),
            (
                "{\"id\":null,\"m\\u0065thod\":\"client.reconnect\",\"params\":[\"a.evil.example\",1]}",
                r(Some("a.evil.example"), Some(1), None),
            ),
            (
                "{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"a.evil.example\",1],\"method\":\"client.reconnect\"}",
                r(Some("a.evil.example"), Some(1), None),
            ),
            (
                "{\"params\":[{\"method\":\"mining.notify\"}],\"id\":null,\"method\":\"client.reconnect\"}",
                r(None, None, None),
            ),
        ] {
            assert_eq!(p(line), want, "{line}");
        }
    }

    #[test]
    fn responses() {
        assert_eq!(
            p(ACCEPTED),
            Message::Response {
                id: Id::Num(5),
                result: ResultKind::True,
                error: None
            }
        );
        assert_eq!(
            p("{\"result\":true,\"error\":null,\"id\":\"auth\"}"),
            Message::Response {
                id: Id::Str("auth".into()),
                result: ResultKind::True,
                error: None
            }
        );
        assert_eq!(
            p("{\"id\":0,\"result\":null,\"error\":[20,\"Parse error\",null]}"),
            Message::Response {
                id: Id::Num(0),
                result: ResultKind::Null,
                error: Some("20: Parse error".into())
            }
        );
        assert_eq!(
            p("{\"id\":9,\"result\":null,\"error\":{\"code\":-1,\"message\":\"Unauthenticated\"}}"),
            Message::Response {
                id: Id::Num(9),
                result: ResultKind::Null,
                error: Some("-1: Unauthenticated".into())
            }
        );
        assert_eq!(
            p("{\"result\":false,\"error\":\"Job not found\",\"id\":7}"),
            Message::Response {
                id: Id::Num(7),
                result: ResultKind::False,
                error: Some("Job not found".into())
            }
        );
        assert_eq!(
            p(
                "{\"result\":[[[\"mining.notify\",\"1\"],[\"mining.set_difficulty\",\"2\"]],\"00b61738\",4],\"error\":null,\"id\":0}"
            ),
            Message::Response {
                id: Id::Num(0),
                result: ResultKind::Other,
                error: None
            }
        );
        assert_eq!(
            p("{\"id\":1.5,\"result\":\"ok\",\"error\":null}"),
            Message::Response {
                id: Id::Str("1.5".into()),
                result: ResultKind::Other,
                error: None
            }
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b""[..],
            b"{",
            b"}",
            b"not json",
            b"[1,2]",
            b"{\"id\":1}",
            b"{\"id\": 0, \"method\": \"mining.subsc",
            b"b\",true],\"id\":1}",
            b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"\xff\xfe\"]}",
            b"{\"id\":1,\"method\":7}",
            b"{\"id\":1 \"result\":true}",
            b"{\"method\":\"client.reconnect\",\"params\":[\"a.b\"]} trailing}",
        ] {
            assert!(parse_line(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let huge = format!(
            "{{\"id\":1,\"method\":\"x\",\"params\":[\"{}\"]}}",
            "a".repeat(MAX_LINE)
        );
        assert_eq!(
            parse_line(huge.as_bytes()),
            Err(ProtoError::TooLarge { what: "stratum line" })
        );
        // Deep nesting inside a raw value is skipped without recursion (serde_json keeps an
        // explicit stack); inside params we read, its recursion limit applies.
        let deep = format!(
            "{{\"id\":1,\"result\":{}1{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            parse_line(deep.as_bytes()),
            Ok(Message::Response {
                result: ResultKind::Other,
                ..
            })
        ));
        let deep = format!(
            "{{\"id\":1,\"method\":\"mining.configure\",\"params\":[{}1{}]}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            parse_line(deep.as_bytes()),
            Ok(Message::Configure { .. })
        ));
    }

    #[test]
    fn mutations_never_panic() {
        for line in corpus() {
            let b = line.as_bytes();
            for n in 0..=b.len() {
                let _ = parse_line(&b[..n]);
                let _ = parse_line(&b[n..]);
            }
            for i in 0..b.len() {
                for v in [b'"', b'\\', b'{', b']', b',', b':', 0xff] {
                    let mut m = b.to_vec();
                    m[i] = v;
                    let _ = parse_line(&m);
                }
            }
        }
    }

    /// The fast path, when it answers, agrees with serde_json on every golden line.
    #[test]
    fn fast_path_agrees_with_serde() {
        let mut fast_hits = 0;
        for line in corpus() {
            let b = line.as_bytes();
            if let Some(f) = fast::classify(b) {
                fast_hits += 1;
                assert_eq!(Ok(f), slow::classify(b), "{line}");
            }
        }
        // notify ×4, submit, set_target, set_version_mask, job, and the flat responses.
        assert!(fast_hits >= 12, "{fast_hits}");
        for hot in [SUBMIT, ACCEPTED, XMR_JOB, &notify_line(true, "1", true)] {
            assert!(fast::classify(hot.as_bytes()).is_some(), "{hot}");
        }
    }

    #[test]
    fn stream_sniffing() {
        assert!(looks_like_stratum(
            b"  \r\n{\"id\": 0, \"method\": \"mining.subscribe\""
        ));
        assert!(looks_like_stratum(b"{\"params\":[\"274f-3\""));
        assert!(looks_like_stratum(b"{\"jsonrpc\":\"2.0\",\"method\":\"job\""));
        assert!(!looks_like_stratum(b"POST / HTTP/1.1\r\n"));
        assert!(!looks_like_stratum(b"\x16\x03\x01\x01\x0c"));
        assert!(!looks_like_stratum(b"{\"command\":\"summary\"}"));
        assert!(!looks_like_stratum(b""));
    }

    #[test]
    fn cgminer_reconnect_rule() {
        assert_eq!(
            cgminer_accepts_reconnect("eu.pool.tld", "us.pool.tld"),
            (true, "accepted: same domain after the first dot")
        );
        assert_eq!(
            cgminer_accepts_reconnect("stratum.antpool.com", "stratum.evil-pool.example"),
            (false, "denied: non-matching domain")
        );
        assert_eq!(
            cgminer_accepts_reconnect("stratum.antpool.com", "203.0.113.7"),
            (false, "denied: non-matching domain")
        );
        assert_eq!(
            cgminer_accepts_reconnect("stratum.antpool.com", "localhost"),
            (false, "denied: url without domain")
        );
        assert_eq!(
            cgminer_accepts_reconnect("stratum.antpool.com", ""),
            (false, "denied: url without domain")
        );
        assert_eq!(
            cgminer_accepts_reconnect("poolhost", "a.poolhost"),
            (false, "denied: current pool host without domain")
        );
        // strcmp is case-sensitive; only the first dot counts.
        assert!(!cgminer_accepts_reconnect("eu.pool.tld", "us.POOL.tld").0);
        assert!(!cgminer_accepts_reconnect("eu.pool.tld", "us.west.pool.tld").0);
        // Between IP literals, the code compares what follows the first octet.
        assert!(cgminer_accepts_reconnect("10.0.0.5", "192.0.0.5").0);
        assert!(!cgminer_accepts_reconnect("10.0.0.5", "10.0.0.6").0);
        // Read up to the first NUL, like the C strings.
        assert!(cgminer_accepts_reconnect("eu.pool.tld", "us.pool.tld\0.evil").0);
    }

    /// Every complete line in the Stratum payloads of the shared captures parses.
    #[test]
    fn shared_captures_stratum() {
        let Some(dir) = crate::shared_traffic_dir() else {
            return;
        };
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        for file in [
            "bitcoin-mining.pcap",
            "coinhive-stratum.pcap",
            "bitcoin-mining-in-progress.pcap",
        ] {
            for (proto, sp, dp, b) in crate::proto::tests_support::payloads(&dir.join(file)) {
                if proto != 6 || (sp != 3333 && dp != 3333) || !looks_like_stratum(&b) {
                    continue;
                }
                for line in b.split(|c| *c == b'\n') {
                    let t = line.trim_ascii();
                    if t.first() != Some(&b'{') || t.last() != Some(&b'}') {
                        continue; // split across segments
                    }
                    let m = parse_line(t)
                        .unwrap_or_else(|e| panic!("{file}: {e}: {}", String::from_utf8_lossy(t)));
                    let name = format!("{m:?}");
                    *seen
                        .entry(name.split([' ', '{']).next().unwrap().to_string())
                        .or_default() += 1;
                }
            }
        }
        for k in [
            "Subscribe",
            "Authorize",
            "Login",
            "Job",
            "Notify",
            "SetDifficulty",
            "Response",
            "OtherMethod",
        ] {
            assert!(seen.contains_key(k), "{k} missing: {seen:?}");
        }
    }

    /// Release-mode throughput: `cargo test --release -p hashward-traffic --lib proto --
    /// --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark"]
    fn throughput() {
        fn run(name: &str, lines: &[String]) -> f64 {
            run_with(name, lines, &|b| parse_line(b).is_ok())
        }
        /// Best of 5 runs of about 64 MB each (the build machine is shared and noisy).
        fn run_with(name: &str, lines: &[String], f: &dyn Fn(&[u8]) -> bool) -> f64 {
            let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
            let rounds = (64 << 20) / bytes.max(1) + 1;
            let mut best = f64::MAX;
            for _ in 0..5 {
                let start = std::time::Instant::now();
                let mut n = 0usize;
                for _ in 0..rounds {
                    for l in lines {
                        if f(std::hint::black_box(l.as_bytes())) {
                            n += 1;
                        }
                    }
                }
                assert_eq!(n, rounds * lines.len(), "{name}: every line parses");
                best = best.min(start.elapsed().as_secs_f64());
            }
            let gbps = (bytes * rounds) as f64 / best / 1e9;
            let ns = best * 1e9 / (lines.len() * rounds) as f64;
            println!(
                "{name:<30} {gbps:6.2} GB/s {ns:7.1} ns/line ({} B/line)",
                bytes / lines.len()
            );
            gbps
        }
        let notify_pf: Vec<String> = (0..64)
            .map(|i| notify_line(true, &format!("{i:x}-3"), i % 2 == 0))
            .collect();
        let notify_mf: Vec<String> = (0..64)
            .map(|i| notify_line(false, &format!("{i:x}-3"), i % 2 == 0))
            .collect();
        let submit: Vec<String> = (0..64)
            .map(|i| SUBMIT.replace("\"id\": 5", &format!("\"id\": {i}")))
            .collect();
        let accepted: Vec<String> = (0..64)
            .map(|i| ACCEPTED.replace(":5,", &format!(":{i},")))
            .collect();
        let job: Vec<String> = vec![XMR_JOB.to_string(); 64];
        let a = run("notify (params first)", &notify_pf);
        let b = run("notify (method first)", &notify_mf);
        run("mining.submit", &submit);
        run("response true", &accepted);
        run("xmr job", &job);
        let mut mix = notify_pf.clone();
        for i in 0..64 {
            mix.push(submit[i].clone());
            mix.push(accepted[i].clone());
        }
        run("mix 1 notify:1 submit:1 ok", &mix);
        run("slow: golden corpus", &corpus());
        run_with("flat() only: submit", &submit, &|b| fast::flat(b).is_some());
        run_with("flat() only: response", &accepted, &|b| fast::flat(b).is_some());
        run_with("baseline: memchr '\\' only", &submit, &|b| {
            memchr(b'\\', b).is_none()
        });
        run_with("baseline: serde_json Value", &submit, &|b| {
            serde_json::from_slice::<serde_json::Value>(b).is_ok()
        });
        assert!(a > 0.0 && b > 0.0);
    }
}
