#include "eval/statistics.h"

#include <algorithm>
#include <cmath>

#include "eval/percentiles.h"

namespace shootout::eval {

ValueWithError mean_and_uncertainty(double sum, double sum2, size_t count) {
    if (count < 1) {
        return {};
    }
    const double mean = sum / double(count);
    double variance = sum2 / double(count) - mean * mean;
    const double error = variance > 0 && count > 10 ? std::sqrt(variance / double(count - 1)) : 0.0;
    return {mean, error};
}

double covariance(double sum_a, double sum_b, double sum_ab, size_t count) {
    if (count < 10) {
        return 0.0;
    }
    const double n = double(count);
    return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

PplStats compute_ppl_stats(std::span<const float> nll) {
    double sum = 0, sum2 = 0;
    for (const float v : nll) {
        sum += v;
        sum2 += double(v) * v;
    }
    PplStats s;
    s.n_tokens = nll.size();
    s.mean_nll = mean_and_uncertainty(sum, sum2, nll.size());
    s.ppl.value = std::exp(s.mean_nll.value);
    s.ppl.error = s.ppl.value * s.mean_nll.error;
    return s;
}

Quantiles compute_quantiles(std::span<const float> values) {
    Quantiles q;
    if (values.empty()) {
        return q;
    }
    const std::vector<float> sorted = sorted_copy(values);
    q.min = sorted.front();
    q.p0_1 = percentile_sorted(sorted, 0.001f);
    q.p1 = percentile_sorted(sorted, 0.010f);
    q.p5 = percentile_sorted(sorted, 0.050f);
    q.p10 = percentile_sorted(sorted, 0.100f);
    q.p25 = percentile_sorted(sorted, 0.250f);
    q.median = median_sorted(sorted);
    q.p75 = percentile_sorted(sorted, 0.750f);
    q.p90 = percentile_sorted(sorted, 0.900f);
    q.p95 = percentile_sorted(sorted, 0.950f);
    q.p99 = percentile_sorted(sorted, 0.990f);
    q.p99_9 = percentile_sorted(sorted, 0.999f);
    q.max = sorted.back();
    return q;
}

KldStats compute_kld_stats(const TokenValues& values) {
    KldStats s;
    const size_t n = values.size();
    s.n_tokens = n;
    s.enough_tokens = n >= 100;
    s.ppl_variant = compute_ppl_stats(values.nll_variant);
    s.ppl_reference = compute_ppl_stats(values.nll_reference);

    double sum_nll_nll_ref = 0, sum_kld = 0, sum_kld2 = 0, sum_dp = 0, sum_dp2 = 0, sum_dp4 = 0, sum_bound = 0;
    double max_bound = 0;
    for (size_t i = 0; i < n; ++i) {
        sum_nll_nll_ref += double(values.nll_variant[i]) * values.nll_reference[i];
        sum_kld += values.kld[i];
        sum_kld2 += double(values.kld[i]) * values.kld[i];
        const double dp2 = double(values.delta_p[i]) * values.delta_p[i];
        sum_dp += values.delta_p[i];
        sum_dp2 += dp2;
        sum_dp4 += dp2 * dp2;
        sum_bound += values.kld_error_bound[i];
        max_bound = std::max(max_bound, double(values.kld_error_bound[i]));
        s.n_same_top += values.same_top[i] != 0;
    }
    const ValueWithError& ln_q = s.ppl_variant.mean_nll;
    const ValueWithError& ln_b = s.ppl_reference.mean_nll;
    double sum_nll = 0, sum_nll_ref = 0;
    for (size_t i = 0; i < n; ++i) {
        sum_nll += values.nll_variant[i];
        sum_nll_ref += values.nll_reference[i];
    }
    const double cov = covariance(sum_nll, sum_nll_ref, sum_nll_nll_ref, n);
    s.ln_ppl_covariance = cov;
    s.ln_ppl_correlation = ln_q.error > 0 && ln_b.error > 0 ? cov / (ln_q.error * ln_b.error) : 0.0;
    s.ln_ppl_ratio.value = ln_q.value - ln_b.value;
    s.ln_ppl_ratio.error = std::sqrt(std::max(0.0, ln_q.error * ln_q.error + ln_b.error * ln_b.error - 2 * cov));
    s.ppl_ratio.value = std::exp(s.ln_ppl_ratio.value);
    s.ppl_ratio.error = s.ppl_ratio.value * s.ln_ppl_ratio.error;
    const double ppl_q = s.ppl_variant.ppl.value, ppl_b = s.ppl_reference.ppl.value;
    const double sigma_q = s.ppl_variant.ppl.error, sigma_b = s.ppl_reference.ppl.error;
    s.ppl_difference.value = ppl_q - ppl_b;
    s.ppl_difference.error =
        std::sqrt(std::max(0.0, sigma_q * sigma_q + sigma_b * sigma_b - 2 * ppl_q * ppl_b * cov));

    s.kld = mean_and_uncertainty(sum_kld, sum_kld2, n);
    s.kld_quantiles = compute_quantiles(values.kld);
    s.delta_p = mean_and_uncertainty(sum_dp, sum_dp2, n);
    s.delta_p_quantiles = compute_quantiles(values.delta_p);
    const ValueWithError mse = mean_and_uncertainty(sum_dp2, sum_dp4, n);
    s.rms_delta_p.value = std::sqrt(mse.value);
    s.rms_delta_p.error = s.rms_delta_p.value > 0 ? 0.5 / s.rms_delta_p.value * mse.error : 0.0;
    if (n > 0) {
        const double p = double(s.n_same_top) / double(n);
        s.same_top.value = p;
        s.same_top.error = n > 1 ? std::sqrt(p * (1 - p) / double(n - 1)) : 0.0;
        s.kld_error_bound_mean = sum_bound / double(n);
        s.kld_error_bound_max = max_bound;
    }
    return s;
}

}  // namespace shootout::eval
