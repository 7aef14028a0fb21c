// shootout bench: prompt-processing and generation tokens/s of one or more models, as llama-bench
// measures them (-p 512,4096 -n 128 -d 0,4096 -r 5), printed as its Markdown table and written as
// Markdown, JSON and CSV.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "bench/bench.h"
#include "cli/command.h"
#include "cli/loaded_model.h"
#include "eval/atomic_file.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::cli {
namespace {

int bench_command_run(const Args& args) {
    bench::BenchOptions options;
    try {
        if (args.has("n-prompt")) options.prompt_sizes = bench::parse_sizes(args.get("n-prompt", ""), "--n-prompt");
        if (args.has("n-gen")) options.gen_sizes = bench::parse_sizes(args.get("n-gen", ""), "--n-gen");
        if (args.has("n-depth")) options.depths = bench::parse_sizes(args.get("n-depth", ""), "--n-depth");
    } catch (const UsageError&) {
        throw;
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
    options.repetitions = (int)args.get_int("repetitions", 5, 1, 1000);
    options.ubatch = args.get_int("ubatch", 512, 1, 1 << 20);
    const Backend backend = backend_option(args);
    const std::vector<std::string> paths = args.all("model");
    if (paths.empty()) throw UsageError("--model is required (see shootout bench --help)");
    const std::string out_prefix = args.get("out", "");
    ThreadPool pool((int)args.get_int("threads", 0, 0, 1024));
    // Every file opened (header read, data mapped) before any timing: a missing or broken last file
    // fails now, not after the first models' benches. Each is loaded and freed in turn below.
    std::vector<LoadedModel> models;
    for (const auto& path : paths) models.push_back(open_model(path, ""));

    // Decode's GB/s is held against the device's own read rate, measured before any model takes memory.
    const double read_gbps = bench::measured_read_gbps(backend);
    if (read_gbps > 0)
        std::fprintf(stderr, "bench: %s streams %.0f GB/s of reads (1 GiB, 16-byte loads, median of 7)\n",
                     backend_name(backend).c_str(), read_gbps);
    std::vector<bench::BenchResult> results;
    for (LoadedModel& loaded : models) {
        load_model(loaded, pool, backend);
        std::fprintf(stderr, "bench: %s on %s\n", loaded.name.c_str(), backend_name(backend).c_str());
        // Decode rows also say how fast they read the weights (bytes a step reads x steps a second).
        const double step_gb = (double)bench::decode_weight_bytes(*loaded.file) / 1e9;
        auto part = bench::run_bench(*loaded.model, loaded.name, backend_name(backend), options,
                                     [step_gb, read_gbps](const bench::BenchResult& r) {
                                         std::fprintf(stderr, "  %-8s %10.2f ± %.2f t/s", r.test.c_str(),
                                                      r.mean_tokens_per_second, r.sd_tokens_per_second);
                                         if (r.n_gen > 0) {
                                             const double gbps = step_gb * r.mean_tokens_per_second;
                                             std::fprintf(stderr, "  (%.3f GB of weights a token: %.0f GB/s", step_gb, gbps);
                                             if (read_gbps > 0) std::fprintf(stderr, ", %.0f %% of the reads", 100.0 * gbps / read_gbps);
                                             std::fprintf(stderr, ")");
                                         }
                                         std::fprintf(stderr, "\n");
                                     });
        results.insert(results.end(), part.begin(), part.end());
        loaded.model.reset();  // its memory (on a GPU, its weights) free before the next one loads
    }
    const std::string table = bench::markdown_table(results);
    std::cout << table;
    if (!out_prefix.empty()) {
        const auto dir = std::filesystem::path(out_prefix).parent_path();
        std::error_code ec;
        if (!dir.empty()) std::filesystem::create_directories(dir, ec);
        eval::write_file_atomically(out_prefix + ".md", table);
        eval::write_file_atomically(out_prefix + ".json", bench::to_json(results));
        eval::write_file_atomically(out_prefix + ".csv", bench::to_csv(results));
        std::fprintf(stderr, "bench: wrote %s.md, %s.json, %s.csv\n", out_prefix.c_str(), out_prefix.c_str(),
                     out_prefix.c_str());
    }
    return kExitOk;
}

}  // namespace

Command bench_command() {
    return {
        "bench",
        "prompt processing and generation speed (tokens/s) as llama-bench measures it",
        {
            {"model", "FILE", "a GGUF to measure", true, "m"},
            {"n-prompt", "N,N", "prompt sizes, comma-separated (default 512; 0 skips)", false, "p"},
            {"n-gen", "N,N", "generated tokens, comma-separated (default 128; 0 skips)", false, "n"},
            {"n-depth", "N,N", "tokens already in the KV cache before each test, comma-separated (default 0; "
                               "\"tg128 @ d4096\")", false, "d"},
            {"repetitions", "N", "timed repetitions per test after one warm-up (default 5)", false, "r"},
            {"ubatch", "N", "prompt tokens per forward pass (default 512)"},
            {"backend", "NAME", "cpu (default) or cuda"},
            {"threads", "N", "worker threads (default: all cores)", false, "t"},
            {"out", "PREFIX", "also write PREFIX.md, PREFIX.json and PREFIX.csv", false, "o"},
        },
        bench_command_run,
    };
}

}  // namespace shootout::cli
