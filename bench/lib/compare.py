#!/usr/bin/env python3
"""Which of the manifest's files did each tool extract?

    compare.py MANIFEST OUT_JSON TOOL=DIR [TOOL=DIR ...]

Walks each tool's output directory (symlinks are not followed), hashes every regular file whose
size matches a manifest file's size (sha256; a file of another size cannot match), and counts,
per tool and per layer, the manifest files found anywhere in the output, whatever their name.
Also notes which manifest files an anchor (any tool other than `hashward`) found and hashward
did not. Writes the result as JSON to OUT_JSON and a short table on stderr. Stdlib only.
"""

import hashlib
import json
import os
import stat
import sys


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def scan(root, sizes):
    """(regular files, bytes, {sha256 present among candidate sizes}) under root."""
    found = set()
    nfiles = nbytes = 0
    if not os.path.isdir(root):
        return 0, 0, found
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in filenames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            nfiles += 1
            nbytes += st.st_size
            if st.st_size in sizes:
                try:
                    found.add(sha256_file(p))
                except OSError:
                    pass
    return nfiles, nbytes, found


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    manifest_path, out_json = sys.argv[1], sys.argv[2]
    tools = [a.split("=", 1) for a in sys.argv[3:]]
    with open(manifest_path) as f:
        manifest = json.load(f)
    files = manifest["files"]
    by_hash = {f["sha256"]: f for f in files}
    sizes = {f["size"] for f in files}
    layers = []
    for f in files:
        if f["layer"] not in layers:
            layers.append(f["layer"])
    totals = {l: sum(1 for f in files if f["layer"] == l) for l in layers}

    result = {"manifest_files": len(files), "layers": totals, "tools": {}}
    found_by = {}
    for name, d in tools:
        nfiles, nbytes, present = scan(d, sizes)
        hits = present & by_hash.keys()
        found_by[name] = hits
        per_layer = {l: sum(1 for h in hits if by_hash[h]["layer"] == l) for l in layers}
        missing = sorted((by_hash[h]["layer"], by_hash[h]["path"]) for h in by_hash.keys() - hits)
        result["tools"][name] = {
            "dir": d,
            "extracted_files": nfiles,
            "extracted_bytes": nbytes,
            "found": len(hits),
            "coverage_pct": round(100.0 * len(hits) / max(1, len(files)), 2),
            "per_layer": per_layer,
            "missing_sample": [f"{l}:/{p}" for l, p in missing[:20]],
        }
    if "hashward" in found_by:
        anchors = [n for n in found_by if n != "hashward"]
        by_anchor = set().union(*(found_by[n] for n in anchors)) if anchors else set()
        gap = by_anchor - found_by["hashward"]
        result["hashward_vs_anchors"] = {
            "anchors": anchors,
            "found_by_anchors": len(by_anchor),
            "missed_by_hashward": len(gap),
            "missed_per_layer": {l: sum(1 for h in gap if by_hash[h]["layer"] == l) for l in layers},
            "missed_sample": sorted(f"{by_hash[h]['layer']}:/{by_hash[h]['path']}" for h in gap)[:20],
            "covers_anchors": not gap,
        }
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1)

    w = max(len(n) for n, _ in tools)
    print(f"  {'tool':<{w}}  found/{len(files):<6} " + " ".join(f"{l:>9}" for l in layers), file=sys.stderr)
    for name, _ in tools:
        t = result["tools"][name]
        print(f"  {name:<{w}}  {t['found']:>6} {t['coverage_pct']:>5.1f}% "
              + " ".join(f"{t['per_layer'][l]:>4}/{totals[l]:<4}" for l in layers), file=sys.stderr)
    if "hashward_vs_anchors" in result:
        g = result["hashward_vs_anchors"]
        print(f"  hashward misses {g['missed_by_hashward']} of the {g['found_by_anchors']} manifest files "
              f"the anchors found", file=sys.stderr)


if __name__ == "__main__":
    main()
