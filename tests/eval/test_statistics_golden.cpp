// Shootout's per-token metrics and statistics against tools/eval_reference.py (numpy, llama.cpp's
// formulas) on the same random logits: the streaming mode (exact reference) and llama.cpp's own mode
// (reference decoded from a --kl-divergence-base file that the script wrote independently).
#include <cmath>

#include <gtest/gtest.h>

#include "eval/llama_logits_file.h"
#include "eval/statistics.h"
#include "eval/token_metrics.h"
#include "golden_fixture.h"

using namespace shootout::eval;

namespace {

// The C++ per-token values differ from numpy's in the last float bits (expf vs numpy exp, summation
// order), so statistics agree to ~1e-6 relative; `absolute` covers values near zero.
void expect_close(const std::map<std::string, double>& golden, const std::string& key, double actual,
                  double relative = 2e-5, double absolute = 1e-7) {
    ASSERT_TRUE(golden.count(key)) << key;
    const double expected = golden.at(key);
    EXPECT_NEAR(actual, expected, std::max(absolute, relative * std::fabs(expected))) << key;
}

void expect_matches(const std::map<std::string, double>& g, const KldStats& s) {
    EXPECT_EQ(double(s.n_tokens), g.at("n_tokens"));
    EXPECT_EQ(double(s.n_same_top), g.at("n_same_top"));
    expect_close(g, "ppl_q", s.ppl_variant.ppl.value);
    expect_close(g, "ppl_q_err", s.ppl_variant.ppl.error);
    expect_close(g, "ppl_base", s.ppl_reference.ppl.value);
    expect_close(g, "ppl_base_err", s.ppl_reference.ppl.error);
    expect_close(g, "cor", s.ln_ppl_correlation);
    expect_close(g, "ln_ratio", s.ln_ppl_ratio.value);
    expect_close(g, "ln_ratio_err", s.ln_ppl_ratio.error);
    expect_close(g, "ratio", s.ppl_ratio.value);
    expect_close(g, "ratio_err", s.ppl_ratio.error);
    expect_close(g, "diff", s.ppl_difference.value);
    expect_close(g, "diff_err", s.ppl_difference.error);
    expect_close(g, "kld_mean", s.kld.value);
    expect_close(g, "kld_err", s.kld.error);
    const Quantiles& k = s.kld_quantiles;
    for (auto [key, value] : {std::pair{"kld_max", k.max}, {"kld_p99_9", k.p99_9}, {"kld_p99", k.p99},
                              {"kld_p95", k.p95}, {"kld_p90", k.p90}, {"kld_median", k.median},
                              {"kld_p10", k.p10}, {"kld_p5", k.p5}, {"kld_p1", k.p1}, {"kld_p0_1", k.p0_1},
                              {"kld_min", k.min}}) {
        expect_close(g, key, value, 2e-5, 2e-6);
    }
    expect_close(g, "dp_mean", s.delta_p.value);
    expect_close(g, "dp_err", s.delta_p.error);
    const Quantiles& d = s.delta_p_quantiles;
    for (auto [key, value] : {std::pair{"dp_max", d.max}, {"dp_p99_9", d.p99_9}, {"dp_p99", d.p99},
                              {"dp_p95", d.p95}, {"dp_p90", d.p90}, {"dp_p75", d.p75}, {"dp_median", d.median},
                              {"dp_p25", d.p25}, {"dp_p10", d.p10}, {"dp_p5", d.p5}, {"dp_p1", d.p1},
                              {"dp_p0_1", d.p0_1}, {"dp_min", d.min}}) {
        expect_close(g, key, value, 2e-5, 2e-6);
    }
    expect_close(g, "rms_dp", s.rms_delta_p.value);
    expect_close(g, "rms_dp_err", s.rms_delta_p.error);
    expect_close(g, "same_top", s.same_top.value, 1e-12);
    expect_close(g, "same_top_err", s.same_top.error, 1e-12);
}

}  // namespace

TEST(StatisticsGolden, StreamingModeMatchesNumpy) {
    const golden::Logits g = golden::load_logits();
    TokenValues values;
    for (int64_t row = 0; row < g.n_rows(); ++row) {
        const float* ref = g.reference.data() + row * g.n_vocab;
        const float* var = g.variant.data() + row * g.n_vocab;
        values.push_back(compare_dense(ref, summarize_row(ref, g.n_vocab), var, summarize_row(var, g.n_vocab),
                                       g.n_vocab, g.next_token(row)));
    }
    const KldStats s = compute_kld_stats(values);
    EXPECT_TRUE(s.enough_tokens);
    EXPECT_LT(s.kld_quantiles.min, 0.0f) << "the fixture should exercise the cut's slightly negative KLD";
    expect_matches(golden::load_stats("golden_stats.txt"), s);
}

TEST(StatisticsGolden, LlamaFileModeMatchesNumpy) {
    const golden::Logits g = golden::load_logits();
    const auto file = LlamaLogitsFile::open(golden::data_path("golden_base.logits"));
    ASSERT_EQ(file->n_ctx(), g.n_ctx);
    ASSERT_EQ(file->n_vocab(), g.n_vocab);
    ASSERT_EQ(file->n_chunks(), g.n_chunks);
    ASSERT_TRUE(std::equal(g.tokens.begin(), g.tokens.end(), file->tokens().begin()));
    TokenValues values;
    for (int64_t row = 0; row < g.n_rows(); ++row) {
        const float* var = g.variant.data() + row * g.n_vocab;
        const uint16_t* base = file->row(row / g.n_scored(), row % g.n_scored());
        values.push_back(compare_llama_row(base, g.n_vocab, var, summarize_row(var, g.n_vocab), g.next_token(row)));
    }
    expect_matches(golden::load_stats("golden_stats_llama.txt"), compute_kld_stats(values));
}

TEST(StatisticsGolden, OurEncoderMatchesThePythonOneWithinOneStep) {
    const golden::Logits g = golden::load_logits();
    const auto file = LlamaLogitsFile::open(golden::data_path("golden_base.logits"));
    std::vector<uint16_t> row(size_t(llama_row_uint16s(g.n_vocab)));
    int n_off_by_one = 0;
    for (int64_t r = 0; r < g.n_rows(); ++r) {
        encode_llama_row(g.reference.data() + r * g.n_vocab, g.n_vocab, row.data());
        const uint16_t* theirs = file->row(r / g.n_scored(), r % g.n_scored());
        EXPECT_EQ(std::memcmp(row.data(), theirs, 4), 0) << "scale of row " << r;
        EXPECT_NEAR(llama_row_log_prob(row.data(), 0) - llama_row_log_prob(theirs, 0), 0.0f, 1e-6f);
        for (int64_t i = 0; i < g.n_vocab; ++i) {
            const int diff = std::abs(int(row[4 + i]) - int(theirs[4 + i]));
            EXPECT_LE(diff, 1) << "row " << r << " token " << i;
            n_off_by_one += diff;
        }
    }
    EXPECT_LE(n_off_by_one, 5) << "expf rounding may move a rare q by one step, not many";
}

TEST(StatisticsGolden, DecodedLogProbsAreWithinTheFormatsStep) {
    // The uint16 format keeps log p to within half a step (16/65535/2) when the logit is within 16 of the max.
    const golden::Logits g = golden::load_logits();
    const auto file = LlamaLogitsFile::open(golden::data_path("golden_base.logits"));
    for (int64_t r = 0; r < g.n_rows(); ++r) {
        const float* logits = g.reference.data() + r * g.n_vocab;
        const RowSummary s = summarize_row(logits, g.n_vocab);
        const uint16_t* row = file->row(r / g.n_scored(), r % g.n_scored());
        for (int32_t i = 0; i < g.n_vocab; ++i) {
            if (logits[i] > s.max_logit - 16) {
                EXPECT_NEAR(llama_row_log_prob(row, i), logits[i] - s.log_norm(), 16.0 / 65535 * 0.5 + 1e-5);
            }
        }
    }
}
