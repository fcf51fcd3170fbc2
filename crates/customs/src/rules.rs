//! The rules data (`rules/customs/*.toml`): measures, fees, classification hints, the code map,
//! HTS lines, models, price bands and origin profiles. Embedded at build time, overridable with a
//! directory; parsed strictly (an unknown key is an error naming the file and the key) and
//! checked (dates, rates, unique ids, IEEPA windows) before use.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::hts::Hts;
use crate::money::{Cents, Rate};

/// The files of a rules directory, in load order, with the embedded copies.
pub const FILES: [(&str, &str); 8] = [
    (
        "measures.toml",
        include_str!("../../../rules/customs/measures.toml"),
    ),
    ("fees.toml", include_str!("../../../rules/customs/fees.toml")),
    (
        "classification.toml",
        include_str!("../../../rules/customs/classification.toml"),
    ),
    (
        "code-map.toml",
        include_str!("../../../rules/customs/code-map.toml"),
    ),
    (
        "hts-lines.toml",
        include_str!("../../../rules/customs/hts-lines.toml"),
    ),
    ("models.toml", include_str!("../../../rules/customs/models.toml")),
    (
        "price-bands.toml",
        include_str!("../../../rules/customs/price-bands.toml"),
    ),
    ("origin.toml", include_str!("../../../rules/customs/origin.toml")),
];

/// A rules file that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file could not be read.
    #[error("rules {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid TOML or not the schema (unknown keys, wrong types).
    #[error("rules {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A record with a bad value.
    #[error("rules {file}, record {id}, key {key}: {message}")]
    Value {
        /// The file.
        file: String,
        /// The record's id.
        id: String,
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

// ---- raw TOML records (strict) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasuresFile {
    coverage: RawCoverage,
    ieepa_end: RawIeepaEnd,
    #[serde(default)]
    measure: Vec<RawMeasure>,
    #[serde(default)]
    declaration: Vec<RawDeclaration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoverage {
    from: String,
    to: String,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIeepaEnd {
    date: String,
    source: String,
    verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    id: String,
    group: String,
    authority: String,
    #[serde(default)]
    chapter99: String,
    #[serde(default)]
    rate: Option<String>,
    #[serde(default)]
    effect: Option<String>,
    #[serde(default)]
    exempts: Vec<String>,
    origin: Vec<String>,
    hts: Vec<String>,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    exempt_headings: Vec<String>,
    valid_from: String,
    valid_to: String,
    require_declared: bool,
    #[serde(default)]
    ieepa: bool,
    source: String,
    verified: bool,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeclaration {
    id: String,
    hts: Vec<String>,
    any_of: Vec<String>,
    valid_from: String,
    valid_to: String,
    source: String,
    verified: bool,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeesFile {
    mpf: Vec<RawMpf>,
    hmf: Vec<RawHmf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMpf {
    id: String,
    rate: String,
    min: String,
    max: String,
    valid_from: String,
    valid_to: String,
    source: String,
    verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHmf {
    id: String,
    rate: String,
    modes: Vec<String>,
    valid_from: String,
    valid_to: String,
    source: String,
    verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassificationFile {
    hint: Vec<RawHint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHint {
    id: String,
    kind: String,
    patterns: Vec<String>,
    expected_hts: String,
    heading: String,
    rulings: Vec<String>,
    source: String,
    verified: bool,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeMapFile {
    map: Vec<RawMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    id: String,
    legacy: String,
    current: String,
    invalid_from: String,
    source: String,
    verified: bool,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HtsLinesFile {
    line: Vec<RawLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    hts: String,
    description: String,
    mfn: String,
    source: String,
    verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsFile {
    model: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: String,
    names: Vec<String>,
    maker: String,
    ths: String,
    #[serde(default)]
    j_per_th: Option<String>,
    form: String,
    tier: String,
    source: String,
    verified: bool,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BandsFile {
    flag_below: String,
    band: Vec<RawBand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    id: String,
    tier: String,
    low: String,
    high: String,
    valid_from: String,
    valid_to: String,
    source: String,
    verified: bool,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginFile {
    se_asia: Vec<String>,
    lading_signal: Vec<String>,
    manufacturer: Vec<RawMaker>,
    prc_entity: Vec<RawPrc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaker {
    id: String,
    names: Vec<String>,
    countries: Vec<String>,
    source: String,
    verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrc {
    id: String,
    markers: Vec<String>,
    source: String,
    verified: bool,
    #[serde(default)]
    note: String,
}

// ---- validated rules ----

/// An inclusive date window; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First day (inclusive).
    pub from: Option<NaiveDate>,
    /// Last day (inclusive).
    pub to: Option<NaiveDate>,
}

impl Window {
    /// Whether `d` is inside.
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t)
    }
}

/// When a measure applies beyond date, origin and HTS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Always.
    Always,
    /// When CBP found the goods transshipped (the line's `transshipment`).
    Transshipment,
    /// When the line declares the measure's heading.
    Declared,
}

/// One dated measure.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Stable id.
    pub id: String,
    /// At most one measure of a group applies to a line.
    pub group: String,
    /// The instrument.
    pub authority: String,
    /// Its Chapter 99 heading (empty when not established).
    pub chapter99: String,
    /// Ad valorem rate (0 for exemptions).
    pub rate: Rate,
    /// Groups this exemption removes (empty for duties).
    pub exempts: Vec<String>,
    /// ISO country codes; empty means any.
    pub origins: Vec<String>,
    /// HTS digit prefixes; empty means any.
    pub hts: Vec<String>,
    /// Extra condition.
    pub condition: Condition,
    /// Higher wins within the group.
    pub priority: i32,
    /// Declaring one of these headings claims an exemption from this measure.
    pub exempt_headings: Vec<String>,
    /// Entry dates.
    pub window: Window,
    /// The heading must be declared when the measure applies.
    pub require_declared: bool,
    /// An IEEPA measure (refundable after the ruling).
    pub ieepa: bool,
    /// Provenance.
    pub source: String,
    /// Whether the brief marks the facts verified.
    pub verified: bool,
    /// Why a reading was chosen.
    pub note: String,
}

impl Measure {
    /// Whether the measure covers `hts` from `origin` on `date` (its condition aside).
    pub fn covers(&self, date: NaiveDate, origin: &str, hts: &Hts) -> bool {
        self.window.contains(date)
            && (self.origins.is_empty() || self.origins.iter().any(|o| o == origin))
            && (self.hts.is_empty() || self.hts.iter().any(|p| hts.starts_with(p)))
    }
}

/// A heading the entry must declare for some HTS numbers from a date.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// Stable id.
    pub id: String,
    /// HTS digit prefixes.
    pub hts: Vec<String>,
    /// One of these headings must be declared.
    pub any_of: Vec<String>,
    /// Entry dates.
    pub window: Window,
    /// Provenance.
    pub source: String,
}

/// MPF for one fiscal year.
#[derive(Debug, Clone)]
pub struct Mpf {
    /// Stable id (`MPF-FY2026`).
    pub id: String,
    /// Ad valorem rate.
    pub rate: Rate,
    /// Minimum per entry.
    pub min: Cents,
    /// Maximum per entry.
    pub max: Cents,
    /// Entry dates.
    pub window: Window,
    /// Provenance.
    pub source: String,
}

/// HMF.
#[derive(Debug, Clone)]
pub struct Hmf {
    /// Stable id.
    pub id: String,
    /// Ad valorem rate.
    pub rate: Rate,
    /// Modes of transport it applies to.
    pub modes: Vec<String>,
    /// Entry dates.
    pub window: Window,
    /// Provenance.
    pub source: String,
}

/// An expected heading for goods recognised by model or description.
#[derive(Debug, Clone)]
pub struct Hint {
    /// Stable id.
    pub id: String,
    /// `miner`, `hashboard`.
    pub kind: String,
    /// Lower-case substrings.
    pub patterns: Vec<String>,
    /// The expected number.
    pub expected: Hts,
    /// Digits of the heading a correct declaration falls under.
    pub heading: String,
    /// Rulings that support it.
    pub rulings: Vec<String>,
    /// Provenance.
    pub source: String,
    /// Whether verified.
    pub verified: bool,
}

/// A legacy number and its current equivalent.
#[derive(Debug, Clone)]
pub struct CodeMap {
    /// Stable id.
    pub id: String,
    /// The legacy number.
    pub legacy: Hts,
    /// The current number.
    pub current: Hts,
    /// The legacy number is invalid for entries from this date.
    pub invalid_from: NaiveDate,
    /// Provenance.
    pub source: String,
}

/// An HTS line with its MFN rate.
#[derive(Debug, Clone)]
pub struct HtsRate {
    /// Digit prefix.
    pub hts: Hts,
    /// Description.
    pub description: String,
    /// General rate.
    pub mfn: Rate,
    /// Provenance.
    pub source: String,
}

/// A miner model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Stable id.
    pub id: String,
    /// Normalised names (letters and digits, lower case).
    pub keys: Vec<String>,
    /// The maker.
    pub maker: String,
    /// Nominal hashrate in thousandths of a TH/s.
    pub milli_ths: i64,
    /// Efficiency, as written, when known.
    pub j_per_th: Option<String>,
    /// Form factor.
    pub form: String,
    /// Price tier.
    pub tier: String,
    /// Provenance.
    pub source: String,
}

/// A dated $/TH band.
#[derive(Debug, Clone)]
pub struct Band {
    /// Stable id.
    pub id: String,
    /// Tier.
    pub tier: String,
    /// Floor, cents per TH.
    pub low: Cents,
    /// Ceiling, cents per TH.
    pub high: Cents,
    /// Dates.
    pub window: Window,
    /// Provenance.
    pub source: String,
}

/// A manufacturer's known production countries.
#[derive(Debug, Clone)]
pub struct Maker {
    /// Stable id.
    pub id: String,
    /// Lower-case name substrings.
    pub names: Vec<String>,
    /// ISO codes.
    pub countries: Vec<String>,
    /// Provenance.
    pub source: String,
}

/// Every rule the checker uses.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Entry dates the rules can assess.
    pub coverage: Window,
    /// Provenance of the coverage.
    pub coverage_source: String,
    /// First entry date without IEEPA collection.
    pub ieepa_end: NaiveDate,
    /// Provenance of the end.
    pub ieepa_end_source: String,
    /// Measures, in file order.
    pub measures: Vec<Measure>,
    /// Required declarations.
    pub declarations: Vec<Declaration>,
    /// MPF by fiscal year.
    pub mpf: Vec<Mpf>,
    /// HMF.
    pub hmf: Vec<Hmf>,
    /// Classification hints, in order.
    pub hints: Vec<Hint>,
    /// Legacy numbers.
    pub code_map: Vec<CodeMap>,
    /// HTS lines with MFN rates.
    pub lines: Vec<HtsRate>,
    /// Models.
    pub models: Vec<Model>,
    /// Price bands.
    pub bands: Vec<Band>,
    /// Fraction of the floor below which a unit value is flagged.
    pub flag_below: Rate,
    /// Makers.
    pub makers: Vec<Maker>,
    /// PRC entity markers (lower case).
    pub prc_markers: Vec<String>,
    /// SE Asian hub countries.
    pub se_asia: Vec<String>,
    /// Lading prefixes that signal routing through China.
    pub lading_signal: Vec<String>,
    /// Where the rules came from (`embedded` or the directory).
    pub origin: String,
    /// Every Chapter 99 heading the measures name, for "declared but not applicable".
    pub known_headings: HashSet<String>,
    /// Measure indexes by origin ("*" for any origin), for the dated lookup.
    by_origin: HashMap<String, Vec<usize>>,
}

/// Letters and digits, lower case: how model names are compared.
pub fn model_key(s: &str) -> String {
    let mut k = String::with_capacity(s.len());
    for c in s.chars() {
        // "+" is meaningful in model names (S21+): kept as "plus", where it stands.
        if c == '+' {
            k.push_str("plus");
        } else if c.is_ascii_alphanumeric() {
            k.push(c.to_ascii_lowercase());
        }
    }
    match k.strip_prefix("antminer").or_else(|| k.strip_prefix("bitmain")) {
        Some(rest) => rest.to_owned(),
        None => k,
    }
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, id: &str, key: &'static str, message: impl Into<String>) -> RulesError {
        RulesError::Value {
            file: self.file.to_owned(),
            id: id.to_owned(),
            key,
            message: message.into(),
        }
    }

    fn date(&self, id: &str, key: &'static str, s: &str) -> Result<Option<NaiveDate>, RulesError> {
        if s.is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| self.err(id, key, format!("{s:?} is not a YYYY-MM-DD date")))
    }

    fn window(&self, id: &str, from: &str, to: &str) -> Result<Window, RulesError> {
        let w = Window {
            from: self.date(id, "valid_from", from)?,
            to: self.date(id, "valid_to", to)?,
        };
        if let (Some(f), Some(t)) = (w.from, w.to)
            && t < f
        {
            return Err(self.err(id, "valid_to", format!("{to} is before valid_from {from}")));
        }
        Ok(w)
    }

    fn rate(&self, id: &str, key: &'static str, s: &str) -> Result<Rate, RulesError> {
        Rate::parse_percent(s).map_err(|e| self.err(id, key, e.to_string()))
    }

    fn cents(&self, id: &str, key: &'static str, s: &str) -> Result<Cents, RulesError> {
        Cents::parse(s).map_err(|e| self.err(id, key, e.to_string()))
    }

    fn hts(&self, id: &str, key: &'static str, s: &str) -> Result<Hts, RulesError> {
        Hts::parse(s).ok_or_else(|| self.err(id, key, format!("{s:?} is not an HTS number")))
    }

    /// HTS prefixes: `*` (any) or numbers of 4-10 digits.
    fn prefixes(&self, id: &str, key: &'static str, v: &[String]) -> Result<Vec<String>, RulesError> {
        if v.iter().any(|s| s == "*") {
            return Ok(Vec::new());
        }
        if v.is_empty() {
            return Err(self.err(id, key, "empty: use [\"*\"] for any"));
        }
        v.iter()
            .map(|s| self.hts(id, key, s).map(|h| h.digits().to_owned()))
            .collect()
    }

    fn countries(&self, id: &str, key: &'static str, v: &[String]) -> Result<Vec<String>, RulesError> {
        if v.iter().any(|s| s == "*") {
            return Ok(Vec::new());
        }
        for c in v {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(self.err(id, key, format!("{c:?} is not an ISO 3166 alpha-2 code")));
            }
        }
        if v.is_empty() {
            return Err(self.err(id, key, "empty: use [\"*\"] for any"));
        }
        Ok(v.to_vec())
    }

    fn unique<'b>(&self, ids: impl Iterator<Item = &'b str>) -> Result<(), RulesError> {
        let mut seen = HashSet::new();
        for id in ids {
            if !seen.insert(id) {
                return Err(self.err(id, "id", "duplicate id"));
            }
        }
        Ok(())
    }
}

fn heading(ctx: &Ctx<'_>, id: &str, key: &'static str, s: &str) -> Result<String, RulesError> {
    if s.is_empty() {
        return Ok(String::new());
    }
    let h = ctx.hts(id, key, s)?;
    if h.chapter() != "99" || h.digits().len() != 8 {
        return Err(ctx.err(id, key, format!("{s:?} is not a Chapter 99 heading (9903.xx.xx)")));
    }
    Ok(h.to_string())
}

fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, RulesError> {
    toml::from_str(text).map_err(|e| RulesError::Parse {
        file: file.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })
}

impl Rules {
    /// The rules built into the binary (`rules/customs/`).
    pub fn embedded() -> Result<Rules, RulesError> {
        Rules::from_texts(&FILES.map(|(f, t)| (f, t.to_owned())), "embedded")
    }

    /// The rules of a directory: every file of [`FILES`] that it holds replaces the embedded one.
    pub fn load_dir(dir: &Path) -> Result<Rules, RulesError> {
        let mut texts = Vec::new();
        for (name, embedded) in FILES {
            let path = dir.join(name);
            let text = match read_bounded(&path) {
                Ok(Some(t)) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => embedded.to_owned(),
                Ok(None) => {
                    return Err(RulesError::Parse {
                        file: path.display().to_string(),
                        message: format!("larger than {MAX_RULES_FILE} bytes: not a rules file"),
                    });
                }
                Err(source) => {
                    return Err(RulesError::Io {
                        file: path.display().to_string(),
                        source,
                    });
                }
            };
            texts.push((name, text));
        }
        Rules::from_texts(&texts, &dir.display().to_string())
    }

    /// Parse and check the eight files' texts (in [`FILES`] order).
    pub fn from_texts(texts: &[(&str, String)], origin: &str) -> Result<Rules, RulesError> {
        let text = |name: &str| -> &str {
            texts
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.as_str())
                .unwrap_or_default()
        };
        let f = "measures.toml";
        let ctx = Ctx { file: f };
        let m: MeasuresFile = parse_toml(f, text(f))?;
        let coverage = ctx.window("coverage", &m.coverage.from, &m.coverage.to)?;
        if coverage.from.is_none() || coverage.to.is_none() {
            return Err(ctx.err("coverage", "from", "both ends of the coverage are required"));
        }
        let ieepa_end = ctx
            .date("ieepa_end", "date", &m.ieepa_end.date)?
            .ok_or_else(|| ctx.err("ieepa_end", "date", "required"))?;
        let _ = m.ieepa_end.verified;
        ctx.unique(m.measure.iter().map(|x| x.id.as_str()))?;
        let mut measures = Vec::new();
        for r in &m.measure {
            let id = r.id.as_str();
            let exempt = match r.effect.as_deref() {
                None | Some("duty") => false,
                Some("exempt") => true,
                Some(other) => {
                    return Err(ctx.err(id, "effect", format!("{other:?}: expected duty or exempt")));
                }
            };
            let rate = match (&r.rate, exempt) {
                (Some(s), false) => ctx.rate(id, "rate", s)?,
                (None, true) => Rate(0),
                (None, false) => return Err(ctx.err(id, "rate", "a duty needs a rate")),
                (Some(_), true) => return Err(ctx.err(id, "rate", "an exemption has no rate")),
            };
            if exempt == r.exempts.is_empty() {
                return Err(ctx.err(
                    id,
                    "exempts",
                    "an exemption names the groups it removes; a duty names none",
                ));
            }
            let condition = match r.condition.as_str() {
                "" => Condition::Always,
                "transshipment" => Condition::Transshipment,
                "declared" => Condition::Declared,
                other => {
                    return Err(ctx.err(
                        id,
                        "condition",
                        format!("{other:?}: expected \"\", transshipment or declared"),
                    ));
                }
            };
            let chapter99 = heading(&ctx, id, "chapter99", &r.chapter99)?;
            if (r.require_declared || condition == Condition::Declared) && chapter99.is_empty() {
                return Err(ctx.err(
                    id,
                    "chapter99",
                    "required or declared-only measures need their heading",
                ));
            }
            let window = ctx.window(id, &r.valid_from, &r.valid_to)?;
            if r.ieepa && window.to.is_none_or(|t| t >= ieepa_end) {
                return Err(ctx.err(
                    id,
                    "valid_to",
                    format!("an IEEPA measure must end before {ieepa_end}"),
                ));
            }
            if r.source.trim().is_empty() {
                return Err(ctx.err(id, "source", "every measure carries its source"));
            }
            measures.push(Measure {
                id: r.id.clone(),
                group: r.group.clone(),
                authority: r.authority.clone(),
                chapter99,
                rate,
                exempts: r.exempts.clone(),
                origins: ctx.countries(id, "origin", &r.origin)?,
                hts: ctx.prefixes(id, "hts", &r.hts)?,
                condition,
                priority: r.priority,
                exempt_headings: r
                    .exempt_headings
                    .iter()
                    .map(|h| heading(&ctx, id, "exempt_headings", h))
                    .collect::<Result<_, _>>()?,
                window,
                require_declared: r.require_declared,
                ieepa: r.ieepa,
                source: r.source.clone(),
                verified: r.verified,
                note: r.note.clone(),
            });
        }
        let mut declarations = Vec::new();
        for d in &m.declaration {
            let _ = (d.verified, &d.note);
            declarations.push(Declaration {
                id: d.id.clone(),
                hts: ctx.prefixes(&d.id, "hts", &d.hts)?,
                any_of: d
                    .any_of
                    .iter()
                    .map(|h| heading(&ctx, &d.id, "any_of", h))
                    .collect::<Result<_, _>>()?,
                window: ctx.window(&d.id, &d.valid_from, &d.valid_to)?,
                source: d.source.clone(),
            });
        }

        let f = "fees.toml";
        let ctx = Ctx { file: f };
        let fees: FeesFile = parse_toml(f, text(f))?;
        ctx.unique(fees.mpf.iter().map(|x| x.id.as_str()))?;
        let mut mpf = Vec::new();
        for r in &fees.mpf {
            let _ = r.verified;
            let (min, max) = (ctx.cents(&r.id, "min", &r.min)?, ctx.cents(&r.id, "max", &r.max)?);
            if max < min {
                return Err(ctx.err(&r.id, "max", "below min"));
            }
            mpf.push(Mpf {
                id: r.id.clone(),
                rate: ctx.rate(&r.id, "rate", &r.rate)?,
                min,
                max,
                window: ctx.window(&r.id, &r.valid_from, &r.valid_to)?,
                source: r.source.clone(),
            });
        }
        let mut hmf = Vec::new();
        for r in &fees.hmf {
            let _ = r.verified;
            hmf.push(Hmf {
                id: r.id.clone(),
                rate: ctx.rate(&r.id, "rate", &r.rate)?,
                modes: r.modes.iter().map(|m| m.to_ascii_lowercase()).collect(),
                window: ctx.window(&r.id, &r.valid_from, &r.valid_to)?,
                source: r.source.clone(),
            });
        }

        let f = "classification.toml";
        let ctx = Ctx { file: f };
        let c: ClassificationFile = parse_toml(f, text(f))?;
        ctx.unique(c.hint.iter().map(|x| x.id.as_str()))?;
        let mut hints = Vec::new();
        for h in &c.hint {
            let _ = &h.note;
            if h.patterns.iter().any(|p| p.trim().is_empty()) {
                return Err(ctx.err(&h.id, "patterns", "empty pattern"));
            }
            hints.push(Hint {
                id: h.id.clone(),
                kind: h.kind.clone(),
                patterns: h.patterns.iter().map(|p| p.to_lowercase()).collect(),
                expected: ctx.hts(&h.id, "expected_hts", &h.expected_hts)?,
                heading: ctx.hts(&h.id, "heading", &h.heading)?.digits().to_owned(),
                rulings: h.rulings.clone(),
                source: h.source.clone(),
                verified: h.verified,
            });
        }

        let f = "code-map.toml";
        let ctx = Ctx { file: f };
        let cm: CodeMapFile = parse_toml(f, text(f))?;
        ctx.unique(cm.map.iter().map(|x| x.id.as_str()))?;
        let mut code_map = Vec::new();
        for r in &cm.map {
            let _ = (r.verified, &r.note);
            code_map.push(CodeMap {
                id: r.id.clone(),
                legacy: ctx.hts(&r.id, "legacy", &r.legacy)?,
                current: ctx.hts(&r.id, "current", &r.current)?,
                invalid_from: ctx
                    .date(&r.id, "invalid_from", &r.invalid_from)?
                    .ok_or_else(|| ctx.err(&r.id, "invalid_from", "required"))?,
                source: r.source.clone(),
            });
        }

        let f = "hts-lines.toml";
        let ctx = Ctx { file: f };
        let hl: HtsLinesFile = parse_toml(f, text(f))?;
        ctx.unique(hl.line.iter().map(|x| x.hts.as_str()))?;
        let mut lines = Vec::new();
        for r in &hl.line {
            let _ = r.verified;
            lines.push(HtsRate {
                hts: ctx.hts(&r.hts, "hts", &r.hts)?,
                description: r.description.clone(),
                mfn: ctx.rate(&r.hts, "mfn", &r.mfn)?,
                source: r.source.clone(),
            });
        }
        // Longest prefix first, so the first match is the most specific.
        lines.sort_by_key(|l| std::cmp::Reverse(l.hts.digits().len()));

        let f = "models.toml";
        let ctx = Ctx { file: f };
        let mf: ModelsFile = parse_toml(f, text(f))?;
        ctx.unique(mf.model.iter().map(|x| x.id.as_str()))?;
        let mut models = Vec::new();
        for r in &mf.model {
            let _ = (r.verified, &r.note);
            // Hashrate to 0.001 TH/s: the rate parser's four decimals, less one.
            let ths = Rate::parse_percent(&r.ths).map_err(|e| ctx.err(&r.id, "ths", e.to_string()))?;
            if ths.0 <= 0 {
                return Err(ctx.err(&r.id, "ths", "must be positive"));
            }
            models.push(Model {
                id: r.id.clone(),
                keys: r.names.iter().map(|n| model_key(n)).collect(),
                maker: r.maker.clone(),
                milli_ths: ths.0 / 10,
                j_per_th: r.j_per_th.clone(),
                form: r.form.clone(),
                tier: r.tier.clone(),
                source: r.source.clone(),
            });
        }

        let f = "price-bands.toml";
        let ctx = Ctx { file: f };
        let bf: BandsFile = parse_toml(f, text(f))?;
        ctx.unique(bf.band.iter().map(|x| x.id.as_str()))?;
        let flag_below = ctx.rate("flag_below", "flag_below", &bf.flag_below)?;
        let tiers: HashSet<&str> = models.iter().map(|m| m.tier.as_str()).collect();
        let mut bands = Vec::new();
        for r in &bf.band {
            let _ = (r.verified, &r.note);
            if !tiers.contains(r.tier.as_str()) {
                return Err(ctx.err(
                    &r.id,
                    "tier",
                    format!("{:?}: no model in models.toml has this tier", r.tier),
                ));
            }
            bands.push(Band {
                id: r.id.clone(),
                tier: r.tier.clone(),
                low: ctx.cents(&r.id, "low", &r.low)?,
                high: ctx.cents(&r.id, "high", &r.high)?,
                window: ctx.window(&r.id, &r.valid_from, &r.valid_to)?,
                source: r.source.clone(),
            });
        }

        let f = "origin.toml";
        let ctx = Ctx { file: f };
        let of: OriginFile = parse_toml(f, text(f))?;
        let mut makers = Vec::new();
        for r in &of.manufacturer {
            let _ = r.verified;
            makers.push(Maker {
                id: r.id.clone(),
                names: r.names.iter().map(|n| n.to_lowercase()).collect(),
                countries: ctx.countries(&r.id, "countries", &r.countries)?,
                source: r.source.clone(),
            });
        }
        let mut prc_markers = Vec::new();
        for p in &of.prc_entity {
            let _ = (&p.id, &p.source, p.verified, &p.note);
            prc_markers.extend(p.markers.iter().map(|m| m.to_lowercase()));
        }
        let se_asia = ctx.countries("se_asia", "se_asia", &of.se_asia)?;
        let lading_signal = ctx.countries("lading_signal", "lading_signal", &of.lading_signal)?;

        let mut known_headings: HashSet<String> = HashSet::new();
        let mut by_origin: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, m) in measures.iter().enumerate() {
            if !m.chapter99.is_empty() {
                known_headings.insert(m.chapter99.clone());
            }
            if m.origins.is_empty() {
                by_origin.entry("*".into()).or_default().push(i);
            } else {
                for o in &m.origins {
                    by_origin.entry(o.clone()).or_default().push(i);
                }
            }
        }
        Ok(Rules {
            coverage,
            coverage_source: m.coverage.source,
            ieepa_end,
            ieepa_end_source: m.ieepa_end.source,
            measures,
            declarations,
            mpf,
            hmf,
            hints,
            code_map,
            lines,
            models,
            bands,
            flag_below,
            makers,
            prc_markers,
            se_asia,
            lading_signal,
            origin: origin.to_owned(),
            known_headings,
            by_origin,
        })
    }

    /// The measures that may apply to `origin`: its own and the any-origin ones, in file order.
    pub fn measures_for<'a>(&'a self, origin: &str) -> impl Iterator<Item = &'a Measure> + 'a {
        let own = self.by_origin.get(origin).map(Vec::as_slice).unwrap_or_default();
        let any = self.by_origin.get("*").map(Vec::as_slice).unwrap_or_default();
        let mut idx: Vec<usize> = own.iter().chain(any).copied().collect();
        idx.sort_unstable();
        idx.into_iter().filter_map(|i| self.measures.get(i))
    }

    /// The MFN rate line for `hts` (longest listed prefix).
    pub fn line_for(&self, hts: &Hts) -> Option<&HtsRate> {
        self.lines.iter().find(|l| hts.starts_with(l.hts.digits()))
    }

    /// The model whose name matches `model`.
    pub fn model(&self, model: &str) -> Option<&Model> {
        if model.trim().is_empty() {
            return None;
        }
        let key = model_key(model);
        self.models.iter().find(|m| m.keys.contains(&key))
    }

    /// The band for `tier` on `date`.
    pub fn band(&self, tier: &str, date: NaiveDate) -> Option<&Band> {
        self.bands
            .iter()
            .find(|b| b.tier == tier && b.window.contains(date))
    }

    /// MPF for `date`.
    pub fn mpf(&self, date: NaiveDate) -> Option<&Mpf> {
        self.mpf.iter().find(|m| m.window.contains(date))
    }

    /// HMF for `mode` on `date`.
    pub fn hmf(&self, mode: &str, date: NaiveDate) -> Option<&Hmf> {
        self.hmf
            .iter()
            .find(|h| h.window.contains(date) && h.modes.iter().any(|m| m == mode))
    }

    /// The legacy-number record for `hts`.
    pub fn legacy(&self, hts: &Hts) -> Option<&CodeMap> {
        self.code_map.iter().find(|m| &m.legacy == hts)
    }
}

/// Rules files are hand-written TOML of a few kilobytes; a larger one is refused unread.
const MAX_RULES_FILE: u64 = 16 << 20;

/// A rules file's text, or `None` when it is larger than [`MAX_RULES_FILE`].
fn read_bounded(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_RULES_FILE + 1)
        .read_to_string(&mut text)?;
    Ok((text.len() as u64 <= MAX_RULES_FILE).then_some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_rules_load() {
        let r = Rules::embedded().unwrap();
        assert!(r.measures.len() > 20);
        assert!(r.known_headings.contains("9903.01.32"));
        assert_eq!(r.model("Antminer U3S21EXPH").unwrap().milli_ths, 860_000);
        assert_eq!(r.model("S21+ Hydro").unwrap().id, "S21-PLUS-HYDRO");
        assert_eq!(r.model("S21").unwrap().id, "S21");
        assert!(r.model("Z9 mini").is_none());
    }

    fn with(file: &str, text: &str) -> Result<Rules, RulesError> {
        let texts: Vec<(&str, String)> = FILES
            .iter()
            .map(|(f, t)| {
                (
                    *f,
                    if *f == file {
                        text.to_owned()
                    } else {
                        (*t).to_owned()
                    },
                )
            })
            .collect();
        Rules::from_texts(&texts, "test")
    }

    #[test]
    fn an_unknown_key_names_the_file_and_the_key() {
        let text = FILES[1]
            .1
            .replacen("rate = \"0.125%\"", "rate = \"0.125%\"\ncolour = \"red\"", 1);
        let e = with("fees.toml", &text).unwrap_err().to_string();
        assert!(e.contains("fees.toml") && e.contains("colour"), "{e}");
    }

    #[test]
    fn bad_values_name_the_record() {
        let text = FILES[0]
            .1
            .replacen("valid_from = \"2018-08-23\"", "valid_from = \"23/08/2018\"", 1);
        let e = with("measures.toml", &text).unwrap_err().to_string();
        assert!(e.contains("S301-L2") && e.contains("valid_from"), "{e}");
        // An IEEPA measure left open would keep collecting after the ruling.
        let text = FILES[0].1.replacen(
            "valid_to = \"2025-03-03\"\nrequire_declared = true\nieepa = true",
            "valid_to = \"\"\nrequire_declared = true\nieepa = true",
            1,
        );
        let e = with("measures.toml", &text).unwrap_err().to_string();
        assert!(e.contains("FENT-CN-10") && e.contains("IEEPA"), "{e}");
    }
}
