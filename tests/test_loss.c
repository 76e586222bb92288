/* Tests of the losses: the multiclass and binary HyperSimplex loss under every k policy and
 * regularization, and the baselines (cross-entropy, hinge, MSE on softmax). Gradients against
 * central finite differences, values and gradients against PyTorch fixtures
 * (tests/fixtures/make_loss_fixtures.py), closed-form values, and every error code. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hypersimplex.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */

/* |a - b| <= tol in double (cmocka's assert_float_equal compares in float). */
#define assert_close(a, b, tol) assert_close_at((a), (b), (tol), #a, __LINE__)
static void assert_close_at(double a, double b, double tol, const char *what, int line)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("line %d: %s = %.17g, expected %.17g (tolerance %g)", line, what, a, b, tol);
}

static void fill_logits(double *z, size_t n, double scale, tu_rng *r)
{
    for (size_t i = 0; i < n; i++)
        z[i] = scale * tu_normal(r);
}

static void fill_labels(int32_t *y, size_t B, size_t C, tu_rng *r)
{
    for (size_t b = 0; b < B; b++)
        y[b] = (int32_t)tu_below(r, C);
}

static double loss_d(const double *z, const int32_t *y, size_t B, size_t C, const hs_loss_opts *o)
{
    double v = NAN;
    hs_status s = hs_loss_multiclass_d(&v, NULL, z, y, B, C, o);
    if (s != HS_OK)
        fail_msg("hs_loss_multiclass_d(%s): %s", hs_loss_kind_name(o->kind), hs_last_error());
    return v;
}

/* Is coordinate i of z at (or within h of) a kink of the loss? For the HS loss with L2 the
 * free set of a column changes there; for KL a coordinate reaches the cap; for the hinge a
 * margin crosses 0. Detected by comparing the free sets / active margins at z +- h e_i. */
static int hs_free_signature(const double *z, const int32_t *y, size_t B, size_t C,
                             const hs_loss_opts *o, unsigned char *sig)
{
    hs_proj d = hs_proj_make(C, B, 0.0, o->tau);
    double *k = malloc(C * sizeof *k), *p = malloc(B * C * sizeof *p);
    assert_non_null(k);
    assert_non_null(p);
    assert_int_equal(hs_loss_class_k(k, y, B, C, o), HS_OK);
    d.row_stride = 1;
    d.elem_stride = (ptrdiff_t)C;
    d.k_rows = k;
    d.tau_rows = o->tau_class;
    d.reg = o->reg;
    assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_OK);
    for (size_t i = 0; i < B * C; i++)
        sig[i] = (unsigned char)((p[i] > 0.0) + 2 * (p[i] < 1.0));
    free(k);
    free(p);
    return 0;
}

static int hinge_signature(const double *z, const int32_t *y, size_t B, size_t C,
                           unsigned char *sig)
{
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++)
            sig[b * C + c] = (unsigned char)(1.0 + z[b * C + c] - z[b * C + (size_t)y[b]] > 0.0);
    return 0;
}

/* Compares the analytic gradient of the loss at z with central differences. Coordinates
 * whose +-h perturbation changes the kink signature are skipped (and counted); the test
 * fails if more than half are skipped, so it cannot pass vacuously. */
static void check_fd(const double *z0, const int32_t *y, size_t B, size_t C,
                     const hs_loss_opts *o, double h, double tol)
{
    size_t n = B * C, skipped = 0;
    double *z = malloc(n * sizeof *z), *g = malloc(n * sizeof *g);
    unsigned char *sig0 = malloc(n), *sigp = malloc(n), *sigm = malloc(n);
    double v;
    assert_non_null(z);
    assert_non_null(g);
    assert_non_null(sig0);
    assert_non_null(sigp);
    assert_non_null(sigm);
    memcpy(z, z0, n * sizeof *z);
    assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, o), HS_OK);
    int kinks = o->kind == HS_LOSS_HINGE || (o->kind == HS_LOSS_HYPERSIMPLEX && o->reg != HS_REG_ENTROPY);
    if (kinks) {
        if (o->kind == HS_LOSS_HINGE)
            hinge_signature(z, y, B, C, sig0);
        else
            hs_free_signature(z, y, B, C, o, sig0);
    }
    for (size_t i = 0; i < n; i++) {
        double save = z[i];
        z[i] = save + h;
        double fp = loss_d(z, y, B, C, o);
        if (kinks) {
            if (o->kind == HS_LOSS_HINGE)
                hinge_signature(z, y, B, C, sigp);
            else
                hs_free_signature(z, y, B, C, o, sigp);
        }
        z[i] = save - h;
        double fm = loss_d(z, y, B, C, o);
        if (kinks) {
            if (o->kind == HS_LOSS_HINGE)
                hinge_signature(z, y, B, C, sigm);
            else
                hs_free_signature(z, y, B, C, o, sigm);
        }
        z[i] = save;
        if (kinks && (memcmp(sig0, sigp, n) != 0 || memcmp(sig0, sigm, n) != 0)) {
            skipped++;
            continue;
        }
        double fd = (fp - fm) / (2 * h);
        if (fabs(fd - g[i]) > tol * (1.0 + fabs(fd)))
            fail_msg("%s (reg %d, policy %d): d/dz[%zu] analytic %.12g vs central difference %.12g",
                     hs_loss_kind_name(o->kind), (int)o->reg, (int)o->k_policy, i, g[i], fd);
    }
    if (skipped * 2 > n)
        fail_msg("%zu of %zu coordinates sit on kinks: the case does not test anything", skipped, n);
    free(z);
    free(g);
    free(sig0);
    free(sigp);
    free(sigm);
}

/* ---------------------------------------------------------------- finite differences */

static void test_fd_baselines(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(11);
    const size_t shapes[][2] = {{1, 2}, {7, 3}, {16, 10}, {5, 70}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t B = shapes[s][0], C = shapes[s][1];
        double *z = malloc(B * C * sizeof *z);
        int32_t *y = malloc(B * sizeof *y);
        assert_non_null(z);
        assert_non_null(y);
        fill_logits(z, B * C, 2.0, &r);
        fill_labels(y, B, C, &r);
        hs_loss_opts o = hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY);
        check_fd(z, y, B, C, &o, 1e-5, 1e-7);
        o = hs_loss_opts_default(HS_LOSS_HINGE);
        check_fd(z, y, B, C, &o, 1e-5, 1e-7);
        o = hs_loss_opts_default(HS_LOSS_MSE_SOFTMAX);
        check_fd(z, y, B, C, &o, 1e-5, 1e-7);
        o.sum_reduction = 1;
        check_fd(z, y, B, C, &o, 1e-5, 1e-7);
        free(z);
        free(y);
    }
}

static void test_fd_hypersimplex(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(12);
    /* {6, 70}: more classes than the stack arrays hold (heap path) */
    const size_t shapes[][2] = {{2, 2}, {9, 3}, {24, 10}, {40, 4}, {6, 70}};
    const hs_regularization regs[] = {HS_REG_L2, HS_REG_KL, HS_REG_ENTROPY};
    double prior[70], tau_c[70];
    for (size_t c = 0; c < 70; c++) {
        prior[c] = (double)(c % 7 + 1) / 40.0;
        tau_c[c] = 0.4 + 0.1 * (double)(c % 13);
    }
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t B = shapes[s][0], C = shapes[s][1];
        double *z = malloc(B * C * sizeof *z);
        int32_t *y = malloc(B * sizeof *y);
        assert_non_null(z);
        assert_non_null(y);
        fill_logits(z, B * C, 2.0, &r);
        fill_labels(y, B, C, &r);
        for (size_t g = 0; g < 3; g++) {
            for (int policy = 0; policy < 3; policy++) {
                hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
                o.reg = regs[g];
                o.k_policy = (hs_k_policy)policy;
                o.k_fraction = 0.4;
                o.class_prior = prior;
                o.tau = 0.8;
                check_fd(z, y, B, C, &o, 1e-6, 1e-6);
                o.tau_class = tau_c;
                o.sum_reduction = 1;
                check_fd(z, y, B, C, &o, 1e-6, 1e-6);
            }
        }
        free(z);
        free(y);
    }
}

static double binary_loss(const double *z, const double *y, size_t n, const hs_loss_opts *o)
{
    double v = NAN;
    if (hs_loss_binary_hs_d(&v, NULL, z, y, n, o) != HS_OK)
        fail_msg("hs_loss_binary_hs_d: %s", hs_last_error());
    return v;
}

static void test_fd_binary(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(13);
    const hs_regularization regs[] = {HS_REG_L2, HS_REG_KL, HS_REG_ENTROPY};
    double prior[2] = {0.65, 0.35};
    for (size_t n = 3; n <= 60; n += 19) {
        double *z = malloc(n * sizeof *z), *y = malloc(n * sizeof *y), *g = malloc(n * sizeof *g);
        assert_non_null(z);
        assert_non_null(y);
        assert_non_null(g);
        fill_logits(z, n, 2.0, &r);
        for (size_t i = 0; i < n; i++)
            y[i] = tu_uniform(&r) < 0.4 ? 1.0 : 0.0;
        y[0] = 1.0; /* at least one positive */
        for (size_t gi = 0; gi < 3; gi++) {
            for (int policy = 0; policy < 3; policy++) {
                hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
                o.reg = regs[gi];
                o.k_policy = (hs_k_policy)policy;
                o.class_prior = prior;
                o.tau = 0.9;
                double v;
                assert_int_equal(hs_loss_binary_hs_d(&v, g, z, y, n, &o), HS_OK);
                size_t checked = 0;
                for (size_t i = 0; i < n; i++) {
                    const double h = 1e-6;
                    double save = z[i];
                    z[i] = save + h;
                    double fp = binary_loss(z, y, n, &o);
                    z[i] = save - h;
                    double fm = binary_loss(z, y, n, &o);
                    z[i] = save;
                    /* a kink shows up as a one-sided slope mismatch: compare the two halves */
                    double fd = (fp - fm) / (2 * h);
                    double left = (v - fm) / h, right = (fp - v) / h;
                    if (fabs(left - right) > 1e-3 * (1 + fabs(fd)))
                        continue;
                    checked++;
                    if (fabs(fd - g[i]) > 1e-6 * (1 + fabs(fd)))
                        fail_msg("binary HS (reg %d, policy %d, n %zu): dz[%zu] %.12g vs FD %.12g",
                                 (int)o.reg, policy, n, i, g[i], fd);
                }
                assert_true(checked * 2 >= n);
            }
        }
        free(z);
        free(y);
        free(g);
    }
}

/* ---------------------------------------------------------------- closed forms, properties */

static void test_known_values(void **state)
{
    (void)state;
    const size_t B = 6, C = 4;
    double z[24] = {0}, g[24], v;
    int32_t y[6] = {0, 1, 2, 3, 0, 1};
    hs_loss_opts o = hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY);
    assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, &o), HS_OK);
    assert_close(v, log(4.0), 1e-15);
    assert_close(g[0], (0.25 - 1.0) / 6.0, 1e-15);
    assert_close(g[1], 0.25 / 6.0, 1e-15);
    o = hs_loss_opts_default(HS_LOSS_HINGE);
    assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, &o), HS_OK);
    assert_close(v, 3.0, 1e-15);
    assert_close(g[0], -3.0 / 6.0, 1e-15);
    assert_close(g[1], 1.0 / 6.0, 1e-15);
    o = hs_loss_opts_default(HS_LOSS_MSE_SOFTMAX);
    assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, &o), HS_OK);
    assert_close(v, (0.75 * 0.75 + 3 * 0.0625) / 4.0, 1e-15);
    /* HS with all-equal logits: every column is uniform k_c / B */
    o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, &o), HS_OK);
    double expect = 0;
    const double counts[4] = {2, 2, 1, 1};
    for (size_t c = 0; c < C; c++) {
        double q = counts[c] / 6.0;
        expect += counts[c] * (q - 1) * (q - 1) + (6 - counts[c]) * q * q;
    }
    assert_close(v, expect / 24.0, 1e-15);
    /* cross-entropy is stable for huge logits */
    double zb[4] = {1000.0, -1000.0, 0.0, 999.0};
    int32_t yb = 3;
    o = hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY);
    assert_int_equal(hs_loss_multiclass_d(&v, g, zb, &yb, 1, 4, &o), HS_OK);
    assert_close(v, 1.0 + log1p(exp(-1.0)), 1e-12);
}

/* With count policy, L2, and every positive outscoring every negative by >= tau, the one-hot
 * matrix is itself the projection: loss exactly 0 and gradient exactly 0. */
static void test_hs_zero_on_separated_batch(void **state)
{
    (void)state;
    const size_t B = 12, C = 3;
    double z[36], g[36], v;
    int32_t y[12];
    tu_rng r = tu_rng_make(5);
    hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    for (size_t b = 0; b < B; b++) {
        y[b] = (int32_t)(b % C);
        for (size_t c = 0; c < C; c++)
            z[b * C + c] = (size_t)y[b] == c ? 2.0 + tu_uniform(&r) : -tu_uniform(&r);
    }
    o.tau = 2.0; /* gap >= 2 = tau: exactly separated */
    assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, &o), HS_OK);
    assert_true(v == 0.0);
    for (size_t i = 0; i < B * C; i++)
        assert_true(g[i] == 0.0);
    o.tau = 2.5; /* now the margin is too small: positive loss */
    assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, &o), HS_OK);
    assert_true(v > 0.0);
}

/* The multiclass loss (sum reduction) is the sum over classes of the binary loss of each
 * column with targets [y == c] and the same k, which also checks the strided column access
 * against contiguous copies. */
static void test_multiclass_is_sum_of_binary(void **state)
{
    (void)state;
    const size_t B = 37, C = 5;
    double z[185], g[185], col[37], t[37], gcol[37], v, vb, total = 0;
    int32_t y[37];
    tu_rng r = tu_rng_make(21);
    fill_logits(z, B * C, 1.5, &r);
    fill_labels(y, B, C, &r);
    const hs_regularization regs[] = {HS_REG_L2, HS_REG_KL, HS_REG_ENTROPY};
    for (size_t gi = 0; gi < 3; gi++) {
        hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
        o.reg = regs[gi];
        o.sum_reduction = 1;
        assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, &o), HS_OK);
        total = 0;
        for (size_t c = 0; c < C; c++) {
            for (size_t b = 0; b < B; b++) {
                col[b] = z[b * C + c];
                t[b] = (size_t)y[b] == c ? 1.0 : 0.0;
            }
            assert_int_equal(hs_loss_binary_hs_d(&vb, gcol, col, t, B, &o), HS_OK);
            total += vb;
            for (size_t b = 0; b < B; b++)
                assert_close(gcol[b], g[b * C + c], 1e-14);
        }
        assert_close(v, total, 1e-12 * (1 + fabs(total)));
    }
}

/* The loss's fused L2 backward equals projection + the operator's own VJP (the generic path
 * that KL and entropy take), in double and float, with per-class tau. */
static void test_fused_l2_backward_matches_operator(void **state)
{
    (void)state;
    enum { B = 70, C = 6 };
    double z[B * C], g[B * C], p[B * C], gp[B * C], dz[B * C], k[C], v;
    float zf[B * C], gf[B * C], pf[B * C], gpf[B * C], dzf[B * C];
    double tau_c[C] = {0.5, 1.0, 1.5, 2.0, 0.8, 3.0};
    int32_t y[B];
    tu_rng r = tu_rng_make(44);
    for (size_t i = 0; i < B * C; i++) {
        zf[i] = (float)(0.5 * tu_normal(&r)); /* most coordinates free */
        z[i] = zf[i];
    }
    fill_labels(y, B, C, &r);
    for (int sum_red = 0; sum_red < 2; sum_red++) {
        hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
        o.tau_class = tau_c;
        o.sum_reduction = sum_red;
        double scale = sum_red ? 1.0 : 1.0 / (B * C);
        assert_int_equal(hs_loss_class_k(k, y, B, C, &o), HS_OK);
        hs_proj d = hs_proj_make(C, B, 0.0, 1.0);
        d.row_stride = 1;
        d.elem_stride = C;
        d.k_rows = k;
        d.tau_rows = tau_c;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_OK);
        assert_int_equal(hs_project_f(pf, NULL, NULL, zf, &d), HS_OK);
        for (size_t b = 0; b < B; b++)
            for (size_t c = 0; c < C; c++) {
                double t = (size_t)y[b] == c ? 1.0 : 0.0;
                gp[b * C + c] = 2 * scale * (p[b * C + c] - t);
                gpf[b * C + c] = (float)(2 * scale * (pf[b * C + c] - t));
            }
        assert_int_equal(hs_project_vjp_d(dz, p, gp, &d), HS_OK);
        assert_int_equal(hs_project_vjp_f(dzf, pf, gpf, &d), HS_OK);
        assert_int_equal(hs_loss_multiclass_d(&v, g, z, y, B, C, &o), HS_OK);
        assert_int_equal(hs_loss_multiclass_f(&v, gf, zf, y, B, C, &o), HS_OK);
        size_t nonzero = 0;
        for (size_t i = 0; i < B * C; i++) {
            assert_close(g[i], dz[i], 1e-15 * (1 + fabs(dz[i]) / scale));
            assert_close(gf[i], dzf[i], 1e-6 * (fabs(dzf[i]) + scale));
            nonzero += dz[i] != 0.0;
        }
        assert_true(nonzero > B * C / 4);
    }
}

/* float entry points agree with double on the same (float-representable) input. */
static void test_float_matches_double(void **state)
{
    (void)state;
    const size_t B = 50, C = 10;
    double zd[500], gd[500], vd, vf;
    float zf[500], gf[500];
    int32_t y[50];
    tu_rng r = tu_rng_make(31);
    for (size_t i = 0; i < B * C; i++) {
        zf[i] = (float)(2.0 * tu_normal(&r));
        zd[i] = zf[i];
    }
    fill_labels(y, B, C, &r);
    for (int kind = 0; kind < 4; kind++) {
        hs_loss_opts o = hs_loss_opts_default((hs_loss_kind)kind);
        assert_int_equal(hs_loss_multiclass_d(&vd, gd, zd, y, B, C, &o), HS_OK);
        assert_int_equal(hs_loss_multiclass_f(&vf, gf, zf, y, B, C, &o), HS_OK);
        assert_close(vf, vd, 1e-6 * (1 + fabs(vd)));
        for (size_t i = 0; i < B * C; i++)
            assert_close(gf[i], gd[i], 1e-6);
    }
    /* binary */
    float yf[50];
    double yd[50];
    for (size_t i = 0; i < B; i++) {
        yf[i] = y[i] < 3 ? 1.0f : 0.0f;
        yd[i] = yf[i];
    }
    hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    assert_int_equal(hs_loss_binary_hs_d(&vd, gd, zd, yd, B, &o), HS_OK);
    assert_int_equal(hs_loss_binary_hs_f(&vf, gf, zf, yf, B, &o), HS_OK);
    assert_close(vf, vd, 1e-6);
    for (size_t i = 0; i < B; i++)
        assert_close(gf[i], gd[i], 1e-6);
}

static void test_k_policies(void **state)
{
    (void)state;
    int32_t y[10] = {0, 0, 1, 2, 2, 2, 0, 1, 2, 2};
    double k[3], prior[3];
    hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    assert_int_equal(o.k_policy, HS_K_COUNT);
    assert_int_equal(hs_loss_class_k(k, y, 10, 3, &o), HS_OK);
    assert_true(k[0] == 3 && k[1] == 2 && k[2] == 5);
    o.k_policy = HS_K_FRACTION;
    o.k_fraction = 0.55;
    assert_int_equal(hs_loss_class_k(k, y, 10, 3, &o), HS_OK);
    assert_true(k[0] == 5 && k[1] == 5 && k[2] == 5);
    assert_int_equal(hs_class_prior_from_labels(prior, y, 10, 3), HS_OK);
    assert_close(prior[2], 0.5, 0);
    o.k_policy = HS_K_PRIOR;
    o.class_prior = prior;
    assert_int_equal(hs_loss_class_k(k, y, 4, 3, &o), HS_OK);
    assert_close(k[0], 1.2, 1e-15);
    assert_close(k[1], 0.8, 1e-15);
    assert_close(k[2], 2.0, 1e-15);
}

static void test_parse(void **state)
{
    (void)state;
    hs_loss_kind kind = HS_LOSS_HINGE;
    hs_k_policy pol = HS_K_PRIOR;
    double frac = -1;
    const char *names[] = {"cross_entropy", "hinge", "mse", "hypersimplex"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(hs_loss_kind_parse(&kind, names[i]), HS_OK);
        assert_int_equal((int)kind, i);
        assert_string_equal(hs_loss_kind_name(kind), names[i]);
    }
    assert_int_equal(hs_loss_kind_parse(&kind, "HINGE"), HS_ERR_ARG);
    assert_int_equal(hs_loss_kind_parse(&kind, "mse "), HS_ERR_ARG);
    assert_int_equal(hs_loss_kind_parse(NULL, "mse"), HS_ERR_NULL);
    assert_string_equal(hs_loss_kind_name((hs_loss_kind)9), "unknown");
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "count"), HS_OK);
    assert_int_equal(pol, HS_K_COUNT);
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "prior"), HS_OK);
    assert_int_equal(pol, HS_K_PRIOR);
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "fraction:0.25"), HS_OK);
    assert_int_equal(pol, HS_K_FRACTION);
    assert_close(frac, 0.25, 0);
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "fraction"), HS_OK);
    assert_close(frac, 0.5, 0);
    assert_string_equal(hs_k_policy_name(HS_K_FRACTION), "fraction");
    pol = HS_K_COUNT;
    frac = 0.125;
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "fraction:1.5"), HS_ERR_K);
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "fraction:"), HS_ERR_ARG);
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "fraction:0.5x"), HS_ERR_ARG);
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "fraction:nan"), HS_ERR_ARG);
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "fraction: 0.5"), HS_ERR_ARG);
    assert_int_equal(hs_k_policy_parse(&pol, &frac, "topk"), HS_ERR_ARG);
    assert_int_equal(pol, HS_K_COUNT); /* untouched on failure */
    assert_close(frac, 0.125, 0);
}

/* ---------------------------------------------------------------- errors */

static void expect_error(hs_status got, hs_status want, const char *needle)
{
    if (got != want)
        fail_msg("expected status %d (%s), got %d; last error: %s", (int)want,
                 hs_status_string(want), (int)got, hs_last_error());
    if (needle && !strstr(hs_last_error(), needle))
        fail_msg("message '%s' does not mention '%s'", hs_last_error(), needle);
}

/* ------------------------------------------------ thresholds and the threshold rule */

/* With k fixed by the labels (every policy), adding b_c to column c of the logits leaves P,
 * the loss and its gradient unchanged and moves theta_c by exactly b_c / tau_c; every
 * gradient column sums to zero (so the last layer's bias gets no gradient). Checked for the
 * three policies and the three regularizations, with per-class temperatures. */
static void test_column_shift_invariance(void **state)
{
    (void)state;
    enum { B = 24, C = 4 };
    static const double shift[C] = {3.25, -2.5, 0.75, 40.0};
    static const double tau_class[C] = {0.5, 1.5, 2.0, 1.0};
    static const char *const policies[] = {"count", "prior", "fraction:0.5"};
    double z[B * C], zs[B * C], g[B * C], gs[B * C], th[C], ths[C], prior[C], v, vs;
    int32_t y[B];
    tu_rng r = tu_rng_make(17);
    fill_logits(z, B * C, 2.0, &r);
    fill_labels(y, B, C, &r);
    y[0] = 0, y[1] = 1, y[2] = 2, y[3] = 3; /* every class present: every count-theta finite */
    for (size_t i = 0; i < B * C; i++)
        zs[i] = z[i] + shift[i % C];
    assert_int_equal(hs_class_prior_from_labels(prior, y, B, C), HS_OK);
    for (size_t pi = 0; pi < 3; pi++)
        for (int reg = 0; reg < 3; reg++)
            for (int per_class = 0; per_class < 2; per_class++) {
                hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
                assert_int_equal(hs_k_policy_parse(&o.k_policy, &o.k_fraction, policies[pi]), HS_OK);
                o.class_prior = prior;
                o.reg = (hs_regularization)reg;
                o.tau_class = per_class ? tau_class : NULL;
                assert_int_equal(hs_loss_multiclass_ex_d(&v, g, th, z, y, B, C, &o), HS_OK);
                assert_int_equal(hs_loss_multiclass_ex_d(&vs, gs, ths, zs, y, B, C, &o), HS_OK);
                assert_true(v > 0);
                assert_close(vs, v, 1e-12 * v);
                for (size_t i = 0; i < B * C; i++)
                    assert_close(gs[i], g[i], 1e-12);
                for (size_t c = 0; c < C; c++) {
                    double tau = per_class ? tau_class[c] : o.tau, sum = 0;
                    assert_true(isfinite(th[c]));
                    assert_close(ths[c] - th[c], shift[c] / tau, 1e-11);
                    for (size_t b = 0; b < B; b++)
                        sum += g[b * C + c];
                    assert_close(sum, 0.0, 1e-15);
                }
            }
}

/* The thresholds reproduce P: p = clip(z / tau - theta, 0, 1) (L2). A class absent from the
 * batch (count: k_c = 0) and a baseline loss give NaN; float agrees with double. */
static void test_batch_thresholds(void **state)
{
    (void)state;
    enum { B = 10, C = 3 };
    double z[B * C], p[B * C], k[C], th[C], v;
    float zf[B * C];
    double thf[C];
    int32_t y[B] = {0, 1, 0, 1, 1, 0, 0, 1, 1, 0}; /* class 2 absent */
    tu_rng r = tu_rng_make(3);
    fill_logits(z, B * C, 1.0, &r);
    tu_to_float(zf, z, B * C);
    for (size_t i = 0; i < B * C; i++)
        z[i] = zf[i];
    hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    assert_int_equal(hs_loss_multiclass_ex_d(&v, NULL, th, z, y, B, C, &o), HS_OK);
    assert_true(isfinite(th[0]) && isfinite(th[1]) && isnan(th[2]));
    assert_int_equal(hs_loss_class_k(k, y, B, C, &o), HS_OK);
    hs_proj d = hs_proj_make(C, B, 0.0, o.tau);
    d.row_stride = 1;
    d.elem_stride = C;
    d.k_rows = k;
    assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_OK);
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < 2; c++) {
            double want = fmin(1.0, fmax(0.0, z[b * C + c] / o.tau - th[c]));
            assert_close(p[b * C + c], want, 1e-12);
        }
    assert_int_equal(hs_loss_multiclass_ex_f(&v, NULL, thf, zf, y, B, C, &o), HS_OK);
    assert_close(thf[0], th[0], 1e-12);
    assert_close(thf[1], th[1], 1e-12);
    assert_true(isnan(thf[2]));
    /* fraction 0.5: k = 5 for every class, also the absent one */
    o.k_policy = HS_K_FRACTION;
    assert_int_equal(hs_loss_multiclass_ex_d(&v, NULL, th, z, y, B, C, &o), HS_OK);
    assert_true(isfinite(th[2]));
    /* fraction 1: k = B, every p is 1: no threshold */
    o.k_fraction = 1.0;
    assert_int_equal(hs_loss_multiclass_ex_d(&v, NULL, th, z, y, B, C, &o), HS_OK);
    assert_true(isnan(th[0]) && isnan(th[1]) && isnan(th[2]));
    hs_loss_opts ce = hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY);
    th[0] = 1;
    assert_int_equal(hs_loss_multiclass_ex_d(&v, NULL, th, z, y, B, C, &ce), HS_OK);
    assert_true(isnan(th[0]) && isnan(th[1]) && isnan(th[2]));
    /* no theta on an error */
    th[0] = 7;
    y[3] = 5;
    expect_error(hs_loss_multiclass_ex_d(&v, NULL, th, z, y, B, C, &o), HS_ERR_LABEL, "labels[3]");
    assert_true(th[0] == 7);
}

/* The threshold rule with thresholds from the shifted batch predicts as before, while the
 * argmax of the logits changes: the rule sees what the loss trains, the argmax does not. */
static void test_rule_invariant_under_shift(void **state)
{
    (void)state;
    enum { B = 32, C = 5 };
    static const double shift[C] = {0.0, 6.0, -4.0, 2.5, -9.0};
    double z[B * C], zs[B * C], th[C], ths[C], v;
    int32_t y[B], pred[B], preds[B];
    tu_rng r = tu_rng_make(11);
    fill_logits(z, B * C, 1.5, &r);
    fill_labels(y, B, C, &r);
    for (size_t c = 0; c < C; c++)
        y[c] = (int32_t)c;
    for (size_t i = 0; i < B * C; i++)
        zs[i] = z[i] + shift[i % C];
    static const char *const policies[] = {"count", "fraction:0.5"};
    for (size_t pi = 0; pi < 2; pi++) {
        hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
        assert_int_equal(hs_k_policy_parse(&o.k_policy, &o.k_fraction, policies[pi]), HS_OK);
        assert_int_equal(hs_loss_multiclass_ex_d(&v, NULL, th, z, y, B, C, &o), HS_OK);
        assert_int_equal(hs_loss_multiclass_ex_d(&v, NULL, ths, zs, y, B, C, &o), HS_OK);
        assert_int_equal(hs_loss_predict_d(pred, z, th, B, C, &o), HS_OK);
        assert_int_equal(hs_loss_predict_d(preds, zs, ths, B, C, &o), HS_OK);
        size_t argmax_changed = 0;
        for (size_t b = 0; b < B; b++) {
            assert_int_equal(pred[b], preds[b]);
            size_t a = 0, as = 0;
            for (size_t c = 1; c < C; c++) {
                a = z[b * C + c] > z[b * C + a] ? c : a;
                as = zs[b * C + c] > zs[b * C + as] ? c : as;
            }
            argmax_changed += a != as;
        }
        assert_true(argmax_changed > 0);
    }
}

static void test_predict_by_hand(void **state)
{
    (void)state;
    const double z[9] = {2.0, 2.5, 0.5,   /* 2 - 0, 2.5 - 1, 0.5 + 1: class 0 */
                         1.0, 2.0, 0.0,   /* 1, 1, 1: a three-way tie, lowest class */
                         -3.0, 0.0, -1.5}; /* -3, -1, -0.5: class 2 */
    const double theta[3] = {0.0, 1.0, -1.0}, tau_class[3] = {1.0, 0.5, 2.0};
    float zf[9];
    int32_t pred[3] = {-1, -1, -1};
    hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    o.tau = 1.0;
    assert_int_equal(hs_loss_predict_d(pred, z, theta, 3, 3, &o), HS_OK);
    assert_int_equal(pred[0], 0);
    assert_int_equal(pred[1], 0);
    assert_int_equal(pred[2], 2);
    tu_to_float(zf, z, 9);
    assert_int_equal(hs_loss_predict_f(pred, zf, theta, 3, 3, &o), HS_OK);
    assert_int_equal(pred[0], 0);
    assert_int_equal(pred[1], 0);
    assert_int_equal(pred[2], 2);
    /* per-class tau: row 0 gives 2, 5 - 1 = 4, 0.25 + 1: class 1; row 2: -3, -1, 0.25: class 2 */
    o.tau_class = tau_class;
    assert_int_equal(hs_loss_predict_d(pred, z, theta, 3, 3, &o), HS_OK);
    assert_int_equal(pred[0], 1);
    assert_int_equal(pred[1], 1); /* 1, 4 - 1 = 3, 0 + 1: class 1 */
    assert_int_equal(pred[2], 2);
    /* the kind does not matter, only tau */
    o.kind = HS_LOSS_CROSS_ENTROPY;
    o.tau_class = NULL;
    assert_int_equal(hs_loss_predict_d(pred, z, theta, 3, 3, &o), HS_OK);
    assert_int_equal(pred[0], 0);

    /* errors: nothing written */
    const double bad_theta[3] = {0.0, NAN, 1.0};
    double zbad[9];
    memcpy(zbad, z, sizeof zbad);
    zbad[4] = INFINITY;
    pred[0] = 42;
    expect_error(hs_loss_predict_d(NULL, z, theta, 3, 3, &o), HS_ERR_NULL, "pred");
    expect_error(hs_loss_predict_d(pred, z, NULL, 3, 3, &o), HS_ERR_NULL, "theta");
    expect_error(hs_loss_predict_d(pred, z, theta, 0, 3, &o), HS_ERR_SIZE, NULL);
    expect_error(hs_loss_predict_d(pred, z, theta, 3, 0, &o), HS_ERR_SIZE, NULL);
    expect_error(hs_loss_predict_d(pred, z, bad_theta, 3, 3, &o), HS_ERR_NONFINITE, "theta[1]");
    expect_error(hs_loss_predict_d(pred, zbad, theta, 3, 3, &o), HS_ERR_NONFINITE, "logits[1][1]");
    o.tau = 0;
    expect_error(hs_loss_predict_d(pred, z, theta, 3, 3, &o), HS_ERR_TAU, "tau");
    assert_int_equal(pred[0], 42);
}

static void test_theta_running_update(void **state)
{
    (void)state;
    double run[3] = {NAN, NAN, NAN};
    const double b1[3] = {1.0, NAN, -2.0}, b2[3] = {3.0, 4.0, NAN};
    assert_int_equal(hs_loss_theta_update(run, b1, 3, 0.25), HS_OK);
    /* the first value of a class is taken as it is; NaN leaves the class alone */
    assert_true(run[0] == 1.0 && isnan(run[1]) && run[2] == -2.0);
    assert_int_equal(hs_loss_theta_update(run, b2, 3, 0.25), HS_OK);
    assert_close(run[0], 0.75 * 1.0 + 0.25 * 3.0, 1e-15);
    assert_true(run[1] == 4.0 && run[2] == -2.0);
    assert_int_equal(hs_loss_theta_update(run, b2, 3, 1.0), HS_OK);
    assert_true(run[0] == 3.0);
    assert_int_equal(hs_loss_theta_update(run, b1, 3, 0.0), HS_OK);
    assert_true(run[0] == 3.0 && run[2] == -2.0);
    expect_error(hs_loss_theta_update(run, b1, 3, 1.5), HS_ERR_ARG, "momentum");
    expect_error(hs_loss_theta_update(run, b1, 3, NAN), HS_ERR_ARG, "momentum");
    expect_error(hs_loss_theta_update(NULL, b1, 3, 0.1), HS_ERR_NULL, "theta_run");
    expect_error(hs_loss_theta_update(run, b1, 0, 0.1), HS_ERR_SIZE, NULL);
    assert_true(run[0] == 3.0);
}

static void test_errors(void **state)
{
    (void)state;
    double z[12] = {0.5, -1, 2, 0.1, 0.2, 0.3, 1, 2, 3, -3, 0, 1}, g[12], v = 42;
    float zf[12] = {0};
    int32_t y[4] = {0, 1, 2, 1};
    for (int kind = 0; kind < 4; kind++) {
        hs_loss_opts o = hs_loss_opts_default((hs_loss_kind)kind);
        for (size_t i = 0; i < 12; i++)
            g[i] = 7.0;
        expect_error(hs_loss_multiclass_d(NULL, g, z, y, 4, 3, &o), HS_ERR_NULL, "loss");
        expect_error(hs_loss_multiclass_d(&v, g, NULL, y, 4, 3, &o), HS_ERR_NULL, "logits");
        expect_error(hs_loss_multiclass_d(&v, g, z, NULL, 4, 3, &o), HS_ERR_NULL, "labels");
        expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, NULL), HS_ERR_NULL, NULL);
        expect_error(hs_loss_multiclass_d(&v, g, z, y, 0, 3, &o), HS_ERR_SIZE, "B = 0");
        expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 0, &o), HS_ERR_SIZE, "C = 0");
        expect_error(hs_loss_multiclass_d(&v, g, z, y, SIZE_MAX / 2, 3, &o), HS_ERR_SIZE, NULL);
        y[2] = 3;
        expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_LABEL, "labels[2]");
        y[2] = -1;
        expect_error(hs_loss_multiclass_f(&v, NULL, zf, y, 4, 3, &o), HS_ERR_LABEL, "labels[2]");
        y[2] = 2;
        z[7] = NAN;
        expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_NONFINITE, "logits[2][1]");
        z[7] = INFINITY;
        expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_NONFINITE, "logits[2][1]");
        z[7] = 2;
        o.sum_reduction = 2;
        expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_ARG, "sum_reduction");
        o.sum_reduction = 0;
        assert_close(v, 42, 0); /* nothing written on error */
        for (size_t i = 0; i < 12; i++)
            assert_close(g[i], 7.0, 0);
    }
    hs_loss_opts o = hs_loss_opts_default((hs_loss_kind)7);
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_ARG, "kind");
    o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    const double bad_tau[] = {0.0, -1.0, NAN, INFINITY};
    for (size_t i = 0; i < 4; i++) {
        o.tau = bad_tau[i];
        expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_TAU, "tau");
    }
    o.tau = 1e-310; /* z / tau overflows */
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_NONFINITE, NULL);
    o.tau = 1.0;
    double tau_c[3] = {1.0, -2.0, 1.0};
    o.tau_class = tau_c;
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_TAU, "tau_class[1]");
    o.tau_class = NULL;
    o.k_policy = HS_K_PRIOR;
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_NULL, "class_prior");
    double prior[3] = {0.2, 1.2, 0.3};
    o.class_prior = prior;
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_K, "class_prior[1]");
    prior[1] = NAN;
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_K, "class_prior[1]");
    o.k_policy = HS_K_FRACTION;
    o.k_fraction = 1.01;
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_K, "k_fraction");
    o.k_fraction = 0.5;
    o.k_policy = (hs_k_policy)5;
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_ARG, "policy");
    o.k_policy = HS_K_COUNT;
    o.reg = (hs_regularization)9;
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_ARG, "regularization");
    o.reg = HS_REG_L2;
    o.threads = -1;
    expect_error(hs_loss_multiclass_d(&v, g, z, y, 4, 3, &o), HS_ERR_ARG, "threads");
    o.threads = 1;

    /* binary */
    double yb[4] = {1, 0, 0.5, 1};
    expect_error(hs_loss_binary_hs_d(&v, g, z, yb, 4, &o), HS_ERR_LABEL, "y[2]");
    yb[2] = 0;
    expect_error(hs_loss_binary_hs_d(&v, g, z, yb, 0, &o), HS_ERR_SIZE, NULL);
    expect_error(hs_loss_binary_hs_d(&v, g, NULL, yb, 4, &o), HS_ERR_NULL, "z");
    z[3] = NAN;
    expect_error(hs_loss_binary_hs_d(&v, g, z, yb, 4, &o), HS_ERR_NONFINITE, "z[3]");
    z[3] = 0.1;
    o.tau = 0;
    expect_error(hs_loss_binary_hs_d(&v, g, z, yb, 4, &o), HS_ERR_TAU, "tau");
    o.tau = 1;
    o.k_policy = HS_K_PRIOR;
    o.class_prior = NULL;
    expect_error(hs_loss_binary_hs_d(&v, g, z, yb, 4, &o), HS_ERR_NULL, "class_prior");
    assert_int_equal(hs_class_prior_from_labels(prior, y, 0, 3), HS_ERR_SIZE);
    y[1] = 5;
    expect_error(hs_class_prior_from_labels(prior, y, 4, 3), HS_ERR_LABEL, "labels[1]");
}

/* ---------------------------------------------------------------- PyTorch fixtures */

typedef struct fx_reader {
    const unsigned char *p, *end;
} fx_reader;

static int fx_read(fx_reader *r, void *out, size_t len)
{
    if ((size_t)(r->end - r->p) < len)
        return 0;
    memcpy(out, r->p, len);
    r->p += len;
    return 1;
}

static uint32_t fx_u32(fx_reader *r)
{
    unsigned char b[4] = {0};
    if (!fx_read(r, b, 4))
        fail_msg("fixture truncated");
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static double fx_f64(fx_reader *r)
{
    unsigned char b[8] = {0};
    uint64_t u = 0;
    double v;
    if (!fx_read(r, b, 8))
        fail_msg("fixture truncated");
    for (int i = 7; i >= 0; i--)
        u = u << 8 | b[i];
    memcpy(&v, &u, sizeof v);
    return v;
}

static void fx_f64s(fx_reader *r, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = fx_f64(r);
}

/* Tolerances against PyTorch (both in float64): the value to 1e-12 relative, each gradient
 * entry to 1e-12 absolute plus 1e-10 relative; float entry points (inputs rounded to float)
 * to 2e-5 relative on the value and 2e-6 absolute plus 1e-4 relative on the gradient. */
static void test_fixtures(void **state)
{
    (void)state;
    const char *path = HS_TEST_FIXTURE_DIR "/loss_fixtures.bin";
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    fx_reader r = {buf, buf + len};
    char magic[8];
    assert_true(fx_read(&r, magic, 8));
    assert_memory_equal(magic, "HSLOSSF1", 8);
    assert_int_equal(fx_u32(&r), 1);
    uint32_t ncases = fx_u32(&r);
    assert_true(ncases >= 15);
    size_t seen_type[5] = {0};
    for (uint32_t cs = 0; cs < ncases; cs++) {
        uint32_t type = fx_u32(&r), B = fx_u32(&r), C = fx_u32(&r), policy = fx_u32(&r);
        uint32_t sum_red = fx_u32(&r), has_tc = fx_u32(&r);
        double tau = fx_f64(&r), frac = fx_f64(&r);
        assert_true(type <= 4 && B >= 1 && B <= 100000 && C >= 1 && C <= 1000);
        size_t n = (size_t)B * C, np = type == 4 ? 2 : C;
        double *tau_c = malloc(C * sizeof *tau_c), *prior = malloc(np * sizeof *prior);
        double *z = malloc(n * sizeof *z), *want_g = malloc(n * sizeof *want_g);
        double *g = malloc(n * sizeof *g), *yb = malloc(B * sizeof *yb);
        float *zf = malloc(n * sizeof *zf), *gf = malloc(n * sizeof *gf), *ybf = malloc(B * sizeof *ybf);
        int32_t *y = malloc(B * sizeof *y);
        assert_true(tau_c && prior && z && want_g && g && yb && zf && gf && ybf && y);
        if (has_tc)
            fx_f64s(&r, tau_c, C);
        if (policy == 1)
            fx_f64s(&r, prior, np);
        fx_f64s(&r, z, n);
        if (type == 4) {
            fx_f64s(&r, yb, B);
        } else {
            for (size_t b = 0; b < B; b++)
                y[b] = (int32_t)fx_u32(&r);
        }
        double want = fx_f64(&r);
        fx_f64s(&r, want_g, n);

        hs_loss_opts o = hs_loss_opts_default(type == 4 ? HS_LOSS_HYPERSIMPLEX : (hs_loss_kind)type);
        o.tau = tau;
        o.k_fraction = frac;
        o.k_policy = (hs_k_policy)policy;
        o.sum_reduction = (int)sum_red;
        o.tau_class = has_tc ? tau_c : NULL;
        o.class_prior = policy == 1 ? prior : NULL;
        double v = NAN, vf = NAN;
        for (size_t i = 0; i < n; i++)
            zf[i] = (float)z[i];
        for (size_t b = 0; b < B; b++)
            ybf[b] = (float)yb[b];
        hs_status s, sf;
        if (type == 4) {
            s = hs_loss_binary_hs_d(&v, g, z, yb, B, &o);
            sf = hs_loss_binary_hs_f(&vf, gf, zf, ybf, B, &o);
        } else {
            s = hs_loss_multiclass_d(&v, g, z, y, B, C, &o);
            sf = hs_loss_multiclass_f(&vf, gf, zf, y, B, C, &o);
        }
        if (s != HS_OK || sf != HS_OK)
            fail_msg("fixture case %u: %s", cs, hs_last_error());
        if (fabs(v - want) > 1e-12 * fabs(want) + 1e-15)
            fail_msg("fixture case %u (type %u, B %u, C %u): loss %.17g, torch %.17g", cs, type, B,
                     C, v, want);
        if (fabs(vf - want) > 2e-5 * fabs(want) + 1e-7)
            fail_msg("fixture case %u (type %u): float loss %.9g, torch %.17g", cs, type, vf, want);
        for (size_t i = 0; i < n; i++) {
            if (fabs(g[i] - want_g[i]) > 1e-12 + 1e-10 * fabs(want_g[i]))
                fail_msg("fixture case %u (type %u, B %u, C %u): grad[%zu] %.17g, torch %.17g", cs,
                         type, B, C, i, g[i], want_g[i]);
            if (fabs(gf[i] - want_g[i]) > 2e-6 + 1e-4 * fabs(want_g[i]))
                fail_msg("fixture case %u (type %u): float grad[%zu] %.9g, torch %.17g", cs, type, i,
                         (double)gf[i], want_g[i]);
        }
        seen_type[type]++;
        free(tau_c);
        free(prior);
        free(z);
        free(want_g);
        free(g);
        free(yb);
        free(zf);
        free(gf);
        free(ybf);
        free(y);
    }
    assert_true(r.p == r.end);
    for (int t = 0; t < 5; t++)
        assert_true(seen_type[t] > 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_baselines),
        cmocka_unit_test(test_fd_hypersimplex),
        cmocka_unit_test(test_fd_binary),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_hs_zero_on_separated_batch),
        cmocka_unit_test(test_multiclass_is_sum_of_binary),
        cmocka_unit_test(test_fused_l2_backward_matches_operator),
        cmocka_unit_test(test_float_matches_double),
        cmocka_unit_test(test_k_policies),
        cmocka_unit_test(test_column_shift_invariance),
        cmocka_unit_test(test_batch_thresholds),
        cmocka_unit_test(test_rule_invariant_under_shift),
        cmocka_unit_test(test_predict_by_hand),
        cmocka_unit_test(test_theta_running_update),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
