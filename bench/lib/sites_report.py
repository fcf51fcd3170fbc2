#!/usr/bin/env python3
"""Timing and reporting for bench/sites.sh (standard library only).

  sites_report.py gnutime TIMEFILE
      prints "wall user sys maxrss_kib" from a GNU `time -v` output file.
  sites_report.py report --results FILE --timings T --versions V --compare SUMMARY.json
                         --rules RULES.json --facilities-summary S.json
                         [--geopandas-timings DIR] --meta key=value...
      appends a dated section to FILE (machine, data, versions, per tool the median wall and CPU
      time over the runs, every run, max RSS; the ratio GeoPandas / hashward; the targets
      (hashward >= 5x faster and < 2 s); the agreement check; GeoPandas's own phase timings).
      Exit 1 when hashward finished no run or the agreement check failed.
"""

import datetime
import glob
import json
import os
import platform
import statistics
import sys


def gnutime(path):
    fields = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            key, _, value = line.strip().rpartition(": ")
            fields[key] = value
    wall = fields.get("Elapsed (wall clock) time (h:mm:ss or m:ss)", "")
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part or 0)
    user = float(fields.get("User time (seconds)", "nan"))
    sys_ = float(fields.get("System time (seconds)", "nan"))
    rss = int(fields.get("Maximum resident set size (kbytes)", "0"))
    return secs, user, sys_, rss


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({model or 'unknown CPU'}), {mem}, Linux {platform.release()}"


def fmt_range(values, digits=2):
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def parse_args(argv):
    args = {"meta": {}}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--meta":
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                k, _, v = argv[i].partition("=")
                args["meta"][k] = v
                i += 1
            continue
        args[a.lstrip("-").replace("-", "_")] = argv[i + 1]
        i += 2
    return args


def load_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError, TypeError):
        return default


def cmd_report(argv):
    args = parse_args(argv)
    meta = args["meta"]
    runs = {}
    with open(args["timings"], encoding="utf-8") as f:
        for line in f:
            tool, run, wall, user, sys_, rss, rc, load, out = line.rstrip("\n").split("\t")
            ok = rc in ("0", "1") and wall != ""
            runs.setdefault(tool, []).append({
                "run": run, "wall": float(wall) if wall else None, "user": float(user) if user else None,
                "sys": float(sys_) if sys_ else None, "rss": int(rss) if rss else None, "rc": rc,
                "load": load, "ok": ok, "out": out})
    versions = {}
    with open(args["versions"], encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            versions[parts[0]] = parts[1:]
    cmp_ = load_json(args.get("compare"), {}) or {}
    rules = load_json(args.get("rules"), {}) or {}
    facs = load_json(args.get("facilities_summary"), {}) or {}

    def ok_runs(tool):
        return [r for r in runs.get(tool, []) if r["ok"]]

    def med(tool, key):
        v = [r[key] for r in ok_runs(tool) if r[key] is not None]
        return statistics.median(v) if v else None

    def cpu(r):
        return (r["user"] or 0) + (r["sys"] or 0)

    L = []
    now = datetime.datetime.now().astimezone()
    L.append(f"\n## Siting (bench/sites.sh) — {now:%Y-%m-%d %H:%M %Z}\n")
    L.append(f"{meta.get('title', '')}. {meta.get('note', '')}".strip() + "\n")
    L.append(f"- machine: {machine()}; 1-minute load average before each run is in the table")
    L.append(f"- hashward commit: {meta.get('commit', '?')}")
    pl = facs.get("placement", {})
    L.append(f"- facilities: {facs.get('count', meta.get('count', '?')):,} ({meta.get('input', 'geojson')}), seed "
             f"{facs.get('seed', '?')}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(pl.items())))
    L.append(f"- layers: {meta.get('layers', '?')}")
    ev = []
    for z in (rules.get("cfius") or {}).get("zones", []):
        ev.append(f"{z['finding']} {z['id']} (listed MIRTA points, {z['limit_m']:.1f} m; SITE-007 to "
                  f"+{rules.get('default_margin_m', 0):.0f} m)")
    ev += [f"SITE-004 {x['id']} ({x['jurisdiction']}, {x['limit_m']:.0f} m)" for x in rules.get("states", [])]
    ev += [f"SITE-005 infrastructure-{x['name']} ({x['limit_m']:.0f} m)" for x in rules.get("infrastructure", [])]
    ev += [f"SITE-006 {x['id']} ({x['region']} >= {x['threshold_mw']:g} MW)" for x in rules.get("grid", [])]
    L.append(f"- rules: {rules.get('source', '?')} ({', '.join(rules.get('files', []))}), in force on "
             f"{rules.get('date', '?')}; both sides evaluate " + "; ".join(ev))
    if rules.get("not_evaluated"):
        L.append("- not exercised by these facilities and layers: " + "; ".join(rules["not_evaluated"]))
    L.append(f"- runs: {meta.get('runs', '?')} per tool, interleaved, {meta.get('settle', '?')} s pause before each\n")

    L.append("| tool | version | wall s, median (range) | CPU s (user+sys), median (range) | max RSS MiB | exit | load | runs |")
    L.append("|---|---|---:|---:|---:|---|---|---|")
    for tool in ("hashward", "geopandas"):
        rs = runs.get(tool, [])
        if not rs:
            continue
        good = ok_runs(tool)
        walls = [r["wall"] for r in good]
        cpus = [cpu(r) for r in good]
        rss = [r["rss"] for r in good if r["rss"]]
        exits = "/".join(sorted({r["rc"] for r in rs}))
        loads = "/".join(r["load"] for r in rs)
        every = ", ".join(f"{r['wall']:.2f}" if r["ok"] else f"run {r['run']} failed (exit {r['rc']})" for r in rs)
        L.append(f"| {tool} | {versions.get(tool, ['?'])[0]} | {fmt_range(walls)} | {fmt_range(cpus)} | "
                 f"{max(rss) / 1024:.0f} | {exits} | {loads} | {every} |" if rss else
                 f"| {tool} | {versions.get(tool, ['?'])[0]} | {fmt_range(walls)} | {fmt_range(cpus)} | — | {exits} | {loads} | {every} |")
    L.append("")
    L.append("Commands: " + "; ".join(f"`{v[1]}`" for k, v in versions.items() if len(v) > 1) + ".\n")

    hw_wall, gp_wall = med("hashward", "wall"), med("geopandas", "wall")
    status = 0
    if hw_wall is None:
        L.append("**hashward finished no run.**\n")
        status = 1
    if hw_wall and gp_wall:
        ratio = gp_wall / hw_wall
        hw_cpu = statistics.median([cpu(r) for r in ok_runs("hashward")])
        gp_cpu = statistics.median([cpu(r) for r in ok_runs("geopandas")])
        fast = ratio >= 5.0
        under = hw_wall < 2.0
        L.append(f"GeoPandas / hashward wall time: **{ratio:.1f}×** (CPU time: {gp_cpu / hw_cpu:.1f}×).\n")
        L.append(f"**Targets:** hashward at least 5× faster than GeoPandas: **{'met' if fast else 'not met'}** "
                 f"({ratio:.1f}×); under 2 s on {os.cpu_count()} cores: **{'met' if under else 'not met'}** "
                 f"({hw_wall:.2f} s).\n")

    if cmp_:
        mc = cmp_.get("mismatch_count", {})
        n_mis = sum(mc.values())
        L.append(f"**Agreement** (hashward's last run against GeoPandas's last run, `lib/sites_compare.py`): "
                 + ("**every verdict equal, nearest distances within 0.1 %**" if n_mis == 0 else
                    f"**{n_mis} mismatches** (" + ", ".join(f"{k} {v}" for k, v in mc.items()) + ")") + ".\n")
        near = cmp_.get("nearest", {})
        L.append("- nearest site per facility and layer: " + ", ".join(f"{k} {v:,}" for k, v in sorted(near.items()))
                 + f"; largest relative distance difference {cmp_.get('max_rel_nearest', 0):.1e}")
        for r, c in cmp_.get("rules", {}).items():
            L.append(f"- {r}: hashward {c.get('hashward', 0):,}, GeoPandas {c.get('geopandas', 0):,}, agreeing "
                     f"{c.get('agree', 0):,}" + "".join(f", {k} {v:,}" for k, v in sorted(c.items())
                                                          if k not in ("hashward", "geopandas", "agree")))
        L.append(f"- verdict distances: largest relative difference {cmp_.get('max_rel_verdict', 0):.1e}")
        if cmp_.get("not_compared"):
            L.append("- hashward verdicts of rules the GeoPandas side does not model (not compared): "
                     + ", ".join(f"{k} {v:,}" for k, v in sorted(cmp_["not_compared"].items())))
        for m in cmp_.get("mismatches", [])[:20]:
            L.append(f"  - {m[0]} {m[1]}: {m[2]}")
        L.append("")
        if n_mis:
            status = 1
    else:
        L.append("**Agreement not checked** (no comparison summary).\n")
        status = 1

    # GeoPandas's own phases (median over runs), from its --timings files.
    phases = {}
    for p in sorted(glob.glob(os.path.join(args.get("geopandas_timings", "/nonexistent"), "*.json"))):
        d = load_json(p, {})
        for name, secs in d.get("phases", []):
            key = name.split(" (")[0]
            phases.setdefault(key, []).append(secs)
    if phases:
        L.append("GeoPandas phases (in process, median over runs, s): "
                 + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in phases.items()) + ".\n")
    gp_doc_ratio = meta.get("planar_ratio")
    if gp_doc_ratio:
        L.append(f"EPSG:5070 planar / WGS84 geodesic distance over the pairs GeoPandas kept: {gp_doc_ratio} "
                 f"(its candidate windows assume 1/1.035 to 1.035).\n")
    with open(args["results"], "a", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))
    return status


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "gnutime":
        print("%.2f %.2f %.2f %d" % gnutime(sys.argv[2]))
        return 0
    if len(sys.argv) >= 2 and sys.argv[1] == "report":
        return cmd_report(sys.argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
