// The streaming runner with fake models: the identical-variant invariants, agreement with a plain
// (whole-chunk) computation at any tile size, BOS handling, resume after an interruption, and the
// top-k and llama.cpp-file reference modes against the exact one.
#include <atomic>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>

#include "eval/llama_logits_file.h"
#include "eval/shootout_runner.h"
#include "eval/statistics.h"
#include "fake_model.h"
#include "util/error.h"
#include "util/parallel.h"

using namespace shootout::eval;

namespace {

constexpr int64_t kVocab = 64, kEmbd = 8, kCtx = 32;

struct Fixture {
    shootout::ThreadPool pool{2};
    std::vector<int32_t> tokens = fake_text(size_t(kCtx * 4 + 5), kVocab);
    ChunkPlan plan = plan_chunks(int64_t(tokens.size()), {kCtx, -1, true}, "fake");
};

RunResult run_dense(Fixture& f, FakeModel& reference, std::vector<FakeModel*> variants, int64_t tile_rows,
                    int32_t bos = -1, const std::string& state_dir = "",
                    std::function<void(const ChunkProgress&)> on_chunk = {}) {
    DenseModelReference source(reference, f.pool, f.plan);
    std::vector<VariantInput> inputs;
    for (size_t i = 0; i < variants.size(); ++i) {
        // (appended, not "v" + to_string(i): GCC 12 gives a false -Wrestrict on that form at -O2)
        std::string name = "v", identity = "variant-";
        name += std::to_string(i);
        identity += std::to_string(i);
        inputs.push_back({variants[i], name, identity});
    }
    RunOptions options;
    options.tile_rows = tile_rows;
    options.state_dir = state_dir;
    options.reference_identity = "fake-reference";
    options.on_chunk = std::move(on_chunk);
    return run_shootout(source, inputs, f.tokens, f.plan, bos, f.pool, options);
}

// The same metrics computed the plain way: whole-chunk logits of both models, row by row.
TokenValues plain_values(Fixture& f, FakeModel& reference, FakeModel& variant, int32_t bos,
                         double cut = kKldLogProbCut) {
    TokenValues out;
    for (int64_t c = 0; c < f.plan.n_chunks; ++c) {
        const std::vector<int32_t> chunk = chunk_tokens(f.tokens, f.plan, c, bos);
        const std::vector<float> ref = reference.all_logits(chunk), var = variant.all_logits(chunk);
        for (int64_t r = 0; r < f.plan.n_scored_per_chunk; ++r) {
            const float* a = ref.data() + (f.plan.first_scored + r) * kVocab;
            const float* b = var.data() + (f.plan.first_scored + r) * kVocab;
            out.push_back(compare_dense(a, summarize_row(a, kVocab), b, summarize_row(b, kVocab), kVocab,
                                        next_token(f.tokens, f.plan, c, r), cut));
        }
    }
    return out;
}

void expect_identical(const TokenValues& a, const TokenValues& b) {
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(a.nll_variant, b.nll_variant);
    EXPECT_EQ(a.nll_reference, b.nll_reference);
    EXPECT_EQ(a.kld, b.kld);
    EXPECT_EQ(a.delta_p, b.delta_p);
    EXPECT_EQ(a.same_top, b.same_top);
}

std::string fresh_temp_dir(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("shootout-" + name + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    return dir.string();
}

}  // namespace

TEST(ShootoutRunner, VariantIdenticalToTheReferenceScoresPerfectly) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), same(kVocab, kEmbd, 0);
    const RunResult r = run_dense(f, reference, {&same}, 16);
    const KldStats s = compute_kld_stats(r.variants[0].values);
    ASSERT_EQ(s.n_tokens, size_t(f.plan.n_scored_total()));
    EXPECT_EQ(s.kld.value, 0.0);
    EXPECT_EQ(s.kld_quantiles.max, 0.0f);
    EXPECT_EQ(s.kld_quantiles.min, 0.0f);
    EXPECT_EQ(s.same_top.value, 1.0);
    EXPECT_EQ(s.delta_p.value, 0.0);
    EXPECT_EQ(s.rms_delta_p.value, 0.0);
    EXPECT_EQ(s.rms_delta_p.error, 0.0);  // llama.cpp would print NaN here
    EXPECT_EQ(s.ppl_ratio.value, 1.0);
    EXPECT_EQ(s.ln_ppl_ratio.value, 0.0);
    EXPECT_NEAR(s.ln_ppl_correlation, 1.0, 1e-9);
    EXPECT_EQ(s.ppl_variant.ppl.value, s.ppl_reference.ppl.value);
    EXPECT_GT(s.ppl_reference.ppl.value, 1.0);
}

TEST(ShootoutRunner, MatchesPlainComputationAtEveryTileSize) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), variant(kVocab, kEmbd, 0.4f);
    const TokenValues plain = plain_values(f, reference, variant, -1);
    for (const int64_t tile : {1, 7, 16, 1000}) {
        FakeModel ref(kVocab, kEmbd, 0), var(kVocab, kEmbd, 0.4f);
        const RunResult r = run_dense(f, ref, {&var}, tile);
        expect_identical(r.variants[0].values, plain);
        EXPECT_EQ(r.reference_nll, plain.nll_reference);
        EXPECT_EQ(ref.n_hidden_calls, f.plan.n_chunks);  // one forward pass per chunk and model
        EXPECT_EQ(var.n_hidden_calls, f.plan.n_chunks);
        EXPECT_LE(var.max_logits_rows, std::min(tile, f.plan.n_scored_per_chunk));  // never a whole chunk
    }
    const KldStats s = compute_kld_stats(plain);
    EXPECT_GT(s.kld.value, 0.0);
    EXPECT_LT(s.same_top.value, 1.0);
    EXPECT_GT(s.same_top.value, 0.3);
}

TEST(ShootoutRunner, SeveralVariantsAndBos) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), a(kVocab, kEmbd, 0.2f, 1), b(kVocab, kEmbd, 0.8f, 2);
    const RunResult r = run_dense(f, reference, {&a, &b}, 8, /*bos=*/5);
    expect_identical(r.variants[0].values, plain_values(f, reference, a, 5));
    expect_identical(r.variants[1].values, plain_values(f, reference, b, 5));
    EXPECT_NE(r.variants[0].values.kld, plain_values(f, reference, a, -1).kld) << "BOS must change the chunks";
    EXPECT_LT(compute_kld_stats(r.variants[0].values).kld.value, compute_kld_stats(r.variants[1].values).kld.value);
}

// Variants whose logits land after logits_start returns (a GPU's): the runner computes the next
// variant's tile while it compares one and must read every tile after its finish only, never start a
// request into a tile it still reads, and give the same values as models that compute at once.
TEST(ShootoutRunner, OverlappedLogitsGiveTheSameValues) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0);
    FakeModel a(kVocab, kEmbd, 0.2f, 1), b(kVocab, kEmbd, 0.8f, 2), c(kVocab, kEmbd, 0.5f, 3);
    for (const int64_t tile : {1, 7, 1000}) {
        FakeModel da(kVocab, kEmbd, 0.2f, 1), db(kVocab, kEmbd, 0.8f, 2), dc(kVocab, kEmbd, 0.5f, 3);
        for (FakeModel* m : {&da, &db, &dc}) m->deferred = true;
        const RunResult plain = run_dense(f, reference, {&a, &b, &c}, tile, 5);
        const RunResult overlapped = run_dense(f, reference, {&da, &db, &dc}, tile, 5);
        for (size_t v = 0; v < 3; ++v) {
            expect_identical(overlapped.variants[v].values, plain.variants[v].values);
            EXPECT_FALSE(std::isnan(compute_kld_stats(overlapped.variants[v].values).kld.value));
        }
        EXPECT_EQ(overlapped.reference_nll, plain.reference_nll);
        const int tiles_per_chunk = int((f.plan.n_scored_per_chunk + tile - 1) / tile);
        for (FakeModel* m : {&da, &db, &dc}) {
            EXPECT_EQ(m->n_deferred_requests, f.plan.n_chunks * tiles_per_chunk);
            EXPECT_EQ(m->n_requests_overlapping, 0);
            EXPECT_FALSE(m->pending());
        }
    }
}

// A single deferred variant: no next variant to overlap, each tile still read after its finish.
TEST(ShootoutRunner, OneOverlappedVariant) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), plain_variant(kVocab, kEmbd, 0.4f), variant(kVocab, kEmbd, 0.4f);
    variant.deferred = true;
    const RunResult r = run_dense(f, reference, {&variant}, 16);
    expect_identical(r.variants[0].values, plain_values(f, reference, plain_variant, -1));
    EXPECT_FALSE(variant.pending());
}

// An error while a tile is being compared and the next variant's request is under way: the runner's
// guard finishes that request before the tiles are freed (a GPU copy would otherwise still write
// into freed page-locked memory), and the error reaches the caller.
TEST(ShootoutRunner, AnErrorMidTileFinishesThePendingRequest) {
    struct ThrowingReference : DenseModelReference {
        using DenseModelReference::DenseModelReference;
        TokenMetrics compare(int64_t row, const float* variant_logits, const RowSummary& variant,
                             int32_t next_token) const override {
            if (++calls > throw_after) throw std::runtime_error("compare failed");
            return DenseModelReference::compare(row, variant_logits, variant, next_token);
        }
        const int throw_after = 3;  // inside the first variant's first tile
        mutable std::atomic<int> calls{0};
    };
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), a(kVocab, kEmbd, 0.2f, 1), b(kVocab, kEmbd, 0.8f, 2);
    a.deferred = b.deferred = true;
    ThrowingReference source(reference, f.pool, f.plan);
    std::vector<VariantInput> inputs{{&a, "a", "variant-a"}, {&b, "b", "variant-b"}};
    RunOptions options;
    options.tile_rows = 8;
    EXPECT_THROW(run_shootout(source, inputs, f.tokens, f.plan, -1, f.pool, options), std::runtime_error);
    EXPECT_GT(b.n_deferred_requests, 0);  // b's tile was under way when a's comparison failed
    EXPECT_FALSE(a.pending());
    EXPECT_FALSE(b.pending());
}

TEST(ShootoutRunner, ResumesAfterAnInterruption) {
    Fixture f;
    const std::string dir = fresh_temp_dir("resume");
    FakeModel reference(kVocab, kEmbd, 0), variant(kVocab, kEmbd, 0.4f);
    const TokenValues uninterrupted = plain_values(f, reference, variant, -1);

    struct Interrupted {};
    {
        FakeModel ref(kVocab, kEmbd, 0), var(kVocab, kEmbd, 0.4f);
        EXPECT_THROW(run_dense(f, ref, {&var}, 16, -1, dir,
                               [](const ChunkProgress& p) {
                                   if (p.chunk == 1) throw Interrupted{};
                               }),
                     Interrupted);
    }
    // A torn record (a crash mid-append) must be cut off, not trusted.
    std::string state_file;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) state_file = entry.path().string();
    ASSERT_FALSE(state_file.empty());
    const auto good_size = std::filesystem::file_size(state_file);
    {
        std::ofstream torn(state_file, std::ios::binary | std::ios::app);
        torn << "CHNK partial record";
    }

    FakeModel ref(kVocab, kEmbd, 0), var(kVocab, kEmbd, 0.4f);
    std::vector<int64_t> seen;
    const RunResult resumed = run_dense(f, ref, {&var}, 16, -1, dir, [&](const ChunkProgress& p) {
        seen.push_back(p.chunk);
        EXPECT_EQ(p.so_far->variants[0].values.size(), size_t((p.chunk + 1) * f.plan.n_scored_per_chunk));
    });
    EXPECT_EQ(resumed.variants[0].n_chunks_resumed, 2);
    EXPECT_EQ(var.n_hidden_calls, f.plan.n_chunks - 2);  // finished chunks are not recomputed
    EXPECT_EQ(ref.n_hidden_calls, f.plan.n_chunks - 2);
    EXPECT_EQ(seen.size(), size_t(f.plan.n_chunks));
    expect_identical(resumed.variants[0].values, uninterrupted);
    EXPECT_EQ(resumed.reference_nll, uninterrupted.nll_reference);
    EXPECT_GT(std::filesystem::file_size(state_file), good_size);

    // All chunks finished: a third run computes nothing, and still reports every value.
    FakeModel ref3(kVocab, kEmbd, 0), var3(kVocab, kEmbd, 0.4f);
    const RunResult again = run_dense(f, ref3, {&var3}, 16, -1, dir);
    EXPECT_EQ(ref3.n_hidden_calls + var3.n_hidden_calls, 0);
    expect_identical(again.variants[0].values, uninterrupted);
    EXPECT_EQ(again.reference_nll, uninterrupted.nll_reference);

    // Other tokens: another key, so another journal, and nothing resumed.
    f.tokens[3] = (f.tokens[3] + 1) % int32_t(kVocab);
    FakeModel ref4(kVocab, kEmbd, 0), var4(kVocab, kEmbd, 0.4f);
    EXPECT_EQ(run_dense(f, ref4, {&var4}, 16, -1, dir).variants[0].n_chunks_resumed, 0);
    std::filesystem::remove_all(dir);
}

TEST(ShootoutRunner, TopKCacheModeStaysWithinItsBound) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), variant(kVocab, kEmbd, 0.6f);
    const TokenValues exact_uncut = plain_values(f, reference, variant, -1, kNoKldCut);
    for (const int64_t k : {int64_t(4), int64_t(16), kVocab}) {
        const TopKCache cache = build_topk_cache(reference, f.tokens, f.plan, -1, k, f.pool, 8);
        TopKReference source(cache, f.plan);
        const std::vector<VariantInput> inputs = {{&variant, "v", "v"}};
        const RunResult r = run_shootout(source, inputs, f.tokens, f.plan, -1, f.pool, RunOptions{});
        const TokenValues& v = r.variants[0].values;
        ASSERT_EQ(v.size(), exact_uncut.size());
        double max_error = 0;
        for (size_t i = 0; i < v.size(); ++i) {
            const double error = double(exact_uncut.kld[i]) - v.kld[i];
            EXPECT_GE(error, -1e-5) << "the estimate never exceeds the exact KL (token " << i << ")";
            EXPECT_LE(error, v.kld_error_bound[i] + 1e-5) << "token " << i << " k " << k;
            max_error = std::max(max_error, error);
            EXPECT_EQ(v.same_top[i], exact_uncut.same_top[i]);
            EXPECT_NEAR(v.nll_reference[i], exact_uncut.nll_reference[i], 1e-5);
            EXPECT_NEAR(v.delta_p[i], exact_uncut.delta_p[i], 1e-6);
        }
        if (k == kVocab) {
            EXPECT_LT(max_error, 1e-5);
            EXPECT_EQ(compute_kld_stats(v).kld_error_bound_max, 0.0);
        } else {
            EXPECT_GT(max_error, 1e-7) << "with k < n_vocab the tail merge should lose something";
            EXPECT_GT(compute_kld_stats(v).kld_error_bound_mean, 0.0);
        }
    }
}

// A GPU too small for every variant at once scores them in passes against one top-k cache
// (cli/device_plan.h): joined, the passes give what one pass over all of them gives, bit for bit;
// passes over another plan or another reference are refused.
TEST(ShootoutRunner, PassesJoinedEqualOnePass) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), a(kVocab, kEmbd, 0.2f, 1), b(kVocab, kEmbd, 0.5f, 2),
        c(kVocab, kEmbd, 0.8f, 3);
    const TopKCache cache = build_topk_cache(reference, f.tokens, f.plan, -1, 16, f.pool, 8);
    TopKReference source(cache, f.plan);
    const std::vector<VariantInput> all = {{&a, "a", "a"}, {&b, "b", "b"}, {&c, "c", "c"}};
    RunOptions options;
    options.tile_rows = 8;
    const RunResult one = run_shootout(source, all, f.tokens, f.plan, -1, f.pool, options);
    RunResult joined;
    join_pass(joined, run_shootout(source, std::span(all).subspan(0, 2), f.tokens, f.plan, -1, f.pool, options));
    join_pass(joined, run_shootout(source, std::span(all).subspan(2, 1), f.tokens, f.plan, -1, f.pool, options));
    ASSERT_EQ(joined.variants.size(), 3u);
    EXPECT_EQ(joined.reference_nll, one.reference_nll);
    for (size_t v = 0; v < 3; ++v) {
        SCOPED_TRACE(one.variants[v].name);
        EXPECT_EQ(joined.variants[v].name, one.variants[v].name);
        expect_identical(joined.variants[v].values, one.variants[v].values);
        EXPECT_EQ(joined.variants[v].values.kld_error_bound, one.variants[v].values.kld_error_bound);
    }
    // Another plan (one chunk fewer), or another reference's values: not the same text.
    ChunkPlan shorter = f.plan;
    shorter.n_chunks -= 1;
    RunResult other = run_shootout(source, std::span(all).subspan(2, 1), f.tokens, shorter, -1, f.pool, options);
    EXPECT_THROW(join_pass(joined, std::move(other)), shootout::Error);
    DenseModelReference dense(reference, f.pool, f.plan);
    RunResult exact = run_shootout(dense, std::span(all).subspan(2, 1), f.tokens, f.plan, -1, f.pool, options);
    exact.reference_mode = joined.reference_mode;
    exact.reference_nll[0] += 1.0f;
    EXPECT_THROW(join_pass(joined, std::move(exact)), shootout::Error);
    EXPECT_EQ(joined.variants.size(), 3u);
}

TEST(ShootoutRunner, LlamaLogitsFileReferenceAgreesWithTheExactOne) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), variant(kVocab, kEmbd, 0.4f);
    const std::string dir = fresh_temp_dir("llama-file");
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/base.logits";
    const std::span<const int32_t> used(f.tokens.data(), size_t(f.plan.n_chunks * kCtx));
    LlamaLogitsWriter writer(path, kCtx, kVocab, used);
    for (int64_t c = 0; c < f.plan.n_chunks; ++c) {
        const std::vector<float> logits = reference.all_logits(chunk_tokens(f.tokens, f.plan, c, -1));
        for (int64_t r = 0; r < f.plan.n_scored_per_chunk; ++r) {
            writer.add_row(logits.data() + (f.plan.first_scored + r) * kVocab);
        }
    }
    writer.finish();
    const auto file = LlamaLogitsFile::open(path);
    EXPECT_EQ(file->plan().n_chunks, f.plan.n_chunks);
    LlamaFileReference source(*file);
    const std::vector<VariantInput> inputs = {{&variant, "v", "v"}};
    const RunResult r = run_shootout(source, inputs, file->tokens(), file->plan(), -1, f.pool, RunOptions{});
    const TokenValues exact = plain_values(f, reference, variant, -1);
    const TokenValues& v = r.variants[0].values;
    ASSERT_EQ(v.size(), exact.size());
    for (size_t i = 0; i < v.size(); ++i) {
        // Within 16 of the max logit the format keeps log p to half a step; further down it clips to
        // log p = -16 - log_sum_exp, so the NLL reads smaller than the exact one.
        if (exact.nll_reference[i] < 15) {
            EXPECT_NEAR(v.nll_reference[i], exact.nll_reference[i], 16.0 / 65535);
        } else {
            EXPECT_LE(v.nll_reference[i], exact.nll_reference[i] + 1e-4);
        }
        EXPECT_NEAR(v.kld[i], exact.kld[i], 2e-3);  // the uint16 noise floor
        EXPECT_EQ(v.nll_variant[i], exact.nll_variant[i]);
    }
    EXPECT_EQ(r.reference_mode, "llama-logits-file");
    std::filesystem::remove_all(dir);
}

TEST(ShootoutRunner, RejectsAVariantWithAnotherVocabulary) {
    Fixture f;
    FakeModel reference(kVocab, kEmbd, 0), other(kVocab + 1, kEmbd, 0);
    EXPECT_THROW(run_dense(f, reference, {&other}, 16), shootout::Error);
}
