// Dot products of the 32-element block types with 8-bit activations: Q4_0, Q5_0, Q8_0 against
// Q8_0 (sum of d_w*d_x*sum(q_w*q_x)), Q4_1, Q5_1 against Q8_1, whose s = d_x*sum(q_x) carries the
// weight min's share (m_w * s_x). Integer sums per block are exact; only the float accumulation
// over blocks rounds.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <immintrin.h>

#include "backend/cpu/activation_conversion.h"
#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot.h"
#include "quant/block_formats.h"
#include "util/fp16.h"

namespace shootout::cpu::dot {
namespace {

using namespace quant;
constexpr int QK = kLegacyBlock;

// Levels of one block as integers (unbiased for the symmetric types).
inline void levels_4bit(const uint8_t* qs, int offset, int* q) {
    for (int j = 0; j < QK / 2; ++j) {
        q[j] = (qs[j] & 0x0F) - offset;
        q[j + QK / 2] = (qs[j] >> 4) - offset;
    }
}

inline void levels_5bit(const uint8_t* qs, const uint8_t* qh_bytes, int offset, int* q) {
    uint32_t qh;
    std::memcpy(&qh, qh_bytes, 4);
    for (int j = 0; j < QK / 2; ++j) {
        q[j] = ((qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4)) - offset;
        q[j + QK / 2] = ((qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - offset;
    }
}

inline int int_dot(const int* q, const int8_t* y) {
    int sum = 0;
    for (int j = 0; j < QK; ++j) sum += q[j] * y[j];
    return sum;
}

// One level of ggml's x86 CPU activation quantizer (quantize_row_q8_0 / _q8_1 in
// ggml-cpu/arch/x86/quants.c, the conversion llama.cpp's matmuls use; its reference quantizer,
// which llama-quantize uses for weights, is not it): the product x * (127 / amax) in float, rounded
// half to even (_mm256_round_ps), converted to int32 (0x80000000 where not finite or out of range)
// and saturated to int8. The reference's 1 / (amax / 127) and round-half-away change ~0.1 % of the
// levels of real activations, enough to move a Q8_0 model's KLD by tens of percent.
inline int32_t q8_level(float x, float id) {
    const float r = std::nearbyint(x * id);  // default rounding mode: half to even
    return r >= -2147483648.0f && r < 2147483648.0f ? (int32_t)r : INT32_MIN;
}

template <bool WithSum, typename Block>
void q8_legacy_from_float_scalar(const float* x, void* dst, int64_t n) {
    Block* blocks = static_cast<Block*>(dst);
    for (int64_t ib = 0; ib < n / QK; ++ib, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; ++j) {
            const float a = std::fabs(x[j]);
            if (a > amax) amax = a;  // NaN compares false: skipped
        }
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        blocks[ib].d = fp32_to_fp16(d);
        uint32_t sum = 0;  // int32 with wraparound, as the SIMD lanes add
        for (int j = 0; j < QK; ++j) {
            const int32_t level = q8_level(x[j], id);
            sum += (uint32_t)level;
            blocks[ib].qs[j] = (int8_t)std::clamp(level, -128, 127);
        }
        if constexpr (WithSum) blocks[ib].s = fp32_to_fp16(d * (float)(int32_t)sum);
    }
}

}  // namespace

void q8_0_from_float_scalar(const float* x, void* dst, int64_t n) { q8_legacy_from_float_scalar<false, BlockQ8_0>(x, dst, n); }
void q8_1_from_float_scalar(const float* x, void* dst, int64_t n) { q8_legacy_from_float_scalar<true, BlockQ8_1>(x, dst, n); }

void q4_0_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK; ++i) {
        int q[QK];
        levels_4bit(a[i].qs, 8, q);
        sum += (float)int_dot(q, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    }
    *result = sum;
}

void q5_0_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK; ++i) {
        int q[QK];
        levels_5bit(a[i].qs, a[i].qh, 16, q);
        sum += (float)int_dot(q, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    }
    *result = sum;
}

void q8_0_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ8_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK; ++i) {
        int isum = 0;
        for (int j = 0; j < QK; ++j) isum += a[i].qs[j] * b[i].qs[j];
        sum += (float)isum * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    }
    *result = sum;
}

void q4_1_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_1*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK; ++i) {
        int q[QK];
        levels_4bit(a[i].qs, 0, q);
        sum += (float)int_dot(q, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d)) +
               fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
    }
    *result = sum;
}

void q5_1_scalar(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_1*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK; ++i) {
        int q[QK];
        levels_5bit(a[i].qs, a[i].qh, 0, q);
        sum += (float)int_dot(q, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d)) +
               fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
    }
    *result = sum;
}

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0-15) in the low lane, high in the high.
inline __m256i unpack_nibbles(const uint8_t* qs) {
    const __m128i bytes = _mm_loadu_si128((const __m128i*)qs);
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(bytes, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

// 32 bits -> 32 bytes, 0x10 where bit j is set, else 0 (the 5th bit of the Q5 levels).
inline __m256i fifth_bits(const uint8_t* qh_bytes) {
    uint32_t qh;
    std::memcpy(&qh, qh_bytes, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)qh),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201ULL);
    const __m256i is_set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_and_si256(is_set, _mm256_set1_epi8(0x10));
}

// Sum of products of 32 unsigned bytes with 32 signed bytes, as 8 int32 lanes (as floats).
inline __m256 dot_u8_s8(__m256i u, __m256i s) {
    const __m256i pairs = _mm256_maddubs_epi16(u, s);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Signed by signed: move the sign of a onto b, multiply |a| (unsigned) by that.
inline __m256 dot_s8_s8(__m256i a, __m256i b) {
    return dot_u8_s8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

inline __m256i load_q8(const int8_t* qs) { return _mm256_loadu_si256((const __m256i*)qs); }

}  // namespace

namespace {

// The 4-bit levels of a Q4_x block, or the 5-bit ones of a Q5_x block (the fifth bit from qh).
template <bool kHigh, typename Block>
__m256i levels(const Block& blk) {
    const __m256i q = unpack_nibbles(blk.qs);
    if constexpr (kHigh) return _mm256_or_si256(q, fifth_bits(blk.qh));
    else return q;
}

// Q4_0 / Q5_0 by Q8_0: levels centred by 8 / 16, one scale product per block.
template <bool kHigh, typename Block>
void symmetric_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; ++i) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
        const __m256i q = _mm256_sub_epi8(levels<kHigh>(a[i]), _mm256_set1_epi8(kHigh ? 16 : 8));
        acc = _mm256_fmadd_ps(d, dot_s8_s8(q, load_q8(b[i].qs)), acc);
    }
    *result = horizontal_sum(acc);
}

// Q4_1 / Q5_1 by Q8_1: unsigned levels, the block minimum times the activations' stored sum s.
template <bool kHigh, typename Block>
void affine_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    __m256 acc = _mm256_setzero_ps();
    float min_sum = 0;
    for (int64_t i = 0; i < n / QK; ++i) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
        min_sum += fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
        acc = _mm256_fmadd_ps(d, dot_u8_s8(levels<kHigh>(a[i]), load_q8(b[i].qs)), acc);
    }
    *result = horizontal_sum(acc) + min_sum;
}

}  // namespace

void q4_0_avx2(int64_t n, float* result, const void* w, const void* x) { symmetric_avx2<false, BlockQ4_0>(n, result, w, x); }
void q5_0_avx2(int64_t n, float* result, const void* w, const void* x) { symmetric_avx2<true, BlockQ5_0>(n, result, w, x); }
void q4_1_avx2(int64_t n, float* result, const void* w, const void* x) { affine_avx2<false, BlockQ4_1>(n, result, w, x); }
void q5_1_avx2(int64_t n, float* result, const void* w, const void* x) { affine_avx2<true, BlockQ5_1>(n, result, w, x); }

void q8_0_avx2(int64_t n, float* result, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ8_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; ++i) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
        acc = _mm256_fmadd_ps(d, dot_s8_s8(load_q8(a[i].qs), load_q8(b[i].qs)), acc);
    }
    *result = horizontal_sum(acc);
}

// Q8_0 / Q8_1 activations as ggml's CPU backend converts them on x86 (quantize_row_q8_0 / _q8_1 of
// ggml-cpu/arch/x86/quants.c), i.e. what llama.cpp's matmuls multiply by; bit for bit the scalar
// q8_legacy_from_float_scalar above (q8_level states the rule).
template <bool WithSum, typename Block>
void q8_legacy_from_float(const float* x, void* dst, int64_t n) {
    Block* blocks = static_cast<Block*>(dst);
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t ib = 0; ib < n / QK; ++ib, x += QK) {
        __m256 v[4];
        __m256 amax_v = _mm256_setzero_ps();
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            // max_ps returns its second operand when either is NaN: NaNs are skipped, as the scalar does.
            amax_v = _mm256_max_ps(_mm256_andnot_ps(sign_bit, v[k]), amax_v);
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax_v), _mm256_extractf128_ps(amax_v, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        blocks[ib].d = fp32_to_fp16(d);
        const __m256 id_v = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; ++k) {
            __m256 p = _mm256_mul_ps(v[k], id_v);
            __asm__("" : "+x"(p));  // the rounded product is what gets rounded: no FMA with what follows
            // Half to even, then int32 (0x80000000 for NaN, infinities and out-of-range values).
            q[k] = _mm256_cvtps_epi32(_mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        }
        // Signed saturation to int16 then int8, as ggml packs them.
        const __m256i bytes = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3])), order);
        _mm256_storeu_si256((__m256i*)blocks[ib].qs, bytes);
        if constexpr (WithSum) {
            // ggml sums the int32 levels before saturation (equal to the stored ones for finite input).
            const __m256i sum8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum8), _mm256_extracti128_si256(sum8, 1));
            s4 = _mm_hadd_epi32(s4, s4);
            s4 = _mm_hadd_epi32(s4, s4);
            blocks[ib].s = fp32_to_fp16(d * (float)_mm_cvtsi128_si32(s4));
        }
    }
}

void q8_0_from_float_avx2(const float* x, void* dst, int64_t n) { q8_legacy_from_float<false, BlockQ8_0>(x, dst, n); }
void q8_1_from_float_avx2(const float* x, void* dst, int64_t n) { q8_legacy_from_float<true, BlockQ8_1>(x, dst, n); }
#endif

}  // namespace shootout::cpu::dot
