#include "eval/shootout_runner.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "backend/ops.h"
#include "eval/resume_state.h"
#include "model/model.h"
#include "util/env.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::eval {

namespace {

std::string journal_key(const ReferenceSource& reference, const VariantInput& variant,
                        std::span<const int32_t> tokens, const ChunkPlan& plan, int32_t bos_token,
                        const RunOptions& options) {
    // One "name: value" line each; newlines inside values would fake lines, so they are flattened.
    auto line = [](const std::string& name, std::string value) {
        std::replace(value.begin(), value.end(), '\n', ' ');
        return name + ": " + value + "\n";
    };
    return line("shootout-state", "1") + line("mode", reference.mode()) +
           line("reference", options.reference_identity) + line("variant", variant.identity) +
           line("tokens", tokens_identity(tokens.first(size_t(plan.n_chunks * plan.n_ctx)))) +
           line("n_ctx", std::to_string(plan.n_ctx)) + line("bos", std::to_string(bos_token)) +
           line("n_vocab", std::to_string(reference.n_vocab()));
}

// Chunk values from a journal, checked against the plan.
const TokenValues* journal_chunk(const ResumeJournal* journal, int64_t chunk, const ChunkPlan& plan) {
    if (!journal) {
        return nullptr;
    }
    const auto it = journal->finished_chunks().find(chunk);
    if (it == journal->finished_chunks().end()) {
        return nullptr;
    }
    if (int64_t(it->second.size()) != plan.n_scored_per_chunk) {
        fail(journal->path(), "chunk " + std::to_string(chunk) + " holds " + std::to_string(it->second.size()) +
                                  " tokens, expected " + std::to_string(plan.n_scored_per_chunk));
    }
    return &it->second;
}

// The one logits request a run has under way: finished before its tile is read, and on the way out
// of an exception too, since the tile's host memory is freed then and a GPU copy may still be
// writing into it.
class PendingLogits {
public:
    PendingLogits() = default;
    PendingLogits(const PendingLogits&) = delete;
    PendingLogits& operator=(const PendingLogits&) = delete;
    ~PendingLogits() {
        if (!model_) return;
        try {
            model_->logits_finish();
        } catch (...) {  // already unwinding: the first error is the one to report
        }
    }
    void start(Model& model, const float* hidden_rows, int64_t n_rows, float* tile) {
        finish();
        model.logits_start(hidden_rows, n_rows, tile);
        model_ = &model;
    }
    void finish() {
        if (!model_) return;
        Model* m = model_;
        model_ = nullptr;
        m->logits_finish();
    }

private:
    Model* model_ = nullptr;
};

}  // namespace

void append_run(RunResult& pooled, const RunResult& text) {
    if (pooled.variants.empty() && pooled.reference_nll.empty()) {
        pooled = text;
        return;
    }
    if (pooled.variants.size() != text.variants.size()) {
        fail("append_run", "texts scored different numbers of variants");
    }
    pooled.plan.n_chunks += text.plan.n_chunks;
    pooled.reference_nll.insert(pooled.reference_nll.end(), text.reference_nll.begin(), text.reference_nll.end());
    for (size_t v = 0; v < text.variants.size(); ++v) {
        pooled.variants[v].values.append(text.variants[v].values);
        pooled.variants[v].n_chunks_resumed += text.variants[v].n_chunks_resumed;
    }
}

void join_pass(RunResult& joined, RunResult&& pass) {
    if (joined.variants.empty() && joined.reference_nll.empty()) {
        joined = std::move(pass);
        return;
    }
    const bool same_plan = joined.plan.n_ctx == pass.plan.n_ctx && joined.plan.n_chunks == pass.plan.n_chunks &&
                           joined.plan.first_scored == pass.plan.first_scored &&
                           joined.plan.n_scored_per_chunk == pass.plan.n_scored_per_chunk;
    if (!same_plan || joined.reference_mode != pass.reference_mode) fail("join_pass", "the passes ran different plans");
    if (joined.reference_nll.size() != pass.reference_nll.size() ||
        std::memcmp(joined.reference_nll.data(), pass.reference_nll.data(),
                    joined.reference_nll.size() * sizeof(float)) != 0)
        fail("join_pass", "the passes saw different reference values");
    for (VariantResult& v : pass.variants) joined.variants.push_back(std::move(v));
}

RunResult run_shootout(ReferenceSource& reference, std::span<const VariantInput> variants,
                       std::span<const int32_t> tokens, const ChunkPlan& plan, int32_t bos_token, ThreadPool& pool,
                       const RunOptions& options) {
    const int64_t n_vocab = reference.n_vocab();
    if (size_t(plan.n_chunks * plan.n_ctx) > tokens.size()) {
        fail("run_shootout", "the plan needs " + std::to_string(plan.n_chunks * plan.n_ctx) + " tokens, got " +
                                 std::to_string(tokens.size()));
    }
    for (const VariantInput& v : variants) {
        if (!v.model) {
            fail(v.name, "no model");
        }
        if (v.model->info().n_vocab != n_vocab) {
            fail(v.name, "vocabulary of " + std::to_string(v.model->info().n_vocab) +
                             " tokens differs from the reference's " + std::to_string(n_vocab));
        }
    }
    const int64_t tile_rows = std::max<int64_t>(1, options.tile_rows);

    RunResult result;
    result.plan = plan;
    result.reference_mode = reference.mode();
    result.reference_nll.reserve(size_t(plan.n_scored_total()));
    std::vector<std::unique_ptr<ResumeJournal>> journals(variants.size());
    for (size_t v = 0; v < variants.size(); ++v) {
        VariantResult vr;
        vr.name = variants[v].name;
        vr.values.reserve(size_t(plan.n_scored_total()));
        if (!options.state_dir.empty()) {
            journals[v] = std::make_unique<ResumeJournal>(
                options.state_dir, journal_key(reference, variants[v], tokens, plan, bos_token, options));
            vr.state_path = journals[v]->path();
        }
        result.variants.push_back(std::move(vr));
    }

    // The variants' logits tiles in the backend's fastest host memory (page-locked on a GPU: ~150 MB a
    // tile of an 8B model, copied once per variant and tile). Two where a model computes its logits
    // while the CPU works (logits_overlap: a GPU): variant i + 1's tile is then computed and copied
    // into one while the pool compares variant i's in the other. SHOOTOUT_LOGITS_OVERLAP=0 turns that
    // off (for comparisons: the values are the same either way).
    static const bool allowed = !env_switched_off("SHOOTOUT_LOGITS_OVERLAP");
    const bool overlap = allowed && std::any_of(variants.begin(), variants.end(), [](const VariantInput& v) {
                             return v.model->logits_overlap();
                         });
    std::unique_ptr<backend::Buffer> tile_buffers[2];
    float* tiles[2] = {nullptr, nullptr};
    for (int b = 0; b < (variants.empty() ? 0 : overlap ? 2 : 1); ++b) {
        tile_buffers[b] = variants[0].model->host_buffer(size_t(tile_rows * n_vocab));
        tiles[b] = tile_buffers[b]->data();
    }
    PendingLogits pending;
    std::vector<TokenMetrics> tile_metrics(static_cast<size_t>(tile_rows));
    for (int64_t chunk = 0; chunk < plan.n_chunks; ++chunk) {
        const auto t_start = std::chrono::steady_clock::now();
        std::vector<size_t> to_run;
        for (size_t v = 0; v < variants.size(); ++v) {
            if (!journal_chunk(journals[v].get(), chunk, plan)) {
                to_run.push_back(v);
            }
        }
        const bool run_reference = !to_run.empty() || variants.empty();
        if (run_reference) {
            const std::vector<int32_t> chunk_input = chunk_tokens(tokens, plan, chunk, bos_token);
            reference.begin_chunk(chunk, chunk_input);
            std::vector<std::vector<float>> hidden(to_run.size());
            for (size_t i = 0; i < to_run.size(); ++i) {
                Model& model = *variants[to_run[i]].model;
                hidden[i] = model.hidden(chunk_input);
                if (hidden[i].size() != size_t(plan.n_ctx * model.info().n_embd)) {
                    fail(variants[to_run[i]].name, "hidden() returned " + std::to_string(hidden[i].size()) +
                                                       " floats for a chunk of " + std::to_string(plan.n_ctx));
                }
            }
            std::vector<TokenValues> fresh(to_run.size());
            for (int64_t row_begin = 0; row_begin < plan.n_scored_per_chunk; row_begin += tile_rows) {
                const int64_t n_rows = std::min(tile_rows, plan.n_scored_per_chunk - row_begin);
                reference.load_rows(row_begin, n_rows);
                for (int64_t r = 0; r < n_rows; ++r) {
                    result.reference_nll.push_back(
                        reference.reference_nll(row_begin + r, next_token(tokens, plan, chunk, row_begin + r)));
                }
                auto start = [&](size_t i, float* tile) {
                    Model& model = *variants[to_run[i]].model;
                    const size_t n_embd = size_t(model.info().n_embd);
                    pending.start(model, hidden[i].data() + size_t(plan.first_scored + row_begin) * n_embd, n_rows,
                                  tile);
                };
                if (!to_run.empty()) start(0, tiles[0]);
                for (size_t i = 0; i < to_run.size(); ++i) {
                    pending.finish();
                    const float* variant_logits = tiles[overlap ? i % 2 : 0];
                    if (overlap && i + 1 < to_run.size()) start(i + 1, tiles[(i + 1) % 2]);
                    pool.parallel_for(size_t(n_rows), [&](size_t begin, size_t end, int) {
                        for (size_t r = begin; r < end; ++r) {
                            const float* row = variant_logits + r * size_t(n_vocab);
                            const int64_t scored = row_begin + int64_t(r);
                            tile_metrics[r] = reference.compare(scored, row, summarize_row(row, n_vocab),
                                                                next_token(tokens, plan, chunk, scored));
                        }
                    });
                    for (int64_t r = 0; r < n_rows; ++r) {
                        fresh[i].push_back(tile_metrics[size_t(r)]);
                    }
                    if (!overlap && i + 1 < to_run.size()) start(i + 1, tiles[0]);
                }
            }
            for (size_t i = 0; i < to_run.size(); ++i) {
                if (journals[to_run[i]]) {
                    journals[to_run[i]]->append(chunk, fresh[i]);
                }
            }
            // Every variant's values, fresh or from its journal, in variant order.
            size_t next_fresh = 0;
            for (size_t v = 0; v < variants.size(); ++v) {
                if (next_fresh < to_run.size() && to_run[next_fresh] == v) {
                    result.variants[v].values.append(fresh[next_fresh++]);
                } else {
                    result.variants[v].values.append(*journal_chunk(journals[v].get(), chunk, plan));
                    ++result.variants[v].n_chunks_resumed;
                }
            }
        } else {
            // Every variant finished this chunk before: its journals hold the reference's NLL as well.
            const TokenValues* first = journal_chunk(journals[0].get(), chunk, plan);
            result.reference_nll.insert(result.reference_nll.end(), first->nll_reference.begin(),
                                        first->nll_reference.end());
            for (size_t v = 0; v < variants.size(); ++v) {
                result.variants[v].values.append(*journal_chunk(journals[v].get(), chunk, plan));
                ++result.variants[v].n_chunks_resumed;
            }
        }
        if (options.on_chunk) {
            ChunkProgress progress;
            progress.chunk = chunk;
            progress.n_chunks = plan.n_chunks;
            progress.all_from_state = !run_reference;
            progress.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
            progress.so_far = &result;
            options.on_chunk(progress);
        }
    }
    return result;
}

TopKCache build_topk_cache(Model& reference, std::span<const int32_t> tokens, const ChunkPlan& plan,
                           int32_t bos_token, int64_t k, ThreadPool& pool, int64_t tile_rows,
                           const std::function<void(int64_t chunk)>& on_chunk) {
    TopKCache cache = make_topk_cache(k, reference.info().n_vocab);
    cache.resize(size_t(plan.n_scored_total()));
    DenseModelReference dense(reference, pool, plan);
    tile_rows = std::max<int64_t>(1, tile_rows);
    for (int64_t chunk = 0; chunk < plan.n_chunks; ++chunk) {
        dense.begin_chunk(chunk, chunk_tokens(tokens, plan, chunk, bos_token));
        for (int64_t row_begin = 0; row_begin < plan.n_scored_per_chunk; row_begin += tile_rows) {
            const int64_t n_rows = std::min(tile_rows, plan.n_scored_per_chunk - row_begin);
            dense.load_rows(row_begin, n_rows);
            pool.parallel_for(size_t(n_rows), [&](size_t begin, size_t end, int) {
                for (size_t r = begin; r < end; ++r) {
                    const int64_t scored = row_begin + int64_t(r);
                    cache.fill_row(size_t(chunk * plan.n_scored_per_chunk + scored), dense.row_logits(scored),
                                   dense.row_summary(scored), next_token(tokens, plan, chunk, scored));
                }
            });
        }
        if (on_chunk) {
            on_chunk(chunk);
        }
    }
    return cache;
}

}  // namespace shootout::eval
