#include "eval/topk_cache.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "eval/row_reductions.h"
#include "util/error.h"

namespace shootout::eval {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Sets row[ids[0..k)] to value: the kept logits set aside by value, so a tail reduction is one vector
// loop over the whole row (row_reductions.h).
void set_kept(std::vector<float>& row, const int32_t* ids, int64_t k, float value) {
    for (int64_t j = 0; j < k; ++j) row[size_t(ids[j])] = value;
}

// A per-thread copy of logits[0..n) with the kept ids at `value` (set_kept). A scalar loop skipping
// the kept ids in sort order took ~2/3 of fill_row's ~1.1 ms a 151936-logit row.
std::vector<float>& tail_copy(const float* logits, int64_t n, const int32_t* ids, int64_t k, float value) {
    thread_local std::vector<float> row;
    row.assign(logits, logits + n);
    set_kept(row, ids, k, value);
    return row;
}

}  // namespace

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
        // The tail's exp sum as compare_topk takes it, the kept logits at -inf.
        const float tail_max = logits[order[size_t(k)]];
        const std::vector<float>& tail = tail_copy(logits, n_vocab, row_ids, k, -kInf);
        const double sum = detail::sum_exp(tail.data(), n_vocab, tail_max);
        log_tail_mass[row] = float(double(tail_max) - norm + std::log(sum));
    } else {
        log_tail_mass[row] = -kInf;
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
        // the kept logits set aside at +inf for the min, then at -inf for the max and the exp sum.
        // A -inf adds ~1e-38 (exp8's floor) to a sum of at least 1 (the tail max's own term), so the
        // tail keeps its relative precision.
        std::vector<float>& tail = tail_copy(variant_logits, cache.n_vocab, row_ids, k, kInf);
        float unused = 0, tail_max = 0, tail_min = 0;
        detail::max_min(tail.data(), cache.n_vocab, unused, tail_min);
        set_kept(tail, row_ids, k, -kInf);
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
