#!/usr/bin/env python3
"""Benchmark driver for pyasic (PyPI `pyasic`): runs pyasic's own network scan
(`pyasic.network.MinerNetwork.from_list([...])`, then `await net.scan()`) over an IPv4 range and
prints one JSON line per miner it returns, {"address","make","model","firmware"}, then one
summary line {"summary": {...}} with the elapsed seconds and the settings in force.

    pyasic_scan.py FIRST-LAST [--semaphore N]

FIRST-LAST (e.g. 127.1.0.1-127.1.39.16) becomes the smallest list of pyasic octet constructors
("127.1.0.1-255", "127.1.1-38.0-255", "127.1.39.0-16") that covers exactly those addresses; a
plain pyasic constructor ("127.1.0.1-255") is passed through as it is.

--semaphore N sets pyasic's `network_scan_semaphore` setting (hosts scanned at once). pyasic's
default is None, which scans every host at once with asyncio.gather; with thousands of hosts
that opens more sockets than a 20,000-descriptor limit allows (each host holds several: the
port-80 ping, http:// and https:// probes, two 4028 probes, the model lookups). 0 keeps pyasic's
default (None). Everything else is pyasic's default (network_ping_timeout 3 s, 1 try;
factory_get_timeout 3 s, 1 try).
"""

import asyncio
import ipaddress
import json
import sys
import time
import warnings


def octet_ranges(first: ipaddress.IPv4Address, last: ipaddress.IPv4Address) -> list[str]:
    """pyasic octet constructors (each octet `N` or `N-M`) covering exactly first..last."""
    a, b = int(first), int(last)
    out = []
    while a <= b:
        o = ipaddress.IPv4Address(a).packed
        block_end = a | 0xFF
        if o[3] != 0 or block_end > b:
            end = min(block_end, b)
            out.append(f"{o[0]}.{o[1]}.{o[2]}.{o[3]}-{end & 0xFF}")
            a = end + 1
            continue
        c_end = o[2]
        while c_end < 255 and ((a & 0xFFFF0000) | ((c_end + 1) << 8) | 0xFF) <= b:
            c_end += 1
        out.append(f"{o[0]}.{o[1]}.{o[2]}-{c_end}.0-255")
        a = ((a & 0xFFFF0000) | (c_end << 8) | 0xFF) + 1
    return out


def parse_targets(spec: str) -> list[str]:
    if "-" in spec:
        f, _, l = spec.partition("-")
        try:
            first, last = ipaddress.IPv4Address(f), ipaddress.IPv4Address(l)
        except ValueError:
            return [spec]
        if first > last:
            sys.exit(f"pyasic_scan.py: {first} comes after {last}")
        return octet_ranges(first, last)
    return [spec]


def text(v):
    return None if v is None else str(v)


async def main() -> int:
    args = sys.argv[1:]
    spec, semaphore = None, 0
    while args:
        a = args.pop(0)
        if a == "--semaphore" and args:
            semaphore = int(args.pop(0))
        elif a in ("-h", "--help") or a.startswith("-") or spec is not None:
            print(__doc__, file=sys.stderr)
            return 2
        else:
            spec = a
    if spec is None:
        print(__doc__, file=sys.stderr)
        return 2

    import pyasic
    from pyasic import settings
    from pyasic.network import MinerNetwork

    # "Partially supported miner found" and the like go to stderr, not into the results.
    warnings.simplefilter("default")
    if semaphore > 0:
        # MinerNetwork reads this when it is built: set it first.
        settings.update("network_scan_semaphore", semaphore)
    ranges = parse_targets(spec)
    net = MinerNetwork.from_list(ranges)

    started = time.monotonic()
    miners = await net.scan()
    elapsed = time.monotonic() - started

    for m in sorted(miners):
        print(json.dumps({
            "address": str(m.ip),
            "make": text(m.make),
            "model": text(m.raw_model),
            "firmware": text(m.firmware),
        }))
    keys = ["network_ping_retries", "network_ping_timeout", "network_scan_semaphore",
            "factory_get_retries", "factory_get_timeout"]
    try:
        from importlib.metadata import version
        pv = version("pyasic")
    except Exception:
        pv = getattr(pyasic, "__version__", "?")
    print(json.dumps({"summary": {
        "tool": "pyasic",
        "version": pv,
        "hosts": len(net),
        "ranges": ranges,
        "miners": len(miners),
        "elapsed_s": round(elapsed, 3),
        "settings": {k: settings.get(k) for k in keys},
    }}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
