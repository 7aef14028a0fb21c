// Qwen2 / Qwen2.5 (dense): a llama block with biases on the query, key and value projections and
// NEOX RoPE.
#include <cmath>

#include "backend/cpu/cpu_ops.h"
#include "model/transformer.h"

namespace shootout::model {

namespace {

class Qwen2 : public Transformer {
public:
    using Transformer::Transformer;

private:
    void layer(int64_t il, State& s) override {
        const LayerWeights& l = w_.layers[il];
        const Config& c = config_;
        const int64_t n = s.n_tokens;
        backend::Ops& op = ops();

        // Self-attention with pre-norm and a residual connection.
        norm_input(s, l.attn_norm, s.xb);  // adds the previous layer's output first
        op.matmul(l.wq, s.xb, n, s.q);
        op.matmul(l.wk, s.xb, n, s.k);
        op.matmul(l.wv, s.xb, n, s.v);
        op.add_bias(s.q, l.bq, n);
        op.add_bias(s.k, l.bk, n);
        op.add_bias(s.v, l.bv, n);
        op.qk_norm_rope(s.q, s.k, nullptr, nullptr, n, c.attention_shape(), c.rms_eps, s.pos0, c.rope);
        op.attention(kv_cache(), il, s.q, s.k, s.v, n, s.pos0, c.attention_shape(), 1.0f / std::sqrt((float)c.head_dim), s.att);
        op.matmul(l.wo, s.att, n, s.xb);
        feed_forward(l, s);  // adds s.xb to the residual first
    }
};

}  // namespace

std::unique_ptr<Model> make_qwen2(const gguf::File& file, ThreadPool& pool) {
    Config config = read_config(file, backend::RopeStyle::Neox);
    Weights weights = load_weights(file, config, {.qkv_bias = true, .qk_norm = false});
    return std::make_unique<Qwen2>(file, cpu::make_cpu_ops(pool), std::move(config), std::move(weights));
}

}  // namespace shootout::model
