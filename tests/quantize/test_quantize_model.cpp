// The quantize pipeline writes files byte-identical to llama-quantize's (shared/golden file_sha256
// is the first 16 hex of the sha256 of the whole file) for the recipes whose every type has a
// quantizer; per-tensor hashes pinpoint a difference. A sample of recipes runs by default (test time);
// SHOOTOUT_GOLDEN_FULL=1 runs every golden recipe that can run.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "golden_json.h"
#include "gguf/gguf.h"
#include "quantize/quantize_model.h"
#include "util/error.h"
#include "util/sha256.h"

namespace shootout::quantize {
namespace {

const std::string kShared = SHOOTOUT_SHARED_DIR;
// llama-quantize stores the imatrix path it was given as quantize.imatrix.file; the golden files were
// made from this path (its length is fixed by the golden file sizes, its bytes by the hashes).
const std::string kGoldenImatrixLabel = "/work/steering/shared/golden/imatrix-wikitext2-100x512.gguf";

bool full_run() {
    const char* v = std::getenv("SHOOTOUT_GOLDEN_FULL");
    return v && std::string(v) == "1";
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("shootout-test-quantize-" + name)).string();
}

std::string file_sha16(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    Sha256 sha;
    std::vector<char> buffer(1 << 20);
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        sha.update(buffer.data(), static_cast<size_t>(in.gcount()));
    }
    return sha.hex_digest().substr(0, 16);
}

const ImportanceMatrix& golden_imatrix() {
    static const ImportanceMatrix m = load_imatrix(kShared + "/golden/imatrix-wikitext2-100x512.gguf");
    return m;
}

// Runs one golden recipe; returns false (and says why) when a type has no quantizer yet.
bool check_recipe(const testing::GoldenRecipe& golden) {
    SCOPED_TRACE(golden.key);
    auto input = gguf::File::open(kShared + "/models/" + golden.model_dir + "/model-bf16.gguf");
    const Plan plan = make_plan(*input, recipe_named(golden.recipe), golden.imatrix);
    for (const auto& t : plan.tensors) {
        if (t.converts() && quant::traits(t.type).quantize_rows == nullptr) {
            std::printf("  %-36s skipped: no quantizer for %s yet\n", golden.key.c_str(), quant::traits(t.type).name);
            return false;
        }
    }
    QuantizeOptions options;
    options.n_threads = 2;
    if (golden.imatrix) {
        options.imatrix = &golden_imatrix();
        options.imatrix_label = kGoldenImatrixLabel;
    }
    const std::string out_path = temp_path(std::to_string(::getpid()) + "-" + golden.recipe + ".gguf");
    const QuantizeResult result = quantize_model(*input, plan, options, out_path);
    EXPECT_EQ(std::filesystem::file_size(out_path), golden.file_bytes);
    EXPECT_EQ(file_sha16(out_path), golden.file_sha256);
    EXPECT_GT(result.output_bytes, 0u);

    // Per tensor: type and data hash, to say where a difference lies.
    auto output = gguf::File::open(out_path);
    EXPECT_EQ(output->tensors().size(), golden.tensors.size());
    for (size_t i = 0; i < output->tensors().size(); ++i) {
        const auto& t = output->tensors()[i];
        if (i < plan.tensors.size()) {
            EXPECT_EQ(t.name, plan.tensors[i].name);  // llama-quantize's order
        }
        const auto it = golden.tensors.find(t.name);
        if (it == golden.tensors.end()) {
            ADD_FAILURE() << "unexpected tensor " << t.name;
            continue;
        }
        EXPECT_EQ(sha256_hex(t.data, t.size_bytes).substr(0, 16), it->second.second) << t.name << " " << quant::traits(t.type).name;
    }
    std::filesystem::remove(out_path);
    std::printf("  %-36s byte-identical check done\n", golden.key.c_str());
    return true;
}

std::vector<testing::GoldenRecipe> all_goldens() {
    auto dense = testing::read_golden(kShared + "/golden/llama-quantize.json", "qwen3-34m-code");
    auto moe = testing::read_golden(kShared + "/golden/llama-quantize-moe.json", "");
    dense.insert(dense.end(), moe.begin(), moe.end());
    return dense;
}

TEST(QuantizeModel, ByteIdenticalToLlamaQuantize) {
    // The default sample: a float conversion, the K-quant mixture with the most rules (with an
    // imatrix, so its metadata keys too), and both MoE models (expert stacks, 8-expert rules,
    // linear-attention tensors, 1-D-after-trimming shapes).
    const std::set<std::string> sample = {"F16", "imatrix-Q4_K_M", "qwen3moe-11m-code/Q8_0",
                                          "qwen3next-12m-code/Q4_0"};
    int ran = 0;
    for (const auto& g : all_goldens()) {
        if (!full_run() && !sample.count(g.key)) continue;
        ran += check_recipe(g);
    }
    EXPECT_GE(ran, 3);  // F16, BF16 and Q8_0-based recipes have quantizers today
}

TEST(QuantizeModel, RecordRecipeIsOptIn) {
    auto input = gguf::File::open(kShared + "/models/qwen3moe-11m-code/model-bf16.gguf");
    Recipe recipe = recipe_named("Q8_0");
    recipe.tensor_types.push_back(parse_tensor_type_override("attn_q=f16"));
    const Plan plan = make_plan(*input, recipe, false);
    QuantizeOptions options;
    options.n_threads = 2;
    options.record_recipe = true;
    const std::string out_path = temp_path(std::to_string(::getpid()) + "-recorded.gguf");
    quantize_model(*input, plan, options, out_path);
    auto output = gguf::File::open(out_path);
    EXPECT_EQ(output->get_string("shootout.recipe", ""), "Q8_0 --tensor-type attn_q=f16");
    EXPECT_EQ(output->get_uint("general.file_type", 0), 7u);
    EXPECT_EQ(output->get_uint("general.quantization_version", 0), 2u);
    // llama-quantize's order: the rewritten keys at the end, the recipe after them.
    const auto& metadata = output->metadata();
    ASSERT_GE(metadata.size(), 3u);
    EXPECT_EQ(metadata[metadata.size() - 3].first, "general.quantization_version");
    EXPECT_EQ(metadata[metadata.size() - 2].first, "general.file_type");
    EXPECT_EQ(metadata.back().first, "shootout.recipe");
    EXPECT_EQ(output->tensor("blk.0.attn_q.weight").type, quant::TypeId::F16);
    std::filesystem::remove(out_path);
}

TEST(QuantizeModel, MissingQuantizerIsAClearError) {
    const quant::TypeTraits* missing = nullptr;
    for (uint32_t id = 0; id < 64 && !missing; ++id) {
        const quant::TypeTraits* t = quant::find_type(id);
        if (t && t->is_quantized && t->quantize_rows == nullptr && t->block_size <= 256) missing = t;
    }
    if (!missing) GTEST_SKIP() << "every quantized type has a quantizer";
    auto input = gguf::File::open(kShared + "/models/qwen3moe-11m-code/model-bf16.gguf");
    Recipe recipe = recipe_named("Q8_0");
    recipe.tensor_types.push_back({"attn_q", missing->id});
    const Plan plan = make_plan(*input, recipe, false);
    QuantizeOptions options;
    const std::string out_path = temp_path(std::to_string(::getpid()) + "-missing.gguf");
    try {
        quantize_model(*input, plan, options, out_path);
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(std::string("type ") + missing->name + ": quantizer not available"),
                  std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(out_path));
}

TEST(QuantizeModel, LowBitRecipeWithoutImatrixIsRefused) {
    auto input = gguf::File::open(kShared + "/models/qwen3-34m-code/model-bf16.gguf");
    const Plan plan = make_plan(*input, recipe_named("Q2_K_S"), false);
    QuantizeOptions options;
    EXPECT_THROW(quantize_model(*input, plan, options, temp_path("refused.gguf")), Error);
    // A plan made for an imatrix needs one.
    const Plan with = make_plan(*input, recipe_named("Q4_K_M"), true);
    EXPECT_THROW(quantize_model(*input, with, options, temp_path("refused.gguf")), Error);
}

}  // namespace
}  // namespace shootout::quantize
