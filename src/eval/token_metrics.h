// Per scored token: what the reference and a variant say about the next token, reduced from their
// logits rows at once so no [ctx x vocab] matrix is ever kept. Definitions follow llama-perplexity's
// --kl-divergence (tools/perplexity/perplexity.cpp), but from exact log-softmax values (llama.cpp reads
// the reference back from a uint16-compressed file, whose noise floor is KLD ~5e-4).
#pragma once

#include <cstdint>
#include <limits>

namespace shootout::eval {

// llama.cpp's KLD sums only over tokens whose reference log-prob exceeds -16: its uint16 file encodes
// logits within 16 of the max and stores the rest as its minimum, so those carry log p <= -16 and are
// cut. Applying the same cut to exact log-probs keeps our KLD comparable to llama.cpp's (the cut mass
// is below vocab * e^-16, and the minimum KLD can be slightly negative, as in llama.cpp).
inline constexpr double kKldLogProbCut = -16.0;
inline constexpr double kNoKldCut = -std::numeric_limits<double>::infinity();

// What a logits row needs for log-softmax: log p_i = logit_i - max_logit - log_sum_exp.
struct RowSummary {
    float max_logit = 0;
    float min_logit = 0;
    int32_t argmax = 0;      // first index holding the max (llama.cpp's strict '>' scan)
    double log_sum_exp = 0;  // log sum_i exp(logit_i - max_logit), summed in double

    double log_norm() const { return double(max_logit) + log_sum_exp; }  // log p_i = logit_i - log_norm()
};

RowSummary summarize_row(const float* logits, int64_t n_vocab);

// One scored token. Stored as floats (as llama.cpp stores its per-token KLD and Δp) so that a resumed
// run reproduces an uninterrupted one bit for bit.
struct TokenMetrics {
    float nll_variant = 0;    // -log p_Q(next token)
    float nll_reference = 0;  // -log p_base(next token)
    float kld = 0;            // sum_i p_base,i (log p_base,i - log p_Q,i) over log p_base,i > cut
    float delta_p = 0;        // p_Q(next) - p_base(next)
    float kld_error_bound = 0;  // 0 when exact; top-k cache mode: bound on |KLD error| (topk_cache.h)
    bool same_top = false;    // argmax_Q == argmax_base
};

// Reference and variant both as full logits rows (the streaming mode).
TokenMetrics compare_dense(const float* reference_logits, const RowSummary& reference, const float* variant_logits,
                           const RowSummary& variant, int64_t n_vocab, int32_t next_token,
                           double log_prob_cut = kKldLogProbCut);

// The variant's side of a token, shared by every reference kind.
inline double row_nll(const float* logits, const RowSummary& summary, int32_t token) {
    return summary.log_norm() - double(logits[token]);
}

}  // namespace shootout::eval
