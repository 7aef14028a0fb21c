#include "model/transformer.h"

#include <cmath>
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
    n_kv_layers_ = config_.n_layers;
    for (const auto& t : file.tensors()) {
        info_.n_params += t.n_elements();
        info_.weight_bytes += t.size_bytes;
    }
}

void Transformer::set_attention_layers(const std::vector<bool>& has_kv) {
    if ((int64_t)has_kv.size() != config_.n_layers)
        fail(info_.name, "set_attention_layers needs one flag per layer (" + std::to_string(config_.n_layers) + ")");
    cache_.reset();
    kv_slot_.assign(has_kv.size(), -1);
    n_kv_layers_ = 0;
    for (size_t il = 0; il < has_kv.size(); ++il)
        if (has_kv[il]) kv_slot_[il] = n_kv_layers_++;
}

void Transformer::use_ops(std::unique_ptr<backend::Ops> ops) {
    release_buffers();
    buffers_.clear();
    cache_.reset();
    logits_in_.reset();
    logits_out_.reset();
    state_ = State{};
    sequence_pos_ = -1;
    ops_ = std::move(ops);
    auto prepare = [&](const backend::Weight& w) {
        if (w) ops_->prepare_weight(w);
    };
    // token_embd stays in the mapped file (get_rows reads a few rows); it is uploaded only as the
    // tied output matrix.
    prepare(w_.output_norm);
    prepare(w_.output);
    for (const LayerWeights& l : w_.layers) {
        for (const backend::Weight* w : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.q_norm,
                                         &l.k_norm, &l.ffn_norm, &l.ffn_gate, &l.ffn_up, &l.ffn_down})
            prepare(*w);
    }
}

void Transformer::reserve(int64_t n_tokens) {
    if (n_tokens <= state_.n_tokens) return;
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
}

void Transformer::reserve_cache(int64_t n_ctx) {
    if (cache_ && cache_->n_ctx() >= n_ctx) return;
    cache_.reset();  // free the old one first: on a GPU both may not fit
    // A stack without attention layers still gets a (zero-layer) cache: it carries n_ctx for decode.
    cache_ = ops_->make_kv_cache(n_kv_layers_, n_ctx, config_.attention_shape());
}

Transformer::State Transformer::forward(std::span<const int32_t> tokens, int64_t pos0) {
    const int64_t n_tokens = (int64_t)tokens.size();
    reserve(n_tokens);
    State s = state_;
    s.n_tokens = n_tokens;
    s.pos0 = pos0;
    ops_->get_rows(w_.token_embd, tokens, s.x);
    s.pending = nullptr;
    for (int64_t il = 0; il < config_.n_layers; ++il) layer(il, s);
    norm_input(s, w_.output_norm, s.xb);
    return s;
}

void Transformer::norm_input(State& s, const backend::Weight& w, float* out) {
    if (s.pending) ops_->add_rms_norm(s.x, s.pending, w, s.n_tokens, config_.rms_eps, out);
    else ops_->rms_norm(s.x, w, s.n_tokens, config_.rms_eps, out);
    s.pending = nullptr;
}

std::vector<float> Transformer::hidden(std::span<const int32_t> tokens) {
    const int64_t n_tokens = (int64_t)tokens.size();
    if (n_tokens == 0) return {};
    sequence_pos_ = -1;  // the cache is overwritten from position 0
    reserve_cache(n_tokens);
    const State s = forward(tokens, 0);
    std::vector<float> out((size_t)(n_tokens * config_.n_embd));
    ops_->to_host(s.xb, out.data(), out.size());
    return out;
}

void Transformer::logits(const float* hidden_rows, int64_t n_rows, float* logits_out) {
    logits_start(hidden_rows, n_rows, logits_out);
    logits_finish();
}

void Transformer::logits_start(const float* hidden_rows, int64_t n_rows, float* logits_out) {
    if (ops_->host_memory()) {
        ops_->matmul(w_.output, hidden_rows, n_rows, logits_out);
        return;
    }
    const size_t n_in = (size_t)(n_rows * config_.n_embd), n_out = (size_t)(n_rows * config_.n_vocab);
    if (!logits_in_ || logits_in_->n_floats() < n_in) logits_in_ = ops_->alloc(n_in);
    if (!logits_out_ || logits_out_->n_floats() < n_out) logits_out_ = ops_->alloc(n_out);
    ops_->from_host(hidden_rows, logits_in_->data(), n_in);  // returns once hidden_rows is read
    ops_->matmul(w_.output, logits_in_->data(), n_rows, logits_out_->data());
    ops_->to_host_start(logits_out_->data(), logits_out, n_out);
}

void Transformer::logits_finish() { ops_->wait_copies(); }

bool Transformer::logits_overlap() const { return !ops_->host_memory(); }

void Transformer::start_sequence(int64_t n_ctx) {
    if (n_ctx <= 0) fail(info_.name, "start_sequence needs a positive context size");
    reserve_cache(n_ctx);
    sequence_pos_ = 0;
}

void Transformer::decode(std::span<const int32_t> tokens, float* last_logits) {
    const int64_t n_tokens = (int64_t)tokens.size();
    if (sequence_pos_ < 0) fail(info_.name, "decode() before start_sequence()");
    if (n_tokens == 0) return;
    if (sequence_pos_ + n_tokens > cache_->n_ctx())
        fail(info_.name, "decode past the context of " + std::to_string(cache_->n_ctx()) + " positions");
    const State s = forward(tokens, sequence_pos_);
    sequence_pos_ += n_tokens;
    // Only the last row's logits, as llama.cpp computes them for a batch without per-token outputs.
    const float* last = s.xb + (n_tokens - 1) * config_.n_embd;
    if (ops_->host_memory()) {
        ops_->matmul(w_.output, last, 1, last_logits);
        return;
    }
    if (!logits_out_ || logits_out_->n_floats() < (size_t)config_.n_vocab) logits_out_ = ops_->alloc((size_t)config_.n_vocab);
    ops_->matmul(w_.output, last, 1, logits_out_->data());
    ops_->to_host(logits_out_->data(), last_logits, (size_t)config_.n_vocab);
}

void Transformer::layer(int64_t il, State& s) {
    self_attention(il, s);
    feed_forward(w_.layers[(size_t)il], s);  // adds s.xb to the residual first
}

void Transformer::self_attention(int64_t il, State& s) {
    const LayerWeights& l = w_.layers[(size_t)il];
    const Config& c = config_;
    const int64_t n = s.n_tokens;
    backend::Ops& op = *ops_;
    norm_input(s, l.attn_norm, s.xb);  // adds the previous layer's output first
    op.matmul(l.wq, s.xb, n, s.q);
    op.matmul(l.wk, s.xb, n, s.k);
    op.matmul(l.wv, s.xb, n, s.v);
    if (l.bq) {  // loaded together (WeightOptions::qkv_bias)
        op.add_bias(s.q, l.bq, n);
        op.add_bias(s.k, l.bk, n);
        op.add_bias(s.v, l.bv, n);
    }
    op.qk_norm_rope(s.q, s.k, l.q_norm ? &l.q_norm : nullptr, l.k_norm ? &l.k_norm : nullptr, n, c.attention_shape(),
                    c.rms_eps, s.pos0, c.rope);
    op.attention(kv_cache(), kv_slot(il), s.q, s.k, s.v, n, s.pos0, c.attention_shape(),
                 1.0f / std::sqrt((float)c.head_dim), s.att);
    op.matmul(l.wo, s.att, n, s.xb);
}

void Transformer::feed_forward(const LayerWeights& l, State& s) {
    const int64_t n = s.n_tokens;
    ops_->add_rms_norm(s.x, s.xb, l.ffn_norm, n, config_.rms_eps, s.xb);
    ops_->matmul(l.ffn_gate, s.xb, n, s.gate);
    ops_->matmul(l.ffn_up, s.xb, n, s.up);
    ops_->swiglu(s.gate, s.up, (size_t)(n * config_.n_ff), s.gate);
    ops_->matmul(l.ffn_down, s.gate, n, s.xb);
    s.pending = s.xb;  // added to x by the next norm_input
}

}  // namespace shootout::model
