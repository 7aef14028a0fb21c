// The ternary types of BitNet b1.58 / TriLM models: every element of a 256-block is -1, 0 or +1
// times d = max|x|. TQ2_0 stores 2 bits per element; TQ1_0 packs 5 trits per byte as the base-3
// number scaled to the byte (ceil(v * 256 / 243)), so that trit n is read back as
// ((uint8)(byte * 3^n) * 3) >> 8 without a division. Bit-exact with ggml's quantize_row_tq{1,2}_0_ref
// (which quantize_tq{1,2}_0 call, ignoring importance).
#include <algorithm>
#include <cmath>

#include "quant/block_formats.h"
#include "quant/families.h"
#include "util/fp16.h"

namespace shootout::quant::family {
namespace {

constexpr int QK_K = kSuperBlock;
constexpr uint8_t kPow3[6] = {1, 3, 9, 27, 81, 243};

// The trit of x / d as 0, 1, 2. lroundf itself (not a re-implementation) so that the values it
// gives for out-of-range input (inf * 0 when d underflows) are ggml's too.
inline int trit(float x, float id) { return (int)lroundf(x * id) + 1; }

float ternary_scale(const float* x, uint16_t& d_out) {
    float amax = 0;
    for (int j = 0; j < QK_K; ++j) amax = std::max(amax, std::fabs(x[j]));
    d_out = fp32_to_fp16(amax);
    return amax ? 1.0f / amax : 0.0f;
}

// n_trits trits of elements x[0], x[stride], ... as one byte: base 3, most significant first,
// padded to 5 trits, then scaled up to fill 0..255.
inline uint8_t pack_trits(const float* x, int stride, int n_trits, float id) {
    uint8_t q = 0;
    for (int n = 0; n < n_trits; ++n) q = (uint8_t)(q * 3 + trit(x[n * stride], id));
    for (int n = n_trits; n < 5; ++n) q = (uint8_t)(q * 3);
    return (uint8_t)(((uint16_t)q * 256 + 242) / 243);
}

inline int unpack_trit(uint8_t byte, int n) { return (((uint8_t)(byte * kPow3[n])) * 3) >> 8; }

void tq1_0_block(const float* x, BlockTQ1_0& y) {
    const float id = ternary_scale(x, y.d);
    // Elements 0-159: byte m of qs[0..31] holds elements m + 32n; 160-239: byte 32 + m holds
    // 160 + m + 16n; 240-255: byte j of qh holds 240 + j + 4n (4 trits).
    for (int m = 0; m < 32; ++m) y.qs[m] = pack_trits(x + m, 32, 5, id);
    for (int m = 0; m < 16; ++m) y.qs[32 + m] = pack_trits(x + 160 + m, 16, 5, id);
    for (int j = 0; j < 4; ++j) y.qh[j] = pack_trits(x + 240 + j, 4, 4, id);
}

void tq2_0_block(const float* x, BlockTQ2_0& y) {
    const float id = ternary_scale(x, y.d);
    // Byte m of each 32-byte half holds elements 128h + m + 32l at bits 2l.
    for (int h = 0; h < 2; ++h)
        for (int m = 0; m < 32; ++m) {
            uint8_t q = 0;
            for (int l = 0; l < 4; ++l) q = (uint8_t)(q + ((trit(x[128 * h + m + 32 * l], id) & 3) << (2 * l)));
            y.qs[32 * h + m] = q;
        }
}

}  // namespace

void tq1_0_from_float_ref(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) tq1_0_block(x + i * QK_K, static_cast<BlockTQ1_0*>(dst)[i]);
}

void tq2_0_from_float_ref(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) tq2_0_block(x + i * QK_K, static_cast<BlockTQ2_0*>(dst)[i]);
}

size_t tq1_0_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float*) {
    tq1_0_from_float_ref(src, dst, n_rows * n_per_row);
    return (size_t)(n_rows * n_per_row / QK_K) * sizeof(BlockTQ1_0);
}

size_t tq2_0_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float*) {
    tq2_0_from_float_ref(src, dst, n_rows * n_per_row);
    return (size_t)(n_rows * n_per_row / QK_K) * sizeof(BlockTQ2_0);
}

void tq1_0_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockTQ1_0*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int t = 0; t < 5; ++t)
            for (int m = 0; m < 32; ++m) *y++ = (float)(unpack_trit(x[i].qs[m], t) - 1) * d;
        for (int t = 0; t < 5; ++t)
            for (int m = 0; m < 16; ++m) *y++ = (float)(unpack_trit(x[i].qs[32 + m], t) - 1) * d;
        for (int t = 0; t < 4; ++t)
            for (int j = 0; j < 4; ++j) *y++ = (float)(unpack_trit(x[i].qh[j], t) - 1) * d;
    }
}

void tq2_0_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockTQ2_0*>(src);
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m) *y++ = (float)(((x[i].qs[32 * h + m] >> (2 * l)) & 3) - 1) * d;
    }
}

}  // namespace shootout::quant::family
