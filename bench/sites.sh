#!/usr/bin/env bash
# Siting benchmark: `hashward sites assess` against GeoPandas (sjoin_nearest and dwithin, then
# exact WGS84 geodesic distances) on the same synthetic facilities and the shared layers (MIRTA
# points, IM3 data centers, WRI power plants). See bench/sites/README.md.
#
#   bench/sites.sh            # 100,000 facilities, 3 interleaved runs per tool, appends to bench/RESULTS.md
#   bench/sites.sh --quick    # 10,000 facilities, 1 run, results in $WORK/RESULTS-quick.md
#
# Environment (defaults): WORK (/tmp/hashward-bench/sites), COUNT (100000; 10000 with --quick),
# RUNS (3; 1 with --quick), SEED (1), INPUT (geojson|csv: the facilities file both tools read;
# geojson), TOOLS ("hashward geopandas"), RUN_TIMEOUT (900 s per run), SETTLE (3 s pause before
# each run), HASHWARD_ARGS (extra `sites assess` options), RESULTS (bench/RESULTS.md;
# $WORK/RESULTS-quick.md with --quick), BUILD_JOBS (cargo -j), CARGO_TARGET_DIR (for hashward;
# default $HOME/.cache/hashward-target), HASHWARD_REPO (the checkout whose hashward is built and
# whose rules/siting/*.toml the GeoPandas side follows; default: this repository),
# HASHWARD_TESTDATA (shared test data; default: ../shared/testdata next to the checkout, then
# /work/shared/testdata), GEOPANDAS_PKGS (pip requirement specs; default "geopandas pyproj
# shapely pyogrio"), DATE (the assessment date, YYYY-MM-DD: laws in force on it; default
# today; given to hashward as --date when it has that option).
# Options: --quick, --no-install (fail instead of installing what is missing), --help.
#
# Exit status: 0; 1 when hashward and GeoPandas disagree on a verdict or a nearest distance
# (more than 0.1 %), or hashward finished no run; 2 on a usage or setup error. The speed targets
# (hashward >= 5x faster than GeoPandas and under 2 s) are reported as met or not met and do
# not change the exit status.
set -euo pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-install) INSTALL=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "sites.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
LIB="$REPO/bench/lib"
WORK="${WORK:-/tmp/hashward-bench/sites}"
SEED="${SEED:-1}"
INPUT="${INPUT:-geojson}"
TOOLS="${TOOLS:-hashward geopandas}"
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"
SETTLE="${SETTLE:-3}"
HASHWARD_ARGS="${HASHWARD_ARGS:-}"
GEOPANDAS_PKGS="${GEOPANDAS_PKGS:-geopandas pyproj shapely pyogrio}"
DATE="${DATE:-$(date +%F)}"
if [ "$QUICK" = 1 ]; then
  COUNT="${COUNT:-10000}"
  RUNS="${RUNS:-1}"
  RESULTS="${RESULTS:-$WORK/RESULTS-quick.md}"
else
  COUNT="${COUNT:-100000}"
  RUNS="${RUNS:-3}"
  RESULTS="${RESULTS:-$REPO/bench/RESULTS.md}"
fi
HASHWARD_TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/hashward-target}"
HASHWARD_REPO="$(cd "${HASHWARD_REPO:-$REPO}" && pwd)"

WORK="$(realpath -m "$WORK")"
case "$WORK/" in
  "$REPO"/*|"$HASHWARD_REPO"/*) echo "sites.sh: WORK must be outside the repository" >&2; exit 2 ;;
esac
case "$COUNT$RUNS$SEED" in *[!0-9]*) echo "sites.sh: COUNT, RUNS and SEED take numbers" >&2; exit 2 ;; esac
[ "$COUNT" -ge 1 ] && [ "$RUNS" -ge 1 ] || { echo "sites.sh: COUNT and RUNS must be at least 1" >&2; exit 2; }
case "$INPUT" in geojson|csv) ;; *) echo "sites.sh: INPUT is geojson or csv" >&2; exit 2 ;; esac
for t in $TOOLS; do
  case "$t" in hashward|geopandas) ;; *) echo "sites.sh: unknown tool in TOOLS: $t" >&2; exit 2 ;; esac
done
LOGS="$WORK/logs"
OUT="$WORK/out"
mkdir -p "$LOGS" "$OUT"
# hashward's JSON lines are about 2.0 KB per facility and GeoPandas's 0.7 KB; two runs' outputs of a
# tool exist at once. Refuse to start when they would not fit (a full disk fails runs midway).
need_kb=$(( COUNT * 8 + 300000 ))
free_kb=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
if [ -n "$free_kb" ] && [ "$free_kb" -lt "$need_kb" ]; then
  echo "sites.sh: $(( free_kb / 1024 )) MiB free in $WORK, about $(( need_kb / 1024 )) MiB needed for $COUNT facilities" >&2
  exit 2
fi

STARTED=$(date +%s)
say() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - STARTED ))" "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }
have() { command -v "$1" >/dev/null 2>&1; }
has_tool() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
jobs_flag() { if [ -n "${BUILD_JOBS:-}" ]; then echo "-j$BUILD_JOBS"; fi; }
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)

# ------------------------------------------------------------------------------ 1. shared layers
# $HASHWARD_TESTDATA, then ../shared/testdata next to the checkout, then /work/shared/testdata.
TESTDATA=""
for d in "${HASHWARD_TESTDATA:-}" "$HASHWARD_REPO/../shared/testdata" "$REPO/../shared/testdata" /work/shared/testdata; do
  [ -n "$d" ] && [ -d "$d/sites" ] && { TESTDATA="$(cd "$d" && pwd)"; break; }
done
[ -n "$TESTDATA" ] || die "shared test data not found (set HASHWARD_TESTDATA to the directory holding sites/)"
MIRTA="$TESTDATA/sites/mirta-dod-sites-points.geojson"
DCS="$TESTDATA/sites/im3-datacenter-centroids.geojson"
PLANTS="$TESTDATA/sites/wri-gppd-usa-power-plants.csv"
LAYERS=("$MIRTA" "$DCS" "$PLANTS")
for f in "${LAYERS[@]}"; do [ -s "$f" ] || die "missing shared layer $f"; done
RULES_DIR="$HASHWARD_REPO/rules/siting"
[ -d "$RULES_DIR" ] || die "no rules/siting in $HASHWARD_REPO (the checkout must have the sites module)"

# ------------------------------------------------------------------------------ 2. tools
install_system() {
  local missing=()
  [ -x /usr/bin/time ] || missing+=(time)
  have timeout || missing+=(coreutils)
  have python3 || missing+=(python3)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  python3 -c 'import tomllib' >/dev/null 2>&1 || die "python3 >= 3.11 is needed (tomllib)"
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$INSTALL" = 1 ] || die "missing Debian packages (and --no-install): ${missing[*]}"
    have apt-get || die "missing Debian packages and no apt-get: ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq >>"$LOGS/apt.log" 2>&1 || say "apt-get update failed (log: $LOGS/apt.log)"
    say "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >"$LOGS/apt-system.log" 2>&1 || die "apt-get install ${missing[*]} failed (log: $LOGS/apt-system.log)"
  fi
}
install_system

VENV="$WORK/venv"
GP_PY="$VENV/bin/python"
install_geopandas() {
  if [ -x "$GP_PY" ] && ! "$GP_PY" -c 'import sys' >/dev/null 2>&1; then
    say "venv $VENV is broken; recreating"; rm -rf "$VENV"
  fi
  if [ -x "$GP_PY" ] && "$GP_PY" -c 'import geopandas, pyproj, shapely, pyogrio' >/dev/null 2>&1; then
    say "GeoPandas present in $VENV"; return
  fi
  [ "$INSTALL" = 1 ] || die "GeoPandas missing in $VENV (and --no-install)"
  [ -x "$GP_PY" ] || { say "creating venv $VENV"; python3 -m venv "$VENV"; }
  say "installing $GEOPANDAS_PKGS into $VENV (pip)"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $GEOPANDAS_PKGS >"$LOGS/pip.log" 2>&1 \
    || { tail -20 "$LOGS/pip.log" >&2; die "pip install failed (log: $LOGS/pip.log)"; }
}
if has_tool geopandas; then install_geopandas; fi

HASHWARD=""
build_hashward() {
  have cargo || die "cargo not found: a Rust toolchain is needed"
  say "building hashward (release) in $HASHWARD_REPO, CARGO_TARGET_DIR=$HASHWARD_TARGET (log $LOGS/hashward-build.log)"
  # shellcheck disable=SC2046
  (cd "$HASHWARD_REPO" && CARGO_TARGET_DIR="$HASHWARD_TARGET" nice -n 10 cargo build --release -p hashward $(jobs_flag)) \
    >"$LOGS/hashward-build.log" 2>&1 \
    || { tail -30 "$LOGS/hashward-build.log" >&2; die "cargo build -p hashward failed"; }
  [ -x "$HASHWARD_TARGET/release/hashward" ] || die "no binary at $HASHWARD_TARGET/release/hashward"
  # The target directory is shared: another checkout's build can replace the binary while the
  # runs go on. Measure a copy taken right after this build.
  HASHWARD="$WORK/bin/hashward"
  mkdir -p "$WORK/bin"
  # Without its debug info (a fifth of the size; the code is the same).
  if have strip; then
    strip -o "$HASHWARD.tmp" "$HASHWARD_TARGET/release/hashward"
  else
    cp "$HASHWARD_TARGET/release/hashward" "$HASHWARD.tmp"
  fi
  mv "$HASHWARD.tmp" "$HASHWARD"
  "$HASHWARD" sites assess --help >/dev/null 2>&1 || die "this hashward has no 'sites assess' command (HASHWARD_REPO=$HASHWARD_REPO; or another build replaced the binary in $HASHWARD_TARGET during this one: run again)"
}
if has_tool hashward; then build_hashward; fi

# ------------------------------------------------------------------------------ 3. facilities and rules
GEN_SUM=$(sha256sum "$LIB/sites_gen.py" | cut -c1-12)
FAC_BASE="$WORK/facilities-$COUNT-s$SEED-$GEN_SUM"
FACILITIES="$FAC_BASE.$INPUT"
FAC_SUMMARY="$FAC_BASE.summary.json"
if [ -s "$FAC_BASE.geojson" ] && [ -s "$FAC_BASE.csv" ] && [ -s "$FAC_SUMMARY" ]; then
  say "reusing $FAC_BASE.{geojson,csv}"
else
  rm -f "$WORK/facilities-$COUNT-s$SEED-"*   # older generators (the name carries count, seed and generator)
  say "generating $COUNT facilities (seed $SEED): $FAC_BASE.{geojson,csv}"
  python3 "$LIB/sites_gen.py" --testdata "$TESTDATA/sites" --count "$COUNT" --seed "$SEED" \
    --geojson "$FAC_BASE.geojson" --csv "$FAC_BASE.csv" --summary "$FAC_SUMMARY" 2>"$LOGS/generate.log" \
    || { cat "$LOGS/generate.log" >&2; die "generating the facilities failed"; }
fi
RULES_JSON="$WORK/rules.json"
python3 "$LIB/sites_rules.py" "$RULES_DIR" --date "$DATE" --out "$RULES_JSON" 2>"$LOGS/rules.log" \
  || { cat "$LOGS/rules.log" >&2; die "reading $RULES_DIR failed"; }
sed 's/^/  /' "$LOGS/rules.log" >&2

# ------------------------------------------------------------------------------ 4. versions
commit=$(git -C "$HASHWARD_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$HASHWARD_REPO" diff --quiet HEAD -- crates rules Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
[ -z "$(git -C "$HASHWARD_REPO" ls-files --others --exclude-standard -- crates rules 2>/dev/null)" ] || case "$commit" in *+dirty) ;; *) commit="$commit+dirty" ;; esac
branch=$(git -C "$HASHWARD_REPO" rev-parse --abbrev-ref HEAD 2>/dev/null || true)
case "$branch" in ''|HEAD) ;; *) commit="$commit on $branch" ;; esac

LAYER_ARGS=()
for f in "${LAYERS[@]}"; do LAYER_ARGS+=(--layer "$f"); done
# --rules: the files GeoPandas follows, read from disk by both (not the copies built into hashward).
HW_CMD=("$HASHWARD" --no-store --format jsonl sites assess --facilities "$FACILITIES" "${LAYER_ARGS[@]}" --rules "$RULES_DIR")
DATE_ARG=""
if has_tool hashward && "$HASHWARD" sites assess --help 2>/dev/null | grep -q -- '--date'; then
  HW_CMD+=(--date "$DATE"); DATE_ARG=" --date $DATE"
fi
# shellcheck disable=SC2206
HW_CMD+=($HASHWARD_ARGS)
VERSIONS="$LOGS/versions.tsv"
{
  if has_tool hashward; then
    printf 'hashward\t%s (commit %s)\t%s\n' "$("$HASHWARD" --version | awk '{print $NF}')" "$commit" \
      "hashward --no-store --format jsonl sites assess --facilities FACILITIES.$INPUT --layer MIRTA --layer IM3 --layer WRI --rules RULES_DIR$DATE_ARG${HASHWARD_ARGS:+ $HASHWARD_ARGS}"
  fi
  if has_tool geopandas; then
    printf 'geopandas\t%s\t%s\n' \
      "$("$GP_PY" -c 'import geopandas, shapely, pyproj, pyogrio; print(f"GeoPandas {geopandas.__version__}, Shapely {shapely.__version__} (GEOS {shapely.geos_version_string}), pyproj {pyproj.__version__} (PROJ {pyproj.proj_version_str}), pyogrio {pyogrio.__version__}")')" \
      "python bench/lib/sites_geopandas.py --facilities FACILITIES.$INPUT --layer MIRTA --layer IM3 --layer WRI --rules rules.json --out OUT.json"
  fi
} >"$VERSIONS"

# ------------------------------------------------------------------------------ 5. runs
TIMINGS="$LOGS/timings.tsv"
: >"$TIMINGS"
rm -rf "$LOGS/geopandas-phases"; mkdir -p "$LOGS/geopandas-phases"
# timed NAME TOOL OUTFILE CMD...: runs CMD under GNU time -v and timeout, appends a TSV line:
# tool run wall user sys maxrss_kib rc load out.
timed() {
  local name=$1 tool=$2 out=$3; shift 3
  local err="$LOGS/$name.err" tf="$LOGS/$name.time" rc=0 load
  [ "$SETTLE" = 0 ] || sleep "$SETTLE"
  load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "")
  /usr/bin/time -v -o "$tf" timeout -k 10 "$RUN_TIMEOUT" "$@" >"$out" 2>"$err" || rc=$?
  local wall user sys rss
  read -r wall user sys rss < <(python3 "$LIB/sites_report.py" gnutime "$tf" 2>/dev/null || echo "")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "${name##*-run}" "${wall:-}" "${user:-}" "${sys:-}" "${rss:-}" "$rc" "$load" "$out" >>"$TIMINGS"
  local note=""
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then note=" KILLED after RUN_TIMEOUT=${RUN_TIMEOUT}s;"
  elif [ "$tool:$rc" = hashward:1 ]; then note=" exit 1 (findings at --fail-on);"
  elif [ "$rc" != 0 ]; then note=" exit $rc (log $err);"; fi
  say "  $name: ${wall:-?} s wall, ${user:-?}+${sys:-?} s CPU, max RSS $(( ${rss:-0} / 1024 )) MiB;$note"
}

run_tool() {
  local tool=$1 i=$2
  local name="$tool-run$i"
  # Only the last run's output is compared: drop the previous one (hundreds of MB) first.
  rm -f "$OUT/$tool-run$(( i - 1 )).json" "$OUT/$tool-run$(( i - 1 )).jsonl" "$OUT/$tool-run$(( i - 1 )).stdout"
  case "$tool" in
    hashward) timed "$name" "$tool" "$OUT/$name.jsonl" "${HW_CMD[@]}" ;;
    geopandas)
      timed "$name" "$tool" "$OUT/$name.stdout" "$GP_PY" "$LIB/sites_geopandas.py" --facilities "$FACILITIES" \
        "${LAYER_ARGS[@]}" --rules "$RULES_JSON" --out "$OUT/$name.json" --timings "$LOGS/geopandas-phases/$name.json" ;;
  esac
}

say "running: $TOOLS on $COUNT facilities ($INPUT) against ${#LAYERS[@]} layers, $RUNS run(s) each, interleaved (SETTLE=${SETTLE}s)"
rm -f "$OUT"/*.json "$OUT"/*.jsonl "$OUT"/*.stdout
for r in $(seq 1 "$RUNS"); do
  for tool in $TOOLS; do run_tool "$tool" "$r"; done
done

# ------------------------------------------------------------------------------ 6. agreement and report
CMP="$LOGS/compare.txt"
CMP_JSON="$LOGS/compare.json"
rm -f "$CMP_JSON"
if has_tool hashward && has_tool geopandas; then
  say "comparing hashward-run$RUNS with geopandas-run$RUNS (log $CMP)"
  python3 "$LIB/sites_compare.py" "$OUT/hashward-run$RUNS.jsonl" "$OUT/geopandas-run$RUNS.json" --rules "$RULES_JSON" \
    --summary "$CMP_JSON" >"$CMP" 2>&1 || true
  sed 's/^/  /' "$CMP" | head -60 >&2
fi
planar=""
if has_tool geopandas && [ -s "$OUT/geopandas-run$RUNS.json" ]; then
  planar=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["planar_over_geodesic"]; print(f"{r[\"min\"]:.4f} to {r[\"max\"]:.4f} over {r[\"pairs\"]:,} pairs")' "$OUT/geopandas-run$RUNS.json" 2>/dev/null || true)
fi
title="sites assess vs GeoPandas (sjoin_nearest, dwithin, pyproj geodesic)"
note=""
[ "$QUICK" = 1 ] && note="Quick mode (smoke test: $COUNT facilities, $RUNS run)."
layers_desc="$(basename "$MIRTA") (737 points), $(basename "$DCS") (1,165), $(basename "$PLANTS") (11,879 rows, 11,846 with valid coordinates), from $TESTDATA/sites"
say "appending results to $RESULTS"
rc=0
python3 "$LIB/sites_report.py" report --results "$RESULTS" --timings "$TIMINGS" --versions "$VERSIONS" \
  --compare "$CMP_JSON" --rules "$RULES_JSON" --facilities-summary "$FAC_SUMMARY" \
  --geopandas-timings "$LOGS/geopandas-phases" \
  --meta "title=$title" "commit=$commit" "runs=$RUNS" "settle=$SETTLE" "note=$note" "input=$INPUT" \
         "layers=$layers_desc" "planar_ratio=$planar" >"$LOGS/report.md" || rc=$?
if [ "$rc" = 0 ]; then
  say "done: results in $RESULTS"
else
  say "done, but the agreement check FAILED or hashward finished no run (see $RESULTS and $CMP)"
fi
exit "$rc"
