// What the llama-family architectures share: config, weights, the run state, the embedding
// lookup, the final norm and output head, and the llama block itself (self_attention, then the
// SwiGLU feed_forward), which is all of Llama, Qwen2 and Qwen3: their factories (arch_llama.cpp,
// arch_qwen2.cpp, arch_qwen3.cpp) differ only in the config and weights they read (RoPE style and
// factors, Q/K/V biases, per-head Q/K norms). Architectures with another block (arch_qwen3moe.cpp,
// arch_qwen3next.cpp) override layer().
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "backend/ops.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weights.h"

namespace shootout::model {

class Transformer : public Model {
public:
    Transformer(const gguf::File& file, std::unique_ptr<backend::Ops> ops, Config config, Weights weights);

    const ModelInfo& info() const override { return info_; }
    std::vector<float> hidden(std::span<const int32_t> tokens) override;
    void logits(const float* hidden_rows, int64_t n_rows, float* logits_out) override;
    void logits_start(const float* hidden_rows, int64_t n_rows, float* logits_out) override;
    void logits_finish() override;
    bool logits_overlap() const override;
    void start_sequence(int64_t n_ctx) override;
    void decode(std::span<const int32_t> tokens, float* last_logits) override;
    std::unique_ptr<backend::Buffer> host_buffer(size_t n_floats) override { return ops_->host_buffer(n_floats); }

    // Moves the model onto other ops (a GPU backend): drops the run state and hands every weight to
    // ops->prepare_weight (an upload), so a type the backend cannot run fails here, naming the tensor.
    void use_ops(std::unique_ptr<backend::Ops> ops);

    // Every matmul of later forward passes shows its weight (GGUF tensor name in Weight::name) and
    // input rows to the observer first (importance-matrix collection); empty removes it. moe_ffn
    // shows each routed expert's rows (backend::ExpertOf names the expert).
    void set_activation_observer(backend::ActivationObserver observer) {
        ops_->set_activation_observer(std::move(observer));
    }

protected:
    // Activations of one chunk, n_tokens rows each; x is the residual stream.
    struct State {
        int64_t n_tokens = 0;
        int64_t pos0 = 0;  // position of row 0 (earlier positions are in the KV cache)
        float *x, *xb, *q, *k, *v, *att, *gate, *up;
        // A layer's output not yet added to x: the next layer's input norm (or the output norm) adds it
        // in the same op (Ops::add_rms_norm), one launch a layer fewer on a GPU.
        const float* pending = nullptr;
    };

    // One transformer block on s.x (the residual stream) in place; it may leave its output in
    // s.pending for the next norm_input to add. By default the llama block: self_attention, then
    // feed_forward.
    virtual void layer(int64_t il, State& s);

    // out = rms_norm(x) * w, after adding s.pending to x when a layer left one there.
    void norm_input(State& s, const backend::Weight& w, float* out);

    // The attention half of the llama block, output in s.xb (feed_forward or a layer's own FFN adds
    // it to x): the input norm (adding the previous layer's output first), the Q/K/V products and
    // their biases where the weights have them (qwen2), RoPE with per-head RMSNorms of q and k where
    // the weights have them (qwen3), attention over the KV cache, the output product.
    void self_attention(int64_t il, State& s);

    // x += s.xb (the attention's output), then x += W_down · (silu(W_gate · norm(x)) * (W_up · norm(x))):
    // the residual add and the FFN half of every dense block here (add and norm are one fused op; the
    // last add is left in s.pending).
    void feed_forward(const LayerWeights& l, State& s);

    backend::Ops& ops() { return *ops_; }
    backend::KvCache& kv_cache() { return *cache_; }

    // Which layers keep keys and values (default: every layer). A hybrid stack (qwen3next: 3 of 4
    // layers recurrent) calls this from its constructor so the cache holds only its attention layers;
    // kv_slot(il) is then the cache layer of layer il (pass it to Ops::attention).
    void set_attention_layers(const std::vector<bool>& has_kv);
    int64_t kv_slot(int64_t il) const { return kv_slot_.empty() ? il : kv_slot_[(size_t)il]; }
    // Called by use_ops before the new ops take over: an architecture drops the buffers it allocated
    // through the old ops (scratch, recurrent state) here.
    virtual void release_buffers() {}

    const Config config_;
    const Weights w_;

private:
    void reserve(int64_t n_tokens);  // activations for n_tokens rows
    void reserve_cache(int64_t n_ctx);
    // Embedding, the blocks and the output norm for tokens at positions pos0..; returns s with the
    // normed rows in s.xb.
    State forward(std::span<const int32_t> tokens, int64_t pos0);

    std::unique_ptr<backend::Ops> ops_;
    ModelInfo info_;
    std::vector<std::unique_ptr<backend::Buffer>> buffers_;
    State state_{};
    std::unique_ptr<backend::KvCache> cache_;
    std::vector<int64_t> kv_slot_;  // per layer: its cache layer, -1 for none; empty: layer il is slot il
    int64_t n_kv_layers_ = 0;       // layers in the cache
    int64_t sequence_pos_ = -1;  // next position of the decode() sequence; -1: none started
    // Device-side rows for logits() and decode() when the ops' buffers are not host memory.
    std::unique_ptr<backend::Buffer> logits_in_, logits_out_;
};

// One factory per architecture; Model::load picks by general.architecture.
std::unique_ptr<Model> make_llama(const gguf::File& file, ThreadPool& pool);
std::unique_ptr<Model> make_qwen2(const gguf::File& file, ThreadPool& pool);
std::unique_ptr<Model> make_qwen3(const gguf::File& file, ThreadPool& pool);
std::unique_ptr<Model> make_qwen3moe(const gguf::File& file, ThreadPool& pool);   // arch_qwen3moe.cpp
std::unique_ptr<Model> make_qwen3next(const gguf::File& file, ThreadPool& pool);  // arch_qwen3next.cpp

}  // namespace shootout::model
