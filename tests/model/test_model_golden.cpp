// The forward pass against float64 numpy references (tools/reference_forward.py, golden files in
// tests/data/model): per position, the KL divergence from the reference distribution to ours, top-1
// agreement and the largest logit difference over the reference's top-k tokens.
//
// Why the tolerances: the reference is the exact math on the file's weights. Ours rounds what
// llama.cpp rounds: activations to the weights' vec_dot_type before each matmul (BF16: 8 bits of
// mantissa, relative error up to 2^-9 per element; Q8_0/Q8_1: 1/254 of the block's max) and K, V to
// F16 (2^-11). Those errors are independent across the hundreds of terms of each dot product, so they
// largely cancel; what remains moves logits by a few 1e-2 at most on these small models, and the
// distributions by KLD well under 1e-4 on the BF16 qwen3 model (llama.cpp's CPU logits for the same
// tokens: mean KLD 3e-6 from this reference; ours 7e-6 from llama.cpp's). The Q4_1 llama model is
// the exception, explained at its test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "golden_logits.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "util/parallel.h"

namespace shootout {
namespace {

using golden::Comparison;
using golden::Golden;
using golden::compare;
using golden::read_golden;

Comparison run_golden(const std::string& model_path, const std::string& golden_path, int64_t expect_vocab) {
    const Golden g = read_golden(golden_path);
    auto file = gguf::File::open(model_path);
    ThreadPool pool(2);
    auto model = Model::load(*file, pool);
    EXPECT_EQ(model->info().n_vocab, g.n_vocab);
    EXPECT_EQ(model->info().n_vocab, expect_vocab);
    const std::vector<float> hidden = model->hidden(g.tokens);
    EXPECT_EQ(hidden.size(), (size_t)g.n_tokens * model->info().n_embd);
    std::vector<float> logits((size_t)g.n_tokens * g.n_vocab);
    model->logits(hidden.data(), g.n_tokens, logits.data());
    const Comparison c = compare(g, logits);
    std::printf("%s: %d positions, KLD mean %.3g max %.3g, max |dlogit| %.4f (top-%d), top-1 mismatches %d, "
                "reference tail mass <= %.2g\n",
                std::filesystem::path(model_path).filename().c_str(), g.n_tokens, c.mean_kld, c.max_kld,
                c.max_logit_diff, g.top_k, c.top1_mismatches, c.max_reference_tail);
    return c;
}

const std::string kData = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/";

// Tiny random F32 models (tools/make_tiny_models.py): only the F16 KV cache rounds (2^-11 relative),
// which on logits of magnitude up to ~20 (random tied embeddings) is a few 1e-3, so the match is far
// tighter than the real models'. Each covers what the trained ones do not: qwen2's q/k/v biases
// and untied output, a llama with GQA 4:1 and RoPE on 8 of 16 head dims, qwen3 with
// n_head * head_dim != n_embd.
void expect_tiny_matches(const std::string& arch) {
    const Comparison c = run_golden(kData + "tiny-" + arch + ".gguf", kData + "tiny-" + arch + ".golden", 256);
    EXPECT_EQ(c.top1_mismatches, 0);
    EXPECT_LT(c.max_kld, 1e-5);
    EXPECT_LT(c.max_logit_diff, 2e-2);
}

TEST(ModelGolden, TinyQwen2MatchesNumpy) { expect_tiny_matches("qwen2"); }
TEST(ModelGolden, TinyLlamaMatchesNumpy) { expect_tiny_matches("llama"); }
// A llama with Q/K/V biases (llama.cpp adds them when the file has them; left out, this model's
// logits move by far more than the bounds).
TEST(ModelGolden, TinyLlamaWithBiasMatchesNumpy) { expect_tiny_matches("llama-bias"); }
TEST(ModelGolden, TinyQwen3MatchesNumpy) { expect_tiny_matches("qwen3"); }
// Llama 3.1 / 3.2's RoPE frequency factors (rope_freqs.weight, pair i's angle divided by factor i);
// without them this model's logits move by up to 2.3 (make_tiny_models.py prints it).
TEST(ModelGolden, TinyLlamaWithRopeFreqsMatchesNumpy) { expect_tiny_matches("llama31"); }
// The same with heads of 64 (1.5 away without the factors), which the CUDA backend also runs
// (tests/cuda/test_cuda_tiny_hf.cpp).
TEST(ModelGolden, TinyLlamaWithRopeFreqsHeads64MatchesNumpy) { expect_tiny_matches("llama31-hd64"); }

TEST(ModelGolden, Qwen3Bf16MatchesNumpy) {
    const std::string path = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path;
    const Comparison c = run_golden(path, kData + "qwen3-34m-code-bf16.golden", 16384);
    EXPECT_EQ(c.top1_mismatches, 0);
    EXPECT_LT(c.max_kld, 1e-4);
    EXPECT_LT(c.max_logit_diff, 0.1);
}

// SmolLM2 Q4_1 multiplies Q8_1-rounded activations (as llama.cpp does), and this model is chaotic
// under that rounding: its residual stream carries outliers of several hundred, so a Q8_1 block's
// step is large and a rounding flip anywhere moves the output. Measured: scaling one norm weight
// vector by (1 + 3e-7) moves our logits by mean KLD 1.5e-3; llama.cpp's own CPU logits for these
// tokens sit at mean KLD 3.3e-3 (max 1.5e-2) from this float64 reference, ours at a similar
// distance. (With F32 activations our residual stream matches the reference to 1e-6.) So the bounds
// here are what that rounding allows, still far below what a wrong graph gives (KLD of order 1).
TEST(ModelGolden, SmolLM2Q4_1LlamaMatchesNumpy) {
    const char* path = std::getenv("SHOOTOUT_SMOLLM2_GGUF");
    if (!path || !*path) GTEST_SKIP() << "set SHOOTOUT_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf to run this test";
    const Comparison c = run_golden(path, kData + "smollm2-135m-q4_1.golden", 49152);
    EXPECT_LE(c.top1_mismatches, 2);  // of 30; llama.cpp itself misses 1
    EXPECT_LT(c.mean_kld, 1e-2);
    EXPECT_LT(c.max_kld, 5e-2);
}

TEST(ModelGolden, HiddenOfAPrefixIsThePrefixOfHidden) {
    // Causality and per-row independence: no position depends on later ones.
    auto file = gguf::File::open(kData + "tiny-qwen2.gguf");
    ThreadPool pool(2);
    auto model = Model::load(*file, pool);
    const std::vector<int32_t> tokens = {5, 200, 31, 7, 7, 99, 1, 0, 255, 64};
    const auto whole = model->hidden(tokens);
    const auto prefix = model->hidden(std::span<const int32_t>(tokens).first(4));
    ASSERT_EQ(prefix.size(), 4u * 64);
    for (size_t i = 0; i < prefix.size(); ++i) EXPECT_FLOAT_EQ(prefix[i], whole[i]) << i;
}

}  // namespace
}  // namespace shootout
