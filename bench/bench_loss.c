/* Benchmark of the losses: forward + backward (value and gradient w.r.t. the logits) of the
 * multiclass HyperSimplex loss against softmax cross-entropy in the same run, float logits
 * (as in training), C = 10 classes, B in {128, 1024, 8192}. Prints nanoseconds per call
 * (median over repeats) and the HS / CE ratio; a second table gives the other losses and the
 * operator variants for reference. Measures only; never passes or fails.
 *
 * The samples of the compared losses are interleaved (CE, HS, CE, HS, ...) so that both see
 * the same machine load, and by default they are timed with the calling thread's CPU clock
 * (CLOCK_THREAD_CPUTIME_ID), which on a shared machine does not count the time the thread
 * waits to be scheduled; on an idle machine it equals wall time for this serial code.
 *
 *   bench_loss [--repeats R] [--min-ms M] [--wall]
 *     --repeats R   timed samples per cell, the median is printed (default 15)
 *     --min-ms M    each sample runs the call repeatedly for at least M ms (default 20)
 *     --wall        time with CLOCK_MONOTONIC (wall clock) instead
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypersimplex.h"

static clockid_t bench_clock = CLOCK_THREAD_CPUTIME_ID;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_case {
    const float *logits;
    float *grad;
    const int32_t *labels;
    size_t B, C;
    hs_loss_opts opts;
    long calls;       /* calls per sample */
    double *samples;  /* (repeats) ns per call */
} bench_case;

static int run_once(const bench_case *bc)
{
    double loss;
    hs_status s = hs_loss_multiclass_f(&loss, bc->grad, bc->logits, bc->labels, bc->B, bc->C,
                                       &bc->opts);
    if (s != HS_OK) {
        fprintf(stderr, "bench_loss: %s: %s\n", hs_loss_kind_name(bc->opts.kind), hs_last_error());
        return 1;
    }
    return 0;
}

/* Warms up and picks the number of calls per sample (>= min_ms per sample). */
static int calibrate(bench_case *bc, double min_ms)
{
    bc->calls = 1;
    for (;;) {
        double t0 = now_ns();
        for (long i = 0; i < bc->calls; i++)
            if (run_once(bc))
                return 1;
        if (now_ns() - t0 >= min_ms * 1e6)
            return 0;
        bc->calls *= 2;
    }
}

static void sample(bench_case *bc, int r)
{
    double t0 = now_ns();
    for (long i = 0; i < bc->calls; i++)
        run_once(bc);
    bc->samples[r] = (now_ns() - t0) / (double)bc->calls;
}

/* Times the cases interleaved; writes the median ns per call of each into med. */
static int time_cases(bench_case *cases, int ncases, int repeats, double min_ms, double *med)
{
    int status = 0;
    for (int c = 0; c < ncases; c++) {
        cases[c].samples = malloc((size_t)repeats * sizeof(double));
        if (!cases[c].samples || calibrate(&cases[c], min_ms))
            status = 1;
    }
    for (int r = 0; r < repeats && status == 0; r++)
        for (int c = 0; c < ncases; c++)
            sample(&cases[c], r);
    for (int c = 0; c < ncases; c++) {
        if (status == 0) {
            qsort(cases[c].samples, (size_t)repeats, sizeof(double), cmp_double);
            med[c] = cases[c].samples[repeats / 2];
        }
        free(cases[c].samples);
        cases[c].samples = NULL;
    }
    return status;
}

/* Deterministic pseudo-random data (xorshift64*), roughly what a trained network emits. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform01(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * 0x1.0p-53;
}

int main(int argc, char **argv)
{
    int repeats = 15;
    double min_ms = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) {
            repeats = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc) {
            min_ms = atof(argv[++i]);
        } else if (strcmp(argv[i], "--wall") == 0) {
            bench_clock = CLOCK_MONOTONIC;
        } else {
            fprintf(stderr, "usage: %s [--repeats R (15)] [--min-ms M (20)] [--wall]\n", argv[0]);
            return 2;
        }
    }
    if (repeats < 1 || !(min_ms > 0)) {
        fprintf(stderr, "bench_loss: --repeats must be >= 1 and --min-ms > 0\n");
        return 2;
    }

    const size_t sizes[] = {128, 1024, 8192};
    const size_t C = 10;
    const size_t nsizes = sizeof sizes / sizeof sizes[0];
    size_t maxB = sizes[nsizes - 1];
    float *logits = malloc(maxB * C * sizeof *logits);
    float *grad = malloc(maxB * C * sizeof *grad);
    int32_t *labels = malloc(maxB * sizeof *labels);
    if (!logits || !grad || !labels) {
        fprintf(stderr, "bench_loss: out of memory\n");
        return 1;
    }
    for (size_t b = 0; b < maxB; b++) {
        labels[b] = (int32_t)(uniform01() * (double)C);
        for (size_t c = 0; c < C; c++) {
            /* Box-Muller normal logits, the true class shifted up by 2 */
            double u = uniform01(), v = uniform01();
            double g = sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
            logits[b * C + c] = (float)(g + ((size_t)labels[b] == c ? 2.0 : 0.0));
        }
    }

    printf("# hypersimplex %s, bench_loss: forward + backward, float logits, C = %zu, "
           "ns per call (median of %d interleaved samples of >= %g ms, %s clock), 1 thread\n",
           hs_version(), C, repeats, min_ms, bench_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU");
    printf("# HS: k policy count, L2, tau 1.5 (the defaults)\n");
    printf("%8s %14s %14s %8s\n", "B", "cross_entropy", "hypersimplex", "HS/CE");
    for (size_t i = 0; i < nsizes; i++) {
        bench_case cs[2] = {
            {logits, grad, labels, sizes[i], C, hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY), 0, NULL},
            {logits, grad, labels, sizes[i], C, hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX), 0, NULL}};
        double t[2];
        if (time_cases(cs, 2, repeats, min_ms, t))
            return 1;
        printf("%8zu %14.0f %14.0f %8.2f\n", sizes[i], t[0], t[1], t[1] / t[0]);
        fflush(stdout);
    }

    printf("\n# other losses and operator variants (same data), ns per call\n");
    printf("%8s %10s %10s %12s %12s %14s\n", "B", "hinge", "mse", "HS fraction", "HS KL",
           "HS entropy");
    for (size_t i = 0; i < nsizes; i++) {
        bench_case cs[5];
        for (int j = 0; j < 5; j++) {
            bench_case bc = {logits, grad, labels, sizes[i], C, hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX), 0, NULL};
            cs[j] = bc;
        }
        cs[0].opts = hs_loss_opts_default(HS_LOSS_HINGE);
        cs[1].opts = hs_loss_opts_default(HS_LOSS_MSE_SOFTMAX);
        cs[2].opts.k_policy = HS_K_FRACTION;
        cs[3].opts.reg = HS_REG_KL;
        cs[4].opts.reg = HS_REG_ENTROPY;
        double t[5];
        if (time_cases(cs, 5, repeats, min_ms, t))
            return 1;
        printf("%8zu %10.0f %10.0f %12.0f %12.0f %14.0f\n", sizes[i], t[0], t[1], t[2], t[3], t[4]);
        fflush(stdout);
    }
    free(logits);
    free(grad);
    free(labels);
    return 0;
}
