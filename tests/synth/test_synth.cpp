// Synthetic models: tensor lists and metadata against llama.cpp converter output (the small qwen3,
// qwen3moe and qwen3next GGUFs in /work/shared, made by convert_hf_to_gguf.py), parameter counts against
// the published ones, and written files: valid GGUF, the plan's types, deterministic per seed, weights of
// the intended magnitude, loadable and runnable by our model code, vocabulary usable by our tokenizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <unistd.h>

#include "gguf/gguf.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "synth/metadata.h"
#include "synth/random_weights.h"
#include "synth/synth_model.h"
#include "synth/tensor_list.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::synth {
namespace {

using quant::TypeId;

const std::string kModels = std::string(SHOOTOUT_SHARED_DIR) + "/models/";

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("shootout_test_synth_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<int64_t> trimmed(std::vector<int64_t> shape) {
    while (shape.size() > 1 && shape.back() == 1) shape.pop_back();
    return shape;
}

// A named shape scaled down to the hyper-parameters of a converter-written file.
Shape shape_like(const gguf::File& file, const std::string& base_arch, const std::string& base_name) {
    Shape s = find_shape(base_arch, base_name);
    const std::string a = s.architecture + ".";
    s.n_vocab = static_cast<int64_t>(file.get("tokenizer.ggml.tokens").as_array().size());
    s.n_embd = file.get_uint(a + "embedding_length", 0);
    s.n_layer = file.get_uint(a + "block_count", 0);
    s.n_ff = file.get_uint(a + "feed_forward_length", 0);
    s.n_head = file.get_uint(a + "attention.head_count", 0);
    s.n_head_kv = file.get_uint(a + "attention.head_count_kv", 0);
    s.head_dim = file.get_uint(a + "attention.key_length", 0);
    s.n_ctx_train = file.get_uint(a + "context_length", 0);
    s.rope_freq_base = file.get_float(a + "rope.freq_base", 0);
    s.rms_norm_eps = file.get_float(a + "attention.layer_norm_rms_epsilon", 0);
    s.tied_embeddings = file.find_tensor("output.weight") == nullptr;
    s.n_expert = file.get_uint(a + "expert_count", 0);
    s.n_expert_used = file.get_uint(a + "expert_used_count", 0);
    s.n_ff_expert = file.get_uint(a + "expert_feed_forward_length", 0);
    s.n_ff_shared_expert = file.get_uint(a + "expert_shared_feed_forward_length", 0);
    s.ssm_conv_kernel = file.get_uint(a + "ssm.conv_kernel", 0);
    s.ssm_state_size = file.get_uint(a + "ssm.state_size", 0);
    s.ssm_group_count = file.get_uint(a + "ssm.group_count", 0);
    s.ssm_time_step_rank = file.get_uint(a + "ssm.time_step_rank", 0);
    s.full_attention_interval = file.get_uint(a + "full_attention_interval", 0);
    s.rope_dimension_count = file.get_uint(a + "rope.dimension_count", 0);
    return s;
}

// Our tensor list for the same hyper-parameters equals the converter's: names, shapes (ggml trims
// trailing 1s when llama-quantize rewrites a file) and source types.
void expect_same_tensors(const std::string& path, const std::string& arch, const std::string& name) {
    auto file = gguf::File::open(path);
    const Shape shape = shape_like(*file, arch, name);
    std::map<std::string, const gguf::TensorInfo*> theirs;
    for (const auto& t : file->tensors()) theirs[t.name] = &t;
    const auto ours = synth_tensors(shape);
    EXPECT_EQ(ours.size(), theirs.size()) << path;
    for (const SynthTensor& t : ours) {
        auto it = theirs.find(t.desc.name);
        ASSERT_NE(it, theirs.end()) << t.desc.name << " is not in " << path;
        EXPECT_EQ(t.desc.shape, trimmed(it->second->shape)) << t.desc.name;
        EXPECT_EQ(t.desc.type, it->second->type) << t.desc.name;
    }
}

TEST(SynthTensors, MatchConverterOutputQwen3) {
    expect_same_tensors(kModels + "qwen3-34m-code/model-bf16.gguf", "qwen3", "0.6B");
}
TEST(SynthTensors, MatchConverterOutputQwen3Moe) {
    expect_same_tensors(kModels + "qwen3moe-11m-code/model-bf16.gguf", "qwen3moe", "30B-A3B");
}
TEST(SynthTensors, MatchConverterOutputQwen3Next) {
    expect_same_tensors(kModels + "qwen3next-12m-code/model-bf16.gguf", "qwen3next", "80B-A3B");
}

// Every <arch>.* key the converter wrote is in our metadata with the same value (and no other).
void expect_same_hparams(const std::string& path, const std::string& arch, const std::string& name) {
    auto file = gguf::File::open(path);
    const Shape shape = shape_like(*file, arch, name);
    gguf::Writer writer;
    write_metadata(writer, shape, quantize::FileType::BF16, "test");
    writer.add_tensor("x", {32}, TypeId::F32, [](uint8_t*, size_t) {});
    const std::string out = temp_path("hparams.gguf");
    writer.write(out);
    auto ours = gguf::File::open(out);
    const std::string prefix = arch + ".";
    size_t n_theirs = 0, n_ours = 0;
    for (const auto& [key, value] : file->metadata()) {
        if (key.rfind(prefix, 0) != 0) continue;
        ++n_theirs;
        const gguf::Value* mine = ours->find(key);
        ASSERT_NE(mine, nullptr) << key;
        EXPECT_EQ(mine->type(), value.type()) << key;
        EXPECT_DOUBLE_EQ(mine->as_float(), value.as_float()) << key;
    }
    for (const auto& [key, value] : ours->metadata()) n_ours += key.rfind(prefix, 0) == 0;
    EXPECT_EQ(n_ours, n_theirs);
    std::filesystem::remove(out);
}

TEST(SynthMetadata, MatchConverterKeysQwen3Moe) {
    expect_same_hparams(kModels + "qwen3moe-11m-code/model-bf16.gguf", "qwen3moe", "30B-A3B");
}
TEST(SynthMetadata, MatchConverterKeysQwen3Next) {
    expect_same_hparams(kModels + "qwen3next-12m-code/model-bf16.gguf", "qwen3next", "80B-A3B");
}

// Published totals: Llama-3-8B has 8,030,261,248 parameters; the Qwen3 model cards give the
// non-embedding counts 0.44B, 1.4B, 3.6B, 6.95B, 13.2B, 31.2B and totals 30.5B (30B-A3B), 80B (Next).
TEST(SynthShapes, ParameterCountsMatchPublishedOnes) {
    EXPECT_EQ(parameter_count(find_shape("llama", "8B")), 8'030'261'248);
    const std::pair<const char*, double> non_embedding[] = {
        {"0.6B", 0.44e9}, {"1.7B", 1.4e9}, {"4B", 3.6e9}, {"8B", 6.95e9}, {"14B", 13.2e9}, {"32B", 31.2e9}};
    for (const auto& [name, expected] : non_embedding) {
        const Shape& s = find_shape("qwen3", name);
        const double embeddings = double(s.n_vocab * s.n_embd) * (s.tied_embeddings ? 1 : 2);
        EXPECT_NEAR(parameter_count(s) - embeddings, expected, 0.05 * 1e9) << name;
    }
    EXPECT_NEAR(parameter_count(find_shape("qwen3moe", "30B-A3B")), 30.5e9, 0.1e9);
    EXPECT_NEAR(parameter_count(find_shape("qwen3next", "Qwen3-Next-80B-A3B")), 80e9, 1.0e9);
    EXPECT_THROW(find_shape("qwen3", "7B"), Error);
}

Shape tiny(const std::string& arch) {
    Shape s = find_shape(arch, arch == "llama" ? "8B" : "0.6B");
    s.n_vocab = 1024;
    s.n_embd = 256;
    s.n_layer = 2;
    s.n_ff = 512;
    s.n_head = 4;
    s.n_head_kv = 2;
    s.head_dim = 64;
    s.rope_dimension_count = arch == "llama" ? 64 : 0;
    s.tied_embeddings = false;
    return s;
}

SynthResult write(const Shape& shape, const std::string& recipe, Fill fill, uint64_t seed, int n_threads,
                  const std::string& path) {
    SynthOptions options;
    options.recipe = quantize::recipe_named(recipe);
    options.fill = fill;
    options.seed = seed;
    options.n_threads = n_threads;
    return synthesize(shape, options, path);
}

TEST(Synthesize, FileHasThePlansTypesAndSizes) {
    const std::string path = temp_path("plan.gguf");
    const SynthResult r = write(tiny("qwen3"), "Q4_K_M", Fill::Quantize, 7, 2, path);
    auto file = gguf::File::open(path);
    ASSERT_EQ(file->tensors().size(), r.plan.tensors.size());
    uint64_t bytes = 0, n = 0;
    for (size_t i = 0; i < r.plan.tensors.size(); ++i) {
        const auto& t = file->tensors()[i];
        EXPECT_EQ(t.name, r.plan.tensors[i].name);
        EXPECT_EQ(t.type, r.plan.tensors[i].type) << t.name;
        bytes += t.size_bytes;
        n += static_cast<uint64_t>(t.n_elements());
    }
    EXPECT_EQ(bytes, r.output_bytes);
    EXPECT_EQ(n, r.n_elements);
    // Q4_K_M: mostly q4_K (4.5 bits), some q6_K (6.56) and F32 norms.
    EXPECT_GT(r.bits_per_weight(), 4.5);
    EXPECT_LT(r.bits_per_weight(), 6.6);
    EXPECT_EQ(file->tensor("blk.0.ffn_gate.weight").type, TypeId::Q4_K);
    EXPECT_EQ(file->tensor("output.weight").type, TypeId::Q6_K);
    EXPECT_EQ(file->tensor("blk.0.attn_norm.weight").type, TypeId::F32);
    EXPECT_EQ(file->get_uint("general.file_type", 0), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
    EXPECT_EQ(file->get_string("general.architecture", ""), "qwen3");
    std::filesystem::remove(path);
}

TEST(Synthesize, DeterministicPerSeedAndThreadCount) {
    for (Fill fill : {Fill::Fast, Fill::Quantize}) {
        const std::string a = temp_path("a.gguf"), b = temp_path("b.gguf"), c = temp_path("c.gguf");
        write(tiny("qwen3"), "Q4_K_M", fill, 3, 1, a);
        write(tiny("qwen3"), "Q4_K_M", fill, 3, 2, b);
        write(tiny("qwen3"), "Q4_K_M", fill, 4, 2, c);
        const auto bytes_a = read_bytes(a);
        EXPECT_EQ(bytes_a, read_bytes(b));
        EXPECT_NE(bytes_a, read_bytes(c));
        for (const auto& p : {a, b, c}) std::filesystem::remove(p);
    }
}

double rms(const std::vector<float>& v, double mean) {
    double s = 0;
    for (float x : v) s += (x - mean) * (x - mean);
    return std::sqrt(s / v.size());
}

std::vector<float> dequantized(const gguf::TensorInfo& t) {
    std::vector<float> v(static_cast<size_t>(t.n_elements()));
    quant::traits(t.type).to_float(t.data, v.data(), t.n_elements());
    for (float x : v) EXPECT_TRUE(std::isfinite(x)) << t.name;
    return v;
}

// Quantized random rows are N(0, 0.02) up to rounding; norms are 1 + N(0, 0.02).
TEST(Synthesize, QuantizedRowsHaveTheIntendedDistribution) {
    const std::string path = temp_path("q8.gguf");
    write(tiny("qwen3"), "Q8_0", Fill::Quantize, 1, 2, path);
    auto file = gguf::File::open(path);
    const auto w = dequantized(file->tensor("blk.1.ffn_down.weight"));
    double mean = 0;
    for (float x : w) mean += x / w.size();
    EXPECT_NEAR(mean, 0.0, 0.001);
    EXPECT_NEAR(rms(w, mean), 0.02, 0.001);
    const auto g = dequantized(file->tensor("blk.1.attn_norm.weight"));
    double norm_mean = 0;
    for (float x : g) norm_mean += x / g.size();
    EXPECT_NEAR(norm_mean, 1.0, 0.01);
    std::filesystem::remove(path);
}

// Random blocks decode to finite weights of about the magnitude of N(0, 0.02) with a mean near zero,
// for every type that has a random-block generator and a dequantizer here.
TEST(RandomBlocks, DecodeToSaneMagnitudes) {
    int n_checked = 0;
    for (uint32_t id = 0; id < 64; ++id) {
        const quant::TypeTraits* traits = quant::find_type(id);
        if (traits == nullptr || !has_random_blocks(traits->id) || traits->to_float == nullptr) continue;
        ++n_checked;
        const int64_t n = 256 * 64;
        std::vector<uint8_t> blocks(quant::row_size_bytes(traits->id, n));
        random_blocks(traits->id, 42, blocks.data(), n / traits->block_size);
        std::vector<float> v(n);
        traits->to_float(blocks.data(), v.data(), n);
        double mean = 0;
        for (float x : v) {
            ASSERT_TRUE(std::isfinite(x)) << traits->name;
            mean += x / n;
        }
        const double r = rms(v, 0.0);
        std::printf("%-8s RMS %.4f mean %+.5f\n", traits->name, r, mean);
        EXPECT_GT(r, 0.01) << traits->name;
        EXPECT_LT(r, 0.04) << traits->name;
        EXPECT_LT(std::fabs(mean), 0.5 * r) << traits->name;
    }
    EXPECT_GE(n_checked, 10);  // Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K at least
    EXPECT_FALSE(has_random_blocks(TypeId::F16));
    EXPECT_FALSE(has_random_blocks(TypeId::Q8_K));
}

// MoE shapes in random blocks: a valid file with the plan's types (MXFP4 experts, Q8_0 elsewhere).
TEST(Synthesize, Qwen3NextFastFileHasThePlansTypes) {
    auto template_file = gguf::File::open(kModels + "qwen3next-12m-code/model-bf16.gguf");
    const Shape shape = shape_like(*template_file, "qwen3next", "80B-A3B");
    const std::string path = temp_path("next.gguf");
    const SynthResult r = write(shape, "MXFP4_MOE", Fill::Fast, 1, 2, path);
    auto file = gguf::File::open(path);
    ASSERT_EQ(file->tensors().size(), template_file->tensors().size());
    for (const auto& t : r.plan.tensors) EXPECT_EQ(file->tensor(t.name).type, t.type) << t.name;
    EXPECT_EQ(file->tensor("blk.0.ffn_up_exps.weight").type, TypeId::MXFP4);
    EXPECT_EQ(file->tensor("blk.3.attn_q.weight").type, TypeId::Q8_0);
    EXPECT_EQ(file->get_uint("qwen3next.full_attention_interval", 0), 4u);
    std::filesystem::remove(path);
}

// Our model code loads the dense shapes and runs them to finite logits, in both fill modes.
TEST(Synthesize, DenseModelsLoadAndRun) {
    for (const std::string arch : {"qwen3", "llama"}) {
        for (Fill fill : {Fill::Fast, Fill::Quantize}) {
            const std::string path = temp_path("load.gguf");
            write(tiny(arch), "Q4_K_M", fill, 5, 2, path);
            auto file = gguf::File::open(path);
            ThreadPool pool(2);
            auto model = Model::load(*file, pool);
            EXPECT_EQ(model->info().architecture, arch);
            EXPECT_EQ(model->info().n_vocab, 1024);
            const std::vector<int32_t> tokens = {256, 72, 101, 108, 108, 111};
            const auto hidden = model->hidden(tokens);
            std::vector<float> logits(tokens.size() * 1024);
            model->logits(hidden.data() + (tokens.size() - 1) * 256, 1, logits.data());
            for (size_t i = 0; i < 1024; ++i) ASSERT_TRUE(std::isfinite(logits[i])) << arch << " logit " << i;
            std::filesystem::remove(path);
        }
    }
}

// The synthetic vocabulary: bytes as GPT-2 spells them, so any text tokenizes one token per byte and
// renders back; the special tokens are parsed as such.
TEST(SynthVocabulary, TokenizesEveryTextByteByByte) {
    EXPECT_EQ(byte_token('A'), "A");
    EXPECT_EQ(byte_token(' '), "\xC4\xA0");   // U+0120, GPT-2's 'Ġ'
    EXPECT_EQ(byte_token('\n'), "\xC4\x8A");  // U+010A, 'Ċ'
    const std::string path = temp_path("vocab.gguf");
    write(tiny("qwen3"), "Q8_0", Fill::Fast, 1, 2, path);
    auto file = gguf::File::open(path);
    auto tokenizer = Tokenizer::from_gguf(*file);
    const std::string text = "Hello, wörld!\n";
    const auto ids = tokenizer->tokenize(text, false, false);
    ASSERT_EQ(ids.size(), text.size());
    std::string back;
    for (size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ(ids[i], static_cast<uint8_t>(text[i]));
        back += tokenizer->token_to_piece(ids[i]);
    }
    EXPECT_EQ(back, text);
    EXPECT_EQ(tokenizer->tokenize("<|im_end|>", false, true), std::vector<int32_t>{258});
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace shootout::synth
