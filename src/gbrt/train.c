/* Boosting through XGBoost's C API: the HyperSimplex gradient and hessian are computed
 * here every round and handed to XGBoosterBoostOneIter; the logistic baseline is XGBoost's
 * own binary:logistic (XGBoosterUpdateOneIter). Early stopping on our exact validation AUC. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbrt/xgb_check.h"
#include "hypersimplex/gbrt.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/fs.h"

struct hs_gbrt_model {
    BoosterHandle booster;
    hs_gbrt_loss loss;
    double tau;
    double theta;
    int rounds;
};

hs_status hs_xgb_fail(const char *file, int line, const char *call)
{
    const char *msg = XGBGetLastError();
    size_t name_len = strcspn(call, "(");
    const char *base = strrchr(file, '/');
    return hs_fail(HS_ERR_BACKEND, "%s:%d: %.*s failed: %s", base ? base + 1 : file, line,
                   (int)name_len, call, msg && *msg ? msg : "(no message)");
}


hs_gbrt_params hs_gbrt_params_default(void)
{
    hs_gbrt_params p;
    memset(&p, 0, sizeof p);
    p.loss = HS_GBRT_HYPERSIMPLEX;
    p.rounds = 100;
    p.tau = 1.0;
    p.hessian = HS_GBRT_HESS_ONES;
    p.max_depth = 6;
    p.eta = 0.3;
    p.lambda = 1.0;
    p.min_child_weight = 1.0;
    p.max_bin = 256;
    p.threads = 0;
    p.seed = 0;
    p.early_stopping = 0;
    return p;
}

const char *hs_gbrt_params_check(const hs_gbrt_params *p)
{
    if (!p)
        return "parameters are NULL";
    if (p->loss != HS_GBRT_LOGISTIC && p->loss != HS_GBRT_HYPERSIMPLEX)
        return "unknown loss";
    if (p->rounds < 1)
        return "rounds must be >= 1";
    if (!(p->tau > 0) || !isfinite(p->tau))
        return "tau must be finite and > 0";
    if (p->hessian != HS_GBRT_HESS_ONES && p->hessian != HS_GBRT_HESS_GN &&
        p->hessian != HS_GBRT_HESS_CONST)
        return "unknown hessian rule";
    if (p->max_depth < 1 || p->max_depth > 64)
        return "max_depth must be in [1, 64]";
    if (!(p->eta > 0) || !isfinite(p->eta))
        return "eta must be finite and > 0";
    if (!(p->lambda >= 0) || !isfinite(p->lambda))
        return "lambda must be finite and >= 0";
    if (!(p->min_child_weight >= 0) || !isfinite(p->min_child_weight))
        return "min_child_weight must be finite and >= 0";
    if (p->max_bin < 2)
        return "max_bin must be >= 2";
    if (p->threads < 0)
        return "threads must be >= 0";
    if (p->early_stopping < 0)
        return "early_stopping must be >= 0";
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* DMatrix and booster helpers                                               */
/* ------------------------------------------------------------------------- */

static hs_status make_dmatrix(DMatrixHandle *out, const hs_table *t, const char *what)
{
    hs_status st = HS_OK;
    *out = NULL;
    if (!t || !t->indptr || !t->labels)
        return hs_fail(HS_ERR_NULL, "%s table is empty or NULL", what);
    if (t->rows == 0)
        return hs_fail(HS_ERR_SIZE, "%s table has no rows", what);
    if (t->cols == 0)
        return hs_fail(HS_ERR_SIZE, "%s table has no feature columns", what);
    HS_XGB_CHECK(st, fail,
                 XGDMatrixCreateFromCSREx(t->indptr, (const unsigned *)t->indices, t->values,
                                          t->rows + 1, t->nnz, t->cols, out));
    HS_XGB_CHECK(st, fail, XGDMatrixSetFloatInfo(*out, "label", t->labels, t->rows));
    return HS_OK;
fail:
    if (*out)
        HS_XGB_RELEASE(st, XGDMatrixFree(*out));
    *out = NULL;
    return st;
}

/* Margins of all trees for dm. The returned array belongs to XGBoost (valid until the next
 * call on this booster). */
static hs_status predict_margin(const float **out, BoosterHandle b, DMatrixHandle dm,
                                size_t expect, int training)
{
    hs_status st = HS_OK;
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const char *cfg = training ? "{\"type\": 1, \"training\": true, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false}"
                               : "{\"type\": 1, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false}";
    HS_XGB_CHECK(st, fail, XGBoosterPredictFromDMatrix(b, dm, cfg, &shape, &dim, out));
    if (dim < 1 || shape[0] != (bst_ulong)expect)
        return hs_fail(HS_ERR_BACKEND, "XGBoost returned %llu predictions, expected %zu",
                       dim ? (unsigned long long)shape[0] : 0ULL, expect);
    return HS_OK;
fail:
    return st;
}

static hs_status set_param(BoosterHandle b, const char *name, const char *value)
{
    hs_status st = HS_OK;
    HS_XGB_CHECK(st, fail, XGBoosterSetParam(b, name, value));
    return HS_OK;
fail:
    return st;
}

static hs_status configure(BoosterHandle b, const hs_gbrt_params *p)
{
    char buf[64];
    hs_status st;
    if ((st = set_param(b, "tree_method", "hist")))
        return st;
    snprintf(buf, sizeof buf, "%d", p->max_depth);
    if ((st = set_param(b, "max_depth", buf)))
        return st;
    snprintf(buf, sizeof buf, "%.17g", p->eta);
    if ((st = set_param(b, "eta", buf)))
        return st;
    snprintf(buf, sizeof buf, "%.17g", p->lambda);
    if ((st = set_param(b, "lambda", buf)))
        return st;
    snprintf(buf, sizeof buf, "%.17g", p->min_child_weight);
    if ((st = set_param(b, "min_child_weight", buf)))
        return st;
    snprintf(buf, sizeof buf, "%d", p->max_bin);
    if ((st = set_param(b, "max_bin", buf)))
        return st;
    if (p->threads > 0) {
        snprintf(buf, sizeof buf, "%d", p->threads);
        if ((st = set_param(b, "nthread", buf)))
            return st;
    }
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)(p->seed & 0x7fffffffu));
    if ((st = set_param(b, "seed", buf)))
        return st;
    /* HyperSimplex: identity link (predictions are margins), margin 0 before any tree; its
     * squared-error gradient is never used since we call XGBoosterBoostOneIter. */
    if ((st = set_param(b, "objective",
                        p->loss == HS_GBRT_LOGISTIC ? "binary:logistic" : "reg:squarederror")))
        return st;
    if ((st = set_param(b, "base_score", p->loss == HS_GBRT_LOGISTIC ? "0.5" : "0")))
        return st;
    return set_param(b, "eval_metric", "auc");
}

/* XGBoost's "auc" for dm from XGBoosterEvalOneIter, parsed from "\tNAME-auc:VALUE". */
static hs_status xgb_eval_auc(double *auc, BoosterHandle b, DMatrixHandle dm)
{
    hs_status st = HS_OK;
    const char *names[1] = {"data"};
    DMatrixHandle dms[1] = {dm};
    const char *out = NULL;
    HS_XGB_CHECK(st, fail, XGBoosterEvalOneIter(b, 0, dms, names, 1, &out));
    const char *at = out ? strstr(out, "data-auc:") : NULL;
    if (!at)
        return hs_fail(HS_ERR_BACKEND, "XGBoost's evaluation '%s' has no auc", out ? out : "");
    char *end = NULL;
    double v = strtod(at + 9, &end);
    if (end == at + 9 || !isfinite(v))
        return hs_fail(HS_ERR_BACKEND, "cannot read XGBoost's auc from '%s'", out);
    *auc = v;
    return HS_OK;
fail:
    return st;
}

/* Accuracy of 0/1 decisions from margins (see hs_gbrt_predict_label). */
static int decide(hs_gbrt_loss loss, float margin, double tau, double theta)
{
    if (loss == HS_GBRT_LOGISTIC)
        return margin >= 0.0f;
    double p = (double)margin / tau - theta;
    return p >= 0.5;
}

static double accuracy(const float *margin, const float *label, size_t n, hs_gbrt_loss loss,
                       double tau, double theta)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += decide(loss, margin[i], tau, theta) == (label[i] == 1.0f);
    return (double)ok / (double)n;
}

static double mean_logloss(const float *margin, const float *label, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double m = label[i] == 1.0f ? (double)margin[i] : -(double)margin[i];
        s += m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
    }
    return s / (double)n;
}

/* ------------------------------------------------------------------------- */
/* Training                                                                  */
/* ------------------------------------------------------------------------- */

hs_status hs_gbrt_train(hs_gbrt_model **model, hs_gbrt_result *result, const hs_table *train,
                        const hs_table *valid, const hs_gbrt_params *params,
                        hs_gbrt_callback callback, void *user)
{
    if (!model || !result || !train || !params)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_train: NULL argument");
    *model = NULL;
    const char *bad = hs_gbrt_params_check(params);
    if (bad)
        return hs_fail(HS_ERR_ARG, "gbrt parameters: %s", bad);
    if (params->early_stopping > 0 && !valid)
        return hs_fail(HS_ERR_ARG, "early stopping needs a validation set");
    if (valid && valid->cols > train->cols)
        return hs_fail(HS_ERR_SIZE,
                       "the validation table has %zu feature columns, the training table %zu",
                       valid->cols, train->cols);
    const hs_gbrt_params *p = params;
    const size_t n = train->rows;
    const int hs = p->loss == HS_GBRT_HYPERSIMPLEX;
    hs_status st = HS_OK;
    DMatrixHandle dtrain = NULL, dvalid = NULL;
    BoosterHandle booster = NULL;
    float *grad = NULL, *hess = NULL, *vmargin = NULL;
    double *work = NULL;
    hs_gbrt_model *m = NULL;
    memset(result, 0, sizeof *result);
    result->valid_auc = result->valid_acc = result->valid_auc_xgb = NAN;
    double t0 = hs_now();

    if (hs) {
        size_t k = hs_table_positives(train);
        if (k == 0 || k == n) {
            st = hs_fail(HS_ERR_LABEL, "the training set has %s: the HyperSimplex loss needs "
                         "both classes", k ? "no negatives" : "no positives");
            goto done;
        }
        grad = malloc(n * sizeof *grad);
        hess = malloc(n * sizeof *hess);
        work = malloc(2 * n * sizeof *work);
        if (!grad || !hess || !work) {
            st = hs_fail(HS_ERR_NOMEM, "out of memory for the gradient of %zu rows", n);
            goto done;
        }
    }
    if ((st = make_dmatrix(&dtrain, train, "training")))
        goto done;
    if (valid) {
        if ((st = make_dmatrix(&dvalid, valid, "validation")))
            goto done;
        vmargin = malloc(valid->rows * sizeof *vmargin);
        if (!vmargin) {
            st = hs_fail(HS_ERR_NOMEM, "out of memory for %zu validation margins", valid->rows);
            goto done;
        }
    }
    DMatrixHandle cache[2] = {dtrain, dvalid};
    HS_XGB_CHECK(st, done, XGBoosterCreate(cache, valid ? 2 : 1, &booster));
    if ((st = configure(booster, p)))
        goto done;

    double best_auc = -1, best_acc = NAN, best_theta = 0, theta = 0;
    int best_round = 0, since_best = 0;
    double t_obj_prev = 0, t_boost_prev = 0;
    int t;
    for (t = 0;; t++) { /* the model has t trees here */
        hs_gbrt_round rec;
        memset(&rec, 0, sizeof rec);
        rec.round = t;
        const float *tm = NULL;
        double ta = hs_now();
        if ((st = predict_margin(&tm, booster, dtrain, n, 1)))
            goto done;
        double tb = hs_now();
        rec.t_predict = tb - ta;
        double t_obj = 0;
        if (hs) {
            hs_gbrt_objective_info info;
            if ((st = hs_gbrt_hs_objective_f(t < p->rounds ? grad : NULL, hess, &info, tm,
                                             train->labels, n, p->tau, p->hessian, work)))
                goto done;
            t_obj = hs_now() - tb;
            rec.train_loss = info.loss;
            rec.n_free = info.n_free;
            theta = info.theta;
        } else {
            rec.train_loss = mean_logloss(tm, train->labels, n);
        }
        if (!isfinite(rec.train_loss)) {
            st = hs_fail(HS_ERR_DIVERGED, "round %d: the training loss is not finite", t);
            goto done;
        }
        result->t_objective += t_obj;
        int stop = 0;
        if (t > 0) {
            rec.t_objective = t_obj_prev;
            rec.t_boost = t_boost_prev;
            rec.valid_auc = rec.valid_acc = NAN;
            if (valid) {
                double te = hs_now();
                const float *vm = NULL;
                if ((st = predict_margin(&vm, booster, dvalid, valid->rows, 0)))
                    goto done;
                memcpy(vmargin, vm, valid->rows * sizeof *vmargin);
                if ((st = hs_auc(&rec.valid_auc, vmargin, valid->labels, valid->rows))) {
                    char msg[400];
                    snprintf(msg, sizeof msg, "%s", hs_last_error());
                    st = hs_fail(st, "validation set: %s", msg);
                    goto done;
                }
                rec.valid_acc = accuracy(vmargin, valid->labels, valid->rows, p->loss, p->tau,
                                         theta);
                rec.t_eval = hs_now() - te;
                if (rec.valid_auc > best_auc) {
                    best_auc = rec.valid_auc;
                    best_acc = rec.valid_acc;
                    best_round = t;
                    best_theta = theta;
                    since_best = 0;
                } else {
                    since_best++;
                }
                if (p->early_stopping > 0 && since_best >= p->early_stopping)
                    stop = 1;
            } else {
                best_round = t;
                best_theta = theta;
            }
            result->rounds_done = t;
            if (callback && callback(&rec, user))
                stop = 1;
        }
        if (stop || t == p->rounds)
            break;
        t_obj_prev = t_obj;
        double tc = hs_now();
        if (hs)
            HS_XGB_CHECK(st, done, XGBoosterBoostOneIter(booster, dtrain, grad, hess, n));
        else
            HS_XGB_CHECK(st, done, XGBoosterUpdateOneIter(booster, t, dtrain));
        t_boost_prev = hs_now() - tc;
        result->t_boost += t_boost_prev;
    }

    /* Keep the best round's trees. */
    if (best_round < result->rounds_done) {
        BoosterHandle sliced = NULL;
        HS_XGB_CHECK(st, done, XGBoosterSlice(booster, 0, best_round, 1, &sliced));
        HS_XGB_RELEASE(st, XGBoosterFree(booster));
        booster = sliced;
        if (st)
            goto done;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        st = hs_fail(HS_ERR_NOMEM, "out of memory");
        goto done;
    }
    m->booster = booster;
    m->loss = p->loss;
    m->tau = p->tau;
    m->theta = hs ? best_theta : 0;
    m->rounds = best_round;
    booster = NULL;
    {
        char buf[64];
        HS_XGB_CHECK(st, done, XGBoosterSetAttr(m->booster, "hs_loss",
                                                hs ? "hypersimplex" : "logistic"));
        snprintf(buf, sizeof buf, "%.17g", m->tau);
        HS_XGB_CHECK(st, done, XGBoosterSetAttr(m->booster, "hs_tau", buf));
        snprintf(buf, sizeof buf, "%.17g", m->theta);
        HS_XGB_CHECK(st, done, XGBoosterSetAttr(m->booster, "hs_theta", buf));
        snprintf(buf, sizeof buf, "%d", m->rounds);
        HS_XGB_CHECK(st, done, XGBoosterSetAttr(m->booster, "hs_best_round", buf));
    }
    result->best_round = best_round;
    result->theta = m->theta;
    {
        const float *tm = NULL;
        if ((st = predict_margin(&tm, m->booster, dtrain, n, 0)))
            goto done;
        if ((st = hs_auc(&result->train_auc, tm, train->labels, n)))
            goto done;
    }
    if (valid) {
        result->valid_auc = best_auc;
        result->valid_acc = best_acc;
        if ((st = xgb_eval_auc(&result->valid_auc_xgb, m->booster, dvalid)))
            goto done;
    }
    result->t_total = hs_now() - t0;
done:
    if (booster)
        HS_XGB_RELEASE(st, XGBoosterFree(booster));
    if (dtrain)
        HS_XGB_RELEASE(st, XGDMatrixFree(dtrain));
    if (dvalid)
        HS_XGB_RELEASE(st, XGDMatrixFree(dvalid));
    if (st == HS_OK) { /* the model is handed out only when everything, cleanup too, worked */
        *model = m;
        m = NULL;
    }
    if (m)
        hs_gbrt_free(m);
    free(grad);
    free(hess);
    free(work);
    free(vmargin);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Using a trained model                                                     */
/* ------------------------------------------------------------------------- */

hs_status hs_gbrt_predict_margin(float *margin, const hs_gbrt_model *m, const hs_table *t)
{
    if (!margin || !m || !t)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_predict_margin: NULL argument");
    DMatrixHandle dm = NULL;
    hs_status st = make_dmatrix(&dm, t, "prediction");
    if (st)
        return st;
    const float *out = NULL;
    if (!(st = predict_margin(&out, m->booster, dm, t->rows, 0)))
        memcpy(margin, out, t->rows * sizeof *margin);
    HS_XGB_RELEASE(st, XGDMatrixFree(dm));
    return st;
}

hs_status hs_gbrt_predict_label(float *label, const hs_gbrt_model *m, const hs_table *t)
{
    hs_status st = hs_gbrt_predict_margin(label, m, t);
    if (st)
        return st;
    for (size_t i = 0; i < t->rows; i++)
        label[i] = (float)decide(m->loss, label[i], m->tau, m->theta);
    return HS_OK;
}

hs_status hs_gbrt_xgb_auc(double *auc, const hs_gbrt_model *m, const hs_table *t)
{
    if (!auc || !m || !t)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_xgb_auc: NULL argument");
    DMatrixHandle dm = NULL;
    hs_status st = make_dmatrix(&dm, t, "evaluation");
    if (st)
        return st;
    st = xgb_eval_auc(auc, m->booster, dm);
    HS_XGB_RELEASE(st, XGDMatrixFree(dm));
    return st;
}

hs_status hs_gbrt_xgb_auc_of_scores(double *auc, const float *score, const float *label,
                                    size_t n)
{
    if (!auc || !score || !label)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_xgb_auc_of_scores: NULL argument");
    if (n == 0)
        return hs_fail(HS_ERR_SIZE, "hs_gbrt_xgb_auc_of_scores: no examples");
    hs_status st = HS_OK;
    DMatrixHandle dm = NULL;
    BoosterHandle b = NULL;
    float *zeros = calloc(n, sizeof *zeros);
    if (!zeros)
        return hs_fail(HS_ERR_NOMEM, "out of memory for %zu examples", n);
    HS_XGB_CHECK(st, done, XGDMatrixCreateFromMat(zeros, n, 1, NAN, &dm));
    HS_XGB_CHECK(st, done, XGDMatrixSetFloatInfo(dm, "label", label, n));
    HS_XGB_CHECK(st, done, XGDMatrixSetFloatInfo(dm, "base_margin", score, n));
    HS_XGB_CHECK(st, done, XGBoosterCreate(&dm, 1, &b));
    if ((st = set_param(b, "objective", "reg:squarederror")) ||
        (st = set_param(b, "base_score", "0")) || (st = set_param(b, "eval_metric", "auc")))
        goto done;
    st = xgb_eval_auc(auc, b, dm);
done:
    if (b)
        HS_XGB_RELEASE(st, XGBoosterFree(b));
    if (dm)
        HS_XGB_RELEASE(st, XGDMatrixFree(dm));
    free(zeros);
    return st;
}

hs_status hs_gbrt_write(const hs_gbrt_model *m, FILE *f, const char *name)
{
    if (!m || !f || !name)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_write: NULL argument");
    size_t len = strlen(name);
    const char *cfg = "{\"format\": \"json\"}";
    if (len >= 4 && !strcmp(name + len - 4, ".ubj"))
        cfg = "{\"format\": \"ubj\"}";
    else if ((len >= 4 && !strcmp(name + len - 4, ".bin")) ||
             (len >= 6 && !strcmp(name + len - 6, ".model")))
        cfg = "{\"format\": \"deprecated\"}";
    hs_status st = HS_OK;
    bst_ulong n = 0;
    const char *buf = NULL;
    HS_XGB_CHECK(st, fail, XGBoosterSaveModelToBuffer(m->booster, cfg, &n, &buf));
    if (fwrite(buf, 1, (size_t)n, f) != (size_t)n)
        return hs_fail(HS_ERR_IO, "cannot write %s", name);
    return HS_OK;
fail:
    return st;
}

hs_status hs_gbrt_save(const hs_gbrt_model *m, const char *path)
{
    if (!m || !path)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_save: NULL argument");
    hs_atomic_file af;
    hs_status st = hs_atomic_open(&af, path);
    if (st)
        return st;
    if ((st = hs_gbrt_write(m, af.f, path))) {
        hs_atomic_abort(&af);
        return st;
    }
    return hs_atomic_commit(&af);
}

void hs_gbrt_free(hs_gbrt_model *m)
{
    if (!m)
        return;
    if (m->booster)
        (void)XGBoosterFree(m->booster); /* a void free has no way to report a failure */
    free(m);
}
