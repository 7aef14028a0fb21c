// The functions behind the type table's rows, one group per family file. Internal to src/quant
// (and its tests): other layers reach them only through quant::traits(id).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

namespace shootout::quant::family {

// Float-to-int8 conversion as C's (int8_t)float compiles on x86-64 (cvttss2si, then the low
// byte): truncation toward zero, and NaN or out-of-range values give INT32_MIN's low byte 0. ggml's
// reference code relies on this cast; spelling it out keeps our result defined and identical.
inline int8_t truncate_to_int8(float value) {
    const bool in_range = value > -2147483648.f && value < 2147483648.f;
    const int32_t wide = in_range ? (int32_t)value : std::numeric_limits<int32_t>::min();
    return (int8_t)(uint8_t)(uint32_t)wide;
}

// float_types.cpp
void f32_to_float(const void* src, float* dst, int64_t n);
void f32_from_float(const float* src, void* dst, int64_t n);
void f16_to_float(const void* src, float* dst, int64_t n);
void f16_from_float(const float* src, void* dst, int64_t n);
void bf16_to_float(const void* src, float* dst, int64_t n);
void bf16_from_float(const float* src, void* dst, int64_t n);
size_t f32_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);
size_t f16_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);
size_t bf16_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);

// legacy_quants.cpp: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1
#define SHOOTOUT_DECLARE_TYPE(t)                                                         \
    void t##_to_float(const void* src, float* dst, int64_t n);                           \
    void t##_from_float_ref(const float* src, void* dst, int64_t n);                     \
    size_t t##_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, \
                             const float* importance);
SHOOTOUT_DECLARE_TYPE(q4_0)
SHOOTOUT_DECLARE_TYPE(q4_1)
SHOOTOUT_DECLARE_TYPE(q5_0)
SHOOTOUT_DECLARE_TYPE(q5_1)
SHOOTOUT_DECLARE_TYPE(q8_0)
void q8_1_to_float(const void* src, float* dst, int64_t n);
void q8_1_from_float_ref(const float* src, void* dst, int64_t n);

// k_quants_*.cpp
SHOOTOUT_DECLARE_TYPE(q2_k)
SHOOTOUT_DECLARE_TYPE(q3_k)
SHOOTOUT_DECLARE_TYPE(q4_k)
SHOOTOUT_DECLARE_TYPE(q5_k)
SHOOTOUT_DECLARE_TYPE(q6_k)
void q8_k_to_float(const void* src, float* dst, int64_t n);
void q8_k_from_float_ref(const float* src, void* dst, int64_t n);

// nonlinear_4bit.cpp: MXFP4 (importance ignored, as ggml), IQ4_NL, IQ4_XS
SHOOTOUT_DECLARE_TYPE(mxfp4)
SHOOTOUT_DECLARE_TYPE(iq4_nl)
SHOOTOUT_DECLARE_TYPE(iq4_xs)

// ternary.cpp: TQ1_0, TQ2_0 (importance ignored, as ggml)
SHOOTOUT_DECLARE_TYPE(tq1_0)
SHOOTOUT_DECLARE_TYPE(tq2_0)

// iq3_quants.cpp: IQ3_XXS, IQ3_S (lattice of iq3_lattice.h)
SHOOTOUT_DECLARE_TYPE(iq3_xxs)
SHOOTOUT_DECLARE_TYPE(iq3_s)
// iq2_quants.cpp: IQ2_XXS, IQ2_XS, IQ2_S (lattices of iq2_lattice.h)
SHOOTOUT_DECLARE_TYPE(iq2_xxs)
SHOOTOUT_DECLARE_TYPE(iq2_xs)
SHOOTOUT_DECLARE_TYPE(iq2_s)
// iq1_quants.cpp: IQ1_S, IQ1_M (2048-point lattice of iq2_lattice.h)
SHOOTOUT_DECLARE_TYPE(iq1_s)
SHOOTOUT_DECLARE_TYPE(iq1_m)
#undef SHOOTOUT_DECLARE_TYPE

}  // namespace shootout::quant::family
