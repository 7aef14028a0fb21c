// Synthetic GGUF models: a named shape, a llama-quantize recipe and a seed in, a GGUF out whose
// tensors have the types llama-quantize would choose for the real model and random contents, written
// directly in those types tensor by tensor (an 80B model never exists in F16, on disk or in memory).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "quantize/plan.h"
#include "quantize/recipe.h"
#include "synth/shape.h"

namespace shootout::synth {

enum class Fill {
    Auto,      // Fast for shapes of more than kAutoFastParameters, Quantize otherwise
    Fast,      // random quantized blocks written directly (GB/s)
    Quantize,  // random F32 rows quantized with the type's reference quantizer (tens of MB/s)
};
constexpr int64_t kAutoFastParameters = 2'000'000'000;

struct SynthOptions {
    quantize::Recipe recipe;
    uint64_t seed = 1;
    Fill fill = Fill::Auto;
    int n_threads = 0;  // <= 0: all hardware threads
    // Called after each tensor is written (index into plan.tensors, bytes written).
    std::function<void(const quantize::TensorPlan&, size_t index, size_t bytes)> on_tensor;
};

struct SynthResult {
    quantize::Plan plan;
    bool fast = false;            // random blocks (true) or quantized random floats
    int n_random_block_tensors = 0;  // in Quantize mode: tensors of a type without a quantizer
    uint64_t n_elements = 0;
    uint64_t output_bytes = 0;    // tensor data, no padding
    double bits_per_weight() const { return n_elements ? 8.0 * double(output_bytes) / double(n_elements) : 0.0; }
};

// llama-quantize's per-tensor plan for the shape's tensors (as the converter's BF16 output) and recipe.
quantize::Plan synth_plan(const Shape& shape, const quantize::Recipe& recipe);

// Writes the synthetic model to `path` (atomically). Throws Error naming the tensor when a chosen type
// can be produced neither way (no quantizer and no random-block generator).
SynthResult synthesize(const Shape& shape, const SynthOptions& options, const std::string& path);

}  // namespace shootout::synth
