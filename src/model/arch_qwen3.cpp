// Qwen3 (dense): a llama block with an RMSNorm on every query and key head before NEOX RoPE.
#include <cmath>

#include "backend/cpu/cpu_ops.h"
#include "model/transformer.h"

namespace shootout::model {

namespace {

class Qwen3 : public Transformer {
public:
    using Transformer::Transformer;

private:
    void layer(int64_t il, State& s) override {
        const LayerWeights& l = w_.layers[il];
        const Config& c = config_;
        const int64_t n = s.n_tokens;
        backend::Ops& op = ops();

        // Self-attention with pre-norm and a residual connection.
        op.rms_norm(s.x, l.attn_norm, n, c.rms_eps, s.xb);
        op.matmul(l.wq, s.xb, n, s.q);
        op.matmul(l.wk, s.xb, n, s.k);
        op.matmul(l.wv, s.xb, n, s.v);
        op.rms_norm(s.q, l.q_norm, n * c.n_head, c.rms_eps, s.q);     // per head
        op.rms_norm(s.k, l.k_norm, n * c.n_head_kv, c.rms_eps, s.k);
        op.rope(s.q, n, c.n_head, c.head_dim, s.pos0, c.rope);
        op.rope(s.k, n, c.n_head_kv, c.head_dim, s.pos0, c.rope);
        op.attention(kv_cache(), il, s.q, s.k, s.v, n, s.pos0, c.attention_shape(), 1.0f / std::sqrt((float)c.head_dim), s.att);
        op.matmul(l.wo, s.att, n, s.xb);
        op.add(s.x, s.xb, (size_t)(n * c.n_embd));

        feed_forward(l, s);
    }
};

}  // namespace

std::unique_ptr<Model> make_qwen3(const gguf::File& file, ThreadPool& pool) {
    Config config = read_config(file, backend::RopeStyle::Neox);
    Weights weights = load_weights(file, config, {.qkv_bias = false, .qk_norm = true});
    return std::make_unique<Qwen3>(file, cpu::make_cpu_ops(pool), std::move(config), std::move(weights));
}

}  // namespace shootout::model
