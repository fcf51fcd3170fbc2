//! The `sites assess` result (the output contract's `result`): per facility its load, nearest
//! site per layer and rule hits; the layers read; row errors. Written as one JSON object or as
//! JSON lines, one item per facility.

use hashward_model::jsonl;
use serde::Serialize;
use serde_json::Value;

use crate::geo::Measured;
use crate::power::LoadCalc;
use crate::rules::RuleFile;

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct SitesResult {
    /// The assessment date (laws and thresholds in force on it), `YYYY-MM-DD`.
    pub date: String,
    /// The rules files used.
    pub rule_files: Vec<RuleFile>,
    /// The reference layers.
    pub layers: Vec<LayerSummary>,
    /// One entry per facility, in input order.
    pub facilities: Vec<FacilityResult>,
    /// Errors in the facilities file (and fleets that could not be sized), one per row.
    pub row_errors: Vec<String>,
}

/// A reference layer as read.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    /// Name (the file as given, or `installations (built-in)`).
    pub name: String,
    /// Format told from the content.
    pub format: String,
    /// Sites read.
    pub sites: usize,
    /// Rows that could not be read.
    pub row_errors: Vec<String>,
}

/// One facility's assessment.
#[derive(Debug, Clone, Serialize)]
pub struct FacilityResult {
    /// Id from the input.
    pub id: String,
    /// Name from the input.
    pub name: String,
    /// Site load in MW (`null` when unknown).
    pub load_mw: Option<f64>,
    /// How the load was found.
    pub load: LoadCalc,
    /// The nearest site of each layer.
    pub nearest: Vec<Nearest>,
    /// Every rule hit (findings and screening results).
    pub rules: Vec<RuleHit>,
    /// What was not evaluated or was excepted, and why.
    pub notes: Vec<String>,
}

/// The nearest site of one layer.
#[derive(Debug, Clone, Serialize)]
pub struct Nearest {
    /// Layer name.
    pub layer: String,
    /// Site id.
    pub site: String,
    /// Site name.
    pub site_name: String,
    /// WGS84 geodesic metres.
    pub distance_m: f64,
    /// `point`, `boundary` or `inside`.
    pub measured_from: Measured,
}

/// One rule a facility meets.
#[derive(Debug, Clone, Serialize)]
pub struct RuleHit {
    /// Rule id from the rules files, e.g. `us-cfius-802-part1-close`.
    pub rule: String,
    /// Catalogue id, e.g. `SITE-001`.
    pub finding: String,
    /// Citation.
    pub cite: String,
    /// Site id (`null` for rules about the facility alone: load, county).
    pub site: Option<String>,
    /// Site name.
    pub site_name: Option<String>,
    /// Layer name.
    pub layer: Option<String>,
    /// WGS84 geodesic metres to the site.
    pub distance_m: Option<f64>,
    /// `point`, `boundary` or `inside`.
    pub measured_from: Option<Measured>,
    /// The rule's distance, metres.
    pub limit_m: Option<f64>,
    /// The screening margin added for a site known only as a point, metres.
    pub margin_m: Option<f64>,
    /// `true`: a screening result (a point site), not a determination.
    pub screening: bool,
    /// Sites within the limit (SITE-005).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// The load threshold reached, MW (SITE-006).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_mw: Option<f64>,
    /// Layer and site index, for the map.
    #[serde(skip)]
    pub site_ref: Option<(usize, usize)>,
}

impl RuleHit {
    /// A hit about the facility alone (a county, a load): no site, no distance.
    pub fn facility_only(rule: &str, finding: &str, cite: &str) -> RuleHit {
        RuleHit {
            rule: rule.to_owned(),
            finding: finding.to_owned(),
            cite: cite.to_owned(),
            site: None,
            site_name: None,
            layer: None,
            distance_m: None,
            measured_from: None,
            limit_m: None,
            margin_m: None,
            screening: false,
            count: None,
            threshold_mw: None,
            site_ref: None,
        }
    }
}

impl hashward_model::ResultParts for SitesResult {
    fn each_item(&self, f: &mut dyn FnMut(&str, Value)) {
        fn each<T: Serialize>(key: &str, items: &[T], f: &mut dyn FnMut(&str, Value)) {
            for item in items {
                // Serializing these plain structs to a Value cannot fail (no maps with
                // non-string keys); a failure would surface as null rather than a panic.
                f(key, serde_json::to_value(item).unwrap_or(Value::Null));
            }
        }
        each("rule_files", &self.rule_files, f);
        each("layers", &self.layers, f);
        each("facilities", &self.facilities, f);
        each("row_errors", &self.row_errors, f);
    }

    fn rest(&self) -> Value {
        serde_json::json!({ "date": self.date })
    }
}

/// The JSON-lines record of a facility's result, `{"type":"item","key":"facilities","item":…}`,
/// without the newline: the bytes serde_json writes for it (a test in the CLI compares them),
/// with strings copied whole rather than scanned by serde_json ([`hashward_model::jsonl`]).
pub fn push_facility_record(buf: &mut Vec<u8>, f: &FacilityResult) -> jsonl::Res {
    buf.extend_from_slice(b"{\"type\":\"item\",\"key\":\"facilities\",\"item\":{\"id\":");
    jsonl::push_str(buf, &f.id)?;
    buf.extend_from_slice(b",\"name\":");
    jsonl::push_str(buf, &f.name)?;
    buf.extend_from_slice(b",\"load_mw\":");
    push_opt_f64(buf, f.load_mw)?;
    buf.extend_from_slice(b",\"load\":");
    serde_json::to_writer(&mut *buf, &f.load)?;
    buf.extend_from_slice(b",\"nearest\":[");
    for (i, n) in f.nearest.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"{\"layer\":");
        jsonl::push_str(buf, &n.layer)?;
        buf.extend_from_slice(b",\"site\":");
        jsonl::push_str(buf, &n.site)?;
        buf.extend_from_slice(b",\"site_name\":");
        jsonl::push_str(buf, &n.site_name)?;
        buf.extend_from_slice(b",\"distance_m\":");
        jsonl::push_f64(buf, n.distance_m)?;
        buf.extend_from_slice(b",\"measured_from\":");
        jsonl::push_str(buf, n.measured_from.as_str())?;
        buf.push(b'}');
    }
    buf.extend_from_slice(b"],\"rules\":[");
    for (i, h) in f.rules.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"{\"rule\":");
        jsonl::push_str(buf, &h.rule)?;
        buf.extend_from_slice(b",\"finding\":");
        jsonl::push_str(buf, &h.finding)?;
        buf.extend_from_slice(b",\"cite\":");
        jsonl::push_str(buf, &h.cite)?;
        buf.extend_from_slice(b",\"site\":");
        push_opt_str(buf, h.site.as_deref())?;
        buf.extend_from_slice(b",\"site_name\":");
        push_opt_str(buf, h.site_name.as_deref())?;
        buf.extend_from_slice(b",\"layer\":");
        push_opt_str(buf, h.layer.as_deref())?;
        buf.extend_from_slice(b",\"distance_m\":");
        push_opt_f64(buf, h.distance_m)?;
        buf.extend_from_slice(b",\"measured_from\":");
        push_opt_str(buf, h.measured_from.map(Measured::as_str))?;
        buf.extend_from_slice(b",\"limit_m\":");
        push_opt_f64(buf, h.limit_m)?;
        buf.extend_from_slice(b",\"margin_m\":");
        push_opt_f64(buf, h.margin_m)?;
        buf.extend_from_slice(if h.screening {
            b",\"screening\":true"
        } else {
            b",\"screening\":false"
        });
        if let Some(c) = h.count {
            buf.extend_from_slice(b",\"count\":");
            serde_json::to_writer(&mut *buf, &c)?;
        }
        if let Some(t) = h.threshold_mw {
            buf.extend_from_slice(b",\"threshold_mw\":");
            jsonl::push_f64(buf, t)?;
        }
        buf.push(b'}');
    }
    buf.extend_from_slice(b"],\"notes\":[");
    for (i, n) in f.notes.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        jsonl::push_str(buf, n)?;
    }
    buf.extend_from_slice(b"]}}");
    Ok(())
}

fn push_opt_f64(buf: &mut Vec<u8>, x: Option<f64>) -> jsonl::Res {
    match x {
        Some(x) => jsonl::push_f64(buf, x),
        None => {
            buf.extend_from_slice(b"null");
            Ok(())
        }
    }
}

fn push_opt_str(buf: &mut Vec<u8>, s: Option<&str>) -> jsonl::Res {
    match s {
        Some(s) => jsonl::push_str(buf, s),
        None => {
            buf.extend_from_slice(b"null");
            Ok(())
        }
    }
}
