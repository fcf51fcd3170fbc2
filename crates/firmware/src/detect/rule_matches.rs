//! FW-016 from content-scanner (YARA) rule matches: one finding per rule and file, with the
//! first match's offset and bytes as evidence and the match count in the message. The severity
//! is the rule's own (`meta: severity = "high"`) when it gives a valid one, else the
//! catalogue's. A file a scanner could not finish (its time limit) is FW-100: its rules were
//! not all evaluated, and an adversary who can make a scan run out of time can hide from it.

use hashward_model::{Finding, RuleId};

use super::{Context, Detector};

/// Bytes of the match shown as evidence.
const EXCERPT: usize = 96;

/// The rule-match detector.
pub(crate) struct RuleMatches;

impl Detector for RuleMatches {
    fn id(&self) -> &'static str {
        "rule-matches"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_RULE_MATCH, RuleId::FW_LIMIT]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for m in &cx.inventory.rule_matches {
            let origin = if m.builtin { "built-in" } else { "user" };
            let place = match m.offset {
                Some(o) => format!(
                    "{} match{} from offset {o:#x}",
                    m.matches,
                    if m.matches == 1 { "" } else { "es" }
                ),
                None => "its condition holds".to_owned(),
            };
            let description = m
                .description
                .as_deref()
                .map_or(String::new(), |d| format!(": {d}"));
            let msg = format!(
                "{}: {origin} {} rule {} ({}) matched, {place}{description}",
                m.file, m.engine, m.rule, m.namespace
            );
            let excerpt = match m.offset {
                Some(o) => cx.tree.excerpt(&m.file, o, (m.length as usize).clamp(1, EXCERPT)),
                None => Vec::new(),
            };
            out.push(cx.file_finding(
                RuleId::FW_RULE_MATCH,
                m.severity,
                &m.file,
                m.offset,
                &excerpt,
                msg,
            ));
        }
        for f in &cx.inventory.scan_failures {
            let msg = format!(
                "{}: the {} scan stopped ({}); its rules were not all evaluated on this file",
                f.file, f.engine, f.error
            );
            out.push(cx.file_finding(RuleId::FW_LIMIT, None, &f.file, None, &[], msg));
        }
    }
}
