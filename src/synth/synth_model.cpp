#include "synth/synth_model.h"

#include <algorithm>
#include <map>

#include "gguf/gguf.h"
#include "synth/metadata.h"
#include "synth/random_weights.h"
#include "synth/tensor_list.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::synth {

using quant::TypeId;

namespace {

bool is_float_type(TypeId type) { return type == TypeId::F32 || type == TypeId::F16 || type == TypeId::BF16; }

// How one tensor's bytes are made.
struct TensorJob {
    const quantize::TensorPlan* plan;
    ValueKind kind;
    bool random_blocks;  // otherwise random floats through the type's quantize_rows
};

TensorJob prepare(const quantize::TensorPlan& t, ValueKind kind, bool fast) {
    const quant::TypeTraits& traits = quant::traits(t.type);
    // Synthetic rows have no importance matrix: types that require one (IQ2_XXS, IQ2_XS, IQ1_S) are
    // written as random blocks instead.
    const bool can_quantize = traits.quantize_rows != nullptr && !traits.requires_imatrix;
    const bool can_randomize = has_random_blocks(t.type);
    if (!can_quantize && !can_randomize) {
        fail(t.name, std::string("type ") + traits.name + ": neither a quantizer nor a random-block generator");
    }
    // Float types are always written from random floats: there is nothing faster to do.
    const bool random = !is_float_type(t.type) && can_randomize && (fast || !can_quantize);
    return {&t, kind, random};
}

void fill_tensor(const TensorJob& job, uint64_t seed, uint8_t* dst, size_t size_bytes, ThreadPool& pool) {
    const quantize::TensorPlan& t = *job.plan;
    const quant::TypeTraits& traits = quant::traits(t.type);
    const int64_t n_per_row = t.shape[0];
    int64_t n_elements = 1;
    for (int64_t d : t.shape) n_elements *= d;
    const int64_t n_rows = n_elements / n_per_row;
    const size_t row_bytes = quant::row_size_bytes(t.type, n_per_row);
    if (static_cast<size_t>(n_rows) * row_bytes != size_bytes) fail(t.name, "output size mismatch");
    const uint64_t base_seed = tensor_seed(seed, t.name);

    // A slice's error comes back from parallel_for (as an Error, whatever its kind).
    try {
        pool.parallel_for(static_cast<size_t>(n_rows), [&](size_t begin, size_t end, int) {
            std::vector<float> scratch;
            for (size_t row = begin; row < end; ++row) {
                const uint64_t rs = row_seed(base_seed, static_cast<int64_t>(row));
                uint8_t* out = dst + row * row_bytes;
                if (job.random_blocks) {
                    random_blocks(t.type, rs, out, n_per_row / traits.block_size);
                    continue;
                }
                scratch.resize(static_cast<size_t>(n_per_row));
                random_floats(job.kind, rs, scratch.data(), n_per_row);
                const size_t written = traits.quantize_rows(scratch.data(), out, 1, n_per_row, nullptr);
                if (written != row_bytes) fail(t.name, "quantizer wrote an unexpected number of bytes");
            }
        });
    } catch (const std::exception& e) {
        throw Error(e.what());
    }
}

}  // namespace

quantize::Plan synth_plan(const Shape& shape, const quantize::Recipe& recipe) {
    std::vector<quantize::TensorDesc> descs;
    for (const SynthTensor& t : synth_tensors(shape)) descs.push_back(t.desc);
    return quantize::make_plan(model_facts(shape), std::move(descs), recipe, false);
}

SynthResult synthesize(const Shape& shape, const SynthOptions& options, const std::string& path) {
    SynthResult result;
    result.plan = synth_plan(shape, options.recipe);
    result.fast = options.fill == Fill::Fast ||
                  (options.fill == Fill::Auto && parameter_count(shape) > kAutoFastParameters);

    std::map<std::string, ValueKind> kinds;
    for (const SynthTensor& t : synth_tensors(shape)) kinds[t.desc.name] = t.kind;
    std::vector<TensorJob> jobs;
    jobs.reserve(result.plan.tensors.size());
    for (const auto& t : result.plan.tensors) {
        jobs.push_back(prepare(t, kinds.at(t.name), result.fast));
        if (!result.fast && jobs.back().random_blocks) ++result.n_random_block_tensors;
    }

    gguf::Writer writer;
    const std::string note = "random weights, seed " + std::to_string(options.seed) + ", " +
                             (result.fast ? "random quantized blocks" : "quantized random N(0, 0.02) rows") +
                             ", recipe " + options.recipe.describe();
    write_metadata(writer, shape, options.recipe.file_type, note);

    ThreadPool pool(options.n_threads);
    for (size_t i = 0; i < jobs.size(); ++i) {
        const quantize::TensorPlan& t = *jobs[i].plan;
        int64_t n_elements = 1;
        for (int64_t d : t.shape) n_elements *= d;
        result.n_elements += static_cast<uint64_t>(n_elements);
        result.output_bytes += static_cast<uint64_t>(n_elements / t.shape[0]) * quant::row_size_bytes(t.type, t.shape[0]);
        writer.add_tensor(t.name, t.shape, t.type, [&jobs, &pool, &options, i](uint8_t* dst, size_t size_bytes) {
            fill_tensor(jobs[i], options.seed, dst, size_bytes, pool);
            if (options.on_tensor) options.on_tensor(*jobs[i].plan, i, size_bytes);
        });
    }
    writer.write(path);
    return result;
}

}  // namespace shootout::synth
