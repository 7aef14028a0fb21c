// The streaming comparison: for each chunk, the reference and every variant run hidden() once; then,
// tile by tile of scored positions, the reference's logits and each variant's logits are produced and
// reduced at once (log-softmax, KLD, top-1, NLL, Δp), so memory is O(tile_rows * n_vocab) on top of the
// hidden states, never O(n_ctx * n_vocab). Finished chunks go to per-variant resume journals.
//
// Typical use (the CLI):
//   ChunkPlan plan = plan_chunks(tokens.size(), {n_ctx, chunks}, text_path);
//   DenseModelReference reference(*ref_model, pool, plan);          // or TopKReference / LlamaFileReference
//   RunResult r = run_shootout(reference, variants, tokens, plan, bos_or_minus_1, pool, options);
//   KldStats s = compute_kld_stats(r.variants[i].values);  PplStats base = compute_ppl_stats(r.reference_nll);
// When the reference cannot stay resident beside the variants: build_topk_cache() with the reference
// alone, free it, then run_shootout() with a TopKReference over the cache.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "eval/chunking.h"
#include "eval/reference_source.h"
#include "eval/token_values.h"
#include "eval/topk_cache.h"

namespace shootout {
class Model;
class ThreadPool;
}  // namespace shootout

namespace shootout::eval {

struct VariantInput {
    Model* model = nullptr;
    std::string name;      // column title in reports
    std::string identity;  // keys its resume journal, e.g. file_identity(path)
};

struct VariantResult {
    std::string name;
    TokenValues values;           // every scored token, in chunk order
    int64_t n_chunks_resumed = 0;  // chunks taken from the journal instead of computed
    std::string state_path;       // its journal ("" without a state dir)
};

struct RunResult {
    ChunkPlan plan;
    std::string reference_mode;
    std::vector<float> reference_nll;  // per scored token: the reference's own PPL (same for every variant)
    std::vector<VariantResult> variants;
};

// Appends a text's results to pooled ones (same variants, in the same order): pooled statistics over
// several texts; per-text statistics come from each text's own RunResult.
void append_run(RunResult& pooled, const RunResult& text);

// Joins a pass into the results of earlier passes over the same text, plan and reference, each pass
// scoring some of the variants (a GPU too small to hold them all at once: cli/device_plan.h): the
// variants in pass order, as one pass over all of them gives. Error when the passes' plans or
// reference values differ.
void join_pass(RunResult& joined, RunResult&& pass);

struct ChunkProgress {
    int64_t chunk = 0;  // 0-based
    int64_t n_chunks = 0;
    bool all_from_state = false;  // every variant's values came from the journals
    double seconds = 0;           // wall time of this chunk
    const RunResult* so_far = nullptr;
};

struct RunOptions {
    int64_t tile_rows = 32;
    std::string state_dir;           // "" : no resume journals
    std::string reference_identity;  // part of every journal key (e.g. file_identity of the reference)
    std::function<void(const ChunkProgress&)> on_chunk;
};

// `tokens` is the whole text (plan.n_chunks * plan.n_ctx of it are used); bos_token >= 0 replaces each
// chunk's first token (pass the vocab's BOS when it adds BOS, else -1). Every variant must have the
// reference's n_vocab (Error names the variant otherwise).
RunResult run_shootout(ReferenceSource& reference, std::span<const VariantInput> variants,
                       std::span<const int32_t> tokens, const ChunkPlan& plan, int32_t bos_token, ThreadPool& pool,
                       const RunOptions& options);

// Runs the reference alone over the plan and keeps the top-k of each scored row (see topk_cache.h).
TopKCache build_topk_cache(Model& reference, std::span<const int32_t> tokens, const ChunkPlan& plan,
                           int32_t bos_token, int64_t k, ThreadPool& pool, int64_t tile_rows = 32,
                           const std::function<void(int64_t chunk)>& on_chunk = {});

}  // namespace shootout::eval
