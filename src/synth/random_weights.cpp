#include "synth/random_weights.h"

#include <cstring>
#include <string>

#include "util/error.h"
#include "util/fp16.h"

namespace shootout::synth {

using quant::TypeId;

namespace {

constexpr float kWeightStd = 0.02f;

// Where a block keeps its fp16 scales, and the values that give weights of about kWeightStd.
// `d` is kWeightStd over the RMS of (sub-block scale x quant value) as the format decodes it;
// `dmin` (or a legacy block's m) centres formats whose quant values are unsigned.
struct BlockScales {
    TypeId type;
    int d_offset;
    float d;
    int min_offset;   // -1: none
    float min;
};

const BlockScales kScales[] = {
    {TypeId::Q4_0, 0, kWeightStd / 4.6f, -1, 0},                           // (q - 8), q in 0..15
    {TypeId::Q4_1, 0, kWeightStd / 4.6f, 2, -8 * kWeightStd / 4.6f},       // d*q + m
    {TypeId::Q5_0, 0, kWeightStd / 9.2f, -1, 0},                           // (q - 16), q in 0..31
    {TypeId::Q5_1, 0, kWeightStd / 9.2f, 2, -16 * kWeightStd / 9.2f},
    {TypeId::Q8_0, 0, kWeightStd / 74.0f, -1, 0},                          // q an int8
    {TypeId::Q2_K, 80, kWeightStd / 11.0f, 82, 1.5f * kWeightStd / 11.0f},  // d*sc*q - dmin*m, 4-bit sc, m
    {TypeId::Q3_K, 108, kWeightStd / 40.0f, -1, 0},                        // d*(sc-32)*q, q in -4..3
    {TypeId::Q4_K, 0, kWeightStd / 236.0f, 2, 7.5f * kWeightStd / 236.0f},  // 6-bit sc, m; q in 0..15
    {TypeId::Q5_K, 0, kWeightStd / 488.0f, 2, 15.5f * kWeightStd / 488.0f},  // q in 0..31
    {TypeId::Q6_K, 208, kWeightStd / 1370.0f, -1, 0},                      // int8 sc, q in -32..31
    {TypeId::IQ2_XXS, 0, kWeightStd / 50.0f, -1, 0},                      // grid values to 43
    {TypeId::IQ2_XS, 0, kWeightStd / 50.0f, -1, 0},
    {TypeId::IQ2_S, 0, kWeightStd / 50.0f, -1, 0},
    {TypeId::IQ3_XXS, 0, kWeightStd / 120.0f, -1, 0},
    {TypeId::IQ3_S, 0, kWeightStd / 128.0f, -1, 0},
    {TypeId::IQ1_S, 0, kWeightStd / 8.0f, -1, 0},
    {TypeId::IQ4_NL, 0, kWeightStd / 60.0f, -1, 0},                       // non-linear values -127..113
    {TypeId::IQ4_XS, 0, kWeightStd / 1080.0f, -1, 0},                     // (ls - 32) x the same values
    {TypeId::TQ1_0, 52, kWeightStd, -1, 0},                                // ternary
    {TypeId::TQ2_0, 64, kWeightStd, -1, 0},
};

const BlockScales* find_scales(TypeId type) {
    for (const BlockScales& s : kScales) {
        if (s.type == type) return &s;
    }
    return nullptr;
}

void put_fp16(uint8_t* dst, float value) {
    const uint16_t h = fp32_to_fp16(value);
    std::memcpy(dst, &h, 2);
}

void fill_random_bytes(SplitMix64& rng, uint8_t* dst, size_t n_bytes) {
    size_t i = 0;
    for (; i + 8 <= n_bytes; i += 8) {
        const uint64_t bits = rng.next();
        std::memcpy(dst + i, &bits, 8);
    }
    if (i < n_bytes) {
        const uint64_t bits = rng.next();
        std::memcpy(dst + i, &bits, n_bytes - i);
    }
}

// MXFP4 (e8m0 exponent, then 32 E2M1 values): ggml decodes 2^(e-127) * 0.5 * k with k in
// {0, 1, 2, 3, 4, 6, 8, 12} and their negatives (RMS 5.85): e = 120 gives an RMS of about 0.023.
constexpr uint8_t kMxfp4Exponent = 120;
constexpr float kIq1mScale = kWeightStd / 8.0f;

}  // namespace

uint64_t tensor_seed(uint64_t seed, std::string_view tensor_name) {
    uint64_t hash = 0xCBF29CE484222325ull;
    for (unsigned char c : tensor_name) {
        hash ^= c;
        hash *= 0x100000001B3ull;
    }
    SplitMix64 mix(seed ^ hash);
    return mix.next();
}

uint64_t row_seed(uint64_t tensor_seed, int64_t row) {
    SplitMix64 mix(tensor_seed + static_cast<uint64_t>(row) * 0xD1B54A32D192ED03ull);
    return mix.next();
}

void random_floats(ValueKind kind, uint64_t seed, float* dst, int64_t n) {
    SplitMix64 rng(seed);
    if (kind == ValueKind::Decay) {
        for (int64_t i = 0; i < n; ++i) dst[i] = -(1.0f + 15.0f * rng.uniform());
        return;
    }
    // Sum of four 16-bit uniforms: mean 4 * 32767.5, standard deviation sqrt(4 * (65536^2 - 1) / 12).
    constexpr float kMean = 4 * 32767.5f;
    constexpr float kInvStd = 1.0f / 37837.23f;
    const float offset = kind == ValueKind::Norm ? 1.0f : 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t bits = rng.next();
        const float sum = static_cast<float>((bits & 0xFFFF) + ((bits >> 16) & 0xFFFF) + ((bits >> 32) & 0xFFFF) + (bits >> 48));
        dst[i] = offset + kWeightStd * (sum - kMean) * kInvStd;
    }
}

bool has_random_blocks(TypeId type) {
    return find_scales(type) != nullptr || type == TypeId::MXFP4 || type == TypeId::IQ1_M;
}

void random_blocks(TypeId type, uint64_t seed, uint8_t* dst, int64_t n_blocks) {
    const quant::TypeTraits& traits = quant::traits(type);
    const size_t block_bytes = traits.bytes_per_block;
    SplitMix64 rng(seed);
    fill_random_bytes(rng, dst, block_bytes * static_cast<size_t>(n_blocks));
    if (type == TypeId::MXFP4) {
        for (int64_t b = 0; b < n_blocks; ++b) dst[b * block_bytes] = kMxfp4Exponent;
        return;
    }
    if (type == TypeId::IQ1_M) {
        // The block's fp16 scale is split over the top nibbles of its four uint16 sub-block scales
        // (bytes 48..55), low nibble first.
        const uint16_t h = fp32_to_fp16(kIq1mScale);
        for (int64_t b = 0; b < n_blocks; ++b) {
            uint8_t* scales = dst + b * block_bytes + 48;
            for (int i = 0; i < 4; ++i) {
                uint16_t word;
                std::memcpy(&word, scales + 2 * i, 2);
                word = static_cast<uint16_t>((word & 0x0FFF) | (((h >> (4 * i)) & 0xF) << 12));
                std::memcpy(scales + 2 * i, &word, 2);
            }
        }
        return;
    }
    const BlockScales* scales = find_scales(type);
    if (scales == nullptr) fail("synth", std::string("no random-block generator for type ") + traits.name);
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint8_t* block = dst + b * block_bytes;
        put_fp16(block + scales->d_offset, scales->d);
        if (scales->min_offset >= 0) put_fp16(block + scales->min_offset, scales->min);
    }
}

}  // namespace shootout::synth
