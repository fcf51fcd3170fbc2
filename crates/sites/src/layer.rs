//! Site layers (military installations, data centres, power plants, substations, anything else)
//! read from GeoJSON, CSV or FlatGeobuf, told apart by content, with importers for the MIRTA,
//! IM3 and WRI/GPPD files recognised by their fields.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::geo::{self, LatLon, Polygon, Shape};

mod fgb;

/// Largest layer file accepted, bytes (1 GiB).
pub const MAX_INPUT_BYTES: usize = 1 << 30;

/// Most features (or CSV rows) read from one file; the rest are one row error.
pub const MAX_FEATURES: usize = 10_000_000;

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
///
/// Importers, chosen by the fields of the first row: MIRTA (`isFirrmaSite`, `siteName`…),
/// IM3 data centres (`state_abb` and `operator`), WRI/GPPD power plants (`gppd_idnr`), else the
/// input contract's generic fields (`id`, `category` required; `name`, `cfius_part` 1-4,
/// `cfius_listed`, `state`, `extent_m`, `capacity_mw` optional). A bad row becomes a
/// [`RowError`] and the rest is read; a duplicate id is a row error.
pub fn read_layer(name: &str, bytes: &[u8]) -> Result<Layer, LayerError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(LayerError::TooLarge {
            name: name.to_string(),
            size: bytes.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let malformed = |format: &str, message: String| LayerError::Malformed {
        name: name.to_string(),
        format: format.to_string(),
        message,
    };
    let (container, rows) = match sniff(bytes) {
        Container::FlatGeobuf => (
            "flatgeobuf",
            fgb::rows(bytes).map_err(|m| malformed("flatgeobuf", m))?,
        ),
        Container::Json => (
            "geojson",
            geojson_rows(bytes).map_err(|m| malformed("geojson", m))?,
        ),
        Container::Csv => ("csv", csv_rows(bytes).map_err(|m| malformed("csv", m))?),
        Container::Unknown(reason) => {
            return Err(LayerError::Unrecognised {
                name: name.to_string(),
                reason,
            });
        }
    };
    let importer = Importer::detect(rows.fields.iter().map(String::as_str));
    let mut layer = Layer {
        name: name.to_string(),
        format: importer.format().unwrap_or(container).to_string(),
        sites: Vec::new(),
        row_errors: rows.errors,
    };
    let mut ids = HashSet::new();
    for raw in rows.rows {
        let row = raw.row;
        match importer.site(raw) {
            Ok(site) if !ids.insert(site.id.clone()) => {
                layer.row_errors.push(RowError::new(
                    row,
                    Some("id"),
                    format!("duplicate id {:?}", site.id),
                ));
            }
            Ok(site) => layer.sites.push(site),
            Err(e) => layer.row_errors.push(e),
        }
    }
    layer.row_errors.sort_by_key(|e| e.row);
    Ok(layer)
}

impl RowError {
    pub(crate) fn new(row: usize, field: Option<&str>, message: impl Into<String>) -> RowError {
        RowError {
            row,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Containers: every format becomes rows of named fields plus a geometry.

/// One feature or CSV row: its 1-based number, its fields, and its geometry (or why not).
pub(crate) struct RawRow {
    pub(crate) row: usize,
    pub(crate) props: Map<String, Value>,
    pub(crate) shape: Result<Shape, RowError>,
}

/// The rows of a file, the field names seen first (header or first feature), and the rows
/// that could not even be split into fields.
pub(crate) struct Rows {
    pub(crate) fields: Vec<String>,
    pub(crate) rows: Vec<RawRow>,
    pub(crate) errors: Vec<RowError>,
}

impl Rows {
    /// Whether `row` is past [`MAX_FEATURES`]; if so, records it as the last row error.
    pub(crate) fn over_limit(&mut self, row: usize) -> bool {
        let over = row > MAX_FEATURES;
        if over {
            self.errors.push(too_many_rows(row));
        }
        over
    }
}

/// The error at the first row past [`MAX_FEATURES`].
fn too_many_rows(row: usize) -> RowError {
    RowError::new(
        row,
        None,
        format!("more than {MAX_FEATURES} rows; the rest ignored"),
    )
}

pub(crate) enum Container {
    FlatGeobuf,
    Json,
    Csv,
    Unknown(String),
}

/// Tells the container apart by content: the FlatGeobuf magic, a JSON object, or text whose
/// first line has a comma.
pub(crate) fn sniff(bytes: &[u8]) -> Container {
    if bytes.starts_with(b"fgb") && bytes.get(4..7) == Some(b"fgb") {
        return Container::FlatGeobuf;
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Container::Unknown("empty input".to_string()),
        Some(b'{') => Container::Json,
        Some(_) => {
            let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
            if first.contains(&b',') && std::str::from_utf8(first).is_ok() {
                Container::Csv
            } else {
                Container::Unknown("first line is not a CSV header".to_string())
            }
        }
    }
}

/// Whether a CRS name means WGS84 longitude/latitude.
fn wgs84_crs(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.ends_with("CRS84") || n.ends_with("EPSG::4326") || n == "EPSG:4326"
}

/// A FeatureCollection with its features left as text, so that they can be parsed in parallel.
#[derive(serde::Deserialize)]
struct LazyCollection<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    crs: Option<Value>,
    #[serde(borrow)]
    features: Vec<&'a serde_json::value::RawValue>,
}

/// Rejects a CRS that is not WGS84 longitude/latitude.
fn check_crs(crs: Option<&Value>) -> Result<(), String> {
    if let Some(crs) = crs
        .and_then(|c| c.pointer("/properties/name"))
        .and_then(Value::as_str)
        && !wgs84_crs(crs)
    {
        return Err(format!(
            "coordinate reference system {crs:?} is not WGS84 (CRS84)"
        ));
    }
    Ok(())
}

/// The features of a GeoJSON document as JSON values. A plain FeatureCollection is split into
/// its features' text first and each is parsed on its own, in parallel (a 100,000-feature file
/// parsed as one tree took a second on one core); anything else (a single Feature, escapes in
/// `type`, a document the split rejects) is parsed whole, which also words the errors.
fn geojson_features(text: &[u8]) -> Result<Vec<Value>, String> {
    if let Ok(lazy) = serde_json::from_slice::<LazyCollection<'_>>(text)
        && lazy.kind == "FeatureCollection"
    {
        check_crs(lazy.crs.as_ref())?;
        if let Ok(features) = lazy
            .features
            .par_iter()
            .map(|f| serde_json::from_str::<Value>(f.get()))
            .collect::<Result<Vec<Value>, _>>()
        {
            return Ok(features);
        }
    }
    // serde_json limits nesting to 128 levels, so hostile depth is an error, not a crash.
    let mut doc: Value = serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
    check_crs(doc.get("crs"))?;
    // The features are taken out of the document, not borrowed: their properties then move
    // into the rows instead of being copied.
    let kind = doc.get("type").and_then(Value::as_str).map(str::to_owned);
    match kind.as_deref() {
        Some("FeatureCollection") => match doc.get_mut("features") {
            Some(Value::Array(a)) => Ok(std::mem::take(a)),
            _ => Err("FeatureCollection without a features array".to_string()),
        },
        Some("Feature") => Ok(vec![doc]),
        other => Err(format!("expected a FeatureCollection, found type {other:?}")),
    }
}

/// The features of a GeoJSON FeatureCollection (or a single Feature), CRS84 only.
pub(crate) fn geojson_rows(bytes: &[u8]) -> Result<Rows, String> {
    let (rows, errors) = geojson_convert(bytes, |_, _| None::<Result<RawRow, RowError>>, |raw| raw)?;
    let fields = rows
        .iter()
        .find(|r| !r.props.is_empty())
        .map(|r| r.props.keys().cloned().collect())
        .unwrap_or_default();
    Ok(Rows { fields, rows, errors })
}

/// The features of a GeoJSON document, each turned into a `T` by `convert` as soon as it is
/// parsed, in parallel: a large facilities file's JSON trees are never all held at once (for
/// 100,000 features they were most of the memory of the read). Rows in file order; features
/// that are not even a row (properties not an object) and the rows past [`MAX_FEATURES`] are
/// the errors.
///
/// `fast` is tried first on each feature's text (row number, text); `None` sends the feature
/// through the JSON tree and `convert`.
pub(crate) fn geojson_convert<T: Send>(
    bytes: &[u8],
    fast: impl Fn(usize, &str) -> Option<Result<T, RowError>> + Sync,
    convert: impl Fn(RawRow) -> T + Sync,
) -> Result<(Vec<T>, Vec<RowError>), String> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let split = |parsed: Vec<Result<T, RowError>>, total: usize| {
        let mut rows = Vec::with_capacity(parsed.len());
        let mut errors = Vec::new();
        for p in parsed {
            match p {
                Ok(t) => rows.push(t),
                Err(e) => errors.push(e),
            }
        }
        if total > MAX_FEATURES {
            errors.push(too_many_rows(MAX_FEATURES + 1));
        }
        (rows, errors)
    };
    if let Ok(lazy) = serde_json::from_slice::<LazyCollection<'_>>(text)
        && lazy.kind == "FeatureCollection"
    {
        check_crs(lazy.crs.as_ref())?;
        let kept = lazy.features.get(..MAX_FEATURES).unwrap_or(&lazy.features);
        let parsed = kept
            .par_iter()
            .enumerate()
            .map(|(i, f)| {
                if let Some(done) = fast(i + 1, f.get()) {
                    return Ok(done);
                }
                let v = serde_json::from_str::<Value>(f.get())?;
                Ok(feature_row(i + 1, v).map(&convert))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>();
        if let Ok(parsed) = parsed {
            return Ok(split(parsed, lazy.features.len()));
        }
    }
    // Anything the split does not take is parsed whole, which also words the errors.
    let features = geojson_features(text)?;
    let total = features.len();
    let parsed = features
        .into_par_iter()
        .take(MAX_FEATURES)
        .enumerate()
        .map(|(i, f)| feature_row(i + 1, f).map(&convert))
        .collect();
    Ok(split(parsed, total))
}

/// One feature as a row: its properties (an object, or none) and its geometry (or why not).
pub(crate) fn feature_row(row: usize, mut f: Value) -> Result<RawRow, RowError> {
    let props = match f.get_mut("properties").map(Value::take) {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(RowError::new(row, Some("properties"), "not an object")),
    };
    let shape = match f.get("geometry") {
        None | Some(Value::Null) => Err("missing geometry".to_string()),
        Some(g) => geojson_shape(g),
    }
    .map_err(|m| RowError::new(row, Some("geometry"), m));
    Ok(RawRow { row, props, shape })
}

/// A GeoJSON Point, Polygon or MultiPolygon, closed and validated.
pub(crate) fn geojson_shape(g: &Value) -> Result<Shape, String> {
    shape_of(
        g.get("type").and_then(Value::as_str).unwrap_or("(none)"),
        g.get("coordinates"),
    )
}

/// The shape of a GeoJSON geometry given its type and coordinates.
pub(crate) fn shape_of(kind: &str, coords: Option<&Value>) -> Result<Shape, String> {
    let coords = coords.ok_or_else(|| format!("{kind} without coordinates"))?;
    let shape = match kind {
        "Point" => Shape::Point(position(coords)?),
        "Polygon" => Shape::Polygons(vec![polygon(coords)?]),
        "MultiPolygon" => Shape::Polygons(
            coords
                .as_array()
                .ok_or("MultiPolygon coordinates are not a list")?
                .iter()
                .map(polygon)
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(unsupported(other)),
    };
    finish(shape)
}

/// The error for a geometry type other than Point, Polygon or MultiPolygon.
pub(crate) fn unsupported(kind: impl std::fmt::Display) -> String {
    format!("unsupported geometry type {kind} (Point, Polygon or MultiPolygon)")
}

/// Closes open rings and validates: the last step of every geometry reader.
pub(crate) fn finish(mut shape: Shape) -> Result<Shape, String> {
    geo::close_rings(&mut shape);
    geo::validate(&shape).map_err(|e| e.to_string())?;
    Ok(shape)
}

fn position(v: &Value) -> Result<LatLon, String> {
    match v.as_array().map(Vec::as_slice) {
        Some([lon, lat, ..]) => match (lon.as_f64(), lat.as_f64()) {
            (Some(lon), Some(lat)) => Ok(LatLon { lat, lon }),
            _ => Err("a position is not two numbers".to_string()),
        },
        _ => Err("a position is not [lon, lat]".to_string()),
    }
}

fn polygon(v: &Value) -> Result<Polygon, String> {
    let rings = v
        .as_array()
        .ok_or("polygon coordinates are not a list of rings")?;
    let mut rings = rings.iter().map(|r| {
        let pts = r.as_array().ok_or("a ring is not a list of positions")?;
        if pts.len() > geo::MAX_VERTICES {
            return Err(format!(
                "a ring has {} positions, more than {}",
                pts.len(),
                geo::MAX_VERTICES
            ));
        }
        pts.iter().map(position).collect::<Result<Vec<_>, _>>()
    });
    let exterior = rings.next().ok_or("polygon without rings (empty geometry)")??;
    Ok(Polygon {
        exterior,
        holes: rings.collect::<Result<_, _>>()?,
    })
}

/// Rows of a CSV file with a header; each needs `lat`/`lon` or `latitude`/`longitude`.
pub(crate) fn csv_rows(bytes: &[u8]) -> Result<Rows, String> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| format!("header: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let col = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| header.iter().position(|h| h.eq_ignore_ascii_case(n)))
    };
    let (lat_col, lon_col) = match (col(&["lat", "latitude"]), col(&["lon", "lng", "longitude"])) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err("header has no lat/lon (or latitude/longitude) columns".to_string()),
    };
    let lat_name = header.get(lat_col).cloned().unwrap_or_default();
    let lon_name = header.get(lon_col).cloned().unwrap_or_default();
    let mut out = Rows {
        fields: header.clone(),
        rows: Vec::new(),
        errors: Vec::new(),
    };
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 1;
        if out.over_limit(row) {
            break;
        }
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.errors
                    .push(RowError::new(row, None, format!("unreadable row: {e}")));
                continue;
            }
        };
        if rec.len() != header.len() {
            out.errors.push(RowError::new(
                row,
                None,
                format!("{} fields, the header has {}", rec.len(), header.len()),
            ));
            continue;
        }
        // Blank fields are left out (they read as absent anyway): wide files such as WRI's
        // are mostly blank, and every kept field is an allocation.
        let props: Map<String, Value> = header
            .iter()
            .zip(rec.iter())
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
            .collect();
        let coord = |name: &str| -> Result<f64, RowError> {
            let v = props
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or_default();
            if v.is_empty() {
                return Err(RowError::new(row, Some(name), "missing coordinate"));
            }
            v.parse::<f64>()
                .map_err(|_| RowError::new(row, Some(name), format!("not a number: {v:?}")))
        };
        let shape = coord(&lat_name).and_then(|lat| {
            let lon = coord(&lon_name)?;
            let s = Shape::Point(LatLon { lat, lon });
            geo::validate(&s).map_err(|e| RowError::new(row, Some(&lat_name), e.to_string()))?;
            Ok(s)
        });
        out.rows.push(RawRow { row, props, shape });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Field access shared by sites and facilities: GeoJSON values or CSV strings alike.

/// Named fields of a row: a JSON object (GeoJSON properties, a CSV row) or a table of the
/// fields a reader knows, filled straight from the text.
pub(crate) trait Props {
    /// The value of `name`, looked up exactly, then case-insensitively.
    fn lookup(&self, name: &str) -> Option<&Value>;
}

impl Props for Map<String, Value> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.get(name).or_else(|| {
            self.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    }
}

/// A field looked up exactly, then case-insensitively; null and blank strings are absent.
pub(crate) fn field<'a>(props: &'a impl Props, name: &str) -> Option<&'a Value> {
    let v = props.lookup(name)?;
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        v => Some(v),
    }
}

/// A text field (numbers are written out).
pub(crate) fn text(props: &impl Props, name: &str) -> Option<String> {
    match field(props, name)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A finite number (JSON number or numeric string); `Err` names the field.
pub(crate) fn number(props: &impl Props, name: &str, row: usize) -> Result<Option<f64>, RowError> {
    let Some(v) = field(props, name) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(RowError::new(
            row,
            Some(name),
            format!("not a finite number: {v}"),
        )),
    }
}

/// A number that must be finite and not negative.
pub(crate) fn non_negative(props: &impl Props, name: &str, row: usize) -> Result<Option<f64>, RowError> {
    match number(props, name, row)? {
        Some(n) if n < 0.0 => Err(RowError::new(row, Some(name), format!("negative: {n}"))),
        n => Ok(n),
    }
}

/// A boolean: JSON true/false, or true/false, yes/no, 1/0 in any case.
pub(crate) fn boolean(props: &impl Props, name: &str, row: usize) -> Result<Option<bool>, RowError> {
    let Some(v) = field(props, name) else {
        return Ok(None);
    };
    let b = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Some(true),
            "false" | "no" | "n" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    };
    b.map(Some)
        .ok_or_else(|| RowError::new(row, Some(name), format!("not a boolean: {v}")))
}

/// US states, DC and territories: name → two-letter code.
const STATES: [(&str, &str); 56] = [
    ("alabama", "AL"),
    ("alaska", "AK"),
    ("arizona", "AZ"),
    ("arkansas", "AR"),
    ("california", "CA"),
    ("colorado", "CO"),
    ("connecticut", "CT"),
    ("delaware", "DE"),
    ("district of columbia", "DC"),
    ("florida", "FL"),
    ("georgia", "GA"),
    ("hawaii", "HI"),
    ("idaho", "ID"),
    ("illinois", "IL"),
    ("indiana", "IN"),
    ("iowa", "IA"),
    ("kansas", "KS"),
    ("kentucky", "KY"),
    ("louisiana", "LA"),
    ("maine", "ME"),
    ("maryland", "MD"),
    ("massachusetts", "MA"),
    ("michigan", "MI"),
    ("minnesota", "MN"),
    ("mississippi", "MS"),
    ("missouri", "MO"),
    ("montana", "MT"),
    ("nebraska", "NE"),
    ("nevada", "NV"),
    ("new hampshire", "NH"),
    ("new jersey", "NJ"),
    ("new mexico", "NM"),
    ("new york", "NY"),
    ("north carolina", "NC"),
    ("north dakota", "ND"),
    ("ohio", "OH"),
    ("oklahoma", "OK"),
    ("oregon", "OR"),
    ("pennsylvania", "PA"),
    ("rhode island", "RI"),
    ("south carolina", "SC"),
    ("south dakota", "SD"),
    ("tennessee", "TN"),
    ("texas", "TX"),
    ("utah", "UT"),
    ("vermont", "VT"),
    ("virginia", "VA"),
    ("washington", "WA"),
    ("west virginia", "WV"),
    ("wisconsin", "WI"),
    ("wyoming", "WY"),
    ("puerto rico", "PR"),
    ("guam", "GU"),
    ("american samoa", "AS"),
    ("u.s. virgin islands", "VI"),
    ("northern mariana islands", "MP"),
];

/// A state as its two-letter code: codes are upper-cased, names mapped; anything else `Err`.
pub(crate) fn state_code(props: &impl Props, name: &str, row: usize) -> Result<Option<String>, RowError> {
    let Some(s) = text(props, name) else {
        return Ok(None);
    };
    let lower = s.to_ascii_lowercase();
    if let Some((_, code)) = STATES
        .iter()
        .find(|(n, c)| *n == lower || c.eq_ignore_ascii_case(&s))
    {
        return Ok(Some((*code).to_string()));
    }
    Err(RowError::new(
        row,
        Some(name),
        format!("not a US state or territory: {s:?}"),
    ))
}

// ---------------------------------------------------------------------------------------------
// Importers.

/// How a layer's rows become sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Importer {
    Mirta,
    Im3,
    Gppd,
    Generic,
}

impl Importer {
    fn detect<'a>(fields: impl Iterator<Item = &'a str> + Clone) -> Importer {
        let has = |n: &str| fields.clone().any(|f| f == n);
        if has("isFirrmaSite") || (has("siteName") && has("siteReportingComponent")) {
            Importer::Mirta
        } else if has("state_abb") && has("operator") {
            Importer::Im3
        } else if has("gppd_idnr") {
            Importer::Gppd
        } else {
            Importer::Generic
        }
    }

    fn format(self) -> Option<&'static str> {
        match self {
            Importer::Mirta => Some("mirta"),
            Importer::Im3 => Some("im3"),
            Importer::Gppd => Some("wri-gppd"),
            Importer::Generic => None,
        }
    }

    fn site(self, raw: RawRow) -> Result<Site, RowError> {
        let RawRow { row, props, shape } = raw;
        let p = &props;
        let site = match self {
            Importer::Mirta => {
                let id = format!(
                    "mirta-{}",
                    text(p, "OBJECTID").ok_or_else(|| RowError::new(row, Some("OBJECTID"), "missing"))?
                );
                let listed = match text(p, "isFirrmaSite").map(|s| s.to_ascii_lowercase()).as_deref() {
                    Some("yes") => true,
                    Some("no") | None => false,
                    Some(other) => {
                        return Err(RowError::new(
                            row,
                            Some("isFirrmaSite"),
                            format!("not yes/no: {other:?}"),
                        ));
                    }
                };
                Site {
                    name: text(p, "siteName")
                        .or_else(|| text(p, "featureName"))
                        .unwrap_or_else(|| id.clone()),
                    id,
                    category: Category::MilitaryInstallation,
                    cfius_part: None,
                    cfius_listed: listed,
                    state: state_code(p, "stateNameCode", row)?,
                    extent_m: None,
                    capacity_mw: None,
                    shape: shape?,
                }
            }
            Importer::Im3 => {
                let id = format!("im3-{row}");
                Site {
                    name: text(p, "name")
                        .or_else(|| text(p, "operator"))
                        .unwrap_or_else(|| id.clone()),
                    id,
                    category: Category::DataCenter,
                    cfius_part: None,
                    cfius_listed: false,
                    state: state_code(p, "state_abb", row)?,
                    extent_m: None,
                    capacity_mw: None,
                    shape: shape?,
                }
            }
            Importer::Gppd => {
                let id =
                    text(p, "gppd_idnr").ok_or_else(|| RowError::new(row, Some("gppd_idnr"), "missing"))?;
                Site {
                    name: text(p, "name").unwrap_or_else(|| id.clone()),
                    id,
                    category: Category::PowerPlant,
                    cfius_part: None,
                    cfius_listed: false,
                    state: None,
                    extent_m: None,
                    capacity_mw: non_negative(p, "capacity_mw", row)?,
                    shape: shape?,
                }
            }
            Importer::Generic => {
                let id = text(p, "id").ok_or_else(|| RowError::new(row, Some("id"), "missing"))?;
                let category =
                    text(p, "category").ok_or_else(|| RowError::new(row, Some("category"), "missing"))?;
                let cfius_part = match number(p, "cfius_part", row)? {
                    None => None,
                    Some(n) if [1.0, 2.0, 3.0, 4.0].contains(&n) => Some(n as u8),
                    Some(n) => {
                        return Err(RowError::new(
                            row,
                            Some("cfius_part"),
                            format!("not 1, 2, 3 or 4: {n}"),
                        ));
                    }
                };
                Site {
                    name: text(p, "name").unwrap_or_else(|| id.clone()),
                    id,
                    category: Category::from(category),
                    cfius_part,
                    cfius_listed: boolean(p, "cfius_listed", row)?.unwrap_or(false) || cfius_part.is_some(),
                    state: state_code(p, "state", row)?,
                    extent_m: non_negative(p, "extent_m", row)?,
                    capacity_mw: non_negative(p, "capacity_mw", row)?,
                    shape: shape?,
                }
            }
        };
        Ok(site)
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    /// The split parse (features parsed one by one, in parallel) and the whole-document parse
    /// read the same features. An escape in `type` cannot be borrowed, which forces the whole
    /// parse for the second document.
    #[test]
    fn split_and_whole_parse_agree() {
        let features: Vec<String> = (0..500)
            .map(|i| {
                format!(
                    r#"{{"type":"Feature","properties":{{"id":"s{i}","name":"n \"{i}\"","n":{i}.5,"l":[1,{{"a":null}}]}},"geometry":{{"type":"Point","coordinates":[{}.25,{}.5]}}}}"#,
                    i % 170,
                    i % 80
                )
            })
            .collect();
        let body = features.join(",");
        let split = format!(r#"{{"type":"FeatureCollection","name":"x","features":[{body}]}}"#);
        let whole = format!(r#"{{"type":"Feature\u0043ollection","name":"x","features":[{body}]}}"#);
        let a = geojson_features(split.as_bytes()).expect("split");
        let b = geojson_features(whole.as_bytes()).expect("whole");
        assert_eq!(a.len(), 500);
        assert_eq!(a, b);
        let bad_crs =
            r#"{"type":"FeatureCollection","crs":{"properties":{"name":"EPSG:3857"}},"features":[]}"#;
        assert!(geojson_features(bad_crs.as_bytes()).is_err());
    }
}
