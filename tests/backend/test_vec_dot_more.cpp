// The CPU dot products of the types added after the kernel table's first wave (vec_dot_more.h),
// against dequantize-then-dot in double: a row with outliers and an all-zero block is quantized
// (with importance weights where the type requires them), activations are converted to the
// vec_dot_type, and each kernel (the table's, the scalar one, the AVX2 one) must equal
// sum(dequant(w) * dequant(x)) up to the float rounding of the per-block accumulation.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/type_kernels.h"
#include "vec_dot_case.h"
#include "backend/cpu/vec_dot_more.h"
#include "quant/type_table.h"

namespace shootout::cpu {
namespace {

using quant::TypeId;
using VecDot = void (*)(int64_t, float*, const void*, const void*);

// zero_block: an all-zero stretch at the start (min(n / 2, 256) elements).
std::vector<float> random_row(int64_t n, uint32_t seed, bool zero_block) {
    return test::random_row(n, seed, zero_block ? std::min<int64_t>(n / 2, 256) : 0);
}
using test::Case;

Case make_case(TypeId type, int64_t n, uint32_t seed) {
    const TypeKernels& k = kernels(type);
    const quant::TypeTraits& wt = quant::traits(type);
    const quant::TypeTraits& xt = quant::traits(k.vec_dot_type);
    Case c;
    std::vector<float> w = random_row(n, seed, true);
    const std::vector<float> x = random_row(n, seed + 1, false);
    std::vector<float> importance((size_t)n);
    std::mt19937 rng(seed + 2);
    if (type == TypeId::TQ1_0 || type == TypeId::TQ2_0)  // ternary data, or nearly every level is 0
        for (int64_t i = 256; i < n; ++i) w[(size_t)i] = 0.05f * (float)((int)(rng() % 3) - 1);
    for (auto& v : importance) v = 0.1f + (float)(rng() % 1000) / 250.f;
    c.w.resize(quant::row_size_bytes(type, n));
    c.x.resize(quant::row_size_bytes(k.vec_dot_type, n));
    wt.quantize_rows(w.data(), c.w.data(), 1, n, wt.requires_imatrix ? importance.data() : nullptr);
    k.from_float(x.data(), c.x.data(), n);
    std::vector<float> wd((size_t)n), xd((size_t)n);
    wt.to_float(c.w.data(), wd.data(), n);
    xt.to_float(c.x.data(), xd.data(), n);
    test::set_reference(c, wd, xd, n);
    return c;
}

struct Kernels {
    TypeId type;
    VecDot scalar, simd;  // simd null without AVX2
};

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
#define PAIR(t, name) Kernels{TypeId::t, dot::name##_scalar, dot::name##_avx2}
#else
#define PAIR(t, name) Kernels{TypeId::t, dot::name##_scalar, nullptr}
#endif

class VecDotMore : public ::testing::TestWithParam<Kernels> {};

TEST_P(VecDotMore, EveryKernelEqualsTheDequantizedDot) {
    const Kernels& p = GetParam();
    const char* name = quant::traits(p.type).name;
    for (int64_t n : {256, 512, 1536, 4096}) {
        const Case c = make_case(p.type, n, 11 * (uint32_t)n);
        EXPECT_NE(c.exact, 0.0) << name;  // the case is not degenerate
        float table = NAN, scalar = NAN;
        kernels(p.type).vec_dot(n, &table, c.w.data(), c.x.data());
        p.scalar(n, &scalar, c.w.data(), c.x.data());
        EXPECT_NEAR(table, c.exact, c.tolerance) << name << " table n=" << n;
        EXPECT_NEAR(scalar, c.exact, c.tolerance) << name << " scalar n=" << n;
        if (p.simd) {
            float simd = NAN;
            p.simd(n, &simd, c.w.data(), c.x.data());
            EXPECT_NEAR(simd, c.exact, c.tolerance) << name << " simd n=" << n;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, VecDotMore,
                         ::testing::Values(PAIR(MXFP4, mxfp4), PAIR(IQ4_NL, iq4_nl), PAIR(IQ4_XS, iq4_xs),
                                           PAIR(TQ1_0, tq1_0), PAIR(TQ2_0, tq2_0), PAIR(Q2_K, q2_k),
                                           PAIR(Q3_K, q3_k), PAIR(IQ3_XXS, iq3_xxs), PAIR(IQ3_S, iq3_s),
                                           PAIR(IQ2_XXS, iq2_xxs), PAIR(IQ2_XS, iq2_xs), PAIR(IQ2_S, iq2_s),
                                           PAIR(IQ1_S, iq1_s), PAIR(IQ1_M, iq1_m)),
                         [](const auto& info) { return std::string(quant::traits(info.param.type).name); });

TEST(KernelTableMore, VecDotTypesAreGgmlsPairs) {
    // ggml-cpu.c type_traits_cpu.
    EXPECT_EQ(kernels(TypeId::MXFP4).vec_dot_type, TypeId::Q8_0);
    EXPECT_EQ(kernels(TypeId::IQ4_NL).vec_dot_type, TypeId::Q8_0);
    for (TypeId t : {TypeId::IQ4_XS, TypeId::TQ1_0, TypeId::TQ2_0, TypeId::IQ3_XXS, TypeId::IQ3_S,
                      TypeId::IQ2_XXS, TypeId::IQ2_XS, TypeId::IQ2_S, TypeId::IQ1_S,
                      TypeId::IQ1_M})
        EXPECT_EQ(kernels(t).vec_dot_type, TypeId::Q8_K);
}

}  // namespace
}  // namespace shootout::cpu
