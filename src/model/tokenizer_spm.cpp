// SentencePiece (tokenizer.ggml.model "llama") as llama.cpp's llm_tokenizer_spm_session runs it: spaces
// become U+2581 (with a leading one at the start and after special tokens when add_space_prefix), the
// text is split into UTF-8 characters, and the adjacent pair whose concatenation is the token of
// highest score (leftmost first) is merged until none is a token. Characters left that are not tokens
// become byte tokens <0xXX>.
//
// llama.cpp merges over a whole fragment at once. Merges never interact across a boundary between two
// characters that occur next to each other in no token text, so the text is cut at such boundaries
// (in practice: words) and each distinct piece is merged once per call; the result is the same.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

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
        for (const std::string& text : vocab_.texts) {
            uint64_t previous = 0;
            for_each_character(text, [&](uint64_t character, size_t) {
                if (previous != 0) joined_pairs_.insert(pair_key(previous, character));
                previous = character;
            });
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
    // Calls f with each character as llama.cpp splits it (by the lead byte's length, clipped at the
    // end): f(key, length in bytes), the key packing the bytes and the length into a nonzero number.
    template <typename F>
    static void for_each_character(std::string_view text, F f) {
        for (size_t offset = 0; offset < text.size();) {
            const size_t length = std::min(unicode::utf8_sequence_length(uint8_t(text[offset])), text.size() - offset);
            uint64_t key = length;
            for (size_t i = 0; i < length; ++i) key = (key << 8) | uint8_t(text[offset + i]);
            f(key, length);
            offset += length;
        }
    }
    static uint64_t pair_key(uint64_t left, uint64_t right) { return left * 0x9E3779B97F4A7C15ull ^ right; }
    void encode(std::string_view text, std::vector<int32_t>& ids) const;
    void encode_cut(const std::string& text, std::vector<int32_t>& ids,
                    std::unordered_map<std::string, std::vector<int32_t>>& cache) const;
    int32_t byte_ids_[256];
    std::unordered_set<uint64_t> joined_pairs_;  // characters adjacent inside some token text
};

void SpmTokenizer::encode_cut(const std::string& text, std::vector<int32_t>& ids,
                              std::unordered_map<std::string, std::vector<int32_t>>& cache) const {
    size_t piece_begin = 0, offset = 0;
    uint64_t previous = 0;
    auto flush = [&](size_t end) {
        const std::string piece = text.substr(piece_begin, end - piece_begin);
        auto it = cache.find(piece);
        if (it == cache.end()) {
            std::vector<int32_t> piece_ids;
            encode(piece, piece_ids);
            it = cache.emplace(piece, std::move(piece_ids)).first;
        }
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        piece_begin = end;
    };
    for_each_character(text, [&](uint64_t character, size_t length) {
        if (offset > piece_begin && !joined_pairs_.count(pair_key(previous, character))) flush(offset);
        previous = character;
        offset += length;
    });
    if (offset > piece_begin) flush(offset);
}

void SpmTokenizer::encode(std::string_view text, std::vector<int32_t>& ids) const {
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
    std::unordered_map<std::string, std::vector<int32_t>> cache;  // piece -> ids, for this call
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
        encode_cut(escaped, ids, cache);
        previous_is_special = false;
    }
    append_eos(add_special, ids);
    return ids;
}

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab) { return std::make_unique<SpmTokenizer>(std::move(vocab)); }

}  // namespace shootout::tokenizer_detail
