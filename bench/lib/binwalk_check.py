#!/usr/bin/env python3
"""Did a `binwalk -e -M` run open every container it extracted?

    binwalk_check.py OUTDIR      prints the number of unopened containers (0: complete)

binwalk 3.1.0's -M loop can stop before it has read a worker's last result: the worker has
already extracted file X into X.extracted/, but the files in there are never queued, so the
containers among them are never opened. In a complete run every extracted file (and the image,
linked into OUTDIR) that starts with the magic of a container this benchmark's image holds has
a sibling `NAME.extracted/` directory. This counts the ones that do not, and lists them on
stderr. Only offset-0 magics of the image's formats are checked, so leaves (ELF-like binaries,
text) never count. Stdlib only.
"""

import os
import sys

MAGICS = [
    (0, b"\x1f\x8b\x08", "gzip"),
    (257, b"ustar", "tar"),
    (0, b"UBI#", "ubi"),
    (0, b"\x31\x18\x10\x06", "ubifs"),
    (0, b"\x85\x19", "jffs2"),
    (0, b"hsqs", "squashfs"),
    (1080, b"\x53\xef", "ext"),
    (0, b"\x27\x05\x19\x56", "uimage"),
]


def kind(path):
    try:
        with open(path, "rb") as f:
            head = f.read(1088)
    except OSError:
        return None
    for off, magic, name in MAGICS:
        if head[off:off + len(magic)] == magic:
            return name
    return None


def main():
    root = sys.argv[1]
    unopened = []
    for dirpath, dirnames, filenames in os.walk(root):
        names = set(dirnames) | set(filenames)
        for n in filenames:
            p = os.path.join(dirpath, n)
            if not os.path.isfile(p):  # the image is a symlink in OUTDIR: followed; dangling: skipped
                continue
            if os.path.islink(p) and dirpath != root:
                continue  # links inside extracted trees point at files counted elsewhere
            k = kind(p)
            if k and f"{n}.extracted" not in names:
                unopened.append((k, os.path.relpath(p, root)))
    for k, p in unopened[:10]:
        print(f"binwalk_check: unopened {k}: {p}", file=sys.stderr)
    print(len(unopened))


if __name__ == "__main__":
    main()
