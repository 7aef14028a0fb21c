// `shootout inspect` output: every key, tensor and type appears with the values the Python writer stored.
#include <gtest/gtest.h>

#include <sstream>

#include "gguf/describe.h"
#include "gguf_test_util.h"

namespace shootout::gguf {
namespace {

using testing::fixture;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// The line that starts (after indentation) with `first_word` followed by a space.
std::string line_starting(const std::string& text, const std::string& first_word) {
    for (const auto& line : lines_of(text)) {
        const size_t start = line.find_first_not_of(' ');
        if (start != std::string::npos && line.compare(start, first_word.size() + 1, first_word + " ") == 0)
            return line;
    }
    ADD_FAILURE() << "no line starts with '" << first_word << "' in:\n" << text;
    return "";
}

// Whitespace-separated words of a line, for checks that do not depend on column widths.
std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

TEST(GgufDescribe, PythonFixture) {
    auto file = File::open(fixture("python_writer.gguf"));
    const std::string text = describe(*file, false);
    EXPECT_NE(text.find("GGUF v3, 1.81 KiB (1,856 bytes), alignment 64, data section at offset 1,216"),
              std::string::npos)
        << text;
    EXPECT_EQ(words(line_starting(text, "test.uint64")),
              (std::vector<std::string>{"test.uint64", "uint64", "9223372036854775813"}));
    EXPECT_EQ(words(line_starting(text, "test.float32")), (std::vector<std::string>{"test.float32", "float32", "0.1"}));
    EXPECT_EQ(words(line_starting(text, "test.string")),
              (std::vector<std::string>{"test.string", "string", "\"h\xc3\xa9llo\\nworld\""}));
    EXPECT_EQ(words(line_starting(text, "test.array.string")),
              (std::vector<std::string>{"test.array.string", "string[3]", "[\"a\",", "\"\",", "\"ccc\"]"}));
    EXPECT_EQ(words(line_starting(text, "test.array.nested")),
              (std::vector<std::string>{"test.array.nested", "array[2]", "[int32[2]", "[1,", "2],", "int32[1]", "[3]]"}));
    // Tensor rows: index, name, type, shape (ggml order), bytes, offset.
    EXPECT_EQ(words(line_starting(text, "2")),
              (std::vector<std::string>{"2", "q8_0.matrix", "q8_0", "[64,", "2]", "136", "128"}));
    EXPECT_EQ(words(line_starting(text, "6")),
              (std::vector<std::string>{"6", "f32.rank4", "f32", "[2,", "2,", "2,", "2]", "64", "576"}));
    // Per-type summary: f32 is 3 tensors of 12 + 24 + 16 weights, 4 bytes each.
    EXPECT_EQ(words(line_starting(text, "f32")),
              (std::vector<std::string>{"f32", "3", "tensors", "52", "weights", "208", "bytes", "208", "B", "32.0000",
                                        "bits", "per", "weight"}));
    EXPECT_EQ(words(line_starting(text, "q8_0")),
              (std::vector<std::string>{"q8_0", "1", "tensors", "128", "weights", "136", "bytes", "136", "B", "8.5000",
                                        "bits", "per", "weight"}));
    // Total: 404 bytes for 207 weights.
    EXPECT_EQ(words(line_starting(text, "total")),
              (std::vector<std::string>{"total", "7", "tensors", "207", "weights", "404", "bytes", "404", "B",
                                        "15.6135", "bits", "per", "weight"}));
}

TEST(GgufDescribe, LongArraysAndStringsAreSummarized) {
    std::vector<Value> tokens;
    for (int i = 0; i < 1000; ++i) tokens.push_back(Value::make_string("t" + std::to_string(i)));
    const Value array = Value::make_array(ValueType::STRING, tokens);
    EXPECT_EQ(format_value(array, false), "[\"t0\", \"t1\", \"t2\", \"t3\", \"t4\", ... (995 more)]");
    const std::string full = format_value(array, true);
    EXPECT_EQ(full.rfind("[\"t0\", \"t1\", ", 0), 0u);
    EXPECT_EQ(full.substr(full.size() - 15), "\"t998\", \"t999\"]");
    EXPECT_EQ(full.find("more"), std::string::npos);
    const Value long_string = Value::make_string(std::string(100, 'x') + "\t\x01");
    EXPECT_EQ(format_value(long_string, false), "\"" + std::string(60, 'x') + "\"... (102 bytes)");
    EXPECT_EQ(format_value(long_string, true), "\"" + std::string(100, 'x') + "\\t\\x01\"");
    EXPECT_EQ(format_value(Value::make_float(ValueType::FLOAT32, 1e-5), false), "1e-05");
    EXPECT_EQ(format_value(Value::make_float(ValueType::FLOAT32, 1e6), false), "1000000");
}

TEST(GgufDescribe, Qwen3ModelSummary) {
    auto file = File::open(std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf");
    const std::string text = describe(*file, false);
    EXPECT_NE(text.find("architecture qwen3"), std::string::npos);
    const auto total = words(line_starting(text, "total"));
    ASSERT_GE(total.size(), 2u);
    EXPECT_EQ(total[1], std::to_string(file->tensors().size()));
    EXPECT_NE(text.find("token_embd.weight"), std::string::npos);
    EXPECT_NE(text.find("(16,379 more)"), std::string::npos);  // 16384 tokens, 5 shown
}

}  // namespace
}  // namespace shootout::gguf
