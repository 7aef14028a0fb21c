// Internals shared by the tokenizer's files: splitting special tokens out of the text, the rendering
// of token pieces, and the two tokenizer kinds (byte-level BPE and SentencePiece).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"
#include "model/tokenizer_vocab.h"

namespace shootout::tokenizer_detail {

// A run of the input text [offset, offset + length), or a special token (token >= 0).
struct Fragment {
    int32_t token = -1;
    size_t offset = 0;
    size_t length = 0;
};

// llama.cpp's tokenizer_st_partition: each special token in turn (longest first) is cut out of every
// text fragment, honouring its lstrip/rstrip attributes. Control and unknown tokens take part only
// with parse_special; user-defined tokens always do.
void partition_special_tokens(const Vocab& vocab, std::string_view text, bool parse_special,
                              std::vector<Fragment>& fragments);

// The token's text as llama_token_to_piece(special = true) renders it.
std::string render_piece(const Vocab& vocab, int32_t token);

// What both kinds share: the vocabulary and the rendered pieces.
class VocabTokenizer : public Tokenizer {
public:
    explicit VocabTokenizer(Vocab vocab);
    std::string token_to_piece(int32_t token) const override;
    int32_t n_vocab() const override { return vocab_.n_tokens(); }
    bool add_bos() const override { return vocab_.add_bos; }
    int32_t bos_id() const override { return vocab_.bos_id; }
    int32_t eos_id() const override { return vocab_.eos_id; }

protected:
    // BOS/EOS as llama.cpp adds them; throws when the vocab asks for one it does not have.
    void append_bos(bool add_special, std::vector<int32_t>& ids) const;
    void append_eos(bool add_special, std::vector<int32_t>& ids) const;
    Vocab vocab_;
    std::vector<std::string> pieces_;
};

std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab);
std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab);

}  // namespace shootout::tokenizer_detail
