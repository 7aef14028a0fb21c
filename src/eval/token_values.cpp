#include "eval/token_values.h"

#include "util/error.h"

namespace shootout::eval {

void TokenValues::reserve(size_t n_tokens) {
    nll_variant.reserve(n_tokens);
    nll_reference.reserve(n_tokens);
    kld.reserve(n_tokens);
    delta_p.reserve(n_tokens);
    kld_error_bound.reserve(n_tokens);
    same_top.reserve(n_tokens);
}

void TokenValues::push_back(const TokenMetrics& m) {
    nll_variant.push_back(m.nll_variant);
    nll_reference.push_back(m.nll_reference);
    kld.push_back(m.kld);
    delta_p.push_back(m.delta_p);
    kld_error_bound.push_back(m.kld_error_bound);
    same_top.push_back(m.same_top ? 1 : 0);
}

void TokenValues::append(const TokenValues& other) {
    nll_variant.insert(nll_variant.end(), other.nll_variant.begin(), other.nll_variant.end());
    nll_reference.insert(nll_reference.end(), other.nll_reference.begin(), other.nll_reference.end());
    kld.insert(kld.end(), other.kld.begin(), other.kld.end());
    delta_p.insert(delta_p.end(), other.delta_p.begin(), other.delta_p.end());
    kld_error_bound.insert(kld_error_bound.end(), other.kld_error_bound.begin(), other.kld_error_bound.end());
    same_top.insert(same_top.end(), other.same_top.begin(), other.same_top.end());
}

TokenMetrics TokenValues::at(size_t i) const {
    TokenMetrics m;
    m.nll_variant = nll_variant[i];
    m.nll_reference = nll_reference[i];
    m.kld = kld[i];
    m.delta_p = delta_p[i];
    m.kld_error_bound = kld_error_bound[i];
    m.same_top = same_top[i] != 0;
    return m;
}

TokenValues TokenValues::slice(size_t begin, size_t n_tokens) const {
    if (begin + n_tokens > size()) {
        fail("TokenValues::slice", "range past the " + std::to_string(size()) + " tokens held");
    }
    TokenValues out;
    out.reserve(n_tokens);
    for (size_t i = begin; i < begin + n_tokens; ++i) {
        out.push_back(at(i));
    }
    return out;
}

}  // namespace shootout::eval
