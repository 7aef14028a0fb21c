#include "cli/run_speed.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "eval/atomic_file.h"
#include "util/error.h"

namespace shootout::cli {

std::vector<OptionSpec> speed_option_specs() {
    return {
        {"speed", "", "also measure tokens/s of every model (default with --backend cuda)"},
        {"no-speed", "", "skip the speed table"},
        {"speed-prompts", "N,N", "prompt sizes of the speed table (default 512,4096)"},
        {"speed-gen", "N,N", "generated tokens of the speed table (default 128)"},
        {"speed-reps", "N", "timed repetitions per speed test (default 5)"},
    };
}

SpeedOptions speed_options(const Args& args, Backend backend) {
    SpeedOptions options;
    if (args.flag("speed") && args.flag("no-speed")) throw UsageError("--speed and --no-speed contradict each other");
    options.enabled = args.flag("speed") || (backend == Backend::Cuda && !args.flag("no-speed"));
    options.bench.prompt_sizes = {512, 4096};
    try {
        if (args.has("speed-prompts"))
            options.bench.prompt_sizes = bench::parse_sizes(args.get("speed-prompts", ""), "--speed-prompts");
        if (args.has("speed-gen")) options.bench.gen_sizes = bench::parse_sizes(args.get("speed-gen", ""), "--speed-gen");
    } catch (const UsageError&) {
        throw;
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
    options.bench.repetitions = (int)args.get_int("speed-reps", 5, 1, 1000);
    return options;
}

void SpeedLog::measure(LoadedModel& loaded) {
    if (!options_.enabled || !loaded.model) return;
    if (std::find(measured_.begin(), measured_.end(), &loaded) != measured_.end()) return;
    measured_.push_back(&loaded);
    std::fprintf(stderr, "speed: %s on %s\n", loaded.name.c_str(), backend_name(backend_).c_str());
    // The default sizes (pp4096) may not fit a small model's context: those tests are skipped and
    // said so, where `bench` refuses them (here the quality tables are already done).
    bench::BenchOptions fitting = options_.bench;
    const int64_t n_ctx = loaded.model->info().n_ctx_train;
    auto keep_fitting = [&](std::vector<int64_t>& sizes, const char* kind) {
        std::vector<int64_t> kept;
        for (int64_t n : sizes) {
            if (n_ctx <= 0 || n <= n_ctx) kept.push_back(n);
            else std::fprintf(stderr, "  %s%lld skipped: past the model's context length of %lld\n", kind, (long long)n,
                              (long long)n_ctx);
        }
        sizes = kept;
    };
    keep_fitting(fitting.prompt_sizes, "pp");
    keep_fitting(fitting.gen_sizes, "tg");
    auto part = bench::run_bench(*loaded.model, loaded.name, backend_name(backend_), fitting,
                                 [](const bench::BenchResult& r) {
                                     std::fprintf(stderr, "  %-8s %10.2f ± %.2f t/s\n", r.test.c_str(),
                                                  r.mean_tokens_per_second, r.sd_tokens_per_second);
                                 });
    rows_.insert(rows_.end(), part.begin(), part.end());
}

void SpeedLog::write(const LoadedModel& reference, const std::string& prefix) const {
    if (!options_.enabled) return;
    if (std::find(measured_.begin(), measured_.end(), &reference) == measured_.end())
        std::fprintf(stderr, "speed: the reference is not resident (top-k or base-logits mode): not measured\n");
    const std::string table = bench::markdown_table(rows_);
    std::cout << "\n" << table;
    eval::write_file_atomically(prefix + "-speed.md", table);
    eval::write_file_atomically(prefix + "-speed.json", bench::to_json(rows_));
    eval::write_file_atomically(prefix + "-speed.csv", bench::to_csv(rows_));
    std::fprintf(stderr, "shootout: wrote %s-speed.md, %s-speed.json, %s-speed.csv\n", prefix.c_str(), prefix.c_str(),
                 prefix.c_str());
}

}  // namespace shootout::cli
