// The staged one-token products (matvec_staged.cuh: weight rows brought into shared memory by bulk
// copies) against the register kernels they replace, which test_cuda_kernels holds against the CPU:
// the same bits for every integer type family, for the plain product (three parts with short last
// row groups, rows in one chunk and rows cut into several), the adding and the gated store, and the
// normed product (one and two passes of the norm); and the staged kernels must really have run.
// (IQ2_XXS, IQ2_XS and IQ1_S need an importance matrix to quantize: their siblings stand in.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_kernels.h"
#include "quant/type_table.h"

namespace shootout {
namespace {

using quant::TypeId;

std::vector<float> gaussian(size_t n, uint32_t seed, float scale = 1.f, float offset = 0.f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = offset + dist(rng);
    return v;
}

cuda::DeviceWeight weight(TypeId type, int64_t n_in, int64_t n_out, uint32_t seed) {
    const auto src = gaussian((size_t)(n_in * n_out), seed, 0.05f);
    std::vector<uint8_t> bytes(quant::row_size_bytes(type, n_in) * (size_t)n_out);
    quant::traits(type).quantize_rows(src.data(), bytes.data(), n_out, n_in, nullptr);
    return cuda::upload_weight("staged test weight", type, n_in, n_out, bytes.data());
}

cuda::DeviceBuffer device_floats(const std::vector<float>& v) {
    cuda::DeviceBuffer b(v.size() * 4);
    b.upload(v.data(), v.size() * 4);
    return b;
}

std::vector<float> host_floats(const cuda::DeviceBuffer& b, size_t n) {
    std::vector<float> v(n);
    b.download(v.data(), n * 4);
    return v;
}

// The first row where a and b differ in bits, or -1.
int64_t first_difference(const std::vector<float>& a, const std::vector<float>& b) {
    for (size_t r = 0; r < a.size(); ++r)
        if (std::memcmp(&a[r], &b[r], 4) != 0) return (int64_t)r;
    return -1;
}

struct Case {
    TypeId type;
    int64_t n_in;
    bool stages = true;  // false: rows that are not whole groups of the device layout, left to the register kernel
};

class CudaStaged : public ::testing::TestWithParam<Case> {
protected:
    void SetUp() override {
        if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
        if (cuda::device_info(0).compute_major < 9) GTEST_SKIP() << "bulk copies need sm_90";
    }
    void TearDown() override { cuda::set_staged_products(true); }
};

// Three parts (as Q/K/V) whose row counts are not multiples of 4 (the last row group of a part is
// short), more rows than the grid's 132 x 16 warps hold at once: staged off, then on.
TEST_P(CudaStaged, PlainProductEqualsRegisterKernel) {
    const Case c = GetParam();
    const int64_t n_out[3] = {2400 + 3, 600 + 1, 520};
    cuda::DeviceWeight w[3];
    for (int i = 0; i < 3; ++i) w[i] = weight(c.type, c.n_in, n_out[i], 20 + (uint32_t)i);
    const cuda::DeviceWeight* ws[3] = {&w[0], &w[1], &w[2]};
    cuda::DeviceBuffer x = device_floats(gaussian((size_t)c.n_in, 9, 2.f));
    std::vector<float> results[2][3];
    for (int staged = 0; staged < 2; ++staged) {
        cuda::set_staged_products(staged == 1);
        std::vector<cuda::DeviceBuffer> y;
        float* ys[3];
        for (int i = 0; i < 3; ++i) {
            y.emplace_back((size_t)n_out[i] * 4);
            y.back().fill_bytes(0xff);  // NaN: a row never written shows
            ys[i] = y.back().as<float>();
        }
        cuda::Workspace workspace;
        const uint64_t calls0 = cuda::matvec_staged_calls();
        cuda::matvec_parts(ws, ys, 3, x.as<float>(), 1, workspace);
        cuda::synchronize();
        EXPECT_EQ(cuda::matvec_staged_calls() - calls0, (uint64_t)(staged && c.stages)) << "staged " << staged;
        for (int i = 0; i < 3; ++i) results[staged][i] = host_floats(y[(size_t)i], (size_t)n_out[i]);
    }
    for (int i = 0; i < 3; ++i) {
        const int64_t d = first_difference(results[0][i], results[1][i]);
        EXPECT_EQ(d, -1) << "part " << i << " row " << d << ": "
                         << (d >= 0 ? std::to_string(results[0][i][(size_t)d]) + " vs " +
                                          std::to_string(results[1][i][(size_t)d])
                                    : "");
        double sum_abs = 0;
        for (float v : results[1][i]) {
            ASSERT_TRUE(std::isfinite(v)) << "part " << i;
            sum_abs += std::fabs(v);
        }
        EXPECT_GT(sum_abs, 0.0) << "part " << i;
    }
}

// y += W x and y += (W x) sigmoid(g): the same bits staged and not.
TEST_P(CudaStaged, AddingAndGatedStoresEqualRegisterKernel) {
    const Case c = GetParam();
    const int64_t n_out = 1030;
    const cuda::DeviceWeight w = weight(c.type, c.n_in, n_out, 31);
    const cuda::DeviceWeight* ws[1] = {&w};
    cuda::DeviceBuffer x = device_floats(gaussian((size_t)c.n_in, 32));
    cuda::DeviceBuffer g = device_floats({-0.61f});
    const auto residual = gaussian((size_t)n_out, 33, 2.f);
    for (const bool gated : {false, true}) {
        std::vector<float> r[2];
        for (int staged = 0; staged < 2; ++staged) {
            cuda::set_staged_products(staged == 1);
            cuda::DeviceBuffer y = device_floats(residual);
            float* ys[1] = {y.as<float>()};
            cuda::Workspace workspace;
            cuda::matvec_parts(ws, ys, 1, x.as<float>(), 1, workspace, nullptr, false, true,
                               gated ? g.as<float>() : nullptr);
            cuda::synchronize();
            r[staged] = host_floats(y, (size_t)n_out);
        }
        EXPECT_EQ(first_difference(r[0], r[1]), -1) << (gated ? "gated" : "adding");
        EXPECT_NE(0, std::memcmp(r[1].data(), residual.data(), (size_t)n_out * 4)) << "nothing added";
    }
}

// The normed product (rows up to 8192: the norm's one or two passes), staged off then on.
TEST_P(CudaStaged, NormedProductEqualsRegisterKernel) {
    const Case c = GetParam();
    if (!cuda::matvec_normed_supports(c.type, c.n_in)) GTEST_SKIP() << "no normed product at this width";
    const int64_t n_out[2] = {3000 + 2, 700};
    cuda::DeviceWeight w[2];
    for (int i = 0; i < 2; ++i) w[i] = weight(c.type, c.n_in, n_out[i], 40 + (uint32_t)i);
    const cuda::DeviceWeight* ws[2] = {&w[0], &w[1]};
    cuda::DeviceBuffer x = device_floats(gaussian((size_t)c.n_in, 41, 3.f));
    cuda::DeviceBuffer nw = device_floats(gaussian((size_t)c.n_in, 42, 0.2f, 1.f));
    std::vector<float> results[2][2], normed[2];
    for (int staged = 0; staged < 2; ++staged) {
        cuda::set_staged_products(staged == 1);
        cuda::DeviceBuffer out((size_t)c.n_in * 4);
        std::vector<cuda::DeviceBuffer> y;
        float* ys[2];
        for (int i = 0; i < 2; ++i) {
            y.emplace_back((size_t)n_out[i] * 4);
            y.back().fill_bytes(0xff);
            ys[i] = y.back().as<float>();
        }
        const uint64_t calls0 = cuda::matvec_staged_calls();
        cuda::matvec_normed(ws, ys, 2, cuda::NormedInput{x.as<float>(), nw.as<float>(), out.as<float>(), c.n_in, 1e-6f});
        cuda::synchronize();
        EXPECT_EQ(cuda::matvec_staged_calls() - calls0, (uint64_t)(staged && c.stages)) << "staged " << staged;
        for (int i = 0; i < 2; ++i) results[staged][i] = host_floats(y[(size_t)i], (size_t)n_out[i]);
        normed[staged] = host_floats(out, (size_t)c.n_in);
    }
    EXPECT_EQ(first_difference(normed[0], normed[1]), -1) << "the normed row";
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(first_difference(results[0][i], results[1][i]), -1) << "part " << i;
        for (float v : results[1][i]) ASSERT_TRUE(std::isfinite(v)) << "part " << i;
    }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    return std::string(quant::traits(info.param.type).name) + "_" + std::to_string(info.param.n_in) +
           (info.param.stages ? "" : "_unstaged");
}

// 12288-wide rows are cut into several chunks for every type; 4096 into one or two; 5120 takes the
// norm's second pass. MXFP4 at 2880 (gpt-oss: 90 blocks, groups of 16) and TQ2_0 at 1024 (4 blocks,
// groups of 8) end in a partial group and stay with the register kernel.
INSTANTIATE_TEST_SUITE_P(
    Types, CudaStaged,
    ::testing::Values(Case{TypeId::Q8_0, 4096}, Case{TypeId::Q8_0, 12288}, Case{TypeId::Q8_0, 5120},
                      Case{TypeId::Q4_0, 2048}, Case{TypeId::Q4_1, 4096}, Case{TypeId::Q5_0, 4096},
                      Case{TypeId::Q5_1, 512}, Case{TypeId::Q4_K, 4096}, Case{TypeId::Q4_K, 12288},
                      Case{TypeId::Q4_K, 5120}, Case{TypeId::Q5_K, 4096}, Case{TypeId::Q6_K, 4096},
                      Case{TypeId::Q6_K, 12288}, Case{TypeId::Q2_K, 4096}, Case{TypeId::Q3_K, 4096},
                      Case{TypeId::MXFP4, 4096}, Case{TypeId::MXFP4, 2880, false}, Case{TypeId::IQ4_NL, 2048},
                      Case{TypeId::IQ4_XS, 4096}, Case{TypeId::IQ2_S, 2048}, Case{TypeId::IQ3_XXS, 4096},
                      Case{TypeId::IQ3_S, 4096}, Case{TypeId::TQ2_0, 2048}, Case{TypeId::TQ2_0, 1024, false},
                      Case{TypeId::TQ1_0, 4096}, Case{TypeId::IQ1_M, 2048}),
    case_name);

}  // namespace
}  // namespace shootout
