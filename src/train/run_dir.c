/* The run directory (hypersimplex/train.h, "The run directory"): the writers of config.json,
 * metrics.csv and summary.json (src/train/run_dir.h), their readers, and a directory's
 * progress. The files are written with fprintf and read with jansson. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "train/run_dir.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/fs.h"

/* ------------------------------------------------------------------------- */
/* Writers                                                                   */
/* ------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* JSON has no NaN: null instead. */
static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

/* Opens dir/name for an atomic write (see util/atomic_file.h). */
static hs_status open_in_dir(hs_atomic_file *af, const char *dir, const char *name)
{
    char *path = hs_path_join(dir, name);
    if (!path)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    hs_status st = hs_atomic_open(af, path);
    free(path);
    return st;
}

hs_status hs_run_write_config(const char *dir, const hs_train_config *c, const hs_run_info *ri)
{
    hs_atomic_file af;
    hs_status st = open_in_dir(&af, dir, HS_RUN_CONFIG_FILE);
    if (st)
        return st;
    FILE *f = af.f;
    fprintf(f, "{\n  \"version\": ");
    json_str(f, hs_version());
    fprintf(f, ",\n  \"dataset\": ");
    json_str(f, hs_data_kind_name(c->dataset));
    fprintf(f, ",\n  \"data_dir\": ");
    json_str(f, c->data_dir ? c->data_dir : hs_data_default_dir(c->dataset));
    fprintf(f, ",\n  \"loss\": ");
    json_str(f, hs_loss_kind_name(c->loss.kind));
    fprintf(f, ",\n  \"tau\": ");
    json_num(f, c->loss.tau);
    fprintf(f, ",\n  \"k_policy\": ");
    json_str(f, hs_k_policy_name(c->loss.k_policy));
    fprintf(f, ",\n  \"k_fraction\": ");
    json_num(f, c->loss.k_fraction);
    fprintf(f, ",\n  \"regularization\": ");
    json_str(f, hs_regularization_name(c->loss.reg));
    fprintf(f, ",\n  \"theta_momentum\": ");
    json_num(f, c->theta_momentum);
    fprintf(
        f, ",\n  \"batch_size\": %zu,\n  \"epochs\": %zu,\n  \"width\": %zu,\n  \"hidden\": %zu,\n",
        c->batch_size, c->epochs, c->width, c->hidden);
    fprintf(f, "  \"seed\": %llu,\n  \"lr\": ", (unsigned long long)c->seed);
    json_num(f, c->lr);
    fprintf(f, ",\n  \"adam_beta1\": 0.9,\n  \"adam_beta2\": 0.999,\n  \"adam_eps\": 1e-08,\n");
    fprintf(f, "  \"val_fraction\": ");
    json_num(f, c->val_fraction);
    fprintf(f, ",\n  \"train_limit\": %zu,\n  \"test_limit\": %zu,\n  \"augment\": %s,\n",
            c->train_limit, c->test_limit, c->augment ? "true" : "false");
    fprintf(f, "  \"threads\": %d,\n  \"eval_batch\": %zu,\n", c->threads, c->eval_batch);
    fprintf(f, "  \"ranks\": %d,\n  \"sync_bn\": %s,\n  \"loss_scope\": \"%s\",\n",
            hs_comm_size(c->comm), c->sync_bn ? "true" : "false", hs_loss_scope_name(c->loss_scope));
    fprintf(f, "  \"image\": [%zu, %zu, %zu],\n  \"classes\": %zu,\n", ri->shape.channels,
            ri->shape.height, ri->shape.width, ri->shape.classes);
    fprintf(
        f, "  \"n_train\": %zu,\n  \"n_val\": %zu,\n  \"n_test\": %zu,\n  \"parameters\": %zu\n}\n",
        ri->n_train, ri->n_val, ri->n_test, ri->nparams);
    return hs_atomic_commit(&af);
}

static void acc_out(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6f", v);
    else
        fputs("nan", f);
}

hs_status hs_run_write_metrics(const char *dir, const hs_epoch_metrics *rows, size_t n)
{
    hs_atomic_file af;
    hs_status st = open_in_dir(&af, dir, HS_RUN_METRICS_FILE);
    if (st)
        return st;
    fprintf(af.f, "epoch,train_loss,val_accuracy,test_accuracy,seconds,val_accuracy_threshold,"
                  "test_accuracy_threshold\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(af.f, "%zu,%.17g,", rows[i].epoch, rows[i].train_loss);
        acc_out(af.f, rows[i].val_accuracy);
        fputc(',', af.f);
        acc_out(af.f, rows[i].test_accuracy);
        fprintf(af.f, ",%.3f,", rows[i].seconds);
        acc_out(af.f, rows[i].val_accuracy_threshold);
        fputc(',', af.f);
        acc_out(af.f, rows[i].test_accuracy_threshold);
        fputc('\n', af.f);
    }
    return hs_atomic_commit(&af);
}

hs_status hs_run_write_summary(const char *dir, const hs_train_config *c, const hs_train_result *r,
                               const hs_epoch_metrics *rows, const double *theta, size_t C)
{
    hs_atomic_file af;
    hs_status st = open_in_dir(&af, dir, HS_RUN_SUMMARY_FILE);
    if (st)
        return st;
    FILE *f = af.f;
    double total = 0;
    for (size_t i = 0; i < r->epochs_done; i++)
        total += rows[i].seconds;
    fprintf(f, "{\n  \"dataset\": ");
    json_str(f, hs_data_kind_name(c->dataset));
    fprintf(f, ",\n  \"loss\": ");
    json_str(f, hs_loss_kind_name(c->loss.kind));
    fprintf(f,
            ",\n  \"batch_size\": %zu,\n  \"seed\": %llu,\n  \"width\": %zu,\n  \"epochs\": %zu,\n",
            c->batch_size, (unsigned long long)c->seed, c->width, r->epochs_done);
    fprintf(f, "  \"best_val_epoch\": %zu,\n  \"best_val_accuracy\": ", r->best_val_epoch);
    json_num(f, r->best_val_accuracy);
    fprintf(f, ",\n  \"test_accuracy_at_best_val\": ");
    json_num(f, r->test_at_best_val);
    fprintf(f, ",\n  \"max_test_accuracy\": ");
    json_num(f, r->max_test_accuracy);
    fprintf(f, ",\n  \"max_test_epoch\": %zu,\n  \"final_test_accuracy\": ", r->max_test_epoch);
    json_num(f, r->final_test_accuracy);
    fprintf(f, ",\n  \"final_train_loss\": ");
    json_num(f, r->epochs_done ? rows[r->epochs_done - 1].train_loss : NAN);
    fprintf(f, ",\n  \"best_val_epoch_threshold\": %zu,\n  \"best_val_accuracy_threshold\": ",
            r->best_val_epoch_threshold);
    json_num(f, r->best_val_accuracy_threshold);
    fprintf(f, ",\n  \"test_accuracy_at_best_val_threshold\": ");
    json_num(f, r->test_at_best_val_threshold);
    fprintf(f, ",\n  \"max_test_accuracy_threshold\": ");
    json_num(f, r->max_test_accuracy_threshold);
    fprintf(f, ",\n  \"max_test_epoch_threshold\": %zu,\n  \"final_test_accuracy_threshold\": ",
            r->max_test_epoch_threshold);
    json_num(f, r->final_test_accuracy_threshold);
    fprintf(f, ",\n  \"class_thresholds\": [");
    for (size_t i = 0; i < C; i++) {
        fputs(i ? ", " : "", f);
        json_num(f, theta[i]);
    }
    fputc(']', f);
    fprintf(f, ",\n  \"total_epoch_seconds\": %.3f\n}\n", total);
    return hs_atomic_commit(&af);
}

/* ------------------------------------------------------------------------- */
/* Readers                                                                   */
/* ------------------------------------------------------------------------- */

/* One JSON file of a run directory: its path (for the messages) and its root object. */
typedef struct json_doc {
    char *path;
    json_t *root;
} json_doc;

static void doc_close(json_doc *d)
{
    json_decref(d->root);
    free(d->path);
}

static hs_status doc_open(json_doc *d, const char *dir, const char *name)
{
    memset(d, 0, sizeof *d);
    d->path = hs_path_join(dir, name);
    if (!d->path)
        return HS_ERR_NOMEM;
    FILE *f = fopen(d->path, "rb");
    if (!f)
        return hs_fail(HS_ERR_IO, "cannot open %s: %s", d->path, strerror(errno));
    json_error_t err;
    d->root = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
    int read_failed = ferror(f);
    fclose(f);
    if (read_failed) /* e.g. a directory: fopen succeeds, reading fails */
        return hs_fail(HS_ERR_IO, "cannot read %s", d->path);
    if (!d->root)
        return hs_fail(HS_ERR_FORMAT, "%s: not valid JSON: line %d, column %d: %s", d->path,
                       err.line, err.column, err.text);
    if (!json_is_object(d->root))
        return hs_fail(HS_ERR_FORMAT, "%s: not a JSON object", d->path);
    return HS_OK;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a fractional number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* *v = the value of key, NULL when absent (an error when required). */
static hs_status doc_get(json_t **v, const json_doc *d, const char *key, int required)
{
    *v = json_object_get(d->root, key);
    if (!*v && required)
        return hs_fail(HS_ERR_FORMAT, "%s: the required key \"%s\" is missing", d->path, key);
    return HS_OK;
}

/* A number; null is NaN. Absent and not required: *out is left as it is (its default). */
static hs_status get_double(double *out, const json_doc *d, const char *key, int required)
{
    json_t *v;
    hs_status st = doc_get(&v, d, key, required);
    if (st || !v)
        return st;
    if (json_is_null(v))
        *out = NAN;
    else if (json_is_number(v))
        *out = json_number_value(v);
    else
        return hs_fail(HS_ERR_FORMAT, "%s: \"%s\" must be a number or null, not %s", d->path, key,
                       type_name(v));
    return HS_OK;
}

/* An integer in [0, max]. */
static hs_status get_uint(uint64_t *out, const json_doc *d, const char *key, uint64_t max,
                          int required)
{
    json_t *v;
    hs_status st = doc_get(&v, d, key, required);
    if (st || !v)
        return st;
    if (!json_is_integer(v))
        return hs_fail(HS_ERR_FORMAT, "%s: \"%s\" must be an integer, not %s", d->path, key,
                       type_name(v));
    json_int_t i = json_integer_value(v);
    if (i < 0)
        return hs_fail(HS_ERR_FORMAT, "%s: \"%s\" is %lld, must be >= 0", d->path, key,
                       (long long)i);
    if ((uint64_t)i > max)
        return hs_fail(HS_ERR_FORMAT, "%s: \"%s\" is %lld, more than %llu", d->path, key,
                       (long long)i, (unsigned long long)max);
    *out = (uint64_t)i;
    return HS_OK;
}

static hs_status get_size(size_t *out, const json_doc *d, const char *key, int required)
{
    uint64_t u = *out;
    hs_status st = get_uint(&u, d, key, SIZE_MAX, required);
    if (!st)
        *out = (size_t)u;
    return st;
}

static hs_status get_bool(int *out, const json_doc *d, const char *key)
{
    json_t *v;
    hs_status st = doc_get(&v, d, key, 0);
    if (st || !v)
        return st;
    if (!json_is_boolean(v))
        return hs_fail(HS_ERR_FORMAT, "%s: \"%s\" must be true or false, not %s", d->path, key,
                       type_name(v));
    *out = json_is_true(v);
    return HS_OK;
}

/* *out = the string of key (owned by the document), or NULL when absent and not required. */
static hs_status get_string(const char **out, const json_doc *d, const char *key, int required)
{
    json_t *v;
    hs_status st = doc_get(&v, d, key, required);
    *out = NULL;
    if (st || !v)
        return st;
    if (!json_is_string(v))
        return hs_fail(HS_ERR_FORMAT, "%s: \"%s\" must be a string, not %s", d->path, key,
                       type_name(v));
    *out = json_string_value(v);
    return HS_OK;
}

/* The failure of a name parser (its message says what was expected) as a format error of key. */
static hs_status name_error(const json_doc *d, const char *key)
{
    char why[256];
    snprintf(why, sizeof why, "%s", hs_last_error());
    return hs_fail(HS_ERR_FORMAT, "%s: \"%s\": %s", d->path, key, why);
}

/* The loss options: loss, k_policy and k_fraction are required; tau and regularization
 * default to hs_train_loss_default(loss)'s. */
static hs_status read_loss(hs_loss_opts *lo, const json_doc *d)
{
    const char *s;
    hs_loss_kind kind;
    hs_status st = get_string(&s, d, "loss", 1);
    if (st)
        return st;
    if (hs_loss_kind_parse(&kind, s))
        return name_error(d, "loss");
    *lo = hs_train_loss_default(kind);
    double fraction = lo->k_fraction;
    if ((st = get_string(&s, d, "k_policy", 1)))
        return st;
    if (hs_k_policy_parse(&lo->k_policy, &fraction, s))
        return name_error(d, "k_policy");
    if ((st = get_double(&lo->k_fraction, d, "k_fraction", 1)) ||
        (st = get_double(&lo->tau, d, "tau", 0)) || (st = get_string(&s, d, "regularization", 0)))
        return st;
    if (s && hs_regularization_parse(&lo->reg, s))
        return name_error(d, "regularization");
    return HS_OK;
}

static hs_status read_config(hs_run_record *r, const json_doc *d)
{
    hs_train_config *c = &r->config;
    const char *s;
    uint64_t u;
    hs_status st = get_string(&s, d, "dataset", 1);
    if (st)
        return st;
    if (hs_data_kind_parse(&c->dataset, s))
        return name_error(d, "dataset");
    if ((st = read_loss(&c->loss, d)) || (st = get_size(&c->batch_size, d, "batch_size", 1)) ||
        (st = get_uint(&c->seed, d, "seed", UINT64_MAX, 1)) ||
        (st = get_size(&c->epochs, d, "epochs", 1)) || (st = get_size(&c->width, d, "width", 0)) ||
        (st = get_size(&c->hidden, d, "hidden", 0)) || (st = get_double(&c->lr, d, "lr", 0)) ||
        (st = get_double(&c->val_fraction, d, "val_fraction", 0)) ||
        (st = get_size(&c->train_limit, d, "train_limit", 0)) ||
        (st = get_size(&c->test_limit, d, "test_limit", 0)) ||
        (st = get_bool(&c->augment, d, "augment")) ||
        (st = get_size(&c->eval_batch, d, "eval_batch", 0)) ||
        (st = get_double(&c->theta_momentum, d, "theta_momentum", 0)) ||
        (st = get_bool(&c->sync_bn, d, "sync_bn")) || (st = get_size(&r->ranks, d, "ranks", 0)) ||
        (st = get_size(&r->n_train, d, "n_train", 0)) ||
        (st = get_size(&r->n_val, d, "n_val", 0)) || (st = get_size(&r->n_test, d, "n_test", 0)) ||
        (st = get_size(&r->parameters, d, "parameters", 0)) ||
        (st = get_size(&r->shape.classes, d, "classes", 0)))
        return st;
    u = (uint64_t)c->threads;
    if ((st = get_uint(&u, d, "threads", INT_MAX, 0)))
        return st;
    c->threads = (int)u;
    if ((st = get_string(&s, d, "loss_scope", 0)))
        return st;
    if (s && hs_loss_scope_parse(&c->loss_scope, s))
        return name_error(d, "loss_scope");

    json_t *image = json_object_get(d->root, "image");
    if (image) {
        size_t *dims[3] = {&r->shape.channels, &r->shape.height, &r->shape.width};
        if (!json_is_array(image) || json_array_size(image) != 3)
            return hs_fail(HS_ERR_FORMAT,
                           "%s: \"image\" must be an array of 3 integers (channels, height, width)",
                           d->path);
        for (size_t i = 0; i < 3; i++) {
            json_t *v = json_array_get(image, i);
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                return hs_fail(HS_ERR_FORMAT,
                               "%s: \"image\"[%zu] must be a non-negative integer, not %s", d->path,
                               i, type_name(v));
            *dims[i] = (size_t)json_integer_value(v);
        }
    }
    r->shape.conv_width = c->width;
    r->shape.hidden = c->hidden;

    if ((st = get_string(&s, d, "data_dir", 0)))
        return st;
    if (s && !(c->data_dir = strdup(s)))
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    if ((st = get_string(&s, d, "version", 0)))
        return st;
    if (s && !(r->version = strdup(s)))
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    if (r->ranks < 1)
        return hs_fail(HS_ERR_FORMAT, "%s: \"ranks\" is 0, must be >= 1", d->path);
    return HS_OK;
}

hs_status hs_run_record_read(hs_run_record *out, const char *dir)
{
    if (!out || !dir) {
        if (out)
            memset(out, 0, sizeof *out);
        return hs_fail(HS_ERR_NULL, "hs_run_record_read: %s is NULL", out ? "dir" : "out");
    }
    hs_run_record r;
    memset(&r, 0, sizeof r);
    r.config = hs_train_config_default();
    r.ranks = 1;
    json_doc d;
    hs_status st = doc_open(&d, dir, HS_RUN_CONFIG_FILE);
    if (!st)
        st = read_config(&r, &d);
    if (!st && !(r.config.out_dir = strdup(dir)))
        st = hs_fail(HS_ERR_NOMEM, "out of memory");
    const char *problem = st ? NULL : hs_train_config_check(&r.config);
    if (problem) /* a value out of range, which hs_train_run would refuse */
        st = hs_fail(HS_ERR_FORMAT, "%s: %s", d.path, problem);
    doc_close(&d);
    if (st) {
        hs_run_record_free(&r);
        memset(out, 0, sizeof *out);
        return st;
    }
    *out = r;
    return HS_OK;
}

void hs_run_record_free(hs_run_record *r)
{
    if (!r)
        return;
    free((char *)r->config.out_dir);
    free((char *)r->config.data_dir);
    free(r->version);
    memset(r, 0, sizeof *r);
}

static hs_status read_summary(hs_train_result *r, double *theta, size_t max_theta, size_t *n_theta,
                              const json_doc *d)
{
    hs_status st;
    /* the selections of the threshold rule are optional: NaN (epochs 0) when absent */
    r->best_val_accuracy_threshold = r->test_at_best_val_threshold = NAN;
    r->max_test_accuracy_threshold = r->final_test_accuracy_threshold = NAN;
    if ((st = get_size(&r->epochs_done, d, "epochs", 1)) ||
        (st = get_size(&r->best_val_epoch, d, "best_val_epoch", 1)) ||
        (st = get_double(&r->best_val_accuracy, d, "best_val_accuracy", 1)) ||
        (st = get_double(&r->test_at_best_val, d, "test_accuracy_at_best_val", 1)) ||
        (st = get_double(&r->max_test_accuracy, d, "max_test_accuracy", 1)) ||
        (st = get_size(&r->max_test_epoch, d, "max_test_epoch", 1)) ||
        (st = get_double(&r->final_test_accuracy, d, "final_test_accuracy", 1)) ||
        (st = get_size(&r->best_val_epoch_threshold, d, "best_val_epoch_threshold", 0)) ||
        (st = get_double(&r->best_val_accuracy_threshold, d, "best_val_accuracy_threshold", 0)) ||
        (st = get_double(&r->test_at_best_val_threshold, d, "test_accuracy_at_best_val_threshold",
                         0)) ||
        (st = get_double(&r->max_test_accuracy_threshold, d, "max_test_accuracy_threshold", 0)) ||
        (st = get_size(&r->max_test_epoch_threshold, d, "max_test_epoch_threshold", 0)) ||
        (st = get_double(&r->final_test_accuracy_threshold, d, "final_test_accuracy_threshold", 0)))
        return st;
    json_t *th = json_object_get(d->root, "class_thresholds");
    size_t n = 0;
    if (th) {
        if (!json_is_array(th))
            return hs_fail(HS_ERR_FORMAT, "%s: \"class_thresholds\" must be an array, not %s",
                           d->path, type_name(th));
        n = json_array_size(th);
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(th, i);
            if (!json_is_null(v) && !json_is_number(v))
                return hs_fail(HS_ERR_FORMAT,
                               "%s: \"class_thresholds\"[%zu] must be a number or null, not %s",
                               d->path, i, type_name(v));
            if (theta && i < max_theta)
                theta[i] = json_is_null(v) ? NAN : json_number_value(v);
        }
    }
    if (n_theta)
        *n_theta = n;
    return HS_OK;
}

hs_status hs_run_summary_read(hs_train_result *result, double *theta, size_t max_theta,
                              size_t *n_theta, const char *dir)
{
    if (n_theta)
        *n_theta = 0;
    if (!result || !dir) {
        if (result)
            memset(result, 0, sizeof *result);
        return hs_fail(HS_ERR_NULL, "hs_run_summary_read: %s is NULL", result ? "dir" : "result");
    }
    hs_train_result r;
    memset(&r, 0, sizeof r);
    json_doc d;
    hs_status st = doc_open(&d, dir, HS_RUN_SUMMARY_FILE);
    if (!st)
        st = read_summary(&r, theta, max_theta, n_theta, &d);
    doc_close(&d);
    if (st) {
        memset(result, 0, sizeof *result);
        if (n_theta)
            *n_theta = 0;
        return st;
    }
    *result = r;
    return HS_OK;
}

/* ------------------------------------------------------------------------- */
/* Progress                                                                  */
/* ------------------------------------------------------------------------- */

/* *present = whether dir/name exists; a missing directory is "absent" too. */
static hs_status file_present(int *present, const char *dir, const char *name)
{
    char *path = hs_path_join(dir, name);
    if (!path)
        return HS_ERR_NOMEM;
    struct stat sb;
    hs_status st = HS_OK;
    *present = 0;
    if (stat(path, &sb) == 0)
        *present = 1;
    else if (errno != ENOENT)
        st = hs_fail(HS_ERR_IO, "cannot examine %s: %s", path, strerror(errno));
    free(path);
    return st;
}

hs_status hs_run_dir_progress(hs_run_progress *out, const char *dir)
{
    if (!out || !dir)
        return hs_fail(HS_ERR_NULL, "hs_run_dir_progress: %s is NULL", out ? "dir" : "out");
    int summary = 0, checkpoint = 0;
    hs_status st = file_present(&summary, dir, HS_RUN_SUMMARY_FILE);
    if (!st && !summary)
        st = file_present(&checkpoint, dir, HS_RUN_CHECKPOINT_FILE);
    if (st)
        return st;
    *out = summary ? HS_RUN_DONE : checkpoint ? HS_RUN_PARTIAL : HS_RUN_FRESH;
    return HS_OK;
}
