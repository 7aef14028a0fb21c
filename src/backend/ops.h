// The op set the architectures are written in: a small interface with one implementation per
// backend (cpu now, cuda later), as MLX pairs each primitive with a CPU and a GPU kernel. The model
// code calls only these, on buffers it got from the same Ops, so it never knows where it runs.
//
// Layout conventions (row-major, a "row" is one token):
//   activations x[n_tokens][n]      q[n_tokens][n_head][head_dim]    k, v[n_tokens][n_head_kv][head_dim]
//   a weight matrix is n_out rows of n_in elements in its GGUF type (ggml's shape {n_in, n_out}).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "quant/type_table.h"

namespace shootout {
class ThreadPool;
}

namespace shootout::backend {

// A tensor of the model file as the ops see it: a view into the mapped file (the CPU reads it in
// place; a GPU backend keeps its own copy keyed by the data pointer). Vectors (norms, biases) have
// n_out == 1.
struct Weight {
    std::string name;
    quant::TypeId type = quant::TypeId::F32;
    int64_t n_in = 0;    // elements per row (ggml ne[0])
    int64_t n_out = 0;   // rows (ggml ne[1])
    size_t row_bytes = 0;
    const uint8_t* data = nullptr;

    explicit operator bool() const { return data != nullptr; }
};

enum class RopeStyle {
    Normal,  // rotates adjacent pairs (x[2i], x[2i+1]): llama
    Neox,    // rotates pairs (x[i], x[i + n_rot/2]): qwen2, qwen3
};

struct RopeParams {
    RopeStyle style = RopeStyle::Normal;
    int64_t n_rot = 0;          // leading dims of each head that rotate (the rest pass through)
    float freq_base = 10000.f;  // theta_i = pos * freq_base^(-2i/n_rot)
};

struct AttentionShape {
    int64_t n_head = 0;
    int64_t n_head_kv = 0;  // n_head is a multiple of it (grouped-query attention)
    int64_t head_dim = 0;
};

// Memory the backend owns (host memory for the CPU, device memory for a GPU).
class Buffer {
public:
    virtual ~Buffer() = default;
    virtual float* data() = 0;
    virtual size_t n_floats() const = 0;
};

// Keys and values of past positions for every layer, stored as F16 (llama.cpp's default cache type).
class KvCache {
public:
    virtual ~KvCache() = default;
    virtual int64_t n_ctx() const = 0;
};

class Ops {
public:
    virtual ~Ops() = default;

    virtual std::unique_ptr<Buffer> alloc(size_t n_floats) = 0;
    virtual std::unique_ptr<KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx, const AttentionShape& shape) = 0;
    // Copies n floats of a buffer's memory to the host.
    virtual void to_host(const float* src, float* host_dst, size_t n) = 0;
    // Copies n floats from the host into a buffer's memory. A backend whose buffers are host memory
    // (host_memory() true) can take host pointers directly and needs no copies.
    virtual void from_host(const float* host_src, float* dst, size_t n) { std::copy(host_src, host_src + n, dst); }
    virtual bool host_memory() const { return true; }
    // Called once per weight before the first forward pass, so a device backend can upload it (and
    // reject a type it cannot run, naming the tensor) up front; the CPU uses weights in place.
    virtual void prepare_weight(const Weight& /*w*/) {}

    // out[t] = dequantized row ids[t] of table (an embedding lookup).
    virtual void get_rows(const Weight& table, std::span<const int32_t> ids, float* out) = 0;
    // y[t][o] = sum_i W[o][i] * x[t][i] for n_tokens rows; x is converted to the weight type's
    // vec_dot_type once (as ggml does), W is used in place.
    virtual void matmul(const Weight& w, const float* x, int64_t n_tokens, float* y) = 0;
    // x[r][i] += bias[i] for n_rows rows of bias.n_in elements (bias is F32).
    virtual void add_bias(float* x, const Weight& bias, int64_t n_rows) = 0;
    // y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, n_rows rows of weight.n_in elements.
    // y may equal x.
    virtual void rms_norm(const float* x, const Weight& weight, int64_t n_rows, float eps, float* y) = 0;
    // Rotates x[n_tokens][n_heads][head_dim] in place for positions pos0, pos0+1, ...
    virtual void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
                      const RopeParams& rope) = 0;
    // Writes k, v of positions pos0..pos0+n_tokens-1 into the cache's layer (rounded to F16), then
    // out[t] = causal softmax(q[t] . K^T * scale) V over positions 0..pos0+t.
    virtual void attention(KvCache& cache, int64_t layer, const float* q, const float* k, const float* v,
                           int64_t n_tokens, int64_t pos0, const AttentionShape& shape, float scale,
                           float* out) = 0;
    // out[i] = silu(gate[i]) * up[i]; out may equal gate.
    virtual void swiglu(const float* gate, const float* up, size_t n, float* out) = 0;
    // x[i] += y[i]
    virtual void add(float* x, const float* y, size_t n) = 0;
};

}  // namespace shootout::backend
