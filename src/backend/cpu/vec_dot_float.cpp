// Dot products of plain-float rows: F32.F32, F16.F16, BF16.BF16. The scalar versions accumulate in
// double (as ggml's scalar path does); the AVX2 ones in 4 x 8 float lanes with FMA.
#include "backend/cpu/avx2_reduce.h"
#include "backend/cpu/vec_dot.h"

#include <immintrin.h>

#include "util/fp16.h"

namespace shootout::cpu::dot {

void f32_scalar(int64_t n, float* result, const void* w, const void* x) {
    const float* a = static_cast<const float*>(w);
    const float* b = static_cast<const float*>(x);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += (double)a[i] * b[i];
    *result = (float)sum;
}

void f16_scalar(int64_t n, float* result, const void* w, const void* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    const uint16_t* b = static_cast<const uint16_t*>(x);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(fp16_to_fp32(a[i]) * fp16_to_fp32(b[i]));
    *result = (float)sum;
}

void bf16_scalar(int64_t n, float* result, const void* w, const void* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    const uint16_t* b = static_cast<const uint16_t*>(x);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(bf16_to_fp32(a[i]) * bf16_to_fp32(b[i]));
    *result = (float)sum;
}

#if defined(SHOOTOUT_HAVE_AVX2_KERNELS)
namespace {

inline __m256 load_f32(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
inline __m256 load_bf16(const uint16_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
}

// Four independent accumulators hide the FMA latency; the tail (n % 32) goes through the scalar
// conversion one element at a time.
template <typename T, __m256 (*Load)(const T*), float (*ToFloat)(T)>
float dot_avx2(int64_t n, const T* a, const T* b) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(Load(a + i + 8 * k), Load(b + i + 8 * k), acc[k]);
    float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; ++i) sum += ToFloat(a[i]) * ToFloat(b[i]);
    return sum;
}

inline float identity(float v) { return v; }

}  // namespace

void f32_avx2(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_avx2<float, load_f32, identity>(n, static_cast<const float*>(w), static_cast<const float*>(x));
}
void f16_avx2(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_avx2<uint16_t, load_f16, fp16_to_fp32>(n, static_cast<const uint16_t*>(w),
                                                          static_cast<const uint16_t*>(x));
}
void bf16_avx2(int64_t n, float* result, const void* w, const void* x) {
    *result = dot_avx2<uint16_t, load_bf16, bf16_to_fp32>(n, static_cast<const uint16_t*>(w),
                                                           static_cast<const uint16_t*>(x));
}
#endif

}  // namespace shootout::cpu::dot
