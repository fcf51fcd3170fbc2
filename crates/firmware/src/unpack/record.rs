//! Compact field types for extraction records: a run keeps one record per entry (up to the
//! entry limit) until it reports, so each byte per record counts a million times.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What an extracted entry is. Serialized as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// A regular file, written.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to an earlier file of the same container.
    Hardlink,
    /// A device node, FIFO or socket (recorded, never created).
    Device,
}

impl EntryType {
    /// The lower-case name (`file`, `dir`, `symlink`, `hardlink`, `device`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::File => "file",
            EntryType::Dir => "dir",
            EntryType::Symlink => "symlink",
            EntryType::Hardlink => "hardlink",
            EntryType::Device => "device",
        }
    }
}

impl fmt::Display for EntryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for EntryType {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EntryType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A sha256 as 64 lower-case hex digits, held inline (no allocation) and used as a `str`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hex([u8; 64]);

impl Sha256Hex {
    /// The hex form of a digest.
    pub fn from_digest(d: &[u8; 32]) -> Sha256Hex {
        let mut h = [0u8; 64];
        // Encoding into a buffer of exactly twice the length cannot fail.
        let _ = hex::encode_to_slice(d, &mut h);
        Sha256Hex(h)
    }

    /// Parse 64 hex digits (either case; stored lower-case).
    pub fn parse(s: &str) -> Option<Sha256Hex> {
        let mut d = [0u8; 32];
        hex::decode_to_slice(s, &mut d).ok()?;
        Some(Sha256Hex::from_digest(&d))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Always ASCII hex digits (built by `from_digest`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Deref for Sha256Hex {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sha256Hex, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Sha256Hex::parse(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_print_and_parse_as_hex() {
        let h = Sha256Hex::from_digest(&[0xab; 32]);
        assert_eq!(&*h, "ab".repeat(32));
        assert_eq!(Sha256Hex::parse(&"AB".repeat(32)), Some(h));
        assert_eq!(Sha256Hex::parse("abc"), None);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Sha256Hex>(&json).unwrap(), h);
        assert!(serde_json::from_str::<Sha256Hex>("\"zz\"").is_err());
    }

    #[test]
    fn entry_types_compare_with_their_names() {
        assert_eq!(EntryType::Hardlink, "hardlink");
        assert_eq!(serde_json::to_string(&EntryType::Dir).unwrap(), "\"dir\"");
        assert_eq!(
            serde_json::from_str::<EntryType>("\"symlink\"").unwrap(),
            EntryType::Symlink
        );
        assert_eq!(EntryType::Device.to_string(), "device");
    }
}
