//! Link, network and transport headers of one packet, decoded in a single pass without copying.
//!
//! Hand-written rather than etherparse: etherparse 0.21 has no Linux cooked v2 (SLL2) nor BSD
//! null/loopback framing, would need its own L2 pass anyway, reports far more than a flow table
//! needs, and carries ~480 lines of `unsafe` unchecked slicing. The decoder here reads a dozen
//! fixed offsets with `get` (so no input can panic), stops at the first layer it cannot read
//! and says which (`Truncated { layer }`), and costs a few nanoseconds per packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most VLAN tags accepted in one frame (802.1ad + 802.1Q, with room for odd stacks).
const MAX_VLAN_TAGS: usize = 8;
/// Most IPv6 extension headers followed before giving up.
const MAX_EXT_HEADERS: usize = 8;

/// Link types understood by [`decode`] (LINKTYPE_* values from tcpdump.org).
pub mod linktype {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II / 802.3.
    pub const ETHERNET: u32 = 1;
    /// Raw IP (the value some BSDs write).
    pub const RAW_BSD: u32 = 12;
    /// Raw IP.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: 4-byte address family, big-endian.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
}

/// IP protocol numbers used here.
pub mod ipproto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// A decoded packet: addresses, sizes and the transport layer, borrowing the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Ethernet source address (SLL: the only address it records).
    pub src_mac: Option<[u8; 6]>,
    /// Ethernet destination address.
    pub dst_mac: Option<[u8; 6]>,
    /// Outermost VLAN id (the 802.1ad S-tag when stacked).
    pub vlan: Option<u16>,
    /// Innermost VLAN id when two or more tags are stacked.
    pub inner_vlan: Option<u16>,
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// IP total length as declared (IPv6: 40 + payload length); the captured length when the
    /// header declares 0 (TSO captures).
    pub ip_bytes: u32,
    /// Fragment position of this datagram.
    pub fragment: Fragment,
    /// The frame was captured shorter than the IP header declares (snap length).
    pub truncated: bool,
    /// L4 payload length as declared by the IP header (larger than `payload.len()` when
    /// truncated); 0 for protocols other than TCP and UDP.
    pub l4_len: u32,
    /// The transport layer.
    pub l4: L4<'a>,
}

/// Where a datagram sits among the fragments of its original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// Not fragmented.
    None,
    /// First fragment (offset 0, more fragments): the transport header is decoded.
    First,
    /// A later fragment: no transport header.
    Later,
}

/// The transport layer of a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    /// TCP segment.
    Tcp(Tcp<'a>),
    /// UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Captured payload.
        payload: &'a [u8],
    },
    /// A later fragment of a datagram of this protocol.
    Fragment {
        /// IP protocol number.
        proto: u8,
    },
    /// Any other protocol (ICMP, ICMPv6, GRE…).
    Other {
        /// IP protocol number.
        proto: u8,
    },
}

/// A TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits ([`Tcp::FIN`], [`Tcp::SYN`]…).
    pub flags: u8,
    /// Captured payload (options skipped).
    pub payload: &'a [u8],
}

impl Tcp<'_> {
    /// FIN flag.
    pub const FIN: u8 = 0x01;
    /// SYN flag.
    pub const SYN: u8 = 0x02;
    /// RST flag.
    pub const RST: u8 = 0x04;
    /// PSH flag.
    pub const PSH: u8 = 0x08;
    /// ACK flag.
    pub const ACK: u8 = 0x10;
    /// URG flag.
    pub const URG: u8 = 0x20;
}

impl L4<'_> {
    /// IP protocol number of the transport layer.
    pub fn proto(&self) -> u8 {
        match self {
            L4::Tcp(_) => ipproto::TCP,
            L4::Udp { .. } => ipproto::UDP,
            L4::Fragment { proto } | L4::Other { proto } => *proto,
        }
    }
}

/// Why a frame yields no IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not IP (ARP, LLDP, 802.3/LLC…): counted, not reported as a problem.
    #[error("not an IP packet (ethertype {ethertype:#06x})")]
    NotIp {
        /// The ethertype (or BSD address family, or SLL protocol) found.
        ethertype: u16,
    },
    /// The capture's link type is not supported.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
    /// The frame ends inside a header.
    #[error("frame truncated in the {layer} header")]
    Truncated {
        /// The header that is incomplete.
        layer: &'static str,
    },
    /// A header field is impossible.
    #[error("malformed {layer} header: {what}")]
    Malformed {
        /// The header.
        layer: &'static str,
        /// The impossible field.
        what: &'static str,
    },
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

#[inline]
fn mac(b: &[u8], at: usize) -> Option<[u8; 6]> {
    b.get(at..at + 6)?.try_into().ok()
}

const fn trunc(layer: &'static str) -> DecodeError {
    DecodeError::Truncated { layer }
}

/// L2 result: the addresses, VLANs, ethertype and the bytes after the link header.
struct Link<'a> {
    src_mac: Option<[u8; 6]>,
    dst_mac: Option<[u8; 6]>,
    vlan: Option<u16>,
    inner_vlan: Option<u16>,
    ethertype: u16,
    rest: &'a [u8],
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;

/// Decodes one captured frame of the given link type down to the transport layer.
pub fn decode(linktype: u32, data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let link = match linktype {
        linktype::ETHERNET => {
            let et = be16(data, 12).ok_or(trunc("ethernet"))?;
            let mut l = Link {
                src_mac: mac(data, 6),
                dst_mac: mac(data, 0),
                vlan: None,
                inner_vlan: None,
                ethertype: et,
                rest: data.get(14..).unwrap_or_default(),
            };
            vlans(&mut l)?;
            l
        }
        linktype::LINUX_SLL => {
            // pkttype(2) arphrd(2) addrlen(2) addr(8) protocol(2)
            let proto = be16(data, 14).ok_or(trunc("linux cooked"))?;
            let addrlen = be16(data, 4).unwrap_or(0);
            let mut l = Link {
                src_mac: if addrlen == 6 { mac(data, 6) } else { None },
                dst_mac: None,
                vlan: None,
                inner_vlan: None,
                ethertype: proto,
                rest: data.get(16..).unwrap_or_default(),
            };
            vlans(&mut l)?;
            l
        }
        linktype::LINUX_SLL2 => {
            // protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1) addrlen(1) addr(8)
            if data.len() < 20 {
                return Err(trunc("linux cooked v2"));
            }
            let proto = be16(data, 0).ok_or(trunc("linux cooked v2"))?;
            let addrlen = data.get(11).copied().unwrap_or(0);
            let mut l = Link {
                src_mac: if addrlen == 6 { mac(data, 12) } else { None },
                dst_mac: None,
                vlan: None,
                inner_vlan: None,
                ethertype: proto,
                rest: data.get(20..).unwrap_or_default(),
            };
            vlans(&mut l)?;
            l
        }
        linktype::RAW | linktype::RAW_BSD | linktype::IPV4 | linktype::IPV6 => {
            let v = data.first().ok_or(trunc("ip"))? >> 4;
            let ethertype = match (linktype, v) {
                (linktype::IPV6, 6) | (linktype::RAW | linktype::RAW_BSD, 6) => ETH_IPV6,
                (linktype::IPV4, 4) | (linktype::RAW | linktype::RAW_BSD, 4) => ETH_IPV4,
                _ => {
                    return Err(DecodeError::Malformed {
                        layer: "ip",
                        what: "version",
                    });
                }
            };
            Link {
                src_mac: None,
                dst_mac: None,
                vlan: None,
                inner_vlan: None,
                ethertype,
                rest: data,
            }
        }
        linktype::NULL | linktype::LOOP => {
            let raw: [u8; 4] = data
                .get(..4)
                .ok_or(trunc("loopback"))?
                .try_into()
                .map_err(|_| trunc("loopback"))?;
            // NULL is in the capturing host's byte order: a family fits in the low 16 bits.
            let fam = if linktype == linktype::LOOP {
                u32::from_be_bytes(raw)
            } else {
                let le = u32::from_le_bytes(raw);
                if le > 0xffff { u32::from_be_bytes(raw) } else { le }
            };
            let ethertype = match fam {
                2 => ETH_IPV4,
                // AF_INET6 differs: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS.
                10 | 24 | 28 | 30 => ETH_IPV6,
                other => {
                    return Err(DecodeError::NotIp {
                        ethertype: u16::try_from(other).unwrap_or(u16::MAX),
                    });
                }
            };
            Link {
                src_mac: None,
                dst_mac: None,
                vlan: None,
                inner_vlan: None,
                ethertype,
                rest: data.get(4..).unwrap_or_default(),
            }
        }
        other => return Err(DecodeError::UnsupportedLinkType(other)),
    };
    match link.ethertype {
        ETH_IPV4 => ipv4(&link),
        ETH_IPV6 => ipv6(&link),
        ethertype => Err(DecodeError::NotIp { ethertype }),
    }
}

/// Strips stacked 802.1Q / 802.1ad / QinQ (0x9100) tags.
#[inline]
fn vlans(l: &mut Link<'_>) -> Result<(), DecodeError> {
    let mut n = 0;
    while matches!(l.ethertype, 0x8100 | 0x88a8 | 0x9100) {
        if n == MAX_VLAN_TAGS {
            return Err(DecodeError::Malformed {
                layer: "vlan",
                what: "too many stacked tags",
            });
        }
        let tci = be16(l.rest, 0).ok_or(trunc("vlan"))?;
        let et = be16(l.rest, 2).ok_or(trunc("vlan"))?;
        let id = tci & 0x0fff;
        if l.vlan.is_none() {
            l.vlan = Some(id);
        } else {
            l.inner_vlan = Some(id);
        }
        l.ethertype = et;
        l.rest = l.rest.get(4..).unwrap_or_default();
        n += 1;
    }
    Ok(())
}

fn ipv4<'a>(l: &Link<'a>) -> Result<Decoded<'a>, DecodeError> {
    let b = l.rest;
    let hdr: &[u8; 20] = b.get(..20).and_then(|s| s.try_into().ok()).ok_or(trunc("ipv4"))?;
    if hdr[0] >> 4 != 4 {
        return Err(DecodeError::Malformed {
            layer: "ipv4",
            what: "version",
        });
    }
    let ihl = usize::from(hdr[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(DecodeError::Malformed {
            layer: "ipv4",
            what: "header length below 20",
        });
    }
    if b.len() < ihl {
        return Err(trunc("ipv4"));
    }
    let declared = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    // Captures taken before TCP segmentation offload show a total length of 0.
    let total = if declared == 0 { b.len() } else { declared };
    if total < ihl {
        return Err(DecodeError::Malformed {
            layer: "ipv4",
            what: "total length below header length",
        });
    }
    let frag = u16::from_be_bytes([hdr[6], hdr[7]]);
    let offset = frag & 0x1fff;
    let more = frag & 0x2000 != 0;
    let fragment = match (offset, more) {
        (0, false) => Fragment::None,
        (0, true) => Fragment::First,
        _ => Fragment::Later,
    };
    let proto = hdr[9];
    let src = IpAddr::V4(Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19]));
    // Ethernet padding beyond the declared length is not payload.
    let end = total.min(b.len());
    let payload = b.get(ihl..end).unwrap_or_default();
    finish(
        l,
        src,
        dst,
        u32::try_from(total).unwrap_or(u32::MAX),
        fragment,
        b.len() < total,
        proto,
        payload,
        total - ihl,
    )
}

fn ipv6<'a>(l: &Link<'a>) -> Result<Decoded<'a>, DecodeError> {
    let b = l.rest;
    let hdr: &[u8; 40] = b.get(..40).and_then(|s| s.try_into().ok()).ok_or(trunc("ipv6"))?;
    if hdr[0] >> 4 != 6 {
        return Err(DecodeError::Malformed {
            layer: "ipv6",
            what: "version",
        });
    }
    let declared = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    // 0 means a jumbogram or a TSO capture: use what was captured.
    let plen = if declared == 0 { b.len() - 40 } else { declared };
    let total = 40 + plen;
    let mut next = hdr[6];
    let src_b: [u8; 16] = hdr[8..24].try_into().map_err(|_| trunc("ipv6"))?;
    let dst_b: [u8; 16] = hdr[24..40].try_into().map_err(|_| trunc("ipv6"))?;
    let end = total.min(b.len());
    let mut at = 40usize;
    let mut fragment = Fragment::None;
    let mut n = 0;
    // Extension headers: hop-by-hop, routing, destination options, fragment, AH.
    while matches!(next, 0 | 43 | 44 | 51 | 60) {
        if n == MAX_EXT_HEADERS {
            return Err(DecodeError::Malformed {
                layer: "ipv6",
                what: "too many extension headers",
            });
        }
        n += 1;
        let h = b
            .get(at..at + 8)
            .filter(|_| at + 8 <= end)
            .ok_or(trunc("ipv6 extension"))?;
        let (nh, len) = match next {
            44 => {
                let off_flags = u16::from_be_bytes([h[2], h[3]]);
                fragment = match (off_flags >> 3, off_flags & 1 != 0) {
                    (0, false) => fragment,
                    (0, true) => Fragment::First,
                    _ => Fragment::Later,
                };
                (h[0], 8)
            }
            51 => (h[0], (usize::from(h[1]) + 2) * 4),
            _ => (h[0], (usize::from(h[1]) + 1) * 8),
        };
        next = nh;
        at += len;
        if at > end {
            return Err(trunc("ipv6 extension"));
        }
        if fragment == Fragment::Later {
            break;
        }
    }
    let payload = b.get(at..end).unwrap_or_default();
    finish(
        l,
        IpAddr::V6(Ipv6Addr::from(src_b)),
        IpAddr::V6(Ipv6Addr::from(dst_b)),
        u32::try_from(total).unwrap_or(u32::MAX),
        fragment,
        b.len() < total,
        next,
        payload,
        total.saturating_sub(at),
    )
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn finish<'a>(
    l: &Link<'a>,
    src: IpAddr,
    dst: IpAddr,
    ip_bytes: u32,
    fragment: Fragment,
    truncated: bool,
    proto: u8,
    p: &'a [u8],
    l4_declared: usize,
) -> Result<Decoded<'a>, DecodeError> {
    let mut l4_len = 0usize;
    let l4 = if fragment == Fragment::Later {
        L4::Fragment { proto }
    } else {
        match proto {
            ipproto::TCP => {
                let h: &[u8; 20] = p.get(..20).and_then(|s| s.try_into().ok()).ok_or(trunc("tcp"))?;
                let doff = usize::from(h[12] >> 4) * 4;
                if doff < 20 {
                    return Err(DecodeError::Malformed {
                        layer: "tcp",
                        what: "data offset below 20",
                    });
                }
                let payload = p.get(doff..).ok_or(trunc("tcp"))?;
                l4_len = l4_declared.saturating_sub(doff);
                L4::Tcp(Tcp {
                    sport: u16::from_be_bytes([h[0], h[1]]),
                    dport: u16::from_be_bytes([h[2], h[3]]),
                    seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
                    flags: h[13],
                    payload,
                })
            }
            ipproto::UDP => {
                let h: &[u8; 8] = p.get(..8).and_then(|s| s.try_into().ok()).ok_or(trunc("udp"))?;
                let ulen = usize::from(u16::from_be_bytes([h[4], h[5]]));
                // Trust the UDP length only when it is sane; else the IP length bounds it.
                let end = if (8..=p.len()).contains(&ulen) {
                    ulen
                } else {
                    p.len()
                };
                l4_len = if (8..=l4_declared).contains(&ulen) {
                    ulen - 8
                } else {
                    l4_declared.saturating_sub(8)
                };
                L4::Udp {
                    sport: u16::from_be_bytes([h[0], h[1]]),
                    dport: u16::from_be_bytes([h[2], h[3]]),
                    payload: p.get(8..end).unwrap_or_default(),
                }
            }
            proto => L4::Other { proto },
        }
    };
    Ok(Decoded {
        src_mac: l.src_mac,
        dst_mac: l.dst_mac,
        vlan: l.vlan,
        inner_vlan: l.inner_vlan,
        src,
        dst,
        ip_bytes,
        fragment,
        truncated,
        l4_len: u32::try_from(l4_len).unwrap_or(u32::MAX),
        l4,
    })
}

/// Frame builders shared by the tests of this crate.
#[cfg(test)]
pub(crate) mod build {
    /// IPv4 + TCP with the given flags, seq/ack and payload (no options).
    pub fn ipv4_tcp(
        (src, sport): ([u8; 4], u16),
        (dst, dport): ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut v = Vec::with_capacity(40 + payload.len());
        let total = (40 + payload.len()) as u16;
        v.extend_from_slice(&[0x45, 0]);
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ack.to_be_bytes());
        v.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    /// Ethernet II header for the ethertype, then `l3`.
    pub fn eth(ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(l3);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    type Case<'a> = (u32, &'a [u8], Option<[u8; 6]>);

    fn tcp_frame() -> Vec<u8> {
        eth(
            0x0800,
            &ipv4_tcp(
                ([10, 0, 0, 1], 40000),
                ([10, 0, 0, 2], 3333),
                7,
                9,
                Tcp::PSH | Tcp::ACK,
                b"hi\n",
            ),
        )
    }

    fn tcp_of(d: &Decoded<'_>) -> Tcp<'static> {
        match d.l4 {
            L4::Tcp(t) => Tcp {
                payload: Vec::leak(t.payload.to_vec()),
                ..t
            },
            other => panic!("not tcp: {other:?}"),
        }
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let f = tcp_frame();
        let d = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!(d.src_mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(d.dst_mac, Some([2, 0, 0, 0, 0, 2]));
        assert_eq!(d.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(d.ip_bytes, 43);
        assert_eq!(d.l4_len, 3);
        assert!(!d.truncated);
        let t = tcp_of(&d);
        assert_eq!(
            (t.sport, t.dport, t.seq, t.ack, t.flags, t.payload),
            (40000, 3333, 7, 9, 0x18, &b"hi\n"[..])
        );
    }

    #[test]
    fn every_link_type() {
        let ip = ipv4_tcp(([1, 2, 3, 4], 1), ([5, 6, 7, 8], 2), 0, 0, Tcp::SYN, b"");
        let mut sll = vec![0, 0, 0, 1, 0, 6, 9, 9, 9, 9, 9, 9, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 8, 8, 8, 8, 8, 8, 0, 0];
        sll2.extend_from_slice(&ip);
        let mut null_le = vec![2, 0, 0, 0];
        null_le.extend_from_slice(&ip);
        let mut null_be = vec![0, 0, 0, 2];
        null_be.extend_from_slice(&ip);
        let mut lo = vec![0, 0, 0, 2];
        lo.extend_from_slice(&ip);
        let cases: [Case<'_>; 9] = [
            (linktype::ETHERNET, &eth(0x0800, &ip), Some([2, 0, 0, 0, 0, 1])),
            (linktype::LINUX_SLL, &sll, Some([9; 6])),
            (linktype::LINUX_SLL2, &sll2, Some([8; 6])),
            (linktype::RAW, &ip, None),
            (linktype::RAW_BSD, &ip, None),
            (linktype::IPV4, &ip, None),
            (linktype::NULL, &null_le, None),
            (linktype::NULL, &null_be, None),
            (linktype::LOOP, &lo, None),
        ];
        for (lt, frame, src_mac) in cases {
            let d = decode(lt, frame).unwrap_or_else(|e| panic!("{lt}: {e}"));
            assert_eq!(d.src_mac, src_mac, "{lt}");
            assert_eq!(d.dst, "5.6.7.8".parse::<IpAddr>().unwrap(), "{lt}");
            assert!(matches!(d.l4, L4::Tcp(Tcp { flags: Tcp::SYN, .. })), "{lt}");
        }
        assert_eq!(
            decode(linktype::IPV6, &ip),
            Err(DecodeError::Malformed {
                layer: "ip",
                what: "version"
            })
        );
        assert_eq!(decode(147, &ip), Err(DecodeError::UnsupportedLinkType(147)));
    }

    #[test]
    fn vlan_stack_and_arp() {
        let ip = ipv4_tcp(([1, 2, 3, 4], 1), ([5, 6, 7, 8], 2), 0, 0, 0, b"");
        let mut tagged = vec![0x00, 0x64, 0x81, 0x00, 0x20, 0xc8, 0x08, 0x00]; // S-tag 100, C-tag 200 (prio 1)
        tagged.extend_from_slice(&ip);
        let f = eth(0x88a8, &tagged);
        let d = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!((d.vlan, d.inner_vlan), (Some(100), Some(200)));
        let arp = eth(0x0806, &[0; 28]);
        assert_eq!(
            decode(linktype::ETHERNET, &arp),
            Err(DecodeError::NotIp { ethertype: 0x0806 })
        );
        let many = eth(0x8100, &[0, 1, 0x81, 0].repeat(20));
        assert!(matches!(
            decode(linktype::ETHERNET, &many),
            Err(DecodeError::Malformed { layer: "vlan", .. })
        ));
    }

    #[test]
    fn ipv4_options_fragments_and_padding() {
        // IHL 6 (4 bytes of options), UDP.
        let mut ip = vec![
            0x46, 0, 0, 36, 0, 1, 0x20, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1,
        ];
        ip.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd']);
        ip.extend_from_slice(&[0; 6]); // ethernet padding
        let f = eth(0x0800, &ip);
        let d = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!(d.fragment, Fragment::First);
        assert_eq!(
            d.l4,
            L4::Udp {
                sport: 5000,
                dport: 53,
                payload: b"abcd"
            }
        );
        assert_eq!(d.l4_len, 4);
        ip[6] = 0x20;
        ip[7] = 0x10; // offset 16 * 8
        let f = eth(0x0800, &ip);
        let d = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!((d.fragment, d.l4), (Fragment::Later, L4::Fragment { proto: 17 }));
        ip[6] = 0;
        let f = eth(0x0800, &ip);
        let d = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!(d.fragment, Fragment::Later, "last fragment: offset, no MF");
        ip[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert!(matches!(
            decode(linktype::ETHERNET, &eth(0x0800, &ip)),
            Err(DecodeError::Malformed { layer: "ipv4", .. })
        ));
    }

    #[test]
    fn ipv6_extension_headers_and_fragments() {
        let tcp = &ipv4_tcp(([0; 4], 443), ([0; 4], 50000), 1, 2, Tcp::ACK, b"xyz")[20..];
        let mut ext = vec![44, 0, 0, 0, 0, 0, 0, 0]; // hop-by-hop, next: fragment
        ext.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 9]); // fragment offset 0, M=1, next: TCP
        let plen = (ext.len() + tcp.len()) as u16;
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&plen.to_be_bytes());
        ip.extend_from_slice(&[0, 64]); // next: hop-by-hop
        ip.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let hdr_len = ip.len();
        ip.extend_from_slice(&ext);
        ip.extend_from_slice(tcp);
        let d = decode(linktype::RAW, &ip).unwrap();
        assert_eq!(d.src, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(d.fragment, Fragment::First);
        assert_eq!(d.ip_bytes as usize, ip.len());
        assert_eq!(tcp_of(&d).payload, b"xyz");
        ip[hdr_len + 8 + 3] = 0x11; // offset 2, M=1
        let d = decode(linktype::RAW, &ip).unwrap();
        assert_eq!(d.l4, L4::Fragment { proto: 6 });
    }

    #[test]
    fn tcp_options_are_skipped_and_icmp_is_other() {
        let mut ip = ipv4_tcp(([1, 1, 1, 1], 1), ([2, 2, 2, 2], 2), 0, 0, Tcp::SYN, b"");
        ip[32] = 0x80; // data offset 8: 12 bytes of options
        ip.extend_from_slice(&[2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 1, 1, 0]);
        ip.extend_from_slice(b"data");
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let d = decode(linktype::RAW, &ip).unwrap();
        assert_eq!(tcp_of(&d).payload, b"data");
        ip[9] = 1;
        assert_eq!(decode(linktype::RAW, &ip).unwrap().l4, L4::Other { proto: 1 });
    }

    #[test]
    fn truncated_at_every_length() {
        let f = tcp_frame();
        for n in 0..f.len() {
            let r = decode(linktype::ETHERNET, &f[..n]);
            match n {
                0..14 => assert_eq!(r, Err(trunc("ethernet")), "{n}"),
                14..34 => assert_eq!(r, Err(trunc("ipv4")), "{n}"),
                34..54 => assert_eq!(r, Err(trunc("tcp")), "{n}"),
                _ => {
                    let d = r.unwrap();
                    assert!(d.truncated);
                    assert_eq!(d.l4_len, 3);
                    assert_eq!(tcp_of(&d).payload, &b"hi\n"[..n - 54]);
                }
            }
        }
        // And every other link type, cut anywhere, errs or decodes without panicking.
        for lt in [0, 12, 101, 108, 113, 228, 229, 276] {
            for n in 0..f.len() {
                let _ = decode(lt, &f[..n]);
            }
        }
    }
}
