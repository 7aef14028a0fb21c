// A decode step's gate/up pair and the SwiGLU after it in one launch (matvec_normed_swiglu.cu): the
// normed product of gate_w and up_w (one type, n_ff rows each) as matvec_normed (cuda_kernels.h), then
// h = silu(gate) * up into out, converted as act (the down product's input) into qs / ds: the bits of
// matvec_normed + swiglu_quantize, without the SwiGLU launch between the two products. That launch
// cost ~2.6 us of a ~74 us 8B Q4_K_M layer (session 16's step timeline: its blocks wait for the
// gate/up launch to leave the SMs, released 0.9 us after its last warp, then 1.65 us on a few SMs).
// Each 256 outputs are converted by the warp that finishes the last of their rows, found through
// counters (one per 256 outputs, zero before and after a launch). gate / up get the products too, as
// matvec_normed writes them.
#pragma once

#include <cstdint>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"

namespace shootout::cuda {

struct SwigluOutput {
    float* gate;
    float* up;
    float* out;
    ActivationType act;
    int8_t* qs;
    float2* ds;
    unsigned* counters;  // n_ff / kSwigluGroup of them, zero
};
constexpr int64_t kSwigluGroup = 256;  // outputs a counter stands for
// The types with the fused kernel (the common decode types; the others keep two launches), rows of
// n_in (as matvec_normed_supports), n_ff whole groups, act an 8-bit conversion.
bool matvec_normed_swiglu_supports(quant::TypeId type, int64_t n_in, int64_t n_ff, ActivationType act);
void matvec_normed_swiglu(const DeviceWeight& gate_w, const DeviceWeight& up_w, const NormedInput& in,
                          const SwigluOutput& o, StreamHandle stream = nullptr);
uint64_t matvec_normed_swiglu_calls();  // launches or captures (tests: the fused path ran)

}  // namespace shootout::cuda
