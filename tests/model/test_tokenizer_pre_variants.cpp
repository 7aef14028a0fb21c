// The pre-tokenizers whose own vocabularies we cannot ship or fetch (llama3's llama-bpe, qwen2,
// command-r): the shared qwen3 vocabulary with tokenizer.ggml.pre replaced makes llama.cpp split the
// text with each of their rules, and our ids must equal llama-tokenize's (golden file made by
// tools/tokenizer_pre_variants.sh) on edge cases and on 200 KB of wikitext-2.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "model/tokenizer.h"
#include "util/sha256.h"

namespace {

namespace fs = std::filesystem;
using shootout::Tokenizer;
namespace gguf = shootout::gguf;

const std::string kData = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/tokenizer/";
const std::string kModel = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf";

std::vector<std::string> read_cases() {
    std::ifstream in(kData + "pre-variant-cases.hex");
    std::vector<std::string> cases;
    for (std::string hex; std::getline(in, hex);) {
        std::string bytes;
        for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += (char)std::stoi(hex.substr(i, 2), nullptr, 16);
        cases.push_back(bytes);
    }
    return cases;
}

std::string join(const std::vector<int32_t>& ids) {
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
    return out;
}

// A vocab-only copy of the model's metadata with another pre-tokenizer name, as tools/vocab_with_pre.py
// writes it for llama.cpp.
std::unique_ptr<gguf::File> vocab_with_pre(const gguf::File& model, const std::string& pre, const fs::path& path) {
    gguf::Writer writer;
    for (const auto& [key, value] : model.metadata()) writer.set(key, value);
    writer.set("tokenizer.ggml.pre", gguf::Value::make_string(pre));
    writer.write(path.string());
    return gguf::File::open(path.string());
}

TEST(TokenizerPreVariants, IdsEqualLlamaTokenize) {
    const auto model = gguf::File::open(kModel);
    const std::vector<std::string> cases = read_cases();
    ASSERT_EQ(cases.size(), 20u);
    std::ifstream wiki_in(std::string(SHOOTOUT_SHARED_DIR) + "/data/wikitext-2-test.txt", std::ios::binary);
    std::string wiki(200000, '\0');
    wiki_in.read(wiki.data(), (std::streamsize)wiki.size());
    ASSERT_EQ(wiki_in.gcount(), 200000);

    std::ifstream golden(kData + "llama-tokenize-pre-variants.txt");
    ASSERT_TRUE(golden) << "missing golden file";
    const fs::path dir = fs::temp_directory_path() / ("shootout-pre-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::map<std::string, std::unique_ptr<Tokenizer>> tokenizers;
    std::map<std::string, std::unique_ptr<gguf::File>> files;
    int n_checked = 0;
    for (std::string line; std::getline(golden, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string pre, which, ids_or_count, hash;
        std::getline(fields, pre, '\t');
        std::getline(fields, which, '\t');
        std::getline(fields, ids_or_count, '\t');
        std::getline(fields, hash, '\t');
        if (!tokenizers.count(pre)) {
            files[pre] = vocab_with_pre(*model, pre, dir / (pre + ".gguf"));
            tokenizers[pre] = Tokenizer::from_gguf(*files[pre]);
        }
        const Tokenizer& tokenizer = *tokenizers[pre];
        if (which == "wiki") {
            const std::string ids = join(tokenizer.tokenize(wiki, true, true));
            EXPECT_EQ(shootout::sha256_hex(ids.data(), ids.size()), hash) << pre << " on wikitext";
            EXPECT_EQ(std::to_string(std::count(ids.begin(), ids.end(), ' ') + 1), ids_or_count) << pre;
        } else {
            const std::string& text = cases.at(std::stoul(which));
            EXPECT_EQ(join(tokenizer.tokenize(text, true, true)), ids_or_count) << pre << " case " << which;
        }
        ++n_checked;
    }
    fs::remove_all(dir);
    EXPECT_EQ(n_checked, 4 * 21);
    // The rules really differ: llama-bpe splits digit runs in threes, gpt-2 does not.
    EXPECT_NE(join(tokenizers["gpt-2"]->tokenize(cases[4], true, true)),
              join(tokenizers["llama-bpe"]->tokenize(cases[4], true, true)));
}

}  // namespace
