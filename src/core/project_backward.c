/* Derivatives of the operator. All three regularizations have a symmetric Jacobian of the
 * form J = (1/tau) (diag(w) - w w^T / sum(w)) with a weight vector w read off p:
 *   L2:      w_i = 1 on the free set S = {0 < p_i < 1}, 0 elsewhere;
 *   KL:      w_i = p_i where p_i < 1, 0 where capped;
 *   entropy: w_i = p_i (1 - p_i).
 * So J g = (1/tau) w (g - <w,g> / sum w), two passes over the row. Clamped coordinates get
 * w_i = 0 and therefore exactly 0, tied or not. */
#include <math.h>

#include "core/rows.h"
#include "util/error.h"

#ifdef HS_HAVE_OPENMP
#include <omp.h>
#endif

static inline __attribute__((always_inline)) double weight(hs_regularization reg, double p)
{
    switch (reg) {
    case HS_REG_KL: return p < 1.0 ? p : 0.0;
    case HS_REG_ENTROPY: return p * (1.0 - p);
    default: return (p > 0.0 && p < 1.0) ? 1.0 : 0.0;
    }
}

/* One row; inlined with constant reg/is_float/stride so the common cases vectorize. */
static inline __attribute__((always_inline)) int jac_row(void *out, const void *p, const void *g,
                                                         ptrdiff_t off, ptrdiff_t es, size_t n,
                                                         double tau, hs_regularization reg,
                                                         int is_float)
{
    /* Four partial sums over i mod 4, combined as (0+1)+(2+3), then the tail: the same order
     * as the vectorized path, so the result does not depend on the memory layout. */
    double sw4[4] = {0, 0, 0, 0}, swg4[4] = {0, 0, 0, 0}, chk = 0;
    size_t n4 = n - n % 4;
    for (size_t i = 0; i < n; i++) {
        ptrdiff_t o = off + (ptrdiff_t)i * es;
        double pi = is_float ? (double)((const float *)p)[o] : ((const double *)p)[o];
        double gi = is_float ? (double)((const float *)g)[o] : ((const double *)g)[o];
        double w = weight(reg, pi);
        chk += gi * 0.0 + pi * 0.0; /* NaN iff something is NaN/Inf */
        if (i == n4) {
            sw4[0] = (sw4[0] + sw4[1]) + (sw4[2] + sw4[3]);
            swg4[0] = (swg4[0] + swg4[1]) + (swg4[2] + swg4[3]);
            sw4[1] = sw4[2] = sw4[3] = swg4[1] = swg4[2] = swg4[3] = 0;
        }
        size_t lane = i < n4 ? i & 3 : 0;
        sw4[lane] += w;
        swg4[lane] += w * gi;
    }
    if (n4 == n) {
        sw4[0] = (sw4[0] + sw4[1]) + (sw4[2] + sw4[3]);
        swg4[0] = (swg4[0] + swg4[1]) + (swg4[2] + swg4[3]);
    }
    double sw = sw4[0], swg = swg4[0];
    if (isnan(chk))
        return 1;
    double mean = sw > 0 ? swg / sw : 0.0, inv_tau = 1.0 / tau, post = 1.0;
    if (isinf(inv_tau)) { /* tiny tau: 1/tau as (1 / (tau * post)) * post, never inf * 0 */
        post = hs_tau_scale(tau);
        inv_tau = 1.0 / (tau * post);
    }
    for (size_t i = 0; i < n; i++) {
        ptrdiff_t o = off + (ptrdiff_t)i * es;
        double pi = is_float ? (double)((const float *)p)[o] : ((const double *)p)[o];
        double gi = is_float ? (double)((const float *)g)[o] : ((const double *)g)[o];
        double w = weight(reg, pi);
        /* +0, never -0, when clamped */
        double v = w == 0.0 ? 0.0 : w * (gi - mean) * inv_tau * post;
        if (is_float)
            ((float *)out)[o] = (float)v;
        else
            ((double *)out)[o] = v;
    }
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Loads/stores 4 lanes of doubles from double or float memory. */
static inline __attribute__((always_inline, target("avx2"))) __m256d ld4(const void *a, size_t i,
                                                                         int is_float)
{
    return is_float ? _mm256_cvtps_pd(_mm_loadu_ps((const float *)a + i))
                    : _mm256_loadu_pd((const double *)a + i);
}

static inline __attribute__((always_inline, target("avx2"))) void st4(void *a, size_t i, __m256d v,
                                                                      int is_float)
{
    if (is_float)
        _mm_storeu_ps((float *)a + i, _mm256_cvtpd_ps(v));
    else
        _mm256_storeu_pd((double *)a + i, v);
}

static inline __attribute__((always_inline, target("avx2"))) double hsum4(__m256d v)
{
    double l[4];
    _mm256_storeu_pd(l, v);
    return (l[0] + l[1]) + (l[2] + l[3]);
}

/* The L2 VJP of one contiguous row, four lanes at a time (the lanes compute exactly what the
 * scalar loop computes; only the order of the two sums differs). */
static inline __attribute__((always_inline, target("avx2"))) int l2_row_avx2(
    void *out, const void *p, const void *g, size_t n, double tau, int is_float)
{
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    __m256d sw = zero, swg = zero, chk = zero;
    size_t i = 0;
    const size_t es = is_float ? sizeof(float) : sizeof(double);
    for (; i + 4 <= n; i += 4) {
        hs_prefetch_stream(p, i, es);
        hs_prefetch_stream(g, i, es);
        __m256d pi = ld4(p, i, is_float), gi = ld4(g, i, is_float);
        __m256d m = _mm256_and_pd(_mm256_cmp_pd(pi, zero, _CMP_GT_OQ),
                                  _mm256_cmp_pd(pi, one, _CMP_LT_OQ));
        __m256d w = _mm256_and_pd(m, one);
        sw = _mm256_add_pd(sw, w);
        swg = _mm256_add_pd(swg, _mm256_mul_pd(w, gi));
        chk = _mm256_add_pd(chk, _mm256_add_pd(_mm256_mul_pd(gi, zero), _mm256_mul_pd(pi, zero)));
    }
    double s_w = hsum4(sw), s_wg = hsum4(swg), c = hsum4(chk);
    for (size_t j = i; j < n; j++) {
        double pj = is_float ? (double)((const float *)p)[j] : ((const double *)p)[j];
        double gj = is_float ? (double)((const float *)g)[j] : ((const double *)g)[j];
        double w = (pj > 0.0 && pj < 1.0) ? 1.0 : 0.0;
        s_w += w;
        s_wg += w * gj;
        c += gj * 0.0 + pj * 0.0;
    }
    if (isnan(c))
        return 1;
    double mean = s_w > 0 ? s_wg / s_w : 0.0, inv_tau = 1.0 / tau;
    const __m256d vmean = _mm256_set1_pd(mean), vinv = _mm256_set1_pd(inv_tau);
    for (i = 0; i + 4 <= n; i += 4) {
        hs_prefetch_stream(p, i, es);
        hs_prefetch_stream(g, i, es);
        __m256d pi = ld4(p, i, is_float), gi = ld4(g, i, is_float);
        __m256d m = _mm256_and_pd(_mm256_cmp_pd(pi, zero, _CMP_GT_OQ),
                                  _mm256_cmp_pd(pi, one, _CMP_LT_OQ));
        /* masked with AND, so clamped coordinates get +0 exactly */
        st4(out, i, _mm256_and_pd(m, _mm256_mul_pd(_mm256_sub_pd(gi, vmean), vinv)), is_float);
    }
    for (size_t j = i; j < n; j++) {
        double pj = is_float ? (double)((const float *)p)[j] : ((const double *)p)[j];
        double gj = is_float ? (double)((const float *)g)[j] : ((const double *)g)[j];
        double v = (pj > 0.0 && pj < 1.0) ? (gj - mean) * inv_tau : 0.0;
        if (is_float)
            ((float *)out)[j] = (float)v;
        else
            ((double *)out)[j] = v;
    }
    return 0;
}

__attribute__((target("avx2"))) static int l2_row_avx2_d(void *out, const void *p, const void *g,
                                                         size_t n, double tau)
{
    return l2_row_avx2(out, p, g, n, tau, 0);
}

__attribute__((target("avx2"))) static int l2_row_avx2_f(void *out, const void *p, const void *g,
                                                         size_t n, double tau)
{
    return l2_row_avx2(out, p, g, n, tau, 1);
}

#define HS_HAVE_AVX2_PATH 1
#endif

HS_MULTIVERSION
static int jac_row_dispatch(void *out, const void *p, const void *g, ptrdiff_t off, ptrdiff_t es,
                            size_t n, double tau, hs_regularization reg, int is_float)
{
#ifdef HS_HAVE_AVX2_PATH
    if (es == 1 && reg == HS_REG_L2 && hs_cpu_has_avx2() && tau > 0x1p-1020) { /* 1/tau finite */
        char *o = is_float ? (char *)((float *)out + off) : (char *)((double *)out + off);
        const char *pp = is_float ? (const char *)((const float *)p + off)
                                  : (const char *)((const double *)p + off);
        const char *gg = is_float ? (const char *)((const float *)g + off)
                                  : (const char *)((const double *)g + off);
        return is_float ? l2_row_avx2_f(o, pp, gg, n, tau) : l2_row_avx2_d(o, pp, gg, n, tau);
    }
#endif
    if (es == 1 && reg == HS_REG_L2)
        return is_float ? jac_row(out, p, g, off, 1, n, tau, HS_REG_L2, 1)
                        : jac_row(out, p, g, off, 1, n, tau, HS_REG_L2, 0);
    return is_float ? jac_row(out, p, g, off, es, n, tau, reg, 1)
                    : jac_row(out, p, g, off, es, n, tau, reg, 0);
}

static hs_status jac_apply(void *out, const void *p, const void *g, const hs_proj *d,
                           int is_float)
{
    hs_status s = hs_proj_validate(d);
    if (s != HS_OK)
        return s;
    if (!out || !p || !g)
        return hs_fail(HS_ERR_NULL, "%s is NULL", !out ? "the output" : (!p ? "p" : "the vector"));
    long long rows = (long long)d->rows;
    long long bad_row = -1;
    int nt = hs_thread_count(d, d->rows * d->n);
    if (nt <= 1) { /* no OpenMP region for one thread: its start-up rivals a short row */
        for (long long r = 0; r < rows && bad_row < 0; r++)
            if (jac_row_dispatch(out, p, g, hs_row_offset(d, (size_t)r), d->elem_stride, d->n,
                                 hs_row_tau(d, (size_t)r), d->reg, is_float))
                bad_row = r;
    } else {
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (long long r = 0; r < rows; r++) {
            size_t row = (size_t)r;
            if (jac_row_dispatch(out, p, g, hs_row_offset(d, row), d->elem_stride, d->n,
                                 hs_row_tau(d, row), d->reg, is_float)) {
#ifdef HS_HAVE_OPENMP
#pragma omp critical
#endif
                if (bad_row < 0 || r < bad_row)
                    bad_row = r;
            }
        }
    }
    if (bad_row >= 0)
        return hs_fail(HS_ERR_NONFINITE, "row %lld: p or the vector contains NaN or Inf", bad_row);
    return HS_OK;
}

hs_status hs_project_vjp_d(double *dz, const double *p, const double *g, const hs_proj *d)
{
    return jac_apply(dz, p, g, d, 0);
}

hs_status hs_project_vjp_f(float *dz, const float *p, const float *g, const hs_proj *d)
{
    return jac_apply(dz, p, g, d, 1);
}

hs_status hs_project_jvp_d(double *dp, const double *p, const double *dz, const hs_proj *d)
{
    return jac_apply(dp, p, dz, d, 0);
}

hs_status hs_project_jvp_f(float *dp, const float *p, const float *dz, const hs_proj *d)
{
    return jac_apply(dp, p, dz, d, 1);
}

/* Output helpers of the forward pass (here because they share the inlining pattern).
 * Returns how many written values are strictly inside (0, 1), in the output's own precision,
 * which is exactly the free set the backward pass will see. */
static inline __attribute__((always_inline)) size_t clip_row(void *p, const void *z, ptrdiff_t off,
                                                             ptrdiff_t es, size_t n, int is_float,
                                                             double ref, double t, double scale,
                                                             double tau)
{
    double nfree = 0, tau_s = tau * scale; /* a double count vectorizes; exact below 2^53 */
#pragma omp simd reduction(+ : nfree)
    for (size_t i = 0; i < n; i++) {
        ptrdiff_t o = off + (ptrdiff_t)i * es;
        double zi = is_float ? (double)((const float *)z)[o] : ((const double *)z)[o];
        double v = ((zi * scale - ref) - t) / tau_s; /* divide: tau/tau is exactly 1 */
        v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
        if (is_float) {
            float f = (float)v;
            ((float *)p)[o] = f;
            nfree += (f > 0.0f && f < 1.0f) ? 1.0 : 0.0;
        } else {
            ((double *)p)[o] = v;
            nfree += (v > 0.0 && v < 1.0) ? 1.0 : 0.0;
        }
    }
    return (size_t)nfree;
}

#ifdef HS_HAVE_AVX2_PATH
/* clip_row for a contiguous row, four lanes at a time; counts the free set in the output's
 * own precision like the scalar loop. */
static inline __attribute__((always_inline, target("avx2"))) size_t clip_row_avx2(
    void *p, const void *z, size_t n, int is_float, double ref, double t, double tau)
{
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    const __m256d vref = _mm256_set1_pd(ref), vt = _mm256_set1_pd(t), vtau = _mm256_set1_pd(tau);
    __m256d cnt = zero;
    size_t i = 0;
    const size_t es = is_float ? sizeof(float) : sizeof(double);
    for (; i + 4 <= n; i += 4) {
        hs_prefetch_stream(z, i, es);
        __m256d v = _mm256_div_pd(_mm256_sub_pd(_mm256_sub_pd(ld4(z, i, is_float), vref), vt), vtau);
        v = _mm256_min_pd(_mm256_max_pd(v, zero), one);
        if (is_float) {
            __m128 f = _mm256_cvtpd_ps(v);
            _mm_storeu_ps((float *)p + i, f);
            v = _mm256_cvtps_pd(f); /* count what was stored */
        } else {
            _mm256_storeu_pd((double *)p + i, v);
        }
        __m256d fr = _mm256_and_pd(_mm256_cmp_pd(v, zero, _CMP_GT_OQ), _mm256_cmp_pd(v, one, _CMP_LT_OQ));
        cnt = _mm256_add_pd(cnt, _mm256_and_pd(fr, one));
    }
    double c = hsum4(cnt);
    const char *zt = is_float ? (const char *)((const float *)z + i) : (const char *)((const double *)z + i);
    char *pt = is_float ? (char *)((float *)p + i) : (char *)((double *)p + i);
    return (size_t)c + clip_row(pt, zt, 0, 1, n - i, is_float, ref, t, 1.0, tau);
}

__attribute__((target("avx2"))) static size_t clip_row_avx2_d(void *p, const void *z, size_t n,
                                                              double ref, double t, double tau)
{
    return clip_row_avx2(p, z, n, 0, ref, t, tau);
}

__attribute__((target("avx2"))) static size_t clip_row_avx2_f(void *p, const void *z, size_t n,
                                                              double ref, double t, double tau)
{
    return clip_row_avx2(p, z, n, 1, ref, t, tau);
}
#endif

HS_MULTIVERSION
size_t hs_write_clipped(void *p, const void *z, const hs_proj *d, size_t r, int is_float,
                        double ref, double t, double scale, double tau)
{
    ptrdiff_t off = hs_row_offset(d, r), es = d->elem_stride;
    if (scale != 1.0) /* extreme tau (see hs_tau_scale): rare, the generic loop */
        return is_float ? clip_row(p, z, off, es, d->n, 1, ref, t, scale, tau)
                        : clip_row(p, z, off, es, d->n, 0, ref, t, scale, tau);
#ifdef HS_HAVE_AVX2_PATH
    if (es == 1 && hs_cpu_has_avx2()) {
        if (is_float)
            return clip_row_avx2_f((float *)p + off, (const float *)z + off, d->n, ref, t, tau);
        return clip_row_avx2_d((double *)p + off, (const double *)z + off, d->n, ref, t, tau);
    }
#endif
    if (es == 1)
        return is_float ? clip_row(p, z, off, 1, d->n, 1, ref, t, 1.0, tau)
                        : clip_row(p, z, off, 1, d->n, 0, ref, t, 1.0, tau);
    return is_float ? clip_row(p, z, off, es, d->n, 1, ref, t, 1.0, tau)
                    : clip_row(p, z, off, es, d->n, 0, ref, t, 1.0, tau);
}

void hs_row_store_all(void *p, const hs_proj *d, size_t r, int is_float, const double *x)
{
    ptrdiff_t off = hs_row_offset(d, r);
    for (size_t i = 0; i < d->n; i++) {
        ptrdiff_t o = off + (ptrdiff_t)i * d->elem_stride;
        if (is_float)
            ((float *)p)[o] = (float)x[i];
        else
            ((double *)p)[o] = x[i];
    }
}
