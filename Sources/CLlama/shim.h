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

// A persistent CPU threadpool for a context (as llama-bench attaches one): without it, ggml
// makes and joins a disposable pool of threads for every graph it computes, that is, for every
// token. The CPU backend's functions are reached through its registry (it may be a module
// loaded at run time). NULL when there is no CPU backend.
static inline struct ggml_threadpool * tt_threadpool_new(int n_threads) {
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!dev) return NULL;
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    typedef struct ggml_threadpool * (*threadpool_new_fn)(struct ggml_threadpool_params *);
    threadpool_new_fn make = (threadpool_new_fn) ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new");
    if (!make) return NULL;
    struct ggml_threadpool_params params = ggml_threadpool_params_default(n_threads);
    return make(&params);
}

static inline void tt_threadpool_free(struct ggml_threadpool * pool) {
    if (!pool) return;
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!dev) return;
    typedef void (*threadpool_free_fn)(struct ggml_threadpool *);
    threadpool_free_fn release = (threadpool_free_fn) ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), "ggml_threadpool_free");
    if (release) release(pool);
}
