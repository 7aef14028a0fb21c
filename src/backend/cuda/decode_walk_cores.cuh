// The key walk of the one-token decode attention (attention_decode.cu, attention_decode_kernel) on the CUDA
// cores, for every head size (head_dim 64 and 128 take decode_walk_mma.cuh unless
// SHOOTOUT_CUDA_DECODE_MMA=0): warp w takes the tiles w, w + W, ... of 1024 / HD keys, HD / 32 lanes
// a key, each lane scoring 32 of the key's dimensions against all G queries (broadcast from shared
// memory); the warp folds the tile into a running max and sum per head, and each lane accumulates V
// for its HD / 32 dimensions. Scores, softmax and sums F32 on the cache's F16 K and V, as the CPU.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace shootout::cuda {

// Keys a warp's tile: HD / 32 lanes a key.
template <int HD>
constexpr int kCoresWalkKeys = 32 / (HD / 32);

// Walks keys [key_begin, key_end) of KV head kv_head and leaves the warp's softmax state in
// part_m[w][g] (running max), part_l[w][g] (sum of e^(s - max)) and part_acc[w][g][dim] (sum of
// e^(s - max) v) for the G heads; a warp without keys leaves max -inf and zero sums. q_s: the G
// queries, F32.
template <int HD, int G, int W>
__device__ __forceinline__ void decode_walk_cores(const __half* k_cache, const __half* v_cache, int64_t kv_row,
                                                  int kv_head, int64_t key_begin, int64_t key_end, float scale,
                                                  const float (&q_s)[G][HD], float (&part_acc)[W][G][HD],
                                                  float (&part_m)[W][G], float (&part_l)[W][G]) {
    constexpr int kDims = HD / 32;                        // per lane
    constexpr int kR = HD / 32, kT = kCoresWalkKeys<HD>;  // lanes a key, keys a warp's tile
    __shared__ __align__(16) float pr_s[W][kT][G];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float m[G], l[G], acc[G][kDims];
#pragma unroll
    for (int g = 0; g < G; ++g) {
        m[g] = -INFINITY;
        l[g] = 0.f;
#pragma unroll
        for (int c = 0; c < kDims; ++c) acc[g][c] = 0.f;
    }
    // The key walk in tiles of kT keys a warp (warp w: tiles w, w + W, ...), kR lanes a key, each lane
    // scoring 32 of the key's dimensions: at the short contexts of a decode run every warp has keys
    // (32-key tiles left all but one warp idle below 33 positions: half the kernel's time was warps
    // waiting at its barriers, ncu), and a lane's four 16-byte key loads are all in flight at once.
    const int part = lane % kR, kt = lane / kR;
    for (int64_t p0 = key_begin + (int64_t)warp * kT; p0 < key_end; p0 += (int64_t)W * kT) {
        const int64_t p = p0 + kt;
        const int n_here = key_end - p0 < kT ? (int)(key_end - p0) : kT;  // >= 1
        // The tile's values first: their loads do not depend on the scores, so they are in flight
        // together with the keys' (one memory round trip a tile, not two). Summed in key order below.
        __half2 vh[kT][kDims / 2];
#pragma unroll
        for (int u = 0; u < kT; ++u) {
            if (u < n_here) {
                const __half2* vr = reinterpret_cast<const __half2*>(v_cache + (p0 + u) * kv_row +
                                                                     (int64_t)kv_head * HD + kDims * lane);
#pragma unroll
                for (int c = 0; c < kDims / 2; ++c) vh[u][c] = vr[c];
            }
        }
        float s[G];
#pragma unroll
        for (int g = 0; g < G; ++g) s[g] = 0.f;
        if (p < key_end) {
            const uint4* kr = reinterpret_cast<const uint4*>(k_cache + p * kv_row + (int64_t)kv_head * HD + 32 * part);
            uint4 raw[4];
#pragma unroll
            for (int c = 0; c < 4; ++c) raw[c] = kr[c];
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                const __half2* h = reinterpret_cast<const __half2*>(&raw[c]);
                float kf[8];
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const float2 f = __half22float2(h[i]);
                    kf[2 * i] = f.x;
                    kf[2 * i + 1] = f.y;
                }
#pragma unroll
                for (int g = 0; g < G; ++g) {
                    const float4 qa = *reinterpret_cast<const float4*>(&q_s[g][32 * part + 8 * c]);
                    const float4 qb = *reinterpret_cast<const float4*>(&q_s[g][32 * part + 8 * c + 4]);
                    s[g] += qa.x * kf[0] + qa.y * kf[1] + qa.z * kf[2] + qa.w * kf[3] + qb.x * kf[4] + qb.y * kf[5] +
                            qb.z * kf[6] + qb.w * kf[7];
                }
            }
        }
        // The key's parts (lanes kR * kt ..): every lane of a key then holds its whole score.
#pragma unroll
        for (int g = 0; g < G; ++g)
#pragma unroll
            for (int off = 1; off < kR; off <<= 1) s[g] += __shfl_xor_sync(0xffffffffu, s[g], off);
        float pr[G];
#pragma unroll
        for (int g = 0; g < G; ++g) {
            // Max and sum over the tile's keys: across the kT lane groups, each key counted once.
            float mx = p < key_end ? s[g] * scale : -INFINITY;
#pragma unroll
            for (int off = kR; off < 32; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            const float m_new = fmaxf(m[g], mx);  // finite: key p0 is always there
            const float correction = expf(m[g] - m_new);
            pr[g] = p < key_end ? expf(s[g] * scale - m_new) : 0.f;
            float sum = pr[g];
#pragma unroll
            for (int off = kR; off < 32; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
            l[g] = l[g] * correction + sum;
#pragma unroll
            for (int c = 0; c < kDims; ++c) acc[g][c] *= correction;
            m[g] = m_new;
        }
        // The tile's probabilities through shared memory (a key's first lane writes them), read back
        // as broadcasts: kT loads where a shuffle a key and head were G * kT (ncu: the kernel's
        // stalls were mostly on shuffles and shared loads at 4096 positions).
        if (part == 0)
#pragma unroll
            for (int g = 0; g < G; ++g) pr_s[warp][kt][g] = pr[g];
        __syncwarp();
#pragma unroll
        for (int u = 0; u < kT; ++u) {
            if (u >= n_here) break;  // the same for the whole warp
            float vf[kDims];
#pragma unroll
            for (int c = 0; c < kDims / 2; ++c) {
                const float2 f = __half22float2(vh[u][c]);
                vf[2 * c] = f.x;
                vf[2 * c + 1] = f.y;
            }
#pragma unroll
            for (int g = 0; g < G; ++g) {
                const float pj = pr_s[warp][u][g];
#pragma unroll
                for (int c = 0; c < kDims; ++c) acc[g][c] += pj * vf[c];
            }
        }
        __syncwarp();  // read before the next tile writes
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
        for (int c = 0; c < kDims; ++c) part_acc[warp][g][kDims * lane + c] = acc[g][c];
        if (lane == 0) {
            part_m[warp][g] = m[g];
            part_l[warp][g] = l[g];
        }
    }
}

}  // namespace shootout::cuda
