// A probe for issue 4's last line (70 % of the read probe for 4-5-bit decode), not a backend kernel:
// how fast could a persistent decode-step kernel stream an 8B layer's weights if each SM's weight
// rows were copied into its shared memory by a producer warp that runs ahead of the phase barriers?
//
// Today's step (session 16's timeline) spends ~16 us a layer with HBM idle: the attention, SwiGLU
// and the launch gaps, where each launch waits for the last one. Here one cooperative launch runs
// L layers of four products (Q/K/V 6144 x 4096, O 4096 x 4096, gate/up 24576 x 4096, down 4096 x
// 12288) with an "attention" between Q/K/V and O (n_att blocks spin for att_ns, no memory traffic)
// and a grid barrier after every phase. Block b owns a contiguous slice of each product's rows. Its
// producer warp streams the slices, layer after layer, through a ring of shared-memory slots with
// cp.async.bulk (one mbarrier a slot, filled / emptied); its 16 consumer warps wait for a phase's
// barrier, read the phase's float input from global memory (L2) and quantize it into shared memory
// (as the real step must: the previous phase's rows were written by every SM), then take the slots'
// rows, a warp a row. gated = 1: the producer too waits for the phase's barrier before its first copy
// (the ring then only pipelines within a phase: what separate launches can do at best).
//
// The weights are a Q4_K-sized stand-in (256-element blocks of 144 bytes: 128 of nibbles, 8 half
// scales), 4.5 bits a weight, with a Q4-like dot (dp4a, a scale a 32 elements): the byte stream and
// about the integer work of Q4_K, not its format. The output rows of the last layer are checked
// against a plain kernel (global loads, the same lane order: bit-equal floats) before any timing.
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

using namespace shootout;

namespace {

constexpr int kConsumerWarps = 16;
constexpr int kThreads = (kConsumerWarps + 1) * 32;
// The ring: 192 KB of shared memory in n_slots equal slots (4, 8 or 16: a divisor of the consumer
// warps, so that every slot has its own group of warps, which take its uses in order; a parity can
// only tell a phase from the one before it).
constexpr int kRingBytes = 196608;
constexpr int kMaxSlots = 16;
constexpr int kMaxIn = 12288;
constexpr int kBlockBytes = 144;  // 256 weights
constexpr int kMaxPhases = 5;

// A wait that lasts over a second is recorded (the first one, in page-locked host memory the host reads
// while the kernel still runs), so a deadlock of the probe names its wait instead of hanging the call.
struct HangRecord {
    unsigned seen, where, block, warp, chunk, parity, seq;
};

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
    int n_phases, n_layers, n_slots, n_att;
    int64_t att_ns;
    bool gated;
    int skip;  // diagnostics: 1 = no dots (slots taken and released), 2 = no quantize of x, 3 = neither
    unsigned* counter;  // the grid barrier: phases completed x blocks
    HangRecord* hang;   // mapped host memory
};

struct Shared {
    uint8_t ring[kRingBytes];
    int8_t xq[kMaxIn];
    float xd[kMaxIn / 32];
    int xsum[kMaxIn / 32];
    unsigned long long full[kMaxSlots], empty[kMaxSlots];
    Phase ph[kMaxPhases];  // the plan's phases, indexed at run time (a kernel parameter indexed so goes to local memory)
};

__device__ unsigned g_hang_claimed;

__device__ __forceinline__ unsigned smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ void mbar_init(unsigned long long* bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(unsigned long long* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned long long* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ unsigned long long global_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
    return t;
}
// Called every 4096 polls of a wait that began at t0.
__device__ __noinline__ void watch(unsigned long long t0, HangRecord* rec, unsigned where, unsigned chunk,
                                   unsigned parity, unsigned seq) {
    if (global_ns() - t0 < 1000000000ull || atomicCAS(&g_hang_claimed, 0u, 1u) != 0u) return;
    volatile HangRecord* r = rec;
    r->where = where;
    r->block = blockIdx.x;
    r->warp = threadIdx.x / 32;
    r->chunk = chunk;
    r->parity = parity;
    r->seq = seq;
    __threadfence_system();
    r->seen = 1;
    __threadfence_system();
}
__device__ __forceinline__ void mbar_wait(unsigned long long* bar, unsigned parity, HangRecord* rec, unsigned where,
                                          unsigned chunk) {
    unsigned done = 0;
    const unsigned long long t0 = global_ns();
    for (unsigned n = 1; !done; ++n) {
        if ((n & 4095) == 0) watch(t0, rec, where, chunk, parity, 0);
        asm volatile(
            "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
            : "=r"(done)
            : "r"(smem_addr(bar)), "r"(parity)
            : "memory");
    }
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, unsigned bytes, unsigned long long* bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(smem_addr(bar))
                 : "memory");
}
__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ void add_release(unsigned* p, unsigned v) {
    asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ void consumers_sync() {
    asm volatile("bar.sync 1, %0;" ::"n"(kConsumerWarps * 32) : "memory");
}
__device__ __forceinline__ void wait_counter(const unsigned* counter, unsigned target, HangRecord* rec, unsigned where,
                                             unsigned seq) {
    const unsigned long long t0 = global_ns();
    for (unsigned n = 1; load_acquire(counter) < target; ++n)
        if ((n & 4095) == 0) watch(t0, rec, where, target, 0, seq);
}
#endif

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

// One row's dot with the quantized x, by a warp: lane l takes the 32-weight groups l, l + 32, ...
// (block g / 8, its group g % 8), so neighbouring lanes read neighbouring bytes of both the row and
// x. row may be shared or global memory.
__device__ __forceinline__ float row_dot(const uint8_t* row, int n_in, const int8_t* xq, const float* xd,
                                         const int* xsum) {
    const int lane = threadIdx.x & 31;
    float acc = 0.f;
    for (int g = lane; g < n_in / 32; g += 32) {
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
        const float dw = __half2float(__ushort_as_half(hb));
        acc += dw * xd[g] * (float)(s - 8 * xsum[g]);
    }
    return warp_sum(acc);
}

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

__host__ __device__ inline int64_t slice_begin(int64_t rows, int b, int n_blocks) { return rows * b / n_blocks; }

__global__ void __launch_bounds__(kThreads, 1) layer_stream_kernel(Plan plan) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    extern __shared__ __align__(128) uint8_t smem_raw[];
    Shared& sh = *reinterpret_cast<Shared*>(smem_raw);
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int b = blockIdx.x, n_blocks = gridDim.x;
    const int n_slots = plan.n_slots;
    const int slot_bytes = kRingBytes / n_slots;
    const int group = kConsumerWarps / n_slots;  // consumer warps a slot
    if (threadIdx.x == 0) {
#pragma unroll
        for (int i = 0; i < kMaxPhases; ++i) sh.ph[i] = plan.ph[i];
        for (int s = 0; s < n_slots; ++s) {
            mbar_init(&sh.full[s], 1);
            mbar_init(&sh.empty[s], group);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    if (warp == kConsumerWarps) {  // the producer
        if (lane != 0) return;
        unsigned c = 0;
        unsigned seq = 0;  // phases before this one
        for (int l = 0; l < plan.n_layers; ++l) {
            for (int p = 0; p < plan.n_phases; ++p, ++seq) {
                const Phase& ph = sh.ph[p];
                if (ph.attention) continue;
                if (plan.gated) wait_counter(plan.counter, seq * (unsigned)n_blocks, plan.hang, 1, seq);
                const int64_t r0 = slice_begin(ph.rows, b, n_blocks), r1 = slice_begin(ph.rows, b + 1, n_blocks);
                const int rpc = slot_bytes / ph.row_bytes;
                const uint8_t* base = ph.w + ((int64_t)l * ph.rows + r0) * ph.row_bytes;
                for (int64_t r = r0; r < r1; r += rpc, ++c) {
                    const int slot = (int)(c % n_slots);
                    const unsigned use = c / n_slots;
                    if (use > 0) mbar_wait(&sh.empty[slot], (use - 1) & 1, plan.hang, 2, c);
                    const unsigned bytes = (unsigned)(min64(rpc, r1 - r) * ph.row_bytes);
                    mbar_expect_tx(&sh.full[slot], bytes);
                    bulk_copy(sh.ring + slot * slot_bytes, base + (r - r0) * ph.row_bytes, bytes, &sh.full[slot]);
                }
            }
        }
        return;
    }

    unsigned c_base = 0;
    unsigned seq = 0;
    for (int l = 0; l < plan.n_layers; ++l) {
        for (int p = 0; p < plan.n_phases; ++p, ++seq) {
            const Phase& ph = sh.ph[p];
            if (seq > 0) {
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
                const int64_t r0 = slice_begin(ph.rows, b, n_blocks), r1 = slice_begin(ph.rows, b + 1, n_blocks);
                const int rpc = slot_bytes / ph.row_bytes;
                const int n_chunks = (int)((r1 - r0 + rpc - 1) / rpc);
                // This warp's slot and place in the slot's group; its chunks are those of that slot.
                const int slot = warp % n_slots, member = warp / n_slots;
                const int k0 = (int)((slot - (int)(c_base % n_slots) + n_slots) % n_slots);
                for (int k = k0; k < n_chunks; k += n_slots) {
                    const unsigned c = c_base + k;
                    mbar_wait(&sh.full[slot], (c / n_slots) & 1, plan.hang, 5, c);
                    const int64_t rk = r0 + (int64_t)k * rpc;
                    const int nr = (int)min64(rpc, r1 - rk);
                    const uint8_t* rows = sh.ring + slot * slot_bytes;
                    for (int i = member; i < nr && !(plan.skip & 1); i += group) {
                        const float s = row_dot(rows + i * ph.row_bytes, ph.n_in, sh.xq, sh.xd, sh.xsum);
                        if (lane == 0) ph.y[rk + i] = s;
                    }
                    __syncwarp();
                    if (lane == 0) mbar_arrive(&sh.empty[slot]);
                }
                c_base += n_chunks;
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

constexpr int kRefThreads = 256;
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

const char* wait_name(unsigned where) {
    switch (where) {
        case 1: return "producer: the phase barrier (gated)";
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

        auto plan_for = [&](bool gated, int n_slots, int64_t att_ns, int skip = 0) {
            Plan plan{};
            plan.ph[0] = products[0];
            plan.ph[1] = Phase{};
            plan.ph[1].attention = true;
            plan.ph[2] = products[1];
            plan.ph[3] = products[2];
            plan.ph[4] = products[3];
            plan.n_phases = 5;
            plan.n_layers = n_layers;
            plan.n_slots = n_slots;
            plan.n_att = 32;
            plan.att_ns = att_ns;
            plan.gated = gated;
            plan.skip = skip;
            plan.counter = counter;
            plan.hang = hang_dev;
            return plan;
        };
        auto launch = [&](Plan plan) {
            SHOOTOUT_CUDA_CHECK(cudaMemset(counter, 0, sizeof(unsigned)));
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
        for (bool gated : {true, false}) {
            for (int n_slots : {4, 8, 16}) {
                for (const Phase& ph : products) SHOOTOUT_CUDA_CHECK(cudaMemset(ph.y, 0, ph.rows * sizeof(float)));
                launch(plan_for(gated, n_slots, 2000));
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
                        std::printf("check %s, %d slots, product %d (%lld x %d): %d of %zu rows differ, %d nonzero\n",
                                    gated ? "gated" : "ahead", n_slots, i, (long long)ph.rows, ph.n_in, bad, a.size(),
                                    nonzero);
                    mismatches += bad + (nonzero == 0);
                }
            }
        }
        std::printf("check: %s (4 products x 6 ring settings against the reference rows, bit for bit)\n",
                    mismatches ? "FAILED" : "every row equal");
        if (mismatches) {
            std::printf("bench_cuda_layer_stream: FAILED the check; no timing\n");
            return 1;
        }

        const double probe = cuda::measure_read_gbps((size_t)1 << 30);
        std::printf("read probe %.0f GB/s; %d SMs, %d threads a block, %zu bytes of shared memory; a layer %.1f MB, "
                    "%d layers a launch\n",
                    probe, n_sm, kThreads, smem, layer_bytes / 1e6, n_layers);
        std::printf("| producer | slots (192 KB) | attention (32 blocks) | us a layer | GB/s | %% of probe |\n");
        std::printf("|---|---|---|---|---|---|\n");
        auto time_plan = [&](const Plan& plan) {
            launch(plan);  // warm-up
            std::vector<float> ms;
            for (int r = 0; r < reps; ++r) {
                SHOOTOUT_CUDA_CHECK(cudaMemset(counter, 0, sizeof(unsigned)));
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
            const char* skip_name[] = {"", ", no dots", ", no x", ", no dots, no x"};
            std::printf("| %s%s | %d | %.1f us | %.2f | %.0f | %.1f |\n", plan.gated ? "gated" : "ahead",
                        skip_name[plan.skip], plan.n_slots, plan.att_ns / 1e3, us, gbps, 100.0 * gbps / probe);
        };
        for (int64_t att_ns : {0, 4000, 8000})
            for (bool gated : {true, false})
                for (int n_slots : {4, 8, 16}) time_plan(plan_for(gated, n_slots, att_ns));
        for (int skip : {1, 2, 3})
            for (bool gated : {true, false}) time_plan(plan_for(gated, 8, 0, skip));
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_layer_stream: %s\n", e.what());
        return 1;
    }
    return 0;
}
