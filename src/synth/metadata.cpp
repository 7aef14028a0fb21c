#include "synth/metadata.h"

#include <vector>

#include "util/error.h"

namespace shootout::synth {

using gguf::Value;
using gguf::ValueType;

namespace {

Value u32(int64_t v) { return Value::make_uint(ValueType::UINT32, static_cast<uint64_t>(v)); }
Value f32(double v) { return Value::make_float(ValueType::FLOAT32, v); }
Value str(std::string v) { return Value::make_string(std::move(v)); }

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// llama_token_type values (llama.cpp llama-vocab.h).
constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenUnused = 5;

}  // namespace

std::string byte_token(uint8_t byte) {
    // GPT-2 bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes map
    // in order to U+0100, U+0101, ...
    const auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    uint32_t cp = byte;
    if (!printable(byte)) {
        uint32_t n = 0;
        for (int b = 0; b < byte; ++b) {
            if (!printable(b)) ++n;
        }
        cp = 256 + n;
    }
    std::string text;
    append_utf8(text, cp);
    return text;
}

void write_vocabulary(gguf::Writer& writer, const Shape& shape) {
    const bool llama = shape.architecture == "llama";
    const std::vector<std::string> specials =
        llama ? std::vector<std::string>{"<|begin_of_text|>", "<|end_of_text|>"}
              : std::vector<std::string>{"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    const int64_t n_fixed = 256 + static_cast<int64_t>(specials.size());
    if (shape.n_vocab < n_fixed) {
        fail("synth", "a vocabulary of " + std::to_string(shape.n_vocab) + " tokens is too small (at least " +
                          std::to_string(n_fixed) + ")");
    }
    std::vector<Value> tokens, types;
    tokens.reserve(static_cast<size_t>(shape.n_vocab));
    types.reserve(static_cast<size_t>(shape.n_vocab));
    for (int b = 0; b < 256; ++b) {
        tokens.push_back(str(byte_token(static_cast<uint8_t>(b))));
        types.push_back(Value::make_int(ValueType::INT32, kTokenNormal));
    }
    for (const std::string& s : specials) {
        tokens.push_back(str(s));
        types.push_back(Value::make_int(ValueType::INT32, kTokenControl));
    }
    for (int64_t i = n_fixed; i < shape.n_vocab; ++i) {
        tokens.push_back(str("[PAD" + std::to_string(i) + "]"));
        types.push_back(Value::make_int(ValueType::INT32, kTokenUnused));
    }
    writer.set("tokenizer.ggml.model", str("gpt2"));
    writer.set("tokenizer.ggml.pre", str(shape.tokenizer_pre));
    writer.set("tokenizer.ggml.tokens", Value::make_array(ValueType::STRING, std::move(tokens)));
    writer.set("tokenizer.ggml.token_type", Value::make_array(ValueType::INT32, std::move(types)));
    writer.set("tokenizer.ggml.merges", Value::make_array(ValueType::STRING, {}));
    const int64_t first_special = 256;
    if (llama) {
        writer.set("tokenizer.ggml.bos_token_id", u32(first_special));
        writer.set("tokenizer.ggml.eos_token_id", u32(first_special + 1));
    } else {
        writer.set("tokenizer.ggml.eos_token_id", u32(first_special + 2));
        writer.set("tokenizer.ggml.padding_token_id", u32(first_special));
        writer.set("tokenizer.ggml.bos_token_id", u32(first_special));
    }
    writer.set("tokenizer.ggml.add_bos_token", Value::make_bool(shape.add_bos));
}

void write_metadata(gguf::Writer& writer, const Shape& s, quantize::FileType file_type, const std::string& note) {
    const std::string a = s.architecture + ".";
    writer.set("general.architecture", str(s.architecture));
    writer.set("general.type", str("model"));
    writer.set("general.name", str(s.model_name + " (synthetic)"));
    writer.set("general.size_label", str(s.name));
    writer.set(a + "block_count", u32(s.n_layer));
    writer.set(a + "context_length", u32(s.n_ctx_train));
    writer.set(a + "embedding_length", u32(s.n_embd));
    writer.set(a + "feed_forward_length", u32(s.n_ff));
    writer.set(a + "attention.head_count", u32(s.n_head));
    writer.set(a + "attention.head_count_kv", u32(s.n_head_kv));
    writer.set(a + "rope.freq_base", f32(s.rope_freq_base));
    writer.set(a + "attention.layer_norm_rms_epsilon", f32(s.rms_norm_eps));
    if (s.n_expert > 0) {
        writer.set(a + "expert_count", u32(s.n_expert));
        writer.set(a + "expert_used_count", u32(s.n_expert_used));
    }
    if (s.architecture == "llama") {
        writer.set(a + "vocab_size", u32(s.n_vocab));
        writer.set(a + "rope.dimension_count", u32(s.rope_dimension_count));
    } else {
        writer.set(a + "attention.key_length", u32(s.head_dim));
        writer.set(a + "attention.value_length", u32(s.head_dim));
    }
    if (s.n_expert > 0) writer.set(a + "expert_feed_forward_length", u32(s.n_ff_expert));
    if (s.n_ff_shared_expert > 0) writer.set(a + "expert_shared_feed_forward_length", u32(s.n_ff_shared_expert));
    if (s.full_attention_interval > 0) {
        writer.set(a + "ssm.conv_kernel", u32(s.ssm_conv_kernel));
        writer.set(a + "ssm.state_size", u32(s.ssm_state_size));
        writer.set(a + "ssm.group_count", u32(s.ssm_group_count));
        writer.set(a + "ssm.time_step_rank", u32(s.ssm_time_step_rank));
        writer.set(a + "ssm.inner_size", u32(s.ssm_inner_size()));
        writer.set(a + "full_attention_interval", u32(s.full_attention_interval));
        writer.set(a + "rope.dimension_count", u32(s.rope_dimension_count));
    }
    write_vocabulary(writer, s);
    writer.set("general.quantization_version", u32(2));
    writer.set("general.file_type", u32(static_cast<int64_t>(file_type)));
    writer.set("shootout.synthetic", str(note));
}

}  // namespace shootout::synth
