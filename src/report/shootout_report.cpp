#include "report/shootout_report.h"

#include <cstdio>

#include "eval/atomic_file.h"
#include "util/error.h"

namespace shootout::report {

ShootoutReport build_report(const eval::RunResult& run, const ModelColumn& reference,
                            const std::vector<ModelColumn>& variants) {
    if (variants.size() != run.variants.size()) {
        fail("build_report", std::to_string(variants.size()) + " variant columns for a run of " +
                                 std::to_string(run.variants.size()) + " variants");
    }
    ShootoutReport r;
    r.reference_mode = run.reference_mode;
    r.n_ctx = run.plan.n_ctx;
    r.n_chunks = run.plan.n_chunks;
    r.n_scored_tokens = int64_t(run.reference_nll.size());
    r.reference = reference;
    r.reference_ppl = eval::compute_ppl_stats(run.reference_nll);
    for (size_t v = 0; v < variants.size(); ++v) {
        VariantColumn column;
        column.model = variants[v];
        column.stats = eval::compute_kld_stats(run.variants[v].values);
        column.n_chunks_resumed = run.variants[v].n_chunks_resumed;
        r.variants.push_back(std::move(column));
    }
    return r;
}

void add_text(ShootoutReport& report, const std::string& text, const eval::RunResult& text_run) {
    if (text_run.variants.size() != report.variants.size()) {
        fail(text, "scored " + std::to_string(text_run.variants.size()) + " variants, the report has " +
                       std::to_string(report.variants.size()));
    }
    TextSection section;
    section.text = text;
    section.reference_ppl = eval::compute_ppl_stats(text_run.reference_nll);
    for (const eval::VariantResult& v : text_run.variants) {
        section.variants.push_back(eval::compute_kld_stats(v.values));
    }
    report.per_text.push_back(std::move(section));
}

std::string mode_description(const ShootoutReport& report) {
    if (report.reference_mode == "dense") {
        return "reference log-probs exact (streamed, not compressed)";
    }
    if (report.reference_mode == "top-k") {
        double worst_mean_bound = 0;
        for (const VariantColumn& v : report.variants) {
            worst_mean_bound = std::max(worst_mean_bound, v.stats.kld_error_bound_mean);
        }
        char buf[160];
        std::snprintf(buf, sizeof(buf),
                      "reference cached as top-k log-probs + tail mass; mean KLD may read low by at most %.3g",
                      worst_mean_bound);
        return buf;
    }
    if (report.reference_mode == "llama-logits-file") {
        return "reference read from a llama.cpp --kl-divergence-base file (uint16 log-probs; KLD noise floor ~5e-4)";
    }
    return "reference mode " + report.reference_mode;
}

void write_report_files(const ShootoutReport& report, const std::string& path_prefix) {
    eval::write_file_atomically(path_prefix + ".md", markdown_table(report));
    eval::write_file_atomically(path_prefix + ".json", report_json(report));
    eval::write_file_atomically(path_prefix + ".csv", report_csv(report));
}

}  // namespace shootout::report
