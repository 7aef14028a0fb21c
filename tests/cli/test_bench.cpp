// shootout bench: the statistics and the three output formats of src/bench, and a short real run
// on the CPU (qwen3-34m; skipped without it) through the CLI.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "bench/bench.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "quant/type_table.h"
#include "util/error.h"

namespace shootout::bench {
namespace {

BenchResult sample_result() {
    BenchResult r;
    r.model = "Q4_K_M, \"test\"";
    r.backend = "CUDA";
    r.model_bytes = 3u << 30;
    r.n_params = 8190000000;
    r.test = "pp512";
    r.n_prompt = 512;
    r.samples_tokens_per_second = {100.0, 110.0, 120.0};
    summarize(r);
    return r;
}

// A model that records the calls run_bench makes: start_sequence's size, then each decode's length.
class RecordingModel : public Model {
public:
    RecordingModel() {
        info_.name = "recording";
        info_.n_vocab = 50;
    }
    const ModelInfo& info() const override { return info_; }
    std::vector<float> hidden(std::span<const int32_t>) override { return {}; }
    void logits(const float*, int64_t, float*) override {}
    void start_sequence(int64_t n_ctx) override {
        calls.push_back("start " + std::to_string(n_ctx));
        pos = 0;
        capacity = n_ctx;
    }
    void decode(std::span<const int32_t> tokens, float*) override {
        pos += (int64_t)tokens.size();
        ASSERT_LE(pos, capacity);
        calls.push_back(std::to_string(tokens.size()));
    }
    ModelInfo info_;
    std::vector<std::string> calls;
    int64_t pos = 0, capacity = 0;
};

// -d: every repetition fills the cache with the depth (in ubatches) before the timed tokens; the
// warm-up runs from an empty cache; tests go depth by depth, prompts before generation.
TEST(Bench, DepthFillsTheCacheBeforeEachRepetition) {
    RecordingModel m;
    BenchOptions o;
    o.prompt_sizes = {3};
    o.gen_sizes = {2};
    o.depths = {0, 5};
    o.repetitions = 2;
    o.ubatch = 4;
    const std::vector<BenchResult> r = run_bench(m, "m", "CPU", o);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].test, "pp3");
    EXPECT_EQ(r[1].test, "tg2");
    EXPECT_EQ(r[2].test, "pp3 @ d5");
    EXPECT_EQ(r[3].test, "tg2 @ d5");
    EXPECT_EQ(r[2].n_depth, 5);
    EXPECT_EQ(r[2].samples_tokens_per_second.size(), 2u);
    const std::vector<std::string> expected = {
        "start 3", "3", "start 3", "3", "start 3", "3",                      // pp3: warm-up, 2 reps
        "start 1", "1", "start 2", "1", "1", "start 2", "1", "1",            // tg2
        "start 3", "3", "start 8", "4", "1", "3", "start 8", "4", "1", "3",  // pp3 @ d5: 5 in ubatches of 4
        "start 1", "1", "start 7", "4", "1", "1", "1", "start 7", "4", "1", "1", "1"};  // tg2 @ d5
    EXPECT_EQ(m.calls, expected);
}

// A depth whose tests would pass the model's context length is refused before anything runs.
TEST(Bench, DepthPastTheContextLengthIsRefusedUpFront) {
    RecordingModel m;
    m.info_.n_ctx_train = 7;
    BenchOptions o;
    o.prompt_sizes = {3};
    o.gen_sizes = {2};
    o.depths = {0, 5};  // 5 + 3 = 8 positions
    try {
        run_bench(m, "m", "CPU", o);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("depth 5 + 3 tokens needs 8 positions, past the model's context length of 7"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_TRUE(m.calls.empty());  // not even depth 0's tests ran
    o.depths = {0, 4};             // 4 + 3 = 7: fits
    EXPECT_EQ(run_bench(m, "m", "CPU", o).size(), 4u);
}

TEST(Bench, MeanAndSampleStandardDeviation) {
    const BenchResult r = sample_result();
    EXPECT_DOUBLE_EQ(r.mean_tokens_per_second, 110.0);
    EXPECT_DOUBLE_EQ(r.sd_tokens_per_second, 10.0);  // sqrt((100 + 0 + 100) / 2)
    BenchResult one;
    one.samples_tokens_per_second = {42.0};
    summarize(one);
    EXPECT_DOUBLE_EQ(one.mean_tokens_per_second, 42.0);
    EXPECT_DOUBLE_EQ(one.sd_tokens_per_second, 0.0);
}

TEST(Bench, ParseSizes) {
    EXPECT_EQ(parse_sizes("512,4096", "-p"), (std::vector<int64_t>{512, 4096}));
    EXPECT_EQ(parse_sizes("0", "-p"), (std::vector<int64_t>{0}));
    EXPECT_THROW(parse_sizes("512,", "-p"), Error);
    EXPECT_THROW(parse_sizes("-1", "-p"), Error);
    EXPECT_THROW(parse_sizes("5x", "-p"), Error);
}

// A file of the given tensors (zeros; only names, shapes and sizes matter here) and qwen3moe metadata
// of 8 experts, 2 used, plus `extra` metadata.
std::unique_ptr<gguf::File> tensor_file(const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                                        std::shared_ptr<std::vector<uint8_t>> storage,
                                        std::vector<std::pair<std::string, gguf::Value>> extra = {}) {
    std::vector<gguf::TensorInfo> tensors;
    size_t total = 0;
    for (const auto& [name, shape] : shapes) {
        gguf::TensorInfo t;
        t.name = name;
        t.shape = shape;
        t.type = quant::TypeId::Q8_0;
        t.size_bytes = (size_t)(t.n_elements() / 32) * 34;
        total += t.size_bytes;
        tensors.push_back(t);
    }
    storage->assign(total, 0);
    size_t at = 0;
    for (auto& t : tensors) {
        t.data = storage->data() + at;
        at += t.size_bytes;
    }
    std::vector<std::pair<std::string, gguf::Value>> meta = {
        {"general.architecture", gguf::Value::make_string("qwen3moe")},
        {"qwen3moe.expert_count", gguf::Value::make_uint(gguf::ValueType::UINT32, 8)},
        {"qwen3moe.expert_used_count", gguf::Value::make_uint(gguf::ValueType::UINT32, 2)}};
    for (auto& kv : extra) meta.push_back(std::move(kv));
    return gguf::File::assemble("test.gguf", std::move(meta), std::move(tensors), total, storage);
}

// Bytes of a Q8_0 tensor of n elements.
uint64_t q8(int64_t n) { return (uint64_t)(n / 32) * 34; }

TEST(Bench, DecodeWeightBytes) {
    auto storage = std::make_shared<std::vector<uint8_t>>();
    // token_embd: 100 rows of 64; output; an attention matrix; a norm; an expert stack of 8 experts.
    const auto file = tensor_file({{"token_embd.weight", {64, 100}},
                                   {"output.weight", {64, 100}},
                                   {"blk.0.attn_q.weight", {64, 64}},
                                   {"blk.0.attn_norm.weight", {64}},
                                   {"blk.0.ffn_gate_exps.weight", {64, 32, 8}}},
                                  storage);
    // One row of the embedding, all of output, q and the norm, 2 of the 8 experts.
    EXPECT_EQ(decode_weight_bytes(*file), q8(64) + q8(6400) + q8(4096) + q8(64) + q8(64 * 32 * 8) * 2 / 8);
    // Tied embeddings (no output.weight): the output product reads all of token_embd.
    auto tied_storage = std::make_shared<std::vector<uint8_t>>();
    const auto tied =
        tensor_file({{"token_embd.weight", {64, 100}}, {"blk.0.attn_q.weight", {64, 64}}}, tied_storage);
    EXPECT_EQ(decode_weight_bytes(*tied), q8(6400) + q8(4096));
}

TEST(Bench, DecodeWeightBytesLeavesOutNextNBlocks) {
    // Two blocks, the second a NextN (multi-token prediction) block: a decode step never reads it.
    auto storage = std::make_shared<std::vector<uint8_t>>();
    const auto u32 = [](uint64_t v) { return gguf::Value::make_uint(gguf::ValueType::UINT32, v); };
    const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"token_embd.weight", {64, 100}},     {"output.weight", {64, 100}},
        {"blk.0.attn_q.weight", {64, 64}},    {"blk.1.attn_q.weight", {64, 64}},
        {"blk.1.nextn.eh_proj.weight", {128, 64}}, {"blk.10.attn_q.weight", {64, 64}}};
    const auto file =
        tensor_file(shapes, storage, {{"qwen3moe.block_count", u32(2)}, {"qwen3moe.nextn_predict_layers", u32(1)}});
    // Only blk.1 is left out: blk.10 (past block_count, kept in the count) shares its name's prefix.
    EXPECT_EQ(decode_weight_bytes(*file), q8(64) + q8(6400) + q8(4096) + q8(4096));
    // Without the NextN key every block counts.
    auto plain_storage = std::make_shared<std::vector<uint8_t>>();
    const auto plain = tensor_file(shapes, plain_storage, {{"qwen3moe.block_count", u32(2)}});
    EXPECT_EQ(decode_weight_bytes(*plain), q8(64) + q8(6400) + 3 * q8(4096) + q8(128 * 64));
}

TEST(Bench, MarkdownAsLlamaBench) {
    const std::string md = markdown_table({sample_result()});
    EXPECT_EQ(md,
              "| model | size | params | backend | test | t/s |\n"
              "| --- | ---: | ---: | --- | ---: | ---: |\n"
              "| Q4_K_M, \"test\" | 3.00 GiB | 8.19 B | CUDA | pp512 | 110.00 ± 10.00 |\n");
}

TEST(Bench, CsvQuotesAndJsonParses) {
    const std::string csv = to_csv({sample_result()});
    EXPECT_NE(csv.find("\n\"Q4_K_M, \"\"test\"\"\",3221225472,8190000000,CUDA,pp512,512,0,0,110,10\n"), std::string::npos)
        << csv;
    const auto path = std::filesystem::temp_directory_path() / "shootout_test_bench.json";
    {
        std::ofstream out(path);
        out << to_json({sample_result(), sample_result()});
    }
    const std::string command = "python3 -c \"import json,sys; d=json.load(open(sys.argv[1])); "
                                "assert len(d)==2 and d[0]['model']=='Q4_K_M, \\\"test\\\"' and d[0]['avg_ts']==110 "
                                "and d[0]['samples_ts']==[100,110,120] and d[1]['stddev_ts']==10 and d[0]['n_depth']==0\" " +
                                path.string();
    EXPECT_EQ(std::system(command.c_str()), 0) << to_json({sample_result()});
    std::filesystem::remove(path);
}

TEST(Bench, CliRunsOnTheCpu) {
    const std::string model = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf";
    if (!std::filesystem::exists(model)) GTEST_SKIP() << "missing " << model;
    const auto prefix = std::filesystem::temp_directory_path() / "shootout_test_bench_cli";
    const std::string command = std::string(SHOOTOUT_BINARY) + " bench -m " + model +
                                " -p 16 -n 4 -d 0,8 -r 2 -t 2 -o " + prefix.string() + " > /dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream csv(prefix.string() + ".csv");
    std::stringstream text;
    text << csv.rdbuf();
    const std::string s = text.str();
    EXPECT_NE(s.find(",CPU,pp16,16,0,"), std::string::npos) << s;
    EXPECT_NE(s.find(",CPU,tg4,0,4,0,"), std::string::npos) << s;
    // -d 8: the same tests after 8 cached positions, named as llama-bench names them
    EXPECT_NE(s.find(",CPU,pp16 @ d8,16,0,8,"), std::string::npos) << s;
    EXPECT_NE(s.find(",CPU,tg4 @ d8,0,4,8,"), std::string::npos) << s;
    for (const char* ext : {".md", ".json", ".csv"}) std::filesystem::remove(prefix.string() + ext);
}

TEST(Bench, CliRejectsBadSizesAndBackends) {
    const std::string bin = SHOOTOUT_BINARY;
    EXPECT_EQ(WEXITSTATUS(std::system((bin + " bench -m x.gguf -p 5x > /dev/null 2>&1").c_str())), 2);
    EXPECT_EQ(WEXITSTATUS(std::system((bin + " bench -m x.gguf --backend tpu > /dev/null 2>&1").c_str())), 2);
}

}  // namespace
}  // namespace shootout::bench

namespace shootout::bench {
namespace {

// shootout run --speed: the speed table of the reference and each variant beside the quality table;
// a size past the model's context (pp1000000) is skipped and said so, not an error after the quality pass.
TEST(Bench, RunAddsTheSpeedTable) {
    const std::string model = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf";
    const std::string text = std::string(SHOOTOUT_SHARED_DIR) + "/data/wikitext-2-test.txt";
    if (!std::filesystem::exists(model) || !std::filesystem::exists(text)) GTEST_SKIP() << "missing shared model/text";
    const auto out = std::filesystem::temp_directory_path() / "shootout_test_run_speed";
    std::filesystem::remove_all(out);
    const std::string command = std::string(SHOOTOUT_BINARY) + " run -m " + model + " --variant " + model + " -f " +
                                text + " --ctx 32 --chunks 1 -t 2 --no-resume --speed --speed-prompts 8,1000000 --speed-gen 2 "
                                "--speed-reps 1 -o " + out.string() + " > " + (out.string() + ".stdout") + " 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream csv(out / "shootout-speed.csv");
    std::stringstream text_csv;
    text_csv << csv.rdbuf();
    const std::string s = text_csv.str();
    // The reference and the variant (the same file, under its own name), pp8 and tg2 each.
    EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 5) << s;
    EXPECT_NE(s.find(",CPU,pp8,8,0,"), std::string::npos) << s;
    EXPECT_NE(s.find(",CPU,tg2,0,2,"), std::string::npos) << s;
    EXPECT_TRUE(std::filesystem::exists(out / "shootout-speed.md"));
    EXPECT_TRUE(std::filesystem::exists(out / "shootout-speed.json"));
    std::ifstream log(out.string() + ".stdout");
    std::stringstream log_text;
    log_text << log.rdbuf();
    EXPECT_NE(log_text.str().find("pp1000000 skipped: past the model's context length of"), std::string::npos)
        << log_text.str();
    std::filesystem::remove_all(out);
    std::filesystem::remove(out.string() + ".stdout");
}

TEST(Bench, RunRejectsBadSpeedOptions) {
    const std::string bin = SHOOTOUT_BINARY;
    EXPECT_EQ(WEXITSTATUS(std::system((bin + " run -m x.gguf --quant Q8_0 -f x.txt --speed --no-speed > /dev/null 2>&1").c_str())), 2);
    EXPECT_EQ(WEXITSTATUS(std::system((bin + " run -m x.gguf --quant Q8_0 -f x.txt --speed-prompts 1,x > /dev/null 2>&1").c_str())), 2);
}

}  // namespace
}  // namespace shootout::bench
