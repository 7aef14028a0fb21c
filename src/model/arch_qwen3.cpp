// Qwen3 (dense): the llama block (Transformer::layer) with an RMSNorm on every query and key head
// before NEOX RoPE.
#include "backend/cpu/cpu_ops.h"
#include "model/transformer.h"

namespace shootout::model {

std::unique_ptr<Model> make_qwen3(const gguf::File& file, ThreadPool& pool) {
    Config config = read_config(file, backend::RopeStyle::Neox);
    Weights weights = load_weights(file, config, {.qkv_bias = false, .qk_norm = true});
    return std::make_unique<Transformer>(file, cpu::make_cpu_ops(pool), std::move(config), std::move(weights));
}

}  // namespace shootout::model
