//! Known-vulnerable component versions (`rules/vulnerable.toml`): the table, checked when it is
//! loaded, and the lookup of a component version in it. FW-014 (`detect/vulnerable.rs`) and
//! the CycloneDX SBOM (`sbom.rs`) both read their matches from here.

pub mod version;

use std::collections::HashSet;
use std::sync::OnceLock;

use hashward_model::{RuleId, Severity};
use serde::Deserialize;

pub use version::Version;

/// The built-in table, with its sources (`rules/vulnerable.toml`).
const TABLE: &str = include_str!("../../../../rules/vulnerable.toml");

/// Why a table cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The file is not TOML of the expected shape.
    #[error("not a vulnerability table: {0}")]
    Syntax(#[from] toml::de::Error),
    /// One entry breaks a rule of the table.
    #[error("entry {id:?}: {problem}")]
    Entry {
        /// The entry's id (or its position when it has none).
        id: String,
        /// What is wrong.
        problem: String,
    },
}

/// One affected range as written in the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// First affected version (inclusive); all earlier ones when absent.
    pub introduced: Option<String>,
    /// First version with the fix (exclusive).
    pub fixed: Option<String>,
    /// Last affected version (inclusive), when the source names no fixed release.
    pub last_affected: Option<String>,
}

/// One entry as written in the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvisorySpec {
    /// Stable id.
    pub id: String,
    /// Canonical component name.
    pub component: String,
    /// Other names of the same code.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// CVE ids.
    pub cves: Vec<String>,
    /// Severity on a miner.
    pub severity: String,
    /// Why the severity is above the rule's default.
    pub why: Option<String>,
    /// Affected ranges.
    #[serde(default)]
    pub affected: Vec<RangeSpec>,
    /// Affected versions named one by one.
    #[serde(default)]
    pub versions: Vec<String>,
    /// One line, in our words.
    pub summary: String,
    /// Where the facts come from.
    pub sources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    vulnerability: Vec<AdvisorySpec>,
}

/// A parsed affected range.
#[derive(Debug, Clone)]
pub struct Range {
    introduced: Option<Version>,
    upper: Upper,
}

/// How a range ends.
#[derive(Debug, Clone)]
pub enum Upper {
    /// Fixed in this version (exclusive).
    Fixed(Version),
    /// Affected up to and including this version.
    LastAffected(Version),
}

impl Range {
    /// Whether `v` lies in the range.
    pub fn contains(&self, v: &Version) -> bool {
        self.introduced.as_ref().is_none_or(|i| v >= i)
            && match &self.upper {
                Upper::Fixed(f) => v < f,
                Upper::LastAffected(l) => v <= l,
            }
    }

    /// How the range ends.
    pub fn upper(&self) -> &Upper {
        &self.upper
    }
}

/// A checked table entry.
#[derive(Debug, Clone)]
pub struct Advisory {
    /// The entry as written.
    pub spec: AdvisorySpec,
    /// Its severity.
    pub severity: Severity,
    ranges: Vec<Range>,
    versions: Vec<Version>,
}

/// Where a component version falls in an advisory.
#[derive(Debug, Clone, Copy)]
pub enum Hit<'a> {
    /// Inside an affected range.
    Range(&'a Range),
    /// One of the versions listed one by one.
    Listed,
}

impl Advisory {
    /// Whether the advisory is about `name` (the canonical name or an alias).
    pub fn names(&self, name: &str) -> bool {
        self.spec.component == name || self.spec.aliases.iter().any(|a| a == name)
    }

    /// Where `v` is affected, if it is.
    pub fn affects(&self, v: &Version) -> Option<Hit<'_>> {
        if let Some(r) = self.ranges.iter().find(|r| r.contains(v)) {
            return Some(Hit::Range(r));
        }
        self.versions.contains(v).then_some(Hit::Listed)
    }

    /// The severity a finding takes: the entry's, capped at FW-014's default unless the entry
    /// says why it is worse (the loader requires that reason; the cap keeps a table edited by
    /// hand from inflating severities silently).
    pub fn finding_severity(&self) -> Severity {
        let default = RuleId::FW_VULNERABLE_COMPONENT.info().severity;
        if self.spec.why.is_some() {
            self.severity
        } else {
            self.severity.min(default)
        }
    }

    /// The fix as a sentence fragment: `fixed in 2016.74`, or what the source says instead.
    pub fn fix_text(&self, hit: Hit<'_>) -> String {
        match hit {
            Hit::Range(r) => match r.upper() {
                Upper::Fixed(f) => format!("fixed in {f}"),
                Upper::LastAffected(l) => {
                    format!("affected through {l}; the source names no fixed release")
                }
            },
            Hit::Listed => "affected release named by the source; upgrade past it".to_owned(),
        }
    }
}

/// A checked table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    advisories: Vec<Advisory>,
}

/// An advisory that applies to a component version.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    /// The advisory.
    pub advisory: &'a Advisory,
    /// Where the version fell.
    pub hit: Hit<'a>,
}

impl Table {
    /// Parse and check a table; every rule of `rules/vulnerable.toml`'s header is enforced.
    pub fn parse(text: &str) -> Result<Table, TableError> {
        let file: File = toml::from_str(text)?;
        let mut ids = HashSet::new();
        let mut advisories = Vec::with_capacity(file.vulnerability.len());
        for spec in file.vulnerability {
            let bad = |problem: String| TableError::Entry {
                id: spec.id.clone(),
                problem,
            };
            if !ids.insert(spec.id.clone()) {
                return Err(bad("duplicate id".into()));
            }
            check_entry(&spec).map_err(bad)?;
            let severity: Severity = spec.severity.parse().map_err(bad)?;
            let default = RuleId::FW_VULNERABLE_COMPONENT.info().severity;
            if severity > default && spec.why.as_deref().is_none_or(|w| w.trim().is_empty()) {
                return Err(bad(format!("severity {severity} above {default} needs a why")));
            }
            let ranges = spec
                .affected
                .iter()
                .map(parse_range)
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            check_order(&ranges).map_err(bad)?;
            let versions = spec
                .versions
                .iter()
                .map(|s| Version::parse(s).ok_or_else(|| format!("unparseable version {s:?}")))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            advisories.push(Advisory {
                spec,
                severity,
                ranges,
                versions,
            });
        }
        Ok(Table { advisories })
    }

    /// Every advisory.
    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    /// The advisories that apply to component `name` at `version`. A version that does not
    /// parse matches nothing.
    pub fn lookup(&self, name: &str, version: &str) -> Vec<Match<'_>> {
        let Some(v) = Version::parse(version) else {
            return Vec::new();
        };
        self.advisories
            .iter()
            .filter(|a| a.names(name))
            .filter_map(|a| a.affects(&v).map(|hit| Match { advisory: a, hit }))
            .collect()
    }
}

/// The built-in table (embedded at build time; a test keeps it loadable, so a broken file
/// shows up as a failed test rather than an empty table in use).
pub fn builtin() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        Table::parse(TABLE).unwrap_or_else(|e| {
            tracing::error!("rules/vulnerable.toml: {e}");
            Table::default()
        })
    })
}

fn check_entry(spec: &AdvisorySpec) -> Result<(), String> {
    let lower = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    };
    if !lower(&spec.id) {
        return Err("id must be lowercase letters, digits and dashes".into());
    }
    if !lower(&spec.component) || !spec.aliases.iter().all(|a| lower(a)) {
        return Err("component names are canonical lowercase".into());
    }
    if spec.cves.is_empty() || !spec.cves.iter().all(|c| is_cve(c)) {
        return Err("needs CVE ids of the form CVE-YYYY-NNNN".into());
    }
    if spec.affected.is_empty() && spec.versions.is_empty() {
        return Err("needs affected ranges or versions".into());
    }
    if spec.summary.trim().is_empty() || spec.summary.contains('\n') {
        return Err("summary must be one line".into());
    }
    if spec.sources.is_empty()
        || !spec
            .sources
            .iter()
            .all(|s| s.starts_with("https://") || s.starts_with("http://"))
    {
        return Err("needs at least one source URL".into());
    }
    Ok(())
}

fn is_cve(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("CVE")
        && parts
            .next()
            .is_some_and(|y| y.len() == 4 && y.bytes().all(|c| c.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|n| n.len() >= 4 && n.bytes().all(|c| c.is_ascii_digit()))
        && parts.next().is_none()
}

fn parse_range(spec: &RangeSpec) -> Result<Range, String> {
    let parse = |s: &String| Version::parse(s).ok_or_else(|| format!("unparseable version {s:?}"));
    let introduced = spec.introduced.as_ref().map(parse).transpose()?;
    let upper = match (&spec.fixed, &spec.last_affected) {
        (Some(f), None) => Upper::Fixed(parse(f)?),
        (None, Some(l)) => Upper::LastAffected(parse(l)?),
        _ => return Err("a range needs exactly one of fixed and last_affected".into()),
    };
    if let Some(i) = &introduced {
        let empty = match &upper {
            Upper::Fixed(f) => i >= f,
            Upper::LastAffected(l) => i > l,
        };
        if empty {
            return Err(format!("range starting at {i} is empty"));
        }
    }
    Ok(Range { introduced, upper })
}

/// Ranges must be sorted and must not overlap: each one after the first starts after the
/// previous one ends.
fn check_order(ranges: &[Range]) -> Result<(), String> {
    for w in ranges.windows(2) {
        let Some(start) = &w[1].introduced else {
            return Err("only the first range may omit introduced".into());
        };
        let after = match &w[0].upper {
            Upper::Fixed(f) => start >= f,
            Upper::LastAffected(l) => start > l,
        };
        if !after {
            return Err(format!("range starting at {start} overlaps the one before"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(body: &str) -> Result<Table, TableError> {
        Table::parse(body)
    }

    fn entry(extra: &str) -> String {
        format!(
            "[[vulnerability]]\nid = \"x\"\ncomponent = \"busybox\"\ncves = [\"CVE-2019-5747\"]\n\
             severity = \"low\"\nsummary = \"s\"\nsources = [\"https://example.invalid/a\"]\n{extra}\n"
        )
    }

    #[test]
    fn builtin_table_loads_and_every_entry_is_sourced() {
        let t = Table::parse(TABLE).unwrap_or_else(|e| panic!("{e}"));
        assert!(t.advisories().len() >= 15, "{}", t.advisories().len());
        for a in t.advisories() {
            assert!(!a.spec.sources.is_empty(), "{}", a.spec.id);
            assert!(!a.spec.cves.is_empty(), "{}", a.spec.id);
        }
        assert_eq!(builtin().advisories().len(), t.advisories().len());
    }

    #[test]
    fn builtin_table_covers_the_miner_components() {
        let names: HashSet<&str> = builtin()
            .advisories()
            .iter()
            .map(|a| a.spec.component.as_str())
            .collect();
        for n in [
            "busybox", "dropbear", "openssh", "lighttpd", "openssl", "curl", "glibc", "uclibc", "musl",
            "linux", "cgminer",
        ] {
            assert!(names.contains(n), "{n}");
        }
    }

    #[test]
    fn lookups_in_the_builtin_table() {
        let t = builtin();
        let ids = |name: &str, v: &str| -> Vec<String> {
            t.lookup(name, v)
                .iter()
                .map(|m| m.advisory.spec.id.clone())
                .collect()
        };
        assert!(ids("dropbear", "2016.73").contains(&"dropbear-format-string".to_owned()));
        assert!(!ids("dropbear", "2016.74").contains(&"dropbear-format-string".to_owned()));
        assert!(ids("dropbear", "2016.74").contains(&"dropbear-forward-double-free".to_owned()));
        assert!(ids("dropbear", "2022.83").is_empty());
        assert_eq!(ids("openssl", "1.0.1f"), ["openssl-heartbleed"]);
        assert!(ids("openssl", "1.0.1g").is_empty());
        assert_eq!(ids("openssl", "1.0.2k"), ["openssl-bn-mod-sqrt-loop"]);
        assert_eq!(ids("openssl", "1.0.2zc"), ["openssl-bn-mod-sqrt-loop"]);
        assert!(ids("openssl", "1.0.2zd").is_empty());
        assert!(ids("openssl", "1.1.0l").is_empty(), "1.1.0 is between the ranges");
        assert_eq!(ids("openssh", "7.4p1"), ["openssh-user-enumeration"]);
        assert_eq!(ids("openssh", "9.7p1"), ["openssh-regresshion"]);
        assert!(ids("openssh", "9.8p1").is_empty());
        assert!(ids("openssh", "8.4p1").is_empty());
        assert_eq!(
            ids("lighttpd", "1.4.65"),
            ["lighttpd-wstunnel-null", "lighttpd-gw-backend-leak"]
        );
        // The generations in the firmware research: kernels 3.8.13 and 4.6.0-xilinx.
        assert_eq!(ids("linux", "3.8.13"), ["linux-sack-panic"]);
        assert_eq!(ids("linux", "4.6.0-xilinx-g03c746f7"), ["linux-sack-panic"]);
        assert!(ids("linux", "4.4.182").is_empty());
        assert!(ids("linux", "4.9.200").is_empty());
        assert_eq!(ids("linux", "4.9.181"), ["linux-sack-panic"]);
        assert!(ids("linux", "2.6.28").is_empty());
        assert_eq!(
            ids("glibc", "2.17"),
            ["glibc-ghost", "glibc-getaddrinfo-dns-overflow"]
        );
        assert!(ids("glibc", "2.25").is_empty());
        assert_eq!(
            ids("cgminer", "3.12.0"),
            ["cgminer-stratum-overflows", "cgminer-notify-exit"]
        );
        assert!(ids("cgminer", "4.10.0").is_empty());
        assert_eq!(ids("uclibc-ng", "1.0.38"), ["uclibc-dns-name-validation"]);
        assert!(ids("busybox", "1.36.1").is_empty());
        assert_eq!(
            ids("busybox", "1.30.0"),
            ["busybox-udhcp-subnet-length", "busybox-gunzip-invalid-free"]
        );
    }

    #[test]
    fn unknown_or_unparseable_versions_match_nothing() {
        let t = builtin();
        for v in ["", "unknown", "OpenSSH_7.4p1", "1:2.17", "\u{0}\u{ff}"] {
            for name in ["openssh", "glibc", "dropbear"] {
                assert!(t.lookup(name, v).is_empty(), "{name} {v:?}");
            }
        }
        assert!(t.lookup("nginx", "1.0.0").is_empty());
    }

    #[test]
    fn range_bounds() {
        let t = table(&entry(
            "affected = [{ introduced = \"1.2\", fixed = \"1.4\" }, { introduced = \"2.0\", last_affected = \"2.1\" }]",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let hit = |v: &str| !t.lookup("busybox", v).is_empty();
        assert!(!hit("1.1.9"));
        assert!(hit("1.2"));
        assert!(hit("1.3.99"));
        assert!(!hit("1.4"));
        assert!(!hit("1.9"));
        assert!(hit("2.0"));
        assert!(hit("2.1"));
        assert!(hit("2.1-xilinx"));
        assert!(!hit("2.1.1"));
    }

    #[test]
    fn explicit_versions() {
        let t = table(&entry("versions = [\"1.4.65\"]")).unwrap_or_else(|e| panic!("{e}"));
        assert!(!t.lookup("busybox", "1.4.65").is_empty());
        assert!(t.lookup("busybox", "1.4.64").is_empty());
        assert!(matches!(t.lookup("busybox", "1.4.65")[0].hit, Hit::Listed));
    }

    #[test]
    fn rejected_tables() {
        let cases = [
            (
                "affected = [{ fixed = \"1.4\" , last_affected = \"1.3\" }]",
                "exactly one",
            ),
            ("affected = [{ introduced = \"1.4\" }]", "exactly one"),
            ("affected = [{ introduced = \"1.4\", fixed = \"1.4\" }]", "empty"),
            (
                "affected = [{ introduced = \"2.0\", fixed = \"3.0\" }, { introduced = \"1.0\", fixed = \"1.5\" }]",
                "overlaps",
            ),
            (
                "affected = [{ fixed = \"3.0\" }, { introduced = \"2.0\", fixed = \"4.0\" }]",
                "overlaps",
            ),
            (
                "affected = [{ fixed = \"3.0\" }, { fixed = \"4.0\" }]",
                "omit introduced",
            ),
            ("affected = [{ fixed = \"OpenSSH_7.4\" }]", "unparseable"),
            ("", "ranges or versions"),
            ("versions = [\"x\"]", "unparseable"),
        ];
        for (extra, want) in cases {
            match table(&entry(extra)) {
                Err(e) => assert!(e.to_string().contains(want), "{extra}: {e}"),
                Ok(_) => panic!("{extra} should be rejected"),
            }
        }
        let body = entry("versions = [\"1.0\"]");
        assert!(table(&format!("{body}{body}")).is_err_and(|e| e.to_string().contains("duplicate")));
        let high = entry("versions = [\"1.0\"]").replace("\"low\"", "\"high\"");
        assert!(table(&high).is_err_and(|e| e.to_string().contains("needs a why")));
        let no_source = entry("versions = [\"1.0\"]").replace("[\"https://example.invalid/a\"]", "[]");
        assert!(table(&no_source).is_err_and(|e| e.to_string().contains("source")));
        let bad_cve = entry("versions = [\"1.0\"]").replace("CVE-2019-5747", "CVE-19-1");
        assert!(table(&bad_cve).is_err_and(|e| e.to_string().contains("CVE")));
        assert!(table("[[vulnerability]]\nid = 1").is_err());
    }

    #[test]
    fn severity_is_capped_without_a_reason() {
        let t = table(&entry("versions = [\"1.0\"]").replace(
            "severity = \"low\"",
            "severity = \"critical\"\nwhy = \"reachable\"",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.advisories()[0].finding_severity(), Severity::Critical);
        let mut a = t.advisories()[0].clone();
        a.spec.why = None;
        assert_eq!(a.finding_severity(), Severity::Medium);
        a.severity = Severity::Low;
        assert_eq!(a.finding_severity(), Severity::Low);
    }
}
