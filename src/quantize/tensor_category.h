// Which tensors llama-quantize quantizes at all, and the broad category each belongs to: the
// categories are what the mixture rules key on (attn_v, ffn_down, output, ...), not exact names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shootout::quantize {

enum class Category {
    TokenEmbedding,   // token_embd.weight, per_layer_token_embd.weight
    AttentionQ,
    AttentionK,
    AttentionV,       // attn_v, and the fused attn_qkv / attn_kv_b, which the rules treat alike
    AttentionOutput,
    FfnUp,            // substring match: also ffn_up_exps, ffn_up_shexp
    FfnGate,
    FfnDown,
    Output,           // output.weight
    Other,
};
const char* category_name(Category category);

// llama-quant.cpp tensor_get_category: first match in a fixed order of name tests.
Category tensor_category(std::string_view name);

// ggml_n_dims: the number of dimensions, ignoring trailing dimensions of size 1 (at least 1).
int effective_n_dims(const std::vector<int64_t>& shape);

// llama-quant.cpp tensor_allows_quantization: nullopt when the tensor may be quantized, otherwise
// why not (e.g. "norm", "1-D", "MoE router"). `leave_output_tensor` is --leave-output-tensor.
std::optional<std::string> why_not_quantized(const std::string& name, const std::vector<int64_t>& shape,
                                             bool leave_output_tensor);

}  // namespace shootout::quantize
