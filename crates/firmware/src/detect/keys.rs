//! FW-007: private keys shipped inside the image. Every unit running the firmware holds the
//! same key, so whoever extracts it can impersonate any of them (an SSH host key) or read
//! what they protect.

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};
use crate::inventory::KeyKind;

/// The embedded-key detector.
pub(crate) struct Keys;

impl Detector for Keys {
    fn id(&self) -> &'static str {
        "keys"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_PRIVATE_KEY]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for k in cx.inventory.keys.iter().filter(|k| k.kind == KeyKind::PrivateKey) {
            let (severity, note) = if k.encrypted {
                (Some(Severity::Medium), " (encrypted with a passphrase)")
            } else {
                (None, "")
            };
            let msg = format!(
                "{} private key{note} in {} at offset {} (sha256 of the key {}…): every unit with this firmware holds it",
                k.label,
                k.file,
                k.offset,
                &k.sha256[..16]
            );
            let head = cx.tree.excerpt(&k.file, k.offset, 40);
            out.push(cx.file_finding(
                RuleId::FW_PRIVATE_KEY,
                severity,
                &k.file,
                Some(k.offset),
                &head,
                msg,
            ));
        }
    }
}
