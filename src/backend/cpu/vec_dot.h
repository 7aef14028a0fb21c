// The CPU's dot products of one weight row with one activation row already converted to the
// weight type's vec_dot_type (see type_kernels.h). Each has a portable scalar version (the
// reference the SIMD ones are tested against) and, where compiled with AVX2+FMA, an AVX2 version.
// Signature as TypeKernels::vec_dot: (n elements, result, weight row, activation row).
#pragma once

#include <cstdint>

namespace shootout::cpu::dot {

#define SHOOTOUT_VEC_DOT(name) void name(int64_t n, float* result, const void* weight_row, const void* activation_row);

// vec_dot_float.cpp: F32.F32, F16.F16, BF16.BF16
SHOOTOUT_VEC_DOT(f32_scalar)
SHOOTOUT_VEC_DOT(f16_scalar)
SHOOTOUT_VEC_DOT(bf16_scalar)
// vec_dot_legacy.cpp: Q4_0/Q5_0/Q8_0 . Q8_0, Q4_1/Q5_1 . Q8_1
SHOOTOUT_VEC_DOT(q4_0_scalar)
SHOOTOUT_VEC_DOT(q5_0_scalar)
SHOOTOUT_VEC_DOT(q8_0_scalar)
SHOOTOUT_VEC_DOT(q4_1_scalar)
SHOOTOUT_VEC_DOT(q5_1_scalar)
// vec_dot_k_quants.cpp: Q2_K..Q6_K . Q8_K
SHOOTOUT_VEC_DOT(q2_k_scalar)
SHOOTOUT_VEC_DOT(q3_k_scalar)
SHOOTOUT_VEC_DOT(q4_k_scalar)
SHOOTOUT_VEC_DOT(q5_k_scalar)
SHOOTOUT_VEC_DOT(q6_k_scalar)

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define SHOOTOUT_HAVE_AVX2_KERNELS 1
SHOOTOUT_VEC_DOT(f32_avx2)
SHOOTOUT_VEC_DOT(f16_avx2)
SHOOTOUT_VEC_DOT(bf16_avx2)
SHOOTOUT_VEC_DOT(q4_0_avx2)
SHOOTOUT_VEC_DOT(q5_0_avx2)
SHOOTOUT_VEC_DOT(q8_0_avx2)
SHOOTOUT_VEC_DOT(q4_1_avx2)
SHOOTOUT_VEC_DOT(q5_1_avx2)
SHOOTOUT_VEC_DOT(q4_k_avx2)
SHOOTOUT_VEC_DOT(q5_k_avx2)
SHOOTOUT_VEC_DOT(q6_k_avx2)
#endif
#undef SHOOTOUT_VEC_DOT

}  // namespace shootout::cpu::dot
