// Importance-matrix collection through the CPU mixture-of-experts op: moe_ffn shows the collector each
// routed expert's rows (the FFN input for gate/up, the SwiGLU output for down), and the per-expert
// slices and counts equal a direct computation in double of the same routing and products.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "quantize/imatrix_collect.h"
#include "util/parallel.h"

using namespace shootout;

namespace {

constexpr int64_t kEmbd = 32, kFf = 16, kExpert = 4, kUsed = 2, kTokens = 24;

// Deterministic values in [-1, 1).
struct Lcg {
    uint64_t state = 12345;
    float next() {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return float((state >> 40) & 0xFFFFFF) / float(1 << 23) - 1.0f;
    }
};

backend::Weight f32_weight(const char* name, const std::vector<float>& values, int64_t n_in) {
    backend::Weight w;
    w.name = name;
    w.type = quant::TypeId::F32;
    w.n_in = n_in;
    w.n_out = (int64_t)values.size() / n_in;
    w.row_bytes = (size_t)n_in * 4;
    w.data = reinterpret_cast<const uint8_t*>(values.data());
    return w;
}

std::vector<float> random_values(Lcg& rng, size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = rng.next();
    return v;
}

double dot(const float* w, const float* x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += (double)w[i] * x[i];
    return s;
}

}  // namespace

TEST(ImatrixExperts, MoeFfnShowsEachRoutedExpertsRowsToTheCollector) {
    Lcg rng;
    const std::vector<float> gate = random_values(rng, kExpert * kFf * kEmbd);
    const std::vector<float> up = random_values(rng, kExpert * kFf * kEmbd);
    const std::vector<float> down = random_values(rng, kExpert * kEmbd * kFf);
    const std::vector<float> x = random_values(rng, kTokens * kEmbd);
    backend::MoeExperts ex;
    ex.gate = f32_weight("blk.0.ffn_gate_exps.weight", gate, kEmbd);
    ex.up = f32_weight("blk.0.ffn_up_exps.weight", up, kEmbd);
    ex.down = f32_weight("blk.0.ffn_down_exps.weight", down, kFf);
    ex.n_expert = kExpert;
    ex.n_used = kUsed;

    // Router logits with clear gaps (a permutation of 0, 1, 2 per token, steps of 1) so the top 2 are
    // unambiguous; expert 3 is never chosen, so its slice must stay empty.
    std::vector<float> logits((size_t)(kTokens * kExpert));
    std::vector<std::vector<int64_t>> chosen((size_t)kTokens);
    for (int64_t t = 0; t < kTokens; ++t) {
        std::vector<int64_t> order{0, 1, 2};
        std::rotate(order.begin(), order.begin() + t % 3, order.end());
        if (t % 2) std::swap(order[0], order[1]);
        for (int64_t r = 0; r < 3; ++r) logits[(size_t)(t * kExpert + order[r])] = 2.0f - (float)r;
        logits[(size_t)(t * kExpert + 3)] = -8.0f;
        chosen[(size_t)t] = {order[0], order[1]};
    }

    ThreadPool pool(2);
    std::vector<float> out((size_t)(kTokens * kEmbd)), out_plain(out.size());
    quantize::ImatrixCollector collector;  // default options: dense products need 16 rows, experts none
    cpu::moe_ffn(pool, ex, logits.data(), x.data(), kTokens, out.data(), collector.observer());
    cpu::moe_ffn(pool, ex, logits.data(), x.data(), kTokens, out_plain.data());
    EXPECT_EQ(out, out_plain) << "observing must not change the result";

    // Reference: per expert, the squares of the rows routed to it, in double.
    std::vector<double> ref_in((size_t)(kExpert * kEmbd)), ref_down((size_t)(kExpert * kFf));
    std::vector<int64_t> ref_counts((size_t)kExpert);
    for (int64_t t = 0; t < kTokens; ++t) {
        const float* xt = x.data() + t * kEmbd;
        for (int64_t e : chosen[(size_t)t]) {
            ++ref_counts[(size_t)e];
            for (int64_t i = 0; i < kEmbd; ++i) ref_in[(size_t)(e * kEmbd + i)] += (double)xt[i] * xt[i];
            for (int64_t f = 0; f < kFf; ++f) {
                const int64_t row = e * kFf + f;
                const double g = dot(gate.data() + row * kEmbd, xt, kEmbd), u = dot(up.data() + row * kEmbd, xt, kEmbd);
                const double h = g / (1.0 + std::exp(-g)) * u;
                ref_down[(size_t)(e * kFf + f)] += h * h;
            }
        }
    }
    ASSERT_EQ(ref_counts[3], 0);

    const auto& entries = collector.sums().entries;
    ASSERT_EQ(entries.size(), 3u);
    for (const char* name : {"blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight", "blk.0.ffn_down_exps.weight"}) {
        SCOPED_TRACE(name);
        const auto& e = entries.at(name);
        EXPECT_EQ(e.counts, ref_counts);
        EXPECT_EQ(std::accumulate(e.counts.begin(), e.counts.end(), int64_t{0}), kTokens * kUsed);
        const bool is_down = std::string(name).find("down") != std::string::npos;
        const std::vector<double>& ref = is_down ? ref_down : ref_in;
        ASSERT_EQ(e.in_sum2.size(), ref.size());
        for (size_t j = 0; j < ref.size(); ++j) {
            // Float sums of float squares (and, for down, float products) against double.
            EXPECT_NEAR(e.in_sum2[j], ref[j], 1e-5 * std::max(ref[j], 1.0)) << "value " << j;
        }
    }
}
