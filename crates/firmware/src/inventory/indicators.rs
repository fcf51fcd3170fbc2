//! Indicators: strings (and file names) whose presence is evidence of remote control,
//! phone-home, download-and-execute or hashrate diversion, from `rules/indicators.toml`. Every
//! string of every indicator is searched in one pass per file (Aho-Corasick).

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use serde::{Deserialize, Serialize};

/// The built-in indicators, with their sources (`rules/indicators.toml`).
const INDICATORS: &str = include_str!("../../../../rules/indicators.toml");

/// One indicator as the rules file states it.
#[derive(Debug, Clone, Deserialize)]
pub struct Indicator {
    /// Stable id.
    pub id: String,
    /// Catalogue rule it raises.
    pub rule: String,
    /// Severity, when not the rule's default.
    pub severity: Option<String>,
    /// Which files: `elf`, `script`, `text` or `any`.
    pub files: String,
    /// Fires when any of these is present.
    #[serde(default)]
    pub any: Vec<String>,
    /// Fires when all of these are present.
    #[serde(default)]
    pub all: Vec<String>,
    /// File names that are evidence by themselves.
    #[serde(default)]
    pub names: Vec<String>,
    /// What it means.
    pub description: String,
    /// Where it comes from.
    pub source: String,
}

#[derive(Deserialize)]
struct File {
    indicator: Vec<Indicator>,
}

/// An indicator found in a file.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorHit {
    /// The indicator's id.
    pub indicator: String,
    /// The rule it raises.
    pub rule: String,
    /// Its severity, when not the rule's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Path of the file in the output.
    pub file: String,
    /// Byte offset of the first string matched (0 for a name match).
    pub offset: u64,
    /// The strings (or the name) matched.
    pub matched: Vec<String>,
    /// What it means.
    pub description: String,
}

struct Matcher {
    indicators: Vec<Indicator>,
    /// Every distinct string, and the automaton over them.
    strings: Vec<String>,
    ac: Option<AhoCorasick>,
}

/// The built-in indicators (the file ships with the binary; a test checks it parses).
pub fn builtin() -> &'static [Indicator] {
    &matcher().indicators
}

fn matcher() -> &'static Matcher {
    static M: OnceLock<Matcher> = OnceLock::new();
    M.get_or_init(|| {
        let indicators = toml::from_str::<File>(INDICATORS).map_or_else(|_| Vec::new(), |f| f.indicator);
        let mut strings: Vec<String> = indicators
            .iter()
            .flat_map(|i| i.any.iter().chain(&i.all).cloned())
            .collect();
        strings.sort();
        strings.dedup();
        let ac = AhoCorasick::new(&strings).ok();
        Matcher {
            indicators,
            strings,
            ac,
        }
    })
}

fn kind_matches(files: &str, bytes: &[u8]) -> bool {
    let elf = bytes.starts_with(b"\x7fELF");
    let script = bytes.starts_with(b"#!");
    match files {
        "elf" => elf,
        "script" => script,
        "text" => !elf && !bytes[..bytes.len().min(512)].contains(&0),
        _ => true,
    }
}

/// The indicators found in one file.
pub(crate) fn scan(path: &str, bytes: &[u8]) -> Vec<IndicatorHit> {
    let m = matcher();
    let name = path.rsplit('/').next().unwrap_or(path);
    // First offset of each string present.
    let mut first: Vec<Option<u64>> = vec![None; m.strings.len()];
    if let Some(ac) = &m.ac {
        for hit in ac.find_overlapping_iter(bytes) {
            let slot = &mut first[hit.pattern().as_usize()];
            if slot.is_none() {
                *slot = Some(hit.start() as u64);
            }
        }
    }
    let at = |s: &String| m.strings.binary_search(s).ok().and_then(|i| first[i]);
    let mut out = Vec::new();
    for ind in &m.indicators {
        let hit = if ind.names.iter().any(|n| n == name) {
            Some((0, vec![name.to_owned()]))
        } else if !kind_matches(&ind.files, bytes) {
            None
        } else if let Some((s, o)) = ind.any.iter().find_map(|s| at(s).map(|o| (s, o))) {
            Some((o, vec![s.clone()]))
        } else if !ind.all.is_empty() && ind.all.iter().all(|s| at(s).is_some()) {
            let o = ind.all.iter().filter_map(at).min().unwrap_or(0);
            Some((o, ind.all.clone()))
        } else {
            None
        };
        if let Some((offset, matched)) = hit {
            // One hit per rule and file: a second indicator of the same rule adds its strings.
            if let Some(prev) = out.iter_mut().find(|h: &&mut IndicatorHit| h.rule == ind.rule) {
                prev.matched.extend(matched);
                continue;
            }
            out.push(IndicatorHit {
                indicator: ind.id.clone(),
                rule: ind.rule.clone(),
                severity: ind.severity.clone(),
                file: path.to_owned(),
                offset,
                matched,
                description: ind.description.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_file_parses_and_every_indicator_has_a_source_and_a_known_rule() {
        let all = builtin();
        assert!(all.len() >= 6);
        for i in all {
            assert!(!i.source.is_empty() && !i.description.is_empty(), "{}", i.id);
            assert!(hashward_model::RuleId::new(&i.rule).is_some(), "{}", i.rule);
            assert!(
                !(i.any.is_empty() && i.all.is_empty() && i.names.is_empty()),
                "{}",
                i.id
            );
            assert!(
                ["elf", "script", "text", "any"].contains(&i.files.as_str()),
                "{}",
                i.id
            );
        }
    }

    #[test]
    fn any_all_names_and_file_kinds() {
        let elf = b"\x7fELF....bmminer\0auth.minerlink.com\x007000\0";
        let h = scan("usr/bin/bmminer", elf);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].indicator, "antbleed-host");
        assert_eq!(h[0].offset, 16);
        // `all` needs every string; in a text file the elf-only indicator does not apply.
        let partial = b"\x7fELF\0ctrl_board\0hashboard\0";
        assert!(scan("usr/bin/x", partial).is_empty());
        let text = b"ctrl_board hashboard Stop mining!!!";
        assert!(scan("notes.txt", text).is_empty());
        let full = b"\x7fELF\0ctrl_board\0hashboard\0Stop mining!!!\0";
        assert_eq!(scan("usr/bin/x", full)[0].indicator, "antbleed-code");
        // Both Antbleed indicators in one file: one hit, every string listed.
        let both = b"\x7fELF\0auth.minerlink.com\0ctrl_board\0hashboard\0Stop mining!!!\0";
        let h = scan("usr/bin/bmminer", both);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].matched.len(), 4);
        assert_eq!(scan("config/hotelfee.json", b"{}")[0].rule, "FW-013");
    }
}
