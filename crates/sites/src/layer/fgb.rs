//! A minimal FlatGeobuf reader over a byte slice: the framing is walked here with checked
//! arithmetic and the flatbuffers are read through flatgeobuf's generated, verified accessors.
//!
//! Why not `FgbReader`: on crafted input it allocates whatever a feature's 32-bit size prefix
//! says (up to 4 GiB) before reading it, and its index and iterator code have `expect` and
//! `unreachable!` paths. Here every size is checked against the bytes actually present, so
//! memory stays within the input's size and nothing panics; flatbuffers' verifier bounds
//! tables (1 M) and depth (64).

use serde_json::{Map, Number, Value};

use super::{RawRow, RowError, Rows};
use crate::geo::{self, LatLon, Polygon, Shape};

/// Bytes of one packed R-tree node (4 × f64 box and a u64 offset).
const NODE_BYTES: u64 = 40;

/// FlatGeobuf geometry type codes used here.
const POINT: u8 = 1;
const POLYGON: u8 = 3;
const MULTIPOLYGON: u8 = 6;

/// Size of the optional packed R-tree index, or `None` when it overflows.
fn index_size(features: u64, node_size: u16) -> Option<u64> {
    if node_size == 0 || features == 0 {
        return Some(0);
    }
    let node = u64::from(node_size.max(2));
    let mut n = features;
    let mut total = n;
    while n > 1 {
        n = n.div_ceil(node);
        total = total.checked_add(n)?;
    }
    total.checked_mul(NODE_BYTES)
}

/// A little-endian u32 at `at`, if present.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([
        *b.first()?,
        *b.get(1)?,
        *b.get(2)?,
        *b.get(3)?,
    ]))
}

/// The features of a FlatGeobuf file as rows.
pub(super) fn rows(bytes: &[u8]) -> Result<Rows, String> {
    let header_len = u32_at(bytes, 8).ok_or("truncated before the header size")? as usize;
    let header_end = 12usize
        .checked_add(header_len)
        .filter(|e| *e <= bytes.len())
        .ok_or("header size beyond the end of the file")?;
    let header_buf = bytes.get(8..header_end).ok_or("truncated header")?;
    let header = flatgeobuf::size_prefixed_root_as_header(header_buf).map_err(|e| format!("header: {e}"))?;
    if let Some(crs) = header.crs()
        && !matches!(crs.code(), 0 | 4326)
    {
        return Err(format!(
            "coordinate reference system EPSG:{} is not WGS84",
            crs.code()
        ));
    }
    let columns: Vec<(String, u8)> = header
        .columns()
        .map(|cs| cs.iter().map(|c| (c.name().to_string(), c.type_().0)).collect())
        .unwrap_or_default();
    let geometry_type = header.geometry_type().0;
    let skip = index_size(header.features_count(), header.index_node_size()).ok_or("index size overflows")?;
    let mut at = usize::try_from(skip)
        .ok()
        .and_then(|s| header_end.checked_add(s))
        .ok_or("index beyond the end of the file")?;
    if at > bytes.len() {
        return Err("index beyond the end of the file".to_string());
    }
    let mut out = Rows {
        fields: columns.iter().map(|(n, _)| n.clone()).collect(),
        rows: Vec::new(),
        errors: Vec::new(),
    };
    let mut row = 0usize;
    while at < bytes.len() {
        row += 1;
        if out.over_limit(row) {
            break;
        }
        let Some(len) = u32_at(bytes, at) else {
            out.errors
                .push(RowError::new(row, None, "truncated feature size"));
            break;
        };
        let Some(buf) = at
            .checked_add(4 + len as usize)
            .and_then(|end| bytes.get(at..end))
        else {
            out.errors
                .push(RowError::new(row, None, "feature runs past the end of the file"));
            break;
        };
        at += buf.len();
        let feature = match flatgeobuf::size_prefixed_root_as_feature(buf) {
            Ok(f) => f,
            Err(e) => {
                out.errors
                    .push(RowError::new(row, None, format!("invalid feature: {e}")));
                continue;
            }
        };
        let own: Option<Vec<(String, u8)>> = feature
            .columns()
            .map(|cs| cs.iter().map(|c| (c.name().to_string(), c.type_().0)).collect());
        let cols = own.as_ref().unwrap_or(&columns);
        let props = match feature.properties() {
            Some(p) => match properties(p.bytes(), cols) {
                Ok(m) => m,
                Err(m) => {
                    out.errors.push(RowError::new(row, Some("properties"), m));
                    continue;
                }
            },
            None => Map::new(),
        };
        let shape = match feature.geometry() {
            None => Err("missing geometry".to_string()),
            Some(g) => shape(&g, geometry_type),
        }
        .map_err(|m| RowError::new(row, Some("geometry"), m));
        out.rows.push(RawRow { row, props, shape });
    }
    Ok(out)
}

/// Decodes the property buffer: repeated (u16 column index, value by column type).
fn properties(buf: &[u8], cols: &[(String, u8)]) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let s = at
            .checked_add(n)
            .and_then(|end| buf.get(*at..end))
            .ok_or("property value runs past its buffer")?;
        *at += n;
        Ok(s)
    };
    while at < buf.len() {
        let i = take(&mut at, 2)?;
        let col = usize::from(u16::from_le_bytes([
            *i.first().unwrap_or(&0),
            *i.get(1).unwrap_or(&0),
        ]));
        let (name, ty) = cols
            .get(col)
            .ok_or_else(|| format!("property for column {col}, which does not exist"))?;
        let mut fixed = |n: usize| -> Result<[u8; 8], String> {
            let mut a = [0u8; 8];
            for (d, s) in a.iter_mut().zip(take(&mut at, n)?) {
                *d = *s;
            }
            Ok(a)
        };
        let num = |f: f64| Number::from_f64(f).map_or(Value::Null, Value::Number);
        let v = match ty {
            0 => Value::from(fixed(1)?[0] as i8),
            1 => Value::from(fixed(1)?[0]),
            2 => Value::Bool(fixed(1)?[0] != 0),
            3 => Value::from(i16::from_le_bytes(first2(fixed(2)?))),
            4 => Value::from(u16::from_le_bytes(first2(fixed(2)?))),
            5 => Value::from(i32::from_le_bytes(first4(fixed(4)?))),
            6 => Value::from(u32::from_le_bytes(first4(fixed(4)?))),
            7 => Value::from(i64::from_le_bytes(fixed(8)?)),
            8 => Value::from(u64::from_le_bytes(fixed(8)?)),
            9 => num(f64::from(f32::from_le_bytes(first4(fixed(4)?)))),
            10 => num(f64::from_le_bytes(fixed(8)?)),
            11..=14 => {
                let len = u32::from_le_bytes(first4(fixed(4)?)) as usize;
                let raw = take(&mut at, len)?;
                if *ty == 14 {
                    Value::Null
                } else {
                    Value::String(String::from_utf8_lossy(raw).into_owned())
                }
            }
            other => return Err(format!("column {name:?} has unknown type {other}")),
        };
        m.insert(name.clone(), v);
    }
    Ok(m)
}

/// The first bytes of a fixed array (constant indices into `[u8; 8]`, checked at compile time).
fn first2(a: [u8; 8]) -> [u8; 2] {
    [a[0], a[1]]
}

/// See [`first2`].
fn first4(a: [u8; 8]) -> [u8; 4] {
    [a[0], a[1], a[2], a[3]]
}

/// A Point, Polygon or MultiPolygon geometry, closed and validated.
fn shape(g: &flatgeobuf::Geometry<'_>, header_type: u8) -> Result<Shape, String> {
    let ty = if header_type == 0 {
        g.type_().0
    } else {
        header_type
    };
    let s = match ty {
        POINT => {
            let xy = g.xy().ok_or("point without coordinates")?;
            let mut it = xy.iter();
            match (it.next(), it.next()) {
                (Some(lon), Some(lat)) => Shape::Point(LatLon { lat, lon }),
                _ => return Err("point without coordinates".to_string()),
            }
        }
        POLYGON => Shape::Polygons(vec![polygon(g)?]),
        MULTIPOLYGON => {
            let parts = g.parts().ok_or("multipolygon without parts")?;
            Shape::Polygons(parts.iter().map(|p| polygon(&p)).collect::<Result<_, _>>()?)
        }
        other => return Err(super::unsupported(other)),
    };
    super::finish(s)
}

/// One polygon: `xy` holds every ring's positions, `ends` where each ring stops.
fn polygon(g: &flatgeobuf::Geometry<'_>) -> Result<Polygon, String> {
    let xy = g.xy().ok_or("polygon without coordinates (empty geometry)")?;
    let n = xy.len() / 2;
    if n > geo::MAX_VERTICES {
        return Err(format!("{n} vertices, more than {}", geo::MAX_VERTICES));
    }
    let pts: Vec<LatLon> = {
        let v: Vec<f64> = xy.iter().collect();
        v.chunks_exact(2)
            // chunks_exact(2) yields slices of exactly two values, so c[0] and c[1] exist.
            .map(|c| LatLon { lat: c[1], lon: c[0] })
            .collect()
    };
    let ends: Vec<usize> = match g.ends() {
        Some(e) => e.iter().map(|x| x as usize).collect(),
        None => vec![n],
    };
    let mut rings = Vec::with_capacity(ends.len());
    let mut start = 0usize;
    for end in ends {
        let ring = pts
            .get(start..end)
            .ok_or("ring ends out of order or past the coordinates")?;
        rings.push(ring.to_vec());
        start = end;
    }
    let mut rings = rings.into_iter();
    let exterior = rings.next().ok_or("polygon without rings (empty geometry)")?;
    Ok(Polygon {
        exterior,
        holes: rings.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_size_matches_the_packed_tree() {
        // 10 features, node size 16: 10 leaves + 1 root.
        assert_eq!(index_size(10, 16), Some(11 * NODE_BYTES));
        assert_eq!(index_size(0, 16), Some(0));
        assert_eq!(index_size(10, 0), Some(0));
        assert!(index_size(u64::MAX, 2).is_none());
    }

    #[test]
    fn truncated_properties_are_an_error() {
        let cols = vec![("n".to_string(), 10u8)];
        assert!(properties(&[0, 0, 1, 2], &cols).is_err());
        assert!(properties(&[5, 0], &cols).is_err());
        let ok = properties(&[0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f], &cols).map(|m| m.get("n").cloned());
        assert_eq!(ok, Ok(Some(Value::from(1.0))));
    }
}
