// Llama 3.1 / 3.2 checkpoints (rope_type "llama3"): the rope_freqs.weight factors the converter
// generates, bit for bit against the values llama.cpp's convert_hf_to_gguf.py writes. (The whole tiny
// llama3 checkpoint against convert_hf_to_gguf.py's file: test_convert_hf.cpp; its logits against
// transformers: test_tiny_hf_golden.cpp; a Llama 3.1-style config.json: test_convert_synthetic.cpp.)
//
// The golden factors are tools/llama3_rope_golden.py's output (2026-11-26, torch 2.11 on the device
// machine's CPU, ATen capability AVX-512): llama.cpp's own LlamaModel.generate_extra_tensors run on each
// case's settings, printed as float32 bit patterns. The converter computes in torch float32, not in
// float64: where the float64 formula rounds to another float32, the comment beside the case says so.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "convert/hf_model.h"
#include "convert/hf_rope.h"
#include "convert/json.h"
#include "gguf/gguf.h"

namespace fs = std::filesystem;
using namespace shootout;

namespace {

std::vector<uint32_t> factor_bits(const std::string& config_text) {
    const convert::Json config = convert::Json::parse(config_text, "config.json");
    const convert::RopeSettings rope = convert::rope_settings(config);
    EXPECT_TRUE(convert::is_llama3_rope(rope));
    const std::vector<float> factors = convert::llama3_rope_factors(convert::llama3_rope(config, rope, "config.json"));
    std::vector<uint32_t> bits(factors.size());
    std::memcpy(bits.data(), factors.data(), factors.size() * 4);
    return bits;
}

TEST(Llama3RopeFactors, BitForBitAsConvertHfToGguf) {
    struct Case {
        const char* name;
        const char* config;
        std::vector<uint32_t> bits;
    };
    const Case cases[] = {
        // Llama 3.1's rope_scaling with head_dim 16: pairs 0-3 kept, 4 interpolated, 5-7 divided by 8.
        // The float64 formula gives 0x402c732d for pair 4.
        {"head_dim16",
         "{\"head_dim\":16,\"hidden_size\":64,\"num_attention_heads\":4,\"rope_theta\":500000.0,"
         "\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
         "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}}",
         {0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x402c732e, 0x41000000, 0x41000000, 0x41000000}},
        // Meta-Llama-3.1-8B's config.json (no head_dim: 4096 / 32 = 128): pairs 0-28 kept, 29-34
        // interpolated, 35-63 divided by 8. The float64 formula differs in pairs 31-34 (0x4001af1e,
        // 0x402c732d, 0x406bcacb, 0x40a83c05).
        {"llama31_8b",
         "{\"hidden_size\":4096,\"num_attention_heads\":32,\"num_key_value_heads\":8,\"rope_theta\":500000.0,"
         "\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
         "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}}",
         {0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000,
          0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000,
          0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000,
          0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f9a8ed5, 0x3fc6d64a, 0x4001af1d,
          0x402c732e, 0x406bcace, 0x40a83c06, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000,
          0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000,
          0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000,
          0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000}},
        // Llama-3.2-1B's config.json (head_dim 64, factor 32): pairs 0-14 kept, 15-17 interpolated,
        // 18-31 divided by 32. The float64 formula differs in pairs 16 and 17 (0x4052b46c, 0x411aaaec).
        {"llama32_1b",
         "{\"head_dim\":64,\"hidden_size\":2048,\"num_attention_heads\":32,\"rope_theta\":500000.0,"
         "\"rope_scaling\":{\"factor\":32.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
         "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}}",
         {0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000,
          0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3fd35ec2,
          0x4052b46f, 0x411aaaee, 0x42000000, 0x42000000, 0x42000000, 0x42000000, 0x42000000, 0x42000000,
          0x42000000, 0x42000000, 0x42000000, 0x42000000, 0x42000000, 0x42000000, 0x42000000, 0x42000000}},
        // transformers 5's rope_parameters (rope_theta inside, an integer), head_dim 96, bounds 3000 / 3 and
        // 3000 / 1.5, factor 2.5: pairs 0-17 kept, 18-20 interpolated, 21-47 divided. The float64 formula
        // differs in pairs 19 and 20 (0x3fd36fe6, 0x401e6f6c).
        {"inexact",
         "{\"head_dim\":96,\"hidden_size\":768,\"num_attention_heads\":8,"
         "\"rope_parameters\":{\"rope_type\":\"llama3\",\"rope_theta\":1000000,\"factor\":2.5,"
         "\"low_freq_factor\":1.5,\"high_freq_factor\":3.0,\"original_max_position_embeddings\":3000}}",
         {0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000,
          0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000,
          0x3f800000, 0x3f800000, 0x3f92744d, 0x3fd36fe8, 0x401e6f69, 0x40200000, 0x40200000, 0x40200000,
          0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000,
          0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000,
          0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000, 0x40200000}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const std::vector<uint32_t> bits = factor_bits(c.config);
        ASSERT_EQ(bits.size(), c.bits.size());
        for (size_t i = 0; i < bits.size(); ++i) EXPECT_EQ(bits[i], c.bits[i]) << "pair " << i;
    }
}

// tests/data/model/tiny-llama3-hf.gguf (convert_hf_to_gguf.py's output, compared with ours byte for byte
// in test_convert_hf.cpp) holds the "tiny_llama3_hf" case of tools/llama3_rope_golden.py as its first
// tensor: pair 0 kept, 1 interpolated (the float64 formula: 0x401c4dfa), 2-7 divided by 8.
TEST(Llama3RopeFactors, TinyCheckpointsFirstTensorInLlamaCppsFile) {
    const std::string dir = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/model/tiny-llama3-hf";
    const uint32_t golden[8] = {0x3f800000, 0x401c4dfb, 0x41000000, 0x41000000,
                                0x41000000, 0x41000000, 0x41000000, 0x41000000};
    const auto reference = gguf::File::open(dir + ".gguf");
    const gguf::TensorInfo& theirs = reference->tensors().at(0);
    EXPECT_EQ(theirs.name, "rope_freqs.weight");
    EXPECT_EQ(theirs.type, quant::TypeId::F32);
    EXPECT_EQ(theirs.shape, std::vector<int64_t>{8});
    ASSERT_EQ(theirs.size_bytes, sizeof golden);
    EXPECT_EQ(0, std::memcmp(theirs.data, golden, sizeof golden));
    EXPECT_EQ(reference->find("llama.rope.scaling.type"), nullptr);
    const convert::ConvertedModel model = convert::plan_conversion(dir);
    const convert::PlannedTensor& ours = model.tensors.at(0);
    EXPECT_EQ(ours.name, "rope_freqs.weight");
    uint32_t bits[8];
    ours.fill(reinterpret_cast<uint8_t*>(bits));
    for (int i = 0; i < 8; ++i) EXPECT_EQ(bits[i], golden[i]) << "pair " << i;
}

}  // namespace
