// The type table's rows. Format facts (block size, bytes per block) are ggml's (ggml-common.h);
// the functions come from one file per family (families.h).
//
// Non-finite input: quantize_rows checks every element (and every importance weight) first and
// throws Error naming the row and column of the first NaN/Inf. ggml quantizes such input without
// complaint into blocks whose values are silently wrong (or NaN scales); we prefer a clear error.
// The check is one pass over the input, small next to any quantizer's cost.
#include "quant/type_table.h"

#include <array>
#include <cctype>
#include <cmath>

#include "quant/families.h"
#include "util/error.h"

namespace shootout::quant {
namespace {

using QuantizeRowsFn = size_t (*)(const float*, void*, int64_t, int64_t, const float*);

void require_finite(const char* type_name, const float* src, int64_t n_rows, int64_t n_per_row,
                    const float* importance) {
    for (int64_t row = 0; row < n_rows; ++row) {
        const float* x = src + row * n_per_row;
        for (int64_t col = 0; col < n_per_row; ++col)
            if (!std::isfinite(x[col]))
                fail("", std::string("cannot quantize to ") + type_name + ": row " + std::to_string(row) +
                             " column " + std::to_string(col) + " is " + (std::isnan(x[col]) ? "NaN" : "Inf"));
    }
    if (importance)
        for (int64_t col = 0; col < n_per_row; ++col)
            if (!std::isfinite(importance[col]) || importance[col] < 0)
                fail("", std::string("cannot quantize to ") + type_name + ": importance weight of column " +
                             std::to_string(col) + " is " + std::to_string(importance[col]));
}

// quantize_rows as the table exposes it: checked input, then the family's quantizer. The type
// name is a template argument so that each row keeps a plain function pointer.
template <const char* TypeName, int64_t BlockSize, QuantizeRowsFn Quantize>
size_t checked_quantize_rows(const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                             const float* importance) {
    if (n_rows < 0 || n_per_row <= 0 || n_per_row % BlockSize != 0)
        fail("", std::string("cannot quantize to ") + TypeName + ": rows of " + std::to_string(n_per_row) +
                     " elements are not a multiple of its block size " + std::to_string(BlockSize));
    require_finite(TypeName, src, n_rows, n_per_row, importance);
    return Quantize(src, dst, n_rows, n_per_row, importance);
}

constexpr char kF32[] = "f32", kF16[] = "f16", kBF16[] = "bf16", kQ4_0[] = "q4_0", kQ4_1[] = "q4_1",
               kQ5_0[] = "q5_0", kQ5_1[] = "q5_1", kQ8_0[] = "q8_0", kQ2_K[] = "q2_K", kQ3_K[] = "q3_K",
               kQ4_K[] = "q4_K", kQ5_K[] = "q5_K", kQ6_K[] = "q6_K",
               kIQ4_NL[] = "iq4_nl", kIQ4_XS[] = "iq4_xs", kMXFP4[] = "mxfp4",
               kTQ1_0[] = "tq1_0", kTQ2_0[] = "tq2_0",
               kIQ3_XXS[] = "iq3_xxs", kIQ3_S[] = "iq3_s",
               kIQ2_XXS[] = "iq2_xxs", kIQ2_XS[] = "iq2_xs", kIQ2_S[] = "iq2_s",
               kIQ1_S[] = "iq1_s", kIQ1_M[] = "iq1_m";

using namespace family;
#define ROW_FNS(t, name, block) t##_to_float, t##_from_float_ref, checked_quantize_rows<name, block, t##_quantize_rows>

// Rows in ggml id order. Function pointers left null are filled by the families' files below.
const TypeTraits kTypes[] = {
    // id              name       block bytes quantized imatrix  to_float from_float_ref quantize_rows
    {TypeId::F32,     "f32",      1,   4,   false, false, f32_to_float, f32_from_float, checked_quantize_rows<kF32, 1, f32_quantize_rows>},
    {TypeId::F16,     "f16",      1,   2,   false, false, f16_to_float, f16_from_float, checked_quantize_rows<kF16, 1, f16_quantize_rows>},
    {TypeId::Q4_0,    "q4_0",     32,  18,  true,  false, ROW_FNS(q4_0, kQ4_0, 32)},
    {TypeId::Q4_1,    "q4_1",     32,  20,  true,  false, ROW_FNS(q4_1, kQ4_1, 32)},
    {TypeId::Q5_0,    "q5_0",     32,  22,  true,  false, ROW_FNS(q5_0, kQ5_0, 32)},
    {TypeId::Q5_1,    "q5_1",     32,  24,  true,  false, ROW_FNS(q5_1, kQ5_1, 32)},
    {TypeId::Q8_0,    "q8_0",     32,  34,  true,  false, ROW_FNS(q8_0, kQ8_0, 32)},
    {TypeId::Q8_1,    "q8_1",     32,  36,  true,  false, q8_1_to_float, q8_1_from_float_ref, nullptr},
    {TypeId::Q2_K,    "q2_K",     256, 84,  true,  false, ROW_FNS(q2_k, kQ2_K, 256)},
    {TypeId::Q3_K,    "q3_K",     256, 110, true,  false, ROW_FNS(q3_k, kQ3_K, 256)},
    {TypeId::Q4_K,    "q4_K",     256, 144, true,  false, ROW_FNS(q4_k, kQ4_K, 256)},
    {TypeId::Q5_K,    "q5_K",     256, 176, true,  false, ROW_FNS(q5_k, kQ5_K, 256)},
    {TypeId::Q6_K,    "q6_K",     256, 210, true,  false, ROW_FNS(q6_k, kQ6_K, 256)},
    {TypeId::Q8_K,    "q8_K",     256, 292, true,  false, q8_k_to_float, q8_k_from_float_ref, nullptr},
    {TypeId::IQ2_XXS, "iq2_xxs",  256, 66,  true,  true,  ROW_FNS(iq2_xxs, kIQ2_XXS, 256)},
    {TypeId::IQ2_XS,  "iq2_xs",   256, 74,  true,  true,  ROW_FNS(iq2_xs, kIQ2_XS, 256)},
    {TypeId::IQ3_XXS, "iq3_xxs",  256, 98,  true,  false, ROW_FNS(iq3_xxs, kIQ3_XXS, 256)},
    {TypeId::IQ1_S,   "iq1_s",    256, 50,  true,  true,  ROW_FNS(iq1_s, kIQ1_S, 256)},
    {TypeId::IQ4_NL,  "iq4_nl",   32,  18,  true,  false, ROW_FNS(iq4_nl, kIQ4_NL, 32)},
    {TypeId::IQ3_S,   "iq3_s",    256, 110, true,  false, ROW_FNS(iq3_s, kIQ3_S, 256)},
    {TypeId::IQ2_S,   "iq2_s",    256, 82,  true,  false, ROW_FNS(iq2_s, kIQ2_S, 256)},
    {TypeId::IQ4_XS,  "iq4_xs",   256, 136, true,  false, ROW_FNS(iq4_xs, kIQ4_XS, 256)},
    {TypeId::I8,      "i8",       1,   1,   false, false, nullptr, nullptr, nullptr},
    {TypeId::I16,     "i16",      1,   2,   false, false, nullptr, nullptr, nullptr},
    {TypeId::I32,     "i32",      1,   4,   false, false, nullptr, nullptr, nullptr},
    {TypeId::I64,     "i64",      1,   8,   false, false, nullptr, nullptr, nullptr},
    {TypeId::F64,     "f64",      1,   8,   false, false, nullptr, nullptr, nullptr},
    {TypeId::IQ1_M,   "iq1_m",    256, 56,  true,  false, ROW_FNS(iq1_m, kIQ1_M, 256)},
    {TypeId::BF16,    "bf16",     1,   2,   false, false, bf16_to_float, bf16_from_float, checked_quantize_rows<kBF16, 1, bf16_quantize_rows>},
    {TypeId::TQ1_0,   "tq1_0",    256, 54,  true,  false, ROW_FNS(tq1_0, kTQ1_0, 256)},
    {TypeId::TQ2_0,   "tq2_0",    256, 66,  true,  false, ROW_FNS(tq2_0, kTQ2_0, 256)},
    {TypeId::MXFP4,   "mxfp4",    32,  17,  true,  false, ROW_FNS(mxfp4, kMXFP4, 32)},
};
#undef ROW_FNS

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower((unsigned char)a[i]) != std::tolower((unsigned char)b[i])) return false;
    return true;
}

}  // namespace

const TypeTraits* find_type(uint32_t ggml_id) {
    for (const auto& row : kTypes)
        if ((uint32_t)row.id == ggml_id) return &row;
    return nullptr;
}

const TypeTraits& traits(TypeId id) {
    const TypeTraits* row = find_type((uint32_t)id);
    if (!row) fail("", "unknown tensor type id " + std::to_string((uint32_t)id));
    return *row;
}

const TypeTraits* find_type_by_name(std::string_view name) {
    for (const auto& row : kTypes)
        if (equal_ignoring_case(row.name, name)) return &row;
    return nullptr;
}

size_t row_size_bytes(TypeId id, int64_t n) {
    const TypeTraits& row = traits(id);
    if (n < 0 || n % row.block_size != 0)
        fail("", std::string("row of ") + std::to_string(n) + " elements is not a multiple of the " + row.name +
                     " block size " + std::to_string(row.block_size));
    return (size_t)(n / row.block_size) * row.bytes_per_block;
}

}  // namespace shootout::quant
