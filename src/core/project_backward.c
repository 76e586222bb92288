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
    double sw = 0, swg = 0, chk = 0;
#pragma omp simd reduction(+ : sw, swg, chk)
    for (size_t i = 0; i < n; i++) {
        ptrdiff_t o = off + (ptrdiff_t)i * es;
        double pi = is_float ? (double)((const float *)p)[o] : ((const double *)p)[o];
        double gi = is_float ? (double)((const float *)g)[o] : ((const double *)g)[o];
        double w = weight(reg, pi);
        chk += gi * 0.0 + pi * 0.0; /* NaN iff something is NaN/Inf */
        sw += w;
        swg += w * gi;
    }
    if (isnan(chk))
        return 1;
    double mean = sw > 0 ? swg / sw : 0.0, inv_tau = 1.0 / tau;
    for (size_t i = 0; i < n; i++) {
        ptrdiff_t o = off + (ptrdiff_t)i * es;
        double pi = is_float ? (double)((const float *)p)[o] : ((const double *)p)[o];
        double gi = is_float ? (double)((const float *)g)[o] : ((const double *)g)[o];
        double w = weight(reg, pi);
        double v = w == 0.0 ? 0.0 : w * (gi - mean) * inv_tau; /* +0, never -0, when clamped */
        if (is_float)
            ((float *)out)[o] = (float)v;
        else
            ((double *)out)[o] = v;
    }
    return 0;
}

HS_MULTIVERSION
static int jac_row_dispatch(void *out, const void *p, const void *g, ptrdiff_t off, ptrdiff_t es,
                            size_t n, double tau, hs_regularization reg, int is_float)
{
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
    (void)nt;
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (long long r = 0; r < rows; r++) {
        size_t row = (size_t)r;
        if (jac_row_dispatch(out, p, g, hs_row_offset(d, row), d->elem_stride, d->n,
                             hs_row_tau(d, row), d->reg, is_float)) {
#ifdef HS_HAVE_OPENMP
#pragma omp critical(hs_jac_bad_row)
#endif
            if (bad_row < 0 || r < bad_row)
                bad_row = r;
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
                                                             double ref, double t, double tau)
{
    double nfree = 0; /* a double count vectorizes; exact below 2^53 */
#pragma omp simd reduction(+ : nfree)
    for (size_t i = 0; i < n; i++) {
        ptrdiff_t o = off + (ptrdiff_t)i * es;
        double zi = is_float ? (double)((const float *)z)[o] : ((const double *)z)[o];
        double v = ((zi - ref) - t) / tau; /* divide: tau/tau is exactly 1 */
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

HS_MULTIVERSION
size_t hs_write_clipped(void *p, const void *z, const hs_proj *d, size_t r, int is_float,
                        double ref, double t, double tau)
{
    ptrdiff_t off = hs_row_offset(d, r), es = d->elem_stride;
    if (es == 1)
        return is_float ? clip_row(p, z, off, 1, d->n, 1, ref, t, tau)
                        : clip_row(p, z, off, 1, d->n, 0, ref, t, tau);
    return is_float ? clip_row(p, z, off, es, d->n, 1, ref, t, tau)
                    : clip_row(p, z, off, es, d->n, 0, ref, t, tau);
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
