// Dot products of the table-valued 4-bit types with 8-bit activations: MXFP4 and IQ4_NL against
// Q8_0 (per block of 32: d_w * d_x * sum(table[q] * q_x)), IQ4_XS against Q8_K (per super-block:
// d_w * d_x * sum over 8 sub-blocks of (ls - 32) * sum(table[q] * q_x)), as ggml pairs them.
// Integer sums per block are exact; only the float accumulation over blocks rounds. The AVX2
// versions look the levels up with a byte shuffle of the 16-entry table.
#include <immintrin.h>

#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot_more.h"
#include "quant/block_formats.h"
#include "util/fp16.h"

namespace shootout::cpu::dot {
namespace {

using namespace quant;
constexpr int QK = kLegacyBlock;
constexpr int QK_K = kSuperBlock;

// sum over 32 elements of table[nibble] * y, nibbles packed as in Q4_0 (j low, j + 16 high).
inline int table_dot_32(const int8_t* table, const uint8_t* qs, const int8_t* y) {
    int sum = 0;
    for (int j = 0; j < 16; ++j) sum += table[qs[j] & 0xF] * y[j] + table[qs[j] >> 4] * y[j + 16];
    return sum;
}

}  // namespace

void mxfp4_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockMXFP4*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK; ++i)
        sum += (float)table_dot_32(kMXFP4Values, a[i].qs, b[i].qs) * (fp16_to_fp32(b[i].d) * e8m0_to_fp32_half(a[i].e));
    *result = sum;
}

void iq4_nl_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockIQ4_NL*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK; ++i)
        sum += (float)table_dot_32(kIQ4NLValues, a[i].qs, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    *result = sum;
}

void iq4_xs_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockIQ4_XS*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        int block_sum = 0;
        for (int ib = 0; ib < QK_K / 32; ++ib)
            block_sum += (iq4xs_scale(a[i], ib) - 32) * table_dot_32(kIQ4NLValues, a[i].qs + 16 * ib, b[i].qs + 32 * ib);
        sum += (float)block_sum * (fp16_to_fp32(a[i].d) * b[i].d);
    }
    *result = sum;
}

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

inline __m256i load_table(const int8_t* table) {
    const __m128i t = _mm_loadu_si128((const __m128i*)table);
    return _mm256_set_m128i(t, t);
}

// 16 bytes of nibbles -> the 32 table values (elements 0-15 in the low lane, 16-31 in the high).
inline __m256i lookup_32(__m256i table, const uint8_t* qs) {
    const __m128i bytes = _mm_loadu_si128((const __m128i*)qs);
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m256i idx = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask), _mm_and_si128(bytes, mask));
    return _mm256_shuffle_epi8(table, idx);
}

// Signed bytes times signed bytes, summed in pairs to 16 int16 lanes (|a| <= 127, |b| <= 128: no
// saturation).
inline __m256i dot_pairs(__m256i a, __m256i b) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

inline __m256 dot_32(__m256i table, const uint8_t* qs, const int8_t* y) {
    const __m256i pairs = dot_pairs(lookup_32(table, qs), _mm256_loadu_si256((const __m256i*)y));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

}  // namespace

void mxfp4_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockMXFP4*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    const __m256i table = load_table(kMXFP4Values);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; ++i) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(b[i].d) * e8m0_to_fp32_half(a[i].e));
        acc = _mm256_fmadd_ps(d, dot_32(table, a[i].qs, b[i].qs), acc);
    }
    *result = horizontal_sum(acc);
}

void iq4_nl_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockIQ4_NL*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    const __m256i table = load_table(kIQ4NLValues);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; ++i) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
        acc = _mm256_fmadd_ps(d, dot_32(table, a[i].qs, b[i].qs), acc);
    }
    *result = horizontal_sum(acc);
}

void iq4_xs_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockIQ4_XS*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m256i table = load_table(kIQ4NLValues);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        // Per sub-block: int16 pair sums times the signed 6-bit scale, summed to int32 (at most
        // 8 * 32 * 127 * 128 * 32 in magnitude per lane: no overflow).
        __m256i sums = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const __m256i pairs = dot_pairs(lookup_32(table, a[i].qs + 16 * ib),
                                            _mm256_loadu_si256((const __m256i*)(b[i].qs + 32 * ib)));
            const __m256i scale = _mm256_set1_epi16((int16_t)(iq4xs_scale(a[i], ib) - 32));
            sums = _mm256_add_epi32(sums, _mm256_madd_epi16(pairs, scale));
        }
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(a[i].d) * b[i].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sums), acc);
    }
    *result = horizontal_sum(acc);
}
#endif

}  // namespace shootout::cpu::dot
