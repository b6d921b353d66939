#!/usr/bin/env bash
# The HTML report at scale: a real 10,000-token run on the default model (StreamingLLM keeps
# it inside the context; recorded once into the cache), exported; then the page opened in
# headless chromium five times. Prints the file sizes, the export time, the time until the
# page's script has run (its DOM built: `data-ready`, from navigation start) and the wall time
# of a full screenshot (layout and paint included) against that of an empty page, medians.
#   scripts/bench-report.sh THINKTOP [TOKENS]
. "$(dirname "$0")/lib.sh"

bin="${1:?usage: bench-report.sh THINKTOP [TOKENS]}"
tokens="${2:-10000}"
command -v chromium >/dev/null || fail "chromium is missing: run \`make browser\` first"
dir="$THINKTOP_CACHE/bench"
mkdir -p "$dir"
trace="$dir/long-$tokens.jsonl"
if [ ! -s "$trace" ] || ! tail -n 1 "$trace" | grep -q '"type":"summary"'; then
  step "recording a $tokens-token run (once; a few minutes on 2 cores)"
  THINKTOP_MODEL="${THINKTOP_MODEL:-$MODEL_FILE}" "$bin" run --max-tokens "$tokens" --stop NEVER-SEEN-STOP \
    --kv streaming:sinks=4:recent=1024 --strategy budget=4000 --trace "$trace" >/dev/null
fi
html="$dir/long-$tokens.html"
start=$(date +%s%N)
"$bin" export "$trace" --html "$html" >/dev/null
export_s=$(( ($(date +%s%N) - start) / 1000000 ))
blank="$dir/blank.html"
echo '<!DOCTYPE html><title>blank</title>' > "$blank"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --user-data-dir="$profile")
python3 - "$html" "$blank" "$trace" "$export_s" "${flags[@]}" <<'PY'
import os, re, statistics, subprocess, sys, time
html, blank, trace, export_s, flags = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) / 1000, sys.argv[5:]
def chromium(*args):
    t = time.monotonic()
    out = subprocess.run(["chromium", *flags, *args], capture_output=True, text=True).stdout
    return time.monotonic() - t, out
ready, shot, empty = [], [], []
for _ in range(5):
    _, dom = chromium("--dump-dom", "file://" + html)
    m = re.search(r'data-ready="(\d+)"', dom)
    if not m: sys.exit("the page's script did not finish")
    ready.append(int(m.group(1)))
    shot.append(chromium("--window-size=1200,1600", "--screenshot=" + os.devnull + ".png", "file://" + html)[0])
    empty.append(chromium("--window-size=1200,1600", "--screenshot=" + os.devnull + ".png", "file://" + blank)[0])
tokens = sum(1 for l in open(trace) if '"type":"token"' in l)
mb = lambda p: os.path.getsize(p) / 1e6
print(f"trace      {tokens} tokens, {mb(trace):.1f} MB")
print(f"report     {mb(html):.2f} MB, exported in {export_s:.2f} s")
print(f"page       script done {statistics.median(ready)} ms after navigation start (median of 5: {ready})")
print(f"screenshot {statistics.median(shot):.2f} s wall, an empty page {statistics.median(empty):.2f} s: "
      f"the report's own load, layout and paint ≈ {statistics.median(shot) - statistics.median(empty):.2f} s")
PY
