// The process's cuBLAS handle and its error check, shared by the products that use cuBLAS
// (gemm_dequant.cu, attention_gemm.cu).
#pragma once

#include <cublas_v2.h>

#include <string>

namespace shootout::cuda {

// Created on first use (cuBLAS handles are not cheap to make); callers set its stream per call.
cublasHandle_t cublas_handle();
// Throws Error naming `what` and the tensor or op when status is not CUBLAS_STATUS_SUCCESS.
void check_cublas(cublasStatus_t status, const char* what, const std::string& name);

}  // namespace shootout::cuda
