#include "model/moe.h"

#include <algorithm>
#include <string>

#include "gguf/gguf.h"
#include "model/weights.h"
#include "util/error.h"

namespace shootout::model {

MoeConfig read_moe_config(const gguf::File& file, const Config& c) {
    const std::string p = c.architecture + ".";
    auto count = [&](const std::string& key, uint64_t fallback) -> int64_t {
        const uint64_t v = file.get_uint(p + key, fallback);
        if (v > (1ull << 31)) fail(file.path(), "metadata " + p + key + " = " + std::to_string(v) + " is out of range");
        return (int64_t)v;
    };
    MoeConfig m;
    m.n_expert = count("expert_count", 0);
    m.n_expert_used = count("expert_used_count", 0);
    if (m.n_expert == 0) fail(file.path(), "metadata " + p + "expert_count is missing or zero");
    if (m.n_expert_used == 0 || m.n_expert_used > m.n_expert)
        fail(file.path(), "metadata " + p + "expert_used_count " + std::to_string(m.n_expert_used) +
                              " invalid for " + std::to_string(m.n_expert) + " experts");
    // As llama.cpp: without expert_feed_forward_length each expert is n_ff / n_expert_used wide.
    m.n_ff_exp = count("expert_feed_forward_length", (uint64_t)(c.n_ff / m.n_expert_used));
    m.n_ff_shexp = count("expert_shared_feed_forward_length", 0);
    if (m.n_ff_exp == 0) fail(file.path(), "metadata " + p + "expert_feed_forward_length is zero");
    return m;
}

MoeLayerWeights load_moe_layer(const gguf::File& file, const Config& c, const MoeConfig& m, int64_t il,
                               bool shared_expert) {
    const std::string p = "blk." + std::to_string(il) + ".";
    MoeLayerWeights w;
    w.router = load_tensor(file, p + "ffn_gate_inp.weight", {c.n_embd, m.n_expert}, TensorUse::Matrix);
    w.experts.gate = load_tensor(file, p + "ffn_gate_exps.weight", {c.n_embd, m.n_ff_exp, m.n_expert}, TensorUse::Matrix);
    w.experts.up = load_tensor(file, p + "ffn_up_exps.weight", {c.n_embd, m.n_ff_exp, m.n_expert}, TensorUse::Matrix);
    w.experts.down = load_tensor(file, p + "ffn_down_exps.weight", {m.n_ff_exp, c.n_embd, m.n_expert}, TensorUse::Matrix);
    w.experts.n_expert = m.n_expert;
    w.experts.n_used = m.n_expert_used;
    w.experts.normalize_weights = true;  // llama.cpp's qwen3moe/qwen3next graphs always normalise (norm_topk_prob)
    if (shared_expert) {
        const int64_t n_ff = m.n_ff_shexp ? m.n_ff_shexp : c.n_ff;
        w.shexp_gate = load_tensor(file, p + "ffn_gate_shexp.weight", {c.n_embd, n_ff}, TensorUse::Matrix);
        w.shexp_up = load_tensor(file, p + "ffn_up_shexp.weight", {c.n_embd, n_ff}, TensorUse::Matrix);
        w.shexp_down = load_tensor(file, p + "ffn_down_shexp.weight", {n_ff, c.n_embd}, TensorUse::Matrix);
        // The converter writes the shared-expert gate as {n_embd, 1}; llama.cpp also accepts {n_embd}.
        const std::string gate_name = p + "ffn_gate_inp_shexp.weight";
        const gguf::TensorInfo* t = file.find_tensor(gate_name);
        const bool is_vector = t && t->shape.size() == 1;
        w.shexp_router = load_tensor(file, gate_name, is_vector ? std::vector<int64_t>{c.n_embd} : std::vector<int64_t>{c.n_embd, 1},
                                     TensorUse::Matrix);
    }
    return w;
}

void MoeFeedForward::reserve(backend::Ops& ops, int64_t n_tokens) {
    if (n_tokens <= capacity_ && &ops == owner_) return;
    buffers_.clear();
    owner_ = &ops;
    auto alloc = [&](int64_t n_per_token) {
        buffers_.push_back(ops.alloc((size_t)(n_tokens * n_per_token)));
        return buffers_.back()->data();
    };
    const int64_t n_ff_shexp = moe_.n_ff_shexp ? moe_.n_ff_shexp : c_.n_ff;
    logits_ = alloc(moe_.n_expert);
    gate_ = alloc(n_ff_shexp);
    up_ = alloc(n_ff_shexp);
    shared_ = alloc(c_.n_embd);
    shared_gate_ = alloc(1);
    capacity_ = n_tokens;
}

void MoeFeedForward::run(backend::Ops& ops, const MoeLayerWeights& w, const float* x, int64_t n_tokens, float* out) {
    reserve(ops, n_tokens);
    ops.matmul(w.router, x, n_tokens, logits_);
    ops.moe_ffn(w.experts, logits_, x, n_tokens, out);
    if (!w.shexp_up) return;
    // The shared expert's gate first, so the down product is the op right before the gated add (a
    // backend may fold the add into it).
    ops.matmul(w.shexp_router, x, n_tokens, shared_gate_);
    ops.matmul(w.shexp_gate, x, n_tokens, gate_);
    ops.matmul(w.shexp_up, x, n_tokens, up_);
    ops.swiglu(gate_, up_, (size_t)(n_tokens * w.shexp_gate.n_out), gate_);
    ops.matmul(w.shexp_down, gate_, n_tokens, shared_);
    ops.add_sigmoid_gated(out, shared_, shared_gate_, n_tokens, c_.n_embd);
}

}  // namespace shootout::model
