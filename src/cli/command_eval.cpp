// shootout eval: one model's perplexity on a text, chunked and scored as llama-perplexity scores it,
// with the evaluation speed (tokens/s) on this machine.
#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "cli/loaded_model.h"
#include "cli/text_input.h"
#include "eval/shootout_runner.h"
#include "eval/statistics.h"
#include "model/tokenizer.h"
#include "util/parallel.h"

namespace shootout::cli {
namespace {

int eval_command_run(const Args& args) {
    // Every option is checked before any file is opened, so a typo fails at once.
    const int64_t n_ctx = args.get_int("ctx", 512, 8, 1 << 20);
    const int64_t max_chunks = args.get_int("chunks", -1, 1, 1 << 30);
    const std::string text_path = args.require("data");
    const Backend backend = backend_option(args);
    ThreadPool pool((int)args.get_int("threads", 0, 0, 1024));
    LoadedModel loaded = open_model(args.require("model"), "");
    auto tokenizer = Tokenizer::from_gguf(*loaded.file);
    const std::vector<int32_t> tokens = tokenize_for_perplexity(*tokenizer, read_text_file(text_path));
    const eval::ChunkPlan plan = eval::plan_chunks(
        (int64_t)tokens.size(), {n_ctx, max_chunks, true}, text_path);
    const int32_t bos = tokenizer->add_bos() ? tokenizer->bos_id() : -1;
    load_model(loaded, pool, backend);

    eval::RunOptions options;
    options.on_chunk = [&](const eval::ChunkProgress& progress) {
        const auto stats = eval::compute_ppl_stats(progress.so_far->reference_nll);
        std::fprintf(stderr, "[%lld/%lld] PPL %.4f ± %.4f  (%.0f tokens/s)\n", (long long)(progress.chunk + 1),
                     (long long)progress.n_chunks, stats.ppl.value, stats.ppl.error, plan.n_ctx / progress.seconds);
    };
    eval::DenseModelReference source(*loaded.model, pool, plan);
    const auto start = std::chrono::steady_clock::now();
    const eval::RunResult result = eval::run_shootout(source, {}, tokens, plan, bos, pool, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto stats = eval::compute_ppl_stats(result.reference_nll);

    std::printf("model: %s (%s, %.2f bits per weight)\n", loaded.file->path().c_str(),
                loaded.model->info().architecture.c_str(),
                8.0 * double(loaded.model->info().weight_bytes) / double(loaded.model->info().n_params));
    std::printf("text: %s, %zu tokens, %lld chunks of %lld, %zu scored tokens\n", text_path.c_str(), tokens.size(),
                (long long)plan.n_chunks, (long long)plan.n_ctx, stats.n_tokens);
    std::printf("Final estimate: PPL = %.4f +/- %.5f\n", stats.ppl.value, stats.ppl.error);
    std::printf("eval speed: %.1f tokens/s (%lld tokens in %.2f s, %s, %d threads)\n",
                double(plan.n_chunks * plan.n_ctx) / seconds, (long long)(plan.n_chunks * plan.n_ctx), seconds,
                backend_name(backend).c_str(), pool.size());
    return kExitOk;
}

}  // namespace

Command eval_command() {
    return {
        "eval",
        "perplexity of one model on a text (as llama-perplexity), with evaluation tokens/s",
        {
            {"model", "FILE", "the GGUF to evaluate", false, "m"},
            {"data", "FILE", "text to score", false, "f"},
            {"ctx", "N", "tokens per chunk (default 512)", false, "c"},
            {"chunks", "N", "score only the first N chunks (default: all)"},
            {"threads", "N", "worker threads (default: all cores)", false, "t"},
            {"backend", "NAME", "cpu (default) or cuda: where the forward pass runs"},
        },
        eval_command_run,
    };
}

}  // namespace shootout::cli
