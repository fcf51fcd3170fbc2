//! Detectors: each turns the inventory and the extracted tree into findings of catalogue
//! rules, with evidence someone else can check (layer chain, path, offset, sha256, excerpt).
//!
//! One trait, one registry: a detector says which rules it can raise, and `DETECTORS` lists
//! every detector in the order they run.

mod cgi;
mod credentials;
mod hardening;
mod indicators;
mod keys;
mod miner_api;
mod privilege;
mod remote_config;
mod rule_matches;
mod services;
mod updates;
mod vulnerable;

use std::collections::HashMap;

use hashward_model::{Evidence, Finding, RuleId, Severity, Subject, bytes_excerpt};

use crate::inventory::{Inventory, Tree};
use crate::unpack::EntryRecord;

/// What a detector looks at.
pub struct Context<'a> {
    /// sha256 of the image.
    pub image_sha256: &'a str,
    /// The extracted tree.
    pub tree: &'a Tree<'a>,
    /// Its inventory.
    pub inventory: &'a Inventory,
    /// Entries by path, for evidence.
    by_path: HashMap<&'a str, &'a EntryRecord>,
}

impl<'a> Context<'a> {
    /// A context over `tree` and its inventory.
    pub fn new(image_sha256: &'a str, tree: &'a Tree<'a>, inventory: &'a Inventory) -> Context<'a> {
        let by_path = tree.files().map(|e| (e.path.as_str(), e)).collect();
        Context {
            image_sha256,
            tree,
            inventory,
            by_path,
        }
    }

    /// A finding about file `path`, with evidence at `offset` showing `excerpt`.
    pub fn file_finding(
        &self,
        rule: RuleId,
        severity: Option<Severity>,
        path: &str,
        offset: Option<u64>,
        excerpt: &[u8],
        message: String,
    ) -> Finding {
        let e = self.by_path.get(path);
        let f = Finding::new(
            rule,
            Subject::FirmwareFile {
                image_sha256: self.image_sha256.to_owned(),
                path: path.to_owned(),
            },
            message,
        )
        .with_evidence(Evidence::File {
            layers: e.map(|e| e.layers.to_vec()).unwrap_or_default(),
            path: path.to_owned(),
            offset,
            sha256: e.and_then(|e| e.sha256.map(|s| s.to_string())),
            excerpt: (!excerpt.is_empty()).then(|| bytes_excerpt(excerpt)),
        });
        match severity {
            Some(s) => f.with_severity(s),
            None => f,
        }
    }
}

/// A detector.
pub trait Detector: Sync {
    /// A short stable name.
    fn id(&self) -> &'static str;
    /// The rules it can raise.
    fn rules(&self) -> &'static [RuleId];
    /// Add its findings to `out`.
    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>);
}

/// Every detector, in the order they run.
pub static DETECTORS: &[&dyn Detector] = &[
    &cgi::Cgi,
    &credentials::Credentials,
    &hardening::Hardening,
    &indicators::Indicators,
    &keys::Keys,
    &miner_api::MinerApi,
    &privilege::Privilege,
    &remote_config::RemoteConfig,
    &rule_matches::RuleMatches,
    &services::Services,
    &updates::Updates,
    &vulnerable::Vulnerable,
];

/// Run every detector.
pub fn detect(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for d in DETECTORS {
        let before = out.len();
        d.detect(cx, &mut out);
        debug_assert!(
            out[before..].iter().all(|f| d.rules().contains(&f.rule)),
            "{}",
            d.id()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detectors_are_sorted_by_id_and_unique() {
        let ids: Vec<&str> = DETECTORS.iter().map(|d| d.id()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(ids, sorted);
    }
}
