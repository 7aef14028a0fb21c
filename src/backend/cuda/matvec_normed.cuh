// The one-token product with the RMSNorm of its input done by the launch itself (matvec_normed in
// cuda_kernels.h): a decode step's attention and FFN norms stop being kernels of their own.
//
// Why this shape: a norm kernel between two products costs ~4.7 us of a ~100 us 8B layer in the
// pipeline (session 7's timing by leaving launches out) for ~1 us of work. Folding it into the
// product BEFORE it (its last block normalising) was measured slower (session 10: every block's tail
// then waits on a global round trip). Here it goes into the product AFTER it, as a prologue: every
// block reads the row (16 KB for 4096), reduces, and converts it into its own shared memory, with no
// step between blocks. To keep that prologue's L2 traffic small the grid is persistent: 2 blocks of
// 16 warps an SM (the plain matvec's 32 warps an SM), each warp walking rows gridDim * 16 apart,
// so a launch reads the row ~260 times instead of once per 4 rows.
//
// Bit for bit as rms_norm_quantize + matvec_parts: as the norm kernel's thread t, which holds
// elements 8t .. 8t + 7, this block's thread t of pass p holds those of the norm kernel's thread
// t + 32 kNormedWarps p, sums their squares in that order, warps reduce by the same shuffles, and
// the warp sums are added in warp order from 0 (a zero for each warp of the norm kernel's 1024 that
// holds nothing: x + 0 is x); the conversion is the norm kernel's own
// (activation_quant.cuh). The dots then read those shared-memory values as the plain kernel reads
// the workspace's.
#pragma once

#include <algorithm>

#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/matvec_kernels.cuh"

namespace shootout::cuda {

// 16 warps a block, 2 blocks an SM. (8 warps, 4 blocks an SM, so a block needs two of the product
// before it to leave its SM instead of four, was 1.5-3 % slower on 8B tg128: session 18.)
constexpr int kNormedWarps = 16;
constexpr int kNormedBlocksPerSm = 32 / kNormedWarps;
constexpr int64_t kNormedPass = 8 * 32 * kNormedWarps;  // elements a pass of the block's threads covers
constexpr int kMaxNormedPasses = 32 / kNormedWarps;      // the norm kernel's 32 warps' worth
static_assert(kMaxNormedRow == kMaxNormedPasses * kNormedPass);

// Calls f.template operator()<P>() with P the passes a row of n elements takes (1..kMaxNormedPasses).
template <typename F>
void with_normed_passes(int64_t n, F&& f) {
    static_assert(kMaxNormedPasses == 2);
    if (n > kNormedPass) f.template operator()<2>();
    else f.template operator()<1>();
}

// The normed row of in (kPasses passes of kNormedPass elements) converted as A into qs / ds (shared memory);
// block 0 also writes the F32 row to in.out. Every thread of the block calls it.
template <ActivationType A, int kPasses>
__device__ __forceinline__ void norm_into_shared(const NormedInput& in, int8_t* qs, float2* ds, float* partial) {
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    float v[kPasses][8], wv[kPasses][8], sum[kPasses];
#pragma unroll
    for (int p = 0; p < kPasses; ++p) {
        const int64_t i0 = 8 * (tid + p * kNormedWarps * 32);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[p][k] = wv[p][k] = 0.f;
        if (i0 < in.n) {
            act::load8(in.x + i0, v[p]);
            act::load8(in.w + i0, wv[p]);
        }
    }
#pragma unroll
    for (int p = 0; p < kPasses; ++p) {
        float s = 0.f;
        if (8 * (tid + p * kNormedWarps * 32) < in.n) {
#pragma unroll
            for (int k = 0; k < 8; ++k) s += v[p][k] * v[p][k];
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
        sum[p] = s;
    }
    // The norm kernel's 32 warp slots: this block's warp w of pass p is its warp w + kNormedWarps p.
    if (lane == 0) {
#pragma unroll
        for (int p = 0; p < kMaxNormedPasses; ++p) partial[warp + p * kNormedWarps] = p < kPasses ? sum[p] : 0.f;
    }
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < 32; ++w) total += partial[w];
    const float scale = 1.0f / sqrtf(total / (float)in.n + in.eps);
#pragma unroll
    for (int p = 0; p < kPasses; ++p) {
        const int64_t i0 = 8 * (tid + p * kNormedWarps * 32);
        const bool here = i0 < in.n;
        float o[8];
#pragma unroll
        for (int k = 0; k < 8; ++k) o[k] = (v[p][k] * scale) * wv[p][k];
        if (here && blockIdx.x == 0) act::store8(in.out + i0, o);
        if constexpr (A == ActivationType::Q8_K) {  // a warp a 256 block (n is whole 256 blocks)
            if (here) act::store_q8_k(o, qs + i0 / 256 * 256, ds + i0 / 256 * 8);
        } else {  // 4 threads a 32 block
            act::store_q8_32_by_4<A>(o, qs + i0 / 32 * 32, ds + i0 / 32, here);
        }
    }
    __syncthreads();
}

// n_slots: 4 x the parts' 4-row groups (first_block[n]); slot s is row s % 4 of group s / 4, as the
// plain kernel's block s / 4, warp s % 4. The first row's first units are loaded before the PDL wait
// (weights only, as matvec_q8_kernel).
template <typename V, ActivationType A, int kPasses, int kInFlight>
__global__ void __launch_bounds__(kNormedWarps * 32, kNormedBlocksPerSm)
matvec_normed_kernel(MatvecParts parts, size_t row_bytes, int n_blocks_per_row, int64_t n_slots, NormedInput in) {
    __shared__ __align__(16) int8_t s_qs[kMaxNormedRow];
    __shared__ __align__(16) float2 s_ds[kMaxNormedRow / 32];
    __shared__ float partial[32];
    [[maybe_unused]] const StepTrace trace = step_trace_enter(kStepMatvecNormed);
    pdl_launch_dependents();
    const int lane = threadIdx.x % 32;
    static_assert(32 % V::kUnits == 0);
    constexpr int kBlockStep = 32 / V::kUnits;
    const int u = lane % V::kUnits, first = lane / V::kUnits;
    const int64_t stride = (int64_t)gridDim.x * kNormedWarps;
    int64_t slot = (int64_t)blockIdx.x * kNormedWarps + threadIdx.x / 32;
    auto load_units = [&](const uint8_t* w_row, int b0, typename V::Regs (&r)[kInFlight]) {
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = b0 + kBlockStep * i;
            if (b < n_blocks_per_row) V::load(w_row, b, u, r[i]);
        }
    };
    auto dot_units = [&](int b0, const typename V::Regs (&r)[kInFlight], const QuantizedX& x, float (&acc)[1]) {
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = b0 + kBlockStep * i;
            if (b < n_blocks_per_row) V::template dot<1>(r[i], b, u, x, acc);
        }
    };
    MatvecPart part = matvec_part_at(parts, slot / kWarpsPerBlock, (int)(slot % kWarpsPerBlock));
    bool has_row = slot < n_slots && part.row < part.n_out;
    const uint8_t* w_row = part.w + part.row * row_bytes;
    typename V::Regs r0[kInFlight];
    if (has_row) load_units(w_row, first, r0);
    pdl_wait();
    step_trace_waited(trace);
    norm_into_shared<A, kPasses>(in, s_qs, s_ds, partial);
    const QuantizedX x{s_qs, s_ds, in.n};
    bool hoisted = true;  // r0 holds this row's first units
    for (; slot < n_slots; slot += stride) {
        if (!hoisted) {
            part = matvec_part_at(parts, slot / kWarpsPerBlock, (int)(slot % kWarpsPerBlock));
            has_row = part.row < part.n_out;
            w_row = part.w + part.row * row_bytes;
        }
        if (!has_row) {
            hoisted = false;
            continue;
        }
        float acc[1] = {0.f};
        int b0 = first;
        if (hoisted) {
            dot_units(first, r0, x, acc);
            b0 += kBlockStep * kInFlight;
            hoisted = false;
        }
        for (; b0 < n_blocks_per_row; b0 += kBlockStep * kInFlight) {
            typename V::Regs r[kInFlight];
            load_units(w_row, b0, r);
            dot_units(b0, r, x, acc);
        }
        const float s = warp_sum(acc[0]);
        if (lane == 0) part.y[part.row] = s;
    }
}

// The persistent grid of a normed launch of n_slots row slots: a block a kNormedWarps slots, at most
// kNormedBlocksPerSm an SM.
inline LaunchShape normed_launch_shape(int64_t n_slots, cudaStream_t stream) {
    const int64_t grid = std::min<int64_t>((n_slots + kNormedWarps - 1) / kNormedWarps,
                                           (int64_t)kNormedBlocksPerSm * multiprocessor_count());
    return {dim3((unsigned)grid), dim3(kNormedWarps * 32), 0, stream};
}

// Rows of two weight types in one normed launch: Q4_K_M's and Q5_K_M's Q/K (Q4_K, Q5_K) beside a V in
// Q6_K, all read against the same Q8_K row. As a launch of its own the V product took ~4.7 us for
// its 1024 rows of 8B (one row a warp: its latency, not its 3.4 MB) plus the norm prologue again; the
// Q/K launch's warps have a second round to spare anyway (5120 rows on 4224 warps). The parts from
// first_b on are of type B; row_bytes[t] / n_blocks[t] are type t's row bytes and blocks a row.
struct MixedRows {
    size_t row_bytes[2];
    int n_blocks[2];
    int64_t first_b_group;  // parts.first_block[first_b]: the first 4-row group of type B
};

// One row's dot product by the warp, as matvec_normed_kernel's loop does it (the same units in the
// same order, the same warp sum: the same bits); kHoisted: r0 holds the row's first step, loaded
// before the PDL wait.
template <typename V, int kInFlight, bool kHoisted>
__device__ __forceinline__ float normed_row_dot(const uint8_t* w_row, int n_blocks_per_row, const QuantizedX& x,
                                                const typename V::Regs (&r0)[kInFlight]) {
    const int lane = threadIdx.x % 32;
    constexpr int kBlockStep = 32 / V::kUnits;
    const int u = lane % V::kUnits;
    float acc[1] = {0.f};
    auto dot_units = [&](int b0, const typename V::Regs (&r)[kInFlight]) {
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = b0 + kBlockStep * i;
            if (b < n_blocks_per_row) V::template dot<1>(r[i], b, u, x, acc);
        }
    };
    int b0 = lane / V::kUnits;
    if constexpr (kHoisted) {
        dot_units(b0, r0);
        b0 += kBlockStep * kInFlight;
    }
    dot_row_steps<V, 1, kInFlight>(w_row, b0, n_blocks_per_row, u, x, acc);
    return warp_sum(acc[0]);
}

// matvec_normed_kernel for rows of two types (MixedRows): the same grid, prologue and slots; a warp's
// first row is loaded before the wait when it is of type A.
template <typename VA, typename VB, ActivationType A, int kPasses, int kInFlightA, int kInFlightB>
__global__ void __launch_bounds__(kNormedWarps * 32, kNormedBlocksPerSm)
matvec_normed_mixed_kernel(MatvecParts parts, MixedRows rows, int64_t n_slots, NormedInput in) {
    __shared__ __align__(16) int8_t s_qs[kMaxNormedRow];
    __shared__ __align__(16) float2 s_ds[kMaxNormedRow / 32];
    __shared__ float partial[32];
    [[maybe_unused]] const StepTrace trace = step_trace_enter(kStepMatvecNormed);
    pdl_launch_dependents();
    const int lane = threadIdx.x % 32;
    const int64_t stride = (int64_t)gridDim.x * kNormedWarps;
    int64_t slot = (int64_t)blockIdx.x * kNormedWarps + threadIdx.x / 32;
    typename VA::Regs r0[kInFlightA];
    bool hoisted = false;
    if (slot < n_slots && slot / kWarpsPerBlock < rows.first_b_group) {
        const MatvecPart part = matvec_part_at(parts, slot / kWarpsPerBlock, (int)(slot % kWarpsPerBlock));
        if (part.row < part.n_out) {
            constexpr int kBlockStep = 32 / VA::kUnits;
            const uint8_t* w_row = part.w + part.row * rows.row_bytes[0];
#pragma unroll
            for (int i = 0; i < kInFlightA; ++i) {
                const int b = lane / VA::kUnits + kBlockStep * i;
                if (b < rows.n_blocks[0]) VA::load(w_row, b, lane % VA::kUnits, r0[i]);
            }
            hoisted = true;
        }
    }
    pdl_wait();
    step_trace_waited(trace);
    norm_into_shared<A, kPasses>(in, s_qs, s_ds, partial);
    const QuantizedX x{s_qs, s_ds, in.n};
    [[maybe_unused]] typename VB::Regs unused_b[kInFlightB];
    for (; slot < n_slots; slot += stride) {
        const int64_t group = slot / kWarpsPerBlock;
        const MatvecPart part = matvec_part_at(parts, group, (int)(slot % kWarpsPerBlock));
        if (part.row >= part.n_out) {
            hoisted = false;
            continue;
        }
        float s;
        if (group >= rows.first_b_group) {
            s = normed_row_dot<VB, kInFlightB, false>(part.w + part.row * rows.row_bytes[1], rows.n_blocks[1], x,
                                                      unused_b);
        } else if (hoisted) {
            s = normed_row_dot<VA, kInFlightA, true>(part.w + part.row * rows.row_bytes[0], rows.n_blocks[0], x, r0);
        } else {
            s = normed_row_dot<VA, kInFlightA, false>(part.w + part.row * rows.row_bytes[0], rows.n_blocks[0], x, r0);
        }
        hoisted = false;
        if (lane == 0) part.y[part.row] = s;
    }
}

// The parts first_b.. of type TB, the ones before of TA (matvec_normed_mixes(TA, TB), matvec_normed.cu).
template <TypeId TA, TypeId TB>
void launch_matvec_normed_mixed(const DeviceWeight* const* w, float* const* y, int n, int first_b,
                                const NormedInput& in, cudaStream_t stream) {
    using VA = VecDot<TA>;
    using VB = VecDot<TB>;
    constexpr ActivationType A = activation_type(TA);
    static_assert(activation_type(TB) == A, "mixed rows read one conversion of the row");
    bool overlap = true;
    const MatvecParts parts = matvec_parts_of(w, y, n, overlap);
    const MixedRows rows{{w[0]->row_bytes, w[first_b]->row_bytes},
                         {(int)(w[0]->n_in / VA::kElems), (int)(w[first_b]->n_in / VB::kElems)},
                         parts.first_block[first_b]};
    const int64_t n_slots = parts.first_block[n] * kWarpsPerBlock;
    const LaunchShape shape = normed_launch_shape(n_slots, stream);
    constexpr int kA = MatvecShape<TA, 1>::kInFlight, kB = MatvecShape<TB, 1>::kInFlight;
    with_normed_passes(in.n, [&]<int P>() {
        launch_kernel(shape, overlap, matvec_normed_mixed_kernel<VA, VB, A, P, kA, kB>, parts, rows, n_slots, in);
    });
}

template <TypeId T>
void launch_matvec_normed(const DeviceWeight* const* w, float* const* y, int n, const NormedInput& in,
                          cudaStream_t stream) {
    if constexpr (T == TypeId::F16 || T == TypeId::BF16) {
        (void)w, (void)y, (void)n, (void)in, (void)stream;  // matvec_normed_supports says no
    } else {
        bool overlap = true;
        const MatvecParts parts = matvec_parts_of(w, y, n, overlap);
        const int64_t n_slots = parts.first_block[n] * kWarpsPerBlock;
        const LaunchShape shape = normed_launch_shape(n_slots, stream);
        using V = VecDot<T>;
        constexpr ActivationType A = activation_type(T);
        constexpr int kInFlight = MatvecShape<T, 1>::kInFlight;
        const int n_blocks = (int)(w[0]->n_in / V::kElems);
        with_normed_passes(in.n, [&]<int P>() {
            launch_kernel(shape, overlap, matvec_normed_kernel<V, A, P, kInFlight>, parts, w[0]->row_bytes, n_blocks,
                          n_slots, in);
        });
    }
}

#define SHOOTOUT_EXTERN_MATVEC_NORMED(t)                                                                      \
    extern template void launch_matvec_normed<TypeId::t>(const DeviceWeight* const*, float* const*, int,      \
                                                         const NormedInput&, cudaStream_t);
SHOOTOUT_CUDA_TYPES(SHOOTOUT_EXTERN_MATVEC_NORMED)
extern template void launch_matvec_normed_mixed<TypeId::Q4_K, TypeId::Q6_K>(const DeviceWeight* const*, float* const*,
                                                                           int, int, const NormedInput&, cudaStream_t);
extern template void launch_matvec_normed_mixed<TypeId::Q5_K, TypeId::Q6_K>(const DeviceWeight* const*, float* const*,
                                                                           int, int, const NormedInput&, cudaStream_t);
#define SHOOTOUT_INSTANTIATE_MATVEC_NORMED(t)                                                                 \
    template void launch_matvec_normed<TypeId::t>(const DeviceWeight* const*, float* const*, int,             \
                                                  const NormedInput&, cudaStream_t);

}  // namespace shootout::cuda
