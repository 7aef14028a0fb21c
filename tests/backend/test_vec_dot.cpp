// The CPU dot-product kernels against dequantize-then-dot in double: for every weight type of the
// kernel table, a row with outliers and an all-zero block is quantized, activations are converted
// to the vec_dot_type, and vec_dot must equal sum(dequant(w) * dequant(x)) up to the float rounding
// of the per-block accumulation. The AVX2 kernels are checked the same way and against the scalar.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/type_kernels.h"
#include "vec_dot_case.h"
#include "backend/cpu/vec_dot.h"
#include "quant/type_table.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout::cpu {
namespace {

using quant::TypeId;
using VecDot = void (*)(int64_t, float*, const void*, const void*);

// zero_block: an all-zero stretch at the start (min(n, 256) elements).
std::vector<float> random_row(int64_t n, uint32_t seed, bool zero_block) {
    return test::random_row(n, seed, zero_block ? std::min<int64_t>(n, 256) : 0);
}
using test::Case;

Case make_case(TypeId type, int64_t n, uint32_t seed) {
    const TypeKernels& k = kernels(type);
    const quant::TypeTraits& wt = quant::traits(type);
    const quant::TypeTraits& xt = quant::traits(k.vec_dot_type);
    Case c;
    const std::vector<float> w = random_row(n, seed, true), x = random_row(n, seed + 1, false);
    c.w.resize(quant::row_size_bytes(type, n));
    c.x.resize(quant::row_size_bytes(k.vec_dot_type, n));
    wt.quantize_rows(w.data(), c.w.data(), 1, n, nullptr);
    k.from_float(x.data(), c.x.data(), n);
    std::vector<float> wd((size_t)n), xd((size_t)n);
    wt.to_float(c.w.data(), wd.data(), n);
    xt.to_float(c.x.data(), xd.data(), n);
    test::set_reference(c, wd, xd, n);
    // Q8_1 stores s = fp16(d * sum(q)): the weight min m multiplies s, not the exact sum, so each
    // block adds |m| * |s| * 2^-11 (half an fp16 ulp, relative).
    if (k.vec_dot_type == TypeId::Q8_1) {
        const size_t w_block = wt.bytes_per_block, x_block = xt.bytes_per_block;
        for (int64_t b = 0; b < n / 32; ++b) {
            uint16_t m, s;
            std::memcpy(&m, c.w.data() + b * w_block + 2, 2);  // Q4_1/Q5_1: d, m, ...
            std::memcpy(&s, c.x.data() + b * x_block + 2, 2);  // Q8_1: d, s, ...
            c.tolerance += std::fabs(fp16_to_fp32(m) * fp16_to_fp32(s)) * std::ldexp(1.0, -11);
        }
    }
    return c;
}

class VecDotTest : public ::testing::TestWithParam<TypeId> {};

TEST_P(VecDotTest, TableKernelEqualsDequantizedDot) {
    for (int64_t n : {512, 1536, 4096}) {
        const Case c = make_case(GetParam(), n, (uint32_t)n);
        float result = NAN;
        kernels(GetParam()).vec_dot(n, &result, c.w.data(), c.x.data());
        EXPECT_NEAR(result, c.exact, c.tolerance) << quant::traits(GetParam()).name << " n=" << n;
        EXPECT_NE(c.exact, 0.0);  // the case is not degenerate
    }
}

INSTANTIATE_TEST_SUITE_P(Types, VecDotTest,
                         ::testing::Values(TypeId::F32, TypeId::F16, TypeId::BF16, TypeId::Q4_0, TypeId::Q4_1,
                                           TypeId::Q5_0, TypeId::Q5_1, TypeId::Q8_0, TypeId::Q2_K, TypeId::Q3_K,
                                           TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K),
                         [](const auto& info) { return std::string(quant::traits(info.param).name); });

struct Pair {
    TypeId type;
    VecDot scalar, simd;
};

void check_pair(const Pair& p) {
    for (int64_t n : {256, 512, 1536, 4096}) {
        if (n % quant::traits(p.type).block_size) continue;
        const Case c = make_case(p.type, n, 7 * (uint32_t)n);
        float scalar = NAN, simd = NAN;
        p.scalar(n, &scalar, c.w.data(), c.x.data());
        p.simd(n, &simd, c.w.data(), c.x.data());
        EXPECT_NEAR(scalar, c.exact, c.tolerance) << quant::traits(p.type).name << " scalar n=" << n;
        EXPECT_NEAR(simd, c.exact, c.tolerance) << quant::traits(p.type).name << " simd n=" << n;
        EXPECT_NEAR(simd, scalar, 2 * c.tolerance) << quant::traits(p.type).name << " n=" << n;
    }
}

TEST(VecDotScalarVersusAvx2, AgreeWithEachOtherAndTheExactDot) {
#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
    const Pair pairs[] = {
        {TypeId::F32, dot::f32_scalar, dot::f32_avx2},    {TypeId::F16, dot::f16_scalar, dot::f16_avx2},
        {TypeId::BF16, dot::bf16_scalar, dot::bf16_avx2}, {TypeId::Q4_0, dot::q4_0_scalar, dot::q4_0_avx2},
        {TypeId::Q5_0, dot::q5_0_scalar, dot::q5_0_avx2}, {TypeId::Q8_0, dot::q8_0_scalar, dot::q8_0_avx2},
        {TypeId::Q4_1, dot::q4_1_scalar, dot::q4_1_avx2}, {TypeId::Q5_1, dot::q5_1_scalar, dot::q5_1_avx2},
        {TypeId::Q4_K, dot::q4_k_scalar, dot::q4_k_avx2}, {TypeId::Q5_K, dot::q5_k_scalar, dot::q5_k_avx2},
        {TypeId::Q6_K, dot::q6_k_scalar, dot::q6_k_avx2},
    };
    for (const Pair& p : pairs) check_pair(p);
#else
    GTEST_SKIP() << "built without AVX2+FMA+F16C: only the scalar kernels exist";
#endif
}

TEST(VecDotScalar, F32TailBeyondSimdWidth) {
    // Lengths that are not a multiple of the AVX2 loop's 32 must include the tail.
    std::vector<float> a(45), b(45);
    double exact = 0;
    for (int i = 0; i < 45; ++i) {
        a[i] = 0.5f + i;
        b[i] = 1.0f / (1 + i);
        exact += (double)a[i] * b[i];
    }
    float r = NAN;
    kernels(TypeId::F32).vec_dot(45, &r, a.data(), b.data());
    EXPECT_NEAR(r, exact, 1e-4);
}

TEST(KernelTable, VecDotTypesAreGgmlsPairs) {
    // ggml-cpu.c type_traits_cpu: the activation type each weight type multiplies with.
    EXPECT_EQ(kernels(TypeId::F32).vec_dot_type, TypeId::F32);
    EXPECT_EQ(kernels(TypeId::F16).vec_dot_type, TypeId::F16);
    EXPECT_EQ(kernels(TypeId::BF16).vec_dot_type, TypeId::BF16);
    for (TypeId t : {TypeId::Q4_0, TypeId::Q5_0, TypeId::Q8_0}) EXPECT_EQ(kernels(t).vec_dot_type, TypeId::Q8_0);
    for (TypeId t : {TypeId::Q4_1, TypeId::Q5_1}) EXPECT_EQ(kernels(t).vec_dot_type, TypeId::Q8_1);
    for (TypeId t : {TypeId::Q2_K, TypeId::Q3_K, TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K})
        EXPECT_EQ(kernels(t).vec_dot_type, TypeId::Q8_K);
    // Q8_1 is an activation type only: no weight kernels.
    EXPECT_EQ(find_kernels(TypeId::Q8_1), nullptr);
    EXPECT_THROW(kernels(TypeId::Q8_1), Error);
}

}  // namespace
}  // namespace shootout::cpu
