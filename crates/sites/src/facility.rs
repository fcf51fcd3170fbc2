//! Facilities to assess, read from GeoJSON features or CSV rows (ARCHITECTURE.md "Input
//! contract"): identity, owner and country, load in MW or as a fleet of miners, and geometry.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::geo::Shape;
use crate::layer::{
    self, Container, Props, RawRow, RowError, boolean, non_negative, number, state_code, text,
};

/// Most vertices in one facility's geometry. A facility is a site plan, not a county: the cap
/// bounds the cost of polygon-to-polygon distances (vertex × edge) against site layers.
pub const MAX_FACILITY_VERTICES: usize = 10_000;

/// Most fleet entries accepted for one facility.
pub const MAX_FLEET_ENTRIES: usize = 10_000;

/// Largest facilities file accepted, bytes (1 GiB).
pub const MAX_INPUT_BYTES: usize = 1 << 30;

/// A facility's electrical load as given.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// Load in megawatts.
    Mw(f64),
    /// Miners by model and count.
    Fleet(Vec<FleetEntry>),
    /// Not given.
    Unknown,
}

/// Miners of one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetEntry {
    /// Model name, e.g. "Antminer S21".
    pub model: String,
    /// How many.
    pub count: u64,
}

/// One facility.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facility {
    /// Identifier, unique in the file.
    pub id: String,
    /// Display name (the id when not given).
    pub name: String,
    /// Owner name.
    pub owner: Option<String>,
    /// Owner's country, ISO 3166-1 alpha-2, upper case.
    pub owner_country: Option<String>,
    /// In an urbanized area or urban cluster.
    pub urban: Option<bool>,
    /// Two-letter state code.
    pub state: Option<String>,
    /// County name.
    pub county: Option<String>,
    /// Grid region (e.g. ERCOT).
    pub region: Option<String>,
    /// Co-located with generation.
    pub colocated: Option<bool>,
    /// Overhead factor applied to miner load.
    pub overhead: Option<f64>,
    /// Electrical load.
    pub load: Load,
    /// Geometry.
    pub shape: Shape,
}

/// Facilities read and the rows that could not be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facilities {
    /// Facilities read.
    pub facilities: Vec<Facility>,
    /// Rows skipped.
    pub row_errors: Vec<RowError>,
}

/// Why a whole facilities file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FacilityError {
    /// Larger than [`MAX_INPUT_BYTES`].
    #[error("facilities: {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Neither GeoJSON nor CSV, or structurally broken.
    #[error("facilities ({format}): {message}")]
    Malformed {
        /// Format recognised (`geojson`, `csv` or `unknown`).
        format: String,
        /// What is wrong.
        message: String,
    },
}

/// Rows as converted (row number, facility or why not) and the rows that were not even rows.
type Converted = (Vec<(usize, Result<Facility, RowError>)>, Vec<RowError>);

/// Reads facilities from GeoJSON features or CSV rows (CSV `fleet` is the JSON list in one
/// field). Required: `id` (unique) and a geometry (GeoJSON Point/Polygon/MultiPolygon, CSV
/// `lat`/`lon`); `load_mw` or `fleet`, not both. A bad row is a [`RowError`] naming the row and
/// field; the rest is read.
pub fn read_facilities(bytes: &[u8]) -> Result<Facilities, FacilityError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(FacilityError::TooLarge {
            size: bytes.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let malformed = |format: &str, message: String| FacilityError::Malformed {
        format: format.to_string(),
        message,
    };
    let (converted, errors): Converted = match layer::sniff(bytes) {
        // Each feature becomes a facility as soon as it is parsed (in parallel).
        Container::Json => layer::geojson_convert(
            bytes,
            |row, text| fast_feature(row, text).map(|f| Ok((row, f))),
            |raw| (raw.row, facility(raw)),
        )
        .map_err(|m| malformed("geojson", m))?,
        Container::Csv => {
            let rows = layer::csv_rows(bytes).map_err(|m| malformed("csv", m))?;
            let converted = rows
                .rows
                .into_par_iter()
                .map(|raw| (raw.row, facility(raw)))
                .collect();
            (converted, rows.errors)
        }
        Container::FlatGeobuf => {
            return Err(malformed(
                "flatgeobuf",
                "facilities are read from GeoJSON or CSV".to_string(),
            ));
        }
        Container::Unknown(reason) => return Err(malformed("unknown", reason)),
    };
    let mut out = Facilities {
        facilities: Vec::with_capacity(converted.len()),
        row_errors: errors,
    };
    // Rows are converted in parallel (independent), then checked for duplicate ids in order.
    let mut ids = HashSet::new();
    for (row, converted) in converted {
        match converted {
            Ok(f) if !ids.insert(f.id.clone()) => {
                out.row_errors
                    .push(RowError::new(row, Some("id"), format!("duplicate id {:?}", f.id)));
            }
            Ok(f) => out.facilities.push(f),
            Err(e) => out.row_errors.push(e),
        }
    }
    out.row_errors.sort_by_key(|e| e.row);
    Ok(out)
}

fn facility(raw: RawRow) -> Result<Facility, RowError> {
    facility_from(raw.row, &raw.props, raw.shape)
}

/// The fields [`facility_from`] reads: the columns of the table [`KnownProps`] fills.
const FIELDS: [&str; 12] = [
    "id",
    "name",
    "owner",
    "owner_country",
    "urban",
    "state",
    "county",
    "region",
    "colocated",
    "overhead",
    "load_mw",
    "fleet",
];

/// A facility feature's properties read straight from its text: each field of [`FIELDS`] by
/// its exact name, other properties skipped unread. For 100,000 features this is a third of
/// the cost of a JSON object per feature. A known name spelled another way (`ID`), an escaped
/// key or anything else unusual fails it, and the feature takes the general path, which
/// matches names case-insensitively and words the errors.
#[derive(Default)]
struct KnownProps([Option<Value>; FIELDS.len()]);

impl Props for KnownProps {
    fn lookup(&self, name: &str) -> Option<&Value> {
        let i = FIELDS.iter().position(|f| *f == name)?;
        self.0.get(i)?.as_ref()
    }
}

impl<'de> Deserialize<'de> for KnownProps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KnownProps, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = KnownProps;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KnownProps, A::Error> {
                let mut out = KnownProps::default();
                // Borrowed keys: an escaped key is an error here, so the general path reads it.
                while let Some(key) = map.next_key::<&'de str>()? {
                    match FIELDS.iter().position(|f| *f == key) {
                        Some(i) => {
                            let v: Value = map.next_value()?;
                            if let Some(slot) = out.0.get_mut(i) {
                                *slot = Some(v);
                            }
                        }
                        None if FIELDS.iter().any(|f| f.eq_ignore_ascii_case(key)) => {
                            return Err(A::Error::custom("a facility field under another spelling"));
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A GeoJSON feature as the fast path reads it.
#[derive(Deserialize)]
struct FeatureIn {
    #[serde(default)]
    properties: Option<KnownProps>,
    #[serde(default)]
    geometry: Option<GeometryIn>,
}

#[derive(Deserialize)]
struct GeometryIn {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    coordinates: Option<Value>,
}

/// The fast path of one GeoJSON feature (row number, its text); `None` when the general path
/// must read it.
fn fast_feature(row: usize, text: &str) -> Option<Result<Facility, RowError>> {
    // A struct also deserializes from a JSON array; only objects are features here.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let f: FeatureIn = serde_json::from_str(text).ok()?;
    let shape = match &f.geometry {
        None => Err("missing geometry".to_string()),
        Some(g) => layer::shape_of(g.kind.as_deref().unwrap_or("(none)"), g.coordinates.as_ref()),
    }
    .map_err(|m| RowError::new(row, Some("geometry"), m));
    Some(facility_from(row, &f.properties.unwrap_or_default(), shape))
}

/// A facility from a row's fields and geometry.
fn facility_from(row: usize, p: &impl Props, shape: Result<Shape, RowError>) -> Result<Facility, RowError> {
    let id = text(p, "id").ok_or_else(|| RowError::new(row, Some("id"), "missing"))?;
    let owner_country = match text(p, "owner_country") {
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => Some(c.to_ascii_uppercase()),
        Some(c) => {
            return Err(RowError::new(
                row,
                Some("owner_country"),
                format!("not an ISO 3166-1 alpha-2 code: {c:?}"),
            ));
        }
        None => None,
    };
    let load = match (non_negative(p, "load_mw", row)?, fleet(p, row)?) {
        (Some(_), Some(_)) => {
            return Err(RowError::new(
                row,
                Some("fleet"),
                "give load_mw or fleet, not both",
            ));
        }
        (Some(mw), None) => Load::Mw(mw),
        (None, Some(f)) => Load::Fleet(f),
        (None, None) => Load::Unknown,
    };
    let overhead = match number(p, "overhead", row)? {
        Some(k) if k <= 0.0 => {
            return Err(RowError::new(row, Some("overhead"), format!("not positive: {k}")));
        }
        k => k,
    };
    let shape = shape?;
    let vertices = crate::geo::vertex_count(&shape);
    if vertices > MAX_FACILITY_VERTICES {
        return Err(RowError::new(
            row,
            Some("geometry"),
            format!("{vertices} vertices, more than the {MAX_FACILITY_VERTICES} accepted for a facility"),
        ));
    }
    Ok(Facility {
        name: text(p, "name").unwrap_or_else(|| id.clone()),
        id,
        owner: text(p, "owner"),
        owner_country,
        urban: boolean(p, "urban", row)?,
        state: state_code(p, "state", row)?,
        county: text(p, "county"),
        region: text(p, "region"),
        colocated: boolean(p, "colocated", row)?,
        overhead,
        load,
        shape,
    })
}

/// The `fleet` field: a JSON list (or, in CSV, a string holding one) of `{model, count}`.
fn fleet(p: &impl Props, row: usize) -> Result<Option<Vec<FleetEntry>>, RowError> {
    let err = |m: String| RowError::new(row, Some("fleet"), m);
    let parsed;
    let list = match layer::field(p, "fleet") {
        None => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(Value::String(s)) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|e| err(format!("not a JSON list: {e}")))?;
            parsed
                .as_array()
                .ok_or_else(|| err("not a JSON list".to_string()))?
        }
        Some(other) => return Err(err(format!("not a list: {other}"))),
    };
    if list.len() > MAX_FLEET_ENTRIES {
        return Err(err(format!(
            "{} entries, more than {MAX_FLEET_ENTRIES}",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let model = e
                .get("model")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|m| !m.is_empty());
            let count = e.get("count").and_then(Value::as_u64);
            match (model, count) {
                (Some(model), Some(count)) => Ok(FleetEntry {
                    model: model.to_string(),
                    count,
                }),
                (None, _) => Err(err(format!("entry {} has no model", i + 1))),
                (_, None) => Err(err(format!(
                    "entry {} count is not a non-negative integer",
                    i + 1
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general path for one feature: a JSON tree, then the row.
    fn general(row: usize, text: &str) -> Result<Facility, RowError> {
        let v: Value = serde_json::from_str(text).expect("test features are JSON");
        layer::feature_row(row, v).and_then(facility)
    }

    /// Whatever the fast path accepts, it reads exactly as the general path does; what it
    /// declines, the general path reads.
    #[test]
    fn the_fast_path_reads_features_as_the_general_path_does() {
        let point = r#""geometry":{"type":"Point","coordinates":[-104.8,41.1]}"#;
        let cases = [
            format!(r#"{{"type":"Feature","properties":{{"id":"a","name":"A","owner":"O","owner_country":"cn","urban":"yes","state":"Wyoming","load_mw":"12.5","extra":{{"x":[1,2]}}}},{point}}}"#),
            format!(r#"{{"properties":{{"id":7,"fleet":[{{"model":"Antminer S21","count":100}}],"overhead":1.1,"colocated":1}},{point}}}"#),
            format!(r#"{{"properties":{{"id":"b","fleet":"[{{\"model\":\"Antminer S21\",\"count\":5}}]"}},{point}}}"#),
            format!(r#"{{"properties":{{"id":"c","county":"  ","region":null}},{point}}}"#),
            format!(r#"{{"properties":{{"id":"d","id":"e"}},{point}}}"#),
            format!(r#"{{"properties":null,{point}}}"#),
            r#"{"properties":{"id":"f"},"geometry":null}"#.to_string(),
            r#"{"properties":{"id":"g"}}"#.to_string(),
            r#"{"properties":{"id":"h"},"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}"#.to_string(),
            r#"{"properties":{"id":"i"},"geometry":{"coordinates":[0,0]}}"#.to_string(),
            r#"{"properties":{"id":"j"},"geometry":{"type":"Point"}}"#.to_string(),
            r#"{"properties":{"id":"k"},"geometry":{"type":"Point","coordinates":[0,95]}}"#.to_string(),
            r#"{"properties":{"id":"l","load_mw":-3},"geometry":{"type":"Polygon","coordinates":[[[0,0],[0.01,0],[0.01,0.01],[0,0]]]}}"#.to_string(),
            r#"{"properties":{"id":"m","load_mw":5,"fleet":[]},"geometry":{"type":"Point","coordinates":[0,0]}}"#.to_string(),
            // Declined by the fast path: other spellings, escaped keys, odd shapes.
            format!(r#"{{"properties":{{"ID":"n"}},{point}}}"#),
            format!(r#"{{"properties":{{"i\u0064":"o"}},{point}}}"#),
            format!(r#"{{"properties":[1,2],{point}}}"#),
            format!(r#"{{"properties":{{"id":"p"}},"properties":{{"id":"q"}},{point}}}"#),
            r#"{"properties":{"id":"r"},"geometry":7}"#.to_string(),
            r#"[{"id":"s"},{"type":"Point","coordinates":[0,0]}]"#.to_string(),
        ];
        let mut declined = 0;
        for (i, text) in cases.iter().enumerate() {
            let want = general(i + 1, text);
            match fast_feature(i + 1, text) {
                Some(got) => assert_eq!(got, want, "case {i}: {text}"),
                None => declined += 1,
            }
        }
        assert_eq!(declined, 6);
    }
}
