//! FW-012: a remote shell (telnet, SSH) started at boot. Telnet is cleartext and high; SSH is
//! the rule's default, raised to high when the same root file system has an account with a
//! default or empty password and a login shell, since anyone can then log in.

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};

/// The boot-services detector.
pub(crate) struct Services;

impl Detector for Services {
    fn id(&self) -> &'static str {
        "services"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_REMOTE_SHELL]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for s in &cx.inventory.services {
            for shell in s.remote_shells() {
                let telnet = shell.contains("telnet");
                let weak: Vec<&str> = cx
                    .inventory
                    .accounts
                    .iter()
                    .filter(|a| {
                        a.rootfs == s.rootfs
                            && a.can_log_in()
                            && a.passwords.iter().any(|p| p.password.is_weak())
                    })
                    .map(|a| a.user.as_str())
                    .collect();
                let severity = if telnet || !weak.is_empty() {
                    Some(Severity::High)
                } else {
                    None
                };
                let also = if weak.is_empty() {
                    String::new()
                } else {
                    format!("; account(s) {} have default or empty passwords", weak.join(", "))
                };
                let msg = format!("{shell} is started at boot by {} ({}){also}", s.file, s.how);
                out.push(cx.file_finding(
                    RuleId::FW_REMOTE_SHELL,
                    severity,
                    &s.file,
                    s.offset,
                    s.line.as_deref().unwrap_or("").as_bytes(),
                    msg,
                ));
            }
        }
    }
}
