// The reference reduced to what the metrics need, for when the reference model cannot stay resident
// beside the variants: per scored token, the top-k log-probs (k ~ 32..64) with their token ids, the log
// of the probability mass of every other token (the "tail"), and -log p(next token). Run the reference
// once over all chunks, free it, then score each variant against the cache.
//
// KLD from the cache and its error bound. Let T be the tail (ids not kept), P = sum_T p_i (reference),
// Q = sum_T q_i (variant; known exactly, the variant's row is at hand). The exact KL is
//     KL = sum_{i kept} p_i log(p_i/q_i) + sum_{i in T} p_i log(p_i/q_i).
// We replace the tail sum by P log(P/Q): the KL of both distributions with the tail merged into one
// outcome. By the log-sum inequality sum_T p_i log(p_i/q_i) >= P log(P/Q), so the estimate never exceeds
// the exact KL, and the error E = KL - estimate = P * KL(p|T || q|T) >= 0. For an upper bound: each tail
// p_i <= p_k (the smallest kept probability, since the kept ids are the k largest) and each tail
// q_i >= q_min (the variant's smallest tail probability), so sum_T p_i log(p_i/q_i) <= P log(p_k/q_min):
//     0 <= E <= P * ( log(p_k / P) + log(Q / q_min) ).
// (The bracket is >= 0 because P <= |T| p_k and Q >= |T| q_min.) The bound is stored per token
// (TokenMetrics::kld_error_bound); its mean bounds the error of the mean KLD. It is 0 when k >= n_vocab.
// This mode estimates the plain KL without llama.cpp's "log p_base > -16" cut (token_metrics.h): the cut
// removes at most vocab * e^-16 of reference mass; compare modes on the same footing via this note.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "eval/token_metrics.h"

namespace shootout::eval {

struct TopKCache {
    int64_t k = 0;
    int64_t n_vocab = 0;
    std::vector<int32_t> ids;        // n_rows * k: descending log-prob, ties by ascending id
    std::vector<float> log_probs;    // n_rows * k
    std::vector<float> log_tail_mass;  // n_rows: log sum of p over the other ids (-inf when none)
    std::vector<float> nll;          // n_rows: -log p(next token)

    size_t n_rows() const { return nll.size(); }
    // Makes room for n_rows rows (fill_row may then run on distinct rows from several threads).
    void resize(size_t n_rows);
    void fill_row(size_t row, const float* logits, const RowSummary& summary, int32_t next_token);

    // Atomic (tmp + rename) binary save, and a load that checks every size; Error names the path.
    void save(const std::string& path) const;
    static TopKCache load(const std::string& path);
};

TopKCache make_topk_cache(int64_t k, int64_t n_vocab);

TokenMetrics compare_topk(const TopKCache& cache, size_t row, const float* variant_logits,
                          const RowSummary& variant, int32_t next_token);

}  // namespace shootout::eval
