//! Site layers (military installations, data centres, power plants, substations, anything else)
//! read from GeoJSON, CSV or FlatGeobuf, told apart by content, with importers for the MIRTA,
//! IM3 and WRI/GPPD files recognised by their fields.

use serde::{Deserialize, Serialize};

use crate::geo::Shape;

/// Largest layer file accepted, bytes (1 GiB).
pub const MAX_INPUT_BYTES: usize = 1 << 30;

/// What kind of site a layer row is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Category {
    /// `military_installation`.
    MilitaryInstallation,
    /// `data_center`.
    DataCenter,
    /// `power_plant`.
    PowerPlant,
    /// `substation`.
    Substation,
    /// Any other category, kept as given (lower-cased), e.g. `airport`, `chemical_plant`.
    Other(String),
}

impl Category {
    /// The snake_case name.
    pub fn as_str(&self) -> &str {
        match self {
            Category::MilitaryInstallation => "military_installation",
            Category::DataCenter => "data_center",
            Category::PowerPlant => "power_plant",
            Category::Substation => "substation",
            Category::Other(s) => s,
        }
    }
}

impl From<String> for Category {
    fn from(s: String) -> Category {
        let t = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        match t.as_str() {
            "military_installation" | "military" => Category::MilitaryInstallation,
            "data_center" | "data_centre" | "datacenter" => Category::DataCenter,
            "power_plant" | "plant" => Category::PowerPlant,
            "substation" => Category::Substation,
            _ => Category::Other(t),
        }
    }
}

impl From<Category> for String {
    fn from(c: Category) -> String {
        c.as_str().to_string()
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sensitive site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    /// Identifier, unique within the layer.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Kind of site.
    pub category: Category,
    /// 31 CFR 802 Appendix A part (1..=4) when known.
    pub cfius_part: Option<u8>,
    /// Listed in 31 CFR 802 App. A (MIRTA `isFirrmaSite` = yes, or a part given).
    pub cfius_listed: bool,
    /// Two-letter state code.
    pub state: Option<String>,
    /// For a site known only as a point: how far its boundary may reach, metres.
    pub extent_m: Option<f64>,
    /// Nameplate capacity of a power plant, MW.
    pub capacity_mw: Option<f64>,
    /// Geometry.
    pub shape: Shape,
}

/// A row (or feature) that could not be read; the rest of the file still is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// 1-based row (CSV data row) or feature index (GeoJSON, FlatGeobuf).
    pub row: usize,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "row {}, field {}: {}", self.row, field, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

/// A layer of sites and the rows that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    /// Name given by the caller (usually the file name).
    pub name: String,
    /// What was recognised: `mirta`, `im3`, `wri-gppd`, `geojson`, `csv` or `flatgeobuf`.
    pub format: String,
    /// Sites read.
    pub sites: Vec<Site>,
    /// Rows skipped.
    pub row_errors: Vec<RowError>,
}

/// Why a whole layer could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// Larger than [`MAX_INPUT_BYTES`].
    #[error("layer {name}: {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Layer name.
        name: String,
        /// Input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Neither GeoJSON, CSV nor FlatGeobuf.
    #[error("layer {name}: not GeoJSON, CSV or FlatGeobuf ({reason})")]
    Unrecognised {
        /// Layer name.
        name: String,
        /// What was seen.
        reason: String,
    },
    /// The file's structure is broken (not a row: the whole file).
    #[error("layer {name} ({format}): {message}")]
    Malformed {
        /// Layer name.
        name: String,
        /// Format recognised.
        format: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads a layer: GeoJSON, CSV or FlatGeobuf, told apart by content; the shared MIRTA, IM3 and
/// WRI files read by their own fields.
pub fn read_layer(name: &str, bytes: &[u8]) -> Result<Layer, LayerError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(LayerError::TooLarge { name: name.to_string(), size: bytes.len(), limit: MAX_INPUT_BYTES });
    }
    Err(LayerError::Unrecognised { name: name.to_string(), reason: "reader not written yet".to_string() })
}
