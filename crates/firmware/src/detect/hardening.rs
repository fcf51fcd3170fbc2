//! FW-015: programs built without the usual protections (NX stack, PIE, RELRO, stack canary).
//! A hardening gap makes other bugs easier to exploit but is not one itself: low, and one
//! finding per root file system and protection rather than one per binary.

use std::collections::BTreeMap;

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};
use crate::inventory::accounts::container_root;

/// The hardening detector.
pub(crate) struct Hardening;

impl Detector for Hardening {
    fn id(&self) -> &'static str {
        "hardening"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_HARDENING]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        // (rootfs, protection) -> programs lacking it; rootfs -> programs.
        let mut lacking: BTreeMap<(String, &str), Vec<&str>> = BTreeMap::new();
        let mut programs: BTreeMap<String, usize> = BTreeMap::new();
        for b in cx.inventory.binaries.iter().filter(|b| b.is_program()) {
            let root = container_root(&b.file);
            *programs.entry(root.clone()).or_default() += 1;
            for m in b.missing() {
                lacking.entry((root.clone(), m)).or_default().push(&b.file);
            }
        }
        for ((root, protection), files) in lacking {
            let total = programs.get(&root).copied().unwrap_or(files.len());
            let examples: Vec<&str> = files
                .iter()
                .take(3)
                .map(|f| f.rsplit('/').next().unwrap_or(f))
                .collect();
            let place = if root.is_empty() {
                "the image"
            } else {
                root.as_str()
            };
            let msg = format!(
                "{} of {total} programs in {place} are built without {protection} (e.g. {})",
                files.len(),
                examples.join(", ")
            );
            out.push(cx.file_finding(
                RuleId::FW_HARDENING,
                Some(Severity::Low),
                files[0],
                None,
                &[],
                msg,
            ));
        }
    }
}
