//! Geometry on the Earth: WGS84 degrees in, metres out; spherical maths on unit vectors to find
//! and rank candidates, geographiclib's WGS84 geodesic for every distance that is reported.
//!
//! Why two models: the sphere (mean radius 6,371,008.8 m) is fast and exact enough to rank and
//! filter (it errs by at most 0.562 % against the geodesic: +0.561 % north–south at the
//! equator, −0.447 % near the poles), while a legal distance must not depend on it. So every
//! [`distance`] is geodesic, and callers that filter spherically widen their thresholds by
//! [`SPHERE_REL_ERROR`] and refine what falls inside the band.
//!
//! Polygon conventions (documented, tested): an edge is the shorter geodesic between its two
//! vertices, so a polygon crossing the antimeridian needs no special handling (longitudes
//! 179.9 and −179.9 are 0.2° apart); a polygon must be smaller than a hemisphere; rings given
//! open are closed by [`close_rings`] (the readers call it) while [`validate`] requires closed
//! rings; holes are not checked to lie inside their exterior.
//!
//! Point-to-polygon distance: containment on the sphere (winding number of the rings seen from
//! the point), otherwise the spherical cross-track distance to every edge; every edge whose
//! spherical distance is within the sphere's error band of the best is then refined on the
//! ellipsoid by a golden-section search along the edge's geodesic (`Geodesic::direct` to walk
//! the edge, `Geodesic::inverse` to measure), stopped when the bracket is under 1 cm. The
//! distance along an edge to a point is unimodal for edges shorter than the distance between
//! the point and the antipodes of the edge, so the search error is the bracket's: the
//! reported distance is within 1 cm of the true geodesic distance to the edge (and
//! geographiclib itself is exact to nanometres).

use std::sync::LazyLock;

use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};
use serde::{Deserialize, Serialize};

/// Mean Earth radius (IUGG R1) used by the spherical model, metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Largest relative error of a spherical distance against the WGS84 geodesic, with a little
/// headroom (measured maximum 0.561 %, research brief §4.4).
pub const SPHERE_REL_ERROR: f64 = 0.006;

/// Most vertices accepted in one geometry (all rings of all polygons together).
pub const MAX_VERTICES: usize = 1_000_000;

/// Bracket width at which the golden-section refinement along an edge stops, metres.
const EDGE_SEARCH_TOLERANCE_M: f64 = 0.01;

/// The WGS84 ellipsoid, built once (its series coefficients take a few microseconds).
static WGS84: LazyLock<Geodesic> = LazyLock::new(Geodesic::wgs84);

/// A position in WGS84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude, degrees north, −90..=90.
    pub lat: f64,
    /// Longitude, degrees east, −180..=180.
    pub lon: f64,
}

/// A polygon: one exterior ring and any holes, each ring closed (first point repeated last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    /// The outer boundary.
    pub exterior: Vec<LatLon>,
    /// Holes cut out of the exterior.
    pub holes: Vec<Vec<LatLon>>,
}

/// A facility's or a site's geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// A single position.
    Point(LatLon),
    /// One polygon (`Polygons(vec![p])`) or a multipolygon.
    Polygons(Vec<Polygon>),
}

/// What a distance was measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Measured {
    /// Point to point.
    Point,
    /// To (or between) polygon boundaries.
    Boundary,
    /// One shape lies in (or overlaps) the other: the distance is 0.
    Inside,
}

impl Measured {
    /// The name as serialized: `point`, `boundary` or `inside`.
    pub fn as_str(self) -> &'static str {
        match self {
            Measured::Point => "point",
            Measured::Boundary => "boundary",
            Measured::Inside => "inside",
        }
    }
}

/// A geodesic distance and how it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distance {
    /// Metres on the WGS84 ellipsoid.
    pub meters: f64,
    /// Point, boundary or inside.
    pub measured_from: Measured,
}

/// Why a geometry was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GeometryError {
    /// A coordinate is NaN or infinite.
    #[error("coordinate is not a finite number (lat {lat}, lon {lon})")]
    NotFinite {
        /// Latitude as given.
        lat: f64,
        /// Longitude as given.
        lon: f64,
    },
    /// Latitude outside −90..=90 or longitude outside −180..=180.
    #[error("coordinate out of range: lat {lat} (must be -90..=90), lon {lon} (must be -180..=180)")]
    OutOfRange {
        /// Latitude as given.
        lat: f64,
        /// Longitude as given.
        lon: f64,
    },
    /// No polygons, or a polygon without an exterior.
    #[error("empty geometry")]
    Empty,
    /// A ring with fewer than 4 positions (3 distinct and the closing one).
    #[error("polygon {polygon} ring {ring} has {points} positions; a closed ring needs at least 4")]
    TooFewPoints {
        /// Polygon index (0-based).
        polygon: usize,
        /// Ring index: 0 the exterior, 1.. the holes.
        ring: usize,
        /// Positions in the ring.
        points: usize,
    },
    /// A ring whose last position is not its first.
    #[error("polygon {polygon} ring {ring} is not closed (last position differs from the first)")]
    Unclosed {
        /// Polygon index (0-based).
        polygon: usize,
        /// Ring index: 0 the exterior, 1.. the holes.
        ring: usize,
    },
    /// Two edges of one ring cross or touch.
    #[error("polygon {polygon} ring {ring} intersects itself (edges {edge_a} and {edge_b})")]
    SelfIntersecting {
        /// Polygon index (0-based).
        polygon: usize,
        /// Ring index: 0 the exterior, 1.. the holes.
        ring: usize,
        /// First edge (0-based, edge i joins positions i and i+1).
        edge_a: usize,
        /// Second edge.
        edge_b: usize,
    },
    /// Two consecutive positions are antipodal, so the edge between them is undefined.
    #[error("polygon {polygon} ring {ring} edge {edge} joins antipodal positions")]
    AntipodalEdge {
        /// Polygon index (0-based).
        polygon: usize,
        /// Ring index.
        ring: usize,
        /// Edge index.
        edge: usize,
    },
    /// A polygon reaching a hemisphere or more (edges take the short way, so it is ambiguous).
    #[error("polygon {polygon} spans a hemisphere or more")]
    TooLarge {
        /// Polygon index (0-based).
        polygon: usize,
    },
    /// More vertices than [`MAX_VERTICES`].
    #[error("geometry has {count} vertices, more than the limit of {limit}")]
    TooManyVertices {
        /// Vertices in the geometry.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

/// Geodesic (WGS84) distance between two shapes: 0 and `Inside` when one contains the other
/// (or they overlap); to a polygon, the distance to its nearest boundary point.
///
/// Cost: one `Geodesic::inverse` (≈ 1 µs) for two points; for polygons a spherical pass over
/// every vertex–edge pair (O(n·m) for two polygons) and a few dozen geodesic steps per edge
/// refined. Invalid shapes give a finite but meaningless answer: [`validate`] first.
pub fn distance(a: &Shape, b: &Shape) -> Distance {
    let pa = Prepared::new(a);
    let pb = Prepared::new(b);
    let sphere = sphere_distance(&pa, &pb);
    geodesic_distance(&pa, &pb, sphere)
}

/// Great-circle distance on the sphere of mean radius [`EARTH_RADIUS_M`], metres: the fast
/// approximation (within [`SPHERE_REL_ERROR`] of the geodesic), for ranking and display only.
pub fn sphere_meters(a: LatLon, b: LatLon) -> f64 {
    angle(V3::from_latlon(a), V3::from_latlon(b)) * EARTH_RADIUS_M
}

/// Points on a geodesic circle (for rule zones in GeoJSON output), `vertices` of them (at
/// least 3), clockwise from north, not closed.
pub fn circle(center: LatLon, radius_m: f64, vertices: usize) -> Vec<LatLon> {
    let n = vertices.max(3);
    let radius = if radius_m.is_finite() {
        radius_m.max(0.0)
    } else {
        0.0
    };
    (0..n)
        .map(|i| {
            // Precision: i < n is small enough that the cast is exact.
            let azimuth = 360.0 * i as f64 / n as f64;
            let (lat, lon): (f64, f64) = WGS84.direct(center.lat, center.lon, azimuth, radius);
            LatLon {
                lat,
                lon: normalize_lon(lon),
            }
        })
        .collect()
}

/// Longitude into −180..=180.
fn normalize_lon(lon: f64) -> f64 {
    let l = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if l == -180.0 && lon > 0.0 { 180.0 } else { l }
}

/// Checks a shape: finite, in range, not empty, at most [`MAX_VERTICES`], rings closed with at
/// least 4 positions, no antipodal edge, no self-intersecting ring, each polygon smaller than a
/// hemisphere. Antimeridian crossings are fine (edges take the short way round).
pub fn validate(shape: &Shape) -> Result<(), GeometryError> {
    match shape {
        Shape::Point(p) => check_position(*p),
        Shape::Polygons(polys) => {
            if polys.is_empty() {
                return Err(GeometryError::Empty);
            }
            let count = vertex_count(shape);
            if count > MAX_VERTICES {
                return Err(GeometryError::TooManyVertices {
                    count,
                    limit: MAX_VERTICES,
                });
            }
            for (pi, poly) in polys.iter().enumerate() {
                for (ri, ring) in std::iter::once(&poly.exterior).chain(&poly.holes).enumerate() {
                    validate_ring(pi, ri, ring)?;
                }
                let prepared = PPoly::new(poly);
                if prepared.radius >= std::f64::consts::FRAC_PI_2 {
                    return Err(GeometryError::TooLarge { polygon: pi });
                }
            }
            Ok(())
        }
    }
}

/// Vertices in a shape (1 for a point).
pub fn vertex_count(shape: &Shape) -> usize {
    match shape {
        Shape::Point(_) => 1,
        Shape::Polygons(polys) => polys
            .iter()
            .map(|p| p.exterior.len() + p.holes.iter().map(Vec::len).sum::<usize>())
            .sum(),
    }
}

/// Closes every open ring (appends its first position) and drops consecutive duplicate
/// positions, which carry no edge. Readers call this before [`validate`].
pub fn close_rings(shape: &mut Shape) {
    if let Shape::Polygons(polys) = shape {
        for poly in polys {
            for ring in std::iter::once(&mut poly.exterior).chain(poly.holes.iter_mut()) {
                ring.dedup();
                if let (Some(first), Some(last)) = (ring.first().copied(), ring.last().copied())
                    && first != last
                {
                    ring.push(first);
                }
            }
        }
    }
}

fn check_position(p: LatLon) -> Result<(), GeometryError> {
    if !p.lat.is_finite() || !p.lon.is_finite() {
        return Err(GeometryError::NotFinite {
            lat: p.lat,
            lon: p.lon,
        });
    }
    if !(-90.0..=90.0).contains(&p.lat) || !(-180.0..=180.0).contains(&p.lon) {
        return Err(GeometryError::OutOfRange {
            lat: p.lat,
            lon: p.lon,
        });
    }
    Ok(())
}

fn validate_ring(polygon: usize, ring: usize, pts: &[LatLon]) -> Result<(), GeometryError> {
    for p in pts {
        check_position(*p)?;
    }
    if pts.len() < 4 {
        return Err(GeometryError::TooFewPoints {
            polygon,
            ring,
            points: pts.len(),
        });
    }
    if pts.first() != pts.last() {
        return Err(GeometryError::Unclosed { polygon, ring });
    }
    let vs: Vec<V3> = pts.iter().map(|p| V3::from_latlon(*p)).collect();
    for (edge, w) in vs.windows(2).enumerate() {
        if let [a, b] = w
            && a.dot(*b) < -1.0 + 1e-15
        {
            return Err(GeometryError::AntipodalEdge { polygon, ring, edge });
        }
    }
    if let Some((edge_a, edge_b)) = self_intersection(&vs) {
        return Err(GeometryError::SelfIntersecting {
            polygon,
            ring,
            edge_a,
            edge_b,
        });
    }
    Ok(())
}

/// The first pair of non-adjacent edges of a closed ring that cross or touch, found through an
/// R-tree of edge boxes (O(n log n) for ordinary rings rather than O(n²)).
fn self_intersection(vs: &[V3]) -> Option<(usize, usize)> {
    use rstar::{AABB, RTree, RTreeObject};
    struct E {
        i: usize,
        env: AABB<[f64; 3]>,
    }
    impl RTreeObject for E {
        type Envelope = AABB<[f64; 3]>;
        fn envelope(&self) -> Self::Envelope {
            self.env
        }
    }
    let edges: Vec<(V3, V3)> = vs
        .windows(2)
        .filter_map(|w| if let [a, b] = w { Some((*a, *b)) } else { None })
        .collect();
    let n = edges.len();
    let tree = RTree::bulk_load(
        edges
            .iter()
            .enumerate()
            .map(|(i, (a, b))| E {
                i,
                env: arc_envelope(*a, *b),
            })
            .collect(),
    );
    for (i, (a, b)) in edges.iter().enumerate() {
        if a.sub(*b).norm() == 0.0 {
            continue;
        }
        for other in tree.locate_in_envelope_intersecting(arc_envelope(*a, *b)) {
            let j = other.i;
            // Each pair once; adjacent edges share a vertex by construction (the last edge
            // ends where the first begins).
            if j <= i + 1 || (i == 0 && j + 1 == n) {
                continue;
            }
            if let Some((c, d)) = edges.get(j)
                && arcs_intersect(*a, *b, *c, *d)
            {
                return Some((i, j));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Unit-vector maths.

/// A 3-D vector; positions are unit vectors (ECEF on the unit sphere).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct V3 {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) z: f64,
}

impl V3 {
    const ZERO: V3 = V3 {
        x: 0.0,
        y: 0.0,
        z: 0.0,
    };
    pub(crate) fn from_latlon(p: LatLon) -> V3 {
        let (sl, cl) = p.lat.to_radians().sin_cos();
        let (so, co) = p.lon.to_radians().sin_cos();
        V3 {
            x: cl * co,
            y: cl * so,
            z: sl,
        }
    }
    pub(crate) fn arr(self) -> [f64; 3] {
        [self.x, self.y, self.z]
    }
    pub(crate) fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    pub(crate) fn cross(self, o: V3) -> V3 {
        V3 {
            x: self.y * o.z - self.z * o.y,
            y: self.z * o.x - self.x * o.z,
            z: self.x * o.y - self.y * o.x,
        }
    }
    pub(crate) fn sub(self, o: V3) -> V3 {
        V3 {
            x: self.x - o.x,
            y: self.y - o.y,
            z: self.z - o.z,
        }
    }
    fn add(self, o: V3) -> V3 {
        V3 {
            x: self.x + o.x,
            y: self.y + o.y,
            z: self.z + o.z,
        }
    }
    fn scale(self, k: f64) -> V3 {
        V3 {
            x: self.x * k,
            y: self.y * k,
            z: self.z * k,
        }
    }
    pub(crate) fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }
    fn normalized(self) -> Option<V3> {
        let n = self.norm();
        (n > 0.0 && n.is_finite()).then(|| self.scale(1.0 / n))
    }
}

/// Great-circle angle between two unit vectors, radians (atan2 form: accurate at all angles).
pub(crate) fn angle(a: V3, b: V3) -> f64 {
    a.cross(b).norm().atan2(a.dot(b))
}

/// Chord length of a great-circle angle on the unit sphere.
pub(crate) fn chord(angle: f64) -> f64 {
    2.0 * (angle.clamp(0.0, std::f64::consts::PI) / 2.0).sin()
}

/// Great-circle angle of a chord on the unit sphere.
pub(crate) fn angle_of_chord(chord: f64) -> f64 {
    2.0 * (chord / 2.0).clamp(0.0, 1.0).asin()
}

/// Angle from `p` to the minor arc a→b, radians.
pub(crate) fn point_arc_angle(p: V3, a: V3, b: V3) -> f64 {
    let Some(n) = a.cross(b).normalized() else {
        return angle(p, a);
    };
    // p projects inside the arc when it lies between the planes through n and a, and n and b.
    if a.cross(p).dot(n) >= 0.0 && p.cross(b).dot(n) >= 0.0 {
        p.dot(n).abs().clamp(0.0, 1.0).asin()
    } else {
        angle(p, a).min(angle(p, b))
    }
}

/// Whether `x` (on the great circle of a→b, normal `n`) lies on the minor arc a→b.
fn on_arc(x: V3, a: V3, b: V3, n: V3) -> bool {
    a.cross(x).dot(n) >= 0.0 && x.cross(b).dot(n) >= 0.0
}

/// Whether the minor arcs a→b and c→d cross or touch.
pub(crate) fn arcs_intersect(a: V3, b: V3, c: V3, d: V3) -> bool {
    let n1 = a.cross(b);
    let n2 = c.cross(d);
    let Some(i) = n1.cross(n2).normalized() else {
        // Same great circle (or a degenerate arc): they meet if an endpoint lies on the other.
        const EPS: f64 = 1e-12;
        return point_arc_angle(c, a, b) < EPS
            || point_arc_angle(d, a, b) < EPS
            || point_arc_angle(a, c, d) < EPS
            || point_arc_angle(b, c, d) < EPS;
    };
    [i, i.scale(-1.0)]
        .into_iter()
        .any(|x| on_arc(x, a, b, n1) && on_arc(x, c, d, n2))
}

/// A box holding the minor arc a→b: the endpoints' box grown by the arc's sagitta (how far the
/// arc bulges from its chord, 1 − cos(θ/2)) in every direction.
pub(crate) fn arc_envelope(a: V3, b: V3) -> rstar::AABB<[f64; 3]> {
    let sag = 1.0 - (angle(a, b) / 2.0).cos() + 1e-12;
    rstar::AABB::from_corners(
        [a.x.min(b.x) - sag, a.y.min(b.y) - sag, a.z.min(b.z) - sag],
        [a.x.max(b.x) + sag, a.y.max(b.y) + sag, a.z.max(b.z) + sag],
    )
}

/// A box holding a spherical cap (all points within `radius` of `center`): the ball of the
/// cap's chord radius around its centre.
pub(crate) fn cap_envelope(center: V3, radius: f64) -> rstar::AABB<[f64; 3]> {
    let r = chord(radius) + 1e-12;
    rstar::AABB::from_corners(
        [center.x - r, center.y - r, center.z - r],
        [center.x + r, center.y + r, center.z + r],
    )
}

// ---------------------------------------------------------------------------------------------
// Prepared shapes.

/// A position with its unit vector.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vertex {
    pub(crate) v: V3,
    pub(crate) ll: LatLon,
}

/// A polygon's rings (0 the exterior) as closed vertex lists, and its bounding cap.
#[derive(Debug, Clone)]
pub(crate) struct PPoly {
    pub(crate) rings: Vec<Vec<Vertex>>,
    pub(crate) center: V3,
    pub(crate) radius: f64,
}

impl PPoly {
    fn new(p: &Polygon) -> PPoly {
        let rings: Vec<Vec<Vertex>> = std::iter::once(&p.exterior)
            .chain(&p.holes)
            .map(|r| {
                r.iter()
                    .map(|ll| Vertex {
                        v: V3::from_latlon(*ll),
                        ll: *ll,
                    })
                    .collect()
            })
            .collect();
        let ext = rings.first().map(Vec::as_slice).unwrap_or_default();
        let sum = ext.iter().fold(V3::ZERO, |s, v| s.add(v.v));
        let center = sum
            .normalized()
            .or_else(|| ext.first().map(|v| v.v))
            .unwrap_or(V3 {
                x: 0.0,
                y: 0.0,
                z: 1.0,
            });
        // The cap must hold the edges, not just the vertices: an edge's farthest point from
        // the centre is an endpoint unless the edge passes round the far side, which the
        // hemisphere limit excludes; the edge midpoint is added as a cheap guard.
        let mut radius: f64 = 0.0;
        for w in ext.windows(2) {
            if let [a, b] = w {
                radius = radius.max(angle(center, a.v));
                if let Some(m) = a.v.add(b.v).normalized() {
                    radius = radius.max(angle(center, m));
                }
            }
        }
        if let Some(a) = ext.first() {
            radius = radius.max(angle(center, a.v));
        }
        PPoly {
            rings,
            center,
            radius,
        }
    }

    /// Whether `p` lies inside the polygon (in the exterior, not in a hole).
    pub(crate) fn contains(&self, p: V3) -> bool {
        if angle(self.center, p) > self.radius + 1e-12 {
            return false;
        }
        let mut rings = self.rings.iter();
        match rings.next() {
            Some(ext) if ring_contains(ext, p) => !rings.any(|h| ring_contains(h, p)),
            _ => false,
        }
    }

    fn edges(&self) -> impl Iterator<Item = (Vertex, Vertex)> + '_ {
        self.rings.iter().flat_map(|r| {
            r.windows(2)
                .filter_map(|w| if let [a, b] = w { Some((*a, *b)) } else { None })
        })
    }
}

/// Winding-number test on the sphere: the signed angles the ring's edges subtend at `p` (seen
/// in `p`'s tangent plane) add up to ±2π when the ring goes round `p` and to 0 otherwise,
/// whatever the ring's orientation and wherever the antimeridian is.
fn ring_contains(ring: &[Vertex], p: V3) -> bool {
    let mut total = 0.0;
    for w in ring.windows(2) {
        if let [a, b] = w {
            let y = p.dot(a.v.cross(b.v));
            let x = a.v.dot(b.v) - a.v.dot(p) * b.v.dot(p);
            total += y.atan2(x);
        }
    }
    total.abs() > std::f64::consts::PI
}

/// A shape ready for repeated distance computations.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) point: Option<Vertex>,
    pub(crate) polys: Vec<PPoly>,
    /// Centre and angular radius of a cap holding the whole shape.
    pub(crate) center: V3,
    pub(crate) radius: f64,
}

impl Prepared {
    pub(crate) fn new(shape: &Shape) -> Prepared {
        match shape {
            Shape::Point(p) => {
                let v = V3::from_latlon(*p);
                Prepared {
                    point: Some(Vertex { v, ll: *p }),
                    polys: Vec::new(),
                    center: v,
                    radius: 0.0,
                }
            }
            Shape::Polygons(ps) => {
                let polys: Vec<PPoly> = ps.iter().map(PPoly::new).collect();
                let sum = polys.iter().fold(V3::ZERO, |s, p| s.add(p.center));
                let center = sum.normalized().unwrap_or(V3 {
                    x: 0.0,
                    y: 0.0,
                    z: 1.0,
                });
                let radius = polys
                    .iter()
                    .map(|p| angle(center, p.center) + p.radius)
                    .fold(0.0, f64::max)
                    .min(std::f64::consts::PI);
                Prepared {
                    point: None,
                    polys,
                    center,
                    radius,
                }
            }
        }
    }

    /// The shape's vertices (for a point, the point).
    fn vertices(&self) -> impl Iterator<Item = Vertex> + '_ {
        self.point.into_iter().chain(
            self.polys
                .iter()
                .flat_map(|p| p.rings.iter().flat_map(|r| r.iter().copied())),
        )
    }

    /// The shape's boundary pieces: edges, or for a point one degenerate edge.
    fn edges(&self) -> impl Iterator<Item = (Vertex, Vertex)> + '_ {
        self.point
            .map(|v| (v, v))
            .into_iter()
            .chain(self.polys.iter().flat_map(PPoly::edges))
    }

    /// Whether the shape covers the position.
    fn contains(&self, p: V3) -> bool {
        self.polys.iter().any(|poly| poly.contains(p))
    }
}

/// Spherical distance between prepared shapes: radians and what it was measured from.
pub(crate) fn sphere_distance(a: &Prepared, b: &Prepared) -> (f64, Measured) {
    if let (Some(p), Some(q)) = (a.point, b.point) {
        return (angle(p.v, q.v), Measured::Point);
    }
    if overlaps(a, b) {
        return (0.0, Measured::Inside);
    }
    let best = pairs(a, b).map(|(_, _, ang)| ang).fold(f64::INFINITY, f64::min);
    (best, Measured::Boundary)
}

/// Whether two shapes (one at least a polygon) share any point.
fn overlaps(a: &Prepared, b: &Prepared) -> bool {
    // A vertex of one inside the other covers containment both ways; crossing edges cover
    // overlaps with no vertex inside.
    if a.vertices().any(|v| b.contains(v.v)) || b.vertices().any(|v| a.contains(v.v)) {
        return true;
    }
    if a.polys.is_empty() || b.polys.is_empty() || angle(a.center, b.center) > a.radius + b.radius {
        return false;
    }
    a.polys.iter().flat_map(PPoly::edges).any(|(p, q)| {
        b.polys
            .iter()
            .flat_map(PPoly::edges)
            .any(|(r, s)| arcs_intersect(p.v, q.v, r.v, s.v))
    })
}

/// Every (vertex, edge, spherical angle) between the two shapes' boundaries, both ways round.
fn pairs<'s>(a: &'s Prepared, b: &'s Prepared) -> impl Iterator<Item = (Vertex, (Vertex, Vertex), f64)> + 's {
    let one = |x: &'s Prepared, y: &'s Prepared| {
        x.vertices()
            .flat_map(move |v| y.edges().map(move |e| (v, e, point_arc_angle(v.v, e.0.v, e.1.v))))
    };
    // A point needs only its vertex against the polygon's edges (its degenerate edge adds
    // nothing against the polygon's vertices); two polygons need both ways round.
    let ab = !(a.point.is_none() && b.point.is_some());
    let ba = a.point.is_none();
    one(a, b)
        .take(if ab { usize::MAX } else { 0 })
        .chain(one(b, a).take(if ba { usize::MAX } else { 0 }))
}

/// Factor by which a spherical distance may exceed the best one and still belong to the
/// geodesically nearest: (1 + e) / (1 − e).
pub(crate) fn rank_factor() -> f64 {
    (1.0 + SPHERE_REL_ERROR) / (1.0 - SPHERE_REL_ERROR)
}

/// Absolute slack, radians (10 cm), for ties and rounding at tiny distances.
pub(crate) const ANGLE_SLACK: f64 = 0.1 / EARTH_RADIUS_M;

/// The geodesic distance, given the spherical one: refines every vertex–edge pair whose
/// spherical distance could make it the geodesic minimum.
pub(crate) fn geodesic_distance(a: &Prepared, b: &Prepared, sphere: (f64, Measured)) -> Distance {
    match sphere {
        (_, Measured::Inside) => Distance {
            meters: 0.0,
            measured_from: Measured::Inside,
        },
        (_, Measured::Point) => match (a.point, b.point) {
            (Some(p), Some(q)) => Distance {
                meters: inverse(p.ll, q.ll),
                measured_from: Measured::Point,
            },
            _ => Distance {
                meters: sphere.0 * EARTH_RADIUS_M,
                measured_from: Measured::Point,
            },
        },
        (best, Measured::Boundary) => {
            let limit = best * rank_factor() + ANGLE_SLACK;
            let meters = pairs(a, b)
                .filter(|(_, _, ang)| *ang <= limit)
                .map(|(v, (e0, e1), _)| point_edge_geodesic(v.ll, e0.ll, e1.ll))
                .fold(f64::INFINITY, f64::min);
            Distance {
                meters,
                measured_from: Measured::Boundary,
            }
        }
    }
}

/// Geodesic distance between two positions, metres.
pub(crate) fn inverse(a: LatLon, b: LatLon) -> f64 {
    WGS84.inverse(a.lat, a.lon, b.lat, b.lon)
}

/// Geodesic distance from `p` to the geodesic edge a→b, by golden-section search along the
/// edge (see the module notes for the bound).
pub(crate) fn point_edge_geodesic(p: LatLon, a: LatLon, b: LatLon) -> f64 {
    let (len, azi, _, _): (f64, f64, f64, f64) = WGS84.inverse(a.lat, a.lon, b.lat, b.lon);
    let ends = inverse(p, a).min(inverse(p, b));
    if len.is_nan() || len <= EDGE_SEARCH_TOLERANCE_M {
        return ends;
    }
    let at = |s: f64| {
        let (lat, lon): (f64, f64) = WGS84.direct(a.lat, a.lon, azi, s);
        inverse(p, LatLon { lat, lon })
    };
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (0.0, len);
    let mut x1 = hi - g * (hi - lo);
    let mut x2 = lo + g * (hi - lo);
    let (mut f1, mut f2) = (at(x1), at(x2));
    // Each step shrinks the bracket by 0.618; 200 steps bound the loop whatever the input.
    for _ in 0..200 {
        if hi - lo <= EDGE_SEARCH_TOLERANCE_M {
            break;
        }
        if f1 <= f2 {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = at(x1);
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = at(x2);
        }
    }
    ends.min(f1).min(f2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    #[test]
    fn chord_and_angle_round_trip() {
        for a in [0.0, 1e-7, 0.01, 1.0, 3.0] {
            assert!((angle_of_chord(chord(a)) - a).abs() < 1e-9, "{a}");
        }
    }

    #[test]
    fn normalize_lon_wraps() {
        assert_eq!(normalize_lon(181.0), -179.0);
        assert_eq!(normalize_lon(-181.0), 179.0);
        assert_eq!(normalize_lon(180.0), 180.0);
        assert_eq!(normalize_lon(10.0), 10.0);
    }

    #[test]
    fn point_on_edge_is_at_zero() {
        let d = point_edge_geodesic(ll(0.0, 0.5), ll(0.0, 0.0), ll(0.0, 1.0));
        assert!(d < 0.01, "{d}");
    }

    #[test]
    fn close_rings_closes_and_dedups() {
        let mut s = Shape::Polygons(vec![Polygon {
            exterior: vec![ll(0.0, 0.0), ll(0.0, 1.0), ll(0.0, 1.0), ll(1.0, 1.0)],
            holes: vec![],
        }]);
        close_rings(&mut s);
        let Shape::Polygons(p) = &s else {
            panic!("shape kind changed")
        };
        assert_eq!(
            p[0].exterior,
            vec![ll(0.0, 0.0), ll(0.0, 1.0), ll(1.0, 1.0), ll(0.0, 0.0)]
        );
        assert_eq!(validate(&s), Ok(()));
    }
}
