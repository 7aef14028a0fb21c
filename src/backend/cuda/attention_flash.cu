// Prompt attention in one kernel on the tensor cores (flash attention: the scores never leave the
// chip). attention_gemm.cu's cuBLAS path writes every head's score matrix to memory and reads it back
// twice (F32 scores, F16 probabilities): at 512 tokens over a 4096-token cache that is ~0.9 GB a
// layer of Qwen3-30B-A3B, and its prompt rate there was 0.83x llama.cpp's (H100, session 8).
//
// A block takes one query head and 64 query tokens (4 warps x 16 rows) and walks the keys in tiles
// of 64 (32 at head_dim 256): K and V rows staged in shared memory by cp.async, double-buffered (the next tile's copies
// are in flight while this one is used; single-buffered, 30B-A3B's pp512 over a 16384-token cache
// ran at 0.93x llama.cpp's), rows padded by 8 halves so the fragment loads hit 32 banks. Per warp:
// S = Q K^T as mma.sync m16n8k16 (q rounded to F16 as the cuBLAS path does, F32 accumulation), the
// causal mask and an online softmax on the accumulators (a row's 64 scores sit on the 4 lanes of a
// quad), then O += P V with P rounded to F16 straight from the score accumulators (their layout is
// the A operand's) and V through ldmatrix.trans. At head_dim 256 (Qwen3-Next's gated attention) the
// O accumulators alone take 128 registers a lane, so q's fragments (64 more) are read from a shared
// copy at each k-step instead of held, and the key tiles are halved (the score and probability
// fragments, and the shared tiles: 2 blocks an SM in ~99 KB each). Arithmetic as the cuBLAS path: F16 q, K, V and
// probabilities, F32 sums; the probabilities are rounded before the division by the row sum here,
// after it there (both 2^-12 relative).
#include <cuda_fp16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/ops_kernels.h"
#include "util/env.h"

namespace shootout::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kRows = 16 * kWarps;  // query tokens a block
template <int HD> constexpr int kKeys = HD <= 128 ? 64 : 32;  // keys a tile
template <int HD> constexpr bool kQShared = HD > 128;         // q's fragments from shared memory

// Two K and two V tiles of kKeys rows of HD + 8 halves, then (kQShared) the block's q rows as F16.
template <int HD>
constexpr size_t flash_shared_bytes() {
    return (4 * (size_t)kKeys<HD> + (kQShared<HD> ? kRows : 0)) * (HD + 8) * sizeof(__half);
}

__device__ __forceinline__ uint32_t pack_half2(float a, float b) { return Compute<false>::pack(a, b); }

template <int HD>
__global__ void __launch_bounds__(kWarps * 32)
attention_flash_kernel(const __half* __restrict__ k_cache, const __half* __restrict__ v_cache,
                       const float* __restrict__ q, int64_t n_tokens, int64_t pos0, int n_head, int n_head_kv,
                       float scale, float* __restrict__ out) {
    constexpr int kPad = HD + 8;          // halves a shared row (272 B at HD 128: 68 words, conflict-free)
    constexpr int kSteps = HD / 16;       // k-steps of Q K^T
    constexpr int kDimTiles = HD / 8;     // n-tiles of O
    constexpr int kTileKeys = kKeys<HD>;
    constexpr int kKeyTiles = kTileKeys / 8;  // n-tiles of S
    extern __shared__ __align__(16) unsigned char flash_smem[];  // flash_shared_bytes<HD>()
    auto ks_buf = reinterpret_cast<__half(*)[kTileKeys][kPad]>(flash_smem);      // [2]: K tiles
    auto vs_buf = reinterpret_cast<__half(*)[kTileKeys][kPad]>(flash_smem) + 2;  // [2]: V tiles
    auto q_s = reinterpret_cast<__half(*)[kPad]>(flash_smem + 4 * (size_t)kTileKeys * kPad * sizeof(__half));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int head = blockIdx.y, kv_head = head / (n_head / n_head_kv);
    const int64_t t0 = (int64_t)blockIdx.x * kRows;
    const int64_t q_ld = (int64_t)n_head * HD, kv_ld = (int64_t)n_head_kv * HD;
    const int r = lane / 4, c = (lane % 4) * 2;  // fragment row and column pair
    // The thread's two query rows; a row past the chunk repeats its last one (not written).
    const int64_t row_lo = t0 + warp * 16 + r, row_hi = row_lo + 8;
    const int64_t t_lo = row_lo < n_tokens ? row_lo : n_tokens - 1, t_hi = row_hi < n_tokens ? row_hi : n_tokens - 1;
    const int64_t p_lo = pos0 + t_lo, p_hi = pos0 + t_hi;  // their positions: keys 0..p are seen

    // Q as A fragments (row-major 16 x 16 a k-step): {row r, cols c, c+1}, {r+8, ..}, {r, c+8, c+9}, {r+8, ..};
    // held in registers, or (kQShared) the warp's 16 rows stored as F16 (the same rounding) and each
    // k-step's fragment read back (rows 264 halves apart: the quad's words fall on 32 banks).
    [[maybe_unused]] uint32_t qa[kQShared<HD> ? 1 : kSteps][4];
    if constexpr (kQShared<HD>) {
        for (int i = lane; i < 16 * HD / 2; i += 32) {
            const int row = i / (HD / 2), col = 2 * (i % (HD / 2));
            const int64_t t = t0 + warp * 16 + row;
            const float2 v = *reinterpret_cast<const float2*>(q + (t < n_tokens ? t : n_tokens - 1) * q_ld +
                                                              (int64_t)head * HD + col);
            *reinterpret_cast<uint32_t*>(&q_s[warp * 16 + row][col]) = pack_half2(v.x, v.y);
        }
        __syncwarp();
    } else {
        const float* q_lo = q + t_lo * q_ld + (int64_t)head * HD;
        const float* q_hi = q + t_hi * q_ld + (int64_t)head * HD;
#pragma unroll
        for (int kk = 0; kk < kSteps; ++kk) {
            const float2 a = *reinterpret_cast<const float2*>(q_lo + 16 * kk + c);
            const float2 b = *reinterpret_cast<const float2*>(q_hi + 16 * kk + c);
            const float2 a8 = *reinterpret_cast<const float2*>(q_lo + 16 * kk + c + 8);
            const float2 b8 = *reinterpret_cast<const float2*>(q_hi + 16 * kk + c + 8);
            qa[kk][0] = pack_half2(a.x, a.y);
            qa[kk][1] = pack_half2(b.x, b.y);
            qa[kk][2] = pack_half2(a8.x, a8.y);
            qa[kk][3] = pack_half2(b8.x, b8.y);
        }
    }
    auto q_fragment = [&](int kk, uint32_t(&f)[4]) {
        if constexpr (kQShared<HD>) {
            const __half* lo = &q_s[warp * 16 + r][16 * kk + c];
            f[0] = *reinterpret_cast<const uint32_t*>(lo);
            f[1] = *reinterpret_cast<const uint32_t*>(lo + 8 * kPad);
            f[2] = *reinterpret_cast<const uint32_t*>(lo + 8);
            f[3] = *reinterpret_cast<const uint32_t*>(lo + 8 * kPad + 8);
        } else {
#pragma unroll
            for (int i = 0; i < 4; ++i) f[i] = qa[kk][i];
        }
    };
    float o[kDimTiles][4];
#pragma unroll
    for (int d = 0; d < kDimTiles; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
    float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.f, l_hi = 0.f;  // l: this lane's part of the row sum

    const int64_t last = (t0 + kRows < n_tokens ? t0 + kRows : n_tokens) - 1;
    const int64_t n_kv = pos0 + last + 1;  // keys the block's last row sees
    // Tile kv0's copies into buffer b, as one commit group (an empty group past the last tile keeps
    // the count of groups in flight the same every iteration).
    auto stage = [&](int64_t kv0, int b) {
        if (kv0 < n_kv) {
            for (int i = threadIdx.x; i < kTileKeys * HD / 8; i += kWarps * 32) {
                const int row = i / (HD / 8), col = (i % (HD / 8)) * 8;
                const int64_t key = kv0 + row;
                if (key < n_kv) {
                    copy16(&ks_buf[b][row][col], k_cache + key * kv_ld + (int64_t)kv_head * HD + col);
                    copy16(&vs_buf[b][row][col], v_cache + key * kv_ld + (int64_t)kv_head * HD + col);
                } else {  // zeros: a masked key's value row is multiplied by 0, which must not meet a NaN
                    *reinterpret_cast<uint4*>(&ks_buf[b][row][col]) = make_uint4(0, 0, 0, 0);
                    *reinterpret_cast<uint4*>(&vs_buf[b][row][col]) = make_uint4(0, 0, 0, 0);
                }
            }
        }
        copy_commit();
    };
    stage(0, 0);
    int buf = 0;
    for (int64_t kv0 = 0; kv0 < n_kv; kv0 += kTileKeys, buf ^= 1) {
        // The next tile into the other buffer (every warp finished reading it: the barrier at the end
        // of the previous iteration), then wait for this one.
        stage(kv0 + kTileKeys, buf ^ 1);
        copy_wait_groups<1>();
        __syncthreads();
        const __half(*ks)[kPad] = ks_buf[buf];
        const __half(*vs)[kPad] = vs_buf[buf];

        // S = Q K^T for the warp's 16 rows and the tile's keys (kKeyTiles n-tiles). B operand {k = dim c,
        // c+1; n = key r}: two consecutive halves of key row 8j + r.
        float s[kKeyTiles][4];
#pragma unroll
        for (int j = 0; j < kKeyTiles; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < kSteps; ++kk) {
            uint32_t qf[4];
            q_fragment(kk, qf);
#pragma unroll
            for (int j = 0; j < kKeyTiles; ++j) {
                const __half* kr = &ks[8 * j + r][16 * kk + c];
                const uint32_t b0 = *reinterpret_cast<const uint32_t*>(kr);
                const uint32_t b1 = *reinterpret_cast<const uint32_t*>(kr + 8);
                mma_16816<false>(s[j], qf, b0, b1);
            }
        }
        // Scale, mask (key > position, or past the chunk's keys), and the rows' maxima over the quad.
        float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
        for (int j = 0; j < kKeyTiles; ++j) {
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int64_t key = kv0 + 8 * j + c + e;
                s[j][e] = key <= p_lo ? s[j][e] * scale : -INFINITY;
                s[j][2 + e] = key <= p_hi ? s[j][2 + e] * scale : -INFINITY;
                mx_lo = fmaxf(mx_lo, s[j][e]);
                mx_hi = fmaxf(mx_hi, s[j][2 + e]);
            }
        }
#pragma unroll
        for (int off = 1; off < 4; off <<= 1) {
            mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, off));
            mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, off));
        }
        // Finite: key 0 is in the first tile for every row, and later tiles keep the running maximum.
        const float mn_lo = fmaxf(m_lo, mx_lo), mn_hi = fmaxf(m_hi, mx_hi);
        const float corr_lo = expf(m_lo - mn_lo), corr_hi = expf(m_hi - mn_hi);
        m_lo = mn_lo;
        m_hi = mn_hi;
        // P = e^(s - m) as A fragments of P V: k-step kk covers n-tiles 2 kk (registers 0, 1: rows r,
        // r + 8) and 2 kk + 1 (registers 2, 3).
        uint32_t pa[kTileKeys / 16][4];
        float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
        for (int j = 0; j < kKeyTiles; ++j) {
            const float p0 = expf(s[j][0] - mn_lo), p1 = expf(s[j][1] - mn_lo);
            const float p2 = expf(s[j][2] - mn_hi), p3 = expf(s[j][3] - mn_hi);
            sum_lo += p0 + p1;
            sum_hi += p2 + p3;
            pa[j / 2][(j % 2) * 2] = pack_half2(p0, p1);
            pa[j / 2][(j % 2) * 2 + 1] = pack_half2(p2, p3);
        }
        l_lo = l_lo * corr_lo + sum_lo;
        l_hi = l_hi * corr_hi + sum_hi;
#pragma unroll
        for (int d = 0; d < kDimTiles; ++d) {
            o[d][0] *= corr_lo;
            o[d][1] *= corr_lo;
            o[d][2] *= corr_hi;
            o[d][3] *= corr_hi;
        }
        // O += P V: a k-step of 16 keys against two n-tiles of 8 dimensions per ldmatrix.x4.trans
        // (matrix i: keys + 8 (i & 1), dimensions + 8 (i >> 1); this lane gives row lane % 8 of matrix lane / 8).
        const int mi = lane / 8, mr = lane % 8;
#pragma unroll
        for (int kk = 0; kk < kTileKeys / 16; ++kk) {
#pragma unroll
            for (int dp = 0; dp < kDimTiles / 2; ++dp) {
                uint32_t b[4];
                ldmatrix_x4_trans(b, &vs[16 * kk + (mi & 1) * 8 + mr][16 * dp + (mi >> 1) * 8]);
                mma_16816<false>(o[2 * dp], pa[kk], b[0], b[1]);
                mma_16816<false>(o[2 * dp + 1], pa[kk], b[2], b[3]);
            }
        }
        __syncthreads();  // every warp is done with this buffer before the next iteration refills it
    }
    // The row sums over the quad, then O / l into out[token][head][dim].
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        l_lo += __shfl_xor_sync(0xffffffffu, l_lo, off);
        l_hi += __shfl_xor_sync(0xffffffffu, l_hi, off);
    }
    const float inv_lo = 1.f / l_lo, inv_hi = 1.f / l_hi;
#pragma unroll
    for (int d = 0; d < kDimTiles; ++d) {
        if (row_lo < n_tokens)
            *reinterpret_cast<float2*>(out + row_lo * q_ld + (int64_t)head * HD + 8 * d + c) =
                make_float2(o[d][0] * inv_lo, o[d][1] * inv_lo);
        if (row_hi < n_tokens)
            *reinterpret_cast<float2*>(out + row_hi * q_ld + (int64_t)head * HD + 8 * d + c) =
                make_float2(o[d][2] * inv_hi, o[d][3] * inv_hi);
    }
}

}  // namespace

bool attention_flash_supports(const backend::AttentionShape& shape) {
    static const bool off = env_switched_off("SHOOTOUT_CUDA_FLASH");
    return !off && (shape.head_dim == 64 || shape.head_dim == 128 || shape.head_dim == 256) && shape.n_head_kv > 0 &&
           shape.n_head % shape.n_head_kv == 0;
}

void attention_prefill_flash(const uint16_t* k_cache, const uint16_t* v_cache, const float* q, int64_t n_tokens,
                             int64_t pos0, const backend::AttentionShape& shape, float scale, float* out,
                             StreamHandle stream) {
    if (n_tokens <= 0) return;
    if (!attention_flash_supports(shape))
        fail("attention", "the flash prompt kernel takes head_dim 64, 128 or 256, got " + std::to_string(shape.head_dim));
    const dim3 grid((unsigned)((n_tokens + kRows - 1) / kRows), (unsigned)shape.n_head);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const auto* kc = reinterpret_cast<const __half*>(k_cache);
    const auto* vc = reinterpret_cast<const __half*>(v_cache);
    auto go = [&]<int HD>() {
        // Past 48 KB of dynamic shared memory a kernel must say so once (HD 128: 68 KB, HD 256: 99 KB).
        static const bool sized = [] {
            SHOOTOUT_CUDA_CHECK(cudaFuncSetAttribute(attention_flash_kernel<HD>,
                                                     cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                     (int)flash_shared_bytes<HD>()));
            return true;
        }();
        (void)sized;
        attention_flash_kernel<HD><<<grid, kWarps * 32, flash_shared_bytes<HD>(), s>>>(
            kc, vc, q, n_tokens, pos0, (int)shape.n_head, (int)shape.n_head_kv, scale, out);
    };
    if (shape.head_dim == 64)
        go.template operator()<64>();
    else if (shape.head_dim == 128)
        go.template operator()<128>();
    else
        go.template operator()<256>();
    check_last_launch("attention (flash prompt)");
}

}  // namespace shootout::cuda
