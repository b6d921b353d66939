#pragma once
// The llama.cpp C API as pinned (llama.cpp 0c1e570, ggml 0.25.3). Only Sources/Engine imports this.
#include <llama.h>
#include <gguf.h>
#include <ggml.h>
#include <ggml-backend.h>

// The RPC backend's protocol version, when this llama.cpp was built with it (GGML_RPC): a
// ggml-rpc-server must speak the same major version. -1 without the header.
#if __has_include(<ggml-rpc.h>)
#include <ggml-rpc.h>
static inline int tt_rpc_proto_major(void) { return RPC_PROTO_MAJOR_VERSION; }
static inline int tt_rpc_proto_minor(void) { return RPC_PROTO_MINOR_VERSION; }
static inline int tt_rpc_proto_patch(void) { return RPC_PROTO_PATCH_VERSION; }
#else
static inline int tt_rpc_proto_major(void) { return -1; }
static inline int tt_rpc_proto_minor(void) { return -1; }
static inline int tt_rpc_proto_patch(void) { return -1; }
#endif
