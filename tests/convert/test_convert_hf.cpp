// The Hugging Face checkpoints in ../shared (and tests/data/model/tiny-llama3-hf) against the GGUFs
// llama.cpp's convert_hf_to_gguf.py made from them: every metadata key/value (in order), every tensor's
// name, type, shape and bytes, and the written file byte for byte.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "convert/hf_model.h"
#include "convert/hf_naming.h"
#include "gguf/gguf.h"
#include "util/error.h"
#include "util/sha256.h"

namespace fs = std::filesystem;
using namespace shootout;

namespace {

std::string shared(const std::string& rel) { return std::string(SHOOTOUT_SHARED_DIR) + "/" + rel; }

bool values_equal(const gguf::Value& a, const gguf::Value& b) {
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case gguf::ValueType::STRING: return a.as_string() == b.as_string();
        case gguf::ValueType::ARRAY: {
            if (a.array_type() != b.array_type() || a.as_array().size() != b.as_array().size()) return false;
            for (size_t i = 0; i < a.as_array().size(); ++i)
                if (!values_equal(a.as_array()[i], b.as_array()[i])) return false;
            return true;
        }
        case gguf::ValueType::FLOAT32: case gguf::ValueType::FLOAT64: return a.as_float() == b.as_float();
        case gguf::ValueType::BOOL: return a.as_bool() == b.as_bool();
        default: return a.as_int() == b.as_int();
    }
}

void expect_same_metadata(const std::vector<std::pair<std::string, gguf::Value>>& ours, const gguf::File& theirs) {
    std::vector<std::string> our_keys, their_keys;
    for (const auto& kv : ours) our_keys.push_back(kv.first);
    for (const auto& kv : theirs.metadata()) their_keys.push_back(kv.first);
    EXPECT_EQ(our_keys, their_keys) << "metadata keys or their order differ";
    for (const auto& [key, value] : ours) {
        const gguf::Value* expected = theirs.find(key);
        if (!expected) continue;
        EXPECT_TRUE(values_equal(value, *expected)) << "metadata value differs: " << key;
    }
}

// A shared model (models/NAME/hf against models/NAME/model-bf16.gguf) or a checkpoint of tests/data/model
// (tiny-NAME/ against tiny-NAME.gguf, written by convert_hf_to_gguf.py where the checkpoint was made).
class ConvertShared : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam().starts_with("tiny-")) {
            dir_ = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/" + GetParam();
            reference_path_ = dir_ + ".gguf";
        } else {
            dir_ = shared("models/" + GetParam() + "/hf");
            reference_path_ = shared("models/" + GetParam() + "/model-bf16.gguf");
        }
        if (!fs::exists(dir_) || !fs::exists(reference_path_)) GTEST_SKIP() << "shared checkpoint missing: " << dir_;
        reference_ = gguf::File::open(reference_path_);
    }
    std::string dir_, reference_path_;
    std::unique_ptr<gguf::File> reference_;
};

TEST_P(ConvertShared, PlanMatchesConverterMetadataAndTensors) {
    const convert::ConvertedModel model = convert::plan_conversion(dir_);
    expect_same_metadata(model.metadata, *reference_);
    ASSERT_EQ(model.tensors.size(), reference_->tensors().size());
    for (size_t i = 0; i < model.tensors.size(); ++i) {
        const auto& ours = model.tensors[i];
        const auto& theirs = reference_->tensors()[i];
        SCOPED_TRACE(theirs.name);
        EXPECT_EQ(ours.name, theirs.name);
        EXPECT_EQ(ours.type, theirs.type);
        EXPECT_EQ(ours.shape, theirs.shape);
        if (ours.size_bytes() != theirs.size_bytes) { ADD_FAILURE() << "size differs"; continue; }
        std::vector<uint8_t> bytes(ours.size_bytes());
        ours.fill(bytes.data());
        EXPECT_EQ(0, std::memcmp(bytes.data(), theirs.data, bytes.size())) << "tensor bytes differ";
    }
}

TEST_P(ConvertShared, WrittenFileIsByteIdentical) {
    const std::string out = (fs::temp_directory_path() / ("shootout-convert-" + GetParam() + ".gguf")).string();
    convert::write_gguf(convert::plan_conversion(dir_), out);
    std::ifstream a(out, std::ios::binary), b(reference_path_, std::ios::binary);
    const std::string ours((std::istreambuf_iterator<char>(a)), {}), theirs((std::istreambuf_iterator<char>(b)), {});
    fs::remove(out);
    EXPECT_EQ(ours.size(), theirs.size());
    EXPECT_TRUE(ours == theirs) << "the written GGUF differs from llama.cpp's";
}

TEST_P(ConvertShared, InMemoryFileServesTheSameTensors) {
    const auto file = convert::open_model_file(dir_);
    EXPECT_EQ(file->architecture(), reference_->architecture());
    ASSERT_EQ(file->tensors().size(), reference_->tensors().size());
    for (size_t i = 0; i < file->tensors().size(); ++i) {
        const auto& ours = file->tensors()[i];
        const auto& theirs = reference_->tensors()[i];
        ASSERT_EQ(ours.name, theirs.name);
        ASSERT_EQ(ours.size_bytes, theirs.size_bytes) << ours.name;
        EXPECT_EQ(0, std::memcmp(ours.data, theirs.data, ours.size_bytes)) << ours.name;
    }
}

INSTANTIATE_TEST_SUITE_P(Shared, ConvertShared, ::testing::Values("qwen3moe-11m-code", "qwen3next-12m-code"));
// Llama 3.1's RoPE scaling: rope_freqs.weight generated before the checkpoint's tensors
// (tools/make_tiny_llama3_hf.py).
INSTANTIATE_TEST_SUITE_P(Data, ConvertShared, ::testing::Values("tiny-llama3-hf"));

// convert_hf_to_gguf.py's chkhsh of the shared tokenizer: sha256(str(tokenizer.encode(chktxt))) computed
// with the `tokenizers` package (Tokenizer.from_file(...).encode(chktxt).ids), not by Shootout.
TEST(ConvertVocab, ChkhshOfTheSharedTokenizerIsTheTransformersOne) {
    const std::string dir = shared("models/qwen3moe-11m-code/hf");
    if (!fs::exists(dir)) GTEST_SKIP() << "shared checkpoint missing";
    const convert::HfVocab vocab = convert::read_hf_vocab(dir, 16384);
    EXPECT_EQ(vocab.chkhsh, "1d66d6cb27a8bcfe3b195162efe456de1bdcb0baa65174298fb62f4b7359dd97");
    // Unknown to llama.cpp's table: recognized from the ByteLevel pre_tokenizer section instead.
    EXPECT_FALSE(vocab.pre_from_hash);
    EXPECT_EQ(vocab.pre, "gpt-2");
}

TEST(ConvertLabels, SizeLabelAndTitleAsGgufPy) {
    EXPECT_EQ(convert::size_label(5778688 + 786432, 4992256, 786432, 8), "8x5.8M");
    EXPECT_EQ(convert::size_label(33800000, 33800000, 0, 0), "34M");
    EXPECT_EQ(convert::size_label(7241732096, 7241732096, 0, 0), "7.2B");
    EXPECT_EQ(convert::id_to_title("hf"), "Hf");
    EXPECT_EQ(convert::id_to_title("qwen3-coder-v1.5"), "Qwen3 Coder v1.5");
}

// Golden values from gguf-py's Metadata.get_model_id_components (gguf-py at the llama.cpp mirror's HEAD).
TEST(ConvertLabels, ModelIdComponentsAsGgufPy) {
    struct Case {
        const char* id;
        int64_t total_params;
        const char *full, *org, *basename, *finetune, *version, *size;
    };
    const Case cases[] = {
        {"Qwen/Qwen3-Coder-30B-A3B-Instruct", 30500000000, "Qwen3-Coder-30B-A3B-Instruct", "Qwen", "Qwen3-Coder",
         "Instruct", nullptr, "30B-A3B"},
        {"hf", 5000000, "hf", nullptr, nullptr, nullptr, nullptr, nullptr},
        {"Meta-Llama-3.1-8B-Instruct", 8030000000, "Meta-Llama-3.1-8B-Instruct", nullptr, "Meta-Llama-3.1", "Instruct",
         nullptr, "8B"},
        {"bloom-7b1", 7000000000, "bloom-7b1", nullptr, "bloom", nullptr, nullptr, "7.1B"},
        {"Qwen3-Next-80B-A3B-Thinking-FP8", 80000000000, "Qwen3-Next-80B-A3B-Thinking-FP8", nullptr, "Qwen3-Next",
         "Thinking-FP8", nullptr, "80B-A3B"},
        {"mistral-7b-v0.1-128k", 7240000000, "mistral-7b-v0.1-128k", nullptr, "mistral", "128k", "v0.1", "7B"},
        {"llama-2-7b-chat-q4_0", 0, "llama-2-7b-chat-q4_0", nullptr, "llama-2", "chat", nullptr, "7B"},
    };
    auto str = [](const std::optional<std::string>& v) { return v ? *v : std::string("<none>"); };
    auto want = [](const char* v) { return v ? std::string(v) : std::string("<none>"); };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.id);
        const convert::ModelIdParts p = convert::model_id_components(c.id, c.total_params);
        EXPECT_EQ(str(p.full_name), want(c.full));
        EXPECT_EQ(str(p.organization), want(c.org));
        EXPECT_EQ(str(p.basename), want(c.basename));
        EXPECT_EQ(str(p.finetune), want(c.finetune));
        EXPECT_EQ(str(p.version), want(c.version));
        EXPECT_EQ(str(p.size_label), want(c.size));
    }
}

}  // namespace
