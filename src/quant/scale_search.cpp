// Scale searches of ggml's reference quantizers; see scale_search.h. Loop order and expression
// shape matter here (float sums are not associative), so each sum is written in ggml's order.
#include "quant/scale_search.h"

#include <algorithm>
#include <cmath>

namespace shootout::quant {
namespace {

constexpr float kGroupMaxEps = 1e-15f;  // ggml's GROUP_MAX_EPS: below it a group counts as zero

float error_weight_of(ErrorWeight kind, float x) {
    switch (kind) {
        case ErrorWeight::Square: return x * x;
        case ErrorWeight::One: return 1;
        case ErrorWeight::Abs: return std::fabs(x);
        case ErrorWeight::SqrtAbs: return std::sqrt(std::fabs(x));
        case ErrorWeight::None: break;
    }
    return 0;
}

int clamp_symmetric(int level, int nmax) { return std::max(-nmax, std::min(nmax - 1, level)); }

// The element of largest magnitude, with its sign (first one wins ties).
float signed_absmax(int n, const float* x, float& amax) {
    float max = 0;
    amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    return max;
}

}  // namespace

float fit_symmetric_scale(int n, int nmax, const float* x, int8_t* L, ErrorWeight error_weight,
                          const float* importance) {
    float amax;
    const float max = signed_absmax(n, x, amax);
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t(0));
        return 0.f;
    }
    float iscale = -nmax / max;
    if (error_weight == ErrorWeight::None) {
        for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + clamp_symmetric(nearest_int(iscale * x[i]), nmax));
        return 1 / iscale;
    }
    auto weight = [&](int i) { return importance ? importance[i] : error_weight_of(error_weight, x[i]); };
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_symmetric(nearest_int(iscale * x[i]), nmax);
        L[i] = (int8_t)(l + nmax);
        const float w = weight(i);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_symmetric(nearest_int(iscale * x[i]), nmax);
            const float w = weight(i);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + clamp_symmetric(nearest_int(iscale * x[i]), nmax));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

float fit_symmetric_scale_q3(int n, int nmax, const float* x, int8_t* L, bool refine) {
    float amax;
    const float max = signed_absmax(n, x, amax);
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t(0));
        return 0.f;
    }
    const float iscale = -nmax / max;
    if (!refine) {
        for (int i = 0; i < n; ++i) L[i] = (int8_t)(clamp_symmetric(nearest_int(iscale * x[i]), nmax) + nmax);
        return 1 / iscale;
    }
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_symmetric(nearest_int(iscale * x[i]), nmax);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    // Move one level at a time to the value that the other levels' fit asks for, keeping a move
    // only when it raises sumlx^2 / suml2 (i.e. lowers the weighted error).
    for (int pass = 0; pass < 5; ++pass) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int new_l = clamp_symmetric(nearest_int(x[i] * sl2 / slx), nmax);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float fit_affine_scale(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* min_out,
                       uint8_t* L_scratch, float rmin, float rdelta, int nstep, bool use_abs_error) {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max <= min) {  // a constant block at or below zero
        std::fill(L, L + n, uint8_t(0));
        *min_out = -min;
        return 0.f;
    }
    auto error_of = [use_abs_error](float diff) { return use_abs_error ? std::fabs(diff) : diff * diff; };
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)std::max(0, std::min(nmax, l));
        const float diff = scale * L[i] + min - x[i];
        best_error += weights[i] * error_of(diff);
    }
    if (nstep < 1) {
        *min_out = -min;
        return scale;
    }
    for (int step = 0; step <= nstep; ++step) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
            L_scratch[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float error = 0;
            for (int i = 0; i < n; ++i) {
                const float diff = this_scale * L_scratch[i] + this_min - x[i];
                error += weights[i] * error_of(diff);
            }
            if (error < best_error) {
                std::copy(L_scratch, L_scratch + n, L);
                best_error = error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}

float fit_positive_scale(int n, int nmax, const float* x, uint8_t* L, const float* weights) {
    float max = 0;
    for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
    if (max < kGroupMaxEps) {
        std::fill(L, L + n, uint8_t(0));
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; ++i) L[i] = (uint8_t)nearest_int(iscale * x[i]);
    const float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * L[i];
        best_mse += weights[i] * diff * diff;
    }
    for (int step = -4; step <= 4; ++step) {
        if (step == 0) continue;
        const float iscale_step = (0.1f * step + nmax) / max;
        const float scale_step = 1 / iscale_step;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::min(nmax, nearest_int(iscale_step * x[i]));
            const float diff = x[i] - scale_step * l;
            mse += weights[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_step;
        }
    }
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = std::min(nmax, nearest_int(iscale * x[i]));
        L[i] = (uint8_t)l;
        sumlx += weights[i] * x[i] * l;
        suml2 += weights[i] * l * l;
    }
    for (int pass = 0; pass < 5; ++pass) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = weights[i];
            float slx = sumlx - w * x[i] * L[i];
            float sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

}  // namespace shootout::quant
