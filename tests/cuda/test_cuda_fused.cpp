// The CUDA backend's fused ops (add_rms_norm, qk_norm_rope: one kernel each) against the CPU backend,
// which runs them as the plain ops they stand for (backend::Ops defaults). Same F32 operations in a
// different summation order: relative differences of a few ulp, bounded here at 1e-5 of the row scale.
// Cases: NEOX and normal RoPE, partial rotation (qwen3next rotates a quarter of each head), with and
// without the per-head norms, positions from a nonzero pos0, an aliased output (out == y).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/ops_kernels.h"
#include "util/fp16.h"
#include "util/parallel.h"

namespace shootout {
namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float mean = 0.f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(mean, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

backend::Weight f32_vector(const std::string& name, const std::vector<float>& v) {
    backend::Weight w;
    w.name = name;
    w.type = quant::TypeId::F32;
    w.n_in = (int64_t)v.size();
    w.n_out = 1;
    w.row_bytes = v.size() * sizeof(float);
    w.data = reinterpret_cast<const uint8_t*>(v.data());
    return w;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!std::isfinite(b[i])) return INFINITY;
        m = std::max(m, (double)std::fabs(a[i] - b[i]));
    }
    return m;
}

class CudaFused : public ::testing::Test {
protected:
    void SetUp() override {
        if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
        cpu_ = cpu::make_cpu_ops(pool_);
        gpu_ = cuda::make_cuda_ops();
    }
    // Runs f on the GPU over device copies of the host vectors, then copies them back.
    template <class F>
    void on_gpu(std::vector<std::vector<float>*> host, F&& f) {
        std::vector<std::unique_ptr<backend::Buffer>> bufs;
        std::vector<float*> ptrs;
        for (auto* h : host) {
            bufs.push_back(gpu_->alloc(h->size()));
            gpu_->from_host(h->data(), bufs.back()->data(), h->size());
            ptrs.push_back(bufs.back()->data());
        }
        f(ptrs);
        for (size_t i = 0; i < host.size(); ++i) gpu_->to_host(ptrs[i], host[i]->data(), host[i]->size());
    }
    ThreadPool pool_{0};
    std::unique_ptr<backend::Ops> cpu_, gpu_;
};

TEST_F(CudaFused, AddRmsNormMatchesPlainOps) {
    const int64_t n_rows = 3, n = 1536;
    const auto w_host = gaussian((size_t)n, 5, 1.f);
    const backend::Weight w = f32_vector("ffn_norm", w_host);
    for (bool aliased : {false, true}) {
        SCOPED_TRACE(aliased ? "out == y" : "separate out");
        std::vector<float> x = gaussian((size_t)(n_rows * n), 1), y = gaussian((size_t)(n_rows * n), 2);
        std::vector<float> out((size_t)(n_rows * n));
        std::vector<float> gx = x, gy = y, gout = out;
        cpu_->add_rms_norm(x.data(), y.data(), w, n_rows, 1e-6f, aliased ? y.data() : out.data());
        on_gpu({&gx, &gy, &gout}, [&](const std::vector<float*>& p) {
            gpu_->add_rms_norm(p[0], p[1], w, n_rows, 1e-6f, aliased ? p[1] : p[2]);
        });
        EXPECT_LT(max_abs_diff(x, gx), 1e-6);
        EXPECT_LT(max_abs_diff(aliased ? y : out, aliased ? gy : gout), 1e-5);
    }
}

struct RopeCase {
    int64_t head_dim, n_rot;
    backend::RopeStyle style;
    bool norms;
    int64_t pos0;
    bool freq_factors = false;  // Llama 3.1's theta_i divisors (rope_freqs.weight)
};

// n_rot / 2 RoPE frequency factors in [0.25, 4] (Llama 3.1's lie in [1, 32]; below 1 too, so a
// kernel that multiplied instead of dividing, or ignored them, would be caught either way).
std::vector<float> freq_factors(int64_t n_rot, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> e(-2.f, 2.f);
    std::vector<float> f((size_t)(n_rot / 2));
    for (float& x : f) x = std::exp2(e(rng));
    return f;
}

class CudaFusedRope : public CudaFused, public ::testing::WithParamInterface<RopeCase> {};

TEST_P(CudaFusedRope, QkNormRopeMatchesPlainOps) {
    const RopeCase c = GetParam();
    const backend::AttentionShape shape{8, 2, c.head_dim};
    const int64_t n_tokens = 5;
    const std::vector<float> factors = freq_factors(c.n_rot, 21);
    backend::RopeParams rope{c.style, c.n_rot, 1000000.f};
    if (c.freq_factors) rope.freq_factors = factors.data();  // host memory: CudaOps uploads it
    const auto qn_host = gaussian((size_t)c.head_dim, 7, 1.f), kn_host = gaussian((size_t)c.head_dim, 8, 1.f);
    const backend::Weight qn = f32_vector("q_norm", qn_host), kn = f32_vector("k_norm", kn_host);
    std::vector<float> q = gaussian((size_t)(n_tokens * shape.n_head * c.head_dim), 3);
    std::vector<float> k = gaussian((size_t)(n_tokens * shape.n_head_kv * c.head_dim), 4);
    std::vector<float> gq = q, gk = k;
    cpu_->qk_norm_rope(q.data(), k.data(), c.norms ? &qn : nullptr, c.norms ? &kn : nullptr, n_tokens, shape, 1e-6f,
                       c.pos0, rope);
    on_gpu({&gq, &gk}, [&](const std::vector<float*>& p) {
        gpu_->qk_norm_rope(p[0], p[1], c.norms ? &qn : nullptr, c.norms ? &kn : nullptr, n_tokens, shape, 1e-6f,
                           c.pos0, rope);
    });
    // Values are O(1) (norm weights ~N(1, 1)); large positions make sincos arguments big, so allow
    // for the GPU's sincosf differing from the host's by an ulp of the argument's range reduction.
    EXPECT_LT(max_abs_diff(q, gq), 2e-5);
    EXPECT_LT(max_abs_diff(k, gk), 2e-5);
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaFusedRope,
                         ::testing::Values(RopeCase{128, 128, backend::RopeStyle::Neox, true, 0},
                                           RopeCase{128, 128, backend::RopeStyle::Neox, true, 300},
                                           RopeCase{64, 64, backend::RopeStyle::Normal, false, 17},
                                           RopeCase{256, 64, backend::RopeStyle::Neox, true, 9},
                                           RopeCase{128, 128, backend::RopeStyle::Normal, true, 1000},
                                           // Llama 3.1 (no norms, adjacent pairs) and partial rotation
                                           RopeCase{128, 128, backend::RopeStyle::Normal, false, 300, true},
                                           RopeCase{64, 32, backend::RopeStyle::Neox, true, 17, true}));

// The producers fused with the activation conversion (decode's quantize-ahead): their F32 output is
// the plain op's (compared with the CPU's), and their int8 output and scales are bit for bit what
// quantize_activations makes of that F32 output.
// Rows of 1024 and of 5120 elements (Qwen3-32B's width: 5 a thread of the norm's 1024).
TEST_F(CudaFused, ProducersQuantizeTheirOutputExactly) {
    for (const int64_t n : {1024, 5120}) {
        const int64_t n_rows = 3;
        const auto w_host = gaussian((size_t)n, 9, 1.f);
        const backend::Weight w = f32_vector("norm", w_host);
        const size_t total = (size_t)(n_rows * n);
        for (auto act : {cuda::ActivationType::Q8_0, cuda::ActivationType::Q8_1, cuda::ActivationType::Q8_K}) {
            for (int producer = 0; producer < 3; ++producer) {
                SCOPED_TRACE("n " + std::to_string(n) + ", activation type " + std::to_string((int)act) + ", producer " +
                             std::to_string(producer));
                std::vector<float> a = gaussian(total, 11), b = gaussian(total, 12), out(total);
                std::vector<float> ca = a, cb = b, cout(total);
                if (producer == 0) cpu_->rms_norm(ca.data(), w, n_rows, 1e-6f, cout.data());
                if (producer == 1) cpu_->add_rms_norm(ca.data(), cb.data(), w, n_rows, 1e-6f, cout.data());
                if (producer == 2) cpu_->swiglu(ca.data(), cb.data(), total, cout.data());
                cuda::DeviceBuffer qs(total), ds(total / 32 * 8), qs2(total), ds2(total / 32 * 8), wd(n * sizeof(float));
                wd.upload(w_host.data(), n * sizeof(float));
                on_gpu({&a, &b, &out}, [&](const std::vector<float*>& p) {
                    if (producer == 0)
                        cuda::rms_norm_quantize(p[0], wd.as<float>(), n_rows, n, 1e-6f, p[2], act, qs.as<int8_t>(),
                                                ds.as<float2>(), nullptr);
                    if (producer == 1)
                        cuda::add_rms_norm_quantize(p[0], p[1], wd.as<float>(), n_rows, n, 1e-6f, p[2], act,
                                                    qs.as<int8_t>(), ds.as<float2>(), nullptr);
                    if (producer == 2)
                        cuda::swiglu_quantize(p[0], p[1], n_rows, n, p[2], act, qs.as<int8_t>(), ds.as<float2>(), nullptr);
                    cuda::quantize_activations(act, p[2], n_rows, n, qs2.as<int8_t>(), ds2.as<float2>(), nullptr);
                    cuda::synchronize();
                });
                EXPECT_LT(max_abs_diff(cout, out), 1e-5);
                std::vector<int8_t> q1(total), q2(total);
                std::vector<float> d1(total / 16), d2(total / 16);
                qs.download(q1.data(), total);
                qs2.download(q2.data(), total);
                ds.download(d1.data(), d1.size() * sizeof(float));
                ds2.download(d2.data(), d2.size() * sizeof(float));
                EXPECT_EQ(q1, q2);
                EXPECT_EQ(d1, d2);
            }
        }
    }
}

// A decode step's attention as one kernel (attention_decode_step: KV store, the held-back
// qk_norm_rope, the output's conversion) against the launches it replaces: qk_norm_rope, then
// attention (one token), then quantize_activations. Both run the same device code for each part, so
// q, k, the cache and the output agree to the last bits (bounded at 1e-6 for values of O(1)); the
// conversion must be, bit for bit, quantize_activations of the fused kernel's own output.
// With split (long contexts: the keys cut into ranges, a block each, DecodeSplit) the output is the
// same softmax summed in another order (bounded at 1e-5), and a second run gives the same bits
// (the merge order is fixed, and the counters are back at zero after each call).
struct DecodeCase {
    backend::AttentionShape shape;
    int64_t n_rot;
    backend::RopeStyle style;
    bool norms, rope;
    cuda::ActivationType act;
    bool freq_factors = false;
    int64_t pos0 = 37;
    bool split = false;
};

class CudaDecodeStep : public CudaFused, public ::testing::WithParamInterface<DecodeCase> {};

TEST_P(CudaDecodeStep, OneKernelEqualsThePlainLaunches) {
    const DecodeCase c = GetParam();
    const backend::AttentionShape& shape = c.shape;
    const int64_t hd = shape.head_dim, pos0 = c.pos0, n_ctx = pos0 + 3, kv_row = shape.n_head_kv * hd;
    const int64_t n_q = shape.n_head * hd;
    ASSERT_TRUE(cuda::attention_decode_supports(shape, c.act));
    // The kernels take the frequency factors in device memory (CudaOps uploads the model's).
    const std::vector<float> factors_host = freq_factors(c.n_rot, 22);
    cuda::DeviceBuffer factors(factors_host.size() * sizeof(float));
    factors.upload(factors_host.data(), factors.bytes());
    backend::RopeParams rope{c.style, c.n_rot, 1000000.f};
    if (c.freq_factors) rope.freq_factors = factors.as<float>();
    const auto qn_host = gaussian((size_t)hd, 7, 1.f), kn_host = gaussian((size_t)hd, 8, 1.f);
    const auto q_host = gaussian((size_t)n_q, 3), k_host = gaussian((size_t)kv_row, 4), v_host = gaussian((size_t)kv_row, 5);
    // Earlier positions of the cache: random F16 values (the same in both runs).
    std::vector<uint16_t> cache_host((size_t)(n_ctx * kv_row));
    {
        const auto f = gaussian(cache_host.size(), 6);
        for (size_t i = 0; i < f.size(); ++i) cache_host[i] = fp32_to_fp16(f[i]);
    }
    auto upload = [](const auto& host) {
        cuda::DeviceBuffer b(host.size() * sizeof(host[0]));
        b.upload(host.data(), b.bytes());
        return b;
    };
    const cuda::DeviceBuffer qn = upload(qn_host), kn = upload(kn_host), v = upload(v_host);
    const float* qn_p = c.norms ? qn.as<float>() : nullptr;
    const float* kn_p = c.norms ? kn.as<float>() : nullptr;
    struct Run {
        cuda::DeviceBuffer q, k, kc, vc, out, qs, ds;
    };
    auto fresh = [&]() {
        Run r{upload(q_host), upload(k_host), upload(cache_host), upload(cache_host),
              cuda::DeviceBuffer((size_t)n_q * sizeof(float)), cuda::DeviceBuffer((size_t)n_q),
              cuda::DeviceBuffer((size_t)n_q / 32 * sizeof(float2))};
        r.out.fill_bytes(0xFF);
        r.qs.fill_bytes(0x55);
        r.ds.fill_bytes(0xFF);
        return r;
    };
    const float scale = 1.0f / std::sqrt((float)hd);
    constexpr int kSplitBlocks = 512;
    cuda::DeviceBuffer partials(cuda::decode_split_floats(kSplitBlocks) * sizeof(float)),
        counters(kSplitBlocks * sizeof(unsigned));
    counters.fill_bytes(0);
    partials.fill_bytes(0xFF);  // NaN: which ranges wrote their sums shows below
    const cuda::DecodeSplit split{partials.as<float>(), counters.as<unsigned>(), kSplitBlocks};
    Run plain = fresh(), fused = fresh(), again = fresh();
    if (c.rope)
        cuda::qk_norm_rope(plain.q.as<float>(), plain.k.as<float>(), qn_p, kn_p, 1, shape, 1e-6f, pos0, rope, nullptr);
    cuda::attention(plain.kc.as<uint16_t>(), plain.vc.as<uint16_t>(), plain.q.as<float>(), plain.k.as<float>(),
                    v.as<float>(), 1, pos0, shape, scale, plain.out.as<float>(), nullptr);
    const cuda::NormRope nr = cuda::norm_rope_args(qn_p, kn_p, 1e-6f, rope, hd);
    auto run_fused = [&](Run& r, const int64_t* pos_device) {
        cuda::attention_decode_step(r.kc.as<uint16_t>(), r.vc.as<uint16_t>(), r.q.as<float>(), r.k.as<float>(),
                                    v.as<float>(), pos0, shape, scale, c.rope ? &nr : nullptr, r.out.as<float>(), c.act,
                                    r.qs.as<int8_t>(), r.ds.as<float2>(), nullptr, pos_device, c.split ? &split : nullptr);
    };
    run_fused(fused, nullptr);
    if (c.split) run_fused(again, nullptr);
    // With the position in device memory, as a captured step passes it: the kernel then loads its
    // first key tiles before its PDL wait (attention_decode.cu); the same bits.
    const std::vector<int64_t> pos_host{pos0};
    const cuda::DeviceBuffer pos_device = upload(pos_host);
    Run graphed = fresh();
    run_fused(graphed, pos_device.as<int64_t>());
    // The conversion of the fused kernel's own output, by the plain launcher.
    cuda::DeviceBuffer qs2((size_t)n_q), ds2((size_t)n_q / 32 * sizeof(float2));
    if (c.act != cuda::ActivationType::F32)
        cuda::quantize_activations(c.act, fused.out.as<float>(), 1, n_q, qs2.as<int8_t>(), ds2.as<float2>(), nullptr);
    cuda::synchronize();
    auto floats = [](const cuda::DeviceBuffer& b) {
        std::vector<float> h(b.bytes() / sizeof(float));
        b.download(h.data(), b.bytes());
        return h;
    };
    auto halves = [](const cuda::DeviceBuffer& b) {
        std::vector<uint16_t> h(b.bytes() / 2);
        b.download(h.data(), b.bytes());
        std::vector<float> f(h.size());
        for (size_t i = 0; i < h.size(); ++i) f[i] = fp16_to_fp32(h[i]);
        return f;
    };
    EXPECT_LT(max_abs_diff(floats(plain.q), floats(fused.q)), 1e-6);
    EXPECT_LT(max_abs_diff(floats(plain.k), floats(fused.k)), 1e-6);
    EXPECT_LT(max_abs_diff(halves(plain.kc), halves(fused.kc)), 1e-6);
    EXPECT_LT(max_abs_diff(halves(plain.vc), halves(fused.vc)), 1e-6);
    EXPECT_LT(max_abs_diff(floats(plain.out), floats(fused.out)), c.split ? 1e-5 : 1e-6);
    EXPECT_EQ(floats(graphed.out), floats(fused.out));
    EXPECT_EQ(floats(graphed.q), floats(fused.q));
    EXPECT_EQ(halves(graphed.kc), halves(fused.kc));
    EXPECT_EQ(halves(graphed.vc), halves(fused.vc));
    if (c.split) {
        EXPECT_EQ(floats(again.out), floats(fused.out));
        EXPECT_EQ(floats(again.q), floats(fused.q));
        std::vector<unsigned> counts(kSplitBlocks);
        counters.download(counts.data(), counts.size() * sizeof(unsigned));
        EXPECT_EQ(counts, std::vector<unsigned>(kSplitBlocks, 0u));
        // The ranges ran: partial sums were written past kMinSplitKeys keys, none up to it.
        const std::vector<float> parts = floats(partials);
        const auto written = std::count_if(parts.begin(), parts.end(), [](float x) { return !std::isnan(x); });
        if (pos0 + 1 > cuda::kMinSplitKeys) EXPECT_GT(written, 0);
        else EXPECT_EQ(written, 0);
    }
    if (c.act != cuda::ActivationType::F32) {
        std::vector<int8_t> q1((size_t)n_q), q2((size_t)n_q);
        fused.qs.download(q1.data(), q1.size());
        qs2.download(q2.data(), q2.size());
        EXPECT_EQ(q1, q2);
        EXPECT_EQ(floats(fused.ds), floats(ds2));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CudaDecodeStep,
    ::testing::Values(
        // Qwen3-8B's attention (32 / 8 heads of 128), K-quant output product (Q8_K).
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_K},
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_0},
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Normal, false, true, cuda::ActivationType::Q8_1},
        // No rope held back (qwen3next's gated attention keeps its own order), plain output.
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, false, cuda::ActivationType::F32},
        DecodeCase{{16, 2, 256}, 64, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_K},
        DecodeCase{{8, 8, 64}, 64, backend::RopeStyle::Normal, true, true, cuda::ActivationType::Q8_0},
        DecodeCase{{16, 1, 64}, 32, backend::RopeStyle::Neox, false, true, cuda::ActivationType::F32},
        // Llama 3.1-8B (32 / 8 heads of 128, adjacent pairs, no norms) with its frequency factors.
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Normal, false, true, cuda::ActivationType::Q8_K, true},
        // Long contexts, the keys in ranges (kMinSplitKeys = 64): one range (64 keys), a range and one
        // key, then as many ranges as the card's SM count allows (33 of 64 keys on an H100 at 1001).
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_K, false, 63, true},
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_0, false, 64, true},
        // Ranges that end inside a tile: 101 keys in two ranges (64 + 37), 201 in four (the last of 9).
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_0, false, 100, true},
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_K, false, 200, true},
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_K, false, 1000, true},
        DecodeCase{{32, 8, 128}, 128, backend::RopeStyle::Neox, true, false, cuda::ActivationType::F32, false, 4095, true},
        DecodeCase{{16, 2, 256}, 64, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_K, false, 3000, true},
        // Qwen3-30B-A3B's attention (32 / 4 heads of 128): 10, 32 and 64 ranges on an H100, whose
        // merge reads two float4 columns a thread (G * HD / 4 outputs over 128 threads).
        DecodeCase{{32, 4, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_K, false, 600, true},
        DecodeCase{{32, 4, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_0, false, 2047, true},
        DecodeCase{{32, 4, 128}, 128, backend::RopeStyle::Neox, true, true, cuda::ActivationType::Q8_K, false, 4095, true},
        DecodeCase{{16, 1, 64}, 32, backend::RopeStyle::Neox, false, true, cuda::ActivationType::F32, false, 4095, true}));

TEST(CudaDecodeStepSupport, ConversionBlocksMustTileAKvHeadsOutput) {
    // 1 query head of 64 per KV head: 64 outputs, not a Q8_K block of 256; Q8_0 fits.
    EXPECT_FALSE(cuda::attention_decode_supports({8, 8, 64}, cuda::ActivationType::Q8_K));
    EXPECT_TRUE(cuda::attention_decode_supports({8, 8, 64}, cuda::ActivationType::Q8_0));
    EXPECT_FALSE(cuda::attention_decode_supports({12, 4, 128}, cuda::ActivationType::F32));  // 3 heads a group
    EXPECT_FALSE(cuda::attention_decode_supports({32, 8, 96}, cuda::ActivationType::F32));   // head size
}

}  // namespace
}  // namespace shootout
