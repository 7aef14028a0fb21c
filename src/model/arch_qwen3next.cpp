// Qwen3-Next: a hybrid stack. Most layers are Gated DeltaNet linear attention (a joint q/k/v
// projection through a short causal convolution and SiLU, L2-normalised q and k, the gated delta
// rule, an RMSNorm gated by SiLU(z)); every full_attention_interval-th layer is gated full attention
// (the query projection also yields a per-element output gate, sigmoid-applied before the output
// projection; per-head q/k RMSNorm; partial NEOX RoPE over rope.dimension_count dims). Every layer's
// FFN is a mixture of experts plus a sigmoid-gated shared expert, normed by post_attention_norm.
// Graph and GGUF names as llama.cpp's qwen3next; the math as the transformers reference.
// Sequence state: the KV cache holds only the attention layers; each Gated DeltaNet layer keeps its
// convolution inputs and recurrent state in backend buffers, zeroed when a pass starts at position 0
// and carried from call to call otherwise, so decode() continues a sequence token by token.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_ops.h"
#include "gguf/gguf.h"
#include "model/delta_net.h"
#include "model/moe.h"
#include "model/transformer.h"
#include "util/error.h"

namespace shootout::model {

namespace {

struct NextLayer {
    // Gated full attention (when not recurrent); wq yields [n_head][query head_dim | gate head_dim].
    backend::Weight wq, wk, wv, wo, q_norm, k_norm;
    DeltaNetLayerWeights delta;  // when recurrent
    MoeLayerWeights moe;
};

class Qwen3Next : public Transformer {
public:
    Qwen3Next(const gguf::File& file, std::unique_ptr<backend::Ops> ops, Config config, Weights weights,
              DeltaNetConfig delta, MoeConfig moe, std::vector<NextLayer> layers)
        : Transformer(file, std::move(ops), std::move(config), std::move(weights)), dn_(std::move(delta)),
          layers_(std::move(layers)), ffn_(config_, moe) {
        std::vector<bool> attention(dn_.recurrent.size());
        for (size_t il = 0; il < attention.size(); ++il) attention[il] = !dn_.recurrent[il];
        set_attention_layers(attention);
    }

private:
    struct Scratch {
        float *q_gate, *gate, *mix, *conv, *z, *ba, *q, *k, *v, *o, *out;
    };

    // What a Gated DeltaNet layer carries from one call of a sequence to the next (layouts in
    // backend/ops.h): the last conv_kernel - 1 rows of the q/k/v mix fed to the convolution, and the
    // delta rule's per-head state.
    struct RecurrentState {
        std::unique_ptr<backend::Buffer> conv;  // [conv_kernel - 1][conv_dim]
        std::unique_ptr<backend::Buffer> ssm;   // [n_v_heads][head_v_dim][head_k_dim]
    };

    void layer(int64_t il, State& s) override {
        const Config& c = config_;
        const int64_t n = s.n_tokens;
        backend::Ops& op = ops();
        const Scratch& b = scratch(n);
        const NextLayer& l = layers_[il];

        norm_input(s, w_.layers[il].attn_norm, s.xb);  // adds the previous layer's output first
        if (dn_.recurrent[il]) {
            linear_attention(l.delta, s.xb, n, recurrent_state(il, s.pos0), b);
        } else {
            gated_attention(il, l, s, b);
        }
        op.add_rms_norm(s.x, b.out, w_.layers[il].ffn_norm, n, c.rms_eps, s.xb);  // post_attention_norm
        ffn_.run(op, l.moe, s.xb, n, b.out);
        s.pending = b.out;  // added to x by the next norm_input (before b is reused)
    }

    void gated_attention(int64_t il, const NextLayer& l, State& s, const Scratch& b) {
        const Config& c = config_;
        const int64_t n = s.n_tokens, hd = c.head_dim, n_q = c.n_head * hd;
        backend::Ops& op = ops();
        op.matmul(l.wq, s.xb, n, b.q_gate);
        op.copy_columns(b.q_gate, n * c.n_head, 2 * hd, 0, hd, s.q);
        op.copy_columns(b.q_gate, n * c.n_head, 2 * hd, hd, hd, b.gate);
        op.matmul(l.wk, s.xb, n, s.k);
        op.matmul(l.wv, s.xb, n, s.v);
        op.qk_norm_rope(s.q, s.k, &l.q_norm, &l.k_norm, n, c.attention_shape(), c.rms_eps, s.pos0, c.rope);
        op.attention(kv_cache(), kv_slot(il), s.q, s.k, s.v, n, s.pos0, c.attention_shape(), 1.0f / std::sqrt((float)hd), s.att);
        op.sigmoid_gate(s.att, b.gate, n, n_q, n_q);
        op.matmul(l.wo, s.att, n, b.out);
    }

    void linear_attention(const DeltaNetLayerWeights& w, const float* x, int64_t n, RecurrentState& state,
                          const Scratch& b) {
        const Config& c = config_;
        const backend::DeltaNetShape& sh = dn_.shape;
        const int64_t ratio = sh.n_v_heads / sh.n_k_heads;
        backend::Ops& op = ops();
        op.matmul(w.qkv, x, n, b.mix);
        op.matmul(w.z, x, n, b.z);
        op.matmul(w.ba, x, n, b.ba);
        op.causal_conv1d_silu(b.mix, w.conv1d, n, state.conv->data(), b.conv);
        const int64_t conv_dim = dn_.conv_dim(), key_dim = dn_.key_dim();
        const float *q = b.q, *k = b.k, *v = b.v;
        if (n == 1) {
            // One token's conv row is q, k, v one after another: read in place, q and k normed in one
            // call (the same row length), 4 launches a layer fewer in a decode step, the same values.
            op.l2_norm(b.conv, 2 * sh.n_k_heads, sh.head_k_dim, c.rms_eps);
            q = b.conv;
            k = b.conv + key_dim;
            v = b.conv + 2 * key_dim;
        } else {
            op.copy_columns(b.conv, n, conv_dim, 0, key_dim, b.q);
            op.copy_columns(b.conv, n, conv_dim, key_dim, key_dim, b.k);
            op.copy_columns(b.conv, n, conv_dim, 2 * key_dim, dn_.value_dim(), b.v);
            op.l2_norm(b.q, n * sh.n_k_heads, sh.head_k_dim, c.rms_eps);
            op.l2_norm(b.k, n * sh.n_k_heads, sh.head_k_dim, c.rms_eps);
        }
        // ssm_ba per key group: ratio beta logits, then ratio alphas; value head g * ratio + j. Read
        // as it is (gates_interleaved), not split by copies.
        backend::DeltaNetShape gated = sh;
        gated.gates_interleaved = true;
        op.gated_delta_rule(q, k, v, b.ba + ratio, b.ba, w.dt_bias, w.a, n, gated, state.ssm->data(), b.o);
        // RMSNorm per value head, gated by SiLU(z).
        op.gated_rms_norm(b.o, w.norm, n * sh.n_v_heads, c.rms_eps, b.z, b.o);
        op.matmul(w.out, b.o, n, b.out);
    }

    // Layer il's state (allocated on first use), zeroed when the pass starts a sequence (pos0 == 0).
    RecurrentState& recurrent_state(int64_t il, int64_t pos0) {
        if (states_.empty()) states_.resize(layers_.size());
        RecurrentState& st = states_[(size_t)il];
        const size_t conv_floats = (size_t)((dn_.conv_kernel - 1) * dn_.conv_dim());
        const size_t ssm_floats = (size_t)(dn_.shape.n_v_heads * dn_.shape.head_v_dim * dn_.shape.head_k_dim);
        if (!st.conv) {
            if (pos0 != 0) fail(info().name, "qwen3next: a sequence continued before it was started at position 0");
            st.conv = ops().alloc(conv_floats);
            st.ssm = ops().alloc(ssm_floats);
        }
        if (pos0 == 0) {
            zeros_.resize(std::max(conv_floats, ssm_floats), 0.0f);
            ops().from_host(zeros_.data(), st.conv->data(), conv_floats);
            ops().from_host(zeros_.data(), st.ssm->data(), ssm_floats);
        }
        return st;
    }

    void release_buffers() override {
        buffers_.clear();
        scratch_ = Scratch{};
        capacity_ = 0;
        states_.clear();
    }

    const Scratch& scratch(int64_t n_tokens) {
        if (n_tokens <= capacity_) return scratch_;
        buffers_.clear();
        auto alloc = [&](int64_t n_per_token) {
            buffers_.push_back(ops().alloc((size_t)(n_tokens * n_per_token)));
            return buffers_.back()->data();
        };
        const Config& c = config_;
        const int64_t n_q = c.n_head * c.head_dim, n_v = dn_.shape.n_v_heads;
        scratch_.q_gate = alloc(2 * n_q);
        scratch_.gate = alloc(n_q);
        scratch_.mix = alloc(dn_.conv_dim());
        scratch_.conv = alloc(dn_.conv_dim());
        scratch_.z = alloc(dn_.value_dim());
        scratch_.ba = alloc(2 * n_v);
        scratch_.q = alloc(dn_.key_dim());
        scratch_.k = alloc(dn_.key_dim());
        scratch_.v = alloc(dn_.value_dim());
        scratch_.o = alloc(dn_.value_dim());
        scratch_.out = alloc(c.n_embd);
        capacity_ = n_tokens;
        return scratch_;
    }

    const DeltaNetConfig dn_;
    const std::vector<NextLayer> layers_;
    MoeFeedForward ffn_;
    std::vector<std::unique_ptr<backend::Buffer>> buffers_;
    Scratch scratch_{};
    int64_t capacity_ = 0;
    std::vector<RecurrentState> states_;  // per layer; empty for the attention layers
    std::vector<float> zeros_;            // host zeros to reset a state from
};

}  // namespace

std::unique_ptr<Model> make_qwen3next(const gguf::File& file, ThreadPool& pool) {
    Config config = read_config(file, backend::RopeStyle::Neox);
    Weights weights = load_weights(
        file, config, {.attention = false, .dense_ffn = false, .ffn_norm = "post_attention_norm"});
    DeltaNetConfig delta = read_delta_net_config(file, config);
    const MoeConfig moe = read_moe_config(file, config);
    const int64_t n_q = config.n_head * config.head_dim, n_kv = config.n_head_kv * config.head_dim;
    std::vector<NextLayer> layers;
    for (int64_t il = 0; il < config.n_layers; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        NextLayer l;
        if (delta.recurrent[il]) {
            l.delta = load_delta_net_layer(file, config, delta, il);
        } else {
            l.wq = load_tensor(file, p + "attn_q.weight", {config.n_embd, 2 * n_q}, TensorUse::Matrix);
            l.wk = load_tensor(file, p + "attn_k.weight", {config.n_embd, n_kv}, TensorUse::Matrix);
            l.wv = load_tensor(file, p + "attn_v.weight", {config.n_embd, n_kv}, TensorUse::Matrix);
            l.wo = load_tensor(file, p + "attn_output.weight", {n_q, config.n_embd}, TensorUse::Matrix);
            l.q_norm = load_tensor(file, p + "attn_q_norm.weight", {config.head_dim}, TensorUse::Vector);
            l.k_norm = load_tensor(file, p + "attn_k_norm.weight", {config.head_dim}, TensorUse::Vector);
        }
        l.moe = load_moe_layer(file, config, moe, il, /*shared_expert=*/true);
        layers.push_back(std::move(l));
    }
    return std::make_unique<Qwen3Next>(file, cpu::make_cpu_ops(pool), std::move(config), std::move(weights),
                                       std::move(delta), moe, std::move(layers));
}

}  // namespace shootout::model
