/* Winograd F(4x4, 3x3) convolution (src/nn/winograd.c) against the double-precision reference
 * layers: forward, data gradient, weight and bias gradients on random data for many shapes;
 * bit-identical repeated runs; the portable (non-AVX2) kernels; the first layer's direct
 * weight gradient (one input channel); and the gradients against central differences of the
 * Winograd forward itself. (The graph's Winograd layer is covered by test_nn: its blocked conv
 * case and the whole network against the reference layers and PyTorch.)
 *
 * Tolerance: errors are measured relative to the largest reference value of the tensor
 * (max(1, max|ref|)). F(4x4, 3x3) in float multiplies by transform constants up to 8 and
 * 5 (B^T, A^T) and divides by up to 24 (G), so its rounding error is larger than a direct
 * convolution's: for unit-normal data about 1e-5 relative to the largest output here (the
 * measured maximum over all cases, printed at the end, is ~6e-6). 5e-5 leaves a margin of
 * ~10x; a wrong coefficient, tile offset or border case gives errors of order 1. */
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
#include "nn/dgraph.h"
#include "nn/ref_layers.h"
#include "nn/winograd.h"
#include "test_util.h"

#define WINO_TOL 5e-5

static double worst_rel; /* largest relative error seen, printed at the end */

static void fill_normal(double *p, size_t n, tu_rng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = tu_normal(r);
}

/* Plain NCHW (double) <-> nChw8c (float). */
static size_t blk(size_t n, size_t c, size_t h, size_t w, size_t C, size_t H, size_t W)
{
    return (((n * (C / 8) + c / 8) * H + h) * W + w) * 8 + c % 8;
}

static void to_blocked(float *b, const double *p, size_t N, size_t C, size_t H, size_t W)
{
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++)
                    b[blk(n, c, h, w, C, H, W)] = (float)p[((n * C + c) * H + h) * W + w];
}

static void from_blocked(double *p, const float *b, size_t N, size_t C, size_t H, size_t W)
{
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++)
                    p[((n * C + c) * H + h) * W + w] = b[blk(n, c, h, w, C, H, W)];
}

static void check_rel(const char *what, const double *got, const double *want, size_t n)
{
    double scale = 1;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale)
            scale = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / scale;
        if (e > worst_rel)
            worst_rel = e;
        if (!(e <= WINO_TOL)) {
            print_error("%s[%zu]: got %.9g, want %.9g (error %.3g of max %.3g, tol %.1g)\n", what,
                        i, got[i], want[i], e, scale, WINO_TOL);
            fail();
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Against the reference layers                                              */
/* ------------------------------------------------------------------------- */

static void run_case(size_t N, size_t ci, size_t co, size_t H, size_t W, uint64_t seed)
{
    tu_rng r = tu_rng_make(seed);
    size_t nx = N * ci * H * W, ny = N * co * H * W, nw = co * ci * 9;
    double *x = tu_dvec(nx), *w = tu_dvec(nw), *b = tu_dvec(co), *dy = tu_dvec(ny);
    double *ry = tu_dvec(ny), *rdx = tu_dvec(nx), *rdw = tu_dvec(nw), *rdb = tu_dvec(co);
    double *gy = tu_dvec(ny), *gdx = tu_dvec(nx), *gdw = tu_dvec(nw), *gdb = tu_dvec(co);
    fill_normal(x, nx, &r);
    fill_normal(w, nw, &r);
    fill_normal(b, co, &r);
    fill_normal(dy, ny, &r);
    /* the reference sees the float-rounded inputs */
    float *fx = tu_fvec(nx), *fw = tu_fvec(nw), *fb = tu_fvec(co), *fdy = tu_fvec(ny);
    float *fy = tu_fvec(ny), *fdx = tu_fvec(nx), *fdw = tu_fvec(nw), *fdb = tu_fvec(co);
    float *U = tu_fvec(hs_wino_u_size(ci, co)), *Ub = tu_fvec(hs_wino_u_size(ci, co));
    to_blocked(fx, x, N, ci, H, W);
    to_blocked(fdy, dy, N, co, H, W);
    tu_to_float(fw, w, nw);
    tu_to_float(fb, b, co);
    from_blocked(x, fx, N, ci, H, W);
    from_blocked(dy, fdy, N, co, H, W);
    tu_to_double(w, fw, nw);
    tu_to_double(b, fb, co);

    hs_wino_ws ws = {NULL, 0};
    hs_wino_weights_fwd(U, fw, ci, co);
    hs_wino_weights_bwd_data(Ub, fw, ci, co);
    assert_int_equal(hs_wino_forward(fy, fx, U, fb, N, ci, co, H, W, &ws), HS_OK);
    assert_int_equal(hs_wino_backward_data(fdx, fdy, Ub, N, ci, co, H, W, &ws), HS_OK);
    assert_int_equal(hs_wino_backward_weights(fdw, fdb, fx, fdy, N, ci, co, H, W, &ws), HS_OK);

    hs_ref_conv3x3_forward(ry, x, w, b, N, ci, co, H, W);
    hs_ref_conv3x3_backward(rdx, rdw, rdb, dy, x, w, N, ci, co, H, W);
    from_blocked(gy, fy, N, co, H, W);
    from_blocked(gdx, fdx, N, ci, H, W);
    tu_to_double(gdw, fdw, nw);
    tu_to_double(gdb, fdb, co);
    check_rel("y", gy, ry, ny);
    check_rel("dx", gdx, rdx, nx);
    check_rel("dw", gdw, rdw, nw);
    check_rel("db", gdb, rdb, co);

    /* determinism: a second run is bit-identical */
    float *fy2 = tu_fvec(ny), *fdx2 = tu_fvec(nx), *fdw2 = tu_fvec(nw), *fdb2 = tu_fvec(co);
    assert_int_equal(hs_wino_forward(fy2, fx, U, fb, N, ci, co, H, W, &ws), HS_OK);
    assert_int_equal(hs_wino_backward_data(fdx2, fdy, Ub, N, ci, co, H, W, &ws), HS_OK);
    assert_int_equal(hs_wino_backward_weights(fdw2, fdb2, fx, fdy, N, ci, co, H, W, &ws), HS_OK);
    assert_memory_equal(fy, fy2, ny * sizeof(float));
    assert_memory_equal(fdx, fdx2, nx * sizeof(float));
    assert_memory_equal(fdw, fdw2, nw * sizeof(float));
    assert_memory_equal(fdb, fdb2, co * sizeof(float));

    hs_wino_ws_free(&ws);
    free(fy2), free(fdx2), free(fdw2), free(fdb2);
    free(x), free(w), free(b), free(dy), free(ry), free(rdx), free(rdw), free(rdb);
    free(gy), free(gdx), free(gdw), free(gdb);
    free(fx), free(fw), free(fb), free(fdy), free(fy), free(fdx), free(fdw), free(fdb);
    free(U), free(Ub);
}

static void test_small_images(void **state)
{
    (void)state;
    static const size_t hw[] = {1, 2, 3, 5, 7};
    uint64_t seed = 1;
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 5; j++)
            run_case(1 + (i + j) % 4, 8, 8, hw[i], hw[j], seed++);
    run_case(2, 8, 16, 3, 5, seed++);
    run_case(3, 16, 8, 7, 2, seed++);
    run_case(4, 16, 16, 5, 5, seed++);
    run_case(2, 8, 64, 1, 7, seed++);
    run_case(1, 64, 8, 2, 3, seed++);
}

static void test_paper_shapes(void **state)
{
    (void)state;
    run_case(2, 64, 64, 14, 14, 101);
    run_case(1, 64, 64, 28, 28, 102);
    run_case(3, 16, 64, 14, 7, 103);
    run_case(2, 64, 16, 28, 14, 104);
    run_case(4, 24, 40, 9, 11, 105); /* 40 = two and a half 16-column panels */
}

/* The portable C kernels (used without AVX2) on a few shapes. */
static void test_portable(void **state)
{
    (void)state;
    hs_wino_force_portable(1);
    run_case(2, 8, 24, 5, 7, 201);
    run_case(1, 64, 64, 14, 14, 202);
    run_case(3, 16, 8, 1, 2, 203);
    hs_wino_force_portable(0);
}

/* The first layer's weight gradient (one plain input channel, not Winograd). */
static void run_cin1(size_t N, size_t co, size_t H, size_t W, uint64_t seed)
{
    tu_rng r = tu_rng_make(seed);
    size_t nx = N * H * W, ny = N * co * H * W, nw = co * 9;
    double *x = tu_dvec(nx), *w = tu_dvec(nw), *dy = tu_dvec(ny), *rdw = tu_dvec(nw), *rdb = tu_dvec(co);
    double *gdw = tu_dvec(nw), *gdb = tu_dvec(co);
    float *fx = tu_fvec(nx), *fdy = tu_fvec(ny), *fdw = tu_fvec(nw), *fdb = tu_fvec(co);
    fill_normal(x, nx, &r);
    fill_normal(dy, ny, &r);
    tu_to_float(fx, x, nx);
    tu_to_double(x, fx, nx);
    to_blocked(fdy, dy, N, co, H, W);
    from_blocked(dy, fdy, N, co, H, W);
    hs_wino_ws ws = {NULL, 0};
    assert_int_equal(hs_wino_cin1_backward_weights(fdw, fdb, fx, fdy, N, co, H, W, &ws), HS_OK);
    hs_ref_conv3x3_backward(NULL, rdw, rdb, dy, x, w, N, 1, co, H, W);
    tu_to_double(gdw, fdw, nw);
    tu_to_double(gdb, fdb, co);
    check_rel("first layer dw", gdw, rdw, nw);
    check_rel("first layer db", gdb, rdb, co);
    hs_wino_ws_free(&ws);
    free(x), free(w), free(dy), free(rdw), free(rdb), free(gdw), free(gdb);
    free(fx), free(fdy), free(fdw), free(fdb);
}

static void test_first_layer(void **state)
{
    (void)state;
    run_cin1(1, 8, 1, 1, 301);
    run_cin1(3, 16, 5, 3, 302);
    run_cin1(4, 64, 28, 28, 303);
    hs_wino_force_portable(1);
    run_cin1(2, 24, 7, 6, 304);
    hs_wino_force_portable(0);
}

static void test_bad_args(void **state)
{
    (void)state;
    hs_wino_ws ws = {NULL, 0};
    float a[64] = {0}, bb[64] = {0};
    assert_int_equal(hs_wino_forward(a, bb, a, NULL, 1, 4, 8, 1, 1, &ws), HS_ERR_ARG);
    assert_int_equal(hs_wino_forward(a, bb, a, NULL, 1, 8, 8, 0, 1, &ws), HS_ERR_ARG);
    assert_int_equal(hs_wino_backward_weights(a, bb, a, bb, 1, 8, 12, 1, 1, &ws), HS_ERR_ARG);
    /* an empty batch: nothing to do, zero gradients */
    float dw[8 * 8 * 9], db[8];
    memset(dw, 0xff, sizeof dw);
    assert_int_equal(hs_wino_backward_weights(dw, db, a, bb, 0, 8, 8, 3, 3, &ws), HS_OK);
    for (size_t i = 0; i < 8 * 8 * 9; i++)
        assert_true(dw[i] == 0.0f);
    hs_wino_ws_free(&ws);
}

/* ------------------------------------------------------------------------- */
/* Gradients against central differences of the Winograd forward               */
/* ------------------------------------------------------------------------- */

typedef struct fd_ctx {
    size_t N, ci, co, H, W;
    float *x, *w, *b, *y, *U, *r;
    hs_wino_ws ws;
} fd_ctx;

/* L = sum(r * conv(x, w) + b), in double from the float forward. */
static double fd_loss(fd_ctx *c)
{
    hs_wino_weights_fwd(c->U, c->w, c->ci, c->co);
    assert_int_equal(hs_wino_forward(c->y, c->x, c->U, c->b, c->N, c->ci, c->co, c->H, c->W, &c->ws),
                     HS_OK);
    double s = 0;
    for (size_t i = 0; i < c->N * c->co * c->H * c->W; i++)
        s += (double)c->r[i] * c->y[i];
    return s;
}

/* L is linear in each of x, w, b, so the central difference has no truncation error and a
 * large step keeps float rounding small: what remains is the forward's rounding, about
 * 1e-6 of sum |r y| per evaluation. */
static void fd_one(const char *what, fd_ctx *c, float *p, size_t n, const float *grad)
{
    const float h = 0.5f;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + h;
        double up = fd_loss(c);
        p[i] = keep - h;
        double dn = fd_loss(c);
        p[i] = keep;
        double num = (up - dn) / (2.0 * (double)h);
        if (!(fabs(num - grad[i]) <= 1e-3 * (1.0 + fabs(num)))) {
            print_error("%s[%zu]: gradient %.9g, central difference %.9g\n", what, i,
                        (double)grad[i], num);
            fail();
        }
    }
}

static void test_finite_differences(void **state)
{
    (void)state;
    fd_ctx c = {2, 8, 16, 5, 6, NULL, NULL, NULL, NULL, NULL, NULL, {NULL, 0}};
    size_t nx = c.N * c.ci * c.H * c.W, ny = c.N * c.co * c.H * c.W, nw = c.co * c.ci * 9;
    tu_rng r = tu_rng_make(77);
    c.x = tu_fvec(nx), c.w = tu_fvec(nw), c.b = tu_fvec(c.co), c.y = tu_fvec(ny), c.r = tu_fvec(ny);
    c.U = tu_fvec(hs_wino_u_size(c.ci, c.co));
    for (size_t i = 0; i < nx; i++)
        c.x[i] = (float)tu_normal(&r);
    for (size_t i = 0; i < nw; i++)
        c.w[i] = (float)tu_normal(&r);
    for (size_t i = 0; i < c.co; i++)
        c.b[i] = (float)tu_normal(&r);
    for (size_t i = 0; i < ny; i++)
        c.r[i] = (float)tu_normal(&r); /* dL/dy, in nChw8c like y */
    float *dx = tu_fvec(nx), *dw = tu_fvec(nw), *db = tu_fvec(c.co), *Ub = tu_fvec(hs_wino_u_size(c.ci, c.co));
    hs_wino_weights_bwd_data(Ub, c.w, c.ci, c.co);
    assert_int_equal(hs_wino_backward_data(dx, c.r, Ub, c.N, c.ci, c.co, c.H, c.W, &c.ws), HS_OK);
    assert_int_equal(hs_wino_backward_weights(dw, db, c.x, c.r, c.N, c.ci, c.co, c.H, c.W, &c.ws),
                     HS_OK);
    fd_one("dx", &c, c.x, nx, dx);
    fd_one("dw", &c, c.w, nw, dw);
    fd_one("db", &c, c.b, c.co, db);
    hs_wino_ws_free(&c.ws);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(c.U);
    free(dx), free(dw), free(db), free(Ub);
}

static int report(void **state)
{
    (void)state;
    printf("# Winograd: largest error relative to max|reference|: %.3g (tolerance %.1g)\n",
           worst_rel, WINO_TOL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_images),
        cmocka_unit_test(test_paper_shapes),
        cmocka_unit_test(test_portable),
        cmocka_unit_test(test_first_layer),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, report);
}
