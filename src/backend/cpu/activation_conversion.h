// Activation conversions to the 8-bit vec_dot types as ggml's CPU backend does them on x86, so the
// matmuls multiply what llama.cpp's multiply: Q8_0 and Q8_1 by ggml-cpu's own quantize_row_q8_0/_q8_1
// (levels x * (127 / amax) rounded half to even, not the reference quantizer's 1 / d and half away
// from zero), Q8_K by the reference (quant::traits(Q8_K).from_float_ref, which ggml-cpu uses too).
// The AVX2 versions are bit-identical to the scalar ones on every input, NaN and infinities
// included; the matmul uses them in place of the kernel table's from_float when the build has AVX2
// (find_activation_conversion).
#pragma once

#include <cstdint>

#include "quant/type_table.h"

namespace shootout::cpu {

using ActivationConversion = void (*)(const float* src, void* dst, int64_t n);

// The fast conversion to vec_dot_type, or nullptr (then use TypeKernels::from_float).
ActivationConversion find_activation_conversion(quant::TypeId vec_dot_type);

namespace dot {
// The scalar conversions (vec_dot_legacy.cpp): the kernel table's from_float for Q8_0 / Q8_1.
void q8_0_from_float_scalar(const float* src, void* dst, int64_t n);
void q8_1_from_float_scalar(const float* src, void* dst, int64_t n);
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
void q8_0_from_float_avx2(const float* src, void* dst, int64_t n);  // vec_dot_legacy.cpp
void q8_1_from_float_avx2(const float* src, void* dst, int64_t n);  // vec_dot_legacy.cpp
void q8_k_from_float_avx2(const float* src, void* dst, int64_t n);  // vec_dot_k_quants.cpp
#endif
}  // namespace dot

}  // namespace shootout::cpu
