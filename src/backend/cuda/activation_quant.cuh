// The device side of the activation conversion (activation_quant.h): one warp converts one block,
// 32 elements for Q8_0/Q8_1 (lane i holds element i), 256 for Q8_K (lane i holds 8i..8i+7), step for
// step as the CPU backend does (see activation_quant.cu). Shared by the conversion kernels and the
// producers that convert their own output (the quantizing norms, SwiGLU, the decode attention).
#pragma once

#include <cuda_fp16.h>

#include "backend/cuda/activation_quant.h"

namespace shootout::cuda::act {

constexpr unsigned kFull = 0xffffffffu;

// Q8_0 / Q8_1 of the warp's 32 elements (lane i holds element i): q of this lane, the d the CPU
// stores (F16-rounded) and sum q over the block, and the unrounded d (for Q8_1's s).
struct Q8Block32 {
    int q;
    float d_stored, d, sum;
};

__device__ __forceinline__ Q8Block32 quantize32(float v) {
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
__device__ __forceinline__ float quantize256(const float (&v)[8], int (&q)[8]) {
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
__device__ __forceinline__ int sum_of_quad(int s) {
    s += __shfl_xor_sync(kFull, s, 1);
    s += __shfl_xor_sync(kFull, s, 2);
    return s;
}

__device__ __forceinline__ void load8(const float* p, float (&v)[8]) {
    const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}

__device__ __forceinline__ void store8(float* p, const float (&v)[8]) {
    reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

// Stores the quantization of one 256 block held by the warp (lane i: elements 8i..8i+7) at qs (256
// bytes) and ds (8 pairs).
__device__ __forceinline__ void store_q8_k(const float (&v)[8], int8_t* qs, float2* ds) {
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

// The (d, s) pair stored for a Q8_0 / Q8_1 block of scale d (unrounded) and level sum `sum`: d
// rounded to F16 as the CPU stores it; s = d * sum, Q8_1's itself F16-rounded from the unrounded d.
template <ActivationType A>
__device__ __forceinline__ float2 q8_32_scales(float d, float sum) {
    const float d_stored = __half2float(__float2half_rn(d));
    return make_float2(d_stored, A == ActivationType::Q8_1 ? __half2float(__float2half_rn(sum * d)) : d_stored * sum);
}

// Stores the Q8_0 / Q8_1 quantization of one 32 block held by 4 neighbouring lanes, 8 consecutive
// elements each (lane l: elements 8 (l % 4) .. + 7 of the block at qs, scales at ds); the same
// values as store_q8_32 (a max and an integer sum do not depend on the order). Every lane of the
// warp must call it (shuffles); `store` false: a lane group past the data computes but writes nothing.
template <ActivationType A>
__device__ __forceinline__ void store_q8_32_by_4(const float (&v)[8], int8_t* qs, float2* ds, bool store) {
    const int piece = threadIdx.x % 4;
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) amax = fmaxf(amax, fabsf(v[i]));
    amax = fmaxf(amax, __shfl_xor_sync(kFull, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(kFull, amax, 2));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    uint32_t packed[2] = {0, 0};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int level = __float2int_rn(v[i] * id);  // as quantize32
        sum += level;
        packed[i / 4] |= (uint32_t)(uint8_t)(int8_t)max(-128, min(127, level)) << (8 * (i % 4));
    }
    sum = sum_of_quad(sum);
    if (!store) return;
    reinterpret_cast<uint2*>(qs)[piece] = make_uint2(packed[0], packed[1]);
    if (piece == 0) *ds = q8_32_scales<A>(d, (float)sum);
}

// Stores the Q8_0 / Q8_1 quantization of one 32 block held by the warp (lane i: element i).
template <ActivationType A>
__device__ __forceinline__ void store_q8_32(float v, int8_t* qs, float2* ds) {
    const Q8Block32 b = quantize32(v);
    qs[threadIdx.x % 32] = (int8_t)b.q;
    if (threadIdx.x % 32 == 0) *ds = q8_32_scales<A>(b.d, b.sum);
}

}  // namespace shootout::cuda::act
