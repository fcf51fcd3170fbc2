#!/usr/bin/env python3
"""Append one dated benchmark section to RESULTS.md and judge the targets.

    report.py --results RESULTS.md --manifest M.json --coverage C.json --timings T.tsv
              --versions V.tsv [--hashward-json RUN.json ...] [--note TEXT]

T.tsv: one line per run: tool, run number, wall seconds, max RSS KiB, exit status, regular files
       extracted, containers left unopened, CPU seconds (user + system, the tool and the children
       it waited for), 1-minute load average when the run started (GNU time -f '%e %M %U %S'; exit 124/137 = killed by the run
       timeout). A run is complete when it exited normally, left no container unopened and
       extracted as many files as the tool's best such run; only complete runs are timed.
V.tsv: tool, version text, command line.

Exit status: 0, or 1 when hashward missed manifest files that an anchor found (the
benchmark's correctness check), or when hashward did not finish any run. The speed and memory
targets are reported as met / not met and do not change the exit status. Stdlib only.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys

MIB = 1024 * 1024
TARGETS = {"binwalk": 3.0, "unblob": 10.0}  # hashward at least this many times faster
RSS_LIMIT_MIB = 256
OK_EXIT = {"hashward": {0, 1}, "binwalk": {0}, "unblob": {0, 1}}


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    return {"nproc": os.cpu_count(), "mem": mem, "cpu": cpu, "load": load, "kernel": platform.release()}


def fmt_s(x):
    return "n/a" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--coverage", required=True)
    ap.add_argument("--timings", required=True)
    ap.add_argument("--versions", required=True)
    ap.add_argument("--hashward-json", nargs="*", default=[])
    ap.add_argument("--note", default="")
    a = ap.parse_args()

    with open(a.manifest) as f:
        manifest = json.load(f)
    with open(a.coverage) as f:
        cov = json.load(f)
    runs = {}
    with open(a.timings) as f:
        for line in f:
            if not line.strip():
                continue
            tool, n, wall, rss, rc, nf, unopened, cpu, load = line.rstrip("\n").split("\t")
            runs.setdefault(tool, []).append(
                {"run": int(n), "wall": float(wall) if wall else None, "rss_kib": int(rss) if rss else None,
                 "rc": int(rc), "files": int(nf), "unopened": int(unopened or 0),
                 "cpu": float(cpu) if cpu else None, "load": float(load) if load else None})
    versions = {}
    with open(a.versions) as f:
        for line in f:
            if line.strip():
                tool, ver, cmd = (line.rstrip("\n").split("\t") + ["", ""])[:3]
                versions[tool] = (ver, cmd)

    # Per tool: medians over the complete runs (normal exit, as many files as the best run).
    summary = {}
    for tool, rs in runs.items():
        ok = [r for r in rs if r["rc"] in OK_EXIT.get(tool, {0}) and r["wall"] is not None and not r["unopened"]]
        best = max((r["files"] for r in rs if not r["unopened"]), default=None)
        good = [r for r in ok if r["files"] == best]
        cells = []
        for r in rs:
            c = fmt_s(r["wall"])
            if r["rc"] not in OK_EXIT.get(tool, {0}):
                c += f" (exit {r['rc']})"
            elif r["unopened"]:
                c += f" (incomplete: {r['unopened']} containers unopened)"
            elif r not in good:
                c += f" (incomplete: {r['files']} files)"
            cells.append(c)
        summary[tool] = {
            "ok_runs": len(good),
            "runs": len(rs),
            "wall": statistics.median([r["wall"] for r in good]) if good else None,
            "cpu": statistics.median([r["cpu"] for r in good]) if good and all(r["cpu"] is not None for r in good)
            else None,
            "rss_mib": max(r["rss_kib"] for r in good) / 1024 if good and all(r["rss_kib"] for r in good) else None,
            "cells": cells,
            "files": best,
        }
    self_rss = []
    for p in a.hashward_json:
        try:
            with open(p) as f:
                env = json.load(f)
            v = env.get("result", {}).get("stats", {}).get("peak_rss_bytes")
            if v:
                self_rss.append(v / MIB)
        except (OSError, ValueError, AttributeError):
            pass

    m = machine()
    img = manifest["image"]
    nfiles = len(manifest["files"])
    nlinks = len(manifest.get("symlinks", []))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    hw_ver = versions.get("hashward", ("?", ""))[0]
    out = []
    out.append(f"\n## {now} — hashward {hw_ver}\n")
    if a.note:
        out.append(f"{a.note}\n")
    loads = [r["load"] for rs in runs.values() for r in rs if r["load"] is not None]
    load_txt = f"1-minute load average {min(loads):.2f}–{max(loads):.2f} at the runs' starts" if loads else \
        f"load average {m['load']} at report time"
    out.append(f"- machine: {m['nproc']} CPUs (nproc), {m['mem']} memory, {m['cpu']}; Linux {m['kernel']}; "
               f"{load_txt}")
    layers = ", ".join(
        f"{l['layer']} ({l['format']}, {l['files']} files)" for l in manifest["layers"])
    out.append(f"- image: `{img['name']}`, {img['size'] / MIB:.1f} MiB, sha256 `{img['sha256'][:16]}…`; "
               f"layers: {layers}; {nfiles} regular files in the manifest, {nlinks} symlinks")
    out.append("- runs interleaved, fresh output directory each, page cache warm; wall time and max RSS from GNU "
               "`time -f '%e %M'` (max RSS: the largest single process of the tool's process tree); median wall "
               "time and largest max RSS over the *complete* runs: normal exit, no extracted container left "
               "unopened, as many extracted files as the tool's best run (incomplete runs are listed, not "
               "timed, and the tool is run again)")
    out.append("")
    out.append("| tool | version | command | median wall (s) | median CPU (s) | complete runs | all runs, wall (s) "
               "| max RSS (MiB) | files extracted | manifest files found |")
    out.append("|---|---|---|---:|---:|---:|---|---:|---:|---:|")
    for tool in ("hashward", "binwalk", "unblob"):
        if tool not in summary:
            continue
        s = summary[tool]
        t = cov["tools"].get(tool, {})
        ver, cmd = versions.get(tool, ("?", ""))
        rss = "n/a" if s["rss_mib"] is None else f"{s['rss_mib']:.0f}"
        if tool == "hashward" and self_rss:
            rss += f" (self-reported {max(self_rss):.0f})"
        found = f"{t.get('found', 0)}/{nfiles} ({t.get('coverage_pct', 0):.1f}%)" if t else "n/a"
        out.append(f"| {tool} | {ver} | `{cmd}` | {fmt_s(s['wall'])} | {fmt_s(s['cpu'])} | {s['ok_runs']}/{s['runs']} "
                   f"| {', '.join(s['cells'])} | {rss} | {s['files'] if s['files'] is not None else 'n/a'} | {found} |")
    out.append("")
    lnames = list(cov["layers"])
    out.append("| manifest files found per layer | " + " | ".join(lnames) + " |")
    out.append("|---|" + "---:|" * len(lnames))
    out.append("| (in the image) | " + " | ".join(str(cov["layers"][l]) for l in lnames) + " |")
    for tool, t in cov["tools"].items():
        out.append(f"| {tool} | " + " | ".join(str(t["per_layer"][l]) for l in lnames) + " |")
    out.append("")

    failed = False
    hw = summary.get("hashward")
    verdicts = []
    for anchor, target in TARGETS.items():
        s = summary.get(anchor)
        if not hw or not s or hw["wall"] is None or s["wall"] is None or hw["wall"] <= 0:
            verdicts.append(f"- {anchor}/hashward wall-time ratio: not measured (target ≥ {target:g}x)")
            continue
        ratio = s["wall"] / hw["wall"]
        cpu = ""
        if s["cpu"] and hw["cpu"]:
            cpu = f"; CPU-time ratio {s['cpu'] / hw['cpu']:.2f}x, for information"
        verdicts.append(f"- {anchor}/hashward wall-time ratio: **{ratio:.2f}x** (target ≥ {target:g}x: "
                        f"{'met' if ratio >= target else 'not met'}{cpu})")
    if hw and hw["rss_mib"] is not None:
        verdicts.append(f"- hashward peak memory: **{hw['rss_mib']:.0f} MiB** (target < {RSS_LIMIT_MIB} MiB at this "
                        f"image size: {'met' if hw['rss_mib'] < RSS_LIMIT_MIB else 'not met'})")
    else:
        verdicts.append(f"- hashward peak memory: not measured (target < {RSS_LIMIT_MIB} MiB)")
    if hw and hw["ok_runs"] == 0:
        verdicts.append("- hashward: no run finished normally — **FAIL**")
        failed = True
    elif not hw:
        verdicts.append("- hashward was not run (TOOLS)")
    g = cov.get("hashward_vs_anchors")
    if g:
        if g["covers_anchors"]:
            verdicts.append(f"- same files: hashward found all {g['found_by_anchors']} manifest files that "
                            f"{' and '.join(g['anchors'])} found — ok")
        else:
            per = ", ".join(f"{l} {n}" for l, n in g["missed_per_layer"].items() if n)
            verdicts.append(f"- same files: hashward missed **{g['missed_by_hashward']}** of the "
                            f"{g['found_by_anchors']} manifest files that {' and '.join(g['anchors'])} found "
                            f"({per}) — **FAIL**")
            failed = True
    out += verdicts
    out.append("")

    if not os.path.exists(a.results):
        with open(a.results, "w") as f:
            f.write("# Firmware-unpacking benchmark results\n\n"
                    "Appended by `bench/firmware-unpack.sh` (see `bench/README.md`); one section per run, newest "
                    "last. Every figure below was measured by that script on the machine it names.\n")
    with open(a.results, "a") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out), file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
