#include "eval/topk_cache.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "eval/row_reductions.h"
#include "util/error.h"

namespace shootout::eval {

TopKCache make_topk_cache(int64_t k, int64_t n_vocab) {
    if (k <= 0 || n_vocab <= 0) {
        fail("top-k cache", "k (" + std::to_string(k) + ") and n_vocab (" + std::to_string(n_vocab) +
                                ") must be positive");
    }
    TopKCache cache;
    cache.k = std::min(k, n_vocab);
    cache.n_vocab = n_vocab;
    return cache;
}

void TopKCache::resize(size_t n_rows) {
    ids.resize(n_rows * size_t(k));
    log_probs.resize(n_rows * size_t(k));
    log_tail_mass.resize(n_rows);
    nll.resize(n_rows);
}

void TopKCache::fill_row(size_t row, const float* logits, const RowSummary& summary, int32_t next_token) {
    std::vector<int32_t> order(static_cast<size_t>(n_vocab));
    std::iota(order.begin(), order.end(), 0);
    const auto before = [logits](int32_t a, int32_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
    const double norm = summary.log_norm();
    int32_t* row_ids = ids.data() + row * size_t(k);
    float* row_log_probs = log_probs.data() + row * size_t(k);
    for (int64_t j = 0; j < k; ++j) {
        row_ids[j] = order[size_t(j)];
        row_log_probs[j] = float(double(logits[order[size_t(j)]]) - norm);
    }
    // Sum the tail directly (not 1 - head): the tail can be 1e-6 and must keep its relative precision.
    // Accumulate relative to the largest tail logit so a far-below tail does not underflow to 0.
    if (k < n_vocab) {
        // The tail's exp sum as compare_topk takes it: one vector loop over a per-thread copy of the
        // row with the kept logits at -inf (a scalar exp an element in sort order took ~2/3 of this
        // function's ~1.1 ms a 151936-logit row).
        const float tail_max = logits[order[size_t(k)]];
        thread_local std::vector<float> tail;
        tail.assign(logits, logits + n_vocab);
        for (int64_t j = 0; j < k; ++j) tail[size_t(order[size_t(j)])] = -std::numeric_limits<float>::infinity();
        const double sum = detail::sum_exp(tail.data(), n_vocab, tail_max);
        log_tail_mass[row] = float(double(tail_max) - norm + std::log(sum));
    } else {
        log_tail_mass[row] = -std::numeric_limits<float>::infinity();
    }
    nll[row] = float(row_nll(logits, summary, next_token));
}

TokenMetrics compare_topk(const TopKCache& cache, size_t row, const float* variant_logits,
                          const RowSummary& variant, int32_t next_token) {
    const int64_t k = cache.k;
    const int32_t* row_ids = cache.ids.data() + row * size_t(k);
    const float* row_log_probs = cache.log_probs.data() + row * size_t(k);
    const double norm_var = variant.log_norm();

    double kld = 0;
    for (int64_t j = 0; j < k; ++j) {
        const double log_p = row_log_probs[j];
        const double log_q = double(variant_logits[row_ids[j]]) - norm_var;
        kld += std::exp(log_p) * (log_p - log_q);
    }
    double bound = 0;
    const double log_tail_p = cache.log_tail_mass[row];
    if (std::isfinite(log_tail_p)) {
        // The variant's tail: its mass Q (in log space, so it cannot underflow) and its smallest logit,
        // from a per-thread copy of the row with the kept logits set aside by value: +inf for the
        // min, then -inf for the max and the exp sum, so each is one vector loop (row_reductions.h).
        // A -inf adds ~1e-38 (exp8's floor) to a sum of at least 1 (the tail max's own term), so the
        // tail keeps its relative precision.
        constexpr float inf = std::numeric_limits<float>::infinity();
        thread_local std::vector<float> tail;
        tail.assign(variant_logits, variant_logits + cache.n_vocab);
        float unused = 0, tail_max = 0, tail_min = 0;
        for (int64_t j = 0; j < k; ++j) tail[size_t(row_ids[j])] = inf;
        detail::max_min(tail.data(), cache.n_vocab, unused, tail_min);
        for (int64_t j = 0; j < k; ++j) tail[size_t(row_ids[j])] = -inf;
        detail::max_min(tail.data(), cache.n_vocab, tail_max, unused);
        const double sum = detail::sum_exp(tail.data(), cache.n_vocab, tail_max);
        const double log_tail_q = double(tail_max) - norm_var + std::log(sum);
        const double log_q_min = double(tail_min) - norm_var;
        const double tail_p = std::exp(log_tail_p);
        kld += tail_p * (log_tail_p - log_tail_q);
        const double log_p_k = row_log_probs[k - 1];
        bound = std::max(0.0, tail_p * ((log_p_k - log_tail_p) + (log_tail_q - log_q_min)));
    }
    TokenMetrics m;
    const double nll_var = row_nll(variant_logits, variant, next_token);
    const double nll_ref = cache.nll[row];
    m.nll_variant = float(nll_var);
    m.nll_reference = cache.nll[row];
    m.kld = float(kld);
    m.delta_p = float(std::exp(-nll_var) - std::exp(-nll_ref));
    m.kld_error_bound = float(bound);
    m.same_top = row_ids[0] == variant.argmax;
    return m;
}

}  // namespace shootout::eval
