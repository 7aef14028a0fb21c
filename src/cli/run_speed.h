// The speed part of `shootout run`: after the quality table, prompt-processing and generation tokens/s
// of the reference and every variant, measured as `shootout bench` measures them (pp512, pp4096, tg128
// by default). On by default with --backend cuda (where it takes seconds), on request on the CPU.
#pragma once

#include <string>
#include <vector>

#include "bench/bench.h"
#include "cli/args.h"
#include "cli/loaded_model.h"

namespace shootout::cli {

struct SpeedOptions {
    bool enabled = false;
    bench::BenchOptions bench;
};

// --speed / --no-speed / --speed-prompts / --speed-gen / --speed-reps. UsageError for bad values.
SpeedOptions speed_options(const Args& args, Backend backend);
// The option specs those read, for the command's list.
std::vector<OptionSpec> speed_option_specs();

// The speed table of a run, filled model by model: each is measured while it is resident (a run in
// passes frees the variants of a pass after it), once, and the rows keep the order of measuring.
class SpeedLog {
public:
    SpeedLog(const SpeedOptions& options, Backend backend) : options_(options), backend_(backend) {}
    bool enabled() const { return options_.enabled; }
    // Benches the model unless disabled, not resident or measured before (the same LoadedModel).
    void measure(LoadedModel& loaded);
    // Prints the table to stdout and writes prefix-speed.md, .json and .csv; notes on stderr a
    // reference never measured (top-k or base-logits mode free it or never load it).
    void write(const LoadedModel& reference, const std::string& prefix) const;

private:
    SpeedOptions options_;
    Backend backend_;
    std::vector<bench::BenchResult> rows_;
    std::vector<const LoadedModel*> measured_;
};

}  // namespace shootout::cli
