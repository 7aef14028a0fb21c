// The per-tensor plan of a quantization: for every tensor of a model, the type a recipe chooses and
// why, exactly as llama-quantize chooses it (llama-quant.cpp llama_tensor_get_type and its callers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/type_table.h"
#include "quantize/recipe.h"

namespace shootout::gguf {
class File;
}

namespace shootout::quantize {

// The hyper-parameters the rules look at (llama_hparams as llama-quantize loads them).
struct ModelFacts {
    std::string architecture;   // general.architecture
    int n_layer = 0;            // <arch>.block_count
    int n_head = 0;             // <arch>.attention.head_count (layer 0 when an array)
    int n_head_kv = 0;          // <arch>.attention.head_count_kv (defaults to n_head)
    int n_expert = 0;           // <arch>.expert_count (0 when absent)

    int n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
    // llama.cpp's LLM_TYPE_70B (llama, 80 layers, grouped-query attention): attn_v gets more bits.
    bool is_llama_70b() const { return architecture == "llama" && n_layer == 80 && n_head != n_head_kv; }
};

struct TensorDesc {
    std::string name;
    std::vector<int64_t> shape;   // ggml order, shape[0] the row length
    quant::TypeId type;
};

struct TensorPlan {
    std::string name;
    std::vector<int64_t> shape;
    quant::TypeId source_type;
    quant::TypeId type;           // the chosen type; equal to source_type means "copy as is"
    std::string reason;
    bool requires_imatrix = false;  // llama-quantize refuses to produce it without an imatrix

    bool converts() const { return type != source_type; }
};

struct Plan {
    Recipe recipe;
    bool has_imatrix = false;
    std::vector<TensorPlan> tensors;   // in llama-quantize's output order (layer, then name)
    int n_fallback = 0;                // tensors whose shape forced a fallback type
};

// The hyper-parameters of a GGUF model; throws Error naming the file when a required key is missing.
ModelFacts model_facts(const gguf::File& file);
std::vector<TensorDesc> tensor_descs(const gguf::File& file);

// The plan for a model and recipe. `has_imatrix` matters: some rules differ with an imatrix.
// Throws Error naming the tensor where llama-quantize would refuse (no fallback for a shape,
// a layer index it cannot parse in an MoE model).
Plan make_plan(const ModelFacts& facts, std::vector<TensorDesc> tensors, const Recipe& recipe, bool has_imatrix);
Plan make_plan(const gguf::File& file, const Recipe& recipe, bool has_imatrix);

// llama-quantize's tensor order (llama_model_loader::weight_name_comparer): by the layer number of
// "blk.N." (names without one first), then by name.
bool tensor_order_less(const std::string& a, const std::string& b);

// The plan as a fixed-width table: name, shape, source type, chosen type, reason; then totals.
std::string format_plan(const Plan& plan);

}  // namespace shootout::quantize
