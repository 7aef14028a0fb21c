// IQ2_XXS, IQ2_XS, IQ2_S: each group of 8 elements is a point of a lattice of odd levels 1, 3, 5
// (iq2_lattice.h) times a sub-block scale, with the signs stored apart. Per sub-block (32
// elements for XXS, 16 for XS and S), ggml's search (quantize_row_iq2_{xxs,xs,s}_impl, bit-exact):
//   - take |x| (XXS/XS: an even number of minus signs per 8, so the least important element of an
//     odd group keeps its sign flipped and a negative |x|; S stores all 8 sign bits);
//   - for trial inverse scales (5 + 0.1 s) / m, round each group to levels; off the lattice take
//     the neighbour with the least weighted error; keep the trial with the best weighted
//     least-squares fit. XXS: m = 3 * make_qp_quants' scale, s in -6..6; XS/S: m = max, s in -9..9;
//   - re-fit at the chosen scale: XXS every group, XS/S the groups that were off the lattice;
//   then the super-block scale d = max/31 with 4-bit sub-scales (S: d stored times 0.9875).
// Importance: XXS and XS require it (as ggml); S without it weights x^2 + sigma2/4.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/lattice_search.h"
#include "quant/block_formats.h"
#include "quant/families.h"
#include "quant/superblock_rows.h"
#include "quant/iq2_lattice.h"
#include "quant/iq3_lattice.h"
#include "quant/scale_search.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout::quant::family {
namespace {

constexpr int QK_K = kSuperBlock;
constexpr int kMaxQ = 3;

enum class Variant { XXS, XS, S };

inline uint16_t pack_levels(const int8_t* L) {
    uint16_t u = 0;
    for (int i = 0; i < 8; ++i) u = (uint16_t)(u | (L[i] << (2 * i)));
    return u;
}

// Rounds a group at inverse scale id to levels and onto the lattice; returns whether it was on it.
bool round_group(const IQ2Lattice& lat, const float* xval, const float* waux, float id, float scale, int8_t* L) {
    for (int i = 0; i < 8; ++i) L[i] = (int8_t)std::max(0, std::min(kMaxQ - 1, nearest_int(0.5f * (id * xval[i] - 1))));
    const uint16_t* run = nullptr;
    if (lat.lookup(pack_levels(L), &run) >= 0) return true;
    best_neighbour<8>(run, lat, xval, waux, scale, L);
    return false;
}

struct SubBlock {
    bool zero = true;
    float scale = 0;
    uint8_t signs[4] = {};  // per group of 8 (XXS/XS: the low 7 bits are stored)
    int point[4] = {};
};

// One sub-block of n = 8 * n_groups elements as described at the top.
SubBlock fit_sub_block(const float* xb, const float* weight, int n_groups, Variant v, const IQ2Lattice& lat) {
    const int n = 8 * n_groups;
    const bool parity = v != Variant::S;
    SubBlock out;
    float xval[32], waux[32];
    int8_t L[32] = {}, Laux[32];
    bool on_grid[4], on_grid_aux[4];
    for (int i = 0; i < n; ++i) waux[i] = std::sqrt(weight[i]);
    for (int k = 0; k < n_groups; ++k)
        out.signs[k] = fold_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k, parity);
    float max = xval[0];
    for (int i = 1; i < n; ++i) max = std::max(max, xval[i]);
    if (max < (v == Variant::S ? 1e-8f : 1e-15f)) return out;  // GROUP_MAX_EPS(_IQ2_S)

    float scale, range;
    int n_steps;
    if (v == Variant::XXS) {
        uint8_t Lqp[32];
        scale = fit_positive_scale(n, kMaxQ + 1, xval, Lqp, weight);
        range = scale * kMaxQ;
        if (range <= 0) return out;
        n_steps = 6;
    } else {
        scale = max / (2 * kMaxQ - 1);
        range = max;
        n_steps = 9;
    }
    float best = 0;
    for (bool& g : on_grid) g = true;
    for (int is = -n_steps; is <= n_steps; ++is) {
        const float id = (2 * kMaxQ - 1 + is * 0.1f) / range;
        const float this_scale = 1 / id;
        for (int k = 0; k < n_groups; ++k)
            on_grid_aux[k] = round_group(lat, xval + 8 * k, waux + 8 * k, id, this_scale, Laux + 8 * k);
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < n; ++i) {
            const float w = weight[i];
            const float q = 2 * Laux[i] + 1;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            std::memcpy(L, Laux, (size_t)n);
            std::memcpy(on_grid, on_grid_aux, sizeof(on_grid));
        }
    }
    int n_off_grid = 0;
    for (int k = 0; k < n_groups; ++k) n_off_grid += !on_grid[k];
    if ((v == Variant::XXS || n_off_grid > 0) && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < n_groups; ++k) {
            if (v != Variant::XXS && on_grid[k]) continue;
            round_group(lat, xval + 8 * k, waux + 8 * k, id, scale, L + 8 * k);
        }
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < n; ++i) {
            const float w = weight[i];
            const float q = 2 * L[i] + 1;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    if (scale < 0) {  // ggml: "should never happen"; flip the scale and the signs
        scale = -scale;
        for (int k = 0; k < n_groups; ++k) out.signs[k] = parity ? (uint8_t)(~out.signs[k] & 127) : (uint8_t)~out.signs[k];
    }
    for (int k = 0; k < n_groups; ++k) {
        const uint16_t* run = nullptr;
        out.point[k] = lat.lookup(pack_levels(L + 8 * k), &run);
        if (out.point[k] < 0) fail("", "IQ2 quantizer: levels off the lattice (internal error)");
    }
    out.scale = scale;
    out.zero = false;
    return out;
}

// Per-element weights of a sub-block: importance * sqrt(sigma2 + x^2), or (S only) sigma2/4 + x^2.
void sub_block_weights(const float* xb, const float* importance, int n, float sigma2, float* weight) {
    for (int i = 0; i < n; ++i)
        weight[i] = importance ? importance[i] * std::sqrt(sigma2 + xb[i] * xb[i]) : 0.25f * sigma2 + xb[i] * xb[i];
}

float sum_squares(const float* xbl) {
    float sumx2 = 0;
    for (int i = 0; i < QK_K; ++i) sumx2 += xbl[i] * xbl[i];
    return sumx2;
}

inline int sub_scale(float id, float s) { return std::max(0, std::min(15, nearest_int(0.5f * (id * s - 1)))); }

void require_importance(const float* importance, const char* type_name) {
    if (!importance)
        fail("", std::string("cannot quantize to ") + type_name +
                     " without an importance matrix (ggml requires one for this type; pass --imatrix)");
}

void iq2_xxs_block(const float* xbl, BlockIQ2_XXS& y, const float* importance) {
    require_importance(importance, "iq2_xxs");
    const IQ2Lattice& lat = iq2_lattice(256);
    const float sigma2 = sum_squares(xbl) / QK_K;
    uint32_t q2[16] = {};
    float scales[8], weight[32], max_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
        sub_block_weights(xbl + 32 * ib, importance + 32 * ib, 32, sigma2, weight);
        const SubBlock sb = fit_sub_block(xbl + 32 * ib, weight, 4, Variant::XXS, lat);
        scales[ib] = sb.scale;
        if (sb.zero) continue;
        for (int k = 0; k < 4; ++k) {
            q2[2 * ib] |= (uint32_t)sb.point[k] << (8 * k);
            q2[2 * ib + 1] |= (uint32_t)sb.signs[k] << (7 * k);
        }
        max_scale = std::max(max_scale, sb.scale);
    }
    y.d = fp32_to_fp16(0.f);
    if (!max_scale) {
        std::memset(y.qs, 0, sizeof(y.qs));
        return;
    }
    const float d = max_scale / 31;
    y.d = fp32_to_fp16(d);
    const float id = 1 / d;
    for (int ib = 0; ib < 8; ++ib) q2[2 * ib + 1] |= (uint32_t)sub_scale(id, scales[ib]) << 28;
    std::memcpy(y.qs, q2, sizeof(q2));
}

// XS and S share the 16-element sub-blocks; they differ in grid, weights, sign and index storage.
template <Variant V, typename Block>
void iq2_16_block(const float* xbl, Block& y, const float* importance) {
    if (V == Variant::XS) require_importance(importance, "iq2_xs");
    const IQ2Lattice& lat = iq2_lattice(V == Variant::XS ? 512 : 1024);
    const float sigma2 = (V == Variant::S ? 2 : 1) * sum_squares(xbl) / QK_K;
    std::memset(&y, 0, sizeof(y));
    float scales[16], weight[16], max_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        sub_block_weights(xbl + 16 * ib, importance ? importance + 16 * ib : nullptr, 16, sigma2, weight);
        const SubBlock sb = fit_sub_block(xbl + 16 * ib, weight, 2, V, lat);
        scales[ib] = sb.scale;
        if (sb.zero) continue;
        for (int k = 0; k < 2; ++k) {
            const int i8 = 2 * ib + k;
            if constexpr (V == Variant::XS) {
                y.qs[i8] = (uint16_t)(sb.point[k] | (sb.signs[k] << 9));
            } else {
                y.qs[i8] = (uint8_t)(sb.point[k] & 255);
                y.qh[i8 / 4] |= (uint8_t)((sb.point[k] >> 8) << (2 * (i8 % 4)));
                y.qs[QK_K / 8 + i8] = sb.signs[k];
            }
        }
        max_scale = std::max(max_scale, sb.scale);
    }
    if (!max_scale) {
        std::memset(y.qs, 0, sizeof(y.qs));  // XS: ggml clears qs; S: already clear
        return;
    }
    const float d = max_scale / 31;
    y.d = fp32_to_fp16(V == Variant::S ? d * 0.9875f : d);  // ggml's fudge factor for S
    const float id = 1 / d;
    for (int ib = 0; ib < 16; ib += 2)
        y.scales[ib / 2] = (uint8_t)(sub_scale(id, scales[ib]) | (sub_scale(id, scales[ib + 1]) << 4));
}

// Element j of a grid point times its sign bit.
inline float grid_value(uint64_t point, int j, uint8_t signs) {
    return (float)((point >> (8 * j)) & 255) * ((signs >> j) & 1 ? -1.f : 1.f);
}

}  // namespace

size_t iq2_xxs_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_superblock_rows<BlockIQ2_XXS, iq2_xxs_block>(s, d, r, n, w);
}
size_t iq2_xs_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_superblock_rows<BlockIQ2_XS, iq2_16_block<Variant::XS, BlockIQ2_XS>>(s, d, r, n, w);
}
size_t iq2_s_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_superblock_rows<BlockIQ2_S, iq2_16_block<Variant::S, BlockIQ2_S>>(s, d, r, n, w);
}
// XXS/XS have no reference quantizer without importance (ggml asserts); ours throws the same way.
void iq2_xxs_from_float_ref(const float* x, void* dst, int64_t n) { iq2_xxs_quantize_rows(x, dst, 1, n, nullptr); }
void iq2_xs_from_float_ref(const float* x, void* dst, int64_t n) { iq2_xs_quantize_rows(x, dst, 1, n, nullptr); }
void iq2_s_from_float_ref(const float* x, void* dst, int64_t n) { iq2_s_quantize_rows(x, dst, 1, n, nullptr); }

void iq2_xxs_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ2_XXS*>(src);
    const uint64_t* grid = iq2xxs_grid();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ++ib) {
            uint32_t aux[2];
            std::memcpy(aux, x[i].qs + 4 * ib, 8);
            const float db = d * (0.5f + (aux[1] >> 28)) * 0.25f;
            for (int l = 0; l < 4; ++l) {
                const uint64_t point = grid[(aux[0] >> (8 * l)) & 255];
                const uint8_t signs = iq_signs_from_7bits((aux[1] >> (7 * l)) & 127);
                for (int j = 0; j < 8; ++j) *y++ = db * grid_value(point, j, signs);
            }
        }
    }
}

void iq2_xs_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ2_XS*>(src);
    const uint64_t* grid = iq2xs_grid();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ++ib) {
            const float db[2] = {d * (0.5f + (x[i].scales[ib] & 0xF)) * 0.25f, d * (0.5f + (x[i].scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l) {
                const uint16_t q = x[i].qs[4 * ib + l];
                const uint64_t point = grid[q & 511];
                const uint8_t signs = iq_signs_from_7bits(q >> 9);
                for (int j = 0; j < 8; ++j) *y++ = db[l / 2] * grid_value(point, j, signs);
            }
        }
    }
}

void iq2_s_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ2_S*>(src);
    const uint64_t* grid = iq2s_grid();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ++ib) {
            const float db[2] = {d * (0.5f + (x[i].scales[ib] & 0xF)) * 0.25f, d * (0.5f + (x[i].scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l) {
                const int index = x[i].qs[4 * ib + l] | ((x[i].qh[ib] << (8 - 2 * l)) & 0x300);
                const uint8_t signs = x[i].qs[QK_K / 8 + 4 * ib + l];
                for (int j = 0; j < 8; ++j) *y++ = db[l / 2] * grid_value(grid[index], j, signs);
            }
        }
    }
}

}  // namespace shootout::quant::family
