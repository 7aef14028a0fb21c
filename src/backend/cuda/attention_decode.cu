// The decode step's attention (one token, attention_decode_step in ops_kernels.h): one kernel per
// step stores the new key and value, applies the held-back qk_norm_rope and converts its output for
// the next product; at long contexts the keys are cut into ranges, a block each (DecodeSplit).
// Launched with PDL (pdl.cuh): trigger, wait, then work; q, k, v and the cache, written by the
// kernels before, are read with coherent loads (no __restrict__).
#include <cuda_fp16.h>

#include <string>

#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/attention_decode.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/decode_walk_cores.cuh"
#include "backend/cuda/decode_walk_mma.cuh"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/phase_trace.cuh"
#include "backend/cuda/step_trace.cuh"
#include "backend/cuda/qk_norm_rope.cuh"
#include "backend/cuda/warp_reduce.cuh"
#include "util/env.h"

namespace shootout::cuda {
namespace {

// One decode token (n_tokens == 1): a block per KV head takes the G query heads that share it, so K
// and V are read once for the group, and its warps split the keys: on the tensor cores for head_dim
// 64 and 128, and 256 with 2 to 8 heads a KV head (kMma, decode_walk_mma.cuh), on the CUDA cores
// otherwise or with
// SHOOTOUT_CUDA_DECODE_MMA=0 (decode_walk_cores.cuh). The warps' partial sums are merged through
// shared memory at the end. The one-query-warp kernel above walked every key tile of every head
// serially in one warp: ~8 us a layer at 128 positions on an H200.
// With gridDim.y > 1 (DecodeSplit, ops_kernels.h) block (h, s) takes the s-th range of the keys: the
// ranges are cut at run time from the position, so a captured graph serves every context length.
// A range's partials (floats): (M, den) of each head, then the numerators from kPartNum on, which
// keeps every range's numerators 16-byte aligned for the merge's float4 loads.
template <int G>
constexpr int kPartNum = (2 * G + 3) / 4 * 4;
template <int HD, int G>
constexpr int kPartFloats = kPartNum<G> + G * HD;

template <int HD, int G, int W, ActivationType A, bool kMma>
__global__ void __launch_bounds__(W * 32, kMma ? 2 : 1)
attention_decode_kernel(__half* k_cache, __half* v_cache, const float* q, const float* k, const float* v, int64_t pos0,
                        const int64_t* __restrict__ pos0_device, int n_head_kv, float scale, NormRope nr,
                        float* q_back, float* k_back, float* out, int8_t* __restrict__ qs, float2* __restrict__ ds,
                        float* partials, unsigned* counters) {
    pdl_launch_dependents();
    // Phase marks (phase_trace.cuh; nothing unless built with SHOOTOUT_CUDA_PHASE_TRACE): thread 0 of
    // block (0, 0).
    [[maybe_unused]] const StepTrace step_trace = step_trace_enter(kStepAttention);
    const PhaseTrace trace = phase_trace_open(blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0);
    phase_mark(trace, 0);
    // Before the wait (pdl.cuh rule 3): the position (its buffer is written by a copy before the
    // graph), and below, for the blocks with keys, the rotation angles and the norm weights.
    if (pos0_device) pos0 = *pos0_device;
    constexpr int kPer = HD / 32;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    // The key ranges: whole block tiles of at least kMinSplitKeys; blocks past the last range exit
    // (without waiting: they touch no memory an earlier kernel writes).
    const int64_t n_keys = pos0 + 1;
    int64_t range = n_keys;
    int n_ranges = 1;
    if (gridDim.y > 1) {
        const int64_t tile = (int64_t)W * (kMma ? kMmaWalkKeys : kCoresWalkKeys<HD>);
        range = (n_keys + gridDim.y - 1) / gridDim.y;
        range = (range + tile - 1) / tile * tile;
        if (range < kMinSplitKeys) range = kMinSplitKeys;
        n_ranges = (int)((n_keys + range - 1) / range);
    }
    const int split = blockIdx.y;
    phase_mark(trace, 1);  // 0 -> 1: the position and the key ranges
    if (split >= n_ranges) return;
    // With the norm and RoPE held back here, the rotation angles and the norm weights: at a short
    // context the kernel is a chain of dependent steps on 8 blocks (one a KV head), and these were
    // ~a third of the steps before the first key (the angles' 31 + 32 dependent multiplies and
    // sincosf, two rows one after the other on warp 0). After the exit above, so the blocks without
    // keys take no issue slots from the product still running.
    RopeAngles<HD> angles;
    float w_q[kPer], w_k[kPer];
    if (q_back) {
        angles = rope_angles<HD>(nr, pos0);
        load_row<HD>(nr.q_norm, w_q);
        load_row<HD>(warp == G % W ? nr.k_norm : nullptr, w_k);  // the warp of row G, the key
    }
    const int64_t key_begin = split * range, key_end = key_begin + range < n_keys ? key_begin + range : n_keys;
    const bool holds_new = key_end == n_keys;  // the range with the new position stores and scores it
    __shared__ __align__(16) float q_s[G][HD];
    __shared__ float k_s[HD];
    __shared__ float part_acc[W][G][HD];
    __shared__ float part_m[W][G], part_l[W][G];
    const int kv_head = blockIdx.x;
    const int64_t kv_row = (int64_t)n_head_kv * HD;  // halves per cache row
    // The new position's key and value (this KV head's part of the row), and the queries: normed and
    // rotated here when q_back is given (rows 0..G-1 the query heads, row G the key; written back to
    // q_back and k_back as qk_norm_rope leaves them). __syncthreads makes the stored row visible to
    // the key walk below. With several ranges every block norms the queries for itself and only the
    // block of the new position the key; q_back (q itself) is then written by the merging block, when
    // no block reads q any more.
    const float* q_head = q + (int64_t)kv_head * G * HD;
    const float* k_head = k + (int64_t)kv_head * HD;
    __half* k_new = k_cache + pos0 * kv_row + (int64_t)kv_head * HD;
    __half* v_new = v_cache + pos0 * kv_row + (int64_t)kv_head * HD;
    // The mma walk's first tile of cached keys, loaded before the wait too: at a short context the
    // walk is one or two tiles a warp, and this takes a memory round trip (~1 us) off the chain after
    // the wait. Only inside a captured decode step (pos0_device given, step_graph.cpp): its graph
    // launch follows the copy of the positions, which waited for every earlier step, so the rows
    // before pos0 (written by those steps or by prompt kernels) are complete; without it (eager
    // launches chained by PDL) the same loads come after the wait. The new position's row, which
    // this kernel writes, is left out either way and put in from shared memory after the barrier
    // (patch_mma_tile).
    // Not for head_dim 256: its tile's 128 registers a lane would spill.
    constexpr bool kPreload = kMma && HD <= 128;
    __shared__ __align__(16) __half kv_new_s[2][HD];  // the new position's K and V rows, as stored
    [[maybe_unused]] MmaTile<HD> first;
    const int64_t first_key = key_begin + (int64_t)warp * kMmaWalkKeys;
    const int64_t cached_end = holds_new ? pos0 : key_end;  // the keys already in the cache
    auto load_early_tiles = [&] {
        if constexpr (kPreload) load_mma_tile<HD>(k_cache, v_cache, kv_row, kv_head, first_key, cached_end, first);
    };
    const bool in_graph = pos0_device != nullptr;
    if (in_graph) load_early_tiles();
    pdl_wait();
    step_trace_waited(step_trace);
    if (!in_graph) load_early_tiles();
    phase_mark(trace, 2);  // 1 -> 2: the angles, the early tiles and the wait for the previous kernel
    if (q_back) {
        // A warp's rows (warp, warp + W, ...) are all loaded before the first is normed: one wait.
        constexpr int kRows = (G + W) / W;
        float e[kRows][kPer];
#pragma unroll
        for (int j = 0; j < kRows; ++j) {
            const int r = warp + j * W;
            const bool has = r < G || (r == G && holds_new);
            load_row<HD>(has ? (r < G ? q_head + (int64_t)r * HD : k_head) : nullptr, e[j]);
        }
#pragma unroll
        for (int j = 0; j < kRows; ++j) {
            const int r = warp + j * W;
            if (r > G || (r == G && !holds_new)) break;
            float* row = r < G ? q_s[r] : k_s;
            const bool normed = (r < G ? nr.q_norm : nr.k_norm) != nullptr;
            float w[kPer];  // selected by element: a reference chosen at run time would put both in local memory
#pragma unroll
            for (int i = 0; i < kPer; ++i) w[i] = r < G ? w_q[i] : w_k[i];
            norm_rope_values<HD>(e[j], w, normed, nr, angles, row);
            if (r < G && n_ranges > 1) continue;
            float* back = r < G ? q_back + ((int64_t)kv_head * G + r) * HD : k_back + (int64_t)kv_head * HD;
            for (int d = lane; d < HD; d += 32) {
                back[d] = row[d];
                if (r == G) k_new[d] = kv_new_s[0][d] = __float2half_rn(row[d]);
            }
        }
    } else {
        for (int i = threadIdx.x; i < G * HD; i += W * 32) q_s[i / HD][i % HD] = q_head[i];
        if (holds_new)
            for (int d = threadIdx.x; d < HD; d += W * 32) k_new[d] = kv_new_s[0][d] = __float2half_rn(k_head[d]);
    }
    if (holds_new)
        for (int d = threadIdx.x; d < HD; d += W * 32)
            v_new[d] = kv_new_s[1][d] = __float2half_rn(v[(int64_t)kv_head * HD + d]);
    __syncthreads();
    phase_mark(trace, 3);  // 2 -> 3: q/k norm and RoPE, the cache store, the barrier
    if constexpr (kPreload)
        if (holds_new) patch_mma_tile<HD>(first_key, pos0, kv_new_s[0], kv_new_s[1], first);

    if constexpr (kMma)
        decode_walk_mma<HD, G, W, kPreload>(k_cache, v_cache, kv_row, kv_head, key_begin, key_end, scale, q_s, part_acc,
                                            part_m, part_l, first);
    else
        decode_walk_cores<HD, G, W>(k_cache, v_cache, kv_row, kv_head, key_begin, key_end, scale, q_s, part_acc,
                                    part_m, part_l);
    __syncthreads();
    phase_mark(trace, 4);  // 3 -> 4: the key walk and the barrier
    // Merge: out = sum_w e^(m_w - M) acc_w / sum_w e^(m_w - M) l_w (a warp without keys has m = -inf).
    // The factors e^(m_w - M) and the denominators once per head (part_m / part_l then hold them,
    // part_l[1] the maximum M).
    if (threadIdx.x < G) {
        const int g = threadIdx.x;
        float mx = -INFINITY;
#pragma unroll
        for (int w = 0; w < W; ++w) mx = fmaxf(mx, part_m[w][g]);
        float den = 0.f;
#pragma unroll
        for (int w = 0; w < W; ++w) {
            const float f = expf(part_m[w][g] - mx);
            part_m[w][g] = f;
            den += f * part_l[w][g];
        }
        part_l[0][g] = den;
        part_l[1][g] = mx;
    }
    __syncthreads();
    phase_mark(trace, 5);  // 4 -> 5: the warps' merge factors
    // An output value i of this KV head's G * HD: written to out and handed to the next product's
    // conversion. The 32-element conversions (Q8_0, Q8_1) are done here, in registers: every i a
    // warp passes at once is one conversion block (i = threadIdx.x + a multiple of 32). Staging the
    // outputs in q_s for a pass of W-strided blocks after a barrier took ~1.7 us of a ~6 us call at a
    // short context (H100, 8B). Q8_K's 256-element blocks span warps: staged, converted at the end.
    constexpr bool kConvertHere = A == ActivationType::Q8_0 || A == ActivationType::Q8_1;
    const int64_t base = (int64_t)kv_head * G * HD;
    auto emit = [&](int i, float o) {
        out[base + i] = o;
        if constexpr (kConvertHere)
            act::store_q8_32<A>(o, qs + base + (i & ~31), ds + base / 32 + i / 32);
        else if constexpr (A != ActivationType::F32)
            q_s[i / HD][i % HD] = o;  // the queries are read: free
    };
    // The block's numerators: with one range the output, with several this range's part of it
    // (M, den, num), written to partials for the merge below. All of a thread's outputs first, then
    // their conversions, so the conversions' shuffle chains overlap.
    constexpr int kNum = kPartNum<G>, kPart = kPartFloats<HD, G>;
    constexpr int kIters = (G * HD + W * 32 - 1) / (W * 32);
    float* mine = n_ranges > 1 ? partials + ((int64_t)kv_head * gridDim.y + split) * kPart : nullptr;
    float o_own[kIters];
#pragma unroll
    for (int it = 0; it < kIters; ++it) {
        const int i = threadIdx.x + it * W * 32;
        o_own[it] = 0.f;
        if (i >= G * HD) continue;  // warp-uniform (G * HD is whole warps)
        const int g = i / HD, d = i % HD;
        float num = 0.f;
#pragma unroll
        for (int w = 0; w < W; ++w) num += part_m[w][g] * part_acc[w][g][d];
        if (mine)
            mine[kNum + i] = num;
        else
            o_own[it] = num / part_l[0][g];
    }
    if (!mine) {
#pragma unroll
        for (int it = 0; it < kIters; ++it)
            if (const int i = threadIdx.x + it * W * 32; i < G * HD) emit(i, o_own[it]);
    }
    if (mine) {
        // The last block of the head to get here merges all ranges in range order (the same sums
        // whichever block that is). The fences make the partials written before the count visible
        // to the merging block, and its reads after it.
        __shared__ bool merges;
        // The merge's per-range factors take part_acc's place (read into partials by then).
        static_assert(kMaxDecodeSplits <= W * HD && kMaxDecodeSplits <= 64, "range factors fit in part_acc, 2 a lane");
        float(*range_f)[G] = reinterpret_cast<float(*)[G]>(&part_acc[0][0][0]);
        if (threadIdx.x < G) {
            mine[threadIdx.x] = part_l[1][threadIdx.x];
            mine[G + threadIdx.x] = part_l[0][threadIdx.x];
        }
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) {
            merges = atomicAdd(&counters[kv_head], 1u) == (unsigned)n_ranges - 1;
            if (merges) counters[kv_head] = 0;  // every block of this head has counted: ready for the next call
        }
        __syncthreads();
        if (!merges) return;
        __threadfence();
        const float* head_parts = partials + (int64_t)kv_head * gridDim.y * kPart;
        // The factors e^(M_r - M) and the denominator of each head: a warp a head, a lane one or two
        // ranges (every range's (M, den) in one trip to L2), reduced across the lanes.
        for (int g = warp; g < G; g += W) {
            float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
            if (lane < n_ranges) {
                m0 = __ldcg(head_parts + lane * kPart + g);
                l0 = __ldcg(head_parts + lane * kPart + G + g);
            }
            if (lane + 32 < n_ranges) {
                m1 = __ldcg(head_parts + (lane + 32) * kPart + g);
                l1 = __ldcg(head_parts + (lane + 32) * kPart + G + g);
            }
            const float mx = warp_max(fmaxf(m0, m1));  // finite: every range has keys
            const float f0 = expf(m0 - mx), f1 = expf(m1 - mx);  // 0 for no range
            if (lane < n_ranges) range_f[lane][g] = f0;
            if (lane + 32 < n_ranges) range_f[lane + 32][g] = f1;
            const float den = warp_add(f0 * l0 + f1 * l1);
            if (lane == 0) part_l[0][g] = den;
        }
        // q_back: every block has read q (each counted after its norms).
        if (q_back)
            for (int i = threadIdx.x; i < G * HD; i += W * 32)
                q_back[(int64_t)kv_head * G * HD + i] = q_s[i / HD][i % HD];
        __syncthreads();
        // The numerators as float4 columns (4 outputs of one head), one or two columns a thread and
        // 32 float4 loads in flight, summed in range order as before (the same bits). The merge
        // reads n_ranges * G * HD floats in this one block (256 KB at 64 ranges of 8 x 128): scalar
        // loads, 16 in flight, took 16 dependent L2 trips there. The outputs go through q_s (free
        // here) so that emit() below sees a warp's 32 consecutive outputs at once, as its
        // conversions want.
        constexpr int kStride = W * 32;
        constexpr int kCols = G * HD / 4;
        constexpr int kGroup = kCols > kStride ? 2 : 1;
        constexpr int kInFlight = 32 / kGroup;
        float* merged = &q_s[0][0];
        for (int c0 = threadIdx.x; c0 < kCols; c0 += kGroup * kStride) {
            float4 n[kGroup];
            int g[kGroup];
#pragma unroll
            for (int j = 0; j < kGroup; ++j) {
                n[j] = make_float4(0.f, 0.f, 0.f, 0.f);
                g[j] = c0 + j * kStride < kCols ? 4 * (c0 + j * kStride) / HD : 0;
            }
            for (int r0 = 0; r0 < n_ranges; r0 += kInFlight) {
                float4 x[kInFlight][kGroup];
#pragma unroll
                for (int u = 0; u < kInFlight; ++u) {
                    const float4* row = reinterpret_cast<const float4*>(head_parts + (r0 + u) * kPart + kNum);
#pragma unroll
                    for (int j = 0; j < kGroup; ++j)
                        x[u][j] = r0 + u < n_ranges && c0 + j * kStride < kCols ? __ldcg(row + c0 + j * kStride)
                                                                                 : make_float4(0.f, 0.f, 0.f, 0.f);
                }
#pragma unroll
                for (int u = 0; u < kInFlight; ++u) {
                    if (r0 + u >= n_ranges) break;
#pragma unroll
                    for (int j = 0; j < kGroup; ++j) {
                        const float f = range_f[r0 + u][g[j]];
                        n[j].x += f * x[u][j].x;
                        n[j].y += f * x[u][j].y;
                        n[j].z += f * x[u][j].z;
                        n[j].w += f * x[u][j].w;
                    }
                }
            }
#pragma unroll
            for (int j = 0; j < kGroup; ++j) {
                const int c = c0 + j * kStride;
                if (c >= kCols) break;
                const float den = part_l[0][g[j]];
                reinterpret_cast<float4*>(merged)[c] = make_float4(n[j].x / den, n[j].y / den, n[j].z / den, n[j].w / den);
            }
        }
        __syncthreads();
        for (int i = threadIdx.x; i < G * HD; i += kStride) emit(i, merged[i]);  // warp-uniform: G * HD is whole warps
    }
    if constexpr (A == ActivationType::Q8_K) {
        // Q8_K's conversion for the next product, from the staged outputs: G * HD is whole blocks.
        __syncthreads();
        static_assert(G * HD % 256 == 0);
        const float* flat = &q_s[0][0];
        for (int b = warp; b < G * HD / 256; b += W) {
            float v8[8];
#pragma unroll
            for (int i = 0; i < 8; ++i) v8[i] = flat[b * 256 + 8 * lane + i];
            act::store_q8_k(v8, qs + base + b * 256, ds + base / 32 + b * 8);
        }
    }
    phase_mark(trace, 6);  // 5 -> 6: the output (the ranges' merge when split) and its conversion
}

struct DecodeArgs {
    uint16_t* k_cache;
    uint16_t* v_cache;
    const float* q;
    const float* k;
    const float* v;
    int64_t pos0;
    const int64_t* pos0_device;
    float scale;
    const NormRope* norm_rope;
    float* out;
    int8_t* qs;
    float2* ds;
    const DecodeSplit* split;
};

// Key ranges a KV head for DecodeSplit: about two blocks an SM over all heads, within the scratch.
// (Fewer ranges, so the merging block reads fewer partials, lost: session 19, 30B-A3B tg128 @ d4096
// 337 t/s at 64 ranges of 8 x 128, 310 with 64 KB of partials a head, 325 with 128 KB. So did a
// merge in two levels, groups of 8 ranges merged by their last block first: 346 -> 334 t/s, and
// 8B Q8_0 260 -> 256, the second count's fence, atomic and L2 trip costing more than it saved.)
int decode_ranges(const DecodeSplit* split, int64_t n_head_kv) {
    if (!split || !split->partials || n_head_kv <= 0) return 1;
    const int n_sm = multiprocessor_count();
    // Two blocks an SM is what the registers let stay resident: the CUDA-core walk's 8 warps at ~105
    // registers a thread (session 8: 8B Q8_0 tg128 @ d16384 on H100 ran at 176 t/s with 33 ranges a
    // head, 157 with 64, two waves), and the mma walk's 4 warps at ~190-204 (launch_decode).
    int64_t r = 2 * (int64_t)n_sm / n_head_kv;
    if (r > kMaxDecodeSplits) r = kMaxDecodeSplits;
    if (r * n_head_kv > split->max_blocks) r = split->max_blocks / n_head_kv;
    return r < 1 ? 1 : (int)r;
}

// The tensor-core key walk for head_dim 64 and 128, and 256 with 2 to 8 heads a KV head (its
// accumulators are HD / 4 registers a lane for G <= 8, HD / 2 above);
// SHOOTOUT_CUDA_DECODE_MMA=0 keeps the CUDA-core walk, for comparisons.
template <int HD, int G>
constexpr bool kMmaShape = HD == 64 || HD == 128 || (HD == 256 && G >= 2 && G <= 8);
template <int HD, int G>
bool decode_mma() {
    static const bool on = !env_switched_off("SHOOTOUT_CUDA_DECODE_MMA");
    return kMmaShape<HD, G> && on;
}

template <int HD, int G, ActivationType A>
void launch_decode(const DecodeArgs& a, const backend::AttentionShape& shape, cudaStream_t stream) {
    static_assert(G * HD <= 2048, "shared memory: W * G * HD partial sums plus G * HD queries");
    const NormRope nr = a.norm_rope ? *a.norm_rope : NormRope{};
    const int ranges = decode_ranges(a.split, shape.n_head_kv);
    auto go = [&]<int W>(auto kernel) {
        launch_kernel({dim3((unsigned)shape.n_head_kv, (unsigned)ranges), dim3(W * 32), 0, stream}, true, kernel,
                      reinterpret_cast<__half*>(a.k_cache), reinterpret_cast<__half*>(a.v_cache), a.q, a.k, a.v,
                      a.pos0, a.pos0_device, (int)shape.n_head_kv, a.scale, nr,
                      a.norm_rope ? const_cast<float*>(a.q) : nullptr, a.norm_rope ? const_cast<float*>(a.k) : nullptr,
                      a.out, a.qs, a.ds, ranges > 1 ? a.split->partials : nullptr,
                      ranges > 1 ? a.split->counters : nullptr);
    };
    // Warps a block: the CUDA-core walk's partial sums take W * G * HD floats (<= 32 KB); the mma
    // walk's ~190-204 registers a lane let 2 blocks of 4 warps stay on an SM (decode_ranges' count).
    if constexpr (kMmaShape<HD, G>) {
        if (decode_mma<HD, G>()) {
            go.template operator()<4>(attention_decode_kernel<HD, G, 4, A, true>);
            return;
        }
    }
    constexpr int W = G * HD <= 1024 ? 8 : 4;
    go.template operator()<W>(attention_decode_kernel<HD, G, W, A, false>);
}

constexpr int conversion_block(ActivationType act) {
    return act == ActivationType::Q8_K ? 256 : act == ActivationType::Q8_0 || act == ActivationType::Q8_1 ? 32 : 0;
}

// Calls f.template operator()<HD, G>() for the shapes with a decode kernel (head_dim 64, 128 or 256;
// 1..16 query heads a KV head, a power of two, at most 2048 query elements a KV head); false otherwise.
template <class F>
bool by_decode_shape(const backend::AttentionShape& shape, F&& f) {
    if (shape.n_head_kv <= 0 || shape.n_head % shape.n_head_kv != 0) return false;
    const int64_t g = shape.n_head / shape.n_head_kv;
    auto by_group = [&]<int HD>() {
        if (g * HD > 2048) return false;
        switch (g) {
            case 1: f.template operator()<HD, 1>(); return true;
            case 2: f.template operator()<HD, 2>(); return true;
            case 4: f.template operator()<HD, 4>(); return true;
            case 8:
                if constexpr (HD <= 256) {
                    f.template operator()<HD, 8>();
                    return true;
                }
                return false;
            case 16:
                if constexpr (HD <= 128) {
                    f.template operator()<HD, 16>();
                    return true;
                }
                return false;
            default: return false;
        }
    };
    switch (shape.head_dim) {
        case 64: return by_group.template operator()<64>();
        case 128: return by_group.template operator()<128>();
        case 256: return by_group.template operator()<256>();
        default: return false;
    }
}

}  // namespace
size_t decode_split_floats(int max_blocks) {
    static_assert(kPartFloats<128, 16> <= 2 * 16 + 2048 && kPartFloats<256, 8> <= 2 * 16 + 2048 &&
                  kPartFloats<64, 16> <= 2 * 16 + 2048);
    return (size_t)(max_blocks > 0 ? max_blocks : 0) * (2 * 16 + 2048);  // G <= 16, G * HD <= 2048
}

bool attention_decode_supports(const backend::AttentionShape& shape, ActivationType act) {
    if (act != ActivationType::F32 && conversion_block(act) == 0) return false;
    const int block = conversion_block(act);
    return by_decode_shape(shape, [&]<int HD, int G>() {}) &&
           (block == 0 || shape.n_head / shape.n_head_kv * shape.head_dim % block == 0);
}

namespace {

// The decode kernel for a supported shape and conversion (attention_decode_supports); with
// a.norm_rope it writes the normed, rotated q and k back over a.q and a.k.
void decode_launch(const DecodeArgs& a, const backend::AttentionShape& shape, ActivationType act, cudaStream_t s) {
    by_decode_shape(shape, [&]<int HD, int G>() {
        // Only the conversions whose blocks tile G * HD are instantiated (the check above keeps the
        // others from being asked for).
        const bool q8 = by_q8_activation(act, [&]<ActivationType A>() {
            if constexpr (G * HD % (A == ActivationType::Q8_K ? 256 : 32) == 0) launch_decode<HD, G, A>(a, shape, s);
        });
        if (!q8) launch_decode<HD, G, ActivationType::F32>(a, shape, s);
    });
    check_last_launch("attention (decode)");
}

}  // namespace

void attention_decode_plain(uint16_t* k_cache, uint16_t* v_cache, const float* q, const float* k, const float* v,
                            int64_t pos0, const backend::AttentionShape& shape, float scale, float* out,
                            cudaStream_t stream, const int64_t* pos0_device) {
    decode_launch({k_cache, v_cache, q, k, v, pos0, pos0_device, scale, nullptr, out, nullptr, nullptr, nullptr}, shape,
                  ActivationType::F32, stream);
}

void attention_decode_step(uint16_t* k_cache, uint16_t* v_cache, float* q, float* k, const float* v, int64_t pos0,
                           const backend::AttentionShape& shape, float scale, const NormRope* norm_rope, float* out,
                           ActivationType act, int8_t* qs, float2* ds, StreamHandle stream,
                           const int64_t* pos0_device, const DecodeSplit* split) {
    phase_trace_arm("attention_decode_kernel");
    if (!attention_decode_supports(shape, act))
        fail("attention", "no decode kernel for " + std::to_string(shape.n_head) + "/" + std::to_string(shape.n_head_kv) +
                              " heads of " + std::to_string(shape.head_dim) + " with this output conversion");
    decode_launch({k_cache, v_cache, q, k, v, pos0, pos0_device, scale, norm_rope, out, qs, ds, split}, shape, act,
                  static_cast<cudaStream_t>(stream));
}

}  // namespace shootout::cuda
