// The 4-bit types whose levels index a table of 16 int8 values instead of an evenly spaced range:
// MXFP4 (E2M1 values under a power-of-two E8M0 scale, blocks of 32), IQ4_NL (a non-uniform table
// under an fp16 scale, blocks of 32) and IQ4_XS (the same table, 8 sub-blocks of 32 with 6-bit
// scales under one fp16 super-scale). Bit-exact with ggml's quantize_row_mxfp4_ref,
// quantize_iq4_nl / quantize_row_iq4_nl_ref and quantize_iq4_xs.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/block_formats.h"
#include "quant/families.h"
#include "quant/scale_search.h"
#include "util/fp16.h"

namespace shootout::quant::family {
namespace {

constexpr int QK = kLegacyBlock;
constexpr int QK_K = kSuperBlock;
constexpr float kGroupMaxEps = 1e-15f;  // ggml's GROUP_MAX_EPS: a block below this is all zero

// Index of the table value nearest to x (ascending table); ties go to the upper value, as
// ggml's best_index_int8 bisection does.
int nearest_table_index(const int8_t* values, float x) {
    if (x <= values[0]) return 0;
    if (x >= values[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (x < values[mid]) hi = mid;
        else lo = mid;
    }
    return x - values[hi - 1] < values[hi] - x ? hi - 1 : hi;
}

// Nibble packing shared by all three: element j of each 32 in the low nibble of byte j, element
// j + 16 in the high nibble.
void pack_nibbles(const uint8_t* L, int n, uint8_t* qs) {
    for (int i = 0; i < n / 32; ++i)
        for (int j = 0; j < 16; ++j) qs[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

// ---- MXFP4

// The MXFP4 table is not sorted (and holds 0 twice), so the search is a scan in which the first
// index wins ties: +0 over -0, and the smaller-index value on an exact midpoint.
int mxfp4_index(float x, float d) {
    int best = 0;
    float best_err = std::fabs(kMXFP4Values[0] * d - x);
    for (int i = 1; i < 16; ++i) {
        const float err = std::fabs(kMXFP4Values[i] * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

void mxfp4_block(const float* x, BlockMXFP4& y) {
    float amax = 0;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    // The largest value (doubled table: 12 = 2 * 6) lands near amax: e = floor(log2 amax) - 2 + 127.
    // ggml converts the float with a plain (uint8_t) cast; for amax below 2^-125 the result wraps,
    // which we reproduce through the x86 truncation it compiles to.
    const float e_float = amax > 0 ? std::floor(std::log2(amax)) - 2 + 127 : 0.0f;
    y.e = (uint8_t)truncate_to_int8(e_float);
    const float d = e8m0_to_fp32_half(y.e);
    uint8_t L[QK];
    for (int j = 0; j < QK; ++j) L[j] = (uint8_t)mxfp4_index(x[j], d);
    pack_nibbles(L, QK, y.qs);
}

// ---- IQ4_NL / IQ4_XS: ggml's quantize_row_iq4_nl_impl

// Least-squares scale for one sub-block of 32: a first guess from the element of largest
// magnitude, then 2*ntry+1 trial inverse scales around it, each scored by the weighted fit
// sumqx^2/sumq2. Fills L with the levels of the first guess (the trial loop only moves d).
// ntry < 0 is quantize_row_iq4_nl_ref's variant: first guess max/-127 and no trials.
float iq4_fit_block(const float* xb, const float* weight, uint8_t* L, int ntry) {
    const int8_t* values = kIQ4NLValues;
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
        const float ax = std::fabs(xb[j]);
        if (ax > amax) {
            amax = ax;
            max = xb[j];
        }
    }
    if (amax < kGroupMaxEps) return 0;
    float d = ntry > 0 ? -max / values[0] : max / values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
        const int l = nearest_table_index(values, id * xb[j]);
        L[j] = (uint8_t)l;
        const float q = values[l];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
        id = (float)(itry + values[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            const float q = values[nearest_table_index(values, id * xb[j])];
            const float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

// Element weights of one sub-block: importance * sqrt(sigma2 + x^2) under an imatrix, else x^2.
void iq4_weights(const float* xb, const float* importance, float sigma2, float* weight) {
    for (int j = 0; j < 32; ++j)
        weight[j] = importance ? importance[j] * std::sqrt(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
}

float iq4_sigma2(const float* x, int n) {
    float sigma2 = 0;
    for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
    return sigma2 * (2.f / n);
}

// One IQ4_NL block. L persists across the blocks of one call because ggml's reference (ntry < 0)
// leaves L untouched for an all-zero block and packs whatever the previous block left there.
void iq4_nl_block(const float* x, BlockIQ4_NL& y, const float* importance, int ntry, uint8_t* L) {
    float weight[32];
    iq4_weights(x, importance, iq4_sigma2(x, QK), weight);
    const float d = iq4_fit_block(x, weight, L, ntry);
    y.d = fp32_to_fp16(d);
    if (ntry > 0) {
        // Re-pick the levels for the final scale (the fit above kept the first guess's).
        const float id = d ? 1 / d : 0;
        for (int j = 0; j < QK; ++j) L[j] = (uint8_t)nearest_table_index(kIQ4NLValues, id * x[j]);
    }
    pack_nibbles(L, QK, y.qs);
}

void iq4_xs_block(const float* x, BlockIQ4_XS& y, const float* importance) {
    constexpr int kNtry = 7;
    uint8_t L[QK_K];
    float weight[32], scales[QK_K / 32];
    const float sigma2 = iq4_sigma2(x, QK_K);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        iq4_weights(x + 32 * ib, importance ? importance + 32 * ib : nullptr, sigma2, weight);
        scales[ib] = iq4_fit_block(x + 32 * ib, weight, L + 32 * ib, kNtry);
        if (std::fabs(scales[ib]) > amax_scale) {
            amax_scale = std::fabs(scales[ib]);
            max_scale = scales[ib];
        }
    }
    // 6-bit signed sub-scales (stored +32) of d = -max_scale/32; for an all-zero block d is -0.0,
    // stored as fp16 0x8000, as ggml does.
    const float d = -max_scale / 32;
    y.d = fp32_to_fp16(d);
    y.scales_h = 0;
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const int l = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
        const float dl = d * l;
        const float idl = dl ? 1 / dl : 0.f;
        for (int j = 0; j < 32; ++j) L[32 * ib + j] = (uint8_t)nearest_table_index(kIQ4NLValues, idl * x[32 * ib + j]);
        const int biased = l + 32;
        if (ib % 2 == 0) y.scales_l[ib / 2] = (uint8_t)(biased & 0xF);
        else y.scales_l[ib / 2] |= (uint8_t)((biased & 0xF) << 4);
        y.scales_h |= (uint16_t)((biased >> 4) << (2 * ib));
    }
    pack_nibbles(L, QK_K, y.qs);
}

}  // namespace

void mxfp4_from_float_ref(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / QK; ++i) mxfp4_block(x + i * QK, static_cast<BlockMXFP4*>(dst)[i]);
}

size_t mxfp4_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float*) {
    mxfp4_from_float_ref(src, dst, n_rows * n_per_row);  // importance ignored, as quantize_mxfp4
    return (size_t)(n_rows * n_per_row / QK) * sizeof(BlockMXFP4);
}

void mxfp4_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockMXFP4*>(src);
    for (int64_t i = 0; i < n / QK; ++i) {
        const float d = e8m0_to_fp32_half(x[i].e);
        for (int j = 0; j < QK / 2; ++j) {
            y[i * QK + j] = kMXFP4Values[x[i].qs[j] & 0xF] * d;
            y[i * QK + j + QK / 2] = kMXFP4Values[x[i].qs[j] >> 4] * d;
        }
    }
}

void iq4_nl_from_float_ref(const float* x, void* dst, int64_t n) {
    uint8_t L[QK] = {};
    for (int64_t i = 0; i < n / QK; ++i) iq4_nl_block(x + i * QK, static_cast<BlockIQ4_NL*>(dst)[i], nullptr, -1, L);
}

size_t iq4_nl_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
    const int64_t blocks_per_row = n_per_row / QK;
    auto* y = static_cast<BlockIQ4_NL*>(dst);
    uint8_t L[QK] = {};
    for (int64_t row = 0; row < n_rows; ++row)
        for (int64_t i = 0; i < blocks_per_row; ++i)
            iq4_nl_block(src + row * n_per_row + i * QK, y[row * blocks_per_row + i],
                         importance ? importance + i * QK : nullptr, 7, L);
    return (size_t)(n_rows * blocks_per_row) * sizeof(BlockIQ4_NL);
}

void iq4_nl_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_NL*>(src);
    for (int64_t i = 0; i < n / QK; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK / 2; ++j) {
            y[i * QK + j] = d * kIQ4NLValues[x[i].qs[j] & 0xF];
            y[i * QK + j + QK / 2] = d * kIQ4NLValues[x[i].qs[j] >> 4];
        }
    }
}

void iq4_xs_from_float_ref(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) iq4_xs_block(x + i * QK_K, static_cast<BlockIQ4_XS*>(dst)[i], nullptr);
}

size_t iq4_xs_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
    const int64_t blocks_per_row = n_per_row / QK_K;
    auto* y = static_cast<BlockIQ4_XS*>(dst);
    for (int64_t row = 0; row < n_rows; ++row)
        for (int64_t i = 0; i < blocks_per_row; ++i)
            iq4_xs_block(src + row * n_per_row + i * QK_K, y[row * blocks_per_row + i],
                         importance ? importance + i * QK_K : nullptr);
    return (size_t)(n_rows * blocks_per_row) * sizeof(BlockIQ4_XS);
}

void iq4_xs_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_XS*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const float dl = d * (iq4xs_scale(x[i], ib) - 32);
            const uint8_t* qs = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * kIQ4NLValues[qs[j] & 0xF];
                y[j + 16] = dl * kIQ4NLValues[qs[j] >> 4];
            }
            y += 32;
        }
    }
}

}  // namespace shootout::quant::family
