// The gate/up normed product with the SwiGLU and its conversion in the same launch (matvec_normed_swiglu.h).
//
// The grid, prologue and row dots are matvec_normed_kernel's (matvec_normed.cuh), so gate and up come
// out with its bits; what changes is the rows a warp takes: pair i (gate row i, then up row i) for
// i = slot, slot + stride, ..., so the warp holds both products of an output and computes h there.
// The conversion needs 256 consecutive h (a Q8_K block, or eight Q8_0 / Q8_1 blocks), which other
// warps on other SMs compute: every warp, after its last pair (so no fence stalls its stream of
// weights), fences its h stores and counts each pair into its group's counter; the warp whose count
// completes a group converts it from L2 (the threadFenceReduction pattern of the CUDA samples) and
// sets the counter back to zero for the next launch.
#include <atomic>
#include <string>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/matvec_normed.cuh"
#include "backend/cuda/matvec_normed_swiglu.h"
#include "util/error.h"

namespace shootout::cuda {
namespace {

// The 256 outputs of group g, read back from L2 (other SMs wrote them; __ldcg skips this SM's L1),
// converted by the warp as swiglu_quantize_kernel converts them (lane l: elements 8l .. 8l + 7).
__device__ __forceinline__ void convert_group(const SwigluOutput& o, int64_t g) {
    const int lane = threadIdx.x % 32;
    const float4* p = reinterpret_cast<const float4*>(o.out + g * kSwigluGroup + 8 * lane);
    const float4 a = __ldcg(p), b = __ldcg(p + 1);
    const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    int8_t* qs = o.qs + g * kSwigluGroup;
    float2* ds = o.ds + g * (kSwigluGroup / 32);
    if (o.act == ActivationType::Q8_K) act::store_q8_k(v, qs, ds);
    else if (o.act == ActivationType::Q8_0) act::store_q8_32_by_4<ActivationType::Q8_0>(v, qs + lane / 4 * 32, ds + lane / 4, true);
    else act::store_q8_32_by_4<ActivationType::Q8_1>(v, qs + lane / 4 * 32, ds + lane / 4, true);
}

template <typename V, ActivationType A, int kPasses, int kInFlight>
__global__ void __launch_bounds__(kNormedWarps * 32, kNormedBlocksPerSm)
matvec_normed_swiglu_kernel(const uint8_t* w_gate, const uint8_t* w_up, size_t row_bytes, int n_blocks_per_row,
                            int64_t n_ff, NormedInput in, SwigluOutput o) {
    __shared__ __align__(16) int8_t s_qs[kMaxNormedRow];
    __shared__ __align__(16) float2 s_ds[kMaxNormedRow / 32];
    __shared__ float partial[32];
    [[maybe_unused]] const StepTrace trace = step_trace_enter(kStepMatvecNormed);
    pdl_launch_dependents();
    const int lane = threadIdx.x % 32;
    const int64_t stride = (int64_t)gridDim.x * kNormedWarps;
    const int64_t first = (int64_t)blockIdx.x * kNormedWarps + threadIdx.x / 32;
    typename V::Regs r0[kInFlight];
    if (first < n_ff) {  // the first gate row's first units, before the wait (weights only)
        constexpr int kBlockStep = 32 / V::kUnits;
        const uint8_t* w_row = w_gate + first * row_bytes;
#pragma unroll
        for (int i = 0; i < kInFlight; ++i) {
            const int b = lane / V::kUnits + kBlockStep * i;
            if (b < n_blocks_per_row) V::load(w_row, b, lane % V::kUnits, r0[i]);
        }
    }
    pdl_wait();
    step_trace_waited(trace);
    norm_into_shared<A, kPasses>(in, s_qs, s_ds, partial);
    const QuantizedX x{s_qs, s_ds, in.n};
    for (int64_t i = first; i < n_ff; i += stride) {
        const uint8_t* g_row = w_gate + i * row_bytes;
        const float g = i == first ? normed_row_dot<V, kInFlight, true>(g_row, n_blocks_per_row, x, r0)
                                   : normed_row_dot<V, kInFlight, false>(g_row, n_blocks_per_row, x, r0);
        const float u = normed_row_dot<V, kInFlight, false>(w_up + i * row_bytes, n_blocks_per_row, x, r0);
        if (lane == 0) {  // out last: it may be gate or up
            o.gate[i] = g;
            o.up[i] = u;
            o.out[i] = act::silu_mul(g, u);
        }
    }
    if (first >= n_ff) return;
    __threadfence();  // this warp's h before its counts
    for (int64_t i = first; i < n_ff; i += stride) {
        const int64_t g = i / kSwigluGroup;
        unsigned before = 0;
        if (lane == 0) before = atomicAdd(o.counters + g, 1u);
        before = __shfl_sync(0xffffffffu, before, 0);
        if (before != kSwigluGroup - 1) continue;
        __threadfence();  // every other warp's h of the group, counted before this one
        convert_group(o, g);
        if (lane == 0) o.counters[g] = 0;
    }
}

template <TypeId T>
void launch_fused(const DeviceWeight& gate_w, const DeviceWeight& up_w, const NormedInput& in, const SwigluOutput& o,
            cudaStream_t stream) {
    using V = VecDot<T>;
    constexpr ActivationType A = activation_type(T);
    constexpr int kInFlight = MatvecShape<T, 1>::kInFlight;
    const int n_blocks = (int)(gate_w.n_in / V::kElems);
    const LaunchShape shape = normed_launch_shape(gate_w.n_out, stream);
    const bool overlap = gate_w.immutable && up_w.immutable;
    with_normed_passes(in.n, [&]<int P>() {
        launch_kernel(shape, overlap, matvec_normed_swiglu_kernel<V, A, P, kInFlight>, gate_w.data.as<uint8_t>(),
                      up_w.data.as<uint8_t>(), gate_w.row_bytes, n_blocks, gate_w.n_out, in, o);
    });
}

// The types with the kernel: the dense decode types the speed table has (one kernel each per pass
// count, so the list stays short; every other type keeps matvec_normed + swiglu_quantize).
template <typename F>
bool by_swiglu_type(TypeId type, F&& f) {
    switch (type) {
        case TypeId::Q4_0: f.template operator()<TypeId::Q4_0>(); return true;
        case TypeId::Q8_0: f.template operator()<TypeId::Q8_0>(); return true;
        case TypeId::Q4_K: f.template operator()<TypeId::Q4_K>(); return true;
        case TypeId::Q5_K: f.template operator()<TypeId::Q5_K>(); return true;
        case TypeId::Q6_K: f.template operator()<TypeId::Q6_K>(); return true;
        case TypeId::MXFP4: f.template operator()<TypeId::MXFP4>(); return true;
        default: return false;
    }
}

std::atomic<uint64_t> swiglu_calls{0};

}  // namespace

uint64_t matvec_normed_swiglu_calls() { return swiglu_calls.load(); }

bool matvec_normed_swiglu_supports(TypeId type, int64_t n_in, int64_t n_ff, ActivationType act) {
    const bool listed = type == TypeId::Q4_0 || type == TypeId::Q8_0 || type == TypeId::Q4_K || type == TypeId::Q5_K ||
                        type == TypeId::Q6_K || type == TypeId::MXFP4;  // by_swiglu_type's
    const bool eight_bit = act == ActivationType::Q8_0 || act == ActivationType::Q8_1 || act == ActivationType::Q8_K;
    return listed && eight_bit && matvec_normed_supports(type, n_in) && n_ff > 0 && n_ff % kSwigluGroup == 0;
}

void matvec_normed_swiglu(const DeviceWeight& gate_w, const DeviceWeight& up_w, const NormedInput& in,
                          const SwigluOutput& o, StreamHandle stream) {
    if (up_w.type != gate_w.type || up_w.row_bytes != gate_w.row_bytes || up_w.n_in != gate_w.n_in ||
        up_w.n_out != gate_w.n_out)
        fail(up_w.name, "the fused gate/up launch needs " + gate_w.name + "'s type and shape");
    if (!matvec_normed_swiglu_supports(gate_w.type, gate_w.n_in, gate_w.n_out, o.act) || in.n != gate_w.n_in)
        fail(gate_w.name, "no fused gate/up + SwiGLU launch for type " + std::string(quant::traits(gate_w.type).name) +
                              ", rows of " + std::to_string(gate_w.n_in) + " and " + std::to_string(gate_w.n_out) +
                              " outputs");
    swiglu_calls.fetch_add(1);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    by_swiglu_type(gate_w.type, [&]<TypeId T>() { launch_fused<T>(gate_w, up_w, in, o, s); });
    check_last_launch(("matvec_normed_swiglu " + gate_w.name).c_str());
}

}  // namespace shootout::cuda
