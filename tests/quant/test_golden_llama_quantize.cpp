// Our quantize_rows against llama-quantize's own output for the qwen3-34m-code model: for each
// recipe in shared/golden/llama-quantize.json (no imatrix), every tensor whose golden type this
// build can produce is quantized from the BF16 reference (converted to F32, as llama-quantize
// does) and the first 16 hex digits of the SHA-256 of the bytes must equal the golden ones.
// Each (tensor, type) pair is quantized once and shared between recipes.
// By default (to keep CI fast) the tensors of layers 0 and 7 plus token_embd are checked, which
// covers every type of every recipe; SHOOTOUT_GOLDEN_FULL=1 checks every tensor (about a minute).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "golden_fixtures.h"
#include "quant/type_table.h"
#include "util/fp16.h"
#include "util/parallel.h"
#include "util/sha256.h"

namespace shootout {
namespace {

using quant::TypeTraits;

const std::string kModel = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf";
const std::string kGolden = std::string(SHOOTOUT_SHARED_DIR) + "/golden/llama-quantize.json";
const std::string kImatrix = std::string(SHOOTOUT_SHARED_DIR) + "/golden/imatrix-wikitext2-100x512.gguf";

struct Fixture {
    testing::GgufFile model;
    std::map<std::string, testing::GoldenTensors> golden;
    std::map<std::string, std::vector<float>> importance;  // weight name -> per-column importance
    std::map<std::string, std::string> hash_cache;          // "tensor type [imatrix]" -> hex16
    ThreadPool pool{2};
};

Fixture& fixture() {
    static Fixture* f = [] {
        auto* fx = new Fixture;
        fx->model = testing::read_gguf(kModel);
        fx->golden = testing::read_golden_json(kGolden);
        // llama-quantize's load_imatrix: importance = in_sum2 / counts (1 where the count is 0).
        const testing::GgufFile imatrix = testing::read_gguf(kImatrix);
        for (const auto& t : imatrix.tensors) {
            const std::string suffix = ".in_sum2";
            if (t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix))
                continue;
            const std::string weight = t.name.substr(0, t.name.size() - suffix.size());
            const testing::GgufTensor* counts = nullptr;
            for (const auto& c : imatrix.tensors)
                if (c.name == weight + ".counts") counts = &c;
            if (!counts || counts->shape[0] != 1) continue;  // one matrix (no experts) in this model
            const float count = *reinterpret_cast<const float*>(imatrix.data(*counts));
            const float* sums = reinterpret_cast<const float*>(imatrix.data(t));
            std::vector<float>& e = fx->importance[weight];
            for (uint64_t i = 0; i < t.shape[0]; ++i) e.push_back(count > 0.0f ? sums[i] / count : 1.0f);
        }
        return fx;
    }();
    return *f;
}

std::string quantized_hash(Fixture& fx, const testing::GgufTensor& tensor, const TypeTraits& type,
                           const float* importance) {
    const std::string key = tensor.name + " " + type.name + (importance ? " imatrix" : "");
    if (auto it = fx.hash_cache.find(key); it != fx.hash_cache.end()) return it->second;
    const int64_t n_per_row = (int64_t)tensor.shape[0];
    const int64_t n_rows = (int64_t)(tensor.shape.size() > 1 ? tensor.shape[1] : 1);
    const uint16_t* bf16 = reinterpret_cast<const uint16_t*>(fx.model.data(tensor));
    const size_t row_bytes = quant::row_size_bytes(type.id, n_per_row);
    std::vector<uint8_t> out(row_bytes * (size_t)n_rows);
    // Rows are independent; split them over the pool as llama-quantize splits them over threads.
    fx.pool.parallel_for((size_t)n_rows, [&](size_t begin, size_t end, int) {
        std::vector<float> rows((end - begin) * (size_t)n_per_row);
        for (size_t i = 0; i < rows.size(); ++i) rows[i] = bf16_to_fp32(bf16[begin * n_per_row + i]);
        type.quantize_rows(rows.data(), out.data() + begin * row_bytes, (int64_t)(end - begin), n_per_row, importance);
    });
    const std::string hash = sha256_hex(out.data(), out.size()).substr(0, 16);
    fx.hash_cache[key] = hash;
    return hash;
}

class GoldenRecipe : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenRecipe, EveryProducibleTensorMatchesLlamaQuantize) {
    Fixture& fx = fixture();
    const bool with_imatrix = GetParam().rfind("imatrix-", 0) == 0;
    const char* full_env = std::getenv("SHOOTOUT_GOLDEN_FULL");
    const bool full = full_env && std::string(full_env) == "1";
    const auto recipe = fx.golden.find(GetParam());
    ASSERT_NE(recipe, fx.golden.end()) << "recipe missing from " << kGolden;
    int n_checked = 0, n_skipped = 0;
    for (const auto& tensor : fx.model.tensors) {
        if (tensor.shape.size() != 2 || tensor.type != 30) continue;  // 2-D BF16 weights
        if (!full && tensor.name.rfind("blk.0.", 0) != 0 && tensor.name.rfind("blk.7.", 0) != 0 &&
            tensor.name != "token_embd.weight")
            continue;
        const auto golden = recipe->second.find(tensor.name);
        ASSERT_NE(golden, recipe->second.end()) << tensor.name;
        const TypeTraits* type = quant::find_type_by_name(golden->second.first);
        ASSERT_NE(type, nullptr) << golden->second.first;
        if (!type->quantize_rows) {
            ++n_skipped;
            continue;
        }
        const float* importance = nullptr;
        if (with_imatrix) {
            const auto it = fx.importance.find(tensor.name);
            if (it != fx.importance.end()) {
                ASSERT_EQ((int64_t)it->second.size(), (int64_t)tensor.shape[0]) << tensor.name;
                importance = it->second.data();
            }
        }
        EXPECT_EQ(quantized_hash(fx, tensor, *type, importance), golden->second.second)
            << GetParam() << " " << tensor.name << " as " << type->name;
        ++n_checked;
    }
    EXPECT_GT(n_checked, 0);
    RecordProperty("tensors_checked", n_checked);
    RecordProperty("tensors_skipped", n_skipped);
    std::printf("%s: %d tensors checked, %d of unsupported types skipped\n", GetParam().c_str(), n_checked, n_skipped);
}

INSTANTIATE_TEST_SUITE_P(Recipes, GoldenRecipe,
                         ::testing::Values("F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K", "Q4_K_M",
                                           "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q2_K", "imatrix-Q4_0",
                                           "imatrix-Q6_K", "imatrix-Q4_K_M", "imatrix-Q5_K_M", "imatrix-Q3_K_M",
                                           "imatrix-Q2_K", "IQ4_NL", "IQ4_XS", "MXFP4_MOE", "imatrix-IQ4_NL",
                                           "imatrix-IQ4_XS", "TQ1_0", "TQ2_0", "imatrix-IQ3_S", "imatrix-IQ3_M",
                                           "imatrix-IQ3_XS", "imatrix-IQ3_XXS", "imatrix-IQ2_XXS",
                                           "imatrix-IQ2_XS", "imatrix-IQ2_S", "imatrix-IQ2_M", "imatrix-IQ1_S",
                                           "imatrix-IQ1_M"),
                         [](const auto& info) {
                             std::string name = info.param;
                             for (char& c : name)
                                 if (c == '-') c = '_';
                             return name;
                         });

}  // namespace
}  // namespace shootout
