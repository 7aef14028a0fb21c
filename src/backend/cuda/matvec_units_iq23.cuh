// Decode units (VecDot, see matvec_units.cuh) of the grid i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS,
// IQ3_S, with Q8_K activations (every (d, s) pair of a 256 block carries the block's d). A unit is
// two sub-blocks (64 elements), 4 units a block: the lattice points are looked up in kIqGrid
// (quant_blocks_iq23.cuh), their signs applied to the bytes (iq_apply_signs4), and the int8 words
// dotted with the activations by dp4a, as the CPU (backend/cpu/vec_dot_iq2.cpp, vec_dot_iq3.cpp):
// per sub-block (2 s + 1) * sum(point * sign * q_x) in int32, times d_w * d_x / 8 (IQ2), / 4
// (IQ3_XXS) or 1 (IQ3_S). The CPU sums the 8 sub-blocks of a block in int32 and scales once; here the
// two sub-blocks of a unit are summed in int32 (|sum| < 2^24, exact as a float) and scaled per
// unit, so only the float summation order differs.
#pragma once

#include "backend/cuda/matvec_units.cuh"  // QuantizedX, the loads (it includes this file at its end)

namespace shootout::cuda {

// 32 int8 weights (8 words) dotted with 32 activations.
__device__ __forceinline__ int iq_dot32(const int* w, const int8_t* xq) {
    const int4 x0 = load_x16(xq), x1 = load_x16(xq + 16);
    int acc = __dp4a(w[0], x0.x, 0);
    acc = __dp4a(w[1], x0.y, acc);
    acc = __dp4a(w[2], x0.z, acc);
    acc = __dp4a(w[3], x0.w, acc);
    acc = __dp4a(w[4], x1.x, acc);
    acc = __dp4a(w[5], x1.y, acc);
    acc = __dp4a(w[6], x1.z, acc);
    return __dp4a(w[7], x1.w, acc);
}
// The first and second 16 of those, apart (IQ2_XS, IQ2_S: one scale per 16 elements).
__device__ __forceinline__ int iq_dot16(const int* w, const int8_t* xq) {
    const int4 x = load_x16(xq);
    int acc = __dp4a(w[0], x.x, 0);
    acc = __dp4a(w[1], x.y, acc);
    acc = __dp4a(w[2], x.z, acc);
    return __dp4a(w[3], x.w, acc);
}

// An 8-element IQ2 point with its 8 sign bits, as two int8 words.
template <TypeId T>
__device__ __forceinline__ void iq2_point_words(int index, uint32_t signs8, int* w) {
    const uint64_t point = kIqGrid<T>.points[index];
    w[0] = iq_apply_signs4((uint32_t)point, signs8);
    w[1] = iq_apply_signs4((uint32_t)(point >> 32), signs8 >> 4);
}

// IQ2_XXS (regrouped: d in the head; main = qs[64]): unit u = main bytes 16u..16u+15 = sub-blocks
// 2u, 2u+1, each 4 index bytes then the word of 4 x 7 sign bits | ls << 28.
template <> struct VecDot<TypeId::IQ2_XXS> : Units16WithD<TypeId::IQ2_XXS> {
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t idx[2] = {(uint32_t)r.q.x, (uint32_t)r.q.z}, aux[2] = {(uint32_t)r.q.y, (uint32_t)r.q.w};
        int w[2][8];
        int scale[2];  // 2 ls + 1
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            scale[s] = 2 * (int)(aux[s] >> 28) + 1;
#pragma unroll
            for (int l = 0; l < 4; ++l)
                iq2_point_words<TypeId::IQ2_XXS>((idx[s] >> (8 * l)) & 0xFF, iq_signs8((aux[s] >> (7 * l)) & 127),
                                                 &w[s][2 * l]);
        }
        const float d = half_bits_to_float((uint16_t)r.d) * 0.125f;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 64 * u;
            const int sumi = scale[0] * iq_dot32(w[0], xq) + scale[1] * iq_dot32(w[1], xq + 32);
            acc[t] += (float)sumi * (d * load_dx(x.ds + t * (x.n_in / 32) + 8 * b));
        }
    }
};

// The int32 sum of a sub-block with one 4-bit scale per 16 elements (IQ2_XS, IQ2_S): nibble 0 of
// `scales` for elements 0..15, nibble 1 for 16..31.
__device__ __forceinline__ int iq2_sub_block_dot16x2(const int* w, uint32_t scales, const int8_t* xq) {
    return (2 * (int)(scales & 0xF) + 1) * iq_dot16(w, xq) + (2 * (int)((scales >> 4) & 0xF) + 1) * iq_dot16(w + 4, xq + 16);
}

// IQ2_XS (regrouped: d, scales[8] in the head; main = qs[32] as u16): unit u = main bytes
// 16u..16u+15 = the 8 u16 (9-bit index | 7 sign bits << 9) of sub-blocks 2u, 2u+1; their scale bytes
// scales[2u], scales[2u+1] (one 2-byte load).
template <> struct VecDot<TypeId::IQ2_XS> {
    using G = Grouped<TypeId::IQ2_XS>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 q;
        uint32_t d, sc;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        r.q = load_weight16(G::main(row, b) + 16 * u);
        r.d = load_weight2(G::head0(row, b));
        r.sc = load_weight2(G::head1(row, b) + 2 * u);
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t qv[4] = {(uint32_t)r.q.x, (uint32_t)r.q.y, (uint32_t)r.q.z, (uint32_t)r.q.w};
        int w[2][8];
#pragma unroll
        for (int p = 0; p < 8; ++p) {  // point p % 4 of sub-block p / 4
            const uint32_t q = (qv[p / 2] >> (16 * (p % 2))) & 0xFFFF;
            iq2_point_words<TypeId::IQ2_XS>((int)(q & 511), iq_signs8(q >> 9), &w[p / 4][2 * (p % 4)]);
        }
        const float d = half_bits_to_float((uint16_t)r.d) * 0.125f;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 64 * u;
            const int sumi = iq2_sub_block_dot16x2(w[0], r.sc, xq) + iq2_sub_block_dot16x2(w[1], r.sc >> 8, xq + 32);
            acc[t] += (float)sumi * (d * load_dx(x.ds + t * (x.n_in / 32) + 8 * b));
        }
    }
};

// IQ2_S (regrouped: d; qh[8] + scales[8] in the head; main = qs[64]: 32 index bytes, then 32 sign
// bytes): unit u = sub-blocks 2u, 2u+1: index bytes qs[8u..8u+7], sign bytes qs[32 + 8u..] (two
// 8-byte loads), qh[2u..2u+1] and scales[2u..2u+1] (2-byte loads). Point l of sub-block ib has index
// qs[4 ib + l] | bits 2l..2l+1 of qh[ib] << 8.
template <> struct VecDot<TypeId::IQ2_S> {
    using G = Grouped<TypeId::IQ2_S>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int2 idx, signs;
        uint32_t d, qh, sc;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* qs = G::main(row, b);
        r.idx = load_weight8(qs + 8 * u);
        r.signs = load_weight8(qs + 32 + 8 * u);
        r.d = load_weight2(G::head0(row, b));
        const uint8_t* qh_scales = G::head1(row, b);
        r.qh = load_weight2(qh_scales + 2 * u);
        r.sc = load_weight2(qh_scales + 8 + 2 * u);
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t idx[2] = {(uint32_t)r.idx.x, (uint32_t)r.idx.y};
        const uint32_t signs[2] = {(uint32_t)r.signs.x, (uint32_t)r.signs.y};
        int w[2][8];
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            const uint32_t qh = r.qh >> (8 * s);
#pragma unroll
            for (int l = 0; l < 4; ++l) {
                const int index = (int)(((idx[s] >> (8 * l)) & 0xFF) | ((qh << (8 - 2 * l)) & 0x300));
                iq2_point_words<TypeId::IQ2_S>(index, (signs[s] >> (8 * l)) & 0xFF, &w[s][2 * l]);
            }
        }
        const float d = half_bits_to_float((uint16_t)r.d) * 0.125f;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 64 * u;
            const int sumi = iq2_sub_block_dot16x2(w[0], r.sc, xq) + iq2_sub_block_dot16x2(w[1], r.sc >> 8, xq + 32);
            acc[t] += (float)sumi * (d * load_dx(x.ds + t * (x.n_in / 32) + 8 * b));
        }
    }
};

// IQ3_XXS (regrouped: d in the head; main = qs[96]: 64 index bytes, then per sub-block a word of
// 4 x 7 sign bits | ls << 28): unit u = sub-blocks 2u, 2u+1: index bytes 16u..16u+15 (one 16-byte
// load; 8 points of 4 elements per sub-block) and words 64 + 8u.. (one 8-byte load). Sign byte l of a
// sub-block covers its points 2l, 2l+1.
template <> struct VecDot<TypeId::IQ3_XXS> {
    using G = Grouped<TypeId::IQ3_XXS>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 idx;
        int2 aux;
        uint32_t d;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* qs = G::main(row, b);
        r.idx = load_weight16(qs + 16 * u);
        r.aux = load_weight8(qs + 64 + 8 * u);
        r.d = load_weight2(G::head0(row, b));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t idx[4] = {(uint32_t)r.idx.x, (uint32_t)r.idx.y, (uint32_t)r.idx.z, (uint32_t)r.idx.w};
        const uint32_t aux[2] = {(uint32_t)r.aux.x, (uint32_t)r.aux.y};
        int w[2][8];
        int scale[2];
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            scale[s] = 2 * (int)(aux[s] >> 28) + 1;
#pragma unroll
            for (int l = 0; l < 4; ++l) {
                const uint32_t signs8 = iq_signs8((aux[s] >> (7 * l)) & 127);
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int k = 2 * l + half;  // point k: index byte k % 4 of word 2s + k / 4
                    const uint32_t point = kIqGrid<TypeId::IQ3_XXS>.points[(idx[2 * s + k / 4] >> (8 * (k % 4))) & 0xFF];
                    w[s][k] = iq_apply_signs4(point, signs8 >> (4 * half));
                }
            }
        }
        const float d = half_bits_to_float((uint16_t)r.d) * 0.25f;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 64 * u;
            const int sumi = scale[0] * iq_dot32(w[0], xq) + scale[1] * iq_dot32(w[1], xq + 32);
            acc[t] += (float)sumi * (d * load_dx(x.ds + t * (x.n_in / 32) + 8 * b));
        }
    }
};

// IQ3_S (regrouped: d; qh[8], signs[32], scales[4] as one 44-byte head field, 4-byte aligned; main =
// qs[64]): unit u = sub-blocks 2u, 2u+1: index bytes 16u..16u+15 (point k of sub-block s: byte k of
// the 8 bytes 8s.. | bit k of qh[2u + s] << 8), sign words signs[8u..8u+7] (nibble k for point k),
// scale byte scales[u] (low nibble: sub-block 2u, high: 2u+1).
template <> struct VecDot<TypeId::IQ3_S> {
    using G = Grouped<TypeId::IQ3_S>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 idx;
        uint32_t signs0, signs1;
        uint32_t d, qh, sc;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        r.idx = load_weight16(G::main(row, b) + 16 * u);
        const uint8_t* extra = G::head1(row, b);
        r.signs0 = load_weight4(extra + 8 + 8 * u);
        r.signs1 = load_weight4(extra + 12 + 8 * u);
        r.qh = load_weight2(extra + 2 * u);
        r.sc = load_weight1(extra + 40 + u);
        r.d = load_weight2(G::head0(row, b));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t idx[4] = {(uint32_t)r.idx.x, (uint32_t)r.idx.y, (uint32_t)r.idx.z, (uint32_t)r.idx.w};
        const uint32_t signs[2] = {r.signs0, r.signs1};
        int w[2][8];
        int scale[2];
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            scale[s] = 2 * (int)((r.sc >> (4 * s)) & 0xF) + 1;
            const uint32_t qh = r.qh >> (8 * s);
#pragma unroll
            for (int k = 0; k < 8; ++k) {
                const uint32_t index = ((idx[2 * s + k / 4] >> (8 * (k % 4))) & 0xFF) | (((qh >> k) & 1) << 8);
                w[s][k] = iq_apply_signs4(kIqGrid<TypeId::IQ3_S>.points[index], signs[s] >> (4 * k));
            }
        }
        const float d = half_bits_to_float((uint16_t)r.d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 64 * u;
            const int sumi = scale[0] * iq_dot32(w[0], xq) + scale[1] * iq_dot32(w[1], xq + 32);
            acc[t] += (float)sumi * (d * load_dx(x.ds + t * (x.n_in / 32) + 8 * b));
        }
    }
};

}  // namespace shootout::cuda
