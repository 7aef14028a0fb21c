// Metadata values: construction keeps the exact stored type so a rewrite is byte-identical;
// the accessors convert between widths but refuse to change the kind (string vs number vs bool).
#include <cstring>
#include <limits>

#include "gguf/gguf.h"
#include "util/error.h"

namespace shootout::gguf {

const char* value_type_name(ValueType type) {
    switch (type) {
        case ValueType::UINT8: return "uint8";
        case ValueType::INT8: return "int8";
        case ValueType::UINT16: return "uint16";
        case ValueType::INT16: return "int16";
        case ValueType::UINT32: return "uint32";
        case ValueType::INT32: return "int32";
        case ValueType::FLOAT32: return "float32";
        case ValueType::BOOL: return "bool";
        case ValueType::STRING: return "string";
        case ValueType::ARRAY: return "array";
        case ValueType::UINT64: return "uint64";
        case ValueType::INT64: return "int64";
        case ValueType::FLOAT64: return "float64";
    }
    return "unknown";
}

namespace {

bool is_unsigned(ValueType t) {
    return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 || t == ValueType::UINT64;
}
bool is_signed(ValueType t) {
    return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 || t == ValueType::INT64;
}
bool is_float(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

[[noreturn]] void kind_mismatch(ValueType have, const char* want) {
    fail("", std::string("metadata value is ") + value_type_name(have) + ", not " + want);
}

// Largest value each integer type can hold, to refuse silent truncation in make_uint/make_int.
uint64_t unsigned_max(ValueType t) {
    switch (t) {
        case ValueType::UINT8: return std::numeric_limits<uint8_t>::max();
        case ValueType::UINT16: return std::numeric_limits<uint16_t>::max();
        case ValueType::UINT32: return std::numeric_limits<uint32_t>::max();
        default: return std::numeric_limits<uint64_t>::max();
    }
}
void signed_range(ValueType t, int64_t& lo, int64_t& hi) {
    switch (t) {
        case ValueType::INT8: lo = INT8_MIN, hi = INT8_MAX; return;
        case ValueType::INT16: lo = INT16_MIN, hi = INT16_MAX; return;
        case ValueType::INT32: lo = INT32_MIN, hi = INT32_MAX; return;
        default: lo = INT64_MIN, hi = INT64_MAX; return;
    }
}

}  // namespace

Value Value::make_uint(ValueType type, uint64_t v) {
    if (!is_unsigned(type)) fail("", std::string("make_uint with non-unsigned type ") + value_type_name(type));
    if (v > unsigned_max(type))
        fail("", std::to_string(v) + " does not fit in " + value_type_name(type));
    Value out;
    out.type_ = type;
    out.bits_ = v;
    return out;
}

Value Value::make_int(ValueType type, int64_t v) {
    if (!is_signed(type)) fail("", std::string("make_int with non-signed type ") + value_type_name(type));
    int64_t lo, hi;
    signed_range(type, lo, hi);
    if (v < lo || v > hi) fail("", std::to_string(v) + " does not fit in " + value_type_name(type));
    Value out;
    out.type_ = type;
    out.bits_ = (uint64_t)v;
    return out;
}

Value Value::make_float(ValueType type, double v) {
    if (!is_float(type)) fail("", std::string("make_float with non-float type ") + value_type_name(type));
    Value out;
    out.type_ = type;
    // A FLOAT32 holds exactly what will be stored, so as_float() agrees with a reread file.
    out.float_ = type == ValueType::FLOAT32 ? (double)(float)v : v;
    return out;
}

Value Value::make_bool(bool v) {
    Value out;
    out.type_ = ValueType::BOOL;
    out.bits_ = v ? 1 : 0;
    return out;
}

Value Value::make_string(std::string v) {
    Value out;
    out.type_ = ValueType::STRING;
    out.string_ = std::move(v);
    return out;
}

Value Value::make_array(ValueType element_type, std::vector<Value> elements) {
    for (size_t i = 0; i < elements.size(); ++i)
        if (elements[i].type() != element_type)
            fail("", std::string("array of ") + value_type_name(element_type) + " has element #" + std::to_string(i) +
                         " of type " + value_type_name(elements[i].type()));
    Value out;
    out.type_ = ValueType::ARRAY;
    out.array_type_ = element_type;
    out.array_ = std::move(elements);
    return out;
}

uint64_t Value::as_uint() const {
    if (is_unsigned(type_)) return bits_;
    if (is_signed(type_)) {
        if ((int64_t)bits_ < 0) fail("", "metadata value " + std::to_string((int64_t)bits_) + " is negative");
        return bits_;
    }
    kind_mismatch(type_, "an integer");
}

int64_t Value::as_int() const {
    if (is_signed(type_)) return (int64_t)bits_;
    if (is_unsigned(type_)) {
        if (bits_ > (uint64_t)INT64_MAX) fail("", "metadata value " + std::to_string(bits_) + " does not fit in int64");
        return (int64_t)bits_;
    }
    kind_mismatch(type_, "an integer");
}

double Value::as_float() const {
    if (is_float(type_)) return float_;
    if (is_unsigned(type_)) return (double)bits_;
    if (is_signed(type_)) return (double)(int64_t)bits_;
    kind_mismatch(type_, "a number");
}

bool Value::as_bool() const {
    if (type_ != ValueType::BOOL) kind_mismatch(type_, "bool");
    return bits_ != 0;
}

const std::string& Value::as_string() const {
    if (type_ != ValueType::STRING) kind_mismatch(type_, "string");
    return string_;
}

ValueType Value::array_type() const {
    if (type_ != ValueType::ARRAY) kind_mismatch(type_, "array");
    return array_type_;
}

const std::vector<Value>& Value::as_array() const {
    if (type_ != ValueType::ARRAY) kind_mismatch(type_, "array");
    return array_;
}

int64_t TensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;  // the reader has checked that this product fits in int64
    return n;
}

}  // namespace shootout::gguf
