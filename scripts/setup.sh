#!/usr/bin/env bash
# One-command set-up for a fresh Debian 12 machine, idempotent:
#   scripts/setup.sh          install dependencies, build (build/)
#   scripts/setup.sh demo     ... then run the demo on the shipped real model (scripts/demo.sh)
#   scripts/setup.sh test     ... build with ASan+UBSan and -Werror (build-test/), run every test;
#                             first the multi-threaded ones under ThreadSanitizer (build-tsan/)
# Environment: JOBS (parallel build jobs, default: nproc), CI=true (also implies -Werror).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-build}"
jobs="${JOBS:-$(nproc)}"

case "$mode" in
  build|demo|test) ;;
  -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
  *) echo "setup.sh: unknown mode '$mode' (expected: build, demo or test)" >&2; exit 2 ;;
esac

log() { printf '[setup] %s\n' "$*" >&2; }

# --- 1. Debian packages -------------------------------------------------------
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libeigen3-dev libssl-dev libcli11-dev doctest-dev
  libboost-math-dev nlohmann-json3-dev libbenchmark-dev libcpp-httplib-dev libpng-dev
  curl python3 python3-jsonschema
)
# The tests also render `tracemark audit --report` pages in headless Chromium.
if [ "$mode" = "test" ]; then packages+=(chromium); fi
command -v npm >/dev/null 2>&1 || packages+=(npm)   # fetches the pinned llama.cpp (npm registry)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "need root (or sudo) to install: ${missing[*]}"; exit 1; }
    sudo="sudo"
  fi
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages: all present"
fi

# --- 2. Pinned llama.cpp (optional adapter; see scripts/install_llama.sh) ---------
cmake_llama=()
if [ -x "$here/scripts/install_llama.sh" ]; then
  llama_prefix="$("$here/scripts/install_llama.sh" | tail -n 1)"
  cmake_llama=(-DTRACEMARK_WITH_LLAMA=ON "-DCMAKE_PREFIX_PATH=$llama_prefix")
fi

# --- 3. Configure and build ---------------------------------------------------
werror=OFF
if [ "${CI:-}" = "true" ] || [ "$mode" = "test" ]; then werror=ON; fi

if [ "$mode" = "test" ]; then
  build_dir="$here/build-test"
  extra=(-DTRACEMARK_SANITIZE=ON)
else
  build_dir="$here/build"
  extra=()
fi

configure() {  # configure DIR EXTRA-CMAKE-ARGS...
  local dir="$1"; shift
  log "configuring $dir"
  cmake -S "$here" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRACEMARK_WERROR="$werror" "$@" "${cmake_llama[@]}" >/dev/null
}

# The multi-threaded tests (label 'threads') under ThreadSanitizer, before the full run:
# a race fails the set-up here. Their output ends with ctest's own summary; the full run's
# summary comes last.
if [ "$mode" = "test" ]; then
  configure "$here/build-tsan" -DTRACEMARK_TSAN=ON
  log "building the multi-threaded tests with ThreadSanitizer ($jobs jobs)"
  cmake --build "$here/build-tsan" -j "$jobs" --target thread_tests
  log "running the multi-threaded tests under ThreadSanitizer (ctest -L threads)"
  # (TSAN_OPTIONS come from the tests' environment: tests/threads.cmake.)
  rm -f "$here/build-tsan/tsan-reports/"report*
  if ! (cd "$here/build-tsan" && ctest --output-on-failure -L threads -j "$jobs" --timeout 1800); then
    for r in "$here/build-tsan/tsan-reports/"report*; do
      [ -e "$r" ] && { log "ThreadSanitizer report $r:"; cat "$r" >&2; }
    done
    exit 1
  fi
fi

configure "$build_dir" "${extra[@]}"
log "building with $jobs jobs"
cmake --build "$build_dir" -j "$jobs"

# --- 4. Run -------------------------------------------------------------------
case "$mode" in
  demo)
    # The real-model demo needs llama.cpp (generate, text input); a tool built without it
    # (no 'generate': its help is then the main help) falls back to the embedded toy model.
    tool="$build_dir/tools/tracemark/tracemark"
    if [[ "$("$tool" generate --help 2>/dev/null || true)" == *--model* ]]; then exec "$here/scripts/demo.sh" "$tool"; fi
    log "built without llama.cpp: running the toy-model demo instead (tracemark demo)"
    exec "$tool" demo ;;
  test)
    cd "$build_dir"
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    exec ctest --output-on-failure -j "$jobs" --timeout 1800 ;;
  build)
    log "done: $build_dir/tools/tracemark/tracemark --help" ;;
esac
