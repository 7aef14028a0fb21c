// Q4_K and Q5_K: super-blocks of 256 as 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit
// min under fp16 super-scales d and dmin: x = d*sc*q - dmin*m. The two types differ only in the
// level count (16 or 32), the grid of the reference search and the packing of the 5th bit, so one
// template serves both. Bit-exact with ggml's quantize_row_q{4,5}_K_ref and quantize_q{4,5}_K.
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

template <int Bits> struct KTraits;
template <> struct KTraits<4> {
    using Block = BlockQ4_K;
    static constexpr float ref_rmin = -1.f;
    static constexpr int ref_nstep = 20;
};
template <> struct KTraits<5> {
    using Block = BlockQ5_K;
    static constexpr float ref_rmin = -0.5f;
    static constexpr int ref_nstep = 15;
};

template <typename Block>
void store_scales_mins(Block& y, const uint8_t* ls, const uint8_t* lm) {
    for (int j = 0; j < QK_K / 32; ++j) {
        if (j < 4) {
            y.scales[j] = ls[j];
            y.scales[j + 4] = lm[j];
        } else {
            y.scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            y.scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            y.scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

// Re-fits every level to the scales and mins as stored, then packs the levels.
template <int Bits>
void requantize_and_pack(const float* x, typename KTraits<Bits>::Block& y, uint8_t* L) {
    constexpr int nmax = (1 << Bits) - 1;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        k4_scale_min(j, y.scales, sc, m);
        const float d = fp16_to_fp32(y.d) * sc;
        if (!d) continue;
        const float dm = fp16_to_fp32(y.dmin) * m;
        for (int ii = 0; ii < 32; ++ii)
            L[32 * j + ii] = (uint8_t)std::max(0, std::min(nmax, nearest_int((x[32 * j + ii] + dm) / d)));
    }
    // Each 64 elements: the first 32 in the low nibbles of 32 bytes, the next 32 in the high ones;
    // Q5_K keeps the 5th bits in qh, bit 2k for chunk k's low half and 2k+1 for its high half.
    uint8_t* q = y.qs;
    if constexpr (Bits == 5) std::memset(y.qh, 0, sizeof(y.qh));
    for (int chunk = 0; chunk < QK_K / 64; ++chunk, q += 32) {
        for (int l = 0; l < 32; ++l) {
            int l1 = L[64 * chunk + l], l2 = L[64 * chunk + l + 32];
            if constexpr (Bits == 5) {
                if (l1 > 15) { l1 -= 16; y.qh[l] |= (uint8_t)(1 << (2 * chunk)); }
                if (l2 > 15) { l2 -= 16; y.qh[l] |= (uint8_t)(2 << (2 * chunk)); }
            }
            q[l] = (uint8_t)(l1 | (l2 << 4));
        }
    }
}

template <int Bits>
void quantize_block_ref(const float* x, typename KTraits<Bits>::Block& y) {
    using T = KTraits<Bits>;
    constexpr int nmax = (1 << Bits) - 1;
    uint8_t L[QK_K], L_scratch[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        // Error weights |x| + rms of the sub-block: large values matter more, none is ignored.
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
        scales[j] = fit_affine_scale(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], L_scratch, T::ref_rmin,
                                     0.1f, T::ref_nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[QK_K / 32], lm[QK_K / 32];
    for (int j = 0; j < QK_K / 32; ++j) {
        ls[j] = std::min<uint8_t>(63, (uint8_t)nearest_int(inv_scale * scales[j]));
        lm[j] = std::min<uint8_t>(63, (uint8_t)nearest_int(inv_min * mins[j]));
    }
    store_scales_mins(y, ls, lm);
    y.d = fp32_to_fp16(max_scale / 63.f);
    y.dmin = fp32_to_fp16(max_min / 63.f);
    requantize_and_pack<Bits>(x, y, L);
}

// ggml's quantize_row_q{4,5}_K_impl: imatrix weights qw*sqrt(sigma2 + x^2), a finer search, then the
// 8 scales and 8 mins are themselves fitted under the sub-blocks' total weights.
template <int Bits>
void quantize_block_weighted(const float* x, typename KTraits<Bits>::Block& y, const float* importance) {
    constexpr int nmax = (1 << Bits) - 1;
    uint8_t L[QK_K], L_scratch[32], ls[QK_K / 32], lm[QK_K / 32];
    float weights[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / QK_K;
    for (int j = 0; j < QK_K / 32; ++j) {
        const float* qw = importance + 32 * j;
        for (int l = 0; l < 32; ++l) weights[l] = qw[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 32; ++l) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = fit_affine_scale(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], L_scratch, -0.9f, 0.05f, 36,
                                     false);
    }
    const float d_block = fit_positive_scale(QK_K / 32, 63, scales, ls, sw);
    const float m_block = fit_positive_scale(QK_K / 32, 63, mins, lm, sw);
    store_scales_mins(y, ls, lm);
    y.d = fp32_to_fp16(d_block);
    y.dmin = fp32_to_fp16(m_block);
    requantize_and_pack<Bits>(x, y, L);
}

template <int Bits>
void from_float_ref(const float* x, void* dst, int64_t n) {
    auto* y = static_cast<typename KTraits<Bits>::Block*>(dst);
    for (int64_t i = 0; i < n / QK_K; ++i) quantize_block_ref<Bits>(x + i * QK_K, y[i]);
}

template <int Bits>
size_t quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
    using Block = typename KTraits<Bits>::Block;
    const int64_t blocks_per_row = n_per_row / QK_K;
    if (!importance) {
        from_float_ref<Bits>(src, dst, n_rows * n_per_row);
    } else {
        Block* y = static_cast<Block*>(dst);
        for (int64_t row = 0; row < n_rows; ++row)
            for (int64_t i = 0; i < blocks_per_row; ++i)
                quantize_block_weighted<Bits>(src + row * n_per_row + i * QK_K, y[row * blocks_per_row + i],
                                              importance + i * QK_K);
    }
    return (size_t)(n_rows * blocks_per_row) * sizeof(Block);
}

template <int Bits>
void to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const typename KTraits<Bits>::Block*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const float min = fp16_to_fp32(x[i].dmin);
        const uint8_t* q = x[i].qs;
        for (int chunk = 0; chunk < QK_K / 64; ++chunk, q += 32) {
            uint8_t sc, m;
            k4_scale_min(2 * chunk, x[i].scales, sc, m);
            const float d1 = d * sc, m1 = min * m;
            k4_scale_min(2 * chunk + 1, x[i].scales, sc, m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) {
                int high = 0;
                if constexpr (Bits == 5) high = (x[i].qh[l] >> (2 * chunk)) & 1 ? 16 : 0;
                *y++ = d1 * ((q[l] & 0xF) + high) - m1;
            }
            for (int l = 0; l < 32; ++l) {
                int high = 0;
                if constexpr (Bits == 5) high = (x[i].qh[l] >> (2 * chunk + 1)) & 1 ? 16 : 0;
                *y++ = d2 * ((q[l] >> 4) + high) - m2;
            }
        }
    }
}

}  // namespace

void q4_k_to_float(const void* s, float* d, int64_t n) { to_float<4>(s, d, n); }
void q5_k_to_float(const void* s, float* d, int64_t n) { to_float<5>(s, d, n); }
void q4_k_from_float_ref(const float* s, void* d, int64_t n) { from_float_ref<4>(s, d, n); }
void q5_k_from_float_ref(const float* s, void* d, int64_t n) { from_float_ref<5>(s, d, n); }
size_t q4_k_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_rows<4>(s, d, r, n, w);
}
size_t q5_k_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_rows<5>(s, d, r, n, w);
}

}  // namespace shootout::quant::family
