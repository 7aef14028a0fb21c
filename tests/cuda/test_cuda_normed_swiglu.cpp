// The gate/up pair, the SwiGLU and its conversion in one launch (matvec_normed_swiglu.h) against the
// two launches it replaces, matvec_normed then swiglu_quantize: gate, up, h and the converted h
// (int8 values and scales) bit for bit, for each conversion (Q8_K, Q8_0, Q8_1), rows of one and two
// passes of the normed block, and more outputs than the persistent grid has warps (warps take two
// pairs, so a group's last count can come from a warp's second pair). Run twice: the counters must
// be back at zero and the second launch give the same bits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/matvec_normed_swiglu.h"
#include "quant/type_table.h"
#include "device_util.h"

namespace shootout {
namespace {

using quant::TypeId;
using test::device_floats;
using test::gaussian;
using test::host_floats;

struct Case {
    TypeId type;
    int64_t n_in;
    cuda::ActivationType act;
};

const char* act_name(cuda::ActivationType a) {
    return a == cuda::ActivationType::Q8_K ? "q8_K" : a == cuda::ActivationType::Q8_0 ? "q8_0" : "q8_1";
}

std::vector<uint8_t> host_bytes(const cuda::DeviceBuffer& b, size_t n) {
    std::vector<uint8_t> v(n);
    b.download(v.data(), n);
    return v;
}

TEST(CudaNormedSwiglu, OneLaunchEqualsNormedProductThenSwiglu) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    using A = cuda::ActivationType;
    const Case cases[] = {{TypeId::Q4_K, 4096, A::Q8_K}, {TypeId::Q4_K, 5120, A::Q8_0}, {TypeId::Q5_K, 4096, A::Q8_K},
                          {TypeId::Q6_K, 2048, A::Q8_1}, {TypeId::Q8_0, 4096, A::Q8_0}, {TypeId::Q8_0, 5120, A::Q8_K},
                          {TypeId::Q4_0, 2048, A::Q8_1}, {TypeId::MXFP4, 4096, A::Q8_0}};
    const int64_t n_ff = 5120;  // 20 groups; more than 2 x 132 blocks x 16 warps
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(quant::traits(c.type).name) + ", rows of " + std::to_string(c.n_in) + ", h as " +
                     act_name(c.act));
        ASSERT_TRUE(cuda::matvec_normed_swiglu_supports(c.type, c.n_in, n_ff, c.act));
        const cuda::DeviceWeight gw = test::random_device_weight(c.type, c.n_in, n_ff, 41);
        const cuda::DeviceWeight uw = test::random_device_weight(c.type, c.n_in, n_ff, 42);
        auto nw_host = gaussian((size_t)c.n_in, 43, 0.2f);
        for (float& v : nw_host) v += 1.f;
        cuda::DeviceBuffer x = device_floats(gaussian((size_t)c.n_in, 44, 3.f)), nw = device_floats(nw_host);
        const size_t ds_bytes = (size_t)(n_ff / 32) * sizeof(float2);

        // Two launches: the normed pair, then SwiGLU with its conversion.
        cuda::DeviceBuffer normed_ref((size_t)c.n_in * 4), g_ref((size_t)n_ff * 4), u_ref((size_t)n_ff * 4),
            h_ref((size_t)n_ff * 4), qs_ref((size_t)n_ff), ds_ref(ds_bytes);
        const cuda::DeviceWeight* ws[2] = {&gw, &uw};
        float* ys_ref[2] = {g_ref.as<float>(), u_ref.as<float>()};
        const float eps = 1e-6f;
        cuda::matvec_normed(ws, ys_ref, 2, {x.as<float>(), nw.as<float>(), normed_ref.as<float>(), c.n_in, eps});
        cuda::swiglu_quantize(g_ref.as<float>(), u_ref.as<float>(), 1, n_ff, h_ref.as<float>(), c.act,
                              qs_ref.as<int8_t>(), ds_ref.as<float2>(), nullptr);
        cuda::synchronize();
        const auto g0 = host_floats(g_ref, (size_t)n_ff), u0 = host_floats(u_ref, (size_t)n_ff),
                   h0 = host_floats(h_ref, (size_t)n_ff);
        const auto q0 = host_bytes(qs_ref, (size_t)n_ff), d0 = host_bytes(ds_ref, ds_bytes);
        double sum_abs = 0;
        for (float v : h0) sum_abs += std::fabs(v);
        ASSERT_GT(sum_abs, 0.0) << "the reference's h is all zero";

        cuda::DeviceBuffer counters((size_t)(n_ff / cuda::kSwigluGroup) * sizeof(unsigned));
        counters.fill_bytes(0);
        for (int run = 0; run < 2; ++run) {
            SCOPED_TRACE("launch " + std::to_string(run + 1));
            cuda::DeviceBuffer normed((size_t)c.n_in * 4), g((size_t)n_ff * 4), u((size_t)n_ff * 4),
                h((size_t)n_ff * 4), qs((size_t)n_ff), ds(ds_bytes);
            for (cuda::DeviceBuffer* b : {&normed, &g, &u, &h, &qs, &ds}) b->fill_bytes(0xff);  // NaN, -1
            const uint64_t calls0 = cuda::matvec_normed_swiglu_calls();
            cuda::matvec_normed_swiglu(gw, uw, {x.as<float>(), nw.as<float>(), normed.as<float>(), c.n_in, eps},
                                       {g.as<float>(), u.as<float>(), h.as<float>(), c.act, qs.as<int8_t>(),
                                        ds.as<float2>(), counters.as<unsigned>()});
            cuda::synchronize();
            EXPECT_EQ(cuda::matvec_normed_swiglu_calls(), calls0 + 1);
            EXPECT_EQ(0, std::memcmp(host_floats(normed_ref, (size_t)c.n_in).data(),
                                     host_floats(normed, (size_t)c.n_in).data(), (size_t)c.n_in * 4))
                << "the normed row";
            EXPECT_EQ(0, std::memcmp(g0.data(), host_floats(g, (size_t)n_ff).data(), (size_t)n_ff * 4)) << "gate";
            EXPECT_EQ(0, std::memcmp(u0.data(), host_floats(u, (size_t)n_ff).data(), (size_t)n_ff * 4)) << "up";
            const auto h1 = host_floats(h, (size_t)n_ff);
            int64_t first_diff = -1;
            for (int64_t i = 0; i < n_ff && first_diff < 0; ++i)
                if (std::memcmp(&h0[(size_t)i], &h1[(size_t)i], 4) != 0) first_diff = i;
            EXPECT_EQ(first_diff, -1) << "h differs first at " << first_diff;
            EXPECT_EQ(q0, host_bytes(qs, (size_t)n_ff)) << "h's int8 values";
            EXPECT_EQ(d0, host_bytes(ds, ds_bytes)) << "h's scales";
            std::vector<unsigned> left((size_t)(n_ff / cuda::kSwigluGroup));
            counters.download(left.data(), left.size() * sizeof(unsigned));
            for (size_t i = 0; i < left.size(); ++i) ASSERT_EQ(left[i], 0u) << "counter " << i << " not reset";
        }
    }
}

// What the fused launch does not take falls back (the caller keeps two launches) or is refused.
TEST(CudaNormedSwiglu, UnsupportedShapesAreRefused) {
    using A = cuda::ActivationType;
    EXPECT_FALSE(cuda::matvec_normed_swiglu_supports(TypeId::Q3_K, 4096, 12288, A::Q8_K)) << "not a listed type";
    EXPECT_FALSE(cuda::matvec_normed_swiglu_supports(TypeId::Q4_K, 4096, 12288 + 32, A::Q8_0)) << "a partial group";
    EXPECT_FALSE(cuda::matvec_normed_swiglu_supports(TypeId::Q8_0, 4096, 12288, A::F32)) << "no conversion";
    EXPECT_FALSE(cuda::matvec_normed_swiglu_supports(TypeId::Q8_0, cuda::kMaxNormedRow + 256, 12288, A::Q8_0))
        << "rows past the normed block";
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const cuda::DeviceWeight gw = test::random_device_weight(TypeId::Q4_K, 1024, 512, 1);
    const cuda::DeviceWeight uw = test::random_device_weight(TypeId::Q6_K, 1024, 512, 2);
    cuda::DeviceBuffer x((size_t)1024 * 4), out((size_t)1024 * 4), y((size_t)512 * 4 * 3), qs(512), ds(512),
        counters(64);
    float* yp = y.as<float>();
    EXPECT_ANY_THROW(cuda::matvec_normed_swiglu(gw, uw, {x.as<float>(), x.as<float>(), out.as<float>(), 1024, 1e-6f},
                                                {yp, yp + 512, yp + 1024, A::Q8_K, qs.as<int8_t>(), ds.as<float2>(),
                                                 counters.as<unsigned>()}))
        << "gate and up of two types";
}

}  // namespace
}  // namespace shootout
