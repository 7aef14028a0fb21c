// A read-only memory map of a whole file: the GGUF reader hands out zero-copy views into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shootout {

class MappedFile {
public:
    explicit MappedFile(const std::string& path);  // throws Error naming the path
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size_bytes() const { return size_bytes_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_bytes_ = 0;
};

}  // namespace shootout
