// The layer-stream probe's stand-in weight format (bench_cuda_layer_stream.cu): Q4_K-sized blocks of
// 256 weights in 144 bytes (128 of nibbles: byte k of a 32-weight group holds weight k low, k + 16
// high; then 8 half scales, one a group), 4.5 bits a weight; x quantized to int8 with a scale and a
// sum a 32 values. Its dot costs about Q4_K's integer work, not its format. Every kernel that reads
// it goes through row_dot / row_dot2, so the probe's kernels and the plain one give the same bits.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace shootout::bench_cuda {

constexpr int kMaxIn = 12288;
constexpr int kBlockBytes = 144;  // 256 weights
constexpr int kRefThreads = 256;  // the plain kernels' x conversion

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// x (n_in floats, n_in a multiple of 32 up to kMaxIn) into int8 with a scale and a sum a 32 elements,
// by n_threads threads: thread t takes float4 t, t + n_threads, ... (a group is 8 neighbouring lanes),
// every load issued before the first reduction (an L2 round trip a phase, not one a group).
template <int kThreadsX>
__device__ void quantize_x(const float* x, int n_in, int t, int8_t* xq, float* xd, int* xsum) {
    constexpr int kMaxPer = kMaxIn / 4 / kThreadsX;
    static_assert(kMaxIn % (4 * kThreadsX) == 0);
    const int n4 = n_in / 4;
    float4 v[kMaxPer];
#pragma unroll
    for (int j = 0; j < kMaxPer; ++j) {
        const int i = t + kThreadsX * j;
        v[j] = i < n4 ? reinterpret_cast<const float4*>(x)[i] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int j = 0; j < kMaxPer; ++j) {
        const int i = t + kThreadsX * j;
        if (kThreadsX * j + (t & ~31) >= n4) break;  // the warp's lanes are past the row (warp-uniform)
        float amax = fmaxf(fmaxf(fabsf(v[j].x), fabsf(v[j].y)), fmaxf(fabsf(v[j].z), fabsf(v[j].w)));
#pragma unroll
        for (int off = 1; off < 8; off <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
        const float d = amax / 127.f;
        const float id = d > 0.f ? 1.f / d : 0.f;
        const int q0 = __float2int_rn(v[j].x * id), q1 = __float2int_rn(v[j].y * id);
        const int q2 = __float2int_rn(v[j].z * id), q3 = __float2int_rn(v[j].w * id);
        int sum = q0 + q1 + q2 + q3;
#pragma unroll
        for (int off = 1; off < 8; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        if (i < n4) {
            reinterpret_cast<char4*>(xq)[i] = make_char4((signed char)q0, (signed char)q1, (signed char)q2, (signed char)q3);
            if ((i & 7) == 0) {
                xd[i / 8] = d;
                xsum[i / 8] = sum;
            }
        }
    }
}

// Group g's term of a row's dot with the quantized x: 32 weights (block g / 8, its group g % 8).
__device__ __forceinline__ float group_term(const uint8_t* row, int g, const int8_t* xq, const float* xd,
                                            const int* xsum) {
    const uint8_t* blk = row + (g >> 3) * kBlockBytes;
    const int j = g & 7;
    const int4 w = *reinterpret_cast<const int4*>(blk + 16 * j);
    const unsigned short hb = *reinterpret_cast<const unsigned short*>(blk + 128 + 2 * j);
    const int4 lo = *reinterpret_cast<const int4*>(xq + 32 * g);
    const int4 hi = *reinterpret_cast<const int4*>(xq + 32 * g + 16);
    int s = __dp4a(w.x & 0x0F0F0F0F, lo.x, 0);
    s = __dp4a(w.y & 0x0F0F0F0F, lo.y, s);
    s = __dp4a(w.z & 0x0F0F0F0F, lo.z, s);
    s = __dp4a(w.w & 0x0F0F0F0F, lo.w, s);
    s = __dp4a((w.x >> 4) & 0x0F0F0F0F, hi.x, s);
    s = __dp4a((w.y >> 4) & 0x0F0F0F0F, hi.y, s);
    s = __dp4a((w.z >> 4) & 0x0F0F0F0F, hi.z, s);
    s = __dp4a((w.w >> 4) & 0x0F0F0F0F, hi.w, s);
    return __half2float(__ushort_as_half(hb)) * xd[g] * (float)(s - 8 * xsum[g]);
}

// One row's dot, by a warp: lane l takes the groups l, l + 32, ..., so neighbouring lanes read
// neighbouring bytes of both the row and x. row may be shared or global memory.
__device__ __forceinline__ float row_dot(const uint8_t* row, int n_in, const int8_t* xq, const float* xd,
                                         const int* xsum) {
    float acc = 0.f;
#pragma unroll 4
    for (int g = threadIdx.x & 31; g < n_in / 32; g += 32) acc += group_term(row, g, xq, xd, xsum);
    return warp_sum(acc);
}
// Two rows at once (their loads and dp4a chains interleave); each sums its terms in row_dot's order.
__device__ __forceinline__ void row_dot2(const uint8_t* row0, const uint8_t* row1, int n_in, const int8_t* xq,
                                         const float* xd, const int* xsum, float& s0, float& s1) {
    float acc0 = 0.f, acc1 = 0.f;
#pragma unroll 2
    for (int g = threadIdx.x & 31; g < n_in / 32; g += 32) {
        acc0 += group_term(row0, g, xq, xd, xsum);
        acc1 += group_term(row1, g, xq, xd, xsum);
    }
    s0 = warp_sum(acc0);
    s1 = warp_sum(acc1);
}

// Random bytes with every half scale a finite value in [2^-8, 2^-6] (so no dot is inf or NaN).
__global__ void fill_weights_kernel(uint8_t* w, int64_t n_blocks, uint32_t seed) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n_blocks * (kBlockBytes / 4);
         i += (int64_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        const int word = (int)(i % (kBlockBytes / 4));
        if (word >= 32) h = (0x1C00u + (h & 0x7FFu)) | ((0x1C00u + ((h >> 16) & 0x7FFu)) << 16);
        reinterpret_cast<uint32_t*>(w)[i] = h;
    }
}

// A one-token product as today's backend launches it: 4 warps a block, a warp a row, the row's
// weights loaded from global memory by the lanes (row_dot: up to 4 groups in flight a lane), x
// quantized beforehand (quantize_kernel). The single-product table's baseline, same format and dot.
__global__ void __launch_bounds__(128) plain_kernel(const uint8_t* w, int64_t rows, int n_in, int row_bytes,
                                                    const int8_t* xq, const float* xd, const int* xsum, float* y) {
    const int64_t row = (int64_t)blockIdx.x * 4 + threadIdx.x / 32;
    if (row >= rows) return;
    const float s = row_dot(w + row * row_bytes, n_in, xq, xd, xsum);
    if ((threadIdx.x & 31) == 0) y[row] = s;
}
__global__ void quantize_kernel(const float* x, int n_in, int8_t* xq, float* xd, int* xsum) {
    quantize_x<kRefThreads>(x, n_in, threadIdx.x, xq, xd, xsum);
}

}  // namespace shootout::bench_cuda
