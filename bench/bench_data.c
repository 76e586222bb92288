/* Data layer timings: loading a data set and building batches with and without
 * augmentation. Prints a table; never passes or fails.
 *
 *   bench_data [fashion-mnist|mnist|cifar10] [DIR]     (default: fashion-mnist, its default dir)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hypersimplex.h"
#include "hypersimplex/data.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    hs_data_kind kind = HS_DATA_FASHION_MNIST;
    if (argc > 1 && hs_data_kind_parse(&kind, argv[1]) != HS_OK) {
        fprintf(stderr, "error: %s\n", hs_last_error());
        return 2;
    }
    const char *dir = argc > 2 ? argv[2] : hs_data_default_dir(kind);
    hs_dataset train, test;
    double t0 = now();
    if (hs_dataset_load(&train, &test, kind, dir) != HS_OK) {
        fprintf(stderr, "error: %s\n", hs_last_error());
        return 1;
    }
    double t_load = now() - t0;
    printf("data set %s from %s: %zu train + %zu test images of %zux%zux%zu, %zu classes\n",
           hs_data_kind_name(kind), dir, train.count, test.count, train.channels, train.height,
           train.width, train.classes);
    printf("%-34s %12s\n", "operation", "time");
    printf("%-34s %10.3f s\n", "hs_dataset_load (train + test)", t_load);

    size_t *tr = malloc(train.count * sizeof *tr), *va = malloc(train.count * sizeof *va);
    size_t ntr = 0, nva = 0;
    if (!tr || !va)
        return 1;
    t0 = now();
    if (hs_split_stratified(tr, &ntr, va, &nva, &train, 0.1, 1) != HS_OK) {
        fprintf(stderr, "error: %s\n", hs_last_error());
        return 1;
    }
    printf("%-34s %10.3f ms\n", "hs_split_stratified (0.1)", 1e3 * (now() - t0));
    t0 = now();
    hs_shuffle_indices(tr, ntr, 1, 0);
    printf("%-34s %10.3f ms\n", "hs_shuffle_indices (train part)", 1e3 * (now() - t0));

    enum { B = 128 };
    size_t per = train.channels * train.height * train.width;
    float *x = malloc(B * per * sizeof *x);
    int32_t y[B];
    if (!x)
        return 1;
    for (int augment = 0; augment <= 1; augment++) {
        size_t batches = ntr / B;
        t0 = now();
        for (size_t b = 0; b < batches; b++)
            hs_make_batch(x, y, &train, kind, tr + b * B, B, augment, 1, 0);
        double t = now() - t0;
        char name[64];
        snprintf(name, sizeof name, "hs_make_batch B=%d augment=%d", B, augment);
        printf("%-34s %10.1f us/batch  %.2f ns/pixel  (%.3f s/epoch)\n", name,
               1e6 * t / (double)batches, 1e9 * t / (double)(batches * B * per), t);
    }
    free(x);
    free(tr);
    free(va);
    hs_dataset_free(&train);
    hs_dataset_free(&test);
    return 0;
}
