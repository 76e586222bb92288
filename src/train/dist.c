/* The data-parallel parts of a training run (see train/dist.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/comm.h"
#include "train/dist.h"
#include "util/error.h"

const char *hs_loss_scope_name(hs_loss_scope s)
{
    return s == HS_LOSS_SCOPE_GLOBAL ? "global" : s == HS_LOSS_SCOPE_SHARD ? "shard" : "unknown";
}

hs_status hs_loss_scope_parse(hs_loss_scope *out, const char *name)
{
    if (!out || !name)
        return hs_fail(HS_ERR_NULL, "hs_loss_scope_parse: %s is NULL", out ? "name" : "out");
    if (!strcmp(name, "global"))
        *out = HS_LOSS_SCOPE_GLOBAL;
    else if (!strcmp(name, "shard"))
        *out = HS_LOSS_SCOPE_SHARD;
    else
        return hs_fail(HS_ERR_ARG, "unknown loss scope '%s' (expected global or shard)", name);
    return HS_OK;
}

hs_status hs_dist_init(hs_dist *d, const hs_train_config *cfg)
{
    memset(d, 0, sizeof *d);
    d->comm = cfg->comm;
    d->rank = hs_comm_rank(cfg->comm);
    d->size = hs_comm_size(cfg->comm);
    d->sync_bn = cfg->sync_bn != 0;
    d->scope = cfg->loss_scope;
    d->in_setup = 1;
    d->counts = calloc((size_t)d->size, sizeof *d->counts);
    if (!d->counts)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    return HS_OK;
}

void hs_dist_free(hs_dist *d)
{
    free(d->counts);
    free(d->packed);
    free(d->all_logits);
    free(d->all_dlogits);
    free(d->all_labels);
    free(d->check);
    memset(d, 0, sizeof *d);
}

static void shard_of(size_t n, int rank, int size, size_t *lo, size_t *cnt)
{
    size_t a = n * (size_t)rank / (size_t)size, b = n * (size_t)(rank + 1) / (size_t)size;
    *lo = a;
    *cnt = b - a;
}

void hs_dist_shard(const hs_dist *d, size_t n, size_t *lo, size_t *cnt)
{
    shard_of(n, d->rank, d->size, lo, cnt);
}

hs_status hs_dist_check_batches(const hs_dist *d, size_t n, size_t b)
{
    if (d->size <= 1)
        return HS_OK;
    size_t N = (size_t)d->size, last = n % b;
    if (b < N || (last && last < N) || n < N)
        return hs_fail(HS_ERR_SIZE,
                       "training: %d ranks need at least %d images in every batch, but the batch size "
                       "is %zu and the last batch of an epoch of %zu images has %zu; choose another "
                       "batch_size, train_limit or number of ranks",
                       d->size, d->size, b, n, last ? last : (n < b ? n : b));
    return HS_OK;
}

hs_status hs_dist_agree(hs_dist *d, hs_status st)
{
    if (d->size <= 1) {
        d->agreed = st != HS_OK;
        return st;
    }
    int first = st ? d->rank : d->size;
    hs_status e = hs_comm_min_i(d->comm, &first, 1);
    if (e)
        return e;
    if (first == d->size)
        return HS_OK;
    struct {
        int code;
        char msg[480];
    } m;
    memset(&m, 0, sizeof m);
    if (d->rank == first) {
        m.code = (int)st;
        snprintf(m.msg, sizeof m.msg, "%s", hs_last_error());
    }
    if ((e = hs_comm_bcast(d->comm, &m, sizeof m, first)))
        return e;
    d->agreed = 1;
    if (first == 0)
        return hs_fail((hs_status)m.code, "%s", m.msg);
    return hs_fail((hs_status)m.code, "rank %d of %d: %s", first, d->size, m.msg);
}

hs_status hs_dist_finish(hs_dist *d, hs_status st)
{
    if (d->in_setup && !d->agreed)
        st = hs_dist_agree(d, st);
    /* a diverged loss or parameters are reduced over the ranks before they are checked */
    hs_comm_set_error_shared(d->comm, st == HS_OK || d->agreed || st == HS_ERR_DIVERGED);
    return st;
}

hs_status hs_dist_bcast_ckpt(hs_dist *d, hs_ckpt *ck, int *have)
{
    if (d->size <= 1)
        return HS_OK;
    struct {
        int have;
        uint32_t version;
        hs_ckpt_fingerprint fp;
        uint64_t epochs_done, steps, nparams, nbufs, ntheta, nrows;
    } h;
    memset(&h, 0, sizeof h);
    if (d->rank == 0) {
        h.have = *have;
        h.version = ck->version, h.fp = ck->fp, h.epochs_done = ck->epochs_done, h.steps = ck->steps;
        h.nparams = ck->nparams, h.nbufs = ck->nbufs, h.ntheta = ck->ntheta, h.nrows = ck->nrows;
    }
    hs_status st = hs_comm_bcast(d->comm, &h, sizeof h, 0);
    if (st || !(*have = h.have))
        return st;
    if (d->rank != 0) {
        hs_ckpt_free(ck);
        ck->version = h.version, ck->fp = h.fp, ck->epochs_done = h.epochs_done, ck->steps = h.steps;
        ck->nparams = h.nparams, ck->nbufs = h.nbufs, ck->ntheta = h.ntheta, ck->nrows = h.nrows;
        ck->params = malloc((h.nparams ? h.nparams : 1) * sizeof(float));
        ck->m = malloc((h.nparams ? h.nparams : 1) * sizeof(float));
        ck->v = malloc((h.nparams ? h.nparams : 1) * sizeof(float));
        ck->buffers = malloc((h.nbufs ? h.nbufs : 1) * sizeof(float));
        ck->theta = malloc((h.ntheta ? h.ntheta : 1) * sizeof(double));
        ck->rows = malloc((h.nrows ? h.nrows : 1) * sizeof *ck->rows);
        if (!ck->params || !ck->m || !ck->v || !ck->buffers || !ck->theta || !ck->rows)
            return hs_fail(HS_ERR_NOMEM, "out of memory for the checkpoint");
    }
    if ((st = hs_comm_bcast(d->comm, ck->params, h.nparams * sizeof(float), 0)) ||
        (st = hs_comm_bcast(d->comm, ck->m, h.nparams * sizeof(float), 0)) ||
        (st = hs_comm_bcast(d->comm, ck->v, h.nparams * sizeof(float), 0)) ||
        (st = hs_comm_bcast(d->comm, ck->buffers, h.nbufs * sizeof(float), 0)) ||
        (st = hs_comm_bcast(d->comm, ck->theta, h.ntheta * sizeof(double), 0)))
        return st;
    return hs_comm_bcast(d->comm, ck->rows, h.nrows * sizeof *ck->rows, 0);
}

/* Scratch for a gathered global batch of B rows. */
static hs_status reserve_rows(hs_dist *d, size_t B, size_t C)
{
    if (B <= d->cap_rows)
        return HS_OK;
    free(d->packed), free(d->all_logits), free(d->all_dlogits), free(d->all_labels);
    d->packed = malloc(B * (C + 1) * sizeof(float));
    d->all_logits = malloc(B * C * sizeof(float));
    d->all_dlogits = malloc(B * C * sizeof(float));
    d->all_labels = malloc(B * sizeof(int32_t));
    d->cap_rows = 0;
    if (!d->packed || !d->all_logits || !d->all_dlogits || !d->all_labels)
        return hs_fail(HS_ERR_NOMEM, "out of memory for the gathered batch");
    d->cap_rows = B;
    return HS_OK;
}

/* The HS loss on the global batch: one all-gather of the rows (logits and the label as one
 * more float, exact below 2^24), then every rank computes what one process would. */
static hs_status global_hs_loss(hs_dist *d, double *loss, float *dlogits, double *theta, const float *logits,
                                const int32_t *labels, size_t b, size_t B, size_t C, const hs_loss_opts *o)
{
    hs_status st = reserve_rows(d, B, C);
    if (st)
        return st;
    size_t lo, cnt, W = C + 1;
    hs_dist_shard(d, B, &lo, &cnt);
    if (cnt != b)
        return hs_fail(HS_ERR_SIZE, "distributed loss: %zu rows on rank %d, its shard of %zu has %zu", b,
                       d->rank, B, cnt);
    /* this rank's rows go straight to their place in the packed buffer */
    float *mine = d->packed + lo * W;
    for (size_t r = 0; r < b; r++) {
        memcpy(mine + r * W, logits + r * C, C * sizeof(float));
        mine[r * W + C] = (float)labels[r];
    }
    for (int r = 0; r < d->size; r++) {
        size_t l, n;
        shard_of(B, r, d->size, &l, &n);
        d->counts[r] = n * W;
    }
    if ((st = hs_comm_gather_f(d->comm, d->packed, mine, d->counts)))
        return st;
    for (size_t r = 0; r < B; r++) {
        memcpy(d->all_logits + r * C, d->packed + r * W, C * sizeof(float));
        d->all_labels[r] = (int32_t)d->packed[r * W + C];
    }
    st = hs_loss_multiclass_ex_f(loss, d->all_dlogits, theta, d->all_logits, d->all_labels, B, C, o);
    if (st == HS_ERR_NONFINITE) { /* the same on every rank: the divergence check stops them all */
        *loss = NAN;
        for (size_t c = 0; c < C; c++)
            theta[c] = NAN;
        return HS_OK;
    }
    if (!st)
        memcpy(dlogits, d->all_dlogits + lo * C, b * C * sizeof(float));
    return st;
}

hs_status hs_dist_loss(hs_dist *d, double *loss, float *dlogits, double *theta, const float *logits,
                       const int32_t *labels, size_t b, size_t B, size_t C, const hs_loss_opts *o)
{
    if (d->size <= 1)
        return hs_loss_multiclass_ex_f(loss, dlogits, theta, logits, labels, b, C, o);
    int hs = o->kind == HS_LOSS_HYPERSIMPLEX;
    if (hs && d->scope == HS_LOSS_SCOPE_GLOBAL)
        return global_hs_loss(d, loss, dlogits, theta, logits, labels, b, B, C, o);
    /* A mean over this rank's rows: weighted by b / B its gradient and value are this rank's
     * part of the global batch's (exactly so for the losses that are means over examples). */
    double l = 0;
    hs_status st = hs_loss_multiclass_ex_f(&l, dlogits, theta, logits, labels, b, C, o);
    if (st == HS_ERR_NONFINITE) {
        l = NAN;
        for (size_t c = 0; c < C; c++)
            theta[c] = NAN;
        st = HS_OK;
    }
    if (st)
        return st;
    double w = (double)b / (double)B;
    for (size_t i = 0; i < b * C; i++)
        dlogits[i] = (float)(dlogits[i] * w);
    size_t n = hs ? 1 + 2 * C : 1;
    double *buf = calloc(n, sizeof *buf);
    if (!buf)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    buf[0] = l * w;
    for (size_t c = 0; hs && c < C; c++)
        if (isfinite(theta[c])) {
            buf[1 + c] = theta[c];
            buf[1 + C + c] = 1;
        }
    if (!(st = hs_comm_sum_d(d->comm, buf, n))) {
        *loss = buf[0];
        for (size_t c = 0; hs && c < C; c++)
            theta[c] = buf[1 + C + c] > 0 ? buf[1 + c] / buf[1 + C + c] : NAN;
    }
    free(buf);
    return st;
}

hs_status hs_dist_sum_grads(hs_dist *d, float *g, size_t n)
{
    return hs_comm_sum_f(d->comm, g, n);
}

hs_status hs_dist_sum_counts(hs_dist *d, double *counts, size_t n)
{
    return hs_comm_sum_d(d->comm, counts, n);
}

hs_status hs_dist_epoch_end(hs_dist *d, hs_net *net, const double *theta, size_t C)
{
    if (d->size <= 1)
        return HS_OK;
    size_t np = hs_net_param_count(net), nb = hs_net_buffer_count(net);
    float *buf = hs_net_buffers(net);
    hs_status st;
    if (!d->sync_bn) {
        if ((st = hs_comm_sum_f(d->comm, buf, nb)))
            return st;
        for (size_t i = 0; i < nb; i++)
            buf[i] = (float)((double)buf[i] / d->size);
    }
    /* rank 0's state in one buffer: parameters, statistics, thresholds */
    size_t pb = np * sizeof(float), bb = nb * sizeof(float), tb = C * sizeof(double);
    if (!d->check && !(d->check = malloc(pb + bb + tb)))
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    char *ref = (char *)d->check;
    if (d->rank == 0) {
        memcpy(ref, hs_net_params(net), pb);
        memcpy(ref + pb, buf, bb);
        memcpy(ref + pb + bb, theta, tb);
    }
    if ((st = hs_comm_bcast(d->comm, ref, pb + bb + tb, 0)))
        return st;
    int same = !memcmp(ref, hs_net_params(net), pb) && !memcmp(ref + pb, buf, bb) &&
               !memcmp(ref + pb + bb, theta, tb);
    if (!same)
        st = hs_fail(HS_ERR_BACKEND, "rank %d: the parameters, batch norm statistics or class thresholds "
                                     "differ from rank 0's after an epoch (the ranks' reductions differed)",
                     d->rank);
    return hs_dist_agree(d, st);
}

hs_status hs_dist_bn_sum(double *buf, size_t n, void *user)
{
    hs_dist *d = user;
    return hs_comm_sum_d(d->comm, buf, n);
}

double hs_dist_seconds(const hs_dist *d)
{
    return hs_comm_seconds(d->comm);
}
