// Register tiles for the matmul (see matmul_tiles.h). Each tile keeps R x T accumulators of 8 float
// lanes: per block of the inner dimension it loads R weight rows and T activation rows once and forms
// all R*T products, where a plain vec_dot reloads (and re-unpacks) both for every output.
//
// The quantized tiles follow the lane layout and the float order of the AVX2 vec_dots exactly
// (acc = fma(d_w * d_x, lanes, acc) per block, one horizontal sum at the end), so their results are
// bit-identical; the integer products differ only in how they are formed, which is exact.
#include "backend/cpu/matmul_tiles.h"

#include "backend/cpu/avx2_reduce.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "quant/block_formats.h"

namespace shootout::cpu {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ8_0;
using quant::BlockQ8_1;
using quant::BlockQ4_K;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_K;

#define SHOOTOUT_INLINE inline __attribute__((always_inline))

// Hardware F16C conversion: equal to util/fp16.h's fp16_to_fp32 for every non-NaN half.
SHOOTOUT_INLINE float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0-15) in the low lane, high in the high.
SHOOTOUT_INLINE __m256i unpack_nibbles(const uint8_t* qs) {
    const __m128i bytes = _mm_loadu_si128((const __m128i*)qs);
    const __m128i mask = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask), _mm_and_si128(bytes, mask));
}

// 32 unsigned x 32 signed bytes -> 8 int32 lanes, each the sum of 4 neighbouring products.
SHOOTOUT_INLINE __m256i dot_u8_s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

struct Args {
    const uint8_t* w;
    size_t w_row_bytes;
    const uint8_t* x;
    size_t x_row_bytes;
    int64_t n_in;
    float* y;
    int64_t y_stride;
};

// Q4_0 x Q8_0: sum((u - 8) * x) = sum(u * x) - sum(8 * x), the second formed once per token.
struct TileQ4_0 {
    template <int R, int T>
    static SHOOTOUT_INLINE void run(const Args& a, int64_t r0, int64_t t0) {
        __m256 acc[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        const BlockQ4_0* wr[R];
        const BlockQ8_0* xt[T];
        for (int r = 0; r < R; ++r) wr[r] = (const BlockQ4_0*)(a.w + (size_t)(r0 + r) * a.w_row_bytes);
        for (int t = 0; t < T; ++t) xt[t] = (const BlockQ8_0*)(a.x + (size_t)(t0 + t) * a.x_row_bytes);
        const int64_t n_blocks = a.n_in / 32;
        for (int64_t i = 0; i < n_blocks; ++i) {
            __m256i q[R];
            float dw[R];
            for (int r = 0; r < R; ++r) {
                q[r] = unpack_nibbles(wr[r][i].qs);
                dw[r] = half_to_float(wr[r][i].d);
            }
            for (int t = 0; t < T; ++t) {
                const __m256i xv = _mm256_loadu_si256((const __m256i*)xt[t][i].qs);
                const __m256i offset = dot_u8_s8(_mm256_set1_epi8(8), xv);
                const float dx = half_to_float(xt[t][i].d);
                for (int r = 0; r < R; ++r) {
                    const __m256 lanes = _mm256_cvtepi32_ps(_mm256_sub_epi32(dot_u8_s8(q[r], xv), offset));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dx), lanes, acc[r][t]);
                }
            }
        }
        for (int t = 0; t < T; ++t)
            for (int r = 0; r < R; ++r) a.y[(t0 + t) * a.y_stride + r0 + r] = horizontal_sum(acc[r][t]);
    }
};

// Q8_0 x Q8_0: signed x signed through |w| and the sign of w moved onto x.
struct TileQ8_0 {
    template <int R, int T>
    static SHOOTOUT_INLINE void run(const Args& a, int64_t r0, int64_t t0) {
        __m256 acc[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        const BlockQ8_0* wr[R];
        const BlockQ8_0* xt[T];
        for (int r = 0; r < R; ++r) wr[r] = (const BlockQ8_0*)(a.w + (size_t)(r0 + r) * a.w_row_bytes);
        for (int t = 0; t < T; ++t) xt[t] = (const BlockQ8_0*)(a.x + (size_t)(t0 + t) * a.x_row_bytes);
        const int64_t n_blocks = a.n_in / 32;
        for (int64_t i = 0; i < n_blocks; ++i) {
            __m256i q[R], abs_q[R];
            float dw[R];
            for (int r = 0; r < R; ++r) {
                q[r] = _mm256_loadu_si256((const __m256i*)wr[r][i].qs);
                abs_q[r] = _mm256_sign_epi8(q[r], q[r]);
                dw[r] = half_to_float(wr[r][i].d);
            }
            for (int t = 0; t < T; ++t) {
                const __m256i xv = _mm256_loadu_si256((const __m256i*)xt[t][i].qs);
                const float dx = half_to_float(xt[t][i].d);
                for (int r = 0; r < R; ++r) {
                    const __m256 lanes = _mm256_cvtepi32_ps(dot_u8_s8(abs_q[r], _mm256_sign_epi8(xv, q[r])));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dx), lanes, acc[r][t]);
                }
            }
        }
        for (int t = 0; t < T; ++t)
            for (int r = 0; r < R; ++r) a.y[(t0 + t) * a.y_stride + r0 + r] = horizontal_sum(acc[r][t]);
    }
};

// Q4_1 x Q8_1: d_w d_x sum(u * x) in the lanes plus m_w * s_x summed as a separate float, as
// q4_1_avx2 does.
struct TileQ4_1 {
    template <int R, int T>
    static SHOOTOUT_INLINE void run(const Args& a, int64_t r0, int64_t t0) {
        __m256 acc[R][T];
        float min_sum[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps(), min_sum[r][t] = 0;
        const BlockQ4_1* wr[R];
        const BlockQ8_1* xt[T];
        for (int r = 0; r < R; ++r) wr[r] = (const BlockQ4_1*)(a.w + (size_t)(r0 + r) * a.w_row_bytes);
        for (int t = 0; t < T; ++t) xt[t] = (const BlockQ8_1*)(a.x + (size_t)(t0 + t) * a.x_row_bytes);
        const int64_t n_blocks = a.n_in / 32;
        for (int64_t i = 0; i < n_blocks; ++i) {
            __m256i q[R];
            float dw[R], mw[R];
            for (int r = 0; r < R; ++r) {
                q[r] = unpack_nibbles(wr[r][i].qs);
                dw[r] = half_to_float(wr[r][i].d);
                mw[r] = half_to_float(wr[r][i].m);
            }
            for (int t = 0; t < T; ++t) {
                const __m256i xv = _mm256_loadu_si256((const __m256i*)xt[t][i].qs);
                const float dx = half_to_float(xt[t][i].d), sx = half_to_float(xt[t][i].s);
                for (int r = 0; r < R; ++r) {
                    min_sum[r][t] += mw[r] * sx;
                    acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dx), _mm256_cvtepi32_ps(dot_u8_s8(q[r], xv)),
                                                acc[r][t]);
                }
            }
        }
        for (int t = 0; t < T; ++t)
            for (int r = 0; r < R; ++r)
                a.y[(t0 + t) * a.y_stride + r0 + r] = horizontal_sum(acc[r][t]) + min_sum[r][t];
    }
};

// ---- K-quants x Q8_K. The tile keeps one int32 accumulator vector per (row, token) for the current
// super-block, reduces the R*T of them into one vector (lane r * T + t) and does the float part,
// acc = fma(d_x, d_w * isum - dmin_w * mins, acc), for all pairs at once with the same explicit FMAs
// as the AVX2 vec_dots (vec_dot_k_quants.cpp), so every lane equals that vec_dot bit for bit.

// Lane k of the result: the sum of the 8 int32 lanes of v[k].
SHOOTOUT_INLINE __m256i transpose_sum(const __m256i v[8]) {
    const __m256i s01 = _mm256_hadd_epi32(v[0], v[1]), s23 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i s45 = _mm256_hadd_epi32(v[4], v[5]), s67 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i s0123 = _mm256_hadd_epi32(s01, s23), s4567 = _mm256_hadd_epi32(s45, s67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                            _mm256_permute2x128_si256(s0123, s4567, 0x31));
}

// sum over 32 elements of scale * u * x (u unsigned levels < 64, one int16 scale per element pair).
SHOOTOUT_INLINE __m256i scaled_dot(__m256i u, const int8_t* x, __m256i scales) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i*)x)), scales);
}

SHOOTOUT_INLINE void store_lanes(const Args& a, int64_t r0, int64_t t0, int R, int T, __m256 sums) {
    alignas(32) float out[8];
    _mm256_store_ps(out, sums);
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) a.y[(t0 + t) * a.y_stride + r0 + r] = out[r * T + t];
}

template <bool Five, class Block>
struct TileQ4Q5K {
    template <int R, int T>
    static SHOOTOUT_INLINE void run(const Args& a, int64_t r0, int64_t t0) {
        static_assert(R * T <= 8);
        const Block* wr[R];
        const BlockQ8_K* xt[T];
        for (int r = 0; r < R; ++r) wr[r] = (const Block*)(a.w + (size_t)(r0 + r) * a.w_row_bytes);
        for (int t = 0; t < T; ++t) xt[t] = (const BlockQ8_K*)(a.x + (size_t)(t0 + t) * a.x_row_bytes);
        const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
        __m256 sums = _mm256_setzero_ps();
        alignas(32) float dw[8] = {}, dmin[8] = {}, dx[8] = {};
        for (int64_t i = 0; i < a.n_in / 256; ++i) {
            __m256i acc[8], min_acc[8];
            for (int k = 0; k < 8; ++k) acc[k] = min_acc[k] = _mm256_setzero_si256();
            __m256i bsums[T];
            for (int t = 0; t < T; ++t) bsums[t] = _mm256_loadu_si256((const __m256i*)xt[t][i].bsums);
            for (int r = 0; r < R; ++r) {
                const Block& b = wr[r][i];
                uint8_t sc[8];
                alignas(32) int16_t mins[16];
                for (int sub = 0; sub < 8; ++sub) {
                    uint8_t m;
                    quant::k4_scale_min(sub, b.scales, sc[sub], m);
                    mins[2 * sub] = mins[2 * sub + 1] = m;
                }
                const __m256i mins_v = _mm256_load_si256((const __m256i*)mins);
                const float d = half_to_float(b.d), dm = half_to_float(b.dmin);
                for (int t = 0; t < T; ++t) {
                    min_acc[r * T + t] = _mm256_madd_epi16(mins_v, bsums[t]);
                    dw[r * T + t] = d;
                    dmin[r * T + t] = dm;
                }
                __m256i high_bits = _mm256_setzero_si256();
                if constexpr (Five) high_bits = _mm256_loadu_si256((const __m256i*)b.qh);
                for (int chunk = 0; chunk < 4; ++chunk) {
                    const __m256i bytes = _mm256_loadu_si256((const __m256i*)(b.qs + 32 * chunk));
                    __m256i lo = _mm256_and_si256(bytes, low4);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
                    if constexpr (Five) {
                        lo = _mm256_or_si256(
                            lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * chunk), one), 4));
                        hi = _mm256_or_si256(
                            hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * chunk + 1), one), 4));
                    }
                    const __m256i scale_lo = _mm256_set1_epi16(sc[2 * chunk]);
                    const __m256i scale_hi = _mm256_set1_epi16(sc[2 * chunk + 1]);
                    for (int t = 0; t < T; ++t) {
                        const int8_t* x = xt[t][i].qs + 64 * chunk;
                        acc[r * T + t] = _mm256_add_epi32(
                            acc[r * T + t],
                            _mm256_add_epi32(scaled_dot(lo, x, scale_lo), scaled_dot(hi, x + 32, scale_hi)));
                    }
                }
            }
            for (int t = 0; t < T; ++t)
                for (int r = 0; r < R; ++r) dx[r * T + t] = xt[t][i].d;
            const __m256 isum = _mm256_cvtepi32_ps(transpose_sum(acc));
            __m256 mins_term = _mm256_mul_ps(_mm256_load_ps(dmin), _mm256_cvtepi32_ps(transpose_sum(min_acc)));
            __asm__("" : "+x"(mins_term));
            sums = _mm256_fmadd_ps(_mm256_load_ps(dx), _mm256_fmsub_ps(_mm256_load_ps(dw), isum, mins_term), sums);
        }
        store_lanes(a, r0, t0, R, T, sums);
    }
};

// Q6_K: unsigned levels 0..63, the -32 offset folded in as -32 * sum_g scale_g * bsums_g, as
// q6_k_avx2 does.
struct TileQ6K {
    template <int R, int T>
    static SHOOTOUT_INLINE void run(const Args& a, int64_t r0, int64_t t0) {
        static_assert(R * T <= 8);
        const BlockQ6_K* wr[R];
        const BlockQ8_K* xt[T];
        for (int r = 0; r < R; ++r) wr[r] = (const BlockQ6_K*)(a.w + (size_t)(r0 + r) * a.w_row_bytes);
        for (int t = 0; t < T; ++t) xt[t] = (const BlockQ8_K*)(a.x + (size_t)(t0 + t) * a.x_row_bytes);
        const __m256i low4 = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(3);
        // Within each 128-bit lane, int16 0 (low lane) or int16 1 (high lane) of the dword broadcast below.
        const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2,
                                              3, 2, 3, 2, 3, 2, 3);
        __m256 sums = _mm256_setzero_ps();
        alignas(32) float dw[8] = {}, dx[8] = {};
        for (int64_t i = 0; i < a.n_in / 256; ++i) {
            __m256i acc[8];
            for (int k = 0; k < 8; ++k) acc[k] = _mm256_setzero_si256();
            __m256i bsums[T];
            for (int t = 0; t < T; ++t) bsums[t] = _mm256_loadu_si256((const __m256i*)xt[t][i].bsums);
            for (int r = 0; r < R; ++r) {
                const BlockQ6_K& b = wr[r][i];
                const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)b.scales));
                const float d = half_to_float(b.d);
                for (int t = 0; t < T; ++t) {
                    acc[r * T + t] = _mm256_sub_epi32(acc[r * T + t], _mm256_slli_epi32(_mm256_madd_epi16(scales16, bsums[t]), 5));
                    dw[r * T + t] = d;
                }
                for (int half = 0; half < 2; ++half) {
                    const __m256i ql0 = _mm256_loadu_si256((const __m256i*)(b.ql + 64 * half));
                    const __m256i ql1 = _mm256_loadu_si256((const __m256i*)(b.ql + 64 * half + 32));
                    const __m256i qh = _mm256_loadu_si256((const __m256i*)(b.qh + 32 * half));
                    for (int k = 0; k < 4; ++k) {
                        const __m256i ql = (k & 1) ? ql1 : ql0;
                        const __m256i low = k < 2 ? _mm256_and_si256(ql, low4)
                                                  : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low4);
                        const __m256i q = _mm256_or_si256(
                            low, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), two_bits), 4));
                        // groups 8 half + 2k (elements 0-15, low lane) and 8 half + 2k + 1 (high lane)
                        const __m256i scales = _mm256_shuffle_epi8(
                            _mm256_permutevar8x32_epi32(scales16, _mm256_set1_epi32(4 * half + k)), pick);
                        for (int t = 0; t < T; ++t)
                            acc[r * T + t] = _mm256_add_epi32(
                                acc[r * T + t], scaled_dot(q, xt[t][i].qs + 128 * half + 32 * k, scales));
                    }
                }
            }
            for (int t = 0; t < T; ++t)
                for (int r = 0; r < R; ++r) dx[r * T + t] = xt[t][i].d;
            __m256 scaled = _mm256_mul_ps(_mm256_load_ps(dw), _mm256_cvtepi32_ps(transpose_sum(acc)));
            __asm__("" : "+x"(scaled));
            sums = _mm256_fmadd_ps(_mm256_load_ps(dx), scaled, sums);
        }
        store_lanes(a, r0, t0, R, T, sums);
    }
};

// Float rows (F32, F16, BF16; activations in the same type): 8 elements per step.
SHOOTOUT_INLINE __m256 load_f32(const uint8_t* p) { return _mm256_loadu_ps((const float*)p); }
SHOOTOUT_INLINE __m256 load_f16(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
SHOOTOUT_INLINE __m256 load_bf16(const uint8_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
}

template <__m256 (*Load)(const uint8_t*), int kElementBytes>
struct TileFloat {
    template <int R, int T>
    static SHOOTOUT_INLINE void run(const Args& a, int64_t r0, int64_t t0) {
        __m256 acc[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        const uint8_t* wr[R];
        const uint8_t* xt[T];
        for (int r = 0; r < R; ++r) wr[r] = a.w + (size_t)(r0 + r) * a.w_row_bytes;
        for (int t = 0; t < T; ++t) xt[t] = a.x + (size_t)(t0 + t) * a.x_row_bytes;
        for (int64_t i = 0; i < a.n_in; i += 8) {
            const size_t offset = (size_t)i * kElementBytes;
            __m256 wv[R];
            for (int r = 0; r < R; ++r) wv[r] = Load(wr[r] + offset);
            for (int t = 0; t < T; ++t) {
                const __m256 xv = Load(xt[t] + offset);
                for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
            }
        }
        for (int t = 0; t < T; ++t)
            for (int r = 0; r < R; ++r) a.y[(t0 + t) * a.y_stride + r0 + r] = horizontal_sum(acc[r][t]);
    }
};

// Covers n_rows x n_tokens with R x T tiles, then the leftover rows one at a time and the leftover
// tokens one at a time.
template <class Tile, int R, int T>
void run_tiles(const uint8_t* w, size_t w_row_bytes, int64_t n_rows, const uint8_t* x, size_t x_row_bytes,
               int64_t n_tokens, int64_t n_in, float* y, int64_t y_stride) {
    const Args a{w, w_row_bytes, x, x_row_bytes, n_in, y, y_stride};
    const int64_t full_rows = n_rows - n_rows % R, full_tokens = n_tokens - n_tokens % T;
    for (int64_t t0 = 0; t0 < full_tokens; t0 += T) {
        for (int64_t r0 = 0; r0 < full_rows; r0 += R) Tile::template run<R, T>(a, r0, t0);
        for (int64_t r0 = full_rows; r0 < n_rows; ++r0) Tile::template run<1, T>(a, r0, t0);
    }
    for (int64_t t0 = full_tokens; t0 < n_tokens; ++t0) {
        for (int64_t r0 = 0; r0 < full_rows; r0 += R) Tile::template run<R, 1>(a, r0, t0);
        for (int64_t r0 = full_rows; r0 < n_rows; ++r0) Tile::template run<1, 1>(a, r0, t0);
    }
}

}  // namespace

TileMatmul find_tile_matmul(quant::TypeId weight_type, int64_t n_in) {
    using quant::TypeId;
    switch (weight_type) {
        case TypeId::F32:
            return n_in % 8 == 0 ? run_tiles<TileFloat<load_f32, 4>, 4, 3> : nullptr;
        case TypeId::F16:
            return n_in % 8 == 0 ? run_tiles<TileFloat<load_f16, 2>, 4, 3> : nullptr;
        case TypeId::BF16:
            return n_in % 8 == 0 ? run_tiles<TileFloat<load_bf16, 2>, 4, 3> : nullptr;
        case TypeId::Q4_0:
            return run_tiles<TileQ4_0, 4, 2>;
        case TypeId::Q8_0:
            return run_tiles<TileQ8_0, 4, 2>;
        case TypeId::Q4_1:
            return run_tiles<TileQ4_1, 4, 2>;
        case TypeId::Q4_K:
            return n_in % 256 == 0 ? run_tiles<TileQ4Q5K<false, BlockQ4_K>, 4, 2> : nullptr;
        case TypeId::Q5_K:
            return n_in % 256 == 0 ? run_tiles<TileQ4Q5K<true, BlockQ5_K>, 4, 2> : nullptr;
        case TypeId::Q6_K:
            return n_in % 256 == 0 ? run_tiles<TileQ6K, 4, 2> : nullptr;
        default:
            return nullptr;
    }
}

}  // namespace shootout::cpu

#else  // no AVX2: the matmul calls vec_dot per output

namespace shootout::cpu {
TileMatmul find_tile_matmul(quant::TypeId, int64_t) { return nullptr; }
}  // namespace shootout::cpu

#endif
