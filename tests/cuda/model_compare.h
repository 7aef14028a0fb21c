// Helpers the whole-model GPU tests share (test_cuda_model.cpp, test_cuda_moe_deltanet.cpp): the model
// list from an environment variable, the KLD between two logit rows in double, and the comparison of
// a CPU and a GPU model over one text (prefill and decode).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "../model/golden_logits.h"
#include "model/model.h"

namespace shootout::test {

// The ':'-separated paths in environment variable `var` (none when unset).
inline std::vector<std::string> paths_from_env(const char* var) {
    std::vector<std::string> paths;
    const char* env = std::getenv(var);
    if (!env) return paths;
    const std::string list = env;
    size_t begin = 0;
    while (begin < list.size()) {
        size_t end = list.find(':', begin);
        if (end == std::string::npos) end = list.size();
        if (end > begin) paths.push_back(list.substr(begin, end - begin));
        begin = end + 1;
    }
    return paths;
}

// KLD(P || Q) of the softmax of two logit rows of n, in double.
inline double kld(const float* p_logits, const float* q_logits, int64_t n) {
    auto log_softmax = [n](const float* z, std::vector<double>& out) {
        double max_z = -INFINITY;
        for (int64_t i = 0; i < n; ++i) max_z = std::max(max_z, (double)z[i]);
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += std::exp((double)z[i] - max_z);
        const double log_sum = max_z + std::log(sum);
        out.resize((size_t)n);
        for (int64_t i = 0; i < n; ++i) out[(size_t)i] = (double)z[i] - log_sum;
    };
    std::vector<double> lp, lq;
    log_softmax(p_logits, lp);
    log_softmax(q_logits, lq);
    double d = 0;
    for (int64_t i = 0; i < n; ++i) d += std::exp(lp[(size_t)i]) * (lp[(size_t)i] - lq[(size_t)i]);
    return d;
}

// Per-position KLD(P || Q): P given as logits [n_tokens][n_vocab], Q the model q run on the tokens at once.
inline std::vector<double> klds_to(const std::vector<float>& p_logits, Model& q, const std::vector<int32_t>& tokens) {
    const int64_t n = (int64_t)tokens.size(), n_vocab = q.info().n_vocab;
    const std::vector<float> q_logits = golden::prompt_logits(q, tokens);
    std::vector<double> out;
    for (int64_t t = 0; t < n; ++t) out.push_back(kld(&p_logits[(size_t)(t * n_vocab)], &q_logits[(size_t)(t * n_vocab)], n_vocab));
    return out;
}

// Per-position KLD(CPU || GPU) of one text: prefill = the GPU runs the whole text at once (the GEMM
// path); decode = the GPU runs the first n_prompt tokens, then one token per step over its cache (the
// matvec path), each step's logits against the CPU's at that position. The CPU runs the whole text.
struct BackendKlds {
    std::vector<double> prefill, decode;
    std::vector<float> cpu_logits;  // the CPU's, [n_tokens][n_vocab], for further comparisons
};

inline BackendKlds compare_backends(Model& cpu, Model& gpu, const std::vector<int32_t>& tokens, int64_t n_prompt) {
    const int64_t n = (int64_t)tokens.size(), n_vocab = cpu.info().n_vocab;
    BackendKlds out;
    const std::vector<float> cpu_hidden = cpu.hidden(tokens);
    std::vector<float>& cpu_logits = out.cpu_logits;
    cpu_logits.resize((size_t)(n * n_vocab));
    cpu.logits(cpu_hidden.data(), n, cpu_logits.data());
    auto cpu_row = [&](int64_t t) { return &cpu_logits[(size_t)(t * n_vocab)]; };

    const std::vector<float> gpu_hidden = gpu.hidden(tokens);
    if (gpu_hidden.size() != cpu_hidden.size())  // (a test fails on the exception)
        throw std::runtime_error("GPU hidden states: " + std::to_string(gpu_hidden.size()) + " floats, CPU " +
                                 std::to_string(cpu_hidden.size()));
    std::vector<float> gpu_logits((size_t)(n * n_vocab), NAN);
    gpu.logits(gpu_hidden.data(), n, gpu_logits.data());
    for (int64_t t = 0; t < n; ++t) out.prefill.push_back(kld(cpu_row(t), &gpu_logits[(size_t)(t * n_vocab)], n_vocab));

    std::vector<float> step_logits((size_t)n_vocab, NAN);
    gpu.start_sequence(n);
    gpu.decode(std::span<const int32_t>(tokens.data(), (size_t)n_prompt), step_logits.data());
    out.decode.push_back(kld(cpu_row(n_prompt - 1), step_logits.data(), n_vocab));
    for (int64_t t = n_prompt; t < n; ++t) {
        gpu.decode(std::span<const int32_t>(&tokens[(size_t)t], 1), step_logits.data());
        out.decode.push_back(kld(cpu_row(t), step_logits.data(), n_vocab));
    }
    return out;
}

inline double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / (double)v.size();
}
inline double max(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::nth_element(v.begin(), v.begin() + (long)v.size() / 2, v.end());
    return v[v.size() / 2];
}
// The first non-finite value's index, or -1 (a NaN KLD: an unwritten or broken logit row).
inline int64_t first_non_finite(const std::vector<double>& v) {
    for (size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v[i])) return (int64_t)i;
    return -1;
}

}  // namespace shootout::test
