#!/usr/bin/env bash
# Long traces in the workbench: a 100,000-token trace opened and scrubbed by `thinktop bench
# --replay` (first frame, seeks, memory). The trace is the real 10,000-token run that
# `make bench-report` records (recorded here too when missing), its tokens and evictions
# repeated ten times with steps and positions renumbered: a real run of 100,000 tokens would
# take over an hour on 2 cores. Usage: bench-replay.sh THINKTOP [TOKENS]
. "$(dirname "$0")/lib.sh"

bin="${1:?usage: bench-replay.sh THINKTOP [TOKENS]}"
tokens="${2:-100000}"
dir="$THINKTOP_CACHE/bench"
mkdir -p "$dir"
real="$dir/long-10000.jsonl"
if [ ! -s "$real" ] || ! tail -n 1 "$real" | grep -q '"type":"summary"'; then
  step "recording a 10000-token run (once; a few minutes on 2 cores)"
  THINKTOP_MODEL="${THINKTOP_MODEL:-$MODEL_FILE}" "$bin" run --max-tokens 10000 --stop NEVER-SEEN-STOP \
    --kv streaming:sinks=4:recent=1024 --strategy budget=4000 --trace "$real" >/dev/null
fi
long="$dir/long-$tokens.jsonl"
if [ ! -s "$long" ]; then
  step "writing a $tokens-token trace from it"
  python3 - "$real" "$long" "$tokens" <<'PY'
import json, sys
src, dst, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
header, body = None, []
for line in open(src, encoding="utf-8"):
    o = json.loads(line)
    if o["type"] == "header": header = o
    elif o["type"] == "token" or (o["type"] == "event" and o["kind"] == "evict"): body.append(o)
steps = sum(1 for o in body if o["type"] == "token")
header["settings"]["max_tokens"] = want
dump = lambda o: json.dumps(o, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
with open(dst, "w", encoding="utf-8") as out:
    out.write(dump(header) + "\n")
    written, k = 0, 0
    while written < want:
        shift = k * steps
        for o in body:
            o = dict(o)
            if o["type"] == "token":
                if written == want: break
                o["i"] += shift; o["pos"] += shift
                written += 1
            else:
                o["step"] += shift
                if "position" in o: o["position"] += shift
            out.write(dump(o) + "\n")
        k += 1
PY
fi
"$bin" bench --replay "$long" --seeks 20
