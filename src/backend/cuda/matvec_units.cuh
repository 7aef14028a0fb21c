// The decode product's pieces of work ("units"), one traits struct per quantized type: a warp walks
// a row, lane l taking units l, l + 32, ...; each unit is 16 bytes of quants (48 for Q6_K, 32 for
// Q3_K with its high bits) and the scales they need, dotted with the activations quantized to 8 bits
// (activation_quant.h) by dp4a.
//   load(row, b, u, regs): the weight bytes of unit u of block b into registers, 16-byte loads that
//     bypass L1 (the weights are read once; L1 keeps the activations every warp of the SM reads);
//   dot<NT>(regs, b, u, x, acc): adds that unit times the activations of NT tokens to acc[t].
// The kernel issues the loads of kInFlight units before the first dot, and asks for kMinBlocks
// resident blocks of 4 warps for 1 token (registers: 65536 / (128 kMinBlocks)). Measured (H100 and
// H200, bench_cuda_kernels): one unit a step with 32 warps an SM beats 2, 4 or 8 units in flight for
// every type, by 5-20 %: the loads of many warps, each waiting on its own, keep DRAM busier than a
// few warps with long bursts.
// Rows are in the device layout of weight_layout.h (Grouped<T> for the regrouped types).
#pragma once

#include "backend/cuda/quant_blocks.cuh"

namespace shootout::cuda {

// Activations quantized for the int8 products: per token n_in int8 values and n_in/32 (d, s) pairs
// (s = d * sum of the 32 qs).
struct QuantizedX {
    const int8_t* qs;
    const float2* ds;
    int64_t n_in;  // stride of qs between tokens; ds stride is n_in / 32
};

// 16 / 8 bytes of weights, read once: no L1 allocation, L2 fetches 256-byte lines.
__device__ __forceinline__ int4 load_weight16(const void* p) {
    int4 v;
    asm("ld.global.nc.L1::no_allocate.L2::256B.v4.s32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
}
__device__ __forceinline__ int2 load_weight8(const void* p) {
    int2 v;
    asm("ld.global.nc.L1::no_allocate.v2.s32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
    return v;
}
__device__ __forceinline__ uint32_t load_weight4(const void* p) { return __ldg(static_cast<const unsigned int*>(p)); }
__device__ __forceinline__ uint32_t load_weight2(const void* p) { return __ldg(static_cast<const unsigned short*>(p)); }
__device__ __forceinline__ uint32_t load_weight1(const void* p) { return __ldg(static_cast<const unsigned char*>(p)); }

// Activations (read by every warp of the SM: through L1, where global loads are cached by default).
// Ordinary coherent loads, not __ldg: the kernel before this one wrote them, and with PDL (pdl.cuh)
// this kernel starts while that one still runs, where a non-coherent load is not defined.
__device__ __forceinline__ int4 load_x16(const int8_t* p) { return *reinterpret_cast<const int4*>(p); }
__device__ __forceinline__ float load_dx(const float2* p) { return p->x; }
__device__ __forceinline__ float2 load_ds(const float2* p) { return *p; }
__device__ __forceinline__ float4 load_ds4(const float2* p) { return *reinterpret_cast<const float4*>(p); }

__device__ __forceinline__ int dot16(const int (&w)[4], int4 x, int acc) {
    acc = __dp4a(w[0], x.x, acc);
    acc = __dp4a(w[1], x.y, acc);
    acc = __dp4a(w[2], x.z, acc);
    return __dp4a(w[3], x.w, acc);
}

template <TypeId T> struct VecDot;

// Legacy 4/5-bit: one unit per block (16 quant bytes = 32 elements: low nibbles 0..15, high 16..31).
template <TypeId T, bool kHasMin, bool kHasHigh>
struct VecDotLegacy4 {
    using G = Grouped<T>;
    static constexpr int kElems = 32, kUnits = 1, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 q;
        uint32_t dm;  // d (low half), m (high half, Q4_1/Q5_1)
        uint32_t qh;
    };
    __device__ static void load(const uint8_t* row, int b, int, Regs& r) {
        r.q = load_weight16(G::main(row, b));
        r.dm = kHasMin ? load_weight4(G::head0(row, b)) : load_weight2(G::head0(row, b));
        r.qh = kHasHigh ? load_weight4(G::head1(row, b)) : 0u;
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t qv[4] = {(uint32_t)r.q.x, (uint32_t)r.q.y, (uint32_t)r.q.z, (uint32_t)r.q.w};
        int lo[4], hi[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            lo[k] = (int)(qv[k] & 0x0F0F0F0Fu);
            hi[k] = (int)((qv[k] >> 4) & 0x0F0F0F0Fu);
            if constexpr (kHasHigh) {
                lo[k] |= spread_bit4(r.qh >> (4 * k));
                hi[k] |= spread_bit4(r.qh >> (16 + 4 * k));
            }
        }
        const float d = half_bits_to_float((uint16_t)(r.dm & 0xFFFF));
        const float m = kHasMin ? half_bits_to_float((uint16_t)(r.dm >> 16)) : (kHasHigh ? -16.f : -8.f) * d;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 32 * b;
            const int sumi = dot16(hi, load_x16(xq + 16), dot16(lo, load_x16(xq), 0));
            const float2 ds = load_ds(x.ds + t * (x.n_in / 32) + b);
            acc[t] += d * ds.x * (float)sumi + m * ds.y;
        }
    }
};

template <> struct VecDot<TypeId::Q4_0> : VecDotLegacy4<TypeId::Q4_0, false, false> {};
template <> struct VecDot<TypeId::Q4_1> : VecDotLegacy4<TypeId::Q4_1, true, false> {};
template <> struct VecDot<TypeId::Q5_0> : VecDotLegacy4<TypeId::Q5_0, false, true> {};
template <> struct VecDot<TypeId::Q5_1> : VecDotLegacy4<TypeId::Q5_1, true, true> {};

// The loads of the types whose unit u is main bytes 16u..16u+15 of its block, with the block's F16 d
// as head field 0 (Q8_0, TQ2_0, IQ2_XXS).
template <TypeId T>
struct Units16WithD {
    using G = Grouped<T>;
    struct Regs {
        int4 q;
        uint32_t d;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        r.q = load_weight16(G::main(row, b) + 16 * u);
        r.d = load_weight2(G::head0(row, b));
    }
};

// Q8_0: unit u = elements 16u..16u+15 of the block.
template <> struct VecDot<TypeId::Q8_0> : Units16WithD<TypeId::Q8_0> {
    static constexpr int kElems = 32, kUnits = 2, kInFlight = 1, kMinBlocks = 8;
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const int q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
        const float d = half_bits_to_float((uint16_t)r.d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int sumi = dot16(q, load_x16(x.qs + t * x.n_in + 32 * b + 16 * u), 0);
            acc[t] += d * load_dx(&x.ds[t * (x.n_in / 32) + b]) * (float)sumi;
        }
    }
};

// MXFP4 and IQ4_NL: one unit per block (16 quant bytes = 32 elements, low nibbles 0..15, high
// 16..31), each nibble looked up in the type's int8 table (MXFP4's values doubled, its exponent's
// float 2^(e-128); IQ4_NL's d an F16). As the CPU: per block (float)sum(value * x_q) * (d_w * d_x).
template <TypeId T, void (*kLookup)(uint32_t, int&, int&)>
struct VecDotTable32 {
    using G = Grouped<T>;
    static constexpr bool kE8M0 = T == TypeId::MXFP4;
    static constexpr int kElems = 32, kUnits = 1, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 q;
        uint32_t d;  // MXFP4: the exponent byte; IQ4_NL: the F16 bits
    };
    __device__ static void load(const uint8_t* row, int b, int, Regs& r) {
        r.q = load_weight16(G::main(row, b));
        r.d = kE8M0 ? load_weight1(G::head0(row, b)) : load_weight2(G::head0(row, b));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t qv[4] = {(uint32_t)r.q.x, (uint32_t)r.q.y, (uint32_t)r.q.z, (uint32_t)r.q.w};
        // MXFP4: the values as 2 pos - mag (mxfp4_mag_pos), both summed as dp4a; the same integer
        // sum as the table's values, in fewer instructions. IQ4_NL: the table lookup.
        int lo[4], hi[4], pos_lo[4], pos_hi[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            if constexpr (kE8M0) {
                uint32_t ml, mh, pl, ph;
                mxfp4_mag_pos(qv[k], ml, mh, pl, ph);
                lo[k] = (int)ml, hi[k] = (int)mh, pos_lo[k] = (int)pl, pos_hi[k] = (int)ph;
            } else {
                kLookup(qv[k], lo[k], hi[k]);
            }
        }
        const float d = kE8M0 ? e8m0_half_to_float(r.d) : half_bits_to_float((uint16_t)r.d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 32 * b;
            const int4 xl = load_x16(xq), xh = load_x16(xq + 16);
            int sumi = dot16(hi, xh, dot16(lo, xl, 0));
            if constexpr (kE8M0) sumi = 2 * dot16(pos_hi, xh, dot16(pos_lo, xl, 0)) - sumi;
            const float dx = load_dx(&x.ds[t * (x.n_in / 32) + b]);
            acc[t] += (float)sumi * (d * dx);
        }
    }
};
template <> struct VecDot<TypeId::MXFP4> : VecDotTable32<TypeId::MXFP4, mxfp4_lookup> {};
template <> struct VecDot<TypeId::IQ4_NL> : VecDotTable32<TypeId::IQ4_NL, iq4nl_lookup> {};

// IQ4_XS (regrouped: the 8 bytes d, scales_h, scales_l in the head; qs[128] the main part): unit u =
// sub-block u = qs bytes 16u..16u+15 (elements 32u + j low nibbles, 32u + 16 + j high), with the
// block's 8 head bytes (one 8-byte load; the 8 lanes of a block read the same address). Activations
// Q8_K: every (d, s) pair of a 256 block carries the block's d. The CPU sums (ls - 32) * sum(value *
// x_q) over the 8 sub-blocks in int32 and multiplies by d_w * d_x once a block; here each sub-block's
// int32 product (|.| <= 32 * 32 * 127 * 128 < 2^24: exact as a float) is scaled on its own, so only
// the float summation order differs.
template <> struct VecDot<TypeId::IQ4_XS> {
    using G = Grouped<TypeId::IQ4_XS>;
    static constexpr int kElems = 256, kUnits = 8, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 q;
        int2 head;  // x: d | scales_h << 16, y: scales_l[0..3]
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        r.q = load_weight16(G::main(row, b) + 16 * u);
        r.head = load_weight8(G::head0(row, b));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t qv[4] = {(uint32_t)r.q.x, (uint32_t)r.q.y, (uint32_t)r.q.z, (uint32_t)r.q.w};
        int lo[4], hi[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) iq4nl_lookup(qv[k], lo[k], hi[k]);
        const uint32_t dsh = (uint32_t)r.head.x;
        const int ls = iq4xs_scale_dev(dsh, (uint32_t)r.head.y, u) - 32;
        const float d = half_bits_to_float((uint16_t)(dsh & 0xFFFF));
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 32 * u;
            const int sumi = dot16(hi, load_x16(xq + 16), dot16(lo, load_x16(xq), 0));
            const float dx = load_dx(&x.ds[t * (x.n_in / 32) + 8 * b + u]);
            acc[t] += (float)(ls * sumi) * (d * dx);
        }
    }
};

// Q4_K / Q5_K (GGUF layout, 16-byte aligned): unit u = qs bytes 16u..16u+15, i.e. with p = u/2 and
// h = u%2, elements 16h..16h+15 of sub-blocks 2p (low nibbles) and 2p+1 (high nibbles). The first 16
// bytes of the block (d, dmin, 12 bytes of scales) come with every unit. (Measured on an H200: units
// of 32 quant bytes, both halves of a sub-block pair with one scale decoding, were 14 % slower.)
// Scales and mins of sub-blocks 2p, 2p+1 in bytes 0, 1 (ggml's get_scale_min_k4, two at once).
__device__ __forceinline__ void k4_scale_min_pair(const int4& head, int p, float& sc0, float& sc1, float& m0, float& m1) {
    const uint32_t s0 = (uint32_t)head.y, s1 = (uint32_t)head.z, s2 = (uint32_t)head.w;
    uint32_t sc, mn;
    if (p < 2) {
        const int sh = 16 * p;
        sc = (s0 >> sh) & 0x3F3Fu;
        mn = (s1 >> sh) & 0x3F3Fu;
    } else {
        const int sh = 16 * (p - 2);
        sc = ((s2 >> sh) & 0x0F0Fu) | (((s0 >> sh) >> 2) & 0x3030u);
        mn = (((s2 >> sh) >> 4) & 0x0F0Fu) | (((s1 >> sh) >> 2) & 0x3030u);
    }
    sc0 = (float)(sc & 0xFF);
    sc1 = (float)(sc >> 8);
    m0 = (float)(mn & 0xFF);
    m1 = (float)(mn >> 8);
}

// dp4a of unsigned weight bytes with signed activation bytes (Q6_K's 6-bit values as unsigned
// bytes, the -32 applied by a second dp4a).
__device__ __forceinline__ int dp4a_us(uint32_t w, int x, int acc) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(w), "r"(x), "r"(acc));
    return d;
}

// Low and high nibbles of 16 quant bytes, with Q5_K's 5th bits (bits j, j+1 of the qh bytes).
template <bool kHasHigh>
__device__ __forceinline__ void k45_split(const int4& q, const int4& qh, int j, int (&lo)[4], int (&hi)[4]) {
    const uint32_t qv[4] = {(uint32_t)q.x, (uint32_t)q.y, (uint32_t)q.z, (uint32_t)q.w};
    const uint32_t hv[4] = {(uint32_t)qh.x, (uint32_t)qh.y, (uint32_t)qh.z, (uint32_t)qh.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        lo[k] = (int)(qv[k] & 0x0F0F0F0Fu);
        hi[k] = (int)((qv[k] >> 4) & 0x0F0F0F0Fu);
        if constexpr (kHasHigh) {
            lo[k] |= (int)(((hv[k] >> j) & 0x01010101u) << 4);
            hi[k] |= (int)(((hv[k] >> (j + 1)) & 0x01010101u) << 4);
        }
    }
}

template <typename Block, bool kHasHigh>
struct VecDotK45 {
    static constexpr int kElems = 256, kUnits = 8, kInFlight = 1, kMinBlocks = 8;
    static constexpr int kQsOffset = kHasHigh ? 48 : 16, kQhOffset = 16;
    static_assert(sizeof(Block) % 16 == 0);
    struct Regs {
        int4 head, q, qh;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* blk = row + (size_t)b * sizeof(Block);
        r.head = load_weight16(blk);
        r.q = load_weight16(blk + kQsOffset + 16 * u);
        if constexpr (kHasHigh) r.qh = load_weight16(blk + kQhOffset + 16 * (u & 1));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const int p = u >> 1, l0 = 16 * (u & 1), j0 = 2 * p;
        float sc0, sc1, m0, m1;
        k4_scale_min_pair(r.head, p, sc0, sc1, m0, m1);
        const float d = half_bits_to_float((uint16_t)((uint32_t)r.head.x & 0xFFFF));
        const float dmin = half_bits_to_float((uint16_t)((uint32_t)r.head.x >> 16));
        int lo[4], hi[4];
        k45_split<kHasHigh>(r.q, r.qh, j0, lo, hi);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 32 * j0 + l0;
            const int s_lo = dot16(lo, load_x16(xq), 0);
            const int s_hi = dot16(hi, load_x16(xq + 32), 0);
            // (d, s) of sub-blocks j0 and j0+1: one 16-byte load (8b + j0 is even).
            const float4 ds = load_ds4(x.ds + t * (x.n_in / 32) + 8 * b + j0);
            // Each unit covers half of each sub-block, so it subtracts half of the sub-block's min term.
            acc[t] += d * (sc0 * ds.x * (float)s_lo + sc1 * ds.z * (float)s_hi) - 0.5f * dmin * (m0 * ds.y + m1 * ds.w);
        }
    }
};

template <> struct VecDot<TypeId::Q4_K> : VecDotK45<quant::BlockQ4_K, false> {};
template <> struct VecDot<TypeId::Q5_K> : VecDotK45<quant::BlockQ5_K, true> {};

// Q6_K (regrouped: main part = ql[128], qh[64], scales[16]; d in the head): unit u = (n = u/2,
// l0 = 16(u%2)): ql[64n + l0..+15], ql[64n + 32 + l0..+15], qh[32n + l0..+15] give 16 elements in
// each quarter q = 0..3 of half n (see Dequant16<Q6_K>), scales sc[8n + 2q + u%2].
template <> struct VecDot<TypeId::Q6_K> {
    using G = Grouped<TypeId::Q6_K>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 a, c, h;
        int2 sc;
        uint32_t d;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* blk = G::main(row, b);
        const int n = u >> 1, l0 = 16 * (u & 1);
        r.a = load_weight16(blk + 64 * n + l0);
        r.c = load_weight16(blk + 64 * n + 32 + l0);
        r.h = load_weight16(blk + 128 + 32 * n + l0);
        r.sc = load_weight8(blk + 192 + 8 * n);
        r.d = load_weight2(G::head0(row, b));
    }
    // sum (q - 32) x over 16 elements: q unsigned bytes 0..63, x signed.
    __device__ static int q6_dot16(const uint32_t (&q)[4], int4 x) {
        constexpr int kMinus32 = (int)0xE0E0E0E0u;
        int acc = __dp4a(kMinus32, x.x, dp4a_us(q[0], x.x, 0));
        acc = __dp4a(kMinus32, x.y, dp4a_us(q[1], x.y, acc));
        acc = __dp4a(kMinus32, x.z, dp4a_us(q[2], x.z, acc));
        return __dp4a(kMinus32, x.w, dp4a_us(q[3], x.w, acc));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const int n = u >> 1, l0 = 16 * (u & 1);
        const uint32_t av[4] = {(uint32_t)r.a.x, (uint32_t)r.a.y, (uint32_t)r.a.z, (uint32_t)r.a.w};
        const uint32_t cv[4] = {(uint32_t)r.c.x, (uint32_t)r.c.y, (uint32_t)r.c.z, (uint32_t)r.c.w};
        const uint32_t hv[4] = {(uint32_t)r.h.x, (uint32_t)r.h.y, (uint32_t)r.h.z, (uint32_t)r.h.w};
        // The 6-bit values as unsigned bytes (0..63); the -32 of each comes in as a second dp4a
        // with -32 in every byte (q6_dot16): two integer ops a word fewer than subtracting it in
        // the bytes ((q | 0x80..) - 0x20.. ^ 0x80.., as mmq_units.cuh's bytes_minus), the same sums.
        uint32_t v[4][4];  // [quarter][word]
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            v[0][k] = (av[k] & 0x0F0F0F0Fu) | ((hv[k] << 4) & 0x30303030u);
            v[1][k] = (cv[k] & 0x0F0F0F0Fu) | ((hv[k] << 2) & 0x30303030u);
            v[2][k] = ((av[k] >> 4) & 0x0F0F0F0Fu) | (hv[k] & 0x30303030u);
            v[3][k] = ((cv[k] >> 4) & 0x0F0F0F0Fu) | ((hv[k] >> 2) & 0x30303030u);
        }
        const int sh = 8 * (u & 1);
        const uint32_t w0 = (uint32_t)r.sc.x >> sh, w1 = (uint32_t)r.sc.y >> sh;
        const float sc[4] = {(float)(int8_t)(w0 & 0xFF), (float)(int8_t)((w0 >> 16) & 0xFF), (float)(int8_t)(w1 & 0xFF),
                             (float)(int8_t)((w1 >> 16) & 0xFF)};
        const float d = half_bits_to_float((uint16_t)r.d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 128 * n + l0;
            const float2* ds = x.ds + t * (x.n_in / 32) + 8 * b + 4 * n;
            const float4 ds01 = load_ds4(ds), ds23 = load_ds4(ds + 2);
            const float dx[4] = {ds01.x, ds01.z, ds23.x, ds23.z};
            float sum = 0.f;
#pragma unroll
            for (int q = 0; q < 4; ++q) sum += sc[q] * dx[q] * (float)q6_dot16(v[q], load_x16(xq + 32 * q));
            acc[t] += d * sum;
        }
    }
};

// The 4 bytes at offsets h, 2 + h of word a and of word b (h 0 or 1): the bytes of groups 8n + 2q + h,
// q = 0..3, when a, b hold a K-quant's per-16 bytes 8n..8n+7 (Q2_K's scales, Q3_K's low nibbles).
__device__ __forceinline__ uint32_t every_other_byte(uint32_t a, uint32_t b, int h) {
    return __byte_perm(a, b, h ? 0x7531u : 0x6420u);
}

// dp4a of one word, the same in all four products, with 16 activations (Q2_K's mins).
__device__ __forceinline__ int dot16_same(int w, int4 x, int acc) {
    acc = __dp4a(w, x.x, acc);
    acc = __dp4a(w, x.y, acc);
    acc = __dp4a(w, x.z, acc);
    return __dp4a(w, x.w, acc);
}

// Q2_K (regrouped: main = scales[16], qs[64]; d, dmin in the head): unit u = (n = u/2, h = u%2):
// qs[32n + 16h..+15], whose bits 2q..2q+1 are the 16 elements 128n + 32q + 16h.. of group
// g = 8n + 2q + h (q = 0..3); scales[8n..8n+7] hold those groups' scale and min nibbles. As the CPU,
// in integers: scaled = sum_g sc_g sum(level x), mins = sum_g m_g sum(x), then
// d_x (d scaled - dmin mins) (d_x: the Q8_K block's d, which each of its (d, s) pairs carries).
// sc_g (<= 15) times a level (<= 3) fits a byte, so the scale is applied to the levels before the dp4a.
template <> struct VecDot<TypeId::Q2_K> {
    using G = Grouped<TypeId::Q2_K>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 q;
        int2 sc;
        uint32_t dm;  // d (low half), dmin (high half)
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* blk = G::main(row, b);
        const int n = u >> 1, h = u & 1;
        r.q = load_weight16(blk + 16 + 32 * n + 16 * h);
        r.sc = load_weight8(blk + 8 * n);
        r.dm = load_weight4(G::head0(row, b));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const int n = u >> 1, h = u & 1;
        const uint32_t qv[4] = {(uint32_t)r.q.x, (uint32_t)r.q.y, (uint32_t)r.q.z, (uint32_t)r.q.w};
        const uint32_t s4 = every_other_byte((uint32_t)r.sc.x, (uint32_t)r.sc.y, h);  // byte q: group 8n+2q+h
        int v[4][4];  // [q][word]: level * sc, bytes 0..45
        int m[4];     // [q]: the min nibble in all four bytes
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const uint32_t sc = (s4 >> (8 * q)) & 0xF;
            m[q] = (int)(((s4 >> (8 * q + 4)) & 0xF) * 0x01010101u);
#pragma unroll
            for (int k = 0; k < 4; ++k) v[q][k] = (int)(((qv[k] >> (2 * q)) & 0x03030303u) * sc);
        }
        const float d = half_bits_to_float((uint16_t)(r.dm & 0xFFFF));
        const float dmin = half_bits_to_float((uint16_t)(r.dm >> 16));
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 128 * n + 16 * h;
            int scaled = 0, mins = 0;
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int4 xv = load_x16(xq + 32 * q);
                scaled = dot16(v[q], xv, scaled);
                mins = dot16_same(m[q], xv, mins);
            }
            const float dx = load_dx(x.ds + t * (x.n_in / 32) + 8 * b);
            acc[t] += dx * (d * (float)scaled - dmin * (float)mins);
        }
    }
};

// Q3_K (regrouped: main = hmask[32], qs[64]; d and the 12 packed scale bytes in the head): unit
// u = (n = u/2, h = u%2): qs[32n + 16h..+15] (bits 2q..2q+1) and hmask[16h..+15] (bit 4n + q) give the
// 16 elements 128n + 32q + 16h.. of group g = 8n + 2q + h (q = 0..3), level low + 4 high - 4. As the
// CPU, in integers: sum_g sc_g sum(level x), times d_x d. (sc_g * level reaches 128: no premultiply.)
template <> struct VecDot<TypeId::Q3_K> {
    using G = Grouped<TypeId::Q3_K>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 q, hm;
        uint32_t s0, s1, s2;  // the 12 packed scale bytes (4-byte aligned in the head, not 8)
        uint32_t d;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* blk = G::main(row, b);
        const int n = u >> 1, h = u & 1;
        r.hm = load_weight16(blk + 16 * h);
        r.q = load_weight16(blk + 32 + 32 * n + 16 * h);
        const uint8_t* sc = G::head1(row, b);
        r.s0 = load_weight4(sc);
        r.s1 = load_weight4(sc + 4);
        r.s2 = load_weight4(sc + 8);
        r.d = load_weight2(G::head0(row, b));
    }
    // level - 4 in each byte of a word of levels 0..7: (v + 128 - 4) ^ 128, no borrow between bytes.
    __device__ static int minus4(uint32_t v) { return (int)(((v | 0x80808080u) - 0x04040404u) ^ 0x80808080u); }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const int n = u >> 1, h = u & 1;
        // Scales of groups 8n + 2q + h (q in byte q; quant::q3k_scale): low 4 bits = nibble n of packed
        // byte 2q + h; bits 4-5 = bits 2(2n + q/2).. of packed byte 8 + 2(q%2) + h.
        const uint32_t low = (every_other_byte(r.s0, r.s1, h) >> (4 * n)) & 0x0F0F0F0Fu;
        const uint32_t hb = __byte_perm(r.s2, 0u, h ? 0x3131u : 0x2020u);
        const uint32_t high = ((hb >> (4 * n)) & 0x00000303u) | ((hb >> (4 * n + 2)) & 0x03030000u);
        const uint32_t sc6 = low | (high << 4);
        int sc[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) sc[q] = (int)((sc6 >> (8 * q)) & 0x3F) - 32;
        const uint32_t qv[4] = {(uint32_t)r.q.x, (uint32_t)r.q.y, (uint32_t)r.q.z, (uint32_t)r.q.w};
        const uint32_t hv[4] = {(uint32_t)r.hm.x, (uint32_t)r.hm.y, (uint32_t)r.hm.z, (uint32_t)r.hm.w};
        int v[4][4];  // [q][word]: levels -4..3
#pragma unroll
        for (int q = 0; q < 4; ++q)
#pragma unroll
            for (int k = 0; k < 4; ++k)
                v[q][k] = minus4(((qv[k] >> (2 * q)) & 0x03030303u) | (((hv[k] >> (4 * n + q)) & 0x01010101u) << 2));
        const float d = half_bits_to_float((uint16_t)r.d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 128 * n + 16 * h;
            int sum = 0;
#pragma unroll
            for (int q = 0; q < 4; ++q) sum += sc[q] * dot16(v[q], load_x16(xq + 32 * q), 0);
            const float dx = load_dx(x.ds + t * (x.n_in / 32) + 8 * b);
            acc[t] += dx * d * (float)sum;
        }
    }
};

}  // namespace shootout::cuda

// The grid i-quants' units (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S).
#include "backend/cuda/matvec_units_iq23.cuh"
// TQ2_0, TQ1_0, IQ1_S, IQ1_M (their own file).
#include "backend/cuda/matvec_units_tq_iq1.cuh"
