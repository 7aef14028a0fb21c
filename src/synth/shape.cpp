#include "synth/shape.h"

#include <cctype>

#include "util/error.h"

namespace shootout::synth {

namespace {

// Qwen3 dense (Qwen/Qwen3-*/config.json): vocab 151936, head_dim 128, rope_theta 1e6, rms 1e-6,
// max_position_embeddings 40960; the three smallest tie the output matrix to the embedding.
// Built out of line: GCC 12 inlines these std::string assignments into the table's initialiser and
// then reports false -Wrestrict / -Wmaybe-uninitialized warnings (GCC bug 105329).
[[gnu::noinline]] Shape qwen3(const char* name, int64_t n_embd, int64_t n_layer, int64_t n_ff, int64_t n_head, bool tied) {
    Shape s;
    s.architecture = "qwen3";
    s.name = name;
    s.model_name = std::string("Qwen3-") + name;
    s.n_vocab = 151936;
    s.n_embd = n_embd;
    s.n_layer = n_layer;
    s.n_ff = n_ff;
    s.n_head = n_head;
    s.n_head_kv = 8;
    s.head_dim = 128;
    s.n_ctx_train = 40960;
    s.rope_freq_base = 1e6;
    s.rms_norm_eps = 1e-6;
    s.tied_embeddings = tied;
    s.tokenizer_pre = "qwen2";
    return s;
}

// meta-llama/Meta-Llama-3-8B/config.json.
[[gnu::noinline]] Shape llama3_8b() {
    Shape s;
    s.architecture = "llama";
    s.name = "8B";
    s.model_name = "Meta-Llama-3-8B";
    s.n_vocab = 128256;
    s.n_embd = 4096;
    s.n_layer = 32;
    s.n_ff = 14336;
    s.n_head = 32;
    s.n_head_kv = 8;
    s.head_dim = 128;
    s.n_ctx_train = 8192;
    s.rope_freq_base = 500000.0;
    s.rms_norm_eps = 1e-5;
    s.rope_dimension_count = 128;  // the converter writes it for llama
    s.tokenizer_pre = "llama-bpe";
    s.add_bos = true;
    return s;
}

// Qwen/Qwen3-30B-A3B/config.json.
[[gnu::noinline]] Shape qwen3_30b_a3b() {
    Shape s = qwen3("30B-A3B", 2048, 48, 6144, 32, false);
    s.architecture = "qwen3moe";
    s.n_head_kv = 4;
    s.n_expert = 128;
    s.n_expert_used = 8;
    s.n_ff_expert = 768;
    return s;
}

// Qwen/Qwen3-Next-80B-A3B-Instruct/config.json: 48 layers, 3 Gated DeltaNet : 1 gated attention,
// 512 experts (top 10) of width 512 plus a shared expert of width 512; partial rotary 0.25 of 256.
[[gnu::noinline]] Shape qwen3next_80b_a3b() {
    Shape s = qwen3("Next-80B-A3B", 2048, 48, 5120, 16, false);
    s.architecture = "qwen3next";
    s.name = "80B-A3B";
    s.n_head_kv = 2;
    s.head_dim = 256;
    s.n_ctx_train = 262144;
    s.rope_freq_base = 1e7;
    s.n_expert = 512;
    s.n_expert_used = 10;
    s.n_ff_expert = 512;
    s.n_ff_shared_expert = 512;
    s.ssm_conv_kernel = 4;
    s.ssm_state_size = 128;
    s.ssm_group_count = 16;
    s.ssm_time_step_rank = 32;
    s.full_attention_interval = 4;
    s.rope_dimension_count = 64;
    return s;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
}

}  // namespace

const std::vector<Shape>& shapes() {
    static const std::vector<Shape> list = {
        qwen3("0.6B", 1024, 28, 3072, 16, true),
        qwen3("1.7B", 2048, 28, 6144, 16, true),
        qwen3("4B", 2560, 36, 9728, 32, true),
        qwen3("8B", 4096, 36, 12288, 32, false),
        qwen3("14B", 5120, 40, 17408, 40, false),
        qwen3("32B", 5120, 64, 25600, 64, false),
        llama3_8b(),
        qwen3_30b_a3b(),
        qwen3next_80b_a3b(),
    };
    return list;
}

const Shape& find_shape(std::string_view architecture, std::string_view name) {
    for (const Shape& s : shapes()) {
        if (equal_ignoring_case(s.architecture, architecture) &&
            (equal_ignoring_case(s.name, name) || equal_ignoring_case(s.model_name, name))) {
            return s;
        }
    }
    fail("synth", "unknown shape --arch " + std::string(architecture) + " --shape " + std::string(name) +
                      " (known: " + list_shapes() + ")");
}

std::string list_shapes() {
    std::string text;
    for (const Shape& s : shapes()) {
        if (!text.empty()) text += ", ";
        text += s.architecture + " " + s.name + " (" + s.model_name + ")";
    }
    return text;
}

}  // namespace shootout::synth
