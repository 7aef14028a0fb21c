// Programmatic Dependent Launch (backend/cuda/pdl.cuh): kernels launched with PDL start while the
// kernel before them still runs and wait for it in the kernel, so any read or write placed before
// that wait, or any activation read through the non-coherent path, shows up as a race. The same
// decode-like steps (the dense layers' kernels: quantizing and plain norms, matvecs of the integer,
// F16 and BF16 kernels with a last row block part empty, RoPE, fused QK-norm+RoPE, KV store,
// attention, SwiGLU, adds, bias; one product in plain stream order between PDL kernels, as a matrix
// that kernels fill is launched) run through StepGraphs (eager, captured, replayed) with PDL off and
// on, and every step's logits and residual must be identical bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/pdl.h"
#include "backend/cuda/step_graph.h"
#include "quant/type_table.h"
#include "device_util.h"

namespace shootout {
namespace {

using quant::TypeId;

constexpr int64_t kEmbd = 512, kFf = 1024, kVocab = 999, kCtx = 16, kSteps = 6;
const backend::AttentionShape kShape{4, 2, 128};
constexpr int64_t kQ = 4 * 128, kKv = 2 * 128;
constexpr float kEps = 1e-6f;

using test::gaussian;
constexpr auto weight = test::random_device_weight;

cuda::DeviceBuffer norm_vector(int64_t n, uint32_t seed) {
    auto v = gaussian((size_t)n, seed, 0.1f);
    for (auto& x : v) x += 1.f;
    cuda::DeviceBuffer b((size_t)n * 4);
    b.upload(v.data(), v.size() * 4);
    return b;
}

// One layer's weights. variant 0: Q4_K / Q6_K with the quantizing fused ops (qwen3); 1: Q8_0 / Q4_0 /
// Q4_1 with plain ops, a Q bias and separate RoPE (llama, qwen2), its down product launched in plain
// stream order; 2: F16 / BF16 (the float kernel), RoPE without norms.
struct Layer {
    int variant;
    cuda::DeviceWeight q, k, v, o, gate, up, down;
    cuda::DeviceBuffer attn_norm, ffn_norm, q_norm, k_norm, q_bias;
};

Layer make_layer(int variant, uint32_t seed) {
    const TypeId qkv[3] = {TypeId::Q4_K, TypeId::Q8_0, TypeId::F16};
    const TypeId ffn[3] = {TypeId::Q4_K, TypeId::Q4_0, TypeId::BF16};
    const TypeId down[3] = {TypeId::Q6_K, TypeId::Q4_1, TypeId::BF16};
    Layer l{variant,
            weight(qkv[variant], kEmbd, kQ, seed + 1),
            weight(qkv[variant], kEmbd, kKv, seed + 2),
            weight(qkv[variant], kEmbd, kKv, seed + 3),
            weight(qkv[variant], kQ, kEmbd, seed + 4),
            weight(ffn[variant], kEmbd, kFf, seed + 5),
            weight(ffn[variant], kEmbd, kFf, seed + 6),
            weight(down[variant], kFf, kEmbd, seed + 7),
            norm_vector(kEmbd, seed + 8),
            norm_vector(kEmbd, seed + 9),
            norm_vector(128, seed + 10),
            norm_vector(128, seed + 11),
            norm_vector(kQ, seed + 12)};
    if (variant == 1) l.down.immutable = false;  // as a matrix a kernel fills: no PDL for its product
    return l;
}

struct Outputs {
    std::vector<std::vector<float>> logits, residual;  // per step
};

// kSteps decode steps of `layers` (each layer index i uses layers[i % 3]'s weights and its own KV
// cache) through one StepGraphs, with PDL as `pdl` says.
Outputs run_steps(const std::vector<Layer>& layers, int n_layers, const cuda::DeviceWeight& output,
                  const cuda::DeviceBuffer& out_norm, bool pdl) {
    cuda::set_pdl_enabled(pdl);
    cuda::StepGraphs steps;
    const size_t f = sizeof(float);
    cuda::DeviceBuffer x(kEmbd * f), h(kEmbd * f), q(kQ * f), k(kKv * f), v(kKv * f), attn(kQ * f), o(kEmbd * f),
        g(kFf * f), u(kFf * f), a(kFf * f), ffn_out(kEmbd * f), logits(kVocab * f);
    std::vector<cuda::DeviceBuffer> k_cache, v_cache;
    for (int i = 0; i < n_layers; ++i) {
        k_cache.emplace_back((size_t)(kCtx * kKv) * 2);
        v_cache.emplace_back((size_t)(kCtx * kKv) * 2);
        k_cache.back().fill_bytes(0);
        v_cache.back().fill_bytes(0);
    }
    float *xp = x.as<float>(), *hp = h.as<float>(), *qp = q.as<float>(), *kp = k.as<float>(), *vp = v.as<float>(),
          *ap = attn.as<float>(), *op = o.as<float>(), *gp = g.as<float>(), *up = u.as<float>(), *swp = a.as<float>(),
          *fp = ffn_out.as<float>(), *lp = logits.as<float>();
    cuda::Workspace* ws = &steps.workspace();
    // Grown once up front: an eager step that grows it drops the graphs (their scratch address), and
    // the step counts below would shift by one.
    ws->reserve(1 << 16);
    int op_index = 0;
    auto record = [&](int64_t pos, cuda::StepGraphs::Launch launch) {
        steps.record("op" + std::to_string(op_index++), pos, std::move(launch));
    };
    // The quantize-ahead producers' layout in the workspace (as the CUDA Ops' launch_quantizing).
    auto quantized = [ws](cuda::ActivationType act, int64_t n, int8_t*& qs, float2*& ds) {
        qs = static_cast<int8_t*>(ws->reserve((size_t)n + (size_t)(n / 32) * sizeof(float2)));
        ds = reinterpret_cast<float2*>(qs + n);
        ws->quantized_as = (int)act;
    };
    auto product = [&](const cuda::DeviceWeight* w, const float* in, float* out, bool x_quantized) {
        record(-1, [=](cudaStream_t s, const int64_t*) { cuda::matvec(*w, in, 1, out, *ws, s, x_quantized); });
    };
    const backend::RopeParams rope{backend::RopeStyle::Neox, 128, 1000000.f};
    const float scale = 1.f / std::sqrt(128.f);
    Outputs result;
    for (int64_t pos = 0; pos < kSteps; ++pos) {
        const auto embedding = gaussian((size_t)kEmbd, 100 + (uint32_t)pos, 1.f);
        x.upload(embedding.data(), embedding.size() * f);
        steps.begin();
        op_index = 0;
        for (int i = 0; i < n_layers; ++i) {
            const Layer* l = &layers[(size_t)(i % 3)];
            uint16_t* kc = k_cache[(size_t)i].as<uint16_t>();
            uint16_t* vc = v_cache[(size_t)i].as<uint16_t>();
            const float *an = l->attn_norm.as<float>(), *fn = l->ffn_norm.as<float>(), *qn = l->q_norm.as<float>(),
                        *kn = l->k_norm.as<float>(), *qb = l->q_bias.as<float>();
            const auto attention = [=](cudaStream_t s, const int64_t* pd) {
                cuda::attention(kc, vc, qp, kp, vp, 1, pos, kShape, scale, ap, s, pd);
            };
            if (l->variant == 0) {
                const auto act = cuda::ActivationType::Q8_K;
                record(-1, [=](cudaStream_t s, const int64_t*) {
                    int8_t* qs;
                    float2* ds;
                    quantized(act, kEmbd, qs, ds);
                    cuda::rms_norm_quantize(xp, an, 1, kEmbd, kEps, hp, act, qs, ds, s);
                });
                product(&l->q, hp, qp, true);
                product(&l->k, hp, kp, true);
                product(&l->v, hp, vp, true);
                record(pos, [=](cudaStream_t s, const int64_t* pd) {
                    cuda::qk_norm_rope(qp, kp, qn, kn, 1, kShape, kEps, pos, rope, s, pd);
                });
                record(pos, attention);
                product(&l->o, ap, op, false);
                record(-1, [=](cudaStream_t s, const int64_t*) {
                    int8_t* qs;
                    float2* ds;
                    quantized(act, kEmbd, qs, ds);
                    cuda::add_rms_norm_quantize(xp, op, fn, 1, kEmbd, kEps, hp, act, qs, ds, s);
                });
                product(&l->gate, hp, gp, true);
                product(&l->up, hp, up, true);
                record(-1, [=](cudaStream_t s, const int64_t*) {
                    int8_t* qs;
                    float2* ds;
                    quantized(act, kFf, qs, ds);
                    cuda::swiglu_quantize(gp, up, 1, kFf, swp, act, qs, ds, s);
                });
                product(&l->down, swp, fp, true);
            } else {
                record(-1, [=](cudaStream_t s, const int64_t*) { cuda::rms_norm(xp, an, 1, kEmbd, kEps, hp, s); });
                product(&l->q, hp, qp, false);
                product(&l->k, hp, kp, l->variant == 1);
                product(&l->v, hp, vp, l->variant == 1);
                if (l->variant == 1) {
                    record(-1, [=](cudaStream_t s, const int64_t*) { cuda::add_bias(qp, qb, 1, kQ, s); });
                    record(pos, [=](cudaStream_t s, const int64_t* pd) {
                        cuda::rope(qp, 1, kShape.n_head, 128, pos, rope, s, pd);
                    });
                    record(pos, [=](cudaStream_t s, const int64_t* pd) {
                        cuda::rope(kp, 1, kShape.n_head_kv, 128, pos, rope, s, pd);
                    });
                } else {
                    record(pos, [=](cudaStream_t s, const int64_t* pd) {
                        cuda::qk_norm_rope(qp, kp, nullptr, nullptr, 1, kShape, kEps, pos, rope, s, pd);
                    });
                }
                record(pos, attention);
                product(&l->o, ap, op, false);
                record(-1, [=](cudaStream_t s, const int64_t*) { cuda::add_rms_norm(xp, op, fn, 1, kEmbd, kEps, hp, s); });
                product(&l->gate, hp, gp, false);
                product(&l->up, hp, up, l->variant == 1);
                record(-1, [=](cudaStream_t s, const int64_t*) { cuda::swiglu(gp, up, (size_t)kFf, swp, s); });
                product(&l->down, swp, fp, false);
            }
            record(-1, [=](cudaStream_t s, const int64_t*) { cuda::add(xp, fp, (size_t)kEmbd, s); });
        }
        const float* onorm = out_norm.as<float>();
        record(-1, [=](cudaStream_t s, const int64_t*) {
            int8_t* qs;
            float2* ds;
            quantized(cuda::ActivationType::Q8_K, kEmbd, qs, ds);
            cuda::rms_norm_quantize(xp, onorm, 1, kEmbd, kEps, hp, cuda::ActivationType::Q8_K, qs, ds, s);
        });
        product(&output, hp, lp, true);
        steps.end();
        cuda::synchronize();
        result.logits.emplace_back((size_t)kVocab);
        logits.download(result.logits.back().data(), (size_t)kVocab * f);
        result.residual.emplace_back((size_t)kEmbd);
        x.download(result.residual.back().data(), (size_t)kEmbd * f);
    }
    EXPECT_EQ(steps.eager_steps(), 1);
    EXPECT_EQ(steps.captured_steps(), 1);
    EXPECT_EQ(steps.replayed_steps(), kSteps - 2);
    return result;
}

TEST(CudaPdl, DecodeStepsWithAndWithoutPdlAreBitIdentical) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    cuda::set_pdl_enabled(true);
    if (!cuda::pdl_enabled()) GTEST_SKIP() << "PDL needs compute capability 9.0 (" << cuda::device_info().name << ")";
    std::vector<Layer> layers;
    for (int variant = 0; variant < 3; ++variant) layers.push_back(make_layer(variant, 20 * (uint32_t)variant));
    const cuda::DeviceWeight output = weight(TypeId::Q6_K, kEmbd, kVocab, 90);
    const cuda::DeviceBuffer out_norm = norm_vector(kEmbd, 91);
    const int n_layers = 6;  // each variant twice: a longer chain of overlapping launches
    const Outputs off = run_steps(layers, n_layers, output, out_norm, false);
    const Outputs on = run_steps(layers, n_layers, output, out_norm, true);
    for (int64_t step = 0; step < kSteps; ++step) {
        for (float value : on.logits[(size_t)step]) ASSERT_TRUE(std::isfinite(value)) << "step " << step;
        EXPECT_EQ(0, std::memcmp(off.logits[(size_t)step].data(), on.logits[(size_t)step].data(), (size_t)kVocab * 4))
            << "logits of step " << step;
        EXPECT_EQ(0, std::memcmp(off.residual[(size_t)step].data(), on.residual[(size_t)step].data(), (size_t)kEmbd * 4))
            << "residual of step " << step;
    }
    // The steps differ from each other (positions and inputs reach the output), so equal bits are not
    // an artefact of a constant result.
    EXPECT_NE(0, std::memcmp(on.logits[0].data(), on.logits[(size_t)kSteps - 1].data(), (size_t)kVocab * 4));
    cuda::set_pdl_enabled(true);
}

}  // namespace
}  // namespace shootout
