// A subcommand of the shootout CLI: its name, a one-line summary, its options and what it does.
// main() looks commands up in this list; each command lives in its own file (command_<name>.cpp).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/args.h"

namespace shootout::cli {

struct Command {
    std::string name;
    std::string summary;
    std::vector<OptionSpec> options;
    std::function<int(const Args&)> run;  // returns the exit code; throws Error for bad input
};

const std::vector<Command>& commands();

// Exit codes: 0 success, 1 bad input or failed run (one line on stderr), 2 bad usage.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Runs `shootout <argv...>` and returns the exit code; errors become one line on stderr.
int dispatch(const std::vector<std::string>& argv);

}  // namespace shootout::cli
