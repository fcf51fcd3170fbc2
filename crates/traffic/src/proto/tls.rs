//! TLS ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2): SNI, ALPN, versions, ciphers,
//! extensions, signature algorithms, and the JA4 client fingerprint.
//!
//! Own parser rather than `tls-parser`: JA4 needs every extension type in wire order (also the
//! ones a library maps to typed variants or fails on), a ClientHello may span several records,
//! and the only allocation is for a hello split across records.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::{ProtoError, Reader, lossy, malformed};

/// Largest ClientHello handshake message we reassemble (post-quantum key shares make hellos of
/// 1.5–2 KiB; 32 KiB leaves room for padding and ECH).
pub const MAX_HELLO: usize = 32 * 1024;
/// Largest TLS record payload: 2^14 plus the 2,048 bytes of expansion RFC 5246 allows.
const MAX_RECORD: usize = 16384 + 2048;
/// At most this many ALPN protocols are kept, each cut to [`MAX_ALPN_LEN`] bytes.
const MAX_ALPN: usize = 16;
const MAX_ALPN_LEN: usize = 64;

/// True when `b` starts with a TLS handshake record header: content type 0x16, major version
/// 3, minor version 0..=4 (SSL 3.0 to TLS 1.3's legacy values).
pub fn is_handshake_record(b: &[u8]) -> bool {
    matches!(b, [0x16, 0x03, 0x00..=0x04, ..])
}

/// What a ClientHello says about its client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// `legacy_version` of the hello body (0x0303 for TLS 1.2 and 1.3).
    pub legacy_version: u16,
    /// The `supported_versions` extension (0x002b) in wire order, GREASE included.
    pub supported_versions: Vec<u16>,
    /// The first `host_name` of the SNI extension, lower-case (at most 255 bytes).
    pub sni: Option<String>,
    /// ALPN protocol names in order (at most 16, each at most 64 bytes, invalid UTF-8 replaced).
    pub alpn: Vec<String>,
    /// The raw bytes of the first ALPN value (JA4 reads its first and last byte).
    pub alpn_first_raw: Vec<u8>,
    /// Cipher suites in wire order, GREASE included.
    pub ciphers: Vec<u16>,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    /// The `signature_algorithms` extension (0x000d) in wire order, GREASE included.
    pub signature_algorithms: Vec<u16>,
    /// JA4 of this hello over TCP ([`ja4`] with `quic = false`).
    pub ja4: String,
}

/// Reads the ClientHello at the start of a client's TLS byte stream.
///
/// `data` is the start of the client's byte stream (one or more TLS records; a ClientHello may
/// span records). Ok(None) = need more bytes (caller gives up after 16 KiB).
pub fn client_hello(data: &[u8]) -> Result<Option<ClientHello>, ProtoError> {
    let Some(msg) = handshake_message(data)? else {
        return Ok(None);
    };
    let mut ch = parse_hello_body(&msg)?;
    ch.ja4 = ja4(&ch, false);
    Ok(Some(ch))
}

/// The first handshake message (type 1, its 4-byte header stripped) gathered from the records
/// at the start of `data`.
fn handshake_message(data: &[u8]) -> Result<Option<Cow<'_, [u8]>>, ProtoError> {
    let mut r = Reader::new(data);
    let mut joined: Option<Vec<u8>> = None;
    loop {
        if r.remaining() < 5 {
            return Ok(None);
        }
        let header = r.take(5, "tls record header")?;
        if !is_handshake_record(header) {
            return Err(malformed("tls record: not a handshake record"));
        }
        let len = match header {
            [_, _, _, h, l] => usize::from(u16::from_be_bytes([*h, *l])),
            _ => 0,
        };
        if len == 0 || len > MAX_RECORD {
            return Err(malformed("tls record length"));
        }
        let Ok(fragment) = r.take(len, "tls record") else {
            // The record is not complete yet; a partial fragment may still hold the whole
            // hello (a record cut by the capture is not, but then we only wait).
            return Ok(None);
        };
        let buf: &[u8] = match &mut joined {
            None => fragment,
            Some(v) => {
                v.extend_from_slice(fragment);
                v
            }
        };
        let (ty, body_len) = match buf {
            [ty, a, b, c, ..] => (*ty, u32::from_be_bytes([0, *a, *b, *c]) as usize),
            _ => {
                joined.get_or_insert_with(|| fragment.to_vec());
                continue;
            }
        };
        if ty != 1 {
            return Err(malformed("tls handshake: not a ClientHello"));
        }
        if body_len > MAX_HELLO {
            return Err(ProtoError::TooLarge {
                what: "tls ClientHello",
            });
        }
        if buf.len() >= 4 + body_len {
            return Ok(Some(match joined {
                None => Cow::Borrowed(fragment.get(4..4 + body_len).unwrap_or_default()),
                Some(mut v) => {
                    v.truncate(4 + body_len);
                    v.drain(..4);
                    Cow::Owned(v)
                }
            }));
        }
        if joined.is_none() {
            let mut v = Vec::with_capacity(4 + body_len);
            v.extend_from_slice(fragment);
            joined = Some(v);
        }
    }
}

fn parse_hello_body(b: &[u8]) -> Result<ClientHello, ProtoError> {
    let mut r = Reader::new(b);
    let mut ch = ClientHello {
        legacy_version: r.u16("tls ClientHello version")?,
        ..ClientHello::default()
    };
    r.take(32, "tls ClientHello random")?;
    let sid = usize::from(r.u8("tls session id")?);
    if sid > 32 {
        return Err(malformed("tls session id length"));
    }
    r.take(sid, "tls session id")?;
    let cs_len = usize::from(r.u16("tls cipher suites")?);
    if cs_len % 2 != 0 {
        return Err(malformed("tls cipher suites length"));
    }
    ch.ciphers = u16_list(r.take(cs_len, "tls cipher suites")?);
    let comp = usize::from(r.u8("tls compression methods")?);
    r.take(comp, "tls compression methods")?;
    if r.remaining() == 0 {
        return Ok(ch); // no extensions (SSL 3.0 style hello)
    }
    let ext_len = usize::from(r.u16("tls extensions")?);
    let mut exts = Reader::new(r.take(ext_len, "tls extensions")?);
    while exts.remaining() > 0 {
        let ty = exts.u16("tls extension")?;
        let len = usize::from(exts.u16("tls extension")?);
        let body = exts.take(len, "tls extension body")?;
        ch.extensions.push(ty);
        match ty {
            0x0000 if ch.sni.is_none() => ch.sni = sni(body),
            0x0010 => alpn(body, &mut ch),
            0x000d => {
                let mut e = Reader::new(body);
                if let Ok(n) = e.u16("sigalgs") {
                    ch.signature_algorithms = u16_list(e.take(usize::from(n), "sigalgs").unwrap_or_default());
                }
            }
            0x002b => {
                let mut e = Reader::new(body);
                if let Ok(n) = e.u8("supported versions") {
                    ch.supported_versions =
                        u16_list(e.take(usize::from(n), "supported versions").unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    Ok(ch)
}

fn u16_list(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .filter_map(|c| c.try_into().ok().map(u16::from_be_bytes))
        .collect()
}

/// The first `host_name` entry of a server_name extension (RFC 6066 §3).
fn sni(body: &[u8]) -> Option<String> {
    let mut e = Reader::new(body);
    let list = e.u16("sni list").ok()?;
    let mut l = Reader::new(e.take(usize::from(list), "sni list").ok()?);
    while l.remaining() > 0 {
        let kind = l.u8("sni entry").ok()?;
        let n = l.u16("sni entry").ok()?;
        let name = l.take(usize::from(n), "sni name").ok()?;
        if kind == 0 {
            return Some(lossy(name, 255).to_ascii_lowercase());
        }
    }
    None
}

fn alpn(body: &[u8], ch: &mut ClientHello) {
    let mut e = Reader::new(body);
    let Ok(list) = e.u16("alpn list") else { return };
    let Ok(list) = e.take(usize::from(list), "alpn list") else {
        return;
    };
    let mut l = Reader::new(list);
    while let Ok(n) = l.u8("alpn entry") {
        let Ok(p) = l.take(usize::from(n), "alpn entry") else {
            return;
        };
        if ch.alpn.is_empty() {
            ch.alpn_first_raw = p.get(..MAX_ALPN_LEN.min(p.len())).unwrap_or_default().to_vec();
            // JA4 needs the real last byte even when we cut the stored copy.
            if p.len() > MAX_ALPN_LEN
                && let Some(last) = p.last()
            {
                ch.alpn_first_raw.push(*last);
            }
        }
        if ch.alpn.len() < MAX_ALPN {
            ch.alpn.push(lossy(p, MAX_ALPN_LEN));
        }
    }
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, …, 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// JA4 (FoxIO's TLS client fingerprint: "t13d1516h2_8daaf6152771_e5627efa2ab1" shape:
/// transport, version, SNI d/i, cipher count, extension count, ALPN first+last char; then
/// `sha256[:12]` of sorted ciphers; then `sha256[:12]` of the sorted extensions (without SNI
/// and ALPN), `_`, and the signature algorithms in order). GREASE values are ignored everywhere.
///
/// Implemented from `FoxIO-LLC/ja4` `technical_details/JA4.md`: the version is the highest
/// non-GREASE `supported_versions` entry, else `legacy_version`; counts are capped at 99; an
/// empty list hashes to `000000000000`; a first ALPN value whose first or last byte is not
/// alphanumeric contributes the first and last hex digit of its bytes instead.
pub fn ja4(ch: &ClientHello, quic: bool) -> String {
    let ciphers: Vec<u16> = ch.ciphers.iter().copied().filter(|v| !is_grease(*v)).collect();
    let exts: Vec<u16> = ch.extensions.iter().copied().filter(|v| !is_grease(*v)).collect();
    let version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .filter(|_| ch.extensions.contains(&0x002b))
        .unwrap_or(ch.legacy_version);
    let version = match version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    };
    let sni = if exts.contains(&0x0000) { 'd' } else { 'i' };
    let alpn = ja4_alpn(&ch.alpn_first_raw);
    let mut sorted_ciphers = ciphers.clone();
    sorted_ciphers.sort_unstable();
    let mut sorted_exts: Vec<u16> = exts
        .iter()
        .copied()
        .filter(|v| *v != 0x0000 && *v != 0x0010)
        .collect();
    sorted_exts.sort_unstable();
    let sigs: Vec<u16> = ch
        .signature_algorithms
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    let b = truncated_hash(&hex_list(&sorted_ciphers), sorted_ciphers.is_empty());
    let mut c_in = hex_list(&sorted_exts);
    if !sigs.is_empty() {
        c_in.push('_');
        c_in.push_str(&hex_list(&sigs));
    }
    let c = truncated_hash(&c_in, sorted_exts.is_empty());
    format!(
        "{}{version}{sni}{:02}{:02}{alpn}_{b}_{c}",
        if quic { 'q' } else { 't' },
        ciphers.len().min(99),
        exts.len().min(99),
    )
}

fn ja4_alpn(v: &[u8]) -> String {
    match (v.first(), v.last()) {
        (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            format!("{}{}", char::from(*f), char::from(*l))
        }
        (Some(f), Some(l)) => {
            let hex = b"0123456789abcdef";
            let first = hex.get(usize::from(f >> 4)).copied().unwrap_or(b'0');
            let last = hex.get(usize::from(l & 0x0f)).copied().unwrap_or(b'0');
            format!("{}{}", char::from(first), char::from(last))
        }
        _ => "00".to_string(),
    }
}

fn hex_list(v: &[u16]) -> String {
    v.iter().map(|x| format!("{x:04x}")).collect::<Vec<_>>().join(",")
}

fn truncated_hash(s: &str, empty: bool) -> String {
    if empty {
        return "000000000000".to_string();
    }
    let mut h = hex::encode(Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello handshake message (type 1 + 3-byte length + body) from its parts.
    fn hello(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x5b; 32]); // random
        body.push(32);
        body.extend_from_slice(&[0xaa; 32]); // session id
        body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]); // null compression
        let mut e = Vec::new();
        for (t, b) in exts {
            e.extend_from_slice(&t.to_be_bytes());
            e.extend_from_slice(&(b.len() as u16).to_be_bytes());
            e.extend_from_slice(b);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend(e);
        let mut m = vec![1];
        m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend(body);
        m
    }

    fn record(fragment: &[u8]) -> Vec<u8> {
        let mut r = vec![0x16, 0x03, 0x01];
        r.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
        r.extend_from_slice(fragment);
        r
    }

    fn sni_ext(name: &str) -> Vec<u8> {
        let mut v = ((name.len() + 3) as u16).to_be_bytes().to_vec();
        v.push(0);
        v.extend_from_slice(&(name.len() as u16).to_be_bytes());
        v.extend_from_slice(name.as_bytes());
        v
    }

    fn alpn_ext(protos: &[&[u8]]) -> Vec<u8> {
        let mut l = Vec::new();
        for p in protos {
            l.push(p.len() as u8);
            l.extend_from_slice(p);
        }
        let mut v = (l.len() as u16).to_be_bytes().to_vec();
        v.extend(l);
        v
    }

    fn u16s_ext(len_bytes: usize, vals: &[u16]) -> Vec<u8> {
        let n = vals.len() * 2;
        let mut v = if len_bytes == 1 {
            vec![n as u8]
        } else {
            (n as u16).to_be_bytes().to_vec()
        };
        for x in vals {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v
    }

    /// The worked example of FoxIO-LLC/ja4 technical_details/JA4.md (Chrome-like hello):
    /// ciphers and extensions in the listed wire order, GREASE added at both ends (it must be
    /// ignored), ALPN h2, supported_versions 1.3/1.2.
    fn spec_example_hello() -> Vec<u8> {
        let ciphers = [
            0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let sigs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
        let order = [
            0x1a1a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
            0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0xfafa,
        ];
        let exts: Vec<(u16, Vec<u8>)> = order
            .iter()
            .map(|&t| {
                let body = match t {
                    0x0000 => sni_ext("example.com"),
                    0x0010 => alpn_ext(&[b"h2", b"http/1.1"]),
                    0x000d => u16s_ext(2, &sigs),
                    0x002b => u16s_ext(1, &[0x4a4a, 0x0304, 0x0303]),
                    _ => Vec::new(),
                };
                (t, body)
            })
            .collect();
        hello(&ciphers, &exts)
    }

    #[test]
    fn handshake_record_header() {
        assert!(is_handshake_record(&[0x16, 0x03, 0x01, 0x01, 0x0c]));
        assert!(is_handshake_record(&[0x16, 0x03, 0x04]));
        assert!(!is_handshake_record(&[0x16, 0x03, 0x05]));
        assert!(!is_handshake_record(&[0x17, 0x03, 0x03]));
        assert!(!is_handshake_record(&[0x16, 0x03]));
        assert!(!is_handshake_record(b"{\"id\""));
    }

    #[test]
    fn ja4_of_the_published_example() {
        let ch = client_hello(&record(&spec_example_hello())).unwrap().unwrap();
        assert_eq!(ch.sni.as_deref(), Some("example.com"));
        assert_eq!(ch.alpn, vec!["h2", "http/1.1"]);
        assert_eq!(ch.supported_versions, vec![0x4a4a, 0x0304, 0x0303]);
        assert_eq!(ch.ciphers.len(), 16);
        assert_eq!(ch.extensions.len(), 18);
        assert_eq!(ch.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(ja4(&ch, true), "q13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    /// A second published pair (a browserleaks.com report quoted in public code: JA4_ro
    /// `t13d1516h2_1301,…_002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,
    /// 0005,000d,001b_0403,…` with JA4 `t13d1516h2_8daaf6152771_d8a2da3f94cd`).
    #[test]
    fn ja4_of_a_second_published_hello() {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
            0x009d, 0x002f, 0x0035,
        ];
        let exts = [
            0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b, 0xff01, 0x0023,
            0x0012, 0x0005, 0x000d, 0x001b,
        ];
        let ch = ClientHello {
            legacy_version: 0x0303,
            supported_versions: vec![0x0304, 0x0303],
            sni: Some("tls.browserleaks.com".into()),
            alpn: vec!["h2".into()],
            alpn_first_raw: b"h2".to_vec(),
            ciphers: ciphers.to_vec(),
            extensions: exts.to_vec(),
            signature_algorithms: vec![0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
            ja4: String::new(),
        };
        assert_eq!(ja4(&ch, false), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    }

    #[test]
    fn ja4_edge_cases() {
        let mut ch = ClientHello {
            legacy_version: 0x0301,
            ..ClientHello::default()
        };
        // No ciphers, no extensions, no SNI, no ALPN.
        assert_eq!(ja4(&ch, false), "t10i000000_000000000000_000000000000");
        // supported_versions counts only when the extension is present.
        ch.supported_versions = vec![0x0304];
        assert!(ja4(&ch, false).starts_with("t10"));
        ch.extensions = vec![0x002b];
        assert!(ja4(&ch, false).starts_with("t13i0001"));
        // Non-alphanumeric ALPN bytes: first and last hex digit.
        for (raw, want) in [
            (&[0xab][..], "ab"),
            (&[0xab, 0xcd], "ad"),
            (&[0x30, 0xab], "3b"),
            (&[0x30, 0x31, 0xab, 0xcd], "3d"),
            (&[0x30, 0xab, 0xcd, 0x31], "01"),
            (b"h", "hh"),
            (b"http/1.1", "h1"),
        ] {
            assert_eq!(ja4_alpn(raw), want, "{raw:02x?}");
        }
        // Extensions without signature algorithms: no trailing underscore (spec: 6d807ffa2a79).
        ch.extensions = vec![
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b,
            0xff01, 0x000b, 0x000a, 0x0015,
        ];
        assert!(ja4(&ch, false).ends_with("_6d807ffa2a79"));
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a));
    }

    #[test]
    fn hello_spanning_two_records_and_partial_input() {
        let msg = spec_example_hello();
        let (a, b) = msg.split_at(100);
        let stream = [record(a), record(b)].concat();
        let ch = client_hello(&stream).unwrap().unwrap();
        assert_eq!(ch.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        // Every prefix asks for more bytes, never errs or panics.
        for n in 0..stream.len() {
            assert_eq!(client_hello(&stream[..n]), Ok(None), "prefix {n}");
        }
        // Split inside the 4-byte handshake header too.
        let (a, b) = msg.split_at(2);
        assert!(client_hello(&[record(a), record(b)].concat()).unwrap().is_some());
    }

    #[test]
    fn not_a_hello() {
        assert!(client_hello(b"GET / HTTP/1.1\r\n").is_err());
        // A ServerHello.
        let mut m = spec_example_hello();
        m[0] = 2;
        assert!(client_hello(&record(&m)).is_err());
        // A handshake record followed by application data before the hello is complete.
        let msg = spec_example_hello();
        let mut s = record(&msg[..50]);
        s.extend_from_slice(&[0x17, 0x03, 0x03, 0, 1, 0]);
        assert!(client_hello(&s).is_err());
        // An absurd handshake length.
        assert_eq!(
            client_hello(&record(&[1, 0xff, 0xff, 0xff])),
            Err(ProtoError::TooLarge {
                what: "tls ClientHello"
            })
        );
    }

    #[test]
    fn corrupt_hellos_never_panic() {
        let msg = spec_example_hello();
        for i in 0..msg.len() {
            for v in [0x00, 0xff, 0x80] {
                let mut m = msg.clone();
                m[i] = v;
                let _ = client_hello(&record(&m));
            }
            let _ = client_hello(&record(&msg[..i]));
        }
    }

    /// bitcoin-mining.pcap: bfgminer probes TLS on port 3333 with SNI us1.bitminter.com;
    /// suricata-verify-tls-subjectaltname.pcap has 11 hellos for mamzon.ru.
    #[test]
    fn shared_captures_tls() {
        let Some(dir) = crate::shared_traffic_dir() else {
            return;
        };
        let mut snis = Vec::new();
        for (p, _, dp, b) in crate::proto::tests_support::payloads(&dir.join("bitcoin-mining.pcap")) {
            if p == 6 && dp == 3333 && is_handshake_record(&b) {
                let ch = client_hello(&b).unwrap().unwrap();
                assert_eq!(ch.alpn, vec!["http/1.1"]);
                assert!(ch.ja4.starts_with("t12d"), "{}", ch.ja4);
                snis.push(ch.sni.unwrap());
            }
        }
        assert_eq!(snis.len(), 5);
        assert!(snis.iter().all(|s| s == "us1.bitminter.com"));
        let mut mamzon = 0;
        for (p, _, dp, b) in
            crate::proto::tests_support::payloads(&dir.join("suricata-verify-tls-subjectaltname.pcap"))
        {
            if p == 6
                && dp == 443
                && is_handshake_record(&b)
                && let Ok(Some(ch)) = client_hello(&b)
                && ch.sni.as_deref() == Some("mamzon.ru")
            {
                mamzon += 1;
            }
        }
        assert_eq!(mamzon, 11);
    }
}
