// The register-tiled matmul kernels against the kernel table's vec_dot, output by output: the
// quantized tiles must give the same floats bit for bit, the float tiles the same sums up to the
// order of F32 additions. Shapes leave partial tiles in both directions (rows % 4, tokens % T).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/matmul_tiles.h"
#include "backend/cpu/type_kernels.h"
#include "quant/type_table.h"

namespace shootout {
namespace {

using quant::TypeId;

void check_tiles(TypeId type, int64_t n_in, int64_t n_rows, int64_t n_tokens, bool exact) {
    SCOPED_TRACE(quant::traits(type).name);
    const cpu::TileMatmul tile = cpu::find_tile_matmul(type, n_in);
    if (!tile) GTEST_SKIP() << "no tiled kernel for this type in this build (no AVX2)";
    const cpu::TypeKernels& k = cpu::kernels(type);
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> w_values((size_t)(n_in * n_rows)), x((size_t)(n_in * n_tokens));
    for (auto& v : w_values) v = dist(rng);
    for (auto& v : x) v = dist(rng) * 3.0f;

    const size_t w_row_bytes = quant::row_size_bytes(type, n_in);
    std::vector<uint8_t> w(w_row_bytes * n_rows);
    quant::traits(type).quantize_rows(w_values.data(), w.data(), n_rows, n_in, nullptr);
    const size_t x_row_bytes = quant::row_size_bytes(k.vec_dot_type, n_in);
    std::vector<uint8_t> xq(x_row_bytes * n_tokens);
    for (int64_t t = 0; t < n_tokens; ++t) k.from_float(x.data() + t * n_in, xq.data() + t * x_row_bytes, n_in);

    const int64_t y_stride = n_rows + 3;  // a block of rows inside a wider output
    std::vector<float> y((size_t)(y_stride * n_tokens), NAN);
    tile(w.data(), w_row_bytes, n_rows, xq.data(), x_row_bytes, n_tokens, n_in, y.data(), y_stride);
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < n_rows; ++r) {
            float expected;
            k.vec_dot(n_in, &expected, w.data() + r * w_row_bytes, xq.data() + t * x_row_bytes);
            const float got = y[t * y_stride + r];
            if (exact)
                ASSERT_EQ(got, expected) << "row " << r << " token " << t;
            else
                ASSERT_NEAR(got, expected, 1e-5f * std::sqrt((float)n_in) * (1.0f + std::fabs(expected)))
                    << "row " << r << " token " << t;
        }
        for (int64_t r = n_rows; r < y_stride; ++r) ASSERT_TRUE(std::isnan(y[t * y_stride + r])) << "wrote past the rows";
    }
}

TEST(MatmulTiles, Q4_0) { check_tiles(TypeId::Q4_0, 256, 11, 7, true); }
TEST(MatmulTiles, Q8_0) { check_tiles(TypeId::Q8_0, 160, 9, 5, true); }
TEST(MatmulTiles, Q4_1) { check_tiles(TypeId::Q4_1, 576, 13, 3, true); }
// K-quants: two super-blocks or more, rows and tokens both leaving partial tiles.
TEST(MatmulTiles, Q4_K) { check_tiles(TypeId::Q4_K, 512, 11, 7, true); }
TEST(MatmulTiles, Q5_K) { check_tiles(TypeId::Q5_K, 768, 6, 5, true); }
TEST(MatmulTiles, Q6_K) { check_tiles(TypeId::Q6_K, 512, 13, 3, true); }
TEST(MatmulTiles, BF16) { check_tiles(TypeId::BF16, 520, 10, 8, false); }
TEST(MatmulTiles, F16) { check_tiles(TypeId::F16, 96, 7, 4, false); }
TEST(MatmulTiles, F32) { check_tiles(TypeId::F32, 64, 5, 11, false); }

}  // namespace
}  // namespace shootout
