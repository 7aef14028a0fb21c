// Dequant16 of the ternary types (TQ2_0, TQ1_0) and of IQ1_S / IQ1_M, and the bit helpers their decode
// units (matvec_units_tq_iq1.cuh) share. Included by quant_blocks.cuh before dispatch_type (it
// builds on Grouped<T> and the float helpers defined there). Element orders are the CPU's to_float
// (quant/ternary.cpp, quant/iq1_quants.cpp); each value is computed with the CPU's float operations,
// so Dequant16 equals to_float bit for bit.
#pragma once

#include "backend/cuda/iq1_grid.cuh"
#include "backend/cuda/quant_blocks.cuh"

namespace shootout::cuda {

// v - c in each byte, for bytes v of 0..127 and c of 0..128: every byte is biased by 128 first, so
// no byte borrows from the next; the result bytes are int8 (two's complement) for the dp4a.
__device__ __forceinline__ int bytes_minus(uint32_t v, uint32_t c4) {
    return (int)(((v | 0x80808080u) - c4) ^ 0x80808080u);
}

// Trit n of each of the 4 bytes of w (pow3 = 3^n, n = 0..4), as TQ1_0 packs them: (uint8(byte * 3^n)
// * 3) >> 8 (quant/ternary.cpp unpack_trit). Bytes 0, 2 and 1, 3 are multiplied in two 16-bit lanes
// each (255 * 81 < 2^16, so a lane never carries into the next); the result holds trit 0..2 per byte.
__device__ __forceinline__ uint32_t tq1_trits(uint32_t w, uint32_t pow3) {
    const uint32_t even = ((w & 0x00FF00FFu) * pow3) & 0x00FF00FFu;
    const uint32_t odd = (((w >> 8) & 0x00FF00FFu) * pow3) & 0x00FF00FFu;
    // (q * 3) >> 8 of lane value q sits in bits 8-9 of (q * 3) (< 768).
    return (((even * 3u) >> 8) & 0x00030003u) | ((odd * 3u) & 0x03000300u);
}

// 3^n for n = 0..4.
__device__ __forceinline__ uint32_t pow3_dev(int n) {
    uint32_t p = 1;
    for (int i = 0; i < n; ++i) p *= 3;
    return p;
}

// TQ2_0 (regrouped: d in the head, qs[64] the main part): element 128n + 32l + m is bits 2l..2l+1 of
// qs[32n + m]; value (t - 1) * d.
template <> struct Dequant16<TypeId::TQ2_0> {
    using G = Grouped<TypeId::TQ2_0>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256);
        const int n = r / 128, l = (r % 128) / 32, m0 = r % 32;
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        const int4 q = *reinterpret_cast<const int4*>(G::main(row, b) + 32 * n + m0);
        const uint32_t qw[4] = {(uint32_t)q.x, (uint32_t)q.y, (uint32_t)q.z, (uint32_t)q.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
#pragma unroll
            for (int i = 0; i < 4; ++i)
                out[4 * k + i] = small_int_to_float((int)((qw[k] >> (8 * i + 2 * l)) & 3) - 1) * d;
        }
    }
};

// TQ1_0 (regrouped: d and qh[4] in the head, qs[48] the main part): elements 32t + m (t = 0..4,
// m < 32) are trit t of qs[m], elements 160 + 16t + m trit t of qs[32 + m], elements 240 + 4t + j
// trit t (0..3) of qh[j]; value (t - 1) * d.
template <> struct Dequant16<TypeId::TQ1_0> {
    using G = Grouped<TypeId::TQ1_0>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256);
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        uint32_t w[4], p[4];  // out[4k + i] = trit of byte i of w[k], for 3^n = p[k]
        if (r < 240) {
            const int offset = r < 160 ? r % 32 : 32;
            const uint32_t pow3 = pow3_dev(r < 160 ? r / 32 : (r - 160) / 16);
            const int4 q = *reinterpret_cast<const int4*>(G::main(row, b) + offset);
            w[0] = (uint32_t)q.x; w[1] = (uint32_t)q.y; w[2] = (uint32_t)q.z; w[3] = (uint32_t)q.w;
            p[0] = p[1] = p[2] = p[3] = pow3;
        } else {  // the 16 elements of qh: trit k of its 4 bytes
            const uint32_t qh = *reinterpret_cast<const uint32_t*>(G::head1(row, b));
            w[0] = w[1] = w[2] = w[3] = qh;
            p[0] = 1; p[1] = 3; p[2] = 9; p[3] = 27;
        }
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const uint32_t t = tq1_trits(w[k], p[k]);
#pragma unroll
            for (int i = 0; i < 4; ++i) out[4 * k + i] = small_int_to_float((int)((t >> (8 * i)) & 3) - 1) * d;
        }
    }
};

// The 8 values of an IQ1 group of 8 (lattice point `index`, shift sign `negative`) times 8, as int8
// bytes: 8 g + 1 or 8 g - 1 (g = level - 1 in -1, 0, 1): lo = elements 0..3, hi = 4..7.
__device__ __forceinline__ void iq1_group_times8(int index, bool negative, int& lo, int& hi) {
    uint32_t l0, l1;
    iq1_grid_levels(index, l0, l1);
    const uint32_t bias = negative ? 0x09090909u : 0x07070707u;  // 8 (level - 1) +- 1 = 8 level - (8 -+ 1)
    lo = bytes_minus(l0 << 3, bias);
    hi = bytes_minus(l1 << 3, bias);
}

// 16 IQ1 values: the two groups of 8 at group index pair (idx0, neg0), (idx1, neg1), times dl: the
// CPU's dl * (g + delta) with g + delta = (8 g +- 1) / 8 exactly.
__device__ __forceinline__ void iq1_dequant16(float dl, int idx0, bool neg0, int idx1, bool neg1, float (&out)[16]) {
    int v[4];
    iq1_group_times8(idx0, neg0, v[0], v[1]);
    iq1_group_times8(idx1, neg1, v[2], v[3]);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
#pragma unroll
        for (int i = 0; i < 4; ++i) out[4 * k + i] = dl * (small_int_to_float((int8_t)(v[k] >> (8 * i))) * 0.125f);
    }
}

// IQ1_S (regrouped: d in the head; main = qs[32], qh[8] (u16), as in the block): sub-block ib
// (32 elements) has qh[ib] = 4 x 3 high index bits | scale << 12 | shift sign << 15; group l (8
// elements 32 ib + 8 l..) is lattice point qs[4 ib + l] | bits 3l.. of qh << 8; value
// d (2 scale + 1) (g +- 1/8).
template <> struct Dequant16<TypeId::IQ1_S> {
    using G = Grouped<TypeId::IQ1_S>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256);
        const int ib = r / 32, l0 = 2 * ((r % 32) / 16);
        const uint8_t* blk = G::main(row, b);
        const uint32_t qh = *reinterpret_cast<const uint16_t*>(blk + 32 + 2 * ib);
        const float dl = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b))) *
                         (float)(2 * ((qh >> 12) & 7) + 1);
        const bool negative = qh & 0x8000;
        const int idx0 = blk[4 * ib + l0] | (int)(((qh >> (3 * l0)) & 7) << 8);
        const int idx1 = blk[4 * ib + l0 + 1] | (int)(((qh >> (3 * l0 + 3)) & 7) << 8);
        iq1_dequant16(dl, idx0, negative, idx1, negative, out);
    }
};

// IQ1_M's fp16 super-scale from its 4 scale words (bits 12-15 of each, word 0 lowest): the scales as
// two words, s01 = scales[0..3], s23 = scales[4..7].
__device__ __forceinline__ float iq1m_d_dev(uint32_t s01, uint32_t s23) {
    const uint32_t d16 = ((s01 & 0xFFFF) >> 12) | ((s01 >> 24) & 0x00F0u) | (((s23 & 0xFFFF) >> 4) & 0x0F00u) |
                         ((s23 >> 16) & 0xF000u);
    return half_bits_to_float((uint16_t)d16);
}

// IQ1_M (regrouped: scales[8] in the head; main = qs[32], qh[16], as in the block): sub-block ib has
// qh[2 ib], qh[2 ib + 1], each two nibbles (3 high index bits | shift sign << 3) for groups 2k, 2k + 1
// (low, high nibble of qh[2 ib + k]); 3-bit scales per 16 elements: bits 6 (ib % 2) + 3 h.. of scale
// word ib / 2 for half h; value d (2 scale + 1) (g +- 1/8).
template <> struct Dequant16<TypeId::IQ1_M> {
    using G = Grouped<TypeId::IQ1_M>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256);
        const int ib = r / 32, h = (r % 32) / 16;
        const uint8_t* blk = G::main(row, b);
        const uint2 sc = *reinterpret_cast<const uint2*>(G::head0(row, b));
        const uint32_t word = ((ib < 4 ? sc.x : sc.y) >> (16 * ((ib / 2) % 2))) & 0xFFFF;
        const float dl = iq1m_d_dev(sc.x, sc.y) * (float)(2 * ((word >> (6 * (ib % 2) + 3 * h)) & 7) + 1);
        const uint32_t qh = blk[32 + 2 * ib + h];  // groups 2h (low nibble), 2h + 1 (high nibble)
        const int idx0 = blk[4 * ib + 2 * h] | (int)((qh & 7) << 8);
        const int idx1 = blk[4 * ib + 2 * h + 1] | (int)(((qh >> 4) & 7) << 8);
        iq1_dequant16(dl, idx0, qh & 0x08, idx1, qh & 0x80, out);
    }
};

}  // namespace shootout::cuda
