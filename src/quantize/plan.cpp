#include "quantize/plan.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <regex>

#include "quantize/mixture_rules.h"
#include "quantize/tensor_category.h"
#include "util/error.h"

namespace shootout::quantize {

using quant::TypeId;

namespace {

// sscanf(name, "blk.%d.", &layer) as llama.cpp uses it: true when the name starts with "blk."
// followed by an integer.
bool parse_block_index(const std::string& name, int& layer) {
    if (name.compare(0, 4, "blk.") != 0) return false;
    size_t i = 4;
    bool negative = false;
    if (i < name.size() && (name[i] == '-' || name[i] == '+')) negative = name[i++] == '-';
    if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return false;
    long value = 0;
    while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && value < 1000000000) {
        value = value * 10 + (name[i++] - '0');
    }
    layer = static_cast<int>(negative ? -value : value);
    return true;
}

int64_t block_size(TypeId type) { return quant::traits(type).block_size; }

// llama-quant.cpp tensor_type_fallback: the type to use when ncols is not a multiple of the chosen
// type's block size. Throws where llama-quantize has no fallback.
TypeId fallback_type(const TensorDesc& tensor, TypeId type, std::string& reason, int& n_fallback) {
    const int64_t ncols = tensor.shape.empty() ? 0 : tensor.shape[0];
    if (ncols % block_size(type) == 0) return type;
    ++n_fallback;
    TypeId result;
    switch (type) {
        case TypeId::IQ1_S: case TypeId::IQ1_M: case TypeId::IQ2_XXS: case TypeId::IQ2_XS:
        case TypeId::IQ2_S: case TypeId::IQ3_XXS: case TypeId::IQ3_S: case TypeId::IQ4_XS:
            result = TypeId::IQ4_NL; break;
        case TypeId::Q2_K: case TypeId::Q3_K: case TypeId::TQ1_0: case TypeId::TQ2_0:
            result = TypeId::Q4_0; break;
        case TypeId::Q4_K: result = TypeId::Q5_0; break;
        case TypeId::Q5_K: result = TypeId::Q5_1; break;
        case TypeId::Q6_K: result = TypeId::Q8_0; break;
        default:
            fail(tensor.name, "ncols " + std::to_string(ncols) + " is not a multiple of " +
                                  std::to_string(block_size(type)) + " and no fallback is defined for type " +
                                  quant::traits(type).name);
    }
    if (ncols % block_size(result) != 0) result = TypeId::F16;  // "must use F16 due to unusual shape"
    reason += std::string("; ncols ") + std::to_string(ncols) + " not a multiple of " +
              std::to_string(block_size(type)) + ": " + quant::traits(type).name + " -> " + quant::traits(result).name;
    return result;
}

// llama-quant.cpp tensor_requires_imatrix.
bool requires_imatrix(const std::string& name, TypeId type, FileType file_type) {
    if (tensor_category(name) == Category::TokenEmbedding || name == "output.weight") return false;
    switch (type) {
        case TypeId::IQ3_XXS: case TypeId::IQ2_XXS: case TypeId::IQ2_XS:
        case TypeId::IQ2_S: case TypeId::IQ1_M: case TypeId::IQ1_S:
            return true;
        case TypeId::Q2_K: return file_type == FileType::Q2_K_S;
        default: return false;
    }
}

// The stateful part of llama-quantize's choice: counters over attn_v / ffn tensors in visiting order.
class Mixture {
public:
    Mixture(const ModelFacts& facts, const Recipe& recipe, bool has_imatrix, const std::vector<TensorDesc>& tensors)
        : facts_(facts), recipe_(recipe), has_imatrix_(has_imatrix),
          base_(file_type_info(recipe.file_type).base_type) {
        for (const auto& t : tensors) {
            if (tensor_category(t.name) == Category::AttentionV) ++n_attention_wv_;
            if (t.name == "output.weight") tied_embeddings_ = false;
        }
        for (const auto& o : recipe.tensor_types) {
            try {
                patterns_.emplace_back(o.pattern);
            } catch (const std::regex_error& e) {
                fail("--tensor-type " + o.pattern, std::string("bad regular expression: ") + e.what());
            }
        }
    }

    TensorPlan choose(const TensorDesc& tensor, int& n_fallback) {
        TensorPlan plan{tensor.name, tensor.shape, tensor.type, tensor.type, "", false};
        if (auto why_not = why_not_quantized(tensor.name, tensor.shape, recipe_.leave_output_tensor)) {
            plan.reason = "kept: " + *why_not;
            return plan;
        }
        const Category category = tensor_category(tensor.name);
        if (recipe_.token_embedding_type && category == Category::TokenEmbedding) {
            plan.type = *recipe_.token_embedding_type;
            plan.reason = "--token-embedding-type";
        } else if (recipe_.output_type && category == Category::Output) {
            plan.type = *recipe_.output_type;
            plan.reason = "--output-tensor-type";
        } else {
            plan.type = base_;
            plan.reason = "base type";
            // Mixtures of plain float types have no rules, overrides or fallbacks.
            if (quant::traits(base_).is_quantized) {
                bool manual = false;
                for (size_t i = 0; i < patterns_.size(); ++i) {
                    if (std::regex_search(tensor.name, patterns_[i])) {
                        plan.type = recipe_.tensor_types[i].type;
                        plan.reason = "--tensor-type " + recipe_.tensor_types[i].pattern;
                        manual = true;
                        break;
                    }
                }
                if (recipe_.pure && !manual) plan.reason = "--pure: base type";
                if (!manual && !recipe_.pure) apply_rules(tensor, category, plan);
                plan.type = fallback_type(tensor, plan.type, plan.reason, n_fallback);
            }
        }
        plan.requires_imatrix = requires_imatrix(tensor.name, plan.type, recipe_.file_type);
        return plan;
    }

private:
    RuleInput input_for(const TensorDesc& tensor, Category category, int i_layer, int n_layer) const {
        RuleInput in;
        in.file_type = recipe_.file_type;
        in.category = category;
        in.i_layer = i_layer;
        in.n_layer = n_layer;
        in.n_gqa = facts_.n_gqa();
        in.n_expert = facts_.n_expert;
        in.has_imatrix = has_imatrix_;
        in.falcon = facts_.architecture == "falcon";
        in.expert_stack = tensor.shape.size() > 2 && tensor.shape[2] > 1;
        in.ncols_fit_base = !tensor.shape.empty() && tensor.shape[0] % block_size(base_) == 0;
        in.current = base_;
        return in;
    }

    void apply(Branch branch, const RuleInput& in, TensorPlan& plan, const std::string& layer_note = "") {
        if (const Rule* rule = find_rule(branch, in)) {
            if (rule->type) plan.type = *rule->type;
            plan.reason = rule->why + layer_note;
        }
    }

    // The layer an ffn rule counts with: llama-quantize counts tensors, except in MoE models where
    // experts may be out of order and it parses blk.N from the name.
    int ffn_layer(const TensorDesc& tensor, int counter) const {
        if (std::max(1, facts_.n_expert) <= 1) return counter;
        int layer = -1;
        if (!parse_block_index(tensor.name, layer)) fail(tensor.name, "cannot determine the layer of this tensor");
        if (layer < 0 || layer >= facts_.n_layer) {
            fail(tensor.name, "layer " + std::to_string(layer) + " outside [0, " + std::to_string(facts_.n_layer) + ")");
        }
        return layer;
    }

    static std::string note(int i, int n) { return " (" + std::to_string(i) + " of " + std::to_string(n) + ")"; }

    // llama-quant.cpp llama_tensor_get_type_impl: pick the branch, then its table decides.
    void apply_rules(const TensorDesc& tensor, Category category, TensorPlan& plan) {
        const FileType ftype = recipe_.file_type;
        if (category == Category::Output || (tied_embeddings_ && category == Category::TokenEmbedding)) {
            if (recipe_.output_type) {  // a tied token_embd follows --output-tensor-type
                plan.type = *recipe_.output_type;
                plan.reason = "--output-tensor-type (tied embeddings)";
            } else {
                apply(Branch::Output, input_for(tensor, Category::Output, 0, 1), plan);
            }
        } else if (ftype == FileType::MXFP4_MOE) {
            apply(Branch::Mxfp4Moe, input_for(tensor, category, 0, 1), plan);
        } else if (category == Category::TokenEmbedding) {
            apply(Branch::TokenEmbedding, input_for(tensor, category, 0, 1), plan);
        } else if (is_low_bit_family(ftype)) {
            if (category == Category::AttentionV) {
                apply(Branch::LowBit, input_for(tensor, category, i_attention_wv_, n_attention_wv_), plan,
                      note(i_attention_wv_, n_attention_wv_));
                ++i_attention_wv_;
            } else if (category == Category::FfnDown) {
                apply(Branch::LowBit, input_for(tensor, category, i_ffn_down_, facts_.n_layer), plan,
                      note(i_ffn_down_, facts_.n_layer));
                ++i_ffn_down_;
            } else {
                apply(Branch::LowBit, input_for(tensor, category, 0, facts_.n_layer), plan);
            }
        } else if (category == Category::AttentionV) {
            apply(Branch::Standard, input_for(tensor, category, i_attention_wv_, n_attention_wv_), plan,
                  note(i_attention_wv_, n_attention_wv_));
            if (facts_.is_llama_70b() && facts_.n_expert != 8 &&
                (plan.type == TypeId::Q3_K || plan.type == TypeId::Q4_K)) {
                plan.type = TypeId::Q5_K;
                plan.reason += "; 70B: attn_v at Q5_K";
            }
            ++i_attention_wv_;
        } else if (category == Category::FfnDown || category == Category::FfnGate || category == Category::FfnUp) {
            int& counter = category == Category::FfnDown ? i_ffn_down_
                         : category == Category::FfnGate ? i_ffn_gate_ : i_ffn_up_;
            const int layer = ffn_layer(tensor, counter);
            apply(Branch::Standard, input_for(tensor, category, layer, facts_.n_layer), plan,
                  " (layer " + std::to_string(layer) + " of " + std::to_string(facts_.n_layer) + ")");
            ++counter;
        } else {
            apply(Branch::Standard, input_for(tensor, category, 0, facts_.n_layer), plan);
        }
    }

    const ModelFacts& facts_;
    const Recipe& recipe_;
    bool has_imatrix_;
    TypeId base_;
    bool tied_embeddings_ = true;
    int n_attention_wv_ = 0;
    int i_attention_wv_ = 0, i_ffn_down_ = 0, i_ffn_gate_ = 0, i_ffn_up_ = 0;
    std::vector<std::regex> patterns_;
};

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string text = "[";
    for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + "]";
}

}  // namespace

bool tensor_order_less(const std::string& a, const std::string& b) {
    int a_layer = -1, b_layer = -1;
    parse_block_index(a, a_layer);
    parse_block_index(b, b_layer);
    if (a_layer != b_layer) return a_layer < b_layer;
    return a < b;
}

Plan make_plan(const ModelFacts& facts, std::vector<TensorDesc> tensors, const Recipe& recipe, bool has_imatrix) {
    std::stable_sort(tensors.begin(), tensors.end(),
                     [](const TensorDesc& a, const TensorDesc& b) { return tensor_order_less(a.name, b.name); });
    Plan plan;
    plan.recipe = recipe;
    plan.has_imatrix = has_imatrix;
    Mixture mixture(facts, plan.recipe, has_imatrix, tensors);
    plan.tensors.reserve(tensors.size());
    for (const auto& tensor : tensors) plan.tensors.push_back(mixture.choose(tensor, plan.n_fallback));
    return plan;
}

std::string format_plan(const Plan& plan) {
    size_t name_width = 6, shape_width = 5;
    for (const auto& t : plan.tensors) {
        name_width = std::max(name_width, t.name.size());
        shape_width = std::max(shape_width, shape_text(t.shape).size());
    }
    std::string out;
    char line[1024];
    std::snprintf(line, sizeof line, "%-*s  %-*s  %-7s  %-7s  %s\n", (int)name_width, "tensor", (int)shape_width,
                  "shape", "source", "type", "reason");
    out += line;
    double source_bytes = 0, output_bytes = 0, n_elements = 0;
    for (const auto& t : plan.tensors) {
        std::snprintf(line, sizeof line, "%-*s  %-*s  %-7s  %-7s  %s\n", (int)name_width, t.name.c_str(),
                      (int)shape_width, shape_text(t.shape).c_str(), quant::traits(t.source_type).name,
                      quant::traits(t.type).name, t.reason.c_str());
        out += line;
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        const int64_t n_rows = t.shape.empty() ? 0 : n / t.shape[0];
        n_elements += double(n);
        if (!t.shape.empty()) {
            source_bytes += double(n_rows) * double(quant::row_size_bytes(t.source_type, t.shape[0]));
            output_bytes += double(n_rows) * double(quant::row_size_bytes(t.type, t.shape[0]));
        }
    }
    std::snprintf(line, sizeof line, "recipe %s%s: %zu tensors, %.2f MiB -> %.2f MiB (%.2f BPW)%s\n",
                  plan.recipe.describe().c_str(), plan.has_imatrix ? " with imatrix" : "", plan.tensors.size(),
                  source_bytes / 1048576.0, output_bytes / 1048576.0,
                  n_elements > 0 ? output_bytes * 8.0 / n_elements : 0.0,
                  plan.n_fallback ? (", " + std::to_string(plan.n_fallback) + " fallback(s)").c_str() : "");
    out += line;
    return out;
}

}  // namespace shootout::quantize
