// IQ3_XXS and IQ3_S: each group of 4 elements is a point of a lattice of odd levels (iq3_lattice.h)
// times a sub-block scale, with the signs stored apart. Per sub-block of 32, ggml's search
// (quantize_row_iq3_xxs_impl / quantize_row_iq3_s_impl, bit-exact here):
//   - take |x| (IQ3_XXS: an even number of minus signs per 8, so the least important element of an
//     odd group keeps its sign flipped and a negative |x|);
//   - for trial inverse scales (15 + 0.2 s) / max, s in -15..15 (XXS) or -9..9 (S), round each
//     group to levels; off the lattice, take the neighbour with the least weighted error; keep
//     the trial with the best weighted least-squares fit;
//   - re-fit the off-lattice groups (XXS) or all groups (S) at the chosen scale;
//   then the super-block scale d = max/31 with 4-bit sub-scales.
// Block layouts: IQ3_XXS qs[64] point indices + 8 u32 of (4 x 7 sign bits | scale << 28);
// IQ3_S qs[64] low 8 index bits, qh[8] 9th bits, signs[32], scales[4] nibbles.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/lattice_search.h"
#include "quant/block_formats.h"
#include "quant/families.h"
#include "quant/superblock_rows.h"
#include "quant/iq3_lattice.h"
#include "quant/scale_search.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout::quant::family {
namespace {

constexpr int QK_K = kSuperBlock;
constexpr int kMaxQ = 8;

inline uint16_t pack_levels(const int8_t* L) {
    uint16_t u = 0;
    for (int i = 0; i < 4; ++i) u = (uint16_t)(u | (L[i] << (3 * i)));
    return u;
}

// Rounds a group at inverse scale id to levels and onto the lattice; returns whether it was on it.
bool round_group(const IQ3Lattice& lat, const float* xval, const float* waux, float id, float scale, int8_t* L) {
    for (int i = 0; i < 4; ++i) L[i] = (int8_t)std::max(0, std::min(kMaxQ - 1, nearest_int(0.5f * (id * xval[i] - 1))));
    const uint16_t* run = nullptr;
    if (lat.lookup(pack_levels(L), &run) >= 0) return true;
    best_neighbour<4>(run, lat, xval, waux, scale, L);
    return false;
}

struct SubBlock {
    bool zero = true;    // below the threshold: nothing stored
    float scale = 0;
    uint8_t signs[4] = {};  // 8 sign bits per 8 elements (XXS: the low 7 are stored)
    int point[8] = {};      // lattice point of each group of 4
};

// One sub-block of 32 as described at the top. xxs selects IQ3_XXS's variant.
SubBlock fit_sub_block(const float* xb, const float* weight, bool xxs, const IQ3Lattice& lat) {
    SubBlock out;
    float xval[32], waux[32];
    int8_t L[32] = {}, Laux[32];
    bool on_grid[8], on_grid_aux[8];
    for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
    for (int k = 0; k < 4; ++k)
        out.signs[k] = fold_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k, xxs);
    float max = xval[0];
    for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
    if (xxs ? max < 1e-8f : !max) return out;  // GROUP_MAX_EPS_IQ3_XXS / exact zero for IQ3_S

    float best = 0;
    float scale = max / (2 * kMaxQ - 1);
    for (bool& g : on_grid) g = xxs;
    const int n_steps = xxs ? 15 : 9;
    for (int is = -n_steps; is <= n_steps; ++is) {
        const float id = (2 * kMaxQ - 1 + is * 0.2f) / max;
        const float this_scale = 1 / id;
        for (int k = 0; k < 8; ++k)
            on_grid_aux[k] = round_group(lat, xval + 4 * k, waux + 4 * k, id, this_scale, Laux + 4 * k);
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < 32; ++i) {
            const float w = weight[i];
            const float q = 2 * Laux[i] + 1;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            std::memcpy(L, Laux, 32);
            std::memcpy(on_grid, on_grid_aux, sizeof(on_grid));
        }
    }
    int n_off_grid = 0;
    for (bool g : on_grid) n_off_grid += !g;
    if (n_off_grid > 0 && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 8; ++k) {
            if (xxs && on_grid[k]) continue;
            round_group(lat, xval + 4 * k, waux + 4 * k, id, scale, L + 4 * k);
        }
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < 32; ++i) {
            const float w = weight[i];
            const float q = 2 * L[i] + 1;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    if (scale < 0) {  // ggml: "should never happen"; flip the scale and the signs
        scale = -scale;
        for (auto& s : out.signs) s = xxs ? (uint8_t)(~s & 127) : (uint8_t)~s;
    }
    for (int k = 0; k < 8; ++k) {
        const uint16_t* run = nullptr;
        out.point[k] = lat.lookup(pack_levels(L + 4 * k), &run);
        if (out.point[k] < 0) fail("", "IQ3 quantizer: levels off the lattice (internal error)");
    }
    out.scale = scale;
    out.zero = false;
    return out;
}

void sub_block_weights(const float* xbl, const float* importance, int ib, float sigma2, float* weight) {
    const float* xb = xbl + 32 * ib;
    for (int i = 0; i < 32; ++i)
        weight[i] = importance ? importance[32 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
}

float super_block_sigma2(const float* xbl) {
    float sumx2 = 0;
    for (int i = 0; i < QK_K; ++i) sumx2 += xbl[i] * xbl[i];
    return 2 * sumx2 / QK_K;
}

// 4-bit sub-scale of sub-block scale s under inverse super-scale id: s ~ d * (2l + 1).
inline int sub_scale(float id, float s) { return std::max(0, std::min(15, nearest_int(0.5f * (id * s - 1)))); }

void iq3_xxs_block(const float* xbl, BlockIQ3_XXS& y, const float* importance) {
    const IQ3Lattice& lat = iq3_lattice(256);
    const float sigma2 = super_block_sigma2(xbl);
    uint32_t scales_and_signs[8] = {};
    float scales[8], weight[32], max_scale = 0;
    std::memset(y.qs, 0, sizeof(y.qs));
    for (int ib = 0; ib < 8; ++ib) {
        sub_block_weights(xbl, importance, ib, sigma2, weight);
        const SubBlock sb = fit_sub_block(xbl + 32 * ib, weight, true, lat);
        scales[ib] = sb.scale;
        if (sb.zero) continue;  // indices and signs stay 0
        for (int k = 0; k < 8; ++k) y.qs[8 * ib + k] = (uint8_t)sb.point[k];
        scales_and_signs[ib] = sb.signs[0] | (sb.signs[1] << 7) | (sb.signs[2] << 14) | ((uint32_t)sb.signs[3] << 21);
        max_scale = std::max(max_scale, sb.scale);
    }
    y.d = fp32_to_fp16(0.f);
    if (!max_scale) {
        std::memset(y.qs, 0, sizeof(y.qs));
        return;
    }
    const float d = max_scale / 31;
    y.d = fp32_to_fp16(d * 1.0125f);  // ggml's fudge factor
    const float id = 1 / d;
    for (int ib = 0; ib < 8; ++ib) scales_and_signs[ib] |= (uint32_t)sub_scale(id, scales[ib]) << 28;
    std::memcpy(y.qs + 64, scales_and_signs, 32);
}

// IQ3_S. ggml advances its qs and signs write positions only past sub-blocks that were not zero,
// so after an all-zero sub-block the later ones are stored shifted (qh and scales are indexed by
// sub-block and stay put); reproduced for identical bytes.
void iq3_s_block(const float* xbl, BlockIQ3_S& y, const float* importance) {
    const IQ3Lattice& lat = iq3_lattice(512);
    const float sigma2 = super_block_sigma2(xbl);
    std::memset(&y, 0, sizeof(y));
    float scales[8], weight[32], max_scale = 0;
    int qs_pos = 0, signs_pos = 0;
    for (int ib = 0; ib < 8; ++ib) {
        sub_block_weights(xbl, importance, ib, sigma2, weight);
        const SubBlock sb = fit_sub_block(xbl + 32 * ib, weight, false, lat);
        scales[ib] = sb.scale;
        if (sb.zero) continue;
        for (int k = 0; k < 8; ++k) {
            y.qs[qs_pos + k] = (uint8_t)(sb.point[k] & 255);
            y.qh[ib] |= (uint8_t)((sb.point[k] >> 8) << k);
        }
        qs_pos += 8;
        std::memcpy(y.signs + signs_pos, sb.signs, 4);
        signs_pos += 4;
        max_scale = std::max(max_scale, sb.scale);
    }
    if (!max_scale) return;
    const float d = max_scale / 31;
    y.d = fp32_to_fp16(d * 1.033f);  // ggml's fudge factor
    const float id = 1 / d;
    for (int ib = 0; ib < 8; ib += 2)
        y.scales[ib / 2] = (uint8_t)(sub_scale(id, scales[ib]) | (sub_scale(id, scales[ib + 1]) << 4));
}

}  // namespace

size_t iq3_xxs_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_superblock_rows<BlockIQ3_XXS, iq3_xxs_block>(s, d, r, n, w);
}
size_t iq3_s_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_superblock_rows<BlockIQ3_S, iq3_s_block>(s, d, r, n, w);
}
void iq3_xxs_from_float_ref(const float* x, void* dst, int64_t n) { iq3_xxs_quantize_rows(x, dst, 1, n, nullptr); }
void iq3_s_from_float_ref(const float* x, void* dst, int64_t n) { iq3_s_quantize_rows(x, dst, 1, n, nullptr); }

void iq3_xxs_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ3_XXS*>(src);
    const uint32_t* grid = iq3xxs_grid();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ++ib) {
            uint32_t aux;
            std::memcpy(&aux, x[i].qs + 64 + 4 * ib, 4);
            const float db = d * (0.5f + (aux >> 28)) * 0.5f;
            for (int l = 0; l < 4; ++l) {
                const uint8_t signs = iq_signs_from_7bits((aux >> (7 * l)) & 127);
                for (int half = 0; half < 2; ++half) {
                    const uint32_t point = grid[x[i].qs[8 * ib + 2 * l + half]];
                    for (int j = 0; j < 4; ++j) {
                        const float v = (float)((point >> (8 * j)) & 255);
                        *y++ = db * v * ((signs >> (4 * half + j)) & 1 ? -1.f : 1.f);
                    }
                }
            }
        }
    }
}

void iq3_s_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ3_S*>(src);
    const uint32_t* grid = iq3s_grid();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ++ib) {
            const int sc = (x[i].scales[ib / 2] >> (4 * (ib % 2))) & 0xF;
            const float db = d * (1 + 2 * sc);
            for (int k = 0; k < 8; ++k) {
                const uint32_t point = grid[x[i].qs[8 * ib + k] | (((x[i].qh[ib] >> k) & 1) << 8)];
                const uint8_t signs = x[i].signs[4 * ib + k / 2];
                for (int j = 0; j < 4; ++j) {
                    const float v = (float)((point >> (8 * j)) & 255);
                    *y++ = db * v * ((signs >> (4 * (k % 2) + j)) & 1 ? -1.f : 1.f);
                }
            }
        }
    }
}

}  // namespace shootout::quant::family
