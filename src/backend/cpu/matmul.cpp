// Matmul of a weight matrix in any type the CPU table knows by F32 activations, as ggml's CPU
// mul_mat does it: the activations are converted once to the weight type's vec_dot_type (so BF16
// weights see BF16-rounded activations, Q4_0 weights Q8_0 activations, ...), then each output is one
// vec_dot of a weight row, read in place from the mapped file, with a converted activation row.
#include <algorithm>

#include "backend/cpu/activation_conversion.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/matmul_tiles.h"
#include "backend/cpu/type_kernels.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::cpu {

namespace {

// A block of weight rows small enough to stay in L1 while every token's activation row streams by.
constexpr size_t kWeightBlockBytes = 16 * 1024;

}  // namespace

ActivationConversion find_activation_conversion(quant::TypeId vec_dot_type) {
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
    switch (vec_dot_type) {
        case quant::TypeId::Q8_0:
            return dot::q8_0_from_float_avx2;
        case quant::TypeId::Q8_1:
            return dot::q8_1_from_float_avx2;
        case quant::TypeId::Q8_K:
            return dot::q8_k_from_float_avx2;
        default:
            break;
    }
#else
    (void)vec_dot_type;
#endif
    return nullptr;
}

void matmul(ThreadPool& pool, const backend::Weight& w, const float* x, int64_t n_tokens, float* y,
            std::vector<uint8_t>& activation_scratch) {
    if (n_tokens <= 0 || w.n_out <= 0) return;
    const TypeKernels& k = kernels(w.type);
    const size_t x_row_bytes = quant::row_size_bytes(k.vec_dot_type, w.n_in);
    activation_scratch.resize(x_row_bytes * (size_t)n_tokens);
    uint8_t* xq = activation_scratch.data();

    // The AVX2 conversions give the same bytes as the table's scalar ones, only faster.
    const ActivationConversion fast = find_activation_conversion(k.vec_dot_type);
    const ActivationConversion from_float = fast ? fast : k.from_float;
    pool.parallel_for((size_t)n_tokens, [&](size_t begin, size_t end, int) {
        for (size_t t = begin; t < end; ++t) from_float(x + t * w.n_in, xq + t * x_row_bytes, w.n_in);
    });

    const TileMatmul tile = find_tile_matmul(w.type, w.n_in);
    int64_t rows_per_block = std::max<int64_t>(1, (int64_t)(kWeightBlockBytes / std::max<size_t>(1, w.row_bytes)));
    if (tile && rows_per_block > 4) rows_per_block -= rows_per_block % 4;  // whole 4-row tiles
    const int64_t n_blocks = (w.n_out + rows_per_block - 1) / rows_per_block;
    const int64_t n_in = w.n_in, n_out = w.n_out;
    pool.parallel_for((size_t)n_blocks, [&](size_t block_begin, size_t block_end, int) {
        for (size_t block = block_begin; block < block_end; ++block) {
            const int64_t row0 = (int64_t)block * rows_per_block;
            const int64_t row1 = std::min(n_out, row0 + rows_per_block);
            if (tile) {
                tile(w.data + (size_t)row0 * w.row_bytes, w.row_bytes, row1 - row0, xq, x_row_bytes, n_tokens, n_in,
                     y + row0, n_out);
                continue;
            }
            for (int64_t t = 0; t < n_tokens; ++t) {
                const uint8_t* xt = xq + (size_t)t * x_row_bytes;
                float* yt = y + t * n_out;
                for (int64_t r = row0; r < row1; ++r) k.vec_dot(n_in, yt + r, w.data + (size_t)r * w.row_bytes, xt);
            }
        }
    });
}

}  // namespace shootout::cpu
