//! Just enough HTTP/1.1 to read a miner's web interface: one request per connection, bounded.
//!
//! Miners' web servers (lighttpd, uhttpd, busybox httpd, vendor daemons) answer simple
//! `Connection: close` requests; hashward never follows redirects (a `Location` could point
//! outside the targets) and reads at most the caller's byte budget. The response head is
//! parsed with `httparse`; bodies may be sized by `Content-Length`, chunked, or end at close.

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body (POST), sent with `Content-Type: application/json`.
    pub body: Option<String>,
}

impl Request {
    /// A GET.
    pub fn get(path: &str) -> Request {
        Request {
            method: "GET",
            path: path.to_string(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// The bytes to send to `host`.
    pub fn encode(&self, host: &str) -> Vec<u8> {
        let mut s = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hashward/{}\r\nAccept: */*\r\nConnection: close\r\n",
            self.method,
            self.path,
            env!("CARGO_PKG_VERSION")
        );
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = &self.body {
            s.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ));
        } else {
            s.push_str("\r\n");
        }
        s.into_bytes()
    }

    /// How the request is shown in evidence (credentials masked).
    pub fn display(&self) -> String {
        let mut s = format!("{} {}", self.method, self.path);
        for (k, _) in &self.headers {
            if k.eq_ignore_ascii_case("authorization") {
                s.push_str(" (with Authorization)");
            }
        }
        if self.body.is_some() {
            s.push_str(" (with body)");
        }
        s
    }
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why bytes are not an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The head is not HTTP.
    #[error("not an HTTP response: {0}")]
    NotHttp(String),
    /// A chunk header or length that does not parse.
    #[error("bad body framing: {0}")]
    Framing(&'static str),
    /// The connection closed before the response was complete.
    #[error("response truncated")]
    Truncated,
}

const MAX_HEADERS: usize = 64;

/// Parse `buf`. `closed` says the peer closed the connection (no more bytes will come).
/// `Ok(None)` means more bytes are needed.
pub fn parse(buf: &[u8], closed: bool) -> Result<Option<Response>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if closed {
                if buf.is_empty() || !buf.starts_with(b"HTTP/") {
                    Err(HttpError::NotHttp(preview(buf)))
                } else {
                    Err(HttpError::Truncated)
                }
            } else if !buf.is_empty() && !b"HTTP/".starts_with(&buf[..buf.len().min(5)]) {
                // Not even the start of a status line: fail early instead of waiting.
                Err(HttpError::NotHttp(preview(buf)))
            } else {
                Ok(None)
            };
        }
        Err(e) => return Err(HttpError::NotHttp(format!("{e}: {}", preview(buf)))),
    };
    let status = resp.code.unwrap_or(0);
    let hdrs: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let find = |n: &str| {
        hdrs.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    let rest = &buf[head_len..];
    let body = if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        match dechunk(rest)? {
            Some(b) => b,
            None if closed => return Err(HttpError::Truncated),
            None => return Ok(None),
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .trim()
            .parse()
            .map_err(|_| HttpError::Framing("Content-Length is not a number"))?;
        if rest.len() >= len {
            rest[..len].to_vec()
        } else if closed {
            return Err(HttpError::Truncated);
        } else {
            return Ok(None);
        }
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if closed {
        rest.to_vec()
    } else {
        return Ok(None);
    };
    Ok(Some(Response {
        status,
        headers: hdrs,
        body,
    }))
}

/// De-chunk a body; `None` until the last chunk has arrived.
fn dechunk(mut b: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&b[..eol]).map_err(|_| HttpError::Framing("chunk size"))?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| HttpError::Framing("chunk size"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if b.len() < size.saturating_add(2) {
            return Ok(None);
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

fn preview(buf: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(&buf[..buf.len().min(40)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_bodies() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"antMiner Configuration\", nonce=\"abc\", qop=\"auth\"\r\nContent-Length: 5\r\n\r\nhello";
        let r = parse(raw, false).unwrap().unwrap();
        assert_eq!(r.status, 401);
        assert!(r.header("www-authenticate").unwrap().contains("antMiner"));
        assert_eq!(r.body, b"hello");
        assert_eq!(parse(&raw[..raw.len() - 1], false), Ok(None));
        assert_eq!(parse(&raw[..raw.len() - 1], true), Err(HttpError::Truncated));
    }

    #[test]
    fn chunked_and_close_delimited_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        assert_eq!(parse(raw, false).unwrap().unwrap().body, b"hello world");
        assert_eq!(parse(&raw[..40], false), Ok(None));
        let raw = b"HTTP/1.0 307 Temporary Redirect\r\nLocation: https://10.0.0.1/\r\n\r\n<a href=\"/cgi-bin/luci\">";
        assert_eq!(parse(raw, false), Ok(None));
        let r = parse(raw, true).unwrap().unwrap();
        assert_eq!(r.header("Location"), Some("https://10.0.0.1/"));
        assert!(r.text().contains("luci"));
    }

    #[test]
    fn non_http_is_refused_early() {
        assert!(matches!(
            parse(b"STATUS=S,When=1|", false),
            Err(HttpError::NotHttp(_))
        ));
        assert!(matches!(
            parse(b"SSH-2.0-x\r\n", false),
            Err(HttpError::NotHttp(_))
        ));
        assert_eq!(parse(b"HTT", false), Ok(None));
        assert!(matches!(parse(b"", true), Err(HttpError::NotHttp(_))));
        assert!(matches!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                false
            ),
            Err(HttpError::Framing(_))
        ));
    }

    #[test]
    fn requests_are_well_formed_and_mask_credentials() {
        let mut r = Request::get("/cgi-bin/get_system_info.cgi");
        r.headers.push(("Authorization".into(), "Digest secret".into()));
        let bytes = String::from_utf8(r.encode("10.0.0.9")).unwrap();
        assert!(bytes.starts_with("GET /cgi-bin/get_system_info.cgi HTTP/1.1\r\nHost: 10.0.0.9\r\n"));
        assert!(bytes.ends_with("\r\n\r\n"));
        assert!(!r.display().contains("secret"));
    }
}
