// The report as CSV (RFC 4180): one line per model, the reference first, for spreadsheets and plots.
#include <cstdio>

#include "report/shootout_report.h"

namespace shootout::report {

namespace {

std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) {
        return text;
    }
    std::string out = "\"";
    for (const char c : text) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    return out + "\"";
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", v);
    return buf;
}

}  // namespace

std::string report_csv(const ShootoutReport& r) {
    std::string out =
        "name,role,file_bytes,bits_per_weight,n_tokens,ppl,ppl_error,ppl_ratio,ppl_ratio_error,kld_mean,kld_error,"
        "kld_median,kld_p99,kld_max,same_top,same_top_error,rms_delta_p,rms_delta_p_error,kld_error_bound_mean\n";
    out += csv_field(r.reference.name) + ",reference," + std::to_string(r.reference.file_bytes) + "," +
           number(r.reference.bits_per_weight()) + "," + std::to_string(r.reference_ppl.n_tokens) + "," +
           number(r.reference_ppl.ppl.value) + "," + number(r.reference_ppl.ppl.error) + ",1,0,,,,,,,,,,\n";
    for (const VariantColumn& v : r.variants) {
        const eval::KldStats& s = v.stats;
        out += csv_field(v.model.name) + ",variant," + std::to_string(v.model.file_bytes) + "," +
               number(v.model.bits_per_weight()) + "," + std::to_string(s.n_tokens) + "," +
               number(s.ppl_variant.ppl.value) + "," + number(s.ppl_variant.ppl.error) + "," +
               number(s.ppl_ratio.value) + "," + number(s.ppl_ratio.error) + "," + number(s.kld.value) + "," +
               number(s.kld.error) + "," + number(s.kld_quantiles.median) + "," + number(s.kld_quantiles.p99) + "," +
               number(s.kld_quantiles.max) + "," + number(s.same_top.value) + "," + number(s.same_top.error) + "," +
               number(s.rms_delta_p.value) + "," + number(s.rms_delta_p.error) + "," +
               number(s.kld_error_bound_mean) + "\n";
    }
    return out;
}

}  // namespace shootout::report
