// Command-line arguments of one subcommand: `--name value`, `--name=value`, repeated options and flags.
// Each command declares its options up front, so an unknown or misspelt option is an error that names it
// instead of being silently ignored.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/error.h"

namespace shootout::cli {

// Bad command-line usage (unknown option, missing value): exit code 2 instead of 1.
class UsageError : public Error {
public:
    using Error::Error;
};

struct OptionSpec {
    OptionSpec(std::string name_, std::string value_name_, std::string help_, bool repeatable_ = false,
               std::string short_name_ = "")
        : name(std::move(name_)), value_name(std::move(value_name_)), help(std::move(help_)),
          repeatable(repeatable_), short_name(std::move(short_name_)) {}

    std::string name;        // without dashes: "model"
    std::string value_name;  // "FILE"; empty for a flag
    std::string help;
    bool repeatable = false;
    std::string short_name;  // "-o" style alias, without the dash; optional
};

class Args {
public:
    // Parses argv (after the subcommand name). Throws Error for unknown options, missing values,
    // a non-repeatable option given twice, and stray positional arguments.
    Args(const std::string& command, const std::vector<OptionSpec>& specs, const std::vector<std::string>& argv);

    bool flag(const std::string& name) const;
    bool has(const std::string& name) const;
    std::string get(const std::string& name, const std::string& fallback) const;
    std::string require(const std::string& name) const;  // Error "run: --model is required"
    std::vector<std::string> all(const std::string& name) const;
    long long get_int(const std::string& name, long long fallback, long long min_value, long long max_value) const;

private:
    std::string command_;
    std::map<std::string, std::vector<std::string>> values_;
};

// The usage text of a command: its synopsis line and one line per option.
std::string usage(const std::string& command, const std::string& summary, const std::vector<OptionSpec>& specs);

}  // namespace shootout::cli
