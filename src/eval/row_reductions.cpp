// See row_reductions.h.
#include "eval/row_reductions.h"

#include <cmath>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SHOOTOUT_ROW_AVX2 1
#endif

namespace shootout::eval::detail {

void max_min_scalar(const float* x, int64_t n, float& max, float& min) {
    max = min = x[0];
    for (int64_t i = 1; i < n; ++i) {
        if (x[i] > max) max = x[i];
        if (x[i] < min) min = x[i];
    }
}

double sum_exp_scalar(const float* x, int64_t n, float shift) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - shift);
    return sum;
}

double kld_sum_scalar(const float* ref, const float* var, int64_t n, double norm_ref, double norm_var, double cut) {
    double kld = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double log_p_ref = double(ref[i]) - norm_ref;
        if (log_p_ref > cut) {
            const double log_p_var = double(var[i]) - norm_var;
            kld += double(std::exp(float(log_p_ref))) * (log_p_ref - log_p_var);
        }
    }
    return kld;
}

double kld_sum_llama_scalar(const uint16_t* q, const float* var, int64_t n, float scale, float min_log_prob,
                            double norm_var, double cut) {
    double kld = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float log_p_base = scale * q[i] + min_log_prob;
        if (log_p_base > float(cut)) {
            kld += double(std::exp(log_p_base)) * (double(log_p_base) - (double(var[i]) - norm_var));
        }
    }
    return kld;
}

#ifdef SHOOTOUT_ROW_AVX2
namespace {

// exp of 8 floats: Cephes' expf (x = n ln2 + r, a degree-5 polynomial in r, 2^n from the exponent
// bits), within ~2 ulp of expf over [-87.3, 88] (every caller passes x <= 0); arguments outside are
// clamped (exp(-87.3) = 1.2e-38 stands for the denormals and zeros below it; at the top, 2^128
// overflows to inf as exp does just above). The clamps keep a NaN (maxps / minps return their
// second operand when either is NaN), and the polynomial carries it through.
inline __m256 exp8(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-87.3365447f), x);
    x = _mm256_min_ps(_mm256_set1_ps(88.3762626f), x);
    const __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    const __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

// The low / high four floats of v as doubles.
inline __m256d low_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
inline __m256d high_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

// e * (lp - lv) where keep is all-ones, +0 where it is zero (a NaN term dropped with its lane).
inline __m256d kept_term(__m256d keep, __m256d e, __m256d lp, __m256d lv) {
    return _mm256_and_pd(keep, _mm256_mul_pd(e, _mm256_sub_pd(lp, lv)));
}

inline double sum4(__m256d v) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

}  // namespace

void max_min(const float* x, int64_t n, float& max, float& min) {
    if (n < 8) {
        max_min_scalar(x, n, max, min);
        return;
    }
    // Every lane starts at x[0] (a NaN there stays, as in the scalar scan); the new value is maxps'
    // first operand, so a NaN element leaves the lane as it was.
    __m256 hi = _mm256_set1_ps(x[0]), lo = hi;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        hi = _mm256_max_ps(v, hi);
        lo = _mm256_min_ps(v, lo);
    }
    alignas(32) float h[8], l[8];
    _mm256_store_ps(h, hi);
    _mm256_store_ps(l, lo);
    max = h[0];
    min = l[0];
    for (int k = 1; k < 8; ++k) {
        if (h[k] > max) max = h[k];
        if (l[k] < min) min = l[k];
    }
    for (; i < n; ++i) {
        if (x[i] > max) max = x[i];
        if (x[i] < min) min = x[i];
    }
}

double sum_exp(const float* x, int64_t n, float shift) {
    const __m256 s = _mm256_set1_ps(shift);
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        acc0 = _mm256_add_pd(acc0, low_pd(e));
        acc1 = _mm256_add_pd(acc1, high_pd(e));
    }
    return sum4(_mm256_add_pd(acc0, acc1)) + sum_exp_scalar(x + i, n - i, shift);
}

double kld_sum(const float* ref, const float* var, int64_t n, double norm_ref, double norm_var, double cut) {
    const __m256d nr = _mm256_set1_pd(norm_ref), nv = _mm256_set1_pd(norm_var), c = _mm256_set1_pd(cut);
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 r = _mm256_loadu_ps(ref + i), v = _mm256_loadu_ps(var + i);
        const __m256d lr0 = _mm256_sub_pd(low_pd(r), nr), lr1 = _mm256_sub_pd(high_pd(r), nr);
        const __m256d lv0 = _mm256_sub_pd(low_pd(v), nv), lv1 = _mm256_sub_pd(high_pd(v), nv);
        // exp(float(log p_ref)) for the 8 lanes, as the scalar loop rounds it before expf.
        const __m256 e = exp8(_mm256_set_m128(_mm256_cvtpd_ps(lr1), _mm256_cvtpd_ps(lr0)));
        const __m256d e0 = low_pd(e), e1 = high_pd(e);
        // Lanes at or under the cut (or NaN) add nothing; the others their term, NaN and inf included.
        acc0 = _mm256_add_pd(acc0, kept_term(_mm256_cmp_pd(lr0, c, _CMP_GT_OQ), e0, lr0, lv0));
        acc1 = _mm256_add_pd(acc1, kept_term(_mm256_cmp_pd(lr1, c, _CMP_GT_OQ), e1, lr1, lv1));
    }
    return sum4(_mm256_add_pd(acc0, acc1)) + kld_sum_scalar(ref + i, var + i, n - i, norm_ref, norm_var, cut);
}

double kld_sum_llama(const uint16_t* q, const float* var, int64_t n, float scale, float min_log_prob,
                     double norm_var, double cut) {
    const __m256 sc = _mm256_set1_ps(scale), mn = _mm256_set1_ps(min_log_prob), c = _mm256_set1_ps(float(cut));
    const __m256d nv = _mm256_set1_pd(norm_var);
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i q32 = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i)));
        // scale * q + min in one FMA (the scalar loop's may round twice: a last-bit difference).
        const __m256 lp = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(q32), mn);
        const __m256 keep = _mm256_cmp_ps(lp, c, _CMP_GT_OQ);
        const __m256 e = exp8(lp);
        const __m256 v = _mm256_loadu_ps(var + i);
        const __m256d lv0 = _mm256_sub_pd(low_pd(v), nv), lv1 = _mm256_sub_pd(high_pd(v), nv);
        const __m256d lp0 = low_pd(lp), lp1 = high_pd(lp), e0 = low_pd(e), e1 = high_pd(e);
        // The float mask widened to the doubles' lanes (all-ones or zero in each).
        const __m256i keep_bits = _mm256_castps_si256(keep);
        const __m256d k0 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(keep_bits)));
        const __m256d k1 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(keep_bits, 1)));
        acc0 = _mm256_add_pd(acc0, kept_term(k0, e0, lp0, lv0));
        acc1 = _mm256_add_pd(acc1, kept_term(k1, e1, lp1, lv1));
    }
    return sum4(_mm256_add_pd(acc0, acc1)) +
           kld_sum_llama_scalar(q + i, var + i, n - i, scale, min_log_prob, norm_var, cut);
}

#else  // no AVX2: the scalar loops

void max_min(const float* x, int64_t n, float& max, float& min) { max_min_scalar(x, n, max, min); }
double sum_exp(const float* x, int64_t n, float shift) { return sum_exp_scalar(x, n, shift); }
double kld_sum(const float* ref, const float* var, int64_t n, double norm_ref, double norm_var, double cut) {
    return kld_sum_scalar(ref, var, n, norm_ref, norm_var, cut);
}
double kld_sum_llama(const uint16_t* q, const float* var, int64_t n, float scale, float min_log_prob,
                     double norm_var, double cut) {
    return kld_sum_llama_scalar(q, var, n, scale, min_log_prob, norm_var, cut);
}

#endif

}  // namespace shootout::eval::detail
