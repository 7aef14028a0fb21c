// What the llama-family architectures share: config, weights, the run state, the embedding
// lookup, the final norm and output head, and the SwiGLU feed-forward block. Each architecture
// (arch_llama.cpp, arch_qwen2.cpp, arch_qwen3.cpp) writes only its attention layer, top to bottom.
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

protected:
    // Activations of one chunk, n_tokens rows each; x is the residual stream.
    struct State {
        int64_t n_tokens = 0;
        float *x, *xb, *q, *k, *v, *att, *gate, *up;
    };

    // One transformer block on s.x (the residual stream) in place.
    virtual void layer(int64_t il, State& s) = 0;

    // x += W_down · (silu(W_gate · norm(x)) * (W_up · norm(x))): the FFN half of every block here.
    void feed_forward(const LayerWeights& l, State& s);

    backend::Ops& ops() { return *ops_; }
    backend::KvCache& kv_cache() { return *cache_; }

    const Config config_;
    const Weights w_;

private:
    void reserve(int64_t n_tokens);

    std::unique_ptr<backend::Ops> ops_;
    ModelInfo info_;
    std::vector<std::unique_ptr<backend::Buffer>> buffers_;
    State state_{};
    std::unique_ptr<backend::KvCache> cache_;
};

// One factory per architecture; Model::load picks by general.architecture.
std::unique_ptr<Model> make_llama(const gguf::File& file, ThreadPool& pool);
std::unique_ptr<Model> make_qwen2(const gguf::File& file, ThreadPool& pool);
std::unique_ptr<Model> make_qwen3(const gguf::File& file, ThreadPool& pool);

}  // namespace shootout::model
