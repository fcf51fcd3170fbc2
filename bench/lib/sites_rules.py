#!/usr/bin/env python3
"""hashward's siting rules, read from the checkout being benchmarked, for the GeoPandas side.

  sites_rules.py RULES_DIR [--out RULES.json]

Reads `RULES_DIR/*.toml` (hashward's `rules/siting/`) with tomllib and writes the rules in force
on the assessment date in the form `sites_geopandas.py` evaluates (see `normalise`): CFIUS
zones, state distance laws, infrastructure distances and the screening margin, grid thresholds.
The semantics mirror hashward's crates/sites/src/assess.rs; the distances, countries, dates and
thresholds come from the files, so the benchmark follows the data.

The module also holds what both sides must name alike: the layer name (`layer_name`), the
layer category (`classify_layer`) and the site identifier (`site_ids`).
"""

import argparse
import datetime
import glob
import json
import os
import sys
import tomllib


# ----------------------------------------------------------------------------- naming
def layer_name(path):
    """The layer as hashward names it in `nearest[].layer` and `rules[].layer`: the file name."""
    return os.path.basename(path)


def classify_layer(path, columns):
    """The layer category from the file's own fields (as hashward's importers recognise them)."""
    cols = set(columns)
    if "isFirrmaSite" in cols or "siteName" in cols:
        return "military_installation"
    if "gppd_idnr" in cols or "capacity_mw" in cols or "primary_fuel" in cols:
        return "power_plant"
    if "sqft" in cols or "state_abb" in cols:
        return "data_center"
    raise SystemExit(f"sites_rules.py: cannot tell the category of layer {path} from its fields")


def site_ids(category, gdf):
    """(site id, site name) arrays for a layer, as hashward's importers name them
    (crates/sites/src/layer.rs): MIRTA `mirta-OBJECTID` (name siteName, else featureName), IM3
    `im3-N` with N the 1-based feature number (name, else operator), WRI `gppd_idnr` (name)."""
    import numpy as np  # noqa: PLC0415

    def names(*cols):
        out = np.array([""] * len(gdf), dtype=object)
        filled = np.zeros(len(gdf), dtype=bool)
        for c in cols:
            if c not in gdf.columns:
                continue
            v = gdf[c].to_numpy(dtype=object)
            ok = ~filled & np.array([x is not None and x == x and str(x).strip() != "" for x in v], dtype=bool)
            out[ok] = [str(x).strip() for x in v[ok]]
            filled |= ok
        return out, filled

    if category == "military_installation":
        sid = np.array(["mirta-" + str(int(x)) for x in gdf["OBJECTID"].to_numpy()], dtype=object)
        name, ok = names("siteName", "featureName")
    elif category == "power_plant":
        sid = gdf["gppd_idnr"].astype(str).str.strip().to_numpy(dtype=object)
        name, ok = names("name")
    else:
        sid = np.array([f"im3-{i + 1}" for i in gdf["_row"].to_numpy()], dtype=object)
        name, ok = names("name", "operator")
    name[~ok] = sid[~ok]
    return sid, name


# ----------------------------------------------------------------------------- rules
def load_toml(rules_dir, name):
    path = os.path.join(rules_dir, name)
    if not os.path.exists(path):
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


def in_force(item, date):
    """status in_force and effective (when given) on or before `date` (YYYY-MM-DD strings)."""
    if item.get("status", "in_force") != "in_force":
        return False
    eff = item.get("effective")
    return eff is None or str(eff) <= date


def normalise(rules_dir, date):
    """The rules in force on `date`, as sites_geopandas.py evaluates them (hashward's
    crates/sites/src/assess.rs semantics):

    * cfius.zones: zones applying to installations listed with an unknown part (MIRTA
      `isFirrmaSite = yes`), sorted by distance. Owners: not for domestic or excepted countries
      (an unknown country is checked). Per listed site: d <= limit is the zone's finding; within
      limit + margin (point sites) it is SITE-007; a certain hit in a smaller zone ends the site's
      zones; urban facilities skip zones with urban_exception; at most `max_hits` per zone and
      facility, nearest first.
    * states: distance laws in force for the facility's `state`; owners `any`, or `listed` with
      the owner's country in the list (an unknown country applies; an empty list is only a
      note). One hit per law: the nearest certain site over its categories (military sites get
      the margin and can give SITE-007 when none is certain), with the count of certain sites.
    * infrastructure: per category, the nearest site within the distance and the count.
    * grid: thresholds of the facility's `region` reached by its load (co-located: the
      co-located threshold where the rule has one).
    """
    cfius = load_toml(rules_dir, "cfius.toml")
    infra = load_toml(rules_dir, "infrastructure.toml")
    states = load_toml(rules_dir, "states.toml")
    grid = load_toml(rules_dir, "grid.toml")
    fp = cfius.get("foreign_person") or {}
    zones = [{"id": z["id"], "finding": z["finding"], "cite": z.get("cite"), "limit_m": float(z["distance_m"]),
              "urban_exception": bool(z.get("urban_exception"))}
             for z in cfius.get("zone", []) if in_force(z, date) and z.get("listed_part_unknown")]
    zones.sort(key=lambda z: z["limit_m"])
    skipped = [f"{z['id']} ({z['finding']}): only installations of parts {z.get('parts')}; the MIRTA layer has no part"
               for z in cfius.get("zone", []) if in_force(z, date) and not z.get("listed_part_unknown")]
    laws = []
    for law in states.get("law", []):
        if law.get("kind") != "distance" or not in_force(law, date) or law.get("distance_m") is None:
            continue
        if law.get("owners") == "listed" and not law.get("owner_countries"):
            continue
        laws.append({"id": law["id"], "jurisdiction": law["jurisdiction"].upper(), "cite": law.get("cite"),
                     "limit_m": float(law["distance_m"]), "categories": list(law.get("site_categories", [])),
                     "owners": law.get("owners", "listed"),
                     "owner_countries": [c.upper() for c in law.get("owner_countries", [])]})
    thresholds = [{"id": t["id"], "region": t["region"], "threshold_mw": float(t["threshold_mw"]),
                   "colocated_threshold_mw": t.get("colocated_threshold_mw")}
                  for t in grid.get("threshold", []) if in_force(t, date)]
    doc = {
        "source": os.path.abspath(rules_dir),
        "date": date,
        "files": sorted(os.path.basename(p) for p in glob.glob(os.path.join(rules_dir, "*.toml"))),
        "default_margin_m": float((infra.get("screening") or {}).get("default_margin_m", 0.0)),
        "cfius": {"domestic_countries": [c.upper() for c in fp.get("domestic_countries", ["US"])],
                  "excepted_countries": [e["code"].upper() for e in cfius.get("excepted_country", [])],
                  "zones": zones, "max_hits": 20, "listed_field": {"isFirrmaSite": "yes"}},
        "states": laws,
        "infrastructure": [{"name": c["name"], "limit_m": float(c["distance_m"])} for c in infra.get("category", [])],
        "grid": thresholds,
        "not_evaluated": skipped + ["SITE-003 (part 3 counties, part 4 ranges): the facilities carry no county and "
                                    "the layers no area polygons"],
    }
    # What sites_compare.py needs: which rule ids exist, and which give one hit per facility.
    per_site = {z["id"] for z in zones}
    single = ({"infrastructure-" + c["name"] for c in doc["infrastructure"]} | {law["id"] for law in laws}
              | {t["id"] for t in thresholds})
    doc["rule_ids"] = {"per_site": sorted(per_site), "one_per_facility": sorted(single)}
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rules_dir")
    ap.add_argument("--out")
    ap.add_argument("--date", default=datetime.date.today().isoformat(),
                    help="assessment date, YYYY-MM-DD (default today, as hashward)")
    a = ap.parse_args()
    if not os.path.isdir(a.rules_dir):
        raise SystemExit(f"sites_rules.py: no rules directory {a.rules_dir}")
    doc = normalise(a.rules_dir, a.date)
    text = json.dumps(doc, indent=1)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    for z in doc["cfius"]["zones"]:
        print(f"  CFIUS {z['finding']} {z['id']}: listed military sites, d <= {z['limit_m']:.1f} m "
              f"(+ {doc['default_margin_m']:.0f} m screening, SITE-007)", file=sys.stderr)
    for law in doc["states"]:
        print(f"  SITE-004 {law['id']}: {law['jurisdiction']}, {', '.join(law['categories'])} within "
              f"{law['limit_m']:.1f} m, owners {law['owners']} {' '.join(law['owner_countries'])}", file=sys.stderr)
    for c in doc["infrastructure"]:
        print(f"  SITE-005 infrastructure-{c['name']}: within {c['limit_m']:.1f} m", file=sys.stderr)
    for t in doc["grid"]:
        print(f"  SITE-006 {t['id']}: {t['region']} load >= {t['threshold_mw']} MW "
              f"(co-located {t['colocated_threshold_mw']})", file=sys.stderr)
    for n in doc["not_evaluated"]:
        print(f"  not evaluated: {n}", file=sys.stderr)


if __name__ == "__main__":
    main()
