#!/usr/bin/env bash
# Installs Debian's chromium for the HTML report's browser tests, if it is missing. A machine
# that cannot install it still runs every other test: the browser tests then say they were
# skipped and why. Never fails.
. "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null 2>&1 && exit 0
step "installing Debian's chromium (the HTML report's tests open pages in it)"
if ! { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null; } 2>/dev/null; then
  printf 'thinktop setup: could not install chromium: the browser tests will be skipped\n' >&2
fi
exit 0
