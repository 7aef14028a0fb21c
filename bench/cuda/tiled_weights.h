// The benchmarks' weights: real blocks of a type (random Gaussian rows quantized by the reference
// quantizer) without quantizing a whole matrix on the host: 64 distinct rows, tiled. Shared by
// bench_cuda_kernels and bench_cuda_moe.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "quant/type_table.h"

namespace shootout::bench_cuda {

// n_out rows of n_in in `type`: 64 distinct quantized random rows (seeded) repeated.
inline std::vector<uint8_t> tiled_weight_bytes(quant::TypeId type, int64_t n_in, int64_t n_out, uint32_t seed) {
    const int64_t distinct = 64;
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 0.05f);
    std::vector<float> src((size_t)(distinct * n_in));
    for (auto& v : src) v = dist(rng);
    const size_t row_bytes = quant::row_size_bytes(type, n_in);
    std::vector<uint8_t> rows(row_bytes * distinct);
    // IQ1_S, IQ2_XXS, IQ2_XS quantize only with an importance matrix: a positive one, 1 + x^2.
    std::vector<float> importance;
    if (quant::traits(type).requires_imatrix)
        for (int64_t i = 0; i < n_in; ++i) importance.push_back(1.f + 400.f * src[(size_t)i] * src[(size_t)i]);
    quant::traits(type).quantize_rows(src.data(), rows.data(), distinct, n_in,
                                      importance.empty() ? nullptr : importance.data());
    std::vector<uint8_t> out(row_bytes * (size_t)n_out);
    for (int64_t r = 0; r < n_out; ++r)
        std::memcpy(out.data() + r * row_bytes, rows.data() + (r % distinct) * row_bytes, row_bytes);
    return out;
}

}  // namespace shootout::bench_cuda
