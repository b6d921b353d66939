#!/usr/bin/env bash
# Draws the README's figure with thinktop itself: a real run on the default model (the demo
# problem, budget forcing at 120 thinking tokens), exported as SVG. Usage: figures.sh THINKTOP
. "$(dirname "$0")/lib.sh"

bin="${1:?usage: figures.sh THINKTOP}"
out="$(cd "$(dirname "$0")/.." && pwd)/docs/figures"
mkdir -p "$out"
THINKTOP_MODEL="${THINKTOP_MODEL:-$MODEL_FILE}" "$bin" run --max-tokens 300 --strategy budget=120 \
  --trace "$out/demo.jsonl" >/dev/null 2>"$out/demo.log" || { cat "$out/demo.log" >&2; fail "the figure's run failed"; }
"$bin" export "$out/demo.jsonl" --svg "$out/entropy.svg" --width 800 --height 320 \
  --signals entropy,mean,confidence >/dev/null
"$bin" export "$out/demo.jsonl" --html "$out/demo.html" >/dev/null
step "figure: docs/figures/entropy.svg (report: docs/figures/demo.html)"
