//! `--format geojson`: one FeatureCollection for a map — the facilities (with their load and
//! hits), a line from each facility to each site it hits, and the rule zones (geodesic circles
//! of the limit, and of limit + margin for screening results, around point sites).

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::assess::anchor;
use crate::facility::Facilities;
use crate::geo::{self, LatLon, Shape};
use crate::layer::Layer;
use crate::report::SitesResult;

/// Vertices of a zone circle.
const CIRCLE_VERTICES: usize = 96;

fn ring(points: &[LatLon]) -> Vec<[f64; 2]> {
    points.iter().map(|p| [p.lon, p.lat]).collect()
}

/// A shape as a GeoJSON geometry.
pub fn geometry(shape: &Shape) -> Value {
    match shape {
        Shape::Point(p) => json!({"type": "Point", "coordinates": [p.lon, p.lat]}),
        Shape::Polygons(polys) => {
            let coords: Vec<Vec<Vec<[f64; 2]>>> = polys
                .iter()
                .map(|p| {
                    std::iter::once(ring(&p.exterior))
                        .chain(p.holes.iter().map(|h| ring(h)))
                        .collect()
                })
                .collect();
            if let [one] = coords.as_slice() {
                json!({"type": "Polygon", "coordinates": one})
            } else {
                json!({"type": "MultiPolygon", "coordinates": coords})
            }
        }
    }
}

/// The map of an assessment. `facilities` and `layers` are those `result` was computed from
/// (facilities in the same order).
pub fn feature_collection(facilities: &Facilities, layers: &[Layer], result: &SitesResult) -> Value {
    let mut features = Vec::new();
    let mut zones_done: HashSet<(usize, usize, String, bool)> = HashSet::new();
    for (f, r) in facilities.facilities.iter().zip(&result.facilities) {
        let findings: Vec<&str> = r.rules.iter().map(|h| h.finding.as_str()).collect();
        features.push(json!({
            "type": "Feature",
            "geometry": geometry(&f.shape),
            "properties": {
                "kind": "facility",
                "id": f.id,
                "name": f.name,
                "load_mw": r.load_mw,
                "hits": findings,
                "rules": r.rules,
            }
        }));
        let Some(from) = anchor(&f.shape) else { continue };
        for h in &r.rules {
            let Some((li, si)) = h.site_ref else { continue };
            let Some(site) = layers.get(li).and_then(|l| l.sites.get(si)) else {
                continue;
            };
            let Some(to) = anchor(&site.shape) else { continue };
            features.push(json!({
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[from.lon, from.lat], [to.lon, to.lat]]},
                "properties": {
                    "kind": "hit",
                    "facility": f.id,
                    "rule": h.rule,
                    "finding": h.finding,
                    "site": h.site,
                    "site_name": h.site_name,
                    "distance_m": h.distance_m,
                    "screening": h.screening,
                }
            }));
            let (Shape::Point(center), Some(limit)) = (&site.shape, h.limit_m) else {
                continue;
            };
            let mut radii = vec![(limit, false)];
            if let Some(m) = h.margin_m.filter(|m| *m > 0.0) {
                radii.push((limit + m, true));
            }
            for (radius, screening) in radii {
                if radius <= 0.0 || !zones_done.insert((li, si, h.rule.clone(), screening)) {
                    continue;
                }
                let mut pts = geo::circle(
                    LatLon {
                        lat: center.lat,
                        lon: center.lon,
                    },
                    radius,
                    CIRCLE_VERTICES,
                );
                if let Some(first) = pts.first().map(|p| LatLon {
                    lat: p.lat,
                    lon: p.lon,
                }) {
                    pts.push(first);
                }
                features.push(json!({
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [ring(&pts)]},
                    "properties": {
                        "kind": if screening { "screening_zone" } else { "zone" },
                        "rule": h.rule,
                        "cite": h.cite,
                        "site": h.site,
                        "site_name": h.site_name,
                        "radius_m": radius,
                    }
                }));
            }
        }
    }
    json!({"type": "FeatureCollection", "features": features})
}
