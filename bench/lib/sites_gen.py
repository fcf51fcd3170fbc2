#!/usr/bin/env python3
"""Synthetic facilities for bench/sites.sh (standard library only, deterministic).

  sites_gen.py --testdata DIR --count N [--seed S] --geojson OUT.geojson [--csv OUT.csv]
               [--summary OUT.json]

Writes N facilities in hashward's input contract (docs: ARCHITECTURE.md "Input contract"):
`id`, `name`, `owner`, `owner_country`, `urban`, `load_mw`, and where known `state`, `region`,
`colocated`; a point geometry (CSV: `lat`, `lon`). Same seed, count and shared layers: the same files, byte for byte.

The mix exercises every verdict of the siting rules on the shared layers:

| share | placement |
|---|---|
| 55 % | uniform over the CONUS box (24.5-49.5 N, 124.7-67 W; ocean, Canada and Mexico included) |
| 6 % | inside 1 mile of a MIRTA `isFirrmaSite` point (0-1,550 m) |
| 6 % | 1 mile +- 20 m of such a point (1,589-1,629 m: the threshold, both sides) |
| 8 % | 1 mile to 12 miles of such a point (the screening margin band, inside and outside) |
| 4 % | 100 miles +- 3 km of such a point |
| 3 % | within 0-20 miles of a MIRTA point that is not a FIRRMA site |
| 9 % | 0-20 km of a power plant |
| 9 % | 0-20 km of a data center |

Placed facilities are anchored only on sites inside the CONUS box (not Alaska, Hawaii or the
territories), so every facility lies within about 23-51 N. Placement walks the stated distance on the sphere (R = 6,371,008.8 m) at a random azimuth, so
the WGS84 geodesic distance differs from it by up to 0.56 % (9 m at 1 mile): the tools measure
the distance themselves; the placement only has to land near the thresholds, on both sides.
Owner countries are a mix of CN, US, GB, RU, CA, AU, NZ, IR, KP, DE, JP, SG, VE, CU (excepted
Five-Eyes investors and state-law countries of concern alike); loads 1-200 MW (0.1 MW steps);
a quarter of the facilities are urban. Facilities placed around a MIRTA point or a data
center carry that site's `state` (a declared attribute, for the state-law rules; the uniform and
power-plant ones have none); those in TX carry `region = "ERCOT"` (grid thresholds), a fifth of
them `colocated = true`, as are power-plant placements within 2 km of the plant. Coordinates are rounded to 1e-6 degree (about 0.1 m) in
both files, so hashward and GeoPandas read the same points from either.
"""

import argparse
import csv
import json
import math
import os
import random
import sys

R_MEAN = 6371008.8
MILE = 1609.344

COUNTRIES = [  # (code, weight)
    ("US", 30), ("CN", 18), ("GB", 6), ("RU", 6), ("CA", 6), ("AU", 4), ("NZ", 2), ("IR", 4),
    ("KP", 2), ("DE", 6), ("JP", 6), ("SG", 4), ("VE", 3), ("CU", 3),
]

# (kind, share in per-mille)
MIX = [
    ("uniform", 550),
    ("firrma-inside", 60),
    ("firrma-threshold", 60),
    ("firrma-margin", 80),
    ("firrma-100mi", 40),
    ("mirta-other", 30),
    ("power-plant", 90),
    ("data-center", 90),
]


def load_points_geojson(path):
    with open(path, encoding="utf-8") as f:
        fc = json.load(f)
    out = []
    for feat in fc["features"]:
        g = feat.get("geometry") or {}
        if g.get("type") != "Point":
            continue
        lon, lat = g["coordinates"][:2]
        out.append((float(lat), float(lon), feat.get("properties") or {}))
    return out


def load_points_csv(path):
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                lat, lon = float(row["latitude"]), float(row["longitude"])
            except (KeyError, ValueError):
                continue
            out.append((lat, lon, row))
    return out


def destination(lat, lon, dist_m, azimuth_deg):
    """The point `dist_m` from (lat, lon) along `azimuth_deg` on the sphere."""
    d = dist_m / R_MEAN
    th = math.radians(azimuth_deg)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(th))
    l2 = l1 + math.atan2(math.sin(th) * math.sin(d) * math.cos(p1),
                         math.cos(d) - math.sin(p1) * math.sin(p2))
    lon2 = (math.degrees(l2) + 540.0) % 360.0 - 180.0
    return math.degrees(p2), lon2


def weighted(rng, items):
    total = sum(w for _, w in items)
    x = rng.random() * total
    for item, w in items:
        x -= w
        if x < 0:
            return item
    return items[-1][0]


def in_conus(p):
    return 24.5 <= p[0] <= 49.5 and -124.7 <= p[1] <= -67.0


def generate(testdata, count, seed):
    # Only sites inside the CONUS box anchor placed facilities (not Alaska, Hawaii, the
    # territories): every facility stays within about 23-51 N, where EPSG:5070 is valid.
    mirta = [p for p in load_points_geojson(os.path.join(testdata, "mirta-dod-sites-points.geojson")) if in_conus(p)]
    firrma = [p for p in mirta if str(p[2].get("isFirrmaSite", "")).lower() == "yes"]
    other = [p for p in mirta if str(p[2].get("isFirrmaSite", "")).lower() != "yes"]
    dcs = [p for p in load_points_geojson(os.path.join(testdata, "im3-datacenter-centroids.geojson")) if in_conus(p)]
    plants = [p for p in load_points_csv(os.path.join(testdata, "wri-gppd-usa-power-plants.csv")) if in_conus(p)]
    if not (firrma and other and dcs and plants):
        raise SystemExit("sites_gen.py: a shared layer is empty or missing under " + testdata)

    rng = random.Random(seed)
    kinds = [(k, w) for k, w in MIX]
    facilities = []
    counts = {k: 0 for k, _ in MIX}
    for i in range(count):
        kind = weighted(rng, kinds)
        counts[kind] += 1
        state = ""
        dist = None
        if kind == "uniform":
            lat = 24.5 + rng.random() * 25.0
            lon = -124.7 + rng.random() * 57.7
        else:
            if kind == "firrma-inside":
                src, dist = firrma, rng.random() * 1550.0
            elif kind == "firrma-threshold":
                src, dist = firrma, MILE - 20.0 + rng.random() * 40.0
            elif kind == "firrma-margin":
                src, dist = firrma, MILE + rng.random() * 11.0 * MILE
            elif kind == "firrma-100mi":
                src, dist = firrma, 100.0 * MILE - 3000.0 + rng.random() * 6000.0
            elif kind == "mirta-other":
                src, dist = other, rng.random() * 20.0 * MILE
            elif kind == "power-plant":
                src, dist = plants, rng.random() * 20000.0
            else:
                src, dist = dcs, rng.random() * 20000.0
            site = src[int(rng.random() * len(src))]
            lat, lon = destination(site[0], site[1], dist, rng.random() * 360.0)
            props = site[2]
            state = str(props.get("stateNameCode") or props.get("state_abb") or "").strip().upper()
        country = weighted(rng, COUNTRIES)
        load = round(1.0 + rng.random() * 199.0, 1)
        urban = rng.random() < 0.25
        colocated = (kind == "power-plant" and dist < 2000.0) or (state == "TX" and rng.random() < 0.2)
        n = i + 1
        facilities.append({
            "id": f"F{n:06d}",
            "name": f"Facility {n} ({kind})",
            "owner": f"Owner {1 + int(rng.random() * 5000)} ({country})",
            "owner_country": country,
            "urban": urban,
            "load_mw": load,
            "state": state,
            "region": "ERCOT" if state == "TX" else "",
            "colocated": colocated,
            "lat": round(lat, 6),
            "lon": round(lon, 6),
        })
    return facilities, counts


def write_geojson(path, facilities):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write('{"type":"FeatureCollection","features":[\n')
        for i, fa in enumerate(facilities):
            props = {k: fa[k] for k in ("id", "name", "owner", "owner_country", "urban", "load_mw")}
            for k in ("state", "region"):
                if fa[k]:
                    props[k] = fa[k]
            if fa["colocated"]:
                props["colocated"] = True
            feat = {"type": "Feature", "properties": props,
                    "geometry": {"type": "Point", "coordinates": [fa["lon"], fa["lat"]]}}
            f.write(("," if i else "") + json.dumps(feat, separators=(",", ":")) + "\n")
        f.write("]}\n")
    os.replace(tmp, path)


def write_csv(path, facilities):
    tmp = path + ".tmp"
    cols = ["id", "name", "owner", "owner_country", "urban", "load_mw", "state", "region", "colocated", "lat", "lon"]
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for fa in facilities:
            w.writerow([("true" if fa[c] else "false") if c in ("urban", "colocated") else fa[c] for c in cols])
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--testdata", required=True, help="directory holding the shared sites layers")
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--geojson", required=True)
    ap.add_argument("--csv")
    ap.add_argument("--summary", help="write the placement counts as JSON")
    a = ap.parse_args()
    if a.count < 1:
        ap.error("--count must be positive")
    facilities, counts = generate(a.testdata, a.count, a.seed)
    write_geojson(a.geojson, facilities)
    if a.csv:
        write_csv(a.csv, facilities)
    summary = {"count": a.count, "seed": a.seed, "placement": counts,
               "owner_country": {}, "urban": sum(1 for f in facilities if f["urban"])}
    for f in facilities:
        summary["owner_country"][f["owner_country"]] = summary["owner_country"].get(f["owner_country"], 0) + 1
    if a.summary:
        with open(a.summary, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
    print(json.dumps(summary, sort_keys=True), file=sys.stderr)


if __name__ == "__main__":
    main()
