// shootout run: the main job. Quantize the reference into the asked-for variants (or take existing
// files), score every variant against the reference on the same chunks of text, streaming, and report
// the table (stdout) plus JSON/CSV/Markdown files and the quantized GGUFs in --out.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>

#include "backend/device_memory.h"
#include "cli/command.h"
#include "cli/device_plan.h"
#include "cli/loaded_model.h"
#include "cli/make_variant.h"
#include "cli/memory.h"
#include "cli/run_speed.h"
#include "cli/text_input.h"
#include "eval/llama_logits_file.h"
#include "eval/reference_source.h"
#include "eval/resume_state.h"
#include "eval/shootout_runner.h"
#include "model/tokenizer.h"
#include "report/llama_style_text.h"
#include "report/shootout_report.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::cli {
namespace {

struct RunSettings {
    int64_t n_ctx = 512;
    int64_t max_chunks = -1;
    std::string out_dir;
    std::string reference_mode;  // dense | top-k | llama-logits-file
    std::string base_logits;     // llama-perplexity --kl-divergence-base file, when given
    int64_t top_k = 64;
    int64_t tile_rows = 32;
    bool resume = true;
};

// Where the variants go (device_plan.h: place_variants), with the reference mode it chose said on
// stderr; settings.reference_mode becomes that mode.
Placement place_models(const std::vector<LoadedModel>& variants, RunSettings& settings, Backend backend,
                       uint64_t budget, uint64_t reference_need, uint64_t reference_file_bytes) {
    std::vector<DeviceNeed> needs;
    uint64_t file_bytes = reference_file_bytes;
    for (const auto& variant : variants) {
        needs.push_back({variant.name, backend == Backend::Cuda
                                           ? device_bytes_estimate(*variant.file, settings.n_ctx, settings.tile_rows)
                                           : 0});
        file_bytes += variant.file->size_bytes();
    }
    const std::string host_mode =
        settings.reference_mode == "auto" ? choose_reference_mode(file_bytes, available_memory_bytes()) : "";
    Placement placement = place_variants(needs, reference_need, backend == Backend::Cuda, budget,
                                         settings.reference_mode, host_mode);
    if (placement.turned_to_top_k)
        std::fprintf(stderr, "shootout: reference mode top-k (the models need about %s of GPU memory together, the run "
                             "plans with %s)\n", gib(placement.total).c_str(), gib(budget).c_str());
    else if (settings.reference_mode == "auto")
        std::fprintf(stderr, "shootout: reference mode %s (models %.2f GiB, available memory %.2f GiB)\n",
                     placement.mode.c_str(), file_bytes / 1073741824.0, available_memory_bytes() / 1073741824.0);
    settings.reference_mode = placement.mode;
    return placement;
}

// Scores one text and prints a progress line per chunk and variant. speed: measures each pass's
// variants before they are freed (null: not on this text).
eval::RunResult score_text(LoadedModel& reference, std::vector<LoadedModel>& variants, const Placement& placement,
                           Backend backend, const std::string& text_path, const RunSettings& settings,
                           ThreadPool& pool, SpeedLog* speed) {
    eval::RunOptions options;
    options.tile_rows = settings.tile_rows;
    if (settings.resume) options.state_dir = (std::filesystem::path(settings.out_dir) / "state").string();
    options.reference_identity = eval::file_identity(reference.file->path()) + "|" + settings.reference_mode +
                                 (settings.reference_mode == "top-k" ? std::to_string(settings.top_k) : "");
    options.on_chunk = [&](const eval::ChunkProgress& progress) {
        for (const auto& variant : progress.so_far->variants) {
            const auto stats = eval::compute_kld_stats(variant.values);
            std::string line = report::progress_line(progress.chunk + 1, stats);
            if (!line.empty() && line.back() == '\n') line.pop_back();
            std::fprintf(stderr, "%-14s %s%s\n", variant.name.c_str(), line.c_str(),
                         progress.all_from_state ? "  (resumed)" : "");
        }
        std::fprintf(stderr, "  chunk %lld/%lld done in %.1f s\n", (long long)(progress.chunk + 1),
                     (long long)progress.n_chunks, progress.seconds);
    };
    // Each pass's variants loaded, scored against `run_pass`'s reference and, when the placement
    // says so, timed and freed; the passes' results joined in variant order.
    auto in_passes = [&](const std::function<eval::RunResult(std::span<const eval::VariantInput>)>& run_pass) {
        eval::RunResult joined;
        const size_t n_passes = placement.passes.size();
        for (size_t p = 0; p < n_passes; ++p) {
            const std::vector<size_t>& pass = placement.passes[p];
            if (n_passes > 1) {
                uint64_t bytes = 0;
                std::string names;
                for (size_t v : pass) {
                    bytes += placement.need[v];
                    names += (names.empty() ? "" : ", ") + variants[v].name;
                }
                std::fprintf(stderr, "shootout: pass %zu/%zu: %s (about %s of GPU memory)\n", p + 1, n_passes,
                             names.c_str(), gib(bytes).c_str());
            }
            std::vector<eval::VariantInput> inputs;
            for (size_t v : pass) {
                load_model(variants[v], pool, backend);
                const std::string identity = eval::file_identity(variants[v].file->path());
                inputs.push_back({variants[v].model.get(), variants[v].name, identity});
            }
            std::fprintf(stderr, "%-14s %s", "variant", report::progress_header().c_str());
            eval::join_pass(joined, run_pass(inputs));
            if (placement.free_after_pass) {
                for (size_t v : pass) {
                    if (speed) speed->measure(variants[v]);
                    variants[v].model.reset();
                }
            }
        }
        return joined;
    };

    if (!settings.base_logits.empty()) {
        // llama.cpp's base file carries its own tokens and chunking; --chunks still caps the chunks
        // (llama-perplexity ignores --chunks in this mode).
        auto file = eval::LlamaLogitsFile::open(settings.base_logits);
        eval::ChunkPlan plan = file->plan();
        if (settings.max_chunks > 0 && settings.max_chunks < plan.n_chunks) plan.n_chunks = settings.max_chunks;
        const auto tokenizer = Tokenizer::from_gguf(*reference.file);
        const int32_t bos = tokenizer->add_bos() ? tokenizer->bos_id() : -1;
        options.reference_identity = eval::file_identity(settings.base_logits) + "|llama-logits-file";
        return in_passes([&](std::span<const eval::VariantInput> inputs) {
            eval::LlamaFileReference source(*file);
            return eval::run_shootout(source, inputs, file->tokens(), plan, bos, pool, options);
        });
    }

    auto tokenizer = Tokenizer::from_gguf(*reference.file);
    const std::vector<int32_t> tokens = tokenize_for_perplexity(*tokenizer, read_text_file(text_path));
    const eval::ChunkPlan plan = eval::plan_chunks((int64_t)tokens.size(), {settings.n_ctx, settings.max_chunks, true}, text_path);
    const int32_t bos = tokenizer->add_bos() ? tokenizer->bos_id() : -1;
    std::fprintf(stderr, "shootout: %s: %zu tokens, %lld chunks of %lld, %lld scored tokens per chunk, reference mode %s\n",
                 text_path.c_str(), tokens.size(), (long long)plan.n_chunks, (long long)plan.n_ctx,
                 (long long)plan.n_scored_per_chunk, settings.reference_mode.c_str());

    if (settings.reference_mode == "top-k") {
        // The reference runs alone first; only its top-k log-probs per scored token are kept, so the
        // variants can then run without it resident (on a GPU: loaded only after it is freed).
        load_model(reference, pool, backend);
        eval::TopKCache cache = eval::build_topk_cache(*reference.model, tokens, plan, bos, settings.top_k, pool,
                                                       settings.tile_rows);
        if (speed) speed->measure(reference);
        reference.model.reset();
        eval::TopKReference source(cache, plan);
        return in_passes([&](std::span<const eval::VariantInput> inputs) {
            return eval::run_shootout(source, inputs, tokens, plan, bos, pool, options);
        });
    }
    load_model(reference, pool, backend);
    eval::DenseModelReference source(*reference.model, pool, plan);
    return in_passes([&](std::span<const eval::VariantInput> inputs) {
        return eval::run_shootout(source, inputs, tokens, plan, bos, pool, options);
    });
}

int run(const Args& args) {
    RunSettings settings;
    settings.n_ctx = args.get_int("ctx", 512, 8, 1 << 20);
    settings.max_chunks = args.get_int("chunks", -1, 1, 1 << 30);
    settings.out_dir = args.get("out", "results");
    settings.reference_mode = args.get("reference-mode", "auto");
    settings.top_k = args.get_int("top-k", 64, 1, 1 << 20);
    // On the GPU a tile is one output product (the whole output matrix is dequantized for it): take
    // a chunk's scored rows at once there unless told otherwise.
    settings.tile_rows = args.get_int("tile", backend_option(args) == Backend::Cuda ? 256 : 32, 1, 4096);
    settings.resume = !args.flag("no-resume");
    settings.base_logits = args.get("base-logits", "");
    if (!settings.base_logits.empty()) settings.reference_mode = "llama-logits-file";
    if (settings.reference_mode != "dense" && settings.reference_mode != "top-k" && settings.reference_mode != "auto" &&
        settings.base_logits.empty())
        throw UsageError("--reference-mode must be auto, dense or top-k, got '" + settings.reference_mode + "'");
    std::vector<std::string> texts = args.all("data");
    if (!settings.base_logits.empty()) {
        if (!texts.empty()) throw UsageError("--base-logits carries its own tokens: leave out --data");
        texts = {settings.base_logits};
    }
    if (texts.empty()) throw UsageError("--data is required (see shootout run --help)");
    const auto recipes = args.all("quant");
    const auto variant_paths = args.all("variant");
    if (recipes.empty() && variant_paths.empty())
        throw UsageError("nothing to compare: give at least one --quant RECIPE or --variant FILE");

    const Backend backend = backend_option(args);
    const SpeedOptions speed = speed_options(args, backend);
    const uint64_t budget = device_budget(args, backend);  // GPU memory the run plans with (0: CPU)

    std::error_code ec;
    std::filesystem::create_directories(settings.out_dir, ec);
    if (ec) fail(settings.out_dir, "cannot create the output directory: " + ec.message());
    ThreadPool pool((int)args.get_int("threads", 0, 0, 1024));

    LoadedModel reference = open_model(args.require("model"), "");
    if (settings.base_logits.empty())
        for (const auto& text : texts) read_text_file(text);  // fail on a missing text before hours of work
    // On a GPU: whether the reference fits the memory the run plans with at all (said before any
    // variant is made).
    const uint64_t reference_need = backend == Backend::Cuda && settings.base_logits.empty()
                                        ? device_bytes_estimate(*reference.file, settings.n_ctx, settings.tile_rows)
                                        : 0;
    check_fits(reference.name, reference_need, budget,
               "run it on the CPU, or give its logits as a llama-perplexity base file (--base-logits)");

    // The given variant files first: a missing or foreign one fails now, not after the quantizing.
    std::vector<LoadedModel> given;
    for (const auto& path : variant_paths) {
        given.push_back(open_model(path, ""));
        check_same_vocabulary(*reference.file, *given.back().file);
    }
    std::vector<LoadedModel> variants;
    MakeVariantOptions make_options{settings.out_dir, args.get("imatrix", ""), pool.size(), args.flag("allow-requantize")};
    // Every recipe checked before the first is made: a mistake in the last --quant fails at once.
    for (const auto& recipe : recipes) check_variant(*reference.file, recipe, make_options);
    for (const auto& recipe : recipes) {
        std::string upper = recipe;
        for (auto& c : upper) c = (char)std::toupper((unsigned char)c);
        variants.push_back(open_model(make_variant(*reference.file, recipe, make_options), upper));
        check_same_vocabulary(*reference.file, *variants.back().file);
    }
    for (auto& variant : given) variants.push_back(std::move(variant));  // the table's order: made, then given

    const Placement placement =
        place_models(variants, settings, backend, budget, reference_need, reference.file->size_bytes());
    const report::ModelColumn reference_column = reference.column();

    SpeedLog speed_log(speed, backend);
    eval::RunResult pooled;
    std::vector<eval::RunResult> per_text;
    try {
        for (size_t t = 0; t < texts.size(); ++t) {
            per_text.push_back(
                score_text(reference, variants, placement, backend, texts[t], settings, pool,
                           t == 0 ? &speed_log : nullptr));
            if (t == 0) pooled = per_text.back();
            else eval::append_run(pooled, per_text.back());
        }
    } catch (const backend::OutOfDeviceMemory& e) {
        // Loading a model (load_model names it) or during the run: the estimate fell short, or
        // something else took the memory since the plan.
        fail("run", std::string(e.what()) + ": the GPU ran out of memory (finished chunks are kept; a rerun "
                                            "resumes): give --gpu-memory less than the " + gib(budget) +
                                            " it planned with, so that it holds fewer models at once");
    }

    if (backend == Backend::Cuda && settings.reference_mode == "dense") {
        // The estimate against what the GPU holds with every model resident (a check in every log).
        const DeviceMemory memory = device_memory(backend);
        std::fprintf(stderr, "shootout: GPU memory in use %s of %s (estimated for the models: %s)\n",
                     gib(memory.total - memory.free).c_str(), gib(memory.total).c_str(), gib(placement.total).c_str());
    }
    std::vector<report::ModelColumn> columns;
    for (const auto& variant : variants) columns.push_back(variant.column());
    report::ShootoutReport result = report::build_report(pooled, reference_column, columns);
    result.title = "Shootout: " + reference.name;
    result.texts = texts;
    if (texts.size() > 1)
        for (size_t t = 0; t < texts.size(); ++t) report::add_text(result, texts[t], per_text[t]);
    const std::string prefix = (std::filesystem::path(settings.out_dir) / "shootout").string();
    report::write_report_files(result, prefix);
    std::cout << report::markdown_table(result);
    std::fprintf(stderr, "shootout: wrote %s.md, %s.json, %s.csv\n", prefix.c_str(), prefix.c_str(), prefix.c_str());
    if (speed_log.enabled()) {
        speed_log.measure(reference);  // those still resident, as dense mode leaves them
        for (auto& variant : variants) speed_log.measure(variant);
        speed_log.write(reference, prefix);
    }
    return kExitOk;
}

}  // namespace

Command run_command() {
    Command command{
        "run",
        "quantize a reference into variants and compare them all on a text: KLD, top-1, PPL, size",
        {
            {"model", "FILE", "the reference GGUF (F32/F16/BF16, or any type)", false, "m"},
            {"quant", "RECIPE", "make a variant with this llama-quantize recipe (Q8_0, Q4_K_M, ...)", true},
            {"variant", "FILE", "an existing GGUF to compare (same vocabulary as the reference)", true},
            {"data", "FILE", "text to score (wikitext-2 style raw text)", true, "f"},
            {"ctx", "N", "tokens per chunk (default 512, as llama-perplexity -c)", false, "c"},
            {"chunks", "N", "score only the first N chunks (default: all)"},
            {"threads", "N", "worker threads (default: all cores)", false, "t"},
            {"out", "DIR", "where results, state and quantized files go (default results)", false, "o"},
            {"imatrix", "FILE", "importance matrix for --quant"},
            {"allow-requantize", "", "let --quant start from an already-quantized reference"},
            {"reference-mode", "MODE",
             "auto (default: dense when every model fits in memory), dense (exact, all resident) or top-k "
             "(reference run first, its top-k log-probs cached)"},
            {"top-k", "K", "log-probs kept per token in top-k mode (default 64)"},
            {"base-logits", "FILE", "use a llama-perplexity --kl-divergence-base file as the reference's log-probs"},
            {"tile", "ROWS", "scored positions whose logits are held at once (default 32; 256 with --backend cuda)"},
            {"no-resume", "", "ignore and do not write the per-chunk resume state"},
            {"backend", "NAME", "cpu (default) or cuda: where every model's forward pass runs"},
            {"gpu-memory", "GIB",
             "GPU memory the run may hold models in (default: what is free, less 5 %); what does not fit "
             "together runs in top-k mode, the variants in passes"},
        },
        run,
    };
    for (const OptionSpec& spec : speed_option_specs()) command.options.push_back(spec);
    return command;
}

}  // namespace shootout::cli
