/* bench_dist: the collective operations of one data-parallel training step, timed on their
 * own (run under mpirun): the in-place all-reduce of the gradients (the parameter count of
 * the paper's network at --width), the all-gather of the global batch's logits and labels for
 * the HS loss (--batch rows of classes + 1 floats), and the 8 small all-reduces of
 * synchronized batch norm (2 width + 1 doubles). Prints the median over --reps repetitions
 * (after 3 warm-up ones) on rank 0.
 *
 *   mpirun -np 2 build/bench/bench_dist --width 64 --batch 1024 --reps 30 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersimplex/nn.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t width = 64, batch = 1024, classes = 10;
    int reps = 30;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--width"))
            width = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    if (reps < 1 || width < 1 || batch < (size_t)size) {
        if (rank == 0)
            fprintf(stderr, "usage: bench_dist [--width W] [--batch B >= ranks] [--reps R >= 1]\n");
        MPI_Finalize();
        return 2;
    }
    hs_net_shape shape = hs_net_shape_paper(1, 28, 28, classes, width);
    hs_net *net = NULL;
    if (hs_net_create(&net, &shape)) {
        fprintf(stderr, "bench_dist: %s\n", hs_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    size_t np = hs_net_param_count(net);
    hs_net_free(net);
    float *grads = calloc(np, sizeof *grads);
    size_t W = classes + 1, mine = batch / (size_t)size;
    float *rows = calloc(batch * W, sizeof *rows);
    int *cnt = malloc(2 * (size_t)size * sizeof *cnt), *displ;
    double *bn = calloc(2 * width + 1, sizeof *bn), *t = malloc((size_t)reps * 3 * sizeof *t);
    if (!grads || !rows || !cnt || !bn || !t)
        MPI_Abort(MPI_COMM_WORLD, 1);
    displ = cnt + size;
    for (int r = 0; r < size; r++) {
        size_t lo = batch * (size_t)r / (size_t)size, hi = batch * (size_t)(r + 1) / (size_t)size;
        cnt[r] = (int)((hi - lo) * W);
        displ[r] = (int)(lo * W);
    }
    (void)mine;
    for (int k = -3; k < reps; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, grads, (int)np, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double t1 = MPI_Wtime();
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, rows, cnt, displ, MPI_FLOAT, MPI_COMM_WORLD);
        double t2 = MPI_Wtime();
        for (int l = 0; l < 8; l++)
            MPI_Allreduce(MPI_IN_PLACE, bn, (int)(2 * width + 1), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        double t3 = MPI_Wtime();
        if (k >= 0) {
            t[k] = t1 - t0;
            t[reps + k] = t2 - t1;
            t[2 * reps + k] = t3 - t2;
        }
    }
    if (rank == 0) {
        double ar = median(t, reps), ag = median(t + reps, reps), bs = median(t + 2 * reps, reps);
        double bytes = (double)np * sizeof(float);
        printf("ranks %d, width %zu: %zu parameters (%.2f MB of float gradients), batch %zu\n", size, width, np,
               bytes / 1e6, batch);
        printf("gradient all-reduce: %.3f ms (algorithm bandwidth %.2f GB/s)\n", 1e3 * ar, bytes / ar / 1e9);
        printf("logits+labels all-gather (%zu x %zu floats): %.3f ms\n", batch, W, 1e3 * ag);
        printf("8 batch-norm all-reduces (%zu doubles each): %.3f ms\n", 2 * width + 1, 1e3 * bs);
        printf("total per step: %.3f ms (median of %d)\n", 1e3 * (ar + ag + bs), reps);
    }
    free(grads), free(rows), free(cnt), free(bn), free(t);
    MPI_Finalize();
    return 0;
}
