// The CPU matmul against a double-precision reference: weights dequantized with the type table,
// activations rounded through the weight type's vec_dot_type exactly as ggml rounds them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/type_kernels.h"
#include "quant/type_table.h"
#include "util/fp16.h"
#include "util/parallel.h"

namespace shootout {
namespace {

using quant::TypeId;

void check_matmul(TypeId type, int64_t n_in, int64_t n_out, int64_t n_tokens) {
    SCOPED_TRACE(quant::traits(type).name);
    const cpu::TypeKernels* k = cpu::find_kernels(type);
    ASSERT_NE(k, nullptr);
    std::mt19937 rng(42);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> w_values((size_t)(n_in * n_out)), x((size_t)(n_in * n_tokens));
    for (auto& v : w_values) v = dist(rng);
    for (auto& v : x) v = dist(rng);

    const auto& traits = quant::traits(type);
    const size_t row_bytes = quant::row_size_bytes(type, n_in);
    std::vector<uint8_t> w_bytes(row_bytes * n_out);
    traits.quantize_rows(w_values.data(), w_bytes.data(), n_out, n_in, nullptr);
    const backend::Weight w{"w", type, n_in, n_out, row_bytes, w_bytes.data()};

    ThreadPool pool(2);
    std::vector<uint8_t> scratch;
    std::vector<float> y((size_t)(n_out * n_tokens));
    cpu::matmul(pool, w, x.data(), n_tokens, y.data(), scratch);

    // Reference: what the weights and the vec_dot_type-rounded activations hold, summed in double.
    std::vector<float> w_deq(w_values.size()), x_deq(x.size());
    traits.to_float(w_bytes.data(), w_deq.data(), (int64_t)w_deq.size());
    const auto& act = quant::traits(k->vec_dot_type);
    std::vector<uint8_t> x_bytes(quant::row_size_bytes(k->vec_dot_type, n_in));
    for (int64_t t = 0; t < n_tokens; ++t) {
        k->from_float(x.data() + t * n_in, x_bytes.data(), n_in);
        act.to_float(x_bytes.data(), x_deq.data() + t * n_in, n_in);
    }
    // Q8_1 carries each block's sum s = d * sum(q) as F16, and ggml's Q4_1/Q5_1 dot uses that
    // rounded s for the weights' min term (m_w * s): add what the rounding changes.
    std::vector<double> s_rounding((size_t)(n_tokens * n_in / 32), 0.0);
    if (k->vec_dot_type == TypeId::Q8_1) {
        for (int64_t t = 0; t < n_tokens; ++t) {
            k->from_float(x.data() + t * n_in, x_bytes.data(), n_in);
            for (int64_t b = 0; b < n_in / 32; ++b) {
                const uint8_t* block = x_bytes.data() + b * 36;  // fp16 d, fp16 s, int8 qs[32]
                uint16_t d, s_stored;
                std::memcpy(&d, block, 2);
                std::memcpy(&s_stored, block + 2, 2);
                int sum_q = 0;
                for (int i = 0; i < 32; ++i) sum_q += (int8_t)block[4 + i];
                s_rounding[t * (n_in / 32) + b] = (double)fp16_to_fp32(s_stored) - (double)fp16_to_fp32(d) * sum_q;
            }
        }
    }
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t o = 0; o < n_out; ++o) {
            double sum = 0, magnitude = 0;
            for (int64_t i = 0; i < n_in; ++i) {
                const double term = (double)w_deq[o * n_in + i] * x_deq[t * n_in + i];
                sum += term;
                magnitude += std::fabs(term);
            }
            if (k->vec_dot_type == TypeId::Q8_1) {
                for (int64_t b = 0; b < n_in / 32; ++b) {
                    uint16_t m;  // Q4_1/Q5_1 blocks start with fp16 d, fp16 m
                    std::memcpy(&m, w_bytes.data() + o * row_bytes + b * traits.bytes_per_block + 2, 2);
                    sum += (double)fp16_to_fp32(m) * s_rounding[t * (n_in / 32) + b];
                }
            }
            // Float accumulation in the kernel (Q8_K: float block scales) over n_in terms.
            EXPECT_NEAR(y[t * n_out + o], sum, 2e-5 * magnitude + 1e-5) << "token " << t << " row " << o;
        }
    }
}

// Row counts that do not divide the row blocks, several tokens, two threads.
TEST(Matmul, F32) { check_matmul(TypeId::F32, 96, 37, 5); }
TEST(Matmul, BF16) { check_matmul(TypeId::BF16, 512, 41, 3); }
TEST(Matmul, F16) { check_matmul(TypeId::F16, 128, 300, 2); }
TEST(Matmul, Q8_0) { check_matmul(TypeId::Q8_0, 128, 53, 4); }
TEST(Matmul, Q4_0) { check_matmul(TypeId::Q4_0, 64, 70, 3); }
TEST(Matmul, Q4_1) { check_matmul(TypeId::Q4_1, 576, 29, 3); }
TEST(Matmul, Q5_1) { check_matmul(TypeId::Q5_1, 64, 17, 2); }
TEST(Matmul, Q4_K) { check_matmul(TypeId::Q4_K, 512, 33, 2); }
TEST(Matmul, Q6_K) { check_matmul(TypeId::Q6_K, 256, 20, 2); }

TEST(Matmul, ActivationsAreRoundedToTheVecDotType) {
    // BF16 weights of 1.0 make y the sum of the activations as BF16 rounds them, not as F32 holds them.
    const int64_t n_in = 32;
    std::vector<float> ones(n_in, 1.0f), x(n_in, 1.0f + 1.0f / 1024);  // not representable in BF16
    std::vector<uint8_t> w_bytes(quant::row_size_bytes(TypeId::BF16, n_in));
    quant::traits(TypeId::BF16).quantize_rows(ones.data(), w_bytes.data(), 1, n_in, nullptr);
    const backend::Weight w{"w", TypeId::BF16, n_in, 1, w_bytes.size(), w_bytes.data()};
    ThreadPool pool(1);
    std::vector<uint8_t> scratch;
    float y = 0;
    cpu::matmul(pool, w, x.data(), 1, &y, scratch);
    EXPECT_EQ(y, 32.0f);  // 1 + 2^-10 rounds to 1 in BF16 (8 mantissa bits)
}

}  // namespace
}  // namespace shootout
