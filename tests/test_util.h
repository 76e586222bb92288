/* Shared by the tests: a small deterministic random generator (splitmix64), reading a file,
 * and (with cmocka) checked allocations and the skip without Fashion-MNIST. */
#ifndef HS_TEST_UTIL_H
#define HS_TEST_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tu_rng {
    uint64_t s;
} tu_rng;

static inline tu_rng tu_rng_make(uint64_t seed)
{
    tu_rng r = {seed * 0x9E3779B97F4A7C15ull + 1};
    return r;
}

static inline uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double tu_uniform(tu_rng *r)
{
    return (double)(tu_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n). */
static inline size_t tu_below(tu_rng *r, size_t n)
{
    return n ? (size_t)(tu_next(r) % n) : 0;
}

/* Standard normal (Box-Muller). */
static inline double tu_normal(tu_rng *r)
{
    double u = tu_uniform(r), v = tu_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* Neumaier's compensated sum: a plain loop over 1e6 terms is itself off by more than the
 * tolerances the tests check. */
static inline double tu_compensated_sum(const double *v, size_t n)
{
    double s = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        double t = s + v[i];
        c += fabs(s) >= fabs(v[i]) ? (s - t) + v[i] : (v[i] - t) + s;
        s = t;
    }
    return s + c;
}

/* Conversions between the float arrays of the engine and double references. */
static inline void tu_to_float(float *f, const double *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        f[i] = (float)d[i];
}

static inline void tu_to_double(double *d, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
}

/* The whole file as a NUL-terminated string (malloc'd), or NULL. */
static inline char *tu_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

#ifdef assert_non_null /* with cmocka: zeroed arrays that fail the test when out of memory */
static inline double *tu_dvec(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

static inline float *tu_fvec(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* Writes text to path, failing the test if it cannot. */
static inline void tu_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* How many lines of text contain needle. */
static inline size_t tu_count_lines_with(const char *text, const char *needle)
{
    size_t n = 0, want = strlen(needle);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        for (size_t i = 0; i + want <= len; i++)
            if (!memcmp(p + i, needle, want)) {
                n++;
                break;
            }
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

/* |a - b| <= tol, or the test fails naming both. */
#define tu_assert_near(a, b, tol)                                                                    \
    do {                                                                                             \
        double a_ = (a), b_ = (b);                                                                   \
        if (!(fabs(a_ - b_) <= (tol)))                                                               \
            fail_msg("%s = %.17g, expected %.17g (tolerance %g)", #a, a_, b_, (double)(tol));       \
    } while (0)

#ifdef HYPERSIMPLEX_DATA_H
#include <sys/stat.h>
/* Skips the calling test, with a message, when the real data set is not installed. */
static inline void tu_need_fashion_mnist(void)
{
    const char *dir = hs_data_default_dir(HS_DATA_FASHION_MNIST);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        print_message("skipped: %s does not exist (install the Debian package dataset-fashion-mnist)\n",
                      dir);
        skip();
    }
}
#endif
#endif

#endif
