// The hand-written pre-tokenizer matchers against the regular expressions they stand for, as the PyPI
// package `regex` (the semantics of Hugging Face's tokenizers) splits the same texts
// (tests/data/tokenizer/pretokenizer_splits.txt, from tools/tokenizer_reference.py splits).
#include <gtest/gtest.h>

#include <map>

#include "model/tokenizer_pretokenize.h"
#include "model/unicode.h"
#include "tokenizer_test_util.h"

namespace shootout::tokenizer_detail {
namespace {

std::vector<std::string> split(const std::vector<SplitRule>& rules, const std::string& text) {
    std::vector<uint32_t> cpts, lengths, scratch;
    std::vector<uint16_t> flags;
    unicode::decode_utf8(text, cpts);
    pre_tokenize(rules, cpts, lengths, scratch, flags);
    std::vector<std::string> words;
    size_t begin = 0;
    for (uint32_t length : lengths) {
        std::string word;
        for (size_t i = begin; i < begin + length; ++i) unicode::append_utf8(cpts[i], word);
        words.push_back(word);
        begin += length;
    }
    return words;
}

TEST(PreTokenizer, MatchesTheRegularExpressions) {
    const std::map<std::string, SplitRule> rules = {
        {"gpt2", SplitRule::Gpt2}, {"llama3", SplitRule::Llama3}, {"qwen2", SplitRule::Qwen2}};
    const auto lines = tokenizer_test::data_lines(std::string(SHOOTOUT_SOURCE_DIR) +
                                                  "/tests/data/tokenizer/pretokenizer_splits.txt");
    ASSERT_EQ(lines.size() % 2, 0u);
    size_t n_nonempty = 0;
    for (size_t i = 0; i < lines.size(); i += 2) {
        const auto head = tokenizer_test::split_tabs(lines[i]);
        ASSERT_EQ(head.size(), 2u) << lines[i];
        const std::string text = tokenizer_test::unescape(head[1]);
        std::vector<std::string> expected;
        if (!text.empty()) {
            for (const std::string& word : tokenizer_test::split_tabs(lines[i + 1]))
                expected.push_back(tokenizer_test::unescape(word));
            ++n_nonempty;
        }
        EXPECT_EQ(split({rules.at(head[0])}, text), expected) << head[0] << ": '" << head[1] << "'";
    }
    EXPECT_GT(n_nonempty, 100u);
}

// Rules after the first split every piece the earlier ones left, and text between matches stays a
// piece of its own (std::regex_iterator as llama.cpp uses it for these expressions).
TEST(PreTokenizer, LaterRulesSplitEveryPiece) {
    // starcoder/smollm: each digit alone, then gpt2 inside the rest.
    EXPECT_EQ(split({SplitRule::EachNumber, SplitRule::Gpt2}, "ab 123x"),
              (std::vector<std::string>{"ab", " ", "1", "2", "3", "x"}));
    // falcon: punctuation runs, gpt2, then runs of three ASCII digits.
    EXPECT_EQ(split({SplitRule::PunctuationRunsFalcon, SplitRule::Gpt2, SplitRule::AsciiDigitTriples}, "a.,b 12345"),
              (std::vector<std::string>{"a", ".,", "b", " ", "123", "45"}));
    EXPECT_EQ(split({SplitRule::TrailingWhitespace}, "a b  "), (std::vector<std::string>{"a b", "  "}));
    EXPECT_EQ(split({SplitRule::CjkRuns}, "ab\xe4\xb8\xad\xe6\x96\x87x"),
              (std::vector<std::string>{"ab", "\xe4\xb8\xad\xe6\x96\x87", "x"}));
}

TEST(PreTokenizer, KnownNamesAndUnknownOnes) {
    EXPECT_EQ(pre_tokenizer_config("gpt-2")->rules, std::vector<SplitRule>{SplitRule::Gpt2});
    EXPECT_EQ(pre_tokenizer_config("smollm")->rules, (std::vector<SplitRule>{SplitRule::EachNumber, SplitRule::Gpt2}));
    EXPECT_TRUE(pre_tokenizer_config("llama-bpe")->ignore_merges);
    EXPECT_TRUE(pre_tokenizer_config("llama-bpe")->add_bos);
    EXPECT_EQ(pre_tokenizer_config("qwen2")->rules, std::vector<SplitRule>{SplitRule::Qwen2});
    EXPECT_EQ(pre_tokenizer_config("")->rules.size(), 4u);  // llama.cpp's "default"
    EXPECT_FALSE(pre_tokenizer_config("no-such-pre").has_value());
}

TEST(Unicode, DecodesAsLlamaCpp) {
    std::vector<uint32_t> cpts;
    unicode::decode_utf8("a\xc3\xa9\xe4\xb8\xad\xf0\x9f\xa6\x99", cpts);
    EXPECT_EQ(cpts, (std::vector<uint32_t>{'a', 0xE9, 0x4E2D, 0x1F999}));
    // A lone continuation byte, a truncated sequence and 0xFF each become one U+FFFD.
    unicode::decode_utf8("\x80x\xe4\xb8y\xff", cpts);
    EXPECT_EQ(cpts, (std::vector<uint32_t>{0xFFFD, 'x', 0xFFFD, 0xFFFD, 'y', 0xFFFD}));
    EXPECT_EQ(unicode::flags(' ') & unicode::kWhitespace, unicode::kWhitespace);
    EXPECT_EQ(unicode::flags(0x3000) & unicode::kWhitespace, unicode::kWhitespace);
    EXPECT_TRUE(unicode::flags(0x4E2D) & unicode::kLetter);
    EXPECT_TRUE(unicode::flags(0x0661) & unicode::kNumber);  // ARABIC-INDIC DIGIT ONE
    EXPECT_TRUE(unicode::flags(0x2EBF0) & unicode::kLetter);  // CJK Extension I, new in Unicode 15.1
    EXPECT_EQ(unicode::flags(0x10FFFF), unicode::kUnassigned);
    // GPT-2's byte map: printable bytes stay, space is U+0120, and the map is a bijection.
    EXPECT_EQ(unicode::byte_to_codepoint('a'), uint32_t('a'));
    EXPECT_EQ(unicode::byte_to_codepoint(' '), 0x120u);
    for (int byte = 0; byte < 256; ++byte) EXPECT_EQ(unicode::codepoint_to_byte(unicode::byte_to_codepoint(uint8_t(byte))), byte);
}

}  // namespace
}  // namespace shootout::tokenizer_detail
