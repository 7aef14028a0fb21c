// Prefill products through cuBLAS: the weight is dequantized to F16 in the workspace (F16 and BF16
// weights are used in place), the activations are converted exactly as the CPU converts them to the
// weight's vec_dot_type (activation_quant.h) and stored as F16/BF16, and cuBLAS multiplies on the
// tensor cores with F32 accumulation.
//
// Why not a fused kernel (gemm.cu): writing and re-reading an F16 copy of the weight costs ~3 bytes
// of traffic per weight, ~1.2 ms for an 8B layer stack at 512 tokens, while cuBLAS's Hopper kernels
// run several times faster than the mma.sync GEMM of gemm.cu (~95 TFLOP/s); for n_tokens in the
// hundreds the copy is the cheaper side. And the activation values are the CPU's, which the fused
// kernel's plain F16 rounding was not (CPU-vs-CUDA KLD 1e-4..6e-4 for quantized weights).
#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <mutex>
#include <string>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cublas_util.h"
#include "backend/cuda/quant_blocks.cuh"
#include "util/error.h"

namespace shootout::cuda {
namespace {

// One thread per 16 consecutive elements of a row.
template <TypeId T>
__global__ void dequantize_half_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_in, int64_t n_out,
                                       uint16_t* __restrict__ out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t per_row = n_in / 16;
    if (i >= per_row * n_out) return;
    const int64_t row = i / per_row, e0 = (i % per_row) * 16;
    float v[16];
    Dequant16<T>::run(w + row * row_bytes, e0, v);
    uint32_t h[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        const __half2 p = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
        h[k] = *reinterpret_cast<const uint32_t*>(&p);
    }
    uint4* dst = reinterpret_cast<uint4*>(out + row * n_in + e0);
    dst[0] = make_uint4(h[0], h[1], h[2], h[3]);
    dst[1] = make_uint4(h[4], h[5], h[6], h[7]);
}

}  // namespace

void check_cublas(cublasStatus_t status, const char* what, const std::string& name) {
    if (status != CUBLAS_STATUS_SUCCESS) fail(name, std::string(what) + ": " + cublasGetStatusString(status));
}

cublasHandle_t cublas_handle() {
    static cublasHandle_t h = nullptr;
    static std::once_flag once;
    std::call_once(once, [] { check_cublas(cublasCreate(&h), "cublasCreate", "cuda"); });
    return h;
}

void dequantize_to_half(const DeviceWeight& w, uint16_t* out, StreamHandle stream) {
    const int64_t n_threads = w.n_out * (w.n_in / 16);
    const unsigned grid = (unsigned)((n_threads + 255) / 256);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const bool known = dispatch_type(w.type, [&]<TypeId T>() {
        dequantize_half_kernel<T><<<grid, 256, 0, s>>>(w.data.as<uint8_t>(), w.row_bytes, w.n_in, w.n_out, out);
    });
    if (!known) fail(w.name, std::string("no CUDA dequantization for type ") + quant::traits(w.type).name);
    check_last_launch(("dequantize_to_half " + w.name).c_str());
}

void gemm_dequant(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, Workspace& workspace,
                  StreamHandle stream) {
    const bool in_place = w.type == TypeId::F16 || w.type == TypeId::BF16;
    const size_t weight_bytes = in_place ? 0 : (size_t)(w.n_out * w.n_in) * 2;
    const size_t x_bytes = (size_t)(n_tokens * w.n_in) * 2;
    auto* base = static_cast<uint8_t*>(workspace.reserve(weight_bytes + x_bytes));
    const void* a = w.data.data();
    if (!in_place) {
        dequantize_to_half(w, reinterpret_cast<uint16_t*>(base), stream);
        a = base;
    }
    auto* xh = reinterpret_cast<uint16_t*>(base + weight_bytes);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    activations_to_half(activation_type(w.type), x, n_tokens, w.n_in, xh, s);

    // Column-major view: y^T (n_out x n_tokens) = W (n_in x n_out, transposed) * x^T (n_in x n_tokens).
    const cudaDataType_t ab = w.type == TypeId::BF16 ? CUDA_R_16BF : CUDA_R_16F;
    const float alpha = 1.0f, beta = 0.0f;
    check_cublas(cublasSetStream(cublas_handle(), s), "cublasSetStream", w.name);
    check_cublas(cublasGemmEx(cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, (int)w.n_out, (int)n_tokens, (int)w.n_in, &alpha, a,
                              ab, (int)w.n_in, xh, ab, (int)w.n_in, &beta, y, CUDA_R_32F, (int)w.n_out,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx", w.name);
}

}  // namespace shootout::cuda
