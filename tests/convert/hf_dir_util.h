// Test helpers for Hugging Face model directories made on the fly: a safetensors writer and a
// temporary directory removed at the end of the test.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace hf_test {

struct StEntry {
    std::string name, dtype;
    std::vector<int64_t> shape;  // PyTorch order
    std::string bytes;
};

inline void write_safetensors(const std::string& path, const std::vector<StEntry>& entries) {
    std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
    size_t offset = 0;
    for (const auto& e : entries) {
        header += ",\"" + e.name + "\":{\"dtype\":\"" + e.dtype + "\",\"shape\":[";
        for (size_t i = 0; i < e.shape.size(); ++i) header += (i ? "," : "") + std::to_string(e.shape[i]);
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + e.bytes.size()) + "]}";
        offset += e.bytes.size();
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
    for (const auto& e : entries) out << e.bytes;
}

class TempDir {
public:
    explicit TempDir(const std::string& tag)
        : path_((std::filesystem::temp_directory_path() / ("shootout-hf-" + tag + "-" + std::to_string(::getpid())))
                    .string()) {
        std::filesystem::create_directories(path_);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace hf_test
