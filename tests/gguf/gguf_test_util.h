// Helpers for the GGUF tests: a byte-level GGUF builder (to craft hostile files the Writer refuses to
// produce), temp directories and whole-file reads.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "util/error.h"

namespace shootout::gguf::testing {

// Appends little-endian fields; the tests write GGUF files field by field with it.
struct Bytes {
    std::vector<uint8_t> data;

    Bytes& raw(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        data.insert(data.end(), b, b + n);
        return *this;
    }
    Bytes& u8(uint8_t v) { return raw(&v, 1); }
    Bytes& u32(uint32_t v) { return raw(&v, 4); }
    Bytes& u64(uint64_t v) { return raw(&v, 8); }
    Bytes& i64(int64_t v) { return raw(&v, 8); }
    Bytes& str(const std::string& s) { return u64(s.size()).raw(s.data(), s.size()); }
    Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        return raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
    }
    // A metadata pair whose value is a uint32 (value type 4).
    Bytes& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
    Bytes& tensor_info(const std::string& name, const std::vector<int64_t>& shape, uint32_t type,
                       uint64_t offset) {
        str(name).u32((uint32_t)shape.size());
        for (int64_t d : shape) i64(d);
        return u32(type).u64(offset);
    }
    Bytes& pad(size_t alignment) {
        while (data.size() % alignment) data.push_back(0);
        return *this;
    }
    Bytes& zeros(size_t n) {
        data.insert(data.end(), n, 0);
        return *this;
    }
};

inline std::vector<uint8_t> read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_all(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write((const char*)bytes.data(), (std::streamsize)bytes.size());
}

// A fresh directory removed with its contents when the object goes away.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "shootout-gguf-XXXXXX").string();
        if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

// The message of the Error that f throws; fails the test when f throws nothing.
template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected a shootout::Error";
    return "";
}

inline std::string fixture(const std::string& name) {
    return std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/gguf/" + name;
}

}  // namespace shootout::gguf::testing
