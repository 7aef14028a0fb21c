// One head row of q or k, as backend::Ops::qk_norm_rope computes it, on one warp: optional RMSNorm
// over the head, then RoPE of its first n_rot dims (theta = pos * theta_scale^i by repeated
// multiplication, the CPU's order). Shared by the qk_norm_rope kernel (fused.cu) and the decode
// attention kernel, which norms, rotates and stores its KV head's new key itself (attention_decode.cu).
// The pieces that depend only on the position and the weights (rope_angles, load_row of the norm
// weights) are separate so the decode kernel can do them before its PDL wait.
#pragma once

#include <cstdint>

#include "backend/cuda/ops_kernels.h"

namespace shootout::cuda {

// A lane's rotation angles: pair i = lane + 32 t for t < kTurns (pairs past n_rot / 2 unused).
template <int HD>
struct RopeAngles {
    static constexpr int kTurns = HD / 64 > 0 ? HD / 64 : 1;
    float sin_t[kTurns], cos_t[kTurns];
};

// theta_i = pos * s * s ... (i factors), the CPU's repeated product bit for bit: this lane's first
// i in a predicated chain of 31, then 32 more factors to each next i (a loop of i factors for each
// i was ~95 dependent multiplies with loop overhead, on the decode step's critical path).
template <int HD>
__device__ __forceinline__ RopeAngles<HD> rope_angles(const NormRope& p, int64_t pos) {
    RopeAngles<HD> a;
    const int lane = threadIdx.x % 32;
    const int half = p.n_rot / 2;
    float theta = (float)pos;
#pragma unroll
    for (int j = 0; j < 31; ++j)
        if (j < lane) theta *= p.theta_scale;
#pragma unroll
    for (int t = 0; t < RopeAngles<HD>::kTurns; ++t) {
        const int i = lane + 32 * t;
        if (t > 0) {
#pragma unroll
            for (int j = 0; j < 32; ++j) theta *= p.theta_scale;
        }
        a.sin_t[t] = 0.f;
        a.cos_t[t] = 1.f;
        if (i < half) {
            // Llama 3.1's frequency factors divide the angle, as the CPU (and ggml's rope cache) does.
            const float angle = p.freq_factors ? theta / p.freq_factors[i] : theta;
            sincosf(angle, &a.sin_t[t], &a.cos_t[t]);
        }
    }
    return a;
}

// A lane's HD / 32 values of a head row (element lane + 32 j); zeros for a null row.
template <int HD>
__device__ __forceinline__ void load_row(const float* src, float (&e)[HD / 32]) {
    const int lane = threadIdx.x % 32;
#pragma unroll
    for (int j = 0; j < HD / 32; ++j) e[j] = src ? src[lane + 32 * j] : 0.f;
}

// Norms (when `normed`, by the weights w) and rotates a row held as load_row leaves it; the result
// in row_s (HD floats of shared memory owned by this warp), final after the closing __syncwarp.
template <int HD>
__device__ __forceinline__ void norm_rope_values(float (&e)[HD / 32], const float (&w)[HD / 32], bool normed,
                                                 const NormRope& p, const RopeAngles<HD>& a, float* row_s) {
    constexpr int kPer = HD / 32;
    const int lane = threadIdx.x % 32;
    if (normed) {
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < kPer; ++j) sum += e[j] * e[j];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        const float scale = 1.0f / sqrtf(sum / (float)HD + p.eps);
#pragma unroll
        for (int j = 0; j < kPer; ++j) e[j] = (e[j] * scale) * w[j];
    }
#pragma unroll
    for (int j = 0; j < kPer; ++j) row_s[lane + 32 * j] = e[j];
    __syncwarp();
    // Each pair (a, b) belongs to one lane, which reads both before writing them: in place is safe.
    const int half = p.n_rot / 2;
#pragma unroll
    for (int t = 0; t < RopeAngles<HD>::kTurns; ++t) {
        const int i = lane + 32 * t;
        if (i >= half) break;
        const int ia = p.neox ? i : 2 * i, ib = p.neox ? i + half : 2 * i + 1;
        const float x0 = row_s[ia], x1 = row_s[ib];
        row_s[ia] = x0 * a.cos_t[t] - x1 * a.sin_t[t];
        row_s[ib] = x0 * a.sin_t[t] + x1 * a.cos_t[t];
    }
    __syncwarp();
}

// Reads the row at src (HD floats; HD / 32 per lane), leaves its normed and rotated values in row_s.
// Every lane of the warp calls it.
template <int HD>
__device__ __forceinline__ void norm_rope_row(const float* src, const float* w, const NormRope& p, int64_t pos,
                                              float* row_s) {
    float e[HD / 32], wv[HD / 32];
    load_row<HD>(src, e);
    load_row<HD>(w, wv);  // loaded with the row: one wait for both
    norm_rope_values<HD>(e, wv, w != nullptr, p, rope_angles<HD>(p, pos), row_s);
}

}  // namespace shootout::cuda
