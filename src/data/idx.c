/* IDX files (the MNIST / Fashion-MNIST format): a big-endian header, magic 0x000008DD with
 * 0x08 = unsigned byte and DD = number of dimensions, then one 32-bit size per dimension,
 * then the data. Files may be gzip-compressed. Everything in the header is checked before
 * the data are allocated. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "io/stream.h"
#include "util/fs.h"
#include "util/error.h"

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Reads and checks the magic and the sizes of an IDX file with `ndims` dimensions. */
static hs_status read_header(hs_instream *s, uint32_t *dims, unsigned ndims, const char *what)
{
    unsigned char h[16];
    hs_status st = hs_instream_read_exact(s, h, 4, "the IDX magic number");
    if (st)
        return st;
    uint32_t magic = be32(h);
    uint32_t want = 0x00000800u | ndims;
    if (magic != want)
        return hs_fail(HS_ERR_FORMAT,
                       "'%s': bad magic number 0x%08x at byte 0 (expected 0x%08x: IDX %s, "
                       "unsigned bytes, %u dimension%s)",
                       s->path, magic, want, what, ndims, ndims == 1 ? "" : "s");
    st = hs_instream_read_exact(s, h + 4, 4 * (size_t)ndims, "the IDX dimension sizes");
    if (st)
        return st;
    for (unsigned i = 0; i < ndims; i++)
        dims[i] = be32(h + 4 + 4 * i);
    return HS_OK;
}

static hs_status read_images(hs_dataset *d, const char *path)
{
    hs_instream s;
    hs_status st = hs_instream_open(&s, path, 0);
    if (st)
        return st;
    uint32_t dims[3] = {0, 0, 0};
    st = read_header(&s, dims, 3, "images");
    if (st)
        goto done;
    static const char *const field[3] = {"image count", "rows", "columns"};
    static const size_t limit[3] = {HS_DATA_MAX_COUNT, HS_DATA_MAX_SIDE, HS_DATA_MAX_SIDE};
    for (int i = 0; i < 3; i++) {
        if (dims[i] == 0 || dims[i] > limit[i]) {
            st = hs_fail(HS_ERR_FORMAT, "'%s': %s %u (bytes %d..%d) outside [1, %zu]", path,
                         field[i], dims[i], 4 + 4 * i, 8 + 4 * i, limit[i]);
            goto done;
        }
    }
    uint64_t bytes = (uint64_t)dims[0] * dims[1] * dims[2];
    if (bytes > HS_DATA_MAX_BYTES || bytes > SIZE_MAX) {
        st = hs_fail(HS_ERR_FORMAT, "'%s': %u images of %ux%u (%llu bytes) exceed the limit of %llu bytes",
                     path, dims[0], dims[1], dims[2], (unsigned long long)bytes,
                     (unsigned long long)HS_DATA_MAX_BYTES);
        goto done;
    }
    st = hs_instream_read_alloc(&s, &d->pixels, (size_t)bytes, "the pixel data");
    if (st)
        goto done;
    st = hs_instream_expect_end(&s);
    if (st)
        goto done;
    d->count = dims[0];
    d->channels = 1;
    d->height = dims[1];
    d->width = dims[2];
done:
    hs_instream_close(&s);
    return st;
}

static hs_status read_labels(hs_dataset *d, const char *path, size_t classes)
{
    hs_instream s;
    uint8_t *raw = NULL;
    hs_status st = hs_instream_open(&s, path, 0);
    if (st)
        return st;
    uint32_t count = 0;
    st = read_header(&s, &count, 1, "labels");
    if (st)
        goto done;
    if (count == 0 || count > HS_DATA_MAX_COUNT) {
        st = hs_fail(HS_ERR_FORMAT, "'%s': label count %u (bytes 4..8) outside [1, %zu]", path,
                     count, HS_DATA_MAX_COUNT);
        goto done;
    }
    st = hs_instream_read_alloc(&s, &raw, count, "the labels");
    if (st)
        goto done;
    st = hs_instream_expect_end(&s);
    if (st)
        goto done;
    for (size_t i = 0; i < count; i++) {
        if (raw[i] >= classes) {
            st = hs_fail(HS_ERR_FORMAT, "'%s': label %u of item %zu (byte %zu) outside [0, %zu)",
                         path, raw[i], i, 8 + i, classes);
            goto done;
        }
    }
    d->labels = malloc(count * sizeof *d->labels);
    if (!d->labels) {
        st = hs_fail(HS_ERR_NOMEM, "'%s': out of memory for %u labels", path, count);
        goto done;
    }
    for (size_t i = 0; i < count; i++)
        d->labels[i] = raw[i];
    d->classes = classes;
    d->count = count;
done:
    free(raw);
    hs_instream_close(&s);
    return st;
}

hs_status hs_idx_load(hs_dataset *out, const char *images_path, const char *labels_path,
                      size_t classes)
{
    if (!out || !images_path || !labels_path)
        return hs_fail(HS_ERR_NULL, "hs_idx_load: NULL argument");
    memset(out, 0, sizeof *out);
    if (classes < 1 || classes > 256)
        return hs_fail(HS_ERR_ARG, "hs_idx_load: classes = %zu outside [1, 256]", classes);
    hs_dataset img = {0}, lab = {0};
    hs_status st = read_images(&img, images_path);
    if (!st)
        st = read_labels(&lab, labels_path, classes);
    if (!st && img.count != lab.count)
        st = hs_fail(HS_ERR_FORMAT, "'%s' holds %zu images but '%s' holds %zu labels",
                     images_path, img.count, labels_path, lab.count);
    if (st) {
        free(img.pixels);
        free(lab.labels);
        return st;
    }
    *out = img;
    out->labels = lab.labels;
    out->classes = classes;
    return HS_OK;
}

/* The first of base.gz, base, and base with "-idx" spelled ".idx" (as some copies of MNIST
 * are named: train-images.idx3-ubyte), plain or .gz, that exists in dir. */
static hs_status find_idx(char **out, const char *dir, const char *base)
{
    char dotted[64];
    snprintf(dotted, sizeof dotted, "%s", base);
    char *sep = strstr(dotted, "-idx"); /* train-images-idx3-ubyte -> train-images.idx3-ubyte */
    if (sep)
        *sep = '.';
    char gzname[80], dotgz[80];
    snprintf(gzname, sizeof gzname, "%s.gz", base);
    snprintf(dotgz, sizeof dotgz, "%s.gz", dotted);
    const char *cand[4] = {gzname, base, dotted, dotgz};
    for (int i = 0; i < 4; i++) {
        char *p = hs_path_join(dir, cand[i]);
        if (!p)
            return HS_ERR_NOMEM;
        if (hs_path_is_file(p)) {
            *out = p;
            return HS_OK;
        }
        free(p);
    }
    return hs_fail(HS_ERR_IO, "no %s in '%s' (looked for %s, %s, %s and %s)", base, dir, gzname,
                   base, dotted, dotgz);
}

static hs_status load_pair(hs_dataset *d, const char *dir, const char *img_base,
                           const char *lab_base, size_t classes)
{
    char *ip = NULL, *lp = NULL;
    hs_status st = find_idx(&ip, dir, img_base);
    if (!st)
        st = find_idx(&lp, dir, lab_base);
    if (!st)
        st = hs_idx_load(d, ip, lp, classes);
    free(ip);
    free(lp);
    return st;
}

hs_status hs_idx_load_dir(hs_dataset *train, hs_dataset *test, const char *dir, size_t classes)
{
    hs_status st = load_pair(train, dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", classes);
    if (st)
        return st;
    st = load_pair(test, dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", classes);
    if (st) {
        hs_dataset_free(train);
        return st;
    }
    if (test->height != train->height || test->width != train->width) {
        st = hs_fail(HS_ERR_FORMAT, "'%s': test images are %zux%zu but training images %zux%zu",
                     dir, test->height, test->width, train->height, train->width);
        hs_dataset_free(train);
        hs_dataset_free(test);
    }
    return st;
}

hs_status hs_idx_write(const char *images_path, const char *labels_path, const hs_dataset *d,
                       int gzip)
{
    if (!images_path || !labels_path || !d || !d->pixels || !d->labels)
        return hs_fail(HS_ERR_NULL, "hs_idx_write: NULL argument");
    if (d->channels != 1 || d->count == 0 || d->count > UINT32_MAX || d->height == 0 ||
        d->height > UINT32_MAX || d->width == 0 || d->width > UINT32_MAX)
        return hs_fail(HS_ERR_SIZE, "hs_idx_write: IDX needs 1 channel and sizes in [1, 2^32)");
    for (size_t i = 0; i < d->count; i++)
        if (d->labels[i] < 0 || d->labels[i] > 255)
            return hs_fail(HS_ERR_LABEL, "hs_idx_write: label %d of item %zu does not fit a byte",
                           (int)d->labels[i], i);
    /* both files complete before either replaces an old one */
    hs_outstream im, lb;
    unsigned char h[16];
    put_be32(h, 0x00000803u);
    put_be32(h + 4, (uint32_t)d->count);
    put_be32(h + 8, (uint32_t)d->height);
    put_be32(h + 12, (uint32_t)d->width);
    hs_status st = hs_outstream_open(&im, images_path, gzip);
    if (st)
        return st;
    st = hs_outstream_open(&lb, labels_path, gzip);
    if (st) {
        hs_outstream_abort(&im);
        return st;
    }
    st = hs_outstream_write(&im, h, 16);
    if (!st)
        st = hs_outstream_write(&im, d->pixels, d->count * d->height * d->width);
    put_be32(h, 0x00000801u);
    if (!st)
        st = hs_outstream_write(&lb, h, 8);
    unsigned char buf[4096];
    for (size_t i = 0; !st && i < d->count; i += sizeof buf) {
        size_t n = d->count - i < sizeof buf ? d->count - i : sizeof buf;
        for (size_t j = 0; j < n; j++)
            buf[j] = (unsigned char)d->labels[i + j];
        st = hs_outstream_write(&lb, buf, n);
    }
    if (!st)
        st = hs_outstream_finish(&im);
    if (!st)
        st = hs_outstream_finish(&lb);
    if (st) {
        hs_outstream_abort(&im);
        hs_outstream_abort(&lb);
        return st;
    }
    hs_atomic_file *both[2] = {&im.af, &lb.af};
    return hs_atomic_commit_all(both, 2);
}
