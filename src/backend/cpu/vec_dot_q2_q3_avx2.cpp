// AVX2 dot products of Q2_K and Q3_K with Q8_K activations (the scalar references are in
// vec_dot_k_quants.cpp). Both store 2 low bits per element: byte m of 32-byte run h holds, at bits
// 2s, element 128h + 32s + m, so one shift and mask yields 32 consecutive levels, i.e. groups
// 8h+2s and 8h+2s+1 of 16. Per group g the sum is scale_g * sum(q * y):
//   Q2_K: d*sc_g*q - dmin*m_g, the min's share from Q8_K's bsums: dmin * sum_g m_g * bsums_g;
//   Q3_K: q = low + 4*high - 4 (high bit from hmask), so sum((t - 4) * y) = sum(t * y) - 4 * bsums_g
//   with t = low + 4*high in 0..7 (unsigned, as maddubs wants it).
#include <immintrin.h>

#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot_more.h"
#include "quant/block_formats.h"
#include "util/fp16.h"

namespace shootout::cpu::dot {

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

using namespace quant;
constexpr int QK_K = kSuperBlock;

// sum over the 32 elements of two groups of t * y, each group's 8 int16 pair sums weighted by its
// scale, as 8 int32 lanes. t <= 7 and |y| <= 128 keep maddubs' int16 pairs from saturating.
inline __m256i scaled_dot(__m256i t, const int8_t* y, int scale_lo, int scale_hi) {
    const __m256i pairs = _mm256_maddubs_epi16(t, _mm256_loadu_si256((const __m256i*)y));
    const __m256i scales = _mm256_set_m128i(_mm_set1_epi16((short)scale_hi), _mm_set1_epi16((short)scale_lo));
    return _mm256_madd_epi16(pairs, scales);
}

// sum_g weights[g] * bsums[g] over the 16 groups.
inline int weighted_bsums(const int16_t* bsums, const int16_t* weights) {
    return horizontal_sum_i32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i*)bsums),
                                                _mm256_loadu_si256((const __m256i*)weights)));
}

}  // namespace

void q2_k_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ2_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m256i mask = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        alignas(32) int16_t mins[16];
        for (int g = 0; g < 16; ++g) mins[g] = (int16_t)(a[i].scales[g] >> 4);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i q = _mm256_loadu_si256((const __m256i*)(a[i].qs + 32 * h));
            for (int s = 0; s < 4; ++s) {
                const int g = 8 * h + 2 * s;
                const __m256i t = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), mask);
                acc = _mm256_add_epi32(acc, scaled_dot(t, b[i].qs + 128 * h + 32 * s, a[i].scales[g] & 0xF,
                                                       a[i].scales[g + 1] & 0xF));
            }
        }
        const float dall = b[i].d * fp16_to_fp32(a[i].d);
        const float dmin = b[i].d * fp16_to_fp32(a[i].dmin);
        sum += dall * (float)horizontal_sum_i32(acc) - dmin * (float)weighted_bsums(b[i].bsums, mins);
    }
    *result = sum;
}

void q3_k_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ3_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m256i mask2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        alignas(32) int16_t scales[16], offsets[16];
        for (int g = 0; g < 16; ++g) {
            scales[g] = (int16_t)q3k_scale(g, a[i].scales);
            offsets[g] = (int16_t)(4 * scales[g]);
        }
        const __m256i hmask = _mm256_loadu_si256((const __m256i*)a[i].hmask);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i q = _mm256_loadu_si256((const __m256i*)(a[i].qs + 32 * h));
            for (int s = 0; s < 4; ++s) {
                const int g = 8 * h + 2 * s;
                // Bit 4h+s of hmask[m]; a 16-bit shift by <= 7 leaves bit 0 of each byte its own.
                const __m256i high = _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + s), one);
                const __m256i t = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * s), mask2),
                                                  _mm256_slli_epi16(high, 2));
                acc = _mm256_add_epi32(acc, scaled_dot(t, b[i].qs + 128 * h + 32 * s, scales[g], scales[g + 1]));
            }
        }
        const int isum = horizontal_sum_i32(acc) - weighted_bsums(b[i].bsums, offsets);
        sum += (float)isum * (b[i].d * fp16_to_fp32(a[i].d));
    }
    *result = sum;
}
#endif

}  // namespace shootout::cpu::dot
