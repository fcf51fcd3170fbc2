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

/// A command result that can be written as JSON lines: its lists item by item, then the rest.
pub trait ResultParts: Serialize {
    /// Calls `f` with each element of each list in the result: (result key, element).
    fn each_item(&self, f: &mut dyn FnMut(&str, serde_json::Value));
    /// The result without its lists.
    fn rest(&self) -> serde_json::Value;
}

impl ResultParts for serde_json::Value {
    fn each_item(&self, f: &mut dyn FnMut(&str, serde_json::Value)) {
        if let serde_json::Value::Object(map) = self {
            for (k, v) in map {
                if let serde_json::Value::Array(items) = v {
                    items.iter().for_each(|item| f(k, item.clone()));
                }
            }
        }
    }

    fn rest(&self) -> serde_json::Value {
        let mut rest = serde_json::Map::new();
        if let serde_json::Value::Object(map) = self {
            for (k, v) in map {
                if !v.is_array() {
                    rest.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::Value::Object(rest)
    }
}

/// The envelope as written: borrows its parts, so a result with a million entries is
/// serialized straight from the records, never copied into a JSON tree.
#[derive(Debug, Serialize)]
pub struct EnvelopeRef<'a, R: ResultParts> {
    /// hashward's version.
    pub hashward: &'a str,
    /// The command.
    pub command: &'a str,
    /// What was examined.
    pub inputs: &'a [InputRecord],
    /// What was found.
    pub findings: &'a [Finding],
    /// Command-specific result.
    pub result: &'a R,
}

impl<R: ResultParts> EnvelopeRef<'_, R> {
    /// Write the JSON-lines form: run, inputs, findings, list items, then the rest.
    pub fn write_jsonl(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let line = |rec: &Record, w: &mut dyn std::io::Write| -> std::io::Result<()> {
            serde_json::to_writer(&mut *w, rec)?;
            w.write_all(b"\n")
        };
        line(
            &Record::Run {
                hashward: self.hashward.to_owned(),
                command: self.command.to_owned(),
            },
            w,
        )?;
        for i in self.inputs {
            line(&Record::Input(i.clone()), w)?;
        }
        for f in self.findings {
            line(&Record::Finding(f.clone()), w)?;
        }
        let mut err = Ok(());
        self.result.each_item(&mut |key, item| {
            if err.is_ok() {
                err = line(
                    &Record::Item {
                        key: key.to_owned(),
                        item,
                    },
                    w,
                );
            }
        });
        err?;
        line(
            &Record::Result {
                result: self.result.rest(),
            },
            w,
        )
    }
}

impl Envelope {
    /// This envelope, borrowed for writing.
    pub fn as_ref(&self) -> EnvelopeRef<'_, serde_json::Value> {
        EnvelopeRef {
            hashward: &self.hashward,
            command: &self.command,
            inputs: &self.inputs,
            findings: &self.findings,
            result: &self.result,
        }
    }

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
        // Sorted: serde_json keeps insertion order when another crate of the build (yara-x)
        // turns on its `preserve_order` feature, and sorts otherwise.
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
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
    fn the_borrowed_envelope_writes_the_same_json_and_lines() {
        let env = sample();
        let a = serde_json::to_value(env.as_ref()).unwrap();
        assert_eq!(a, serde_json::to_value(&env).unwrap());
        let mut lines = Vec::new();
        env.as_ref().write_jsonl(&mut lines).unwrap();
        let want: Vec<String> = env
            .records()
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        assert_eq!(String::from_utf8(lines).unwrap(), want.join("\n") + "\n");
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
