// Device-side helpers shared by the CUDA op tests: a random weight quantized by the reference
// quantizer and uploaded, and float rows to and from the device.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cuda/cuda_kernels.h"
#include "op_compare.h"
#include "quant/type_table.h"

namespace shootout::test {

// An n_out x n_in weight of normal values (sd 0.05) in `type`, uploaded.
inline cuda::DeviceWeight random_device_weight(quant::TypeId type, int64_t n_in, int64_t n_out, uint32_t seed) {
    const auto src = gaussian((size_t)(n_in * n_out), seed, 0.05f);
    std::vector<uint8_t> bytes(quant::row_size_bytes(type, n_in) * (size_t)n_out);
    quant::traits(type).quantize_rows(src.data(), bytes.data(), n_out, n_in, nullptr);
    return cuda::upload_weight("test weight", type, n_in, n_out, bytes.data());
}

inline cuda::DeviceBuffer device_floats(const std::vector<float>& v) {
    cuda::DeviceBuffer b(v.size() * 4);
    b.upload(v.data(), v.size() * 4);
    return b;
}

inline std::vector<float> host_floats(const cuda::DeviceBuffer& b, size_t n) {
    std::vector<float> v(n);
    b.download(v.data(), n * 4);
    return v;
}

}  // namespace shootout::test
