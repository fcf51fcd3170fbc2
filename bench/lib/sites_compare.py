#!/usr/bin/env python3
"""hashward's `sites assess` JSON against the GeoPandas verdicts (standard library only).

  sites_compare.py HASHWARD.json|HASHWARD.jsonl GEOPANDAS.json --rules RULES.json [--summary OUT.json]
                   [--tolerance 0.001] [--show 20]

Both files hold `result.facilities[]` with `id`, `nearest[]` (`layer`, `site`, `distance_m`)
and `rules[]` (`rule`, `layer`, `site`, `distance_m`). Checks:

* the same facility ids and the same number of sites read per layer;
* **nearest**: per facility and layer, the distances agree within the tolerance (relative,
  0.1 %; 1 cm absolute near zero). The site ids are not compared when the distances agree: two
  sites at the same distance are both right (coincident points are common in the layers). A
  different site at an agreeing distance is counted as a tie;
* **verdicts** (`rules[]`): per facility, for the CFIUS zones (one hit per installation) the
  set of (finding, rule, layer, site) is equal; for the rules with one hit per facility
  (infrastructure-*, state laws, grid thresholds) the set of (finding, rule) is equal, and the
  site is compared by distance (ties), with `count` (sites in range) and `threshold_mw` equal.
  Each verdict's distance agrees within the tolerance. Rules hashward raised that RULES.json
  does not know are counted and listed as not compared (none are expected);
* the same assessment date (laws in force on it).

Prints the counts, the first `--show` mismatches of each kind, and exits 1 on any mismatch
(0 when everything agrees; 2 on unreadable input).
"""

import argparse
import collections
import json
import os
import sys


def load_lines(f):
    """hashward's --format jsonl: item lines rebuild result.facilities and result.layers, the
    result line its date."""
    res = {"facilities": [], "layers": []}
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec.get("type") == "item" and rec.get("key") in res:
            res[rec["key"]].append(rec.get("item"))
        elif rec.get("type") == "result":
            res.update((k, v) for k, v in (rec.get("result") or {}).items() if k not in res)
    return {"result": res}


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
            f.seek(0)
            try:
                lines = json.loads(first).get("type") == "run"
            except ValueError:
                lines = False
            doc = load_lines(f) if lines else json.load(f)
    except (OSError, ValueError, AttributeError) as e:
        print(f"sites_compare.py: cannot read {path}: {e}", file=sys.stderr)
        sys.exit(2)
    res = doc.get("result", doc)
    facs = res.get("facilities")
    if not isinstance(facs, list):
        print(f"sites_compare.py: {path} has no result.facilities[]", file=sys.stderr)
        sys.exit(2)
    return doc, facs


def lname(v):
    return os.path.basename(str(v or ""))


def agree(a, b, tol):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= max(tol * max(abs(a), abs(b)), 0.01)


def rel(a, b):
    """Relative difference, for the summary: 0 below 1 m (where the 1 cm floor decides)."""
    if a is None or b is None:
        return float("inf")
    m = max(abs(a), abs(b))
    return 0.0 if m < 1.0 else abs(a - b) / m


def compare(hw, gp, per_site, single, tol):
    out = {"facilities": {"hashward": len(hw), "geopandas": len(gp)}, "mismatches": [],
           "nearest": collections.Counter(), "rules": {}, "not_compared": collections.Counter(),
           "max_rel_nearest": 0.0, "max_rel_verdict": 0.0}
    mism = out["mismatches"]
    H = {str(f.get("id")): f for f in hw}
    G = {str(f.get("id")): f for f in gp}
    for i in sorted(set(H) - set(G)):
        mism.append(("facility", i, "only in hashward's output"))
    for i in sorted(set(G) - set(H)):
        mism.append(("facility", i, "only in GeoPandas's output"))
    per_rule = collections.defaultdict(collections.Counter)
    for fid in sorted(set(H) & set(G)):
        h, g = H[fid], G[fid]
        hn = {lname(n.get("layer")): n for n in h.get("nearest") or []}
        gn = {lname(n.get("layer")): n for n in g.get("nearest") or []}
        for layer in sorted(set(hn) | set(gn)):
            a, b = hn.get(layer), gn.get(layer)
            if a is None or b is None:
                out["nearest"]["missing"] += 1
                mism.append(("nearest", fid, f"{layer}: only in {'GeoPandas' if a is None else 'hashward'}"))
                continue
            da, db = a.get("distance_m"), b.get("distance_m")
            r = rel(da, db)
            if agree(da, db, tol):
                out["max_rel_nearest"] = max(out["max_rel_nearest"], r if r != float("inf") else 0)
                same = str(a.get("site")) == str(b.get("site"))
                out["nearest"]["agree" if same else "agree (tie: another site at the same distance)"] += 1
            else:
                out["nearest"]["differ"] += 1
                mism.append(("nearest", fid, f"{layer}: hashward {a.get('site')} ({a.get('site_name')}) at "
                             f"{da} m, GeoPandas {b.get('site')} ({b.get('site_name')}) at {db} m"))
        hv, gv = {}, {}
        for src, dst, who in ((h, hv, "hashward"), (g, gv, "geopandas")):
            for v in src.get("rules") or []:
                rid = v.get("rule")
                if rid in single:
                    k = (v.get("finding"), rid, "", "")
                elif rid in per_site:
                    k = (v.get("finding"), rid, lname(v.get("layer")), str(v.get("site")))
                else:
                    if who == "hashward":
                        out["not_compared"][f"{v.get('finding')} {rid}"] += 1
                    continue
                dst[k] = v
        for k in sorted(set(hv) | set(gv), key=str):
            a, b = hv.get(k), gv.get(k)
            c = per_rule[f"{k[0]} {k[1]}"]
            if a is not None:
                c["hashward"] += 1
            if b is not None:
                c["geopandas"] += 1
            if a is None or b is None:
                c["only hashward" if b is None else "only geopandas"] += 1
                v = a or b
                limit = v.get("limit_m")
                d = v.get("distance_m")
                edge = ""
                if isinstance(limit, (int, float)) and isinstance(d, (int, float)) and abs(d - limit) <= tol * limit:
                    edge = f" (within {tol:.1%} of the {limit} m limit)"
                mism.append(("verdict", fid, f"{k[0]} {k[1]} {lname(v.get('layer'))} site {v.get('site')} "
                             f"({v.get('site_name')}) at {d} m: only in {'hashward' if b is None else 'GeoPandas'}{edge}"))
                continue
            da, db = a.get("distance_m"), b.get("distance_m")
            problems = []
            if not agree(da, db, tol):
                problems.append(f"distance hashward {da} m, GeoPandas {db} m")
            elif da is not None:
                out["max_rel_verdict"] = max(out["max_rel_verdict"], rel(da, db))
            for key in ("count", "threshold_mw"):
                if a.get(key) != b.get(key) and not (key == "threshold_mw" and agree(a.get(key), b.get(key), 1e-9)):
                    problems.append(f"{key} hashward {a.get(key)}, GeoPandas {b.get(key)}")
            if problems:
                c["differ"] += 1
                mism.append(("verdict", fid, f"{k[0]} {k[1]} {k[2]} {k[3]}: " + "; ".join(problems)))
            else:
                c["agree"] += 1
                if k[1] in single and str(a.get("site")) != str(b.get("site")):
                    c["agree (tie: another site at the same distance)"] += 1
    out["rules"] = {r: dict(c) for r, c in sorted(per_rule.items())}
    out["nearest"] = dict(out["nearest"])
    out["not_compared"] = dict(out["not_compared"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("hashward")
    ap.add_argument("geopandas")
    ap.add_argument("--rules", required=True, help="the normalised rules JSON the GeoPandas side evaluated")
    ap.add_argument("--tolerance", type=float, default=0.001)
    ap.add_argument("--show", type=int, default=20)
    ap.add_argument("--summary")
    a = ap.parse_args()
    hdoc, hw = load(a.hashward)
    gdoc, gp = load(a.geopandas)
    hdate = (hdoc.get("result") or {}).get("date")
    gdate = (gdoc.get("result") or {}).get("date")
    with open(a.rules, encoding="utf-8") as f:
        ids = json.load(f)["rule_ids"]
    out = compare(hw, gp, set(ids["per_site"]), set(ids["one_per_facility"]), a.tolerance)
    mism = out["mismatches"]
    if hdate != gdate:
        mism.insert(0, ("facility", "*", f"assessment date: hashward {hdate}, GeoPandas {gdate}"))
    print(f"assessment date: hashward {hdate}, GeoPandas {gdate}")
    hl = {lname(x.get("name")): x.get("sites") for x in (hdoc.get("result") or {}).get("layers", [])}
    gl = {lname(x.get("layer")): x.get("sites") for x in gdoc.get("layers", [])}
    print("layer sites read: " + ", ".join(f"{k} hashward {hl.get(k)}, GeoPandas {gl.get(k)}" for k in sorted(set(hl) | set(gl))))
    for k in sorted(set(hl) | set(gl)):
        if hl.get(k) != gl.get(k):
            mism.insert(0, ("facility", "*", f"layer {k}: hashward read {hl.get(k)} sites, GeoPandas {gl.get(k)}"))
    print(f"facilities: hashward {out['facilities']['hashward']}, GeoPandas {out['facilities']['geopandas']}")
    print("nearest: " + ", ".join(f"{k} {v}" for k, v in sorted(out["nearest"].items()))
          + f"; largest relative difference {out['max_rel_nearest']:.2e}")
    for r, c in out["rules"].items():
        print(f"verdicts {r}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    print(f"verdict distances: largest relative difference {out['max_rel_verdict']:.2e}")
    if out["not_compared"]:
        print("hashward verdicts not compared (rules the GeoPandas side does not model): "
              + ", ".join(f"{k} {v}" for k, v in sorted(out["not_compared"].items())))
    kinds = collections.Counter(m[0] for m in mism)
    for kind in ("facility", "nearest", "verdict"):
        shown = [m for m in mism if m[0] == kind][: a.show]
        if shown:
            print(f"{kind} mismatches: {kinds[kind]} (first {len(shown)}):")
            for _, fid, msg in shown:
                print(f"  {fid}: {msg}")
    print("AGREE: every verdict equal, nearest distances within "
          f"{a.tolerance:.1%}" if not mism else f"DISAGREE: {len(mism)} mismatches")
    if a.summary:
        s = dict(out)
        s["mismatch_count"] = dict(kinds)
        s["mismatches"] = [list(m) for m in mism[: a.show]]
        with open(a.summary, "w", encoding="utf-8") as f:
            json.dump(s, f, indent=1)
    sys.exit(1 if mism else 0)


if __name__ == "__main__":
    main()
