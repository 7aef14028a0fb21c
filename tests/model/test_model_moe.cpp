// qwen3moe: our forward pass on llama.cpp's BF16 GGUF (and on the same weights widened to F32)
// against transformers' F32 logits for the token ids in train.json.
//
// Where the bounds come from. The golden itself sits at mean KLD 1.45e-5 (max |dlogit| 0.054) from
// the exact float64 math on the GGUF's weights (a numpy reference of this graph), and our forward on
// the F32-widened weights lands within KLD 2e-7 / |dlogit| 0.005 of that reference (what is left is
// the F16 KV cache). So against the golden, the F32 run's floor is ~1.5e-5 mean, 3e-5 max.
// On the BF16 file our matmuls round activations to BF16 as ggml's do (relative error 2^-9 per
// element); that adds KLD of order 1e-5..1e-4 per position, as llama.cpp's CPU BF16 shows (mean
// 2.3e-5, max |dlogit| 0.06) -- except where a router is nearly tied: at token 12 the first layer's
// second and third expert probabilities differ by only 1.6e-4 in exact math (8e-5 after BF16
// rounding), less than BF16 rounding can move them, and we route to the other expert there. An
// expert swap at top-2 replaces a third of the FFN output, so that position differs by KLD ~1e-2 and
// the following ones, seeing it through attention, by up to ~1e-3; the top-1 token stays the same.
#include "test_model_moe_golden.h"

namespace shootout {
namespace {

constexpr const char* kModel = "qwen3moe-11m-code";
constexpr int64_t kFirstNearTiedToken = 12;

struct Case {
    std::vector<float> golden;
    std::vector<int32_t> tokens;
    int64_t n_tokens = 0, n_vocab = 0;
};

Case load_case() {
    const std::string dir = moe_test::model_dir(kModel);
    Case c;
    c.tokens = moe_test::read_token_ids(dir + "/train.json");
    c.golden = moe_test::read_npy_f32(dir + "/golden-logits-f32.npy", c.n_tokens, c.n_vocab);
    EXPECT_EQ(c.n_tokens, (int64_t)c.tokens.size());
    return c;
}

moe_test::Comparison run(const Case& c, const std::string& gguf) {
    std::string arch;
    int64_t n_vocab = 0;
    const std::vector<float> ours = moe_test::run_model(gguf, c.tokens, arch, n_vocab);
    EXPECT_EQ(arch, "qwen3moe");
    EXPECT_EQ(n_vocab, c.n_vocab);
    if (n_vocab != c.n_vocab) return {};
    return moe_test::compare(c.golden, ours, c.n_tokens, c.n_vocab);
}

TEST(ModelMoe, Qwen3MoeBf16MatchesTransformers) {
    const Case c = load_case();
    const moe_test::Comparison r = run(c, moe_test::model_dir(kModel) + "/model-bf16.gguf");
    std::printf("qwen3moe BF16 vs transformers: mean KLD %.3g, max KLD %.3g, max |dlogit| %.4f, top-1 mismatches %d/%lld\n",
                r.mean_kld, r.max_kld, r.max_abs_logit_diff, r.top1_mismatches, (long long)c.n_tokens);
    ASSERT_EQ((int64_t)r.kld.size(), c.n_tokens);
    EXPECT_EQ(r.top1_mismatches, 0);
    double mean_before_tie = 0;
    for (int64_t t = 0; t < kFirstNearTiedToken; ++t) {
        EXPECT_LT(r.kld[t], 3e-4) << "position " << t;
        mean_before_tie += r.kld[t] / kFirstNearTiedToken;
    }
    EXPECT_LT(mean_before_tie, 1e-4);
    EXPECT_LT(r.max_kld, 3e-2);
    EXPECT_LT(r.mean_kld, 2e-3);
}

TEST(ModelMoe, Qwen3MoeF32MatchesTransformers) {
    const Case c = load_case();
    const std::string f32 = moe_test::widen_to_f32(moe_test::model_dir(kModel) + "/model-bf16.gguf", "qwen3moe-f32.gguf");
    const moe_test::Comparison r = run(c, f32);
    std::filesystem::remove(f32);
    std::printf("qwen3moe F32 vs transformers: mean KLD %.3g, max KLD %.3g, max |dlogit| %.4f, top-1 mismatches %d/%lld\n",
                r.mean_kld, r.max_kld, r.max_abs_logit_diff, r.top1_mismatches, (long long)c.n_tokens);
    EXPECT_EQ(r.top1_mismatches, 0);
    EXPECT_LT(r.mean_kld, 3e-5);
    EXPECT_LT(r.max_kld, 6e-5);
    EXPECT_LT(r.max_abs_logit_diff, 0.07);
}

}  // namespace
}  // namespace shootout
