// The per-tensor type choice of every llama-quantize recipe equals llama-quantize's own, for every
// tensor of the three shared models (shared/golden/llama-quantize*.json, written by llama.cpp), with
// and without an importance matrix; plus the command-line adjustments (--tensor-type, --pure, type
// overrides, the ncols fallback) on the rules that llama-quant.cpp states.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>

#include "golden_json.h"
#include "gguf/gguf.h"
#include "quantize/plan.h"
#include "util/error.h"

namespace shootout::quantize {
namespace {

using quant::TypeId;

const std::string kShared = SHOOTOUT_SHARED_DIR;

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

const gguf::File& model(const std::string& dir) {
    static std::map<std::string, std::unique_ptr<gguf::File>> cache;
    auto& slot = cache[dir];
    if (!slot) slot = gguf::File::open(kShared + "/models/" + dir + "/model-bf16.gguf");
    return *slot;
}

void expect_golden_types(const testing::GoldenRecipe& golden) {
    SCOPED_TRACE(golden.key);
    const gguf::File& file = model(golden.model_dir);
    const Plan plan = make_plan(file, recipe_named(golden.recipe), golden.imatrix);
    ASSERT_EQ(plan.tensors.size(), golden.tensors.size());
    int mismatches = 0;
    for (const auto& t : plan.tensors) {
        auto it = golden.tensors.find(t.name);
        ASSERT_NE(it, golden.tensors.end()) << t.name;
        EXPECT_EQ(upper(quant::traits(t.type).name), it->second.first) << t.name << ": " << t.reason;
        mismatches += upper(quant::traits(t.type).name) != it->second.first;
    }
    if (mismatches) ADD_FAILURE() << format_plan(plan);
}

TEST(RecipeTypes, EveryGoldenRecipeOfTheDenseModel) {
    const auto goldens = testing::read_golden(kShared + "/golden/llama-quantize.json", "qwen3-34m-code");
    ASSERT_EQ(goldens.size(), 40u);  // 21 without an imatrix, 19 with
    for (const auto& g : goldens) expect_golden_types(g);
}

TEST(RecipeTypes, EveryGoldenRecipeOfTheMoeModels) {
    const auto goldens = testing::read_golden(kShared + "/golden/llama-quantize-moe.json", "");
    ASSERT_EQ(goldens.size(), 9u);
    for (const auto& g : goldens) expect_golden_types(g);
}

TEST(RecipeTypes, EveryFileTypeHasAPlanForTheDenseModel) {
    // Mixtures the golden files do not cover (Q2_K_S, IQ3_* ... without imatrix) still plan, and flag
    // the tensors that llama-quantize refuses to produce without an imatrix.
    for (const auto& info : file_types()) {
        SCOPED_TRACE(info.name);
        const Plan plan = make_plan(model("qwen3-34m-code"), recipe_named(info.name), false);
        EXPECT_EQ(plan.tensors.size(), 90u);
        const bool needs = std::any_of(plan.tensors.begin(), plan.tensors.end(), [](const TensorPlan& t) { return t.requires_imatrix; });
        const bool expect_needs = info.id == FileType::IQ2_XXS || info.id == FileType::IQ2_XS ||
                                  info.id == FileType::IQ2_S || info.id == FileType::IQ2_M ||
                                  info.id == FileType::IQ1_S || info.id == FileType::IQ1_M ||
                                  info.id == FileType::Q2_K_S || info.id == FileType::IQ3_XXS ||
                                  info.id == FileType::IQ3_XS;
        EXPECT_EQ(needs, expect_needs);
    }
}

TEST(RecipeTypes, OrderIsLayerThenName) {
    const Plan plan = make_plan(model("qwen3moe-11m-code"), recipe_named("Q8_0"), false);
    // Names without a layer come first, then blk.0, blk.1, ...; names within a layer sorted.
    EXPECT_EQ(plan.tensors.front().name, "output_norm.weight");
    EXPECT_EQ(plan.tensors[1].name, "token_embd.weight");
    EXPECT_EQ(plan.tensors[2].name, "blk.0.attn_k.weight");
    EXPECT_TRUE(tensor_order_less("blk.2.z", "blk.10.a"));
    EXPECT_TRUE(tensor_order_less("token_embd.weight", "blk.0.attn_k.weight"));
}

// A dense llama-like model in miniature, for the command-line adjustments.
ModelFacts dense_facts() { return ModelFacts{"llama", 8, 8, 8, 0}; }
std::vector<TensorDesc> dense_tensors(int64_t ncols = 512) {
    std::vector<TensorDesc> t = {{"token_embd.weight", {ncols, 1000}, TypeId::F16},
                                 {"output.weight", {ncols, 1000}, TypeId::F16},
                                 {"output_norm.weight", {ncols}, TypeId::F32}};
    for (int i = 0; i < 8; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        t.push_back({b + "attn_v.weight", {ncols, ncols}, TypeId::F16});
        t.push_back({b + "attn_q.weight", {ncols, ncols}, TypeId::F16});
        t.push_back({b + "ffn_down.weight", {ncols, ncols}, TypeId::F16});
    }
    return t;
}
TypeId type_of(const Plan& plan, const std::string& name) {
    for (const auto& t : plan.tensors)
        if (t.name == name) return t.type;
    throw Error("no tensor " + name);
}

TEST(RecipeTypes, UntiedOutputAndEmbedding) {
    const Plan plan = make_plan(dense_facts(), dense_tensors(), recipe_named("Q4_K_M"), false);
    EXPECT_EQ(type_of(plan, "output.weight"), TypeId::Q6_K);
    EXPECT_EQ(type_of(plan, "token_embd.weight"), TypeId::Q4_K);  // untied: the base type
    EXPECT_EQ(type_of(plan, "output_norm.weight"), TypeId::F32);
    // use_more_bits(i, 8): layers 0, 3, 6, 7.
    for (int i = 0; i < 8; ++i) {
        const TypeId expected = (i == 0 || i == 3 || i == 6 || i == 7) ? TypeId::Q6_K : TypeId::Q4_K;
        EXPECT_EQ(type_of(plan, "blk." + std::to_string(i) + ".attn_v.weight"), expected) << i;
        EXPECT_EQ(type_of(plan, "blk." + std::to_string(i) + ".ffn_down.weight"), expected) << i;
    }
}

TEST(RecipeTypes, TensorTypeOverrideIsARegexAndFirstMatchWins) {
    Recipe recipe = recipe_named("Q4_K_M");
    recipe.tensor_types.push_back(parse_tensor_type_override("blk\\.[0-3]\\.ATTN_V=Q8_0"));  // lower-cased
    recipe.tensor_types.push_back(parse_tensor_type_override("attn_v=q5_k"));
    const Plan plan = make_plan(dense_facts(), dense_tensors(), recipe, false);
    EXPECT_EQ(type_of(plan, "blk.1.attn_v.weight"), TypeId::Q8_0);
    EXPECT_EQ(type_of(plan, "blk.3.attn_v.weight"), TypeId::Q8_0);
    EXPECT_EQ(type_of(plan, "blk.4.attn_v.weight"), TypeId::Q5_K);
    EXPECT_EQ(type_of(plan, "blk.7.attn_v.weight"), TypeId::Q5_K);
    EXPECT_EQ(type_of(plan, "blk.7.ffn_down.weight"), TypeId::Q6_K);  // rules still apply elsewhere
    EXPECT_THROW(parse_tensor_type_override("attn_v"), Error);
    EXPECT_THROW(parse_tensor_type_override("attn_v=q9_z"), Error);
    EXPECT_THROW(parse_tensor_type_override("=q8_0"), Error);
}

TEST(RecipeTypes, OverridesDoNotApplyToFloatMixtures) {
    Recipe recipe = recipe_named("F16");
    recipe.tensor_types.push_back(parse_tensor_type_override("attn_v=q8_0"));
    const Plan plan = make_plan(dense_facts(), dense_tensors(), recipe, false);
    EXPECT_EQ(type_of(plan, "blk.0.attn_v.weight"), TypeId::F16);
    EXPECT_EQ(type_of(plan, "output.weight"), TypeId::F16);
}

TEST(RecipeTypes, PureUsesTheBaseTypeEverywhere) {
    Recipe recipe = recipe_named("Q4_K_M");
    recipe.pure = true;
    const Plan plan = make_plan(dense_facts(), dense_tensors(), recipe, false);
    for (const auto& t : plan.tensors) {
        EXPECT_EQ(t.type, t.name == "output_norm.weight" ? TypeId::F32 : TypeId::Q4_K) << t.name;
    }
}

TEST(RecipeTypes, OutputAndEmbeddingTypeOverrides) {
    Recipe recipe = recipe_named("Q4_K_M");
    recipe.output_type = TypeId::Q8_0;
    recipe.token_embedding_type = TypeId::Q5_0;
    const Plan plan = make_plan(dense_facts(), dense_tensors(), recipe, false);
    EXPECT_EQ(type_of(plan, "output.weight"), TypeId::Q8_0);
    EXPECT_EQ(type_of(plan, "token_embd.weight"), TypeId::Q5_0);

    // Tied embeddings (no output.weight): token_embd follows --output-tensor-type.
    auto tied = dense_tensors();
    tied.erase(tied.begin() + 1);
    Recipe out_only = recipe_named("Q4_K_M");
    out_only.output_type = TypeId::Q8_0;
    EXPECT_EQ(type_of(make_plan(dense_facts(), tied, out_only, false), "token_embd.weight"), TypeId::Q8_0);
    EXPECT_EQ(type_of(make_plan(dense_facts(), tied, recipe_named("Q4_K_M"), false), "token_embd.weight"), TypeId::Q6_K);

    Recipe leave = recipe_named("Q4_K_M");
    leave.leave_output_tensor = true;
    EXPECT_EQ(type_of(make_plan(dense_facts(), dense_tensors(), leave, false), "output.weight"), TypeId::F16);
}

TEST(RecipeTypes, NcolsFallbacks) {
    // 96 columns: K-quants (block 256) fall back to the 32-blocks of llama-quant.cpp's table.
    const Plan q4 = make_plan(dense_facts(), dense_tensors(96), recipe_named("Q4_K_M"), false);
    EXPECT_EQ(type_of(q4, "blk.1.attn_q.weight"), TypeId::Q5_0);   // Q4_K -> Q5_0
    EXPECT_EQ(type_of(q4, "blk.0.attn_v.weight"), TypeId::Q8_0);   // Q6_K -> Q8_0
    EXPECT_EQ(type_of(q4, "output.weight"), TypeId::Q8_0);         // output: ncols misfit -> Q8_0
    EXPECT_GT(q4.n_fallback, 0);
    const Plan q5 = make_plan(dense_facts(), dense_tensors(96), recipe_named("Q5_K_S"), false);
    EXPECT_EQ(type_of(q5, "blk.1.attn_q.weight"), TypeId::Q5_1);   // Q5_K -> Q5_1
    const Plan q3 = make_plan(dense_facts(), dense_tensors(96), recipe_named("Q3_K_S"), false);
    EXPECT_EQ(type_of(q3, "blk.1.attn_q.weight"), TypeId::Q4_0);   // Q3_K -> Q4_0
    const Plan iq = make_plan(dense_facts(), dense_tensors(96), recipe_named("IQ4_XS"), false);
    EXPECT_EQ(type_of(iq, "blk.1.attn_q.weight"), TypeId::IQ4_NL); // IQ4_XS -> IQ4_NL
    // 100 columns fit no 32-block either: F16. (--pure, because the mixture's output rule would pick
    // Q8_0, which has no fallback, as llama-quantize does.)
    Recipe pure = recipe_named("Q4_K_M");
    pure.pure = true;
    const Plan odd = make_plan(dense_facts(), dense_tensors(100), pure, false);
    EXPECT_EQ(type_of(odd, "blk.1.attn_q.weight"), TypeId::F16);
    EXPECT_THROW(make_plan(dense_facts(), dense_tensors(100), recipe_named("Q4_K_M"), false), Error);
    // Q8_0 has no fallback: llama-quantize stops, and so do we.
    EXPECT_THROW(make_plan(dense_facts(), dense_tensors(100), recipe_named("Q8_0"), false), Error);
}

TEST(RecipeTypes, UnknownRecipeNamesTheKnownOnes) {
    try {
        recipe_named("Q4_K_X");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("Q4_K_M"), std::string::npos);
    }
    EXPECT_EQ(recipe_named("q4_k").file_type, FileType::Q4_K_M);  // llama-quantize's alias
}

TEST(RecipeTypes, PlanTablePrintsEveryTensor) {
    const Plan plan = make_plan(model("qwen3-34m-code"), recipe_named("Q4_K_M"), false);
    const std::string table = format_plan(plan);
    for (const auto& t : plan.tensors) EXPECT_NE(table.find(t.name), std::string::npos);
    EXPECT_NE(table.find("q6_K"), std::string::npos);
}

}  // namespace
}  // namespace shootout::quantize
