#pragma once
// The llama.cpp C API as pinned (llama.cpp 0c1e570, ggml 0.25.3). Only Sources/Engine imports this.
#include <llama.h>
#include <gguf.h>
#include <ggml.h>
