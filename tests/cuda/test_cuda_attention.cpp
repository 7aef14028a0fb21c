// The attention op of the CUDA backend against the CPU backend's, through the Ops interface: all
// paths of the GPU (the decode kernel for one token, with its tensor-core key walk for head_dim 64 /
// 128 and for 256 with 2..8 heads a KV head, its CUDA-core one otherwise, or for all under
// SHOOTOUT_CUDA_DECODE_MMA=0 as gpu-check also runs it; the per-query kernel for short batches; for prompts of kMinGemmTokens = 32 and more the
// flash kernel at head_dim 64 / 128 / 256, or the cuBLAS path under SHOOTOUT_CUDA_FLASH=0 as gpu-check
// also runs it), grouped-query heads, and a prompt continued at pos0 > 0 (a second chunk reading the
// first one's cache rows).
//
// Tolerance: the CPU works in F32 on the F16 cache; the GPU's prompt path rounds q and the softmax
// probabilities to F16 (2^-11 relative each), so outputs (weighted means of V, |v| ~ 1) may differ by
// a few 1e-3 at most; the per-query kernel is F32 like the CPU (1e-5). A wrong mask, head mapping or
// stride gives errors of order 0.1-1.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_ops.h"
#include "util/parallel.h"

namespace shootout {
namespace {

std::vector<float> gaussian(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

struct Case {
    int64_t n_head, n_head_kv, head_dim;
    std::vector<int64_t> chunks;  // tokens per call, continuing the sequence
};

class CudaAttention : public ::testing::TestWithParam<Case> {};

TEST_P(CudaAttention, MatchesCpu) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const Case c = GetParam();
    const backend::AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};
    int64_t n_ctx = 0;
    for (int64_t n : c.chunks) n_ctx += n;
    ThreadPool pool(0);
    auto cpu = cpu::make_cpu_ops(pool);
    auto gpu = cuda::make_cuda_ops();
    auto cpu_cache = cpu->make_kv_cache(2, n_ctx, shape);
    auto gpu_cache = gpu->make_kv_cache(2, n_ctx, shape);
    const float scale = 1.0f / std::sqrt((float)c.head_dim);
    const int64_t q_row = c.n_head * c.head_dim, kv_row = c.n_head_kv * c.head_dim;
    int64_t pos0 = 0;
    for (int64_t n : c.chunks) {
        SCOPED_TRACE("chunk of " + std::to_string(n) + " tokens at " + std::to_string(pos0));
        const auto q = gaussian((size_t)(n * q_row), 1 + (uint32_t)pos0);
        auto k = gaussian((size_t)(n * kv_row), 2 + (uint32_t)pos0);
        const auto v = gaussian((size_t)(n * kv_row), 3 + (uint32_t)pos0);
        for (auto& x : k) x *= 3.0f;  // peaked softmax rows, so a wrong key shows
        std::vector<float> cpu_out((size_t)(n * q_row));
        cpu->attention(*cpu_cache, 1, q.data(), k.data(), v.data(), n, pos0, shape, scale, cpu_out.data());

        auto dq = gpu->alloc(q.size()), dk = gpu->alloc(k.size()), dv = gpu->alloc(v.size()), dout = gpu->alloc(q.size());
        gpu->from_host(q.data(), dq->data(), q.size());
        gpu->from_host(k.data(), dk->data(), k.size());
        gpu->from_host(v.data(), dv->data(), v.size());
        gpu->attention(*gpu_cache, 1, dq->data(), dk->data(), dv->data(), n, pos0, shape, scale, dout->data());
        std::vector<float> gpu_out(q.size(), NAN);
        gpu->to_host(dout->data(), gpu_out.data(), gpu_out.size());

        const double tol = n >= 32 ? 1e-2 : 1e-4;
        double max_err = 0;
        for (size_t i = 0; i < gpu_out.size(); ++i) {
            ASSERT_TRUE(std::isfinite(gpu_out[i])) << "element " << i;
            max_err = std::max(max_err, (double)std::fabs(gpu_out[i] - cpu_out[i]));
        }
        std::printf("attention %lldx%lld heads, d %lld, %lld tokens at %lld: max |gpu - cpu| %.3g\n",
                    (long long)c.n_head, (long long)c.n_head_kv, (long long)c.head_dim, (long long)n,
                    (long long)pos0, max_err);
        EXPECT_LT(max_err, tol);
        pos0 += n;
    }
}

// Single-token chunks take the decode kernel (a block per KV head, warps splitting the keys): the
// first position alone (one key: all but one warp without keys), 8B's 32x8 heads, 30B-A3B's 32x4,
// Qwen3-Next's 16x2 of head_dim 256, 16 query heads per KV head, and 301+ keys (every warp several
// tiles, the last one partial).
INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttention,
                         ::testing::Values(Case{8, 2, 64, {40, 7, 300}}, Case{8, 8, 128, {300, 33}},
                                           Case{32, 8, 128, {512}}, Case{4, 2, 256, {5, 64}},
                                           Case{8, 8, 64, {1, 1, 1, 30, 1}}, Case{32, 8, 128, {40, 1, 1, 300, 1}},
                                           Case{32, 4, 128, {33, 1, 1}}, Case{16, 2, 256, {5, 1, 100, 1}},
                                           Case{16, 1, 64, {70, 1}},
                                           // Prompt chunks whose keys pass 512 (the softmax's 32-a-lane
                                           // rows) and 1024 (its block-per-row kernel).
                                           Case{8, 2, 64, {400, 300, 400}},
                                           // 30B-A3B's heads at depth: a prompt chunk after 1024
                                           // positions, a 16-token chunk (the per-query kernel)
                                           // and a decode step past 1500 keys.
                                           Case{32, 4, 128, {1024, 512, 16, 1}},
                                           // 16 query heads of 128 a KV head: every row of the
                                           // decode walk's mma tile (decode_walk_mma.cuh) a head.
                                           Case{32, 2, 128, {20, 1, 1, 90, 1}},
                                           // head_dim 256 with 2 and 4 heads a KV head (the mma
                                           // walk's q fragments from shared memory; 8: above).
                                           Case{4, 2, 256, {5, 1, 64, 1}}, Case{8, 2, 256, {3, 1, 70, 1}},
                                           // Qwen3-Next's prompt heads: the flash kernel's 32-key
                                           // tiles at head_dim 256 over several tiles, a partial
                                           // last block of query rows, and a second chunk at depth.
                                           Case{16, 2, 256, {300, 200}}));

}  // namespace
}  // namespace shootout
