// The int8 expert GEMM's weight unpacking (moe_mmq.cu), one traits struct per quantized type:
//   MmqUnpack<T>::run(row, k0, half, q, scale, min): elements k0 + 16 half .. + 15 of a row (k0 a
//     multiple of 32, half 0 or 1) as 16 int8 values (q: bytes in element order), with the scale and
//     min term that turn the integer dot product of a 32-element piece with Q8 activations (qx, dx,
//     sx = dx * sum qx) into the float one:
//       sum_i w_i x_i = scale * dx * sum_i q_i qx_i + min * sx.
//   kHasMin: whether min can be nonzero (else the kernel skips the min term: one FMA per output and
//     step less);
//   kScalePer16: Q6_K, whose scale changes every 16 elements: each half has its own scale (min 0),
//     and the kernel takes the integer sums of the two halves apart.
// The algebra per type is the decode units' (matvec_units.cuh), which the CPU's vec_dot also uses:
//   Q4_0 / Q5_0: q = the 4/5-bit quant minus 8 / 16 (-8..7 / -16..15), scale d, no min (the decode
//     units keep q unsigned and add -8d / -16d times s: the same sum, other rounding);
//   Q4_1 / Q5_1: q as above, scale d, min m (the block's); activations Q8_1 (its s F16-rounded);
//   Q8_0: q as stored, scale d, min 0;  MXFP4: q = the int8 table value (doubled), scale 2^(e-128);
//   Q4_K / Q5_K (sub-block j of 32): q = the 4/5-bit quant, scale d * sc_j, min -dmin * m_j;
//   Q6_K (per 16): q = q6 - 32, scale d * sc (int8), min 0.
// Rows are in the device layout of weight_layout.h (Grouped<T> for the regrouped types); the field
// positions are those of Dequant16 (quant_blocks.cuh).
#pragma once

#include "backend/cuda/quant_blocks.cuh"

namespace shootout::cuda {

template <TypeId T> struct MmqUnpack;

// v - bias in each byte of a word of values 0..63, bias <= 32, as int8: (v + 128 - bias) ^ 128, no
// borrow between bytes (the prompt units need the int8 values themselves for mma).
template <uint32_t kBias>
__device__ __forceinline__ int bytes_minus(uint32_t v) {
    return (int)(((v | 0x80808080u) - kBias * 0x01010101u) ^ 0x80808080u);
}

// Legacy 4/5-bit: qs[j] low nibble = element j, high nibble = element j + 16; bit j of qh = the 5th
// bit of element j.
template <TypeId T, bool kHasMinField, bool kHasHigh>
struct MmqUnpackLegacy4 {
    using G = Grouped<T>;
    static constexpr bool kHasMin = kHasMinField, kScalePer16 = false;
    __device__ static void run(const uint8_t* row, int64_t k0, int half, int4& q, float& scale, float& min) {
        const int64_t b = k0 / 32;
        const int4 raw = *reinterpret_cast<const int4*>(G::main(row, b));
        uint32_t qh = 0;
        if constexpr (kHasHigh) qh = *reinterpret_cast<const uint32_t*>(G::head1(row, b)) >> (16 * half);
        const uint32_t qv[4] = {(uint32_t)raw.x, (uint32_t)raw.y, (uint32_t)raw.z, (uint32_t)raw.w};
        int v[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            v[k] = (int)((qv[k] >> (4 * half)) & 0x0F0F0F0Fu);
            if constexpr (kHasHigh) v[k] |= spread_bit4(qh >> (4 * k));
            if constexpr (!kHasMinField) v[k] = bytes_minus<kHasHigh ? 16 : 8>((uint32_t)v[k]);
        }
        q = make_int4(v[0], v[1], v[2], v[3]);
        if constexpr (kHasMinField) {
            const uint32_t dm = *reinterpret_cast<const uint32_t*>(G::head0(row, b));
            scale = half_bits_to_float((uint16_t)(dm & 0xFFFF));
            min = half_bits_to_float((uint16_t)(dm >> 16));
        } else {
            scale = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
            min = 0.f;
        }
    }
};

template <> struct MmqUnpack<TypeId::Q4_0> : MmqUnpackLegacy4<TypeId::Q4_0, false, false> {};
template <> struct MmqUnpack<TypeId::Q4_1> : MmqUnpackLegacy4<TypeId::Q4_1, true, false> {};
template <> struct MmqUnpack<TypeId::Q5_0> : MmqUnpackLegacy4<TypeId::Q5_0, false, true> {};
template <> struct MmqUnpack<TypeId::Q5_1> : MmqUnpackLegacy4<TypeId::Q5_1, true, true> {};

template <> struct MmqUnpack<TypeId::Q8_0> {
    using G = Grouped<TypeId::Q8_0>;
    static constexpr bool kHasMin = false, kScalePer16 = false;
    __device__ static void run(const uint8_t* row, int64_t k0, int half, int4& q, float& scale, float& min) {
        const int64_t b = k0 / 32;
        q = *reinterpret_cast<const int4*>(G::main(row, b) + 16 * half);
        scale = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b)));
        min = 0.f;
    }
};

// MXFP4: nibbles as Legacy4's, each looked up in the int8 table (values doubled; the exponent's
// float 2^(e-128) halves them back).
template <> struct MmqUnpack<TypeId::MXFP4> {
    using G = Grouped<TypeId::MXFP4>;
    static constexpr bool kHasMin = false, kScalePer16 = false;
    __device__ static void run(const uint8_t* row, int64_t k0, int half, int4& q, float& scale, float& min) {
        const int64_t b = k0 / 32;
        const int4 raw = *reinterpret_cast<const int4*>(G::main(row, b));
        const uint32_t qv[4] = {(uint32_t)raw.x, (uint32_t)raw.y, (uint32_t)raw.z, (uint32_t)raw.w};
        int v[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            int lo, hi;
            mxfp4_lookup(qv[k], lo, hi);
            v[k] = half ? hi : lo;
        }
        q = make_int4(v[0], v[1], v[2], v[3]);
        scale = e8m0_half_to_float(*G::head0(row, b));
        min = 0.f;
    }
};

// Q4_K / Q5_K (GGUF layout): sub-block j = nibble j%2 of qs[32 (j/2) + l]; Q5_K's 5th bit is bit j
// of qh[l]; value d sc_j q - dmin m_j.
template <typename Block, bool kHasHigh>
struct MmqUnpackK45 {
    static constexpr bool kHasMin = true, kScalePer16 = false;
    __device__ static void run(const uint8_t* row, int64_t k0, int half, int4& q, float& scale, float& min) {
        const Block* b = reinterpret_cast<const Block*>(row) + k0 / 256;
        const int j = (int)(k0 % 256) / 32, l0 = 16 * half;
        const int4 raw = *reinterpret_cast<const int4*>(b->qs + 32 * (j / 2) + l0);
        const uint32_t qv[4] = {(uint32_t)raw.x, (uint32_t)raw.y, (uint32_t)raw.z, (uint32_t)raw.w};
        uint32_t hv[4] = {0, 0, 0, 0};
        if constexpr (kHasHigh) {
            const int4 h = *reinterpret_cast<const int4*>(b->qh + l0);
            hv[0] = (uint32_t)h.x; hv[1] = (uint32_t)h.y; hv[2] = (uint32_t)h.z; hv[3] = (uint32_t)h.w;
        }
        int v[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            v[k] = (int)((qv[k] >> (4 * (j % 2))) & 0x0F0F0F0Fu);
            if constexpr (kHasHigh) v[k] |= (int)(((hv[k] >> j) & 0x01010101u) << 4);
        }
        q = make_int4(v[0], v[1], v[2], v[3]);
        int sc, m;
        k4_scale_min_dev(j, b->scales, sc, m);
        scale = half_bits_to_float(b->d) * (float)sc;
        min = -half_bits_to_float(b->dmin) * (float)m;
    }
};

template <> struct MmqUnpack<TypeId::Q4_K> : MmqUnpackK45<quant::BlockQ4_K, false> {};
template <> struct MmqUnpack<TypeId::Q5_K> : MmqUnpackK45<quant::BlockQ5_K, true> {};

// Q6_K (regrouped: main part = ql[128], qh[64], scales[16]; d in the head): element 128n + 32q + l
// has its low 4 bits in nibble q/2 of ql[64n + 32(q&1) + l], its high 2 bits in bits 2q..2q+1 of
// qh[32n + l], scale sc[8n + 2q + l/16]; value d sc (q6 - 32). A half (16 elements) has one scale.
template <> struct MmqUnpack<TypeId::Q6_K> {
    using G = Grouped<TypeId::Q6_K>;
    static constexpr bool kHasMin = false, kScalePer16 = true;
    __device__ static void run(const uint8_t* row, int64_t k0, int half, int4& q, float& scale, float& min) {
        const int64_t b = k0 / 256;
        const uint8_t* blk = G::main(row, b);
        const int r = (int)(k0 % 256);
        const int n = r / 128, qq = (r % 128) / 32, l0 = 16 * half;
        const int4 lo = *reinterpret_cast<const int4*>(blk + 64 * n + 32 * (qq & 1) + l0);
        const int4 hi = *reinterpret_cast<const int4*>(blk + 128 + 32 * n + l0);
        const uint32_t low[4] = {(uint32_t)lo.x, (uint32_t)lo.y, (uint32_t)lo.z, (uint32_t)lo.w};
        const uint32_t high[4] = {(uint32_t)hi.x, (uint32_t)hi.y, (uint32_t)hi.z, (uint32_t)hi.w};
        int v[4];
#pragma unroll
        for (int k = 0; k < 4; ++k)
            v[k] = bytes_minus<32>(((low[k] >> (4 * (qq >> 1))) & 0x0F0F0F0Fu) | (((high[k] >> (2 * qq)) & 0x03030303u) << 4));
        q = make_int4(v[0], v[1], v[2], v[3]);
        scale = half_bits_to_float(*reinterpret_cast<const uint16_t*>(G::head0(row, b))) *
                (float)(int8_t)blk[192 + 8 * n + 2 * qq + half];
        min = 0.f;
    }
};

// Whether the int8 expert GEMM takes a type (has an MmqUnpack above). The other types of dispatch_type
// (F16, BF16, Q2_K, Q3_K) have their prompts' experts on moe_gemm, through Dequant16.
constexpr bool mmq_takes(TypeId id) {
    switch (id) {
        case TypeId::Q8_0: case TypeId::Q4_0: case TypeId::Q4_1: case TypeId::Q5_0: case TypeId::Q5_1:
        case TypeId::Q4_K: case TypeId::Q5_K: case TypeId::Q6_K: case TypeId::MXFP4:
            return true;
        default:
            return false;
    }
}

// Calls f.template operator()<T>() with the compile-time type of a runtime id (the types mmq_takes);
// returns false for other ids.
template <typename F>
bool dispatch_mmq_type(TypeId id, F&& f) {
    if (!mmq_takes(id)) return false;
    return dispatch_type(id, [&]<TypeId T>() {
        if constexpr (mmq_takes(T)) f.template operator()<T>();
    });
}

}  // namespace shootout::cuda
