#include "quantize/tensor_category.h"

namespace shootout::quantize {

const char* category_name(Category category) {
    switch (category) {
        case Category::TokenEmbedding: return "token_embd";
        case Category::AttentionQ: return "attn_q";
        case Category::AttentionK: return "attn_k";
        case Category::AttentionV: return "attn_v";
        case Category::AttentionOutput: return "attn_output";
        case Category::FfnUp: return "ffn_up";
        case Category::FfnGate: return "ffn_gate";
        case Category::FfnDown: return "ffn_down";
        case Category::Output: return "output";
        case Category::Other: return "other";
    }
    return "other";
}

static bool contains(std::string_view name, std::string_view part) {
    return name.find(part) != std::string_view::npos;
}

Category tensor_category(std::string_view name) {
    if (name == "output.weight") return Category::Output;
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::TokenEmbedding;
    // Order matters: "attn_qkv.weight" must be tested before "attn_q.weight" could be confused, and
    // the ffn tests are substrings so that expert stacks (_exps) and shared experts (_shexp) match.
    static const std::pair<const char*, Category> by_substring[] = {
        {"attn_qkv.weight", Category::AttentionV},
        {"attn_kv_b.weight", Category::AttentionV},
        {"attn_v.weight", Category::AttentionV},
        {"attn_k.weight", Category::AttentionK},
        {"attn_q.weight", Category::AttentionQ},
        {"attn_output.weight", Category::AttentionOutput},
        {"ffn_up", Category::FfnUp},
        {"ffn_gate", Category::FfnGate},
        {"ffn_down", Category::FfnDown},
    };
    for (const auto& [part, category] : by_substring) {
        if (contains(name, part)) return category;
    }
    return Category::Other;
}

int effective_n_dims(const std::vector<int64_t>& shape) {
    for (int i = static_cast<int>(shape.size()) - 1; i >= 1; --i) {
        if (shape[i] > 1) return i + 1;
    }
    return 1;
}

std::optional<std::string> why_not_quantized(const std::string& name, const std::vector<int64_t>& shape,
                                             bool leave_output_tensor) {
    if (effective_n_dims(shape) < 2) return "1-D";
    if (name.size() < 6 || name.compare(name.size() - 6, 6, "weight") != 0) return "not a weight";
    if (leave_output_tensor && name == "output.weight") return "--leave-output-tensor";
    if (name == "position_embd.weight") return "positional embedding";
    if (name == "token_types.weight") return "token types";
    // Substrings llama-quantize never quantizes, with its reason for each group.
    static const std::pair<const char*, const char*> skipped[] = {
        {"_norm.weight", "norm"},
        {"ffn_gate_inp.weight", "MoE router"},
        {"ffn_gate_tid2eid.weight", "expert routing table"},
        {"altup", "small (altup)"},
        {"laurel", "small (laurel)"},
        {"per_layer_model_proj", "small (per-layer projection)"},
        {"ssm_conv1d", "small conv1d"},
        {"shortconv.conv.weight", "small conv1d"},
        {"indexer.k_proj.weight", "small indexer projection"},
        {"indexer.q_proj.weight", "small indexer projection"},
        {"time_mix_first.weight", "small RWKV weight"},
        {"time_mix_w0.weight", "small RWKV weight"},
        {"time_mix_w1.weight", "small RWKV weight"},
        {"time_mix_w2.weight", "small RWKV weight"},
        {"time_mix_v0.weight", "small RWKV weight"},
        {"time_mix_v1.weight", "small RWKV weight"},
        {"time_mix_v2.weight", "small RWKV weight"},
        {"time_mix_a0.weight", "small RWKV weight"},
        {"time_mix_a1.weight", "small RWKV weight"},
        {"time_mix_a2.weight", "small RWKV weight"},
        {"time_mix_g1.weight", "small RWKV weight"},
        {"time_mix_g2.weight", "small RWKV weight"},
        {"time_mix_decay_w1.weight", "small RWKV weight"},
        {"time_mix_decay_w2.weight", "small RWKV weight"},
        {"time_mix_lerp_fused.weight", "small RWKV weight"},
        {"attn_rel_b.weight", "relative position bias"},
        {".position_embd", "multimodal positional embedding"},
        {"sam.pos_embd", "multimodal positional embedding"},
        {"sam.neck.", "multimodal"},
        {"sam.net_", "multimodal"},
        {".rel_pos", "multimodal"},
        {".patch_embd", "multimodal"},
        {".patch_merger", "multimodal"},
        {"a.rvq.codebook", "audio codebook"},
        {"mm.a.code_embd", "audio codebook"},
    };
    for (const auto& [part, reason] : skipped) {
        if (contains(name, part)) return std::string(reason);
    }
    return std::nullopt;
}

}  // namespace shootout::quantize
