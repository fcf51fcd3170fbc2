//! FW-009: request values reaching commands unquoted in shell CGI handlers. Re-read by a shell
//! (`eval`, `sh -c`, backquotes): command injection as such, critical. Decoded from `%3B`,
//! `%7C`, `%24` first and then used unquoted (the Antminer `network_diag.cgi`): high. Plain
//! unquoted use (splitting, globbing, option injection): medium. After an anchored validation
//! that exits on failure: low, reported so that the validation can be checked by a person.

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};

/// The CGI detector.
pub(crate) struct Cgi;

impl Detector for Cgi {
    fn id(&self) -> &'static str {
        "cgi"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_CGI_INJECTION]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for s in &cx.inventory.cgi_sinks {
            let (severity, how) = if s.validated {
                (Severity::Low, "after an anchored validation of it")
            } else if s.reevaluated {
                (Severity::Critical, "where the shell reads it again")
            } else if s.decodes_metacharacters {
                (Severity::High, "after the handler decoded ; | $ into it")
            } else {
                (Severity::Medium, "")
            };
            let msg = format!(
                "{}: the request value ${} reaches `{}` unquoted {how}",
                s.file, s.variable, s.command
            );
            out.push(cx.file_finding(
                RuleId::FW_CGI_INJECTION,
                Some(severity),
                &s.file,
                Some(s.offset),
                s.line.as_bytes(),
                msg.trim_end().to_owned(),
            ));
        }
    }
}
