// Dot products of IQ2_XXS, IQ2_XS and IQ2_S with Q8_K activations (as ggml pairs them). Per 32
// elements, the weights are 4 lattice points of 8 unsigned bytes (8, 25 or 43; iq2_lattice.h)
// with 32 sign bits; the signs move onto the activations, so sum(point * sign * q_x) is an
// unsigned-by-signed byte product. A weight is d (0.5 + ls) / 4 * point = d (2 ls + 1) / 8 * point,
// so per super-block: d_w * d_x / 8 * sum_sub (2 ls + 1) * sum_sub(point * sign * q_x), with ls
// per 32 elements (XXS) or per 16 (XS, S: the low nibble for the first 16, the high for the rest).
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot_more.h"
#include "quant/block_formats.h"
#include "quant/iq2_lattice.h"
#include "quant/iq3_lattice.h"
#include "util/fp16.h"

namespace shootout::cpu::dot {
namespace {

using namespace quant;
constexpr int QK_K = kSuperBlock;

// One group of 32 weights, decoded from any of the three layouts.
struct Group32 {
    uint64_t points[4];
    uint32_t signs;     // bit e set: element e is negative
    int scale_lo, scale_hi;  // 2 ls + 1 of elements 0..15 and 16..31
};

inline Group32 iq2xxs_group(const BlockIQ2_XXS& b, int ib, const uint64_t* grid) {
    uint32_t aux[2];
    std::memcpy(aux, b.qs + 4 * ib, 8);
    Group32 g;
    g.signs = 0;
    for (int l = 0; l < 4; ++l) {
        g.points[l] = grid[(aux[0] >> (8 * l)) & 255];
        g.signs |= (uint32_t)iq_signs_from_7bits((aux[1] >> (7 * l)) & 127) << (8 * l);
    }
    g.scale_lo = g.scale_hi = 2 * (int)(aux[1] >> 28) + 1;
    return g;
}

inline Group32 iq2xs_group(const BlockIQ2_XS& b, int ib, const uint64_t* grid) {
    Group32 g;
    g.signs = 0;
    for (int l = 0; l < 4; ++l) {
        const uint16_t q = b.qs[4 * ib + l];
        g.points[l] = grid[q & 511];
        g.signs |= (uint32_t)iq_signs_from_7bits(q >> 9) << (8 * l);
    }
    g.scale_lo = 2 * (b.scales[ib] & 0xF) + 1;
    g.scale_hi = 2 * (b.scales[ib] >> 4) + 1;
    return g;
}

inline Group32 iq2s_group(const BlockIQ2_S& b, int ib, const uint64_t* grid) {
    Group32 g;
    for (int l = 0; l < 4; ++l) g.points[l] = grid[b.qs[4 * ib + l] | ((b.qh[ib] << (8 - 2 * l)) & 0x300)];
    std::memcpy(&g.signs, b.qs + QK_K / 8 + 4 * ib, 4);
    g.scale_lo = 2 * (b.scales[ib] & 0xF) + 1;
    g.scale_hi = 2 * (b.scales[ib] >> 4) + 1;
    return g;
}

inline int group_dot_scalar(const Group32& g, const int8_t* y) {
    int sum[2] = {0, 0};
    for (int e = 0; e < 32; ++e) {
        const int v = (int)((g.points[e / 8] >> (8 * (e % 8))) & 255);
        sum[e / 16] += ((g.signs >> e) & 1 ? -v : v) * y[e];
    }
    return g.scale_lo * sum[0] + g.scale_hi * sum[1];
}

template <typename Block, Group32 (*Decode)(const Block&, int, const uint64_t*)>
float dot_scalar(int64_t n, const void* w, const void* x, const uint64_t* grid) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        int block_sum = 0;
        for (int ib = 0; ib < 8; ++ib) block_sum += group_dot_scalar(Decode(a[i], ib, grid), b[i].qs + 32 * ib);
        sum += (float)block_sum * (fp16_to_fp32(a[i].d) * b[i].d) * 0.125f;
    }
    return sum;
}

}  // namespace

void iq2_xxs_scalar(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_scalar<BlockIQ2_XXS, iq2xxs_group>(n, w, x, iq2xxs_grid());
}
void iq2_xs_scalar(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_scalar<BlockIQ2_XS, iq2xs_group>(n, w, x, iq2xs_grid());
}
void iq2_s_scalar(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_scalar<BlockIQ2_S, iq2s_group>(n, w, x, iq2s_grid());
}

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

// Products of point bytes (<= 43) and activations (|q| <= 127) summed in pairs fit int16.
inline __m256i group_dot_avx2(const Group32& g, const int8_t* y) {
    const __m256i weights = _mm256_set_epi64x((int64_t)g.points[3], (int64_t)g.points[2], (int64_t)g.points[1],
                                              (int64_t)g.points[0]);
    const __m256i ys = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i*)y), sign_bytes(g.signs));
    const __m256i scales = _mm256_set_m128i(_mm_set1_epi16((short)g.scale_hi), _mm_set1_epi16((short)g.scale_lo));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(weights, ys), scales);
}

template <typename Block, Group32 (*Decode)(const Block&, int, const uint64_t*)>
float dot_avx2(int64_t n, const void* w, const void* x, const uint64_t* grid) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib)
            acc = _mm256_add_epi32(acc, group_dot_avx2(Decode(a[i], ib, grid), b[i].qs + 32 * ib));
        sum += (float)horizontal_sum_i32(acc) * (fp16_to_fp32(a[i].d) * b[i].d) * 0.125f;
    }
    return sum;
}

}  // namespace

void iq2_xxs_avx2(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_avx2<BlockIQ2_XXS, iq2xxs_group>(n, w, x, iq2xxs_grid());
}
void iq2_xs_avx2(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_avx2<BlockIQ2_XS, iq2xs_group>(n, w, x, iq2xs_grid());
}
void iq2_s_avx2(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_avx2<BlockIQ2_S, iq2s_group>(n, w, x, iq2s_grid());
}
#endif

}  // namespace shootout::cpu::dot
