#!/usr/bin/env bash
# "No input takes more than linear time", measured (issue 14; a documented run like fuzz/run.sh,
# not CI). For each case of tests/linear_time.rs (one adversarial input shape for one parser or
# state machine the fuzz targets cover) and each size — 0 (the baseline) and 1, 4, 16 and 64 times
# the case's base number of units — one run under `valgrind --tool=callgrind` counts the
# instructions executed inside `measured` only (the parse; building the input is not counted).
# Instruction counts repeat exactly whatever else the machine does, so this is a measure that
# holds on a shared machine where timing would not.
#
# Printed per case: the input bytes and the instructions per byte at each size, after
# subtracting the size-0 baseline from both, and the ratio of the largest size's per-byte cost
# to the smallest's. A case FAILS (exit 1) when that ratio exceeds FACTOR (default 2):
#   - a linear parser's per-byte cost is flat up to small terms: amortised buffer growth (a
#     Vec that doubles copies each byte at most twice), decimal counters that gain digits,
#     hash tables that grow. Those stay well under 2x over a 64x range of sizes;
#   - a quadratic parser's per-byte cost grows with the size: 64x over the range if the
#     quadratic term dominates; even one that is a tenth of the linear cost at the smallest
#     size is 7x at the largest, so 2x leaves a wide margin on both sides;
#   - n log n (a sort of n MX hosts) grows by log(64 n)/log(n), about 1.5x at these sizes and
#     passes: it is not what this guards against.
#
#   fuzz/linear-time.sh [CASE...]     all cases, or the ones named (LINEAR_CASE=list for names)
#   FACTOR=3 fuzz/linear-time.sh      another bound
# Needs valgrind (Debian: apt-get install -y valgrind). Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FACTOR="${FACTOR:-2}"
command -v valgrind >/dev/null || { echo "fuzz/linear-time.sh: valgrind is not installed" >&2; exit 1; }
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# The release build is what ships (and what the figures are for); the cases' inputs are built
# outside `measured`.
BIN="$(cargo test --release --test linear_time --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*linear_time[^"]*\)".*/\1/p' | tail -1)"
[ -x "$BIN" ] || { echo "fuzz/linear-time.sh: could not build tests/linear_time.rs" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

declare -A BASE
while read -r name base; do BASE[$name]=$base; done < <(LINEAR_CASE=list "$BIN")
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || mapfile -t CASES < <(LINEAR_CASE=list "$BIN" | cut -d' ' -f1)

# measure CASE UNITS: sets BYTES, INSNS and OUTCOME.
measure() {
  LINEAR_CASE="$1" LINEAR_UNITS="$2" valgrind --tool=callgrind --callgrind-out-file="$TMP/cg" \
    --collect-atstart=no --toggle-collect='*linear_time::measured*' "$BIN" >"$TMP/out" 2>"$TMP/err" \
    || { echo "$1 at $2 units: the run failed" >&2; cat "$TMP/err" >&2; exit 1; }
  read -r BYTES OUTCOME <"$TMP/out"
  INSNS="$(sed -n 's/^totals: *//p' "$TMP/cg")"
}

printf '%-26s %s\n' case "bytes:instructions/byte at 1x 4x 16x 64x the base, ratio 64x/1x"
failed=0
for c in "${CASES[@]}"; do
  [ -n "${BASE[$c]:-}" ] || { echo "fuzz/linear-time.sh: no case $c (LINEAR_CASE=list $BIN)" >&2; exit 1; }
  measure "$c" 0
  b0=$BYTES i0=$INSNS
  line="" first="" last=""
  for m in 1 4 16 64; do
    measure "$c" $(( BASE[$c] * m ))
    per=$(awk -v i="$INSNS" -v i0="$i0" -v b="$BYTES" -v b0="$b0" 'BEGIN { printf "%.1f", (i - i0) / (b - b0) }')
    line="$line $(( BYTES - b0 )):$per"
    [ -n "$first" ] || first=$per
    last=$per
  done
  ratio=$(awk -v a="$first" -v z="$last" 'BEGIN { printf "%.2f", z / a }')
  verdict=ok
  if awk -v r="$ratio" -v f="$FACTOR" 'BEGIN { exit !(r > f) }'; then verdict="FAIL (> ${FACTOR}x)"; failed=1; fi
  printf '%-26s%s  %sx %s\n' "$c" "$line" "$ratio" "$verdict"
done
[ "$failed" = 0 ] || { echo "fuzz/linear-time.sh: super-linear cases above (per-byte cost grew more than ${FACTOR}x)" >&2; exit 1; }
