// Device views of the grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S): the lattice tables,
// the sign helpers, and Dequant16 (included by quant_blocks.cuh; the decode units are in
// matvec_units_iq23.cuh). A block of 256 elements has 8 sub-blocks of 32; each sub-block is a
// run of lattice points (8 elements a point for IQ2, 4 for IQ3) with one sign bit per element and a
// 4-bit scale (IQ2_XS, IQ2_S: one per 16 elements). Field layouts: quant/block_formats.h; the
// element mapping follows quant/iq2_quants.cpp, iq3_quants.cpp (to_float), which Dequant16 repeats
// operation for operation so its floats equal the CPU's.
#pragma once

#include <cstdint>

#include "backend/cuda/iq_grids.h"

namespace shootout::cuda {

// The lattice of type T in global memory (iq_grids.h). A variable template so that only the
// translation units that use a table hold it; the project builds CUDA without relocatable device
// code, so each such module (matvec_iq23.cu, moe_matvec_iq23.cu, the GEMM files) has its own copy
// (at most 18 KB in all). Not __constant__: the lanes of a warp read different entries, which
// constant memory would serialize; const global data is read through the read-only path.
template <TypeId T>
__device__ const decltype(iq_grid_table<T>()) kIqGrid = iq_grid_table<T>();

// ggml's 8 sign bits from 7 stored ones: the 8th makes the count of minus signs even
// (quant::iq_signs_from_7bits).
__device__ __forceinline__ uint32_t iq_signs8(uint32_t bits7) { return bits7 | ((__popc(bits7) & 1u) << 7); }

// Four unsigned magnitudes (bytes of `mag`) with the signs of bits 0..3 of `nibble` applied, as
// int8 bytes: byte i becomes -v where bit i is set. (v ^ 0xFF) + 1 = 256 - v never carries into the
// next byte because no lattice magnitude is 0 (the smallest is 1, IQ3_S).
__device__ __forceinline__ int iq_apply_signs4(uint32_t mag, uint32_t nibble) {
    const uint32_t ones = ((nibble & 0xFu) * 0x00204081u) & 0x01010101u;  // bit i -> bit 0 of byte i
    return (int)((mag ^ (ones * 0xFFu)) + ones);
}

// Byte j of a point with sign bit j of `signs` applied, as a float.
__device__ __forceinline__ float iq_point_value(uint64_t point, int j, uint32_t signs) {
    const int v = (int)((point >> (8 * j)) & 0xFF);
    return small_int_to_float((signs >> j) & 1 ? -v : v);
}

// IQ2_XXS (regrouped: d in the head; main = qs[64]): sub-block ib = 8 bytes: 4 point indices, then
// a word of 4 x 7 sign bits | ls << 28; value d (0.5 + ls) / 4 * point * sign.
template <> struct Dequant16<TypeId::IQ2_XXS> {
    using G = Grouped<TypeId::IQ2_XXS>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256), ib = r / 32, h = (r / 16) & 1;
        const uint2 aux = *reinterpret_cast<const uint2*>(G::main(row, b) + 8 * ib);
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        const float db = d * (0.5f + (float)(aux.y >> 28)) * 0.25f;
#pragma unroll
        for (int p = 0; p < 2; ++p) {
            const int l = 2 * h + p;
            const uint64_t point = kIqGrid<TypeId::IQ2_XXS>.points[(aux.x >> (8 * l)) & 0xFF];
            const uint32_t signs = iq_signs8((aux.y >> (7 * l)) & 127);
#pragma unroll
            for (int j = 0; j < 8; ++j) out[8 * p + j] = db * iq_point_value(point, j, signs);
        }
    }
};

// IQ2_XS (regrouped: d; scales[8] in the head; main = qs[32] as u16): point l of sub-block ib is
// qs[4 ib + l] = 9-bit index | 7 sign bits << 9; elements 0..15 take the low scale nibble, 16..31
// the high one; value d (0.5 + s) / 4 * point * sign.
template <> struct Dequant16<TypeId::IQ2_XS> {
    using G = Grouped<TypeId::IQ2_XS>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256), ib = r / 32, h = (r / 16) & 1;
        // points 2h, 2h+1: the two u16 of one word
        const uint32_t q2 = *reinterpret_cast<const uint32_t*>(G::main(row, b) + 8 * ib + 4 * h);
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        const int s = (G::head1(row, b)[ib] >> (4 * h)) & 0xF;
        const float db = d * (0.5f + (float)s) * 0.25f;
#pragma unroll
        for (int p = 0; p < 2; ++p) {
            const uint32_t q = (q2 >> (16 * p)) & 0xFFFF;
            const uint64_t point = kIqGrid<TypeId::IQ2_XS>.points[q & 511];
            const uint32_t signs = iq_signs8(q >> 9);
#pragma unroll
            for (int j = 0; j < 8; ++j) out[8 * p + j] = db * iq_point_value(point, j, signs);
        }
    }
};

// IQ2_S (regrouped: d; qh[8] and scales[8] as one 16-byte head field; main = qs[64]): point l of
// sub-block ib has index qs[4 ib + l] | bits 2l..2l+1 of qh[ib] << 8 and sign byte qs[32 + 4 ib + l];
// scales as IQ2_XS.
template <> struct Dequant16<TypeId::IQ2_S> {
    using G = Grouped<TypeId::IQ2_S>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256), ib = r / 32, h = (r / 16) & 1;
        const uint8_t* qs = G::main(row, b);
        const uint8_t* qh_scales = G::head1(row, b);
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        const int s = (qh_scales[8 + ib] >> (4 * h)) & 0xF;
        const float db = d * (0.5f + (float)s) * 0.25f;
        const int qh = qh_scales[ib];
#pragma unroll
        for (int p = 0; p < 2; ++p) {
            const int l = 2 * h + p;
            const int index = qs[4 * ib + l] | ((qh << (8 - 2 * l)) & 0x300);
            const uint64_t point = kIqGrid<TypeId::IQ2_S>.points[index];
            const uint32_t signs = qs[32 + 4 * ib + l];
#pragma unroll
            for (int j = 0; j < 8; ++j) out[8 * p + j] = db * iq_point_value(point, j, signs);
        }
    }
};

// IQ3_XXS (regrouped: d in the head; main = qs[96]): sub-block ib has point indices qs[8 ib + k]
// (4 elements each) and the word qs[64 + 4 ib..] = 4 x 7 sign bits | ls << 28, sign byte l covering
// points 2l, 2l+1; value d (0.5 + ls) / 2 * point * sign.
template <> struct Dequant16<TypeId::IQ3_XXS> {
    using G = Grouped<TypeId::IQ3_XXS>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256), ib = r / 32, h = (r / 16) & 1;
        const uint8_t* qs = G::main(row, b);
        const uint32_t idx = *reinterpret_cast<const uint32_t*>(qs + 8 * ib + 4 * h);  // points 4h..4h+3
        const uint32_t aux = *reinterpret_cast<const uint32_t*>(qs + 64 + 4 * ib);
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        const float db = d * (0.5f + (float)(aux >> 28)) * 0.5f;
#pragma unroll
        for (int m = 0; m < 4; ++m) {
            const uint32_t point = kIqGrid<TypeId::IQ3_XXS>.points[(idx >> (8 * m)) & 0xFF];
            const uint32_t signs = iq_signs8((aux >> (7 * (2 * h + m / 2))) & 127) >> (4 * (m % 2));
#pragma unroll
            for (int j = 0; j < 4; ++j) out[4 * m + j] = db * iq_point_value(point, j, signs);
        }
    }
};

// IQ3_S (regrouped: d; qh[8], signs[32], scales[4] as one 44-byte head field; main = qs[64]): point
// k of sub-block ib has index qs[8 ib + k] | bit k of qh[ib] << 8 and signs in nibble k % 2 of
// signs[4 ib + k / 2]; the scale is nibble ib % 2 of scales[ib / 2]; value d (1 + 2 sc) * point * sign.
template <> struct Dequant16<TypeId::IQ3_S> {
    using G = Grouped<TypeId::IQ3_S>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256), ib = r / 32, h = (r / 16) & 1;
        const uint8_t* qs = G::main(row, b);
        const uint8_t* extra = G::head1(row, b);  // qh[8], signs[32], scales[4]
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        const int sc = (extra[40 + ib / 2] >> (4 * (ib % 2))) & 0xF;
        const float db = d * (float)(1 + 2 * sc);
        const uint32_t idx = *reinterpret_cast<const uint32_t*>(qs + 8 * ib + 4 * h);  // points 4h..4h+3
        const int qh = extra[ib];
#pragma unroll
        for (int m = 0; m < 4; ++m) {
            const int k = 4 * h + m;
            const uint32_t point = kIqGrid<TypeId::IQ3_S>.points[((idx >> (8 * m)) & 0xFF) | (((qh >> k) & 1) << 8)];
            const uint32_t signs = (uint32_t)extra[8 + 4 * ib + k / 2] >> (4 * (k % 2));
#pragma unroll
            for (int j = 0; j < 4; ++j) out[4 * m + j] = db * iq_point_value(point, j, signs);
        }
    }
};

}  // namespace shootout::cuda
