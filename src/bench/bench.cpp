// The measurement loop of bench.h.
#include "bench/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "backend/ops.h"
#include "model/model.h"
#include "util/error.h"

namespace shootout::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int32_t> random_tokens(std::mt19937& rng, int64_t n_vocab, int64_t n) {
    std::uniform_int_distribution<int32_t> pick(0, (int32_t)n_vocab - 1);
    std::vector<int32_t> tokens((size_t)n);
    for (auto& t : tokens) t = pick(rng);
    return tokens;
}

void decode_prompt(Model& model, const std::vector<int32_t>& tokens, int64_t ubatch, float* logits) {
    for (size_t begin = 0; begin < tokens.size(); begin += (size_t)ubatch) {
        const size_t n = std::min(tokens.size() - begin, (size_t)ubatch);
        model.decode(std::span<const int32_t>(tokens.data() + begin, n), logits);
    }
}

// A fresh sequence of n_more positions after `depth` (the depth tokens decoded into it, untimed:
// llama-bench clears the cache and fills the depth before its clock starts).
void start_at_depth(Model& model, const std::vector<int32_t>& depth, int64_t n_more, int64_t ubatch,
                    float* logits) {
    model.start_sequence((int64_t)depth.size() + n_more);
    decode_prompt(model, depth, ubatch, logits);
}

// Seconds to decode `tokens` as one prompt after the depth tokens, ubatch tokens per pass.
double time_prompt(Model& model, const std::vector<int32_t>& depth, const std::vector<int32_t>& tokens, int64_t ubatch,
                   float* logits) {
    start_at_depth(model, depth, (int64_t)tokens.size(), ubatch, logits);
    const auto start = Clock::now();
    decode_prompt(model, tokens, ubatch, logits);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Seconds for n_gen single-token steps after the depth tokens; each step's token is random, as
// llama-bench's (the logits of every step reach the host).
double time_generation(Model& model, const std::vector<int32_t>& depth, int64_t n_gen, int64_t ubatch,
                       std::mt19937& rng, float* logits) {
    const int64_t n_vocab = model.info().n_vocab;
    const std::vector<int32_t> tokens = random_tokens(rng, n_vocab, n_gen);
    start_at_depth(model, depth, n_gen, ubatch, logits);
    const auto start = Clock::now();
    for (int64_t i = 0; i < n_gen; ++i) model.decode(std::span<const int32_t>(&tokens[(size_t)i], 1), logits);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

void summarize(BenchResult& r) {
    const auto& s = r.samples_tokens_per_second;
    if (s.empty()) return;
    double sum = 0;
    for (double v : s) sum += v;
    r.mean_tokens_per_second = sum / (double)s.size();
    double squares = 0;
    for (double v : s) squares += (v - r.mean_tokens_per_second) * (v - r.mean_tokens_per_second);
    r.sd_tokens_per_second = s.size() > 1 ? std::sqrt(squares / (double)(s.size() - 1)) : 0.0;
}

std::vector<BenchResult> run_bench(Model& model, const std::string& model_name, const std::string& backend,
                                   const BenchOptions& options,
                                   const std::function<void(const BenchResult&)>& on_result) {
    if (options.repetitions < 1) fail("bench", "repetitions must be at least 1");
    if (options.ubatch < 1) fail("bench", "ubatch must be at least 1");
    const ModelInfo& info = model.info();
    // Every test's cache must fit the model's context, checked before any runs: a mistyped -d
    // would otherwise fill a cache far past it, for hours on a CPU, and time positions the model
    // was never trained for.
    if (info.n_ctx_train > 0) {
        int64_t longest = 0;
        for (int64_t n : options.prompt_sizes) longest = std::max(longest, n);
        for (int64_t n : options.gen_sizes) longest = std::max(longest, n);
        for (int64_t d : options.depths)
            if (d + longest > info.n_ctx_train)
                fail(d > 0 ? "-d" : "-p/-n",
                     "depth " + std::to_string(d) + " + " + std::to_string(longest) + " tokens needs " +
                         std::to_string(d + longest) + " positions, past the model's context length of " +
                         std::to_string(info.n_ctx_train));
    }
    std::mt19937 rng(options.seed);
    // In the backend's fastest host memory, as llama.cpp's logits go to a page-locked output buffer.
    const std::unique_ptr<backend::Buffer> logits_buffer = model.host_buffer((size_t)info.n_vocab);
    float* logits = logits_buffer->data();
    auto row = [&](std::string test, int64_t n_prompt, int64_t n_gen, int64_t n_depth) {
        if (n_depth > 0) test += " @ d" + std::to_string(n_depth);  // llama-bench's name
        BenchResult r;
        r.model = model_name;
        r.backend = backend;
        r.model_bytes = info.weight_bytes;
        r.n_params = info.n_params;
        r.test = test;
        r.n_prompt = n_prompt;
        r.n_gen = n_gen;
        r.n_depth = n_depth;
        return r;
    };

    std::vector<BenchResult> results;
    const std::vector<int32_t> none;
    for (int64_t n_depth : options.depths) {
        const std::vector<int32_t> depth = random_tokens(rng, info.n_vocab, n_depth);
        for (int64_t n_prompt : options.prompt_sizes) {
            if (n_prompt <= 0) continue;
            BenchResult r = row("pp" + std::to_string(n_prompt), n_prompt, 0, n_depth);
            const std::vector<int32_t> tokens = random_tokens(rng, info.n_vocab, n_prompt);
            time_prompt(model, none, tokens, options.ubatch, logits);  // warm-up
            for (int rep = 0; rep < options.repetitions; ++rep)
                r.samples_tokens_per_second.push_back((double)n_prompt /
                                                      time_prompt(model, depth, tokens, options.ubatch, logits));
            summarize(r);
            if (on_result) on_result(r);
            results.push_back(std::move(r));
        }
        for (int64_t n_gen : options.gen_sizes) {
            if (n_gen <= 0) continue;
            BenchResult r = row("tg" + std::to_string(n_gen), 0, n_gen, n_depth);
            time_generation(model, none, 1, options.ubatch, rng, logits);  // warm-up
            for (int rep = 0; rep < options.repetitions; ++rep)
                r.samples_tokens_per_second.push_back(
                    (double)n_gen / time_generation(model, depth, n_gen, options.ubatch, rng, logits));
            summarize(r);
            if (on_result) on_result(r);
            results.push_back(std::move(r));
        }
    }
    return results;
}

std::vector<int64_t> parse_sizes(const std::string& text, const std::string& option) {
    std::vector<int64_t> sizes;
    size_t begin = 0;
    while (begin <= text.size()) {
        size_t end = text.find(',', begin);
        if (end == std::string::npos) end = text.size();
        const std::string item = text.substr(begin, end - begin);
        size_t used = 0;
        long long value = -1;
        try {
            value = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (item.empty() || used != item.size() || value < 0 || value > (1 << 20))
            fail(option, "expects a comma-separated list of token counts (0.." + std::to_string(1 << 20) + "), got '" +
                             text + "'");
        sizes.push_back(value);
        begin = end + 1;
    }
    return sizes;
}

}  // namespace shootout::bench
