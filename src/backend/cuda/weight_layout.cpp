// The device row layout of weight_layout.h, made on the host before the upload.
#include "backend/cuda/weight_layout.h"

#include <cstring>

namespace shootout::cuda {

size_t device_row_bytes(quant::TypeId type, int64_t n_in) {
    const size_t gguf = quant::row_size_bytes(type, n_in);
    const GroupedLayout L = grouped_layout(type);
    if (!L.grouped) return gguf;
    const int64_t n_blocks = (int64_t)(gguf / (size_t)L.block_bytes);
    const int64_t full = n_blocks / L.group_blocks(), tail = n_blocks % L.group_blocks();
    return (size_t)full * (size_t)L.group_bytes() + (tail ? (size_t)(L.head_bytes() + tail * L.main.bytes) : 0);
}

void to_device_layout(quant::TypeId type, int64_t n_in, int64_t n_out, const uint8_t* src, uint8_t* dst) {
    const size_t src_row = quant::row_size_bytes(type, n_in), dst_row = device_row_bytes(type, n_in);
    const GroupedLayout L = grouped_layout(type);
    if (!L.grouped) {
        std::memcpy(dst, src, src_row * (size_t)n_out);
        return;
    }
    std::memset(dst, 0, dst_row * (size_t)n_out);
    const int64_t n_blocks = (int64_t)(src_row / (size_t)L.block_bytes);
    for (int64_t r = 0; r < n_out; ++r) {
        const uint8_t* in = src + (size_t)r * src_row;
        uint8_t* out = dst + (size_t)r * dst_row;
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = in + b * L.block_bytes;
            uint8_t* group = out + (b / L.group_blocks()) * L.group_bytes();
            const int i = (int)(b % L.group_blocks());
            for (int f = 0; f < L.n_head; ++f)
                std::memcpy(group + L.head_offset(f) + i * L.head[f].bytes, block + L.head[f].src_offset,
                            (size_t)L.head[f].bytes);
            std::memcpy(group + L.head_bytes() + i * L.main.bytes, block + L.main.src_offset, (size_t)L.main.bytes);
        }
    }
}

}  // namespace shootout::cuda
