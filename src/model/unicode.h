// The Unicode facts the tokenizers need, with llama.cpp's exact conventions: UTF-8 decoding that turns
// each invalid byte into U+FFFD, general categories from Unicode 15.1 (the version llama.cpp's tables
// come from), its White_Space set, and GPT-2's byte-to-character map for byte-level BPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shootout::unicode {

// The first letter of a general category; Unassigned is Cn.
enum class UnicodeCategory : uint8_t { Unassigned, Letter, Number, Punctuation, Symbol, Mark, Separator, Control };

struct CategoryRange {
    uint32_t first;  // the range runs to the next entry's first code point
    UnicodeCategory category;
};
extern const CategoryRange kCategoryRanges[];  // unicode_tables.cpp (generated)
extern const size_t kCategoryRangeCount;

// One bit per category plus whitespace, as the pre-tokenizers test them (\p{L}, \p{N}, \s, ...).
// Every code point has at least one bit set, so 0 can stand for "past the end of the text".
enum CodepointFlag : uint16_t {
    kUnassigned = 1 << 0,
    kNumber = 1 << 1,       // \p{N}
    kLetter = 1 << 2,       // \p{L}
    kSeparator = 1 << 3,    // \p{Z}
    kMark = 1 << 4,         // \p{M}
    kPunctuation = 1 << 5,  // \p{P}
    kSymbol = 1 << 6,       // \p{S}
    kControl = 1 << 7,      // \p{C}
    kWhitespace = 1 << 8,   // \s (Unicode White_Space)
};

uint16_t flags(uint32_t cpt);

inline constexpr uint32_t kReplacementCharacter = 0xFFFD;

// Decodes as llama.cpp does: a byte that does not start a complete sequence becomes U+FFFD and
// decoding resumes at the next byte; overlong forms and surrogates are accepted as they decode.
// Sequences that decode above U+10FFFF (which llama.cpp cannot re-encode and throws on) become U+FFFD.
void decode_utf8(std::string_view text, std::vector<uint32_t>& cpts);
void append_utf8(uint32_t cpt, std::string& out);

// Length in bytes of the UTF-8 sequence that `lead` starts, from its high bits alone (1 for
// continuation bytes), as llama.cpp's BPE and SPM symbol splitting use it.
inline size_t utf8_sequence_length(uint8_t lead) {
    static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLengths[lead >> 4];
}

// GPT-2's bytes_to_unicode: byte -> code point, and back (-1 for code points that no byte maps to).
uint32_t byte_to_codepoint(uint8_t byte);
int codepoint_to_byte(uint32_t cpt);

}  // namespace shootout::unicode
