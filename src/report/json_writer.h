// A small JSON writer: objects, arrays, strings (escaped per RFC 8259), integers, doubles (shortest
// round-trip form; NaN and infinities, which JSON cannot hold, become null) and booleans, pretty-printed
// with two-space indentation. The caller keeps the structure balanced; misuse throws Error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shootout::report {

std::string json_escape(std::string_view text);  // with the surrounding quotes

class JsonWriter {
public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view name);  // inside an object, before each value
    JsonWriter& value(std::string_view text);
    JsonWriter& value(const char* text) { return value(std::string_view(text)); }
    JsonWriter& value(double number);
    JsonWriter& value(int64_t number);
    JsonWriter& value(uint64_t number);
    JsonWriter& value(int number) { return value(int64_t(number)); }
    JsonWriter& value(bool flag);
    JsonWriter& null();

    // key(name).value(v) in one call.
    template <typename T>
    JsonWriter& field(std::string_view name, const T& v) {
        return key(name).value(v);
    }

    // The document; throws Error when objects or arrays are left open.
    std::string str() const;

private:
    void before_value();
    void newline();
    struct Level {
        bool is_object;
        bool empty;
    };
    std::string out_;
    std::vector<Level> stack_;
    bool after_key_ = false;
};

}  // namespace shootout::report
