#!/usr/bin/env bash
# Builds the pinned llama.cpp (the vendor tree of the PyPI sdist llama-cpp-python 0.3.36,
# llama.cpp commit 0c1e570) into a per-user cache, unless it is already there.
# Prints the install prefix on stdout.
#   --bench        also build llama-bench from the same source (for `make bench`)
#   --rpc-server   also build ggml-rpc-server from the same source (for `make rpc-server`
#                  and the RPC tests: a server must speak the same protocol version)
#   --llama-server also build llama-server from the same source (for `make llama-server`
#                  and the inference-server tests: the same model code as the local runs)
#   --source       print the source tree instead (its models/ holds vocabulary-only GGUFs)
# The build has the RPC backend (GGML_RPC) so that models can be spread over ggml-rpc-server
# processes; CUDA when `nvcc` is found or THINKTOP_CUDA=1 (THINKTOP_CUDA=0 turns it off);
# Metal on macOS (llama.cpp's default there).
. "$(dirname "$0")/lib.sh"

want_bench=0 want_rpc_server=0 want_llama_server=0 want_source=0
for arg in "$@"; do
  case "$arg" in
    --bench) want_bench=1 ;;
    --rpc-server) want_rpc_server=1 ;;
    --llama-server) want_llama_server=1 ;;
    --source) want_source=1 ;;
  esac
done

fetch_source() {
  local src="$THINKTOP_CACHE/src/llama_cpp_python-0.3.36/vendor/llama.cpp"
  if [ ! -f "$src/CMakeLists.txt" ]; then
    step "downloading llama.cpp source ($LLAMA_PIN_PYPI sdist from PyPI)"
    local dl; dl="$(mktemp -d)"
    local py; py="$(tool_python)"
    "$py" -c 'import scikit_build_core' 2>/dev/null \
      || "$py" -m pip install -q scikit-build-core >&2 \
      || fail "step 'pip install scikit-build-core' failed"
    "$py" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$dl" "$LLAMA_PIN_PYPI" >&2 \
      || fail "step 'pip download $LLAMA_PIN_PYPI' failed"
    mkdir -p "$THINKTOP_CACHE/src"
    tar xzf "$dl"/llama_cpp_python-0.3.36.tar.gz -C "$THINKTOP_CACHE/src" || fail "unpacking the llama.cpp sdist failed"
    rm -rf "$dl"
  fi
  echo "$src"
}

if [ "$want_source" = 1 ]; then fetch_source; exit 0; fi

common_flags=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DGGML_RPC=ON)
cuda="${THINKTOP_CUDA:-auto}"
if [ "$cuda" = 1 ] || { [ "$cuda" = auto ] && command -v nvcc >/dev/null; }; then
  common_flags+=(-DGGML_CUDA=ON)
  step "CUDA found (nvcc): the llama.cpp build gets the CUDA backend"
fi

# the RPC backend's library marks a build made with it (an older cache without it is rebuilt)
rpc_lib() { ls "$LLAMA_PREFIX"/lib/libggml-rpc.* >/dev/null 2>&1; }

if [ ! -f "$LLAMA_PREFIX/lib/pkgconfig/llama.pc" ] || ! rpc_lib; then
  src="$(fetch_source)"
  build="$THINKTOP_CACHE/build/llama.cpp-$LLAMA_PIN_COMMIT"
  step "building llama.cpp $LLAMA_PIN_COMMIT (about 4 minutes on 2 cores)"
  cmake -S "$src" -B "$build" "${common_flags[@]}" -DBUILD_SHARED_LIBS=ON \
    -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TOOLS=OFF -DCMAKE_INSTALL_PREFIX="$LLAMA_PREFIX" \
    -DCMAKE_INSTALL_RPATH="$LLAMA_PREFIX/lib" >&2 \
    || fail "step 'cmake configure llama.cpp' failed (see the output above)"
  cmake --build "$build" -j"$(nproc)" >&2 || fail "step 'build llama.cpp' failed (see the output above)"
  cmake --install "$build" >&2 || fail "step 'install llama.cpp' failed"
fi

# The tools (ggml-rpc-server, llama-bench, llama-server) share one static build of the same
# source: configured once, each target built when first asked for.
tools_build() {   # target, what it is for
  local src; src="$(fetch_source)"
  local build="$THINKTOP_CACHE/build/tools-$LLAMA_PIN_COMMIT"
  step "building $1 from the same source ($2)"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build" "${common_flags[@]}" -DBUILD_SHARED_LIBS=OFF \
      -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON >&2 \
      || fail "step 'cmake configure the llama.cpp tools' failed (see the output above)"
  fi
  cmake --build "$build" -j"$(nproc)" --target "$1" >&2 || fail "step 'build $1' failed (see the output above)"
  mkdir -p "$LLAMA_PREFIX/bin" && cp "$build/bin/$1" "$LLAMA_PREFIX/bin/"
}

if [ "$want_rpc_server" = 1 ] && [ ! -x "$LLAMA_PREFIX/bin/ggml-rpc-server" ]; then
  tools_build ggml-rpc-server "a server must speak the same RPC protocol version"
fi
if [ "$want_bench" = 1 ] && [ ! -x "$LLAMA_PREFIX/bin/llama-bench" ]; then
  tools_build llama-bench "the baseline of make bench"
fi
if [ "$want_llama_server" = 1 ] && [ ! -x "$LLAMA_PREFIX/bin/llama-server" ]; then
  tools_build llama-server "the inference-server tests; about 6 minutes on 2 cores"
fi
echo "$LLAMA_PREFIX"
