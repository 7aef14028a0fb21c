// Incremental decoding (Model::start_sequence / decode) on the CPU backend: a text decoded in pieces
// (a prompt, then single tokens over the KV cache) must give the logits that one hidden() pass over
// the whole text gives at the same positions; the order of operations per row is the same, so they
// agree to rounding. Uses the shared qwen3-34m model (skips without it).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/ops.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout {
namespace {

const std::string kModel = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf";

TEST(ModelDecode, PiecesMatchOnePass) {
    if (!std::filesystem::exists(kModel)) GTEST_SKIP() << "missing " << kModel;
    ThreadPool pool(0);
    auto file = gguf::File::open(kModel);
    auto model = Model::load(*file, pool, Backend::Cpu);
    const int64_t n_vocab = model->info().n_vocab;
    std::vector<int32_t> tokens;
    for (int i = 0; i < 40; ++i) tokens.push_back((int32_t)((i * 7919 + 13) % n_vocab));

    const std::vector<float> hidden = model->hidden(tokens);
    std::vector<float> expected((size_t)(tokens.size() * n_vocab));
    model->logits(hidden.data(), (int64_t)tokens.size(), expected.data());

    model->start_sequence((int64_t)tokens.size());
    std::vector<float> got((size_t)n_vocab);
    const size_t n_prompt = 24;
    model->decode(std::span<const int32_t>(tokens.data(), n_prompt), got.data());
    auto compare = [&](size_t position) {
        double max_diff = 0, max_abs = 0;
        for (int64_t v = 0; v < n_vocab; ++v) {
            const float e = expected[position * (size_t)n_vocab + (size_t)v];
            max_diff = std::max(max_diff, (double)std::fabs(e - got[(size_t)v]));
            max_abs = std::max(max_abs, (double)std::fabs(e));
        }
        EXPECT_LT(max_diff, 1e-3 * max_abs) << "position " << position;
    };
    compare(n_prompt - 1);
    for (size_t t = n_prompt; t < tokens.size(); ++t) {
        model->decode(std::span<const int32_t>(&tokens[t], 1), got.data());
        compare(t);
    }
}

TEST(ModelDecode, NeedsAStartedSequenceWithinItsContext) {
    if (!std::filesystem::exists(kModel)) GTEST_SKIP() << "missing " << kModel;
    ThreadPool pool(0);
    auto file = gguf::File::open(kModel);
    auto model = Model::load(*file, pool);
    std::vector<float> logits((size_t)model->info().n_vocab);
    const int32_t token = 5;
    EXPECT_THROW(model->decode(std::span<const int32_t>(&token, 1), logits.data()), Error);
    model->start_sequence(1);
    model->decode(std::span<const int32_t>(&token, 1), logits.data());
    EXPECT_THROW(model->decode(std::span<const int32_t>(&token, 1), logits.data()), Error);
    // hidden() ends the sequence.
    model->hidden(std::vector<int32_t>{1, 2, 3});
    EXPECT_THROW(model->decode(std::span<const int32_t>(&token, 1), logits.data()), Error);
}

// host_buffer (the memory the bench and the evaluation hand decode() and logits()): on the CPU
// plain memory of the size asked, holding what a std::vector would.
TEST(ModelDecode, HostBufferHoldsTheLogits) {
    if (!std::filesystem::exists(kModel)) GTEST_SKIP() << "missing " << kModel;
    ThreadPool pool(0);
    auto file = gguf::File::open(kModel);
    auto model = Model::load(*file, pool);
    const int64_t n_vocab = model->info().n_vocab;
    const std::unique_ptr<backend::Buffer> buffer = model->host_buffer((size_t)n_vocab);
    ASSERT_EQ(buffer->n_floats(), (size_t)n_vocab);
    const std::vector<int32_t> tokens = {11, 7, 3};
    std::vector<float> plain((size_t)n_vocab);
    for (float* out : {plain.data(), buffer->data()}) {
        model->start_sequence((int64_t)tokens.size());
        model->decode(std::span<const int32_t>(tokens.data(), 2), out);
        model->decode(std::span<const int32_t>(tokens.data() + 2, 1), out);
    }
    EXPECT_EQ(0, std::memcmp(plain.data(), buffer->data(), plain.size() * sizeof(float)));
}

#ifndef SHOOTOUT_HAVE_CUDA
TEST(ModelDecode, CudaBackendNeedsACudaBuild) {
    if (!std::filesystem::exists(kModel)) GTEST_SKIP() << "missing " << kModel;
    ThreadPool pool(1);
    auto file = gguf::File::open(kModel);
    try {
        Model::load(*file, pool, Backend::Cuda);
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("this build has no CUDA backend (configure with -DSHOOTOUT_CUDA=ON)"),
                  std::string::npos)
            << e.what();
    }
}
#endif

}  // namespace
}  // namespace shootout
