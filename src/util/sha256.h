// SHA-256 (FIPS 180-4), for checking quantized tensors against llama-quantize's golden hashes and
// for content ids of files. Incremental: update() any number of times, then hex_digest().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace shootout {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t n_bytes);
    std::array<uint8_t, 32> digest();  // finishes the hash; call once
    std::string hex_digest();          // lower-case hex of digest()

private:
    void compress(const uint8_t* block);

    uint32_t state_[8];
    uint8_t buffer_[64];
    size_t buffer_bytes_ = 0;
    uint64_t total_bytes_ = 0;
};

// One-shot helper: lower-case hex SHA-256 of a buffer.
std::string sha256_hex(const void* data, size_t n_bytes);

}  // namespace shootout
