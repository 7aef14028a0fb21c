// The writer: byte-identical with the Python GGUFWriter for the same content, every value type round
// trips, copy_of reproduces real model files byte for byte, and the file appears atomically.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "gguf/gguf.h"
#include "gguf_test_util.h"
#include "util/fp16.h"
#include "util/mapped_file.h"

namespace shootout::gguf {
namespace {

using quant::TypeId;
using testing::error_of;
using testing::fixture;
using testing::TempDir;

Writer::Fill fill_floats(std::vector<float> values) {
    return [values](uint8_t* dst, size_t n) {
        ASSERT_EQ(n, values.size() * 4);
        std::memcpy(dst, values.data(), n);
    };
}

std::vector<float> ramp(int n, float scale, float bias) {
    std::vector<float> v(n);
    for (int i = 0; i < n; ++i) v[i] = (float)i * scale + bias;
    return v;
}

Value ints(ValueType type, std::vector<int64_t> values) {
    std::vector<Value> elements;
    for (int64_t v : values) elements.push_back(Value::make_int(type, v));
    return Value::make_array(type, std::move(elements));
}

// The content tools/make_gguf_fixtures.py gives python_writer.gguf, built with our Writer.
TEST(GgufWriter, SameBytesAsPythonGgufWriter) {
    Writer w;
    w.set("general.architecture", Value::make_string("testarch"));
    w.set_alignment(64);
    w.set("test.uint8", Value::make_uint(ValueType::UINT8, 200));
    w.set("test.int8", Value::make_int(ValueType::INT8, -100));
    w.set("test.uint16", Value::make_uint(ValueType::UINT16, 60000));
    w.set("test.int16", Value::make_int(ValueType::INT16, -30000));
    w.set("test.uint32", Value::make_uint(ValueType::UINT32, 4000000000u));
    w.set("test.int32", Value::make_int(ValueType::INT32, -2000000000));
    w.set("test.float32", Value::make_float(ValueType::FLOAT32, 0.1));
    w.set("test.bool_true", Value::make_bool(true));
    w.set("test.bool_false", Value::make_bool(false));
    w.set("test.string", Value::make_string("h\xc3\xa9llo\nworld"));
    w.set("test.uint64", Value::make_uint(ValueType::UINT64, (1ull << 63) + 5));
    w.set("test.int64", Value::make_int(ValueType::INT64, -(1ll << 62) - 3));
    w.set("test.float64", Value::make_float(ValueType::FLOAT64, 1.0 / 3.0));
    w.set("test.array.int32", ints(ValueType::INT32, {1, -2, 3}));
    w.set("test.array.string", Value::make_array(ValueType::STRING, {Value::make_string("a"), Value::make_string(""),
                                                                     Value::make_string("ccc")}));
    w.set("test.array.float32", Value::make_array(ValueType::FLOAT32, {Value::make_float(ValueType::FLOAT32, 0.5),
                                                                       Value::make_float(ValueType::FLOAT32, -1.25)}));
    w.set("test.array.bool",
          Value::make_array(ValueType::BOOL, {Value::make_bool(true), Value::make_bool(false), Value::make_bool(true)}));
    w.set("test.array.uint64", Value::make_array(ValueType::UINT64, {Value::make_uint(ValueType::UINT64, 7),
                                                                     Value::make_uint(ValueType::UINT64, UINT64_MAX)}));
    w.set("test.array.nested",
          Value::make_array(ValueType::ARRAY, {ints(ValueType::INT32, {1, 2}), ints(ValueType::INT32, {3})}));
    w.set("general.name", Value::make_string("fixture"));

    w.add_tensor("f32.matrix", {4, 3}, TypeId::F32, fill_floats(ramp(12, 0.5f, -1.0f)));
    w.add_tensor("f16.matrix", {8, 2}, TypeId::F16, [](uint8_t* dst, size_t n) {
        ASSERT_EQ(n, 32u);
        for (int i = 0; i < 16; ++i) {
            const uint16_t h = fp32_to_fp16((float)i * 0.25f - 1.0f);
            std::memcpy(dst + 2 * i, &h, 2);
        }
    });
    // The quantized bytes are numpy's (gguf.quants), taken from the fixture: this test is about layout.
    auto python = File::open(fixture("python_writer.gguf"));
    const TensorInfo& q8 = python->tensor("q8_0.matrix");
    w.add_tensor("q8_0.matrix", {64, 2}, TypeId::Q8_0, [&](uint8_t* dst, size_t n) { std::memcpy(dst, q8.data, n); });
    w.add_tensor("bf16.vector", {8}, TypeId::BF16, [](uint8_t* dst, size_t n) {
        ASSERT_EQ(n, 16u);
        for (int i = 0; i < 8; ++i) {
            const uint16_t h = (uint16_t)(float_to_bits((float)i * 1.5f - 1.0f) >> 16);  // exact in bf16
            std::memcpy(dst + 2 * i, &h, 2);
        }
    });
    w.add_tensor("i32.vector", {3}, TypeId::I32, [](uint8_t* dst, size_t n) {
        const int32_t v[3] = {5, -6, 7};
        ASSERT_EQ(n, sizeof v);
        std::memcpy(dst, v, n);
    });
    w.add_tensor("f32.rank3", {4, 3, 2}, TypeId::F32, fill_floats(ramp(24, 0.5f, -1.0f)));
    w.add_tensor("f32.rank4", {2, 2, 2, 2}, TypeId::F32, fill_floats(ramp(16, 0.5f, -1.0f)));

    TempDir dir;
    w.write(dir.file("ours.gguf"));
    EXPECT_EQ(testing::read_all(dir.file("ours.gguf")), testing::read_all(fixture("python_writer.gguf")));
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
    Writer w;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    w.set("u8", Value::make_uint(ValueType::UINT8, 255));
    w.set("i8", Value::make_int(ValueType::INT8, -128));
    w.set("u16", Value::make_uint(ValueType::UINT16, 65535));
    w.set("i16", Value::make_int(ValueType::INT16, -32768));
    w.set("u32", Value::make_uint(ValueType::UINT32, UINT32_MAX));
    w.set("i32", Value::make_int(ValueType::INT32, INT32_MIN));
    w.set("f32", Value::make_float(ValueType::FLOAT32, -0.0));
    w.set("f32.inf", Value::make_float(ValueType::FLOAT32, INFINITY));
    w.set("f32.nan", Value::make_float(ValueType::FLOAT32, nan));
    w.set("bool", Value::make_bool(true));
    w.set("string", Value::make_string(std::string("nul\0inside", 10)));
    w.set("string.empty", Value::make_string(""));
    w.set("u64", Value::make_uint(ValueType::UINT64, UINT64_MAX));
    w.set("i64", Value::make_int(ValueType::INT64, INT64_MIN));
    w.set("f64", Value::make_float(ValueType::FLOAT64, 1e-300));
    w.set("array.empty", Value::make_array(ValueType::UINT32, {}));
    w.set("array.nested.strings",
          Value::make_array(ValueType::ARRAY,
                            {Value::make_array(ValueType::STRING, {Value::make_string("x")}),
                             Value::make_array(ValueType::STRING, {})}));
    w.set("u8", Value::make_uint(ValueType::UINT8, 7));  // replaces in place, keeps position
    w.set("i16", Value::make_int(ValueType::INT16, 5));
    w.remove("i16");

    TempDir dir;
    w.write(dir.file("values.gguf"));
    auto f = File::open(dir.file("values.gguf"));
    std::vector<std::string> keys;
    for (const auto& [k, v] : f->metadata()) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"u8", "i8", "u16", "u32", "i32", "f32", "f32.inf", "f32.nan", "bool",
                                              "string", "string.empty", "u64", "i64", "f64", "array.empty",
                                              "array.nested.strings"}));
    EXPECT_EQ(f->get("u8").as_uint(), 7u);
    EXPECT_EQ(f->get("i8").as_int(), -128);
    EXPECT_EQ(f->get("u16").as_uint(), 65535u);
    EXPECT_EQ(f->get("u32").as_uint(), UINT32_MAX);
    EXPECT_EQ(f->get("i32").as_int(), INT32_MIN);
    EXPECT_EQ(f->get("f32").type(), ValueType::FLOAT32);
    EXPECT_TRUE(std::signbit(f->get("f32").as_float()));
    EXPECT_EQ(f->get("f32.inf").as_float(), INFINITY);
    EXPECT_TRUE(std::isnan(f->get("f32.nan").as_float()));
    EXPECT_TRUE(f->get("bool").as_bool());
    EXPECT_EQ(f->get("string").as_string(), std::string("nul\0inside", 10));
    EXPECT_EQ(f->get("string.empty").as_string(), "");
    EXPECT_EQ(f->get("u64").as_uint(), UINT64_MAX);
    EXPECT_EQ(f->get("i64").as_int(), INT64_MIN);
    EXPECT_EQ(f->get("f64").type(), ValueType::FLOAT64);
    EXPECT_EQ(f->get("f64").as_float(), 1e-300);
    EXPECT_EQ(f->get("array.empty").array_type(), ValueType::UINT32);
    EXPECT_TRUE(f->get("array.empty").as_array().empty());
    const auto& nested = f->get("array.nested.strings").as_array();
    ASSERT_EQ(nested.size(), 2u);
    EXPECT_EQ(nested[0].as_array()[0].as_string(), "x");
    EXPECT_EQ(nested[1].array_type(), ValueType::STRING);
    EXPECT_TRUE(nested[1].as_array().empty());
    EXPECT_TRUE(f->tensors().empty());
    // Rewriting what was read gives the same bytes.
    Writer::copy_of(*f).write(dir.file("again.gguf"));
    EXPECT_EQ(testing::read_all(dir.file("values.gguf")), testing::read_all(dir.file("again.gguf")));
}

TEST(GgufWriter, AlignmentAndPadding) {
    Writer w;
    w.set_alignment(128);
    w.add_tensor("a", {3}, TypeId::F32, fill_floats({1, 2, 3}));
    w.add_tensor("b", {32}, TypeId::Q8_0, [](uint8_t* dst, size_t n) { std::memset(dst, 0xAB, n); });
    TempDir dir;
    w.write(dir.file("aligned.gguf"));
    auto f = File::open(dir.file("aligned.gguf"));
    EXPECT_EQ(f->alignment(), 128u);
    EXPECT_EQ(f->get("general.alignment").type(), ValueType::UINT32);
    EXPECT_EQ(f->data_offset() % 128, 0u);
    EXPECT_EQ(f->tensor("b").offset, 128u);
    EXPECT_EQ(f->tensor("b").size_bytes, 34u);
    EXPECT_EQ(f->size_bytes(), f->data_offset() + 256);  // the last tensor is padded too
    const auto bytes = testing::read_all(dir.file("aligned.gguf"));
    for (size_t i = f->data_offset() + 12; i < f->data_offset() + 128; ++i) ASSERT_EQ(bytes[i], 0) << i;
    for (size_t i = f->data_offset() + 128; i < f->data_offset() + 162; ++i) ASSERT_EQ(bytes[i], 0xAB) << i;
    for (size_t i = f->data_offset() + 162; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], 0) << i;

    // Back to the default: general.alignment stays (now 32), so a reader agrees with the writer.
    w.set_alignment(32);
    w.write(dir.file("default.gguf"));
    auto g = File::open(dir.file("default.gguf"));
    EXPECT_EQ(g->alignment(), 32u);
    EXPECT_EQ(g->get_uint("general.alignment", 0), 32u);
    EXPECT_EQ(g->tensor("b").offset, 32u);
}

TEST(GgufWriter, RefusesWhatTheReaderWouldRefuse) {
    Writer w;
    auto none = [](uint8_t*, size_t) {};
    EXPECT_EQ(error_of([&] { w.set_alignment(24); }),
              "GGUF alignment 24 is not a power of two that fits in uint32");
    EXPECT_EQ(error_of([&] { w.set("general.alignment", Value::make_uint(ValueType::UINT64, 64)); }),
              "general.alignment must be uint32, not uint64");
    EXPECT_EQ(error_of([&] { w.add_tensor("q", {33, 2}, TypeId::Q4_0, none); }),
              "tensor 'q': row length 33 is not a multiple of the q4_0 block size 32");
    EXPECT_EQ(error_of([&] { w.add_tensor("z", {4, 0}, TypeId::F32, none); }),
              "tensor 'z': dimension 0 is not positive");
    EXPECT_EQ(error_of([&] { w.add_tensor("five", {1, 1, 1, 1, 1}, TypeId::F32, none); }),
              "tensor 'five': 5 dimensions (at most 4)");
    EXPECT_EQ(error_of([&] { w.add_tensor(std::string(64, 'n'), {1}, TypeId::F32, none); }),
              "tensor '" + std::string(64, 'n') + "': name is 64 bytes long (ggml allows at most 63)");
    w.add_tensor("t", {1}, TypeId::F32, none);
    EXPECT_EQ(error_of([&] { w.add_tensor("t", {1}, TypeId::F32, none); }), "duplicate tensor name 't'");
    EXPECT_EQ(error_of([] { Value::make_uint(ValueType::UINT8, 256); }), "256 does not fit in uint8");
    EXPECT_EQ(error_of([] { Value::make_array(ValueType::INT32, {Value::make_bool(true)}); }),
              "array of int32 has element #0 of type bool");
}

TEST(GgufWriter, AtomicWrite) {
    TempDir dir;
    const std::string path = dir.file("model.gguf");
    testing::write_all(path, {'o', 'l', 'd'});
    Writer w;
    w.add_tensor("ok", {4}, TypeId::F32, fill_floats({1, 2, 3, 4}));
    w.add_tensor("bad", {4}, TypeId::F32, [](uint8_t*, size_t) { throw Error("quantizer failed on 'bad'"); });
    EXPECT_EQ(error_of([&] { w.write(path); }), "quantizer failed on 'bad'");
    EXPECT_EQ(testing::read_all(path), (std::vector<uint8_t>{'o', 'l', 'd'}));  // untouched
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

    const std::string missing_dir = dir.file("no/such/dir/model.gguf");
    EXPECT_EQ(error_of([&] { Writer().write(missing_dir); }),
              missing_dir + ".tmp: cannot create: No such file or directory");
}

TEST(GgufWriter, StreamsOneTensorAtATimeInOrder) {
    Writer w;
    std::vector<std::string> calls;
    for (const char* name : {"first", "second", "third"})
        w.add_tensor(name, {64}, TypeId::F32, [&calls, name](uint8_t* dst, size_t n) {
            calls.push_back(name);
            std::memset(dst, (int)calls.size(), n);
        });
    TempDir dir;
    w.write(dir.file("s.gguf"));
    EXPECT_EQ(calls, (std::vector<std::string>{"first", "second", "third"}));
    auto f = File::open(dir.file("s.gguf"));
    EXPECT_EQ(f->tensor("third").data[255], 3);
}

// copy_of(file).write() must give back the file itself, byte for byte.
void expect_round_trip_identical(const std::string& source) {
    auto file = File::open(source);
    TempDir dir;
    const std::string copy = dir.file("copy.gguf");
    Writer::copy_of(*file).write(copy);
    MappedFile a(source), b(copy);
    ASSERT_EQ(a.size_bytes(), b.size_bytes());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size_bytes()), 0) << source;
}

TEST(GgufWriter, CopyOfPythonFixtureIsIdentical) { expect_round_trip_identical(fixture("python_writer.gguf")); }

TEST(GgufWriter, CopyOfQwen3ModelIsIdentical) {
    expect_round_trip_identical(std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf");
}

TEST(GgufWriter, CopyOfSmolLM2ModelIsIdentical) {
    const char* path = std::getenv("SHOOTOUT_SMOLLM2_GGUF");
    if (!path || !*path) GTEST_SKIP() << "SHOOTOUT_SMOLLM2_GGUF is not set (path to SmolLM2-135M-Instruct.Q4_1.gguf)";
    expect_round_trip_identical(path);
}

}  // namespace
}  // namespace shootout::gguf
