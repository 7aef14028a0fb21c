// The weight types with CUDA kernels, as an X-macro: the one list that dispatch_type
// (quant_blocks.cuh), the decode kernels' explicit instantiations (matvec_kernels.cuh,
// moe_matvec.cuh) and supports_type (device_buffer.cu) expand. A type joins with its kernels (its
// VecDot and Dequant16, its row layout in weight_layout.h, an instantiation file) and one entry here.
// Plain preprocessor, so host-only translation units can expand it too.
#pragma once

#define SHOOTOUT_CUDA_TYPES(X)                                                                                   \
    X(F16) X(BF16) X(Q8_0) X(Q4_0) X(Q4_1) X(Q5_0) X(Q5_1) X(Q2_K) X(Q3_K) X(Q4_K) X(Q5_K) X(Q6_K) X(MXFP4)  \
    X(IQ4_NL) X(IQ4_XS) X(IQ2_XXS) X(IQ2_XS) X(IQ2_S) X(IQ3_XXS) X(IQ3_S) X(TQ2_0) X(TQ1_0) X(IQ1_S) X(IQ1_M)
