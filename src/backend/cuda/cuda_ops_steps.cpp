// CudaOps (cuda_ops_impl.h): how a decode step is recorded. Products of one input held back and
// launched as one (Q/K/V, gate/up); the residual add folded into the product before an RMSNorm and
// the norm into the products after it; qk_norm_rope held for the attention kernel; each producer
// converting its output ahead for the product the last step saw read it (quantize-ahead).
#include <string>

#include "backend/cuda/cuda_ops_impl.h"
#include "util/env.h"
#include "util/error.h"

namespace shootout::cuda::detail {

void CudaOps::attention_step(uint16_t* kc, uint16_t* vc, const float* q, const float* k, const float* v, int64_t pos0,
                             const backend::AttentionShape& shape, float scale, float* out) {
    const PendingRope p = pending_rope_;
    const bool fuse = p.set && p.q == q && p.k == k && p.pos0 == pos0 && p.shape.n_head == shape.n_head &&
                      p.shape.n_head_kv == shape.n_head_kv && p.shape.head_dim == shape.head_dim;
    if (!fuse) flush_rope();
    pending_rope_.set = false;
    const cuda::NormRope nr =
        fuse ? cuda::norm_rope_args(p.qn, p.kn, p.eps, p.params, shape.head_dim) : cuda::NormRope{};
    // The kernel writes q and k (back) only when the rope is fused; then they are the rope's own.
    float* qw = fuse ? p.q : const_cast<float*>(q);
    float* kw = fuse ? p.k : const_cast<float*>(k);
    Key key('a');
    key << kc << vc << q << k << v << shape << scale << out << fuse << nr.q_norm << nr.k_norm << nr.eps << nr.n_rot
        << nr.theta_scale << nr.neox << nr.freq_factors;
    const int64_t n_out = shape.n_head * shape.head_dim;
    const ActivationType act = predicted_conversion(out, 1, n_out);
    const cuda::DecodeSplit* split = &split_;
    auto run = [=](ActivationType a, int8_t* qs, float2* ds, cudaStream_t s, const int64_t* pos_device) {
        cuda::attention_decode_step(kc, vc, qw, kw, v, pos0, shape, scale, fuse ? &nr : nullptr, out, a, qs, ds, s,
                                    pos_device, split);
    };
    if (act != ActivationType::F32 && cuda::attention_decode_supports(shape, act) &&
        launch_quantizing(key, pos0, out, 1, n_out, run))
        return;
    launch(key, pos0, [=](cudaStream_t s, const int64_t* pos_device) {
        run(ActivationType::F32, nullptr, nullptr, s, pos_device);
    });
}

void CudaOps::flush_rope() {
    if (!pending_rope_.set) return;
    const PendingRope p = pending_rope_;
    pending_rope_.set = false;
    launch_qk_norm_rope(p.q, p.k, p.qn, p.kn, 1, p.shape, p.eps, p.pos0, p.params);
}

void CudaOps::end_step() {
    flush_rope();
    flush_products();
    steps().end();
    quantized_x_ = {};
}

void CudaOps::begin_op() {
    flush_rope();
    flush_products();
    flush_norm();  // a norm its products have done (PendingNorm::done) ends with them
    quantized_x_ = {};
    last_product_x_ = nullptr;
}

bool CudaOps::one_kernel_attention(int64_t n_tokens, const backend::AttentionShape& shape) {
    return n_tokens == 1 && steps().recording() && cuda::attention_decode_supports(shape, ActivationType::F32);
}

void CudaOps::product(const DeviceWeight* dw, const float* x, int64_t n_tokens, float* y, bool x_quantized) {
    if (!steps().recording()) {
        cuda::matmul(*dw, x, n_tokens, y, workspace_, steps().stream(), x_quantized);
        return;
    }
    auto overlaps = [](const float* a, int64_t na, const float* b, int64_t nb) { return a < b + nb && b < a + na; };
    const int64_t y_len = n_tokens * dw->n_out;
    const bool alone = n_tokens > kMaxMatvecTokens || overlaps(y, y_len, x, n_tokens * dw->n_in);
    PendingProducts& p = pending_;
    // A product of another type joins a group bound for a normed launch where the two mix (Q4_K_M's V
    // in Q6_K after Q/K in Q4_K: matvec_normed_mixes), after the first type's parts only.
    const DeviceWeight* last = p.n > 0 ? p.w[p.n - 1] : nullptr;
    const bool same_type = last && last->type == dw->type && last->row_bytes == dw->row_bytes;
    const bool mixes = last && norm_.set && p.x == norm_.out && n_tokens == 1 && p.w[0]->type == last->type &&
                       matvec_normed_mixes(last->type, dw->type);
    bool joins = !alone && p.n > 0 && p.n < kMaxProductParts && p.x == x && p.n_tokens == n_tokens &&
                 (same_type || mixes) && p.w[0]->n_in == dw->n_in &&
                 (x_quantized || !matvec_quantizes_x(dw->type));  // it shares the first one's conversion
    for (int i = 0; joins && i < p.n; ++i) joins = !overlaps(y, y_len, p.y[i], n_tokens * p.w[i]->n_out);
    if (joins) {
        p.w[p.n] = dw;
        p.y[p.n] = y;
        ++p.n;
        return;
    }
    // The first product of the held-back norm's output: a group that the norm will join.
    if (!alone && p.n == 0 && norm_.set && x == norm_.out && n_tokens == 1 &&
        matvec_normed_supports(dw->type, dw->n_in) && dw->n_in == norm_.n) {
        p = PendingProducts{x, n_tokens, x_quantized, 1, {dw}, {y}};
        return;
    }
    flush_products();
    if (alone) {
        record_product(dw, x, n_tokens, y, x_quantized);
        return;
    }
    p = PendingProducts{x, n_tokens, x_quantized, 1, {dw}, {y}};
}

void CudaOps::record_product(const DeviceWeight* dw, const float* x, int64_t n_tokens, float* y, bool x_quantized) {
    Workspace* ws = &steps().workspace();
    steps().record((Key('M') << dw << x << n_tokens << y << x_quantized).bytes(), -1,
                   [=](cudaStream_t s, const int64_t*) { cuda::matmul(*dw, x, n_tokens, y, *ws, s, x_quantized); });
}

void CudaOps::flush_products() {
    if (pending_.n == 0) {
        flush_norm();
        return;
    }
    const PendingProducts p = pending_;
    pending_ = PendingProducts{};
    if (norm_.set && p.x == norm_.out && p.n_tokens == 1 && matvec_normed_supports(p.w[0]->type, p.w[0]->n_in)) {
        record_normed_products(p);
        return;
    }
    flush_norm();  // held back before these products: it goes first
    if (p.accumulate) {
        Workspace* ws = &steps().workspace();
        steps().record((Key('m') << p.w[0] << p.x << p.y[0] << p.x_quantized << p.gate).bytes(), -1,
                       [=](cudaStream_t s, const int64_t*) {
                           cuda::matvec_parts(p.w, p.y, 1, p.x, 1, *ws, s, p.x_quantized, true, p.gate);
                       });
        return;
    }
    if (p.n == 1) {
        record_product(p.w[0], p.x, p.n_tokens, p.y[0], p.x_quantized);
        return;
    }
    Workspace* ws = &steps().workspace();
    Key key('P');
    key << p.x << p.n_tokens << p.x_quantized << p.n;
    for (int i = 0; i < p.n; ++i) key << p.w[i] << p.y[i];
    steps().record(key.bytes(), -1, [=](cudaStream_t s, const int64_t*) {
        cuda::matvec_parts(p.w, p.y, p.n, p.x, p.n_tokens, *ws, s, p.x_quantized);
    });
}

bool CudaOps::fold_add_into_product(float* x, const float* y, int64_t n_rows, int64_t n, const float* out,
                                    const float* gate) {
    PendingProducts& p = pending_;
    if (!cuda::norm_folding() || p.n != 1 || p.accumulate || p.n_tokens != 1 || n_rows != 1 || p.y[0] != y ||
        (!gate && out != y) || p.w[0]->n_out != n || norm_.set)
        return false;
    const float* px = p.x;
    if (px < x + n && x < px + p.w[0]->n_in) return false;  // the product reads x: keep the add apart
    if (gate && ((gate < x + n && x < gate + 1) || (gate < px + p.w[0]->n_in && px < gate + 1))) return false;
    p.y[0] = x;
    p.accumulate = true;
    p.gate = gate;
    flush_products();  // recorded now: the op after it reads x
    return true;
}

bool CudaOps::defer_norm(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* out) {
    if (!cuda::norm_folding() || n_rows != 1 || n > kMaxNormedRow || n > kMaxQuantizingNormRow) return false;
    const ActivationType act = predicted_conversion(out, 1, n);
    const auto it = consumers_.find(out);
    if (act == ActivationType::F32 || it == consumers_.end() || !it->second.dense) return false;
    begin_op();  // as launch() would: what is held back goes first
    norm_ = PendingNorm{x, w, out, n, eps, act, true};
    quantized_x_ = {out, 1, n, (int)act};
    return true;
}

void CudaOps::flush_norm() {
    if (!norm_.set) return;
    const PendingNorm p = norm_;
    norm_.set = false;
    if (p.done) return;
    // rms_norm's quantizing launch, under its key.
    steps().record((Key('N') << p.x << p.w << int64_t{1} << p.n << p.eps << p.out << p.act).bytes(), -1,
                   converting(p.act, 1, p.n,
                              [p](ActivationType act, int8_t* qs, float2* ds, cudaStream_t s, const int64_t*) {
                                  cuda::rms_norm_quantize(p.x, p.w, 1, p.n, p.eps, p.out, act, qs, ds, s);
                              }));
}

void CudaOps::record_normed_products(const PendingProducts& p) {
    const PendingNorm nm = norm_;
    // SHOOTOUT_CUDA_NORM_AGAIN=0 (for comparisons): a done norm ends here, as before session 14,
    // so a product that missed this launch converts the row itself.
    static const bool again = !env_switched_off("SHOOTOUT_CUDA_NORM_AGAIN");
    if (again) norm_.done = true;
    else norm_.set = false;
    const cuda::NormedInput in{nm.x, nm.w, nm.out, nm.n, nm.eps};
    Workspace* ws = &steps().workspace();
    Key key('p');
    key << nm.x << nm.w << nm.out << nm.n << nm.eps << p.n;
    for (int i = 0; i < p.n; ++i) key << p.w[i] << p.y[i];
    steps().record(key.bytes(), -1, [=](cudaStream_t s, const int64_t*) {
        cuda::matvec_normed(p.w, p.y, p.n, in, s);
        ws->quantized_as = -1;  // the conversion stayed in the blocks' shared memory
    });
}

int64_t CudaOps::consumer_row(const float* out, int64_t n) const {
    const auto it = consumers_.find(out);
    return it != consumers_.end() && n % it->second.n_in == 0 ? it->second.n_in : 0;
}

ActivationType CudaOps::predicted_conversion(const float* out, int64_t n_rows, int64_t n) const {
    if (n_rows > kMaxMatvecTokens || !steps_->recording()) return ActivationType::F32;
    const auto it = consumers_.find(out);
    if (it == consumers_.end() || it->second.n_in != n) return ActivationType::F32;
    return it->second.type;
}

}  // namespace shootout::cuda::detail
