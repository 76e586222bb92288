/* Data layer: IDX and CIFAR-10 readers (round trips, real Fashion-MNIST when installed, and
 * rejection of every kind of bad file), the stratified split and subsets, epoch shuffles,
 * and the augmentation / normalization of batches. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "hypersimplex.h"
#include "hypersimplex/data.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */
/* ------------------------------------------------------------------------- */

static char tmpdir[256];

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int setup_tmp(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/hs_test_data_XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    remove_tree(tmpdir);
    return 0;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    unsigned char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    if (n)
        assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A small synthetic data set: pixels from a simple hash, labels with unequal class sizes. */
static hs_dataset make_set(size_t count, size_t c, size_t h, size_t w, size_t classes, unsigned salt)
{
    hs_dataset d = {count, c, h, w, classes, NULL, NULL};
    d.pixels = malloc(count * c * h * w);
    d.labels = malloc(count * sizeof *d.labels);
    assert_non_null(d.pixels);
    assert_non_null(d.labels);
    for (size_t i = 0; i < count * c * h * w; i++)
        d.pixels[i] = (uint8_t)((i * 2654435761u + salt) >> 7);
    for (size_t i = 0; i < count; i++)
        d.labels[i] = (int32_t)(((i * 7 + salt) % (classes * (classes + 1) / 2)) % classes);
    return d;
}

static void assert_same_set(const hs_dataset *a, const hs_dataset *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->channels, b->channels);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->classes, b->classes);
    assert_memory_equal(a->pixels, b->pixels, a->count * a->channels * a->height * a->width);
    assert_memory_equal(a->labels, b->labels, a->count * sizeof *a->labels);
}

static void assert_error_mentions(const char *needle)
{
    const char *msg = hs_last_error();
    if (!strstr(msg, needle))
        fail_msg("error message \"%s\" does not mention \"%s\"", msg, needle);
}

static void assert_empty(const hs_dataset *d)
{
    assert_int_equal(d->count, 0);
    assert_null(d->pixels);
    assert_null(d->labels);
}

/* IDX bytes for images (count x rows x cols) with the given magic and content. */
static unsigned char *idx_images(size_t *n, uint32_t magic, uint32_t count, uint32_t rows,
                                 uint32_t cols, size_t data_bytes)
{
    unsigned char *b = calloc(16 + data_bytes, 1);
    assert_non_null(b);
    put_be32(b, magic);
    put_be32(b + 4, count);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    for (size_t i = 0; i < data_bytes; i++)
        b[16 + i] = (unsigned char)(i * 31);
    *n = 16 + data_bytes;
    return b;
}

static unsigned char *idx_labels(size_t *n, uint32_t magic, uint32_t count, size_t data_bytes,
                                 unsigned classes)
{
    unsigned char *b = calloc(8 + data_bytes, 1);
    assert_non_null(b);
    put_be32(b, magic);
    put_be32(b + 4, count);
    for (size_t i = 0; i < data_bytes; i++)
        b[8 + i] = (unsigned char)(i % classes);
    *n = 8 + data_bytes;
    return b;
}

/* Loads images_name / labels_name from tmpdir and expects failure `want` mentioning `needle`. */
static void expect_idx_failure(const char *images_name, const char *labels_name, hs_status want,
                               const char *needle)
{
    char ip[512], lp[512];
    path_in(ip, sizeof ip, images_name);
    path_in(lp, sizeof lp, labels_name);
    hs_dataset d;
    memset(&d, 0x5a, sizeof d);
    hs_status st = hs_idx_load(&d, ip, lp, 10);
    if (st != want)
        fail_msg("%s + %s: status %d (%s), expected %d; message: %s", images_name, labels_name,
                 (int)st, hs_status_string(st), (int)want, hs_last_error());
    assert_empty(&d);
    assert_error_mentions(needle);
}

/* A valid pair good-images / good-labels with 6 images of 5x4 in tmpdir. */
static void write_good_pair(void)
{
    char p[512];
    size_t n;
    unsigned char *b = idx_images(&n, 0x803, 6, 5, 4, 6 * 20);
    path_in(p, sizeof p, "good-images");
    write_bytes(p, b, n);
    free(b);
    b = idx_labels(&n, 0x801, 6, 6, 10);
    path_in(p, sizeof p, "good-labels");
    write_bytes(p, b, n);
    free(b);
}

/* ------------------------------------------------------------------------- */
/* names and the real data set                                               */
/* ------------------------------------------------------------------------- */

static void test_kind_names(void **state)
{
    (void)state;
    hs_data_kind k;
    assert_int_equal(hs_data_kind_parse(&k, "fashion-mnist"), HS_OK);
    assert_int_equal(k, HS_DATA_FASHION_MNIST);
    assert_int_equal(hs_data_kind_parse(&k, "mnist"), HS_OK);
    assert_int_equal(k, HS_DATA_MNIST);
    assert_int_equal(hs_data_kind_parse(&k, "cifar10"), HS_OK);
    assert_int_equal(k, HS_DATA_CIFAR10);
    assert_int_equal(hs_data_kind_parse(&k, "imagenet"), HS_ERR_ARG);
    assert_error_mentions("imagenet");
    assert_int_equal(hs_data_kind_parse(NULL, "mnist"), HS_ERR_NULL);
    assert_string_equal(hs_data_kind_name(HS_DATA_CIFAR10), "cifar10");
    assert_string_equal(hs_data_default_dir(HS_DATA_FASHION_MNIST), FASHION_DIR);
}

static void test_real_fashion_mnist(void **state)
{
    (void)state;
    struct stat sb;
    if (stat(FASHION_DIR, &sb) != 0) {
        printf("skipped: %s does not exist (install the Debian package dataset-fashion-mnist)\n",
               FASHION_DIR);
        skip();
    }
    hs_dataset train, test;
    hs_status st = hs_dataset_load(&train, &test, HS_DATA_FASHION_MNIST, NULL);
    if (st)
        fail_msg("loading %s: %s", FASHION_DIR, hs_last_error());
    assert_int_equal(train.count, 60000);
    assert_int_equal(test.count, 10000);
    assert_int_equal(train.channels, 1);
    assert_int_equal(train.height, 28);
    assert_int_equal(train.width, 28);
    assert_int_equal(train.classes, 10);
    size_t counts[10];
    assert_int_equal(hs_dataset_class_counts(counts, &train), HS_OK);
    for (int c = 0; c < 10; c++)
        assert_int_equal(counts[c], 6000);
    assert_int_equal(hs_dataset_class_counts(counts, &test), HS_OK);
    for (int c = 0; c < 10; c++)
        assert_int_equal(counts[c], 1000);
    /* The images are not blank: mean intensity near the published 0.2860. */
    double sum = 0;
    for (size_t i = 0; i < train.count * 784; i++)
        sum += train.pixels[i];
    double mean = sum / (double)(train.count * 784) / 255.0;
    assert_true(fabs(mean - 0.2860) < 0.0005);

    /* The stratified 10% validation split takes exactly 600 images of each class. */
    size_t *tr = malloc(train.count * sizeof *tr), *va = malloc(train.count * sizeof *va);
    size_t ntr, nva;
    assert_non_null(tr);
    assert_non_null(va);
    assert_int_equal(hs_split_stratified(tr, &ntr, va, &nva, &train, 0.1, 1), HS_OK);
    assert_int_equal(ntr, 54000);
    assert_int_equal(nva, 6000);
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < nva; i++)
        counts[train.labels[va[i]]]++;
    for (int c = 0; c < 10; c++)
        assert_int_equal(counts[c], 600);
    free(tr);
    free(va);
    hs_dataset_free(&train);
    hs_dataset_free(&test);
    assert_empty(&train);
}

/* ------------------------------------------------------------------------- */
/* round trips                                                               */
/* ------------------------------------------------------------------------- */

static void test_idx_roundtrip(void **state)
{
    (void)state;
    hs_dataset d = make_set(37, 1, 7, 5, 10, 3);
    char ip[512], lp[512];
    for (int gz = 0; gz <= 1; gz++) {
        path_in(ip, sizeof ip, gz ? "rt-images.gz" : "rt-images");
        path_in(lp, sizeof lp, gz ? "rt-labels.gz" : "rt-labels");
        assert_int_equal(hs_idx_write(ip, lp, &d, gz), HS_OK);
        size_t n;
        unsigned char *b = read_bytes(ip, &n);
        if (gz) {
            assert_int_equal(b[0], 0x1f);
            assert_int_equal(b[1], 0x8b);
        } else {
            /* the format itself: big-endian magic and sizes, then the pixels */
            assert_int_equal(n, 16 + 37 * 35);
            static const unsigned char head[16] = {0, 0, 8, 3, 0, 0, 0, 37, 0, 0, 0, 7, 0, 0, 0, 5};
            assert_memory_equal(b, head, 16);
            assert_memory_equal(b + 16, d.pixels, 37 * 35);
        }
        free(b);
        hs_dataset r;
        assert_int_equal(hs_idx_load(&r, ip, lp, 10), HS_OK);
        assert_same_set(&d, &r);
        hs_dataset_free(&r);
    }
    /* gzip data made by zlib's gz* functions (as gzip(1) makes them) read the same */
    size_t n;
    path_in(ip, sizeof ip, "rt-images");
    unsigned char *b = read_bytes(ip, &n);
    path_in(ip, sizeof ip, "rt2-images.gz");
    write_gz(ip, b, n);
    free(b);
    path_in(lp, sizeof lp, "rt-labels");
    hs_dataset r;
    assert_int_equal(hs_idx_load(&r, ip, lp, 10), HS_OK);
    assert_same_set(&d, &r);
    hs_dataset_free(&r);
    hs_dataset_free(&d);
}

static void test_idx_directory(void **state)
{
    (void)state;
    char dir[512], ip[600], lp[600];
    path_in(dir, sizeof dir, "mnistdir");
    assert_int_equal(mkdir(dir, 0700), 0);
    hs_dataset train, test;
    /* nothing there yet */
    assert_int_equal(hs_dataset_load(&train, &test, HS_DATA_MNIST, dir), HS_ERR_IO);
    assert_error_mentions("train-images-idx3-ubyte");
    assert_empty(&train);

    hs_dataset a = make_set(50, 1, 6, 6, 10, 1), b = make_set(20, 1, 6, 6, 10, 2);
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", dir);
    assert_int_equal(hs_idx_write(ip, lp, &a, 1), HS_OK);
    /* test set raw and with the dotted names of some MNIST copies */
    snprintf(ip, sizeof ip, "%s/t10k-images.idx3-ubyte", dir);
    snprintf(lp, sizeof lp, "%s/t10k-labels.idx1-ubyte", dir);
    assert_int_equal(hs_idx_write(ip, lp, &b, 0), HS_OK);
    assert_int_equal(hs_dataset_load(&train, &test, HS_DATA_FASHION_MNIST, dir), HS_OK);
    assert_same_set(&a, &train);
    assert_same_set(&b, &test);
    hs_dataset_free(&train);
    hs_dataset_free(&test);

    /* a test set of another image size is rejected */
    hs_dataset c = make_set(20, 1, 5, 6, 10, 2);
    assert_int_equal(hs_idx_write(ip, lp, &c, 0), HS_OK);
    assert_int_equal(hs_dataset_load(&train, &test, HS_DATA_MNIST, dir), HS_ERR_FORMAT);
    assert_error_mentions("5x6");
    assert_empty(&train);
    assert_empty(&test);
    hs_dataset_free(&a);
    hs_dataset_free(&b);
    hs_dataset_free(&c);
}

static void test_cifar_roundtrip(void **state)
{
    (void)state;
    char base[512], sub[600], p[700];
    path_in(base, sizeof base, "cifar");
    assert_int_equal(mkdir(base, 0700), 0);
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", base);
    assert_int_equal(mkdir(sub, 0700), 0);
    hs_dataset parts[6];
    for (int i = 0; i < 6; i++) {
        parts[i] = make_set((size_t)(3 + i), 3, 32, 32, 10, (unsigned)(10 + i));
        if (i < 5)
            snprintf(p, sizeof p, "%s/data_batch_%d.bin", sub, i + 1);
        else
            snprintf(p, sizeof p, "%s/test_batch.bin", sub);
        assert_int_equal(hs_cifar10_write(p, &parts[i]), HS_OK);
    }
    /* the record layout: label byte, then R, G, B planes of 32x32 row-major */
    size_t n;
    snprintf(p, sizeof p, "%s/data_batch_2.bin", sub);
    unsigned char *b = read_bytes(p, &n);
    assert_int_equal(n, 4 * 3073);
    assert_int_equal(b[3073], (unsigned char)parts[1].labels[1]);
    assert_int_equal(b[3073 + 1 + 1024 * 2 + 32 * 5 + 7], parts[1].pixels[3072 + 1024 * 2 + 32 * 5 + 7]);
    free(b);

    hs_dataset train, test;
    /* found both in base/cifar-10-batches-bin and in the batches directory itself */
    for (int where = 0; where < 2; where++) {
        assert_int_equal(hs_dataset_load(&train, &test, HS_DATA_CIFAR10, where ? sub : base), HS_OK);
        assert_int_equal(train.count, 3 + 4 + 5 + 6 + 7);
        assert_int_equal(train.channels, 3);
        assert_int_equal(train.height, 32);
        assert_int_equal(train.width, 32);
        assert_int_equal(train.classes, 10);
        size_t at = 0;
        for (int i = 0; i < 5; i++) {
            assert_memory_equal(train.pixels + at * 3072, parts[i].pixels, parts[i].count * 3072);
            assert_memory_equal(train.labels + at, parts[i].labels, parts[i].count * sizeof(int32_t));
            at += parts[i].count;
        }
        assert_same_set(&parts[5], &test);
        hs_dataset_free(&train);
        hs_dataset_free(&test);
    }
    /* a missing batch */
    snprintf(p, sizeof p, "%s/data_batch_4.bin", sub);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(hs_dataset_load(&train, &test, HS_DATA_CIFAR10, base), HS_ERR_IO);
    assert_error_mentions("data_batch_4.bin");
    assert_empty(&train);
    assert_empty(&test);
    /* no CIFAR files at all */
    assert_int_equal(hs_dataset_load(&train, &test, HS_DATA_CIFAR10, tmpdir), HS_ERR_IO);
    assert_error_mentions("test_batch.bin");
    for (int i = 0; i < 6; i++)
        hs_dataset_free(&parts[i]);
}

/* ------------------------------------------------------------------------- */
/* bad files                                                                 */
/* ------------------------------------------------------------------------- */

static void test_idx_rejects(void **state)
{
    (void)state;
    char p[512];
    size_t n;
    unsigned char *b;
    write_good_pair();
    {   /* the good pair itself loads */
        char ip[512], lp[512];
        path_in(ip, sizeof ip, "good-images");
        path_in(lp, sizeof lp, "good-labels");
        hs_dataset d;
        assert_int_equal(hs_idx_load(&d, ip, lp, 10), HS_OK);
        assert_int_equal(d.count, 6);
        hs_dataset_free(&d);
    }

    /* wrong magic: a labels file given as images, a 2-byte element type, random bytes */
    expect_idx_failure("good-labels", "good-labels", HS_ERR_FORMAT, "bad magic number 0x00000801");
    expect_idx_failure("good-images", "good-images", HS_ERR_FORMAT, "bad magic number 0x00000803");
    b = idx_images(&n, 0x0b03, 6, 5, 4, 120);
    path_in(p, sizeof p, "magic-type");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("magic-type", "good-labels", HS_ERR_FORMAT, "magic-type");
    expect_idx_failure("magic-type", "good-labels", HS_ERR_FORMAT, "0x00000b03");

    /* truncated: inside the header, inside the pixels, inside the labels */
    b = idx_images(&n, 0x803, 6, 5, 4, 120);
    path_in(p, sizeof p, "trunc-header");
    write_bytes(p, b, 10);
    expect_idx_failure("trunc-header", "good-labels", HS_ERR_FORMAT, "truncated");
    path_in(p, sizeof p, "trunc-pixels");
    write_bytes(p, b, n - 1);
    expect_idx_failure("trunc-pixels", "good-labels", HS_ERR_FORMAT, "truncated");
    expect_idx_failure("trunc-pixels", "good-labels", HS_ERR_FORMAT, "ends at byte 135");
    /* oversized: one byte of trailing garbage */
    unsigned char *b2 = malloc(n + 1);
    assert_non_null(b2);
    memcpy(b2, b, n);
    b2[n] = 0;
    path_in(p, sizeof p, "oversized");
    write_bytes(p, b2, n + 1);
    expect_idx_failure("oversized", "good-labels", HS_ERR_FORMAT, "oversized");
    free(b2);
    free(b);
    b = idx_labels(&n, 0x801, 6, 5, 10);
    path_in(p, sizeof p, "trunc-labels");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("good-images", "trunc-labels", HS_ERR_FORMAT, "trunc-labels");
    expect_idx_failure("good-images", "trunc-labels", HS_ERR_FORMAT, "truncated");

    /* label out of range */
    b = idx_labels(&n, 0x801, 6, 6, 10);
    b[8 + 4] = 10;
    path_in(p, sizeof p, "bad-label");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("good-images", "bad-label", HS_ERR_FORMAT, "label 10 of item 4");

    /* absurd dimensions, rejected from the header alone (the files hold no pixels) */
    b = idx_images(&n, 0x803, 0xffffffffu, 28, 28, 0);
    path_in(p, sizeof p, "absurd-count");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("absurd-count", "good-labels", HS_ERR_FORMAT, "image count 4294967295");
    b = idx_images(&n, 0x803, 6, 0, 4, 0);
    path_in(p, sizeof p, "zero-rows");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("zero-rows", "good-labels", HS_ERR_FORMAT, "rows 0");
    b = idx_images(&n, 0x803, 6, 5, 100000, 0);
    path_in(p, sizeof p, "huge-cols");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("huge-cols", "good-labels", HS_ERR_FORMAT, "columns 100000");
    b = idx_images(&n, 0x803, 60000000, 4000, 4000, 0);
    path_in(p, sizeof p, "huge-total");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("huge-total", "good-labels", HS_ERR_FORMAT, "exceed");
    /* a header that promises more data than the file has (valid sizes, few bytes) */
    b = idx_images(&n, 0x803, 1000000, 28, 28, 100);
    path_in(p, sizeof p, "promises");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("promises", "good-labels", HS_ERR_FORMAT, "truncated");

    /* image / label count mismatch */
    b = idx_labels(&n, 0x801, 7, 7, 10);
    path_in(p, sizeof p, "seven-labels");
    write_bytes(p, b, n);
    free(b);
    expect_idx_failure("good-images", "seven-labels", HS_ERR_FORMAT, "6 images");
    expect_idx_failure("good-images", "seven-labels", HS_ERR_FORMAT, "7 labels");

    /* empty and missing files */
    path_in(p, sizeof p, "empty");
    write_bytes(p, NULL, 0);
    expect_idx_failure("empty", "good-labels", HS_ERR_FORMAT, "empty");
    expect_idx_failure("good-images", "empty", HS_ERR_FORMAT, "empty");
    expect_idx_failure("no-such-file", "good-labels", HS_ERR_IO, "no-such-file");
    expect_idx_failure("good-images", "no-such-labels", HS_ERR_IO, "no-such-labels");

    /* arguments */
    hs_dataset d;
    assert_int_equal(hs_idx_load(&d, NULL, "x", 10), HS_ERR_NULL);
    assert_int_equal(hs_idx_load(&d, "x", "y", 0), HS_ERR_ARG);
}

static void test_gzip_rejects(void **state)
{
    (void)state;
    char p[512];
    size_t n;
    write_good_pair();
    /* a bigger, incompressible image file so that corruption lands inside the data */
    unsigned char *b = idx_images(&n, 0x803, 50, 20, 20, 50 * 400);
    for (size_t i = 16; i < n; i++)
        b[i] = (unsigned char)((i * 2654435761u) >> 13);
    path_in(p, sizeof p, "ok.gz");
    write_gz(p, b, n);
    size_t gn;
    unsigned char *g = read_bytes(p, &gn);
    {   /* it loads: 50 images need 50 labels */
        unsigned char *l = idx_labels(&n, 0x801, 50, 50, 10);
        char lp[512], ip[512];
        path_in(lp, sizeof lp, "fifty-labels");
        write_bytes(lp, l, n);
        free(l);
        path_in(ip, sizeof ip, "ok.gz");
        hs_dataset d;
        assert_int_equal(hs_idx_load(&d, ip, lp, 10), HS_OK);
        assert_int_equal(d.count, 50);
        assert_memory_equal(d.pixels, b + 16, 50 * 400);
        hs_dataset_free(&d);
    }

    /* corrupt: flip bits in the middle of the compressed data */
    unsigned char *c = malloc(gn);
    assert_non_null(c);
    memcpy(c, g, gn);
    for (size_t i = gn / 2; i < gn / 2 + 8; i++)
        c[i] ^= 0x55;
    path_in(p, sizeof p, "corrupt.gz");
    write_bytes(p, c, gn);
    expect_idx_failure("corrupt.gz", "fifty-labels", HS_ERR_FORMAT, "corrupt.gz");
    /* corrupt checksum only: the data decompress but the CRC-32 in the trailer is wrong */
    memcpy(c, g, gn);
    c[gn - 8] ^= 0xff;
    path_in(p, sizeof p, "crc.gz");
    write_bytes(p, c, gn);
    expect_idx_failure("crc.gz", "fifty-labels", HS_ERR_FORMAT, "corrupt gzip");
    /* not gzip after the magic bytes */
    memcpy(c, g, gn);
    c[2] = 0x07; /* compression method must be 8 (deflate) */
    path_in(p, sizeof p, "method.gz");
    write_bytes(p, c, gn);
    expect_idx_failure("method.gz", "fifty-labels", HS_ERR_FORMAT, "corrupt gzip");
    /* truncated compressed stream */
    path_in(p, sizeof p, "trunc.gz");
    write_bytes(p, g, gn - 20);
    expect_idx_failure("trunc.gz", "fifty-labels", HS_ERR_FORMAT, "truncated gzip");
    path_in(p, sizeof p, "tiny.gz");
    write_bytes(p, g, 2);
    expect_idx_failure("tiny.gz", "fifty-labels", HS_ERR_FORMAT, "truncated gzip");
    /* trailing garbage after the gzip stream */
    unsigned char *t = malloc(gn + 5);
    assert_non_null(t);
    memcpy(t, g, gn);
    memcpy(t + gn, "junk!", 5);
    path_in(p, sizeof p, "garbage.gz");
    write_bytes(p, t, gn + 5);
    expect_idx_failure("garbage.gz", "fifty-labels", HS_ERR_FORMAT, "trailing garbage");
    free(t);
    /* decompressed data longer than the header says */
    free(b);
    b = idx_images(&n, 0x803, 50, 20, 20, 50 * 400 + 3);
    path_in(p, sizeof p, "long.gz");
    write_gz(p, b, n);
    expect_idx_failure("long.gz", "fifty-labels", HS_ERR_FORMAT, "oversized");
    /* decompressed data shorter than the header says (a complete, valid gzip stream) */
    path_in(p, sizeof p, "short.gz");
    write_gz(p, b, 16 + 50 * 400 - 1);
    expect_idx_failure("short.gz", "fifty-labels", HS_ERR_FORMAT, "truncated");
    /* an empty gzip stream */
    path_in(p, sizeof p, "empty.gz");
    write_gz(p, NULL, 0);
    expect_idx_failure("empty.gz", "fifty-labels", HS_ERR_FORMAT, "truncated");
    /* two concatenated gzip members (as `cat a.gz b.gz` makes) are one valid file */
    path_in(p, sizeof p, "part1.gz");
    write_gz(p, b, 1000);
    size_t n1;
    unsigned char *g1 = read_bytes(p, &n1);
    path_in(p, sizeof p, "part2.gz");
    write_gz(p, b + 1000, 16 + 50 * 400 - 1000);
    size_t n2;
    unsigned char *g2 = read_bytes(p, &n2);
    unsigned char *cat = malloc(n1 + n2);
    assert_non_null(cat);
    memcpy(cat, g1, n1);
    memcpy(cat + n1, g2, n2);
    path_in(p, sizeof p, "members.gz");
    write_bytes(p, cat, n1 + n2);
    {
        char ip[512], lp[512];
        path_in(ip, sizeof ip, "members.gz");
        path_in(lp, sizeof lp, "fifty-labels");
        hs_dataset d;
        assert_int_equal(hs_idx_load(&d, ip, lp, 10), HS_OK);
        assert_memory_equal(d.pixels, b + 16, 50 * 400);
        hs_dataset_free(&d);
    }
    free(cat);
    free(g1);
    free(g2);
    free(b);
    free(c);
    free(g);
}

static void test_cifar_rejects(void **state)
{
    (void)state;
    char p[512];
    hs_dataset good = make_set(4, 3, 32, 32, 10, 5), d;
    path_in(p, sizeof p, "c-good.bin");
    assert_int_equal(hs_cifar10_write(p, &good), HS_OK);
    size_t n;
    unsigned char *b = read_bytes(p, &n);
    const char *one[1] = {p};

    /* truncated: the last record misses a byte */
    path_in(p, sizeof p, "c-trunc.bin");
    write_bytes(p, b, n - 1);
    memset(&d, 0x5a, sizeof d);
    assert_int_equal(hs_cifar10_load_files(&d, one, 1, 0), HS_ERR_FORMAT);
    assert_error_mentions("c-trunc.bin");
    assert_error_mentions("record 3");
    assert_empty(&d);
    /* oversized: more records than allowed per file (the official files hold 10000) */
    path_in(p, sizeof p, "c-good.bin");
    assert_int_equal(hs_cifar10_load_files(&d, one, 1, 3), HS_ERR_FORMAT);
    assert_error_mentions("oversized");
    assert_empty(&d);
    assert_int_equal(hs_cifar10_load_files(&d, one, 1, 4), HS_OK);
    assert_same_set(&good, &d);
    hs_dataset_free(&d);
    /* label out of range */
    unsigned char keep = b[3073 * 2];
    b[3073 * 2] = 10;
    path_in(p, sizeof p, "c-label.bin");
    write_bytes(p, b, n);
    b[3073 * 2] = keep;
    assert_int_equal(hs_cifar10_load_files(&d, one, 1, 0), HS_ERR_FORMAT);
    assert_error_mentions("label 10 of record 2");
    assert_empty(&d);
    /* empty and missing */
    path_in(p, sizeof p, "c-empty.bin");
    write_bytes(p, NULL, 0);
    assert_int_equal(hs_cifar10_load_files(&d, one, 1, 0), HS_ERR_FORMAT);
    assert_error_mentions("empty");
    path_in(p, sizeof p, "c-missing.bin");
    assert_int_equal(hs_cifar10_load_files(&d, one, 1, 0), HS_ERR_IO);
    assert_error_mentions("c-missing.bin");
    assert_empty(&d);
    /* a file that is an IDX file, not CIFAR: its size is not a multiple of 3073 */
    write_good_pair();
    path_in(p, sizeof p, "good-images");
    assert_int_equal(hs_cifar10_load_files(&d, one, 1, 0), HS_ERR_FORMAT);
    assert_error_mentions("truncated");
    free(b);
    hs_dataset_free(&good);
}

/* ------------------------------------------------------------------------- */
/* split, subset, shuffle                                                    */
/* ------------------------------------------------------------------------- */

/* 5 classes of sizes 40, 53, 66, 79, 92 (330 images), labels interleaved. */
static hs_dataset unequal_set(void)
{
    hs_dataset d = make_set(330, 1, 2, 2, 5, 0);
    size_t left[5] = {40, 53, 66, 79, 92};
    size_t c = 0;
    for (size_t i = 0; i < d.count; i++) {
        while (left[c] == 0)
            c = (c + 1) % 5;
        d.labels[i] = (int32_t)c;
        left[c]--;
        c = (c + 1 + i % 3) % 5;
    }
    return d;
}

static void check_split(const hs_dataset *d, double f, uint64_t seed, size_t *va_out)
{
    size_t N = d->count;
    size_t *tr = malloc(N * sizeof *tr), *va = malloc(N * sizeof *va);
    assert_non_null(tr);
    assert_non_null(va);
    size_t ntr, nva;
    assert_int_equal(hs_split_stratified(tr, &ntr, va, &nva, d, f, seed), HS_OK);
    assert_int_equal(nva, (size_t)llround(f * (double)N));
    assert_int_equal(ntr + nva, N);
    /* disjoint and covering, both increasing */
    unsigned char *seen = calloc(N, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < ntr; i++) {
        assert_true(tr[i] < N);
        assert_int_equal(seen[tr[i]], 0);
        seen[tr[i]] = 1;
        if (i)
            assert_true(tr[i] > tr[i - 1]);
    }
    for (size_t i = 0; i < nva; i++) {
        assert_true(va[i] < N);
        assert_int_equal(seen[va[i]], 0);
        seen[va[i]] = 2;
        if (i)
            assert_true(va[i] > va[i - 1]);
    }
    for (size_t i = 0; i < N; i++)
        assert_true(seen[i] != 0);
    /* stratified: each class's share is its exact share rounded down or up */
    size_t counts[16] = {0}, vc[16] = {0};
    for (size_t i = 0; i < N; i++)
        counts[d->labels[i]]++;
    for (size_t i = 0; i < nva; i++)
        vc[d->labels[va[i]]]++;
    for (size_t c = 0; c < d->classes; c++) {
        double exact = (double)nva * (double)counts[c] / (double)N;
        if (!((double)vc[c] >= floor(exact) && (double)vc[c] <= ceil(exact)))
            fail_msg("class %zu: %zu of %zu in validation, exact share %.3f", c, vc[c], counts[c], exact);
    }
    if (va_out)
        memcpy(va_out, va, nva * sizeof *va);
    free(seen);
    free(tr);
    free(va);
}

static void test_split(void **state)
{
    (void)state;
    hs_dataset d = unequal_set();
    size_t a[330], b[330], c[330];
    check_split(&d, 0.1, 7, a);
    check_split(&d, 0.1, 7, b);
    assert_memory_equal(a, b, 33 * sizeof *a);        /* deterministic in the seed */
    check_split(&d, 0.1, 8, c);
    assert_true(memcmp(a, c, 33 * sizeof *a) != 0);   /* another seed, another split */
    check_split(&d, 0.25, 7, NULL);
    check_split(&d, 0.5, 123456789, NULL);
    check_split(&d, 0.003, 1, NULL);                  /* 1 image */
    check_split(&d, 0.0, 1, NULL);                    /* empty validation set */

    size_t tr[330], va[330], ntr, nva;
    assert_int_equal(hs_split_stratified(tr, &ntr, va, &nva, &d, 1.0, 1), HS_ERR_ARG);
    assert_int_equal(hs_split_stratified(tr, &ntr, va, &nva, &d, -0.1, 1), HS_ERR_ARG);
    assert_int_equal(hs_split_stratified(tr, &ntr, va, &nva, &d, NAN, 1), HS_ERR_ARG);
    assert_int_equal(hs_split_stratified(tr, &ntr, va, &nva, &d, 0.9999, 1), HS_ERR_ARG);
    assert_int_equal(hs_split_stratified(NULL, &ntr, va, &nva, &d, 0.1, 1), HS_ERR_NULL);
    d.labels[17] = 5;
    assert_int_equal(hs_split_stratified(tr, &ntr, va, &nva, &d, 0.1, 1), HS_ERR_LABEL);
    hs_dataset_free(&d);
}

static void test_subset(void **state)
{
    (void)state;
    hs_dataset d = unequal_set(), e = unequal_set(), f = unequal_set();
    size_t before[5];
    assert_int_equal(hs_dataset_class_counts(before, &d), HS_OK);
    assert_int_equal(hs_dataset_subset(&d, 100, 3), HS_OK);
    assert_int_equal(d.count, 100);
    size_t after[5];
    assert_int_equal(hs_dataset_class_counts(after, &d), HS_OK);
    for (int c = 0; c < 5; c++) {
        double exact = 100.0 * (double)before[c] / 330.0;
        assert_true((double)after[c] >= floor(exact) && (double)after[c] <= ceil(exact));
    }
    /* the kept images are whole images of the original, in their original order */
    hs_dataset orig = unequal_set();
    size_t j = 0;
    for (size_t i = 0; i < d.count; i++) {
        while (j < orig.count && memcmp(orig.pixels + 4 * j, d.pixels + 4 * i, 4) != 0)
            j++;
        assert_true(j < orig.count);
        assert_int_equal(orig.labels[j], d.labels[i]);
        j++;
    }
    assert_int_equal(hs_dataset_subset(&e, 100, 3), HS_OK);
    assert_same_set(&d, &e);
    assert_int_equal(hs_dataset_subset(&f, 100, 4), HS_OK);
    assert_true(memcmp(d.pixels, f.pixels, 400) != 0);
    /* no-ops and errors */
    assert_int_equal(hs_dataset_subset(&e, 100, 3), HS_OK);
    assert_int_equal(e.count, 100);
    /* more than the set holds is refused, not silently all of it */
    assert_int_equal(hs_dataset_subset(&e, 1000, 3), HS_ERR_SIZE);
    assert_non_null(strstr(hs_last_error(), "holds only 100"));
    assert_int_equal(e.count, 100);
    assert_int_equal(hs_dataset_subset(&e, 0, 3), HS_ERR_SIZE);
    /* head keeps the first images */
    assert_int_equal(hs_dataset_head(&orig, 10), HS_OK);
    assert_int_equal(orig.count, 10);
    hs_dataset g = unequal_set();
    assert_memory_equal(orig.pixels, g.pixels, 40);
    assert_memory_equal(orig.labels, g.labels, 10 * sizeof(int32_t));
    hs_dataset_free(&g);
    hs_dataset_free(&orig);
    hs_dataset_free(&d);
    hs_dataset_free(&e);
    hs_dataset_free(&f);
}

static void test_shuffle(void **state)
{
    (void)state;
    enum { N = 1000 };
    size_t a[N], b[N], c[N], e[N];
    for (size_t i = 0; i < N; i++)
        a[i] = b[i] = c[i] = e[i] = i + 5;
    hs_shuffle_indices(a, N, 42, 3);
    hs_shuffle_indices(b, N, 42, 3);
    hs_shuffle_indices(c, N, 42, 4);
    hs_shuffle_indices(e, N, 43, 3);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, sizeof a) != 0);
    assert_true(memcmp(a, e, sizeof a) != 0);
    /* a permutation of the input, and really shuffled */
    unsigned char seen[N] = {0};
    size_t fixed = 0;
    for (size_t i = 0; i < N; i++) {
        assert_true(a[i] >= 5 && a[i] < N + 5);
        assert_int_equal(seen[a[i] - 5], 0);
        seen[a[i] - 5] = 1;
        fixed += a[i] == i + 5;
    }
    assert_true(fixed < 10);
    /* every position gets every value: the first slot over many epochs */
    size_t hits[4] = {0};
    for (uint64_t ep = 0; ep < 4000; ep++) {
        size_t s[4] = {0, 1, 2, 3};
        hs_shuffle_indices(s, 4, 9, ep);
        hits[s[0]]++;
    }
    for (int v = 0; v < 4; v++)
        assert_true(hits[v] > 850 && hits[v] < 1150);
    hs_shuffle_indices(NULL, 0, 1, 1); /* harmless */
}

/* ------------------------------------------------------------------------- */
/* augmentation and normalization                                            */
/* ------------------------------------------------------------------------- */

/* Raw pixel values back from a batch normalized with mean 0, std 1. */
static void to_bytes(int *out, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (int)lrintf(x[i] * 255.0f);
}

static void test_augment_known_image(void **state)
{
    (void)state;
    /* the 4x4 image with pixel (y, x) = 4y + x, padding 2 */
    uint8_t img[16];
    for (int i = 0; i < 16; i++)
        img[i] = (uint8_t)i;
    const float zero = 0.0f, one = 1.0f;
    float out[16];
    int got[16];
    /* offset (0, 0): rows and columns -2, -1, 0, 1 reflect to 2, 1, 0, 1 (numpy/torch
     * 'reflect': the edge is not repeated) */
    static const int top_left[16] = {10, 9, 8, 9, 6, 5, 4, 5, 2, 1, 0, 1, 6, 5, 4, 5};
    assert_int_equal(hs_augment_image(out, img, 1, 4, 4, 2, 0, 0, 0, &zero, &one), HS_OK);
    to_bytes(got, out, 16);
    assert_memory_equal(got, top_left, sizeof got);
    /* offset (4, 3): rows 2, 3, 4, 5 -> 2, 3, 2, 1; columns 1, 2, 3, 4 -> 1, 2, 3, 2 */
    static const int off43[16] = {9, 10, 11, 10, 13, 14, 15, 14, 9, 10, 11, 10, 5, 6, 7, 6};
    assert_int_equal(hs_augment_image(out, img, 1, 4, 4, 2, 4, 3, 0, &zero, &one), HS_OK);
    to_bytes(got, out, 16);
    assert_memory_equal(got, off43, sizeof got);
    /* the same crop, flipped horizontally after cropping */
    static const int off43f[16] = {10, 11, 10, 9, 14, 15, 14, 13, 10, 11, 10, 9, 6, 7, 6, 5};
    assert_int_equal(hs_augment_image(out, img, 1, 4, 4, 2, 4, 3, 1, &zero, &one), HS_OK);
    to_bytes(got, out, 16);
    assert_memory_equal(got, off43f, sizeof got);
    /* centre crop = the image; flipped = mirrored */
    assert_int_equal(hs_augment_image(out, img, 1, 4, 4, 2, 2, 2, 0, &zero, &one), HS_OK);
    to_bytes(got, out, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(got[i], i);
    assert_int_equal(hs_augment_image(out, img, 1, 4, 4, 2, 2, 2, 1, &zero, &one), HS_OK);
    to_bytes(got, out, 16);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            assert_int_equal(got[4 * y + x], 4 * y + 3 - x);
    /* channels are cropped alike and normalized each with its own mean / std */
    uint8_t img3[48];
    for (int i = 0; i < 48; i++)
        img3[i] = (uint8_t)(i % 16 + 100 * (i / 16));
    const float m3[3] = {0.0f, 0.1f, 0.2f}, s3[3] = {1.0f, 0.5f, 0.25f};
    float out3[48];
    assert_int_equal(hs_augment_image(out3, img3, 3, 4, 4, 2, 4, 3, 0, m3, s3), HS_OK);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 16; i++) {
            float want = ((float)(off43[i] + 100 * c) / 255.0f - m3[c]) / s3[c];
            assert_true(fabsf(out3[16 * c + i] - want) <= 1e-6f * fmaxf(1.0f, fabsf(want)));
        }
    /* invalid: padding as large as the image, offsets beyond 2 * pad, bad std */
    assert_int_equal(hs_augment_image(out, img, 1, 4, 4, 4, 0, 0, 0, &zero, &one), HS_ERR_SIZE);
    assert_int_equal(hs_augment_image(out, img, 1, 4, 4, 2, 5, 0, 0, &zero, &one), HS_ERR_ARG);
    assert_int_equal(hs_augment_image(out, img, 1, 4, 4, 2, 0, 0, 0, &zero, &zero), HS_ERR_ARG);
    assert_int_equal(hs_augment_image(NULL, img, 1, 4, 4, 2, 0, 0, 0, &zero, &one), HS_ERR_NULL);
}

static void test_normalization(void **state)
{
    (void)state;
    float mean[3], std[3];
    size_t ch, pad;
    assert_int_equal(hs_data_norm(mean, std, &ch, &pad, HS_DATA_FASHION_MNIST), HS_OK);
    assert_int_equal(ch, 1);
    assert_int_equal(pad, 3);
    assert_true(mean[0] == 0.2860f && std[0] == 0.3530f);
    assert_int_equal(hs_data_norm(mean, std, &ch, &pad, HS_DATA_MNIST), HS_OK);
    assert_true(mean[0] == 0.1307f && std[0] == 0.3081f && pad == 3);
    assert_int_equal(hs_data_norm(mean, std, &ch, &pad, HS_DATA_CIFAR10), HS_OK);
    assert_int_equal(ch, 3);
    assert_int_equal(pad, 4);
    assert_true(mean[0] == 0.4914f && mean[1] == 0.4822f && mean[2] == 0.4465f);
    assert_true(std[0] == 0.247f && std[1] == 0.243f && std[2] == 0.261f);

    /* a Fashion-MNIST-shaped batch without augmentation: pixel 0, 255 and 51 */
    hs_dataset d = make_set(3, 1, 28, 28, 10, 1);
    memset(d.pixels, 0, 784);
    memset(d.pixels + 784, 255, 784);
    memset(d.pixels + 2 * 784, 51, 784);
    size_t idx[3] = {0, 1, 2};
    float *x = malloc(3 * 784 * sizeof *x);
    int32_t y[3];
    assert_non_null(x);
    assert_int_equal(hs_make_batch(x, y, &d, HS_DATA_FASHION_MNIST, idx, 3, 0, 1, 0), HS_OK);
    const double want[3] = {-0.2860 / 0.3530, (1.0 - 0.2860) / 0.3530, (0.2 - 0.2860) / 0.3530};
    for (int i = 0; i < 3; i++)
        for (int p = 0; p < 784; p++)
            assert_true(fabs(x[i * 784 + p] - want[i]) < 1e-5);
    assert_memory_equal(y, d.labels, sizeof y);
    free(x);
    hs_dataset_free(&d);

    /* CIFAR-10: channel c of pixel value v is (v / 255 - mean[c]) / std[c] */
    hs_dataset c = make_set(2, 3, 32, 32, 10, 9);
    float *xc = malloc(2 * 3072 * sizeof *xc);
    assert_non_null(xc);
    size_t ic[2] = {1, 0};
    assert_int_equal(hs_make_batch(xc, y, &c, HS_DATA_CIFAR10, ic, 2, 0, 1, 0), HS_OK);
    const double cm[3] = {0.4914, 0.4822, 0.4465}, cs[3] = {0.247, 0.243, 0.261};
    for (int i = 0; i < 2; i++)
        for (int ch3 = 0; ch3 < 3; ch3++)
            for (int p = 0; p < 1024; p++) {
                double v = c.pixels[ic[i] * 3072 + (size_t)ch3 * 1024 + (size_t)p];
                double w = (v / 255.0 - cm[ch3]) / cs[ch3];
                assert_true(fabs(xc[i * 3072 + ch3 * 1024 + p] - w) < 1e-5);
            }
    assert_int_equal(y[0], c.labels[1]);
    assert_int_equal(y[1], c.labels[0]);
    free(xc);
    hs_dataset_free(&c);
}

static void test_make_batch_augment(void **state)
{
    (void)state;
    enum { B = 96, P = 784 };
    hs_dataset d = make_set(200, 1, 28, 28, 10, 4);
    size_t idx[B];
    for (size_t i = 0; i < B; i++)
        idx[i] = (i * 37) % 200;
    float *a = malloc(B * P * sizeof *a), *b = malloc(B * P * sizeof *b);
    float *plain = malloc(B * P * sizeof *plain), *one = malloc(P * sizeof *one);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(plain);
    assert_non_null(one);
    int32_t y[B];

    /* deterministic in (seed, epoch) */
    assert_int_equal(hs_make_batch(a, y, &d, HS_DATA_FASHION_MNIST, idx, B, 1, 11, 2), HS_OK);
    assert_int_equal(hs_make_batch(b, y, &d, HS_DATA_FASHION_MNIST, idx, B, 1, 11, 2), HS_OK);
    assert_memory_equal(a, b, B * P * sizeof *a);
    /* another epoch or seed changes the augmentation */
    assert_int_equal(hs_make_batch(b, y, &d, HS_DATA_FASHION_MNIST, idx, B, 1, 11, 3), HS_OK);
    assert_true(memcmp(a, b, B * P * sizeof *a) != 0);
    assert_int_equal(hs_make_batch(b, y, &d, HS_DATA_FASHION_MNIST, idx, B, 1, 12, 2), HS_OK);
    assert_true(memcmp(a, b, B * P * sizeof *a) != 0);
    /* augment = 0 is plain normalization, whatever the seed */
    assert_int_equal(hs_make_batch(plain, y, &d, HS_DATA_FASHION_MNIST, idx, B, 0, 11, 2), HS_OK);
    for (size_t i = 0; i < B; i++)
        for (size_t p = 0; p < P; p++) {
            float v = ((float)d.pixels[idx[i] * P + p] / 255.0f - 0.2860f) / 0.3530f;
            assert_true(plain[i * P + p] == v);
        }
    assert_int_equal(hs_make_batch(b, y, &d, HS_DATA_FASHION_MNIST, idx, B, 0, 99, 7), HS_OK);
    assert_memory_equal(plain, b, B * P * sizeof *b);
    assert_true(memcmp(a, plain, B * P * sizeof *a) != 0);

    /* each image depends only on (seed, epoch, index): it equals hs_augment_image with the
     * draws of hs_augment_draw, wherever it sits in the batch (so threads cannot matter) */
    const float m = 0.2860f, s = 0.3530f;
    size_t tops[7] = {0}, flips = 0;
    for (size_t i = 0; i < B; i++) {
        size_t top, left;
        int flip;
        hs_augment_draw(&top, &left, &flip, 3, 11, 2, idx[i]);
        assert_true(top <= 6 && left <= 6);
        assert_int_equal(hs_augment_image(one, d.pixels + idx[i] * P, 1, 28, 28, 3, top, left, flip, &m, &s),
                         HS_OK);
        assert_memory_equal(one, a + i * P, P * sizeof *one);
    }
    size_t rev[B];
    for (size_t i = 0; i < B; i++)
        rev[i] = idx[B - 1 - i];
    assert_int_equal(hs_make_batch(b, y, &d, HS_DATA_FASHION_MNIST, rev, B, 1, 11, 2), HS_OK);
    for (size_t i = 0; i < B; i++)
        assert_memory_equal(b + i * P, a + (B - 1 - i) * P, P * sizeof *b);
    /* the draws: every offset 0..2*pad occurs, flips about half the time */
    for (uint64_t k = 0; k < 7000; k++) {
        size_t top, left;
        int flip;
        hs_augment_draw(&top, &left, &flip, 3, 5, k / 1000, k);
        tops[top]++;
        flips += (size_t)flip;
    }
    for (int t = 0; t < 7; t++)
        assert_true(tops[t] > 850 && tops[t] < 1150);
    assert_true(flips > 3300 && flips < 3700);

    /* errors */
    idx[5] = 200;
    assert_int_equal(hs_make_batch(a, y, &d, HS_DATA_FASHION_MNIST, idx, B, 1, 11, 2), HS_ERR_SIZE);
    assert_error_mentions("idx[5] = 200");
    idx[5] = 0;
    assert_int_equal(hs_make_batch(a, y, &d, HS_DATA_CIFAR10, idx, B, 1, 11, 2), HS_ERR_ARG);
    assert_int_equal(hs_make_batch(a, y, &d, (hs_data_kind)7, idx, B, 1, 11, 2), HS_ERR_ARG);
    assert_int_equal(hs_make_batch(NULL, y, &d, HS_DATA_FASHION_MNIST, idx, B, 1, 11, 2), HS_ERR_NULL);
    hs_dataset tiny = make_set(2, 1, 3, 3, 10, 1);
    size_t t2[2] = {0, 1};
    assert_int_equal(hs_make_batch(a, y, &tiny, HS_DATA_MNIST, t2, 2, 1, 1, 1), HS_ERR_SIZE);
    assert_int_equal(hs_make_batch(a, y, &tiny, HS_DATA_MNIST, t2, 2, 0, 1, 1), HS_OK);
    hs_dataset_free(&tiny);

    /* CIFAR-10 batches: pad 4, all three channels share the crop and the flip */
    hs_dataset c = make_set(8, 3, 32, 32, 10, 2);
    size_t ci[8] = {7, 6, 5, 4, 3, 2, 1, 0};
    float *xc = malloc(8 * 3072 * sizeof *xc), *oc = malloc(3072 * sizeof *oc);
    assert_non_null(xc);
    assert_non_null(oc);
    assert_int_equal(hs_make_batch(xc, y, &c, HS_DATA_CIFAR10, ci, 8, 1, 3, 0), HS_OK);
    const float cm[3] = {0.4914f, 0.4822f, 0.4465f}, cs[3] = {0.247f, 0.243f, 0.261f};
    for (size_t i = 0; i < 8; i++) {
        size_t top, left;
        int flip;
        hs_augment_draw(&top, &left, &flip, 4, 3, 0, ci[i]);
        assert_int_equal(hs_augment_image(oc, c.pixels + ci[i] * 3072, 3, 32, 32, 4, top, left, flip, cm, cs),
                         HS_OK);
        assert_memory_equal(oc, xc + i * 3072, 3072 * sizeof *oc);
    }
    free(xc);
    free(oc);
    hs_dataset_free(&c);
    free(a);
    free(b);
    free(plain);
    free(one);
    hs_dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_real_fashion_mnist),
        cmocka_unit_test(test_idx_roundtrip),
        cmocka_unit_test(test_idx_directory),
        cmocka_unit_test(test_cifar_roundtrip),
        cmocka_unit_test(test_idx_rejects),
        cmocka_unit_test(test_gzip_rejects),
        cmocka_unit_test(test_cifar_rejects),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_subset),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_augment_known_image),
        cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_make_batch_augment),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
