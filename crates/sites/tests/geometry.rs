//! Geometry and index tests: the research brief's measured anchors on the shared data, sphere
//! against geodesic, threshold verdicts, polygons (inside, outside, antimeridian, holes,
//! invalid), and randomised comparisons with geographiclib and with brute force.

use std::path::{Path, PathBuf};

use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};
use hashward_sites::geo::{self, GeometryError, LatLon, Measured, Polygon, Shape};
use hashward_sites::index::SiteIndex;
use hashward_sites::layer::{Layer, read_layer};

const MILE_M: f64 = 1_609.344;

fn shared(name: &str) -> PathBuf {
    hashward_model::shared_testdata_candidates(Path::new(env!("CARGO_MANIFEST_DIR")))
        .into_iter()
        .map(|d| d.join("sites").join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("shared test data sites/{name} not found"))
}

fn layer(name: &str) -> Layer {
    let bytes = std::fs::read(shared(name)).expect("read shared layer");
    read_layer(name, &bytes).expect("layer reads")
}

fn ll(lat: f64, lon: f64) -> LatLon {
    LatLon { lat, lon }
}

fn pt(lat: f64, lon: f64) -> Shape {
    Shape::Point(ll(lat, lon))
}

fn square(lat0: f64, lon0: f64, lat1: f64, lon1: f64) -> Vec<LatLon> {
    vec![
        ll(lat0, lon0),
        ll(lat0, lon1),
        ll(lat1, lon1),
        ll(lat1, lon0),
        ll(lat0, lon0),
    ]
}

fn poly(exterior: Vec<LatLon>, holes: Vec<Vec<LatLon>>) -> Shape {
    Shape::Polygons(vec![Polygon { exterior, holes }])
}

fn site<'a>(l: &'a Layer, name: &str) -> &'a hashward_sites::layer::Site {
    l.sites
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} not in {}", l.name))
}

fn direct(from: LatLon, azimuth: f64, meters: f64) -> LatLon {
    let (lat, lon): (f64, f64) = Geodesic::wgs84().direct(from.lat, from.lon, azimuth, meters);
    ll(lat, lon)
}

/// Brute force: `p` to the geodesic a→b sampled every `step` metres.
fn edge_brute(p: LatLon, a: LatLon, b: LatLon, step: f64) -> f64 {
    let g = Geodesic::wgs84();
    let (len, azi, _, _): (f64, f64, f64, f64) = g.inverse(a.lat, a.lon, b.lat, b.lon);
    let n = (len / step).ceil() as usize;
    (0..=n)
        .map(|i| {
            let (la, lo): (f64, f64) = g.direct(a.lat, a.lon, azi, (i as f64 * step).min(len));
            g.inverse(p.lat, p.lon, la, lo)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Brute force: `p` to a ring's edges.
fn ring_brute(p: LatLon, ring: &[LatLon], step: f64) -> f64 {
    ring.windows(2)
        .map(|w| edge_brute(p, w[0], w[1], step))
        .fold(f64::INFINITY, f64::min)
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

#[test]
fn mineone_is_3_20_miles_from_the_fe_warren_point() {
    let mirta = layer("mirta-dod-sites-points.geojson");
    let im3 = layer("im3-datacenter-centroids.geojson");
    let warren = site(&mirta, "Francis E. Warren Air Force Base");
    let mineone = site(&im3, "MineOne Wyoming Data Center");
    let d = geo::distance(&mineone.shape, &warren.shape);
    assert_eq!(d.measured_from, Measured::Point);
    assert!(
        (d.meters / MILE_M - 3.20).abs() < 0.005,
        "{} mi",
        d.meters / MILE_M
    );
    let (Shape::Point(a), Shape::Point(b)) = (&mineone.shape, &warren.shape) else {
        panic!("points expected")
    };
    let sphere = geo::sphere_meters(*a, *b);
    assert!((sphere - 5_152.0).abs() < 0.5, "sphere {sphere} m");
}

#[test]
fn nearest_data_center_to_fe_warren_is_ncar() {
    let mirta = layer("mirta-dod-sites-points.geojson");
    let im3 = layer("im3-datacenter-centroids.geojson");
    let warren = site(&mirta, "Francis E. Warren Air Force Base");
    let shapes: Vec<Shape> = im3.sites.iter().map(|s| s.shape.clone()).collect();
    let idx = SiteIndex::build(&shapes);
    let hit = idx.nearest(&warren.shape).expect("a nearest site");
    assert_eq!(im3.sites[hit.site].name, "NCAR-Wyoming Supercomputing Center");
    assert!(hit.refined);
    assert!(
        (hit.distance_m / MILE_M - 3.06).abs() < 0.005,
        "{} mi",
        hit.distance_m / MILE_M
    );
}

#[test]
fn wri_plants_within_100_miles_of_fe_warren() {
    let mirta = layer("mirta-dod-sites-points.geojson");
    let wri = layer("wri-gppd-usa-power-plants.csv");
    let warren = site(&mirta, "Francis E. Warren Air Force Base");
    let shapes: Vec<Shape> = wri.sites.iter().map(|s| s.shape.clone()).collect();
    let idx = SiteIndex::build(&shapes);
    let hits = idx.within(&warren.shape, 160_934.4);
    assert_eq!(hits.len(), 129);
    assert_eq!(idx.count_within(&warren.shape, 160_934.4), 129);
    let mw: f64 = hits.iter().filter_map(|h| wri.sites[h.site].capacity_mw).sum();
    assert!((mw - 10_851.0).abs() < 1.0, "{mw} MW");
    assert!(
        hits.windows(2).all(|w| w[0].distance_m <= w[1].distance_m),
        "nearest first"
    );
}

#[test]
fn sphere_error_stays_under_0_6_percent() {
    // 1 mile north at the equator: the worst case (research brief §4.4, +9.04 m).
    let a = ll(0.0, -104.86);
    let b = direct(a, 0.0, MILE_M);
    let g = geo::distance(&Shape::Point(a), &Shape::Point(b)).meters;
    assert!((g - MILE_M).abs() < 1e-6, "{g}");
    let s = geo::sphere_meters(a, b);
    assert!((s - g - 9.04).abs() < 0.01, "sphere {s}");
    let mut rng = Rng(7);
    for _ in 0..2_000 {
        let a = ll(rng.range(-80.0, 80.0), rng.range(-180.0, 180.0));
        let b = direct(a, rng.range(0.0, 360.0), rng.range(10.0, 500_000.0));
        let g = geo::distance(&Shape::Point(a), &Shape::Point(b)).meters;
        let s = geo::sphere_meters(a, b);
        assert!(
            ((s - g) / g).abs() < geo::SPHERE_REL_ERROR,
            "{a:?} {b:?}: sphere {s} geodesic {g}"
        );
    }
}

#[test]
fn threshold_verdicts_follow_the_geodesic() {
    let site = ll(41.16, -104.86);
    let idx = SiteIndex::build(&[Shape::Point(site)]);
    // North at 41.16°: the sphere reads long, so 1,609.0 m looks outside a mile on the sphere.
    let inside = direct(site, 0.0, 1_609.0);
    assert!(
        geo::sphere_meters(site, inside) > MILE_M,
        "the sphere must say outside"
    );
    let hits = idx.within(&Shape::Point(inside), MILE_M);
    assert_eq!(hits.len(), 1);
    assert!(hits[0].refined && (hits[0].distance_m - 1_609.0).abs() < 1e-6);
    // East: the sphere reads short, so 1,609.7 m looks inside.
    let outside = direct(site, 90.0, 1_609.7);
    assert!(
        geo::sphere_meters(site, outside) < MILE_M,
        "the sphere must say inside"
    );
    assert!(idx.within(&Shape::Point(outside), MILE_M).is_empty());
    assert_eq!(idx.count_within(&Shape::Point(outside), MILE_M), 0);
    assert_eq!(idx.count_within(&Shape::Point(inside), MILE_M), 1);
}

#[test]
fn polygon_inside_and_outside() {
    let p = poly(square(41.0, -105.0, 41.2, -104.8), vec![]);
    let inside = geo::distance(&pt(41.1, -104.9), &p);
    assert_eq!(
        inside,
        geo::Distance {
            meters: 0.0,
            measured_from: Measured::Inside
        }
    );
    // Due south of the southern edge's middle. The edge is the geodesic between its corners,
    // which bulges poleward of the parallel by about 5 m here: the distance is to that edge.
    let below = ll(40.95, -104.9);
    let d = geo::distance(&Shape::Point(below), &p);
    assert_eq!(d.measured_from, Measured::Boundary);
    let brute = ring_brute(below, &square(41.0, -105.0, 41.2, -104.8), 0.5);
    assert!(
        d.meters <= brute + 1e-6 && brute - d.meters < 0.01,
        "{} vs {brute}",
        d.meters
    );
    let parallel: f64 = Geodesic::wgs84().inverse(40.95, -104.9, 41.0, -104.9);
    assert!(
        d.meters > parallel + 4.0,
        "the edge is a geodesic, not the parallel"
    );
    // Symmetric.
    assert!((geo::distance(&p, &Shape::Point(below)).meters - d.meters).abs() < 1e-6);
}

#[test]
fn polygon_across_the_antimeridian() {
    let p = poly(
        vec![
            ll(-1.0, 179.5),
            ll(-1.0, -179.5),
            ll(1.0, -179.5),
            ll(1.0, 179.5),
            ll(-1.0, 179.5),
        ],
        vec![],
    );
    assert_eq!(geo::validate(&p), Ok(()));
    assert_eq!(geo::distance(&pt(0.0, 180.0), &p).measured_from, Measured::Inside);
    assert_eq!(
        geo::distance(&pt(0.0, -179.9), &p).measured_from,
        Measured::Inside
    );
    assert_eq!(geo::distance(&pt(0.0, 0.0), &p).measured_from, Measured::Boundary);
    let east = geo::distance(&pt(0.0, -179.0), &p);
    let g: f64 = Geodesic::wgs84().inverse(0.0, -179.0, 0.0, -179.5);
    assert!((east.meters - g).abs() < 0.5, "{} vs {g}", east.meters);
}

#[test]
fn polygon_with_a_hole() {
    let p = poly(square(0.0, 0.0, 1.0, 1.0), vec![square(0.4, 0.4, 0.6, 0.6)]);
    assert_eq!(geo::validate(&p), Ok(()));
    assert_eq!(geo::distance(&pt(0.2, 0.2), &p).measured_from, Measured::Inside);
    let in_hole = geo::distance(&pt(0.5, 0.5), &p);
    assert_eq!(in_hole.measured_from, Measured::Boundary);
    // The hole's north and south edges are nearest (about 0.1° of latitude, 11.06 km).
    let g = ring_brute(ll(0.5, 0.5), &square(0.4, 0.4, 0.6, 0.6), 0.5);
    assert!(
        in_hole.meters <= g + 1e-6 && g - in_hole.meters < 0.01,
        "{} vs {g}",
        in_hole.meters
    );
    assert!((in_hole.meters - 11_057.4).abs() < 0.5);
}

#[test]
fn invalid_polygons_are_refused() {
    let bow = poly(
        vec![
            ll(0.0, 0.0),
            ll(1.0, 1.0),
            ll(1.0, 0.0),
            ll(0.0, 1.0),
            ll(0.0, 0.0),
        ],
        vec![],
    );
    assert!(matches!(
        geo::validate(&bow),
        Err(GeometryError::SelfIntersecting { .. })
    ));
    let open = poly(
        vec![ll(0.0, 0.0), ll(0.0, 1.0), ll(1.0, 1.0), ll(1.0, 0.0)],
        vec![],
    );
    assert!(matches!(
        geo::validate(&open),
        Err(GeometryError::Unclosed { .. })
    ));
    let mut closed = open.clone();
    geo::close_rings(&mut closed);
    assert_eq!(geo::validate(&closed), Ok(()));
    assert_eq!(geo::validate(&Shape::Polygons(vec![])), Err(GeometryError::Empty));
    assert!(matches!(
        geo::validate(&pt(91.0, 0.0)),
        Err(GeometryError::OutOfRange { .. })
    ));
    assert!(matches!(
        geo::validate(&pt(0.0, f64::NAN)),
        Err(GeometryError::NotFinite { .. })
    ));
    let tiny = poly(vec![ll(0.0, 0.0), ll(0.0, 1.0), ll(0.0, 0.0)], vec![]);
    assert!(matches!(
        geo::validate(&tiny),
        Err(GeometryError::TooFewPoints { .. })
    ));
}

#[test]
fn polygon_to_polygon() {
    let a = poly(square(0.0, 0.0, 1.0, 1.0), vec![]);
    let overlapping = poly(square(0.5, 0.5, 1.5, 1.5), vec![]);
    assert_eq!(geo::distance(&a, &overlapping).measured_from, Measured::Inside);
    let crossing = poly(square(-0.5, 0.3, 1.5, 0.6), vec![]);
    assert_eq!(
        geo::distance(&a, &crossing).meters,
        0.0,
        "edges cross, no vertex inside"
    );
    let apart = poly(square(0.0, 1.1, 1.0, 2.0), vec![]);
    let d = geo::distance(&a, &apart);
    // The facing edges are meridians; the gap is narrowest at the northern corners.
    let g: f64 = Geodesic::wgs84().inverse(1.0, 1.0, 1.0, 1.1);
    assert_eq!(d.measured_from, Measured::Boundary);
    assert!((d.meters - g).abs() < 0.5, "{} vs {g}", d.meters);
}

#[test]
fn random_distances_match_geographiclib() {
    let g = Geodesic::wgs84();
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let a = ll(rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
        let b = ll(rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
        let d = geo::distance(&Shape::Point(a), &Shape::Point(b)).meters;
        let want: f64 = g.inverse(a.lat, a.lon, b.lat, b.lon);
        assert!(
            (d - want).abs() <= 1e-6 * want.max(1.0),
            "{a:?} {b:?}: {d} vs {want}"
        );
    }
    // Points against polygon edges: the refinement against a dense sampling of the edge.
    for _ in 0..20 {
        let lat = rng.range(-60.0, 60.0);
        let lon = rng.range(-180.0, 180.0);
        let p = poly(square(lat, lon, lat + 0.5, lon + 0.5), vec![]);
        let q = ll(lat - rng.range(0.01, 1.0), lon + rng.range(-0.2, 0.7));
        let d = geo::distance(&Shape::Point(q), &p).meters;
        // Brute force along every edge's geodesic, every metre.
        let brute = ring_brute(q, &square(lat, lon, lat + 0.5, lon + 0.5), 1.0);
        assert!(
            d <= brute + 1e-6 && brute - d < 0.02,
            "{q:?}: {d} vs brute {brute}"
        );
    }
}

#[test]
fn index_matches_brute_force() {
    let g = Geodesic::wgs84();
    let mut rng = Rng(2024);
    let sites: Vec<LatLon> = (0..10_000)
        .map(|_| ll(rng.range(24.5, 49.5), rng.range(-124.7, -67.0)))
        .collect();
    let shapes: Vec<Shape> = sites.iter().map(|s| Shape::Point(*s)).collect();
    let idx = SiteIndex::build(&shapes);
    assert_eq!(idx.len(), 10_000);
    for _ in 0..1_000 {
        let q = ll(rng.range(24.5, 49.5), rng.range(-124.7, -67.0));
        let radius = rng.range(1_000.0, 60_000.0);
        // Brute force with its own, looser (2 %) sphere margin before the geodesic.
        let sphere: Vec<f64> = sites.iter().map(|s| geo::sphere_meters(q, *s)).collect();
        let min_sphere = sphere.iter().copied().fold(f64::INFINITY, f64::min);
        let geod = |i: usize| -> f64 { g.inverse(q.lat, q.lon, sites[i].lat, sites[i].lon) };
        let (best, best_d) = (0..sites.len())
            .filter(|i| sphere[*i] <= min_sphere * 1.02)
            .map(|i| (i, geod(i)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("sites");
        let hit = idx.nearest(&Shape::Point(q)).expect("nearest");
        assert_eq!(hit.site, best, "{q:?}");
        assert!((hit.distance_m - best_d).abs() < 1e-6);
        let mut want: Vec<usize> = (0..sites.len())
            .filter(|i| sphere[*i] <= radius * 1.02 && geod(*i) <= radius)
            .collect();
        let hits = idx.within(&Shape::Point(q), radius);
        let mut got: Vec<usize> = hits.iter().map(|h| h.site).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "{q:?} r {radius}");
        for h in &hits {
            let exact = geod(h.site);
            let tol = if h.refined {
                1e-6
            } else {
                exact * geo::SPHERE_REL_ERROR
            };
            assert!((h.distance_m - exact).abs() <= tol, "{h:?} vs {exact}");
        }
        assert_eq!(idx.count_within(&Shape::Point(q), radius), want.len());
    }
}

#[test]
fn polygon_index_matches_brute_force() {
    let mut rng = Rng(99);
    let shapes: Vec<Shape> = (0..300)
        .map(|i| {
            let lat = rng.range(30.0, 45.0);
            let lon = rng.range(-110.0, -90.0);
            let s = rng.range(0.01, 0.3);
            if i % 3 == 0 {
                pt(lat, lon)
            } else {
                poly(square(lat, lon, lat + s, lon + s), vec![])
            }
        })
        .collect();
    let idx = SiteIndex::build(&shapes);
    for k in 0..100 {
        let lat = rng.range(30.0, 45.0);
        let lon = rng.range(-110.0, -90.0);
        let q = if k % 2 == 0 {
            pt(lat, lon)
        } else {
            poly(square(lat, lon, lat + 0.05, lon + 0.05), vec![])
        };
        let exact: Vec<f64> = shapes.iter().map(|s| geo::distance(&q, s).meters).collect();
        let best = exact.iter().copied().fold(f64::INFINITY, f64::min);
        let hit = idx.nearest(&q).expect("nearest");
        assert!(
            (hit.distance_m - best).abs() < 1e-6,
            "{} vs {best}",
            hit.distance_m
        );
        let radius = 40_000.0;
        let mut want: Vec<usize> = (0..shapes.len()).filter(|i| exact[*i] <= radius).collect();
        let mut got: Vec<usize> = idx.within(&q, radius).iter().map(|h| h.site).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }
}

#[test]
fn circle_points_are_on_the_radius() {
    let c = ll(41.164803, -104.863207);
    let pts = geo::circle(c, MILE_M, 64);
    assert_eq!(pts.len(), 64);
    for p in pts {
        let d = geo::distance(&Shape::Point(c), &Shape::Point(p)).meters;
        assert!((d - MILE_M).abs() < 1e-6, "{d}");
    }
}

#[test]
fn polygon_round_a_pole() {
    let ring = vec![
        ll(85.0, 0.0),
        ll(85.0, 90.0),
        ll(85.0, 180.0),
        ll(85.0, -90.0),
        ll(85.0, 0.0),
    ];
    let p = poly(ring, vec![]);
    assert_eq!(geo::validate(&p), Ok(()));
    assert_eq!(geo::distance(&pt(90.0, 0.0), &p).measured_from, Measured::Inside);
    // Edges are great circles, not parallels: the edge from 0° to 90° E passes 86.46° N at
    // 45° E, so 86° N there is outside and 87° N inside.
    assert_eq!(geo::distance(&pt(87.0, 45.0), &p).measured_from, Measured::Inside);
    assert_eq!(
        geo::distance(&pt(86.0, 45.0), &p).measured_from,
        Measured::Boundary
    );
    assert_eq!(
        geo::distance(&pt(80.0, 45.0), &p).measured_from,
        Measured::Boundary
    );
    let idx = SiteIndex::build(&[p]);
    assert_eq!(
        idx.within(&pt(89.0, -135.0), 0.0).len(),
        1,
        "inside counts at radius 0"
    );
}
