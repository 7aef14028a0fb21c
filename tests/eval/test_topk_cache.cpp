// The top-k cache alone: exact when k covers the vocabulary, never above the exact KL, within its
// documented bound on hard cases (flat reference, variant that moves mass into the tail), and its file.
#include <cmath>
#include <filesystem>
#include <random>
#include <unistd.h>

#include <gtest/gtest.h>

#include "eval/topk_cache.h"
#include "util/error.h"

using namespace shootout::eval;

namespace {

double exact_kl(const std::vector<float>& p_logits, const std::vector<float>& q_logits) {
    const RowSummary p = summarize_row(p_logits.data(), int64_t(p_logits.size()));
    const RowSummary q = summarize_row(q_logits.data(), int64_t(q_logits.size()));
    return compare_dense(p_logits.data(), p, q_logits.data(), q, int64_t(p_logits.size()), 0, kNoKldCut).kld;
}

}  // namespace

TEST(TopKCache, EstimateIsALowerBoundWithinTheErrorBound) {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0, 1);
    const int64_t n_vocab = 300;
    int n_cases = 0;
    for (const float sharpness : {0.3f, 1.0f, 4.0f}) {       // flat to peaked references
        for (const float tail_shift : {0.0f, 3.0f, -3.0f}) {  // variants that move mass into / out of the tail
            for (const int64_t k : {int64_t(1), int64_t(8), int64_t(64)}) {
                std::vector<float> ref(static_cast<size_t>(n_vocab)), var(static_cast<size_t>(n_vocab));
                for (int64_t i = 0; i < n_vocab; ++i) {
                    ref[size_t(i)] = sharpness * normal(rng) * 3;
                    var[size_t(i)] = ref[size_t(i)] + 0.5f * normal(rng) + (ref[size_t(i)] < 0 ? tail_shift : 0);
                }
                TopKCache cache = make_topk_cache(k, n_vocab);
                cache.resize(1);
                cache.fill_row(0, ref.data(), summarize_row(ref.data(), n_vocab), 7);
                const TokenMetrics m = compare_topk(cache, 0, var.data(), summarize_row(var.data(), n_vocab), 7);
                const double exact = exact_kl(ref, var);
                const double error = exact - m.kld;
                EXPECT_GE(error, -1e-6) << sharpness << " " << tail_shift << " " << k;
                EXPECT_LE(error, m.kld_error_bound + 1e-6) << sharpness << " " << tail_shift << " " << k;
                EXPECT_GT(m.kld_error_bound, 0.0f);
                ++n_cases;
            }
        }
    }
    EXPECT_EQ(n_cases, 27);
}

TEST(TopKCache, ExactWhenKCoversTheVocabularyAndKeepsTopAndNll) {
    const std::vector<float> ref = {1, 5, 5, -2, 0.5f}, var = {1.5f, 4, 5.5f, -1, 0};
    TopKCache cache = make_topk_cache(99, 5);
    EXPECT_EQ(cache.k, 5);
    cache.resize(1);
    cache.fill_row(0, ref.data(), summarize_row(ref.data(), 5), 3);
    EXPECT_EQ(cache.ids[0], 1);  // tie between ids 1 and 2: the first wins, as llama.cpp's argmax
    EXPECT_EQ(cache.ids[1], 2);
    const TokenMetrics m = compare_topk(cache, 0, var.data(), summarize_row(var.data(), 5), 3);
    EXPECT_NEAR(m.kld, exact_kl(ref, var), 1e-6);
    EXPECT_EQ(m.kld_error_bound, 0.0f);
    EXPECT_FALSE(m.same_top);  // reference top is id 1, variant's is id 2
    const double lse = std::log(std::exp(1.0) + 2 * std::exp(5.0) + std::exp(-2.0) + std::exp(0.5));
    EXPECT_NEAR(m.nll_reference, lse + 2.0, 1e-5);
}

TEST(TopKCache, SavesAndLoads) {
    const std::vector<float> ref = {1, 5, 3, -2, 0.5f, 4};
    TopKCache cache = make_topk_cache(3, 6);
    cache.resize(2);
    cache.fill_row(0, ref.data(), summarize_row(ref.data(), 6), 0);
    cache.fill_row(1, ref.data(), summarize_row(ref.data(), 6), 5);
    const std::string path =
        (std::filesystem::temp_directory_path() / ("topk-" + std::to_string(getpid()))).string();
    cache.save(path);
    const TopKCache loaded = TopKCache::load(path);
    EXPECT_EQ(loaded.k, 3);
    EXPECT_EQ(loaded.n_vocab, 6);
    EXPECT_EQ(loaded.ids, cache.ids);
    EXPECT_EQ(loaded.log_probs, cache.log_probs);
    EXPECT_EQ(loaded.log_tail_mass, cache.log_tail_mass);
    EXPECT_EQ(loaded.nll, cache.nll);
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 1);
    EXPECT_THROW(TopKCache::load(path), shootout::Error);
    std::filesystem::remove(path);
}
