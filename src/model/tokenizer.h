// Text to token ids from a GGUF's tokenizer metadata (tokenizer.ggml.*), identical to llama.cpp's
// llama_tokenize: byte-level BPE with llama.cpp's pre-tokenizers (gpt2, llama-bpe, qwen2, smollm, ...)
// and SentencePiece (llama-spm). Never touches tensor data, so vocab-only files work.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shootout::gguf {
class File;
}

namespace shootout {

class Tokenizer {
public:
    // Throws Error naming the file when the vocabulary is missing or of an unsupported kind.
    static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);
    virtual ~Tokenizer() = default;

    // As llama_tokenize(text, add_special, parse_special): add_special adds BOS/EOS where the vocab
    // says so (tokenizer.ggml.add_bos_token / add_eos_token); parse_special turns the text of
    // control/user-defined tokens into those tokens.
    virtual std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const = 0;

    // The token's text as llama_token_to_piece(special = true) renders it (byte-level BPE decoded to
    // bytes, SPM's U+2581 to a space, byte tokens <0xXX> to the byte, control tokens as their text).
    // Throws Error for an id outside the vocabulary. tokenize() and token_to_piece() are thread-safe.
    virtual std::string token_to_piece(int32_t token) const = 0;

    virtual int32_t n_vocab() const = 0;
    virtual bool add_bos() const = 0;
    virtual int32_t bos_id() const = 0;  // -1 when the vocab has none
    virtual int32_t eos_id() const = 0;
};

}  // namespace shootout
