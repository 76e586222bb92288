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

/* Everything one hs_train_run holds, from the run directory to the optimizer, so that each
 * step below is a function of it. */
typedef struct run_state {
    const hs_train_config *cfg;
    hs_train_callback cb;
    void *user;
    hs_train_event ev;  /* the callback's event, updated in place from start to end */
    hs_dist dist;       /* the ranks of a data-parallel run (train/dist.h) */
    int writer;         /* rank 0: the only one that touches out_dir */
    hs_dir_lock lock;   /* held by the writer while the run lasts */
    char *ckpt_path, *summary_path, *metrics_path;
    int have_ckpt;      /* the writer found a checkpoint in out_dir */
    /* data */
    hs_dataset train, test;
    size_t *train_idx, *val_idx, *test_idx, *perm;
    size_t n_train, n_val, n_test;
    size_t classes;
    hs_loss_opts lopts; /* cfg->loss with the class prior of the training labels (HS_K_PRIOR) */
    int has_theta;      /* the loss keeps running class thresholds (HyperSimplex) */
    double *prior;
    int32_t *lab_tmp;
    /* model, optimizer and scratch */
    hs_net_shape shape;
    hs_net *net;
    size_t np, nb;      /* parameters and buffers of the network */
    float *m, *v;       /* (np) Adam moments */
    hs_adam adam;
    float *x, *logits, *dlogits;
    int32_t *y, *pred;
    double *theta, *theta_batch; /* (classes) running and batch class thresholds */
    hs_epoch_metrics *rows;      /* (epochs) */
    hs_ckpt_fingerprint fp;
    hs_ckpt ck;
    /* progress */
    size_t start_epoch;
    uint64_t steps;     /* Adam steps of the whole run */
    double train_time, train_comm;
    size_t train_images;
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
    free(s->ckpt_path), free(s->summary_path), free(s->metrics_path);
    hs_ckpt_free(&s->ck);
    hs_dist_free(&s->dist);
    hs_dir_lock_release(&s->lock);
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

/* ------------------------------------------------------------------------- */
/* The steps of a run, in the order hs_train_run takes them                  */
/* ------------------------------------------------------------------------- */

/* The run directory: created and locked by the writer (one trainer per directory: a second
 * one, even a resume of the same run, would overwrite the files of the first), which refuses
 * a directory that already holds a run unless asked to resume it. */
static hs_status open_run_dir(run_state *s)
{
    const hs_train_config *cfg = s->cfg;
    hs_status st;
    if (s->writer && ((st = hs_mkdirs(cfg->out_dir)) || (st = hs_dir_lock_take(&s->lock, cfg->out_dir, NULL))))
        return st;
    s->ckpt_path = hs_path_join(cfg->out_dir, HS_RUN_CHECKPOINT_FILE);
    s->summary_path = hs_path_join(cfg->out_dir, HS_RUN_SUMMARY_FILE);
    s->metrics_path = hs_path_join(cfg->out_dir, HS_RUN_METRICS_FILE);
    if (!s->ckpt_path || !s->summary_path || !s->metrics_path)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    s->have_ckpt = s->writer && hs_path_exists(s->ckpt_path);
    if (s->writer && !cfg->resume &&
        (s->have_ckpt || hs_path_exists(s->summary_path) || hs_path_exists(s->metrics_path)))
        return hs_fail(HS_ERR_ARG, "%s already holds a training run: resume it or choose another "
                                   "output directory", cfg->out_dir);
    return HS_OK;
}

/* The data: training and test sets (subsets if asked), the stratified validation split, and
 * the loss options with the class prior of the training labels (HS_K_PRIOR). */
static hs_status load_data(run_state *s)
{
    const hs_train_config *cfg = s->cfg;
    hs_status st;
    if ((st = hs_dataset_load(&s->train, &s->test, cfg->dataset, cfg->data_dir)))
        return st;
    if (cfg->train_limit && (st = hs_dataset_subset(&s->train, cfg->train_limit, cfg->seed)))
        return st;
    if (cfg->test_limit && (st = hs_dataset_subset(&s->test, cfg->test_limit, cfg->seed)))
        return st;
    size_t N = s->train.count;
    s->train_idx = malloc(N * sizeof *s->train_idx);
    s->val_idx = malloc(N * sizeof *s->val_idx);
    s->perm = malloc(N * sizeof *s->perm);
    s->test_idx = malloc((s->test.count ? s->test.count : 1) * sizeof *s->test_idx);
    if (!s->train_idx || !s->val_idx || !s->perm || !s->test_idx)
        return hs_fail(HS_ERR_NOMEM, "out of memory for index lists");
    if ((st = hs_split_stratified(s->train_idx, &s->n_train, s->val_idx, &s->n_val, &s->train, cfg->val_fraction,
                                  cfg->seed)))
        return st;
    if (s->n_train == 0)
        return hs_fail(HS_ERR_SIZE, "no training images left after the validation split");
    s->n_test = s->test.count;
    for (size_t i = 0; i < s->n_test; i++)
        s->test_idx[i] = i;
    if ((st = hs_dist_check_batches(&s->dist, s->n_train, cfg->batch_size)))
        return st;

    s->lopts = cfg->loss;
    s->classes = s->train.classes;
    s->has_theta = s->lopts.kind == HS_LOSS_HYPERSIMPLEX;
    size_t C = s->classes;
    if (s->lopts.kind == HS_LOSS_HYPERSIMPLEX && s->lopts.k_policy == HS_K_PRIOR) {
        s->prior = malloc(C * sizeof *s->prior);
        s->lab_tmp = malloc(s->n_train * sizeof *s->lab_tmp);
        if (!s->prior || !s->lab_tmp)
            return hs_fail(HS_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < s->n_train; i++)
            s->lab_tmp[i] = s->train.labels[s->train_idx[i]];
        if ((st = hs_class_prior_from_labels(s->prior, s->lab_tmp, s->n_train, C)))
            return st;
        s->lopts.class_prior = s->prior;
    }
    return HS_OK;
}

/* The network (initialized from the seed), Adam's moments, the batch buffers, the metrics
 * rows and the class thresholds (NaN: none yet). */
static hs_status build_model(run_state *s)
{
    const hs_train_config *cfg = s->cfg;
    size_t C = s->classes;
    hs_status st;
    s->shape = (hs_net_shape){s->train.channels, s->train.height, s->train.width, C, cfg->width, cfg->hidden};
    if ((st = hs_net_create(&s->net, &s->shape)) || (st = hs_net_init(s->net, cfg->seed)))
        return st;
    if (s->dist.size > 1 && cfg->sync_bn && (st = hs_net_set_bn_sync(s->net, hs_dist_bn_sum, &s->dist)))
        return st;
    s->np = hs_net_param_count(s->net);
    s->nb = hs_net_buffer_count(s->net);
    size_t img = s->shape.channels * s->shape.height * s->shape.width;
    size_t bmax = cfg->batch_size > cfg->eval_batch ? cfg->batch_size : cfg->eval_batch;
    s->m = calloc(s->np, sizeof(float));
    s->v = calloc(s->np, sizeof(float));
    s->x = malloc(bmax * img * sizeof(float));
    s->y = malloc(bmax * sizeof(int32_t));
    s->logits = malloc(bmax * C * sizeof(float));
    s->dlogits = malloc(bmax * C * sizeof(float));
    s->rows = calloc(cfg->epochs, sizeof *s->rows);
    s->pred = malloc(bmax * sizeof(int32_t));
    s->theta = malloc(C * sizeof *s->theta);
    s->theta_batch = malloc(C * sizeof *s->theta_batch);
    if (!s->m || !s->v || !s->x || !s->y || !s->logits || !s->dlogits || !s->rows || !s->pred || !s->theta ||
        !s->theta_batch)
        return hs_fail(HS_ERR_NOMEM, "out of memory for the training buffers");
    for (size_t c = 0; c < C; c++)
        s->theta[c] = NAN; /* no threshold yet: the first batch that has one sets it */
    s->fp = fingerprint(cfg, &s->shape);
    s->adam = hs_adam_default();
    s->adam.lr = cfg->lr;
    return HS_OK;
}

/* Resuming: rank 0 reads the checkpoint and gives it to the others (the first agreement of
 * the setup); it must come from the same configuration. A run whose every epoch is done
 * gets its summary (if it lacks one) and *complete = 1. */
static hs_status restore_checkpoint(run_state *s, hs_train_result *result, int *complete)
{
    const hs_train_config *cfg = s->cfg;
    size_t C = s->classes, np = s->np, nb = s->nb;
    hs_status st;
    *complete = 0;
    int resuming = cfg->resume && s->have_ckpt;
    if (resuming && (st = hs_ckpt_read(&s->ck, s->ckpt_path)))
        return st;
    if ((st = hs_dist_agree(&s->dist, HS_OK)) || (st = hs_dist_bcast_ckpt(&s->dist, &s->ck, &resuming)))
        return st;
    if (!resuming)
        return HS_OK;
    if (s->has_theta && s->ck.ntheta != C)
        return hs_fail(HS_ERR_FORMAT,
                       "%s (checkpoint version %u) holds %llu class thresholds, this run has %zu classes: "
                       "a HyperSimplex run written before the class thresholds (version 1) cannot be "
                       "resumed exactly; train it again in a new directory",
                       s->ckpt_path, s->ck.version, (unsigned long long)s->ck.ntheta, C);
    const char *diff = hs_ckpt_fingerprint_diff(&s->ck.fp, &s->fp);
    if (diff)
        return hs_fail(HS_ERR_ARG, "%s was written by a run with another %s: resume with the same "
                                   "configuration (only epochs may change)", s->ckpt_path, diff);
    if (s->ck.nparams != np || s->ck.nbufs != nb)
        return hs_fail(HS_ERR_FORMAT, "%s: %llu parameters, the network has %zu", s->ckpt_path,
                       (unsigned long long)s->ck.nparams, np);
    if (s->ck.epochs_done > cfg->epochs)
        return hs_fail(HS_ERR_ARG, "%s holds %llu epochs, more than the %zu asked for", s->ckpt_path,
                       (unsigned long long)s->ck.epochs_done, cfg->epochs);
    memcpy(hs_net_params(s->net), s->ck.params, np * sizeof(float));
    memcpy(s->m, s->ck.m, np * sizeof(float));
    memcpy(s->v, s->ck.v, np * sizeof(float));
    memcpy(hs_net_buffers(s->net), s->ck.buffers, nb * sizeof(float));
    memcpy(s->rows, s->ck.rows, s->ck.nrows * sizeof *s->rows);
    if (s->ck.ntheta == C) /* else a version-1 run of a loss without thresholds: stay NaN */
        memcpy(s->theta, s->ck.theta, C * sizeof *s->theta);
    s->start_epoch = (size_t)s->ck.epochs_done;
    s->steps = s->ck.steps;
    if (s->start_epoch == cfg->epochs) {
        *complete = 1;
        summarize(result, s->rows, s->start_epoch);
        result->already_complete = s->writer && hs_path_exists(s->summary_path);
        if (s->writer && !result->already_complete)
            return hs_run_write_summary(cfg->out_dir, cfg, result, s->rows, s->theta, C);
    }
    return HS_OK;
}

/* The end of the setup: a finished run that gets more epochs is no longer complete (its
 * summary goes), config.json is written, and every rank agrees (the last agreement of the
 * setup). */
static hs_status begin_training(run_state *s)
{
    const hs_train_config *cfg = s->cfg;
    hs_status st = HS_OK;
    if (s->writer && hs_path_exists(s->summary_path) && remove(s->summary_path) != 0)
        return hs_fail(HS_ERR_IO, "cannot remove %s: %s", s->summary_path, strerror(errno));
    hs_run_info ri = {s->n_train, s->n_val, s->n_test, s->np, s->shape};
    if (s->writer)
        st = hs_run_write_config(cfg->out_dir, cfg, &ri);
    if ((st = hs_dist_agree(&s->dist, st)))
        return st;
    s->dist.in_setup = 0;
    return HS_OK;
}

static void announce(run_state *s, hs_train_event_kind kind)
{
    s->ev.kind = kind;
    if (s->cb)
        s->cb(&s->ev, s->user);
}

/* One Adam step on the global batch perm[i, i + b) of epoch e (this rank: its shard):
 * forward, loss (with the batch's class thresholds into the running ones), backward,
 * gradients summed over the ranks, update. *loss: the global batch's loss. */
static hs_status train_step(run_state *s, size_t e, size_t i, size_t b, double *loss)
{
    const hs_train_config *cfg = s->cfg;
    size_t C = s->classes, lo, bl; /* this rank's rows of the global batch */
    hs_status st;
    hs_dist_shard(&s->dist, b, &lo, &bl);
    *loss = 0;
    if ((st = hs_make_batch(s->x, s->y, &s->train, cfg->dataset, s->perm + i + lo, bl, cfg->augment, cfg->seed,
                            e)) ||
        (st = hs_net_forward(s->net, s->logits, s->x, bl, 1)))
        return st;
    st = hs_dist_loss(&s->dist, loss, s->dlogits, s->theta_batch, s->logits, s->y, bl, b, C, &s->lopts);
    if (!st && s->has_theta)
        st = hs_loss_theta_update(s->theta, s->theta_batch, C, cfg->theta_momentum);
    if (st == HS_ERR_NONFINITE || (!st && !isfinite(*loss)))
        return hs_fail(HS_ERR_DIVERGED,
                       "training diverged: epoch %zu, step %llu: the %s loss is not finite "
                       "(NaN/Inf logits or loss); stopped. The last good checkpoint (%zu epochs) "
                       "is kept in %s",
                       e, (unsigned long long)s->steps + 1, hs_loss_kind_name(s->lopts.kind), e, cfg->out_dir);
    float *G = hs_net_grads(s->net);
    if (st || (st = hs_net_backward(s->net, s->dlogits)) || (st = hs_dist_sum_grads(&s->dist, G, s->np)) ||
        (st = hs_adam_step(hs_net_params(s->net), s->m, s->v, G, s->np, &s->adam, ++s->steps)))
        return st;
    return HS_OK;
}

/* The training steps of epoch e, which began at t0 (hs_now()): every training image once, in
 * the epoch's shuffled order; then the ranks' running statistics are reconciled and the
 * model checked for divergence. Writes row's epoch and train_loss. */
static hs_status train_epoch(run_state *s, size_t e, double t0, hs_epoch_metrics *row)
{
    const hs_train_config *cfg = s->cfg;
    double comm0 = hs_dist_seconds(&s->dist);
    hs_status st;
    memcpy(s->perm, s->train_idx, s->n_train * sizeof *s->perm);
    hs_shuffle_indices(s->perm, s->n_train, cfg->seed, e);
    double loss_sum = 0;
    size_t seen = 0;
    for (size_t i = 0; i < s->n_train; i += cfg->batch_size) {
        size_t b = s->n_train - i < cfg->batch_size ? s->n_train - i : cfg->batch_size;
        double loss;
        if ((st = train_step(s, e, i, b, &loss)))
            return st;
        loss_sum += loss * (double)b;
        seen += b;
        s->ev.epoch = e;
        s->ev.reference_kernels = hs_net_reference_kernels(s->net);
        s->ev.images_done = seen;
        s->ev.loss = loss_sum / (double)seen;
        s->ev.batch_loss = loss;
        s->ev.step = (size_t)s->steps;
        announce(s, HS_TRAIN_BATCH);
    }
    double t1 = hs_now();
    s->train_time += t1 - t0;
    s->train_comm += hs_dist_seconds(&s->dist) - comm0;
    s->train_images += seen;
    if ((st = hs_dist_epoch_end(&s->dist, s->net, s->theta, s->classes)))
        return st;
    if (!all_finite(hs_net_params(s->net), s->np) || !all_finite(hs_net_buffers(s->net), s->nb))
        return hs_fail(HS_ERR_DIVERGED, "training diverged: epoch %zu: parameters are not finite; "
                                        "stopped. The last good checkpoint (%zu epochs) is kept in %s",
                       e, e, cfg->out_dir);
    row->epoch = e;
    row->train_loss = loss_sum / (double)seen;
    return HS_OK;
}

/* Validation and test accuracy of row's epoch under both prediction rules. */
static hs_status evaluate_epoch(run_state *s, hs_epoch_metrics *row)
{
    const hs_train_config *cfg = s->cfg;
    /* the threshold rule needs a threshold for every class */
    const double *theta = s->has_theta ? s->theta : NULL;
    for (size_t c = 0; theta && c < s->classes; c++)
        if (!isfinite(theta[c]))
            theta = NULL;
    hs_status st = evaluate(&row->val_accuracy, &row->val_accuracy_threshold, s->net, &s->train, cfg->dataset,
                            s->val_idx, s->n_val, cfg->eval_batch, s->x, s->y, s->logits, theta, &s->lopts,
                            s->pred, &s->dist);
    if (!st)
        st = evaluate(&row->test_accuracy, &row->test_accuracy_threshold, s->net, &s->test, cfg->dataset,
                      s->test_idx, s->n_test, cfg->eval_batch, s->x, s->y, s->logits, theta, &s->lopts, s->pred,
                      &s->dist);
    return st;
}

/* checkpoint.bin and metrics.csv after epochs_done epochs (the writer), agreed by every rank. */
static hs_status save_epoch(run_state *s, size_t epochs_done)
{
    hs_status st = HS_OK;
    if (s->writer) {
        hs_ckpt out;
        memset(&out, 0, sizeof out);
        out.fp = s->fp;
        out.epochs_done = epochs_done;
        out.steps = s->steps;
        out.nparams = s->np;
        out.nbufs = s->nb;
        out.params = hs_net_params(s->net);
        out.m = s->m;
        out.v = s->v;
        out.buffers = hs_net_buffers(s->net);
        out.ntheta = s->classes;
        out.theta = s->theta;
        out.nrows = epochs_done;
        out.rows = s->rows;
        st = hs_ckpt_write(s->ckpt_path, &out);
        if (!st)
            st = hs_run_write_metrics(s->cfg->out_dir, s->rows, epochs_done);
    }
    return hs_dist_agree(&s->dist, st);
}

/* The result of every epoch and this invocation's throughput; summary.json, agreed. */
static hs_status finish_run(run_state *s, hs_train_result *result)
{
    const hs_train_config *cfg = s->cfg;
    hs_status st = HS_OK;
    summarize(result, s->rows, cfg->epochs);
    result->train_seconds = s->train_time;
    result->train_images_per_second = s->train_time > 0 ? (double)s->train_images / s->train_time : 0;
    result->train_comm_seconds = s->train_comm;
    if (s->writer)
        st = hs_run_write_summary(cfg->out_dir, cfg, result, s->rows, s->theta, s->classes);
    return hs_dist_agree(&s->dist, st);
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
    s.cfg = cfg, s.cb = cb, s.user = user;
    s.lock.fd = -1;
    hs_nn_set_threads(cfg->threads);
    if ((st = hs_dist_init(&s.dist, cfg))) {
        hs_dist_free(&s.dist);
        hs_comm_set_error_shared(cfg->comm, 0); /* this rank's alone */
        return st;
    }
    s.writer = hs_dist_is_writer(&s.dist);

    int complete = 0;
    if ((st = open_run_dir(&s)) || (st = load_data(&s)) || (st = build_model(&s)) ||
        (st = restore_checkpoint(&s, result, &complete)) || complete || (st = begin_training(&s)))
        goto out;
    s.ev.epochs = cfg->epochs;
    s.ev.start_epoch = s.start_epoch;
    s.ev.n_train = s.n_train, s.ev.n_val = s.n_val, s.ev.n_test = s.n_test;
    s.ev.epoch = s.start_epoch;
    announce(&s, HS_TRAIN_START);
    for (size_t e = s.start_epoch; e < cfg->epochs; e++) {
        double t0 = hs_now();
        hs_epoch_metrics *row = &s.rows[e];
        if ((st = train_epoch(&s, e, t0, row)) || (st = evaluate_epoch(&s, row)))
            goto out;
        row->seconds = hs_now() - t0;
        if ((st = save_epoch(&s, e + 1)))
            goto out;
        s.ev.metrics = row;
        announce(&s, HS_TRAIN_EPOCH);
        s.ev.metrics = NULL;
    }
    st = finish_run(&s, result);
out:
    st = hs_dist_finish(&s.dist, st);
    free_state(&s);
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
