// The CPU implementation of backend::Ops (threads over rows, the per-type kernels of
// backend/cpu/type_kernels.h for the matmul) and the free functions behind it, each in its own file.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/ops.h"

namespace shootout {
class ThreadPool;
}

namespace shootout::cpu {

std::unique_ptr<backend::Ops> make_cpu_ops(ThreadPool& pool);

// matmul.cpp. activation_scratch is reused across calls (the converted activations).
void matmul(ThreadPool& pool, const backend::Weight& w, const float* x, int64_t n_tokens, float* y,
            std::vector<uint8_t>& activation_scratch);

// pointwise.cpp
void get_rows(ThreadPool& pool, const backend::Weight& table, std::span<const int32_t> ids, float* out);
void add_bias(ThreadPool& pool, float* x, const backend::Weight& bias, int64_t n_rows);
void rms_norm(ThreadPool& pool, const float* x, const backend::Weight& weight, int64_t n_rows, float eps, float* y);
void rope(ThreadPool& pool, float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
          const backend::RopeParams& rope);
void swiglu(ThreadPool& pool, const float* gate, const float* up, size_t n, float* out);
void add(ThreadPool& pool, float* x, const float* y, size_t n);

// attention.cpp
std::unique_ptr<backend::KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx, const backend::AttentionShape& shape);
void attention(ThreadPool& pool, backend::KvCache& cache, int64_t layer, const float* q, const float* k,
               const float* v, int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale,
               float* out);

// moe.cpp: mixture-of-experts FFN, as Ops::moe_ffn. observer (may be empty) sees each routed expert's
// gate/up and down inputs.
void moe_ffn(ThreadPool& pool, const backend::MoeExperts& experts, const float* router_logits, const float* x,
             int64_t n_tokens, float* out, const backend::ActivationObserver& observer = {});

// gating.cpp: as the Ops of the same names.
void copy_columns(ThreadPool& pool, const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols,
                  float* dst);
void sigmoid_gate(ThreadPool& pool, float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols);
void l2_norm(ThreadPool& pool, float* x, int64_t n_rows, int64_t n_cols, float eps);

// delta_net.cpp: Gated DeltaNet's short convolution and recurrence, as the Ops of the same names.
void causal_conv1d_silu(ThreadPool& pool, const float* x, const backend::Weight& kernel, int64_t n_tokens,
                        float* conv_state, float* out);
void gated_delta_rule(ThreadPool& pool, const float* q, const float* k, const float* v, const float* alpha,
                      const float* beta_logit, const backend::Weight& dt_bias, const backend::Weight& a,
                      int64_t n_tokens, const backend::DeltaNetShape& shape, float* state, float* out);

// Dot product of two float vectors (AVX2/FMA where the build has it).
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace shootout::cpu
