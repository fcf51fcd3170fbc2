#!/usr/bin/env python3
"""Generate the firmware-unpacking benchmark image: an S9-style Antminer package.

Stdlib only, plus the Debian file-system tools (mtd-utils, e2fsprogs, squashfs-tools).
Deterministic for a given --seed / --size-mb / --files: every file's content comes from a
seeded PRNG and carries its own layer and path, so every regular file has a distinct sha256.

Layout of the package (a gzip-compressed tar, like Antminer-S9-*.tar.gz):

    runme.sh                        text (the upgrade script)
    ubi_info                        text
    xilinx/BOOT.bin                 Zynq boot image (random-ish, partly compressible)
    xilinx/devicetree.dtb           flattened device tree (built here, no dtc needed)
    xilinx/uImage                   U-Boot legacy image, gzip payload holding a kernel "Image"
    xilinx/angstrom_rootfs.jffs2    really UBI (volume "rootfs", id 0) holding UBIFS (zlib)
    c5/angstrom_rootfs.jffs2        a real JFFS2 (little endian, 128 KiB erase blocks)
    c5/ramdisk.ext2.gz              ext2 file system, gzip-compressed
    xilinx/appfs.squashfs           squashfs 4, xz

Writes, under --work:
    gen/trees/<layer>/              the source trees (kept: they are the ground truth)
    gen/stage/                      the package members
    image/<name>.tar.gz             the image
    image/manifest.json             sha256 of every regular file put into every layer

Skips everything when image/manifest.json already describes an image made from the same
parameters by the same version of this script (idempotent); --force regenerates.
"""

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zlib

EPOCH = 1544025600  # 2018-12-05, fixed timestamp for every file and container
MIB = 1024 * 1024

# Share of the compressed package that each part takes, and share of the files per tree.
BYTE_SHARES = {
    "boot": 0.03,
    "kernel": 0.05,
    "ubifs": 0.32,
    "squashfs": 0.25,
    "ext2": 0.20,
    "jffs2": 0.15,
}
FILE_SHARES = {"ubifs": 0.36, "squashfs": 0.26, "ext2": 0.20, "jffs2": 0.18}
# Raw bytes of tree content per byte of compressed output (binaries are about half random).
RAW_PER_COMPRESSED = 1.5

LAYER_MEMBER = {
    "ubifs": "xilinx/angstrom_rootfs.jffs2",
    "jffs2": "c5/angstrom_rootfs.jffs2",
    "ext2": "c5/ramdisk.ext2.gz",
    "squashfs": "xilinx/appfs.squashfs",
}
LAYER_FORMAT = {
    "ubifs": "ubi > ubifs (zlib)",
    "jffs2": "jffs2 (little endian)",
    "ext2": "gzip > ext2",
    "squashfs": "squashfs 4 (xz)",
}

WORDS = (
    "miner pool stratum hashrate chain asic fan temp freq voltage board nonce share accept reject "
    "difficulty worker user pass url port timeout retry network dhcp static gateway netmask dns "
    "hostname ntp server client enable disable true false config option value default fpga spi "
    "i2c uart gpio led reset watchdog kernel module driver firmware upgrade flash nand ubi mtd "
    "partition bootloader image version build date release bitmain antminer cgminer bmminer "
    "monitor status summary devs stats pools api access allow listen log level debug info warn "
    "error socket thread queue work job extranonce target clock pll chip core asicboost"
).split()

BUSYBOX_APPLETS = (
    "ash sh cat chmod chown cp date dd df dmesg echo egrep false fgrep grep gunzip gzip hostname "
    "kill ln login ls mkdir mknod more mount mv netstat nice pidof ping ps pwd rm rmdir sed sleep "
    "stty su sync tar touch true umount uname usleep vi zcat awk basename clear cut dirname du env "
    "expr find free head hexdump id killall less logger md5sum mkfifo nohup nslookup od printf "
    "readlink realpath reset seq sha1sum sort tail tee telnet test tftp time top tr traceroute tty "
    "uniq unzip uptime wc wget which whoami xargs yes ifconfig route udhcpc syslogd klogd insmod "
    "rmmod lsmod modprobe reboot poweroff halt init getty hwclock ifup ifdown start-stop-daemon "
    "devmem flash_eraseall nandwrite nanddump ubiattach ubidetach ubimkvol ubirmvol ubiupdatevol"
).split()

TOP_DIRS = {
    "bin": "bin", "sbin": "bin", "usr/bin": "bin", "usr/sbin": "bin", "lib": "lib",
    "usr/lib": "lib", "usr/lib/cgminer": "lib", "lib/modules/4.6.0-xilinx/kernel/drivers/net": "ko",
    "lib/modules/4.6.0-xilinx/kernel/drivers/misc": "ko", "lib/firmware": "bin",
    "etc": "txt", "etc/init.d": "sh", "etc/network": "txt", "etc/config": "txt",
    "etc/ssl/certs": "txt", "etc/cgminer": "txt", "www/pages": "txt", "www/pages/cgi-bin": "sh",
    "www/pages/css": "txt", "www/pages/js": "txt", "usr/share/zoneinfo/Asia": "txt",
    "usr/share/zoneinfo/Europe": "txt", "usr/share/zoneinfo/America": "txt",
    "usr/share/locale/zh_CN/LC_MESSAGES": "txt", "usr/share/doc": "txt", "opt/bitmain/bin": "bin",
    "opt/bitmain/conf": "txt", "opt/bitmain/scripts": "sh", "var/lib/opkg/info": "txt",
}


# ---------------------------------------------------------------------------------------------
# content


def lognormal_size(rng, median, sigma, lo, hi):
    return int(min(hi, max(lo, rng.lognormvariate(math.log(median), sigma))))


def text_content(rng, tag, size, kind):
    """A config file or shell script of about `size` bytes, starting with a unique tag line."""
    head = ("#!/bin/sh\n" if kind == "sh" else "") + f"# {tag}\n"
    parts = [head]
    n = len(head)
    while n < size:
        r = rng.random()
        if kind == "sh":
            if r < 0.3:
                line = f"if [ -e /config/{rng.choice(WORDS)}.conf ]; then\n    {rng.choice(WORDS)}_{rng.choice(WORDS)}=\"{rng.randint(0, 65535)}\"\nfi\n"
            else:
                line = "    " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) + "\n"
        else:
            if r < 0.5:
                line = f"{rng.choice(WORDS)}.{rng.choice(WORDS)}={rng.choice(WORDS)}:{rng.randint(0, 99999)}\n"
            else:
                line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + "\n"
        parts.append(line)
        n += len(line)
    return "".join(parts).encode()[: max(size, len(head))]


class Binary:
    """ELF-like bytes: a real ELF32 ARM header, then code-like, string-table and random runs."""

    def __init__(self, rng):
        # A per-tree vocabulary of 32-byte "instruction" chunks: repeats compress, like code.
        self.vocab = [rng.randbytes(32) for _ in range(96)]

    def content(self, rng, tag, size):
        e_ident = b"\x7fELF\x01\x01\x01" + bytes(9)
        hdr = e_ident + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, 0x10000 + rng.randrange(0, 0x1000) * 4,
                                    52, 0, 0x5000400, 52, 32, 1, 40, 0, 0)
        phdr = struct.pack("<IIIIIIII", 1, 0, 0x10000, 0x10000, size, size, 5, 0x10000)
        note = f"\0GCC: (GNU) 4.9.2 {tag}\0".encode()
        out = [hdr, phdr, note]
        n = len(hdr) + len(phdr) + len(note)
        while n < size:
            want = min(size - n, rng.randint(256, 16384))
            r = rng.random()
            if r < 0.48:  # random (already compressed data, tables, crypto constants)
                chunk = rng.randbytes(want)
            elif r < 0.88:  # code: repeated instruction chunks
                chunk = b"".join(rng.choices(self.vocab, k=want // 32 + 1))[:want]
            elif r < 0.97:  # string table
                s = []
                m = 0
                while m < want:
                    w = "_".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) + "\0"
                    s.append(w)
                    m += len(w)
                chunk = "".join(s).encode()[:want]
            else:  # padding
                chunk = bytes(want)
            out.append(chunk)
            n += len(chunk)
        return b"".join(out)[:size]


def make_tree(root, layer, rng, nfiles, nbytes):
    """Write a rootfs-like tree; returns (files, symlinks, dirs) for the manifest."""
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    binary = Binary(rng)
    kinds = dict(TOP_DIRS)
    # A few extra nested directories, 3-5 levels deep.
    for i in range(max(4, nfiles // 60)):
        base = rng.choice(["usr/share", "www/pages", "opt/bitmain", "etc/config", "usr/lib"])
        depth = rng.randint(1, 3)
        sub = "/".join(f"{rng.choice(WORDS)}{rng.randint(0, 9)}" for _ in range(depth))
        kinds.setdefault(f"{base}/{sub}", "lib" if base == "usr/lib" else "txt")
    dirs = list(kinds)
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    bin_dirs = [x for x in dirs if kinds[x] in ("bin", "lib", "ko")]
    txt_dirs = [x for x in dirs if kinds[x] in ("txt", "sh")]

    # Plan sizes: ~38% binaries, the rest text; binaries are scaled to fill the byte budget.
    plan = []
    used = set()
    for i in range(nfiles):
        is_bin = rng.random() < 0.38
        d = rng.choice(bin_dirs if is_bin else txt_dirs)
        k = kinds[d]
        ext = {"lib": ".so.1", "ko": ".ko", "sh": ".sh", "txt": rng.choice([".conf", "", ".txt", ".js", ".css", ".html"])}.get(k, "")
        while True:
            name = f"{rng.choice(WORDS)}{'-' + rng.choice(WORDS) if rng.random() < 0.4 else ''}{rng.randint(0, 999) if rng.random() < 0.5 else ''}{ext}"
            path = f"{d}/{name}"
            if path not in used:
                break
        used.add(path)
        if k in ("bin", "lib", "ko"):
            size = lognormal_size(rng, 24 * 1024, 1.4, 1024, 64 * MIB)
        else:
            size = lognormal_size(rng, 1500, 1.1, 64, 96 * 1024)
        plan.append([path, k, size])
    text_bytes = sum(s for _, k, s in plan if k in ("txt", "sh"))
    bin_bytes = sum(s for _, k, s in plan if k not in ("txt", "sh"))
    scale = max(0.05, (nbytes - text_bytes) / max(1, bin_bytes))
    files = []
    for path, k, size in plan:
        if k not in ("txt", "sh"):
            size = max(512, int(size * scale))
        tag = f"hashward-bench {layer}:/{path}"
        data = text_content(rng, tag, size, k) if k in ("txt", "sh") else binary.content(rng, tag, size)
        full = os.path.join(root, path)
        with open(full, "wb") as f:
            f.write(data)
        os.chmod(full, 0o755 if k in ("bin", "sh", "lib") else 0o644)
        files.append({"layer": layer, "path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    # busybox and its applet links (busybox style), library version links.
    bb = "bin/busybox"
    data = binary.content(rng, f"hashward-bench {layer}:/{bb}", max(4096, int(380 * 1024 * min(1.0, scale))))
    with open(os.path.join(root, bb), "wb") as f:
        f.write(data)
    os.chmod(os.path.join(root, bb), 0o755)
    files.append({"layer": layer, "path": bb, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    links = []
    n_links = max(40, nfiles // 8)
    applets = list(BUSYBOX_APPLETS)
    for i in range(n_links):
        if i < len(applets):
            d = rng.choice(["bin", "sbin", "usr/bin", "usr/sbin"])
            path, target = f"{d}/{applets[i]}", ("busybox" if d == "bin" else "/bin/busybox")
        else:
            libs = [f["path"] for f in files if f["path"].endswith(".so.1")]
            if not libs:
                break
            lib = rng.choice(libs)
            path, target = f"{lib[:-2]}.{i}", os.path.basename(lib)
        if path in used or os.path.lexists(os.path.join(root, path)):
            continue
        used.add(path)
        os.symlink(target, os.path.join(root, path))
        links.append({"layer": layer, "path": path, "target": target})

    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            os.utime(p, (EPOCH, EPOCH), follow_symlinks=False)
    os.utime(root, (EPOCH, EPOCH))
    ndirs = sum(len(dn) for _, dn, _ in os.walk(root))
    return files, links, ndirs


def tree_bytes(root):
    return sum(os.lstat(os.path.join(dp, n)).st_size for dp, _, fns in os.walk(root) for n in fns)


# ---------------------------------------------------------------------------------------------
# containers


def run(cmd, **kw):
    env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin", E2FSPROGS_FAKE_TIME=str(EPOCH))
    env.pop("SOURCE_DATE_EPOCH", None)  # mksquashfs refuses it next to -mkfs-time
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, **kw)


def build_ubi(tree, out, tmp):
    ubifs = os.path.join(tmp, "rootfs.ubifs")
    # -c is the maximum LEB count: 2047 as on the S9, more when the tree needs it.
    lebs = max(2047, int(tree_bytes(tree) * 1.25 / 126976) + 256)
    run(["mkfs.ubifs", "-r", tree, "-m", "2048", "-e", "126976", "-c", str(lebs), "-x", "zlib", "-o", ubifs])
    cfg = os.path.join(tmp, "ubinize.cfg")
    with open(cfg, "w") as f:
        f.write("[rootfs]\nmode=ubi\nimage=%s\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_flags=autoresize\n" % ubifs)
    run(["ubinize", "-o", out, "-m", "2048", "-p", "128KiB", "-s", "2048", "-Q", "1544025600", cfg])
    os.remove(ubifs)


def build_jffs2(tree, out, tmp):
    run(["mkfs.jffs2", "-r", tree, "-o", out, "-e", "0x20000", "-n", "-l"])


def build_ext2_gz(tree, out, tmp, nentries):
    img = os.path.join(tmp, "ramdisk.ext2")
    if os.path.exists(img):
        os.remove(img)
    kib = int(tree_bytes(tree) * 1.15 / 1024) + nentries * 4 + 8192
    run(["mke2fs", "-q", "-F", "-t", "ext2", "-L", "linux", "-b", "4096", "-N", str(nentries + 256),
         "-U", "5f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "-E", "root_owner=0:0,hash_seed=5f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
         "-d", tree, img, f"{kib}k"])
    with open(img, "rb") as src, open(out, "wb") as raw:
        with gzip.GzipFile(filename="ramdisk.ext2", mode="wb", compresslevel=6, fileobj=raw, mtime=EPOCH) as gz:
            shutil.copyfileobj(src, gz, 4 * MIB)
    os.remove(img)


def build_squashfs(tree, out, tmp):
    if os.path.exists(out):
        os.remove(out)
    run(["mksquashfs", tree, out, "-comp", "xz", "-noappend", "-all-root", "-no-progress",
         "-mkfs-time", str(EPOCH), "-all-time", str(EPOCH)])


def build_uimage(rng, tag, kernel_size):
    """U-Boot legacy image (64-byte header, big endian) around a gzip-compressed kernel."""
    image = Binary(rng).content(rng, tag, kernel_size)
    payload = gzip.compress(image, compresslevel=9, mtime=0)
    name = b"Linux-4.6.0-xilinx".ljust(32, b"\0")
    # magic, hcrc, time, size, load, ep, dcrc, os=linux(5), arch=arm(2), type=kernel(2), comp=gzip(1)
    fields = [0x27051956, 0, EPOCH, len(payload), 0x8000, 0x8000, zlib.crc32(payload), 5, 2, 2, 1, name]
    fmt = ">IIIIIIIBBBB32s"
    hcrc = zlib.crc32(struct.pack(fmt, *fields))
    fields[1] = hcrc
    return struct.pack(fmt, *fields) + payload, image


def build_boot_bin(rng, tag, size):
    """Zynq BOOT.bin-like: vector table, width word and 'XNLX', header, then FSBL/bitstream/u-boot."""
    head = struct.pack("<8I", *([0xEAFFFFFE] * 8)) + struct.pack("<II", 0xAA995566, 0x584C4E58)
    head += struct.pack("<6I", 0, 0x01010000, 0x1700, 0x18000, 0x1700, 0x18000) + bytes(0x8c0 - 0x38)
    body = Binary(rng).content(rng, tag, max(1024, size - len(head)))
    # The bitstream part: sync word and long runs of configuration words.
    bit = struct.pack(">I", 0xAA995566) + b"".join(struct.pack(">I", 0x30004000 + (i % 64)) * 8 for i in range(max(64, size // 256)))
    return (head + body[: len(body) // 2] + bit + body[len(body) // 2:])[:size]


def fdt(model):
    """A small flattened device tree (version 17), built without dtc."""
    strings = bytearray()
    stroff = {}

    def s(name):
        if name not in stroff:
            stroff[name] = len(strings)
            strings.extend(name.encode() + b"\0")
        return stroff[name]

    struct_ = bytearray()

    def pad():
        while len(struct_) % 4:
            struct_.append(0)

    def begin(name):
        struct_.extend(struct.pack(">I", 1) + name.encode() + b"\0")
        pad()

    def prop(name, value):
        if isinstance(value, str):
            value = value.encode() + b"\0"
        elif isinstance(value, list):
            value = b"".join(struct.pack(">I", v) for v in value)
        struct_.extend(struct.pack(">III", 3, len(value), s(name)) + value)
        pad()

    def end():
        struct_.extend(struct.pack(">I", 2))

    begin("")
    prop("#address-cells", [1]); prop("#size-cells", [1])
    prop("compatible", "xlnx,zynq-7000"); prop("model", model)
    begin("chosen"); prop("bootargs", "console=ttyPS0,115200 root=ubi0:rootfs ubi.mtd=1 rootfstype=ubifs rw rootwait"); end()
    begin("memory"); prop("device_type", "memory"); prop("reg", [0, 0x20000000]); end()
    begin("amba"); prop("compatible", "simple-bus"); prop("ranges", b"")
    for i, (n, addr) in enumerate([("ethernet@e000b000", 0xE000B000), ("serial@e0001000", 0xE0001000),
                                   ("flash@e100e000", 0xE100E000), ("gpio@e000a000", 0xE000A000)]):
        begin(n); prop("reg", [addr, 0x1000]); prop("status", "okay"); end()
    end()
    end()
    struct_.extend(struct.pack(">I", 9))
    rsvmap = bytes(16)
    off_rsv = 40
    off_struct = off_rsv + len(rsvmap)
    off_strings = off_struct + len(struct_)
    total = off_strings + len(strings)
    header = struct.pack(">10I", 0xD00DFEED, total, off_struct, off_strings, off_rsv, 17, 16, 0, len(strings), len(struct_))
    return header + rsvmap + bytes(struct_) + bytes(strings)


RUNME = """#!/bin/sh
# hashward-bench package: upgrade script of an S9-style control board (synthetic)
set -e
if [ -e /dev/mtd8 ]; then BOARD=xilinx; else BOARD=c5; fi
echo "upgrading $BOARD"
if [ "$BOARD" = xilinx ]; then
    flash_eraseall /dev/mtd0 >/dev/null 2>&1
    nandwrite -p /dev/mtd0 ./xilinx/BOOT.bin >/dev/null 2>&1
    flash_eraseall /dev/mtd1 >/dev/null 2>&1
    nandwrite -p -s 0x1A00000 /dev/mtd0 ./xilinx/devicetree.dtb >/dev/null 2>&1
    nandwrite -p -s 0x1100000 /dev/mtd0 ./xilinx/uImage >/dev/null 2>&1
    ubiformat /dev/mtd1 -f ./xilinx/angstrom_rootfs.jffs2 -y >/dev/null 2>&1
else
    flash_eraseall /dev/mtd2 >/dev/null 2>&1
    nandwrite -p /dev/mtd2 ./c5/angstrom_rootfs.jffs2 >/dev/null 2>&1
fi
sync
echo "done"
"""

UBI_INFO = """ubi_num=0
mtd=1
volume=rootfs
vol_id=0
vol_type=dynamic
leb_size=126976
min_io_size=2048
sub_page_size=2048
"""


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--size-mb", type=float, default=100.0, help="target size of the .tar.gz (MiB)")
    ap.add_argument("--files", type=int, default=0, help="regular files over all trees (0: 50 per MiB, 300..20000)")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()

    nfiles = a.files or int(min(20000, max(300, 50 * a.size_mb)))
    with open(__file__, "rb") as f:
        me = hashlib.sha256(f.read()).hexdigest()
    params = {"size_mb": a.size_mb, "files": nfiles, "seed": a.seed, "generator_sha256": me}
    imgdir = os.path.join(a.work, "image")
    name = f"Antminer-S9-hashward-bench-{a.size_mb:g}M-seed{a.seed}.tar.gz"
    image = os.path.join(imgdir, name)
    manifest_path = os.path.join(imgdir, f"{name[:-7]}.manifest.json")
    if not a.force and os.path.exists(manifest_path) and os.path.exists(image):
        try:
            with open(manifest_path) as f:
                old = json.load(f)
            if old.get("params") == params and os.path.getsize(image) == old["image"]["size"]:
                print(f"image up to date: {image}", file=sys.stderr)
                print(image)
                return
        except (ValueError, KeyError):
            pass

    t0 = time.time()
    gen = os.path.join(a.work, "gen")
    trees = os.path.join(gen, "trees")
    stage = os.path.join(gen, "stage")
    tmp = os.path.join(gen, "tmp")
    for d in (stage, tmp):
        if os.path.exists(d):
            shutil.rmtree(d)
    for d in (trees, stage, tmp, imgdir, os.path.join(stage, "xilinx"), os.path.join(stage, "c5")):
        os.makedirs(d, exist_ok=True)

    target = a.size_mb * MIB
    manifest_files, manifest_links, layers = [], [], []
    for layer in ("ubifs", "squashfs", "ext2", "jffs2"):
        rng = random.Random(f"{a.seed}:{layer}")
        n = max(20, int(nfiles * FILE_SHARES[layer]))
        nbytes = int(target * BYTE_SHARES[layer] * RAW_PER_COMPRESSED)
        print(f"  tree {layer}: {n} files, ~{nbytes / MIB:.1f} MiB", file=sys.stderr)
        tree = os.path.join(trees, layer)
        files, links, ndirs = make_tree(tree, layer, rng, n, nbytes)
        member = LAYER_MEMBER[layer]
        out = os.path.join(stage, member)
        print(f"  build {member} ({LAYER_FORMAT[layer]})", file=sys.stderr)
        if layer == "ubifs":
            build_ubi(tree, out, tmp)
        elif layer == "jffs2":
            build_jffs2(tree, out, tmp)
        elif layer == "ext2":
            build_ext2_gz(tree, out, tmp, len(files) + len(links) + ndirs)
        else:
            build_squashfs(tree, out, tmp)
        manifest_files += files
        manifest_links += links
        layers.append({"layer": layer, "member": member, "format": LAYER_FORMAT[layer], "files": len(files),
                       "symlinks": len(links), "dirs": ndirs, "tree_bytes": sum(f["size"] for f in files),
                       "member_bytes": os.path.getsize(out)})

    # Boot parts.
    rng = random.Random(f"{a.seed}:boot")
    boot = build_boot_bin(rng, "hashward-bench boot:/xilinx/BOOT.bin", int(target * BYTE_SHARES["boot"] * 1.4))
    uimage, kernel = build_uimage(random.Random(f"{a.seed}:kernel"), "hashward-bench kernel:/Image",
                                  int(target * BYTE_SHARES["kernel"] * RAW_PER_COMPRESSED))
    members = {
        "runme.sh": RUNME.encode(),
        "ubi_info": UBI_INFO.encode(),
        "xilinx/BOOT.bin": boot,
        "xilinx/devicetree.dtb": fdt("Antminer S9 (hashward-bench)"),
        "xilinx/uImage": uimage,
    }
    for p, data in members.items():
        with open(os.path.join(stage, p), "wb") as f:
            f.write(data)
    # Leaves of the package that stay as they are (the rest are containers, opened further).
    for p in ("runme.sh", "ubi_info", "xilinx/BOOT.bin"):
        manifest_files.append({"layer": "package", "path": p, "size": len(members[p]),
                               "sha256": hashlib.sha256(members[p]).hexdigest()})
    manifest_files.append({"layer": "kernel", "path": "xilinx/uImage:Image", "size": len(kernel),
                           "sha256": hashlib.sha256(kernel).hexdigest()})

    # The package: a gzip-compressed GNU tar, sorted, fixed owners and times.
    print(f"  package {image}", file=sys.stderr)
    tmp_image = image + ".part"
    order = ["runme.sh", "ubi_info", "xilinx", "xilinx/BOOT.bin", "xilinx/devicetree.dtb", "xilinx/uImage",
             "xilinx/angstrom_rootfs.jffs2", "xilinx/appfs.squashfs", "c5", "c5/angstrom_rootfs.jffs2",
             "c5/ramdisk.ext2.gz"]

    def norm(ti):
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.mtime = EPOCH
        ti.mode = 0o755 if ti.isdir() or ti.name == "runme.sh" else 0o644
        return ti

    with open(tmp_image, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=EPOCH) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                for p in order:
                    tar.add(os.path.join(stage, p), arcname=p, recursive=False, filter=norm)
    os.replace(tmp_image, image)
    shutil.rmtree(tmp)

    h = hashlib.sha256()
    with open(image, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MIB), b""):
            h.update(chunk)
    hashes = [f["sha256"] for f in manifest_files]
    assert len(hashes) == len(set(hashes)), "manifest hashes must be distinct"
    manifest = {
        "params": params,
        "image": {"path": image, "name": name, "size": os.path.getsize(image), "sha256": h.hexdigest(),
                  "members": [{"path": p, "size": os.path.getsize(os.path.join(stage, p))}
                              for p in order if os.path.isfile(os.path.join(stage, p))]},
        "layers": layers + [
            {"layer": "package", "member": "(tar.gz)", "format": "gzip > tar", "files": 3},
            {"layer": "kernel", "member": "xilinx/uImage", "format": "uImage > gzip", "files": 1},
        ],
        "files": manifest_files,
        "symlinks": manifest_links,
        "seconds": round(time.time() - t0, 1),
    }
    with open(manifest_path + ".part", "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(manifest_path + ".part", manifest_path)
    print(f"  image {os.path.getsize(image) / MIB:.1f} MiB, {len(manifest_files)} files, "
          f"{len(manifest_links)} symlinks, {time.time() - t0:.0f} s", file=sys.stderr)
    print(image)


if __name__ == "__main__":
    main()
