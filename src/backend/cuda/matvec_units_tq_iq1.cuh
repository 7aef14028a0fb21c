// Decode units (VecDot, see matvec_units.cuh) of the ternary types TQ2_0, TQ1_0 and of IQ1_S, IQ1_M.
// All four take Q8_K activations (backend/cpu/type_kernels.cpp; every (d, s) pair of a 256 block
// carries the block's d). Each unit computes the CPU's integer sums (backend/cpu/vec_dot_ternary.cpp,
// vec_dot_iq1.cpp) over its elements by dp4a and scales them in float; only the float summation order
// differs from the CPU (units of a block are scaled one by one, not summed in int32 first).
// Included by matvec_units.cuh.
#pragma once

#include "backend/cuda/matvec_units.cuh"
#include "backend/cuda/quant_blocks_tq_iq1.cuh"

namespace shootout::cuda {

__device__ __forceinline__ int2 load_x8(const int8_t* p) { return *reinterpret_cast<const int2*>(p); }

// TQ2_0 (regrouped: d in the head, qs[64] the main part): unit u = qs[16u..16u+15]; with n = u/2,
// h = u%2 its bits 2l.. (l = 0..3) are the 16 elements 128n + 32l + 16h... The CPU sums t * x_q and
// subtracts sum(x_q) (bsums); here each level is made t - 1 (-1, 0, 1) in its byte first, the same
// integer. Times d_w d_x.
template <> struct VecDot<TypeId::TQ2_0> : Units16WithD<TypeId::TQ2_0> {
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const int n = u >> 1, h = u & 1;
        const uint32_t qv[4] = {(uint32_t)r.q.x, (uint32_t)r.q.y, (uint32_t)r.q.z, (uint32_t)r.q.w};
        int v[4][4];  // [l][word]: t - 1
#pragma unroll
        for (int l = 0; l < 4; ++l)
#pragma unroll
            for (int k = 0; k < 4; ++k) v[l][k] = bytes_minus((qv[k] >> (2 * l)) & 0x03030303u, 0x01010101u);
        const float d = half_bits_to_float((uint16_t)r.d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 128 * n + 16 * h;
            int sum = 0;
#pragma unroll
            for (int l = 0; l < 4; ++l) sum = dot16(v[l], load_x16(xq + 32 * l), sum);
            const float dx = load_dx(x.ds + t * (x.n_in / 32) + 8 * b);
            acc[t] += dx * d * (float)sum;
        }
    }
};

// TQ1_0 (regrouped: d, qh[4] in the head, qs[48] the main part; element order in
// quant_blocks_tq_iq1.cuh): two units a block, each 128 elements: unit u = trits 0..4 of
// qs[16u..16u+15] (elements 32t + 16u + j), trits 0..4 of qs[32 + 8u..+7] (elements 160 + 16t + 8u
// + j) and trits 2u, 2u + 1 of qh[0..3] (elements 240 + 8u + 4(t - 2u) + j: 8 consecutive). (32 % kUnits
// must be 0, so the 48 + 4 quant bytes are split in 2, not 3.) Each trit t becomes t - 1 in its byte;
// the sum is the CPU's sum(t x_q) - sum(x_q). Times d_w d_x.
template <> struct VecDot<TypeId::TQ1_0> {
    using G = Grouped<TypeId::TQ1_0>;
    static constexpr int kElems = 256, kUnits = 2, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int4 q;       // qs[16u..16u+15]
        int2 q2;      // qs[32 + 8u..+7]
        uint32_t qh;  // qh[0..3]
        uint32_t d;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* blk = G::main(row, b);
        r.q = load_weight16(blk + 16 * u);
        r.q2 = load_weight8(blk + 32 + 8 * u);
        r.qh = load_weight4(G::head1(row, b));
        r.d = load_weight2(G::head0(row, b));
    }
    // Trit n (pow3 = 3^n) of the unit's 24 qs bytes times the activations, into sum[t].
    template <int NT>
    __device__ static void trit_step(const uint32_t (&qv)[4], const uint32_t (&q2)[2], int n, uint32_t pow3, int b,
                                     int u, const QuantizedX& x, int (&sum)[NT]) {
        int a[4], c[2];
#pragma unroll
        for (int k = 0; k < 4; ++k) a[k] = bytes_minus(tq1_trits(qv[k], pow3), 0x01010101u);
#pragma unroll
        for (int k = 0; k < 2; ++k) c[k] = bytes_minus(tq1_trits(q2[k], pow3), 0x01010101u);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b;
            sum[t] = dot16(a, load_x16(xq + 32 * n + 16 * u), sum[t]);
            const int2 xv = load_x8(xq + 160 + 16 * n + 8 * u);
            sum[t] = __dp4a(c[1], xv.y, __dp4a(c[0], xv.x, sum[t]));
        }
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t qv[4] = {(uint32_t)r.q.x, (uint32_t)r.q.y, (uint32_t)r.q.z, (uint32_t)r.q.w};
        const uint32_t q2[2] = {(uint32_t)r.q2.x, (uint32_t)r.q2.y};
        // Trit by trit, all tokens at once: the 6 words of one trit (t - 1 per byte) live while the
        // tokens' int sums do. The trit loop stays rolled: unrolled, the compiler hoists the
        // activation loads of all 5 trits, which spilled for 7 tokens in matvec and for 1 token in
        // moe_matvec (2 units in flight, 64 registers); holding all 30 words spilled for 8 tokens.
        int sum[NT];
#pragma unroll
        for (int t = 0; t < NT; ++t) sum[t] = 0;
        uint32_t pow3 = 1;
#pragma unroll 1
        for (int n = 0; n < 5; ++n, pow3 *= 3) trit_step(qv, q2, n, pow3, b, u, x, sum);
        const int e0 = bytes_minus(tq1_trits(r.qh, u ? 9u : 1u), 0x01010101u);
        const int e1 = bytes_minus(tq1_trits(r.qh, u ? 27u : 3u), 0x01010101u);
        const float d = half_bits_to_float((uint16_t)r.d);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int2 xh = load_x8(x.qs + t * x.n_in + 256 * b + 240 + 8 * u);
            const int total = __dp4a(e1, xh.y, __dp4a(e0, xh.x, sum[t]));
            const float dx = load_dx(x.ds + t * (x.n_in / 32) + 8 * b);
            acc[t] += dx * d * (float)total;
        }
    }
};

// IQ1_S (regrouped: d in the head; main = qs[32], qh[8] as in the block): unit u = sub-blocks 2u,
// 2u + 1 (elements 64u..64u + 63): qs[8u..8u+7] and qh[2u], qh[2u + 1] (one u32). As the CPU, per
// sub-block ib: (2 ls + 1) sum(w8 x_q) with w8 = 8 g +- 1 (the shift sign of the sub-block) built in
// the bytes from the lattice levels; the unit's int (|.| <= 2 * 15 * 32 * 9 * 128 < 2^24) times
// d_w d_x / 8.
template <> struct VecDot<TypeId::IQ1_S> {
    using G = Grouped<TypeId::IQ1_S>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int2 qs;
        uint32_t qh;
        uint32_t d;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* blk = G::main(row, b);
        r.qs = load_weight8(blk + 8 * u);
        r.qh = load_weight4(blk + 32 + 4 * u);
        r.d = load_weight2(G::head0(row, b));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        int w[2][2][4];  // [sub-block][half][word]: w8 of elements 16 half + 4 word..
        int scale[2];
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            const uint32_t qh = (r.qh >> (16 * s)) & 0xFFFF;
            const uint32_t qs = (uint32_t)(s ? r.qs.y : r.qs.x);
            scale[s] = (int)(2 * ((qh >> 12) & 7) + 1);
#pragma unroll
            for (int l = 0; l < 4; ++l) {
                const int index = (int)(((qs >> (8 * l)) & 0xFF) | (((qh >> (3 * l)) & 7) << 8));
                iq1_group_times8(index, qh & 0x8000, w[s][l / 2][2 * (l % 2)], w[s][l / 2][2 * (l % 2) + 1]);
            }
        }
        const float d8 = half_bits_to_float((uint16_t)r.d) * 0.125f;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 64 * u;
            int sum = 0;
#pragma unroll
            for (int s = 0; s < 2; ++s)
                sum += scale[s] * dot16(w[s][1], load_x16(xq + 32 * s + 16), dot16(w[s][0], load_x16(xq + 32 * s), 0));
            const float dx = load_dx(x.ds + t * (x.n_in / 32) + 8 * b);
            acc[t] += dx * d8 * (float)sum;
        }
    }
};

// IQ1_M (regrouped: scales[8] in the head; main = qs[32], qh[16] as in the block): unit u =
// sub-blocks 2u, 2u + 1: qs[8u..8u+7], qh[4u..4u+3] (one u32: byte 2s + k holds groups 2k, 2k + 1 of
// sub-block 2u + s in its nibbles) and the 8 scale bytes (scale word u: the 4 sub-scales of the unit;
// all 4 words: d). As the CPU: per 16 elements (2 ls + 1) sum(w8 x_q), w8 = 8 g +- 1 (a shift sign
// per group of 8); the unit's int (<= 4 * 15 * 16 * 9 * 128 < 2^24) times d_w d_x / 8.
template <> struct VecDot<TypeId::IQ1_M> {
    using G = Grouped<TypeId::IQ1_M>;
    static constexpr int kElems = 256, kUnits = 4, kInFlight = 1, kMinBlocks = 8;
    struct Regs {
        int2 qs;
        uint32_t qh;
        int2 sc;
    };
    __device__ static void load(const uint8_t* row, int b, int u, Regs& r) {
        const uint8_t* blk = G::main(row, b);
        r.qs = load_weight8(blk + 8 * u);
        r.qh = load_weight4(blk + 32 + 4 * u);
        r.sc = load_weight8(G::head0(row, b));
    }
    template <int NT>
    __device__ static void dot(const Regs& r, int b, int u, const QuantizedX& x, float (&acc)[NT]) {
        const uint32_t s01 = (uint32_t)r.sc.x, s23 = (uint32_t)r.sc.y;
        const uint32_t word = ((u < 2 ? s01 : s23) >> (16 * (u % 2))) & 0xFFFF;
        int w[2][2][4];  // [sub-block][half][word]
        int scale[2][2];
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            const uint32_t qs = (uint32_t)(s ? r.qs.y : r.qs.x);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                scale[s][h] = (int)(2 * ((word >> (6 * s + 3 * h)) & 7) + 1);
                const uint32_t qh = (r.qh >> (16 * s + 8 * h)) & 0xFF;
#pragma unroll
                for (int k = 0; k < 2; ++k) {  // group 2h + k: nibble k of qh
                    const uint32_t nib = (qh >> (4 * k)) & 0xF;
                    const int index = (int)(((qs >> (8 * (2 * h + k))) & 0xFF) | ((nib & 7) << 8));
                    iq1_group_times8(index, nib & 8, w[s][h][2 * k], w[s][h][2 * k + 1]);
                }
            }
        }
        const float d8 = iq1m_d_dev(s01, s23) * 0.125f;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const int8_t* xq = x.qs + t * x.n_in + 256 * b + 64 * u;
            int sum = 0;
#pragma unroll
            for (int s = 0; s < 2; ++s)
#pragma unroll
                for (int h = 0; h < 2; ++h) sum += scale[s][h] * dot16(w[s][h], load_x16(xq + 32 * s + 16 * h), 0);
            const float dx = load_dx(x.ds + t * (x.n_in / 32) + 8 * b);
            acc[t] += dx * d8 * (float)sum;
        }
    }
};

}  // namespace shootout::cuda
