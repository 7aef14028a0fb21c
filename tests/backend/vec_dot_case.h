// What the two CPU dot-product tests (test_vec_dot.cpp, test_vec_dot_more.cpp) share: a random row
// with outliers and an optional all-zero stretch, and the double-precision reference of a quantized
// row pair with its float-rounding bound.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace shootout::cpu::test {

// n values ~N(0, 0.05) with 4 outliers (x30); the first zero_elems set to 0 (an all-zero block).
inline std::vector<float> random_row(int64_t n, uint32_t seed, int64_t zero_elems) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> v((size_t)n);
    for (auto& x : v) x = normal(rng) * 0.05f;
    for (int k = 0; k < 4; ++k) v[rng() % n] *= 30.f;  // outliers
    for (int64_t i = 0; i < std::min<int64_t>(n, zero_elems); ++i) v[(size_t)i] = 0.f;
    return v;
}

struct Case {
    std::vector<uint8_t> w, x;
    double exact = 0;      // sum of dequantized products, in double
    double tolerance = 0;  // float-rounding bound of a blocked accumulation
};

// c.exact = sum wd[i] * xd[i] in double, and c.tolerance the bound of a float accumulation of it:
// each group of 16 contributes float terms bounded by 2 * max|w| of the group (a K-quant's scaled
// level and its min are each bounded by the group's range) times sum|x|; a sum of m float terms
// after 2 roundings each errs by at most (m + 2) * eps * sum|terms|, m <= n / 16 groups + a few.
inline void set_reference(Case& c, const std::vector<float>& wd, const std::vector<float>& xd, int64_t n) {
    double magnitude = 0;
    for (int64_t g = 0; g < n; g += 16) {
        double max_w = 0, sum_abs_x = 0;
        for (int64_t i = g; i < g + 16; ++i) {
            c.exact += (double)wd[(size_t)i] * xd[(size_t)i];
            max_w = std::max(max_w, (double)std::fabs(wd[(size_t)i]));
            sum_abs_x += std::fabs(xd[(size_t)i]);
        }
        magnitude += 2 * max_w * sum_abs_x;
    }
    const double terms = (double)n / 16 + 8;
    c.tolerance = (terms + 2) * FLT_EPSILON * magnitude + 1e-30;
}

}  // namespace shootout::cpu::test
