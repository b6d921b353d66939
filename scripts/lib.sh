# Shared helpers for thinktop's set-up scripts. Sourced, not run.
set -euo pipefail

THINKTOP_CACHE="${THINKTOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/thinktop}"
LLAMA_PIN_PYPI="llama-cpp-python==0.3.36"
LLAMA_PIN_COMMIT="0c1e570"
LLAMA_PREFIX="$THINKTOP_CACHE/llama.cpp-$LLAMA_PIN_COMMIT"
MODEL_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MODEL_FILE="$THINKTOP_CACHE/models/gemma-3-270m-q4_k_m.gguf"

step() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'thinktop setup: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else fail "need root to run: $* (install it by hand or run as root)"; fi
}

# A private Python environment for pip, so the set-up never installs into the system's
# Python (Debian marks it externally managed). Prints the environment's python.
tool_python() {
  local venv="$THINKTOP_CACHE/python"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    command -v python3 >/dev/null || fail "python3 is missing: install python3 and python3-venv"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      step "installing python3-venv (needed to create a private pip environment)"
      as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv python3-pip >/dev/null \
        || fail "step 'apt-get install python3-venv' failed"
      rm -rf "$venv"
      python3 -m venv "$venv" >/dev/null || fail "step 'python3 -m venv $venv' failed"
    fi
  fi
  echo "$venv/bin/python"
}
