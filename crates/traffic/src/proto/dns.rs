//! DNS messages (RFC 1035) from UDP payloads or DNS over TCP: header, questions and answers.
//!
//! Own parser rather than `simple-dns`: we need only the question and answer sections, with
//! compression pointers followed under a jump budget (a pointer loop is an error, not a hang),
//! names capped at 255 wire bytes, at most [`MAX_RECORDS`] answers kept, and no allocation for
//! the sections we skip.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{ProtoError, Reader, malformed};

/// At most this many questions or answers are kept per message; more questions is an error,
/// answers past the cap are ignored.
pub const MAX_RECORDS: usize = 64;
/// Longest name on the wire (RFC 1035 §2.3.4), counting length bytes.
pub const MAX_NAME: usize = 255;
/// Compression pointers followed while reading one name; more means a loop.
const MAX_JUMPS: usize = 32;

/// A DNS message: header fields, questions and the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// Transaction id.
    pub id: u16,
    /// QR bit: a response.
    pub response: bool,
    /// OPCODE (0 = query).
    pub opcode: u8,
    /// RCODE (0 = no error, 3 = NXDOMAIN).
    pub rcode: u8,
    /// TC bit: the server truncated the message (the client retries over TCP).
    pub truncated: bool,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section (first [`MAX_RECORDS`] records).
    pub answers: Vec<Answer>,
    /// The input ended inside the answer section; `answers` holds the records read before.
    pub partial: bool,
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Queried name, ASCII lower-case, no trailing dot; bytes outside `[!-~]` and a `.` or `\`
    /// inside a label are written `\DDD` as in zone files.
    pub name: String,
    /// QTYPE (see [`qtype_name`]).
    pub qtype: u16,
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Owner name, written as [`Question::name`].
    pub name: String,
    /// Time to live in seconds.
    pub ttl: u32,
    /// The record data for the types we read.
    pub data: AnswerData,
}

/// Record data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// The canonical name, written as [`Question::name`].
    Cname(String),
    /// Any other type (or an A/AAAA with the wrong length): the TYPE value.
    Other(u16),
}

/// Parses one DNS message (a UDP payload, or one frame from [`TcpFramer`]).
pub fn parse(msg: &[u8]) -> Result<DnsMessage, ProtoError> {
    let mut r = Reader::new(msg);
    let id = r.u16("dns header")?;
    let flags = r.u16("dns header")?;
    let qdcount = usize::from(r.u16("dns header")?);
    let ancount = usize::from(r.u16("dns header")?);
    let _nscount = r.u16("dns header")?;
    let _arcount = r.u16("dns header")?;
    if qdcount > MAX_RECORDS {
        return Err(ProtoError::TooLarge {
            what: "dns question count",
        });
    }
    let mut questions = Vec::with_capacity(qdcount);
    for _ in 0..qdcount {
        let name = read_name(msg, &mut r)?;
        let qtype = r.u16("dns question")?;
        let _qclass = r.u16("dns question")?;
        questions.push(Question { name, qtype });
    }
    let mut answers = Vec::with_capacity(ancount.min(MAX_RECORDS));
    let mut partial = false;
    for _ in 0..ancount.min(MAX_RECORDS) {
        match read_answer(msg, &mut r) {
            Ok(a) => answers.push(a),
            Err(ProtoError::Truncated { .. }) => {
                partial = true;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(DnsMessage {
        id,
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        rcode: (flags & 0x000f) as u8,
        truncated: flags & 0x0200 != 0,
        questions,
        answers,
        partial,
    })
}

fn read_answer<'a>(msg: &'a [u8], r: &mut Reader<'a>) -> Result<Answer, ProtoError> {
    let name = read_name(msg, r)?;
    let rtype = r.u16("dns answer")?;
    let _class = r.u16("dns answer")?;
    let ttl = r.u32("dns answer")?;
    let rdlen = usize::from(r.u16("dns answer")?);
    let rdata_start = r.pos();
    let rdata = r.take(rdlen, "dns rdata")?;
    let data = match (rtype, rdata) {
        (1, &[a, b, c, d]) => AnswerData::A(Ipv4Addr::new(a, b, c, d)),
        (28, _) if rdata.len() == 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(rdata);
            AnswerData::Aaaa(Ipv6Addr::from(o))
        }
        (5, _) => {
            // The target may use pointers into the whole message, so read it in place; it
            // must end inside the RDATA.
            let mut sub = Reader::new(msg);
            sub.take(rdata_start, "dns rdata")?;
            let target = read_name(msg, &mut sub)?;
            if sub.pos() > rdata_start.saturating_add(rdlen) {
                return Err(malformed("dns cname rdata"));
            }
            AnswerData::Cname(target)
        }
        _ => AnswerData::Other(rtype),
    };
    Ok(Answer { name, ttl, data })
}

/// Reads a possibly compressed name at `r`, leaving `r` after the name's in-line bytes.
fn read_name<'a>(msg: &'a [u8], r: &mut Reader<'a>) -> Result<String, ProtoError> {
    let mut out = String::new();
    let mut wire_len = 0usize;
    let mut jumps = 0usize;
    // `cur` walks labels (following pointers); `r` only advances over the in-line part.
    let mut cur = *r;
    let mut followed = false;
    loop {
        let len = cur.u8("dns name")?;
        match len & 0xc0 {
            0x00 => {
                if !followed {
                    *r = cur;
                }
                if len == 0 {
                    return Ok(out);
                }
                let label = cur.take(usize::from(len), "dns label")?;
                wire_len = wire_len.saturating_add(usize::from(len) + 1);
                if wire_len > MAX_NAME {
                    return Err(ProtoError::TooLarge { what: "dns name" });
                }
                if !out.is_empty() {
                    out.push('.');
                }
                push_label(&mut out, label);
                if !followed {
                    *r = cur;
                }
            }
            0xc0 => {
                let low = cur.u8("dns pointer")?;
                if !followed {
                    *r = cur;
                    followed = true;
                }
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return Err(malformed("dns name pointer loop"));
                }
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= msg.len() {
                    return Err(malformed("dns name pointer"));
                }
                cur = Reader::new(msg);
                cur.take(target, "dns name pointer")?;
            }
            // 0x40 (extended label types, RFC 6891 deprecated them) and 0x80 are reserved.
            _ => return Err(malformed("dns label type")),
        }
    }
}

fn push_label(out: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' => {
                out.push('\\');
                out.push_str(&format!("{b:03}"));
            }
            b'!'..=b'~' => out.push(char::from(b.to_ascii_lowercase())),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
}

/// The mnemonic of a QTYPE/TYPE value (IANA DNS parameters), or `"unknown"`.
pub fn qtype_name(t: u16) -> &'static str {
    match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => "unknown",
    }
}

/// Splits a DNS-over-TCP byte stream (RFC 1035 §4.2.2: a 2-byte big-endian length before each
/// message) into messages. At most one incomplete message (≤ 65,537 bytes) is buffered; empty
/// frames are skipped.
#[derive(Debug, Default, Clone)]
pub struct TcpFramer {
    buf: Vec<u8>,
}

impl TcpFramer {
    /// An empty framer.
    pub fn new() -> Self {
        TcpFramer::default()
    }

    /// Feeds the next bytes of one direction of the stream; `out` is called with every message
    /// completed by them, in order.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut dyn FnMut(&[u8])) {
        while !bytes.is_empty() {
            if self.buf.is_empty() {
                // Whole frames straight from the input, no copy.
                match split_frame(bytes) {
                    Some((frame, rest)) => {
                        if !frame.is_empty() {
                            out(frame);
                        }
                        bytes = rest;
                        continue;
                    }
                    None => {
                        self.buf.extend_from_slice(bytes);
                        return;
                    }
                }
            }
            let need = match self.buf.as_slice() {
                [h, l, ..] => (2 + usize::from(u16::from_be_bytes([*h, *l]))).saturating_sub(self.buf.len()),
                _ => 2 - self.buf.len(),
            };
            let (head, rest) = bytes.split_at(need.min(bytes.len()));
            self.buf.extend_from_slice(head);
            bytes = rest;
            if let Some((frame, [])) = split_frame(&self.buf) {
                if !frame.is_empty() {
                    out(frame);
                }
                self.buf.clear();
            }
        }
    }

    /// Forgets a partial message (after a gap in the stream).
    pub fn reset(&mut self) {
        self.buf.clear();
    }
}

/// One length-prefixed frame and what follows it, or `None` when incomplete.
fn split_frame(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (h, rest) = b.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*h));
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a message: header then raw section bytes.
    fn msg(id: u16, flags: u16, qd: u16, an: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        for v in [id, flags, qd, an, 0, 0] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        m.extend_from_slice(body);
        m
    }

    fn name(n: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in n.split('.') {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    }

    fn rr(owner: &[u8], t: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
        let mut v = owner.to_vec();
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&ttl.to_be_bytes());
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(rdata);
        v
    }

    #[test]
    fn query_for_a_pool_name() {
        // 12-byte header, then "stratum.Antpool.com" A IN.
        let mut body = name("stratum.Antpool.com");
        body.extend_from_slice(&[0, 1, 0, 1]);
        let m = parse(&msg(0x1234, 0x0100, 1, 0, &body)).unwrap();
        assert_eq!(m.id, 0x1234);
        assert!(!m.response);
        assert_eq!(m.opcode, 0);
        assert_eq!(
            m.questions,
            vec![Question {
                name: "stratum.antpool.com".into(),
                qtype: 1
            }]
        );
        assert!(m.answers.is_empty());
    }

    /// The shape of coinhive-stratum.pcap frame 151: www.supportxmr.com CNAME
    /// www.supportxmr.com.cdn.cloudflare.net (compressed against the question), two A records
    /// owned by the CNAME target (a pointer into the CNAME's RDATA).
    #[test]
    fn response_with_cname_chain_and_pointers() {
        let mut body = name("www.supportxmr.com"); // at offset 12
        body.extend_from_slice(&[0, 1, 0, 1]);
        // CNAME rdata: "www.supportxmr.com" then "cdn.cloudflare.net" — written as full
        // labels www + supportxmr + com + cdn + cloudflare + net.
        let cname_rdata = name("www.supportxmr.com.cdn.cloudflare.net");
        let mut ans = rr(&[0xc0, 12], 5, 115, &cname_rdata);
        // The CNAME rdata starts at: 12 + question(20+4) + owner(2) + 10 = 48.
        let target_off = 12 + body.len() + 2 + 10;
        assert_eq!(target_off, 48);
        let ptr = [0xc0, target_off as u8];
        ans.extend(rr(&ptr, 1, 115, &[104, 20, 123, 34]));
        ans.extend(rr(
            &ptr,
            28,
            115,
            &[
                0x24, 0, 0xcb, 0, 0x20, 0x48, 0, 1, 0, 0, 0, 0, 0x68, 0x14, 0x7b, 0x22,
            ],
        ));
        body.extend(ans);
        let m = parse(&msg(0x5450, 0x8180, 1, 3, &body)).unwrap();
        assert!(m.response);
        assert_eq!(m.rcode, 0);
        assert_eq!(m.answers.len(), 3);
        assert_eq!(m.answers[0].name, "www.supportxmr.com");
        assert_eq!(m.answers[0].ttl, 115);
        assert_eq!(
            m.answers[0].data,
            AnswerData::Cname("www.supportxmr.com.cdn.cloudflare.net".into())
        );
        assert_eq!(m.answers[1].name, "www.supportxmr.com.cdn.cloudflare.net");
        assert_eq!(m.answers[1].data, AnswerData::A(Ipv4Addr::new(104, 20, 123, 34)));
        assert_eq!(
            m.answers[2].data,
            AnswerData::Aaaa("2400:cb00:2048:1::6814:7b22".parse().unwrap())
        );
        assert!(!m.partial);
    }

    #[test]
    fn nxdomain_and_other_types() {
        let mut body = name("auth.minerlink.com");
        body.extend_from_slice(&[0, 16, 0, 1]);
        body.extend(rr(&[0xc0, 12], 16, 60, b"\x05hello"));
        let m = parse(&msg(7, 0x8183, 1, 1, &body)).unwrap();
        assert_eq!(m.rcode, 3);
        assert_eq!(m.questions[0].qtype, 16);
        assert_eq!(qtype_name(m.questions[0].qtype), "TXT");
        assert_eq!(m.answers[0].data, AnswerData::Other(16));
        assert_eq!(qtype_name(28), "AAAA");
        assert_eq!(qtype_name(4242), "unknown");
    }

    #[test]
    fn pointer_loops_are_errors() {
        // A name that points at itself.
        let body = [0xc0, 12, 0, 1, 0, 1];
        assert_eq!(
            parse(&msg(1, 0, 1, 0, &body)),
            Err(malformed("dns name pointer loop"))
        );
        // Two pointers pointing at each other, with a label in between.
        let body = [1, b'a', 0xc0, 16, 0xc0, 12];
        assert!(parse(&msg(1, 0, 1, 0, &body)).is_err());
        // A pointer past the end.
        let body = [0xc0, 200];
        assert_eq!(parse(&msg(1, 0, 1, 0, &body)), Err(malformed("dns name pointer")));
    }

    #[test]
    fn long_names_and_counts_are_capped() {
        let long = vec!["a".repeat(63); 5].join(".");
        let mut body = name(&long);
        body.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(
            parse(&msg(1, 0, 1, 0, &body)),
            Err(ProtoError::TooLarge { what: "dns name" })
        );
        assert_eq!(
            parse(&msg(1, 0, 65, 0, &[])),
            Err(ProtoError::TooLarge {
                what: "dns question count"
            })
        );
        // 100 answers announced and present: only MAX_RECORDS kept.
        let mut body = name("x.example");
        body.extend_from_slice(&[0, 1, 0, 1]);
        for i in 0..100u8 {
            body.extend(rr(&[0xc0, 12], 1, 1, &[10, 0, 0, i]));
        }
        let m = parse(&msg(1, 0x8180, 1, 100, &body)).unwrap();
        assert_eq!(m.answers.len(), MAX_RECORDS);
    }

    #[test]
    fn odd_label_bytes_are_escaped() {
        let body = [3, b'A', b'.', 0xff, 0, 0, 1, 0, 1];
        let m = parse(&msg(1, 0, 1, 0, &body)).unwrap();
        assert_eq!(m.questions[0].name, "a\\046\\255");
    }

    #[test]
    fn every_truncation_is_an_error_or_partial_never_a_panic() {
        let mut body = name("www.supportxmr.com");
        body.extend_from_slice(&[0, 1, 0, 1]);
        body.extend(rr(&[0xc0, 12], 5, 1, &name("a.b.example")));
        body.extend(rr(&[0xc0, 12], 1, 1, &[1, 2, 3, 4]));
        let full = msg(9, 0x8180, 1, 2, &body);
        assert_eq!(parse(&full).unwrap().answers.len(), 2);
        for n in 0..full.len() {
            match parse(&full[..n]) {
                Ok(m) => assert!(m.partial, "length {n}"),
                Err(ProtoError::Truncated { .. }) => {}
                Err(e) => panic!("length {n}: {e}"),
            }
        }
        // Bytes after a complete message are ignored.
        assert!(parse(&[full.clone(), vec![0xde, 0xad]].concat()).is_ok());
    }

    #[test]
    fn tcp_framer_across_chunk_boundaries() {
        let mut body = name("la01.supportxmr.com");
        body.extend_from_slice(&[0, 28, 0, 1]);
        let m1 = msg(1, 0x0100, 1, 0, &body);
        let m2 = msg(2, 0x0100, 1, 0, &body);
        let mut stream = Vec::new();
        for m in [&m1, &m2] {
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(m);
        }
        stream.extend_from_slice(&[0, 0]); // an empty frame: skipped
        stream.extend_from_slice(&[0, 50, 1, 2]); // an unfinished third frame
        for chunk in 1..=stream.len() {
            let mut f = TcpFramer::new();
            let mut got: Vec<Vec<u8>> = Vec::new();
            for c in stream.chunks(chunk) {
                f.push(c, &mut |m| got.push(m.to_vec()));
            }
            assert_eq!(got, vec![m1.clone(), m2.clone()], "chunk size {chunk}");
            assert_eq!(parse(&got[1]).unwrap().id, 2);
            assert_eq!(f.buf.len(), 4);
        }
        let mut f = TcpFramer::new();
        f.push(&[0, 5, 1], &mut |_| panic!("incomplete"));
        f.reset();
        f.push(&[0, 1, 7], &mut |m| assert_eq!(m, &[7]));
    }

    /// The 39 DNS queries of suricata-verify-tls-subjectaltname.pcap and the names in
    /// coinhive-stratum.pcap parse (when the shared captures are present).
    #[test]
    fn shared_captures_dns() {
        let Some(dir) = crate::shared_traffic_dir() else {
            return;
        };
        let mut names = Vec::new();
        for p in crate::proto::tests_support::udp_payloads(&dir.join("coinhive-stratum.pcap"), 53) {
            let m = parse(&p).unwrap();
            for a in &m.answers {
                names.push(format!("{} {:?}", a.name, a.data));
            }
        }
        assert!(
            names
                .contains(&"www.supportxmr.com Cname(\"www.supportxmr.com.cdn.cloudflare.net\")".to_string())
        );
        assert!(names.iter().any(|n| n.starts_with("coinhive.com A(")));
    }
}
