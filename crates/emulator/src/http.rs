//! A tiny HTTP/1.1 server side: bounded request parsing, responses, and the RFC 2617/7616 MD5 digest check.

use crate::crypto::md5_hex;

/// Largest request (head and body) accepted; past it the connection is closed.
pub(crate) const MAX_REQUEST: usize = 64 * 1024;
/// Most header lines accepted.
const MAX_HEADERS: usize = 100;

/// A parsed request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The request target as sent (path and query).
    pub(crate) target: String,
    /// Header names lower-cased, in order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query string.
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// `METHOD /path` for the request log.
    pub(crate) fn line(&self) -> String {
        format!("{} {}", self.method, self.path())
    }

    /// The bearer (or bare) token of `Authorization`, if any.
    pub(crate) fn token(&self) -> Option<&str> {
        let v = self.header("authorization")?.trim();
        Some(v.strip_prefix("Bearer ").unwrap_or(v).trim())
    }

    /// A cookie's value.
    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.header("cookie")?.split(';').find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
    }
}

/// What parsing the bytes so far gives.
#[derive(Debug)]
pub(crate) enum Parse {
    /// Need more bytes.
    Partial,
    /// A whole request.
    Done(Request),
    /// Not HTTP, or over the limits: answer 400 (or close).
    Bad(&'static str),
}

/// Parse a request from `buf` (which holds everything received so far).
pub(crate) fn parse(buf: &[u8]) -> Parse {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() >= MAX_REQUEST {
            return Parse::Bad("request head too large");
        }
        // A client that sends a request line without CRLF and then waits is not speaking HTTP.
        if buf.len() >= 8
            && !buf
                .iter()
                .take(16)
                .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\r' || *b == b'\n')
        {
            return Parse::Bad("not HTTP");
        }
        return Parse::Partial;
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Parse::Bad("head is not UTF-8");
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Parse::Bad("bad request line");
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Parse::Bad("bad request line");
    }
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() >= MAX_HEADERS {
            return Parse::Bad("too many headers");
        }
        let Some((n, v)) = line.split_once(':') else {
            return Parse::Bad("bad header line");
        };
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut req = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: Vec::new(),
    };
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => match v.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Parse::Bad("bad content-length"),
        },
    };
    if req.header("transfer-encoding").is_some() {
        return Parse::Bad("chunked bodies are not accepted");
    }
    let body_start = end + 4;
    if body_start.saturating_add(len) > MAX_REQUEST {
        return Parse::Bad("body too large");
    }
    if buf.len() < body_start + len {
        return Parse::Partial;
    }
    req.body = buf[body_start..body_start + len].to_vec();
    Parse::Done(req)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A response to serialise.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body: body.into(),
        }
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status, "application/json", value.to_string())
    }

    pub(crate) fn html(status: u16, body: &str) -> Response {
        Response::new(status, "text/html; charset=utf-8", body)
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn not_found() -> Response {
        Response::html(
            404,
            "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>",
        )
    }

    /// Status line, headers (with `Content-Length` and `Connection: close`) and body.
    pub(crate) fn to_bytes(&self, server: &str) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        if !server.is_empty() {
            out.push_str(&format!("Server: {server}\r\n"));
        }
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Unknown",
    }
}

/// Split `k=v, k2="v 2"` (a digest challenge or credentials) into pairs.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            value = r[..end].to_owned();
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((key, value));
        if out.len() > 32 {
            break;
        }
    }
    out
}

/// A digest challenge: `WWW-Authenticate` value.
pub(crate) fn digest_challenge(realm: &str, nonce: &str) -> String {
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\"")
}

/// Check `Authorization: Digest …` (MD5; qop=auth or the RFC 2069 form) against user and password.
pub(crate) fn digest_ok(req: &Request, realm: &str, nonce: &str, user: &str, password: &str) -> bool {
    let Some(auth) = req.header("authorization") else {
        return false;
    };
    let Some(rest) = auth.trim().strip_prefix("Digest ") else {
        return false;
    };
    let p = auth_params(rest);
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(u), Some(r), Some(n), Some(uri), Some(resp)) = (
        get("username"),
        get("realm"),
        get("nonce"),
        get("uri"),
        get("response"),
    ) else {
        return false;
    };
    if u != user || r != realm || n != nonce {
        return false;
    }
    if let Some(alg) = get("algorithm")
        && !alg.eq_ignore_ascii_case("MD5")
    {
        return false;
    }
    // The uri in the credentials must be the request's own target (RFC 7616 §3.4.6).
    if uri != req.target {
        return false;
    }
    let ha1 = md5_hex(format!("{user}:{realm}:{password}").as_bytes());
    let ha2 = md5_hex(format!("{}:{uri}", req.method).as_bytes());
    let expected = match get("qop") {
        Some("auth") => {
            let (Some(nc), Some(cnonce)) = (get("nc"), get("cnonce")) else {
                return false;
            };
            md5_hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}").as_bytes())
        }
        Some(_) => return false,
        None => md5_hex(format!("{ha1}:{nonce}:{ha2}").as_bytes()),
    };
    expected.eq_ignore_ascii_case(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(bytes: &[u8]) -> Request {
        match parse(bytes) {
            Parse::Done(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_head_and_body() {
        let r = req(b"POST /api/v1/unlock HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd");
        assert_eq!(r.method, "POST");
        assert_eq!(r.path(), "/api/v1/unlock");
        assert_eq!(r.body, b"abcd");
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab"),
            Parse::Partial
        ));
        assert!(matches!(parse(b"GET / HTTP/1.1\r\n"), Parse::Partial));
        assert!(matches!(
            parse(b"{\"command\":\"version\"}\r\n\r\n"),
            Parse::Bad(_)
        ));
        assert!(matches!(
            parse(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            Parse::Bad(_)
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n"),
            Parse::Bad(_)
        ));
    }

    #[test]
    fn digest_rfc2617_example() {
        // The worked example of RFC 2617 §3.5.
        let r = req(b"GET /dir/index.html HTTP/1.1\r\nAuthorization: Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n\r\n");
        assert!(digest_ok(
            &r,
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "Mufasa",
            "Circle Of Life"
        ));
        assert!(!digest_ok(
            &r,
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "Mufasa",
            "circle of life"
        ));
        assert!(!digest_ok(
            &r,
            "other",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "Mufasa",
            "Circle Of Life"
        ));
    }
}
