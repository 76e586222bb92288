#define _POSIX_C_SOURCE 200809L
#include "train/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/atomic_file.h"
#include "util/error.h"

static const char magic[8] = {'H', 'S', 'N', 'N', 'C', 'K', 'P', 'T'};

typedef struct wstream {
    FILE *f;
    uint64_t hash;
    int err;
} wstream;

#define FNV_OFFSET 0xCBF29CE484222325ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

uint64_t hs_ckpt_checksum(const void *bytes, size_t n)
{
    return fnv(FNV_OFFSET, bytes, n);
}

static void w_bytes(wstream *w, const void *p, size_t n)
{
    if (w->err || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n)
        w->err = 1;
    w->hash = fnv(w->hash, p, n);
}

static void w_u32(wstream *w, uint32_t v) { w_bytes(w, &v, sizeof v); }
static void w_u64(wstream *w, uint64_t v) { w_bytes(w, &v, sizeof v); }
static void w_f64(wstream *w, double v) { w_bytes(w, &v, sizeof v); }

static void w_fp(wstream *w, const hs_ckpt_fingerprint *f)
{
    w_u32(w, f->dataset), w_u32(w, f->loss_kind), w_u32(w, f->k_policy), w_u32(w, f->reg);
    w_f64(w, f->tau), w_f64(w, f->k_fraction), w_f64(w, f->lr), w_f64(w, f->val_fraction);
    w_u64(w, f->batch_size), w_u64(w, f->seed), w_u64(w, f->train_limit), w_u64(w, f->test_limit);
    w_u64(w, f->width), w_u64(w, f->hidden);
    w_u32(w, f->augment), w_u32(w, f->classes);
    w_u64(w, f->channels), w_u64(w, f->height), w_u64(w, f->img_width);
    w_f64(w, f->theta_momentum);
}

hs_status hs_ckpt_write(const char *path, const hs_ckpt *c)
{
    hs_atomic_file af;
    hs_status st = hs_atomic_open(&af, path);
    if (st)
        return st;
    wstream w = {af.f, FNV_OFFSET, 0};
    w_bytes(&w, magic, sizeof magic);
    w_u32(&w, HS_CKPT_VERSION);
    w_u32(&w, 0);
    w_fp(&w, &c->fp);
    w_u64(&w, c->epochs_done), w_u64(&w, c->steps), w_u64(&w, c->nparams), w_u64(&w, c->nbufs);
    w_bytes(&w, c->params, c->nparams * sizeof(float));
    w_bytes(&w, c->m, c->nparams * sizeof(float));
    w_bytes(&w, c->v, c->nparams * sizeof(float));
    w_bytes(&w, c->buffers, c->nbufs * sizeof(float));
    w_u64(&w, c->ntheta);
    w_bytes(&w, c->theta, c->ntheta * sizeof(double));
    w_u64(&w, c->nrows);
    for (uint64_t i = 0; i < c->nrows; i++) {
        const hs_epoch_metrics *r = &c->rows[i];
        w_u64(&w, r->epoch), w_f64(&w, r->train_loss), w_f64(&w, r->val_accuracy);
        w_f64(&w, r->test_accuracy), w_f64(&w, r->seconds);
        w_f64(&w, r->val_accuracy_threshold), w_f64(&w, r->test_accuracy_threshold);
    }
    uint64_t h = w.hash;
    w_bytes(&w, &h, sizeof h);
    if (w.err) {
        int e = errno;
        hs_atomic_abort(&af);
        return hs_fail(HS_ERR_IO, "writing %s: %s", path, strerror(e));
    }
    return hs_atomic_commit(&af);
}

typedef struct rstream {
    const unsigned char *p;
    size_t n, pos;
    int err;
} rstream;

static void r_bytes(rstream *r, void *out, size_t n)
{
    if (r->err || n > r->n - r->pos) {
        r->err = 1;
        if (out && n)
            memset(out, 0, n);
        return;
    }
    memcpy(out, r->p + r->pos, n);
    r->pos += n;
}

static uint32_t r_u32(rstream *r) { uint32_t v; r_bytes(r, &v, sizeof v); return v; }
static uint64_t r_u64(rstream *r) { uint64_t v; r_bytes(r, &v, sizeof v); return v; }
static double r_f64(rstream *r) { double v; r_bytes(r, &v, sizeof v); return v; }

static void r_fp(rstream *r, hs_ckpt_fingerprint *f, uint32_t version)
{
    f->dataset = r_u32(r), f->loss_kind = r_u32(r), f->k_policy = r_u32(r), f->reg = r_u32(r);
    f->tau = r_f64(r), f->k_fraction = r_f64(r), f->lr = r_f64(r), f->val_fraction = r_f64(r);
    f->batch_size = r_u64(r), f->seed = r_u64(r), f->train_limit = r_u64(r), f->test_limit = r_u64(r);
    f->width = r_u64(r), f->hidden = r_u64(r);
    f->augment = r_u32(r), f->classes = r_u32(r);
    f->channels = r_u64(r), f->height = r_u64(r), f->img_width = r_u64(r);
    f->theta_momentum = version >= 2 ? r_f64(r) : 0.0;
}

void hs_ckpt_free(hs_ckpt *c)
{
    if (!c)
        return;
    free(c->params);
    free(c->m);
    free(c->v);
    free(c->buffers);
    free(c->rows);
    free(c->theta);
    memset(c, 0, sizeof *c);
}

static hs_status read_file(unsigned char **out, size_t *n, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return hs_fail(HS_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return hs_fail(HS_ERR_NOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return hs_fail(HS_ERR_NOMEM, "out of memory reading %s", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return hs_fail(HS_ERR_IO, "error reading %s", path);
    }
    *out = buf;
    *n = len;
    return HS_OK;
}

static hs_status read_floats(float **out, rstream *r, uint64_t n, const char *path)
{
    if (n > (r->n - r->pos) / sizeof(float)) {
        r->err = 1;
        return hs_fail(HS_ERR_FORMAT, "%s: truncated (tensor of %llu floats)", path, (unsigned long long)n);
    }
    *out = malloc(n ? n * sizeof(float) : 1);
    if (!*out)
        return hs_fail(HS_ERR_NOMEM, "out of memory reading %s", path);
    r_bytes(r, *out, n * sizeof(float));
    return HS_OK;
}

hs_status hs_ckpt_read(hs_ckpt *c, const char *path)
{
    memset(c, 0, sizeof *c);
    unsigned char *buf = NULL;
    size_t n = 0;
    hs_status st = read_file(&buf, &n, path);
    if (st)
        return st;
    rstream r = {buf, n, 0, 0};
    char mg[8];
    if (n < sizeof mg + 8 + 8) {
        st = hs_fail(HS_ERR_FORMAT, "%s: too short (%zu bytes) for a checkpoint", path, n);
        goto out;
    }
    uint64_t want;
    memcpy(&want, buf + n - 8, 8);
    if (hs_ckpt_checksum(buf, n - 8) != want) {
        st = hs_fail(HS_ERR_FORMAT, "%s: checksum mismatch (truncated or corrupted checkpoint)", path);
        goto out;
    }
    r.n = n - 8;
    r_bytes(&r, mg, sizeof mg);
    if (memcmp(mg, magic, sizeof mg)) {
        st = hs_fail(HS_ERR_FORMAT, "%s: not a hypersimplex checkpoint (bad magic)", path);
        goto out;
    }
    uint32_t version = r_u32(&r);
    (void)r_u32(&r);
    if (version < 1 || version > HS_CKPT_VERSION) {
        st = hs_fail(HS_ERR_FORMAT, "%s: checkpoint version %u, this build reads 1 to %u", path,
                     version, HS_CKPT_VERSION);
        goto out;
    }
    c->version = version;
    r_fp(&r, &c->fp, version);
    c->epochs_done = r_u64(&r), c->steps = r_u64(&r), c->nparams = r_u64(&r), c->nbufs = r_u64(&r);
    if (r.err) {
        st = hs_fail(HS_ERR_FORMAT, "%s: truncated header", path);
        goto out;
    }
    if ((st = read_floats(&c->params, &r, c->nparams, path)) || (st = read_floats(&c->m, &r, c->nparams, path)) ||
        (st = read_floats(&c->v, &r, c->nparams, path)) || (st = read_floats(&c->buffers, &r, c->nbufs, path)))
        goto out;
    if (version >= 2) {
        c->ntheta = r_u64(&r);
        if (r.err || c->ntheta > (r.n - r.pos) / sizeof(double)) {
            st = hs_fail(HS_ERR_FORMAT, "%s: truncated (%llu class thresholds)", path,
                         (unsigned long long)c->ntheta);
            goto out;
        }
        c->theta = malloc(c->ntheta ? c->ntheta * sizeof(double) : 1);
        if (!c->theta) {
            st = hs_fail(HS_ERR_NOMEM, "out of memory reading %s", path);
            goto out;
        }
        r_bytes(&r, c->theta, c->ntheta * sizeof(double));
    }
    size_t row_bytes = version >= 2 ? 56 : 40;
    c->nrows = r_u64(&r);
    if (r.err || c->nrows > (r.n - r.pos) / row_bytes || c->nrows != c->epochs_done) {
        st = hs_fail(HS_ERR_FORMAT, "%s: bad metrics table (%llu rows for %llu epochs)", path,
                     (unsigned long long)c->nrows, (unsigned long long)c->epochs_done);
        goto out;
    }
    c->rows = calloc(c->nrows ? c->nrows : 1, sizeof *c->rows);
    if (!c->rows) {
        st = hs_fail(HS_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (uint64_t i = 0; i < c->nrows; i++) {
        hs_epoch_metrics *m = &c->rows[i];
        m->epoch = (size_t)r_u64(&r);
        m->train_loss = r_f64(&r), m->val_accuracy = r_f64(&r), m->test_accuracy = r_f64(&r);
        m->seconds = r_f64(&r);
        m->val_accuracy_threshold = version >= 2 ? r_f64(&r) : NAN;
        m->test_accuracy_threshold = version >= 2 ? r_f64(&r) : NAN;
        if (m->epoch != i) {
            st = hs_fail(HS_ERR_FORMAT, "%s: metrics row %llu has epoch %zu", path, (unsigned long long)i,
                         m->epoch);
            goto out;
        }
    }
    if (r.err || r.pos != r.n) {
        st = hs_fail(HS_ERR_FORMAT, "%s: %s", path, r.err ? "truncated" : "trailing bytes");
        goto out;
    }
    st = HS_OK;
out:
    free(buf);
    if (st)
        hs_ckpt_free(c);
    return st;
}

const char *hs_ckpt_fingerprint_diff(const hs_ckpt_fingerprint *a, const hs_ckpt_fingerprint *b)
{
#define CMP(f)                 \
    if (a->f != b->f)          \
        return #f;
    CMP(dataset) CMP(loss_kind) CMP(k_policy) CMP(reg) CMP(tau) CMP(k_fraction) CMP(lr)
    CMP(val_fraction) CMP(batch_size) CMP(seed) CMP(train_limit) CMP(test_limit) CMP(width)
    CMP(hidden) CMP(augment) CMP(classes) CMP(channels) CMP(height) CMP(img_width)
    CMP(theta_momentum)
#undef CMP
    return NULL;
}
