// Activations as the CPU backend (and ggml) hands them to a product: converted to the weight type's
// vec_dot_type first. The GPU reproduces that conversion bit for bit, so both backends multiply the
// same activation values and differ only by summation order (the acceptance bound between CPU and
// CUDA logits is a KLD of 1e-4; rounding activations differently alone costs several times that).
//   Q8_0 (Q4_0, Q5_0, Q8_0 weights): blocks of 32, d = max|x|/127 stored as F16, q = x * (127/max|x|)
//     rounded half to even (ggml's x86 activation rule, which llama.cpp's CPU matmuls use);
//   Q8_1 (Q4_1, Q5_1): as Q8_0, plus s = F16(d * sum q);
//   Q8_K (K-quants): blocks of 256, iscale = -127/x_m (x_m the first element of largest |x|),
//     q = min(127, round-half-even(iscale * x)), d = 1/iscale (F32);
//   F16 / BF16 weights: x rounded to F16 / BF16 (nearest even); F32: x as it is.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "quant/type_table.h"

namespace shootout::cuda {

enum class ActivationType { F32, F16, BF16, Q8_0, Q8_1, Q8_K };

// The vec_dot_type of a weight type with CUDA kernels (backend/cpu/type_kernels.cpp has the CPU's);
// constexpr, so kernel templates can take it per weight type.
constexpr ActivationType activation_type(quant::TypeId weight_type) {
    using quant::TypeId;
    switch (weight_type) {
        case TypeId::F32: return ActivationType::F32;
        case TypeId::F16: return ActivationType::F16;
        case TypeId::BF16: return ActivationType::BF16;
        case TypeId::Q4_0: case TypeId::Q5_0: case TypeId::Q8_0: case TypeId::IQ4_NL: case TypeId::MXFP4:
            return ActivationType::Q8_0;
        case TypeId::Q4_1: case TypeId::Q5_1: return ActivationType::Q8_1;
        default: return ActivationType::Q8_K;  // K-quants, IQ1-IQ3, IQ4_XS, TQ: ggml's Q8_K
    }
}

// Calls f.template operator()<A>() with A the 8-bit type `type` names (Q8_0, Q8_1, Q8_K), for the
// kernels instantiated per conversion; returns false, calling nothing, for the other types.
template <class F>
bool by_q8_activation(ActivationType type, F&& f) {
    switch (type) {
        case ActivationType::Q8_0: f.template operator()<ActivationType::Q8_0>(); return true;
        case ActivationType::Q8_1: f.template operator()<ActivationType::Q8_1>(); return true;
        case ActivationType::Q8_K: f.template operator()<ActivationType::Q8_K>(); return true;
        default: return false;
    }
}

// For the int8 matvec: n_tokens rows of n_in activations quantized as `type` (a Q8 type) into
// qs[n_tokens * n_in] and ds[n_tokens * n_in / 32], one (d, s) pair per 32 elements with
// s = d * sum of those 32 qs (for Q8_1, s is the F16-rounded value the CPU stores; for Q8_K every
// 32-element piece of a 256 block carries the block's d).
void quantize_activations(ActivationType type, const float* x, int64_t n_tokens, int64_t n_in, int8_t* qs, float2* ds,
                          cudaStream_t stream);

// For the tensor-core products: the activation values the CPU would multiply (q * d for the Q8
// types), as F16 (BF16 when type is BF16) in out[n_tokens * n_in]. The Q8 values are rounded to F16
// once more here (q * d is not exact in F16): a relative 2^-12 per element, far below the 8-bit step.
void activations_to_half(ActivationType type, const float* x, int64_t n_tokens, int64_t n_in, uint16_t* out,
                         cudaStream_t stream);

// Producers fused with the conversion (decode steps, where each saved launch counts): each writes its
// F32 output exactly as the plain op does and that output converted as quantize_activations() would
// (type a Q8 type, rows of n elements). rms_norm: y = rms_norm(x) * w; add_rms_norm: x += y_in, then
// out = rms_norm(x) * w (out may equal y_in); swiglu: out = silu(gate) * up, n_rows rows of n.
// The quantizing norms take rows of up to kMaxQuantizingNormRow elements (held in registers and
// shared memory); longer rows take the plain norm and quantize_activations.
constexpr int64_t kMaxQuantizingNormRow = 8192;
void rms_norm_quantize(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* y,
                       ActivationType type, int8_t* qs, float2* ds, cudaStream_t stream);
void add_rms_norm_quantize(float* x, const float* y_in, const float* w, int64_t n_rows, int64_t n, float eps,
                           float* out, ActivationType type, int8_t* qs, float2* ds, cudaStream_t stream);
void swiglu_quantize(const float* gate, const float* up, int64_t n_rows, int64_t n, float* out, ActivationType type,
                     int8_t* qs, float2* ds, cudaStream_t stream);
// The Gated DeltaNet's output norm (backend::Ops::gated_rms_norm, gated_norm.cu): out = rms_norm(x) *
// w * silu(gate) for n_rows rows of n (out may equal x), converted as above into qs / ds over the
// whole n_rows * n (type F32: no conversion, qs / ds unused). gated_rms_norm_fits: the shapes it
// takes (n a power of two of 8..256, n_rows * n whole 256 blocks).
bool gated_rms_norm_fits(int64_t n_rows, int64_t n);
void gated_rms_norm_quantize(const float* x, const float* w, const float* gate, int64_t n_rows, int64_t n, float eps,
                             float* out, ActivationType type, int8_t* qs, float2* ds, cudaStream_t stream);

}  // namespace shootout::cuda
