// How a GPU run places its models (cli/device_plan.h): the memory estimate of a model, worked out
// by hand for a small file, and the variants' passes.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/args.h"
#include "cli/device_plan.h"
#include "gguf/gguf.h"
#include "util/error.h"

using namespace shootout;
using cli::DeviceNeed;

namespace {

// A one-layer file: token_embd 100 x 8 F32 (3200 bytes), output 100 x 8 F16 (1600; left out when
// tied), attn_q 8 x 8 F32 (256), ffn_down 16 x 32 Q8_0 (544); 8 wide, 2 heads of 4, 1 KV head,
// FFN 16.
std::string write_model(const std::string& name, bool tied) {
    gguf::Writer w;
    using gguf::Value, gguf::ValueType;
    w.set("general.architecture", Value::make_string("qwen3"));
    w.set("qwen3.block_count", Value::make_uint(ValueType::UINT32, 1));
    w.set("qwen3.embedding_length", Value::make_uint(ValueType::UINT32, 8));
    w.set("qwen3.feed_forward_length", Value::make_uint(ValueType::UINT32, 16));
    w.set("qwen3.attention.head_count", Value::make_uint(ValueType::UINT32, 2));
    w.set("qwen3.attention.head_count_kv", Value::make_uint(ValueType::UINT32, 1));
    w.set("qwen3.attention.key_length", Value::make_uint(ValueType::UINT32, 4));
    auto zeros = [](uint8_t* dst, size_t n) { std::memset(dst, 0, n); };
    w.add_tensor("token_embd.weight", {8, 100}, quant::TypeId::F32, zeros);
    if (!tied) w.add_tensor("output.weight", {8, 100}, quant::TypeId::F16, zeros);
    w.add_tensor("blk.0.attn_q.weight", {8, 8}, quant::TypeId::F32, zeros);
    w.add_tensor("blk.0.ffn_down.weight", {32, 16}, quant::TypeId::Q8_0, zeros);
    const std::string path =
        (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()) + ".gguf")).string();
    w.write(path);
    return path;
}

}  // namespace

TEST(DevicePlan, EstimateOfASmallModel) {
    // n_ctx 10, tiles of 3 rows: the workspace of the largest quantized matrix, ffn_down as F16
    // (16 x 32 x 2 = 1024) with 10 rows of 32 as F16 (640) = 1664 (the F16 output needs only its
    // rows: 160); KV 1 layer x 10 x (1 x 4) x 2 x 2 bytes = 160; activations 10 x (8 x max(8, 2 x 4)
    // + 4 x 16) floats x 2 = 10240; logits 2 x 3 x 100 floats = 2400; the fixed 768 MiB = 805306368.
    const uint64_t runtime = 1664 + 160 + 10240 + 2400 + 805306368;
    const std::string untied = write_model("plan-untied", false), tied = write_model("plan-tied", true);
    // Untied: output + attn_q + ffn_down = 2400 bytes, + 1 % (24); token_embd stays in the file's mapping.
    EXPECT_EQ(cli::device_bytes_estimate(*gguf::File::open(untied), 10, 3), 2400 + 24 + runtime);
    // Tied: token_embd (F32) is the output matrix, uploaded: 4000 + 40.
    EXPECT_EQ(cli::device_bytes_estimate(*gguf::File::open(tied), 10, 3), 4000 + 40 + runtime);
    // Twice the context: the KV cache, the activations and the workspace's rows twice over.
    EXPECT_EQ(cli::device_bytes_estimate(*gguf::File::open(untied), 20, 3), 2400 + 24 + runtime + 160 + 10240 + 640);
    std::filesystem::remove(untied);
    std::filesystem::remove(tied);
}

TEST(DevicePlan, PassesCloseAtTheFirstVariantThatOverflows) {
    const std::vector<DeviceNeed> needs = {{"a", 3}, {"b", 4}, {"c", 2}, {"d", 5}, {"e", 7}};
    const auto passes = cli::plan_passes(needs, 7);
    ASSERT_EQ(passes.size(), 3u);
    EXPECT_EQ(passes[0], (std::vector<size_t>{0, 1}));  // 3 + 4 = 7 fits exactly
    EXPECT_EQ(passes[1], (std::vector<size_t>{2, 3}));  // 2 + 5
    EXPECT_EQ(passes[2], (std::vector<size_t>{4}));
    // Everything at once when it fits; nothing to place, no pass.
    EXPECT_EQ(cli::plan_passes(needs, 21).size(), 1u);
    EXPECT_TRUE(cli::plan_passes({}, 7).empty());
}

TEST(DevicePlan, AVariantTooLargeAloneIsNamed) {
    const std::vector<DeviceNeed> needs = {{"Q4_K_M", 3}, {"F16-copy", 9}};
    try {
        cli::plan_passes(needs, 8);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("F16-copy"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("--gpu-memory"), std::string::npos) << e.what();
    }
}

TEST(DevicePlan, GpuMemoryOption) {
    const std::vector<cli::OptionSpec> specs = {{"gpu-memory", "GIB", ""}};
    auto with = [&](const std::string& value) { return cli::Args("run", specs, {"--gpu-memory", value}); };
    EXPECT_EQ(cli::device_budget(with("1.5"), Backend::Cuda), uint64_t(3) << 29);
    EXPECT_EQ(cli::device_budget(with("40"), Backend::Cuda), uint64_t(40) << 30);
    for (const char* bad : {"0", "-2", "abc", "1.5GiB", "nan", ""})
        EXPECT_THROW(cli::device_budget(with(bad), Backend::Cuda), cli::UsageError) << bad;
    EXPECT_THROW(cli::device_budget(with("8"), Backend::Cpu), cli::UsageError);  // a GPU's option only
    EXPECT_EQ(cli::device_budget(cli::Args("run", specs, {}), Backend::Cpu), 0u);
}

// The run's placement: dense when everything fits, auto turning to top-k with passes when it does
// not, dense asked for explicitly refused, the CPU always one pass, and when passes are freed.
TEST(DevicePlan, PlacementByMode) {
    const std::vector<DeviceNeed> variants = {{"a", 3}, {"b", 4}, {"c", 2}};
    // Reference 5 + variants 9 = 14 on a GPU of 14: dense, one pass kept resident.
    cli::Placement p = cli::place_variants(variants, 5, true, 14, "auto", "dense");
    EXPECT_EQ(p.mode, "dense");
    EXPECT_FALSE(p.turned_to_top_k);
    EXPECT_EQ(p.total, 14u);
    EXPECT_EQ(p.passes, (std::vector<std::vector<size_t>>{{0, 1, 2}}));
    EXPECT_FALSE(p.free_after_pass);
    // A GPU of 7: auto turns to top-k, the variants in passes of as many as fit 7, each freed.
    p = cli::place_variants(variants, 5, true, 7, "auto", "dense");
    EXPECT_EQ(p.mode, "top-k");
    EXPECT_TRUE(p.turned_to_top_k);
    EXPECT_EQ(p.passes, (std::vector<std::vector<size_t>>{{0, 1}, {2}}));
    EXPECT_TRUE(p.free_after_pass);
    EXPECT_EQ(p.need, (std::vector<uint64_t>{3, 4, 2}));
    // Top-k because of the host's memory, all variants fitting at once: one pass, still freed after
    // it on a GPU (the next text's reference).
    p = cli::place_variants(variants, 5, true, 9, "auto", "top-k");
    EXPECT_FALSE(p.turned_to_top_k);
    EXPECT_EQ(p.passes.size(), 1u);
    EXPECT_TRUE(p.free_after_pass);
    // llama.cpp's base file: no reference on the GPU, the variants in passes as well.
    p = cli::place_variants(variants, 0, true, 7, "llama-logits-file", "");
    EXPECT_EQ(p.mode, "llama-logits-file");
    EXPECT_EQ(p.passes.size(), 2u);
    // Dense asked for where it does not fit: refused with the figures.
    try {
        cli::place_variants(variants, 5, true, 7, "dense", "");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--reference-mode dense"), std::string::npos) << e.what();
    }
    // The CPU: one pass in every mode, nothing freed.
    const std::vector<DeviceNeed> on_cpu = {{"a", 0}, {"b", 0}};
    for (const char* mode : {"dense", "top-k"}) {
        p = cli::place_variants(on_cpu, 0, false, 0, mode, "");
        EXPECT_EQ(p.mode, mode);
        EXPECT_EQ(p.passes, (std::vector<std::vector<size_t>>{{0, 1}}));
        EXPECT_FALSE(p.free_after_pass);
    }
}
