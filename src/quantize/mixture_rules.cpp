#include "quantize/mixture_rules.h"

#include <initializer_list>
#include <vector>

namespace shootout::quantize {

using quant::TypeId;
using F = FileType;
using C = Category;

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

namespace {

constexpr uint64_t ALL_FILE_TYPES = ~uint64_t(0);
constexpr uint32_t ALL_CATEGORIES = ~uint32_t(0);

uint64_t types(std::initializer_list<FileType> list) {
    uint64_t bits = 0;
    for (FileType f : list) bits |= uint64_t(1) << static_cast<uint32_t>(f);
    return bits;
}
uint32_t cats(std::initializer_list<Category> list) {
    uint32_t bits = 0;
    for (Category c : list) bits |= uint32_t(1) << static_cast<uint32_t>(c);
    return bits;
}

// The conditions the rules use, named as llama-quant.cpp's expressions read.
bool always(const RuleInput&) { return true; }
bool gqa4(const RuleInput& r) { return r.n_gqa >= 4; }
bool gqa4_or_experts4(const RuleInput& r) { return r.n_gqa >= 4 || r.n_expert >= 4; }
bool experts8(const RuleInput& r) { return r.n_expert == 8; }
bool no_imatrix(const RuleInput& r) { return !r.has_imatrix; }
bool more_bits(const RuleInput& r) { return use_more_bits(r.i_layer, r.n_layer); }
bool first_eighth(const RuleInput& r) { return r.i_layer < r.n_layer / 8; }
bool first_sixteenth(const RuleInput& r) { return r.i_layer < r.n_layer / 16; }
bool first_two(const RuleInput& r) { return r.i_layer < 2; }
bool first_four(const RuleInput& r) { return r.i_layer < 4; }
bool middle_layers(const RuleInput& r) { return r.i_layer >= r.n_layer / 8 && r.i_layer < 7 * r.n_layer / 8; }
bool falcon(const RuleInput& r) { return r.falcon; }
bool falcon_first_sixteenth(const RuleInput& r) { return r.falcon && first_sixteenth(r); }
bool falcon_more_bits(const RuleInput& r) { return r.falcon && more_bits(r); }
bool not_falcon_or_more_bits(const RuleInput& r) { return !r.falcon || more_bits(r); }
bool not_falcon_first_eighth(const RuleInput& r) { return !r.falcon && first_eighth(r); }
bool first_eighth_no_imatrix(const RuleInput& r) { return first_eighth(r) && !r.has_imatrix; }
bool first_eighth_with_imatrix(const RuleInput& r) { return first_eighth(r) && r.has_imatrix; }
bool first_eighth_or_experts8_more_bits(const RuleInput& r) {
    return first_eighth(r) || (r.n_expert == 8 && more_bits(r));
}
bool no_imatrix_first_eighth(const RuleInput& r) { return !r.has_imatrix && first_eighth(r); }
bool expert_stack(const RuleInput& r) { return r.expert_stack; }
bool falcon_or_ncols_misfit(const RuleInput& r) { return r.falcon || !r.ncols_fit_base; }
bool current_not_q8_0(const RuleInput& r) { return r.current != TypeId::Q8_0; }

const std::vector<Rule>& output_rules() {
    static const std::vector<Rule> rules = {
        {ALL_CATEGORIES, types({F::MXFP4_MOE}), always, TypeId::Q8_0, "MXFP4_MOE: output at Q8_0"},
        {ALL_CATEGORIES, ALL_FILE_TYPES, falcon_or_ncols_misfit, TypeId::Q8_0,
         "output: falcon, or ncols not a multiple of the base block"},
        {ALL_CATEGORIES, types({F::IQ2_XXS, F::IQ2_XS, F::IQ3_XXS, F::IQ1_S, F::IQ2_S, F::IQ2_M, F::IQ1_M}),
         always, TypeId::Q5_K, "output: low-bit IQ mixture"},
        {ALL_CATEGORIES, ALL_FILE_TYPES, current_not_q8_0, TypeId::Q6_K, "output: Q6_K unless Q8_0"},
    };
    return rules;
}

const std::vector<Rule>& mxfp4_moe_rules() {
    static const std::vector<Rule> rules = {
        {ALL_CATEGORIES, ALL_FILE_TYPES, expert_stack, TypeId::MXFP4, "MXFP4_MOE: expert stack"},
        {ALL_CATEGORIES, ALL_FILE_TYPES, always, TypeId::Q8_0, "MXFP4_MOE: non-expert tensor"},
    };
    return rules;
}

const std::vector<Rule>& token_embedding_rules() {
    static const std::vector<Rule> rules = {
        {ALL_CATEGORIES, types({F::IQ2_XXS, F::IQ2_XS, F::IQ1_S, F::IQ1_M}), always, TypeId::Q2_K,
         "token_embd: low-bit IQ mixture"},
        {ALL_CATEGORIES, types({F::IQ2_S, F::IQ2_M, F::IQ3_XXS}), always, TypeId::IQ3_S,
         "token_embd: IQ2_S/IQ2_M/IQ3_XXS mixture"},
        {ALL_CATEGORIES, types({F::TQ1_0, F::TQ2_0}), always, TypeId::Q4_K, "token_embd: ternary mixture"},
    };
    return rules;
}

const std::vector<Rule>& low_bit_rules() {
    const uint64_t iq2_s_m = types({F::IQ2_S, F::IQ2_M});
    static const std::vector<Rule> rules = {
        {cats({C::AttentionV}), ALL_FILE_TYPES, gqa4_or_experts4, TypeId::Q4_K, "attn_v: n_gqa >= 4 or n_expert >= 4"},
        {cats({C::AttentionV}), iq2_s_m, always, TypeId::IQ3_S, "attn_v: IQ2_S/IQ2_M"},
        {cats({C::AttentionV}), ALL_FILE_TYPES, always, TypeId::Q2_K, "attn_v: low-bit IQ mixture"},
        {cats({C::AttentionK}), ALL_FILE_TYPES, experts8, TypeId::Q4_K, "attn_k: 8 experts"},
        // ffn_down counts tensors here, not layers parsed from the name.
        {cats({C::FfnDown}), iq2_s_m, first_eighth, TypeId::IQ3_S, "ffn_down: first eighth of the layers"},
        {cats({C::FfnDown}), ALL_FILE_TYPES, first_eighth, TypeId::Q2_K, "ffn_down: first eighth of the layers"},
        {cats({C::AttentionOutput}), ALL_FILE_TYPES, experts8, TypeId::Q5_K, "attn_output: 8 experts"},
        {cats({C::AttentionOutput}), types({F::IQ1_S, F::IQ1_M}), always, TypeId::IQ2_XXS, "attn_output: IQ1 mixture"},
        {cats({C::AttentionOutput}), iq2_s_m, always, TypeId::IQ3_S, "attn_output: IQ2_S/IQ2_M"},
    };
    return rules;
}

const std::vector<Rule>& standard_rules() {
    const uint32_t v = cats({C::AttentionV}), down = cats({C::FfnDown}), out = cats({C::AttentionOutput});
    static const std::vector<Rule> rules = {
        // attn_v (and fused qkv / kv_b). The 8-expert bump is applied last in llama-quantize and
        // overrides every other attn_v choice, so it comes first here.
        {v, ALL_FILE_TYPES, experts8, TypeId::Q8_0, "attn_v: 8 experts"},
        {v, types({F::Q2_K}), gqa4, TypeId::Q4_K, "attn_v: n_gqa >= 4"},
        {v, types({F::Q2_K}), always, TypeId::Q3_K, "attn_v: Q2_K mixture"},
        {v, types({F::Q2_K_S}), gqa4, TypeId::Q4_K, "attn_v: n_gqa >= 4"},
        {v, types({F::IQ3_XXS}), gqa4, TypeId::Q4_K, "attn_v: n_gqa >= 4"},
        {v, types({F::IQ3_XXS}), no_imatrix, TypeId::IQ3_S, "attn_v: IQ3_XXS without imatrix"},
        {v, types({F::IQ3_XXS}), always, TypeId::IQ3_XXS, "attn_v: IQ3_XXS with imatrix"},
        {v, types({F::IQ3_XS, F::IQ3_S}), gqa4, TypeId::Q4_K, "attn_v: n_gqa >= 4"},
        {v, types({F::IQ3_M}), always, TypeId::Q4_K, "attn_v: IQ3_M mixture"},
        {v, types({F::Q3_K_M}), first_two, TypeId::Q5_K, "attn_v: first 2 attn_v tensors"},
        {v, types({F::Q3_K_M}), always, TypeId::Q4_K, "attn_v: Q3_K_M mixture"},
        {v, types({F::Q3_K_L}), always, TypeId::Q5_K, "attn_v: Q3_K_L mixture"},
        {v, types({F::IQ4_NL, F::IQ4_XS}), gqa4, TypeId::Q5_K, "attn_v: n_gqa >= 4"},
        {v, types({F::Q4_K_M, F::Q5_K_M}), more_bits, TypeId::Q6_K, "attn_v: use_more_bits layer"},
        {v, types({F::Q4_K_S}), first_four, TypeId::Q5_K, "attn_v: first 4 attn_v tensors"},

        {cats({C::AttentionK}), ALL_FILE_TYPES, experts8, TypeId::Q8_0, "attn_k: 8 experts"},
        {cats({C::AttentionK, C::AttentionQ}), types({F::IQ3_XS}), always, TypeId::IQ3_XXS, "attn_q/k: IQ3_XS mixture"},
        {cats({C::AttentionK, C::AttentionQ}), types({F::IQ3_XXS}), always, TypeId::IQ2_S, "attn_q/k: IQ3_XXS mixture"},

        {down, types({F::Q2_K}), always, TypeId::Q3_K, "ffn_down: Q2_K mixture"},
        {down, types({F::Q2_K_S}), first_eighth, TypeId::Q4_K, "ffn_down: first eighth of the layers"},
        {down, types({F::IQ3_XXS}), no_imatrix_first_eighth, TypeId::Q4_K, "ffn_down: first eighth, no imatrix"},
        {down, types({F::IQ3_XXS}), no_imatrix, TypeId::Q3_K, "ffn_down: IQ3_XXS without imatrix"},
        {down, types({F::Q3_K_M}), first_sixteenth, TypeId::Q5_K, "ffn_down: first sixteenth of the layers"},
        {down, types({F::Q3_K_M}), not_falcon_or_more_bits, TypeId::Q4_K, "ffn_down: Q3_K_M mixture"},
        {down, types({F::Q3_K_M}), always, TypeId::Q3_K, "ffn_down: falcon"},
        {down, types({F::IQ3_M}), first_eighth_or_experts8_more_bits, TypeId::Q4_K,
         "ffn_down: first eighth, or use_more_bits with 8 experts"},
        {down, types({F::Q3_K_L}), falcon, TypeId::Q4_K, "ffn_down: falcon"},
        {down, types({F::Q3_K_L}), always, TypeId::Q5_K, "ffn_down: Q3_K_L mixture"},
        {down, types({F::Q4_K_M}), falcon_first_sixteenth, TypeId::Q6_K, "ffn_down: falcon, first sixteenth"},
        {down, types({F::Q4_K_M}), falcon_more_bits, TypeId::Q5_K, "ffn_down: falcon, use_more_bits layer"},
        {down, types({F::Q4_K_M}), falcon, TypeId::Q4_K, "ffn_down: falcon"},
        {down, types({F::Q4_K_M, F::Q5_K_M}), more_bits, TypeId::Q6_K, "ffn_down: use_more_bits layer"},
        {down, types({F::IQ4_NL, F::IQ4_XS}), first_eighth_no_imatrix, TypeId::Q5_K,
         "ffn_down: first eighth, no imatrix"},
        {down, types({F::Q4_K_S}), not_falcon_first_eighth, TypeId::Q5_K, "ffn_down: first eighth of the layers"},
        {down, types({F::Q4_0}), first_eighth_with_imatrix, TypeId::Q4_1, "ffn_down: first eighth, with imatrix"},
        {down, types({F::Q5_0}), first_eighth_with_imatrix, TypeId::Q5_1, "ffn_down: first eighth, with imatrix"},

        // attn_output: falcon and 8-expert models have their own short lists and skip the rest.
        {out, types({F::Q3_K_L}), falcon, TypeId::Q4_K, "attn_output: falcon"},
        {out, ALL_FILE_TYPES, falcon, std::nullopt, "attn_output: falcon keeps the base type"},
        {out, types({F::Q2_K, F::IQ3_XS, F::IQ3_XXS, F::Q3_K_S, F::Q3_K_M, F::IQ4_NL, F::Q4_K_S, F::Q4_K_M,
                     F::IQ3_S, F::IQ3_M, F::IQ4_XS}),
         experts8, TypeId::Q5_K, "attn_output: 8 experts"},
        {out, ALL_FILE_TYPES, experts8, std::nullopt, "attn_output: 8 experts keep the base type"},
        {out, types({F::Q2_K}), always, TypeId::Q3_K, "attn_output: Q2_K mixture"},
        {out, types({F::IQ3_XXS}), always, TypeId::IQ3_S, "attn_output: IQ3_XXS mixture"},
        {out, types({F::Q3_K_M, F::IQ3_M}), always, TypeId::Q4_K, "attn_output: Q3_K_M/IQ3_M mixture"},
        {out, types({F::Q3_K_L}), always, TypeId::Q5_K, "attn_output: Q3_K_L mixture"},

        {cats({C::FfnGate, C::FfnUp}), types({F::IQ3_XS}), middle_layers, TypeId::IQ3_XXS,
         "ffn_gate/up: middle layers"},
    };
    return rules;
}

}  // namespace

bool is_low_bit_family(FileType f) {
    return (types({F::IQ2_XXS, F::IQ2_XS, F::IQ1_S, F::IQ2_S, F::IQ2_M, F::IQ1_M}) >> static_cast<uint32_t>(f)) & 1;
}

const Rule* find_rule(Branch branch, const RuleInput& input) {
    const std::vector<Rule>* table = nullptr;
    switch (branch) {
        case Branch::Output: table = &output_rules(); break;
        case Branch::Mxfp4Moe: table = &mxfp4_moe_rules(); break;
        case Branch::TokenEmbedding: table = &token_embedding_rules(); break;
        case Branch::LowBit: table = &low_bit_rules(); break;
        case Branch::Standard: table = &standard_rules(); break;
    }
    const uint32_t category_bit = uint32_t(1) << static_cast<uint32_t>(input.category);
    const uint64_t file_type_bit = uint64_t(1) << static_cast<uint32_t>(input.file_type);
    for (const Rule& rule : *table) {
        if ((rule.categories & category_bit) && (rule.file_types & file_type_bit) && rule.when(input)) return &rule;
    }
    return nullptr;
}

}  // namespace shootout::quantize
