// The statistics llama-perplexity --kl-divergence prints, with its formulas (perplexity.cpp,
// kl_divergence()): means with the standard error sqrt((S2/N - mean^2)/(N-1)) (0 for N <= 10), the
// covariance of ln PPL(Q) and ln PPL(base) (0 for N < 10), PPL = exp(mean NLL) with sigma = PPL * SE,
// ratio and difference with correlated errors, RMS Δp with sigma = 0.5/RMS * SE(Δp^2), same-top p with
// the binomial sigma, and its percentiles. Where llama.cpp would divide by zero (a variant identical to
// the reference has RMS Δp = 0 and zero-width intervals) the uncertainty here is 0 instead of NaN.
#pragma once

#include <cstddef>
#include <span>

#include "eval/token_values.h"

namespace shootout::eval {

struct ValueWithError {
    double value = 0;
    double error = 0;
};

// llama.cpp's mean_and_uncertainty and covariance lambdas.
ValueWithError mean_and_uncertainty(double sum, double sum2, size_t count);
double covariance(double sum_a, double sum_b, double sum_ab, size_t count);

struct PplStats {
    size_t n_tokens = 0;
    ValueWithError mean_nll;  // ln PPL and its SE
    ValueWithError ppl;       // exp(mean NLL), PPL * SE
};
PplStats compute_ppl_stats(std::span<const float> nll);

// Order statistics of one per-token metric (values as fractions, not percent).
struct Quantiles {
    float min = 0, p0_1 = 0, p1 = 0, p5 = 0, p10 = 0, p25 = 0, median = 0, p75 = 0, p90 = 0, p95 = 0, p99 = 0,
          p99_9 = 0, max = 0;
};
Quantiles compute_quantiles(std::span<const float> values);

struct KldStats {
    size_t n_tokens = 0;
    // llama.cpp prints the final block only from 100 scored tokens on; the numbers are computed anyway.
    bool enough_tokens = false;
    PplStats ppl_variant;    // PPL(Q)
    PplStats ppl_reference;  // PPL(base)
    double ln_ppl_covariance = 0;
    double ln_ppl_correlation = 0;  // Cor(ln PPL(Q), ln PPL(base)); 0 when an SE is 0
    ValueWithError ln_ppl_ratio;    // mean ln(PPL(Q)/PPL(base))
    ValueWithError ppl_ratio;       // PPL(Q)/PPL(base)
    ValueWithError ppl_difference;  // PPL(Q)-PPL(base)
    ValueWithError kld;
    Quantiles kld_quantiles;
    ValueWithError delta_p;
    Quantiles delta_p_quantiles;
    ValueWithError rms_delta_p;
    size_t n_same_top = 0;
    ValueWithError same_top;  // fraction of tokens whose argmax agrees
    // Top-k cache mode only (else 0): mean and max of the per-token bound on the KLD error; the mean
    // bounds the error of the mean KLD.
    double kld_error_bound_mean = 0;
    double kld_error_bound_max = 0;
};
KldStats compute_kld_stats(const TokenValues& values);

}  // namespace shootout::eval
