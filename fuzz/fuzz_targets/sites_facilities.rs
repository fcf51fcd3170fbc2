//! Facilities (GeoJSON features or CSV rows, fleets as JSON lists) over hostile bytes; each
//! facility read is measured against a small fixed layer of a point and a polygon.

#![no_main]

use hashward_sites::geo::{LatLon, Polygon, Shape};
use hashward_sites::index::SiteIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = hashward_sites::facility::read_facilities(data) else {
        return;
    };
    let ll = |lat, lon| LatLon { lat, lon };
    let sites = [
        Shape::Point(ll(41.16, -104.86)),
        Shape::Polygons(vec![Polygon {
            exterior: vec![
                ll(31.0, -97.0),
                ll(31.0, -96.9),
                ll(31.1, -96.9),
                ll(31.1, -97.0),
                ll(31.0, -97.0),
            ],
            holes: Vec::new(),
        }]),
    ];
    let index = SiteIndex::build(&sites);
    for facility in f.facilities.iter().take(64) {
        let _ = index.nearest(&facility.shape);
        let _ = index.within(&facility.shape, 16_093.44);
    }
});
