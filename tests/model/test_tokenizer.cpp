// The BPE tokenizer on the qwen3-34m-code GGUF (tokenizer.ggml.pre = gpt-2, no BOS) against the PyPI
// package `tokenizers` on the same model's tokenizer.json: edge cases (golden file) and all of
// wikitext-2 (reference ids computed at test time).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "gguf/gguf.h"
#include "model/tokenizer.h"
#include "tokenizer_test_util.h"
#include "util/error.h"

namespace shootout {
namespace {

using tokenizer_test::data_lines;
using tokenizer_test::parse_ids;
using tokenizer_test::read_file;
using tokenizer_test::unescape;

const std::string kModelDir = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code";

class Qwen3Tokenizer : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        file_ = gguf::File::open(kModelDir + "/model-bf16.gguf").release();
        tokenizer_ = Tokenizer::from_gguf(*file_).release();
    }
    static void TearDownTestSuite() {
        delete tokenizer_;
        delete file_;
    }
    static gguf::File* file_;
    static Tokenizer* tokenizer_;
};
gguf::File* Qwen3Tokenizer::file_ = nullptr;
Tokenizer* Qwen3Tokenizer::tokenizer_ = nullptr;

TEST_F(Qwen3Tokenizer, MetadataAsTheGgufSays) {
    EXPECT_EQ(file_->get_string("tokenizer.ggml.pre", ""), "gpt-2");
    EXPECT_EQ(tokenizer_->n_vocab(), 16384);
    EXPECT_FALSE(tokenizer_->add_bos());
    EXPECT_EQ(tokenizer_->bos_id(), 0);
    EXPECT_EQ(tokenizer_->eos_id(), 0);
}

TEST_F(Qwen3Tokenizer, EdgeCasesMatchHuggingFaceTokenizers) {
    const auto lines = data_lines(std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/tokenizer/qwen3_cases.txt");
    int parse_special = -1;
    size_t n_cases = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].rfind("parse_special ", 0) == 0) {
            parse_special = std::stoi(lines[i].substr(14));
            continue;
        }
        ASSERT_LT(i + 1, lines.size());
        const std::string text = unescape(lines[i]);
        const std::vector<int32_t> expected = parse_ids(lines[i + 1]);
        ++i;
        ++n_cases;
        // add_special as llama-perplexity passes it: the vocab adds no BOS, so nothing changes.
        for (bool add_special : {false, true}) {
            EXPECT_EQ(tokenizer_->tokenize(text, add_special, parse_special == 1), expected)
                << "text '" << lines[i - 1] << "' parse_special " << parse_special << " add_special " << add_special;
        }
    }
    EXPECT_GT(n_cases, 60u);
}

TEST_F(Qwen3Tokenizer, EmptyTextGivesNoTokens) {
    EXPECT_TRUE(tokenizer_->tokenize("", true, true).empty());
    EXPECT_TRUE(tokenizer_->tokenize("", false, false).empty());
}

// llama.cpp decodes each byte that starts no valid UTF-8 sequence as U+FFFD (unicode_cpts_from_utf8)
// and tokenizes that character; Hugging Face cannot take such text at all.
TEST_F(Qwen3Tokenizer, InvalidUtf8BytesBecomeReplacementCharacters) {
    EXPECT_EQ(tokenizer_->tokenize("a\xff b\x80\x80 c\xe4\xb8", false, true),
              tokenizer_->tokenize("a\xef\xbf\xbd b\xef\xbf\xbd\xef\xbf\xbd c\xef\xbf\xbd\xef\xbf\xbd", false, true));
    EXPECT_FALSE(tokenizer_->tokenize("\xc3", false, true).empty());
}

TEST_F(Qwen3Tokenizer, PiecesAsLlamaCppRendersThem) {
    EXPECT_EQ(tokenizer_->token_to_piece(0), "<|endoftext|>");  // control tokens render their text
    const std::vector<int32_t> ids = tokenizer_->tokenize(" hello\n\t\xc3\xa9", false, false);
    std::string joined;
    for (int32_t id : ids) joined += tokenizer_->token_to_piece(id);
    EXPECT_EQ(joined, " hello\n\t\xc3\xa9");
    EXPECT_THROW(tokenizer_->token_to_piece(16384), Error);
    EXPECT_THROW(tokenizer_->token_to_piece(-1), Error);
}

// All of wikitext-2 against tokenizers' encode, computed now by tools/tokenizer_reference.py.
TEST_F(Qwen3Tokenizer, WikitextMatchesHuggingFaceTokenizers) {
    const std::string text_path = std::string(SHOOTOUT_SHARED_DIR) + "/data/wikitext-2-test.txt";
    const std::string ids_path = (std::filesystem::temp_directory_path() /
                                  ("shootout_wikitext_ids_" + std::to_string(::getpid()) + ".txt")).string();
    const std::string command = "python3 " + std::string(SHOOTOUT_SOURCE_DIR) + "/tools/tokenizer_reference.py encode " +
                                kModelDir + "/tokenizer.json " + text_path + " " + ids_path;
    if (std::system(command.c_str()) != 0) {
        std::remove(ids_path.c_str());
        GTEST_SKIP() << "reference unavailable (needs python3 with the PyPI package tokenizers): " << command;
    }
    const std::vector<int32_t> expected = parse_ids(read_file(ids_path));
    std::remove(ids_path.c_str());
    const std::string text = read_file(text_path);
    const std::vector<int32_t> ids = tokenizer_->tokenize(text, true, true);
    ASSERT_GT(expected.size(), 400000u);
    ASSERT_EQ(ids.size(), expected.size());
    for (size_t i = 0; i < ids.size(); ++i) {
        ASSERT_EQ(ids[i], expected[i]) << "first difference at token " << i;
    }
    // Byte-level BPE pieces concatenate back to the text.
    std::string joined;
    for (int32_t id : ids) joined += tokenizer_->token_to_piece(id);
    EXPECT_TRUE(joined == text);
}

// A GGUF holding only the given tokenizer metadata, written to a temporary file.
std::unique_ptr<gguf::File> vocab_only_file(const std::string& name, const std::string& model, const std::string& pre) {
    gguf::Writer writer;
    writer.set("general.architecture", gguf::Value::make_string("llama"));
    if (!model.empty()) {
        writer.set("tokenizer.ggml.model", gguf::Value::make_string(model));
        writer.set("tokenizer.ggml.pre", gguf::Value::make_string(pre));
        std::vector<gguf::Value> tokens, merges;
        for (const char* text : {"a", "b", "ab"}) tokens.push_back(gguf::Value::make_string(text));
        merges.push_back(gguf::Value::make_string("a b"));
        writer.set("tokenizer.ggml.tokens", gguf::Value::make_array(gguf::ValueType::STRING, tokens));
        writer.set("tokenizer.ggml.merges", gguf::Value::make_array(gguf::ValueType::STRING, merges));
    }
    const std::string path = (std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()) + ".gguf")).string();
    writer.write(path);
    auto file = gguf::File::open(path);
    std::remove(path.c_str());  // the mapping stays valid
    return file;
}

TEST(TokenizerErrors, NameTheFileAndWhatIsMissing) {
    auto no_vocab = vocab_only_file("no_vocab", "", "");
    try {
        Tokenizer::from_gguf(*no_vocab);
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.model"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(no_vocab->path()), std::string::npos) << e.what();
    }
    auto unknown_pre = vocab_only_file("unknown_pre", "gpt2", "no-such-pre");
    try {
        Tokenizer::from_gguf(*unknown_pre);
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos) << e.what();
    }
    auto unknown_model = vocab_only_file("unknown_model", "t5", "");
    EXPECT_THROW(Tokenizer::from_gguf(*unknown_model), Error);
    // The tiny vocabulary itself works: "ab" merges, "ba" does not.
    auto tiny = vocab_only_file("tiny", "gpt2", "gpt-2");
    EXPECT_EQ(Tokenizer::from_gguf(*tiny)->tokenize("abba", false, false), (std::vector<int32_t>{2, 1, 0}));
}

}  // namespace
}  // namespace shootout
