//! The small cryptography the devices use: md5-crypt, AES-256-ECB with zero padding, digests.
//!
//! md5-crypt (`$1$`, Poul-Henning Kamp's FreeBSD scheme, what `openssl passwd -1` computes) is written here
//! from the published algorithm rather than taken from a crate: the candidates (`md5crypt`, `pwhash`) pull
//! in an older generation of the RustCrypto digests next to the workspace's, for forty lines of code that
//! the tests pin against `openssl` known-answer values. ECB is likewise just the block cipher applied per
//! 16-byte block, so only the `aes` crate is needed.

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes256, Block};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha2::Sha256;

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `md5crypt(password, salt)` → `$1$salt$hash` (the salt is cut at 8 characters or a `$`).
pub(crate) fn md5_crypt(password: &[u8], salt: &str) -> String {
    let salt = salt.strip_prefix("$1$").unwrap_or(salt);
    let salt = salt.split('$').next().unwrap_or("");
    let salt: &[u8] = &salt.as_bytes()[..salt.len().min(8)];
    let mut alt = Md5::new();
    alt.update(password);
    alt.update(salt);
    alt.update(password);
    let alt = alt.finalize();
    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(b"$1$");
    ctx.update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    // The scheme's odd step: a NUL for each set bit, the first password byte for each clear one.
    let mut i = password.len();
    while i != 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin: [u8; 16] = ctx.finalize().into();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize().into();
    }
    let mut out = String::with_capacity(22);
    let mut to64 = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(char::from(ITOA64[(v & 0x3f) as usize]));
            v >>= 6;
        }
    };
    let f = |i: usize| u32::from(fin[i]);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64((f(a) << 16) | (f(b) << 8) | f(c), 4);
    }
    to64(f(11), 2);
    format!("$1${}${}", String::from_utf8_lossy(salt), out)
}

/// The hash part of md5-crypt (what Whatsminer calls `host_passwd_md5` / `host_sign`).
pub(crate) fn md5_crypt_hash(password: &[u8], salt: &str) -> String {
    let full = md5_crypt(password, salt);
    full.rsplit('$').next().unwrap_or("").to_owned()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lower-case hex MD5 of `data` (HTTP digest).
pub(crate) fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Standard base64 with padding.
pub(crate) fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decode standard base64, tolerating embedded newlines (Python's `encodebytes` wraps lines).
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

/// AES-256-ECB over `data` zero-padded to a whole number of blocks (nothing added when already whole).
pub(crate) fn aes_ecb_encrypt(key: &[u8; 32], data: &[u8]) -> Vec<u8> {
    let cipher = Aes256::new(&(*key).into());
    let mut buf = data.to_vec();
    buf.resize(data.len().div_ceil(16) * 16, 0);
    for chunk in buf.chunks_exact_mut(16) {
        let mut block = Block::default();
        block.copy_from_slice(chunk);
        cipher.encrypt_block(&mut block);
        chunk.copy_from_slice(&block);
    }
    buf
}

/// AES-256-ECB decryption with trailing zero bytes stripped; `None` when not whole blocks.
pub(crate) fn aes_ecb_decrypt(key: &[u8; 32], data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    let cipher = Aes256::new(&(*key).into());
    let mut buf = data.to_vec();
    for chunk in buf.chunks_exact_mut(16) {
        let mut block = Block::default();
        block.copy_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        chunk.copy_from_slice(&block);
    }
    while buf.last() == Some(&0) {
        buf.pop();
    }
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers from `openssl passwd -1 -salt SALT PASSWORD` (OpenSSL 3).
    #[test]
    fn md5_crypt_matches_openssl() {
        assert_eq!(
            md5_crypt(b"admin", "BQ5hoXV9"),
            "$1$BQ5hoXV9$RxmaDUO33TS7O26yeMHZ81"
        );
        assert_eq!(md5_crypt(b"", "abc"), "$1$abc$Or2rbeUYTvt12aiVzMuS/.");
        assert_eq!(
            md5_crypt(b"a much longer password than sixteen bytes", "$1$saltsalt$"),
            "$1$saltsalt$kL1Bms5vqNqrS8fEEnfCW1"
        );
    }

    #[test]
    fn ecb_round_trip_and_padding() {
        let key = sha256(b"k");
        let c = aes_ecb_encrypt(&key, b"hello");
        assert_eq!(c.len(), 16);
        assert_eq!(aes_ecb_decrypt(&key, &c).unwrap(), b"hello");
        assert_eq!(aes_ecb_encrypt(&key, &[1u8; 32]).len(), 32);
        assert!(aes_ecb_decrypt(&key, &c[..15]).is_none());
    }
}
