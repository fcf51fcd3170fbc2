//! FW-011: passwordless ways to root. `NOPASSWD: ALL` and `login -f root` helpers give root
//! outright (high); `NOPASSWD` for named commands is medium, since those commands (init
//! scripts, flash tools, factory reset) are themselves often a step to root or a brick.

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};

/// The privilege-escalation detector.
pub(crate) struct Privilege;

impl Detector for Privilege {
    fn id(&self) -> &'static str {
        "privilege"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_NOPASSWD_ROOT]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for e in &cx.inventory.escalations {
            let (severity, msg) = if e.how.starts_with("login") {
                (
                    None,
                    format!("{} runs `login -f root`: a root login without a password", e.file),
                )
            } else if e.is_total() {
                (
                    None,
                    format!(
                        "{} lets {} run any command as root without a password (NOPASSWD: ALL)",
                        e.file,
                        e.who.as_deref().unwrap_or("?")
                    ),
                )
            } else {
                (
                    Some(Severity::Medium),
                    format!(
                        "{} lets {} run {} as root without a password",
                        e.file,
                        e.who.as_deref().unwrap_or("?"),
                        e.commands.join(", ")
                    ),
                )
            };
            out.push(cx.file_finding(
                RuleId::FW_NOPASSWD_ROOT,
                severity,
                &e.file,
                Some(e.offset),
                e.excerpt.as_bytes(),
                msg,
            ));
        }
    }
}
