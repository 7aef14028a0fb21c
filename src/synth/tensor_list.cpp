#include "synth/tensor_list.h"

#include <string>

#include "util/error.h"

namespace shootout::synth {

using quant::TypeId;

namespace {

class TensorListBuilder {
public:
    std::vector<SynthTensor> tensors;

    void weight(const std::string& name, std::vector<int64_t> shape) { add(name, std::move(shape), TypeId::BF16, ValueKind::Weight); }
    // Routers stay F32 in the converter's output (and llama-quantize never quantizes them).
    void router(const std::string& name, std::vector<int64_t> shape) { add(name, std::move(shape), TypeId::F32, ValueKind::Weight); }
    void norm(const std::string& name, int64_t n) { add(name, {n}, TypeId::F32, ValueKind::Norm); }
    void add(const std::string& name, std::vector<int64_t> shape, TypeId type, ValueKind kind) {
        for (int64_t d : shape) {
            if (d <= 0) fail(name, "shape has a non-positive dimension");
        }
        tensors.push_back({{name, std::move(shape), type}, kind});
    }
};

void attention(TensorListBuilder& b, const Shape& s, const std::string& p, bool gated_query, bool qk_norm) {
    const int64_t q_dim = s.n_head * s.head_dim * (gated_query ? 2 : 1);  // qwen3next: query and its gate
    const int64_t kv_dim = s.n_head_kv * s.head_dim;
    b.weight(p + "attn_q.weight", {s.n_embd, q_dim});
    b.weight(p + "attn_k.weight", {s.n_embd, kv_dim});
    b.weight(p + "attn_v.weight", {s.n_embd, kv_dim});
    b.weight(p + "attn_output.weight", {s.n_head * s.head_dim, s.n_embd});
    if (qk_norm) {
        b.norm(p + "attn_q_norm.weight", s.head_dim);
        b.norm(p + "attn_k_norm.weight", s.head_dim);
    }
}

// llama.cpp models/qwen3next.cpp load_block_trunk: the Gated DeltaNet projections.
void gated_delta_net(TensorListBuilder& b, const Shape& s, const std::string& p) {
    const int64_t key_dim = s.ssm_state_size * s.ssm_group_count;
    const int64_t value_dim = s.ssm_state_size * s.ssm_time_step_rank;
    const int64_t conv_dim = key_dim * 2 + value_dim;
    b.add(p + "ssm_a", {s.ssm_time_step_rank}, TypeId::F32, ValueKind::Decay);
    b.add(p + "ssm_conv1d.weight", {s.ssm_conv_kernel, conv_dim}, TypeId::F32, ValueKind::Weight);
    b.add(p + "ssm_dt.bias", {s.ssm_time_step_rank}, TypeId::F32, ValueKind::Norm);
    b.weight(p + "ssm_ba.weight", {s.n_embd, 2 * s.ssm_time_step_rank});
    b.weight(p + "attn_qkv.weight", {s.n_embd, conv_dim});
    b.weight(p + "attn_gate.weight", {s.n_embd, value_dim});
    b.norm(p + "ssm_norm.weight", s.ssm_state_size);
    b.weight(p + "ssm_out.weight", {value_dim, s.n_embd});
}

void experts(TensorListBuilder& b, const Shape& s, const std::string& p) {
    b.router(p + "ffn_gate_inp.weight", {s.n_embd, s.n_expert});
    b.weight(p + "ffn_gate_exps.weight", {s.n_embd, s.n_ff_expert, s.n_expert});
    b.weight(p + "ffn_up_exps.weight", {s.n_embd, s.n_ff_expert, s.n_expert});
    b.weight(p + "ffn_down_exps.weight", {s.n_ff_expert, s.n_embd, s.n_expert});
    if (s.n_ff_shared_expert > 0) {
        b.router(p + "ffn_gate_inp_shexp.weight", {s.n_embd});
        b.weight(p + "ffn_gate_shexp.weight", {s.n_embd, s.n_ff_shared_expert});
        b.weight(p + "ffn_up_shexp.weight", {s.n_embd, s.n_ff_shared_expert});
        b.weight(p + "ffn_down_shexp.weight", {s.n_ff_shared_expert, s.n_embd});
    }
}

}  // namespace

std::vector<SynthTensor> synth_tensors(const Shape& s) {
    const bool is_qwen3next = s.architecture == "qwen3next";
    const bool is_moe = s.architecture == "qwen3moe" || is_qwen3next;
    if (!is_moe && s.architecture != "qwen3" && s.architecture != "llama") {
        fail("synth", "no tensor list for architecture '" + s.architecture + "'");
    }
    if (is_moe && (s.n_expert <= 0 || s.n_ff_expert <= 0)) fail("synth", s.architecture + " needs experts");

    TensorListBuilder b;
    b.weight("token_embd.weight", {s.n_embd, s.n_vocab});
    b.norm("output_norm.weight", s.n_embd);
    if (!s.tied_embeddings) b.weight("output.weight", {s.n_embd, s.n_vocab});
    for (int64_t layer = 0; layer < s.n_layer; ++layer) {
        const std::string p = "blk." + std::to_string(layer) + ".";
        b.norm(p + "attn_norm.weight", s.n_embd);
        if (is_qwen3next) {
            b.norm(p + "post_attention_norm.weight", s.n_embd);
            if (s.is_recurrent_layer(layer)) {
                gated_delta_net(b, s, p);
            } else {
                attention(b, s, p, true, true);
            }
        } else {
            b.norm(p + "ffn_norm.weight", s.n_embd);
            attention(b, s, p, false, s.architecture != "llama");
        }
        if (is_moe) {
            experts(b, s, p);
        } else {
            b.weight(p + "ffn_gate.weight", {s.n_embd, s.n_ff});
            b.weight(p + "ffn_up.weight", {s.n_embd, s.n_ff});
            b.weight(p + "ffn_down.weight", {s.n_ff, s.n_embd});
        }
    }
    return b.tensors;
}

quantize::ModelFacts model_facts(const Shape& s) {
    quantize::ModelFacts facts;
    facts.architecture = s.architecture;
    facts.n_layer = static_cast<int>(s.n_layer);
    facts.n_head = static_cast<int>(s.n_head);
    facts.n_head_kv = static_cast<int>(s.n_head_kv);
    facts.n_expert = static_cast<int>(s.n_expert);
    return facts;
}

int64_t parameter_count(const Shape& shape) {
    int64_t n = 0;
    for (const SynthTensor& t : synth_tensors(shape)) {
        int64_t elements = 1;
        for (int64_t d : t.desc.shape) elements *= d;
        n += elements;
    }
    return n;
}

}  // namespace shootout::synth
