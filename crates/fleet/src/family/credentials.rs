//! The default credentials `--check-default-credentials` tries, from
//! `rules/fleet-credentials.toml` (data with its sources, built into the binary).

use std::sync::OnceLock;

use serde::Deserialize;

/// How a default credential is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// HTTP Digest GET of the system-info CGI.
    DigestGet,
    /// REST login returning a token.
    RestLogin,
    /// Vnish unlock returning a token.
    Unlock,
    /// Whatsminer v2 token and encrypted read.
    WhatsminerToken,
}

/// One default credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Default {
    /// Family id.
    pub protocol: String,
    /// How it is tried.
    pub check: Check,
    /// User name (may be empty).
    pub user: String,
    /// Password (may be empty).
    pub password: String,
    /// Where it is documented.
    pub source: String,
}

impl Default {
    /// `root/root`, `root/(empty)`.
    pub fn label(&self) -> String {
        let p = if self.password.is_empty() {
            "(empty)"
        } else {
            &self.password
        };
        if self.user.is_empty() {
            p.to_string()
        } else {
            format!("{}/{p}", self.user)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: Vec<Default>,
}

const DATA: &str = include_str!("../../../../rules/fleet-credentials.toml");

/// Every entry; the file is checked by a test, so a parse failure here means no entries.
pub fn all() -> &'static [Default] {
    static ALL: OnceLock<Vec<Default>> = OnceLock::new();
    ALL.get_or_init(|| {
        toml::from_str::<File>(DATA)
            .map(|f| f.default)
            .unwrap_or_default()
    })
}

/// The entries for one family.
pub fn for_protocol(protocol: &str) -> impl Iterator<Item = &'static Default> {
    all().iter().filter(move |d| d.protocol == protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_parses_and_names_known_families() {
        let parsed: File = toml::from_str(DATA).expect("rules/fleet-credentials.toml parses");
        assert_eq!(parsed.default.len(), all().len());
        let ids: Vec<&str> = crate::family::FAMILIES.iter().map(|f| f.id()).collect();
        for d in all() {
            assert!(
                ids.contains(&d.protocol.as_str()),
                "unknown protocol {}",
                d.protocol
            );
            assert!(!d.source.is_empty());
        }
        assert_eq!(for_protocol("braiins").count(), 2);
        assert_eq!(for_protocol("antminer").next().unwrap().label(), "root/root");
    }
}
