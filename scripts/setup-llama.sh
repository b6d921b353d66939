#!/usr/bin/env bash
# Builds the pinned llama.cpp (the vendor tree of the PyPI sdist llama-cpp-python 0.3.36,
# llama.cpp commit 0c1e570) into a per-user cache, unless it is already there.
# Prints the install prefix on stdout.
#   --bench   also build llama-bench from the same source (for `make bench`)
. "$(dirname "$0")/lib.sh"

want_bench=0
[ "${1:-}" = "--bench" ] && want_bench=1

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

common_flags=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF)

if [ ! -f "$LLAMA_PREFIX/lib/pkgconfig/llama.pc" ]; then
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

if [ "$want_bench" = 1 ] && [ ! -x "$LLAMA_PREFIX/bin/llama-bench" ]; then
  src="$(fetch_source)"
  build="$THINKTOP_CACHE/build/llama-bench-$LLAMA_PIN_COMMIT"
  step "building llama-bench from the same source"
  cmake -S "$src" -B "$build" "${common_flags[@]}" -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON >&2 || fail "step 'cmake configure llama-bench' failed"
  cmake --build "$build" -j"$(nproc)" --target llama-bench >&2 || fail "step 'build llama-bench' failed"
  mkdir -p "$LLAMA_PREFIX/bin" && cp "$build/bin/llama-bench" "$LLAMA_PREFIX/bin/"
fi
echo "$LLAMA_PREFIX"
