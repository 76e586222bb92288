/* Exactness of the operator at every magnitude of z/tau: every solver (fast and sort+PAV for
 * L2, the KL and entropy solvers), float and double, AVX2 and portable code paths, contiguous
 * and strided rows, forward, VJP and JVP, against exact rational references
 * (tests/fixtures/exact_cases.txt, made by tests/fixtures/make_exact_fixtures.py); the cases of
 * issue 16 also through `hypersimplex project`. Plus shift invariance on long generated rows. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/project_internal.h"
#include "core/rows.h"
#include "hypersimplex.h"
#include "test_util.h"

/* ------------------------------------------------------------------ the fixture */

typedef struct exact_case {
    char name[96];
    hs_regularization reg;
    size_t n, m;           /* row length, distinct values */
    double k, tau, theta;
    int expect_ok, float_ok, vjp_ok, theta_ok;
    double *z, *p, *pf, *g, *dz, *dzf; /* (m) per distinct value */
    size_t *count;                      /* (m) */
} exact_case;

static exact_case *cases;
static size_t n_cases;

static double hexnum(char **s)
{
    char *end;
    double v = strtod(*s, &end);
    if (end == *s)
        fail_msg("fixture: expected a number at '%.20s'", *s);
    *s = end;
    return v;
}

static int load_fixture(void **state)
{
    (void)state;
    const char *path = HS_TEST_FIXTURE_DIR "/exact_cases.txt";
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    char line[512];
    if (!fgets(line, sizeof line, f) || strcmp(line, "HSEXACT 1\n") != 0)
        return -1;
    if (!fgets(line, sizeof line, f) || sscanf(line, "cases %zu", &n_cases) != 1)
        return -1;
    cases = calloc(n_cases, sizeof *cases);
    for (size_t c = 0; c < n_cases; c++) {
        exact_case *e = &cases[c];
        char reg[16], expect[16];
        if (!fgets(line, sizeof line, f))
            return -1;
        char *s = line;
        int used = 0;
        if (sscanf(s, "case %95s %15s %zu %n", e->name, reg, &e->n, &used) != 3)
            return -1;
        s += used;
        e->k = hexnum(&s);
        e->tau = hexnum(&s);
        if (sscanf(s, " %zu %15s %d %d %d %n", &e->m, expect, &e->float_ok, &e->vjp_ok,
                   &e->theta_ok, &used) != 5)
            return -1;
        s += used;
        e->theta = hexnum(&s);
        e->reg = strcmp(reg, "kl") == 0 ? HS_REG_KL
                 : strcmp(reg, "entropy") == 0 ? HS_REG_ENTROPY : HS_REG_L2;
        e->expect_ok = strcmp(expect, "ok") == 0;
        double **cols[6] = {&e->z, &e->p, &e->pf, &e->g, &e->dz, &e->dzf};
        for (int j = 0; j < 6; j++)
            *cols[j] = malloc(e->m * sizeof(double));
        e->count = malloc(e->m * sizeof(size_t));
        for (size_t i = 0; i < e->m; i++) {
            if (!fgets(line, sizeof line, f))
                return -1;
            s = line;
            e->z[i] = hexnum(&s);
            e->count[i] = strtoul(s, &s, 10);
            for (int j = 1; j < 6; j++)
                (*cols[j])[i] = hexnum(&s);
        }
    }
    fclose(f);
    return 0;
}

static int free_fixture(void **state)
{
    (void)state;
    for (size_t c = 0; c < n_cases; c++) {
        exact_case *e = &cases[c];
        free(e->z), free(e->p), free(e->pf), free(e->g), free(e->dz), free(e->dzf);
        free(e->count);
    }
    free(cases);
    return 0;
}

/* The row of a case: each distinct value repeated by its count, in a shuffled order; which[i]
 * is the distinct value at position i. */
static size_t *expand(const exact_case *e)
{
    size_t *which = malloc(e->n * sizeof *which), at = 0;
    assert_non_null(which);
    for (size_t j = 0; j < e->m; j++)
        for (size_t c = 0; c < e->count[j]; c++)
            which[at++] = j;
    assert_int_equal(at, e->n);
    tu_rng r = tu_rng_make(e->n * 31 + e->m);
    for (size_t i = e->n; i > 1; i--) {
        size_t j = tu_below(&r, i), t = which[i - 1];
        which[i - 1] = which[j];
        which[j] = t;
    }
    return which;
}

/* ------------------------------------------------------------------ checks */

/* Accuracy checked for p on a row of n: tighter than the contract's eps_n = 2^-38 + n 2^-50
 * (include/hypersimplex.h), which bounds the worst case of the sums over a row; these rows
 * are checked at the accuracy the solvers reach on them. */
static double p_tolerance(size_t n)
{
    return fmax(0x1p-40, (double)n * 0x1p-60);
}

typedef struct run_config {
    hs_solver solver;
    int is_float, portable;
    ptrdiff_t stride; /* element stride of the row in memory */
} run_config;

static const char *config_name(const run_config *rc, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s %s %s stride %td", rc->solver == HS_SOLVER_FAST ? "fast" : "pav",
             rc->is_float ? "float" : "double", rc->portable ? "portable" : "avx2", rc->stride);
    return buf;
}

/* Runs one case in one configuration and checks p, sum p, theta, n_free, VJP and JVP. */
static void check_case(const exact_case *e, const size_t *which, const run_config *rc)
{
    char cfg[96];
    config_name(rc, cfg, sizeof cfg);
    size_t n = e->n, len = n * (size_t)rc->stride;
    hs_proj d = hs_proj_make(1, n, e->k, e->tau);
    d.elem_stride = rc->stride;
    d.row_stride = (ptrdiff_t)len;
    d.reg = e->reg;
    d.solver = rc->solver;
    double *zd = tu_dvec(len), *pd = tu_dvec(len), *gd = tu_dvec(len), *vd = tu_dvec(len);
    double *jd = tu_dvec(len), *pv = tu_dvec(n);
    float *zf = tu_fvec(len), *pf = tu_fvec(len), *gf = tu_fvec(len), *vf = tu_fvec(len);
    float *jf = tu_fvec(len);
    for (size_t i = 0; i < len; i++)
        pd[i] = -7.0, pf[i] = -7.0f, zd[i] = NAN, zf[i] = NAN; /* gaps hold NaN: never read */
    for (size_t i = 0; i < n; i++) {
        size_t at = i * (size_t)rc->stride;
        zd[at] = e->z[which[i]];
        zf[at] = (float)e->z[which[i]];
        gd[at] = e->g[which[i]];
        gf[at] = (float)e->g[which[i]];
    }
    double theta = 0;
    size_t n_free = 0;
    hs_core_force_portable(rc->portable);
    hs_status s = rc->is_float ? hs_project_f(pf, &theta, &n_free, zf, &d)
                               : hs_project_d(pd, &theta, &n_free, zd, &d);
    hs_core_force_portable(0);
    if (!e->expect_ok) {
        if (s != HS_ERR_NONFINITE)
            fail_msg("%s (%s): status %d, want HS_ERR_NONFINITE", e->name, cfg, (int)s);
        for (size_t i = 0; i < len; i++)
            if ((rc->is_float ? (double)pf[i] : pd[i]) != -7.0)
                fail_msg("%s (%s): p[%zu] written on error", e->name, cfg, i);
        goto done;
    }
    if (s != HS_OK)
        fail_msg("%s (%s): %s", e->name, cfg, hs_last_error());

    double tol = p_tolerance(n) + (rc->is_float ? 0x1p-24 : 0.0);
    size_t want_free = 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = i * (size_t)rc->stride;
        double got = rc->is_float ? (double)pf[at] : pd[at], want = e->p[which[i]];
        double want_out = rc->is_float ? e->pf[which[i]] : want;
        pv[i] = got;
        if (!(fabs(got - want) <= tol))
            fail_msg("%s (%s): p[%zu] = %.17g, exact %.17g (z = %.17g)", e->name, cfg, i, got,
                     want, e->z[which[i]]);
        /* n_free: L2 counts p as written, KL counts p < 1 in double */
        if (e->reg == HS_REG_KL)
            want_free += want < 1;
        else
            want_free += want_out > 0 && want_out < 1;
    }
    double sum = tu_compensated_sum(pv, n);
    if (!(fabs(sum - e->k) <= (double)n * tol))
        fail_msg("%s (%s): sum p - k = %.3g (n = %zu)", e->name, cfg, sum - e->k, n);
    if (e->theta_ok && !(fabs(theta - e->theta) <= 0x1p-40 * fmax(1.0, fabs(e->theta))))
        fail_msg("%s (%s): theta = %.17g, exact %.17g", e->name, cfg, theta, e->theta);
    if (e->vjp_ok && e->reg != HS_REG_ENTROPY && n_free != want_free)
        fail_msg("%s (%s): n_free = %zu, want %zu", e->name, cfg, n_free, want_free);

    if (e->vjp_ok) {
        hs_core_force_portable(rc->portable);
        hs_status sv = rc->is_float ? hs_project_vjp_f(vf, pf, gf, &d)
                                    : hs_project_vjp_d(vd, pd, gd, &d);
        hs_status sj = rc->is_float ? hs_project_jvp_f(jf, pf, gf, &d)
                                    : hs_project_jvp_d(jd, pd, gd, &d);
        hs_core_force_portable(0);
        assert_int_equal(sv, HS_OK);
        assert_int_equal(sj, HS_OK);
        double scale = 0;
        for (size_t j = 0; j < e->m; j++)
            scale = fmax(scale, fabs(e->g[j]) / e->tau);
        double vtol = (rc->is_float ? 0x1p-20 : 0x1p-36) * scale;
        for (size_t i = 0; i < n; i++) {
            size_t at = i * (size_t)rc->stride;
            double want = rc->is_float ? e->dzf[which[i]] : e->dz[which[i]];
            double got = rc->is_float ? (double)vf[at] : vd[at];
            double got_j = rc->is_float ? (double)jf[at] : jd[at];
            if (!(fabs(got - want) <= vtol) || !(fabs(got_j - want) <= vtol))
                fail_msg("%s (%s): dz[%zu] = %.17g (JVP %.17g), exact %.17g", e->name, cfg, i,
                         got, got_j, want);
        }
    }
done:
    free(zd), free(pd), free(gd), free(vd), free(jd), free(pv);
    free(zf), free(pf), free(gf), free(vf), free(jf);
}

static void test_fixture_cases(void **state)
{
    (void)state;
    assert_true(n_cases > 100);
    size_t checked = 0;
    for (size_t c = 0; c < n_cases; c++) {
        const exact_case *e = &cases[c];
        size_t *which = expand(e);
        for (int solver = 0; solver < (e->reg == HS_REG_L2 ? 2 : 1); solver++)
            for (int is_float = 0; is_float <= e->float_ok; is_float++)
                for (int portable = 0; portable < 2; portable++)
                    for (ptrdiff_t stride = 1; stride <= 2; stride++) {
                        run_config rc = {(hs_solver)solver, is_float, portable, stride};
                        check_case(e, which, &rc);
                        checked++;
                    }
        free(which);
    }
    assert_true(checked > 8 * n_cases / 2);
}

/* ------------------------------------------------------------------ the command line */

static const exact_case *find_case(const char *name)
{
    for (size_t c = 0; c < n_cases; c++)
        if (strcmp(cases[c].name, name) == 0)
            return &cases[c];
    fail_msg("fixture has no case %s", name);
    return NULL;
}

/* The rows of issue 16 through `hypersimplex project` (output printed with %.17g). */
static void test_cli_issue_cases(void **state)
{
    (void)state;
    static const char *names[] = {"issue_1e308_k1",      "issue_2p52_k1",
                                  "issue_1e16_k1",       "issue_1e16_0_0_k2",
                                  "issue_1e20_small_k2", "issue_pav_1.5e17_k1"};
    static const char *regs[][2] = {{"l2", "fast"}, {"l2", "pav"}, {"kl", "fast"},
                                    {"entropy", "fast"}};
    char dir[] = "/tmp/hs_test_exact_XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (size_t c = 0; c < sizeof names / sizeof names[0]; c++) {
        for (size_t r = 0; r < sizeof regs / sizeof regs[0]; r++) {
            char name[128];
            snprintf(name, sizeof name, "%s_%s", names[c], regs[r][0]);
            const exact_case *e = find_case(name);
            char path[256], cmd[1024];
            snprintf(path, sizeof path, "%s/in.txt", dir);
            FILE *f = fopen(path, "w");
            assert_non_null(f);
            for (size_t i = 0; i < e->m; i++) /* each distinct value count times, in order */
                for (size_t c2 = 0; c2 < e->count[i]; c2++)
                    fprintf(f, "%s%.17g", i + c2 ? " " : "", e->z[i]);
            fputc('\n', f);
            assert_int_equal(fclose(f), 0);
            snprintf(cmd, sizeof cmd, "'%s' project --k %.17g --reg %s --solver %s '%s'",
                     HS_CLI_PATH, e->k, regs[r][0], regs[r][1], path);
            FILE *out = popen(cmd, "r");
            assert_non_null(out);
            char line[4096];
            char *got_line = fgets(line, sizeof line, out);
            int st = pclose(out);
            assert_non_null(got_line);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            char *s = line;
            for (size_t i = 0; i < e->m; i++) {
                for (size_t c2 = 0; c2 < e->count[i]; c2++) {
                    char *end;
                    double v = strtod(s, &end);
                    assert_true(end != s);
                    if (!(fabs(v - e->p[i]) <= p_tolerance(e->n)))
                        fail_msg("CLI %s: p = %.17g for z = %.17g, exact %.17g", name, v,
                                 e->z[i], e->p[i]);
                    s = *end == ',' ? end + 1 : end;
                }
            }
        }
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------ generated long rows */

/* P(z + c) = P(z) when every z_i + c is exact: long rows at offsets up to 2^1000 with spreads
 * of a few tau (grid values so that the shift is exact), through all three regimes of the fast
 * solver and PAV, compared with the same row at offset 0. */
static void test_shift_invariance(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(16);
    const size_t sizes[] = {20, 3000, 200000};
    const double offsets[] = {0x1p30, 0x1p52, 0x1p60, 0x1p200, -0x1p1000};
    size_t nmax = 200000;
    double *u = tu_dvec(nmax), *z = tu_dvec(nmax), *p0 = tu_dvec(nmax), *p = tu_dvec(nmax);
    for (size_t si = 0; si < 3; si++) {
        size_t n = sizes[si];
        for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++) {
            double off = offsets[oi], q = nextafter(fabs(off), INFINITY) - fabs(off);
            for (int solver = 0; solver < 2; solver++) {
                /* values on the grid of the offset's ulp q, spread over about 8 tau */
                double tau = 3 * q;
                for (size_t i = 0; i < n; i++)
                    u[i] = q * (double)tu_below(&r, 24);
                double k = 0.3 * (double)n + 0.5;
                hs_proj d = hs_proj_make(1, n, k, tau);
                d.solver = (hs_solver)solver;
                assert_int_equal(hs_project_d(p0, NULL, NULL, u, &d), HS_OK);
                for (size_t i = 0; i < n; i++)
                    z[i] = off + u[i];
                for (size_t i = 0; i < n; i++)
                    assert_true(z[i] - off == u[i]); /* the shift is exact */
                assert_int_equal(hs_project_d(p, NULL, NULL, z, &d), HS_OK);
                for (size_t i = 0; i < n; i++)
                    if (!(fabs(p[i] - p0[i]) <= 2 * p_tolerance(n)))
                        fail_msg("n=%zu offset %a solver %d: p[%zu] = %.17g, unshifted %.17g",
                                 n, off, solver, i, p[i], p0[i]);
                assert_true(fabs(tu_compensated_sum(p, n) - k) <= (double)n * p_tolerance(n));
            }
        }
    }
    free(u), free(z), free(p0), free(p);
}

/* Continuous random rows with a small tau (|z| / tau up to 4e8, beyond the direct solve's
 * range): the fast solver, both code paths, agrees with sort+PAV (exact on its own). */
static void test_small_tau_random_rows(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(17);
    const size_t sizes[] = {50, 3000, 200000};
    const double taus[] = {1e-3, 1e-5, 1e-8};
    size_t nmax = 200000;
    double *z = tu_dvec(nmax), *p = tu_dvec(nmax), *q = tu_dvec(nmax);
    for (size_t si = 0; si < 3; si++) {
        size_t n = sizes[si];
        for (size_t i = 0; i < n; i++)
            z[i] = tu_normal(&r);
        for (size_t ti = 0; ti < 3; ti++) {
            double k = 0.37 * (double)n + 0.25;
            hs_proj d = hs_proj_make(1, n, k, taus[ti]);
            d.solver = HS_SOLVER_SORT_PAV;
            assert_int_equal(hs_project_d(q, NULL, NULL, z, &d), HS_OK);
            d.solver = HS_SOLVER_FAST;
            for (int portable = 0; portable < 2; portable++) {
                hs_core_force_portable(portable);
                hs_status s = hs_project_d(p, NULL, NULL, z, &d);
                hs_core_force_portable(0);
                assert_int_equal(s, HS_OK);
                for (size_t i = 0; i < n; i++)
                    if (!(fabs(p[i] - q[i]) <= p_tolerance(n)))
                        fail_msg("n=%zu tau=%g portable %d: p[%zu] = %.17g, PAV %.17g", n,
                                 taus[ti], portable, i, p[i], q[i]);
                assert_true(fabs(tu_compensated_sum(p, n) - k) <= (double)n * p_tolerance(n));
            }
        }
    }
    free(z), free(p), free(q);
}

/* Rows whose sample is of moderate magnitude while the row is not: ten tied scores at 2^70
 * (where no sample element is) among zeros, k = 5.5, so the ten share p = 0.55. The sample's
 * root is then far from the threshold and the solver must fall back to a frame found by
 * selection. Medium and long rows, both solvers, float and double, both code paths. */
static void test_far_threshold_unsampled(void **state)
{
    (void)state;
    const size_t sizes[] = {1000, 200000};
    for (size_t si = 0; si < 2; si++) {
        size_t n = sizes[si], m = hs_l2_sample_len(n), placed = 0;
        assert_true(m > 0);
        unsigned char *sampled = calloc(n, 1);
        double *z = tu_dvec(n), *p = tu_dvec(n);
        float *zf = tu_fvec(n), *pf = tu_fvec(n);
        for (size_t i = 0; i < m; i++)
            sampled[hs_l2_sample_pos(i, m, n)] = 1;
        for (size_t i = n / 3; i < n && placed < 10; i++)
            if (!sampled[i]) {
                z[i] = 0x1p70;
                placed++;
            }
        assert_int_equal(placed, 10);
        tu_to_float(zf, z, n);
        for (int solver = 0; solver < 2; solver++)
            for (int portable = 0; portable < 2; portable++)
                for (int is_float = 0; is_float < 2; is_float++) {
                    hs_proj d = hs_proj_make(1, n, 5.5, 1.0);
                    d.solver = (hs_solver)solver;
                    hs_core_force_portable(portable);
                    hs_status s = is_float ? hs_project_f(pf, NULL, NULL, zf, &d)
                                           : hs_project_d(p, NULL, NULL, z, &d);
                    hs_core_force_portable(0);
                    assert_int_equal(s, HS_OK);
                    for (size_t i = 0; i < n; i++) {
                        double got = is_float ? (double)pf[i] : p[i];
                        double want = z[i] > 0 ? 0.55 : 0.0;
                        if (!(fabs(got - want) <= (is_float ? 0x1p-24 : 0x1p-40)))
                            fail_msg("n=%zu solver %d portable %d float %d: p[%zu] = %.17g, "
                                     "want %g", n, solver, portable, is_float, i, got, want);
                    }
                }
        free(sampled);
        free(z), free(p), free(zf), free(pf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_cases),
        cmocka_unit_test(test_cli_issue_cases),
        cmocka_unit_test(test_shift_invariance),
        cmocka_unit_test(test_small_tau_random_rows),
        cmocka_unit_test(test_far_threshold_unsampled),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
