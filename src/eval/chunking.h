// How llama-perplexity cuts a token stream into scoring windows, so that Shootout scores exactly the
// tokens llama.cpp scores: non-overlapping chunks of n_ctx tokens, each run from a fresh KV cache, the
// first token of each chunk replaced by BOS when the vocab adds BOS, and only the second half scored
// (positions first = n_ctx/2 .. n_ctx-2 predict tokens first+1 .. n_ctx-1).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shootout::eval {

struct ChunkPlan {
    int64_t n_ctx = 0;
    int64_t n_chunks = 0;
    int64_t first_scored = 0;        // n_ctx / 2: position whose logits predict the first scored token
    int64_t n_scored_per_chunk = 0;  // n_ctx - 1 - first_scored (255 at n_ctx 512)

    int64_t n_scored_total() const { return n_chunks * n_scored_per_chunk; }
};

struct ChunkOptions {
    int64_t n_ctx = 512;
    int64_t max_chunks = -1;  // <= 0: every whole chunk (llama-perplexity's --chunks)
    // llama-perplexity refuses a text of fewer than 2*n_ctx tokens; keep that rule by default so that
    // a run Shootout accepts is one llama.cpp accepts too. Off: one whole chunk is enough.
    bool require_two_chunks = true;
};

// Throws Error naming `source` (the text's file name) for an empty text, a text shorter than the rule
// above, or an n_ctx too small to score anything (n_ctx < 3).
ChunkPlan plan_chunks(int64_t n_tokens, const ChunkOptions& options, const std::string& source);

// The n_ctx tokens the model sees for chunk `chunk`: tokens[chunk*n_ctx ..], with the first replaced by
// bos_token when bos_token >= 0 (pass -1 when the vocab does not add BOS).
std::vector<int32_t> chunk_tokens(std::span<const int32_t> tokens, const ChunkPlan& plan, int64_t chunk,
                                  int32_t bos_token);

// The token predicted by scored row `row` of chunk `chunk` (row 0 is position first_scored).
inline int32_t next_token(std::span<const int32_t> tokens, const ChunkPlan& plan, int64_t chunk, int64_t row) {
    return tokens[size_t(chunk * plan.n_ctx + plan.first_scored + row + 1)];
}

}  // namespace shootout::eval
