#include "model/weights.h"


#include "backend/cpu/type_kernels.h"
#include "gguf/gguf.h"
#include "util/error.h"

namespace shootout::model {

namespace {

thread_local TensorClaims* active_claims = nullptr;

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "{";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "}";
}

class Loader {
public:
    explicit Loader(const gguf::File& file) : file_(file) {}

    // A tensor of ggml shape {n_in, n_out} (n_out == 0: a vector {n_in}).
    backend::Weight get(const std::string& name, int64_t n_in, int64_t n_out, bool required = true) const {
        return get_shape(name, n_out ? std::vector<int64_t>{n_in, n_out} : std::vector<int64_t>{n_in}, required);
    }

    // A tensor of any shape; the outer dimensions become rows.
    backend::Weight get_shape(const std::string& name, const std::vector<int64_t>& expected, bool required) const {
        const gguf::TensorInfo* t = file_.find_tensor(name);
        if (!t) {
            if (required) fail(file_.path(), "missing tensor '" + name + "'");
            return {};
        }
        if (t->shape != expected)
            fail(file_.path(), "tensor '" + name + "' has shape " + shape_string(t->shape) + ", expected " +
                                   shape_string(expected));
        claim_tensor(name);
        backend::Weight w;
        w.name = name;
        w.type = t->type;
        w.n_in = expected.at(0);
        w.n_out = 1;
        for (size_t i = 1; i < expected.size(); ++i) w.n_out *= expected[i];
        w.row_bytes = quant::row_size_bytes(t->type, w.n_in);
        w.data = t->data;
        return w;
    }

    backend::Weight matrix(const std::string& name, int64_t n_in, int64_t n_out) const {
        backend::Weight w = get(name, n_in, n_out);
        require_kernels(w);
        return w;
    }

    backend::Weight vector(const std::string& name, int64_t n, bool required = true) const {
        backend::Weight w = get(name, n, 0, required);
        if (w && w.type != quant::TypeId::F32)
            fail(file_.path(), "tensor '" + name + "' has type " + quant::traits(w.type).name + ", expected f32");
        return w;
    }

    void require_kernels(const backend::Weight& w) const {
        if (!cpu::find_kernels(w.type))
            fail(file_.path(), "tensor '" + w.name + "' has type " + quant::traits(w.type).name +
                                   ", which the CPU backend cannot multiply");
    }

    const gguf::File& file() const { return file_; }

private:
    const gguf::File& file_;
};

}  // namespace

TensorClaims::TensorClaims() : outer_(active_claims) { active_claims = this; }
TensorClaims::~TensorClaims() { active_claims = outer_; }

void claim_tensor(const std::string& name) {
    if (active_claims) active_claims->names_.insert(name);
}

Weights load_weights(const gguf::File& file, Config& c, const WeightOptions& options) {
    const Loader load(file);
    Weights w;
    const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
    if (!embd) fail(file.path(), "missing tensor 'token_embd.weight'");
    if (c.n_vocab == 0 && embd->shape.size() == 2) c.n_vocab = embd->shape[1];
    w.token_embd = load.get("token_embd.weight", c.n_embd, c.n_vocab);
    if (!quant::traits(w.token_embd.type).to_float)
        fail(file.path(), std::string("tensor 'token_embd.weight' has type ") + quant::traits(w.token_embd.type).name +
                              ", which has no dequantization");
    w.output_norm = load.vector("output_norm.weight", c.n_embd);
    w.output = file.find_tensor("output.weight") ? load.matrix("output.weight", c.n_embd, c.n_vocab) : w.token_embd;
    load.require_kernels(w.output);

    // The NextN blocks after the main stack: claimed, read by nothing (Config::n_nextn_layers).
    for (const gguf::TensorInfo& t : file.tensors()) {
        const int64_t il = gguf::block_index(t.name);
        if (il >= c.n_layers && il < c.n_layers + c.n_nextn_layers) claim_tensor(t.name);
    }
    const int64_t n_q = c.n_head * c.head_dim, n_kv = c.n_head_kv * c.head_dim;
    for (int64_t il = 0; il < c.n_layers; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        LayerWeights l;
        l.attn_norm = load.vector(p + "attn_norm.weight", c.n_embd);
        if (options.attention) {
            l.wq = load.matrix(p + "attn_q.weight", c.n_embd, n_q);
            l.wk = load.matrix(p + "attn_k.weight", c.n_embd, n_kv);
            l.wv = load.matrix(p + "attn_v.weight", c.n_embd, n_kv);
            l.wo = load.matrix(p + "attn_output.weight", n_q, c.n_embd);
            if (options.qkv_bias) {
                l.bq = load.vector(p + "attn_q.bias", n_q);
                l.bk = load.vector(p + "attn_k.bias", n_kv);
                l.bv = load.vector(p + "attn_v.bias", n_kv);
            }
            if (options.qk_norm) {
                l.q_norm = load.vector(p + "attn_q_norm.weight", c.head_dim);
                l.k_norm = load.vector(p + "attn_k_norm.weight", c.head_dim);
            }
        }
        l.ffn_norm = load.vector(p + options.ffn_norm + ".weight", c.n_embd);
        if (options.dense_ffn) {
            l.ffn_gate = load.matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff);
            l.ffn_up = load.matrix(p + "ffn_up.weight", c.n_embd, c.n_ff);
            l.ffn_down = load.matrix(p + "ffn_down.weight", c.n_ff, c.n_embd);
        }
        w.layers.push_back(std::move(l));
    }
    return w;
}

backend::Weight load_tensor(const gguf::File& file, const std::string& name, const std::vector<int64_t>& shape,
                            TensorUse use, bool required) {
    const Loader load(file);
    if (use == TensorUse::Vector) {
        backend::Weight w = load.get_shape(name, shape, required);
        if (w && w.type != quant::TypeId::F32)
            fail(file.path(), "tensor '" + name + "' has type " + quant::traits(w.type).name + ", expected f32");
        return w;
    }
    backend::Weight w = load.get_shape(name, shape, required);
    if (w) load.require_kernels(w);
    return w;
}

}  // namespace shootout::model
