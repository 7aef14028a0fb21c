// The activation conversions (Q8_0, Q8_1, Q8_K) the CPU matmul uses: Q8_0 / Q8_1 byte for byte as
// llama.cpp's CPU backend converts them (golden bytes from ggml itself, tools/ggml_cpu_q8_golden.py),
// and the AVX2 versions against the scalar ones (Q8_K: the type table's reference) byte for byte:
// random rows at many magnitudes, and the edge cases where a SIMD rewrite usually slips: all-zero and
// signed-zero blocks, exact .5 ties (half to even for all three), +a and -a both at the maximum
// magnitude (Q8_K takes the first), subnormals, huge values, infinities and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <vector>

#include "backend/cpu/activation_conversion.h"
#include "quant/type_table.h"
#include "util/fp16.h"

namespace shootout {
namespace {

using quant::TypeId;

// The scalar conversion the kernel table uses for activations of this type.
cpu::ActivationConversion scalar_conversion(TypeId type) {
    if (type == TypeId::Q8_0) return cpu::dot::q8_0_from_float_scalar;
    if (type == TypeId::Q8_1) return cpu::dot::q8_1_from_float_scalar;
    return quant::traits(type).from_float_ref;
}

// Reports the first byte where two conversions differ.
void expect_equal_bytes(const quant::TypeTraits& t, const std::vector<uint8_t>& expected, const std::vector<uint8_t>& got) {
    ASSERT_EQ(expected.size(), got.size());
    const size_t bytes = expected.size();
    for (size_t i = 0; i < bytes; ++i) {
        if (expected[i] != got[i]) {
            const size_t block = i / t.bytes_per_block;
            ADD_FAILURE() << "byte " << i << " (block " << block << ", byte " << i % t.bytes_per_block
                          << "): expected " << (int)expected[i] << ", got " << (int)got[i];
            return;
        }
    }
}

// Converts `x` both ways (AVX2, scalar) and compares every byte.
void expect_same_bytes(TypeId type, const std::vector<float>& x) {
    SCOPED_TRACE(quant::traits(type).name);
    const cpu::ActivationConversion fast = cpu::find_activation_conversion(type);
    if (!fast) GTEST_SKIP() << "no AVX2 conversion in this build";
    const auto& t = quant::traits(type);
    const int64_t n = (int64_t)x.size();
    ASSERT_EQ(n % t.block_size, 0);
    const size_t bytes = quant::row_size_bytes(type, n);
    std::vector<uint8_t> expected(bytes, 0xAB), got(bytes, 0xCD);
    scalar_conversion(type)(x.data(), expected.data(), n);
    fast(x.data(), got.data(), n);
    expect_equal_bytes(t, expected, got);
}

const TypeId kTypes[] = {TypeId::Q8_0, TypeId::Q8_1, TypeId::Q8_K};

// ggml's own conversions (its x86 AVX2 quantize_row_q8_0 / _q8_1) of 80 blocks: real-like rows at
// three scales, exact .5 ties, values on a Q8_0 grid. Both of ours must give the same bytes; the
// reference quantizer (which llama-quantize uses for weights) must not, or the data would not tell
// the two rules apart.
TEST(ActivationConversion, Q8ActivationsAsLlamaCppCpuBackend) {
    std::ifstream in(std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/backend/ggml_cpu_q8.bin", std::ios::binary);
    ASSERT_TRUE(in) << "golden file missing";
    const std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(file.size(), 12u);
    ASSERT_EQ(std::memcmp(file.data(), "Q8GOLD1", 8), 0);
    int32_t n_blocks = 0;
    std::memcpy(&n_blocks, file.data() + 8, 4);
    const int64_t n = (int64_t)n_blocks * 32;
    ASSERT_EQ(file.size(), 12 + (size_t)n * 4 + (size_t)n_blocks * (34 + 36));
    std::vector<float> x((size_t)n);
    std::memcpy(x.data(), file.data() + 12, (size_t)n * 4);
    size_t offset = 12 + (size_t)n * 4;
    for (TypeId type : {TypeId::Q8_0, TypeId::Q8_1}) {
        const auto& t = quant::traits(type);
        SCOPED_TRACE(t.name);
        const size_t bytes = quant::row_size_bytes(type, n);
        const std::vector<uint8_t> golden(file.begin() + (std::ptrdiff_t)offset, file.begin() + (std::ptrdiff_t)(offset + bytes));
        offset += bytes;
        std::vector<uint8_t> got(bytes, 0xCD);
        scalar_conversion(type)(x.data(), got.data(), n);
        expect_equal_bytes(t, golden, got);
        if (const cpu::ActivationConversion fast = cpu::find_activation_conversion(type)) {
            std::fill(got.begin(), got.end(), 0xCD);
            fast(x.data(), got.data(), n);
            expect_equal_bytes(t, golden, got);
        }
        std::vector<uint8_t> reference(bytes);
        t.from_float_ref(x.data(), reference.data(), n);
        EXPECT_NE(reference, golden) << "the golden data does not separate ggml's CPU rule from the reference";
    }
}

// The two differences from the reference quantizer, by hand: with amax 127 the scale 127 / amax is 1
// and ties go to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2; the reference rounds away: 1, 2, 3,
// -3); amax 6.1 gives 127 / 6.1 = 20.8196716 but 1 / (6.1 / 127) = 20.8196735 in float, so
// x = 0.312204719 lands on 6.49999952 (6) with ggml's scale and 6.50000048 (7) with the reference's.
TEST(ActivationConversion, Q8LevelsRoundHalfToEvenWithScale127OverAmax) {
    std::vector<float> x(32, 0.0f);
    x[0] = -127.0f, x[1] = 0.5f, x[2] = 1.5f, x[3] = 2.5f, x[4] = -2.5f, x[5] = 126.5f;
    std::vector<float> y(32, 0.0f);
    const float amax = 6.1f, v = 0.312204719f;
    y[0] = amax, y[1] = v;
    ASSERT_LT(v * (127.0f / amax), 6.5f);
    ASSERT_GT(v * (1.0f / (amax / 127.0f)), 6.5f);
    x.insert(x.end(), y.begin(), y.end());
    for (TypeId type : {TypeId::Q8_0, TypeId::Q8_1}) {
        SCOPED_TRACE(quant::traits(type).name);
        const size_t block_bytes = quant::traits(type).bytes_per_block;
        std::vector<uint8_t> out(2 * block_bytes);
        scalar_conversion(type)(x.data(), out.data(), 64);
        const size_t qs = block_bytes - 32;  // the levels are the block's last 32 bytes
        const auto level = [&](int block, int j) { return (int)(int8_t)out[block * block_bytes + qs + j]; };
        EXPECT_EQ(level(0, 0), -127);
        EXPECT_EQ(level(0, 1), 0);
        EXPECT_EQ(level(0, 2), 2);
        EXPECT_EQ(level(0, 3), 2);
        EXPECT_EQ(level(0, 4), -2);
        EXPECT_EQ(level(0, 5), 126);
        EXPECT_EQ(level(1, 0), 127);
        EXPECT_EQ(level(1, 1), 6);
        if (type == TypeId::Q8_1) {  // s = d * sum of levels: block 0 sums to -127 + 0 + 2 + 2 - 2 + 126 = 1
            uint16_t s = 0;
            std::memcpy(&s, out.data() + 2, 2);
            EXPECT_EQ(s, fp32_to_fp16(1.0f * 1.0f));
        }
    }
}

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

// Blocks whose scale makes x * (127/amax) land exactly on k + 0.5: amax 127 gives d = 1 for Q8_0/Q8_1,
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
