// SentencePiece (tokenizer.ggml.model "llama") as llama.cpp's llm_tokenizer_spm_session runs it: spaces
// become U+2581 (with a leading one at the start and after special tokens when add_space_prefix), the
// text is split into UTF-8 characters, and the adjacent pair whose concatenation is the token of
// highest score (leftmost first) is merged until none is a token. Characters left that are not tokens
// become byte tokens <0xXX>.
#include <algorithm>

#include "model/tokenizer_impl.h"
#include "model/unicode.h"
#include "util/error.h"

namespace shootout::tokenizer_detail {
namespace {

class SpmTokenizer final : public VocabTokenizer {
public:
    explicit SpmTokenizer(Vocab vocab) : VocabTokenizer(std::move(vocab)) {
        static const char* hex = "0123456789ABCDEF";
        for (int byte = 0; byte < 256; ++byte) {
            const char name[] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>'};
            int32_t id = vocab_.find(std::string_view(name, sizeof(name)));
            if (id < 0) id = vocab_.find(std::string(1, char(byte)));  // llama.cpp's fallback: the byte itself
            byte_ids_[byte] = id;
        }
    }
    std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const override;

private:
    struct Symbol {
        uint32_t start, length;
        int32_t prev, next;
    };
    struct Bigram {
        float score;
        int32_t left, right;
        uint32_t length;
        // The queue's top is the highest score, then the leftmost pair.
        bool operator<(const Bigram& other) const {
            return score != other.score ? score < other.score : left > other.left;
        }
    };
    void encode(const std::string& text, std::vector<int32_t>& ids) const;
    int32_t byte_ids_[256];
};

void SpmTokenizer::encode(const std::string& text, std::vector<int32_t>& ids) const {
    std::vector<Symbol> symbols;
    for (size_t offset = 0; offset < text.size();) {
        const size_t length = std::min(unicode::utf8_sequence_length(uint8_t(text[offset])), text.size() - offset);
        const int32_t index = int32_t(symbols.size());
        symbols.push_back({uint32_t(offset), uint32_t(length), index - 1, offset + length < text.size() ? index + 1 : -1});
        offset += length;
    }
    if (symbols.empty()) return;
    std::vector<Bigram> heap;
    auto add_bigram = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t length = symbols[left].length + symbols[right].length;
        const int32_t id = vocab_.find(std::string_view(text).substr(symbols[left].start, length));
        if (id < 0) return;
        heap.push_back({vocab_.scores[id], left, right, length});
        std::push_heap(heap.begin(), heap.end());
    };
    for (int32_t i = 1; i < int32_t(symbols.size()); ++i) add_bigram(i - 1, i);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        const Bigram bigram = heap.back();
        heap.pop_back();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        add_bigram(left.prev, bigram.left);
        add_bigram(bigram.left, left.next);
    }
    for (int32_t i = 0; i != -1; i = symbols[i].next) {
        const std::string_view piece = std::string_view(text).substr(symbols[i].start, symbols[i].length);
        if (int32_t id = vocab_.find(piece); id >= 0) {
            ids.push_back(id);
            continue;
        }
        // Only single characters can fail to be tokens (merges always make tokens): byte fallback.
        for (unsigned char byte : piece) {
            int32_t id = byte_ids_[byte];
            // llama.cpp throws here (std::out_of_range); the unknown token is the gentler answer.
            if (id < 0) id = vocab_.unk_id;
            if (id < 0) fail(vocab_.source, "no byte token <0x.." + std::to_string(byte) + "> and no unknown token");
            ids.push_back(id);
        }
    }
}

std::vector<int32_t> SpmTokenizer::tokenize(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<int32_t> ids;
    append_bos(add_special, ids);
    std::vector<Fragment> fragments;
    partition_special_tokens(vocab_, text, parse_special, fragments);
    bool previous_is_special = true;  // the text's start counts as after a special token
    std::string escaped;
    for (const Fragment& fragment : fragments) {
        if (fragment.token >= 0) {
            ids.push_back(fragment.token);
            previous_is_special = true;
            continue;
        }
        escaped.clear();
        if (vocab_.add_space_prefix && previous_is_special) escaped += "\xe2\x96\x81";
        for (char c : text.substr(fragment.offset, fragment.length)) {
            if (c == ' ') {
                escaped += "\xe2\x96\x81";
            } else {
                escaped += c;
            }
        }
        encode(escaped, ids);
        previous_is_special = false;
    }
    append_eos(add_special, ids);
    return ids;
}

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab) { return std::make_unique<SpmTokenizer>(std::move(vocab)); }

}  // namespace shootout::tokenizer_detail
