//! The values that go into and come out of a case: runs, artifacts, findings, filters.

use std::fmt;

use chrono::{DateTime, Utc};
use hashward_model::{Finding, InputRecord, Severity, Subject};

/// A run's row id in its case. Ids are only meaningful inside the case that issued them; the
/// run's [`RunSummary::uuid`] is the id to quote across cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// The command completed (it may still have found problems).
    Ok,
    /// The command failed; [`RunRecord::error`] says why.
    Error,
}

impl RunStatus {
    /// The stored spelling: `ok` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Error => "error",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "ok" => Some(RunStatus::Ok),
            "error" => Some(RunStatus::Error),
            _ => None,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an artifact belongs to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactRole {
    /// Given to the command (a firmware image, a capture…).
    Input,
    /// Produced by the command (a file unpacked from an image…).
    Extracted,
}

impl ArtifactRole {
    /// The stored spelling: `input` or `extracted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactRole::Input => "input",
            ArtifactRole::Extracted => "extracted",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<ArtifactRole> {
        match s {
            "input" => Some(ArtifactRole::Input),
            "extracted" => Some(ArtifactRole::Extracted),
            _ => None,
        }
    }
}

impl fmt::Display for ArtifactRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Path relative to the extraction root.
    pub path: String,
    /// sha256 of its bytes, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// What it is, e.g. `file`, `squashfs`, `elf`: free text chosen by the producer.
    pub kind: String,
}

/// One file a run produced, borrowed from whatever holds it: for runs that extract more files
/// than are worth copying (see [`crate::Case::record_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactRef<'a> {
    /// Path relative to the extraction root.
    pub path: &'a str,
    /// sha256 of its bytes, lower-case hex.
    pub sha256: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// What it is (see [`Artifact::kind`]).
    pub kind: &'a str,
}

/// Everything one command run leaves in the case; [`crate::Case::record`] writes it in one
/// transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The command, e.g. `firmware unpack`.
    pub command: String,
    /// The validated options the command ran with.
    pub options: serde_json::Value,
    /// hashward's version.
    pub version: String,
    /// When the run started.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub ended: DateTime<Utc>,
    /// How it ended.
    pub status: RunStatus,
    /// The process exit code it ended with.
    pub exit_code: i32,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// What it examined.
    pub inputs: Vec<InputRecord>,
    /// What it extracted.
    pub extracted: Vec<Artifact>,
    /// What it found.
    pub findings: Vec<Finding>,
    /// The result document, kept when later runs need it (`fleet scan`); `None` for most
    /// commands, whose results can be recomputed from their inputs.
    pub result: Option<serde_json::Value>,
}

impl RunRecord {
    /// A successful, empty run of `command` that started and ended at `started`, with this
    /// build's version and `{}` options; fill in the rest with struct update syntax or field
    /// assignment.
    pub fn new(command: impl Into<String>, started: DateTime<Utc>) -> RunRecord {
        RunRecord {
            command: command.into(),
            options: serde_json::Value::Object(serde_json::Map::new()),
            version: hashward_model::VERSION.to_owned(),
            started,
            ended: started,
            status: RunStatus::Ok,
            exit_code: 0,
            error: None,
            inputs: Vec::new(),
            extracted: Vec::new(),
            findings: Vec::new(),
            result: None,
        }
    }
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeverityCounts {
    /// `info` findings.
    pub info: u64,
    /// `low` findings.
    pub low: u64,
    /// `medium` findings.
    pub medium: u64,
    /// `high` findings.
    pub high: u64,
    /// `critical` findings.
    pub critical: u64,
}

impl SeverityCounts {
    /// The count for one severity.
    pub fn get(&self, s: Severity) -> u64 {
        match s {
            Severity::Info => self.info,
            Severity::Low => self.low,
            Severity::Medium => self.medium,
            Severity::High => self.high,
            Severity::Critical => self.critical,
        }
    }

    /// All findings.
    pub fn total(&self) -> u64 {
        self.info
            .saturating_add(self.low)
            .saturating_add(self.medium)
            .saturating_add(self.high)
            .saturating_add(self.critical)
    }

    pub(crate) fn slot(&mut self, s: Severity) -> &mut u64 {
        match s {
            Severity::Info => &mut self.info,
            Severity::Low => &mut self.low,
            Severity::Medium => &mut self.medium,
            Severity::High => &mut self.high,
            Severity::Critical => &mut self.critical,
        }
    }
}

/// One stored run, as listed by [`crate::Case::runs`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Row id in this case.
    pub id: RunId,
    /// Globally unique id (UUIDv7, hyphenated lower-case).
    pub uuid: String,
    /// The command.
    pub command: String,
    /// Its options.
    pub options: serde_json::Value,
    /// hashward's version.
    pub version: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub ended: DateTime<Utc>,
    /// How it ended.
    pub status: RunStatus,
    /// Its exit code.
    pub exit_code: i32,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// How many inputs it examined.
    pub inputs: u64,
    /// How many artifacts it extracted.
    pub extracted: u64,
    /// Its findings per severity.
    pub findings: SeverityCounts,
}

/// One stored artifact, as listed by [`crate::Case::artifacts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// Input or extracted.
    pub role: ArtifactRole,
    /// Path: as given for inputs, relative to the extraction root for extracted files.
    pub path: String,
    /// sha256, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// What it is (extracted artifacts only).
    pub kind: Option<String>,
}

/// Which findings [`crate::Case::findings`] returns; `Default` selects all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    /// Only this run's.
    pub run: Option<RunId>,
    /// Only findings at least this severe.
    pub min_severity: Option<Severity>,
    /// Only this rule's (catalogue id, e.g. `FW-001`).
    pub rule: Option<String>,
}

/// A finding and the run that raised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    /// The run.
    pub run: RunId,
    /// The finding, exactly as recorded.
    pub finding: Finding,
}

/// The query columns a subject is stored under besides its JSON: its type (the JSON tag), its
/// main key and an optional second key.
///
/// | subject_type | subject_key | subject_detail |
/// |---|---|---|
/// | `firmware_image` | sha256 | — |
/// | `firmware_file` | image sha256 | path |
/// | `device` | address | MAC |
/// | `flow` | src | dst |
/// | `facility` | id | — |
/// | `entry_line` | entry | line |
pub(crate) fn subject_columns(s: &Subject) -> (&'static str, &str, Option<String>) {
    match s {
        Subject::FirmwareImage { sha256 } => ("firmware_image", sha256, None),
        Subject::FirmwareFile { image_sha256, path } => ("firmware_file", image_sha256, Some(path.clone())),
        Subject::Device { address, mac, .. } => ("device", address, mac.clone()),
        Subject::Flow { src, dst, .. } => ("flow", src, Some(dst.clone())),
        Subject::Facility { id } => ("facility", id, None),
        Subject::EntryLine { entry, line } => ("entry_line", entry, Some(line.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_type_column_is_the_json_tag() {
        let subjects = [
            Subject::FirmwareImage { sha256: "a".into() },
            Subject::FirmwareFile {
                image_sha256: "a".into(),
                path: "p".into(),
            },
            Subject::Device {
                address: "10.0.0.1".into(),
                mac: None,
                serial: None,
            },
            Subject::Flow {
                src: "s".into(),
                dst: "d".into(),
                proto: "tcp".into(),
                first_seen: "t".into(),
            },
            Subject::Facility { id: "f".into() },
            Subject::EntryLine {
                entry: "e".into(),
                line: 3,
            },
        ];
        for s in &subjects {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json["type"], subject_columns(s).0);
        }
    }

    #[test]
    fn spellings_round_trip() {
        for s in [RunStatus::Ok, RunStatus::Error] {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        for r in [ArtifactRole::Input, ArtifactRole::Extracted] {
            assert_eq!(ArtifactRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(RunStatus::parse("OK"), None);
        assert_eq!(ArtifactRole::parse(""), None);
    }

    #[test]
    fn severity_counts_add_up() {
        let mut c = SeverityCounts::default();
        *c.slot(Severity::High) += 2;
        *c.slot(Severity::Info) += 1;
        assert_eq!((c.get(Severity::High), c.total()), (2, 3));
    }
}
