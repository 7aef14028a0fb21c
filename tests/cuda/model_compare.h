// Helpers the whole-model GPU tests share (test_cuda_model.cpp, test_cuda_moe_deltanet.cpp): the model
// list from an environment variable, and the KLD between two logit rows in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

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

}  // namespace shootout::test
