// Decode steps as CUDA graphs (backend/cuda/step_graph.h): a step of RoPE + KV store + attention,
// recorded at positions 0..n-1, must give bit-identical results to the same kernels launched
// directly with host positions (eager at the first step, a captured graph at the second, replays
// after, with the position read from device memory), and the counters must show that path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/step_graph.h"

namespace shootout {
namespace {

std::vector<float> gaussian(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

TEST(CudaStepGraph, ReplaysMatchDirectLaunchesAtEveryPosition) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const backend::AttentionShape shape{4, 2, 64};
    const backend::RopeParams rope{backend::RopeStyle::Neox, 64, 1000000.f};
    const int64_t n_ctx = 40, n_steps = 37;  // past one 32-key tile of the attention kernel
    const int64_t n_q = shape.n_head * shape.head_dim, n_kv = shape.n_head_kv * shape.head_dim;
    const size_t cache_bytes = (size_t)(n_ctx * n_kv) * 2;
    cuda::DeviceBuffer q(n_q * 4), k(n_kv * 4), v(n_kv * 4), out(n_q * 4);
    cuda::DeviceBuffer kc_direct(cache_bytes), vc_direct(cache_bytes), kc_graph(cache_bytes), vc_graph(cache_bytes);
    cuda::StepGraphs steps;
    const float scale = 0.125f;
    for (int64_t pos = 0; pos < n_steps; ++pos) {
        const auto hq = gaussian((size_t)n_q, 3 * (uint32_t)pos + 1), hk = gaussian((size_t)n_kv, 3 * (uint32_t)pos + 2),
                   hv = gaussian((size_t)n_kv, 3 * (uint32_t)pos + 3);
        std::vector<float> direct((size_t)n_q), graph((size_t)n_q);
        for (int pass = 0; pass < 2; ++pass) {
            q.upload(hq.data(), hq.size() * 4);
            k.upload(hk.data(), hk.size() * 4);
            v.upload(hv.data(), hv.size() * 4);
            out.fill_bytes(0xff);  // NaN: an unwritten element fails
            float *qp = q.as<float>(), *kp = k.as<float>(), *vp = v.as<float>(), *op = out.as<float>();
            if (pass == 0) {
                auto* kc = kc_direct.as<uint16_t>();
                auto* vc = vc_direct.as<uint16_t>();
                cuda::rope(qp, 1, shape.n_head, shape.head_dim, pos, rope, nullptr);
                cuda::rope(kp, 1, shape.n_head_kv, shape.head_dim, pos, rope, nullptr);
                cuda::attention(kc, vc, qp, kp, vp, 1, pos, shape, scale, op, nullptr);
                out.download(direct.data(), direct.size() * 4);
            } else {
                auto* kc = kc_graph.as<uint16_t>();
                auto* vc = vc_graph.as<uint16_t>();
                steps.begin();
                steps.record("rq", pos, [=](cudaStream_t s, const int64_t* pd) {
                    cuda::rope(qp, 1, shape.n_head, shape.head_dim, pos, rope, s, pd);
                });
                steps.record("rk", pos, [=](cudaStream_t s, const int64_t* pd) {
                    cuda::rope(kp, 1, shape.n_head_kv, shape.head_dim, pos, rope, s, pd);
                });
                steps.record("at", pos, [=](cudaStream_t s, const int64_t* pd) {
                    cuda::attention(kc, vc, qp, kp, vp, 1, pos, shape, scale, op, s, pd);
                });
                steps.end();
                cuda::synchronize();
                out.download(graph.data(), graph.size() * 4);
            }
        }
        ASSERT_EQ(0, std::memcmp(direct.data(), graph.data(), direct.size() * 4)) << "position " << pos;
        for (float x : graph) ASSERT_TRUE(std::isfinite(x)) << "position " << pos;
    }
    EXPECT_EQ(steps.eager_steps(), 1);
    EXPECT_EQ(steps.captured_steps(), 1);
    EXPECT_EQ(steps.replayed_steps(), n_steps - 2);
    // The caches were written at the same rows.
    std::vector<uint8_t> a(cache_bytes), b(cache_bytes);
    kc_direct.download(a.data(), a.size());
    kc_graph.download(b.data(), b.size());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), (size_t)(n_steps * n_kv) * 2));
}

}  // namespace
}  // namespace shootout
