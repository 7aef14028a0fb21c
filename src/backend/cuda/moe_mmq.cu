// The experts' products of a prompt as int8 products on the tensor cores (moe_mmq.h). Structure of
// moe_gemm.cu (blockIdx.z = active expert slot, blockIdx.y = kTokens of that expert's grouped rows,
// blockIdx.x = 64 weight rows; 4 warps of 16 weight rows x kTokens grouped rows each; shared memory
// double-buffered), but per k-step of 32 (one Q8 activation block; for K-quants one sub-block):
//   - each thread unpacks 16 weights of its row to int8 (MmqUnpack, mmq_units.cuh) with their
//     scale and min term, and copies 16 int8 activations (and a (d, s) pair) of its grouped row;
//   - a warp multiplies its 16 x 32 weights by each 32 x 8 group of activation rows with one
//     mma.sync m16n8k32 s8.s8.s32 from a zero accumulator (Q6_K: two m16n8k16, one per half, whose
//     scales differ), and folds the int32 result into F32 accumulators:
//       acc += (float)c * (w_scale * x_d) + w_min * x_s   (the min term only for types with a min).
// The integer result of a step is exact (|c| <= 32 * 128 * 127 < 2^22, so small_int_to_float is
// exact too); only the F32 accumulation order differs from the CPU's vec_dot.
//
// Fragment layouts (PTX ISA "Matrix Fragments for mma.m16n8k32" with .s8; g = lane / 4, t = lane % 4):
//   A (16 x 32, row): a0 = row g, k 4t..4t+3 (one byte each, k increasing), a1 = row g + 8, same k,
//     a2 = row g, k 16 + 4t..+3, a3 = row g + 8, k 16 + 4t..+3;
//   B (32 x 8, col): b0 = column (activation row) g, k 4t..4t+3, b1 = column g, k 16 + 4t..+3;
//   C (16 x 8 s32): c0, c1 = row g, columns 2t, 2t + 1; c2, c3 = row g + 8, the same columns.
// In bytes these are the m16n8k16 F16 fragments (mma_tiles.cuh), so ldmatrix .b16 on rows of 32 bytes
// loads them as it loads F16 tiles: A by ldmatrix x4 with lanes 0-15 giving rows 0-15 at byte 0 and
// lanes 16-31 rows 0-15 at byte 16 (matrices: rows 0-7 / 8-15 x bytes 0-15, then bytes 16-31, = a0..a3);
// B by ldmatrix x4 over 16 activation rows (matrices: rows 0-7 bytes 0-15, rows 0-7 bytes 16-31,
// rows 8-15 bytes 0-15, rows 8-15 bytes 16-31 = b0, b1 of the first 8 rows, then of the next 8).
// m16n8k16 .s8 (Q6_K) takes a0, a1 with b0 for k 0..15 and a2, a3 with b1 for k 16..31: its A is
// a0 = row g, k 4t..+3, a1 = row g + 8, its B b0 = column g, k 4t..+3.
// Shared rows are 48 bytes (32 + 16 of padding): the 8 rows of an ldmatrix matrix then start at
// banks 0, 12, 24, 4, 16, 28, 8, 20 and their 16 bytes never share a bank.
#include <string>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/mmq_units.cuh"
#include "backend/cuda/moe_mmq.h"

namespace shootout::cuda {
namespace {

constexpr int kRows = 64;         // weight rows per block
constexpr int kBK = 32;           // reduction step (elements = bytes of int8)
constexpr int kStrideBytes = 48;  // shared row: 32 bytes + 16 of padding (ldmatrix conflict-free)
constexpr int kThreads = 128;     // 4 warps along the weight rows

// c += A (16 x 32 s8) * B (32 x 8 s8), fragments as at the top of this file.
__device__ __forceinline__ void mma_s8_16832(int (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// c += A (16 x 16 s8) * B (16 x 8 s8).
__device__ __forceinline__ void mma_s8_16816(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(b0));
}

template <TypeId T, int kTokens>
__global__ void __launch_bounds__(kThreads)
moe_mmq_kernel(const uint8_t* __restrict__ stack, size_t row_bytes, int64_t n_in, int64_t rows_per_expert,
               ExpertGroups groups, const int8_t* __restrict__ xq, const float2* __restrict__ xds,
               const int32_t* __restrict__ x_rows, float* __restrict__ y) {
    using U = MmqUnpack<T>;
    __shared__ __align__(16) int8_t a_tile[2][kRows][kStrideBytes];
    __shared__ __align__(16) int8_t b_tile[2][kTokens][kStrideBytes];
    __shared__ __align__(16) float w_scale[2][kRows][2];  // [row][half]: the halves differ for Q6_K only
    __shared__ __align__(16) float w_min[2][kRows];
    __shared__ __align__(16) float2 x_ds[2][kTokens];

    const int slot = blockIdx.z;
    if (slot >= *groups.n_active) return;
    const int64_t n_rows = groups.count[slot], tok0 = (int64_t)blockIdx.y * kTokens;
    if (tok0 >= n_rows) return;  // the grid covers the most rows an expert can get
    const int64_t expert = groups.expert[slot], r0 = groups.first[slot] + tok0;
    const int64_t row0 = (int64_t)blockIdx.x * kRows;

    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    // Loaders: weight row tid / 2 and grouped row tid / 2 (for kTokens 32: threads 0-63 only), their
    // half tid % 2 of the k-step (16 bytes).
    const int w_ld = tid / 2, half = tid % 2, x_ld = tid / 2;
    const int64_t w_row_idx = min(row0 + w_ld, rows_per_expert - 1);  // rows past the end: computed, not stored
    const uint8_t* w_row = stack + (expert * rows_per_expert + w_row_idx) * row_bytes;
    const bool x_loader = x_ld < kTokens;
    const bool x_valid = x_loader && tok0 + x_ld < n_rows;  // the next rows belong to another expert: zeros
    const int64_t x_g = r0 + (x_valid ? x_ld : 0);
    const int64_t x_r = x_rows ? x_rows[x_g] : x_g;  // the token's row, read in place (no gathered copy)
    const int8_t* x_row = xq + x_r * n_in + 16 * half;
    const float2* ds_row = xds + x_r * (n_in / kBK);

    constexpr int kNTiles = kTokens / 8;
    float acc[kNTiles][4];
#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
#pragma unroll
        for (int k = 0; k < 4; ++k) acc[j][k] = 0.f;

    int4 st_w, st_x;
    float st_scale, st_min;
    float2 st_ds;
    auto stage = [&](int64_t k0) {
        U::run(w_row, k0, half, st_w, st_scale, st_min);
        st_x = x_valid ? *reinterpret_cast<const int4*>(x_row + k0) : make_int4(0, 0, 0, 0);
        st_ds = x_valid && half == 0 ? ds_row[k0 / kBK] : make_float2(0.f, 0.f);  // half 0 stores it
    };
    auto store = [&](int buf) {
        *reinterpret_cast<int4*>(&a_tile[buf][w_ld][16 * half]) = st_w;
        w_scale[buf][w_ld][half] = st_scale;
        if (U::kHasMin && half == 0) w_min[buf][w_ld] = st_min;
        if (x_loader) {
            *reinterpret_cast<int4*>(&b_tile[buf][x_ld][16 * half]) = st_x;
            if (half == 0) x_ds[buf][x_ld] = st_ds;
        }
    };

    const int g = lane / 4, t4 = lane % 4;
    const int r_lo = warp * 16 + g, r_hi = r_lo + 8;  // this thread's two weight rows in the tile

    stage(0);
    store(0);
    __syncthreads();
    const int n_steps = (int)(n_in / kBK);
    for (int step = 0; step < n_steps; ++step) {
        const int buf = step % 2;
        if (step + 1 < n_steps) stage((int64_t)(step + 1) * kBK);

        uint32_t a[4], b[kNTiles / 2][4];
        ldmatrix_x4(a, &a_tile[buf][warp * 16 + lane % 16][16 * (lane / 16)]);
#pragma unroll
        for (int jj = 0; jj < kNTiles / 2; ++jj)
            ldmatrix_x4(b[jj], &b_tile[buf][jj * 16 + lane % 8 + 8 * (lane / 16)][16 * ((lane / 8) % 2)]);
        const float2 sc_lo = *reinterpret_cast<const float2*>(&w_scale[buf][r_lo][0]);
        const float2 sc_hi = *reinterpret_cast<const float2*>(&w_scale[buf][r_hi][0]);
        const float m_lo = U::kHasMin ? w_min[buf][r_lo] : 0.f, m_hi = U::kHasMin ? w_min[buf][r_hi] : 0.f;
#pragma unroll
        for (int j = 0; j < kNTiles; ++j) {
            const uint32_t b0 = b[j / 2][2 * (j % 2)], b1 = b[j / 2][2 * (j % 2) + 1];
            // (d, s) of activation rows 8j + 2t4 and 8j + 2t4 + 1 (this thread's two columns).
            const float4 xd = *reinterpret_cast<const float4*>(&x_ds[buf][8 * j + 2 * t4]);
            if constexpr (U::kScalePer16) {
                int c0[4] = {0, 0, 0, 0}, c1[4] = {0, 0, 0, 0};
                mma_s8_16816(c0, a[0], a[1], b0);
                mma_s8_16816(c1, a[2], a[3], b1);
                acc[j][0] += (small_int_to_float(c0[0]) * sc_lo.x + small_int_to_float(c1[0]) * sc_lo.y) * xd.x;
                acc[j][1] += (small_int_to_float(c0[1]) * sc_lo.x + small_int_to_float(c1[1]) * sc_lo.y) * xd.z;
                acc[j][2] += (small_int_to_float(c0[2]) * sc_hi.x + small_int_to_float(c1[2]) * sc_hi.y) * xd.x;
                acc[j][3] += (small_int_to_float(c0[3]) * sc_hi.x + small_int_to_float(c1[3]) * sc_hi.y) * xd.z;
            } else {
                int c[4] = {0, 0, 0, 0};
                mma_s8_16832(c, a, b0, b1);
                acc[j][0] += small_int_to_float(c[0]) * (sc_lo.x * xd.x);
                acc[j][1] += small_int_to_float(c[1]) * (sc_lo.x * xd.z);
                acc[j][2] += small_int_to_float(c[2]) * (sc_hi.x * xd.x);
                acc[j][3] += small_int_to_float(c[3]) * (sc_hi.x * xd.z);
                if constexpr (U::kHasMin) {
                    acc[j][0] += m_lo * xd.y;
                    acc[j][1] += m_lo * xd.w;
                    acc[j][2] += m_hi * xd.y;
                    acc[j][3] += m_hi * xd.w;
                }
            }
        }
        if (step + 1 < n_steps) store(buf ^ 1);
        __syncthreads();
    }

#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int64_t o = row0 + warp * 16 + g + 8 * (k / 2);
            const int64_t t = 8 * j + 2 * t4 + (k % 2);
            if (o < rows_per_expert && tok0 + t < n_rows) y[(r0 + t) * rows_per_expert + o] = acc[j][k];
        }
}

}  // namespace

bool moe_mmq_supports(TypeId type) {
    bool known = false;  // a capturing lambda: a captureless generic one draws nvcc warning 445
    dispatch_mmq_type(type, [&]<TypeId>() { known = true; });
    return known;
}

void moe_mmq(const DeviceWeight& stack, int64_t n_expert, int64_t n_tokens, int64_t n_used, const ExpertGroups& groups,
             const int8_t* xq, const float2* xds, float* y, StreamHandle stream, const int32_t* x_rows) {
    if (!moe_mmq_supports(stack.type))
        fail(stack.name, std::string("no int8 expert GEMM for type ") + quant::traits(stack.type).name);
    const int64_t rows_per_expert = expert_rows(stack, n_expert);
    const int64_t block = quant::traits(stack.type).block_size;
    if (stack.n_in % kBK != 0 || stack.n_in % block != 0)
        fail(stack.name, "int8 expert GEMM needs n_in a multiple of 32 and of the block size, got " +
                             std::to_string(stack.n_in));
    if (n_tokens <= 0 || n_used <= 0) return;
    const ExpertGemmGrid g = expert_gemm_grid(rows_per_expert, kRows, n_expert, n_tokens, n_used);
    const dim3 grid = g.grid;
    const bool wide = g.tile_tokens == 64;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const uint8_t* w = stack.data.as<uint8_t>();
    dispatch_mmq_type(stack.type, [&]<TypeId T>() {
        if (wide)
            moe_mmq_kernel<T, 64><<<grid, kThreads, 0, s>>>(w, stack.row_bytes, stack.n_in, rows_per_expert, groups, xq,
                                                            xds, x_rows, y);
        else
            moe_mmq_kernel<T, 32><<<grid, kThreads, 0, s>>>(w, stack.row_bytes, stack.n_in, rows_per_expert, groups, xq,
                                                            xds, x_rows, y);
    });
    check_last_launch(("moe_mmq " + stack.name).c_str());
}

}  // namespace shootout::cuda
