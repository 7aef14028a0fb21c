// The experts' products of a mixture-of-experts layer, indexed by expert on the device (as ggml's
// mul_mat_id): the rows routed to the layer's experts are grouped by expert (moe_group, moe.cu), and
// one launch multiplies every group by its own expert's rows of the stacked weight, reading the
// stack in place. Nothing goes back to the host, so a decode step stays one CUDA graph, and a prompt
// costs one launch per product instead of three per routed expert.
//
// Grid: (blocks of kWarpsPerBlock output rows, active-expert slots). Block (bx, i) takes the i-th
// expert that received rows (groups.expert[i]; blocks past *groups.n_active leave at once), one warp
// per output row, and walks that expert's rows NT at a time with the decode product's units
// (matvec_units.cuh): the weight row is read once per NT routed rows, the activations of each group
// of NT from L1/L2. A row routed to an expert never shares arithmetic with its neighbours in the
// group, so the result of a row does not depend on how rows were grouped or ordered.
//
// Launched with PDL (pdl.cuh) when the stacks are DeviceWeight::immutable (their loads are
// non-coherent, rule 4): every block waits first, since even which expert it takes (groups, ids) is
// written by the routing kernels; activations, groups and routing weights are coherent loads.
#pragma once

#include <cuda_runtime.h>

#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/pdl.cuh"

namespace shootout::cuda {

// This warp's output row, and the stack and output its block works on: with stack2 the second half
// of the grid's x blocks takes stack2 / y2. (The kernels' weight loads are explicit read-only loads,
// so stack and y need no __restrict__.)
__device__ __forceinline__ int64_t expert_row(const uint8_t*& stack, float*& y, const uint8_t* stack2, float* y2) {
    const int64_t half_blocks = stack2 ? gridDim.x / 2 : gridDim.x;
    const bool second = blockIdx.x >= half_blocks;
    if (second) {
        stack = stack2;
        y = y2;
    }
    return ((int64_t)blockIdx.x - (second ? half_blocks : 0)) * kWarpsPerBlock + threadIdx.x / 32;
}

// Integer types: grouped rows quantized as the weight's vec_dot_type (x: rows of n_in int8 + (d, s)
// pairs, with at least NT - 1 rows of padding after the last grouped row: the last group of an
// expert reads up to NT rows and writes only its own). y: [grouped row][rows_per_expert].
// x_row_step: 1, or 0 when every grouped row is the same single row of x (one token's slots: no
// gather needed). With stack2 (same type and shape: gate and up), the second half of the grid's
// x blocks multiplies stack2 into y2: two products in one launch.
template <typename V, int NT, int kInFlight, int kMinBlocksPerSm>
__global__ void __launch_bounds__(kWarpsPerBlock * 32, kMinBlocksPerSm)
moe_matvec_q8_kernel(const uint8_t* stack, size_t row_bytes, int64_t rows_per_expert,
                     int n_blocks_per_row, ExpertGroups groups, QuantizedX x, int x_row_step,
                     float* y, const uint8_t* stack2, float* y2) {
    pdl_launch_dependents();
    pdl_wait();
    const int slot = blockIdx.y;
    if (slot >= *groups.n_active) return;
    const int lane = threadIdx.x % 32;
    const int64_t row = expert_row(stack, y, stack2, y2);
    if (row >= rows_per_expert) return;
    const int64_t expert = groups.expert[slot], r0 = groups.first[slot], n_rows = groups.count[slot];
    const uint8_t* w_row = stack + (expert * rows_per_expert + row) * row_bytes;
    static_assert(32 % V::kUnits == 0);
    constexpr int kBlockStep = 32 / V::kUnits;
    const int u = lane % V::kUnits;
    for (int64_t c = 0; c < n_rows; c += NT) {
        const int64_t xr = (r0 + c) * x_row_step;
        const QuantizedX xc{x.qs + xr * x.n_in, x.ds + xr * (x.n_in / 32), x.n_in};
        float acc[NT];
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[t] = 0.f;
        for (int b0 = lane / V::kUnits; b0 < n_blocks_per_row; b0 += kBlockStep * kInFlight) {
            typename V::Regs r[kInFlight];
#pragma unroll
            for (int i = 0; i < kInFlight; ++i) {
                const int b = b0 + kBlockStep * i;
                if (b < n_blocks_per_row) V::load(w_row, b, u, r[i]);
            }
#pragma unroll
            for (int i = 0; i < kInFlight; ++i) {
                const int b = b0 + kBlockStep * i;
                if (b < n_blocks_per_row) V::template dot<NT>(r[i], b, u, xc, acc);
            }
        }
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float s = warp_sum(acc[t]);
            if (lane == 0 && c + t < n_rows) y[(r0 + c + t) * rows_per_expert + row] = s;
        }
    }
}

// F16 / BF16 stacks against the grouped F32 rows (x: [grouped row][n_in], padded as above).
template <TypeId T, int NT>
__global__ void __launch_bounds__(kWarpsPerBlock * 32, kMinBlocks<NT>)
moe_matvec_float_kernel(const uint8_t* stack, int64_t n_in, int64_t rows_per_expert,
                        ExpertGroups groups, const float* x, int x_row_step,
                        float* y, const uint8_t* stack2, float* y2) {
    pdl_launch_dependents();
    pdl_wait();
    const int slot = blockIdx.y;
    if (slot >= *groups.n_active) return;
    const int lane = threadIdx.x % 32;
    const int64_t row = expert_row(stack, y, stack2, y2);
    if (row >= rows_per_expert) return;
    const int64_t expert = groups.expert[slot], r0 = groups.first[slot], n_rows = groups.count[slot];
    const int4* w_row = reinterpret_cast<const int4*>(stack + (expert * rows_per_expert + row) * n_in * 2);
    for (int64_t c = 0; c < n_rows; c += NT) {
        const float* xc = x + (r0 + c) * x_row_step * n_in;
        float acc[NT];
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[t] = 0.f;
        float_row_dot<T, NT>(w_row, n_in, xc, lane, acc);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float s = warp_sum(acc[t]);
            if (lane == 0 && c + t < n_rows) y[(r0 + c + t) * rows_per_expert + row] = s;
        }
    }
}

// One token's down products and their weighted sum in one kernel (a decode step): warp `row` dots
// its row of each slot's expert with that slot's SwiGLU row (h, grouped rows, row_of_slot[j] for
// slot j) and sums the products in slot order, rounding as moe_combine does, into out[row]. Saves
// the combine launch and the round trip of the per-slot outputs through memory.
template <typename V>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
moe_down_combine_kernel(const uint8_t* __restrict__ stack, size_t row_bytes, int64_t rows_per_expert,
                        int n_blocks_per_row, const int32_t* ids, const int32_t* row_of_slot, const float* weights,
                        int n_used, QuantizedX h, float* out) {
    pdl_launch_dependents();
    pdl_wait();
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    if (row >= rows_per_expert) return;
    constexpr int kBlockStep = 32 / V::kUnits, kGroup = 4;  // slots whose loads are in flight together
    const int u = lane % V::kUnits;
    float ys[kMaxDownSlots];
#pragma unroll
    for (int j0 = 0; j0 < kMaxDownSlots; j0 += kGroup) {
        if (j0 >= n_used) break;
        const uint8_t* w_row[kGroup];
        QuantizedX hx[kGroup];
        float acc[kGroup][1];
#pragma unroll
        for (int i = 0; i < kGroup; ++i) {
            const int j = j0 + i < n_used ? j0 + i : n_used - 1;  // past the end: a repeat, not summed
            w_row[i] = stack + ((int64_t)ids[j] * rows_per_expert + row) * row_bytes;
            const int64_t hr = row_of_slot[j];
            hx[i] = QuantizedX{h.qs + hr * h.n_in, h.ds + hr * (h.n_in / 32), h.n_in};
            acc[i][0] = 0.f;
        }
        for (int b = lane / V::kUnits; b < n_blocks_per_row; b += kBlockStep) {
            typename V::Regs r[kGroup];
#pragma unroll
            for (int i = 0; i < kGroup; ++i) V::load(w_row[i], b, u, r[i]);
#pragma unroll
            for (int i = 0; i < kGroup; ++i) V::template dot<1>(r[i], b, u, hx[i], acc[i]);
        }
#pragma unroll
        for (int i = 0; i < kGroup; ++i) ys[j0 + i] = warp_sum(acc[i][0]);
    }
    if (lane != 0) return;
    float o = 0.f;
#pragma unroll
    for (int j = 0; j < kMaxDownSlots; ++j) {
        if (j >= n_used) break;
        o = j == 0 ? __fmul_rn(ys[j], weights[j]) : __fadd_rn(o, __fmul_rn(ys[j], weights[j]));
    }
    out[row] = o;
}

template <TypeId T>
void launch_moe_down_combine(const DeviceWeight& stack, int64_t rows_per_expert, const int32_t* ids,
                             const int32_t* row_of_slot, const float* weights, int n_used, const QuantizedX& h,
                             float* out, cudaStream_t stream) {
    if constexpr (T == TypeId::F16 || T == TypeId::BF16) {
        fail(stack.name, "the fused down product takes integer expert types");
    } else {
        const unsigned grid = (unsigned)((rows_per_expert + kWarpsPerBlock - 1) / kWarpsPerBlock);
        // PDL only for a stack no kernel writes (its loads are non-coherent, pdl.cuh rule 4).
        launch_kernel(LaunchShape{dim3(grid), dim3(kWarpsPerBlock * 32), 0, stream}, stack.immutable,
                      moe_down_combine_kernel<VecDot<T>>, stack.data.as<uint8_t>(), stack.row_bytes, rows_per_expert,
                      (int)(stack.n_in / VecDot<T>::kElems), ids, row_of_slot, weights, n_used, h, out);
    }
}

// Rows per group NT from the layer's token count (an expert gets at most one row per token).
constexpr int moe_matvec_group(int64_t n_tokens) { return n_tokens <= 1 ? 1 : n_tokens <= 2 ? 2 : n_tokens <= 4 ? 4 : 8; }

// overlap: launch with PDL (both stacks DeviceWeight::immutable).
template <TypeId T, int NT>
void launch_moe_matvec_impl(const DeviceWeight& stack, int64_t rows_per_expert, int64_t max_active,
                            const ExpertGroups& groups, const float* x, const QuantizedX& xq, int x_row_step,
                            float* y, const uint8_t* w2, float* y2, bool overlap, cudaStream_t stream) {
    const unsigned row_blocks = (unsigned)((rows_per_expert + kWarpsPerBlock - 1) / kWarpsPerBlock);
    const dim3 grid(w2 ? 2 * row_blocks : row_blocks, (unsigned)max_active);
    const LaunchShape shape{grid, dim3(kWarpsPerBlock * 32), 0, stream};
    const uint8_t* w = stack.data.as<uint8_t>();
    if constexpr (T == TypeId::F16 || T == TypeId::BF16) {
        launch_kernel(shape, overlap, moe_matvec_float_kernel<T, NT>, w, stack.n_in, rows_per_expert, groups, x,
                      x_row_step, y, w2, y2);
    } else {
        using S = MatvecShape<T, NT>;
        // Expert rows are short (Qwen3-30B-A3B: 2048 wide, two K-quant units a lane): with one unit in
        // flight a warp waits on each load in turn, so one token takes two (the dense matvec's rows
        // are 2-6x longer, and more warps hide the latency there).
        // (VecDot's own count, not the dense one-token choice of MatvecShape: not measured here.)
        constexpr int kInFlight = NT == 1 ? (VecDot<T>::kInFlight < 2 ? 2 : VecDot<T>::kInFlight) : S::kInFlight;
        const int n_blocks = (int)(stack.n_in / VecDot<T>::kElems);
        launch_kernel(shape, overlap, moe_matvec_q8_kernel<VecDot<T>, NT, kInFlight, S::kMinBlocks>, w,
                      stack.row_bytes, rows_per_expert, n_blocks, groups, xq, x_row_step, y, w2, y2);
    }
}

template <TypeId T>
void launch_moe_matvec(const DeviceWeight& stack, int64_t rows_per_expert, int64_t max_active, int64_t n_tokens,
                       const ExpertGroups& groups, const float* x, const QuantizedX& xq, int x_row_step,
                       float* y, const uint8_t* w2, float* y2, bool overlap, cudaStream_t stream) {
    const int st = x_row_step;
    const auto& g = groups;
    const bool o = overlap;
    cudaStream_t s = stream;
    switch (moe_matvec_group(n_tokens)) {
        case 1: launch_moe_matvec_impl<T, 1>(stack, rows_per_expert, max_active, g, x, xq, st, y, w2, y2, o, s); break;
        case 2: launch_moe_matvec_impl<T, 2>(stack, rows_per_expert, max_active, g, x, xq, st, y, w2, y2, o, s); break;
        case 4: launch_moe_matvec_impl<T, 4>(stack, rows_per_expert, max_active, g, x, xq, st, y, w2, y2, o, s); break;
        default: launch_moe_matvec_impl<T, 8>(stack, rows_per_expert, max_active, g, x, xq, st, y, w2, y2, o, s); break;
    }
}

#define SHOOTOUT_INSTANTIATE_MOE_MATVEC(t)                                                                      \
    template void launch_moe_down_combine<TypeId::t>(const DeviceWeight&, int64_t, const int32_t*, const int32_t*, \
                                                     const float*, int, const QuantizedX&, float*, cudaStream_t);   \
    template void launch_moe_matvec<TypeId::t>(const DeviceWeight&, int64_t, int64_t, int64_t,                  \
                                               const ExpertGroups&, const float*, const QuantizedX&, int, \
                                               float*, const uint8_t*, float*, bool, cudaStream_t);
#define SHOOTOUT_EXTERN_MOE_MATVEC(t)                                                                                  \
    extern template void launch_moe_down_combine<TypeId::t>(const DeviceWeight&, int64_t, const int32_t*,            \
                                                            const int32_t*, const float*, int, const QuantizedX&,  \
                                                            float*, cudaStream_t);                                 \
    extern template void launch_moe_matvec<TypeId::t>(const DeviceWeight&, int64_t, int64_t, int64_t,                 \
                                                      const ExpertGroups&, const float*, const QuantizedX&, int, \
                                                      float*, const uint8_t*, float*, bool, cudaStream_t);
SHOOTOUT_CUDA_TYPES(SHOOTOUT_EXTERN_MOE_MATVEC)

}  // namespace shootout::cuda
