//! Facilities to assess, read from GeoJSON features or CSV rows (ARCHITECTURE.md "Input
//! contract"): identity, owner and country, load in MW or as a fleet of miners, and geometry.

use serde::Serialize;

use crate::geo::Shape;
use crate::layer::RowError;

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
/// field).
pub fn read_facilities(bytes: &[u8]) -> Result<Facilities, FacilityError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(FacilityError::TooLarge { size: bytes.len(), limit: MAX_INPUT_BYTES });
    }
    Err(FacilityError::Malformed { format: "unknown".to_string(), message: "reader not written yet".to_string() })
}
