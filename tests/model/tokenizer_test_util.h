// Helpers for the tokenizer tests: reading the golden files of tests/data/tokenizer.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "model/unicode.h"

namespace shootout::tokenizer_test {

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

// Lines without their '\n' (a final empty line is dropped); '#' comment lines are skipped.
inline std::vector<std::string> data_lines(const std::string& path) {
    std::vector<std::string> lines;
    std::istringstream in(read_file(path));
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] == '#') continue;
        lines.push_back(line);
    }
    return lines;
}

// Undoes Python's unicode_escape: \xNN, \uNNNN and \UNNNNNNNN are code points, written as UTF-8.
inline std::string unescape(std::string_view escaped) {
    std::string out;
    for (size_t i = 0; i < escaped.size(); ++i) {
        if (escaped[i] != '\\' || i + 1 == escaped.size()) {
            out += escaped[i];
            continue;
        }
        const char kind = escaped[++i];
        size_t n_hex = 0;
        switch (kind) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'x': n_hex = 2; break;
            case 'u': n_hex = 4; break;
            case 'U': n_hex = 8; break;
            default: out += kind; break;  // \\ \' \"
        }
        if (n_hex > 0) {
            const uint32_t cpt = uint32_t(std::stoul(std::string(escaped.substr(i + 1, n_hex)), nullptr, 16));
            unicode::append_utf8(cpt, out);
            i += n_hex;
        }
    }
    return out;
}

inline std::vector<int32_t> parse_ids(const std::string& line) {
    std::vector<int32_t> ids;
    std::istringstream in(line);
    int32_t id;
    while (in >> id) ids.push_back(id);
    return ids;
}

inline std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        const size_t tab = line.find('\t', start);
        parts.push_back(line.substr(start, tab - start));
        if (tab == std::string::npos) break;
        start = tab + 1;
    }
    return parts;
}

}  // namespace shootout::tokenizer_test
