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

#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/step_graph.h"
#include "util/error.h"

namespace shootout::cuda {
namespace {

class CudaBuffer : public backend::Buffer {
public:
    explicit CudaBuffer(size_t n_floats) : n_floats_(n_floats), memory_(n_floats * sizeof(float)) {}
    float* data() override { return memory_.as<float>(); }
    size_t n_floats() const override { return n_floats_; }

private:
    size_t n_floats_;
    DeviceBuffer memory_;
};

class CudaKvCache : public backend::KvCache {
public:
    CudaKvCache(int64_t n_layers, int64_t n_ctx, const backend::AttentionShape& shape)
        : n_layers_(n_layers), n_ctx_(n_ctx), row_halves_(shape.n_head_kv * shape.head_dim),
          k_((size_t)(n_layers * n_ctx * row_halves_) * 2), v_(k_.bytes()) {}

    int64_t n_ctx() const override { return n_ctx_; }
    int64_t n_layers() const { return n_layers_; }
    uint16_t* k(int64_t layer) { return k_.as<uint16_t>() + layer * n_ctx_ * row_halves_; }
    uint16_t* v(int64_t layer) { return v_.as<uint16_t>() + layer * n_ctx_ * row_halves_; }

private:
    int64_t n_layers_, n_ctx_, row_halves_;
    DeviceBuffer k_, v_;  // [layer][pos][n_head_kv * head_dim] halves
};

// The arguments of a recorded launch as bytes (the step's shape; positions left out).
class Key {
public:
    explicit Key(char op) { bytes_ += op; }
    template <typename T> Key& operator<<(const T& value) {
        bytes_.append(reinterpret_cast<const char*>(&value), sizeof(value));
        return *this;
    }
    const std::string& bytes() const { return bytes_; }

private:
    std::string bytes_;
};

Key& operator<<(Key& key, const backend::AttentionShape& shape) {
    return key << shape.n_head << shape.n_head_kv << shape.head_dim;
}

class CudaOps : public backend::Ops {
public:
    CudaOps() {
        if (device_count() == 0) fail("cuda", "no CUDA device found (the CUDA backend needs an NVIDIA GPU)");
        steps_ = std::make_unique<StepGraphs>();
    }

    std::unique_ptr<backend::Buffer> alloc(size_t n_floats) override {
        end_step();
        return std::make_unique<CudaBuffer>(n_floats);
    }

    std::unique_ptr<backend::KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx,
                                                    const backend::AttentionShape& shape) override {
        end_step();
        return std::make_unique<CudaKvCache>(n_layers, n_ctx, shape);
    }

    // The legacy-stream copies below wait for the steps' stream (a blocking stream) and it for them.
    void to_host(const float* src, float* host_dst, size_t n) override {
        end_step();
        SHOOTOUT_CUDA_CHECK(cudaMemcpy(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost));
    }
    void from_host(const float* host_src, float* dst, size_t n) override {
        end_step();
        SHOOTOUT_CUDA_CHECK(cudaMemcpy(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice));
    }
    bool host_memory() const override { return false; }

    void prepare_weight(const backend::Weight& w) override {
        if (w.n_out == 1 && w.type == quant::TypeId::F32) vector(w);
        else matrix(w);
    }

    void get_rows(const backend::Weight& table, std::span<const int32_t> ids, float* out) override {
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

    void matmul(const backend::Weight& w, const float* x, int64_t n_tokens, float* y) override {
        const DeviceWeight* dw = &matrix(w);  // map nodes stay put
        // Q/K/V (and gate/up) read the same normed rows back to back: quantize them once.
        const bool quantizes = n_tokens <= kMaxMatvecTokens && matvec_quantizes_x(dw->type);
        const QuantizedX now{x, n_tokens, dw->n_in};
        const bool x_quantized = quantizes && quantized_x_ == now;
        // Kept for the next product unless this one writes over its own input.
        const bool overwrites_x = y < x + n_tokens * dw->n_in && x < y + n_tokens * dw->n_out;
        quantized_x_ = quantizes && !overwrites_x ? now : QuantizedX{};
        if (!steps().recording()) {
            cuda::matmul(*dw, x, n_tokens, y, workspace_, steps().stream(), x_quantized);
            return;
        }
        Workspace* ws = &steps().workspace();
        steps().record((Key('M') << dw << x << n_tokens << y << x_quantized).bytes(), -1,
                       [=](cudaStream_t s, const int64_t*) { cuda::matmul(*dw, x, n_tokens, y, *ws, s, x_quantized); });
    }

    void add_bias(float* x, const backend::Weight& bias, int64_t n_rows) override {
        const float* b = vector(bias);
        const int64_t n = bias.n_in;
        launch(Key('B') << x << b << n_rows << n, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::add_bias(x, b, n_rows, n, s); });
    }

    void rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps, float* y) override {
        const float* wv = vector(weight);
        const int64_t n = weight.n_in;
        launch(Key('N') << x << wv << n_rows << n << eps << y, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::rms_norm(x, wv, n_rows, n, eps, y, s); });
    }

    void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
              const backend::RopeParams& params) override {
        launch(Key('R') << x << n_tokens << n_heads << head_dim << params.style << params.n_rot << params.freq_base,
               pos0, [=](cudaStream_t s, const int64_t* pos_device) {
                   cuda::rope(x, n_tokens, n_heads, head_dim, pos0, params, s, pos_device);
               });
    }

    void attention(backend::KvCache& cache_base, int64_t layer, const float* q, const float* k, const float* v,
                   int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale,
                   float* out) override {
        auto& cache = static_cast<CudaKvCache&>(cache_base);
        if (layer < 0 || layer >= cache.n_layers())
            fail("attention", "layer " + std::to_string(layer) + " not in the KV cache");
        if (pos0 < 0 || pos0 + n_tokens > cache.n_ctx())
            fail("attention", "positions up to " + std::to_string(pos0 + n_tokens) + " exceed the KV cache size " +
                                  std::to_string(cache.n_ctx()));
        uint16_t* kc = cache.k(layer);
        uint16_t* vc = cache.v(layer);
        launch(Key('A') << kc << vc << q << k << v << n_tokens << shape << scale << out, pos0,
               [=](cudaStream_t s, const int64_t* pos_device) {
                   cuda::attention(kc, vc, q, k, v, n_tokens, pos0, shape, scale, out, s, pos_device);
               });
    }

    void swiglu(const float* gate, const float* up, size_t n, float* out) override {
        launch(Key('S') << gate << up << n << out, -1,
               [=](cudaStream_t s, const int64_t*) { cuda::swiglu(gate, up, n, out, s); });
    }

    void add(float* x, const float* y, size_t n) override {
        launch(Key('+') << x << y << n, -1, [=](cudaStream_t s, const int64_t*) { cuda::add(x, y, n, s); });
    }
    // The MoE and Gated DeltaNet ops keep the Ops defaults (they throw): Model::load runs qwen3moe
    // and qwen3next on the CPU only, for now.

private:
    // Runs the step being recorded, if any; the workspace changes hands, so nothing quantized stays.
    void end_step() {
        steps().end();
        quantized_x_ = {};
    }

    // Records the launch into the step in progress, or runs it now (on the same stream).
    template <class F>
    void launch(const Key& key, int64_t pos, F&& f) {
        quantized_x_ = {};  // the op may write the rows a product quantized
        if (steps().recording()) steps().record(key.bytes(), pos, std::forward<F>(f));
        else f(steps().stream(), nullptr);
    }

    const DeviceWeight& matrix(const backend::Weight& w) {
        auto it = matrices_.find(w.data);
        if (it == matrices_.end())
            it = matrices_.emplace(w.data, upload_weight(w.name, w.type, w.n_in, w.n_out, w.data)).first;
        return it->second;
    }

    const float* vector(const backend::Weight& w) {
        if (w.type != quant::TypeId::F32)
            fail(w.name, std::string("the CUDA backend takes F32 norm and bias vectors, got ") + quant::traits(w.type).name);
        auto it = vectors_.find(w.data);
        if (it == vectors_.end()) {
            const size_t bytes = (size_t)(w.n_in * w.n_out) * sizeof(float);
            it = vectors_.emplace(w.data, DeviceBuffer(bytes)).first;
            it->second.upload(w.data, bytes);
        }
        return it->second.as<float>();
    }

    std::unordered_map<const uint8_t*, DeviceWeight> matrices_;
    std::unordered_map<const uint8_t*, DeviceBuffer> vectors_;
    Workspace workspace_;
    std::vector<float> rows_;
    // The activations the last product left quantized in the workspace of its mode (eager or step):
    // x, n_tokens, n_in. Cleared by every other op and at step boundaries.
    struct QuantizedX {
        const float* x = nullptr;
        int64_t n_tokens = 0, n_in = 0;
        bool operator==(const QuantizedX&) const = default;
    };
    QuantizedX quantized_x_;
    std::unique_ptr<StepGraphs> steps_;  // made once a device answers
    StepGraphs& steps() { return *steps_; }
};

}  // namespace

std::unique_ptr<backend::Ops> make_cuda_ops() { return std::make_unique<CudaOps>(); }

}  // namespace shootout::cuda
