// AVX2 activation conversions to the 8-bit vec_dot types, bit-identical to the type table's
// reference conversions (quant::traits(Q8_0/Q8_1/Q8_K).from_float_ref) on every input, NaN and
// infinities included. The matmul uses them in place of the kernel table's from_float when the
// build has AVX2 (find_activation_conversion).
#pragma once

#include <cstdint>

#include "quant/type_table.h"

namespace shootout::cpu {

using ActivationConversion = void (*)(const float* src, void* dst, int64_t n);

// The fast conversion to vec_dot_type, or nullptr (then use TypeKernels::from_float).
ActivationConversion find_activation_conversion(quant::TypeId vec_dot_type);

namespace dot {
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
void q8_0_from_float_avx2(const float* src, void* dst, int64_t n);  // vec_dot_legacy.cpp
void q8_1_from_float_avx2(const float* src, void* dst, int64_t n);  // vec_dot_legacy.cpp
void q8_k_from_float_avx2(const float* src, void* dst, int64_t n);  // vec_dot_k_quants.cpp
#endif
}  // namespace dot

}  // namespace shootout::cpu
