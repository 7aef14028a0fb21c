// Test-only: a minimal JSON reader (objects, arrays, strings, numbers, literals) for the golden files
// in shared/golden, and the shape of llama-quantize's golden entries.
#pragma once

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace shootout::testing {

struct Json {
    enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
    double number = 0;
    std::string string;
    std::vector<Json> array;
    std::vector<std::pair<std::string, Json>> object;  // file order

    const Json& at(const std::string& key) const {
        for (const auto& [k, v] : object)
            if (k == key) return v;
        throw std::runtime_error("json: missing key " + key);
    }
};

class JsonParser {
public:
    explicit JsonParser(const std::string& text) : s_(text) {}
    Json parse() {
        Json v = value();
        space();
        if (i_ != s_.size()) throw std::runtime_error("json: trailing characters");
        return v;
    }

private:
    void space() { while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_; }
    char peek() { space(); if (i_ >= s_.size()) throw std::runtime_error("json: truncated"); return s_[i_]; }
    void expect(char c) { if (peek() != c) throw std::runtime_error(std::string("json: expected ") + c); ++i_; }
    std::string str() {
        expect('"');
        std::string out;
        while (i_ < s_.size() && s_[i_] != '"') {
            if (s_[i_] == '\\') {
                ++i_;
                const char e = s_.at(i_);
                out += e == 'n' ? '\n' : e == 't' ? '\t' : e;  // \uXXXX does not occur in the golden files
            } else {
                out += s_[i_];
            }
            ++i_;
        }
        expect('"');
        return out;
    }
    Json value() {
        Json v;
        const char c = peek();
        if (c == '{') {
            v.kind = Json::Object;
            ++i_;
            if (peek() == '}') { ++i_; return v; }
            for (;;) {
                std::string key = str();
                expect(':');
                v.object.emplace_back(std::move(key), value());
                if (peek() == ',') { ++i_; continue; }
                expect('}');
                return v;
            }
        }
        if (c == '[') {
            v.kind = Json::Array;
            ++i_;
            if (peek() == ']') { ++i_; return v; }
            for (;;) {
                v.array.push_back(value());
                if (peek() == ',') { ++i_; continue; }
                expect(']');
                return v;
            }
        }
        if (c == '"') { v.kind = Json::String; v.string = str(); return v; }
        if (s_.compare(i_, 4, "true") == 0) { v.kind = Json::Bool; v.number = 1; i_ += 4; return v; }
        if (s_.compare(i_, 5, "false") == 0) { v.kind = Json::Bool; i_ += 5; return v; }
        if (s_.compare(i_, 4, "null") == 0) { i_ += 4; return v; }
        char* end = nullptr;
        v.kind = Json::Number;
        v.number = std::strtod(s_.c_str() + i_, &end);
        if (end == s_.c_str() + i_) throw std::runtime_error("json: bad value");
        i_ = static_cast<size_t>(end - s_.c_str());
        return v;
    }
    const std::string& s_;
    size_t i_ = 0;
};

inline Json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    return JsonParser(text).parse();
}

// One entry of llama-quantize.json / llama-quantize-moe.json.
struct GoldenRecipe {
    std::string key;          // "Q4_K_M", "imatrix-Q4_K_M", "qwen3moe-11m-code/Q8_0"
    std::string model_dir;    // "qwen3-34m-code", ...
    std::string recipe;       // "Q4_K_M"
    bool imatrix = false;
    uint64_t file_bytes = 0;
    std::string file_sha256;  // first 16 hex
    std::map<std::string, std::pair<std::string, std::string>> tensors;  // name -> {TYPE, hash16}
};

inline std::vector<GoldenRecipe> read_golden(const std::string& path, const std::string& default_model_dir) {
    std::vector<GoldenRecipe> out;
    for (const auto& [key, entry] : read_json(path).object) {
        GoldenRecipe g;
        g.key = key;
        std::string name = key;
        g.model_dir = default_model_dir;
        if (const size_t slash = name.find('/'); slash != std::string::npos) {
            g.model_dir = name.substr(0, slash);
            name = name.substr(slash + 1);
        }
        if (name.rfind("imatrix-", 0) == 0) {
            g.imatrix = true;
            name = name.substr(8);
        }
        g.recipe = name;
        g.file_bytes = static_cast<uint64_t>(entry.at("file_bytes").number);
        g.file_sha256 = entry.at("file_sha256").string;
        for (const auto& [tensor, pair] : entry.at("tensors").object) {
            g.tensors[tensor] = {pair.array.at(0).string, pair.array.at(1).string};
        }
        out.push_back(std::move(g));
    }
    return out;
}

}  // namespace shootout::testing
