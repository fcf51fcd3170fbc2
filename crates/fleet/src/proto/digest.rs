//! HTTP Digest authentication (RFC 7616, MD5 with `qop=auth`), as Antminer, Elphapex and
//! Hammer web interfaces use it.
//!
//! Written here rather than taken from `digest_auth`: hashward needs the challenge's realm for
//! fingerprinting anyway, and the response is RFC 7616 §3.4.1 in a dozen lines over the
//! `md-5` crate the workspace already uses.

use md5::{Digest as _, Md5};

/// A parsed `WWW-Authenticate: Digest …` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// `realm`: Antminer's is `antMiner Configuration`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `qop` options as sent (`auth`, `auth,auth-int`), empty for RFC 2069 style.
    pub qop: String,
    /// `opaque`, echoed back.
    pub opaque: Option<String>,
    /// `algorithm` (`MD5` when absent).
    pub algorithm: Option<String>,
}

/// Parse a `WWW-Authenticate` value; `None` unless it is a Digest challenge.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let rest = header.trim();
    let (scheme, params) = rest.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut c = Challenge::default();
    for (k, v) in params_of(params) {
        match k.to_ascii_lowercase().as_str() {
            "realm" => c.realm = v,
            "nonce" => c.nonce = v,
            "qop" => c.qop = v,
            "opaque" => c.opaque = Some(v),
            "algorithm" => c.algorithm = Some(v),
            _ => {}
        }
    }
    Some(c)
}

/// `key=value` and `key="quoted, value"` pairs separated by commas.
fn params_of(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        let k0 = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[k0..i].trim().to_string();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                val.push(b[i] as char);
                i += 1;
            }
            i += 1;
        } else {
            let v0 = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = s[v0..i].trim().to_string();
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The `Authorization` header value answering `c` for `method uri` with `user`/`password`.
/// `cnonce` should be fresh per request; `nc` is the nonce count (1 for a new nonce).
pub fn authorization(
    c: &Challenge,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    let ha1 = md5_hex(&format!("{user}:{}:{password}", c.realm));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let use_qop = c.qop.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"));
    let nc = format!("{nc:08x}");
    let response = if use_qop {
        md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
    } else {
        md5_hex(&format!("{ha1}:{}:{ha2}", c.nonce))
    };
    let mut h = format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\"",
        c.realm, c.nonce
    );
    if use_qop {
        h.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
    }
    if let Some(o) = &c.opaque {
        h.push_str(&format!(", opaque=\"{o}\""));
    }
    if let Some(a) = &c.algorithm {
        h.push_str(&format!(", algorithm={a}"));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn antminer_challenge_parses() {
        let c = parse_challenge(
            r#"Digest realm="antMiner Configuration", nonce="d1f2a3", qop="auth", opaque="x,y""#,
        )
        .unwrap();
        assert_eq!(c.realm, "antMiner Configuration");
        assert_eq!(c.nonce, "d1f2a3");
        assert_eq!(c.qop, "auth");
        assert_eq!(c.opaque.as_deref(), Some("x,y"));
        assert!(parse_challenge("Basic realm=\"x\"").is_none());
        assert!(parse_challenge("").is_none());
        assert!(parse_challenge("Digest realm=\"unterminated").is_some());
    }

    /// RFC 2617 §3.5's worked example ("Mufasa" / "Circle Of Life").
    #[test]
    fn rfc_2617_example() {
        let c = Challenge {
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            qop: "auth,auth-int".into(),
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
            algorithm: None,
        };
        let h = authorization(
            &c,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert!(h.contains("response=\"6629fae49393a05397450978507c4ef1\""), "{h}");
        assert!(h.contains("nc=00000001"));
    }
}
