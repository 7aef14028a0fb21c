// The report as JSON: every statistic of every column, named as in eval/statistics.h.
#include "report/json_writer.h"
#include "report/shootout_report.h"

namespace shootout::report {

namespace {

void write_value_with_error(JsonWriter& j, std::string_view name, const eval::ValueWithError& v) {
    j.key(name).begin_object().field("value", v.value).field("error", v.error).end_object();
}

void write_ppl(JsonWriter& j, std::string_view name, const eval::PplStats& s) {
    j.key(name).begin_object();
    j.field("n_tokens", uint64_t(s.n_tokens));
    j.field("ppl", s.ppl.value).field("ppl_error", s.ppl.error);
    j.field("mean_nll", s.mean_nll.value).field("mean_nll_error", s.mean_nll.error);
    j.end_object();
}

void write_quantiles(JsonWriter& j, const eval::Quantiles& q) {
    j.key("quantiles").begin_object();
    j.field("max", double(q.max)).field("p99.9", double(q.p99_9)).field("p99", double(q.p99));
    j.field("p95", double(q.p95)).field("p90", double(q.p90)).field("p75", double(q.p75));
    j.field("median", double(q.median)).field("p25", double(q.p25)).field("p10", double(q.p10));
    j.field("p5", double(q.p5)).field("p1", double(q.p1)).field("p0.1", double(q.p0_1)).field("min", double(q.min));
    j.end_object();
}

void write_kld_stats(JsonWriter& j, const eval::KldStats& s) {
    j.begin_object();
    j.field("n_tokens", uint64_t(s.n_tokens)).field("enough_tokens", s.enough_tokens);
    write_ppl(j, "ppl_variant", s.ppl_variant);
    write_ppl(j, "ppl_reference", s.ppl_reference);
    j.field("ln_ppl_correlation", s.ln_ppl_correlation).field("ln_ppl_covariance", s.ln_ppl_covariance);
    write_value_with_error(j, "ln_ppl_ratio", s.ln_ppl_ratio);
    write_value_with_error(j, "ppl_ratio", s.ppl_ratio);
    write_value_with_error(j, "ppl_difference", s.ppl_difference);
    j.key("kld").begin_object().field("mean", s.kld.value).field("error", s.kld.error);
    write_quantiles(j, s.kld_quantiles);
    j.field("error_bound_mean", s.kld_error_bound_mean).field("error_bound_max", s.kld_error_bound_max);
    j.end_object();
    j.key("delta_p").begin_object().field("mean", s.delta_p.value).field("error", s.delta_p.error);
    write_quantiles(j, s.delta_p_quantiles);
    j.end_object();
    write_value_with_error(j, "rms_delta_p", s.rms_delta_p);
    j.key("same_top").begin_object();
    j.field("fraction", s.same_top.value).field("error", s.same_top.error).field("count", uint64_t(s.n_same_top));
    j.end_object();
    j.end_object();
}

void write_model(JsonWriter& j, const ModelColumn& m) {
    j.field("name", m.name).field("path", m.path).field("file_bytes", m.file_bytes);
    j.field("weight_bytes", m.weight_bytes).field("n_params", m.n_params);
    j.field("bits_per_weight", m.bits_per_weight());
}

}  // namespace

std::string report_json(const ShootoutReport& r) {
    JsonWriter j;
    j.begin_object();
    j.field("format", "shootout-report").field("version", 1);
    j.field("title", r.title);
    j.field("reference_mode", r.reference_mode).field("reference_mode_description", mode_description(r));
    j.field("n_ctx", r.n_ctx).field("n_chunks", r.n_chunks).field("n_scored_tokens", r.n_scored_tokens);
    j.key("texts").begin_array();
    for (const std::string& t : r.texts) {
        j.value(t);
    }
    j.end_array();
    j.key("reference").begin_object();
    write_model(j, r.reference);
    write_ppl(j, "ppl", r.reference_ppl);
    j.end_object();
    j.key("variants").begin_array();
    for (const VariantColumn& v : r.variants) {
        j.begin_object();
        write_model(j, v.model);
        j.field("n_chunks_resumed", v.n_chunks_resumed);
        j.key("stats");
        write_kld_stats(j, v.stats);
        j.end_object();
    }
    j.end_array();
    j.key("per_text").begin_array();
    for (const TextSection& t : r.per_text) {
        j.begin_object().field("text", t.text);
        write_ppl(j, "reference_ppl", t.reference_ppl);
        j.key("variants").begin_array();
        for (size_t v = 0; v < t.variants.size(); ++v) {
            j.begin_object().field("name", v < r.variants.size() ? r.variants[v].model.name : std::string());
            j.key("stats");
            write_kld_stats(j, t.variants[v]);
            j.end_object();
        }
        j.end_array().end_object();
    }
    j.end_array();
    j.end_object();
    return j.str();
}

}  // namespace shootout::report
