#include "eval/token_metrics.h"

#include <cmath>

namespace shootout::eval {

RowSummary summarize_row(const float* logits, int64_t n_vocab) {
    RowSummary s;
    s.max_logit = logits[0];
    s.min_logit = logits[0];
    for (int64_t i = 1; i < n_vocab; ++i) {
        if (logits[i] > s.max_logit) {
            s.max_logit = logits[i];
            s.argmax = int32_t(i);
        }
        if (logits[i] < s.min_logit) {
            s.min_logit = logits[i];
        }
    }
    // expf of a non-positive float, summed in double, as llama.cpp does: precise to ~1e-7 relative.
    double sum_exp = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        sum_exp += std::exp(logits[i] - s.max_logit);
    }
    s.log_sum_exp = std::log(sum_exp);
    return s;
}

TokenMetrics compare_dense(const float* reference_logits, const RowSummary& reference, const float* variant_logits,
                           const RowSummary& variant, int64_t n_vocab, int32_t next_token, double log_prob_cut) {
    const double norm_ref = reference.log_norm();
    const double norm_var = variant.log_norm();
    double kld = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        const double log_p_ref = double(reference_logits[i]) - norm_ref;
        if (log_p_ref > log_prob_cut) {
            const double log_p_var = double(variant_logits[i]) - norm_var;
            kld += double(std::exp(float(log_p_ref))) * (log_p_ref - log_p_var);
        }
    }
    TokenMetrics m;
    const double nll_var = row_nll(variant_logits, variant, next_token);
    const double nll_ref = row_nll(reference_logits, reference, next_token);
    m.nll_variant = float(nll_var);
    m.nll_reference = float(nll_ref);
    m.kld = float(kld);
    m.delta_p = float(std::exp(-nll_var) - std::exp(-nll_ref));
    m.same_top = reference.argmax == variant.argmax;
    return m;
}

}  // namespace shootout::eval
