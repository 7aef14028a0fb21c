#include "report/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "util/error.h"

namespace shootout::report {

std::string json_escape(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof(buf), "\\u%04x", unsigned(static_cast<unsigned char>(c)));
                    out += buf;
                } else {
                    out += c;  // UTF-8 bytes pass through unchanged
                }
        }
    }
    out += '"';
    return out;
}

void JsonWriter::newline() {
    out_ += '\n';
    out_.append(stack_.size() * 2, ' ');
}

void JsonWriter::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (stack_.empty()) {
        if (!out_.empty()) {
            fail("JsonWriter", "a second top-level value");
        }
        return;
    }
    if (stack_.back().is_object) {
        fail("JsonWriter", "a value in an object needs a key first");
    }
    if (!stack_.back().empty) {
        out_ += ',';
    }
    stack_.back().empty = false;
    newline();
}

JsonWriter& JsonWriter::key(std::string_view name) {
    if (stack_.empty() || !stack_.back().is_object || after_key_) {
        fail("JsonWriter", "key \"" + std::string(name) + "\" outside an object or after another key");
    }
    if (!stack_.back().empty) {
        out_ += ',';
    }
    stack_.back().empty = false;
    newline();
    out_ += json_escape(name);
    out_ += ": ";
    after_key_ = true;
    return *this;
}

JsonWriter& JsonWriter::begin_object() {
    before_value();
    out_ += '{';
    stack_.push_back({true, true});
    return *this;
}

JsonWriter& JsonWriter::begin_array() {
    before_value();
    out_ += '[';
    stack_.push_back({false, true});
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    if (stack_.empty() || !stack_.back().is_object || after_key_) {
        fail("JsonWriter", "end_object without a matching begin_object");
    }
    const bool empty = stack_.back().empty;
    stack_.pop_back();
    if (!empty) {
        newline();
    }
    out_ += '}';
    return *this;
}

JsonWriter& JsonWriter::end_array() {
    if (stack_.empty() || stack_.back().is_object) {
        fail("JsonWriter", "end_array without a matching begin_array");
    }
    const bool empty = stack_.back().empty;
    stack_.pop_back();
    if (!empty) {
        newline();
    }
    out_ += ']';
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
    before_value();
    out_ += json_escape(text);
    return *this;
}

JsonWriter& JsonWriter::value(double number) {
    if (!std::isfinite(number)) {
        return null();
    }
    before_value();
    char buf[32];
    const auto result = std::to_chars(buf, buf + sizeof(buf), number);  // shortest round-trip form
    out_.append(buf, result.ptr);
    return *this;
}

JsonWriter& JsonWriter::value(int64_t number) {
    before_value();
    out_ += std::to_string(number);
    return *this;
}

JsonWriter& JsonWriter::value(uint64_t number) {
    before_value();
    out_ += std::to_string(number);
    return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
    before_value();
    out_ += flag ? "true" : "false";
    return *this;
}

JsonWriter& JsonWriter::null() {
    before_value();
    out_ += "null";
    return *this;
}

std::string JsonWriter::str() const {
    if (!stack_.empty() || after_key_) {
        fail("JsonWriter", "document left unbalanced");
    }
    return out_ + "\n";
}

}  // namespace shootout::report
