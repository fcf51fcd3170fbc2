#!/usr/bin/env bash
# Fleet-scan benchmark: `hashward fleet scan` against pyasic's and asic-rs's own network scans, on
# the same fleet of emulated miners (`hashward emulate`, loopback only). See bench/README.md.
#
#   bench/fleet-scan.sh            # 10,000 devices, 3 runs per tool, appends to bench/RESULTS.md
#   bench/fleet-scan.sh --quick    # 500 devices, 1 run, results in $WORK/RESULTS-quick.md
#
# Environment (defaults): WORK (/tmp/hashward-bench), COUNT (10000; 500 with --quick),
# RUNS (3; 1 with --quick), TOOLS ("hashward hashward-defaults pyasic asic-rs asic-rs-capped"),
# SEED (1), BASE (127.1.0.1),
# FAULTY (10: percent of faulty devices in the fault run; 0 skips it), RUN_TIMEOUT (1200 s per run),
# SETTLE (10 s pause before each run), HASHWARD_ARGS ("--rate 50000": extra `fleet scan` options of
# the measured hashward run; `hashward-defaults` runs without them),
# PYASIC_SEMAPHORE (128: pyasic's network_scan_semaphore; 0 = pyasic's default None, all hosts
# at once), PYASIC_VERSION (0.79.0), ASICRS_ARGS (extra driver options; default none: asic-rs's
# defaults), ASICRS_CAP (1000: the concurrency of the `asic-rs-capped` run), RESULTS (bench/RESULTS.md; $WORK/RESULTS-quick.md with --quick), BUILD_JOBS (cargo -j),
# CARGO_TARGET_DIR (for hashward only; default $HOME/.cache/hashward-target),
# HASHWARD_REPO (the checkout whose hashward is built and measured; default: this repository).
# Options: --quick, --no-install (fail instead of installing what is missing), --help.
#
# Exit status: 0; 1 when hashward named fewer devices correctly than an anchor, a faulty device
# went unreported in the fault run, or hashward finished no run; 2 on a usage or setup error.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-install) INSTALL=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fleet-scan.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
LIB="$REPO/bench/lib"
WORK="${WORK:-/tmp/hashward-bench}"
TOOLS="${TOOLS:-hashward hashward-defaults pyasic asic-rs asic-rs-capped}"
SEED="${SEED:-1}"
BASE="${BASE:-127.1.0.1}"
FAULTY="${FAULTY:-10}"
RUN_TIMEOUT="${RUN_TIMEOUT:-1200}"
SETTLE="${SETTLE:-10}"
# Unset: --rate 50000 (see bench/README.md); set to "" for hashward's defaults.
[ -n "${HASHWARD_ARGS+set}" ] || HASHWARD_ARGS="--rate 50000"
PYASIC_SEMAPHORE="${PYASIC_SEMAPHORE:-128}"
PYASIC_VERSION="${PYASIC_VERSION:-0.79.0}"
ASICRS_ARGS="${ASICRS_ARGS:-}"
ASICRS_CAP="${ASICRS_CAP:-1000}"
READY_TIMEOUT="${READY_TIMEOUT:-600}"
if [ "$QUICK" = 1 ]; then
  COUNT="${COUNT:-500}"
  RUNS="${RUNS:-1}"
  RESULTS="${RESULTS:-$WORK/RESULTS-quick.md}"
else
  COUNT="${COUNT:-10000}"
  RUNS="${RUNS:-3}"
  RESULTS="${RESULTS:-$REPO/bench/RESULTS.md}"
fi
HASHWARD_TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/hashward-target}"
HASHWARD_REPO="$(cd "${HASHWARD_REPO:-$REPO}" && pwd)"

WORK="$(realpath -m "$WORK")"
case "$WORK/" in
  "$REPO"/*|"$HASHWARD_REPO"/*) echo "fleet-scan.sh: WORK must be outside the repository" >&2; exit 2 ;;
esac
for t in $TOOLS; do
  case "$t" in hashward|hashward-defaults|pyasic|asic-rs|asic-rs-capped) ;; *) echo "fleet-scan.sh: unknown tool in TOOLS: $t" >&2; exit 2 ;; esac
done
case " $TOOLS " in *" hashward "*) ;; *) echo "fleet-scan.sh: TOOLS must include hashward" >&2; exit 2 ;; esac
case "$COUNT$RUNS$PYASIC_SEMAPHORE$ASICRS_CAP" in *[!0-9]*) echo "fleet-scan.sh: COUNT, RUNS, PYASIC_SEMAPHORE and ASICRS_CAP take numbers" >&2; exit 2 ;; esac
FLEET="$WORK/fleet"
LOGS="$FLEET/logs"
OUT="$FLEET/out"
mkdir -p "$LOGS" "$OUT"

STARTED=$(date +%s)
say() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - STARTED ))" "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }
have() { command -v "$1" >/dev/null 2>&1; }
has_tool() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
jobs_flag() { if [ -n "${BUILD_JOBS:-}" ]; then echo "-j$BUILD_JOBS"; fi; }

# ------------------------------------------------------------------------------ 1. system tools
install_system() {
  local missing=()
  [ -x /usr/bin/time ] || missing+=(time)
  have timeout || missing+=(coreutils)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  if [ ${#missing[@]} -eq 0 ]; then say "system tools: all present"; return; fi
  [ "$INSTALL" = 1 ] || die "missing Debian packages (and --no-install): ${missing[*]}"
  have apt-get || die "missing Debian packages and no apt-get: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LOGS/apt.log" 2>&1 \
    || { tail -20 "$LOGS/apt.log" >&2; die "apt-get install failed (log: $LOGS/apt.log)"; }
}

# ------------------------------------------------------------------------------ 2. pyasic
PYASIC_PY="$WORK/pyasic-venv/bin/python"
install_pyasic() {
  local venv="$WORK/pyasic-venv"
  if [ -x "$PYASIC_PY" ] && ! "$PYASIC_PY" -c 'import sys' >/dev/null 2>&1; then
    say "venv $venv is broken; recreating"; rm -rf "$venv"
  fi
  if [ -x "$PYASIC_PY" ] && [ "$("$PYASIC_PY" -c 'from importlib.metadata import version; print(version("pyasic"))' 2>/dev/null)" = "$PYASIC_VERSION" ]; then
    say "pyasic $PYASIC_VERSION present in $venv"; return
  fi
  [ "$INSTALL" = 1 ] || die "pyasic $PYASIC_VERSION missing in $venv (and --no-install)"
  [ -x "$PYASIC_PY" ] || { say "creating venv $venv"; python3 -m venv "$venv"; }
  say "installing pyasic==$PYASIC_VERSION into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "pyasic==$PYASIC_VERSION" >"$LOGS/pip.log" 2>&1 \
    || { tail -20 "$LOGS/pip.log" >&2; die "pip install pyasic failed (log: $LOGS/pip.log)"; }
}

# ------------------------------------------------------------------------------ 3. asic-rs driver
ASICRS_BIN="$WORK/asic-rs-target/release/asic-rs-driver"
build_asicrs() {
  have cargo || die "cargo not found: a Rust toolchain is needed"
  if [ "$INSTALL" != 1 ] && [ ! -x "$ASICRS_BIN" ]; then die "asic-rs driver not built (and --no-install)"; fi
  say "building the asic-rs driver (release, CARGO_TARGET_DIR=$WORK/asic-rs-target; log $LOGS/asic-rs-build.log)"
  # shellcheck disable=SC2046
  (cd "$REPO/bench/fleet/asic-rs-driver" && CARGO_TARGET_DIR="$WORK/asic-rs-target" \
     nice -n 10 cargo build --release --locked $(jobs_flag)) >"$LOGS/asic-rs-build.log" 2>&1 \
    || { tail -30 "$LOGS/asic-rs-build.log" >&2; die "cargo build of the asic-rs driver failed"; }
  [ -x "$ASICRS_BIN" ] || die "no binary at $ASICRS_BIN"
}

# ------------------------------------------------------------------------------ 4. hashward
build_hashward() {
  have cargo || die "cargo not found: a Rust toolchain is needed"
  say "building hashward (release) in $HASHWARD_REPO, CARGO_TARGET_DIR=$HASHWARD_TARGET (log $LOGS/hashward-build.log)"
  # shellcheck disable=SC2046
  (cd "$HASHWARD_REPO" && CARGO_TARGET_DIR="$HASHWARD_TARGET" nice -n 10 cargo build --release -p hashward $(jobs_flag)) \
    >"$LOGS/hashward-build.log" 2>&1 \
    || { tail -30 "$LOGS/hashward-build.log" >&2; die "cargo build -p hashward failed"; }
  HASHWARD="$HASHWARD_TARGET/release/hashward"
  [ -x "$HASHWARD" ] || die "no binary at $HASHWARD"
  "$HASHWARD" emulate --help >/dev/null 2>&1 || die "this hashward has no 'emulate' command (HASHWARD_REPO=$HASHWARD_REPO)"
  "$HASHWARD" fleet scan --help >/dev/null 2>&1 || die "this hashward has no 'fleet scan' command (HASHWARD_REPO=$HASHWARD_REPO)"
}

install_system
has_tool pyasic && install_pyasic
if has_tool asic-rs || has_tool asic-rs-capped; then build_asicrs; fi
build_hashward

# ------------------------------------------------------------------------------ 5. the emulator
EMU_PID=""
stop_emulator() {
  [ -n "$EMU_PID" ] || return 0
  if kill -0 "$EMU_PID" 2>/dev/null; then
    kill -TERM "$EMU_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do kill -0 "$EMU_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$EMU_PID" 2>/dev/null; then
      say "emulator $EMU_PID still running after 30 s; killing it"
      kill -KILL "$EMU_PID" 2>/dev/null || true
    fi
  fi
  wait "$EMU_PID" 2>/dev/null || true
  EMU_PID=""
}
trap 'stop_emulator' EXIT
trap 'exit 2' INT TERM

# start_emulator NAME ARGS...: starts `hashward emulate ARGS`, waits for its ready line, sets
# FIRST and LAST from it.
start_emulator() {
  local name=$1; shift
  local log="$LOGS/emulate-$name.log"
  say "starting: hashward emulate $*"
  "$HASHWARD" emulate "$@" >"$log.out" 2>"$log" &
  EMU_PID=$!
  local waited=0 line=""
  while :; do
    line=$(grep -m1 -E '^hashward emulate: [0-9]+ devices on [0-9.]+-[0-9.]+ ready' "$log" 2>/dev/null || true)
    [ -n "$line" ] && break
    kill -0 "$EMU_PID" 2>/dev/null || { tail -20 "$log" >&2; EMU_PID=""; die "the emulator exited before it was ready (log: $log)"; }
    [ "$waited" -lt $(( READY_TIMEOUT * 2 )) ] || { tail -20 "$log" >&2; die "the emulator was not ready after ${READY_TIMEOUT}s (log: $log)"; }
    sleep 0.5; waited=$(( waited + 1 ))
  done
  local range
  range=$(sed -E 's/^hashward emulate: [0-9]+ devices on ([0-9.]+-[0-9.]+) ready.*/\1/' <<<"$line")
  FIRST=${range%-*}; LAST=${range#*-}
  EMU_LINE=${line#hashward emulate: }
  say "emulator ready: $EMU_LINE"
}

# ------------------------------------------------------------------------------ 6. versions
commit=$(git -C "$HASHWARD_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$HASHWARD_REPO" diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
branch=$(git -C "$HASHWARD_REPO" rev-parse --abbrev-ref HEAD 2>/dev/null || true)
case "$branch" in ''|HEAD) ;; *) commit="$commit on $branch" ;; esac

MANIFEST="$FLEET/manifest.json"
rm -f "$MANIFEST"
start_emulator clean --count "$COUNT" --base "$BASE" --seed "$SEED" --manifest "$MANIFEST"
[ -s "$MANIFEST" ] || die "the emulator wrote no manifest at $MANIFEST"
RANGE="$FIRST-$LAST"
CLEAN_EMU_LINE="$EMU_LINE"

HW_CMD=("$HASHWARD" fleet scan "$RANGE" --no-store --format json --quiet)
# shellcheck disable=SC2206
HW_CMD+=($HASHWARD_ARGS)
PY_CMD=("$PYASIC_PY" "$REPO/bench/fleet/pyasic_scan.py" "$RANGE")
[ "$PYASIC_SEMAPHORE" = 0 ] || PY_CMD+=(--semaphore "$PYASIC_SEMAPHORE")
# shellcheck disable=SC2206
AR_CMD=("$ASICRS_BIN" "$RANGE" $ASICRS_ARGS)
HWD_CMD=("$HASHWARD" fleet scan "$RANGE" --no-store --format json --quiet)
ARC_CMD=("$ASICRS_BIN" "$RANGE" --concurrency "$ASICRS_CAP")

VERSIONS="$LOGS/versions.tsv"
{
  printf 'hashward\t%s (commit %s)\t%s\t%s\n' "$("$HASHWARD" --version | awk '{print $NF}')" "$commit" \
    "hashward fleet scan $RANGE --no-store --format json --quiet${HASHWARD_ARGS:+ $HASHWARD_ARGS}" \
    "${HASHWARD_ARGS:-fleet scan defaults}"
  has_tool hashward-defaults && printf 'hashward-defaults\t%s (commit %s)\t%s\t%s\n' "$("$HASHWARD" --version | awk '{print $NF}')" \
    "$commit" "hashward fleet scan $RANGE --no-store --format json --quiet" "fleet scan defaults (for reference)"
  if has_tool pyasic; then
    printf 'pyasic\t%s\t%s\t%s\n' "$("$PYASIC_PY" -c 'from importlib.metadata import version; print(version("pyasic"))')" \
      "pyasic_scan.py $RANGE${PYASIC_SEMAPHORE:+ --semaphore $PYASIC_SEMAPHORE}" \
      "MinerNetwork.from_list(octet ranges).scan(); network_scan_semaphore=$([ "$PYASIC_SEMAPHORE" = 0 ] && echo None || echo "$PYASIC_SEMAPHORE"), other settings pyasic's defaults"
  fi
  asicrs_version=$(awk '/^name = "asic-rs"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$REPO/bench/fleet/asic-rs-driver/Cargo.lock")
  if has_tool asic-rs; then
    printf 'asic-rs\t%s\t%s\t%s\n' "$asicrs_version" \
      "asic-rs-driver $RANGE${ASICRS_ARGS:+ $ASICRS_ARGS}" \
      "MinerFactory::with_range(octet ranges).scan(), $(if [ -n "$ASICRS_ARGS" ]; then echo "with $ASICRS_ARGS"; else echo "asic-rs defaults"; fi)"
  fi
  if has_tool asic-rs-capped; then
    printf 'asic-rs-capped\t%s\t%s\t%s\n' "$asicrs_version" "asic-rs-driver $RANGE --concurrency $ASICRS_CAP" \
      "MinerFactory::with_range(octet ranges).with_concurrent_limit($ASICRS_CAP).scan(), other settings asic-rs defaults (for reference)"
  fi
} >"$VERSIONS"
say "versions: $(cut -f1,2 "$VERSIONS" | tr '\t\n' ' ;')"

# ------------------------------------------------------------------------------ 7. runs
TIMINGS="$LOGS/timings.tsv"
: >"$TIMINGS"
declare -A ATTEMPT=()
# timed TSV NAME TOOL CMD...: runs CMD under GNU time and timeout, appends a line to TSV.
timed() {
  local tsv=$1 name=$2 tool=$3; shift 3
  local out="$OUT/$name.out" err="$LOGS/$name.err" tf="$LOGS/$name.time" rc=0 load wall rss
  [ "$SETTLE" = 0 ] || sleep "$SETTLE"
  load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "")
  /usr/bin/time -f '%e %M' -o "$tf" timeout -k 10 "$RUN_TIMEOUT" "$@" >"$out" 2>"$err" || rc=$?
  read -r wall rss < <(tail -n 1 "$tf" 2>/dev/null || echo "")
  case "$wall" in ''|*[!0-9.]*) wall="" rss="" ;; esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "${name##*-run}" "$wall" "$rss" "$rc" "$load" "$out" >>"$tsv"
  local note=""
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then note=" KILLED after RUN_TIMEOUT=${RUN_TIMEOUT}s;"
  elif [ "${tool%-defaults}:$rc" = hashward:1 ]; then note=" exit 1 (findings);"
  elif [ "$rc" != 0 ]; then note=" exit $rc (log $err);"; fi
  say "  $name: ${wall:-?} s, max RSS $(( ${rss:-0} / 1024 )) MiB;$note $(python3 "$LIB/fleet_score.py" score "$CUR_MANIFEST" "$tool" "$out" 2>&1 | tail -n 1)"
}

run_tool() {
  local tool=$1 i=$(( ${ATTEMPT[$1]:-0} + 1 ))
  ATTEMPT[$tool]=$i
  case "$tool" in
    hashward) timed "$TIMINGS" "hashward-run$i" hashward "${HW_CMD[@]}" ;;
    pyasic)   timed "$TIMINGS" "pyasic-run$i" pyasic "${PY_CMD[@]}" ;;
    asic-rs)  timed "$TIMINGS" "asic-rs-run$i" asic-rs "${AR_CMD[@]}" ;;
    hashward-defaults) timed "$TIMINGS" "hashward-defaults-run$i" hashward-defaults "${HWD_CMD[@]}" ;;
    asic-rs-capped) timed "$TIMINGS" "asic-rs-capped-run$i" asic-rs-capped "${ARC_CMD[@]}" ;;
  esac
}

CUR_MANIFEST="$MANIFEST"
rm -f "$OUT"/*.out
say "running: $TOOLS on $RANGE ($COUNT devices), $RUNS run(s) each, interleaved (SETTLE=${SETTLE}s, RUN_TIMEOUT=${RUN_TIMEOUT}s)"
for r in $(seq 1 "$RUNS"); do
  for tool in $TOOLS; do run_tool "$tool"; done
done
stop_emulator

# ------------------------------------------------------------------------------ 8. fault run
FAULT_ARGS=()
if [ "$FAULTY" != 0 ]; then
  FMANIFEST="$FLEET/manifest-faulty.json"
  rm -f "$FMANIFEST"
  start_emulator faulty --count "$COUNT" --base "$BASE" --seed "$SEED" --faulty "$FAULTY" --manifest "$FMANIFEST"
  [ "$FIRST-$LAST" = "$RANGE" ] || die "the faulty fleet is on $FIRST-$LAST, not $RANGE"
  FTIMING="$LOGS/fault-timing.tsv"
  : >"$FTIMING"
  CUR_MANIFEST="$FMANIFEST"
  say "fault run: hashward only, $FAULTY % faulty devices"
  timed "$FTIMING" "hashward-fault-run1" hashward "${HW_CMD[@]}"
  stop_emulator
  FAULT_ARGS=(--fault-manifest "$FMANIFEST" --fault-output "$OUT/hashward-fault-run1.out"
              --fault-timing "$FTIMING" --fault-percent "$FAULTY")
fi

# ------------------------------------------------------------------------------ 9. results
title="fleet scan vs pyasic and asic-rs"
note=""
[ "$QUICK" = 1 ] && note="Quick mode (smoke test: $COUNT devices, $RUNS run)."
say "appending results to $RESULTS"
rc=0
python3 "$LIB/fleet_score.py" report --results "$RESULTS" --manifest "$MANIFEST" --timings "$TIMINGS" \
  --versions "$VERSIONS" "${FAULT_ARGS[@]}" \
  --meta "title=$title" "commit=$commit" "seed=$SEED" "range=$RANGE" "runs=$RUNS" "settle=$SETTLE" "hashward_args=$HASHWARD_ARGS" \
         "emulator=$CLEAN_EMU_LINE" "note=$note" || rc=$?
if [ "$rc" = 0 ]; then
  say "done: results in $RESULTS"
else
  say "done, but a correctness check FAILED (see $RESULTS)"
fi
exit "$rc"
