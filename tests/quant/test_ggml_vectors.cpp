// The type table against ggml itself for the types added after the first wave (MXFP4, IQ4_NL,
// IQ4_XS, TQ1_0, TQ2_0, the IQ1-IQ3 family): tools/ggml_quant_reference.py called the
// libggml-base.so that llama-quantize uses and wrote tests/data/quant/ggml_<type>.bin. Quantized
// bytes must be identical (without and with importance weights, and the reference quantizer),
// dequantized floats bit-identical. The inputs include all-zero, constant, one-hot, tiny and huge
// super-blocks, zero sub-blocks and a run of zero importance weights. Also: NaN/Inf rejection.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include "quant/type_table.h"
#include "util/error.h"

namespace shootout::quant {
namespace {

const std::string kDataDir = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/quant/";

struct Vectors {
    int64_t n_per_row = 0, n_rows = 0;
    std::vector<float> x, importance, dequantized;
    std::vector<uint8_t> plain, weighted, ref;  // empty when ggml gives none
};

Vectors read_vectors(const std::string& type_name) {
    const std::string path = kDataDir + "ggml_" + type_name + ".bin";
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("missing fixture " + path + " (run tools/ggml_quant_reference.py)");
    auto u32 = [&] { uint32_t v = 0; in.read((char*)&v, 4); return v; };
    auto floats = [&](size_t n) { std::vector<float> v(n); in.read((char*)v.data(), (std::streamsize)(4 * n)); return v; };
    auto bytes = [&] { std::vector<uint8_t> v(u32()); in.read((char*)v.data(), (std::streamsize)v.size()); return v; };
    Vectors v;
    v.n_per_row = u32();
    v.n_rows = u32();
    v.x = floats((size_t)(v.n_per_row * v.n_rows));
    v.importance = floats((size_t)v.n_per_row);
    u32();  // n_bytes, implied by the parts
    v.plain = bytes();
    v.weighted = bytes();
    v.ref = bytes();
    v.dequantized = floats(v.x.size());
    if (!in) throw std::runtime_error("truncated fixture " + path);
    return v;
}

// Names the first differing block, which a whole-buffer EXPECT_EQ would not.
void expect_same_blocks(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, const TypeTraits& t,
                        const char* what) {
    ASSERT_EQ(got.size(), want.size()) << t.name << " " << what;
    for (size_t b = 0; b < got.size(); b += t.bytes_per_block)
        ASSERT_EQ(0, std::memcmp(got.data() + b, want.data() + b, t.bytes_per_block))
            << t.name << " " << what << ": block " << b / t.bytes_per_block << " differs from ggml";
}

class GgmlVectors : public ::testing::TestWithParam<TypeId> {};

TEST_P(GgmlVectors, QuantizeAndDequantizeMatchGgml) {
    const TypeTraits& t = traits(GetParam());
    ASSERT_NE(t.quantize_rows, nullptr) << t.name;
    const Vectors v = read_vectors(t.name);
    const size_t n_bytes = row_size_bytes(t.id, v.n_per_row) * (size_t)v.n_rows;
    std::vector<uint8_t> got(n_bytes);
    if (!v.plain.empty()) {
        EXPECT_EQ(t.quantize_rows(v.x.data(), got.data(), v.n_rows, v.n_per_row, nullptr), n_bytes);
        expect_same_blocks(got, v.plain, t, "without importance");
    }
    EXPECT_EQ(t.quantize_rows(v.x.data(), got.data(), v.n_rows, v.n_per_row, v.importance.data()), n_bytes);
    expect_same_blocks(got, v.weighted, t, "with importance");
    if (!v.ref.empty()) {
        ASSERT_NE(t.from_float_ref, nullptr);
        t.from_float_ref(v.x.data(), got.data(), (int64_t)v.x.size());
        expect_same_blocks(got, v.ref, t, "reference quantizer");
    }
    std::vector<float> back(v.x.size());
    t.to_float(v.weighted.data(), back.data(), (int64_t)back.size());
    int n_bad = 0;
    for (size_t i = 0; i < back.size() && n_bad < 5; ++i) {
        const bool same = (std::isnan(back[i]) && std::isnan(v.dequantized[i])) ||
                          std::memcmp(&back[i], &v.dequantized[i], 4) == 0;
        if (!same && ++n_bad)
            ADD_FAILURE() << t.name << " dequantized element " << i << ": " << back[i] << " vs ggml " << v.dequantized[i];
    }
}

INSTANTIATE_TEST_SUITE_P(Types, GgmlVectors,
                         ::testing::Values(TypeId::MXFP4, TypeId::IQ4_NL, TypeId::IQ4_XS, TypeId::TQ1_0, TypeId::TQ2_0,
                                           TypeId::IQ3_XXS, TypeId::IQ3_S, TypeId::IQ2_XXS, TypeId::IQ2_XS,
                                           TypeId::IQ2_S, TypeId::IQ1_S, TypeId::IQ1_M),
                         [](const auto& info) { return std::string(traits(info.param).name); });

TEST(GgmlVectorTypes, RejectNonFiniteInputAndImportance) {
    for (TypeId id : {TypeId::MXFP4, TypeId::IQ4_NL, TypeId::IQ4_XS, TypeId::TQ1_0, TypeId::TQ2_0, TypeId::IQ3_XXS,
                      TypeId::IQ3_S, TypeId::IQ2_XXS, TypeId::IQ2_XS, TypeId::IQ2_S,
                      TypeId::IQ1_S, TypeId::IQ1_M}) {
        const TypeTraits& t = traits(id);
        std::vector<float> x(2 * 256, 0.25f), importance(256, 1.f);
        std::vector<uint8_t> out(2 * row_size_bytes(id, 256));
        x[256 + 3] = INFINITY;
        try {
            t.quantize_rows(x.data(), out.data(), 2, 256, nullptr);
            ADD_FAILURE() << t.name << ": Inf accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("row 1 column 3 is Inf"), std::string::npos) << e.what();
        }
        x[256 + 3] = 0.5f;
        importance[9] = NAN;
        EXPECT_THROW(t.quantize_rows(x.data(), out.data(), 2, 256, importance.data()), Error) << t.name;
    }
}

}  // namespace
}  // namespace shootout::quant
