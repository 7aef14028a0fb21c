// The decode kernels (see matvec.cu), as templates: each type's instantiations live in their own
// .cu file (matvec_float.cu, matvec_legacy.cu, matvec_kquants.cu, ..., one a family of types) so
// they compile in parallel.
#pragma once

#include <cuda_runtime.h>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/matvec_units.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/step_trace.cuh"
#include "util/env.h"

namespace shootout::cuda {

constexpr int kWarpsPerBlock = 4;
// Resident blocks asked of the compiler: for 1 token the type's choice (8 = 64 registers a thread,
// 32 warps an SM, where the loads in flight fit), fewer where more tokens need more accumulators.
template <int NT> constexpr int kMinBlocks = NT <= 2 ? 8 : 4;  // F16 / BF16
// Integer types: loads in flight per lane (units, matvec_units.cuh) and resident blocks per SM. For 1
// token the type's choice; more tokens need registers for accumulators, so fewer of both.
// Units in flight a lane for one token, where more than the type's default measured faster (H100,
// bench_cuda_kernels 12288x4096, GB/s at 1 / 2 / 4 in flight, session 6, two rounds alike): Q8_0
// 2502 / 2608 / 2692, MXFP4 1911 / 1935 / 2055, IQ4_NL 1960 / 2034 / 2117, IQ4_XS 1861 / 1860 / 1929,
// IQ2_XXS 760 / 818 / 804, IQ2_XS 833 / 868 / 871, IQ2_S 870 / 890 / 878, IQ3_S 1162 / 1196 / 1151,
// TQ2_0 1079 / 1196 / 1175, TQ1_0 727 / 768 / 727, IQ1_S 586 / 596 / 603, IQ1_M 642 / 662 / 659,
// Q2_K 1375 / 1434 / 1456, Q3_K 1627 / 1700 / 1550. Not raised: Q4_0, Q4_1, IQ3_XXS (equal), Q5_0,
// Q5_1 (2-6 % slower), Q4_K 2158 / 2039 / 2121, Q5_K 2228 / 2181 / 2100, Q6_K 2329 / 2134 / 1649.
template <TypeId T> constexpr int kInFlightOneToken = VecDot<T>::kInFlight;
template <> constexpr int kInFlightOneToken<TypeId::Q8_0> = 4;
template <> constexpr int kInFlightOneToken<TypeId::MXFP4> = 4;
template <> constexpr int kInFlightOneToken<TypeId::IQ4_NL> = 4;
template <> constexpr int kInFlightOneToken<TypeId::IQ4_XS> = 4;
template <> constexpr int kInFlightOneToken<TypeId::IQ2_XXS> = 2;
template <> constexpr int kInFlightOneToken<TypeId::IQ2_XS> = 2;
template <> constexpr int kInFlightOneToken<TypeId::IQ2_S> = 2;
template <> constexpr int kInFlightOneToken<TypeId::IQ3_S> = 2;
template <> constexpr int kInFlightOneToken<TypeId::TQ2_0> = 2;
template <> constexpr int kInFlightOneToken<TypeId::TQ1_0> = 2;
template <> constexpr int kInFlightOneToken<TypeId::IQ1_S> = 4;
template <> constexpr int kInFlightOneToken<TypeId::IQ1_M> = 2;
template <> constexpr int kInFlightOneToken<TypeId::Q2_K> = 4;
template <> constexpr int kInFlightOneToken<TypeId::Q3_K> = 2;

template <TypeId T, int NT>
struct MatvecShape {
    static constexpr int kInFlight = NT == 1 ? kInFlightOneToken<T>
                                   : NT <= 2 ? VecDot<T>::kInFlight
                                   : NT <= 4 ? (VecDot<T>::kInFlight + 1) / 2
                                             : (VecDot<T>::kInFlight + 3) / 4;
    static constexpr int kMinBlocks = NT == 1 ? VecDot<T>::kMinBlocks : NT == 2 ? 5 : NT <= 4 ? 4 : 3;
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// A lane's units of the row's blocks b0, b0 + 32 / kUnits, ... (< n_blocks) added to acc, kInFlight
// at a time: each step's loads issued before its dots. The staged and the mixed normed kernels walk
// their rows with it (the same SASS as their own loops had); matvec_q8_kernel and the expert matvec
// keep their loops, whose SASS it changed (session 17: 23 kernels, untimed).
template <typename V, int NT, int kInFlight>
__device__ __forceinline__ void dot_row_steps(const uint8_t* w_row, int b0, int n_blocks, int u, const QuantizedX& x,
                                              float (&acc)[NT]) {
    static_assert(32 % V::kUnits == 0);
    constexpr int kBlockStep = 32 / V::kUnits;
    for (; b0 < n_blocks; b0 += kBlockStep * kInFlight) {
        typename V::Regs r[kInFlight];
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = b0 + kBlockStep * i;
            if (b < n_blocks) V::load(w_row, b, u, r[i]);
        }
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = b0 + kBlockStep * i;
            if (b < n_blocks) V::template dot<NT>(r[i], b, u, x, acc);
        }
    }
}

// Up to kMaxMatvecParts products of one activation row set in one launch (Q/K/V, gate/up: same x,
// same type and width): part i owns the x blocks first_block[i] .. first_block[i + 1] - 1. A decode
// step is launch-bound (~86 us a layer on an H200 against ~22 us of weight reads), so two launches
// fewer a layer count.
struct MatvecParts {
    const uint8_t* w[kMaxMatvecParts];
    float* y[kMaxMatvecParts];
    int64_t n_out[kMaxMatvecParts];
    int64_t first_block[kMaxMatvecParts + 1];
    int n;
    // y[i] += W x instead of y[i] = W x: the O and down products add into the residual row, where a
    // separate add (folded into the next norm) would cost a launch. The same float add as that one.
    bool accumulate;
    // With accumulate, one token: y[i] += (W x) * sigmoid(*gate) (the shared expert's gated add), the
    // same multiply and add as sigmoid_gate then add.
    const float* gate;
};

// Lane 0 of a row's warp stores the dot product s at dst, or adds s (accumulate), or s * sigmoid(g)
// (gate). Explicitly rounded operations: no contraction into an FMA, so the bits are those of the
// separate kernels.
__device__ __forceinline__ void matvec_store(const MatvecParts& parts, float* dst, float s) {
    if (parts.accumulate) {
        if (parts.gate) s = __fmul_rn(s, 1.0f / (1.0f + expf(-*parts.gate)));
        s = __fadd_rn(*dst, s);
    }
    *dst = s;
}
// This block's part: its weights, output, row count, and the warp's row within it.
struct MatvecPart {
    const uint8_t* w;
    float* y;
    int64_t n_out, row;
};
// Constant indices only: a runtime index into the parameter struct makes the compiler copy it to
// local memory (a 112-byte stack frame in the Q4_K kernel, tg128 300 -> 239 t/s on an H200).
// b: the index of a group of kWarpsPerBlock rows (a block of this kernel), warp: the row in it.
__device__ __forceinline__ MatvecPart matvec_part_at(const MatvecParts& parts, int64_t b, int warp) {
    MatvecPart p{parts.w[0], parts.y[0], parts.n_out[0], b};
    static_assert(kMaxMatvecParts == 3);
    if (parts.n > 1 && b >= parts.first_block[1]) p = {parts.w[1], parts.y[1], parts.n_out[1], b - parts.first_block[1]};
    if (parts.n > 2 && b >= parts.first_block[2]) p = {parts.w[2], parts.y[2], parts.n_out[2], b - parts.first_block[2]};
    p.row = p.row * kWarpsPerBlock + warp;
    return p;
}
__device__ __forceinline__ MatvecPart matvec_part(const MatvecParts& parts) {
    return matvec_part_at(parts, blockIdx.x, threadIdx.x / 32);
}

// One warp per row; lane l takes units l, l + 32, ... (matvec_units.cuh) and loads kInFlight of them
// before the first dot product. With PDL (pdl.cuh) the first kInFlight loads of each lane are issued
// before pdl_wait(): they read weights only, which no kernel writes (launch_matvec_impl launches with
// PDL only for DeviceWeight::immutable weights); the dot products read the quantized activations the
// previous kernel wrote, so they come after it. Every warp waits, those past the last row included.
template <typename V, int NT, int kInFlight, int kMinBlocksPerSm>
__global__ void __launch_bounds__(kWarpsPerBlock * 32, kMinBlocksPerSm)
matvec_q8_kernel(MatvecParts parts, size_t row_bytes, int n_blocks_per_row, QuantizedX x) {
    [[maybe_unused]] const StepTrace trace = step_trace_enter(kStepMatvec);
    pdl_launch_dependents();
    const int lane = threadIdx.x % 32;
    const MatvecPart part = matvec_part(parts);
    const int64_t row = part.row, n_out = part.n_out;
    float* y = part.y;
    const bool has_row = row < n_out;
    const uint8_t* w_row = part.w + row * row_bytes;
    // A lane's units are all the same unit of their blocks (32 is a multiple of kUnits): unit u of
    // blocks b0, b0 + 32 / kUnits, ...
    static_assert(32 % V::kUnits == 0);
    constexpr int kBlockStep = 32 / V::kUnits;
    const int u = lane % V::kUnits;
    auto load_units = [&](int b0, typename V::Regs (&r)[kInFlight]) {
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = b0 + kBlockStep * i;
            if (b < n_blocks_per_row) V::load(w_row, b, u, r[i]);
        }
    };
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = 0.f;
    auto dot_units = [&](int b0, const typename V::Regs (&r)[kInFlight]) {
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = b0 + kBlockStep * i;
            if (b < n_blocks_per_row) V::template dot<NT>(r[i], b, u, x, acc);
        }
    };
    // The first step's loads read weights only: before the wait. Its dots, then the loop of the rest
    // (the loop as it was before PDL, so the compiler unrolls and schedules it as before), after it.
    const int first = lane / V::kUnits;
    typename V::Regs r0[kInFlight];
    if (has_row) load_units(first, r0);
    pdl_wait();
    step_trace_waited(trace);
    if (!has_row) return;
    dot_units(first, r0);
    for (int b0 = first + kBlockStep * kInFlight; b0 < n_blocks_per_row; b0 += kBlockStep * kInFlight) {
        typename V::Regs r[kInFlight];
        load_units(b0, r);
        dot_units(b0, r);
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float s = warp_sum(acc[t]);
        if (lane == 0) matvec_store(parts, y + t * n_out + row, s);
    }
}

// The one-token product staged (staged_products(), cuda_kernels.h): kPre steps of the row loaded before
// the PDL wait, x copied into shared memory by the block after it, the residual (accumulate) loaded
// beside that copy. The step timeline (session 16) has the O product's warps resident ~4 us before
// the attention ends and still 3.2-4.1 us busy after the release (Q4_K_M): three dependent round
// trips in matvec_q8_kernel (step 1's x from L2, step 2's weights, steps 3-4's), then the
// residual's. A whole 4096-wide Q4_K row in registers alone did not help (session 16): with 32
// registers holding weights the compiler fetched each step's x after the previous dot. Here the
// dots after the wait read registers and shared memory only. 8B tg128 (session 17, 3 rounds): H200
// Q4_K_M +1.8 %, Q5_K_M +1.8 %, H100 +0.4 % (within its spread), +1.5 %; Q8_0 with its whole row (2
// steps) before the wait: equal; Q8_0 (1 step) and MXFP4 with x staged alone: -1.2 %, equal. So the
// default takes the K-quants (kStagedByDefault); SHOOTOUT_CUDA_STAGE_X=1 takes every type (trial).
// Rows up to kMaxStagedRow (O's; the down product's rows are 3x longer and its time is bandwidth).
// Same units, same order, same warp sum and store operations as matvec_q8_kernel: the same bits.
void count_staged_launch();  // matvec.cu (matvec_staged_calls)
template <TypeId T> constexpr int kStagedPre = 1;
template <> constexpr int kStagedPre<TypeId::Q4_K> = 4;  // 4 steps: a whole 4096 row, 32 registers
template <> constexpr int kStagedPre<TypeId::Q5_K> = 2;
template <> constexpr int kStagedPre<TypeId::Q6_K> = 2;  // a whole 4096 row
template <TypeId T>
constexpr bool kStagedByDefault = T == TypeId::Q4_K || T == TypeId::Q5_K || T == TypeId::Q6_K;
constexpr int64_t kMaxStagedRow = 4096;

template <typename V, int kInFlight, int kPre>
__global__ void __launch_bounds__(kWarpsPerBlock * 32, 8)
matvec_staged_kernel(MatvecParts parts, size_t row_bytes, int n_blocks_per_row, QuantizedX x) {
    __shared__ __align__(16) int8_t s_x[kMaxStagedRow + kMaxStagedRow / 32 * sizeof(float2)];
    [[maybe_unused]] const StepTrace trace = step_trace_enter(kStepMatvec);
    pdl_launch_dependents();
    const int lane = threadIdx.x % 32;
    const MatvecPart part = matvec_part(parts);
    const bool has_row = part.row < part.n_out;
    const uint8_t* w_row = part.w + part.row * row_bytes;
    constexpr int kBlockStep = 32 / V::kUnits, kStep = kBlockStep * kInFlight;
    const int u = lane % V::kUnits, first = lane / V::kUnits;
    typename V::Regs r0[kPre][kInFlight];
    if (has_row) {
#pragma unroll
        for (int p = 0; p < kPre; ++p)
#pragma unroll
            for (int i = 0; i < kInFlight; ++i) {
                const int b = first + p * kStep + kBlockStep * i;
                if (b < n_blocks_per_row) V::load(w_row, b, u, r0[p][i]);
            }
    }
    pdl_wait();
    step_trace_waited(trace);
    // x's qs then ds, 16 bytes a copy, every copy of the block in flight at once.
    const int n_q = (int)(x.n_in / 16), n_all = n_q + (int)(x.n_in / 32 * sizeof(float2) / 16);
    for (int i = threadIdx.x; i < n_all; i += kWarpsPerBlock * 32)
        copy16(s_x + 16 * i, i < n_q ? static_cast<const void*>(x.qs + 16 * i)
                                     : static_cast<const void*>(reinterpret_cast<const int8_t*>(x.ds) + 16 * (i - n_q)));
    copy_commit();
    float old = 0.f, g = 0.f;
    if (has_row && lane == 0 && parts.accumulate) {
        old = part.y[part.row];
        if (parts.gate) g = *parts.gate;
    }
    copy_wait_all();
    __syncthreads();
    if (!has_row) return;
    const QuantizedX xs{s_x, reinterpret_cast<const float2*>(s_x + x.n_in), x.n_in};
    float acc[1] = {0.f};
#pragma unroll
    for (int p = 0; p < kPre; ++p)
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = first + p * kStep + kBlockStep * i;
            if (b < n_blocks_per_row) V::template dot<1>(r0[p][i], b, u, xs, acc);
        }
    dot_row_steps<V, 1, kInFlight>(w_row, first + kPre * kStep, n_blocks_per_row, u, xs, acc);
    float s = warp_sum(acc[0]);
    if (lane == 0) {
        if (parts.accumulate) {  // matvec_store's operations, on the values loaded before
            if (parts.gate) s = __fmul_rn(s, 1.0f / (1.0f + expf(-g)));
            s = __fadd_rn(old, s);
        }
        part.y[part.row] = s;
    }
}

// Adds one F16 / BF16 row times NT rows of F32 activations (x, stride n_in) to this lane's acc: lane
// l takes the 8 weights (16 bytes) at l, l + 32, ... (shared by the dense and the expert matvecs).
template <TypeId T, int NT>
__device__ __forceinline__ void float_row_dot(const int4* w_row, int64_t n_in, const float* x, int lane,
                                              float (&acc)[NT]) {
#pragma unroll 4
    for (int64_t c = lane; c < n_in / 8; c += 32) {
        const int4 packed = __ldg(w_row + c);  // weights: the read-only path, as const __restrict__ gave before
        const uint16_t* h = reinterpret_cast<const uint16_t*>(&packed);
        float wf[8];
#pragma unroll
        for (int i = 0; i < 8; ++i)
            wf[i] = T == TypeId::F16 ? half_bits_to_float(h[i]) : bf16_bits_to_float(h[i]);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float4* xv = reinterpret_cast<const float4*>(x + t * n_in + 8 * c);
            const float4 a = xv[0], b = xv[1];
            acc[t] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y +
                      wf[6] * b.z + wf[7] * b.w;
        }
    }
}

// F16 / BF16 rows against F32 activations: each lane reads 8 weights (16 bytes) at a time. With PDL
// the warp's first 2 KB of weights (the first unrolled step of its row) are prefetched into L2 before
// pdl_wait() (weights only, see matvec_q8_kernel); x, written by the previous kernel, is read after it
// with coherent loads (no __restrict__, pdl.cuh rule 4).
template <TypeId T, int NT>
__global__ void __launch_bounds__(kWarpsPerBlock * 32, kMinBlocks<NT>)
matvec_float_kernel(MatvecParts parts, int64_t n_in, const float* x) {
    pdl_launch_dependents();
    const int lane = threadIdx.x % 32;
    const MatvecPart part = matvec_part(parts);
    const int64_t row = part.row, n_out = part.n_out;
    float* y = part.y;
    const bool has_row = row < n_out;
    const int4* w_row = reinterpret_cast<const int4*>(part.w + row * n_in * 2);
    // 16 lanes, one 128-byte line each: the 4 x 512 bytes the first unrolled step below reads.
    if (has_row && lane < 16 && 128 * lane < n_in * 2)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(reinterpret_cast<const char*>(w_row) + 128 * lane));
    pdl_wait();
    if (!has_row) return;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = 0.f;
    float_row_dot<T, NT>(w_row, n_in, x, lane, acc);
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float s = warp_sum(acc[t]);
        if (lane == 0) matvec_store(parts, y + t * n_out + row, s);
    }
}

// The kernels' description of the n products w[i] x -> y[i]; overlap: whether they may be launched
// with PDL (only weights no kernel writes: the kernels read them before waiting, pdl.cuh).
inline MatvecParts matvec_parts_of(const DeviceWeight* const* w, float* const* y, int n, bool& overlap) {
    MatvecParts parts{};
    parts.n = n;
    overlap = true;
    int64_t blocks = 0;
    for (int i = 0; i < n; ++i) {
        parts.w[i] = w[i]->data.as<uint8_t>();
        parts.y[i] = y[i];
        parts.n_out[i] = w[i]->n_out;
        parts.first_block[i] = blocks;
        blocks += (w[i]->n_out + kWarpsPerBlock - 1) / kWarpsPerBlock;
        overlap = overlap && w[i]->immutable;
    }
    parts.first_block[n] = blocks;
    return parts;
}

// The n products w[i] x -> y[i] (same type, n_in and row bytes) in one launch.
template <TypeId T, int NT>
void launch_matvec_impl(const DeviceWeight* const* w, float* const* y, int n, const float* x, void* scratch,
                        cudaStream_t stream, bool accumulate, const float* gate) {
    bool overlap = true;
    MatvecParts parts = matvec_parts_of(w, y, n, overlap);
    parts.accumulate = accumulate;
    parts.gate = gate;
    const int64_t blocks = parts.first_block[n];
    const LaunchShape shape{dim3((unsigned)blocks), dim3(kWarpsPerBlock * 32), 0, stream};
    const DeviceWeight& w0 = *w[0];
    if constexpr (T == TypeId::F16 || T == TypeId::BF16) {
        (void)scratch;
        launch_kernel(shape, overlap, matvec_float_kernel<T, NT>, parts, w0.n_in, x);
    } else {
        (void)x;
        int8_t* qs = static_cast<int8_t*>(scratch);
        float2* ds = reinterpret_cast<float2*>(qs + NT * w0.n_in);  // n_in % 32 == 0 keeps this 8-aligned
        const QuantizedX xq{qs, ds, w0.n_in};
        const int n_blocks = (int)(w0.n_in / VecDot<T>::kElems);
        using S = MatvecShape<T, NT>;
        using V = VecDot<T>;
        static const bool every_type = env_is("SHOOTOUT_CUDA_STAGE_X", "1");  // trial
        if constexpr (NT == 1 && S::kMinBlocks == 8) {
            if ((kStagedByDefault<T> || every_type) && staged_products() && w0.n_in <= kMaxStagedRow &&
                w0.n_in % 64 == 0) {
                launch_kernel(shape, overlap, matvec_staged_kernel<V, S::kInFlight, kStagedPre<T>>, parts,
                              w0.row_bytes, n_blocks, xq);
                count_staged_launch();
                return;
            }
        }
        launch_kernel(shape, overlap, matvec_q8_kernel<V, NT, S::kInFlight, S::kMinBlocks>, parts, w0.row_bytes,
                      n_blocks, xq);
    }
}

// y[i] = W[i] x for n_tokens (1..kMaxMatvecTokens) tokens of weight type T, n (1..kMaxMatvecParts)
// weights of one type and width; for the int8 types scratch holds the activations quantized by
// matvec() (n_tokens * n_in int8, then n_tokens * n_in / 32 float2).
template <TypeId T>
void launch_matvec(const DeviceWeight* const* w, float* const* y, int n, const float* x, int64_t n_tokens,
                   void* scratch, cudaStream_t s, bool acc, const float* gate) {
    switch (n_tokens) {
        case 1: launch_matvec_impl<T, 1>(w, y, n, x, scratch, s, acc, gate); break;
        case 2: launch_matvec_impl<T, 2>(w, y, n, x, scratch, s, acc, gate); break;
        case 3: launch_matvec_impl<T, 3>(w, y, n, x, scratch, s, acc, gate); break;
        case 4: launch_matvec_impl<T, 4>(w, y, n, x, scratch, s, acc, gate); break;
        case 5: launch_matvec_impl<T, 5>(w, y, n, x, scratch, s, acc, gate); break;
        case 6: launch_matvec_impl<T, 6>(w, y, n, x, scratch, s, acc, gate); break;
        case 7: launch_matvec_impl<T, 7>(w, y, n, x, scratch, s, acc, gate); break;
        default: launch_matvec_impl<T, 8>(w, y, n, x, scratch, s, acc, gate); break;
    }
}

#define SHOOTOUT_EXTERN_MATVEC(t)                                                                              \
    extern template void launch_matvec<TypeId::t>(const DeviceWeight* const*, float* const*, int, const float*, \
                                                  int64_t, void*, cudaStream_t, bool, const float*);
SHOOTOUT_CUDA_TYPES(SHOOTOUT_EXTERN_MATVEC)
#define SHOOTOUT_INSTANTIATE_MATVEC(t)                                                                         \
    template void launch_matvec<TypeId::t>(const DeviceWeight* const*, float* const*, int, const float*, int64_t, \
                                           void*, cudaStream_t, bool, const float*);

}  // namespace shootout::cuda
