/* Benchmark of the operator: ns per element of forward and forward+backward for the fast
 * solver and the sort+PAV reference, beside a memcpy of the same bytes, median of repeats.
 *
 *   bench_project [--max-n N] [--repeats R] [--threads T] [--csv FILE]
 *
 * Prints a Markdown table. Rows: n x rows x dtype x threads. Columns: memcpy, fast forward,
 * fast forward+backward, PAV forward+backward, and the two ratios the targets are stated in. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HS_HAVE_OPENMP
#include <omp.h>
#endif

#include "hypersimplex.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng_state = 88172645463325252ull;
static double normal(void)
{
    /* xorshift64 + Box-Muller: reproducible inputs */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    double u = (double)(rng_state >> 11) * 0x1.0p-53;
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    double v = (double)(rng_state >> 11) * 0x1.0p-53;
    return sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v);
}

typedef struct buffers {
    void *z, *p, *g, *dz, *copy;
} buffers;

enum { OP_MEMCPY, OP_FWD, OP_FWD_BWD };

static double time_op(int op, buffers *b, const hs_proj *d, int is_float, size_t bytes)
{
    double t0 = now();
    hs_status s = HS_OK;
    if (op == OP_MEMCPY) {
        memcpy(b->copy, b->z, bytes);
    } else if (is_float) {
        s = hs_project_f(b->p, NULL, NULL, b->z, d);
        if (op == OP_FWD_BWD && s == HS_OK)
            s = hs_project_vjp_f(b->dz, b->p, b->g, d);
    } else {
        s = hs_project_d(b->p, NULL, NULL, b->z, d);
        if (op == OP_FWD_BWD && s == HS_OK)
            s = hs_project_vjp_d(b->dz, b->p, b->g, d);
    }
    double t = now() - t0;
    if (s != HS_OK) {
        fprintf(stderr, "bench_project: %s\n", hs_last_error());
        exit(1);
    }
    return t;
}

/* Median seconds of `reps` runs after one warm-up run. */
static double measure(int op, buffers *b, const hs_proj *d, int is_float, size_t bytes, int reps)
{
    double *t = malloc((size_t)reps * sizeof *t);
    time_op(op, b, d, is_float, bytes);
    for (int r = 0; r < reps; r++)
        t[r] = time_op(op, b, d, is_float, bytes);
    double m = median(t, reps);
    free(t);
    return m;
}

/* ---- target check: the n = 1e6 double target under stated cache conditions ---- */

/* Evicts the caches: touches a buffer twice the size of any last-level cache here. */
static void flush_caches(void)
{
    static double *junk;
    const size_t len = (size_t)8 << 20; /* 64 MiB */
    if (!junk && !(junk = calloc(len, sizeof *junk)))
        return;
    for (size_t i = 0; i < len; i += 8)
        junk[i] += 1.0;
}

/* The passes any exact forward+backward has to make, with no solver work at all: read z
 * (the threshold needs all of it), read z and write p, read p and g (mean over the free
 * set), read p and g and write dz. A lower bound for what memory allows on this machine. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2"))) static double streaming_bound(const double *z, double *p,
                                                             const double *g, double *dz,
                                                             size_t n)
{
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    __m256d s0 = zero, s1 = zero;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = _mm256_add_pd(s0, _mm256_loadu_pd(z + i));
        s1 = _mm256_add_pd(s1, _mm256_loadu_pd(z + i + 4));
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(s0, s1));
    const __m256d t = _mm256_set1_pd(l[0] * 1e-12);
    for (i = 0; i + 4 <= n; i += 4) {
        __m256d v = _mm256_sub_pd(_mm256_loadu_pd(z + i), t);
        _mm256_storeu_pd(p + i, _mm256_min_pd(_mm256_max_pd(v, zero), one));
    }
    s0 = s1 = zero;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256d a = _mm256_loadu_pd(p + i), b = _mm256_loadu_pd(p + i + 4);
        __m256d ma = _mm256_and_pd(_mm256_cmp_pd(a, zero, _CMP_GT_OQ), _mm256_cmp_pd(a, one, _CMP_LT_OQ));
        __m256d mb = _mm256_and_pd(_mm256_cmp_pd(b, zero, _CMP_GT_OQ), _mm256_cmp_pd(b, one, _CMP_LT_OQ));
        s0 = _mm256_add_pd(s0, _mm256_and_pd(ma, _mm256_loadu_pd(g + i)));
        s1 = _mm256_add_pd(s1, _mm256_and_pd(mb, _mm256_loadu_pd(g + i + 4)));
    }
    _mm256_storeu_pd(l, _mm256_add_pd(s0, s1));
    const __m256d mean = _mm256_set1_pd(l[0] / (double)n);
    for (i = 0; i + 4 <= n; i += 4) {
        __m256d a = _mm256_loadu_pd(p + i);
        __m256d m = _mm256_and_pd(_mm256_cmp_pd(a, zero, _CMP_GT_OQ), _mm256_cmp_pd(a, one, _CMP_LT_OQ));
        _mm256_storeu_pd(dz + i, _mm256_and_pd(m, _mm256_sub_pd(_mm256_loadu_pd(g + i), mean)));
    }
    return l[0];
}
#else
static double streaming_bound(const double *z, double *p, const double *g, double *dz, size_t n)
{
    double s = 0, sg = 0;
    for (size_t i = 0; i < n; i++)
        s += z[i];
    for (size_t i = 0; i < n; i++) {
        double v = z[i] - s * 1e-12;
        p[i] = v < 0 ? 0 : (v > 1 ? 1 : v);
    }
    for (size_t i = 0; i < n; i++)
        sg += (p[i] > 0 && p[i] < 1) ? g[i] : 0;
    for (size_t i = 0; i < n; i++)
        dz[i] = (p[i] > 0 && p[i] < 1) ? g[i] - sg / (double)n : 0;
    return s;
}
#endif

/* Median seconds of memcpy, forward+backward and the streaming bound, each run either hot
 * (back to back, as in the table) or after evicting the caches. */
static void target_check(int reps)
{
    const size_t n = 1000000, bytes = n * sizeof(double);
    buffers b = {malloc(bytes), malloc(bytes), malloc(bytes), malloc(bytes), malloc(bytes)};
    double *t = malloc(3 * 2 * (size_t)reps * sizeof *t);
    if (!b.z || !b.p || !b.g || !b.dz || !b.copy || !t) {
        fprintf(stderr, "bench_project: out of memory for the target check\n");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ((double *)b.z)[i] = normal();
        ((double *)b.g)[i] = normal();
    }
    hs_proj d = hs_proj_make(1, n, 0.5 * (double)n, 1.0);
    d.threads = 1;
    double med[3][2];
    volatile double sink = 0;
    for (int cold = 0; cold <= 1; cold++) {
        for (int op = 0; op < 3; op++) {
            double *tt = t + (size_t)(op * 2 + cold) * (size_t)reps;
            for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
                if (cold)
                    flush_caches();
                double t0 = now();
                if (op == 2)
                    sink += streaming_bound(b.z, b.p, b.g, b.dz, n);
                else
                    time_op(op == 0 ? OP_MEMCPY : OP_FWD_BWD, &b, &d, 0, bytes);
                if (r >= 0)
                    tt[r] = now() - t0;
            }
            med[op][cold] = median(tt, reps) * 1e9 / (double)n;
        }
    }
    (void)sink;
    printf("\nTarget check, n = 1e6, double, 1 row, 1 thread (ns per element, median of %d):\n\n",
           reps);
    printf("| caches | memcpy | fast fwd+bwd | ratio | streaming bound | bound / memcpy |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    printf("| hot (runs back to back, as above) | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
           med[0][0], med[1][0], med[1][0] / med[0][0], med[2][0], med[2][0] / med[0][0]);
    printf("| cold (64 MiB evicted before each run) | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
           med[0][1], med[1][1], med[1][1] / med[0][1], med[2][1], med[2][1] / med[0][1]);
    printf("\nstreaming bound: the passes an exact forward+backward must make (read z; read z, "
           "write p; read p, g; read p, g, write dz) with no solver work.\n");
    free(t);
    free(b.z);
    free(b.p);
    free(b.g);
    free(b.dz);
    free(b.copy);
}

int main(int argc, char **argv)
{
    double max_n = 1e7;
    int reps = 7, max_threads = 1;
#ifdef HS_HAVE_OPENMP
    max_threads = omp_get_max_threads();
#endif
    const char *csv_path = NULL;
    static const struct option opts[] = {{"max-n", required_argument, 0, 'n'},
                                         {"repeats", required_argument, 0, 'r'},
                                         {"threads", required_argument, 0, 't'},
                                         {"csv", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n': max_n = atof(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 't': max_threads = atoi(optarg); break;
        case 'c': csv_path = optarg; break;
        default:
            printf("usage: bench_project [--max-n N (1e7)] [--repeats R (7)] [--threads T (all)] "
                   "[--csv FILE]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (reps < 1 || max_threads < 1) {
        fprintf(stderr, "error: --repeats and --threads must be >= 1\n");
        return 2;
    }
    FILE *csv = csv_path ? fopen(csv_path, "w") : NULL;
    if (csv_path && !csv) {
        fprintf(stderr, "error: cannot write %s\n", csv_path);
        return 1;
    }
    if (csv)
        fprintf(csv, "n,rows,dtype,threads,memcpy_ns,fast_fwd_ns,fast_fwdbwd_ns,pav_fwdbwd_ns\n");
    printf("ns per element (median of %d); k = n/2, tau = 1, z ~ N(0,1)\n\n", reps);
    printf("| n | rows | dtype | threads | memcpy | fast fwd | fast fwd+bwd | PAV fwd+bwd | "
           "fwd+bwd / memcpy | PAV / fast |\n");
    printf("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    const double sizes[] = {128, 1024, 8192, 1e5, 1e6, 1e7};
    const size_t row_counts[] = {1, 10};
    for (size_t si = 0; si < 6; si++) {
        if (sizes[si] > max_n)
            continue;
        size_t n = (size_t)sizes[si];
        for (size_t ri = 0; ri < 2; ri++) {
            size_t rows = row_counts[ri], total = n * rows;
            for (int is_float = 0; is_float <= 1; is_float++) {
                size_t es = is_float ? sizeof(float) : sizeof(double), bytes = total * es;
                buffers b = {malloc(bytes), malloc(bytes), malloc(bytes), malloc(bytes),
                             malloc(bytes)};
                if (!b.z || !b.p || !b.g || !b.dz || !b.copy) {
                    fprintf(stderr, "error: out of memory for n = %zu x %zu\n", n, rows);
                    return 1;
                }
                for (size_t i = 0; i < total; i++) {
                    double v = normal(), g = normal();
                    if (is_float) {
                        ((float *)b.z)[i] = (float)v;
                        ((float *)b.g)[i] = (float)g;
                    } else {
                        ((double *)b.z)[i] = v;
                        ((double *)b.g)[i] = g;
                    }
                }
                /* small problems: repeat inside one timing to get above timer resolution */
                int r = total < 100000 ? reps : (total >= 10000000 ? (reps < 3 ? reps : 3) : reps);
                for (int th = 1; th <= max_threads; th = th == max_threads ? th + 1 : max_threads) {
                    hs_proj d = hs_proj_make(rows, n, 0.5 * (double)n, 1.0);
                    d.threads = th;
                    size_t inner = total < 100000 ? 100000 / total : 1;
                    double tm = 0, tf = 0, tfb = 0, tp = 0;
                    for (size_t it = 0; it < inner; it++) {
                        tm += measure(OP_MEMCPY, &b, &d, is_float, bytes, r);
                        tf += measure(OP_FWD, &b, &d, is_float, bytes, r);
                        tfb += measure(OP_FWD_BWD, &b, &d, is_float, bytes, r);
                    }
                    hs_proj dp = d;
                    dp.solver = HS_SOLVER_SORT_PAV;
                    int rp = total >= 1000000 ? 1 : r;
                    size_t pinner = inner > 20 ? 20 : inner;
                    for (size_t it = 0; it < pinner; it++)
                        tp += measure(OP_FWD_BWD, &b, &dp, is_float, bytes, rp);
                    double scale = 1e9 / (double)total;
                    tm *= scale / (double)inner;
                    tf *= scale / (double)inner;
                    tfb *= scale / (double)inner;
                    tp *= scale / (double)pinner;
                    printf("| %zu | %zu | %s | %d | %.2f | %.2f | %.2f | %.1f | %.2f | %.0f |\n", n,
                           rows, is_float ? "float" : "double", th, tm, tf, tfb, tp, tfb / tm,
                           tp / tfb);
                    fflush(stdout);
                    if (csv)
                        fprintf(csv, "%zu,%zu,%s,%d,%.4f,%.4f,%.4f,%.4f\n", n, rows,
                                is_float ? "float" : "double", th, tm, tf, tfb, tp);
                }
                free(b.z);
                free(b.p);
                free(b.g);
                free(b.dz);
                free(b.copy);
            }
        }
    }
    if (max_n >= 1e6)
        target_check(reps < 5 ? 5 : reps);
    if (csv && fclose(csv) != 0) {
        fprintf(stderr, "error: writing %s failed\n", csv_path);
        return 1;
    }
    return 0;
}
