// How a quantized weight's rows lie in device memory (made by upload_weight, read by the matvec
// VecDot and the GEMMs' Dequant16 in quant_blocks.cuh).
//
// The decode product is a stream of 16-byte loads only when every block's quant bytes start on a
// 16-byte boundary. Q4_K (144 bytes) and Q5_K (176) blocks do, and keep the GGUF layout. The others
// (Q8_0 34, Q4_0 18, Q4_1 20, Q5_0 22, Q5_1 24, Q2_K 84, Q3_K 110, Q6_K 210, MXFP4 17, IQ4_NL 18,
// IQ4_XS 136;
// the grid i-quants IQ2_XXS 66, IQ2_XS 74, IQ2_S 82, IQ3_XXS 98, IQ3_S 110) are regrouped,
// per row, in groups of kGroupBlocks blocks (MXFP4: 16, so that its 1-byte scales fill a 16-byte
// head; group_blocks()): first the blocks' small fields (scales, Q5's high bits), each field as an
// array over the group's blocks (the "head", a multiple of 16 bytes), then the blocks' quant bytes one
// block after another (the "main" part of each block, a multiple of 16 bytes). A group is exactly as
// long as its blocks in the GGUF file. A row's last group may hold fewer blocks; its head keeps the
// full size, so every field of block b lies at an offset that depends on b alone (Dequant16 is not
// told the row length), and the row grows by at most the head's unused bytes (none when the row's
// block count is a multiple of the group's, e.g. n_in a multiple of 2048 for Q2_K, Q3_K, Q6_K and IQ4_XS, of
// 256 for the 32-element types, of 512 for MXFP4).
// Rows stay contiguous: row r starts at r * DeviceWeight::row_bytes, a multiple of 16, so a row
// range is one byte range.
// TQ2_0 (66), TQ1_0 (54), IQ1_S (50) and IQ1_M (56) are regrouped the same way (groups of 8).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/type_table.h"

namespace shootout::cuda {

constexpr int kGroupBlocks = 8;  // blocks per group, but for MXFP4 (GroupedLayout::blocks)

struct BlockField {
    int src_offset = 0;  // in the GGUF block
    int bytes = 0;
};

struct GroupedLayout {
    bool grouped = false;  // false: rows as in the GGUF file
    int block_bytes = 0;
    int n_head = 0;
    BlockField head[2] = {};  // small fields, stored as [blocks] arrays at the group's start
    BlockField main = {};     // the rest of the block, contiguous in the GGUF block too
    int blocks = kGroupBlocks;  // blocks per group

    constexpr int group_blocks() const { return blocks; }
    constexpr int head_bytes() const {
        int n = 0;
        for (int f = 0; f < n_head; ++f) n += blocks * head[f].bytes;
        return n;
    }
    // Offset of head field f's array in a group.
    constexpr int head_offset(int f) const {
        int n = 0;
        for (int g = 0; g < f; ++g) n += blocks * head[g].bytes;
        return n;
    }
    constexpr int group_bytes() const { return blocks * block_bytes; }
};

constexpr GroupedLayout grouped_layout(quant::TypeId type) {
    using quant::TypeId;
    switch (type) {
        //                       grouped block n_head head fields                main (quants)
        case TypeId::Q8_0: return {true, 34, 1, {{0, 2}, {}}, {2, 32}};
        case TypeId::Q4_0: return {true, 18, 1, {{0, 2}, {}}, {2, 16}};
        case TypeId::Q4_1: return {true, 20, 1, {{0, 4}, {}}, {4, 16}};        // d, m together
        case TypeId::Q5_0: return {true, 22, 2, {{0, 2}, {2, 4}}, {6, 16}};    // d; qh
        case TypeId::Q5_1: return {true, 24, 2, {{0, 4}, {4, 4}}, {8, 16}};    // d, m; qh
        case TypeId::Q6_K: return {true, 210, 1, {{208, 2}, {}}, {0, 208}};    // d; ql, qh, scales
        // Q2_K: d, dmin (head 32 bytes); main = scales[16], qs[64] (80 bytes, contiguous in the block).
        case TypeId::Q2_K: return {true, 84, 1, {{80, 4}, {}}, {0, 80}};
        // Q3_K: d (16 bytes a group), the 12 packed scale bytes (96; 4-byte aligned per block); main =
        // hmask[32], qs[64]. Head 112 bytes, a group 880.
        case TypeId::Q3_K: return {true, 110, 2, {{108, 2}, {96, 12}}, {0, 96}};
        // E8M0 exponent e (1 byte): 16 blocks a group, so the head is 16 bytes and a group 272.
        case TypeId::MXFP4: return {true, 17, 1, {{0, 1}, {}}, {1, 16}, 16};
        case TypeId::IQ4_NL: return {true, 18, 1, {{0, 2}, {}}, {2, 16}};      // d; qs (as Q4_0)
        // d, scales_h, scales_l (8 bytes: one 8-byte load a unit); qs. Head 64 bytes, group 1088.
        case TypeId::IQ4_XS: return {true, 136, 1, {{0, 8}, {}}, {8, 128}};
        // Grid i-quants: d (head 16 bytes) and the quant bytes (main) for all; IQ2_XS adds scales[8]
        // (head 80, group 592); IQ2_S qh[8] + scales[8] (one field, head 144, group 656); IQ3_S
        // qh[8] + signs[32] + scales[4] (one 44-byte field, 4-byte aligned; head 368, group 880).
        case TypeId::IQ2_XXS: return {true, 66, 1, {{0, 2}, {}}, {2, 64}};     // d; qs (group 528)
        case TypeId::IQ2_XS: return {true, 74, 2, {{0, 2}, {66, 8}}, {2, 64}};
        case TypeId::IQ2_S: return {true, 82, 2, {{0, 2}, {66, 16}}, {2, 64}};
        case TypeId::IQ3_XXS: return {true, 98, 1, {{0, 2}, {}}, {2, 96}};     // d; qs (group 784)
        case TypeId::IQ3_S: return {true, 110, 2, {{0, 2}, {66, 44}}, {2, 64}};
        // TQ2_0: d (head 16 bytes); main = qs[64]. A group 528.
        case TypeId::TQ2_0: return {true, 66, 1, {{64, 2}, {}}, {0, 64}};
        // TQ1_0: d (16 bytes a group), qh[4] (32); main = qs[48]. Head 48 bytes, a group 432.
        case TypeId::TQ1_0: return {true, 54, 2, {{52, 2}, {48, 4}}, {0, 48}};
        // IQ1_S: d (head 16 bytes); main = qs[32], qh[8] (48 bytes, contiguous in the block). A group 400.
        case TypeId::IQ1_S: return {true, 50, 1, {{0, 2}, {}}, {2, 48}};
        // IQ1_M: scales[8] (with the spread fp16 d; one 8-byte load a unit; head 64 bytes); main =
        // qs[32], qh[16]. A group 448.
        case TypeId::IQ1_M: return {true, 56, 1, {{48, 8}, {}}, {0, 48}};
        default: return {};
    }
}

// Bytes of one row of n_in elements of `type` on the device (row stride of DeviceWeight).
size_t device_row_bytes(quant::TypeId type, int64_t n_in);

// Converts n_out GGUF rows (src) to the device layout (dst, n_out * device_row_bytes bytes; unused
// head bytes of a short last group are zero).
void to_device_layout(quant::TypeId type, int64_t n_in, int64_t n_out, const uint8_t* src, uint8_t* dst);

}  // namespace shootout::cuda
