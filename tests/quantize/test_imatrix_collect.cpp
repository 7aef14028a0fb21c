// Importance-matrix collection and the GGUF / legacy writers: sums of x^2 and counts as llama-imatrix
// keeps them, its filters (blk.* only, >= 16 rows), round trips through load_imatrix, and the whole
// `shootout imatrix` on the real qwen3 model against llama-imatrix's numbers for the same 2 chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "gguf/gguf.h"
#include "quantize/imatrix.h"
#include "quantize/imatrix_collect.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shootout;
using namespace shootout::quantize;

namespace {

backend::Weight weight(const std::string& name, int64_t n_in) {
    backend::Weight w;
    w.name = name;
    w.n_in = n_in;
    w.n_out = 3;
    return w;
}

fs::path temp_path(const std::string& name) {
    return fs::temp_directory_path() / ("shootout_imatrix_collect_" + std::to_string(::getpid()) + "_" + name);
}

// x[r][j] = (r + 1) * (j - 1.5): small exact values, so the expected sums are exact in float.
std::vector<float> rows(int64_t n_rows, int64_t n_in) {
    std::vector<float> x((size_t)(n_rows * n_in));
    for (int64_t r = 0; r < n_rows; ++r)
        for (int64_t j = 0; j < n_in; ++j) x[(size_t)(r * n_in + j)] = float(r + 1) * (float(j) - 1.5f);
    return x;
}

}  // namespace

TEST(ImatrixCollect, SumsSquaresPerColumnAndCountsRows) {
    ImatrixCollector c;
    const auto w = weight("blk.0.ffn_up.weight", 4);
    const auto x = rows(16, 4);
    c.observe(w, x.data(), 16);
    c.observe(w, x.data(), 16);
    const auto& e = c.sums().entries.at("blk.0.ffn_up.weight");
    double sum_r2 = 0;
    for (int r = 1; r <= 16; ++r) sum_r2 += r * r;  // 1496
    ASSERT_EQ(e.in_sum2.size(), 4u);
    for (int j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(e.in_sum2[j], float(2 * sum_r2 * (j - 1.5) * (j - 1.5))) << j;
    ASSERT_EQ(e.counts.size(), 1u);
    EXPECT_EQ(e.counts[0], 32);
}

TEST(ImatrixCollect, SkipsWhatLlamaImatrixSkips) {
    ImatrixCollector c;
    const auto x = rows(16, 4);
    c.observe(weight("blk.0.attn_q.weight", 4), x.data(), 15);  // fewer than 16 rows
    c.observe(weight("output.weight", 4), x.data(), 16);         // not blk.* (no --process-output)
    c.observe(weight("token_embd.weight", 4), x.data(), 16);
    EXPECT_TRUE(c.sums().entries.empty());

    ImatrixCollectOptions with_output;
    with_output.process_output = true;
    ImatrixCollector o(with_output);
    o.observe(weight("output.weight", 4), x.data(), 16);
    o.observe(weight("token_embd.weight", 4), x.data(), 16);  // a tied head is still not output.weight
    EXPECT_EQ(o.sums().entries.size(), 1u);
    EXPECT_TRUE(o.sums().entries.count("output.weight"));
}

TEST(ImatrixCollect, RejectsWidthChangeAndNonFinite) {
    ImatrixCollector c;
    const auto x = rows(16, 8);
    c.observe(weight("blk.1.ffn_down.weight", 4), x.data(), 16);
    EXPECT_THROW(c.observe(weight("blk.1.ffn_down.weight", 8), x.data(), 16), Error);
    auto bad = rows(16, 4);
    bad[5] = INFINITY;
    EXPECT_THROW(c.observe(weight("blk.2.ffn_down.weight", 4), bad.data(), 16), Error);
}

TEST(ImatrixCollect, GgufAndLegacyRoundTripThroughLoadImatrix) {
    ImatrixCollector c;
    const auto x = rows(32, 4);
    c.observe(weight("blk.0.attn_k.weight", 4), x.data(), 32);
    c.observe(weight("blk.0.attn_k.weight", 4), x.data(), 32);
    c.observe(weight("blk.0.attn_v.weight", 4), x.data() + 4, 20);
    c.sums().datasets.push_back("calib.txt");
    ImatrixSums sums = c.sums();
    sums.chunk_size = 32;
    EXPECT_EQ(sums.chunk_count(), 2);  // 64 rows of the largest entry / 32
    EXPECT_EQ(sums.legacy_ncall(), 2);

    const fs::path gguf_path = temp_path("a.gguf");
    save_imatrix_gguf(sums, gguf_path.string());
    {
        auto file = gguf::File::open(gguf_path.string());
        EXPECT_EQ(file->get_string("general.type", ""), "imatrix");
        EXPECT_EQ(file->get_uint("imatrix.chunk_count", 0), 2u);
        EXPECT_EQ(file->get_uint("imatrix.chunk_size", 0), 32u);
        const auto* counts = file->find_tensor("blk.0.attn_v.weight.counts");
        ASSERT_NE(counts, nullptr);
        EXPECT_EQ(counts->shape, (std::vector<int64_t>{1, 1}));
        EXPECT_EQ(reinterpret_cast<const float*>(counts->data)[0], 20.0f);
        ASSERT_NE(file->find_tensor("blk.0.attn_k.weight.in_sum2"), nullptr);
        EXPECT_EQ(file->tensors()[0].name, "blk.0.attn_k.weight.in_sum2");  // name order, as llama.cpp
    }
    const ImportanceMatrix m = load_imatrix(gguf_path.string());
    ASSERT_EQ(m.entries.size(), 2u);
    EXPECT_EQ(m.datasets, std::vector<std::string>{"calib.txt"});
    const auto& k = sums.entries.at("blk.0.attn_k.weight");
    for (int j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(m.entries.at("blk.0.attn_k.weight")[j], k.in_sum2[j] / 64.0f);

    const fs::path dat_path = temp_path("a.dat");
    save_imatrix_legacy(sums.to_importance_matrix(), sums.legacy_ncall(), dat_path.string());
    const ImportanceMatrix legacy = load_imatrix(dat_path.string());
    EXPECT_TRUE(legacy.legacy);
    EXPECT_EQ(legacy.chunk_count, 2);
    for (const auto& [name, values] : m.entries) {
        ASSERT_EQ(legacy.entries.at(name).size(), values.size());
        for (size_t j = 0; j < values.size(); ++j) EXPECT_FLOAT_EQ(legacy.entries.at(name)[j], values[j]) << name;
    }
    fs::remove(gguf_path);
    fs::remove(dat_path);
}

// The whole command on the real model, 2 chunks of 512 of wikitext-2, against llama-imatrix's
// per-entry numbers for the same settings (tools/imatrix_golden.py; the activations differ only by
// float rounding, so the sums agree to a small relative difference and the counts exactly).
TEST(ImatrixCollect, CommandMatchesLlamaImatrixOnQwen3) {
    const std::string shared = SHOOTOUT_SHARED_DIR;
    const std::string model = shared + "/models/qwen3-34m-code/model-bf16.gguf";
    const std::string text = shared + "/data/wikitext-2-test.txt";
    if (!fs::exists(model) || !fs::exists(text)) GTEST_SKIP() << "needs " << model << " and " << text;
    const fs::path out = temp_path("qwen3.gguf");
    const std::string command = std::string(SHOOTOUT_BINARY) + " imatrix -m " + model + " -f " + text +
                                " -c 512 --chunks 2 -o " + out.string() + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    auto file = gguf::File::open(out.string());
    EXPECT_EQ(file->get_uint("imatrix.chunk_count", 0), 2u);
    EXPECT_EQ(file->get_uint("imatrix.chunk_size", 0), 512u);

    std::ifstream golden(std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/quantize/imatrix-qwen3-34m-wikitext2-2x512.txt");
    ASSERT_TRUE(golden) << "golden numbers missing";
    std::string line;
    size_t n_entries = 0;
    double max_rel = 0;
    while (std::getline(golden, line)) {
        if (line.empty() || line[0] == '#' || line.rfind("chunks", 0) == 0) continue;
        std::istringstream in(line);
        std::string name;
        int64_t count = 0, n_values = 0;
        double sum = 0, head[4] = {}, max_value = 0;
        in >> name >> count >> n_values >> sum >> head[0] >> head[1] >> head[2] >> head[3] >> max_value;
        ASSERT_TRUE(in) << line;
        ++n_entries;
        const auto* sums = file->find_tensor(name + ".in_sum2");
        const auto* counts = file->find_tensor(name + ".counts");
        ASSERT_TRUE(sums && counts) << "no entry for " << name;
        ASSERT_EQ(sums->n_elements(), n_values) << name;
        EXPECT_EQ(reinterpret_cast<const float*>(counts->data)[0], float(count)) << name;
        const float* v = reinterpret_cast<const float*>(sums->data);
        double our_sum = 0, our_max = 0;
        for (int64_t j = 0; j < n_values; ++j) {
            our_sum += v[j];
            our_max = std::max(our_max, double(v[j]));
        }
        auto rel = [](double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-30); };
        max_rel = std::max({max_rel, rel(our_sum, sum), rel(our_max, max_value)});
        EXPECT_LT(rel(our_sum, sum), 1e-3) << name << " sum of in_sum2";
        EXPECT_LT(rel(our_max, max_value), 1e-3) << name << " max of in_sum2";
        // Single columns of ffn_down (SwiGLU outputs, many small terms) differ up to ~0.3 %.
        for (int j = 0; j < 4; ++j) EXPECT_LT(rel(v[j], head[j]), 1e-2) << name << " column " << j;
    }
    EXPECT_EQ(n_entries, 56u);  // 8 layers x (attn q, k, v, output, ffn gate, up, down)
    EXPECT_EQ(file->tensors().size(), 2 * n_entries);  // nothing llama-imatrix leaves out
    std::printf("max relative difference to llama-imatrix: %.3g over %zu entries\n", max_rel, n_entries);
    fs::remove(out);
}
