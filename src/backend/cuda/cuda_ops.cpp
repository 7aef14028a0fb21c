// backend::Ops on the GPU (see cuda_ops.h). The embedding lookup dequantizes its few rows on the host
// (the table stays in the mapped file; any type with a to_float works) and uploads them; everything
// else runs on the device. Copies to and from the host are synchronous, so a to_host() result is
// complete when it returns.
//
// Decode steps (an embedding lookup of at most kMaxMatvecTokens rows up to the next copy to the host)
// are recorded rather than launched, and run as one CUDA graph per step shape (step_graph.h): the
// model code stays unaware of it, and any host copy in the middle of a step (an observer reading
// activations, say) just ends the step early.
#include "backend/cuda/cuda_ops.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_ops_impl.h"
#include "backend/cuda/host_times.h"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/step_trace.h"
#include "util/env.h"
#include "util/error.h"

namespace shootout::cuda {
namespace {

SettableSwitch norm_folding_switch;  // SHOOTOUT_CUDA_NORM_PRODUCT, read at the first call

}  // namespace

namespace detail {

namespace {

// Page-locked host memory (host_buffer): cudaMemcpy sees it as such and copies straight into it.
class PinnedBuffer : public backend::Buffer {
public:
    PinnedBuffer(float* p, size_t n_floats) : p_(p), n_(n_floats) {}
    ~PinnedBuffer() override { cudaFreeHost(p_); }
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    float* data() override { return p_; }
    size_t n_floats() const override { return n_; }

private:
    float* p_;
    size_t n_;
};

}  // namespace

std::unique_ptr<backend::Buffer> CudaOps::host_buffer(size_t n_floats) {
    // SHOOTOUT_CUDA_PINNED_HOST=0: plain memory, for comparisons.
    static const bool pinned = !env_switched_off("SHOOTOUT_CUDA_PINNED_HOST");
    float* p = nullptr;
    const size_t bytes = std::max<size_t>(n_floats, 1) * sizeof(float);
    if (!pinned || cudaMallocHost(reinterpret_cast<void**>(&p), bytes) != cudaSuccess) {
        (void)cudaGetLastError();  // page-locked memory can run out: plain memory then, only slower to fill
        return backend::Ops::host_buffer(n_floats);
    }
    return std::make_unique<PinnedBuffer>(p, n_floats);
}

CudaOps::CudaOps() {
    if (device_count() == 0) fail("cuda", "no CUDA device found (the CUDA backend needs an NVIDIA GPU)");
    steps_ = std::make_unique<StepGraphs>();
    // The decode attention's scratch for long contexts (DecodeSplit): allocated once, here, so a
    // captured graph's address never changes; 512 blocks is ~4 MB.
    constexpr int kSplitBlocks = 512;
    split_partials_ = DeviceBuffer(cuda::decode_split_floats(kSplitBlocks) * sizeof(float));
    split_counters_ = DeviceBuffer(kSplitBlocks * sizeof(unsigned));
    split_counters_.fill_bytes(0);
    split_ = {split_partials_.as<float>(), split_counters_.as<unsigned>(), kSplitBlocks};
}

std::unique_ptr<backend::Buffer> CudaOps::alloc(size_t n_floats) {
    end_step();
    return std::make_unique<CudaBuffer>(n_floats);
}

std::unique_ptr<backend::KvCache> CudaOps::make_kv_cache(int64_t n_layers, int64_t n_ctx,
                                                         const backend::AttentionShape& shape) {
    end_step();
    return std::make_unique<CudaKvCache>(n_layers, n_ctx, shape);
}

void CudaOps::to_host(const float* src, float* host_dst, size_t n) {
    end_step();
    if (host_times_enabled()) {  // the step apart from its copy
        HostTimer wait(HostPhase::WaitGpu);
        SHOOTOUT_CUDA_CHECK(cudaStreamSynchronize(steps().stream()));
    }
    HostTimer timer(HostPhase::CopyOut, (int64_t)(n * sizeof(float)));
    SHOOTOUT_CUDA_CHECK(cudaMemcpy(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost));
}

// On the step stream, after the work recorded before it; page-locked host_dst (host_buffer) makes it
// a true asynchronous copy (pageable memory would make the driver stage it and return late).
void CudaOps::to_host_start(const float* src, float* host_dst, size_t n) {
    end_step();
    SHOOTOUT_CUDA_CHECK(
        cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, steps().stream()));
}

void CudaOps::wait_copies() {
    HostTimer wait(HostPhase::WaitGpu);
    SHOOTOUT_CUDA_CHECK(cudaStreamSynchronize(steps().stream()));
}

void CudaOps::from_host(const float* host_src, float* dst, size_t n) {
    end_step();
    HostTimer timer(HostPhase::CopyIn, (int64_t)(n * sizeof(float)));
    SHOOTOUT_CUDA_CHECK(cudaMemcpy(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice));
}

backend::RopeParams CudaOps::device_rope(const backend::RopeParams& params) {
    if (!params.freq_factors) return params;
    backend::RopeParams p = params;
    p.freq_factors = uploaded_floats(params.freq_factors, (size_t)(params.n_rot / 2));
    return p;
}

void CudaOps::prepare_weight(const backend::Weight& w) {
    if (w.type == quant::TypeId::F32) vector(w);  // vectors, and F32 matrices (matmul_f32)
    else matrix(w);
}

void CudaOps::get_rows(const backend::Weight& table, std::span<const int32_t> ids, float* out) {
    const auto& traits = quant::traits(table.type);
    if (!traits.to_float) fail(table.name, std::string("type ") + traits.name + " has no dequantization");
    rows_.resize(ids.size() * (size_t)table.n_in);
    for (size_t t = 0; t < ids.size(); ++t) {
        if (ids[t] < 0 || ids[t] >= table.n_out)
            fail(table.name, "token id " + std::to_string(ids[t]) + " outside the vocabulary of " +
                                 std::to_string(table.n_out));
        traits.to_float(table.data + (size_t)ids[t] * table.row_bytes, rows_.data() + t * table.n_in, table.n_in);
    }
    from_host(rows_.data(), out, rows_.size());  // ends a step in progress
    if ((int64_t)ids.size() <= kMaxMatvecTokens) steps().begin();
    quantized_x_ = {};
}

void CudaOps::matmul(const backend::Weight& w, const float* x, int64_t n_tokens, float* y) {
    flush_rope();  // a product is an op of its own: a held-back rope comes first
    if (w.type == quant::TypeId::F32) {  // routers and the shared-expert gate (small, kept F32)
        const float* wf = vector(w);
        const int64_t n_in = w.n_in, n_out = w.n_out;
        const QuantizedX kept = quantized_x_;
        launch(Key('F') << wf << n_in << n_out << x << n_tokens << y, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::matmul_f32(wf, n_in, n_out, x, n_tokens, y, s); });
        // The F32 product (a router) uses no workspace: what was quantized stays unless y covers it.
        if (kept.x && (y + n_tokens * n_out <= kept.x || kept.x + kept.n_tokens * kept.n_in <= y)) quantized_x_ = kept;
        return;
    }
    const DeviceWeight* dw = &matrix(w);  // map nodes stay put
    // Q/K/V (and gate/up) read the same normed rows back to back: quantize them once.
    const bool quantizes = n_tokens <= kMaxMatvecTokens && matvec_quantizes_x(dw->type);
    const QuantizedX now{x, n_tokens, dw->n_in, quantizes ? (int)activation_type(dw->type) : -1};
    const bool x_quantized = quantizes && quantized_x_ == now;
    // The first product after x's producer names the conversion the producer may do ahead next time.
    if (quantizes && x != last_product_x_) consumers_[x] = {activation_type(dw->type), dw->n_in, true};
    // Kept for the next product unless this one writes over its own input.
    const bool overwrites_x = y < x + n_tokens * dw->n_in && x < y + n_tokens * dw->n_out;
    quantized_x_ = quantizes && !overwrites_x ? now : QuantizedX{};
    product(dw, x, n_tokens, y, x_quantized);
    last_product_x_ = x;
}

void CudaOps::add_bias(float* x, const backend::Weight& bias, int64_t n_rows) {
    const float* b = vector(bias);
    const int64_t n = bias.n_in;
    launch(Key('B') << x << b << n_rows << n, -1,
           [=](cudaStream_t s, const int64_t*) { cuda::add_bias(x, b, n_rows, n, s); });
}

void CudaOps::rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps, float* y) {
    const float* wv = vector(weight);
    const int64_t n = weight.n_in;
    if (defer_norm(x, wv, n_rows, n, eps, y)) return;
    if (n <= kMaxQuantizingNormRow &&
        launch_quantizing(Key('N') << x << wv << n_rows << n << eps << y, -1, y, n_rows, n,
                          [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                              cuda::rms_norm_quantize(x, wv, n_rows, n, eps, y, act, qs, ds, s);
                          }))
        return;
    launch(Key('N') << x << wv << n_rows << n << eps << y, -1,
           [=](cudaStream_t s, const int64_t*) { cuda::rms_norm(x, wv, n_rows, n, eps, y, s); });
}

void CudaOps::rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
                   const backend::RopeParams& host_params) {
    const backend::RopeParams params = device_rope(host_params);
    launch(Key('R') << x << n_tokens << n_heads << head_dim << params.style << params.n_rot << params.freq_base
                    << params.freq_factors,
           pos0, [=](cudaStream_t s, const int64_t* pos_device) {
               cuda::rope(x, n_tokens, n_heads, head_dim, pos0, params, s, pos_device);
           });
}

void CudaOps::attention(backend::KvCache& cache_base, int64_t layer, const float* q, const float* k, const float* v,
                        int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale,
                        float* out) {
    auto& cache = static_cast<CudaKvCache&>(cache_base);
    if (layer < 0 || layer >= cache.n_layers())
        fail("attention", "layer " + std::to_string(layer) + " not in the KV cache");
    if (pos0 < 0 || pos0 + n_tokens > cache.n_ctx())
        fail("attention", "positions up to " + std::to_string(pos0 + n_tokens) + " exceed the KV cache size " +
                              std::to_string(cache.n_ctx()));
    uint16_t* kc = cache.k(layer);
    uint16_t* vc = cache.v(layer);
    if (one_kernel_attention(n_tokens, shape)) {
        attention_step(kc, vc, q, k, v, pos0, shape, scale, out);
        return;
    }
    flush_rope();
    launch(Key('A') << kc << vc << q << k << v << n_tokens << shape << scale << out, pos0,
           [=](cudaStream_t s, const int64_t* pos_device) {
               cuda::attention(kc, vc, q, k, v, n_tokens, pos0, shape, scale, out, s, pos_device);
           });
}

void CudaOps::swiglu(const float* gate, const float* up, size_t n, float* out) {
    if (const int64_t n_in = consumer_row(out, (int64_t)n); n_in > 0) {
        const int64_t n_rows = (int64_t)n / n_in;
        if (launch_quantizing(Key('S') << gate << up << n << out, -1, out, n_rows, n_in,
                              [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                                  cuda::swiglu_quantize(gate, up, n_rows, n_in, out, act, qs, ds, s);
                              }))
            return;
    }
    launch(Key('S') << gate << up << n << out, -1,
           [=](cudaStream_t s, const int64_t*) { cuda::swiglu(gate, up, n, out, s); });
}

void CudaOps::gated_rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps,
                             const float* gate, float* out) {
    const int64_t n = weight.n_in;
    if (!cuda::gated_rms_norm_fits(n_rows, n)) {
        backend::Ops::gated_rms_norm(x, weight, n_rows, eps, gate, out);  // two launches
        return;
    }
    const float* wv = vector(weight);
    const Key key = Key('Z') << x << wv << gate << n_rows << n << eps << out;  // not 'g' (moe_group's)
    // The output product's rows are whole rows of heads (value_dim): converted for it, as swiglu.
    if (const int64_t n_in = consumer_row(out, n_rows * n); n_in > 0) {
        if (launch_quantizing(key, -1, out, n_rows * n / n_in, n_in,
                              [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                                  cuda::gated_rms_norm_quantize(x, wv, gate, n_rows, n, eps, out, act, qs, ds, s);
                              }))
            return;
    }
    launch(key, -1, [=](cudaStream_t s, const int64_t*) {
        cuda::gated_rms_norm_quantize(x, wv, gate, n_rows, n, eps, out, ActivationType::F32, nullptr, nullptr, s);
    });
}

void CudaOps::add_rms_norm(float* x, const float* y, const backend::Weight& weight, int64_t n_rows, float eps,
                           float* out) {
    if (fold_add_into_product(x, y, n_rows, weight.n_in, out)) {
        rms_norm(x, weight, n_rows, eps, out);
        return;
    }
    const float* wv = vector(weight);
    const int64_t n = weight.n_in;
    if (n <= kMaxQuantizingNormRow &&
        launch_quantizing(Key('n') << x << y << wv << n_rows << n << eps << out, -1, out, n_rows, n,
                          [=](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                              cuda::add_rms_norm_quantize(x, y, wv, n_rows, n, eps, out, act, qs, ds, s);
                          }))
        return;
    launch(Key('n') << x << y << wv << n_rows << n << eps << out, -1,
           [=](cudaStream_t s, const int64_t*) { cuda::add_rms_norm(x, y, wv, n_rows, n, eps, out, s); });
}

void CudaOps::qk_norm_rope(float* q, float* k, const backend::Weight* q_norm, const backend::Weight* k_norm,
                           int64_t n_tokens, const backend::AttentionShape& shape, float eps, int64_t pos0,
                           const backend::RopeParams& host_params) {
    if (!qk_norm_rope_supports(shape.head_dim)) {
        backend::Ops::qk_norm_rope(q, k, q_norm, k_norm, n_tokens, shape, eps, pos0, host_params);
        return;
    }
    const backend::RopeParams params = device_rope(host_params);
    const float* qn = q_norm ? vector(*q_norm) : nullptr;
    const float* kn = k_norm ? vector(*k_norm) : nullptr;
    if (one_kernel_attention(n_tokens, shape)) {
        begin_op();  // q and k change, as in a launch
        pending_rope_ = PendingRope{q, k, qn, kn, shape, eps, pos0, params, true};
        return;
    }
    launch_qk_norm_rope(q, k, qn, kn, n_tokens, shape, eps, pos0, params);
}

void CudaOps::launch_qk_norm_rope(float* q, float* k, const float* qn, const float* kn, int64_t n_tokens,
                                  const backend::AttentionShape& shape, float eps, int64_t pos0,
                                  const backend::RopeParams& params) {
    launch(Key('Q') << q << k << qn << kn << n_tokens << shape << eps << params.style << params.n_rot
                    << params.freq_base << params.freq_factors,
           pos0, [=](cudaStream_t s, const int64_t* pos_device) {
               cuda::qk_norm_rope(q, k, qn, kn, n_tokens, shape, eps, pos0, params, s, pos_device);
           });
}

void CudaOps::add(float* x, const float* y, size_t n) {
    launch(Key('+') << x << y << n, -1, [=](cudaStream_t s, const int64_t*) { cuda::add(x, y, n, s); });
}

void CudaOps::add_sigmoid_gated(float* x, float* y, const float* gate, int64_t n_rows, int64_t n_cols) {
    if (fold_add_into_product(x, y, n_rows, n_cols, nullptr, gate)) return;
    backend::Ops::add_sigmoid_gated(x, y, gate, n_rows, n_cols);
}

const DeviceWeight& CudaOps::matrix(const backend::Weight& w) {
    auto it = matrices_.find(w.data);
    if (it == matrices_.end())
        it = matrices_.emplace(w.data, upload_weight(w.name, w.type, w.n_in, w.n_out, w.data)).first;
    return it->second;
}

const float* CudaOps::vector(const backend::Weight& w) {
    if (w.type != quant::TypeId::F32)
        fail(w.name,
             std::string("the CUDA backend takes F32 norm and bias vectors, got ") + quant::traits(w.type).name);
    return uploaded_floats(w.data, (size_t)(w.n_in * w.n_out));
}

const float* CudaOps::uploaded_floats(const void* host, size_t n) {
    const auto* key = static_cast<const uint8_t*>(host);
    auto it = vectors_.find(key);
    if (it == vectors_.end()) {
        const size_t bytes = n * sizeof(float);
        it = vectors_.emplace(key, DeviceBuffer(bytes)).first;
        it->second.upload(host, bytes);
    }
    return it->second.as<float>();
}

const float* CudaOps::f32_vector(const backend::Weight& w, int64_t n, const char* what) {
    if (w.type != quant::TypeId::F32 || w.n_in * w.n_out != n)
        fail(w.name, std::string(what) + " must be an F32 vector of " + std::to_string(n) + " elements");
    return vector(w);
}

}  // namespace detail

std::unique_ptr<backend::Ops> make_cuda_ops() {
    step_trace_init();
    return std::make_unique<detail::CudaOps>();
}

bool norm_folding() {
    return norm_folding_switch.get([] { return !env_switched_off("SHOOTOUT_CUDA_NORM_PRODUCT"); });
}

void set_norm_folding(bool on) { norm_folding_switch.set(on); }

}  // namespace shootout::cuda
