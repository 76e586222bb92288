/* Network engine: reference layers against central finite differences, every oneDNN layer
 * (forward and backward) against its reference, the whole network against a composition of
 * reference layers and against PyTorch fixtures, and Adam against its formula. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hypersimplex.h"
#include "hypersimplex/loss.h"
#include "hypersimplex/nn.h"
#include "nn/dgraph.h"
#include "nn/ref_layers.h"
#include "test_util.h"

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

static void fill_normal(double *p, size_t n, tu_rng *r, double scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = scale * tu_normal(r);
}

static double max_abs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m)
            m = fabs(a[i]);
    return m;
}

/* Fails unless |got - want| <= tol * max(1, max|want|) elementwise. */
static void check_close_dd(const char *what, const double *got, const double *want, size_t n,
                           double tol)
{
    double scale = max_abs(want, n);
    if (scale < 1)
        scale = 1;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (!(e <= tol * scale)) {
            print_error("%s[%zu]: got %.12g, want %.12g (tol %.3g)\n", what, i, got[i], want[i],
                        tol * scale);
            fail();
        }
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* ------------------------------------------------------------------------- */
/* Reference layers against central differences (double precision)            */
/* ------------------------------------------------------------------------- */

/* A scalar function of one array, for finite differences: returns sum(r * layer(...)). */
typedef double (*scalar_fn)(void *ctx);

static void fd_check(const char *what, double *param, size_t n, const double *analytic,
                     scalar_fn f, void *ctx, double h, double tol)
{
    for (size_t i = 0; i < n; i++) {
        double keep = param[i];
        param[i] = keep + h;
        double up = f(ctx);
        param[i] = keep - h;
        double dn = f(ctx);
        param[i] = keep;
        double num = (up - dn) / (2 * h);
        double err = fabs(num - analytic[i]);
        if (!(err <= tol * (1 + fabs(num)))) {
            print_error("%s[%zu]: analytic %.12g, central difference %.12g\n", what, i, analytic[i], num);
            fail();
        }
    }
}

typedef struct conv_ctx {
    size_t N, ci, co, H, W;
    double *x, *w, *b, *y, *r;
} conv_ctx;

static double conv_fn(void *p)
{
    conv_ctx *c = p;
    hs_ref_conv3x3_forward(c->y, c->x, c->w, c->b, c->N, c->ci, c->co, c->H, c->W);
    return dot(c->y, c->r, c->N * c->co * c->H * c->W);
}

static void test_ref_conv_fd(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(1);
    conv_ctx c = {2, 3, 4, 5, 4, NULL, NULL, NULL, NULL, NULL};
    size_t nx = c.N * c.ci * c.H * c.W, ny = c.N * c.co * c.H * c.W, nw = c.co * c.ci * 9;
    c.x = tu_dvec(nx), c.w = tu_dvec(nw), c.b = tu_dvec(c.co), c.y = tu_dvec(ny), c.r = tu_dvec(ny);
    fill_normal(c.x, nx, &r, 1), fill_normal(c.w, nw, &r, 0.5), fill_normal(c.b, c.co, &r, 0.5);
    fill_normal(c.r, ny, &r, 1);
    double *dx = tu_dvec(nx), *dw = tu_dvec(nw), *db = tu_dvec(c.co);
    hs_ref_conv3x3_backward(dx, dw, db, c.r, c.x, c.w, c.N, c.ci, c.co, c.H, c.W);
    fd_check("conv dx", c.x, nx, dx, conv_fn, &c, 1e-5, 1e-7);
    fd_check("conv dw", c.w, nw, dw, conv_fn, &c, 1e-5, 1e-7);
    fd_check("conv db", c.b, c.co, db, conv_fn, &c, 1e-5, 1e-7);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dw), free(db);
}

typedef struct bn_ctx {
    size_t N, C, HW;
    double *x, *g, *b, *y, *r, *mean, *var;
} bn_ctx;

static double bn_fn(void *p)
{
    bn_ctx *c = p;
    hs_ref_bn_forward_train(c->y, c->mean, c->var, c->x, c->g, c->b, c->N, c->C, c->HW, 1e-5);
    return dot(c->y, c->r, c->N * c->C * c->HW);
}

static void test_ref_bn_fd(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(2);
    bn_ctx c = {3, 4, 5, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t n = c.N * c.C * c.HW;
    c.x = tu_dvec(n), c.g = tu_dvec(c.C), c.b = tu_dvec(c.C), c.y = tu_dvec(n), c.r = tu_dvec(n);
    c.mean = tu_dvec(c.C), c.var = tu_dvec(c.C);
    fill_normal(c.x, n, &r, 2), fill_normal(c.g, c.C, &r, 1), fill_normal(c.b, c.C, &r, 1);
    fill_normal(c.r, n, &r, 1);
    double *dx = tu_dvec(n), *dg = tu_dvec(c.C), *db = tu_dvec(c.C);
    bn_fn(&c);
    hs_ref_bn_backward(dx, dg, db, c.r, c.x, c.mean, c.var, c.g, c.N, c.C, c.HW, 1e-5);
    fd_check("bn dx", c.x, n, dx, bn_fn, &c, 1e-5, 1e-6);
    fd_check("bn dgamma", c.g, c.C, dg, bn_fn, &c, 1e-5, 1e-6);
    fd_check("bn dbeta", c.b, c.C, db, bn_fn, &c, 1e-5, 1e-6);
    free(c.x), free(c.g), free(c.b), free(c.y), free(c.r), free(c.mean), free(c.var);
    free(dx), free(dg), free(db);
}

typedef struct pool_ctx {
    size_t N, C, H, W;
    double *x, *y, *r;
    int relu;
} pool_ctx;

static double pool_fn(void *p)
{
    pool_ctx *c = p;
    size_t ny = c->N * c->C * c->H * c->W / 4;
    hs_ref_maxpool2_forward(c->y, c->x, c->N, c->C, c->H, c->W);
    if (c->relu)
        hs_ref_relu_forward(c->y, c->y, ny);
    return dot(c->y, c->r, ny);
}

/* Max pooling then ReLU (as in the network), on inputs away from ties and from 0. */
static void test_ref_pool_relu_fd(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(3);
    pool_ctx c = {2, 3, 6, 4, NULL, NULL, NULL, 1};
    size_t nx = c.N * c.C * c.H * c.W, ny = nx / 4;
    c.x = tu_dvec(nx), c.y = tu_dvec(ny), c.r = tu_dvec(ny);
    for (size_t i = 0; i < nx; i++) /* distinct values, |x| >= 0.05: no ties, no kink at 0 */
        c.x[i] = (tu_uniform(&r) < 0.5 ? -1 : 1) * (0.05 + (double)((i * 7919) % nx) / (double)nx);
    fill_normal(c.r, ny, &r, 1);
    double *dx = tu_dvec(nx), *dy = tu_dvec(ny);
    pool_fn(&c);
    hs_ref_relu_backward(dy, c.r, c.y, ny);
    hs_ref_maxpool2_backward(dx, dy, c.x, c.N, c.C, c.H, c.W);
    fd_check("pool+relu dx", c.x, nx, dx, pool_fn, &c, 1e-6, 1e-7);
    free(c.x), free(c.y), free(c.r), free(dx), free(dy);
}

typedef struct lin_ctx {
    size_t N, in, out;
    double *x, *w, *b, *y, *r;
} lin_ctx;

static double lin_fn(void *p)
{
    lin_ctx *c = p;
    hs_ref_linear_forward(c->y, c->x, c->w, c->b, c->N, c->in, c->out);
    return dot(c->y, c->r, c->N * c->out);
}

static void test_ref_linear_fd(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(4);
    lin_ctx c = {3, 5, 4, NULL, NULL, NULL, NULL, NULL};
    c.x = tu_dvec(c.N * c.in), c.w = tu_dvec(c.out * c.in), c.b = tu_dvec(c.out), c.y = tu_dvec(c.N * c.out);
    c.r = tu_dvec(c.N * c.out);
    fill_normal(c.x, c.N * c.in, &r, 1), fill_normal(c.w, c.out * c.in, &r, 1);
    fill_normal(c.b, c.out, &r, 1), fill_normal(c.r, c.N * c.out, &r, 1);
    double *dx = tu_dvec(c.N * c.in), *dw = tu_dvec(c.out * c.in), *db = tu_dvec(c.out);
    hs_ref_linear_backward(dx, dw, db, c.r, c.x, c.w, c.N, c.in, c.out);
    fd_check("linear dx", c.x, c.N * c.in, dx, lin_fn, &c, 1e-6, 1e-8);
    fd_check("linear dw", c.w, c.out * c.in, dw, lin_fn, &c, 1e-6, 1e-8);
    fd_check("linear db", c.b, c.out, db, lin_fn, &c, 1e-6, 1e-8);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dw), free(db);
}

/* ------------------------------------------------------------------------- */
/* oneDNN layers against the reference layers                                */
/* ------------------------------------------------------------------------- */

enum { S_XP, S_X, S_Y, S_YP, S_DYP, S_DY, S_DX, S_DXP, NS };

typedef struct harness {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    hs_dg g;
    void *slot[NS];
    hs_dg_tensor xp, x, y, yp;
    int blocked;
} harness;

/* Starts a single-layer graph whose input is plain (N x C x H x W) or (N x C) if H == 0,
 * reordered to nChw8c when blocked != 0. */
static void h_begin(harness *h, int train, size_t N, size_t C, size_t H, size_t W, int blocked)
{
    memset(h, 0, sizeof *h);
    h->blocked = blocked;
    assert_int_equal(dnnl_engine_create(&h->eng, dnnl_cpu, 0), dnnl_success);
    assert_int_equal(dnnl_stream_create(&h->stream, h->eng, dnnl_stream_default_flags), dnnl_success);
    assert_int_equal(hs_dg_init(&h->g, h->eng, h->stream, train, N, NS), HS_OK);
    h->xp.slot = S_XP;
    if (H)
        assert_int_equal(hs_dg_md_nchw(&h->xp.md, N, C, H, W), HS_OK);
    else
        assert_int_equal(hs_dg_md_nc(&h->xp.md, N, C), HS_OK);
    if (blocked) {
        dnnl_memory_desc_t md;
        dnnl_dims_t d = {(dnnl_dim_t)N, (dnnl_dim_t)C, (dnnl_dim_t)H, (dnnl_dim_t)W};
        assert_int_equal(dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_nChw8c), dnnl_success);
        assert_int_equal(hs_dg_reorder(&h->g, &h->x, &h->xp, &md, S_X, S_DX, S_DXP), HS_OK);
    } else {
        h->x = h->xp;
    }
}

/* Ends the graph: the layer output y is reordered to plain; allocates and binds the slots. */
static void h_end(harness *h, const hs_dg_tensor *y)
{
    dnnl_memory_desc_t plain;
    if (y->md.ndims == 4)
        assert_int_equal(hs_dg_md_nchw(&plain, (size_t)y->md.dims[0], (size_t)y->md.dims[1],
                                       (size_t)y->md.dims[2], (size_t)y->md.dims[3]), HS_OK);
    else
        assert_int_equal(hs_dg_md_nc(&plain, (size_t)y->md.dims[0], (size_t)y->md.dims[1]), HS_OK);
    assert_int_equal(hs_dg_reorder(&h->g, &h->yp, y, &plain, S_YP, S_DYP, S_DY), HS_OK);
    for (int i = 0; i < NS; i++) {
        size_t b = h->g.slot_bytes[i] ? h->g.slot_bytes[i] : 64;
        h->slot[i] = calloc(1, b);
        assert_non_null(h->slot[i]);
    }
    assert_int_equal(hs_dg_bind(&h->g, h->slot, 1), HS_OK);
}

static void h_free(harness *h)
{
    hs_dg_destroy(&h->g);
    for (int i = 0; i < NS; i++)
        free(h->slot[i]);
    dnnl_stream_destroy(h->stream);
    dnnl_engine_destroy(h->eng);
}

static void h_forward(harness *h, const double *x, size_t nx, double *y, size_t ny)
{
    tu_to_float(h->slot[S_XP], x, nx);
    assert_int_equal(hs_dg_forward(&h->g), HS_OK);
    tu_to_double(y, h->slot[S_YP], ny);
}

static void h_backward(harness *h, const double *dy, size_t ny, double *dx, size_t nx)
{
    tu_to_float(h->slot[S_DYP], dy, ny);
    assert_int_equal(hs_dg_backward(&h->g), HS_OK);
    if (dx)
        tu_to_double(dx, h->slot[h->blocked ? S_DXP : S_DX], nx);
}

static void check_dd_f(const char *what, const double *got, const double *want, size_t n)
{
    check_close_dd(what, got, want, n, 2e-5);
}

static void run_conv_case(size_t N, size_t ci, size_t co, size_t H, size_t W, int blocked, int first)
{
    tu_rng r = tu_rng_make(10 + ci * 7 + co);
    size_t nx = N * ci * H * W, ny = N * co * H * W, nw = co * ci * 9;
    double *x = tu_dvec(nx), *w = tu_dvec(nw), *b = tu_dvec(co), *y = tu_dvec(ny), *dy = tu_dvec(ny);
    double *ry = tu_dvec(ny), *rdx = tu_dvec(nx), *rdw = tu_dvec(nw), *rdb = tu_dvec(co), *dx = tu_dvec(nx);
    double *gw = tu_dvec(nw), *gb = tu_dvec(co);
    fill_normal(x, nx, &r, 1), fill_normal(w, nw, &r, 0.3), fill_normal(b, co, &r, 0.3);
    fill_normal(dy, ny, &r, 1);
    float *fw = tu_fvec(nw), *fb = tu_fvec(co), *fdw = tu_fvec(nw), *fdb = tu_fvec(co);
    tu_to_float(fw, w, nw), tu_to_float(fb, b, co);
    /* the reference sees the float-rounded inputs */
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)x[i];
    tu_to_double(w, fw, nw), tu_to_double(b, fb, co);

    harness h;
    h_begin(&h, 1, N, ci, H, W, blocked);
    hs_dg_tensor yt;
    assert_int_equal(hs_dg_conv3x3(&h.g, &yt, &h.x, co, fw, fb, fdw, fdb, S_Y, S_DY, first ? -1 : S_DX),
                     HS_OK);
    h_end(&h, &yt);
    h_forward(&h, x, nx, y, ny);
    hs_ref_conv3x3_forward(ry, x, w, b, N, ci, co, H, W);
    check_dd_f("conv y", y, ry, ny);
    h_backward(&h, dy, ny, first ? NULL : dx, nx);
    hs_ref_conv3x3_backward(rdx, rdw, rdb, dy, x, w, N, ci, co, H, W);
    tu_to_double(gw, fdw, nw), tu_to_double(gb, fdb, co);
    check_dd_f("conv dw", gw, rdw, nw);
    check_dd_f("conv db", gb, rdb, co);
    if (!first)
        check_dd_f("conv dx", dx, rdx, nx);
    h_free(&h);
    free(x), free(w), free(b), free(y), free(dy), free(ry), free(rdx), free(rdw), free(rdb), free(dx);
    free(gw), free(gb), free(fw), free(fb), free(fdw), free(fdb);
}

static void test_dnnl_conv(void **state)
{
    (void)state;
    run_conv_case(3, 1, 8, 8, 6, 0, 1);   /* first layer: one input channel, plain input */
    run_conv_case(2, 3, 5, 6, 6, 0, 0);   /* plain input, padded output channels */
    run_conv_case(2, 8, 16, 6, 4, 1, 0);  /* blocked input */
    run_conv_case(2, 5, 3, 4, 4, 1, 0);   /* blocked input with padded channels */
}

/* background != 0: like a convolution of images with a uniform background, 60% of each
 * channel's values are one constant (per channel), the rest normal around it. */
static void run_bn_case(size_t N, size_t C, size_t H, size_t W, int blocked, int fuse_relu, int train,
                        int background)
{
    tu_rng r = tu_rng_make(20 + C + (size_t)fuse_relu);
    size_t n = N * C * H * W, HW = H * W;
    double *x = tu_dvec(n), *g = tu_dvec(C), *b = tu_dvec(C), *y = tu_dvec(n), *dy = tu_dvec(n), *dx = tu_dvec(n);
    double *ry = tu_dvec(n), *rdx = tu_dvec(n), *rdg = tu_dvec(C), *rdb = tu_dvec(C), *mean = tu_dvec(C), *var = tu_dvec(C);
    double *gg = tu_dvec(C), *gbb = tu_dvec(C), *tmp = tu_dvec(n), *mv_d = tu_dvec(2 * C);
    fill_normal(x, n, &r, 2), fill_normal(g, C, &r, 1), fill_normal(b, C, &r, 1), fill_normal(dy, n, &r, 1);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)x[i] + 0.5 * (double)(i % C);
    if (background)
        for (size_t i = 0; i < n; i++) {
            double c0 = 0.3 + 0.2 * (double)((i / HW) % C);
            x[i] = tu_uniform(&r) < 0.6 ? c0 : c0 + 0.25 * x[i];
        }
    for (size_t i = 0; i < n; i++)
        x[i] = (float)x[i];
    float *fg = tu_fvec(C), *fb = tu_fvec(C), *fdg = tu_fvec(C), *fdb = tu_fvec(C), *mv = tu_fvec(2 * C);
    tu_to_float(fg, g, C), tu_to_float(fb, b, C), tu_to_double(g, fg, C), tu_to_double(b, fb, C);
    if (!train) {
        for (size_t c = 0; c < C; c++) {
            mv[c] = (float)(0.3 * (double)c - 0.2);
            mv[C + c] = (float)(0.5 + 0.25 * (double)c);
        }
        tu_to_double(mv_d, mv, 2 * C);
    }

    harness h;
    h_begin(&h, train, N, C, H, W, blocked);
    hs_dg_tensor yt;
    assert_int_equal(hs_dg_batchnorm(&h.g, &yt, &h.x, fg, fb, fdg, fdb, mv, 1e-5, fuse_relu, S_Y, S_DY,
                                     S_DX), HS_OK);
    h_end(&h, &yt);
    h_forward(&h, x, n, y, n);
    if (train) {
        hs_ref_bn_forward_train(ry, mean, var, x, g, b, N, C, HW, 1e-5);
        double *gm = tu_dvec(2 * C);
        tu_to_double(gm, mv, 2 * C);
        check_dd_f("bn mean", gm, mean, C);
        check_dd_f("bn var", gm + C, var, C);
        free(gm);
    } else {
        hs_ref_bn_forward_eval(ry, x, g, b, mv_d, mv_d + C, N, C, HW, 1e-5);
    }
    if (fuse_relu)
        hs_ref_relu_forward(ry, ry, n);
    check_dd_f("bn y", y, ry, n);
    if (train) {
        h_backward(&h, dy, n, dx, n);
        const double *g_in = dy;
        if (fuse_relu) {
            /* the ReLU's mask from the layer's own output: an element whose pre-activation
             * is within float rounding of 0 may fall on either side (1.6 million elements
             * in the largest case) */
            hs_ref_relu_backward(tmp, dy, y, n);
            g_in = tmp;
        }
        hs_ref_bn_backward(rdx, rdg, rdb, g_in, x, mean, var, g, N, C, HW, 1e-5);
        tu_to_double(gg, fdg, C), tu_to_double(gbb, fdb, C);
        check_dd_f("bn dx", dx, rdx, n);
        check_dd_f("bn dgamma", gg, rdg, C);
        check_dd_f("bn dbeta", gbb, rdb, C);
    }
    h_free(&h);
    free(x), free(g), free(b), free(y), free(dy), free(dx), free(ry), free(rdx), free(rdg), free(rdb);
    free(mean), free(var), free(gg), free(gbb), free(tmp), free(mv_d);
    free(fg), free(fb), free(fdg), free(fdb), free(mv);
}

static void test_dnnl_batchnorm(void **state)
{
    (void)state;
    run_bn_case(4, 8, 5, 6, 1, 0, 1, 0);
    run_bn_case(3, 5, 4, 4, 1, 0, 1, 0);
    run_bn_case(3, 6, 4, 4, 0, 0, 1, 0);
    run_bn_case(4, 8, 4, 4, 1, 1, 1, 0); /* fused ReLU */
    run_bn_case(3, 5, 4, 6, 1, 0, 0, 0); /* inference with given statistics */
    /* 200,704 elements per channel (batch 256 of 28 x 28, the paper's first layers at batch
     * 256), most of them one value as on an image background: sums accumulated in float one
     * element after another (oneDNN 2.6's training batch norm) miss the tolerance here by far,
     * with an error that grows in proportion to the batch */
    run_bn_case(256, 8, 28, 28, 1, 1, 1, 1);
    run_bn_case(64, 3, 28, 28, 0, 0, 1, 1); /* plain layout */
}

static void test_dnnl_pool_relu(void **state)
{
    (void)state;
    size_t N = 2, C = 5, H = 6, W = 8, nx = N * C * H * W, ny = nx / 4;
    tu_rng r = tu_rng_make(30);
    double *x = tu_dvec(nx), *y = tu_dvec(ny), *dy = tu_dvec(ny), *dx = tu_dvec(nx), *ry = tu_dvec(ny), *rdx = tu_dvec(nx);
    double *t = tu_dvec(ny);
    for (size_t i = 0; i < nx; i++) /* distinct, away from 0 */
        x[i] = (float)((tu_uniform(&r) < 0.5 ? -1 : 1) * (0.05 + (double)((i * 7919) % nx) / (double)nx));
    fill_normal(dy, ny, &r, 1);
    harness h;
    h_begin(&h, 1, N, C, H, W, 1);
    hs_dg_tensor p;
    assert_int_equal(hs_dg_maxpool2(&h.g, &p, &h.x, S_Y, S_DY, S_DX), HS_OK);
    assert_int_equal(hs_dg_relu(&h.g, &p, S_DY), HS_OK);
    h_end(&h, &p);
    h_forward(&h, x, nx, y, ny);
    hs_ref_maxpool2_forward(ry, x, N, C, H, W);
    hs_ref_relu_forward(ry, ry, ny);
    check_dd_f("pool+relu y", y, ry, ny);
    h_backward(&h, dy, ny, dx, nx);
    hs_ref_relu_backward(t, dy, ry, ny);
    hs_ref_maxpool2_backward(rdx, t, x, N, C, H, W);
    check_dd_f("pool+relu dx", dx, rdx, nx);
    h_free(&h);
    free(x), free(y), free(dy), free(dx), free(ry), free(rdx), free(t);
}

static void run_linear_case(size_t N, size_t C, size_t H, size_t W, int blocked, size_t out)
{
    tu_rng r = tu_rng_make(40 + out);
    size_t in = C * (H ? H * W : 1), nx = N * in, ny = N * out, nw = out * in;
    double *x = tu_dvec(nx), *w = tu_dvec(nw), *b = tu_dvec(out), *y = tu_dvec(ny), *dy = tu_dvec(ny), *dx = tu_dvec(nx);
    double *ry = tu_dvec(ny), *rdx = tu_dvec(nx), *rdw = tu_dvec(nw), *rdb = tu_dvec(out), *gw = tu_dvec(nw), *gb = tu_dvec(out);
    fill_normal(x, nx, &r, 1), fill_normal(w, nw, &r, 0.3), fill_normal(b, out, &r, 0.3);
    fill_normal(dy, ny, &r, 1);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)x[i];
    float *fw = tu_fvec(nw), *fb = tu_fvec(out), *fdw = tu_fvec(nw), *fdb = tu_fvec(out);
    tu_to_float(fw, w, nw), tu_to_float(fb, b, out), tu_to_double(w, fw, nw), tu_to_double(b, fb, out);
    harness h;
    h_begin(&h, 1, N, C, H, W, blocked);
    hs_dg_tensor yt;
    assert_int_equal(hs_dg_linear(&h.g, &yt, &h.x, out, fw, fb, fdw, fdb, S_Y, S_DY, S_DX), HS_OK);
    h_end(&h, &yt);
    h_forward(&h, x, nx, y, ny);
    hs_ref_linear_forward(ry, x, w, b, N, in, out);
    check_dd_f("linear y", y, ry, ny);
    h_backward(&h, dy, ny, dx, nx);
    hs_ref_linear_backward(rdx, rdw, rdb, dy, x, w, N, in, out);
    tu_to_double(gw, fdw, nw), tu_to_double(gb, fdb, out);
    check_dd_f("linear dx", dx, rdx, nx);
    check_dd_f("linear dw", gw, rdw, nw);
    check_dd_f("linear db", gb, rdb, out);
    h_free(&h);
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(ry), free(rdx), free(rdw), free(rdb);
    free(gw), free(gb), free(fw), free(fb), free(fdw), free(fdb);
}

static void test_dnnl_linear(void **state)
{
    (void)state;
    run_linear_case(3, 7, 0, 0, 0, 5);  /* 2-D input */
    run_linear_case(4, 8, 3, 3, 1, 6);  /* flattened blocked 4-D input */
    run_linear_case(2, 5, 2, 2, 1, 9);  /* flattened blocked input with padded channels */
}

/* ------------------------------------------------------------------------- */
/* Whole network against a composition of reference layers                    */
/* ------------------------------------------------------------------------- */

typedef struct ref_net {
    size_t B, Cin, H, W, K, hid, C;
} ref_net;

/* Forward (training mode) and backward of the network in double with the reference layers,
 * using parameters P (PyTorch layout, as in hs_net). Writes logits and gradients G. */
static void ref_net_train(const ref_net *s, const double *P, const hs_net *net, const double *x,
                          double *logits, const double *dlogits, double *G, double *bstats)
{
    size_t B = s->B, K = s->K, H = s->H, W = s->W, H2 = H / 2, W2 = W / 2, H4 = H / 4, W4 = W / 4;
    size_t nf = B * K * H * W, nq = B * K * H2 * W2, nr = B * K * H4 * W4;
    const hs_tensor_info *pi[20];
    for (size_t i = 0; i < 20; i++)
        pi[i] = hs_net_param_info(net, i);
#define RP(i) (P + pi[i]->offset)
#define RG(i) (G + pi[i]->offset)
    double *c1 = tu_dvec(nf), *a1 = tu_dvec(nf), *c2 = tu_dvec(nf), *t2 = tu_dvec(nf), *a2 = tu_dvec(nq), *c3 = tu_dvec(nq);
    double *a3 = tu_dvec(nq), *c4 = tu_dvec(nq), *t4 = tu_dvec(nq), *a4 = tu_dvec(nr), *h = tu_dvec(B * s->hid);
    double *m = bstats;
    hs_ref_conv3x3_forward(c1, x, RP(0), RP(1), B, s->Cin, K, H, W);
    hs_ref_bn_forward_train(a1, m, m + K, c1, RP(2), RP(3), B, K, H * W, 1e-5);
    hs_ref_relu_forward(a1, a1, nf);
    hs_ref_conv3x3_forward(c2, a1, RP(4), RP(5), B, K, K, H, W);
    hs_ref_bn_forward_train(t2, m + 2 * K, m + 3 * K, c2, RP(6), RP(7), B, K, H * W, 1e-5);
    hs_ref_maxpool2_forward(a2, t2, B, K, H, W);
    hs_ref_relu_forward(a2, a2, nq);
    hs_ref_conv3x3_forward(c3, a2, RP(8), RP(9), B, K, K, H2, W2);
    hs_ref_bn_forward_train(a3, m + 4 * K, m + 5 * K, c3, RP(10), RP(11), B, K, H2 * W2, 1e-5);
    hs_ref_relu_forward(a3, a3, nq);
    hs_ref_conv3x3_forward(c4, a3, RP(12), RP(13), B, K, K, H2, W2);
    hs_ref_bn_forward_train(t4, m + 6 * K, m + 7 * K, c4, RP(14), RP(15), B, K, H2 * W2, 1e-5);
    hs_ref_maxpool2_forward(a4, t4, B, K, H2, W2);
    hs_ref_relu_forward(a4, a4, nr);
    hs_ref_linear_forward(h, a4, RP(16), RP(17), B, K * H4 * W4, s->hid);
    hs_ref_relu_forward(h, h, B * s->hid);
    hs_ref_linear_forward(logits, h, RP(18), RP(19), B, s->hid, s->C);
    if (dlogits) {
        double *dh = tu_dvec(B * s->hid), *da4 = tu_dvec(nr), *dt4 = tu_dvec(nq), *dc4 = tu_dvec(nq), *da3 = tu_dvec(nq);
        double *dc3 = tu_dvec(nq), *da2 = tu_dvec(nq), *dt2 = tu_dvec(nf), *dc2 = tu_dvec(nf), *da1 = tu_dvec(nf);
        double *dc1 = tu_dvec(nf);
        hs_ref_linear_backward(dh, RG(18), RG(19), dlogits, h, RP(18), B, s->hid, s->C);
        hs_ref_relu_backward(dh, dh, h, B * s->hid);
        hs_ref_linear_backward(da4, RG(16), RG(17), dh, a4, RP(16), B, K * H4 * W4, s->hid);
        hs_ref_relu_backward(da4, da4, a4, nr);
        hs_ref_maxpool2_backward(dt4, da4, t4, B, K, H2, W2);
        hs_ref_bn_backward(dc4, RG(14), RG(15), dt4, c4, m + 6 * K, m + 7 * K, RP(14), B, K, H2 * W2, 1e-5);
        hs_ref_conv3x3_backward(da3, RG(12), RG(13), dc4, a3, RP(12), B, K, K, H2, W2);
        hs_ref_relu_backward(da3, da3, a3, nq);
        hs_ref_bn_backward(dc3, RG(10), RG(11), da3, c3, m + 4 * K, m + 5 * K, RP(10), B, K, H2 * W2, 1e-5);
        hs_ref_conv3x3_backward(da2, RG(8), RG(9), dc3, a2, RP(8), B, K, K, H2, W2);
        hs_ref_relu_backward(da2, da2, a2, nq);
        hs_ref_maxpool2_backward(dt2, da2, t2, B, K, H, W);
        hs_ref_bn_backward(dc2, RG(6), RG(7), dt2, c2, m + 2 * K, m + 3 * K, RP(6), B, K, H * W, 1e-5);
        hs_ref_conv3x3_backward(da1, RG(4), RG(5), dc2, a1, RP(4), B, K, K, H, W);
        hs_ref_relu_backward(da1, da1, a1, nf);
        hs_ref_bn_backward(dc1, RG(2), RG(3), da1, c1, m, m + K, RP(2), B, K, H * W, 1e-5);
        hs_ref_conv3x3_backward(NULL, RG(0), RG(1), dc1, x, RP(0), B, s->Cin, K, H, W);
        free(dh), free(da4), free(dt4), free(dc4), free(da3), free(dc3), free(da2), free(dt2), free(dc2);
        free(da1), free(dc1);
    }
#undef RP
#undef RG
    free(c1), free(a1), free(c2), free(t2), free(a2), free(c3), free(a3), free(c4), free(t4), free(a4), free(h);
}

static void test_net_vs_reference(void **state)
{
    (void)state;
    ref_net s = {5, 2, 8, 12, 6, 7, 4};
    hs_net_shape shape = {s.Cin, s.H, s.W, s.C, s.K, s.hid};
    hs_net *net = NULL;
    assert_int_equal(hs_net_create(&net, &shape), HS_OK);
    assert_int_equal(hs_net_init(net, 7), HS_OK);
    size_t np = hs_net_param_count(net);
    assert_int_equal(hs_net_param_tensors(net), 20);
    tu_rng r = tu_rng_make(50);
    float *P = hs_net_params(net);
    /* non-trivial BN parameters */
    for (int t = 0; t < 16; t++)
        if (t % 4 >= 2) {
            const hs_tensor_info *ti = hs_net_param_info(net, (size_t)t);
            for (size_t i = 0; i < ti->count; i++)
                P[ti->offset + i] = (float)(t % 4 == 2 ? 1 + 0.3 * tu_normal(&r) : 0.3 * tu_normal(&r));
        }
    size_t nx = s.B * s.Cin * s.H * s.W, nl = s.B * s.C;
    double *x = tu_dvec(nx), *Pd = tu_dvec(np), *Gd = tu_dvec(np), *rl = tu_dvec(nl), *dl = tu_dvec(nl), *bst = tu_dvec(8 * s.K);
    double *gl = tu_dvec(nl), *gg = tu_dvec(np);
    float *fx = tu_fvec(nx), *fl = tu_fvec(nl), *fdl = tu_fvec(nl);
    fill_normal(x, nx, &r, 1);
    fill_normal(dl, nl, &r, 1);
    tu_to_float(fx, x, nx), tu_to_double(x, fx, nx), tu_to_float(fdl, dl, nl), tu_to_double(dl, fdl, nl);
    tu_to_double(Pd, P, np);

    assert_int_equal(hs_net_forward(net, fl, fx, s.B, 1), HS_OK);
    assert_int_equal(hs_net_backward(net, fdl), HS_OK);
    ref_net_train(&s, Pd, net, x, rl, dl, Gd, bst);
    tu_to_double(gl, fl, nl);
    check_close_dd("net logits", gl, rl, nl, 1e-4);
    tu_to_double(gg, hs_net_grads(net), np);
    for (size_t t = 0; t < 20; t++) {
        const hs_tensor_info *ti = hs_net_param_info(net, t);
        check_close_dd(ti->name, gg + ti->offset, Gd + ti->offset, ti->count, 1e-4);
    }
    /* running statistics: one update from (0, 1) with the batch statistics */
    const float *buf = hs_net_buffers(net);
    size_t hw[4] = {s.H * s.W, s.H * s.W, s.H * s.W / 4, s.H * s.W / 4};
    for (size_t l = 0; l < 4; l++) {
        double n = (double)(s.B * hw[l]);
        for (size_t c = 0; c < s.K; c++) {
            double wm = 0.1 * bst[2 * l * s.K + c];
            double wv = 0.9 + 0.1 * bst[(2 * l + 1) * s.K + c] * n / (n - 1);
            assert_true(fabs(buf[hs_net_buffer_info(net, 2 * l)->offset + c] - wm) < 1e-5 * (1 + fabs(wm)));
            assert_true(fabs(buf[hs_net_buffer_info(net, 2 * l + 1)->offset + c] - wv) < 1e-5 * (1 + wv));
        }
    }
    /* evaluation mode uses the running statistics: compare with the reference in eval mode by
     * setting the statistics to the batch ones, which makes eval equal to training. */
    float *bufw = hs_net_buffers(net);
    for (size_t l = 0; l < 8; l++) {
        const hs_tensor_info *bi = hs_net_buffer_info(net, l);
        for (size_t c = 0; c < s.K; c++)
            bufw[bi->offset + c] = (float)bst[l * s.K + c];
    }
    assert_int_equal(hs_net_forward(net, fl, fx, s.B, 0), HS_OK);
    tu_to_double(gl, fl, nl);
    check_close_dd("net eval logits", gl, rl, nl, 1e-4);
    /* backward after an evaluation forward is refused */
    assert_int_equal(hs_net_backward(net, fdl), HS_ERR_ARG);

    /* same batch again: bit-identical gradients (deterministic primitives) */
    float *g1 = tu_fvec(np);
    assert_int_equal(hs_net_forward(net, fl, fx, s.B, 1), HS_OK);
    assert_int_equal(hs_net_backward(net, fdl), HS_OK);
    memcpy(g1, hs_net_grads(net), np * sizeof(float));
    assert_int_equal(hs_net_forward(net, fl, fx, s.B, 1), HS_OK);
    assert_int_equal(hs_net_backward(net, fdl), HS_OK);
    assert_memory_equal(g1, hs_net_grads(net), np * sizeof(float));

    /* another batch size reuses the arena */
    assert_int_equal(hs_net_forward(net, fl, fx, 2, 1), HS_OK);
    assert_int_equal(hs_net_backward(net, fdl), HS_OK);
    hs_net_free(net);
    free(x), free(Pd), free(Gd), free(rl), free(dl), free(bst), free(gl), free(gg), free(fx), free(fl), free(fdl);
    free(g1);
}

static void test_net_errors(void **state)
{
    (void)state;
    hs_net *net = NULL;
    hs_net_shape bad = hs_net_shape_paper(1, 30, 28, 10, 8); /* 30 not a multiple of 4 */
    assert_non_null(hs_net_shape_check(&bad));
    assert_int_equal(hs_net_create(&net, &bad), HS_ERR_SIZE);
    assert_null(net);
    hs_net_shape ok = hs_net_shape_paper(1, 28, 28, 10, 4);
    assert_null(hs_net_shape_check(&ok));
    assert_int_equal(hs_net_create(&net, &ok), HS_OK);
    float x[28 * 28] = {0}, l[10];
    assert_int_equal(hs_net_forward(net, l, x, 0, 1), HS_ERR_SIZE);
    assert_int_equal(hs_net_forward(net, NULL, x, 1, 1), HS_ERR_NULL);
    assert_int_equal(hs_net_backward(net, l), HS_ERR_ARG);
    /* shapes of the paper's network: 28x28 input, flatten of width x 7 x 7 */
    assert_int_equal(hs_net_param_info(net, 16)->dims[1], 4 * 7 * 7);
    assert_string_equal(hs_net_param_info(net, 16)->name, "15.weight");
    assert_string_equal(hs_net_buffer_info(net, 7)->name, "11.running_var");
    hs_net_free(net);
}

/* Widths that are multiples of 8 run on optimized kernels only, on every x86-64 CPU with
 * AVX2 (on AVX-512 CPUs oneDNN's own format choice left width 8 on reference kernels at
 * ~1% of the speed: a slowdown no result would show). */
static void test_net_fast_kernels(void **state)
{
    (void)state;
#if defined(__x86_64__) || defined(__i386__)
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        skip();
#else
    skip();
#endif
    const size_t widths[] = {8, 16, 24, 64};
    for (size_t ch = 1; ch <= 3; ch += 2)
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            size_t side = ch == 1 ? 28 : 32, B = 4;
            hs_net_shape shape = hs_net_shape_paper(ch, side, side, 10, widths[wi]);
            hs_net *net = NULL;
            assert_int_equal(hs_net_create(&net, &shape), HS_OK);
            assert_int_equal(hs_net_init(net, 3), HS_OK);
            float *x = tu_fvec(B * ch * side * side), *l = tu_fvec(B * 10);
            assert_int_equal(hs_net_forward(net, l, x, B, 1), HS_OK);
            assert_int_equal(hs_net_backward(net, l), HS_OK);
            assert_int_equal(hs_net_forward(net, l, x, B, 0), HS_OK);
            if (hs_net_reference_kernels(net))
                print_error("channels %zu width %zu: %zu reference kernels\n", ch, widths[wi],
                            hs_net_reference_kernels(net));
            assert_int_equal(hs_net_reference_kernels(net), 0);
            hs_net_free(net);
            free(x), free(l);
        }
}

/* ------------------------------------------------------------------------- */
/* Adam                                                                      */
/* ------------------------------------------------------------------------- */

static void test_adam(void **state)
{
    (void)state;
    enum { N = 37 };
    tu_rng r = tu_rng_make(60);
    float p[N], m[N] = {0}, v[N] = {0}, g[N];
    double pd[N], md[N] = {0}, vd[N] = {0};
    for (int i = 0; i < N; i++)
        pd[i] = p[i] = (float)tu_normal(&r);
    hs_adam a = hs_adam_default();
    assert_true(a.lr == 1e-4 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8);
    a.lr = 1e-2;
    for (uint64_t t = 1; t <= 5; t++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)(tu_normal(&r) * (i % 3 == 0 ? 1e-6 : 1.0));
        assert_int_equal(hs_adam_step(p, m, v, g, N, &a, t), HS_OK);
        for (int i = 0; i < N; i++) {
            md[i] = 0.9 * md[i] + 0.1 * g[i];
            vd[i] = 0.999 * vd[i] + 0.001 * (double)g[i] * g[i];
            double mh = md[i] / (1 - pow(0.9, (double)t)), vh = vd[i] / (1 - pow(0.999, (double)t));
            pd[i] -= a.lr * mh / (sqrt(vh) + 1e-8);
        }
    }
    for (int i = 0; i < N; i++)
        assert_true(fabs(p[i] - pd[i]) < 1e-5);
    /* first step moves each parameter by about lr * sign(g) */
    assert_int_equal(hs_adam_step(p, m, v, g, N, &a, 0), HS_ERR_ARG);
    a.beta1 = 1.0;
    assert_int_equal(hs_adam_step(p, m, v, g, N, &a, 1), HS_ERR_ARG);
}


/* ------------------------------------------------------------------------- */
/* One training step against PyTorch (tests/fixtures/make_nn_fixtures.py)     */
/* ------------------------------------------------------------------------- */

typedef struct fx_tensor {
    char name[64];
    size_t count;
    float *data;
} fx_tensor;

typedef struct fixture {
    fx_tensor *t;
    size_t n;
} fixture;

static void fx_load(fixture *fx, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open fixture %s\n", path);
        fail();
    }
    char magic[8];
    uint32_t n;
    assert_int_equal(fread(magic, 1, 8, f), 8);
    assert_memory_equal(magic, "HSNNFIX1", 8);
    assert_int_equal(fread(&n, 4, 1, f), 1);
    fx->n = n;
    fx->t = calloc(n, sizeof *fx->t);
    assert_non_null(fx->t);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len, nd;
        assert_int_equal(fread(&len, 4, 1, f), 1);
        assert_true(len < sizeof fx->t[i].name);
        assert_int_equal(fread(fx->t[i].name, 1, len, f), len);
        assert_int_equal(fread(&nd, 4, 1, f), 1);
        assert_true(nd <= 4);
        size_t count = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t dim;
            assert_int_equal(fread(&dim, 8, 1, f), 1);
            count *= (size_t)dim;
        }
        fx->t[i].count = count;
        fx->t[i].data = malloc(count * sizeof(float));
        assert_non_null(fx->t[i].data);
        assert_int_equal(fread(fx->t[i].data, sizeof(float), count, f), count);
    }
    fclose(f);
}

static const fx_tensor *fx_get(const fixture *fx, const char *prefix, const char *name, size_t count)
{
    char full[96];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    for (size_t i = 0; i < fx->n; i++)
        if (!strcmp(fx->t[i].name, full)) {
            if (fx->t[i].count != count) {
                print_error("fixture tensor %s: %zu elements, expected %zu\n", full, fx->t[i].count, count);
                fail();
            }
            return &fx->t[i];
        }
    print_error("fixture tensor %s missing\n", full);
    fail();
    return NULL;
}

static void fx_free(fixture *fx)
{
    for (size_t i = 0; i < fx->n; i++)
        free(fx->t[i].data);
    free(fx->t);
}

static void check_ff(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double *g = tu_dvec(n), *w = tu_dvec(n);
    tu_to_double(g, got, n), tu_to_double(w, want, n);
    check_close_dd(what, g, w, n, tol);
    free(g), free(w);
}

static int is_conv_bias(const char *name)
{
    return !strcmp(name, "0.bias") || !strcmp(name, "3.bias") || !strcmp(name, "7.bias") ||
           !strcmp(name, "10.bias");
}

static void test_net_vs_pytorch(void **state)
{
    (void)state;
    fixture fx;
    fx_load(&fx, HS_TEST_FIXTURE_DIR "/nn_step.bin");
    hs_net_shape shape = {1, 28, 28, 10, 4, 16};
    const size_t B = 6, C = 10;
    hs_net *net = NULL;
    assert_int_equal(hs_net_create(&net, &shape), HS_OK);
    size_t np = hs_net_param_count(net);
    float *P = hs_net_params(net);
    for (size_t t = 0; t < hs_net_param_tensors(net); t++) {
        const hs_tensor_info *ti = hs_net_param_info(net, t);
        memcpy(P + ti->offset, fx_get(&fx, "param:", ti->name, ti->count)->data, ti->count * sizeof(float));
    }
    const float *x = fx_get(&fx, "", "x", B * 28 * 28)->data;
    const float *yf = fx_get(&fx, "", "y", B)->data;
    int32_t y[6];
    for (size_t i = 0; i < B; i++)
        y[i] = (int32_t)yf[i];
    float logits[60], dlogits[60];
    assert_int_equal(hs_net_forward(net, logits, x, B, 1), HS_OK);
    check_ff("logits", logits, fx_get(&fx, "", "logits", B * C)->data, B * C, 1e-4);
    double loss;
    hs_loss_opts lo = hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY);
    assert_int_equal(hs_loss_multiclass_f(&loss, dlogits, logits, y, B, C, &lo), HS_OK);
    assert_true(fabs(loss - fx_get(&fx, "", "loss", 1)->data[0]) < 1e-5);
    assert_int_equal(hs_net_backward(net, dlogits), HS_OK);
    const float *G = hs_net_grads(net);
    for (size_t t = 0; t < hs_net_param_tensors(net); t++) {
        const hs_tensor_info *ti = hs_net_param_info(net, t);
        const float *want = fx_get(&fx, "grad:", ti->name, ti->count)->data;
        if (is_conv_bias(ti->name)) {
            /* a bias before batch norm has gradient 0 exactly: both sides are rounding noise */
            for (size_t i = 0; i < ti->count; i++)
                assert_true(fabs(G[ti->offset + i]) < 1e-5 && fabs(want[i]) < 1e-5);
            continue;
        }
        check_ff(ti->name, G + ti->offset, want, ti->count, 2e-4);
    }
    float *m = tu_fvec(np), *v = tu_fvec(np);
    hs_adam a = hs_adam_default();
    a.lr = 1e-3;
    assert_int_equal(hs_adam_step(P, m, v, G, np, &a, 1), HS_OK);
    for (size_t t = 0; t < hs_net_param_tensors(net); t++) {
        const hs_tensor_info *ti = hs_net_param_info(net, t);
        if (is_conv_bias(ti->name)) /* Adam turns noise into +-lr: skip */
            continue;
        const float *want = fx_get(&fx, "adam:", ti->name, ti->count)->data;
        for (size_t i = 0; i < ti->count; i++)
            if (!(fabs(P[ti->offset + i] - want[i]) < 2e-6)) {
                print_error("adam %s[%zu]: got %.9g, want %.9g\n", ti->name, i, (double)P[ti->offset + i],
                            (double)want[i]);
                fail();
            }
    }
    const float *buf = hs_net_buffers(net);
    for (size_t t = 0; t < hs_net_buffer_tensors(net); t++) {
        const hs_tensor_info *bi = hs_net_buffer_info(net, t);
        check_ff(bi->name, buf + bi->offset, fx_get(&fx, "buffer:", bi->name, bi->count)->data, bi->count, 1e-5);
    }
    /* evaluation mode after the step (the conv biases differ by Adam noise, but a bias before
     * batch norm only shifts the running mean it is normalized with: copy PyTorch's) */
    for (size_t t = 0; t < hs_net_param_tensors(net); t++) {
        const hs_tensor_info *ti = hs_net_param_info(net, t);
        if (is_conv_bias(ti->name))
            memcpy(P + ti->offset, fx_get(&fx, "adam:", ti->name, ti->count)->data, ti->count * sizeof(float));
    }
    assert_int_equal(hs_net_forward(net, logits, x, B, 0), HS_OK);
    check_ff("eval logits", logits, fx_get(&fx, "", "eval_logits", B * C)->data, B * C, 1e-3);
    free(m), free(v);
    hs_net_free(net);
    fx_free(&fx);
}

int main(void)
{
    hs_nn_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_conv_fd),
        cmocka_unit_test(test_ref_bn_fd),
        cmocka_unit_test(test_ref_pool_relu_fd),
        cmocka_unit_test(test_ref_linear_fd),
        cmocka_unit_test(test_dnnl_conv),
        cmocka_unit_test(test_dnnl_batchnorm),
        cmocka_unit_test(test_dnnl_pool_relu),
        cmocka_unit_test(test_dnnl_linear),
        cmocka_unit_test(test_net_vs_reference),
        cmocka_unit_test(test_net_errors),
        cmocka_unit_test(test_net_fast_kernels),
        cmocka_unit_test(test_net_vs_pytorch),
        cmocka_unit_test(test_adam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
