// The kernels of the MoE and hybrid architectures (qwen3moe, qwen3next) as plain C++ launchers
// (moe.cu, gating.cu, delta_net.cu): the CUDA Ops (cuda_ops_moe_deltanet.cpp) call them on device
// pointers. Each mirrors the CPU op of the same name (backend/cpu/moe.cpp, gating.cpp, delta_net.cpp)
// in F32, so the two backends differ by rounding order only.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/ops.h"

namespace shootout::cuda {

// y[t][o] = sum_i w[o][i] * x[t][i] with F32 weights (routers, the shared-expert gate: small
// matrices the GGUF keeps in F32), one warp per output element. w: memory no kernel writes (an
// upload): with PDL (pdl.cuh) it is read through the non-coherent path.
void matmul_f32(const float* w, int64_t n_in, int64_t n_out, const float* x, int64_t n_tokens, float* y,
                StreamHandle stream);

// Softmax routing of each token, as the CPU's moe_ffn: p = softmax(router_logits[t]) (the sum in
// double), the n_used largest p in decreasing order, ties to the lower expert, written to
// ids[t][j]; weights[t][j] = p, divided by the chosen sum (clamped at 6.1e-5, F16's smallest normal,
// as ggml) when normalize.
void moe_route(const float* router_logits, int64_t n_tokens, int64_t n_expert, int64_t n_used, bool normalize,
               int32_t* ids, float* weights, StreamHandle stream);
// moe_route then moe_group for a single token, in one launch (a decode step's routing).
void moe_route_group_one(const float* router_logits, int64_t n_expert, int64_t n_used, bool normalize, int32_t* ids,
                         float* weights, int32_t* row_token, int32_t* row_of_slot, int32_t* expert, int32_t* first,
                         int32_t* count, int32_t* n_active, StreamHandle stream);
// out[r] = x[rows[r]] for n_rows rows of n floats.
void gather_rows(const float* x, const int32_t* rows, int64_t n_rows, int64_t n, float* out, StreamHandle stream);
// out[t] = sum_j weights[t][j] * expert_out[row_of_slot[t * n_used + j]] for n_tokens rows of n floats,
// summed in slot order as ggml (the first product, then each next one added).
void moe_combine(const float* expert_out, const int32_t* row_of_slot, const float* weights, int64_t n_tokens,
                 int64_t n_used, int64_t n, float* out, StreamHandle stream);

// The routed rows of a layer grouped by expert, on the device (moe_group writes them, the
// expert-indexed products read them): active slot i < *n_active is expert expert[i], whose rows are
// grouped rows first[i] .. first[i] + count[i]. Arrays of at most min(n_tokens * n_used, n_expert).
constexpr int64_t kMaxMoeExperts = 1024;
struct ExpertGroups {
    const int32_t* expert;
    const int32_t* first;
    const int32_t* count;
    const int32_t* n_active;  // one value
};
// Rows of each expert in a stack of n_expert experts (the expert kernels' first check); throws Error
// naming the stack when its rows do not split into n_expert experts.
int64_t expert_rows(const DeviceWeight& stack, int64_t n_expert);

// The launch grid of the prompts' expert GEMMs (moe_gemm, moe_mmq): x = blocks of weight_rows rows of
// an expert, y = tiles of tile_tokens grouped rows (covering the most rows an expert can get, one per
// token), z = the active expert slots (at most min(n_tokens * n_used, n_expert)). Tiles are 64
// grouped rows once experts average 24 rows or more (many then get more than 32), else 32.
struct ExpertGemmGrid {
    dim3 grid;
    int tile_tokens;
};
ExpertGemmGrid expert_gemm_grid(int64_t rows_per_expert, int weight_rows, int64_t n_expert, int64_t n_tokens,
                                int64_t n_used);

// Groups the n_tokens * n_used routed slots (ids as moe_route writes them) by expert: row_token[r] is
// the token of grouped row r, row_of_slot[t * n_used + j] the grouped row of token t's j-th slot, and
// groups' arrays (expert, first, count: writable device arrays of min(n_slots, n_expert) entries;
// n_active one value) list the experts that got rows in increasing expert order. One block, a thread
// per expert: n_expert at most kMaxMoeExperts. Rows of one expert come in no set order (each row's product is its own, so results do
// not depend on it).
void moe_group(const int32_t* ids, int64_t n_tokens, int64_t n_used, int64_t n_expert, int32_t* row_token,
               int32_t* row_of_slot, int32_t* expert, int32_t* first, int32_t* count, int32_t* n_active,
               StreamHandle stream);
// Each active expert's grouped rows times its rows of the stack (n_expert experts of
// stack.n_out / n_expert rows each): y[r][o] for every grouped row r. x: the grouped rows in F32
// (F16/BF16 stacks), xq / xds: the same rows quantized as the stack type's activations
// (activation_quant.h; integer stacks). Both with at least 8 rows of padding after the last grouped
// row; one_row (n_tokens 1 only): x / xq hold the token's single row, which every grouped row reads
// (no gather). max_active: min(n_tokens * n_used, n_expert), the grid's bound; n_tokens bounds an
// expert's rows (it picks how many rows a weight read serves).
// second, y2: another stack of the same type and shape over the same rows, multiplied in the same
// launch (gate and up).
void moe_matvec(const DeviceWeight& stack, int64_t n_expert, int64_t n_tokens, int64_t max_active,
                const ExpertGroups& groups, const float* x, const int8_t* xq, const float2* xds, bool one_row,
                float* y, StreamHandle stream, const DeviceWeight* second = nullptr, float* y2 = nullptr);


// One token's down products (an integer stack; its n_used <= kMaxDownSlots slots' SwiGLU rows quantized in
// hq/hds as grouped rows, row_of_slot[j] for slot j) and their weighted sum in slot order, as
// moe_matvec then moe_combine compute them, in one launch: out[n_embd].
constexpr int64_t kMaxDownSlots = 16;
void moe_down_combine(const DeviceWeight& stack, int64_t n_expert, int64_t n_used, const int32_t* ids,
                      const int32_t* row_of_slot, const float* weights, const int8_t* hq, const float2* hds, float* out,
                      StreamHandle stream);
// The same products for prompts, on the tensor cores (moe_gemm.cu): x_half holds the grouped rows as
// the CPU's activation values rounded to F16 (BF16 for BF16 stacks; activations_to_half). Rows are
// computed 32 at a time; an expert's rows past its count are not read or written. x_rows (optional):
// grouped row r reads row x_rows[r] of x_half (the token rows, converted once; as moe_mmq).
void moe_gemm(const DeviceWeight& stack, int64_t n_expert, int64_t n_tokens, int64_t n_used, const ExpertGroups& groups,
              const uint16_t* x_half, float* y, StreamHandle stream, const int32_t* x_rows = nullptr);
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
