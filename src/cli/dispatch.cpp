#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/command.h"
#include "util/error.h"

namespace shootout::cli {
namespace {

void print_overview() {
    std::printf("shootout: which quantization of this model should I run, and what does it cost me?\n\n");
    std::printf("usage: shootout <command> [options]   (shootout <command> --help for its options)\n\ncommands:\n");
    for (const auto& command : commands()) std::printf("  %-10s %s\n", command.name.c_str(), command.summary.c_str());
}

bool wants_help(const std::vector<std::string>& argv) {
    for (const auto& arg : argv)
        if (arg == "-h" || arg == "--help") return true;
    return false;
}

}  // namespace

int dispatch(const std::vector<std::string>& argv) {
    if (argv.empty() || argv[0] == "-h" || argv[0] == "--help" || argv[0] == "help") {
        print_overview();
        return argv.empty() ? kExitUsage : kExitOk;
    }
    const Command* command = nullptr;
    for (const auto& candidate : commands())
        if (candidate.name == argv[0]) command = &candidate;
    if (!command) {
        std::fprintf(stderr, "shootout: unknown command '%s' (try shootout --help)\n", argv[0].c_str());
        return kExitUsage;
    }
    const std::vector<std::string> rest(argv.begin() + 1, argv.end());
    if (wants_help(rest)) {
        std::fputs(usage(command->name, command->summary, command->options).c_str(), stdout);
        return kExitOk;
    }
    try {
        Args args(command->name, command->options, rest);
        return command->run(args);
    } catch (const UsageError& error) {
        std::fprintf(stderr, "shootout %s: %s\n", command->name.c_str(), error.what());
        return kExitUsage;
    } catch (const Error& error) {
        std::cout.flush();
        std::fprintf(stderr, "shootout %s: error: %s\n", command->name.c_str(), error.what());
        return kExitError;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "shootout %s: error: out of memory\n", command->name.c_str());
        return kExitError;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "shootout %s: error: %s\n", command->name.c_str(), error.what());
        return kExitError;
    }
}

}  // namespace shootout::cli
