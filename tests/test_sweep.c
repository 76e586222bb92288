/* The study engine (hypersimplex/sweep.h): the protocol and its checks, the settings file,
 * the plan's runs and training options, the protocol file, run states and the collection of
 * run directories written to the train layer's contract; and `hypersimplex sweep` itself
 * (skip, resume, parallel jobs, emitted commands, kills, collection) with the stand-in trainer
 * tests/fake_train.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>

#include <cmocka.h>

#include "hypersimplex.h"
#include "hypersimplex/sweep.h"
#include "support/cli_run.h"
#include "test_util.h"

/* A trainer's options for the spec's set/vary checks: those the tests and presets use, one flag. */
static int arity(const char *key, void *user)
{
    (void)user;
    if (!strcmp(key, "width") || !strcmp(key, "tau") || !strcmp(key, "k-policy") || !strcmp(key, "lr") ||
        !strcmp(key, "epochs") || !strcmp(key, "seed") || !strcmp(key, "val-fraction") || !strcmp(key, "train-limit"))
        return 1;
    if (!strcmp(key, "no-augment"))
        return 0;
    return -1;
}

static hs_sweep_spec *new_spec(void)
{
    hs_sweep_spec *s = NULL;
    assert_int_equal(hs_sweep_spec_new(&s, arity, NULL), HS_OK);
    return s;
}

static void set_ok(hs_sweep_spec *s, const char *key, const char *value)
{
    if (hs_sweep_spec_set(s, key, value, "--"))
        fail_msg("%s = %s: %s", key, value, hs_last_error());
}

/* spec_set fails with status want and a message containing text. */
static void set_fails(hs_sweep_spec *s, const char *key, const char *value, hs_status want, const char *text)
{
    hs_status st = hs_sweep_spec_set(s, key, value, "f.conf:3: ");
    if (st != want)
        fail_msg("%s = %s: status %d, want %d", key, value, (int)st, (int)want);
    if (!strstr(hs_last_error(), text))
        fail_msg("%s = %s: '%s' (want '%s')", key, value, hs_last_error(), text);
}

/* The options of a run as "--key value --flag ..." */
static void options_text(char *buf, size_t n, const hs_sweep_run *r)
{
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_options; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s--%s%s%s", i ? " " : "", r->options[i].key, r->options[i].value ? " " : "",
                 r->options[i].value ? r->options[i].value : "");
    }
}

static void test_defaults_and_order(void **state)
{
    (void)state;
    hs_sweep_spec *s = new_spec();
    hs_sweep_plan p;
    assert_int_equal(hs_sweep_plan_build(&p, s, "/tmp/sw"), HS_OK);
    hs_sweep_spec_free(s); /* the plan keeps its own copies */
    /* 1 dataset x 4 losses x 2 batch sizes x 3 seeds; seeds outermost, losses innermost */
    assert_int_equal(p.n_runs, 24);
    assert_int_equal(p.epochs, 10);
    assert_string_equal(p.runs[0].id, "fashion-mnist_cross_entropy_b128_s0");
    assert_string_equal(p.runs[3].id, "fashion-mnist_hypersimplex_b128_s0");
    assert_string_equal(p.runs[4].id, "fashion-mnist_cross_entropy_b8192_s0");
    assert_string_equal(p.runs[8].id, "fashion-mnist_cross_entropy_b128_s42");
    assert_string_equal(p.runs[23].dir, "/tmp/sw/fashion-mnist_hypersimplex_b8192_s1337");
    assert_int_equal(p.runs[23].batch_size, 8192);
    assert_int_equal(p.runs[23].seed, 1337);
    assert_null(p.runs[23].k_policy);
    char opts[512];
    options_text(opts, sizeof opts, &p.runs[23]);
    assert_string_equal(opts, "--dataset fashion-mnist --loss hypersimplex --batch-size 8192 --seed 1337 --epochs 10");
    for (size_t i = 0; i < p.n_runs; i++)
        assert_int_equal(p.runs[i].state, HS_SWEEP_FRESH);
    hs_sweep_plan_free(&p);
}

static void test_set_vary_policies(void **state)
{
    (void)state;
    hs_sweep_spec *s = new_spec();
    set_ok(s, "losses", "cross_entropy, hypersimplex");
    set_ok(s, "batch-sizes", "64");
    set_ok(s, "seeds", "7");
    set_ok(s, "epochs", "3");
    set_ok(s, "set", "width=8");
    set_ok(s, "set", "no-augment");
    set_ok(s, "set", "width=16"); /* replaces width=8 */
    set_ok(s, "vary", "tau=0.5,2");
    set_ok(s, "vary", "k-policy=count,fraction:0.5");
    hs_sweep_plan p;
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_OK);
    /* the plan keeps its own copies: changing the spec does not change it */
    set_ok(s, "vary", "tau=7");
    set_ok(s, "set", "width=99");
    /* the policies multiply the HyperSimplex loss only: (1 + 2) losses x 2 taus */
    assert_int_equal(p.n_runs, 6);
    const char *ids[6] = {"fashion-mnist_cross_entropy_b64_s7_tau0.5",
                          "fashion-mnist_hypersimplex_count_b64_s7_tau0.5",
                          "fashion-mnist_hypersimplex_fraction_0.5_b64_s7_tau0.5",
                          "fashion-mnist_cross_entropy_b64_s7_tau2",
                          "fashion-mnist_hypersimplex_count_b64_s7_tau2",
                          "fashion-mnist_hypersimplex_fraction_0.5_b64_s7_tau2"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(p.runs[i].id, ids[i]);
    assert_string_equal(p.runs[2].loss, "hypersimplex@fraction:0.5");
    assert_string_equal(p.runs[2].loss_kind, "hypersimplex");
    assert_string_equal(p.runs[2].k_policy, "fraction:0.5");
    assert_string_equal(p.runs[2].variant, "tau=0.5");
    char opts[512];
    options_text(opts, sizeof opts, &p.runs[5]);
    assert_string_equal(opts, "--dataset fashion-mnist --loss hypersimplex --k-policy fraction:0.5 --batch-size 64 "
                              "--seed 7 --epochs 3 --no-augment --width 16 --tau 2");
    hs_sweep_plan_free(&p);

    /* a hypersimplex@P loss and set k-policy would both set the policy */
    set_ok(s, "losses", "hypersimplex@prior");
    set_ok(s, "set", "k-policy=count");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "'hypersimplex@prior' sets the k policy"));
    assert_null(p.runs);
    /* vary k-policy without a plain hypersimplex to vary */
    set_ok(s, "losses", "mse");
    set_ok(s, "vary", "k-policy=count");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "no plain 'hypersimplex'"));
    hs_sweep_spec_free(s);

    /* ... unless a preset asked for it: the paper's protocol, its HS runs at fraction:0.5 */
    s = new_spec();
    set_ok(s, "preset", "paper");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_OK);
    assert_int_equal(p.n_runs, 280);
    assert_int_equal(p.epochs, 600);
    size_t hs = 0;
    for (size_t i = 0; i < p.n_runs; i++)
        if (p.runs[i].k_policy) {
            assert_string_equal(p.runs[i].k_policy, "fraction:0.5");
            hs++;
        }
    assert_int_equal(hs, 70);
    hs_sweep_plan_free(&p);
    set_ok(s, "losses", "mse");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_OK);
    hs_sweep_plan_free(&p);
    hs_sweep_spec_free(s);
    assert_null(hs_sweep_preset("nope"));
    assert_string_equal(hs_sweep_preset_names()[1], "small");
}

static void test_bad_settings(void **state)
{
    (void)state;
    hs_sweep_spec *s = new_spec();
    set_fails(s, "losses", "cross_entropy,softmax", HS_ERR_ARG, "f.conf:3: losses: unknown loss 'softmax'");
    set_fails(s, "losses", "hinge@count", HS_ERR_ARG, "only hypersimplex takes a k policy");
    set_fails(s, "losses", "hypersimplex@top", HS_ERR_ARG, "'top' is not count, prior or fraction:F");
    set_fails(s, "dataset", "mnist, foo", HS_ERR_ARG, "f.conf:3: dataset: unknown dataset 'foo'");
    set_fails(s, "seeds", "1, 01", HS_ERR_ARG, "seeds: '01' appears twice");
    set_fails(s, "batch-sizes", "0", HS_ERR_ARG, "batch-sizes: 0 is outside [1, 1073741824]");
    set_fails(s, "epochs", "abc", HS_ERR_ARG, "f.conf:3: epochs: 'abc' is not an integer");
    set_fails(s, "seeds", " , ", HS_ERR_ARG, "seeds: empty list");
    set_fails(s, "set", "width", HS_ERR_ARG, "set: 'width' needs a value");
    set_fails(s, "set", "no-augment=1", HS_ERR_ARG, "'no-augment' is a flag");
    set_fails(s, "vary", "no-augment=1,2", HS_ERR_ARG, "'no-augment' is a flag");
    set_fails(s, "set", "widht=8", HS_ERR_ARG, "'widht' is not a training option the sweep can set");
    set_fails(s, "set", "epochs=3", HS_ERR_ARG, "'epochs' is not a training option");
    set_fails(s, "vary", "seed=1,2", HS_ERR_ARG, "'seed' is not a training option the sweep can vary");
    set_fails(s, "vary", "tau", HS_ERR_ARG, "'tau' is not KEY=V1,V2,...");
    set_fails(s, "set", "lr=1 2", HS_ERR_ARG, "must not contain blanks");
    set_fails(s, "preset", "huge", HS_ERR_ARG, "unknown preset 'huge'");
    set_fails(s, "jobs", "2", HS_ERR_ARG, "'jobs' is not a setting");
    assert_int_equal(hs_sweep_spec_has_key("jobs"), 0);
    assert_int_equal(hs_sweep_spec_has_key("vary"), 1);
    /* the failed settings changed nothing: still the defaults */
    hs_sweep_plan p;
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_OK);
    assert_int_equal(p.n_runs, 24);
    hs_sweep_plan_free(&p);

    /* more runs than a sweep may have */
    set_ok(s, "seeds", "0,1,2,3,4,5,6,7,8,9");
    set_ok(s, "batch-sizes", "1,2,3,4,5,6,7,8,9,10");
    set_ok(s, "vary", "lr=1,2,3,4,5,6,7,8,9,10");
    set_ok(s, "vary", "width=1,2,3,4,5,6,7,8,9,10");
    set_ok(s, "vary", "tau=1,2,3,4,5,6,7,8,9,10");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_ERR_SIZE);
    assert_non_null(strstr(hs_last_error(), "more than 100000 runs"));
    hs_sweep_spec_free(s);
}

static void test_settings_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs_sweep_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[96];
    snprintf(path, sizeof path, "%s/study.conf", dir);
    tu_write_text(path, "# a study\n\nlosses = cross_entropy, hinge   # two\n  jobs=2\nset = width=8\n");
    hs_sweep_setting *items = NULL;
    size_t n = 0;
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[0].key, "losses");
    assert_string_equal(items[0].value, "cross_entropy, hinge");
    assert_non_null(strstr(items[0].where, "study.conf:3: "));
    assert_string_equal(items[1].key, "jobs");
    assert_string_equal(items[2].value, "width=8");
    hs_sweep_settings_free(items, n);

    tu_write_text(path, "losses = hinge\nno equals sign\n");
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "study.conf:2: expected 'setting = value'"));
    static const char nul[] = "losses = cross_entropy\nepochs = 3\0junk\n";
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(nul, 1, sizeof nul - 1, f), sizeof nul - 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "study.conf:2:11: a NUL byte"));
    char *long_line = malloc(5000);
    assert_non_null(long_line);
    memset(long_line, 'a', 4999);
    long_line[4999] = '\0';
    tu_write_text(path, long_line);
    free(long_line);
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "study.conf:1: line too long"));
    assert_int_equal(remove(path), 0);
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_ERR_IO);
    assert_int_equal(rmdir(dir), 0);
}

/* A finished run directory as the train layer's contract has it (what a trainer writes);
 * metrics of `epochs` epochs. */
static void write_run(const char *dir, const char *loss, const char *policy, double fraction, long batch,
                      long seed, size_t epochs, int done)
{
    assert_int_equal(mkdir(dir, 0777), 0);
    char path[512], text[1024];
    snprintf(path, sizeof path, "%s/%s", dir, HS_RUN_CONFIG_FILE);
    snprintf(text, sizeof text,
             "{\"dataset\": \"fashion-mnist\", \"loss\": \"%s\", \"k_policy\": \"%s\", \"k_fraction\": %g, "
             "\"batch_size\": %ld, \"seed\": %ld, \"epochs\": %zu, \"width\": 8}\n",
             loss, policy, fraction, batch, seed, epochs);
    tu_write_text(path, text);
    snprintf(path, sizeof path, "%s/%s", dir, HS_RUN_METRICS_FILE);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "epoch,train_loss,val_accuracy,test_accuracy,seconds,val_accuracy_threshold,test_accuracy_threshold\n");
    for (size_t e = 0; e < epochs; e++)
        fprintf(f, "%zu,0.5,0.%zu00000,0.%zu50000,1.0,nan,nan\n", e, e + 1, e + 1);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/%s", dir, HS_RUN_CHECKPOINT_FILE);
    tu_write_text(path, "a checkpoint\n");
    if (done) {
        snprintf(path, sizeof path, "%s/%s", dir, HS_RUN_SUMMARY_FILE);
        tu_write_text(path, "{}\n");
    }
}

static void test_protocol_states_collect(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs_sweep_XXXXXX";
    assert_non_null(mkdtemp(dir));
    hs_sweep_spec *s = new_spec();
    set_ok(s, "losses", "cross_entropy,hypersimplex@fraction:0.5");
    set_ok(s, "batch-sizes", "32,64");
    set_ok(s, "seeds", "1");
    set_ok(s, "epochs", "2");
    hs_sweep_plan p;
    assert_int_equal(hs_sweep_plan_build(&p, s, dir), HS_OK);
    assert_int_equal(p.n_runs, 4);

    /* the protocol file: written once, then the same protocol passes and another is refused */
    assert_int_equal(hs_sweep_protocol_check(&p, 0), HS_OK); /* not written */
    char conf[96];
    snprintf(conf, sizeof conf, "%s/sweep.conf", dir);
    assert_int_not_equal(access(conf, F_OK), 0);
    assert_int_equal(hs_sweep_protocol_check(&p, 1), HS_OK);
    assert_int_equal(access(conf, F_OK), 0);
    assert_int_equal(hs_sweep_protocol_check(&p, 1), HS_OK);
    set_ok(s, "epochs", "3");
    hs_sweep_plan other;
    assert_int_equal(hs_sweep_plan_build(&other, s, dir), HS_OK);
    assert_int_equal(hs_sweep_protocol_check(&other, 1), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "different protocol"));
    assert_non_null(strstr(hs_last_error(), "epochs = 3"));
    hs_sweep_plan_free(&other);

    /* run 0 done and right; run 1 done but another policy; run 2 partial; run 3 failed */
    write_run(p.runs[0].dir, "cross_entropy", "count", 0.5, 32, 1, 2, 1);
    write_run(p.runs[1].dir, "hypersimplex", "fraction", 0.25, 32, 1, 2, 1);
    write_run(p.runs[2].dir, "cross_entropy", "count", 0.5, 64, 1, 1, 0);
    assert_int_equal(mkdir(p.runs[3].dir, 0777), 0);
    assert_int_equal(hs_sweep_mark_failed(&p.runs[3], 3), HS_OK);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(hs_sweep_refresh(&p.runs[i]), HS_OK);
    assert_int_equal(p.runs[0].state, HS_SWEEP_DONE);
    assert_int_equal(p.runs[1].state, HS_SWEEP_DONE);
    assert_int_equal(p.runs[2].state, HS_SWEEP_PARTIAL);
    assert_int_equal(p.runs[3].state, HS_SWEEP_FAILED);
    assert_string_equal(hs_sweep_state_name(p.runs[3].state), "failed");

    hs_results res = {0};
    hs_sweep_collected n;
    assert_int_equal(hs_sweep_collect(&res, &n, &p), HS_ERR_FORMAT);
    assert_int_equal(n.n_done, 1);
    assert_int_equal(n.n_bad, 1);
    assert_int_equal(n.n_unfinished, 2);
    assert_null(p.runs[0].problem);
    assert_non_null(p.runs[1].problem);
    assert_non_null(strstr(p.runs[1].problem, "records k policy fraction:0.25, the sweep expects fraction:0.5"));
    assert_int_equal(res.n_runs, 1);
    assert_string_equal(res.runs[0].loss, "cross_entropy");
    assert_int_equal(res.runs[0].epochs, 2);
    assert_true(res.runs[0].test_accuracy[1] == 0.25);
    hs_results_free(&res);

    /* the right policy, but an epoch missing from the metrics */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -r '%s'", p.runs[1].dir);
    assert_int_equal(system(cmd), 0);
    write_run(p.runs[1].dir, "hypersimplex", "fraction", 0.5, 32, 1, 1, 1);
    assert_int_equal(hs_sweep_collect(&res, &n, &p), HS_ERR_FORMAT);
    assert_non_null(strstr(p.runs[1].problem, "epochs 1, the sweep expects 2"));
    hs_results_free(&res);
    assert_int_equal(system(cmd), 0);
    write_run(p.runs[1].dir, "hypersimplex", "fraction", 0.5, 32, 1, 2, 1);
    assert_int_equal(hs_sweep_collect(&res, &n, &p), HS_OK);
    assert_int_equal(n.n_done, 2);
    assert_int_equal(n.n_bad, 0);
    assert_string_equal(res.runs[1].loss, "hypersimplex@fraction:0.5");
    hs_results_free(&res);

    /* a metrics.csv of a build before the threshold rule (five columns) is collected too */
    char metrics[512];
    snprintf(metrics, sizeof metrics, "%s/%s", p.runs[0].dir, HS_RUN_METRICS_FILE);
    tu_write_text(metrics, "epoch,train_loss,val_accuracy,test_accuracy,seconds\n0,0.5,0.1,0.15,1\n1,0.4,0.2,0.25,1\n");
    assert_int_equal(hs_sweep_collect(&res, &n, &p), HS_OK);
    assert_int_equal(n.n_done, 2);
    assert_true(res.runs[0].test_accuracy[1] == 0.25);
    assert_true(!res.runs[0].test_accuracy_threshold || isnan(res.runs[0].test_accuracy_threshold[1]));
    hs_results_free(&res);

    /* a retry clears the failed mark */
    assert_int_equal(hs_sweep_clear_failed(&p.runs[3]), HS_OK);
    assert_int_equal(p.runs[3].state, HS_SWEEP_FRESH);

    hs_sweep_plan_free(&p);
    hs_sweep_spec_free(s);
    snprintf(cmd, sizeof cmd, "rm -r '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- the sweep ----------------------------------------------------------------------------- */

typedef struct sweep_env {
    char dir[64];
    char runs[128];
    char log[128];
    char out[128];
    char err[128];
    char train[512];
} sweep_env;

static void sweep_env_make(sweep_env *e)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/hs_study_sweep_XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->runs, sizeof e->runs, "%s/runs", e->dir);
    snprintf(e->log, sizeof e->log, "FAKE_TRAIN_LOG=%s/train_calls.log", e->dir);
    snprintf(e->out, sizeof e->out, "%s/out.txt", e->dir);
    snprintf(e->err, sizeof e->err, "%s/err.txt", e->dir);
    snprintf(e->train, sizeof e->train, "%s", HS_FAKE_TRAIN);
}

static void sweep_env_free(sweep_env *e)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
}

static char *calls(const sweep_env *e)
{
    char path[160];
    snprintf(path, sizeof path, "%s/train_calls.log", e->dir);
    char *s = tu_slurp(path);
    return s ? s : strdup("");
}

/* The fake trainer's accuracy formula (tests/fake_train.c). */
static double fake_acc(const char *loss, long batch, long seed, size_t epoch)
{
    double off = !strncmp(loss, "hypersimplex", 12) ? 0.02 : !strcmp(loss, "hinge") ? 0.005 : !strcmp(loss, "mse") ? 0.01 : 0.0;
    return 0.6 + 0.02 * (double)epoch + off - 0.00001 * (double)batch + 0.001 * (double)(seed % 7);
}

/* The collected CSV passes strict validation (no epoch twice, none missing) and holds
 * exactly the expected runs with the trainer's values. */
static void check_results(const char *path, size_t n_runs, size_t epochs)
{
    hs_results r;
    hs_status s = hs_results_read(&r, path);
    if (s)
        fail_msg("%s", hs_last_error());
    assert_int_equal(r.n_runs, n_runs);
    for (size_t i = 0; i < r.n_runs; i++) {
        const hs_run_curve *c = &r.runs[i];
        assert_int_equal(c->epochs, epochs);
        for (size_t e = 0; e < epochs; e++) {
            tu_assert_near(c->test_accuracy[e], fake_acc(c->loss, c->batch_size, c->seed, e), 1e-6);
            tu_assert_near(c->val_accuracy[e], fake_acc(c->loss, c->batch_size, c->seed, e) - 0.003, 1e-6);
        }
    }
    hs_results_free(&r);
}

#define SWEEP_ARGS(e, name, epochs)                                                                     \
    HS_CLI_PATH, "sweep", "--runs-dir", (e).runs, "--name", name, "--losses", "cross_entropy,hypersimplex",   \
        "--batch-sizes", "64,1024", "--seeds", "0,1", "--epochs", epochs, "--train-cmd", (e).train

static void test_sweep_run_skip_resume(void **state)
{
    (void)state;
    sweep_env e;
    sweep_env_make(&e);
    char results[192];
    snprintf(results, sizeof results, "%s/a/results.csv", e.runs);

    /* 8 runs, 2 at a time. */
    char *argv1[] = {SWEEP_ARGS(e, "a", "3"), "--jobs", "2", NULL};
    char *env1[] = {e.log, NULL};
    assert_int_equal(tu_run_argv(argv1, env1, e.out, e.err), 0);
    check_results(results, 8, 3);
    char *c1 = calls(&e);
    assert_int_equal(tu_count_lines_with(c1, "resume=0 from=0"), 8);
    free(c1);

    /* Again: every run is done, nothing is trained, the CSV is collected again. */
    assert_int_equal(remove(results), 0);
    assert_int_equal(tu_run_argv(argv1, env1, e.out, e.err), 0);
    char *c2 = calls(&e);
    assert_int_equal(tu_count_lines_with(c2, "resume="), 8);
    free(c2);
    check_results(results, 8, 3);

    /* The report reads what the sweep wrote (best-val: the fake trainer records val). */
    char md[192];
    snprintf(md, sizeof md, "%s/t.md", e.dir);
    char *argv2[] = {HS_CLI_PATH, "report", results, "--select", "best-val", "--out", md, NULL};
    assert_int_equal(tu_run_argv(argv2, NULL, NULL, e.err), 0);
    char *t = tu_slurp(md);
    assert_non_null(strstr(t, "| 64 | 0.6399 | **0.6599** | +0.0200 | n/a [1] | n/a |"));
    free(t);

    /* A different protocol in the same sweep directory is refused. */
    char *argv3[] = {SWEEP_ARGS(e, "a", "4"), NULL};
    assert_int_equal(tu_run_argv(argv3, env1, e.out, e.err), 2);
    char *msg = tu_slurp(e.err);
    assert_non_null(strstr(msg, "different protocol"));
    free(msg);

    /* Every run killed after its second epoch: nothing finished, each has a checkpoint. */
    char *argv4[] = {SWEEP_ARGS(e, "b", "4"), "--jobs", "2", NULL};
    char die[] = "FAKE_TRAIN_DIE_AFTER=1";
    char *env4[] = {e.log, die, NULL};
    assert_int_equal(tu_run_argv(argv4, env4, e.out, e.err), 1);
    char *argv5[] = {SWEEP_ARGS(e, "b", "4"), "--dry-run", NULL};
    assert_int_equal(tu_run_argv(argv5, env1, e.out, e.err), 0);
    char *listing = tu_slurp(e.out);
    assert_int_equal(tu_count_lines_with(listing, " partial"), 8);
    free(listing);
    /* The same command resumes each from its checkpoint (epoch 2) and completes it. */
    assert_int_equal(tu_run_argv(argv4, env1, e.out, e.err), 0);
    char *c3 = calls(&e);
    assert_int_equal(tu_count_lines_with(c3, "_b64_s0 resume=1 from=2") + tu_count_lines_with(c3, "_b1024_s0 resume=1 from=2") +
                         tu_count_lines_with(c3, "_b64_s1 resume=1 from=2") + tu_count_lines_with(c3, "_b1024_s1 resume=1 from=2"),
                     8);
    free(c3);
    snprintf(results, sizeof results, "%s/b/results.csv", e.runs);
    check_results(results, 8, 4);
    sweep_env_free(&e);
}

static void test_sweep_failures_and_config(void **state)
{
    (void)state;
    sweep_env e;
    sweep_env_make(&e);
    char conf[192], results[192];
    snprintf(conf, sizeof conf, "%s/study.conf", e.dir);
    const char *study_conf = "# a small study\n"
                    "losses = cross_entropy, hinge\n"
                    "batch-sizes = 32\n"
                    "seeds = 3, 4\n"
                    "epochs = 2\n"
                    "set = width=8   # passed to every run as --width 8\n"
                    "set = no-augment\n"
                    "vary = tau=0.5,2\n"
                    "jobs = 2\n"
                    "threads = 1\n";
    tu_write_text(conf, study_conf);
    char *argv1[] = {HS_CLI_PATH, "sweep", "--config", conf, "--runs-dir", e.runs, "--name", "f", "--train-cmd", e.train,
                     "--dry-run", NULL};
    assert_int_equal(tu_run_argv(argv1, NULL, e.out, e.err), 0);
    char *listing = tu_slurp(e.out);
    assert_int_equal(tu_count_lines_with(listing, "not started"), 8);
    assert_int_equal(tu_count_lines_with(listing, "fashion-mnist_hinge_b32_s4_tau2 "), 1);
    assert_int_equal(tu_count_lines_with(listing, "tau=0.5"), 4);
    free(listing);

    /* hinge "diverges": marked failed, the rest collected, exit status 1. */
    char fail[] = "FAKE_TRAIN_FAIL_LOSS=hinge";
    char *env2[] = {e.log, fail, NULL};
    char *argv2[] = {HS_CLI_PATH, "sweep", "--config", conf, "--runs-dir", e.runs, "--name", "f", "--train-cmd", e.train, NULL};
    assert_int_equal(tu_run_argv(argv2, env2, e.out, e.err), 1);
    snprintf(results, sizeof results, "%s/f/results.csv", e.runs);
    hs_results r;
    assert_int_equal(hs_results_read(&r, results), HS_OK);
    assert_int_equal(r.n_runs, 4);
    for (size_t i = 0; i < r.n_runs; i++) {
        assert_string_equal(r.runs[i].loss, "cross_entropy");
        assert_true(!strcmp(r.runs[i].variant, "tau=0.5") || !strcmp(r.runs[i].variant, "tau=2"));
    }
    hs_results_free(&r);
    char path[256];
    snprintf(path, sizeof path, "%s/f/fashion-mnist_hinge_b32_s3_tau0.5/failed.txt", e.runs);
    assert_int_equal(access(path, F_OK), 0);
    /* The exact options a run received. */
    snprintf(path, sizeof path, "%s/f/fashion-mnist_cross_entropy_b32_s4_tau2/args.txt", e.runs);
    char *args = tu_slurp(path);
    assert_non_null(args);
    const char *want_args = "--dataset fashion-mnist --loss cross_entropy --batch-size 32 --seed 4 --epochs 2 "
                            "--width 8 --no-augment --tau 2 --threads 1 --out ";
    if (strncmp(args, want_args, strlen(want_args)))
        fail_msg("train received '%s'", args);
    assert_non_null(strstr(args, "/runs/f/fashion-mnist_cross_entropy_b32_s4_tau2\n"));
    free(args);

    /* Failed runs are not retried by default ... */
    char *env3[] = {e.log, NULL};
    assert_int_equal(tu_run_argv(argv2, env3, e.out, e.err), 1);
    char *c = calls(&e);
    assert_int_equal(tu_count_lines_with(c, "hinge"), 4);
    free(c);
    /* ... but with --retry-failed. */
    char *argv4[] = {HS_CLI_PATH, "sweep", "--config", conf, "--runs-dir", e.runs, "--name", "f", "--train-cmd", e.train,
                     "--retry-failed", NULL};
    assert_int_equal(tu_run_argv(argv4, env3, e.out, e.err), 0);
    check_results(results, 8, 2);

    /* Bad configurations. */
    tu_write_text(conf, "losses = cross_entropy\nbogus = 1\n");
    assert_int_equal(tu_run_argv(argv1, NULL, e.out, e.err), 2);
    char *msg = tu_slurp(e.err);
    assert_non_null(strstr(msg, "study.conf:2: 'bogus' is not an option"));
    free(msg);
    char *argv5[] = {HS_CLI_PATH, "sweep", "--losses", "cross_entropy,softmax", "--train-cmd", e.train, "--dry-run", NULL};
    assert_int_equal(tu_run_argv(argv5, NULL, e.out, e.err), 2);
    char *argv6[] = {HS_CLI_PATH, "sweep", "--set", "epochs=3", "--train-cmd", e.train, "--dry-run", NULL};
    assert_int_equal(tu_run_argv(argv6, NULL, e.out, e.err), 2);
    /* A bad value in a config file names the file and the line. */
    const char *bad_values[][2] = {{"losses = cross_entropy\nepochs = abc\n", "study.conf:2: epochs: 'abc' is not an integer"},
                                   {"dataset = mnist, foo\n", "study.conf:1: dataset: unknown dataset 'foo'"},
                                   {"\nseeds = 1, 01\n", "study.conf:2: seeds: '01' appears twice"},
                                   {"set = width\n", "study.conf:1: set: 'width' needs a value"}};
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        tu_write_text(conf, bad_values[i][0]);
        assert_int_equal(tu_run_argv(argv1, NULL, e.out, e.err), 2);
        msg = tu_slurp(e.err);
        if (!strstr(msg, bad_values[i][1]))
            fail_msg("config '%s': '%s' (want '%s')", bad_values[i][0], msg, bad_values[i][1]);
        free(msg);
    }
    /* A NUL byte is refused where it is (it was reported as "line too long"). */
    static const char nul_conf[] = "losses = cross_entropy\nepochs = 3\0junk\n";
    FILE *cf = fopen(conf, "wb");
    assert_non_null(cf);
    assert_int_equal(fwrite(nul_conf, 1, sizeof nul_conf - 1, cf), sizeof nul_conf - 1);
    assert_int_equal(fclose(cf), 0);
    assert_int_equal(tu_run_argv(argv1, NULL, e.out, e.err), 2);
    msg = tu_slurp(e.err);
    if (!strstr(msg, "study.conf:2:11: a NUL byte"))
        fail_msg("config with a NUL byte: '%s'", msg);
    free(msg);
    /* --set/--vary keys are checked against train's options: a missing value, a value for a
     * flag, an unknown option are refused before anything runs */
    const char *bad_sets[][3] = {{"--set", "width", "--set: 'width' needs a value"},
                                 {"--set", "no-augment=1", "'no-augment' is a flag"},
                                 {"--vary", "no-augment=1,2", "--vary: 'no-augment' is a flag"},
                                 {"--set", "widht=8", "'widht' is not a training option"}};
    for (size_t i = 0; i < sizeof bad_sets / sizeof bad_sets[0]; i++) {
        char *argv7[] = {HS_CLI_PATH, "sweep", "--runs-dir", e.runs, (char *)bad_sets[i][0], (char *)bad_sets[i][1],
                         "--train-cmd", e.train, "--dry-run", NULL};
        assert_int_equal(tu_run_argv(argv7, NULL, e.out, e.err), 2);
        msg = tu_slurp(e.err);
        if (!strstr(msg, bad_sets[i][2]))
            fail_msg("%s %s: '%s'", bad_sets[i][0], bad_sets[i][1], msg);
        free(msg);
    }
    /* A sweep too large to enumerate is refused. */
    char *argv8[] = {HS_CLI_PATH, "sweep", "--runs-dir", e.runs, "--seeds", "0,1,2,3,4,5,6,7,8,9",
                     "--batch-sizes", "1,2,3,4,5,6,7,8,9,10", "--vary", "lr=1,2,3,4,5,6,7,8,9,10",
                     "--vary", "hidden=1,2,3,4,5,6,7,8,9,10", "--vary", "tau=1,2,3,4,5,6,7,8,9,10",
                     "--train-cmd", e.train, "--dry-run", NULL};
    assert_int_equal(tu_run_argv(argv8, NULL, e.out, e.err), 2);
    msg = tu_slurp(e.err);
    assert_non_null(strstr(msg, "more than 100000 runs"));
    free(msg);
    /* Listing and emitting check their standard output. */
    tu_write_text(conf, study_conf);
    assert_int_equal(tu_run_argv(argv1, NULL, "/dev/full", e.err), 1);
    msg = tu_slurp(e.err);
    assert_non_null(strstr(msg, "writing to the standard output failed"));
    free(msg);
    char *argv9[] = {HS_CLI_PATH, "sweep", "--config", conf, "--runs-dir", e.runs, "--name", "g", "--train-cmd", e.train,
                     "--emit-jobs", NULL}; /* a fresh sweep: 8 jobs to print */
    assert_int_equal(tu_run_argv(argv9, NULL, "/dev/full", e.err), 1);
    sweep_env_free(&e);
}

static void test_sweep_emit_jobs(void **state)
{
    (void)state;
    sweep_env e;
    sweep_env_make(&e);
    /* Fresh runs: every job carries --resume too (train starts afresh without a checkpoint). */
    char *argv0[] = {SWEEP_ARGS(e, "fresh", "2"), "--emit-jobs", NULL};
    assert_int_equal(tu_run_argv(argv0, NULL, e.out, e.err), 0);
    char *fresh = tu_slurp(e.out);
    assert_int_equal(tu_count_lines_with(fresh, "--resume >> "), 8);
    assert_int_equal(tu_count_lines_with(fresh, " train "), 0);
    free(fresh);
    /* --launcher puts its text before every job (data-parallel runs on a cluster) */
    char *argv_l[] = {SWEEP_ARGS(e, "fresh", "2"), "--emit-jobs", "--launcher", "srun -n 4", NULL};
    assert_int_equal(tu_run_argv(argv_l, NULL, e.out, e.err), 0);
    char *launched = tu_slurp(e.out);
    assert_int_equal(tu_count_lines_with(launched, "--resume >> "), 8);
    for (char *line = launched; *line; line = strchr(line, '\n') + 1)
        assert_memory_equal(line, "srun -n 4 /", 11);
    free(launched);
    char *argv_nl[] = {SWEEP_ARGS(e, "fresh", "2"), "--launcher", "srun -n 4", "--dry-run", NULL};
    assert_int_equal(tu_run_argv(argv_nl, NULL, e.out, e.err), 2);
    /* Leave every run partial, then let "the cluster" run the printed commands. */
    char die[] = "FAKE_TRAIN_DIE_AFTER=0";
    char *env1[] = {e.log, die, NULL};
    char *argv1[] = {SWEEP_ARGS(e, "c", "3"), NULL};
    assert_int_equal(tu_run_argv(argv1, env1, e.out, e.err), 1);
    char *argv2[] = {SWEEP_ARGS(e, "c", "3"), "--emit-jobs", NULL};
    char *env2[] = {e.log, NULL};
    assert_int_equal(tu_run_argv(argv2, env2, e.out, e.err), 0);
    char *jobs = tu_slurp(e.out);
    assert_int_equal(tu_count_lines_with(jobs, "--resume >> "), 8);
    assert_int_equal(tu_count_lines_with(jobs, e.train), 8);
    char jobs_path[192];
    snprintf(jobs_path, sizeof jobs_path, "%s/jobs.txt", e.dir);
    tu_write_text(jobs_path, jobs);
    free(jobs);
    char *argv3[] = {"/bin/sh", jobs_path, NULL};
    assert_int_equal(tu_run_argv(argv3, env2, NULL, e.err), 0);
    char *c = calls(&e);
    assert_int_equal(tu_count_lines_with(c, "resume=1 from=1"), 8);
    free(c);
    /* Nothing is left to emit; --collect-only gathers the results. */
    assert_int_equal(tu_run_argv(argv2, env2, e.out, e.err), 0);
    jobs = tu_slurp(e.out);
    assert_string_equal(jobs, "");
    free(jobs);
    char *argv4[] = {SWEEP_ARGS(e, "c", "3"), "--collect-only", NULL};
    assert_int_equal(tu_run_argv(argv4, env2, e.out, e.err), 0);
    char results[192];
    snprintf(results, sizeof results, "%s/c/results.csv", e.runs);
    check_results(results, 8, 3);
    sweep_env_free(&e);
}

/* --vary k-policy multiplies the HyperSimplex loss only; the policy is part of the loss's
 * name (run directory, results, report); the threshold columns are collected for the runs
 * that write them and are empty for runs whose metrics.csv has none (as written before the
 * threshold rule); the paper preset gives HS jobs the authors' k policy. */
static void test_sweep_k_policies(void **state)
{
    (void)state;
    sweep_env e;
    sweep_env_make(&e);
    char results[192], path[256];
    snprintf(results, sizeof results, "%s/kp/results.csv", e.runs);
    char *argv1[] = {HS_CLI_PATH, "sweep", "--runs-dir", e.runs, "--name", "kp", "--losses", "cross_entropy,hypersimplex",
                     "--vary", "k-policy=count,fraction:0.5", "--batch-sizes", "64", "--seeds", "0,1", "--epochs", "2",
                     "--train-cmd", e.train, "--jobs", "2", NULL};
    char *env1[] = {e.log, NULL};
    assert_int_equal(tu_run_argv(argv1, env1, e.out, e.err), 0);
    check_results(results, 6, 2);
    hs_results r;
    assert_int_equal(hs_results_read(&r, results), HS_OK);
    const char *want_loss[3] = {"cross_entropy", "hypersimplex@count", "hypersimplex@fraction:0.5"};
    for (size_t i = 0; i < 6; i++) {
        const hs_run_curve *c = &r.runs[i];
        assert_string_equal(c->loss, want_loss[i / 2]);
        assert_string_equal(c->variant, "");
        double thr = i < 2 ? NAN : i < 4 ? 0.1 : 0.12;
        for (size_t ep = 0; ep < 2; ep++) {
            if (i < 2)
                assert_true(isnan(c->test_accuracy_threshold[ep]) && isnan(c->val_accuracy_threshold[ep]));
            else
                tu_assert_near(c->test_accuracy_threshold[ep], c->test_accuracy[ep] + thr, 1e-6);
        }
    }
    hs_results_free(&r);
    snprintf(path, sizeof path, "%s/kp/fashion-mnist_hypersimplex_fraction_0.5_b64_s1/args.txt", e.runs);
    char *args = tu_slurp(path);
    assert_non_null(args);
    assert_true(!strncmp(args, "--dataset fashion-mnist --loss hypersimplex --k-policy fraction:0.5 --batch-size 64",
                         strlen("--dataset fashion-mnist --loss hypersimplex --k-policy fraction:0.5 --batch-size 64")));
    free(args);
    snprintf(path, sizeof path, "%s/kp/fashion-mnist_cross_entropy_b64_s0/args.txt", e.runs);
    args = tu_slurp(path);
    assert_non_null(args);
    assert_null(strstr(args, "k-policy"));
    free(args);
    /* the policy is no protocol axis: the same directory takes the other losses' runs */
    snprintf(path, sizeof path, "%s/kp/sweep.conf", e.runs);
    char *conf = tu_slurp(path);
    assert_null(strstr(conf, "vary-axis"));
    free(conf);

    /* the report under either rule; the title says which */
    char md[192];
    snprintf(md, sizeof md, "%s/t.md", e.dir);
    char *argv2[] = {HS_CLI_PATH, "report", results, "--out", md, NULL};
    assert_int_equal(tu_run_argv(argv2, NULL, NULL, e.err), 0);
    char *t = tu_slurp(md);
    assert_non_null(strstr(t, "(prediction: argmax of the logits)"));
    assert_non_null(strstr(t, "| 64 | 0.6199 | **0.6399** | **0.6399** | +0.0200 |"));
    free(t);
    char *argv3[] = {HS_CLI_PATH, "report", results, "--rule", "threshold", "--out", md, NULL};
    assert_int_equal(tu_run_argv(argv3, NULL, NULL, e.err), 0);
    t = tu_slurp(md);
    assert_non_null(strstr(t, "(prediction: threshold rule"));
    assert_non_null(strstr(t, "| 64 | 0.6199 | 0.7399 | **0.7599** | +0.1200 |"));
    free(t);
    char *argv4[] = {HS_CLI_PATH, "report", results, "--rule", "best", NULL};
    assert_int_equal(tu_run_argv(argv4, NULL, NULL, e.err), 2);

    /* collect checks the k policy a run recorded */
    snprintf(path, sizeof path, "%s/kp/fashion-mnist_hypersimplex_count_b64_s0/config.json", e.runs);
    tu_write_text(path, "{\"dataset\": \"fashion-mnist\", \"loss\": \"hypersimplex\", \"k_policy\": \"prior\", "
                    "\"k_fraction\": 0.5, \"batch_size\": 64, \"seed\": 0, \"epochs\": 2}\n");
    char *argv5[] = {HS_CLI_PATH, "sweep", "--runs-dir", e.runs, "--name", "kp", "--losses", "cross_entropy,hypersimplex",
                     "--vary", "k-policy=count,fraction:0.5", "--batch-sizes", "64", "--seeds", "0,1", "--epochs", "2",
                     "--train-cmd", e.train, "--collect-only", NULL};
    assert_int_equal(tu_run_argv(argv5, env1, e.out, e.err), 2);
    char *msg = tu_slurp(e.err);
    assert_non_null(strstr(msg, "records k policy prior, the sweep expects count"));
    free(msg);

    /* bad loss specs */
    char *bad1[] = {HS_CLI_PATH, "sweep", "--losses", "hinge@count", "--train-cmd", e.train, "--dry-run", NULL};
    char *bad2[] = {HS_CLI_PATH, "sweep", "--losses", "hypersimplex@top", "--train-cmd", e.train, "--dry-run", NULL};
    char *bad3[] = {HS_CLI_PATH, "sweep", "--losses", "mse", "--vary", "k-policy=count", "--train-cmd", e.train,
                    "--dry-run", NULL};
    char *bad4[] = {HS_CLI_PATH, "sweep", "--losses", "hypersimplex@count", "--set", "k-policy=prior", "--train-cmd",
                    e.train, "--dry-run", NULL};
    char *const *bad[4] = {bad1, bad2, bad3, bad4};
    for (int i = 0; i < 4; i++)
        assert_int_equal(tu_run_argv(bad[i], NULL, e.out, e.err), 2);

    /* the paper preset: every HS job has the authors' k policy, no other job has one */
    char *argv6[] = {HS_CLI_PATH, "sweep", "--preset", "paper", "--runs-dir", e.runs, "--train-cmd", e.train,
                     "--emit-jobs", NULL};
    assert_int_equal(tu_run_argv(argv6, NULL, e.out, e.err), 0);
    char *jobs = tu_slurp(e.out);
    assert_int_equal(tu_count_lines_with(jobs, "--resume >> "), 280);
    assert_int_equal(tu_count_lines_with(jobs, "--loss hypersimplex --k-policy fraction:0.5 "), 70);
    assert_int_equal(tu_count_lines_with(jobs, "--k-policy"), 70);
    assert_int_equal(tu_count_lines_with(jobs, "/paper/cifar10_hypersimplex_fraction_0.5_b8192_s31415 "), 1);
    free(jobs);
    sweep_env_free(&e);
}

/* Waits (bounded) until no run directory of the sweep is locked by a trainer. */
static void wait_unlocked(const char *sweep_dir, const char *const *ids, size_t n)
{
    for (int tries = 0; tries < 3000; tries++) {
        size_t busy = 0;
        for (size_t i = 0; i < n; i++) {
            char path[320];
            snprintf(path, sizeof path, "%s/%s/.lock", sweep_dir, ids[i]);
            int fd = open(path, O_RDWR);
            if (fd < 0)
                continue;
            if (flock(fd, LOCK_EX | LOCK_NB))
                busy++;
            close(fd);
        }
        if (!busy)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("trainers still hold their run directories 30 s after the sweep was killed");
}

/* Kills the sweep itself (SIGTERM, then SIGKILL) while runs are in flight; the same command
 * then completes the study with every epoch exactly once. */
static void test_sweep_killed(void **state)
{
    (void)state;
    static const char *const ids[8] = {
        "fashion-mnist_cross_entropy_b64_s0", "fashion-mnist_hypersimplex_b64_s0",
        "fashion-mnist_cross_entropy_b1024_s0", "fashion-mnist_hypersimplex_b1024_s0",
        "fashion-mnist_cross_entropy_b64_s1", "fashion-mnist_hypersimplex_b64_s1",
        "fashion-mnist_cross_entropy_b1024_s1", "fashion-mnist_hypersimplex_b1024_s1"};
    for (int round = 0; round < 2; round++) {
        int sig = round == 0 ? SIGTERM : SIGKILL;
        sweep_env e;
        sweep_env_make(&e);
        char sweep_dir[192], results[224];
        snprintf(sweep_dir, sizeof sweep_dir, "%s/k", e.runs);
        snprintf(results, sizeof results, "%s/results.csv", sweep_dir);
        char slow[] = "FAKE_TRAIN_SLEEP=0.05";
        char *argv1[] = {SWEEP_ARGS(e, "k", "5"), "--jobs", "2", NULL};
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            putenv(e.log);
            putenv(slow);
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            dup2(fd, 2);
            execv(argv1[0], argv1);
            _exit(127);
        }
        /* Wait for some run to have a checkpoint but not be finished, then kill. */
        int killed = 0;
        for (int tries = 0; tries < 3000 && !killed; tries++) {
            for (int i = 0; i < 8 && !killed; i++) {
                char ck[320], sm[320];
                snprintf(ck, sizeof ck, "%s/%s/checkpoint.bin", sweep_dir, ids[i]);
                snprintf(sm, sizeof sm, "%s/%s/summary.json", sweep_dir, ids[i]);
                if (access(ck, F_OK) == 0 && access(sm, F_OK) != 0) {
                    kill(pid, sig);
                    killed = 1;
                }
            }
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        assert_true(killed);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (sig == SIGTERM)
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        else
            assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        wait_unlocked(sweep_dir, ids, 8);
        char *env2[] = {e.log, NULL};
        assert_int_equal(tu_run_argv(argv1, env2, e.out, e.err), 0);
        check_results(results, 8, 5);
        sweep_env_free(&e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_order),
        cmocka_unit_test(test_set_vary_policies),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_settings_file),
        cmocka_unit_test(test_protocol_states_collect),
        cmocka_unit_test(test_sweep_run_skip_resume),
        cmocka_unit_test(test_sweep_failures_and_config),
        cmocka_unit_test(test_sweep_emit_jobs),
        cmocka_unit_test(test_sweep_k_policies),
        cmocka_unit_test(test_sweep_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
