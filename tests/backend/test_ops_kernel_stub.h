// Test-local stand-in for the CPU kernel table (src/backend/cpu/type_kernels.cpp, written by another
// helper) while it has not landed: F32 weights only, vec_dot in double. It vanishes by itself once
// the real table exists, so the tests then run against the real kernels.
#pragma once

#if !__has_include("backend/cpu/type_kernels.cpp")
#include <cstring>

#include "backend/cpu/type_kernels.h"
#include "util/error.h"

namespace shootout::cpu {

inline void stub_f32_from_float(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, (size_t)n * 4); }
inline void stub_f32_vec_dot(int64_t n, float* result, const void* w, const void* x) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += (double)((const float*)w)[i] * ((const float*)x)[i];
    *result = (float)sum;
}

const TypeKernels* find_kernels(quant::TypeId id) {
    static const TypeKernels f32{quant::TypeId::F32, quant::TypeId::F32, stub_f32_from_float, stub_f32_vec_dot};
    return id == quant::TypeId::F32 ? &f32 : nullptr;
}

const TypeKernels& kernels(quant::TypeId id) {
    const TypeKernels* k = find_kernels(id);
    if (!k) fail("cpu kernels (test stub)", "no kernels for type id " + std::to_string((int)id));
    return *k;
}

}  // namespace shootout::cpu
#endif
