#!/usr/bin/env bash
# Production lines of code (issue 12's "the production code is smaller"): non-blank,
# non-comment lines of crates/*/src/**/*.rs, each file cut at its first test-only item
# (`#[cfg(test)]` or `#[cfg(any(test, …))]`, always the file's last items here), skipping
# the test-only `tests.rs` files. `bash deploy/scripts/loc.sh [DIR] [-v]`: the total, and
# with -v the count per file.
set -euo pipefail
dir=${1:-.}
cd "$dir"
for f in $(find crates/*/src -name '*.rs' ! -name 'tests.rs' | sort); do
  n=$(awk '/^#\[cfg\((test|any\(test)/{exit} {print}' "$f" | grep -v '^\s*$' | grep -cv '^\s*//' || true)
  echo "$n $f"
done | sort -rn > "${TMPDIR:-/tmp}/loc-files.$$"
if [ "${2:-}" = "-v" ]; then cat "${TMPDIR:-/tmp}/loc-files.$$"; fi
awk '{s+=$1} END {print s}' "${TMPDIR:-/tmp}/loc-files.$$"
rm -f "${TMPDIR:-/tmp}/loc-files.$$"
