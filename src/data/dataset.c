/* Data set kinds, loading from a directory, freeing and subsetting. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "data/rng.h"
#include "util/error.h"

hs_status hs_data_kind_parse(hs_data_kind *out, const char *name)
{
    if (!out || !name)
        return hs_fail(HS_ERR_NULL, "hs_data_kind_parse: NULL argument");
    if (!strcmp(name, "fashion-mnist") || !strcmp(name, "fashion_mnist"))
        *out = HS_DATA_FASHION_MNIST;
    else if (!strcmp(name, "mnist"))
        *out = HS_DATA_MNIST;
    else if (!strcmp(name, "cifar10") || !strcmp(name, "cifar-10"))
        *out = HS_DATA_CIFAR10;
    else
        return hs_fail(HS_ERR_ARG, "unknown data set '%s' (expected fashion-mnist, mnist or cifar10)",
                       name);
    return HS_OK;
}

const char *hs_data_kind_name(hs_data_kind kind)
{
    switch (kind) {
    case HS_DATA_FASHION_MNIST: return "fashion-mnist";
    case HS_DATA_MNIST: return "mnist";
    case HS_DATA_CIFAR10: return "cifar10";
    }
    return "unknown";
}

const char *hs_data_default_dir(hs_data_kind kind)
{
    switch (kind) {
    case HS_DATA_FASHION_MNIST: return "/usr/share/datasets/fashion-mnist";
    case HS_DATA_MNIST: return "/usr/share/datasets/mnist";
    case HS_DATA_CIFAR10: return "/usr/share/datasets/cifar10";
    }
    return "/usr/share/datasets";
}

void hs_dataset_free(hs_dataset *d)
{
    if (!d)
        return;
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

hs_status hs_dataset_load(hs_dataset *train, hs_dataset *test, hs_data_kind kind, const char *dir)
{
    if (!train || !test)
        return hs_fail(HS_ERR_NULL, "hs_dataset_load: NULL argument");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!dir)
        dir = hs_data_default_dir(kind);
    switch (kind) {
    case HS_DATA_FASHION_MNIST:
    case HS_DATA_MNIST:
        return hs_idx_load_dir(train, test, dir, 10);
    case HS_DATA_CIFAR10:
        return hs_cifar10_load_dir(train, test, dir);
    }
    return hs_fail(HS_ERR_ARG, "hs_dataset_load: unknown data set kind %d", (int)kind);
}

hs_status hs_dataset_class_counts(size_t *counts, const hs_dataset *d)
{
    if (!counts || !d || (d->count && !d->labels))
        return hs_fail(HS_ERR_NULL, "hs_dataset_class_counts: NULL argument");
    memset(counts, 0, d->classes * sizeof *counts);
    for (size_t i = 0; i < d->count; i++) {
        if (d->labels[i] < 0 || (size_t)d->labels[i] >= d->classes)
            return hs_fail(HS_ERR_LABEL, "label %d of image %zu outside [0, %zu)",
                           (int)d->labels[i], i, d->classes);
        counts[d->labels[i]]++;
    }
    return HS_OK;
}

/* Keeps the images with keep[i] != 0, in order; shrinks the arrays. */
static void compact(hs_dataset *d, const unsigned char *keep)
{
    size_t per = d->channels * d->height * d->width, m = 0;
    for (size_t i = 0; i < d->count; i++) {
        if (!keep[i])
            continue;
        if (m != i) {
            memmove(d->pixels + m * per, d->pixels + i * per, per);
            d->labels[m] = d->labels[i];
        }
        m++;
    }
    d->count = m;
    uint8_t *np = realloc(d->pixels, m * per);
    if (np)
        d->pixels = np;
    int32_t *nl = realloc(d->labels, m * sizeof *nl);
    if (nl)
        d->labels = nl;
}

static hs_status check_dataset(const hs_dataset *d, const char *fn)
{
    if (!d || !d->pixels || !d->labels)
        return hs_fail(HS_ERR_NULL, "%s: NULL data set or arrays", fn);
    if (d->count == 0 || d->classes == 0 || d->channels == 0 || d->height == 0 || d->width == 0)
        return hs_fail(HS_ERR_SIZE, "%s: empty data set (count %zu, classes %zu, %zux%zux%zu)", fn,
                       d->count, d->classes, d->channels, d->height, d->width);
    return HS_OK;
}

hs_status hs_dataset_head(hs_dataset *d, size_t count)
{
    hs_status st = check_dataset(d, "hs_dataset_head");
    if (st)
        return st;
    if (count == 0)
        return hs_fail(HS_ERR_SIZE, "hs_dataset_head: count must be >= 1");
    if (count > d->count)
        return hs_fail(HS_ERR_SIZE, "a subset of %zu images was asked for, but the set holds only %zu",
                       count, d->count);
    if (count == d->count)
        return HS_OK;
    unsigned char *keep = calloc(d->count, 1);
    if (!keep)
        return hs_fail(HS_ERR_NOMEM, "hs_dataset_head: out of memory");
    memset(keep, 1, count);
    compact(d, keep);
    free(keep);
    return HS_OK;
}

hs_status hs_dataset_subset(hs_dataset *d, size_t count, uint64_t seed)
{
    hs_status st = check_dataset(d, "hs_dataset_subset");
    if (st)
        return st;
    if (count == 0)
        return hs_fail(HS_ERR_SIZE, "hs_dataset_subset: count must be >= 1");
    if (count > d->count)
        return hs_fail(HS_ERR_SIZE, "a subset of %zu images was asked for, but the set holds only %zu",
                       count, d->count);
    if (count == d->count)
        return HS_OK;
    size_t *counts = malloc(2 * d->classes * sizeof *counts);
    unsigned char *keep = malloc(d->count);
    if (!counts || !keep) {
        free(counts);
        free(keep);
        return hs_fail(HS_ERR_NOMEM, "hs_dataset_subset: out of memory");
    }
    st = hs_dataset_class_counts(counts, d);
    if (!st) {
        hs_data_quota(counts + d->classes, counts, d->classes, count, d->count);
        st = hs_data_pick_stratified(keep, d, counts + d->classes,
                                     hs_rng_key(seed, HS_RNG_DOMAIN_SUBSET, 0, 0));
    }
    if (!st)
        compact(d, keep);
    free(counts);
    free(keep);
    return st;
}
