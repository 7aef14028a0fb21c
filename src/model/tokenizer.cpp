#include "model/tokenizer.h"

#include <cstdlib>

#include "gguf/gguf.h"
#include "model/tokenizer_impl.h"
#include "model/unicode.h"
#include "util/error.h"

namespace shootout {

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
    tokenizer_detail::Vocab vocab = tokenizer_detail::load_vocab(file);
    if (vocab.kind == tokenizer_detail::VocabKind::Bpe) return tokenizer_detail::make_bpe_tokenizer(std::move(vocab));
    return tokenizer_detail::make_spm_tokenizer(std::move(vocab));
}

namespace tokenizer_detail {
namespace {

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

void partition_special_tokens(const Vocab& vocab, std::string_view text, bool parse_special,
                              std::vector<Fragment>& fragments) {
    fragments.clear();
    if (text.empty()) return;
    fragments.push_back({-1, 0, text.size()});
    std::vector<Fragment> next;
    for (int32_t special : vocab.special_tokens) {
        const uint16_t attr = vocab.attrs[special];
        if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
        const std::string& special_text = vocab.texts[special];
        // Most special tokens never occur; look once over the whole text before rebuilding the list.
        if (text.find(special_text) == std::string_view::npos) continue;
        next.clear();
        for (const Fragment& fragment : fragments) {
            if (fragment.token >= 0) {
                next.push_back(fragment);
                continue;
            }
            size_t offset = fragment.offset, length = fragment.length;
            while (length > 0) {
                const size_t match = text.substr(0, offset + length).find(special_text, offset);
                if (match == std::string_view::npos) {
                    next.push_back({-1, offset, length});
                    break;
                }
                size_t left_length = match - offset;
                if (attr & kAttrLstrip) {
                    while (left_length > 0 && is_ascii_space(text[offset + left_length - 1])) --left_length;
                }
                if (left_length > 0) next.push_back({-1, offset, left_length});
                next.push_back({special, 0, 0});
                size_t right_offset = match + special_text.size();
                size_t right_length = offset + length - right_offset;
                if (attr & kAttrRstrip) {
                    while (right_length > 0 && is_ascii_space(text[right_offset])) ++right_offset, --right_length;
                }
                offset = right_offset;
                length = right_length;
            }
        }
        fragments.swap(next);
    }
}

std::string render_piece(const Vocab& vocab, int32_t token) {
    const std::string& text = vocab.texts[token];
    const uint16_t attr = vocab.attrs[token];
    if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return text;
    if (attr & kAttrNormal) {
        std::string piece;
        if (vocab.kind == VocabKind::Spm) {
            // U+2581 (the escaped space) back to a space.
            for (size_t i = 0; i < text.size(); ++i) {
                if (text.compare(i, 3, "\xe2\x96\x81") == 0) {
                    piece += ' ';
                    i += 2;
                } else {
                    piece += text[i];
                }
            }
            return piece;
        }
        // Byte-level BPE: each character stands for one byte.
        std::vector<uint32_t> cpts;
        unicode::decode_utf8(text, cpts);
        for (uint32_t cpt : cpts) {
            const int byte = unicode::codepoint_to_byte(cpt);
            if (byte >= 0) {
                piece += char(byte);
                continue;
            }
            // llama.cpp writes the character's UTF-8 bytes and then the whole token text.
            std::string utf8;
            unicode::append_utf8(cpt, utf8);
            piece += "[UNK_BYTE_0x";
            static const char* hex = "0123456789abcdef";
            for (unsigned char c : utf8) {
                piece += hex[c >> 4];
                piece += hex[c & 15];
            }
            piece += text + "]";
        }
        return piece;
    }
    if (attr & kAttrByte) {
        // <0xXX>: llama.cpp reads the two characters after "<0x" with strtol (0 when they are not hex).
        const std::string digits = text.size() > 3 ? text.substr(3, 2) : std::string();
        return std::string(1, char(std::strtol(digits.c_str(), nullptr, 16)));
    }
    return {};
}

VocabTokenizer::VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
    pieces_.reserve(vocab_.n_tokens());
    for (int32_t id = 0; id < vocab_.n_tokens(); ++id) {
        pieces_.push_back(render_piece(vocab_, id));
    }
}

std::string VocabTokenizer::token_to_piece(int32_t token) const {
    if (token < 0 || token >= n_vocab())
        fail(vocab_.source, "token id " + std::to_string(token) + " outside the vocabulary of " + std::to_string(n_vocab()));
    return pieces_[token];
}

void VocabTokenizer::append_bos(bool add_special, std::vector<int32_t>& ids) const {
    if (!add_special || !vocab_.add_bos) return;
    if (vocab_.bos_id < 0) fail(vocab_.source, "the vocabulary adds a BOS token but has none");
    ids.push_back(vocab_.bos_id);
}

void VocabTokenizer::append_eos(bool add_special, std::vector<int32_t>& ids) const {
    if (!add_special || !vocab_.add_eos) return;
    if (vocab_.eos_id < 0) fail(vocab_.source, "the vocabulary adds an EOS token but has none");
    ids.push_back(vocab_.eos_id);
}

}  // namespace tokenizer_detail
}  // namespace shootout
