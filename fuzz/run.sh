#!/usr/bin/env bash
# A documented fuzz run (not CI): every target (or the ones named) for RUNS executions each
# (default 10,000,000), on the pinned nightly (fuzz/rust-toolchain.toml), starting from
# fuzz/corpus/<target>/ (seeded by fuzz/seed.mjs) and growing it. A crash, timeout (an input that
# takes more than 10 s: no parser may be worse than linear) or leak stops that target with its
# input under fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ and it becomes a case
# of the stable replay test (tests/fuzz_replay.rs). At the end each corpus is minimised
# (cargo fuzz cmin) and one line per target is printed: executions, coverage, features, corpus
# files, seconds, executions per second. No sanitizer: the core has no `unsafe` (Rust's own checks,
# with debug assertions on, catch what AddressSanitizer would), and ASan costs 2-3x the executions.
#   fuzz/run.sh [--runs N | --seconds S] [TARGET...]     (--seconds: a time box per target instead)
#   fuzz/run.sh --brief S [TARGET...]   what scripts/test runs when the pinned nightly and cargo-fuzz
#                                       are already installed: S seconds per target, new inputs to a
#                                       scratch directory (the committed corpora stay as they are),
#                                       no cmin, nothing installed
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
RUNS=10000000
LIMIT=""
BRIEF=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --seconds) LIMIT="-max_total_time=$2"; RUNS=-1; shift 2 ;;
    --brief) LIMIT="-max_total_time=$2"; RUNS=-1; BRIEF=1; shift 2 ;;
    *) break ;;
  esac
done
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(record policy mx tlsrpt_record tlsrpt_report smtp_reply smtp_client discovery delivery cert socketmap)

[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
TOOLCHAIN="$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)"
if [ -n "$BRIEF" ]; then
  rustup toolchain list | grep -q "^$TOOLCHAIN" && command -v cargo-fuzz >/dev/null \
    || { echo "fuzz/run.sh --brief: skipped, nightly $TOOLCHAIN or cargo-fuzz not installed" >&2; exit 0; }
  SCRATCH="$(mktemp -d)"
  trap 'rm -rf "$SCRATCH"' EXIT
else
  rustup toolchain list | grep -q "^$TOOLCHAIN" || rustup toolchain install "$TOOLCHAIN" --profile minimal
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
fi
[ -d corpus/record ] || node seed.mjs

mkdir -p logs
printf '%-14s %12s %7s %8s %7s %8s %9s\n' target execs cov ft corpus seconds exec/s
for t in "${TARGETS[@]}"; do
  start=$(date +%s)
  log="logs/$t${BRIEF:+.brief}.log"
  dirs=("corpus/$t")
  # --brief: new inputs go to the scratch directory (libFuzzer writes to the first one).
  [ -z "$BRIEF" ] || { mkdir -p "$SCRATCH/$t"; dirs=("$SCRATCH/$t" "corpus/$t"); }
  cargo fuzz run --sanitizer none "$t" "${dirs[@]}" -- -runs="$RUNS" $LIMIT -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1 \
    || { echo "$t: FAILED, see fuzz/$log and fuzz/artifacts/$t/" >&2; tail -30 "$log" >&2; exit 1; }
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  [ -n "$BRIEF" ] || cargo fuzz cmin --sanitizer none "$t" "corpus/$t" >"logs/$t.cmin.log" 2>&1 || echo "$t: cmin failed (corpus kept as is)" >&2
  files=$(ls "corpus/$t" | wc -l)
  printf '%-14s %12s %7s %8s %7s %8s %9s\n' "$t" "$execs" "$cov" "$ft" "$files" "$secs" "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))"
done
