// The reader on files it did not write: the Python `gguf` package's fixture (every value type) and the
// real models (written by convert_hf_to_gguf.py and by llama-quantize).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "gguf/gguf.h"
#include "gguf_test_util.h"
#include "util/fp16.h"

namespace shootout::gguf {
namespace {

using testing::error_of;
using testing::fixture;

class PythonFixture : public ::testing::Test {
protected:
    // tools/make_gguf_fixtures.py wrote it; the values below are that script's inputs.
    std::unique_ptr<File> file = File::open(fixture("python_writer.gguf"));
};

TEST_F(PythonFixture, Header) {
    EXPECT_EQ(file->version(), 3u);
    EXPECT_EQ(file->alignment(), 64u);
    EXPECT_EQ(file->size_bytes(), 1856u);
    EXPECT_EQ(file->data_offset(), 1216u);  // GGUFReader's data_offset of the first tensor
    EXPECT_EQ(file->architecture(), "testarch");
}

TEST_F(PythonFixture, MetadataInFileOrder) {
    const std::vector<std::string> keys = {
        "general.architecture", "general.alignment", "test.uint8", "test.int8", "test.uint16", "test.int16",
        "test.uint32", "test.int32", "test.float32", "test.bool_true", "test.bool_false", "test.string",
        "test.uint64", "test.int64", "test.float64", "test.array.int32", "test.array.string",
        "test.array.float32", "test.array.bool", "test.array.uint64", "test.array.nested", "general.name"};
    ASSERT_EQ(file->metadata().size(), keys.size());
    for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(file->metadata()[i].first, keys[i]);
}

TEST_F(PythonFixture, ScalarValuesAndTypes) {
    EXPECT_EQ(file->get("test.uint8").type(), ValueType::UINT8);
    EXPECT_EQ(file->get("test.uint8").as_uint(), 200u);
    EXPECT_EQ(file->get("test.int8").type(), ValueType::INT8);
    EXPECT_EQ(file->get("test.int8").as_int(), -100);
    EXPECT_EQ(file->get("test.uint16").type(), ValueType::UINT16);
    EXPECT_EQ(file->get("test.uint16").as_uint(), 60000u);
    EXPECT_EQ(file->get("test.int16").type(), ValueType::INT16);
    EXPECT_EQ(file->get("test.int16").as_int(), -30000);
    EXPECT_EQ(file->get("test.uint32").type(), ValueType::UINT32);
    EXPECT_EQ(file->get_uint("test.uint32", 0), 4000000000u);
    EXPECT_EQ(file->get("test.int32").type(), ValueType::INT32);
    EXPECT_EQ(file->get("test.int32").as_int(), -2000000000);
    EXPECT_EQ(file->get("test.float32").type(), ValueType::FLOAT32);
    EXPECT_EQ(file->get_float("test.float32", 0), (double)0.1f);
    EXPECT_EQ(file->get("test.bool_true").type(), ValueType::BOOL);
    EXPECT_TRUE(file->get_bool("test.bool_true", false));
    EXPECT_FALSE(file->get_bool("test.bool_false", true));
    EXPECT_EQ(file->get("test.string").type(), ValueType::STRING);
    EXPECT_EQ(file->get_string("test.string", ""), "h\xc3\xa9llo\nworld");
    EXPECT_EQ(file->get("test.uint64").type(), ValueType::UINT64);
    EXPECT_EQ(file->get_uint("test.uint64", 0), (1ull << 63) + 5);
    EXPECT_EQ(file->get("test.int64").type(), ValueType::INT64);
    EXPECT_EQ(file->get("test.int64").as_int(), -(1ll << 62) - 3);
    EXPECT_EQ(file->get("test.float64").type(), ValueType::FLOAT64);
    EXPECT_EQ(file->get_float("test.float64", 0), 1.0 / 3.0);
    EXPECT_EQ(file->get("general.alignment").type(), ValueType::UINT32);
    EXPECT_EQ(file->get_string("general.name", ""), "fixture");
}

TEST_F(PythonFixture, Arrays) {
    const Value& ints = file->get("test.array.int32");
    ASSERT_EQ(ints.type(), ValueType::ARRAY);
    EXPECT_EQ(ints.array_type(), ValueType::INT32);
    ASSERT_EQ(ints.as_array().size(), 3u);
    EXPECT_EQ(ints.as_array()[0].as_int(), 1);
    EXPECT_EQ(ints.as_array()[1].as_int(), -2);
    EXPECT_EQ(ints.as_array()[2].as_int(), 3);

    const Value& strings = file->get("test.array.string");
    EXPECT_EQ(strings.array_type(), ValueType::STRING);
    ASSERT_EQ(strings.as_array().size(), 3u);
    EXPECT_EQ(strings.as_array()[0].as_string(), "a");
    EXPECT_EQ(strings.as_array()[1].as_string(), "");
    EXPECT_EQ(strings.as_array()[2].as_string(), "ccc");

    const Value& floats = file->get("test.array.float32");
    EXPECT_EQ(floats.array_type(), ValueType::FLOAT32);
    ASSERT_EQ(floats.as_array().size(), 2u);
    EXPECT_EQ(floats.as_array()[0].as_float(), 0.5);
    EXPECT_EQ(floats.as_array()[1].as_float(), -1.25);

    const Value& bools = file->get("test.array.bool");
    EXPECT_EQ(bools.array_type(), ValueType::BOOL);
    ASSERT_EQ(bools.as_array().size(), 3u);
    EXPECT_TRUE(bools.as_array()[0].as_bool());
    EXPECT_FALSE(bools.as_array()[1].as_bool());
    EXPECT_TRUE(bools.as_array()[2].as_bool());

    const Value& u64s = file->get("test.array.uint64");
    EXPECT_EQ(u64s.array_type(), ValueType::UINT64);
    ASSERT_EQ(u64s.as_array().size(), 2u);
    EXPECT_EQ(u64s.as_array()[1].as_uint(), UINT64_MAX);

    const Value& nested = file->get("test.array.nested");
    EXPECT_EQ(nested.array_type(), ValueType::ARRAY);
    ASSERT_EQ(nested.as_array().size(), 2u);
    EXPECT_EQ(nested.as_array()[0].array_type(), ValueType::INT32);
    ASSERT_EQ(nested.as_array()[0].as_array().size(), 2u);
    EXPECT_EQ(nested.as_array()[0].as_array()[1].as_int(), 2);
    ASSERT_EQ(nested.as_array()[1].as_array().size(), 1u);
    EXPECT_EQ(nested.as_array()[1].as_array()[0].as_int(), 3);
}

TEST_F(PythonFixture, TensorInfos) {
    struct Expected {
        const char* name;
        quant::TypeId type;
        std::vector<int64_t> shape;
        uint64_t offset;
        size_t size_bytes;
    };
    // Offsets and sizes as GGUFReader reports them (data_offset - 1216, n_bytes).
    const std::vector<Expected> expected = {
        {"f32.matrix", quant::TypeId::F32, {4, 3}, 0, 48},
        {"f16.matrix", quant::TypeId::F16, {8, 2}, 64, 32},
        {"q8_0.matrix", quant::TypeId::Q8_0, {64, 2}, 128, 136},
        {"bf16.vector", quant::TypeId::BF16, {8}, 320, 16},
        {"i32.vector", quant::TypeId::I32, {3}, 384, 12},
        {"f32.rank3", quant::TypeId::F32, {4, 3, 2}, 448, 96},
        {"f32.rank4", quant::TypeId::F32, {2, 2, 2, 2}, 576, 64},
    };
    ASSERT_EQ(file->tensors().size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        const TensorInfo& t = file->tensors()[i];
        SCOPED_TRACE(t.name);
        EXPECT_EQ(t.name, expected[i].name);
        EXPECT_EQ(t.type, expected[i].type);
        EXPECT_EQ(t.shape, expected[i].shape);
        EXPECT_EQ(t.offset, expected[i].offset);
        EXPECT_EQ(t.size_bytes, expected[i].size_bytes);
        EXPECT_EQ(t.data, file->tensors()[0].data + t.offset);
    }
    EXPECT_EQ(file->tensor("f32.rank3").n_elements(), 24);
    EXPECT_EQ(file->tensor("f32.rank3").n_rows(), 6);
    EXPECT_EQ(file->find_tensor("nope"), nullptr);
}

float ramp(int i, float scale, float bias) { return (float)i * scale + bias; }

TEST_F(PythonFixture, TensorData) {
    const TensorInfo& f32 = file->tensor("f32.matrix");
    for (int i = 0; i < 12; ++i) {
        float v;
        std::memcpy(&v, f32.data + 4 * i, 4);
        EXPECT_EQ(v, ramp(i, 0.5f, -1.0f)) << i;
    }
    const TensorInfo& f16 = file->tensor("f16.matrix");
    for (int i = 0; i < 16; ++i) {
        uint16_t h;
        std::memcpy(&h, f16.data + 2 * i, 2);
        EXPECT_EQ(fp16_to_fp32(h), ramp(i, 0.25f, -1.0f)) << i;
    }
    const TensorInfo& bf16 = file->tensor("bf16.vector");
    for (int i = 0; i < 8; ++i) {
        uint16_t h;
        std::memcpy(&h, bf16.data + 2 * i, 2);
        EXPECT_EQ(bits_to_float((uint32_t)h << 16), ramp(i, 1.5f, -1.0f)) << i;
    }
    // Q8_0 blocks: fp16 scale then 32 int8. Values are within half a step of the input, plus what the
    // scale's rounding to fp16 adds (up to 127 * d * 2^-11 < d / 2).
    const TensorInfo& q8 = file->tensor("q8_0.matrix");
    for (int block = 0; block < 4; ++block) {
        const uint8_t* b = q8.data + 34 * block;
        uint16_t h;
        std::memcpy(&h, b, 2);
        const float d = fp16_to_fp32(h);
        EXPECT_GT(d, 0.0f);
        for (int j = 0; j < 32; ++j) {
            const float x = ramp(block * 32 + j, 0.125f, -8.0f);
            EXPECT_NEAR(d * (float)(int8_t)b[2 + j], x, d) << block << " " << j;
        }
    }
    const TensorInfo& i32 = file->tensor("i32.vector");
    int32_t ints[3];
    std::memcpy(ints, i32.data, 12);
    EXPECT_EQ(ints[0], 5);
    EXPECT_EQ(ints[1], -6);
    EXPECT_EQ(ints[2], 7);
}

TEST_F(PythonFixture, AccessorsNameFileAndKey) {
    EXPECT_EQ(file->get_string("missing.key", "fallback"), "fallback");
    EXPECT_EQ(file->get_uint("missing.key", 7), 7u);
    EXPECT_EQ(file->get_float("missing.key", 2.5), 2.5);
    EXPECT_TRUE(file->get_bool("missing.key", true));
    EXPECT_EQ(file->get_float("test.int8", 0), -100.0);  // integers read as floats
    EXPECT_EQ(file->get_uint("test.uint8", 0), 200u);     // any width reads as uint
    const std::string path = fixture("python_writer.gguf");
    EXPECT_EQ(error_of([&] { file->get("missing.key"); }), path + ": missing metadata key 'missing.key'");
    EXPECT_EQ(error_of([&] { file->tensor("nope"); }), path + ": missing tensor 'nope'");
    EXPECT_EQ(error_of([&] { file->get_uint("test.int8", 0); }),
              path + ": metadata key 'test.int8': metadata value -100 is negative");
    EXPECT_EQ(error_of([&] { file->get_uint("test.string", 0); }),
              path + ": metadata key 'test.string': metadata value is string, not an integer");
    EXPECT_EQ(error_of([&] { file->get_string("test.uint8", ""); }),
              path + ": metadata key 'test.uint8': metadata value is uint8, not string");
    EXPECT_EQ(error_of([&] { file->get_bool("test.uint8", false); }),
              path + ": metadata key 'test.uint8': metadata value is uint8, not bool");
    EXPECT_EQ(error_of([&] { file->get("test.array.int32").as_string(); }),
              "metadata value is array, not string");
}

TEST(GgufReader, Version2ReadsLikeVersion3) {
    // v2 differs from v3 only in allowing no big-endian files; the layout is the same.
    auto bytes = testing::read_all(fixture("python_writer.gguf"));
    bytes[4] = 2;
    auto file = File::parse(bytes.data(), bytes.size(), "v2.gguf");
    EXPECT_EQ(file->version(), 2u);
    EXPECT_EQ(file->tensors().size(), 7u);
    EXPECT_EQ(file->get("test.array.nested").as_array().size(), 2u);
}

TEST(GgufReader, ParseNamesTheBufferInErrors) {
    const uint8_t bytes[] = {'G', 'G', 'U'};
    EXPECT_EQ(error_of([&] { File::parse(bytes, sizeof bytes, "buffer"); }),
              "buffer: truncated while reading magic of the header (needs 4 bytes at offset 0, file size 3)");
}

TEST(GgufReader, Qwen3Bf16Model) {
    const std::string path = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf";
    auto file = File::open(path);
    EXPECT_EQ(file->architecture(), "qwen3");
    // Figures from /work/shared/README.md: 8 layers, hidden 512, 8/4 heads, FFN 1536, vocab 16384.
    EXPECT_EQ(file->get_uint("qwen3.block_count", 0), 8u);
    EXPECT_EQ(file->get_uint("qwen3.embedding_length", 0), 512u);
    EXPECT_EQ(file->get_uint("qwen3.feed_forward_length", 0), 1536u);
    EXPECT_EQ(file->get_uint("qwen3.attention.head_count", 0), 8u);
    EXPECT_EQ(file->get_uint("qwen3.attention.head_count_kv", 0), 4u);
    EXPECT_EQ(file->get("tokenizer.ggml.tokens").as_array().size(), 16384u);
    const TensorInfo& embd = file->tensor("token_embd.weight");
    EXPECT_EQ(embd.type, quant::TypeId::BF16);
    EXPECT_EQ(embd.shape, (std::vector<int64_t>{512, 16384}));
    EXPECT_EQ(embd.size_bytes, 512u * 16384u * 2u);
    EXPECT_EQ(file->tensor("blk.7.ffn_down.weight").shape, (std::vector<int64_t>{1536, 512}));
    EXPECT_EQ(file->tensor("output_norm.weight").type, quant::TypeId::F32);
    // The last tensor ends within the file; the tail is padding only.
    const TensorInfo& last = file->tensors().back();
    EXPECT_LE(file->data_offset() + last.offset + last.size_bytes, file->size_bytes());
    EXPECT_GT(file->data_offset() + last.offset + last.size_bytes + file->alignment(), file->size_bytes());
}

TEST(GgufReader, SmolLM2Q4_1Model) {
    const char* path = std::getenv("SHOOTOUT_SMOLLM2_GGUF");
    if (!path || !*path) GTEST_SKIP() << "SHOOTOUT_SMOLLM2_GGUF is not set (path to SmolLM2-135M-Instruct.Q4_1.gguf)";
    auto file = File::open(path);
    EXPECT_EQ(file->architecture(), "llama");
    EXPECT_EQ(file->get_string("tokenizer.ggml.pre", ""), "smollm");
    EXPECT_EQ(file->get("tokenizer.ggml.tokens").as_array().size(), 49152u);
    EXPECT_EQ(file->tensors().size(), 272u);  // GGUFReader's count
    EXPECT_EQ(file->tensor("token_embd.weight").type, quant::TypeId::Q8_0);
    EXPECT_EQ(file->tensor("blk.0.attn_q.weight").type, quant::TypeId::Q4_1);
    EXPECT_EQ(file->tensor("blk.0.attn_q.weight").shape, (std::vector<int64_t>{576, 576}));
}

}  // namespace
}  // namespace shootout::gguf
