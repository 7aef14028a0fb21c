// The CPU kernel table: for each weight type its vec_dot_type (as ggml's CPU backend pairs them),
// the activation conversion, and the dot product, AVX2 where the build has it, else scalar.
// Activations are converted as ggml's x86 CPU backend converts them (activation_conversion.h: its own
// Q8_0/Q8_1 quantizer, the reference one for Q8_K, RNE fp16/bf16), scalar and AVX2 alike, so a CPU
// matmul is defined by the format alone.
#include "backend/cpu/type_kernels.h"

#include <cstring>

#include "backend/cpu/activation_conversion.h"
#include "backend/cpu/vec_dot.h"
#include "backend/cpu/vec_dot_more.h"
#include "util/error.h"

namespace shootout::cpu {
namespace {

using quant::TypeId;

template <TypeId Id>
void convert_with_table(const float* src, void* dst, int64_t n) {
    static const auto convert = quant::traits(Id).from_float_ref;  // looked up once
    convert(src, dst, n);
}

void f32_copy(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, (size_t)n * sizeof(float)); }

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
#define PICK(type) dot::type##_avx2
#else
#define PICK(type) dot::type##_scalar
#endif

const TypeKernels kKernels[] = {
    {TypeId::F32, TypeId::F32, f32_copy, PICK(f32)},
    {TypeId::F16, TypeId::F16, convert_with_table<TypeId::F16>, PICK(f16)},
    {TypeId::BF16, TypeId::BF16, convert_with_table<TypeId::BF16>, PICK(bf16)},
    {TypeId::Q4_0, TypeId::Q8_0, dot::q8_0_from_float_scalar, PICK(q4_0)},
    {TypeId::Q5_0, TypeId::Q8_0, dot::q8_0_from_float_scalar, PICK(q5_0)},
    {TypeId::Q8_0, TypeId::Q8_0, dot::q8_0_from_float_scalar, PICK(q8_0)},
    {TypeId::Q4_1, TypeId::Q8_1, dot::q8_1_from_float_scalar, PICK(q4_1)},
    {TypeId::Q5_1, TypeId::Q8_1, dot::q8_1_from_float_scalar, PICK(q5_1)},
    {TypeId::Q2_K, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(q2_k)},
    {TypeId::Q3_K, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(q3_k)},
    {TypeId::Q4_K, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(q4_k)},
    {TypeId::Q5_K, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(q5_k)},
    {TypeId::Q6_K, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(q6_k)},
    {TypeId::MXFP4, TypeId::Q8_0, dot::q8_0_from_float_scalar, PICK(mxfp4)},
    {TypeId::IQ4_NL, TypeId::Q8_0, dot::q8_0_from_float_scalar, PICK(iq4_nl)},
    {TypeId::IQ4_XS, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(iq4_xs)},
    {TypeId::TQ1_0, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(tq1_0)},
    {TypeId::TQ2_0, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(tq2_0)},
    {TypeId::IQ3_XXS, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(iq3_xxs)},
    {TypeId::IQ3_S, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(iq3_s)},
    {TypeId::IQ2_XXS, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(iq2_xxs)},
    {TypeId::IQ2_XS, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(iq2_xs)},
    {TypeId::IQ2_S, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(iq2_s)},
    {TypeId::IQ1_S, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(iq1_s)},
    {TypeId::IQ1_M, TypeId::Q8_K, convert_with_table<TypeId::Q8_K>, PICK(iq1_m)},
};
#undef PICK

}  // namespace

const TypeKernels* find_kernels(quant::TypeId id) {
    for (const auto& row : kKernels)
        if (row.id == id) return &row;
    return nullptr;
}

const TypeKernels& kernels(quant::TypeId id) {
    const TypeKernels* row = find_kernels(id);
    if (!row) {
        const quant::TypeTraits* t = quant::find_type((uint32_t)id);
        fail("cpu", std::string("no CPU kernels for tensor type ") + (t ? t->name : std::to_string((uint32_t)id)));
    }
    return *row;
}

}  // namespace shootout::cpu
