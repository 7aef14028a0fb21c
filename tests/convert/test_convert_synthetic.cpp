// Hugging Face directories built by the test: the dense qwen3 model (its shared GGUF's tensors written
// back under their HF names), a llama checkpoint (the converter's Q/K permutation, checked against
// numpy's reshape/swapaxes of LlamaModel.permute), and malformed safetensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sys/wait.h>
#include <unistd.h>

#include "convert/hf_model.h"
#include "convert/safetensors.h"
#include "gguf/gguf.h"
#include "model/tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shootout;

namespace {

const std::string kShared = SHOOTOUT_SHARED_DIR;

struct StEntry {
    std::string name, dtype;
    std::vector<int64_t> shape;  // PyTorch order
    std::string bytes;
};

void write_safetensors(const std::string& path, const std::vector<StEntry>& entries) {
    std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
    size_t offset = 0;
    for (const auto& e : entries) {
        header += ",\"" + e.name + "\":{\"dtype\":\"" + e.dtype + "\",\"shape\":[";
        for (size_t i = 0; i < e.shape.size(); ++i) header += (i ? "," : "") + std::to_string(e.shape[i]);
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + e.bytes.size()) + "]}";
        offset += e.bytes.size();
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
    for (const auto& e : entries) out << e.bytes;
}

class TempDir {
public:
    explicit TempDir(const std::string& tag)
        : path_((fs::temp_directory_path() / ("shootout-hf-" + tag + "-" + std::to_string(::getpid()))).string()) {
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

std::string hf_name(const std::string& gguf_name) {
    static const std::map<std::string, std::string> block = {
        {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},       {"attn_v", "self_attn.v_proj"},
        {"attn_output", "self_attn.o_proj"}, {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"},
        {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"}, {"ffn_gate", "mlp.gate_proj"},
        {"ffn_up", "mlp.up_proj"},        {"ffn_down", "mlp.down_proj"}};
    if (gguf_name == "token_embd.weight") return "model.embed_tokens.weight";
    if (gguf_name == "output_norm.weight") return "model.norm.weight";
    const size_t a = gguf_name.find('.', 4), b = gguf_name.rfind('.');
    return "model.layers." + gguf_name.substr(4, a - 4) + "." + block.at(gguf_name.substr(a + 1, b - a - 1)) + ".weight";
}

TEST(ConvertSynthetic, DenseQwen3FromItsOwnTensorsMatchesTheSharedGguf) {
    const std::string model_dir = kShared + "/models/qwen3-34m-code";
    if (!fs::exists(model_dir + "/model-bf16.gguf")) GTEST_SKIP() << "shared model missing";
    const auto reference = gguf::File::open(model_dir + "/model-bf16.gguf");
    TempDir dir("qwen3");
    // The shared config.json lacks "architectures" (model_type qwen3 names it).
    fs::copy_file(model_dir + "/config.json", dir.path() + "/config.json");
    fs::copy_file(model_dir + "/tokenizer.json", dir.path() + "/tokenizer.json");
    std::vector<StEntry> entries;
    for (const auto& t : reference->tensors()) {
        StEntry e{hf_name(t.name), t.type == quant::TypeId::BF16 ? "BF16" : "F32", {t.shape.rbegin(), t.shape.rend()},
                  std::string(reinterpret_cast<const char*>(t.data), t.size_bytes)};
        entries.push_back(std::move(e));
    }
    write_safetensors(dir.path() + "/model.safetensors", entries);

    const convert::ConvertedModel model = convert::plan_conversion(dir.path());
    ASSERT_EQ(model.tensors.size(), reference->tensors().size());
    for (const auto& ours : model.tensors) {
        SCOPED_TRACE(ours.name);
        const gguf::TensorInfo& theirs = reference->tensor(ours.name);
        EXPECT_EQ(ours.type, theirs.type);
        EXPECT_EQ(ours.shape, theirs.shape);
        ASSERT_EQ(ours.size_bytes(), theirs.size_bytes);
        // BF16 weights stored as BF16 are views of the checkpoint, not copies.
        if (ours.type == quant::TypeId::BF16) {
            EXPECT_NE(ours.raw, nullptr);
        }
        std::vector<uint8_t> bytes(ours.size_bytes());
        ours.fill(bytes.data());
        EXPECT_EQ(0, std::memcmp(bytes.data(), theirs.data, bytes.size()));
    }
    // The shared dense GGUF was not written by convert_hf_to_gguf.py: every hyperparameter and the
    // whole vocabulary agree; general.name/type/size_label and add_bos_token are where it differs.
    std::map<std::string, const gguf::Value*> ours;
    for (const auto& [k, v] : model.metadata) ours[k] = &v;
    for (const auto& [key, value] : reference->metadata()) {
        if (key == "general.name" || key == "tokenizer.ggml.add_bos_token") continue;
        SCOPED_TRACE(key);
        ASSERT_TRUE(ours.count(key));
        EXPECT_EQ(ours[key]->type(), value.type());
        if (value.type() == gguf::ValueType::ARRAY) {
            ASSERT_EQ(ours[key]->as_array().size(), value.as_array().size());
            for (size_t i = 0; i < value.as_array().size(); ++i) {
                const auto& a = ours[key]->as_array()[i];
                const auto& b = value.as_array()[i];
                if (b.type() == gguf::ValueType::STRING) ASSERT_EQ(a.as_string(), b.as_string()) << i;
                else ASSERT_EQ(a.as_int(), b.as_int()) << i;
            }
        } else if (value.type() == gguf::ValueType::STRING) {
            EXPECT_EQ(ours[key]->as_string(), value.as_string());
        } else if (value.type() == gguf::ValueType::FLOAT32) {
            EXPECT_EQ(ours[key]->as_float(), value.as_float());
        } else {
            EXPECT_EQ(ours[key]->as_int(), value.as_int());
        }
    }
    EXPECT_EQ(ours["general.size_label"]->as_string(), "34M");
    EXPECT_EQ(ours["general.type"]->as_string(), "model");

    // The in-memory file's vocabulary tokenizes as the shared GGUF's does.
    const auto file = convert::open_hf_model(dir.path());
    EXPECT_EQ(file->architecture(), "qwen3");
    const std::string code = "def parse(x):\n    return {k: v for k, v in x.items()}  # 123 ok\n";
    EXPECT_EQ(Tokenizer::from_gguf(*file)->tokenize(code, true, true),
              Tokenizer::from_gguf(*reference)->tokenize(code, true, true));
}

std::string run_python(const std::string& code) {
    FILE* pipe = ::popen(("python3 -c '" + code + "' 2>/dev/null").c_str(), "r");
    if (!pipe) return "";
    std::string out;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
    return ::pclose(pipe) == 0 ? out : "";
}

TEST(ConvertSynthetic, LlamaQkPermutationIsTheConvertersPermute) {
    const std::string tok = kShared + "/models/qwen3moe-11m-code/hf/tokenizer.json";
    if (!fs::exists(tok)) GTEST_SKIP() << "shared tokenizer missing";
    // n_head 4, n_kv 2, head_dim 8, hidden 32: q_proj [32, 32], k_proj [16, 32], values 0..n-1 in F32.
    const std::string expected_q = run_python(
        "import numpy as np; w=np.arange(32*32,dtype=np.float32).reshape(32,32);"
        "print(\" \".join(str(int(x)) for x in w.reshape(4,2,4,32).swapaxes(1,2).reshape(32,32).ravel()))");
    const std::string expected_k = run_python(
        "import numpy as np; w=np.arange(16*32,dtype=np.float32).reshape(16,32);"
        "print(\" \".join(str(int(x)) for x in w.reshape(2,2,4,32).swapaxes(1,2).reshape(16,32).ravel()))");
    if (expected_q.empty() || expected_k.empty()) GTEST_SKIP() << "python3 numpy not available";
    TempDir dir("llama");
    std::ofstream(dir.path() + "/config.json")
        << "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,\"num_attention_heads\":4,"
           "\"num_key_value_heads\":2,\"num_hidden_layers\":1,\"intermediate_size\":64,\"vocab_size\":16384,"
           "\"max_position_embeddings\":128,\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0}";
    fs::copy_file(tok, dir.path() + "/tokenizer.json");
    auto iota = [](size_t n) {
        std::string bytes(n * 4, '\0');
        for (size_t i = 0; i < n; ++i) {
            const float v = float(i);
            std::memcpy(&bytes[i * 4], &v, 4);
        }
        return bytes;
    };
    write_safetensors(dir.path() + "/model.safetensors",
                      {{"model.layers.0.self_attn.k_proj.weight", "F32", {16, 32}, iota(16 * 32)},
                       {"model.layers.0.self_attn.q_proj.weight", "F32", {32, 32}, iota(32 * 32)}});
    const convert::ConvertedModel model = convert::plan_conversion(dir.path(), convert::OutType::F32);
    ASSERT_EQ(model.tensors.size(), 2u);
    for (const auto& t : model.tensors) {
        std::vector<uint8_t> bytes(t.size_bytes());
        t.fill(bytes.data());
        std::string got;
        for (size_t i = 0; i < bytes.size() / 4; ++i) {
            float v;
            std::memcpy(&v, &bytes[i * 4], 4);
            got += (i ? " " : "") + std::to_string(int(v));
        }
        EXPECT_EQ(got + "\n", t.name == "blk.0.attn_q.weight" ? expected_q : expected_k) << t.name;
    }
    // The llama additions after general.file_type: vocab_size and rope.dimension_count.
    std::vector<std::string> keys;
    for (const auto& kv : model.metadata) keys.push_back(kv.first);
    const auto ft = std::find(keys.begin(), keys.end(), "general.file_type");
    ASSERT_NE(ft, keys.end());
    EXPECT_EQ(*(ft + 1), "llama.vocab_size");
    EXPECT_EQ(*(ft + 2), "llama.rope.dimension_count");
}

TEST(ConvertSynthetic, MalformedSafetensorsAreNamedErrors) {
    TempDir dir("bad");
    const std::string path = dir.path() + "/model.safetensors";
    {
        std::ofstream out(path, std::ios::binary);
        const uint64_t n = 1000;  // header longer than the file
        out.write(reinterpret_cast<const char*>(&n), 8);
        out << "{}";
    }
    try {
        MappedFile file(path);
        std::vector<convert::StTensor> tensors;
        convert::parse_safetensors(file, tensors);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("runs past the end"), std::string::npos) << e.what();
    }
    write_safetensors(path, {{"w", "BF16", {4, 4}, std::string(8, '\0')}});  // 16 elements need 32 bytes
    try {
        MappedFile file(path);
        std::vector<convert::StTensor> tensors;
        convert::parse_safetensors(file, tensors);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("tensor 'w'"), std::string::npos) << e.what();
    }
    // An index naming a shard that is not there.
    std::ofstream(dir.path() + "/model.safetensors.index.json")
        << "{\"weight_map\":{\"w\":\"model-00001-of-00002.safetensors\"}}";
    EXPECT_THROW(convert::Checkpoint::open(dir.path()), Error);
}

}  // namespace
