//! The content scanner: one YARA-X `Scanner` per inventory thread over the shared compiled
//! rules, a time limit per file, and each matching rule turned into a [`RuleMatch`].
//!
//! A YARA-X scanner holds per-scan state that cannot move between threads, and building one
//! (a WebAssembly instance) costs more than scanning a small file, so each thread builds one
//! when the inventory opens its session and reuses it for every file of its share.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use hashward_firmware::scan::{ContentScanner, RuleMatch, ScanFailure, ScanSession};
use hashward_model::Severity;
use yara_x::{MetaValue, ScanError};

use crate::rules::RuleSet;

/// How each file is scanned.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Time one file may take (YARA-X checks it about once a second).
    pub timeout: Duration,
    /// Matches kept per pattern and file: memory stays bounded on a file that repeats a
    /// pattern millions of times; counts reported are then lower bounds.
    pub max_matches_per_pattern: usize,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            timeout: Duration::from_secs(10),
            max_matches_per_pattern: 1000,
        }
    }
}

/// YARA rules as a [`ContentScanner`].
pub struct YaraScanner<'r> {
    set: &'r RuleSet,
    opts: ScanOptions,
}

impl<'r> YaraScanner<'r> {
    /// A scanner over `set`.
    pub fn new(set: &'r RuleSet, opts: ScanOptions) -> YaraScanner<'r> {
        YaraScanner { set, opts }
    }

    /// Scan one buffer on the calling thread (tests, one-off use); the inventory uses
    /// sessions instead.
    pub fn scan_bytes(&self, path: &str, bytes: &[u8]) -> Result<Vec<RuleMatch>, ScanFailure> {
        let mut out = Vec::new();
        self.session().scan(path, bytes, &mut out)?;
        Ok(out)
    }

    fn engine(&self) -> yara_x::Scanner<'r> {
        let mut s = yara_x::Scanner::new(&self.set.rules);
        s.set_timeout(self.opts.timeout)
            .max_matches_per_pattern(self.opts.max_matches_per_pattern);
        s
    }
}

impl ContentScanner for YaraScanner<'_> {
    fn name(&self) -> &'static str {
        "yara"
    }

    fn session(&self) -> Box<dyn ScanSession + '_> {
        Box::new(Session {
            owner: self,
            engine: self.engine(),
        })
    }
}

/// One thread's YARA-X scanner.
struct Session<'s, 'r> {
    owner: &'s YaraScanner<'r>,
    engine: yara_x::Scanner<'r>,
}

impl ScanSession for Session<'_, '_> {
    fn scan(&mut self, path: &str, bytes: &[u8], out: &mut Vec<RuleMatch>) -> Result<(), ScanFailure> {
        let fail = |error: String| ScanFailure {
            engine: "yara",
            file: path.to_owned(),
            error,
        };
        let set = self.owner.set;
        let timeout = self.owner.opts.timeout;
        // The bytes are hostile and the engine is not ours: a panic in it costs this file's
        // result (and a fresh scanner), not the rest of the inventory.
        let scanned = catch_unwind(AssertUnwindSafe(|| {
            let results = self.engine.scan(bytes)?;
            Ok::<_, ScanError>(
                results
                    .matching_rules()
                    .map(|rule| to_match(set, path, bytes, &rule))
                    .collect::<Vec<_>>(),
            )
        }));
        match scanned {
            Ok(Ok(matches)) => {
                out.extend(matches);
                Ok(())
            }
            Ok(Err(ScanError::Timeout)) => Err(fail(format!("timeout after {} s", timeout.as_secs_f32()))),
            Ok(Err(e)) => Err(fail(e.to_string())),
            Err(_) => {
                self.engine = self.owner.engine();
                Err(fail("the YARA-X engine panicked".to_owned()))
            }
        }
    }
}

/// One matching rule as a [`RuleMatch`]: the earliest match of any of its public patterns,
/// the count of their matches, and its metadata.
fn to_match(set: &RuleSet, path: &str, bytes: &[u8], rule: &yara_x::Rule<'_, '_>) -> RuleMatch {
    // Private patterns (`$php = "<?" private`) are context, not evidence: they count only
    // when no public pattern matched.
    let mut public = (None, 0u64);
    let mut private = (None, 0u64);
    for p in rule.patterns().include_private(true) {
        let (first, count) = if p.is_private() { &mut private } else { &mut public };
        for m in p.matches() {
            *count += 1;
            let r = m.range();
            if first
                .as_ref()
                .is_none_or(|f: &std::ops::Range<usize>| r.start < f.start)
            {
                *first = Some(r);
            }
        }
    }
    let (mut first, matches) = if public.1 > 0 { public } else { private };
    let namespace = rule.namespace();
    let builtin = set.builtin.get(namespace).copied().unwrap_or(false);
    // The built-in shell rules anchor at a line start (`(^|[^\t\x20-\x7e])…`), so their
    // match begins with the byte before the line: the evidence starts at the line itself.
    // (Only theirs: a user's pattern may well start with such a byte on purpose.)
    if builtin
        && let Some(r) = &mut first
        && r.len() > 1
        && bytes
            .get(r.start)
            .is_some_and(|b| *b != b'\t' && !(0x20..=0x7e).contains(b))
    {
        r.start += 1;
    }
    let mut severity = None;
    let mut description = None;
    let mut meta = BTreeMap::new();
    for (key, value) in rule.metadata() {
        match (key, value) {
            // A severity hashward does not know stays visible in `meta`.
            ("severity", MetaValue::String(s)) if severity_of(s).is_some() => severity = severity_of(s),
            ("description", MetaValue::String(s)) => description = Some(s.to_owned()),
            (k, v) => {
                meta.insert(k.to_owned(), meta_json(v));
            }
        }
    }
    RuleMatch {
        engine: "yara",
        namespace: namespace.to_owned(),
        rule: rule.identifier().to_owned(),
        file: path.to_owned(),
        offset: first.as_ref().map(|r| r.start as u64),
        length: first.map_or(0, |r| r.len() as u64),
        matches,
        severity,
        description,
        builtin,
        meta,
    }
}

/// `"High"`, `" critical"`… as a severity.
fn severity_of(s: &str) -> Option<Severity> {
    s.trim().to_ascii_lowercase().parse().ok()
}

/// A metadata value as JSON (bytes that are not UTF-8 as a lossy string).
fn meta_json(v: MetaValue<'_>) -> serde_json::Value {
    match v {
        MetaValue::Integer(i) => i.into(),
        MetaValue::Float(f) => serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into),
        MetaValue::Bool(b) => b.into(),
        MetaValue::String(s) => s.into(),
        MetaValue::Bytes(b) => String::from_utf8_lossy(b).into_owned().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Source;

    fn set(text: &str) -> RuleSet {
        RuleSet::compile(vec![Source {
            namespace: "t".into(),
            origin: "t.yar".into(),
            text: text.as_bytes().to_vec(),
            builtin: false,
        }])
        .unwrap()
    }

    #[test]
    fn a_match_carries_offset_length_count_and_metadata() {
        let rules = set(r#"
            rule two_patterns {
                meta:
                    severity = "High"
                    description = "test rule"
                    author = "me"
                    score = 7
                strings:
                    $a = "needle"
                    $b = /ha+y/
                condition:
                    all of them
            }
            rule absent { strings: $x = "nothing" condition: $x }
        "#);
        let s = rules.scanner(ScanOptions::default());
        let m = s.scan_bytes("etc/f", b"haaay, a needle, another needle").unwrap();
        assert_eq!(m.len(), 1);
        let m = &m[0];
        assert_eq!(
            (m.rule.as_str(), m.namespace.as_str(), m.file.as_str()),
            ("two_patterns", "t", "etc/f")
        );
        assert_eq!((m.offset, m.length, m.matches), (Some(0), 5, 3));
        assert_eq!(m.severity, Some(Severity::High));
        assert_eq!(m.description.as_deref(), Some("test rule"));
        assert_eq!(m.meta["author"], "me");
        assert_eq!(m.meta["score"], 7);
        assert!(!m.builtin);
    }

    #[test]
    fn an_unknown_severity_stays_in_meta_and_a_condition_only_rule_has_no_offset() {
        let rules = set(r#"rule big { meta: severity = "urgent" condition: filesize > 3 }"#);
        let m = rules
            .scanner(ScanOptions::default())
            .scan_bytes("f", b"12345")
            .unwrap();
        assert_eq!(m[0].severity, None);
        assert_eq!(m[0].meta["severity"], "urgent");
        assert_eq!((m[0].offset, m[0].matches), (None, 0));
    }

    #[test]
    fn a_line_anchored_builtin_match_starts_at_the_line() {
        let text = r#"rule l { strings: $a = /(^|[^\t\x20-\x7e])run [a-z]+/ condition: $a }"#;
        let builtin = RuleSet::compile(vec![Source {
            namespace: "hashward/t".into(),
            origin: "hashward/t.yar".into(),
            text: text.as_bytes().to_vec(),
            builtin: true,
        }])
        .unwrap();
        let s = builtin.scanner(ScanOptions::default());
        let m = s.scan_bytes("f", b"x\nrun it\n").unwrap();
        assert_eq!((m[0].offset, m[0].length, m[0].builtin), (Some(2), 6, true));
        let m = s.scan_bytes("f", b"\x00\x01run it").unwrap();
        assert_eq!((m[0].offset, m[0].length), (Some(2), 6));
        // At the start of the file there is no byte to skip.
        let m = s.scan_bytes("f", b"run it").unwrap();
        assert_eq!((m[0].offset, m[0].length), (Some(0), 6));
        // A user's rule keeps its match as it is: the byte may be the point.
        let user = set(text);
        let m = user
            .scanner(ScanOptions::default())
            .scan_bytes("f", b"x\nrun it\n")
            .unwrap();
        assert_eq!((m[0].offset, m[0].length), (Some(1), 7));
    }

    #[test]
    fn private_patterns_are_context_not_evidence() {
        let rules = set(r#"
            rule ctx { strings: $m = "MAGIC" private $x = "payload" condition: $m and $x }
            rule only_private { strings: $m = "MAGIC" private condition: $m }
        "#);
        let m = rules
            .scanner(ScanOptions::default())
            .scan_bytes("f", b"MAGIC ... payload")
            .unwrap();
        assert_eq!(
            (m[0].rule.as_str(), m[0].offset, m[0].matches),
            ("ctx", Some(10), 1)
        );
        // With nothing public, the private match is all there is to show.
        assert_eq!(
            (m[1].rule.as_str(), m[1].offset, m[1].matches),
            ("only_private", Some(0), 1)
        );
    }

    #[test]
    fn match_counts_are_bounded_per_pattern() {
        let rules = set(r#"rule many { strings: $a = "ab" condition: #a > 5 }"#);
        let opts = ScanOptions {
            max_matches_per_pattern: 10,
            ..ScanOptions::default()
        };
        let m = rules
            .scanner(opts)
            .scan_bytes("f", &b"ab".repeat(10_000))
            .unwrap();
        assert_eq!(m[0].matches, 10);
    }

    #[test]
    fn a_scan_that_runs_out_of_time_is_a_failure_and_the_session_goes_on() {
        // Quadratic in the file size: hours on 64 KiB without the limit.
        let rules = set(
            "rule slow { condition: for all i in (0..filesize) : ( for all j in (0..filesize) : ( uint8(i) != 0xff or uint8(j) != 0xfe ) ) }\n\
             rule quick { strings: $a = \"quick\" condition: $a }",
        );
        let opts = ScanOptions {
            timeout: Duration::from_secs(1),
            ..ScanOptions::default()
        };
        let s = rules.scanner(opts);
        let mut session = s.session();
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        let err = session.scan("big", &vec![0u8; 64 << 10], &mut out).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!((err.engine, err.file.as_str()), ("yara", "big"));
        assert!(err.error.contains("timeout"), "{}", err.error);
        assert!(out.is_empty());
        // The same session scans the next file.
        session.scan("small", b"quick", &mut out).unwrap();
        assert!(out.iter().any(|m| m.rule == "quick"), "{out:?}");
    }

    #[test]
    fn the_scanner_is_shared_by_threads() {
        let rules = set(r#"rule a { strings: $a = "abc" condition: $a }"#);
        let s = rules.scanner(ScanOptions::default());
        let counts: Vec<usize> = std::thread::scope(|scope| {
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    let s = &s;
                    scope.spawn(move || {
                        let mut session = s.session();
                        let mut out = Vec::new();
                        for n in 0..50 {
                            let data = if (n + i) % 2 == 0 { &b"xxabc"[..] } else { b"xxx" };
                            session.scan("f", data, &mut out).unwrap();
                        }
                        out.len()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(counts, [25, 25, 25, 25]);
    }
}
