// The non-matmul ops of the CUDA backend as plain C++ launchers (pointwise.cu, attention.cu): the
// CUDA Ops (cuda_ops*.cpp) calls them on device pointers. Each mirrors the CPU op of the same name
// (backend/cpu/cpu_ops.h) in F32, so the two backends differ by rounding order only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/ops.h"

namespace shootout::cuda {

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight for n_rows rows of n floats; y may equal x.
void rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* y,
              StreamHandle stream);
// In place, positions pos0.. (theta_i = pos * freq_base^(-2i/n_rot) by repeated multiplication, as the
// CPU and ggml compute it). pos0_device, when given, is a device address the kernel reads pos0 from
// instead (a CUDA graph captured once serves every decode step); pos0 is then ignored.
// rope.freq_factors (Llama 3.1's theta_i divisors), when set, is device memory.
void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
          const backend::RopeParams& rope, StreamHandle stream, const int64_t* pos0_device = nullptr);
void swiglu(const float* gate, const float* up, size_t n, float* out, StreamHandle stream);
void add(float* x, const float* y, size_t n, StreamHandle stream);
// x[r][i] += bias[i] for n_rows rows of n floats.
void add_bias(float* x, const float* bias, int64_t n_rows, int64_t n, StreamHandle stream);

// What qk_norm_rope does to each head row, as kernel arguments (qk_norm_rope.cuh applies it).
struct NormRope {
    const float* q_norm = nullptr;  // head_dim weights each, or null (RoPE only)
    const float* k_norm = nullptr;
    float eps = 0.f;
    int n_rot = 0;
    float theta_scale = 1.f;  // freq_base^(-2 / n_rot), as rope() computes it
    bool neox = false;
    const float* freq_factors = nullptr;  // n_rot / 2 divisors of theta_i (device memory), or null
};
// Checks n_rot against the head size (Error otherwise) and computes theta_scale. Here (rope,
// norm_rope_args, qk_norm_rope) rope.freq_factors is device memory: CudaOps uploads the model's.
NormRope norm_rope_args(const float* q_norm, const float* k_norm, float eps, const backend::RopeParams& rope,
                        int64_t head_dim);

// The fused ops (fused.cu), as backend::Ops::add_rms_norm and qk_norm_rope define them. q_norm / k_norm
// may be null (RoPE only); qk_norm_rope takes the head sizes qk_norm_rope_supports() accepts.
void add_rms_norm(float* x, const float* y, const float* weight, int64_t n_rows, int64_t n, float eps, float* out,
                  StreamHandle stream);
inline bool qk_norm_rope_supports(int64_t head_dim) { return head_dim == 64 || head_dim == 128 || head_dim == 256; }
void qk_norm_rope(float* q, float* k, const float* q_norm, const float* k_norm, int64_t n_tokens,
                  const backend::AttentionShape& shape, float eps, int64_t pos0, const backend::RopeParams& rope,
                  StreamHandle stream, const int64_t* pos0_device = nullptr);

// Causal grouped-query attention over an F16 cache laid out [n_ctx][n_head_kv][head_dim] per layer
// (k_cache, v_cache point at the layer): stores k, v of positions pos0..pos0+n_tokens-1 rounded to
// F16, then out[t] = softmax(q[t] K^T * scale) V over positions 0..pos0+t, in F32 on the F16 values.
// head_dim must be a multiple of 64, at most 256. pos0_device: as for rope (the launch shape depends
// on n_tokens only, so one captured launch serves every position).
void attention(uint16_t* k_cache, uint16_t* v_cache, const float* q, const float* k, const float* v,
               int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale, float* out,
               StreamHandle stream, const int64_t* pos0_device = nullptr);

// A decode step's attention (one token) in a single kernel, where attention() launches two (the KV
// store, then the product): the block of each KV head stores the new k, v row into the cache itself
// and, when norm_rope is given, first norms and rotates q and k as qk_norm_rope would (writing them
// back to q and k, so they read as after qk_norm_rope); when act is a Q8 type, out is also converted
// as quantize_activations(act) would, into qs / ds (the next product's input, activation_quant.h).
// attention_decode_supports(shape, act) says whether this shape and conversion have the kernel
// (head_dim 64/128/256, a power-of-two group of query heads, whole conversion blocks per KV head).
//
// split (flash decoding): at long contexts one block a KV head reads its keys one tile after another
// (at 4096 positions an 8B model ran at a third of its empty-cache speed), so with split given the
// keys are also cut into up to kMaxDecodeSplits ranges of at least kMinSplitKeys, a block each; each
// writes its partial softmax sums to split->partials and the last block of a KV head to finish
// (split->counters, zero between calls) merges them in range order, so the result does not depend on
// which block finishes last. The grid is fixed when a step graph is captured, the ranges follow the
// position read at run time: blocks past the last range exit at once, and up to kMinSplitKeys keys
// one block does everything as without split.
constexpr int kMaxDecodeSplits = 64;
// 64 keys: a block's one tile at head_dim 128. 8B on H100, tg128 at 512 / 1024 / 4096 positions:
// Q4_K_M 300 / 281 / 271 t/s with ranges of at least 256 keys, 334 / 327 / 281 with 64.
constexpr int kMinSplitKeys = 64;
struct DecodeSplit {
    float* partials = nullptr;   // decode_split_floats(max_blocks) floats
    unsigned* counters = nullptr;  // max_blocks counters, zero
    int max_blocks = 0;            // KV heads x ranges at most (the launch takes fewer ranges if needed)
};
// Floats of partials for max_blocks blocks (any shape attention_decode_supports takes).
size_t decode_split_floats(int max_blocks);
bool attention_decode_supports(const backend::AttentionShape& shape, ActivationType act);
void attention_decode_step(uint16_t* k_cache, uint16_t* v_cache, float* q, float* k, const float* v, int64_t pos0,
                           const backend::AttentionShape& shape, float scale, const NormRope* norm_rope, float* out,
                           ActivationType act, int8_t* qs, float2* ds, StreamHandle stream,
                           const int64_t* pos0_device = nullptr, const DecodeSplit* split = nullptr);

// The prefill path of attention() for head_dim 64, 128 and 256 (attention_flash.cu; the cache rows already
// stored): one kernel on the tensor cores, the scores kept on chip. attention_flash_supports() is
// false for other head sizes, and for every shape when SHOOTOUT_CUDA_FLASH=0 (the cuBLAS path below,
// for comparisons).
bool attention_flash_supports(const backend::AttentionShape& shape);
void attention_prefill_flash(const uint16_t* k_cache, const uint16_t* v_cache, const float* q, int64_t n_tokens,
                             int64_t pos0, const backend::AttentionShape& shape, float scale, float* out,
                             StreamHandle stream);

// The prefill path of attention() (attention_gemm.cu; the cache rows already stored): scores and
// weighted values as cuBLAS products on the tensor cores, for n_tokens of a few dozen and up.
void attention_prefill_gemm(const uint16_t* k_cache, const uint16_t* v_cache, const float* q, int64_t n_tokens,
                            int64_t pos0, const backend::AttentionShape& shape, float scale, float* out,
                            StreamHandle stream);

}  // namespace shootout::cuda
