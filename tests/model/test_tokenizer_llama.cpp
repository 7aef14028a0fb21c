// Token ids identical to llama.cpp's: golden files written by tools/tokenizer_llama_golden.py with
// llama-tokenize on our own strings (edge cases, invalid UTF-8, special-token texts), for the qwen3
// GGUF (pre-tokenizer gpt-2) and SmolLM2 (pre-tokenizer smollm, SHOOTOUT_SMOLLM2_GGUF).
#include <gtest/gtest.h>

#include <cstdlib>

#include "gguf/gguf.h"
#include "model/tokenizer.h"
#include "tokenizer_test_util.h"

namespace shootout {
namespace {

// The golden files escape bytes: "\\" is a backslash and \xNN any other byte.
std::string unescape_bytes(const std::string& escaped) {
    std::string out;
    for (size_t i = 0; i < escaped.size(); ++i) {
        if (escaped[i] == '\\' && i + 1 < escaped.size() && escaped[i + 1] == 'x') {
            out += char(std::stoi(escaped.substr(i + 2, 2), nullptr, 16));
            i += 3;
        } else if (escaped[i] == '\\' && i + 1 < escaped.size()) {
            out += escaped[++i];
        } else {
            out += escaped[i];
        }
    }
    return out;
}

void expect_golden(const std::string& model_path, const std::string& golden_name) {
    auto file = gguf::File::open(model_path);
    auto tokenizer = Tokenizer::from_gguf(*file);
    const auto lines = tokenizer_test::data_lines(std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/tokenizer/" + golden_name);
    int parse_special = -1;
    size_t n_cases = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].rfind("parse_special ", 0) == 0) {
            parse_special = std::stoi(lines[i].substr(14));
            continue;
        }
        ASSERT_LT(i + 1, lines.size());
        const std::string text = unescape_bytes(lines[i]);
        const std::vector<int32_t> expected = tokenizer_test::parse_ids(lines[i + 1]);
        // llama-tokenize adds special tokens exactly when the vocabulary adds a BOS.
        EXPECT_EQ(tokenizer->tokenize(text, tokenizer->add_bos(), parse_special == 1), expected)
            << golden_name << ": '" << lines[i] << "' parse_special " << parse_special;
        ++i;
        ++n_cases;
    }
    EXPECT_GT(n_cases, 100u);
}

TEST(TokenizerVsLlamaCpp, Qwen3Gpt2PreTokenizer) {
    expect_golden(std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf", "llama_tokenize_qwen3.txt");
}

TEST(TokenizerVsLlamaCpp, SmolLM2SmollmPreTokenizer) {
    const char* path = std::getenv("SHOOTOUT_SMOLLM2_GGUF");
    if (path == nullptr || *path == '\0') GTEST_SKIP() << "SHOOTOUT_SMOLLM2_GGUF is not set (SmolLM2-135M-Instruct.Q4_1.gguf)";
    expect_golden(path, "llama_tokenize_smollm2.txt");
}

}  // namespace
}  // namespace shootout
