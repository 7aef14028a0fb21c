// The type table against the PyPI gguf package's numpy reference (tools/quant_reference.py wrote
// tests/data/quant/*.bin): quantized bytes must be identical and dequantized floats bit-identical,
// over normal data with outliers, zero/constant/one-hot blocks and tiny/huge magnitudes. The
// K-quants' to_float is checked on random valid blocks. Also: quantize_rows' input validation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "quant/type_table.h"
#include "util/error.h"

namespace shootout::quant {
namespace {

const std::string kDataDir = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/quant/";

struct Reader {
    std::ifstream in;
    explicit Reader(const std::string& path) : in(path, std::ios::binary) {
        if (!in) throw std::runtime_error("missing fixture " + path + " (run tools/quant_reference.py)");
    }
    uint32_t u32() { uint32_t v; in.read((char*)&v, 4); return v; }
    template <typename T> std::vector<T> array(size_t n) {
        std::vector<T> v(n);
        in.read((char*)v.data(), (std::streamsize)(n * sizeof(T)));
        if (!in) throw std::runtime_error("truncated fixture");
        return v;
    }
};

// Bitwise float equality, with any NaN equal to any NaN.
void expect_same_floats(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
    ASSERT_EQ(got.size(), want.size());
    int n_bad = 0;
    for (size_t i = 0; i < got.size() && n_bad < 5; ++i) {
        const bool same = (std::isnan(got[i]) && std::isnan(want[i])) || std::memcmp(&got[i], &want[i], 4) == 0;
        if (!same) {
            ++n_bad;
            ADD_FAILURE() << what << " element " << i << " (block " << i / 32 << "): " << got[i] << " vs numpy " << want[i];
        }
    }
}

class NumpyReference : public ::testing::TestWithParam<TypeId> {};

TEST_P(NumpyReference, QuantizeAndDequantizeMatchByteForByte) {
    const TypeTraits& t = traits(GetParam());
    Reader r(kDataDir + t.name + ".bin");
    const uint32_t n = r.u32();
    const std::vector<float> x = r.array<float>(n);
    const uint32_t n_bytes = r.u32();
    const std::vector<uint8_t> want = r.array<uint8_t>(n_bytes);
    const std::vector<float> want_floats = r.array<float>(n);
    ASSERT_EQ(row_size_bytes(t.id, n), n_bytes);

    std::vector<uint8_t> ref(n_bytes), rows(n_bytes);
    t.from_float_ref(x.data(), ref.data(), n);
    // Also through quantize_rows (no importance), split into rows of 256: ggml's path for llama-quantize.
    EXPECT_EQ(t.quantize_rows(x.data(), rows.data(), n / 256, 256, nullptr), n_bytes);
    for (uint32_t b = 0; b < n_bytes; b += (uint32_t)t.bytes_per_block) {
        ASSERT_EQ(0, std::memcmp(ref.data() + b, want.data() + b, t.bytes_per_block))
            << t.name << " block " << b / t.bytes_per_block << " differs from numpy";
    }
    EXPECT_EQ(rows, want) << "quantize_rows without importance must equal the _ref quantizer";

    std::vector<float> back(n);
    t.to_float(want.data(), back.data(), n);
    expect_same_floats(back, want_floats, t.name);
}

INSTANTIATE_TEST_SUITE_P(Types, NumpyReference,
                         ::testing::Values(TypeId::F16, TypeId::BF16, TypeId::Q4_0, TypeId::Q4_1, TypeId::Q5_0,
                                           TypeId::Q5_1, TypeId::Q8_0),
                         [](const auto& info) { return std::string(traits(info.param).name); });

class NumpyDequantize : public ::testing::TestWithParam<TypeId> {};

TEST_P(NumpyDequantize, KQuantBlocksDecodeAsNumpy) {
    const TypeTraits& t = traits(GetParam());
    std::string name = t.name;
    for (char& c : name) c = (char)std::tolower((unsigned char)c);
    Reader r(kDataDir + name + "_dequant.bin");
    const std::vector<uint8_t> blocks = r.array<uint8_t>(r.u32());
    const uint32_t n = r.u32();
    const std::vector<float> want = r.array<float>(n);
    ASSERT_EQ(row_size_bytes(t.id, n), blocks.size());
    std::vector<float> got(n);
    t.to_float(blocks.data(), got.data(), n);
    // numpy evaluates d*sc*q in a different order than ggml for some K-quants: allow 2 ulps.
    for (uint32_t i = 0; i < n; ++i)
        ASSERT_NEAR(got[i], want[i], 2.5e-7 * std::fabs(want[i]) + 1e-30) << t.name << " element " << i;
}

INSTANTIATE_TEST_SUITE_P(Types, NumpyDequantize,
                         ::testing::Values(TypeId::Q2_K, TypeId::Q3_K, TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K),
                         [](const auto& info) { return std::string(traits(info.param).name); });

TEST(QuantizeRows, RejectsNonFiniteInputNamingTheRow) {
    for (TypeId id : {TypeId::F16, TypeId::Q4_0, TypeId::Q8_0, TypeId::Q4_K, TypeId::Q6_K}) {
        const TypeTraits& t = traits(id);
        std::vector<float> x(3 * 256, 0.25f);
        x[256 + 17] = NAN;
        std::vector<uint8_t> out(3 * row_size_bytes(id, 256));
        try {
            t.quantize_rows(x.data(), out.data(), 3, 256, nullptr);
            ADD_FAILURE() << t.name << ": NaN accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("row 1 column 17 is NaN"), std::string::npos) << e.what();
        }
        x[256 + 17] = -INFINITY;
        EXPECT_THROW(t.quantize_rows(x.data(), out.data(), 3, 256, nullptr), Error) << t.name;
    }
}

TEST(QuantizeRows, RejectsRowsNotAMultipleOfTheBlock) {
    std::vector<float> x(300, 1.f);
    std::vector<uint8_t> out(1024);
    EXPECT_THROW(traits(TypeId::Q4_K).quantize_rows(x.data(), out.data(), 1, 300, nullptr), Error);
    EXPECT_THROW(traits(TypeId::Q4_0).quantize_rows(x.data(), out.data(), 1, 100, nullptr), Error);
}

// With importance weights the quantizers minimise a weighted error: the columns marked important
// must come out at least as well as without weights (summed over many rows), for every type.
TEST(QuantizeRows, ImportanceWeightsLowerTheErrorWhereTheyPoint) {
    const int64_t n_per_row = 512, n_rows = 64;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(n_per_row * n_rows), importance(n_per_row);
    for (auto& v : x) v = normal(rng);
    for (int64_t c = 0; c < n_per_row; ++c) importance[c] = (c % 7 == 0) ? 100.f : 0.01f;
    for (TypeId id : {TypeId::Q4_0, TypeId::Q4_1, TypeId::Q5_0, TypeId::Q5_1, TypeId::Q2_K, TypeId::Q3_K,
                      TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K}) {
        const TypeTraits& t = traits(id);
        auto weighted_error = [&](const float* imp) {
            std::vector<uint8_t> q(row_size_bytes(id, n_per_row) * n_rows);
            t.quantize_rows(x.data(), q.data(), n_rows, n_per_row, imp);
            std::vector<float> back(x.size());
            t.to_float(q.data(), back.data(), (int64_t)x.size());
            double err = 0;
            for (size_t i = 0; i < x.size(); ++i) err += importance[i % n_per_row] * std::pow(back[i] - x[i], 2);
            return err;
        };
        EXPECT_LT(weighted_error(importance.data()), weighted_error(nullptr)) << t.name;
    }
}

}  // namespace
}  // namespace shootout::quant
