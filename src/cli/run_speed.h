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

// Benches every resident model (a reference freed for top-k mode is skipped, with a note), prints
// the table to stdout and writes prefix-speed.md, .json and .csv.
void run_speed(LoadedModel& reference, std::vector<LoadedModel>& variants, Backend backend,
               const SpeedOptions& options, const std::string& prefix);

}  // namespace shootout::cli
