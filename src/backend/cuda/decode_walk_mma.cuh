// The key walk of the one-token decode attention (attention_decode.cu, attention_decode_kernel) on the
// tensor cores: the G query heads of a KV head are the rows of an m16n8k16 tile (padded to 16), a
// warp takes 16 keys at a time, S = Q K^T and O += P V are mma.sync with F32 sums. On the CUDA cores
// every lane scored its key against every head and summed V per head: ~G * 32 FMAs and a dozen
// shuffles a lane per 8 keys, which made the split attention instruction-bound (ncu, 8B at 4096
// positions: 25 % occupancy, a third of the stalls on shuffles and shared loads).
//
// No shared memory: each lane loads its operands straight from the cache with 16-byte loads, which
// works because the order of a dot product's terms is free. In S the head dimensions are permuted
// (k-step 2m + h, fragment column pair {2c, 2c + 1} / {2c + 8, 2c + 9} of lane c = lane % 4 are dims
// 32m + 8c + 4h + {0, 1} / {2, 3}), so a lane's B operands for all k-steps of a key are 16-byte
// pieces of that key's row, and q's A fragments are built with the same permutation. In P V the
// output dims are permuted (n-tile 8u + i, column n is dim 64u + 8n + i), so a lane's B operand (dim
// n = lane / 4 of four keys) comes from one 16-byte piece of each key's row, two keys' halves joined
// by a byte permute. Arithmetic: K and V the cache's F16; q and the probabilities as hi + lo F16
// pairs (below); scores, softmax and sums F32, as the CUDA-core walk and the CPU.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/mma_tiles.cuh"

namespace shootout::cuda {

// mma.sync m16n8k16 on the top 8 rows only (rows 8..15 of A are zeros, their sums not kept): the
// accumulators of G <= 8 heads take half the registers.
__device__ __forceinline__ void mma_16816_top(float (&c)[2], uint32_t a0, uint32_t a2, uint32_t b0, uint32_t b1) {
    [[maybe_unused]] float unused0, unused1;
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%10,%10};\n"
        : "+f"(c[0]), "+f"(c[1]), "=f"(unused0), "=f"(unused1)
        : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1), "f"(0.f));
}

// Keys a warp takes at a time: two n-tiles of S, one k-step of P V.
constexpr int kMmaWalkKeys = 16;

// A warp's operands of one 16-key tile: K rows p0 + 8j + r, pieces m; V rows p0 + 2c + {0, 1, 8, 9},
// pieces u (lane (r, c) = (lane / 4, lane % 4)).
template <int HD>
struct MmaTile {
    uint4 kx[2][HD / 32], vx[4][HD / 64];
};

// Loads the tile at key p0 of KV head kv_head: every load at once (one memory round trip). Keys at
// or past key_end read as zeros (the cache there may hold anything, and a zero probability times a
// NaN is a NaN).
template <int HD>
__device__ __forceinline__ void load_mma_tile(const __half* k_cache, const __half* v_cache, int64_t kv_row, int kv_head,
                                              int64_t p0, int64_t key_end, MmaTile<HD>& t) {
    const int lane = threadIdx.x % 32, r = lane / 4, c = lane % 4;
    const __half* k_head = k_cache + (int64_t)kv_head * HD;
    const __half* v_head = v_cache + (int64_t)kv_head * HD;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
        const int64_t key = p0 + 8 * j + r;
#pragma unroll
        for (int m = 0; m < HD / 32; ++m)
            t.kx[j][m] = key < key_end ? *reinterpret_cast<const uint4*>(k_head + key * kv_row + 32 * m + 8 * c)
                                       : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int64_t key = p0 + 2 * c + (i & 1) + 8 * (i >> 1);
#pragma unroll
        for (int u = 0; u < HD / 64; ++u)
            t.vx[i][u] = key < key_end ? *reinterpret_cast<const uint4*>(v_head + key * kv_row + 64 * u + 8 * r)
                                       : make_uint4(0, 0, 0, 0);
    }
}

// Puts the new position's key and value (F16 rows in shared memory, as stored in the cache) into a
// tile loaded without them: the lanes that hold key `at`.
template <int HD>
__device__ __forceinline__ void patch_mma_tile(int64_t p0, int64_t at, const __half* k_new_s, const __half* v_new_s,
                                               MmaTile<HD>& t) {
    const int lane = threadIdx.x % 32, r = lane / 4, c = lane % 4;
#pragma unroll
    for (int j = 0; j < 2; ++j)
        if (p0 + 8 * j + r == at)
#pragma unroll
            for (int m = 0; m < HD / 32; ++m) t.kx[j][m] = *reinterpret_cast<const uint4*>(k_new_s + 32 * m + 8 * c);
#pragma unroll
    for (int i = 0; i < 4; ++i)
        if (p0 + 2 * c + (i & 1) + 8 * (i >> 1) == at)
#pragma unroll
            for (int u = 0; u < HD / 64; ++u) t.vx[i][u] = *reinterpret_cast<const uint4*>(v_new_s + 64 * u + 8 * r);
}

// Walks keys [key_begin, key_end) of KV head kv_head, warp w taking the 16-key tiles w, w + W, ...,
// and leaves the warp's softmax state in part_m[w][g] (running max), part_l[w][g] (sum of
// e^(s - max)) and part_acc[w][g][dim] (sum of e^(s - max) v) for heads g < G. q_s: the G queries,
// F32. A warp without keys leaves max -inf and zero sums. With kFirstLoaded, `first` is the warp's
// first tile (at key_begin + 16 w), already loaded (load_mma_tile) by the caller; otherwise unused.
template <int HD, int G, int W, bool kFirstLoaded>
__device__ __forceinline__ void decode_walk_mma(const __half* k_cache, const __half* v_cache, int64_t kv_row,
                                                int kv_head, int64_t key_begin, int64_t key_end, float scale,
                                                const float (&q_s)[G][HD], float (&part_acc)[W][G][HD],
                                                float (&part_m)[W][G], float (&part_l)[W][G],
                                                const MmaTile<HD>& first) {
    static_assert(HD % 64 == 0 && G <= 16, "16-byte pieces of 64-dim groups; the heads fit 16 rows");
    // Past head_dim 128 the tile's loads and accumulators take ~190 registers a lane, so q's fragments
    // are read from shared memory at each use instead of held (for up to 8 heads: 16 rows' fragments
    // would double them). They sit in part_acc's space, which the walk writes only at its end.
    constexpr bool kQShared = HD > 128;
    constexpr int kSteps = HD / 16;   // k-steps of S
    constexpr int kGroups = HD / 64;  // 8-n-tile groups of P V (a 16-byte piece of each of 4 keys)
    constexpr bool kTall = G > 8;     // rows 8..15 hold heads (otherwise zeros, not computed)
    static_assert(!(kQShared && kTall), "head_dim 256 takes at most 8 heads a KV head");
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int r = lane / 4, c = lane % 4;

    // q and the probabilities as hi + lo pairs of F16 (x - hi rounded again): the products with the
    // F16 cache are then those of F32 values to ~2^-22, so the decode keeps the CPU's F32 arithmetic
    // for twice the mma instructions. A plain F16 q and p would move outputs by ~1e-3 (not run: the
    // prompt kernels, which round them, sit 1.5-3.3e-3 from the CPU in test_cuda_attention), past the
    // decode tests' 1e-4.
    auto split = [](float a, float b, uint32_t& hi, uint32_t& lo) {
        const __half2 h = __floats2half2_rn(a, b);
        const float2 f = __half22float2(h);
        const __half2 l = __floats2half2_rn(a - f.x, b - f.y);
        hi = *reinterpret_cast<const uint32_t*>(&h);
        lo = *reinterpret_cast<const uint32_t*>(&l);
    };
    // Lane (r, c)'s fragments for k-step kk: rows r (registers 0, 2) and r + 8 (1, 3), hi and lo.
    auto build = [&](int kk, int rr, int cc, uint32_t (&hi)[4], uint32_t (&lo)[4]) {
        const int d = 32 * (kk / 2) + 8 * cc + 4 * (kk % 2);
#pragma unroll
        for (int i = 0; i < 4; ++i) hi[i] = lo[i] = 0u;
        if (rr < G) {
            split(q_s[rr][d], q_s[rr][d + 1], hi[0], lo[0]);
            split(q_s[rr][d + 2], q_s[rr][d + 3], hi[2], lo[2]);
        }
        if (kTall && rr + 8 < G) {
            split(q_s[rr + 8][d], q_s[rr + 8][d + 1], hi[1], lo[1]);
            split(q_s[rr + 8][d + 2], q_s[rr + 8][d + 3], hi[3], lo[3]);
        }
    };
    constexpr int kHeld = kQShared ? 1 : kSteps;
    uint32_t qa[kHeld][4], ql[kHeld][4];
    uint4* q_frag = reinterpret_cast<uint4*>(&part_acc[0][0][0]);  // kQShared: [kk][lane] {hi0, hi2, lo0, lo2}
    if constexpr (kQShared) {
        static_assert(kSteps * 32 * sizeof(uint4) <= sizeof(part_acc), "q's fragments fit in part_acc");
        for (int i = threadIdx.x; i < kSteps * 32; i += W * 32) {
            uint32_t hi[4], lo[4];
            build(i / 32, (i % 32) / 4, i % 4, hi, lo);
            q_frag[i] = make_uint4(hi[0], hi[2], lo[0], lo[2]);
        }
        __syncthreads();
    } else {
#pragma unroll
        for (int kk = 0; kk < kSteps; ++kk) build(kk, r, c, qa[kk], ql[kk]);
    }
    constexpr int kAcc = kTall ? 4 : 2;  // accumulators a lane per n-tile
    float o[HD / 8][kAcc];
#pragma unroll
    for (int t = 0; t < HD / 8; ++t)
#pragma unroll
        for (int e = 0; e < kAcc; ++e) o[t][e] = 0.f;
    float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.f, l_hi = 0.f;  // l: this lane's part of the sum

    auto step = [&](const MmaTile<HD>& tile, int64_t p0) {
        const auto& kx = tile.kx;
        const auto& vx = tile.vx;
        // S: n-tile j holds keys p0 + 8j + n; the lane's columns are n = 2c, 2c + 1.
        float s[2][4];
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < kSteps; ++kk) {
                const uint32_t* w = reinterpret_cast<const uint32_t*>(&kx[j][kk / 2]);
                const uint32_t b0 = w[2 * (kk % 2)], b1 = w[2 * (kk % 2) + 1];
                if constexpr (kQShared) {
                    const uint4 f = q_frag[kk * 32 + lane];
                    float(&top)[2] = *reinterpret_cast<float(*)[2]>(&s[j][0]);
                    mma_16816_top(top, f.x, f.y, b0, b1);
                    mma_16816_top(top, f.z, f.w, b0, b1);
                } else if constexpr (kTall) {
                    mma_16816<false>(s[j], qa[kk], b0, b1);
                    mma_16816<false>(s[j], ql[kk], b0, b1);
                } else {
                    float(&top)[2] = *reinterpret_cast<float(*)[2]>(&s[j][0]);
                    mma_16816_top(top, qa[kk][0], qa[kk][2], b0, b1);
                    mma_16816_top(top, ql[kk][0], ql[kk][2], b0, b1);
                }
            }
        }
        float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const bool in = p0 + 8 * j + 2 * c + e < key_end;
                s[j][e] = in ? s[j][e] * scale : -INFINITY;
                s[j][2 + e] = in ? s[j][2 + e] * scale : -INFINITY;
                mx_lo = fmaxf(mx_lo, s[j][e]);
                mx_hi = fmaxf(mx_hi, s[j][2 + e]);
            }
#pragma unroll
        for (int off = 1; off < 4; off <<= 1) {
            mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, off));
            if constexpr (kTall) mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, off));
        }
        // Finite: key p0 is in the range.
        const float mn_lo = fmaxf(m_lo, mx_lo), mn_hi = fmaxf(m_hi, mx_hi);
        const float corr_lo = expf(m_lo - mn_lo), corr_hi = kTall ? expf(m_hi - mn_hi) : 1.f;
        m_lo = mn_lo;
        m_hi = mn_hi;
        // P as the A operand of the k-step (keys p0 + k): registers 0 / 1 from n-tile 0 (rows r, r + 8),
        // 2 / 3 from n-tile 1.
        uint32_t pa[4], pl[4];
        float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            const float p0v = expf(s[j][0] - mn_lo), p1v = expf(s[j][1] - mn_lo);
            sum_lo += p0v + p1v;
            split(p0v, p1v, pa[2 * j], pl[2 * j]);
            if constexpr (kTall) {
                const float p2v = expf(s[j][2] - mn_hi), p3v = expf(s[j][3] - mn_hi);
                sum_hi += p2v + p3v;
                split(p2v, p3v, pa[2 * j + 1], pl[2 * j + 1]);
            } else {
                pa[2 * j + 1] = pl[2 * j + 1] = 0u;
            }
        }
        l_lo = l_lo * corr_lo + sum_lo;
        l_hi = l_hi * corr_hi + sum_hi;
        // O += P V: n-tile 8u + i, B operand {V[key 2c][dim], V[key 2c + 1][dim]} and {keys 2c + 8, 2c + 9}
        // for dim 64u + 8r + i: half i of the lane's pieces of those keys.
#pragma unroll
        for (int u = 0; u < kGroups; ++u) {
            const uint32_t* v0 = reinterpret_cast<const uint32_t*>(&vx[0][u]);
            const uint32_t* v1 = reinterpret_cast<const uint32_t*>(&vx[1][u]);
            const uint32_t* v8 = reinterpret_cast<const uint32_t*>(&vx[2][u]);
            const uint32_t* v9 = reinterpret_cast<const uint32_t*>(&vx[3][u]);
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const unsigned sel = i % 2 ? 0x7632u : 0x5410u;  // high or low halves of the two words
                const uint32_t b0 = __byte_perm(v0[i / 2], v1[i / 2], sel);
                const uint32_t b1 = __byte_perm(v8[i / 2], v9[i / 2], sel);
                float(&acc)[kAcc] = o[8 * u + i];
                acc[0] *= corr_lo;
                acc[1] *= corr_lo;
                if constexpr (kTall) {
                    acc[2] *= corr_hi;
                    acc[3] *= corr_hi;
                    mma_16816<false>(acc, pa, b0, b1);
                    mma_16816<false>(acc, pl, b0, b1);
                } else {
                    mma_16816_top(acc, pa[0], pa[2], b0, b1);
                    mma_16816_top(acc, pl[0], pl[2], b0, b1);
                }
            }
        }
    };
    int64_t p0 = key_begin + (int64_t)warp * kMmaWalkKeys;
    if constexpr (kFirstLoaded) {
        if (p0 < key_end) step(first, p0);
        p0 += (int64_t)W * kMmaWalkKeys;
    }
    for (; p0 < key_end; p0 += (int64_t)W * kMmaWalkKeys) {
        MmaTile<HD> tile;
        load_mma_tile<HD>(k_cache, v_cache, kv_row, kv_head, p0, key_end, tile);
        step(tile, p0);
    }
    // The row sums over the quad, then the warp's state: o[8u + i][e] is row r (+ 8 for e >= 2),
    // dim 64u + 8 (2c + e % 2) + i.
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        l_lo += __shfl_xor_sync(0xffffffffu, l_lo, off);
        if constexpr (kTall) l_hi += __shfl_xor_sync(0xffffffffu, l_hi, off);
    }
    if constexpr (kQShared) __syncthreads();  // every warp has read q's fragments from part_acc's space
#pragma unroll
    for (int t = 0; t < HD / 8; ++t) {
        const int d = 64 * (t / 8) + 16 * c + t % 8;
        if (r < G) {
            part_acc[warp][r][d] = o[t][0];
            part_acc[warp][r][d + 8] = o[t][1];
        }
        if constexpr (kTall) {
            if (r + 8 < G) {
                part_acc[warp][r + 8][d] = o[t][2];
                part_acc[warp][r + 8][d + 8] = o[t][3];
            }
        }
    }
    if (c == 0) {
        if (r < G) {
            part_m[warp][r] = m_lo;
            part_l[warp][r] = l_lo;
        }
        if (kTall && r + 8 < G) {
            part_m[warp][r + 8] = m_hi;
            part_l[warp][r + 8] = l_hi;
        }
    }
}

}  // namespace shootout::cuda
