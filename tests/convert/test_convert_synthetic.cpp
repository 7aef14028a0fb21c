// Hugging Face directories built by the test: the dense qwen3 model (its shared GGUF's tensors written
// back under their HF names), a llama checkpoint (the converter's Q/K permutation, checked against
// numpy's reshape/swapaxes of LlamaModel.permute), a Llama 3.1-style checkpoint (rope_scaling llama3:
// the rope_freqs.weight tensor, run on the CPU; malformed rope_scaling), and malformed safetensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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
#include "model/model.h"
#include "model/tokenizer.h"
#include "util/error.h"
#include "util/parallel.h"
#include "hf_dir_util.h"

namespace fs = std::filesystem;
using namespace shootout;
using hf_test::StEntry;
using hf_test::TempDir;
using hf_test::write_safetensors;

namespace {

const std::string kShared = SHOOTOUT_SHARED_DIR;

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

// A Llama 3.1-style checkpoint (config.json as Meta's: rope_scaling with rope_type llama3, rope_theta at
// the top level), small enough for head_dim 16: 8 frequency pairs, of which 4 keep their frequency, 1 is
// interpolated and 3 are divided by the factor. Random F32 weights, tied embeddings, one layer.
struct Llama31Checkpoint {
    std::string rope_scaling =
        "{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
        "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}";
    std::string extra_config;  // more top-level members, each followed by a comma

    void write(const std::string& dir) const {
        std::ofstream(dir + "/config.json")
            << "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_attention_heads\":4,"
               "\"num_key_value_heads\":2,\"head_dim\":16,\"num_hidden_layers\":1,\"intermediate_size\":64,"
               "\"vocab_size\":257,\"max_position_embeddings\":131072,\"rms_norm_eps\":1e-5,"
               "\"tie_word_embeddings\":true," << extra_config << "\"rope_theta\":500000.0,\"rope_scaling\":"
            << rope_scaling << "}";
        fs::copy_file(std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/tiny-qwen3moe-hf/tokenizer.json",
                      dir + "/tokenizer.json", fs::copy_options::overwrite_existing);
        uint64_t state = 12345;
        auto random = [&state](size_t n, float scale, float offset) {
            std::string bytes(n * 4, '\0');
            for (size_t i = 0; i < n; ++i) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                const float v = offset + scale * (float(state >> 40) / float(1 << 24) - 0.5f);
                std::memcpy(&bytes[i * 4], &v, 4);
            }
            return bytes;
        };
        const std::string l = "model.layers.0.";
        write_safetensors(dir + "/model.safetensors",
                          {{"model.embed_tokens.weight", "F32", {257, 64}, random(257 * 64, 0.5f, 0)},
                           {l + "input_layernorm.weight", "F32", {64}, random(64, 0.4f, 1)},
                           {l + "mlp.down_proj.weight", "F32", {64, 64}, random(64 * 64, 0.4f, 0)},
                           {l + "mlp.gate_proj.weight", "F32", {64, 64}, random(64 * 64, 0.4f, 0)},
                           {l + "mlp.up_proj.weight", "F32", {64, 64}, random(64 * 64, 0.4f, 0)},
                           {l + "post_attention_layernorm.weight", "F32", {64}, random(64, 0.4f, 1)},
                           {l + "self_attn.k_proj.weight", "F32", {32, 64}, random(32 * 64, 0.8f, 0)},
                           {l + "self_attn.o_proj.weight", "F32", {64, 64}, random(64 * 64, 0.4f, 0)},
                           {l + "self_attn.q_proj.weight", "F32", {64, 64}, random(64 * 64, 0.8f, 0)},
                           {l + "self_attn.v_proj.weight", "F32", {32, 64}, random(32 * 64, 0.4f, 0)},
                           {"model.norm.weight", "F32", {64}, random(64, 0.4f, 1)}});
    }
};

// The factors of this rope_scaling and head_dim as llama.cpp's convert_hf_to_gguf.py writes them: the
// "head_dim16" case of tools/llama3_rope_golden.py (see tests/convert/test_convert_llama3_rope.cpp).
const uint32_t kHeadDim16Factors[8] = {0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000,
                                       0x402c732e, 0x41000000, 0x41000000, 0x41000000};

std::vector<float> logits_of(const std::string& dir, const std::vector<int32_t>& tokens) {
    const auto file = convert::open_hf_model(dir);
    ThreadPool pool(2);
    auto model = Model::load(*file, pool);
    const int64_t n_vocab = model->info().n_vocab;
    const std::vector<float> hidden = model->hidden(tokens);
    std::vector<float> logits(tokens.size() * size_t(n_vocab));
    model->logits(hidden.data(), int64_t(tokens.size()), logits.data());
    return logits;
}

TEST(ConvertSynthetic, Llama31RopeScalingWritesRopeFreqsFirst) {
    TempDir dir("llama31");
    const Llama31Checkpoint checkpoint;
    checkpoint.write(dir.path());
    for (convert::OutType outtype : {convert::OutType::Auto, convert::OutType::F32, convert::OutType::F16,
                                     convert::OutType::BF16, convert::OutType::Q8_0}) {
        const convert::ConvertedModel model = convert::plan_conversion(dir.path(), outtype);
        ASSERT_EQ(model.tensors.size(), 12u);  // the checkpoint's 11 and rope_freqs, first
        const convert::PlannedTensor& t = model.tensors[0];
        EXPECT_EQ(t.name, "rope_freqs.weight");
        EXPECT_EQ(t.shape, std::vector<int64_t>{8});
        EXPECT_EQ(t.type, quant::TypeId::F32);
        ASSERT_EQ(t.size_bytes(), 32u);
        uint32_t bits[8];
        t.fill(reinterpret_cast<uint8_t*>(bits));
        for (int i = 0; i < 8; ++i) EXPECT_EQ(bits[i], kHeadDim16Factors[i]) << "factor " << i;
        EXPECT_EQ(model.tensors[1].name, "token_embd.weight");
        // No rope.scaling.* metadata for llama3 (the converter writes only the tensor); the rest as for llama.
        std::map<std::string, const gguf::Value*> kv;
        for (const auto& [key, value] : model.metadata) {
            EXPECT_EQ(key.find("rope.scaling"), std::string::npos) << key;
            kv[key] = &value;
        }
        ASSERT_TRUE(kv.count("llama.rope.freq_base"));
        EXPECT_EQ(kv["llama.rope.freq_base"]->as_float(), 500000.0);
        EXPECT_EQ(kv["llama.rope.dimension_count"]->as_int(), 16);
        EXPECT_EQ(kv["llama.context_length"]->as_int(), 131072);
    }

    // The converted model loads and runs on the CPU, and the factors reach its RoPE: the same weights
    // without rope_scaling give other logits (tests/convert/test_tiny_hf_golden.cpp checks a llama3
    // model's logits against transformers).
    std::vector<int32_t> tokens;
    for (int i = 0; i < 48; ++i) tokens.push_back((i * 37 + 11) % 256);
    const std::vector<float> scaled = logits_of(dir.path(), tokens);
    for (float v : scaled) ASSERT_TRUE(std::isfinite(v));
    TempDir plain_dir("llama31-plain");
    Llama31Checkpoint plain = checkpoint;
    plain.rope_scaling = "null";
    plain.write(plain_dir.path());
    const convert::ConvertedModel plain_model = convert::plan_conversion(plain_dir.path());
    ASSERT_EQ(plain_model.tensors.size(), 11u);
    EXPECT_EQ(plain_model.tensors[0].name, "token_embd.weight");
    const std::vector<float> unscaled = logits_of(plain_dir.path(), tokens);
    double max_diff = 0;
    for (size_t i = 0; i < scaled.size(); ++i)
        max_diff = std::max(max_diff, double(std::fabs(scaled[i] - unscaled[i])));
    std::printf("logits without rope_scaling: max |dlogit| %.3g\n", max_diff);
    EXPECT_GT(max_diff, 0.05);  // measured 0.19
}

TEST(ConvertSynthetic, Llama31RopeScalingErrorsNameTheField) {
    TempDir dir("llama31-bad");
    const std::string fields[] = {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"};
    const std::string values[] = {"8.0", "1.0", "4.0", "8192"};
    for (int missing = 0; missing < 4; ++missing) {
        for (bool wrong_type : {false, true}) {
            Llama31Checkpoint checkpoint;
            checkpoint.rope_scaling = "{\"rope_type\":\"llama3\"";
            for (int i = 0; i < 4; ++i)
                if (i != missing) checkpoint.rope_scaling += ",\"" + fields[i] + "\":" + values[i];
                else if (wrong_type) checkpoint.rope_scaling += ",\"" + fields[i] + "\":\"" + values[i] + "\"";
            checkpoint.rope_scaling += "}";
            checkpoint.write(dir.path());
            SCOPED_TRACE(checkpoint.rope_scaling);
            try {
                convert::plan_conversion(dir.path());
                ADD_FAILURE() << "no error";
            } catch (const Error& e) {
                const std::string what = e.what();
                EXPECT_NE(what.find("'" + fields[missing] + "'"), std::string::npos) << what;
                EXPECT_NE(what.find(wrong_type ? "is not a number" : "has no"), std::string::npos) << what;
            }
        }
    }
    // original_max_position_embeddings at the top level is mirrored into rope_scaling, as the converter
    // does; rope_type is compared in lower case; "type" stands for "rope_type".
    Llama31Checkpoint mirrored;
    mirrored.rope_scaling = "{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"type\":\"Llama3\"}";
    mirrored.extra_config = "\"original_max_position_embeddings\":8192,";
    mirrored.write(dir.path());
    const convert::ConvertedModel model = convert::plan_conversion(dir.path());
    ASSERT_EQ(model.tensors[0].name, "rope_freqs.weight");
    uint32_t bits[8];
    model.tensors[0].fill(reinterpret_cast<uint8_t*>(bits));
    for (int i = 0; i < 8; ++i) EXPECT_EQ(bits[i], kHeadDim16Factors[i]) << "factor " << i;
    // Other architectures have no rope_freqs: llama3 scaling stays refused there.
    std::ofstream(dir.path() + "/config.json")
        << "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":64,\"num_attention_heads\":4,"
           "\"num_hidden_layers\":1,\"vocab_size\":257,\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0}}";
    try {
        convert::plan_conversion(dir.path());
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("RoPE type 'llama3' is not supported"), std::string::npos) << e.what();
    }
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
