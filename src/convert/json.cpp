#include "convert/json.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace shootout::convert {

class JsonParser {
public:
    JsonParser(std::string_view text, const std::string& where) : text_(text), where_(where) {}

    Json document() {
        Json value = parse_value(0);
        skip_space();
        if (pos_ != text_.size()) error("trailing characters after the JSON value");
        return value;
    }

private:
    static constexpr int kMaxDepth = 256;  // bounds the recursion on hostile input

    [[noreturn]] void error(const std::string& what) const {
        fail(where_, "invalid JSON at byte " + std::to_string(pos_) + ": " + what);
    }

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                       text_[pos_] == '\r'))
            ++pos_;
    }

    bool consume(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    Json parse_value(int depth) {
        if (depth > kMaxDepth) error("nesting deeper than 256");
        skip_space();
        if (pos_ >= text_.size()) error("unexpected end of input");
        Json value;
        const char c = text_[pos_];
        if (c == '{') {
            value.kind_ = Json::Kind::Object;
            ++pos_;
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == '}') { ++pos_; return value; }
            while (true) {
                skip_space();
                if (pos_ >= text_.size() || text_[pos_] != '"') error("expected a member name");
                std::string key = parse_string();
                skip_space();
                if (pos_ >= text_.size() || text_[pos_] != ':') error("expected ':'");
                ++pos_;
                value.members_.emplace_back(std::move(key), parse_value(depth + 1));
                skip_space();
                if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
                if (pos_ < text_.size() && text_[pos_] == '}') { ++pos_; return value; }
                error("expected ',' or '}'");
            }
        }
        if (c == '[') {
            value.kind_ = Json::Kind::Array;
            ++pos_;
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == ']') { ++pos_; return value; }
            while (true) {
                value.items_.push_back(parse_value(depth + 1));
                skip_space();
                if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
                if (pos_ < text_.size() && text_[pos_] == ']') { ++pos_; return value; }
                error("expected ',' or ']'");
            }
        }
        if (c == '"') {
            value.kind_ = Json::Kind::String;
            value.string_ = parse_string();
            return value;
        }
        if (consume("true")) { value.kind_ = Json::Kind::Bool; value.bool_ = true; return value; }
        if (consume("false")) { value.kind_ = Json::Kind::Bool; return value; }
        if (consume("null")) return value;
        // Python's json also reads NaN / Infinity (config files written by Python may hold them).
        if (consume("NaN")) { value.kind_ = Json::Kind::Number; value.number_ = NAN; return value; }
        if (consume("Infinity")) { value.kind_ = Json::Kind::Number; value.number_ = INFINITY; return value; }
        if (consume("-Infinity")) { value.kind_ = Json::Kind::Number; value.number_ = -INFINITY; return value; }
        return parse_number();
    }

    Json parse_number() {
        const size_t start = pos_;
        bool integral = true;
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        auto digits = [&] {
            const size_t from = pos_;
            while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
            if (pos_ == from) error("expected a digit");
        };
        digits();
        if (pos_ < text_.size() && text_[pos_] == '.') { integral = false; ++pos_; digits(); }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            integral = false;
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            digits();
        }
        const std::string literal(text_.substr(start, pos_ - start));
        Json value;
        value.kind_ = Json::Kind::Number;
        value.number_ = std::strtod(literal.c_str(), nullptr);  // correctly rounded, as Python's float()
        if (integral) {
            errno = 0;
            const long long n = std::strtoll(literal.c_str(), nullptr, 10);
            // An integer beyond int64 (tokenizer_config's model_max_length) stays a float.
            if (errno == 0) { value.integral_ = true; value.integer_ = n; }
        }
        return value;
    }

    uint32_t hex4() {
        if (pos_ + 4 > text_.size()) error("truncated \\u escape");
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            v <<= 4;
            if (h >= '0' && h <= '9') v |= uint32_t(h - '0');
            else if (h >= 'a' && h <= 'f') v |= uint32_t(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') v |= uint32_t(h - 'A' + 10);
            else error("bad hex digit in \\u escape");
        }
        return v;
    }

    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }

    std::string parse_string() {
        ++pos_;  // the opening quote
        std::string out;
        while (true) {
            if (pos_ >= text_.size()) error("unterminated string");
            const char c = text_[pos_++];
            if (c == '"') return out;
            if (c != '\\') { out += c; continue; }
            if (pos_ >= text_.size()) error("unterminated escape");
            const char e = text_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
                        const size_t save = pos_;
                        pos_ += 2;
                        const uint32_t low = hex4();
                        if (low >= 0xDC00 && low < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        else pos_ = save;  // a lone high surrogate, kept as Python keeps it
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: error(std::string("unknown escape \\") + e);
            }
        }
    }

    std::string_view text_;
    const std::string& where_;
    size_t pos_ = 0;
};

Json Json::parse(std::string_view text, const std::string& where) { return JsonParser(text, where).document(); }

bool Json::as_bool() const {
    if (kind_ != Kind::Bool) throw Error("JSON value is not a boolean");
    return bool_;
}

double Json::as_double() const {
    if (kind_ != Kind::Number) throw Error("JSON value is not a number");
    return integral_ ? double(integer_) : number_;
}

int64_t Json::as_int() const {
    if (kind_ != Kind::Number || !integral_) throw Error("JSON value is not an integer");
    return integer_;
}

const std::string& Json::as_string() const {
    if (kind_ != Kind::String) throw Error("JSON value is not a string");
    return string_;
}

const std::vector<Json>& Json::items() const {
    if (kind_ != Kind::Array) throw Error("JSON value is not an array");
    return items_;
}

const std::vector<std::pair<std::string, Json>>& Json::members() const {
    if (kind_ != Kind::Object) throw Error("JSON value is not an object");
    return members_;
}

const Json* Json::find(std::string_view key) const {
    if (kind_ != Kind::Object) return nullptr;
    // Python's dict keeps the last of duplicate keys.
    for (auto it = members_.rbegin(); it != members_.rend(); ++it)
        if (it->first == key) return &it->second;
    return nullptr;
}

const Json* Json::find_first(std::initializer_list<const char*> keys) const {
    for (const char* k : keys)
        if (const Json* v = find(k)) return v;
    return nullptr;
}

const Json& Json::at(std::string_view key) const {
    const Json* value = find(key);
    if (!value) throw Error("missing JSON key '" + std::string(key) + "'");
    return *value;
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) fail(path, "read error");
    return text.str();
}

}  // namespace shootout::convert
