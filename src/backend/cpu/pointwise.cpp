// The row-wise ops of the CPU backend: embedding lookup, bias, RMSNorm, RoPE, SwiGLU, add.
// Their numerics follow ggml's CPU ops where that is cheap (RMSNorm sums squares in double, RoPE
// builds its angles by repeated float multiplication), so our logits track llama.cpp's.
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::cpu {

void get_rows(ThreadPool& pool, const backend::Weight& table, std::span<const int32_t> ids, float* out) {
    const auto& traits = quant::traits(table.type);
    if (!traits.to_float) fail(table.name, std::string("no dequantization for type ") + traits.name);
    for (int32_t id : ids) {
        if (id < 0 || id >= table.n_out)
            fail(table.name, "token id " + std::to_string(id) + " out of range [0, " + std::to_string(table.n_out) + ")");
    }
    pool.parallel_for(ids.size(), [&](size_t begin, size_t end, int) {
        for (size_t t = begin; t < end; ++t)
            traits.to_float(table.data + (size_t)ids[t] * table.row_bytes, out + t * table.n_in, table.n_in);
    });
}

void add_bias(ThreadPool& pool, float* x, const backend::Weight& bias, int64_t n_rows) {
    const float* b = reinterpret_cast<const float*>(bias.data);
    const int64_t n = bias.n_in;
    pool.parallel_for((size_t)n_rows, [&](size_t begin, size_t end, int) {
        for (size_t r = begin; r < end; ++r)
            for (int64_t i = 0; i < n; ++i) x[r * n + i] += b[i];
    });
}

void rms_norm(ThreadPool& pool, const float* x, const backend::Weight& weight, int64_t n_rows, float eps, float* y) {
    const float* w = reinterpret_cast<const float*>(weight.data);
    const int64_t n = weight.n_in;
    pool.parallel_for((size_t)n_rows, [&](size_t begin, size_t end, int) {
        for (size_t r = begin; r < end; ++r) {
            const float* xr = x + r * n;
            float* yr = y + r * n;
            double sum_squares = 0;  // ggml accumulates in ggml_float (double)
            for (int64_t i = 0; i < n; ++i) sum_squares += (double)(xr[i] * xr[i]);
            const float scale = 1.0f / std::sqrt((float)(sum_squares / (double)n) + eps);
            for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
        }
    });
}

void rope(ThreadPool& pool, float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
          const backend::RopeParams& rope) {
    const int64_t n_rot = rope.n_rot;
    if (n_rot <= 0 || n_rot > head_dim || n_rot % 2 != 0)
        fail("rope", "rotated dims " + std::to_string(n_rot) + " invalid for head size " + std::to_string(head_dim));
    const float theta_scale = std::pow(rope.freq_base, -2.0f / (float)n_rot);
    const int64_t half = n_rot / 2;
    const bool neox = rope.style == backend::RopeStyle::Neox;
    pool.parallel_for((size_t)n_tokens, [&](size_t begin, size_t end, int) {
        std::vector<float> cos_theta(half), sin_theta(half);
        for (size_t t = begin; t < end; ++t) {
            // As ggml_rope_cache_init: theta_i = pos * theta_scale^i by repeated multiplication, divided
            // by the frequency factor of pair i when the model has them.
            float theta = (float)(pos0 + (int64_t)t);
            for (int64_t i = 0; i < half; ++i) {
                const float angle = rope.freq_factors ? theta / rope.freq_factors[i] : theta;
                cos_theta[i] = std::cos(angle);
                sin_theta[i] = std::sin(angle);
                theta *= theta_scale;
            }
            for (int64_t h = 0; h < n_heads; ++h) {
                float* v = x + (t * n_heads + h) * head_dim;
                for (int64_t i = 0; i < half; ++i) {
                    const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
                    const float x0 = v[a], x1 = v[b];
                    v[a] = x0 * cos_theta[i] - x1 * sin_theta[i];
                    v[b] = x0 * sin_theta[i] + x1 * cos_theta[i];
                }
            }
        }
    });
}

void swiglu(ThreadPool& pool, const float* gate, const float* up, size_t n, float* out) {
    pool.parallel_for(n, [&](size_t begin, size_t end, int) {
        for (size_t i = begin; i < end; ++i) {
            const float g = gate[i];
            out[i] = g / (1.0f + std::exp(-g)) * up[i];
        }
    });
}

void add(ThreadPool& pool, float* x, const float* y, size_t n) {
    pool.parallel_for(n, [&](size_t begin, size_t end, int) {
        for (size_t i = begin; i < end; ++i) x[i] += y[i];
    });
}

}  // namespace shootout::cpu
