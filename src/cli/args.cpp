#include "cli/args.h"

#include <sstream>


namespace shootout::cli {
namespace {

[[noreturn]] void usage_error(const std::string& command, const std::string& what) {
    (void)command;  // dispatch() prefixes the command name
    throw UsageError(what);
}

const OptionSpec* find_spec(const std::vector<OptionSpec>& specs, const std::string& name) {
    for (const auto& spec : specs)
        if (spec.name == name || (!spec.short_name.empty() && spec.short_name == name)) return &spec;
    return nullptr;
}

}  // namespace

Args::Args(const std::string& command, const std::vector<OptionSpec>& specs, const std::vector<std::string>& argv)
    : command_(command) {
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        std::string name, value;
        bool has_inline_value = false;
        if (arg.rfind("--", 0) == 0) {
            name = arg.substr(2);
        } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
            name = arg.substr(1);
        } else {
            usage_error(command, "unexpected argument '" + arg + "' (options start with --; see --help)");
        }
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_inline_value = true;
        }
        const OptionSpec* spec = find_spec(specs, name);
        if (!spec) usage_error(command, "unknown option '" + arg + "' (see shootout " + command + " --help)");
        if (spec->value_name.empty()) {
            if (has_inline_value) usage_error(command, "option --" + spec->name + " takes no value");
            value = "1";
        } else if (!has_inline_value) {
            if (i + 1 >= argv.size()) usage_error(command, "option --" + spec->name + " needs a value (" + spec->value_name + ")");
            value = argv[++i];
        }
        auto& slot = values_[spec->name];
        if (!slot.empty() && !spec->repeatable) usage_error(command, "option --" + spec->name + " given more than once");
        slot.push_back(value);
    }
}

bool Args::flag(const std::string& name) const { return values_.count(name) != 0; }
bool Args::has(const std::string& name) const { return values_.count(name) != 0; }

std::string Args::get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second.back();
}

std::string Args::require(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) usage_error(command_, "--" + name + " is required (see shootout " + command_ + " --help)");
    return it->second.back();
}

std::vector<std::string> Args::all(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

long long Args::get_int(const std::string& name, long long fallback, long long min_value, long long max_value) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    const std::string& text = it->second.back();
    size_t used = 0;
    long long value = 0;
    try {
        value = std::stoll(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || text.empty())
        usage_error(command_, "--" + name + " expects an integer, got '" + text + "'");
    if (value < min_value || value > max_value)
        usage_error(command_, "--" + name + " must be in [" + std::to_string(min_value) + ", " + std::to_string(max_value) +
                           "], got " + text);
    return value;
}

std::string usage(const std::string& command, const std::string& summary, const std::vector<OptionSpec>& specs) {
    std::ostringstream out;
    out << "usage: shootout " << command << " [options]\n" << summary << "\n\noptions:\n";
    for (const auto& spec : specs) {
        std::string left = "  --" + spec.name;
        if (!spec.short_name.empty()) left = "  -" + spec.short_name + ", --" + spec.name;
        if (!spec.value_name.empty()) left += " " + spec.value_name;
        if (left.size() < 30) left.resize(30, ' ');
        else left += "  ";
        out << left << spec.help << (spec.repeatable ? " (repeatable)" : "") << "\n";
    }
    out << "  -h, --help" << std::string(20, ' ') << "show this help\n";
    return out.str();
}

}  // namespace shootout::cli
