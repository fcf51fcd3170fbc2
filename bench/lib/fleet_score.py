#!/usr/bin/env python3
"""Score fleet scans against the emulator's manifest, and write the fleet-scan section of
RESULTS.md. Used by bench/fleet-scan.sh; stdlib only.

    fleet_score.py score MANIFEST TOOL OUTPUT [--misses]
        one line for the progress log: found / identified / correctly named (--misses: first
        every miner the tool did not name correctly, grouped by what it said)
    fleet_score.py report --results R.md --manifest M.json --timings T.tsv --versions V.tsv
        [--fault-manifest FM.json --fault-output FO.json --fault-timing FT.tsv] [--meta K=V ...]
        appends one dated section to R.md; exit 0, or 1 when hashward named fewer devices
        correctly than an anchor, or a faulty device went unreported, or hashward finished no run

TOOL is hashward (OUTPUT: the `fleet scan --format json` document), pyasic or asic-rs (OUTPUT:
one JSON line per miner {"address","make","model","firmware"} and a {"summary": ...} line, as
bench/fleet/pyasic_scan.py and bench/fleet/asic-rs-driver print them).

T.tsv: tool, run, wall s, max RSS KiB, exit status, 1-min load at start, output file.
V.tsv: tool, version, command line, settings.
FT.tsv: the same columns as T.tsv, one line (the fault run).

Scoring, per device of the manifest whose family is not `unknown` (a miner):
  found       the tool reported the address at all (hashward: any device entry; the anchors
              report only what they identified, so for them found = identified)
  identified  hashward: status `identified`; anchors: a miner object with a make
  correct     identified and the model named matches the manifest's after normalisation
              (see norm_model: case, spaces, `_`/`-`, vendor prefixes, Whatsminer bin suffixes)
Hosts of family `unknown` (a web server that is no miner) count as false identifications when a
tool names them as miners.
"""

import argparse
import collections
import datetime
import json
import os
import platform
import re
import statistics
import sys

RSS_LIMIT_MIB = 256
WALL_TARGET_S = 15.0
SPEED_TARGETS = {"pyasic": 10.0, "asic-rs": 3.0}  # hashward at least this many times faster
ANCHORS = ("pyasic", "asic-rs", "asic-rs-capped")  # hashward must name no fewer correctly than each

# ------------------------------------------------------------------------------ model names

# Vendor words a name may start with (longest first); repeated ("Bitmain Antminer S19").
VENDOR_PREFIX = re.compile(
    r"^(bitmain|microbt|canaan|antminer|ant miner|whatsminer|whats miner|avalonminer|avalon miner|avalon)\s*"
)
# A Whatsminer chip-bin suffix: VH30, VE40, VK20 ... (pyasic rewrites its last digit to 0).
WM_VARIANT = re.compile(r"^(m\d{2}[a-z]*\+*)(v[a-z]\d{1,2})$")


def norm_model(name):
    """(base, variant) of a model name, comparable across tools, or None.

    `Antminer S19j Pro`, `S19J PRO`, `s19j_pro` -> ("s19jpro", None)
    `M50S_VH30`, `M50S VH30`, `M50SVH30`       -> ("m50s", "vh30")
    `Whatsminer M50S`, `M50S`                   -> ("m50s", None)
    `AvalonMiner 1246`, `Avalon 1246`           -> ("1246", None)
    `Avalon Q`, `Avalon Q Home`, `AvalonHomeQ`  -> ("q", None)   (`Home`: Canaan's home series)
    `M30S+_VE40`, `M30SPlusVE40`                -> ("m30s+", "ve40")
    `S19 XP`, `S19XP`                           -> ("s19xp", None)
    A trailing parenthesis (`S19 Pro (Stock)`, `(88)`) is dropped.
    """
    if name is None:
        return None
    s = str(name).lower().strip()
    s = re.sub(r"\([^)]*\)", " ", s)
    s = re.sub(r"[_\-./,]+", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    avalon = s.startswith("avalon")
    while True:
        t = VENDOR_PREFIX.sub("", s, count=1)
        if t == s or not t:
            break
        s = t
    if avalon:
        # Canaan's home series: pyasic says `Avalon Q Home`, asic-rs `AvalonHomeQ`, the device `Avalon Q`.
        s = re.sub(r"^home\s*|\s*\bhome$", "", s).strip() or s
    s = s.replace(" plus", "+").replace("plus", "+")
    toks = s.split()
    variant = None
    if len(toks) >= 2 and re.fullmatch(r"v[a-z]\d{1,2}", toks[-1]):
        variant = toks.pop()
    base = "".join(toks)
    m = WM_VARIANT.match(base)
    if m and variant is None:
        base, variant = m.group(1), m.group(2)
    if not base:
        return None
    return base, variant


def same_model(named, truth):
    """The tool's name is right: same base model, and the same bin suffix when the tool gives one
    (a name with less detail than the truth counts; a wrong detail does not)."""
    a, b = norm_model(named), norm_model(truth)
    if a is None or b is None:
        return False
    return a[0] == b[0] and (a[1] is None or a[1] == b[1])


# ------------------------------------------------------------------------------ reading outputs

def load_manifest(path):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):  # tolerate {"devices": [...]}
        data = data.get("devices", [])
    return {e["address"]: e for e in data}


def read_output(tool, path):
    """address -> {status, make, model, firmware, errors}; plus a summary dict (or {})."""
    devices, summary = {}, {}
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return devices, {"error": f"no output {path}"}
    if tool.startswith("hashward"):
        try:
            doc = json.loads(text)
        except ValueError as e:
            return devices, {"error": f"output is not JSON: {e}"}
        res = doc.get("result") or {}
        for d in res.get("devices") or []:
            fw = d.get("firmware") or {}
            devices[d.get("address")] = {
                "status": d.get("status") or "unidentified",
                "make": d.get("make"),
                "model": d.get("model"),
                "firmware": " ".join(x for x in (fw.get("family"), fw.get("version")) if x) or None,
                "fwfamily": fw.get("family"),
                "errors": d.get("errors") or [],
                "ports": d.get("ports") or [],
            }
        summary = {"stats": res.get("stats") or {}}
        return devices, summary
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "summary" in obj:
            summary = obj["summary"]
            continue
        make = obj.get("make")
        devices[obj.get("address")] = {
            "status": "identified" if make not in (None, "", "Unknown") else "unidentified",
            "make": make,
            "model": obj.get("model"),
            "firmware": obj.get("firmware"),
            "fwfamily": obj.get("firmware"),
            "errors": [],
            "ports": [],
        }
    return devices, summary


def score(manifest, devices):
    miners = {a: e for a, e in manifest.items() if e.get("family") != "unknown"}
    others = {a: e for a, e in manifest.items() if e.get("family") == "unknown"}
    found = identified = correct = 0
    correct_set = set()
    fam = collections.defaultdict(lambda: [0, 0, 0])  # family -> total, identified, correct
    for a, e in miners.items():
        f = fam[e["family"]]
        f[0] += 1
        d = devices.get(a)
        if d is None:
            continue
        found += 1
        if d["status"] != "identified":
            continue
        identified += 1
        f[1] += 1
        if same_model(d.get("model"), e["model"]):
            correct += 1
            f[2] += 1
            correct_set.add(a)
    false_ids = sum(1 for a in others if devices.get(a, {}).get("status") == "identified"
                    and devices[a].get("make"))
    outside = sum(1 for a in devices if a not in manifest)
    return {
        "miners": len(miners), "others": len(others),
        "found": found, "identified": identified, "correct": correct,
        "false_ids": false_ids, "outside": outside,
        "families": {k: tuple(v) for k, v in fam.items()},
        "correct_set": correct_set,
    }


# ------------------------------------------------------------------------------ score command

def cmd_score(a):
    manifest = load_manifest(a.manifest)
    devices, summary = read_output(a.tool, a.output)
    s = score(manifest, devices)
    if a.misses:
        # Every miner not correctly named, grouped by (family, manifest model, what the tool said).
        groups = collections.defaultdict(list)
        for addr, e in manifest.items():
            if e.get("family") == "unknown" or addr in s["correct_set"]:
                continue
            d = devices.get(addr)
            said = "(not reported)" if d is None else (
                f"({d['status']})" if d["status"] != "identified" else f"{d.get('model')!r} [{d.get('fwfamily')}]")
            groups[(e["family"], e["model"], said)].append(addr)
        for (fam, model, said), addrs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            print(f"{len(addrs):6d}  {fam:14s} {model!r:22s} -> {said}   e.g. {', '.join(addrs[:3])}")
    extra = f", {s['false_ids']} non-miners named as miners" if s["false_ids"] else ""
    err = f" [{summary['error']}]" if summary.get("error") else ""
    print(f"{s['found']}/{s['miners']} miners found, {s['identified']} identified, "
          f"{s['correct']} correctly named{extra}{err}")
    return 0


# ------------------------------------------------------------------------------ report command

def machine():
    cpu = platform.machine()
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
    try:
        import resource
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    except Exception:
        nofile = "?"
    return {"nproc": os.cpu_count(), "mem": mem, "cpu": cpu, "load": load,
            "kernel": platform.release(), "nofile": nofile}


def read_timings(path):
    rows = []
    if not path or not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 7:
                continue
            tool, run, wall, rss, rc, load, out = p[:7]
            rows.append({
                "tool": tool, "run": int(run),
                "wall": float(wall) if re.fullmatch(r"[0-9.]+", wall) else None,
                "rss": int(rss) if rss.isdigit() else None,
                "rc": int(rc) if rc.lstrip("-").isdigit() else None,
                "load": load, "out": out,
            })
    return rows


def finished(row):
    # hashward exits 0, or 1 when a finding reached --fail-on; the drivers exit 0.
    ok = {0, 1} if row["tool"].startswith("hashward") else {0}
    return row["rc"] in ok and row["wall"] is not None


def fmt_s(x):
    return "n/a" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"


def cell(name, fw=None):
    if name is None:
        return "—"
    return f"`{name}`" + (f" ({fw})" if fw else "")


def cmd_report(a):
    manifest = load_manifest(a.manifest)
    meta = dict(kv.split("=", 1) for kv in a.meta)
    versions = {}
    if os.path.exists(a.versions):
        with open(a.versions) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 3:
                    versions[p[0]] = {"version": p[1], "command": p[2], "settings": p[3] if len(p) > 3 else ""}
    rows = read_timings(a.timings)
    tools = []
    for r in rows:
        if r["tool"] not in tools:
            tools.append(r["tool"])

    # Score every run.
    for r in rows:
        devs, summ = read_output(r["tool"], r["out"])
        r["devices"], r["summary"] = devs, summ
        r["score"] = score(manifest, devs)
        r["ok"] = finished(r)

    per = {}
    for t in tools:
        rs = [r for r in rows if r["tool"] == t]
        done = [r for r in rs if r["ok"]]
        walls = [r["wall"] for r in done]
        per[t] = {
            "runs": rs, "done": done,
            "median": statistics.median(walls) if walls else None,
            "rss": max((r["rss"] for r in rs if r["rss"] is not None), default=None),
            "best": max(done, key=lambda r: r["score"]["correct"], default=None),
            "worst": min(done, key=lambda r: r["score"]["correct"], default=None),
        }

    m = machine()
    fam_count = collections.Counter(e["family"] for e in manifest.values())
    n_miners = sum(v for k, v in fam_count.items() if k != "unknown")
    out = []
    title = meta.get("title", "fleet scan vs pyasic and asic-rs")
    out.append(f"\n## {title} — {datetime.date.today()} (commit {meta.get('commit', '?')})\n")
    if meta.get("note"):
        out.append(meta["note"] + "\n")
    out.append(f"- machine: {m['nproc']} CPUs (nproc), {m['mem']} memory, {m['cpu']}; Linux {m['kernel']}; "
               f"open-files limit {m['nofile']}; load average at the end {m['load']}; shared with other work")
    out.append(f"- fleet: `hashward emulate --count {len(manifest)}` (seed {meta.get('seed', '1')}), "
               f"{meta.get('range', '?')}, {meta.get('emulator', '')}; "
               + ", ".join(f"{k} {v}" for k, v in sorted(fam_count.items(), key=lambda kv: -kv[1]))
               + f" ({n_miners} miners, {fam_count.get('unknown', 0)} non-miner web servers)")
    out.append("- every tool scans the same range on loopback while the emulator (same 2 cores) answers; "
               f"runs interleaved ({' → '.join(tools)}), {meta.get('runs', '?')} per tool, "
               f"{meta.get('settle', '?')} s pause between runs")
    out.append("")
    out.append("| tool | version | command / settings |")
    out.append("|---|---|---|")
    for t in tools:
        v = versions.get(t, {})
        sett = f"; {v['settings']}" if v.get("settings") else ""
        out.append(f"| {t} | {v.get('version', '?')} | `{v.get('command', '?')}`{sett} |")
    out.append("")

    # Main table.
    out.append(f"| tool | median wall | runs: wall s (1-min load at start) | max RSS | found | identified | correctly named | non-miners named as miners |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|")
    for t in tools:
        p = per[t]
        runs_txt = ", ".join((fmt_s(r["wall"]) if r["ok"] else f"{fmt_s(r['wall'])} (exit {r['rc']})")
                             + (f" ({r['load']})" if r["load"] else "") for r in p["runs"])
        def rng(key):
            vals = [r["score"][key] for r in p["runs"]]
            lo, hi = min(vals), max(vals)
            return f"{lo}" if lo == hi else f"{lo}–{hi}"
        fids = rng("false_ids")
        out.append(f"| {t} | {fmt_s(p['median'])} s | {runs_txt} | {mib(p['rss'])} | {rng('found')} / {n_miners} | "
                   f"{rng('identified')} | {rng('correct')} | {fids} |")
    out.append("")
    out.append("Found / identified / correctly named are over the manifest's miners; a range means the runs differed. "
               "Correctly named: the model matches the manifest after normalisation (`lib/fleet_score.py`: case, "
               "spaces, `_`/`-`, vendor prefixes, Whatsminer bin suffixes such as `_VH30` compared only when the tool "
               "names one).\n")

    # Targets.
    checks = []
    fail = False
    hw = per.get("hashward")
    if hw is None or not hw["done"]:
        out.append("**hashward finished no run.**\n")
        fail = True
    else:
        hw_worst = hw["worst"]["score"]
        all_ident = hw_worst["identified"] == n_miners
        checks.append(f"- all {n_miners} miners identified in under {WALL_TARGET_S:.0f} s: median {fmt_s(hw['median'])} s, "
                      f"{hw_worst['identified']} identified in the worst run — "
                      f"**{'met' if hw['median'] is not None and hw['median'] < WALL_TARGET_S and all_ident else 'not met'}**")
        for t in ("pyasic", "asic-rs", "asic-rs-capped"):
            if t not in per:
                continue
            p = per[t]
            target = SPEED_TARGETS[t.split("-capped")[0]]
            ref = " (for reference: the target is on asic-rs's defaults)" if t.endswith("-capped") else ""
            if p["median"] is not None and hw["median"]:
                ratio = p["median"] / hw["median"]
                checks.append(f"- {t}/hashward = {fmt_s(p['median'])} / {fmt_s(hw['median'])} = **{ratio:.1f}x** "
                              f"(target ≥ {target:.0f}x: **{'met' if ratio >= target else 'not met'}**){ref}")
            else:
                checks.append(f"- {t}/hashward: n/a ({t} finished no run)")
        if "hashward-defaults" in per and per["hashward-defaults"]["median"] is not None:
            hd = per["hashward-defaults"]
            checks.append(f"- for reference, hashward at its defaults (no `{meta.get('hashward_args', '')}`): "
                          f"median {fmt_s(hd['median'])} s, {hd['worst']['score']['identified']} identified in its worst run")
        for t in ANCHORS:
            if t not in per:
                continue
            p = per[t]
            if p["best"] is not None:
                a_best = p["best"]["score"]["correct"]
                ok = hw_worst["correct"] >= a_best
                fail |= not ok
                checks.append(f"- correctly named, hashward (worst run) {hw_worst['correct']} vs {t} (best run) "
                              f"{a_best}: **{'no fewer' if ok else 'FEWER'}**")
                missed = p["best"]["score"]["correct_set"] - hw_worst["correct_set"]
                if missed:
                    sample = sorted(missed, key=lambda x: tuple(int(o) for o in x.split(".")))[:5]
                    hw_devs = hw["worst"]["devices"]
                    lines = []
                    for addr in sample:
                        e, d = manifest[addr], hw_devs.get(addr)
                        said = "not reported" if d is None else (
                            f"`{d.get('model')}`" if d["status"] == "identified" else d["status"])
                        lines.append(f"{addr} ({e['family']} `{e['model']}`: hashward {said})")
                    checks.append(f"  - {len(missed)} devices {t} named correctly and hashward did not, e.g. "
                                  + ", ".join(lines))
        out.append("Targets (hashward: all identified in under 15 s on 2 cores, ≥10x faster than pyasic, ≥3x faster "
                   "than asic-rs, no fewer correct identifications):\n")
        out.extend(checks)
        out.append("")

    # Per family.
    fams = sorted({e["family"] for e in manifest.values()}, key=lambda f: -fam_count[f])
    out.append("Correctly named per firmware family (worst run of each tool):\n")
    out.append("| family | devices | " + " | ".join(tools) + " |")
    out.append("|---|---:|" + "---:|" * len(tools))
    for f in fams:
        if f == "unknown":
            continue
        cells = []
        for t in tools:
            w = per[t]["worst"]
            cells.append(str(w["score"]["families"].get(f, (0, 0, 0))[2]) if w else "n/a")
        out.append(f"| {f} | {fam_count[f]} | " + " | ".join(cells) + " |")
    out.append("")

    # Naming / agreement table.
    out.append("How each tool named each emulated model (best run; the most common name, with the firmware "
               "family it reported, and how many of the devices it named correctly). *pyasic agrees* counts "
               "devices where pyasic's and hashward's names are the same model after normalisation:\n")
    groups = collections.defaultdict(list)
    for addr, e in manifest.items():
        groups[(e["family"], e["model"])].append(addr)
    head = "| family | manifest model | devices | " + " | ".join(tools)
    if "hashward" in per and "pyasic" in per:
        head += " | pyasic agrees"
    out.append(head + " |")
    out.append("|---|---|---:|" + "---|" * len(tools) + ("---:|" if "hashward" in per and "pyasic" in per else ""))
    for (fam, model), addrs in sorted(groups.items(), key=lambda kv: (fams.index(kv[0][0]), kv[0][1])):
        cells = []
        for t in tools:
            b = per[t]["best"]
            if b is None:
                cells.append("n/a")
                continue
            names = collections.Counter()
            good = 0
            for addr in addrs:
                d = b["devices"].get(addr)
                if d is None:
                    names["(not found)"] += 1
                elif d["status"] != "identified":
                    names[f"({d['status']})"] += 1
                elif d.get("model") is None:
                    names[f"(make {d.get('make')}, no model)"] += 1
                else:
                    fw = d.get("fwfamily")
                    names[f"`{d.get('model')}`" + (f" ({fw})" if fw else "")] += 1
                    good += same_model(d.get("model"), model)
            common = names.most_common()
            if len(common) == 1:
                txt = common[0][0]
            else:
                txt = ", ".join(f"{nm} ×{n}" for nm, n in common[:3]) + (" …" if len(common) > 3 else "")
            if fam != "unknown":
                txt += f" — {good}/{len(addrs)}"
            cells.append(txt)
        agree = ""
        if "hashward" in per and "pyasic" in per:
            hb, pb = per["hashward"]["best"], per["pyasic"]["best"]
            if hb and pb:
                n = 0
                for addr in addrs:
                    h, p = hb["devices"].get(addr), pb["devices"].get(addr)
                    if h and p and h["status"] == p["status"] == "identified":
                        hn, pn = norm_model(h.get("model")), norm_model(p.get("model"))
                        if hn and pn and hn[0] == pn[0]:
                            n += 1
                agree = f" | {n}/{len(addrs)}" if fam != "unknown" else " | —"
        out.append(f"| {fam} | `{model}` | {len(addrs)} | " + " | ".join(cells) + agree + " |")
    out.append("")

    # Fault run.
    if a.fault_manifest and a.fault_output:
        dt = re.search(r"--device-timeout[ =](\d+)", meta.get("hashward_args", ""))
        fail |= fault_section(a, out, per["hashward"]["median"] if "hashward" in per else None,
                              float(dt.group(1)) if dt else 12.0)

    text = "\n".join(out) + "\n"
    with open(a.results, "a") as f:
        f.write(text)
    print(text)
    return 1 if fail else 0


def fault_section(a, out, clean_median=None, device_timeout=12.0):
    fman = load_manifest(a.fault_manifest)
    frows = read_timings(a.fault_timing)
    fr = frows[0] if frows else {"wall": None, "rss": None, "rc": None}
    devices, summary = read_output("hashward", a.fault_output)
    faulty = {addr: e for addr, e in fman.items() if e.get("fault", "none") != "none"}
    kinds = collections.OrderedDict()
    unreported = []
    for addr, e in sorted(faulty.items(), key=lambda kv: tuple(int(o) for o in kv[0].split("."))):
        k = kinds.setdefault(e["fault"], {"n": 0, "reported": 0, "statuses": collections.Counter(), "sample": None})
        k["n"] += 1
        d = devices.get(addr)
        rep = d is not None and (d["status"] in ("error", "unidentified") or d["errors"])
        if rep:
            k["reported"] += 1
            k["statuses"][d["status"]] += 1
            if k["sample"] is None and d["errors"]:
                err = d["errors"][0]
                k["sample"] = f"{addr} tcp/{err.get('port')} {err.get('request')}: {err.get('error')}"
        else:
            unreported.append((addr, e["fault"], d["status"] if d else "absent"))
    s = score(fman, devices)
    healthy = {addr: e for addr, e in fman.items() if e.get("fault", "none") == "none" and e["family"] != "unknown"}
    healthy_ok = sum(1 for addr, e in healthy.items()
                     if devices.get(addr, {}).get("status") == "identified"
                     and same_model(devices[addr].get("model"), e["model"]))
    rss_ok = fr["rss"] is not None and fr["rss"] / 1024 < RSS_LIMIT_MIB
    done = fr.get("rc") in (0, 1) and fr["wall"] is not None
    # Within its timeouts: no slower than the clean scan plus one device deadline (faulty devices are
    # examined concurrently, each bounded by --device-timeout).
    bound = None
    if clean_median is not None:
        bound = clean_median + device_timeout
    in_time = done and (bound is None or fr["wall"] <= bound)
    out.append(f"Fault run: `hashward emulate --count {len(fman)} --faulty {a.fault_percent}` "
               f"({len(faulty)} faulty devices, every fault kind), scanned by hashward only with the same command.\n")
    limit = (f" (bound: clean median {fmt_s(clean_median)} s + device timeout {device_timeout:.0f} s = "
             f"{fmt_s(bound)} s: **{'met' if in_time else 'not met'}**)") if bound is not None and done else ""
    out.append(f"- wall {fmt_s(fr['wall'])} s, exit {fr.get('rc')}, "
               f"{'finished' if done else '**did not finish** (killed or failed)'}{limit}; "
               f"max RSS {mib(fr['rss'])} (target < {RSS_LIMIT_MIB} MiB: **{'met' if rss_ok else 'not met'}**)")
    out.append(f"- faulty devices reported with their fault (status `error`/`unidentified` or a non-empty `errors`): "
               f"**{len(faulty) - len(unreported)}/{len(faulty)}**")
    out.append(f"- healthy miners still identified and correctly named: {healthy_ok}/{len(healthy)}")
    out.append("")
    out.append("| fault | devices | reported | statuses | sample error |")
    out.append("|---|---:|---:|---|---|")
    for k, v in kinds.items():
        st = ", ".join(f"{s} {n}" for s, n in v["statuses"].most_common())
        sample = (v["sample"] or "—").replace("|", "\\|")
        if len(sample) > 160:
            sample = sample[:157] + "..."
        out.append(f"| {k} | {v['n']} | {v['reported']} | {st} | {sample} |")
    out.append("")
    if unreported:
        out.append(f"**{len(unreported)} faulty devices went unreported**, e.g. "
                   + ", ".join(f"{a_} ({k}, {st})" for a_, k, st in unreported[:8]) + "\n")
    return bool(unreported) or not done


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("score")
    sc.add_argument("manifest")
    sc.add_argument("tool", choices=["hashward", "hashward-defaults", "pyasic", "asic-rs", "asic-rs-capped"])
    sc.add_argument("output")
    sc.add_argument("--misses", action="store_true", help="list the miners not correctly named")
    rp = sub.add_parser("report")
    rp.add_argument("--results", required=True)
    rp.add_argument("--manifest", required=True)
    rp.add_argument("--timings", required=True)
    rp.add_argument("--versions", required=True)
    rp.add_argument("--fault-manifest")
    rp.add_argument("--fault-output")
    rp.add_argument("--fault-timing")
    rp.add_argument("--fault-percent", default="10")
    rp.add_argument("--meta", nargs="*", default=[])
    a = ap.parse_args()
    return cmd_score(a) if a.cmd == "score" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
