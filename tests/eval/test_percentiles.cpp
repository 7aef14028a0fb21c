#include <cmath>

#include <gtest/gtest.h>

#include "eval/percentiles.h"
#include "eval/statistics.h"

using namespace shootout::eval;

TEST(Percentiles, LinearInterpolationAtFractionTimesNMinusOne) {
    const std::vector<float> v = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    EXPECT_FLOAT_EQ(percentile_sorted(v, 0.999f), 8.991f);  // 0.999 * 9
    EXPECT_FLOAT_EQ(percentile_sorted(v, 0.5f), 4.5f);
    EXPECT_FLOAT_EQ(percentile_sorted(v, 0.1f), 0.9f);
    EXPECT_EQ(percentile_sorted(v, 0.0f), 0.0f);
    EXPECT_EQ(percentile_sorted(v, 1.0f), 9.0f);
}

TEST(Percentiles, MedianAveragesTheMiddleTwo) {
    EXPECT_FLOAT_EQ(median_sorted(std::vector<float>{1, 2, 10, 20}), 6.0f);
    EXPECT_FLOAT_EQ(median_sorted(std::vector<float>{1, 2, 10}), 2.0f);
}

TEST(Statistics, UncertaintyRulesOfLlamaCpp) {
    // Mean 2, population variance 1 over 16 values: SE = sqrt(1/15).
    const ValueWithError m = mean_and_uncertainty(32.0, 16.0 * 5.0, 16);
    EXPECT_DOUBLE_EQ(m.value, 2.0);
    EXPECT_DOUBLE_EQ(m.error, std::sqrt(1.0 / 15.0));
    EXPECT_EQ(mean_and_uncertainty(20.0, 50.0, 10).error, 0.0);  // N <= 10: no uncertainty
    EXPECT_EQ(covariance(1, 2, 3, 9), 0.0);                     // N < 10: no covariance
    EXPECT_DOUBLE_EQ(covariance(10.0, 20.0, 30.0, 10), (3.0 - 2.0) / 9.0);
}

TEST(Statistics, SameTopUsesTheBinomialSigma) {
    TokenValues v;
    for (int i = 0; i < 200; ++i) {
        TokenMetrics m;
        m.same_top = i % 4 != 0;  // 150 of 200
        v.push_back(m);
    }
    const KldStats s = compute_kld_stats(v);
    EXPECT_EQ(s.n_same_top, 150u);
    EXPECT_DOUBLE_EQ(s.same_top.value, 0.75);
    EXPECT_DOUBLE_EQ(s.same_top.error, std::sqrt(0.75 * 0.25 / 199));
}
