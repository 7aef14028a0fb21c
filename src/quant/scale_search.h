// The scale searches that ggml's reference quantizers share (ggml-quants.c: make_qx_quants,
// make_q3_quants, make_qkx2/3_quants, make_qp_quants). Each picks a block scale (and, for the
// affine ones, a min) and the integer levels L that go with it. The float arithmetic follows
// ggml's operation for operation, and this folder is compiled with -ffp-contract=off, because a
// single fused multiply-add changes a level somewhere in a real model and so a golden hash.
#pragma once

#include <cstdint>
#include <cstring>

namespace shootout::quant {

// Round to nearest, ties to even, through the 1.5 * 2^23 magic (valid for |value| < 2^22):
// ggml's nearest_int, which differs from lroundf on ties.
inline int nearest_int(float value) {
    const float biased = value + 12582912.f;
    int32_t bits;
    std::memcpy(&bits, &biased, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

// Which weight a level's error carries when no importance is given (make_qx_quants' rmse_type).
enum class ErrorWeight { None = 0, Square = 1, One = 2, Abs = 3, SqrtAbs = 4 };

// Symmetric levels in [-nmax, nmax-1], stored biased by +nmax in L. With ErrorWeight::None the
// scale is max/-nmax; otherwise it is refined over 18 trial scales to minimise the weighted
// squared error (weights: importance if non-null, else from `error_weight`). Returns the scale.
float fit_symmetric_scale(int n, int nmax, const float* x, int8_t* L, ErrorWeight error_weight,
                          const float* importance);

// Q3_K's reference search (make_q3_quants with rmse): iterative per-element level moves.
// Levels stored biased by +nmax.
float fit_symmetric_scale_q3(int n, int nmax, const float* x, int8_t* L, bool refine);

// Affine levels in [0, nmax] with x ~ scale*L - min (min >= 0 returned in *min_out): a grid search
// over nstep+1 trial scales (rmin + rdelta*step + nmax) / (max - min), each followed by a weighted
// least-squares fit of scale and min, scored by weighted |error| (use_abs_error) or error^2.
// This is make_qkx2_quants and make_qkx3_quants (identical when weights are given).
float fit_affine_scale(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* min_out,
                       uint8_t* L_scratch, float rmin, float rdelta, int nstep, bool use_abs_error);

// Non-negative levels in [0, nmax] for a vector of positive sub-block scales (make_qp_quants),
// weighted by `weights`; used to quantize the K-quants' scales themselves under an imatrix.
float fit_positive_scale(int n, int nmax, const float* x, uint8_t* L, const float* weights);

}  // namespace shootout::quant
