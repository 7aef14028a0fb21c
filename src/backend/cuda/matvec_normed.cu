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
std::atomic<uint64_t> normed_calls{0}, swiglu_fold_calls{0};
}

uint64_t matvec_normed_calls() { return normed_calls.load(); }

bool matvec_normed_supports(quant::TypeId type, int64_t n_in) {
    // Q8_K rows are whole 256 blocks (every type converted to it has 256-element blocks).
    return matvec_quantizes_x(type) && supports_type(type) && n_in > 0 && n_in <= kMaxNormedRow && n_in % 32 == 0;
}

void matvec_normed(const DeviceWeight* const* ws, float* const* ys, int n, const NormedInput& in, StreamHandle stream) {
    if (n < 1 || n > kMaxMatvecParts) fail(ws[0]->name, "matvec takes 1.." + std::to_string(kMaxMatvecParts) + " weights");
    const DeviceWeight& w = *ws[0];
    for (int i = 1; i < n; ++i)
        if (ws[i]->type != w.type || ws[i]->n_in != w.n_in || ws[i]->row_bytes != w.row_bytes)
            fail(ws[i]->name, "products in one matvec launch must share " + w.name + "'s type and width");
    if (!matvec_normed_supports(w.type, w.n_in) || in.n != w.n_in)
        fail(w.name, "no normed product for type " + std::string(quant::traits(w.type).name) + " and rows of " +
                         std::to_string(in.n) + " (weight rows of " + std::to_string(w.n_in) + ")");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    normed_calls.fetch_add(1);
    const bool known = dispatch_type(w.type, [&]<TypeId T>() { launch_matvec_normed<T>(ws, ys, n, in, s, nullptr); });
    if (!known) fail(w.name, std::string("no CUDA matvec for type ") + quant::traits(w.type).name);
    check_last_launch(("matvec_normed " + w.name).c_str());
}

namespace {
SettableSwitch swiglu_folding_switch;
}

bool swiglu_folding() {
    return swiglu_folding_switch.get([] { return env_is("SHOOTOUT_CUDA_SWIGLU_FOLD", "1"); });
}

void set_swiglu_folding(bool on) { swiglu_folding_switch.set(on); }

uint64_t matvec_swiglu_fold_calls() { return swiglu_fold_calls.load(); }

bool matvec_normed_swiglu_supports(quant::TypeId type, int64_t n_in, int64_t n) {
    bool trial = false;
    dispatch_type(type, [&]<TypeId T>() { trial = kSwigluFoldTrial<T>; });
    return trial && matvec_normed_supports(type, n_in) && n > 0 && n % kSwigluFoldGroup == 0;
}

void matvec_normed_swiglu(const DeviceWeight* const* ws, float* const* ys, const NormedInput& in,
                          const SwigluFold& fold, StreamHandle stream) {
    const DeviceWeight& w = *ws[0];
    if (ws[1]->type != w.type || ws[1]->n_in != w.n_in || ws[1]->row_bytes != w.row_bytes || ws[1]->n_out != w.n_out)
        fail(ws[1]->name, "a folded SwiGLU takes gate and up products of one type and shape, as " + w.name);
    if (!matvec_normed_swiglu_supports(w.type, w.n_in, w.n_out) || in.n != w.n_in)
        fail(w.name, "no SwiGLU fold for type " + std::string(quant::traits(w.type).name) + ", " +
                         std::to_string(w.n_out) + " rows of " + std::to_string(w.n_in));
    if (fold.act != ActivationType::Q8_0 && fold.act != ActivationType::Q8_K)
        fail(w.name, "a folded SwiGLU converts its output to Q8_0 or Q8_K only");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    swiglu_fold_calls.fetch_add(1);
    dispatch_type(w.type, [&]<TypeId T>() { launch_matvec_normed<T>(ws, ys, 2, in, s, &fold); });
    check_last_launch(("matvec_normed_swiglu " + w.name).c_str());
}

}  // namespace shootout::cuda
