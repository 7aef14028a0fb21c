// The entry point of the normed one-token product (matvec_normed.cuh; each type's kernels are
// instantiated beside its plain matvec's, in matvec_legacy.cu, matvec_kquants.cu, ...).
#include <atomic>
#include <string>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/matvec_normed.cuh"
#include "util/env.h"

namespace shootout::cuda {

int multiprocessor_count() {
    static const int count = [] {
        int device = 0, n = 0;
        SHOOTOUT_CUDA_CHECK(cudaGetDevice(&device));
        SHOOTOUT_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
        return n;
    }();
    return count;
}

namespace {
std::atomic<uint64_t> normed_calls{0};
}

uint64_t matvec_normed_calls() { return normed_calls.load(); }

bool matvec_normed_supports(quant::TypeId type, int64_t n_in) {
    // Q8_K rows are whole 256 blocks (every type converted to it has 256-element blocks).
    return matvec_quantizes_x(type) && supports_type(type) && n_in > 0 && n_in <= kMaxNormedRow && n_in % 32 == 0;
}

bool matvec_normed_mixes(quant::TypeId a, quant::TypeId b) {
    static const bool off = env_switched_off("SHOOTOUT_CUDA_NORMED_MIX");  // for comparisons
    return !off && (a == TypeId::Q4_K || a == TypeId::Q5_K) && b == TypeId::Q6_K;
}

void matvec_normed(const DeviceWeight* const* ws, float* const* ys, int n, const NormedInput& in, StreamHandle stream) {
    if (n < 1 || n > kMaxMatvecParts) fail(ws[0]->name, "matvec takes 1.." + std::to_string(kMaxMatvecParts) + " weights");
    const DeviceWeight& w = *ws[0];
    int first_b = n;  // the first part of a second type (matvec_normed_mixes), n if none
    for (int i = 1; i < n; ++i) {
        const DeviceWeight& wi = *ws[i];
        if (first_b == n && wi.type != w.type && matvec_normed_mixes(w.type, wi.type)) first_b = i;
        const DeviceWeight& like = i >= first_b ? *ws[first_b] : w;  // the type this part must share
        if (wi.type != like.type || wi.row_bytes != like.row_bytes || wi.n_in != w.n_in)
            fail(wi.name, "products in one normed launch must share " + w.name +
                              "'s width, and its type or (after it) one type that mixes with it");
    }
    if (!matvec_normed_supports(w.type, w.n_in) || in.n != w.n_in)
        fail(w.name, "no normed product for type " + std::string(quant::traits(w.type).name) + " and rows of " +
                         std::to_string(in.n) + " (weight rows of " + std::to_string(w.n_in) + ")");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    normed_calls.fetch_add(1);
    if (first_b < n) {  // every pair matvec_normed_mixes admits has its launch here
        const TypeId b = ws[first_b]->type;
        if (w.type == TypeId::Q4_K && b == TypeId::Q6_K)
            launch_matvec_normed_mixed<TypeId::Q4_K, TypeId::Q6_K>(ws, ys, n, first_b, in, s);
        else if (w.type == TypeId::Q5_K && b == TypeId::Q6_K)
            launch_matvec_normed_mixed<TypeId::Q5_K, TypeId::Q6_K>(ws, ys, n, first_b, in, s);
        else
            fail(w.name, "no mixed normed launch for " + std::string(quant::traits(w.type).name) + " then " +
                             quant::traits(b).name);
        check_last_launch(("matvec_normed " + w.name + " + " + ws[first_b]->name).c_str());
        return;
    }
    const bool known = dispatch_type(w.type, [&]<TypeId T>() { launch_matvec_normed<T>(ws, ys, n, in, s); });
    if (!known) fail(w.name, std::string("no CUDA matvec for type ") + quant::traits(w.type).name);
    check_last_launch(("matvec_normed " + w.name).c_str());
}

}  // namespace shootout::cuda
