#include "quantize/imatrix_collect.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace shootout::quantize {

int64_t ImatrixSums::chunk_count() const {
    int64_t max_count = 0;
    for (const auto& [name, e] : entries) {
        for (int64_t c : e.counts) max_count = std::max(max_count, c);
    }
    return chunk_size > 0 ? max_count / chunk_size : 0;
}

int ImatrixSums::legacy_ncall() const {
    int64_t max_count = 0;
    for (const auto& [name, e] : entries) {
        for (int64_t c : e.counts) max_count = std::max(max_count, c);
    }
    return chunk_size > 0 ? (int)((max_count + chunk_size - 1) / chunk_size) : 0;
}

ImportanceMatrix ImatrixSums::to_importance_matrix() const {
    ImportanceMatrix m;
    m.datasets = datasets;
    m.chunk_count = (int)chunk_count();
    m.chunk_size = (int)chunk_size;
    for (const auto& [name, e] : entries) {
        const size_t n_mat = e.counts.size(), n_in = e.in_sum2.size() / n_mat;
        std::vector<float>& means = m.entries[name];
        means.resize(e.in_sum2.size());
        for (size_t j = 0; j < n_mat; ++j) {
            // A slice that saw no token gets 1, as llama-quantize treats it.
            const float count = (float)e.counts[j];
            for (size_t i = 0; i < n_in; ++i) means[j * n_in + i] = count > 0 ? e.in_sum2[j * n_in + i] / count : 1.0f;
        }
    }
    return m;
}

ImatrixCollector::ImatrixCollector(ImatrixCollectOptions options) : options_(options) {
    sums_.chunk_size = options_.chunk_size;
}

backend::ActivationObserver ImatrixCollector::observer() {
    return [this](const backend::Weight& w, const float* x, int64_t n_rows, backend::ExpertOf expert) {
        observe(w, x, n_rows, expert);
    };
}

bool ImatrixCollector::wants(const std::string& name, int64_t n_rows) const {
    if (n_rows < options_.min_rows) return false;
    return name.compare(0, 4, "blk.") == 0 || (options_.process_output && name == "output.weight");
}

void ImatrixCollector::observe(const backend::Weight& w, const float* x, int64_t n_rows, backend::ExpertOf expert) {
    const bool routed = expert.index >= 0;
    // llama-imatrix takes every MUL_MAT_ID (routed experts) whatever its row count.
    if (routed ? n_rows <= 0 : !wants(w.name, n_rows)) return;
    if (routed && expert.index >= expert.n_expert)
        fail(w.name, "imatrix: expert " + std::to_string(expert.index) + " of " + std::to_string(expert.n_expert));
    ImatrixSums::Entry& e = sums_.entries[w.name];
    const size_t n_in = (size_t)w.n_in, n_mat = routed ? (size_t)expert.n_expert : 1;
    if (e.in_sum2.empty()) {
        e.in_sum2.assign(n_in * n_mat, 0.0f);
        e.counts.assign(n_mat, 0);
    } else if (e.in_sum2.size() != n_in * n_mat || e.counts.size() != n_mat) {
        fail(w.name, "imatrix: shape changed from " + std::to_string(e.in_sum2.size() / e.counts.size()) + " x " +
                         std::to_string(e.counts.size()) + " to " + std::to_string(n_in) + " x " + std::to_string(n_mat));
    }
    // Row by row in float, the order and precision llama-imatrix accumulates in, so the sums agree
    // to the last bit when the activations do. A routed expert adds into its own slice of n_in.
    const size_t slice = routed ? (size_t)expert.index : 0;
    float* sum = e.in_sum2.data() + slice * n_in;
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* row = x + (size_t)r * n_in;
        for (size_t j = 0; j < n_in; ++j) sum[j] += row[j] * row[j];
    }
    for (size_t j = 0; j < n_in; ++j) {
        if (!std::isfinite(sum[j])) fail(w.name, "imatrix: non-finite sum of squares in column " + std::to_string(j));
    }
    e.counts[slice] += n_rows;
}

}  // namespace shootout::quantize
