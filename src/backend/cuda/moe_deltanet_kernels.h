// The kernels of the MoE and hybrid architectures (qwen3moe, qwen3next) as plain C++ launchers
// (moe.cu, gating.cu, delta_net.cu): the CUDA Ops (cuda_ops.cpp) call them on device pointers. Each
// mirrors the CPU op of the same name (backend/cpu/moe.cpp, gating.cpp, delta_net.cpp) in F32, so the
// two backends differ by rounding order only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cuda/cuda_kernels.h"
#include "backend/ops.h"

namespace shootout::cuda {

// y[t][o] = sum_i w[o][i] * x[t][i] with F32 weights (routers, the shared-expert gate: small
// matrices the GGUF keeps in F32), one warp per output element.
void matmul_f32(const float* w, int64_t n_in, int64_t n_out, const float* x, int64_t n_tokens, float* y,
                StreamHandle stream);

// Softmax routing of each token, as the CPU's moe_ffn: p = softmax(router_logits[t]) (the sum in
// double), the n_used largest p in decreasing order, ties to the lower expert, written to
// ids[t][j]; weights[t][j] = p, divided by the chosen sum (clamped at 6.1e-5, F16's smallest normal,
// as ggml) when normalize.
void moe_route(const float* router_logits, int64_t n_tokens, int64_t n_expert, int64_t n_used, bool normalize,
               int32_t* ids, float* weights, StreamHandle stream);
// out[r] = x[rows[r]] for n_rows rows of n floats.
void gather_rows(const float* x, const int32_t* rows, int64_t n_rows, int64_t n, float* out, StreamHandle stream);
// out[t] = sum_j weights[t][j] * expert_out[row_of_slot[t * n_used + j]] for n_tokens rows of n floats,
// summed in slot order as ggml (the first product, then each next one added).
void moe_combine(const float* expert_out, const int32_t* row_of_slot, const float* weights, int64_t n_tokens,
                 int64_t n_used, int64_t n, float* out, StreamHandle stream);

// Decode without the host: staged[s] = expert ids[s]'s bytes of a stack (expert_bytes each, as laid
// out on the device), for n_slots slots, so one product over the staged rows serves every slot.
void stage_experts(const uint8_t* stack, size_t expert_bytes, const int32_t* ids, int64_t n_slots, uint8_t* staged,
                   StreamHandle stream);
// h[s][i] = silu(gate[t][s * n_ff + i]) * up[t][s * n_ff + i] with t = s / n_used: each slot's own
// token's share of products over all staged experts (gate, up: [n_tokens][n_slots * n_ff]).
void moe_pick_swiglu(const float* gate, const float* up, int64_t n_tokens, int64_t n_used, int64_t n_ff, float* h,
                     StreamHandle stream);
// out[t] = sum_j weights[s] * y[s][s * n + 0..n) with s = t * n_used + j, y: [n_slots][n_slots * n] (the
// down products of every slot's row against every staged expert), summed as moe_combine.
void moe_combine_diagonal(const float* y, const float* weights, int64_t n_tokens, int64_t n_used, int64_t n,
                          float* out, StreamHandle stream);
// For one token routed to n_a + n_b experts whose down products ran in two groups (more slots than a
// matvec takes tokens): out = sum_j weights[j] * (slot j's own row of y_a or y_b), in slot order.
void moe_combine_split(const float* y_a, int64_t n_a, const float* y_b, int64_t n_b, const float* weights, int64_t n,
                       float* out, StreamHandle stream);

// The gated-architecture row ops, as backend::Ops::copy_columns, sigmoid_gate, l2_norm.
void copy_columns(const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols, float* dst,
                  StreamHandle stream);
void sigmoid_gate(float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols,
                  StreamHandle stream);
void l2_norm(float* x, int64_t n_rows, int64_t n_cols, float eps, StreamHandle stream);

// Gated DeltaNet, as backend::Ops::causal_conv1d_silu (kernel: [n_channels][n_taps] F32) and
// gated_delta_rule (dt_bias, a: n_v_heads floats); conv_state and state as there (nullptr: zero,
// not kept). gated_delta_rule needs head_k_dim a multiple of 32, at most 256.
void causal_conv1d_silu(const float* x, const float* kernel, int64_t n_taps, int64_t n_channels, int64_t n_tokens,
                        float* conv_state, float* out, StreamHandle stream);
void gated_delta_rule(const float* q, const float* k, const float* v, const float* alpha, const float* beta_logit,
                      const float* dt_bias, const float* a, int64_t n_tokens, const backend::DeltaNetShape& shape,
                      float* state, float* out, StreamHandle stream);

}  // namespace shootout::cuda
