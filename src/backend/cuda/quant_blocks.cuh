// Device-side views of the weight blocks, one traits struct per weight type:
//   Dequant16<T>::run(row, e0, out): elements e0..e0+15 of a row (e0 a multiple of 16) as floats,
//     for the GEMMs that dequantize tiles (gemm.cu, gemm_dequant.cu);
//   VecDot<T> (matvec_units.cuh): the decode product's int8 dot products.
// Rows are in the device layout of weight_layout.h: Q4_K, Q5_K, F16, BF16 as in the GGUF file, the
// other quantized types (MXFP4, Q2_K, Q3_K, IQ4_NL, IQ4_XS included) regrouped (Grouped<T> finds a
// block's fields). Field layouts of the blocks are quant/block_formats.h (ggml-common.h); the comments
// give the element mapping.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_types.h"
#include "backend/cuda/weight_layout.h"
#include "quant/block_formats.h"
#include "quant/type_table.h"

namespace shootout::cuda {

using quant::TypeId;

__device__ __forceinline__ float half_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_bits_to_float(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
// A small integer (|v| < 2^22) as a float, exactly, by the 1.5 * 2^23 trick: an integer add and a
// float subtract at full rate instead of I2F, which runs at a quarter of the rate and was what bound
// the prompt GEMMs' dequantization (Dequant16, one conversion per weight).
__device__ __forceinline__ float small_int_to_float(int v) { return __int_as_float(0x4B400000 + v) - 12582912.0f; }

// Bits b0..b3 of `bits` moved to bit 4 of bytes 0..3 (the 5th bit of four 5-bit quants).
__device__ __forceinline__ int spread_bit4(uint32_t bits) {
    return (int)((((bits & 0xFu) * 0x00204081u) & 0x01010101u) << 4);
}

// MXFP4's E8M0 exponent as the float 2^(e-128) (quant::e8m0_to_fp32_half; e < 2: subnormals).
__device__ __forceinline__ float e8m0_half_to_float(uint32_t e) {
    return __uint_as_float(e < 2 ? 0x00200000u << e : (e - 1) << 23);
}

// A 16-entry int8 table (quant::kMXFP4Values, quant::kIQ4NLValues) packed four to a word (entry
// 4w + i in byte i of word w), for __byte_perm.
constexpr uint32_t table16_word(const int8_t (&table)[16], int w) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= (uint32_t)(uint8_t)table[4 * w + i] << (8 * i);
    return v;
}
struct Table16Words {
    uint32_t w0, w1, w2, w3;
};
constexpr Table16Words table16_words(const int8_t (&table)[16]) {
    return {table16_word(table, 0), table16_word(table, 1), table16_word(table, 2), table16_word(table, 3)};
}
constexpr Table16Words kMxfp4Words = table16_words(quant::kMXFP4Values);
constexpr Table16Words kIq4nlWords = table16_words(quant::kIQ4NLValues);

// The table values of the 8 nibbles of a word of quants (bytes 0..3 = qs[j..j+3]): lo holds the
// values of the low nibbles (elements j..j+3) as int8 bytes, hi those of the high nibbles (elements
// j+16..j+19). A nibble's low 3 bits pick a byte of table words 0-1 (entries 0-7) and of words 2-3
// (entries 8-15); its bit 3 picks between the two. The words are template arguments so that they
// stay immediates of the PRMTs.
template <uint32_t W0, uint32_t W1, uint32_t W2, uint32_t W3>
__device__ __forceinline__ void table16_lookup(uint32_t q, int& lo, int& hi) {
    uint32_t v[2];  // v[i]: values of nibbles 4i..4i+3 of q (low, high of byte 2i, then of byte 2i+1)
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const uint32_t s = q >> (16 * i);
        const uint32_t first = __byte_perm(W0, W1, s & 0x7777u);
        const uint32_t second = __byte_perm(W2, W3, s & 0x7777u);
        // byte n of first (selector n), or of second (n + 4) where the nibble's bit 3 is set
        v[i] = __byte_perm(first, second, 0x3210u | ((s & 0x8888u) >> 1));
    }
    lo = (int)__byte_perm(v[0], v[1], 0x6420u);
    hi = (int)__byte_perm(v[0], v[1], 0x7531u);
}
__device__ __forceinline__ void mxfp4_lookup(uint32_t q, int& lo, int& hi) {
    table16_lookup<kMxfp4Words.w0, kMxfp4Words.w1, kMxfp4Words.w2, kMxfp4Words.w3>(q, lo, hi);
}
// MXFP4 for dot products, in fewer instructions than mxfp4_lookup: its table is symmetric (entry
// 8 + i is -entry i, entry 8 is 0), so a value is 2 pos - mag with mag = entry (n & 7) and pos =
// mag for n < 8, 0 for n >= 8. Both come from one PRMT each over entries 0-7: mag with the
// nibbles' bit 3 cleared, pos with it kept, where prmt's generic mode then replicates the sign bit
// of the selected byte (0 for every entry 0-7) instead of copying it. mag_lo / pos_lo hold
// elements j..j+3 (low nibbles), mag_hi / pos_hi elements j+16..j+19, as mxfp4_lookup's lo / hi.
constexpr bool mxfp4_table_is_symmetric() {
    for (int i = 0; i < 8; ++i)
        if (quant::kMXFP4Values[i] < 0 || quant::kMXFP4Values[8 + i] != -quant::kMXFP4Values[i]) return false;
    return true;
}
static_assert(mxfp4_table_is_symmetric(), "entry 8 + i is -entry i, and entries 0-7 have a clear sign bit");
__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
    uint32_t d;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
    return d;
}
__device__ __forceinline__ void mxfp4_mag_pos(uint32_t q, uint32_t& mag_lo, uint32_t& mag_hi, uint32_t& pos_lo,
                                              uint32_t& pos_hi) {
    uint32_t mag[2], pos[2];  // [i]: nibbles 4i..4i+3 (low, high of byte 2i, then of byte 2i+1)
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const uint32_t s = q >> (16 * i);
        mag[i] = prmt(kMxfp4Words.w0, kMxfp4Words.w1, s & 0x7777u);
        pos[i] = prmt(kMxfp4Words.w0, kMxfp4Words.w1, s);  // prmt reads the low 16 bits
    }
    mag_lo = __byte_perm(mag[0], mag[1], 0x6420u);
    mag_hi = __byte_perm(mag[0], mag[1], 0x7531u);
    pos_lo = __byte_perm(pos[0], pos[1], 0x6420u);
    pos_hi = __byte_perm(pos[0], pos[1], 0x7531u);
}
__device__ __forceinline__ void iq4nl_lookup(uint32_t q, int& lo, int& hi) {
    table16_lookup<kIq4nlWords.w0, kIq4nlWords.w1, kIq4nlWords.w2, kIq4nlWords.w3>(q, lo, hi);
}

// Dequant16 of the table types (MXFP4, IQ4_NL, IQ4_XS): 16 quant bytes whose low nibbles index elements
// 0..15 and high nibbles 16..31 of a 32-element piece; the half `high` of it, each table value times d
// (a product, so the order of the factors does not change a bit).
template <void (*kLookup)(uint32_t, int&, int&)>
__device__ __forceinline__ void dequant16_table(const uint8_t* qs, bool high, float d, float (&out)[16]) {
    const int4 q = *reinterpret_cast<const int4*>(qs);
    const uint32_t qw[4] = {(uint32_t)q.x, (uint32_t)q.y, (uint32_t)q.z, (uint32_t)q.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        int lo, hi;
        kLookup(qw[k], lo, hi);
        const int v = high ? hi : lo;
#pragma unroll
        for (int i = 0; i < 4; ++i) out[4 * k + i] = d * small_int_to_float((int8_t)(v >> (8 * i)));
    }
}

// The 6-bit scale (0..63; the value is ls - 32) of sub-block ib of an IQ4_XS block from the block's
// first 8 bytes as two words: dsh = d | scales_h << 16, sl = scales_l[0..3]. scales_l[ib / 2]'s
// nibble ib % 2 starts at bit 4 ib of sl; scales_h's bits 2 ib, 2 ib + 1 give bits 4-5.
__device__ __forceinline__ int iq4xs_scale_dev(uint32_t dsh, uint32_t sl, int ib) {
    return (int)(((sl >> (4 * ib)) & 0xFu) | (((dsh >> (16 + 2 * ib)) & 3u) << 4));
}

// ggml's get_scale_min_k4 on the 12 packed bytes of a Q4_K / Q5_K block.
__device__ __forceinline__ void k4_scale_min_dev(int j, const uint8_t* q, int& sc, int& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Where block b's fields lie in a row of a regrouped type (weight_layout.h): head field 0 (d, or
// d and m), head field 1 (Q5's qh), and the main part (the quants).
template <TypeId T>
struct Grouped {
    static constexpr int kBlocks = grouped_layout(T).group_blocks();
    static constexpr int kGroupBytes = grouped_layout(T).group_bytes();
    static constexpr int kHead0Bytes = grouped_layout(T).head[0].bytes;
    static constexpr int kHead1Offset = grouped_layout(T).head_offset(1);
    static constexpr int kHead1Bytes = grouped_layout(T).head[1].bytes;
    static constexpr int kMainOffset = grouped_layout(T).head_bytes();
    static constexpr int kMainBytes = grouped_layout(T).main.bytes;
    static_assert(grouped_layout(T).grouped && kMainOffset % 16 == 0 && kMainBytes % 16 == 0);

    // Block indices are never negative: divided as unsigned, so a power-of-two group is a shift and
    // a mask (signed division adds a sign correction to every address of every unit).
    template <typename I>
    __device__ static const uint8_t* group(const uint8_t* row, I b) {
        return row + (size_t)(static_cast<std::make_unsigned_t<I>>(b) / kBlocks) * kGroupBytes;
    }
    template <typename I>
    __device__ static int in_group(I b) {
        return (int)(static_cast<std::make_unsigned_t<I>>(b) % kBlocks);
    }
    template <typename I>
    __device__ static const uint8_t* head0(const uint8_t* row, I b) {
        return group(row, b) + in_group(b) * kHead0Bytes;
    }
    template <typename I>
    __device__ static const uint8_t* head1(const uint8_t* row, I b) {
        return group(row, b) + kHead1Offset + in_group(b) * kHead1Bytes;
    }
    template <typename I>
    __device__ static const uint8_t* main(const uint8_t* row, I b) {
        return group(row, b) + kMainOffset + in_group(b) * kMainBytes;
    }
};

// ---- Dequant16: 16 consecutive elements of a row as floats ---------------------------------------

template <TypeId T> struct Dequant16;

template <> struct Dequant16<TypeId::F16> {
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int4* p = reinterpret_cast<const int4*>(row + 2 * e0);
        const int4 v[2] = {p[0], p[1]};
        const __half* h = reinterpret_cast<const __half*>(v);
#pragma unroll
        for (int i = 0; i < 16; ++i) out[i] = __half2float(h[i]);
    }
};

template <> struct Dequant16<TypeId::BF16> {
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int4* p = reinterpret_cast<const int4*>(row + 2 * e0);
        const int4 v[2] = {p[0], p[1]};
        const uint16_t* h = reinterpret_cast<const uint16_t*>(v);
#pragma unroll
        for (int i = 0; i < 16; ++i) out[i] = bf16_bits_to_float(h[i]);
    }
};

// Q4_0 / Q4_1 / Q5_0 / Q5_1: qs[j] low nibble = element j, high nibble = element j + 16; the 5th bit
// of element j is bit j of qh. Value d*q + m (m = -8d, -16d for Q4_0, Q5_0).
template <TypeId T, bool kHasMin, bool kHasHigh>
struct DequantLegacy4 {
    using G = Grouped<T>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 32;
        const int half = (int)(e0 % 32) / 16;
        float d, m;
        if constexpr (kHasMin) {
            const uint32_t dm = *reinterpret_cast<const uint32_t*>(G::head0(row, b));
            d = half_bits_to_float((uint16_t)(dm & 0xFFFF));
            m = half_bits_to_float((uint16_t)(dm >> 16));
        } else {
            d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
            m = kHasHigh ? -16.f * d : -8.f * d;
        }
        uint32_t qh = 0;
        if constexpr (kHasHigh) qh = *reinterpret_cast<const uint32_t*>(G::head1(row, b)) >> (16 * half);
        const int4 q = *reinterpret_cast<const int4*>(G::main(row, b));
        const uint32_t qw[4] = {(uint32_t)q.x, (uint32_t)q.y, (uint32_t)q.z, (uint32_t)q.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                int v = (int)((qw[k] >> (8 * i + 4 * half)) & 0xF);
                if constexpr (kHasHigh) v |= (int)((qh >> (4 * k + i)) & 1) << 4;
                out[4 * k + i] = d * small_int_to_float(v) + m;
            }
        }
    }
};

template <> struct Dequant16<TypeId::Q4_0> : DequantLegacy4<TypeId::Q4_0, false, false> {};
template <> struct Dequant16<TypeId::Q4_1> : DequantLegacy4<TypeId::Q4_1, true, false> {};
template <> struct Dequant16<TypeId::Q5_0> : DequantLegacy4<TypeId::Q5_0, false, true> {};
template <> struct Dequant16<TypeId::Q5_1> : DequantLegacy4<TypeId::Q5_1, true, true> {};

template <> struct Dequant16<TypeId::Q8_0> {
    using G = Grouped<TypeId::Q8_0>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 32;
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        const int4 q = *reinterpret_cast<const int4*>(G::main(row, b) + e0 % 32);
        const int qw[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
#pragma unroll
            for (int i = 0; i < 4; ++i) out[4 * k + i] = d * small_int_to_float((int8_t)(qw[k] >> (8 * i)));
        }
    }
};

// MXFP4 (regrouped, 16 blocks a group: the exponents in the head, qs the main part): qs[j] low
// nibble = element j, high nibble = element j + 16; value kMXFP4Values[nibble] * 2^(e-128).
template <> struct Dequant16<TypeId::MXFP4> {
    using G = Grouped<TypeId::MXFP4>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 32;
        const bool high = (e0 % 32) >= 16;
        dequant16_table<mxfp4_lookup>(G::main(row, b), high, e8m0_half_to_float(*G::head0(row, b)), out);
    }
};

// IQ4_NL (regrouped as Q4_0: d in the head, qs the main part): qs[j] low nibble = element j, high
// nibble = element j + 16; value d * kIQ4NLValues[nibble] (the CPU's order: d times the value).
template <> struct Dequant16<TypeId::IQ4_NL> {
    using G = Grouped<TypeId::IQ4_NL>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 32;
        const bool high = (e0 % 32) >= 16;
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        dequant16_table<iq4nl_lookup>(G::main(row, b), high, d, out);
    }
};

// IQ4_XS (regrouped: d, scales_h, scales_l in the head, qs[128] the main part): sub-block ib
// (elements 32 ib..32 ib + 31) = qs[16 ib + j], low nibble element j, high nibble j + 16; value
// (d * (ls - 32)) * kIQ4NLValues[nibble], the CPU's order.
template <> struct Dequant16<TypeId::IQ4_XS> {
    using G = Grouped<TypeId::IQ4_XS>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const int r = (int)(e0 % 256);
        const int ib = r / 32;
        const bool high = (r % 32) >= 16;
        const uint2 head = *reinterpret_cast<const uint2*>(G::head0(row, b));
        const float dl = half_bits_to_float((uint16_t)(head.x & 0xFFFF)) *
                         small_int_to_float(iq4xs_scale_dev(head.x, head.y, ib) - 32);
        dequant16_table<iq4nl_lookup>(G::main(row, b) + 16 * ib, high, dl, out);
    }
};

// Q4_K / Q5_K: sub-block j (32 elements) = nibble j%2 of qs[32*(j/2) + l]; Q5_K's 5th bit is bit j
// of qh[l]; value d*sc_j*q - dmin*m_j.
template <typename Block, bool kHasHigh>
struct DequantK45 {
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const Block* b = reinterpret_cast<const Block*>(row) + e0 / 256;
        const int r = (int)(e0 % 256);
        const int j = r / 32, l0 = r % 32;
        int sc, m;
        k4_scale_min_dev(j, b->scales, sc, m);
        const float d = half_bits_to_float(b->d) * (float)sc;
        const float dm = half_bits_to_float(b->dmin) * (float)m;
        const int4 q = *reinterpret_cast<const int4*>(b->qs + 32 * (j / 2) + l0);
        const uint32_t qw[4] = {(uint32_t)q.x, (uint32_t)q.y, (uint32_t)q.z, (uint32_t)q.w};
        uint32_t hw[4] = {0, 0, 0, 0};
        if constexpr (kHasHigh) {
            const int4 h = *reinterpret_cast<const int4*>(b->qh + l0);
            hw[0] = (uint32_t)h.x; hw[1] = (uint32_t)h.y; hw[2] = (uint32_t)h.z; hw[3] = (uint32_t)h.w;
        }
#pragma unroll
        for (int k = 0; k < 4; ++k) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                int v = (int)((qw[k] >> (8 * i + 4 * (j % 2))) & 0xF);
                if constexpr (kHasHigh) v |= (int)((hw[k] >> (8 * i + j)) & 1) << 4;
                out[4 * k + i] = d * small_int_to_float(v) - dm;
            }
        }
    }
};

template <> struct Dequant16<TypeId::Q4_K> : DequantK45<quant::BlockQ4_K, false> {};
template <> struct Dequant16<TypeId::Q5_K> : DequantK45<quant::BlockQ5_K, true> {};

// Q6_K: element 128n + 32q + l: low 4 bits in ql[64n + 32(q&1) + l] (nibble q/2), high 2 bits are
// bits 2q..2q+1 of qh[32n + l], scale sc[8n + 2q + l/16]; value d*sc*(q6 - 32). The main part of a
// regrouped block is the GGUF block without d: ql at 0, qh at 128, scales at 192.
template <> struct Dequant16<TypeId::Q6_K> {
    using G = Grouped<TypeId::Q6_K>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const uint8_t* blk = G::main(row, b);
        const int r = (int)(e0 % 256);
        const int n = r / 128, q = (r % 128) / 32, l0 = r % 32;
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b))) *
                        (float)(int8_t)blk[192 + 8 * n + 2 * q + l0 / 16];
        const int4 lo = *reinterpret_cast<const int4*>(blk + 64 * n + 32 * (q & 1) + l0);
        const int4 hi = *reinterpret_cast<const int4*>(blk + 128 + 32 * n + l0);
        const uint32_t low[4] = {(uint32_t)lo.x, (uint32_t)lo.y, (uint32_t)lo.z, (uint32_t)lo.w};
        const uint32_t high[4] = {(uint32_t)hi.x, (uint32_t)hi.y, (uint32_t)hi.z, (uint32_t)hi.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int v = (int)((low[k] >> (8 * i + 4 * (q >> 1))) & 0xF) |
                              (int)(((high[k] >> (8 * i + 2 * q)) & 3) << 4);
                out[4 * k + i] = d * small_int_to_float(v - 32);
            }
        }
    }
};

// Q2_K (regrouped: main = scales[16], qs[64]; d, dmin in the head): element 128n + 32q + l is bits
// 2q..2q+1 of qs[32n + l]; group g = 8n + 2q + l/16 (16 elements) has scale scales[g] & 15 and min
// scales[g] >> 4; value d*sc*q - dmin*m.
template <> struct Dequant16<TypeId::Q2_K> {
    using G = Grouped<TypeId::Q2_K>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const uint8_t* blk = G::main(row, b);
        const int r = (int)(e0 % 256);
        const int n = r / 128, q = (r % 128) / 32, l0 = r % 32;
        const uint32_t dm = *reinterpret_cast<const uint32_t*>(G::head0(row, b));
        const int s = blk[r / 16];
        const float d = half_bits_to_float((uint16_t)(dm & 0xFFFF)) * (float)(s & 0xF);
        const float m = half_bits_to_float((uint16_t)(dm >> 16)) * (float)(s >> 4);
        const int4 qv = *reinterpret_cast<const int4*>(blk + 16 + 32 * n + l0);
        const uint32_t qw[4] = {(uint32_t)qv.x, (uint32_t)qv.y, (uint32_t)qv.z, (uint32_t)qv.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
#pragma unroll
            for (int i = 0; i < 4; ++i)
                out[4 * k + i] = d * small_int_to_float((int)((qw[k] >> (8 * i + 2 * q)) & 3)) - m;
        }
    }
};

// The signed 6-bit scale of group g (0..15) of a Q3_K block from its 12 packed bytes (quant::q3k_scale):
// low 4 bits in nibble g/8 of byte g%8, bits 4-5 in bits 2(g/4).. of byte 8 + g%4; minus 32.
__device__ __forceinline__ int q3k_scale_dev(int g, const uint8_t* packed) {
    const int low = (packed[g % 8] >> (4 * (g / 8))) & 0xF;
    const int high = (packed[8 + g % 4] >> (2 * (g / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// Q3_K (regrouped: main = hmask[32], qs[64]; d and the 12 scale bytes in the head): element
// 128n + 32q + l has its low 2 bits in bits 2q..2q+1 of qs[32n + l] and its high bit in bit 4n + q of
// hmask[l]; level = low + 4 high - 4 (-4..3); group g = 8n + 2q + l/16; value d*sc_g*level.
template <> struct Dequant16<TypeId::Q3_K> {
    using G = Grouped<TypeId::Q3_K>;
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const int64_t b = e0 / 256;
        const uint8_t* blk = G::main(row, b);
        const int r = (int)(e0 % 256);
        const int n = r / 128, q = (r % 128) / 32, l0 = r % 32;
        const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b))) *
                        (float)q3k_scale_dev(r / 16, G::head1(row, b));
        const int4 hm = *reinterpret_cast<const int4*>(blk + l0);
        const int4 qv = *reinterpret_cast<const int4*>(blk + 32 + 32 * n + l0);
        const uint32_t hw[4] = {(uint32_t)hm.x, (uint32_t)hm.y, (uint32_t)hm.z, (uint32_t)hm.w};
        const uint32_t qw[4] = {(uint32_t)qv.x, (uint32_t)qv.y, (uint32_t)qv.z, (uint32_t)qv.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int v = (int)((qw[k] >> (8 * i + 2 * q)) & 3) | (int)(((hw[k] >> (8 * i + 4 * n + q)) & 1) << 2);
                out[4 * k + i] = d * small_int_to_float(v - 4);
            }
        }
    }
};

}  // namespace shootout::cuda

// Dequant16 of the grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) and their lattice tables.
#include "backend/cuda/quant_blocks_iq23.cuh"
// TQ2_0, TQ1_0, IQ1_S, IQ1_M (their own file; it builds on the helpers above).
#include "backend/cuda/quant_blocks_tq_iq1.cuh"

namespace shootout::cuda {

// Calls f.template operator()<T>() with the compile-time type of a runtime id (the types with
// CUDA kernels: cuda_types.h); returns false for other ids.
template <typename F>
bool dispatch_type(TypeId id, F&& f) {
#define SHOOTOUT_DISPATCH_CASE(t) \
    case TypeId::t: f.template operator()<TypeId::t>(); return true;
    switch (id) {
        SHOOTOUT_CUDA_TYPES(SHOOTOUT_DISPATCH_CASE)
        default: return false;
    }
#undef SHOOTOUT_DISPATCH_CASE
}

}  // namespace shootout::cuda
