// Expert-indexed products (moe_matvec.cuh): the launcher by type, and the instantiations of every
// type but the K-quants (moe_matvec_kquants.cu) and IQ4_NL / IQ4_XS (moe_matvec_iq4.cu).
#include <string>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/moe_matvec.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MOE_MATVEC(F16)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(BF16)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q8_0)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q4_0)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q4_1)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q5_0)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q5_1)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(MXFP4)

void moe_matvec(const DeviceWeight& stack, int64_t n_expert, int64_t n_tokens, int64_t max_active,
                const ExpertGroups& groups, const float* x, const int8_t* xq, const float2* xds, bool one_row,
                float* y, StreamHandle stream, const DeviceWeight* second, float* y2) {
    const int64_t rows_per_expert = expert_rows(stack, n_expert);
    if (max_active <= 0 || n_tokens <= 0) return;
    if (one_row && n_tokens != 1) fail(stack.name, "one shared row of activations needs a single token");
    if (second && (second->type != stack.type || second->n_in != stack.n_in || second->n_out != stack.n_out ||
                   second->row_bytes != stack.row_bytes))
        fail(second->name, "a second stack in one launch must match " + stack.name + " in type and shape");
    const uint8_t* w2 = second ? second->data.as<uint8_t>() : nullptr;
    const QuantizedX q{xq, xds, stack.n_in};
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    // PDL only for stacks no kernel writes: the kernels read them with non-coherent loads (pdl.cuh).
    const bool overlap = stack.immutable && (!second || second->immutable);
    const bool known = dispatch_type(stack.type, [&]<TypeId T>() {
        launch_moe_matvec<T>(stack, rows_per_expert, max_active, n_tokens, groups, x, q, one_row ? 0 : 1, y, w2, y2,
                             overlap, s);
    });
    if (!known) fail(stack.name, std::string("no CUDA expert product for type ") + quant::traits(stack.type).name);
    check_last_launch(("moe_matvec " + stack.name).c_str());
}

void moe_down_combine(const DeviceWeight& stack, int64_t n_expert, int64_t n_used, const int32_t* ids,
                      const int32_t* row_of_slot, const float* weights, const int8_t* hq, const float2* hds, float* out,
                      StreamHandle stream) {
    const int64_t rows_per_expert = expert_rows(stack, n_expert);
    if (n_used <= 0 || n_used > kMaxDownSlots || !matvec_quantizes_x(stack.type))
        fail(stack.name, "the fused down product takes 1.." + std::to_string(kMaxDownSlots) + " slots of an integer type");
    const QuantizedX h{hq, hds, stack.n_in};
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const bool known = dispatch_type(stack.type, [&]<TypeId T>() {
        launch_moe_down_combine<T>(stack, rows_per_expert, ids, row_of_slot, weights, (int)n_used, h, out, s);
    });
    if (!known) fail(stack.name, std::string("no CUDA expert product for type ") + quant::traits(stack.type).name);
    check_last_launch(("moe_down_combine " + stack.name).c_str());
}

}  // namespace shootout::cuda
