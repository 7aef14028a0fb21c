#include "eval/token_metrics.h"

#include <cmath>

#include "eval/row_reductions.h"

namespace shootout::eval {

RowSummary summarize_row(const float* logits, int64_t n_vocab) {
    RowSummary s;
    detail::max_min(logits, n_vocab, s.max_logit, s.min_logit);
    // The first index holding the max, as a strict '>' scan finds it.
    for (int64_t i = 0; i < n_vocab; ++i) {
        if (logits[i] == s.max_logit) {
            s.argmax = int32_t(i);
            break;
        }
    }
    // expf of a non-positive float, summed in double, as llama.cpp does: precise to ~1e-7 relative.
    s.log_sum_exp = std::log(detail::sum_exp(logits, n_vocab, s.max_logit));
    return s;
}

TokenMetrics compare_dense(const float* reference_logits, const RowSummary& reference, const float* variant_logits,
                           const RowSummary& variant, int64_t n_vocab, int32_t next_token, double log_prob_cut) {
    const double norm_ref = reference.log_norm();
    const double norm_var = variant.log_norm();
    const double kld = detail::kld_sum(reference_logits, variant_logits, n_vocab, norm_ref, norm_var, log_prob_cut);
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
