//! Zeek log reader: conn, dns, ssl and http logs in Zeek's TSV form (header block with
//! `#separator`, `#fields`, …) or as JSON lines, optionally gzip-compressed, into typed records.
//!
//! A malformed row never fails the file: it becomes a [`RowError`] naming the line and field, and
//! the rest of the file is read. [`read`] fails only when the input is not a Zeek log at all.
//! Memory stays bounded by the input: rows are parsed from slices of it, a line longer than
//! [`MAX_LINE_BYTES`] is rejected without being parsed, gzip output is capped at
//! [`MAX_DECOMPRESSED_BYTES`] and at most [`MAX_ROW_ERRORS`] row errors are kept.
//!
//! The field set follows what RITA v5 imports (`activecm/rita` `importer/zeektypes/*.go`), see
//! `shared/research/traffic.md` §1.1.

use std::borrow::Cow;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest line (header or row) the reader parses; longer lines become a [`RowError`].
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Most bytes a gzip-compressed log may expand to.
pub const MAX_DECOMPRESSED_BYTES: usize = 1 << 30;
/// Most row errors kept in [`ZeekLog::errors`]; the rest are only counted.
pub const MAX_ROW_ERRORS: usize = 1_000;
/// Most columns a `#fields` header may declare.
const MAX_FIELDS: usize = 4_096;
/// Timestamps beyond ±10^11 s (year ≈ 5138) are rejected so microseconds never overflow.
const MAX_ABS_TS_SECONDS: i64 = 100_000_000_000;

/// Why a whole input could not be read as a Zeek log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZeekError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input is neither a Zeek TSV log (starting with a `#` header) nor JSON lines.
    #[error("not a Zeek log: {reason}")]
    NotALog {
        /// What was found instead.
        reason: String,
    },
    /// The gzip stream could not be decoded at all.
    #[error("gzip stream unreadable: {0}")]
    Gzip(String),
    /// The log (decompressed, when gzip) is larger than [`MAX_DECOMPRESSED_BYTES`].
    #[error("log larger than {limit} bytes (decompressed)")]
    TooLarge {
        /// The limit that was hit.
        limit: usize,
    },
}

/// Which Zeek log a file (or a JSON row with `_path`) holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// `conn.log`: one record per connection.
    Conn,
    /// `dns.log`: one record per DNS transaction.
    Dns,
    /// `ssl.log`: one record per TLS session.
    Ssl,
    /// `http.log`: one record per HTTP request.
    Http,
    /// Any other log; rows are counted but not kept. Holds the `#path` (or `_path`, or
    /// `"unknown"`).
    Other(String),
}

impl LogKind {
    fn from_path(path: &str) -> LogKind {
        match path {
            "conn" => LogKind::Conn,
            "dns" => LogKind::Dns,
            "ssl" => LogKind::Ssl,
            "http" => LogKind::Http,
            other => LogKind::Other(other.to_string()),
        }
    }

    /// Guess from the field names present (RITA-style logs carry these distinctive fields).
    fn from_fields(mut has: impl FnMut(&str) -> bool) -> Option<LogKind> {
        if has("conn_state") || has("orig_ip_bytes") || has("history") {
            Some(LogKind::Conn)
        } else if has("qtype_name") || has("rcode_name") || (has("query") && has("answers")) {
            Some(LogKind::Dns)
        } else if has("server_name") || has("ja3") || has("cipher") {
            Some(LogKind::Ssl)
        } else if has("method") || has("user_agent") || has("status_code") {
            Some(LogKind::Http)
        } else {
            None
        }
    }

    /// Guess from a file name such as `conn.log`, `ssl.00:00:00-01:00:00.log.gz`.
    fn from_name(name: &str) -> Option<LogKind> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let stem = base.split(['.', '_', '-']).next().unwrap_or(base);
        match stem {
            "conn" => Some(LogKind::Conn),
            "dns" => Some(LogKind::Dns),
            "ssl" | "tls" => Some(LogKind::Ssl),
            "http" => Some(LogKind::Http),
            _ => None,
        }
    }
}

/// One row that could not be read; the rest of the file still is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// 1-based line number in the (decompressed) log; 0 for problems not tied to a line.
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: field {field}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A `conn.log` record: one connection (TCP, UDP or ICMP flow).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnRecord {
    /// Line it came from (0 for records built from other sources, e.g. pcap flows).
    pub line: u64,
    /// Time of the first packet, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// Zeek's connection id, the join key with the protocol logs (may be empty).
    pub uid: String,
    /// Originator address and port (`id.orig_h`, `id.orig_p`; ICMP type for ICMP).
    pub orig: SocketAddr,
    /// Responder address and port (`id.resp_h`, `id.resp_p`; ICMP code for ICMP).
    pub resp: SocketAddr,
    /// Transport: `tcp`, `udp`, `icmp` (empty when unset).
    pub proto: String,
    /// Application protocols Zeek recognised, comma-separated (`http,ssl`).
    pub service: Option<String>,
    /// Connection duration in seconds.
    pub duration_s: Option<f64>,
    /// Payload bytes sent by the originator.
    pub orig_bytes: Option<u64>,
    /// Payload bytes sent by the responder.
    pub resp_bytes: Option<u64>,
    /// Zeek connection state (`SF`, `S0`, `REJ`, …).
    pub conn_state: Option<String>,
    /// Bytes missed in content gaps.
    pub missed_bytes: Option<u64>,
    /// Zeek state history string (`ShADadFf`).
    pub history: Option<String>,
    /// Packets sent by the originator.
    pub orig_pkts: Option<u64>,
    /// IP-level bytes sent by the originator (headers included) — RITA's data-size input.
    pub orig_ip_bytes: Option<u64>,
    /// Packets sent by the responder.
    pub resp_pkts: Option<u64>,
    /// IP-level bytes sent by the responder.
    pub resp_ip_bytes: Option<u64>,
    /// Originator MAC address, when logged.
    pub orig_l2_addr: Option<String>,
    /// Responder MAC address, when logged.
    pub resp_l2_addr: Option<String>,
}

/// A `dns.log` record: one DNS transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsRecord {
    /// Line it came from.
    pub line: u64,
    /// Time of the query, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// Zeek's connection id.
    pub uid: String,
    /// Client address and port.
    pub orig: SocketAddr,
    /// Server address and port.
    pub resp: SocketAddr,
    /// Transport (`udp`, `tcp`).
    pub proto: String,
    /// Queried name.
    pub query: Option<String>,
    /// Query type name (`A`, `AAAA`, `TXT`, …).
    pub qtype_name: Option<String>,
    /// Response code name (`NOERROR`, `NXDOMAIN`, …).
    pub rcode_name: Option<String>,
    /// Answers (addresses, names, TXT strings), in log order.
    pub answers: Vec<String>,
}

/// An `ssl.log` record: one TLS session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SslRecord {
    /// Line it came from.
    pub line: u64,
    /// Time of the session start, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// Zeek's connection id.
    pub uid: String,
    /// Client address and port.
    pub orig: SocketAddr,
    /// Server address and port.
    pub resp: SocketAddr,
    /// Negotiated version (`TLSv13`).
    pub version: Option<String>,
    /// SNI from the ClientHello.
    pub server_name: Option<String>,
    /// Whether the handshake completed.
    pub established: Option<bool>,
    /// JA3 client fingerprint (Zeek `ja3` package).
    pub ja3: Option<String>,
    /// JA4 client fingerprint (Zeek `ja4` package).
    pub ja4: Option<String>,
}

/// An `http.log` record: one HTTP request/response pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpRecord {
    /// Line it came from.
    pub line: u64,
    /// Time of the request, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// Zeek's connection id.
    pub uid: String,
    /// Client address and port.
    pub orig: SocketAddr,
    /// Server (or proxy) address and port.
    pub resp: SocketAddr,
    /// Request method (`GET`, `POST`, `CONNECT`, …).
    pub method: Option<String>,
    /// `Host` header (for `CONNECT`, the proxied-to name).
    pub host: Option<String>,
    /// Request target.
    pub uri: Option<String>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
    /// Response status code.
    pub status_code: Option<u16>,
}

/// Everything read from one log file.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ZeekLog {
    /// The file's kind (from `#path`, else the fields, else the name hint); JSON rows with their
    /// own `_path` are sorted by that instead.
    pub kind: LogKind,
    /// conn records.
    pub conns: Vec<ConnRecord>,
    /// dns records.
    pub dns: Vec<DnsRecord>,
    /// ssl records.
    pub ssl: Vec<SslRecord>,
    /// http records.
    pub http: Vec<HttpRecord>,
    /// Rows that could not be read (the first [`MAX_ROW_ERRORS`]).
    pub errors: Vec<RowError>,
    /// Row errors beyond [`MAX_ROW_ERRORS`], counted but not kept.
    pub errors_dropped: u64,
    /// Data rows seen (read or not), header lines excluded.
    pub rows: u64,
}

impl Default for LogKind {
    fn default() -> Self {
        LogKind::Other("unknown".to_string())
    }
}

impl ZeekLog {
    fn push_error(&mut self, e: RowError) {
        if self.errors.len() < MAX_ROW_ERRORS {
            self.errors.push(e);
        } else {
            self.errors_dropped += 1;
        }
    }
}

/// Reads a file with [`read`], using its name as the kind hint.
pub fn read_path(path: &Path) -> Result<ZeekLog, ZeekError> {
    let io = |source| ZeekError::Io {
        path: path.to_path_buf(),
        source,
    };
    // The log is read whole: refuse one larger than a decompressed log may be, before reading.
    if std::fs::metadata(path).map_err(io)?.len() > MAX_DECOMPRESSED_BYTES as u64 {
        return Err(ZeekError::TooLarge {
            limit: MAX_DECOMPRESSED_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    read(&bytes, name.as_deref())
}

/// Reads one Zeek log (TSV or JSON lines, plain or gzip). `name_hint` (a file name) decides the
/// kind when neither `#path` nor the fields do. Fails only when the input is not a Zeek log;
/// row problems are reported in [`ZeekLog::errors`].
pub fn read(bytes: &[u8], name_hint: Option<&str>) -> Result<ZeekLog, ZeekError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let limit = MAX_DECOMPRESSED_BYTES as u64 + 1;
        let mut decoder = flate2::read::MultiGzDecoder::new(bytes).take(limit);
        let result = decoder.read_to_end(&mut out);
        if out.len() > MAX_DECOMPRESSED_BYTES {
            return Err(ZeekError::TooLarge {
                limit: MAX_DECOMPRESSED_BYTES,
            });
        }
        let hint = name_hint.map(|n| n.strip_suffix(".gz").unwrap_or(n));
        return match result {
            Ok(_) => read_plain(&out, hint),
            // A log still being written is often cut mid-stream: keep what decoded.
            Err(e) if !out.is_empty() => {
                let mut log = read_plain(&out, hint)?;
                log.push_error(RowError {
                    line: 0,
                    field: None,
                    message: format!("gzip stream truncated: {e}"),
                });
                Ok(log)
            }
            Err(e) => Err(ZeekError::Gzip(e.to_string())),
        };
    }
    read_plain(bytes, name_hint)
}

fn read_plain(bytes: &[u8], name_hint: Option<&str>) -> Result<ZeekLog, ZeekError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'#') => read_tsv(body, name_hint),
        Some(b'{') => read_json(body, name_hint),
        Some(_) => Err(ZeekError::NotALog {
            reason: "no `#` header block and not JSON lines (header-less TSV is not accepted: \
                     field names are unknown)"
                .to_string(),
        }),
        None => Err(ZeekError::NotALog {
            reason: "empty input".to_string(),
        }),
    }
}

/// Yields `(1-based line number, line without `\r\n`)`.
fn lines(body: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut start = 0usize;
    let mut number = 0u64;
    std::iter::from_fn(move || {
        if start >= body.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i);
        let mut line = &body[start..end];
        start = end + 1;
        number += 1;
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        Some((number, line))
    })
}

fn too_long(line: u64, len: usize) -> RowError {
    RowError {
        line,
        field: None,
        message: format!("line is {len} bytes, longer than the {MAX_LINE_BYTES}-byte limit"),
    }
}

// ---------------------------------------------------------------------------------------------
// TSV

/// Header state of the current TSV block.
struct TsvHeader {
    separator: Vec<u8>,
    set_separator: Vec<u8>,
    empty: Vec<u8>,
    unset: Vec<u8>,
    path: Option<String>,
    fields: Option<HashMap<String, usize>>,
    field_count: usize,
    kind: Option<LogKind>,
}

impl Default for TsvHeader {
    fn default() -> Self {
        TsvHeader {
            separator: b"\t".to_vec(),
            set_separator: b",".to_vec(),
            empty: b"(empty)".to_vec(),
            unset: b"-".to_vec(),
            path: None,
            fields: None,
            field_count: 0,
            kind: None,
        }
    }
}

/// Decodes Zeek's `\xHH` escapes (and `\\`) into bytes.
fn unescape(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'\\', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            if raw.get(i + 1) == Some(&b'x') {
                let hex = raw.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            } else if raw.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn text(raw: &[u8]) -> Cow<'_, str> {
    match unescape(raw) {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

/// Splits `line` on `sep` (a non-empty byte string) into `out`, stopping after `limit + 1`
/// pieces so an absurd line cannot allocate more than the header allows.
fn split_into<'a>(line: &'a [u8], sep: &[u8], limit: usize, out: &mut Vec<&'a [u8]>) {
    out.clear();
    if sep.is_empty() {
        out.push(line);
        return;
    }
    let mut rest = line;
    loop {
        if out.len() > limit {
            return;
        }
        let at = if sep.len() == 1 {
            memchr::memchr(sep[0], rest)
        } else {
            memchr::memmem::find(rest, sep)
        };
        match at {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + sep.len()..];
            }
            None => {
                out.push(rest);
                return;
            }
        }
    }
}

fn read_tsv(body: &[u8], name_hint: Option<&str>) -> Result<ZeekLog, ZeekError> {
    let mut log = ZeekLog::default();
    let mut header = TsvHeader::default();
    let mut saw_fields = false;
    let mut file_kind: Option<LogKind> = None;
    let mut cols: Vec<&[u8]> = Vec::new();

    for (number, line) in lines(body) {
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            if line[0] != b'#' {
                log.rows += 1;
            }
            log.push_error(too_long(number, line.len()));
            continue;
        }
        if line[0] == b'#' {
            tsv_directive(line, number, &mut header, &mut log, name_hint);
            if header.fields.is_some() {
                saw_fields = true;
                if file_kind.is_none() {
                    file_kind = header.kind.clone();
                }
            }
            continue;
        }
        log.rows += 1;
        let (Some(index), Some(kind)) = (&header.fields, &header.kind) else {
            log.push_error(RowError {
                line: number,
                field: None,
                message: "data row before any #fields header".to_string(),
            });
            continue;
        };
        split_into(line, &header.separator, header.field_count, &mut cols);
        if cols.len() != header.field_count {
            let found = if cols.len() > header.field_count {
                "more".to_string()
            } else {
                cols.len().to_string()
            };
            log.push_error(RowError {
                line: number,
                field: None,
                message: format!("expected {} columns, found {found}", header.field_count),
            });
            continue;
        }
        let row = TsvRow {
            cols: &cols,
            index,
            header: &header,
        };
        push_record(&mut log, kind, &row, number);
    }
    if !saw_fields {
        return Err(ZeekError::NotALog {
            reason: "no #fields header line".to_string(),
        });
    }
    log.kind = file_kind.unwrap_or_default();
    Ok(log)
}

fn tsv_directive(
    line: &[u8],
    number: u64,
    header: &mut TsvHeader,
    log: &mut ZeekLog,
    name_hint: Option<&str>,
) {
    // `#separator` is followed by a space and an escaped value; the others by the separator.
    if let Some(value) = line.strip_prefix(b"#separator ") {
        let sep = unescape(value).into_owned();
        if sep.is_empty() {
            log.push_error(RowError {
                line: number,
                field: Some("#separator".to_string()),
                message: "empty separator".to_string(),
            });
        } else {
            header.separator = sep;
        }
        return;
    }
    let mut parts = Vec::new();
    split_into(line, &header.separator, MAX_FIELDS, &mut parts);
    let name = parts.first().copied().unwrap_or_default();
    let value = || parts.get(1).map(|v| unescape(v).into_owned()).unwrap_or_default();
    match name {
        b"#set_separator" => header.set_separator = value(),
        b"#empty_field" => header.empty = value(),
        b"#unset_field" => header.unset = value(),
        b"#path" => header.path = Some(String::from_utf8_lossy(&value()).into_owned()),
        b"#fields" => {
            if parts.len() > MAX_FIELDS {
                log.push_error(RowError {
                    line: number,
                    field: Some("#fields".to_string()),
                    message: format!("more than {MAX_FIELDS} fields"),
                });
                header.fields = None;
                header.kind = None;
                return;
            }
            let mut index = HashMap::new();
            for (i, f) in parts[1..].iter().enumerate() {
                index.insert(String::from_utf8_lossy(f).into_owned(), i);
            }
            header.field_count = parts.len() - 1;
            let kind = header
                .path
                .as_deref()
                .map(LogKind::from_path)
                .or_else(|| LogKind::from_fields(|f| index.contains_key(f)))
                .or_else(|| name_hint.and_then(LogKind::from_name))
                .unwrap_or_default();
            header.kind = Some(kind);
            header.fields = Some(index);
        }
        // A new block starts with #separator; #close ends one. Forget the path so the next
        // block's kind is decided afresh.
        b"#close" => header.path = None,
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// JSON lines

fn read_json(body: &[u8], name_hint: Option<&str>) -> Result<ZeekLog, ZeekError> {
    let mut log = ZeekLog::default();
    let mut file_kind: Option<LogKind> = None;
    let mut valid = 0u64;
    for (number, line) in lines(body) {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        log.rows += 1;
        if trimmed.len() > MAX_LINE_BYTES {
            log.push_error(too_long(number, trimmed.len()));
            continue;
        }
        let map: Map<String, Value> = match serde_json::from_slice(trimmed) {
            Ok(m) => m,
            Err(e) => {
                log.push_error(RowError {
                    line: number,
                    field: None,
                    message: format!("not a JSON object: {e}"),
                });
                continue;
            }
        };
        valid += 1;
        let row = JsonRow { map: &map };
        let kind = match map.get("_path").and_then(Value::as_str) {
            Some(p) => LogKind::from_path(p),
            None => file_kind
                .get_or_insert_with(|| {
                    LogKind::from_fields(|f| row.has(f))
                        .or_else(|| name_hint.and_then(LogKind::from_name))
                        .unwrap_or_default()
                })
                .clone(),
        };
        if file_kind.is_none() {
            file_kind = Some(kind.clone());
        }
        push_record(&mut log, &kind, &row, number);
    }
    if valid == 0 {
        return Err(ZeekError::NotALog {
            reason: "no line is a JSON object".to_string(),
        });
    }
    log.kind = file_kind.unwrap_or_default();
    Ok(log)
}

// ---------------------------------------------------------------------------------------------
// Field access common to both forms

/// A field value as found in a row.
enum Raw<'a> {
    /// Unset (`-` in TSV, `null` in JSON).
    Unset,
    /// Text (already unescaped).
    Text(Cow<'a, str>),
    /// A non-string JSON value.
    Json(&'a Value),
}

trait Row {
    /// The field's value, `None` when the log has no such field.
    fn raw(&self, key: &str) -> Option<Raw<'_>>;
    /// A set/vector field's elements, `None` when absent or unset.
    fn list(&self, key: &str) -> Result<Option<Vec<String>>, String>;
}

struct TsvRow<'a> {
    cols: &'a [&'a [u8]],
    index: &'a HashMap<String, usize>,
    header: &'a TsvHeader,
}

impl TsvRow<'_> {
    fn cell(&self, key: &str) -> Option<&[u8]> {
        self.index.get(key).and_then(|&i| self.cols.get(i).copied())
    }
}

impl Row for TsvRow<'_> {
    fn raw(&self, key: &str) -> Option<Raw<'_>> {
        let cell = self.cell(key)?;
        Some(if cell == self.header.unset.as_slice() {
            Raw::Unset
        } else if cell == self.header.empty.as_slice() {
            Raw::Text(Cow::Borrowed(""))
        } else {
            Raw::Text(text(cell))
        })
    }

    fn list(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        let Some(cell) = self.cell(key) else {
            return Ok(None);
        };
        if cell == self.header.unset.as_slice() {
            return Ok(None);
        }
        if cell == self.header.empty.as_slice() {
            return Ok(Some(Vec::new()));
        }
        let mut parts = Vec::new();
        split_into(cell, &self.header.set_separator, usize::MAX - 1, &mut parts);
        Ok(Some(parts.iter().map(|p| text(p).into_owned()).collect()))
    }
}

struct JsonRow<'a> {
    map: &'a Map<String, Value>,
}

impl JsonRow<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        if let Some(v) = self.map.get(key) {
            return Some(v);
        }
        // Some exporters nest `{"id": {"orig_h": …}}` instead of Zeek's flat `id.orig_h`.
        let (outer, inner) = key.split_once('.')?;
        self.map.get(outer)?.as_object()?.get(inner)
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl Row for JsonRow<'_> {
    fn raw(&self, key: &str) -> Option<Raw<'_>> {
        Some(match self.get(key)? {
            Value::Null => Raw::Unset,
            Value::String(s) => Raw::Text(Cow::Borrowed(s)),
            other => Raw::Json(other),
        })
    }

    fn list(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(
                items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
            )),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(_) => Err("expected a list of strings".to_string()),
        }
    }
}

/// Typed getters; each error names the field.
struct Fields<'r, R: Row> {
    row: &'r R,
    line: u64,
}

impl<R: Row> Fields<'_, R> {
    fn err(&self, key: &str, message: impl Into<String>) -> RowError {
        RowError {
            line: self.line,
            field: Some(key.to_string()),
            message: message.into(),
        }
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T, RowError> {
        v.ok_or_else(|| self.err(key, "missing or unset"))
    }

    fn string(&self, key: &str) -> Result<Option<String>, RowError> {
        match self.row.raw(key) {
            None | Some(Raw::Unset) => Ok(None),
            Some(Raw::Text(t)) => Ok(Some(t.into_owned())),
            Some(Raw::Json(v @ (Value::Number(_) | Value::Bool(_)))) => Ok(Some(v.to_string())),
            Some(Raw::Json(_)) => Err(self.err(key, "expected a string")),
        }
    }

    fn count(&self, key: &str) -> Result<Option<u64>, RowError> {
        match self.row.raw(key) {
            None | Some(Raw::Unset) => Ok(None),
            Some(Raw::Text(t)) => t
                .parse::<u64>()
                .map(Some)
                .map_err(|_| self.err(key, format!("not a count: {:?}", clip(&t)))),
            Some(Raw::Json(v)) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("not a count: {}", clip(&v.to_string())))),
        }
    }

    fn interval(&self, key: &str) -> Result<Option<f64>, RowError> {
        let v = match self.row.raw(key) {
            None | Some(Raw::Unset) => return Ok(None),
            Some(Raw::Text(t)) => t.parse::<f64>().ok(),
            Some(Raw::Json(v)) => v.as_f64(),
        };
        match v {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(self.err(key, "not a finite number of seconds")),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, RowError> {
        match self.row.raw(key) {
            None | Some(Raw::Unset) => Ok(None),
            Some(Raw::Text(t)) => match t.as_ref() {
                "T" | "true" => Ok(Some(true)),
                "F" | "false" => Ok(Some(false)),
                other => Err(self.err(key, format!("not a bool: {:?}", clip(other)))),
            },
            Some(Raw::Json(Value::Bool(b))) => Ok(Some(*b)),
            Some(Raw::Json(_)) => Err(self.err(key, "not a bool")),
        }
    }

    fn addr(&self, key: &str) -> Result<IpAddr, RowError> {
        match self.row.raw(key) {
            Some(Raw::Text(t)) => t
                .parse::<IpAddr>()
                .map_err(|_| self.err(key, format!("not an IP address: {:?}", clip(&t)))),
            Some(Raw::Json(_)) => Err(self.err(key, "not an IP address")),
            None | Some(Raw::Unset) => Err(self.err(key, "missing or unset")),
        }
    }

    fn port(&self, key: &str) -> Result<u16, RowError> {
        let v = self.required(key, self.count(key)?)?;
        u16::try_from(v).map_err(|_| self.err(key, format!("port {v} out of range")))
    }

    fn ts(&self, key: &str) -> Result<i64, RowError> {
        let us = match self.row.raw(key) {
            None | Some(Raw::Unset) => return Err(self.err(key, "missing or unset")),
            Some(Raw::Text(t)) => parse_ts_text(&t),
            Some(Raw::Json(v)) => v.as_f64().and_then(seconds_f64_to_us),
        };
        us.ok_or_else(|| self.err(key, "not a timestamp (epoch seconds or ISO-8601)"))
    }

    fn list(&self, key: &str) -> Result<Vec<String>, RowError> {
        self.row
            .list(key)
            .map(Option::unwrap_or_default)
            .map_err(|m| self.err(key, m))
    }

    /// `ts`, `uid`, and the four `id.*` fields every record has.
    fn ids(&self) -> Result<(i64, String, SocketAddr, SocketAddr), RowError> {
        let ts = self.ts("ts")?;
        let uid = self.string("uid")?.unwrap_or_default();
        let orig = SocketAddr::new(self.addr("id.orig_h")?, self.port("id.orig_p")?);
        let resp = SocketAddr::new(self.addr("id.resp_h")?, self.port("id.resp_p")?);
        Ok((ts, uid, orig, resp))
    }
}

/// At most 64 characters of a bad value, for error messages.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

fn seconds_f64_to_us(s: f64) -> Option<i64> {
    if !s.is_finite() || s.abs() > MAX_ABS_TS_SECONDS as f64 {
        return None;
    }
    // Bounded above, so the cast cannot saturate.
    Some((s * 1e6).round() as i64)
}

/// Epoch seconds with up to microsecond decimals (parsed exactly, not through f64), or an
/// RFC 3339 / ISO-8601 date-time.
fn parse_ts_text(t: &str) -> Option<i64> {
    let t = t.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let numeric = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if numeric {
        if int.len() > 12 {
            return None;
        }
        let secs: i64 = int.parse().ok()?;
        if secs > MAX_ABS_TS_SECONDS {
            return None;
        }
        let mut micros: i64 = 0;
        for (i, b) in frac.bytes().take(6).enumerate() {
            micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        let us = secs * 1_000_000 + micros;
        return Some(if neg { -us } else { us });
    }
    if let Ok(x) = t.parse::<f64>() {
        return seconds_f64_to_us(x);
    }
    let dt = chrono::DateTime::parse_from_rfc3339(t)
        .or_else(|_| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()?;
    let us = dt.timestamp_micros();
    (us.abs() <= MAX_ABS_TS_SECONDS * 1_000_000).then_some(us)
}

fn push_record<R: Row>(log: &mut ZeekLog, kind: &LogKind, row: &R, line: u64) {
    let f = Fields { row, line };
    let result = match kind {
        LogKind::Conn => conn_record(&f).map(|r| log.conns.push(r)),
        LogKind::Dns => dns_record(&f).map(|r| log.dns.push(r)),
        LogKind::Ssl => ssl_record(&f).map(|r| log.ssl.push(r)),
        LogKind::Http => http_record(&f).map(|r| log.http.push(r)),
        LogKind::Other(_) => Ok(()),
    };
    if let Err(e) = result {
        log.push_error(e);
    }
}

fn conn_record<R: Row>(f: &Fields<'_, R>) -> Result<ConnRecord, RowError> {
    let (ts_us, uid, orig, resp) = f.ids()?;
    Ok(ConnRecord {
        line: f.line,
        ts_us,
        uid,
        orig,
        resp,
        proto: f.string("proto")?.unwrap_or_default(),
        service: f.string("service")?,
        duration_s: f.interval("duration")?,
        orig_bytes: f.count("orig_bytes")?,
        resp_bytes: f.count("resp_bytes")?,
        conn_state: f.string("conn_state")?,
        missed_bytes: f.count("missed_bytes")?,
        history: f.string("history")?,
        orig_pkts: f.count("orig_pkts")?,
        orig_ip_bytes: f.count("orig_ip_bytes")?,
        resp_pkts: f.count("resp_pkts")?,
        resp_ip_bytes: f.count("resp_ip_bytes")?,
        orig_l2_addr: f.string("orig_l2_addr")?,
        resp_l2_addr: f.string("resp_l2_addr")?,
    })
}

fn dns_record<R: Row>(f: &Fields<'_, R>) -> Result<DnsRecord, RowError> {
    let (ts_us, uid, orig, resp) = f.ids()?;
    Ok(DnsRecord {
        line: f.line,
        ts_us,
        uid,
        orig,
        resp,
        proto: f.string("proto")?.unwrap_or_default(),
        query: f.string("query")?,
        qtype_name: f.string("qtype_name")?,
        rcode_name: f.string("rcode_name")?,
        answers: f.list("answers")?,
    })
}

fn ssl_record<R: Row>(f: &Fields<'_, R>) -> Result<SslRecord, RowError> {
    let (ts_us, uid, orig, resp) = f.ids()?;
    Ok(SslRecord {
        line: f.line,
        ts_us,
        uid,
        orig,
        resp,
        version: f.string("version")?,
        server_name: f.string("server_name")?,
        established: f.boolean("established")?,
        ja3: f.string("ja3")?,
        ja4: f.string("ja4")?,
    })
}

fn http_record<R: Row>(f: &Fields<'_, R>) -> Result<HttpRecord, RowError> {
    let (ts_us, uid, orig, resp) = f.ids()?;
    let status_code = match f.count("status_code")? {
        None => None,
        Some(v) => Some(u16::try_from(v).map_err(|_| f.err("status_code", format!("{v} out of range")))?),
    };
    Ok(HttpRecord {
        line: f.line,
        ts_us,
        uid,
        orig,
        resp,
        method: f.string("method")?,
        host: f.string("host")?,
        uri: f.string("uri")?,
        user_agent: f.string("user_agent")?,
        status_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONN_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n\
#unset_field\t-\n#path\tconn\n#open\t2023-01-05-18-51-06\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t\
orig_bytes\tresp_bytes\tconn_state\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\t\
resp_pkts\tresp_ip_bytes\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\t\
count\tstring\tcount\tcount\tcount\tcount\n";

    fn conn_row(ts: &str, orig: &str, rest: &str) -> String {
        format!("{ts}\tCuid1\t{orig}\t5000\t198.51.100.7\t3333\ttcp\t{rest}\n")
    }

    #[test]
    fn tsv_conn_with_unset_and_empty_fields() {
        let mut log = CONN_HEADER.to_string();
        log += &conn_row(
            "1672843056.913119",
            "10.0.0.2",
            "-\t0.084044\t1030\t20275\tSF\t0\tShADadFf\t18\t1974\t14\t21011",
        );
        log += &conn_row(
            "1672843057.5",
            "10.0.0.3",
            "(empty)\t-\t-\t-\tS0\t0\tS\t1\t60\t0\t0",
        );
        log += "#close\t2023-01-05-18-51-06\n";
        let z = read(log.as_bytes(), None).unwrap();
        assert_eq!(z.kind, LogKind::Conn);
        assert_eq!(z.rows, 2);
        assert!(z.errors.is_empty(), "{:?}", z.errors);
        let a = &z.conns[0];
        assert_eq!(a.ts_us, 1_672_843_056_913_119);
        assert_eq!(a.uid, "Cuid1");
        assert_eq!(a.orig, "10.0.0.2:5000".parse().unwrap());
        assert_eq!(a.resp, "198.51.100.7:3333".parse().unwrap());
        assert_eq!(a.service, None);
        assert_eq!(a.duration_s, Some(0.084044));
        assert_eq!(a.orig_ip_bytes, Some(1974));
        assert_eq!(a.conn_state.as_deref(), Some("SF"));
        let b = &z.conns[1];
        assert_eq!(b.ts_us, 1_672_843_057_500_000);
        assert_eq!(b.service.as_deref(), Some(""));
        assert_eq!(b.duration_s, None);
        assert_eq!(b.orig_bytes, None);
        assert_eq!(b.resp_pkts, Some(0));
    }

    #[test]
    fn tsv_dns_set_field_and_escapes() {
        let log = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
#path\tdns\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\t\
qtype_name\trcode_name\tanswers\n\
1.0\tC1\t10.0.0.2\t5353\t10.0.0.1\t53\tudp\tpool.example.com\tA\tNOERROR\t1.2.3.4,5.6.7.8\n\
2.0\tC2\t10.0.0.2\t5353\t10.0.0.1\t53\tudp\ta\\x09b\\x2cc.example\tTXT\tNXDOMAIN\t(empty)\n\
3.0\tC3\t10.0.0.2\t5353\t10.0.0.1\t53\tudp\tx.example\tA\t-\t-\n";
        let z = read(log.as_bytes(), Some("whatever.log")).unwrap();
        assert_eq!(z.kind, LogKind::Dns);
        assert!(z.errors.is_empty(), "{:?}", z.errors);
        assert_eq!(z.dns[0].answers, vec!["1.2.3.4", "5.6.7.8"]);
        assert_eq!(z.dns[0].qtype_name.as_deref(), Some("A"));
        assert_eq!(z.dns[1].query.as_deref(), Some("a\tb,c.example"));
        assert!(z.dns[1].answers.is_empty());
        assert_eq!(z.dns[2].rcode_name, None);
        assert!(z.dns[2].answers.is_empty());
    }

    #[test]
    fn json_lines_with_float_and_iso_timestamps() {
        let log = r#"{"ts":1672845160.567292,"uid":"CQv","id.orig_h":"10.136.0.18","id.orig_p":42024,"id.resp_h":"10.136.0.16","id.resp_p":3128,"method":"CONNECT","host":"www.example.com","uri":"www.example.com:443","user_agent":"x","status_code":200}
{"ts":"2023-01-04T14:37:36.913119Z","uid":"CQw","id.orig_h":"2001:db8::1","id.orig_p":1,"id.resp_h":"2001:db8::2","id.resp_p":80,"method":"GET","host":null}

{"ts":"1672845161.25","uid":"CQx","id":{"orig_h":"10.0.0.1","orig_p":2,"resp_h":"10.0.0.9","resp_p":80}}
"#;
        let z = read(log.as_bytes(), None).unwrap();
        assert_eq!(z.kind, LogKind::Http);
        assert!(z.errors.is_empty(), "{:?}", z.errors);
        assert_eq!(z.rows, 3);
        assert_eq!(z.http[0].ts_us, 1_672_845_160_567_292);
        assert_eq!(z.http[0].status_code, Some(200));
        assert_eq!(z.http[0].host.as_deref(), Some("www.example.com"));
        assert_eq!(z.http[1].ts_us, 1_672_843_056_913_119);
        assert_eq!(z.http[1].host, None);
        assert_eq!(z.http[1].orig.ip(), "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(z.http[2].ts_us, 1_672_845_161_250_000);
        assert_eq!(z.http[2].resp.port(), 80);
    }

    #[test]
    fn json_rows_follow_their_own_path() {
        let log = r#"{"_path":"ssl","ts":1,"uid":"A","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":443,"server_name":"pool.example","established":true,"ja4":"t13d"}
{"_path":"conn","ts":2,"uid":"A","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":443,"proto":"tcp","orig_ip_bytes":100}
{"_path":"weird","ts":3}
"#;
        let z = read(log.as_bytes(), None).unwrap();
        assert_eq!(z.kind, LogKind::Ssl);
        assert_eq!(z.ssl.len(), 1);
        assert_eq!(z.ssl[0].established, Some(true));
        assert_eq!(z.ssl[0].ja4.as_deref(), Some("t13d"));
        assert_eq!(z.conns.len(), 1);
        assert_eq!(z.conns[0].orig_ip_bytes, Some(100));
        assert_eq!(z.rows, 3);
        assert!(z.errors.is_empty());
    }

    #[test]
    fn gzip_log_is_read() {
        use std::io::Write;
        let mut log = CONN_HEADER.to_string();
        log += &conn_row("10", "10.0.0.2", "-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(log.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let z = read(&gz, Some("conn.log.gz")).unwrap();
        assert_eq!(z.conns.len(), 1);
        assert_eq!(z.conns[0].ts_us, 10_000_000);

        // Cut mid-stream: what decoded is kept, the truncation is reported.
        let mut big = CONN_HEADER.to_string();
        for i in 0..2000 {
            big += &conn_row(&i.to_string(), "10.0.0.2", "-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        }
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        enc.write_all(big.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let z = read(&gz[..gz.len() / 2], None).unwrap();
        assert!(!z.conns.is_empty() && z.conns.len() < 2000);
        assert!(z.errors.iter().any(|e| e.message.contains("gzip")));

        assert!(matches!(read(&[0x1f, 0x8b, 0, 0], None), Err(ZeekError::Gzip(_))));
    }

    #[test]
    fn bad_rows_are_reported_and_skipped() {
        let mut log = CONN_HEADER.to_string();
        // The header is 8 lines; rows start at line 9.
        log += &conn_row("1", "10.0.0.999", "-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        log += &conn_row("2", "10.0.0.2", "-\t1\t1\t1\tSF\t0\tS\tmany\t60\t1\t60");
        log += "3\tCx\t10.0.0.2\t5000\n";
        log += &conn_row("4", "10.0.0.2", "-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        log += &conn_row("abc", "10.0.0.2", "-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        log += "5\tCuid1\t10.0.0.2\t70000\t198.51.100.7\t3333\ttcp\t-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60\n";
        log += &conn_row("6", "10.0.0.2", "-\tNaN\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        let z = read(log.as_bytes(), None).unwrap();
        assert_eq!(z.rows, 7);
        assert_eq!(z.conns.len(), 1);
        assert_eq!(z.conns[0].ts_us, 4_000_000);
        let got: Vec<(u64, Option<&str>)> = z.errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                (9, Some("id.orig_h")),
                (10, Some("orig_pkts")),
                (11, None),
                (13, Some("ts")),
                (14, Some("id.orig_p")),
                (15, Some("duration")),
            ]
        );
        assert!(z.errors[2].message.contains("expected 18 columns, found 4"));
    }

    #[test]
    fn not_a_log_is_an_error() {
        assert!(matches!(read(b"", None), Err(ZeekError::NotALog { .. })));
        assert!(matches!(
            read(b"\x89PNG\r\n\x1a\n....", None),
            Err(ZeekError::NotALog { .. })
        ));
        assert!(matches!(
            read(b"{not json}\n[1,2]\n", None),
            Err(ZeekError::NotALog { .. })
        ));
        assert!(matches!(
            read(b"# just a comment\n#another\n", None),
            Err(ZeekError::NotALog { .. })
        ));
    }

    #[test]
    fn headerless_tsv_is_an_error() {
        let row = conn_row("1", "10.0.0.2", "-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        assert!(matches!(
            read(row.as_bytes(), Some("conn.log")),
            Err(ZeekError::NotALog { .. })
        ));
    }

    #[test]
    fn huge_line_is_rejected_without_parsing() {
        let mut log = CONN_HEADER.to_string();
        log += &"x\t".repeat(5 << 20); // a 10 MiB row
        log.push('\n');
        log += &conn_row("7", "10.0.0.2", "-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        let z = read(log.as_bytes(), None).unwrap();
        assert_eq!(z.conns.len(), 1);
        assert_eq!(z.errors.len(), 1);
        assert!(z.errors[0].message.contains("longer than"));

        let mut json = String::from("{\"ts\":1,\"big\":\"");
        json += &"a".repeat(10 << 20);
        json += "\"}\n{\"ts\":2,\"uid\":\"u\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":1,\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":2,\"conn_state\":\"SF\"}\n";
        let z = read(json.as_bytes(), None).unwrap();
        assert_eq!(z.conns.len(), 1);
        assert_eq!(z.errors.len(), 1);
    }

    #[test]
    fn multiple_header_blocks_and_kind_sources() {
        let mut log = CONN_HEADER.to_string();
        log += &conn_row("1", "10.0.0.2", "-\t1\t1\t1\tSF\t0\tS\t1\t60\t1\t60");
        log += "#close\t2023\n";
        // Second block: different field order, no #path; kind comes from the fields.
        log += "#separator \\x09\n#fields\tuid\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tconn_state\n";
        log += "Cb\t2\t10.0.0.3\t1\t10.0.0.4\t2\tREJ\n";
        let z = read(log.as_bytes(), None).unwrap();
        assert_eq!(z.conns.len(), 2);
        assert_eq!(z.conns[1].uid, "Cb");
        assert_eq!(z.conns[1].conn_state.as_deref(), Some("REJ"));

        // Neither #path nor telling fields: the name decides.
        let log =
            "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\n1\tC\t10.0.0.1\t1\t10.0.0.2\t2\n";
        let z = read(log.as_bytes(), Some("/logs/ssl.12:00:00-13:00:00.log")).unwrap();
        assert_eq!(z.kind, LogKind::Ssl);
        assert_eq!(z.ssl.len(), 1);
        let z = read(log.as_bytes(), None).unwrap();
        assert_eq!(z.kind, LogKind::Other("unknown".to_string()));
        assert_eq!(z.rows, 1);
    }

    #[test]
    fn row_errors_are_capped() {
        let mut log = CONN_HEADER.to_string();
        for _ in 0..(MAX_ROW_ERRORS + 10) {
            log += "bad\n";
        }
        let z = read(log.as_bytes(), None).unwrap();
        assert_eq!(z.errors.len(), MAX_ROW_ERRORS);
        assert_eq!(z.errors_dropped, 10);
    }

    #[test]
    fn mutated_logs_never_panic() {
        let mut base = CONN_HEADER.to_string();
        for i in 0..20 {
            base += &conn_row(
                &format!("{i}.5"),
                "10.0.0.2",
                "http\t1.5\t1\t1\tSF\t0\tS\t1\t60\t1\t60",
            );
        }
        base += "{\"ts\":\"2023-01-04T14:37:36Z\",\"id.orig_h\":\"::1\"}\n";
        let base = base.into_bytes();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"\t\n#-,.\\x0{}\":9(empty)T\xff";
        for _ in 0..2_000 {
            let mut data = base.clone();
            for _ in 0..(next() % 8 + 1) {
                if data.is_empty() {
                    break;
                }
                let at = (next() as usize) % data.len();
                match next() % 3 {
                    0 => data[at] = alphabet[(next() as usize) % alphabet.len()],
                    1 => {
                        data.remove(at);
                    }
                    _ => data.truncate(at.max(1)),
                }
            }
            if next() % 4 == 0 && !data.is_empty() {
                let start = (next() as usize) % data.len();
                data.drain(..start);
            }
            if let Ok(log) = read(&data, None) {
                let pairs = crate::beacon::pairs_from_zeek(&log.conns, &log.ssl, &log.http, 10);
                let _ = pairs.score_all(&crate::beacon::BeaconConfig::default());
            }
        }
    }

    #[test]
    fn timestamp_parsing() {
        assert_eq!(parse_ts_text("1.5"), Some(1_500_000));
        assert_eq!(parse_ts_text("-1.5"), Some(-1_500_000));
        assert_eq!(parse_ts_text("1672843056.9131199"), Some(1_672_843_056_913_119));
        assert_eq!(parse_ts_text("99999999999999999999"), None);
        assert_eq!(parse_ts_text("1e3"), Some(1_000_000_000));
        assert_eq!(
            parse_ts_text("2023-01-04T14:37:36+00:00"),
            Some(1_672_843_056_000_000)
        );
        assert_eq!(parse_ts_text("inf"), None);
        assert_eq!(parse_ts_text(""), None);
    }

    #[test]
    fn rita_golden_logs_read_cleanly() {
        let Some(dir) = crate::shared_traffic_dir() else {
            eprintln!("shared test data not found; skipping");
            return;
        };
        let dir = dir.join("rita-golden-zeek-logs");
        let conn = read_path(&dir.join("conn.log")).unwrap();
        let ssl = read_path(&dir.join("ssl.log")).unwrap();
        let http = read_path(&dir.join("http.log")).unwrap();
        let dns = read_path(&dir.join("dns.log")).unwrap();
        for (log, kind) in [
            (&conn, LogKind::Conn),
            (&ssl, LogKind::Ssl),
            (&http, LogKind::Http),
            (&dns, LogKind::Dns),
        ] {
            assert_eq!(log.kind, kind);
            assert!(log.errors.is_empty(), "{kind:?}: {:?}", &log.errors[..1]);
        }
        assert_eq!(conn.conns.len() as u64, conn.rows);
        assert_eq!(http.http.len(), 407);
        assert!(
            ssl.ssl
                .iter()
                .any(|s| s.server_name.as_deref() == Some("www.honestimnotevil.com"))
        );
        assert!(dns.dns.iter().any(|d| !d.answers.is_empty()));
    }
}
