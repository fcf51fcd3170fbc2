//! FW-005 and FW-006: default, well-known or empty passwords on system accounts, and default
//! web interface credentials, from the accounts the inventory tested.

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};
use crate::inventory::Password;

/// The credentials detector.
pub(crate) struct Credentials;

impl Detector for Credentials {
    fn id(&self) -> &'static str {
        "credentials"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_ACCOUNT_PASSWORD, RuleId::FW_WEB_CREDENTIALS]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for a in &cx.inventory.accounts {
            for src in &a.passwords {
                let what = match &src.password {
                    Password::Empty => "an empty password".to_owned(),
                    Password::Known { scheme, password } => {
                        format!("the well-known password \"{password}\" ({scheme})")
                    }
                    _ => continue,
                };
                // Reachable today only through a login shell; a factory copy or a locked
                // shell still matters (a reset or a changed shell brings it back), less so.
                let (severity, why) = if a.can_log_in() {
                    (None, String::new())
                } else {
                    (
                        Some(Severity::Low),
                        format!(
                            "; its shell {} does not allow a login today",
                            a.shell.as_deref().unwrap_or("")
                        ),
                    )
                };
                let msg = format!(
                    "account {} has {what} in {} line {}{why}",
                    a.user, src.file, src.line
                );
                out.push(cx.file_finding(
                    RuleId::FW_ACCOUNT_PASSWORD,
                    severity,
                    &src.file,
                    Some(src.offset),
                    src.text.as_bytes(),
                    msg,
                ));
            }
        }
        for w in &cx.inventory.web_credentials {
            let Some(password) = &w.password else { continue };
            let line = format!("{}:{}:…", w.user, w.realm);
            let msg = format!(
                "web digest file {} line {} accepts {}:{password} (realm \"{}\")",
                w.file, w.line, w.user, w.realm
            );
            out.push(cx.file_finding(
                RuleId::FW_WEB_CREDENTIALS,
                None,
                &w.file,
                Some(w.offset),
                line.as_bytes(),
                msg,
            ));
        }
    }
}
