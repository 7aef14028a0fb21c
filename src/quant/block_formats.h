// Byte layouts of the quantized blocks, field for field as ggml-common.h lays them out (all
// little-endian, fp16 = IEEE half stored as raw bits). The static_asserts pin the sizes that the
// type table states, so a layout slip fails the build rather than a golden hash.
#pragma once

#include <cstdint>

namespace shootout::quant {

constexpr int kLegacyBlock = 32;   // elements per block of Q4_0..Q8_1, IQ4_NL, MXFP4
constexpr int kSuperBlock = 256;   // QK_K: elements per super-block of the K-quants

struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
struct BlockQ8_1 { uint16_t d, s; int8_t qs[32]; };  // s = d * sum(qs)

struct BlockQ2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct BlockQ3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[256]; int16_t bsums[16]; };  // activations only

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// Non-linear 4-bit types: a level indexes a 16-entry table of int8 values.
struct BlockMXFP4 { uint8_t e; uint8_t qs[16]; };   // e: E8M0 exponent; qs nibbles as Q4_0
struct BlockIQ4_NL { uint16_t d; uint8_t qs[16]; };
struct BlockIQ4_XS { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; };
static_assert(sizeof(BlockMXFP4) == 17 && sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136);

// Ternary types (values -1, 0, 1 times d): TQ1_0 packs 5 trits per byte of qs (base 3, scaled to
// fill the byte) and 4 per byte of qh; TQ2_0 stores 2 bits per element.
struct BlockTQ1_0 { uint8_t qs[48]; uint8_t qh[4]; uint16_t d; };
struct BlockTQ2_0 { uint8_t qs[64]; uint16_t d; };
static_assert(sizeof(BlockTQ1_0) == 54 && sizeof(BlockTQ2_0) == 66);

// IQ3 lattice types (see iq3_quants.cpp): XXS qs = 64 point indices then 8 u32 of signs|scale.
struct BlockIQ3_XXS { uint16_t d; uint8_t qs[96]; };
struct BlockIQ3_S { uint16_t d; uint8_t qs[64]; uint8_t qh[8]; uint8_t signs[32]; uint8_t scales[4]; };
static_assert(sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110);

// IQ2 lattice types (see iq2_quants.cpp): XXS qs = per 32 elements 4 point indices (bytes) then a
// u32 of 4 x 7 sign bits | scale << 28; XS qs = 9-bit point index | 7 sign bits << 9 per 8
// elements; S qs = 32 low index bytes then 32 sign bytes, qh the index's 2 high bits.
struct BlockIQ2_XXS { uint16_t d; uint16_t qs[32]; };
struct BlockIQ2_XS { uint16_t d; uint16_t qs[32]; uint8_t scales[8]; };
struct BlockIQ2_S { uint16_t d; uint8_t qs[64]; uint8_t qh[8]; uint8_t scales[8]; };
static_assert(sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 && sizeof(BlockIQ2_S) == 82);

// IQ1 types (see iq1_quants.cpp): S qh per 32 elements = 4 x 3 high index bits | scale << 12 |
// shift sign << 15; M qh per 16 = 2 x (3 high index bits | shift sign << 3), scales = 4 u16 of
// 4 x 3-bit sub-scales with the fp16 super-scale spread over their top nibbles.
struct BlockIQ1_S { uint16_t d; uint8_t qs[32]; uint16_t qh[8]; };
struct BlockIQ1_M { uint8_t qs[32]; uint8_t qh[16]; uint8_t scales[8]; };
static_assert(sizeof(BlockIQ1_S) == 50 && sizeof(BlockIQ1_M) == 56);

// ggml's kvalues_iq4nl and kvalues_mxfp4 (E2M1 values doubled, so a scale of 2^(e-128) applies).
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
inline constexpr int8_t kMXFP4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// The 6-bit scale (0..63, offset 32) of sub-block ib (0..7) of an IQ4_XS block.
inline int iq4xs_scale(const BlockIQ4_XS& b, int ib) {
    return ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b.scales_h >> (2 * ib)) & 3) << 4);
}

// An E8M0 exponent as the float 2^(e-128), half the MX scale, matching the doubled values
// (ggml_e8m0_to_fp32_half). e < 2 gives the subnormals 2^-128 and 2^-127.
inline float e8m0_to_fp32_half(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block (ggml's get_scale_min_k4):
// sub-blocks 0-3 keep theirs in the low 6 bits of bytes j and j+4; 4-7 split theirs into a low
// nibble in byte j+4 and two high bits in the top of bytes j-4 (scale) and j (min).
inline void k4_scale_min(int j, const uint8_t* packed, uint8_t& scale, uint8_t& min) {
    if (j < 4) {
        scale = packed[j] & 63;
        min = packed[j + 4] & 63;
    } else {
        scale = (uint8_t)((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
        min = (uint8_t)((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

// The signed 6-bit scale of sub-block j (0..15) of a Q3_K block, minus its offset 32.
inline int q3k_scale(int j, const uint8_t* packed) {
    const int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

}  // namespace shootout::quant
