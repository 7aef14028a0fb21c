// The logits-row loops of token_metrics (eval/row_reductions.h) against their scalar reference
// loops: max and min exactly, the exp sums and the KLD sum to float rounding, on rows of every
// length class (under one vector, a vector's multiple, a ragged tail, a Qwen3 vocabulary), plus
// the cases a broken variant produces (NaN, -inf) and the argmax's first-occurrence rule.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "eval/row_reductions.h"
#include "eval/token_metrics.h"

namespace shootout::eval {
namespace {

std::vector<float> logits_row(int64_t n, uint32_t seed, float sd) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, sd);
    std::vector<float> v((size_t)n);
    for (float& x : v) x = normal(rng);
    return v;
}

TEST(RowReductions, MatchTheScalarLoops) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{64}, int64_t{1003}, int64_t{151936}}) {
        SCOPED_TRACE("n = " + std::to_string(n));
        const auto ref = logits_row(n, 1 + (uint32_t)n, 4.f);
        auto var = logits_row(n, 2 + (uint32_t)n, 0.5f);
        for (int64_t i = 0; i < n; ++i) var[(size_t)i] += ref[(size_t)i];

        float max = 0, min = 0, max_s = 0, min_s = 0;
        detail::max_min(ref.data(), n, max, min);
        detail::max_min_scalar(ref.data(), n, max_s, min_s);
        EXPECT_EQ(max, max_s);
        EXPECT_EQ(min, min_s);

        const double sum = detail::sum_exp(ref.data(), n, max), sum_s = detail::sum_exp_scalar(ref.data(), n, max);
        EXPECT_NEAR(sum, sum_s, 1e-6 * sum_s);
        EXPECT_GE(sum, 1.0 - 1e-6) << "the max's own term is 1";

        const RowSummary r = summarize_row(ref.data(), n), v = summarize_row(var.data(), n);
        for (double cut : {kKldLogProbCut, kNoKldCut}) {
            const double k = detail::kld_sum(ref.data(), var.data(), n, r.log_norm(), v.log_norm(), cut);
            const double k_s = detail::kld_sum_scalar(ref.data(), var.data(), n, r.log_norm(), v.log_norm(), cut);
            EXPECT_NEAR(k, k_s, 1e-5 * std::fabs(k_s) + 1e-12) << "cut " << cut;
        }
    }
}

// exp over the whole range a shifted row spans, one value at a time (8 copies: one vector).
TEST(RowReductions, ExpWithinFloatRounding) {
    for (float x = -87.f; x <= 0.f; x += 0.173f) {
        const std::vector<float> v(8, x);
        const double got = detail::sum_exp(v.data(), 8, 0.f) / 8, want = std::exp((double)x);
        ASSERT_NEAR(got, want, 4e-7 * want) << "x = " << x;
    }
    const std::vector<float> deep(8, -200.f);
    EXPECT_LT(detail::sum_exp(deep.data(), 8, 0.f), 1e-36) << "far under the range: (almost) zero";
}

TEST(RowReductions, BrokenRowsStayVisible) {
    const int64_t n = 1000;
    auto ref = logits_row(n, 5, 3.f);
    auto var = ref;
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const RowSummary r = summarize_row(ref.data(), n);

    // A NaN logit: max / min skip it as the scalar scan does; the exp sum and the KLD turn NaN.
    var[500] = nan;
    float max = 0, min = 0, max_s = 0, min_s = 0;
    detail::max_min(var.data(), n, max, min);
    detail::max_min_scalar(var.data(), n, max_s, min_s);
    EXPECT_EQ(max, max_s);
    EXPECT_EQ(min, min_s);
    EXPECT_TRUE(std::isnan(detail::sum_exp(var.data(), n, max)));
    EXPECT_TRUE(std::isnan(detail::kld_sum(ref.data(), var.data(), n, r.log_norm(), r.log_norm(), kNoKldCut)));

    // -inf where the reference has mass: an infinite KLD, as the scalar loop gives.
    var[500] = -inf;
    const double k = detail::kld_sum(ref.data(), var.data(), n, r.log_norm(), r.log_norm(), kNoKldCut);
    EXPECT_TRUE(std::isinf(k) && k > 0) << k;
    EXPECT_EQ(k, detail::kld_sum_scalar(ref.data(), var.data(), n, r.log_norm(), r.log_norm(), kNoKldCut));

    // A NaN in the reference is skipped by the cut's comparison in both loops.
    auto ref_nan = ref;
    ref_nan[10] = nan;
    const double a = detail::kld_sum(ref_nan.data(), ref.data(), n, r.log_norm(), r.log_norm(), kNoKldCut);
    const double b = detail::kld_sum_scalar(ref_nan.data(), ref.data(), n, r.log_norm(), r.log_norm(), kNoKldCut);
    EXPECT_FALSE(std::isnan(a));
    EXPECT_NEAR(a, b, 1e-12);
}

// Against a llama.cpp --kl-divergence-base row (uint16 levels, a scale and the smallest log-prob).
TEST(RowReductions, LlamaRowKldMatchesTheScalarLoop) {
    for (int64_t n : {int64_t{5}, int64_t{8}, int64_t{1003}, int64_t{151936}}) {
        SCOPED_TRACE("n = " + std::to_string(n));
        std::mt19937 rng(9 + (uint32_t)n);
        std::uniform_int_distribution<int> level(0, 65535);
        std::vector<uint16_t> q((size_t)n);
        for (uint16_t& v : q) v = (uint16_t)level(rng);
        const float scale = 16.f / 65535.f, min_log_prob = -28.f;  // log-probs in [-28, -12]: some under the cut
        auto var = logits_row(n, 11, 2.f);
        const RowSummary v = summarize_row(var.data(), n);
        const double k =
            detail::kld_sum_llama(q.data(), var.data(), n, scale, min_log_prob, v.log_norm(), kKldLogProbCut);
        const double k_s =
            detail::kld_sum_llama_scalar(q.data(), var.data(), n, scale, min_log_prob, v.log_norm(), kKldLogProbCut);
        EXPECT_NEAR(k, k_s, 1e-5 * std::fabs(k_s) + 1e-12);
        EXPECT_NE(k_s, 0.0);
    }
}

TEST(RowReductions, ArgmaxIsTheFirstMaximum) {
    std::vector<float> v(100, -1.f);
    v[37] = 5.f;
    v[80] = 5.f;
    const RowSummary s = summarize_row(v.data(), (int64_t)v.size());
    EXPECT_EQ(s.argmax, 37);
    EXPECT_EQ(s.max_logit, 5.f);
    EXPECT_EQ(s.min_logit, -1.f);
}

}  // namespace
}  // namespace shootout::eval
