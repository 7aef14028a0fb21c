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
#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "util/error.h"

namespace shootout::cuda {

ActivationType activation_type(quant::TypeId weight_type) {
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

namespace {

constexpr unsigned kFull = 0xffffffffu;

// Q8_0 / Q8_1 of the warp's 32 elements (lane i holds element i): q of this lane, the d the CPU
// stores (F16-rounded) and sum q over the block, and the unrounded d (for Q8_1's s).
struct Q8Block32 {
    int q;
    float d_stored, d, sum;
};

__device__ Q8Block32 quantize32(float v) {
    float amax = fabsf(v);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(kFull, amax, off));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    // ggml's x86 rule (backend/cpu/vec_dot_legacy.cpp q8_level): 127/amax, half to even, saturated.
    const int level = __float2int_rn(v * id);
    const int q = max(-128, min(127, level));
    int sum = level;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(kFull, sum, off);
    return {q, __half2float(__float2half_rn(d)), d, (float)sum};
}

// Q8_K of the warp's 256 elements (lane i holds elements 8i..8i+7 in v): qs of those, and d.
__device__ float quantize256(const float (&v)[8], int (&q)[8]) {
    const int lane = threadIdx.x % 32;
    // The first element of largest |x| (the CPU scans with a strict >), and its signed value.
    float amax = 0.0f, max = 0.0f;
    int at = 1 << 30;
#pragma unroll
    for (int i = 0; i < 8; ++i)
        if (fabsf(v[i]) > amax) {
            amax = fabsf(v[i]);
            max = v[i];
            at = 8 * lane + i;
        }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float o_amax = __shfl_xor_sync(kFull, amax, off);
        const float o_max = __shfl_xor_sync(kFull, max, off);
        const int o_at = __shfl_xor_sync(kFull, at, off);
        if (o_amax > amax || (o_amax == amax && o_at < at)) {
            amax = o_amax;
            max = o_max;
            at = o_at;
        }
    }
    if (amax == 0.0f) {
#pragma unroll
        for (int i = 0; i < 8; ++i) q[i] = 0;
        return 0.0f;
    }
    const float iscale = -127.0f / max;
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = min(127, __float2int_rn(iscale * v[i]));  // nearest_int: half to even
    return 1.0f / iscale;
}

// Sum over the 4 lanes that hold one 32-element piece of a 256 block.
__device__ int sum_of_quad(int s) {
    s += __shfl_xor_sync(kFull, s, 1);
    s += __shfl_xor_sync(kFull, s, 2);
    return s;
}

__device__ void load8(const float* p, float (&v)[8]) {
    const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}

// Stores the quantization of one 256 block held by the warp (lane i: elements 8i..8i+7) at qs (256
// bytes) and ds (8 pairs).
__device__ void store_q8_k(const float (&v)[8], int8_t* qs, float2* ds) {
    const int lane = threadIdx.x % 32;
    int q[8];
    const float d = quantize256(v, q);
    int sum = 0;
    uint32_t packed[2] = {0, 0};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        sum += q[i];
        packed[i / 4] |= (uint32_t)(uint8_t)(int8_t)q[i] << (8 * (i % 4));
    }
    reinterpret_cast<uint2*>(qs)[lane] = make_uint2(packed[0], packed[1]);
    sum = sum_of_quad(sum);
    if (lane % 4 == 0) ds[lane / 4] = make_float2(d, d * (float)sum);
}

// Stores the Q8_0 / Q8_1 quantization of one 32 block held by the warp (lane i: element i).
template <ActivationType A>
__device__ void store_q8_32(float v, int8_t* qs, float2* ds) {
    const Q8Block32 b = quantize32(v);
    qs[threadIdx.x % 32] = (int8_t)b.q;
    if (threadIdx.x % 32 == 0) {
        const float s = A == ActivationType::Q8_1 ? __half2float(__float2half_rn(b.sum * b.d)) : b.d_stored * b.sum;
        *ds = make_float2(b.d_stored, s);
    }
}

template <ActivationType A>
__global__ void quantize_kernel(const float* x, int64_t n_blocks, int8_t* __restrict__ qs, float2* __restrict__ ds) {
    pdl_launch_dependents();
    pdl_wait();
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

// One block per row: the F32 output of the (add +) RMSNorm and its quantization, block by block,
// each warp taking whole quantization blocks. kAdd: x += y_in first (add_rms_norm).
template <ActivationType A, bool kAdd>
__global__ void norm_quantize_kernel(float* x, const float* y_in, const float* __restrict__ w, int64_t n, float eps,
                                     float* out, int8_t* __restrict__ qs, float2* __restrict__ ds) {
    pdl_launch_dependents();
    pdl_wait();
    float* xr = x + blockIdx.x * n;
    float* orow = out + blockIdx.x * n;
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float v = xr[i];
        if constexpr (kAdd) {
            v += y_in[blockIdx.x * n + i];
            xr[i] = v;
        }
        sum += v * v;
    }
    __shared__ float partial[32];
    const float total = block_reduce(sum, partial);
    const float scale = 1.0f / sqrtf(total / (float)n + eps);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    constexpr int64_t kBlock = A == ActivationType::Q8_K ? 256 : 32;
    int8_t* q_row = qs + blockIdx.x * n;
    float2* d_row = ds + blockIdx.x * (n / 32);
    for (int64_t b = warp; b < n / kBlock; b += n_warps) {
        if constexpr (A == ActivationType::Q8_K) {
            float v[8];
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const int64_t e = b * 256 + 8 * lane + i;
                v[i] = (xr[e] * scale) * w[e];
                orow[e] = v[i];
            }
            store_q8_k(v, q_row + b * 256, d_row + b * 8);
        } else {
            const int64_t e = b * 32 + lane;
            const float v = (xr[e] * scale) * w[e];
            orow[e] = v;
            store_q8_32<A>(v, q_row + b * 32, d_row + b);
        }
    }
}

// One warp per quantization block of the n_rows * n outputs: out = silu(gate) * up, then quantized.
template <ActivationType A>
__global__ void swiglu_quantize_kernel(const float* gate, const float* up, int64_t n_blocks, float* out,
                                       int8_t* __restrict__ qs, float2* __restrict__ ds) {
    pdl_launch_dependents();
    pdl_wait();
    const int lane = threadIdx.x % 32;
    const int64_t block = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    if (block >= n_blocks) return;
    auto f = [&](int64_t e) {
        const float g = gate[e];
        const float v = g / (1.0f + expf(-g)) * up[e];  // as swiglu_kernel (pointwise.cu)
        out[e] = v;
        return v;
    };
    if constexpr (A == ActivationType::Q8_K) {
        float v[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = f(block * 256 + 8 * lane + i);
        store_q8_k(v, qs + block * 256, ds + block * 8);
    } else {
        store_q8_32<A>(f(block * 32 + lane), qs + block * 32, ds + block);
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

unsigned grid_for(int64_t n_warps) { return (unsigned)((n_warps * 32 + kThreads - 1) / kThreads); }

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
    switch (type) {
        case ActivationType::Q8_0:
            launch_kernel(shape, true, quantize_kernel<ActivationType::Q8_0>, x, n_blocks, qs, ds);
            break;
        case ActivationType::Q8_1:
            launch_kernel(shape, true, quantize_kernel<ActivationType::Q8_1>, x, n_blocks, qs, ds);
            break;
        case ActivationType::Q8_K:
            launch_kernel(shape, true, quantize_kernel<ActivationType::Q8_K>, x, n_blocks, qs, ds);
            break;
        default: fail("quantize_activations", "not an 8-bit activation type");
    }
    check_last_launch("quantize_activations");
}

namespace {

// The (add +) RMSNorm with its conversion: one block per row.
template <bool kAdd>
void launch_norm_quantize(ActivationType type, float* x, const float* y_in, const float* w, int64_t n_rows, int64_t n,
                          float eps, float* out, int8_t* qs, float2* ds, cudaStream_t stream, const char* what) {
    check_shape(type, n, what);
    const LaunchShape shape{dim3((unsigned)n_rows), dim3(norm_block_threads(n)), 0, stream};
    switch (type) {
        case ActivationType::Q8_0:
            launch_kernel(shape, true, norm_quantize_kernel<ActivationType::Q8_0, kAdd>, x, y_in, w, n, eps, out, qs,
                          ds);
            break;
        case ActivationType::Q8_1:
            launch_kernel(shape, true, norm_quantize_kernel<ActivationType::Q8_1, kAdd>, x, y_in, w, n, eps, out, qs,
                          ds);
            break;
        case ActivationType::Q8_K:
            launch_kernel(shape, true, norm_quantize_kernel<ActivationType::Q8_K, kAdd>, x, y_in, w, n, eps, out, qs,
                          ds);
            break;
        default: fail(what, "not an 8-bit activation type");
    }
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
    const LaunchShape shape{dim3(grid_for(n_blocks)), dim3(kThreads), 0, stream};
    switch (type) {
        case ActivationType::Q8_0:
            launch_kernel(shape, true, swiglu_quantize_kernel<ActivationType::Q8_0>, gate, up, n_blocks, out, qs, ds);
            break;
        case ActivationType::Q8_1:
            launch_kernel(shape, true, swiglu_quantize_kernel<ActivationType::Q8_1>, gate, up, n_blocks, out, qs, ds);
            break;
        case ActivationType::Q8_K:
            launch_kernel(shape, true, swiglu_quantize_kernel<ActivationType::Q8_K>, gate, up, n_blocks, out, qs, ds);
            break;
        default: fail("swiglu_quantize", "not an 8-bit activation type");
    }
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
