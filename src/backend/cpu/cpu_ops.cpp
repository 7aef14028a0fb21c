// backend::Ops on the CPU: host buffers, and each op handed to its free function with the pool.
#include "backend/cpu/cpu_ops.h"

#include <cstring>

#include "util/parallel.h"

namespace shootout::cpu {

namespace {

class CpuOps : public backend::Ops {
public:
    explicit CpuOps(ThreadPool& pool) : pool_(pool) {}

    std::unique_ptr<backend::Buffer> alloc(size_t n_floats) override {
        return std::make_unique<backend::VectorBuffer>(n_floats);
    }
    std::unique_ptr<backend::KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx,
                                                    const backend::AttentionShape& shape) override {
        return cpu::make_kv_cache(n_layers, n_ctx, shape);
    }
    void to_host(const float* src, float* host_dst, size_t n) override { std::memcpy(host_dst, src, n * sizeof(float)); }

    void get_rows(const backend::Weight& table, std::span<const int32_t> ids, float* out) override {
        cpu::get_rows(pool_, table, ids, out);
    }
    void matmul(const backend::Weight& w, const float* x, int64_t n_tokens, float* y) override {
        if (observer_) observer_(w, x, n_tokens, backend::ExpertOf{});
        cpu::matmul(pool_, w, x, n_tokens, y, activation_scratch_);
    }
    void set_activation_observer(backend::ActivationObserver observer) override { observer_ = std::move(observer); }
    void add_bias(float* x, const backend::Weight& bias, int64_t n_rows) override {
        cpu::add_bias(pool_, x, bias, n_rows);
    }
    void rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps, float* y) override {
        cpu::rms_norm(pool_, x, weight, n_rows, eps, y);
    }
    void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
              const backend::RopeParams& rope) override {
        cpu::rope(pool_, x, n_tokens, n_heads, head_dim, pos0, rope);
    }
    void attention(backend::KvCache& cache, int64_t layer, const float* q, const float* k, const float* v,
                   int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale,
                   float* out) override {
        cpu::attention(pool_, cache, layer, q, k, v, n_tokens, pos0, shape, scale, out);
    }
    void swiglu(const float* gate, const float* up, size_t n, float* out) override {
        cpu::swiglu(pool_, gate, up, n, out);
    }
    void add(float* x, const float* y, size_t n) override { cpu::add(pool_, x, y, n); }
    void moe_ffn(const backend::MoeExperts& experts, const float* router_logits, const float* x, int64_t n_tokens,
                 float* out) override {
        cpu::moe_ffn(pool_, experts, router_logits, x, n_tokens, out, observer_);
    }
    void copy_columns(const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols,
                      float* dst) override {
        cpu::copy_columns(pool_, src, n_rows, src_stride, col0, n_cols, dst);
    }
    void sigmoid_gate(float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols) override {
        cpu::sigmoid_gate(pool_, x, gate, n_rows, n_cols, gate_cols);
    }
    void l2_norm(float* x, int64_t n_rows, int64_t n_cols, float eps) override {
        cpu::l2_norm(pool_, x, n_rows, n_cols, eps);
    }
    void causal_conv1d_silu(const float* x, const backend::Weight& kernel, int64_t n_tokens, float* conv_state,
                            float* out) override {
        cpu::causal_conv1d_silu(pool_, x, kernel, n_tokens, conv_state, out);
    }
    void gated_delta_rule(const float* q, const float* k, const float* v, const float* alpha, const float* beta_logit,
                          const backend::Weight& dt_bias, const backend::Weight& a, int64_t n_tokens,
                          const backend::DeltaNetShape& shape, float* state, float* out) override {
        cpu::gated_delta_rule(pool_, q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out);
    }

private:
    ThreadPool& pool_;
    std::vector<uint8_t> activation_scratch_;
    backend::ActivationObserver observer_;  // empty unless an importance matrix is being collected
};

}  // namespace

std::unique_ptr<backend::Ops> make_cpu_ops(ThreadPool& pool) { return std::make_unique<CpuOps>(pool); }

}  // namespace shootout::cpu
