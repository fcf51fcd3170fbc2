//! The finding model: what was seen, about what, and the evidence to re-verify it.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::RuleId;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no risk by itself.
    Info,
    /// A weakness that needs other conditions to matter.
    Low,
    /// A real weakness.
    Medium,
    /// Exploitable by someone with some access.
    High,
    /// Remote control or takeover that a stranger can reach.
    Critical,
}

impl Severity {
    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return Err(format!("unknown severity {s:?}")),
        })
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Subject {
    /// A whole firmware image.
    FirmwareImage {
        /// sha256 of the image.
        sha256: String,
    },
    /// One file (or container node) inside a firmware image.
    FirmwareFile {
        /// sha256 of the image.
        image_sha256: String,
        /// Path relative to the extraction root.
        path: String,
    },
    /// A device on the network.
    Device {
        /// IP address.
        address: String,
        /// MAC address, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<String>,
        /// Serial number, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        serial: Option<String>,
    },
    /// A network flow.
    Flow {
        /// Source `address:port`.
        src: String,
        /// Destination `address:port`.
        dst: String,
        /// Transport protocol.
        proto: String,
        /// RFC 3339 time of the first packet.
        first_seen: String,
    },
    /// A facility being sited.
    Facility {
        /// Facility id from the input.
        id: String,
    },
    /// A customs entry line.
    EntryLine {
        /// Entry number.
        entry: String,
        /// Line number.
        line: u32,
    },
}

/// A short excerpt of the bytes that prove a finding: text when it is UTF-8, base64 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Excerpt {
    /// UTF-8 text.
    Text(String),
    /// Non-UTF-8 bytes.
    Base64 {
        /// The bytes, base64 (standard alphabet, padded).
        base64: String,
    },
}

/// At most 256 bytes of `bytes`, as an [`Excerpt`].
pub fn bytes_excerpt(bytes: &[u8]) -> Excerpt {
    let cut = &bytes[..bytes.len().min(256)];
    match std::str::from_utf8(cut) {
        Ok(s) => Excerpt::Text(s.to_owned()),
        Err(_) => Excerpt::Base64 {
            base64: base64::engine::general_purpose::STANDARD.encode(cut),
        },
    }
}

/// Proof of a finding, enough for someone else to re-verify it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    /// A place inside a firmware image.
    File {
        /// The chain of formats from the image to this place, outermost first.
        layers: Vec<String>,
        /// Path relative to the extraction root (empty for the image itself).
        path: String,
        /// Byte offset inside that file or container.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
        /// sha256 of the file, when it was extracted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// The bytes at that place.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        excerpt: Option<Excerpt>,
    },
    /// A request sent to a device and what it answered.
    Exchange {
        /// What was sent.
        request: String,
        /// What came back (excerpt).
        response: Excerpt,
    },
    /// Packets in a capture.
    Packets {
        /// sha256 of the capture file.
        capture_sha256: String,
        /// 1-based frame numbers.
        frames: Vec<u64>,
        /// RFC 3339 times of those frames.
        times: Vec<String>,
        /// The payload bytes that prove it (a Stratum line, a DNS name, a request).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        excerpt: Option<Excerpt>,
    },
    /// Records in a log another tool wrote (Zeek).
    LogRecords {
        /// The log file as given.
        log: String,
        /// sha256 of the log file.
        log_sha256: String,
        /// 1-based line numbers of the records.
        lines: Vec<u64>,
        /// Connection ids (Zeek `uid`) of the records.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        uids: Vec<String>,
        /// The record or the field that proves it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        excerpt: Option<Excerpt>,
    },
    /// A calculation: inputs, formula and result.
    Calculation {
        /// Named inputs.
        inputs: serde_json::Map<String, serde_json::Value>,
        /// The formula, in words or symbols.
        formula: String,
        /// The result.
        result: serde_json::Value,
    },
}

/// One thing hashward found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Catalogue id.
    pub rule: RuleId,
    /// Severity (the rule's default unless the detector says why not).
    pub severity: Severity,
    /// The rule's title.
    pub title: String,
    /// What it is about.
    pub subject: Subject,
    /// One specific sentence: what was seen, where.
    pub message: String,
    /// The proof.
    pub evidence: Vec<Evidence>,
}

impl Finding {
    /// A finding with the rule's default severity and title.
    pub fn new(rule: RuleId, subject: Subject, message: impl Into<String>) -> Finding {
        let info = rule.info();
        Finding {
            rule,
            severity: info.severity,
            title: info.title.to_owned(),
            subject,
            message: message.into(),
            evidence: Vec::new(),
        }
    }

    /// With another piece of evidence.
    pub fn with_evidence(mut self, e: Evidence) -> Finding {
        self.evidence.push(e);
        self
    }

    /// With a severity other than the rule's default.
    pub fn with_severity(mut self, s: Severity) -> Finding {
        self.severity = s;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_and_round_trips() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        for s in ["info", "low", "medium", "high", "critical"] {
            assert_eq!(s.parse::<Severity>().unwrap().as_str(), s);
        }
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn finding_json_shape_is_pinned() {
        let f = Finding::new(
            RuleId::FW_ESCAPE,
            Subject::FirmwareFile {
                image_sha256: "ab".into(),
                path: "x".into(),
            },
            "tar entry `../etc/passwd` escapes the root",
        )
        .with_evidence(Evidence::File {
            layers: vec!["gzip".into(), "tar".into()],
            path: "x".into(),
            offset: Some(512),
            sha256: None,
            excerpt: Some(bytes_excerpt(b"../etc/passwd")),
        });
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "rule": "FW-101", "severity": "high",
                "title": "Archive entry tries to escape the extraction root",
                "subject": {"type": "firmware_file", "image_sha256": "ab", "path": "x"},
                "message": "tar entry `../etc/passwd` escapes the root",
                "evidence": [{"type": "file", "layers": ["gzip", "tar"], "path": "x", "offset": 512, "excerpt": "../etc/passwd"}]
            })
        );
        let back: Finding = serde_json::from_value(v).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn binary_excerpts_are_base64() {
        assert_eq!(
            serde_json::to_value(bytes_excerpt(&[0xff, 0x00])).unwrap(),
            serde_json::json!({"base64": "/wA="})
        );
        match bytes_excerpt(&[b'a'; 1000]) {
            Excerpt::Text(t) => assert_eq!(t.len(), 256),
            other => panic!("{other:?}"),
        }
    }
}
