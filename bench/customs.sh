#!/usr/bin/env bash
# Customs benchmark: `hashward customs check` on one million generated entry lines
# (`hashward customs generate`), streamed as JSON lines. Target: under 5 s on 2 cores.
# See bench/README.md.
#
#   bench/customs.sh            # 1,000,000 lines, 3 runs, appends a section to bench/RESULTS.md
#   bench/customs.sh --quick    # 100,000 lines, 1 run, results in $WORK/RESULTS-quick.md
#
# Environment (defaults): WORK (/tmp/hashward-bench/customs), LINES (1000000; 100000 with
# --quick), SEED (1), RUNS (3; 1 with --quick), RESULTS (bench/RESULTS.md; $WORK/RESULTS-quick.md
# with --quick), CARGO_TARGET_DIR ($HOME/.cache/hashward-target), TARGET_S (5).
# Options: --quick, --help.
#
# Exit status: 0 when every run finished (the target is reported, not enforced); 2 on a usage
# or setup error or a failed run.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "customs.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-/tmp/hashward-bench/customs}"
SEED="${SEED:-1}"
TARGET_S="${TARGET_S:-5}"
if [ "$QUICK" = 1 ]; then
  LINES="${LINES:-100000}"
  RUNS="${RUNS:-1}"
  RESULTS="${RESULTS:-$WORK/RESULTS-quick.md}"
else
  LINES="${LINES:-1000000}"
  RUNS="${RUNS:-3}"
  RESULTS="${RESULTS:-$REPO/bench/RESULTS.md}"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hashward-target}"
mkdir -p "$WORK"

command -v cargo >/dev/null || { echo "customs.sh: cargo is required" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "customs.sh: /usr/bin/time is required (apt-get install time)" >&2; exit 2; }

echo "customs.sh: building hashward (release)" >&2
(cd "$REPO" && cargo build --release -q -p hashward)
# A copy: the target directory may be shared with other checkouts that build their own hashward.
cp "$CARGO_TARGET_DIR/release/hashward" "$WORK/hashward"
BIN="$WORK/hashward"

INPUT="$WORK/entries-$LINES-$SEED.csv"
if [ ! -s "$INPUT" ]; then
  "$BIN" customs generate --lines "$LINES" --seed "$SEED" --out "$INPUT"
fi
INPUT_MB=$(( $(stat -c %s "$INPUT") / 1048576 ))

walls=(); cpus=(); rss=(); summary=""
for i in $(seq 1 "$RUNS"); do
  sync
  # The JSON lines (about 1.6 GiB for a million lines) go through a pipe, not to disk: only
  # the tail (the result record) is kept.
  if ! /usr/bin/time -f '%e %U %S %M' -o "$WORK/time-$i" \
      "$BIN" --no-store --format jsonl --fail-on never customs check "$INPUT" | tail -c 4096 >"$WORK/tail-$i"; then
    echo "customs.sh: run $i failed" >&2
    exit 2
  fi
  read -r wall user sys maxkb <"$WORK/time-$i"
  walls+=("$wall"); cpus+=("$(echo "$user + $sys" | bc)"); rss+=("$((maxkb / 1024))")
  summary="$(tail -n 1 "$WORK/tail-$i")"
  echo "customs.sh: run $i: ${wall} s wall, $(echo "$user + $sys" | bc) s CPU, $((maxkb / 1024)) MiB max RSS" >&2
done
best=$(printf '%s\n' "${walls[@]}" | sort -n | head -n1)
met=$(echo "$best < $TARGET_S" | bc)
commit=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M') UTC — customs check, hashward $("$BIN" --version | awk '{print $2}') (commit $commit)"
  echo
  echo "\`bench/customs.sh\`: \`hashward --no-store --format jsonl customs check\` on $LINES generated entry lines"
  echo "($INPUT_MB MiB of CSV, seed $SEED; the JSON lines piped away), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))."
  echo
  echo "| run | wall (s) | CPU user+sys (s) | max RSS (MiB) |"
  echo "|---|---|---|---|"
  for i in $(seq 1 "$RUNS"); do
    echo "| $i | ${walls[$((i-1))]} | ${cpus[$((i-1))]} | ${rss[$((i-1))]} |"
  done
  echo
  if [ "$met" = 1 ]; then
    echo "Target (under $TARGET_S s): **met** (best $best s)."
  else
    echo "Target (under $TARGET_S s): **not met** (best $best s)."
  fi
  echo
  echo "Totals of the last run: \`$(echo "$summary" | cut -c1-600)\`"
} >>"$RESULTS"
echo "customs.sh: results appended to $RESULTS" >&2
