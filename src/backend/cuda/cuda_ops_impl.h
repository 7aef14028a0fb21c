// The CudaOps class (backend::Ops on the GPU, made by make_cuda_ops in cuda_ops.h), declared here
// for the three files that define it, split by what the members do:
//   cuda_ops.cpp               construction, copies, weights and vectors, the dense ops
//   cuda_ops_steps.cpp         how a decode step is recorded: products held back and grouped into one
//                              launch, the RMSNorm and residual add folded into them, the RoPE held
//                              for the attention, the quantize-ahead predictions
//   cuda_ops_moe_deltanet.cpp  the MoE and Gated DeltaNet ops (qwen3moe, qwen3next)
// Internal to the CUDA backend: only those files include it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/step_graph.h"
#include "backend/ops.h"

namespace shootout::cuda::detail {

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

// The arguments of a recorded launch as bytes (the step's shape; positions left out). In place, not
// a heap string: a decode step makes ~260 of them on the host while the GPU waits (session 18:
// recording a step took ~46 us).
class Key {
public:
    explicit Key(char op) { bytes_[size_++] = op; }
    template <typename T> Key& operator<<(const T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        if (size_ + sizeof(value) > kCapacity)
            fail("cuda", "a step key longer than " + std::to_string(kCapacity) + " bytes");
        std::memcpy(bytes_ + size_, &value, sizeof(value));
        size_ += sizeof(value);
        return *this;
    }
    std::string_view bytes() const { return {bytes_, size_}; }

private:
    static constexpr size_t kCapacity = 512;  // the longest key now (the decode attention's) is ~150
    char bytes_[kCapacity];
    size_t size_ = 0;
};

inline Key& operator<<(Key& key, const backend::AttentionShape& shape) {
    return key << shape.n_head << shape.n_head_kv << shape.head_dim;
}

class CudaOps : public backend::Ops {
public:
    CudaOps();

    std::unique_ptr<backend::Buffer> alloc(size_t n_floats) override;

    std::unique_ptr<backend::KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx,
                                                    const backend::AttentionShape& shape) override;

    // The legacy-stream copies below wait for the steps' stream (a blocking stream) and it for them.
    void to_host(const float* src, float* host_dst, size_t n) override;
    void to_host_start(const float* src, float* host_dst, size_t n) override;
    void wait_copies() override;
    void from_host(const float* host_src, float* dst, size_t n) override;
    bool host_memory() const override { return false; }
    std::unique_ptr<backend::Buffer> host_buffer(size_t n_floats) override;

    // params as the RoPE kernels take them: Llama 3.1's frequency factors (n_rot / 2 floats in host
    // memory, the model's rope_freqs.weight) replaced by their device copy, uploaded once.
    backend::RopeParams device_rope(const backend::RopeParams& params);

    void prepare_weight(const backend::Weight& w) override;

    void get_rows(const backend::Weight& table, std::span<const int32_t> ids, float* out) override;

    void matmul(const backend::Weight& w, const float* x, int64_t n_tokens, float* y) override;

    void add_bias(float* x, const backend::Weight& bias, int64_t n_rows) override;

    void rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps, float* y) override;

    void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
              const backend::RopeParams& host_params) override;

    void attention(backend::KvCache& cache_base, int64_t layer, const float* q, const float* k, const float* v,
                   int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale,
                   float* out) override;

    void swiglu(const float* gate, const float* up, size_t n, float* out) override;

    void gated_rms_norm(const float* x, const backend::Weight& weight, int64_t n_rows, float eps, const float* gate,
                        float* out) override;

    void add_rms_norm(float* x, const float* y, const backend::Weight& weight, int64_t n_rows, float eps,
                      float* out) override;

    void qk_norm_rope(float* q, float* k, const backend::Weight* q_norm, const backend::Weight* k_norm,
                      int64_t n_tokens, const backend::AttentionShape& shape, float eps, int64_t pos0,
                      const backend::RopeParams& host_params) override;

    void launch_qk_norm_rope(float* q, float* k, const float* qn, const float* kn, int64_t n_tokens,
                             const backend::AttentionShape& shape, float eps, int64_t pos0,
                             const backend::RopeParams& params);

    void add(float* x, const float* y, size_t n) override;
    // Right after the one-token product writing y, that product adds its output, gated, into x (y is
    // then never written: the op may overwrite it); otherwise the two ops.
    void add_sigmoid_gated(float* x, float* y, const float* gate, int64_t n_rows, int64_t n_cols) override;
    // ---- The MoE and Gated DeltaNet ops (qwen3moe, qwen3next): kernels in moe_deltanet_kernels.h.

    // Mixture of experts, all on the device and the same for decode and prefill, so a decode step
    // stays one CUDA graph and a prompt costs a fixed number of launches per layer: the router's
    // softmax and top-k (moe_route), the routed slots grouped by expert (moe_group), the slots' rows
    // gathered in that order and converted once to the experts' activation type, then one
    // expert-indexed product per stack (each active expert's rows times its own rows of the stack,
    // read in place: moe_matvec in decode steps, moe_gemm on the tensor cores for prompts), SwiGLU
    // (in decode also converting for the down product), and the weighted sum back per token in slot
    // order (moe_combine).
    void moe_ffn(const backend::MoeExperts& ex, const float* router_logits, const float* x, int64_t n_tokens,
                 float* out) override;

    void moe_ffn_launches(const backend::MoeExperts& ex, const float* router_logits, const float* x, int64_t n_tokens,
                          float* out, const DeviceWeight* gate, const DeviceWeight* up, const DeviceWeight* down,
                          int64_t n_embd, int64_t n_ff, bool ahead);

    void copy_columns(const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols,
                      float* dst) override;

    void sigmoid_gate(float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols) override;

    void l2_norm(float* x, int64_t n_rows, int64_t n_cols, float eps) override;

    void causal_conv1d_silu(const float* x, const backend::Weight& kernel, int64_t n_tokens, float* conv_state,
                            float* out) override;

    void gated_delta_rule(const float* q, const float* k, const float* v, const float* alpha, const float* beta_logit,
                          const backend::Weight& dt_bias, const backend::Weight& a, int64_t n_tokens,
                          const backend::DeltaNetShape& shape, float* state, float* out) override;

private:
    // A decode step's attention: one kernel (attention_decode_step) stores the new key and value,
    // applies the held-back qk_norm_rope of these q and k if there is one, and converts the output
    // for the next product when that product's conversion is predicted (quantize-ahead): where the
    // plain ops launch three or four kernels.
    void attention_step(uint16_t* kc, uint16_t* vc, const float* q, const float* k, const float* v, int64_t pos0,
                        const backend::AttentionShape& shape, float scale, float* out);

    // qk_norm_rope held back by a decode step (pending_rope_), launched as it came when the next op
    // is not the attention over its q and k.
    struct PendingRope {
        float* q = nullptr;
        float* k = nullptr;
        const float* qn = nullptr;
        const float* kn = nullptr;
        backend::AttentionShape shape;
        float eps = 0.f;
        int64_t pos0 = 0;
        backend::RopeParams params;
        bool set = false;
    };
    PendingRope pending_rope_;
    void flush_rope();

    // Runs the step being recorded, if any; the workspace changes hands, so nothing quantized stays.
    void end_step();

    // What every op other than a product does first: the held-back rope and products go before it,
    // and nothing quantized stays (the op may write the rows a product quantized).
    void begin_op();

    // Whether a decode step's attention over these heads runs as one kernel (attention_step), its
    // qk_norm_rope then held back for it.
    bool one_kernel_attention(int64_t n_tokens, const backend::AttentionShape& shape);

    // Records the launch into the step in progress, or runs it now (on the same stream).
    template <class F>
    void launch(const Key& key, int64_t pos, F&& f) {
        begin_op();
        if (steps().recording()) steps().record(key.bytes(), pos, std::forward<F>(f));
        else f(steps().stream(), nullptr);
    }
    // The launch of a producer that also converts its n_rows rows of n as act into the workspace, where
    // the next product finds them: produce(act, qs, ds, stream, pos_device) with the int8 values at qs
    // and their (d, s) pairs after them.
    template <typename F>
    auto converting(ActivationType act, int64_t n_rows, int64_t n, F&& produce) {
        Workspace* ws = &steps().workspace();
        return [=, produce = std::forward<F>(produce)](cudaStream_t s, const int64_t* pos_device) {
            auto* qs = static_cast<int8_t*>(
                ws->reserve((size_t)(n_rows * n) + (size_t)n_rows * (size_t)(n / 32) * sizeof(float2)));
            produce(act, qs, reinterpret_cast<float2*>(qs + n_rows * n), s, pos_device);
            ws->quantized_as = (int)act;
        };
    }

    const DeviceWeight& matrix(const backend::Weight& w);

    const float* vector(const backend::Weight& w);

    // The device copy of n floats of model data in host memory (a norm or bias vector, RoPE
    // frequency factors), uploaded the first time it is asked for.
    const float* uploaded_floats(const void* host, size_t n);

    const float* f32_vector(const backend::Weight& w, int64_t n, const char* what);

    // A product recorded into the step in progress, or run now.
    // In a decode step, products of the same x, type and width that follow each other (Q/K/V,
    // gate/up) are held back and recorded as one launch (cuda::matvec_parts) when the next op of
    // another kind comes (flush_products); a product writing over its x, or over another's output,
    // goes alone.
    void product(const DeviceWeight* dw, const float* x, int64_t n_tokens, float* y, bool x_quantized);

    void record_product(const DeviceWeight* dw, const float* x, int64_t n_tokens, float* y, bool x_quantized);

    void flush_products();

    static constexpr int kMaxProductParts = cuda::kMaxMatvecParts;
    struct PendingProducts {
        const float* x = nullptr;
        int64_t n_tokens = 0;
        bool x_quantized = false;
        int n = 0;
        const DeviceWeight* w[kMaxProductParts] = {};
        float* y[kMaxProductParts] = {};
        bool accumulate = false;      // y[0] += W x (one part, one token: fold_add_into_product)
        const float* gate = nullptr;  // with accumulate: y[0] += (W x) * sigmoid(*gate)
    };
    PendingProducts pending_;

    // Norm folding (decode steps; SHOOTOUT_CUDA_NORM_PRODUCT=0 turns it off, for comparisons): the
    // residual add of add_rms_norm goes into the product before it (the O or down product adds into
    // x: matvec_parts' accumulate), and the RMSNorm itself into the products after it (matvec_normed:
    // every block normalises the row), so a layer's two norms cost no launch. Both give the bits of
    // the unfolded ops.
    // add_rms_norm(x, y, ..., out) right after the one product writing y: that product adds into x
    // instead (its y output would be overwritten by the norm anyway: out == y). Returns whether it
    // did; the caller then norms x alone.
    // gate: add y * sigmoid(*gate) (add_sigmoid_gated, out unused).
    bool fold_add_into_product(float* x, const float* y, int64_t n_rows, int64_t n, const float* out,
                               const float* gate = nullptr);
    // A decode step's one-row RMSNorm whose output went to a dense integer product last time: held back
    // (norm_) for the products reading it, which then normalise it themselves (flush_products). Until
    // then it counts as converted ahead, as launch_quantizing would have it (quantized_x_), so if it is
    // flushed alone it is exactly that launch.
    // done: a normed launch has run it (its block 0 wrote out). It stays until the next op that is not
    // a product of out, so a product of out that could not join that launch (a V of a type that does
    // not mix with Q/K's: matvec_normed_mixes; Q4_K_M's Q6_K V does join) forms a normed launch of its
    // own, which norms the row again, instead of a conversion launch and a plain product; flushed, a
    // done norm records nothing.
    struct PendingNorm {
        const float* x = nullptr;
        const float* w = nullptr;
        float* out = nullptr;
        int64_t n = 0;
        float eps = 0.f;
        ActivationType act = ActivationType::F32;
        bool set = false;
        bool done = false;
    };
    PendingNorm norm_;
    bool defer_norm(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* out);
    void flush_norm();
    void record_normed_products(const PendingProducts& p);

    // One expert-indexed product over moe_ffn's grouped rows (n_tokens * n_used of them, x in F32):
    // in a decode step the int8 product (moe_matvec) on the rows converted to the stack's activation
    // type in q/ds, for a prompt the tensor-core one (moe_mmq on q/ds, or moe_gemm on the rows as
    // F16/BF16 in xh). When `convert` the rows are converted here first; otherwise the previous
    // product's (or the SwiGLU's) conversion is reused. one_row: x is one token's row standing for all
    // its routed rows. x_rows (prompts only): x holds the n_tokens token rows and grouped row r is token
    // row x_rows[r] (row_token): n_tokens rows are converted, not n_slots gathered copies.
    // second, y2 (decode only): a stack of the same type and shape multiplied in the same launch.
    // from_workspace (decode, one row): the row's conversion is in the step's workspace, where its
    // producer left it (quantize-ahead), not in q/ds.
    void expert_product(const DeviceWeight* stack, int64_t n_expert, int64_t n_tokens, int64_t n_used,
                        const float* x, const int32_t* x_rows, bool one_row, int8_t* q, float2* ds, uint16_t* xh,
                        bool convert, float* y, const DeviceWeight* second = nullptr, float* y2 = nullptr,
                        bool from_workspace = false);

    // Whether an expert product over n_tokens tokens of this stack is the int8 prompt GEMM (moe_mmq, on
    // q/ds): prompts of the types it takes, unless SHOOTOUT_CUDA_MOE_MMQ=0 asks for the F16 one
    // (moe_gemm: dequantized tiles, F16-rounded activations in xh), for comparisons.
    static bool int8_prompt_gemm(int64_t n_tokens, const DeviceWeight* stack);

    // moe_ffn's device memory for n_slots routed rows (and 8 rows of padding where the expert
    // products read groups of up to 8 rows), grown on demand. Growing ends the step in progress
    // first: its recorded launches point into the old memory. Captured graphs keep old addresses
    // in their keys, so none of them is replayed on freed memory.
    struct MoeScratch {
        int64_t n_slots = 0, n_embd = 0, n_ff = 0, n_expert = 0;
        DeviceBuffer ints, floats, quants, halves;
        int32_t *ids = nullptr, *row_token = nullptr, *row_of_slot = nullptr;
        int32_t *g_expert = nullptr, *g_first = nullptr, *g_count = nullptr, *g_n_active = nullptr;
        float *weights = nullptr, *x = nullptr, *gate = nullptr, *up = nullptr, *h = nullptr, *y = nullptr;
        int8_t *xq = nullptr, *hq = nullptr;
        float2 *xds = nullptr, *hds = nullptr;
        uint16_t *xh = nullptr, *hh = nullptr;
    };
    const MoeScratch& moe_scratch(int64_t n_slots, int64_t n_embd, int64_t n_ff, int64_t n_expert);

    std::unordered_map<const uint8_t*, DeviceWeight> matrices_;
    MoeScratch moe_;
    std::unordered_map<const uint8_t*, DeviceBuffer> vectors_;
    Workspace workspace_;
    DeviceBuffer split_partials_, split_counters_;
    cuda::DecodeSplit split_;
    std::vector<float> rows_;
    // The activations the last product left quantized in the workspace of its mode (eager or step):
    // x, n_tokens, n_in. Cleared by every other op and at step boundaries.
    struct QuantizedX {
        const float* x = nullptr;
        int64_t n_tokens = 0, n_in = 0;
        int type = -1;  // the ActivationType
        bool operator==(const QuantizedX&) const = default;
    };
    QuantizedX quantized_x_;
    const float* last_product_x_ = nullptr;  // x of the previous op when it was a product

    // Quantize-ahead (decode steps): for each buffer, the activation type and row length that the first
    // product reading it wanted last time. The op that writes the buffer next converts its output the
    // same way in its own kernel (activation_quant.h) into the step's workspace, so the product skips
    // its conversion launch: 3 launches a layer fewer. A wrong guess costs nothing but that saving
    // (matvec checks the workspace's type and converts again).
    struct Consumer {
        ActivationType type;
        int64_t n_in;
        bool dense;  // a dense product (matmul), not the experts of moe_ffn
    };
    std::unordered_map<const float*, Consumer> consumers_;
    // Records the quantizing form of a producer writing `out` (n_rows rows of n) when the next product's
    // activation type is predicted: produce(act, qs, ds, stream) writes out and its conversion into
    // the step's workspace in matvec's layout (n_rows * n int8, then (d, s) per 32). Returns false
    // (nothing recorded) without a prediction; the caller then launches the plain op.
    // pos: as launch() takes it (-1, or pos0 for an op that reads the step's position: produce then
    // gets the device address of it as its last argument).
    template <class F>
    bool launch_quantizing(Key key, int64_t pos, const float* out, int64_t n_rows, int64_t n, F&& produce) {
        const ActivationType act = predicted_conversion(out, n_rows, n);
        if (act == ActivationType::F32) return false;
        launch(key << act, pos, converting(act, n_rows, n, std::forward<F>(produce)));
        quantized_x_ = {out, n_rows, n, (int)act};
        return true;
    }
    // For an elementwise producer of n values at `out` (SwiGLU, the gated norm): the row length of the
    // product that read `out` last time, when n is whole rows of it; 0 otherwise.
    int64_t consumer_row(const float* out, int64_t n) const;
    // The conversion the product reading `out` (n_rows rows of n) wanted last time, in a decode step
    // being recorded; F32 when there is no such prediction.
    ActivationType predicted_conversion(const float* out, int64_t n_rows, int64_t n) const;
    std::unique_ptr<StepGraphs> steps_;  // made once a device answers
    StepGraphs& steps() { return *steps_; }
};

}  // namespace shootout::cuda::detail
