// Helpers the GPU op tests share (test_cuda_moe_deltanet.cpp, test_cuda_delta_net.cpp,
// test_cuda_kernels.cpp, test_cuda_moe_mmq.cpp): seeded uniform and normal inputs (plain and
// unit-norm rows, the delta rule's inputs), random quantized weight matrices with their reference
// dequantization, and the relative difference of a GPU result from the CPU's.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "backend/ops.h"
#include "quant/type_table.h"

namespace shootout::test {

// n seeded normal values of standard deviation sd.
inline std::vector<float> gaussian(size_t n, uint32_t seed, float sd) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// A deterministic positive importance matrix (one weight per column) for the types whose quantizer
// refuses to run without one (traits().requires_imatrix: IQ1_S, IQ2_XXS, IQ2_XS); empty (null) for
// the others. llama.cpp's imatrix is a mean of squared activations, hence 1 + x^2 of a random row.
inline std::vector<float> test_importance(quant::TypeId type, int64_t n_in, uint32_t seed) {
    if (!quant::traits(type).requires_imatrix) return {};
    std::vector<float> w = gaussian((size_t)n_in, seed, 1.f);
    for (float& v : w) v = 1.f + v * v;
    return w;
}

// A random n_out x n_in weight matrix in `type` (rows of varying scale and offset, so mins and
// scales vary), quantized by the reference quantizer, and its reference dequantization.
struct QuantizedWeight {
    std::vector<uint8_t> bytes;
    std::vector<float> values;  // n_out x n_in
};
inline QuantizedWeight make_quantized_weight(quant::TypeId type, int64_t n_in, int64_t n_out, uint32_t seed) {
    const auto& tr = quant::traits(type);
    std::vector<float> src = gaussian((size_t)(n_in * n_out), seed, 0.05f);
    std::mt19937 rng(seed + 1);
    std::uniform_real_distribution<float> scale(0.2f, 3.f), shift(-0.02f, 0.02f);
    for (int64_t r = 0; r < n_out; ++r) {
        const float s = scale(rng), o = shift(rng);
        for (int64_t i = 0; i < n_in; ++i) src[r * n_in + i] = src[r * n_in + i] * s + o;
    }
    QuantizedWeight w;
    w.bytes.resize(quant::row_size_bytes(type, n_in) * (size_t)n_out);
    const std::vector<float> importance = test_importance(type, n_in, seed + 2);
    tr.quantize_rows(src.data(), w.bytes.data(), n_out, n_in, importance.empty() ? nullptr : importance.data());
    w.values.resize(src.size());
    tr.to_float(w.bytes.data(), w.values.data(), n_in * n_out);
    return w;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

// n_rows rows of row_len seeded uniform values, each scaled to unit L2 norm (the delta rule's q and k,
// which the model l2-normalises first).
inline std::vector<float> unit_rows(int64_t n_rows, int64_t row_len, uint32_t seed) {
    std::vector<float> x = random_floats((size_t)(n_rows * row_len), seed);
    for (size_t r = 0; r < x.size(); r += (size_t)row_len) {
        double sum = 0;
        for (int64_t i = 0; i < row_len; ++i) sum += (double)x[r + i] * x[r + i];
        for (int64_t i = 0; i < row_len; ++i) x[r + i] = (float)(x[r + i] / std::sqrt(sum));
    }
    return x;
}

// max |a - ref| / max |ref|; infinite when a holds a non-finite value (an unwritten NaN element).
inline double rel_diff(const std::vector<float>& a, const std::vector<float>& ref) {
    EXPECT_EQ(a.size(), ref.size());
    double max_diff = 0, max_ref = 1e-30;
    for (size_t i = 0; i < std::min(a.size(), ref.size()); ++i) {
        if (!std::isfinite(a[i])) return INFINITY;
        max_diff = std::max(max_diff, (double)std::fabs(a[i] - ref[i]));
        max_ref = std::max(max_ref, (double)std::fabs(ref[i]));
    }
    return max_diff / max_ref;
}

// The delta rule's inputs for n_tokens tokens, as the model feeds them: q and k rows L2-normalised,
// alpha and beta logits spread over the gates' useful range, a = -exp(A_log).
struct DeltaRuleInputs {
    std::vector<float> q, k, v, alpha, beta, dt_bias, a;
};
inline DeltaRuleInputs delta_rule_inputs(const backend::DeltaNetShape& sh, int64_t n_tokens, uint32_t seed) {
    DeltaRuleInputs in;
    in.q = unit_rows(n_tokens * sh.n_k_heads, sh.head_k_dim, seed);
    in.k = unit_rows(n_tokens * sh.n_k_heads, sh.head_k_dim, seed + 1);
    in.v = random_floats((size_t)(n_tokens * sh.n_v_heads * sh.head_v_dim), seed + 2);
    in.alpha = random_floats((size_t)(n_tokens * sh.n_v_heads), seed + 3, -3.f, 3.f);
    in.beta = random_floats((size_t)(n_tokens * sh.n_v_heads), seed + 4, -3.f, 3.f);
    in.dt_bias = random_floats((size_t)sh.n_v_heads, seed + 5);
    in.a = random_floats((size_t)sh.n_v_heads, seed + 6, -2.f, 1.f);
    for (float& x : in.a) x = -std::exp(x);
    return in;
}

}  // namespace shootout::test
