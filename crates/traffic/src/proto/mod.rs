//! Application-layer parsers: pure functions over bytes with explicit limits.
//!
//! Every parser here takes `&[u8]` (the start of a reassembled stream, one UDP payload, or one
//! line), never panics, caps what it keeps (record counts, name and string lengths), and reports
//! a [`ProtoError`] for input it cannot read. `Ok(None)` means "not enough bytes yet" where a
//! parser can be fed a growing prefix of a stream.

pub mod dns;
pub mod http;
pub mod mgmt;
pub mod stratum;
pub mod sv2;
pub mod tls;

/// Why an application-layer message could not be read. `what` names the field or structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The input ends inside `what`.
    #[error("truncated {what}")]
    Truncated {
        /// The structure that was cut short.
        what: &'static str,
    },
    /// `what` does not follow its protocol's grammar.
    #[error("malformed {what}")]
    Malformed {
        /// The structure that does not parse.
        what: &'static str,
    },
    /// `what` exceeds one of the parser's limits (count, length, nesting).
    #[error("{what} exceeds the parser's limit")]
    TooLarge {
        /// The structure that is too large.
        what: &'static str,
    },
}

/// Shorthand for [`ProtoError::Truncated`].
pub(crate) fn truncated(what: &'static str) -> ProtoError {
    ProtoError::Truncated { what }
}

/// Shorthand for [`ProtoError::Malformed`].
pub(crate) fn malformed(what: &'static str) -> ProtoError {
    ProtoError::Malformed { what }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate_str(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

/// Bytes as text (invalid UTF-8 replaced), cut to at most `max` bytes.
pub(crate) fn lossy(b: &[u8], max: usize) -> String {
    truncate_str(&String::from_utf8_lossy(b), max)
}

/// A big-endian cursor over a byte slice: every read is checked and names what it reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ProtoError> {
        let end = self.pos.checked_add(n).ok_or_else(|| truncated(what))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| truncated(what))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ProtoError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or(0))
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, ProtoError> {
        let b = self.take(2, what)?;
        Ok(match b {
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        })
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, ProtoError> {
        let b = self.take(4, what)?;
        Ok(match b {
            [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
            _ => 0,
        })
    }
}

/// A minimal classic-pcap walk for tests that read payloads out of the shared captures
/// (Ethernet, IPv4, TCP/UDP; no reassembly). The real reader lives in `capture`.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::path::Path;

    /// One transport payload: (protocol 6/17, source port, destination port, bytes).
    pub(crate) type Payload = (u8, u16, u16, Vec<u8>);

    pub(crate) fn payloads(path: &Path) -> Vec<Payload> {
        let Ok(d) = std::fs::read(path) else {
            return Vec::new();
        };
        let le = d.get(..4) == Some(&[0xd4, 0xc3, 0xb2, 0xa1]);
        let u32_at = |o: usize| -> usize {
            let b: [u8; 4] = d[o..o + 4].try_into().unwrap();
            (if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }) as usize
        };
        let mut out = Vec::new();
        let mut off = 24;
        while off + 16 <= d.len() {
            let incl = u32_at(off + 8);
            let pkt = &d[off + 16..(off + 16 + incl).min(d.len())];
            off += 16 + incl;
            if pkt.len() < 34 || pkt[12..14] != [8, 0] {
                continue;
            }
            let ip = &pkt[14..];
            let ihl = usize::from(ip[0] & 15) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
            let proto = ip[9];
            let l4 = &ip[ihl..total];
            let (sp, dp) = (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            );
            let body = match proto {
                6 => &l4[usize::from(l4[12] >> 4) * 4..],
                17 => &l4[8..],
                _ => continue,
            };
            if !body.is_empty() {
                out.push((proto, sp, dp, body.to_vec()));
            }
        }
        out
    }

    /// UDP payloads to or from `port`.
    pub(crate) fn udp_payloads(path: &Path, port: u16) -> Vec<Vec<u8>> {
        payloads(path)
            .into_iter()
            .filter(|(p, s, d, _)| *p == 17 && (*s == port || *d == port))
            .map(|(.., b)| b)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    /// Random and prefixed random bytes through every parser: no panic, no hang.
    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let prefixes: [&[u8]; 7] = [
            b"",
            b"{\"id\":1,\"method\":\"",
            b"\x16\x03\x01\x00\x40\x01\x00\x00\x3c\x03\x03",
            b"GET / HTTP/1.1\r\nHost: ",
            b"\x00\x00\x00\x20\x00\x00\x00\x02\x00\x02\x00",
            b"STATUS=E,Code=45,Msg=",
            b"\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x00",
        ];
        for i in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut b = prefixes[i % prefixes.len()].to_vec();
            b.extend((0..len).map(|_| {
                let v = next();
                // Bias towards bytes that mean something to the parsers.
                match v % 8 {
                    0 => b'"',
                    1 => b'{',
                    2 => 0xc0,
                    3 => b',',
                    _ => (v >> 8) as u8,
                }
            }));
            let _ = super::dns::parse(&b);
            let _ = super::tls::client_hello(&b);
            let _ = super::http::request(&b);
            let _ = super::http::response(&b);
            let _ = super::stratum::parse_line(&b);
            let _ = super::stratum::looks_like_stratum(&b);
            let _ = super::sv2::setup_connection(&b);
            let _ = super::sv2::reconnect(&b);
            let _ = super::sv2::noise_handshake_shape(&b, super::sv2::NOISE_ACT2_LEN);
            let _ = super::mgmt::api_request(&b);
            let _ = super::mgmt::api_status(&b);
        }
    }
}
