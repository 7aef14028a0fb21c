// The tensors of a shape, named and shaped as llama.cpp's converter writes them (and as llama.cpp's
// loader expects them), with the source type the converter would give them (BF16 weights, F32 norms
// and routers): the plan of a recipe is then exactly llama-quantize's for the real model.
#pragma once

#include <vector>

#include "quantize/plan.h"
#include "synth/shape.h"

namespace shootout::synth {

// What a tensor's random values look like.
enum class ValueKind {
    Weight,    // N(0, 0.02), the usual initializer range
    Norm,      // 1 + N(0, 0.02): RMSNorm gains (and qwen3next's dt bias, initialised to ones)
    Decay,     // qwen3next ssm_a = -A, A uniform in (1, 16) as the HF initialiser draws it
};

struct SynthTensor {
    quantize::TensorDesc desc;
    ValueKind kind = ValueKind::Weight;
};

std::vector<SynthTensor> synth_tensors(const Shape& shape);
quantize::ModelFacts model_facts(const Shape& shape);
int64_t parameter_count(const Shape& shape);  // elements of all tensors

}  // namespace shootout::synth
