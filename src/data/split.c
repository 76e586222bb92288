/* Stratified validation split, stratified picking and epoch shuffles. All randomness comes
 * from the splitmix64 streams of data/rng.h, keyed by the seed (and the epoch). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "data/rng.h"
#include "util/error.h"

void hs_data_quota(size_t *quota, const size_t *counts, size_t classes, size_t pick, size_t total)
{
    size_t given = 0;
    for (size_t c = 0; c < classes; c++) {
        quota[c] = (size_t)((uint64_t)pick * counts[c] / total);
        given += quota[c];
    }
    /* remainders (pick * counts[c]) mod total; each class gets at most one extra unit */
    while (given < pick) {
        size_t best = classes;
        uint64_t best_r = 0;
        for (size_t c = 0; c < classes; c++) {
            uint64_t r = (uint64_t)pick * counts[c] % total;
            uint64_t floor_q = (uint64_t)pick * counts[c] / total;
            if (quota[c] != floor_q)
                continue; /* already got its extra unit */
            if (r > best_r) {
                best_r = r;
                best = c;
            }
        }
        if (best == classes)
            break; /* cannot happen when sum counts == total */
        quota[best]++;
        given++;
    }
}

hs_status hs_data_pick_stratified(unsigned char *chosen, const hs_dataset *d, const size_t *quota,
                                  uint64_t key)
{
    size_t C = d->classes, N = d->count;
    size_t *start = calloc(C + 1, sizeof *start);
    size_t *members = malloc(N * sizeof *members);
    if (!start || !members) {
        free(start);
        free(members);
        return hs_fail(HS_ERR_NOMEM, "stratified pick: out of memory for %zu indices", N);
    }
    /* members grouped by class, each group in increasing index order */
    for (size_t i = 0; i < N; i++)
        start[d->labels[i] + 1]++;
    for (size_t c = 0; c < C; c++)
        start[c + 1] += start[c];
    size_t *fill = malloc(C * sizeof *fill);
    if (!fill) {
        free(start);
        free(members);
        return hs_fail(HS_ERR_NOMEM, "stratified pick: out of memory");
    }
    memcpy(fill, start, C * sizeof *fill);
    for (size_t i = 0; i < N; i++)
        members[fill[d->labels[i]]++] = i;
    free(fill);
    memset(chosen, 0, N);
    hs_rng r = hs_rng_make(key);
    for (size_t c = 0; c < C; c++) {
        size_t *g = members + start[c];
        size_t n = start[c + 1] - start[c];
        /* partial Fisher-Yates: the first quota[c] slots become a uniform random sample */
        for (size_t j = 0; j < quota[c] && j < n; j++) {
            size_t k = j + (size_t)hs_rng_below(&r, n - j);
            size_t t = g[j];
            g[j] = g[k];
            g[k] = t;
            chosen[g[j]] = 1;
        }
    }
    free(start);
    free(members);
    return HS_OK;
}

hs_status hs_split_stratified(size_t *train_idx, size_t *n_train, size_t *val_idx, size_t *n_val,
                              const hs_dataset *d, double val_fraction, uint64_t seed)
{
    if (!train_idx || !n_train || !val_idx || !n_val || !d || (d->count && !d->labels))
        return hs_fail(HS_ERR_NULL, "hs_split_stratified: NULL argument");
    if (d->count == 0 || d->classes == 0)
        return hs_fail(HS_ERR_SIZE, "hs_split_stratified: empty data set");
    if (!(val_fraction >= 0.0 && val_fraction < 1.0))
        return hs_fail(HS_ERR_ARG, "validation fraction %g outside [0, 1)", val_fraction);
    size_t N = d->count, C = d->classes;
    size_t pick = (size_t)llround(val_fraction * (double)N);
    if (pick >= N)
        return hs_fail(HS_ERR_ARG, "validation fraction %g of %zu images leaves no training images",
                       val_fraction, N);
    size_t *counts = malloc(2 * C * sizeof *counts);
    unsigned char *in_val = malloc(N);
    if (!counts || !in_val) {
        free(counts);
        free(in_val);
        return hs_fail(HS_ERR_NOMEM, "hs_split_stratified: out of memory");
    }
    hs_status st = hs_dataset_class_counts(counts, d);
    if (!st) {
        hs_data_quota(counts + C, counts, C, pick, N);
        st = hs_data_pick_stratified(in_val, d, counts + C,
                                     hs_rng_key(seed, HS_RNG_DOMAIN_SPLIT, 0, 0));
    }
    if (!st) {
        size_t a = 0, b = 0;
        for (size_t i = 0; i < N; i++) {
            if (in_val[i])
                val_idx[b++] = i;
            else
                train_idx[a++] = i;
        }
        *n_train = a;
        *n_val = b;
    }
    free(counts);
    free(in_val);
    return st;
}

void hs_shuffle_indices(size_t *idx, size_t n, uint64_t seed, uint64_t epoch)
{
    if (!idx || n < 2)
        return;
    hs_rng r = hs_rng_make(hs_rng_key(seed, HS_RNG_DOMAIN_SHUFFLE, epoch, 0));
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)hs_rng_below(&r, (uint64_t)i + 1);
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
