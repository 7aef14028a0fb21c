// The one-token product with its weight rows brought into shared memory by bulk copies (sm_90's TMA),
// a ring of kStages chunks a warp: the plain product (matvec_parts) and the normed one (matvec_normed)
// with the same bits as matvec_q8_kernel and matvec_normed_kernel.
//
// Why: those kernels load a lane's units into registers, one unit in flight (more cost registers, so
// fewer resident warps, and measured slower), and a K-quant row of 2.3 KB is read at ~55 % of the
// device's read rate: each row pays the latency of its loads before its dots start, and a launch's
// last rows and the next launch's first ones leave DRAM idle. Here one lane of each warp starts the
// copies of its next rows (kStages chunks of up to kStagedBytesPerWarp / kStages bytes) and the warp
// computes on the chunk that has landed: kilobytes a warp in flight with no register holding them.
// The grid is persistent (one block of 16 warps an SM, the normed kernel's walk of rows gridDim * 16
// apart), its blocks small enough that the next launch's block fits beside (two blocks' shared
// memory and registers in one SM): with PDL that block copies its first chunks (weights only) while
// this launch still runs.
//
// Bit for bit as the register kernels: a chunk is a whole number of the lane steps (32 / kUnits
// blocks), so lane l dots the same units of a row in the same order, and the warp reduces as before.
#pragma once

#include <algorithm>
#include <numeric>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

constexpr int kStagedWarps = 16;
constexpr int kStagedBlocksPerSm = 2;
constexpr int kStagedStages = 2;
// Shared memory for a warp's stages: 16 warps x 6 KB = 96 KB a block, so two blocks (and the normed
// kernel's 10 KB of activations each) fit in an SM's 228 KB.
constexpr int kStagedBytesPerWarp = 6144;

// How a row is cut into the chunks one stage holds (made on the host by staged_plan).
struct StagedPlan {
    int chunk_blocks;  // blocks of a chunk: a multiple of the lane step and of the layout's group
    int n_chunks;      // chunks of a row (the last may hold fewer blocks)
    int chunk_bytes;   // bytes of a full chunk: the stage size
    int block_bytes;   // one block's bytes in the device layout
};

// The parts' rows taken in order (part 0's, then part 1's, ...): warp w of the grid takes the w-th of
// gridDim * kStagedWarps near-equal contiguous ranges of them, chunk by chunk (its items). kPasses 0:
// the activations are x (quantized by matvec before the launch); 1 or 2: they are the normed row of
// in, made by the block (norm_into_shared).
template <typename V, ActivationType A, int kPasses, int kStages>
__global__ void __launch_bounds__(kStagedWarps * 32, kStagedBlocksPerSm)
matvec_staged_kernel(MatvecParts parts, size_t row_bytes, int n_blocks_per_row, StagedPlan plan, QuantizedX x,
                     NormedInput in) {
    extern __shared__ __align__(128) uint8_t staged_rows[];  // kStagedWarps x kStages x plan.chunk_bytes
    __shared__ uint64_t barriers[kStagedWarps][kStages];
    constexpr int kNormRow = kPasses > 0 ? kMaxNormedRow : 32;
    __shared__ __align__(16) int8_t s_qs[kNormRow];
    __shared__ __align__(16) float2 s_ds[kNormRow / 32];
    __shared__ float partial[32];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    pdl_launch_dependents();
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    static_assert(32 % V::kUnits == 0);
    constexpr int kBlockStep = 32 / V::kUnits;
    const int u = lane % V::kUnits, first = lane / V::kUnits;
    uint8_t* stages = staged_rows + (size_t)warp * kStages * plan.chunk_bytes;
    uint64_t* bars = barriers[warp];
    // Constant indices into parts only (matvec_part_at says why).
    static_assert(kMaxMatvecParts == 3);
    auto n_out = [&](int i) { return i == 0 ? parts.n_out[0] : i == 1 ? parts.n_out[1] : parts.n_out[2]; };
    auto w_of = [&](int i) { return i == 0 ? parts.w[0] : i == 1 ? parts.w[1] : parts.w[2]; };
    auto y_of = [&](int i) { return i == 0 ? parts.y[0] : i == 1 ? parts.y[1] : parts.y[2]; };
    const int64_t total = n_out(0) + (parts.n > 1 ? n_out(1) : 0) + (parts.n > 2 ? n_out(2) : 0);
    const int64_t n_warps = (int64_t)gridDim.x * kStagedWarps, gw = (int64_t)blockIdx.x * kStagedWarps + warp;
    const int64_t base = total / n_warps, extra = total % n_warps;
    // The walk over the warp's items (chunk `chunk` of row `row` of part `part`, in stage `stage`; `left`
    // rows to go): lane 0 starts the copy of the item kStages ahead of the one the warp computes.
    // Stepped by additions only (a 64-bit division an item cost as much as the dots of a Q4_K row).
    struct Walk {
        int part, chunk, stage;
        int64_t row, left;
    };
    Walk compute{0, 0, 0, gw * base + min(gw, extra), base + (gw < extra ? 1 : 0)};
    while (compute.part + 1 < parts.n && compute.row >= n_out(compute.part)) compute.row -= n_out(compute.part++);
    auto step = [&](Walk& w) {
        w.stage = w.stage + 1 == kStages ? 0 : w.stage + 1;
        if (++w.chunk == plan.n_chunks) {
            w.chunk = 0;
            --w.left;
            if (++w.row == n_out(w.part)) {
                ++w.part;
                w.row = 0;
            }
        }
    };
    auto chunk_blocks = [&](int c) { return min(plan.chunk_blocks, n_blocks_per_row - c * plan.chunk_blocks); };
    auto issue = [&](const Walk& w) {  // lane 0
        const uint8_t* src = w_of(w.part) + w.row * row_bytes + (size_t)w.chunk * plan.chunk_blocks * plan.block_bytes;
        bulk_copy(stages + w.stage * plan.chunk_bytes, src, (uint32_t)(chunk_blocks(w.chunk) * plan.block_bytes),
                  &bars[w.stage]);
    };
    if (lane == 0) {
#pragma unroll
        for (int s = 0; s < kStages; ++s) barrier_init(&bars[s], 1);
        // The first chunks read weights only: started before the wait (pdl.cuh rule 3).
        Walk ahead = compute;
        for (int s = 0; s < kStages && ahead.left > 0; ++s, step(ahead)) issue(ahead);
    }
    __syncwarp();
    pdl_wait();
    if constexpr (kPasses > 0) {
        norm_into_shared<A, kPasses>(in, s_qs, s_ds, partial);
        x = QuantizedX{s_qs, s_ds, in.n};
    }
    uint32_t phases = 0;  // bit s: the parity stage s waits for next
    float acc[1] = {0.f};
    for (; compute.left > 0; step(compute)) {
        const int s = compute.stage;
        barrier_wait(&bars[s], (phases >> s) & 1u);
        phases ^= 1u << s;
        const uint8_t* chunk = stages + s * plan.chunk_bytes;
        const int b0 = compute.chunk * plan.chunk_blocks, nb = chunk_blocks(compute.chunk);
#pragma unroll 2
        for (int b = first; b < nb; b += kBlockStep) {
            typename V::Regs r;
            V::template load<SharedWeights>(chunk, b, u, r);
            V::template dot<1>(r, b0 + b, u, x, acc);
        }
        __syncwarp();  // the stage's bytes are read: it may be refilled
        if (lane == 0) {  // the item kStages on (walked again here: no registers held over the dots)
            Walk ahead = compute;
#pragma unroll
            for (int i = 0; i < kStages; ++i) step(ahead);
            if (ahead.left > 0) {
                bulk_copy_reuse_fence();
                issue(ahead);
            }
        }
        if (compute.chunk == plan.n_chunks - 1) {
            const float sum = warp_sum(acc[0]);
            if (lane == 0) matvec_store(parts, y_of(compute.part) + compute.row, sum);
            acc[0] = 0.f;
        }
    }
#else
    (void)parts, (void)row_bytes, (void)n_blocks_per_row, (void)plan, (void)x, (void)in;
    (void)barriers, (void)s_qs, (void)s_ds, (void)partial, (void)staged_rows;
    __trap();  // never launched: staged_products_run() checks the kernel was built for sm_90
#endif
}

// The chunking of T's rows of n_blocks blocks (row_bytes each) into stages, or false where they
// cannot be staged (a row that is not whole 16-byte groups of blocks).
template <TypeId T>
bool staged_plan(int n_blocks, size_t row_bytes, StagedPlan& plan) {
    constexpr GroupedLayout layout = grouped_layout(T);
    constexpr int kBlockStep = 32 / VecDot<T>::kUnits;
    const int group = layout.grouped ? layout.group_blocks() : 1;
    if (n_blocks <= 0 || n_blocks % group != 0 || row_bytes % n_blocks != 0) return false;
    const int block_bytes = (int)(row_bytes / n_blocks);
    const int step = std::lcm(kBlockStep, group);
    if ((step * block_bytes) % 16 != 0) return false;
    const int max_blocks = kStagedBytesPerWarp / kStagedStages / (step * block_bytes) * step;
    if (max_blocks == 0) return false;
    const int n_chunks = (n_blocks + max_blocks - 1) / max_blocks;
    const int per_chunk = (n_blocks + n_chunks - 1) / n_chunks;
    plan.chunk_blocks = (per_chunk + step - 1) / step * step;
    plan.n_chunks = (n_blocks + plan.chunk_blocks - 1) / plan.chunk_blocks;
    plan.chunk_bytes = plan.chunk_blocks * block_bytes;
    plan.block_bytes = block_bytes;
    return true;
}

// Whether this kernel instantiation holds sm_90 code (the bulk copies).
bool staged_kernel_built(const void* kernel);
// Counts a staged launch (matvec_staged_calls).
void count_staged_call();

// Launches the staged product of the n weights w (one type and width) into y: plain (in == nullptr;
// x quantized in scratch as launch_matvec_impl reads it, accumulate / gate as matvec_store) or
// normed (in). False, launching nothing, where T's rows cannot be staged or the build has no sm_90.
template <TypeId T>
bool launch_matvec_staged(const DeviceWeight* const* w, float* const* y, int n, void* scratch, const NormedInput* in,
                          cudaStream_t stream, bool accumulate, const float* gate) {
    if constexpr (T == TypeId::F16 || T == TypeId::BF16) {
        (void)w, (void)y, (void)n, (void)scratch, (void)in, (void)stream, (void)accumulate, (void)gate;
        return false;
    } else {
        using V = VecDot<T>;
        const DeviceWeight& w0 = *w[0];
        const int n_blocks = (int)(w0.n_in / V::kElems);
        StagedPlan plan{};
        if (!staged_plan<T>(n_blocks, w0.row_bytes, plan)) return false;
        constexpr ActivationType A = activation_type(T);
        auto kernel = in == nullptr              ? matvec_staged_kernel<V, A, 0, kStagedStages>
                      : in->n > kNormedPass ? matvec_staged_kernel<V, A, 2, kStagedStages>
                                            : matvec_staged_kernel<V, A, 1, kStagedStages>;
        static const bool built = staged_kernel_built(reinterpret_cast<const void*>(matvec_staged_kernel<V, A, 0, kStagedStages>));
        if (!built) return false;
        const size_t shared = (size_t)kStagedWarps * kStagedStages * plan.chunk_bytes;
        static const bool sized = [&] {
            for (auto k : {matvec_staged_kernel<V, A, 0, kStagedStages>, matvec_staged_kernel<V, A, 1, kStagedStages>,
                           matvec_staged_kernel<V, A, 2, kStagedStages>})
                SHOOTOUT_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                         kStagedWarps * kStagedBytesPerWarp));
            return true;
        }();
        (void)sized;
        bool overlap = true;
        MatvecParts parts = matvec_parts_of(w, y, n, overlap);
        parts.accumulate = accumulate;
        parts.gate = gate;
        int64_t rows = 0;
        for (int i = 0; i < n; ++i) rows += w[i]->n_out;
        const int64_t grid =
            std::min<int64_t>((rows + kStagedWarps - 1) / kStagedWarps, kStagedBlocksPerSm * multiprocessor_count());
        const LaunchShape shape{dim3((unsigned)grid), dim3(kStagedWarps * 32), shared, stream};
        int8_t* qs = static_cast<int8_t*>(scratch);
        const QuantizedX xq{qs, reinterpret_cast<float2*>(qs + w0.n_in), w0.n_in};
        launch_kernel(shape, overlap, kernel, parts, w0.row_bytes, n_blocks, plan, xq,
                      in ? *in : NormedInput{});
        count_staged_call();
        return true;
    }
}

#define SHOOTOUT_EXTERN_MATVEC_STAGED(t)                                                                  \
    extern template bool launch_matvec_staged<TypeId::t>(const DeviceWeight* const*, float* const*, int, void*, \
                                                         const NormedInput*, cudaStream_t, bool, const float*);
SHOOTOUT_CUDA_TYPES(SHOOTOUT_EXTERN_MATVEC_STAGED)
#define SHOOTOUT_INSTANTIATE_MATVEC_STAGED(t)                                                             \
    template bool launch_matvec_staged<TypeId::t>(const DeviceWeight* const*, float* const*, int, void*,     \
                                                  const NormedInput*, cudaStream_t, bool, const float*);

}  // namespace shootout::cuda
