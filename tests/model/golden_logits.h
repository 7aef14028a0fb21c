// Golden logits (tools/golden_file.py's SHGOLD01 files in tests/data/model) and how a model's logits are
// compared with them: per position the KL divergence from the reference distribution to ours, top-1
// agreement and the largest logit difference over the reference's top-k tokens. Shared by the numpy
// references' tests (test_model_golden.cpp) and the transformers ones (test_tiny_hf_golden.cpp,
// tests/cuda/test_cuda_tiny_hf.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <span>
#include <vector>

#include "model/model.h"

namespace shootout::golden {

struct Golden {
    int32_t n_tokens = 0, n_vocab = 0, top_k = 0;
    std::vector<int32_t> tokens;
    std::vector<double> lse;        // [n_tokens]
    std::vector<int32_t> ids;       // [n_tokens][top_k]
    std::vector<float> logits;      // [n_tokens][top_k]
};

inline Golden read_golden(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    char magic[8];
    in.read(magic, 8);
    if (std::memcmp(magic, "SHGOLD01", 8) != 0) throw std::runtime_error("bad golden magic in " + path);
    Golden g;
    in.read((char*)&g.n_tokens, 4);
    in.read((char*)&g.n_vocab, 4);
    in.read((char*)&g.top_k, 4);
    g.tokens.resize(g.n_tokens);
    in.read((char*)g.tokens.data(), 4 * g.n_tokens);
    g.lse.resize(g.n_tokens);
    g.ids.resize((size_t)g.n_tokens * g.top_k);
    g.logits.resize(g.ids.size());
    for (int32_t t = 0; t < g.n_tokens; ++t) {
        in.read((char*)&g.lse[t], 8);
        in.read((char*)&g.ids[(size_t)t * g.top_k], 4 * g.top_k);
        in.read((char*)&g.logits[(size_t)t * g.top_k], 4 * g.top_k);
    }
    if (!in) throw std::runtime_error("truncated golden file " + path);
    return g;
}

struct Comparison {
    double max_kld = 0, mean_kld = 0, max_logit_diff = 0, max_reference_tail = 0;
    int top1_mismatches = 0;
};

// KLD(reference || ours) over the reference's top-k tokens plus one bucket for all other tokens.
// Merging tokens can only lower a KL divergence, so this is a lower bound of the full one, tight
// when the bucket's mass is small (max_reference_tail reports it).
inline Comparison compare(const Golden& g, const std::vector<float>& logits) {
    Comparison c;
    for (int32_t t = 0; t < g.n_tokens; ++t) {
        const float* row = logits.data() + (size_t)t * g.n_vocab;
        double max_logit = row[0];
        int32_t argmax = 0;
        for (int32_t v = 1; v < g.n_vocab; ++v)
            if (row[v] > max_logit) max_logit = row[argmax = v];
        double sum = 0;
        for (int32_t v = 0; v < g.n_vocab; ++v) sum += std::exp(row[v] - max_logit);
        const double lse = max_logit + std::log(sum);

        double kld = 0, p_top = 0;
        std::vector<bool> in_top((size_t)g.n_vocab, false);
        for (int32_t i = 0; i < g.top_k; ++i) {
            const int32_t id = g.ids[(size_t)t * g.top_k + i];
            const double ref_logit = g.logits[(size_t)t * g.top_k + i];
            const double log_p = ref_logit - g.lse[t], log_q = row[id] - lse;
            kld += std::exp(log_p) * (log_p - log_q);
            p_top += std::exp(log_p);
            in_top[(size_t)id] = true;
            c.max_logit_diff = std::max(c.max_logit_diff, std::fabs(row[id] - ref_logit));
        }
        // The stored top-k logits are float32, so p_top misses 1 by up to ~1e-6 even when the top-k
        // is the whole vocabulary: a smaller tail is rounding, not mass.
        const double p_tail = std::max(0.0, 1.0 - p_top);
        if (g.top_k < g.n_vocab && p_tail > 1e-6) {
            double q_tail = 0;
            for (int32_t v = 0; v < g.n_vocab; ++v)
                if (!in_top[(size_t)v]) q_tail += std::exp(row[v] - lse);
            kld += p_tail * std::log(p_tail / q_tail);
        }
        c.max_kld = std::max(c.max_kld, kld);
        c.mean_kld += kld / g.n_tokens;
        c.max_reference_tail = std::max(c.max_reference_tail, p_tail);
        if (argmax != g.ids[(size_t)t * g.top_k]) ++c.top1_mismatches;
    }
    return c;
}

// The model's logits for `tokens` run as one prompt ([n_tokens][n_vocab]).
inline std::vector<float> prompt_logits(Model& model, const std::vector<int32_t>& tokens) {
    const int64_t n = (int64_t)tokens.size(), n_vocab = model.info().n_vocab;
    const std::vector<float> hidden = model.hidden(tokens);
    std::vector<float> logits((size_t)(n * n_vocab));
    model.logits(hidden.data(), n, logits.data());
    return logits;
}

// The same, one token a step over the model's cache (its decode path: KV cache, recurrent state).
inline std::vector<float> step_logits(Model& model, const std::vector<int32_t>& tokens) {
    const int64_t n = (int64_t)tokens.size(), n_vocab = model.info().n_vocab;
    std::vector<float> logits((size_t)(n * n_vocab));
    model.start_sequence(n);
    for (int64_t t = 0; t < n; ++t)
        model.decode(std::span<const int32_t>(&tokens[(size_t)t], 1), &logits[(size_t)(t * n_vocab)]);
    return logits;
}

// The golden's tokens through the model as one prompt and token by token, each compared with it,
// and printed as one line: "tiny <label>: prompt max |dlogit| ..., token by token ...".
struct PromptAndSteps {
    Comparison prompt, steps;
};
inline PromptAndSteps compare_prompt_and_steps(Model& model, const Golden& g, const std::string& label) {
    const PromptAndSteps r{compare(g, prompt_logits(model, g.tokens)), compare(g, step_logits(model, g.tokens))};
    std::printf("tiny %s: prompt max |dlogit| %.2e, KLD max %.2e; token by token max |dlogit| %.2e, KLD max %.2e\n",
                label.c_str(), r.prompt.max_logit_diff, r.prompt.max_kld, r.steps.max_logit_diff, r.steps.max_kld);
    return r;
}

}  // namespace shootout::golden
