/* The run directory (hypersimplex/train.h, "The run directory"): a tiny real run on a subset of
 * Fashion-MNIST (skipped, saying so, without Debian's dataset-fashion-mnist) goes FRESH ->
 * PARTIAL (its process ends after the first checkpoint) -> DONE (resumed), and config.json and
 * summary.json read back as the configuration and the result of that run, bit for bit; the
 * readers' errors on hand-written files; the parse/name pairs of the base library; the
 * messages of hs_train_config_check and hs_loss_opts_check. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hypersimplex/train.h"
#include "support/cli_run.h"
#include "test_util.h"
#include "train/checkpoint.h"

static char tmp_root[256];

static int setup(void **state)
{
    (void)state;
    return tu_scratch_make(tmp_root, sizeof tmp_root, "run_dir");
}

static int teardown(void **state)
{
    (void)state;
    return tu_scratch_remove(tmp_root);
}

/* A new empty directory tmp_root/name in out. */
static void new_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmp_root, name);
    assert_int_equal(mkdir(out, 0777), 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Equal as stored: the same bits, so NaN equals NaN. */
static void assert_same_double(double a, double b)
{
    assert_memory_equal(&a, &b, sizeof a);
}

static void assert_progress(const char *dir, hs_run_progress want)
{
    hs_run_progress p = (hs_run_progress)-1;
    assert_int_equal(hs_run_dir_progress(&p, dir), HS_OK);
    assert_int_equal(p, want);
}

static void assert_message_names(const char *message, const char *field)
{
    assert_non_null(message);
    if (!strstr(message, field))
        fail_msg("the message '%s' does not name %s", message, field);
    assert_null(strstr(message, "--")); /* fields, never command-line options */
}

/* Tiny and quick, with values other than the defaults where config.json records them. */
static hs_train_config tiny_config(const char *out)
{
    hs_train_config c = hs_train_config_default();
    c.loss = hs_train_loss_default(HS_LOSS_HYPERSIMPLEX);
    c.loss.tau = 1.25;
    c.loss.k_fraction = 0.375;
    c.theta_momentum = 0.2;
    c.width = 8;
    c.hidden = 16;
    c.train_limit = 400;
    c.test_limit = 100;
    c.batch_size = 64;
    c.epochs = 2;
    c.seed = 7;
    c.lr = 1e-3;
    c.val_fraction = 0.15;
    c.augment = 0;
    c.threads = 1;
    c.eval_batch = 100;
    c.out_dir = out;
    return c;
}

/* Ends the process once the first epoch is checkpointed: a run stopped half-way. */
static void exit_after_first_epoch(const hs_train_event *ev, void *user)
{
    (void)user;
    if (ev->kind == HS_TRAIN_EPOCH)
        _exit(0);
}

/* FRESH (no directory, then an empty one) -> PARTIAL -> DONE, and the files read back as the
 * run that wrote them. First of the tests: it forks before this process has started threads. */
static void test_progress_and_round_trip(void **state)
{
    (void)state;
    tu_need_fashion_mnist();
    char dir[512];
    snprintf(dir, sizeof dir, "%s/run", tmp_root);
    assert_progress(dir, HS_RUN_FRESH);
    assert_int_equal(mkdir(dir, 0777), 0);
    assert_progress(dir, HS_RUN_FRESH);

    hs_train_config c = tiny_config(dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        hs_train_result r;
        hs_train_run(&r, &c, exit_after_first_epoch, NULL);
        _exit(3); /* not stopped after the first epoch */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_progress(dir, HS_RUN_PARTIAL);

    c.resume = 1;
    hs_train_result r;
    hs_status st = hs_train_run(&r, &c, NULL, NULL);
    if (st)
        fail_msg("%s", hs_last_error());
    assert_progress(dir, HS_RUN_DONE);

    hs_run_record rec;
    st = hs_run_record_read(&rec, dir);
    if (st)
        fail_msg("%s", hs_last_error());
    const hs_train_config *g = &rec.config;
    assert_int_equal(g->dataset, c.dataset);
    assert_int_equal(g->loss.kind, c.loss.kind);
    assert_same_double(g->loss.tau, c.loss.tau);
    assert_int_equal(g->loss.k_policy, c.loss.k_policy);
    assert_same_double(g->loss.k_fraction, c.loss.k_fraction);
    assert_int_equal(g->loss.reg, c.loss.reg);
    assert_same_double(g->theta_momentum, c.theta_momentum);
    assert_int_equal(g->batch_size, c.batch_size);
    assert_int_equal(g->epochs, c.epochs);
    assert_int_equal(g->width, c.width);
    assert_int_equal(g->hidden, c.hidden);
    assert_int_equal(g->seed, c.seed);
    assert_same_double(g->lr, c.lr);
    assert_same_double(g->val_fraction, c.val_fraction);
    assert_int_equal(g->train_limit, c.train_limit);
    assert_int_equal(g->test_limit, c.test_limit);
    assert_int_equal(g->augment, c.augment);
    assert_int_equal(g->threads, c.threads);
    assert_int_equal(g->eval_batch, c.eval_batch);
    assert_int_equal(g->sync_bn, c.sync_bn);
    assert_int_equal(g->loss_scope, c.loss_scope);
    assert_null(g->comm);
    assert_int_equal(g->resume, 0);
    assert_string_equal(g->out_dir, dir);
    assert_string_equal(g->data_dir, hs_data_default_dir(c.dataset));
    assert_string_equal(rec.version, hs_version());
    assert_int_equal(rec.ranks, 1);
    assert_int_equal(rec.n_train + rec.n_val, c.train_limit);
    assert_true(rec.n_val > 0);
    assert_int_equal(rec.n_test, c.test_limit);
    assert_true(rec.parameters > 0);
    assert_int_equal(rec.shape.channels, 1);
    assert_int_equal(rec.shape.height, 28);
    assert_int_equal(rec.shape.width, 28);
    assert_int_equal(rec.shape.classes, 10);
    assert_int_equal(rec.shape.conv_width, c.width);
    assert_int_equal(rec.shape.hidden, c.hidden);
    hs_run_record_free(&rec);
    assert_null(rec.version);

    hs_train_result s;
    double theta[16];
    size_t n_theta = 0;
    st = hs_run_summary_read(&s, theta, 16, &n_theta, dir);
    if (st)
        fail_msg("%s", hs_last_error());
    assert_int_equal(s.epochs_done, r.epochs_done);
    assert_int_equal(s.best_val_epoch, r.best_val_epoch);
    assert_same_double(s.best_val_accuracy, r.best_val_accuracy);
    assert_same_double(s.test_at_best_val, r.test_at_best_val);
    assert_same_double(s.max_test_accuracy, r.max_test_accuracy);
    assert_int_equal(s.max_test_epoch, r.max_test_epoch);
    assert_same_double(s.final_test_accuracy, r.final_test_accuracy);
    assert_int_equal(s.best_val_epoch_threshold, r.best_val_epoch_threshold);
    assert_same_double(s.best_val_accuracy_threshold, r.best_val_accuracy_threshold);
    assert_same_double(s.test_at_best_val_threshold, r.test_at_best_val_threshold);
    assert_same_double(s.max_test_accuracy_threshold, r.max_test_accuracy_threshold);
    assert_int_equal(s.max_test_epoch_threshold, r.max_test_epoch_threshold);
    assert_same_double(s.final_test_accuracy_threshold, r.final_test_accuracy_threshold);
    assert_true(isfinite(s.final_test_accuracy_threshold)); /* the HS loss has the threshold rule */
    assert_same_double(s.train_seconds, 0);
    assert_int_equal(s.already_complete, 0);

    /* the thresholds are the checkpoint's, bit for bit */
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/%s", dir, HS_RUN_CHECKPOINT_FILE);
    hs_ckpt ck;
    assert_int_equal(hs_ckpt_read(&ck, ckpt), HS_OK);
    assert_int_equal(n_theta, ck.ntheta);
    assert_int_equal(n_theta, 10);
    for (size_t i = 0; i < n_theta; i++)
        assert_same_double(theta[i], ck.theta[i]);
    hs_ckpt_free(&ck);

    /* fewer slots than thresholds: the first ones, and the count of all */
    double two[3] = {-1, -1, -1};
    assert_int_equal(hs_run_summary_read(&s, two, 2, &n_theta, dir), HS_OK);
    assert_int_equal(n_theta, 10);
    assert_same_double(two[0], theta[0]);
    assert_same_double(two[1], theta[1]);
    assert_same_double(two[2], -1);
}

/* The required keys only; every other field takes its default. */
static const char *const minimal_config = "{\"dataset\": \"mnist\", \"loss\": \"cross_entropy\", "
                                          "\"k_policy\": \"count\", \"k_fraction\": 0.5,\n"
                                          " \"batch_size\": 32, \"seed\": 3, \"epochs\": 4}\n";

/* Writes text as config.json of a new directory tmp_root/name and reads it: the status. */
static hs_status read_config_text(hs_run_record *rec, const char *name, const char *text)
{
    char dir[512];
    new_dir(dir, sizeof dir, name);
    write_file(dir, HS_RUN_CONFIG_FILE, text);
    return hs_run_record_read(rec, dir);
}

/* minimal_config with the text of one key replaced (old must occur in it). */
static char *with(const char *old, const char *new_text)
{
    const char *at = strstr(minimal_config, old);
    assert_non_null(at);
    size_t head = (size_t)(at - minimal_config);
    char *s = malloc(strlen(minimal_config) + strlen(new_text) + 1);
    assert_non_null(s);
    memcpy(s, minimal_config, head);
    strcpy(s + head, new_text);
    strcat(s, at + strlen(old));
    return s;
}

static void assert_bad_config(const char *name, const char *text, hs_status want, const char *key)
{
    hs_run_record rec;
    memset(&rec, 0xff, sizeof rec);
    hs_status st = read_config_text(&rec, name, text);
    if (st != want)
        fail_msg("%s: status %d (%s), expected %d", name, st, hs_last_error(), want);
    assert_message_names(hs_last_error(), HS_RUN_CONFIG_FILE);
    assert_message_names(hs_last_error(), key);
    /* *out zeroed */
    assert_null(rec.version);
    assert_null(rec.config.out_dir);
    assert_null(rec.config.data_dir);
    assert_int_equal(rec.ranks, 0);
}

static void assert_bad_key(const char *name, const char *old, const char *new_text, const char *key)
{
    char *text = with(old, new_text);
    assert_bad_config(name, text, HS_ERR_FORMAT, key);
    free(text);
}

static void test_config_defaults_and_null(void **state)
{
    (void)state;
    hs_run_record rec;
    assert_int_equal(read_config_text(&rec, "minimal", minimal_config), HS_OK);
    hs_train_config d = hs_train_config_default();
    hs_loss_opts ce = hs_train_loss_default(HS_LOSS_CROSS_ENTROPY);
    assert_int_equal(rec.config.dataset, HS_DATA_MNIST);
    assert_int_equal(rec.config.loss.kind, HS_LOSS_CROSS_ENTROPY);
    assert_int_equal(rec.config.loss.k_policy, HS_K_COUNT);
    assert_int_equal(rec.config.batch_size, 32);
    assert_int_equal(rec.config.seed, 3);
    assert_int_equal(rec.config.epochs, 4);
    assert_same_double(rec.config.loss.tau, ce.tau);
    assert_int_equal(rec.config.loss.reg, ce.reg);
    assert_int_equal(rec.config.width, d.width);
    assert_int_equal(rec.config.hidden, d.hidden);
    assert_same_double(rec.config.lr, d.lr);
    assert_same_double(rec.config.val_fraction, d.val_fraction);
    assert_same_double(rec.config.theta_momentum, d.theta_momentum);
    assert_int_equal(rec.config.augment, d.augment);
    assert_int_equal(rec.config.eval_batch, d.eval_batch);
    assert_null(rec.config.data_dir);
    assert_null(rec.version);
    assert_int_equal(rec.ranks, 1);
    hs_run_record_free(&rec);

    /* null is NaN (k_fraction of a policy that does not read it; tau of a loss without one);
     * unknown keys, nested or not, are ignored */
    char *text = with("\"k_fraction\": 0.5",
                      "\"k_fraction\": null, \"tau\": null, \"future\": {\"a\": [1, null]}");
    assert_int_equal(read_config_text(&rec, "nulls", text), HS_OK);
    free(text);
    assert_true(isnan(rec.config.loss.k_fraction));
    assert_true(isnan(rec.config.loss.tau));
    hs_run_record_free(&rec);
    hs_run_record_free(&rec); /* freeing twice is harmless: the record was zeroed */
}

static void test_config_errors(void **state)
{
    (void)state;
    char empty[512];
    new_dir(empty, sizeof empty, "no_config");
    hs_run_record rec;
    assert_int_equal(hs_run_record_read(&rec, empty), HS_ERR_IO);
    assert_message_names(hs_last_error(), HS_RUN_CONFIG_FILE);
    assert_int_equal(hs_run_record_read(NULL, empty), HS_ERR_NULL);
    assert_int_equal(hs_run_record_read(&rec, NULL), HS_ERR_NULL);

    assert_bad_config("truncated", "{\"dataset\": \"mnist\", \"loss\"", HS_ERR_FORMAT, "JSON");
    assert_bad_config("empty", "", HS_ERR_FORMAT, "JSON");
    assert_bad_config("array", "[1, 2]\n", HS_ERR_FORMAT, "object");
    assert_bad_key("no_seed", "\"seed\": 3, ", "", "seed");
    assert_bad_key("no_loss", "\"loss\": \"cross_entropy\", ", "", "loss");
    assert_bad_key("string_batch", "\"batch_size\": 32", "\"batch_size\": \"32\"", "batch_size");
    assert_bad_key("negative_batch", "\"batch_size\": 32", "\"batch_size\": -32", "batch_size");
    assert_bad_key("zero_batch", "\"batch_size\": 32", "\"batch_size\": 0", "batch_size");
    assert_bad_key("fractional_epochs", "\"epochs\": 4", "\"epochs\": 2.5", "epochs");
    assert_bad_key("real_epochs", "\"epochs\": 4", "\"epochs\": 4.0", "epochs");
    assert_bad_key("null_epochs", "\"epochs\": 4", "\"epochs\": null", "epochs");
    assert_bad_key("negative_threads", "\"epochs\": 4", "\"epochs\": 4, \"threads\": -1",
                   "threads");
    assert_bad_key("unknown_loss", "\"cross_entropy\"", "\"softmax\"", "loss");
    assert_bad_key("unknown_dataset", "\"mnist\"", "\"imagenet\"", "dataset");
    assert_bad_key("unknown_policy", "\"count\"", "\"half\"", "k_policy");
    assert_bad_key("unknown_reg", "\"epochs\": 4", "\"epochs\": 4, \"regularization\": \"l3\"",
                   "regularization");
    assert_bad_key("string_lr", "\"epochs\": 4", "\"epochs\": 4, \"lr\": \"fast\"", "lr");
    assert_bad_key("number_augment", "\"epochs\": 4", "\"epochs\": 4, \"augment\": 1", "augment");
    assert_bad_key("duplicate", "\"epochs\": 4", "\"epochs\": 4, \"epochs\": 5", "epochs");
    /* HS needs a tau: null (NaN) is out of range there */
    assert_bad_key("hs_null_tau", "\"cross_entropy\"", "\"hypersimplex\", \"tau\": null", "tau");
}

static void test_summary_errors(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir, "summaries");
    hs_train_result r;
    size_t n_theta = 99;
    assert_int_equal(hs_run_summary_read(&r, NULL, 0, &n_theta, dir), HS_ERR_IO);
    assert_message_names(hs_last_error(), HS_RUN_SUMMARY_FILE);
    assert_int_equal(n_theta, 0);

    const char *good =
        "{\"epochs\": 3, \"best_val_epoch\": 1, \"best_val_accuracy\": 0.5, "
        "\"test_accuracy_at_best_val\": 0.25, \"max_test_accuracy\": 0.75, \"max_test_epoch\": 2, "
        "\"final_test_accuracy\": null, \"class_thresholds\": [1.5, null]}";
    write_file(dir, HS_RUN_SUMMARY_FILE, good);
    double theta[2];
    assert_int_equal(hs_run_summary_read(&r, theta, 2, &n_theta, dir), HS_OK);
    assert_int_equal(r.epochs_done, 3);
    assert_int_equal(r.max_test_epoch, 2);
    assert_same_double(r.test_at_best_val, 0.25);
    assert_true(isnan(r.final_test_accuracy));
    assert_true(isnan(r.max_test_accuracy_threshold)); /* absent: NaN */
    assert_int_equal(n_theta, 2);
    assert_same_double(theta[0], 1.5);
    assert_true(isnan(theta[1]));

    write_file(dir, HS_RUN_SUMMARY_FILE, "{\"epochs\": 3}");
    assert_int_equal(hs_run_summary_read(&r, NULL, 0, NULL, dir), HS_ERR_FORMAT);
    assert_message_names(hs_last_error(), "best_val_epoch");
    assert_int_equal(r.epochs_done, 0); /* zeroed */
    write_file(
        dir, HS_RUN_SUMMARY_FILE,
        "{\"epochs\": 3, \"best_val_epoch\": 1, \"best_val_accuracy\": \"high\", "
        "\"test_accuracy_at_best_val\": 0.25, \"max_test_accuracy\": 0.75, \"max_test_epoch\": 2, "
        "\"final_test_accuracy\": 0.5}");
    assert_int_equal(hs_run_summary_read(&r, NULL, 0, NULL, dir), HS_ERR_FORMAT);
    assert_message_names(hs_last_error(), "best_val_accuracy");
    write_file(
        dir, HS_RUN_SUMMARY_FILE,
        "{\"epochs\": 3, \"best_val_epoch\": 1, \"best_val_accuracy\": 0.5, "
        "\"test_accuracy_at_best_val\": 0.25, \"max_test_accuracy\": 0.75, \"max_test_epoch\": 2, "
        "\"final_test_accuracy\": 0.5, \"class_thresholds\": [0.5, \"x\"]}");
    assert_int_equal(hs_run_summary_read(&r, theta, 2, &n_theta, dir), HS_ERR_FORMAT);
    assert_message_names(hs_last_error(), "class_thresholds");
    assert_int_equal(n_theta, 0);
    write_file(dir, HS_RUN_SUMMARY_FILE, "{\"epochs\": 3,");
    assert_int_equal(hs_run_summary_read(&r, NULL, 0, NULL, dir), HS_ERR_FORMAT);
    assert_message_names(hs_last_error(), HS_RUN_SUMMARY_FILE);
}

static void test_progress_of_files(void **state)
{
    (void)state;
    char dir[512], file[700];
    new_dir(dir, sizeof dir, "progress");
    assert_progress(dir, HS_RUN_FRESH);
    write_file(dir, HS_RUN_METRICS_FILE, "epoch\n");
    assert_progress(dir, HS_RUN_FRESH); /* metrics without a checkpoint: nothing to resume */
    write_file(dir, HS_RUN_CHECKPOINT_FILE, "x");
    assert_progress(dir, HS_RUN_PARTIAL);
    write_file(dir, HS_RUN_SUMMARY_FILE, "{}");
    assert_progress(dir, HS_RUN_DONE);
    hs_run_progress p;
    assert_int_equal(hs_run_dir_progress(NULL, dir), HS_ERR_NULL);
    assert_int_equal(hs_run_dir_progress(&p, NULL), HS_ERR_NULL);
    /* a path through a regular file cannot be examined */
    snprintf(file, sizeof file, "%s/%s", dir, HS_RUN_SUMMARY_FILE);
    assert_int_equal(hs_run_dir_progress(&p, file), HS_ERR_IO);
    assert_message_names(hs_last_error(), HS_RUN_SUMMARY_FILE);
}

static void test_parse_name_pairs(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        hs_regularization r = (hs_regularization)-1;
        const char *name = hs_regularization_name((hs_regularization)i);
        assert_int_equal(hs_regularization_parse(&r, name), HS_OK);
        assert_int_equal(r, i);
    }
    assert_string_equal(hs_regularization_name(HS_REG_ENTROPY), "entropy");
    assert_string_equal(hs_regularization_name((hs_regularization)3), "unknown");
    const char *bad[] = {"L2", "", "l2 ", "kl2", "unknown", "pav"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hs_regularization r = HS_REG_KL;
        assert_int_equal(hs_regularization_parse(&r, bad[i]), HS_ERR_ARG);
        assert_int_equal(r, HS_REG_KL); /* untouched */
        assert_message_names(hs_last_error(), "entropy");
        hs_solver s = HS_SOLVER_SORT_PAV;
        assert_int_equal(hs_solver_parse(&s, i == 5 ? "Fast" : bad[i]), HS_ERR_ARG);
        assert_int_equal(s, HS_SOLVER_SORT_PAV);
    }
    for (int i = 0; i < 2; i++) {
        hs_solver s = (hs_solver)-1;
        assert_int_equal(hs_solver_parse(&s, hs_solver_name((hs_solver)i)), HS_OK);
        assert_int_equal(s, i);
    }
    hs_solver s = HS_SOLVER_FAST;
    assert_int_equal(hs_solver_parse(&s, "sort_pav"), HS_OK);
    assert_int_equal(s, HS_SOLVER_SORT_PAV);
    assert_string_equal(hs_solver_name((hs_solver)7), "unknown");
    hs_regularization r;
    assert_int_equal(hs_regularization_parse(NULL, "l2"), HS_ERR_NULL);
    assert_int_equal(hs_regularization_parse(&r, NULL), HS_ERR_NULL);
    assert_int_equal(hs_solver_parse(NULL, "fast"), HS_ERR_NULL);
    assert_int_equal(hs_solver_parse(&s, NULL), HS_ERR_NULL);
}

static void test_config_check(void **state)
{
    (void)state;
    hs_train_config c = hs_train_config_default();
    assert_message_names(hs_train_config_check(&c), "out_dir");
    c.out_dir = "somewhere";
    assert_null(hs_train_config_check(&c));
    assert_non_null(hs_train_config_check(NULL));

    hs_train_config b = c;
    b.batch_size = 0;
    assert_message_names(hs_train_config_check(&b), "batch_size 0 out of range");
    b = c, b.epochs = 0;
    assert_message_names(hs_train_config_check(&b), "epochs");
    b = c, b.lr = -1;
    assert_message_names(hs_train_config_check(&b), "lr");
    b = c, b.val_fraction = 1;
    assert_message_names(hs_train_config_check(&b), "val_fraction");
    b = c, b.eval_batch = 0;
    assert_message_names(hs_train_config_check(&b), "eval_batch");
    b = c, b.theta_momentum = 2;
    assert_message_names(hs_train_config_check(&b), "theta_momentum");
    b = c, b.loss.tau = 0;
    assert_message_names(hs_train_config_check(&b), "loss.tau");
    b = c, b.loss.reg = (hs_regularization)9;
    assert_message_names(hs_train_config_check(&b), "loss.reg");
    b = c, b.loss.k_fraction = 1.5;
    assert_message_names(hs_train_config_check(&b), "loss.k_fraction");
    b = c, b.loss_scope = (hs_loss_scope)5;
    assert_message_names(hs_train_config_check(&b), "loss_scope");
    double prior[2] = {0.5, 0.5};
    b = c, b.loss.class_prior = prior;
    assert_message_names(hs_train_config_check(&b), "class_prior");

    /* hs_train_run refuses it with the same message, before touching anything */
    hs_train_result r;
    b = c, b.batch_size = 0;
    assert_int_equal(hs_train_run(&r, &b, NULL, NULL), HS_ERR_SIZE);
    assert_message_names(hs_last_error(), "batch_size 0 out of range");
    b = c, b.loss.tau = NAN;
    assert_int_equal(hs_train_run(&r, &b, NULL, NULL), HS_ERR_TAU);
    assert_message_names(hs_last_error(), "loss.tau");
    b = c, b.out_dir = NULL;
    assert_int_equal(hs_train_run(&r, &b, NULL, NULL), HS_ERR_NULL);
    assert_message_names(hs_last_error(), "out_dir");
}

static void test_loss_opts_check(void **state)
{
    (void)state;
    for (int k = 0; k < 4; k++) {
        hs_loss_opts o = hs_loss_opts_default((hs_loss_kind)k);
        assert_null(hs_loss_opts_check(&o));
    }
    assert_non_null(hs_loss_opts_check(NULL));
    hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    o.tau = 0;
    assert_message_names(hs_loss_opts_check(&o), "tau 0");
    double tau_class[3] = {1, 1, 1};
    o.tau_class = tau_class; /* then the scalar is not read */
    assert_null(hs_loss_opts_check(&o));
    o = hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY);
    o.tau = 0; /* not read by cross-entropy */
    assert_null(hs_loss_opts_check(&o));
    o.sum_reduction = 2;
    assert_message_names(hs_loss_opts_check(&o), "sum_reduction");
    o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    o.threads = -1;
    assert_message_names(hs_loss_opts_check(&o), "threads");
    o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    o.k_policy = HS_K_FRACTION, o.k_fraction = -0.5;
    assert_message_names(hs_loss_opts_check(&o), "k_fraction");
    o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    o.k_policy = (hs_k_policy)4;
    assert_message_names(hs_loss_opts_check(&o), "k_policy");
    o.kind = (hs_loss_kind)8;
    assert_message_names(hs_loss_opts_check(&o), "kind");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_and_round_trip), /* first: it forks */
        cmocka_unit_test(test_config_defaults_and_null), cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_summary_errors),           cmocka_unit_test(test_progress_of_files),
        cmocka_unit_test(test_parse_name_pairs),         cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_loss_opts_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
