# Arguments of the scripts that work on students of an existing run (logprobs.sh,
# neutralize.sh): RUN_DIR NAME... [--build DIR]. Sets OUT (absolute), NAMES and BUILD.
# Usage: parse_run_args HELP_RANGE USAGE_LINE "$@", the ranges being lines of the calling
# script's header comment (sed addresses) shown by --help and on a usage error.
# shellcheck shell=bash
parse_run_args() {
  local help=$1 usage=$2
  shift 2
  NAMES=()
  OUT=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --build) BUILD=$2; shift 2 ;;
      -h|--help) sed -n "${help}p" "$0"; exit 0 ;;
      *) if [[ -z $OUT ]]; then OUT=$1; else NAMES+=("$1"); fi; shift ;;
    esac
  done
  [[ -n $OUT && ${#NAMES[@]} -gt 0 ]] || { sed -n "${usage}p" "$0" >&2; exit 2; }
  OUT=$(cd "$OUT" && pwd)
}
