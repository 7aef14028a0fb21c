// Q6_K (16 sub-blocks of 16 with int8 scales, 6-bit levels) and Q8_K (the K-quants' activation
// type: a float scale, int8 levels and per-16 sums). Bit-exact with ggml's quantize_row_q6_K_ref,
// quantize_q6_K (importance weights) and quantize_row_q8_K_ref.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/block_formats.h"
#include "quant/families.h"
#include "quant/scale_search.h"
#include "util/fp16.h"

namespace shootout::quant::family {
namespace {

constexpr int QK_K = kSuperBlock;
constexpr float kGroupMaxEps = 1e-15f;

// One Q6_K super-block. Without importance each sub-block's levels are fitted under weights x^2;
// with importance (ggml's quantize_row_q6_K_impl) the imatrix values are the weights themselves.
void q6_k_quantize_block(const float* x, BlockQ6_K& y, const float* importance) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const float* weights = importance ? importance + 16 * ib : nullptr;
        const float scale = fit_symmetric_scale(16, 32, x + 16 * ib, L + 16 * ib, ErrorWeight::Square, weights);
        scales[ib] = scale;
        if (std::fabs(scale) > max_abs_scale) {
            max_abs_scale = std::fabs(scale);
            max_scale = scale;
        }
    }
    if (max_abs_scale < kGroupMaxEps) {
        std::memset(&y, 0, sizeof(y));
        return;
    }
    const float iscale = -128.f / max_scale;
    y.d = fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ++ib) y.scales[ib] = (int8_t)std::min(127, nearest_int(iscale * scales[ib]));

    // Re-fit the levels to the scales as stored (fp16 d times int8 scale).
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = fp16_to_fp32(y.d) * y.scales[j];
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = std::max(-32, std::min(31, nearest_int(x[16 * j + ii] / d)));
            L[16 * j + ii] = (int8_t)(l + 32);
        }
    }
    // Each half (128 elements) packs the low nibbles of 4 quarters into ql (quarters 0,2 in
    // ql[0..31], 1,3 in ql[32..63]) and their 2 high bits into qh, quarter q at bit 2q.
    uint8_t* ql = y.ql;
    uint8_t* qh = y.qh;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t* q = reinterpret_cast<const uint8_t*>(L) + j + l;
            ql[l] = (uint8_t)((q[0] & 0xF) | ((q[64] & 0xF) << 4));
            ql[l + 32] = (uint8_t)((q[32] & 0xF) | ((q[96] & 0xF) << 4));
            qh[l] = (uint8_t)((q[0] >> 4) | ((q[32] >> 4) << 2) | ((q[64] >> 4) << 4) | ((q[96] >> 4) << 6));
        }
    }
}

}  // namespace

void q6_k_from_float_ref(const float* x, void* dst, int64_t n) {
    BlockQ6_K* y = static_cast<BlockQ6_K*>(dst);
    for (int64_t i = 0; i < n / QK_K; ++i) q6_k_quantize_block(x + i * QK_K, y[i], nullptr);
}

size_t q6_k_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
    const int64_t blocks_per_row = n_per_row / QK_K;
    BlockQ6_K* y = static_cast<BlockQ6_K*>(dst);
    for (int64_t row = 0; row < n_rows; ++row)
        for (int64_t i = 0; i < blocks_per_row; ++i)
            q6_k_quantize_block(src + row * n_per_row + i * QK_K, y[row * blocks_per_row + i],
                                importance ? importance + i * QK_K : nullptr);
    return (size_t)(n_rows * blocks_per_row) * sizeof(BlockQ6_K);
}

void q6_k_to_float(const void* src, float* y, int64_t n) {
    const BlockQ6_K* x = static_cast<const BlockQ6_K*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const uint8_t* ql = x[i].ql;
        const uint8_t* qh = x[i].qh;
        const int8_t* sc = x[i].scales;
        for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void q8_k_from_float_ref(const float* x, void* dst, int64_t n) {
    BlockQ8_K* y = static_cast<BlockQ8_K*>(dst);
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        std::memset(&y[i], 0, sizeof(BlockQ8_K));
        if (!amax) continue;
        // -127 (not -128) so that levels stay in [-127, 127], which ggml's SIMD dot products need.
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) y[i].qs[j] = (int8_t)std::min(127, nearest_int(iscale * x[j]));
        for (int j = 0; j < QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void q8_k_to_float(const void* src, float* y, int64_t n) {
    const BlockQ8_K* x = static_cast<const BlockQ8_K*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i)
        for (int j = 0; j < QK_K; ++j) *y++ = x[i].d * x[i].qs[j];
}

}  // namespace shootout::quant::family
