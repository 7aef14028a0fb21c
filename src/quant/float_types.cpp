// F32, F16, BF16: element-wise conversions. llama-quantize writes F16 with ggml_fp32_to_fp16_row and
// BF16 with ggml_fp32_to_bf16_row_ref, both the round-to-nearest-even of util/fp16.h.
#include <cstring>

#include "quant/families.h"
#include "util/fp16.h"

namespace shootout::quant::family {

void f32_to_float(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, (size_t)n * 4); }
void f32_from_float(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, (size_t)n * 4); }

void f16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
}

void f16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
}

void bf16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
}

// Plain floats ignore importance weights, as ggml_quantize_chunk does.
size_t f32_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float*) {
    f32_from_float(src, dst, n_rows * n_per_row);
    return (size_t)(n_rows * n_per_row) * 4;
}

size_t f16_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float*) {
    f16_from_float(src, dst, n_rows * n_per_row);
    return (size_t)(n_rows * n_per_row) * 2;
}

size_t bf16_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float*) {
    bf16_from_float(src, dst, n_rows * n_per_row);
    return (size_t)(n_rows * n_per_row) * 2;
}

}  // namespace shootout::quant::family
