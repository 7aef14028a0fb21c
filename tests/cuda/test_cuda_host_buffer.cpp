// Model::host_buffer on the CUDA backend (backend::Ops::host_buffer): page-locked memory, so to_host
// copies straight into it, and a decode loop or an evaluation writing its logits there gets the bits
// it gets in plain memory. The tiny Llama 3.1 fixture (head_dim 64: its decode steps run as graphs)
// decodes a prompt and single tokens twice, into a std::vector and into the model's host buffer;
// then the evaluation's path, logits() of a whole chunk's hidden rows, into both.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/cuda_kernels.h"
#include "backend/ops.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "util/parallel.h"

namespace shootout {
namespace {

const std::string kModel = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/tiny-llama31-hd64.gguf";

TEST(CudaHostBuffer, PageLockedAndHoldsTheSameLogits) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    ThreadPool pool(0);
    auto file = gguf::File::open(kModel);
    auto model = Model::load(*file, pool, Backend::Cuda);
    const int64_t n_vocab = model->info().n_vocab;
    const std::unique_ptr<backend::Buffer> buffer = model->host_buffer((size_t)n_vocab);
    ASSERT_EQ(buffer->n_floats(), (size_t)n_vocab);
    cudaPointerAttributes attributes{};
    ASSERT_EQ(cudaPointerGetAttributes(&attributes, buffer->data()), cudaSuccess);
    EXPECT_EQ(attributes.type, cudaMemoryTypeHost) << "not page-locked host memory";

    const std::vector<int32_t> tokens = {1, 5, 9, 14, 3, 27, 8, 2, 11, 4};
    const size_t n_prompt = 4;
    auto run = [&](float* (*where)(std::vector<float>&, backend::Buffer&), std::vector<float>& plain) {
        std::vector<std::vector<float>> rows;
        model->start_sequence((int64_t)tokens.size());
        for (size_t t = n_prompt - 1; t < tokens.size(); ++t) {
            const size_t begin = t == n_prompt - 1 ? 0 : t;
            std::fill(buffer->data(), buffer->data() + n_vocab, NAN);
            std::fill(plain.begin(), plain.end(), NAN);
            float* out = where(plain, *buffer);
            model->decode(std::span<const int32_t>(tokens.data() + begin, t + 1 - begin), out);
            rows.emplace_back(out, out + n_vocab);
        }
        return rows;
    };
    std::vector<float> plain((size_t)n_vocab);
    const auto in_plain = run([](std::vector<float>& p, backend::Buffer&) { return p.data(); }, plain);
    const auto in_buffer = run([](std::vector<float>&, backend::Buffer& b) { return b.data(); }, plain);
    ASSERT_EQ(in_plain.size(), in_buffer.size());
    for (size_t i = 0; i < in_plain.size(); ++i) {
        for (float v : in_buffer[i]) ASSERT_TRUE(std::isfinite(v)) << "step " << i;
        EXPECT_EQ(0, std::memcmp(in_plain[i].data(), in_buffer[i].data(), (size_t)n_vocab * 4)) << "step " << i;
    }
    EXPECT_NE(0, std::memcmp(in_buffer[0].data(), in_buffer.back().data(), (size_t)n_vocab * 4)) << "steps alike";

    // logits() of several rows at once (the evaluation's tiles).
    const std::vector<float> hidden = model->hidden(tokens);
    const int64_t n_rows = (int64_t)tokens.size();
    const std::unique_ptr<backend::Buffer> tile = model->host_buffer((size_t)(n_rows * n_vocab));
    std::vector<float> tile_plain((size_t)(n_rows * n_vocab));
    model->logits(hidden.data(), n_rows, tile_plain.data());
    model->logits(hidden.data(), n_rows, tile->data());
    EXPECT_EQ(0, std::memcmp(tile_plain.data(), tile->data(), tile_plain.size() * 4)) << "logits() tile";
}

}  // namespace
}  // namespace shootout
