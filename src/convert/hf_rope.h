// config.json's RoPE settings as convert_hf_to_gguf.py's TextModel resolves them (rope_parameters or
// rope_scaling, its full_attention part, rope_theta mirrored from the top level), and LlamaModel's
// Llama 3.1 / 3.2 frequency factors (rope_type "llama3": the rope_freqs.weight tensor it generates).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convert/json.h"

namespace shootout::convert {

struct RopeSettings {
    const Json* params = nullptr;  // the rope dict the converter reads (never null: an empty object when absent)
    std::string type;              // its rope_type, else its type; empty when neither is a string
    const Json* theta = nullptr;   // rope_theta there, else the top-level key the converter mirrors; may be null
    bool mirrored = true;          // top-level settings fill in the dict (it is not split per layer type)
};
RopeSettings rope_settings(const Json& config);

// rope_type "llama3" in any case (the converter compares rope_type.lower()).
bool is_llama3_rope(const RopeSettings& rope);

// What LlamaModel.generate_extra_tensors reads for rope_type llama3.
struct Llama3Rope {
    double theta = 10000.0;  // rope_theta (the converter's default when there is none)
    double factor = 0, low_freq_factor = 0, high_freq_factor = 0, original_context = 0;
    int64_t n_rot = 0;       // head_dim, else hidden_size / num_attention_heads
};

// Reads the four llama3 fields (original_max_position_embeddings may also sit at the top level, which
// the converter mirrors into the dict). A missing or non-numeric field is an Error naming it: the converter
// would fall back to Llama 3.1's values (8, 1, 4, 8192), transformers refuses such a config.
Llama3Rope llama3_rope(const Json& config, const RopeSettings& rope, const std::string& where);

// rope_freqs.weight: n_rot / 2 factors (rounded up), the float32 values the converter stores. It
// computes in torch float32, operation for operation as here: freq = 1 / theta^(2i / n_rot), wavelen
// = 2 pi / freq; factor 1 where wavelen < original_context / high_freq_factor, `factor` where wavelen >
// original_context / low_freq_factor, else 1 / ((1 - s) / factor + s) with s = (original_context /
// wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor).
std::vector<float> llama3_rope_factors(const Llama3Rope& rope);

}  // namespace shootout::convert
