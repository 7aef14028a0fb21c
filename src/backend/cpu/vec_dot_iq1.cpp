// Dot products of IQ1_S and IQ1_M with Q8_K activations (as ggml pairs them). A weight is
// d * (2 ls + 1) * (g + delta) with g in {-1, 0, 1} from the 2048-point lattice (iq2_lattice.h)
// and delta = +-1/8 per group of 8 (IQ1_S: one sign per 32 elements; IQ1_M: per 8). Times 8 it is
// the integer 8 g +- 1 (|.| <= 9), so per 32 elements the weights become 32 signed bytes and
// the dot is a byte product: per super-block d_w * d_x / 8 * sum_16 (2 ls + 1) * sum(w8 * q_x),
// with ls per 32 elements (S) or per 16 (M).
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot_more.h"
#include "quant/block_formats.h"
#include "quant/iq2_lattice.h"
#include "util/fp16.h"

namespace shootout::cpu::dot {
namespace {

using namespace quant;
constexpr int QK_K = kSuperBlock;

struct Group32 {
    int8_t w8[32];           // 8 (g + delta) per element
    int scale_lo, scale_hi;  // 2 ls + 1 of elements 0..15 and 16..31
};

inline void put_group(const uint64_t* grid, int index, bool negative_delta, int8_t* w8) {
    const uint64_t point = grid[index];
    for (int j = 0; j < 8; ++j) w8[j] = (int8_t)(8 * (int8_t)((point >> (8 * j)) & 255) + (negative_delta ? -1 : 1));
}

inline Group32 iq1s_group(const BlockIQ1_S& b, int ib, const uint64_t* grid) {
    Group32 g;
    const uint16_t qh = b.qh[ib];
    for (int l = 0; l < 4; ++l)
        put_group(grid, b.qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8), qh & 0x8000, g.w8 + 8 * l);
    g.scale_lo = g.scale_hi = 2 * ((qh >> 12) & 7) + 1;
    return g;
}

inline uint16_t iq1m_scale_word(const BlockIQ1_M& b, int k) {
    uint16_t w;
    std::memcpy(&w, b.scales + 2 * k, 2);
    return w;
}

inline Group32 iq1m_group(const BlockIQ1_M& b, int ib, const uint64_t* grid) {
    Group32 g;
    const uint8_t* qs = b.qs + 4 * ib;
    const uint8_t* qh = b.qh + 2 * ib;
    put_group(grid, qs[0] | ((qh[0] << 8) & 0x700), qh[0] & 0x08, g.w8);
    put_group(grid, qs[1] | ((qh[0] << 4) & 0x700), qh[0] & 0x80, g.w8 + 8);
    put_group(grid, qs[2] | ((qh[1] << 8) & 0x700), qh[1] & 0x08, g.w8 + 16);
    put_group(grid, qs[3] | ((qh[1] << 4) & 0x700), qh[1] & 0x80, g.w8 + 24);
    const uint16_t sc = iq1m_scale_word(b, ib / 2);
    g.scale_lo = 2 * ((sc >> (6 * (ib % 2))) & 7) + 1;
    g.scale_hi = 2 * ((sc >> (6 * (ib % 2) + 3)) & 7) + 1;
    return g;
}

inline float iq1s_d(const BlockIQ1_S& b) { return fp16_to_fp32(b.d); }
inline float iq1m_d(const BlockIQ1_M& b) {
    const uint16_t d16 = (uint16_t)((iq1m_scale_word(b, 0) >> 12) | ((iq1m_scale_word(b, 1) >> 8) & 0x00f0) |
                                    ((iq1m_scale_word(b, 2) >> 4) & 0x0f00) | (iq1m_scale_word(b, 3) & 0xf000));
    return fp16_to_fp32(d16);
}

template <typename Block, Group32 (*Decode)(const Block&, int, const uint64_t*), float (*Scale)(const Block&)>
float dot_scalar(int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const uint64_t* grid = iq1s_grid();
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        int block_sum = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const Group32 g = Decode(a[i], ib, grid);
            const int8_t* y = b[i].qs + 32 * ib;
            int half[2] = {0, 0};
            for (int e = 0; e < 32; ++e) half[e / 16] += g.w8[e] * y[e];
            block_sum += g.scale_lo * half[0] + g.scale_hi * half[1];
        }
        sum += (float)block_sum * (Scale(a[i]) * b[i].d) * 0.125f;
    }
    return sum;
}

}  // namespace

void iq1_s_scalar(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_scalar<BlockIQ1_S, iq1s_group, iq1s_d>(n, w, x);
}
void iq1_m_scalar(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_scalar<BlockIQ1_M, iq1m_group, iq1m_d>(n, w, x);
}

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

template <typename Block, Group32 (*Decode)(const Block&, int, const uint64_t*), float (*Scale)(const Block&)>
float dot_avx2(int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const uint64_t* grid = iq1s_grid();
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) {
            const Group32 g = Decode(a[i], ib, grid);
            const __m256i wv = _mm256_loadu_si256((const __m256i*)g.w8);
            const __m256i yv = _mm256_loadu_si256((const __m256i*)(b[i].qs + 32 * ib));
            // |w| * (q * sign(w)): pairs of at most 9 * 127 * 2, in int16.
            const __m256i prod = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(yv, wv));
            const __m256i scales = _mm256_set_m128i(_mm_set1_epi16((short)g.scale_hi), _mm_set1_epi16((short)g.scale_lo));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(prod, scales));
        }
        sum += (float)horizontal_sum_i32(acc) * (Scale(a[i]) * b[i].d) * 0.125f;
    }
    return sum;
}

}  // namespace

void iq1_s_avx2(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_avx2<BlockIQ1_S, iq1s_group, iq1s_d>(n, w, x);
}
void iq1_m_avx2(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_avx2<BlockIQ1_M, iq1m_group, iq1m_d>(n, w, x);
}
#endif

}  // namespace shootout::cpu::dot
