# thinktop — every target installs what it needs first (Debian packages, the pinned
# llama.cpp in the per-user cache, the default model), reusing whatever is already there.
SHELL := /bin/bash
CACHE ?= $(or $(THINKTOP_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/thinktop)
export THINKTOP_CACHE := $(CACHE)

# a llama.cpp that pkg-config already finds is used as it is; otherwise the pinned build
LLAMA_PREFIX = $(shell pkg-config --exists llama 2>/dev/null && pkg-config --variable=prefix llama || bash scripts/setup-llama.sh)
SWIFT_FLAGS = -Xlinker -rpath -Xlinker $(LLAMA_PREFIX)/lib
ENV = PKG_CONFIG_PATH=$(LLAMA_PREFIX)/lib/pkgconfig:$$PKG_CONFIG_PATH

.PHONY: run test build deps llama model bench bench-server bench-eval bench-report bench-replay clean mutants tsan rpc-server llama-server browser figures

run: deps model build
	.build/release/thinktop $(ARGS)

# the RPC tests start ggml-rpc-server processes, the inference-server tests llama-server
# processes, both built from the pinned source (rpc-server, llama-server); the report's tests
# open pages in Debian's chromium (browser)
test: deps model rpc-server llama-server browser
	@prefix="$(LLAMA_PREFIX)"; \
	PKG_CONFIG_PATH=$$prefix/lib/pkgconfig:$$PKG_CONFIG_PATH THINKTOP_MODEL="$$(bash scripts/setup-model.sh)" \
	swift build -c release -Xlinker -rpath -Xlinker $$prefix/lib && \
	THINKTOP_MODEL="$$(bash scripts/setup-model.sh)" bash scripts/figures.sh .build/release/thinktop && \
	PKG_CONFIG_PATH=$$prefix/lib/pkgconfig:$$PKG_CONFIG_PATH THINKTOP_MODEL="$$(bash scripts/setup-model.sh)" \
	THINKTOP_BIN="$$PWD/.build/release/thinktop" THINKTOP_RPC_SERVER="$$(bash scripts/setup-llama.sh --rpc-server)/bin/ggml-rpc-server" \
	THINKTOP_LLAMA_SERVER="$$(bash scripts/setup-llama.sh --llama-server)/bin/llama-server" \
	THINKTOP_LLAMA_SOURCE="$$(bash scripts/setup-llama.sh --source)" \
	swift test --no-parallel -Xlinker -rpath -Xlinker $$prefix/lib

# Debian's chromium for the HTML report's tests (skipped with a message where it cannot be installed)
browser:
	@bash scripts/setup-browser.sh

# ggml-rpc-server from the pinned llama.cpp, into the cache's bin folder (for --rpc and the tests)
rpc-server: deps
	@bash scripts/setup-llama.sh --rpc-server >/dev/null

# llama-server from the pinned llama.cpp, into the cache's bin folder (for --server and the tests)
llama-server: deps
	@bash scripts/setup-llama.sh --llama-server >/dev/null

# the Core, Kernels and Views tests under ThreadSanitizer (its own build folder); any race fails
tsan: deps
	@prefix="$(LLAMA_PREFIX)"; \
	PKG_CONFIG_PATH=$$prefix/lib/pkgconfig:$$PKG_CONFIG_PATH TSAN_OPTIONS="halt_on_error=1 $$TSAN_OPTIONS" \
	swift test --sanitize=thread --build-path .build/tsan --filter 'CoreTests|KernelsTests|ViewsTests' \
	-Xlinker -rpath -Xlinker $$prefix/lib

# breaks each strategy rule in a scratch copy of HEAD and expects the Core tests to fail
# (scripts/mutants.sh; ARGS=--working-tree mutates the uncommitted files instead)
mutants: deps
	@prefix="$(LLAMA_PREFIX)"; \
	PKG_CONFIG_PATH=$$prefix/lib/pkgconfig:$$PKG_CONFIG_PATH \
	bash scripts/mutants.sh $(ARGS) -Xlinker -rpath -Xlinker $$prefix/lib

# the README's figure, drawn by thinktop from a run on the default model (docs/figures/)
figures: deps model build
	@bash scripts/figures.sh .build/release/thinktop

build: deps
	@prefix="$(LLAMA_PREFIX)"; \
	PKG_CONFIG_PATH=$$prefix/lib/pkgconfig:$$PKG_CONFIG_PATH swift build -c release -Xlinker -rpath -Xlinker $$prefix/lib

deps:
	@bash scripts/setup-deps.sh

llama: deps
	@bash scripts/setup-llama.sh

model:
	@bash scripts/setup-model.sh >/dev/null

bench: deps model build
	@lb="$$(bash scripts/setup-llama.sh --bench)/bin/llama-bench"; \
	.build/release/thinktop bench --threads $${THREADS:-2} --llama-bench "$$lb" $(ARGS)

# stepping the model through llama-server against the server alone and against the model
# here, and what steering costs there (a stop and resubmit, a probe request)
bench-server: deps model build llama-server
	@bash scripts/bench-server.sh "$$(bash scripts/setup-llama.sh --llama-server)/bin/llama-server" $(ARGS)

# the shipped evaluation serially (the first release's way) and batched, in one run; then
# batched decoding against llama-server --parallel N on the same prompts (LANES=N to choose N)
bench-eval: deps model build llama-server
	@bash scripts/bench-eval.sh .build/release/thinktop "$$(bash scripts/setup-llama.sh --llama-server)/bin/llama-server" $(ARGS)

# a 100,000-token trace in the workbench: first frame, seeks, memory
bench-replay: deps model build
	@bash scripts/bench-replay.sh .build/release/thinktop $(ARGS)

# the HTML report of a real 10,000-token run: size, export time, time to open in chromium
bench-report: deps model build browser
	@bash scripts/bench-report.sh .build/release/thinktop $(ARGS)

clean:
	rm -rf .build
