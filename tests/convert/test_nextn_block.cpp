// A Qwen3-Next GGUF with a NextN (multi-token prediction) block appended after the main stack, as
// recent llama.cpp converters write Qwen3-Next checkpoints: block_count one larger,
// qwen3next.nextn_predict_layers = 1, and blk.<L>.* holding a full-attention block and its nextn.*
// projections. The main pass leaves the block out, as llama.cpp's does, so the logits are the file's
// without it, bit for bit. Without nextn_predict_layers the block would be a main layer, whose
// missing tensors are named. On the converter's side, a checkpoint's own MTP tensors (mtp.*) are left
// out with a note. (Among the convert tests: the fixture is the tiny Qwen3-Next checkpoint of
// tests/data/model, converted in memory.)
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "convert/hf_model.h"
#include "convert/safetensors.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "util/error.h"
#include "util/parallel.h"
#include "hf_dir_util.h"

namespace shootout {
namespace {

const std::string kTinyNext = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/tiny-qwen3next-hf";

// src with a copy of its last layer's tensors appended as layer L (= src's block_count) and the
// nextn projections; nextn_predict_layers = 1 when `declare`. Returns the written path.
std::string with_nextn_block(const gguf::File& src, bool declare, const std::string& tag) {
    gguf::Writer w = gguf::Writer::copy_of(src);
    const uint64_t n_layers = src.get("qwen3next.block_count").as_uint();
    const uint64_t n_embd = src.get("qwen3next.embedding_length").as_uint();
    w.set("qwen3next.block_count", gguf::Value::make_uint(gguf::ValueType::UINT32, n_layers + 1));
    if (declare) w.set("qwen3next.nextn_predict_layers", gguf::Value::make_uint(gguf::ValueType::UINT32, 1));
    const std::string last = "blk." + std::to_string(n_layers - 1) + ".", block = "blk." + std::to_string(n_layers) + ".";
    for (const gguf::TensorInfo& t : src.tensors()) {
        if (t.name.rfind(last, 0) != 0) continue;
        const uint8_t* data = t.data;
        w.add_tensor(block + t.name.substr(last.size()), t.shape, t.type,
                     [data](uint8_t* dst, size_t n) { std::memcpy(dst, data, n); });
    }
    auto zeros = [](uint8_t* dst, size_t n) { std::memset(dst, 0, n); };
    w.add_tensor(block + "nextn.eh_proj.weight", {(int64_t)(2 * n_embd), (int64_t)n_embd}, quant::TypeId::F32, zeros);
    w.add_tensor(block + "nextn.enorm.weight", {(int64_t)n_embd}, quant::TypeId::F32, zeros);
    w.add_tensor(block + "nextn.hnorm.weight", {(int64_t)n_embd}, quant::TypeId::F32, zeros);
    w.add_tensor(block + "nextn.shared_head_norm.weight", {(int64_t)n_embd}, quant::TypeId::F32, zeros);
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("shootout-nextn-" + tag + "-" + std::to_string(::getpid()) + ".gguf"))
                                 .string();
    w.write(path);
    return path;
}

std::vector<float> logits_of(const gguf::File& file, int64_t& n_layers) {
    ThreadPool pool(2);
    auto model = Model::load(file, pool);
    n_layers = model->info().n_layers;
    const std::vector<int32_t> tokens = {5, 17, 42, 3, 99, 7, 64, 128, 11, 2};
    const std::vector<float> hidden = model->hidden(tokens);
    std::vector<float> logits(tokens.size() * (size_t)model->info().n_vocab);
    model->logits(hidden.data(), (int64_t)tokens.size(), logits.data());
    return logits;
}

TEST(ModelNextN, AppendedBlockIsLeftOutOfTheMainPass) {
    const auto src = convert::open_hf_model(kTinyNext, convert::OutType::F32);
    int64_t n_layers = 0, n_layers_nextn = 0;
    const std::vector<float> plain = logits_of(*src, n_layers);
    const std::string path = with_nextn_block(*src, true, "declared");
    std::vector<float> with_block;
    {
        auto file = gguf::File::open(path);
        ASSERT_EQ(file->get("qwen3next.block_count").as_uint(), (uint64_t)n_layers + 1);
        with_block = logits_of(*file, n_layers_nextn);
    }
    std::filesystem::remove(path);
    EXPECT_EQ(n_layers_nextn, n_layers) << "the NextN block counted as a main layer";
    ASSERT_EQ(plain.size(), with_block.size());
    EXPECT_EQ(0, std::memcmp(plain.data(), with_block.data(), plain.size() * 4));
}

TEST(ModelNextN, UndeclaredBlockIsAMainLayerAndItsMissingTensorsAreNamed) {
    const auto src = convert::open_hf_model(kTinyNext, convert::OutType::F32);
    const std::string path = with_nextn_block(*src, false, "undeclared");
    std::string error = "(no error)";
    {
        auto file = gguf::File::open(path);
        ThreadPool pool(1);
        try {
            Model::load(*file, pool);
        } catch (const Error& e) {
            error = e.what();
        }
    }
    std::filesystem::remove(path);
    // Layer 4 of an interval-4 stack is a Gated DeltaNet layer: its tensors are not in the block.
    EXPECT_NE(error.find("missing tensor 'blk.4."), std::string::npos) << error;
}

// The tiny checkpoint with two MTP tensors added (the names Qwen3-Next's checkpoints use): the plan is
// the one without them, and a note says what was left out.
TEST(ConvertMtp, CheckpointMtpTensorsAreLeftOutWithANote) {
    hf_test::TempDir dir("mtp");
    for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json"})
        std::filesystem::copy_file(kTinyNext + "/" + f, dir.path() + "/" + f);
    const auto source = convert::Checkpoint::open(kTinyNext);
    std::vector<hf_test::StEntry> entries;
    for (const convert::StTensor& t : source->tensors())
        entries.push_back({t.name, t.dtype_name, t.shape, std::string(reinterpret_cast<const char*>(t.data), t.size_bytes)});
    entries.push_back({"mtp.fc.weight", "F32", {64, 128}, std::string(64 * 128 * 4, '\0')});
    entries.push_back({"mtp.layers.0.input_layernorm.weight", "F32", {64}, std::string(64 * 4, '\0')});
    hf_test::write_safetensors(dir.path() + "/model.safetensors", entries);

    const convert::ConvertedModel plain = convert::plan_conversion(kTinyNext);
    const convert::ConvertedModel with_mtp = convert::plan_conversion(dir.path());
    ASSERT_EQ(with_mtp.tensors.size(), plain.tensors.size());
    for (size_t i = 0; i < plain.tensors.size(); ++i) EXPECT_EQ(with_mtp.tensors[i].name, plain.tensors[i].name);
    bool noted = false;
    for (const std::string& note : with_mtp.notes) noted = noted || note.find("2 multi-token-prediction tensors") == 0;
    EXPECT_TRUE(noted) << "no note of the left-out MTP tensors";
}

}  // namespace
}  // namespace shootout
