//! HTTP/1.x request and response heads (httparse): the fields mining detection needs —
//! getwork/getblocktemplate `POST`s with `X-Mining-Extensions`, `X-Stratum` redirects, user
//! agents, and the authorization *scheme* (credentials are never kept).

use super::{ProtoError, lossy};

/// Most headers read from one head; more is [`ProtoError::TooLarge`].
pub const MAX_HEADERS: usize = 64;
/// Longest head we wait for; an incomplete head this long is [`ProtoError::TooLarge`].
pub const MAX_HEAD: usize = 64 * 1024;
/// Header values and paths are cut to this many bytes.
const MAX_VALUE: usize = 512;

const METHODS: &[&[u8]] = &[
    b"CONNECT", b"DELETE", b"GET", b"HEAD", b"OPTIONS", b"PATCH", b"POST", b"PUT", b"TRACE",
];

/// True when `b` starts with a known HTTP method token followed by a space.
pub fn looks_like_request(b: &[u8]) -> bool {
    METHODS
        .iter()
        .any(|m| b.strip_prefix(*m).is_some_and(|rest| rest.first() == Some(&b' ')))
}

/// An HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method token.
    pub method: String,
    /// The request target (at most 512 bytes).
    pub path: String,
    /// The `Host` header.
    pub host: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The scheme of the `Authorization` header ("Basic", "Bearer", …), never the credentials.
    pub authorization_scheme: Option<String>,
    /// The `X-Mining-Extensions` header (getwork miners: "longpoll midstate rollntime …").
    pub mining_extensions: Option<String>,
    /// The `Content-Length` header, when it is a number.
    pub content_length: Option<u64>,
    /// Bytes of the head, including the blank line; the body starts here.
    pub header_len: usize,
}

/// Parses the request head at the start of `data`. Ok(None) = incomplete.
pub fn request(data: &[u8]) -> Result<Option<HttpRequest>, ProtoError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let header_len = match req.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return incomplete(data),
        Err(e) => return Err(map_err(e)),
    };
    let mut out = HttpRequest {
        method: req.method.unwrap_or_default().to_string(),
        path: super::truncate_str(req.path.unwrap_or_default(), MAX_VALUE),
        host: None,
        user_agent: None,
        authorization_scheme: None,
        mining_extensions: None,
        content_length: None,
        header_len,
    };
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            out.host.get_or_insert_with(|| value(h.value));
        } else if name.eq_ignore_ascii_case("user-agent") {
            out.user_agent.get_or_insert_with(|| value(h.value));
        } else if name.eq_ignore_ascii_case("authorization") {
            let scheme = h
                .value
                .split(|b| b.is_ascii_whitespace())
                .find(|t| !t.is_empty())
                .unwrap_or_default();
            out.authorization_scheme.get_or_insert_with(|| lossy(scheme, 32));
        } else if name.eq_ignore_ascii_case("x-mining-extensions") {
            out.mining_extensions.get_or_insert_with(|| value(h.value));
        } else if name.eq_ignore_ascii_case("content-length") {
            out.content_length = out.content_length.or_else(|| number(h.value));
        }
    }
    Ok(Some(out))
}

/// An HTTP response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `X-Stratum` header: a getwork server pointing its client at a Stratum URL
    /// (ET sid 2017960).
    pub x_stratum: Option<String>,
    /// The `Server` header.
    pub server: Option<String>,
    /// The `Content-Length` header, when it is a number.
    pub content_length: Option<u64>,
    /// Bytes of the head, including the blank line.
    pub header_len: usize,
}

/// Parses the response head at the start of `data`. Ok(None) = incomplete.
pub fn response(data: &[u8]) -> Result<Option<HttpResponse>, ProtoError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let header_len = match resp.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return incomplete(data),
        Err(e) => return Err(map_err(e)),
    };
    let mut out = HttpResponse {
        status: resp.code.unwrap_or_default(),
        x_stratum: None,
        server: None,
        content_length: None,
        header_len,
    };
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("x-stratum") {
            out.x_stratum.get_or_insert_with(|| value(h.value));
        } else if h.name.eq_ignore_ascii_case("server") {
            out.server.get_or_insert_with(|| value(h.value));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            out.content_length = out.content_length.or_else(|| number(h.value));
        }
    }
    Ok(Some(out))
}

fn incomplete<T>(data: &[u8]) -> Result<Option<T>, ProtoError> {
    if data.len() >= MAX_HEAD {
        Err(ProtoError::TooLarge { what: "http head" })
    } else {
        Ok(None)
    }
}

fn map_err(e: httparse::Error) -> ProtoError {
    match e {
        httparse::Error::TooManyHeaders => ProtoError::TooLarge {
            what: "http header count",
        },
        httparse::Error::HeaderName => super::malformed("http header name"),
        httparse::Error::HeaderValue => super::malformed("http header value"),
        httparse::Error::NewLine => super::malformed("http line ending"),
        httparse::Error::Status => super::malformed("http status"),
        httparse::Error::Token => super::malformed("http method token"),
        httparse::Error::Version => super::malformed("http version"),
    }
}

fn value(v: &[u8]) -> String {
    lossy(v.trim_ascii(), MAX_VALUE)
}

fn number(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v.trim_ascii()).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The getwork probe of bfgminer 5.2.0 in bitcoin-mining.pcap (frame 4), credentials
    /// replaced.
    const GETWORK: &[u8] = b"POST / HTTP/1.1\r\nHost: us1.bitminter.com:3333\r\n\
Authorization: Basic dXNlcjpzZWNyZXQ=\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip\r\n\
Content-type: application/json\r\nX-Mining-Extensions: longpoll midstate rollntime submitold\r\n\
Content-Length: 44\r\nUser-Agent: bfgminer/5.2.0\r\n\r\n\
{\"method\": \"getwork\", \"params\": [], \"id\":0}\n";

    #[test]
    fn getwork_post() {
        assert!(looks_like_request(GETWORK));
        let r = request(GETWORK).unwrap().unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/");
        assert_eq!(r.host.as_deref(), Some("us1.bitminter.com:3333"));
        assert_eq!(r.user_agent.as_deref(), Some("bfgminer/5.2.0"));
        assert_eq!(r.authorization_scheme.as_deref(), Some("Basic"));
        assert_eq!(
            r.mining_extensions.as_deref(),
            Some("longpoll midstate rollntime submitold")
        );
        assert_eq!(r.content_length, Some(44));
        assert!(GETWORK[r.header_len..].starts_with(b"{\"method\""));
        // The credentials appear nowhere in what we keep.
        assert!(!format!("{r:?}").contains("dXNlcjpzZWNyZXQ"));
    }

    #[test]
    fn incomplete_heads_wait() {
        let end = GETWORK.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for n in 0..end {
            assert_eq!(request(&GETWORK[..n]), Ok(None), "prefix {n}");
        }
        assert!(request(&GETWORK[..end]).unwrap().is_some());
        let long = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &vec![b'a'; MAX_HEAD]].concat();
        assert_eq!(request(&long), Err(ProtoError::TooLarge { what: "http head" }));
    }

    #[test]
    fn response_with_x_stratum() {
        let r = response(
            b"HTTP/1.1 200 OK\r\nServer: Eloipool\r\nX-Stratum: stratum+tcp://pool.example:3333\r\n\
Content-Length: 2\r\n\r\n{}",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.x_stratum.as_deref(), Some("stratum+tcp://pool.example:3333"));
        assert_eq!(r.server.as_deref(), Some("Eloipool"));
        assert_eq!(r.content_length, Some(2));
        assert_eq!(response(b"HTTP/1.1 200 OK\r\nServer: x\r\n"), Ok(None));
    }

    #[test]
    fn not_http() {
        assert!(!looks_like_request(b"{\"id\":1}"));
        assert!(!looks_like_request(b"GETX / HTTP/1.1"));
        assert!(!looks_like_request(b"GET"));
        assert!(looks_like_request(b"CONNECT pool:3333 HTTP/1.1"));
        assert!(request(b"\x16\x03\x01\x00\x10garbage\r\n\r\n").is_err());
        assert!(response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(
            request(many.as_bytes()),
            Err(ProtoError::TooLarge {
                what: "http header count"
            })
        );
    }
}
