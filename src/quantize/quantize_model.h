// The quantize pipeline: a GGUF model and a plan in, a quantized GGUF out, streamed tensor by tensor
// (source rows -> F32 -> quantize_rows of the chosen type, in parallel over row groups). By default
// the output is byte-identical to llama-quantize's for the same recipe: its metadata order
// (input keys in order, then general.quantization_version = 2 and general.file_type moved to the
// end, then the quantize.imatrix.* keys when an imatrix is used), its tensor order and its padding.
// The opt-in `record_recipe` adds a `shootout.recipe` key, which changes the file's bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "quantize/imatrix.h"
#include "quantize/plan.h"

namespace shootout::gguf {
class File;
}

namespace shootout::quantize {

struct QuantizeOptions {
    int n_threads = 0;                          // <= 0: all hardware threads
    const ImportanceMatrix* imatrix = nullptr;  // required when the plan was made with has_imatrix
    // Written as quantize.imatrix.file (llama-quantize writes the path as given on its command line,
    // at most 127 bytes); empty: imatrix->path.
    std::string imatrix_label;
    bool record_recipe = false;     // add `shootout.recipe` = the recipe's flags (not byte-identical then)
    bool allow_requantize = false;  // accept quantized source tensors (llama-quantize --allow-requantize)
    // Called after each tensor is written (index into plan.tensors, bytes written).
    std::function<void(const TensorPlan&, size_t index, size_t output_bytes)> on_tensor;
};

struct QuantizeResult {
    uint64_t source_bytes = 0;   // tensor data in the input
    uint64_t output_bytes = 0;   // tensor data in the output (no padding)
    uint64_t n_elements = 0;
    double bits_per_weight() const { return n_elements ? 8.0 * double(output_bytes) / double(n_elements) : 0.0; }
};

// Checks everything it can before writing (a quantizer for every chosen type, source types, imatrix
// sizes) and throws Error naming the tensor, e.g. "type q4_K: quantizer not available". The output
// appears atomically.
QuantizeResult quantize_model(const gguf::File& input, const Plan& plan, const QuantizeOptions& options,
                              const std::string& output_path);

// Those checks alone, writing nothing: for a caller about to run several quantizations, so that the
// last one's mistake does not wait for the first ones to finish.
void check_quantize_inputs(const gguf::File& input, const Plan& plan, const QuantizeOptions& options);

}  // namespace shootout::quantize
