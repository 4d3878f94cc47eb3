#!/bin/bash
# run_golden_test.sh CLI_PATH [--skip-prompt]
# Captures the golden cases with the given `tracemark` binary into a temporary directory
# (capture.sh) and compares them with the committed expected/ records (compare.py).
# Exit code: that of compare.py (0 identical, 1 mismatch, 2 usage), or capture's failure.
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 CLI_PATH [--skip-prompt]" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ACTUAL=$(mktemp -d)
trap 'rm -rf "$ACTUAL"' EXIT
"$HERE/capture.sh" "$1" "$ACTUAL" || { echo "run_golden_test.sh: capture.sh failed" >&2; exit 2; }
shift
/usr/bin/python3 "$HERE/compare.py" "$@" "$HERE/expected" "$ACTUAL"
