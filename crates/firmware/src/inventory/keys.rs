//! Keys and certificates: PEM blocks (private keys, public keys that act as vendor trust
//! anchors, certificates), OpenSSH and Dropbear private keys, and `authorized_keys` entries,
//! each with a SHA-256 fingerprint of its key material.
//!
//! A PEM header alone proves nothing: `dropbear` and `openssl` binaries carry the header
//! strings as constants. A block counts only with its END line and a base64 body that decodes
//! to DER (a SEQUENCE) or, for OpenSSH, to the `openssh-key-v1` magic.

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Blocks per file at most.
const MAX_BLOCKS: usize = 64;
/// Body of one PEM block at most.
const MAX_BODY: usize = 64 << 10;

/// What a key or certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// A private key (PEM, OpenSSH or Dropbear).
    PrivateKey,
    /// A public key (often a vendor's signature trust anchor).
    PublicKey,
    /// An X.509 certificate.
    Certificate,
    /// A key allowed to log in (`authorized_keys`).
    AuthorizedKey,
}

/// One key found in the tree.
#[derive(Debug, Clone, Serialize)]
pub struct Key {
    /// Path of the file in the output.
    pub file: String,
    /// Byte offset of the block in the file.
    pub offset: u64,
    /// What it is.
    pub kind: KeyKind,
    /// The PEM label, or the key type (`ssh-rsa`, …).
    pub label: String,
    /// Whether the private key is encrypted with a passphrase.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    /// SHA-256 of the key material (DER, or the SSH key blob), hex.
    pub sha256: String,
    /// Comment (authorized_keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Keys in one file's bytes.
pub(crate) fn scan(path: &str, bytes: &[u8]) -> Vec<Key> {
    let mut out = Vec::new();
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.starts_with("dropbear_") && name.ends_with("_host_key") {
        out.extend(dropbear(path, bytes));
    }
    if name == "authorized_keys" || name == "authorized_keys2" {
        out.extend(authorized(path, bytes));
    }
    out.extend(pem_blocks(path, bytes));
    out
}

/// PEM blocks with a body and a matching END line.
fn pem_blocks(path: &str, bytes: &[u8]) -> Vec<Key> {
    let mut out = Vec::new();
    let mut from = 0;
    let finder = memchr::memmem::Finder::new(b"-----BEGIN ");
    while out.len() < MAX_BLOCKS {
        let Some(rel) = finder.find(&bytes[from..]) else {
            break;
        };
        let at = from + rel;
        from = at + 11;
        let rest = &bytes[from..];
        let Some(label_end) = memchr::memmem::find(&rest[..rest.len().min(64)], b"-----") else {
            continue;
        };
        let Ok(label) = std::str::from_utf8(&rest[..label_end]) else {
            continue;
        };
        let end_marker = format!("-----END {label}-----");
        let body_start = from + label_end + 5;
        let window = &bytes[body_start..bytes.len().min(body_start + MAX_BODY)];
        let Some(body_len) = memchr::memmem::find(window, end_marker.as_bytes()) else {
            continue;
        };
        let body = &window[..body_len];
        // Headers (Proc-Type, DEK-Info) precede a blank line in legacy encrypted keys.
        let text = String::from_utf8_lossy(body);
        let encrypted = label.contains("ENCRYPTED") || text.contains("Proc-Type: 4,ENCRYPTED");
        let b64: String = text
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&b64) else {
            continue;
        };
        let kind = if label.contains("PRIVATE KEY") {
            KeyKind::PrivateKey
        } else if label.contains("PUBLIC KEY") {
            KeyKind::PublicKey
        } else if label.contains("CERTIFICATE") {
            KeyKind::Certificate
        } else {
            continue;
        };
        let valid = if label == "OPENSSH PRIVATE KEY" {
            der.starts_with(b"openssh-key-v1\0")
        } else {
            der.len() >= 32 && der[0] == 0x30
        };
        if !valid {
            continue;
        }
        out.push(Key {
            file: path.to_owned(),
            offset: at as u64,
            kind,
            label: label.to_owned(),
            encrypted,
            sha256: hex::encode(Sha256::digest(&der)),
            comment: None,
        });
        from = body_start + body_len;
    }
    out
}

/// A Dropbear host key: SSH wire format, a key type string first.
fn dropbear(path: &str, bytes: &[u8]) -> Option<Key> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let ty = std::str::from_utf8(bytes.get(4..4 + len)?).ok()?;
    let known = ["ssh-rsa", "ssh-dss", "ssh-ed25519"].contains(&ty) || ty.starts_with("ecdsa-sha2-");
    (known && bytes.len() > 4 + len + 16).then(|| Key {
        file: path.to_owned(),
        offset: 0,
        kind: KeyKind::PrivateKey,
        label: format!("dropbear {ty}"),
        encrypted: false,
        sha256: hex::encode(Sha256::digest(bytes)),
        comment: None,
    })
}

/// `authorized_keys` lines: `[options] type base64 [comment]`.
fn authorized(path: &str, bytes: &[u8]) -> Vec<Key> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut offset = 0u64;
    for line in text.split_inclusive('\n').take(1000) {
        let at = offset;
        offset += line.len() as u64;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = fields
            .iter()
            .position(|f| f.starts_with("ssh-") || f.starts_with("ecdsa-") || f.starts_with("sk-"))
        else {
            continue;
        };
        let Some(Ok(blob)) = fields
            .get(i + 1)
            .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
        else {
            continue;
        };
        out.push(Key {
            file: path.to_owned(),
            offset: at,
            kind: KeyKind::AuthorizedKey,
            label: fields[i].to_owned(),
            encrypted: false,
            sha256: hex::encode(Sha256::digest(&blob)),
            comment: (fields.len() > i + 2).then(|| fields[i + 2..].join(" ")),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, der: &[u8]) -> String {
        let b = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    fn der(n: usize) -> Vec<u8> {
        let mut d = vec![0x30, 0x82, (n >> 8) as u8, n as u8];
        d.extend((0..n).map(|i| (i * 7) as u8));
        d
    }

    #[test]
    fn pem_private_and_public_keys_with_bodies_are_found() {
        let text = format!(
            "# key\n{}{}",
            pem("RSA PRIVATE KEY", &der(300)),
            pem("PUBLIC KEY", &der(290))
        );
        let k = scan("etc/ssl/key.pem", text.as_bytes());
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].kind, KeyKind::PrivateKey);
        assert_eq!(k[0].offset, 6);
        assert_eq!(k[1].kind, KeyKind::PublicKey);
        assert_eq!(k[0].sha256, hex::encode(Sha256::digest(der(300))));
    }

    #[test]
    fn header_constants_in_binaries_are_not_keys() {
        let mut bin = b"\x7fELF\x01\x01\x01".to_vec();
        bin.extend_from_slice(
            b"\0-----BEGIN RSA PRIVATE KEY-----\0-----END RSA PRIVATE KEY-----\0Proc-Type:\0",
        );
        assert!(scan("usr/sbin/dropbear", &bin).is_empty());
        // A body that is not DER is not a key either.
        let fake = "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n";
        assert!(scan("etc/x.pem", fake.as_bytes()).is_empty());
    }

    #[test]
    fn encrypted_keys_are_marked() {
        let legacy = pem("RSA PRIVATE KEY", &der(300)).replacen(
            "-----\n",
            "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0011\n\n",
            1,
        );
        let k = scan("etc/k.pem", legacy.as_bytes());
        assert!(k[0].encrypted, "{k:?}");
    }

    #[test]
    fn dropbear_and_authorized_keys() {
        let mut blob = Vec::new();
        blob.extend_from_slice(&7u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-rsa");
        blob.extend(std::iter::repeat_n(0xAB, 300));
        let k = scan("config/dropbear_rsa_host_key", &blob);
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].label, "dropbear ssh-rsa");
        assert!(scan("config/other_file", &blob).is_empty());
        let ak = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvZ vendor@factory\n# comment\n";
        let k = scan("root/.ssh/authorized_keys", ak.as_bytes());
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].comment.as_deref(), Some("vendor@factory"));
    }
}
