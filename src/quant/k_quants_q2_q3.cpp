// Q2_K (16 sub-blocks of 16, 2-bit levels, 4-bit scale and min each) and Q3_K (16 sub-blocks of
// 16, 3-bit signed levels with the high bit in hmask, 6-bit signed scales). Bit-exact with ggml's
// quantize_row_q{2,3}_K_ref and, under importance weights, quantize_q{2,3}_K.
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

// 2-bit levels, 4 per byte: byte l of each 32-byte run holds elements l, l+32, l+64, l+96 of a
// 128-element half, at bit offsets 0, 2, 4, 6.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// ---- Q2_K: x = d*(sc & 15)*q - dmin*(sc >> 4)

void q2_k_requantize_and_pack(const float* x, BlockQ2_K& y, uint8_t* L) {
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = fp16_to_fp32(y.d) * (y.scales[j] & 0xF);
        if (!d) continue;
        const float dm = fp16_to_fp32(y.dmin) * (y.scales[j] >> 4);
        for (int ii = 0; ii < 16; ++ii)
            L[16 * j + ii] = (uint8_t)std::max(0, std::min(3, nearest_int((x[16 * j + ii] + dm) / d)));
    }
    pack_2bit(L, y.qs);
}

void q2_k_block_ref(const float* x, BlockQ2_K& y) {
    uint8_t L[QK_K], L_scratch[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
        for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
        scales[j] = fit_affine_scale(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], L_scratch, -0.5f, 0.1f, 15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float q4scale = 15.f;
    if (max_scale > 0) {
        const float iscale = q4scale / max_scale;
        for (int j = 0; j < QK_K / 16; ++j) y.scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
        y.d = fp32_to_fp16(max_scale / q4scale);
    } else {
        std::memset(y.scales, 0, sizeof(y.scales));
        y.d = fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
        const float iscale = q4scale / max_min;
        for (int j = 0; j < QK_K / 16; ++j) y.scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
        y.dmin = fp32_to_fp16(max_min / q4scale);
    } else {
        y.dmin = fp32_to_fp16(0.f);
    }
    q2_k_requantize_and_pack(x, y, L);
}

void q2_k_block_weighted(const float* x, BlockQ2_K& y, const float* importance) {
    uint8_t L[QK_K], L_scratch[16], Ls[QK_K / 16], Lm[QK_K / 16];
    float weights[16], sw[QK_K / 16], mins[QK_K / 16], scales[QK_K / 16];
    float sumx2 = 0;
    for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = sumx2 / QK_K;
    for (int j = 0; j < QK_K / 16; ++j) {
        const float* qw = importance + 16 * j;
        for (int l = 0; l < 16; ++l) weights[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
        sw[j] = 0;
        for (int l = 0; l < 16; ++l) sw[j] += weights[l];
        scales[j] = fit_affine_scale(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], L_scratch, -0.9f, 0.05f, 36,
                                     false);
    }
    const float dm = fit_positive_scale(QK_K / 16, 15, scales, Ls, sw);
    const float mm = fit_positive_scale(QK_K / 16, 15, mins, Lm, sw);
    y.d = fp32_to_fp16(dm);
    y.dmin = fp32_to_fp16(mm);
    for (int j = 0; j < QK_K / 16; ++j) y.scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    q2_k_requantize_and_pack(x, y, L);
}

// ---- Q3_K: x = d*(sc-32)*(q-4), the 3rd bit of q in hmask

void q3_k_store_scale(BlockQ3_K& y, int j, int biased_scale) {
    if (j < 8) {
        y.scales[j] = (uint8_t)(biased_scale & 0xF);
    } else {
        y.scales[j - 8] |= (uint8_t)((biased_scale & 0xF) << 4);
    }
    y.scales[j % 4 + 8] |= (uint8_t)((biased_scale >> 4) << (2 * (j / 4)));
}

// L holds levels biased by +4 (0..7) on entry for sub-blocks whose stored scale is zero.
void q3_k_requantize_and_pack(const float* x, BlockQ3_K& y, int8_t* L) {
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = fp16_to_fp32(y.d) * q3k_scale(j, y.scales);
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii)
            L[16 * j + ii] = (int8_t)(std::max(-4, std::min(3, nearest_int(x[16 * j + ii] / d))) + 4);
    }
    // The high bit of element j goes to bit (j / 32) of hmask[j % 32].
    std::memset(y.hmask, 0, sizeof(y.hmask));
    for (int j = 0; j < QK_K; ++j) {
        if (L[j] > 3) {
            y.hmask[j % 32] |= (uint8_t)(1 << (j / 32));
            L[j] -= 4;
        }
    }
    pack_2bit(reinterpret_cast<const uint8_t*>(L), y.qs);
}

void q3_k_block_ref(const float* x, BlockQ3_K& y) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
        scales[j] = fit_symmetric_scale_q3(16, 4, x + 16 * j, L + 16 * j, true);
        if (std::fabs(scales[j]) > amax) {
            amax = std::fabs(scales[j]);
            max_scale = scales[j];
        }
    }
    std::memset(y.scales, 0, sizeof(y.scales));
    if (max_scale) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < QK_K / 16; ++j) {
            const int8_t l = (int8_t)nearest_int(iscale * scales[j]);
            q3_k_store_scale(y, j, std::max(-32, std::min(31, (int)l)) + 32);
        }
        y.d = fp32_to_fp16(1 / iscale);
    } else {
        y.d = fp32_to_fp16(0.f);
    }
    q3_k_requantize_and_pack(x, y, L);
}

void q3_k_block_weighted(const float* x, BlockQ3_K& y, const float* importance) {
    int8_t L[QK_K], Ls[QK_K / 16];
    float scales[QK_K / 16], weights[16], sw[QK_K / 16];
    float sumx2 = 0;
    for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = 2 * sumx2 / QK_K;
    for (int j = 0; j < QK_K / 16; ++j) {
        const float* qw = importance + 16 * j;
        for (int l = 0; l < 16; ++l) weights[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 16; ++l) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = fit_symmetric_scale(16, 4, x + 16 * j, L + 16 * j, ErrorWeight::Square, weights);
    }
    std::memset(y.scales, 0, sizeof(y.scales));
    const float d_block = fit_symmetric_scale(QK_K / 16, 32, scales, Ls, ErrorWeight::Square, sw);
    for (int j = 0; j < QK_K / 16; ++j) q3_k_store_scale(y, j, Ls[j]);
    y.d = fp32_to_fp16(d_block);
    q3_k_requantize_and_pack(x, y, L);
}

template <typename Block, void (*Ref)(const float*, Block&), void (*Weighted)(const float*, Block&, const float*)>
size_t quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
    const int64_t blocks_per_row = n_per_row / QK_K;
    Block* y = static_cast<Block*>(dst);
    for (int64_t row = 0; row < n_rows; ++row)
        for (int64_t i = 0; i < blocks_per_row; ++i) {
            const float* x = src + row * n_per_row + i * QK_K;
            if (importance)
                Weighted(x, y[row * blocks_per_row + i], importance + i * QK_K);
            else
                Ref(x, y[row * blocks_per_row + i]);
        }
    return (size_t)(n_rows * blocks_per_row) * sizeof(Block);
}

}  // namespace

void q2_k_from_float_ref(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) q2_k_block_ref(x + i * QK_K, static_cast<BlockQ2_K*>(dst)[i]);
}

void q3_k_from_float_ref(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) q3_k_block_ref(x + i * QK_K, static_cast<BlockQ3_K*>(dst)[i]);
}

size_t q2_k_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_rows<BlockQ2_K, q2_k_block_ref, q2_k_block_weighted>(s, d, r, n, w);
}

size_t q3_k_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_rows<BlockQ3_K, q3_k_block_ref, q3_k_block_weighted>(s, d, r, n, w);
}

void q2_k_to_float(const void* src, float* y, int64_t n) {
    const BlockQ2_K* x = static_cast<const BlockQ2_K*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const float min = fp16_to_fp32(x[i].dmin);
        for (int j = 0; j < QK_K; ++j) {
            const int sub = j / 16;  // sub-block: its scale byte
            const uint8_t sc = x[i].scales[sub];
            const int half = j / 128, shift = 2 * ((j % 128) / 32);
            const int q = (x[i].qs[32 * half + j % 32] >> shift) & 3;
            const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
            *y++ = dl * q - ml;
        }
    }
}

void q3_k_to_float(const void* src, float* y, int64_t n) {
    const BlockQ3_K* x = static_cast<const BlockQ3_K*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d_all = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK_K; ++j) {
            const int half = j / 128, shift = 2 * ((j % 128) / 32);
            const int low = (x[i].qs[32 * half + j % 32] >> shift) & 3;
            const bool high = (x[i].hmask[j % 32] >> (j / 32)) & 1;
            const float dl = d_all * q3k_scale(j / 16, x[i].scales);
            *y++ = dl * (low - (high ? 0 : 4));
        }
    }
}

}  // namespace shootout::quant::family
