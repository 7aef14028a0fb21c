// The Gated DeltaNet's output norm in one kernel (gated_rms_norm_quantize, gated_norm.cu) against
// the two launches it replaces, rms_norm then swiglu with the gate: out within a few F32 ulps (its
// sum of squares is added in another order), in place (out == x) as the model calls it, and the
// conversion exactly quantize_activations() of its own out, for each activation type.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/ops_kernels.h"
#include "op_compare.h"

namespace shootout {
namespace {

using cuda::ActivationType;

struct GatedNormCase {
    int64_t n_rows, n;
    ActivationType act;
};

std::string case_name(const ::testing::TestParamInfo<GatedNormCase>& info) {
    const char* acts[] = {"F32", "F16", "BF16", "Q8_0", "Q8_1", "Q8_K"};
    return std::to_string(info.param.n_rows) + "x" + std::to_string(info.param.n) + "_" + acts[(int)info.param.act];
}

template <class T>
std::vector<T> download(const void* device, size_t n) {
    std::vector<T> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
}

cuda::DeviceBuffer upload(const std::vector<float>& h) {
    cuda::DeviceBuffer b(h.size() * sizeof(float));
    b.upload(h.data(), b.bytes());
    return b;
}

class CudaGatedNorm : public ::testing::TestWithParam<GatedNormCase> {};

TEST_P(CudaGatedNorm, EqualsNormThenGate) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const GatedNormCase c = GetParam();
    ASSERT_TRUE(cuda::gated_rms_norm_fits(c.n_rows, c.n));
    const size_t total = (size_t)(c.n_rows * c.n);
    const auto x_host = test::gaussian(total, 31, 2.f), z_host = test::gaussian(total, 32, 3.f);
    const auto w_host = test::gaussian((size_t)c.n, 33, 1.f);
    const cuda::DeviceBuffer z = upload(z_host), w = upload(w_host);

    // Two launches: y = rms_norm(x) * w, then y = silu(z) * y.
    const cuda::DeviceBuffer x1 = upload(x_host);
    cuda::DeviceBuffer y1(total * sizeof(float));
    cuda::rms_norm(x1.as<float>(), w.as<float>(), c.n_rows, c.n, 1e-6f, y1.as<float>(), nullptr);
    cuda::swiglu(z.as<float>(), y1.as<float>(), total, y1.as<float>(), nullptr);

    // One, in place.
    cuda::DeviceBuffer x2 = upload(x_host), q(total), d(total / 32 * sizeof(float2));
    cuda::gated_rms_norm_quantize(x2.as<float>(), w.as<float>(), z.as<float>(), c.n_rows, c.n, 1e-6f, x2.as<float>(),
                                  c.act, q.as<int8_t>(), d.as<float2>(), nullptr);
    cuda::synchronize();
    const auto ref = download<float>(y1.as<float>(), total), got = download<float>(x2.as<float>(), total);
    double max_rel = 0;
    for (size_t i = 0; i < total; ++i)
        max_rel = std::max(max_rel, std::fabs((double)got[i] - ref[i]) / (std::fabs((double)ref[i]) + 1e-6));
    EXPECT_LT(max_rel, 2e-6);
    EXPECT_NE(got, x_host);  // it wrote in place

    if (c.act == ActivationType::F32) return;
    cuda::DeviceBuffer q_ref(total), d_ref(total / 32 * sizeof(float2));
    cuda::quantize_activations(c.act, x2.as<float>(), 1, (int64_t)total, q_ref.as<int8_t>(), d_ref.as<float2>(), nullptr);
    cuda::synchronize();
    EXPECT_EQ(download<int8_t>(q.as<int8_t>(), total), download<int8_t>(q_ref.as<int8_t>(), total));
    const auto ds = download<float2>(d.as<float2>(), total / 32), ds_ref = download<float2>(d_ref.as<float2>(), total / 32);
    int bad = 0;
    for (size_t i = 0; i < ds.size(); ++i)
        if (ds[i].x != ds_ref[i].x || ds[i].y != ds_ref[i].y) ++bad;
    EXPECT_EQ(bad, 0) << "of " << ds.size() << " scale pairs differ";
}

// Qwen3-Next-80B-A3B's 32 value heads of 128 for one and two tokens, and the other row lengths the
// kernel takes (8 .. 256: 1 .. 32 lanes a row).
INSTANTIATE_TEST_SUITE_P(Shapes, CudaGatedNorm,
                         ::testing::Values(GatedNormCase{32, 128, ActivationType::Q8_K}, GatedNormCase{64, 128, ActivationType::Q8_K},
                                           GatedNormCase{32, 128, ActivationType::Q8_0}, GatedNormCase{32, 128, ActivationType::Q8_1},
                                           GatedNormCase{32, 128, ActivationType::F32}, GatedNormCase{16, 64, ActivationType::Q8_1},
                                           GatedNormCase{4, 256, ActivationType::Q8_K}, GatedNormCase{12, 256, ActivationType::Q8_0},
                                           GatedNormCase{32, 8, ActivationType::Q8_0}, GatedNormCase{64, 32, ActivationType::F32}),
                         case_name);

TEST(CudaGatedNormShapes, RefusesRowsItCannotHold) {
    EXPECT_FALSE(cuda::gated_rms_norm_fits(32, 96));   // not a power of two
    EXPECT_FALSE(cuda::gated_rms_norm_fits(2, 512));   // longer than a warp's 256
    EXPECT_FALSE(cuda::gated_rms_norm_fits(3, 128));   // not whole 256 blocks
    EXPECT_FALSE(cuda::gated_rms_norm_fits(32, 4));    // shorter than a lane's 8
    EXPECT_TRUE(cuda::gated_rms_norm_fits(2, 128));
}

}  // namespace
}  // namespace shootout
