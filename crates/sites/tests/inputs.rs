//! Input readers: the shared MIRTA, IM3 and WRI files (counts, fields, row errors), generic
//! GeoJSON, CSV and FlatGeobuf layers, and facilities in GeoJSON and CSV.

use std::path::{Path, PathBuf};

use flatgeobuf::geozero::{ColumnValue, GeomProcessor, GeozeroGeometry, PropertyProcessor};
use flatgeobuf::{ColumnType, FgbWriter, GeometryType};
use hashward_sites::facility::{FleetEntry, Load, read_facilities};
use hashward_sites::geo::{LatLon, Shape};
use hashward_sites::layer::{Category, LayerError, read_layer};

fn shared(name: &str) -> Vec<u8> {
    let path: PathBuf = hashward_model::shared_testdata_candidates(Path::new(env!("CARGO_MANIFEST_DIR")))
        .into_iter()
        .map(|d| d.join("sites").join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("shared test data sites/{name} not found"));
    std::fs::read(path).expect("read shared file")
}

/// A point within 1e-5° (about a metre) of the brief's rounded coordinates.
fn near(s: &Shape, lat: f64, lon: f64) -> bool {
    matches!(s, Shape::Point(LatLon { lat: a, lon: o }) if (a - lat).abs() < 1e-5 && (o - lon).abs() < 1e-5)
}

#[test]
fn mirta_points() {
    let l = read_layer("mirta", &shared("mirta-dod-sites-points.geojson")).expect("reads");
    assert_eq!(l.format, "mirta");
    assert_eq!(l.sites.len(), 737);
    assert!(l.row_errors.is_empty(), "{:?}", l.row_errors);
    assert_eq!(l.sites.iter().filter(|s| s.cfius_listed).count(), 223);
    assert!(
        l.sites
            .iter()
            .all(|s| s.category == Category::MilitaryInstallation && s.cfius_part.is_none())
    );
    let w = l
        .sites
        .iter()
        .find(|s| s.id == "mirta-1077")
        .expect("F.E. Warren");
    assert_eq!(w.name, "Francis E. Warren Air Force Base");
    assert_eq!(w.state.as_deref(), Some("WY"));
    assert!(near(&w.shape, 41.164803, -104.863207), "{:?}", w.shape);
    // Lower-case state codes in the file come out upper-case.
    assert!(l.sites.iter().all(|s| {
        s.state
            .as_ref()
            .is_some_and(|c| c.len() == 2 && c.chars().all(|c| c.is_ascii_uppercase()))
    }));
}

#[test]
fn im3_data_centers() {
    let l = read_layer("im3", &shared("im3-datacenter-centroids.geojson")).expect("reads");
    assert_eq!(l.format, "im3");
    assert_eq!(l.sites.len(), 1_165);
    assert!(l.row_errors.is_empty(), "{:?}", l.row_errors);
    let m = l
        .sites
        .iter()
        .find(|s| s.name == "MineOne Wyoming Data Center")
        .expect("MineOne");
    assert!(near(&m.shape, 41.12512, -104.89498), "{:?}", m.shape);
    assert_eq!(m.category, Category::DataCenter);
    assert_eq!(m.state.as_deref(), Some("WY"));
    assert!(m.id.starts_with("im3-"));
    // The first feature has no operator but a name; ids follow the feature number.
    assert_eq!(l.sites[0].id, "im3-1");
    assert_eq!(l.sites[0].name, "CoreSite DC1");
}

#[test]
fn wri_power_plants() {
    let l = read_layer("wri", &shared("wri-gppd-usa-power-plants.csv")).expect("reads");
    assert_eq!(l.format, "wri-gppd");
    assert_eq!(l.sites.len() + l.row_errors.len(), 11_879);
    // 32 rows without coordinates (research brief §3.3) and one with latitude 425.2461.
    assert_eq!(l.row_errors.len(), 33, "{:?}", l.row_errors);
    for e in &l.row_errors {
        assert_eq!(e.field.as_deref(), Some("latitude"), "{e}");
        assert!(e.row >= 1 && e.row <= 11_879);
        assert!(
            e.to_string()
                .starts_with(&format!("row {}, field latitude: ", e.row))
        );
    }
    assert_eq!(
        l.row_errors
            .iter()
            .filter(|e| e.message == "missing coordinate")
            .count(),
        32
    );
    let odd: Vec<String> = l
        .row_errors
        .iter()
        .filter(|e| e.message != "missing coordinate")
        .map(ToString::to_string)
        .collect();
    assert_eq!(odd.len(), 1);
    assert!(
        odd[0].starts_with("row 8858, field latitude: coordinate out of range: lat 425.2461"),
        "{odd:?}"
    );
    assert!(
        l.sites
            .iter()
            .all(|s| s.category == Category::PowerPlant && s.capacity_mw.is_some())
    );
}

#[test]
fn generic_geojson_layer_with_bad_rows() {
    let doc = r#"{"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"id": "a", "name": "Base A", "category": "military_installation", "cfius_part": 2, "state": "Wyoming", "extent_m": 3000},
       "geometry": {"type": "Polygon", "coordinates": [[[-105, 41], [-104.8, 41], [-104.8, 41.2], [-105, 41.2]]]}},
      {"type": "Feature", "properties": {"id": "b", "category": "airport"}, "geometry": {"type": "Point", "coordinates": [-104, 200]}},
      {"type": "Feature", "properties": {"id": "c", "category": "substation"}, "geometry": {"type": "MultiPolygon", "coordinates": []}},
      {"type": "Feature", "properties": {"id": "d", "category": "substation"}, "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}},
      {"type": "Feature", "properties": {"id": "e", "category": "substation"}, "geometry": {"type": "LineString", "coordinates": [[0,0],[1,1]]}},
      {"type": "Feature", "properties": {"id": "f", "category": "military_installation", "cfius_part": 7}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
      {"type": "Feature", "properties": {"name": "no id", "category": "substation"}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
      {"type": "Feature", "properties": {"id": "a", "category": "substation"}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
      {"type": "Feature", "properties": {"id": "g", "category": "Power Plant", "capacity_mw": "12.5"}, "geometry": {"type": "Point", "coordinates": [179.9, -10]}}
    ]}"#;
    let l = read_layer("mine", doc.as_bytes()).expect("reads");
    assert_eq!(l.format, "geojson");
    let ids: Vec<&str> = l.sites.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a", "g"]);
    let a = &l.sites[0];
    assert_eq!(
        (a.cfius_part, a.cfius_listed, a.state.as_deref(), a.extent_m),
        (Some(2), true, Some("WY"), Some(3000.0))
    );
    let Shape::Polygons(p) = &a.shape else {
        panic!("polygon expected")
    };
    assert_eq!(p[0].exterior.len(), 5, "the open ring is closed");
    assert_eq!(l.sites[1].category, Category::PowerPlant);
    assert_eq!(l.sites[1].capacity_mw, Some(12.5));
    let errs: Vec<(usize, Option<&str>)> = l.row_errors.iter().map(|e| (e.row, e.field.as_deref())).collect();
    assert_eq!(
        errs,
        [
            (2, Some("geometry")),
            (3, Some("geometry")),
            (4, Some("geometry")),
            (5, Some("geometry")),
            (6, Some("cfius_part")),
            (7, Some("id")),
            (8, Some("id"))
        ]
    );
    assert!(
        l.row_errors[0].message.contains("out of range"),
        "{}",
        l.row_errors[0]
    );
    assert!(l.row_errors[1].message.contains("empty"), "{}", l.row_errors[1]);
    assert!(
        l.row_errors[2].message.contains("intersects itself"),
        "{}",
        l.row_errors[2]
    );
    assert!(
        l.row_errors[6].message.contains("duplicate"),
        "{}",
        l.row_errors[6]
    );
}

#[test]
fn generic_csv_layer() {
    let csv = "id,name,category,latitude,longitude,state\ns1,Sub 1,substation,41.1,-104.8,wy\ns2,Sub 2,substation,,-104.8,WY\ns3,Sub 3,substation,41.1,-104.8,XX\ns4,Sub 4,substation,abc,-104.8,WY\n";
    let l = read_layer("subs.csv", csv.as_bytes()).expect("reads");
    assert_eq!(l.format, "csv");
    assert_eq!(l.sites.len(), 1);
    assert_eq!(l.sites[0].state.as_deref(), Some("WY"));
    let errs: Vec<String> = l.row_errors.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 3);
    assert!(errs[0].starts_with("row 2, field latitude: missing"), "{errs:?}");
    assert!(errs[1].starts_with("row 3, field state: "), "{errs:?}");
    assert!(
        errs[2].starts_with("row 4, field latitude: not a number"),
        "{errs:?}"
    );
}

#[test]
fn unrecognised_and_oversized_inputs() {
    assert!(matches!(
        read_layer("x", b""),
        Err(LayerError::Unrecognised { .. })
    ));
    assert!(matches!(
        read_layer("x", b"hello world\n"),
        Err(LayerError::Unrecognised { .. })
    ));
    assert!(matches!(
        read_layer("x", b"{not json"),
        Err(LayerError::Malformed { .. })
    ));
    assert!(matches!(
        read_layer("x", b"a,b\n1,2\n"),
        Err(LayerError::Malformed { .. })
    ));
    let other_crs = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:3857"}},"features":[]}"#;
    assert!(matches!(
        read_layer("x", other_crs.as_bytes()),
        Err(LayerError::Malformed { .. })
    ));
    assert!(matches!(
        read_layer("x", b"fgb\x03fgb\x00\xff\xff\xff\xff"),
        Err(LayerError::Malformed { .. })
    ));
}

/// A point for the FlatGeobuf writer.
struct Pt(f64, f64);
impl GeozeroGeometry for Pt {
    fn process_geom<P: GeomProcessor>(&self, p: &mut P) -> flatgeobuf::geozero::error::Result<()> {
        p.point_begin(0)?;
        p.xy(self.0, self.1, 0)?;
        p.point_end(0)
    }
}

fn fgb_fixture() -> Vec<u8> {
    let mut w = FgbWriter::create("sites", GeometryType::Point).expect("writer");
    w.add_column("id", ColumnType::String, |_, _| {});
    w.add_column("category", ColumnType::String, |_, _| {});
    w.add_column("cfius_part", ColumnType::Int, |_, _| {});
    w.add_column("capacity_mw", ColumnType::Double, |_, _| {});
    for (i, (lon, lat)) in [(-104.86, 41.16), (-100.0, 35.0), (-90.0, 95.0)]
        .into_iter()
        .enumerate()
    {
        let id = format!("f{i}");
        w.add_feature_geom(Pt(lon, lat), |f| {
            f.property(0, "id", &ColumnValue::String(&id)).expect("id");
            f.property(1, "category", &ColumnValue::String("military_installation"))
                .expect("category");
            f.property(2, "cfius_part", &ColumnValue::Int(1)).expect("part");
            f.property(3, "capacity_mw", &ColumnValue::Double(1.5))
                .expect("mw");
        })
        .expect("feature");
    }
    let mut out = Vec::new();
    w.write(&mut out).expect("write");
    out
}

#[test]
fn flatgeobuf_layer() {
    let bytes = fgb_fixture();
    let l = read_layer("sites.fgb", &bytes).expect("reads");
    assert_eq!(l.format, "flatgeobuf");
    let mut ids: Vec<&str> = l.sites.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["f0", "f1"]);
    assert!(
        l.sites
            .iter()
            .all(|s| s.cfius_part == Some(1) && s.capacity_mw == Some(1.5))
    );
    assert_eq!(l.row_errors.len(), 1);
    assert_eq!(l.row_errors[0].field.as_deref(), Some("geometry"));
    // Every truncation reads or fails cleanly, never panics.
    for cut in 0..bytes.len() {
        let _ = read_layer("cut.fgb", &bytes[..cut]);
    }
}

#[test]
fn facilities_from_geojson() {
    let doc = r#"{"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"id": "m1", "name": "Mine 1", "owner": "X Ltd", "owner_country": "cn", "urban": false,
        "fleet": [{"model": "Antminer S21", "count": 16000}], "state": "WY", "county": "Laramie", "region": "WECC", "colocated": "no", "overhead": 1.05},
       "geometry": {"type": "Point", "coordinates": [-104.89498, 41.12512]}},
      {"type": "Feature", "properties": {"id": "m2", "load_mw": 80},
       "geometry": {"type": "Polygon", "coordinates": [[[-97, 31], [-96.9, 31], [-96.9, 31.1], [-97, 31.1], [-97, 31]]]}},
      {"type": "Feature", "properties": {"id": "m3", "load_mw": -5}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
      {"type": "Feature", "properties": {"id": "m4", "owner_country": "China"}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
      {"type": "Feature", "properties": {"id": "m5"}, "geometry": {"type": "GeometryCollection", "geometries": []}},
      {"type": "Feature", "properties": {"name": "no id"}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
      {"type": "Feature", "properties": {"id": "m1"}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
      {"type": "Feature", "properties": {"id": "m6", "fleet": [{"model": "S21", "count": -1}]}, "geometry": {"type": "Point", "coordinates": [0, 0]}}
    ]}"#;
    let f = read_facilities(doc.as_bytes()).expect("reads");
    assert_eq!(f.facilities.len(), 2);
    let m1 = &f.facilities[0];
    assert_eq!(m1.owner_country.as_deref(), Some("CN"));
    assert_eq!(
        m1.load,
        Load::Fleet(vec![FleetEntry {
            model: "Antminer S21".into(),
            count: 16_000
        }])
    );
    assert_eq!(
        (m1.urban, m1.colocated, m1.overhead),
        (Some(false), Some(false), Some(1.05))
    );
    assert_eq!(f.facilities[1].load, Load::Mw(80.0));
    assert_eq!(f.facilities[1].name, "m2");
    let errs: Vec<(usize, Option<&str>)> = f.row_errors.iter().map(|e| (e.row, e.field.as_deref())).collect();
    assert_eq!(
        errs,
        [
            (3, Some("load_mw")),
            (4, Some("owner_country")),
            (5, Some("geometry")),
            (6, Some("id")),
            (7, Some("id")),
            (8, Some("fleet"))
        ]
    );
}

#[test]
fn facilities_from_csv() {
    let csv = "id,name,owner_country,urban,lat,lon,fleet,load_mw\n\
               a,A,us,true,41.1,-104.9,\"[{\"\"model\"\": \"\"Antminer S21\"\", \"\"count\"\": 100}]\",\n\
               b,B,,,41.2,-104.9,,NaN\n\
               c,C,,maybe,41.2,-104.9,,\n\
               d,D,,,41.2,-104.9,not json,\n";
    let f = read_facilities(csv.as_bytes()).expect("reads");
    assert_eq!(f.facilities.len(), 1);
    assert_eq!(
        f.facilities[0].load,
        Load::Fleet(vec![FleetEntry {
            model: "Antminer S21".into(),
            count: 100
        }])
    );
    assert_eq!(f.facilities[0].urban, Some(true));
    let errs: Vec<String> = f.row_errors.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[0].starts_with("row 2, field load_mw"), "{errs:?}");
    assert!(errs[1].starts_with("row 3, field urban"), "{errs:?}");
    assert!(errs[2].starts_with("row 4, field fleet"), "{errs:?}");
}

#[test]
fn corrupted_inputs_never_panic() {
    // Every byte of the FlatGeobuf fixture set to 0xff and to 0 in turn: the verifier and the
    // framing checks turn each into a clean error or row error.
    let fgb = fgb_fixture();
    let mut readable = 0;
    for i in 0..fgb.len() {
        for v in [0xffu8, 0x00] {
            let mut b = fgb.clone();
            b[i] = v;
            if read_layer("flip.fgb", &b).is_ok() {
                readable += 1;
            }
        }
    }
    assert!(readable > 0, "some flips leave a readable file");
    // Every truncation of a GeoJSON and a CSV facilities file.
    let doc = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","fleet":[{"model":"S21","count":3}]},"geometry":{"type":"Polygon","coordinates":[[[0,0],[0,1],[1,1],[0,0]]]}}]}"#;
    let csv = "id,lat,lon,fleet\na,1,2,\"[{\"\"model\"\":\"\"S21\"\",\"\"count\"\":3}]\"\n";
    for text in [doc, csv] {
        for cut in 0..=text.len() {
            let _ = read_facilities(&text.as_bytes()[..cut]);
            let _ = read_layer("cut", &text.as_bytes()[..cut]);
        }
    }
    assert_eq!(read_facilities(doc.as_bytes()).map(|f| f.facilities.len()), Ok(1));
    assert_eq!(read_facilities(csv.as_bytes()).map(|f| f.facilities.len()), Ok(1));
}

#[test]
fn facility_geometry_vertex_cap() {
    let centre = LatLon {
        lat: 31.0,
        lon: -97.0,
    };
    let doc = |n: usize| {
        let mut ring: Vec<[f64; 2]> = hashward_sites::geo::circle(centre, 2_000.0, n)
            .iter()
            .map(|p| [p.lon, p.lat])
            .collect();
        ring.push(ring[0]);
        serde_json::json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "big"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}]})
        .to_string()
    };
    let ok = read_facilities(doc(9_999).as_bytes()).expect("reads");
    assert_eq!(ok.facilities.len(), 1);
    let refused = read_facilities(doc(10_000).as_bytes()).expect("reads");
    assert!(refused.facilities.is_empty());
    assert_eq!(refused.row_errors[0].field.as_deref(), Some("geometry"));
    assert!(
        refused.row_errors[0].message.contains("10001 vertices"),
        "{}",
        refused.row_errors[0]
    );
}
