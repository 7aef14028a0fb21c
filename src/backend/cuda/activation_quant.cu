// The vec_dot_type conversions of activation_quant.h. One warp per block (32 elements for Q8_0/Q8_1,
// 256 for Q8_K). Every step follows the CPU backend's conversion operation for operation (Q8_0/Q8_1:
// ggml's x86 activation rule, backend/cpu/vec_dot_legacy.cpp; Q8_K: quant/k_quants_q6_q8.cpp
// q8_k_from_float_ref), IEEE division included (this file must not be built with fast math), so the
// quantized values are the CPU's.
// The decode-step kernels (quantize, the quantizing norms and SwiGLU) are launched with PDL (pdl.cuh):
// trigger, wait, then everything; their activation inputs carry no __restrict__ (written by the
// kernels before; pdl.cuh rule 4). to_half_kernel (prefill only) is launched plainly.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/step_trace.cuh"
#include "util/env.h"
#include "util/error.h"

namespace shootout::cuda {

namespace {

using namespace act;

template <ActivationType A>
__global__ void quantize_kernel(const float* x, int64_t n_blocks, int8_t* __restrict__ qs, float2* __restrict__ ds) {
    [[maybe_unused]] const StepTrace trace = step_trace_enter(kStepQuantize);
    pdl_launch_dependents();
    pdl_wait();
    step_trace_waited(trace);
    const int lane = threadIdx.x % 32;
    const int64_t block = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    if (block >= n_blocks) return;
    if constexpr (A == ActivationType::Q8_K) {
        float v[8];
        load8(x + block * 256 + 8 * lane, v);
        store_q8_k(v, qs + block * 256, ds + block * 8);
    } else {
        store_q8_32<A>(x[block * 32 + lane], qs + block * 32, ds + block);
    }
}

// Row lengths the norm kernel holds in registers: kNormMaxPer elements a thread.
constexpr int kNormMaxPer = 8;  // norm_quantize_kernel's 8 consecutive elements
constexpr int64_t kNormMaxRow = kNormMaxPer * 1024;
static_assert(kNormMaxRow == kMaxQuantizingNormRow);

// One block per row: the F32 output of the (add +) RMSNorm and its quantization, converted from
// registers (no trip through shared memory, no second barrier: a decode step runs this twice a
// layer, and it was ~7 us under ncu with them). Thread t holds elements 8t .. 8t + 7 (n <= 8 *
// blockDim), in 16-byte loads and stores (rows of whole 32 blocks are 16-byte aligned): 4 lanes
// hold a 32 block, a warp a 256 block. Threads past the row compute on zeros and store nothing
// (the conversions' shuffles take whole warps). kAdd: x += y_in first (add_rms_norm; out may be
// y_in: every y_in element is read before the block_reduce barrier, every out element written after
// it). The norm weights are loaded before the PDL wait (no kernel writes them).
template <ActivationType A, bool kAdd>
__global__ void __launch_bounds__(1024) norm_quantize_kernel(float* x, const float* y_in, const float* __restrict__ w, int64_t n, float eps,
                                     float* out, int8_t* __restrict__ qs, float2* __restrict__ ds) {
    pdl_launch_dependents();
    float* xr = x + blockIdx.x * n;
    const int64_t i0 = 8 * (int64_t)threadIdx.x;
    const bool here = i0 < n;
    float v[8] = {}, wv[8] = {};
    if (here) load8(w + i0, wv);
    pdl_wait();
    float sum = 0.f;
    if (here) {
        load8(xr + i0, v);
        if constexpr (kAdd) {
            float y[8];
            load8(y_in + blockIdx.x * n + i0, y);
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] += y[k];
            store8(xr + i0, v);
        }
#pragma unroll
        for (int k = 0; k < 8; ++k) sum += v[k] * v[k];
    }
    __shared__ float partial[32];
    const float total = block_reduce(sum, partial);
    const float scale = 1.0f / sqrtf(total / (float)n + eps);
    float o[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) o[k] = (v[k] * scale) * wv[k];
    if (here) store8(out + blockIdx.x * n + i0, o);
    int8_t* q_row = qs + blockIdx.x * n;
    float2* d_row = ds + blockIdx.x * (n / 32);
    if constexpr (A == ActivationType::Q8_K) {
        if (!here) return;  // whole warps: n is whole 256 blocks
        const int64_t b = i0 / 256;
        store_q8_k(o, q_row + b * 256, d_row + b * 8);
    } else {
        const int64_t b = i0 / 32;
        store_q8_32_by_4<A>(o, q_row + b * 32, d_row + b, here);
    }
}

// One warp per quantization block of the n_rows * n outputs: out = silu(gate) * up, then quantized.
template <ActivationType A>
__global__ void swiglu_quantize_kernel(const float* gate, const float* up, int64_t n_blocks, float* out,
                                       int8_t* __restrict__ qs, float2* __restrict__ ds) {
    [[maybe_unused]] const StepTrace trace = step_trace_enter(kStepSwiglu);
    pdl_launch_dependents();
    pdl_wait();
    step_trace_waited(trace);
    const int lane = threadIdx.x % 32;
    const int64_t block = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    if (block >= n_blocks) return;
    // as swiglu_kernel (pointwise.cu); out may be gate or up: each element is read before written
    auto f = [](float g, float u) { return g / (1.0f + expf(-g)) * u; };
    if constexpr (A == ActivationType::Q8_K) {
        // Every load first (two 16-byte loads each): loads interleaved with the stores to out, which
        // may alias them, waited one after another: ~6 us a call in an 8B Q4_K_M decode step (timed
        // by leaving the launch out).
        const int64_t e0 = block * 256 + 8 * lane;
        float g[8], u[8], v[8];
        load8(gate + e0, g);
        load8(up + e0, u);
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = f(g[i], u[i]);
        store8(out + e0, v);
        store_q8_k(v, qs + block * 256, ds + block * 8);
    } else {
        const int64_t e = block * 32 + lane;
        const float v = f(gate[e], up[e]);
        out[e] = v;
        store_q8_32<A>(v, qs + block * 32, ds + block);
    }
}

template <ActivationType A>
__global__ void to_half_kernel(const float* __restrict__ x, int64_t n_blocks, uint16_t* __restrict__ out) {
    const int lane = threadIdx.x % 32;
    const int64_t block = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    if (block >= n_blocks) return;
    if constexpr (A == ActivationType::Q8_K) {
        float v[8];
        int q[8];
        load8(x + block * 256 + 8 * lane, v);
        const float d = quantize256(v, q);
        uint32_t h[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const __half2 p = __floats2half2_rn(d * (float)q[2 * i], d * (float)q[2 * i + 1]);
            h[i] = *reinterpret_cast<const uint32_t*>(&p);
        }
        reinterpret_cast<uint4*>(out + block * 256)[lane] = make_uint4(h[0], h[1], h[2], h[3]);
    } else if constexpr (A == ActivationType::Q8_0 || A == ActivationType::Q8_1) {
        const Q8Block32 b = quantize32(x[block * 32 + lane]);
        out[block * 32 + lane] = __half_as_ushort(__float2half_rn((float)b.q * b.d_stored));
    } else {
        const float v = x[block * 32 + lane];
        out[block * 32 + lane] = A == ActivationType::BF16 ? __bfloat16_as_ushort(__float2bfloat16_rn(v))
                                                          : __half_as_ushort(__float2half_rn(v));
    }
}

constexpr int kThreads = 256;

// Blocks of `threads` for one warp per item.
unsigned grid_for(int64_t n_warps, int threads = kThreads) {
    return (unsigned)((n_warps * 32 + threads - 1) / threads);
}

int64_t block_elems(ActivationType type) { return type == ActivationType::Q8_K ? 256 : 32; }

void check_shape(ActivationType type, int64_t n_in, const char* what) {
    if (n_in % block_elems(type) != 0)
        fail(what, "activation rows of " + std::to_string(n_in) + " elements are not whole blocks of " +
                       std::to_string(block_elems(type)));
}

}  // namespace

void quantize_activations(ActivationType type, const float* x, int64_t n_tokens, int64_t n_in, int8_t* qs, float2* ds,
                          cudaStream_t stream) {
    check_shape(type, n_in, "quantize_activations");
    const int64_t n_blocks = n_tokens * n_in / block_elems(type);
    const LaunchShape shape{dim3(grid_for(n_blocks)), dim3(kThreads), 0, stream};
    if (!by_q8_activation(type, [&]<ActivationType A>() {
            launch_kernel(shape, true, quantize_kernel<A>, x, n_blocks, qs, ds);
        }))
        fail("quantize_activations", "not an 8-bit activation type");
    check_last_launch("quantize_activations");
}

namespace {

// The (add +) RMSNorm with its conversion: one block per row.
template <bool kAdd>
void launch_norm_quantize(ActivationType type, float* x, const float* y_in, const float* w, int64_t n_rows, int64_t n,
                          float eps, float* out, int8_t* qs, float2* ds, cudaStream_t stream, const char* what) {
    check_shape(type, n, what);
    if (n > kNormMaxRow)  // (shorter rows get fewer threads, never more than kNormMaxPer elements each)
        fail(what, "rows of " + std::to_string(n) + " elements: the quantizing norm takes at most " +
                       std::to_string(kNormMaxPer) + " a thread (" + std::to_string(kNormMaxRow) + ")");
    const LaunchShape shape{dim3((unsigned)n_rows), dim3(norm_block_threads(n)), 0, stream};
    if (!by_q8_activation(type, [&]<ActivationType A>() {
            launch_kernel(shape, true, norm_quantize_kernel<A, kAdd>, x, y_in, w, n, eps, out, qs, ds);
        }))
        fail(what, "not an 8-bit activation type");
    check_last_launch(what);
}

}  // namespace

void rms_norm_quantize(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* y,
                       ActivationType type, int8_t* qs, float2* ds, cudaStream_t stream) {
    float* xm = const_cast<float*>(x);  // read only: kAdd is false
    launch_norm_quantize<false>(type, xm, nullptr, w, n_rows, n, eps, y, qs, ds, stream, "rms_norm_quantize");
}

void add_rms_norm_quantize(float* x, const float* y_in, const float* w, int64_t n_rows, int64_t n, float eps,
                           float* out, ActivationType type, int8_t* qs, float2* ds, cudaStream_t stream) {
    launch_norm_quantize<true>(type, x, y_in, w, n_rows, n, eps, out, qs, ds, stream, "add_rms_norm_quantize");
}

void swiglu_quantize(const float* gate, const float* up, int64_t n_rows, int64_t n, float* out, ActivationType type,
                     int8_t* qs, float2* ds, cudaStream_t stream) {
    check_shape(type, n, "swiglu_quantize");
    const int64_t n_blocks = n_rows * n / block_elems(type);
    // One warp a block: a decode step's Q8_K SwiGLU (48 warps) then spreads over 48 SMs instead of 6
    // blocks of 8 warps (session 16-17's step timeline had those released ~0.9 us after the gate/up
    // launch ends and busy 1.65 us). Session 18, H100, 8B tg128, 3 rounds against 256 threads: Q4_K_M
    // +1.4 %, Q8_0 +0.7 %, each round ahead. SHOOTOUT_CUDA_SWIGLU_THREADS=64 / 128 / 256 for comparisons.
    static const int threads = [] {
        const long t = env_long("SHOOTOUT_CUDA_SWIGLU_THREADS", 32, 256, 32);
        return t == 64 || t == 128 || t == 256 ? (int)t : 32;
    }();
    const LaunchShape shape{dim3(grid_for(n_blocks, threads)), dim3(threads), 0, stream};
    if (!by_q8_activation(type, [&]<ActivationType A>() {
            launch_kernel(shape, true, swiglu_quantize_kernel<A>, gate, up, n_blocks, out, qs, ds);
        }))
        fail("swiglu_quantize", "not an 8-bit activation type");
    check_last_launch("swiglu_quantize");
}

void activations_to_half(ActivationType type, const float* x, int64_t n_tokens, int64_t n_in, uint16_t* out,
                         cudaStream_t stream) {
    check_shape(type, n_in, "activations_to_half");
    const int64_t n_blocks = n_tokens * n_in / block_elems(type);
    const unsigned grid = grid_for(n_blocks);
    switch (type) {
        case ActivationType::Q8_0: to_half_kernel<ActivationType::Q8_0><<<grid, kThreads, 0, stream>>>(x, n_blocks, out); break;
        case ActivationType::Q8_1: to_half_kernel<ActivationType::Q8_1><<<grid, kThreads, 0, stream>>>(x, n_blocks, out); break;
        case ActivationType::Q8_K: to_half_kernel<ActivationType::Q8_K><<<grid, kThreads, 0, stream>>>(x, n_blocks, out); break;
        case ActivationType::F16: to_half_kernel<ActivationType::F16><<<grid, kThreads, 0, stream>>>(x, n_blocks, out); break;
        case ActivationType::BF16: to_half_kernel<ActivationType::BF16><<<grid, kThreads, 0, stream>>>(x, n_blocks, out); break;
        case ActivationType::F32: fail("activations_to_half", "F32 activations are not converted");
    }
    check_last_launch("activations_to_half");
}

}  // namespace shootout::cuda
