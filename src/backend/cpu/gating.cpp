// Small row-wise ops of the gated architectures (qwen3next): column slices of joint projections,
// sigmoid gates, and the L2 normalisation of Gated DeltaNet's queries and keys. Numerics as ggml's CPU
// ops: sigmoid as 1 / (1 + exp(-x)) in float, L2 norm summing squares in double.
#include <cmath>
#include <cstring>
#include <string>

#include "backend/cpu/cpu_ops.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::cpu {

void copy_columns(ThreadPool& pool, const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols,
                  float* dst) {
    if (col0 < 0 || n_cols < 0 || col0 + n_cols > src_stride)
        fail("copy_columns", "columns [" + std::to_string(col0) + ", " + std::to_string(col0 + n_cols) +
                                 ") outside rows of " + std::to_string(src_stride));
    pool.parallel_for((size_t)n_rows, [&](size_t begin, size_t end, int) {
        for (size_t r = begin; r < end; ++r)
            std::memcpy(dst + r * n_cols, src + r * src_stride + col0, (size_t)n_cols * sizeof(float));
    });
}

void sigmoid_gate(ThreadPool& pool, float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols) {
    if (gate_cols != 1 && gate_cols != n_cols)
        fail("sigmoid_gate", "gate has " + std::to_string(gate_cols) + " columns, expected 1 or " + std::to_string(n_cols));
    pool.parallel_for((size_t)n_rows, [&](size_t begin, size_t end, int) {
        for (size_t r = begin; r < end; ++r) {
            float* xr = x + r * n_cols;
            const float* gr = gate + r * gate_cols;
            if (gate_cols == 1) {
                const float s = 1.0f / (1.0f + std::exp(-gr[0]));
                for (int64_t c = 0; c < n_cols; ++c) xr[c] *= s;
            } else {
                for (int64_t c = 0; c < n_cols; ++c) xr[c] *= 1.0f / (1.0f + std::exp(-gr[c]));
            }
        }
    });
}

void l2_norm(ThreadPool& pool, float* x, int64_t n_rows, int64_t n_cols, float eps) {
    pool.parallel_for((size_t)n_rows, [&](size_t begin, size_t end, int) {
        for (size_t r = begin; r < end; ++r) {
            float* xr = x + r * n_cols;
            double sum_squares = 0;
            for (int64_t c = 0; c < n_cols; ++c) sum_squares += (double)(xr[c] * xr[c]);
            const float scale = 1.0f / std::fmax(std::sqrt((float)sum_squares), eps);
            for (int64_t c = 0; c < n_cols; ++c) xr[c] *= scale;
        }
    });
}

}  // namespace shootout::cpu
