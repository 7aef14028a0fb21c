// backend::Ops on the GPU (see cuda_ops.h). The embedding lookup dequantizes its few rows on the host
// (the table stays in the mapped file; any type with a to_float works) and uploads them; everything
// else runs on the device. Copies to and from the host are synchronous, so a to_host() result is
// complete when it returns.
#include "backend/cuda/cuda_ops.h"

#include <cuda_runtime.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/ops_kernels.h"
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

class CudaOps : public backend::Ops {
public:
    CudaOps() {
        if (device_count() == 0) fail("cuda", "no CUDA device found (the CUDA backend needs an NVIDIA GPU)");
    }

    std::unique_ptr<backend::Buffer> alloc(size_t n_floats) override { return std::make_unique<CudaBuffer>(n_floats); }

    std::unique_ptr<backend::KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx,
                                                    const backend::AttentionShape& shape) override {
        return std::make_unique<CudaKvCache>(n_layers, n_ctx, shape);
    }

    void to_host(const float* src, float* host_dst, size_t n) override {
        SHOOTOUT_CUDA_CHECK(cudaMemcpy(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost));
    }
    void from_host(const float* host_src, float* dst, size_t n) override {
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
        from_host(rows_.data(), out, rows_.size());
    }

    void matmul(const backend::Weight& w, const float* x, int64_t n_tokens, float* y) override {
        cuda::matmul(matrix(w), x, n_tokens, y, workspace_);
    }

    void add_bias(float* x, const backend::Weight& bias, int64_t n_rows) override {
        cuda::add_bias(x, vector(bias), n_rows, bias.n_in, nullptr);
    }

    void rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps, float* y) override {
        cuda::rms_norm(x, vector(weight), n_rows, weight.n_in, eps, y, nullptr);
    }

    void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
              const backend::RopeParams& params) override {
        cuda::rope(x, n_tokens, n_heads, head_dim, pos0, params, nullptr);
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
        cuda::attention(cache.k(layer), cache.v(layer), q, k, v, n_tokens, pos0, shape, scale, out, nullptr);
    }

    void swiglu(const float* gate, const float* up, size_t n, float* out) override {
        cuda::swiglu(gate, up, n, out, nullptr);
    }

    void add(float* x, const float* y, size_t n) override { cuda::add(x, y, n, nullptr); }
    // The MoE and Gated DeltaNet ops keep the Ops defaults (they throw): Model::load runs qwen3moe
    // and qwen3next on the CPU only, for now.

private:
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
};

}  // namespace

std::unique_ptr<backend::Ops> make_cuda_ops() { return std::make_unique<CudaOps>(); }

}  // namespace shootout::cuda
