#!/usr/bin/env python3
"""Scoring and reporting for bench/traffic.sh (standard library only).

  traffic_score.py gnutime TIMEFILE
      prints "wall user sys maxrss_kib" from a GNU `time -v` output file.
  traffic_score.py score MANIFEST HASHWARD_JSON
      prints a table of planted detections (found / missed) and negatives (clean / flagged);
      exit 1 when one is missed or flagged.
  traffic_score.py report --results FILE --manifest M --capture C --timings T --versions V
                          --availability A [--generate-time G] --meta key=value...
      appends a dated section to FILE; exit 1 when hashward missed a detection, flagged a
      negative or finished no run.

hashward's JSON (ARCHITECTURE.md output contract): `findings[]` with `rule`, `subject`,
`message`, `evidence`; `result.flows`, `result.devices`, `result.stratum_sessions`,
`result.beacons`. A finding matches a planted entry when the rule is equal, the planted `src`
address occurs in the finding (subject, message or evidence) as a whole address, and the
planted `dst` host, or the address of `dst_addr`, occurs in it too (for an `address:port`
destination, that address and port). A negative is flagged when a
finding of its rule names its `src` and (when `dst` is not empty) its `dst` or `dst_addr`.
"""

import collections
import datetime
import json
import os
import platform
import re
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


def address_pattern(addr):
    """A regex for `addr` (IP or IP:port) as a whole token."""
    return re.compile(r"(?<![\d.])" + re.escape(addr) + r"(?![\d])")


def finding_text(f):
    return json.dumps(f, sort_keys=True)


def names(text, planted):
    """Whether a finding's text names the planted entry's destination."""
    dst, dst_addr = planted.get("dst", ""), planted.get("dst_addr", "")
    if not dst and not dst_addr:
        return True
    if dst and not re.fullmatch(r"[\d.:]+", dst) and dst.lower() in text.lower():
        return True
    if dst and re.fullmatch(r"[\d.]+:\d+", dst):
        # An address:port destination (management ports): the finding must name that port.
        ip, port = dst.rsplit(":", 1)
        return bool(address_pattern(dst).search(text)
                    or (address_pattern(ip).search(text) and re.search(r"(?<![\d.])" + port + r"(?![\d.])", text)))
    for a in (dst, dst_addr):
        if a and re.fullmatch(r"[\d.:]+", a):
            if address_pattern(a).search(text) or address_pattern(a.rsplit(":", 1)[0]).search(text):
                return True
    return False


def matches(f, planted):
    if f.get("rule") != planted["rule"]:
        return False
    text = finding_text(f)
    if not address_pattern(planted["src"]).search(text):
        return False
    return names(text, planted)


def score(manifest, output):
    """Returns (rows, missed, flagged): rows of (kind, rule, src, dst, status, example)."""
    findings = output.get("findings", []) if isinstance(output, dict) else []
    rows, missed, flagged = [], 0, 0
    for p in manifest["planted"]:
        hits = [f for f in findings if matches(f, p)]
        status = "found" if hits else "MISSED"
        missed += 0 if hits else 1
        example = hits[0].get("message", "") if hits else ""
        rows.append(("planted", p["rule"], p["src"], p["dst"] or p["dst_addr"], status, example))
    for n in manifest.get("negatives", []):
        hits = [f for f in findings if matches(f, n)]
        status = "FLAGGED" if hits else "clean"
        flagged += 1 if hits else 0
        example = hits[0].get("message", "") if hits else ""
        rows.append(("negative", n["rule"], n["src"], n["dst"] or n["dst_addr"] or "(any)", status, example))
    return rows, missed, flagged


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cmd_score(argv):
    manifest = load_json(argv[0])
    output = load_json(argv[1])
    if output is None:
        print(f"no JSON in {argv[1]}")
        return 1
    rows, missed, flagged = score(manifest, output)
    for r in rows:
        print("\t".join(r[:5]))
    print(f"{len(manifest['planted']) - missed}/{len(manifest['planted'])} planted found, {flagged} negatives flagged")
    return 1 if missed or flagged else 0


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


def suricata_alerts(out_path):
    """Alerts by sid in the eve.json next to a Suricata run's stdout file."""
    eve = os.path.join(os.path.dirname(out_path), "eve.json")
    counts = collections.Counter()
    msgs = {}
    try:
        with open(eve, encoding="utf-8", errors="replace") as f:
            for line in f:
                if '"event_type":"alert"' not in line:
                    continue
                try:
                    a = json.loads(line)["alert"]
                except (ValueError, KeyError):
                    continue
                counts[a.get("signature_id")] += 1
                msgs[a.get("signature_id")] = a.get("signature", "")
    except OSError:
        return None, {}
    return counts, msgs


def suricata_packets(out_path):
    """Packets Suricata read, from its log ('read 1 file, N packets')."""
    log = os.path.join(os.path.dirname(out_path), "suricata.log")
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            m = re.search(r"read \d+ files?, (\d+) packets", f.read())
            return int(m.group(1)) if m else None
    except OSError:
        return None


def cmd_report(argv):
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
    meta = args["meta"]
    manifest = load_json(args["manifest"])
    cap_bytes = os.path.getsize(args["capture"])
    mb = cap_bytes / 1e6

    runs = collections.defaultdict(list)
    with open(args["timings"], encoding="utf-8") as f:
        for line in f:
            tool, run, wall, user, sys_, rss, rc, load, out = line.rstrip("\n").split("\t")
            runs[tool].append({
                "run": run, "wall": float(wall) if wall else None, "user": float(user) if user else None,
                "sys": float(sys_) if sys_ else None, "rss": int(rss) if rss else None, "rc": rc, "load": load, "out": out,
            })
    versions = {}
    with open(args["versions"], encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            versions[parts[0]] = parts[1:]
    avail = []
    with open(args["availability"], encoding="utf-8") as f:
        avail = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    gen_time = ""
    if args.get("generate_time") and os.path.exists(args["generate_time"]):
        with open(args["generate_time"], encoding="utf-8") as f:
            gen_time = f.read().strip().splitlines()[-1] if f else ""

    L = []
    now = datetime.datetime.now().astimezone()
    L.append(f"\n## Traffic analysis (bench/traffic.sh) — {now:%Y-%m-%d %H:%M %Z}\n")
    L.append(f"{meta.get('title', '')}. {meta.get('note', '')}".strip() + "\n")
    L.append(f"- machine: {machine()}; load average before each run is in the table")
    L.append(f"- hashward commit: {meta.get('commit', '?')}")
    span = (manifest["last_ts_us"] - manifest["first_ts_us"]) / 1e6
    L.append(
        f"- capture: {cap_bytes:,} bytes ({cap_bytes / 2**20:.0f} MiB, {meta.get('format', 'pcap')}), {manifest['packets']:,} packets, "
        f"{manifest['miners']:,} miners over {span / 3600:.2f} h (period scale {manifest.get('period_scale', 1):.2f}), "
        f"seed {meta.get('seed', '?')}; generated in {gen_time or 'an earlier run (reused)'}"
    )
    L.append("- anchors: " + "; ".join(f"{k}: {v}" for k, v in avail))
    L.append(f"- runs: {meta.get('runs', '?')} per tool, interleaved, {meta.get('settle', '?')} s pause before each\n")

    L.append("| tool | version | wall s, median (range) | MB/s | CPU s (user+sys) | MB/s per CPU-second | max RSS MiB | exit | load | output |")
    L.append("|---|---|---:|---:|---:|---:|---:|---|---|---|")
    medians = {}
    for tool in ["hashward", "suricata", "suricata-mining", "suricata-et", "tshark"]:
        if tool not in runs:
            continue
        rs = runs[tool]
        walls = [r["wall"] for r in rs if r["wall"] and r["rc"] in ("0", "1")]
        cpus = [r["user"] + r["sys"] for r in rs if r["user"] is not None and r["sys"] is not None and r["rc"] in ("0", "1")]
        rss = [r["rss"] / 1024 for r in rs if r["rss"]]
        wall_med = statistics.median(walls) if walls else None
        cpu_med = statistics.median(cpus) if cpus else None
        medians[tool] = wall_med
        what = ""
        if tool.startswith("suricata"):
            counts, _ = suricata_alerts(rs[-1]["out"])
            pk = suricata_packets(rs[-1]["out"])
            what = f"{sum(counts.values()) if counts is not None else '?'} alerts" + (f", {pk:,} packets read" if pk else "")
        elif tool == "hashward":
            out = load_json(rs[-1]["out"])
            if isinstance(out, dict):
                res = out.get("result", {}) or {}
                n = lambda v: len(v) if isinstance(v, list) else v
                what = (f"{len(out.get('findings', []))} findings, flows {n(res.get('flows'))}, devices {n(res.get('devices'))}, "
                        f"stratum sessions {n(res.get('stratum_sessions'))}, beacons {n(res.get('beacons'))}")
            else:
                what = "no JSON output"
        elif tool == "tshark":
            try:
                with open(rs[-1]["out"], encoding="utf-8", errors="replace") as f:
                    convs = sum(1 for line in f if "<->" in line)
                what = f"{convs:,} TCP conversations"
            except OSError:
                what = "?"
        ver = versions.get(tool, ["?"])[0]
        L.append(
            f"| {tool} | {ver} | {fmt_range(walls)} | {mb / wall_med:.0f} | {fmt_range(cpus)} | "
            f"{(mb / cpu_med) if cpu_med else float('nan'):.0f} | {fmt_range(rss, 0)} | "
            f"{','.join(sorted({r['rc'] for r in rs}))} | {'/'.join(r['load'] for r in rs)} | {what} |"
            if wall_med else f"| {tool} | {ver} | no finished run | — | — | — | {fmt_range(rss, 0)} | {','.join(r['rc'] for r in rs)} | | {what} |"
        )
    L.append("")
    L.append("Commands: " + "; ".join(f"`{v[1]}`" for k, v in versions.items() if len(v) > 1) + ".\n")
    if medians.get("hashward") and medians.get("suricata"):
        L.append(f"hashward / Suricata (no rules) throughput: **{medians['suricata'] / medians['hashward']:.1f}×**"
                 + (f"; hashward / Suricata with the mining rules: {medians['suricata-mining'] / medians['hashward']:.1f}×" if medians.get("suricata-mining") else "")
                 + (f"; hashward / tshark: {medians['tshark'] / medians['hashward']:.1f}×" if medians.get("tshark") else "") + ".\n")

    for tool in ["suricata-mining", "suricata-et"]:
        if tool in runs:
            counts, msgs = suricata_alerts(runs[tool][-1]["out"])
            if counts:
                L.append(f"{tool} alerts (last run): " + ", ".join(f"{sid} ×{c} ({msgs.get(sid, '')})" for sid, c in counts.most_common()) + ".\n")
            elif counts is not None:
                L.append(f"{tool}: no alerts.\n")

    rc = 0
    if "hashward" in runs:
        finished = [r for r in runs["hashward"] if r["rc"] in ("0", "1")]
        if not finished:
            L.append("**hashward finished no run.**\n")
            rc = 1
        else:
            output = load_json(finished[-1]["out"])
            if output is None:
                L.append("**hashward wrote no JSON.**\n")
                rc = 1
            else:
                rows, missed, flagged = score(manifest, output)
                total = len(manifest["planted"])
                L.append(f"Detections (hashward, last run): **{total - missed}/{total} planted found, {flagged} of "
                         f"{len(manifest.get('negatives', []))} negatives flagged**.\n")
                L.append("| kind | rule | src | dst | result | hashward's message |")
                L.append("|---|---|---|---|---|---|")
                for kind, rule, src, dst, status, example in rows:
                    L.append(f"| {kind} | {rule} | {src} | {dst} | {status} | {example[:120].replace('|', '/')} |")
                L.append("")
                if missed or flagged:
                    rc = 1
    else:
        L.append("hashward was not run (TOOLS without hashward): no detection check.\n")

    with open(args["results"], "a", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))
    return rc


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "gnutime":
        wall, user, sys_, rss = gnutime(argv[0])
        print(f"{wall:.2f} {user:.2f} {sys_:.2f} {rss}")
        return 0
    if cmd == "score":
        return cmd_score(argv)
    if cmd == "report":
        return cmd_report(argv)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
