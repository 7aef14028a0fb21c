// qwen3next (Gated DeltaNet + gated attention + MoE with a shared expert): our forward pass on
// llama.cpp's BF16 GGUF (and on the same weights widened to F32) against transformers' F32 logits
// for the token ids in train.json.
//
// Bounds: the golden's distance from the exact math on these weights is of the same order as for
// qwen3moe (our F32 run, whose only rounding beyond F32 arithmetic is the F16 KV cache of the one
// attention layer, lands at mean KLD 1.4e-5, max 8e-5, max |dlogit| 0.044). BF16 activation
// rounding, as ggml's CPU matmul does it, adds KLD of order 1e-5 per position (llama.cpp's CPU BF16:
// mean 2.3e-5, max |dlogit| 0.06); no router here is near enough to a tie to flip.
#include "test_model_moe_golden.h"

namespace shootout {
namespace {

constexpr const char* kModel = "qwen3next-12m-code";

moe_test::Comparison run(const std::string& gguf, int64_t& n_tokens) {
    const std::string dir = moe_test::model_dir(kModel);
    const std::vector<int32_t> tokens = moe_test::read_token_ids(dir + "/train.json");
    int64_t n_vocab_golden = 0;
    const std::vector<float> golden = moe_test::read_npy_f32(dir + "/golden-logits-f32.npy", n_tokens, n_vocab_golden);
    EXPECT_EQ(n_tokens, (int64_t)tokens.size());
    std::string arch;
    int64_t n_vocab = 0;
    const std::vector<float> ours = moe_test::run_model(gguf, tokens, arch, n_vocab);
    EXPECT_EQ(arch, "qwen3next");
    EXPECT_EQ(n_vocab, n_vocab_golden);
    if (n_vocab != n_vocab_golden || n_tokens != (int64_t)tokens.size()) return {};
    return moe_test::compare(golden, ours, n_tokens, n_vocab);
}

TEST(ModelNext, Qwen3NextBf16MatchesTransformers) {
    int64_t n_tokens = 0;
    const moe_test::Comparison r = run(moe_test::model_dir(kModel) + "/model-bf16.gguf", n_tokens);
    std::printf("qwen3next BF16 vs transformers: mean KLD %.3g, max KLD %.3g, max |dlogit| %.4f, top-1 mismatches %d/%lld\n",
                r.mean_kld, r.max_kld, r.max_abs_logit_diff, r.top1_mismatches, (long long)n_tokens);
    ASSERT_EQ((int64_t)r.kld.size(), n_tokens);
    EXPECT_EQ(r.top1_mismatches, 0);
    EXPECT_LT(r.mean_kld, 5e-5);
    EXPECT_LT(r.max_kld, 2e-4);
    EXPECT_LT(r.max_abs_logit_diff, 0.1);
}

TEST(ModelNext, Qwen3NextF32MatchesTransformers) {
    const std::string f32 = moe_test::widen_to_f32(moe_test::model_dir(kModel) + "/model-bf16.gguf", "qwen3next-f32.gguf");
    int64_t n_tokens = 0;
    const moe_test::Comparison r = run(f32, n_tokens);
    std::filesystem::remove(f32);
    std::printf("qwen3next F32 vs transformers: mean KLD %.3g, max KLD %.3g, max |dlogit| %.4f, top-1 mismatches %d/%lld\n",
                r.mean_kld, r.max_kld, r.max_abs_logit_diff, r.top1_mismatches, (long long)n_tokens);
    ASSERT_EQ((int64_t)r.kld.size(), n_tokens);
    EXPECT_EQ(r.top1_mismatches, 0);
    EXPECT_LT(r.mean_kld, 3e-5);
    EXPECT_LT(r.max_kld, 1.5e-4);
    EXPECT_LT(r.max_abs_logit_diff, 0.07);
}

}  // namespace
}  // namespace shootout
