// Dot products of the K-quants with Q8_K activations. A K-quant block is 16 groups of 16 levels,
// group j worth d*scale_j*q - dmin*min_j; Q8_K carries per-16 sums of its levels (bsums), so the
// min's share is dmin*d_x*sum_j min_j*bsums_j without touching the levels. The scalar versions
// unpack a block into (levels, scales, mins) and share one integer kernel; the AVX2 versions
// (Q4_K, Q5_K, Q6_K) work on the packed bytes.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "backend/cpu/activation_conversion.h"
#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot.h"
#include "quant/block_formats.h"
#include "util/fp16.h"

namespace shootout::cpu::dot {
namespace {

using namespace quant;
constexpr int QK_K = kSuperBlock;

struct Unpacked {
    int8_t q[QK_K];  // signed levels, offsets applied
    int scale[16];   // per group of 16
    int min[16];
    float d, dmin;
};

void unpack(const BlockQ2_K& b, Unpacked& u) {
    for (int j = 0; j < QK_K; ++j) u.q[j] = (int8_t)((b.qs[32 * (j / 128) + j % 32] >> (2 * ((j % 128) / 32))) & 3);
    for (int g = 0; g < 16; ++g) {
        u.scale[g] = b.scales[g] & 0xF;
        u.min[g] = b.scales[g] >> 4;
    }
    u.d = fp16_to_fp32(b.d);
    u.dmin = fp16_to_fp32(b.dmin);
}

void unpack(const BlockQ3_K& b, Unpacked& u) {
    for (int j = 0; j < QK_K; ++j) {
        const int low = (b.qs[32 * (j / 128) + j % 32] >> (2 * ((j % 128) / 32))) & 3;
        const bool high = (b.hmask[j % 32] >> (j / 32)) & 1;
        u.q[j] = (int8_t)(low - (high ? 0 : 4));
    }
    for (int g = 0; g < 16; ++g) {
        u.scale[g] = q3k_scale(g, b.scales);
        u.min[g] = 0;
    }
    u.d = fp16_to_fp32(b.d);
    u.dmin = 0;
}

template <typename Block>
void unpack_q4_q5(const Block& b, Unpacked& u) {
    constexpr bool five = sizeof(Block) == sizeof(BlockQ5_K);
    for (int chunk = 0; chunk < 4; ++chunk) {
        for (int l = 0; l < 32; ++l) {
            int lo = b.qs[32 * chunk + l] & 0xF, hi = b.qs[32 * chunk + l] >> 4;
            if constexpr (five) {
                lo |= ((b.qh[l] >> (2 * chunk)) & 1) << 4;
                hi |= ((b.qh[l] >> (2 * chunk + 1)) & 1) << 4;
            }
            u.q[64 * chunk + l] = (int8_t)lo;
            u.q[64 * chunk + 32 + l] = (int8_t)hi;
        }
    }
    for (int sub = 0; sub < 8; ++sub) {
        uint8_t sc, m;
        k4_scale_min(sub, b.scales, sc, m);
        u.scale[2 * sub] = u.scale[2 * sub + 1] = sc;
        u.min[2 * sub] = u.min[2 * sub + 1] = m;
    }
    u.d = fp16_to_fp32(b.d);
    u.dmin = fp16_to_fp32(b.dmin);
}

void unpack(const BlockQ4_K& b, Unpacked& u) { unpack_q4_q5(b, u); }
void unpack(const BlockQ5_K& b, Unpacked& u) { unpack_q4_q5(b, u); }

void unpack(const BlockQ6_K& b, Unpacked& u) {
    for (int half = 0; half < 2; ++half) {
        const uint8_t* ql = b.ql + 64 * half;
        const uint8_t* qh = b.qh + 32 * half;
        int8_t* q = u.q + 128 * half;
        for (int l = 0; l < 32; ++l) {
            q[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            q[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            q[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            q[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
    for (int g = 0; g < 16; ++g) {
        u.scale[g] = b.scales[g];
        u.min[g] = 0;
    }
    u.d = fp16_to_fp32(b.d);
    u.dmin = 0;
}

template <typename Block>
float dot_scalar(int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    Unpacked u;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        unpack(a[i], u);
        int scaled = 0, mins = 0;
        for (int g = 0; g < 16; ++g) {
            int group = 0;
            for (int k = 0; k < 16; ++k) group += u.q[16 * g + k] * b[i].qs[16 * g + k];
            scaled += u.scale[g] * group;
            mins += u.min[g] * b[i].bsums[g];
        }
        sum += b[i].d * (u.d * (float)scaled - u.dmin * (float)mins);
    }
    return sum;
}

}  // namespace

void q2_k_scalar(int64_t n, float* r, const void* w, const void* x) { *r = dot_scalar<BlockQ2_K>(n, w, x); }
void q3_k_scalar(int64_t n, float* r, const void* w, const void* x) { *r = dot_scalar<BlockQ3_K>(n, w, x); }
void q4_k_scalar(int64_t n, float* r, const void* w, const void* x) { *r = dot_scalar<BlockQ4_K>(n, w, x); }
void q5_k_scalar(int64_t n, float* r, const void* w, const void* x) { *r = dot_scalar<BlockQ5_K>(n, w, x); }
void q6_k_scalar(int64_t n, float* r, const void* w, const void* x) { *r = dot_scalar<BlockQ6_K>(n, w, x); }

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

// sum over 32 elements of scale(element) * u * s, u unsigned levels (< 64), s the activations;
// `scales` holds one int16 scale per pair of elements (maddubs pairs neighbours).
inline __m256i scaled_dot(__m256i u, const int8_t* s, __m256i scales) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i*)s)), scales);
}

template <bool Five, typename Block>
float q4_q5_avx2(int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        uint8_t sc[8], m[8];
        int mins = 0;
        for (int sub = 0; sub < 8; ++sub) {
            k4_scale_min(sub, a[i].scales, sc[sub], m[sub]);
            mins += m[sub] * (b[i].bsums[2 * sub] + b[i].bsums[2 * sub + 1]);
        }
        __m256i high_bits = _mm256_setzero_si256();
        if constexpr (Five) high_bits = _mm256_loadu_si256((const __m256i*)a[i].qh);
        __m256i acc = _mm256_setzero_si256();
        for (int chunk = 0; chunk < 4; ++chunk) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i*)(a[i].qs + 32 * chunk));
            __m256i lo = _mm256_and_si256(bytes, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
            if constexpr (Five) {
                const __m256i one = _mm256_set1_epi8(1);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * chunk), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * chunk + 1), one), 4));
            }
            acc = _mm256_add_epi32(acc, scaled_dot(lo, b[i].qs + 64 * chunk, _mm256_set1_epi16(sc[2 * chunk])));
            acc = _mm256_add_epi32(acc, scaled_dot(hi, b[i].qs + 64 * chunk + 32, _mm256_set1_epi16(sc[2 * chunk + 1])));
        }
        // Explicit FMAs (no contraction left to the compiler): the register tiles (matmul_tiles.cpp)
        // do the same operations lane by lane and must agree bit for bit.
        float mins_term = fp16_to_fp32(a[i].dmin) * (float)mins;
        __asm__("" : "+x"(mins_term));
        sum = std::fma(b[i].d, std::fma(fp16_to_fp32(a[i].d), (float)horizontal_sum_i32(acc), -mins_term), sum);
    }
    return sum;
}

}  // namespace

void q4_k_avx2(int64_t n, float* r, const void* w, const void* x) { *r = q4_q5_avx2<false, BlockQ4_K>(n, w, x); }
void q5_k_avx2(int64_t n, float* r, const void* w, const void* x) { *r = q4_q5_avx2<true, BlockQ5_K>(n, w, x); }

// Q6_K: levels are 0..63 unsigned in the packed form; the -32 offset is folded in afterwards as
// 32 * sum_g scale_g * bsums_g.
void q6_k_avx2(int64_t n, float* r, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ6_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        int offset = 0;
        for (int g = 0; g < 16; ++g) offset += a[i].scales[g] * b[i].bsums[g];
        __m256i acc = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i*)(a[i].ql + 64 * half));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i*)(a[i].ql + 64 * half + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i*)(a[i].qh + 32 * half));
            auto high = [&](int shift) {
                return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, shift), two), 4);
            };
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, low4), high(0)),
                _mm256_or_si256(_mm256_and_si256(ql1, low4), high(2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), high(4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), high(6)),
            };
            const int8_t* sc = a[i].scales + 8 * half;
            for (int k = 0; k < 4; ++k) {
                // 32 elements = groups 2k and 2k+1 of this half: low lane and high lane.
                const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                acc = _mm256_add_epi32(acc, scaled_dot(q[k], b[i].qs + 128 * half + 32 * k, scales));
            }
        }
        float scaled = fp16_to_fp32(a[i].d) * (float)(horizontal_sum_i32(acc) - 32 * offset);
        __asm__("" : "+x"(scaled));
        sum = std::fma(b[i].d, scaled, sum);  // as the Q6_K tile, lane by lane
    }
    *r = sum;
}

// Q8_K activations as quant's q8_k_from_float_ref, bit for bit: the signed value of largest
// magnitude (its first occurrence) sets iscale = -127 / max; levels are ggml's nearest_int (the
// 1.5 * 2^23 magic, replayed on the integer bits, so NaN and infinities give the same bytes) capped at
// 127 and kept as their low byte, as the reference's int8 cast does.
void q8_k_from_float_avx2(const float* x, void* dst, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(dst);
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        __m256 amax_v = _mm256_setzero_ps();
        // max_ps returns its second operand when either is NaN: NaNs are skipped, as `fabs > amax` does.
        for (int j = 0; j < QK_K; j += 8) amax_v = _mm256_max_ps(_mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + j)), amax_v);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax_v), _mm256_extractf128_ps(amax_v, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        if (!(amax > 0)) {
            std::memset(&y[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        float max = 0;
        const __m256 amax_b = _mm256_set1_ps(amax);
        for (int j = 0; j < QK_K; j += 8) {
            const int mask = _mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + j)), amax_b, _CMP_EQ_OQ));
            if (mask) {
                max = x[j + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 iscale_v = _mm256_set1_ps(iscale), magic = _mm256_set1_ps(12582912.f);
        const __m256i mantissa = _mm256_set1_epi32(0x007fffff), bias = _mm256_set1_epi32(0x00400000);
        const __m256i cap = _mm256_set1_epi32(127), low_byte = _mm256_set1_epi32(0xFF);
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        const __m256i ones = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
        alignas(32) int32_t group_sums[16];
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; ++k) {
                __m256 p = _mm256_mul_ps(iscale_v, _mm256_loadu_ps(x + j + 8 * k));
                __asm__("" : "+x"(p));  // rounded product, then the magic add: no FMA
                const __m256i bits = _mm256_castps_si256(_mm256_add_ps(p, magic));
                const __m256i level = _mm256_min_epi32(_mm256_sub_epi32(_mm256_and_si256(bits, mantissa), bias), cap);
                q[k] = _mm256_and_si256(level, low_byte);
            }
            const __m256i bytes = _mm256_permutevar8x32_epi32(
                _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3])), order);
            _mm256_storeu_si256((__m256i*)(y[i].qs + j), bytes);
            // int32 lanes 0-3: sums of 4 levels of group j/16, lanes 4-7: of group j/16 + 1.
            const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(ones, bytes), ones16);
            __m128i lo = _mm256_castsi256_si128(quads), hi = _mm256_extracti128_si256(quads, 1);
            lo = _mm_hadd_epi32(lo, hi);
            lo = _mm_hadd_epi32(lo, lo);
            group_sums[j / 16] = _mm_extract_epi32(lo, 0);
            group_sums[j / 16 + 1] = _mm_extract_epi32(lo, 1);
        }
        for (int g = 0; g < QK_K / 16; ++g) y[i].bsums[g] = (int16_t)group_sums[g];
        y[i].d = 1 / iscale;
    }
}
#endif

}  // namespace shootout::cpu::dot
