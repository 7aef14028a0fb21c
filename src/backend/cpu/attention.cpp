// Causal grouped-query attention over an F16 KV cache. llama.cpp's default cache stores K and V as
// F16, and its CPU flash-attention path (on by default) then works in F32 on those rounded values with
// an F32 query; we do the same: round K/V to F16 when storing, widen them back once per call, and
// compute scores, softmax and the weighted sum of V in F32.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "backend/cpu/cpu_ops.h"
#include "util/error.h"
#include "util/fp16.h"
#include "util/parallel.h"

namespace shootout::cpu {

namespace {

class CpuKvCache : public backend::KvCache {
public:
    CpuKvCache(int64_t n_layers, int64_t n_ctx, const backend::AttentionShape& shape)
        : n_layers_(n_layers), n_ctx_(n_ctx), row_floats_(shape.n_head_kv * shape.head_dim),
          k_((size_t)(n_layers * n_ctx * row_floats_)), v_(k_.size()) {}

    int64_t n_ctx() const override { return n_ctx_; }
    int64_t n_layers() const { return n_layers_; }
    int64_t row_floats() const { return row_floats_; }
    uint16_t* k(int64_t layer, int64_t pos) { return k_.data() + (size_t)((layer * n_ctx_ + pos) * row_floats_); }
    uint16_t* v(int64_t layer, int64_t pos) { return v_.data() + (size_t)((layer * n_ctx_ + pos) * row_floats_); }

    // Per-call work memory of the blocked attention, kept to avoid reallocating it every layer.
    std::vector<float> scratch_k, scratch_v;
    std::vector<std::vector<float>> scratch_scores;

private:
    int64_t n_layers_, n_ctx_, row_floats_;
    std::vector<uint16_t> k_, v_;  // [layer][pos][n_head_kv * head_dim] as IEEE half
};


#if defined(__AVX2__) && defined(__FMA__)
// The same attention computed in blocks (head_dim a multiple of 8): K is widened transposed per KV
// head ([kv_head][dim][pos], positions padded to 16), so 4 queries x 16 positions of scores come
// from 8 register accumulators fed by broadcasts of the query; V is widened per KV head
// ([kv_head][pos][dim]) and each query's output stays in registers, 8 dims per accumulator, while
// the positions stream by. Only the order of the F32 sums differs from the plain loop below.
void attention_blocked(ThreadPool& pool, CpuKvCache& cache, int64_t layer, const float* q, int64_t n_tokens,
                       int64_t pos0, const backend::AttentionShape& shape, float scale, float* out) {
    constexpr int64_t kQueries = 4, kPositions = 16;
    const int64_t n_kv = pos0 + n_tokens, head_dim = shape.head_dim, n_head_kv = shape.n_head_kv;
    const int64_t n_kv_padded = (n_kv + kPositions - 1) / kPositions * kPositions;
    std::vector<float>& kt = cache.scratch_k, &vh = cache.scratch_v;
    kt.assign((size_t)(n_head_kv * head_dim * n_kv_padded), 0.0f);
    vh.resize((size_t)(n_head_kv * n_kv * head_dim));
    pool.parallel_for((size_t)n_kv, [&](size_t begin, size_t end, int) {
        for (size_t p = begin; p < end; ++p) {
            const uint16_t* kc = cache.k(layer, (int64_t)p);
            const uint16_t* vc = cache.v(layer, (int64_t)p);
            for (int64_t g = 0; g < n_head_kv; ++g)
                for (int64_t d = 0; d < head_dim; ++d) {
                    kt[(size_t)((g * head_dim + d) * n_kv_padded) + p] = fp16_to_fp32(kc[g * head_dim + d]);
                    vh[(size_t)((g * n_kv + (int64_t)p) * head_dim + d)] = fp16_to_fp32(vc[g * head_dim + d]);
                }
        }
    });

    const int64_t group = shape.n_head / n_head_kv, q_row = shape.n_head * head_dim;
    const int64_t n_blocks = (n_tokens + kQueries - 1) / kQueries;
    if ((int64_t)cache.scratch_scores.size() < pool.size())
        cache.scratch_scores.resize((size_t)pool.size());
    for (auto& s : cache.scratch_scores) s.resize((size_t)(kQueries * n_kv_padded));
    // Head-major items: each thread's contiguous slice holds whole heads and equal causal work.
    pool.parallel_for((size_t)(shape.n_head * n_blocks), [&](size_t begin, size_t end, int thread) {
        float* scores = cache.scratch_scores[thread].data();
        for (size_t item = begin; item < end; ++item) {
            const int64_t h = (int64_t)item / n_blocks, t0 = (int64_t)item % n_blocks * kQueries;
            const int64_t n_q = std::min(kQueries, n_tokens - t0), g = h / group;
            const float* qt[kQueries];
            for (int64_t i = 0; i < kQueries; ++i) qt[i] = q + std::min(t0 + i, n_tokens - 1) * q_row + h * head_dim;
            const float* k_head = kt.data() + (size_t)(g * head_dim * n_kv_padded);
            const int64_t n_seen_max = pos0 + t0 + n_q;
            for (int64_t p0 = 0; p0 < n_seen_max; p0 += kPositions) {
                __m256 acc[kQueries][2];
                for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
                for (int64_t d = 0; d < head_dim; ++d) {
                    const float* row = k_head + d * n_kv_padded + p0;
                    const __m256 k0 = _mm256_loadu_ps(row), k1 = _mm256_loadu_ps(row + 8);
                    for (int64_t i = 0; i < kQueries; ++i) {
                        const __m256 qd = _mm256_broadcast_ss(qt[i] + d);
                        acc[i][0] = _mm256_fmadd_ps(qd, k0, acc[i][0]);
                        acc[i][1] = _mm256_fmadd_ps(qd, k1, acc[i][1]);
                    }
                }
                const __m256 scale8 = _mm256_set1_ps(scale);
                for (int64_t i = 0; i < kQueries; ++i) {
                    _mm256_storeu_ps(scores + i * n_kv_padded + p0, _mm256_mul_ps(acc[i][0], scale8));
                    _mm256_storeu_ps(scores + i * n_kv_padded + p0 + 8, _mm256_mul_ps(acc[i][1], scale8));
                }
            }
            for (int64_t i = 0; i < n_q; ++i) {
                float* s = scores + i * n_kv_padded;
                const int64_t n_seen = pos0 + t0 + i + 1;
                float max_score = -INFINITY;
                for (int64_t p = 0; p < n_seen; ++p) max_score = std::max(max_score, s[p]);
                float sum = 0;
                for (int64_t p = 0; p < n_seen; ++p) {
                    s[p] = std::exp(s[p] - max_score);
                    sum += s[p];
                }
                const __m256 inv_sum = _mm256_set1_ps(1.0f / sum);
                float* o = out + (t0 + i) * q_row + h * head_dim;
                const float* v_head = vh.data() + (size_t)(g * n_kv * head_dim);
                for (int64_t d0 = 0; d0 < head_dim; d0 += 64) {  // 8 accumulators of 8 dims
                    const int64_t n_vec = std::min<int64_t>(8, (head_dim - d0) / 8);
                    __m256 acc[8];
                    for (auto& a : acc) a = _mm256_setzero_ps();
                    for (int64_t p = 0; p < n_seen; ++p) {
                        const __m256 weight = _mm256_broadcast_ss(s + p);
                        const float* vp = v_head + p * head_dim + d0;
                        for (int64_t j = 0; j < n_vec; ++j)
                            acc[j] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(vp + 8 * j), acc[j]);
                    }
                    for (int64_t j = 0; j < n_vec; ++j) _mm256_storeu_ps(o + d0 + 8 * j, _mm256_mul_ps(acc[j], inv_sum));
                }
            }
        }
    });
}
#endif

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) {
    int64_t i = 0;
    float sum = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    const __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    sum = _mm_cvtss_f32(s);
#endif
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

std::unique_ptr<backend::KvCache> make_kv_cache(int64_t n_layers, int64_t n_ctx, const backend::AttentionShape& shape) {
    return std::make_unique<CpuKvCache>(n_layers, n_ctx, shape);
}

void attention(ThreadPool& pool, backend::KvCache& cache_base, int64_t layer, const float* q, const float* k,
               const float* v, int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale,
               float* out) {
    auto& cache = static_cast<CpuKvCache&>(cache_base);
    const int64_t n_kv = pos0 + n_tokens;
    if (layer < 0 || layer >= cache.n_layers()) fail("attention", "layer " + std::to_string(layer) + " not in the KV cache");
    if (pos0 < 0 || n_kv > cache.n_ctx())
        fail("attention", "positions up to " + std::to_string(n_kv) + " exceed the KV cache size " +
                              std::to_string(cache.n_ctx()));
    if (shape.n_head_kv <= 0 || shape.n_head % shape.n_head_kv != 0)
        fail("attention", "head count not a multiple of the KV head count");
    const int64_t kv_row = cache.row_floats(), head_dim = shape.head_dim;

    pool.parallel_for((size_t)n_tokens, [&](size_t begin, size_t end, int) {
        for (size_t t = begin; t < end; ++t) {
            uint16_t* kc = cache.k(layer, pos0 + (int64_t)t);
            uint16_t* vc = cache.v(layer, pos0 + (int64_t)t);
            for (int64_t i = 0; i < kv_row; ++i) {
                kc[i] = fp32_to_fp16(k[t * kv_row + i]);
                vc[i] = fp32_to_fp16(v[t * kv_row + i]);
            }
        }
    });

#if defined(__AVX2__) && defined(__FMA__)
    if (head_dim % 8 == 0) {
        attention_blocked(pool, cache, layer, q, n_tokens, pos0, shape, scale, out);
        return;
    }
#endif
    // Widen the cached K and V once: [pos][kv_head][head_dim] floats, exactly the F16 values.
    std::vector<float> k32((size_t)(n_kv * kv_row)), v32(k32.size());
    pool.parallel_for((size_t)n_kv, [&](size_t begin, size_t end, int) {
        for (size_t p = begin; p < end; ++p) {
            const uint16_t* kc = cache.k(layer, (int64_t)p);
            const uint16_t* vc = cache.v(layer, (int64_t)p);
            for (int64_t i = 0; i < kv_row; ++i) {
                k32[p * kv_row + i] = fp16_to_fp32(kc[i]);
                v32[p * kv_row + i] = fp16_to_fp32(vc[i]);
            }
        }
    });

    const int64_t group = shape.n_head / shape.n_head_kv;
    const int64_t q_row = shape.n_head * head_dim;
    std::vector<std::vector<float>> scores(pool.size(), std::vector<float>((size_t)n_kv));
    // Head-major items, so each thread's contiguous slice holds whole heads and equal causal work.
    pool.parallel_for((size_t)(shape.n_head * n_tokens), [&](size_t begin, size_t end, int thread) {
        float* s = scores[thread].data();
        for (size_t item = begin; item < end; ++item) {
            const int64_t h = (int64_t)item / n_tokens, t = (int64_t)item % n_tokens;
            const int64_t kv_head = h / group, n_seen = pos0 + t + 1;
            const float* qt = q + t * q_row + h * head_dim;
            float max_score = -INFINITY;
            for (int64_t p = 0; p < n_seen; ++p) {
                s[p] = dot_f32(qt, k32.data() + p * kv_row + kv_head * head_dim, head_dim) * scale;
                max_score = std::max(max_score, s[p]);
            }
            float sum = 0;
            for (int64_t p = 0; p < n_seen; ++p) {
                s[p] = std::exp(s[p] - max_score);
                sum += s[p];
            }
            float* o = out + t * q_row + h * head_dim;
            std::fill(o, o + head_dim, 0.0f);
            for (int64_t p = 0; p < n_seen; ++p) {
                const float* vp = v32.data() + p * kv_row + kv_head * head_dim;
                const float weight = s[p];
                for (int64_t d = 0; d < head_dim; ++d) o[d] += weight * vp[d];
            }
            const float inv_sum = 1.0f / sum;
            for (int64_t d = 0; d < head_dim; ++d) o[d] *= inv_sum;
        }
    });
}

}  // namespace shootout::cpu
