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
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "quant/type_table.h"
#include "util/error.h"

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

// Which routed expert an observed product belongs to: index -1 (and n_expert 0) for an ordinary
// matmul; for moe_ffn's products, expert `index` of the n_expert in the stack w.
struct ExpertOf {
    int64_t index = -1;
    int64_t n_expert = 0;
};

// Sees the input rows of a matmul before the product: x is n_tokens rows of w.n_in F32 values (in
// the ops' buffer memory). llama-imatrix's collection hook; set only while collecting, so the
// matmul pays one empty-function test otherwise. moe_ffn calls it once per routed expert with the
// rows routed to it (w the whole stack, e.g. blk.N.ffn_gate_exps), as ggml's MUL_MAT_ID shows them.
using ActivationObserver = std::function<void(const Weight& w, const float* x, int64_t n_tokens, ExpertOf expert)>;

enum class RopeStyle {
    Normal,  // rotates adjacent pairs (x[2i], x[2i+1]): llama
    Neox,    // rotates pairs (x[i], x[i + n_rot/2]): qwen2, qwen3
};

struct RopeParams {
    RopeStyle style = RopeStyle::Normal;
    int64_t n_rot = 0;          // leading dims of each head that rotate (the rest pass through)
    float freq_base = 10000.f;  // theta_i = pos * freq_base^(-2i/n_rot)
    // Llama 3.1's RoPE scaling as llama.cpp's converter bakes it (tensor rope_freqs.weight): theta_i is
    // divided by freq_factors[i], n_rot / 2 floats in host memory; null: none.
    const float* freq_factors = nullptr;
};

struct AttentionShape {
    int64_t n_head = 0;
    int64_t n_head_kv = 0;  // n_head is a multiple of it (grouped-query attention)
    int64_t head_dim = 0;
};

// The routed experts of a mixture-of-experts FFN, as GGUF stores them: three stacks of n_expert
// matrices (ggml shape {n_in, n_out, n_expert}, e.g. blk.N.ffn_gate_exps). A Weight here spans all
// experts: expert e owns rows [e * n_out / n_expert, (e + 1) * n_out / n_expert).
struct MoeExperts {
    Weight gate, up;  // n_expert * n_ff rows of n_embd
    Weight down;      // n_expert * n_embd rows of n_ff
    int64_t n_expert = 0;
    int64_t n_used = 0;              // experts routed per token (expert_used_count)
    bool normalize_weights = true;   // divide the chosen probabilities by their sum (norm_topk_prob)
};

// The shape of a Gated DeltaNet layer (qwen3next linear attention): n_v_heads value heads, each
// reading key head h / (n_v_heads / n_k_heads), as Qwen3-Next repeats keys (k0_v0, k0_v1, k1_v2, ...).
struct DeltaNetShape {
    int64_t n_k_heads = 0;
    int64_t n_v_heads = 0;
    int64_t head_k_dim = 0;
    int64_t head_v_dim = 0;
    // gated_delta_rule's alpha and beta_logit: false, two [n_tokens][n_v_heads] arrays; true, both in
    // ssm_ba's output as it comes, [n_tokens][n_k_heads][ratio betas, then ratio alphas] (ratio =
    // n_v_heads / n_k_heads, value head g * ratio + j), beta_logit = ba and alpha = ba + ratio: no
    // copies to split it (two launches a layer in a decode step).
    bool gates_interleaved = false;
    // Where value head h's gate of token t is, from alpha or beta_logit.
    int64_t gate_index(int64_t t, int64_t h) const {
        if (!gates_interleaved) return t * n_v_heads + h;
        const int64_t ratio = n_v_heads / n_k_heads;
        return t * 2 * n_v_heads + h + h / ratio * ratio;
    }
};

// Memory the backend owns (host memory for the CPU, device memory for a GPU).
class Buffer {
public:
    virtual ~Buffer() = default;
    virtual float* data() = 0;
    virtual size_t n_floats() const = 0;
};

// Plain host memory as a Buffer (the CPU backend's buffers, and host memory where nothing faster is had).
class VectorBuffer : public Buffer {
public:
    explicit VectorBuffer(size_t n_floats) : values_(n_floats) {}
    float* data() override { return values_.data(); }
    size_t n_floats() const override { return values_.size(); }

private:
    std::vector<float> values_;
};

// Keys and values of past positions for every layer, stored as F16 (llama.cpp's default cache type).
class KvCache {
public:
    virtual ~KvCache() = default;
    virtual int64_t n_ctx() const = 0;
};

// Throws Error naming an op a backend lacks (the arguments only mark its parameters as used).
template <class... Args>
[[noreturn]] void unsupported(const char* op, const Args&...) {
    fail("backend", std::string("op ") + op + " is not implemented by this backend");
}

class Ops {
public:
    virtual ~Ops() = default;

    virtual std::unique_ptr<Buffer> alloc(size_t n_floats) = 0;
    virtual std::unique_ptr<KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx, const AttentionShape& shape) = 0;
    // Copies n floats of a buffer's memory to the host.
    virtual void to_host(const float* src, float* host_dst, size_t n) = 0;
    // The same, possibly returning before the copy (and the work before it) is done; wait_copies()
    // returns once every copy started so is. host_dst must stay alive until then. The default copies
    // at once.
    virtual void to_host_start(const float* src, float* host_dst, size_t n) { to_host(src, host_dst, n); }
    virtual void wait_copies() {}
    // Copies n floats from the host into a buffer's memory. A backend whose buffers are host memory
    // (host_memory() true) can take host pointers directly and needs no copies.
    virtual void from_host(const float* host_src, float* dst, size_t n) { std::copy(host_src, host_src + n, dst); }
    virtual bool host_memory() const { return true; }
    // Host memory for results copied out again and again (a decode loop's logits, an evaluation's
    // logits tiles): to_host into it is the fastest copy the backend has. A GPU's is page-locked, so
    // the copy goes straight there instead of through the driver's staging buffer and a second copy
    // (an 8B model's 608 KB of decode logits took ~68 us a token that way on an H100: a third of the
    // GPU's idle time between two tokens). Plain memory here.
    virtual std::unique_ptr<Buffer> host_buffer(size_t n_floats) { return std::make_unique<VectorBuffer>(n_floats); }
    // Called once per weight before the first forward pass, so a device backend can upload it (and
    // reject a type it cannot run, naming the tensor) up front; the CPU uses weights in place.
    virtual void prepare_weight(const Weight& /*w*/) {}

    // out[t] = dequantized row ids[t] of table (an embedding lookup).
    virtual void get_rows(const Weight& table, std::span<const int32_t> ids, float* out) = 0;
    // y[t][o] = sum_i W[o][i] * x[t][i] for n_tokens rows; x is converted to the weight type's
    // vec_dot_type once (as ggml does), W is used in place.
    virtual void matmul(const Weight& w, const float* x, int64_t n_tokens, float* y) = 0;
    // Installs (or, with an empty function, removes) the observer every later matmul calls first.
    // A backend that cannot hand activations to the host throws Error.
    virtual void set_activation_observer(ActivationObserver observer) {
        unsupported("set_activation_observer", observer);
    }
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
    // out[r] = rms_norm(x[r]) * weight * silu(gate[r]) for n_rows rows of weight.n_in (the Gated
    // DeltaNet's output norm, gated by z); out may equal x. Here as the two ops; a backend may fuse them.
    virtual void gated_rms_norm(const float* x, const Weight& weight, int64_t n_rows, float eps, const float* gate,
                                float* out) {
        rms_norm(x, weight, n_rows, eps, out);
        swiglu(gate, out, (size_t)(n_rows * weight.n_in), out);
    }
    // x[i] += y[i]
    virtual void add(float* x, const float* y, size_t n) = 0;

    // Fused forms of common op sequences, for backends where every launch costs (a GPU decode step is
    // hundreds of tiny kernels). The defaults run the plain ops, so a backend overrides them only to
    // go faster, never to change a result beyond rounding order.
    //
    // x += y, then out = rms_norm(x) * weight (the residual add and the next pre-norm); out may equal y.
    virtual void add_rms_norm(float* x, const float* y, const Weight& weight, int64_t n_rows, float eps, float* out) {
        add(x, y, (size_t)(n_rows * weight.n_in));
        rms_norm(x, weight, n_rows, eps, out);
    }
    // Per-head RMSNorm of q and k (when q_norm / k_norm are given: qwen3's QK-norm), then RoPE of both
    // at positions pos0.., in place: q[n_tokens][n_head][head_dim], k[n_tokens][n_head_kv][head_dim].
    virtual void qk_norm_rope(float* q, float* k, const Weight* q_norm, const Weight* k_norm, int64_t n_tokens,
                              const AttentionShape& shape, float eps, int64_t pos0, const RopeParams& rope_params) {
        if (q_norm) rms_norm(q, *q_norm, n_tokens * shape.n_head, eps, q);
        if (k_norm) rms_norm(k, *k_norm, n_tokens * shape.n_head_kv, eps, k);
        rope(q, n_tokens, shape.n_head, shape.head_dim, pos0, rope_params);
        rope(k, n_tokens, shape.n_head_kv, shape.head_dim, pos0, rope_params);
    }

    // The ops of the MoE and hybrid architectures (qwen3moe, qwen3next). A backend that lacks one
    // throws Error naming it, so the other architectures run on backends without them.
    //
    // Mixture of experts (qwen3moe, qwen3next), as llama.cpp's softmax gating: per token
    // p = softmax(router_logits[t]) over n_expert, the n_used largest p (ties to the lower expert)
    // with weights w = p (divided by their sum when normalize_weights), and
    // out[t] = sum_j w_j * down_j(silu(gate_j x[t]) * up_j x[t]) in order of decreasing p. Only the
    // routed experts are computed (tokens grouped by expert). x and out: n_tokens rows of n_embd.
    virtual void moe_ffn(const MoeExperts& experts, const float* router_logits, const float* x, int64_t n_tokens,
                         float* out) {
        unsupported("moe_ffn", experts, router_logits, x, n_tokens, out);
    }
    // dst[r][c] = src[r * src_stride + col0 + c] for n_rows rows of n_cols: a column slice of each row
    // (the query and gate halves of a joint projection, the q/k/v parts of a convolved mix).
    virtual void copy_columns(const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols,
                              float* dst) {
        unsupported("copy_columns", src, n_rows, src_stride, col0, n_cols, dst);
    }
    // x[r][c] *= sigmoid(gate[r][gate_cols == 1 ? 0 : c]) for n_rows rows of n_cols; gate_cols is
    // n_cols (elementwise: gated attention output) or 1 (one gate per row: the shared-expert gate).
    virtual void sigmoid_gate(float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols) {
        unsupported("sigmoid_gate", x, gate, n_rows, n_cols, gate_cols);
    }
    // x[r][c] += y[r][c] * sigmoid(gate[r]) for n_rows rows of n_cols (the shared expert's output,
    // gated per token, into the layer's output); y may be overwritten. Here as the two ops; the CUDA
    // backend folds it into the product that wrote y.
    virtual void add_sigmoid_gated(float* x, float* y, const float* gate, int64_t n_rows, int64_t n_cols) {
        sigmoid_gate(y, gate, n_rows, n_cols, 1);
        add(x, y, (size_t)(n_rows * n_cols));
    }
    // x[r] /= max(||x[r]||_2, eps) in place for n_rows rows of n_cols (ggml_l2_norm).
    virtual void l2_norm(float* x, int64_t n_rows, int64_t n_cols, float eps) {
        unsupported("l2_norm", x, n_rows, n_cols, eps);
    }
    // Depthwise causal convolution, then SiLU (ggml_ssm_conv + ggml_silu):
    // out[t][c] = silu(sum_{i<K} x[t-K+1+i][c] * kernel[c][i]), where x at positions -(K-1)..-1 (the
    // inputs before this call) are conv_state's rows.
    // kernel: F32, n_in = K taps, n_out = channels; x, out: n_tokens rows of channels.
    // conv_state (buffer memory, may be nullptr): [K-1][channels], row r = the input row at position
    // r - (K-1), i.e. the last K-1 input rows of the previous call of the sequence in order (zeros at
    // its start). Read as the inputs before x, then overwritten with the last K-1 rows of
    // (conv_state rows, x rows), so the next call continues the sequence. nullptr: a zero state that
    // is not kept (a sequence from position 0 run in one call).
    virtual void causal_conv1d_silu(const float* x, const Weight& kernel, int64_t n_tokens, float* conv_state,
                                    float* out) {
        unsupported("causal_conv1d_silu", x, kernel, n_tokens, conv_state, out);
    }
    // The gated delta rule of Gated DeltaNet (ggml_gated_delta_net), per value head h and token t,
    // with g = softplus(alpha[t][h] + dt_bias[h]) * a[h] (a = -exp(A_log), as the GGUF stores ssm_a),
    // beta = sigmoid(beta_logit[t][h]), k = k[t][h / ratio], q likewise:
    //   S = exp(g) S;  S += k (beta (v - S^T k))^T;  out[t][h] = S^T q / sqrt(head_k_dim)
    // q, k: [n_tokens][n_k_heads][head_k_dim] (already L2-normalised); v, out:
    // [n_tokens][n_v_heads][head_v_dim]; alpha, beta_logit: [n_tokens][n_v_heads], or interleaved
    // (DeltaNetShape::gates_interleaved); dt_bias, a: F32 vectors of n_v_heads.
    // state (buffer memory, may be nullptr): the recurrent state S of every value head, stored
    // transposed: [n_v_heads][head_v_dim][head_k_dim], state[(h * head_v_dim + j) * head_k_dim + i] =
    // S_h[i][j] (row j: what value element j reads from the keys). Read as the state before token 0
    // (zeros at a sequence's start), overwritten with the state after the last token. nullptr: a zero
    // state that is not kept.
    virtual void gated_delta_rule(const float* q, const float* k, const float* v, const float* alpha,
                                  const float* beta_logit, const Weight& dt_bias, const Weight& a, int64_t n_tokens,
                                  const DeltaNetShape& shape, float* state, float* out) {
        unsupported("gated_delta_rule", q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out);
    }
};

}  // namespace shootout::backend
