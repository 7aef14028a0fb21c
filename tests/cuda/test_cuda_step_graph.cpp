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
#include "quant/type_table.h"

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

// Q/K/V share one activation quantization (the CUDA Ops pass x_quantized for the second and third
// product of the same rows): a product told x is already quantized must use what the previous
// product of another quantized type left in the workspace, so it equals a fresh product of the x
// that was quantized then (x is overwritten in between to show the stored copy is what is read),
// bit for bit, for 1 and 3 tokens.
TEST(CudaStepGraph, ReusedActivationQuantizationMatchesFresh) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const int64_t n_in = 512, n_out = 96;
    using quant::TypeId;
    auto upload = [&](TypeId type, uint32_t seed) {
        const auto src = gaussian((size_t)(n_in * n_out), seed);
        std::vector<uint8_t> bytes(quant::row_size_bytes(type, n_in) * (size_t)n_out);
        quant::traits(type).quantize_rows(src.data(), bytes.data(), n_out, n_in, nullptr);
        return cuda::upload_weight("w", type, n_in, n_out, bytes.data());
    };
    const cuda::DeviceWeight first = upload(TypeId::Q4_K, 11), second = upload(TypeId::Q6_K, 12);
    for (int64_t n_tokens : {1, 3}) {
        const auto x_then = gaussian((size_t)(n_in * n_tokens), 13 + (uint32_t)n_tokens);
        const auto x_later = gaussian((size_t)(n_in * n_tokens), 17 + (uint32_t)n_tokens);
        const size_t n_y = (size_t)(n_out * n_tokens);
        cuda::DeviceBuffer x(x_then.size() * 4), y(n_y * 4);
        cuda::Workspace ws;
        auto product = [&](const cuda::DeviceWeight& w, bool x_quantized) {
            y.fill_bytes(0xff);  // NaN: an unwritten element fails
            cuda::matvec(w, x.as<float>(), n_tokens, y.as<float>(), ws, nullptr, x_quantized);
            std::vector<float> out(n_y);
            y.download(out.data(), n_y * 4);
            for (float v : out) EXPECT_TRUE(std::isfinite(v));
            return out;
        };
        x.upload(x_later.data(), x_later.size() * 4);
        const auto fresh_later = product(second, false);
        x.upload(x_then.data(), x_then.size() * 4);
        const auto fresh_then = product(second, false);
        product(first, false);                     // leaves x_then quantized in ws
        x.upload(x_later.data(), x_later.size() * 4);
        const auto reused = product(second, true);  // must read the stored x_then
        EXPECT_EQ(0, std::memcmp(fresh_then.data(), reused.data(), n_y * 4)) << n_tokens << " tokens";
        EXPECT_NE(0, std::memcmp(fresh_later.data(), reused.data(), n_y * 4)) << n_tokens << " tokens";
    }
}

}  // namespace
}  // namespace shootout
