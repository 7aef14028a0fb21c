#include "eval/reference_source.h"
#include "model/model.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::eval {

DenseModelReference::DenseModelReference(Model& model, ThreadPool& pool, const ChunkPlan& plan)
    : model_(model), pool_(pool), plan_(plan), n_vocab_(model.info().n_vocab), n_embd_(model.info().n_embd) {}

void DenseModelReference::begin_chunk(int64_t chunk, std::span<const int32_t> chunk_tokens) {
    hidden_ = model_.hidden(chunk_tokens);
    if (hidden_.size() != chunk_tokens.size() * size_t(n_embd_)) {
        fail(model_.info().name, "hidden() returned " + std::to_string(hidden_.size()) + " floats for chunk " +
                                     std::to_string(chunk) + ", expected " + std::to_string(chunk_tokens.size()) +
                                     " x " + std::to_string(n_embd_));
    }
    n_rows_ = 0;
}

void DenseModelReference::load_rows(int64_t row_begin, int64_t n_rows) {
    row_begin_ = row_begin;
    n_rows_ = n_rows;
    const size_t n_floats = size_t(n_rows * n_vocab_);
    if (!logits_ || logits_->n_floats() < n_floats) {
        logits_.reset();  // the old one first: a tile of an 8B model is ~150 MB of page-locked memory
        logits_ = model_.host_buffer(n_floats);
    }
    summaries_.resize(size_t(n_rows));
    const size_t hidden_row = size_t(plan_.first_scored + row_begin);
    float* logits = logits_->data();
    model_.logits(hidden_.data() + hidden_row * size_t(n_embd_), n_rows, logits);
    pool_.parallel_for(size_t(n_rows), [&](size_t begin, size_t end, int) {
        for (size_t r = begin; r < end; ++r) {
            summaries_[r] = summarize_row(logits + r * size_t(n_vocab_), n_vocab_);
        }
    });
}

const float* DenseModelReference::row_logits(int64_t row) const {
    if (row < row_begin_ || row >= row_begin_ + n_rows_) {
        fail("dense reference", "row " + std::to_string(row) + " is not in the loaded tile");
    }
    return logits_->data() + size_t(row - row_begin_) * size_t(n_vocab_);
}

const RowSummary& DenseModelReference::row_summary(int64_t row) const {
    row_logits(row);  // range check
    return summaries_[size_t(row - row_begin_)];
}

TokenMetrics DenseModelReference::compare(int64_t row, const float* variant_logits, const RowSummary& variant,
                                          int32_t next_token) const {
    return compare_dense(row_logits(row), row_summary(row), variant_logits, variant, n_vocab_, next_token);
}

float DenseModelReference::reference_nll(int64_t row, int32_t next_token) const {
    return float(row_nll(row_logits(row), row_summary(row), next_token));
}

TopKReference::TopKReference(const TopKCache& cache, const ChunkPlan& plan) : cache_(cache), plan_(plan) {
    if (cache.n_rows() < size_t(plan.n_scored_total())) {
        fail("top-k cache", "holds " + std::to_string(cache.n_rows()) + " rows, the run scores " +
                                std::to_string(plan.n_scored_total()));
    }
}

TokenMetrics TopKReference::compare(int64_t row, const float* variant_logits, const RowSummary& variant,
                                    int32_t next_token) const {
    return compare_topk(cache_, cache_row(row), variant_logits, variant, next_token);
}

float TopKReference::reference_nll(int64_t row, int32_t) const { return cache_.nll[cache_row(row)]; }

TokenMetrics LlamaFileReference::compare(int64_t row, const float* variant_logits, const RowSummary& variant,
                                         int32_t next_token) const {
    return compare_llama_row(file_.row(chunk_, row), file_.n_vocab(), variant_logits, variant, next_token);
}

float LlamaFileReference::reference_nll(int64_t row, int32_t next_token) const {
    return -llama_row_log_prob(file_.row(chunk_, row), next_token);
}

}  // namespace shootout::eval
