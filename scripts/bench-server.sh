#!/usr/bin/env bash
# `make bench-server`: starts llama-server (built from the pinned source) on 127.0.0.1 and a
# free port with the default model, laid out as thinktop lays out a local context, runs
# `thinktop bench --server` against it, and stops it by process id.
. "$(dirname "$0")/lib.sh"
server="$1"; shift
threads="${THREADS:-2}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp)"
"$server" -m "$MODEL_FILE" --host 127.0.0.1 --port "$port" -c 4096 -np 1 -t "$threads" --swa-full --kv-unified --no-webui \
  >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 300); do
  if python3 -c "import urllib.request,sys; sys.exit(0 if b'ok' in urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1).read() else 1)" 2>/dev/null; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "llama-server did not start"; }
  sleep 0.2
done
.build/release/thinktop bench --server "http://127.0.0.1:$port" --threads "$threads" "$@"
