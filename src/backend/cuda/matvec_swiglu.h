// A trial (SHOOTOUT_CUDA_SWIGLU_FOLD=1): a decode step's SwiGLU and its conversion for the down
// product done by the gate/up product's launch itself, so the SwiGLU kernel (left out in session 13:
// Q4_K_M tg128 +4.5 %, Q8_0 +1.5 %) costs no launch.
//
// Why this shape: h = silu(gate) * up needs gate row r and up row r, which different warps of the
// normed gate/up launch compute, and the down product's int8 input converts h in blocks of 256 (Q8_K)
// or 32. A prologue in the down product (every block converting h for itself, as the normed products
// norm their row) would read 48-96 KB of F32 a block where the norm prologue reads 32 KB, and that
// prologue already costs ~3 us a launch. Instead each group of 256 outputs counts its gate and up
// rows as warps finish them (one atomic a row, the warp's rows' counts in one round trip at its end),
// and the warp that brings a count to 512 computes the group's SwiGLU and conversion, then resets the
// count for the next launch. The same values and conversion code as swiglu_quantize, so the bits are
// those of the normed launch followed by swiglu_quantize.
// Session 10 counted in the plain product (a block a few rows, 5.8 waves of blocks) and lost 4-6 %:
// every block ended with a fence and an atomic round trip holding its SM slot with no loads in
// flight. The normed launch's grid is persistent, so here each warp counts once, after its last row.
#pragma once

#include <cstdint>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"

namespace shootout::cuda {

constexpr int64_t kSwigluFoldGroup = 256;  // outputs a count covers (a Q8_K block, 8 Q8_0 blocks)

struct SwigluFold {
    float* out;           // silu(gate) * up, n values (may be the gate output itself)
    ActivationType act;   // Q8_0, Q8_1 or Q8_K: how out is converted for the next product
    int8_t* qs;           // n int8 values
    float2* ds;           // their (d, s) pairs (n / 32)
    unsigned* counts;     // n / kSwigluFoldGroup zeros; every count is zero again after the launch
};

// Whether the trial is on (SHOOTOUT_CUDA_SWIGLU_FOLD=1, read once; tests set it, as set_norm_folding).
bool swiglu_folding();
void set_swiglu_folding(bool on);
// Whether gate/up products of this type, n_in wide, n rows each, can take the fold.
bool matvec_normed_swiglu_supports(quant::TypeId type, int64_t n_in, int64_t n);
// ys[0] = gate = W_gate x, ys[1] = up = W_up x (x normed as matvec_normed), then fold.out = silu(gate) *
// up and its conversion, as matvec_normed then swiglu_quantize compute them.
void matvec_normed_swiglu(const DeviceWeight* const* ws, float* const* ys, const NormedInput& in,
                          const SwigluFold& fold, StreamHandle stream = nullptr);
// How many such launches this process made (tests check that a run folded).
uint64_t matvec_swiglu_fold_calls();

}  // namespace shootout::cuda
