// Prefill products y = W x on the tensor cores (mma.sync m16n8k16, F32 accumulation). Each block
// computes 128 (or 64) weight rows x 128 tokens; per k-step of 32 its 256 threads dequantize one 128 x 32 weight
// tile (one legacy block or one K-quant sub-block per row) and convert one 128 x 32 activation tile into
// shared memory as F16 (BF16 for BF16 weights), double-buffered so the next tile's loads overlap the
// current tile's products. The weights are read once per 128 tokens; the dequantization is fused, so
// no F16 copy of the weights ever reaches device memory.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/quant_blocks.cuh"

namespace shootout::cuda {
namespace {

// Weight rows per block: 128, or 64 when 128-row tiles would leave SMs idle (few tiles: n_tokens
// near 512, narrow matrices).
constexpr int kBN = 128;       // tokens per block
constexpr int kBK = 32;        // reduction step
constexpr int kPad = 8;        // halves of padding per shared row: rows 80 bytes apart, ldmatrix conflict-free
constexpr int kStride = kBK + kPad;
constexpr int kThreads = 256;  // 8 warps: 2 along M (kBM/2 rows each) x 4 along N (32 tokens each)

// Registers holding one thread's share of the next k-step: 16 weights and 16 activations, packed.
struct Staged {
    uint32_t w[8];
    uint32_t x[8];
};

template <TypeId T, bool kBf16>
__device__ __forceinline__ void stage(Staged& st, const uint8_t* w_row, bool w_loader, const float* x_row,
                                      bool x_valid, int64_t e0) {
    if (w_loader) {
        float v[16];
        Dequant16<T>::run(w_row, e0, v);
#pragma unroll
        for (int i = 0; i < 8; ++i) st.w[i] = Compute<kBf16>::pack(v[2 * i], v[2 * i + 1]);
    }
    if (x_valid) {
        const float4* xp = reinterpret_cast<const float4*>(x_row + e0);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float4 f = xp[i];
            st.x[2 * i] = Compute<kBf16>::pack(f.x, f.y);
            st.x[2 * i + 1] = Compute<kBf16>::pack(f.z, f.w);
        }
    } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) st.x[i] = 0;  // tokens past the end multiply as zeros
    }
}

template <TypeId T, bool kBf16, int kBM>
__global__ void __launch_bounds__(kThreads, 2)
gemm_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_in, int64_t n_out,
            const float* __restrict__ x, int64_t n_tokens, float* __restrict__ y) {
    using CT = typename Compute<kBf16>::T;
    __shared__ __align__(16) CT a_tile[2][kBM][kStride];  // weights: row, k
    __shared__ __align__(16) CT b_tile[2][kBN][kStride];

    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int warp_m = warp / 4, warp_n = warp % 4;
    constexpr int kMT = kBM / 32;  // m16 tiles per warp
    const int64_t row0 = (int64_t)blockIdx.x * kBM, tok0 = (int64_t)blockIdx.y * kBN;

    // This thread stages half (16 of 32) of one token and, while ld_row < kBM, of one weight row per k-step.
    const int ld_row = tid / 2, ld_half = tid % 2;
    const bool w_loader = ld_row < kBM;
    const int64_t w_row_idx = min(row0 + ld_row, n_out - 1);  // rows past the end: computed, never stored
    const uint8_t* w_row = w + w_row_idx * row_bytes;
    const bool x_valid = tok0 + ld_row < n_tokens;
    const float* x_row = x + (x_valid ? (tok0 + ld_row) * n_in : 0);

    float acc[kMT][4][4];  // [m16 tile][n8 tile][fragment]
#pragma unroll
    for (int i = 0; i < kMT; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int k = 0; k < 4; ++k) acc[i][j][k] = 0.f;

    auto store = [&](const Staged& st, int buf) {
        if (w_loader) {
            uint4* a_dst = reinterpret_cast<uint4*>(&a_tile[buf][ld_row][16 * ld_half]);
            a_dst[0] = make_uint4(st.w[0], st.w[1], st.w[2], st.w[3]);
            a_dst[1] = make_uint4(st.w[4], st.w[5], st.w[6], st.w[7]);
        }
        uint4* b_dst = reinterpret_cast<uint4*>(&b_tile[buf][ld_row][16 * ld_half]);
        b_dst[0] = make_uint4(st.x[0], st.x[1], st.x[2], st.x[3]);
        b_dst[1] = make_uint4(st.x[4], st.x[5], st.x[6], st.x[7]);
    };

    Staged st;
    stage<T, kBf16>(st, w_row, w_loader, x_row, x_valid, 16 * ld_half);
    store(st, 0);
    __syncthreads();

    const int n_steps = (int)(n_in / kBK);
    for (int step = 0; step < n_steps; ++step) {
        const int buf = step % 2;
        if (step + 1 < n_steps)
            stage<T, kBf16>(st, w_row, w_loader, x_row, x_valid, (int64_t)(step + 1) * kBK + 16 * ld_half);
#pragma unroll
        for (int kk = 0; kk < kBK; kk += 16) {
            uint32_t a[kMT][4], b[2][4];
#pragma unroll
            for (int i = 0; i < kMT; ++i) {
                const int r = warp_m * (kBM / 2) + i * 16 + (lane % 8) + 8 * ((lane / 8) % 2);
                ldmatrix_x4(a[i], &a_tile[buf][r][kk + 8 * (lane / 16)]);
            }
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                const int n = warp_n * 32 + j * 16 + (lane % 8) + 8 * (lane / 16);
                ldmatrix_x4(b[j], &b_tile[buf][n][kk + 8 * ((lane / 8) % 2)]);
            }
#pragma unroll
            for (int i = 0; i < kMT; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    mma_16816<kBf16>(acc[i][j], a[i], b[j / 2][2 * (j % 2)], b[j / 2][2 * (j % 2) + 1]);
        }
        if (step + 1 < n_steps) store(st, buf ^ 1);
        __syncthreads();
    }

    // Fragment (i, j): rows warp_m*kBM/2 + 16i + lane/4 (+8), tokens warp_n*32 + 8j + 2(lane%4) (+1).
#pragma unroll
    for (int i = 0; i < kMT; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                const int64_t o = row0 + warp_m * (kBM / 2) + 16 * i + lane / 4 + 8 * (k / 2);
                const int64_t t = tok0 + warp_n * 32 + 8 * j + 2 * (lane % 4) + (k % 2);
                if (o < n_out && t < n_tokens) y[t * n_out + o] = acc[i][j][k];
            }
}

}  // namespace

void gemm(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, StreamHandle stream, GemmTile tile) {
    if (n_tokens < 1) fail(w.name, "gemm needs at least one token");
    if (w.n_in % kBK != 0) fail(w.name, "gemm needs n_in a multiple of 32, got " + std::to_string(w.n_in));
    static const int n_sms = device_info(0).multiprocessors;
    const int64_t token_tiles = (n_tokens + kBN - 1) / kBN;
    // Two resident blocks per SM: with fewer 128-row tiles than that, halve the tile height.
    const bool small = tile == GemmTile::Rows64 ||
                       (tile == GemmTile::Auto && ((w.n_out + 127) / 128) * token_tiles < 2 * n_sms);
    const int bm = small ? 64 : 128;
    const dim3 grid((unsigned)((w.n_out + bm - 1) / bm), (unsigned)token_tiles);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const bool known = dispatch_type(w.type, [&]<TypeId T>() {
        constexpr bool kBf16 = T == TypeId::BF16;
        if (small)
            gemm_kernel<T, kBf16, 64><<<grid, kThreads, 0, s>>>(w.data.as<uint8_t>(), w.row_bytes, w.n_in, w.n_out, x,
                                                               n_tokens, y);
        else
            gemm_kernel<T, kBf16, 128><<<grid, kThreads, 0, s>>>(w.data.as<uint8_t>(), w.row_bytes, w.n_in, w.n_out,
                                                                x, n_tokens, y);
    });
    if (!known) fail(w.name, std::string("no CUDA gemm for type ") + quant::traits(w.type).name);
    check_last_launch(("gemm " + w.name).c_str());
}

}  // namespace shootout::cuda
