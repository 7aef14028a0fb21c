// Model::load's checks: the architecture, every tensor's presence, shape and type, and the info it
// reports. Broken files are edited copies of the tiny qwen2 fixture, written with gguf::Writer.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "backend/cpu/type_kernels.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout {
namespace {

const std::string kTiny = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/tiny-qwen2.gguf";

struct TensorEdit {
    std::string name;                 // tensor to change
    bool drop = false;                // leave it out
    std::vector<int64_t> shape = {};  // new shape (zero-filled data) when not empty
    quant::TypeId type = quant::TypeId::F32;
};

// A copy of the tiny model with one metadata value and/or one tensor changed.
std::string edited_copy(const std::string& name, const std::function<void(gguf::Writer&)>& edit_metadata,
                        const TensorEdit& tensor_edit = {}) {
    auto source = gguf::File::open(kTiny);
    gguf::Writer writer;
    for (const auto& [key, value] : source->metadata()) writer.set(key, value);
    if (edit_metadata) edit_metadata(writer);
    for (const auto& t : source->tensors()) {
        if (t.name == tensor_edit.name && tensor_edit.drop) continue;
        if (t.name == tensor_edit.name && !tensor_edit.shape.empty()) {
            writer.add_tensor(t.name, tensor_edit.shape, tensor_edit.type,
                              [](uint8_t* dst, size_t n) { std::memset(dst, 0, n); });
            continue;
        }
        const uint8_t* data = t.data;
        writer.add_tensor(t.name, t.shape, t.type, [data](uint8_t* dst, size_t n) { std::memcpy(dst, data, n); });
    }
    const std::string path = (std::filesystem::temp_directory_path() / ("shootout-test-model-" + name + ".gguf")).string();
    writer.write(path);
    return path;
}

// The Error message Model::load gives for a file.
std::string load_error(const std::string& path) {
    auto file = gguf::File::open(path);
    ThreadPool pool(1);
    try {
        Model::load(*file, pool);
    } catch (const Error& e) {
        std::filesystem::remove(path);
        return e.what();
    }
    std::filesystem::remove(path);
    return "(no error)";
}

TEST(ModelLoad, InfoDescribesTheModel) {
    auto file = gguf::File::open(kTiny);
    ThreadPool pool(1);
    auto model = Model::load(*file, pool);
    const ModelInfo& info = model->info();
    EXPECT_EQ(info.architecture, "qwen2");
    EXPECT_EQ(info.name, "tiny-qwen2-random");
    EXPECT_EQ(info.n_layers, 2);
    EXPECT_EQ(info.n_embd, 64);
    EXPECT_EQ(info.n_vocab, 256);
    EXPECT_EQ(info.n_ctx_train, 128);
    // token_embd + output 256x64 each, output_norm 64; per layer: norms 2x64, q/o 64x64, k/v 32x64,
    // biases 64+32+32, ffn 3x128x64.
    const int64_t per_layer = 2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 128 + 3 * 128 * 64;
    EXPECT_EQ(info.n_params, 2 * 256 * 64 + 64 + 2 * per_layer);
    EXPECT_EQ(info.weight_bytes, (uint64_t)info.n_params * 4);
}

TEST(ModelLoad, UnknownArchitectureIsNamed) {
    const std::string path = edited_copy("arch", [](gguf::Writer& w) {
        w.set("general.architecture", gguf::Value::make_string("xyz"));
    });
    EXPECT_EQ(load_error(path), path + ": unknown architecture 'xyz' (supported: llama, qwen2, qwen3, qwen3moe, qwen3next)");
}

TEST(ModelLoad, MissingTensorIsNamed) {
    const std::string path = edited_copy("missing", nullptr, {.name = "blk.1.ffn_up.weight", .drop = true});
    EXPECT_EQ(load_error(path), path + ": missing tensor 'blk.1.ffn_up.weight'");
}

TEST(ModelLoad, MissingQwen2BiasIsNamed) {
    const std::string path = edited_copy("bias", nullptr, {.name = "blk.0.attn_k.bias", .drop = true});
    EXPECT_EQ(load_error(path), path + ": missing tensor 'blk.0.attn_k.bias'");
}

TEST(ModelLoad, WrongShapeIsNamed) {
    const std::string path = edited_copy("shape", nullptr, {.name = "blk.0.attn_k.weight", .shape = {64, 16}});
    EXPECT_EQ(load_error(path), path + ": tensor 'blk.0.attn_k.weight' has shape {64, 16}, expected {64, 32}");
}

TEST(ModelLoad, NormOfTheWrongTypeIsNamed) {
    const std::string path =
        edited_copy("normtype", nullptr, {.name = "output_norm.weight", .shape = {64}, .type = quant::TypeId::F16});
    EXPECT_EQ(load_error(path), path + ": tensor 'output_norm.weight' has type f16, expected f32");
}

TEST(ModelLoad, TypeWithoutCpuKernelsIsNamed) {
    // Q8_1 is an activation format only: no weight kernels, as in ggml. A failing ASSERT (not a skip)
    // if that changes, so the test cannot silently stop testing anything.
    ASSERT_EQ(cpu::find_kernels(quant::TypeId::Q8_1), nullptr) << "the CPU now multiplies q8_1; pick another type";
    const std::string path =
        edited_copy("kerneltype", nullptr, {.name = "blk.1.ffn_down.weight", .shape = {128, 64}, .type = quant::TypeId::Q8_1});
    EXPECT_EQ(load_error(path), path + ": tensor 'blk.1.ffn_down.weight' has type q8_1, which the CPU backend cannot multiply");
}

// The tiny qwen2 fixture relabelled as llama: its Q/K/V biases are loaded (make_llama sees
// blk.0.attn_q.bias), so one missing from a layer is named, not left out of the products.
TEST(ModelLoad, LlamaWithPartialQkvBiasIsNamed) {
    const std::string path = edited_copy(
        "llamabias",
        [](gguf::Writer& w) {
            auto source = gguf::File::open(kTiny);
            for (const auto& [key, value] : source->metadata()) {
                if (key.rfind("qwen2.", 0) != 0) continue;
                w.set("llama." + key.substr(6), value);
                w.remove(key);
            }
            w.set("general.architecture", gguf::Value::make_string("llama"));
        },
        {.name = "blk.1.attn_v.bias", .drop = true});
    EXPECT_EQ(load_error(path), path + ": missing tensor 'blk.1.attn_v.bias'");
}

// A tensor nothing reads (here an output-projection bias, which qwen2 does not have) is refused by
// name, not left out of the computation.
TEST(ModelLoad, TensorNothingReadsIsRefused) {
    const std::string path = edited_copy("extra", [](gguf::Writer& w) {
        w.add_tensor("blk.0.attn_output.bias", {64}, quant::TypeId::F32,
                     [](uint8_t* dst, size_t n) { std::memset(dst, 0, n); });
    });
    EXPECT_EQ(load_error(path), path + ": tensor 'blk.0.attn_output.bias' is not used by the qwen2 architecture "
                                       "here (a variant this implementation does not run)");
}

TEST(ModelLoad, MissingHyperparameterIsNamed) {
    const std::string path = edited_copy("hparam", [](gguf::Writer& w) { w.remove("qwen2.block_count"); });
    EXPECT_NE(load_error(path).find("qwen2.block_count"), std::string::npos);
}

}  // namespace
}  // namespace shootout
