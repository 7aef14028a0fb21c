// The hyperparameters of a llama-family transformer, read from GGUF metadata under the
// architecture's prefix (<arch>.block_count, <arch>.attention.head_count, ...) as llama.cpp reads them.
#pragma once

#include <cstdint>
#include <string>

#include "backend/ops.h"

namespace shootout {
namespace gguf {
class File;
}

namespace model {

struct Config {
    std::string architecture;
    int64_t n_layers = 0;  // the main stack: what every forward pass runs
    // NextN / multi-token-prediction blocks llama.cpp's converter may append after the main stack
    // (block_count counts them, nextn_predict_layers says how many): loaded by nothing here, as
    // llama.cpp's main pass leaves them out.
    int64_t n_nextn_layers = 0;
    int64_t n_embd = 0;
    int64_t n_ff = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;     // attention.key_length, else n_embd / n_head
    int64_t n_vocab = 0;
    int64_t n_ctx_train = 0;
    float rms_eps = 0;
    backend::RopeParams rope;  // n_rot = rope.dimension_count, else head_dim

    backend::AttentionShape attention_shape() const { return {n_head, n_head_kv, head_dim}; }
};

// Throws Error naming the file and key for a missing or inconsistent value.
Config read_config(const gguf::File& file, backend::RopeStyle rope_style);

}  // namespace model
}  // namespace shootout
