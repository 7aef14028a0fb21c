// The vocabulary as llama.cpp loads it from tokenizer.ggml.* metadata (llama_vocab::impl::load): token
// texts, scores and attributes (including the attributes llama.cpp adds by token text), special ids,
// add_bos/add_eos, BPE merge ranks, and the order in which special tokens are split out of the text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer_pretokenize.h"

namespace shootout::gguf {
class File;
}

namespace shootout::tokenizer_detail {

// llama_token_attr bits.
enum TokenAttr : uint16_t {
    kAttrUndefined = 0,
    kAttrUnknown = 1 << 0,
    kAttrUnused = 1 << 1,
    kAttrNormal = 1 << 2,
    kAttrControl = 1 << 3,
    kAttrUserDefined = 1 << 4,
    kAttrByte = 1 << 5,
    kAttrNormalized = 1 << 6,
    kAttrLstrip = 1 << 7,
    kAttrRstrip = 1 << 8,
};

enum class VocabKind { Spm, Bpe };

struct Vocab {
    Vocab() = default;
    Vocab(Vocab&&) = default;  // text_to_id views the strings of `texts`, which a move keeps in place
    Vocab(const Vocab&) = delete;
    Vocab& operator=(const Vocab&) = delete;

    std::string source;  // the file, for error messages
    VocabKind kind = VocabKind::Spm;
    std::string pre;     // tokenizer.ggml.pre
    PreTokenizerConfig pre_config;

    std::vector<std::string> texts;
    std::vector<float> scores;
    std::vector<uint16_t> attrs;
    // Text -> id; for repeated texts the last id wins. Keys view into `texts`.
    std::unordered_map<std::string_view, int32_t> text_to_id;

    int32_t bos_id = -1, eos_id = -1, unk_id = -1;
    bool add_bos = false, add_eos = false, add_space_prefix = false;

    // Merge ranks of byte-level BPE by the pair of token ids, with the token the merge makes (-1 when
    // its text is none); merges whose halves are not both tokens (never in a sane vocabulary) by their
    // text "left right".
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    std::unordered_map<uint64_t, Merge> merge_by_ids;
    std::unordered_map<std::string, int32_t> merge_rank_by_text;

    // Control, user-defined and unknown tokens, longest text first: the order in which llama.cpp
    // splits them out of the text.
    std::vector<int32_t> special_tokens;

    int32_t n_tokens() const { return int32_t(texts.size()); }
    int32_t find(std::string_view text) const {
        auto it = text_to_id.find(text);
        return it == text_to_id.end() ? -1 : it->second;
    }
    static uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }
};

// Throws Error naming the file when the vocabulary is missing, malformed or of an unsupported kind.
Vocab load_vocab(const gguf::File& file);

}  // namespace shootout::tokenizer_detail
