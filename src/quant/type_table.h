// The table of tensor types: one row per GGML type, with its format facts (id, name, block size,
// bytes per block) and its reference quantize / dequantize. Format facts live here; each backend's
// kernels (vec_dot, GPU kernels) live in that backend's own table keyed by the same id, as ggml splits
// type_traits from type_traits_cpu. Adding a type touches one row here plus its kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shootout::quant {

// The numeric ids are ggml's (ggml.h enum ggml_type), as stored in GGUF tensor infos.
enum class TypeId : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
    IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct TypeTraits {
    TypeId id;
    const char* name;          // ggml's name: "f32", "q4_0", "q4_K", "bf16", ...
    int64_t block_size;        // elements per block (1 for plain floats)
    size_t bytes_per_block;
    bool is_quantized;         // false for F32/F16/BF16 and the integer types
    bool requires_imatrix;     // llama-quantize refuses IQ2_XXS, IQ2_XS, IQ1_S without one

    // Dequantize n elements (n a multiple of block_size). Null where the type has no float view.
    void (*to_float)(const void* src, float* dst, int64_t n);
    // Quantize n elements with ggml's quantize_row_*_ref (no importance weights).
    void (*from_float_ref)(const float* src, void* dst, int64_t n);
    // Quantize n_rows rows of n_per_row elements as ggml_quantize_chunk does for llama-quantize:
    // importance weights (one per column, may be null) as quantize_<type>() uses them.
    // Returns bytes written. Null where the type cannot be produced (e.g. Q8_1, Q8_K).
    size_t (*quantize_rows)(const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                            const float* importance);
};

// The row for a ggml type id, or nullptr for ids this build does not know.
const TypeTraits* find_type(uint32_t ggml_id);
// The row for a type; throws Error for an unknown id.
const TypeTraits& traits(TypeId id);
// Lookup by ggml name, case-insensitive ("Q4_K", "q4_k", "BF16"); nullptr when unknown.
const TypeTraits* find_type_by_name(std::string_view name);
// Bytes of one row of n elements; throws Error when n is not a multiple of the block size.
size_t row_size_bytes(TypeId id, int64_t n);

}  // namespace shootout::quant
