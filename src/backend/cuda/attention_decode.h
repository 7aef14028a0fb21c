// What attention.cu takes from the decode step's kernel (attention_decode.cu): a one-token attention
// with no held-back rope and an F32 output, where attention_decode_supports(shape, F32).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/ops.h"

namespace shootout::cuda {

void attention_decode_plain(uint16_t* k_cache, uint16_t* v_cache, const float* q, const float* k, const float* v,
                            int64_t pos0, const backend::AttentionShape& shape, float scale, float* out,
                            cudaStream_t stream, const int64_t* pos0_device);

}  // namespace shootout::cuda
