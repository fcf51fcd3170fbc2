#!/usr/bin/env bash
# Traffic-analysis benchmark: `hashward traffic analyze` against Suricata and tshark on the same
# synthetic mining-fleet capture (`hashward traffic generate`, with planted detections). See
# bench/README.md.
#
#   bench/traffic.sh            # 1 GiB capture of 3,000 miners, 3 runs per tool, appends to bench/RESULTS.md
#   bench/traffic.sh --quick    # 100 MiB capture of 300 miners, 1 run, results in $WORK/RESULTS-quick.md
#
# Environment (defaults): WORK (/tmp/hashward-bench/traffic), SIZE_MB (1024; 100 with --quick),
# MINERS (3000; 300 with --quick), SEED (1), FORMAT (pcap|pcapng: pcap), RUNS (3; 1 with --quick),
# TOOLS ("hashward suricata suricata-mining tshark"; suricata-et is added when ET Open rules are
# installed), RUN_TIMEOUT (1800 s per run), SETTLE (5 s pause before each run), HASHWARD_ARGS
# (extra `traffic analyze` options), RESULTS (bench/RESULTS.md; $WORK/RESULTS-quick.md with
# --quick), BUILD_JOBS (cargo -j), CARGO_TARGET_DIR (for hashward; default
# $HOME/.cache/hashward-target), HASHWARD_REPO (the checkout whose hashward is built; default:
# this repository), GENERATE_CMD (a program taking the flags of `hashward traffic generate`, used
# instead of it; for testing the script before the subcommand exists).
# Options: --quick, --no-install (fail instead of installing what is missing), --help.
#
# Exit status: 0; 1 when hashward missed a planted detection, flagged a listed negative, or
# finished no run; 2 on a usage or setup error.
set -euo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-install) INSTALL=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "traffic.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
LIB="$REPO/bench/lib"
WORK="${WORK:-/tmp/hashward-bench/traffic}"
SEED="${SEED:-1}"
FORMAT="${FORMAT:-pcap}"
TOOLS="${TOOLS:-hashward suricata suricata-mining tshark}"
RUN_TIMEOUT="${RUN_TIMEOUT:-1800}"
SETTLE="${SETTLE:-5}"
HASHWARD_ARGS="${HASHWARD_ARGS:-}"
GENERATE_CMD="${GENERATE_CMD:-}"
if [ "$QUICK" = 1 ]; then
  SIZE_MB="${SIZE_MB:-100}"
  MINERS="${MINERS:-300}"
  RUNS="${RUNS:-1}"
  RESULTS="${RESULTS:-$WORK/RESULTS-quick.md}"
else
  SIZE_MB="${SIZE_MB:-1024}"
  MINERS="${MINERS:-3000}"
  RUNS="${RUNS:-3}"
  RESULTS="${RESULTS:-$REPO/bench/RESULTS.md}"
fi
HASHWARD_TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/hashward-target}"
HASHWARD_REPO="$(cd "${HASHWARD_REPO:-$REPO}" && pwd)"

WORK="$(realpath -m "$WORK")"
case "$WORK/" in
  "$REPO"/*|"$HASHWARD_REPO"/*) echo "traffic.sh: WORK must be outside the repository" >&2; exit 2 ;;
esac
case "$SIZE_MB$MINERS$RUNS$SEED" in *[!0-9]*) echo "traffic.sh: SIZE_MB, MINERS, RUNS and SEED take numbers" >&2; exit 2 ;; esac
case "$FORMAT" in pcap|pcapng) ;; *) echo "traffic.sh: FORMAT is pcap or pcapng" >&2; exit 2 ;; esac
for t in $TOOLS; do
  case "$t" in hashward|suricata|suricata-mining|suricata-et|tshark) ;; *) echo "traffic.sh: unknown tool in TOOLS: $t" >&2; exit 2 ;; esac
done
LOGS="$WORK/logs"
OUT="$WORK/out"
mkdir -p "$LOGS" "$OUT"

STARTED=$(date +%s)
say() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - STARTED ))" "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }
have() { command -v "$1" >/dev/null 2>&1; }
has_tool() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
jobs_flag() { if [ -n "${BUILD_JOBS:-}" ]; then echo "-j$BUILD_JOBS"; fi; }
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)

# ------------------------------------------------------------------------------ 1. anchors
# AVAIL records "tool<TAB>version or 'not available: why'" for the report.
AVAIL="$LOGS/availability.tsv"
: >"$AVAIL"
APT_UPDATED=0
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return 0
  "${SUDO[@]}" apt-get update -qq >>"$LOGS/apt.log" 2>&1 || say "apt-get update failed (log: $LOGS/apt.log)"
  APT_UPDATED=1
}
apt_install() { # apt_install LOGNAME PACKAGE... [-- extra apt options before the packages]
  local name=$1; shift
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >"$LOGS/apt-$name.log" 2>&1
}

# The backports suite, with the URIs and Signed-By of the machine's own bookworm source (read at
# run time: no mirror is named in this repository).
add_backports() {
  local list=/etc/apt/sources.list.d/backports.sources src
  [ -e "$list" ] && return 0
  src=$(grep -l -E '^Suites:.*(^|[[:space:]])bookworm([[:space:]]|$)' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
  [ -n "$src" ] || { say "no deb822 bookworm source in /etc/apt/sources.list.d: cannot add backports"; return 1; }
  awk 'BEGIN { RS = ""; FS = "\n" }
       { main = 0
         for (i = 1; i <= NF; i++) if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) main = 1
         if (main) { for (i = 1; i <= NF; i++) if ($i ~ /^(URIs|Signed-By):/) keep = keep $i "\n"; exit } }
       END { if (keep == "") exit 1; printf "Types: deb\n%sSuites: bookworm-backports\nComponents: main\n", keep }' "$src" \
    | "${SUDO[@]}" tee "$list.tmp" >/dev/null \
    && "${SUDO[@]}" mv "$list.tmp" "$list" \
    || { "${SUDO[@]}" rm -f "$list.tmp"; say "could not derive a backports source from $src"; return 1; }
  say "added $list (from $src)"
  APT_UPDATED=0
}

install_anchors() {
  local missing=()
  [ -x /usr/bin/time ] || missing+=(time)
  have timeout || missing+=(coreutils)
  have python3 || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$INSTALL" = 1 ] || die "missing Debian packages (and --no-install): ${missing[*]}"
    have apt-get || die "missing Debian packages and no apt-get: ${missing[*]}"
    apt_update
    say "installing: ${missing[*]}"
    apt_install system "${missing[@]}" || die "apt-get install ${missing[*]} failed (log: $LOGS/apt-system.log)"
  fi
  if has_tool tshark && ! have tshark && [ "$INSTALL" = 1 ] && have apt-get; then
    apt_update
    say "installing tshark (bookworm main)"
    echo "wireshark-common wireshark-common/install-setuid boolean false" | "${SUDO[@]}" debconf-set-selections
    apt_install tshark tshark || say "tshark install failed (log: $LOGS/apt-tshark.log)"
  fi
  if { has_tool suricata || has_tool suricata-mining; } && ! have suricata && [ "$INSTALL" = 1 ] && have apt-get; then
    if add_backports; then
      apt_update
      say "installing suricata (bookworm-backports)"
      apt_install suricata -t bookworm-backports suricata || say "suricata install failed (log: $LOGS/apt-suricata.log)"
    fi
  fi
  if have tshark; then
    printf 'tshark\t%s\n' "$(tshark --version 2>/dev/null | head -n1 | sed -n 's/^TShark ([^)]*) \([^ ]*\).*/TShark \1/p')" >>"$AVAIL"
  else
    printf 'tshark\tnot available (install failed or --no-install)\n' >>"$AVAIL"
  fi
  if have suricata; then
    printf 'suricata\t%s\n' "$(suricata -V 2>/dev/null | sed -n 's/.*version \([^ ]*\).*/Suricata \1/p')" >>"$AVAIL"
  else
    printf 'suricata\tnot available (install failed or --no-install)\n' >>"$AVAIL"
  fi
}

install_anchors
drop_tool() { TOOLS=$(for t in $TOOLS; do [ "$t" = "$1" ] || printf '%s ' "$t"; done); }
if ! have tshark; then drop_tool tshark; fi
if ! have suricata; then drop_tool suricata; drop_tool suricata-mining; drop_tool suricata-et; fi

# ET Open: only if already on the machine (there is no network to fetch it).
ET_RULES=""
for f in /var/lib/suricata/rules/suricata.rules; do [ -s "$f" ] && ET_RULES="$f"; done
if [ -z "$ET_RULES" ] && compgen -G '/etc/suricata/rules/emerging-*.rules' >/dev/null; then
  ET_RULES="$WORK/et-open.rules"
  cat /etc/suricata/rules/emerging-*.rules >"$ET_RULES"
fi
if [ -n "$ET_RULES" ] && have suricata; then
  has_tool suricata-et || TOOLS="$TOOLS suricata-et"
  printf 'et-open\t%s (%s rules)\n' "$ET_RULES" "$(grep -c '^alert' "$ET_RULES" || true)" >>"$AVAIL"
else
  drop_tool suricata-et
  printf 'et-open\tET Open rules not present on this machine\n' >>"$AVAIL"
fi
say "tools: $TOOLS; $(cut -f2 "$AVAIL" | tr '\n' ';' )"

# ------------------------------------------------------------------------------ 2. hashward
HASHWARD=""
build_hashward() {
  have cargo || die "cargo not found: a Rust toolchain is needed"
  say "building hashward (release) in $HASHWARD_REPO, CARGO_TARGET_DIR=$HASHWARD_TARGET (log $LOGS/hashward-build.log)"
  # shellcheck disable=SC2046
  (cd "$HASHWARD_REPO" && CARGO_TARGET_DIR="$HASHWARD_TARGET" nice -n 10 cargo build --release -p hashward $(jobs_flag)) \
    >"$LOGS/hashward-build.log" 2>&1 \
    || { tail -30 "$LOGS/hashward-build.log" >&2; die "cargo build -p hashward failed"; }
  HASHWARD="$HASHWARD_TARGET/release/hashward"
  # The cost floor (sha256, framing, decoding, flow table on one core), printed beside the results.
  (cd "$HASHWARD_REPO" && CARGO_TARGET_DIR="$HASHWARD_TARGET" nice -n 10 cargo build --release -p hashward-traffic --example floor $(jobs_flag)) \
    >>"$LOGS/hashward-build.log" 2>&1 || say "the floor example did not build (log $LOGS/hashward-build.log); no floor figures"
  FLOOR="$HASHWARD_TARGET/release/examples/floor"
  [ -x "$HASHWARD" ] || die "no binary at $HASHWARD"
  if has_tool hashward; then
    "$HASHWARD" traffic analyze --help >/dev/null 2>&1 || die "this hashward has no 'traffic analyze' command (HASHWARD_REPO=$HASHWARD_REPO)"
  fi
  if [ -z "$GENERATE_CMD" ]; then
    "$HASHWARD" traffic generate --help >/dev/null 2>&1 || die "this hashward has no 'traffic generate' command (set GENERATE_CMD?)"
  fi
}
if has_tool hashward || [ -z "$GENERATE_CMD" ]; then build_hashward; fi

# ------------------------------------------------------------------------------ 3. the capture
CAPTURE="$WORK/fleet-$MINERS-$SIZE_MB-s$SEED.$FORMAT"
MANIFEST="$CAPTURE.json"
POLICY="$WORK/policy.toml"
if [ -n "$GENERATE_CMD" ]; then
  # shellcheck disable=SC2206
  GEN=($GENERATE_CMD)
else
  GEN=("$HASHWARD" traffic generate)
fi
if [ -s "$CAPTURE" ] && [ -s "$MANIFEST" ] && [ "$(stat -c %s "$CAPTURE")" = "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"])' "$MANIFEST" 2>/dev/null)" ]; then
  say "reusing $CAPTURE ($(stat -c %s "$CAPTURE") bytes)"
else
  rm -f "$CAPTURE" "$MANIFEST"
  say "generating $CAPTURE: ${GEN[*]} --miners $MINERS --size-mb $SIZE_MB --seed $SEED --capture-format $FORMAT"
  /usr/bin/time -f '%e s, max RSS %M KiB' -o "$LOGS/generate.time" \
    "${GEN[@]}" --out "$CAPTURE" --manifest "$MANIFEST" --miners "$MINERS" --size-mb "$SIZE_MB" --seed "$SEED" --capture-format "$FORMAT" \
    >"$LOGS/generate.log" 2>&1 || { tail -20 "$LOGS/generate.log" >&2; die "generating the capture failed"; }
  say "generated $(stat -c %s "$CAPTURE") bytes in $(tail -n1 "$LOGS/generate.time")"
fi
[ -s "$MANIFEST" ] || die "no manifest at $MANIFEST"
python3 -c 'import json,sys; open(sys.argv[2],"w").write(json.load(open(sys.argv[1]))["policy_toml"])' "$MANIFEST" "$POLICY"
CAP_BYTES=$(stat -c %s "$CAPTURE")

# ------------------------------------------------------------------------------ 4. versions
commit=$(git -C "$HASHWARD_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$HASHWARD_REPO" diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
branch=$(git -C "$HASHWARD_REPO" rev-parse --abbrev-ref HEAD 2>/dev/null || true)
case "$branch" in ''|HEAD) ;; *) commit="$commit on $branch" ;; esac

SUR_CONF="$LOGS/suricata-conf.txt"
have suricata && suricata --dump-config 2>/dev/null | grep -E '^(vars\.address-groups\.(HOME_NET|EXTERNAL_NET)|stream\.reassembly\.depth|stream\.checksum-validation) ' >"$SUR_CONF" || true

# tool -> command (the output file is added by run_tool).
HW_CMD=("$HASHWARD" traffic analyze "$CAPTURE" --policy "$POLICY" --format json --no-store)
# shellcheck disable=SC2206
HW_CMD+=($HASHWARD_ARGS)
VERSIONS="$LOGS/versions.tsv"
{
  has_tool hashward && printf 'hashward\t%s (commit %s)\t%s\n' "$("$HASHWARD" --version | awk '{print $NF}')" "$commit" \
    "hashward traffic analyze CAPTURE --policy policy.toml --format json --no-store${HASHWARD_ARGS:+ $HASHWARD_ARGS}"
  if has_tool suricata; then printf 'suricata\t%s\t%s\n' "$(grep -P '^suricata\t' "$AVAIL" | cut -f2)" "suricata -r CAPTURE --runmode single -k none -S /dev/null -l OUTDIR (no rules; eve.json and stats as suricata.yaml sets them)"; fi
  if has_tool suricata-mining; then printf 'suricata-mining\t%s\t%s\n' "$(grep -P '^suricata\t' "$AVAIL" | cut -f2)" "suricata ... -S bench/traffic/mining.rules (7 rules: hashward's restatement of ET coin-mining match conditions, not ET text)"; fi
  if has_tool suricata-et; then printf 'suricata-et\t%s\t%s\n' "$(grep -P '^suricata\t' "$AVAIL" | cut -f2)" "suricata ... -S $ET_RULES"; fi
  if has_tool tshark; then printf 'tshark\t%s\t%s\n' "$(grep -P '^tshark\t' "$AVAIL" | cut -f2)" "tshark -r CAPTURE -q -z conv,tcp"; fi
} >"$VERSIONS"

# ------------------------------------------------------------------------------ 5. runs
TIMINGS="$LOGS/timings.tsv"
: >"$TIMINGS"
declare -A ATTEMPT=()
# timed NAME TOOL OUTFILE CMD...: runs CMD under GNU time -v and timeout, appends a TSV line:
# tool run wall user sys maxrss_kib rc load out.
timed() {
  local name=$1 tool=$2 out=$3; shift 3
  local err="$LOGS/$name.err" tf="$LOGS/$name.time" rc=0 load
  [ "$SETTLE" = 0 ] || sleep "$SETTLE"
  load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "")
  /usr/bin/time -v -o "$tf" timeout -k 10 "$RUN_TIMEOUT" "$@" >"$out" 2>"$err" || rc=$?
  local wall user sys rss
  read -r wall user sys rss < <(python3 "$LIB/traffic_score.py" gnutime "$tf" 2>/dev/null || echo "")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "${name##*-run}" "${wall:-}" "${user:-}" "${sys:-}" "${rss:-}" "$rc" "$load" "$out" >>"$TIMINGS"
  local note=""
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then note=" KILLED after RUN_TIMEOUT=${RUN_TIMEOUT}s;"
  elif [ "$tool:$rc" = hashward:1 ]; then note=" exit 1 (findings);"
  elif [ "$rc" != 0 ]; then note=" exit $rc (log $err);"; fi
  say "  $name: ${wall:-?} s wall, ${user:-?}+${sys:-?} s CPU, max RSS $(( ${rss:-0} / 1024 )) MiB;$note"
}

run_tool() {
  local tool=$1 i=$(( ${ATTEMPT[$1]:-0} + 1 ))
  ATTEMPT[$tool]=$i
  local name="$tool-run$i" dir="$OUT/$tool-run$i"
  rm -rf "$dir"; mkdir -p "$dir"
  case "$tool" in
    hashward) timed "$name" "$tool" "$dir/hashward.json" "${HW_CMD[@]}" ;;
    suricata) timed "$name" "$tool" "$dir/stdout.txt" suricata -r "$CAPTURE" --runmode single -k none -S /dev/null -l "$dir" ;;
    suricata-mining) timed "$name" "$tool" "$dir/stdout.txt" suricata -r "$CAPTURE" --runmode single -k none -S "$REPO/bench/traffic/mining.rules" -l "$dir" ;;
    suricata-et) timed "$name" "$tool" "$dir/stdout.txt" suricata -r "$CAPTURE" --runmode single -k none -S "$ET_RULES" -l "$dir" ;;
    tshark) timed "$name" "$tool" "$dir/conv.txt" tshark -r "$CAPTURE" -q -z conv,tcp ;;
  esac
}

say "running: $TOOLS on $CAPTURE ($CAP_BYTES bytes), $RUNS run(s) each, interleaved (SETTLE=${SETTLE}s)"
for r in $(seq 1 "$RUNS"); do
  for tool in $TOOLS; do run_tool "$tool"; done
done

# ------------------------------------------------------------------------------ 6. score and record
title="traffic analyze vs Suricata and tshark"
note=""
[ "$QUICK" = 1 ] && note="Quick mode (smoke test: $SIZE_MB MiB, $MINERS miners, $RUNS run)."
[ -n "$GENERATE_CMD" ] && note="$note Capture generated with GENERATE_CMD=$GENERATE_CMD."
say "appending results to $RESULTS"
rc=0
python3 "$LIB/traffic_score.py" report --results "$RESULTS" --manifest "$MANIFEST" --capture "$CAPTURE" \
  --timings "$TIMINGS" --versions "$VERSIONS" --availability "$AVAIL" --generate-time "$LOGS/generate.time" \
  --meta "title=$title" "commit=$commit" "seed=$SEED" "miners=$MINERS" "size_mb=$SIZE_MB" "format=$FORMAT" \
         "runs=$RUNS" "settle=$SETTLE" "note=$note" || rc=$?
if has_tool hashward && [ -x "${FLOOR:-}" ]; then
  [ "$SETTLE" = 0 ] || sleep "$SETTLE"
  say "measuring the cost floor (one core)"
  if "$FLOOR" "$CAPTURE" >"$LOGS/floor.txt" 2>&1; then
    {
      printf '\nCost floor of one pass on one core (`cargo run --release -p hashward-traffic --example floor`;\n'
      printf 'no application parsing, no detection; the figure to set a per-core target against):\n\n```\n'
      cat "$LOGS/floor.txt"
      printf '```\n'
    } >>"$RESULTS"
  else
    say "the floor run failed (log $LOGS/floor.txt)"
  fi
fi
if [ "$rc" = 0 ]; then
  say "done: results in $RESULTS"
else
  say "done, but a detection check FAILED (see $RESULTS)"
fi
exit "$rc"
