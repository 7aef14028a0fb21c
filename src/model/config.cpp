#include "model/config.h"

#include "gguf/gguf.h"
#include "util/error.h"

namespace shootout::model {

namespace {

int64_t positive(const gguf::File& file, const std::string& key, uint64_t value) {
    if (value == 0 || value > (1ull << 31)) fail(file.path(), "metadata " + key + " = " + std::to_string(value) + " is out of range");
    return (int64_t)value;
}

}  // namespace

Config read_config(const gguf::File& file, backend::RopeStyle rope_style) {
    Config c;
    c.architecture = file.architecture();
    const std::string p = c.architecture + ".";
    auto required = [&](const std::string& key) { return positive(file, p + key, file.get(p + key).as_uint()); };
    auto optional = [&](const std::string& key, uint64_t fallback) {
        return positive(file, p + key, file.get_uint(p + key, fallback));
    };

    c.n_layers = required("block_count");
    const uint64_t nextn = file.get_uint(p + "nextn_predict_layers", 0);
    if (nextn >= (uint64_t)c.n_layers)
        fail(file.path(), "metadata " + p + "nextn_predict_layers = " + std::to_string(nextn) +
                              " leaves no main layers of block_count " + std::to_string(c.n_layers));
    c.n_nextn_layers = (int64_t)nextn;
    c.n_layers -= c.n_nextn_layers;
    c.n_embd = required("embedding_length");
    c.n_ff = required("feed_forward_length");
    c.n_head = required("attention.head_count");
    c.n_head_kv = optional("attention.head_count_kv", (uint64_t)c.n_head);
    if (c.n_head % c.n_head_kv != 0)
        fail(file.path(), "attention.head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " +
                              std::to_string(c.n_head_kv));
    if (!file.find(p + "attention.key_length") && c.n_embd % c.n_head != 0)
        fail(file.path(), "embedding_length is not a multiple of attention.head_count");
    c.head_dim = optional("attention.key_length", (uint64_t)(c.n_embd / c.n_head));
    if (file.get_uint(p + "attention.value_length", (uint64_t)c.head_dim) != (uint64_t)c.head_dim)
        fail(file.path(), "attention.value_length differs from key_length (not supported)");
    c.n_ctx_train = optional("context_length", 2048);
    c.rms_eps = (float)file.get(p + "attention.layer_norm_rms_epsilon").as_float();

    c.rope.style = rope_style;
    c.rope.n_rot = optional("rope.dimension_count", (uint64_t)c.head_dim);
    if (c.rope.n_rot > c.head_dim || c.rope.n_rot % 2 != 0)
        fail(file.path(), "rope.dimension_count " + std::to_string(c.rope.n_rot) + " invalid for head size " +
                              std::to_string(c.head_dim));
    c.rope.freq_base = (float)file.get_float(p + "rope.freq_base", 10000.0);
    // Context-extension schemes change the angles; refuse them rather than compute something else.
    const std::string scaling = file.get_string(p + "rope.scaling.type", "none");
    const double scaling_factor = file.get_float(p + "rope.scaling.factor", 1.0);
    if ((scaling != "none" && scaling != "linear") || (scaling_factor != 0.0 && scaling_factor != 1.0))
        fail(file.path(), "RoPE scaling '" + scaling + "' (factor " + std::to_string(scaling_factor) + ") is not supported");

    // Vocabulary size as llama.cpp finds it: <arch>.vocab_size, else the token list; 0 if neither
    // (the loader then takes it from token_embd).
    if (const gguf::Value* v = file.find(p + "vocab_size")) {
        c.n_vocab = positive(file, p + "vocab_size", v->as_uint());
    } else if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens")) {
        c.n_vocab = (int64_t)tokens->as_array().size();
    }
    return c;
}

}  // namespace shootout::model
