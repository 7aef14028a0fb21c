#include "model/unicode.h"

#include <algorithm>
#include <array>

namespace shootout::unicode {
namespace {

uint16_t category_flag(UnicodeCategory category) {
    switch (category) {
        case UnicodeCategory::Unassigned: return kUnassigned;
        case UnicodeCategory::Letter: return kLetter;
        case UnicodeCategory::Number: return kNumber;
        case UnicodeCategory::Punctuation: return kPunctuation;
        case UnicodeCategory::Symbol: return kSymbol;
        case UnicodeCategory::Mark: return kMark;
        case UnicodeCategory::Separator: return kSeparator;
        case UnicodeCategory::Control: return kControl;
    }
    return kUnassigned;
}

// Unicode's White_Space property (what \s matches in llama.cpp's tables).
bool is_white_space(uint32_t cpt) {
    return (cpt >= 0x09 && cpt <= 0x0D) || cpt == 0x20 || cpt == 0x85 || cpt == 0xA0 || cpt == 0x1680 ||
           (cpt >= 0x2000 && cpt <= 0x200A) || cpt == 0x2028 || cpt == 0x2029 || cpt == 0x202F ||
           cpt == 0x205F || cpt == 0x3000;
}

uint16_t flags_from_ranges(uint32_t cpt) {
    const CategoryRange* end = kCategoryRanges + kCategoryRangeCount;
    const CategoryRange* it = std::upper_bound(kCategoryRanges, end, cpt,
        [](uint32_t value, const CategoryRange& range) { return value < range.first; });
    const uint16_t category = it == kCategoryRanges ? uint16_t(kUnassigned) : category_flag((it - 1)->category);
    return uint16_t(category | (is_white_space(cpt) ? uint16_t(kWhitespace) : uint16_t(0)));
}

// The Basic Multilingual Plane in a flat table (128 KiB); the rest by binary search over the ranges.
struct BmpTable {
    std::vector<uint16_t> flags;
    BmpTable() : flags(0x10000) {
        for (uint32_t cpt = 0; cpt < 0x10000; ++cpt) flags[cpt] = flags_from_ranges(cpt);
    }
};

struct ByteMap {
    std::array<uint32_t, 256> to_cpt{};
    std::array<int16_t, 512> from_cpt{};  // every mapped code point is below 0x144
    ByteMap() {
        from_cpt.fill(-1);
        // Printable Latin-1 bytes map to themselves; the rest, in byte order, to 256, 257, ...
        uint32_t next_extra = 256;
        for (int byte = 0; byte < 256; ++byte) {
            const bool printable = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
                                   (byte >= 0xAE && byte <= 0xFF);
            to_cpt[byte] = printable ? uint32_t(byte) : next_extra++;
            from_cpt[to_cpt[byte]] = int16_t(byte);
        }
    }
};

const ByteMap& byte_map() {
    static const ByteMap map;
    return map;
}

}  // namespace

uint16_t flags(uint32_t cpt) {
    static const BmpTable table;
    if (cpt < 0x10000) return table.flags[cpt];
    if (cpt > 0x10FFFF) return kUnassigned;
    return flags_from_ranges(cpt);
}

void decode_utf8(std::string_view text, std::vector<uint32_t>& cpts) {
    cpts.clear();
    cpts.reserve(text.size());
    const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n_bytes = text.size();
    size_t pos = 0;
    auto continuation = [&](size_t i) { return i < n_bytes && (bytes[i] & 0xC0) == 0x80; };
    while (pos < n_bytes) {
        const uint8_t lead = bytes[pos];
        uint32_t cpt = kReplacementCharacter;
        size_t length = 1;
        if (lead < 0x80) {
            cpt = lead;
        } else if ((lead & 0xE0) == 0xC0) {
            if (continuation(pos + 1)) {
                cpt = (uint32_t(lead & 0x1F) << 6) | (bytes[pos + 1] & 0x3F);
                length = 2;
            }
        } else if ((lead & 0xF0) == 0xE0) {
            if (continuation(pos + 1) && continuation(pos + 2)) {
                cpt = (uint32_t(lead & 0x0F) << 12) | (uint32_t(bytes[pos + 1] & 0x3F) << 6) | (bytes[pos + 2] & 0x3F);
                length = 3;
            }
        } else if ((lead & 0xF8) == 0xF0) {
            if (continuation(pos + 1) && continuation(pos + 2) && continuation(pos + 3)) {
                cpt = (uint32_t(lead & 0x07) << 18) | (uint32_t(bytes[pos + 1] & 0x3F) << 12) |
                      (uint32_t(bytes[pos + 2] & 0x3F) << 6) | (bytes[pos + 3] & 0x3F);
                length = 4;
                if (cpt > 0x10FFFF) cpt = kReplacementCharacter;
            }
        }
        // Continuation bytes (10xxxxxx) and 0xF8..0xFF as leads stay U+FFFD of length 1.
        cpts.push_back(cpt);
        pos += length;
    }
}

void append_utf8(uint32_t cpt, std::string& out) {
    if (cpt <= 0x7F) {
        out.push_back(char(cpt));
    } else if (cpt <= 0x7FF) {
        out.push_back(char(0xC0 | (cpt >> 6)));
        out.push_back(char(0x80 | (cpt & 0x3F)));
    } else if (cpt <= 0xFFFF) {
        out.push_back(char(0xE0 | (cpt >> 12)));
        out.push_back(char(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cpt & 0x3F)));
    } else {
        out.push_back(char(0xF0 | (cpt >> 18)));
        out.push_back(char(0x80 | ((cpt >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cpt & 0x3F)));
    }
}

uint32_t byte_to_codepoint(uint8_t byte) { return byte_map().to_cpt[byte]; }

int codepoint_to_byte(uint32_t cpt) { return cpt < 512 ? byte_map().from_cpt[cpt] : -1; }

}  // namespace shootout::unicode
