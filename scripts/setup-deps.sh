#!/usr/bin/env bash
# Installs the Debian packages thinktop builds and tests with, only those missing.
. "$(dirname "$0")/lib.sh"

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in libncursesw5-dev cmake ninja-build pkg-config tmux; do
  have_pkg "$p" || need+=("$p")
done
command -v python3 >/dev/null || need+=(python3)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  step "installing Debian packages: ${need[*]}"
  as_root apt-get update -qq || fail "step 'apt-get update' failed: check the network and apt sources"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}" >/dev/null \
    || fail "step 'apt-get install ${need[*]}' failed"
fi
