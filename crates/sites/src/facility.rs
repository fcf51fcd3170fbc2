//! Facilities to assess, read from GeoJSON features or CSV rows (ARCHITECTURE.md "Input
//! contract"): identity, owner and country, load in MW or as a fleet of miners, and geometry.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::geo::Shape;
use crate::layer::{self, Container, RawRow, RowError, boolean, non_negative, number, state_code, text};

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
    let (converted, errors): (Vec<(usize, Result<Facility, RowError>)>, Vec<RowError>) = match layer::sniff(bytes) {
        // Each feature becomes a facility as soon as it is parsed (in parallel).
        Container::Json => {
            layer::geojson_convert(bytes, |raw| (raw.row, facility(raw))).map_err(|m| malformed("geojson", m))?
        }
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
    let RawRow { row, props, shape } = raw;
    let p = &props;
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
fn fleet(p: &Map<String, Value>, row: usize) -> Result<Option<Vec<FleetEntry>>, RowError> {
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
