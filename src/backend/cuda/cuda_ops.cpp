// backend::Ops on the GPU (see cuda_ops.h). The embedding lookup dequantizes its few rows on the host
// (the table stays in the mapped file; any type with a to_float works) and uploads them; everything
// else runs on the device. Copies to and from the host are synchronous, so a to_host() result is
// complete when it returns.
//
// Decode steps (an embedding lookup of at most kMaxMatvecTokens rows up to the next copy to the host)
// are recorded rather than launched, and run as one CUDA graph per step shape (step_graph.h): the
// model code stays unaware of it, and any host copy in the middle of a step (an observer reading
// activations, say) just ends the step early.
#include "backend/cuda/cuda_ops.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/moe_mmq.h"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/step_graph.h"
#include "util/env.h"
#include "util/error.h"

namespace shootout::cuda {
namespace {

SettableSwitch norm_folding_switch;  // SHOOTOUT_CUDA_NORM_PRODUCT, read at the first call

class CudaBuffer : public backend::Buffer {
public:
    explicit CudaBuffer(size_t n_floats) : n_floats_(n_floats), memory_(n_floats * sizeof(float)) {}
    float* data() override { return memory_.as<float>(); }
    size_t n_floats() const override { return n_floats_; }

private:
    size_t n_floats_;
    DeviceBuffer memory_;
};

class CudaKvCache : public backend::KvCache {
public:
    CudaKvCache(int64_t n_layers, int64_t n_ctx, const backend::AttentionShape& shape)
        : n_layers_(n_layers), n_ctx_(n_ctx), row_halves_(shape.n_head_kv * shape.head_dim),
          k_((size_t)(n_layers * n_ctx * row_halves_) * 2), v_(k_.bytes()) {}

    int64_t n_ctx() const override { return n_ctx_; }
    int64_t n_layers() const { return n_layers_; }
    uint16_t* k(int64_t layer) { return k_.as<uint16_t>() + layer * n_ctx_ * row_halves_; }
    uint16_t* v(int64_t layer) { return v_.as<uint16_t>() + layer * n_ctx_ * row_halves_; }

private:
    int64_t n_layers_, n_ctx_, row_halves_;
    DeviceBuffer k_, v_;  // [layer][pos][n_head_kv * head_dim] halves
};

// The arguments of a recorded launch as bytes (the step's shape; positions left out).
class Key {
public:
    explicit Key(char op) { bytes_ += op; }
    template <typename T> Key& operator<<(const T& value) {
        bytes_.append(reinterpret_cast<const char*>(&value), sizeof(value));
        return *this;
    }
    const std::string& bytes() const { return bytes_; }

private:
    std::string bytes_;
};

Key& operator<<(Key& key, const backend::AttentionShape& shape) {
    return key << shape.n_head << shape.n_head_kv << shape.head_dim;
}

class CudaOps : public backend::Ops {
public:
    CudaOps() {
        if (device_count() == 0) fail("cuda", "no CUDA device found (the CUDA backend needs an NVIDIA GPU)");
        steps_ = std::make_unique<StepGraphs>();
        // The decode attention's scratch for long contexts (DecodeSplit): allocated once, here, so a
        // captured graph's address never changes; 512 blocks is ~4 MB.
        constexpr int kSplitBlocks = 512;
        split_partials_ = DeviceBuffer(cuda::decode_split_floats(kSplitBlocks) * sizeof(float));
        split_counters_ = DeviceBuffer(kSplitBlocks * sizeof(unsigned));
        split_counters_.fill_bytes(0);
        split_ = {split_partials_.as<float>(), split_counters_.as<unsigned>(), kSplitBlocks};
    }

    std::unique_ptr<backend::Buffer> alloc(size_t n_floats) override {
        end_step();
        return std::make_unique<CudaBuffer>(n_floats);
    }

    std::unique_ptr<backend::KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx,
                                                    const backend::AttentionShape& shape) override {
        end_step();
        return std::make_unique<CudaKvCache>(n_layers, n_ctx, shape);
    }

    // The legacy-stream copies below wait for the steps' stream (a blocking stream) and it for them.
    void to_host(const float* src, float* host_dst, size_t n) override {
        end_step();
        SHOOTOUT_CUDA_CHECK(cudaMemcpy(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost));
    }
    void from_host(const float* host_src, float* dst, size_t n) override {
        end_step();
        SHOOTOUT_CUDA_CHECK(cudaMemcpy(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice));
    }
    bool host_memory() const override { return false; }

    // params as the RoPE kernels take them: Llama 3.1's frequency factors (n_rot / 2 floats in host
    // memory, the model's rope_freqs.weight) replaced by their device copy, uploaded once.
    backend::RopeParams device_rope(const backend::RopeParams& params) {
        if (!params.freq_factors) return params;
        backend::RopeParams p = params;
        p.freq_factors = uploaded_floats(params.freq_factors, (size_t)(params.n_rot / 2));
        return p;
    }

    void prepare_weight(const backend::Weight& w) override {
        if (w.type == quant::TypeId::F32) vector(w);  // vectors, and F32 matrices (matmul_f32)
        else matrix(w);
    }

    void get_rows(const backend::Weight& table, std::span<const int32_t> ids, float* out) override {
        const auto& traits = quant::traits(table.type);
        if (!traits.to_float) fail(table.name, std::string("type ") + traits.name + " has no dequantization");
        rows_.resize(ids.size() * (size_t)table.n_in);
        for (size_t t = 0; t < ids.size(); ++t) {
            if (ids[t] < 0 || ids[t] >= table.n_out)
                fail(table.name, "token id " + std::to_string(ids[t]) + " outside the vocabulary of " +
                                     std::to_string(table.n_out));
            traits.to_float(table.data + (size_t)ids[t] * table.row_bytes, rows_.data() + t * table.n_in, table.n_in);
        }
        from_host(rows_.data(), out, rows_.size());  // ends a step in progress
        if ((int64_t)ids.size() <= kMaxMatvecTokens) steps().begin();
        quantized_x_ = {};
    }

    void matmul(const backend::Weight& w, const float* x, int64_t n_tokens, float* y) override {
        flush_rope();  // a product is an op of its own: a held-back rope comes first
        if (w.type == quant::TypeId::F32) {  // routers and the shared-expert gate (small, kept F32)
            const float* wf = vector(w);
            const int64_t n_in = w.n_in, n_out = w.n_out;
            const QuantizedX kept = quantized_x_;
            launch(Key('F') << wf << n_in << n_out << x << n_tokens << y, -1,
                   [=](cudaStream_t s, const int64_t*) { cuda::matmul_f32(wf, n_in, n_out, x, n_tokens, y, s); });
            // The F32 product (a router) uses no workspace: what was quantized stays unless y covers it.
            if (kept.x && (y + n_tokens * n_out <= kept.x || kept.x + kept.n_tokens * kept.n_in <= y)) quantized_x_ = kept;
            return;
        }
        const DeviceWeight* dw = &matrix(w);  // map nodes stay put
        // Q/K/V (and gate/up) read the same normed rows back to back: quantize them once.
        const bool quantizes = n_tokens <= kMaxMatvecTokens && matvec_quantizes_x(dw->type);
        const QuantizedX now{x, n_tokens, dw->n_in, quantizes ? (int)activation_type(dw->type) : -1};
        const bool x_quantized = quantizes && quantized_x_ == now;
        // The first product after x's producer names the conversion the producer may do ahead next time.
        if (quantizes && x != last_product_x_) consumers_[x] = {activation_type(dw->type), dw->n_in, true};
        // Kept for the next product unless this one writes over its own input.
        const bool overwrites_x = y < x + n_tokens * dw->n_in && x < y + n_tokens * dw->n_out;
        quantized_x_ = quantizes && !overwrites_x ? now : QuantizedX{};
        product(dw, x, n_tokens, y, x_quantized);
        last_product_x_ = x;
    }

    void add_bias(float* x, const backend::Weight& bias, int64_t n_rows) override {
        const float* b = vector(bias);
        const int64_t n = bias.n_in;
        launch(Key('B') << x << b << n_rows << n, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::add_bias(x, b, n_rows, n, s); });
    }

    void rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps, float* y) override {
        const float* wv = vector(weight);
        const int64_t n = weight.n_in;
        if (defer_norm(x, wv, n_rows, n, eps, y)) return;
        if (n <= kMaxQuantizingNormRow &&
            launch_quantizing(Key('N') << x << wv << n_rows << n << eps << y, -1, y, n_rows, n,
                              [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                                  cuda::rms_norm_quantize(x, wv, n_rows, n, eps, y, act, qs, ds, s);
                              }))
            return;
        launch(Key('N') << x << wv << n_rows << n << eps << y, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::rms_norm(x, wv, n_rows, n, eps, y, s); });
    }

    void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
              const backend::RopeParams& host_params) override {
        const backend::RopeParams params = device_rope(host_params);
        launch(Key('R') << x << n_tokens << n_heads << head_dim << params.style << params.n_rot << params.freq_base
                        << params.freq_factors,
               pos0, [=](cudaStream_t s, const int64_t* pos_device) {
                   cuda::rope(x, n_tokens, n_heads, head_dim, pos0, params, s, pos_device);
               });
    }

    void attention(backend::KvCache& cache_base, int64_t layer, const float* q, const float* k, const float* v,
                   int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale,
                   float* out) override {
        auto& cache = static_cast<CudaKvCache&>(cache_base);
        if (layer < 0 || layer >= cache.n_layers())
            fail("attention", "layer " + std::to_string(layer) + " not in the KV cache");
        if (pos0 < 0 || pos0 + n_tokens > cache.n_ctx())
            fail("attention", "positions up to " + std::to_string(pos0 + n_tokens) + " exceed the KV cache size " +
                                  std::to_string(cache.n_ctx()));
        uint16_t* kc = cache.k(layer);
        uint16_t* vc = cache.v(layer);
        if (one_kernel_attention(n_tokens, shape)) {
            attention_step(kc, vc, q, k, v, pos0, shape, scale, out);
            return;
        }
        flush_rope();
        launch(Key('A') << kc << vc << q << k << v << n_tokens << shape << scale << out, pos0,
               [=](cudaStream_t s, const int64_t* pos_device) {
                   cuda::attention(kc, vc, q, k, v, n_tokens, pos0, shape, scale, out, s, pos_device);
               });
    }

    void swiglu(const float* gate, const float* up, size_t n, float* out) override {
        if (const int64_t n_in = consumer_row(out, (int64_t)n); n_in > 0) {
            const int64_t n_rows = (int64_t)n / n_in;
            if (launch_quantizing(Key('S') << gate << up << n << out, -1, out, n_rows, n_in,
                                  [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                                      cuda::swiglu_quantize(gate, up, n_rows, n_in, out, act, qs, ds, s);
                                  }))
                return;
        }
        launch(Key('S') << gate << up << n << out, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::swiglu(gate, up, n, out, s); });
    }

    void gated_rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps, const float* gate,
                        float* out) override {
        const int64_t n = weight.n_in;
        if (!cuda::gated_rms_norm_fits(n_rows, n)) {
            backend::Ops::gated_rms_norm(x, weight, n_rows, eps, gate, out);  // two launches
            return;
        }
        const float* wv = vector(weight);
        const Key key = Key('Z') << x << wv << gate << n_rows << n << eps << out;  // not 'g' (moe_group's)
        // The output product's rows are whole rows of heads (value_dim): converted for it, as swiglu.
        if (const int64_t n_in = consumer_row(out, n_rows * n); n_in > 0) {
            if (launch_quantizing(key, -1, out, n_rows * n / n_in, n_in,
                                  [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                                      cuda::gated_rms_norm_quantize(x, wv, gate, n_rows, n, eps, out, act, qs, ds, s);
                                  }))
                return;
        }
        launch(key, -1, [=](cudaStream_t s, const int64_t*) {
            cuda::gated_rms_norm_quantize(x, wv, gate, n_rows, n, eps, out, ActivationType::F32, nullptr, nullptr, s);
        });
    }

    void add_rms_norm(float* x, const float* y, const backend::Weight& weight, int64_t n_rows, float eps,
                      float* out) override {
        if (fold_add_into_product(x, y, n_rows, weight.n_in, out)) {
            rms_norm(x, weight, n_rows, eps, out);
            return;
        }
        const float* wv = vector(weight);
        const int64_t n = weight.n_in;
        if (n <= kMaxQuantizingNormRow &&
            launch_quantizing(Key('n') << x << y << wv << n_rows << n << eps << out, -1, out, n_rows, n,
                              [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                                  cuda::add_rms_norm_quantize(x, y, wv, n_rows, n, eps, out, act, qs, ds, s);
                              }))
            return;
        launch(Key('n') << x << y << wv << n_rows << n << eps << out, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::add_rms_norm(x, y, wv, n_rows, n, eps, out, s); });
    }

    void qk_norm_rope(float* q, float* k, const backend::Weight* q_norm, const backend::Weight* k_norm,
                      int64_t n_tokens, const backend::AttentionShape& shape, float eps, int64_t pos0,
                      const backend::RopeParams& host_params) override {
        if (!qk_norm_rope_supports(shape.head_dim)) {
            backend::Ops::qk_norm_rope(q, k, q_norm, k_norm, n_tokens, shape, eps, pos0, host_params);
            return;
        }
        const backend::RopeParams params = device_rope(host_params);
        const float* qn = q_norm ? vector(*q_norm) : nullptr;
        const float* kn = k_norm ? vector(*k_norm) : nullptr;
        if (one_kernel_attention(n_tokens, shape)) {
            begin_op();  // q and k change, as in a launch
            pending_rope_ = PendingRope{q, k, qn, kn, shape, eps, pos0, params, true};
            return;
        }
        launch_qk_norm_rope(q, k, qn, kn, n_tokens, shape, eps, pos0, params);
    }

    void launch_qk_norm_rope(float* q, float* k, const float* qn, const float* kn, int64_t n_tokens,
                             const backend::AttentionShape& shape, float eps, int64_t pos0,
                             const backend::RopeParams& params) {
        launch(Key('Q') << q << k << qn << kn << n_tokens << shape << eps << params.style << params.n_rot
                        << params.freq_base << params.freq_factors,
               pos0, [=](cudaStream_t s, const int64_t* pos_device) {
                   cuda::qk_norm_rope(q, k, qn, kn, n_tokens, shape, eps, pos0, params, s, pos_device);
               });
    }

    void add(float* x, const float* y, size_t n) override {
        launch(Key('+') << x << y << n, -1, [=](cudaStream_t s, const int64_t*) { cuda::add(x, y, n, s); });
    }
    // Right after the one-token product writing y, that product adds its output, gated, into x (y is
    // then never written: the op may overwrite it); otherwise the two ops.
    void add_sigmoid_gated(float* x, float* y, const float* gate, int64_t n_rows, int64_t n_cols) override {
        if (fold_add_into_product(x, y, n_rows, n_cols, nullptr, gate)) return;
        backend::Ops::add_sigmoid_gated(x, y, gate, n_rows, n_cols);
    }
    // ---- The MoE and Gated DeltaNet ops (qwen3moe, qwen3next): kernels in moe_deltanet_kernels.h.

    // Mixture of experts, all on the device and the same for decode and prefill, so a decode step
    // stays one CUDA graph and a prompt costs a fixed number of launches per layer: the router's
    // softmax and top-k (moe_route), the routed slots grouped by expert (moe_group), the slots' rows
    // gathered in that order and converted once to the experts' activation type, then one
    // expert-indexed product per stack (each active expert's rows times its own rows of the stack,
    // read in place: moe_matvec in decode steps, moe_gemm on the tensor cores for prompts), SwiGLU
    // (in decode also converting for the down product), and the weighted sum back per token in slot
    // order (moe_combine).
    void moe_ffn(const backend::MoeExperts& ex, const float* router_logits, const float* x, int64_t n_tokens,
                 float* out) override {
        const int64_t n_expert = ex.n_expert, n_used = ex.n_used;
        if (n_expert <= 0 || n_used <= 0 || n_used > n_expert)
            fail(ex.gate.name, "expert counts " + std::to_string(n_used) + " of " + std::to_string(n_expert) + " invalid");
        if (n_expert > kMaxMoeExperts)
            fail(ex.gate.name, std::to_string(n_expert) + " experts: the CUDA backend takes at most " +
                                   std::to_string(kMaxMoeExperts));
        if (ex.gate.n_out % n_expert != 0 || ex.up.n_out != ex.gate.n_out || ex.down.n_out % n_expert != 0)
            fail(ex.gate.name, "expert stacks do not split into " + std::to_string(n_expert) + " experts");
        const int64_t n_embd = ex.gate.n_in, n_ff = ex.gate.n_out / n_expert;
        if (ex.down.n_in != n_ff || ex.down.n_out / n_expert != n_embd)
            fail(ex.down.name, "down-projection stack does not match the gate stack");
        if (n_tokens <= 0) return;
        const DeviceWeight* gate = &matrix(ex.gate);
        const DeviceWeight* up = &matrix(ex.up);
        const DeviceWeight* down = &matrix(ex.down);
        moe_scratch(n_tokens * n_used, n_embd, n_ff, n_expert);  // may end the step in progress: first
        // A decode step's token row, converted for the gate/up stacks by its producer (quantize-ahead:
        // this op names the conversion as a product would). The moe launches touch neither x nor the
        // workspace, so the conversion stays for the products after (Qwen3-Next's shared expert).
        const QuantizedX kept = quantized_x_;
        const bool recording = steps().recording();
        const bool int_experts = matvec_quantizes_x(gate->type);
        const int gate_act = int_experts ? (int)activation_type(gate->type) : -1;
        if (int_experts && n_tokens == 1 && x != last_product_x_)
            consumers_[x] = {activation_type(gate->type), n_embd, false};
        const bool ahead = int_experts && n_tokens == 1 && recording && kept == QuantizedX{x, 1, n_embd, gate_act};
        moe_ffn_launches(ex, router_logits, x, n_tokens, out, gate, up, down, n_embd, n_ff, ahead);
        if (recording) quantized_x_ = kept;
        last_product_x_ = x;
    }

    void moe_ffn_launches(const backend::MoeExperts& ex, const float* router_logits, const float* x, int64_t n_tokens,
                          float* out, const DeviceWeight* gate, const DeviceWeight* up, const DeviceWeight* down,
                          int64_t n_embd, int64_t n_ff, bool ahead) {
        const int64_t n_expert = ex.n_expert, n_used = ex.n_used, n_slots = n_tokens * n_used;
        const MoeScratch* m = &moe_scratch(n_slots, n_embd, n_ff, n_expert);
        const bool normalize = ex.normalize_weights;
        // One token (a decode step): routing and grouping in one launch, and every routed row is the
        // token's row, read in place (no gather).
        const bool one_row = n_tokens == 1;
        if (one_row) {
            launch(Key('r') << router_logits << n_expert << n_used << normalize << m->ids << m->weights << m->row_token,
                   -1, [=](cudaStream_t s, const int64_t*) {
                       cuda::moe_route_group_one(router_logits, n_expert, n_used, normalize, m->ids, m->weights,
                                                 m->row_token, m->row_of_slot, m->g_expert, m->g_first, m->g_count,
                                                 m->g_n_active, s);
                   });
        } else {
            launch(Key('r') << router_logits << n_tokens << n_expert << n_used << normalize << m->ids << m->weights, -1,
                   [=](cudaStream_t s, const int64_t*) {
                       cuda::moe_route(router_logits, n_tokens, n_expert, n_used, normalize, m->ids, m->weights, s);
                   });
            launch(Key('g') << m->ids << n_tokens << n_used << n_expert << m->row_token, -1,
                   [=](cudaStream_t s, const int64_t*) {
                       cuda::moe_group(m->ids, n_tokens, n_used, n_expert, m->row_token, m->row_of_slot, m->g_expert,
                                       m->g_first, m->g_count, m->g_n_active, s);
                   });
        }
        // A prompt's gate/up GEMMs read each routed row from the token's row in place (row_token), converted
        // once per token; a few-token decode step's matvecs read gathered rows.
        const bool decode = n_tokens <= kMaxMatvecTokens;
        if (!one_row && decode)
            launch(Key('x') << x << m->row_token << n_slots << n_embd << m->x, -1, [=](cudaStream_t s, const int64_t*) {
                cuda::gather_rows(x, m->row_token, n_slots, n_embd, m->x, s);
            });
        const float* xg = one_row || !decode ? x : m->x;
        const int32_t* x_rows = decode ? nullptr : m->row_token;
        // gate and up read the same rows: converted once when their activation types agree and both
        // products take the same form of them (a prompt's moe_mmq reads q/ds, moe_gemm xh: a Q4_K gate
        // and a Q2_K up share Q8_K activations but not the product).
        const bool up_reuses = activation_type(up->type) == activation_type(gate->type) &&
                               int8_prompt_gemm(n_tokens, up) == int8_prompt_gemm(n_tokens, gate);
        if (decode && gate->type == up->type && gate->row_bytes == up->row_bytes) {  // one launch for both
            expert_product(gate, n_expert, n_tokens, n_used, xg, x_rows, one_row, m->xq, m->xds, m->xh, !ahead, m->gate,
                           up, m->up, ahead);
        } else {
            expert_product(gate, n_expert, n_tokens, n_used, xg, x_rows, one_row, m->xq, m->xds, m->xh, true, m->gate);
            expert_product(up, n_expert, n_tokens, n_used, xg, x_rows, one_row, m->xq, m->xds, m->xh, !up_reuses,
                           m->up);
        }
        // SwiGLU over the grouped rows; it also writes the down product's int8 activations when that
        // product takes them (a decode step's integer stack, a prompt's moe_mmq): one pass over the rows.
        const bool fused = decode ? matvec_quantizes_x(down->type) : int8_prompt_gemm(n_tokens, down);
        if (fused) {
            const ActivationType act = activation_type(down->type);
            launch(Key('S') << m->gate << m->up << n_slots << n_ff << m->h << act, -1,
                   [=](cudaStream_t s, const int64_t*) {
                       cuda::swiglu_quantize(m->gate, m->up, n_slots, n_ff, m->h, act, m->hq, m->hds, s);
                   });
        } else {
            launch(Key('S') << m->gate << m->up << n_slots << n_ff << m->h, -1, [=](cudaStream_t s, const int64_t*) {
                cuda::swiglu(m->gate, m->up, (size_t)(n_slots * n_ff), m->h, s);
            });
        }
        if (one_row && fused && n_used <= kMaxDownSlots) {  // the down products and their sum in one launch
            launch(Key('D') << down << n_expert << n_used << m->ids << m->row_of_slot << m->weights << m->hq << out, -1,
                   [=](cudaStream_t s, const int64_t*) {
                       cuda::moe_down_combine(*down, n_expert, n_used, m->ids, m->row_of_slot, m->weights, m->hq,
                                              m->hds, out, s);
                   });
            return;
        }
        expert_product(down, n_expert, n_tokens, n_used, m->h, nullptr, false, m->hq, m->hds, m->hh, !fused, m->y);
        launch(Key('c') << m->y << m->row_of_slot << m->weights << n_tokens << n_used << n_embd << out, -1,
               [=](cudaStream_t s, const int64_t*) {
                   cuda::moe_combine(m->y, m->row_of_slot, m->weights, n_tokens, n_used, n_embd, out, s);
               });
    }

    void copy_columns(const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols,
                      float* dst) override {
        launch(Key('C') << src << n_rows << src_stride << col0 << n_cols << dst, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::copy_columns(src, n_rows, src_stride, col0, n_cols, dst, s); });
    }

    void sigmoid_gate(float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols) override {
        launch(Key('G') << x << gate << n_rows << n_cols << gate_cols, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::sigmoid_gate(x, gate, n_rows, n_cols, gate_cols, s); });
    }

    void l2_norm(float* x, int64_t n_rows, int64_t n_cols, float eps) override {
        launch(Key('L') << x << n_rows << n_cols << eps, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::l2_norm(x, n_rows, n_cols, eps, s); });
    }

    void causal_conv1d_silu(const float* x, const backend::Weight& kernel, int64_t n_tokens, float* conv_state,
                            float* out) override {
        if (kernel.type != quant::TypeId::F32) fail(kernel.name, "convolution kernel must be F32");
        const float* w = vector(kernel);
        const int64_t n_taps = kernel.n_in, n_channels = kernel.n_out;
        launch(Key('V') << x << w << n_taps << n_channels << n_tokens << conv_state << out, -1,
               [=](cudaStream_t s, const int64_t*) {
                   cuda::causal_conv1d_silu(x, w, n_taps, n_channels, n_tokens, conv_state, out, s);
               });
    }

    void gated_delta_rule(const float* q, const float* k, const float* v, const float* alpha, const float* beta_logit,
                          const backend::Weight& dt_bias, const backend::Weight& a, int64_t n_tokens,
                          const backend::DeltaNetShape& shape, float* state, float* out) override {
        const float* dt = f32_vector(dt_bias, shape.n_v_heads, "ssm_dt.bias");
        const float* a_neg = f32_vector(a, shape.n_v_heads, "ssm_a");
        launch(Key('D') << q << k << v << alpha << beta_logit << dt << a_neg << n_tokens << shape.n_k_heads
                        << shape.n_v_heads << shape.head_k_dim << shape.head_v_dim << shape.gates_interleaved << state
                        << out,
               -1, [=](cudaStream_t s, const int64_t*) {
                   cuda::gated_delta_rule(q, k, v, alpha, beta_logit, dt, a_neg, n_tokens, shape, state, out, s);
               });
    }

private:
    // A decode step's attention: one kernel (attention_decode_step) stores the new key and value,
    // applies the held-back qk_norm_rope of these q and k if there is one, and converts the output
    // for the next product when that product's conversion is predicted (quantize-ahead): where the
    // plain ops launch three or four kernels.
    void attention_step(uint16_t* kc, uint16_t* vc, const float* q, const float* k, const float* v, int64_t pos0,
                        const backend::AttentionShape& shape, float scale, float* out) {
        const PendingRope p = pending_rope_;
        const bool fuse = p.set && p.q == q && p.k == k && p.pos0 == pos0 && p.shape.n_head == shape.n_head &&
                          p.shape.n_head_kv == shape.n_head_kv && p.shape.head_dim == shape.head_dim;
        if (!fuse) flush_rope();
        pending_rope_.set = false;
        const cuda::NormRope nr = fuse ? cuda::norm_rope_args(p.qn, p.kn, p.eps, p.params, shape.head_dim) : cuda::NormRope{};
        // The kernel writes q and k (back) only when the rope is fused; then they are the rope's own.
        float* qw = fuse ? p.q : const_cast<float*>(q);
        float* kw = fuse ? p.k : const_cast<float*>(k);
        Key key('a');
        key << kc << vc << q << k << v << shape << scale << out << fuse << nr.q_norm << nr.k_norm << nr.eps << nr.n_rot
            << nr.theta_scale << nr.neox << nr.freq_factors;
        const int64_t n_out = shape.n_head * shape.head_dim;
        const ActivationType act = predicted_conversion(out, 1, n_out);
        const cuda::DecodeSplit* split = &split_;
        auto run = [=](ActivationType a, int8_t* qs, float2* ds, cudaStream_t s, const int64_t* pos_device) {
            cuda::attention_decode_step(kc, vc, qw, kw, v, pos0, shape, scale, fuse ? &nr : nullptr, out, a, qs, ds, s,
                                        pos_device, split);
        };
        if (act != ActivationType::F32 && cuda::attention_decode_supports(shape, act) &&
            launch_quantizing(key, pos0, out, 1, n_out, run))
            return;
        launch(key, pos0, [=](cudaStream_t s, const int64_t* pos_device) {
            run(ActivationType::F32, nullptr, nullptr, s, pos_device);
        });
    }

    // qk_norm_rope held back by a decode step (pending_rope_), launched as it came when the next op
    // is not the attention over its q and k.
    struct PendingRope {
        float* q = nullptr;
        float* k = nullptr;
        const float* qn = nullptr;
        const float* kn = nullptr;
        backend::AttentionShape shape;
        float eps = 0.f;
        int64_t pos0 = 0;
        backend::RopeParams params;
        bool set = false;
    };
    PendingRope pending_rope_;
    void flush_rope() {
        if (!pending_rope_.set) return;
        const PendingRope p = pending_rope_;
        pending_rope_.set = false;
        launch_qk_norm_rope(p.q, p.k, p.qn, p.kn, 1, p.shape, p.eps, p.pos0, p.params);
    }

    // Runs the step being recorded, if any; the workspace changes hands, so nothing quantized stays.
    void end_step() {
        flush_rope();
        flush_products();
        steps().end();
        quantized_x_ = {};
    }

    // What every op other than a product does first: the held-back rope and products go before it,
    // and nothing quantized stays (the op may write the rows a product quantized).
    void begin_op() {
        flush_rope();
        flush_products();
        flush_norm();  // a norm its products have done (PendingNorm::done) ends with them
        quantized_x_ = {};
        last_product_x_ = nullptr;
    }

    // Whether a decode step's attention over these heads runs as one kernel (attention_step), its
    // qk_norm_rope then held back for it.
    bool one_kernel_attention(int64_t n_tokens, const backend::AttentionShape& shape) {
        return n_tokens == 1 && steps().recording() && cuda::attention_decode_supports(shape, ActivationType::F32);
    }

    // Records the launch into the step in progress, or runs it now (on the same stream).
    template <class F>
    void launch(const Key& key, int64_t pos, F&& f) {
        begin_op();
        if (steps().recording()) steps().record(key.bytes(), pos, std::forward<F>(f));
        else f(steps().stream(), nullptr);
    }
    // The launch of a producer that also converts its n_rows rows of n as act into the workspace, where
    // the next product finds them: produce(act, qs, ds, stream, pos_device) with the int8 values at qs
    // and their (d, s) pairs after them.
    template <typename F>
    auto converting(ActivationType act, int64_t n_rows, int64_t n, F&& produce) {
        Workspace* ws = &steps().workspace();
        return [=, produce = std::forward<F>(produce)](cudaStream_t s, const int64_t* pos_device) {
            auto* qs = static_cast<int8_t*>(
                ws->reserve((size_t)(n_rows * n) + (size_t)n_rows * (size_t)(n / 32) * sizeof(float2)));
            produce(act, qs, reinterpret_cast<float2*>(qs + n_rows * n), s, pos_device);
            ws->quantized_as = (int)act;
        };
    }

    const DeviceWeight& matrix(const backend::Weight& w) {
        auto it = matrices_.find(w.data);
        if (it == matrices_.end())
            it = matrices_.emplace(w.data, upload_weight(w.name, w.type, w.n_in, w.n_out, w.data)).first;
        return it->second;
    }

    const float* vector(const backend::Weight& w) {
        if (w.type != quant::TypeId::F32)
            fail(w.name, std::string("the CUDA backend takes F32 norm and bias vectors, got ") + quant::traits(w.type).name);
        return uploaded_floats(w.data, (size_t)(w.n_in * w.n_out));
    }

    // The device copy of n floats of model data in host memory (a norm or bias vector, RoPE
    // frequency factors), uploaded the first time it is asked for.
    const float* uploaded_floats(const void* host, size_t n) {
        const auto* key = static_cast<const uint8_t*>(host);
        auto it = vectors_.find(key);
        if (it == vectors_.end()) {
            const size_t bytes = n * sizeof(float);
            it = vectors_.emplace(key, DeviceBuffer(bytes)).first;
            it->second.upload(host, bytes);
        }
        return it->second.as<float>();
    }

    const float* f32_vector(const backend::Weight& w, int64_t n, const char* what) {
        if (w.type != quant::TypeId::F32 || w.n_in * w.n_out != n)
            fail(w.name, std::string(what) + " must be an F32 vector of " + std::to_string(n) + " elements");
        return vector(w);
    }

    // A product recorded into the step in progress, or run now.
    // In a decode step, products of the same x, type and width that follow each other (Q/K/V,
    // gate/up) are held back and recorded as one launch (cuda::matvec_parts) when the next op of
    // another kind comes (flush_products); a product writing over its x, or over another's output,
    // goes alone.
    void product(const DeviceWeight* dw, const float* x, int64_t n_tokens, float* y, bool x_quantized) {
        if (!steps().recording()) {
            cuda::matmul(*dw, x, n_tokens, y, workspace_, steps().stream(), x_quantized);
            return;
        }
        auto overlaps = [](const float* a, int64_t na, const float* b, int64_t nb) { return a < b + nb && b < a + na; };
        const int64_t y_len = n_tokens * dw->n_out;
        const bool alone = n_tokens > kMaxMatvecTokens || overlaps(y, y_len, x, n_tokens * dw->n_in);
        PendingProducts& p = pending_;
        bool joins = !alone && p.n > 0 && p.n < kMaxProductParts && p.x == x && p.n_tokens == n_tokens &&
                     p.w[0]->type == dw->type && p.w[0]->n_in == dw->n_in && p.w[0]->row_bytes == dw->row_bytes &&
                     (x_quantized || !matvec_quantizes_x(dw->type));  // it shares the first one's conversion
        for (int i = 0; joins && i < p.n; ++i) joins = !overlaps(y, y_len, p.y[i], n_tokens * p.w[i]->n_out);
        if (joins) {
            p.w[p.n] = dw;
            p.y[p.n] = y;
            ++p.n;
            return;
        }
        // The first product of the held-back norm's output: a group that the norm will join.
        if (!alone && p.n == 0 && norm_.set && x == norm_.out && n_tokens == 1 && matvec_normed_supports(dw->type, dw->n_in) &&
            dw->n_in == norm_.n) {
            p = PendingProducts{x, n_tokens, x_quantized, 1, {dw}, {y}};
            return;
        }
        flush_products();
        if (alone) {
            record_product(dw, x, n_tokens, y, x_quantized);
            return;
        }
        p = PendingProducts{x, n_tokens, x_quantized, 1, {dw}, {y}};
    }

    void record_product(const DeviceWeight* dw, const float* x, int64_t n_tokens, float* y, bool x_quantized) {
        Workspace* ws = &steps().workspace();
        steps().record((Key('M') << dw << x << n_tokens << y << x_quantized).bytes(), -1,
                       [=](cudaStream_t s, const int64_t*) { cuda::matmul(*dw, x, n_tokens, y, *ws, s, x_quantized); });
    }

    void flush_products() {
        if (pending_.n == 0) {
            flush_norm();
            return;
        }
        const PendingProducts p = pending_;
        pending_ = PendingProducts{};
        if (norm_.set && p.x == norm_.out && p.n_tokens == 1 && matvec_normed_supports(p.w[0]->type, p.w[0]->n_in)) {
            record_normed_products(p);
            return;
        }
        flush_norm();  // held back before these products: it goes first
        if (p.accumulate) {
            Workspace* ws = &steps().workspace();
            steps().record((Key('m') << p.w[0] << p.x << p.y[0] << p.x_quantized << p.gate).bytes(), -1,
                           [=](cudaStream_t s, const int64_t*) {
                               cuda::matvec_parts(p.w, p.y, 1, p.x, 1, *ws, s, p.x_quantized, true, p.gate);
                           });
            return;
        }
        if (p.n == 1) {
            record_product(p.w[0], p.x, p.n_tokens, p.y[0], p.x_quantized);
            return;
        }
        Workspace* ws = &steps().workspace();
        Key key('P');
        key << p.x << p.n_tokens << p.x_quantized << p.n;
        for (int i = 0; i < p.n; ++i) key << p.w[i] << p.y[i];
        steps().record(key.bytes(), -1, [=](cudaStream_t s, const int64_t*) {
            cuda::matvec_parts(p.w, p.y, p.n, p.x, p.n_tokens, *ws, s, p.x_quantized);
        });
    }

    static constexpr int kMaxProductParts = cuda::kMaxMatvecParts;
    struct PendingProducts {
        const float* x = nullptr;
        int64_t n_tokens = 0;
        bool x_quantized = false;
        int n = 0;
        const DeviceWeight* w[kMaxProductParts] = {};
        float* y[kMaxProductParts] = {};
        bool accumulate = false;      // y[0] += W x (one part, one token: fold_add_into_product)
        const float* gate = nullptr;  // with accumulate: y[0] += (W x) * sigmoid(*gate)
    };
    PendingProducts pending_;

    // Norm folding (decode steps; SHOOTOUT_CUDA_NORM_PRODUCT=0 turns it off, for comparisons): the
    // residual add of add_rms_norm goes into the product before it (the O or down product adds into
    // x: matvec_parts' accumulate), and the RMSNorm itself into the products after it (matvec_normed:
    // every block normalises the row), so a layer's two norms cost no launch. Both give the bits of
    // the unfolded ops.
    // add_rms_norm(x, y, ..., out) right after the one product writing y: that product adds into x
    // instead (its y output would be overwritten by the norm anyway: out == y). Returns whether it
    // did; the caller then norms x alone.
    // gate: add y * sigmoid(*gate) (add_sigmoid_gated, out unused).
    bool fold_add_into_product(float* x, const float* y, int64_t n_rows, int64_t n, const float* out,
                               const float* gate = nullptr) {
        PendingProducts& p = pending_;
        if (!cuda::norm_folding() || p.n != 1 || p.accumulate || p.n_tokens != 1 || n_rows != 1 || p.y[0] != y ||
            (!gate && out != y) || p.w[0]->n_out != n || norm_.set)
            return false;
        const float* px = p.x;
        if (px < x + n && x < px + p.w[0]->n_in) return false;  // the product reads x: keep the add apart
        if (gate && ((gate < x + n && x < gate + 1) || (gate < px + p.w[0]->n_in && px < gate + 1))) return false;
        p.y[0] = x;
        p.accumulate = true;
        p.gate = gate;
        flush_products();  // recorded now: the op after it reads x
        return true;
    }
    // A decode step's one-row RMSNorm whose output went to a dense integer product last time: held back
    // (norm_) for the products reading it, which then normalise it themselves (flush_products). Until
    // then it counts as converted ahead, as launch_quantizing would have it (quantized_x_), so if it is
    // flushed alone it is exactly that launch.
    // done: a normed launch has run it (its block 0 wrote out). It stays until the next op that is not
    // a product of out, so a product of out that could not join that launch (Q4_K_M's V in a Q6_K
    // layer after Q/K in Q4_K) forms a normed launch of its own, which norms the row again, instead of
    // a conversion launch and a plain product; flushed, a done norm records nothing.
    struct PendingNorm {
        const float* x = nullptr;
        const float* w = nullptr;
        float* out = nullptr;
        int64_t n = 0;
        float eps = 0.f;
        ActivationType act = ActivationType::F32;
        bool set = false;
        bool done = false;
    };
    PendingNorm norm_;
    bool defer_norm(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* out) {
        if (!cuda::norm_folding() || n_rows != 1 || n > kMaxNormedRow || n > kMaxQuantizingNormRow) return false;
        const ActivationType act = predicted_conversion(out, 1, n);
        const auto it = consumers_.find(out);
        if (act == ActivationType::F32 || it == consumers_.end() || !it->second.dense) return false;
        begin_op();  // as launch() would: what is held back goes first
        norm_ = PendingNorm{x, w, out, n, eps, act, true};
        quantized_x_ = {out, 1, n, (int)act};
        return true;
    }
    void flush_norm() {
        if (!norm_.set) return;
        const PendingNorm p = norm_;
        norm_.set = false;
        if (p.done) return;
        // rms_norm's quantizing launch, under its key.
        steps().record((Key('N') << p.x << p.w << int64_t{1} << p.n << p.eps << p.out << p.act).bytes(), -1,
                       converting(p.act, 1, p.n,
                                  [p](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                                      cuda::rms_norm_quantize(p.x, p.w, 1, p.n, p.eps, p.out, act, qs, ds, s);
                                  }));
    }
    void record_normed_products(const PendingProducts& p) {
        const PendingNorm nm = norm_;
        // SHOOTOUT_CUDA_NORM_AGAIN=0 (for comparisons): a done norm ends here, as before session 14,
        // so a product that missed this launch converts the row itself.
        static const bool again = !env_switched_off("SHOOTOUT_CUDA_NORM_AGAIN");
        if (again) norm_.done = true;
        else norm_.set = false;
        const cuda::NormedInput in{nm.x, nm.w, nm.out, nm.n, nm.eps};
        Workspace* ws = &steps().workspace();
        Key key('p');
        key << nm.x << nm.w << nm.out << nm.n << nm.eps << p.n;
        for (int i = 0; i < p.n; ++i) key << p.w[i] << p.y[i];
        steps().record(key.bytes(), -1, [=](cudaStream_t s, const int64_t*) {
            cuda::matvec_normed(p.w, p.y, p.n, in, s);
            ws->quantized_as = -1;  // the conversion stayed in the blocks' shared memory
        });
    }

    // One expert-indexed product over moe_ffn's grouped rows (n_tokens * n_used of them, x in F32):
    // in a decode step the int8 product (moe_matvec) on the rows converted to the stack's activation
    // type in q/ds, for a prompt the tensor-core one (moe_mmq on q/ds, or moe_gemm on the rows as
    // F16/BF16 in xh). When `convert` the rows are converted here first; otherwise the previous
    // product's (or the SwiGLU's) conversion is reused. one_row: x is one token's row standing for all
    // its routed rows. x_rows (prompts only): x holds the n_tokens token rows and grouped row r is token
    // row x_rows[r] (row_token): n_tokens rows are converted, not n_slots gathered copies.
    // second, y2 (decode only): a stack of the same type and shape multiplied in the same launch.
    // from_workspace (decode, one row): the row's conversion is in the step's workspace, where its
    // producer left it (quantize-ahead), not in q/ds.
    void expert_product(const DeviceWeight* stack, int64_t n_expert, int64_t n_tokens, int64_t n_used,
                        const float* x, const int32_t* x_rows, bool one_row, int8_t* q, float2* ds, uint16_t* xh,
                        bool convert, float* y, const DeviceWeight* second = nullptr, float* y2 = nullptr,
                        bool from_workspace = false) {
        const MoeScratch& m = moe_;
        const ExpertGroups groups{m.g_expert, m.g_first, m.g_count, m.g_n_active};
        const int64_t n_slots = n_tokens * n_used, max_active = std::min(n_slots, n_expert), n_in = stack->n_in;
        const int64_t n_x = x_rows ? n_tokens : n_slots;  // the rows of x to convert
        const ActivationType act = activation_type(stack->type);
        if (int8_prompt_gemm(n_tokens, stack)) {
            // The int8 expert GEMM on the CPU's own activation values (moe_mmq.h).
            if (convert)
                launch(Key('q') << x << n_x << n_in << q << ds << act, -1, [=](cudaStream_t s, const int64_t*) {
                    cuda::quantize_activations(act, x, n_x, n_in, q, ds, s);
                });
            launch(Key('I') << stack << n_expert << n_tokens << n_used << q << ds << y << groups.expert << x_rows, -1,
                   [=](cudaStream_t s, const int64_t*) {
                       cuda::moe_mmq(*stack, n_expert, n_tokens, n_used, groups, q, ds, y, s, x_rows);
                   });
            return;
        }
        if (n_tokens > kMaxMatvecTokens) {
            if (convert)
                launch(Key('h') << x << n_x << n_in << xh << act, -1, [=](cudaStream_t s, const int64_t*) {
                    cuda::activations_to_half(act, x, n_x, n_in, xh, s);
                });
            launch(Key('G') << stack << n_expert << n_tokens << n_used << xh << y << groups.expert << x_rows, -1,
                   [=](cudaStream_t s, const int64_t*) {
                       cuda::moe_gemm(*stack, n_expert, n_tokens, n_used, groups, xh, y, s, x_rows);
                   });
            return;
        }
        if (x_rows) fail(stack->name, "row-indexed activations are for prompts' expert GEMMs only");
        const int64_t n_rows = one_row ? 1 : n_slots;
        if (convert && matvec_quantizes_x(stack->type))
            launch(Key('q') << x << n_rows << n_in << q << ds << act, -1, [=](cudaStream_t s, const int64_t*) {
                cuda::quantize_activations(act, x, n_rows, n_in, q, ds, s);
            });
        Workspace* ws = from_workspace ? &steps().workspace() : nullptr;
        const size_t ws_bytes = (size_t)n_in + (size_t)(n_in / 32) * sizeof(float2);  // one row, matvec's layout
        launch(Key('E') << stack << n_expert << n_tokens << max_active << x << one_row << q << y << groups.expert
                        << second << y2 << from_workspace,
               -1, [=](cudaStream_t s, const int64_t*) {
                   int8_t* qx = ws ? static_cast<int8_t*>(ws->reserve(ws_bytes)) : q;
                   float2* dx = ws ? reinterpret_cast<float2*>(qx + n_in) : ds;
                   cuda::moe_matvec(*stack, n_expert, n_tokens, max_active, groups, x, qx, dx, one_row, y, s, second,
                                    y2);
               });
    }

    // Whether an expert product over n_tokens tokens of this stack is the int8 prompt GEMM (moe_mmq, on
    // q/ds): prompts of the types it takes, unless SHOOTOUT_CUDA_MOE_MMQ=0 asks for the F16 one
    // (moe_gemm: dequantized tiles, F16-rounded activations in xh), for comparisons.
    static bool int8_prompt_gemm(int64_t n_tokens, const DeviceWeight* stack) {
        static const bool on = !env_switched_off("SHOOTOUT_CUDA_MOE_MMQ");
        return n_tokens > kMaxMatvecTokens && on && moe_mmq_supports(stack->type);
    }

    // moe_ffn's device memory for n_slots routed rows (and 8 rows of padding where the expert
    // products read groups of up to 8 rows), grown on demand. Growing ends the step in progress
    // first: its recorded launches point into the old memory. Captured graphs keep old addresses
    // in their keys, so none of them is replayed on freed memory.
    struct MoeScratch {
        int64_t n_slots = 0, n_embd = 0, n_ff = 0, n_expert = 0;
        DeviceBuffer ints, floats, quants, halves;
        int32_t *ids = nullptr, *row_token = nullptr, *row_of_slot = nullptr;
        int32_t *g_expert = nullptr, *g_first = nullptr, *g_count = nullptr, *g_n_active = nullptr;
        float *weights = nullptr, *x = nullptr, *gate = nullptr, *up = nullptr, *h = nullptr, *y = nullptr;
        int8_t *xq = nullptr, *hq = nullptr;
        float2 *xds = nullptr, *hds = nullptr;
        uint16_t *xh = nullptr, *hh = nullptr;
    };
    const MoeScratch& moe_scratch(int64_t n_slots, int64_t n_embd, int64_t n_ff, int64_t n_expert) {
        MoeScratch& m = moe_;
        if (n_slots <= m.n_slots && n_embd <= m.n_embd && n_ff <= m.n_ff && n_expert <= m.n_expert) return m;
        end_step();
        const size_t slots = (size_t)std::max(n_slots, m.n_slots), embd = (size_t)std::max(n_embd, m.n_embd),
                     ff = (size_t)std::max(n_ff, m.n_ff), experts = (size_t)std::max(n_expert, m.n_expert);
        const size_t rows = slots + (size_t)kMaxMatvecTokens;
        m = MoeScratch{};  // free first (cudaFree waits for the kernels that used it)
        m.n_slots = (int64_t)slots;
        m.n_embd = (int64_t)embd;
        m.n_ff = (int64_t)ff;
        m.n_expert = (int64_t)experts;
        m.ints = DeviceBuffer((3 * slots + 3 * experts + 1) * sizeof(int32_t));
        int32_t* i = m.ints.as<int32_t>();
        m.ids = i;
        m.row_token = i + slots;
        m.row_of_slot = i + 2 * slots;
        m.g_expert = i + 3 * slots;
        m.g_first = m.g_expert + experts;
        m.g_count = m.g_first + experts;
        m.g_n_active = m.g_count + experts;
        // weights, x (rows), gate, up, h (rows), y; each part a multiple of 4 floats (16-byte rows).
        auto up4 = [](size_t n) { return (n + 3) / 4 * 4; };
        const size_t n_w = up4(slots), n_x = rows * embd, n_g = slots * ff, n_h = rows * ff, n_y = slots * embd;
        m.floats = DeviceBuffer((n_w + n_x + 2 * n_g + n_h + n_y) * sizeof(float));
        m.weights = m.floats.as<float>();
        m.x = m.weights + n_w;
        m.gate = m.x + n_x;
        m.up = m.gate + n_g;
        m.h = m.up + n_g;
        m.y = m.h + n_h;
        // xq, hq (int8 rows), then their (d, s) pairs per 32: rows * (embd + ff) bytes is a multiple of 8
        // (embd, ff multiples of 32), so the pairs stay aligned.
        m.quants = DeviceBuffer(rows * (embd + ff) + rows * (embd + ff) / 32 * sizeof(float2));
        m.xq = m.quants.as<int8_t>();
        m.hq = m.xq + rows * embd;
        m.xds = reinterpret_cast<float2*>(m.hq + rows * ff);
        m.hds = m.xds + rows * embd / 32;
        // xh, hh: the rows as F16/BF16 for the prompt products (16-byte rows: embd, ff multiples of 32).
        m.halves = DeviceBuffer(rows * (embd + ff) * sizeof(uint16_t));
        m.xh = m.halves.as<uint16_t>();
        m.hh = m.xh + rows * embd;
        return m;
    }

    std::unordered_map<const uint8_t*, DeviceWeight> matrices_;
    MoeScratch moe_;
    std::unordered_map<const uint8_t*, DeviceBuffer> vectors_;
    Workspace workspace_;
    DeviceBuffer split_partials_, split_counters_;
    cuda::DecodeSplit split_;
    std::vector<float> rows_;
    // The activations the last product left quantized in the workspace of its mode (eager or step):
    // x, n_tokens, n_in. Cleared by every other op and at step boundaries.
    struct QuantizedX {
        const float* x = nullptr;
        int64_t n_tokens = 0, n_in = 0;
        int type = -1;  // the ActivationType
        bool operator==(const QuantizedX&) const = default;
    };
    QuantizedX quantized_x_;
    const float* last_product_x_ = nullptr;  // x of the previous op when it was a product

    // Quantize-ahead (decode steps): for each buffer, the activation type and row length that the first
    // product reading it wanted last time. The op that writes the buffer next converts its output the
    // same way in its own kernel (activation_quant.h) into the step's workspace, so the product skips
    // its conversion launch: 3 launches a layer fewer. A wrong guess costs nothing but that saving
    // (matvec checks the workspace's type and converts again).
    struct Consumer {
        ActivationType type;
        int64_t n_in;
        bool dense;  // a dense product (matmul), not the experts of moe_ffn
    };
    std::unordered_map<const float*, Consumer> consumers_;
    // Records the quantizing form of a producer writing `out` (n_rows rows of n) when the next product's
    // activation type is predicted: produce(act, qs, ds, stream) writes out and its conversion into
    // the step's workspace in matvec's layout (n_rows * n int8, then (d, s) per 32). Returns false
    // (nothing recorded) without a prediction; the caller then launches the plain op.
    // pos: as launch() takes it (-1, or pos0 for an op that reads the step's position: produce then
    // gets the device address of it as its last argument).
    template <class F>
    bool launch_quantizing(Key key, int64_t pos, const float* out, int64_t n_rows, int64_t n, F&& produce) {
        const ActivationType act = predicted_conversion(out, n_rows, n);
        if (act == ActivationType::F32) return false;
        launch(key << act, pos, converting(act, n_rows, n, std::forward<F>(produce)));
        quantized_x_ = {out, n_rows, n, (int)act};
        return true;
    }
    // For an elementwise producer of n values at `out` (SwiGLU, the gated norm): the row length of the
    // product that read `out` last time, when n is whole rows of it; 0 otherwise.
    int64_t consumer_row(const float* out, int64_t n) const {
        const auto it = consumers_.find(out);
        return it != consumers_.end() && n % it->second.n_in == 0 ? it->second.n_in : 0;
    }
    // The conversion the product reading `out` (n_rows rows of n) wanted last time, in a decode step
    // being recorded; F32 when there is no such prediction.
    ActivationType predicted_conversion(const float* out, int64_t n_rows, int64_t n) const {
        if (n_rows > kMaxMatvecTokens || !steps_->recording()) return ActivationType::F32;
        const auto it = consumers_.find(out);
        if (it == consumers_.end() || it->second.n_in != n) return ActivationType::F32;
        return it->second.type;
    }
    std::unique_ptr<StepGraphs> steps_;  // made once a device answers
    StepGraphs& steps() { return *steps_; }
};

}  // namespace

std::unique_ptr<backend::Ops> make_cuda_ops() { return std::make_unique<CudaOps>(); }

bool norm_folding() {
    return norm_folding_switch.get([] { return !env_switched_off("SHOOTOUT_CUDA_NORM_PRODUCT"); });
}

void set_norm_folding(bool on) { norm_folding_switch.set(on); }

}  // namespace shootout::cuda
