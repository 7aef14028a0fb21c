// Decode products y = W x for 1..kMaxMatvecTokens tokens. Memory-bound: every weight byte is read
// once, by one warp per output row walking the row in coalesced units; the activations (a few KB)
// stay in L1/L2. Quantized weights use int8 dp4a against activations quantized as the CPU quantizes
// them (activation_quant.h; the 4-bit unpack plus a float FMA per weight would cost more issue slots
// than the bandwidth leaves); F16/BF16 weights are dotted with the F32 activations directly.
#include <atomic>
#include <string>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/matvec_kernels.cuh"
#include "util/env.h"

namespace shootout::cuda {
namespace {
std::atomic<uint64_t> accumulate_calls{0}, gated_calls{0}, conversion_calls{0}, staged_calls{0};
SettableSwitch staged_switch;  // SHOOTOUT_CUDA_STAGE_X, read at the first call
}  // namespace

bool staged_products() {
    return staged_switch.get([] { return !env_switched_off("SHOOTOUT_CUDA_STAGE_X"); });
}
void set_staged_products(bool on) { staged_switch.set(on); }
uint64_t matvec_staged_calls() { return staged_calls.load(); }
void count_staged_launch() { staged_calls.fetch_add(1); }

uint64_t matvec_accumulate_calls() { return accumulate_calls.load(); }
uint64_t matvec_gated_calls() { return gated_calls.load(); }
uint64_t matvec_conversion_calls() { return conversion_calls.load(); }

void matvec(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, Workspace& workspace,
            StreamHandle stream, bool x_quantized) {
    const DeviceWeight* ws[1] = {&w};
    float* ys[1] = {y};
    matvec_parts(ws, ys, 1, x, n_tokens, workspace, stream, x_quantized);
}

void matvec_parts(const DeviceWeight* const* ws, float* const* ys, int n, const float* x, int64_t n_tokens,
                  Workspace& workspace, StreamHandle stream, bool x_quantized, bool accumulate,
                  const float* gate) {
    if (n < 1 || n > kMaxMatvecParts) fail(ws[0]->name, "matvec takes 1.." + std::to_string(kMaxMatvecParts) + " weights");
    const DeviceWeight& w = *ws[0];
    for (int i = 1; i < n; ++i)
        if (ws[i]->type != w.type || ws[i]->n_in != w.n_in || ws[i]->row_bytes != w.row_bytes)
            fail(ws[i]->name, "products in one matvec launch must share " + w.name + "'s type and width");
    if (n_tokens < 1 || n_tokens > kMaxMatvecTokens)
        fail(w.name, "matvec takes 1.." + std::to_string(kMaxMatvecTokens) + " tokens, got " + std::to_string(n_tokens));
    if (gate && (!accumulate || n_tokens != 1 || n != 1))
        fail(w.name, "a gated matvec adds one token's one product into y");
    if (accumulate) accumulate_calls.fetch_add(1);
    if (gate) gated_calls.fetch_add(1);
    // int8 activations then their (d, s) pairs
    void* scratch = workspace.reserve((size_t)n_tokens * w.n_in + (size_t)n_tokens * (w.n_in / 32) * sizeof(float2));
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (matvec_quantizes_x(w.type)) {
        // The CPU's vec_dot_type conversion, once per x for products of the same activation type.
        const ActivationType act = activation_type(w.type);
        if (!x_quantized || workspace.quantized_as != (int)act) {
            conversion_calls.fetch_add(1);
            auto* qs = static_cast<int8_t*>(scratch);
            quantize_activations(act, x, n_tokens, w.n_in, qs, reinterpret_cast<float2*>(qs + n_tokens * w.n_in), s);
            workspace.quantized_as = (int)act;
        }
    }
    const bool known = dispatch_type(w.type, [&]<TypeId T>() { launch_matvec<T>(ws, ys, n, x, n_tokens, scratch, s, accumulate, gate); });
    if (!known) fail(w.name, std::string("no CUDA matvec for type ") + quant::traits(w.type).name);
    check_last_launch(("matvec " + w.name).c_str());
}

}  // namespace shootout::cuda
