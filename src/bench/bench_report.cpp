// The bench table as llama-bench prints it (Markdown), and its JSON and CSV twins.
#include <cstdio>
#include <string>

#include "bench/bench.h"

namespace shootout::bench {
namespace {

std::string format(const char* fmt, double a, double b = 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, a, b);
    return buf;
}

std::string size_text(uint64_t bytes) { return format("%.2f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0)); }

std::string params_text(int64_t n) {
    if (n >= 1000000000) return format("%.2f B", (double)n / 1e9);
    return format("%.2f M", (double)n / 1e6);
}

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += (char)c;
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += (char)c;
        }
    }
    return out + "\"";
}

// A CSV field, quoted when it holds a separator, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
    std::string out = "\"";
    for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string number(double v) { return format("%.6g", v); }

}  // namespace

std::string markdown_table(const std::vector<BenchResult>& results) {
    std::string out = "| model | size | params | backend | test | t/s |\n| --- | ---: | ---: | --- | ---: | ---: |\n";
    for (const auto& r : results) {
        out += "| " + r.model + " | " + size_text(r.model_bytes) + " | " + params_text(r.n_params) + " | " + r.backend +
               " | " + r.test + " | " + format("%.2f ± %.2f", r.mean_tokens_per_second, r.sd_tokens_per_second) + " |\n";
    }
    return out;
}

std::string to_json(const std::vector<BenchResult>& results) {
    std::string out = "[\n";
    for (size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        out += "  {\"model\": " + json_string(r.model) + ", \"model_size\": " + std::to_string(r.model_bytes) +
               ", \"model_n_params\": " + std::to_string(r.n_params) + ", \"backend\": " + json_string(r.backend) +
               ", \"test\": " + json_string(r.test) + ", \"n_prompt\": " + std::to_string(r.n_prompt) +
               ", \"n_gen\": " + std::to_string(r.n_gen) + ", \"n_depth\": " + std::to_string(r.n_depth) + ", \"avg_ts\": " + number(r.mean_tokens_per_second) +
               ", \"stddev_ts\": " + number(r.sd_tokens_per_second) + ", \"samples_ts\": [";
        for (size_t s = 0; s < r.samples_tokens_per_second.size(); ++s)
            out += (s ? ", " : "") + number(r.samples_tokens_per_second[s]);
        out += "]}" + std::string(i + 1 < results.size() ? "," : "") + "\n";
    }
    return out + "]\n";
}

std::string to_csv(const std::vector<BenchResult>& results) {
    std::string out = "model,model_size,model_n_params,backend,test,n_prompt,n_gen,n_depth,avg_ts,stddev_ts\n";
    for (const auto& r : results) {
        out += csv_field(r.model) + "," + std::to_string(r.model_bytes) + "," + std::to_string(r.n_params) + "," +
               csv_field(r.backend) + "," + csv_field(r.test) + "," + std::to_string(r.n_prompt) + "," +
               std::to_string(r.n_gen) + "," + std::to_string(r.n_depth) + "," + number(r.mean_tokens_per_second) +
               "," + number(r.sd_tokens_per_second) + "\n";
    }
    return out;
}

}  // namespace shootout::bench
