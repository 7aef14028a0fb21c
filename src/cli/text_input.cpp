#include "cli/text_input.h"

#include <fstream>
#include <sstream>

#include "gguf/gguf.h"
#include "model/tokenizer.h"
#include "util/error.h"

namespace shootout::cli {

std::string read_text_file(const std::string& path, bool allow_empty) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open the text file");
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) fail(path, "cannot read the text file");
    std::string text = content.str();
    if (text.empty() && !allow_empty) fail(path, "the text is empty");
    return text;
}

std::vector<int32_t> tokenize_for_perplexity(const Tokenizer& tokenizer, const std::string& text) {
    return tokenizer.tokenize(text, /*add_special=*/true, /*parse_special=*/true);
}

void check_same_vocabulary(const gguf::File& reference, const gguf::File& variant) {
    const char* key = "tokenizer.ggml.tokens";
    const gguf::Value* a = reference.find(key);
    const gguf::Value* b = variant.find(key);
    if (!a || !b) fail(variant.path(), std::string("missing ") + key + " (cannot check the vocabulary)");
    const auto& ta = a->as_array();
    const auto& tb = b->as_array();
    if (ta.size() != tb.size())
        fail(variant.path(), "vocabulary of " + std::to_string(tb.size()) + " tokens differs from the reference's " +
                                 std::to_string(ta.size()) + " (" + reference.path() + ")");
    for (size_t i = 0; i < ta.size(); ++i)
        if (ta[i].as_string() != tb[i].as_string())
            fail(variant.path(), "token " + std::to_string(i) + " differs from the reference's (" + reference.path() +
                                     "): not the same vocabulary");
}

}  // namespace shootout::cli
