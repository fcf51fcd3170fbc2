//! The assessment: for each facility (in parallel, results in input order) its load, the
//! nearest site of each layer and every rule it meets — CFIUS zones and areas, state laws,
//! critical infrastructure, grid thresholds — each with a finding whose evidence lets someone
//! re-check the calculation.
//!
//! Exactness: the index classifies candidates exactly at the radius it is asked for; a
//! candidate's distance is recomputed geodesically (geographiclib) whenever it is reported or
//! lies within 0.6 % of any other threshold it is judged against, so no verdict and no reported
//! distance depends on the spherical approximation.
//!
//! Points: a site known only as a point (MIRTA) cannot show where its boundary is. A point
//! distance within the limit is a hit (the boundary is at least as close as a point inside the
//! installation); a point distance beyond the limit but within limit + margin (the site's
//! `extent_m`, else `infrastructure.toml`'s default) is a screening result, SITE-007.

use std::collections::HashMap;

use chrono::NaiveDate;
use hashward_model::{Evidence, Finding, RuleId, Subject};
use rayon::prelude::*;
use serde_json::{Map, Value, json};

use crate::facility::{Facilities, Facility};
use crate::geo::{self, LatLon, Measured, Shape};
use crate::grid;
use crate::index::{Hit, SiteIndex};
use crate::layer::{Category, Layer, Site};
use crate::power::{LoadCalc, ModelTable};
use crate::report::{FacilityResult, LayerSummary, Nearest, RuleHit, SitesResult};
use crate::rules::{ExceptedCountry, LawKind, MissileField, Owners, Rules, StateLaw, Status, Zone};

/// Metres in a statute mile.
pub const MILE_M: f64 = 1609.344;

/// The spherical approximation errs by at most 0.561 % against the WGS84 geodesic (siting
/// research brief 4.4); 0.6 % plus a metre is the band in which a verdict needs the geodesic.
const APPROX_BAND: f64 = geo::SPHERE_REL_ERROR;

/// Hits of one zone reported per facility; the rest are counted in a note.
const MAX_HITS_PER_RULE: usize = 20;

/// The method every distance is computed with, as stated in evidence.
pub const DISTANCE_METHOD: &str = "WGS84 geodesic (geographiclib)";

/// How to assess.
#[derive(Debug, Clone)]
pub struct Options {
    /// Laws and thresholds in force on this date apply.
    pub date: NaiveDate,
    /// Nearest infrastructure sites listed per SITE-005 finding.
    pub infrastructure_examples: usize,
}

/// Findings and result of one assessment.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// One finding per rule hit, in facility order.
    pub findings: Vec<Finding>,
    /// The output contract's `result`.
    pub result: SitesResult,
}

/// One index over the sites of a layer that share a role.
struct Group {
    /// Category name, or `cfius` for installations listed in Appendix A.
    key: String,
    /// Layer site index of each indexed shape.
    site_ids: Vec<usize>,
    index: SiteIndex,
    /// The largest screening margin of its point sites.
    max_margin: f64,
}

struct Prepared<'a> {
    layer: &'a Layer,
    groups: Vec<Group>,
}

/// Everything the per-facility work reads: the layers' indexes and the rules prepared once.
/// `Sync`: facilities are assessed in parallel against one `Assessor`, in batches or all at
/// once ([`assess`]).
pub struct Assessor<'a> {
    rules: &'a Rules,
    layers: Vec<Prepared<'a>>,
    models: ModelTable<'a>,
    part3: HashMap<(String, String), &'a MissileField>,
    zones: Vec<&'a Zone>,
    opts: &'a Options,
}

/// What one facility yields.
#[derive(Debug, Clone)]
pub struct FacilityOutcome {
    /// Its entry of `result.facilities`.
    pub result: FacilityResult,
    /// Its findings, in rule order.
    pub findings: Vec<Finding>,
    /// Row errors found while assessing it (fleets that could not be sized).
    pub errors: Vec<String>,
}

/// Assess `facilities` against `layers` under `rules`.
pub fn assess(facilities: &Facilities, layers: &[Layer], rules: &Rules, opts: &Options) -> Assessment {
    let assessor = Assessor::new(layers, rules, opts);
    let outcomes: Vec<FacilityOutcome> = facilities
        .facilities
        .par_iter()
        .map(|f| assessor.facility(f))
        .collect();
    let mut result = assessor.result_without_facilities(facilities);
    let mut findings = Vec::new();
    result.facilities.reserve(outcomes.len());
    for o in outcomes {
        result.row_errors.extend(o.errors);
        findings.extend(o.findings);
        result.facilities.push(o.result);
    }
    Assessment { findings, result }
}

impl<'a> Assessor<'a> {
    /// Indexes every layer's sites by role and prepares the rules (a few milliseconds for the
    /// shared layers' 13,800 sites).
    pub fn new(layers: &'a [Layer], rules: &'a Rules, opts: &'a Options) -> Assessor<'a> {
        let default_margin = rules.infrastructure.screening.default_margin_m;
        let prepared = layers.iter().map(|l| prepare(l, default_margin)).collect();
        let mut part3 = HashMap::new();
        for field in &rules.part3.fields {
            for c in &field.counties {
                if let Some((st, county)) = c.split_once(':') {
                    part3.insert((st.to_owned(), county_key(county)), field);
                }
            }
        }
        let mut zones: Vec<&Zone> = rules.cfius.zones.iter().collect();
        zones.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        Assessor {
            rules,
            layers: prepared,
            models: ModelTable::new(&rules.models),
            part3,
            zones,
            opts,
        }
    }

    /// The result with everything but the per-facility entries: date, rules files, layers,
    /// and the facilities file's row errors (assessing adds the fleets' errors after them).
    pub fn result_without_facilities(&self, facilities: &Facilities) -> SitesResult {
        SitesResult {
            date: self.opts.date.format("%Y-%m-%d").to_string(),
            rule_files: self.rules.files.clone(),
            layers: self
                .layers
                .iter()
                .map(|p| LayerSummary {
                    name: p.layer.name.clone(),
                    format: p.layer.format.clone(),
                    sites: p.layer.sites.len(),
                    row_errors: p.layer.row_errors.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            facilities: Vec::new(),
            row_errors: facilities.row_errors.iter().map(ToString::to_string).collect(),
        }
    }
}

fn prepare(layer: &Layer, default_margin: f64) -> Prepared<'_> {
    let mut by_key: Vec<(String, Vec<usize>)> = Vec::new();
    let mut push = |key: &str, i: usize| match by_key.iter_mut().find(|(k, _)| k == key) {
        Some((_, ids)) => ids.push(i),
        None => by_key.push((key.to_owned(), vec![i])),
    };
    for (i, s) in layer.sites.iter().enumerate() {
        push(s.category.as_str(), i);
        if matches!(s.category, Category::MilitaryInstallation) && (s.cfius_part.is_some() || s.cfius_listed)
        {
            push("cfius", i);
        }
    }
    let groups = by_key
        .into_iter()
        .map(|(key, site_ids)| {
            let shapes: Vec<Shape> = site_ids
                .iter()
                .filter_map(|&i| layer.sites.get(i).map(|s| s.shape.clone()))
                .collect();
            let max_margin = site_ids
                .iter()
                .filter_map(|&i| layer.sites.get(i))
                .map(|s| margin(s, default_margin))
                .fold(0.0, f64::max);
            Group {
                key,
                index: SiteIndex::build(&shapes),
                site_ids,
                max_margin,
            }
        })
        .collect();
    Prepared { layer, groups }
}

/// How far beyond the point a site's boundary may reach: 0 for polygons.
fn margin(site: &Site, default_margin: f64) -> f64 {
    match site.shape {
        Shape::Point(_) => site
            .extent_m
            .filter(|e| e.is_finite() && *e >= 0.0)
            .unwrap_or(default_margin),
        Shape::Polygons(_) => 0.0,
    }
}

/// `laramie` for "Laramie County", "LARAMIE", " laramie county ".
fn county_key(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    let stem = lower.strip_suffix(" county").unwrap_or(&lower);
    stem.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The owner's country as an upper-case ISO code (`UK` read as `GB`).
fn country(code: &Option<String>) -> Option<String> {
    let c = code.as_deref()?.trim().to_ascii_uppercase();
    match c.as_str() {
        "" => None,
        "UK" => Some("GB".into()),
        _ => Some(c),
    }
}

/// A point that stands for a shape in messages and on the map: the point itself, or the mean
/// of the first ring's vertices.
pub fn anchor(shape: &Shape) -> Option<LatLon> {
    match shape {
        Shape::Point(p) => Some(LatLon {
            lat: p.lat,
            lon: p.lon,
        }),
        Shape::Polygons(polys) => {
            let ring = &polys.first()?.exterior;
            let n = ring.len().max(1) as f64;
            let lat = ring.iter().map(|p| p.lat).sum::<f64>() / n;
            let lon = ring.iter().map(|p| p.lon).sum::<f64>() / n;
            Some(LatLon { lat, lon })
        }
    }
}

fn miles(m: f64) -> String {
    format!("{:.2} mi", m / MILE_M)
}

/// Whether the facility is a foreign person for CFIUS.
enum Foreign<'a> {
    Yes,
    Unknown,
    Domestic(String),
    Excepted(&'a ExceptedCountry),
}

/// A candidate judged: its exact distance and the site.
struct Judged<'a> {
    layer: usize,
    site_idx: usize,
    site: &'a Site,
    distance_m: f64,
    /// `distance_m` is already the geodesic one.
    exact: bool,
    measured_from: Measured,
}

impl<'a> Assessor<'a> {
    /// One facility: its load, nearest sites and rule hits, with their findings.
    pub fn facility(&self, f: &'a Facility) -> FacilityOutcome {
        let (load, fleet_errors) = self.models.load(&f.load, f.overhead);
        let errors = fleet_errors
            .into_iter()
            .map(|e| format!("facility {:?}, field {}: {}", f.id, e.field, e.message))
            .collect();
        let mut w = Work {
            ctx: self,
            f,
            hits: Vec::new(),
            notes: Vec::new(),
            findings: Vec::new(),
        };
        let nearest = w.nearest();
        w.cfius();
        w.state_laws();
        w.infrastructure();
        w.grid(&load);
        FacilityOutcome {
            result: FacilityResult {
                id: f.id.clone(),
                name: f.name.clone(),
                load_mw: load.load_mw,
                load,
                nearest,
                rules: w.hits,
                notes: w.notes,
            },
            findings: w.findings,
            errors,
        }
    }
}

/// One facility's assessment in progress.
struct Work<'c, 'a> {
    ctx: &'c Assessor<'a>,
    f: &'a Facility,
    hits: Vec<RuleHit>,
    notes: Vec<String>,
    findings: Vec<Finding>,
}

/// What a rule hit is about, for the message and evidence.
struct HitSpec<'s> {
    rule: &'s str,
    finding: RuleId,
    cite: &'s str,
    file: &'s str,
    limit_m: f64,
    margin_m: Option<f64>,
    screening: bool,
    what: String,
}

impl<'c, 'a> Work<'c, 'a> {
    fn label(&self) -> String {
        if self.f.name.is_empty() || self.f.name == self.f.id {
            format!("facility {}", self.f.id)
        } else {
            format!("facility {} ({})", self.f.id, self.f.name)
        }
    }

    fn layer_name(&self, layer: usize) -> String {
        self.ctx
            .layers
            .get(layer)
            .map_or_else(String::new, |p| p.layer.name.clone())
    }

    /// The nearest site of each layer (over its category indexes).
    fn nearest(&self) -> Vec<Nearest> {
        let mut out = Vec::new();
        for p in &self.ctx.layers {
            let best = p
                .groups
                .iter()
                .filter(|g| g.key != "cfius")
                .filter_map(|g| {
                    let h = g.index.nearest(&self.f.shape)?;
                    Some((g.site_ids.get(h.site).copied()?, h))
                })
                .min_by(|a, b| a.1.distance_m.total_cmp(&b.1.distance_m));
            if let Some((i, h)) = best
                && let Some(s) = p.layer.sites.get(i)
            {
                out.push(Nearest {
                    layer: p.layer.name.clone(),
                    site: s.id.clone(),
                    site_name: s.name.clone(),
                    distance_m: h.distance_m,
                    measured_from: h.measured_from,
                });
            }
        }
        out
    }

    /// Candidates of group `key` in every layer within `radius`, their distances exact when
    /// reported or near one of `thresholds(site)`.
    fn candidates(
        &self,
        key: &str,
        radius: impl Fn(&Group) -> f64,
        thresholds: impl Fn(&Site) -> Vec<f64>,
    ) -> Vec<Judged<'a>> {
        let mut out = Vec::new();
        for (li, p) in self.ctx.layers.iter().enumerate() {
            for g in p.groups.iter().filter(|g| g.key == key) {
                for h in g.index.within(&self.f.shape, radius(g)) {
                    let Some(&si) = g.site_ids.get(h.site) else {
                        continue;
                    };
                    let Some(site) = p.layer.sites.get(si) else {
                        continue;
                    };
                    let (distance_m, exact, measured_from) = self.exact_if_near(&h, site, &thresholds(site));
                    out.push(Judged {
                        layer: li,
                        site_idx: si,
                        site,
                        distance_m,
                        exact,
                        measured_from,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        // The nearest is reported by name: every candidate the sphere's error could put first
        // is measured on the ellipsoid before the order is trusted (a spherical pick can be
        // 0.4 % off the geodesic nearest).
        if let Some(best) = out.first().map(|j| j.distance_m) {
            let reach = best * (1.0 + 2.0 * APPROX_BAND) + 1.0;
            let mut refined = false;
            for j in out.iter_mut().take_while(|j| j.distance_m <= reach) {
                if !j.exact {
                    let d = geo::distance(&self.f.shape, &j.site.shape);
                    (j.distance_m, j.exact, j.measured_from) = (d.meters, true, d.measured_from);
                    refined = true;
                }
            }
            if refined {
                out.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
            }
        }
        out
    }

    fn exact_if_near(&self, h: &Hit, site: &Site, thresholds: &[f64]) -> (f64, bool, Measured) {
        let near = thresholds
            .iter()
            .any(|t| (h.distance_m - t).abs() <= t * APPROX_BAND + 1.0);
        if h.refined || !near {
            (h.distance_m, h.refined, h.measured_from)
        } else {
            let d = geo::distance(&self.f.shape, &site.shape);
            (d.meters, true, d.measured_from)
        }
    }

    /// The exact distance of a candidate about to be reported.
    fn exact(&self, j: &Judged<'_>) -> (f64, Measured) {
        if j.exact {
            return (j.distance_m, j.measured_from);
        }
        let d = geo::distance(&self.f.shape, &j.site.shape);
        (d.meters, d.measured_from)
    }

    fn foreign(&self) -> Foreign<'a> {
        let c = &self.ctx.rules.cfius;
        match country(&self.f.owner_country) {
            None => Foreign::Unknown,
            Some(code) if c.foreign_person.domestic_countries.contains(&code) => Foreign::Domestic(code),
            Some(code) => match c.excepted_countries.iter().find(|e| e.code == code) {
                Some(e) => Foreign::Excepted(e),
                None => Foreign::Yes,
            },
        }
    }

    fn owner_words(&self) -> String {
        match (country(&self.f.owner_country), &self.f.owner) {
            (Some(c), Some(o)) if !o.is_empty() => format!("owner {o} ({c})"),
            (Some(c), _) => format!("owner country {c}"),
            (None, _) => "owner country unknown".to_owned(),
        }
    }

    /// CFIUS: zones around listed installations (SITE-001/002, SITE-007 for point sites) and
    /// part 3/4 areas (SITE-003).
    fn cfius(&mut self) {
        let c = &self.ctx.rules.cfius;
        match self.foreign() {
            Foreign::Domestic(code) => {
                self.notes.push(format!(
                    "owner country {code}: not a foreign person ({}); CFIUS real-estate rules not applied",
                    c.foreign_person.cite
                ));
                return;
            }
            Foreign::Excepted(e) => {
                self.notes.push(format!(
                    "owner country {} is an excepted real-estate foreign state since {} ({}): CFIUS real-estate rules not applied, provided the owner meets the excepted-investor criteria",
                    e.code, e.since, e.cite
                ));
                return;
            }
            Foreign::Unknown | Foreign::Yes => {}
        }
        let date = self.ctx.opts.date;
        let zones: Vec<&Zone> = self
            .ctx
            .zones
            .iter()
            .copied()
            .filter(|z| z.status == Status::InForce && z.effective <= date)
            .collect();
        let default_margin = self.ctx.rules.infrastructure.screening.default_margin_m;
        let max_limit = zones.iter().map(|z| z.distance_m).fold(0.0, f64::max);
        let applies = |z: &Zone, s: &Site| match s.cfius_part {
            Some(p) => z.parts.contains(&p),
            None => s.cfius_listed && z.listed_part_unknown,
        };
        let cands = self.candidates(
            "cfius",
            |g| max_limit + g.max_margin,
            |s| {
                let m = margin(s, default_margin);
                zones
                    .iter()
                    .filter(|z| applies(z, s))
                    .flat_map(|z| [z.distance_m, z.distance_m + m])
                    .collect()
            },
        );
        let urban = self.f.urban == Some(true);
        let mut per_zone: HashMap<&str, usize> = HashMap::new();
        let mut unknown_part_near: Option<(String, f64)> = None;
        for j in &cands {
            let m = margin(j.site, default_margin);
            let mut closer_certain = false;
            for z in zones.iter().filter(|z| applies(z, j.site)) {
                if closer_certain {
                    break;
                }
                let certain = j.distance_m <= z.distance_m;
                let screening = !certain && j.distance_m <= z.distance_m + m && m > 0.0;
                if !certain && !screening {
                    continue;
                }
                if z.urban_exception && urban {
                    self.notes.push(format!(
                        "urban facility: excepted from {} ({}) near {} at {} (31 CFR 802.216(c))",
                        z.id,
                        z.cite,
                        j.site.name,
                        miles(j.distance_m)
                    ));
                    continue;
                }
                let n = per_zone.entry(z.id.as_str()).or_default();
                *n += 1;
                if *n > MAX_HITS_PER_RULE {
                    continue;
                }
                let finding = if certain {
                    rule_id(&z.finding)
                } else {
                    RuleId::SITE_SCREENING
                };
                let what = if certain {
                    format!(
                        "within {} of the boundary of {} ({})",
                        miles(z.distance_m),
                        j.site.name,
                        z.id
                    )
                } else {
                    format!(
                        "may be within {} of the boundary of {} ({}): the site is known only as a point; needs the installation's polygon",
                        miles(z.distance_m),
                        j.site.name,
                        z.id
                    )
                };
                self.site_hit(
                    j,
                    &HitSpec {
                        rule: &z.id,
                        finding,
                        cite: &z.cite,
                        file: "cfius.toml",
                        limit_m: z.distance_m,
                        margin_m: (!certain).then_some(m),
                        screening: !certain,
                        what,
                    },
                );
                closer_certain = certain;
            }
            if j.site.cfius_part.is_none()
                && j.site.cfius_listed
                && j.distance_m <= 160_934.4
                && unknown_part_near.is_none()
            {
                let (d, _) = self.exact(j);
                unknown_part_near = Some((j.site.name.clone(), d));
            }
        }
        for (zone, n) in per_zone {
            if n > MAX_HITS_PER_RULE {
                self.notes.push(format!(
                    "{zone}: {} more installations not listed",
                    n - MAX_HITS_PER_RULE
                ));
            }
        }
        if let Some((name, d)) = unknown_part_near {
            self.notes.push(format!(
                "{name} ({}) is listed in 31 CFR 802 App. A with its part unknown in the layer: if it is a part 2 installation, the 100 mi extended range (31 CFR 802.217) applies",
                miles(d)
            ));
        }
        self.cfius_areas();
    }

    /// SITE-003: a part 3 county by the facility's state and county, or containment in a
    /// part 3 county or part 4 range polygon of a layer.
    fn cfius_areas(&mut self) {
        let area = &self.ctx.rules.cfius.area;
        if area.status != Status::InForce || area.effective > self.ctx.opts.date {
            return;
        }
        let urban = self.f.urban == Some(true);
        if let (Some(st), Some(county)) = (&self.f.state, &self.f.county) {
            let key = (st.trim().to_ascii_uppercase(), county_key(county));
            if let Some(field) = self.ctx.part3.get(&key) {
                if urban && area.part3_urban_exception {
                    self.notes.push(format!(
                        "urban facility: excepted from the part 3 county rule ({}) in {county}, {} (31 CFR 802.216(c))",
                        area.part3_cite, key.0
                    ));
                } else {
                    let unverified = if field.verified {
                        String::new()
                    } else {
                        "; the county list is not verified against the regulation".to_owned()
                    };
                    let message = format!(
                        "{} ({}) is in {county}, {}, a county of the {} listed in 31 CFR 802 App. A part 3 ({}){unverified}",
                        self.label(),
                        self.owner_words(),
                        key.0,
                        field.name,
                        area.part3_cite
                    );
                    let mut inputs = self.base_inputs();
                    inputs.insert("state".into(), json!(key.0));
                    inputs.insert("county".into(), json!(county));
                    inputs.insert("missile_field".into(), json!(field.id));
                    inputs.insert("county_list_verified".into(), json!(field.verified));
                    self.rule_inputs(
                        &mut inputs,
                        &field.id,
                        &area.part3_cite,
                        "cfius-part3-counties.toml",
                    );
                    self.findings.push(
                        Finding::new(rule_id(&area.finding), self.subject(), message).with_evidence(
                            Evidence::Calculation {
                                inputs,
                                formula: "(state, county) in 31 CFR 802 App. A part 3".into(),
                                result: json!(true),
                            },
                        ),
                    );
                    self.hits.push(RuleHit {
                        site_name: Some(field.name.clone()),
                        ..RuleHit::facility_only(&field.id, &area.finding, &area.part3_cite)
                    });
                }
            }
        }
        for (key, part, cite) in [
            ("cfius_part3_county", 3u8, &area.part3_cite),
            ("cfius_part4_range", 4u8, &area.part4_cite),
        ] {
            if part == 3 && urban && area.part3_urban_exception {
                continue;
            }
            let cands = self.candidates(key, |_| 0.0, |_| Vec::new());
            if let Some(j) = cands.first() {
                let what = format!("inside {}, a part {part} area of 31 CFR 802 App. A", j.site.name);
                self.site_hit(
                    j,
                    &HitSpec {
                        rule: key,
                        finding: rule_id(&area.finding),
                        cite,
                        file: "cfius.toml",
                        limit_m: 0.0,
                        margin_m: None,
                        screening: false,
                        what,
                    },
                );
            }
        }
    }

    /// SITE-004: in-force state distance laws for the facility's state and owner country;
    /// statewide and ownership laws as notes.
    fn state_laws(&mut self) {
        let Some(state) = self.f.state.as_deref().map(|s| s.trim().to_ascii_uppercase()) else {
            self.notes.push("no state given: state laws not evaluated".into());
            return;
        };
        let owner = country(&self.f.owner_country);
        let default_margin = self.ctx.rules.infrastructure.screening.default_margin_m;
        let date = self.ctx.opts.date;
        for law in self
            .ctx
            .rules
            .states
            .laws
            .iter()
            .filter(|l| l.jurisdiction == state)
        {
            match law.status {
                Status::InForce => {}
                Status::Enjoined => {
                    self.notes
                        .push(format!("{} ({}) is enjoined: not applied", law.name, law.cite));
                    continue;
                }
                Status::Failed | Status::Vetoed | Status::Proposed => continue,
            }
            if let Some(eff) = law.effective
                && eff > date
            {
                self.notes.push(format!(
                    "{} ({}) takes effect on {eff}: not applied on {date}",
                    law.name, law.cite
                ));
                continue;
            }
            let owner_applies = match (law.owners, &owner) {
                (Owners::Any, _) => true,
                (Owners::Listed, Some(c)) => law.owner_countries.contains(c),
                (Owners::Listed, None) => true,
            };
            if law.owners == Owners::Listed && law.owner_countries.is_empty() {
                self.notes.push(format!(
                    "{} ({}): owners restricted by {}; check the owner against that list",
                    law.name,
                    law.cite,
                    law.owner_countries_source
                        .as_deref()
                        .unwrap_or("a list not encoded here")
                ));
                continue;
            }
            if !owner_applies {
                continue;
            }
            match law.kind {
                LawKind::Distance => self.state_distance_law(law, default_margin),
                LawKind::Statewide | LawKind::Ownership => self.notes.push(format!(
                    "{} ({}) restricts {} in {state}{}{}",
                    law.name,
                    law.cite,
                    match owner {
                        Some(ref c) => format!("owners from {c}"),
                        None => "owners from listed countries (owner country unknown)".to_owned(),
                    },
                    if law.kind == LawKind::Statewide {
                        " statewide"
                    } else {
                        " (ownership rule)"
                    },
                    law.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default()
                )),
            }
        }
    }

    fn state_distance_law(&mut self, law: &StateLaw, default_margin: f64) {
        let Some(limit) = law.distance_m else { return };
        let mut best: Option<(Judged<'a>, bool)> = None;
        let mut count = 0usize;
        for cat in &law.site_categories {
            let military = cat == "military_installation";
            let cands = self.candidates(
                cat,
                |g| limit + if military { g.max_margin } else { 0.0 },
                |s| {
                    vec![
                        limit,
                        limit + if military { margin(s, default_margin) } else { 0.0 },
                    ]
                },
            );
            for j in cands {
                let m = if military {
                    margin(j.site, default_margin)
                } else {
                    0.0
                };
                let certain = j.distance_m <= limit;
                let screening = !certain && m > 0.0 && j.distance_m <= limit + m;
                if certain {
                    count += 1;
                }
                let better = match &best {
                    None => certain || screening,
                    Some((b, b_certain)) => {
                        (certain && !b_certain) || (certain == *b_certain && j.distance_m < b.distance_m)
                    }
                };
                if (certain || screening) && better {
                    best = Some((j, certain));
                }
            }
        }
        let Some((j, certain)) = best else { return };
        let m = if matches!(j.site.category, Category::MilitaryInstallation) {
            margin(j.site, default_margin)
        } else {
            0.0
        };
        let scope = law
            .land_use
            .as_deref()
            .map(|u| format!(" (applies to {u} land)"))
            .unwrap_or_default();
        let what = if certain {
            format!(
                "within {} of {} under {}{scope}{}",
                miles(limit),
                j.site.name,
                law.name,
                if count > 1 {
                    format!(" ({count} sites in range)")
                } else {
                    String::new()
                }
            )
        } else {
            format!(
                "may be within {} of {}'s boundary under {}{scope}: the site is known only as a point; needs its polygon",
                miles(limit),
                j.site.name,
                law.name
            )
        };
        self.site_hit(
            &j,
            &HitSpec {
                rule: &law.id,
                finding: if certain {
                    RuleId::SITE_STATE_LAW
                } else {
                    RuleId::SITE_SCREENING
                },
                cite: &law.cite,
                file: "states.toml",
                limit_m: limit,
                margin_m: (!certain).then_some(m),
                screening: !certain,
                what,
            },
        );
        if certain && let Some(h) = self.hits.last_mut() {
            h.count = Some(count);
        }
    }

    /// SITE-005: infrastructure of each configured category within its distance.
    fn infrastructure(&mut self) {
        for cat in &self.ctx.rules.infrastructure.categories {
            let cands = self.candidates(&cat.name, |_| cat.distance_m, |_| Vec::new());
            let Some(first) = cands.first() else { continue };
            let examples: Vec<String> = cands
                .iter()
                .take(self.ctx.opts.infrastructure_examples.max(1))
                .map(|j| {
                    let (d, _) = self.exact(j);
                    format!("{} ({})", j.site.name, miles(d))
                })
                .collect();
            let what = format!(
                "{} {} site(s) within {}, nearest {}",
                cands.len(),
                cat.name,
                miles(cat.distance_m),
                examples.join(", ")
            );
            let rule = format!("infrastructure-{}", cat.name);
            self.site_hit(
                first,
                &HitSpec {
                    rule: &rule,
                    finding: RuleId::SITE_INFRASTRUCTURE,
                    cite: "hashward default (infrastructure.toml)",
                    file: "infrastructure.toml",
                    limit_m: cat.distance_m,
                    margin_m: None,
                    screening: false,
                    what,
                },
            );
            if let Some(h) = self.hits.last_mut() {
                h.count = Some(cands.len());
            }
        }
    }

    /// SITE-006: the load against the region's thresholds.
    fn grid(&mut self, load: &LoadCalc) {
        let Some(region) = self.f.region.as_deref().filter(|r| !r.trim().is_empty()) else {
            return;
        };
        let Some(mw) = load.load_mw else {
            self.notes
                .push(format!("load unknown: grid thresholds of {region} not evaluated"));
            return;
        };
        let colocated = self.f.colocated == Some(true);
        for h in grid::hits(&self.ctx.rules.grid, region, colocated, mw, self.ctx.opts.date) {
            let t = h.rule;
            let message = format!(
                "{}: load {mw:.1} MW reaches the {} large-load threshold of {} MW{} ({}); {}",
                self.label(),
                t.region,
                h.threshold_mw,
                if h.colocated {
                    " for a load co-located with generation"
                } else {
                    ""
                },
                t.cite,
                t.effect
            );
            let mut inputs = Map::new();
            inputs.insert("facility".into(), json!(self.f.id));
            inputs.insert("region".into(), json!(region));
            inputs.insert("colocated".into(), json!(colocated));
            inputs.insert("load".into(), serde_json::to_value(load).unwrap_or(Value::Null));
            inputs.insert("threshold_mw".into(), json!(h.threshold_mw));
            self.rule_inputs(&mut inputs, &t.id, &t.cite, "grid.toml");
            let formula = match load.formula {
                Some(f) => format!("{f}; load_mw >= threshold_mw"),
                None => "load_mw >= threshold_mw".to_owned(),
            };
            self.findings.push(
                Finding::new(RuleId::SITE_GRID_LOAD, self.subject(), message).with_evidence(
                    Evidence::Calculation {
                        inputs,
                        formula,
                        result: json!({"load_mw": mw, "reached": true}),
                    },
                ),
            );
            self.hits.push(RuleHit {
                threshold_mw: Some(h.threshold_mw),
                ..RuleHit::facility_only(&t.id, RuleId::SITE_GRID_LOAD.as_str(), &t.cite)
            });
        }
    }

    fn subject(&self) -> Subject {
        Subject::Facility {
            id: self.f.id.clone(),
        }
    }

    fn base_inputs(&self) -> Map<String, Value> {
        // Sized for a site hit's inputs (19 at most), so the map never grows.
        let mut m = Map::with_capacity(20);
        m.insert("facility".into(), json!(self.f.id));
        if let Some(p) = anchor(&self.f.shape) {
            m.insert("facility_point".into(), json!({"lat": p.lat, "lon": p.lon}));
        }
        m.insert("facility_shape".into(), json!(shape_kind(&self.f.shape)));
        m.insert("owner_country".into(), json!(country(&self.f.owner_country)));
        m
    }

    fn rule_inputs(&self, m: &mut Map<String, Value>, rule: &str, cite: &str, file: &str) {
        m.insert("rule".into(), json!(rule));
        m.insert("cite".into(), json!(cite));
        m.insert("rules_file".into(), json!(file));
        m.insert("rules_sha256".into(), json!(self.ctx.rules.sha256(file)));
    }

    /// Record a hit against a site: the result entry and its finding, with an exact distance.
    fn site_hit(&mut self, j: &Judged<'_>, spec: &HitSpec<'_>) {
        let (d, measured) = self.exact(j);
        let layer = self.layer_name(j.layer);
        let margin = spec
            .margin_m
            .map(|m| format!(" + {} screening margin", miles(m)))
            .unwrap_or_default();
        let message = format!(
            "{} ({}) is {:.0} m ({}) from the {} of {} [{}], {}; limit {:.0} m ({}){margin}, {}",
            self.label(),
            self.owner_words(),
            d,
            miles(d),
            measured.as_str(),
            j.site.name,
            layer,
            spec.what,
            spec.limit_m,
            miles(spec.limit_m),
            spec.cite
        );
        let mut inputs = self.base_inputs();
        inputs.insert("site".into(), json!(j.site.id));
        inputs.insert("site_name".into(), json!(j.site.name));
        inputs.insert("layer".into(), json!(layer));
        if let Some(p) = anchor(&j.site.shape) {
            inputs.insert("site_point".into(), json!({"lat": p.lat, "lon": p.lon}));
        }
        inputs.insert("site_shape".into(), json!(shape_kind(&j.site.shape)));
        inputs.insert("distance_method".into(), json!(DISTANCE_METHOD));
        inputs.insert("distance_m".into(), json!(d));
        inputs.insert("measured_from".into(), json!(measured.as_str()));
        inputs.insert("limit_m".into(), json!(spec.limit_m));
        if let Some(m) = spec.margin_m {
            inputs.insert("margin_m".into(), json!(m));
        }
        self.rule_inputs(&mut inputs, spec.rule, spec.cite, spec.file);
        let (formula, result) = if spec.screening {
            (
                "limit_m < distance_m <= limit_m + margin_m (distance from the site's point)",
                json!("screening: needs the site's polygon"),
            )
        } else {
            ("distance_m <= limit_m", json!(true))
        };
        self.findings
            .push(
                Finding::new(spec.finding, self.subject(), message).with_evidence(Evidence::Calculation {
                    inputs,
                    formula: formula.into(),
                    result,
                }),
            );
        self.hits.push(RuleHit {
            rule: spec.rule.to_owned(),
            finding: spec.finding.as_str().to_owned(),
            cite: spec.cite.to_owned(),
            site: Some(j.site.id.clone()),
            site_name: Some(j.site.name.clone()),
            layer: Some(layer),
            distance_m: Some(d),
            measured_from: Some(measured),
            limit_m: Some(spec.limit_m),
            margin_m: spec.margin_m,
            screening: spec.screening,
            count: None,
            threshold_mw: None,
            site_ref: Some((j.layer, j.site_idx)),
        });
    }
}

fn shape_kind(s: &Shape) -> &'static str {
    match s {
        Shape::Point(_) => "point",
        Shape::Polygons(_) => "polygon",
    }
}

/// The catalogue id named in a rules file (validated when the rules were read).
fn rule_id(id: &str) -> RuleId {
    RuleId::new(id).unwrap_or(RuleId::SITE_SCREENING)
}
