// Dot products of IQ3_XXS and IQ3_S with Q8_K activations (as ggml pairs them). Per sub-block of
// 32, the weights are 8 lattice points of 4 unsigned bytes (iq3_lattice.h) with 32 sign bits;
// the signs move onto the activations, so sum(point * sign * q_x) is an unsigned-by-signed byte
// product. Per super-block:
//   IQ3_XXS: d_w * d_x / 4 * sum_ib (2 ls + 1) * sum_ib(...)   (value = d (0.5 + ls) / 2 * point)
//   IQ3_S:   d_w * d_x * sum_ib (2 sc + 1) * sum_ib(...)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot_more.h"
#include "quant/block_formats.h"
#include "quant/iq3_lattice.h"
#include "util/fp16.h"

namespace shootout::cpu::dot {
namespace {

using namespace quant;
constexpr int QK_K = kSuperBlock;

// The 32 sign bits of IQ3_XXS sub-block ib (7 stored per 8, the 8th from parity) and its scale.
inline uint32_t iq3xxs_signs(const BlockIQ3_XXS& b, int ib, int& ls) {
    uint32_t aux;
    std::memcpy(&aux, b.qs + 64 + 4 * ib, 4);
    ls = (int)(aux >> 28);
    uint32_t signs = 0;
    for (int l = 0; l < 4; ++l) signs |= (uint32_t)iq_signs_from_7bits((aux >> (7 * l)) & 127) << (8 * l);
    return signs;
}

inline int iq3s_point(const BlockIQ3_S& b, int ib, int k) { return b.qs[8 * ib + k] | (((b.qh[ib] >> k) & 1) << 8); }

inline int signed_point_dot(const uint32_t* grid, const int* points, uint32_t signs, const int8_t* y) {
    int sum = 0;
    for (int k = 0; k < 8; ++k)
        for (int j = 0; j < 4; ++j) {
            const int v = (int)((grid[points[k]] >> (8 * j)) & 255);
            const int e = 4 * k + j;
            sum += ((signs >> e) & 1 ? -v : v) * y[e];
        }
    return sum;
}

}  // namespace

void iq3_xxs_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockIQ3_XXS*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const uint32_t* grid = iq3xxs_grid();
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        int block_sum = 0;
        for (int ib = 0; ib < 8; ++ib) {
            int ls = 0;
            const uint32_t signs = iq3xxs_signs(a[i], ib, ls);
            int points[8];
            for (int k = 0; k < 8; ++k) points[k] = a[i].qs[8 * ib + k];
            block_sum += (2 * ls + 1) * signed_point_dot(grid, points, signs, b[i].qs + 32 * ib);
        }
        sum += (float)block_sum * (fp16_to_fp32(a[i].d) * b[i].d) * 0.25f;
    }
    *result = sum;
}

void iq3_s_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockIQ3_S*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const uint32_t* grid = iq3s_grid();
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        int block_sum = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const int sc = (a[i].scales[ib / 2] >> (4 * (ib % 2))) & 0xF;
            uint32_t signs;
            std::memcpy(&signs, a[i].signs + 4 * ib, 4);
            int points[8];
            for (int k = 0; k < 8; ++k) points[k] = iq3s_point(a[i], ib, k);
            block_sum += (2 * sc + 1) * signed_point_dot(grid, points, signs, b[i].qs + 32 * ib);
        }
        sum += (float)block_sum * (fp16_to_fp32(a[i].d) * b[i].d);
    }
    *result = sum;
}

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

// (2 s + 1) * sum(point * sign * y) over one sub-block, as 8 int32 lanes.
inline __m256i sub_block_dot(const uint32_t* grid, const int* points, uint32_t signs, const int8_t* y, int scale) {
    const __m256i weights = _mm256_set_epi32((int)grid[points[7]], (int)grid[points[6]], (int)grid[points[5]],
                                             (int)grid[points[4]], (int)grid[points[3]], (int)grid[points[2]],
                                             (int)grid[points[1]], (int)grid[points[0]]);
    const __m256i ys = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i*)y), sign_bytes(signs));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(weights, ys), _mm256_set1_epi16((short)(2 * scale + 1)));
}

}  // namespace

void iq3_xxs_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockIQ3_XXS*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const uint32_t* grid = iq3xxs_grid();
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) {
            int ls = 0;
            const uint32_t signs = iq3xxs_signs(a[i], ib, ls);
            int points[8];
            for (int k = 0; k < 8; ++k) points[k] = a[i].qs[8 * ib + k];
            acc = _mm256_add_epi32(acc, sub_block_dot(grid, points, signs, b[i].qs + 32 * ib, ls));
        }
        sum += (float)horizontal_sum_i32(acc) * (fp16_to_fp32(a[i].d) * b[i].d) * 0.25f;
    }
    *result = sum;
}

void iq3_s_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockIQ3_S*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const uint32_t* grid = iq3s_grid();
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) {
            uint32_t signs;
            std::memcpy(&signs, a[i].signs + 4 * ib, 4);
            int points[8];
            for (int k = 0; k < 8; ++k) points[k] = iq3s_point(a[i], ib, k);
            const int sc = (a[i].scales[ib / 2] >> (4 * (ib % 2))) & 0xF;
            acc = _mm256_add_epi32(acc, sub_block_dot(grid, points, signs, b[i].qs + 32 * ib, sc));
        }
        sum += (float)horizontal_sum_i32(acc) * (fp16_to_fp32(a[i].d) * b[i].d);
    }
    *result = sum;
}
#endif

}  // namespace shootout::cpu::dot
