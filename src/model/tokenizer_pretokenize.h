// BPE pre-tokenizers: the text is cut into words before BPE merges, by the regular expressions that
// llama.cpp associates with each tokenizer.ggml.pre value. Each expression is one SplitRule here, a
// hand-written matcher with the semantics llama.cpp gives it (its custom matchers for the gpt2, llama3
// and qwen2 expressions; std::regex search semantics for the others, where every rule splits every
// piece the previous rules left, and the text between matches stays a piece of its own).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace shootout::tokenizer_detail {

enum class SplitRule : uint8_t {
    Gpt2,                   // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    Llama3,                 // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    Qwen2,                  // as Llama3 with \p{N} instead of \p{N}{1,3}
    EachNumber,             // \p{N}
    NumberRuns,             // \p{N}+
    AsciiDigitTriples,      // [0-9][0-9][0-9]
    PunctuationRuns,        // [\p{P}\$\+<=>\^~\|]+
    PunctuationRunsFalcon,  // [\p{P}\$\+<=>\^~\|`]+
    LineBreaks,             // [\r\n]
    DeepseekLlmLetters,     // \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ (cased letters of many scripts)
    DeepseekLlmPunctuation, // \s?[!-/:-~！-／：-～‘-‟　-。]+
    TrailingWhitespace,     // \s+$
    CjkRuns,                // [一-龥ࠀ-一가-퟿]+
    SpaceLetters,           // \s?\p{L}+
    SpacePunctuation,       // \s?\p{P}+
    BloomWords,             // " ?[^(\s|.,!?…。，、।۔،)]+"
};

// What a tokenizer.ggml.pre value selects in llama.cpp (llama_vocab::impl::load).
struct PreTokenizerConfig {
    std::vector<SplitRule> rules;
    bool ignore_merges = false;  // a word that is itself a token is not merged (llama3 family)
    bool add_bos = false;        // default of add_bos before tokenizer.ggml.add_bos_token
    bool no_bos = false;         // the default BOS id is dropped (chatglm)
};

// nullopt when the name is not one this implementation supports (llama.cpp may know more).
std::optional<PreTokenizerConfig> pre_tokenizer_config(std::string_view pre);

// Splits code points into words; word_lengths receives their lengths in code points, in order, and
// covers the whole input. `scratch` is reused between calls to avoid allocations.
void pre_tokenize(const std::vector<SplitRule>& rules, const std::vector<uint32_t>& cpts,
                  std::vector<uint32_t>& word_lengths, std::vector<uint32_t>& scratch,
                  std::vector<uint16_t>& flags_scratch);

}  // namespace shootout::tokenizer_detail
