#include "model/delta_net.h"

#include <string>

#include "gguf/gguf.h"
#include "model/weights.h"
#include "util/error.h"

namespace shootout::model {

DeltaNetConfig read_delta_net_config(const gguf::File& file, const Config& c) {
    const std::string p = c.architecture + ".";
    auto required = [&](const std::string& key) -> int64_t {
        const uint64_t v = file.get(p + key).as_uint();
        if (v == 0 || v > (1ull << 31)) fail(file.path(), "metadata " + p + key + " = " + std::to_string(v) + " is out of range");
        return (int64_t)v;
    };
    DeltaNetConfig d;
    d.conv_kernel = required("ssm.conv_kernel");
    d.shape.head_k_dim = required("ssm.state_size");
    d.shape.n_k_heads = required("ssm.group_count");
    d.shape.n_v_heads = required("ssm.time_step_rank");
    const int64_t d_inner = required("ssm.inner_size");
    if (d_inner % d.shape.n_v_heads != 0 || d.shape.n_v_heads % d.shape.n_k_heads != 0)
        fail(file.path(), "ssm.inner_size " + std::to_string(d_inner) + ", time_step_rank " +
                              std::to_string(d.shape.n_v_heads) + " and group_count " + std::to_string(d.shape.n_k_heads) +
                              " do not split into heads");
    d.shape.head_v_dim = d_inner / d.shape.n_v_heads;

    // Which layers are recurrent: attention.recurrent_layers (per layer) if given, else every layer
    // but each full_attention_interval-th (default 4), as llama.cpp decides.
    d.recurrent.assign((size_t)c.n_layers, false);
    if (const gguf::Value* layers = file.find(p + "attention.recurrent_layers")) {
        if (layers->type() != gguf::ValueType::ARRAY || (int64_t)layers->as_array().size() < c.n_layers)
            fail(file.path(), "metadata " + p + "attention.recurrent_layers must be an array of block_count flags");
        for (int64_t il = 0; il < c.n_layers; ++il) {
            const gguf::Value& v = layers->as_array()[(size_t)il];
            d.recurrent[(size_t)il] = v.type() == gguf::ValueType::BOOL ? v.as_bool() : v.as_uint() != 0;
        }
    } else {
        const uint64_t interval = file.get_uint(p + "full_attention_interval", 4);
        if (interval == 0) fail(file.path(), "metadata " + p + "full_attention_interval is zero");
        for (int64_t il = 0; il < c.n_layers; ++il) d.recurrent[(size_t)il] = (uint64_t)(il + 1) % interval != 0;
    }
    return d;
}

DeltaNetLayerWeights load_delta_net_layer(const gguf::File& file, const Config& c, const DeltaNetConfig& d, int64_t il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    if (file.find_tensor(p + "ssm_in.weight") && !file.find_tensor(p + "attn_qkv.weight"))
        fail(file.path(), "tensor '" + p + "ssm_in.weight' (the legacy joint qkvz projection) is not supported; "
                          "convert the model with a current llama.cpp");
    const int64_t n_v = d.shape.n_v_heads;
    DeltaNetLayerWeights w;
    w.qkv = load_tensor(file, p + "attn_qkv.weight", {c.n_embd, d.conv_dim()}, TensorUse::Matrix);
    w.z = load_tensor(file, p + "attn_gate.weight", {c.n_embd, d.value_dim()}, TensorUse::Matrix);
    w.ba = load_tensor(file, p + "ssm_ba.weight", {c.n_embd, 2 * n_v}, TensorUse::Matrix);
    w.conv1d = load_tensor(file, p + "ssm_conv1d.weight", {d.conv_kernel, d.conv_dim()}, TensorUse::Vector);
    w.dt_bias = load_tensor(file, p + "ssm_dt.bias", {n_v}, TensorUse::Vector);
    w.a = load_tensor(file, p + "ssm_a", {n_v}, TensorUse::Vector);
    w.norm = load_tensor(file, p + "ssm_norm.weight", {d.shape.head_v_dim}, TensorUse::Vector);
    w.out = load_tensor(file, p + "ssm_out.weight", {d.value_dim(), c.n_embd}, TensorUse::Matrix);
    return w;
}

}  // namespace shootout::model
