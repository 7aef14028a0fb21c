// Dot products for the types added after the kernel table's first wave (non-linear 4-bit,
// ternary, the IQ1-IQ3 grids) and the AVX2 versions of Q2_K/Q3_K. Same contract as vec_dot.h:
// (n elements, result, weight row, activation row already in the type's vec_dot_type); a scalar
// reference for each and, where SHOOTOUT_HAVE_AVX2_KERNELS, an AVX2 version.
#pragma once

#include "backend/cpu/vec_dot.h"

namespace shootout::cpu::dot {

#define SHOOTOUT_VEC_DOT_MORE(name) void name(int64_t n, float* result, const void* weight_row, const void* activation_row);

// vec_dot_nonlinear.cpp: MXFP4 . Q8_0, IQ4_NL . Q8_0, IQ4_XS . Q8_K
SHOOTOUT_VEC_DOT_MORE(mxfp4_scalar)
SHOOTOUT_VEC_DOT_MORE(iq4_nl_scalar)
SHOOTOUT_VEC_DOT_MORE(iq4_xs_scalar)
// vec_dot_ternary.cpp: TQ1_0, TQ2_0 . Q8_K
SHOOTOUT_VEC_DOT_MORE(tq1_0_scalar)
SHOOTOUT_VEC_DOT_MORE(tq2_0_scalar)
// vec_dot_iq3.cpp: IQ3_XXS, IQ3_S . Q8_K
SHOOTOUT_VEC_DOT_MORE(iq3_xxs_scalar)
SHOOTOUT_VEC_DOT_MORE(iq3_s_scalar)
// vec_dot_iq2.cpp: IQ2_XXS, IQ2_XS, IQ2_S . Q8_K
SHOOTOUT_VEC_DOT_MORE(iq2_xxs_scalar)
SHOOTOUT_VEC_DOT_MORE(iq2_xs_scalar)
SHOOTOUT_VEC_DOT_MORE(iq2_s_scalar)
// vec_dot_iq1.cpp: IQ1_S, IQ1_M . Q8_K
SHOOTOUT_VEC_DOT_MORE(iq1_s_scalar)
SHOOTOUT_VEC_DOT_MORE(iq1_m_scalar)

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
SHOOTOUT_VEC_DOT_MORE(mxfp4_avx2)
SHOOTOUT_VEC_DOT_MORE(iq4_nl_avx2)
SHOOTOUT_VEC_DOT_MORE(iq4_xs_avx2)
SHOOTOUT_VEC_DOT_MORE(tq1_0_avx2)
SHOOTOUT_VEC_DOT_MORE(tq2_0_avx2)
// vec_dot_q2_q3_avx2.cpp (their scalar versions are in vec_dot.h)
SHOOTOUT_VEC_DOT_MORE(q2_k_avx2)
SHOOTOUT_VEC_DOT_MORE(q3_k_avx2)
SHOOTOUT_VEC_DOT_MORE(iq3_xxs_avx2)
SHOOTOUT_VEC_DOT_MORE(iq3_s_avx2)
SHOOTOUT_VEC_DOT_MORE(iq2_xxs_avx2)
SHOOTOUT_VEC_DOT_MORE(iq2_xs_avx2)
SHOOTOUT_VEC_DOT_MORE(iq2_s_avx2)
SHOOTOUT_VEC_DOT_MORE(iq1_s_avx2)
SHOOTOUT_VEC_DOT_MORE(iq1_m_avx2)
#endif
#undef SHOOTOUT_VEC_DOT_MORE

}  // namespace shootout::cpu::dot
