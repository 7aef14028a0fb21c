// CudaOps (cuda_ops_impl.h): the MoE and Gated DeltaNet ops (qwen3moe, qwen3next); kernels in
// moe_deltanet_kernels.h and moe_mmq.h.
#include <algorithm>
#include <string>

#include "backend/cuda/cuda_ops_impl.h"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/moe_mmq.h"
#include "util/env.h"
#include "util/error.h"

namespace shootout::cuda::detail {

void CudaOps::moe_ffn(const backend::MoeExperts& ex, const float* router_logits, const float* x, int64_t n_tokens,
                      float* out) {
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

void CudaOps::moe_ffn_launches(const backend::MoeExperts& ex, const float* router_logits, const float* x,
                               int64_t n_tokens, float* out, const DeviceWeight* gate, const DeviceWeight* up,
                               const DeviceWeight* down, int64_t n_embd, int64_t n_ff, bool ahead) {
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

void CudaOps::copy_columns(const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols,
                           float* dst) {
    launch(Key('C') << src << n_rows << src_stride << col0 << n_cols << dst, -1,
           [=](cudaStream_t s, const int64_t*) { cuda::copy_columns(src, n_rows, src_stride, col0, n_cols, dst, s); });
}

void CudaOps::sigmoid_gate(float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols) {
    launch(Key('G') << x << gate << n_rows << n_cols << gate_cols, -1,
           [=](cudaStream_t s, const int64_t*) { cuda::sigmoid_gate(x, gate, n_rows, n_cols, gate_cols, s); });
}

void CudaOps::l2_norm(float* x, int64_t n_rows, int64_t n_cols, float eps) {
    launch(Key('L') << x << n_rows << n_cols << eps, -1,
           [=](cudaStream_t s, const int64_t*) { cuda::l2_norm(x, n_rows, n_cols, eps, s); });
}

void CudaOps::causal_conv1d_silu(const float* x, const backend::Weight& kernel, int64_t n_tokens, float* conv_state,
                                 float* out) {
    if (kernel.type != quant::TypeId::F32) fail(kernel.name, "convolution kernel must be F32");
    const float* w = vector(kernel);
    const int64_t n_taps = kernel.n_in, n_channels = kernel.n_out;
    launch(Key('V') << x << w << n_taps << n_channels << n_tokens << conv_state << out, -1,
           [=](cudaStream_t s, const int64_t*) {
               cuda::causal_conv1d_silu(x, w, n_taps, n_channels, n_tokens, conv_state, out, s);
           });
}

void CudaOps::gated_delta_rule(const float* q, const float* k, const float* v, const float* alpha,
                               const float* beta_logit, const backend::Weight& dt_bias, const backend::Weight& a,
                               int64_t n_tokens, const backend::DeltaNetShape& shape, float* state, float* out) {
    const float* dt = f32_vector(dt_bias, shape.n_v_heads, "ssm_dt.bias");
    const float* a_neg = f32_vector(a, shape.n_v_heads, "ssm_a");
    launch(Key('D') << q << k << v << alpha << beta_logit << dt << a_neg << n_tokens << shape.n_k_heads
                    << shape.n_v_heads << shape.head_k_dim << shape.head_v_dim << shape.gates_interleaved << state
                    << out,
           -1, [=](cudaStream_t s, const int64_t*) {
               cuda::gated_delta_rule(q, k, v, alpha, beta_logit, dt, a_neg, n_tokens, shape, state, out, s);
           });
}

void CudaOps::expert_product(const DeviceWeight* stack, int64_t n_expert, int64_t n_tokens, int64_t n_used,
                             const float* x, const int32_t* x_rows, bool one_row, int8_t* q, float2* ds, uint16_t* xh,
                             bool convert, float* y, const DeviceWeight* second, float* y2,
                             bool from_workspace) {
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

bool CudaOps::int8_prompt_gemm(int64_t n_tokens, const DeviceWeight* stack) {
    static const bool on = !env_switched_off("SHOOTOUT_CUDA_MOE_MMQ");
    return n_tokens > kMaxMatvecTokens && on && moe_mmq_supports(stack->type);
}

const CudaOps::MoeScratch& CudaOps::moe_scratch(int64_t n_slots, int64_t n_embd, int64_t n_ff, int64_t n_expert) {
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

}  // namespace shootout::cuda::detail
