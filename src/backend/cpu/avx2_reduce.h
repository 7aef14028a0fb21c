// The AVX2 reductions every CPU dot-product kernel ends with (and the sign expansion the IQ2/IQ3
// kernels share), written once. Empty without AVX2/FMA/F16C (the scalar kernels need none of it).
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <cstdint>

namespace shootout::cpu {

// Always inlined: matmul_tiles calls these in its innermost loops.
#define SHOOTOUT_AVX2_INLINE inline __attribute__((always_inline))

// The 8 floats of v summed: halves, then pairs, then the last two.
SHOOTOUT_AVX2_INLINE float horizontal_sum(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// The 8 int32 of v summed.
SHOOTOUT_AVX2_INLINE int horizontal_sum_i32(__m256i v) {
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i s2 = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
}

// 32 sign bits -> 32 bytes of +1 / -1 (bit e set: byte e is -1).
SHOOTOUT_AVX2_INLINE __m256i sign_bytes(uint32_t signs) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)signs),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201ULL);
    const __m256i is_set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_or_si256(is_set, _mm256_set1_epi8(1));
}

#undef SHOOTOUT_AVX2_INLINE

}  // namespace shootout::cpu

#endif
