/* Cost of the HyperSimplex objective inside a boosting round.
 *
 * Synthetic binary table (n rows x d dense features, labels from a noisy logistic model),
 * XGBoost hist, depth 6, 2 threads by default. Prints, per round, the seconds spent
 * predicting the training margins, in our objective (projection + VJP + hessian), and in
 * XGBoosterBoostOneIter, then the objective's share of the whole round; the same rounds
 * with XGBoost's own binary:logistic for reference; and the objective's parts alone.
 *
 * usage: bench_gbrt [n=1000000] [rounds=10] [threads=2] [features=28]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypersimplex.h"
#include "hypersimplex/gbrt.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}

static double gauss(void)
{
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct rounds_log {
    int cap, n;
    hs_gbrt_round *r;
} rounds_log;

static int keep_round(const hs_gbrt_round *r, void *user)
{
    rounds_log *lg = user;
    if (lg->n < lg->cap)
        lg->r[lg->n++] = *r;
    return 0;
}

static int make_table(hs_table *t, size_t n, size_t d)
{
    memset(t, 0, sizeof *t);
    t->rows = n;
    t->cols = d;
    t->nnz = n * d;
    t->indptr = malloc((n + 1) * sizeof *t->indptr);
    t->indices = malloc(n * d * sizeof *t->indices);
    t->values = malloc(n * d * sizeof *t->values);
    t->labels = malloc(n * sizeof *t->labels);
    double *w = malloc(d * sizeof *w);
    if (!t->indptr || !t->indices || !t->values || !t->labels || !w) {
        free(w);
        return -1;
    }
    for (size_t j = 0; j < d; j++)
        w[j] = gauss() / sqrt((double)d);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        t->indptr[i] = i * d;
        for (size_t j = 0; j < d; j++) {
            double x = gauss();
            t->indices[i * d + j] = (uint32_t)j;
            t->values[i * d + j] = (float)x;
            s += w[j] * (j % 3 == 0 ? x * x - 1 : x); /* some nonlinearity for the trees */
        }
        t->labels[i] = urand() < 1.0 / (1.0 + exp(-2.0 * s)) ? 1.0f : 0.0f;
    }
    t->indptr[n] = n * d;
    free(w);
    return 0;
}

static int run(const hs_table *t, hs_gbrt_loss loss, int rounds, int threads, const char *name)
{
    hs_gbrt_params p = hs_gbrt_params_default();
    p.loss = loss;
    p.rounds = rounds;
    p.threads = threads;
    p.max_depth = 6;
    rounds_log lg = {rounds, 0, calloc((size_t)rounds, sizeof(hs_gbrt_round))};
    hs_gbrt_model *m = NULL;
    hs_gbrt_result res;
    if (!lg.r)
        return -1;
    hs_status st = hs_gbrt_train(&m, &res, t, NULL, &p, keep_round, &lg);
    if (st) {
        fprintf(stderr, "bench_gbrt: %s\n", hs_last_error());
        free(lg.r);
        return -1;
    }
    printf("\n%s (n = %zu, %d threads, depth 6, hist)\n", name, t->rows, threads);
    printf("%5s %12s %12s %12s %12s %10s %9s\n", "round", "predict_s", "objective_s", "boost_s",
           "round_s", "obj_share", "|S|");
    double so = 0, sr = 0;
    for (int i = 0; i < lg.n; i++) {
        const hs_gbrt_round *r = &lg.r[i];
        /* round i's boost used the objective computed right before it and the margins
         * predicted right before that (recorded with the previous round) */
        double pred = i > 0 ? lg.r[i - 1].t_predict : NAN;
        double tot = (i > 0 ? pred : 0) + r->t_objective + r->t_boost;
        printf("%5d %12.4f %12.4f %12.4f %12.4f %9.2f%% %9zu\n", r->round, pred, r->t_objective,
               r->t_boost, i > 0 ? tot : NAN, i > 0 ? 100 * r->t_objective / tot : NAN,
               i > 0 ? lg.r[i - 1].n_free : 0);
        if (i > 0) {
            so += r->t_objective;
            sr += tot;
        }
    }
    if (lg.n > 1)
        printf("rounds 2..%d: objective %.4f s of %.4f s per round = %.2f%%\n", lg.n,
               so / (lg.n - 1), sr / (lg.n - 1), 100 * so / sr);
    printf("train AUC %.4f, total %.2f s\n", res.train_auc, res.t_total);
    hs_gbrt_free(m);
    free(lg.r);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 10;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    size_t d = argc > 4 ? (size_t)atol(argv[4]) : 28;
    if (n < 10 || rounds < 2 || threads < 0 || d < 1) {
        fprintf(stderr, "usage: bench_gbrt [n >= 10] [rounds >= 2] [threads] [features]\n");
        return 2;
    }
    hs_table t;
    if (make_table(&t, n, d)) {
        fprintf(stderr, "bench_gbrt: out of memory\n");
        return 1;
    }
    printf("bench_gbrt: %zu rows x %zu features, %zu positives\n", n, d,
           hs_table_positives(&t));

    /* The objective's parts alone, on random margins: the free set S is then scattered at
     * random over the rows, the worst case for branchy loops (in boosting, margins come from
     * trees and the measured per-round objective is the figure that counts). */
    float *mf = malloc(n * sizeof *mf), *g = malloc(n * sizeof *g), *h = malloc(n * sizeof *h);
    double *md = malloc(n * sizeof *md), *pd = malloc(n * sizeof *pd);
    double *work = malloc(2 * n * sizeof *work);
    if (!mf || !g || !h || !md || !pd || !work) {
        fprintf(stderr, "bench_gbrt: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        mf[i] = (float)(2.0 * gauss() + (t.labels[i] == 1.0f ? 1.0 : -1.0));
        md[i] = (double)mf[i];
    }
    size_t k = hs_table_positives(&t);
    hs_proj pr = hs_proj_make(1, n, (double)k, 1.0);
    pr.threads = 1;
    /* Each part: one warm-up call (first-touch page faults), then the median of 11 calls. */
    enum { REPS = 11 };
    double tp[REPS], tv[REPS], to[REPS];
    hs_gbrt_objective_info info;
    hs_project_d(pd, NULL, NULL, md, &pr);
    hs_project_vjp_d(work, pd, md, &pr);
    hs_gbrt_hs_objective_f(g, h, &info, mf, t.labels, n, 1.0, HS_GBRT_HESS_ONES, work);
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        hs_project_d(pd, NULL, NULL, md, &pr);
        double t1 = now();
        hs_project_vjp_d(work, pd, md, &pr);
        double t2 = now();
        hs_gbrt_hs_objective_f(g, h, &info, mf, t.labels, n, 1.0, HS_GBRT_HESS_ONES, work);
        double t3 = now();
        tp[r] = t1 - t0;
        tv[r] = t2 - t1;
        to[r] = t3 - t2;
    }
    qsort(tp, REPS, sizeof(double), cmp_double);
    qsort(tv, REPS, sizeof(double), cmp_double);
    qsort(to, REPS, sizeof(double), cmp_double);
    printf("\nobjective parts (n = %zu, median of %d calls after a warm-up): projection %.4f s, "
           "VJP %.4f s, whole objective (float in/out, loss, gradient, hessian) %.4f s; "
           "|S| = %zu\n",
           n, REPS, tp[REPS / 2], tv[REPS / 2], to[REPS / 2], info.n_free);
    free(mf);
    free(g);
    free(h);
    free(md);
    free(pd);
    free(work);

    int rc = run(&t, HS_GBRT_HYPERSIMPLEX, rounds, threads, "HyperSimplex objective");
    if (!rc)
        rc = run(&t, HS_GBRT_LOGISTIC, rounds, threads, "XGBoost binary:logistic (reference)");
    hs_table_free(&t);
    return rc ? 1 : 0;
}
