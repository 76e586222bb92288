#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersimplex/train.h"
#include "train/checkpoint.h"
#include "train/comm.h"
#include "train/dist.h"
#include "train/run_dir.h"
#include "util/dir_lock.h"
#include "util/error.h"
#include "util/fs.h"

hs_loss_opts hs_train_loss_default(hs_loss_kind kind)
{
    hs_loss_opts o = hs_loss_opts_default(kind);
    if (kind == HS_LOSS_HYPERSIMPLEX) {
        o.k_policy = HS_K_FRACTION;
        o.k_fraction = 0.5;
    }
    return o;
}

hs_train_config hs_train_config_default(void)
{
    hs_train_config c;
    memset(&c, 0, sizeof c);
    c.dataset = HS_DATA_FASHION_MNIST;
    c.loss = hs_train_loss_default(HS_LOSS_HYPERSIMPLEX);
    c.batch_size = 1024;
    c.epochs = 20;
    c.width = 64;
    c.hidden = 512;
    c.seed = 0;
    c.lr = 1e-4;
    c.val_fraction = 0.1;
    c.augment = 1;
    c.eval_batch = 1000;
    c.theta_momentum = 0.1;
    return c;
}

/* The first problem of c (NULL if none) and the status hs_train_run reports it with. */
static const char *config_problem(const hs_train_config *c, hs_status *code)
{
    static _Thread_local char msg[224];
#define PROBLEM(status, ...) (*code = (status), snprintf(msg, sizeof msg, __VA_ARGS__), msg)
    const size_t max_batch = (size_t)1 << 20;
    const char *loss;
    if (!c->out_dir || !*c->out_dir)
        return PROBLEM(HS_ERR_NULL, "out_dir is required");
    if (c->batch_size < 1 || c->batch_size > max_batch)
        return PROBLEM(HS_ERR_SIZE, "batch_size %zu out of range [1, 2^20]", c->batch_size);
    if (c->epochs < 1 || c->epochs > 1000000)
        return PROBLEM(HS_ERR_SIZE, "epochs %zu out of range [1, 10^6]", c->epochs);
    if (c->width < 1 || c->width > 4096)
        return PROBLEM(HS_ERR_SIZE, "width %zu out of range [1, 4096]", c->width);
    if (c->hidden < 1 || c->hidden > 65536)
        return PROBLEM(HS_ERR_SIZE, "hidden %zu out of range [1, 65536]", c->hidden);
    if (!(c->lr > 0) || !isfinite(c->lr))
        return PROBLEM(HS_ERR_ARG, "lr %g must be finite and > 0", c->lr);
    if (!(c->val_fraction >= 0 && c->val_fraction < 1))
        return PROBLEM(HS_ERR_ARG, "val_fraction %g outside [0, 1)", c->val_fraction);
    if (c->eval_batch < 1 || c->eval_batch > max_batch)
        return PROBLEM(HS_ERR_SIZE, "eval_batch %zu out of range [1, 2^20]", c->eval_batch);
    if (c->threads < 0)
        return PROBLEM(HS_ERR_ARG, "threads %d must be >= 0", c->threads);
    if (c->loss.kind == HS_LOSS_HYPERSIMPLEX && (!(c->loss.tau > 0) || !isfinite(c->loss.tau)))
        return PROBLEM(HS_ERR_TAU, "loss.tau %g must be finite and > 0", c->loss.tau);
    if (!(c->theta_momentum >= 0 && c->theta_momentum <= 1))
        return PROBLEM(HS_ERR_ARG, "theta_momentum %g outside [0, 1]", c->theta_momentum);
    if (c->loss.tau_class || c->loss.class_prior)
        return PROBLEM(HS_ERR_ARG, "loss.tau_class and loss.class_prior must be NULL: they are not "
                                   "options of a run (the prior is computed from the training labels)");
    /* the rest would fail later, at the data or the first step */
    if (strcmp(hs_data_kind_name(c->dataset), "unknown") == 0)
        return PROBLEM(HS_ERR_ARG, "dataset %d is not a data set", (int)c->dataset);
    if ((loss = hs_loss_opts_check(&c->loss))) {
        int bad_fraction = c->loss.k_policy == HS_K_FRACTION && !(c->loss.k_fraction >= 0 && c->loss.k_fraction <= 1);
        return PROBLEM(bad_fraction ? HS_ERR_K : HS_ERR_ARG, "loss.%s", loss);
    }
    if (c->loss_scope != HS_LOSS_SCOPE_GLOBAL && c->loss_scope != HS_LOSS_SCOPE_SHARD)
        return PROBLEM(HS_ERR_ARG, "loss_scope %d is not global or shard", (int)c->loss_scope);
#undef PROBLEM
    return NULL;
}

const char *hs_train_config_check(const hs_train_config *c)
{
    hs_status code;
    return c ? config_problem(c, &code) : "the hs_train_config is NULL";
}

static hs_status validate(const hs_train_config *c)
{
    hs_status code;
    const char *problem = config_problem(c, &code);
    return problem ? hs_fail(code, "training: %s", problem) : HS_OK;
}

/* The selections of hs_train_result for one prediction rule. */
typedef struct rule_summary {
    size_t best_val_epoch, max_test_epoch;
    double best_val, test_at_best_val, max_test, final_test;
} rule_summary;

static rule_summary summarize_rule(const hs_epoch_metrics *rows, size_t n, int threshold)
{
    rule_summary r = {n ? n - 1 : 0, 0, NAN, NAN, NAN, NAN};
    for (size_t i = 0; i < n; i++) {
        double val = threshold ? rows[i].val_accuracy_threshold : rows[i].val_accuracy;
        double test = threshold ? rows[i].test_accuracy_threshold : rows[i].test_accuracy;
        if (isfinite(val) && (!isfinite(r.best_val) || val > r.best_val)) {
            r.best_val = val;
            r.best_val_epoch = i;
        }
        if (isfinite(test) && (!isfinite(r.max_test) || test > r.max_test)) {
            r.max_test = test;
            r.max_test_epoch = i;
        }
    }
    if (n) {
        r.test_at_best_val = threshold ? rows[r.best_val_epoch].test_accuracy_threshold
                                       : rows[r.best_val_epoch].test_accuracy;
        r.final_test = threshold ? rows[n - 1].test_accuracy_threshold : rows[n - 1].test_accuracy;
    }
    return r;
}

static void summarize(hs_train_result *r, const hs_epoch_metrics *rows, size_t n)
{
    rule_summary a = summarize_rule(rows, n, 0), t = summarize_rule(rows, n, 1);
    r->epochs_done = n;
    r->best_val_epoch = a.best_val_epoch;
    r->best_val_accuracy = a.best_val;
    r->test_at_best_val = a.test_at_best_val;
    r->max_test_accuracy = a.max_test;
    r->max_test_epoch = a.max_test_epoch;
    r->final_test_accuracy = a.final_test;
    r->best_val_epoch_threshold = t.best_val_epoch;
    r->best_val_accuracy_threshold = t.best_val;
    r->test_at_best_val_threshold = t.test_at_best_val;
    r->max_test_accuracy_threshold = t.max_test;
    r->max_test_epoch_threshold = t.max_test_epoch;
    r->final_test_accuracy_threshold = t.final_test;
}

/* Accuracy of the network in evaluation mode on images idx[0..n) of d: *acc by the argmax of
 * the logits, *acc_thr by the threshold rule with theta (C) and lo's tau, NaN if theta is NULL.
 * pred: eb labels of scratch. Each rank of dist evaluates its shard of idx (collective). */
static hs_status evaluate(double *acc, double *acc_thr, hs_net *net, const hs_dataset *d, hs_data_kind kind,
                          const size_t *idx, size_t n, size_t eb, float *x, int32_t *y, float *logits,
                          const double *theta, const hs_loss_opts *lo, int32_t *pred, hs_dist *dist)
{
    size_t C = d->classes, correct = 0, correct_thr = 0, first, mine;
    *acc_thr = NAN;
    if (n == 0) {
        *acc = NAN;
        return HS_OK;
    }
    hs_dist_shard(dist, n, &first, &mine);
    for (size_t i = first; i < first + mine; i += eb) {
        size_t b = first + mine - i < eb ? first + mine - i : eb;
        hs_status st = hs_make_batch(x, y, d, kind, idx + i, b, 0, 0, 0);
        if (!st)
            st = hs_net_forward(net, logits, x, b, 0);
        if (st)
            return st;
        for (size_t r = 0; r < b; r++) {
            const float *z = logits + r * C;
            size_t best = 0;
            for (size_t c = 1; c < C; c++)
                if (z[c] > z[best])
                    best = c;
            correct += (int32_t)best == y[r];
        }
        if (theta) {
            if ((st = hs_loss_predict_f(pred, logits, theta, b, C, lo)))
                return st;
            for (size_t r = 0; r < b; r++)
                correct_thr += pred[r] == y[r];
        }
    }
    double counts[2] = {(double)correct, (double)correct_thr};
    hs_status st = hs_dist_sum_counts(dist, counts, 2);
    if (st)
        return st;
    *acc = counts[0] / (double)n;
    if (theta)
        *acc_thr = counts[1] / (double)n;
    return HS_OK;
}

static int all_finite(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            return 0;
    return 1;
}

typedef struct run_state {
    hs_dataset train, test;
    size_t *train_idx, *val_idx, *test_idx, *perm;
    size_t n_train, n_val, n_test;
    double *prior;
    int32_t *lab_tmp;
    hs_net *net;
    float *m, *v;
    float *x, *logits, *dlogits;
    int32_t *y, *pred;
    size_t classes;
    double *theta, *theta_batch; /* (classes) running and batch class thresholds */
    hs_epoch_metrics *rows;
    char *ckpt_path;
    hs_ckpt ck;
    hs_dist dist; /* the ranks of a data-parallel run (train/dist.h) */
} run_state;

static void free_state(run_state *s)
{
    hs_dataset_free(&s->train);
    hs_dataset_free(&s->test);
    free(s->train_idx), free(s->val_idx), free(s->test_idx), free(s->perm), free(s->prior);
    free(s->lab_tmp);
    hs_net_free(s->net);
    free(s->m), free(s->v), free(s->x), free(s->logits), free(s->dlogits), free(s->y), free(s->rows);
    free(s->pred), free(s->theta), free(s->theta_batch);
    free(s->ckpt_path);
    hs_ckpt_free(&s->ck);
    hs_dist_free(&s->dist);
}

static hs_ckpt_fingerprint fingerprint(const hs_train_config *c, const hs_net_shape *sh)
{
    hs_ckpt_fingerprint f;
    memset(&f, 0, sizeof f);
    f.dataset = (uint32_t)c->dataset;
    f.loss_kind = (uint32_t)c->loss.kind;
    f.k_policy = (uint32_t)c->loss.k_policy;
    f.reg = (uint32_t)c->loss.reg;
    f.tau = c->loss.tau;
    f.k_fraction = c->loss.k_fraction;
    f.lr = c->lr;
    f.val_fraction = c->val_fraction;
    f.batch_size = c->batch_size;
    f.seed = c->seed;
    f.train_limit = c->train_limit;
    f.test_limit = c->test_limit;
    f.width = c->width;
    f.hidden = c->hidden;
    f.augment = (uint32_t)(c->augment != 0);
    f.classes = (uint32_t)sh->classes;
    f.channels = sh->channels;
    f.height = sh->height;
    f.img_width = sh->width;
    f.theta_momentum = c->loss.kind == HS_LOSS_HYPERSIMPLEX ? c->theta_momentum : 0.0;
    return f;
}

static hs_status save_epoch(run_state *s, const hs_train_config *c, const hs_ckpt_fingerprint *fp,
                            size_t epochs_done, uint64_t steps)
{
    hs_ckpt out;
    memset(&out, 0, sizeof out);
    out.fp = *fp;
    out.epochs_done = epochs_done;
    out.steps = steps;
    out.nparams = hs_net_param_count(s->net);
    out.nbufs = hs_net_buffer_count(s->net);
    out.params = hs_net_params(s->net);
    out.m = s->m;
    out.v = s->v;
    out.buffers = hs_net_buffers(s->net);
    out.ntheta = s->classes;
    out.theta = s->theta;
    out.nrows = epochs_done;
    out.rows = s->rows;
    hs_status st = hs_ckpt_write(s->ckpt_path, &out);
    if (!st)
        st = hs_run_write_metrics(c->out_dir, s->rows, epochs_done);
    return st;
}

hs_status hs_train_run(hs_train_result *result, const hs_train_config *cfg, hs_train_callback cb,
                       void *user)
{
    if (!result || !cfg)
        return hs_fail(HS_ERR_NULL, "hs_train_run: NULL argument");
    memset(result, 0, sizeof *result);
    hs_comm_set_error_shared(cfg->comm, 1); /* validation fails alike on every rank */
    hs_status st = validate(cfg);
    if (st)
        return st;
    run_state s;
    memset(&s, 0, sizeof s);
    hs_nn_set_threads(cfg->threads);
    if ((st = hs_dist_init(&s.dist, cfg))) {
        hs_dist_free(&s.dist);
        hs_comm_set_error_shared(cfg->comm, 0); /* this rank's alone */
        return st;
    }
    int writer = hs_dist_is_writer(&s.dist); /* only rank 0 touches out_dir */

    /* one trainer per directory: a second one (even a --resume of the same run) would
     * overwrite the files of the first. Its writer, rank 0, holds the lock. */
    hs_dir_lock lock = {-1};
    if (writer && ((st = hs_mkdirs(cfg->out_dir)) || (st = hs_dir_lock_take(&lock, cfg->out_dir, NULL))))
        goto out_early;
    s.ckpt_path = hs_path_join(cfg->out_dir, "checkpoint.bin");
    char *summary_path = hs_path_join(cfg->out_dir, "summary.json");
    char *metrics_path = hs_path_join(cfg->out_dir, "metrics.csv");
    if (!s.ckpt_path || !summary_path || !metrics_path) {
        st = hs_fail(HS_ERR_NOMEM, "out of memory");
        goto out;
    }
    int have_ckpt = writer && hs_path_exists(s.ckpt_path);
    if (writer && !cfg->resume && (have_ckpt || hs_path_exists(summary_path) || hs_path_exists(metrics_path))) {
        st = hs_fail(HS_ERR_ARG, "%s already holds a training run: resume it or choose another "
                                 "output directory", cfg->out_dir);
        goto out;
    }

    /* data */
    if ((st = hs_dataset_load(&s.train, &s.test, cfg->dataset, cfg->data_dir)))
        goto out;
    if (cfg->train_limit && (st = hs_dataset_subset(&s.train, cfg->train_limit, cfg->seed)))
        goto out;
    if (cfg->test_limit && (st = hs_dataset_subset(&s.test, cfg->test_limit, cfg->seed)))
        goto out;
    size_t N = s.train.count;
    s.train_idx = malloc(N * sizeof *s.train_idx);
    s.val_idx = malloc(N * sizeof *s.val_idx);
    s.perm = malloc(N * sizeof *s.perm);
    s.test_idx = malloc((s.test.count ? s.test.count : 1) * sizeof *s.test_idx);
    if (!s.train_idx || !s.val_idx || !s.perm || !s.test_idx) {
        st = hs_fail(HS_ERR_NOMEM, "out of memory for index lists");
        goto out;
    }
    if ((st = hs_split_stratified(s.train_idx, &s.n_train, s.val_idx, &s.n_val, &s.train, cfg->val_fraction,
                                  cfg->seed)))
        goto out;
    if (s.n_train == 0) {
        st = hs_fail(HS_ERR_SIZE, "no training images left after the validation split");
        goto out;
    }
    s.n_test = s.test.count;
    for (size_t i = 0; i < s.n_test; i++)
        s.test_idx[i] = i;
    if ((st = hs_dist_check_batches(&s.dist, s.n_train, cfg->batch_size)))
        goto out;

    hs_loss_opts lopts = cfg->loss;
    size_t C = s.train.classes;
    if (lopts.kind == HS_LOSS_HYPERSIMPLEX && lopts.k_policy == HS_K_PRIOR) {
        s.prior = malloc(C * sizeof *s.prior);
        s.lab_tmp = malloc(s.n_train * sizeof *s.lab_tmp);
        if (!s.prior || !s.lab_tmp) {
            st = hs_fail(HS_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < s.n_train; i++)
            s.lab_tmp[i] = s.train.labels[s.train_idx[i]];
        if ((st = hs_class_prior_from_labels(s.prior, s.lab_tmp, s.n_train, C)))
            goto out;
        lopts.class_prior = s.prior;
    }

    /* network and optimizer */
    hs_net_shape shape = {s.train.channels, s.train.height, s.train.width, C, cfg->width, cfg->hidden};
    if ((st = hs_net_create(&s.net, &shape)) || (st = hs_net_init(s.net, cfg->seed)))
        goto out;
    if (s.dist.size > 1 && cfg->sync_bn && (st = hs_net_set_bn_sync(s.net, hs_dist_bn_sum, &s.dist)))
        goto out;
    size_t np = hs_net_param_count(s.net), nb = hs_net_buffer_count(s.net);
    size_t img = shape.channels * shape.height * shape.width;
    size_t bmax = cfg->batch_size > cfg->eval_batch ? cfg->batch_size : cfg->eval_batch;
    s.m = calloc(np, sizeof(float));
    s.v = calloc(np, sizeof(float));
    s.x = malloc(bmax * img * sizeof(float));
    s.y = malloc(bmax * sizeof(int32_t));
    s.logits = malloc(bmax * C * sizeof(float));
    s.dlogits = malloc(bmax * C * sizeof(float));
    s.rows = calloc(cfg->epochs, sizeof *s.rows);
    s.pred = malloc(bmax * sizeof(int32_t));
    s.theta = malloc(C * sizeof *s.theta);
    s.theta_batch = malloc(C * sizeof *s.theta_batch);
    if (!s.m || !s.v || !s.x || !s.y || !s.logits || !s.dlogits || !s.rows || !s.pred || !s.theta ||
        !s.theta_batch) {
        st = hs_fail(HS_ERR_NOMEM, "out of memory for the training buffers");
        goto out;
    }
    s.classes = C;
    for (size_t c = 0; c < C; c++)
        s.theta[c] = NAN; /* no threshold yet: the first batch that has one sets it */
    int has_theta = lopts.kind == HS_LOSS_HYPERSIMPLEX;
    hs_ckpt_fingerprint fp = fingerprint(cfg, &shape);
    size_t start_epoch = 0;
    uint64_t steps = 0;
    /* rank 0 reads the checkpoint and gives it to the others: the first agreement of the setup */
    int resuming = cfg->resume && have_ckpt;
    if (resuming && (st = hs_ckpt_read(&s.ck, s.ckpt_path)))
        goto out;
    if ((st = hs_dist_agree(&s.dist, HS_OK)) || (st = hs_dist_bcast_ckpt(&s.dist, &s.ck, &resuming)))
        goto out;
    if (resuming) {
        if (has_theta && s.ck.ntheta != C) {
            st = hs_fail(HS_ERR_FORMAT,
                         "%s (checkpoint version %u) holds %llu class thresholds, this run has %zu classes: "
                         "a HyperSimplex run written before the class thresholds (version 1) cannot be "
                         "resumed exactly; train it again in a new directory",
                         s.ckpt_path, s.ck.version, (unsigned long long)s.ck.ntheta, C);
            goto out;
        }
        const char *diff = hs_ckpt_fingerprint_diff(&s.ck.fp, &fp);
        if (diff) {
            st = hs_fail(HS_ERR_ARG, "%s was written by a run with another %s: resume with the same "
                                     "configuration (only epochs may change)", s.ckpt_path, diff);
            goto out;
        }
        if (s.ck.nparams != np || s.ck.nbufs != nb) {
            st = hs_fail(HS_ERR_FORMAT, "%s: %llu parameters, the network has %zu", s.ckpt_path,
                         (unsigned long long)s.ck.nparams, np);
            goto out;
        }
        if (s.ck.epochs_done > cfg->epochs) {
            st = hs_fail(HS_ERR_ARG, "%s holds %llu epochs, more than the %zu asked for", s.ckpt_path,
                         (unsigned long long)s.ck.epochs_done, cfg->epochs);
            goto out;
        }
        memcpy(hs_net_params(s.net), s.ck.params, np * sizeof(float));
        memcpy(s.m, s.ck.m, np * sizeof(float));
        memcpy(s.v, s.ck.v, np * sizeof(float));
        memcpy(hs_net_buffers(s.net), s.ck.buffers, nb * sizeof(float));
        memcpy(s.rows, s.ck.rows, s.ck.nrows * sizeof *s.rows);
        if (s.ck.ntheta == C) /* else a version-1 run of a loss without thresholds: stay NaN */
            memcpy(s.theta, s.ck.theta, C * sizeof *s.theta);
        start_epoch = (size_t)s.ck.epochs_done;
        steps = s.ck.steps;
        if (start_epoch == cfg->epochs) {
            summarize(result, s.rows, start_epoch);
            result->already_complete = writer && hs_path_exists(summary_path);
            if (writer && !result->already_complete)
                st = hs_run_write_summary(cfg->out_dir, cfg, result, s.rows, s.theta, C);
            goto out;
        }
    }
    /* extending a finished run (more epochs): it is no longer complete */
    if (writer && hs_path_exists(summary_path) && remove(summary_path) != 0) {
        st = hs_fail(HS_ERR_IO, "cannot remove %s: %s", summary_path, strerror(errno));
        goto out;
    }
    hs_run_info ri = {s.n_train, s.n_val, s.n_test, np, shape};
    if (writer)
        st = hs_run_write_config(cfg->out_dir, cfg, &ri);
    if ((st = hs_dist_agree(&s.dist, st))) /* the last agreement of the setup */
        goto out;
    s.dist.in_setup = 0;

    hs_adam adam = hs_adam_default();
    adam.lr = cfg->lr;
    hs_train_event ev;
    memset(&ev, 0, sizeof ev);
    ev.epochs = cfg->epochs;
    ev.start_epoch = start_epoch;
    ev.n_train = s.n_train, ev.n_val = s.n_val, ev.n_test = s.n_test;
    ev.epoch = start_epoch;
    ev.kind = HS_TRAIN_START;
    if (cb)
        cb(&ev, user);
    double train_time = 0, train_comm = 0;
    size_t train_images = 0;
    float *P = hs_net_params(s.net), *G = hs_net_grads(s.net);
    for (size_t e = start_epoch; e < cfg->epochs; e++) {
        double t0 = hs_now(), comm0 = hs_dist_seconds(&s.dist);
        memcpy(s.perm, s.train_idx, s.n_train * sizeof *s.perm);
        hs_shuffle_indices(s.perm, s.n_train, cfg->seed, e);
        double loss_sum = 0;
        size_t seen = 0;
        for (size_t i = 0; i < s.n_train; i += cfg->batch_size) {
            size_t b = s.n_train - i < cfg->batch_size ? s.n_train - i : cfg->batch_size;
            size_t lo, bl; /* this rank's rows of the global batch */
            hs_dist_shard(&s.dist, b, &lo, &bl);
            double loss = 0;
            if ((st = hs_make_batch(s.x, s.y, &s.train, cfg->dataset, s.perm + i + lo, bl, cfg->augment, cfg->seed,
                                    e)) ||
                (st = hs_net_forward(s.net, s.logits, s.x, bl, 1)))
                goto out;
            st = hs_dist_loss(&s.dist, &loss, s.dlogits, s.theta_batch, s.logits, s.y, bl, b, C, &lopts);
            if (!st && has_theta)
                st = hs_loss_theta_update(s.theta, s.theta_batch, C, cfg->theta_momentum);
            if (st == HS_ERR_NONFINITE || (!st && !isfinite(loss))) {
                st = hs_fail(HS_ERR_DIVERGED,
                             "training diverged: epoch %zu, step %llu: the %s loss is not finite "
                             "(NaN/Inf logits or loss); stopped. The last good checkpoint (%zu epochs) "
                             "is kept in %s",
                             e, (unsigned long long)steps + 1, hs_loss_kind_name(lopts.kind), e, cfg->out_dir);
                goto out;
            }
            if (st || (st = hs_net_backward(s.net, s.dlogits)) || (st = hs_dist_sum_grads(&s.dist, G, np)) ||
                (st = hs_adam_step(P, s.m, s.v, G, np, &adam, ++steps)))
                goto out;
            loss_sum += loss * (double)b;
            seen += b;
            ev.kind = HS_TRAIN_BATCH;
            ev.epoch = e;
            ev.reference_kernels = hs_net_reference_kernels(s.net);
            ev.images_done = seen;
            ev.loss = loss_sum / (double)seen;
            ev.batch_loss = loss;
            ev.step = (size_t)steps;
            if (cb)
                cb(&ev, user);
        }
        double t1 = hs_now();
        train_time += t1 - t0;
        train_comm += hs_dist_seconds(&s.dist) - comm0;
        train_images += seen;
        if ((st = hs_dist_epoch_end(&s.dist, s.net, s.theta, C)))
            goto out;
        if (!all_finite(P, np) || !all_finite(hs_net_buffers(s.net), nb)) {
            st = hs_fail(HS_ERR_DIVERGED, "training diverged: epoch %zu: parameters are not finite; "
                                          "stopped. The last good checkpoint (%zu epochs) is kept in %s",
                         e, e, cfg->out_dir);
            goto out;
        }
        hs_epoch_metrics *row = &s.rows[e];
        row->epoch = e;
        row->train_loss = loss_sum / (double)seen;
        /* the threshold rule needs a threshold for every class */
        const double *theta = has_theta ? s.theta : NULL;
        for (size_t c = 0; theta && c < C; c++)
            if (!isfinite(theta[c]))
                theta = NULL;
        if ((st = evaluate(&row->val_accuracy, &row->val_accuracy_threshold, s.net, &s.train, cfg->dataset,
                           s.val_idx, s.n_val, cfg->eval_batch, s.x, s.y, s.logits, theta, &lopts, s.pred,
                           &s.dist)) ||
            (st = evaluate(&row->test_accuracy, &row->test_accuracy_threshold, s.net, &s.test, cfg->dataset,
                           s.test_idx, s.n_test, cfg->eval_batch, s.x, s.y, s.logits, theta, &lopts, s.pred,
                           &s.dist)))
            goto out;
        row->seconds = hs_now() - t0;
        if (writer)
            st = save_epoch(&s, cfg, &fp, e + 1, steps);
        if ((st = hs_dist_agree(&s.dist, st)))
            goto out;
        ev.kind = HS_TRAIN_EPOCH;
        ev.metrics = row;
        if (cb)
            cb(&ev, user);
        ev.metrics = NULL;
    }
    summarize(result, s.rows, cfg->epochs);
    result->train_seconds = train_time;
    result->train_images_per_second = train_time > 0 ? (double)train_images / train_time : 0;
    result->train_comm_seconds = train_comm;
    if (writer)
        st = hs_run_write_summary(cfg->out_dir, cfg, result, s.rows, s.theta, C);
    st = hs_dist_agree(&s.dist, st);
out:
    free(summary_path);
    free(metrics_path);
out_early:
    st = hs_dist_finish(&s.dist, st);
    free_state(&s);
    hs_dir_lock_release(&lock);
    return st;
}

hs_status hs_train_checkpoint_info(size_t *epochs_done, uint64_t *steps, hs_epoch_metrics *rows,
                                   size_t max_rows, const char *path)
{
    if (!path)
        return hs_fail(HS_ERR_NULL, "hs_train_checkpoint_info: NULL path");
    hs_ckpt c;
    hs_status st = hs_ckpt_read(&c, path);
    if (st)
        return st;
    if (epochs_done)
        *epochs_done = (size_t)c.epochs_done;
    if (steps)
        *steps = c.steps;
    if (rows)
        for (size_t i = 0; i < max_rows && i < c.nrows; i++)
            rows[i] = c.rows[i];
    hs_ckpt_free(&c);
    return HS_OK;
}
