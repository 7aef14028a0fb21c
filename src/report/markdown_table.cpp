// The shootout table: one row per metric, the reference's column first, then one column per variant.
#include <cstdio>
#include <functional>

#include "report/shootout_report.h"

namespace shootout::report {

namespace {

std::string format(const char* fmt, double a) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), fmt, a);
    return buf;
}

std::string format(const char* fmt, double a, double b) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), fmt, a, b);
    return buf;
}

// A '|' inside a cell would split it; a newline would end the table.
std::string cell(std::string text) {
    std::string out;
    for (const char c : text) {
        if (c == '|') {
            out += "\\|";
        } else if (c == '\n' || c == '\r') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
const char* const kNotApplicable = "—";

}  // namespace

std::string markdown_table(const ShootoutReport& r) {
    struct Row {
        std::string label;
        std::string reference;
        std::function<std::string(const VariantColumn&)> variant;
    };
    const std::vector<Row> rows = {
        {"Same top-1 (%)", kNotApplicable,
         [](const VariantColumn& v) { return format("%.2f ± %.2f", 100 * v.stats.same_top.value, 100 * v.stats.same_top.error); }},
        {"Mean KLD", kNotApplicable,
         [](const VariantColumn& v) { return format("%.6f ± %.6f", v.stats.kld.value, v.stats.kld.error); }},
        {"Median KLD", kNotApplicable, [](const VariantColumn& v) { return format("%.6f", v.stats.kld_quantiles.median); }},
        {"99th pct KLD", kNotApplicable, [](const VariantColumn& v) { return format("%.6f", v.stats.kld_quantiles.p99); }},
        {"Max KLD", kNotApplicable, [](const VariantColumn& v) { return format("%.6f", v.stats.kld_quantiles.max); }},
        {"PPL", format("%.4f ± %.4f", r.reference_ppl.ppl.value, r.reference_ppl.ppl.error),
         [](const VariantColumn& v) { return format("%.4f ± %.4f", v.stats.ppl_variant.ppl.value, v.stats.ppl_variant.ppl.error); }},
        {"PPL ratio", "1",
         [](const VariantColumn& v) { return format("%.4f ± %.4f", v.stats.ppl_ratio.value, v.stats.ppl_ratio.error); }},
        {"File size (GiB)", format("%.3f", double(r.reference.file_bytes) / kGiB),
         [](const VariantColumn& v) { return format("%.3f", double(v.model.file_bytes) / kGiB); }},
        {"Bits per weight", format("%.2f", r.reference.bits_per_weight()),
         [](const VariantColumn& v) { return format("%.2f", v.model.bits_per_weight()); }},
    };

    std::string out = "| Metric | " + cell(r.reference.name) + " (reference) |";
    for (const VariantColumn& v : r.variants) {
        out += " " + cell(v.model.name) + " |";
    }
    out += "\n|---|---:|";
    for (size_t i = 0; i < r.variants.size(); ++i) {
        out += "---:|";
    }
    out += "\n";
    for (const Row& row : rows) {
        out += "| " + row.label + " | " + row.reference + " |";
        for (const VariantColumn& v : r.variants) {
            out += " " + row.variant(v) + " |";
        }
        out += "\n";
    }
    std::string texts;
    for (const std::string& t : r.texts) {
        texts += (texts.empty() ? "" : ", ") + cell(t);
    }
    out += "\n" + std::to_string(r.n_chunks) + " chunks of " + std::to_string(r.n_ctx) + " tokens, " +
           std::to_string(r.n_scored_tokens) + " scored tokens" + (texts.empty() ? "" : " (" + texts + ")") + "; " +
           mode_description(r) + ". Uncertainties are one standard error, as llama-perplexity prints them.\n";
    return out;
}

}  // namespace shootout::report
