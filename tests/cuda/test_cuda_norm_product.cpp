// Norm folding (cuda_ops_steps.cpp): the RMSNorm done by the products after it (matvec_normed), the residual
// add by the product before it (matvec_parts' accumulate). Both must give the bits of the unfolded
// ops: the kernels against rms_norm_quantize + matvec_parts and matvec + add, every integer type
// family and row lengths of one and two passes of the block (4096 elements a pass), with more rows
// than the persistent grid holds at once; the gated add (the shared expert's) against matvec +
// sigmoid_gate + add; then a tiny Llama model quantized here and the tiny Qwen3-Next, decoded with
// folding off and on, whose logits must be identical, and a synthetic model of real widths, where
// no decode-step product may convert its own input.
// (IQ2_XXS, IQ2_XS and IQ1_S need an importance matrix to quantize: their siblings stand in.)
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/ops_kernels.h"
#include "convert/hf_model.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "quant/type_table.h"
#include "quantize/plan.h"
#include "quantize/quantize_model.h"
#include "quantize/recipe.h"
#include "synth/synth_model.h"
#include "util/parallel.h"
#include "device_util.h"

namespace shootout {
namespace {

using quant::TypeId;

using test::device_floats;
using test::gaussian;
using test::host_floats;
constexpr auto weight = test::random_device_weight;

struct Case {
    TypeId type;
    int64_t n;
};

// A three-part normed product's buffers: x (rows of varied size, so the norm's scale is not ~1), the
// norm weights, the normed row and each part's output twice (the unfolded reference's, the normed
// launch's; outputs NaN-filled, so a row never written shows), and the reference's first step: the
// quantizing norm into the workspace, as a decode step runs it without folding.
struct NormedIo {
    cuda::DeviceBuffer x, nw, out_ref, out;
    std::vector<cuda::DeviceBuffer> y_ref, y;
    float* ys_ref[3];
    float* ys[3];
    int64_t n;
    float eps = 1e-6f;

    NormedIo(int64_t n_in, const int64_t (&n_out)[3], uint32_t seed) : n(n_in) {
        auto w_host = gaussian((size_t)n, seed + 1, 0.2f);
        for (float& v : w_host) v += 1.f;
        x = device_floats(gaussian((size_t)n, seed, 3.f));
        nw = device_floats(w_host);
        out_ref = cuda::DeviceBuffer((size_t)n * 4);
        out = cuda::DeviceBuffer((size_t)n * 4);
        for (int i = 0; i < 3; ++i) {
            y_ref.emplace_back((size_t)n_out[i] * 4);
            y.emplace_back((size_t)n_out[i] * 4);
            y.back().fill_bytes(0xff);
        }
        for (int i = 0; i < 3; ++i) {
            ys_ref[i] = y_ref[(size_t)i].as<float>();
            ys[i] = y[(size_t)i].as<float>();
        }
    }
    cuda::NormedInput input() { return {x.as<float>(), nw.as<float>(), out.as<float>(), n, eps}; }
    // rms_norm_quantize into workspace as act (then the reference products read it, x_quantized).
    void norm_into(cuda::Workspace& workspace, cuda::ActivationType act) {
        auto* qs = static_cast<int8_t*>(workspace.reserve((size_t)n + (size_t)(n / 32) * sizeof(float2)));
        cuda::rms_norm_quantize(x.as<float>(), nw.as<float>(), 1, n, eps, out_ref.as<float>(), act, qs,
                                reinterpret_cast<float2*>(qs + n), nullptr);
        workspace.quantized_as = (int)act;
    }
};

class CudaNormProduct : public ::testing::TestWithParam<Case> {
protected:
    void SetUp() override {
        if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    }
};

// Three parts (as Q/K/V), ~5000 rows in all at n = 512 (more than the 2 x 132 blocks x 16 warps the
// grid holds, so warps take several rows) and ~1100 at the longer rows.
TEST_P(CudaNormProduct, NormedProductEqualsNormThenProduct) {
    const Case c = GetParam();
    const int64_t scale_rows = c.n <= 512 ? 8 : 1;
    const int64_t n_out[3] = {600 * scale_rows + 3, 150 * scale_rows + 1, 130 * scale_rows};
    cuda::DeviceWeight w[3];
    for (int i = 0; i < 3; ++i) w[i] = weight(c.type, c.n, n_out[i], 10 + (uint32_t)i);
    const cuda::DeviceWeight* ws[3] = {&w[0], &w[1], &w[2]};
    NormedIo io(c.n, n_out, 7);

    // Unfolded: the quantizing norm, then the products on its conversion.
    cuda::Workspace workspace;
    io.norm_into(workspace, cuda::activation_type(c.type));
    cuda::matvec_parts(ws, io.ys_ref, 3, io.out_ref.as<float>(), 1, workspace, nullptr, true);

    ASSERT_TRUE(cuda::matvec_normed_supports(c.type, c.n));
    cuda::matvec_normed(ws, io.ys, 3, io.input());
    cuda::synchronize();

    const auto o_ref = host_floats(io.out_ref, (size_t)c.n), o = host_floats(io.out, (size_t)c.n);
    EXPECT_EQ(0, std::memcmp(o_ref.data(), o.data(), (size_t)c.n * 4)) << "the normed row";
    for (int i = 0; i < 3; ++i) {
        const auto a = host_floats(io.y_ref[(size_t)i], (size_t)n_out[i]);
        const auto b = host_floats(io.y[(size_t)i], (size_t)n_out[i]);
        int64_t first_diff = -1;
        for (int64_t r = 0; r < n_out[i] && first_diff < 0; ++r)
            if (std::memcmp(&a[(size_t)r], &b[(size_t)r], 4) != 0) first_diff = r;
        EXPECT_EQ(first_diff, -1) << "part " << i << " row " << first_diff << ": "
                                  << (first_diff >= 0 ? std::to_string(a[(size_t)first_diff]) + " vs " +
                                                            std::to_string(b[(size_t)first_diff])
                                                      : "");
        // Products of real values, not all zero.
        double sum_abs = 0;
        for (float v : b) sum_abs += std::fabs(v);
        EXPECT_GT(sum_abs, 0.0) << "part " << i;
    }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    return std::string(quant::traits(info.param.type).name) + "_" + std::to_string(info.param.n);
}

INSTANTIATE_TEST_SUITE_P(
    Types, CudaNormProduct,
    ::testing::Values(Case{TypeId::Q8_0, 4096}, Case{TypeId::Q8_0, 512}, Case{TypeId::Q8_0, 5120},
                      Case{TypeId::Q4_0, 2048}, Case{TypeId::Q4_1, 4096}, Case{TypeId::Q5_1, 512},
                      Case{TypeId::Q4_K, 4096}, Case{TypeId::Q4_K, 5120}, Case{TypeId::Q5_K, 2048},
                      Case{TypeId::Q6_K, 4096}, Case{TypeId::Q6_K, 512}, Case{TypeId::Q2_K, 1024},
                      Case{TypeId::Q3_K, 4096}, Case{TypeId::MXFP4, 4096}, Case{TypeId::IQ4_NL, 2048},
                      Case{TypeId::IQ4_XS, 4096}, Case{TypeId::IQ2_S, 2048}, Case{TypeId::IQ3_S, 4096},
                      Case{TypeId::TQ2_0, 1024}, Case{TypeId::IQ1_M, 2048}),
    case_name);

// y += W x (the O / down product adding into the residual) equals the product then the add kernel.
TEST(CudaNormProductAccumulate, AccumulateEqualsProductThenAdd) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    for (TypeId type : {TypeId::Q8_0, TypeId::Q4_K, TypeId::Q6_K, TypeId::BF16}) {
        const int64_t n_in = 2048, n_out = 1536;
        const cuda::DeviceWeight w = weight(type, n_in, n_out, 3);
        const cuda::DeviceWeight* ws[1] = {&w};
        cuda::DeviceBuffer x = device_floats(gaussian((size_t)n_in, 4, 1.f));
        const auto residual = gaussian((size_t)n_out, 5, 2.f);
        cuda::DeviceBuffer r_ref = device_floats(residual), r = device_floats(residual), y((size_t)n_out * 4);
        cuda::Workspace workspace;
        float* y_ptr[1] = {y.as<float>()};
        cuda::matvec_parts(ws, y_ptr, 1, x.as<float>(), 1, workspace, nullptr, false);
        cuda::add(r_ref.as<float>(), y.as<float>(), (size_t)n_out, nullptr);
        float* r_ptr[1] = {r.as<float>()};
        cuda::matvec_parts(ws, r_ptr, 1, x.as<float>(), 1, workspace, nullptr, false, true);
        cuda::synchronize();
        const auto a = host_floats(r_ref, (size_t)n_out), b = host_floats(r, (size_t)n_out);
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), (size_t)n_out * 4)) << quant::traits(type).name;
        EXPECT_NE(0, std::memcmp(a.data(), residual.data(), (size_t)n_out * 4)) << "the product added nothing";

        // Gated (the shared expert): y * sigmoid(g) added, as sigmoid_gate then add.
        const std::vector<float> g_host = {0.37f};
        cuda::DeviceBuffer g = device_floats(g_host);
        cuda::DeviceBuffer rg_ref = device_floats(residual), rg = device_floats(residual);
        cuda::matvec_parts(ws, y_ptr, 1, x.as<float>(), 1, workspace, nullptr, false);
        cuda::sigmoid_gate(y.as<float>(), g.as<float>(), 1, n_out, 1, nullptr);
        cuda::add(rg_ref.as<float>(), y.as<float>(), (size_t)n_out, nullptr);
        float* rg_ptr[1] = {rg.as<float>()};
        cuda::matvec_parts(ws, rg_ptr, 1, x.as<float>(), 1, workspace, nullptr, false, true, g.as<float>());
        cuda::synchronize();
        const auto ga = host_floats(rg_ref, (size_t)n_out), gb = host_floats(rg, (size_t)n_out);
        EXPECT_EQ(0, std::memcmp(ga.data(), gb.data(), (size_t)n_out * 4)) << "gated " << quant::traits(type).name;
        EXPECT_NE(0, std::memcmp(ga.data(), a.data(), (size_t)n_out * 4)) << "the gate changed nothing";
    }
}

// The staged one-token product (matvec_kernels.cuh: the O product's kernel for the K-quants) against
// the plain kernel: plain, accumulating and gated, rows of 4096 (Q4_K's whole row before the wait)
// and 2048, an output count that leaves the last block warps without a row (they still copy x and
// meet the barrier).
TEST(CudaNormProductAccumulate, StagedProductEqualsPlainKernel) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    for (TypeId type : {TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K}) {
        for (int64_t n_in : {int64_t{4096}, int64_t{2048}}) {
            SCOPED_TRACE(std::string(quant::traits(type).name) + ", rows of " + std::to_string(n_in));
            const int64_t n_out = 1030;
            const cuda::DeviceWeight w = weight(type, n_in, n_out, 31);
            const cuda::DeviceWeight* ws[1] = {&w};
            cuda::DeviceBuffer x = device_floats(gaussian((size_t)n_in, 32, 1.f));
            const auto residual = gaussian((size_t)n_out, 33, 2.f);
            const std::vector<float> g_host = {-0.61f};
            cuda::DeviceBuffer g = device_floats(g_host);
            cuda::Workspace workspace;
            for (int mode = 0; mode < 3; ++mode) {  // plain, accumulate, gated accumulate
                std::vector<float> out[2];
                for (int staged = 0; staged < 2; ++staged) {
                    cuda::set_staged_products(staged == 1);
                    cuda::DeviceBuffer y = device_floats(mode == 0 ? std::vector<float>((size_t)n_out, NAN) : residual);
                    float* y_ptr[1] = {y.as<float>()};
                    const uint64_t staged0 = cuda::matvec_staged_calls();
                    cuda::matvec_parts(ws, y_ptr, 1, x.as<float>(), 1, workspace, nullptr, false, mode > 0,
                                       mode == 2 ? g.as<float>() : nullptr);
                    cuda::synchronize();
                    EXPECT_EQ(cuda::matvec_staged_calls(), staged0 + (uint64_t)staged) << "mode " << mode;
                    out[staged] = host_floats(y, (size_t)n_out);
                }
                cuda::set_staged_products(true);
                EXPECT_EQ(0, std::memcmp(out[0].data(), out[1].data(), (size_t)n_out * 4)) << "mode " << mode;
                double sum_abs = 0;
                for (size_t i = 0; i < out[1].size(); ++i) sum_abs += std::fabs(out[1][i] - (mode ? residual[i] : 0.f));
                EXPECT_GT(sum_abs, 0.0) << "mode " << mode << ": the product added nothing";
            }
        }
    }
}

// Q/K of one K-quant and V in Q6_K in one normed launch (matvec_normed_mixes): the bits of the norm
// then one product launch a type. 5800 rows, more than the grid's 4224 warps, so warps take a row of
// the first type (loaded before the wait) and then one of the second; rows of one and two passes.
TEST(CudaNormProductMixed, TwoTypesInOneLaunchEqualALaunchEach) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    for (TypeId a : {TypeId::Q4_K, TypeId::Q5_K}) {
        for (int64_t n : {int64_t{4096}, int64_t{5120}}) {
            SCOPED_TRACE(std::string(quant::traits(a).name) + " + q6_K, rows of " + std::to_string(n));
            ASSERT_TRUE(cuda::matvec_normed_mixes(a, TypeId::Q6_K));
            const int64_t n_out[3] = {3000, 800, 2000};
            const cuda::DeviceWeight w[3] = {weight(a, n, n_out[0], 21), weight(a, n, n_out[1], 22),
                                             weight(TypeId::Q6_K, n, n_out[2], 23)};
            const cuda::DeviceWeight* ws[3] = {&w[0], &w[1], &w[2]};
            NormedIo io(n, n_out, 24);
            cuda::Workspace workspace;
            ASSERT_EQ(cuda::activation_type(a), cuda::activation_type(TypeId::Q6_K));
            io.norm_into(workspace, cuda::activation_type(a));
            const float* normed = io.out_ref.as<float>();
            cuda::matvec_parts(ws, io.ys_ref, 2, normed, 1, workspace, nullptr, true);
            cuda::matvec_parts(ws + 2, io.ys_ref + 2, 1, normed, 1, workspace, nullptr, true);
            cuda::matvec_normed(ws, io.ys, 3, io.input());
            cuda::synchronize();
            for (int i = 0; i < 3; ++i) {
                const auto r = host_floats(io.y_ref[(size_t)i], (size_t)n_out[i]);
                const auto g = host_floats(io.y[(size_t)i], (size_t)n_out[i]);
                EXPECT_EQ(0, std::memcmp(r.data(), g.data(), (size_t)n_out[i] * 4)) << "part " << i;
                double sum_abs = 0;
                for (float v : g) sum_abs += std::fabs(v);
                EXPECT_GT(sum_abs, 0.0) << "part " << i;
            }
            // The second type before the first: refused, not computed with the wrong rows' layout.
            const cuda::DeviceWeight* swapped[2] = {&w[2], &w[0]};
            EXPECT_ANY_THROW(cuda::matvec_normed(swapped, io.ys, 2, io.input()));
        }
    }
}

// A whole model: the tiny Llama 3.1 fixture with head_dim 64 quantized here (Q8_0, and Q4_K_M, whose
// 64-wide rows fall back to the 32-element types), a prompt then decode steps (captured and replayed
// as graphs), folding off then on: the same logits bit for bit, folding must have happened, and
// with it no product of a decode step converts its own input.
// step_conversions (if given): the products that converted their own x during the one-token steps.
std::vector<std::vector<float>> decode_logits(const gguf::File& file, bool folding, int n_steps,
                                              uint64_t* step_conversions = nullptr) {
    cuda::set_norm_folding(folding);
    ThreadPool pool(0);
    auto model = Model::load(file, pool, Backend::Cuda);
    const int64_t n_vocab = model->info().n_vocab;
    const std::vector<int32_t> prompt = {1, 5, 9, 14, 3, 27, 8};
    std::vector<std::vector<float>> out;
    std::vector<float> logits((size_t)n_vocab);
    model->start_sequence((int64_t)prompt.size() + n_steps);
    model->decode(std::span<const int32_t>(prompt.data(), prompt.size()), logits.data());
    out.push_back(logits);
    const uint64_t conversions0 = cuda::matvec_conversion_calls();
    for (int step = 0; step < n_steps; ++step) {
        const int32_t token = (int32_t)((step * 7 + 3) % n_vocab);
        model->decode(std::span<const int32_t>(&token, 1), logits.data());
        out.push_back(logits);
    }
    if (step_conversions) *step_conversions = cuda::matvec_conversion_calls() - conversions0;
    cuda::set_norm_folding(true);
    return out;
}

// Every step's logits finite, and the same bit for bit with and without a fold.
void expect_identical_logits(const std::vector<std::vector<float>>& off, const std::vector<std::vector<float>>& on) {
    ASSERT_EQ(off.size(), on.size());
    for (size_t i = 0; i < on.size(); ++i) {
        for (float v : on[i]) ASSERT_TRUE(std::isfinite(v)) << "step " << i;
        EXPECT_EQ(0, std::memcmp(off[i].data(), on[i].data(), on[i].size() * 4)) << "step " << i;
    }
}

TEST(CudaNormProductModel, DecodeWithAndWithoutFoldingIsBitIdentical) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    ThreadPool pool(0);
    for (const char* arch : {"llama31-hd64"}) {  // (the tiny qwen3's head_dim 32 has no CUDA attention)
        for (const char* recipe_name : {"Q8_0", "Q4_K_M"}) {
            SCOPED_TRACE(std::string(arch) + " " + recipe_name);
            const std::string src = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/tiny-" + arch + ".gguf";
            const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                               ("shootout-fold-" + std::string(arch) + "-" + recipe_name + "-" +
                                                std::to_string(::getpid()) + ".gguf");
            {
                auto file = gguf::File::open(src);
                quantize::QuantizeOptions options;
                options.allow_requantize = true;
                quantize::quantize_model(*file, quantize::make_plan(*file, quantize::recipe_named(recipe_name), false),
                                         options, path.string());
            }
            const uint64_t calls0 = cuda::matvec_normed_calls(), acc0 = cuda::matvec_accumulate_calls();
            std::vector<std::vector<float>> off, on;
            {
                auto file = gguf::File::open(path.string());
                off = decode_logits(*file, false, 6);
                EXPECT_EQ(cuda::matvec_normed_calls(), calls0) << "folded with folding off";
                EXPECT_EQ(cuda::matvec_accumulate_calls(), acc0) << "folded with folding off";
                on = decode_logits(*file, true, 6);
                EXPECT_GT(cuda::matvec_normed_calls(), calls0) << "no norm folded";
                EXPECT_GT(cuda::matvec_accumulate_calls(), acc0) << "no add folded";
            }
            std::filesystem::remove(path);
            expect_identical_logits(off, on);
            EXPECT_NE(0, std::memcmp(on[1].data(), on.back().data(), on[1].size() * 4)) << "steps alike";
        }
    }
}

// Whole decode steps at real widths: the tiny fixtures' heads are too narrow for the attention to
// convert its output ahead in Q8_K (a head group of 128 values, not a whole 256 block), so their O
// products convert their own input. This writes a synthetic model of Qwen3-0.6B's widths (n_embd
// 1024, n_ff 3072) with 2 layers and a 4096-token vocabulary, in Q8_0, Q4_K_M (its layer 1 has V
// and down in Q6_K beside Q/K in Q4_K: V joins their normed launch, matvec_normed_mixes) and Q3_K_M
// (V in Q5_K beside Q/K in Q3_K, which do not mix: V takes a normed launch of its own,
// PendingNorm::done): folding off and on, the same logits bit for bit, and with folding on no
// decode-step product converts its own input.
TEST(CudaNormProductModel, RealWidthsDecodeConvertsNoProductInput) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    synth::Shape shape = synth::find_shape("qwen3", "0.6B");
    shape.n_layer = 2;
    shape.n_vocab = 4096;
    for (const char* recipe_name : {"Q8_0", "Q4_K_M", "Q3_K_M"}) {
        SCOPED_TRACE(recipe_name);
        const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                           ("shootout-real-widths-" + std::string(recipe_name) + "-" +
                                            std::to_string(::getpid()) + ".gguf");
        synth::SynthOptions options;
        options.recipe = quantize::recipe_named(recipe_name);
        options.fill = synth::Fill::Quantize;  // real blocks: finite logits
        synth::synthesize(shape, options, path.string());
        std::vector<std::vector<float>> off, on;
        {
            auto file = gguf::File::open(path.string());
            uint64_t folded = 0;
            off = decode_logits(*file, false, 4);
            on = decode_logits(*file, true, 4, &folded);
            // (With folding off the norm kernel converts ahead for Q/K and V alike, both Q8_K.)
            EXPECT_EQ(folded, 0u) << "a decode step's product converted its own input";
        }
        std::filesystem::remove(path);
        expect_identical_logits(off, on);
        EXPECT_NE(0, std::memcmp(on[1].data(), on.back().data(), on[1].size() * 4)) << "steps alike";
    }
}

// The tiny Qwen3-Next (tests/data/model, converted in memory as F16 and Q8_0): its attention layers'
// norms fold into their products, and the shared expert's gated add into its down product
// (add_sigmoid_gated); folding off and on give the same logits.
TEST(CudaNormProductModel, Qwen3NextSharedExpertFoldIsBitIdentical) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const std::string dir = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/tiny-qwen3next-hf";
    for (const convert::OutType outtype : {convert::OutType::F16, convert::OutType::Q8_0}) {
        SCOPED_TRACE(outtype == convert::OutType::F16 ? "F16" : "Q8_0");
        const auto file = convert::open_hf_model(dir, outtype);
        const uint64_t gated0 = cuda::matvec_gated_calls();
        const auto off = decode_logits(*file, false, 6);
        EXPECT_EQ(cuda::matvec_gated_calls(), gated0) << "folded with folding off";
        const auto on = decode_logits(*file, true, 6);
        EXPECT_GT(cuda::matvec_gated_calls(), gated0) << "the shared expert's add was not folded";
        expect_identical_logits(off, on);
        EXPECT_NE(0, std::memcmp(on[1].data(), on.back().data(), on[1].size() * 4)) << "steps alike";
    }
}

}  // namespace
}  // namespace shootout
