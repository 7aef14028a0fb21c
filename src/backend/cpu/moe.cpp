// Mixture-of-experts FFN on the CPU, as llama.cpp's build_moe_ffn with softmax gating computes it:
// softmax over the router logits, top-k experts (argsort, descending), their probabilities as weights
// (normalised to sum 1 when the model says so, the sum clamped at F16's smallest normal as ggml
// does), each expert a SwiGLU FFN, the weighted outputs summed in routing order.
//
// Only routed experts are computed: tokens are grouped by expert, and each expert's rows are gathered
// into one block so its three matrices (slices of the GGUF's 3-D stacks, read in place) run as
// ordinary matmuls over just those tokens. A decode step thus reads n_used experts, not all of them.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::cpu {

namespace {

// Rows [e * n_rows, (e + 1) * n_rows) of a stack: expert e's matrix.
backend::Weight expert_slice(const backend::Weight& stack, int64_t n_expert, int64_t e) {
    backend::Weight w = stack;
    w.n_out = stack.n_out / n_expert;
    w.data = stack.data + (size_t)(e * w.n_out) * stack.row_bytes;
    return w;
}

}  // namespace

void moe_ffn(ThreadPool& pool, const backend::MoeExperts& ex, const float* router_logits, const float* x,
             int64_t n_tokens, float* out, const backend::ActivationObserver& observer) {
    const int64_t n_expert = ex.n_expert, n_used = ex.n_used;
    if (n_expert <= 0 || n_used <= 0 || n_used > n_expert)
        fail(ex.gate.name, "expert counts " + std::to_string(n_used) + " of " + std::to_string(n_expert) + " invalid");
    if (ex.gate.n_out % n_expert != 0 || ex.up.n_out != ex.gate.n_out || ex.down.n_out % n_expert != 0)
        fail(ex.gate.name, "expert stacks do not split into " + std::to_string(n_expert) + " experts");
    const int64_t n_embd = ex.gate.n_in, n_ff = ex.gate.n_out / n_expert;
    if (ex.down.n_in != n_ff || ex.down.n_out / n_expert != n_embd)
        fail(ex.down.name, "down-projection stack does not match the gate stack");

    // Routing: ids[t][j], weights[t][j] for the j-th largest probability of token t.
    std::vector<int32_t> ids((size_t)(n_tokens * n_used));
    std::vector<float> weights(ids.size());
    pool.parallel_for((size_t)n_tokens, [&](size_t begin, size_t end, int) {
        std::vector<float> probs((size_t)n_expert);
        std::vector<int32_t> order((size_t)n_expert);
        for (size_t t = begin; t < end; ++t) {
            const float* logits = router_logits + t * n_expert;
            const float max_logit = *std::max_element(logits, logits + n_expert);
            double sum = 0;  // ggml's soft_max sums in ggml_float (double)
            for (int64_t e = 0; e < n_expert; ++e) sum += (double)(probs[e] = std::exp(logits[e] - max_logit));
            const float inv_sum = (float)(1.0 / sum);
            for (float& p : probs) p *= inv_sum;
            std::iota(order.begin(), order.end(), 0);
            std::stable_sort(order.begin(), order.end(), [&](int32_t i, int32_t j) { return probs[i] > probs[j]; });
            float chosen_sum = 0;
            for (int64_t j = 0; j < n_used; ++j) chosen_sum += probs[order[j]];
            const float divisor = ex.normalize_weights ? std::max(chosen_sum, 6.103515625e-5f) : 1.0f;
            for (int64_t j = 0; j < n_used; ++j) {
                ids[t * n_used + j] = order[j];
                weights[t * n_used + j] = probs[order[j]] / divisor;
            }
        }
    });

    // Each expert's (token, slot) pairs t * n_used + j, slot by slot and tokens in order within a
    // slot: the order llama-imatrix visits MUL_MAT_ID rows in, so an observer's float sums add up as
    // its do (the products of a row do not depend on where it sits in the block).
    std::vector<std::vector<int64_t>> routed((size_t)n_expert);
    for (int64_t j = 0; j < n_used; ++j) {
        for (int64_t t = 0; t < n_tokens; ++t) routed[ids[t * n_used + j]].push_back(t * n_used + j);
    }

    // expert_out[t * n_used + j]: expert j's unweighted output for token t.
    std::vector<float> expert_out((size_t)(n_tokens * n_used * n_embd));
    std::vector<float> xe, gate, up, ye;
    std::vector<uint8_t> scratch;
    for (int64_t e = 0; e < n_expert; ++e) {
        const std::vector<int64_t>& slots = routed[e];
        const int64_t m = (int64_t)slots.size();
        if (m == 0) continue;
        xe.resize((size_t)(m * n_embd));
        gate.resize((size_t)(m * n_ff));
        up.resize(gate.size());
        ye.resize(xe.size());
        for (int64_t r = 0; r < m; ++r)
            std::copy_n(x + (slots[r] / n_used) * n_embd, n_embd, xe.data() + r * n_embd);
        const backend::ExpertOf which{e, n_expert};
        if (observer) {
            observer(ex.gate, xe.data(), m, which);
            observer(ex.up, xe.data(), m, which);
        }
        matmul(pool, expert_slice(ex.gate, n_expert, e), xe.data(), m, gate.data(), scratch);
        matmul(pool, expert_slice(ex.up, n_expert, e), xe.data(), m, up.data(), scratch);
        swiglu(pool, gate.data(), up.data(), gate.size(), gate.data());
        if (observer) observer(ex.down, gate.data(), m, which);
        matmul(pool, expert_slice(ex.down, n_expert, e), gate.data(), m, ye.data(), scratch);
        for (int64_t r = 0; r < m; ++r) std::copy_n(ye.data() + r * n_embd, n_embd, expert_out.data() + slots[r] * n_embd);
    }

    // As ggml: each expert's output times its weight, then added slot by slot.
    pool.parallel_for((size_t)n_tokens, [&](size_t begin, size_t end, int) {
        for (size_t t = begin; t < end; ++t) {
            float* o = out + t * n_embd;
            for (int64_t j = 0; j < n_used; ++j) {
                const float w = weights[t * n_used + j];
                const float* y = expert_out.data() + (t * n_used + j) * n_embd;
                if (j == 0) {
                    for (int64_t i = 0; i < n_embd; ++i) o[i] = y[i] * w;
                } else {
                    for (int64_t i = 0; i < n_embd; ++i) o[i] += y[i] * w;
                }
            }
        }
    });
}

}  // namespace shootout::cpu
