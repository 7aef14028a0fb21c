// A tiny deterministic causal "language model" for runner tests: hidden state h_t = tanh(E[tok_t] +
// mean_{s<=t} E[tok_s]) (an attention-like average, so the first token still matters at the scored
// positions), logits = W h (+ a per-variant perturbation of W). Counts its calls so tests can check
// the runner's memory discipline (one hidden() per chunk, logits() on tiles only).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "model/model.h"

class FakeModel : public shootout::Model {
public:
    // noise = 0 gives exactly the reference's weights.
    FakeModel(int64_t n_vocab, int64_t n_embd, float noise, uint32_t noise_seed = 7) {
        info_.architecture = "fake";
        info_.name = noise == 0 ? "fake-reference" : "fake-variant";
        info_.n_vocab = n_vocab;
        info_.n_embd = n_embd;
        info_.n_params = n_vocab * n_embd * 2;
        info_.weight_bytes = uint64_t(info_.n_params) * 2;
        std::mt19937 rng(12345);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        embedding_.resize(size_t(n_vocab * n_embd));
        output_.resize(size_t(n_vocab * n_embd));
        for (float& v : embedding_) v = normal(rng);
        for (float& v : output_) v = 2.5f * normal(rng);
        std::mt19937 noise_rng(noise_seed);
        for (float& v : output_) v += noise * normal(noise_rng);
    }

    const shootout::ModelInfo& info() const override { return info_; }

    std::vector<float> hidden(std::span<const int32_t> tokens) override {
        ++n_hidden_calls;
        const size_t d = size_t(info_.n_embd);
        std::vector<float> h(tokens.size() * d), sum(d, 0.0f);
        for (size_t t = 0; t < tokens.size(); ++t) {
            for (size_t j = 0; j < d; ++j) {
                const float e = embedding_[size_t(tokens[t]) * d + j];
                sum[j] += e;
                h[t * d + j] = std::tanh(e + sum[j] / float(t + 1));
            }
        }
        return h;
    }

    void logits(const float* hidden_rows, int64_t n_rows, float* out) override {
        ++n_logits_calls;
        max_logits_rows = std::max(max_logits_rows, n_rows);
        const size_t d = size_t(info_.n_embd), v = size_t(info_.n_vocab);
        for (size_t r = 0; r < size_t(n_rows); ++r) {
            for (size_t i = 0; i < v; ++i) {
                float sum = 0;
                for (size_t j = 0; j < d; ++j) sum += output_[i * d + j] * hidden_rows[r * d + j];
                out[r * v + i] = sum;
            }
        }
    }

    // deferred: logits_start only takes the request (a copy of the rows, since the caller may reuse
    // them) and fills the tile with NaN, logits_finish computes it, as a GPU's copy lands later: a
    // caller reading a tile before its finish, or starting the next request into a tile it still
    // reads, sees NaN.
    void logits_start(const float* hidden_rows, int64_t n_rows, float* out) override {
        if (!deferred) {
            logits(hidden_rows, n_rows, out);
            return;
        }
        if (pending_out_) ++n_requests_overlapping;
        ++n_deferred_requests;
        pending_rows_.assign(hidden_rows, hidden_rows + n_rows * info_.n_embd);
        pending_n_ = n_rows;
        pending_out_ = out;
        std::fill(out, out + n_rows * info_.n_vocab, std::nanf(""));
    }
    void logits_finish() override {
        if (!pending_out_) return;
        logits(pending_rows_.data(), pending_n_, pending_out_);
        pending_out_ = nullptr;
    }
    bool logits_overlap() const override { return deferred; }
    bool pending() const { return pending_out_ != nullptr; }

    // All logits of a chunk at once, for checking the tiled runner against a plain computation.
    std::vector<float> all_logits(std::span<const int32_t> tokens) {
        const std::vector<float> h = hidden(tokens);
        std::vector<float> out(tokens.size() * size_t(info_.n_vocab));
        logits(h.data(), int64_t(tokens.size()), out.data());
        return out;
    }

    int n_hidden_calls = 0, n_logits_calls = 0;
    int64_t max_logits_rows = 0;
    bool deferred = false;
    int n_deferred_requests = 0, n_requests_overlapping = 0;

private:
    shootout::ModelInfo info_;
    std::vector<float> pending_rows_;
    int64_t pending_n_ = 0;
    float* pending_out_ = nullptr;
    std::vector<float> embedding_, output_;
};

inline std::vector<int32_t> fake_text(size_t n_tokens, int64_t n_vocab, uint32_t seed = 3) {
    std::mt19937 rng(seed);
    std::vector<int32_t> tokens(n_tokens);
    for (int32_t& t : tokens) t = int32_t(rng() % uint32_t(n_vocab));
    return tokens;
}
