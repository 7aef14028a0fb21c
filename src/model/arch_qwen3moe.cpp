// Qwen3-MoE: qwen3's attention block (RMSNorm on every query and key head, NEOX RoPE) followed by a
// sparse mixture of experts instead of the dense FFN (softmax router, top-k, weights normalised).
#include "backend/cpu/cpu_ops.h"
#include "model/moe.h"
#include "model/transformer.h"

namespace shootout::model {

namespace {

class Qwen3Moe : public Transformer {
public:
    Qwen3Moe(const gguf::File& file, std::unique_ptr<backend::Ops> ops, Config config, Weights weights, MoeConfig moe,
             std::vector<MoeLayerWeights> moe_layers)
        : Transformer(file, std::move(ops), std::move(config), std::move(weights)),
          moe_layers_(std::move(moe_layers)), ffn_(config_, moe) {}

private:
    void layer(int64_t il, State& s) override {
        const LayerWeights& l = w_.layers[il];
        const int64_t n = s.n_tokens;
        backend::Ops& op = ops();
        self_attention(il, s);  // qwen3's, with the per-head Q/K norms
        // Mixture of experts with pre-norm and a residual connection (the attention's residual first).
        op.add_rms_norm(s.x, s.xb, l.ffn_norm, n, config_.rms_eps, s.xb);
        ffn_.run(op, moe_layers_[il], s.xb, n, moe_out(n));
        s.pending = moe_out_;  // added to x by the next norm_input
    }

    float* moe_out(int64_t n_tokens) {
        if (n_tokens > moe_out_capacity_) {
            moe_out_buffer_ = ops().alloc((size_t)(n_tokens * config_.n_embd));
            moe_out_ = moe_out_buffer_->data();
            moe_out_capacity_ = n_tokens;
        }
        return moe_out_;
    }

    std::vector<MoeLayerWeights> moe_layers_;
    MoeFeedForward ffn_;
    std::unique_ptr<backend::Buffer> moe_out_buffer_;
    float* moe_out_ = nullptr;
    int64_t moe_out_capacity_ = 0;
};

}  // namespace

std::unique_ptr<Model> make_qwen3moe(const gguf::File& file, ThreadPool& pool) {
    Config config = read_config(file, backend::RopeStyle::Neox);
    Weights weights = load_weights(file, config, {.qkv_bias = false, .qk_norm = true, .dense_ffn = false});
    const MoeConfig moe = read_moe_config(file, config);
    std::vector<MoeLayerWeights> moe_layers;
    for (int64_t il = 0; il < config.n_layers; ++il)
        moe_layers.push_back(load_moe_layer(file, config, moe, il, /*shared_expert=*/false));
    return std::make_unique<Qwen3Moe>(file, cpu::make_cpu_ops(pool), std::move(config), std::move(weights), moe,
                                      std::move(moe_layers));
}

}  // namespace shootout::model
