// The CUDA kernels as plain C++: device buffers, weight upload in the GGUF layout, and the matrix
// products by type id. Callers (the CUDA Ops backend, tests, benchmarks) include no CUDA header;
// every CUDA failure becomes a shootout::Error carrying the CUDA error string.
//
// Layouts are the ones of backend/ops.h: a weight is n_out rows of n_in elements in its GGUF type,
// activations are row-major x[n_tokens][n_in] (F32), results y[n_tokens][n_out] (F32).
//
// How each product is computed (and so how close it is to the CPU backend's):
//   matvec (n_tokens 1..kMaxMatvecTokens, decode): quantized weights are dotted with activations
//     quantized exactly as the CPU quantizes them (the weight type's vec_dot_type: Q8_0, Q8_1 or
//     Q8_K, activation_quant.h) by int8 dot products, scales applied in F32; F16/BF16 weights are
//     dotted with the F32 activations in F32.
//   gemm_dequant (the model's prefill product): the weight dequantized to F16 in the workspace, the
//     activations as the CPU's vec_dot_type values rounded to F16, cuBLAS on the tensor cores with F32
//     accumulation.
//   gemm (kept for comparison): weights dequantized to F16 (BF16 for BF16 weights) tile by tile in
//     shared memory, activations rounded to the same type, mma.sync with F32 accumulation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "quant/type_table.h"

namespace shootout::cuda {

// An opaque cudaStream_t; nullptr is the default stream.
using StreamHandle = void*;

constexpr int64_t kMaxMatvecTokens = 8;
// Products of one x (Q/K/V, gate/up) that matvec_parts runs as one launch.
constexpr int kMaxMatvecParts = 3;

struct DeviceInfo {
    std::string name;
    int compute_major = 0, compute_minor = 0;
    int multiprocessors = 0;
    size_t global_memory_bytes = 0;
    size_t l2_bytes = 0;
};

// Number of CUDA devices; 0 when there is no driver or no GPU (never throws).
int device_count();
DeviceInfo device_info(int device = 0);
// The current device's memory in bytes, free now and in all (cudaMemGetInfo).
struct MemoryInfo {
    size_t free = 0, total = 0;
};
MemoryInfo device_memory_info();
// The SMs of the current device, asked once (matvec_normed.cu; persistent grids and split counts).
int multiprocessor_count();
// The current device's streaming read rate in GB/s (read_probe.cu): `bytes` of its memory read with
// 16-byte loads, the median of 7 timings of 4 passes. What a decode step's weight bytes a second
// are held against (shootout bench, bench_cuda_kernels).
double measure_read_gbps(size_t bytes = size_t(1) << 30);

// Device memory, freed on destruction. Move-only.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(size_t bytes);
    ~DeviceBuffer();
    DeviceBuffer(DeviceBuffer&& other) noexcept;
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    void* data() const { return ptr_; }
    size_t bytes() const { return bytes_; }
    template <typename T> T* as() const { return static_cast<T*>(ptr_); }

    // Synchronous copies (byte offsets into this buffer).
    void upload(const void* host, size_t bytes, size_t offset_bytes = 0);
    void download(void* host, size_t bytes, size_t offset_bytes = 0) const;
    void fill_bytes(uint8_t value);

private:
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
};

// A weight matrix resident on the device: n_out rows of row_bytes each, in the device layout of
// weight_layout.h (the GGUF blocks; for Q8_0, Q4_0..Q5_1, Q2_K, Q3_K, Q6_K, MXFP4, IQ4_NL and IQ4_XS
// regrouped so the quants are 16-byte aligned, row_bytes then a multiple of 16 and possibly a few bytes
// over the GGUF row).
// A row range is one byte range: rows r0..r1 start at data + r0 * row_bytes.
struct DeviceWeight {
    std::string name;
    quant::TypeId type = quant::TypeId::F32;
    int64_t n_in = 0;
    int64_t n_out = 0;
    size_t row_bytes = 0;
    DeviceBuffer data;
    // Set by upload_weight: no kernel ever writes these bytes, so the decode product may start loading
    // them before the previous kernel has finished (PDL, pdl.cuh). A matrix that a kernel fills (none
    // today; MoE experts were once staged so) must keep false: its products run in plain stream order.
    bool immutable = false;
};

// Copies n_out rows of n_in elements of `type` (GGUF layout on the host) to the device, converting
// them to the device layout (weight_layout.h). Throws Error naming the
// tensor when the type has no CUDA kernel or n_in does not fit the kernels (a multiple of 32, and of
// the block size).
DeviceWeight upload_weight(const std::string& name, quant::TypeId type, int64_t n_in, int64_t n_out,
                           const void* host_data);

bool supports_type(quant::TypeId type);

// Scratch memory the products need (quantized activations, dequantized weights); one per stream,
// grown on demand. quantized_as: the vec_dot_type (an ActivationType as int) the quantized
// activations in it were made for, -1 when none, so a product reusing them (x_quantized) checks that
// they are of its kind.
class Workspace {
public:
    void* reserve(size_t bytes);  // device pointer of at least `bytes`, contents undefined
    int quantized_as = -1;

private:
    DeviceBuffer buffer_;
};

// y = W x for n_tokens <= kMaxMatvecTokens (decode). x, y are device pointers. x_quantized: the
// workspace already holds x quantized, left there by the previous quantized matvec on this stream
// with the same x, n_tokens and n_in, x unchanged since (Q/K/V and gate/up share one quantization).
void matvec(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, Workspace& workspace,
            StreamHandle stream = nullptr, bool x_quantized = false);
// Up to 3 products of the same x (same weight type, n_in and row bytes: Q/K/V, gate/up) in one launch:
// ys[i] = ws[i] x, as n separate matvec calls would compute them.
// accumulate: ys[i] += ws[i] x (the O and down products adding into the residual row; the same float
// add as a separate add). gate (with accumulate, one token, one weight): ys[0] += (ws[0] x) *
// sigmoid(*gate), as sigmoid_gate then add compute it (the shared expert's gated output).
void matvec_parts(const DeviceWeight* const* ws, float* const* ys, int n, const float* x, int64_t n_tokens,
                  Workspace& workspace, StreamHandle stream = nullptr, bool x_quantized = false,
                  bool accumulate = false, const float* gate = nullptr);
// How many accumulating matvec_parts calls this process made, and how many of them gated (tests
// check that a run folded); and how many converted their x themselves (a launch of its own: in a
// decode step with norm folding every conversion should sit in a producer or a normed product).
uint64_t matvec_accumulate_calls();
uint64_t matvec_gated_calls();
uint64_t matvec_conversion_calls();
// Whether one-token products of K-quant rows up to 4096 wide (the decode step's O product) take the
// staged kernel (matvec_kernels.cuh: more of the row loaded before the PDL wait, x copied to shared
// memory after it; the same bits). On unless SHOOTOUT_CUDA_STAGE_X=0; tests set it both ways.
bool staged_products();
void set_staged_products(bool on);
uint64_t matvec_staged_calls();  // launches of the staged kernel (tests: it ran)
// A one-token product whose x is rms_norm(in.x) * in.w (one row of in.n), the norm done by every block
// of the launch itself (matvec_normed.cuh) instead of by a norm kernel before it: a decode step's
// attention and FFN norms cost no launch of their own. ys[i] = ws[i] x with x converted exactly as
// rms_norm_quantize converts it, so the results equal rms_norm_quantize + matvec_parts bit for bit;
// in.out gets the normed row (F32) as rms_norm writes it. matvec_normed_supports: the integer weight
// types, rows of up to kMaxNormedRow. The weights share one type, or (matvec_normed_mixes(a, b)) the
// first ones are of type a and the rest of type b, read against the same conversion of the row
// (Q4_K_M's Q/K in Q4_K with a V in Q6_K: one launch instead of two).
struct NormedInput {
    const float* x;
    const float* w;
    float* out;
    int64_t n;
    float eps;
};
constexpr int64_t kMaxNormedRow = 8192;
bool matvec_normed_supports(quant::TypeId type, int64_t n_in);
bool matvec_normed_mixes(quant::TypeId a, quant::TypeId b);
void matvec_normed(const DeviceWeight* const* ws, float* const* ys, int n, const NormedInput& in,
                   StreamHandle stream = nullptr);
// How many matvec_normed calls this process made (launched or captured): tests check that a run folded.
uint64_t matvec_normed_calls();
// Whether matvec on this type quantizes its activations into the workspace (the integer types).
inline bool matvec_quantizes_x(quant::TypeId type) { return type != quant::TypeId::F16 && type != quant::TypeId::BF16; }
// Weight rows per GEMM block; Auto picks 64 when 128-row tiles would leave SMs idle. The others are
// for tests and benchmarks.
enum class GemmTile { Auto, Rows64, Rows128 };

// y = W x for any n_tokens on the tensor cores (prefill). x, y are device pointers.
void gemm(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, StreamHandle stream = nullptr,
          GemmTile tile = GemmTile::Auto);
// y = W x for any n_tokens through cuBLAS (see the top of this file); uses the workspace.
void gemm_dequant(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, Workspace& workspace,
                  StreamHandle stream = nullptr);
// The weight's n_out x n_in elements as F16 bits into out (row-major), for gemm_dequant and tests.
void dequantize_to_half(const DeviceWeight& w, uint16_t* out, StreamHandle stream = nullptr);
// The product a model backend calls: matvec for small n_tokens, gemm_dequant above (x_quantized: as
// for matvec, ignored above).
void matmul(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, Workspace& workspace,
            StreamHandle stream = nullptr, bool x_quantized = false);

// Waits for all work on the device; throws Error with the first failure of an earlier launch.
void synchronize();
// Throws Error if the last launch on this thread failed ("where" names it in the message).
void check_last_launch(const char* where);

}  // namespace shootout::cuda
