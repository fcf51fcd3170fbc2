//! The built-in sample layer (installations.toml as a [`Layer`]) and the demo's sample
//! facilities, so `hashward sites assess` and the demo run without a download.

use serde_json::json;

use crate::geo::{LatLon, Shape};
use crate::layer::{Category, Layer, Site};
use crate::rules::Rules;

/// The name of the built-in layer in results.
pub const BUILTIN_LAYER: &str = "installations (built-in)";

/// installations.toml as a layer of point sites with their Appendix A part.
pub fn builtin_layer(rules: &Rules) -> Layer {
    let sites = rules
        .installations
        .installations
        .iter()
        .map(|i| Site {
            id: i.id.clone(),
            name: i.name.clone(),
            category: Category::MilitaryInstallation,
            cfius_part: Some(i.cfius_part),
            cfius_listed: true,
            state: Some(i.state.clone()),
            extent_m: i.extent_m,
            capacity_mw: None,
            shape: Shape::Point(LatLon {
                lat: i.lat,
                lon: i.lon,
            }),
        })
        .collect();
    Layer {
        name: BUILTIN_LAYER.to_owned(),
        format: "toml".to_owned(),
        sites,
        row_errors: Vec::new(),
    }
}

/// Sample facilities (GeoJSON) for the demo:
/// - `mineone-like`: the IM3 atlas point of "MineOne Wyoming Data Center" (3.20 mi from the
///   F.E. Warren MIRTA point, within 1 mi of the base's boundary per the May 13, 2024 order),
///   owned from CN, a fleet of Antminers; expected: SITE-007 (screening for the 1 mi rule, not
///   a clear verdict) and SITE-003 (Laramie County, a part 3 county);
/// - `clean-plains`: far from every listed installation, US owner, small load: nothing;
/// - `ercot-large`: a 90 MW load in ERCOT: SITE-006 (75 MW);
/// - `florida-near-base`: about 5 mi from MacDill AFB, owned from CN: SITE-004 (F.S. 692.203,
///   10 mi) and the Florida statewide note.
pub fn sample_facilities() -> String {
    let feature = |id: &str, name: &str, lon: f64, lat: f64, props: serde_json::Value| {
        let mut p = json!({"id": id, "name": name});
        if let (Some(obj), serde_json::Value::Object(extra)) = (p.as_object_mut(), props) {
            obj.extend(extra);
        }
        json!({"type": "Feature", "properties": p, "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    };
    let features = vec![
        feature(
            "mineone-like",
            "Mine near F.E. Warren AFB (placed like MineOne Wyoming)",
            -104.89498,
            41.12512,
            json!({
                "owner": "Example Partners Ltd",
                "owner_country": "CN",
                "state": "WY",
                "county": "Laramie",
                "urban": false,
                "fleet": [{"model": "Antminer S19j Pro", "count": 2000}, {"model": "Antminer S21", "count": 1500}]
            }),
        ),
        feature(
            "clean-plains",
            "Mine in the Nebraska Sandhills",
            -100.5,
            42.0,
            json!({"owner": "Plains Hash LLC", "owner_country": "US", "state": "NE", "county": "Cherry", "load_mw": 12.0}),
        ),
        feature(
            "ercot-large",
            "West Texas mine, 90 MW",
            -102.35,
            31.85,
            json!({"owner": "Permian Compute LLC", "owner_country": "US", "state": "TX", "region": "ERCOT", "colocated": false, "load_mw": 90.0}),
        ),
        feature(
            "florida-near-base",
            "Tampa mine near MacDill AFB",
            -82.46,
            27.91,
            json!({
                "owner": "Example Holdings",
                "owner_country": "CN",
                "state": "FL",
                "urban": true,
                "fleet": [{"model": "Antminer S19 XP", "count": 300}]
            }),
        ),
    ];
    let fc = json!({"type": "FeatureCollection", "features": features});
    serde_json::to_string_pretty(&fc).unwrap_or_default()
}
