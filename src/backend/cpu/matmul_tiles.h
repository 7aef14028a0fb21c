// Register-tiled matmul kernels: one call computes a block of weight rows against every token,
// several rows x several tokens at a time, so each weight block is unpacked once per group of
// tokens and each activation block once per group of rows (as llamafile's tinyBLAS does). They
// take the activations already converted to the weight type's vec_dot_type, like TypeKernels::vec_dot.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/type_table.h"

namespace shootout::cpu {

// y[t * y_stride + r] = dot(weight row r, activation row t) for r < n_rows, t < n_tokens.
// w: n_rows rows of w_row_bytes; x: n_tokens rows of x_row_bytes; n_in elements per row.
using TileMatmul = void (*)(const uint8_t* w, size_t w_row_bytes, int64_t n_rows, const uint8_t* x,
                            size_t x_row_bytes, int64_t n_tokens, int64_t n_in, float* y, int64_t y_stride);

// The tiled kernel for a weight type, or nullptr (the matmul then calls vec_dot per output).
// For the quantized types the result equals the type's AVX2 vec_dot bit for bit; for the float
// types only the order of the F32 sums differs.
TileMatmul find_tile_matmul(quant::TypeId weight_type, int64_t n_in);

}  // namespace shootout::cpu
