// The AVX2 activation conversions (Q8_0, Q8_1, Q8_K) against the type table's reference
// conversions, byte for byte: random rows at many magnitudes, and the edge cases where a SIMD
// rewrite usually slips: all-zero and signed-zero blocks, exact .5 ties (C round goes away from
// zero for Q8_0/Q8_1; nearest_int goes to even for Q8_K), +a and -a both at the maximum magnitude
// (Q8_K takes the first), subnormals, huge values, infinities and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backend/cpu/activation_conversion.h"
#include "quant/type_table.h"

namespace shootout {
namespace {

using quant::TypeId;

// Converts `x` both ways and compares every byte; reports the first differing block.
void expect_same_bytes(TypeId type, const std::vector<float>& x) {
    SCOPED_TRACE(quant::traits(type).name);
    const cpu::ActivationConversion fast = cpu::find_activation_conversion(type);
    if (!fast) GTEST_SKIP() << "no AVX2 conversion in this build";
    const auto& t = quant::traits(type);
    const int64_t n = (int64_t)x.size();
    ASSERT_EQ(n % t.block_size, 0);
    const size_t bytes = quant::row_size_bytes(type, n);
    std::vector<uint8_t> expected(bytes, 0xAB), got(bytes, 0xCD);
    t.from_float_ref(x.data(), expected.data(), n);
    fast(x.data(), got.data(), n);
    for (size_t i = 0; i < bytes; ++i) {
        if (expected[i] != got[i]) {
            const size_t block = i / t.bytes_per_block;
            ADD_FAILURE() << "byte " << i << " (block " << block << ", byte " << i % t.bytes_per_block
                          << "): expected " << (int)expected[i] << ", got " << (int)got[i];
            return;
        }
    }
}

const TypeId kTypes[] = {TypeId::Q8_0, TypeId::Q8_1, TypeId::Q8_K};

TEST(ActivationConversion, RandomRowsAtManyScales) {
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const float scale : {1e-30f, 1e-6f, 0.01f, 1.0f, 3.0f, 1e4f, 1e30f}) {
        std::vector<float> x(256 * 24);
        for (auto& v : x) v = normal(rng) * scale;
        // Some blocks with one outlier, as real activations have.
        for (size_t i = 0; i < x.size(); i += 997) x[i] *= 50.0f;
        for (TypeId type : kTypes) expect_same_bytes(type, x);
    }
}

// Blocks whose scale makes x * (1/d) land exactly on k + 0.5: amax 127 gives d = 1 for Q8_0/Q8_1,
// and max = -127 gives iscale = 1 for Q8_K.
TEST(ActivationConversion, TiesAtOneHalf) {
    std::vector<float> x(512);
    for (size_t i = 0; i < x.size(); ++i) {
        const float k = (float)(i % 126);
        x[i] = (i % 2 ? -1.0f : 1.0f) * (k + 0.5f);
    }
    for (size_t i = 0; i < x.size(); i += 32) x[i] = -127.0f;  // the maximum of every block
    for (TypeId type : kTypes) expect_same_bytes(type, x);
    // The same with ties just below and above .5.
    std::vector<float> near = x;
    for (size_t i = 1; i < near.size(); ++i)
        if (i % 32) near[i] = std::nextafter(near[i], i % 3 ? 0.0f : 1000.0f);
    for (TypeId type : kTypes) expect_same_bytes(type, near);
}

TEST(ActivationConversion, ZerosAndSignedZeros) {
    std::vector<float> x(256 * 4, 0.0f);
    for (size_t i = 256; i < 512; ++i) x[i] = -0.0f;
    x[600] = 1e-3f;  // one non-zero in an otherwise zero block
    x[900] = -2.5f;
    for (TypeId type : kTypes) expect_same_bytes(type, x);
}

TEST(ActivationConversion, MaximumMagnitudeWithBothSigns) {
    std::vector<float> x(256 * 2);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (auto& v : x) v = uniform(rng);
    x[10] = 4.0f, x[20] = -4.0f;    // first occurrence positive
    x[300] = -4.0f, x[301] = 4.0f;  // first occurrence negative
    for (TypeId type : kTypes) expect_same_bytes(type, x);
}

TEST(ActivationConversion, SubnormalHugeInfiniteAndNaN) {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float big = std::numeric_limits<float>::max();
    const float tiny = std::numeric_limits<float>::denorm_min();
    std::vector<float> x(256 * 8);
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& v : x) v = normal(rng);
    for (size_t i = 0; i < 256; ++i) x[i] = (float)(i % 7) * tiny;          // subnormals only
    for (size_t i = 256; i < 512; i += 5) x[i] = (i % 2 ? -1.0f : 1.0f) * big;  // huge
    x[520] = inf;
    x[800] = -inf;
    x[1100] = nan;
    x[1400] = nan, x[1401] = 2e30f;
    for (size_t i = 1792; i < 2048; ++i) x[i] = nan;  // a block of NaN only
    for (TypeId type : kTypes) expect_same_bytes(type, x);
}

}  // namespace
}  // namespace shootout
