// IQ1_S and IQ1_M: each group of 8 elements is a point of the 2048-point lattice of levels
// -1, 0, +1 (iq2_lattice.h), shifted by +-delta (0.125) and times a sub-block scale. Per sub-block
// (32 elements for S, 16 for M), ggml's search (quantize_row_iq1_{s,m}_impl, bit-exact here):
//   - sort the elements by value (ggml's qsort is glibc's merge sort, so ties keep their order:
//     std::stable_sort) and try every split into three runs (levels -1, 0, +1) with both shifts
//     (M: a shift per group of 8, 4 combinations), keeping the best weighted least-squares fit;
//   - groups off the lattice take the neighbour with the least weighted error, then the scale is
//     re-fitted;
//   then the super-block scale d = max/15 with 3-bit sub-scales (S: d stored times 1.125;
//   M: d re-fitted over the whole super-block with the quantized sub-scales, stored times 1.1125
//   and spread over the top nibbles of the 4 scale words).
// Importance: S requires it (as ggml); M without it weights x^2.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/block_formats.h"
#include "quant/families.h"
#include "quant/superblock_rows.h"
#include "quant/iq2_lattice.h"
#include "quant/scale_search.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout::quant::family {
namespace {

constexpr int QK_K = kSuperBlock;
constexpr float kDelta = 0.125f;  // IQ1S_DELTA = IQ1M_DELTA
constexpr float kXp[3] = {-1 + kDelta, kDelta, 1 + kDelta};
constexpr float kXm[3] = {-1 - kDelta, -kDelta, 1 - kDelta};

// iq1_find_best_neighbour2: the run's point with the least weighted error at `scale`, levels
// mapped through xg; its levels into L.
int best_neighbour(const uint16_t* run, const IQ2Lattice& lat, const float* xval, const float* weight, float scale,
                   const float* xg, int8_t* L) {
    float best_d2 = 3.402823466e+38f;
    int best = -1;
    for (int j = 1; j <= run[0]; ++j) {
        const auto& p = lat.points[run[j]];
        float d2 = 0;
        for (int i = 0; i < 8; ++i) {
            const float q = xg[(p[i] - 1) / 2];
            const float w = weight[i];
            const float diff = scale * q - xval[i];
            d2 += w * diff * diff;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best = run[j];
        }
    }
    if (best < 0) fail("", "IQ1 quantizer: no lattice neighbour with a finite error");
    for (int i = 0; i < 8; ++i) L[i] = (int8_t)((lat.points[best][i] - 1) / 2);
    return best;
}

inline uint16_t pack_levels(const int8_t* L) {
    uint16_t u = 0;
    for (int i = 0; i < 8; ++i) u = (uint16_t)(u | (L[i] << (2 * i)));
    return u;
}

// Element order by value, ties in input order.
void sort_by_value(const float* xb, int n, int* idx) {
    for (int j = 0; j < n; ++j) idx[j] = j;
    std::stable_sort(idx, idx + n, [xb](int a, int b) { return xb[a] < xb[b]; });
}

// The lattice points of the groups of a sub-block with levels L (off-lattice groups replaced by
// their best neighbour, L updated); returns whether all were on the lattice.
bool snap_groups(const IQ2Lattice& lat, const float* xb, const float* weight, float scale, int n_groups,
                 const float* const* xx, int8_t* L, int* index) {
    bool all_on_grid = true;
    for (int k = 0; k < n_groups; ++k) {
        const uint16_t* run = nullptr;
        index[k] = lat.lookup(pack_levels(L + 8 * k), &run);
        if (index[k] < 0) {
            all_on_grid = false;
            index[k] = best_neighbour(run, lat, xb + 8 * k, weight + 8 * k, scale, xx[k], L + 8 * k);
        }
    }
    return all_on_grid;
}

float refit_scale(const IQ2Lattice& lat, const float* xb, const float* weight, int n_groups, const float* const* xx,
                  const int* index, float scale) {
    float sumqx = 0, sumq2 = 0;
    for (int k = 0; k < n_groups; ++k) {
        const auto& p = lat.points[index[k]];
        for (int j = 0; j < 8; ++j) {
            const float w = weight[8 * k + j];
            const float q = xx[k][(p[j] - 1) / 2];
            sumqx += w * q * xb[8 * k + j];
            sumq2 += w * q * q;
        }
    }
    return sumqx > 0 && sumq2 > 0 ? sumqx / sumq2 : scale;
}

float sigma2_of(const float* xbl) {
    float sumx2 = 0;
    for (int i = 0; i < QK_K; ++i) sumx2 += xbl[i] * xbl[i];
    return 2 * sumx2 / QK_K;
}

void iq1_s_block(const float* xbl, BlockIQ1_S& y, const float* importance) {
    if (!importance)
        fail("", "cannot quantize to iq1_s without an importance matrix (ggml requires one for this type; pass --imatrix)");
    constexpr int bs = 32;
    const IQ2Lattice& lat = iq2_lattice(2048);
    std::memset(&y, 0, sizeof(y));
    const float sigma2 = sigma2_of(xbl);
    float scales[QK_K / bs], weight[bs], sumx[bs + 1], sumw[bs + 1], max_scale = 0;
    int shifts[QK_K / bs];
    for (int ib = 0; ib < QK_K / bs; ++ib) {
        const float* xb = xbl + bs * ib;
        const float* qw = importance + bs * ib;
        for (int i = 0; i < bs; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
        float max = std::fabs(xb[0]);
        for (int i = 1; i < bs; ++i) max = std::max(max, std::fabs(xb[i]));
        scales[ib] = 0;
        shifts[ib] = 1;
        if (max < 1e-12f) continue;  // GROUP_MAX_EPS_IQ1_S
        int idx[bs];
        sort_by_value(xb, bs, idx);
        sumx[0] = sumw[0] = 0;
        for (int j = 0; j < bs; ++j) {
            const int i = idx[j];
            sumx[j + 1] = sumx[j] + weight[i] * xb[i];
            sumw[j + 1] = sumw[j] + weight[i];
        }
        float best_score = -3.402823466e+38f, scale = max;
        int besti1 = -1, besti2 = -1, best_shift = 0;
        for (int i1 = 0; i1 <= bs; ++i1) {
            for (int i2 = i1; i2 <= bs; ++i2) {
                for (int shift : {1, -1}) {
                    const float* xs = shift == 1 ? kXp : kXm;
                    const float sumqx =
                        (sumx[i1] - sumx[0]) * xs[0] + (sumx[i2] - sumx[i1]) * xs[1] + (sumx[bs] - sumx[i2]) * xs[2];
                    const float sumq2 = (sumw[i1] - sumw[0]) * xs[0] * xs[0] + (sumw[i2] - sumw[i1]) * xs[1] * xs[1] +
                                        (sumw[bs] - sumw[i2]) * xs[2] * xs[2];
                    if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
                        scale = sumqx / sumq2;
                        best_score = scale * sumqx;
                        besti1 = i1;
                        besti2 = i2;
                        best_shift = shift;
                    }
                }
            }
        }
        if (besti1 < 0 || besti2 < 0 || best_shift == 0) continue;
        int8_t L[bs];
        for (int j = 0; j < besti1; ++j) L[idx[j]] = 0;
        for (int j = besti1; j < besti2; ++j) L[idx[j]] = 1;
        for (int j = besti2; j < bs; ++j) L[idx[j]] = 2;
        if (scale < 0) {
            for (int j = 0; j < bs; ++j) L[j] = (int8_t)(2 - L[j]);
            scale = -scale;
            best_shift = -best_shift;
        }
        const float* xs = best_shift == 1 ? kXp : kXm;
        const float* xx[4] = {xs, xs, xs, xs};
        int index[4];
        if (!snap_groups(lat, xb, weight, scale, 4, xx, L, index))
            scale = refit_scale(lat, xb, weight, 4, xx, index, scale);
        uint16_t h = 0;
        for (int k = 0; k < 4; ++k) {
            y.qs[4 * ib + k] = (uint8_t)(index[k] & 255);
            h = (uint16_t)(h | ((index[k] >> 8) << (3 * k)));
        }
        y.qh[ib] = h;
        scales[ib] = scale;
        shifts[ib] = best_shift;
        max_scale = std::max(max_scale, scale);
    }
    if (!max_scale) return;
    const float d = max_scale / 15;
    y.d = fp32_to_fp16(d * 1.125f);  // ggml's fudge factor
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / bs; ++ib) {
        int l = std::max(0, std::min(7, nearest_int(0.5f * (id * scales[ib] - 1))));
        if (shifts[ib] == -1) l |= 8;
        y.qh[ib] = (uint16_t)(y.qh[ib] | (l << 12));
    }
}

void iq1_m_weights(const float* xb, const float* qw, float sigma2, float* weight) {
    for (int i = 0; i < 16; ++i) weight[i] = qw ? qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
}

// Shift combination k of IQ1_M (0: +,+  1: +,-  2: -,+  3: -,-): the level values of group g.
inline const float* iq1m_levels(int k, int g) { return (g == 0 ? k < 2 : k % 2 == 0) ? kXp : kXm; }

void iq1_m_block(const float* xbl, BlockIQ1_M& y, const float* importance) {
    constexpr int bs = 16;
    constexpr uint8_t kMasks[4] = {0x00, 0x80, 0x08, 0x88};
    const IQ2Lattice& lat = iq2_lattice(2048);
    std::memset(&y, 0, sizeof(y));
    const float sigma2 = sigma2_of(xbl);
    float scales[QK_K / bs], weight[bs], max_scale = 0;
    int shifts[QK_K / bs];
    for (int ib = 0; ib < QK_K / bs; ++ib) {
        const float* xb = xbl + bs * ib;
        iq1_m_weights(xb, importance ? importance + bs * ib : nullptr, sigma2, weight);
        float max = std::fabs(xb[0]);
        for (int i = 1; i < bs; ++i) max = std::max(max, std::fabs(xb[i]));
        scales[ib] = 0;
        shifts[ib] = 0;
        if (max < 1e-7f) continue;  // GROUP_MAX_EPS_IQ1_M
        int idx[bs];
        sort_by_value(xb, bs, idx);
        float best_score = -3.402823466e+38f, scale = max;
        int besti1 = -1, besti2 = -1, best_k = -1;
        for (int i1 = 0; i1 <= bs; ++i1) {
            for (int i2 = i1; i2 <= bs; ++i2) {
                // As ggml: sums accumulated element by element in sorted order, per combination.
                float sumqx[4] = {}, sumq2[4] = {};
                for (int j = 0; j < bs; ++j) {
                    const int level = j < i1 ? 0 : j < i2 ? 1 : 2;
                    const int i = idx[j];
                    const float p = kXp[level], m = kXm[level];
                    const float wx = weight[i];
                    // Combination k uses p for the element's group when that group is '+'.
                    const bool first = i < bs / 2;
                    const float q[4] = {p, first ? p : m, first ? m : p, m};
                    for (int k = 0; k < 4; ++k) {
                        sumqx[k] += wx * q[k] * xb[i];
                        sumq2[k] += wx * q[k] * q[k];
                    }
                }
                for (int k = 0; k < 4; ++k) {
                    if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best_score * sumq2[k]) {
                        scale = sumqx[k] / sumq2[k];
                        best_score = scale * sumqx[k];
                        besti1 = i1;
                        besti2 = i2;
                        best_k = k;
                    }
                }
            }
        }
        if (besti1 < 0 || besti2 < 0 || best_k < 0) continue;
        int8_t L[bs];
        for (int j = 0; j < besti1; ++j) L[idx[j]] = 0;
        for (int j = besti1; j < besti2; ++j) L[idx[j]] = 1;
        for (int j = besti2; j < bs; ++j) L[idx[j]] = 2;
        if (scale < 0) {
            for (int j = 0; j < bs; ++j) L[j] = (int8_t)(2 - L[j]);
            scale = -scale;
            best_k = 3 - best_k;
        }
        const float* xx[2] = {iq1m_levels(best_k, 0), iq1m_levels(best_k, 1)};
        int index[2];
        if (!snap_groups(lat, xb, weight, scale, 2, xx, L, index))
            scale = refit_scale(lat, xb, weight, 2, xx, index, scale);
        y.qs[2 * ib] = (uint8_t)(index[0] & 255);
        y.qs[2 * ib + 1] = (uint8_t)(index[1] & 255);
        y.qh[ib] = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
        scales[ib] = scale;
        shifts[ib] = best_k;
        max_scale = std::max(max_scale, scale);
    }
    if (!max_scale) return;
    uint16_t sc[4] = {};
    float d = max_scale / 15;
    const float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int ib = 0; ib < QK_K / bs; ++ib) {
        const int l = std::max(0, std::min(7, nearest_int(0.5f * (id * scales[ib] - 1))));
        sc[ib / 4] = (uint16_t)(sc[ib / 4] | (l << (3 * (ib % 4))));
        y.qh[ib] |= kMasks[shifts[ib]];
        const float* xb = xbl + bs * ib;
        iq1_m_weights(xb, importance ? importance + bs * ib : nullptr, sigma2, weight);
        for (int k = 0; k < 2; ++k) {
            const float* xx = iq1m_levels(shifts[ib], k);
            const auto& p = lat.points[y.qs[2 * ib + k] + ((y.qh[ib] << (8 - 4 * k)) & 0x700)];
            for (int j = 0; j < 8; ++j) {
                const float w = weight[8 * k + j];
                const float q = xx[(p[j] - 1) / 2] * (2 * l + 1);
                sumqx += w * q * xb[8 * k + j];
                sumq2 += w * q * q;
            }
        }
    }
    if (sumq2 > 0) d = sumqx / sumq2;
    const uint16_t d16 = fp32_to_fp16(d * 1.1125f);  // ggml's fudge factor
    sc[0] = (uint16_t)(sc[0] | ((d16 & 0x000f) << 12));
    sc[1] = (uint16_t)(sc[1] | ((d16 & 0x00f0) << 8));
    sc[2] = (uint16_t)(sc[2] | ((d16 & 0x0f00) << 4));
    sc[3] = (uint16_t)(sc[3] | (d16 & 0xf000));
    std::memcpy(y.scales, sc, sizeof(sc));
}

inline float grid_value(uint64_t point, int j) { return (float)(int8_t)((point >> (8 * j)) & 255); }

}  // namespace

size_t iq1_s_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_superblock_rows<BlockIQ1_S, iq1_s_block>(s, d, r, n, w);
}
size_t iq1_m_quantize_rows(const float* s, void* d, int64_t r, int64_t n, const float* w) {
    return quantize_superblock_rows<BlockIQ1_M, iq1_m_block>(s, d, r, n, w);
}
// IQ1_S has no reference quantizer without importance (ggml asserts); ours throws the same way.
void iq1_s_from_float_ref(const float* x, void* dst, int64_t n) { iq1_s_quantize_rows(x, dst, 1, n, nullptr); }
void iq1_m_from_float_ref(const float* x, void* dst, int64_t n) { iq1_m_quantize_rows(x, dst, 1, n, nullptr); }

void iq1_s_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ1_S*>(src);
    const uint64_t* grid = iq1s_grid();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ++ib) {
            const uint16_t qh = x[i].qh[ib];
            const float dl = d * (float)(2 * ((qh >> 12) & 7) + 1);
            const float delta = qh & 0x8000 ? -kDelta : kDelta;
            for (int l = 0; l < 4; ++l) {
                const uint64_t point = grid[x[i].qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)];
                for (int j = 0; j < 8; ++j) *y++ = dl * (grid_value(point, j) + delta);
            }
        }
    }
}

void iq1_m_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ1_M*>(src);
    const uint64_t* grid = iq1s_grid();
    for (int64_t i = 0; i < n / QK_K; ++i) {
        uint16_t sc[4];
        std::memcpy(sc, x[i].scales, sizeof(sc));
        const uint16_t d16 = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        const float d = fp16_to_fp32(d16);
        for (int ib = 0; ib < 8; ++ib) {
            const float dl[2] = {d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 7) + 1),
                                 d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1)};
            const uint8_t* qs = x[i].qs + 4 * ib;
            const uint8_t* qh = x[i].qh + 2 * ib;
            const int idx[4] = {qs[0] | ((qh[0] << 8) & 0x700), qs[1] | ((qh[0] << 4) & 0x700),
                                qs[2] | ((qh[1] << 8) & 0x700), qs[3] | ((qh[1] << 4) & 0x700)};
            const float delta[4] = {qh[0] & 0x08 ? -kDelta : kDelta, qh[0] & 0x80 ? -kDelta : kDelta,
                                    qh[1] & 0x08 ? -kDelta : kDelta, qh[1] & 0x80 ? -kDelta : kDelta};
            for (int l = 0; l < 4; ++l)
                for (int j = 0; j < 8; ++j) *y++ = dl[l / 2] * (grid_value(grid[idx[l]], j) + delta[l]);
        }
    }
}

}  // namespace shootout::quant::family
