// Importance-matrix collection and the GGUF / legacy writers: sums of x^2 and counts as llama-imatrix
// keeps them (one slice and count per routed expert), its filters (blk.* only, >= 16 rows), round
// trips through load_imatrix, and the whole `shootout imatrix` on the real qwen3 and qwen3moe models
// against llama-imatrix's numbers for the same chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

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
        EXPECT_EQ(counts->shape, (std::vector<int64_t>{1}));  // ggml drops trailing dimensions of 1
        EXPECT_EQ(file->find_tensor("blk.0.attn_v.weight.in_sum2")->shape, (std::vector<int64_t>{4}));
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

// Routed experts: each observation adds into its expert's slice of the stack's entry and counts
// there, whatever its row count (llama-imatrix takes every MUL_MAT_ID).
TEST(ImatrixCollect, RoutedExpertsGetOneSliceAndOneCountEach) {
    ImatrixCollector c;
    const auto w = weight("blk.0.ffn_up_exps.weight", 4);
    const auto x = rows(16, 4);
    c.observe(w, x.data(), 3, {2, 4});       // rows 1..3 to expert 2 (fewer than 16: taken)
    c.observe(w, x.data() + 4, 2, {0, 4});   // rows 2..3 to expert 0
    c.observe(w, x.data(), 1, {2, 4});       // row 1 to expert 2 again
    const auto& e = c.sums().entries.at("blk.0.ffn_up_exps.weight");
    ASSERT_EQ(e.counts, (std::vector<int64_t>{2, 0, 4, 0}));
    ASSERT_EQ(e.in_sum2.size(), 16u);
    for (int j = 0; j < 4; ++j) {
        const float c2 = (float(j) - 1.5f) * (float(j) - 1.5f);
        EXPECT_FLOAT_EQ(e.in_sum2[0 * 4 + j], (4 + 9) * c2) << j;       // rows 2, 3
        EXPECT_EQ(e.in_sum2[1 * 4 + j], 0.0f) << j;                     // expert 1 saw nothing
        EXPECT_FLOAT_EQ(e.in_sum2[2 * 4 + j], (1 + 4 + 9 + 1) * c2) << j;  // rows 1, 2, 3, 1
        EXPECT_EQ(e.in_sum2[3 * 4 + j], 0.0f) << j;
    }
    // A stack seen with another expert count, or an expert index outside it, is an error.
    EXPECT_THROW(c.observe(w, x.data(), 1, {0, 8}), Error);
    EXPECT_THROW(c.observe(weight("blk.1.ffn_up_exps.weight", 4), x.data(), 1, {4, 4}), Error);
}

// Both writers on a matrix with a routed-expert entry, checked against llama-imatrix's formulas:
// GGUF counts {1, n_expert} per expert; the legacy .dat's ncall per entry (ceil of the entry's own
// largest count / chunk size) and an expert that saw nothing stored as 1 * ncall.
TEST(ImatrixCollect, WritersStoreExpertSlicesAsLlamaImatrix) {
    ImatrixCollector c({32});
    const auto x = rows(64, 4);
    c.observe(weight("blk.0.ffn_gate_inp.weight", 4), x.data(), 64);      // dense: 64 rows -> ncall 2
    const auto w = weight("blk.0.ffn_gate_exps.weight", 4);
    c.observe(w, x.data(), 20, {0, 3});                                    // largest count 20 -> ncall 1
    c.observe(w, x.data() + 4 * 20, 5, {2, 3});
    c.sums().datasets.push_back("calib.txt");
    const ImatrixSums& sums = c.sums();
    EXPECT_EQ(sums.chunk_count(), 2);

    const fs::path gguf_path = temp_path("experts.gguf");
    save_imatrix_gguf(sums, gguf_path.string());
    {
        auto file = gguf::File::open(gguf_path.string());
        const auto* counts = file->find_tensor("blk.0.ffn_gate_exps.weight.counts");
        const auto* in_sum2 = file->find_tensor("blk.0.ffn_gate_exps.weight.in_sum2");
        ASSERT_TRUE(counts && in_sum2);
        EXPECT_EQ(counts->shape, (std::vector<int64_t>{1, 3}));
        EXPECT_EQ(in_sum2->shape, (std::vector<int64_t>{4, 3}));
        const float* cv = reinterpret_cast<const float*>(counts->data);
        EXPECT_EQ(std::vector<float>(cv, cv + 3), (std::vector<float>{20, 0, 5}));
    }
    const ImportanceMatrix m = load_imatrix(gguf_path.string());
    const auto& ex = sums.entries.at("blk.0.ffn_gate_exps.weight");
    const auto& means = m.entries.at("blk.0.ffn_gate_exps.weight");
    ASSERT_EQ(means.size(), 12u);
    for (int j = 0; j < 4; ++j) {
        EXPECT_FLOAT_EQ(means[0 * 4 + j], ex.in_sum2[0 * 4 + j] / 20.0f);
        EXPECT_EQ(means[1 * 4 + j], 1.0f);  // llama-quantize's value for an expert with no data
        EXPECT_FLOAT_EQ(means[2 * 4 + j], ex.in_sum2[2 * 4 + j] / 5.0f);
    }

    // The legacy bytes, read field by field: entries in name order, each with its own ncall.
    const fs::path dat_path = temp_path("experts.dat");
    save_imatrix_legacy(sums, dat_path.string());
    std::ifstream in(dat_path, std::ios::binary);
    auto i32 = [&] {
        int32_t v = 0;
        in.read(reinterpret_cast<char*>(&v), 4);
        return v;
    };
    auto floats = [&](int32_t n) {
        std::vector<float> v((size_t)n);
        in.read(reinterpret_cast<char*>(v.data()), 4 * n);
        return v;
    };
    auto name = [&] {
        std::string s((size_t)i32(), '\0');
        in.read(s.data(), (std::streamsize)s.size());
        return s;
    };
    ASSERT_EQ(i32(), 2);
    EXPECT_EQ(name(), "blk.0.ffn_gate_exps.weight");
    EXPECT_EQ(i32(), 1);   // ncall = ceil(20 / 32)
    ASSERT_EQ(i32(), 12);
    const std::vector<float> expert_values = floats(12);
    for (int j = 0; j < 4; ++j) {
        EXPECT_EQ(expert_values[0 * 4 + j], ex.in_sum2[0 * 4 + j] / 20.0f * 1.0f);
        EXPECT_EQ(expert_values[1 * 4 + j], 1.0f);
        EXPECT_EQ(expert_values[2 * 4 + j], ex.in_sum2[2 * 4 + j] / 5.0f * 1.0f);
    }
    EXPECT_EQ(name(), "blk.0.ffn_gate_inp.weight");
    EXPECT_EQ(i32(), 2);   // ncall = ceil(64 / 32)
    ASSERT_EQ(i32(), 4);
    const std::vector<float> dense_values = floats(4);
    const auto& dense = sums.entries.at("blk.0.ffn_gate_inp.weight");
    for (int j = 0; j < 4; ++j) EXPECT_EQ(dense_values[j], dense.in_sum2[j] / 64.0f * 2.0f);
    EXPECT_EQ(i32(), 2);   // chunk count
    EXPECT_EQ(name(), "calib.txt");
    EXPECT_TRUE(in);
    EXPECT_EQ(in.peek(), EOF);
    in.close();
    // load_imatrix (as llama-quantize) divides by each entry's ncall.
    const ImportanceMatrix legacy = load_imatrix(dat_path.string());
    for (int j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(legacy.entries.at("blk.0.ffn_gate_exps.weight")[j], means[j]);
    fs::remove(gguf_path);
    fs::remove(dat_path);
}

namespace {

// Per-entry numbers of a llama-imatrix GGUF (tools/imatrix_golden.py): one line per entry, or per
// expert slice (name#e) of a routed-expert entry.
struct GoldenLine {
    std::string entry;  // the weight name
    int64_t expert = -1;
    int64_t count = 0, n_values = 0;
    double sum = 0, head[4] = {}, max_value = 0;
};

std::vector<GoldenLine> read_golden(const std::string& file_name) {
    std::ifstream golden(std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/quantize/" + file_name);
    EXPECT_TRUE(golden) << "golden numbers missing: " << file_name;
    std::vector<GoldenLine> lines;
    std::string line;
    while (std::getline(golden, line)) {
        if (line.empty() || line[0] == '#' || line.rfind("chunks", 0) == 0) continue;
        std::istringstream in(line);
        GoldenLine g;
        std::string name;
        in >> name >> g.count >> g.n_values >> g.sum >> g.head[0] >> g.head[1] >> g.head[2] >> g.head[3] >> g.max_value;
        EXPECT_TRUE(in) << line;
        const size_t hash = name.find('#');
        g.entry = name.substr(0, hash);
        if (hash != std::string::npos) g.expert = std::stoll(name.substr(hash + 1));
        lines.push_back(g);
    }
    return lines;
}

// Runs `shootout imatrix` on a model over the first n_chunks chunks of 512 of wikitext-2; nullptr
// (after a skip) when the shared files are missing.
std::unique_ptr<gguf::File> run_imatrix_command(const std::string& model_dir, int n_chunks, const fs::path& out) {
    const std::string shared = SHOOTOUT_SHARED_DIR;
    const std::string model = shared + "/models/" + model_dir + "/model-bf16.gguf";
    const std::string text = shared + "/data/wikitext-2-test.txt";
    if (!fs::exists(model) || !fs::exists(text)) return nullptr;
    const std::string command = std::string(SHOOTOUT_BINARY) + " imatrix -m " + model + " -f " + text +
                                " -c 512 --chunks " + std::to_string(n_chunks) + " -o " + out.string() +
                                " >/dev/null 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    auto file = gguf::File::open(out.string());
    EXPECT_EQ(file->get_uint("imatrix.chunk_count", 0), (uint64_t)n_chunks);
    EXPECT_EQ(file->get_uint("imatrix.chunk_size", 0), 512u);
    return file;
}

double relative(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-30); }

}  // namespace

// The whole command on the real model, 2 chunks of 512 of wikitext-2, against llama-imatrix's
// per-entry numbers for the same settings (tools/imatrix_golden.py; the activations differ only by
// float rounding, so the sums agree to a small relative difference and the counts exactly).
TEST(ImatrixCollect, CommandMatchesLlamaImatrixOnQwen3) {
    const fs::path out = temp_path("qwen3.gguf");
    auto file = run_imatrix_command("qwen3-34m-code", 2, out);
    if (!file) {
        GTEST_SKIP() << "needs qwen3-34m-code and wikitext-2 in " << SHOOTOUT_SHARED_DIR;
    }
    const std::vector<GoldenLine> golden = read_golden("imatrix-qwen3-34m-wikitext2-2x512.txt");
    double max_rel = 0;
    for (const GoldenLine& g : golden) {
        const std::string& name = g.entry;
        const auto* sums = file->find_tensor(name + ".in_sum2");
        const auto* counts = file->find_tensor(name + ".counts");
        ASSERT_TRUE(sums && counts) << "no entry for " << name;
        ASSERT_EQ(sums->n_elements(), g.n_values) << name;
        EXPECT_EQ(reinterpret_cast<const float*>(counts->data)[0], float(g.count)) << name;
        const float* v = reinterpret_cast<const float*>(sums->data);
        double our_sum = 0, our_max = 0;
        for (int64_t j = 0; j < g.n_values; ++j) {
            our_sum += v[j];
            our_max = std::max(our_max, double(v[j]));
        }
        max_rel = std::max({max_rel, relative(our_sum, g.sum), relative(our_max, g.max_value)});
        EXPECT_LT(relative(our_sum, g.sum), 1e-3) << name << " sum of in_sum2";
        EXPECT_LT(relative(our_max, g.max_value), 1e-3) << name << " max of in_sum2";
        // Single columns of ffn_down (SwiGLU outputs, many small terms) differ up to ~0.3 %.
        for (int j = 0; j < 4; ++j) EXPECT_LT(relative(v[j], g.head[j]), 1e-2) << name << " column " << j;
    }
    EXPECT_EQ(golden.size(), 56u);  // 8 layers x (attn q, k, v, output, ffn gate, up, down)
    EXPECT_EQ(file->tensors().size(), 2 * golden.size());  // nothing llama-imatrix leaves out
    std::printf("max relative difference to llama-imatrix: %.3g over %zu entries\n", max_rel, golden.size());
    fs::remove(out);
}

// The MoE model: besides the dense products (attention, router), the routed experts' stacks
// (ffn_gate_exps / ffn_up_exps / ffn_down_exps) get one slice of sums and one count per expert, as
// llama-imatrix's MUL_MAT_ID branch stores them. 4 chunks of 512 of wikitext-2 against
// llama-imatrix's numbers: the same tokens go to the same experts (counts equal per expert), sums
// agree to float rounding of the activations.
TEST(ImatrixCollect, CommandCollectsRoutedExpertsAsLlamaImatrixOnQwen3Moe) {
    const fs::path out = temp_path("qwen3moe.gguf");
    auto file = run_imatrix_command("qwen3moe-11m-code", 4, out);
    if (!file) {
        GTEST_SKIP() << "needs qwen3moe-11m-code and wikitext-2 in " << SHOOTOUT_SHARED_DIR;
    }
    const int64_t n_tokens = 4 * 512, n_used = 2, n_expert = 8;
    const std::vector<GoldenLine> golden = read_golden("imatrix-qwen3moe-11m-wikitext2-4x512.txt");
    std::map<std::string, int64_t> count_sums;
    size_t n_slices = 0;
    for (const GoldenLine& g : golden) {
        const std::string where = g.entry + (g.expert >= 0 ? " expert " + std::to_string(g.expert) : "");
        const auto* sums = file->find_tensor(g.entry + ".in_sum2");
        const auto* counts = file->find_tensor(g.entry + ".counts");
        ASSERT_TRUE(sums && counts) << "no entry for " << g.entry;
        const int64_t n_mat = counts->n_elements();
        ASSERT_EQ(n_mat, g.expert >= 0 ? n_expert : 1) << where;
        ASSERT_EQ(sums->n_elements(), g.n_values * n_mat) << where;
        const std::vector<int64_t> shape = n_mat > 1 ? std::vector<int64_t>{g.n_values, n_mat} : std::vector<int64_t>{g.n_values};
        EXPECT_EQ(sums->shape, shape) << where;
        const int64_t slice = std::max<int64_t>(g.expert, 0);
        const float count = reinterpret_cast<const float*>(counts->data)[slice];
        EXPECT_EQ(count, float(g.count)) << where;
        count_sums[g.entry] += (int64_t)count;
        const float* v = reinterpret_cast<const float*>(sums->data) + slice * g.n_values;
        double our_sum = 0, our_max = 0;
        for (int64_t j = 0; j < g.n_values; ++j) {
            our_sum += v[j];
            our_max = std::max(our_max, double(v[j]));
        }
        if (g.count == 0) {
            EXPECT_EQ(our_sum, 0.0) << where << ": an expert no token reached";
            continue;
        }
        // The experts' SwiGLU outputs (down's input) of experts that saw a handful of rows carry the
        // model's own BF16 rounding differences without averaging (0.1 % at 2 rows); the rest agree
        // within 1e-4.
        const bool down = g.entry.find("ffn_down_exps") != std::string::npos;
        EXPECT_LT(relative(our_sum, g.sum), down ? 2e-3 : 1e-4) << where << " sum of in_sum2";
        EXPECT_LT(relative(our_max, g.max_value), 2e-3) << where << " max of in_sum2";
        if (g.count >= 100) {
            for (int j = 0; j < 4; ++j) EXPECT_LT(relative(v[j], g.head[j]), 1e-2) << where << " column " << j;
        }
        ++n_slices;
    }
    // Every token reaches n_used experts: each stack's counts add up to n_tokens * n_used.
    int n_stacks = 0;
    for (const auto& [name, total] : count_sums) {
        if (name.find("_exps.") == std::string::npos) continue;
        ++n_stacks;
        EXPECT_EQ(total, n_tokens * n_used) << name;
    }
    EXPECT_EQ(n_stacks, 12);  // 4 layers x gate, up, down
    EXPECT_EQ(count_sums.size(), 32u);  // + 4 x (attn q, k, v, output, router)
    EXPECT_EQ(file->tensors().size(), 2 * count_sums.size());
    EXPECT_GT(n_slices, 80u);
    fs::remove(out);
}
