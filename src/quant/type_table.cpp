// The type table's rows. Format facts (block size, bytes per block) are ggml's (ggml-common.h);
// the function pointers are filled in as each family's reference code lands.
#include "quant/type_table.h"

#include <array>
#include <cctype>

#include "util/error.h"

namespace shootout::quant {
namespace {

// Rows in ggml id order. Function pointers left null are filled by the families' files below.
const TypeTraits kTypes[] = {
    // id              name       block bytes quantized imatrix  to_float from_float_ref quantize_rows
    {TypeId::F32,     "f32",      1,   4,   false, false, nullptr, nullptr, nullptr},
    {TypeId::F16,     "f16",      1,   2,   false, false, nullptr, nullptr, nullptr},
    {TypeId::Q4_0,    "q4_0",     32,  18,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q4_1,    "q4_1",     32,  20,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q5_0,    "q5_0",     32,  22,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q5_1,    "q5_1",     32,  24,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q8_0,    "q8_0",     32,  34,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q8_1,    "q8_1",     32,  36,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q2_K,    "q2_K",     256, 84,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q3_K,    "q3_K",     256, 110, true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q4_K,    "q4_K",     256, 144, true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q5_K,    "q5_K",     256, 176, true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q6_K,    "q6_K",     256, 210, true,  false, nullptr, nullptr, nullptr},
    {TypeId::Q8_K,    "q8_K",     256, 292, true,  false, nullptr, nullptr, nullptr},
    {TypeId::IQ2_XXS, "iq2_xxs",  256, 66,  true,  true,  nullptr, nullptr, nullptr},
    {TypeId::IQ2_XS,  "iq2_xs",   256, 74,  true,  true,  nullptr, nullptr, nullptr},
    {TypeId::IQ3_XXS, "iq3_xxs",  256, 98,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::IQ1_S,   "iq1_s",    256, 50,  true,  true,  nullptr, nullptr, nullptr},
    {TypeId::IQ4_NL,  "iq4_nl",   32,  18,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::IQ3_S,   "iq3_s",    256, 110, true,  false, nullptr, nullptr, nullptr},
    {TypeId::IQ2_S,   "iq2_s",    256, 82,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::IQ4_XS,  "iq4_xs",   256, 136, true,  false, nullptr, nullptr, nullptr},
    {TypeId::I8,      "i8",       1,   1,   false, false, nullptr, nullptr, nullptr},
    {TypeId::I16,     "i16",      1,   2,   false, false, nullptr, nullptr, nullptr},
    {TypeId::I32,     "i32",      1,   4,   false, false, nullptr, nullptr, nullptr},
    {TypeId::I64,     "i64",      1,   8,   false, false, nullptr, nullptr, nullptr},
    {TypeId::F64,     "f64",      1,   8,   false, false, nullptr, nullptr, nullptr},
    {TypeId::IQ1_M,   "iq1_m",    256, 56,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::BF16,    "bf16",     1,   2,   false, false, nullptr, nullptr, nullptr},
    {TypeId::TQ1_0,   "tq1_0",    256, 54,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::TQ2_0,   "tq2_0",    256, 66,  true,  false, nullptr, nullptr, nullptr},
    {TypeId::MXFP4,   "mxfp4",    32,  17,  true,  false, nullptr, nullptr, nullptr},
};

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
