//! FW-003: vendor-signed remote reconfiguration. A root unlock, or a pool rewrite that one
//! package can apply to every unit (`sn == all`), is remote control of the fleet: critical.
//! A pool rewrite for named units is the rule's default.

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};

/// The remote-reconfiguration detector.
pub(crate) struct RemoteConfig;

impl Detector for RemoteConfig {
    fn id(&self) -> &'static str {
        "remote-config"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_REMOTE_CONFIG]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for h in &cx.inventory.remote_handlers {
            let what = match h.kind.as_str() {
                "root_unlock" => "grants root (sudo without a password) on receipt of a package",
                _ => "rewrites the mining pools on receipt of a package",
            };
            let severity = (h.kind == "root_unlock" || h.fleet_wide()).then_some(Severity::Critical);
            let key = h
                .key
                .as_deref()
                .map(|k| format!(" signed with {k}"))
                .unwrap_or_default();
            let worse = if h.conditions.is_empty() {
                String::new()
            } else {
                format!("; {}", h.conditions.join("; "))
            };
            let msg = format!("{} {what}{key}{worse}", h.file);
            out.push(cx.file_finding(
                RuleId::FW_REMOTE_CONFIG,
                severity,
                &h.file,
                Some(h.offset),
                h.line.as_bytes(),
                msg,
            ));
        }
    }
}
