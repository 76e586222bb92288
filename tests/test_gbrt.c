/* Tests of the gbrt layer: the HyperSimplex objective against finite differences, the
 * Gauss-Newton hessian against the operator's Jacobian, strict table readers (errors with
 * line and column), the exact AUC (hand cases with ties, brute force, XGBoost's metric),
 * a short real run, the repeated comparison of losses (protocol, runs CSV, report), and the
 * command line. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>
#include <xgboost/c_api.h>

#include "hypersimplex.h"
#include "hypersimplex/gbrt.h"
#include "hypersimplex/study.h"

static const char *letter_csv = HS_TEST_DATA_DIR "/gbrt_letter_2500.csv";

static uint64_t rng_state = 42;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

/* |a - b| <= tol, with both values in the failure message. */
#define assert_near(a, b, tol)                                                           \
    do {                                                                                 \
        double a_ = (double)(a), b_ = (double)(b);                                       \
        if (!(fabs(a_ - b_) <= (tol)))                                                   \
            fail_msg("%s = %.17g, expected %s = %.17g (tolerance %g)", #a, a_, #b, b_,   \
                     (double)(tol));                                                     \
    } while (0)

/* Writes data[0..n) to a fresh temporary file whose name ends in suffix; returns the path. */
static char *temp_file_bytes(const char *suffix, const char *data, size_t n)
{
    static int counter;
    char *path = malloc(256);
    assert_non_null(path);
    snprintf(path, 256, "/tmp/hs_test_gbrt_%ld_%d%s", (long)getpid(), counter++, suffix);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal((size_t)write(fd, data, n), n);
    close(fd);
    return path;
}

static char *temp_file(const char *suffix, const char *text)
{
    return temp_file_bytes(suffix, text, strlen(text));
}

/* ------------------------------------------------------------------------- */
/* The objective                                                             */
/* ------------------------------------------------------------------------- */

static double loss_at(const double *m, const float *y, size_t n, double tau, double *work,
                      double *p_out)
{
    hs_gbrt_objective_info info;
    assert_int_equal(hs_gbrt_hs_objective_d(NULL, NULL, &info, m, y, n, tau, HS_GBRT_HESS_ONES,
                                            work),
                     HS_OK);
    if (p_out)
        memcpy(p_out, work, n * sizeof *p_out);
    return info.loss;
}

static void test_objective_finite_differences(void **state)
{
    (void)state;
    const double taus[] = {0.3, 1.0, 2.5};
    for (size_t ti = 0; ti < 3; ti++) {
        const size_t n = 60;
        const double tau = taus[ti];
        double m[60], grad[60], hess[60], work[120], p0[60], pp[60], pm[60];
        float y[60];
        for (size_t i = 0; i < n; i++) {
            m[i] = 3.0 * (urand() - 0.5);
            y[i] = urand() < 0.35 ? 1.0f : 0.0f;
        }
        y[0] = 1.0f;
        y[1] = 0.0f;
        hs_gbrt_objective_info info;
        assert_int_equal(hs_gbrt_hs_objective_d(grad, hess, &info, m, y, n, tau,
                                                HS_GBRT_HESS_ONES, work),
                         HS_OK);
        memcpy(p0, work, sizeof p0);
        assert_true(info.n_free > 2 && info.n_free < n);
        double k = 0;
        for (size_t i = 0; i < n; i++)
            k += y[i];
        assert_near(info.k, k, 0);
        const double h = 1e-6;
        size_t checked = 0;
        for (size_t j = 0; j < n; j++) {
            double keep = m[j];
            m[j] = keep + h;
            double lp = loss_at(m, y, n, tau, work, pp);
            m[j] = keep - h;
            double lm = loss_at(m, y, n, tau, work, pm);
            m[j] = keep;
            /* Skip a step that crosses a kink: some coordinate changes its clamp state. */
            int kink = 0;
            for (size_t i = 0; i < n; i++) {
                int s0 = p0[i] <= 0 ? 0 : p0[i] >= 1 ? 2 : 1;
                int s1 = pp[i] <= 0 ? 0 : pp[i] >= 1 ? 2 : 1;
                int s2 = pm[i] <= 0 ? 0 : pm[i] >= 1 ? 2 : 1;
                kink |= s0 != s1 || s0 != s2;
            }
            if (kink)
                continue;
            double fd = (lp - lm) / (2 * h);
            double an = grad[j] / (double)n; /* grad is n * dL/dm */
            if (fabs(fd - an) > 1e-7 + 1e-5 * fabs(an))
                fail_msg("tau %g coordinate %zu: finite difference %.10g, gradient %.10g", tau,
                         j, fd, an);
            checked++;
        }
        assert_true(checked > n / 2);
    }
}

/* The GN rule must equal n * diag(J^T (2/n) J), with J read column by column from the
 * operator's own JVP; the float path must agree with the double path. */
static void test_objective_hessians(void **state)
{
    (void)state;
    const size_t n = 40;
    const double tau = 0.7;
    double m[40], grad[40], hess[40], work[80], col[40], e[40];
    float y[40], mf[40], gf[40], hf[40];
    for (size_t i = 0; i < n; i++) {
        m[i] = 2.0 * (urand() - 0.5);
        mf[i] = (float)m[i];
        m[i] = (double)mf[i];
        y[i] = i % 3 == 0 ? 1.0f : 0.0f;
    }
    hs_gbrt_objective_info info;
    assert_int_equal(hs_gbrt_hs_objective_d(grad, hess, &info, m, y, n, tau, HS_GBRT_HESS_GN,
                                            work),
                     HS_OK);
    double p[40];
    memcpy(p, work, sizeof p);
    hs_proj d = hs_proj_make(1, n, info.k, tau);
    for (size_t i = 0; i < n; i++) {
        memset(e, 0, sizeof e);
        e[i] = 1;
        assert_int_equal(hs_project_jvp_d(col, p, e, &d), HS_OK);
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += col[j] * col[j];
        double expect = (double)n * (2.0 / (double)n) * s;
        assert_near(hess[i], expect, 1e-12 * (1 + expect));
    }
    /* ones and const */
    assert_int_equal(hs_gbrt_hs_objective_d(grad, hess, &info, m, y, n, tau, HS_GBRT_HESS_ONES,
                                            work),
                     HS_OK);
    for (size_t i = 0; i < n; i++)
        assert_near(hess[i], 1.0, 0);
    assert_int_equal(hs_gbrt_hs_objective_d(grad, hess, &info, m, y, n, tau, HS_GBRT_HESS_CONST,
                                            work),
                     HS_OK);
    for (size_t i = 0; i < n; i++)
        assert_near(hess[i], 2.0 / (tau * tau), 1e-12);
    /* float path */
    hs_gbrt_objective_info fi;
    assert_int_equal(hs_gbrt_hs_objective_f(gf, hf, &fi, mf, y, n, tau, HS_GBRT_HESS_CONST,
                                            work),
                     HS_OK);
    assert_near(fi.loss, info.loss, 1e-12);
    for (size_t i = 0; i < n; i++) {
        assert_near((double)gf[i], grad[i], 1e-6 * (1 + fabs(grad[i])));
        assert_near((double)hf[i], hess[i], 1e-6 * hess[i]);
    }
    /* At equal margins every p is k/n and the gradient is (2/tau)(k/n - y). */
    for (size_t i = 0; i < n; i++)
        m[i] = 0.25;
    assert_int_equal(hs_gbrt_hs_objective_d(grad, hess, &info, m, y, n, tau, HS_GBRT_HESS_ONES,
                                            work),
                     HS_OK);
    for (size_t i = 0; i < n; i++)
        assert_near(grad[i], 2.0 / tau * (info.k / (double)n - (double)y[i]), 1e-12);
}

/* Large n takes the parallel passes: compare with the operator called directly. */
static void test_objective_large(void **state)
{
    (void)state;
    const size_t n = 200000;
    const double tau = 0.5;
    float *mf = malloc(n * sizeof *mf), *y = malloc(n * sizeof *y);
    float *gf = malloc(n * sizeof *gf), *hf = malloc(n * sizeof *hf);
    double *m = malloc(n * sizeof *m), *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    double *work = malloc(2 * n * sizeof *work);
    assert_true(mf && y && gf && hf && m && p && g && work);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = urand() < 0.3 ? 1.0f : 0.0f;
        k += y[i] == 1.0f;
        mf[i] = (float)(urand() + 0.5 * y[i]);
        m[i] = (double)mf[i];
    }
    hs_gbrt_objective_info info;
    assert_int_equal(hs_gbrt_hs_objective_f(gf, hf, &info, mf, y, n, tau, HS_GBRT_HESS_GN, work),
                     HS_OK);
    hs_proj d = hs_proj_make(1, n, (double)k, tau);
    double theta;
    size_t nfree;
    assert_int_equal(hs_project_d(p, &theta, &nfree, m, &d), HS_OK);
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        loss += (p[i] - y[i]) * (p[i] - y[i]);
        g[i] = 2.0 * (p[i] - y[i]) / (double)n;
    }
    assert_int_equal(hs_project_vjp_d(g, p, g, &d), HS_OK);
    assert_near(info.loss, loss / (double)n, 1e-12);
    assert_near(info.theta, theta, 0);
    assert_int_equal(info.n_free, nfree);
    const double gn = 2.0 / (tau * tau) * (1.0 - 1.0 / (double)nfree);
    for (size_t i = 0; i < n; i++) {
        double want = (double)n * g[i];
        if (fabs((double)gf[i] - want) > 1e-6 * (1 + fabs(want)))
            fail_msg("row %zu: gradient %.9g, expected %.9g", i, (double)gf[i], want);
        double wh = p[i] > 0 && p[i] < 1 ? gn : 0.0;
        if (fabs((double)hf[i] - wh) > 1e-6 * wh)
            fail_msg("row %zu: hessian %.9g, expected %.9g", i, (double)hf[i], wh);
    }
    free(mf);
    free(y);
    free(gf);
    free(hf);
    free(m);
    free(p);
    free(g);
    free(work);
}

static void test_objective_errors(void **state)
{
    (void)state;
    double m[4] = {0, 1, 2, 3}, g[4], h[4], w[8];
    float y0[4] = {0, 0, 0, 0}, y2[4] = {0, 1, 2, 0}, y[4] = {0, 1, 1, 0};
    hs_gbrt_objective_info info;
    assert_int_equal(hs_gbrt_hs_objective_d(g, h, &info, m, y0, 4, 1.0, HS_GBRT_HESS_ONES, w),
                     HS_ERR_LABEL);
    assert_int_equal(hs_gbrt_hs_objective_d(g, h, &info, m, y2, 4, 1.0, HS_GBRT_HESS_ONES, w),
                     HS_ERR_LABEL);
    assert_non_null(strstr(hs_last_error(), "label 2"));
    assert_int_equal(hs_gbrt_hs_objective_d(g, h, &info, m, y, 4, 0.0, HS_GBRT_HESS_ONES, w),
                     HS_ERR_TAU);
    assert_int_equal(hs_gbrt_hs_objective_d(g, h, &info, m, y, 4, 1.0, (hs_gbrt_hessian)7, w),
                     HS_ERR_ARG);
    m[2] = NAN;
    assert_int_equal(hs_gbrt_hs_objective_d(g, h, &info, m, y, 4, 1.0, HS_GBRT_HESS_ONES, w),
                     HS_ERR_NONFINITE);
}

/* ------------------------------------------------------------------------- */
/* Readers                                                                   */
/* ------------------------------------------------------------------------- */

/* Parses text (written to a temporary file named *suffix) and expects failure st whose
 * message contains "PATH:where" and the fragment. */
static void expect_error(const char *suffix, const char *text, hs_status st, const char *where,
                         const char *fragment)
{
    char *path = temp_file(suffix, text);
    hs_table t;
    hs_status got = hs_table_read(&t, path, HS_TABLE_AUTO);
    if (got != st)
        fail_msg("%s: expected status %d, got %d (%s)", text, (int)st, (int)got, hs_last_error());
    char want[320];
    snprintf(want, sizeof want, "%s:%s", path, where);
    if (!strstr(hs_last_error(), want) || !strstr(hs_last_error(), fragment))
        fail_msg("message '%s' lacks '%s' or '%s'", hs_last_error(), want, fragment);
    unlink(path);
    free(path);
}

static void test_csv_reader(void **state)
{
    (void)state;
    char *path = temp_file(".csv", "label,a, b ,c\r\n1,0.5,2,-3e2\r\n0, 1 ,0,7\r\n\r\n\n");
    hs_table t;
    assert_int_equal(hs_table_read(&t, path, HS_TABLE_AUTO), HS_OK);
    assert_int_equal(t.rows, 2);
    assert_int_equal(t.cols, 3);
    assert_int_equal(t.nnz, 6); /* zeros are stored: they are values, not missing */
    assert_true(t.labels[0] == 1.0f && t.labels[1] == 0.0f);
    assert_true(t.values[0] == 0.5f && t.values[2] == -300.0f && t.values[3] == 1.0f);
    assert_int_equal(t.indices[5], 2);
    assert_int_equal(hs_table_positives(&t), 1);
    hs_table_free(&t);
    unlink(path);
    free(path);

    /* empty and NA feature fields are missing values: not stored */
    path = temp_file(".csv", "label,a,b,c\n1,NA,2,\n0,,NA,5\n1,1,2,3\n");
    assert_int_equal(hs_table_read(&t, path, HS_TABLE_AUTO), HS_OK);
    assert_int_equal(t.rows, 3);
    assert_int_equal(t.cols, 3);
    assert_int_equal(t.nnz, 5);
    assert_int_equal(t.indptr[1], 1);
    assert_int_equal(t.indices[0], 1);
    assert_int_equal(t.indptr[2], 2);
    assert_int_equal(t.indices[1], 2);
    assert_true(t.values[1] == 5.0f);
    hs_table_free(&t);
    unlink(path);
    free(path);

    expect_error(".csv", "label,a,b\n1,2,3\n0,2,x7\n", HS_ERR_FORMAT, "3:5:",
                 "field 3 ('b'): 'x7' is not a finite number");
    expect_error(".csv", "label,a,b\n1,2,3\n0,2\n", HS_ERR_FORMAT, "3:4:",
                 "2 fields, the header has 3");
    expect_error(".csv", "label,a,b\n1,2,3,4\n", HS_ERR_FORMAT, "2:7:",
                 "4 fields, the header has 3");
    expect_error(".csv", "label,a\n1,2\n2,3\n", HS_ERR_FORMAT, "3:1:", "label '2' is not 0 or 1");
    expect_error(".csv", "label,a\n1,2\n,3\n", HS_ERR_FORMAT, "3:1:", "empty (the label");
    expect_error(".csv", "label,a\n1,2\nNA,3\n", HS_ERR_FORMAT, "3:1:", "'NA' is not a finite");
    expect_error(".csv", "label,a\n1,2\n0,na\n", HS_ERR_FORMAT, "3:3:", "'na' is not a finite");
    expect_error(".csv", "label,a\n1,nan\n", HS_ERR_FORMAT, "2:3:", "'nan' is not a finite");
    expect_error(".csv", "label,a\n1,1e999\n", HS_ERR_FORMAT, "2:3:", "'1e999' is not a finite");
    expect_error(".csv", "1,2\n0,3\n", HS_ERR_FORMAT, "1:1:", "expected a header line");
    expect_error(".csv", "label,a\n1,2\n\n0,3\n", HS_ERR_FORMAT, "3:1:", "empty line");
    expect_error(".csv", "label,\"a\"\n1,2\n", HS_ERR_FORMAT, "1:7:", "quoted");
    expect_error(".csv", "label,a\n", HS_ERR_FORMAT, "2:1:", "no data rows");
    expect_error(".csv", "", HS_ERR_FORMAT, "1:1:", "empty file");

    hs_table u;
    assert_int_equal(hs_table_read(&u, "/nonexistent/x.csv", HS_TABLE_AUTO), HS_ERR_IO);
    assert_non_null(strstr(hs_last_error(), "/nonexistent/x.csv"));
}

static void test_libsvm_reader(void **state)
{
    (void)state;
    char *path = temp_file(".svm", "# comment line\n+1 1:0.5 4:2 # trailing\n-1 2:-1\n0\n1 3:1e-3\n");
    hs_table t;
    assert_int_equal(hs_table_read(&t, path, HS_TABLE_AUTO), HS_OK);
    assert_int_equal(t.rows, 4);
    assert_int_equal(t.cols, 5);
    assert_int_equal(t.nnz, 4);
    assert_true(t.labels[0] == 1.0f && t.labels[1] == 0.0f && t.labels[2] == 0.0f &&
                t.labels[3] == 1.0f);
    assert_int_equal(t.indptr[2], 3);
    assert_int_equal(t.indptr[3], 3);
    assert_int_equal(t.indices[1], 4);
    hs_table_free(&t);
    unlink(path);
    free(path);

    /* gzip-compressed input reads the same */
    char gzpath[128];
    snprintf(gzpath, sizeof gzpath, "/tmp/hs_test_gbrt_%ld.svm.gz", (long)getpid());
    gzFile gz = gzopen(gzpath, "wb");
    assert_non_null(gz);
    assert_true(gzputs(gz, "1 1:2 3:4\n0 2:1\n") > 0);
    assert_int_equal(gzclose(gz), Z_OK);
    assert_int_equal(hs_table_read(&t, gzpath, HS_TABLE_LIBSVM), HS_OK);
    assert_int_equal(t.rows, 2);
    assert_true(t.values[1] == 4.0f);
    hs_table_free(&t);
    unlink(gzpath);

    expect_error(".svm", "1 1:2\n2 1:3\n", HS_ERR_FORMAT, "2:1:", "label '2' is not binary");
    expect_error(".svm", "1 1:2\n0 1:3 5\n", HS_ERR_FORMAT, "2:7:", "'5' is not index:value");
    expect_error(".svm", "1 3:2 2:1\n", HS_ERR_FORMAT, "1:7:", "feature index 2 after 3");
    expect_error(".svm", "1 3:2 3:1\n", HS_ERR_FORMAT, "1:7:", "feature index 3 after 3");
    expect_error(".svm", "1 qid:3 1:1\n", HS_ERR_FORMAT, "1:3:", "qid");
    expect_error(".svm", "1 1:2\n0 x:3\n", HS_ERR_FORMAT, "2:3:", "not a non-negative integer");
    expect_error(".svm", "1 1:2\n0 4:abc\n", HS_ERR_FORMAT, "2:5:", "value in '4:abc'");
    expect_error(".svm", "1 1:2\n0 :3\n", HS_ERR_FORMAT, "2:3:", "no feature index");
    expect_error(".svm", "yes 1:2\n", HS_ERR_FORMAT, "1:1:", "label 'yes' is not a number");
    expect_error(".svm", "1 1:2\n\n0 1:1\n", HS_ERR_FORMAT, "2:1:", "empty line");
}

/* Writes text gzip-compressed to path, then keeps only its first `keep` bytes (0: all) and
 * appends `tail`. */
static void write_gz(const char *path, const char *text, long keep, const char *tail)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_true(gzputs(gz, text) > 0);
    assert_int_equal(gzclose(gz), Z_OK);
    if (keep > 0)
        assert_int_equal(truncate(path, keep), 0);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    fputs(tail, f);
    assert_int_equal(fclose(f), 0);
}

/* A truncated or garbage-appended .gz table is refused with the file's name, never read as a
 * shorter table (zlib's gz* reader reported the cut as a plain end of file). */
static void test_gzip_table_damage(void **state)
{
    (void)state;
    char text[1 << 14];
    size_t n = (size_t)snprintf(text, sizeof text, "label,a,b\n");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%d,%d.5,%d\n", i % 2, i, 3 * i);
    char path[128];
    snprintf(path, sizeof path, "/tmp/hs_test_gbrt_%ld_damaged.csv.gz", (long)getpid());
    hs_table t;
    write_gz(path, text, 0, "");
    assert_int_equal(hs_table_read(&t, path, HS_TABLE_AUTO), HS_OK);
    assert_int_equal(t.rows, 500);
    hs_table_free(&t);
    struct {
        long keep_from_end; /* bytes cut off the end */
        const char *tail;
        const char *msg;
    } cases[] = {{4, "", "truncated gzip stream"},     /* only the length trailer lost */
                 {200, "", "truncated gzip stream"},   /* in the middle of the data */
                 {0, "garbage", "trailing garbage"},
                 {0, "\n", "trailing garbage"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        write_gz(path, text, 0, "");
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        write_gz(path, text, cases[c].keep_from_end ? size - cases[c].keep_from_end : 0, cases[c].tail);
        hs_status st = hs_table_read(&t, path, HS_TABLE_AUTO);
        if (st != HS_ERR_FORMAT || !strstr(hs_last_error(), path) || !strstr(hs_last_error(), cases[c].msg))
            fail_msg("case %zu: status %d, message '%s'", c, (int)st, hs_last_error());
        assert_null(t.labels);
    }
    unlink(path);
}

/* A line holding a NUL byte is refused with file:line:column, raw or gzip-compressed: the
 * reader stopped at the NUL and read "0,3\0,junk" as the row "0,3". */
static void test_nul_byte(void **state)
{
    (void)state;
    static const struct {
        const char *suffix;
        const char *data;
        size_t n; /* sizeof - 1: the literal's own NUL is not part of the file */
        const char *where;
    } cases[] = {
        {".csv", "label,a\n1,2\n0,3\0,junk\n", sizeof "label,a\n1,2\n0,3\0,junk\n" - 1, "3:4:"},
        {".csv", "label,a\n1,2\n0,3\0", sizeof "label,a\n1,2\n0,3\0" - 1, "3:4:"},
        {".csv", "lab\0el,a\n1,2\n", sizeof "lab\0el,a\n1,2\n" - 1, "1:4:"},
        {".svm", "1 1:2\n\0\n0 1:3\n", sizeof "1 1:2\n\0\n0 1:3\n" - 1, "2:1:"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *path = temp_file_bytes(cases[c].suffix, cases[c].data, cases[c].n);
        char want[320];
        snprintf(want, sizeof want, "%s:%s a NUL byte", path, cases[c].where);
        hs_table t;
        hs_status st = hs_table_read(&t, path, HS_TABLE_AUTO);
        if (st != HS_ERR_FORMAT || !strstr(hs_last_error(), want))
            fail_msg("case %zu: status %d, message '%s', expected '%s'", c, (int)st,
                     hs_last_error(), want);
        assert_null(t.labels);
        unlink(path);

        /* the same text gzip-compressed */
        snprintf(path + strlen(path), 256 - strlen(path), ".gz");
        gzFile gz = gzopen(path, "wb");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, cases[c].data, (unsigned)cases[c].n), (int)cases[c].n);
        assert_int_equal(gzclose(gz), Z_OK);
        snprintf(want, sizeof want, "%s:%s a NUL byte", path, cases[c].where);
        st = hs_table_read(&t, path, HS_TABLE_AUTO);
        if (st != HS_ERR_FORMAT || !strstr(hs_last_error(), want))
            fail_msg("case %zu (gzip): status %d, message '%s'", c, (int)st, hs_last_error());
        unlink(path);
        free(path);
    }
}

/* Feature counts are bounded before anything per feature is allocated. */
static void test_feature_limit(void **state)
{
    (void)state;
    expect_error(".svm", "1 1:0.5\n0 2:0.3\n1 100000000:0.5\n", HS_ERR_FORMAT, "3:3:",
                 "exceeds the limit of 65536 features");
    expect_error(".svm", "1 1:0.5\n0 65536:1\n", HS_ERR_FORMAT, "2:3:", "limit of 65536");
    char *path = temp_file(".svm", "1 1:0.5\n0 65535:1\n");
    hs_table t;
    assert_int_equal(hs_table_read(&t, path, HS_TABLE_AUTO), HS_OK);
    assert_int_equal(t.cols, 65536);
    hs_table_free(&t);
    /* a smaller limit, and a larger one for genuinely wide data */
    assert_int_equal(hs_table_read_max(&t, path, HS_TABLE_AUTO, 1000), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), ":2:3: feature index in '65535:1' exceeds the limit of 1000"));
    unlink(path);
    free(path);
    path = temp_file(".svm", "1 1:0.5\n0 100000000:1\n");
    assert_int_equal(hs_table_read_max(&t, path, HS_TABLE_AUTO, 100000001), HS_OK);
    assert_int_equal(t.cols, 100000001);
    hs_table_free(&t);
    assert_int_equal(hs_table_read_max(&t, path, HS_TABLE_AUTO, 0), HS_ERR_SIZE);
    unlink(path);
    free(path);
    /* CSV: the header's width */
    path = temp_file(".csv", "label,a,b,c\n1,1,2,3\n");
    assert_int_equal(hs_table_read_max(&t, path, HS_TABLE_AUTO, 2), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), ":1:1: 3 feature columns exceed the limit of 2 features"));
    assert_int_equal(hs_table_read_max(&t, path, HS_TABLE_AUTO, 3), HS_OK);
    hs_table_free(&t);
    unlink(path);
    free(path);
}

static void test_split(void **state)
{
    (void)state;
    hs_table all, a, b, c, d;
    assert_int_equal(hs_table_read(&all, letter_csv, HS_TABLE_AUTO), HS_OK);
    assert_int_equal(all.rows, 2500);
    assert_int_equal(all.cols, 16);
    assert_int_equal(hs_table_split(&a, &b, &all, 0.2, 7), HS_OK);
    assert_int_equal(a.rows, 2000);
    assert_int_equal(b.rows, 500);
    assert_int_equal(a.nnz + b.nnz, all.nnz);
    assert_int_equal(hs_table_positives(&a) + hs_table_positives(&b), hs_table_positives(&all));
    assert_int_equal(hs_table_split(&c, &d, &all, 0.2, 7), HS_OK);
    assert_memory_equal(d.values, b.values, b.nnz * sizeof(float));
    hs_table_free(&c);
    hs_table_free(&d);
    assert_int_equal(hs_table_split(&c, &d, &all, 0.2, 8), HS_OK);
    assert_true(memcmp(d.values, b.values, b.nnz * sizeof(float)) != 0);
    hs_table_free(&c);
    hs_table_free(&d);
    assert_int_equal(hs_table_split(&c, &d, &all, 1.0, 7), HS_ERR_ARG);
    hs_table_free(&a);
    hs_table_free(&b);
    hs_table_free(&all);
}

/* ------------------------------------------------------------------------- */
/* AUC and the t-test                                                        */
/* ------------------------------------------------------------------------- */

static double brute_auc(const float *s, const float *y, size_t n)
{
    double w = 0, pairs = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (y[i] == 1.0f && y[j] == 0.0f) {
                pairs += 1;
                w += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
            }
    return w / pairs;
}

static void test_auc_hand_cases(void **state)
{
    (void)state;
    double a;
    float s1[] = {0.1f, 0.4f, 0.35f, 0.8f}, y1[] = {0, 0, 1, 1};
    assert_int_equal(hs_auc(&a, s1, y1, 4), HS_OK);
    assert_near(a, 0.75, 1e-15);
    float s2[] = {1, 1, 2, 2}, y2[] = {0, 1, 0, 1};
    assert_int_equal(hs_auc(&a, s2, y2, 4), HS_OK);
    assert_near(a, 0.5, 1e-15);
    float s3[] = {3, 3, 3, 3, 3}, y3[] = {1, 0, 0, 1, 0};
    assert_int_equal(hs_auc(&a, s3, y3, 5), HS_OK);
    assert_near(a, 0.5, 1e-15);
    /* positives {2, 1}, negatives {1, 0, 1}: (1 + 1 + 1) + (0.5 + 1 + 0.5) = 5 of 6 */
    float s4[] = {2, 1, 1, 0, 1}, y4[] = {1, 1, 0, 0, 0};
    assert_int_equal(hs_auc(&a, s4, y4, 5), HS_OK);
    assert_near(a, 5.0 / 6, 1e-15);
    float s5[] = {-1, 2}, y5[] = {1, 0};
    assert_int_equal(hs_auc(&a, s5, y5, 2), HS_OK);
    assert_near(a, 0.0, 0);
    /* random scores with many ties against the O(n^2) definition */
    enum { N = 700 };
    static float s[N], y[N];
    for (size_t i = 0; i < N; i++) {
        y[i] = urand() < 0.3 ? 1.0f : 0.0f;
        s[i] = (float)floor(10 * urand() + 3 * y[i]);
    }
    assert_int_equal(hs_auc(&a, s, y, N), HS_OK);
    assert_near(a, brute_auc(s, y, N), 1e-12);
    /* errors */
    float one[] = {1, 1};
    assert_int_equal(hs_auc(&a, s1, one, 2), HS_ERR_LABEL);
    float bad[] = {0, 2};
    assert_int_equal(hs_auc(&a, s1, bad, 2), HS_ERR_LABEL);
    float nan_s[] = {0, NAN};
    assert_int_equal(hs_auc(&a, s1, y1, 2), HS_ERR_LABEL); /* y1[0..2) is one class */
    assert_int_equal(hs_auc(&a, nan_s, y5, 2), HS_ERR_NONFINITE);
}

static void test_auc_against_xgboost(void **state)
{
    (void)state;
    enum { N = 5000 };
    static float s[N], y[N];
    for (int trial = 0; trial < 3; trial++) {
        for (size_t i = 0; i < N; i++) {
            y[i] = urand() < 0.2 + 0.2 * trial ? 1.0f : 0.0f;
            double v = urand() + 0.4 * y[i];
            /* trial 0: continuous; 1: coarse ties; 2: heavy ties */
            s[i] = trial == 0 ? (float)v : (float)(floor(v * (trial == 1 ? 50 : 4)));
        }
        double ours, xgb;
        assert_int_equal(hs_auc(&ours, s, y, N), HS_OK);
        hs_status st = hs_gbrt_xgb_auc_of_scores(&xgb, s, y, N);
        if (st)
            fail_msg("XGBoost auc: %s", hs_last_error());
        if (fabs(ours - xgb) > 1e-9)
            fail_msg("trial %d: our AUC %.9f, XGBoost's %.9f", trial, ours, xgb);
    }
}

/* ------------------------------------------------------------------------- */
/* Training on real data                                                     */
/* ------------------------------------------------------------------------- */

static int count_rounds(const hs_gbrt_round *r, void *user)
{
    int *n = user;
    (*n)++;
    assert_true(r->round == *n);
    assert_true(isfinite(r->train_loss));
    return 0;
}

static void check_real_run(hs_gbrt_loss loss, hs_gbrt_hessian hess)
{
    hs_table all, train, valid;
    assert_int_equal(hs_table_read(&all, letter_csv, HS_TABLE_AUTO), HS_OK);
    assert_int_equal(hs_table_split(&train, &valid, &all, 0.25, 3), HS_OK);
    hs_gbrt_params p = hs_gbrt_params_default();
    p.loss = loss;
    p.hessian = hess;
    p.rounds = 40;
    p.threads = 1;
    p.max_depth = 4;
    hs_gbrt_model *m = NULL;
    hs_gbrt_result res;
    int calls = 0;
    hs_status st = hs_gbrt_train(&m, &res, &train, &valid, &p, count_rounds, &calls);
    if (st)
        fail_msg("training: %s", hs_last_error());
    assert_int_equal(calls, 40);
    assert_int_equal(res.rounds_done, 40);
    assert_true(res.best_round >= 1 && res.best_round <= 40);
    /* A constant predictor has AUC 0.5 and accuracy max(prior) ~ 0.51 here. */
    if (!(res.valid_auc > 0.9 && res.valid_acc > 0.8))
        fail_msg("loss %d: valid AUC %.4f, accuracy %.4f", (int)loss, res.valid_auc,
                 res.valid_acc);
    /* XGBoost's own metric on the kept model agrees with ours. With the HyperSimplex loss
     * both see the same margins (identity link); with binary:logistic XGBoost ranks its float
     * sigmoid probabilities, where distinct margins can round to the same value (a few more
     * ties), so the agreement is looser there. */
    double tol = loss == HS_GBRT_LOGISTIC ? 1e-6 : 1e-12;
    if (fabs(res.valid_auc - res.valid_auc_xgb) > tol)
        fail_msg("our AUC %.9f, XGBoost's %.9f", res.valid_auc, res.valid_auc_xgb);
    /* The kept model reproduces the best round: AUC and accuracy from fresh predictions. */
    float *margin = malloc(valid.rows * sizeof *margin);
    float *lab = malloc(valid.rows * sizeof *lab);
    assert_non_null(margin);
    assert_non_null(lab);
    assert_int_equal(hs_gbrt_predict_margin(margin, m, &valid), HS_OK);
    double auc;
    assert_int_equal(hs_auc(&auc, margin, valid.labels, valid.rows), HS_OK);
    assert_near(auc, res.valid_auc, 1e-12);
    assert_int_equal(hs_gbrt_predict_label(lab, m, &valid), HS_OK);
    size_t ok = 0;
    for (size_t i = 0; i < valid.rows; i++)
        ok += lab[i] == valid.labels[i];
    assert_near((double)ok / (double)valid.rows, res.valid_acc, 1e-12);
    /* XGBoost's metric on the same predictions, through the scores path. */
    double xgb;
    assert_int_equal(hs_gbrt_xgb_auc_of_scores(&xgb, margin, valid.labels, valid.rows), HS_OK);
    assert_near(xgb, auc, 1e-9);
    /* Saving: JSON with our decision rule stored as attributes. */
    char path[128];
    snprintf(path, sizeof path, "/tmp/hs_test_gbrt_%ld_model.json", (long)getpid());
    assert_int_equal(hs_gbrt_save(m, path), HS_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    assert_true(got > 100 && buf[0] == '{');
    assert_non_null(strstr(buf, "\"hs_theta\""));
    assert_non_null(strstr(buf, loss == HS_GBRT_LOGISTIC ? "\"logistic\"" : "\"hypersimplex\""));
    /* XGBoost itself loads the file and predicts the same margins; the decision threshold
     * travels with the model. */
    BoosterHandle b = NULL;
    DMatrixHandle dm = NULL;
    assert_int_equal(XGBoosterCreate(NULL, 0, &b), 0);
    if (XGBoosterLoadModel(b, path) != 0)
        fail_msg("XGBoosterLoadModel: %s", XGBGetLastError());
    assert_int_equal(XGDMatrixCreateFromCSREx(valid.indptr, (const unsigned *)valid.indices,
                                              valid.values, valid.rows + 1, valid.nnz,
                                              valid.cols, &dm),
                     0);
    bst_ulong plen = 0;
    const float *pred = NULL;
    assert_int_equal(XGBoosterPredict(b, dm, 1, 0, 0, &plen, &pred), 0);
    assert_int_equal(plen, valid.rows);
    for (size_t i = 0; i < valid.rows; i++)
        assert_near(pred[i], margin[i], 1e-6 * (1 + fabs(margin[i])));
    const char *theta_attr = NULL;
    int found = 0;
    assert_int_equal(XGBoosterGetAttr(b, "hs_theta", &theta_attr, &found), 0);
    assert_true(found);
    assert_near(strtod(theta_attr, NULL), res.theta, 0);
    XGDMatrixFree(dm);
    XGBoosterFree(b);
    unlink(path);
    assert_int_equal(hs_gbrt_save(m, "/nonexistent/dir/model.json"), HS_ERR_IO);
    free(margin);
    free(lab);
    hs_gbrt_free(m);
    hs_table_free(&train);
    hs_table_free(&valid);
    hs_table_free(&all);
}

static void test_real_run_logistic(void **state)
{
    (void)state;
    check_real_run(HS_GBRT_LOGISTIC, HS_GBRT_HESS_ONES);
}

static void test_real_run_hypersimplex(void **state)
{
    (void)state;
    check_real_run(HS_GBRT_HYPERSIMPLEX, HS_GBRT_HESS_ONES);
    check_real_run(HS_GBRT_HYPERSIMPLEX, HS_GBRT_HESS_GN);
}

static void test_early_stopping_and_errors(void **state)
{
    (void)state;
    hs_table all, train, valid;
    assert_int_equal(hs_table_read(&all, letter_csv, HS_TABLE_AUTO), HS_OK);
    assert_int_equal(hs_table_split(&train, &valid, &all, 0.25, 5), HS_OK);
    hs_gbrt_params p = hs_gbrt_params_default();
    p.rounds = 400;
    p.eta = 1.0;
    p.threads = 1;
    p.early_stopping = 3;
    hs_gbrt_model *m = NULL;
    hs_gbrt_result res;
    assert_int_equal(hs_gbrt_train(&m, &res, &train, &valid, &p, NULL, NULL), HS_OK);
    assert_true(res.rounds_done < 400);
    assert_int_equal(res.rounds_done, res.best_round + 3);
    hs_gbrt_free(m);
    /* errors: early stopping without validation; bad parameters; one-class training set */
    assert_int_equal(hs_gbrt_train(&m, &res, &train, NULL, &p, NULL, NULL), HS_ERR_ARG);
    assert_null(m);
    p.early_stopping = 0;
    p.tau = -1;
    assert_int_equal(hs_gbrt_train(&m, &res, &train, &valid, &p, NULL, NULL), HS_ERR_ARG);
    p.tau = 1;
    for (size_t i = 0; i < train.rows; i++)
        train.labels[i] = 1.0f;
    assert_int_equal(hs_gbrt_train(&m, &res, &train, &valid, &p, NULL, NULL), HS_ERR_LABEL);
    /* An XGBoost failure comes back as HS_ERR_BACKEND with XGBoost's message. */
    train.labels[0] = 0.0f;
    p.max_bin = 2;
    p.loss = HS_GBRT_LOGISTIC;
    train.labels[1] = 3.0f; /* binary:logistic rejects labels outside [0, 1] */
    hs_status st = hs_gbrt_train(&m, &res, &train, &valid, &p, NULL, NULL);
    assert_int_equal(st, HS_ERR_BACKEND);
    assert_non_null(strstr(hs_last_error(), "XGBoosterUpdateOneIter failed"));
    hs_table_free(&train);
    hs_table_free(&valid);
    hs_table_free(&all);
}

/* ------------------------------------------------------------------------- */
/* Comparing losses over repeated splits                                     */
/* ------------------------------------------------------------------------- */

typedef struct hook_count {
    int starts, dones, fail_at;
} hook_count;

static void count_start(const hs_gbrt_run *run, int rounds, void *user)
{
    (void)run;
    (void)rounds;
    ((hook_count *)user)->starts++;
}

static hs_status count_done(const hs_gbrt_run *run, const hs_gbrt_model *model, void *user)
{
    hook_count *c = user;
    assert_non_null(model);
    assert_non_null(run->table);
    if (++c->dones == c->fail_at)
        return HS_ERR_IO; /* a hook may return any status */
    return HS_OK;
}

static hs_gbrt_protocol small_protocol(const hs_gbrt_config *cfg, size_t n_cfg)
{
    hs_gbrt_protocol p;
    memset(&p, 0, sizeof p);
    p.params = hs_gbrt_params_default();
    p.params.rounds = 8;
    p.params.threads = 1;
    p.configs = cfg;
    p.n_configs = n_cfg;
    p.seed = 3;
    p.repeats = 3;
    p.valid_fraction = 0.25;
    p.table = "letter";
    return p;
}

/* Every configuration sees the split hs_table_split draws with the seed, and the rows come
 * out seed-major with the figures of a direct hs_gbrt_train on that split. */
static void test_compare_protocol(void **state)
{
    (void)state;
    hs_table all;
    assert_int_equal(hs_table_read(&all, letter_csv, HS_TABLE_AUTO), HS_OK);
    const hs_gbrt_config cfg[2] = {{HS_GBRT_LOGISTIC, HS_GBRT_HESS_ONES},
                                   {HS_GBRT_HYPERSIMPLEX, HS_GBRT_HESS_GN}};
    hs_gbrt_protocol p = small_protocol(cfg, 2);
    hook_count hc = {0, 0, 0};
    hs_gbrt_hooks hooks = {count_start, NULL, count_done, &hc};
    hs_gbrt_runs runs = {0};
    assert_int_equal(hs_gbrt_compare(&runs, &all, NULL, &p, &hooks), HS_OK);
    assert_int_equal(runs.n, 6);
    assert_int_equal(hc.starts, 6);
    assert_int_equal(hc.dones, 6);
    for (size_t i = 0; i < runs.n; i++) {
        const hs_gbrt_run *r = &runs.rows[i];
        assert_string_equal(r->table, "letter");
        assert_int_equal(r->rows, all.rows);
        assert_int_equal(r->seed, 3 + i / 2);
        assert_string_equal(r->config, i % 2 ? "hypersimplex:gn" : "logistic");
        assert_true(isnan(r->test_auc) && isnan(r->test_acc));
        assert_true(hs_gbrt_run_auc(r) == r->result.valid_auc);
        /* the same run by hand */
        hs_table tr, va;
        assert_int_equal(hs_table_split(&tr, &va, &all, 0.25, r->seed), HS_OK);
        hs_gbrt_params prm = p.params;
        prm.loss = cfg[i % 2].loss;
        prm.hessian = cfg[i % 2].hessian;
        prm.seed = r->seed;
        hs_gbrt_model *m = NULL;
        hs_gbrt_result res;
        assert_int_equal(hs_gbrt_train(&m, &res, &tr, &va, &prm, NULL, NULL), HS_OK);
        assert_true(res.valid_auc == r->result.valid_auc);
        assert_true(res.valid_acc == r->result.valid_acc);
        assert_int_equal(res.best_round, r->result.best_round);
        hs_gbrt_free(m);
        hs_table_free(&tr);
        hs_table_free(&va);
    }
    /* summaries: the baseline first, the t-test that of the study layer on the same AUCs */
    hs_gbrt_summary *sum;
    size_t n;
    assert_int_equal(hs_gbrt_summarize(&sum, &n, &runs), HS_OK);
    assert_int_equal(n, 2);
    assert_true(sum[0].is_baseline && !sum[1].is_baseline);
    assert_int_equal(sum[1].n, 3);
    double a[3], b[3];
    for (size_t r = 0; r < 3; r++) {
        b[r] = runs.rows[2 * r].result.valid_auc;
        a[r] = runs.rows[2 * r + 1].result.valid_auc;
    }
    hs_ttest tt;
    hs_status tst = hs_paired_ttest(&tt, a, b, 3);
    assert_int_equal(sum[1].t_status, tst);
    assert_true(sum[1].mean_diff == tt.mean_diff);
    if (tst == HS_OK)
        assert_true(sum[1].t == tt.t && sum[1].p == tt.p);
    assert_true(fabs(sum[0].auc_mean - (b[0] + b[1] + b[2]) / 3) < 1e-15);
    free(sum);
    hs_gbrt_runs_free(&runs);

    /* with a test set: every run has a test AUC; a hook's failure stops and is returned,
     * the completed runs stay */
    p.test_fraction = 0.2;
    p.repeats = 2;
    hc.fail_at = 3;
    hc.starts = hc.dones = 0;
    assert_int_equal(hs_gbrt_compare(&runs, &all, NULL, &p, &hooks), HS_ERR_IO);
    assert_int_equal(runs.n, 2);
    for (size_t i = 0; i < runs.n; i++) {
        assert_true(runs.rows[i].test_auc > 0.5 && runs.rows[i].test_auc <= 1);
        assert_true(hs_gbrt_run_auc(&runs.rows[i]) == runs.rows[i].test_auc);
    }
    hs_gbrt_runs_free(&runs);
    /* an invalid protocol */
    p.repeats = 0;
    assert_int_equal(hs_gbrt_compare(&runs, &all, NULL, &p, NULL), HS_ERR_ARG);
    p.repeats = 1;
    p.test_fraction = 1.5;
    assert_int_equal(hs_gbrt_compare(&runs, &all, NULL, &p, NULL), HS_ERR_ARG);
    assert_int_equal(runs.n, 0);
    hs_table_free(&all);
}

static void test_config_names(void **state)
{
    (void)state;
    hs_gbrt_config c;
    int given = -1;
    char name[HS_GBRT_CONFIG_NAME_MAX];
    assert_int_equal(hs_gbrt_config_parse(&c, &given, "hs", HS_GBRT_HESS_CONST), HS_OK);
    assert_int_equal(c.loss, HS_GBRT_HYPERSIMPLEX);
    assert_int_equal(c.hessian, HS_GBRT_HESS_CONST);
    assert_int_equal(given, 0);
    hs_gbrt_config_name(name, &c);
    assert_string_equal(name, "hypersimplex:const");
    assert_int_equal(hs_gbrt_config_parse(&c, &given, "hypersimplex:gn", HS_GBRT_HESS_ONES), HS_OK);
    assert_int_equal(given, 1);
    assert_int_equal(c.hessian, HS_GBRT_HESS_GN);
    assert_int_equal(hs_gbrt_config_parse(&c, NULL, "logistic", HS_GBRT_HESS_ONES), HS_OK);
    hs_gbrt_config_name(name, &c);
    assert_string_equal(name, "logistic");
    assert_int_equal(hs_gbrt_config_parse(&c, NULL, "logistic:gn", HS_GBRT_HESS_ONES), HS_ERR_ARG);
    assert_int_equal(hs_gbrt_config_parse(&c, NULL, "hs:newton", HS_GBRT_HESS_ONES), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "'newton'"));
    assert_int_equal(hs_gbrt_config_parse(&c, NULL, "hsx", HS_GBRT_HESS_ONES), HS_ERR_ARG);
}

/* Reads the whole file into a malloc'ed string. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

/* The runs CSV: written with %.17g, read back exactly, and bad files refused with the line. */

/* The standard output of `hypersimplex gbrt --report PATH EXTRA` (which must exit 0), in a
 * static buffer. */
static const char *cli_report(const char *path, const char *extra)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s gbrt --report %s%s", HS_CLI_PATH, path, extra);
    FILE *pf = popen(cmd, "r");
    assert_non_null(pf);
    static char out[1 << 16];
    size_t got = fread(out, 1, sizeof out - 1, pf);
    out[got] = '\0';
    assert_int_equal(pclose(pf), 0);
    return out;
}

static void test_runs_csv(void **state)
{
    (void)state;
    hs_gbrt_runs runs = {0};
    char *path = temp_file(".csv", "");
    /* two tables, two configurations, two seeds, figures by hand */
    const char *tables[2] = {"alpha", "beta"};
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 2; s++)
            for (int c = 0; c < 2; c++) {
                hs_gbrt_runs one = {0};
                hs_gbrt_run r;
                memset(&r, 0, sizeof r);
                r.table = strdup(tables[t]);
                r.rows = 100 + (size_t)t;
                snprintf(r.config, sizeof r.config, "%s", c ? "hypersimplex:ones" : "logistic");
                r.tau = 1;
                r.seed = (uint64_t)(1 + s);
                r.result.rounds_done = 40;
                r.result.best_round = 10 + 4 * s + c;
                r.result.valid_auc = 0.7 + 0.01 * s;
                r.result.valid_acc = 0.6;
                r.result.valid_auc_xgb = 0.7;
                r.result.train_auc = 0.9;
                r.result.theta = -0.1 / 3;
                r.test_auc = 0.8 + 0.1 / 3 * s - 0.001 * c * (1 + s * s);
                r.test_acc = 0.75 + 0.01 * c;
                one.n = 1;
                one.rows = &r;
                /* append through the public functions: write one row, read it back */
                FILE *f = fopen(path, "w");
                assert_non_null(f);
                assert_int_equal(hs_gbrt_runs_write(&one, f, path), HS_OK);
                fclose(f);
                free(r.table);
                assert_int_equal(hs_gbrt_runs_read(&runs, path), HS_OK);
                const hs_gbrt_run *back = &runs.rows[runs.n - 1];
                assert_string_equal(back->table, tables[t]);
                assert_true(back->test_auc == r.test_auc && back->result.theta == r.result.theta);
                assert_int_equal(back->result.best_round, r.result.best_round);
            }
    assert_int_equal(runs.n, 8);
    char *md;
    assert_int_equal(hs_gbrt_markdown(&md, &runs), HS_OK);
    assert_non_null(strstr(md, "| table | rows | logistic | HS, hessian ones (authors) |"));
    assert_non_null(strstr(md, "| alpha | 100 | 0.8167 +- 0.0236 | 0.8152 +- 0.0229 (-0.0015, t = -3.000, p = 0.2048) |"));
    assert_non_null(strstr(md, "| beta | 0.7500 | 0.7600 | 12 / 13 |"));
    assert_non_null(strstr(md, "(df = 1)"));
    /* the whole table written and read again gives the same report */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(hs_gbrt_runs_write(&runs, f, path), HS_OK);
    fclose(f);
    hs_gbrt_runs again = {0};
    assert_int_equal(hs_gbrt_runs_read(&again, path), HS_OK);
    char *md2;
    assert_int_equal(hs_gbrt_markdown(&md2, &again), HS_OK);
    assert_string_equal(md, md2);
    free(md2);
    hs_gbrt_runs_free(&again);
    /* the command line's report of that file: the same Markdown on its standard output */
    assert_string_equal(cli_report(path, ""), md);
    free(md);
    /* a configuration without the baseline's seeds cannot be compared */
    runs.rows[1].seed = 9;
    assert_int_equal(hs_gbrt_markdown(&md, &runs), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "seeds of the baseline"));
    hs_gbrt_runs_free(&runs);

    /* bad files: nothing is appended, the message has the line */
    char *text = slurp(path);
    struct { const char *from, *to, *where; } bad[] = {
        {"test_auc", "test_aux", ":1: no column 'test_auc'"},
        {"alpha,100,logistic", "alpha,100,newton", ":2: loss 'newton'"},
        {"alpha,100,", "alpha,-3,", ":2: rows, seed"},
        {",0.59999999999999998,", ",x,", "valid_acc 'x'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *at = strstr(text, bad[i].from);
        assert_non_null(at);
        char *edited = malloc(strlen(text) + 16);
        assert_non_null(edited);
        snprintf(edited, strlen(text) + 16, "%.*s%s%s", (int)(at - text), text, bad[i].to,
                 at + strlen(bad[i].from));
        char *p2 = temp_file(".csv", edited);
        assert_int_equal(hs_gbrt_runs_read(&runs, p2), HS_ERR_FORMAT);
        assert_non_null(strstr(hs_last_error(), bad[i].where));
        assert_int_equal(runs.n, 0);
        unlink(p2);
        free(p2);
        free(edited);
    }
    free(text);
    unlink(path);
    free(path);
}

/* ------------------------------------------------------------------------- */
/* The report of runs that differ in tau                                     */
/* ------------------------------------------------------------------------- */

/* Figures of the synthetic runs: table t (alpha, beta), tau index u, configuration c, seed s. */
static const char *const syn_tables[2] = {"alpha", "beta"};
static double syn_auc(int t, int u, int c, int s)
{
    return 0.70 + 0.05 * t + 0.02 * u + 0.01 * c * (1 + u) + 0.003 * s + 0.001 * c * s * s;
}
static double syn_acc(int t, int u, int c) { return 0.9 + 0.01 * c + 0.001 * u + 0.0001 * t; }
static int syn_best(int u, int c, int s) { return 10 * (1 + u) + 5 * c + s; }
static double syn_train(int u, int c, int s) { return 0.8 + 0.1 * c + 0.01 * u + 0.001 * s; }

/* A runs CSV of the two tables at the taus taus[0..n_tau), configurations cfg[0] (baseline)
 * and cfg[1], seeds 1..3, written tau-major (alpha then beta at each tau), seed-major within. */
static char *syn_runs_csv(const double *taus, int n_tau, const char *const cfg[2])
{
    size_t cap = 1 << 14, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "table,rows,loss,tau,seed,rounds,best_round,valid_auc,"
                            "valid_acc,valid_auc_xgb,test_auc,test_acc,train_auc,theta,"
                            "t_objective,t_boost,t_total\n");
    for (int u = 0; u < n_tau; u++)
        for (int t = 0; t < 2; t++)
            for (int s = 1; s <= 3; s++)
                for (int c = 0; c < 2; c++) {
                    len += (size_t)snprintf(text + len, cap - len,
                                            "%s,%d,%s,%.17g,%d,100,%d,0.75,0.5,0.75,%.17g,%.17g,"
                                            "%.17g,-0.5,0.01,0.1,0.2\n",
                                            syn_tables[t], 100 * (t + 1), cfg[c], taus[u], s,
                                            syn_best(u, c, s), syn_auc(t, u, c, s),
                                            syn_acc(t, u, c), syn_train(u, c, s));
                    assert_true(len < cap);
                }
    return text;
}

/* The expected figures of (t, u) computed here: mean +- sd of both configurations, the paired
 * difference's mean, t and p (df = 2: p = 1 - |t| / sqrt(t^2 + 2)). */
typedef struct syn_expect { double mean[2], sd[2], diff, t, p; } syn_expect;
static syn_expect syn_expected(int t, int u)
{
    syn_expect e;
    double d[3];
    for (int c = 0; c < 2; c++) {
        double m = 0, ss = 0;
        for (int s = 1; s <= 3; s++)
            m += syn_auc(t, u, c, s) / 3;
        for (int s = 1; s <= 3; s++)
            ss += (syn_auc(t, u, c, s) - m) * (syn_auc(t, u, c, s) - m);
        e.mean[c] = m;
        e.sd[c] = sqrt(ss / 2);
    }
    double md = 0, sd = 0;
    for (int s = 1; s <= 3; s++)
        md += (d[s - 1] = syn_auc(t, u, 1, s) - syn_auc(t, u, 0, s)) / 3;
    for (int s = 0; s < 3; s++)
        sd += (d[s] - md) * (d[s] - md);
    sd = sqrt(sd / 2);
    e.diff = md;
    e.t = md / (sd / sqrt(3));
    e.p = 1 - fabs(e.t) / sqrt(e.t * e.t + 2);
    return e;
}

/* Runs that differ in tau: one group per (table, tau), tables in the order of their first row,
 * taus within a table likewise; a column tau in both tables; the figures those computed here. */
static void test_report_by_tau(void **state)
{
    (void)state;
    const double taus[2] = {0.1, 3};
    const char *const cfg[2] = {"hypersimplex:ones", "hypersimplex:gn"};
    char *text = syn_runs_csv(taus, 2, cfg);
    char *path = temp_file(".csv", text);
    hs_gbrt_runs runs = {0};
    assert_int_equal(hs_gbrt_runs_read(&runs, path), HS_OK);
    assert_int_equal(runs.n, 24);

    /* the summaries: alpha 0.1, alpha 3, beta 0.1, beta 3 */
    hs_gbrt_summary *sum;
    size_t n;
    assert_int_equal(hs_gbrt_summarize(&sum, &n, &runs), HS_OK);
    assert_int_equal(n, 8);
    for (int t = 0; t < 2; t++)
        for (int u = 0; u < 2; u++) {
            syn_expect e = syn_expected(t, u);
            for (int c = 0; c < 2; c++) {
                const hs_gbrt_summary *s = &sum[4 * t + 2 * u + c];
                assert_string_equal(s->table, syn_tables[t]);
                assert_true(s->tau == taus[u]);
                assert_string_equal(s->config, cfg[c]);
                assert_int_equal(s->n, 3);
                assert_int_equal(s->is_baseline, c == 0);
                assert_near(s->auc_mean, e.mean[c], 1e-14);
                assert_near(s->auc_sd, e.sd[c], 1e-12);
                assert_near(s->acc_mean, syn_acc(t, u, c), 1e-14);
                assert_near(s->best_round_mean, syn_best(u, c, 2), 1e-14);
                assert_near(s->train_auc_mean, syn_train(u, c, 2), 1e-14);
                if (c == 1) {
                    assert_int_equal(s->t_status, HS_OK);
                    assert_near(s->mean_diff, e.diff, 1e-14);
                    assert_near(s->t, e.t, 1e-9 * fabs(e.t));
                    assert_near(s->df, 2, 0);
                    assert_near(s->p, e.p, 1e-9);
                }
            }
        }
    free(sum);

    /* the Markdown: the same figures, a line per (table, tau) in that order */
    char *md;
    hs_gbrt_report_options ro = {1};
    assert_int_equal(hs_gbrt_markdown_opts(&md, &runs, &ro), HS_OK);
    assert_non_null(strstr(md, "| table | rows | tau | HS, hessian ones (authors) | HS, hessian gn |\n"
                               "|---|---|---|---|---|\n"));
    assert_non_null(strstr(md, "mean paired difference hypersimplex:gn - hypersimplex:ones, "
                               "t statistic (df = 2)"));
    assert_non_null(strstr(md, "## Test accuracy (mean over seeds), rounds kept and training AUC"));
    assert_non_null(strstr(md, "| table | tau | HS ones acc | HS gn acc | best rounds (ones / gn) "
                               "| train AUC (ones / gn) |\n|---|---|---|---|---|---|\n"));
    const char *prev_auc = md, *prev_acc = md;
    for (int t = 0; t < 2; t++)
        for (int u = 0; u < 2; u++) {
            syn_expect e = syn_expected(t, u);
            char line[400];
            snprintf(line, sizeof line, "\n| %s | %d | %g | %.4f +- %.4f | %.4f +- %.4f "
                     "(%+.4f, t = %.3f, p = %.4g) |\n", syn_tables[t], 100 * (t + 1), taus[u],
                     e.mean[0], e.sd[0], e.mean[1], e.sd[1], e.diff, e.t, e.p);
            const char *at = strstr(md, line);
            if (!at || at < prev_auc)
                fail_msg("line %s not found (in order) in\n%s", line, md);
            prev_auc = at;
            snprintf(line, sizeof line, "\n| %s | %g | %.4f | %.4f | %d / %d | %.4f / %.4f |\n",
                     syn_tables[t], taus[u], syn_acc(t, u, 0), syn_acc(t, u, 1),
                     syn_best(u, 0, 2), syn_best(u, 1, 2), syn_train(u, 0, 2),
                     syn_train(u, 1, 2));
            at = strstr(md, line);
            if (!at || at < prev_acc)
                fail_msg("line %s not found (in order) in\n%s", line, md);
            prev_acc = at;
        }
    free(md);
    /* the command line's report of the file: the same Markdown */
    const char *out = cli_report(path, " --train-auc");
    assert_int_equal(hs_gbrt_markdown_opts(&md, &runs, &ro), HS_OK);
    assert_string_equal(out, md);
    free(md);
    /* a group without the baseline's seeds is named with its tau */
    runs.rows[runs.n - 1].seed = 9;
    assert_int_equal(hs_gbrt_markdown(&md, &runs), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "table beta, tau 3: hypersimplex:gn does not have "
                                            "the seeds of the baseline"));
    hs_gbrt_runs_free(&runs);
    unlink(path);
    free(path);
    free(text);
}

/* Runs with one tau: exactly the layout without a tau column, the text written out here in
 * full; the options without train_auc change nothing. */
static void test_report_one_tau(void **state)
{
    (void)state;
    const double tau = 1;
    const char *const cfg[2] = {"logistic", "hypersimplex:gn"};
    char *text = syn_runs_csv(&tau, 1, cfg);
    char *path = temp_file(".csv", text);
    hs_gbrt_runs runs = {0};
    assert_int_equal(hs_gbrt_runs_read(&runs, path), HS_OK);
    char expect[4096];
    size_t len = 0;
    len += (size_t)snprintf(expect + len, sizeof expect - len,
                            "## Test AUC (mean +- sd over 3 seeds) and paired t-test against "
                            "logistic\n\n| table | rows | logistic | HS, hessian gn |\n"
                            "|---|---|---|---|\n");
    for (int t = 0; t < 2; t++) {
        syn_expect e = syn_expected(t, 0);
        len += (size_t)snprintf(expect + len, sizeof expect - len,
                                "| %s | %d | %.4f +- %.4f | %.4f +- %.4f (%+.4f, t = %.3f, "
                                "p = %.4g) |\n", syn_tables[t], 100 * (t + 1), e.mean[0],
                                e.sd[0], e.mean[1], e.sd[1], e.diff, e.t, e.p);
    }
    len += (size_t)snprintf(expect + len, sizeof expect - len,
                            "\nIn parentheses: mean paired difference HS - logistic, t statistic "
                            "(df = 2), two-sided p.\n\n"
                            "## Test accuracy (mean over seeds) and rounds kept\n\n"
                            "Decision rules: logistic margin >= 0; HyperSimplex p = clip(margin "
                            "/ tau - theta) >= 1/2\nwith the training projection's theta.\n\n"
                            "| table | logistic acc | HS gn acc | best rounds (logistic / gn) |\n"
                            "|---|---|---|---|\n");
    for (int t = 0; t < 2; t++)
        len += (size_t)snprintf(expect + len, sizeof expect - len,
                                "| %s | %.4f | %.4f | %d / %d |\n", syn_tables[t],
                                syn_acc(t, 0, 0), syn_acc(t, 0, 1), syn_best(0, 0, 2),
                                syn_best(0, 1, 2));
    assert_true(len < sizeof expect);
    char *md, *md2;
    assert_int_equal(hs_gbrt_markdown(&md, &runs), HS_OK);
    assert_string_equal(md, expect);
    hs_gbrt_report_options none = {0};
    assert_int_equal(hs_gbrt_markdown_opts(&md2, &runs, &none), HS_OK);
    assert_string_equal(md2, expect);
    free(md2);
    free(md);
    hs_gbrt_runs_free(&runs);
    unlink(path);
    free(path);
    free(text);
}

/* ------------------------------------------------------------------------- */
/* Command line                                                              */
/* ------------------------------------------------------------------------- */

/* Runs the CLI with a shell command line; returns its exit status, output in out. */
static int run_cli(char *out, size_t cap, const char *fmt, ...)
{
    char args[1024], cmd[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s gbrt %s 2>&1", HS_CLI_PATH, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t got = fread(out, 1, cap - 1, f);
    out[got] = '\0';
    int status = pclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    static char out[1 << 16];
    assert_int_equal(run_cli(out, sizeof out, "--help"), 0);
    assert_non_null(strstr(out, "--early-stopping"));
    assert_int_equal(run_cli(out, sizeof out, "--train %s --loss nope", letter_csv), 2);
    assert_non_null(strstr(out, "error: --loss"));
    assert_int_equal(run_cli(out, sizeof out, ""), 2);
    char *bad = temp_file(".csv", "label,a\n1,2\n0,x\n");
    assert_int_equal(run_cli(out, sizeof out, "--train %s", bad), 2);
    assert_non_null(strstr(out, ":3:3:"));
    unlink(bad);
    free(bad);
    char runs[128];
    snprintf(runs, sizeof runs, "/tmp/hs_test_gbrt_%ld_runs.csv", (long)getpid());
    assert_int_equal(run_cli(out, sizeof out, "--train %s --loss logistic,hs:newton", letter_csv),
                     2);
    assert_non_null(strstr(out, "hessian 'newton'"));
    assert_int_equal(run_cli(out, sizeof out,
                             "--train %s --loss both --repeats 2 --rounds 15 --threads 1 "
                             "--test-fraction 0.2 --log-every 0 --runs-out %s",
                             letter_csv, runs),
                     0);
    assert_non_null(strstr(out, "paired_t hypersimplex:ones - logistic: mean"));
    assert_non_null(strstr(out, "summary logistic             test_auc 0.9"));
    FILE *f = fopen(runs, "r");
    assert_non_null(f);
    int lines = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        lines += ch == '\n';
    fclose(f);
    assert_int_equal(lines, 5); /* header + 2 seeds x 2 losses */

    /* outputs are checked before training: an unwritable --model-out, or --runs-out and
     * --model-out naming one file, fail at once and leave the old runs file as it was */
    f = fopen(runs, "w");
    assert_non_null(f);
    fputs("old\n", f);
    fclose(f);
    assert_int_equal(run_cli(out, sizeof out,
                             "--train %s --rounds 5 --threads 1 --runs-out %s --model-out /nonexistent/m.json",
                             letter_csv, runs),
                     1);
    assert_non_null(strstr(out, "error: --model-out: cannot write /nonexistent/m.json"));
    assert_null(strstr(out, "run seed")); /* nothing was trained */
    assert_int_equal(run_cli(out, sizeof out, "--train %s --rounds 5 --runs-out %s --model-out %s", letter_csv,
                             runs, runs),
                     2);
    assert_non_null(strstr(out, "same file"));
    assert_null(strstr(out, "run seed"));
    f = fopen(runs, "r");
    assert_non_null(f);
    char line[16] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "old\n");
    /* both outputs written together */
    char model[128];
    snprintf(model, sizeof model, "/tmp/hs_test_gbrt_%ld_model.json", (long)getpid());
    assert_int_equal(run_cli(out, sizeof out, "--train %s --rounds 3 --threads 1 --log-every 0 --runs-out %s "
                             "--model-out %s", letter_csv, runs, model),
                     0);
    assert_non_null(strstr(out, "model saved to"));
    f = fopen(model, "r");
    assert_non_null(f);
    assert_int_equal(fgetc(f), '{');
    fclose(f);
    /* a stray feature index is refused while reading, with its line */
    char *wide = temp_file(".svm", "1 1:0.5\n0 2:0.3\n1 100000000:0.5\n");
    assert_int_equal(run_cli(out, sizeof out, "--train %s --rounds 2", wide), 2);
    assert_non_null(strstr(out, ":3:3: feature index"));
    assert_int_equal(run_cli(out, sizeof out, "--train %s --max-features 0", wide), 2);
    unlink(wide);
    free(wide);
    unlink(model);
    unlink(runs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objective_finite_differences),
        cmocka_unit_test(test_objective_hessians),
        cmocka_unit_test(test_objective_large),
        cmocka_unit_test(test_objective_errors),
        cmocka_unit_test(test_csv_reader),
        cmocka_unit_test(test_libsvm_reader),
        cmocka_unit_test(test_gzip_table_damage),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_feature_limit),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_auc_hand_cases),
        cmocka_unit_test(test_auc_against_xgboost),
        cmocka_unit_test(test_real_run_logistic),
        cmocka_unit_test(test_real_run_hypersimplex),
        cmocka_unit_test(test_early_stopping_and_errors),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_compare_protocol),
        cmocka_unit_test(test_config_names),
        cmocka_unit_test(test_runs_csv),
        cmocka_unit_test(test_report_by_tau),
        cmocka_unit_test(test_report_one_tau),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
