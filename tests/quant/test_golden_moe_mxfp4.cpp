// MXFP4 against llama-quantize on real expert stacks: the dense model's MXFP4_MOE recipe has no
// MXFP4 tensor (it is all Q8_0), so the 3-D ffn_{gate,up,down}_exps tensors of the two MoE models
// in shared/models, which llama-quantize's MXFP4_MOE turned into MXFP4, are quantized here (BF16
// -> F32 -> MXFP4, every expert's rows in order) and their SHA-256 prefixes compared with
// shared/golden/llama-quantize-moe.json. Every tensor of the recipe whose type has a quantizer
// is checked (Q8_0 and the float copies too); the models are small, so this takes about a second.
#include <gtest/gtest.h>

#include <vector>

#include "golden_fixtures.h"
#include "quant/type_table.h"
#include "util/fp16.h"
#include "util/sha256.h"

namespace shootout {
namespace {

const std::string kShared = SHOOTOUT_SHARED_DIR;

class MoeMxfp4 : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeMxfp4, ExpertStacksMatchLlamaQuantize) {
    const std::string model_dir = GetParam();
    const testing::GgufFile model = testing::read_gguf(kShared + "/models/" + model_dir + "/model-bf16.gguf");
    const auto golden_all = testing::read_golden_json(kShared + "/golden/llama-quantize-moe.json");
    const auto recipe = golden_all.find(model_dir + "/MXFP4_MOE");
    ASSERT_NE(recipe, golden_all.end());
    int n_mxfp4 = 0, n_checked = 0;
    for (const auto& tensor : model.tensors) {
        const auto golden = recipe->second.find(tensor.name);
        ASSERT_NE(golden, recipe->second.end()) << tensor.name;
        const quant::TypeTraits* type = quant::find_type_by_name(golden->second.first);
        ASSERT_NE(type, nullptr) << golden->second.first;
        if (!type->quantize_rows || (tensor.type != 30 && tensor.type != 0)) continue;  // BF16/F32 sources
        const int64_t n_per_row = (int64_t)tensor.shape[0];
        int64_t n_rows = 1;
        for (size_t d = 1; d < tensor.shape.size(); ++d) n_rows *= (int64_t)tensor.shape[d];
        std::vector<float> rows((size_t)(n_rows * n_per_row));
        for (size_t i = 0; i < rows.size(); ++i)
            rows[i] = tensor.type == 30 ? bf16_to_fp32(reinterpret_cast<const uint16_t*>(model.data(tensor))[i])
                                        : reinterpret_cast<const float*>(model.data(tensor))[i];
        std::vector<uint8_t> out(quant::row_size_bytes(type->id, n_per_row) * (size_t)n_rows);
        type->quantize_rows(rows.data(), out.data(), n_rows, n_per_row, nullptr);
        EXPECT_EQ(sha256_hex(out.data(), out.size()).substr(0, 16), golden->second.second)
            << model_dir << " " << tensor.name << " as " << type->name;
        n_mxfp4 += type->id == quant::TypeId::MXFP4;
        ++n_checked;
    }
    EXPECT_EQ(n_mxfp4, 12);  // 3 expert stacks in each of 4 layers
    std::printf("%s MXFP4_MOE: %d tensors checked, %d of them MXFP4\n", model_dir.c_str(), n_checked, n_mxfp4);
}

INSTANTIATE_TEST_SUITE_P(Models, MoeMxfp4, ::testing::Values("qwen3moe-11m-code", "qwen3next-12m-code"),
                         [](const auto& info) {
                             std::string name = info.param;
                             for (char& c : name)
                                 if (c == '-') c = '_';
                             return name;
                         });

}  // namespace
}  // namespace shootout
