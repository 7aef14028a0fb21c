// Named model shapes for synthetic GGUF files: the hyper-parameters of real models (from their Hugging
// Face configs, as llama.cpp's convert_hf_to_gguf.py writes them), so that speed can be measured on the
// exact tensor shapes of models whose weights are not at hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shootout::synth {

struct Shape {
    std::string architecture;   // general.architecture: "qwen3", "llama", "qwen3moe", "qwen3next"
    std::string name;           // the size as users say it: "8B", "30B-A3B"
    std::string model_name;     // general.name: "Qwen3-8B"
    int64_t n_vocab = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_ff = 0;           // feed_forward_length (dense FFN width)
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;       // attention.key_length = value_length
    int64_t n_ctx_train = 0;
    double rope_freq_base = 10000.0;
    double rms_norm_eps = 1e-6;
    bool tied_embeddings = false;  // no output.weight: the token embedding is the output matrix

    // Mixture of experts (qwen3moe, qwen3next); zero for dense models.
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    int64_t n_ff_expert = 0;
    int64_t n_ff_shared_expert = 0;  // qwen3next's shared expert

    // qwen3next: Gated DeltaNet (linear attention) layers, one full-attention layer in every
    // `full_attention_interval` layers (the last of each group).
    int64_t ssm_conv_kernel = 0;
    int64_t ssm_state_size = 0;      // head dim of the linear-attention keys and values
    int64_t ssm_group_count = 0;     // key heads
    int64_t ssm_time_step_rank = 0;  // value heads
    int64_t full_attention_interval = 0;
    int64_t rope_dimension_count = 0;  // written when rotary embedding covers part of the head only

    std::string tokenizer_pre;  // tokenizer.ggml.pre: "qwen2", "llama-bpe"
    bool add_bos = false;       // tokenizer.ggml.add_bos_token

    int64_t ssm_inner_size() const { return ssm_state_size * ssm_time_step_rank; }
    bool is_recurrent_layer(int64_t layer) const {
        return full_attention_interval > 0 && (layer + 1) % full_attention_interval != 0;
    }
};

// Every named shape: Qwen3 0.6B 1.7B 4B 8B 14B 32B, Llama-3 8B, Qwen3-30B-A3B, Qwen3-Next-80B-A3B.
const std::vector<Shape>& shapes();
// Case-insensitive lookup by architecture and size ("qwen3", "8B"); `name` may also be the model
// name ("Qwen3-8B"). Throws Error listing the known shapes.
const Shape& find_shape(std::string_view architecture, std::string_view name);
// "qwen3 0.6B (Qwen3-0.6B), qwen3 1.7B (...), ..." for help texts and errors.
std::string list_shapes();

}  // namespace shootout::synth
