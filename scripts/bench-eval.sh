#!/usr/bin/env bash
# `make bench-eval`: the shipped evaluation (every problem × the six default strategy sets)
# run the first release's way (--serial --no-shared-prefix: one problem at a time, every
# prompt evaluated whole) and the batched way (problems decoded together, the shared prefix
# once), in one run; then decoding alone (set "none") against llama-server with --parallel N
# on the same model, prompts, sampling and lane count, llama-server built from the pinned
# source and started on 127.0.0.1 on a free port, stopped by process id.
# Usage: bench-eval.sh THINKTOP LLAMA_SERVER [EVAL OPTIONS…]   (LANES=N sets --parallel)
. "$(dirname "$0")/lib.sh"
bin="${1:?usage: bench-eval.sh THINKTOP LLAMA_SERVER [EVAL OPTIONS…]}"; server="${2:?llama-server}"; shift 2
threads="${THREADS:-2}"
export THINKTOP_MODEL="${THINKTOP_MODEL:-$MODEL_FILE}"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$work"' EXIT
lanes=(); [ -n "${LANES:-}" ] && lanes=(--parallel "$LANES")

# "192 runs in 412.3 s (…): 28754 tokens, 69.7 tok/s" → seconds, tokens, mode
summary() { grep -E '^[0-9]+ runs in ' "$1" | tail -n 1; }

step "the shipped evaluation, serially, every prompt whole (the first release's way; minutes)"
"$bin" eval --threads "$threads" --serial --no-shared-prefix --out "$work/serial" "$@" >"$work/serial.md" 2>"$work/serial.err" \
  || { cat "$work/serial.err" >&2; fail "the serial evaluation failed"; }
step "the same evaluation, batched"
"$bin" eval --threads "$threads" "${lanes[@]}" --out "$work/batched" "$@" >"$work/batched.md" 2>"$work/batched.err" \
  || { cat "$work/batched.err" >&2; fail "the batched evaluation failed"; }
n="$(summary "$work/batched.err" | sed -E 's/.*\(([0-9]+) problems? at a time.*/\1/')"
step "decoding alone (set none), $n problems at a time"
"$bin" eval --threads "$threads" --parallel "$n" --strategies none --out "$work/none" "$@" >/dev/null 2>"$work/none.err" \
  || { cat "$work/none.err" >&2; fail "the batched evaluation of set none failed"; }
"$bin" eval --print-prompts "$@" >"$work/prompts.jsonl"

step "llama-server --parallel $n on the same prompts"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
cells="$(python3 -c 'import sys; print(2048 * int(sys.argv[1]))' "$n")"
"$server" -m "$MODEL_FILE" --host 127.0.0.1 --port "$port" -c "$cells" -np "$n" -t "$threads" --no-webui >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  python3 -c "import urllib.request,sys; sys.exit(0 if b'ok' in urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1).read() else 1)" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "llama-server did not start"; }
  sleep 0.2
done
python3 - "$port" "$n" "$work/prompts.jsonl" "$work/server.json" <<'PY'
import json, sys, threading, time, urllib.request
port, n, prompts, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
jobs = [json.loads(l) for l in open(prompts, encoding="utf-8")]
lock, results, nxt = threading.Lock(), [], [0]
def worker():
    while True:
        with lock:
            if nxt[0] >= len(jobs): return
            j = jobs[nxt[0]]; nxt[0] += 1
        body = {"prompt": j["prompt"], "n_predict": j["max_tokens"], "stop": [j["stop"]], "temperature": j["temperature"],
                "top_k": j["top_k"], "top_p": j["top_p"], "min_p": j["min_p"], "seed": j["seed"], "cache_prompt": True}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        r = json.load(urllib.request.urlopen(req, timeout=600))
        with lock: results.append(r["tokens_predicted"])
start = time.time()
threads = [threading.Thread(target=worker) for _ in range(n)]
for t in threads: t.start()
for t in threads: t.join()
wall = time.time() - start
json.dump({"runs": len(results), "tokens": sum(results), "seconds": wall}, open(out, "w"))
PY

python3 - "$work" "$n" <<'PY'
import json, re, sys
work, n = sys.argv[1], sys.argv[2]
def parse(name):
    line = [l for l in open(f"{work}/{name}.err", encoding="utf-8") if re.match(r"^\d+ runs in ", l)][-1]
    m = re.match(r"^(\d+) runs in ([\d.]+) s \((.*)\): (\d+) tokens, ([\d.]+) tok/s", line)
    return {"runs": int(m[1]), "seconds": float(m[2]), "mode": m[3], "tokens": int(m[4]), "tps": float(m[5])}
serial, batched, none = parse("serial"), parse("batched"), parse("none")
server = json.load(open(f"{work}/server.json"))
server["tps"] = server["tokens"] / server["seconds"]
print(f"shipped evaluation, {serial['runs']} runs")
print(f"  serial (first release):  {serial['seconds']:8.1f} s  {serial['tokens']:6d} tokens  {serial['tps']:6.1f} tok/s  ({serial['mode']})")
print(f"  batched:                 {batched['seconds']:8.1f} s  {batched['tokens']:6d} tokens  {batched['tps']:6.1f} tok/s  ({batched['mode']})")
print(f"  speed-up (wall time):    {serial['seconds'] / batched['seconds']:.2f} ×")
print(f"decoding alone, {n} problems at a time, set none, {none['runs']} runs")
print(f"  thinktop:                {none['seconds']:8.1f} s  {none['tokens']:6d} tokens  {none['tps']:6.1f} tok/s")
print(f"  llama-server -np {n}:     {server['seconds']:8.1f} s  {server['tokens']:6d} tokens  {server['tps']:6.1f} tok/s")
print(f"  thinktop / llama-server: {none['tps'] / server['tps']:.2f}")
PY
