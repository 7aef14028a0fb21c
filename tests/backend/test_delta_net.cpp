// Gated DeltaNet's CPU ops (causal_conv1d_silu, gated_delta_rule) against a double-precision
// reference written from the formulas in backend/ops.h, and their state arguments: a sequence run in
// one call equals the same sequence split over calls with the state carried, a nullptr state equals
// a zeroed one, and the state left behind is the reference's, in the layout ops.h documents.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "quant/type_table.h"
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

Weight f32_weight(const std::vector<float>& values, int64_t n_in, int64_t n_out, const char* name) {
    Weight w;
    w.name = name;
    w.type = quant::TypeId::F32;
    w.n_in = n_in;
    w.n_out = n_out;
    w.row_bytes = (size_t)n_in * sizeof(float);
    w.data = reinterpret_cast<const uint8_t*>(values.data());
    return w;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& expected, double tolerance,
                  const char* what) {
    ASSERT_EQ(got.size(), expected.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], expected[i], tolerance * (1 + std::fabs(expected[i]))) << what << " at " << i;
}

struct DeltaNetOps : ::testing::Test {
    ThreadPool pool{2};
    std::unique_ptr<backend::Ops> ops = cpu::make_cpu_ops(pool);
};

// ---- causal convolution ---------------------------------------------------------------------------

constexpr int64_t kTaps = 4, kChannels = 37, kTokens = 11;

// out[t][c] = silu(sum_i x[t-K+1+i][c] * w[c][i]) with x at negative positions from `past`
// (K-1 rows, zeros if empty).
std::vector<double> conv_reference(const std::vector<float>& past, const std::vector<float>& x,
                                   const std::vector<float>& w, int64_t n_tokens) {
    std::vector<double> out((size_t)(n_tokens * kChannels));
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t c = 0; c < kChannels; ++c) {
            double sum = 0;
            for (int64_t i = 0; i < kTaps; ++i) {
                const int64_t p = t - (kTaps - 1) + i;
                const double xv = p >= 0 ? x[p * kChannels + c] : past.empty() ? 0.0 : past[(kTaps - 1 + p) * kChannels + c];
                sum += xv * w[c * kTaps + i];
            }
            out[t * kChannels + c] = sum / (1 + std::exp(-sum));
        }
    return out;
}

TEST_F(DeltaNetOps, ConvFromZeroStateMatchesReference) {
    const auto x = random_floats(kTokens * kChannels, 1);
    const auto w = random_floats(kTaps * kChannels, 2, 0.5f);
    const Weight kernel = f32_weight(w, kTaps, kChannels, "ssm_conv1d");
    std::vector<float> out(x.size());
    ops->causal_conv1d_silu(x.data(), kernel, kTokens, nullptr, out.data());
    expect_close(out, conv_reference({}, x, w, kTokens), 1e-5, "nullptr state");

    // A zeroed kept state gives the same outputs and is left holding the last K-1 input rows.
    std::vector<float> state((kTaps - 1) * kChannels, 0.0f), out2(x.size());
    ops->causal_conv1d_silu(x.data(), kernel, kTokens, state.data(), out2.data());
    EXPECT_EQ(out2, out);
    const std::vector<float> last(x.end() - (kTaps - 1) * kChannels, x.end());
    EXPECT_EQ(state, last);
}

TEST_F(DeltaNetOps, ConvFromAGivenStateMatchesReference) {
    const auto x = random_floats(kTokens * kChannels, 3);
    const auto w = random_floats(kTaps * kChannels, 4, 0.5f);
    const auto past = random_floats((kTaps - 1) * kChannels, 5);
    std::vector<float> state = past, out(x.size());
    ops->causal_conv1d_silu(x.data(), f32_weight(w, kTaps, kChannels, "ssm_conv1d"), kTokens, state.data(), out.data());
    expect_close(out, conv_reference(past, x, w, kTokens), 1e-5, "given state");
}

TEST_F(DeltaNetOps, ConvSplitCallsEqualOneCall) {
    const auto x = random_floats(kTokens * kChannels, 6);
    const auto w = random_floats(kTaps * kChannels, 7, 0.5f);
    const Weight kernel = f32_weight(w, kTaps, kChannels, "ssm_conv1d");
    std::vector<float> whole(x.size());
    ops->causal_conv1d_silu(x.data(), kernel, kTokens, nullptr, whole.data());
    // Pieces shorter than K-1 (single tokens: the state shifts by one row) and longer ones.
    for (const std::vector<int64_t>& pieces :
         {std::vector<int64_t>{5, 6}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 1, 8}, {kTokens}}) {
        std::vector<float> state((kTaps - 1) * kChannels, 0.0f), got(x.size());
        int64_t t0 = 0;
        for (int64_t n : pieces) {
            ops->causal_conv1d_silu(x.data() + t0 * kChannels, kernel, n, state.data(), got.data() + t0 * kChannels);
            t0 += n;
        }
        ASSERT_EQ(t0, kTokens);
        expect_close(got, std::vector<double>(whole.begin(), whole.end()), 1e-6, "split");
        const std::vector<float> last(x.end() - (kTaps - 1) * kChannels, x.end());
        EXPECT_EQ(state, last) << "pieces " << pieces.size();
    }
}

// ---- gated delta rule ------------------------------------------------------------------------------

struct RuleInputs {
    backend::DeltaNetShape shape{.n_k_heads = 2, .n_v_heads = 4, .head_k_dim = 16, .head_v_dim = 8};
    int64_t n_tokens = 9;
    std::vector<float> q, k, v, alpha, beta, dt_bias, a;

    RuleInputs() {
        const int64_t nk = shape.n_k_heads * shape.head_k_dim, nv = shape.n_v_heads * shape.head_v_dim;
        q = random_floats((size_t)(n_tokens * nk), 11);
        k = random_floats((size_t)(n_tokens * nk), 12);
        // q and k arrive L2-normalised per head.
        for (std::vector<float>* m : {&q, &k})
            for (int64_t r = 0; r < n_tokens * shape.n_k_heads; ++r) {
                double ss = 0;
                for (int64_t i = 0; i < shape.head_k_dim; ++i) ss += (double)(*m)[r * shape.head_k_dim + i] * (*m)[r * shape.head_k_dim + i];
                for (int64_t i = 0; i < shape.head_k_dim; ++i) (*m)[r * shape.head_k_dim + i] /= (float)std::sqrt(ss);
            }
        v = random_floats((size_t)(n_tokens * nv), 13);
        alpha = random_floats((size_t)(n_tokens * shape.n_v_heads), 14);
        beta = random_floats((size_t)(n_tokens * shape.n_v_heads), 15);
        dt_bias = random_floats((size_t)shape.n_v_heads, 16, 0.5f);
        a = random_floats((size_t)shape.n_v_heads, 17, 0.5f);
        for (float& x : a) x = -std::exp(x);
    }
    int64_t state_size() const { return shape.n_v_heads * shape.head_v_dim * shape.head_k_dim; }
    int64_t out_size() const { return n_tokens * shape.n_v_heads * shape.head_v_dim; }
};

// The recurrence with S[h][i][j] (key i, value j) kept untransposed, in double. `state` is in the
// ops.h layout ([h][j][i]); read as the initial state and overwritten with the final one.
std::vector<double> rule_reference(const RuleInputs& in, std::vector<double>& state) {
    const auto& sh = in.shape;
    const int64_t dk = sh.head_k_dim, dv = sh.head_v_dim, ratio = sh.n_v_heads / sh.n_k_heads;
    std::vector<double> out((size_t)in.out_size());
    for (int64_t h = 0; h < sh.n_v_heads; ++h) {
        std::vector<double> S((size_t)(dk * dv));
        for (int64_t i = 0; i < dk; ++i)
            for (int64_t j = 0; j < dv; ++j) S[i * dv + j] = state[(h * dv + j) * dk + i];
        for (int64_t t = 0; t < in.n_tokens; ++t) {
            const float* q = &in.q[(t * sh.n_k_heads + h / ratio) * dk];
            const float* k = &in.k[(t * sh.n_k_heads + h / ratio) * dk];
            const float* v = &in.v[(t * sh.n_v_heads + h) * dv];
            const double x = (double)in.alpha[t * sh.n_v_heads + h] + in.dt_bias[h];
            const double g = std::log1p(std::exp(x)) * in.a[h];
            const double beta = 1 / (1 + std::exp(-(double)in.beta[t * sh.n_v_heads + h]));
            for (double& s : S) s *= std::exp(g);
            for (int64_t j = 0; j < dv; ++j) {
                double sk = 0;
                for (int64_t i = 0; i < dk; ++i) sk += S[i * dv + j] * k[i];
                const double d = beta * (v[j] - sk);
                for (int64_t i = 0; i < dk; ++i) S[i * dv + j] += k[i] * d;
            }
            for (int64_t j = 0; j < dv; ++j) {
                double o = 0;
                for (int64_t i = 0; i < dk; ++i) o += S[i * dv + j] * q[i];
                out[(t * sh.n_v_heads + h) * dv + j] = o / std::sqrt((double)dk);
            }
        }
        for (int64_t i = 0; i < dk; ++i)
            for (int64_t j = 0; j < dv; ++j) state[(h * dv + j) * dk + i] = S[i * dv + j];
    }
    return out;
}

void run_rule(backend::Ops& ops, const RuleInputs& in, int64_t t0, int64_t n, float* state, float* out) {
    const auto& sh = in.shape;
    const int64_t nk = sh.n_k_heads * sh.head_k_dim, nv = sh.n_v_heads * sh.head_v_dim;
    const std::vector<float>& dt = in.dt_bias;
    ops.gated_delta_rule(in.q.data() + t0 * nk, in.k.data() + t0 * nk, in.v.data() + t0 * nv,
                         in.alpha.data() + t0 * sh.n_v_heads, in.beta.data() + t0 * sh.n_v_heads,
                         f32_weight(dt, sh.n_v_heads, 1, "ssm_dt.bias"), f32_weight(in.a, sh.n_v_heads, 1, "ssm_a"), n,
                         sh, state, out + t0 * nv);
}

TEST_F(DeltaNetOps, RuleFromZeroStateMatchesReference) {
    const RuleInputs in;
    std::vector<double> ref_state((size_t)in.state_size(), 0.0);
    const std::vector<double> expected = rule_reference(in, ref_state);
    std::vector<float> out((size_t)in.out_size());
    run_rule(*ops, in, 0, in.n_tokens, nullptr, out.data());
    expect_close(out, expected, 1e-5, "nullptr state");

    std::vector<float> state((size_t)in.state_size(), 0.0f), out2(out.size());
    run_rule(*ops, in, 0, in.n_tokens, state.data(), out2.data());
    EXPECT_EQ(out2, out);
    expect_close(state, ref_state, 1e-5, "final state");
}

TEST_F(DeltaNetOps, RuleFromAGivenStateMatchesReference) {
    const RuleInputs in;
    const std::vector<float> initial = random_floats((size_t)in.state_size(), 18, 0.3f);
    std::vector<double> ref_state(initial.begin(), initial.end());
    const std::vector<double> expected = rule_reference(in, ref_state);
    std::vector<float> state = initial, out((size_t)in.out_size());
    run_rule(*ops, in, 0, in.n_tokens, state.data(), out.data());
    expect_close(out, expected, 1e-5, "given state");
    expect_close(state, ref_state, 1e-5, "final state");
}

TEST_F(DeltaNetOps, RuleSplitCallsEqualOneCall) {
    const RuleInputs in;
    std::vector<float> whole((size_t)in.out_size()), whole_state((size_t)in.state_size(), 0.0f);
    run_rule(*ops, in, 0, in.n_tokens, whole_state.data(), whole.data());
    for (const std::vector<int64_t>& pieces : {std::vector<int64_t>{4, 5}, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {7, 1, 1}}) {
        std::vector<float> state((size_t)in.state_size(), 0.0f), got(whole.size());
        int64_t t0 = 0;
        for (int64_t n : pieces) {
            run_rule(*ops, in, t0, n, state.data(), got.data());
            t0 += n;
        }
        ASSERT_EQ(t0, in.n_tokens);
        expect_close(got, std::vector<double>(whole.begin(), whole.end()), 1e-6, "split outputs");
        expect_close(state, std::vector<double>(whole_state.begin(), whole_state.end()), 1e-6, "split state");
    }
}

// ssm_ba's output read as it is (DeltaNetShape::gates_interleaved): per token and key group, ratio
// beta logits then ratio alphas. The same gates laid out so must give the same bits as the two
// [n_tokens][n_v_heads] arrays.
TEST(DeltaNetShape, GateIndexFollowsSsmBaLayout) {
    backend::DeltaNetShape sh{.n_k_heads = 2, .n_v_heads = 6, .head_k_dim = 16, .head_v_dim = 8};
    EXPECT_EQ(sh.gate_index(1, 4), 10);  // dense: token 1, head 4
    sh.gates_interleaved = true;         // ratio 3: [b0 b1 b2 a0 a1 a2 | b3 b4 b5 a3 a4 a5] a token
    EXPECT_EQ(sh.gate_index(0, 0), 0);
    EXPECT_EQ(sh.gate_index(0, 2), 2);
    EXPECT_EQ(sh.gate_index(0, 3), 6);
    EXPECT_EQ(sh.gate_index(0, 5), 8);
    EXPECT_EQ(sh.gate_index(2, 4), 24 + 7);
}

TEST_F(DeltaNetOps, RuleReadsInterleavedGatesAsTwoArrays) {
    const RuleInputs in;
    const auto& sh = in.shape;
    const int64_t ratio = sh.n_v_heads / sh.n_k_heads;
    std::vector<float> ba((size_t)(in.n_tokens * 2 * sh.n_v_heads), NAN);
    for (int64_t t = 0; t < in.n_tokens; ++t)
        for (int64_t h = 0; h < sh.n_v_heads; ++h) {
            const int64_t g = h / ratio, j = h % ratio, row = (t * sh.n_k_heads + g) * 2 * ratio;
            ba[(size_t)(row + j)] = in.beta[(size_t)(t * sh.n_v_heads + h)];
            ba[(size_t)(row + ratio + j)] = in.alpha[(size_t)(t * sh.n_v_heads + h)];
        }
    std::vector<float> dense_out((size_t)in.out_size()), dense_state((size_t)in.state_size(), 0.0f);
    run_rule(*ops, in, 0, in.n_tokens, dense_state.data(), dense_out.data());
    backend::DeltaNetShape interleaved = sh;
    interleaved.gates_interleaved = true;
    std::vector<float> out((size_t)in.out_size()), state((size_t)in.state_size(), 0.0f);
    ops->gated_delta_rule(in.q.data(), in.k.data(), in.v.data(), ba.data() + ratio, ba.data(),
                          f32_weight(in.dt_bias, sh.n_v_heads, 1, "ssm_dt.bias"), f32_weight(in.a, sh.n_v_heads, 1, "ssm_a"),
                          in.n_tokens, interleaved, state.data(), out.data());
    EXPECT_EQ(out, dense_out);
    EXPECT_EQ(state, dense_state);
}

}  // namespace
}  // namespace shootout
