// Llama (and SmolLM, Mistral-style dense models): the llama block (Transformer::layer) with normal
// (adjacent-pair) RoPE; the GGUF converter already permuted Q and K for this layout. Llama 3.1 / 3.2
// add RoPE frequency factors; some llama-architecture files carry Q/K/V biases.
#include "backend/cpu/cpu_ops.h"
#include "gguf/gguf.h"
#include "model/transformer.h"
#include "util/error.h"

namespace shootout::model {

std::unique_ptr<Model> make_llama(const gguf::File& file, ThreadPool& pool) {
    Config config = read_config(file, backend::RopeStyle::Normal);
    // Llama 3.1 / 3.2: RoPE frequency factors (llama.cpp's converter writes them for rope_type llama3).
    if (const gguf::TensorInfo* freqs = file.find_tensor("rope_freqs.weight")) {
        if (freqs->type != quant::TypeId::F32 || freqs->shape.size() != 1 || freqs->shape[0] != config.rope.n_rot / 2)
            fail(file.path(), "tensor 'rope_freqs.weight' must be F32 of rope.dimension_count / 2 = " +
                                  std::to_string(config.rope.n_rot / 2) + " elements");
        config.rope.freq_factors = reinterpret_cast<const float*>(freqs->data);
        claim_tensor("rope_freqs.weight");
    }
    // Optional llama tensors this implementation does not apply (an output bias, MoE routers, ...) are
    // refused by Model::load: nothing here reads them.
    if (file.get_float("llama.attention.scale", 0.0) != 0.0)
        fail(file.path(), "llama.attention.scale is not supported");
    // Q/K/V biases are optional in llama.cpp's llama graph: when layer 0 has them, every layer must.
    const bool qkv_bias = file.find_tensor("blk.0.attn_q.bias") != nullptr;
    Weights weights = load_weights(file, config, {.qkv_bias = qkv_bias, .qk_norm = false});
    return std::make_unique<Transformer>(file, cpu::make_cpu_ops(pool), std::move(config), std::move(weights));
}

}  // namespace shootout::model
