#include "model/transformer.h"

#include <filesystem>

#include "gguf/gguf.h"
#include "util/error.h"

namespace shootout::model {

Transformer::Transformer(const gguf::File& file, std::unique_ptr<backend::Ops> ops, Config config, Weights weights)
    : config_(std::move(config)), w_(std::move(weights)), ops_(std::move(ops)) {
    info_.architecture = config_.architecture;
    info_.name = file.get_string("general.name", std::filesystem::path(file.path()).filename().string());
    info_.n_layers = config_.n_layers;
    info_.n_embd = config_.n_embd;
    info_.n_vocab = config_.n_vocab;
    info_.n_ctx_train = config_.n_ctx_train;
    for (const auto& t : file.tensors()) {
        info_.n_params += t.n_elements();
        info_.weight_bytes += t.size_bytes;
    }
}

void Transformer::reserve(int64_t n_tokens) {
    if (n_tokens <= state_.n_tokens && cache_) return;
    const Config& c = config_;
    buffers_.clear();
    auto alloc = [&](int64_t n_per_token) {
        buffers_.push_back(ops_->alloc((size_t)(n_tokens * n_per_token)));
        return buffers_.back()->data();
    };
    const int64_t n_q = c.n_head * c.head_dim, n_kv = c.n_head_kv * c.head_dim;
    state_.n_tokens = n_tokens;
    state_.x = alloc(c.n_embd);
    state_.xb = alloc(std::max(c.n_embd, n_q));
    state_.q = alloc(n_q);
    state_.k = alloc(n_kv);
    state_.v = alloc(n_kv);
    state_.att = alloc(n_q);
    state_.gate = alloc(c.n_ff);
    state_.up = alloc(c.n_ff);
    cache_ = ops_->make_kv_cache(c.n_layers, n_tokens, c.attention_shape());
}

std::vector<float> Transformer::hidden(std::span<const int32_t> tokens) {
    const int64_t n_tokens = (int64_t)tokens.size();
    if (n_tokens == 0) return {};
    reserve(n_tokens);
    State s = state_;
    s.n_tokens = n_tokens;
    ops_->get_rows(w_.token_embd, tokens, s.x);
    for (int64_t il = 0; il < config_.n_layers; ++il) layer(il, s);
    ops_->rms_norm(s.x, w_.output_norm, n_tokens, config_.rms_eps, s.xb);
    std::vector<float> out((size_t)(n_tokens * config_.n_embd));
    ops_->to_host(s.xb, out.data(), out.size());
    return out;
}

void Transformer::logits(const float* hidden_rows, int64_t n_rows, float* logits_out) {
    ops_->matmul(w_.output, hidden_rows, n_rows, logits_out);
}

void Transformer::feed_forward(const LayerWeights& l, State& s) {
    const int64_t n = s.n_tokens;
    ops_->rms_norm(s.x, l.ffn_norm, n, config_.rms_eps, s.xb);
    ops_->matmul(l.ffn_gate, s.xb, n, s.gate);
    ops_->matmul(l.ffn_up, s.xb, n, s.up);
    ops_->swiglu(s.gate, s.up, (size_t)(n * config_.n_ff), s.gate);
    ops_->matmul(l.ffn_down, s.gate, n, s.xb);
    ops_->add(s.x, s.xb, (size_t)(n * config_.n_embd));
}

}  // namespace shootout::model
