#include "report/llama_style_text.h"

#include <cstdarg>
#include <cstdio>

namespace shootout::report {

namespace {

std::string printf_string(const char* fmt, ...) {
    char buf[256];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    return buf;
}

}  // namespace

std::string progress_header() {
    return "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS"
           "            Same top p\n";
}

std::string progress_line(int64_t chunk, const eval::KldStats& s) {
    return printf_string("%4lld", static_cast<long long>(chunk)) +
           printf_string("    %9.4lf ± %9.4lf", s.ppl_variant.ppl.value, s.ppl_variant.ppl.error) +
           printf_string("    %10.5lf ± %10.5lf", s.ln_ppl_ratio.value, s.ln_ppl_ratio.error) +
           printf_string("    %10.5lf ± %10.5lf", s.kld.value, s.kld.error) +
           printf_string("    %6.3lf ± %6.3lf %%", 100.0 * s.rms_delta_p.value, 100.0 * s.rms_delta_p.error) +
           printf_string("    %6.3lf ± %6.3lf %%", 100.0 * s.same_top.value, 100.0 * s.same_top.error) + "\n";
}

std::string llama_style_summary(const eval::KldStats& s) {
    const eval::Quantiles& k = s.kld_quantiles;
    const eval::Quantiles& d = s.delta_p_quantiles;
    std::string out = "====== Perplexity statistics ======\n";
    out += printf_string("Mean PPL(Q)                   : %10.6lf ± %10.6lf\n", s.ppl_variant.ppl.value, s.ppl_variant.ppl.error);
    out += printf_string("Mean PPL(base)                : %10.6lf ± %10.6lf\n", s.ppl_reference.ppl.value, s.ppl_reference.ppl.error);
    out += printf_string("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n", 100.0 * s.ln_ppl_correlation);
    out += printf_string("Mean ln(PPL(Q)/PPL(base))     : %10.6lf ± %10.6lf\n", s.ln_ppl_ratio.value, s.ln_ppl_ratio.error);
    out += printf_string("Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf\n", s.ppl_ratio.value, s.ppl_ratio.error);
    out += printf_string("Mean PPL(Q)-PPL(base)         : %10.6lf ± %10.6lf\n", s.ppl_difference.value, s.ppl_difference.error);
    out += "\n====== KL divergence statistics ======\n";
    out += printf_string("Mean    KLD: %10.6lf ± %10.6lf\n", s.kld.value, s.kld.error);
    out += printf_string("Maximum KLD: %10.6f\n", double(k.max));
    out += printf_string("99.9%%   KLD: %10.6f\n", double(k.p99_9));
    out += printf_string("99.0%%   KLD: %10.6f\n", double(k.p99));
    out += printf_string("95.0%%   KLD: %10.6f\n", double(k.p95));
    out += printf_string("90.0%%   KLD: %10.6f\n", double(k.p90));
    out += printf_string("Median  KLD: %10.6f\n", double(k.median));
    out += printf_string("10.0%%   KLD: %10.6f\n", double(k.p10));
    out += printf_string(" 5.0%%   KLD: %10.6f\n", double(k.p5));
    out += printf_string(" 1.0%%   KLD: %10.6f\n", double(k.p1));
    out += printf_string(" 0.1%%   KLD: %10.6f\n", double(k.p0_1));
    out += printf_string("Minimum KLD: %10.6f\n", double(k.min));
    out += "\n====== Token probability statistics ======\n";
    out += printf_string("Mean    Δp: %6.3lf ± %5.3lf %%\n", 100.0 * s.delta_p.value, 100.0 * s.delta_p.error);
    out += printf_string("Maximum Δp: %6.3lf%%\n", 100.0 * d.max);
    out += printf_string("99.9%%   Δp: %6.3lf%%\n", 100.0 * d.p99_9);
    out += printf_string("99.0%%   Δp: %6.3lf%%\n", 100.0 * d.p99);
    out += printf_string("95.0%%   Δp: %6.3lf%%\n", 100.0 * d.p95);
    out += printf_string("90.0%%   Δp: %6.3lf%%\n", 100.0 * d.p90);
    out += printf_string("75.0%%   Δp: %6.3lf%%\n", 100.0 * d.p75);
    out += printf_string("Median  Δp: %6.3lf%%\n", 100.0 * d.median);
    out += printf_string("25.0%%   Δp: %6.3lf%%\n", 100.0 * d.p25);
    out += printf_string("10.0%%   Δp: %6.3lf%%\n", 100.0 * d.p10);
    out += printf_string(" 5.0%%   Δp: %6.3lf%%\n", 100.0 * d.p5);
    out += printf_string(" 1.0%%   Δp: %6.3lf%%\n", 100.0 * d.p1);
    out += printf_string(" 0.1%%   Δp: %6.3lf%%\n", 100.0 * d.p0_1);
    out += printf_string("Minimum Δp: %6.3lf%%\n", 100.0 * d.min);
    out += printf_string("RMS Δp    : %6.3lf ± %5.3lf %%\n", 100.0 * s.rms_delta_p.value, 100.0 * s.rms_delta_p.error);
    out += printf_string("Same top p: %6.3lf ± %5.3lf %%\n", 100.0 * s.same_top.value, 100.0 * s.same_top.error);
    return out;
}

}  // namespace shootout::report
