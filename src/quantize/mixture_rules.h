// llama-quantize's mixture rules as tables: one table per branch of llama-quant.cpp's
// llama_tensor_get_type_impl. A row says "for these tensor categories, in these mixtures, when this
// holds, use this type"; the first matching row of the branch's table wins, and no match keeps the
// type chosen so far (the mixture's base type). The walker that picks the branch, supplies layer
// indices and keeps llama-quantize's counters is in plan.cpp.
#pragma once

#include <cstdint>
#include <optional>

#include "quant/type_table.h"
#include "quantize/file_type.h"
#include "quantize/tensor_category.h"

namespace shootout::quantize {

// What a rule may look at.
struct RuleInput {
    FileType file_type;
    Category category;
    int i_layer = 0;        // the layer (or attn_v counter) the rule counts with
    int n_layer = 1;
    int n_gqa = 0;          // n_head / n_head_kv of layer 0
    int n_expert = 0;
    bool has_imatrix = false;
    bool falcon = false;    // the falcon architecture has its own rules
    bool expert_stack = false;      // ne[2] > 1 (a 3-D stack of experts)
    bool ncols_fit_base = true;     // ne[0] is a multiple of the base type's block size
    quant::TypeId current = quant::TypeId::F32;  // the type chosen so far
};

struct Rule {
    uint32_t categories;               // bit set over Category
    uint64_t file_types;               // bit set over FileType ids
    bool (*when)(const RuleInput&);
    std::optional<quant::TypeId> type;  // nullopt: stop here and keep the current type
    const char* why;                    // for the plan's reason column
};

enum class Branch {
    Output,          // output.weight, and token_embd when the embeddings are tied
    Mxfp4Moe,        // the MXFP4_MOE mixture, every other tensor
    TokenEmbedding,  // untied token_embd
    LowBit,          // the IQ1_S/IQ1_M/IQ2_XXS/IQ2_XS/IQ2_S/IQ2_M family
    Standard,        // everything else
};

// True for the mixtures that take the LowBit branch.
bool is_low_bit_family(FileType file_type);

// The first row of `branch` matching `input`, or nullptr.
const Rule* find_rule(Branch branch, const RuleInput& input);

// llama-quantize's use_more_bits: the first and last eighth of the layers and every third one between.
bool use_more_bits(int i_layer, int n_layer);

}  // namespace shootout::quantize
