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
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/step_graph.h"
#include "util/error.h"

namespace shootout::cuda {
namespace {

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
        if (w.type == quant::TypeId::F32) {  // routers and the shared-expert gate (small, kept F32)
            const float* wf = vector(w);
            const int64_t n_in = w.n_in, n_out = w.n_out;
            launch(Key('F') << wf << n_in << n_out << x << n_tokens << y, -1,
                   [=](cudaStream_t s, const int64_t*) { cuda::matmul_f32(wf, n_in, n_out, x, n_tokens, y, s); });
            return;
        }
        const DeviceWeight* dw = &matrix(w);  // map nodes stay put
        // Q/K/V (and gate/up) read the same normed rows back to back: quantize them once.
        const bool quantizes = n_tokens <= kMaxMatvecTokens && matvec_quantizes_x(dw->type);
        const QuantizedX now{x, n_tokens, dw->n_in};
        const bool x_quantized = quantizes && quantized_x_ == now;
        // The first product after x's producer names the conversion the producer may do ahead next time.
        if (quantizes && x != last_product_x_) consumers_[x] = {activation_type(dw->type), dw->n_in};
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
        if (launch_quantizing(Key('N') << x << wv << n_rows << n << eps << y, y, n_rows, n,
                              [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s) {
                                  cuda::rms_norm_quantize(x, wv, n_rows, n, eps, y, act, qs, ds, s);
                              }))
            return;
        launch(Key('N') << x << wv << n_rows << n << eps << y, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::rms_norm(x, wv, n_rows, n, eps, y, s); });
    }

    void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
              const backend::RopeParams& params) override {
        launch(Key('R') << x << n_tokens << n_heads << head_dim << params.style << params.n_rot << params.freq_base,
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
        launch(Key('A') << kc << vc << q << k << v << n_tokens << shape << scale << out, pos0,
               [=](cudaStream_t s, const int64_t* pos_device) {
                   cuda::attention(kc, vc, q, k, v, n_tokens, pos0, shape, scale, out, s, pos_device);
               });
    }

    void swiglu(const float* gate, const float* up, size_t n, float* out) override {
        const auto it = consumers_.find(out);
        if (it != consumers_.end() && n % (size_t)it->second.n_in == 0) {
            const int64_t n_in = it->second.n_in, n_rows = (int64_t)n / n_in;
            if (launch_quantizing(Key('S') << gate << up << n << out, out, n_rows, n_in,
                                  [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s) {
                                      cuda::swiglu_quantize(gate, up, n_rows, n_in, out, act, qs, ds, s);
                                  }))
                return;
        }
        launch(Key('S') << gate << up << n << out, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::swiglu(gate, up, n, out, s); });
    }

    void add_rms_norm(float* x, const float* y, const backend::Weight& weight, int64_t n_rows, float eps,
                      float* out) override {
        const float* wv = vector(weight);
        const int64_t n = weight.n_in;
        if (launch_quantizing(Key('n') << x << y << wv << n_rows << n << eps << out, out, n_rows, n,
                              [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s) {
                                  cuda::add_rms_norm_quantize(x, y, wv, n_rows, n, eps, out, act, qs, ds, s);
                              }))
            return;
        launch(Key('n') << x << y << wv << n_rows << n << eps << out, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::add_rms_norm(x, y, wv, n_rows, n, eps, out, s); });
    }

    void qk_norm_rope(float* q, float* k, const backend::Weight* q_norm, const backend::Weight* k_norm,
                      int64_t n_tokens, const backend::AttentionShape& shape, float eps, int64_t pos0,
                      const backend::RopeParams& params) override {
        if (!qk_norm_rope_supports(shape.head_dim)) {
            backend::Ops::qk_norm_rope(q, k, q_norm, k_norm, n_tokens, shape, eps, pos0, params);
            return;
        }
        const float* qn = q_norm ? vector(*q_norm) : nullptr;
        const float* kn = k_norm ? vector(*k_norm) : nullptr;
        launch(Key('Q') << q << k << qn << kn << n_tokens << shape << eps << params.style << params.n_rot
                        << params.freq_base,
               pos0, [=](cudaStream_t s, const int64_t* pos_device) {
                   cuda::qk_norm_rope(q, k, qn, kn, n_tokens, shape, eps, pos0, params, s, pos_device);
               });
    }

    void add(float* x, const float* y, size_t n) override {
        launch(Key('+') << x << y << n, -1, [=](cudaStream_t s, const int64_t*) { cuda::add(x, y, n, s); });
    }
    // ---- The MoE and Gated DeltaNet ops (qwen3moe, qwen3next): kernels in moe_deltanet_kernels.h.

    // Mixture of experts, routing (softmax, top-k) on the device. The experts' stacks are uploaded
    // whole; an expert's rows are one byte range of its stack (device rows stay contiguous).
    //   Decode (n_tokens * n_used <= kMaxMatvecTokens, or one token of up to kMaxStagedSlots slots,
    //   its down products then in two groups): no host round-trip, so the step stays one graph. A kernel copies each slot's expert rows (gate, up, down) into staged matrices; one
    //   matvec over the staged gate (and up) rows gives every token against every slot's expert,
    //   of which each slot keeps its own token's share; the down matvec takes the slots' rows as
    //   its tokens, and each slot keeps the product with its own expert. The matvecs read the
    //   staged weights once whatever the token count, so this reads n_slots experts (twice: the
    //   copy, then the product) instead of all of them.
    //   Prefill: the routed ids come back to the host (one synchronous copy per layer), tokens are
    //   grouped by expert, and each routed expert's rows are copied (device to device) into a staged
    //   matrix for its three products over just its tokens.
    void moe_ffn(const backend::MoeExperts& ex, const float* router_logits, const float* x, int64_t n_tokens,
                 float* out) override {
        const int64_t n_expert = ex.n_expert, n_used = ex.n_used;
        if (n_expert <= 0 || n_used <= 0 || n_used > n_expert)
            fail(ex.gate.name, "expert counts " + std::to_string(n_used) + " of " + std::to_string(n_expert) + " invalid");
        if (ex.gate.n_out % n_expert != 0 || ex.up.n_out != ex.gate.n_out || ex.down.n_out % n_expert != 0)
            fail(ex.gate.name, "expert stacks do not split into " + std::to_string(n_expert) + " experts");
        const int64_t n_embd = ex.gate.n_in, n_ff = ex.gate.n_out / n_expert;
        if (ex.down.n_in != n_ff || ex.down.n_out / n_expert != n_embd)
            fail(ex.down.name, "down-projection stack does not match the gate stack");
        if (n_tokens <= 0) return;
        if (n_tokens * n_used <= kMaxMatvecTokens || (n_tokens == 1 && n_used <= kMaxStagedSlots))
            moe_ffn_staged(ex, router_logits, x, n_tokens, out, n_embd, n_ff);
        else moe_ffn_grouped(ex, router_logits, x, n_tokens, out, n_embd, n_ff);
    }

    void moe_ffn_staged(const backend::MoeExperts& ex, const float* router_logits, const float* x, int64_t n_tokens,
                        float* out, int64_t n_embd, int64_t n_ff) {
        const int64_t n_expert = ex.n_expert, n_used = ex.n_used, n_slots = n_tokens * n_used;
        const DeviceWeight* stacks[3] = {&matrix(ex.gate), &matrix(ex.up), &matrix(ex.down)};
        const int64_t rows[3] = {n_ff, n_ff, n_embd};
        // One token with more slots than a matvec takes tokens (Qwen3-Next routes 10): the down products
        // run in two groups of slots, each its own staged matrix.
        const int64_t n_a = std::min(n_slots, kMaxMatvecTokens), n_b = n_slots - n_a;
        const DeviceWeight* staged_w[3];
        for (int i = 0; i < 3; ++i)
            staged_w[i] = &staged(i, *stacks[i], (i == 2 ? n_a : n_slots) * rows[i]);
        const DeviceWeight* staged_b = n_b > 0 ? &staged(6, *stacks[2], n_b * rows[2]) : nullptr;
        const DecodeScratch& d = decode_scratch(n_embd, n_ff);
        int32_t* ids = d.ids;
        float *weights = d.weights, *g = d.gate, *u = d.up, *h = d.h, *y = d.y;
        const bool normalize = ex.normalize_weights;
        launch(Key('r') << router_logits << n_tokens << n_expert << n_used << normalize << ids << weights, -1,
               [=](cudaStream_t s, const int64_t*) {
                   cuda::moe_route(router_logits, n_tokens, n_expert, n_used, normalize, ids, weights, s);
               });
        for (int i = 0; i < 4; ++i) {
            if (i == 3 && n_b == 0) break;
            const DeviceWeight& from = *stacks[i < 3 ? i : 2];
            const uint8_t* stack = from.data.as<uint8_t>();
            const size_t expert_bytes = (size_t)rows[i < 3 ? i : 2] * from.row_bytes;
            uint8_t* dst = (i < 3 ? staged_w[i] : staged_b)->data.as<uint8_t>();
            const int32_t* first = i == 3 ? ids + n_a : ids;
            const int64_t count = i == 3 ? n_b : i == 2 ? n_a : n_slots;
            launch(Key('s') << stack << expert_bytes << first << count << dst, -1, [=](cudaStream_t s, const int64_t*) {
                cuda::stage_experts(stack, expert_bytes, first, count, dst, s);
            });
        }
        const bool reuse = staged_w[0]->type == staged_w[1]->type && matvec_quantizes_x(staged_w[0]->type);
        product(staged_w[0], x, n_tokens, g, false);
        product(staged_w[1], x, n_tokens, u, reuse);
        launch(Key('p') << g << u << n_tokens << n_used << n_ff << h, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::moe_pick_swiglu(g, u, n_tokens, n_used, n_ff, h, s); });
        product(staged_w[2], h, n_a, y, false);
        if (n_b > 0) {
            float* y_b = y + n_a * n_a * n_embd;
            product(staged_b, h + n_a * n_ff, n_b, y_b, false);
            launch(Key('C') << y << n_a << y_b << n_b << weights << n_embd << out, -1,
                   [=](cudaStream_t s, const int64_t*) {
                       cuda::moe_combine_split(y, n_a, y_b, n_b, weights, n_embd, out, s);
                   });
        } else {
            launch(Key('c') << y << weights << n_tokens << n_used << n_embd << out, -1,
                   [=](cudaStream_t s, const int64_t*) {
                       cuda::moe_combine_diagonal(y, weights, n_tokens, n_used, n_embd, out, s);
                   });
        }
        quantized_x_ = {};
    }

    void moe_ffn_grouped(const backend::MoeExperts& ex, const float* router_logits, const float* x, int64_t n_tokens,
                         float* out, int64_t n_embd, int64_t n_ff) {
        const int64_t n_expert = ex.n_expert, n_used = ex.n_used, n_slots = n_tokens * n_used;
        const bool was_recording = steps().recording();
        end_step();
        cudaStream_t s = steps().stream();
        MoeScratch& m = moe_scratch(n_slots, n_embd, n_ff);
        cuda::moe_route(router_logits, n_tokens, n_expert, n_used, ex.normalize_weights, m.ids.as<int32_t>(),
                        m.weights.as<float>(), s);
        route_ids_.resize((size_t)n_slots);
        SHOOTOUT_CUDA_CHECK(cudaMemcpy(route_ids_.data(), m.ids.data(), (size_t)n_slots * sizeof(int32_t),
                                       cudaMemcpyDeviceToHost));

        // Rows grouped by expert: row_token[r] is the token of grouped row r, row_of_slot[t * n_used + j]
        // the grouped row of token t's j-th expert; first_row[e]..first_row[e + 1] are expert e's rows.
        std::vector<int64_t> first_row((size_t)n_expert + 1, 0);
        for (int32_t e : route_ids_) {
            if (e < 0 || e >= n_expert) fail(ex.gate.name, "routing chose expert " + std::to_string(e));
            ++first_row[(size_t)e + 1];
        }
        for (int64_t e = 0; e < n_expert; ++e) first_row[(size_t)e + 1] += first_row[(size_t)e];
        route_rows_.resize((size_t)(2 * n_slots));
        int32_t* row_token = route_rows_.data();
        int32_t* row_of_slot = row_token + n_slots;
        std::vector<int64_t> next(first_row.begin(), first_row.end() - 1);
        for (int64_t slot = 0; slot < n_slots; ++slot) {
            const int64_t r = next[(size_t)route_ids_[(size_t)slot]]++;
            row_token[r] = (int32_t)(slot / n_used);
            row_of_slot[slot] = (int32_t)r;
        }
        SHOOTOUT_CUDA_CHECK(cudaMemcpy(m.rows.data(), route_rows_.data(), route_rows_.size() * sizeof(int32_t),
                                       cudaMemcpyHostToDevice));

        const DeviceWeight* stacks[3] = {&matrix(ex.gate), &matrix(ex.up), &matrix(ex.down)};
        const int64_t rows_of[3] = {n_ff, n_ff, n_embd};
        const DeviceWeight* one[3];
        for (int i = 0; i < 3; ++i) one[i] = &staged(3 + i, *stacks[i], rows_of[i]);
        float* xe = m.x.as<float>();
        float* gate = m.gate.as<float>();
        float* up = m.up.as<float>();
        float* ye = m.y.as<float>();
        cuda::gather_rows(x, m.rows.as<int32_t>(), n_slots, n_embd, xe, s);
        for (int64_t e = 0; e < n_expert; ++e) {
            const int64_t r0 = first_row[(size_t)e], rows = first_row[(size_t)e + 1] - r0;
            if (rows == 0) continue;
            for (int i = 0; i < 3; ++i) {
                const size_t expert_bytes = (size_t)rows_of[i] * stacks[i]->row_bytes;
                SHOOTOUT_CUDA_CHECK(cudaMemcpyAsync(one[i]->data.data(),
                                                    stacks[i]->data.as<uint8_t>() + (size_t)e * expert_bytes,
                                                    expert_bytes, cudaMemcpyDeviceToDevice, s));
            }
            // gate and up read the same rows: the up matvec reuses gate's quantization of them.
            const bool reuse = rows <= kMaxMatvecTokens && one[1]->type == one[0]->type && matvec_quantizes_x(one[0]->type);
            cuda::matmul(*one[0], xe + r0 * n_embd, rows, gate + r0 * n_ff, workspace_, s);
            cuda::matmul(*one[1], xe + r0 * n_embd, rows, up + r0 * n_ff, workspace_, s, reuse);
            cuda::swiglu(gate + r0 * n_ff, up + r0 * n_ff, (size_t)(rows * n_ff), gate + r0 * n_ff, s);
            cuda::matmul(*one[2], gate + r0 * n_ff, rows, ye + r0 * n_embd, workspace_, s);
        }
        cuda::moe_combine(ye, m.rows.as<int32_t>() + n_slots, m.weights.as<float>(), n_tokens, n_used, n_embd, out, s);
        quantized_x_ = {};
        if (was_recording) steps().begin();  // the rest of the decode step
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
                        << shape.n_v_heads << shape.head_k_dim << shape.head_v_dim << state << out,
               -1, [=](cudaStream_t s, const int64_t*) {
                   cuda::gated_delta_rule(q, k, v, alpha, beta_logit, dt, a_neg, n_tokens, shape, state, out, s);
               });
    }

private:
    // Runs the step being recorded, if any; the workspace changes hands, so nothing quantized stays.
    void end_step() {
        steps().end();
        quantized_x_ = {};
    }

    // Records the launch into the step in progress, or runs it now (on the same stream).
    template <class F>
    void launch(const Key& key, int64_t pos, F&& f) {
        quantized_x_ = {};  // the op may write the rows a product quantized
        last_product_x_ = nullptr;
        if (steps().recording()) steps().record(key.bytes(), pos, std::forward<F>(f));
        else f(steps().stream(), nullptr);
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
        auto it = vectors_.find(w.data);
        if (it == vectors_.end()) {
            const size_t bytes = (size_t)(w.n_in * w.n_out) * sizeof(float);
            it = vectors_.emplace(w.data, DeviceBuffer(bytes)).first;
            it->second.upload(w.data, bytes);
        }
        return it->second.as<float>();
    }

    const float* f32_vector(const backend::Weight& w, int64_t n, const char* what) {
        if (w.type != quant::TypeId::F32 || w.n_in * w.n_out != n)
            fail(w.name, std::string(what) + " must be an F32 vector of " + std::to_string(n) + " elements");
        return vector(w);
    }

    // A product recorded into the step in progress, or run now.
    void product(const DeviceWeight* dw, const float* x, int64_t n_tokens, float* y, bool x_quantized) {
        if (!steps().recording()) {
            cuda::matmul(*dw, x, n_tokens, y, workspace_, steps().stream(), x_quantized);
            return;
        }
        Workspace* ws = &steps().workspace();
        steps().record((Key('M') << dw << x << n_tokens << y << x_quantized).bytes(), -1,
                       [=](cudaStream_t s, const int64_t*) { cuda::matmul(*dw, x, n_tokens, y, *ws, s, x_quantized); });
    }

    // A matrix of n_out rows laid out as the stack's (type, n_in, device row bytes) that moe_ffn
    // copies experts' rows into; one per use (role) and shape, kept for the ops' lifetime (graphs
    // bake in its address).
    const DeviceWeight& staged(int role, const DeviceWeight& stack, int64_t n_out) {
        const auto key = std::make_tuple(role, (int)stack.type, stack.n_in, n_out, stack.row_bytes);
        auto it = staged_.find(key);
        if (it == staged_.end()) {
            DeviceWeight w;
            w.name = stack.name + " (staged experts)";
            w.type = stack.type;
            w.n_in = stack.n_in;
            w.n_out = n_out;
            w.row_bytes = stack.row_bytes;
            w.data = DeviceBuffer(stack.row_bytes * (size_t)n_out);
            it = staged_.emplace(key, std::move(w)).first;
        }
        return it->second;
    }

    // The staged decode path's activations, sized for kMaxStagedSlots slots. Never freed while the
    // ops live (captured graphs use them); a larger shape gets new ones.
    struct DecodeScratch {
        int64_t n_embd = 0, n_ff = 0;
        DeviceBuffer memory;
        int32_t* ids = nullptr;
        float *weights = nullptr, *gate = nullptr, *up = nullptr, *h = nullptr, *y = nullptr;
    };
    const DecodeScratch& decode_scratch(int64_t n_embd, int64_t n_ff) {
        if (!decode_.empty() && decode_.back().n_embd >= n_embd && decode_.back().n_ff >= n_ff) return decode_.back();
        const size_t slots = (size_t)kMaxStagedSlots;
        // ids, weights: slots; gate, up: [tokens <= slots][slots * n_ff]; h: [slots][n_ff]; y: [slots][slots * n_embd].
        const size_t n_ids = slots, n_w = slots, n_g = slots * slots * (size_t)n_ff, n_h = slots * (size_t)n_ff,
                     n_y = slots * slots * (size_t)n_embd;
        DecodeScratch d;
        d.n_embd = n_embd;
        d.n_ff = n_ff;
        d.memory = DeviceBuffer((n_ids + n_w + 2 * n_g + n_h + n_y) * sizeof(float));
        float* p = d.memory.as<float>();
        d.ids = reinterpret_cast<int32_t*>(p);
        d.weights = p + n_ids;
        d.gate = d.weights + n_w;
        d.up = d.gate + n_g;
        d.h = d.up + n_g;
        d.y = d.h + n_h;
        decode_.push_back(std::move(d));
        return decode_.back();
    }

    // moe_ffn's device memory for n_slots routed rows, grown on demand.
    struct MoeScratch {
        DeviceBuffer ids, weights, rows, x, gate, up, y;
        int64_t n_slots = 0, n_embd = 0, n_ff = 0;
    };
    MoeScratch& moe_scratch(int64_t n_slots, int64_t n_embd, int64_t n_ff) {
        MoeScratch& m = moe_;
        if (n_slots <= m.n_slots && n_embd <= m.n_embd && n_ff <= m.n_ff) return m;
        n_slots = std::max(n_slots, m.n_slots);
        n_embd = std::max(n_embd, m.n_embd);
        n_ff = std::max(n_ff, m.n_ff);
        m = MoeScratch{};  // free first (cudaFree waits for the kernels that used it)
        const size_t f = sizeof(float);
        m.ids = DeviceBuffer((size_t)n_slots * sizeof(int32_t));
        m.weights = DeviceBuffer((size_t)n_slots * f);
        m.rows = DeviceBuffer((size_t)(2 * n_slots) * sizeof(int32_t));
        m.x = DeviceBuffer((size_t)(n_slots * n_embd) * f);
        m.gate = DeviceBuffer((size_t)(n_slots * n_ff) * f);
        m.up = DeviceBuffer((size_t)(n_slots * n_ff) * f);
        m.y = DeviceBuffer((size_t)(n_slots * n_embd) * f);
        m.n_slots = n_slots;
        m.n_embd = n_embd;
        m.n_ff = n_ff;
        return m;
    }

    std::unordered_map<const uint8_t*, DeviceWeight> matrices_;
    std::map<std::tuple<int, int, int64_t, int64_t, size_t>, DeviceWeight> staged_;
    std::deque<DecodeScratch> decode_;  // deque: earlier ones stay put
    MoeScratch moe_;
    std::vector<int32_t> route_ids_, route_rows_;  // host copies of moe_ffn's routing
    std::unordered_map<const uint8_t*, DeviceBuffer> vectors_;
    Workspace workspace_;
    std::vector<float> rows_;
    // The activations the last product left quantized in the workspace of its mode (eager or step):
    // x, n_tokens, n_in. Cleared by every other op and at step boundaries.
    struct QuantizedX {
        const float* x = nullptr;
        int64_t n_tokens = 0, n_in = 0;
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
    };
    std::unordered_map<const float*, Consumer> consumers_;
    // Records the quantizing form of a producer writing `out` (n_rows rows of n) when the next product's
    // activation type is predicted: produce(act, qs, ds, stream) writes out and its conversion into
    // the step's workspace in matvec's layout (n_rows * n int8, then (d, s) per 32). Returns false
    // (nothing recorded) without a prediction; the caller then launches the plain op.
    template <class F>
    bool launch_quantizing(Key key, const float* out, int64_t n_rows, int64_t n, F&& produce) {
        if (n_rows > kMaxMatvecTokens || !steps().recording()) return false;
        const auto it = consumers_.find(out);
        if (it == consumers_.end() || it->second.n_in != n) return false;
        const ActivationType act = it->second.type;
        Workspace* ws = &steps().workspace();
        launch(key << act, -1, [=](cudaStream_t s, const int64_t*) {
            auto* qs = static_cast<int8_t*>(
                ws->reserve((size_t)(n_rows * n) + (size_t)n_rows * (size_t)(n / 32) * sizeof(float2)));
            produce(act, qs, reinterpret_cast<float2*>(qs + n_rows * n), s);
            ws->quantized_as = (int)act;
        });
        quantized_x_ = {out, n_rows, n};
        return true;
    }
    std::unique_ptr<StepGraphs> steps_;  // made once a device answers
    // Routed slots the staged (graph-friendly) MoE decode takes for one token: two matvec groups.
    static constexpr int64_t kMaxStagedSlots = 2 * kMaxMatvecTokens;
    StepGraphs& steps() { return *steps_; }
};

}  // namespace

std::unique_ptr<backend::Ops> make_cuda_ops() { return std::make_unique<CudaOps>(); }

}  // namespace shootout::cuda
