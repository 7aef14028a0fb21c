// shootout imatrix: the importance matrix of a model on a calibration text, collected with Shootout's
// own CPU engine as llama-imatrix collects it (chunks of --ctx tokens from a fresh cache, BOS first
// where the vocab adds it, sums of x^2 of every blk.* matmul input, per expert for the routed experts
// of MoE layers) and written in llama.cpp's GGUF form, or the legacy .dat with --legacy.
#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "cli/loaded_model.h"
#include "cli/text_input.h"
#include "eval/chunking.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "quantize/imatrix_collect.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::cli {
namespace {

int imatrix_command_run(const Args& args) {
    const int64_t n_ctx = args.get_int("ctx", 512, 8, 1 << 20);
    const int64_t max_chunks = args.get_int("chunks", -1, 1, 1 << 30);
    const std::string text_path = args.require("data");
    const bool legacy = args.flag("legacy");
    const std::string out_path = args.get("output", legacy ? "imatrix.dat" : "imatrix.gguf");
    ThreadPool pool((int)args.get_int("threads", 0, 0, 1024));
    LoadedModel loaded = open_model(args.require("model"), "");
    auto tokenizer = Tokenizer::from_gguf(*loaded.file);
    // llama-imatrix needs 2 * n_ctx tokens and runs min(--chunks, tokens / n_ctx) whole chunks, as
    // llama-perplexity does.
    const std::vector<int32_t> tokens = tokenize_for_perplexity(*tokenizer, read_text_file(text_path));
    const eval::ChunkPlan plan = eval::plan_chunks((int64_t)tokens.size(), {n_ctx, max_chunks, true}, text_path);
    const int32_t bos = tokenizer->add_bos() ? tokenizer->bos_id() : -1;
    load_model(loaded, pool, Backend::Cpu);
    auto* transformer = dynamic_cast<model::Transformer*>(loaded.model.get());
    if (!transformer) fail(loaded.file->path(), "imatrix: this architecture's model cannot show its activations");

    quantize::ImatrixCollectOptions options;
    options.chunk_size = n_ctx;
    options.process_output = args.flag("process-output");
    quantize::ImatrixCollector collector(options);
    collector.sums().datasets.push_back(text_path);
    transformer->set_activation_observer(collector.observer());
    std::vector<float> logits;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t chunk = 0; chunk < plan.n_chunks; ++chunk) {
        const std::vector<int32_t> input = eval::chunk_tokens(tokens, plan, chunk, bos);
        const std::vector<float> hidden = loaded.model->hidden(input);
        if (options.process_output) {
            // The output head's input: llama-imatrix asks for every row's logits.
            logits.resize((size_t)(plan.n_ctx * loaded.model->info().n_vocab));
            loaded.model->logits(hidden.data(), plan.n_ctx, logits.data());
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "[%lld/%lld] %.1f tokens/s\n", (long long)(chunk + 1), (long long)plan.n_chunks,
                     double((chunk + 1) * plan.n_ctx) / seconds);
    }
    transformer->set_activation_observer({});

    const quantize::ImatrixSums& sums = collector.sums();
    if (legacy) {
        quantize::save_imatrix_legacy(sums, out_path);
    } else {
        quantize::save_imatrix_gguf(sums, out_path);
    }
    std::printf("imatrix: %zu entries, %lld chunks of %lld tokens from %s -> %s (%s)\n", sums.entries.size(),
                (long long)sums.chunk_count(), (long long)plan.n_ctx, text_path.c_str(), out_path.c_str(),
                legacy ? "legacy .dat" : "GGUF");
    return kExitOk;
}

}  // namespace

Command imatrix_command() {
    return {
        "imatrix",
        "importance matrix of a model on a calibration text (as llama-imatrix), GGUF or legacy .dat",
        {
            {"model", "FILE", "the GGUF to run (CPU)", false, "m"},
            {"data", "FILE", "calibration text", false, "f"},
            {"ctx", "N", "tokens per chunk (default 512)", false, "c"},
            {"chunks", "N", "use only the first N chunks (default: all)"},
            {"output", "FILE", "output file (default imatrix.gguf, or imatrix.dat with --legacy)", false, "o"},
            {"legacy", "", "write llama.cpp's legacy .dat form instead of GGUF"},
            {"process-output", "", "collect output.weight too (llama-imatrix --process-output)"},
            {"threads", "N", "worker threads (default: all cores)", false, "t"},
        },
        imatrix_command_run,
    };
}

}  // namespace shootout::cli
