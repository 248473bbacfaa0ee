#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer) on the stable toolchain (RUSTC_BOOTSTRAP=1).
#   fuzz.sh smoke          every target for FUZZ_SECS (default 8) seconds, no sanitizer (make test)
#   fuzz.sh run [TARGET]   every target (or one) for FUZZ_SECS (default 300) seconds with
#                          AddressSanitizer (make fuzz; FUZZ_SECS=14400 for hours)
# New inputs go to a scratch corpus (fuzz/corpus/<target> is read, never written); a crash
# is saved under fuzz/artifacts/<target>/ and fails the run, printing how to reproduce it.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-run}"
only="${2:-}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked --quiet || {
    echo "fuzz: ERROR: cargo-fuzz could not be installed (crates.io unreachable?)" >&2; exit 1; }
fi
command -v c++ >/dev/null 2>&1 || { echo "fuzz: ERROR: a C++ compiler is needed for libFuzzer (apt-get install g++)" >&2; exit 1; }

case "$mode" in
  # smoke: an unoptimised build (half the compile time on 2 cores; still ~10^5 inputs each)
  smoke) secs="${FUZZ_SECS:-8}"; sanitizer=none; profile=--dev ;;
  run) secs="${FUZZ_SECS:-300}"; sanitizer=address; profile=--release ;;
  *) echo "usage: fuzz.sh smoke|run [TARGET]" >&2; exit 2 ;;
esac

cd fuzz
targets="$(cargo fuzz list)"
[ -n "$only" ] && targets="$only"
echo "fuzz: building the targets (sanitizer: $sanitizer)"
if [ -n "$only" ]; then cargo fuzz build "$profile" -s "$sanitizer" "$only"; else cargo fuzz build "$profile" -s "$sanitizer"; fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=0
passed=0
for t in $targets; do
  mkdir -p "$scratch/$t" "artifacts/$t"
  start=$(date +%s)
  if cargo fuzz run "$profile" -s "$sanitizer" "$t" "$scratch/$t" "corpus/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
      > "$scratch/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t.log" | tail -1)
    passed=$((passed + 1))
    echo "fuzz: $t ok: ${runs:-?} inputs in $(( $(date +%s) - start )) s"
  else
    failed=$((failed + 1))
    echo "fuzz: $t FAILED; its log:" >&2
    tail -40 "$scratch/$t.log" >&2
    echo "fuzz: reproduce with: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $t artifacts/$t/<crash file>; then add the input as a regression test" >&2
  fi
done
if [ "$failed" -ne 0 ]; then echo "fuzz: $passed passed, $failed failed" >&2; exit 1; fi
echo "fuzz: every target ran without a crash"
