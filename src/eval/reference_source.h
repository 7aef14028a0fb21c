// Where the reference's side of each scored token comes from. The runner asks the same questions of
// every kind: run a chunk, make a tile of scored rows available, compare a variant's row against one.
//   DenseModelReference: the reference model itself, logits recomputed per tile (exact; the streaming mode)
//   TopKReference:       a TopKCache built earlier (the reference need not be resident; bounded error)
//   LlamaFileReference:  a llama-perplexity --kl-divergence-base file (llama.cpp's uint16 compression)
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/ops.h"
#include "eval/chunking.h"
#include "eval/llama_logits_file.h"
#include "eval/token_metrics.h"
#include "eval/topk_cache.h"

namespace shootout {
class Model;
class ThreadPool;
}  // namespace shootout

namespace shootout::eval {

class ReferenceSource {
public:
    virtual ~ReferenceSource() = default;
    virtual std::string mode() const = 0;  // "dense", "top-k", "llama-logits-file": named in reports
    virtual int64_t n_vocab() const = 0;
    // Once per chunk before its tiles, with the tokens the model sees (BOS already substituted).
    virtual void begin_chunk(int64_t chunk, std::span<const int32_t> chunk_tokens) = 0;
    // Makes scored rows [row_begin, row_begin + n_rows) of the current chunk available (row 0 is
    // position first_scored). Called from one thread.
    virtual void load_rows(int64_t row_begin, int64_t n_rows) = 0;
    // Thread-safe for loaded rows.
    virtual TokenMetrics compare(int64_t row, const float* variant_logits, const RowSummary& variant,
                                 int32_t next_token) const = 0;
    virtual float reference_nll(int64_t row, int32_t next_token) const = 0;
};

class DenseModelReference : public ReferenceSource {
public:
    DenseModelReference(Model& model, ThreadPool& pool, const ChunkPlan& plan);
    std::string mode() const override { return "dense"; }
    int64_t n_vocab() const override { return n_vocab_; }
    void begin_chunk(int64_t chunk, std::span<const int32_t> chunk_tokens) override;
    void load_rows(int64_t row_begin, int64_t n_rows) override;
    TokenMetrics compare(int64_t row, const float* variant_logits, const RowSummary& variant,
                         int32_t next_token) const override;
    float reference_nll(int64_t row, int32_t next_token) const override;

    // The loaded tile, for building a top-k cache from it.
    const float* row_logits(int64_t row) const;
    const RowSummary& row_summary(int64_t row) const;

private:
    Model& model_;
    ThreadPool& pool_;
    ChunkPlan plan_;
    int64_t n_vocab_, n_embd_;
    std::vector<float> hidden_;
    int64_t row_begin_ = 0, n_rows_ = 0;
    std::unique_ptr<backend::Buffer> logits_;  // the model's host_buffer(): its fastest copies
    std::vector<RowSummary> summaries_;
};

class TopKReference : public ReferenceSource {
public:
    // Rows of the cache are chunk * plan.n_scored_per_chunk + row.
    TopKReference(const TopKCache& cache, const ChunkPlan& plan);
    std::string mode() const override { return "top-k"; }
    int64_t n_vocab() const override { return cache_.n_vocab; }
    void begin_chunk(int64_t chunk, std::span<const int32_t>) override { chunk_ = chunk; }
    void load_rows(int64_t, int64_t) override {}
    TokenMetrics compare(int64_t row, const float* variant_logits, const RowSummary& variant,
                         int32_t next_token) const override;
    float reference_nll(int64_t row, int32_t next_token) const override;

private:
    size_t cache_row(int64_t row) const { return size_t(chunk_ * plan_.n_scored_per_chunk + row); }
    const TopKCache& cache_;
    ChunkPlan plan_;
    int64_t chunk_ = 0;
};

class LlamaFileReference : public ReferenceSource {
public:
    explicit LlamaFileReference(const LlamaLogitsFile& file) : file_(file) {}
    std::string mode() const override { return "llama-logits-file"; }
    int64_t n_vocab() const override { return file_.n_vocab(); }
    void begin_chunk(int64_t chunk, std::span<const int32_t>) override { chunk_ = chunk; }
    void load_rows(int64_t, int64_t) override {}
    TokenMetrics compare(int64_t row, const float* variant_logits, const RowSummary& variant,
                         int32_t next_token) const override;
    float reference_nll(int64_t row, int32_t next_token) const override;

private:
    const LlamaLogitsFile& file_;
    int64_t chunk_ = 0;
};

}  // namespace shootout::eval
