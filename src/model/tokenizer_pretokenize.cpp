#include "model/tokenizer_pretokenize.h"

#include <algorithm>
#include <string>

#include "model/unicode.h"

namespace shootout::tokenizer_detail {
namespace {

using namespace shootout::unicode;

// One piece of text under a rule: code points and their flags in [begin, end); reads past the end
// give flags 0 and code point kPastEnd, as llama.cpp's matchers see the edge of a fragment.
struct Piece {
    const uint32_t* cpts;
    const uint16_t* flags;
    size_t begin;
    size_t end;
    static constexpr uint32_t kPastEnd = 0xFFFFFFFF;
    uint32_t cpt(size_t i) const { return i < end ? cpts[i] : kPastEnd; }
    uint16_t flag(size_t i) const { return i < end ? flags[i] : 0; }
};

// Emits words [previous end, end) as the matchers find their ends.
struct WordSink {
    std::vector<uint32_t>& out;
    size_t previous_end;
    void end_word_at(size_t end) {
        if (end > previous_end) out.push_back(uint32_t(end - previous_end));
        previous_end = end;
    }
};

bool is_r_or_n(uint32_t cpt) { return cpt == '\r' || cpt == '\n'; }
uint32_t ascii_lower(uint32_t cpt) { return (cpt >= 'A' && cpt <= 'Z') ? cpt + 32 : cpt; }

// 's 't 'm 'd (2 code points) or 're 've 'll (3), at pos; 0 when none.
size_t contraction_length(const Piece& p, size_t pos, bool ignore_case) {
    if (p.cpt(pos) != '\'' || pos + 1 >= p.end) return 0;
    auto letter = [&](size_t i) { return ignore_case ? ascii_lower(p.cpt(i)) : p.cpt(i); };
    const uint32_t next = letter(pos + 1);
    if (next == 's' || next == 't' || next == 'm' || next == 'd') return 2;
    if (pos + 2 >= p.end) return 0;
    const uint32_t next2 = letter(pos + 2);
    if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l')) return 3;
    return 0;
}

constexpr uint16_t kWordClasses = kWhitespace | kLetter | kNumber;

void split_gpt2(const Piece& p, std::vector<uint32_t>& out) {
    WordSink sink{out, p.begin};
    size_t pos = p.begin;
    while (pos < p.end) {
        if (size_t n = contraction_length(p, pos, false)) {
            pos += n;
            sink.end_word_at(pos);
            continue;
        }
        const bool space = p.cpt(pos) == ' ';
        const uint16_t head = space ? p.flag(pos + 1) : p.flag(pos);
        // ' ?' followed by a run of letters, of numbers, or of anything else but whitespace.
        uint16_t run_class = 0;
        if (head & kLetter) run_class = kLetter;
        else if (head & kNumber) run_class = kNumber;
        if (run_class != 0) {
            pos += space;
            while (p.flag(pos) & run_class) ++pos;
            sink.end_word_at(pos);
            continue;
        }
        if (head != 0 && !(head & kWordClasses)) {
            pos += space;
            while (p.flag(pos) != 0 && !(p.flag(pos) & kWordClasses)) ++pos;
            sink.end_word_at(pos);
            continue;
        }
        size_t n_whitespace = 0;
        while (p.flag(pos + n_whitespace) & kWhitespace) ++n_whitespace;
        if (n_whitespace > 1 && pos + n_whitespace < p.end) {
            pos += n_whitespace - 1;  // \s+(?!\S): leave the last one to prefix the next word
        } else if (n_whitespace > 0) {
            pos += n_whitespace;
        } else {
            pos += 1;
        }
        sink.end_word_at(pos);
    }
}

// llama3 and qwen2 differ only in how many digits make a word (3 or 1).
void split_llama3(const Piece& p, size_t max_digits, std::vector<uint32_t>& out) {
    WordSink sink{out, p.begin};
    size_t pos = p.begin;
    while (pos < p.end) {
        if (size_t n = contraction_length(p, pos, true)) {
            pos += n;
            sink.end_word_at(pos);
            continue;
        }
        const uint32_t cpt = p.cpt(pos);
        const uint16_t flag = p.flag(pos);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!is_r_or_n(cpt) && !(flag & kNumber) && ((flag & kLetter) || (p.flag(pos + 1) & kLetter))) {
            ++pos;
            while (p.flag(pos) & kLetter) ++pos;
            sink.end_word_at(pos);
            continue;
        }
        // \p{N}{1,max_digits}
        if (flag & kNumber) {
            size_t n_digits = 0;
            while (p.flag(pos) & kNumber) {
                ++pos;
                if (++n_digits == max_digits) {
                    sink.end_word_at(pos);
                    n_digits = 0;
                }
            }
            sink.end_word_at(pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        const uint16_t head = cpt == ' ' ? p.flag(pos + 1) : flag;
        if (!(head & kWordClasses)) {
            pos += cpt == ' ';
            while (p.flag(pos) != 0 && !(p.flag(pos) & kWordClasses)) ++pos;
            while (is_r_or_n(p.cpt(pos))) ++pos;
            sink.end_word_at(pos);
            continue;
        }
        size_t n_whitespace = 0;
        size_t end_of_last_line_break = 0;
        while (p.flag(pos + n_whitespace) & kWhitespace) {
            if (is_r_or_n(p.cpt(pos + n_whitespace))) end_of_last_line_break = pos + n_whitespace + 1;
            ++n_whitespace;
        }
        if (end_of_last_line_break > 0) {
            pos = end_of_last_line_break;  // \s*[\r\n]+
        } else if (n_whitespace > 1 && pos + n_whitespace < p.end) {
            pos += n_whitespace - 1;       // \s+(?!\S)
        } else if (n_whitespace > 0) {
            pos += n_whitespace;           // \s+
        } else {
            pos += 1;
        }
        sink.end_word_at(pos);
    }
}

// Search semantics of std::regex_iterator for expressions that match at a position or not at all:
// match_length(pos) is the length of the match starting at pos (0: none there). Text between
// matches becomes pieces of its own.
template <typename MatchLength>
void split_matches(const Piece& p, std::vector<uint32_t>& out, MatchLength match_length) {
    size_t gap_begin = p.begin;
    size_t pos = p.begin;
    while (pos < p.end) {
        const size_t n = match_length(pos);
        if (n == 0) {
            ++pos;
            continue;
        }
        if (pos > gap_begin) out.push_back(uint32_t(pos - gap_begin));
        out.push_back(uint32_t(n));
        pos += n;
        gap_begin = pos;
    }
    if (p.end > gap_begin) out.push_back(uint32_t(p.end - gap_begin));
}

// \s? then one or more code points of a class: the match at pos.
template <typename InClass>
size_t optional_space_then_run(const Piece& p, size_t pos, InClass in_class) {
    size_t start = pos;
    if ((p.flag(pos) & kWhitespace) && pos + 1 < p.end && in_class(pos + 1)) start = pos + 1;
    if (!in_class(start)) return 0;
    size_t end = start + 1;
    while (end < p.end && in_class(end)) ++end;
    return end - pos;
}

template <typename InClass>
size_t run(const Piece& p, size_t pos, InClass in_class) {
    size_t end = pos;
    while (end < p.end && in_class(end)) ++end;
    return end - pos;
}

struct CodepointRange {
    uint32_t first, last;
};

bool in_ranges(uint32_t cpt, const CodepointRange* ranges, size_t n_ranges) {
    const CodepointRange* end = ranges + n_ranges;
    const CodepointRange* it = std::upper_bound(ranges, end, cpt,
        [](uint32_t value, const CodepointRange& range) { return value < range.first; });
    return it != ranges && cpt <= (it - 1)->last;
}

// The letter class of deepseek-llm's second expression, as written in llama.cpp (sorted).
constexpr CodepointRange kDeepseekLetters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
    {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D}, {0x37F, 0x37F},
    {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
    {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F},
    {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
constexpr CodepointRange kDeepseekPunctuation[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0x2018, 0x201F}, {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
};
constexpr CodepointRange kCjk[] = {{0x0800, 0x9FA5}, {0xAC00, 0xD7FF}};  // 一-龥 with ࠀ-一, and 가-퟿

void split_piece(SplitRule rule, const Piece& p, std::vector<uint32_t>& out) {
    const uint32_t* cpts = p.cpts;
    const uint16_t* flags = p.flags;
    // llama.cpp hands these expressions to std::regex with non-ASCII whitespace replaced by a
    // vertical tab, so explicit code point classes never match whitespace.
    auto listed = [&](const auto& ranges) {
        return [&, cpts, flags](size_t i) {
            return !(flags[i] & kWhitespace) && in_ranges(cpts[i], ranges, std::size(ranges));
        };
    };
    switch (rule) {
        case SplitRule::Gpt2: split_gpt2(p, out); return;
        case SplitRule::Llama3: split_llama3(p, 3, out); return;
        case SplitRule::Qwen2: split_llama3(p, 1, out); return;
        case SplitRule::EachNumber:
            split_matches(p, out, [&](size_t i) -> size_t { return (flags[i] & kNumber) ? 1 : 0; });
            return;
        case SplitRule::NumberRuns:
            split_matches(p, out, [&](size_t i) { return run(p, i, [&](size_t j) { return flags[j] & kNumber; }); });
            return;
        case SplitRule::AsciiDigitTriples:
            split_matches(p, out, [&](size_t i) -> size_t {
                auto digit = [&](size_t j) { return j < p.end && cpts[j] >= '0' && cpts[j] <= '9'; };
                return digit(i) && digit(i + 1) && digit(i + 2) ? 3 : 0;
            });
            return;
        case SplitRule::PunctuationRuns:
        case SplitRule::PunctuationRunsFalcon: {
            const std::u32string_view extra = rule == SplitRule::PunctuationRuns ? U"$+<=>^~|" : U"$+<=>^~|`";
            split_matches(p, out, [&](size_t i) {
                return run(p, i, [&](size_t j) {
                    return ((flags[j] & kPunctuation) && !(flags[j] & kWhitespace)) ||
                           extra.find(char32_t(cpts[j])) != std::u32string_view::npos;
                });
            });
            return;
        }
        case SplitRule::LineBreaks:
            split_matches(p, out, [&](size_t i) -> size_t { return is_r_or_n(cpts[i]) ? 1 : 0; });
            return;
        case SplitRule::DeepseekLlmLetters:
            split_matches(p, out, [&](size_t i) { return optional_space_then_run(p, i, listed(kDeepseekLetters)); });
            return;
        case SplitRule::DeepseekLlmPunctuation:
            split_matches(p, out, [&](size_t i) { return optional_space_then_run(p, i, listed(kDeepseekPunctuation)); });
            return;
        case SplitRule::TrailingWhitespace: {
            size_t start = p.end;
            while (start > p.begin && (flags[start - 1] & kWhitespace)) --start;
            if (start > p.begin) out.push_back(uint32_t(start - p.begin));
            if (p.end > start) out.push_back(uint32_t(p.end - start));
            return;
        }
        case SplitRule::CjkRuns:
            split_matches(p, out, [&](size_t i) { return run(p, i, listed(kCjk)); });
            return;
        case SplitRule::SpaceLetters:
            split_matches(p, out, [&](size_t i) {
                return optional_space_then_run(p, i, [&](size_t j) { return (flags[j] & kLetter) != 0; });
            });
            return;
        case SplitRule::SpacePunctuation:
            split_matches(p, out, [&](size_t i) {
                return optional_space_then_run(p, i, [&](size_t j) {
                    return (flags[j] & kPunctuation) && !(flags[j] & kWhitespace);
                });
            });
            return;
        case SplitRule::BloomWords: {
            static constexpr std::u32string_view kStops = U"(|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)";
            auto word_char = [&](size_t j) {
                return !(flags[j] & kWhitespace) && kStops.find(char32_t(cpts[j])) == std::u32string_view::npos;
            };
            split_matches(p, out, [&](size_t i) -> size_t {
                const size_t start = (cpts[i] == ' ' && i + 1 < p.end && word_char(i + 1)) ? i + 1 : i;
                if (!word_char(start)) return 0;
                return start - i + run(p, start, word_char);
            });
            return;
        }
    }
}

}  // namespace

std::optional<PreTokenizerConfig> pre_tokenizer_config(std::string_view pre) {
    using R = SplitRule;
    auto is_any = [&](std::initializer_list<std::string_view> names) {
        return std::find(names.begin(), names.end(), pre) != names.end();
    };
    PreTokenizerConfig config;
    if (pre.empty() || pre == "default") {
        config.rules = {R::PunctuationRuns, R::Gpt2, R::NumberRuns, R::AsciiDigitTriples};
    } else if (is_any({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                       "jina-v5-nano"})) {
        config = {{R::Llama3}, true, true, false};
    } else if (is_any({"dbrx", "smaug-bpe"})) {
        config.rules = {R::Llama3};
    } else if (is_any({"glm4", "chatglm-bpe"})) {
        config.rules = {R::Llama3};
        config.no_bos = true;
    } else if (pre == "deepseek-llm") {
        config.rules = {R::LineBreaks, R::DeepseekLlmLetters, R::DeepseekLlmPunctuation, R::TrailingWhitespace,
                        R::CjkRuns, R::NumberRuns};
    } else if (pre == "deepseek-coder") {
        config.rules = {R::LineBreaks, R::SpaceLetters, R::SpacePunctuation, R::CjkRuns, R::EachNumber};
    } else if (pre == "falcon") {
        config.rules = {R::PunctuationRunsFalcon, R::Gpt2, R::AsciiDigitTriples};
    } else if (is_any({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
                       "mellum2"})) {
        config.rules = {R::EachNumber, R::Gpt2};
    } else if (is_any({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                       "mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais",
                       "trillion", "granite-docling", "exaone4"})) {
        config.rules = {R::Gpt2};
    } else if (is_any({"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan",
                       "solar-open", "grok-2"})) {
        config.rules = {R::Qwen2};
    } else if (is_any({"poro-chat", "bloom", "gpt3-finnish"})) {
        config.rules = {R::BloomWords};
    } else if (pre == "viking") {
        config.rules = {R::BloomWords, R::EachNumber};
    } else {
        return std::nullopt;
    }
    return config;
}

void pre_tokenize(const std::vector<SplitRule>& rules, const std::vector<uint32_t>& cpts,
                  std::vector<uint32_t>& word_lengths, std::vector<uint32_t>& scratch,
                  std::vector<uint16_t>& flags_scratch) {
    word_lengths.clear();
    if (cpts.empty()) return;
    flags_scratch.resize(cpts.size());
    for (size_t i = 0; i < cpts.size(); ++i) flags_scratch[i] = unicode::flags(cpts[i]);

    word_lengths.push_back(uint32_t(cpts.size()));
    for (SplitRule rule : rules) {
        scratch.clear();
        size_t begin = 0;
        for (uint32_t length : word_lengths) {
            const Piece piece{cpts.data(), flags_scratch.data(), begin, begin + length};
            split_piece(rule, piece, scratch);
            begin += length;
        }
        word_lengths.swap(scratch);
    }
}

}  // namespace shootout::tokenizer_detail
