// The experts' products of a prompt on the tensor cores, indexed by expert on the device (the
// prefill counterpart of moe_matvec.cuh: same grouping, same output layout). A prompt gives each
// expert from a few rows (Qwen3-Next: 512 tokens x 10 of 512 experts, ~10 rows each) to a few dozen
// (Qwen3-30B-A3B: ~32), so a block takes 64 weight rows x kTokens (32 or 64) grouped rows, not the
// dense GEMM's 128 tokens: most of a 128-token tile would multiply zeros. Per k-step of 32 the 128
// threads dequantize the 64 x 32 weight tile (Dequant16, as gemm.cu) and copy the kTokens x 32
// activation tile (already F16 or BF16) into shared memory, double-buffered; each warp owns 16 weight
// rows x kTokens rows (kTokens / 8 mma tiles). A weight element is dequantized once per kTokens
// grouped rows of its expert, so the kernel is bound by dequantization, not by the tensor cores
// (H200, 8-layer Qwen3-30B-A3B-shaped Q4_K_M, 32-row tiles: ~39 TFLOP/s): the launcher takes 64-row
// tiles when experts average more than 32 rows, halving that work.
#include <string>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/quant_blocks.cuh"

namespace shootout::cuda {
namespace {

constexpr int kRows = 64;     // weight rows per block
constexpr int kBK = 32;       // reduction step
constexpr int kPad = 8;       // halves of padding per shared row (80-byte rows: ldmatrix conflict-free)
constexpr int kStride = kBK + kPad;
constexpr int kThreads = 128;  // 4 warps along the weight rows

template <TypeId T, bool kBf16, int kTokens>
__global__ void __launch_bounds__(kThreads)
moe_gemm_kernel(const uint8_t* __restrict__ stack, size_t row_bytes, int64_t n_in, int64_t rows_per_expert,
                ExpertGroups groups, const uint16_t* __restrict__ x, const int32_t* __restrict__ x_rows,
                float* __restrict__ y) {
    using CT = typename Compute<kBf16>::T;
    __shared__ __align__(16) CT a_tile[2][kRows][kStride];
    __shared__ __align__(16) CT b_tile[2][kTokens][kStride];

    const int slot = blockIdx.z;
    if (slot >= *groups.n_active) return;
    const int64_t n_rows = groups.count[slot], tok0 = (int64_t)blockIdx.y * kTokens;
    if (tok0 >= n_rows) return;  // the grid covers the most rows an expert can get
    const int64_t expert = groups.expert[slot], r0 = groups.first[slot] + tok0;
    const int64_t row0 = (int64_t)blockIdx.x * kRows;

    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    // Loaders: weight row tid / 2, its half tid % 2 of the k-step; grouped rows tid / 4 (+ 32), their
    // quarter tid % 4 of the k-step.
    constexpr int kXLoads = kTokens / 32, kNTiles = kTokens / 8;
    const int w_ld = tid / 2, w_half = tid % 2, x_ld = tid / 4, x_quarter = tid % 4;
    const int64_t w_row_idx = min(row0 + w_ld, rows_per_expert - 1);  // rows past the end: computed, not stored
    const uint8_t* w_row = stack + (expert * rows_per_expert + w_row_idx) * row_bytes;
    bool x_valid[kXLoads];  // the next rows belong to another expert: zeros instead
    const uint16_t* x_row[kXLoads];
#pragma unroll
    for (int l = 0; l < kXLoads; ++l) {
        x_valid[l] = tok0 + x_ld + 32 * l < n_rows;
        const int64_t g = r0 + (x_valid[l] ? x_ld + 32 * l : 0);
        x_row[l] = x + (x_rows ? x_rows[g] : g) * n_in;  // x_rows: the token's row, read in place
    }

    float acc[kNTiles][4];
#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
#pragma unroll
        for (int k = 0; k < 4; ++k) acc[j][k] = 0.f;

    uint32_t st_w[8];
    uint4 st_x[kXLoads];
    auto stage = [&](int64_t k0) {
        float v[16];
        Dequant16<T>::run(w_row, k0 + 16 * w_half, v);
#pragma unroll
        for (int i = 0; i < 8; ++i) st_w[i] = Compute<kBf16>::pack(v[2 * i], v[2 * i + 1]);
#pragma unroll
        for (int l = 0; l < kXLoads; ++l)
            st_x[l] = x_valid[l] ? *reinterpret_cast<const uint4*>(x_row[l] + k0 + 8 * x_quarter) : make_uint4(0, 0, 0, 0);
    };
    auto store = [&](int buf) {
        uint4* a_dst = reinterpret_cast<uint4*>(&a_tile[buf][w_ld][16 * w_half]);
        a_dst[0] = make_uint4(st_w[0], st_w[1], st_w[2], st_w[3]);
        a_dst[1] = make_uint4(st_w[4], st_w[5], st_w[6], st_w[7]);
#pragma unroll
        for (int l = 0; l < kXLoads; ++l) *reinterpret_cast<uint4*>(&b_tile[buf][x_ld + 32 * l][8 * x_quarter]) = st_x[l];
    };

    stage(0);
    store(0);
    __syncthreads();
    const int n_steps = (int)(n_in / kBK);
    for (int step = 0; step < n_steps; ++step) {
        const int buf = step % 2;
        if (step + 1 < n_steps) stage((int64_t)(step + 1) * kBK);
#pragma unroll
        for (int kk = 0; kk < kBK; kk += 16) {
            uint32_t a[4], b[kNTiles / 2][4];
            ldmatrix_x4(a, &a_tile[buf][warp * 16 + (lane % 8) + 8 * ((lane / 8) % 2)][kk + 8 * (lane / 16)]);
#pragma unroll
            for (int j = 0; j < kNTiles / 2; ++j)
                ldmatrix_x4(b[j], &b_tile[buf][j * 16 + (lane % 8) + 8 * (lane / 16)][kk + 8 * ((lane / 8) % 2)]);
#pragma unroll
            for (int j = 0; j < kNTiles; ++j)
                mma_16816<kBf16>(acc[j], a, b[j / 2][2 * (j % 2)], b[j / 2][2 * (j % 2) + 1]);
        }
        if (step + 1 < n_steps) store(buf ^ 1);
        __syncthreads();
    }

#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int64_t o = row0 + warp * 16 + lane / 4 + 8 * (k / 2);
            const int64_t t = 8 * j + 2 * (lane % 4) + (k % 2);
            if (o < rows_per_expert && tok0 + t < n_rows) y[(r0 + t) * rows_per_expert + o] = acc[j][k];
        }
}

}  // namespace

void moe_gemm(const DeviceWeight& stack, int64_t n_expert, int64_t n_tokens, int64_t n_used, const ExpertGroups& groups,
              const uint16_t* x_half, float* y, StreamHandle stream, const int32_t* x_rows) {
    const int64_t rows_per_expert = expert_rows(stack, n_expert);
    if (stack.n_in % kBK != 0) fail(stack.name, "expert GEMM needs n_in a multiple of 32, got " + std::to_string(stack.n_in));
    if (n_tokens <= 0 || n_used <= 0) return;
    const ExpertGemmGrid g = expert_gemm_grid(rows_per_expert, kRows, n_expert, n_tokens, n_used);
    const dim3 grid = g.grid;
    const bool wide = g.tile_tokens == 64;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const uint8_t* w = stack.data.as<uint8_t>();
    const bool known = dispatch_type(stack.type, [&]<TypeId T>() {
        constexpr bool kBf16 = T == TypeId::BF16;
        if (wide)
            moe_gemm_kernel<T, kBf16, 64><<<grid, kThreads, 0, s>>>(w, stack.row_bytes, stack.n_in, rows_per_expert,
                                                                    groups, x_half, x_rows, y);
        else
            moe_gemm_kernel<T, kBf16, 32><<<grid, kThreads, 0, s>>>(w, stack.row_bytes, stack.n_in, rows_per_expert,
                                                                    groups, x_half, x_rows, y);
    });
    if (!known) fail(stack.name, std::string("no CUDA expert GEMM for type ") + quant::traits(stack.type).name);
    check_last_launch(("moe_gemm " + stack.name).c_str());
}

}  // namespace shootout::cuda
