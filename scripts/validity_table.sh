#!/usr/bin/env bash
# Prints the tables of docs/VALIDITY.md, produced by the real-text validity test
# (tests/llama/test_real_text_validity.cpp). The test's assertions still apply: the
# script fails when the test fails.
#
#   scripts/validity_table.sh [BUILD_DIR] [--extended]
#
# BUILD_DIR: a build configured with -DTRACEMARK_WITH_LLAMA=ON (default: build).
# --extended runs the extended study instead (test_real_text_validity_extended: qwen2 and the
# stories260K vocabulary, and the fixed-key design): about 4 minutes on 2 cores.
set -euo pipefail
build=${1:-build}
extended=${2:-}
bin="$build/tests/test_real_text_validity"
if [[ ! -x $bin ]]; then
  echo "no $bin: configure with -DTRACEMARK_WITH_LLAMA=ON and build target test_real_text_validity" >&2
  exit 1
fi
args=()
if [[ $extended == --extended ]]; then bin="${bin}_extended"; fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
"$bin" "${args[@]}" >"$out" 2>&1 || status=$?
# Table rows start with VALIDITY| or VALIDITY-FIXED|; a blank line before each header row.
sed -n -e 's/^VALIDITY\(-FIXED\)\{0,1\}|//p' "$out" | awk '/^[|] corpus [|]/ { print "" } { print }'
if [[ $status -ne 0 ]]; then
  echo "test_real_text_validity failed (exit $status); its output:" >&2
  cat "$out" >&2
  exit "$status"
fi
