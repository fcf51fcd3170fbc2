#!/usr/bin/env bash
# Firmware-unpacking benchmark: hashward against binwalk 3 (-e -M) and unblob on one realistic
# S9-style Antminer package. See bench/README.md.
#
#   bench/firmware-unpack.sh            # ~100 MiB image, 3 runs per tool, appends to bench/RESULTS.md
#   bench/firmware-unpack.sh --quick    # small image, 1 run, results in $WORK/RESULTS-quick.md
#
# Environment (defaults): WORK (/tmp/hashward-bench), SIZE_MB (100; 8 with --quick),
# RUNS (3; 1 with --quick), SEED (1), FILES (0 = 50 per MiB), TOOLS ("hashward binwalk unblob"),
# RUN_TIMEOUT (3600 s per run), MAX_ATTEMPTS (3*RUNS+2 runs per tool at most),
# RESULTS (bench/RESULTS.md; $WORK/RESULTS-quick.md with --quick), BUILD_JOBS (cargo -j),
# CARGO_TARGET_DIR (for hashward only; default $HOME/.cache/hashward-target),
# HASHWARD_REPO (the checkout whose hashward is measured; default: this script's repository).
# Options: --quick, --no-install (fail instead of installing what is missing), --help.
#
# Exit status: 0; 1 when hashward missed manifest files an anchor found or never finished a run;
# 2 on a usage or setup error.
set -euo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-install) INSTALL=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "firmware-unpack.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
LIB="$REPO/bench/lib"
WORK="${WORK:-/tmp/hashward-bench}"
SEED="${SEED:-1}"
FILES="${FILES:-0}"
TOOLS="${TOOLS:-hashward binwalk unblob}"
RUN_TIMEOUT="${RUN_TIMEOUT:-3600}"
BINWALK_VERSION=3.1.0
if [ "$QUICK" = 1 ]; then
  SIZE_MB="${SIZE_MB:-8}"
  RUNS="${RUNS:-1}"
  RESULTS="${RESULTS:-$WORK/RESULTS-quick.md}"
else
  SIZE_MB="${SIZE_MB:-100}"
  RUNS="${RUNS:-3}"
  RESULTS="${RESULTS:-$REPO/bench/RESULTS.md}"
fi
HASHWARD_TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/hashward-target}"
HASHWARD_REPO="$(cd "${HASHWARD_REPO:-$REPO}" && pwd)"

WORK="$(realpath -m "$WORK")"
case "$WORK/" in
  "$REPO"/*) echo "firmware-unpack.sh: WORK must be outside the repository ($REPO)" >&2; exit 2 ;;
esac
for t in $TOOLS; do
  case "$t" in hashward|binwalk|unblob) ;; *) echo "firmware-unpack.sh: unknown tool in TOOLS: $t" >&2; exit 2 ;; esac
done
mkdir -p "$WORK/tools/bin" "$WORK/logs" "$WORK/out"
export PATH="$WORK/tools/bin:$WORK/venv/bin:$PATH:/usr/sbin:/sbin"

STARTED=$(date +%s)
say() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - STARTED ))" "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }
trap 'say "failed at line $LINENO (exit $?)"' ERR

have() { command -v "$1" >/dev/null 2>&1; }
has_tool() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ------------------------------------------------------------------------------ 1. system tools
# command or dpkg package -> Debian package; only the missing ones are installed.
APT_NEEDS=(
  "cmd:mksquashfs:squashfs-tools" "cmd:unsquashfs:squashfs-tools"
  "cmd:mkfs.ubifs:mtd-utils" "cmd:ubinize:mtd-utils" "cmd:mkfs.jffs2:mtd-utils"
  "cmd:mke2fs:e2fsprogs" "cmd:debugfs:e2fsprogs"
  "path:/usr/bin/time:time" "cmd:timeout:coreutils" "cmd:git:git"
  # binwalk's build
  "cmd:cc:build-essential" "cmd:pkg-config:pkg-config"
  "pkg:libfontconfig1-dev:libfontconfig1-dev" "pkg:libfreetype-dev:libfreetype-dev"
  # extractors binwalk and unblob call
  "cmd:7z:p7zip-full" "cmd:tsk_recover:sleuthkit" "cmd:lz4:lz4" "cmd:zstd:zstd" "cmd:lzop:lzop"
  "cmd:cpio:cpio" "cmd:unar:unar" "cmd:dtc:device-tree-compiler" "cmd:fsck.erofs:erofs-utils"
  "cmd:lziprecover:lziprecover" "cmd:partclone.restore:partclone"
  "cmd:simg2img:android-sdk-libsparse-utils"
  "py:ensurepip:python3-venv"
)

install_system() {
  local missing=() e kind what pkg
  for e in "${APT_NEEDS[@]}"; do
    IFS=: read -r kind what pkg <<<"$e"
    case "$kind" in
      cmd) have "$what" && continue ;;
      path) [ -x "$what" ] && continue ;;
      pkg) [ "$(dpkg-query -W -f='${Status}' "$what" 2>/dev/null)" = "install ok installed" ] && continue ;;
      py) python3 -c "import $what" >/dev/null 2>&1 && continue ;;
    esac
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "system tools: all present"
    return
  fi
  [ "$INSTALL" = 1 ] || die "missing Debian packages (and --no-install): ${missing[*]}"
  have apt-get || die "missing Debian packages and no apt-get: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$WORK/logs/apt.log" 2>&1 \
    || { tail -20 "$WORK/logs/apt.log" >&2; die "apt-get install failed (log: $WORK/logs/apt.log)"; }
}

# ------------------------------------------------------------------------------ 2. Python tools
install_python() {
  local venv="$WORK/venv"
  if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "venv $venv is broken; recreating"
    rm -rf "$venv"
  fi
  if [ ! -x "$venv/bin/python" ]; then
    say "creating venv $venv"
    python3 -m venv "$venv"
  fi
  local need=()
  [ -x "$venv/bin/unblob" ] || need+=(unblob)
  [ -x "$venv/bin/jefferson" ] || need+=(jefferson)
  [ -x "$venv/bin/ubireader_extract_files" ] && [ -x "$venv/bin/ubireader_extract_images" ] || need+=(ubi_reader)
  if [ ${#need[@]} -eq 0 ]; then
    say "Python tools: unblob, jefferson, ubi_reader present"
    return
  fi
  [ "$INSTALL" = 1 ] || die "missing PyPI packages (and --no-install): ${need[*]}"
  say "installing PyPI packages into $venv: ${need[*]}"
  "$venv/bin/pip" install -q --disable-pip-version-check "${need[@]}" >"$WORK/logs/pip.log" 2>&1 \
    || { tail -20 "$WORK/logs/pip.log" >&2; die "pip install failed (log: $WORK/logs/pip.log)"; }
}

# ------------------------------------------------------------------------------ 3. sasquatch shim
install_shim() {
  if ! cmp -s "$LIB/sasquatch" "$WORK/tools/bin/sasquatch"; then
    say "installing the sasquatch shim (unsquashfs) as $WORK/tools/bin/sasquatch"
    install -m 0755 "$LIB/sasquatch" "$WORK/tools/bin/sasquatch"
  fi
}

# ------------------------------------------------------------------------------ 4. binwalk
install_binwalk() {
  local bw="$WORK/tools/bin/binwalk"
  if [ -x "$bw" ] && "$bw" --version 2>/dev/null | grep -q "$BINWALK_VERSION"; then
    say "binwalk $BINWALK_VERSION present"
    return
  fi
  [ "$INSTALL" = 1 ] || die "binwalk $BINWALK_VERSION missing (and --no-install)"
  have cargo || die "cargo not found: a Rust toolchain is needed"
  say "building binwalk $BINWALK_VERSION with cargo install (takes several minutes; log: $WORK/logs/binwalk-install.log)"
  local jobs=()
  [ -n "${BUILD_JOBS:-}" ] && jobs=(-j "$BUILD_JOBS")
  CARGO_TARGET_DIR="$WORK/binwalk-target" nice -n 10 cargo install binwalk --version "$BINWALK_VERSION" \
    --locked --root "$WORK/tools" "${jobs[@]}" >"$WORK/logs/binwalk-install.log" 2>&1 \
    || { tail -30 "$WORK/logs/binwalk-install.log" >&2; die "cargo install binwalk failed"; }
}

# ------------------------------------------------------------------------------ 5. hashward
build_hashward() {
  have cargo || die "cargo not found: a Rust toolchain is needed"
  say "building hashward (release) in $HASHWARD_REPO, CARGO_TARGET_DIR=$HASHWARD_TARGET"
  local jobs=()
  [ -n "${BUILD_JOBS:-}" ] && jobs=(-j "$BUILD_JOBS")
  (cd "$HASHWARD_REPO" && CARGO_TARGET_DIR="$HASHWARD_TARGET" nice -n 10 cargo build --release -p hashward "${jobs[@]}") \
    >"$WORK/logs/hashward-build.log" 2>&1 \
    || { tail -30 "$WORK/logs/hashward-build.log" >&2; die "cargo build -p hashward failed"; }
  HASHWARD="$HASHWARD_TARGET/release/hashward"
  [ -x "$HASHWARD" ] || die "no binary at $HASHWARD"
}

install_system
if has_tool unblob || has_tool binwalk; then
  install_python
  install_shim
fi
if has_tool binwalk; then install_binwalk; fi
HASHWARD=""
if has_tool hashward; then build_hashward; fi

if has_tool unblob; then
  missing_deps=$(unblob --show-external-dependencies 2>&1 | sed -n 's/^ *\([^ ]*\) *✗.*/\1/p' | tr '\n' ' ' || true)
  [ -z "$missing_deps" ] || say "unblob external dependencies still missing: $missing_deps(not packaged by Debian or PyPI)"
fi

# ------------------------------------------------------------------------------ 6. the image
say "generating the image (SIZE_MB=$SIZE_MB, SEED=$SEED) in $WORK"
IMAGE=$(python3 "$LIB/genimage.py" --work "$WORK" --size-mb "$SIZE_MB" --seed "$SEED" --files "$FILES")
MANIFEST="${IMAGE%.tar.gz}.manifest.json"
[ -f "$IMAGE" ] && [ -f "$MANIFEST" ] || die "generator produced no image"
say "image: $IMAGE ($(du -m "$IMAGE" | cut -f1) MiB)"

# ------------------------------------------------------------------------------ 7. versions
commit=$(git -C "$HASHWARD_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$HASHWARD_REPO" diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
branch=$(git -C "$HASHWARD_REPO" rev-parse --abbrev-ref HEAD 2>/dev/null || true)
case "$branch" in ''|HEAD) ;; *) commit="$commit on $branch" ;; esac
VERSIONS="$WORK/logs/versions.tsv"
{
  has_tool hashward && printf 'hashward\t%s (commit %s)\t%s\n' "$("$HASHWARD" --version | awk '{print $NF}')" \
    "$commit" "hashward firmware unpack IMAGE --out DIR --no-store --format json --quiet"
  has_tool binwalk && printf 'binwalk\t%s\t%s\n' "$(binwalk --version 2>&1 | head -1 | awk '{print $NF}')" \
    "binwalk -e -M -q -C DIR IMAGE"
  has_tool unblob && printf 'unblob\t%s\t%s\n' "$(unblob --version 2>&1 | head -1 | awk '{print $NF}')" \
    "unblob -e DIR IMAGE"
  true
} >"$VERSIONS"
say "versions: $(cut -f1,2 "$VERSIONS" | tr '\t\n' ' ;')"

# ------------------------------------------------------------------------------ 8. runs
# A run is *complete* when it exited normally, left no container unopened and extracted as many
# regular files as the tool's best complete run. binwalk 3.1.0's -M loop can stop before it has
# read a worker's last result (it checks for active workers before reading their results), so
# some of its runs end early with part of the tree: lib/binwalk_check.py finds the containers
# such a run extracted but never opened. Incomplete runs are listed but not timed, and the tool
# is run again, up to MAX_ATTEMPTS times, until it has RUNS complete runs. The best run's output
# is kept for the file check; the others are deleted.
TIMINGS="$WORK/logs/timings.tsv"
: >"$TIMINGS"
HASHWARD_JSON=()
MAX_ATTEMPTS="${MAX_ATTEMPTS:-$(( 3 * RUNS + 2 ))}"
declare -A BEST_FILES=() COMPLETE=() ATTEMPTS=() FAILED=()
ok_exit() {  # the exit statuses that mean "finished": hashward 1 = a finding reached --fail-on
  case "$1:$2" in hashward:0|hashward:1|binwalk:0|unblob:0|unblob:1) return 0 ;; *) return 1 ;; esac
}

# Outputs are moved aside, not deleted, while tools are being timed: ext4 will not reuse an inode
# deleted in the last 60 s, or 300 s while its inode table block is dirty (RECENTCY_MIN and
# RECENTCY_DIRTY in fs/ext4/ialloc.c), and searches past each one, so
# deleting one run's thousands of files makes the next run's creates several times slower.
# Everything moved aside is deleted once all timings are taken.
discard() {
  [ -e "$1" ] || return 0
  mkdir -p "$WORK/trash"
  mv "$1" "$WORK/trash/$(date +%s%N)-$RANDOM"
}

run_tool() {
  local tool=$1
  local i=$(( ${ATTEMPTS[$tool]:-0} + 1 ))
  ATTEMPTS[$tool]=$i
  local out="$WORK/out/$tool/run$i" log="$WORK/logs/$tool-run$i.log" tf="$WORK/logs/$tool-run$i.time"
  local stdout="$WORK/logs/$tool-run$i.stdout" cmd
  discard "$out"
  mkdir -p "$out"
  case "$tool" in
    hashward) stdout="$WORK/logs/hashward-run$i.json"
              cmd=("$HASHWARD" firmware unpack "$IMAGE" --out "$out" --no-store --format json --quiet
                   --timeout "$RUN_TIMEOUT") ;;
    binwalk)  cmd=(binwalk -e -M -q -C "$out" "$IMAGE") ;;
    unblob)   cmd=(unblob -e "$out" --log "$WORK/logs/unblob-run$i.unblob.log" "$IMAGE") ;;
    *) die "unknown tool $tool (TOOLS may name hashward, binwalk, unblob)" ;;
  esac
  local rc=0 load
  # The previous run's dirty pages are written back now, not during this tool's run.
  sync
  load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "")
  (cd "$WORK/logs" && /usr/bin/time -f '%e %M %U %S' -o "$tf" timeout -k 30 "$RUN_TIMEOUT" "${cmd[@]}") \
    >"$stdout" 2>"$log" || rc=$?
  local wall rss user sys files cpu=""
  read -r wall rss user sys < <(tail -n 1 "$tf" 2>/dev/null || echo "")
  case "$wall" in ''|*[!0-9.]*) wall="" rss="" ;; esac
  case "$user$sys" in ''|*[!0-9.]*) ;; *) cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') ;; esac
  files=$(find "$out" -type f | wc -l)
  local unopened=0
  if [ "$tool" = binwalk ]; then unopened=$(python3 "$LIB/binwalk_check.py" "$out" 2>>"$log"); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$i" "$wall" "$rss" "$rc" "$files" "$unopened" "$cpu" "$load" \
    >>"$TIMINGS"
  if [ "$tool" = hashward ]; then HASHWARD_JSON+=("$stdout"); fi
  local note="" ok=1
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then note=", KILLED after RUN_TIMEOUT=${RUN_TIMEOUT}s"; ok=0
  elif ! ok_exit "$tool" "$rc"; then note=", FAILED: exit $rc (log: $log)"; ok=0
  elif [ "$rc" != 0 ]; then note=", exit $rc"; fi
  [ "$ok" = 1 ] || FAILED[$tool]=1
  # The output with the most files (and no unopened container) is kept for the file check,
  # whatever the exit status: a failed run still shows what the tool managed to extract.
  if [ "$unopened" != 0 ]; then
    note="$note, INCOMPLETE ($unopened extracted containers never opened)"
    discard "$out"
  elif [ "$files" -gt "${BEST_FILES[$tool]:--1}" ]; then
    [ "${BEST_FILES[$tool]:--1}" = -1 ] || note="$note, more files than before: earlier runs were incomplete"
    BEST_FILES[$tool]=$files
    COMPLETE[$tool]=$ok
    discard "$WORK/out/$tool/best"
    mv "$out" "$WORK/out/$tool/best"
  else
    if [ "$files" = "${BEST_FILES[$tool]}" ]; then
      COMPLETE[$tool]=$(( ${COMPLETE[$tool]:-0} + ok ))
    else
      note="$note, INCOMPLETE (best run: ${BEST_FILES[$tool]} files)"
    fi
    discard "$out"
  fi
  say "  $tool run $i: ${wall:-?} s (CPU ${cpu:-?} s), max RSS $(( ${rss:-0} / 1024 )) MiB, $files files$note"
}

say "running: $TOOLS; $RUNS complete run(s) each, interleaved (RUN_TIMEOUT=${RUN_TIMEOUT}s, MAX_ATTEMPTS=$MAX_ATTEMPTS)"
for tool in $TOOLS; do rm -rf "$WORK/out/$tool"; mkdir -p "$WORK/out/$tool"; done
rm -rf "$WORK/trash"
# Page-cache preconditioning. Virtual machines whose balloon driver reports free pages to the
# host (virtio-balloon free page reporting) make the first write to each returned page fault
# into the host: there, writing 364 MiB into fresh page cache costs about 0.9 s of system time
# instead of about 0.1 s. Whichever tool first writes into such memory pays that, by luck of
# order. Filling the free memory once with a file (kept until the timings are done) makes
# every tool write into reclaimed page cache, as on a machine that has been up for a while.
rm -f "$WORK/fill"
if [ "$QUICK" != 1 ] && [ "${PRECONDITION:-1}" = 1 ]; then
  avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
  disk_mb=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
  fill_mb=$(( avail_mb - 3072 ))
  [ "$fill_mb" -le $(( disk_mb - 10240 )) ] || fill_mb=$(( disk_mb - 10240 ))
  if [ "$fill_mb" -gt 1024 ]; then
    say "filling ${fill_mb} MiB of free memory with page cache (PRECONDITION=0 skips this)"
    dd if=/dev/zero of="$WORK/fill" bs=4M count=$(( fill_mb / 4 )) status=none
  fi
fi
if [ "$QUICK" != 1 ]; then
  say "letting deleted inodes age (${SETTLE:-300} s) so that no tool pays for an earlier deletion"
  sync
  sleep "${SETTLE:-300}"
fi
for r in $(seq 1 "$RUNS"); do
  for tool in $TOOLS; do
    [ "${COMPLETE[$tool]:-0}" -ge "$RUNS" ] || run_tool "$tool"
  done
done
# Runs again only for incomplete runs; a tool that failed (exit status, timeout) is not retried.
for tool in $TOOLS; do
  while [ "${COMPLETE[$tool]:-0}" -lt "$RUNS" ] && [ "${ATTEMPTS[$tool]:-0}" -lt "$MAX_ATTEMPTS" ] \
        && [ -z "${FAILED[$tool]:-}" ]; do
    say "  $tool: ${COMPLETE[$tool]:-0} complete run(s) of $RUNS; running again"
    run_tool "$tool"
  done
done

rm -rf "$WORK/trash" "$WORK/fill"

# ------------------------------------------------------------------------------ 9. same files
say "checking extracted files against the manifest ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["files"]))' "$MANIFEST") files)"
cmp_args=()
for tool in $TOOLS; do cmp_args+=("$tool=$WORK/out/$tool/best"); done
python3 "$LIB/compare.py" "$MANIFEST" "$WORK/logs/coverage.json" "${cmp_args[@]}"

# ------------------------------------------------------------------------------ 10. results
note=""
[ "$QUICK" = 1 ] && note="Quick mode (smoke test: small image, $RUNS run)."
say "appending results to $RESULTS"
rc=0
python3 "$LIB/report.py" --results "$RESULTS" --manifest "$MANIFEST" --coverage "$WORK/logs/coverage.json" \
  --timings "$TIMINGS" --versions "$VERSIONS" --note "$note" --hashward-json "${HASHWARD_JSON[@]}" || rc=$?
if [ "$rc" = 0 ]; then
  say "done: results in $RESULTS"
else
  say "done, but the file check FAILED (hashward missed files an anchor found, or never finished): see $RESULTS"
fi
exit "$rc"
