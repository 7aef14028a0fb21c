// The SentencePiece path (tokenizer.ggml.model "llama") against llama.cpp's llama-tokenize, on our own
// vocabularies: tools/make_spm_vocab.py trained a small BPE SentencePiece model shaped like llama's
// (byte fallback, split digits, whitespace-only pieces) and wrote it as vocab-only GGUFs the way
// convert_hf_to_gguf.py does, in three variants: add_space_prefix true, add_space_prefix false, and a
// "Phi-3" name (llama.cpp gives its special tokens rstrip) with add_bos_token false. tools/spm_golden.py
// recorded llama-tokenize's ids for edge cases (whitespace runs, U+2581, digits, unicode with and
// without byte fallback, special-token texts, invalid UTF-8), wikitext-2 lines and 200 KB of
// wikitext-2, with and without BOS and special-token parsing.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "gguf/gguf.h"
#include "model/tokenizer.h"
#include "tokenizer_test_util.h"
#include "util/sha256.h"

namespace shootout {
namespace {

const std::string kData = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/tokenizer/";

// The golden file escapes bytes: "\\" is a backslash and \xNN any other byte.
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

std::string join(const std::vector<int32_t>& ids) {
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) out += ' ';
        out += std::to_string(ids[i]);
    }
    return out;
}

struct Loaded {
    std::unique_ptr<gguf::File> file;
    std::unique_ptr<Tokenizer> tokenizer;
};

TEST(TokenizerSpmVsLlamaCpp, IdsEqualLlamaTokenize) {
    const auto lines = tokenizer_test::data_lines(kData + "spm-llama-tokenize.txt");
    ASSERT_GT(lines.size(), 1000u) << "missing golden file";
    std::ifstream wiki_in(std::string(SHOOTOUT_SHARED_DIR) + "/data/wikitext-2-test.txt", std::ios::binary);
    std::stringstream wiki_buffer;
    wiki_buffer << wiki_in.rdbuf();
    const std::string wiki = wiki_buffer.str();

    std::map<std::string, Loaded> vocabs;
    const Tokenizer* tokenizer = nullptr;
    std::string block;
    bool add_special = false, parse_special = false;
    std::set<std::string> blocks;
    size_t n_cases = 0, n_byte_fallback = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].rfind("vocab ", 0) == 0) {
            std::istringstream fields(lines[i]);
            std::string word, name;
            int a = 0, p = 0;
            fields >> word >> name >> word >> a >> word >> p;
            if (!vocabs.count(name)) {
                Loaded& loaded = vocabs[name];
                loaded.file = gguf::File::open(kData + name);
                loaded.tokenizer = Tokenizer::from_gguf(*loaded.file);
            }
            tokenizer = vocabs[name].tokenizer.get();
            add_special = a == 1, parse_special = p == 1;
            block = lines[i];
            blocks.insert(block);
            continue;
        }
        ASSERT_NE(tokenizer, nullptr) << "case before the first 'vocab' line";
        ASSERT_LT(i + 1, lines.size());
        if (lines[i].rfind("wiki ", 0) == 0) {
            const size_t n_bytes = std::stoul(lines[i].substr(5));
            ASSERT_GE(wiki.size(), n_bytes);
            const std::string ids = join(tokenizer->tokenize(std::string_view(wiki).substr(0, n_bytes), add_special, parse_special));
            std::istringstream expected(lines[i + 1]);
            size_t count = 0;
            std::string hash;
            expected >> count >> hash;
            EXPECT_EQ(size_t(std::count(ids.begin(), ids.end(), ' ') + 1), count) << block << ": wikitext";
            EXPECT_EQ(sha256_hex(ids.data(), ids.size()), hash) << block << ": wikitext";
        } else {
            const std::vector<int32_t> expected = tokenizer_test::parse_ids(lines[i + 1]);
            EXPECT_EQ(tokenizer->tokenize(unescape_bytes(lines[i]), add_special, parse_special), expected)
                << block << ": '" << lines[i] << "'";
            // Byte tokens <0x00>..<0xFF> are ids 3..258 in a SentencePiece model with byte_fallback.
            for (int32_t id : expected) n_byte_fallback += id >= 3 && id <= 258;
        }
        ++i;
        ++n_cases;
    }
    EXPECT_EQ(vocabs.size(), 3u);
    EXPECT_EQ(blocks.size(), 10u);  // llama, noprefix: 2 x 2 flag pairs each; phi-3 (no BOS): 2
    EXPECT_GT(n_cases, 700u);
    EXPECT_GT(n_byte_fallback, 100u) << "the suite should exercise byte fallback";
}

// What the metadata says, as llama.cpp reads it for these files.
TEST(TokenizerSpmVsLlamaCpp, SpecialIdsAndFlags) {
    auto llama_file = gguf::File::open(kData + "spm-llama.gguf");
    auto llama = Tokenizer::from_gguf(*llama_file);
    EXPECT_TRUE(llama->add_bos());
    EXPECT_EQ(llama->bos_id(), 1);
    EXPECT_EQ(llama->eos_id(), 2);
    EXPECT_EQ(llama->token_to_piece(1), "<s>");
    EXPECT_EQ(llama->token_to_piece(3 + 'A'), "A");  // <0x41> renders as the byte
    auto phi3_file = gguf::File::open(kData + "spm-phi3.gguf");
    auto phi3 = Tokenizer::from_gguf(*phi3_file);
    EXPECT_FALSE(phi3->add_bos());
    EXPECT_EQ(phi3->token_to_piece(phi3->eos_id()), "<|endoftext|>");
    // The variants really differ: the space prefix, and Phi-3's rstrip after <|user|>.
    auto noprefix_file = gguf::File::open(kData + "spm-llama-noprefix.gguf");
    auto noprefix = Tokenizer::from_gguf(*noprefix_file);
    EXPECT_NE(llama->tokenize("Hello", false, true), noprefix->tokenize("Hello", false, true));
    EXPECT_NE(llama->tokenize("a<|user|>  b", false, true), phi3->tokenize("a<|user|>  b", false, true));
}

}  // namespace
}  // namespace shootout
