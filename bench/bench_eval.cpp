// Evaluation speed on the CPU: one 512-token chunk of the qwen3 test model (hidden states of all 512
// positions, then the logits of the scored second half, as a perplexity chunk needs), reported as
// tokens/s of the chunk. Compare with llama-perplexity via tools/bench-cpu-vs-llama.sh.
// Run: build/bench_eval [--benchmark_filter=BF16]; SHOOTOUT_BENCH_MODEL=FILE benchmarks another GGUF.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "eval/row_reductions.h"
#include "eval/token_metrics.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "util/parallel.h"

namespace {

constexpr int64_t kChunkTokens = 512;

void eval_chunk(benchmark::State& state, std::string path) {
    if (!std::filesystem::exists(path)) {
        state.SkipWithError(("model not found: " + path).c_str());
        return;
    }
    shootout::ThreadPool pool((int)state.range(0));
    auto file = shootout::gguf::File::open(path);
    auto model = shootout::Model::load(*file, pool);
    const int64_t n_vocab = model->info().n_vocab, n_embd = model->info().n_embd;
    // Any token ids do: the cost of a forward pass does not depend on them.
    std::vector<int32_t> tokens(kChunkTokens);
    for (int64_t i = 0; i < kChunkTokens; ++i) tokens[i] = (int32_t)((i * 7919 + 13) % n_vocab);
    const int64_t first_scored = kChunkTokens / 2, n_scored = kChunkTokens - first_scored;
    std::vector<float> logits((size_t)(n_scored * n_vocab));
    for (auto _ : state) {
        const std::vector<float> hidden = model->hidden(tokens);
        model->logits(hidden.data() + first_scored * n_embd, n_scored, logits.data());
        benchmark::DoNotOptimize(logits.data());
    }
    state.counters["tokens/s"] =
        benchmark::Counter((double)(state.iterations() * kChunkTokens), benchmark::Counter::kIsRate);
}

// The host's share of a shootout: per scored token, summarize_row of the variant's row and
// compare_dense against the reference's (a Qwen3 vocabulary of 151936), as the vector loops
// (eval/row_reductions.h) and as the scalar reference loops, in the same run.
void row_metrics(benchmark::State& state, bool vector) {
    const int64_t n = 151936;
    std::vector<float> ref((size_t)n), var((size_t)n);
    uint32_t x = 12345;
    for (int64_t i = 0; i < n; ++i) {  // a fixed pseudo-random row, logits of a few units' spread
        x = x * 1664525u + 1013904223u;
        ref[(size_t)i] = (float)((double)(x >> 8) / (1 << 24) * 8.0 - 4.0);
        var[(size_t)i] = ref[(size_t)i] + (float)((double)(x & 0xff) / 256.0 * 0.2 - 0.1);
    }
    using namespace shootout::eval;
    const RowSummary r = summarize_row(ref.data(), n);
    for (auto _ : state) {
        float max = 0, min = 0;
        double kld = 0;
        if (vector) {
            detail::max_min(var.data(), n, max, min);
            kld = detail::sum_exp(var.data(), n, max);
            kld += detail::kld_sum(ref.data(), var.data(), n, r.log_norm(), r.log_norm(), kKldLogProbCut);
        } else {
            detail::max_min_scalar(var.data(), n, max, min);
            kld = detail::sum_exp_scalar(var.data(), n, max);
            kld += detail::kld_sum_scalar(ref.data(), var.data(), n, r.log_norm(), r.log_norm(), kKldLogProbCut);
        }
        benchmark::DoNotOptimize(kld);
    }
    state.counters["rows/s"] = benchmark::Counter((double)state.iterations(), benchmark::Counter::kIsRate);
}

std::string shared_model(const char* relative) { return std::string(SHOOTOUT_SHARED_DIR) + "/" + relative; }

const bool registered = [] {
    const char* override_model = std::getenv("SHOOTOUT_BENCH_MODEL");
    const std::string path = override_model ? override_model : shared_model("models/qwen3-34m-code/model-bf16.gguf");
    benchmark::RegisterBenchmark("EvalChunk512", eval_chunk, path)
        ->Arg(2)  // threads
        ->ArgName("threads")
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(2.0);
    benchmark::RegisterBenchmark("RowMetrics/vector", row_metrics, true)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("RowMetrics/scalar", row_metrics, false)->Unit(benchmark::kMicrosecond);
    return true;
}();

}  // namespace
BENCHMARK_MAIN();
