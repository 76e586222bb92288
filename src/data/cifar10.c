/* CIFAR-10, binary version: each file is a sequence of 3073-byte records, one label byte
 * (0..9) followed by 3072 pixel bytes: the 1024 red, then green, then blue values of a 32x32
 * image in row-major order, which is already the NCHW layout of hs_dataset. There is no
 * header, so a file is valid when it holds a whole, non-zero number of records, at most the
 * official 10000 (or the caller's limit), with every label in range. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "io/stream.h"
#include "util/fs.h"
#include "util/error.h"

#define CIFAR_SIDE 32
#define CIFAR_CHANNELS 3
#define CIFAR_CLASSES 10
#define CIFAR_PIXELS (CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_FILE_RECORDS 10000

/* Appends the records of one file to d, whose arrays have room for *cap images (grown here). */
static hs_status read_file(hs_dataset *d, size_t *cap, const char *path, size_t max_records)
{
    hs_instream s;
    hs_status st = hs_instream_open(&s, path, 0);
    if (st)
        return st;
    unsigned char rec[CIFAR_RECORD];
    size_t n = 0;
    for (;;) {
        size_t got;
        uint64_t at = s.pos;
        st = hs_instream_read(&s, rec, CIFAR_RECORD, &got);
        if (st)
            break;
        if (got == 0)
            break;
        if (got < CIFAR_RECORD) {
            st = hs_fail(HS_ERR_FORMAT,
                         "'%s': truncated: record %zu starts at byte %llu but only %zu of its %d "
                         "bytes follow (the size is not a multiple of %d)",
                         path, n, (unsigned long long)at, got, CIFAR_RECORD, CIFAR_RECORD);
            break;
        }
        if (n == max_records) {
            st = hs_fail(HS_ERR_FORMAT, "'%s': oversized: more than %zu records (%d bytes each)",
                         path, max_records, CIFAR_RECORD);
            break;
        }
        if (rec[0] >= CIFAR_CLASSES) {
            st = hs_fail(HS_ERR_FORMAT, "'%s': label %u of record %zu (byte %llu) outside [0, %d)",
                         path, rec[0], n, (unsigned long long)at, CIFAR_CLASSES);
            break;
        }
        if (d->count == *cap) {
            size_t ncap = *cap ? 2 * *cap : CIFAR_FILE_RECORDS;
            uint8_t *np = realloc(d->pixels, ncap * CIFAR_PIXELS);
            if (!np) {
                st = hs_fail(HS_ERR_NOMEM, "'%s': out of memory for %zu images", path, ncap);
                break;
            }
            d->pixels = np;
            int32_t *nl = realloc(d->labels, ncap * sizeof *nl);
            if (!nl) {
                st = hs_fail(HS_ERR_NOMEM, "'%s': out of memory for %zu labels", path, ncap);
                break;
            }
            d->labels = nl;
            *cap = ncap;
        }
        d->labels[d->count] = rec[0];
        memcpy(d->pixels + d->count * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        d->count++;
        n++;
    }
    if (!st && n == 0)
        st = hs_fail(HS_ERR_FORMAT, "'%s' holds no records", path);
    hs_instream_close(&s);
    return st;
}

hs_status hs_cifar10_load_files(hs_dataset *out, const char *const *paths, size_t npaths,
                                size_t max_records_per_file)
{
    if (!out || !paths)
        return hs_fail(HS_ERR_NULL, "hs_cifar10_load_files: NULL argument");
    memset(out, 0, sizeof *out);
    if (npaths == 0)
        return hs_fail(HS_ERR_SIZE, "hs_cifar10_load_files: no files");
    if (max_records_per_file == 0)
        max_records_per_file = CIFAR_FILE_RECORDS;
    if (max_records_per_file > HS_DATA_MAX_COUNT)
        return hs_fail(HS_ERR_SIZE, "hs_cifar10_load_files: max_records_per_file %zu above %zu",
                       max_records_per_file, HS_DATA_MAX_COUNT);
    hs_dataset d = {0};
    size_t cap = 0;
    for (size_t i = 0; i < npaths; i++) {
        if (!paths[i]) {
            hs_dataset_free(&d);
            return hs_fail(HS_ERR_NULL, "hs_cifar10_load_files: path %zu is NULL", i);
        }
        hs_status st = read_file(&d, &cap, paths[i], max_records_per_file);
        if (st) {
            hs_dataset_free(&d);
            return st;
        }
    }
    d.channels = CIFAR_CHANNELS;
    d.height = CIFAR_SIDE;
    d.width = CIFAR_SIDE;
    d.classes = CIFAR_CLASSES;
    *out = d;
    return HS_OK;
}

static hs_status find_dir(char **out, const char *dir)
{
    char *p = hs_path_join(dir, "test_batch.bin");
    if (!p)
        return HS_ERR_NOMEM;
    int here = hs_path_is_file(p);
    free(p);
    if (here) {
        *out = strdup(dir);
        return *out ? HS_OK : hs_fail(HS_ERR_NOMEM, "out of memory for a path");
    }
    char *sub = hs_path_join(dir, "cifar-10-batches-bin");
    if (!sub)
        return HS_ERR_NOMEM;
    p = hs_path_join(sub, "test_batch.bin");
    if (!p) {
        free(sub);
        return HS_ERR_NOMEM;
    }
    here = hs_path_is_file(p);
    free(p);
    if (here) {
        *out = sub;
        return HS_OK;
    }
    free(sub);
    return hs_fail(HS_ERR_IO,
                   "no CIFAR-10 binary files in '%s' (looked for test_batch.bin and "
                   "data_batch_1.bin .. data_batch_5.bin there and in its cifar-10-batches-bin/)",
                   dir);
}

hs_status hs_cifar10_load_dir(hs_dataset *train, hs_dataset *test, const char *dir)
{
    char *base = NULL;
    hs_status st = find_dir(&base, dir);
    if (st)
        return st;
    char *paths[6] = {0};
    static const char *const names[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                         "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    for (int i = 0; i < 6 && !st; i++) {
        paths[i] = hs_path_join(base, names[i]);
        if (!paths[i])
            st = HS_ERR_NOMEM;
    }
    if (!st)
        st = hs_cifar10_load_files(train, (const char *const *)paths, 5, 0);
    if (!st) {
        st = hs_cifar10_load_files(test, (const char *const *)(paths + 5), 1, 0);
        if (st)
            hs_dataset_free(train);
    }
    for (int i = 0; i < 6; i++)
        free(paths[i]);
    free(base);
    return st;
}

hs_status hs_cifar10_write(const char *path, const hs_dataset *d)
{
    if (!path || !d || !d->pixels || !d->labels)
        return hs_fail(HS_ERR_NULL, "hs_cifar10_write: NULL argument");
    if (d->channels != CIFAR_CHANNELS || d->height != CIFAR_SIDE || d->width != CIFAR_SIDE)
        return hs_fail(HS_ERR_SIZE, "hs_cifar10_write: images must be 3x32x32, not %zux%zux%zu",
                       d->channels, d->height, d->width);
    for (size_t i = 0; i < d->count; i++)
        if (d->labels[i] < 0 || d->labels[i] > 255)
            return hs_fail(HS_ERR_LABEL, "hs_cifar10_write: label %d of item %zu does not fit a byte",
                           (int)d->labels[i], i);
    hs_outstream s;
    hs_status st = hs_outstream_open(&s, path, 0);
    if (st)
        return st;
    for (size_t i = 0; i < d->count && !st; i++) {
        unsigned char lab = (unsigned char)d->labels[i];
        st = hs_outstream_write(&s, &lab, 1);
        if (!st)
            st = hs_outstream_write(&s, d->pixels + i * CIFAR_PIXELS, CIFAR_PIXELS);
    }
    if (st) {
        hs_outstream_abort(&s);
        return st;
    }
    return hs_outstream_commit(&s);
}
