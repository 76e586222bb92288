#include "nn/batchnorm.h"

#include <math.h>

#include "util/error.h"

#define BN_INLINE static inline __attribute__((always_inline))

/* The forward's pre-activation in float; the backward recomputes it with this same
 * expression to know where the ReLU passed the gradient. */
BN_INLINE float bn_pre(float x, float mean, float scale, float beta)
{
    return (x - mean) * scale + beta;
}

BN_INLINE const float *at(const float *p, const hs_bn_layout *l, size_t n, size_t kb, size_t h, size_t w)
{
    return p + n * l->sn + kb * l->sc + h * l->sh + w * l->sw;
}

/* Channels of block kb that exist (the rest of a blocked layout's last block is padding). */
BN_INLINE size_t lanes(const hs_bn_layout *l, size_t kb, size_t cb)
{
    size_t c0 = kb * cb;
    return l->C - c0 < cb ? l->C - c0 : cb;
}

/* One channel block of the forward; cb is a constant where this is inlined for the common
 * blocks, so the lane loops vectorize. */
BN_INLINE void fwd_block(float *y, const float *x, const hs_bn_layout *l, size_t kb, size_t cb,
                         const float *gamma, const float *beta, double eps, int relu, float *mean_var,
                         const hs_bn_state *st)
{
    const size_t nl = lanes(l, kb, cb), c0 = kb * cb;
    double shift[64], s1[64], s2[64];
    /* sums of x - shift (shift = the block's first element): in double the shifted sum of
     * squares loses nothing to cancellation at these sizes */
    for (size_t j = 0; j < cb; j++) {
        shift[j] = (double)at(x, l, 0, kb, 0, 0)[j];
        s1[j] = s2[j] = 0;
    }
    for (size_t n = 0; n < l->N; n++)
        for (size_t h = 0; h < l->H; h++)
            for (size_t w = 0; w < l->W; w++) {
                const float *p = at(x, l, n, kb, h, w);
                for (size_t j = 0; j < cb; j++) {
                    double d = (double)p[j] - shift[j];
                    s1[j] += d;
                    s2[j] += d * d;
                }
            }
    const double M = (double)(l->N * l->H * l->W);
    float mf[64], sf[64], bf[64];
    for (size_t j = 0; j < cb; j++) {
        mf[j] = sf[j] = bf[j] = 0;
        if (j >= nl)
            continue;
        size_t c = c0 + j;
        double d1 = s1[j] / M, var = s2[j] / M - d1 * d1;
        if (var < 0)
            var = 0;
        double mean = shift[j] + d1, inv = 1.0 / sqrt(var + eps);
        st->mean[c] = mean;
        st->inv[c] = inv;
        st->mean_f[c] = mf[j] = (float)mean;
        st->scale_f[c] = sf[j] = (float)((double)gamma[c] * inv);
        bf[j] = beta[c];
        if (mean_var) {
            mean_var[c] = (float)mean;
            mean_var[l->C + c] = (float)var;
        }
    }
    for (size_t n = 0; n < l->N; n++)
        for (size_t h = 0; h < l->H; h++)
            for (size_t w = 0; w < l->W; w++) {
                const float *p = at(x, l, n, kb, h, w);
                float *q = y + (p - x);
                for (size_t j = 0; j < cb; j++) {
                    float v = bn_pre(p[j], mf[j], sf[j], bf[j]);
                    if (relu && !(v > 0))
                        v = 0;
                    q[j] = j < nl ? v : 0.0f;
                }
            }
}

BN_INLINE void bwd_block(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                         const hs_bn_layout *l, size_t kb, size_t cb, const float *gamma,
                         const float *beta, int relu, const hs_bn_state *st)
{
    const size_t nl = lanes(l, kb, cb), c0 = kb * cb;
    float mf[64], sf[64], bf[64];
    double md[64], sb[64], sg[64];
    for (size_t j = 0; j < cb; j++) {
        size_t c = j < nl ? c0 + j : c0;
        mf[j] = st->mean_f[c];
        sf[j] = st->scale_f[c];
        bf[j] = beta[c];
        md[j] = st->mean[c];
        sb[j] = sg[j] = 0;
    }
    for (size_t n = 0; n < l->N; n++)
        for (size_t h = 0; h < l->H; h++)
            for (size_t w = 0; w < l->W; w++) {
                const float *p = at(x, l, n, kb, h, w), *g = dy + (p - x);
                for (size_t j = 0; j < cb; j++) {
                    double gj = relu && !(bn_pre(p[j], mf[j], sf[j], bf[j]) > 0) ? 0.0 : (double)g[j];
                    sb[j] += gj;
                    sg[j] += gj * ((double)p[j] - md[j]);
                }
            }
    const double M = (double)(l->N * l->H * l->W);
    float k1[64], k2[64], k3[64];
    for (size_t j = 0; j < cb; j++) {
        k1[j] = k2[j] = k3[j] = 0;
        if (j >= nl)
            continue;
        size_t c = c0 + j;
        double inv = st->inv[c], gi = (double)gamma[c] * inv;
        dbeta[c] = (float)sb[j];
        dgamma[c] = (float)(sg[j] * inv);
        k1[j] = (float)gi;
        k2[j] = (float)(gi * inv * inv * sg[j] / M);
        k3[j] = (float)(gi * sb[j] / M);
    }
    if (!dx)
        return;
    for (size_t n = 0; n < l->N; n++)
        for (size_t h = 0; h < l->H; h++)
            for (size_t w = 0; w < l->W; w++) {
                const float *p = at(x, l, n, kb, h, w), *g = dy + (p - x);
                float *q = dx + (p - x);
                for (size_t j = 0; j < cb; j++) {
                    float gj = relu && !(bn_pre(p[j], mf[j], sf[j], bf[j]) > 0) ? 0.0f : g[j];
                    float v = k1[j] * gj - k2[j] * (p[j] - mf[j]) - k3[j];
                    q[j] = j < nl ? v : 0.0f;
                }
            }
}

static hs_status check(const void *a, const void *b, const void *c, const void *d, const void *e,
                       const hs_bn_layout *l, const char *what)
{
    if (!a || !b || !c || !d || !e || !l)
        return hs_fail(HS_ERR_NULL, "%s: NULL argument", what);
    if (!l->N || !l->C || !l->H || !l->W || !l->cb || l->cb > 64)
        return hs_fail(HS_ERR_SIZE, "%s: shape %zux%zux%zux%zu, channel block %zu (1..64)", what, l->N, l->C,
                       l->H, l->W, l->cb);
    return HS_OK;
}

static size_t nblocks(const hs_bn_layout *l)
{
    return (l->C + l->cb - 1) / l->cb;
}

hs_status hs_bn_train_forward(float *y, const float *x, const hs_bn_layout *l, const float *gamma,
                              const float *beta, double eps, int relu, float *mean_var,
                              const hs_bn_state *st)
{
    hs_status s = check(y, x, gamma, beta, st, l, "hs_bn_train_forward");
    if (s)
        return s;
    if (!st->mean || !st->inv || !st->mean_f || !st->scale_f)
        return hs_fail(HS_ERR_NULL, "hs_bn_train_forward: NULL state array");
    const ptrdiff_t nb = (ptrdiff_t)nblocks(l);
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (ptrdiff_t k = 0; k < nb; k++) {
        if (l->cb == 8)
            fwd_block(y, x, l, (size_t)k, 8, gamma, beta, eps, relu, mean_var, st);
        else if (l->cb == 16)
            fwd_block(y, x, l, (size_t)k, 16, gamma, beta, eps, relu, mean_var, st);
        else
            fwd_block(y, x, l, (size_t)k, l->cb, gamma, beta, eps, relu, mean_var, st);
    }
    return HS_OK;
}

hs_status hs_bn_train_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const hs_bn_layout *l, const float *gamma,
                               const float *beta, int relu, const hs_bn_state *st)
{
    hs_status s = check(dgamma, dbeta, dy, x, st, l, "hs_bn_train_backward");
    if (s)
        return s;
    if (!gamma || !beta || !st->mean || !st->inv || !st->mean_f || !st->scale_f)
        return hs_fail(HS_ERR_NULL, "hs_bn_train_backward: NULL argument");
    const ptrdiff_t nb = (ptrdiff_t)nblocks(l);
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (ptrdiff_t k = 0; k < nb; k++) {
        if (l->cb == 8)
            bwd_block(dx, dgamma, dbeta, dy, x, l, (size_t)k, 8, gamma, beta, relu, st);
        else if (l->cb == 16)
            bwd_block(dx, dgamma, dbeta, dy, x, l, (size_t)k, 16, gamma, beta, relu, st);
        else
            bwd_block(dx, dgamma, dbeta, dy, x, l, (size_t)k, l->cb, gamma, beta, relu, st);
    }
    return HS_OK;
}
