/* The HyperSimplex objective for boosting: loss, gradient (through the operator's VJP) and
 * the hessian options. See include/hypersimplex/gbrt.h for the definitions.
 *
 * Besides the projection and its VJP (one row of n elements, serial in the operator), the
 * objective makes three serial passes over the rows: (1) read margins and check/count labels,
 * (2) loss and dL/dp, (3) scale, convert and fill the hessian. They are memory-bound: with
 * OpenMP over 2 threads they were slower on the shared 2-core machine (13.8 ms against
 * 10.1 ms for the whole objective at n = 1e6, bench_gbrt), so they stay serial. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "hypersimplex/gbrt.h"
#include "util/error.h"

typedef enum num_type { NUM_DOUBLE, NUM_FLOAT } num_type;

static hs_status check_args(const hs_gbrt_objective_info *info, const void *margin,
                            const float *label, const double *work, size_t n, double tau,
                            hs_gbrt_hessian h, const void *grad, const void *hess)
{
    if (!info || !margin || !label || !work)
        return hs_fail(HS_ERR_NULL, "HyperSimplex objective: NULL argument");
    if (grad && !hess)
        return hs_fail(HS_ERR_NULL, "HyperSimplex objective: gradient without a hessian buffer");
    if (n == 0 || n > SIZE_MAX / 2 / sizeof(double))
        return hs_fail(HS_ERR_SIZE, "HyperSimplex objective: %zu rows", n);
    if (!(tau > 0) || !isfinite(tau))
        return hs_fail(HS_ERR_TAU, "HyperSimplex objective: tau = %g must be finite and > 0",
                       tau);
    if (h != HS_GBRT_HESS_ONES && h != HS_GBRT_HESS_GN && h != HS_GBRT_HESS_CONST)
        return hs_fail(HS_ERR_ARG, "HyperSimplex objective: unknown hessian rule %d", (int)h);
    return HS_OK;
}

/* Pass 1: m = margin (as double), labels checked and counted. */
static hs_status read_rows(double *m, size_t *k_out, const void *margin, num_type type,
                           const float *label, size_t n)
{
    size_t k = 0, bad = 0;
    if (type == NUM_FLOAT) {
        const float *mf = margin;
        for (size_t i = 0; i < n; i++) {
            m[i] = (double)mf[i];
            k += label[i] == 1.0f;
            bad += label[i] != 0.0f && label[i] != 1.0f;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            k += label[i] == 1.0f;
            bad += label[i] != 0.0f && label[i] != 1.0f;
        }
    }
    if (bad) {
        for (size_t i = 0; i < n; i++)
            if (label[i] != 0.0f && label[i] != 1.0f)
                return hs_fail(HS_ERR_LABEL,
                               "HyperSimplex objective: label %zu is %g, not 0 or 1", i,
                               (double)label[i]);
    }
    if (k == 0 || k == n)
        return hs_fail(HS_ERR_LABEL,
                       "HyperSimplex objective: the training set has %s (k = %zu of %zu rows)",
                       k ? "no negatives" : "no positives", k, n);
    *k_out = k;
    return HS_OK;
}

/* The Gauss-Newton diagonal on the free set, times n: (2 / tau^2) (1 - 1/|S|); the
 * constant rule uses the same scale without the (1 - 1/|S|) factor. */
static double gn_value(hs_gbrt_hessian h, double tau, size_t n_free)
{
    double base = 2.0 / (tau * tau);
    if (h == HS_GBRT_HESS_GN)
        return n_free ? base * (1.0 - 1.0 / (double)n_free) : 0.0;
    return base;
}

/* Everything after pass 1. m: the margins as doubles (overwritten by the gradient, n * dL/dm,
 * when out_grad != NULL); p: (n) the projection. Outputs in double or float. */
static hs_status finish(void *out_grad, void *out_hess, num_type type,
                        hs_gbrt_objective_info *info, double *m, double *p, const float *label,
                        size_t n, size_t k, double tau, hs_gbrt_hessian h)
{
    hs_proj d = hs_proj_make(1, n, (double)k, tau);
    d.threads = 1;
    double theta = 0;
    size_t n_free = 0;
    hs_status st = hs_project_d(p, &theta, &n_free, m, &d);
    if (st)
        return st;
    info->k = (double)k;
    info->theta = theta;
    info->n_free = n_free;
    double loss = 0;
    /* Pass 2: loss, and dL/dp = 2 (p - y) / n into m (the margins are no longer needed). */
    const double c = 2.0 / (double)n;
    if (out_grad) {
        for (size_t i = 0; i < n; i++) {
            double r = p[i] - (double)label[i];
            loss += r * r;
            m[i] = c * r;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            double r = p[i] - (double)label[i];
            loss += r * r;
        }
    }
    info->loss = loss / (double)n;
    if (!out_grad)
        return HS_OK;
    /* dL/dm by the operator's VJP, in place. */
    if ((st = hs_project_vjp_d(m, p, m, &d)))
        return st;
    /* Pass 3: XGBoost's sum convention, grad = n * dL/dm; the hessian. */
    const double scale = (double)n;
    const double gn = gn_value(h, tau, n_free);
    if (type == NUM_FLOAT) {
        float *g = out_grad, *hh = out_hess;
        for (size_t i = 0; i < n; i++) {
            g[i] = (float)(scale * m[i]);
            hh[i] = h == HS_GBRT_HESS_ONES ? 1.0f
                    : h == HS_GBRT_HESS_CONST || (p[i] > 0 && p[i] < 1) ? (float)gn
                                                                        : 0.0f;
        }
    } else {
        double *g = out_grad, *hh = out_hess;
        for (size_t i = 0; i < n; i++) {
            g[i] = scale * m[i];
            hh[i] = h == HS_GBRT_HESS_ONES ? 1.0
                    : h == HS_GBRT_HESS_CONST || (p[i] > 0 && p[i] < 1) ? gn
                                                                        : 0.0;
        }
    }
    return HS_OK;
}

hs_status hs_gbrt_hs_objective_d(double *grad, double *hess, hs_gbrt_objective_info *info,
                                 const double *margin, const float *label, size_t n, double tau,
                                 hs_gbrt_hessian hessian, double *work)
{
    hs_status st = check_args(info, margin, label, work, n, tau, hessian, grad, hess);
    if (st)
        return st;
    double *p = work, *g = work + n;
    size_t k = 0;
    if ((st = read_rows(NULL, &k, margin, NUM_DOUBLE, label, n)))
        return st;
    /* The gradient is built in g from a copy of the margins (the caller's stay const). */
    for (size_t i = 0; i < n; i++)
        g[i] = margin[i];
    return finish(grad, hess, NUM_DOUBLE, info, g, p, label, n, k, tau, hessian);
}

hs_status hs_gbrt_hs_objective_f(float *grad, float *hess, hs_gbrt_objective_info *info,
                                 const float *margin, const float *label, size_t n, double tau,
                                 hs_gbrt_hessian hessian, double *work)
{
    hs_status st = check_args(info, margin, label, work, n, tau, hessian, grad, hess);
    if (st)
        return st;
    double *m = work, *p = work + n;
    size_t k = 0;
    if ((st = read_rows(m, &k, margin, NUM_FLOAT, label, n)))
        return st;
    return finish(grad, hess, NUM_FLOAT, info, m, p, label, n, k, tau, hessian);
}
