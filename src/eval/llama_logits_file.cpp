#include "eval/llama_logits_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "eval/binary_io.h"
#include "eval/row_reductions.h"
#include "util/error.h"

namespace shootout::eval {

namespace {

constexpr size_t kHeaderBytes = 8 + 3 * 4;

float row_scale(const uint16_t* row) {
    float v;
    std::memcpy(&v, row, 4);
    return v;
}

float row_min_log_prob(const uint16_t* row) {
    float v;
    std::memcpy(&v, row + 2, 4);
    return v;
}

// ggml's nearest_int: round half to even through the 1.5*2^23 magic constant.
int nearest_int(float value) {
    float shifted = value + 12582912.f;
    int bits;
    std::memcpy(&bits, &shifted, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

}  // namespace

std::unique_ptr<LlamaLogitsFile> LlamaLogitsFile::open(const std::string& path) {
    auto file = std::unique_ptr<LlamaLogitsFile>(new LlamaLogitsFile());
    file->mapped_ = std::make_unique<MappedFile>(path);
    const uint8_t* data = file->mapped_->data();
    const size_t size_bytes = file->mapped_->size_bytes();
    if (size_bytes < kHeaderBytes || std::memcmp(data, "_logits_", 8) != 0) {
        fail(path, "not a llama-perplexity logits file (no \"_logits_\" magic)");
    }
    int32_t header[3];
    std::memcpy(header, data + 8, sizeof(header));
    file->n_ctx_ = header[0];
    file->n_vocab_ = header[1];
    file->n_chunks_ = header[2];
    if (file->n_ctx_ < 3 || file->n_vocab_ < 1 || file->n_chunks_ < 1) {
        fail(path, "bad header: n_ctx " + std::to_string(header[0]) + ", n_vocab " + std::to_string(header[1]) +
                       ", n_chunk " + std::to_string(header[2]));
    }
    const uint64_t token_bytes = uint64_t(file->n_chunks_) * uint64_t(file->n_ctx_) * 4;
    const uint64_t n_scored = uint64_t(file->n_ctx_ - 1 - file->n_ctx_ / 2);
    const uint64_t row_bytes = uint64_t(llama_row_uint16s(file->n_vocab_)) * 2;
    const uint64_t expected = kHeaderBytes + token_bytes + uint64_t(file->n_chunks_) * n_scored * row_bytes;
    if (size_bytes != expected) {
        fail(path, "size " + std::to_string(size_bytes) + " bytes does not match the header (n_ctx " +
                       std::to_string(file->n_ctx_) + ", n_vocab " + std::to_string(file->n_vocab_) + ", " +
                       std::to_string(file->n_chunks_) + " chunks need " + std::to_string(expected) +
                       " bytes): truncated or not written to the end");
    }
    file->tokens_ = reinterpret_cast<const int32_t*>(data + kHeaderBytes);
    file->rows_ = data + kHeaderBytes + token_bytes;
    for (const int32_t token : file->tokens()) {
        if (token < 0 || token >= file->n_vocab_) {
            fail(path, "token id " + std::to_string(token) + " outside the vocabulary of " +
                           std::to_string(file->n_vocab_));
        }
    }
    return file;
}

ChunkPlan LlamaLogitsFile::plan() const {
    ChunkPlan plan;
    plan.n_ctx = n_ctx_;
    plan.n_chunks = n_chunks_;
    plan.first_scored = n_ctx_ / 2;
    plan.n_scored_per_chunk = n_ctx_ - 1 - plan.first_scored;
    return plan;
}

const uint16_t* LlamaLogitsFile::row(int64_t chunk, int64_t scored_row) const {
    const int64_t n_scored = n_ctx_ - 1 - n_ctx_ / 2;
    if (chunk < 0 || chunk >= n_chunks_ || scored_row < 0 || scored_row >= n_scored) {
        fail(path(), "row " + std::to_string(scored_row) + " of chunk " + std::to_string(chunk) + " is outside the file");
    }
    const size_t index = size_t(chunk * n_scored + scored_row);
    return reinterpret_cast<const uint16_t*>(rows_ + index * size_t(llama_row_uint16s(n_vocab_)) * 2);
}

void encode_llama_row(const float* logits, int64_t n_vocab, uint16_t* row_out) {
    float max_logit = logits[0], min_logit = logits[0];
    for (int64_t i = 1; i < n_vocab; ++i) {
        max_logit = std::max(max_logit, logits[i]);
        min_logit = std::min(min_logit, logits[i]);
    }
    min_logit = std::max(min_logit, max_logit - 16);
    double sum_exp = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        sum_exp += std::exp(logits[i] - max_logit);
    }
    const float log_sum_exp = float(std::log(sum_exp));
    const float min_log_prob = min_logit - max_logit - log_sum_exp;
    const float scale = (max_logit - min_logit) / 65535.f;
    std::memcpy(row_out, &scale, 4);
    std::memcpy(row_out + 2, &min_log_prob, 4);
    uint16_t* q = row_out + 4;
    if (scale != 0) {
        const float inv_scale = 1 / scale;
        for (int64_t i = 0; i < n_vocab; ++i) {
            q[i] = logits[i] > min_logit ? uint16_t(nearest_int(inv_scale * (logits[i] - min_logit))) : 0;
        }
    } else {
        std::fill(q, q + n_vocab, uint16_t(0));
    }
    if (n_vocab % 2 != 0) {
        q[n_vocab] = 0;  // padding: llama.cpp leaves it uninitialised; zero keeps our files reproducible
    }
}

float llama_row_log_prob(const uint16_t* row, int32_t token) {
    return row_scale(row) * row[4 + token] + row_min_log_prob(row);
}

int32_t llama_row_argmax(const uint16_t* row, int64_t n_vocab) {
    const uint16_t* q = row + 4;
    return int32_t(std::max_element(q, q + n_vocab) - q);  // first max; scale > 0 keeps the order
}

TokenMetrics compare_llama_row(const uint16_t* row, int64_t n_vocab, const float* variant_logits,
                               const RowSummary& variant, int32_t next_token) {
    const float scale = row_scale(row);
    const float min_log_prob = row_min_log_prob(row);
    const uint16_t* q = row + 4;
    const double norm_var = variant.log_norm();
    const double kld = detail::kld_sum_llama(q, variant_logits, n_vocab, scale, min_log_prob, norm_var, kKldLogProbCut);
    TokenMetrics m;
    const double nll_var = row_nll(variant_logits, variant, next_token);
    const float nll_base = -(scale * q[next_token] + min_log_prob);
    m.nll_variant = float(nll_var);
    m.nll_reference = nll_base;
    m.kld = float(kld);
    m.delta_p = float(std::exp(-nll_var) - std::exp(double(-nll_base)));
    // llama.cpp scans the decoded floats with '>' from i = 0; with scale > 0 that is the first max of q.
    // (scale == 0: every value equal, argmax 0 in both.)
    m.same_top = (scale != 0 ? llama_row_argmax(row, n_vocab) : 0) == variant.argmax;
    return m;
}

LlamaLogitsWriter::LlamaLogitsWriter(std::string path, int64_t n_ctx, int64_t n_vocab, std::span<const int32_t> tokens)
    : path_(std::move(path)), n_vocab_(n_vocab), row_(size_t(llama_row_uint16s(n_vocab))) {
    if (n_ctx < 3 || n_vocab < 1 || tokens.empty() || tokens.size() % size_t(n_ctx) != 0) {
        fail(path_, "cannot write a logits file for n_ctx " + std::to_string(n_ctx) + " and " +
                        std::to_string(tokens.size()) + " tokens (need whole chunks)");
    }
    const int64_t n_chunks = int64_t(tokens.size()) / n_ctx;
    n_rows_expected_ = n_chunks * (n_ctx - 1 - n_ctx / 2);
    file_ = std::fopen((path_ + ".tmp").c_str(), "wb");
    if (!file_) {
        fail(path_ + ".tmp", "cannot create");
    }
    std::string header("_logits_", 8);
    put(header, int32_t(n_ctx));
    put(header, int32_t(n_vocab));
    put(header, int32_t(n_chunks));
    write(header.data(), header.size());
    write(tokens.data(), tokens.size() * 4);
}

LlamaLogitsWriter::~LlamaLogitsWriter() {
    if (file_) {
        std::fclose(file_);
        std::remove((path_ + ".tmp").c_str());
    }
}

void LlamaLogitsWriter::write(const void* data, size_t n_bytes) {
    if (std::fwrite(data, 1, n_bytes, file_) != n_bytes) {
        fail(path_ + ".tmp", "write failed");
    }
}

void LlamaLogitsWriter::add_row(const float* logits) {
    if (n_rows_ >= n_rows_expected_) {
        fail(path_, "more rows than the chunks hold (" + std::to_string(n_rows_expected_) + ")");
    }
    encode_llama_row(logits, n_vocab_, row_.data());
    write(row_.data(), row_.size() * 2);
    ++n_rows_;
}

void LlamaLogitsWriter::finish() {
    if (n_rows_ != n_rows_expected_) {
        fail(path_, "got " + std::to_string(n_rows_) + " rows, the chunks need " + std::to_string(n_rows_expected_));
    }
    const bool flushed = std::fflush(file_) == 0;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    const std::string tmp = path_ + ".tmp";
    if (!flushed || !closed || std::rename(tmp.c_str(), path_.c_str()) != 0) {
        std::remove(tmp.c_str());
        fail(path_, "could not finish writing the logits file");
    }
}

}  // namespace shootout::eval
