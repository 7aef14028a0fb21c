// Programmatic Dependent Launch (pdl.cuh) through whole MoE and Gated DeltaNet models: the tiny
// transformers-made qwen3moe and qwen3next checkpoints (tests/data/model, tools/make_tiny_hf_models.py)
// run once with PDL off and once with it on, and every logit must be identical bit for bit. A read
// placed before a kernel's pdl_wait(), or kernel-written memory read through the non-coherent path,
// would show up as a difference. Each model runs as F16 (float expert products, separate combine)
// and as Q8_0 (int8 expert products with gate and up in one launch, the fused down product and
// combine); each run is one prompt (the prefill path: GEMMs and cuBLAS between PDL kernels), then a
// sequence of a 5-token decode call (gather, grouping kernel, NT = 8 expert products) and 6
// single-token steps, which the decode graphs run eagerly, capture, then replay (step_graph.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../model/golden_logits.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/pdl.h"
#include "convert/hf_model.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "util/parallel.h"

namespace shootout {
namespace {

constexpr int64_t kDecodePrompt = 5, kSteps = 6;

struct Logits {
    std::vector<float> prompt;               // [n_tokens][n_vocab]
    std::vector<std::vector<float>> steps;  // the decode calls' last-token rows
};

// The model loaded (and its ops created) with PDL as asked, so its launches and captured graphs
// take that setting.
Logits run(const gguf::File& file, const std::vector<int32_t>& tokens, bool pdl) {
    cuda::set_pdl_enabled(pdl);
    ThreadPool pool(0);
    auto model = Model::load(file, pool, Backend::Cuda);
    const int64_t n_vocab = model->info().n_vocab;
    Logits out;
    out.prompt = golden::prompt_logits(*model, tokens);
    model->start_sequence(kDecodePrompt + kSteps);
    out.steps.emplace_back((size_t)n_vocab, NAN);
    model->decode(std::span<const int32_t>(tokens.data(), (size_t)kDecodePrompt), out.steps.back().data());
    for (int64_t t = kDecodePrompt; t < kDecodePrompt + kSteps; ++t) {
        out.steps.emplace_back((size_t)n_vocab, NAN);
        model->decode(std::span<const int32_t>(&tokens[(size_t)t], 1), out.steps.back().data());
    }
    return out;
}

bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// PDL stays on for the rest of the process (its default) however the test ends.
struct PdlOnAtExit {
    ~PdlOnAtExit() { cuda::set_pdl_enabled(true); }
};

void expect_pdl_bit_identical(const std::string& arch, convert::OutType outtype) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const PdlOnAtExit restore;
    cuda::set_pdl_enabled(true);
    if (!cuda::pdl_enabled()) GTEST_SKIP() << "PDL needs compute capability 9.0 (" << cuda::device_info().name << ")";
    const std::string dir = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/tiny-" + arch + "-hf";
    const std::vector<int32_t> tokens = golden::read_golden(dir + ".golden").tokens;
    ASSERT_GT((int64_t)tokens.size(), cuda::kMaxMatvecTokens);  // the prompt takes the prefill path
    ASSERT_GE((int64_t)tokens.size(), kDecodePrompt + kSteps);
    const auto file = convert::open_hf_model(dir, outtype);

    const Logits off = run(*file, tokens, false);
    const Logits on = run(*file, tokens, true);

    ASSERT_TRUE(all_finite(on.prompt));
    EXPECT_TRUE(same_bits(off.prompt, on.prompt)) << arch << ": prompt logits";
    ASSERT_EQ(off.steps.size(), on.steps.size());
    for (size_t s = 0; s < on.steps.size(); ++s) {
        ASSERT_TRUE(all_finite(on.steps[s])) << "decode call " << s;
        EXPECT_TRUE(same_bits(off.steps[s], on.steps[s])) << arch << ": logits of decode call " << s;
    }
    // Different positions give different logits, so equal bits are not an artefact of a constant.
    const size_t n_vocab = on.steps[0].size();
    EXPECT_NE(0, std::memcmp(on.prompt.data(), on.prompt.data() + on.prompt.size() - n_vocab, n_vocab * sizeof(float)));
    EXPECT_FALSE(same_bits(on.steps.front(), on.steps.back()));
    EXPECT_FALSE(same_bits(on.steps[1], on.steps[2]));
}

TEST(CudaPdlModels, Qwen3MoeF16) { expect_pdl_bit_identical("qwen3moe", convert::OutType::F16); }
TEST(CudaPdlModels, Qwen3MoeQ8_0) { expect_pdl_bit_identical("qwen3moe", convert::OutType::Q8_0); }
TEST(CudaPdlModels, Qwen3NextF16) { expect_pdl_bit_identical("qwen3next", convert::OutType::F16); }
TEST(CudaPdlModels, Qwen3NextQ8_0) { expect_pdl_bit_identical("qwen3next", convert::OutType::Q8_0); }

}  // namespace
}  // namespace shootout
