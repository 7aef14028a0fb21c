// The experts' products of a prompt as int8 products on the tensor cores (moe_mmq.cu), the
// counterpart of moe_gemm (moe_deltanet_kernels.h) for quantized stacks: the weights are unpacked to
// int8 (a few instructions per 4 values, instead of a float conversion per value) and multiplied
// with the activations as the CPU quantizes them (activation_quant.h: the values the CPU's vec_dot
// multiplies, not F16-rounded ones); scales and mins are applied in F32 per 32 elements.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/moe_deltanet_kernels.h"

namespace shootout::cuda {

// Types the int8 expert GEMM takes: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, MXFP4.
bool moe_mmq_supports(quant::TypeId type);

// As moe_gemm (same grouping, same output layout y[r * rows_per_expert + o] for grouped row r), but
// on the activations as the CPU multiplies them: xq / xds = the grouped rows (n_tokens * n_used of
// them, at least 8 rows of padding after the last) converted by quantize_activations(
// activation_type(stack.type), ...) (activation_quant.h): per row n_in int8 (xq[r * n_in + i]), and
// n_in / 32 (d, s) pairs (xds[r * n_in / 32 + i / 32]; for Q8_K each 32-piece carries its 256
// block's d and d * the sum of its own 32 values). An expert's rows past its count are not read or
// written. x_rows (optional, the row_token of moe_group): grouped row r reads row x_rows[r] of xq / xds,
// which then hold the prompt's token rows (n_tokens of them, no padding needed) converted once, instead
// of a gathered copy per routed slot. Throws Error naming the stack for a type moe_mmq_supports refuses
// or a bad shape.
void moe_mmq(const DeviceWeight& stack, int64_t n_expert, int64_t n_tokens, int64_t n_used, const ExpertGroups& groups,
             const int8_t* xq, const float2* xds, float* y, StreamHandle stream, const int32_t* x_rows = nullptr);

}  // namespace shootout::cuda
