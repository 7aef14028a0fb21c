// Little helpers to append fixed-size values and arrays to a byte string and read them back with
// bounds checks, for the state and cache files (native little-endian layout, as ggml's files).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace shootout::eval {

template <typename T>
void put(std::string& out, const T& value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
void put_array(std::string& out, const std::vector<T>& values) {
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Reads from a byte range; every read checks the remaining size and throws Error naming `name`.
class ByteReader {
public:
    ByteReader(std::string_view bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}

    size_t offset() const { return offset_; }
    size_t remaining() const { return bytes_.size() - offset_; }
    bool can_read(size_t n_bytes) const { return n_bytes <= remaining(); }

    template <typename T>
    T get(const char* field) {
        T value;
        need(sizeof(T), field);
        std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
        offset_ += sizeof(T);
        return value;
    }

    template <typename T>
    std::vector<T> get_array(size_t count, const char* field) {
        if (count > remaining() / sizeof(T)) {
            need(size_t(-1), field);
        }
        std::vector<T> values(count);
        std::memcpy(values.data(), bytes_.data() + offset_, count * sizeof(T));
        offset_ += count * sizeof(T);
        return values;
    }

    std::string_view get_bytes(size_t n_bytes, const char* field) {
        need(n_bytes, field);
        std::string_view out = bytes_.substr(offset_, n_bytes);
        offset_ += n_bytes;
        return out;
    }

private:
    void need(size_t n_bytes, const char* field) const {
        if (n_bytes > remaining()) {
            fail(name_, std::string("truncated at ") + field + " (offset " + std::to_string(offset_) + ")");
        }
    }
    std::string_view bytes_;
    std::string name_;
    size_t offset_ = 0;
};

// FNV-1a, 64-bit: a checksum for state records and a key for state file names (not cryptographic).
inline uint64_t fnv1a64(const void* data, size_t n_bytes, uint64_t hash = 0xcbf29ce484222325ull) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n_bytes; ++i) {
        hash = (hash ^ p[i]) * 0x100000001b3ull;
    }
    return hash;
}

}  // namespace shootout::eval
