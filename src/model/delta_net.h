// Qwen3-Next's hybrid layout: Gated DeltaNet (linear attention) layers, with llama.cpp's GGUF keys
// (<arch>.ssm.conv_kernel, ssm.state_size, ssm.group_count, ssm.time_step_rank, ssm.inner_size,
// full_attention_interval or attention.recurrent_layers) and tensor names (blk.N.attn_qkv, attn_gate,
// ssm_conv1d, ssm_ba, ssm_dt.bias, ssm_a, ssm_norm, ssm_out).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/ops.h"
#include "model/config.h"

namespace shootout {
namespace gguf {
class File;
}

namespace model {

struct DeltaNetConfig {
    backend::DeltaNetShape shape;  // n_k_heads = group_count, n_v_heads = time_step_rank,
                                   // head_k_dim = state_size, head_v_dim = inner_size / n_v_heads
    int64_t conv_kernel = 0;       // taps of the short convolution
    std::vector<bool> recurrent;   // per layer: Gated DeltaNet (true) or gated full attention

    int64_t key_dim() const { return shape.n_k_heads * shape.head_k_dim; }
    int64_t value_dim() const { return shape.n_v_heads * shape.head_v_dim; }
    int64_t conv_dim() const { return 2 * key_dim() + value_dim(); }  // q, k, v channels
};

struct DeltaNetLayerWeights {
    backend::Weight qkv;       // attn_qkv: [conv_dim rows of n_embd], q | k | v
    backend::Weight z;         // attn_gate: [value_dim rows], the output gate
    backend::Weight ba;        // ssm_ba: [2 n_v_heads rows], per key group: ratio betas then ratio alphas
    backend::Weight conv1d;    // ssm_conv1d: [conv_dim rows of conv_kernel], F32
    backend::Weight dt_bias;   // ssm_dt.bias [n_v_heads]
    backend::Weight a;         // ssm_a [n_v_heads] = -exp(A_log)
    backend::Weight norm;      // ssm_norm [head_v_dim]
    backend::Weight out;       // ssm_out: [n_embd rows of value_dim]
};

// Throws Error naming the file and key for a missing or inconsistent value.
DeltaNetConfig read_delta_net_config(const gguf::File& file, const Config& config);
DeltaNetLayerWeights load_delta_net_layer(const gguf::File& file, const Config& config, const DeltaNetConfig& dn,
                                          int64_t il);

}  // namespace model
}  // namespace shootout
