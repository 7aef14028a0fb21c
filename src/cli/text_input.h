// Reading the evaluation text and turning it into tokens the way llama-perplexity does (special tokens
// parsed, BOS added where the vocab says so).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shootout {
class Tokenizer;
namespace gguf {
class File;
}
}  // namespace shootout

namespace shootout::cli {

// The whole file; Error names it when missing, unreadable or (unless allow_empty) empty. An empty
// text is an error for scoring but a valid input to tokenize (llama-tokenize prints just the BOS).
std::string read_text_file(const std::string& path, bool allow_empty = false);

// llama_tokenize(text, add_special = true, parse_special = true), as llama-perplexity tokenizes.
std::vector<int32_t> tokenize_for_perplexity(const Tokenizer& tokenizer, const std::string& text);

// Variants must share the reference's vocabulary, or every KLD and PPL figure is meaningless.
// Throws Error naming the variant file and the first difference.
void check_same_vocabulary(const gguf::File& reference, const gguf::File& variant);

}  // namespace shootout::cli
