// libFuzzer target for the GGUF reader: any input must either parse or throw shootout::Error, with no
// crash, sanitizer report, leak or unbounded allocation. A parsed file is walked completely (every
// value, every tensor byte range) and described, so views that point outside the input are caught.
#include <cstddef>
#include <cstdint>

#include "gguf/describe.h"
#include "gguf/gguf.h"
#include "util/error.h"

namespace {

using shootout::gguf::Value;
using shootout::gguf::ValueType;

// Reads every scalar of a value through its accessors; returns something the optimizer cannot drop.
uint64_t touch(const Value& v) {
    switch (v.type()) {
        case ValueType::STRING: return v.as_string().size();
        case ValueType::BOOL: return v.as_bool();
        case ValueType::FLOAT32: case ValueType::FLOAT64: return (uint64_t)(v.as_float() != 0);
        case ValueType::ARRAY: {
            uint64_t sum = (uint64_t)v.array_type();
            for (const Value& e : v.as_array()) sum += touch(e);
            return sum;
        }
        case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
            return (uint64_t)v.as_int();
        default: return v.as_uint();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto file = shootout::gguf::File::parse(data, size, "fuzz.gguf");
        volatile uint64_t sink = 0;
        for (const auto& [key, value] : file->metadata()) sink = sink + key.size() + touch(value);
        for (const auto& t : file->tensors()) {
            // The reader promises [data, data + size_bytes) lies inside the input; ASan checks both ends.
            if (t.size_bytes > 0) sink = sink + t.data[0] + t.data[t.size_bytes - 1];
            sink = sink + (uint64_t)t.n_elements() + (uint64_t)t.n_rows();
        }
        sink = sink + shootout::gguf::describe(*file, false).size();
        (void)file->get_string("general.architecture", "");
    } catch (const shootout::Error&) {
        // Refusing bad input with an Error is the expected outcome.
    }
    return 0;
}
