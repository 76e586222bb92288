/* Tests of the two operator variants, KL (capped softmax) and binary entropy (LML):
 * the exact row solvers against a long-double bisection oracle, properties (sum = k, box,
 * order, ties, k = 0 and k = n, theta consistency), huge magnitudes, the tau -> 0 and
 * tau -> inf limits, the strided front end, the VJP against central differences and its
 * adjointness with the JVP, float entry points, and the error codes. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/project_variants.h"
#include "hypersimplex.h"
#include "test_util.h"

#define assert_close(a, b, tol) assert_close_at((a), (b), (tol), #a, __LINE__)
static void assert_close_at(double a, double b, double tol, const char *what, int line)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("line %d: %s = %.17g, expected %.17g (tolerance %g)", line, what, a, b, tol);
}

typedef hs_status (*row_solver)(double *, double *, size_t *, const double *, size_t, double,
                                 double);

static const hs_regularization variants[2] = {HS_REG_KL, HS_REG_ENTROPY};

static row_solver solver_of(hs_regularization reg)
{
    return reg == HS_REG_KL ? hs_kl_solve_row : hs_entropy_solve_row;
}

static long double ref_map(long double t, hs_regularization reg)
{
    if (reg == HS_REG_KL)
        return t >= 0 ? 1.0L : expl(t);
    return t >= 0 ? 1.0L / (1.0L + expl(-t)) : expl(t) / (1.0L + expl(t));
}

/* Oracle: bisection in long double on theta for sum_i map(x_i - theta) = k, then p. */
static void reference(double *p, const double *x, size_t n, double k, hs_regularization reg)
{
    long double lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    long double pad = 60.0L + fabsl(logl((long double)k)) + logl((long double)n) +
                      fabsl(logl((long double)n - (long double)k));
    lo -= pad;
    hi += pad;
    for (int it = 0; it < 400 && lo < hi; it++) {
        long double mid = lo + (hi - lo) / 2, s = 0;
        if (mid == lo || mid == hi)
            break;
        for (size_t i = 0; i < n; i++)
            s += ref_map((long double)x[i] - mid, reg);
        if (s > (long double)k)
            lo = mid;
        else
            hi = mid;
    }
    long double th = lo + (hi - lo) / 2;
    for (size_t i = 0; i < n; i++)
        p[i] = (double)ref_map((long double)x[i] - th, reg);
}

static void fill_case(double *x, size_t n, int kind, tu_rng *r)
{
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: x[i] = tu_normal(r); break;
        case 1: x[i] = floor(4 * tu_uniform(r)); break;  /* heavy ties */
        case 2: x[i] = 3.5; break;                        /* all equal */
        case 3: x[i] = 30 * tu_normal(r); break;          /* saturating spread */
        default: x[i] = 0.01 * tu_normal(r); break;       /* nearly uniform */
        }
    }
}

static double pick_k(size_t n, int which, tu_rng *r)
{
    switch (which) {
    case 0: return 1e-9;
    case 1: return 1.0;
    case 2: return (double)n * tu_uniform(r);
    case 3: return (double)tu_below(r, n) + 0.5;
    case 4: return (double)n - 1e-9;
    default: return n > 1 ? (double)(n - 1) : 0.5;
    }
}

/* ---------------------------------------------------------------- row solvers */

static void test_rows_match_oracle_and_properties(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(101);
    const size_t sizes[] = {1, 2, 3, 7, 50, 300, 1000};
    double *x = malloc(1000 * sizeof *x), *p = malloc(1000 * sizeof *p), *q = malloc(1000 * sizeof *q);
    assert_true(x && p && q);
    size_t cases = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        for (int kind = 0; kind < 5; kind++) {
            for (int kw = 0; kw < 6; kw++) {
                double k = pick_k(n, kw, &r);
                fill_case(x, n, kind, &r);
                for (int v = 0; v < 2; v++) {
                    hs_regularization reg = variants[v];
                    double th;
                    size_t nf;
                    assert_int_equal(solver_of(reg)(p, &th, &nf, x, n, k, 1.0), HS_OK);
                    reference(q, x, n, k, reg);
                    long double sum = 0; /* long double: measures the solver, not this sum */
                    size_t count_free = 0;
                    for (size_t i = 0; i < n; i++) {
                        assert_true(p[i] >= 0.0 && p[i] <= 1.0);
                        if (fabs(p[i] - q[i]) > 1e-13)
                            fail_msg("reg %d n %zu kind %d k %.17g: p[%zu] = %.17g, oracle %.17g",
                                     (int)reg, n, kind, k, i, p[i], q[i]);
                        /* theta reproduces p (at this scale of x) */
                        double t = x[i] - th;
                        double pt = reg == HS_REG_KL ? fmin(1.0, exp(t)) : 1.0 / (1.0 + exp(-t));
                        assert_close(p[i], pt, 1e-13);
                        sum += p[i];
                        count_free += reg == HS_REG_KL ? p[i] < 1.0 : (p[i] > 0.0 && p[i] < 1.0);
                        for (size_t j = 0; j < n; j++)
                            if (x[i] > x[j])
                                assert_true(p[i] >= p[j]);
                            else if (x[i] == x[j])
                                assert_true(p[i] == p[j]);
                    }
                    /* each p_i exact to a few ulps: |sum p - k| <= 8 eps (k + 1) */
                    if (fabsl(sum - (long double)k) > 8 * DBL_EPSILON * (k + 1))
                        fail_msg("reg %d n %zu kind %d: sum p = %.17Lg, k = %.17g", (int)reg, n,
                                 kind, sum, k);
                    assert_int_equal(nf, count_free);
                    cases++;
                }
            }
        }
    }
    assert_true(cases == 7 * 5 * 6 * 2);
    free(x);
    free(p);
    free(q);
}

static void test_k_edges_and_ties(void **state)
{
    (void)state;
    double x[5] = {0.3, -2, 7, 7, 1}, p[5], th;
    size_t nf;
    for (int v = 0; v < 2; v++) {
        row_solver f = solver_of(variants[v]);
        assert_int_equal(f(p, &th, &nf, x, 5, 0.0, 1.0), HS_OK);
        assert_true(th == INFINITY);
        for (int i = 0; i < 5; i++)
            assert_true(p[i] == 0.0);
        assert_int_equal(nf, variants[v] == HS_REG_KL ? 5 : 0);
        assert_int_equal(f(p, &th, &nf, x, 5, 5.0, 1.0), HS_OK);
        assert_true(th == -INFINITY);
        for (int i = 0; i < 5; i++)
            assert_true(p[i] == 1.0);
        assert_int_equal(nf, 0);
        /* all equal: p = k / n exactly up to rounding */
        double e[6] = {2.5, 2.5, 2.5, 2.5, 2.5, 2.5}, pe[6];
        assert_int_equal(f(pe, &th, &nf, e, 6, 1.7, 1.0), HS_OK);
        for (int i = 0; i < 6; i++)
            assert_close(pe[i], 1.7 / 6, 1e-15);
        /* in place (p aliases x) */
        double y[5];
        memcpy(y, x, sizeof y);
        double ref[5];
        assert_int_equal(f(ref, &th, &nf, x, 5, 2.2, 1.0), HS_OK);
        assert_int_equal(f(y, &th, &nf, y, 5, 2.2, 1.0), HS_OK);
        for (int i = 0; i < 5; i++)
            assert_true(y[i] == ref[i]);
    }
    /* KL with the two tied maxima capped: k = 2.5 -> p(7) = 1, the rest share 0.5 */
    assert_int_equal(hs_kl_solve_row(p, &th, &nf, x, 5, 2.5, 1.0), HS_OK);
    assert_true(p[2] == 1.0 && p[3] == 1.0);
    assert_close(p[0] + p[1] + p[4], 0.5, 1e-15);
    assert_int_equal(nf, 3);
}

/* Orders that stress the KL solver's selection of the top ceil(k): sorted either way,
 * organ-pipe, two values, all equal; compared with the oracle. */
static void test_selection_orders(void **state)
{
    (void)state;
    enum { N = 1500 };
    double *x = malloc(N * sizeof *x), *p = malloc(N * sizeof *p), *q = malloc(N * sizeof *q);
    assert_true(x && p && q);
    const double ks[] = {0.5, 1.0, 299.5, 750.0, 1499.25};
    for (int order = 0; order < 5; order++) {
        for (size_t i = 0; i < N; i++) {
            switch (order) {
            case 0: x[i] = 0.01 * (double)i; break;
            case 1: x[i] = -0.01 * (double)i; break;
            case 2: x[i] = 0.01 * (double)(i < N / 2 ? i : N - i); break;
            case 3: x[i] = (double)(i % 2); break;
            default: x[i] = 1.25; break;
            }
        }
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
            for (int v = 0; v < 2; v++) {
                double th;
                size_t nf;
                assert_int_equal(solver_of(variants[v])(p, &th, &nf, x, N, ks[j], 1.0), HS_OK);
                reference(q, x, N, ks[j], variants[v]);
                for (size_t i = 0; i < N; i++)
                    if (fabs(p[i] - q[i]) > 1e-13)
                        fail_msg("reg %d order %d k %g: p[%zu] = %.17g, oracle %.17g",
                                 (int)variants[v], order, ks[j], i, p[i], q[i]);
            }
        }
    }
    free(x);
    free(p);
    free(q);
}

/* Huge magnitudes: no NaN, exact answers where they are known, and invariance under a
 * shift by 2^40 (which the anchored evaluations keep to full precision). */
static void test_large_magnitude(void **state)
{
    (void)state;
    double x[6] = {1e300, -1e300, 1e308, -1.7e308, 3.0, 2.0}, p[6], th;
    size_t nf;
    for (int v = 0; v < 2; v++) {
        hs_regularization reg = variants[v];
        row_solver f = solver_of(reg);
        for (double k = 0.25; k < 6; k += 0.5) {
            assert_int_equal(f(p, &th, &nf, x, 6, k, 1.0), HS_OK);
            double sum = 0;
            for (int i = 0; i < 6; i++) {
                assert_true(p[i] >= 0 && p[i] <= 1);
                sum += p[i];
            }
            assert_close(sum, k, 1e-14);
            assert_true(th == th); /* not NaN */
        }
        /* k = 0.5: the top coordinate 1e308 alone carries 0.5 */
        assert_int_equal(f(p, &th, &nf, x, 6, 0.5, 1.0), HS_OK);
        assert_close(p[2], 0.5, 1e-15);
        /* k = 2.5: 1e308, 1e300 at 1; 3 and 2 share 0.5 in the ratio of the map */
        assert_int_equal(f(p, &th, &nf, x, 6, 2.5, 1.0), HS_OK);
        assert_true(p[0] == 1.0 && p[2] == 1.0 && p[1] == 0.0 && p[3] == 0.0);
        assert_close(p[4] + p[5], 0.5, 1e-15);
    }
    tu_rng r = tu_rng_make(7);
    double base[40], shifted[40], pb[40], ps[40];
    for (int i = 0; i < 40; i++) {
        base[i] = floor(64 * 6 * tu_normal(&r)) / 64; /* multiples of 1/64: exact after shift */
        shifted[i] = base[i] + 0x1p40;
    }
    for (int v = 0; v < 2; v++) {
        row_solver f = solver_of(variants[v]);
        const double ks[] = {0.3, 1.0, 7.5, 39.2};
        for (int j = 0; j < 4; j++) {
            assert_int_equal(f(pb, &th, &nf, base, 40, ks[j], 1.0), HS_OK);
            assert_int_equal(f(ps, &th, &nf, shifted, 40, ks[j], 1.0), HS_OK);
            for (int i = 0; i < 40; i++)
                assert_close(ps[i], pb[i], 1e-14);
        }
    }
}

/* ---------------------------------------------------------------- through the operator */

static void project(double *p, const double *z, const hs_proj *d)
{
    hs_status s = hs_project_d(p, NULL, NULL, z, d);
    if (s != HS_OK)
        fail_msg("hs_project_d: %s", hs_last_error());
}

/* tau -> 0: the hard top-k indicator (distinct scores, integer k); tau -> inf: k / n. */
static void test_tau_limits(void **state)
{
    (void)state;
    double z[9] = {0.4, 2.0, -1.0, 3.0, 0.0, 1.5, -0.5, 2.5, 1.0}, p[9];
    for (int v = 0; v < 2; v++) {
        hs_proj d = hs_proj_make(1, 9, 3.0, 1e-3);
        d.reg = variants[v];
        project(p, z, &d);
        for (int i = 0; i < 9; i++)
            assert_close(p[i], z[i] >= 2.0 ? 1.0 : 0.0, 1e-12);
        d.tau = 1e9;
        project(p, z, &d);
        for (int i = 0; i < 9; i++)
            assert_close(p[i], 3.0 / 9.0, 1e-8);
    }
}

/* The strided front end (columns of a row-major matrix, per-row k and tau) agrees with the
 * row solvers on contiguous copies of x = z / tau, and reports the same theta and n_free. */
static void test_front_end_columns(void **state)
{
    (void)state;
    enum { B = 33, C = 4 };
    double z[B * C], p[B * C], col[B], pc[B], k[C] = {0.0, 2.5, 11.0, B}, tau[C] = {0.5, 1, 2, 3};
    double theta[C];
    size_t nf[C];
    tu_rng r = tu_rng_make(8);
    for (size_t i = 0; i < B * C; i++)
        z[i] = 2 * tu_normal(&r);
    for (int v = 0; v < 2; v++) {
        hs_proj d = hs_proj_make(C, B, 0.0, 1.0);
        d.row_stride = 1;
        d.elem_stride = C;
        d.k_rows = k;
        d.tau_rows = tau;
        d.reg = variants[v];
        assert_int_equal(hs_project_d(p, theta, nf, z, &d), HS_OK);
        for (size_t c = 0; c < C; c++) {
            double th;
            size_t n_free;
            for (size_t b = 0; b < B; b++)
                col[b] = z[b * C + c];
            assert_int_equal(solver_of(variants[v])(pc, &th, &n_free, col, B, k[c], tau[c]),
                             HS_OK);
            for (size_t b = 0; b < B; b++)
                assert_true(p[b * C + c] == pc[b]);
            assert_true(theta[c] == th);
            (void)n_free;
        }
    }
}

/* Index set of coordinates clamped by the map (KL: at the cap); changes mark a kink. */
static void clamp_signature(unsigned char *sig, const double *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sig[i] = p[i] >= 1.0;
}

static void test_vjp_finite_differences(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(9);
    const size_t sizes[] = {2, 5, 17, 60};
    for (size_t si = 0; si < 4; si++) {
        size_t n = sizes[si];
        double *z = malloc(n * sizeof *z), *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
        double *dz = malloc(n * sizeof *dz), *pp = malloc(n * sizeof *pp), *pm = malloc(n * sizeof *pm);
        unsigned char *s0 = malloc(n), *s1 = malloc(n), *s2 = malloc(n);
        assert_true(z && p && g && dz && pp && pm && s0 && s1 && s2);
        for (int v = 0; v < 2; v++) {
            for (int rep = 0; rep < 3; rep++) {
                double k = rep == 0 ? 1.0 : (double)n * tu_uniform(&r);
                hs_proj d = hs_proj_make(1, n, k, 0.7);
                d.reg = variants[v];
                for (size_t i = 0; i < n; i++) {
                    z[i] = 1.5 * tu_normal(&r);
                    g[i] = tu_normal(&r);
                }
                project(p, z, &d);
                clamp_signature(s0, p, n);
                assert_int_equal(hs_project_vjp_d(dz, p, g, &d), HS_OK);
                double sum_dz = 0;
                size_t checked = 0;
                for (size_t i = 0; i < n; i++) {
                    const double h = 1e-6;
                    double save = z[i];
                    z[i] = save + h;
                    project(pp, z, &d);
                    z[i] = save - h;
                    project(pm, z, &d);
                    z[i] = save;
                    clamp_signature(s1, pp, n);
                    clamp_signature(s2, pm, n);
                    sum_dz += dz[i];
                    if (memcmp(s0, s1, n) != 0 || memcmp(s0, s2, n) != 0)
                        continue; /* a coordinate crosses the KL cap: kink */
                    double fd = 0;
                    for (size_t j = 0; j < n; j++)
                        fd += g[j] * (pp[j] - pm[j]) / (2 * h);
                    checked++;
                    if (fabs(fd - dz[i]) > 1e-7 * (1 + fabs(fd)))
                        fail_msg("reg %d n %zu k %g: dz[%zu] = %.12g, central difference %.12g",
                                 (int)d.reg, n, k, i, dz[i], fd);
                }
                assert_true(checked * 2 >= n);
                /* p(z + c 1) = p(z): J 1 = 0, and J is symmetric, so sum(J^T g) = 0 */
                assert_close(sum_dz, 0.0, 1e-12);
            }
        }
        free(z);
        free(p);
        free(g);
        free(dz);
        free(pp);
        free(pm);
        free(s0);
        free(s1);
        free(s2);
    }
}

static void test_vjp_jvp_adjoint(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(10);
    enum { B = 45, C = 3 };
    double z[B * C], p[B * C], u[B * C], w[B * C], ju[B * C], jw[B * C], jtu[B * C];
    double k[C] = {5, 12.5, 30}, tau[C] = {0.8, 1.0, 1.7};
    for (int v = 0; v < 2; v++) {
        for (size_t i = 0; i < B * C; i++) {
            z[i] = 2 * tu_normal(&r);
            u[i] = tu_normal(&r);
            w[i] = tu_normal(&r);
        }
        hs_proj d = hs_proj_make(C, B, 0.0, 1.0);
        d.row_stride = 1;
        d.elem_stride = C;
        d.k_rows = k;
        d.tau_rows = tau;
        d.reg = variants[v];
        project(p, z, &d);
        assert_int_equal(hs_project_vjp_d(jtu, p, u, &d), HS_OK);
        assert_int_equal(hs_project_jvp_d(jw, p, w, &d), HS_OK);
        assert_int_equal(hs_project_jvp_d(ju, p, u, &d), HS_OK);
        double a = 0, b = 0, norm = 0;
        for (size_t i = 0; i < B * C; i++) {
            a += u[i] * jw[i];
            b += jtu[i] * w[i];
            norm += fabs(u[i] * jw[i]);
            assert_close(ju[i], jtu[i], 1e-14); /* J symmetric */
        }
        assert_close(a, b, 1e-13 * (1 + norm));
    }
}

static void test_float_entry_points(void **state)
{
    (void)state;
    enum { N = 64 };
    float zf[N], pf[N], gf[N], dzf[N];
    double zd[N], pd[N], gd[N], dzd[N];
    tu_rng r = tu_rng_make(12);
    for (int i = 0; i < N; i++) {
        zf[i] = (float)(2 * tu_normal(&r));
        zd[i] = zf[i];
        gf[i] = (float)tu_normal(&r);
        gd[i] = gf[i];
    }
    for (int v = 0; v < 2; v++) {
        hs_proj d = hs_proj_make(1, N, 9.5, 1.3);
        d.reg = variants[v];
        assert_int_equal(hs_project_f(pf, NULL, NULL, zf, &d), HS_OK);
        project(pd, zd, &d);
        assert_int_equal(hs_project_vjp_f(dzf, pf, gf, &d), HS_OK);
        assert_int_equal(hs_project_vjp_d(dzd, pd, gd, &d), HS_OK);
        for (int i = 0; i < N; i++) {
            assert_close(pf[i], pd[i], 1e-7);
            assert_close(dzf[i], dzd[i], 1e-6);
        }
    }
}

static void test_errors(void **state)
{
    (void)state;
    double z[4] = {1, 2, 3, 4}, p[4] = {9, 9, 9, 9};
    for (int v = 0; v < 2; v++) {
        hs_proj d = hs_proj_make(1, 4, 2.0, 1.0);
        d.reg = variants[v];
        z[2] = NAN;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_NONFINITE);
        z[2] = INFINITY;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_NONFINITE);
        z[2] = 3;
        d.tau = 1e-310; /* z / tau overflows */
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_NONFINITE);
        d.tau = 0;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_TAU);
        d.tau = NAN;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_TAU);
        d.tau = 1;
        d.k = 4.5;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_K);
        d.k = -0.1;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_K);
        d.k = NAN;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_K);
        d.k = 2;
        d.n = 0;
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_SIZE);
        d.n = 4;
        assert_int_equal(hs_project_d(NULL, NULL, NULL, z, &d), HS_ERR_NULL);
        for (int i = 0; i < 4; i++)
            assert_true(p[i] == 9); /* untouched by every failing call */
    }
    hs_proj d = hs_proj_make(1, 4, 2.0, 1.0);
    d.reg = (hs_regularization)3;
    assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_match_oracle_and_properties),
        cmocka_unit_test(test_k_edges_and_ties),
        cmocka_unit_test(test_selection_orders),
        cmocka_unit_test(test_large_magnitude),
        cmocka_unit_test(test_tau_limits),
        cmocka_unit_test(test_front_end_columns),
        cmocka_unit_test(test_vjp_finite_differences),
        cmocka_unit_test(test_vjp_jvp_adjoint),
        cmocka_unit_test(test_float_entry_points),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
