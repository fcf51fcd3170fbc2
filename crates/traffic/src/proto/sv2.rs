//! Stratum V2 on the wire: the plaintext frame header, `SetupConnection` and `Reconnect`
//! (seen on-site where devices talk to a local proxy without encryption), and the shape of the
//! Noise NX handshake that starts an encrypted session.
//!
//! Source: `stratum-mining/sv2-spec` (0f38d51) `03-Protocol-Overview.md` (frame header, data
//! types: integers little-endian, `STR0_255` = 1-byte length + UTF-8), `08-Message-Types.md`
//! (SetupConnection 0x00, Reconnect 0x04), `04-Protocol-Security.md` and SRI `noise_sv2` (Noise
//! act sizes); traffic brief §4.4.

use super::{ProtoError, lossy, malformed, truncated};

/// First client payload of a Noise NX handshake: the EllSwift-encoded ephemeral key.
pub const NOISE_ACT1_LEN: usize = 64;
/// First server payload: 64 (EllSwift ephemeral) + 80 (encrypted static key + MAC) + 90
/// (encrypted 74-byte signature noise message + MAC). The spec prose still says 170 (32-byte
/// keys); the SRI constant is 234.
pub const NOISE_ACT2_LEN: usize = 234;
/// `SetupConnection` message type.
pub const MSG_SETUP_CONNECTION: u8 = 0x00;
/// `Reconnect` message type.
pub const MSG_RECONNECT: u8 = 0x04;
/// Longest possible `SetupConnection` payload: 9 fixed bytes, five `STR0_255`, one port.
const MAX_SETUP_LEN: u32 = 9 + 5 * 256 + 2;

/// A plaintext SV2 frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The extension type without the `channel_msg` bit (0 = core protocol).
    pub extension_type: u16,
    /// The most significant bit of the extension type: the payload starts with a channel id.
    pub channel_msg: bool,
    /// The message type.
    pub msg_type: u8,
    /// Payload length (24 bits).
    pub length: u32,
}

/// The 6-byte little-endian frame header at the start of `b` (`None` when shorter).
pub fn frame_header(b: &[u8]) -> Option<FrameHeader> {
    let [e0, e1, t, l0, l1, l2, ..] = *b else {
        return None;
    };
    let ext = u16::from_le_bytes([e0, e1]);
    Some(FrameHeader {
        extension_type: ext & 0x7fff,
        channel_msg: ext & 0x8000 != 0,
        msg_type: t,
        length: u32::from_le_bytes([l0, l1, l2, 0]),
    })
}

/// A `SetupConnection` (the first message of every SV2 connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupConnection {
    /// 0 Mining, 1 Job Declaration, 2 Template Distribution.
    pub protocol: u8,
    /// Lowest protocol version supported (2).
    pub min_version: u16,
    /// Highest protocol version supported (2).
    pub max_version: u16,
    /// Feature flags (meaning depends on `protocol`).
    pub flags: u32,
    /// The host the client connected to, as it believes.
    pub endpoint_host: String,
    /// The port the client connected to.
    pub endpoint_port: u16,
    /// Device vendor ("Bitmain").
    pub vendor: String,
    /// Hardware version ("S9i 13.5").
    pub hardware_version: String,
    /// Firmware ("braiins-os-2018-09-22-1-hash").
    pub firmware: String,
    /// Device id as configured by the operator.
    pub device_id: String,
}

/// Reads a plaintext `SetupConnection` frame at the start of a client stream.
///
/// `Ok(None)`: the bytes do not have its shape (header `00 00 00 LL LL LL`, protocol 0..=2,
/// versions 2); `Err(Truncated)`: they do, but the frame is not complete yet; `Err(Malformed)`:
/// a string overruns the frame.
pub fn setup_connection(data: &[u8]) -> Result<Option<SetupConnection>, ProtoError> {
    let Some(h) = frame_header(data) else {
        return Ok(None);
    };
    if h.extension_type != 0
        || h.channel_msg
        || h.msg_type != MSG_SETUP_CONNECTION
        || !(15..=MAX_SETUP_LEN).contains(&h.length)
    {
        return Ok(None);
    }
    let payload = data.get(6..).unwrap_or_default();
    // protocol, min_version, max_version: decide the shape on what is there.
    match payload {
        [p, ..] if *p > 2 => return Ok(None),
        [_, a, b, ..] if u16::from_le_bytes([*a, *b]) != 2 => return Ok(None),
        [_, _, _, a, b, ..] if u16::from_le_bytes([*a, *b]) != 2 => return Ok(None),
        _ => {}
    }
    let len = h.length as usize;
    let Some(payload) = payload.get(..len) else {
        return Err(truncated("sv2 SetupConnection frame"));
    };
    let mut r = Le(payload);
    let protocol = r.u8()?;
    let min_version = r.u16()?;
    let max_version = r.u16()?;
    let flags = r.u32()?;
    let endpoint_host = r.str0_255()?;
    let endpoint_port = r.u16()?;
    let vendor = r.str0_255()?;
    let hardware_version = r.str0_255()?;
    let firmware = r.str0_255()?;
    let device_id = r.str0_255()?;
    Ok(Some(SetupConnection {
        protocol,
        min_version,
        max_version,
        flags,
        endpoint_host,
        endpoint_port,
        vendor,
        hardware_version,
        firmware,
        device_id,
    }))
}

/// A plaintext `Reconnect` (0x04) frame at the start of `data`: (new_host, new_port). An empty
/// host means "the same host" in the spec. In SV2 the new server must present a certificate
/// signed by the same pool authority, so unlike V1 this cannot send hashrate anywhere.
pub fn reconnect(data: &[u8]) -> Option<(String, u16)> {
    let h = frame_header(data)?;
    if h.extension_type != 0 || h.channel_msg || h.msg_type != MSG_RECONNECT {
        return None;
    }
    let payload = data.get(6..6 + h.length as usize)?;
    let mut r = Le(payload);
    let host = r.str0_255().ok()?;
    let port = r.u16().ok()?;
    r.0.is_empty().then_some((host, port))
}

/// Noise NX handshake shape: first client payload exactly 64 high-entropy bytes (no TLS
/// header), first server payload exactly 234 bytes.
///
/// "High entropy" = at least 44 distinct byte values among the 64 (uniformly random bytes give
/// 56.6 on average with a standard deviation near 2.4; text, JSON or a plaintext frame header
/// stay far below).
pub fn noise_handshake_shape(first_client: &[u8], first_server_len: usize) -> bool {
    if first_client.len() != NOISE_ACT1_LEN
        || first_server_len != NOISE_ACT2_LEN
        || matches!(first_client, [0x16, 0x03, ..])
    {
        return false;
    }
    let mut seen = [false; 256];
    for b in first_client {
        seen[usize::from(*b)] = true;
    }
    seen.iter().filter(|s| **s).count() >= 44
}

/// A little-endian reader over an SV2 payload.
struct Le<'a>(&'a [u8]);

impl<'a> Le<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.0.len() < n {
            return Err(malformed("sv2 field overruns the frame"));
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn u16(&mut self) -> Result<u16, ProtoError> {
        let b = self.take(2)?.try_into().map_err(|_| malformed("sv2 u16"))?;
        Ok(u16::from_le_bytes(b))
    }
    fn u32(&mut self) -> Result<u32, ProtoError> {
        let b = self.take(4)?.try_into().map_err(|_| malformed("sv2 u32"))?;
        Ok(u32::from_le_bytes(b))
    }
    fn str0_255(&mut self) -> Result<String, ProtoError> {
        let n = usize::from(self.u8()?);
        Ok(lossy(self.take(n)?, 255))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str0(s: &str) -> Vec<u8> {
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn frame(ext: u16, msg_type: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = ext.to_le_bytes().to_vec();
        f.push(msg_type);
        f.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]);
        f.extend_from_slice(payload);
        f
    }

    /// The SetupConnection example of the brief (§3.3 item 5): a Braiins OS S9i.
    fn setup_frame() -> Vec<u8> {
        let mut p = vec![0]; // protocol: Mining
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&0x0000_0001u32.to_le_bytes()); // REQUIRES_STANDARD_JOBS
        p.extend(str0("v2.stratum.braiins.com"));
        p.extend_from_slice(&3336u16.to_le_bytes());
        p.extend(str0("Bitmain"));
        p.extend(str0("S9i 13.5"));
        p.extend(str0("braiins-os-2018-09-22-1-hash"));
        p.extend(str0("some-device-uuid"));
        frame(0, MSG_SETUP_CONNECTION, &p)
    }

    #[test]
    fn header_fields() {
        assert_eq!(
            frame_header(&[0x00, 0x80, 0x15, 0x2a, 0x01, 0x00]),
            Some(FrameHeader {
                extension_type: 0,
                channel_msg: true,
                msg_type: 0x15,
                length: 0x012a
            })
        );
        assert_eq!(frame_header(&[0; 5]), None);
    }

    #[test]
    fn setup_connection_from_a_braiins_s9i() {
        let f = setup_frame();
        // The brief's detection prefix: 00 00 00 LL LL LL, protocol, 02 00 02 00.
        assert_eq!(&f[..3], &[0, 0, 0]);
        assert_eq!(&f[7..11], &[2, 0, 2, 0]);
        let s = setup_connection(&f).unwrap().unwrap();
        assert_eq!(
            s,
            SetupConnection {
                protocol: 0,
                min_version: 2,
                max_version: 2,
                flags: 1,
                endpoint_host: "v2.stratum.braiins.com".into(),
                endpoint_port: 3336,
                vendor: "Bitmain".into(),
                hardware_version: "S9i 13.5".into(),
                firmware: "braiins-os-2018-09-22-1-hash".into(),
                device_id: "some-device-uuid".into(),
            }
        );
        // Followed by more frames: fine.
        let mut more = f.clone();
        more.extend(frame(0, 0x10, &[1, 2, 3]));
        assert!(setup_connection(&more).unwrap().is_some());
        // Every prefix: not yet / truncated, never a panic.
        for n in 0..f.len() {
            match setup_connection(&f[..n]) {
                Ok(None) => assert!(n < 6, "prefix {n}"),
                Err(ProtoError::Truncated { .. }) => {}
                other => panic!("prefix {n}: {other:?}"),
            }
        }
    }

    #[test]
    fn not_setup_connection() {
        assert_eq!(
            setup_connection(b"{\"id\":1,\"method\":\"mining.subscribe\"}"),
            Ok(None)
        );
        assert_eq!(
            setup_connection(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x01]),
            Ok(None)
        );
        let mut f = setup_frame();
        f[6] = 3; // protocol 3
        assert_eq!(setup_connection(&f), Ok(None));
        let mut f = setup_frame();
        f[7] = 1; // min_version 1
        assert_eq!(setup_connection(&f), Ok(None));
        // A string length running past the frame.
        let mut f = setup_frame();
        f[15] = 250;
        assert!(matches!(setup_connection(&f), Err(ProtoError::Malformed { .. })));
    }

    #[test]
    fn reconnect_frames() {
        let mut p = str0("eu.v2.pool.example");
        p.extend_from_slice(&34254u16.to_le_bytes());
        assert_eq!(
            reconnect(&frame(0, MSG_RECONNECT, &p)),
            Some(("eu.v2.pool.example".into(), 34254))
        );
        assert_eq!(reconnect(&frame(0, MSG_RECONNECT, &p[..p.len() - 1])), None);
        assert_eq!(reconnect(&frame(0, 0x05, &p)), None);
        assert_eq!(reconnect(&frame(0x8000, MSG_RECONNECT, &p)), None);
        assert_eq!(reconnect(&frame(0, MSG_RECONNECT, &p)[..10]), None);
    }

    #[test]
    fn noise_shape() {
        // Pseudo-random 64 bytes (xorshift), as an EllSwift key looks.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let random: Vec<u8> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(noise_handshake_shape(&random, NOISE_ACT2_LEN));
        // Wrong server size (the spec's stale 170), wrong client size.
        assert!(!noise_handshake_shape(&random, 170));
        assert!(!noise_handshake_shape(&random[..63], NOISE_ACT2_LEN));
        // A 64-byte TLS record.
        let mut tls = random.clone();
        tls[..5].copy_from_slice(&[0x16, 0x03, 0x01, 0x00, 0x3b]);
        assert!(!noise_handshake_shape(&tls, NOISE_ACT2_LEN));
        // Low entropy: zeros, and 64 bytes of JSON.
        assert!(!noise_handshake_shape(&[0u8; 64], NOISE_ACT2_LEN));
        let json = b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"cgminer/4.11\"]}\r\n";
        assert_eq!(json.len(), 64);
        assert!(!noise_handshake_shape(json, NOISE_ACT2_LEN));
    }
}
