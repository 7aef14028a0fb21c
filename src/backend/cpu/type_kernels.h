// The CPU's row of each tensor type, as ggml's type_traits_cpu: the type the activations are
// converted to before a dot product (vec_dot_type, e.g. Q8_0 for Q4_0 weights, Q8_K for K-quants),
// the conversion, and the dot product of one weight row with one converted activation row.
// The matmul asks this table instead of switching on the type.
#pragma once

#include <cstdint>

#include "quant/type_table.h"

namespace shootout::cpu {

struct TypeKernels {
    quant::TypeId id;
    quant::TypeId vec_dot_type;
    // Converts n floats of activations to vec_dot_type (n a multiple of its block size).
    void (*from_float)(const float* src, void* dst, int64_t n);
    // sum over n elements of weight_row[i] * activation_row[i], the latter in vec_dot_type.
    void (*vec_dot)(int64_t n, float* result, const void* weight_row, const void* activation_row);
};

// The CPU kernels for a weight type; nullptr when the CPU cannot multiply by it.
const TypeKernels* find_kernels(quant::TypeId id);
// As find_kernels, but throws Error naming the type.
const TypeKernels& kernels(quant::TypeId id);

}  // namespace shootout::cpu
