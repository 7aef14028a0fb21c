// The per-token values of one variant against the reference, in scoring order: the accumulator from which
// every statistic is computed. Keeping the values (21 bytes a token; 583 chunks x 255 tokens is 3 MB)
// rather than running sums gives exact percentiles, sums in a fixed order (so the result does not depend
// on thread count or on a resume), and a merge that is a concatenation: per chunk, per text, pooled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "eval/token_metrics.h"

namespace shootout::eval {

struct TokenValues {
    std::vector<float> nll_variant;
    std::vector<float> nll_reference;
    std::vector<float> kld;
    std::vector<float> delta_p;
    std::vector<float> kld_error_bound;
    std::vector<uint8_t> same_top;

    size_t size() const { return kld.size(); }
    bool empty() const { return kld.empty(); }
    void reserve(size_t n_tokens);
    void push_back(const TokenMetrics& m);
    void append(const TokenValues& other);  // merge: other's tokens after ours
    TokenMetrics at(size_t i) const;
    // Tokens [begin, begin + n) as a new TokenValues (a chunk's slice).
    TokenValues slice(size_t begin, size_t n_tokens) const;
};

}  // namespace shootout::eval
