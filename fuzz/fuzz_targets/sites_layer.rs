//! Site layers (GeoJSON, CSV, FlatGeobuf, and the MIRTA/IM3/WRI importers) over hostile bytes;
//! whatever is read is indexed and queried, so geometry from the input reaches the index too.

#![no_main]

use hashward_sites::geo::{LatLon, Shape};
use hashward_sites::index::SiteIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(layer) = hashward_sites::layer::read_layer("fuzz", data) else {
        return;
    };
    let shapes: Vec<Shape> = layer.sites.iter().map(|s| s.shape.clone()).collect();
    let index = SiteIndex::build(&shapes);
    let q = Shape::Point(LatLon {
        lat: 41.16,
        lon: -104.86,
    });
    let _ = index.nearest(&q);
    let _ = index.within(&q, 160_934.4);
    if let Some(first) = shapes.first() {
        let _ = index.count_within(first, 1_609.344);
        let _ = hashward_sites::geo::distance(first, &q);
    }
});
