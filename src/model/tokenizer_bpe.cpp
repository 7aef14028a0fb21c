// Byte-level BPE as llama.cpp's llm_tokenizer_bpe_session runs it: pre-tokenize, map each byte of a
// word to its GPT-2 character, merge the adjacent pair of lowest rank (leftmost first) until none
// applies. Work happens on raw bytes with a byte <-> character bijection, so no per-character strings
// are built; each distinct word is merged once per call and then reused.
#include <queue>
#include <unordered_map>

#include "model/tokenizer_impl.h"
#include "model/tokenizer_pretokenize.h"
#include "model/unicode.h"

namespace shootout::tokenizer_detail {
namespace {

class BpeTokenizer final : public VocabTokenizer {
public:
    explicit BpeTokenizer(Vocab vocab);
    std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const override;

private:
    struct Symbol {
        uint32_t start;  // byte offset in the word
        uint32_t length; // 0 once merged into its left neighbour
        int32_t prev, next;
        int32_t id;      // the token whose text this is, or -1
    };
    struct Bigram {
        int32_t rank;
        int32_t result;  // the token the merge makes, or -1
        int32_t left, right;
        uint32_t length;
        // The queue's top is the lowest rank, then the leftmost pair.
        bool operator<(const Bigram& other) const {
            return rank != other.rank ? rank > other.rank : left > other.left;
        }
    };
    // Per-call state, so that tokenize() stays const and thread-safe.
    struct Session {
        std::vector<uint32_t> cpts;
        std::vector<uint32_t> word_lengths, scratch;
        std::vector<uint16_t> flags;
        std::string word;
        std::vector<Symbol> symbols;
        std::vector<Bigram> heap;
        std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> cache;  // word -> ids in cached_ids
        std::vector<int32_t> cached_ids;
    };

    void encode_text(Session& session, std::string_view text, std::vector<int32_t>& ids) const;
    void merge_word(Session& session, std::vector<int32_t>& ids) const;
    int32_t raw_token(std::string_view bytes) const {
        auto it = raw_to_id_.find(bytes);
        return it == raw_to_id_.end() ? -1 : it->second;
    }
    // Rank of merging the two symbols (-1: no such merge) and the token it makes (-1: none).
    Vocab::Merge find_merge(const Session& session, const Symbol& left, const Symbol& right) const;
    std::string byte_level(std::string_view bytes) const;

    // Token texts made only of GPT-2 byte characters, decoded to the bytes they stand for.
    std::vector<std::string> raw_texts_;
    std::unordered_map<std::string_view, int32_t> raw_to_id_;
    int32_t byte_ids_[256];  // the token of each single byte, or -1
};

BpeTokenizer::BpeTokenizer(Vocab vocab) : VocabTokenizer(std::move(vocab)) {
    raw_texts_.reserve(vocab_.text_to_id.size());
    std::vector<uint32_t> cpts;
    for (const auto& [text, id] : vocab_.text_to_id) {
        unicode::decode_utf8(text, cpts);
        std::string raw;
        bool byte_level_text = true;
        for (uint32_t cpt : cpts) {
            const int byte = unicode::codepoint_to_byte(cpt);
            if (byte < 0) {
                byte_level_text = false;
                break;
            }
            raw.push_back(char(byte));
        }
        // A text that does not re-encode to itself (invalid UTF-8 in the vocab) cannot equal a word.
        if (byte_level_text && byte_level(raw) == text) {
            raw_texts_.push_back(std::move(raw));
        } else {
            raw_texts_.emplace_back();
        }
    }
    raw_to_id_.reserve(raw_texts_.size());
    size_t i = 0;
    for (const auto& [text, id] : vocab_.text_to_id) {
        const std::string& raw = raw_texts_[i++];
        if (!raw.empty()) raw_to_id_.emplace(raw, id);
    }
    for (int byte = 0; byte < 256; ++byte) byte_ids_[byte] = raw_token(std::string(1, char(byte)));
}

std::string BpeTokenizer::byte_level(std::string_view bytes) const {
    std::string out;
    for (unsigned char b : bytes) unicode::append_utf8(unicode::byte_to_codepoint(b), out);
    return out;
}

Vocab::Merge BpeTokenizer::find_merge(const Session& session, const Symbol& left, const Symbol& right) const {
    if (left.id >= 0 && right.id >= 0) {
        auto it = vocab_.merge_by_ids.find(Vocab::pair_key(left.id, right.id));
        return it == vocab_.merge_by_ids.end() ? Vocab::Merge{-1, -1} : it->second;
    }
    if (vocab_.merge_rank_by_text.empty()) return {-1, -1};
    const std::string_view word = session.word;
    const std::string key = byte_level(word.substr(left.start, left.length)) + " " +
                            byte_level(word.substr(right.start, right.length));
    auto it = vocab_.merge_rank_by_text.find(key);
    if (it == vocab_.merge_rank_by_text.end()) return {-1, -1};
    return {it->second, raw_token(word.substr(left.start, left.length + right.length))};
}

void BpeTokenizer::merge_word(Session& session, std::vector<int32_t>& ids) const {
    const std::string_view word = session.word;
    auto& symbols = session.symbols;
    symbols.clear();
    if (vocab_.pre_config.ignore_merges) {
        if (int32_t id = raw_token(word); id >= 0) {
            ids.push_back(id);
            return;
        }
    }
    for (uint32_t i = 0; i < word.size(); ++i) {
        symbols.push_back({i, 1, int32_t(i) - 1, i + 1 < word.size() ? int32_t(i) + 1 : -1, byte_ids_[uint8_t(word[i])]});
    }
    auto& heap = session.heap;
    heap.clear();
    auto add_bigram = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Vocab::Merge merge = find_merge(session, symbols[left], symbols[right]);
        if (merge.rank < 0) return;
        heap.push_back({merge.rank, merge.result, left, right, symbols[left].length + symbols[right].length});
        std::push_heap(heap.begin(), heap.end());
    };
    for (int32_t i = 1; i < int32_t(symbols.size()); ++i) add_bigram(i - 1, i);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        const Bigram bigram = heap.back();
        heap.pop_back();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        // Stale when either side has changed since the pair was queued.
        if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        left.id = bigram.result;
        add_bigram(left.prev, bigram.left);
        add_bigram(bigram.left, left.next);
    }
    for (const Symbol& symbol : symbols) {
        if (symbol.length == 0) continue;
        if (symbol.id >= 0) {
            ids.push_back(symbol.id);
            continue;
        }
        // Not a token: llama.cpp looks up each byte of the symbol's byte-level UTF-8 text as a
        // one-byte token text and drops those that are none.
        for (char c : byte_level(word.substr(symbol.start, symbol.length))) {
            if (int32_t id = vocab_.find(std::string_view(&c, 1)); id >= 0) ids.push_back(id);
        }
    }
}

void BpeTokenizer::encode_text(Session& session, std::string_view text, std::vector<int32_t>& ids) const {
    unicode::decode_utf8(text, session.cpts);
    pre_tokenize(vocab_.pre_config.rules, session.cpts, session.word_lengths, session.scratch, session.flags);
    size_t begin = 0;
    for (uint32_t length : session.word_lengths) {
        // The word as llama.cpp sees it: re-encoded from code points (invalid bytes are U+FFFD now).
        session.word.clear();
        for (size_t i = begin; i < begin + length; ++i) unicode::append_utf8(session.cpts[i], session.word);
        begin += length;
        auto cached = session.cache.find(session.word);
        if (cached != session.cache.end()) {
            const auto [offset, count] = cached->second;
            ids.insert(ids.end(), session.cached_ids.begin() + offset, session.cached_ids.begin() + offset + count);
            continue;
        }
        const size_t first = ids.size();
        merge_word(session, ids);
        const uint32_t offset = uint32_t(session.cached_ids.size());
        session.cached_ids.insert(session.cached_ids.end(), ids.begin() + first, ids.end());
        session.cache.emplace(session.word, std::make_pair(offset, uint32_t(ids.size() - first)));
    }
}

std::vector<int32_t> BpeTokenizer::tokenize(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<int32_t> ids;
    append_bos(add_special, ids);
    std::vector<Fragment> fragments;
    partition_special_tokens(vocab_, text, parse_special, fragments);
    Session session;
    for (const Fragment& fragment : fragments) {
        if (fragment.token >= 0) {
            ids.push_back(fragment.token);
        } else {
            encode_text(session, text.substr(fragment.offset, fragment.length), ids);
        }
    }
    append_eos(add_special, ids);
    return ids;
}

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab) { return std::make_unique<BpeTokenizer>(std::move(vocab)); }

}  // namespace shootout::tokenizer_detail
