// qwen3next incremental decoding: the Gated DeltaNet layers carry their convolution and recurrent
// state from one decode() call to the next, the one gated attention layer its KV cache slot. On the
// shared qwen3next miniature (BF16 GGUF):
// - a prefix decoded in one call, then single tokens, gives the logits one hidden() pass over the
//   whole sequence gives at every position (same math per row; only the grouping of rows in the
//   matmul/MoE/attention differs, which the CPU kernels keep bit-identical or nearly so);
// - a new sequence (start_sequence, or hidden()) starts again from a zero state;
// - decoding transformers' golden token ids token by token lands on transformers' F32 logits as
//   closely as the one-pass golden test (test_model_next.cpp) does.
#include "test_model_moe_golden.h"

namespace shootout {
namespace {

const std::string kModel = moe_test::model_dir("qwen3next-12m-code") + "/model-bf16.gguf";

struct RowDiff {
    double max_abs = 0, max_logit = 0, kld = 0;
};

// KLD(expected || got) and the largest logit difference of one row.
RowDiff row_diff(const float* expected, const float* got, int64_t n_vocab) {
    const moe_test::Comparison c = moe_test::compare(std::vector<float>(expected, expected + n_vocab),
                                                     std::vector<float>(got, got + n_vocab), 1, n_vocab);
    RowDiff d;
    d.max_abs = c.max_abs_logit_diff;
    d.kld = c.mean_kld;
    for (int64_t v = 0; v < n_vocab; ++v) d.max_logit = std::max(d.max_logit, (double)std::fabs(expected[v]));
    return d;
}

class NextDecode : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists(kModel)) GTEST_SKIP() << "missing " << kModel;
        file_ = gguf::File::open(kModel);
        model_ = Model::load(*file_, pool_);
        n_vocab_ = model_->info().n_vocab;
        ASSERT_EQ(model_->info().architecture, "qwen3next");
    }

    // Logits of every position of one hidden() pass.
    std::vector<float> one_pass(const std::vector<int32_t>& tokens) {
        const std::vector<float> hidden = model_->hidden(tokens);
        std::vector<float> logits(tokens.size() * (size_t)n_vocab_);
        model_->logits(hidden.data(), (int64_t)tokens.size(), logits.data());
        return logits;
    }

    // Decodes tokens[0, n_prefix) in one call, then one token a call; returns the logits of
    // positions n_prefix - 1 .. n - 1 (row i is position n_prefix - 1 + i).
    std::vector<float> prefix_then_tokens(const std::vector<int32_t>& tokens, size_t n_prefix) {
        model_->start_sequence((int64_t)tokens.size());
        std::vector<float> out((tokens.size() - n_prefix + 1) * (size_t)n_vocab_);
        model_->decode(std::span<const int32_t>(tokens.data(), n_prefix), out.data());
        for (size_t t = n_prefix; t < tokens.size(); ++t)
            model_->decode(std::span<const int32_t>(&tokens[t], 1), out.data() + (t - n_prefix + 1) * (size_t)n_vocab_);
        return out;
    }

    std::vector<int32_t> pseudo_random_tokens(size_t n) const {
        std::vector<int32_t> tokens;
        for (size_t i = 0; i < n; ++i) tokens.push_back((int32_t)((i * 7919 + 13) % (size_t)n_vocab_));
        return tokens;
    }

    ThreadPool pool_{2};
    std::unique_ptr<gguf::File> file_;
    std::unique_ptr<Model> model_;
    int64_t n_vocab_ = 0;
};

TEST_F(NextDecode, PrefixThenTokensMatchesOnePass) {
    const std::vector<int32_t> tokens = pseudo_random_tokens(48);
    const size_t n_prefix = 17;
    const std::vector<float> expected = one_pass(tokens);
    const std::vector<float> got = prefix_then_tokens(tokens, n_prefix);
    double worst_rel = 0, worst_kld = 0;
    for (size_t t = n_prefix - 1; t < tokens.size(); ++t) {
        const RowDiff d = row_diff(&expected[t * (size_t)n_vocab_], &got[(t - n_prefix + 1) * (size_t)n_vocab_], n_vocab_);
        worst_rel = std::max(worst_rel, d.max_abs / d.max_logit);
        worst_kld = std::max(worst_kld, d.kld);
        EXPECT_LT(d.max_abs, 1e-4 * d.max_logit) << "position " << t;
        EXPECT_LT(d.kld, 1e-9) << "position " << t;
    }
    std::printf("qwen3next prefix %zu + single tokens vs one pass of %zu: max |dlogit|/max|logit| %.3g, max KLD %.3g\n",
                n_prefix, tokens.size(), worst_rel, worst_kld);
}

TEST_F(NextDecode, EachSequenceStartsFromAZeroState) {
    const std::vector<int32_t> tokens = pseudo_random_tokens(12);
    const std::vector<float> first = prefix_then_tokens(tokens, 3);
    // Another sequence in between leaves state behind; a new start_sequence must clear it.
    std::vector<int32_t> other = tokens;
    std::reverse(other.begin(), other.end());
    prefix_then_tokens(other, 5);
    EXPECT_EQ(prefix_then_tokens(tokens, 3), first);
    // hidden() runs from position 0 too: the same logits with or without a decoded sequence before.
    const std::vector<float> fresh = one_pass(other);
    prefix_then_tokens(tokens, 4);
    EXPECT_EQ(one_pass(other), fresh);
}

TEST_F(NextDecode, TokenByTokenMatchesTransformers) {
    const std::string dir = moe_test::model_dir("qwen3next-12m-code");
    const std::vector<int32_t> tokens = moe_test::read_token_ids(dir + "/train.json");
    int64_t n_rows = 0, n_cols = 0;
    const std::vector<float> golden = moe_test::read_npy_f32(dir + "/golden-logits-f32.npy", n_rows, n_cols);
    ASSERT_EQ(n_rows, (int64_t)tokens.size());
    ASSERT_EQ(n_cols, n_vocab_);
    // From the first token on, every position is decoded alone.
    const std::vector<float> got = prefix_then_tokens(tokens, 1);
    const moe_test::Comparison r = moe_test::compare(golden, got, n_rows, n_vocab_);
    std::printf("qwen3next token by token vs transformers: mean KLD %.3g, max KLD %.3g, max |dlogit| %.4f, top-1 mismatches %d/%lld\n",
                r.mean_kld, r.max_kld, r.max_abs_logit_diff, r.top1_mismatches, (long long)n_rows);
    EXPECT_EQ(r.top1_mismatches, 0);
    EXPECT_LT(r.mean_kld, 5e-5);
    EXPECT_LT(r.max_kld, 2e-4);
    EXPECT_LT(r.max_abs_logit_diff, 0.1);
}

TEST_F(NextDecode, ContinuingWithoutAStartFails) {
    std::vector<float> logits((size_t)n_vocab_);
    const int32_t token = 5;
    EXPECT_THROW(model_->decode(std::span<const int32_t>(&token, 1), logits.data()), Error);
    model_->start_sequence(2);
    model_->decode(std::span<const int32_t>(&token, 1), logits.data());
    model_->decode(std::span<const int32_t>(&token, 1), logits.data());
    EXPECT_THROW(model_->decode(std::span<const int32_t>(&token, 1), logits.data()), Error);  // past n_ctx
}

}  // namespace
}  // namespace shootout
