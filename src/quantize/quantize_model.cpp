#include "quantize/quantize_model.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "gguf/gguf.h"
#include "util/error.h"
#include "quantize/tensor_category.h"
#include "util/parallel.h"

namespace shootout::quantize {

using quant::TypeId;

namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION
constexpr size_t kMaxOverrideStringBytes = 127;  // llama_model_kv_override::val_str holds 128 chars

// ggml_n_dims: GGUF tensor infos written by ggml drop trailing dimensions of size 1.
std::vector<int64_t> trimmed_shape(std::vector<int64_t> shape) {
    while (shape.size() > 1 && shape.back() == 1) shape.pop_back();
    return shape;
}

// llama's gguf_set_val_*: remove the key, then append it, so a rewritten key moves to the end.
void set_at_end(gguf::Writer& writer, const std::string& key, gguf::Value value) {
    writer.remove(key);
    writer.set(key, std::move(value));
}

// Everything a tensor's Fill needs, checked before writing starts.
struct TensorJob {
    const TensorPlan* plan;
    const gguf::TensorInfo* source;
    const float* importance = nullptr;  // ne0 * n_expert values, or null
};

TensorJob prepare(const gguf::File& input, const TensorPlan& t, const QuantizeOptions& options, bool plan_has_imatrix) {
    TensorJob job{&t, &input.tensor(t.name)};
    if (job.source->type != t.source_type || trimmed_shape(job.source->shape) != trimmed_shape(t.shape)) {
        fail(t.name, "the plan does not match the input file (type or shape differs)");
    }
    if (!t.converts()) return job;
    const quant::TypeTraits& to = quant::traits(t.type);
    if (to.quantize_rows == nullptr) fail(t.name, std::string("type ") + to.name + ": quantizer not available");
    const quant::TypeTraits& from = quant::traits(t.source_type);
    const bool float_source = t.source_type == TypeId::F32 || t.source_type == TypeId::F16 || t.source_type == TypeId::BF16;
    if (!float_source && !(options.allow_requantize && from.is_quantized)) {
        fail(t.name, std::string("requantizing from type ") + from.name + " is disabled");
    }
    if (from.to_float == nullptr) fail(t.name, std::string("type ") + from.name + ": no dequantizer available");

    if (options.imatrix) {
        if (const std::vector<float>* values = options.imatrix->find(t.name)) {
            const int64_t n_expert = t.shape.size() > 2 ? t.shape[2] : 1;
            if (static_cast<int64_t>(values->size()) == t.shape[0] * n_expert) {
                job.importance = values->data();
            } else if (tensor_category(t.name) != Category::TokenEmbedding) {
                // llama-quantize aborts here: quantizing without the imatrix would be silently worse.
                fail(t.name, "imatrix has " + std::to_string(values->size()) + " values, the tensor needs " +
                                 std::to_string(t.shape[0] * n_expert));
            }
        }
    }
    if (t.requires_imatrix && job.importance == nullptr) {
        fail(t.name, std::string(plan_has_imatrix ? "missing importance matrix entry" : "this recipe requires an importance matrix") +
                         " for type " + to.name + " (llama-quantize refuses: the result would be garbage)");
    }
    return job;
}

// Converts and quantizes one tensor into dst, in parallel over row groups. Rows are independent in
// every ggml quantizer, so any split gives the bytes llama-quantize's chunking gives.
void quantize_tensor(const TensorJob& job, uint8_t* dst, size_t size_bytes, ThreadPool& pool) {
    const TensorPlan& t = *job.plan;
    const int64_t n_per_row = t.shape[0];
    int64_t n_elements = 1;
    for (int64_t d : t.shape) n_elements *= d;
    const int64_t n_rows = n_elements / n_per_row;
    const int64_t rows_per_expert = t.shape.size() > 1 ? t.shape[1] : 1;
    const int64_t n_expert = t.shape.size() > 2 ? t.shape[2] : 1;
    const size_t source_row_bytes = quant::row_size_bytes(t.source_type, n_per_row);
    const size_t row_bytes = quant::row_size_bytes(t.type, n_per_row);
    if (static_cast<size_t>(n_rows) * row_bytes != size_bytes) fail(t.name, "output size mismatch");
    const quant::TypeTraits& from = quant::traits(t.source_type);
    const quant::TypeTraits& to = quant::traits(t.type);
    const int64_t rows_per_batch = std::max<int64_t>(1, 32768 / n_per_row);

    // A quantizer's error names the tensor (ThreadPool rethrows a slice's exception here).
    try {
        pool.parallel_for(static_cast<size_t>(n_rows), [&](size_t begin, size_t end, int) {
            std::vector<float> scratch;
            for (int64_t row = static_cast<int64_t>(begin); row < static_cast<int64_t>(end);) {
                // A batch stays within one expert slice: each slice has its own importance vector.
                const int64_t slice_end = (row / rows_per_expert + 1) * rows_per_expert;
                const int64_t batch_end = std::min({static_cast<int64_t>(end), row + rows_per_batch, slice_end});
                const int64_t batch_rows = batch_end - row;
                scratch.resize(static_cast<size_t>(batch_rows * n_per_row));
                from.to_float(job.source->data + row * source_row_bytes, scratch.data(), batch_rows * n_per_row);
                const float* importance =
                    job.importance ? job.importance + ((row / rows_per_expert) % n_expert) * n_per_row : nullptr;
                const size_t written = to.quantize_rows(scratch.data(), dst + row * row_bytes, batch_rows, n_per_row, importance);
                if (written != static_cast<size_t>(batch_rows) * row_bytes) {
                    throw Error(std::string("quantizer for ") + to.name + " wrote " + std::to_string(written) +
                                " bytes, expected " + std::to_string(batch_rows * row_bytes));
                }
                row = batch_end;
            }
        });
    } catch (const std::exception& e) {
        fail(t.name, e.what());
    }
}

}  // namespace

void check_quantize_inputs(const gguf::File& input, const Plan& plan, const QuantizeOptions& options) {
    for (const auto& t : plan.tensors) (void)prepare(input, t, options, plan.has_imatrix);
}

QuantizeResult quantize_model(const gguf::File& input, const Plan& plan, const QuantizeOptions& options,
                              const std::string& output_path) {
    if (plan.has_imatrix != (options.imatrix != nullptr)) {
        fail(output_path, plan.has_imatrix ? "the plan was made for an importance matrix, but none was given"
                                           : "an importance matrix was given, but the plan was made without one");
    }
    std::vector<TensorJob> jobs;
    jobs.reserve(plan.tensors.size());
    for (const auto& t : plan.tensors) jobs.push_back(prepare(input, t, options, plan.has_imatrix));

    gguf::Writer writer;
    for (const auto& [key, value] : input.metadata()) {
        if (key == "split.no" || key == "split.count" || key == "split.tensors.count") continue;
        writer.set(key, value);
    }
    set_at_end(writer, "general.quantization_version", gguf::Value::make_uint(gguf::ValueType::UINT32, kQuantizationVersion));
    set_at_end(writer, "general.file_type",
               gguf::Value::make_uint(gguf::ValueType::UINT32, static_cast<uint32_t>(plan.recipe.file_type)));
    if (const ImportanceMatrix* m = options.imatrix) {
        const std::string label = options.imatrix_label.empty() ? m->path : options.imatrix_label;
        set_at_end(writer, "quantize.imatrix.file", gguf::Value::make_string(label.substr(0, kMaxOverrideStringBytes)));
        if (!m->datasets.empty()) {
            set_at_end(writer, "quantize.imatrix.dataset",
                       gguf::Value::make_string(m->datasets[0].substr(0, kMaxOverrideStringBytes)));
        }
        set_at_end(writer, "quantize.imatrix.entries_count",
                   gguf::Value::make_uint(gguf::ValueType::UINT32, m->entries.size()));
        if (m->chunk_count > 0) {
            set_at_end(writer, "quantize.imatrix.chunks_count",
                       gguf::Value::make_uint(gguf::ValueType::UINT32, static_cast<uint64_t>(m->chunk_count)));
        }
    }
    if (options.record_recipe) {
        std::string recipe = plan.recipe.describe();
        if (options.imatrix) recipe += " --imatrix";
        set_at_end(writer, "shootout.recipe", gguf::Value::make_string(recipe));
    }

    ThreadPool pool(options.n_threads);
    QuantizeResult result;
    for (size_t i = 0; i < jobs.size(); ++i) {
        const TensorJob& job = jobs[i];
        const TensorPlan& t = *job.plan;
        result.source_bytes += job.source->size_bytes;
        result.n_elements += static_cast<uint64_t>(job.source->n_elements());
        writer.add_tensor(t.name, trimmed_shape(t.shape), t.type, [&job, &pool, &options, i](uint8_t* dst, size_t size_bytes) {
            if (job.plan->converts()) {
                quantize_tensor(job, dst, size_bytes, pool);
            } else {
                if (size_bytes != job.source->size_bytes) fail(job.plan->name, "copy size mismatch");
                std::memcpy(dst, job.source->data, size_bytes);
            }
            if (options.on_tensor) options.on_tensor(*job.plan, i, size_bytes);
        });
    }
    writer.write(output_path);
    for (const auto& t : plan.tensors) {
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        result.output_bytes += static_cast<uint64_t>(n / t.shape[0]) * quant::row_size_bytes(t.type, t.shape[0]);
    }
    return result;
}

}  // namespace shootout::quantize
