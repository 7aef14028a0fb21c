#include "eval/chunking.h"

#include <algorithm>

#include "util/error.h"

namespace shootout::eval {

ChunkPlan plan_chunks(int64_t n_tokens, const ChunkOptions& options, const std::string& source) {
    const int64_t n_ctx = options.n_ctx;
    if (n_ctx < 3) {
        fail(source, "context of " + std::to_string(n_ctx) + " tokens is too small to score (need >= 3)");
    }
    if (n_tokens <= 0) {
        fail(source, "the text is empty (0 tokens): nothing to score");
    }
    const int64_t n_needed = options.require_two_chunks ? 2 * n_ctx : n_ctx;
    if (n_tokens < n_needed) {
        fail(source, "the text tokenizes to only " + std::to_string(n_tokens) + " tokens; a context of " +
                         std::to_string(n_ctx) + " needs at least " + std::to_string(n_needed) +
                         (options.require_two_chunks ? " (2*n_ctx, as llama-perplexity requires)" : " (one chunk)") +
                         ": use a longer text or a smaller context");
    }
    ChunkPlan plan;
    plan.n_ctx = n_ctx;
    const int64_t n_chunks_max = n_tokens / n_ctx;
    plan.n_chunks = options.max_chunks > 0 ? std::min(options.max_chunks, n_chunks_max) : n_chunks_max;
    plan.first_scored = n_ctx / 2;
    plan.n_scored_per_chunk = n_ctx - 1 - plan.first_scored;
    return plan;
}

std::vector<int32_t> chunk_tokens(std::span<const int32_t> tokens, const ChunkPlan& plan, int64_t chunk,
                                  int32_t bos_token) {
    if (chunk < 0 || chunk >= plan.n_chunks || size_t((chunk + 1) * plan.n_ctx) > tokens.size()) {
        fail("chunk_tokens", "chunk " + std::to_string(chunk) + " is outside the plan of " +
                                 std::to_string(plan.n_chunks) + " chunks");
    }
    const auto begin = tokens.begin() + chunk * plan.n_ctx;
    std::vector<int32_t> out(begin, begin + plan.n_ctx);
    if (bos_token >= 0) {
        out[0] = bos_token;
    }
    return out;
}

}  // namespace shootout::eval
