// The int8 expert GEMM (cuda::moe_mmq, moe_mmq.cu) against a CPU reference in double: the weights
// quantized by the reference quantizers and dequantized by the reference to_float, the activations
// as the CPU multiplies them (converted to the weight type's vec_dot_type by the CPU backend's own
// conversion and back to floats). The kernel multiplies exactly those values (the GPU's
// quantize_activations is bit-exact with the CPU's, test_cuda_kernels), so only the F32 scale
// algebra and summation order remain: |err| <= 1e-4 * sum|w*x| per output, as the int8 matvec.
// Expert groups are built on the host: experts with 0, 1, 7, 33 and 70 rows (partial tiles of 32 and
// 64 grouped rows, an expert spanning two and three tiles), 96 rows per expert (a partial tile of 64
// weight rows), n_in 256 and 768, both tile widths (32 and 64 grouped rows). Outputs are poisoned
// with NaN: every grouped row of an active expert must be written, the rows past the last one (the
// ones a slot past n_active would write) must stay NaN. Needs a GPU; skips without one.
#include <gtest/gtest.h>

#include "op_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/type_kernels.h"
#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/moe_mmq.h"
#include "quant/block_formats.h"
#include "quant/type_table.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout {
namespace {

using quant::TypeId;
using test::gaussian;
using HostWeight = test::QuantizedWeight;
constexpr auto make_weight = test::make_quantized_weight;

const TypeId kMmqTypes[] = {TypeId::Q4_0, TypeId::Q4_1, TypeId::Q5_0, TypeId::Q5_1, TypeId::Q8_0,
                            TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K, TypeId::MXFP4};

// MXFP4 blocks of random bytes (every nibble, the quantizer never writes 8) with exponents over
// 2^-16..2^8.
HostWeight random_mxfp4(int64_t n_in, int64_t n_out, uint32_t seed) {
    HostWeight w;
    w.bytes.resize(quant::row_size_bytes(TypeId::MXFP4, n_in) * (size_t)n_out);
    std::mt19937 rng(seed);
    for (auto& b : w.bytes) b = (uint8_t)rng();
    auto* blocks = reinterpret_cast<quant::BlockMXFP4*>(w.bytes.data());
    for (int64_t i = 0; i < n_in / 32 * n_out; ++i) blocks[i].e = (uint8_t)(112 + rng() % 25);
    w.values.resize((size_t)(n_in * n_out));
    quant::traits(TypeId::MXFP4).to_float(w.bytes.data(), w.values.data(), n_in * n_out);
    return w;
}

// The activations as the CPU multiplies them: the CPU backend's conversion to the weight type's
// vec_dot_type (bytes: n_rows rows of n_in), and those blocks back to floats.
struct CpuActivations {
    std::vector<uint8_t> bytes;
    std::vector<float> values;
};
CpuActivations cpu_activations(TypeId weight_type, const std::vector<float>& x) {
    const TypeId vdt = cpu::kernels(weight_type).vec_dot_type;
    CpuActivations a;
    a.bytes.resize(quant::row_size_bytes(vdt, (int64_t)x.size()));
    cpu::kernels(weight_type).from_float(x.data(), a.bytes.data(), (int64_t)x.size());
    a.values.resize(x.size());
    quant::traits(vdt).to_float(a.bytes.data(), a.values.data(), (int64_t)x.size());
    return a;
}

// Q4_1 / Q5_1 against Q8_1: the CPU (ggml) multiplies a weight block's min m by the activation
// block's stored s (F16 of the unrounded d times sum q), not by the sum of the activation values it
// dequantizes to (F16 d times q); the difference (up to 4e-4 of sum|w*x| at n_in 256) is the CPU's,
// so the reference adds it: sum over blocks of m (s - d sum q). Zero for the other types.
template <typename Block>
double q8_1_min_term(const uint8_t* w_row, const uint8_t* x_row, int64_t n_in) {
    const auto* wb = reinterpret_cast<const Block*>(w_row);
    const auto* xb = reinterpret_cast<const quant::BlockQ8_1*>(x_row);
    double c = 0;
    for (int64_t b = 0; b < n_in / 32; ++b) {
        int sum = 0;
        for (int i = 0; i < 32; ++i) sum += xb[b].qs[i];
        const double values_sum = (double)fp16_to_fp32(xb[b].d) * sum;
        c += (double)fp16_to_fp32(wb[b].m) * ((double)fp16_to_fp32(xb[b].s) - values_sum);
    }
    return c;
}
double min_term(TypeId type, const uint8_t* w_row, const uint8_t* x_row, int64_t n_in) {
    if (type == TypeId::Q4_1) return q8_1_min_term<quant::BlockQ4_1>(w_row, x_row, n_in);
    if (type == TypeId::Q5_1) return q8_1_min_term<quant::BlockQ5_1>(w_row, x_row, n_in);
    return 0;
}

// One launch's shape: n_expert experts of rows_per_expert rows, n_tokens * n_used grouped-row slots,
// and the active experts as (expert, rows) in slot order.
struct Shape {
    int64_t n_in, rows_per_expert, n_expert, n_tokens, n_used;
    std::vector<std::pair<int32_t, int32_t>> active;
};

std::vector<int32_t> to_device(cuda::DeviceBuffer& buf, const std::vector<int32_t>& v) {
    buf = cuda::DeviceBuffer(v.size() * sizeof(int32_t));
    buf.upload(v.data(), v.size() * sizeof(int32_t));
    return v;
}

// Runs moe_mmq on `hw` (the stack) for `shape` and checks every output against the reference.
void check(TypeId type, const HostWeight& hw, const Shape& sh, uint32_t seed) {
    const std::string what = std::string(quant::traits(type).name) + ", n_in " + std::to_string(sh.n_in) + ", " +
                             std::to_string(sh.n_expert) + " experts";
    SCOPED_TRACE(what);
    const int64_t n_in = sh.n_in, rpe = sh.rows_per_expert, n_out = sh.n_expert * rpe;
    const cuda::DeviceWeight dw = cuda::upload_weight("blk.0.ffn_up_exps", type, n_in, n_out, hw.bytes.data());

    // Groups: the active slots in order, then slots past n_active that would write the rows past
    // the last grouped row (rows that must stay NaN) if the kernel did not stop at n_active.
    const int64_t n_slots = sh.n_tokens * sh.n_used, max_active = std::min(n_slots, sh.n_expert);
    std::vector<int32_t> expert, first, count;
    int32_t n_grouped = 0;
    for (auto [e, rows] : sh.active) {
        expert.push_back(e);
        first.push_back(n_grouped);
        count.push_back(rows);
        n_grouped += rows;
    }
    ASSERT_LE((int64_t)expert.size(), max_active);
    ASSERT_LT(n_grouped, n_slots);  // some rows must stay unwritten
    const int32_t n_active = (int32_t)expert.size();
    while ((int64_t)expert.size() < max_active) {
        expert.push_back((int32_t)(expert.size() % (size_t)sh.n_expert));
        first.push_back(n_grouped);
        count.push_back((int32_t)(n_slots - n_grouped));
    }
    cuda::DeviceBuffer d_expert, d_first, d_count, d_active;
    to_device(d_expert, expert);
    to_device(d_first, first);
    to_device(d_count, count);
    to_device(d_active, {n_active});
    const cuda::ExpertGroups groups{d_expert.as<int32_t>(), d_first.as<int32_t>(), d_count.as<int32_t>(),
                                    d_active.as<int32_t>()};

    // The grouped rows (with 8 rows of padding), rows of varying scale, quantized on the device.
    const int64_t n_x_rows = n_slots + 8;
    std::vector<float> x = gaussian((size_t)(n_x_rows * n_in), seed, 1.f);
    std::mt19937 rng(seed + 7);
    std::uniform_real_distribution<float> row_scale(0.1f, 4.f);
    for (int64_t r = 0; r < n_x_rows; ++r) {
        const float s = row_scale(rng);
        for (int64_t i = 0; i < n_in; ++i) x[(size_t)(r * n_in + i)] *= s;
    }
    cuda::DeviceBuffer dx(x.size() * sizeof(float)), dq(x.size()), dds(x.size() / 32 * sizeof(float) * 2);
    dx.upload(x.data(), x.size() * sizeof(float));
    cuda::quantize_activations(cuda::activation_type(type), dx.as<float>(), n_x_rows, n_in, dq.as<int8_t>(),
                               dds.as<float2>(), nullptr);

    cuda::DeviceBuffer dy((size_t)(n_slots * rpe) * sizeof(float));
    dy.fill_bytes(0xFF);  // NaN
    cuda::moe_mmq(dw, sh.n_expert, sh.n_tokens, sh.n_used, groups, dq.as<int8_t>(), dds.as<float2>(), dy.as<float>(),
                  nullptr);
    cuda::synchronize();
    std::vector<float> y((size_t)(n_slots * rpe));
    dy.download(y.data(), y.size() * sizeof(float));

    const CpuActivations xa = cpu_activations(type, x);
    const size_t w_row_bytes = quant::row_size_bytes(type, n_in);
    const size_t x_row_bytes = quant::row_size_bytes(cpu::kernels(type).vec_dot_type, n_in);
    int bad = 0;
    double worst = 0;
    for (size_t s = 0; s < sh.active.size(); ++s) {
        const int64_t e = expert[s];
        for (int64_t r = first[s]; r < first[s] + count[s]; ++r)
            for (int64_t o = 0; o < rpe; ++o) {
                const float* w = hw.values.data() + (e * rpe + o) * n_in;
                const float* xr = xa.values.data() + r * n_in;
                double ref = min_term(type, hw.bytes.data() + (size_t)(e * rpe + o) * w_row_bytes,
                                      xa.bytes.data() + (size_t)r * x_row_bytes, n_in);
                double abs_sum = 0;
                for (int64_t i = 0; i < n_in; ++i) {
                    const double p = (double)w[i] * xr[i];
                    ref += p;
                    abs_sum += std::fabs(p);
                }
                const float got = y[(size_t)(r * rpe + o)];
                const double err = std::fabs((double)got - ref);
                if (std::isfinite(got)) worst = std::max(worst, err / std::max(abs_sum, 1e-30));
                if (!(err <= 1e-4 * abs_sum) && bad++ < 5)
                    ADD_FAILURE() << "expert " << e << " grouped row " << r << " output " << o << ": " << got
                                  << " vs " << ref << " (sum|w*x| " << abs_sum << ")";
            }
    }
    int written = 0;
    for (size_t i = (size_t)n_grouped * (size_t)rpe; i < y.size(); ++i) written += !std::isnan(y[i]);
    EXPECT_EQ(written, 0) << "outputs written past the last grouped row";
    EXPECT_EQ(bad, 0);

    // The same products with the rows read in place through x_rows (as moe_group's row_token gives
    // them for a prompt): row r put at token position perm[r], converted there: bit for bit the same.
    std::vector<int32_t> perm((size_t)n_x_rows);
    for (size_t r = 0; r < perm.size(); ++r) perm[r] = (int32_t)r;
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<float> x_tok(x.size());
    for (int64_t r = 0; r < n_x_rows; ++r)
        std::copy_n(x.data() + r * n_in, n_in, x_tok.data() + (int64_t)perm[(size_t)r] * n_in);
    cuda::DeviceBuffer d_perm;
    to_device(d_perm, perm);
    dx.upload(x_tok.data(), x_tok.size() * sizeof(float));
    cuda::quantize_activations(cuda::activation_type(type), dx.as<float>(), n_x_rows, n_in, dq.as<int8_t>(),
                               dds.as<float2>(), nullptr);
    dy.fill_bytes(0xFF);
    cuda::moe_mmq(dw, sh.n_expert, sh.n_tokens, sh.n_used, groups, dq.as<int8_t>(), dds.as<float2>(), dy.as<float>(),
                  nullptr, d_perm.as<int32_t>());
    cuda::synchronize();
    std::vector<float> y_rows(y.size());
    dy.download(y_rows.data(), y_rows.size() * sizeof(float));
    int differ = 0;
    for (size_t i = 0; i < y.size(); ++i) differ += std::memcmp(&y[i], &y_rows[i], sizeof(float)) != 0;
    EXPECT_EQ(differ, 0) << "outputs that differ between gathered rows and rows read through x_rows";
    std::printf("moe_mmq %s: %d grouped rows, max |err| / sum|w*x| %.3g\n", what.c_str(), n_grouped, worst);
}

// 144 slots over 6 experts (24 a expert): 64-row tiles; 144 over 8 (18 a expert): 32-row tiles.
const Shape kWide{256, 96, 6, 72, 2, {{0, 1}, {2, 7}, {3, 33}, {4, 0}, {5, 70}}};
const Shape kNarrow{768, 96, 8, 72, 2, {{1, 70}, {3, 7}, {4, 0}, {6, 33}, {7, 1}}};
// A prompt as the MoE op gives it: 200 tokens x 3 of 8 experts, every expert ~75 rows (64-row tiles,
// a whole and a partial one each).
const Shape kPrompt{256, 64, 8, 200, 3, {{0, 75}, {1, 80}, {2, 70}, {3, 77}, {4, 72}, {5, 74}, {6, 76}, {7, 70}}};

class CudaMoeMmq : public ::testing::TestWithParam<TypeId> {
protected:
    void SetUp() override {
        if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    }
};

TEST_P(CudaMoeMmq, MatchesReference) {
    const TypeId type = GetParam();
    ASSERT_TRUE(cuda::moe_mmq_supports(type));
    for (const Shape* sh : {&kWide, &kNarrow, &kPrompt}) {
        const uint32_t seed = 100 * (uint32_t)type + (uint32_t)sh->n_in;
        check(type, make_weight(type, sh->n_in, sh->n_expert * sh->rows_per_expert, seed), *sh, seed + 1);
    }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaMoeMmq, ::testing::ValuesIn(kMmqTypes),
                         [](const ::testing::TestParamInfo<TypeId>& info) {
                             return std::string(quant::traits(info.param).name);
                         });

TEST(CudaMoeMmqApi, Mxfp4EveryNibbleAndExponent) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    check(TypeId::MXFP4, random_mxfp4(kNarrow.n_in, kNarrow.n_expert * kNarrow.rows_per_expert, 9), kNarrow, 10);
}

// Which types it takes (no device needed), and the refusal of another type naming the tensor.
TEST(CudaMoeMmqApi, SupportedTypes) {
    for (TypeId type : kMmqTypes) EXPECT_TRUE(cuda::moe_mmq_supports(type)) << quant::traits(type).name;
    for (TypeId type : {TypeId::F32, TypeId::F16, TypeId::BF16, TypeId::Q2_K, TypeId::Q3_K, TypeId::Q8_K,
                        TypeId::IQ4_NL, TypeId::IQ4_XS})
        EXPECT_FALSE(cuda::moe_mmq_supports(type)) << quant::traits(type).name;
    cuda::DeviceWeight empty;
    empty.name = "blk.3.ffn_down_exps";
    empty.type = TypeId::F16;
    empty.n_in = 256;
    empty.n_out = 64;
    try {
        cuda::moe_mmq(empty, 4, 1, 1, cuda::ExpertGroups{}, nullptr, nullptr, nullptr, nullptr);
        ADD_FAILURE() << "F16 stack accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("blk.3.ffn_down_exps"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace shootout
