// The tensors of a llama-family transformer, named as llama.cpp names them in GGUF, each a view into
// the mapped file. Loading checks every tensor's presence, shape and type before anything runs.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "backend/ops.h"
#include "model/config.h"

namespace shootout::model {

struct LayerWeights {
    backend::Weight attn_norm;                  // blk.N.attn_norm   [n_embd]
    backend::Weight wq, wk, wv, wo;             // blk.N.attn_q/k/v/output
    backend::Weight bq, bk, bv;                 // blk.N.attn_q/k/v.bias (qwen2)
    backend::Weight q_norm, k_norm;             // blk.N.attn_q_norm/attn_k_norm [head_dim] (qwen3)
    backend::Weight ffn_norm;                   // blk.N.ffn_norm    [n_embd]
    backend::Weight ffn_gate, ffn_up, ffn_down; // SwiGLU FFN
};

struct Weights {
    backend::Weight token_embd;   // [n_vocab rows of n_embd]
    backend::Weight output_norm;  // [n_embd]
    backend::Weight output;       // [n_vocab rows of n_embd]; token_embd itself when tied (no output tensor)
    std::vector<LayerWeights> layers;
};

// What an architecture adds to the common llama layer.
struct WeightOptions {
    bool qkv_bias = false;  // qwen2
    bool qk_norm = false;   // qwen3
    // false: blk.N.attn_q/k/v/output (and their biases, norms) are the architecture's to load (qwen3next).
    bool attention = true;
    // false: blk.N.ffn_gate/up/down are the architecture's to load (MoE: qwen3moe, qwen3next).
    bool dense_ffn = true;
    std::string ffn_norm = "ffn_norm";  // the pre-FFN norm (qwen3next: post_attention_norm)
};

// One tensor checked as load_weights checks its own: shape in ggml order (a 3-D stack of expert
// matrices {n_in, n_rows, n_expert} becomes one Weight of n_rows * n_expert rows); a Matrix needs CPU
// kernels, a Vector must be F32. A missing tensor throws, or is an empty Weight when not required.
enum class TensorUse { Matrix, Vector };
backend::Weight load_tensor(const gguf::File& file, const std::string& name, const std::vector<int64_t>& shape,
                            TensorUse use, bool required = true);

// The tensors an architecture's factory reads, collected on this thread while a TensorClaims is alive
// (every load goes through load_tensor or load_weights, which claim what they find; a tensor read
// directly is claimed with claim_tensor). Model::load refuses a file holding a tensor nothing read: a
// variant's extra tensor (a bias, a norm, a router) would otherwise be left out of the computation
// without a word. llama.cpp refuses such a file as well ("wrong number of tensors").
class TensorClaims {
public:
    TensorClaims();
    ~TensorClaims();
    TensorClaims(const TensorClaims&) = delete;
    TensorClaims& operator=(const TensorClaims&) = delete;
    bool claimed(const std::string& name) const { return names_.count(name) != 0; }

private:
    friend void claim_tensor(const std::string& name);
    std::unordered_set<std::string> names_;
    TensorClaims* outer_;  // the scope this one hides (restored when it ends)
};
// Adds a tensor to the innermost live TensorClaims of this thread (none: nothing happens).
void claim_tensor(const std::string& name);

// Throws Error naming the file and tensor for a missing tensor, a wrong shape, or a type the CPU
// cannot run (matrices need CPU kernels, norms and biases must be F32). Fills config.n_vocab from
// token_embd when the metadata did not give it.
Weights load_weights(const gguf::File& file, Config& config, const WeightOptions& options);

}  // namespace shootout::model
