//! Every SITE rule with a case that fires and one that must not: CFIUS zones (exact for
//! polygons, screening for points), part 3 counties and part 4 ranges, state laws by owner
//! country, status and date, critical infrastructure, grid thresholds and the fleet formula.

use chrono::NaiveDate;
use geographiclib_rs::{DirectGeodesic, Geodesic};
use hashward_sites::facility::{Facilities, Facility, FleetEntry, Load};
use hashward_sites::geo::{LatLon, Polygon, Shape};
use hashward_sites::layer::{Category, Layer, Site};
use hashward_sites::report::FacilityResult;
use hashward_sites::sample::builtin_layer;
use hashward_sites::{Assessment, Options, Rules, assess};

const MILE: f64 = 1609.344;
const WARREN: (f64, f64) = (-104.863207, 41.164803);
const MINEONE: (f64, f64) = (-104.89498, 41.12512);
const GRAND_FORKS: (f64, f64) = (-97.3909, 47.954464);
const MACDILL: (f64, f64) = (-82.500594, 27.843904);

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The point `meters` from (lon, lat) at `azimuth` degrees, on the WGS84 ellipsoid.
fn offset((lon, lat): (f64, f64), azimuth: f64, meters: f64) -> (f64, f64) {
    let (lat2, lon2): (f64, f64) = Geodesic::wgs84().direct(lat, lon, azimuth, meters);
    (lon2, lat2)
}

fn point((lon, lat): (f64, f64)) -> Shape {
    Shape::Point(LatLon { lat, lon })
}

fn facility(id: &str, at: (f64, f64), owner_country: Option<&str>) -> Facility {
    Facility {
        id: id.into(),
        name: id.into(),
        owner: None,
        owner_country: owner_country.map(Into::into),
        urban: Some(false),
        state: None,
        county: None,
        region: None,
        colocated: None,
        overhead: None,
        load: Load::Unknown,
        shape: point(at),
    }
}

fn site(id: &str, category: Category, shape: Shape) -> Site {
    Site {
        id: id.into(),
        name: id.into(),
        category,
        cfius_part: None,
        cfius_listed: false,
        state: None,
        extent_m: None,
        capacity_mw: None,
        shape,
    }
}

fn layer(name: &str, sites: Vec<Site>) -> Layer {
    Layer {
        name: name.into(),
        format: "test".into(),
        sites,
        row_errors: Vec::new(),
    }
}

fn run_with(fs: Vec<Facility>, layers: &[Layer], date: &str) -> Assessment {
    let rules = Rules::builtin().unwrap();
    let facilities = Facilities {
        facilities: fs,
        row_errors: Vec::new(),
    };
    let opts = Options {
        date: day(date),
        infrastructure_examples: 3,
    };
    assess(&facilities, layers, &rules, &opts)
}

fn run(fs: Vec<Facility>) -> Assessment {
    let rules = Rules::builtin().unwrap();
    run_with(fs, &[builtin_layer(&rules)], "2026-01-01")
}

fn findings_of<'a>(a: &'a Assessment, id: &str) -> Vec<&'a str> {
    a.findings
        .iter()
        .filter(|f| matches!(&f.subject, hashward_model::Subject::Facility { id: x } if x == id))
        .map(|f| f.rule.as_str())
        .collect()
}

fn result<'a>(a: &'a Assessment, id: &str) -> &'a FacilityResult {
    a.result.facilities.iter().find(|f| f.id == id).unwrap()
}

#[test]
fn mineone_placement_is_screened_not_cleared() {
    let mut f = facility("mineone", MINEONE, Some("CN"));
    f.state = Some("WY".into());
    f.county = Some("Laramie County".into());
    let a = run(vec![f]);
    let ids = findings_of(&a, "mineone");
    assert!(!ids.contains(&"SITE-001"), "{ids:?}");
    assert!(ids.contains(&"SITE-007"), "{ids:?}");
    assert!(
        ids.contains(&"SITE-003"),
        "Laramie County is a part 3 county: {ids:?}"
    );
    let r = result(&a, "mineone");
    let hit = r.rules.iter().find(|h| h.finding == "SITE-007").unwrap();
    assert_eq!(hit.site.as_deref(), Some("fe-warren"));
    assert_eq!(hit.rule, "us-cfius-802-part1-close");
    assert!(hit.screening && hit.margin_m.unwrap() > 0.0);
    let d = hit.distance_m.unwrap();
    assert!((d / MILE - 3.20).abs() < 0.005, "{d}");
    let msg = &a
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "SITE-007")
        .unwrap()
        .message;
    assert!(
        msg.contains("needs the installation's polygon") && msg.contains("3.20 mi"),
        "{msg}"
    );
    assert_eq!(r.nearest[0].site, "fe-warren");
}

#[test]
fn half_a_mile_from_the_point_is_close_proximity() {
    let a = run(vec![facility(
        "near",
        offset(WARREN, 200.0, 0.5 * MILE),
        Some("CN"),
    )]);
    assert!(findings_of(&a, "near").contains(&"SITE-001"));
    let r = result(&a, "near");
    let hit = r.rules.iter().find(|h| h.finding == "SITE-001").unwrap();
    assert!(!hit.screening);
    assert!((hit.distance_m.unwrap() - 0.5 * MILE).abs() < 0.01);
    assert_eq!(hit.limit_m, Some(MILE));
    let f = a.findings.iter().find(|f| f.rule.as_str() == "SITE-001").unwrap();
    let hashward_model::Evidence::Calculation { inputs, .. } = &f.evidence[0] else {
        panic!("{:?}", f.evidence)
    };
    assert_eq!(inputs["distance_method"], "WGS84 geodesic (geographiclib)");
    assert_eq!(inputs["rules_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(inputs["cite"], "31 CFR 802.203, 802.211(b)(1)");
}

#[test]
fn far_beyond_the_margin_is_clear() {
    let a = run(vec![facility(
        "far",
        offset(WARREN, 90.0, 10.0 * MILE),
        Some("CN"),
    )]);
    let ids = findings_of(&a, "far");
    assert!(
        !ids.contains(&"SITE-001") && !ids.contains(&"SITE-007"),
        "{ids:?}"
    );
}

#[test]
fn us_owners_and_excepted_countries_are_not_cfius_cases_unknown_owners_are() {
    let at = offset(WARREN, 0.0, 0.3 * MILE);
    let a = run(vec![
        facility("us", at, Some("US")),
        facility("gb", at, Some("GB")),
        facility("au", at, Some("au")),
        facility("unknown", at, None),
    ]);
    for id in ["us", "gb", "au"] {
        assert!(findings_of(&a, id).is_empty(), "{id}: {:?}", findings_of(&a, id));
    }
    assert!(
        result(&a, "us")
            .notes
            .iter()
            .any(|n| n.contains("not a foreign person"))
    );
    assert!(
        result(&a, "gb")
            .notes
            .iter()
            .any(|n| n.contains("excepted real-estate foreign state"))
    );
    assert!(findings_of(&a, "unknown").contains(&"SITE-001"));
    let f = a.findings.iter().find(|f| f.rule.as_str() == "SITE-001").unwrap();
    assert!(f.message.contains("owner country unknown"), "{}", f.message);
}

#[test]
fn part_2_extended_range_and_the_urban_exception() {
    let at = offset(GRAND_FORKS, 45.0, 50.0 * MILE);
    let rural = facility("rural", at, Some("CN"));
    let mut urban = facility("urban", at, Some("CN"));
    urban.urban = Some(true);
    let a = run(vec![
        rural,
        urban,
        facility("beyond", offset(GRAND_FORKS, 45.0, 105.0 * MILE), Some("CN")),
    ]);
    assert!(findings_of(&a, "rural").contains(&"SITE-002"));
    assert!(!findings_of(&a, "urban").contains(&"SITE-002"));
    assert!(result(&a, "urban").notes.iter().any(|n| n.contains("802.216(c)")));
    assert!(
        findings_of(&a, "beyond").is_empty(),
        "{:?}",
        findings_of(&a, "beyond")
    );
    // Within 1 mi of a part 2 installation: close proximity, not also the extended range.
    let a = run(vec![facility(
        "close2",
        offset(GRAND_FORKS, 0.0, 0.5 * MILE),
        Some("RU"),
    )]);
    let ids = findings_of(&a, "close2");
    assert!(ids.contains(&"SITE-001") && !ids.contains(&"SITE-002"), "{ids:?}");
}

/// A square installation about 4 km on a side around (lon, lat).
fn square((lon, lat): (f64, f64), half_deg: f64) -> Shape {
    let p = |dx: f64, dy: f64| LatLon {
        lat: lat + dy,
        lon: lon + dx,
    };
    Shape::Polygons(vec![Polygon {
        exterior: vec![
            p(-half_deg, -half_deg),
            p(half_deg, -half_deg),
            p(half_deg, half_deg),
            p(-half_deg, half_deg),
            p(-half_deg, -half_deg),
        ],
        holes: Vec::new(),
    }])
}

#[test]
fn polygon_sites_are_measured_from_the_boundary_exactly() {
    let center = (-100.0, 40.0);
    let mut base = site("base", Category::MilitaryInstallation, square(center, 0.02));
    base.cfius_part = Some(1);
    let layers = [layer("bases", vec![base])];
    // The square's east edge is at lon -99.98; 1.0 km east of it, and 2.5 km east of it.
    let edge = (-99.98, 40.0);
    let a = run_with(
        vec![
            facility("inside-mile", offset(edge, 90.0, 1000.0), Some("CN")),
            facility("outside-mile", offset(edge, 90.0, 2500.0), Some("CN")),
        ],
        &layers,
        "2026-01-01",
    );
    let hit = result(&a, "inside-mile")
        .rules
        .iter()
        .find(|h| h.finding == "SITE-001")
        .unwrap();
    assert_eq!(hit.measured_from, Some(hashward_sites::geo::Measured::Boundary));
    assert!((hit.distance_m.unwrap() - 1000.0).abs() < 5.0, "{hit:?}");
    let ids = findings_of(&a, "outside-mile");
    assert!(
        !ids.contains(&"SITE-001") && !ids.contains(&"SITE-007"),
        "a polygon is not screened: {ids:?}"
    );
}

#[test]
fn listed_sites_of_unknown_part_get_the_mile_and_a_note() {
    let mut s = site("mirta-1", Category::MilitaryInstallation, point((-90.0, 35.0)));
    s.cfius_listed = true;
    let layers = [layer("mirta", vec![s])];
    let a = run_with(
        vec![
            facility("a", offset((-90.0, 35.0), 0.0, 800.0), Some("CN")),
            facility("b", offset((-90.0, 35.0), 0.0, 40.0 * MILE), Some("CN")),
        ],
        &layers,
        "2026-01-01",
    );
    assert!(findings_of(&a, "a").contains(&"SITE-001"));
    assert!(findings_of(&a, "b").is_empty());
    assert!(result(&a, "b").notes.iter().any(|n| n.contains("part unknown")));
}

#[test]
fn part_3_counties_and_part_4_ranges() {
    let mut kimball = facility("kimball", (-103.7, 41.2), Some("CN"));
    kimball.state = Some("ne".into());
    kimball.county = Some("KIMBALL COUNTY".into());
    let mut cherry = facility("cherry", (-100.5, 42.0), Some("CN"));
    cherry.state = Some("NE".into());
    cherry.county = Some("Cherry".into());
    let mut us = facility("us-owner", (-103.7, 41.2), Some("US"));
    us.state = Some("NE".into());
    us.county = Some("Kimball".into());
    let range = site(
        "range-1",
        Category::Other("cfius_part4_range".into()),
        square((-70.0, 40.0), 0.5),
    );
    let layers = [layer("ranges", vec![range])];
    let a = run_with(
        vec![
            kimball,
            cherry,
            us,
            facility("offshore", (-70.1, 40.1), Some("CN")),
            facility("ashore", (-71.0, 41.0), Some("CN")),
        ],
        &layers,
        "2026-01-01",
    );
    assert!(findings_of(&a, "kimball").contains(&"SITE-003"));
    assert!(findings_of(&a, "cherry").is_empty());
    assert!(findings_of(&a, "us-owner").is_empty());
    assert!(findings_of(&a, "offshore").contains(&"SITE-003"));
    assert!(findings_of(&a, "ashore").is_empty());
    let msg = &a
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "SITE-003")
        .unwrap()
        .message;
    assert!(
        msg.contains("not verified"),
        "the county list is from memory: {msg}"
    );
}

#[test]
fn state_law_by_owner_country_status_and_date() {
    let at = offset(MACDILL, 30.0, 5.0 * MILE);
    let fl = |id: &str, owner: &str| {
        let mut f = facility(id, at, Some(owner));
        f.state = Some("FL".into());
        f
    };
    let a = run(vec![fl("cn", "CN"), fl("de", "DE"), fl("far", "CN")]);
    assert!(findings_of(&a, "cn").contains(&"SITE-004"));
    let hit = result(&a, "cn")
        .rules
        .iter()
        .find(|h| h.finding == "SITE-004")
        .unwrap();
    assert_eq!(hit.rule, "us-fl-692-203");
    assert_eq!(hit.limit_m, Some(16093.44));
    assert!(
        result(&a, "cn").notes.iter().any(|n| n.contains("692.204")),
        "statewide rule as a note"
    );
    assert!(findings_of(&a, "de").is_empty(), "{:?}", findings_of(&a, "de"));

    // Before Florida SB 264 took effect.
    let rules = Rules::builtin().unwrap();
    let a = run_with(vec![fl("cn", "CN")], &[builtin_layer(&rules)], "2023-06-30");
    assert!(!findings_of(&a, "cn").contains(&"SITE-004"));
    assert!(
        result(&a, "cn")
            .notes
            .iter()
            .any(|n| n.contains("takes effect on 2023-07-01"))
    );

    // Twelve miles out: beyond 10 mi (and beyond the point margin).
    let mut far = fl("far", "CN");
    far.shape = point(offset(MACDILL, 30.0, 12.0 * MILE));
    let a = run(vec![far]);
    assert!(!findings_of(&a, "far").contains(&"SITE-004"));
}

#[test]
fn failed_and_vetoed_bills_never_fire() {
    // Arkansas SB 60 (30 mi, any owner) failed; Kansas SB 172 (100 mi) was vetoed.
    let mut little_rock = site(
        "little-rock-afb",
        Category::MilitaryInstallation,
        point((-92.138483, 34.903991)),
    );
    little_rock.cfius_listed = false;
    let layers = [layer("bases", vec![little_rock])];
    let mut ar = facility(
        "ar",
        offset((-92.138483, 34.903991), 90.0, 10.0 * MILE),
        Some("US"),
    );
    ar.state = Some("AR".into());
    let a = run_with(vec![ar], &layers, "2026-01-01");
    assert!(findings_of(&a, "ar").is_empty(), "{:?}", findings_of(&a, "ar"));
    assert!(result(&a, "ar").rules.iter().all(|h| h.rule != "us-ar-sb60-2025"));

    let riley = site(
        "fort-riley",
        Category::MilitaryInstallation,
        point((-96.820898, 39.186768)),
    );
    let layers = [layer("bases", vec![riley])];
    let mut ks = facility(
        "ks",
        offset((-96.820898, 39.186768), 90.0, 50.0 * MILE),
        Some("CN"),
    );
    ks.state = Some("KS".into());
    let a = run_with(vec![ks], &layers, "2026-01-01");
    let rules: Vec<&str> = result(&a, "ks").rules.iter().map(|h| h.rule.as_str()).collect();
    assert!(!rules.contains(&"us-ks-sb172-2024"), "{rules:?}");
    assert!(
        rules.contains(&"us-ks-sb9-2025"),
        "the signed 2025 law applies: {rules:?}"
    );
}

#[test]
fn infrastructure_within_the_configured_distance() {
    let origin = (-95.0, 38.0);
    let plants = layer(
        "plants",
        vec![
            site(
                "p-5mi",
                Category::PowerPlant,
                point(offset(origin, 0.0, 5.0 * MILE)),
            ),
            site(
                "p-9mi",
                Category::PowerPlant,
                point(offset(origin, 180.0, 9.0 * MILE)),
            ),
            site(
                "p-20mi",
                Category::PowerPlant,
                point(offset(origin, 90.0, 20.0 * MILE)),
            ),
        ],
    );
    let a = run_with(
        vec![
            facility("near", origin, Some("US")),
            facility("away", offset(origin, 90.0, 31.0 * MILE), Some("US")),
        ],
        &[plants],
        "2026-01-01",
    );
    let hit = result(&a, "near")
        .rules
        .iter()
        .find(|h| h.finding == "SITE-005")
        .unwrap();
    assert_eq!((hit.count, hit.site.as_deref()), (Some(2), Some("p-5mi")));
    assert!((hit.distance_m.unwrap() - 5.0 * MILE).abs() < 0.01);
    assert!(
        findings_of(&a, "away").is_empty(),
        "{:?}",
        findings_of(&a, "away")
    );
    let near = result(&a, "near");
    assert_eq!(near.nearest[0].site, "p-5mi");
}

#[test]
fn grid_thresholds_just_under_and_over() {
    let mk = |id: &str, mw: f64, colocated: bool| {
        let mut f = facility(id, (-101.0, 32.0), Some("US"));
        f.region = Some("ERCOT".into());
        f.colocated = Some(colocated);
        f.load = Load::Mw(mw);
        f
    };
    let a = run(vec![
        mk("74.9", 74.9, false),
        mk("75", 75.0, false),
        mk("co-19.9", 19.9, true),
        mk("co-20", 20.0, true),
    ]);
    assert!(findings_of(&a, "74.9").is_empty());
    assert_eq!(findings_of(&a, "75"), ["SITE-006", "SITE-006"]);
    assert!(findings_of(&a, "co-19.9").is_empty());
    assert_eq!(findings_of(&a, "co-20"), ["SITE-006"]);
    let hit = &result(&a, "co-20").rules[0];
    assert_eq!(
        (hit.rule.as_str(), hit.threshold_mw),
        ("ercot-ll-interim-2022", Some(20.0))
    );
}

#[test]
fn fleet_load_16000_s21_is_58_8_mw_and_crosses_nothing_under_75() {
    let mut f = facility("fleet", (-101.0, 32.0), Some("US"));
    f.region = Some("ERCOT".into());
    f.load = Load::Fleet(vec![FleetEntry {
        model: "Antminer S21".into(),
        count: 16_000,
    }]);
    let mut big = f.clone();
    big.id = "big".into();
    big.load = Load::Fleet(vec![FleetEntry {
        model: "S21".into(),
        count: 20_409,
    }]);
    let mut bad = f.clone();
    bad.id = "bad".into();
    bad.load = Load::Fleet(vec![FleetEntry {
        model: "Whatsminer M99".into(),
        count: 10,
    }]);
    let a = run(vec![f, big, bad]);
    let r = result(&a, "fleet");
    assert!((r.load_mw.unwrap() - 58.8).abs() < 1e-9);
    assert!((r.load.miners_mw.unwrap() - 56.0).abs() < 1e-9);
    assert!(findings_of(&a, "fleet").is_empty());
    assert!(
        findings_of(&a, "big").contains(&"SITE-006"),
        "20,409 S21 x 1.05 > 75 MW"
    );
    let bad = result(&a, "bad");
    assert_eq!(bad.load_mw, None);
    assert!(
        a.result
            .row_errors
            .iter()
            .any(|e| e.contains("\"bad\"") && e.contains("fleet[0].model"))
    );
    assert!(bad.notes.iter().any(|n| n.contains("load unknown")));
    let f = a.findings.iter().find(|f| f.rule.as_str() == "SITE-006").unwrap();
    let hashward_model::Evidence::Calculation { formula, .. } = &f.evidence[0] else {
        panic!()
    };
    assert!(formula.contains("overhead"), "{formula}");
}

#[test]
fn results_keep_input_order_under_parallelism() {
    let fs: Vec<Facility> = (0..500)
        .map(|i| facility(&format!("f{i}"), (-120.0 + f64::from(i) * 0.1, 35.0), Some("CN")))
        .collect();
    let a = run(fs);
    let ids: Vec<String> = a.result.facilities.iter().map(|f| f.id.clone()).collect();
    let want: Vec<String> = (0..500).map(|i| format!("f{i}")).collect();
    assert_eq!(ids, want);
    let again = run((0..500)
        .map(|i| facility(&format!("f{i}"), (-120.0 + f64::from(i) * 0.1, 35.0), Some("CN")))
        .collect());
    let msgs = |a: &Assessment| a.findings.iter().map(|f| f.message.clone()).collect::<Vec<_>>();
    assert_eq!(msgs(&a), msgs(&again));
}

#[test]
fn the_sample_facilities_show_each_kind_of_result() {
    let text = hashward_sites::sample::sample_facilities();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["features"].as_array().unwrap().len(), 4);
    let fs = hashward_sites::facility::read_facilities(text.as_bytes()).unwrap();
    assert!(fs.row_errors.is_empty(), "{:?}", fs.row_errors);
    let rules = Rules::builtin().unwrap();
    let a = run_with(fs.facilities, &[builtin_layer(&rules)], "2026-01-01");
    assert!(findings_of(&a, "mineone-like").contains(&"SITE-007"));
    assert!(findings_of(&a, "clean-plains").is_empty());
    assert!(findings_of(&a, "ercot-large").contains(&"SITE-006"));
    assert!(findings_of(&a, "florida-near-base").contains(&"SITE-004"));
}

/// The shared test data (read in place, never copied): MIRTA points, the IM3 atlas, WRI plants.
fn shared(name: &str) -> Option<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    hashward_model::shared_testdata_candidates(dir)
        .into_iter()
        .map(|c| c.join("sites").join(name))
        .find(|p| p.is_file())
        .map(|p| std::fs::read(p).unwrap())
}

#[test]
fn mineone_anchor_on_the_shared_mirta_and_im3_files() {
    let (Some(mirta), Some(im3)) = (
        shared("mirta-dod-sites-points.geojson"),
        shared("im3-datacenter-centroids.geojson"),
    ) else {
        eprintln!("shared test data not found: skipped");
        return;
    };
    let mirta = hashward_sites::layer::read_layer("mirta", &mirta).unwrap();
    let im3 = hashward_sites::layer::read_layer("im3", &im3).unwrap();
    assert_eq!((mirta.sites.len(), im3.sites.len()), (737, 1165));
    let mut mine = facility("mineone", MINEONE, Some("CN"));
    mine.state = Some("WY".into());
    let at_warren = facility("at-warren-point", WARREN, Some("US"));
    let a = run_with(vec![mine, at_warren], &[mirta, im3], "2026-01-01");
    // MIRTA marks F.E. Warren listed (isFirrmaSite) with no part: the 1 mi rule applies, and a
    // point 3.20 mi away is screening, not clear.
    let hit = result(&a, "mineone")
        .rules
        .iter()
        .find(|h| {
            h.finding == "SITE-007" && h.site_name.as_deref() == Some("Francis E. Warren Air Force Base")
        })
        .expect("SITE-007 for F.E. Warren");
    assert!((hit.distance_m.unwrap() / MILE - 3.20).abs() < 0.005);
    assert!(!findings_of(&a, "mineone").contains(&"SITE-001"));
    // Nearest IM3 data center to the F.E. Warren point: NCAR-Wyoming Supercomputing Center, 3.06 mi.
    let n = result(&a, "at-warren-point")
        .nearest
        .iter()
        .find(|n| n.layer == "im3")
        .unwrap();
    assert_eq!(n.site_name, "NCAR-Wyoming Supercomputing Center");
    assert!(
        (n.distance_m / MILE - 3.06).abs() < 0.005,
        "{}",
        n.distance_m / MILE
    );
}

/// Regression (the GeoPandas benchmark's facility F003820): two plants whose order on the
/// sphere is the opposite of their order on the ellipsoid. At 41 N the sphere overstates a
/// northward distance and understates an eastward one, so the plant 5,671 m north looks farther
/// than the one 5,680 m east; the hit must still name the geodesic nearest and agree with
/// `nearest[]`.
#[test]
fn the_reported_nearest_in_range_is_the_geodesic_nearest() {
    let origin = (-104.86, 41.16);
    let plants = layer(
        "plants",
        vec![
            site(
                "north-5671",
                Category::PowerPlant,
                point(offset(origin, 0.0, 5_671.0)),
            ),
            site(
                "east-5680",
                Category::PowerPlant,
                point(offset(origin, 90.0, 5_680.0)),
            ),
        ],
    );
    let a = run_with(vec![facility("f", origin, Some("US"))], &[plants], "2026-01-01");
    let r = result(&a, "f");
    let hit = r.rules.iter().find(|h| h.finding == "SITE-005").unwrap();
    assert_eq!(hit.site.as_deref(), Some("north-5671"));
    assert!((hit.distance_m.unwrap() - 5_671.0).abs() < 0.01, "{hit:?}");
    assert_eq!(r.nearest[0].site, "north-5671");
}
