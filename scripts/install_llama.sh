#!/usr/bin/env bash
# Build and install a pinned, static, CPU-only llama.cpp for tracemark::llama.
#
# Source: the npm package node-llama-cpp@3.21.1 ships llama.cpp release v0.4.0
# as a git bundle (package/llama/gitRelease.bundle). The npm tarball is checked
# against the sha512 integrity pinned below before anything in it is used, and
# the commit checked out of the bundle is pinned too. The build uses no network.
#
# Installs into ${TRACEMARK_DEPS_DIR:-/opt/tracemark-deps}/llama.cpp-v0.4.0:
#   include/                llama.h, llama-cpp.h, ggml*.h, gguf.h
#   lib/                    libllama.a libggml.a libggml-base.a libggml-cpu.a
#   lib/cmake/llama/        llama-config.cmake   (find_package(llama): target `llama`)
#   lib/cmake/ggml/         ggml-config.cmake    (ggml::ggml ggml::ggml-base ggml::ggml-cpu ggml::all)
#   share/llama-vocab/      ggml-vocab-*.gguf and their .inp/.out tokenizer test vectors
#   .tracemark-stamp        pinned integrity + commit + build flags of this install
#
# Usage: scripts/install_llama.sh [--print-prefix] [--force]
#   --print-prefix  print the install prefix and exit (builds nothing)
#   --force         rebuild even if a matching stamp exists
# The prefix is always the last line printed on stdout.
# Environment: TRACEMARK_DEPS_DIR (default /opt/tracemark-deps),
#              TRACEMARK_LLAMA_JOBS (default: nproc).
set -euo pipefail

readonly NPM_PACKAGE="node-llama-cpp"
readonly NPM_VERSION="3.21.1"
# `npm view node-llama-cpp@3.21.1 dist.integrity`, pinned. Never update this
# line without also reviewing the llama.cpp commit below.
readonly NPM_INTEGRITY="sha512-E3N0Ev2Va0wzydvXYFwM9Hvyo07PoWjt8T/9GMc43Cvt8YkV/NU/tYUgEMC1grTPv2o9PRjQi0G3Wb5P/awiMg=="
readonly LLAMA_TAG="v0.4.0"
# The bundle holds one squashed commit (HEAD) and no tags; llama.cpp.info.json
# next to it names the tag.
readonly LLAMA_COMMIT="80fb11ac73e66d89eae2c6a91d8a77428fa733ed"

DEPS_DIR="${TRACEMARK_DEPS_DIR:-/opt/tracemark-deps}"
PREFIX="${DEPS_DIR}/llama.cpp-${LLAMA_TAG}"
CACHE_DIR="${DEPS_DIR}/cache"
STAMP="${PREFIX}/.tracemark-stamp"

log() { printf 'install_llama: %s\n' "$*" >&2; }
die() { printf 'install_llama: ERROR: %s\n' "$*" >&2; exit 1; }

force=0
for arg in "$@"; do
  case "$arg" in
    --print-prefix) printf '%s\n' "$PREFIX"; exit 0 ;;
    --force) force=1 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

# ---------------------------------------------------------------- build flags
# Static, CPU-only, position-independent, nothing but the library.
#  - LLAMA_BUILD_IS_DEV=OFF: this is the release tag, so llama-config-version
#    says 0.4.0 (not 0.4.0-dev) and find_package(llama 0.4.0 EXACT) works.
#  - GGML_NATIVE=OFF: no -march=native; on x86-64 ggml then enables a fixed
#    AVX/AVX2/FMA/F16C/BMI2 set (x86-64-v3), which is switched off below on a
#    CPU without it, so the library never depends on the build host's exact CPU.
#  - GGML_OPENMP=OFF: ggml uses its own pthread thread pool instead of libgomp.
#    With a static libggml and OpenMP ON every consumer would have to
#    find_dependency(OpenMP) and link libgomp (llama-config does not propagate
#    that for the imported `llama` target); OFF keeps the link line to
#    libllama + libggml* + libstdc++ and avoids a second thread runtime inside
#    an inference server.
#  - LLAMA_BUILD_COMMON/APP/UI and LLAMA_USE_PREBUILT_UI=OFF: the web UI is the
#    only part of v0.4.0 that downloads at configure/build time (tools/ui,
#    scripts/ui-assets.cmake); with tools and the app off it is not even
#    configured, the flags make that explicit. LLAMA_CURL is deprecated and
#    ignored in v0.4.0 (kept OFF for older trees). FETCHCONTENT_FULLY_DISCONNECTED
#    makes any stray FetchContent fail instead of reaching the network.
CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_INSTALL_LIBDIR=lib
  -DLLAMA_BUILD_IS_DEV=OFF
  -DBUILD_SHARED_LIBS=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DGGML_NATIVE=OFF
  -DGGML_OPENMP=OFF
  -DGGML_CCACHE=OFF
  -DGGML_BACKEND_DL=OFF
  -DLLAMA_BUILD_COMMON=OFF
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_TOOLS=OFF
  -DLLAMA_BUILD_SERVER=OFF
  -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_UI=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_CURL=OFF
  -DLLAMA_OPENSSL=OFF
  -DFETCHCONTENT_FULLY_DISCONNECTED=ON
)
if [[ "$(uname -m)" == x86_64 ]]; then
  cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  for f in avx avx2 fma f16c bmi2; do
    if [[ "$cpu_flags" != *" $f "* ]]; then
      log "CPU lacks $f: building ggml for the SSE4.2 baseline"
      CMAKE_FLAGS+=(-DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF)
      break
    fi
  done
fi

# ---------------------------------------------------------------- prerequisites
need_apt=()
command -v npm >/dev/null || need_apt+=(npm)
command -v git >/dev/null || need_apt+=(git)
command -v cmake >/dev/null || need_apt+=(cmake)
command -v ninja >/dev/null || need_apt+=(ninja-build)
command -v c++ >/dev/null || need_apt+=(g++)
command -v cc >/dev/null || need_apt+=(gcc)
command -v flock >/dev/null || need_apt+=(util-linux)
if ((${#need_apt[@]})); then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing prerequisites: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
  else
    die "missing tools: ${need_apt[*]} (run as root on Debian, or install them)"
  fi
fi

compiler_id="$(c++ --version | head -n1)"
stamp_content="$(
  printf 'llama.cpp %s commit %s\n' "$LLAMA_TAG" "$LLAMA_COMMIT"
  printf 'source npm %s@%s %s\n' "$NPM_PACKAGE" "$NPM_VERSION" "$NPM_INTEGRITY"
  printf 'compiler %s\n' "$compiler_id"
  printf 'flags %s\n' "${CMAKE_FLAGS[*]}"
)"

stamp_ok() {
  [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$stamp_content" ]] &&
    [[ -f "$PREFIX/lib/cmake/llama/llama-config.cmake" ]] &&
    [[ -f "$PREFIX/lib/libllama.a" ]] &&
    compgen -G "$PREFIX/share/llama-vocab/ggml-vocab-*.gguf" >/dev/null
}

if [[ $force -eq 0 ]] && stamp_ok; then
  log "reusing cached build at $PREFIX (stamp matches)"
  printf '%s\n' "$PREFIX"
  exit 0
fi

mkdir -p "$DEPS_DIR" "$CACHE_DIR"
# One build at a time per deps dir (CI and a developer may run this together).
exec 9>"$DEPS_DIR/.install_llama.lock"
flock 9
if [[ $force -eq 0 ]] && stamp_ok; then  # somebody else finished it meanwhile
  log "reusing cached build at $PREFIX (stamp matches)"
  printf '%s\n' "$PREFIX"
  exit 0
fi

# ---------------------------------------------------------------- fetch + verify
# Compare digests in hex: coreutils only, no openssl needed.
integrity_hex() {  # "sha512-<base64>" -> hex
  printf '%s' "${1#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n'
}
file_sha512_hex() { sha512sum "$1" | cut -d' ' -f1; }
hex_to_integrity() {  # hex -> "sha512-<base64>", for the error message
  local hex="$1" esc="" i
  for ((i = 0; i < ${#hex}; i += 2)); do esc+="\\x${hex:i:2}"; done
  printf 'sha512-%s' "$(printf '%b' "$esc" | base64 -w0)"
}

tarball="$CACHE_DIR/${NPM_PACKAGE}-${NPM_VERSION}.tgz"
want_hex="$(integrity_hex "$NPM_INTEGRITY")"
[[ ${#want_hex} -eq 128 ]] || die "pinned integrity is not a sha512 value"

if [[ -f "$tarball" ]] && [[ "$(file_sha512_hex "$tarball")" != "$want_hex" ]]; then
  log "cached tarball $tarball does not match the pinned integrity; fetching it again"
  rm -f "$tarball"
fi
if [[ ! -f "$tarball" ]]; then
  log "fetching ${NPM_PACKAGE}@${NPM_VERSION} with npm pack"
  dl="$(mktemp -d "$CACHE_DIR/npm-pack.XXXXXX")"
  (cd "$dl" && npm pack --ignore-scripts --silent "${NPM_PACKAGE}@${NPM_VERSION}" >/dev/null) ||
    { rm -rf "$dl"; die "npm pack ${NPM_PACKAGE}@${NPM_VERSION} failed"; }
  [[ -f "$dl/${NPM_PACKAGE}-${NPM_VERSION}.tgz" ]] || { rm -rf "$dl"; die "npm pack produced no tarball"; }
  mv "$dl/${NPM_PACKAGE}-${NPM_VERSION}.tgz" "$tarball.part"
  rm -rf "$dl"
  got_hex="$(file_sha512_hex "$tarball.part")"
  if [[ "$got_hex" != "$want_hex" ]]; then
    rm -f "$tarball.part"
    die "INTEGRITY MISMATCH for ${NPM_PACKAGE}@${NPM_VERSION}:
  pinned:   $NPM_INTEGRITY
  received: $(hex_to_integrity "$got_hex")
refusing to build from an unverified tarball"
  fi
  mv "$tarball.part" "$tarball"
fi
log "tarball verified: $NPM_INTEGRITY"

work="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

tar -xzf "$tarball" -C "$work" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json ||
  die "tarball lacks package/llama/gitRelease.bundle"
grep -q "\"tag\": *\"${LLAMA_TAG}\"" "$work/package/llama/llama.cpp.info.json" ||
  die "bundle is not llama.cpp ${LLAMA_TAG}: $(cat "$work/package/llama/llama.cpp.info.json")"

export GIT_TERMINAL_PROMPT=0
git clone --quiet --no-checkout "$work/package/llama/gitRelease.bundle" "$work/src"
git -C "$work/src" -c advice.detachedHead=false checkout --quiet --detach "$LLAMA_COMMIT" ||
  die "bundle does not contain the pinned commit $LLAMA_COMMIT"
[[ "$(git -C "$work/src" rev-parse HEAD)" == "$LLAMA_COMMIT" ]] || die "checked out the wrong commit"
log "llama.cpp ${LLAMA_TAG} at ${LLAMA_COMMIT}"

# ---------------------------------------------------------------- build + install
jobs="${TRACEMARK_LLAMA_JOBS:-$(nproc)}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
log "configuring: ${CMAKE_FLAGS[*]}"
t0=$(date +%s)
cmake -S "$work/src" -B "$work/build" "${generator[@]}" "${CMAKE_FLAGS[@]}" \
  -DCMAKE_INSTALL_PREFIX="$PREFIX" >"$work/configure.log" 2>&1 ||
  { tail -n 40 "$work/configure.log" >&2; die "cmake configure failed"; }
log "building with $jobs jobs"
cmake --build "$work/build" --parallel "$jobs" >"$work/build.log" 2>&1 ||
  { tail -n 60 "$work/build.log" >&2; die "build failed"; }
t1=$(date +%s)
log "build took $((t1 - t0)) s"

rm -rf "$PREFIX"
cmake --install "$work/build" >"$work/install.log" 2>&1 ||
  { tail -n 40 "$work/install.log" >&2; die "install failed"; }

mkdir -p "$PREFIX/share/llama-vocab"
cp "$work/src/models"/ggml-vocab-* "$PREFIX/share/llama-vocab/"
cp "$work/src/LICENSE" "$PREFIX/share/llama-vocab/LICENSE.llama.cpp"
printf '%s\n' "$stamp_content" >"$STAMP.part"
mv "$STAMP.part" "$STAMP"

log "installed llama.cpp ${LLAMA_TAG} into $PREFIX"
printf '%s\n' "$PREFIX"
