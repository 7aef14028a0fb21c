// Each CPU op alone against a straightforward double-precision reference (the matmul has its own file).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "quant/type_table.h"
#include "util/error.h"
#include "util/fp16.h"
#include "util/parallel.h"

namespace shootout {
namespace {

using backend::Weight;

std::vector<float> random_floats(size_t n, uint32_t seed, float sd = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

Weight f32_vector(const std::vector<float>& values, const char* name) {
    Weight w;
    w.name = name;
    w.type = quant::TypeId::F32;
    w.n_in = (int64_t)values.size();
    w.n_out = 1;
    w.row_bytes = values.size() * sizeof(float);
    w.data = reinterpret_cast<const uint8_t*>(values.data());
    return w;
}

struct OpsTest : ::testing::Test {
    ThreadPool pool{2};
    std::unique_ptr<backend::Ops> ops = cpu::make_cpu_ops(pool);
};

TEST_F(OpsTest, RmsNormMatchesDoubleReference) {
    const int64_t n = 96, n_rows = 5;
    const auto x = random_floats(n * n_rows, 1, 3.0f);
    const auto w_values = random_floats(n, 2);
    std::vector<float> y(x.size());
    ops->rms_norm(x.data(), f32_vector(w_values, "norm"), n_rows, 1e-5f, y.data());
    for (int64_t r = 0; r < n_rows; ++r) {
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += (double)x[r * n + i] * x[r * n + i];
        const double scale = 1.0 / std::sqrt(sum / n + 1e-5);
        for (int64_t i = 0; i < n; ++i) {
            const double expected = x[r * n + i] * scale * w_values[i];
            EXPECT_NEAR(y[r * n + i], expected, 1e-5 * (1 + std::fabs(expected)));
        }
    }
    // In place gives the same.
    std::vector<float> in_place = x;
    ops->rms_norm(in_place.data(), f32_vector(w_values, "norm"), n_rows, 1e-5f, in_place.data());
    EXPECT_EQ(in_place, y);
}

// Rotation angle of pair i at position pos, in double: pos * base^(-2i/n_rot).
double angle(int64_t pos, int64_t i, int64_t n_rot, double base) { return pos * std::pow(base, -2.0 * i / n_rot); }

void check_rope(backend::Ops& ops, backend::RopeStyle style) {
    const int64_t n_tokens = 7, n_heads = 3, head_dim = 16, n_rot = 12, pos0 = 90;
    const double base = 10000.0;
    const auto x = random_floats(n_tokens * n_heads * head_dim, 3);
    std::vector<float> y = x;
    ops.rope(y.data(), n_tokens, n_heads, head_dim, pos0, {style, n_rot, (float)base});
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t h = 0; h < n_heads; ++h) {
            const float* in = x.data() + (t * n_heads + h) * head_dim;
            const float* out = y.data() + (t * n_heads + h) * head_dim;
            for (int64_t i = 0; i < n_rot / 2; ++i) {
                const int64_t a = style == backend::RopeStyle::Neox ? i : 2 * i;
                const int64_t b = style == backend::RopeStyle::Neox ? i + n_rot / 2 : 2 * i + 1;
                const double theta = angle(pos0 + t, i, n_rot, base);
                // Float angles built by repeated multiplication drift by a few ulp of theta (~100 rad).
                const double tolerance = 2e-4;
                EXPECT_NEAR(out[a], in[a] * std::cos(theta) - in[b] * std::sin(theta), tolerance) << t << " " << h << " " << i;
                EXPECT_NEAR(out[b], in[a] * std::sin(theta) + in[b] * std::cos(theta), tolerance) << t << " " << h << " " << i;
            }
            for (int64_t d = n_rot; d < head_dim; ++d) EXPECT_EQ(out[d], in[d]);  // not rotated
        }
    }
}

TEST_F(OpsTest, RopeNormalRotatesAdjacentPairs) { check_rope(*ops, backend::RopeStyle::Normal); }
TEST_F(OpsTest, RopeNeoxRotatesHalves) { check_rope(*ops, backend::RopeStyle::Neox); }

TEST_F(OpsTest, RopeAtPositionZeroIsIdentity) {
    const auto x = random_floats(2 * 8, 4);
    std::vector<float> y = x;
    ops->rope(y.data(), 1, 2, 8, 0, {backend::RopeStyle::Neox, 8, 1e6f});
    EXPECT_EQ(x, y);
}

double f16_round(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

// out[t][h] in double from K and V rounded to F16 (the cache's type) and the F32 query.
std::vector<double> attention_reference(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, int64_t n_tokens,
                                        const backend::AttentionShape& s, double scale) {
    std::vector<double> out(n_tokens * s.n_head * s.head_dim, 0.0);
    const int64_t group = s.n_head / s.n_head_kv, kv_row = s.n_head_kv * s.head_dim;
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t h = 0; h < s.n_head; ++h) {
            const int64_t g = h / group;
            std::vector<double> score(t + 1);
            double max_score = -INFINITY, sum = 0;
            for (int64_t p = 0; p <= t; ++p) {
                double dot = 0;
                for (int64_t d = 0; d < s.head_dim; ++d)
                    dot += (double)q[(t * s.n_head + h) * s.head_dim + d] * f16_round(k[p * kv_row + g * s.head_dim + d]);
                score[p] = dot * scale;
                max_score = std::max(max_score, score[p]);
            }
            for (auto& x : score) sum += (x = std::exp(x - max_score));
            for (int64_t p = 0; p <= t; ++p)
                for (int64_t d = 0; d < s.head_dim; ++d)
                    out[(t * s.n_head + h) * s.head_dim + d] +=
                        score[p] / sum * f16_round(v[p * kv_row + g * s.head_dim + d]);
        }
    }
    return out;
}

TEST_F(OpsTest, AttentionIsCausalGqaOverF16Cache) {
    const backend::AttentionShape shape{4, 2, 32};
    const int64_t n_tokens = 19;
    const auto q = random_floats(n_tokens * 4 * 32, 5, 0.5f);
    const auto k = random_floats(n_tokens * 2 * 32, 6, 0.5f);
    const auto v = random_floats(n_tokens * 2 * 32, 7);
    const float scale = 1.0f / std::sqrt(32.0f);
    auto cache = ops->make_kv_cache(2, 64, shape);
    std::vector<float> out(q.size());
    ops->attention(*cache, 1, q.data(), k.data(), v.data(), n_tokens, 0, shape, scale, out.data());
    const auto expected = attention_reference(q, k, v, n_tokens, shape, scale);
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], expected[i], 2e-5) << i;
    // The first token sees only itself: its output is its own (F16-rounded) value row.
    for (int64_t d = 0; d < 32; ++d) EXPECT_FLOAT_EQ(out[d], (float)f16_round(v[d]));
}

TEST_F(OpsTest, AttentionInTwoStepsEqualsOneStep) {
    const backend::AttentionShape shape{6, 3, 16};
    const int64_t n_tokens = 12, first = 5;
    const auto q = random_floats(n_tokens * 6 * 16, 8);
    const auto k = random_floats(n_tokens * 3 * 16, 9);
    const auto v = random_floats(n_tokens * 3 * 16, 10);
    auto whole_cache = ops->make_kv_cache(1, n_tokens, shape);
    std::vector<float> whole(q.size()), steps(q.size());
    ops->attention(*whole_cache, 0, q.data(), k.data(), v.data(), n_tokens, 0, shape, 0.25f, whole.data());
    auto step_cache = ops->make_kv_cache(1, n_tokens, shape);
    ops->attention(*step_cache, 0, q.data(), k.data(), v.data(), first, 0, shape, 0.25f, steps.data());
    ops->attention(*step_cache, 0, q.data() + first * 6 * 16, k.data() + first * 3 * 16, v.data() + first * 3 * 16,
                   n_tokens - first, first, shape, 0.25f, steps.data() + first * 6 * 16);
    EXPECT_EQ(whole, steps);
}

TEST_F(OpsTest, AttentionPastTheCacheThrows) {
    const backend::AttentionShape shape{2, 1, 8};
    auto cache = ops->make_kv_cache(1, 4, shape);
    std::vector<float> q(5 * 16), kv(5 * 8), out(q.size());
    EXPECT_THROW(ops->attention(*cache, 0, q.data(), kv.data(), kv.data(), 5, 0, shape, 1.0f, out.data()), Error);
}

TEST_F(OpsTest, SwigluAddAndBias) {
    const size_t n = 1000;
    const auto gate = random_floats(n, 11, 4.0f), up = random_floats(n, 12);
    std::vector<float> out(n);
    ops->swiglu(gate.data(), up.data(), n, out.data());
    for (size_t i = 0; i < n; ++i) {
        const double g = gate[i];
        EXPECT_NEAR(out[i], g / (1 + std::exp(-g)) * up[i], 1e-6 * (1 + std::fabs(out[i])));
    }
    std::vector<float> x = gate;
    ops->add(x.data(), up.data(), n);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], gate[i] + up[i]);
    const auto bias = random_floats(10, 13);
    x = gate;
    ops->add_bias(x.data(), f32_vector(bias, "bias"), 100);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], gate[i] + bias[i % 10]);
}

TEST_F(OpsTest, GetRowsDequantizesTheRequestedRows) {
    const int64_t n_in = 64, n_rows = 5;
    const auto values = random_floats(n_in * n_rows, 14);
    const auto& q8 = quant::traits(quant::TypeId::Q8_0);
    ASSERT_TRUE(q8.from_float_ref && q8.to_float);
    const size_t row_bytes = quant::row_size_bytes(quant::TypeId::Q8_0, n_in);
    std::vector<uint8_t> table_bytes(row_bytes * n_rows);
    for (int64_t r = 0; r < n_rows; ++r) q8.from_float_ref(values.data() + r * n_in, table_bytes.data() + r * row_bytes, n_in);
    Weight table{"token_embd.weight", quant::TypeId::Q8_0, n_in, n_rows, row_bytes, table_bytes.data()};
    const std::vector<int32_t> ids = {3, 0, 3, 4};
    std::vector<float> out(ids.size() * n_in);
    ops->get_rows(table, ids, out.data());
    for (size_t t = 0; t < ids.size(); ++t) {
        for (int64_t i = 0; i < n_in; ++i) {
            // Q8_0 keeps each value within half a step (amax/127/2) of the original.
            EXPECT_NEAR(out[t * n_in + i], values[ids[t] * n_in + i], 0.03) << t << " " << i;
        }
    }
    const std::vector<int32_t> bad = {5};
    EXPECT_THROW(ops->get_rows(table, bad, out.data()), Error);
}

}  // namespace
}  // namespace shootout
