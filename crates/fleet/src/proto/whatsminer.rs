//! MicroBT Whatsminer (btminer) API specifics: the v2 token and AES-256-ECB envelope, and the
//! v3 length-prefixed framing on TCP 4433.
//!
//! v2 (Whatsminer API V2.0.5 document; pyasic and asic-rs agree): `get_token` answers
//! `Msg: {time, salt, newsalt}` without a password. With the admin password `pwd`:
//! `key = md5crypt(pwd, salt)` hash part; `sign = md5crypt(key + time, newsalt)` hash part;
//! a request is `{"enc":1,"data":base64(AES-256-ECB(sha256(key), zero-padded JSON))}` whose
//! JSON carries `"token": sign`. A device on the default password therefore accepts requests
//! from anyone on the LAN who knows that password — which is what hashward checks, opt-in,
//! with a read-only command.
//!
//! v3: every frame is a 4-byte little-endian length then JSON, in both directions.

use aes::Aes256;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The hash part (after the third `$`) of `md5crypt(password, salt)`.
pub fn md5crypt_hash(password: &str, salt: &str) -> String {
    let full = md5crypt::md5crypt(password.as_bytes(), salt.as_bytes());
    let full = String::from_utf8_lossy(&full).into_owned();
    full.split('$').nth(3).unwrap_or_default().to_string()
}

/// The session derived from a `get_token` reply and a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// AES-256 key: sha256 of the password's md5crypt hash part.
    pub key: [u8; 32],
    /// The token placed in every encrypted request.
    pub sign: String,
}

impl Session {
    /// Derive from the password and the `get_token` fields.
    pub fn derive(password: &str, salt: &str, newsalt: &str, time: &str) -> Session {
        let host_passwd = md5crypt_hash(password, salt);
        let sign = md5crypt_hash(&format!("{host_passwd}{time}"), newsalt);
        Session {
            key: Sha256::digest(host_passwd.as_bytes()).into(),
            sign,
        }
    }

    /// The encrypted request for `cmd` (a read-only command name): the JSON line to send.
    pub fn request(&self, cmd: &str) -> String {
        let inner = serde_json::json!({"cmd": cmd, "token": self.sign}).to_string();
        let data = base64::engine::general_purpose::STANDARD.encode(encrypt(&self.key, inner.as_bytes()));
        serde_json::json!({"enc": 1, "data": data}).to_string()
    }

    /// Decrypt an `{"enc":"…"}` reply; `None` if it is not one or does not decrypt to JSON.
    pub fn open_reply(&self, reply: &serde_json::Value) -> Option<serde_json::Value> {
        let b64 = reply.get("enc")?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let plain = decrypt(&self.key, &bytes)?;
        let end = plain.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        serde_json::from_slice(&plain[..end]).ok()
    }
}

/// AES-256-ECB with zero padding to the block size (as btminer expects).
pub fn encrypt(key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let cipher = Aes256::new(key.into());
    let mut out = plain.to_vec();
    let padded = out.len().div_ceil(16).max(1) * 16;
    out.resize(padded, 0);
    let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut out);
    cipher.encrypt_blocks(blocks);
    out
}

/// AES-256-ECB decryption; `None` when the length is not a whole number of blocks.
pub fn decrypt(key: &[u8; 32], data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    let cipher = Aes256::new(key.into());
    let mut out = data.to_vec();
    let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut out);
    cipher.decrypt_blocks(blocks);
    Some(out)
}

/// A v3 frame: 4-byte little-endian length, then the JSON.
pub fn v3_frame(json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 4);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out
}

/// A complete v3 frame's payload from `buf`: `Ok(None)` when more bytes are needed, `Err` with
/// the declared length when it exceeds `max`.
pub fn v3_unframe(buf: &[u8], max: usize) -> Result<Option<&[u8]>, usize> {
    let Some(len) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > max {
        return Err(len);
    }
    Ok(buf.get(4..4 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers made with OpenSSL, independently of this code:
    /// `openssl passwd -1 -salt BQ5hoXV9 admin` → `$1$BQ5hoXV9$RxmaDUO33TS7O26yeMHZ81`.
    #[test]
    fn md5crypt_matches_openssl() {
        assert_eq!(md5crypt_hash("admin", "BQ5hoXV9"), "RxmaDUO33TS7O26yeMHZ81");
    }

    /// `printf '%s' RxmaDUO33TS7O26yeMHZ81 | sha256sum` gives the key, and
    /// `printf 'hashward-whatsminer-test' | openssl enc -aes-256-ecb -nopad -K <key> | base64`
    /// after zero-padding the input to 32 bytes.
    #[test]
    fn aes_ecb_matches_openssl() {
        let s = Session::derive("admin", "BQ5hoXV9", "x", "1");
        assert_eq!(
            hex::encode(s.key),
            "199e0a202039bb7b558db7a54697dca29cb278055b7e659a127fb844d5a2fbf6"
        );
        let mut plain = b"hashward-whatsminer-test".to_vec();
        plain.resize(32, 0);
        let enc = encrypt(&s.key, &plain);
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(&enc),
            "vGUDYlOQFgTg3M45bjucqWsCr26IPgjOFY4107tgxT0="
        );
        assert_eq!(decrypt(&s.key, &enc).unwrap(), plain);
    }

    #[test]
    fn encrypted_requests_round_trip() {
        let s = Session::derive("admin", "saltsalt", "newsalt1", "1700000000");
        let req: serde_json::Value = serde_json::from_str(&s.request("get_miner_info")).unwrap();
        assert_eq!(req["enc"], 1);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(req["data"].as_str().unwrap())
            .unwrap();
        let inner = decrypt(&s.key, &bytes).unwrap();
        let end = inner.iter().rposition(|b| *b != 0).unwrap() + 1;
        let inner: serde_json::Value = serde_json::from_slice(&inner[..end]).unwrap();
        assert_eq!(inner["cmd"], "get_miner_info");
        assert_eq!(inner["token"], s.sign.as_str());
        // A reply encrypted with the same key opens; with another password it does not.
        let reply = serde_json::json!({"enc": base64::engine::general_purpose::STANDARD.encode(encrypt(&s.key, br#"{"STATUS":"S","Code":131}"#))});
        assert_eq!(s.open_reply(&reply).unwrap()["Code"], 131);
        let other = Session::derive("not-admin", "saltsalt", "newsalt1", "1700000000");
        assert!(other.open_reply(&reply).is_none());
        assert!(decrypt(&s.key, &[0; 15]).is_none());
    }

    #[test]
    fn v3_frames() {
        let f = v3_frame(r#"{"cmd":"get.device.info"}"#);
        assert_eq!(&f[..4], &25u32.to_le_bytes());
        assert_eq!(v3_unframe(&f, 1 << 20), Ok(Some(&f[4..])));
        assert_eq!(v3_unframe(&f[..10], 1 << 20), Ok(None));
        assert_eq!(v3_unframe(&[0xff, 0xff, 0xff, 0x7f], 1 << 20), Err(0x7fff_ffff));
        assert_eq!(v3_unframe(&[1], 9), Ok(None));
    }
}
