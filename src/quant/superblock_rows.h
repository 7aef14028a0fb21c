// The row loop of the IQ1/IQ2/IQ3 quantizers: each row is a run of 256-element super-blocks, each
// quantized on its own with the importance weights of its columns (the same for every row).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/block_formats.h"

namespace shootout::quant::family {

template <typename Block, void (*Quantize)(const float* x, Block& out, const float* importance)>
size_t quantize_superblock_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                                const float* importance) {
    const int64_t blocks_per_row = n_per_row / kSuperBlock;
    auto* y = static_cast<Block*>(dst);
    for (int64_t row = 0; row < n_rows; ++row)
        for (int64_t i = 0; i < blocks_per_row; ++i)
            Quantize(src + row * n_per_row + i * kSuperBlock, y[row * blocks_per_row + i],
                     importance ? importance + i * kSuperBlock : nullptr);
    return (size_t)(n_rows * blocks_per_row) * sizeof(Block);
}

}  // namespace shootout::quant::family
