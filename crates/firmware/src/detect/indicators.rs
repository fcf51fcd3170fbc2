//! FW-001, FW-002, FW-010, FW-013 from the indicators of `rules/indicators.toml`: each hit
//! becomes a finding of the indicator's rule and severity, with the matched strings at their
//! offset as evidence.

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};

/// The indicator detector.
pub(crate) struct Indicators;

impl Detector for Indicators {
    fn id(&self) -> &'static str {
        "indicators"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[
            RuleId::FW_KILL_SWITCH,
            RuleId::FW_REMOTE_EXEC,
            RuleId::FW_ENDPOINT,
            RuleId::FW_DIVERSION,
        ]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for h in &cx.inventory.indicators {
            let Some(rule) = RuleId::new(&h.rule).filter(|r| self.rules().contains(r)) else {
                continue;
            };
            let severity = h.severity.as_deref().and_then(|s| s.parse::<Severity>().ok());
            let msg = format!(
                "{}: {} ({}: {})",
                h.file,
                h.description,
                h.indicator,
                h.matched.join(", ")
            );
            let excerpt = cx.tree.excerpt(&h.file, h.offset, 64);
            out.push(cx.file_finding(rule, severity, &h.file, Some(h.offset), &excerpt, msg));
        }
    }
}
