// The Gated DeltaNet kernels (delta_net.cu) at qwen3next's real shape against the CPU ops (the
// oracle): a 512-token prefill from a non-zero state, then single-token decode steps, for the gated
// delta rule (32 value heads, 16 key heads, head dims 128) and the causal convolution (8192
// channels, 4 taps); then the edges of the delta rule's token tiles (pieces that end inside a tile,
// every tile size the kernel uses, rows past head_v_dim) and its unaligned-input path. Prints the
// kernels' times (not asserted). Needs a GPU; skips without one.
#include <gtest/gtest.h>

#include "op_compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "util/parallel.h"

namespace shootout {
namespace {

using backend::DeltaNetShape;
using backend::Weight;

using test::random_floats;
using test::rel_diff;

// An F32 vector weight over host floats the caller keeps alive (the CPU ops read it there).
Weight f32_weight(const char* name, int64_t n_in, int64_t n_out, const std::vector<float>& values) {
    Weight w;
    w.name = name;
    w.type = quant::TypeId::F32;
    w.n_in = n_in;
    w.n_out = n_out;
    w.row_bytes = (size_t)n_in * 4;
    w.data = reinterpret_cast<const uint8_t*>(values.data());
    return w;
}

// Device floats holding `host` from float `offset` on (offset 1: a pointer that is 4- but not
// 16-byte aligned); the rest of the buffer is NaN.
struct DeviceFloats {
    cuda::DeviceBuffer buffer;
    size_t offset = 0;
    DeviceFloats(const std::vector<float>& host, size_t offset_floats = 0)
        : buffer((host.size() + offset_floats + 1) * 4), offset(offset_floats) {
        buffer.fill_bytes(0xff);
        buffer.upload(host.data(), host.size() * 4, offset * 4);
    }
    float* data() const { return buffer.as<float>() + offset; }
    std::vector<float> download(size_t n) const {
        std::vector<float> h(n);
        buffer.download(h.data(), n * 4, offset * 4);
        return h;
    }
};

using DeltaInputs = test::DeltaRuleInputs;
const auto delta_inputs = test::delta_rule_inputs;

struct DeltaResult {
    std::vector<float> out, state;
};

// Runs the delta rule over `pieces` consecutive calls (the state carried) on the CPU and on the GPU
// (inputs at float offset `offset` on the device: 1 takes the kernel's unaligned path).
void run_delta(const DeltaNetShape& sh, const DeltaInputs& in, const std::vector<float>& state0,
               const std::vector<int64_t>& pieces, size_t offset, DeltaResult& cpu_result, DeltaResult& gpu_result) {
    ThreadPool pool(2);
    auto cpu = cpu::make_cpu_ops(pool);
    const Weight dt_w = f32_weight("ssm_dt.bias", sh.n_v_heads, 1, in.dt_bias);
    const Weight a_w = f32_weight("ssm_a", sh.n_v_heads, 1, in.a);
    const int64_t qk_row = sh.n_k_heads * sh.head_k_dim, v_row = sh.n_v_heads * sh.head_v_dim, g_row = sh.n_v_heads;

    DeviceFloats q(in.q, offset), k(in.k, offset), v(in.v, offset), alpha(in.alpha, offset), beta(in.beta, offset),
        dt(in.dt_bias), a(in.a), state(state0, offset), out(std::vector<float>(in.v.size(), NAN), offset);
    cpu_result.state = state0;
    cpu_result.out.assign(in.v.size(), 0.f);
    int64_t t0 = 0;
    for (int64_t n : pieces) {
        cpu->gated_delta_rule(in.q.data() + t0 * qk_row, in.k.data() + t0 * qk_row, in.v.data() + t0 * v_row,
                              in.alpha.data() + t0 * g_row, in.beta.data() + t0 * g_row, dt_w, a_w, n, sh,
                              cpu_result.state.data(), cpu_result.out.data() + t0 * v_row);
        cuda::gated_delta_rule(q.data() + t0 * qk_row, k.data() + t0 * qk_row, v.data() + t0 * v_row,
                               alpha.data() + t0 * g_row, beta.data() + t0 * g_row, dt.data(), a.data(), n, sh,
                               state.data(), out.data() + t0 * v_row, nullptr);
        t0 += n;
    }
    gpu_result.out = out.download(in.v.size());
    gpu_result.state = state.download(state0.size());
}

// The 80B shape: a 512-token prompt from a non-zero state, then three decode steps.
TEST(CudaDeltaNet, GatedDeltaRulePrefillThenDecode) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const DeltaNetShape sh{16, 32, 128, 128};
    const int64_t n_prefill = 512, n_decode = 3, n_tokens = n_prefill + n_decode;
    const DeltaInputs in = delta_inputs(sh, n_tokens, 40);
    const std::vector<float> state0 =
        random_floats((size_t)(sh.n_v_heads * sh.head_v_dim * sh.head_k_dim), 47, -0.5f, 0.5f);
    DeltaResult want, got;
    run_delta(sh, in, state0, {n_prefill, 1, 1, 1}, 0, want, got);

    const size_t split = (size_t)(n_prefill * sh.n_v_heads * sh.head_v_dim);
    const std::vector<float> want_prefill(want.out.begin(), want.out.begin() + (ptrdiff_t)split),
        got_prefill(got.out.begin(), got.out.begin() + (ptrdiff_t)split),
        want_decode(want.out.begin() + (ptrdiff_t)split, want.out.end()),
        got_decode(got.out.begin() + (ptrdiff_t)split, got.out.end());
    const double d_prefill = rel_diff(got_prefill, want_prefill), d_decode = rel_diff(got_decode, want_decode),
                 d_state = rel_diff(got.state, want.state);
    std::printf("gated_delta_rule %lld+%lld tokens: max rel diff prefill %.3g, decode %.3g, state %.3g\n",
                (long long)n_prefill, (long long)n_decode, d_prefill, d_decode, d_state);
    // The GPU sums each dot product in another order than the CPU (8 lanes of 4 partial sums, then a
    // butterfly); over 512 tokens the difference stays at rounding level (a host emulation of the
    // kernel's order on these inputs: 1.7e-7 prefill, 1.3e-7 decode and state).
    EXPECT_LT(d_prefill, 1e-5);
    EXPECT_LT(d_decode, 1e-5);
    EXPECT_LT(d_state, 1e-5);
}

// Tile edges: pieces that start and end inside a tile, for every tile size (head_k_dim 32 and 64:
// 32 tokens; 96: 21; 128: 16; 256: 8), head_v_dim not a multiple of the 32 rows of a block, and
// the unaligned path (inputs, state and output one float off 16-byte alignment).
TEST(CudaDeltaNet, GatedDeltaRuleTileEdges) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const DeltaNetShape shapes[] = {{2, 4, 32, 40}, {1, 2, 64, 24}, {1, 3, 96, 32}, {2, 2, 128, 48}, {1, 1, 256, 36}};
    const std::vector<int64_t> pieces = {37, 1, 21, 5, 16, 2};  // 82 tokens
    int64_t n_tokens = 0;
    for (int64_t n : pieces) n_tokens += n;
    for (const DeltaNetShape& sh : shapes) {
        for (size_t offset : {0, 1}) {
            SCOPED_TRACE("head_k_dim " + std::to_string(sh.head_k_dim) + ", head_v_dim " +
                         std::to_string(sh.head_v_dim) + ", offset " + std::to_string(offset));
            const DeltaInputs in = delta_inputs(sh, n_tokens, 50 + (uint32_t)sh.head_k_dim);
            const std::vector<float> state0 =
                random_floats((size_t)(sh.n_v_heads * sh.head_v_dim * sh.head_k_dim), 51, -0.5f, 0.5f);
            DeltaResult want, got;
            run_delta(sh, in, state0, pieces, offset, want, got);
            EXPECT_LT(rel_diff(got.out, want.out), 1e-5);
            EXPECT_LT(rel_diff(got.state, want.state), 1e-5);
        }
    }
}

// ssm_ba's output read as it is (DeltaNetShape::gates_interleaved, as qwen3next calls it) gives the
// same bits as the two gate arrays: the 80B shape (ratio 2) over a 40-token prefill (tiles of 16)
// and a decode step, and a ratio of 3.
TEST(CudaDeltaNet, InterleavedGatesEqualTwoArrays) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    for (const DeltaNetShape& sh : {DeltaNetShape{16, 32, 128, 128}, DeltaNetShape{2, 6, 64, 40}}) {
        SCOPED_TRACE("value heads " + std::to_string(sh.n_v_heads));
        const int64_t n_tokens = 41, ratio = sh.n_v_heads / sh.n_k_heads;
        const DeltaInputs in = delta_inputs(sh, n_tokens, 70);
        std::vector<float> ba((size_t)(n_tokens * 2 * sh.n_v_heads));
        for (int64_t t = 0; t < n_tokens; ++t)
            for (int64_t h = 0; h < sh.n_v_heads; ++h) {
                const int64_t row = (t * sh.n_k_heads + h / ratio) * 2 * ratio;
                ba[(size_t)(row + h % ratio)] = in.beta[(size_t)(t * sh.n_v_heads + h)];
                ba[(size_t)(row + ratio + h % ratio)] = in.alpha[(size_t)(t * sh.n_v_heads + h)];
            }
        DeltaNetShape inter = sh;
        inter.gates_interleaved = true;
        const std::vector<float> state0 = random_floats((size_t)(sh.n_v_heads * sh.head_v_dim * sh.head_k_dim), 71, -0.5f, 0.5f);
        const size_t v_row = (size_t)(sh.n_v_heads * sh.head_v_dim), qk_row = (size_t)(sh.n_k_heads * sh.head_k_dim);
        DeviceFloats q(in.q), k(in.k), v(in.v), alpha(in.alpha), beta(in.beta), gates(ba), dt(in.dt_bias), a(in.a);
        std::vector<float> results[2][2];  // [layout][out, state]
        for (int layout = 0; layout < 2; ++layout) {
            DeviceFloats state(state0), out(std::vector<float>(in.v.size(), 0.f));
            const DeltaNetShape& shape = layout ? inter : sh;
            const float* al = layout ? gates.data() + ratio : alpha.data();
            const float* be = layout ? gates.data() : beta.data();
            const int64_t g_row = layout ? 2 * sh.n_v_heads : sh.n_v_heads;
            cuda::gated_delta_rule(q.data(), k.data(), v.data(), al, be, dt.data(), a.data(), n_tokens - 1, shape,
                                   state.data(), out.data(), nullptr);
            const int64_t t = n_tokens - 1;  // then one decode step
            cuda::gated_delta_rule(q.data() + t * qk_row, k.data() + t * qk_row, v.data() + t * v_row, al + t * g_row,
                                   be + t * g_row, dt.data(), a.data(), 1, shape, state.data(), out.data() + t * v_row,
                                   nullptr);
            cuda::synchronize();
            results[layout][0] = out.download(in.v.size());
            results[layout][1] = state.download(state0.size());
        }
        EXPECT_EQ(results[1][0], results[0][0]);
        EXPECT_EQ(results[1][1], results[0][1]);
    }
}

// Times of the 80B shape's kernels (printed, not asserted): the 512-token prefill and a decode step
// of the delta rule, the convolution of 512 tokens.
TEST(CudaDeltaNet, PrintTimes) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    const DeltaNetShape sh{16, 32, 128, 128};
    const int64_t n_tokens = 512, n_channels = 2 * 16 * 128 + 32 * 128, n_taps = 4;
    const DeltaInputs in = delta_inputs(sh, n_tokens, 60);
    DeviceFloats q(in.q), k(in.k), v(in.v), alpha(in.alpha), beta(in.beta), dt(in.dt_bias), a(in.a),
        state(std::vector<float>((size_t)(sh.n_v_heads * sh.head_v_dim * sh.head_k_dim), 0.f)),
        out(std::vector<float>(in.v.size(), 0.f));
    DeviceFloats x(random_floats((size_t)(n_tokens * n_channels), 61)), kernel(random_floats((size_t)(n_taps * n_channels), 62)),
        conv_state(std::vector<float>((size_t)((n_taps - 1) * n_channels), 0.f)),
        conv_out(std::vector<float>((size_t)(n_tokens * n_channels), 0.f));
    auto time_us = [](int reps, auto&& launch) {
        launch();
        cuda::synchronize();
        const auto start = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) launch();
        cuda::synchronize();
        return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / reps;
    };
    const double prefill_us = time_us(10, [&] {
        cuda::gated_delta_rule(q.data(), k.data(), v.data(), alpha.data(), beta.data(), dt.data(), a.data(), n_tokens,
                               sh, state.data(), out.data(), nullptr);
    });
    const double decode_us = time_us(100, [&] {
        cuda::gated_delta_rule(q.data(), k.data(), v.data(), alpha.data(), beta.data(), dt.data(), a.data(), 1, sh,
                               state.data(), out.data(), nullptr);
    });
    const double conv_us = time_us(10, [&] {
        cuda::causal_conv1d_silu(x.data(), kernel.data(), n_taps, n_channels, n_tokens, conv_state.data(),
                                 conv_out.data(), nullptr);
    });
    const double conv_decode_us = time_us(100, [&] {
        cuda::causal_conv1d_silu(x.data(), kernel.data(), n_taps, n_channels, 1, conv_state.data(), conv_out.data(),
                                 nullptr);
    });
    std::printf("%s: gated_delta_rule %lld tokens %.1f us (%.3f us/token), 1 token %.1f us; causal_conv1d_silu "
                "%lld tokens x %lld channels %.1f us, 1 token %.1f us (launches back to back, host-timed)\n",
                cuda::device_info().name.c_str(), (long long)n_tokens, prefill_us, prefill_us / (double)n_tokens,
                decode_us, (long long)n_tokens, (long long)n_channels, conv_us, conv_decode_us);
}

// The convolution at the real width, from a non-zero state: a 512-token prompt, then single tokens
// and a piece shorter than the K-1 kept rows; also K = 11 taps (10 kept rows: more than the 8
// tokens a thread takes by default).
TEST(CudaDeltaNet, CausalConvPrefillThenDecode) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    ThreadPool pool(2);
    auto cpu = cpu::make_cpu_ops(pool);
    struct Case {
        int64_t n_taps, n_channels;
        std::vector<int64_t> pieces;
    };
    const Case cases[] = {{4, 8192, {512, 1, 1, 2, 1}}, {11, 300, {40, 3, 1, 25}}};
    for (const Case& c : cases) {
        SCOPED_TRACE(std::to_string(c.n_taps) + " taps");
        int64_t n_tokens = 0;
        for (int64_t n : c.pieces) n_tokens += n;
        const std::vector<float> w = random_floats((size_t)(c.n_taps * c.n_channels), 70);
        const Weight kernel = f32_weight("ssm_conv1d", c.n_taps, c.n_channels, w);
        const std::vector<float> x = random_floats((size_t)(n_tokens * c.n_channels), 71, -2.f, 2.f);
        std::vector<float> cpu_state = random_floats((size_t)((c.n_taps - 1) * c.n_channels), 72, -2.f, 2.f);
        std::vector<float> want(x.size());
        DeviceFloats dx(x), dw(w), state(cpu_state), out(std::vector<float>(x.size(), NAN));
        int64_t t0 = 0;
        for (int64_t n : c.pieces) {
            cpu->causal_conv1d_silu(x.data() + t0 * c.n_channels, kernel, n, cpu_state.data(),
                                    want.data() + t0 * c.n_channels);
            cuda::causal_conv1d_silu(dx.data() + t0 * c.n_channels, dw.data(), c.n_taps, c.n_channels, n,
                                     state.data(), out.data() + t0 * c.n_channels, nullptr);
            t0 += n;
        }
        EXPECT_LT(rel_diff(out.download(x.size()), want), 1e-6);
        // The kept state is the last K-1 input rows, exactly (more than K-1 tokens in all).
        const std::vector<float> last(x.end() - (c.n_taps - 1) * c.n_channels, x.end());
        EXPECT_EQ(state.download(last.size()), last);
        EXPECT_EQ(cpu_state, last);
    }
}

}  // namespace
}  // namespace shootout
