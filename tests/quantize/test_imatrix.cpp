// Reading llama.cpp's importance matrices: the GGUF form (llama-imatrix's default) normalised as
// llama-quantize normalises it (in_sum2 / count per expert slice), and the legacy .dat form.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "gguf/gguf.h"
#include "quantize/imatrix.h"
#include "util/error.h"

namespace shootout::quantize {
namespace {

const std::string kGolden = std::string(SHOOTOUT_SHARED_DIR) + "/golden/imatrix-wikitext2-100x512.gguf";

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("shootout-test-imatrix-" + std::to_string(::getpid()) + "-" + name)).string();
}

TEST(Imatrix, GgufFormMetadataAndEntries) {
    const ImportanceMatrix m = load_imatrix(kGolden);
    EXPECT_FALSE(m.legacy);
    EXPECT_EQ(m.entries.size(), 56u);  // 7 weight matrices x 8 layers of qwen3-34m (no token_embd)
    EXPECT_EQ(m.chunk_count, 100);
    EXPECT_EQ(m.chunk_size, 512);
    ASSERT_EQ(m.datasets.size(), 1u);
    EXPECT_EQ(m.datasets[0], "/work/steering/shared/data/wikitext-2-test.txt");
    ASSERT_NE(m.find("blk.0.attn_k.weight"), nullptr);
    EXPECT_EQ(m.find("blk.0.attn_k.weight")->size(), 512u);
    EXPECT_EQ(m.find("blk.7.ffn_down.weight")->size(), 1536u);
    EXPECT_EQ(m.find("token_embd.weight"), nullptr);
    // 100 chunks x 512 tokens = 51200 tokens per dense matrix; in_sum2[0] of blk.0.attn_k is
    // 23335.955 (read with the gguf Python package), so the mean square is 0.45578.
    EXPECT_NEAR((*m.find("blk.0.attn_k.weight"))[0], 23335.955 / 51200.0, 1e-5);
}

TEST(Imatrix, GgufValuesAreSumsOverCounts) {
    const ImportanceMatrix m = load_imatrix(kGolden);
    auto raw = gguf::File::open(kGolden);
    for (const auto& [name, values] : m.entries) {
        const auto& sums = raw->tensor(name + ".in_sum2");
        const auto& counts = raw->tensor(name + ".counts");
        const float* s = reinterpret_cast<const float*>(sums.data);
        const float count = *reinterpret_cast<const float*>(counts.data);
        ASSERT_EQ(values.size(), static_cast<size_t>(sums.n_elements())) << name;
        ASSERT_GT(count, 0.0f);
        for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(values[i], s[i] / count) << name << "[" << i << "]";
    }
}

TEST(Imatrix, PerExpertSlicesAndZeroCounts) {
    // A 2-expert entry: slice 0 seen by 4 tokens, slice 1 by none (llama-quantize uses 1 there).
    gguf::Writer w;
    w.set("general.type", gguf::Value::make_string("imatrix"));
    w.set("imatrix.datasets", gguf::Value::make_array(gguf::ValueType::STRING, {gguf::Value::make_string("d.txt")}));
    w.set("imatrix.chunk_count", gguf::Value::make_uint(gguf::ValueType::UINT32, 3));
    w.set("imatrix.chunk_size", gguf::Value::make_uint(gguf::ValueType::UINT32, 64));
    const float sums[6] = {4, 8, 12, 5, 6, 7};
    const float counts[2] = {4, 0};
    w.add_tensor("blk.0.ffn_up_exps.weight.in_sum2", {3, 2}, quant::TypeId::F32,
                 [&](uint8_t* dst, size_t n) { std::memcpy(dst, sums, n); });
    w.add_tensor("blk.0.ffn_up_exps.weight.counts", {1, 2}, quant::TypeId::F32,
                 [&](uint8_t* dst, size_t n) { std::memcpy(dst, counts, n); });
    const std::string path = temp_path("experts.gguf");
    w.write(path);
    const ImportanceMatrix m = load_imatrix(path);
    const std::vector<float> expected = {1, 2, 3, 1, 1, 1};
    ASSERT_NE(m.find("blk.0.ffn_up_exps.weight"), nullptr);
    EXPECT_EQ(*m.find("blk.0.ffn_up_exps.weight"), expected);
    EXPECT_EQ(m.chunk_count, 3);
    std::filesystem::remove(path);
}

TEST(Imatrix, GgufWithoutMetadataOrPartnerIsRefused) {
    gguf::Writer w;
    const float v[2] = {1, 2};
    w.add_tensor("a.weight.in_sum2", {2}, quant::TypeId::F32, [&](uint8_t* dst, size_t n) { std::memcpy(dst, v, n); });
    const std::string path = temp_path("bare.gguf");
    w.write(path);
    EXPECT_THROW(load_imatrix(path), Error);  // no imatrix.* metadata (llama-quantize refuses too)
    w.set("imatrix.datasets", gguf::Value::make_array(gguf::ValueType::STRING, {}));
    w.set("imatrix.chunk_count", gguf::Value::make_uint(gguf::ValueType::UINT32, 1));
    w.set("imatrix.chunk_size", gguf::Value::make_uint(gguf::ValueType::UINT32, 1));
    w.write(path);
    EXPECT_THROW(load_imatrix(path), Error);  // .in_sum2 without .counts
    std::filesystem::remove(path);
}

void put_i32(std::ofstream& out, int32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); }

TEST(Imatrix, LegacyDatForm) {
    // Written byte by byte as llama-imatrix's legacy writer lays it out: values are mean * ncall.
    const std::string path = temp_path("legacy.dat");
    {
        std::ofstream out(path, std::ios::binary);
        put_i32(out, 2);
        for (const auto& [name, ncall, values] :
             {std::tuple<std::string, int, std::vector<float>>{"blk.0.attn_q.weight", 4, {8.0f, 2.0f}},
              std::tuple<std::string, int, std::vector<float>>{"blk.0.ffn_down.weight", 0, {3.0f}}}) {
            put_i32(out, static_cast<int32_t>(name.size()));
            out.write(name.data(), static_cast<std::streamsize>(name.size()));
            put_i32(out, ncall);
            put_i32(out, static_cast<int32_t>(values.size()));
            out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
        }
        put_i32(out, 7);  // chunk count
        put_i32(out, 5);
        out.write("wiki2", 5);
    }
    const ImportanceMatrix m = load_imatrix(path);
    EXPECT_TRUE(m.legacy);
    EXPECT_EQ(*m.find("blk.0.attn_q.weight"), (std::vector<float>{2.0f, 0.5f}));
    EXPECT_EQ(*m.find("blk.0.ffn_down.weight"), (std::vector<float>{3.0f}));  // ncall 0: taken as is
    EXPECT_EQ(m.chunk_count, 7);
    ASSERT_EQ(m.datasets.size(), 1u);
    EXPECT_EQ(m.datasets[0], "wiki2");

    // Truncated anywhere inside the entries: an Error, not a crash.
    const auto size = std::filesystem::file_size(path);
    for (uintmax_t cut : {uintmax_t(2), uintmax_t(10), uintmax_t(30), uintmax_t(40)}) {
        ASSERT_LT(cut, size);
        std::filesystem::resize_file(path, cut);
        EXPECT_THROW(load_imatrix(path), Error) << cut;
    }
    std::filesystem::remove(path);
}

TEST(Imatrix, LegacyRoundTripOfTheGoldenMatrix) {
    const ImportanceMatrix m = load_imatrix(kGolden);
    const std::string path = temp_path("roundtrip.dat");
    save_imatrix_legacy(m, 100, path);
    const ImportanceMatrix back = load_imatrix(path);
    EXPECT_TRUE(back.legacy);
    EXPECT_EQ(back.chunk_count, m.chunk_count);
    EXPECT_EQ(back.datasets, m.datasets);
    ASSERT_EQ(back.entries.size(), m.entries.size());
    for (const auto& [name, values] : m.entries) {
        const auto* other = back.find(name);
        ASSERT_NE(other, nullptr) << name;
        ASSERT_EQ(other->size(), values.size());
        for (size_t i = 0; i < values.size(); ++i) {
            ASSERT_NEAR((*other)[i], values[i], 1e-6f * std::fabs(values[i])) << name;  // x*100/100 rounds
        }
    }
    std::filesystem::remove(path);
}

TEST(Imatrix, NonFiniteValuesAreRefused) {
    ImportanceMatrix m;
    m.entries["a.weight"] = {1.0f, NAN};
    const std::string path = temp_path("nan.dat");
    save_imatrix_legacy(m, 1, path);
    EXPECT_THROW(load_imatrix(path), Error);
    std::filesystem::remove(path);
    EXPECT_THROW(load_imatrix(temp_path("does-not-exist")), Error);
}

}  // namespace
}  // namespace shootout::quantize
