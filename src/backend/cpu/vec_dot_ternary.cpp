// Dot products of the ternary types TQ1_0 and TQ2_0 with Q8_K activations (as ggml pairs them).
// The levels are stored as t = 0, 1, 2 for -1, 0, +1, so per block
// sum((t - 1) * q_x) = sum(t * q_x) - sum(q_x), the last from Q8_K's bsums; t * q_x is an
// unsigned-by-signed byte product, which is what AVX2's maddubs multiplies.
#include <immintrin.h>

#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot_more.h"
#include "quant/block_formats.h"
#include "util/fp16.h"

namespace shootout::cpu::dot {
namespace {

using namespace quant;
constexpr int QK_K = kSuperBlock;

inline int unpack_trit(uint8_t byte, int n) {
    static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
    return (((uint8_t)(byte * kPow3[n])) * 3) >> 8;
}

inline int bsum_total(const BlockQ8_K& b) {
    int sum = 0;
    for (int g = 0; g < 16; ++g) sum += b.bsums[g];
    return sum;
}

}  // namespace

void tq1_0_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockTQ1_0*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const int8_t* y = b[i].qs;
        int isum = 0;
        // Element order as TQ1_0's to_float: 5 trits of qs[0..31], 5 of qs[32..47], 4 of qh.
        for (int t = 0; t < 5; ++t)
            for (int m = 0; m < 32; ++m) isum += unpack_trit(a[i].qs[m], t) * *y++;
        for (int t = 0; t < 5; ++t)
            for (int m = 0; m < 16; ++m) isum += unpack_trit(a[i].qs[32 + m], t) * *y++;
        for (int t = 0; t < 4; ++t)
            for (int j = 0; j < 4; ++j) isum += unpack_trit(a[i].qh[j], t) * *y++;
        sum += (float)(isum - bsum_total(b[i])) * (fp16_to_fp32(a[i].d) * b[i].d);
    }
    *result = sum;
}

void tq2_0_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockTQ2_0*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const int8_t* y = b[i].qs;
        int isum = 0;
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m) isum += ((a[i].qs[32 * h + m] >> (2 * l)) & 3) * *y++;
        sum += (float)(isum - bsum_total(b[i])) * (fp16_to_fp32(a[i].d) * b[i].d);
    }
    *result = sum;
}

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

// Trit n of every byte, with 3^n given per 16-bit lane (so different lanes may read different
// trits): for the low byte b0 of a lane, (lane * p) << 8 keeps (b0 * p mod 256) in the high byte,
// and mulhi by 3 gives ((b0 * p mod 256) * 3) >> 8; the high byte likewise after masking b0 away.
inline __m256i trits(__m256i bytes, __m256i pow3) {
    const __m256i three = _mm256_set1_epi16(3);
    const __m256i lo = _mm256_mulhi_epu16(_mm256_slli_epi16(_mm256_mullo_epi16(bytes, pow3), 8), three);
    const __m256i hi_in = _mm256_and_si256(bytes, _mm256_set1_epi16((short)0xFF00));
    const __m256i hi = _mm256_mulhi_epu16(_mm256_mullo_epi16(hi_in, pow3), three);
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 8));
}

// sum(t * y) over 32 bytes as 8 int32 lanes (t in 0..2, |y| <= 128: no int16 saturation).
inline __m256i dot_u8_s8(__m256i t, const int8_t* y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(t, _mm256_loadu_si256((const __m256i*)y)), _mm256_set1_epi16(1));
}

}  // namespace

void tq1_0_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockTQ1_0*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    static constexpr int16_t kPow3[5] = {1, 3, 9, 27, 81};
    // qs[32..47] into both lanes, the low lane reading trit n and the high lane trit n + 1; qh's
    // 4 bytes repeated 8 times, the 4 copies of each lane half reading trits 0..3.
    const __m256i pow3_01 = _mm256_set_m128i(_mm_set1_epi16(3), _mm_set1_epi16(1));
    const __m256i pow3_23 = _mm256_set_m128i(_mm_set1_epi16(27), _mm_set1_epi16(9));
    const __m256i pow3_4 = _mm256_set1_epi16(81);
    const __m256i pow3_qh = _mm256_set_epi16(27, 27, 9, 9, 3, 3, 1, 1, 27, 27, 9, 9, 3, 3, 1, 1);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const int8_t* y = b[i].qs;
        const __m256i q32 = _mm256_loadu_si256((const __m256i*)a[i].qs);
        __m256i sums = _mm256_setzero_si256();
        for (int t = 0; t < 5; ++t) sums = _mm256_add_epi32(sums, dot_u8_s8(trits(q32, _mm256_set1_epi16(kPow3[t])), y + 32 * t));
        const __m128i q16 = _mm_loadu_si128((const __m128i*)(a[i].qs + 32));
        const __m256i q16x2 = _mm256_set_m128i(q16, q16);
        sums = _mm256_add_epi32(sums, dot_u8_s8(trits(q16x2, pow3_01), y + 160));
        sums = _mm256_add_epi32(sums, dot_u8_s8(trits(q16x2, pow3_23), y + 192));
        // Trit 4 of qs[32..47] (elements 224-239) and the 16 qh trits (240-255) share one vector.
        int32_t qh;
        __builtin_memcpy(&qh, a[i].qh, 4);
        const __m256i t4 = trits(q16x2, pow3_4);
        const __m256i tqh = trits(_mm256_set1_epi32(qh), pow3_qh);
        // Low lane of t4: elements 224-239; low lane of tqh: byte 4n + j is trit n of qh[j],
        // element 240 + 4n + j.
        sums = _mm256_add_epi32(sums, dot_u8_s8(_mm256_permute2x128_si256(t4, tqh, 0x20), y + 224));
        const int isum = horizontal_sum_i32(sums) - bsum_total(b[i]);
        sum += (float)isum * (fp16_to_fp32(a[i].d) * b[i].d);
    }
    *result = sum;
}

void tq2_0_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockTQ2_0*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m256i mask = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        __m256i sums = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i q = _mm256_loadu_si256((const __m256i*)(a[i].qs + 32 * h));
            for (int l = 0; l < 4; ++l) {
                const __m256i t = _mm256_and_si256(_mm256_srli_epi16(q, 2 * l), mask);
                sums = _mm256_add_epi32(sums, dot_u8_s8(t, b[i].qs + 128 * h + 32 * l));
            }
        }
        // Subtract sum(y) in the vector domain: bsums summed as 16 int16 -> int32 lanes.
        const __m256i bsums = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i*)b[i].bsums), _mm256_set1_epi16(1));
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(a[i].d) * b[i].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(sums, bsums)), acc);
    }
    *result = horizontal_sum(acc);
}
#endif

}  // namespace shootout::cpu::dot
