// A probe for issue 4's last line (70 % of the read probe for 4-5-bit decode), not a backend kernel:
// how fast could a persistent decode-step kernel stream an 8B layer's weights if each SM's weight
// rows were copied into its shared memory by a producer warp that runs ahead of the phase barriers?
//
// Today's step (session 16's timeline) spends ~16 us a layer with HBM idle: the attention, SwiGLU
// and the launch gaps, where each launch waits for the last one. Here one cooperative launch runs
// L layers of four products (Q/K/V 6144 x 4096, O 4096 x 4096, gate/up 24576 x 4096, down 4096 x
// 12288) with an "attention" between Q/K/V and O (n_att blocks spin for att_ns, no memory traffic)
// and a grid barrier after every phase. Block b owns a contiguous slice of each product's rows
// (Plan::claim = 0) or claims chunks of them from a counter a phase (1). Its producer warp streams
// the rows, layer after layer, through a ring of shared-memory slots with cp.async.bulk or cp.async
// (one mbarrier pair a slot, filled / emptied); its 24 consumer warps wait for a phase's barrier,
// read the phase's float input from global memory (L2) and quantize it into shared memory (as the
// real step must: the previous phase's rows were written by every SM), then take the slots' rows.
// Plan::ahead bounds how many chunks of a phase the producer may copy before that phase's barrier
// (0: the ring then only pipelines within a phase, what separate launches can do at best).
// Results and readings: bench/cuda/NOTES.md, session 20 (the design does not reach the 70 % line).
//
// The weights are a Q4_K-sized stand-in (256-element blocks of 144 bytes: 128 of nibbles, 8 half
// scales), 4.5 bits a weight, with a Q4-like dot (dp4a, a scale a 32 elements): the byte stream and
// about the integer work of Q4_K, not its format. The output rows of the last layer are checked
// against a plain kernel (global loads, the same lane order: bit-equal floats) before any timing.
// A last table times each product alone, one launch a layer's matrix in a graph: the ring kernel
// against plain_kernel (a warp a row from global memory, as the backend's one-token products).
// Usage: bench_cuda_layer_stream [--layers 36] [--reps 5]
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "graph_timer.h"
#include "layer_stream_format.cuh"
#include "layer_stream_sync.cuh"

using namespace shootout;
using namespace shootout::bench_cuda;

namespace {

constexpr int kConsumerWarps = 24;
constexpr int kThreads = (kConsumerWarps + 1) * 32;
// The ring: 192 KB of shared memory in slots of Plan::slot_bytes (at most kMaxSlots). Consumer warp w
// owns slot w % n_slots (a slot's group: the warps that own it), so each slot's uses are taken in order
// by the same warps: a parity can only tell a phase from the one before it.
constexpr int kRingBytes = 196608;
constexpr int kMaxSlots = 24;
constexpr int kMaxPhases = 5;
constexpr int kAll = 1 << 20;  // Plan::ahead: no limit

struct Phase {
    const uint8_t* w;  // n_layers consecutive matrices of rows x row_bytes (none for the attention)
    const float* x;    // the phase's input row (n_in floats)
    float* y;          // rows outputs (the last layer's survive)
    int64_t rows;
    int n_in, row_bytes;
    bool attention;
};
struct Plan {
    Phase ph[kMaxPhases];
    int n_phases, n_layers, slot_bytes, n_att;
    int64_t att_ns;
    // Chunks of a phase the producer may copy before the phase's barrier: 0 = none (the ring then only
    // pipelines within a phase: what separate launches can do at best), large = the whole ring ahead.
    int ahead;
    // 0: one cp.async.bulk a chunk (lane 0 of the producer warp); 1: the producer warp's 32 lanes copy
    // 16 bytes each a step (cp.async, LDGSTS), the slot's barrier armed by each lane's async arrive.
    int copy;
    // Diagnostics: 1 = no dots (slots taken and released), 2 = no quantize of x, 4 = the consumers
    // skip the phase barriers (the ring's raw rate; the producer's look-ahead still waits on them).
    int skip;
    // 0: block b copies its own contiguous slice of each product's rows; 1: blocks claim chunks of a
    // product's rows from one counter a phase (claims[layer * n_phases + phase]), so a slow SM takes
    // fewer and no phase waits for one SM's last rows.
    int claim;
    unsigned* claims;
    unsigned* counter;  // the grid barrier: phases completed x blocks
    HangRecord* hang;   // mapped host memory
};

struct Shared {
    uint8_t ring[kRingBytes];
    int8_t xq[kMaxIn];
    float xd[kMaxIn / 32];
    int xsum[kMaxIn / 32];
    unsigned long long full[kMaxSlots], empty[kMaxSlots];
    int2 meta[kMaxSlots];  // a slot's entry: its first row and row count (0: the phase's end)
    Phase ph[kMaxPhases];  // the plan's phases, indexed at run time (a kernel parameter indexed so goes to local memory)
};

__device__ __forceinline__ void consumers_sync() {
    asm volatile("bar.sync 1, %0;" ::"n"(kConsumerWarps * 32) : "memory");
}

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

__host__ __device__ inline int64_t slice_begin(int64_t rows, int b, int n_blocks) { return rows * b / n_blocks; }

__global__ void __launch_bounds__(kThreads, 1) layer_stream_kernel(Plan plan) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    extern __shared__ __align__(128) uint8_t smem_raw[];
    Shared& sh = *reinterpret_cast<Shared*>(smem_raw);
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int b = blockIdx.x, n_blocks = gridDim.x;
    const int slot_bytes = plan.slot_bytes;
    const int n_slots = min(kMaxSlots, kRingBytes / slot_bytes);
    // Slot s's group: the warps w < kConsumerWarps with w % n_slots == s.
    auto group_of = [&](int s) { return (kConsumerWarps - s + n_slots - 1) / n_slots; };
    if (threadIdx.x == 0) {
#pragma unroll
        for (int i = 0; i < kMaxPhases; ++i) sh.ph[i] = plan.ph[i];
        for (int s = 0; s < n_slots; ++s) {
            // cp.async copies: the lanes' 32 async arrivals and lane 0's arrival after it wrote meta.
            mbar_init(&sh.full[s], plan.copy ? 33 : 1);
            mbar_init(&sh.empty[s], group_of(s));
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    if (warp == kConsumerWarps) {  // the producer
        if (plan.copy == 0 && lane != 0) return;
        unsigned c = 0;     // ring position: slot c % n_slots, its use c / n_slots
        unsigned seq = 0;   // phases before this one
        auto take_slot = [&]() {
            const int slot = (int)(c % n_slots);
            const unsigned use = c / n_slots;
            if (use > 0) mbar_wait(&sh.empty[slot], (use - 1) & 1, plan.hang, 2, c);
            return slot;
        };
        for (int l = 0; l < plan.n_layers; ++l) {
            for (int p = 0; p < plan.n_phases; ++p, ++seq) {
                const Phase& ph = sh.ph[p];
                if (ph.attention) continue;
                const int rpc = slot_bytes / ph.row_bytes;
                const int64_t row_end = plan.claim ? ph.rows : slice_begin(ph.rows, b + 1, n_blocks);
                int64_t next_row = slice_begin(ph.rows, b, n_blocks);
                for (int taken = 0;; ++taken) {
                    if (taken == plan.ahead) wait_counter(plan.counter, seq * (unsigned)n_blocks, plan.hang, 1, seq);
                    const int slot = take_slot();  // a free slot before a claim: claims are not hoarded
                    int64_t row0 = next_row;
                    if (plan.claim) {
                        unsigned k = 0;
                        if (lane == 0) k = atomicAdd(&plan.claims[l * plan.n_phases + p], 1u);
                        if (plan.copy) k = __shfl_sync(0xffffffffu, k, 0);
                        row0 = (int64_t)k * rpc;
                    }
                    next_row = row0 + rpc;
                    if (row0 >= row_end) break;  // slot c stays free for the first end mark
                    const int nr = (int)min64(rpc, row_end - row0);
                    const unsigned bytes = (unsigned)(nr * ph.row_bytes);
                    uint8_t* dst = sh.ring + slot * slot_bytes;
                    const uint8_t* src = ph.w + ((int64_t)l * ph.rows + row0) * ph.row_bytes;
                    if (lane == 0) sh.meta[slot] = make_int2((int)row0, nr);
                    if (plan.copy == 0) {
                        mbar_expect_tx(&sh.full[slot], bytes);
                        bulk_copy(dst, src, bytes, &sh.full[slot]);
                    } else {
                        if (lane == 0) mbar_arrive(&sh.full[slot]);
                        for (unsigned o = 16 * lane; o < bytes; o += 512) copy16_async(dst + o, src + o);
                        mbar_arrive_async(&sh.full[slot]);
                    }
                    ++c;
                }
                // The phase's end: one mark for each slot, so every consumer group sees one.
                for (int i = 0; i < n_slots; ++i, ++c) {
                    const int slot = take_slot();
                    if (lane == 0) sh.meta[slot] = make_int2(0, 0);
                    mbar_arrive(&sh.full[slot]);
                    if (plan.copy && lane == 0) mbar_arrive(&sh.full[slot]);
                }
            }
        }
        return;
    }

    const int slot = warp % n_slots, member = warp / n_slots;  // this warp's slot and place in its group
    const int group = group_of(slot);
    unsigned my_c = slot;                                      // the warp's next ring position
    unsigned seq = 0;
    for (int l = 0; l < plan.n_layers; ++l) {
        for (int p = 0; p < plan.n_phases; ++p, ++seq) {
            const Phase& ph = sh.ph[p];
            if (seq > 0 && !(plan.skip & 4)) {
                if (threadIdx.x == 0) wait_counter(plan.counter, seq * (unsigned)n_blocks, plan.hang, 3, seq);
                consumers_sync();
            }
            if (ph.attention) {
                if (b < plan.n_att && threadIdx.x == 0) {
                    const unsigned long long t0 = global_ns();
                    while (global_ns() - t0 < (unsigned long long)plan.att_ns) {
                    }
                }
            } else {
                if (!(plan.skip & 2)) quantize_x<kConsumerWarps * 32>(ph.x, ph.n_in, threadIdx.x, sh.xq, sh.xd, sh.xsum);
                consumers_sync();
                for (;; my_c += n_slots) {
                    mbar_wait(&sh.full[slot], (my_c / n_slots) & 1, plan.hang, 5, my_c);
                    const int2 m = sh.meta[slot];
                    const int64_t rk = m.x;
                    const int nr = m.y;
                    const uint8_t* rows = sh.ring + slot * slot_bytes;
                    int i = member;
                    for (; i + group < nr && !(plan.skip & 1); i += 2 * group) {
                        float s0, s1;
                        row_dot2(rows + i * ph.row_bytes, rows + (i + group) * ph.row_bytes, ph.n_in, sh.xq, sh.xd,
                                 sh.xsum, s0, s1);
                        if (lane == 0) {
                            ph.y[rk + i] = s0;
                            ph.y[rk + i + group] = s1;
                        }
                    }
                    if (i < nr && !(plan.skip & 1)) {
                        const float s = row_dot(rows + i * ph.row_bytes, ph.n_in, sh.xq, sh.xd, sh.xsum);
                        if (lane == 0) ph.y[rk + i] = s;
                    }
                    __syncwarp();
                    if (lane == 0) mbar_arrive(&sh.empty[slot]);
                    if (nr == 0) {
                        my_c += n_slots;
                        break;
                    }
                }
            }
            consumers_sync();
            if (threadIdx.x == 0) {
                __threadfence();
                add_release(plan.counter, 1);
            }
        }
    }
#endif
}

// The reference: a warp a row of the last layer, weights from global memory, the same dot.
__global__ void reference_kernel(Phase ph, int layer, float* y) {
    __shared__ int8_t xq[kMaxIn];
    __shared__ float xd[kMaxIn / 32];
    __shared__ int xsum[kMaxIn / 32];
    const int warp = threadIdx.x / 32, n_warps = kRefThreads / 32;
    quantize_x<kRefThreads>(ph.x, ph.n_in, threadIdx.x, xq, xd, xsum);
    __syncthreads();
    const int64_t row = (int64_t)blockIdx.x * n_warps + warp;
    if (row >= ph.rows) return;
    const float s = row_dot(ph.w + ((int64_t)layer * ph.rows + row) * ph.row_bytes, ph.n_in, xq, xd, xsum);
    if ((threadIdx.x & 31) == 0) y[row] = s;
}

const char* wait_name(unsigned where) {
    switch (where) {
        case 1: return "producer: the phase barrier (look-ahead spent)";
        case 2: return "producer: a slot's release";
        case 3: return "consumers: the phase barrier";
        case 5: return "consumer: a slot's copy";
        default: return "?";
    }
}

// Waits for the work before `done` on the default stream, at most 10 s; past that, prints the first
// recorded long wait and ends the process (a deadlocked kernel cannot be stopped otherwise).
void wait_or_report(cudaEvent_t done, const HangRecord* hang) {
    for (int i = 0; i < 10000; ++i) {
        const cudaError_t e = cudaEventQuery(done);
        if (e == cudaSuccess) return;
        if (e != cudaErrorNotReady) SHOOTOUT_CUDA_CHECK(e);
        struct timespec ts {0, 1000000};
        nanosleep(&ts, nullptr);
    }
    const volatile HangRecord* r = hang;
    if (r->seen)
        std::printf("bench_cuda_layer_stream: HUNG: %s, block %u warp %u chunk/target %u parity %u seq %u\n",
                    wait_name(r->where), r->block, r->warp, r->chunk, r->parity, r->seq);
    else
        std::printf("bench_cuda_layer_stream: HUNG with no wait recorded\n");
    std::fflush(stdout);
    std::_Exit(3);
}

struct Buffers {
    std::vector<void*> owned;
    template <typename T>
    T* alloc(size_t n) {
        void* p = nullptr;
        SHOOTOUT_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
        owned.push_back(p);
        return static_cast<T*>(p);
    }
    ~Buffers() {
        for (void* p : owned) cudaFree(p);
    }
};

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    int n_layers = 36, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--layers")) n_layers = std::stoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--reps")) reps = std::stoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: bench_cuda_layer_stream [--layers N] [--reps N]\n");
            return 2;
        }
    }
    try {
        const cuda::DeviceInfo info = cuda::device_info();
        int dev = 0, coop = 0, major = 0;
        SHOOTOUT_CUDA_CHECK(cudaGetDevice(&dev));
        SHOOTOUT_CUDA_CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev));
        SHOOTOUT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        if (major < 9 || !coop) {
            std::printf("bench_cuda_layer_stream: needs sm_90 and cooperative launches; skipped\n");
            return 0;
        }
        const int n_sm = info.multiprocessors;
        Buffers buf;
        // The 8B shapes (Qwen3-8B / Llama-3-8B): n_embd 4096, Q/K/V 4096 + 1024 + 1024, n_ff 12288.
        struct Shape {
            int64_t rows;
            int n_in;
        };
        const Shape shapes[4] = {{6144, 4096}, {4096, 4096}, {24576, 4096}, {4096, 12288}};
        Phase products[4];
        int64_t layer_bytes = 0;
        std::mt19937 rng(7);
        std::normal_distribution<float> normal(0.f, 1.f);
        for (int i = 0; i < 4; ++i) {
            Phase& ph = products[i];
            ph.rows = shapes[i].rows;
            ph.n_in = shapes[i].n_in;
            ph.row_bytes = ph.n_in / 256 * kBlockBytes;
            const int64_t blocks = (int64_t)n_layers * ph.rows * (ph.n_in / 256);
            uint8_t* w = buf.alloc<uint8_t>((size_t)blocks * kBlockBytes);
            fill_weights_kernel<<<n_sm * 8, 256>>>(w, blocks, 0x9E3779B9u * (i + 1));
            ph.w = w;
            std::vector<float> x((size_t)ph.n_in);
            for (float& v : x) v = normal(rng);
            float* xd = buf.alloc<float>(x.size());
            SHOOTOUT_CUDA_CHECK(cudaMemcpy(xd, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
            ph.x = xd;
            ph.y = buf.alloc<float>((size_t)ph.rows);
            ph.attention = false;
            layer_bytes += ph.rows * ph.row_bytes;
        }
        SHOOTOUT_CUDA_CHECK(cudaDeviceSynchronize());
        unsigned* counter = buf.alloc<unsigned>(1);
        unsigned* claims = buf.alloc<unsigned>((size_t)n_layers * kMaxPhases);
        auto reset_counters = [&] {
            SHOOTOUT_CUDA_CHECK(cudaMemset(counter, 0, sizeof(unsigned)));
            SHOOTOUT_CUDA_CHECK(cudaMemset(claims, 0, (size_t)n_layers * kMaxPhases * sizeof(unsigned)));
        };
        HangRecord* hang_host = nullptr;
        HangRecord* hang_dev = nullptr;
        SHOOTOUT_CUDA_CHECK(cudaHostAlloc((void**)&hang_host, sizeof(HangRecord), cudaHostAllocMapped));
        std::memset(hang_host, 0, sizeof(HangRecord));
        SHOOTOUT_CUDA_CHECK(cudaHostGetDevicePointer((void**)&hang_dev, hang_host, 0));
        cudaEvent_t start, stop;
        SHOOTOUT_CUDA_CHECK(cudaEventCreate(&start));
        SHOOTOUT_CUDA_CHECK(cudaEventCreate(&stop));

        const size_t smem = sizeof(Shared);
        SHOOTOUT_CUDA_CHECK(
            cudaFuncSetAttribute(layer_stream_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        int per_sm = 0;
        SHOOTOUT_CUDA_CHECK(
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, layer_stream_kernel, kThreads, smem));
        if (per_sm < 1) {
            std::printf("bench_cuda_layer_stream: the kernel does not fit an SM (%zu bytes of shared memory)\n", smem);
            return 1;
        }

        auto plan_for = [&](int claim, int ahead, int copy, int slot_bytes, int64_t att_ns, int skip = 0) {
            Plan plan{};
            plan.ph[0] = products[0];
            plan.ph[1] = Phase{};
            plan.ph[1].attention = true;
            plan.ph[2] = products[1];
            plan.ph[3] = products[2];
            plan.ph[4] = products[3];
            plan.n_phases = 5;
            plan.n_layers = n_layers;
            plan.slot_bytes = slot_bytes;
            plan.n_att = 32;
            plan.att_ns = att_ns;
            plan.ahead = ahead;
            plan.copy = copy;
            plan.claim = claim;
            plan.claims = claims;
            plan.skip = skip;
            plan.counter = counter;
            plan.hang = hang_dev;
            return plan;
        };
        auto launch = [&](Plan plan) {
            reset_counters();
            void* args[] = {&plan};
            SHOOTOUT_CUDA_CHECK(cudaLaunchCooperativeKernel((const void*)layer_stream_kernel, dim3(n_sm),
                                                            dim3(kThreads), args, smem, nullptr));
            SHOOTOUT_CUDA_CHECK(cudaEventRecord(stop));
            wait_or_report(stop, hang_host);
        };

        // Bit-equality with the reference first, for every ring shape and both producers: a wrong
        // ring would time garbage. The reference rows once; each check run clears y first.
        std::vector<std::vector<float>> refs(4);
        for (int i = 0; i < 4; ++i) {
            const Phase& ph = products[i];
            float* ref = buf.alloc<float>((size_t)ph.rows);
            reference_kernel<<<(unsigned)((ph.rows + 7) / 8), kRefThreads>>>(ph, n_layers - 1, ref);
            SHOOTOUT_CUDA_CHECK(cudaDeviceSynchronize());
            refs[i].resize((size_t)ph.rows);
            SHOOTOUT_CUDA_CHECK(cudaMemcpy(refs[i].data(), ref, ph.rows * sizeof(float), cudaMemcpyDeviceToHost));
        }
        int mismatches = 0;
        for (int claim : {0, 1})
        for (int ahead : {0, 1, kAll}) {
            for (int copy : {0, 1})
            for (int slot_bytes : {8192, 13824, 27648}) {
                for (const Phase& ph : products) SHOOTOUT_CUDA_CHECK(cudaMemset(ph.y, 0, ph.rows * sizeof(float)));
                launch(plan_for(claim, ahead, copy, slot_bytes, 2000));
                for (int i = 0; i < 4; ++i) {
                    const Phase& ph = products[i];
                    std::vector<float> a((size_t)ph.rows);
                    SHOOTOUT_CUDA_CHECK(cudaMemcpy(a.data(), ph.y, a.size() * sizeof(float), cudaMemcpyDeviceToHost));
                    int bad = 0, nonzero = 0;
                    for (size_t k = 0; k < a.size(); ++k) {
                        if (std::memcmp(&a[k], &refs[i][k], sizeof(float)) != 0) ++bad;
                        if (refs[i][k] != 0.f) ++nonzero;
                    }
                    if (bad || nonzero == 0)
                        std::printf("check claim %d, ahead %d, copy %d, %d-byte slots, product %d (%lld x %d): %d of %zu "
                                    "rows differ, %d nonzero\n", claim, ahead, copy, slot_bytes, i, (long long)ph.rows, ph.n_in, bad, a.size(),
                                    nonzero);
                    mismatches += bad + (nonzero == 0);
                }
            }
        }
        std::printf("check: %s (4 products x 36 ring settings against the reference rows, bit for bit)\n",
                    mismatches ? "FAILED" : "every row equal");
        if (mismatches) {
            std::printf("bench_cuda_layer_stream: FAILED the check; no timing\n");
            return 1;
        }

        const double probe = cuda::measure_read_gbps((size_t)1 << 30);
        std::printf("read probe %.0f GB/s; %d SMs, %d threads a block, %zu bytes of shared memory; a layer %.1f MB, "
                    "%d layers a launch\n",
                    probe, n_sm, kThreads, smem, layer_bytes / 1e6, n_layers);
        std::printf("| rows | chunks ahead | copy | slot bytes (192 KB ring) | attention (32 blocks) | us a layer | GB/s | %% of probe |\n");
        std::printf("|---|---|---|---|---|---|---|---|\n");
        auto time_plan = [&](const Plan& plan) {
            launch(plan);  // warm-up
            std::vector<float> ms;
            for (int r = 0; r < reps; ++r) {
                reset_counters();
                SHOOTOUT_CUDA_CHECK(cudaEventRecord(start));
                void* args[] = {const_cast<Plan*>(&plan)};
                SHOOTOUT_CUDA_CHECK(cudaLaunchCooperativeKernel((const void*)layer_stream_kernel, dim3(n_sm),
                                                                dim3(kThreads), args, smem, nullptr));
                SHOOTOUT_CUDA_CHECK(cudaEventRecord(stop));
                wait_or_report(stop, hang_host);
                float t = 0.f;
                SHOOTOUT_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
                ms.push_back(t);
            }
            std::sort(ms.begin(), ms.end());
            const double us = ms[ms.size() / 2] * 1e3 / n_layers;
            const double gbps = layer_bytes / (us * 1e-6) / 1e9;
            const char* skip_name[] = {"",         ", no dots",         ", no x",         ", no dots, no x",
                                       ", free", ", free, no dots", ", free, no x", ", free, no dots, no x"};
            char ahead[16];
            std::snprintf(ahead, sizeof ahead, "%d", plan.ahead);
            std::printf("| %s | %s | %s | %d | %.1f us%s | %.2f | %.0f | %.1f |\n", plan.claim ? "claimed" : "slices",
                        plan.ahead == kAll ? "all" : ahead, plan.copy ? "cp.async" : "bulk", plan.slot_bytes,
                        plan.att_ns / 1e3, skip_name[plan.skip], us, gbps, 100.0 * gbps / probe);
        };
        // The consumers' own rate (no barriers waited), the barriers without dots, then the probe.
        for (int slot_bytes : {8192, 13824, 24576, 27648}) time_plan(plan_for(0, kAll, 0, slot_bytes, 0, 4));
        for (int claim : {0, 1})
            for (int ahead : {0, kAll}) time_plan(plan_for(claim, ahead, 0, 13824, 0, 3));
        for (int64_t att_ns : {0, 8000})
            for (int slot_bytes : {13824, 27648})
                for (int ahead : {0, 4, kAll}) time_plan(plan_for(1, ahead, 0, slot_bytes, att_ns));
        for (int ahead : {0, kAll}) time_plan(plan_for(0, ahead, 0, 13824, 0));

        // Single products, one launch a layer's matrix (L launches in a graph, the weights rotating
        // past L2): the ring kernel on its own against plain_kernel, same format and dot, same bits.
        {
            cudaStream_t stream;
            SHOOTOUT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
            int8_t* xq_g = buf.alloc<int8_t>(kMaxIn);
            float* xd_g = buf.alloc<float>(kMaxIn / 32);
            int* xsum_g = buf.alloc<int>(kMaxIn / 32);
            std::printf("\n| product (one a launch) | plain GB/s (%% of probe) | ring 13824 | ring 27648 | rows equal |\n");
            std::printf("|---|---|---|---|---|\n");
            for (int i = 0; i < 4; ++i) {
                const Phase& ph = products[i];
                const int64_t bytes = ph.rows * ph.row_bytes;
                quantize_kernel<<<1, kRefThreads, 0, stream>>>(ph.x, ph.n_in, xq_g, xd_g, xsum_g);
                float* y_plain = buf.alloc<float>((size_t)ph.rows);
                const double ms_plain = bench_cuda::time_graph(stream, n_layers, [&](int l) {
                    plain_kernel<<<(unsigned)((ph.rows + 3) / 4), 128, 0, stream>>>(
                        ph.w + (int64_t)l * bytes, ph.rows, ph.n_in, ph.row_bytes, xq_g, xd_g, xsum_g, y_plain);
                });
                double ms_ring[2];
                const int slot_sizes[2] = {13824, 27648};
                int equal = 1;
                for (int k = 0; k < 2; ++k) {
                    ms_ring[k] = bench_cuda::time_graph(stream, n_layers, [&](int l) {
                        Plan plan = plan_for(0, kAll, 0, slot_sizes[k], 0);
                        plan.ph[0] = ph;
                        plan.ph[0].w = ph.w + (int64_t)l * bytes;
                        plan.n_phases = 1;
                        plan.n_layers = 1;
                        layer_stream_kernel<<<n_sm, kThreads, smem, stream>>>(plan);
                    });
                    SHOOTOUT_CUDA_CHECK(cudaStreamSynchronize(stream));
                    std::vector<float> a((size_t)ph.rows), r((size_t)ph.rows);
                    SHOOTOUT_CUDA_CHECK(cudaMemcpy(a.data(), ph.y, a.size() * sizeof(float), cudaMemcpyDeviceToHost));
                    SHOOTOUT_CUDA_CHECK(cudaMemcpy(r.data(), y_plain, r.size() * sizeof(float), cudaMemcpyDeviceToHost));
                    equal &= std::memcmp(a.data(), r.data(), a.size() * sizeof(float)) == 0;
                }
                auto gbps = [&](double ms) { return bytes / (ms * 1e-3) / 1e9; };
                std::printf("| %lld x %d | %.0f (%.1f) | %.0f (%.1f) | %.0f (%.1f) | %s |\n", (long long)ph.rows, ph.n_in,
                            gbps(ms_plain), 100 * gbps(ms_plain) / probe, gbps(ms_ring[0]),
                            100 * gbps(ms_ring[0]) / probe, gbps(ms_ring[1]), 100 * gbps(ms_ring[1]) / probe,
                            equal ? "yes" : "NO");
            }
            SHOOTOUT_CUDA_CHECK(cudaStreamDestroy(stream));
        }
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_layer_stream: %s\n", e.what());
        return 1;
    }
    return 0;
}
