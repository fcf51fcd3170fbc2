//! The siting rules as data: the TOML files of `rules/siting/`, embedded as defaults and
//! replaceable file by file with `--rules DIR`, each parsed strictly (unknown keys and bad values
//! are errors naming the file and the key) and fingerprinted for the evidence of findings.

use std::collections::HashSet;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// The rules files, by name, with their built-in text.
pub const BUILTIN: [(&str, &str); 7] = [
    (CFIUS, include_str!("../../../rules/siting/cfius.toml")),
    (
        PART3,
        include_str!("../../../rules/siting/cfius-part3-counties.toml"),
    ),
    (STATES, include_str!("../../../rules/siting/states.toml")),
    (GRID, include_str!("../../../rules/siting/grid.toml")),
    (
        INFRASTRUCTURE,
        include_str!("../../../rules/siting/infrastructure.toml"),
    ),
    (MODELS, include_str!("../../../rules/siting/models.toml")),
    (
        INSTALLATIONS,
        include_str!("../../../rules/siting/installations.toml"),
    ),
];

const CFIUS: &str = "cfius.toml";
const PART3: &str = "cfius-part3-counties.toml";
const STATES: &str = "states.toml";
const GRID: &str = "grid.toml";
const INFRASTRUCTURE: &str = "infrastructure.toml";
const MODELS: &str = "models.toml";
const INSTALLATIONS: &str = "installations.toml";

/// A rules file larger than this is refused (the built-in ones are a few KiB).
const MAX_FILE: u64 = 4 << 20;

/// A rules file that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file could not be read.
    #[error("rules file {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type (the message names the key).
    #[error("rules file {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message, with the key and line.
        message: String,
    },
    /// A value of the right type that makes no sense.
    #[error("rules file {file}: {key}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The key, e.g. `law[3].distance_m`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A `.toml` file in `--rules DIR` that is none of the rules files (a misspelling).
    #[error("rules directory {dir}: unknown rules file {file} (expected one of {expected})")]
    UnknownFile {
        /// The directory.
        dir: String,
        /// The file name.
        file: String,
        /// The names hashward reads.
        expected: String,
    },
}

/// Where a rules file came from and what it hashed to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleFile {
    /// File name, e.g. `cfius.toml`.
    pub name: String,
    /// `built-in` or the path it was read from.
    pub origin: String,
    /// sha256 of its bytes.
    pub sha256: String,
}

/// Whether a law or rule is the law today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Enacted and in force (from `effective`, when given).
    InForce,
    /// Enacted, enforcement enjoined by a court.
    Enjoined,
    /// Rejected by the legislature.
    Failed,
    /// Passed and vetoed.
    Vetoed,
    /// Introduced, not passed.
    Proposed,
}

/// CFIUS: who is a foreign person, excepted countries, distance zones and part 3/4 areas.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cfius {
    /// Owners from these countries are not foreign persons.
    pub foreign_person: ForeignPerson,
    /// Excepted real-estate foreign states.
    #[serde(rename = "excepted_country")]
    pub excepted_countries: Vec<ExceptedCountry>,
    /// Distance zones around listed installations.
    #[serde(rename = "zone")]
    pub zones: Vec<Zone>,
    /// Part 3 counties and part 4 ranges.
    pub area: Area,
}

/// `[foreign_person]` of cfius.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignPerson {
    /// ISO 3166-1 alpha-2 codes whose owners are not foreign persons.
    pub domestic_countries: Vec<String>,
    /// Citation.
    pub cite: String,
    /// Source.
    pub source: String,
}

/// An excepted real-estate foreign state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptedCountry {
    /// ISO 3166-1 alpha-2.
    pub code: String,
    /// When it was confirmed (`YYYY-MM` or `YYYY-MM-DD`).
    pub since: String,
    /// Citation.
    pub cite: String,
    /// Source.
    pub source: String,
}

/// A CFIUS distance zone around installations of some Appendix A parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Rule id, e.g. `us-cfius-802-part1-close`.
    pub id: String,
    /// Catalogue id of the finding it raises.
    pub finding: String,
    /// Citation.
    pub cite: String,
    /// Appendix A parts it applies to.
    pub parts: Vec<u8>,
    /// Whether it applies to installations listed with an unknown part.
    pub listed_part_unknown: bool,
    /// Metres from the boundary.
    pub distance_m: f64,
    /// Always `boundary` for CFIUS.
    pub measure_from: String,
    /// Urban facilities are excepted from this zone.
    pub urban_exception: bool,
    /// Status.
    pub status: Status,
    /// In force from.
    pub effective: NaiveDate,
    /// Amendment dates (`YYYY-MM` or `YYYY-MM-DD`).
    #[serde(default)]
    pub amended: Vec<String>,
    /// Source.
    pub source: String,
}

/// `[area]` of cfius.toml: part 3 counties and part 4 ranges.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    /// Catalogue id of the finding.
    pub finding: String,
    /// Citation for part 3.
    pub part3_cite: String,
    /// Citation for part 4.
    pub part4_cite: String,
    /// Urban facilities are excepted from part 3.
    pub part3_urban_exception: bool,
    /// Status.
    pub status: Status,
    /// In force from.
    pub effective: NaiveDate,
    /// Source.
    pub source: String,
}

/// cfius-part3-counties.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part3 {
    /// The missile fields.
    #[serde(rename = "field")]
    pub fields: Vec<MissileField>,
}

/// One missile field and its counties.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissileField {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The administering base.
    pub base: String,
    /// `ST:County` entries.
    pub counties: Vec<String>,
    /// Whether the list was checked against the regulation.
    pub verified: bool,
    /// Why it is or is not verified.
    #[serde(default)]
    pub note: Option<String>,
    /// Source.
    pub source: String,
}

/// states.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct States {
    /// The laws.
    #[serde(rename = "law")]
    pub laws: Vec<StateLaw>,
}

/// What a state law restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LawKind {
    /// Ownership within a distance of listed sites.
    Distance,
    /// Ownership anywhere in the state.
    Statewide,
    /// Ownership of a kind of business or land, no distance.
    Ownership,
}

/// Whose ownership a law restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Owners {
    /// Owners from `owner_countries`.
    Listed,
    /// Every owner.
    Any,
}

/// One state law.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateLaw {
    /// Id.
    pub id: String,
    /// Two-letter state code.
    pub jurisdiction: String,
    /// Bill or act.
    pub name: String,
    /// Citation.
    pub cite: String,
    /// Distance, statewide or ownership.
    pub kind: LawKind,
    /// Metres (distance laws).
    #[serde(default)]
    pub distance_m: Option<f64>,
    /// `boundary`.
    #[serde(default)]
    pub measure_from: Option<String>,
    /// Layer categories the distance is measured to.
    #[serde(default)]
    pub site_categories: Vec<String>,
    /// Listed countries or any owner.
    pub owners: Owners,
    /// ISO 3166-1 alpha-2 codes.
    #[serde(default)]
    pub owner_countries: Vec<String>,
    /// Where the country list comes from.
    #[serde(default)]
    pub owner_countries_source: Option<String>,
    /// Land use the law is limited to.
    #[serde(default)]
    pub land_use: Option<String>,
    /// Status.
    pub status: Status,
    /// Signed (or vetoed) on.
    #[serde(default)]
    pub signed: Option<NaiveDate>,
    /// In force from.
    #[serde(default)]
    pub effective: Option<NaiveDate>,
    /// `false`: a fact the research brief marks unverified.
    #[serde(default = "yes")]
    pub verified: bool,
    /// Remarks.
    #[serde(default)]
    pub note: Option<String>,
    /// Source.
    pub source: String,
}

fn yes() -> bool {
    true
}

/// grid.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// The thresholds.
    #[serde(rename = "threshold")]
    pub thresholds: Vec<GridThreshold>,
}

/// A large-load threshold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridThreshold {
    /// Id.
    pub id: String,
    /// Region (compared case-insensitively with the facility's `region`).
    pub region: String,
    /// MW, reached when the load is at least this.
    pub threshold_mw: f64,
    /// MW for a load co-located with generation.
    #[serde(default)]
    pub colocated_threshold_mw: Option<f64>,
    /// Citation.
    pub cite: String,
    /// What crossing it means.
    pub effect: String,
    /// Status.
    pub status: Status,
    /// In force from.
    pub effective: NaiveDate,
    /// Source.
    pub source: String,
}

/// infrastructure.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Infrastructure {
    /// Distances per layer category.
    #[serde(rename = "category")]
    pub categories: Vec<InfraCategory>,
    /// The point-site screening margin.
    pub screening: Screening,
}

/// SITE-005 distance for one category.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfraCategory {
    /// Layer category.
    pub name: String,
    /// Metres.
    pub distance_m: f64,
    /// Why this distance.
    pub justification: String,
}

/// `[screening]` of infrastructure.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Screening {
    /// How far an installation known as a point may reach, when its layer does not say.
    pub default_margin_m: f64,
    /// Why.
    pub justification: String,
}

/// models.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {
    /// The overhead factor.
    pub overhead: Overhead,
    /// ASIC models.
    #[serde(rename = "model")]
    pub models: Vec<ModelPower>,
}

/// `[overhead]` of models.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overhead {
    /// Site power / miner power.
    pub default: f64,
    /// Marked as an assumption.
    pub assumption: bool,
    /// Why.
    pub note: String,
}

/// One ASIC model's power.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPower {
    /// Name, e.g. `Antminer S21`.
    pub name: String,
    /// Nameplate watts at the wall.
    pub watts: f64,
    /// TH/s.
    pub hashrate_ths: f64,
    /// Other spellings.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Source.
    pub source: String,
}

/// installations.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installations {
    /// The installations.
    #[serde(rename = "installation")]
    pub installations: Vec<Installation>,
}

/// One installation of the built-in sample layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installation {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Degrees.
    pub lon: f64,
    /// Degrees.
    pub lat: f64,
    /// Appendix A part.
    pub cfius_part: u8,
    /// Two-letter state code.
    pub state: String,
    /// §802.227 paragraph.
    #[serde(default)]
    pub cfius_category: Option<String>,
    /// How far the boundary may reach from the point, metres.
    #[serde(default)]
    pub extent_m: Option<f64>,
    /// `false`: the part (or the coordinates' match) is inferred.
    pub verified: bool,
    /// Remarks.
    #[serde(default)]
    pub note: Option<String>,
    /// Source.
    pub source: String,
}

/// Every siting rule, with the files it came from.
#[derive(Debug, Clone)]
pub struct Rules {
    /// cfius.toml.
    pub cfius: Cfius,
    /// cfius-part3-counties.toml.
    pub part3: Part3,
    /// states.toml.
    pub states: States,
    /// grid.toml.
    pub grid: Grid,
    /// infrastructure.toml.
    pub infrastructure: Infrastructure,
    /// models.toml.
    pub models: Models,
    /// installations.toml.
    pub installations: Installations,
    /// Where each file came from, in [`BUILTIN`] order.
    pub files: Vec<RuleFile>,
}

impl Rules {
    /// The rules built into hashward.
    pub fn builtin() -> Result<Rules, RulesError> {
        let texts = BUILTIN.map(|(name, text)| (name, "built-in".to_owned(), text.as_bytes().to_vec()));
        Rules::from_texts(texts)
    }

    /// The built-in rules with the file `name` replaced by `bytes` (for tools and fuzzing;
    /// `origin` names it in errors).
    pub fn with_file(name: &str, origin: &str, bytes: &[u8]) -> Result<Rules, RulesError> {
        if !BUILTIN.iter().any(|(n, _)| *n == name) {
            return Err(RulesError::UnknownFile {
                dir: origin.to_owned(),
                file: name.to_owned(),
                expected: BUILTIN.map(|(n, _)| n).join(", "),
            });
        }
        let texts = BUILTIN.map(|(n, text)| {
            if n == name {
                (n, origin.to_owned(), bytes.to_vec())
            } else {
                (n, "built-in".to_owned(), text.as_bytes().to_vec())
            }
        });
        Rules::from_texts(texts)
    }

    /// The rules of `dir`: each rules file found there replaces the built-in one; a `.toml`
    /// file with another name is an error (a misspelt file would otherwise be ignored).
    pub fn from_dir(dir: &Path) -> Result<Rules, RulesError> {
        let io = |file: String| move |source| RulesError::Io { file, source };
        let entries = std::fs::read_dir(dir).map_err(io(dir.display().to_string()))?;
        for entry in entries {
            let entry = entry.map_err(io(dir.display().to_string()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") && !BUILTIN.iter().any(|(n, _)| *n == name) {
                return Err(RulesError::UnknownFile {
                    dir: dir.display().to_string(),
                    file: name,
                    expected: BUILTIN.map(|(n, _)| n).join(", "),
                });
            }
        }
        let mut texts = Vec::with_capacity(BUILTIN.len());
        for (name, builtin) in BUILTIN {
            let path = dir.join(name);
            if path.exists() {
                let file = path.display().to_string();
                let len = std::fs::metadata(&path).map_err(io(file.clone()))?.len();
                if len > MAX_FILE {
                    return Err(RulesError::Invalid {
                        file,
                        key: "(file)".into(),
                        message: format!("{len} bytes; the limit is {MAX_FILE}"),
                    });
                }
                let bytes = std::fs::read(&path).map_err(io(file.clone()))?;
                texts.push((name, file, bytes));
            } else {
                texts.push((name, "built-in".to_owned(), builtin.as_bytes().to_vec()));
            }
        }
        let texts: [(&str, String, Vec<u8>); 7] = texts.try_into().map_err(|_| RulesError::Invalid {
            file: dir.display().to_string(),
            key: "(files)".into(),
            message: "internal: rules file count".into(),
        })?;
        Rules::from_texts(texts)
    }

    /// Parse the seven files (name, origin, bytes), in [`BUILTIN`] order.
    fn from_texts(texts: [(&str, String, Vec<u8>); 7]) -> Result<Rules, RulesError> {
        let files = texts
            .iter()
            .map(|(name, origin, bytes)| RuleFile {
                name: (*name).to_owned(),
                origin: origin.clone(),
                sha256: hex::encode(Sha256::digest(bytes)),
            })
            .collect();
        let [cfius, part3, states, grid, infra, models, installations] = texts;
        let rules = Rules {
            cfius: parse(&cfius.1, &cfius.2)?,
            part3: parse(&part3.1, &part3.2)?,
            states: parse(&states.1, &states.2)?,
            grid: parse(&grid.1, &grid.2)?,
            infrastructure: parse(&infra.1, &infra.2)?,
            models: parse(&models.1, &models.2)?,
            installations: parse(&installations.1, &installations.2)?,
            files,
        };
        rules.validate()?;
        Ok(rules)
    }

    /// The sha256 of the rules file `name` (empty for an unknown name).
    pub fn sha256(&self, name: &str) -> &str {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map_or("", |f| f.sha256.as_str())
    }

    /// Values of the right type that make no sense: distances, codes, parts, duplicates.
    fn validate(&self) -> Result<(), RulesError> {
        let file = |name: &str| {
            self.files
                .iter()
                .find(|f| f.name == name)
                .map_or_else(|| name.to_owned(), display_origin)
        };
        let bad = |name: &str, key: String, message: &str| RulesError::Invalid {
            file: file(name),
            key,
            message: message.to_owned(),
        };
        let c = &self.cfius;
        for (i, code) in c.foreign_person.domestic_countries.iter().enumerate() {
            check_country(code)
                .map_err(|m| bad(CFIUS, format!("foreign_person.domestic_countries[{i}]"), m))?;
        }
        for (i, e) in c.excepted_countries.iter().enumerate() {
            check_country(&e.code).map_err(|m| bad(CFIUS, format!("excepted_country[{i}].code"), m))?;
            check_partial_date(&e.since)
                .map_err(|m| bad(CFIUS, format!("excepted_country[{i}].since"), m))?;
        }
        unique(c.zones.iter().map(|z| z.id.as_str())).map_err(|m| bad(CFIUS, "zone.id".into(), &m))?;
        for (i, z) in c.zones.iter().enumerate() {
            check_distance(z.distance_m).map_err(|m| bad(CFIUS, format!("zone[{i}].distance_m"), m))?;
            check_finding(&z.finding).map_err(|m| bad(CFIUS, format!("zone[{i}].finding"), m))?;
            if z.parts.is_empty() || z.parts.iter().any(|p| !(1..=4).contains(p)) {
                return Err(bad(
                    CFIUS,
                    format!("zone[{i}].parts"),
                    "parts are 1 to 4, at least one",
                ));
            }
            if z.measure_from != "boundary" {
                return Err(bad(
                    CFIUS,
                    format!("zone[{i}].measure_from"),
                    "CFIUS measures from the boundary",
                ));
            }
            for (j, a) in z.amended.iter().enumerate() {
                check_partial_date(a).map_err(|m| bad(CFIUS, format!("zone[{i}].amended[{j}]"), m))?;
            }
        }
        check_finding(&c.area.finding).map_err(|m| bad(CFIUS, "area.finding".into(), m))?;
        for (i, f) in self.part3.fields.iter().enumerate() {
            for (j, county) in f.counties.iter().enumerate() {
                let ok = county
                    .split_once(':')
                    .is_some_and(|(st, name)| check_country(st).is_ok() && !name.trim().is_empty());
                if !ok {
                    return Err(bad(
                        PART3,
                        format!("field[{i}].counties[{j}]"),
                        "expected \"ST:County\"",
                    ));
                }
            }
        }
        unique(self.states.laws.iter().map(|l| l.id.as_str()))
            .map_err(|m| bad(STATES, "law.id".into(), &m))?;
        for (i, l) in self.states.laws.iter().enumerate() {
            check_country(&l.jurisdiction).map_err(|m| bad(STATES, format!("law[{i}].jurisdiction"), m))?;
            for (j, code) in l.owner_countries.iter().enumerate() {
                check_country(code).map_err(|m| bad(STATES, format!("law[{i}].owner_countries[{j}]"), m))?;
            }
            match (l.kind, l.distance_m) {
                (LawKind::Distance, Some(d)) => {
                    check_distance(d).map_err(|m| bad(STATES, format!("law[{i}].distance_m"), m))?;
                    if l.site_categories.is_empty() {
                        return Err(bad(
                            STATES,
                            format!("law[{i}].site_categories"),
                            "a distance law names the categories it measures to",
                        ));
                    }
                }
                (LawKind::Distance, None) => {
                    return Err(bad(
                        STATES,
                        format!("law[{i}].distance_m"),
                        "a distance law needs distance_m",
                    ));
                }
                (_, Some(_)) => {
                    return Err(bad(
                        STATES,
                        format!("law[{i}].distance_m"),
                        "only a distance law has a distance",
                    ));
                }
                (_, None) => {}
            }
        }
        unique(self.grid.thresholds.iter().map(|t| t.id.as_str()))
            .map_err(|m| bad(GRID, "threshold.id".into(), &m))?;
        for (i, t) in self.grid.thresholds.iter().enumerate() {
            check_distance(t.threshold_mw)
                .map_err(|m| bad(GRID, format!("threshold[{i}].threshold_mw"), m))?;
            if let Some(c) = t.colocated_threshold_mw {
                check_distance(c)
                    .map_err(|m| bad(GRID, format!("threshold[{i}].colocated_threshold_mw"), m))?;
            }
        }
        unique(self.infrastructure.categories.iter().map(|c| c.name.as_str()))
            .map_err(|m| bad(INFRASTRUCTURE, "category.name".into(), &m))?;
        for (i, c) in self.infrastructure.categories.iter().enumerate() {
            check_distance(c.distance_m)
                .map_err(|m| bad(INFRASTRUCTURE, format!("category[{i}].distance_m"), m))?;
        }
        let margin = self.infrastructure.screening.default_margin_m;
        if !(margin.is_finite() && (0.0..=1_000_000.0).contains(&margin)) {
            return Err(bad(
                INFRASTRUCTURE,
                "screening.default_margin_m".into(),
                "0 to 1,000 km",
            ));
        }
        let k = self.models.overhead.default;
        if !(k.is_finite() && (1.0..=3.0).contains(&k)) {
            return Err(bad(
                MODELS,
                "overhead.default".into(),
                "an overhead factor is 1 to 3",
            ));
        }
        let mut keys = HashSet::new();
        for (i, m) in self.models.models.iter().enumerate() {
            if !(m.watts.is_finite() && m.watts > 0.0 && m.watts < 1_000_000.0) {
                return Err(bad(
                    MODELS,
                    format!("model[{i}].watts"),
                    "watts are positive and below 1 MW",
                ));
            }
            if !(m.hashrate_ths.is_finite() && m.hashrate_ths >= 0.0) {
                return Err(bad(MODELS, format!("model[{i}].hashrate_ths"), "not a hashrate"));
            }
            for name in std::iter::once(&m.name).chain(&m.aliases) {
                if !keys.insert(crate::power::model_key(name)) {
                    return Err(bad(
                        MODELS,
                        format!("model[{i}]"),
                        &format!("{name:?} names two models"),
                    ));
                }
            }
        }
        unique(self.installations.installations.iter().map(|s| s.id.as_str()))
            .map_err(|m| bad(INSTALLATIONS, "installation.id".into(), &m))?;
        for (i, s) in self.installations.installations.iter().enumerate() {
            if !(s.lat.is_finite() && (-90.0..=90.0).contains(&s.lat)) {
                return Err(bad(
                    INSTALLATIONS,
                    format!("installation[{i}].lat"),
                    "latitude is -90 to 90",
                ));
            }
            if !(s.lon.is_finite() && (-180.0..=180.0).contains(&s.lon)) {
                return Err(bad(
                    INSTALLATIONS,
                    format!("installation[{i}].lon"),
                    "longitude is -180 to 180",
                ));
            }
            if !(1..=4).contains(&s.cfius_part) {
                return Err(bad(
                    INSTALLATIONS,
                    format!("installation[{i}].cfius_part"),
                    "parts are 1 to 4",
                ));
            }
            if let Some(e) = s.extent_m {
                check_distance(e)
                    .map_err(|m| bad(INSTALLATIONS, format!("installation[{i}].extent_m"), m))?;
            }
        }
        Ok(())
    }
}

fn display_origin(f: &RuleFile) -> String {
    if f.origin == "built-in" {
        format!("{} (built-in)", f.name)
    } else {
        f.origin.clone()
    }
}

fn parse<T: serde::de::DeserializeOwned>(origin: &str, bytes: &[u8]) -> Result<T, RulesError> {
    let file = origin.to_owned();
    let text = std::str::from_utf8(bytes).map_err(|_| RulesError::Parse {
        file: file.clone(),
        message: "not UTF-8".into(),
    })?;
    toml::from_str(text).map_err(|e| RulesError::Parse {
        file,
        message: e.to_string().trim_end().to_owned(),
    })
}

fn check_country(code: &str) -> Result<(), &'static str> {
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err("expected a two-letter upper-case code")
    }
}

fn check_distance(d: f64) -> Result<(), &'static str> {
    if d.is_finite() && d > 0.0 && d <= 20_100_000.0 {
        Ok(())
    } else {
        Err("expected a positive number no larger than half the Earth's circumference")
    }
}

fn check_finding(id: &str) -> Result<(), &'static str> {
    if id.starts_with("SITE-") && hashward_model::RuleId::new(id).is_some() {
        Ok(())
    } else {
        Err("not a SITE rule of the catalogue")
    }
}

fn check_partial_date(s: &str) -> Result<(), &'static str> {
    let full = NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
    let month = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").is_ok();
    if full || month {
        Ok(())
    } else {
        Err("expected YYYY-MM or YYYY-MM-DD")
    }
}

fn unique<'a>(ids: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(format!("{id:?} appears twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse_and_carry_sources() {
        let r = Rules::builtin().unwrap();
        assert_eq!(r.files.len(), 7);
        assert!(
            r.files
                .iter()
                .all(|f| f.sha256.len() == 64 && f.origin == "built-in")
        );
        let close = r.cfius.zones.iter().find(|z| z.finding == "SITE-001").unwrap();
        assert_eq!(close.distance_m, 1609.344);
        let ext = r.cfius.zones.iter().find(|z| z.finding == "SITE-002").unwrap();
        assert_eq!(ext.distance_m, 160934.4);
        assert!(ext.urban_exception && !close.urban_exception);
        let codes: Vec<_> = r
            .cfius
            .excepted_countries
            .iter()
            .map(|e| e.code.as_str())
            .collect();
        assert_eq!(codes, ["AU", "CA", "NZ", "GB"]);
        assert!(
            r.states
                .laws
                .iter()
                .all(|l| !l.source.is_empty() && !l.cite.is_empty())
        );
        let sb60 = r.states.laws.iter().find(|l| l.id == "us-ar-sb60-2025").unwrap();
        assert_eq!(sb60.status, Status::Failed);
        assert!(
            r.installations
                .installations
                .iter()
                .any(|i| i.name.contains("Warren"))
        );
        assert!((10..=20).contains(&r.installations.installations.len()));
    }

    fn dir_with(name: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
        dir
    }

    #[test]
    fn a_directory_replaces_files_one_by_one() {
        let grid = "[[threshold]]\nid = \"x\"\nregion = \"PJM\"\nthreshold_mw = 50.0\ncite = \"c\"\neffect = \"e\"\nstatus = \"in_force\"\neffective = \"2020-01-01\"\nsource = \"s\"\n";
        let dir = dir_with("grid.toml", grid);
        let r = Rules::from_dir(dir.path()).unwrap();
        assert_eq!(r.grid.thresholds.len(), 1);
        assert_eq!(r.grid.thresholds[0].region, "PJM");
        let g = r.files.iter().find(|f| f.name == "grid.toml").unwrap();
        assert!(g.origin.ends_with("grid.toml") && g.origin != "built-in");
        assert!(r.files.iter().filter(|f| f.origin == "built-in").count() == 6);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_file_and_key() {
        let grid = "[[threshold]]\nid = \"x\"\nregion = \"PJM\"\nthreshold_mw = 50.0\nthreshhold = 1\ncite = \"c\"\neffect = \"e\"\nstatus = \"in_force\"\neffective = \"2020-01-01\"\nsource = \"s\"\n";
        let err = Rules::from_dir(dir_with("grid.toml", grid).path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("grid.toml") && err.contains("threshhold"), "{err}");

        let grid = "[[threshold]]\nid = \"x\"\nregion = \"PJM\"\nthreshold_mw = -5.0\ncite = \"c\"\neffect = \"e\"\nstatus = \"in_force\"\neffective = \"2020-01-01\"\nsource = \"s\"\n";
        let err = Rules::from_dir(dir_with("grid.toml", grid).path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("grid.toml") && err.contains("threshold[0].threshold_mw"),
            "{err}"
        );

        let grid = "[[threshold]]\nid = \"x\"\nregion = \"PJM\"\nthreshold_mw = 5.0\ncite = \"c\"\neffect = \"e\"\nstatus = \"maybe\"\neffective = \"2020-01-01\"\nsource = \"s\"\n";
        let err = Rules::from_dir(dir_with("grid.toml", grid).path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("grid.toml") && err.contains("maybe"), "{err}");

        let err = Rules::from_dir(dir_with("state.toml", "").path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown rules file state.toml"), "{err}");
    }
}
