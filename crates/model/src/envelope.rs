//! The JSON output contract: one envelope per command, or one tagged record per line.

use serde::{Deserialize, Serialize};

use crate::Finding;

/// One input the command examined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputRecord {
    /// Path as given.
    pub path: String,
    /// sha256 of its bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The object `--format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// hashward's version.
    pub hashward: String,
    /// The command, e.g. `firmware unpack`.
    pub command: String,
    /// What was examined.
    pub inputs: Vec<InputRecord>,
    /// What was found.
    pub findings: Vec<Finding>,
    /// Command-specific result.
    pub result: serde_json::Value,
}

/// One line of `--format jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The header: version and command.
    Run {
        /// hashward's version.
        hashward: String,
        /// The command.
        command: String,
    },
    /// One input.
    Input(InputRecord),
    /// One finding.
    Finding(Finding),
    /// One element of a list in the result (`key` names the list, e.g. `entries`).
    Item {
        /// The result key the item belongs to.
        key: String,
        /// The item.
        item: serde_json::Value,
    },
    /// The rest of the result (scalars and objects).
    Result {
        /// Result keys that are not lists.
        result: serde_json::Value,
    },
}

impl Envelope {
    /// The same content as JSON-lines records: run, inputs, findings, list items, then the rest.
    pub fn records(&self) -> Vec<Record> {
        let mut out = vec![Record::Run {
            hashward: self.hashward.clone(),
            command: self.command.clone(),
        }];
        out.extend(self.inputs.iter().cloned().map(Record::Input));
        out.extend(self.findings.iter().cloned().map(Record::Finding));
        let mut rest = serde_json::Map::new();
        if let serde_json::Value::Object(map) = &self.result {
            for (k, v) in map {
                match v {
                    serde_json::Value::Array(items) => out.extend(items.iter().map(|item| Record::Item {
                        key: k.clone(),
                        item: item.clone(),
                    })),
                    other => {
                        rest.insert(k.clone(), other.clone());
                    }
                }
            }
        }
        out.push(Record::Result {
            result: serde_json::Value::Object(rest),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RuleId, Subject};

    fn sample() -> Envelope {
        Envelope {
            hashward: "0.1.0".into(),
            command: "firmware unpack".into(),
            inputs: vec![InputRecord {
                path: "fw.bmu".into(),
                sha256: "00".into(),
                size: 123,
            }],
            findings: vec![Finding::new(
                RuleId::FW_MALFORMED,
                Subject::FirmwareImage { sha256: "00".into() },
                "gzip stream truncated at offset 99",
            )],
            result: serde_json::json!({"entries": [{"path": "a"}, {"path": "b"}], "stats": {"files": 2}}),
        }
    }

    #[test]
    fn envelope_shape_is_pinned() {
        let v = serde_json::to_value(sample()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["command", "findings", "hashward", "inputs", "result"]);
        assert_eq!(
            v["inputs"][0],
            serde_json::json!({"path": "fw.bmu", "sha256": "00", "size": 123})
        );
        assert_eq!(v["findings"][0]["rule"], "FW-102");
        let back: Envelope = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn jsonl_records_carry_everything() {
        let recs = sample().records();
        let types: Vec<String> = recs
            .iter()
            .map(|r| {
                serde_json::to_value(r).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(types, ["run", "input", "finding", "item", "item", "result"]);
        let last = serde_json::to_value(recs.last().unwrap()).unwrap();
        assert_eq!(last["result"]["stats"]["files"], 2);
    }
}
