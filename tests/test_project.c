/* Tests of the soft-binary-argmax@k operator (L2): properties on random cases, agreement of the
 * fast solver with the sort+PAV reference, derivatives against finite differences, layouts,
 * and every error code. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/project_internal.h"
#include "core/rows.h"
#include "hypersimplex.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */

static hs_proj make1(size_t n, double k, double tau, hs_solver solver)
{
    hs_proj d = hs_proj_make(1, n, k, tau);
    d.solver = solver;
    return d;
}

/* Projects one contiguous double row with the given solver; fails the test on error. */
static void proj1(double *p, const double *z, size_t n, double k, double tau, hs_solver solver)
{
    hs_proj d = make1(n, k, tau, solver);
    hs_status s = hs_project_d(p, NULL, NULL, z, &d);
    if (s != HS_OK)
        fail_msg("hs_project_d(n=%zu, k=%g, tau=%g): %s", n, k, tau, hs_last_error());
}

/* Fills z with one of several distributions, some with many ties. */
static void fill_case(double *z, size_t n, int kind, tu_rng *r)
{
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: z[i] = tu_normal(r); break;
        case 1: z[i] = floor(4 * tu_uniform(r)); break;            /* heavy ties */
        case 2: z[i] = 3.5; break;                                  /* all equal */
        case 3: z[i] = 100 * tu_normal(r); break;                   /* wide spread */
        default: z[i] = 0.01 * tu_normal(r); break;                 /* nearly all free */
        }
    }
}

static double random_k(size_t n, tu_rng *r)
{
    switch (tu_below(r, 6)) {
    case 0: return 0;
    case 1: return (double)n;
    case 2: return 1;
    case 3: return n > 1 ? (double)(n - 1) : 1;
    case 4: return (double)tu_below(r, n + 1);
    default: return tu_uniform(r) * (double)n; /* real k */
    }
}

/* ------------------------------------------------------------- properties */

static void check_properties(const double *z, const double *p, size_t n, double k, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(p[i] >= 0 && p[i] <= 1))
            fail_msg("p[%zu] = %.17g outside [0,1]", i, p[i]);
    double sum = tu_compensated_sum(p, n);
    if (fabs(sum - k) > tol * fmax(1, k))
        fail_msg("sum p = %.17g, k = %.17g (n=%zu)", sum, k, n);
    for (size_t i = 0; i + 1 < n; i++) {
        for (size_t j = i + 1; j < n && j < i + 8; j++) {
            if (z[i] > z[j] && p[i] < p[j])
                fail_msg("order: z[%zu] > z[%zu] but p %.17g < %.17g", i, j, p[i], p[j]);
            if (z[i] == z[j] && p[i] != p[j])
                fail_msg("ties: z[%zu] == z[%zu] but p differ", i, j);
        }
    }
}

static void test_random_properties_and_reference(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(1);
    double *z = malloc(3000 * sizeof *z), *p = malloc(3000 * sizeof *p), *q = malloc(3000 * sizeof *q);
    for (int c = 0; c < 4000; c++) {
        /* a quarter of the cases are long enough for the solver's sampled Newton path */
        size_t n = 1 + tu_below(&r, c % 4 == 0 ? 3000 : 300);
        int kind = (int)tu_below(&r, 5);
        fill_case(z, n, kind, &r);
        double k = random_k(n, &r);
        double tau = exp(4 * tu_uniform(&r) - 2);
        proj1(p, z, n, k, tau, HS_SOLVER_FAST);
        proj1(q, z, n, k, tau, HS_SOLVER_SORT_PAV);
        check_properties(z, p, n, k, 1e-12);
        check_properties(z, q, n, k, 1e-12);
        for (size_t i = 0; i < n; i++)
            if (fabs(p[i] - q[i]) > 1e-12)
                fail_msg("case %d (n=%zu kind=%d k=%g tau=%g): fast p[%zu]=%.17g, PAV %.17g", c,
                         n, kind, k, tau, i, p[i], q[i]);
    }
    free(z);
    free(p);
    free(q);
}

/* Long rows go through the sampling path of the fast solver. */
static void test_long_rows_against_reference(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(2);
    const size_t sizes[] = {20000, 100000, 1000000};
    for (size_t si = 0; si < 3; si++) {
        size_t n = sizes[si];
        double *z = malloc(n * sizeof *z), *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
        for (int kind = 0; kind < 5; kind++) {
            fill_case(z, n, kind, &r);
            double ks[] = {0, 1, 0.5 * (double)n, (double)n - 1, (double)n, 0.1234 * (double)n + 0.5};
            for (size_t ki = 0; ki < 6; ki++) {
                if (n == 1000000 && ki % 2 == 1)
                    continue; /* keep the largest size quick */
                proj1(p, z, n, ks[ki], 1.0, HS_SOLVER_FAST);
                proj1(q, z, n, ks[ki], 1.0, HS_SOLVER_SORT_PAV);
                check_properties(z, p, n, ks[ki], 1e-12);
                for (size_t i = 0; i < n; i++)
                    if (fabs(p[i] - q[i]) > 1e-12)
                        fail_msg("n=%zu kind=%d k=%g: p[%zu] fast %.17g PAV %.17g", n, kind,
                                 ks[ki], i, p[i], q[i]);
            }
        }
        free(z);
        free(p);
        free(q);
    }
}

/* Rows built so that the solver's sample is unrepresentative (the sampled elements are
 * shifted far up or down): the sample's bracket misses the root and the repair pass must
 * still give the exact answer. Also rows where the sample is representative but lies at an
 * end of the row's range (k tiny or close to n). */
static void test_misleading_sample(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(7);
    /* medium rows (Newton passes from the sample's root) and long rows (sampled bracket) */
    const size_t sizes[] = {600, 5000, 300000};
    for (size_t si = 0; si < 3; si++) {
        size_t n = sizes[si], m = hs_l2_sample_len(n);
        assert_true(m > 0);
        double *z = malloc(n * sizeof *z), *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
        for (int shift = -1; shift <= 1; shift += 2) {
            for (size_t i = 0; i < n; i++)
                z[i] = tu_normal(&r);
            for (size_t i = 0; i < m; i++) {
                size_t j = hs_l2_sample_pos(i, m, n);
                assert_true(j < n && (i == 0 || j > hs_l2_sample_pos(i - 1, m, n)));
                z[j] += 10.0 * shift;
            }
            const double ks[] = {0.5, 1, 0.3 * (double)n, 0.5 * (double)n, (double)n - 1.5};
            for (size_t ki = 0; ki < 5; ki++) {
                proj1(p, z, n, ks[ki], 0.7, HS_SOLVER_FAST);
                proj1(q, z, n, ks[ki], 0.7, HS_SOLVER_SORT_PAV);
                check_properties(z, p, n, ks[ki], 1e-12);
                for (size_t i = 0; i < n; i++)
                    if (fabs(p[i] - q[i]) > 1e-12)
                        fail_msg("n=%zu shift=%d k=%g: p[%zu] fast %.17g PAV %.17g", n, shift,
                                 ks[ki], i, p[i], q[i]);
            }
        }
        free(z);
        free(p);
        free(q);
    }
}

/* sum(p) = k to 1e-12 max(1, k) on short and medium rows with a wide dynamic range
 * (|z| up to 1e6 tau): the threshold must be returned relative to a point near the root,
 * whatever the solver folded into sums on the way. */
static void test_sum_precision_wide_range(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(11);
    double *z = malloc(600 * sizeof *z), *p = malloc(600 * sizeof *p);
    int checked = 0;
    for (int c = 0; c < 40000; c++) {
        size_t n = 1 + tu_below(&r, 600);
        int kind = (int)tu_below(&r, 2);
        double zmax = 0;
        for (size_t i = 0; i < n; i++) {
            z[i] = kind ? exp(5 * tu_normal(&r)) : 1e3 * tu_normal(&r);
            zmax = fmax(zmax, fabs(z[i]));
        }
        double tau = exp(8 * tu_uniform(&r) - 4);
        if (zmax / tau > 1e6)
            continue; /* the promise is for |z| / tau up to about 1e6 */
        double k = tu_below(&r, 2) ? tu_uniform(&r) * (double)n : tu_uniform(&r);
        proj1(p, z, n, k, tau, HS_SOLVER_FAST);
        double sum = tu_compensated_sum(p, n);
        if (fabs(sum - k) > 1e-12 * fmax(1, k))
            fail_msg("case %d (n=%zu kind=%d k=%.17g tau=%.17g): sum p - k = %g", c, n, kind, k,
                     tau, sum - k);
        checked++;
    }
    assert_true(checked > 10000);
    free(z);
    free(p);
}

/* The portable (non-AVX2) code paths, forced on this machine: the forward agrees with the
 * sort+PAV reference over all three row regimes, float and strided inputs included, and the
 * backward is bit-identical to the AVX2 one (both sum in the same 4-lane order). */
static void test_portable_paths(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(13);
    const size_t sizes[] = {40, 300, 3000, 200000};
    size_t nmax = 200000;
    double *z = malloc(nmax * sizeof *z), *p = malloc(nmax * sizeof *p), *q = malloc(nmax * sizeof *q);
    double *g = malloc(nmax * sizeof *g), *v1 = malloc(nmax * sizeof *v1), *v2 = malloc(nmax * sizeof *v2);
    float *zf = malloc(nmax * sizeof *zf), *pf = malloc(nmax * sizeof *pf);
    for (size_t si = 0; si < 4; si++) {
        size_t n = sizes[si];
        for (int kind = 0; kind < 5; kind++) {
            fill_case(z, n, kind, &r);
            for (size_t i = 0; i < n; i++)
                g[i] = tu_normal(&r);
            double k = kind == 2 ? 1.0 : 0.37 * (double)n + 0.25;
            hs_core_force_portable(1);
            proj1(p, z, n, k, 0.8, HS_SOLVER_FAST);
            hs_proj d = make1(n, k, 0.8, HS_SOLVER_FAST);
            assert_int_equal(hs_project_vjp_d(v1, p, g, &d), HS_OK);
            for (size_t i = 0; i < n; i++)
                zf[i] = (float)z[i];
            assert_int_equal(hs_project_f(pf, NULL, NULL, zf, &d), HS_OK);
            hs_core_force_portable(0);
            assert_int_equal(hs_project_vjp_d(v2, p, g, &d), HS_OK);
            proj1(q, z, n, k, 0.8, HS_SOLVER_SORT_PAV);
            check_properties(z, p, n, k, 1e-12);
            for (size_t i = 0; i < n; i++) {
                if (fabs(p[i] - q[i]) > 1e-12)
                    fail_msg("portable, n=%zu kind=%d: p[%zu] %.17g, PAV %.17g", n, kind, i, p[i], q[i]);
                if (memcmp(&v1[i], &v2[i], sizeof v1[i]) != 0)
                    fail_msg("portable VJP differs from AVX2 at %zu: %.17g vs %.17g", i, v1[i], v2[i]);
            }
            /* float input: compare with the double projection of the same (rounded) values */
            for (size_t i = 0; i < n; i++)
                z[i] = (double)zf[i];
            proj1(q, z, n, k, 0.8, HS_SOLVER_FAST);
            for (size_t i = 0; i < n; i++)
                if (fabs((double)pf[i] - q[i]) > 1e-6)
                    fail_msg("portable float, n=%zu kind=%d: p[%zu] %.9g vs %.9g", n, kind, i,
                             (double)pf[i], q[i]);
        }
    }
    free(z);
    free(p);
    free(q);
    free(g);
    free(v1);
    free(v2);
    free(zf);
    free(pf);
}

/* Magnitudes from 1e-300 to 1e300, with tau scaled so that z/tau stays moderate. */
static void test_extreme_scales(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(3);
    size_t n = 500;
    double *u = malloc(n * sizeof *u), *z = malloc(n * sizeof *z);
    double *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q), *p0 = malloc(n * sizeof *p0);
    fill_case(u, n, 0, &r);
    proj1(p0, u, n, 37.25, 1.0, HS_SOLVER_FAST);
    for (int e = -300; e <= 300; e += 50) {
        double s = pow(10.0, e);
        for (size_t i = 0; i < n; i++)
            z[i] = u[i] * s;
        proj1(p, z, n, 37.25, s, HS_SOLVER_FAST);
        proj1(q, z, n, 37.25, s, HS_SOLVER_SORT_PAV);
        check_properties(z, p, n, 37.25, 1e-12);
        for (size_t i = 0; i < n; i++) {
            if (fabs(p[i] - q[i]) > 1e-12)
                fail_msg("scale 1e%d: p[%zu] fast %.17g PAV %.17g", e, i, p[i], q[i]);
            if (fabs(p[i] - p0[i]) > 1e-12)
                fail_msg("scale 1e%d: p[%zu] %.17g differs from unscaled %.17g", e, i, p[i], p0[i]);
        }
    }
    /* |z|/tau around 1e6: the sum must stay exact to 1e-12 k. */
    size_t m = 100000;
    double *w = malloc(m * sizeof *w), *pw = malloc(m * sizeof *pw);
    for (size_t i = 0; i < m; i++)
        w[i] = 1e6 * tu_normal(&r);
    for (double k = 1; k < (double)m; k *= 7.3) {
        proj1(pw, w, m, k, 1.0, HS_SOLVER_FAST);
        check_properties(w, pw, m, k, 1e-12);
    }
    free(w);
    free(pw);
    free(u);
    free(z);
    free(p);
    free(q);
    free(p0);
}

/* tau -> 0 gives the top-k indicator for distinct z and integer k. */
static void test_tau_to_zero_limit(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(4);
    for (int c = 0; c < 500; c++) {
        size_t n = 2 + tu_below(&r, 100);
        double z[101], p[101];
        for (size_t i = 0; i < n; i++)
            z[i] = tu_normal(&r) + 1e-3 * (double)i; /* distinct */
        size_t k = tu_below(&r, n + 1);
        proj1(p, z, n, (double)k, 1e-9, HS_SOLVER_FAST);
        for (size_t i = 0; i < n; i++) {
            size_t above = 0;
            for (size_t j = 0; j < n; j++)
                above += z[j] > z[i];
            double want = above < k ? 1.0 : 0.0;
            if (p[i] != want)
                fail_msg("tau->0: n=%zu k=%zu p[%zu]=%.17g want %g", n, k, i, p[i], want);
        }
    }
}

/* ||P(a) - P(b)|| <= ||a - b|| / tau. */
static void test_nonexpansive(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(5);
    for (int c = 0; c < 2000; c++) {
        size_t n = 1 + tu_below(&r, 60);
        double a[60], b[60], pa[60], pb[60];
        for (size_t i = 0; i < n; i++) {
            a[i] = tu_normal(&r);
            b[i] = a[i] + (tu_below(&r, 2) ? 0.1 : 3.0) * tu_normal(&r);
        }
        double k = random_k(n, &r), tau = exp(2 * tu_uniform(&r) - 1);
        proj1(pa, a, n, k, tau, HS_SOLVER_FAST);
        proj1(pb, b, n, k, tau, HS_SOLVER_FAST);
        double dp = 0, dz = 0;
        for (size_t i = 0; i < n; i++) {
            dp += (pa[i] - pb[i]) * (pa[i] - pb[i]);
            dz += (a[i] - b[i]) * (a[i] - b[i]);
        }
        if (sqrt(dp) > sqrt(dz) / tau * (1 + 1e-12) + 1e-14)
            fail_msg("not 1/tau-Lipschitz: %.17g > %.17g", sqrt(dp), sqrt(dz) / tau);
    }
}

/* ------------------------------------------------------------ float path */

static void test_float_matches_double(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(6);
    size_t sizes[] = {7, 1000, 50000};
    for (size_t si = 0; si < 3; si++) {
        size_t n = sizes[si];
        float *zf = malloc(n * sizeof *zf), *pf = malloc(n * sizeof *pf);
        double *zd = malloc(n * sizeof *zd), *pd = malloc(n * sizeof *pd);
        for (int rep = 0; rep < 20; rep++) {
            double scale = rep % 4 == 3 ? 1e6 : 1.0;
            for (size_t i = 0; i < n; i++) {
                zf[i] = (float)(scale * tu_normal(&r));
                zd[i] = zf[i];
            }
            double k = random_k(n, &r);
            hs_proj d = hs_proj_make(1, n, k, 1.0);
            assert_int_equal(hs_project_f(pf, NULL, NULL, zf, &d), HS_OK);
            assert_int_equal(hs_project_d(pd, NULL, NULL, zd, &d), HS_OK);
            double sum = 0, c = 0;
            for (size_t i = 0; i < n; i++) {
                double t = sum + (double)pf[i]; /* compensated, as in tu_compensated_sum */
                c += fabs(sum) >= fabs((double)pf[i]) ? (sum - t) + pf[i] : (pf[i] - t) + sum;
                sum = t;
                if (fabs(pf[i] - pd[i]) > 1e-6)
                    fail_msg("float p[%zu]=%.9g double %.17g", i, (double)pf[i], pd[i]);
            }
            sum += c;
            if (fabs(sum - k) > 1e-5 * fmax(1, k))
                fail_msg("float: sum p = %.17g, k = %.17g, n = %zu", sum, k, n);
        }
        free(zf);
        free(pf);
        free(zd);
        free(pd);
    }
}

/* ------------------------------------------------------ layouts, threads */

/* Columns of a row-major B x C matrix projected in place equal projecting copies. */
static void test_strided_columns_and_in_place(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(7);
    size_t B = 3000, C = 10;
    double *m = malloc(B * C * sizeof *m), *out = malloc(B * C * sizeof *out);
    double *col = malloc(B * sizeof *col), *pc = malloc(B * sizeof *pc);
    double kr[10], tr[10];
    for (size_t i = 0; i < B * C; i++)
        m[i] = tu_normal(&r);
    for (size_t c = 0; c < C; c++) {
        kr[c] = (double)(c * 300) + 0.5;
        tr[c] = 0.5 + 0.1 * (double)c;
    }
    hs_proj d = hs_proj_make(C, B, 0, 1);
    d.row_stride = 1;
    d.elem_stride = (ptrdiff_t)C;
    d.k_rows = kr;
    d.tau_rows = tr;
    for (int threads = 1; threads <= 2; threads++) {
        d.threads = threads;
        assert_int_equal(hs_project_d(out, NULL, NULL, m, &d), HS_OK);
        for (size_t c = 0; c < C; c++) {
            for (size_t b = 0; b < B; b++)
                col[b] = m[b * C + c];
            proj1(pc, col, B, kr[c], tr[c], HS_SOLVER_SORT_PAV);
            for (size_t b = 0; b < B; b++)
                if (fabs(out[b * C + c] - pc[b]) > 1e-12)
                    fail_msg("threads %d column %zu row %zu: %.17g vs %.17g", threads, c, b,
                             out[b * C + c], pc[b]);
        }
    }
    /* The VJP of a column equals the VJP of its contiguous copy bit for bit: results do not
     * depend on the memory layout (the vector and scalar paths sum in the same order). */
    double *gm = malloc(B * C * sizeof *gm), *vm = malloc(B * C * sizeof *vm);
    double *gc = malloc(B * sizeof *gc), *vc = malloc(B * sizeof *vc);
    for (size_t i = 0; i < B * C; i++)
        gm[i] = tu_normal(&r);
    assert_int_equal(hs_project_vjp_d(vm, out, gm, &d), HS_OK);
    for (size_t c = 0; c < C; c++) {
        for (size_t b = 0; b < B; b++) {
            col[b] = out[b * C + c];
            gc[b] = gm[b * C + c];
        }
        hs_proj dc = hs_proj_make(1, B, kr[c], tr[c]);
        assert_int_equal(hs_project_vjp_d(vc, col, gc, &dc), HS_OK);
        for (size_t b = 0; b < B; b++)
            if (memcmp(&vc[b], &vm[b * C + c], sizeof(double)) != 0)
                fail_msg("column %zu row %zu: strided VJP %.17g, contiguous %.17g", c, b,
                         vm[b * C + c], vc[b]);
    }
    free(gm);
    free(vm);
    free(gc);
    free(vc);

    /* In place, negative element stride (reversed rows). */
    double *copy = malloc(B * C * sizeof *copy);
    memcpy(copy, m, B * C * sizeof *m);
    assert_int_equal(hs_project_d(copy, NULL, NULL, copy, &d), HS_OK);
    assert_memory_equal(copy, out, B * C * sizeof *out);
    hs_proj rev = hs_proj_make(1, B, 17.5, 1.0);
    rev.elem_stride = -1;
    assert_int_equal(hs_project_d(pc + (B - 1), NULL, NULL, col + (B - 1), &rev), HS_OK);
    double *fwd = malloc(B * sizeof *fwd);
    proj1(fwd, col, B, 17.5, 1.0, HS_SOLVER_FAST);
    for (size_t b = 0; b < B; b++)
        assert_true(fabs(fwd[b] - pc[b]) <= 1e-12);
    free(fwd);
    free(copy);
    free(m);
    free(out);
    free(col);
    free(pc);
}

/* theta and n_free describe p: p_i = clip(z_i/tau - theta) and |S| counts 0 < p < 1. */
static void test_theta_and_free_count(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(8);
    for (int c = 0; c < 500; c++) {
        size_t n = 1 + tu_below(&r, 100);
        double z[100], p[100], theta;
        size_t nf;
        fill_case(z, n, c % 5, &r);
        double k = random_k(n, &r), tau = 0.7;
        for (int solver = 0; solver < 2; solver++) {
            hs_proj d = make1(n, k, tau, (hs_solver)solver);
            assert_int_equal(hs_project_d(p, &theta, &nf, z, &d), HS_OK);
            size_t count = 0;
            for (size_t i = 0; i < n; i++) {
                count += p[i] > 0 && p[i] < 1;
                double want = fmin(fmax(z[i] / tau - theta, 0), 1);
                if (fabs(want - p[i]) > 1e-9)
                    fail_msg("solver %d: clip(z/tau - theta) = %.17g, p = %.17g", solver, want, p[i]);
            }
            if (count != nf)
                fail_msg("solver %d: n_free = %zu, counted %zu", solver, nf, count);
        }
    }
}

/* ------------------------------------------------------------- backward */

/* Central differences of L(z) = <g, P(z)> against the VJP, away from breakpoints. */
static void test_vjp_finite_differences(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(9);
    int checked = 0;
    for (int c = 0; c < 300; c++) {
        size_t n = 2 + tu_below(&r, 40);
        double z[42], g[42], p[42], v[42], zp[42], pp[42], pm[42];
        for (size_t i = 0; i < n; i++) {
            z[i] = tu_normal(&r);
            g[i] = tu_normal(&r);
        }
        double k = 0.3 + tu_uniform(&r) * ((double)n - 0.6), tau = exp(tu_uniform(&r) - 0.5);
        hs_proj d = make1(n, k, tau, HS_SOLVER_FAST);
        double theta;
        assert_int_equal(hs_project_d(p, &theta, NULL, z, &d), HS_OK);
        assert_int_equal(hs_project_vjp_d(v, p, g, &d), HS_OK);
        const double h = 1e-6;
        /* distance of every coordinate to its breakpoints, in z units */
        int kink = 0;
        for (size_t i = 0; i < n; i++) {
            double x = z[i] / tau - theta;
            if (fabs(x) < 1e-4 || fabs(x - 1) < 1e-4)
                kink = 1;
        }
        if (kink)
            continue; /* a finite difference across a breakpoint measures nothing useful */
        for (size_t j = 0; j < n; j++) {
            memcpy(zp, z, n * sizeof *z);
            zp[j] = z[j] + h;
            proj1(pp, zp, n, k, tau, HS_SOLVER_FAST);
            zp[j] = z[j] - h;
            proj1(pm, zp, n, k, tau, HS_SOLVER_FAST);
            double fd = 0;
            for (size_t i = 0; i < n; i++)
                fd += g[i] * (pp[i] - pm[i]) / (2 * h);
            if (fabs(fd - v[j]) > 1e-6 * (1 + fabs(fd)))
                fail_msg("VJP[%zu] = %.12g, finite difference %.12g (n=%zu k=%g tau=%g)", j, v[j],
                         fd, n, k, tau);
        }
        checked++;
    }
    assert_true(checked > 100);
}

/* Clamped coordinates get exactly zero, also when tied with each other; empty S -> 0. */
static void test_vjp_exact_zeros_at_ties(void **state)
{
    (void)state;
    double z[8] = {5, 5, 5, 0.2, 0.1, -4, -4, -4};
    double g[8] = {1, -2, 3, 0.5, -0.25, 7, 8, -9}, p[8], v[8];
    hs_proj d = make1(8, 3.3, 1.0, HS_SOLVER_FAST);
    assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_OK);
    assert_int_equal(hs_project_vjp_d(v, p, g, &d), HS_OK);
    for (int i = 0; i < 3; i++) {
        assert_true(p[i] == 1.0);
        assert_true(v[i] == 0.0);
    }
    for (int i = 5; i < 8; i++) {
        assert_true(p[i] == 0.0);
        assert_true(v[i] == 0.0);
    }
    /* free coordinates 3 and 4: (g - mean_S g) / tau */
    assert_true(fabs(v[3] - (0.5 - 0.125)) < 1e-15);
    assert_true(fabs(v[4] - (-0.25 - 0.125)) < 1e-15);
    /* integer k with a gap: S is empty and the VJP is zero */
    double z2[4] = {10, 9, -3, -8}, g2[4] = {1, 2, 3, 4}, p2[4], v2[4];
    hs_proj d2 = make1(4, 2, 1.0, HS_SOLVER_FAST);
    assert_int_equal(hs_project_d(p2, NULL, NULL, z2, &d2), HS_OK);
    assert_int_equal(hs_project_vjp_d(v2, p2, g2, &d2), HS_OK);
    for (int i = 0; i < 4; i++)
        assert_true(v2[i] == 0.0);
    /* the gradient is identical whichever solver produced p (ties included) */
    double q[8], w[8];
    hs_proj dp = make1(8, 3.3, 1.0, HS_SOLVER_SORT_PAV);
    assert_int_equal(hs_project_d(q, NULL, NULL, z, &dp), HS_OK);
    assert_int_equal(hs_project_vjp_d(w, q, g, &dp), HS_OK);
    for (int i = 0; i < 8; i++)
        assert_true(fabs(w[i] - v[i]) < 1e-15);
}

/* <J u, v> = <u, J^T v>, and the float path agrees with double; dz may alias g. */
static void test_jvp_vjp_adjoint(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(10);
    for (int c = 0; c < 500; c++) {
        size_t n = 1 + tu_below(&r, 80);
        double z[80], p[80], u[80], v[80], ju[80], jv[80];
        float pf[80], vf[80], jvf[80];
        fill_case(z, n, c % 5, &r);
        for (size_t i = 0; i < n; i++) {
            u[i] = tu_normal(&r);
            v[i] = tu_normal(&r);
            vf[i] = (float)v[i];
        }
        hs_proj d = make1(n, random_k(n, &r), 0.8, HS_SOLVER_FAST);
        assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_OK);
        assert_int_equal(hs_project_jvp_d(ju, p, u, &d), HS_OK);
        assert_int_equal(hs_project_vjp_d(jv, p, v, &d), HS_OK);
        double a = 0, b = 0;
        for (size_t i = 0; i < n; i++) {
            a += ju[i] * v[i];
            b += u[i] * jv[i];
            pf[i] = (float)p[i];
        }
        if (fabs(a - b) > 1e-12 * (1 + fabs(a)))
            fail_msg("<Ju,v> = %.17g but <u,J^T v> = %.17g", a, b);
        assert_int_equal(hs_project_vjp_f(jvf, pf, vf, &d), HS_OK);
        memcpy(v, jv, n * sizeof *v);
        for (size_t i = 0; i < n; i++) {
            int same_set = (pf[i] > 0 && pf[i] < 1) == (p[i] > 0 && p[i] < 1);
            if (same_set && fabs((double)jvf[i] - jv[i]) > 1e-5 * (1 + fabs(jv[i])))
                fail_msg("float VJP[%zu] = %.9g, double %.17g", i, (double)jvf[i], jv[i]);
        }
        /* aliasing: dz == g */
        double g2[80];
        for (size_t i = 0; i < n; i++)
            g2[i] = u[i];
        assert_int_equal(hs_project_vjp_d(g2, p, g2, &d), HS_OK);
        assert_memory_equal(g2, ju, n * sizeof *ju);
    }
}

/* ---------------------------------------------------------------- errors */

static void expect_error(hs_status got, hs_status want, const char *needle)
{
    if (got != want)
        fail_msg("got status %d (%s), want %d; message: %s", (int)got, hs_status_string(got),
                 (int)want, hs_last_error());
    if (needle && !strstr(hs_last_error(), needle))
        fail_msg("message '%s' does not mention '%s'", hs_last_error(), needle);
}

static void test_every_error_code(void **state)
{
    (void)state;
    double z[6] = {1, 2, 3, 4, 5, 6}, p[6], g[6] = {0};
    const double sentinel = -123.0;
    for (int i = 0; i < 6; i++)
        p[i] = sentinel;
    hs_proj d = hs_proj_make(1, 6, 2, 1);
    expect_error(hs_project_d(p, NULL, NULL, z, NULL), HS_ERR_NULL, NULL);
    expect_error(hs_project_d(NULL, NULL, NULL, z, &d), HS_ERR_NULL, "p");
    expect_error(hs_project_d(p, NULL, NULL, NULL, &d), HS_ERR_NULL, "z");
    expect_error(hs_project_vjp_d(p, NULL, g, &d), HS_ERR_NULL, NULL);

    hs_proj e = d;
    e.n = 0;
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_SIZE, "n must be");
    e = d;
    e.rows = 0;
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_SIZE, "rows");
    e = d;
    e.elem_stride = 0;
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_SIZE, "elem_stride");
    e = hs_proj_make(2, 3, 1, 1);
    e.row_stride = 1; /* rows interleave with elem_stride 1 */
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_SIZE, "interleave");
    e = hs_proj_make(2, 3, 1, 1);
    e.row_stride = PTRDIFF_MAX;
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_SIZE, "overflow");
    e = hs_proj_make(1, (size_t)PTRDIFF_MAX, 1, 1);
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_SIZE, "absurd");

    const double bad_k[] = {-0.5, 6.5, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        e = d;
        e.k = bad_k[i];
        expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_K, "k =");
    }
    double krows[2] = {1, 7};
    e = hs_proj_make(2, 3, 1, 1);
    e.k_rows = krows;
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_K, "row 1");
    const double bad_tau[] = {0, -1, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        e = d;
        e.tau = bad_tau[i];
        expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_TAU, "tau =");
    }
    e = d;
    e.reg = (hs_regularization)7;
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_ARG, "regularization");
    e = d;
    e.solver = (hs_solver)9;
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_ARG, "solver");
    e = d;
    e.threads = -2;
    expect_error(hs_project_d(p, NULL, NULL, z, &e), HS_ERR_ARG, "threads");

    /* Non-finite data: every solver, every regularization, and p is left untouched. */
    const double bad_vals[] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++) {
        for (int variant = 0; variant < 4; variant++) {
            double zb[6] = {1, 2, 3, 4, 5, 6};
            zb[4] = bad_vals[b];
            e = d;
            e.solver = variant == 1 ? HS_SOLVER_SORT_PAV : HS_SOLVER_FAST;
            e.reg = variant >= 2 ? (hs_regularization)(variant - 1) : HS_REG_L2;
            expect_error(hs_project_d(p, NULL, NULL, zb, &e), HS_ERR_NONFINITE, "element 4");
            for (int i = 0; i < 6; i++)
                assert_true(p[i] == sentinel);
        }
    }
    /* z/tau overflows */
    double zo[6] = {1, 2, 1e300, 4, 5, 6};
    e = d;
    e.tau = 1e-300;
    expect_error(hs_project_d(p, NULL, NULL, zo, &e), HS_ERR_NONFINITE, "overflows");
    /* Second row bad: the first is not written either (two-phase). */
    double z2[6] = {1, 2, 3, 4, NAN, 6};
    e = hs_proj_make(2, 3, 1, 1);
    expect_error(hs_project_d(p, NULL, NULL, z2, &e), HS_ERR_NONFINITE, "row 1");
    for (int i = 0; i < 6; i++)
        assert_true(p[i] == sentinel);
    /* A NaN cotangent is reported by the VJP. */
    double pp[6], gg[6] = {0, 0, NAN, 0, 0, 0};
    assert_int_equal(hs_project_d(pp, NULL, NULL, z, &d), HS_OK);
    expect_error(hs_project_vjp_d(g, pp, gg, &d), HS_ERR_NONFINITE, "row 0");

    /* hs_proj_check mirrors the validation without data. */
    assert_null(hs_proj_check(&d));
    e = d;
    e.tau = 0;
    assert_non_null(hs_proj_check(&e));
    assert_non_null(hs_proj_check(NULL));
    /* Every status has its own description. */
    for (int s = 0; s <= HS_ERR_UNSUPPORTED; s++)
        for (int t = s + 1; t <= HS_ERR_UNSUPPORTED; t++)
            assert_string_not_equal(hs_status_string((hs_status)s), hs_status_string((hs_status)t));
    assert_string_equal(hs_version(), HS_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_properties_and_reference),
        cmocka_unit_test(test_long_rows_against_reference),
        cmocka_unit_test(test_misleading_sample),
        cmocka_unit_test(test_sum_precision_wide_range),
        cmocka_unit_test(test_portable_paths),
        cmocka_unit_test(test_extreme_scales),
        cmocka_unit_test(test_tau_to_zero_limit),
        cmocka_unit_test(test_nonexpansive),
        cmocka_unit_test(test_float_matches_double),
        cmocka_unit_test(test_strided_columns_and_in_place),
        cmocka_unit_test(test_theta_and_free_count),
        cmocka_unit_test(test_vjp_finite_differences),
        cmocka_unit_test(test_vjp_exact_zeros_at_ties),
        cmocka_unit_test(test_jvp_vjp_adjoint),
        cmocka_unit_test(test_every_error_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
