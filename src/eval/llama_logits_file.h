// llama-perplexity's --kl-divergence-base file, as another source of reference log-probs: a user can
// score variants against a base file they already have, and we can check our logits against llama.cpp's.
//
// Layout (perplexity.cpp): "_logits_" (8 bytes), int32 n_ctx, int32 n_vocab, int32 n_chunk,
// int32 tokens[n_chunk * n_ctx]; then, per chunk, per scored position (n_ctx - 1 - n_ctx/2 of them), a
// row of 2*((n_vocab+1)/2) + 4 uint16: float scale, float min_log_prob, uint16 q[n_vocab] (padding to
// even). Decoded log p_i = scale * q_i + min_log_prob; logits more than 16 below the max were stored as 0.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "eval/chunking.h"
#include "eval/token_metrics.h"
#include "util/mapped_file.h"

namespace shootout::eval {

inline int64_t llama_row_uint16s(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

class LlamaLogitsFile {
public:
    // Maps and validates the file; Error names the path and the field at fault (bad magic, sizes that
    // do not match the header, a truncated file).
    static std::unique_ptr<LlamaLogitsFile> open(const std::string& path);

    const std::string& path() const { return mapped_->path(); }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_vocab() const { return n_vocab_; }
    int64_t n_chunks() const { return n_chunks_; }
    // The tokens llama.cpp scored (n_chunks * n_ctx, before BOS substitution).
    std::span<const int32_t> tokens() const { return {tokens_, size_t(n_chunks_ * n_ctx_)}; }
    ChunkPlan plan() const;
    const uint16_t* row(int64_t chunk, int64_t scored_row) const;

private:
    std::unique_ptr<MappedFile> mapped_;
    int64_t n_ctx_ = 0, n_vocab_ = 0, n_chunks_ = 0;
    const int32_t* tokens_ = nullptr;
    const uint8_t* rows_ = nullptr;
};

// llama.cpp's compression of one logits row (its log_softmax with a log_prob output).
void encode_llama_row(const float* logits, int64_t n_vocab, uint16_t* row_out);

// Reference log-prob of `token` decoded from a row, and the row's argmax (first max wins).
float llama_row_log_prob(const uint16_t* row, int32_t token);
int32_t llama_row_argmax(const uint16_t* row, int64_t n_vocab);

// A token's metrics with the reference decoded from a row, as llama.cpp computes them (KLD over the
// decoded log p_base > -16), the variant side exact.
TokenMetrics compare_llama_row(const uint16_t* row, int64_t n_vocab, const float* variant_logits,
                               const RowSummary& variant, int32_t next_token);

// Writes a file llama-perplexity --kl-divergence can read, streaming to path + ".tmp": rows are added in
// order (chunk by chunk, the scored positions of each); finish() checks the count and renames the file
// into place. Destroyed unfinished, it removes the temporary file.
class LlamaLogitsWriter {
public:
    LlamaLogitsWriter(std::string path, int64_t n_ctx, int64_t n_vocab, std::span<const int32_t> tokens);
    ~LlamaLogitsWriter();
    LlamaLogitsWriter(const LlamaLogitsWriter&) = delete;
    LlamaLogitsWriter& operator=(const LlamaLogitsWriter&) = delete;
    void add_row(const float* logits);
    void finish();

private:
    void write(const void* data, size_t n_bytes);
    std::string path_;
    int64_t n_vocab_, n_rows_expected_, n_rows_ = 0;
    std::FILE* file_ = nullptr;
    std::vector<uint16_t> row_;
};

}  // namespace shootout::eval
