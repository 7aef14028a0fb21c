// Device memory, weight upload and device queries behind the plain C++ API of cuda_kernels.h.
#include <utility>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_types.h"
#include "backend/cuda/weight_layout.h"
#include "backend/device_memory.h"

namespace shootout::cuda {

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();  // no driver / no device is an answer here, not an error
        return 0;
    }
    return n;
}

DeviceInfo device_info(int device) {
    cudaDeviceProp prop{};
    SHOOTOUT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    DeviceInfo info;
    info.name = prop.name;
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    info.multiprocessors = prop.multiProcessorCount;
    info.global_memory_bytes = prop.totalGlobalMem;
    info.l2_bytes = (size_t)prop.l2CacheSize;
    return info;
}

MemoryInfo device_memory_info() {
    MemoryInfo info;
    SHOOTOUT_CUDA_CHECK(cudaMemGetInfo(&info.free, &info.total));
    return info;
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) {
        cudaError_t err = cudaMalloc(&ptr_, bytes);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            const std::string what = "cudaMalloc of " + std::to_string(bytes) + " bytes: " + cudaGetErrorString(err);
            // Its own type, so a caller can say which model ran the GPU out of memory and what to do.
            if (err == cudaErrorMemoryAllocation) throw backend::OutOfDeviceMemory("cuda: " + what);
            fail("cuda", what);
        }
    }
}

DeviceBuffer::~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);  // errors here cannot be thrown; a later call reports a broken context
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
        if (ptr_) cudaFree(ptr_);
        ptr_ = std::exchange(other.ptr_, nullptr);
        bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
}

void DeviceBuffer::upload(const void* host, size_t bytes, size_t offset_bytes) {
    if (offset_bytes + bytes > bytes_) fail("cuda upload", "copy past the end of a device buffer");
    SHOOTOUT_CUDA_CHECK(cudaMemcpy(static_cast<char*>(ptr_) + offset_bytes, host, bytes, cudaMemcpyHostToDevice));
}

void DeviceBuffer::download(void* host, size_t bytes, size_t offset_bytes) const {
    if (offset_bytes + bytes > bytes_) fail("cuda download", "copy past the end of a device buffer");
    SHOOTOUT_CUDA_CHECK(cudaMemcpy(host, static_cast<const char*>(ptr_) + offset_bytes, bytes, cudaMemcpyDeviceToHost));
}

void DeviceBuffer::fill_bytes(uint8_t value) {
    if (ptr_) SHOOTOUT_CUDA_CHECK(cudaMemset(ptr_, value, bytes_));
}

void* Workspace::reserve(size_t bytes) {
    if (buffer_.bytes() < bytes) {
        buffer_ = DeviceBuffer();  // free first: the old contents are not kept
        quantized_as = -1;
        buffer_ = DeviceBuffer(bytes + bytes / 4);
    }
    return buffer_.data();
}

bool supports_type(quant::TypeId type) {
    switch (type) {
#define SHOOTOUT_SUPPORTED_CASE(t) case quant::TypeId::t:
        SHOOTOUT_CUDA_TYPES(SHOOTOUT_SUPPORTED_CASE)
#undef SHOOTOUT_SUPPORTED_CASE
            return true;
        default:
            return false;
    }
}

DeviceWeight upload_weight(const std::string& name, quant::TypeId type, int64_t n_in, int64_t n_out,
                           const void* host_data) {
    const auto& traits = quant::traits(type);
    if (!supports_type(type)) fail(name, std::string("no CUDA kernel for type ") + traits.name);
    if (n_in <= 0 || n_out <= 0 || n_in % 32 != 0 || n_in % traits.block_size != 0)
        fail(name, "CUDA kernels need n_in a positive multiple of 32 and of the block size, got " +
                       std::to_string(n_in) + " x " + std::to_string(n_out) + " of " + traits.name);
    DeviceWeight w;
    w.name = name;
    w.type = type;
    w.n_in = n_in;
    w.n_out = n_out;
    // The decode kernels read 16-byte-aligned quant bytes: weight_layout.h regroups the blocks whose
    // GGUF size does not allow that (Q8_0, Q4_0..Q5_1, Q2_K, Q3_K, Q6_K, MXFP4, IQ4_NL, IQ4_XS, the
    // grid i-quants IQ2_XXS..IQ3_S).
    w.row_bytes = device_row_bytes(type, n_in);
    w.data = DeviceBuffer(w.row_bytes * (size_t)n_out);
    w.immutable = true;  // uploaded once, synchronously, and only read after
    if (grouped_layout(type).grouped) {
        std::vector<uint8_t> staged(w.row_bytes * (size_t)n_out);
        to_device_layout(type, n_in, n_out, static_cast<const uint8_t*>(host_data), staged.data());
        w.data.upload(staged.data(), staged.size());
    } else {
        w.data.upload(host_data, w.row_bytes * (size_t)n_out);
    }
    return w;
}

void synchronize() {
    SHOOTOUT_CUDA_CHECK(cudaDeviceSynchronize());
}

void check_last_launch(const char* where) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) throw_cuda_error(err, where, "launch", 0);
}

void matmul(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, Workspace& workspace,
            StreamHandle stream, bool x_quantized) {
    if (n_tokens <= kMaxMatvecTokens) matvec(w, x, n_tokens, y, workspace, stream, x_quantized);
    else gemm_dequant(w, x, n_tokens, y, workspace, stream);
}

}  // namespace shootout::cuda
