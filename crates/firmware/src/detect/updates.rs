//! FW-008: an update handler that runs what a package brings without a signature check that
//! holds. On these images the handler runs as root behind a digest login whose default is
//! root:root, so an unsigned path is a way to run any code.

use hashward_model::{Finding, RuleId};

use super::{Context, Detector};

/// The update-path detector.
pub(crate) struct Updates;

impl Detector for Updates {
    fn id(&self) -> &'static str {
        "updates"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_UPDATE_PATH]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for u in cx.inventory.updates.iter().filter(|u| !u.weaknesses.is_empty()) {
            let msg = format!(
                "update handler {} runs the uploaded package (`{}`): {}",
                u.file,
                u.runs,
                u.weaknesses.join("; ")
            );
            out.push(cx.file_finding(
                RuleId::FW_UPDATE_PATH,
                None,
                &u.file,
                Some(u.offset),
                u.runs.as_bytes(),
                msg,
            ));
        }
    }
}
