// One head row of q or k, as backend::Ops::qk_norm_rope computes it, on one warp: optional RMSNorm
// over the head, then RoPE of its first n_rot dims (theta = pos * theta_scale^i by repeated
// multiplication, the CPU's order). Shared by the qk_norm_rope kernel (fused.cu) and the decode
// attention kernel, which norms, rotates and stores its KV head's new key itself (attention.cu).
#pragma once

#include <cstdint>

#include "backend/cuda/ops_kernels.h"

namespace shootout::cuda {

// Reads the row at src (HD floats; HD / 32 per lane), leaves its normed and rotated values in row_s
// (HD floats of shared memory owned by this warp). Every lane of the warp calls it; row_s is final
// after the closing __syncwarp.
template <int HD>
__device__ __forceinline__ void norm_rope_row(const float* src, const float* w, const NormRope& p, int64_t pos,
                                              float* row_s) {
    constexpr int kPer = HD / 32;
    const int lane = threadIdx.x % 32;
    float e[kPer], wv[kPer];
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
        e[j] = src[lane + 32 * j];
        wv[j] = w ? w[lane + 32 * j] : 0.f;  // loaded with the row: one wait for both
    }
    if (w) {
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < kPer; ++j) sum += e[j] * e[j];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        const float scale = 1.0f / sqrtf(sum / (float)HD + p.eps);
#pragma unroll
        for (int j = 0; j < kPer; ++j) e[j] = (e[j] * scale) * wv[j];
    }
#pragma unroll
    for (int j = 0; j < kPer; ++j) row_s[lane + 32 * j] = e[j];
    __syncwarp();
    // Each pair (a, b) belongs to one lane, which reads both before writing them: in place is safe.
    // theta_i = pos * s * s ... (i factors), the CPU's repeated product bit for bit: this lane's first
    // i in a predicated chain of 31, then 32 more factors to each next i (a loop of i factors for each
    // i was ~95 dependent multiplies with loop overhead, on the decode step's critical path).
    const int half = p.n_rot / 2;
    float theta = (float)pos;
#pragma unroll
    for (int j = 0; j < 31; ++j)
        if (j < lane) theta *= p.theta_scale;
    for (int i = lane; i < half; i += 32) {
        if (i > lane) {
#pragma unroll
            for (int j = 0; j < 32; ++j) theta *= p.theta_scale;
        }
        // Llama 3.1's frequency factors divide the angle, as the CPU (and ggml's rope cache) does.
        const float angle = p.freq_factors ? theta / p.freq_factors[i] : theta;
        float sin_theta, cos_theta;
        sincosf(angle, &sin_theta, &cos_theta);
        const int a = p.neox ? i : 2 * i, b = p.neox ? i + half : 2 * i + 1;
        const float x0 = row_s[a], x1 = row_s[b];
        row_s[a] = x0 * cos_theta - x1 * sin_theta;
        row_s[b] = x0 * sin_theta + x1 * cos_theta;
    }
    __syncwarp();
}

}  // namespace shootout::cuda
