// A small JSON reader for the Hugging Face files (config.json, tokenizer.json, safetensors headers):
// a DOM that keeps object members in file order (the converter's order of special tokens and added
// tokens follows it) and numbers with their text, so an integer stays an integer and a float is read
// as Python's json module reads it (correctly rounded double).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shootout::convert {

class Json {
public:
    enum class Kind { Null, Bool, Number, String, Array, Object };

    // Throws Error naming `where` (a file name) and the byte offset of the first syntax error.
    static Json parse(std::string_view text, const std::string& where);

    Kind kind() const { return kind_; }
    bool is_null() const { return kind_ == Kind::Null; }
    bool is_bool() const { return kind_ == Kind::Bool; }
    bool is_number() const { return kind_ == Kind::Number; }
    bool is_integer() const { return kind_ == Kind::Number && integral_; }
    bool is_string() const { return kind_ == Kind::String; }
    bool is_array() const { return kind_ == Kind::Array; }
    bool is_object() const { return kind_ == Kind::Object; }

    bool as_bool() const;
    double as_double() const;
    int64_t as_int() const;         // an integer literal (Error for 1.5 or a non-number)
    const std::string& as_string() const;
    const std::vector<Json>& items() const;                          // array elements
    const std::vector<std::pair<std::string, Json>>& members() const;  // object members in order

    // Object member or nullptr (also nullptr when this is not an object).
    const Json* find(std::string_view key) const;
    // The first of these keys present (config.json's synonyms, tried in the converter's order), or nullptr.
    const Json* find_first(std::initializer_list<const char*> keys) const;
    const Json& at(std::string_view key) const;  // throws Error "missing key"

private:
    Kind kind_ = Kind::Null;
    bool bool_ = false;
    bool integral_ = false;
    double number_ = 0;
    int64_t integer_ = 0;
    std::string string_;
    std::vector<Json> items_;
    std::vector<std::pair<std::string, Json>> members_;
    friend class JsonParser;
};

// Reads a whole file as text; Error naming the path when it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace shootout::convert
