#include "convert/hf_tensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "convert/hf_rope.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout::convert {

namespace {

bool ends_with(const std::string& s, std::string_view suffix) { return s.ends_with(suffix); }

// The first all-digit part of a dotted name (the converter's block id), or -1.
int block_id(const std::string& name) {
    size_t start = 0;
    while (start <= name.size()) {
        size_t end = name.find('.', start);
        if (end == std::string::npos) end = name.size();
        const std::string part = name.substr(start, end - start);
        if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos) return std::stoi(part);
        start = end + 1;
    }
    return -1;
}

std::vector<int64_t> reversed(const std::vector<int64_t>& shape) { return {shape.rbegin(), shape.rend()}; }

int64_t config_int(const Json& config, const char* key) {
    const Json* v = config.find(key);
    if (!v || !v->is_integer()) throw Error(std::string("config.json: missing integer '") + key + "'");
    return v->as_int();
}

// gguf-py's BF16/F16/F32 conversion of F32 values (round to nearest even, NaN made quiet) and Q8_0.
quant::TypeId output_type(const std::string& name, size_t n_dims, int64_t row_length, OutType outtype) {
    using quant::TypeId;
    if (n_dims <= 1 || ends_with(name, "_norm.weight")) return TypeId::F32;
    // Tensors the converter always keeps in F32 (of those the supported architectures have).
    for (const char* suffix : {".ffn_gate_inp.weight", ".ffn_gate_inp_shexp.weight", ".ssm_conv1d.weight"})
        if (ends_with(name, suffix)) return TypeId::F32;
    if (name == "position_embd.weight" || name == "token_types.weight") return TypeId::F32;
    if (!ends_with(name, ".weight")) return TypeId::F32;
    switch (outtype) {
        case OutType::F32: return TypeId::F32;
        case OutType::F16: return TypeId::F16;
        case OutType::BF16: return TypeId::BF16;
        case OutType::Q8_0: return row_length % 32 == 0 ? TypeId::Q8_0 : TypeId::F16;  // gguf-py's fallback
        case OutType::Auto: break;
    }
    throw Error("output type not resolved");
}

// A tensor on its way to the output: its source(s) and how its F32 values come out of them.
struct Pending {
    std::string name;              // GGUF name
    std::vector<int64_t> torch_shape;
    std::vector<const StTensor*> sources;
    std::function<void(float*)> values;
    bool identity = false;         // values are exactly sources[0] widened (raw view possible)
};

Pending identity_of(const std::string& name, const StTensor& src, std::vector<int64_t> torch_shape) {
    Pending p;
    p.name = name;
    p.torch_shape = std::move(torch_shape);
    p.sources = {&src};
    p.identity = true;
    p.values = [&src](float* dst) { src.to_float(dst); };
    return p;
}

// An elementwise change applied as torch applies it: in F16 when the checkpoint is F16 (the converter
// only widens BF16 and other types to F32 before modify_tensors), else in F32.
Pending elementwise(const std::string& name, const StTensor& src, std::vector<int64_t> torch_shape,
                    float (*op)(float)) {
    Pending p;
    p.name = name;
    p.torch_shape = std::move(torch_shape);
    p.sources = {&src};
    p.values = [&src, op](float* dst) {
        src.to_float(dst);
        const int64_t n = src.n_elements();
        const bool half = src.dtype == StDtype::F16;
        for (int64_t i = 0; i < n; ++i) {
            const float v = op(dst[i]);
            dst[i] = half ? fp16_to_fp32(fp32_to_fp16(v)) : v;
        }
    };
    return p;
}

float neg_exp(float x) { return -std::exp(x); }
float plus_one(float x) { return x + 1.0f; }

// LlamaModel.permute: rows of each head reordered from [2][half] to [half][2] (HF's rotate_half
// layout to ggml's interleaved RoPE pairs).
Pending llama_permute(const std::string& name, const StTensor& src, int64_t n_head) {
    Pending p;
    p.name = name;
    p.torch_shape = src.shape;
    p.sources = {&src};
    p.values = [&src, n_head](float* dst) {
        const int64_t rows = src.shape[0];
        const int64_t cols = src.shape.size() > 1 ? src.n_elements() / rows : 1;
        if (rows % (2 * n_head) != 0) fail(src.file, "tensor '" + src.name + "': rows not divisible by 2 x heads");
        std::vector<float> in(size_t(src.n_elements()));
        src.to_float(in.data());
        const int64_t head_rows = rows / n_head, half = head_rows / 2;
        for (int64_t h = 0; h < n_head; ++h)
            for (int64_t i = 0; i < half; ++i)
                for (int64_t j = 0; j < 2; ++j)
                    std::memcpy(dst + (h * head_rows + i * 2 + j) * cols, in.data() + (h * head_rows + j * half + i) * cols,
                                size_t(cols) * 4);
    };
    return p;
}

// Rows [row_begin, row_end) of a 2-D tensor gathered by a row map.
Pending gather_rows(const std::string& name, const StTensor& src, std::vector<int64_t> row_map) {
    Pending p;
    p.name = name;
    p.torch_shape = {int64_t(row_map.size()), src.shape[1]};
    p.sources = {&src};
    p.values = [&src, row_map = std::move(row_map)](float* dst) {
        const int64_t cols = src.shape[1];
        std::vector<float> in(size_t(src.n_elements()));
        src.to_float(in.data());
        for (size_t r = 0; r < row_map.size(); ++r)
            std::memcpy(dst + int64_t(r) * cols, in.data() + row_map[r] * cols, size_t(cols) * 4);
    };
    return p;
}

Pending stack(const std::string& name, std::vector<const StTensor*> parts) {
    Pending p;
    p.name = name;
    p.torch_shape = parts[0]->shape;
    for (const StTensor* t : parts)
        if (t->shape != parts[0]->shape) fail(t->file, "expert tensor '" + t->name + "' differs in shape from expert 0");
    p.torch_shape.insert(p.torch_shape.begin(), int64_t(parts.size()));
    p.sources = parts;
    p.values = [parts](float* dst) {
        for (const StTensor* t : parts) {
            t->to_float(dst);
            dst += t->n_elements();
        }
    };
    return p;
}

// Rows [begin, end) along dim -2 of a 3-D [n_expert, rows, cols] tensor (a fused gate_up_proj).
Pending slice_experts(const std::string& name, const StTensor& src, int64_t begin, int64_t end) {
    Pending p;
    p.name = name;
    const int64_t n_expert = src.shape[0], rows = src.shape[1], cols = src.shape[2];
    p.torch_shape = {n_expert, end - begin, cols};
    p.sources = {&src};
    p.values = [&src, n_expert, rows, cols, begin, end](float* dst) {
        std::vector<float> in(size_t(src.n_elements()));
        src.to_float(in.data());
        for (int64_t e = 0; e < n_expert; ++e) {
            std::memcpy(dst, in.data() + (e * rows + begin) * cols, size_t((end - begin) * cols) * 4);
            dst += (end - begin) * cols;
        }
    };
    return p;
}

const std::map<std::string, std::string>& block_names() {
    static const std::map<std::string, std::string> names = {
        {"input_layernorm", "attn_norm"},
        {"self_attn.q_proj", "attn_q"},
        {"self_attn.k_proj", "attn_k"},
        {"self_attn.v_proj", "attn_v"},
        {"self_attn.o_proj", "attn_output"},
        {"self_attn.q_norm", "attn_q_norm"},
        {"self_attn.k_norm", "attn_k_norm"},
        {"mlp.gate_proj", "ffn_gate"},
        {"mlp.up_proj", "ffn_up"},
        {"mlp.down_proj", "ffn_down"},
        {"mlp.gate", "ffn_gate_inp"},
        {"mlp.experts.gate_proj", "ffn_gate_exps"},
        {"mlp.experts.up_proj", "ffn_up_exps"},
        {"mlp.experts.down_proj", "ffn_down_exps"},
        {"mlp.shared_expert.gate_proj", "ffn_gate_shexp"},
        {"mlp.shared_expert.up_proj", "ffn_up_shexp"},
        {"mlp.shared_expert.down_proj", "ffn_down_shexp"},
        {"mlp.shared_expert_gate", "ffn_gate_inp_shexp"},
        {"linear_attn.A_log", "ssm_a"},
        {"linear_attn.conv1d", "ssm_conv1d"},
        {"linear_attn.dt_proj", "ssm_dt"},
        {"linear_attn.in_proj_ba", "ssm_ba"},
        {"linear_attn.norm", "ssm_norm"},
        {"linear_attn.out_proj", "ssm_out"},
    };
    return names;
}

}  // namespace

std::string map_tensor_name(const std::string& hf_name, const std::string& architecture) {
    std::string base = hf_name, suffix;
    for (const char* s : {".weight", ".bias"})
        if (ends_with(hf_name, s)) {
            suffix = s;
            base = hf_name.substr(0, hf_name.size() - suffix.size());
            break;
        }
    if (base == "model.embed_tokens") return "token_embd" + suffix;
    if (base == "model.norm") return "output_norm" + suffix;
    if (base == "lm_head") return "output" + suffix;
    const std::string prefix = "model.layers.";
    if (!base.starts_with(prefix)) return "";
    const size_t dot = base.find('.', prefix.size());
    if (dot == std::string::npos) return "";
    const std::string bid = base.substr(prefix.size(), dot - prefix.size());
    const std::string rest = base.substr(dot + 1);
    std::string mapped;
    if (rest == "post_attention_layernorm") {
        mapped = architecture == "qwen3next" ? "post_attention_norm" : "ffn_norm";
    } else {
        auto it = block_names().find(rest);
        if (it == block_names().end()) return "";
        mapped = it->second;
    }
    return "blk." + bid + "." + mapped + suffix;
}

OutType resolve_outtype(const Checkpoint& checkpoint, OutType requested) {
    if (requested != OutType::Auto) return requested;
    for (const StTensor& t : checkpoint.tensors()) {
        if (t.shape.size() < 2) continue;
        if (t.dtype == StDtype::BF16) return OutType::BF16;
        if (t.dtype == StDtype::F16) return OutType::F16;
    }
    return OutType::F16;
}

std::vector<PlannedTensor> plan_tensors(const TensorPlanInput& input, std::vector<std::string>& notes) {
    const Json& config = *input.config;
    const std::string& arch = input.architecture;
    const OutType outtype = resolve_outtype(*input.checkpoint, input.outtype);
    const bool moe = arch == "qwen3moe" || arch == "qwen3next";
    std::vector<Pending> pending;
    std::map<int, std::map<std::string, const StTensor*>> experts;  // per block: HF name -> tensor

    auto emit_mapped = [&](Pending p, const std::string& hf_name) {
        const std::string name = map_tensor_name(hf_name, arch);
        if (name.empty()) throw Error("tensor '" + hf_name + "': no GGUF name for it in architecture " + arch);
        p.name = name;
        pending.push_back(std::move(p));
    };

    // LlamaModel.generate_extra_tensors: its tensors come before the checkpoint's.
    if (arch == "llama") {
        const RopeSettings rope = rope_settings(config);
        if (is_llama3_rope(rope)) {
            std::vector<float> factors = llama3_rope_factors(llama3_rope(config, rope, "config.json"));
            Pending p;
            p.name = "rope_freqs.weight";
            p.torch_shape = {int64_t(factors.size())};
            p.values = [factors = std::move(factors)](float* dst) {
                std::copy(factors.begin(), factors.end(), dst);
            };
            pending.push_back(std::move(p));
        }
    }

    int n_mtp = 0;
    for (const StTensor& t : input.checkpoint->tensors()) {
        std::string name = t.name;
        if (ends_with(name, ".attention.masked_bias") || ends_with(name, ".attention.bias") ||
            ends_with(name, ".rotary_emb.inv_freq"))
            continue;
        // The multi-token-prediction block (Qwen3-Next): left out, as llama.cpp's converter does with
        // --no-mtp (its default now appends it as NextN layers, which the main pass never runs).
        if (name.starts_with("mtp.") || name.starts_with("model.mtp.")) {
            ++n_mtp;
            continue;
        }
        if (t.dtype == StDtype::Other)
            fail(t.file, "tensor '" + name + "' has dtype " + t.dtype_name + " (only F32, F16 and BF16 are read)");
        if (input.hf_arch == "LlamaModel" || input.hf_arch == "Qwen2Model") name = "model." + name;
        const int bid = block_id(name);

        if (arch == "qwen3next") {
            if (ends_with(name, ".A_log")) { emit_mapped(elementwise("", t, t.shape, neg_exp), name); continue; }
            if (ends_with(name, ".dt_bias")) {
                emit_mapped(identity_of("", t, t.shape), name.substr(0, name.size() - 8) + ".dt_proj.bias");
                continue;
            }
            if (name.find("conv1d") != std::string::npos) {
                std::vector<int64_t> squeezed;
                for (int64_t d : t.shape)
                    if (d != 1) squeezed.push_back(d);
                emit_mapped(identity_of("", t, squeezed), name);
                continue;
            }
            if (ends_with(name, "norm.weight") && !ends_with(name, "linear_attn.norm.weight")) {
                emit_mapped(elementwise("", t, t.shape, plus_one), name);
                continue;
            }
            if (name.find("in_proj_qkvz.weight") != std::string::npos) {
                const int64_t hk = config_int(config, "linear_key_head_dim");
                const int64_t hv = config_int(config, "linear_value_head_dim");
                const int64_t nv = config_int(config, "linear_num_value_heads");
                const int64_t nk = config_int(config, "linear_num_key_heads");
                const int64_t vpg = nv / nk * hv;
                const int64_t group = 2 * hk + 2 * vpg;
                if (t.shape.size() != 2 || t.shape[0] != nk * group)
                    fail(t.file, "tensor '" + name + "': shape does not match the linear attention heads");
                std::vector<int64_t> qkv, z;
                for (int64_t g = 0; g < nk; ++g)
                    for (int64_t i = 0; i < hk; ++i) qkv.push_back(g * group + i);
                for (int64_t g = 0; g < nk; ++g)
                    for (int64_t i = 0; i < hk; ++i) qkv.push_back(g * group + hk + i);
                for (int64_t g = 0; g < nk; ++g)
                    for (int64_t i = 0; i < vpg; ++i) qkv.push_back(g * group + 2 * hk + i);
                for (int64_t g = 0; g < nk; ++g)
                    for (int64_t i = 0; i < vpg; ++i) z.push_back(g * group + 2 * hk + vpg + i);
                const std::string blk = "blk." + std::to_string(bid) + ".";
                pending.push_back(gather_rows(blk + "attn_qkv.weight", t, qkv));
                pending.push_back(gather_rows(blk + "attn_gate.weight", t, z));
                continue;
            }
        }

        if (arch == "llama") {
            const int64_t n_head = config_int(config, "num_attention_heads");
            const Json* kv = config.find("num_key_value_heads");
            const int64_t n_kv = kv && kv->is_integer() ? kv->as_int() : n_head;
            if (ends_with(name, "q_proj.weight") || ends_with(name, "q_proj.bias")) {
                emit_mapped(llama_permute("", t, n_head), name);
                continue;
            }
            if (ends_with(name, "k_proj.weight") || ends_with(name, "k_proj.bias")) {
                emit_mapped(llama_permute("", t, n_kv), name);
                continue;
            }
            if (name.find("block_sparse_moe") != std::string::npos)
                throw Error("tensor '" + name + "': Mixtral-style experts are not supported");
        }

        if (moe && name.find("experts") != std::string::npos) {
            const std::string base = ends_with(name, ".weight") ? name.substr(0, name.size() - 7) : name;
            if (ends_with(base, "mlp.experts.down_proj")) {  // already stacked (transformers 5 layout)
                emit_mapped(identity_of("", t, t.shape), base + ".weight");
                continue;
            }
            if (ends_with(base, "mlp.experts.gate_up_proj")) {
                if (t.shape.size() != 3 || t.shape[1] % 2 != 0) fail(t.file, "tensor '" + name + "': unexpected shape");
                const int64_t n_ff = t.shape[1] / 2;
                const std::string stem = base.substr(0, base.size() - 13);
                emit_mapped(slice_experts("", t, 0, n_ff), stem + ".gate_proj.weight");
                emit_mapped(slice_experts("", t, n_ff, 2 * n_ff), stem + ".up_proj.weight");
                continue;
            }
            if (bid < 0) throw Error("tensor '" + name + "': expert outside a block");
            const Json* ne = config.find("num_experts");
            if (!ne) ne = config.find("num_local_experts");
            if (!ne || !ne->is_integer()) throw Error("config.json: missing integer 'num_experts'");
            const int64_t n_experts = ne->as_int();
            auto& block = experts[bid];
            block[name] = &t;
            if (int64_t(block.size()) >= n_experts * 3) {
                for (const char* w : {"down_proj", "gate_proj", "up_proj"}) {
                    std::vector<const StTensor*> parts;
                    for (int64_t x = 0; x < n_experts; ++x) {
                        const std::string ename = "model.layers." + std::to_string(bid) + ".mlp.experts." +
                                                  std::to_string(x) + "." + w + ".weight";
                        auto it = block.find(ename);
                        if (it == block.end()) throw Error("missing expert tensor '" + ename + "'");
                        parts.push_back(it->second);
                        block.erase(it);
                    }
                    emit_mapped(stack("", parts),
                                "model.layers." + std::to_string(bid) + ".mlp.experts." + w + ".weight");
                }
            }
            continue;
        }

        emit_mapped(identity_of("", t, t.shape), name);
    }
    for (const auto& [bid, block] : experts)
        if (!block.empty()) throw Error("unprocessed expert tensors in block " + std::to_string(bid) + ", e.g. '" +
                                        block.begin()->first + "'");

    std::vector<PlannedTensor> out;
    for (Pending& p : pending) {
        PlannedTensor t;
        t.name = p.name;
        t.shape = reversed(p.torch_shape);
        t.type = output_type(t.name, p.torch_shape.size(), t.shape.empty() ? 1 : t.shape[0], outtype);
        if (p.identity && p.sources.size() == 1) {
            const StDtype d = p.sources[0]->dtype;
            if ((d == StDtype::BF16 && t.type == quant::TypeId::BF16) || (d == StDtype::F16 && t.type == quant::TypeId::F16) ||
                (d == StDtype::F32 && t.type == quant::TypeId::F32))
                t.raw = p.sources[0]->data;
        }
        t.values = std::move(p.values);
        out.push_back(std::move(t));
    }
    if (n_mtp > 0)
        notes.push_back(std::to_string(n_mtp) + " multi-token-prediction tensors (mtp.*) left out, as llama.cpp's "
                        "converter leaves them with --no-mtp (a perplexity or decode pass never runs them)");
    return out;
}

}  // namespace shootout::convert
