// Device-side views of the GGUF blocks, one traits struct per weight type, used by both products:
//   Dequant16<T>::run(row, e0, out): elements e0..e0+15 of a row (e0 a multiple of 16) as floats,
//     for the tensor-core GEMM that stages dequantized tiles in shared memory;
//   VecDot<T>: the row split into "units" (a fixed piece of a block), each dotted with activations
//     quantized to 8-bit blocks of 32 (Q8_1-like: qs int8, d, s = d * sum(qs)) with int8 dp4a.
// Field layouts are quant/block_formats.h (ggml-common.h); the comments give the element mapping.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "quant/block_formats.h"
#include "quant/type_table.h"

namespace shootout::cuda {

using quant::TypeId;

__device__ __forceinline__ float half_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_bits_to_float(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

// 4 bytes from an address that is only 2-byte aligned (blocks of 18, 22, 34, 210 bytes).
__device__ __forceinline__ int load_int_b2(const void* p) {
    const uint16_t* q = static_cast<const uint16_t*>(p);
    return (int)((uint32_t)q[0] | ((uint32_t)q[1] << 16));
}
__device__ __forceinline__ int load_int_b4(const void* p) { return *static_cast<const int*>(p); }

// Bits b0..b3 of `bits` moved to bit 4 of bytes 0..3 (the 5th bit of four 5-bit quants).
__device__ __forceinline__ int spread_bit4(uint32_t bits) {
    return (int)((((bits & 0xFu) * 0x00204081u) & 0x01010101u) << 4);
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

// Activations quantized for the int8 products: per token n_in int8 values and n_in/32 (d, s) pairs.
struct QuantizedX {
    const int8_t* qs;
    const float2* ds;
    int64_t n_in;  // stride of qs between tokens; ds stride is n_in / 32
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

// Q4_0 / Q4_1 / Q5_0 / Q5_1: qs[j] low nibble = element j, high nibble = element j + 16.
template <typename Block, bool kHasMin, bool kHasHigh>
struct DequantLegacy4 {
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const Block* b = reinterpret_cast<const Block*>(row) + e0 / 32;
        const int half = (int)(e0 % 32) / 16;
        const float d = half_bits_to_float(b->d);
        float m;
        uint32_t qh = 0;
        if constexpr (kHasMin) m = half_bits_to_float(b->m);
        else m = kHasHigh ? -16.f * d : -8.f * d;
        if constexpr (kHasHigh) qh = (uint32_t)load_int_b2(b->qh) >> (16 * half);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const uint32_t q4 = (uint32_t)load_int_b2(b->qs + 4 * k);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                int q = (int)((q4 >> (8 * i + 4 * half)) & 0xF);
                if constexpr (kHasHigh) q |= (int)((qh >> (4 * k + i)) & 1) << 4;
                out[4 * k + i] = d * (float)q + m;
            }
        }
    }
};

template <> struct Dequant16<TypeId::Q4_0> : DequantLegacy4<quant::BlockQ4_0, false, false> {};
template <> struct Dequant16<TypeId::Q4_1> : DequantLegacy4<quant::BlockQ4_1, true, false> {};
template <> struct Dequant16<TypeId::Q5_0> : DequantLegacy4<quant::BlockQ5_0, false, true> {};
template <> struct Dequant16<TypeId::Q5_1> : DequantLegacy4<quant::BlockQ5_1, true, true> {};

template <> struct Dequant16<TypeId::Q8_0> {
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const quant::BlockQ8_0* b = reinterpret_cast<const quant::BlockQ8_0*>(row) + e0 / 32;
        const int off = (int)(e0 % 32);
        const float d = half_bits_to_float(b->d);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int v = load_int_b2(b->qs + off + 4 * k);
#pragma unroll
            for (int i = 0; i < 4; ++i) out[4 * k + i] = d * (float)(int8_t)(v >> (8 * i));
        }
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
                out[4 * k + i] = d * (float)v - dm;
            }
        }
    }
};

template <> struct Dequant16<TypeId::Q4_K> : DequantK45<quant::BlockQ4_K, false> {};
template <> struct Dequant16<TypeId::Q5_K> : DequantK45<quant::BlockQ5_K, true> {};

// Q6_K: element 128n + 32q + l: low 4 bits in ql[64n + 32(q&1) + l] (nibble q/2), high 2 bits are
// bits 2q..2q+1 of qh[32n + l], scale sc[8n + 2q + l/16]; value d*sc*(q6 - 32).
template <> struct Dequant16<TypeId::Q6_K> {
    __device__ static void run(const uint8_t* row, int64_t e0, float (&out)[16]) {
        const quant::BlockQ6_K* b = reinterpret_cast<const quant::BlockQ6_K*>(row) + e0 / 256;
        const int r = (int)(e0 % 256);
        const int n = r / 128, q = (r % 128) / 32, l0 = r % 32;
        const float d = half_bits_to_float(b->d) * (float)b->scales[8 * n + 2 * q + l0 / 16];
        const uint8_t* ql = b->ql + 64 * n + 32 * (q & 1) + l0;
        const uint8_t* qh = b->qh + 32 * n + l0;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const uint32_t lo = (uint32_t)load_int_b2(ql + 4 * k);
            const uint32_t hi = (uint32_t)load_int_b2(qh + 4 * k);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int v = (int)((lo >> (8 * i + 4 * (q >> 1))) & 0xF) | (int)(((hi >> (8 * i + 2 * q)) & 3) << 4);
                out[4 * k + i] = d * (float)(v - 32);
            }
        }
    }
};

// ---- VecDot: int8 dot products of weight units with Q8_1-like activations ------------------------
// dot<NT>(block, u, x, b, acc): adds unit u of weight block b (block pointer given) times the matching
// activations of each of NT tokens to acc[t].

template <TypeId T> struct VecDot;

// Legacy 4/5-bit: unit h (0, 1) = qs bytes 8h..8h+7, i.e. elements 8h..8h+7 (low nibbles) and
// 16+8h..16+8h+7 (high nibbles). The offset (8 or 16) or the min is applied through s = d_x*sum(x_q):
// each unit adds half of the block's correction, so the two units together add all of it.
template <typename Block, bool kHasMin, bool kHasHigh>
struct VecDotLegacy4 {
    static constexpr int kElems = 32, kBytes = sizeof(Block), kUnits = 2;
    template <int NT>
    __device__ static void dot(const uint8_t* blk, int h, const QuantizedX& x, int64_t b, float (&acc)[NT]) {
        const Block* w = reinterpret_cast<const Block*>(blk);
        int v[2];
        if constexpr (sizeof(Block) % 4 == 0) {
            v[0] = load_int_b4(w->qs + 8 * h);
            v[1] = load_int_b4(w->qs + 8 * h + 4);
        } else {
            v[0] = load_int_b2(w->qs + 8 * h);
            v[1] = load_int_b2(w->qs + 8 * h + 4);
        }
        int lo[2], hi[2];
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            lo[k] = v[k] & 0x0F0F0F0F;
            hi[k] = (v[k] >> 4) & 0x0F0F0F0F;
        }
        if constexpr (kHasHigh) {
            const uint32_t qh = (uint32_t)(sizeof(Block) % 4 == 0 ? load_int_b4(w->qh) : load_int_b2(w->qh));
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                lo[k] |= spread_bit4(qh >> (8 * h + 4 * k));
                hi[k] |= spread_bit4(qh >> (16 + 8 * h + 4 * k));
            }
        }
        const float d = half_bits_to_float(w->d);
        float m;
        if constexpr (kHasMin) m = half_bits_to_float(w->m);
        else m = kHasHigh ? -16.f * d : -8.f * d;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + b * 32;
            const int2 xl = *reinterpret_cast<const int2*>(xq + 8 * h);
            const int2 xh = *reinterpret_cast<const int2*>(xq + 16 + 8 * h);
            int sumi = __dp4a(lo[0], xl.x, 0);
            sumi = __dp4a(lo[1], xl.y, sumi);
            sumi = __dp4a(hi[0], xh.x, sumi);
            sumi = __dp4a(hi[1], xh.y, sumi);
            const float2 ds = x.ds[t * (x.n_in / 32) + b];
            acc[t] += d * ds.x * (float)sumi + 0.5f * m * ds.y;
        }
    }
};

template <> struct VecDot<TypeId::Q4_0> : VecDotLegacy4<quant::BlockQ4_0, false, false> {};
template <> struct VecDot<TypeId::Q4_1> : VecDotLegacy4<quant::BlockQ4_1, true, false> {};
template <> struct VecDot<TypeId::Q5_0> : VecDotLegacy4<quant::BlockQ5_0, false, true> {};
template <> struct VecDot<TypeId::Q5_1> : VecDotLegacy4<quant::BlockQ5_1, true, true> {};

// Q8_0: unit h = elements 16h..16h+15.
template <> struct VecDot<TypeId::Q8_0> {
    static constexpr int kElems = 32, kBytes = sizeof(quant::BlockQ8_0), kUnits = 2;
    template <int NT>
    __device__ static void dot(const uint8_t* blk, int h, const QuantizedX& x, int64_t b, float (&acc)[NT]) {
        const quant::BlockQ8_0* w = reinterpret_cast<const quant::BlockQ8_0*>(blk);
        int v[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) v[k] = load_int_b2(w->qs + 16 * h + 4 * k);
        const float d = half_bits_to_float(w->d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int4 xv = *reinterpret_cast<const int4*>(x.qs + t * x.n_in + b * 32 + 16 * h);
            int sumi = __dp4a(v[0], xv.x, 0);
            sumi = __dp4a(v[1], xv.y, sumi);
            sumi = __dp4a(v[2], xv.z, sumi);
            sumi = __dp4a(v[3], xv.w, sumi);
            acc[t] += d * x.ds[t * (x.n_in / 32) + b].x * (float)sumi;
        }
    }
};

// Q4_K / Q5_K: unit u = qs bytes 32p + 16(u%2) .. +15 (p = u/2): 16 elements of sub-block 2p (low
// nibbles) and 16 of sub-block 2p+1 (high nibbles), at offsets l = 16(u%2) + 0..15.
template <typename Block, bool kHasHigh>
struct VecDotK45 {
    static constexpr int kElems = 256, kBytes = sizeof(Block), kUnits = 8;
    template <int NT>
    __device__ static void dot(const uint8_t* blk, int u, const QuantizedX& x, int64_t b, float (&acc)[NT]) {
        const Block* w = reinterpret_cast<const Block*>(blk);
        const int p = u / 2, l0 = 16 * (u % 2);
        const int j0 = 2 * p, j1 = 2 * p + 1;
        const int4 q = *reinterpret_cast<const int4*>(w->qs + 32 * p + l0);
        const int qv[4] = {q.x, q.y, q.z, q.w};
        int lo[4], hi[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            lo[k] = qv[k] & 0x0F0F0F0F;
            hi[k] = (qv[k] >> 4) & 0x0F0F0F0F;
        }
        if constexpr (kHasHigh) {
            const int4 h = *reinterpret_cast<const int4*>(w->qh + l0);
            const int hv[4] = {h.x, h.y, h.z, h.w};
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                lo[k] |= ((hv[k] >> j0) & 0x01010101) << 4;
                hi[k] |= ((hv[k] >> j1) & 0x01010101) << 4;
            }
        }
        int sc0, m0, sc1, m1;
        k4_scale_min_dev(j0, w->scales, sc0, m0);
        k4_scale_min_dev(j1, w->scales, sc1, m1);
        const float d = half_bits_to_float(w->d), dmin = half_bits_to_float(w->dmin);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + b * 256;
            const int4 x0 = *reinterpret_cast<const int4*>(xq + 32 * j0 + l0);
            const int4 x1 = *reinterpret_cast<const int4*>(xq + 32 * j1 + l0);
            int s0 = __dp4a(lo[0], x0.x, 0);
            s0 = __dp4a(lo[1], x0.y, s0);
            s0 = __dp4a(lo[2], x0.z, s0);
            s0 = __dp4a(lo[3], x0.w, s0);
            int s1 = __dp4a(hi[0], x1.x, 0);
            s1 = __dp4a(hi[1], x1.y, s1);
            s1 = __dp4a(hi[2], x1.z, s1);
            s1 = __dp4a(hi[3], x1.w, s1);
            const float2* ds = x.ds + t * (x.n_in / 32) + b * 8;
            const float2 ds0 = ds[j0], ds1 = ds[j1];
            // Each unit covers half of each sub-block, so it subtracts half of the sub-block's min term.
            acc[t] += d * ((float)sc0 * ds0.x * (float)s0 + (float)sc1 * ds1.x * (float)s1) -
                      0.5f * dmin * ((float)m0 * ds0.y + (float)m1 * ds1.y);
        }
    }
};

template <> struct VecDot<TypeId::Q4_K> : VecDotK45<quant::BlockQ4_K, false> {};
template <> struct VecDot<TypeId::Q5_K> : VecDotK45<quant::BlockQ5_K, true> {};

// Q6_K: unit u = (n = u/4, l0 = 8(u%4)): ql[64n + l0..+7], ql[64n + 32 + l0..+7], qh[32n + l0..+7]
// give 8 elements in each of the four quarters q = 0..3 of half n (see Dequant16<Q6_K>).
template <> struct VecDot<TypeId::Q6_K> {
    static constexpr int kElems = 256, kBytes = sizeof(quant::BlockQ6_K), kUnits = 8;
    template <int NT>
    __device__ static void dot(const uint8_t* blk, int u, const QuantizedX& x, int64_t b, float (&acc)[NT]) {
        const quant::BlockQ6_K* w = reinterpret_cast<const quant::BlockQ6_K*>(blk);
        const int n = u / 4, l0 = 8 * (u % 4);
        int v[4][2];  // [quarter][int]
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            const int a = load_int_b2(w->ql + 64 * n + l0 + 4 * k);
            const int c = load_int_b2(w->ql + 64 * n + 32 + l0 + 4 * k);
            const int h = load_int_b2(w->qh + 32 * n + l0 + 4 * k);
            v[0][k] = __vsubss4((a & 0x0F0F0F0F) | ((h << 4) & 0x30303030), 0x20202020);
            v[1][k] = __vsubss4((c & 0x0F0F0F0F) | ((h << 2) & 0x30303030), 0x20202020);
            v[2][k] = __vsubss4(((a >> 4) & 0x0F0F0F0F) | (h & 0x30303030), 0x20202020);
            v[3][k] = __vsubss4(((c >> 4) & 0x0F0F0F0F) | ((h >> 2) & 0x30303030), 0x20202020);
        }
        float sc[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) sc[q] = (float)w->scales[8 * n + 2 * q + l0 / 16];
        const float d = half_bits_to_float(w->d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + b * 256 + 128 * n + l0;
            const float2* ds = x.ds + t * (x.n_in / 32) + b * 8 + 4 * n;
            float sum = 0.f;
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int2 xv = *reinterpret_cast<const int2*>(xq + 32 * q);
                const int s = __dp4a(v[q][1], xv.y, __dp4a(v[q][0], xv.x, 0));
                sum += sc[q] * ds[q].x * (float)s;
            }
            acc[t] += d * sum;
        }
    }
};

// Calls f.template operator()<T>() with the compile-time type of a runtime id (the types with
// CUDA kernels); returns false for other ids.
template <typename F>
bool dispatch_type(TypeId id, F&& f) {
    switch (id) {
        case TypeId::F16: f.template operator()<TypeId::F16>(); return true;
        case TypeId::BF16: f.template operator()<TypeId::BF16>(); return true;
        case TypeId::Q8_0: f.template operator()<TypeId::Q8_0>(); return true;
        case TypeId::Q4_0: f.template operator()<TypeId::Q4_0>(); return true;
        case TypeId::Q4_1: f.template operator()<TypeId::Q4_1>(); return true;
        case TypeId::Q5_0: f.template operator()<TypeId::Q5_0>(); return true;
        case TypeId::Q5_1: f.template operator()<TypeId::Q5_1>(); return true;
        case TypeId::Q4_K: f.template operator()<TypeId::Q4_K>(); return true;
        case TypeId::Q5_K: f.template operator()<TypeId::Q5_K>(); return true;
        case TypeId::Q6_K: f.template operator()<TypeId::Q6_K>(); return true;
        default: return false;
    }
}

}  // namespace shootout::cuda
