// Prompt-processing and generation speed of one model, measured as llama-bench measures it: for a
// test ppN, N random tokens decoded as one prompt into an empty KV cache (ubatches of 512, logits of
// the last token only); for tgN, N single-token decode steps from an empty cache, each producing its
// logits. One warm-up run (a prompt and one generated token), then r timed repetitions, each from a
// fresh cache; tokens/s per repetition, reported as mean and sample standard deviation. With a depth
// d (llama-bench -d), each repetition first decodes d random tokens as a prompt, untimed, so the
// test runs against a KV cache of d positions ("pp512 @ d4096", "tg128 @ d4096"); tests run for each
// depth in turn, as llama-bench orders them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace shootout {
class Model;
enum class Backend;
namespace gguf {
class File;
}
}

namespace shootout::bench {

struct BenchOptions {
    std::vector<int64_t> prompt_sizes{512};  // -p; 0 entries are skipped, as llama-bench -p 0
    std::vector<int64_t> gen_sizes{128};     // -n
    std::vector<int64_t> depths{0};          // -d: KV cache positions filled before each test
    int repetitions = 5;                     // -r
    int64_t ubatch = 512;                    // prompt tokens per forward pass (llama-bench -ub)
    uint32_t seed = 1234;                    // random tokens
};

// One row of the table: one model, one test.
struct BenchResult {
    std::string model;    // display name
    std::string backend;  // "CPU", "CUDA"
    uint64_t model_bytes = 0;
    int64_t n_params = 0;
    std::string test;  // "pp512", "tg128"
    int64_t n_prompt = 0, n_gen = 0, n_depth = 0;
    std::vector<double> samples_tokens_per_second;
    double mean_tokens_per_second = 0, sd_tokens_per_second = 0;
};

// Runs every test on the model; progress (one line per finished test) goes to on_result.
std::vector<BenchResult> run_bench(Model& model, const std::string& model_name, const std::string& backend,
                                   const BenchOptions& options,
                                   const std::function<void(const BenchResult&)>& on_result = {});

// The weight bytes one single-token decode step reads: every weight tensor once, but one row of
// token_embd (unless the output product uses it: no output.weight) and n_used / n_expert of each
// expert stack (ffn_*_exps). Times tg tokens/s, the bandwidth the step draws from memory.
uint64_t decode_weight_bytes(const gguf::File& file);

// The memory read rate (GB/s) decode's weight bytes a second are held against: for CUDA the GPU's
// streaming read of 1 GiB (cuda::measure_read_gbps; issue 4's "measured HBM bandwidth"), for the
// CPU 0 (not measured). Run it before models take the memory.
double measured_read_gbps(Backend backend);

// Mean and sample standard deviation (n - 1; 0 for one sample), as llama-bench's avg/stdev.
void summarize(BenchResult& result);

// "512,4096" -> {512, 4096}; throws Error naming the option for anything but non-negative integers.
// (A depth of 0 is a test from an empty cache, not a skipped one.)
std::vector<int64_t> parse_sizes(const std::string& text, const std::string& option);

// llama-bench's Markdown table (| model | size | params | backend | test | t/s |), JSON array and CSV.
std::string markdown_table(const std::vector<BenchResult>& results);
std::string to_json(const std::vector<BenchResult>& results);
std::string to_csv(const std::vector<BenchResult>& results);

}  // namespace shootout::bench
