//! Hand-written JSON for the hot records of `--format jsonl` (findings, strings, JSON values):
//! exactly the bytes serde_json writes for them (the tests compare the two), without its
//! per-byte escape scan of every string and its per-value cost.
//!
//! Why: for 100,000 facilities `sites assess` writes 200 MB of JSON lines, and serde_json's
//! string escaping alone was a tenth of the run. Strings with nothing to escape (nearly all)
//! are copied whole; anything else (escapes, numbers, rare evidence kinds) is still
//! serde_json's, so the output cannot drift from it.

use serde::Serialize;
use serde_json::Value;

use crate::{Evidence, Finding, Subject};

/// What writing into a `Vec<u8>` can return: only serde_json's fallbacks can fail.
pub type Res = serde_json::Result<()>;

fn fallback<T: Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) -> Res {
    serde_json::to_writer(&mut *buf, v)
}

/// A JSON string, as serde_json writes it.
pub fn push_str(buf: &mut Vec<u8>, s: &str) -> Res {
    // serde_json escapes exactly the control characters, '"' and '\'. Every byte is looked
    // at, without an early exit: the loop vectorises, which is faster for these short strings.
    let needs_escape = s
        .bytes()
        .fold(false, |acc, b| acc | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if needs_escape {
        return fallback(buf, s);
    }
    buf.reserve(s.len() + 2);
    buf.push(b'"');
    buf.extend_from_slice(s.as_bytes());
    buf.push(b'"');
    Ok(())
}

/// `"key":` for a key that needs no escaping (the caller's literal).
pub fn push_key(buf: &mut Vec<u8>, key: &str) {
    buf.push(b'"');
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
}

/// A number (`null` when not finite), as serde_json writes an `f64`.
pub fn push_f64(buf: &mut Vec<u8>, x: f64) -> Res {
    fallback(buf, &x)
}

/// How a number is written: serde_json's own way, or a caller's faster way that must give the
/// same bytes (customs prints whole cents without a float formatter).
pub trait NumberWriter: Fn(&mut Vec<u8>, &serde_json::Number) -> Res {}
impl<F: Fn(&mut Vec<u8>, &serde_json::Number) -> Res> NumberWriter for F {}

/// serde_json's number writing.
pub fn serde_number(buf: &mut Vec<u8>, n: &serde_json::Number) -> Res {
    fallback(buf, n)
}

/// A JSON value, as serde_json writes it (compact).
pub fn push_value(buf: &mut Vec<u8>, v: &Value) -> Res {
    push_value_with(buf, v, &serde_number)
}

/// A JSON value with numbers written by `num`.
pub fn push_value_with(buf: &mut Vec<u8>, v: &Value, num: &impl NumberWriter) -> Res {
    match v {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(true) => buf.extend_from_slice(b"true"),
        Value::Bool(false) => buf.extend_from_slice(b"false"),
        Value::Number(n) => num(buf, n)?,
        Value::String(s) => push_str(buf, s)?,
        Value::Array(a) => {
            buf.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                push_value_with(buf, x, num)?;
            }
            buf.push(b']');
        }
        Value::Object(m) => push_object_with(buf, m, num)?,
    }
    Ok(())
}

/// A JSON object, keys in the map's order, numbers written by `num`.
pub fn push_object_with(
    buf: &mut Vec<u8>,
    m: &serde_json::Map<String, Value>,
    num: &impl NumberWriter,
) -> Res {
    buf.push(b'{');
    for (i, (k, x)) in m.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        push_str(buf, k)?;
        buf.push(b':');
        push_value_with(buf, x, num)?;
    }
    buf.push(b'}');
    Ok(())
}

/// The JSON-lines record of a finding, `{"type":"finding",…its fields}`, without the newline:
/// the bytes serde_json writes for `Record::Finding`.
pub fn push_finding_record(buf: &mut Vec<u8>, f: &Finding) -> Res {
    push_finding_record_with(buf, f, &serde_number)
}

/// [`push_finding_record`] with the evidence's numbers written by `num`.
pub fn push_finding_record_with(buf: &mut Vec<u8>, f: &Finding, num: &impl NumberWriter) -> Res {
    buf.extend_from_slice(b"{\"type\":\"finding\",\"rule\":");
    push_str(buf, f.rule.as_str())?;
    buf.extend_from_slice(b",\"severity\":");
    push_str(buf, f.severity.as_str())?;
    buf.extend_from_slice(b",\"title\":");
    push_str(buf, &f.title)?;
    buf.extend_from_slice(b",\"subject\":");
    match &f.subject {
        Subject::Facility { id } => {
            buf.extend_from_slice(b"{\"type\":\"facility\",\"id\":");
            push_str(buf, id)?;
            buf.push(b'}');
        }
        Subject::EntryLine { entry, line } => {
            buf.extend_from_slice(b"{\"type\":\"entry_line\",\"entry\":");
            push_str(buf, entry)?;
            buf.extend_from_slice(b",\"line\":");
            fallback(buf, line)?;
            buf.push(b'}');
        }
        other => fallback(buf, other)?,
    }
    buf.extend_from_slice(b",\"message\":");
    push_str(buf, &f.message)?;
    buf.extend_from_slice(b",\"evidence\":[");
    for (i, e) in f.evidence.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        match e {
            Evidence::Calculation {
                inputs,
                formula,
                result,
            } => {
                buf.extend_from_slice(b"{\"type\":\"calculation\",\"inputs\":");
                push_object_with(buf, inputs, num)?;
                buf.extend_from_slice(b",\"formula\":");
                push_str(buf, formula)?;
                buf.extend_from_slice(b",\"result\":");
                push_value_with(buf, result, num)?;
                buf.push(b'}');
            }
            other => fallback(buf, other)?,
        }
    }
    buf.extend_from_slice(b"]}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Record, RuleId, bytes_excerpt};

    #[test]
    fn strings_and_values_are_serde_jsons_bytes() {
        let strings = [
            "",
            "plain text",
            "quote \" and backslash \\",
            "tab\tnewline\ncontrol \u{1} del \u{7f}",
            "ünïcödé and emoji 🚀 and \u{2028}",
        ];
        for s in strings {
            let mut ours = Vec::new();
            push_str(&mut ours, s).expect("write");
            assert_eq!(ours, serde_json::to_vec(s).expect("serde"), "{s:?}");
        }
        let v = json!({
            "a": [1, -2, 3.5, 1e300, 0.1, -0.0, u64::MAX, i64::MIN],
            "b": {"nested": [true, false, null, "x\"y"]},
            "k\"ey": "v",
            "empty": {}, "list": []
        });
        let mut ours = Vec::new();
        push_value(&mut ours, &v).expect("write");
        assert_eq!(ours, serde_json::to_vec(&v).expect("serde"));
    }

    #[test]
    fn finding_records_are_serde_jsons_bytes() {
        let calc = Evidence::Calculation {
            inputs: json!({"facility": "F1", "point": {"lat": 41.1, "lon": -104.8}, "d": 3289.518})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            formula: "distance_m <= limit_m".into(),
            result: json!(true),
        };
        let subjects = [
            Subject::Facility { id: "F \"1\"".into() },
            Subject::Device {
                address: "127.0.0.1".into(),
                mac: None,
                serial: Some("S".into()),
            },
            Subject::EntryLine {
                entry: "E1".into(),
                line: 3,
            },
        ];
        for subject in subjects {
            let f = Finding::new(RuleId::SITE_SCREENING, subject, "a message\nwith a line break")
                .with_evidence(calc.clone())
                .with_evidence(Evidence::Exchange {
                    request: "summary".into(),
                    response: bytes_excerpt(b"\xff\x00ok"),
                });
            let mut ours = Vec::new();
            push_finding_record(&mut ours, &f).expect("write");
            let theirs = serde_json::to_vec(&Record::Finding(f.clone())).expect("serde");
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        }
    }
}
