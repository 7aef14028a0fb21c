// What a Shootout run reports: the reference column and one column per variant, with every statistic of
// eval/statistics.h, pooled over the texts (and per text when several were scored). Rendered as the
// Markdown table, JSON (every statistic) and CSV; files are written atomically (tmp + rename).
//
// The CLI:  ShootoutReport r = build_report(pooled_run, reference_column, variant_columns);
//           r.title = ...; r.texts = ...; add_text(r, text_name, per_text_run);   // optional, per text
//           write_report_files(r, "results/qwen3-shootout");  // .md .json .csv
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/shootout_runner.h"
#include "eval/statistics.h"

namespace shootout::report {

struct ModelColumn {
    std::string name;           // column title
    std::string path;           // the GGUF it was loaded from ("" when unknown)
    uint64_t file_bytes = 0;    // size of the file on disk
    uint64_t weight_bytes = 0;  // bytes of tensor data (ModelInfo::weight_bytes)
    int64_t n_params = 0;       // ModelInfo::n_params
    // As llama.cpp's "BPW": bits of tensor data per weight (0 when n_params is unknown).
    double bits_per_weight() const { return n_params > 0 ? double(weight_bytes) * 8.0 / double(n_params) : 0.0; }
};

struct VariantColumn {
    ModelColumn model;
    eval::KldStats stats;
    int64_t n_chunks_resumed = 0;
};

struct TextSection {
    std::string text;
    eval::PplStats reference_ppl;
    std::vector<eval::KldStats> variants;  // in the order of ShootoutReport::variants
};

struct ShootoutReport {
    std::string title = "Shootout";
    std::string reference_mode;  // "dense", "top-k", "llama-logits-file"
    int64_t n_ctx = 0;
    int64_t n_chunks = 0;  // over all texts
    int64_t n_scored_tokens = 0;
    std::vector<std::string> texts;
    ModelColumn reference;
    eval::PplStats reference_ppl;
    std::vector<VariantColumn> variants;
    std::vector<TextSection> per_text;  // empty for a single text
};

// Fills the statistics from a (pooled) run; `variants` must be in the run's order.
ShootoutReport build_report(const eval::RunResult& run, const ModelColumn& reference,
                            const std::vector<ModelColumn>& variants);
void add_text(ShootoutReport& report, const std::string& text, const eval::RunResult& text_run);

// A sentence on how the reference log-probs were obtained and what that means for the numbers.
std::string mode_description(const ShootoutReport& report);

std::string markdown_table(const ShootoutReport& report);
std::string report_json(const ShootoutReport& report);
std::string report_csv(const ShootoutReport& report);

// Writes prefix.md, prefix.json and prefix.csv, each atomically; Error names the file at fault.
void write_report_files(const ShootoutReport& report, const std::string& path_prefix);

}  // namespace shootout::report
