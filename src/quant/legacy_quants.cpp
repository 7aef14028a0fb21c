// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1: blocks of 32 with one fp16 scale (and, for the _1 types, an
// fp16 min or sum). Bit-exact with ggml's quantize_row_*_ref and, under importance weights, with
// quantize_q4_0 etc. The 4- and 5-bit types share one template per shape: symmetric (_0, levels
// around a zero point) and affine (_1, levels above a min); only the packing of the 5th bit differs.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/block_formats.h"
#include "quant/families.h"
#include "quant/scale_search.h"
#include "util/fp16.h"

namespace shootout::quant::family {
namespace {

constexpr int QK = kLegacyBlock;

// Packs 32 levels (each < 2^Bits) into a block's qs (and qh for 5 bits): element j in the low
// nibble of qs[j], element j+16 in the high nibble; the 5th bit of element j is bit j of qh.
template <int Bits, typename Block>
void pack_levels(const uint8_t* L, Block& block) {
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; ++j) {
        block.qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + QK / 2] & 0x0F) << 4));
        if constexpr (Bits == 5) {
            qh |= ((L[j] & 0x10u) >> 4) << j;
            qh |= ((L[j + QK / 2] & 0x10u) >> 4) << (j + QK / 2);
        }
    }
    if constexpr (Bits == 5) std::memcpy(block.qh, &qh, 4);
}

template <int Bits, typename Block>
void unpack_levels(const Block& block, int* levels) {
    uint32_t qh = 0;
    if constexpr (Bits == 5) std::memcpy(&qh, block.qh, 4);
    for (int j = 0; j < QK / 2; ++j) {
        levels[j] = block.qs[j] & 0x0F;
        levels[j + QK / 2] = block.qs[j] >> 4;
        if constexpr (Bits == 5) {
            levels[j] |= (int)((qh >> j) & 1) << 4;
            levels[j + QK / 2] |= (int)((qh >> (j + QK / 2)) & 1) << 4;
        }
    }
}

// ---- symmetric: Q4_0 (Bits 4), Q5_0 (Bits 5); x = d * (q - 2^(Bits-1))

template <int Bits, typename Block>
void symmetric_quantize_ref(const float* x, void* dst, int64_t n) {
    constexpr int half = 1 << (Bits - 1);
    constexpr int qmax = (1 << Bits) - 1;
    Block* blocks = static_cast<Block*>(dst);
    for (int64_t ib = 0; ib < n / QK; ++ib, x += QK) {
        float amax = 0.0f, max = 0.0f;  // the element of largest magnitude, signed
        for (int j = 0; j < QK; ++j) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        // d is negative for a positive max, so that the max maps to level 0 (value -half*d)
        // and the 2^Bits levels are used asymmetrically toward the extreme.
        const float d = max / -half;
        const float id = d ? 1.0f / d : 0.0f;
        blocks[ib].d = fp32_to_fp16(d);
        uint8_t L[QK];
        for (int j = 0; j < QK; ++j)
            L[j] = (uint8_t)std::min<int>(qmax, truncate_to_int8(x[j] * id + ((float)half + 0.5f)));
        pack_levels<Bits>(L, blocks[ib]);
    }
}

template <int Bits, typename Block>
void symmetric_to_float(const void* src, float* y, int64_t n) {
    constexpr int half = 1 << (Bits - 1);
    const Block* blocks = static_cast<const Block*>(src);
    for (int64_t ib = 0; ib < n / QK; ++ib) {
        const float d = fp16_to_fp32(blocks[ib].d);
        int levels[QK];
        unpack_levels<Bits>(blocks[ib], levels);
        for (int j = 0; j < QK; ++j) y[ib * QK + j] = (float)(levels[j] - half) * d;
    }
}

// ggml's quantize_row_q{4,5}_0_impl: weights imp[j] * sqrt(sigma2 + x[j]^2), sigma2 the row's
// mean square, then the refined symmetric scale search.
template <int Bits, typename Block>
void symmetric_quantize_weighted_row(const float* x, Block* blocks, int64_t n_per_row, const float* importance) {
    constexpr int half = 1 << (Bits - 1);
    float sum_x2 = 0;
    for (int64_t j = 0; j < n_per_row; ++j) sum_x2 += x[j] * x[j];
    const float sigma2 = sum_x2 / n_per_row;
    for (int64_t ib = 0; ib < n_per_row / QK; ++ib) {
        const float* xb = x + QK * ib;
        const float* qw = importance + QK * ib;
        float weight[QK];
        for (int j = 0; j < QK; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        int8_t L[QK];
        const float d = fit_symmetric_scale(QK, half, xb, L, ErrorWeight::Square, weight);
        blocks[ib].d = fp32_to_fp16(d);
        pack_levels<Bits>(reinterpret_cast<const uint8_t*>(L), blocks[ib]);
    }
}

// ---- affine: Q4_1, Q5_1; x = d * q + m

template <int Bits, typename Block>
void affine_quantize_ref(const float* x, void* dst, int64_t n) {
    constexpr int qmax = (1 << Bits) - 1;
    Block* blocks = static_cast<Block*>(dst);
    for (int64_t ib = 0; ib < n / QK; ++ib, x += QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK; ++j) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / qmax;
        const float id = d ? 1.0f / d : 0.0f;
        blocks[ib].d = fp32_to_fp16(d);
        blocks[ib].m = fp32_to_fp16(min);
        uint8_t L[QK];
        for (int j = 0; j < QK; ++j)
            L[j] = (uint8_t)std::min<int>(qmax, truncate_to_int8((x[j] - min) * id + 0.5f));
        pack_levels<Bits>(L, blocks[ib]);
    }
}

template <int Bits, typename Block>
void affine_to_float(const void* src, float* y, int64_t n) {
    const Block* blocks = static_cast<const Block*>(src);
    for (int64_t ib = 0; ib < n / QK; ++ib) {
        const float d = fp16_to_fp32(blocks[ib].d);
        const float m = fp16_to_fp32(blocks[ib].m);
        int levels[QK];
        unpack_levels<Bits>(blocks[ib], levels);
        for (int j = 0; j < QK; ++j) y[ib * QK + j] = (float)levels[j] * d + m;
    }
}

template <int Bits, typename Block>
void affine_quantize_weighted_row(const float* x, Block* blocks, int64_t n_per_row, const float* importance) {
    constexpr int qmax = (1 << Bits) - 1;
    float sum_x2 = 0;
    for (int64_t j = 0; j < n_per_row; ++j) sum_x2 += x[j] * x[j];
    const float sigma2 = sum_x2 / n_per_row;
    for (int64_t ib = 0; ib < n_per_row / QK; ++ib) {
        const float* xb = x + QK * ib;
        const float* qw = importance + QK * ib;
        float weight[QK];
        for (int j = 0; j < QK; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        uint8_t L[QK], L_scratch[QK];
        float min;
        const float d = fit_affine_scale(QK, qmax, xb, weight, L, &min, L_scratch, -0.9f, 0.05f, 36, false);
        blocks[ib].d = fp32_to_fp16(d);
        blocks[ib].m = fp32_to_fp16(-min);
        pack_levels<Bits>(L, blocks[ib]);
    }
}

// ggml_quantize_chunk's dispatch: without importance the whole span goes through the _ref
// quantizer; with it, row by row through the weighted one.
template <typename Block, void (*Ref)(const float*, void*, int64_t),
          void (*Weighted)(const float*, Block*, int64_t, const float*)>
size_t quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
    const size_t row_bytes = (size_t)(n_per_row / QK) * sizeof(Block);
    if (!importance) {
        Ref(src, dst, n_rows * n_per_row);
    } else {
        for (int64_t row = 0; row < n_rows; ++row)
            Weighted(src + row * n_per_row, reinterpret_cast<Block*>(static_cast<char*>(dst) + row * row_bytes),
                     n_per_row, importance);
    }
    return (size_t)n_rows * row_bytes;
}

// ---- 8-bit: Q8_0 (d), Q8_1 (d and s = d * sum of levels)

template <typename Block>
void q8_quantize_ref(const float* x, void* dst, int64_t n) {
    Block* blocks = static_cast<Block*>(dst);
    for (int64_t ib = 0; ib < n / QK; ++ib, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        blocks[ib].d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < QK; ++j) {
            blocks[ib].qs[j] = truncate_to_int8(std::round(x[j] * id));
            sum += blocks[ib].qs[j];
        }
        if constexpr (requires { blocks[ib].s; }) blocks[ib].s = fp32_to_fp16((float)sum * d);
    }
}

template <typename Block>
void q8_to_float(const void* src, float* y, int64_t n) {
    const Block* blocks = static_cast<const Block*>(src);
    for (int64_t ib = 0; ib < n / QK; ++ib) {
        const float d = fp16_to_fp32(blocks[ib].d);
        for (int j = 0; j < QK; ++j) y[ib * QK + j] = (float)blocks[ib].qs[j] * d;
    }
}

}  // namespace

void q4_0_to_float(const void* s, float* d, int64_t n) { symmetric_to_float<4, BlockQ4_0>(s, d, n); }
void q5_0_to_float(const void* s, float* d, int64_t n) { symmetric_to_float<5, BlockQ5_0>(s, d, n); }
void q4_1_to_float(const void* s, float* d, int64_t n) { affine_to_float<4, BlockQ4_1>(s, d, n); }
void q5_1_to_float(const void* s, float* d, int64_t n) { affine_to_float<5, BlockQ5_1>(s, d, n); }
void q8_0_to_float(const void* s, float* d, int64_t n) { q8_to_float<BlockQ8_0>(s, d, n); }
void q8_1_to_float(const void* s, float* d, int64_t n) { q8_to_float<BlockQ8_1>(s, d, n); }

void q4_0_from_float_ref(const float* s, void* d, int64_t n) { symmetric_quantize_ref<4, BlockQ4_0>(s, d, n); }
void q5_0_from_float_ref(const float* s, void* d, int64_t n) { symmetric_quantize_ref<5, BlockQ5_0>(s, d, n); }
void q4_1_from_float_ref(const float* s, void* d, int64_t n) { affine_quantize_ref<4, BlockQ4_1>(s, d, n); }
void q5_1_from_float_ref(const float* s, void* d, int64_t n) { affine_quantize_ref<5, BlockQ5_1>(s, d, n); }
void q8_0_from_float_ref(const float* s, void* d, int64_t n) { q8_quantize_ref<BlockQ8_0>(s, d, n); }
void q8_1_from_float_ref(const float* s, void* d, int64_t n) { q8_quantize_ref<BlockQ8_1>(s, d, n); }

size_t q4_0_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* imp) {
    return quantize_rows<BlockQ4_0, q4_0_from_float_ref, symmetric_quantize_weighted_row<4, BlockQ4_0>>(
        src, dst, n_rows, n_per_row, imp);
}
size_t q5_0_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* imp) {
    return quantize_rows<BlockQ5_0, q5_0_from_float_ref, symmetric_quantize_weighted_row<5, BlockQ5_0>>(
        src, dst, n_rows, n_per_row, imp);
}
size_t q4_1_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* imp) {
    return quantize_rows<BlockQ4_1, q4_1_from_float_ref, affine_quantize_weighted_row<4, BlockQ4_1>>(
        src, dst, n_rows, n_per_row, imp);
}
size_t q5_1_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* imp) {
    return quantize_rows<BlockQ5_1, q5_1_from_float_ref, affine_quantize_weighted_row<5, BlockQ5_1>>(
        src, dst, n_rows, n_per_row, imp);
}
// Q8_0 ignores importance weights (ggml's quantize_q8_0 does).
size_t q8_0_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float*) {
    q8_0_from_float_ref(src, dst, n_rows * n_per_row);
    return (size_t)(n_rows * n_per_row / QK) * sizeof(BlockQ8_0);
}

}  // namespace shootout::quant::family
