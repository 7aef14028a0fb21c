// The sparse mixture-of-experts FFN of qwen3moe and qwen3next, with llama.cpp's GGUF names:
// blk.N.ffn_gate_inp (router), ffn_{gate,up,down}_exps (3-D expert stacks) and, for qwen3next, a
// shared expert ffn_{gate,up,down}_shexp whose output is scaled by sigmoid(ffn_gate_inp_shexp · x).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/ops.h"
#include "model/config.h"

namespace shootout {
namespace gguf {
class File;
}

namespace model {

// <arch>.expert_count, expert_used_count, expert_feed_forward_length,
// expert_shared_feed_forward_length (0 when the file has no shared expert).
struct MoeConfig {
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    int64_t n_ff_exp = 0;
    int64_t n_ff_shexp = 0;
};

struct MoeLayerWeights {
    backend::Weight router;  // ffn_gate_inp [n_expert rows of n_embd]
    backend::MoeExperts experts;
    // Shared expert (empty when absent).
    backend::Weight shexp_gate, shexp_up, shexp_down;
    backend::Weight shexp_router;  // ffn_gate_inp_shexp: one row of n_embd
};

// Throws Error naming the file and key for a missing or inconsistent value.
MoeConfig read_moe_config(const gguf::File& file, const Config& config);

// Loads blk.il's router and experts, and the shared expert when shared_expert is set.
MoeLayerWeights load_moe_layer(const gguf::File& file, const Config& config, const MoeConfig& moe, int64_t il,
                               bool shared_expert);

// out = MoE(x) (+ sigmoid-gated shared expert) for n_tokens rows of n_embd; scratch that grows as
// needed, owned by the caller so each layer reuses it. The ops come with each call, not at
// construction: Transformer::use_ops moves a model onto other ops after it is built (the scratch is
// then reallocated from the new ones).
class MoeFeedForward {
public:
    MoeFeedForward(const Config& config, const MoeConfig& moe) : c_(config), moe_(moe) {}
    void run(backend::Ops& ops, const MoeLayerWeights& w, const float* x, int64_t n_tokens, float* out);

private:
    void reserve(backend::Ops& ops, int64_t n_tokens);

    const backend::Ops* owner_ = nullptr;  // the ops the scratch came from
    const Config& c_;
    const MoeConfig moe_;
    int64_t capacity_ = 0;
    std::vector<std::unique_ptr<backend::Buffer>> buffers_;
    float *logits_ = nullptr, *gate_ = nullptr, *up_ = nullptr, *shared_ = nullptr, *shared_gate_ = nullptr;
};

}  // namespace model
}  // namespace shootout
