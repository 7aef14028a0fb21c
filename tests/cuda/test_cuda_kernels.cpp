// Each CUDA product against the CPU reference: weights quantized by the reference quantizers
// (quant::traits(type).quantize_rows), dequantized by the reference to_float, dotted in double.
//
// Tolerances, from the formats:
//  - matvec on quantized weights converts the activations to the weight type's vec_dot_type exactly
//    as the CPU does (Q8_0, Q8_1, Q8_K: checked bit for bit by ActivationQuantization below).
//    Emulating that with the CPU's own conversion leaves only F32 accumulation order:
//    |err| <= 1e-4 * sum|w*x|. Against the unrounded activations the 8-bit rounding itself shows:
//    rms ~ 0.3 % of the result for Gaussian data, so the relative L2 error must stay under 3e-2.
//  - matvec on F16/BF16 weights is F32 throughout: |err| <= 2e-5 * sum|w*x| against the exact activations.
//  - gemm rounds weights and activations to F16 (BF16 for BF16 weights) and accumulates in F32: against
//    a reference that rounds the same way, |err| <= 1e-4 * sum|w*x|; against the unrounded one the
//    rounding shows (F16 2^-11, BF16 2^-8 relative per operand): relative L2 error under 1e-2.
//  - gemm_dequant: the CPU's vec_dot_type values of the activations and the dequantized weights, each
//    rounded to F16 (BF16 for BF16), F32 accumulation: |err| <= 1e-4 * sum|w*x| against that emulation.
// Outputs are poisoned (NaN bytes) before every launch, so an unwritten element fails the test.
#include <gtest/gtest.h>

#include "op_compare.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/type_kernels.h"
#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/iq_grids.h"
#include "backend/cuda/weight_layout.h"
#include "quant/block_formats.h"
#include "quant/iq2_lattice.h"
#include "quant/iq3_lattice.h"
#include "quant/type_table.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout {
namespace {

using quant::TypeId;
using test::gaussian;
using HostWeight = test::QuantizedWeight;
constexpr auto make_weight = test::make_quantized_weight;

const TypeId kTypes[] = {TypeId::F16,  TypeId::BF16, TypeId::Q8_0,  TypeId::Q4_0, TypeId::Q4_1,  TypeId::Q5_0,
                         TypeId::Q5_1, TypeId::Q4_K, TypeId::Q5_K,  TypeId::Q6_K, TypeId::MXFP4, TypeId::Q2_K,
                         TypeId::Q3_K, TypeId::IQ4_NL, TypeId::IQ4_XS,
                         TypeId::IQ2_XXS, TypeId::IQ2_XS, TypeId::IQ2_S, TypeId::IQ3_XXS, TypeId::IQ3_S,

                         TypeId::TQ2_0, TypeId::TQ1_0, TypeId::IQ1_S, TypeId::IQ1_M};

bool has_gpu() { return cuda::device_count() > 0; }

// The activations as the CPU multiplies them: converted to the weight type's vec_dot_type by the CPU
// backend's own conversion (its kernel table's from_float) and back to floats (F16/BF16/F32 weights:
// unchanged, the products see x).
std::vector<float> cpu_activations(TypeId weight_type, const std::vector<float>& x) {
    const TypeId vdt = cpu::kernels(weight_type).vec_dot_type;
    if (vdt == TypeId::F32 || vdt == TypeId::F16 || vdt == TypeId::BF16) return x;
    const auto& tr = quant::traits(vdt);
    std::vector<uint8_t> q(quant::row_size_bytes(vdt, (int64_t)x.size()));
    cpu::kernels(weight_type).from_float(x.data(), q.data(), (int64_t)x.size());
    std::vector<float> out(x.size());
    tr.to_float(q.data(), out.data(), (int64_t)x.size());
    return out;
}

std::vector<float> round_to(const std::vector<float>& v, bool bf16) {
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); ++i)
        out[i] = bf16 ? bf16_to_fp32(fp32_to_bf16(v[i])) : fp16_to_fp32(fp32_to_fp16(v[i]));
    return out;
}

// ref[t][o] = sum_i w[o][i] * x[t][i] in double; abs_sum the same over |w*x| (the F32 error scale).
void reference(const std::vector<float>& w, const std::vector<float>& x, int64_t n_in, int64_t n_out,
               int64_t n_tokens, std::vector<double>& ref, std::vector<double>& abs_sum) {
    ref.assign((size_t)(n_tokens * n_out), 0.0);
    abs_sum.assign(ref.size(), 0.0);
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t o = 0; o < n_out; ++o) {
            double s = 0, a = 0;
            for (int64_t i = 0; i < n_in; ++i) {
                const double p = (double)w[o * n_in + i] * x[t * n_in + i];
                s += p;
                a += std::fabs(p);
            }
            ref[t * n_out + o] = s;
            abs_sum[t * n_out + o] = a;
        }
}

double relative_l2(const std::vector<float>& y, const std::vector<double>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        num += (y[i] - ref[i]) * (y[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return std::sqrt(num / den);
}

// Runs the product on the device with a poisoned output and returns the result.
std::vector<float> run_on_device(const cuda::DeviceWeight& dw, const std::vector<float>& x, int64_t n_tokens,
                                 bool use_gemm, cuda::GemmTile tile = cuda::GemmTile::Auto, bool dequant = false) {
    cuda::DeviceBuffer dx(x.size() * sizeof(float)), dy((size_t)(n_tokens * dw.n_out) * sizeof(float));
    dx.upload(x.data(), x.size() * sizeof(float));
    dy.fill_bytes(0xFF);  // NaN
    cuda::Workspace ws;
    if (dequant) cuda::gemm_dequant(dw, dx.as<float>(), n_tokens, dy.as<float>(), ws);
    else if (use_gemm) cuda::gemm(dw, dx.as<float>(), n_tokens, dy.as<float>(), nullptr, tile);
    else cuda::matvec(dw, dx.as<float>(), n_tokens, dy.as<float>(), ws);
    cuda::synchronize();
    std::vector<float> y((size_t)(n_tokens * dw.n_out));
    dy.download(y.data(), y.size() * sizeof(float));
    return y;
}

class CudaKernels : public ::testing::TestWithParam<TypeId> {
protected:
    void SetUp() override {
        if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
    }
};

TEST_P(CudaKernels, MatvecMatchesReference) {
    const TypeId type = GetParam();
    const bool is_float = type == TypeId::F16 || type == TypeId::BF16;
    const int64_t n_in = 1024, n_out = 203;  // n_out not a multiple of the 4 rows per block
    const HostWeight hw = make_weight(type, n_in, n_out, 11 + (uint32_t)type);
    const cuda::DeviceWeight dw = cuda::upload_weight("test.weight", type, n_in, n_out, hw.bytes.data());
    for (int64_t n_tokens : {1, 2, 3, 5, 8}) {
        SCOPED_TRACE("n_tokens " + std::to_string(n_tokens));
        const std::vector<float> x = gaussian((size_t)(n_tokens * n_in), 100 + (uint32_t)n_tokens, 1.f);
        const std::vector<float> y = run_on_device(dw, x, n_tokens, false);
        std::vector<double> exact, exact_abs, emul, emul_abs;
        reference(hw.values, x, n_in, n_out, n_tokens, exact, exact_abs);
        if (is_float) {
            emul = exact;
            emul_abs = exact_abs;
        } else {
            reference(hw.values, cpu_activations(type, x), n_in, n_out, n_tokens, emul, emul_abs);
        }
        const double rtol = is_float ? 2e-5 : 1e-4;
        int bad = 0;
        for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_TRUE(std::isfinite(y[i])) << "element " << i << " not written";
            if (std::fabs(y[i] - emul[i]) > rtol * emul_abs[i] && bad++ < 5)
                ADD_FAILURE() << "element " << i << ": " << y[i] << " vs " << emul[i] << " (scale " << emul_abs[i] << ")";
        }
        EXPECT_LT(relative_l2(y, exact), is_float ? 1e-5 : 3e-2);
    }
}

TEST_P(CudaKernels, GemmMatchesReference) {
    const TypeId type = GetParam();
    const bool bf16 = type == TypeId::BF16;
    const int64_t n_in = 512, n_out = 200;  // n_out not a multiple of the 128-row tile
    const HostWeight hw = make_weight(type, n_in, n_out, 21 + (uint32_t)type);
    const cuda::DeviceWeight dw = cuda::upload_weight("test.weight", type, n_in, n_out, hw.bytes.data());
    const std::vector<float> w_rounded = round_to(hw.values, bf16);
    for (int64_t n_tokens : {1, 9, 130, 300}) {  // partial token tiles, more than one tile
        for (cuda::GemmTile tile : {cuda::GemmTile::Rows64, cuda::GemmTile::Rows128}) {
            SCOPED_TRACE("n_tokens " + std::to_string(n_tokens) +
                         (tile == cuda::GemmTile::Rows64 ? ", 64-row tiles" : ", 128-row tiles"));
            const std::vector<float> x = gaussian((size_t)(n_tokens * n_in), 200 + (uint32_t)n_tokens, 1.f);
            const std::vector<float> y = run_on_device(dw, x, n_tokens, true, tile);
            std::vector<double> exact, exact_abs, emul, emul_abs;
            reference(hw.values, x, n_in, n_out, n_tokens, exact, exact_abs);
            reference(w_rounded, round_to(x, bf16), n_in, n_out, n_tokens, emul, emul_abs);
            int bad = 0;
            for (size_t i = 0; i < y.size(); ++i) {
                ASSERT_TRUE(std::isfinite(y[i])) << "element " << i << " not written";
                if (std::fabs(y[i] - emul[i]) > 1e-4 * emul_abs[i] && bad++ < 5)
                    ADD_FAILURE() << "element " << i << ": " << y[i] << " vs " << emul[i] << " (scale " << emul_abs[i] << ")";
            }
            EXPECT_LT(relative_l2(y, exact), 1e-2);
        }
    }
}

TEST_P(CudaKernels, GemmDequantMatchesCpuActivations) {
    const TypeId type = GetParam();
    const bool bf16 = type == TypeId::BF16;
    const int64_t n_in = 512, n_out = 200;
    const HostWeight hw = make_weight(type, n_in, n_out, 31 + (uint32_t)type);
    const cuda::DeviceWeight dw = cuda::upload_weight("test.weight", type, n_in, n_out, hw.bytes.data());
    const std::vector<float> w_rounded = round_to(hw.values, bf16);
    for (int64_t n_tokens : {9, 130, 300}) {
        SCOPED_TRACE("n_tokens " + std::to_string(n_tokens));
        std::vector<float> x = gaussian((size_t)(n_tokens * n_in), 300 + (uint32_t)n_tokens, 1.f);
        for (int64_t i = 0; i < 64; ++i) x[(size_t)i] = 0.f;  // an all-zero block (d = 0)
        const std::vector<float> y = run_on_device(dw, x, n_tokens, true, cuda::GemmTile::Auto, true);
        std::vector<double> exact, exact_abs, emul, emul_abs;
        reference(hw.values, x, n_in, n_out, n_tokens, exact, exact_abs);
        reference(w_rounded, round_to(cpu_activations(type, x), bf16), n_in, n_out, n_tokens, emul, emul_abs);
        int bad = 0;
        for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_TRUE(std::isfinite(y[i])) << "element " << i << " not written";
            if (std::fabs(y[i] - emul[i]) > 1e-4 * emul_abs[i] && bad++ < 5)
                ADD_FAILURE() << "element " << i << ": " << y[i] << " vs " << emul[i] << " (scale " << emul_abs[i] << ")";
        }
        EXPECT_LT(relative_l2(y, exact), bf16 ? 1e-2 : 3e-2);
    }
}

// Rows whose block count is not a multiple of 8 (16 for MXFP4): the device layout's last group of blocks is short
// (weight_layout.h), for the decode product and for the dequantization of the GEMM path alike.
TEST_P(CudaKernels, RowsEndingInAShortGroupOfBlocks) {
    const TypeId type = GetParam();
    const bool is_float = type == TypeId::F16 || type == TypeId::BF16;
    const int64_t n_in = (quant::traits(type).block_size == 256 ? 256 : 32) * 11, n_out = 37;
    const HostWeight hw = make_weight(type, n_in, n_out, 41 + (uint32_t)type);
    const cuda::DeviceWeight dw = cuda::upload_weight("test.weight", type, n_in, n_out, hw.bytes.data());
    EXPECT_EQ(dw.row_bytes % 16, 0u);
    for (int64_t n_tokens : {1, 3, 9}) {
        SCOPED_TRACE("n_tokens " + std::to_string(n_tokens));
        const bool dequant = n_tokens > cuda::kMaxMatvecTokens;
        const std::vector<float> x = gaussian((size_t)(n_tokens * n_in), 400 + (uint32_t)n_tokens, 1.f);
        const std::vector<float> y = run_on_device(dw, x, n_tokens, dequant, cuda::GemmTile::Auto, dequant);
        std::vector<double> emul, emul_abs;
        const std::vector<float> xa = is_float ? x : cpu_activations(type, x);
        if (dequant) {
            const bool bf16 = type == TypeId::BF16;
            reference(round_to(hw.values, bf16), round_to(xa, bf16), n_in, n_out, n_tokens, emul, emul_abs);
        } else {
            reference(hw.values, xa, n_in, n_out, n_tokens, emul, emul_abs);
        }
        const double rtol = is_float && !dequant ? 2e-5 : 1e-4;
        int bad = 0;
        for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_TRUE(std::isfinite(y[i])) << "element " << i << " not written";
            if (std::fabs(y[i] - emul[i]) > rtol * emul_abs[i] && bad++ < 5)
                ADD_FAILURE() << "element " << i << ": " << y[i] << " vs " << emul[i] << " (scale " << emul_abs[i] << ")";
        }
    }
}

// Q/K/V and gate/up as one launch (matvec_parts: the block finds its part by its index) give, bit
// for bit, what one matvec per weight gives: part boundaries that are not multiples of the 4 rows a
// block takes, 2 and 3 parts, 1 and several tokens.
TEST_P(CudaKernels, MatvecPartsEqualOneLaunchPerWeight) {
    const TypeId type = GetParam();
    const int64_t n_in = 512, n_outs[3] = {203, 37, 64};
    std::vector<cuda::DeviceWeight> dws;
    for (int i = 0; i < 3; ++i) {
        const HostWeight hw = make_weight(type, n_in, n_outs[i], 61 + 7 * (uint32_t)i + (uint32_t)type);
        dws.push_back(cuda::upload_weight("test.part" + std::to_string(i), type, n_in, n_outs[i], hw.bytes.data()));
    }
    for (int n_parts : {2, 3})
        for (int64_t n_tokens : {1, 3, 8}) {
            SCOPED_TRACE("parts " + std::to_string(n_parts) + ", n_tokens " + std::to_string(n_tokens));
            const std::vector<float> x = gaussian((size_t)(n_tokens * n_in), 500 + (uint32_t)n_tokens, 1.f);
            cuda::DeviceBuffer dx(x.size() * sizeof(float));
            dx.upload(x.data(), x.size() * sizeof(float));
            std::vector<cuda::DeviceBuffer> dys;
            const cuda::DeviceWeight* ws[3];
            float* ys[3];
            for (int i = 0; i < n_parts; ++i) {
                dys.emplace_back((size_t)(n_tokens * n_outs[i]) * sizeof(float));
                dys.back().fill_bytes(0xFF);  // NaN
                ws[i] = &dws[(size_t)i];
                ys[i] = dys.back().as<float>();
            }
            cuda::Workspace workspace;
            cuda::matvec_parts(ws, ys, n_parts, dx.as<float>(), n_tokens, workspace);
            cuda::synchronize();
            for (int i = 0; i < n_parts; ++i) {
                std::vector<float> y((size_t)(n_tokens * n_outs[i]));
                dys[(size_t)i].download(y.data(), y.size() * sizeof(float));
                const std::vector<float> alone = run_on_device(dws[(size_t)i], x, n_tokens, false);
                for (size_t k = 0; k < y.size(); ++k)
                    ASSERT_EQ(std::memcmp(&y[k], &alone[k], sizeof(float)), 0)
                        << "part " << i << " element " << k << ": " << y[k] << " vs " << alone[k];
            }
        }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaKernels, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<TypeId>& info) {
                             return std::string(quant::traits(info.param).name);
                         });

TEST(CudaKernelsApi, RejectsWhatItCannotRun) {
    if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
    // Q8_K is an activation type: no weight kernel will ever take it, so the test stays valid as
    // weight types gain kernels. The error names the tensor and the type.
    std::vector<uint8_t> bytes(quant::row_size_bytes(TypeId::Q8_K, 256) * 4);
    try {
        cuda::upload_weight("blk.0.q8k", TypeId::Q8_K, 256, 4, bytes.data());
        FAIL() << "upload_weight accepted Q8_K";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("blk.0.q8k"), std::string::npos) << what;
        EXPECT_NE(what.find("q8_K"), std::string::npos) << what;
    }
    std::vector<uint8_t> f16(2 * 48 * 4);
    EXPECT_THROW(cuda::upload_weight("blk.0.odd", TypeId::F16, 48, 4, f16.data()), Error);
    std::vector<uint8_t> q8(quant::row_size_bytes(TypeId::Q8_0, 64) * 4);
    const cuda::DeviceWeight dw = cuda::upload_weight("blk.0.q8", TypeId::Q8_0, 64, 4, q8.data());
    cuda::DeviceBuffer x(64 * 9 * sizeof(float)), y(4 * 9 * sizeof(float));
    cuda::Workspace ws;
    try {
        cuda::matvec(dw, x.as<float>(), 9, y.as<float>(), ws);
        FAIL() << "matvec accepted 9 tokens";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("blk.0.q8"), std::string::npos) << e.what();
    }
}

// MXFP4 blocks of random bytes: every nibble (the quantizer never writes 8, the table's second 0),
// exponents over 2^-16..2^8, against the CPU reference's to_float; the products as in the tests above
// (F16 holds these values exactly, so gemm_dequant sees the same weights as the CPU).
TEST(CudaKernelsApi, Mxfp4EveryNibbleAndExponent) {
    if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
    const int64_t n_in = 32 * 40, n_out = 70;  // 40 blocks: two groups of 16 and a short one
    std::vector<uint8_t> bytes(quant::row_size_bytes(TypeId::MXFP4, n_in) * (size_t)n_out);
    std::mt19937 rng(5);
    for (auto& b : bytes) b = (uint8_t)rng();
    auto* blocks = reinterpret_cast<quant::BlockMXFP4*>(bytes.data());
    for (int64_t i = 0; i < n_in / 32 * n_out; ++i) blocks[i].e = (uint8_t)(112 + rng() % 25);
    std::vector<float> w((size_t)(n_in * n_out));
    quant::traits(TypeId::MXFP4).to_float(bytes.data(), w.data(), n_in * n_out);
    const cuda::DeviceWeight dw = cuda::upload_weight("test.mxfp4", TypeId::MXFP4, n_in, n_out, bytes.data());
    for (int64_t n_tokens : {1, 4, 20}) {
        SCOPED_TRACE("n_tokens " + std::to_string(n_tokens));
        const bool dequant = n_tokens > cuda::kMaxMatvecTokens;
        const std::vector<float> x = gaussian((size_t)(n_tokens * n_in), 500 + (uint32_t)n_tokens, 1.f);
        const std::vector<float> y = run_on_device(dw, x, n_tokens, dequant, cuda::GemmTile::Auto, dequant);
        const std::vector<float> xa = cpu_activations(TypeId::MXFP4, x);
        std::vector<double> emul, emul_abs;
        reference(w, dequant ? round_to(xa, false) : xa, n_in, n_out, n_tokens, emul, emul_abs);
        int bad = 0;
        for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_TRUE(std::isfinite(y[i])) << "element " << i << " not written";
            if (std::fabs(y[i] - emul[i]) > 1e-4 * emul_abs[i] && bad++ < 5)
                ADD_FAILURE() << "element " << i << ": " << y[i] << " vs " << emul[i] << " (scale " << emul_abs[i] << ")";
        }
    }
}

// n_out rows (n_in wide) of `type` from random bytes, every block's F16 d replaced by a value of either
// sign over 2^-14..2^-6 (write_d puts it where the type keeps it), so the products stay finite while
// every other field takes every value the bytes can hold.
template <typename WriteD>
std::vector<uint8_t> random_blocks(TypeId type, int64_t n_in, int64_t n_out, uint32_t seed, WriteD write_d) {
    const size_t block_bytes = quant::traits(type).bytes_per_block;
    std::vector<uint8_t> bytes(quant::row_size_bytes(type, n_in) * (size_t)n_out);
    std::mt19937 rng(seed);
    for (auto& b : bytes) b = (uint8_t)rng();
    std::uniform_real_distribution<float> log2_d(-14.f, -6.f);
    for (size_t off = 0; off < bytes.size(); off += block_bytes) {
        const float d = std::exp2(log2_d(rng)) * (rng() % 2 ? 1.f : -1.f);
        write_d(bytes.data() + off, fp32_to_fp16(d));
    }
    return bytes;
}
void write_d_first(uint8_t* block, uint16_t h) { std::memcpy(block, &h, 2); }

// Those rows through matvec (1 and 4 tokens) and gemm_dequant (20 tokens, which sees the weights and
// activations rounded to F16) against the CPU reference's to_float and activations.
void expect_rows_match_cpu(TypeId type, const std::vector<uint8_t>& bytes, int64_t n_in, int64_t n_out, uint32_t x_seed) {
    std::vector<float> w((size_t)(n_in * n_out));
    quant::traits(type).to_float(bytes.data(), w.data(), n_in * n_out);
    const cuda::DeviceWeight dw = cuda::upload_weight("test.random_blocks", type, n_in, n_out, bytes.data());
    for (int64_t n_tokens : {1, 4, 20}) {
        SCOPED_TRACE("n_tokens " + std::to_string(n_tokens));
        const bool dequant = n_tokens > cuda::kMaxMatvecTokens;
        const std::vector<float> x = gaussian((size_t)(n_tokens * n_in), x_seed + (uint32_t)n_tokens, 1.f);
        const std::vector<float> y = run_on_device(dw, x, n_tokens, dequant, cuda::GemmTile::Auto, dequant);
        const std::vector<float> xa = cpu_activations(type, x);
        std::vector<double> emul, emul_abs;
        reference(dequant ? round_to(w, false) : w, dequant ? round_to(xa, false) : xa, n_in, n_out, n_tokens, emul,
                  emul_abs);
        int bad = 0;
        for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_TRUE(std::isfinite(y[i])) << "element " << i << " not written";
            if (std::fabs(y[i] - emul[i]) > 1e-4 * emul_abs[i] && bad++ < 5)
                ADD_FAILURE() << "element " << i << ": " << y[i] << " vs " << emul[i] << " (scale " << emul_abs[i] << ")";
        }
    }
}

// IQ4_NL / IQ4_XS from random bytes: every nibble, every 6-bit IQ4_XS scale, d of either sign; rows
// ending in a short group (11 / 43 blocks).
TEST(CudaKernelsApi, Iq4EveryNibbleAndScale) {
    if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
    for (TypeId type : {TypeId::IQ4_NL, TypeId::IQ4_XS}) {
        SCOPED_TRACE(quant::traits(type).name);
        const int64_t n_in = type == TypeId::IQ4_XS ? 256 * 11 : 32 * 43, n_out = 70;
        expect_rows_match_cpu(type, random_blocks(type, n_in, n_out, 7 + (uint32_t)type, write_d_first), n_in, n_out, 600);
    }
}

// The grid i-quants (IQ2_XXS..IQ3_S) from random bytes: every lattice point of each grid (the
// quantizer uses some of them only), every sign pattern, every 4-bit scale, IQ2_S's and IQ3_S's high
// index bits; 11 blocks a row, a short last group.
TEST(CudaKernelsApi, IqGridEveryPointSignAndScale) {
    if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
    for (TypeId type : {TypeId::IQ2_XXS, TypeId::IQ2_XS, TypeId::IQ2_S, TypeId::IQ3_XXS, TypeId::IQ3_S}) {
        SCOPED_TRACE(quant::traits(type).name);
        const int64_t n_in = 256 * 11, n_out = 70;
        expect_rows_match_cpu(type, random_blocks(type, n_in, n_out, 9 + (uint32_t)type, write_d_first), n_in, n_out, 700);
    }
}

// TQ2_0 / TQ1_0 / IQ1_S / IQ1_M from random bytes: every 2-bit level (TQ2_0's 3, which the quantizer
// never writes, included), every trit byte, every lattice index, shift sign and 3-bit scale (IQ1_M's
// d spread over the top nibbles of its 4 scale words); 11 blocks a row, a short last group.
TEST(CudaKernelsApi, TernaryAndIq1EveryCode) {
    if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
    for (TypeId type : {TypeId::TQ2_0, TypeId::TQ1_0, TypeId::IQ1_S, TypeId::IQ1_M}) {
        SCOPED_TRACE(quant::traits(type).name);
        const int64_t n_in = 256 * 11, n_out = 70;
        auto write_d = [type](uint8_t* blk, uint16_t h) {
            if (type == TypeId::IQ1_M) {  // nibble k of d in bits 12-15 of scale word k (bytes 48..55)
                for (int k = 0; k < 4; ++k) {
                    uint8_t& high = blk[48 + 2 * k + 1];
                    high = (uint8_t)((high & 0x0F) | (((h >> (4 * k)) & 0xF) << 4));
                }
            } else {  // d: TQ2_0 at byte 64, TQ1_0 at 52, IQ1_S first
                const size_t d_off = type == TypeId::TQ2_0 ? 64 : type == TypeId::TQ1_0 ? 52 : 0;
                std::memcpy(blk + d_off, &h, 2);
            }
        };
        expect_rows_match_cpu(type, random_blocks(type, n_in, n_out, 9 + (uint32_t)type, write_d), n_in, n_out, 700);
    }
}

TEST(CudaKernelsApi, DeviceQueryAnswersWithoutGpu) {
    // device_count never throws; with a device, its properties read back.
    const int n = cuda::device_count();
    EXPECT_GE(n, 0);
    if (n > 0) {
        const cuda::DeviceInfo info = cuda::device_info(0);
        EXPECT_FALSE(info.name.empty());
        EXPECT_GT(info.multiprocessors, 0);
    }
}

}  // namespace
}  // namespace shootout

namespace shootout {
namespace {

// The device's vec_dot_type conversion against the CPU reference, bit for bit: every int8 and the
// scales the CPU stores. Inputs include an all-zero block, a block whose largest |x| occurs twice
// with opposite signs (Q8_K takes the first), values on rounding ties, and a wide dynamic range.
TEST(ActivationQuantization, BitExactWithCpu) {
    if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
    const int64_t n_tokens = 3, n_in = 1024, n = n_tokens * n_in;
    std::vector<float> x = gaussian((size_t)n, 77, 1.f);
    for (int64_t i = 0; i < 256; ++i) x[(size_t)i] = 0.f;
    x[300] = -4.f;
    x[301] = 4.f;
    for (int64_t i = 512; i < 768; ++i) x[(size_t)i] = (float)(i - 640) * 0.5f;  // halves: ties for q
    for (int64_t i = 1024; i < 1280; ++i) x[(size_t)i] *= std::ldexp(1.f, (int)(i % 40) - 20);
    cuda::DeviceBuffer dx((size_t)n * sizeof(float)), dq((size_t)n), dds((size_t)(n / 32) * 8);
    dx.upload(x.data(), (size_t)n * sizeof(float));
    // (activation type, its block type, a weight type the CPU converts activations to it for)
    for (auto [act, vdt, weight] : {std::tuple{cuda::ActivationType::Q8_0, TypeId::Q8_0, TypeId::Q4_0},
                                    std::tuple{cuda::ActivationType::Q8_1, TypeId::Q8_1, TypeId::Q4_1},
                                    std::tuple{cuda::ActivationType::Q8_K, TypeId::Q8_K, TypeId::Q4_K}}) {
        SCOPED_TRACE(quant::traits(vdt).name);
        dq.fill_bytes(0x55);
        cuda::quantize_activations(act, dx.as<float>(), n_tokens, n_in, dq.as<int8_t>(), dds.as<float2>(), nullptr);
        cuda::synchronize();
        std::vector<int8_t> qs((size_t)n);
        std::vector<float> ds((size_t)(n / 32) * 2);
        dq.download(qs.data(), qs.size());
        dds.download(ds.data(), ds.size() * sizeof(float));
        std::vector<uint8_t> ref(quant::row_size_bytes(vdt, n));
        ASSERT_EQ(cpu::kernels(weight).vec_dot_type, vdt);
        cpu::kernels(weight).from_float(x.data(), ref.data(), n);
        int bad = 0;
        for (int64_t b = 0; b < n / 32; ++b) {
            const int8_t* ref_q;
            float ref_d, ref_s = 0.f;
            if (vdt == TypeId::Q8_K) {
                const auto* blk = reinterpret_cast<const quant::BlockQ8_K*>(ref.data()) + b / 8;
                ref_q = blk->qs + 32 * (b % 8);
                ref_d = blk->d;
                int sum = 0;
                for (int i = 0; i < 32; ++i) sum += ref_q[i];
                ref_s = ref_d * (float)sum;
            } else if (vdt == TypeId::Q8_1) {
                const auto* blk = reinterpret_cast<const quant::BlockQ8_1*>(ref.data()) + b;
                ref_q = blk->qs;
                ref_d = fp16_to_fp32(blk->d);
                ref_s = fp16_to_fp32(blk->s);
            } else {
                const auto* blk = reinterpret_cast<const quant::BlockQ8_0*>(ref.data()) + b;
                ref_q = blk->qs;
                ref_d = fp16_to_fp32(blk->d);
                int sum = 0;
                for (int i = 0; i < 32; ++i) sum += ref_q[i];
                ref_s = ref_d * (float)sum;
            }
            for (int i = 0; i < 32; ++i)
                if (qs[(size_t)(b * 32 + i)] != ref_q[i] && bad++ < 5)
                    ADD_FAILURE() << "element " << b * 32 + i << " (x " << x[(size_t)(b * 32 + i)] << "): q "
                                  << (int)qs[(size_t)(b * 32 + i)] << " vs " << (int)ref_q[i];
            EXPECT_EQ(ds[(size_t)(2 * b)], ref_d) << "block " << b;
            EXPECT_EQ(ds[(size_t)(2 * b + 1)], ref_s) << "block " << b;
        }
        EXPECT_EQ(bad, 0);
    }
}

// The device kernels' lattice tables (iq_grids.h, which initializes the __device__ copies) equal the
// CPU's dequantization grids entry for entry (no GPU needed).
template <TypeId T, typename Word>
void expect_grid_equal(const Word* cpu_grid, int n_points) {
    constexpr auto table = cuda::iq_grid_table<T>();
    static_assert(sizeof(table.points[0]) == sizeof(Word));
    ASSERT_EQ((int)(sizeof(table.points) / sizeof(Word)), n_points);
    for (int k = 0; k < n_points; ++k) {
        ASSERT_EQ(table.points[k], cpu_grid[k]) << quant::traits(T).name << " point " << k;
        // iq_apply_signs4 negates a byte v as (v ^ 0xFF) + 1, which carries into the next byte for v = 0.
        for (int j = 0; j < (int)sizeof(Word); ++j)
            ASSERT_NE((table.points[k] >> (8 * j)) & 0xFF, 0u) << quant::traits(T).name << " point " << k;
    }
}
TEST(CudaWeightLayout, IqGridTablesEqualTheCpuGrids) {
    expect_grid_equal<TypeId::IQ2_XXS>(quant::iq2xxs_grid(), 256);
    expect_grid_equal<TypeId::IQ2_XS>(quant::iq2xs_grid(), 512);
    expect_grid_equal<TypeId::IQ2_S>(quant::iq2s_grid(), 1024);
    expect_grid_equal<TypeId::IQ3_XXS>(quant::iq3xxs_grid(), 256);
    expect_grid_equal<TypeId::IQ3_S>(quant::iq3s_grid(), 512);
}

// The device layout keeps every byte of every block where grouped_layout() says it is, and rows
// 16-byte aligned, of the GGUF size when their block count is a multiple of 8 (no GPU needed). The
// fields of a regrouped type cover its GGUF block, each byte once, and its quant bytes (main) and
// head arrays start 16-byte aligned where the decode units load them 16 bytes at a time.
TEST(CudaWeightLayout, RegroupedRowsHoldEveryBlockField) {
    for (TypeId type : kTypes) {
        const cuda::GroupedLayout L = cuda::grouped_layout(type);
        const int64_t block_elems = quant::traits(type).block_size;
        if (L.grouped) {
            SCOPED_TRACE(quant::traits(type).name);
            EXPECT_EQ(L.block_bytes, (int)quant::traits(type).bytes_per_block);
            std::vector<int> covered((size_t)L.block_bytes, 0);
            for (int f = 0; f <= L.n_head; ++f) {
                const cuda::BlockField field = f < L.n_head ? L.head[f] : L.main;
                ASSERT_LE(field.src_offset + field.bytes, L.block_bytes);
                for (int k = 0; k < field.bytes; ++k) ++covered[(size_t)(field.src_offset + k)];
            }
            for (int k = 0; k < L.block_bytes; ++k) EXPECT_EQ(covered[(size_t)k], 1) << "byte " << k;
            EXPECT_EQ(L.head_bytes() % 16, 0);
            EXPECT_EQ(L.main.bytes % 16, 0);
            EXPECT_EQ(L.group_bytes(), L.head_bytes() + L.group_blocks() * L.main.bytes);
        }
        for (int64_t n_blocks : {1, 5, 8, 16, 19, 32, 37}) {
            SCOPED_TRACE(std::string(quant::traits(type).name) + ", " + std::to_string(n_blocks) + " blocks");
            const int64_t n_in = n_blocks * (block_elems == 1 ? 32 : block_elems), n_out = 3;
            const size_t gguf_row = quant::row_size_bytes(type, n_in), dev_row = cuda::device_row_bytes(type, n_in);
            std::vector<uint8_t> src(gguf_row * n_out);
            std::mt19937 rng((uint32_t)(n_blocks * 100 + (int)type));
            for (auto& b : src) b = (uint8_t)rng();
            std::vector<uint8_t> dst(dev_row * n_out, 0xEE);
            cuda::to_device_layout(type, n_in, n_out, src.data(), dst.data());
            if (!L.grouped) {
                EXPECT_EQ(dev_row, gguf_row);
                EXPECT_EQ(dst, src);
                continue;
            }
            if (n_blocks % L.group_blocks() == 0) {
                EXPECT_EQ(dev_row, gguf_row);
            }
            // The head fields and the main part cover every byte of a block exactly once.
            std::vector<int> covered((size_t)L.block_bytes, 0);
            for (int f = 0; f < L.n_head; ++f)
                for (int k = 0; k < L.head[f].bytes; ++k) ++covered[(size_t)(L.head[f].src_offset + k)];
            for (int k = 0; k < L.main.bytes; ++k) ++covered[(size_t)(L.main.src_offset + k)];
            EXPECT_EQ(covered, std::vector<int>((size_t)L.block_bytes, 1));
            EXPECT_EQ((size_t)L.block_bytes, quant::traits(type).bytes_per_block);
            EXPECT_EQ(dev_row % 16, 0u);
            EXPECT_LT(dev_row, gguf_row + (size_t)L.head_bytes());
            for (int64_t r = 0; r < n_out; ++r)
                for (int64_t b = 0; b < n_blocks; ++b) {
                    const uint8_t* block = src.data() + r * gguf_row + b * L.block_bytes;
                    const uint8_t* group = dst.data() + r * dev_row + (b / L.group_blocks()) * L.group_bytes();
                    const int i = (int)(b % L.group_blocks());
                    for (int f = 0; f < L.n_head; ++f)
                        for (int k = 0; k < L.head[f].bytes; ++k)
                            ASSERT_EQ(group[L.head_offset(f) + i * L.head[f].bytes + k], block[L.head[f].src_offset + k]);
                    for (int k = 0; k < L.main.bytes; ++k)
                        ASSERT_EQ(group[L.head_bytes() + i * L.main.bytes + k], block[L.main.src_offset + k]);
                }
        }
    }
}

}  // namespace
}  // namespace shootout
